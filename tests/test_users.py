"""Users file, passwords, roles and what each role may see — without a server."""

from __future__ import annotations

import json
import stat

import pandas as pd
import pytest
import xarray as xr

from conftest import assert_one_clear_line, run_cli
from safetyviz.core.errors import UserError
from safetyviz.security.access import LOCAL, Access
from safetyviz.security.audit import AuditLog
from safetyviz.serve.auth import check_cookie_secret, safe_next
from safetyviz.serve.users import (
    add_user,
    hash_password,
    load_users,
    remove_user,
    set_password,
    verify_password,
)
from safetyviz.web.state import OverviewState


def test_passwords_are_stored_as_salted_scrypt_hashes():
    stored = hash_password("correct horse battery", n=2 ** 10)
    assert stored.startswith("scrypt$1024$8$1$") and "correct" not in stored
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert hash_password("correct horse battery", n=2 ** 10) != stored  # a new salt each time
    assert not verify_password("anything", "plain text")
    assert not verify_password("anything", "scrypt$x$y$z$a$b")


def test_users_add_passwd_remove(tmp_path):
    path = tmp_path / "users.yaml"
    add_user(path, "wang", "city", "city-pass-123")
    add_user(path, "li", "county", "county-pass-123", ("411002", "411003"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    users = load_users(path)
    assert (users["li"].role, users["li"].counties) == ("county", ("411002", "411003"))
    assert "city-pass-123" not in path.read_text()
    before = users["wang"].fingerprint
    set_password(path, "wang", "another-pass-456")
    after = load_users(path)["wang"]
    assert verify_password("another-pass-456", after.password) and after.fingerprint != before
    remove_user(path, "li")
    assert list(load_users(path)) == ["wang"]
    with pytest.raises(UserError, match="exists"):
        add_user(path, "wang", "city", "city-pass-123")
    with pytest.raises(UserError, match="too short"):
        add_user(path, "zhao", "analyst", "short")
    with pytest.raises(UserError, match="needs at least one county"):
        add_user(path, "zhou", "county", "county-pass-123")
    with pytest.raises(UserError, match="no user 'nobody'"):
        remove_user(path, "nobody")


@pytest.mark.parametrize("text, fragments", [
    ("users:\n- {name: wang, role: mayor, password: 'scrypt$1$8$1$a$b'}\n",
     ["user 'wang', field role", "'mayor'"]),
    ("users:\n- {name: wang, role: city, password: hunter2}\n",
     ["user 'wang', field password", "not a scrypt hash"]),
    ("users:\n- {name: li, role: county, counties: [4110], password: 'scrypt$1$8$1$a$b'}\n",
     ["user 'li', field counties", "'4110'"]),
    ("users:\n- {name: 'a b', role: city, password: 'scrypt$1$8$1$a$b'}\n",
     ["user 1, field name"]),
    ("users:\n- {name: wang, role: city, password: 'scrypt$1$8$1$a$b'}\n"
     "- {name: wang, role: city, password: 'scrypt$1$8$1$a$b'}\n", ["user 'wang': listed twice"]),
    ("users: !!python/object/apply:os.system ['true']\n", ["not plain YAML"]),
    ("users:\n  - name: wang\n   role: city\n", ["line 3"]),
    ("users:\n- {name: li, role: county, counties: [411002], city: '411000', "
     "password: 'scrypt$1$8$1$a$b'}\n", ["user 'li', field city", "only a city user"]),
    ("users:\n- {name: wang, role: city, city: '410000', password: 'scrypt$1$8$1$a$b'}\n",
     ["user 'wang', field city", "'410000' is not a city's"]),
    ("users:\n- {name: zhao, role: province, counties: [411002], "
     "password: 'scrypt$1$8$1$a$b'}\n", ["user 'zhao', field counties", "province user"]),
])
def test_a_broken_users_file_is_named_with_the_user_and_field(tmp_path, text, fragments):
    path = tmp_path / "users.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as error:
        load_users(path)
    for fragment in [str(path), *fragments]:
        assert fragment in str(error.value)


def test_users_command(tmp_path):
    path = tmp_path / "users.yaml"
    added = run_cli("users", "add", "li", "--role", "county", "--county", "411002",
                    "--file", str(path), "--password-stdin", input_text="county-pass-123\n")
    assert added.returncode == 0, added.stderr
    listed = run_cli("users", "list", "--file", str(path))
    assert listed.stdout.split() == ["li", "county", "411002"]
    assert_one_clear_line(run_cli("users", "add", "wang", "--role", "county", "--file",
                                  str(path), "--password-stdin", input_text="long-enough-1\n"),
                          "field counties")
    assert_one_clear_line(run_cli("users", "passwd", "li", "--file", str(path),
                                  "--password-stdin", input_text="aaaaaaaaaaaa\n"), "too weak")
    assert_one_clear_line(run_cli("users", "remove", "wang", "--file", str(path)),
                          "no user 'wang'")
    assert list(load_users(path)) == ["li"]  # nothing changed by the refused commands
    added = run_cli("users", "add", "wang", "--role", "city", "--city", "411000", "--file",
                    str(path), "--password-stdin", input_text="city-pass-1234\n")
    assert added.returncode == 0, added.stderr
    assert load_users(path)["wang"].city == "411000"
    assert run_cli("users", "list", "--file", str(path)).stdout.split() == [
        "li", "county", "411002", "wang", "city", "411000"]


def test_a_city_user_sees_its_citys_units_of_a_province_and_only_those():
    """What a session token carries (empty: everything) for each role, over a province's
    units (several cities) and over one city's."""
    from safetyviz.serve.auth import scope_of
    from safetyviz.serve.users import User

    province = pd.DataFrame({"adcode": ["410102", "410103", "411002", "411003", "419001"],
                             "parent_adcode": ["410100", "410100", "411000", "411000",
                                               "410000"]})
    city = province[province["parent_adcode"] == "411000"]

    def user(role, counties=(), city=None):
        return User("u", role, "scrypt$1$8$1$a$b", tuple(counties), city)

    assert scope_of(user("city", city="411000"), province) == ("411002", "411003")
    assert scope_of(user("city", city="419001"), province) == ("419001",)  # 济源: itself
    assert scope_of(user("city"), province) is None  # which city? none, never all
    assert scope_of(user("city", city="420100"), province) is None  # not in the data
    assert scope_of(user("province"), province) == ()
    assert scope_of(user("county", ["411002"]), province) == ("411002",)
    assert scope_of(user("city"), city) == () and scope_of(user("city", city="411000"),
                                                          city) == ()
    assert scope_of(user("city", city="410100"), city) is None  # another city's user
    assert scope_of(user("city"), None) == ()  # no regions to read: a city's server


@pytest.mark.parametrize("secret, reason", [
    (None, "needs a cookie secret"),
    ("abc123", "too short"),
    ("my_super_safe_cookie_secret_for_the_panel", "default or a word"),
    ("changeme-changeme-changeme-changeme", "default or a word"),
    ("0123456789abcdef" * 3, "repetition"),
    ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "too predictable"),
])
def test_weak_cookie_secrets_are_refused(secret, reason):
    with pytest.raises(UserError, match=reason):
        check_cookie_secret(secret)


def test_a_random_cookie_secret_is_accepted():
    import secrets

    secret = secrets.token_urlsafe(48)
    assert check_cookie_secret(secret) == secret


@pytest.mark.parametrize("target, expected", [
    ("/overview?county=411002", "/overview?county=411002"), ("//evil.example/x", "/"),
    ("/\\evil.example", "/"), ("https://evil.example/", "/"), ("overview", "/"), (None, "/"),
])
def test_after_login_only_paths_on_this_server(target, expected):
    assert safe_next(target) == expected


def test_audit_log_is_one_json_object_per_line(tmp_path):
    log = AuditLog(tmp_path / "logs" / "audit.jsonl")
    log.write("login", user="li", ip="10.0.0.1")
    log.write("login_failed", user="<script>", ip="10.0.0.2", reason="unknown_user")
    lines = (tmp_path / "logs" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["event"] for r in records] == ["login", "login_failed"]
    assert records[1]["user"] == "<script>" and records[0]["time"].endswith("+00:00")
    assert stat.S_IMODE((tmp_path / "logs" / "audit.jsonl").stat().st_mode) == 0o600
    with pytest.raises(ValueError):
        log.write("made_up")


def _cube() -> xr.Dataset:
    months = pd.date_range("2020-01-01", periods=3, freq="MS")
    adcodes = ["411002", "411003", "411024"]
    values = [[1, 2, 3], [10, 20, 30], [100, 200, 300]]
    return xr.Dataset(
        {"inspections": (("adcode", "month"), values)},
        coords={"adcode": adcodes, "month": months,
                "name_zh": ("adcode", ["魏都区", "建安区", "鄢陵县"])},
        attrs={"city_adcode": "411000"})


def test_a_county_user_gets_only_their_counties():
    cube = _cube()
    li = Access("li", "county", ("411002", "411024"))
    mine = li.restrict_cube(cube)
    assert list(mine["adcode"].values) == ["411002", "411024"]
    assert li.restrict_cube(cube) is mine  # one subset shared by such sessions
    state = OverviewState(mine, city_total=li.all_counties)
    assert state.param.county.objects == ["411002", "411024"] and state.county == "411002"
    with pytest.raises(ValueError):
        state.county = "411003"
    with pytest.raises(ValueError):
        state.county = "411000"  # not the city's total either: it includes 建安区
    assert state.apply_query({"county": "411003"}) == ["county"]
    assert state.county_values().sum().item() == 6 + 600
    frame = pd.DataFrame({"adcode": ["411002", "411003"], "name": ["a", "b"]})
    assert list(li.restrict(frame)["name"]) == ["a"]
    assert not li.may_download and Access("zhao", "analyst").may_download
    assert LOCAL.restrict(frame) is frame and LOCAL.restrict_cube(cube) is cube
    with pytest.raises(PermissionError):
        Access("x", "county", ("419999",)).restrict_cube(cube)


def test_a_users_file_broken_while_serving_refuses_everyone_until_fixed(tmp_path):
    import time

    from safetyviz.serve.auth import Authenticator

    path = tmp_path / "users.yaml"
    add_user(path, "wang", "city", "city-pass-123")
    auth = Authenticator(path, "x" * 40, AuditLog(None))
    assert list(auth.users()) == ["wang"]
    good = path.read_text()
    time.sleep(0.01)
    path.write_text("users:\n- {name: wang, role: mayor, password: x}\n")
    assert auth.users() == {}
    path.unlink()
    assert auth.users() == {}
    path.write_text(good)
    assert list(auth.users()) == ["wang"]
    with pytest.raises(UserError, match="no such users file"):
        Authenticator(tmp_path / "none.yaml", "x" * 40, AuditLog(None))


def test_running_out_of_descriptors_pauses_accepting_and_logs_once(caplog):
    """Errno 24 on accept: the listening socket is left alone for a moment (no tight loop),
    and the log says so once per interval, however often it happens."""
    import errno

    from safetyviz.serve.limits import ConnectionLimiter

    class Socket:
        def accept(self):
            raise OSError(errno.EMFILE, "Too many open files")

    class Loop:
        READ = 1

        def __init__(self):
            self.handlers, self.later = {}, []

        def add_handler(self, sock, handler, events):
            self.handlers[sock] = handler

        def remove_handler(self, sock):
            self.handlers.pop(sock, None)

        def call_later(self, delay, callback, *args):
            self.later.append((delay, callback, args))

    now, loop, sock = [0.0], Loop(), Socket()
    limiter = ConnectionLimiter(per_address=2, pause=0.5, log_every=60, clock=lambda: now[0])
    limiter._accept_on(loop, sock, handle=lambda *a: None)
    with caplog.at_level("WARNING", logger="safetyviz.serve.server"):
        for _ in range(5):
            loop.handlers[sock](None, None)  # readable: accept fails
            assert sock not in loop.handlers  # paused …
            delay, callback, args = loop.later.pop()
            assert delay == 0.5
            callback(*args)  # … and back after the pause
            now[0] += 1
    assert [r.message for r in caplog.records].count(
        "out of file descriptors (Too many open files): not accepting for 0.5 s") == 1

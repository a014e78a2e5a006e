"""`safetyviz serve --auth`: logins, the guard on every route, sessions bound to their
user, hardened settings and the audit log — over HTTP and websockets on loopback."""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import websocket

from conftest import (
    CHROMIUM,
    PROJECT,
    assert_one_clear_line,
    free_port,
    panel_server,
    run_cli,
    server_output,
    start_server,
    wait_until_answering,
)
from safetyviz.serve.auth import derive_key
from safetyviz.serve.users import add_user, set_password
from safetyviz.web.pages import PAGES

PASSWORDS = {"wang": "city-pass-123", "li": "county-pass-123", "zhao": "analyst-pass-123",
             "zhou": "county-pass-456", "sun": "city-pass-456", "qian": "city-pass-789",
             "zheng": "city-pass-321", "feng": "city-pass-654"}
ROLES = {"wang": ("city", ()), "li": ("county", ("411002",)), "zhao": ("analyst", ()),
         "zhou": ("county", ("411003",)), "sun": ("city", ()), "qian": ("city", ()),
         "zheng": ("city", ()), "feng": ("city", ())}
MAX_SESSIONS = 8  # per user, in the served fixture (20 by default)


@dataclass
class Served:
    base: str
    audit: Path
    users: Path
    server: subprocess.Popen
    secret: str

    def events(self, event: str | None = None) -> list[dict]:
        lines = self.audit.read_text(encoding="utf-8").splitlines() if self.audit.exists() \
            else []
        records = [json.loads(line) for line in lines]
        return [r for r in records if event is None or r["event"] == event]


def start_secured(data_dir: Path, folder: Path, *extra: str, warm_seconds: float = 2
                  ) -> Served:
    """`safetyviz serve` with logins (the users of ROLES unless ``folder`` has its own) over
    ``data_dir``. It warms its first pages for everyone, then reads records ahead only for
    ``warm_seconds`` (60 by default: at province scale that was a minute per server)."""
    users = folder / "users.yaml"
    if not users.exists():
        for name, (role, counties) in ROLES.items():
            add_user(users, name, role, PASSWORDS[name], counties)
    port = free_port()
    audit = folder / "audit.jsonl"
    secret = secrets.token_urlsafe(48)
    env = {**os.environ, "SAFETYVIZ_COOKIE_SECRET": secret,
           "SAFETYVIZ_CATALOG": str(data_dir / "catalog.yaml")}
    server = start_server(
        [sys.executable, "-m", "safetyviz.cli", "serve", "--data-dir", str(data_dir),
         "--auth", str(users), "--port", str(port), "--audit-log", str(audit),
         "--use-xheaders", "--warm-seconds", str(warm_seconds), *extra],
        cwd=PROJECT, env=env)
    base = f"http://127.0.0.1:{port}"
    wait_until_answering(f"{base}/login", server)
    return Served(base, audit, users, server, secret)


@pytest.fixture(scope="module")
def secured(demo_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("secured")
    (folder / "serve.yaml").write_text(f"max_sessions_per_user: {MAX_SESSIONS}\n")
    served = start_secured(demo_dir, folder, "--config", str(folder / "serve.yaml"))
    yield served
    served.server.terminate()
    served.server.wait(timeout=30)


def login(base: str, name: str, password: str | None = None, ip: str = "10.0.0.1",
          target: str = "/", **headers) -> tuple[requests.Session, requests.Response]:
    """A requests session logged in as ``name`` (from client address ``ip``, as a reverse
    proxy would say it) and the login's response."""
    session = requests.Session()
    session.headers["X-Real-IP"] = ip
    form = session.get(f"{base}/login", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text)[1]
    response = session.post(f"{base}/login", data={
        "_xsrf": xsrf, "username": name, "password": password or PASSWORDS[name],
        "next": target}, allow_redirects=False, headers=headers, timeout=30)
    return session, response


ROUTES = ["/", *[f"/{slug}" for slug in PAGES],
          "/overview/", "/overview/metadata", "/overview/autoload.js?bokeh-autoload-element=x",
          "/overview/ws", "/static/js/bokeh.min.js", "/overview/static/js/bokeh.min.js",
          "/static/extensions/panel/panel.min.js",
          "/components/panel/template/BootstrapTemplate/_css/bootstrap.css",
          "/components/antigravity/Anything/__css__/x.css", "/rest/session_info", "/admin",
          "/liveness", "/panel_static/x.js", "/no/such/route"]


def test_every_route_asks_for_a_login(secured):
    for route in ROUTES:
        response = requests.get(secured.base + route, allow_redirects=False, timeout=30)
        assert response.status_code in (302, 403), (route, response.status_code)
        if response.status_code == 302:
            assert response.headers["Location"].startswith("/login?next="), route
    # a websocket without a login: the handshake is refused
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"ws://{urlsplit(secured.base).netloc}/overview/ws",
                                    subprotocols=["bokeh", "x"], timeout=30)
    assert refused.value.status_code == 403
    assert requests.get(f"{secured.base}/login", timeout=30).status_code == 200


def test_login_sets_a_strict_http_only_cookie_and_is_audited(secured):
    session, response = login(secured.base, "wang", target="/overview?county=411002")
    assert response.status_code == 302
    assert response.headers["Location"] == "/overview?county=411002"
    cookie = next(c for c in response.headers["Set-Cookie"].split(", ")
                  if c.startswith("safetyviz_login="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert "expires" not in cookie.lower()  # ends with the browser session (and in 8 h)
    page = session.get(f"{secured.base}/overview", timeout=60)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    # a signed session id, in a token that is good for a minute, naming its user and role
    from bokeh.util.token import check_session_id_signature, get_session_id, get_token_payload

    token = _token(page.text)
    payload = get_token_payload(token)
    assert 0 < payload["session_expiry"] - time.time() <= 61
    assert payload["safetyviz_access"] == {"user": "wang", "role": "city", "counties": []}
    assert "safetyviz_login" not in json.dumps(payload)  # the login cookie stays HttpOnly
    key = derive_key(secured.secret, "bokeh-session-ids").encode()
    session_id = get_session_id(token)
    assert check_session_id_signature(session_id, signed=True, secret_key=key)
    assert not check_session_id_signature("x" + session_id, signed=True, secret_key=key)
    login_event = [e for e in secured.events("login") if e["user"] == "wang"][-1]
    assert login_event["ip"] == "10.0.0.1" and login_event["role"] == "city"
    # behind TLS (the proxy says https): the login and XSRF cookies are Secure too
    _, tls = login(secured.base, "wang", ip="10.0.0.9", **{"X-Forwarded-Proto": "https"})
    assert "Secure" in tls.headers["Set-Cookie"]
    form = requests.get(f"{secured.base}/login", headers={"X-Forwarded-Proto": "https"},
                        timeout=30)
    assert "_xsrf=" in form.headers["Set-Cookie"] and "Secure" in form.headers["Set-Cookie"]
    assert "Secure" not in requests.get(f"{secured.base}/login",
                                        timeout=30).headers["Set-Cookie"]


def test_logout_is_a_post_and_ends_the_login_on_the_server(secured):
    session, _ = login(secured.base, "wang", ip="10.0.0.3")
    copied = session.cookies["safetyviz_login"]
    overview = f"{secured.base}/overview"
    # a GET (a link, or an image on another site) only asks
    asked = session.get(f"{secured.base}/logout", timeout=30)
    assert asked.status_code == 200 and 'method="post"' in asked.text
    assert session.get(overview, allow_redirects=False, timeout=60).status_code == 200
    assert session.post(f"{secured.base}/logout", allow_redirects=False,
                        timeout=30).status_code == 403  # no XSRF token
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', asked.text)[1]
    out = session.post(f"{secured.base}/logout", data={"_xsrf": xsrf}, allow_redirects=False,
                       timeout=30)
    assert out.status_code == 302 and out.headers["Location"].endswith("login")
    assert secured.events("logout")[-1]["user"] == "wang"
    # the cookie copied before the logout, replayed after it, opens nothing
    replayed = requests.get(overview, cookies={"safetyviz_login": copied},
                            allow_redirects=False, timeout=30)
    assert replayed.status_code == 302 and "/login" in replayed.headers["Location"]
    assert requests.get(f"{secured.base}/overview/metadata", timeout=30,
                        cookies={"safetyviz_login": copied}).status_code == 403


def test_the_login_form_needs_its_xsrf_token_and_redirects_only_here(secured):
    response = requests.post(f"{secured.base}/login", data={
        "username": "wang", "password": PASSWORDS["wang"]}, allow_redirects=False, timeout=30)
    assert response.status_code == 403
    _, response = login(secured.base, "wang", ip="10.0.0.2", target="//evil.example/x")
    assert response.headers["Location"] == "/"


def test_wrong_passwords_hold_back_that_address_not_the_owner(secured):
    for _ in range(5):
        _, response = login(secured.base, "sun", "wrong-password", ip="10.0.1.1")
        assert response.status_code == 401
        assert "用户名或密码错误" in response.text
    # the right password from that address, now: waits
    _, response = login(secured.base, "sun", ip="10.0.1.1")
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 800
    assert "Set-Cookie" not in response.headers or "safetyviz_login" not in \
        response.headers["Set-Cookie"]
    failed = [e for e in secured.events("login_failed") if e["user"] == "sun"]
    assert len(failed) == 5 and {e["reason"] for e in failed} == {"bad_password"}
    assert [e["ip"] for e in secured.events("login_throttled") if e["user"] == "sun"] == \
        ["10.0.1.1"]
    # the owner, from anywhere else, is not locked out by them
    assert login(secured.base, "sun", ip="10.0.1.2")[1].status_code == 302
    # another user from the first address is not held up by sun's failures
    assert login(secured.base, "qian", ip="10.0.1.1")[1].status_code == 302


def test_logins_sent_at_once_are_throttled_too(secured):
    from concurrent.futures import ThreadPoolExecutor

    def attempt(n):
        return login(secured.base, "ghost", "wrong-password", ip="10.0.6.1")[1].status_code

    with ThreadPoolExecutor(12) as pool:
        statuses = sorted(pool.map(attempt, range(12)))
    assert statuses == [401] * 5 + [429] * 7  # only 5 passwords were ever checked


def test_many_failures_from_one_address_are_throttled(secured):
    assert login(secured.base, "wang", ip="10.0.2.1")[1].status_code == 302  # known there
    for n in range(20):
        _, response = login(secured.base, f"nobody{n}", "wrong-password", ip="10.0.2.1")
        assert response.status_code == 401
    assert {e["reason"] for e in secured.events("login_failed")
            if e["ip"] == "10.0.2.1"} == {"unknown_user"}
    assert login(secured.base, "zhao", ip="10.0.2.1")[1].status_code == 429
    assert login(secured.base, "zhao", ip="10.0.2.2")[1].status_code == 302
    # a user who has logged in from that address before still can (behind a proxy
    # without --use-xheaders every user comes from one address)
    assert login(secured.base, "wang", ip="10.0.2.1")[1].status_code == 302


def raw_get(base: str, path: str, cookie: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalisation of ``..``)."""
    netloc = urlsplit(base).netloc
    connection = http.client.HTTPConnection(netloc, timeout=30)
    connection.putrequest("GET", path, skip_accept_encoding=True)
    connection.putheader("Cookie", cookie)
    connection.endheaders()
    response = connection.getresponse()
    return response.status, response.read()


TRAVERSALS = [
    "/static/../../../../../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%252e%252e/%252e%252e/etc/passwd",
    "/static/..%5c..%5c..%5cetc%5cpasswd",
    "/static/../views/ws.py",  # a sibling folder of Bokeh's static files
    "/static/../../server/views/ws.py",
    "/overview/static/../../../../../etc/passwd",
    "/static_evil/../static/js/../../views/ws.py",
    "/components/panel/template/BootstrapTemplate/_css/../../../../../../../etc/passwd",
    "/components/panel/template/BootstrapTemplate/_css/%2e%2e/%2e%2e/%2e%2e/io/server.py",
    "/components/os/path/__css__/x.css",
    "/components/antigravity/Anything/__css__/x.css",
]


def test_path_traversal_reads_nothing(secured):
    session, _ = login(secured.base, "zhao", ip="10.0.3.1")
    cookie = f"safetyviz_login={session.cookies['safetyviz_login']}"
    for path in TRAVERSALS:
        for with_login in (False, True):
            status, body = raw_get(secured.base, path, cookie if with_login else "")
            assert status in (400, 403, 404), (path, with_login, status)
            assert b"root:" not in body and b"class WSHandler" not in body, path
    # the same routes serve what they are for
    status, body = raw_get(secured.base, "/static/js/bokeh.min.js", cookie)
    assert status == 200 and len(body) > 100_000
    assert session.get(f"{secured.base}/rest/session_info", timeout=30).status_code == 404
    assert session.get(f"{secured.base}/admin", timeout=30).status_code == 404


def _token(page: str) -> str:
    return re.search(r'"token":"([^"]+)"', page)[1]


def _websocket(base: str, app: str, token: str, cookie: str):
    return websocket.create_connection(
        f"ws://{urlsplit(base).netloc}/{app}/ws", subprotocols=["bokeh", token],
        header=[f"Cookie: {cookie}"], origin=base, timeout=30)


def _pulled_document(socket) -> str:
    """The document of the session behind ``socket`` (Bokeh's protocol: the server's ACK,
    then PULL-DOC-REQ → PULL-DOC-REPLY), as JSON text with its characters unescaped."""
    def message() -> tuple[dict, str]:
        header = json.loads(socket.recv())
        socket.recv()  # metadata
        content = socket.recv()
        for _ in range(2 * header.get("num_buffers", 0)):
            socket.recv()
        return header, content

    assert message()[0]["msgtype"] == "ACK"
    for frame in (json.dumps({"msgid": "1", "msgtype": "PULL-DOC-REQ"}), "{}", "{}"):
        socket.send(frame)
    header, content = message()
    assert header["msgtype"] == "PULL-DOC-REPLY", header
    return json.dumps(json.loads(content)["doc"], ensure_ascii=False)


def test_a_leaked_session_token_is_refused_for_another_user(secured):
    from bokeh.util.token import get_session_id

    alice, _ = login(secured.base, "li", ip="10.0.4.1")
    bob, _ = login(secured.base, "zhou", ip="10.0.4.2")
    token = _token(alice.get(f"{secured.base}/overview", timeout=60).text)
    alice_cookie = f"safetyviz_login={alice.cookies['safetyviz_login']}"
    bob_cookie = f"safetyviz_login={bob.cookies['safetyviz_login']}"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        _websocket(secured.base, "overview", token, bob_cookie)
    assert refused.value.status_code == 403
    refusal = secured.events("session_refused")[-1]
    assert (refusal["user"], refusal["token_user"]) == ("zhou", "li")
    # the owner can use it
    socket = _websocket(secured.base, "overview", token, alice_cookie)
    socket.close()
    # nor can bob join alice's session by its id
    session_id = get_session_id(token)
    joined = bob.get(f"{secured.base}/overview", params={"bokeh-session-id": session_id},
                     timeout=30, allow_redirects=False)
    assert joined.status_code == 403
    # …or by her token, or the id in a header
    assert bob.get(f"{secured.base}/overview", params={"bokeh-token": token},
                   timeout=30).status_code == 403
    assert bob.get(f"{secured.base}/overview", headers={"Bokeh-Session-Id": session_id},
                   timeout=30).status_code == 403


def test_pages_answered_from_a_kept_session_carry_their_own_users_access(secured):
    """A page request is answered from a session kept per page (Panel's reuse_sessions: the
    session is built where its websocket lands), its token made from the kept session's
    payload: every token names its own user's access — a user the served data hold no
    scope for gets none, never the access of whoever opened the page first — and a socket
    of it gets a document of its own, of the user's county."""
    from bokeh.util.token import get_session_id, get_token_payload

    from safetyviz.serve.users import add_user

    add_user(secured.users, "wu", "city", "city-pass-987", city="420100")  # not in the data
    tokens = {}
    passwords = {**PASSWORDS, "wu": "city-pass-987"}
    for name, ip in (("wang", "10.0.9.1"), ("wu", "10.0.9.2"), ("li", "10.0.9.3")):
        session, _ = login(secured.base, name, passwords[name], ip=ip)
        page = session.get(f"{secured.base}/enforcement", params={"county": "411081"},
                           timeout=60)
        assert page.status_code == 200, name
        tokens[name] = (_token(page.text), session)
    access = {name: get_token_payload(token)["safetyviz_access"]
              for name, (token, _) in tokens.items()}
    assert access == {"wang": {"user": "wang", "role": "city", "counties": []}, "wu": None,
                      "li": {"user": "li", "role": "county", "counties": ["411002"]}}
    assert len({get_session_id(token) for token, _ in tokens.values()}) == 3
    assert set(get_token_payload(tokens["li"][0])["arguments"]) == {"county"}
    refused = [e for e in secured.events("access_refused") if e["user"] == "wu"]
    assert refused and refused[-1]["city"] == "420100"
    token, session = tokens["li"]
    socket = _websocket(secured.base, "enforcement", token,
                        f"safetyviz_login={session.cookies['safetyviz_login']}")
    try:
        document = _pulled_document(socket)
    finally:
        socket.close()
    assert "魏都区" in document and "禹州市" not in document


def test_every_page_opens_on_a_server_of_two_processes(demo_dir, tmp_path):
    """`serve --num-procs 2` warms its first pages, then forks: every registered page, not
    only the warmed ones, opens whole, and both processes go on answering. (The pages the
    warm-up had not built computed on Dask's threaded scheduler, whose pool the children
    inherited without its threads: each process waited forever on the enforcement page, and
    answered nothing after it.)"""
    # logins of its own (not the other servers' over the same data: its pages would count
    # against their users' limits), of one city user (one view of the pages to warm)
    (tmp_path / "serve.yaml").write_text(f"sessions_file: {tmp_path / 'sessions.sqlite3'}\n")
    add_user(tmp_path / "users.yaml", "wang", "city", PASSWORDS["wang"])
    served = start_secured(demo_dir, tmp_path, "--num-procs", "2", "--config",
                           str(tmp_path / "serve.yaml"))
    try:
        session, _ = login(served.base, "wang", ip="10.0.10.1")
        cookie = f"safetyviz_login={session.cookies['safetyviz_login']}"
        new_connection = {"Connection": "close"}  # each request to either process
        for slug in [*PAGES, "home", "overview", "home", "overview"]:
            page = session.get(f"{served.base}/{slug}", timeout=60, headers=new_connection)
            assert page.status_code == 200, (slug, page.status_code)
            socket = _websocket(served.base, slug, _token(page.text), cookie)
            try:
                document = _pulled_document(socket)
            finally:
                socket.close()
            assert json.loads(document)["title"] == PAGES[slug].title, slug
            assert "incident" not in document, slug  # (no "data unavailable")
        assert "incident" not in server_output(served.server)
    finally:
        served.server.terminate()
        served.server.wait(timeout=30)


def test_a_new_password_or_removal_ends_the_open_logins(secured):
    session, _ = login(secured.base, "qian", ip="10.0.5.1")
    assert session.get(f"{secured.base}/", timeout=30, allow_redirects=False).status_code == 200
    time.sleep(0.01)
    set_password(secured.users, "qian", "city-pass-000")
    response = session.get(f"{secured.base}/", timeout=30, allow_redirects=False)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    set_password(secured.users, "qian", PASSWORDS["qian"])


def _closed_within(socket, seconds: float) -> bool:
    """Whether the server closes ``socket`` within ``seconds`` (messages read meanwhile)."""
    deadline = time.time() + seconds
    socket.settimeout(1)
    while time.time() < deadline:
        try:
            opcode, _ = socket.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            continue
        except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
            return True
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return True
    return False


def test_open_websockets_of_an_ended_login_are_closed(secured):
    # a new password (users passwd) …
    session, _ = login(secured.base, "qian", ip="10.0.5.2")
    cookie = f"safetyviz_login={session.cookies['safetyviz_login']}"
    token = _token(session.get(f"{secured.base}/overview", timeout=60).text)
    socket = _websocket(secured.base, "overview", token, cookie)
    time.sleep(0.01)
    set_password(secured.users, "qian", "city-pass-000")
    try:
        assert _closed_within(socket, 8)
    finally:
        set_password(secured.users, "qian", PASSWORDS["qian"])
    assert secured.events("session_closed")[-1]["user"] == "qian"
    # … and a logout elsewhere (another tab) close the pages left open
    session, _ = login(secured.base, "qian", ip="10.0.5.2")
    cookie = f"safetyviz_login={session.cookies['safetyviz_login']}"
    token = _token(session.get(f"{secured.base}/overview", timeout=60).text)
    socket = _websocket(secured.base, "overview", token, cookie)
    asked = session.get(f"{secured.base}/logout", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', asked.text)[1]
    session.post(f"{secured.base}/logout", data={"_xsrf": xsrf}, timeout=30)
    assert _closed_within(socket, 8)


MALFORMED_NEXT = ["/\t\\evil.example/phish", "/\r\nSet-Cookie: x=y", "/\x0bevil.example",
                  "//evil.example/x", "/\\evil.example", "https://evil.example/",
                  "javascript:alert(1)", "/ok/\x00//evil", "/\u2028evil", " //evil.example"]


def test_next_is_only_ever_a_path_here(secured):
    for target in MALFORMED_NEXT:
        form = requests.get(f"{secured.base}/login", params={"next": target}, timeout=30)
        assert form.status_code == 200, target
        assert 'name="next" value="/"' in form.text, target
        _, response = login(secured.base, "wang", ip="10.0.7.1", target=target)
        assert (response.status_code, response.headers["Location"]) == (302, "/"), target
    _, response = login(secured.base, "wang", ip="10.0.7.1", target="/county?county=411002")
    assert response.headers["Location"] == "/county?county=411002"


def test_error_replies_name_an_incident_never_a_traceback(secured):
    session, _ = login(secured.base, "wang", ip="10.0.8.1")
    cookie = f"safetyviz_login={session.cookies['safetyviz_login']}"
    token = _token(session.get(f"{secured.base}/overview", timeout=60).text)
    socket = _websocket(secured.base, "overview", token, cookie)
    try:
        socket.settimeout(30)
        # as a browser does, wait for the server's ACK: a message sent before the server has
        # opened its side is not parsed at all (Bokeh closes with 10000), the race is not ours
        while '"ACK"' not in socket.recv():
            pass
        for frame in ({"msgid": "forged-1", "msgtype": "PATCH-DOC"}, {}, {"events": [{
                "kind": "ModelChanged", "model": {"id": "p-no-such-model"}, "attr": "value",
                "new": 1}]}):
            socket.send(json.dumps(frame))
        replies = []
        while not any('"ERROR"' in r for r in replies):
            replies.append(socket.recv())
        error = next(i for i, r in enumerate(replies) if '"ERROR"' in r)
        content = "".join([replies[error], socket.recv(), socket.recv()])  # its 3 frames
        assert '"forged-1"' in content  # the reply to the forged message
        assert "incident" in content, content
        for leak in ("Traceback", "File \"", ".py", "site-packages", str(PROJECT)):
            assert leak not in content, (leak, content)
    finally:
        socket.close()


def test_slow_big_and_many_connections_are_cut_before_any_handler(secured):
    import socket as sockets

    host, port = urlsplit(secured.base).netloc.split(":")
    # a request whose headers never end is closed (header timeout, 10 s)
    slow = sockets.create_connection((host, int(port)), timeout=30)
    slow.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert slow.recv(1024) == b""  # closed by the server, before the client's 30 s
    slow.close()
    # a body beyond the limit is refused before it is read
    big = sockets.create_connection((host, int(port)), timeout=30)
    big.sendall(b"POST /overview HTTP/1.1\r\nHost: x\r\nContent-Length: 99000000\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n\r\n" + b"a" * 65536)
    answer = big.recv(1024)
    assert answer == b"" or answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 413")), answer
    big.close()
    # one address holds at most 200 connections; others are still served
    held = []
    try:
        for _ in range(210):
            connection = sockets.socket()
            connection.bind(("127.0.0.2", 0))
            connection.settimeout(10)
            connection.connect((host, int(port)))
            held.append(connection)
        time.sleep(1)
        cut = 0
        for connection in held[-10:]:
            connection.setblocking(False)
            try:
                cut += connection.recv(1) == b""
            except BlockingIOError:
                pass
        assert cut == 10
        assert requests.get(f"{secured.base}/login", timeout=30).status_code == 200
    finally:
        for connection in held:
            connection.close()


def test_one_user_opening_many_pages_is_held_to_their_own(secured):
    from concurrent.futures import ThreadPoolExecutor

    session, _ = login(secured.base, "zheng", ip="10.0.9.1")
    with ThreadPoolExecutor(MAX_SESSIONS + 4) as pool:
        pages = list(pool.map(lambda _: session.get(f"{secured.base}/overview", timeout=120),
                              range(MAX_SESSIONS + 4)))
        other, _ = login(secured.base, "wang", ip="10.0.9.2")
        assert other.get(f"{secured.base}/overview", timeout=120).status_code == 200
    statuses = sorted(page.status_code for page in pages)
    assert statuses == [200] * MAX_SESSIONS + [429] * 4
    refused = next(page for page in pages if page.status_code == 429)
    assert "打开的页面过多" in refused.text and int(refused.headers["Retry-After"]) > 0
    events = [e for e in secured.events("session_refused") if e["user"] == "zheng"]
    assert len(events) == 4 and {e["reason"] for e in events} == {"too many sessions"}


def test_one_users_pages_are_built_one_at_a_time_and_others_go_between(secured):
    """A page's session is built when its websocket opens, holding the event loop: a user
    opening many pages at once has them built one after another, and another user's page,
    opened after all of theirs, is built after a few of them (not after all)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from safetyviz.serve.users import add_user

    for name in ("wei", "hu"):
        add_user(secured.users, name, "city", f"{name}-pass-1234")
    pages = MAX_SESSIONS - 1

    def pages_of(name: str, ip: str, count: int) -> list[tuple[str, str]]:
        session, _ = login(secured.base, name, f"{name}-pass-1234", ip=ip)
        cookie = f"safetyviz_login={session.cookies['safetyviz_login']}"
        return [(_token(session.get(f"{secured.base}/county", timeout=60).text), cookie)
                for _ in range(count)]

    def sockets(pages: list[tuple[str, str]]) -> list:
        with ThreadPoolExecutor(len(pages)) as pool:  # all handshakes at once
            return list(pool.map(lambda page: _websocket(secured.base, "county", *page),
                                 pages))

    built: list[str] = []  # who had a session built, in the order the server answered
    lock = threading.Lock()

    def acknowledged(name: str, socket) -> None:
        while '"ACK"' not in socket.recv():
            pass
        with lock:
            built.append(name)

    weis_pages, hus_page = pages_of("wei", "10.0.12.1", pages), pages_of("hu", "10.0.12.2", 1)
    wei = sockets(weis_pages)
    hu = sockets(hus_page)  # once all of wei's are open (and their builds under way)
    try:
        with ThreadPoolExecutor(pages + 1) as pool:
            list(pool.map(acknowledged, ["wei"] * pages + ["hu"], wei + hu))
    finally:
        for socket in wei + hu:
            socket.close()
    assert sorted(built) == ["hu"] + ["wei"] * pages
    assert built.index("hu") <= 3, built  # (2 here; 7 when nothing took turns)


def test_one_user_opening_many_websockets_is_held_to_their_limit(secured):
    session, _ = login(secured.base, "feng", ip="10.0.9.3")
    cookie = f"safetyviz_login={session.cookies['safetyviz_login']}"
    token = _token(session.get(f"{secured.base}/overview", timeout=60).text)
    sockets = []
    try:
        for _ in range(MAX_SESSIONS):  # one token, many sockets: up to the limit
            sockets.append(_websocket(secured.base, "overview", token, cookie))
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            _websocket(secured.base, "overview", token, cookie)
        assert refused.value.status_code == 429
    finally:
        for socket in sockets:
            socket.close()
    assert secured.events("session_refused")[-1]["user"] == "feng"
    # closed sockets free their places
    deadline = time.time() + 10
    while True:
        try:
            _websocket(secured.base, "overview", token, cookie).close()
            break
        except websocket.WebSocketBadStatusException:
            assert time.time() < deadline
            time.sleep(0.5)


def test_a_body_is_read_only_by_the_login(secured):
    session, _ = login(secured.base, "wang", ip="10.0.9.4")
    response = session.post(f"{secured.base}/overview", data={"x": "y" * 1000}, timeout=30)
    assert response.status_code == 413


def test_serve_writes_a_missing_catalog_and_leaves_no_temp_folder(tiny_dir, tmp_path):
    (tiny_dir / "catalog.yaml").unlink()
    temp = tmp_path / "tmp"
    temp.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "SAFETYVIZ_CATALOG"}
    server = start_server(
        [sys.executable, "-m", "safetyviz.cli", "serve", "--data-dir", str(tiny_dir),
         "--port", str(port)], cwd=PROJECT, env={**env, "TMPDIR": str(temp)})
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/", server)
        assert (tiny_dir / "catalog.yaml").exists()
        assert [p.name[:16] for p in temp.iterdir()] == ["safetyviz-serve-"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize("args, env, fragments", [
    (["--auth", "USERS"], {"SAFETYVIZ_COOKIE_SECRET": "changeme" * 5}, ["default or a word"]),
    (["--auth", "USERS"], {"SAFETYVIZ_COOKIE_SECRET": "0123456789abcdef" * 3},
     ["repetition"]),
    (["--auth", "USERS"], {"SAFETYVIZ_COOKIE_SECRET": ""}, ["needs a cookie secret"]),
    (["--address", "0.0.0.0"], {}, ["--address 0.0.0.0", "needs logins"]),
    (["--allow-websocket-origin", "*"], {}, ["no '*'"]),
    (["--auth", "BROKEN"], {"SAFETYVIZ_COOKIE_SECRET": secrets.token_urlsafe(48)},
     ["broken.yaml", "user 'wang', field password"]),
    (["--config", "CONFIG"], {}, ["serve.yaml", "unknown setting(s) debug"]),
    (["--config", "NUMBERS"], {}, ["numbers.yaml, setting warm_seconds",
                                   "'soon' is not a number ≥ 0"]),
    (["--num-procs", "-1"], {}, ["--num-procs: -1 is not a whole number ≥ 0"]),
    (["--auth", "MISSING"], {"SAFETYVIZ_COOKIE_SECRET": secrets.token_urlsafe(48)},
     ["missing.yaml: no such users file"]),
])
def test_serve_refuses_to_start_unsafely(tmp_path, args, env, fragments):
    users = tmp_path / "users.yaml"
    add_user(users, "wang", "city", PASSWORDS["wang"])
    (tmp_path / "broken.yaml").write_text("users:\n- {name: wang, role: city, "
                                          "password: hunter2}\n")
    (tmp_path / "serve.yaml").write_text("port: 5999\ndebug: true\n")
    (tmp_path / "numbers.yaml").write_text("warm_seconds: soon\n")
    names = {"USERS": str(users), "BROKEN": str(tmp_path / "broken.yaml"),
             "CONFIG": str(tmp_path / "serve.yaml"), "NUMBERS": str(tmp_path / "numbers.yaml"),
             "MISSING": str(tmp_path / "missing.yaml")}
    result = run_cli("serve", "--port", str(free_port()), *[names.get(a, a) for a in args],
                     env={"SAFETYVIZ_COOKIE_SECRET": "", **env}, cwd=PROJECT)
    assert_one_clear_line(result, *fragments)


def test_serve_on_a_port_in_use_is_refused_before_warming_up(tiny_dir):
    """Another server on the port: one clear line at once, not a traceback after the
    warm-up (which reads the data: a minute by default)."""
    port = free_port()
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        result = run_cli("serve", "--port", str(port), "--data-dir", str(tiny_dir))
    assert_one_clear_line(result, f"--address 127.0.0.1 --port {port}", "in use")


# --- in the browser ---------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                    reason="no /usr/bin/chromium (apt-get install chromium)")

# Every text the session's Bokeh models hold (data sources, titles, options, values…): what
# the server sent to this browser.
STRINGS = """() => {
  const out = [];
  const walk = (v) => {
    if (v == null) return;
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v instanceof Map) v.forEach((x, k) => { walk(k); walk(x); });
    else if (typeof v === 'object' && !ArrayBuffer.isView(v) && !(v.id && v.properties))
      Object.values(v).forEach(walk);
  };
  for (const doc of (window.Bokeh ? window.Bokeh.documents : []))
    for (const m of doc._all_models.values())
      for (const value of Object.values(m.attributes)) walk(value);
  return out;
}"""
LOADING = """() => (window.Bokeh ? window.Bokeh.documents : []).some((doc) =>
  [...doc._all_models.values()].some((m) =>
    (m.attributes.css_classes || []).includes('pn-loading')))"""
MODEL_TYPES = """() => [...new Set([].concat(...window.Bokeh.documents.map(
  d => [...d._all_models.values()].map(m => m.type.split('.').pop()))))]"""
FORGE = """([options, value]) => {
  for (const doc of window.Bokeh.documents)
    for (const m of doc._all_models.values())
      if (m.type.endsWith('Select')
          && m.options.some(o => (Array.isArray(o) ? o[1] : o) === options)) {
        m.value = value; return true; }
  return false;
}"""
FORGE_ACTIVE = """([label, index]) => {
  for (const doc of window.Bokeh.documents)
    for (const m of doc._all_models.values())
      if (m.type.endsWith('RadioButtonGroup') && m.labels.includes(label)) {
        m.active = index; return true; }
  return false;
}"""
OTHER_COUNTIES = {"411003": "建安区", "411024": "鄢陵县", "411025": "襄城县", "411081": "禹州市",
                  "411082": "长葛市"}


def browser_login(browser, base: str, name: str):
    page = browser.new_context(accept_downloads=True).new_page()
    page.goto(f"{base}/login?next=/")
    page.fill("#username", name)
    page.fill("#password", PASSWORDS[name])
    page.click("button")
    page.wait_for_url(f"{base}/")
    return page


def settled_strings(page, seconds: float = 90) -> list[str]:
    """The page's model texts once they stop changing and nothing shows a loading spinner
    (the plots arrive after the page, under a spinner; on a busy machine, more than 3 s after
    it)."""
    deadline, last, same = time.time() + seconds, None, 0
    while time.time() < deadline:
        strings = page.evaluate(STRINGS)
        loading = page.evaluate(LOADING)
        same = same + 1 if (last is not None and len(strings) == len(last)
                            and not loading) else 0
        if same >= 2 and len(strings) > 20:  # the same for 1 s
            return strings
        last = strings
        page.wait_for_timeout(500)
    raise AssertionError(f"{page.url} did not settle in {seconds} s")


def _mentions(strings: list[str], needle: str) -> bool:
    return any(needle in s for s in strings)


def assert_county_scoped(page, base: str, pages) -> None:
    """li (魏都区) sees their own county on each of ``pages`` and nothing of another county
    or of the city's totals."""
    proofs = {"county": "魏都区", "sites": "MHS0001"}  # what li's own pages show
    for app, marker in ((p.slug, proofs[p.proof]) for p in pages):
        page.goto(f"{base}/{app}")
        strings = settled_strings(page)
        assert _mentions(strings, marker), app
        for adcode, name in OTHER_COUNTIES.items():
            assert not _mentions(strings, adcode) and not _mentions(strings, name), (app, name)
        assert not _mentions(strings, "全市"), app  # no city totals either
        assert not any(_mentions(strings, f"MHS00{n:02d}") for n in range(3, 12)), app


@needs_chromium
def test_a_county_user_receives_nothing_of_another_county(secured, browser):
    page = browser_login(browser, secured.base, "li")
    assert_county_scoped(page, secured.base, PAGES.values())  # every registered page
    # no record downloads for a county user
    page.goto(f"{secured.base}/county")
    settled_strings(page)
    assert "FileDownload" not in page.evaluate(MODEL_TYPES)
    # a view restored from a URL naming another county shows their own; the attempt is logged
    page.goto(f"{secured.base}/county?county=411003")
    strings = settled_strings(page)
    assert _mentions(strings, "魏都区") and not _mentions(strings, "建安区")
    refused = [e for e in secured.events("rejected_query") if e["user"] == "li"]
    assert refused and refused[-1]["query"] == {"county": "411003"}


@needs_chromium
def test_a_county_user_finds_and_opens_only_their_countys_firms(secured, browser, demo_records):
    register = demo_records["enterprises"]
    other = register[register["adcode"] == "411081"].iloc[0]  # a firm of 禹州市
    page = browser_login(browser, secured.base, "li")  # 魏都区
    page.goto(f"{secured.base}/overview")
    box = page.locator(".enterprise-search input")
    box.wait_for()
    box.press_sequentially("禹州", delay=40)
    page.locator(".search-results", has_text="未找到匹配的企业").wait_for()
    box.fill("")
    box.press_sequentially("ys", delay=40)  # (演示)…: every demo firm's initials start so
    page.locator(".search-results a").first.wait_for()
    found = [a.inner_text() for a in page.locator(".search-results a").all()]
    assert found and all("魏都区" in item for item in found), found
    # the profile of another county's firm, asked for by id: nothing of it, and logged
    page.goto(f"{secured.base}/enterprise?id={other['enterprise_id']}")
    strings = settled_strings(page)
    data = [s for s in strings if "id=" not in s]  # (the URL typed is the user's own)
    assert not _mentions(data, str(other["enterprise_id"]))
    assert not _mentions(strings, str(other["name"])) and not _mentions(strings, "禹州市")
    assert _mentions(strings, "魏都区")  # their own county's firm instead
    refused = [e for e in secured.events("rejected_query") if e["user"] == "li"]
    assert refused[-1]["query"] == {"id": str(other["enterprise_id"])}


@needs_chromium
def test_the_shell_shows_who_is_logged_in_and_signs_them_out(secured, browser):
    page = browser_login(browser, secured.base, "li")
    page.goto(f"{secured.base}/county")
    meta = page.locator("header.shell .meta")
    meta.wait_for()
    assert "li（区县）" in meta.inner_text()
    page.locator("header.shell a.logout").click()  # the confirmation, then out
    page.wait_for_url(f"{secured.base}/logout")
    page.get_by_role("button", name="退出登录 / Sign out").click()
    page.wait_for_url("**/login*")
    assert secured.events("logout")[-1]["user"] == "li"
    page.goto(f"{secured.base}/county")
    assert "/login" in page.url, page.url  # the pages ask for a login again


@needs_chromium
def test_forged_browser_values_are_refused_and_logged(secured, browser):
    page = browser_login(browser, secured.base, "li")
    page.goto(f"{secured.base}/county")
    settled_strings(page)
    before = len([e for e in secured.events("rejected_value") if e["user"] == "li"])
    # what a hand-written websocket message does: set a model's value past its options
    forgeries = [(FORGE, ["魏都区", "建安区"]), (FORGE, ["魏都区", "411003"]),
                 (FORGE_ACTIVE, ["English", 7])]  # an index past the buttons
    for count, (script, args) in enumerate(forgeries, start=before + 1):
        assert page.evaluate(script, args)
        deadline = time.time() + 30
        while len([e for e in secured.events("rejected_value") if e["user"] == "li"]) < count:
            assert time.time() < deadline, (args, secured.events("rejected_value"))
            time.sleep(0.2)
    rejected = [e for e in secured.events("rejected_value") if e["user"] == "li"][before:]
    assert {e["path"] for e in rejected} == {"/county"}
    assert [e["error"] for e in rejected] == ["ValueError", "ValueError", "IndexError"]
    # the session still shows 魏都区 only: a change of county would have sent its records
    page.wait_for_timeout(2000)
    strings = [s for s in page.evaluate(STRINGS) if s not in ("411003", "建安区")]  # forged
    assert not _mentions(strings, "411003") and not _mentions(strings, "建安区")
    assert [s for s in strings if "魏都区 ·" in s], [s for s in strings if "魏都区" in s]


@needs_chromium
def test_analysts_download_records_and_each_download_is_audited(secured, browser):
    page = browser_login(browser, secured.base, "zhao")
    page.goto(f"{secured.base}/county?county=411002&period=2020Q1")
    settled_strings(page)
    assert "FileDownload" in page.evaluate(MODEL_TYPES)
    with page.expect_download(timeout=60000) as download:
        page.get_by_role("button", name="CSV").first.click()
    content = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert content.count("\n") > 1
    event = [e for e in secured.events("download") if e["user"] == "zhao"][-1]
    assert (event["table"], event["format"], event["county"], event["period"]) == \
        ("open_major_hazards", "csv", "411002", "2020Q1")
    assert event["rows"] == content.strip().count("\n")
    # a city user sees every county and the city, without downloads
    page = browser_login(browser, secured.base, "wang")
    page.goto(f"{secured.base}/county")
    strings = settled_strings(page)
    assert all(_mentions(strings, name) for name in OTHER_COUNTIES.values())
    assert "FileDownload" not in page.evaluate(MODEL_TYPES)


# The addresses of the stylesheets the page's models hold.
STYLESHEETS = """() => [...new Set([].concat(...window.Bokeh.documents.map(d =>
  [...d._all_models.values()].filter(m => m.type === 'ImportedStyleSheet').map(m => m.url))))]"""


@needs_chromium
def test_pages_behind_a_path_prefix_find_their_styles_and_icon(demo_dir, tmp_path, browser):
    """Served under a prefix (a proxy's /safety/…), the styles of what is drawn after the
    page (the spinner's, a table's for a tab chosen, a new language's) and the icon are
    found beside the page: Panel once re-pointed them at ../static/… (/static/…: 404)."""
    (tmp_path / "serve.yaml").write_text("prefix: /safety\nwarm_seconds: 0\n")
    port = free_port()
    server = start_server(
        [sys.executable, "-m", "safetyviz.cli", "serve", "--data-dir", str(demo_dir),
         "--port", str(port), "--config", str(tmp_path / "serve.yaml")], cwd=PROJECT,
        env={**os.environ, "SAFETYVIZ_CATALOG": str(demo_dir / "catalog.yaml")})
    base = f"http://127.0.0.1:{port}/safety"
    try:
        wait_until_answering(f"{base}/county", server)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []  # (a resource not found is a console error too)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/county?county=411002&period=2020Q1")
        page.get_by_text("共 15 条").wait_for()
        page.get_by_text("本期检查记录").click()
        page.get_by_text("共 709 条").wait_for()
        page.get_by_role("button", name="English").click()
        page.get_by_text("709 rows").wait_for()
        page.wait_for_timeout(1000)
        sheets = page.evaluate(STYLESHEETS)
        assert any("loading.css" in url for url in sheets), sheets
        assert [url for url in sheets if url.startswith(("/", "..", "http"))] == []
        assert requests.get(f"{base}/favicon.ico", timeout=30).status_code == 200
        assert not errors, errors
        page.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


PAYLOAD = "<img src=x onerror=alert(1)><script>alert(2)</script>"
# Where on the screen the first point of the glyph whose data has the column ``column`` is.
FIRST_POINT = """(column) => {
  const visit = (v) => {
    if (v.model && v.model.type === 'GlyphRenderer' && v.model.data_source.data[column]
        && v.glyph && v.glyph.sx && v.glyph.sx.length > 0) {
      const box = v.parent.canvas_view.el.getBoundingClientRect();
      return [box.left + v.glyph.sx[0], box.top + v.glyph.sy[0]];
    }
    for (const child of (v.children ? v.children() : [])) {
      const found = visit(child); if (found) return found; }
    return null;
  };
  for (const view of Object.values(window.Bokeh.index)) {
    const found = visit(view); if (found) return found; }
  return null;
}"""
TOOLTIP_TEXTS = """() => {
  const out = [];
  const walk = (root) => { for (const el of root.querySelectorAll('*')) {
    if (el.classList.contains('bk-tooltip-row-value')) out.push(el.textContent.trim());
    if (el.shadowRoot) walk(el.shadowRoot); } };
  walk(document);
  return out;
}"""


@needs_chromium
def test_text_from_the_data_is_shown_as_text(demo_dir, tmp_path, browser):
    import shutil

    from safetyviz.data import store
    from safetyviz.data.catalog import open_catalog
    from safetyviz.data.loading import load_table

    data_dir = tmp_path / "data"
    shutil.copytree(demo_dir, data_dir, symlinks=True)
    cat = open_catalog(data_dir / "catalog.yaml")
    enterprises = load_table("enterprises", catalog=cat).compute()
    enterprises["name"] = PAYLOAD
    store.replace_table(data_dir, "enterprises", enterprises)
    operations = load_table("joint_operations", catalog=cat).compute()
    operations["target"] = PAYLOAD
    store.replace_table(data_dir, "joint_operations", operations)
    with panel_server(["enforcement", "riskmap"], data_dir / "catalog.yaml") as base:
        page = browser.new_page()
        dialogs = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(f"{base}/enforcement?period=2020Q1")
        settled_strings(page)
        cells = page.locator(".tabulator-cell", has_text="<img src=x onerror=alert(1)>")
        cells.first.wait_for(timeout=60000)
        assert cells.first.inner_text() == PAYLOAD
        page.goto(f"{base}/riskmap")
        strings = settled_strings(page)
        assert _mentions(strings, PAYLOAD)  # the names are in the map's data, for the hover
        x, y = page.evaluate(FIRST_POINT, "name")
        page.mouse.move(x, y)
        page.wait_for_timeout(500)
        assert PAYLOAD in page.evaluate(TOOLTIP_TEXTS)  # a tooltip showed an enterprise's name…
        assert page.locator('img[src="x"]').count() == 0  # …as text
        page.wait_for_timeout(500)
        assert dialogs == []


TOY_PAGE = """import panel as pn

from safetyviz.web.components.page import open_page
from safetyviz.web.pages import Page

PAGE = Page("toy", "玩具", "Toy", "toy_page:create_toy_app")


def create_toy_app(catalog=None):
    return open_page(catalog, lambda cat, cube, regions, access: pn.Column(
        *[pn.pane.Str(name) for name in regions["name_zh"]]))
"""


def toy_plugin(folder: Path, value: str = "toy_page:PAGE") -> Path:
    """A package adding a page: its module and its entry point, nothing else."""
    folder.mkdir(exist_ok=True)
    (folder / "toy_page.py").write_text(TOY_PAGE, encoding="utf-8")
    info = folder / "toy_page-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-page\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[safetyviz.web.pages]\ntoy = {value}\n")
    return folder


def test_a_page_added_by_a_plugin_is_registered_and_a_bad_one_named(tmp_path, monkeypatch):
    from safetyviz.core.errors import UserError
    from safetyviz.web.components.index import index_html
    from safetyviz.web.pages import BUILT_IN, registered_pages

    monkeypatch.syspath_prepend(str(toy_plugin(tmp_path / "good")))
    pages = registered_pages()
    assert list(pages) == [p.slug for p in BUILT_IN] + ["toy"]
    assert re.findall(r'href="\./(\w+)"', index_html(list(pages.values())))[-1] == "toy"
    bad = tmp_path / "bad"
    bad.mkdir()
    monkeypatch.syspath_prepend(str(toy_plugin(bad, "toy_page:create_toy_app")))
    with pytest.raises(UserError, match="entry point 'toy' .* a safetyviz.web.pages.Page expected"):
        registered_pages()


@needs_chromium
def test_a_plugin_page_is_served_behind_the_login_and_county_scoped(demo_dir, tmp_path,
                                                                    monkeypatch, browser):
    from safetyviz.web.pages import BUILT_IN, registered_pages

    plugin = toy_plugin(tmp_path / "plugin")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(plugin), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.syspath_prepend(str(plugin))
    added = [p for slug, p in registered_pages().items() if p not in BUILT_IN]
    assert [p.slug for p in added] == ["toy"]
    served = start_secured(demo_dir, tmp_path, "--config", str(
        _config(tmp_path, max_sessions_per_user=MAX_SESSIONS)))
    try:
        assert requests.get(f"{served.base}/toy", allow_redirects=False,
                            timeout=30).status_code == 302  # behind the login
        page = browser_login(browser, served.base, "li")
        page.goto(f"{served.base}/")  # the landing page has its tile, the shell its link
        page.locator('a.tile[data-page="toy"]', has_text="玩具").wait_for()
        assert page.locator('header.shell nav a[href="./toy"]').count() == 1
        assert_county_scoped(page, served.base, added)
    finally:
        served.server.terminate()
        served.server.wait(timeout=30)


def _config(folder: Path, **settings) -> Path:
    path = folder / "serve.yaml"
    path.write_text("".join(f"{k}: {v}\n" for k, v in settings.items()))
    return path

"""The users of a served safetyviz: names, roles, counties and password hashes in a YAML
file (``users.yaml``), read and written only here.

Roles: ``province`` sees every city and county and the province's totals; ``city`` sees every
county and the city's totals — of its own city (``city``) when the data are a province's;
``county`` sees only its counties; ``analyst`` sees every county (or only its counties, if it
has some) and may download record-level tables. Passwords are stored as scrypt hashes
(hashlib, RFC 7914), never as text; the file is written atomically with mode 0600.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from safetyviz.core.errors import UserError
from safetyviz.core.files import read_yaml, write_atomically

ROLES = {
    "province": "sees every city and county of the province and its totals",
    "city": "sees every county of its city (--city, needed when the data are a province's) "
            "and the city's totals",
    "county": "sees only the counties listed with the user",
    "analyst": "sees every county (or the ones listed) and may download record tables",
}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
ADCODE = re.compile(r"\d{6}")
MIN_PASSWORD = 10

# scrypt cost: ~0.1 s and 32 MiB per check on the reference machine (OWASP's minimum is
# N=2**17 with r=8 for 128 MiB; 2**15 keeps a burst of logins within memory on 2 cores).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1
_MAXMEM = 64 * 1024 * 1024


@dataclass(frozen=True)
class User:
    """One user as stored; ``counties`` empty means every county; ``city``: a city user's
    city (the counties of the data's province it may see)."""

    name: str
    role: str
    password: str  # "scrypt$N$r$p$salt$hash", base64 without padding
    counties: tuple[str, ...] = ()
    city: str | None = None

    @property
    def may_download(self) -> bool:
        return self.role == "analyst"

    @property
    def fingerprint(self) -> str:
        """A short digest of the password hash: a login cookie carries it, so changing the
        password ends the logins made with the old one (at their next request)."""
        return hashlib.sha256(self.password.encode()).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    """The stored form of ``password``: scrypt with a random 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=_MAXMEM, dklen=32)
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the stored hash (compared in constant time)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=_unb64(salt), n=int(n),
                                r=int(r), p=int(p), maxmem=_MAXMEM, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def dummy_hash() -> str:
    """Checked against when the user does not exist, so that an unknown name costs as much
    time as a wrong password (no probing for names by timing)."""
    return hash_password(secrets.token_urlsafe(16))


def check_password_strength(password: str, name: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password too short: at least {MIN_PASSWORD} characters")
    if password.lower() == name.lower() or len(set(password)) < 4:
        raise UserError("password too weak: not the user name, at least 4 different characters")


def _parse(path: Path, item, index: int) -> User:
    where = f"{path}, user {index + 1}"
    if not isinstance(item, dict):
        raise UserError(f"{where}: a mapping with name, role and password expected")
    name = str(item.get("name", ""))
    if not NAME.fullmatch(name):
        raise UserError(f"{where}, field name: {name!r} is not a user name (letters, digits, "
                        "_ . @ -, at most 64)")
    where = f"{path}, user {name!r}"
    unknown = set(item) - {"name", "role", "password", "counties", "city"}
    if unknown:
        raise UserError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    role = str(item.get("role", ""))
    if role not in ROLES:
        raise UserError(f"{where}, field role: {role!r} is not one of {', '.join(ROLES)}")
    password = str(item.get("password", ""))
    if not password.startswith("scrypt$") or password.count("$") != 5:
        raise UserError(f"{where}, field password: not a scrypt hash (set passwords with "
                        "`safetyviz users passwd`, never as text)")
    counties = item.get("counties") or []
    if not isinstance(counties, list):
        raise UserError(f"{where}, field counties: a list of adcodes expected")
    counties = tuple(str(c) for c in counties)
    for county in counties:
        if not ADCODE.fullmatch(county):
            raise UserError(f"{where}, field counties: {county!r} is not a 6-digit adcode")
    if role == "county" and not counties:
        raise UserError(f"{where}, field counties: a county user needs at least one county")
    if role in ("city", "province") and counties:
        raise UserError(f"{where}, field counties: a {role} user sees every county of its "
                        f"{role} (give the role county to limit it)")
    city = item.get("city")
    if city is not None:
        city = str(city)
        if role != "city":
            raise UserError(f"{where}, field city: only a city user has a city")
        if not ADCODE.fullmatch(city) or city.endswith("0000"):
            raise UserError(f"{where}, field city: {city!r} is not a city's 6-digit adcode")
    return User(name, role, password, counties, city)


def load_users(path: Path) -> dict[str, User]:
    """The users in ``path`` by name; any problem is one UserError naming the file, the user
    and the field."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such users file (create one with `safetyviz users add`)")
    spec = read_yaml(path, "users file") or {}
    if not isinstance(spec, dict) or set(spec) - {"users"}:
        raise UserError(f"{path}: a mapping with one key, users, expected")
    items = spec.get("users") or []
    if not isinstance(items, list):
        raise UserError(f"{path}, field users: a list expected")
    users: dict[str, User] = {}
    for index, item in enumerate(items):
        user = _parse(path, item, index)
        if user.name in users:
            raise UserError(f"{path}, user {user.name!r}: listed twice")
        users[user.name] = user
    return users


def save_users(path: Path, users: dict[str, User]) -> None:
    """Write ``users`` to ``path`` (mode 0600, atomically)."""
    items = []
    for user in sorted(users.values(), key=lambda u: u.name):
        item: dict[str, str | list[str]] = {"name": user.name, "role": user.role}
        if user.counties:
            item["counties"] = list(user.counties)
        if user.city:
            item["city"] = user.city
        item["password"] = user.password
        items.append(item)
    text = ("# safetyviz users: written by `safetyviz users add|remove|passwd`; passwords are\n"
            "# scrypt hashes. Roles:\n" + "".join(f"#   {k}: {v}\n" for k, v in ROLES.items())
            + yaml.safe_dump({"users": items}, allow_unicode=True, sort_keys=False))
    write_atomically(Path(path), text.encode("utf-8"), mode=0o600)


def add_user(path: Path, name: str, role: str, password: str,
             counties: tuple[str, ...] = (), city: str | None = None) -> User:
    """Add a user to the users file (created if missing); an existing name is an error."""
    path = Path(path)
    users = load_users(path) if path.exists() else {}
    if name in users:
        raise UserError(f"{path}: user {name!r} exists (use `safetyviz users passwd`)")
    check_password_strength(password, name)
    item = {"name": name, "role": role, "counties": list(counties),
            "password": hash_password(password)}
    if city is not None:
        item["city"] = city
    user = _parse(path, item, len(users))
    users[name] = user
    save_users(path, users)
    return user


def remove_user(path: Path, name: str) -> None:
    users = load_users(path)
    if name not in users:
        raise UserError(f"{path}: no user {name!r}")
    del users[name]
    save_users(path, users)


def set_password(path: Path, name: str, password: str) -> None:
    users = load_users(path)
    if name not in users:
        raise UserError(f"{path}: no user {name!r}")
    check_password_strength(password, name)
    users[name] = replace(users[name], password=hash_password(password))
    save_users(path, users)

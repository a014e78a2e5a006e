"""Logins of `safetyviz serve --auth`: the users file, the login cookie naming a server-side
login (:mod:`sessions`), the throttles and per-user limits (:mod:`limits`), the login and
logout pages, the cookie secret's checks, and the Bokeh auth provider and access handler
that put the user's :class:`access.Access` in each session's signed token.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import html
import logging
import math
import os
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from safetyviz.core.errors import UserError
from safetyviz.security.access import TOKEN_KEY, Access
from safetyviz.security.audit import AuditLog
from safetyviz.serve.limits import LoginThrottle, SessionLimiter
from safetyviz.serve.shared import SharedState, SqliteState, StateUnavailable
from safetyviz.serve.users import NAME, User, dummy_hash, load_users, verify_password

log = logging.getLogger("safetyviz.serve.server")

COOKIE = "safetyviz_login"
WEAK_SECRETS = {"changeme", "secret", "default", "password", "my_super_safe_cookie_secret",
                "cookie_secret", "panel", "bokeh", "safetyviz"}


def check_cookie_secret(secret: str | None) -> str:
    """The secret, if strong enough to sign logins and sessions: at least 32 characters, not
    a known default or a repetition, and at least 128 bits by its character frequencies."""
    hint = ("generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
            " and pass it in SAFETYVIZ_COOKIE_SECRET or a cookie_secret_file (mode 600)")
    if not secret:
        raise UserError(f"serving with logins needs a cookie secret; {hint}")
    secret = secret.strip()
    lowered = secret.lower()
    if len(secret) < 32:
        raise UserError(f"cookie secret too short ({len(secret)} characters, 32 needed); {hint}")
    if lowered in WEAK_SECRETS or any(w in lowered for w in ("changeme", "secret", "password")):
        raise UserError(f"cookie secret is a default or a word; {hint}")
    if any(len(secret) % k == 0 and secret == secret[:k] * (len(secret) // k)
           for k in range(1, len(secret) // 2 + 1)):
        raise UserError(f"cookie secret is a repetition; {hint}")
    counts = [secret.count(c) for c in set(secret)]
    bits = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts) * len(secret)
    if bits < 128:
        raise UserError(f"cookie secret too predictable (~{bits:.0f} bits, 128 needed); {hint}")
    return secret


def derive_key(secret: str, purpose: str) -> str:
    """A separate key per use (login cookies, Bokeh session ids) from the one secret."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def safe_next(target: str | None) -> str:
    """Where to go after login: a path on this server only — no scheme, no host, no
    backslash (browsers read it as a slash), nothing but printable ASCII (browsers drop
    some control characters, headers refuse others; the login's own links are
    percent-encoded), no ``//`` — else ``/``."""
    if not target or not target.startswith("/") or "//" in target or "\\" in target \
            or not all(0x21 <= ord(c) <= 0x7e for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


# --- who is asking --------------------------------------------------------------------------

class Authenticator:
    """The users file (re-read when it changes; a broken file refuses everyone), the logins
    (server-side: the cookie names one), the throttles, the per-user limits and the audit
    log of one server."""

    def __init__(self, users_file: Path, secret: str, audit: AuditLog, login_hours: float = 8,
                 failures_per_user: int = 5, failures_per_address: int = 20,
                 state: SharedState | None = None, failures_per_user_total: int = 100,
                 max_sessions_per_user: int = 20, session_token_seconds: float = 60):
        """``state``: what the server processes share (logins, throttles, limits); None:
        in memory, for this process only."""
        self.users_file = Path(users_file)
        self.cookie_key = derive_key(secret, "login-cookie")
        self.audit = audit
        self.login_hours = login_hours
        self.state = state if state is not None else SqliteState(None, login_hours)
        self.throttle = LoginThrottle(self.state, failures_per_user, failures_per_user_total,
                                      failures_per_address)
        self.sessions = SessionLimiter(self.state, max_sessions_per_user,
                                       session_token_seconds)
        self.sockets: dict = {}  # open websocket handler → (login id, user, fingerprint)
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._users: dict[str, User] = load_users(self.users_file)  # a missing or broken
        # file stops the server before it starts
        self._unavailable_logged = -math.inf

    def _file_stamp(self):
        try:
            stat = self.users_file.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size, stat.st_ino

    def users(self) -> dict[str, User]:
        """The users, read again when the file changed; a file gone or broken while
        serving refuses everyone (logged) until it is fixed."""
        stamp = self._file_stamp()
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._users = load_users(self.users_file)
                except UserError as exc:
                    log.error("users file unusable, refusing every login: %s", exc)
                    self._users = {}
                self._stamp = stamp
            return self._users

    def login_from_cookie(self, signed: str | bytes | None) -> tuple[str, User] | None:
        """(login id, user) of a login cookie: signed by this server, naming a login that
        has not ended or expired, of a user who still exists with the password the login
        was made with (a login of a changed password is ended here)."""
        from tornado.web import decode_signed_value

        if not signed:
            return None
        raw = decode_signed_value(self.cookie_key, COOKIE, signed,
                                  max_age_days=self.login_hours / 24, min_version=2)
        if raw is None:
            return None
        login = self.state.get(raw.decode("ascii", "replace"))  # may raise StateUnavailable
        if login is None:
            return None
        user = self.users().get(login.user)
        if user is None or not hmac.compare_digest(user.fingerprint, login.fingerprint):
            self.state.end(login.id)
            return None
        return login.id, user

    def user_from_cookie(self, signed: str | bytes | None) -> User | None:
        found = self.login_from_cookie(signed)
        return found[1] if found else None

    def login_for_request(self, request) -> tuple[str, User] | None:
        morsel = request.cookies.get(COOKIE)
        return self.login_from_cookie(morsel.value if morsel is not None else None)

    def user_for_request(self, request) -> User | None:
        found = self.login_for_request(request)
        return found[1] if found else None

    def sweep(self) -> None:
        """Close the open websockets whose login has ended (logout, a new password, a removed
        user, expiry) on any process, and renew this process's leases: run every few seconds
        by each server process. While the shared state is down, open pages stay open."""
        try:
            self.sessions.renew()
            if not self.sockets:
                return
            live = self.state.live({login for login, _, _ in self.sockets.values()})
        except StateUnavailable as exc:
            self.log_unavailable(exc)
            return
        users = self.users()
        for handler, (login, name, fingerprint) in list(self.sockets.items()):
            user = users.get(name)
            if login in live and user is not None and user.fingerprint == fingerprint:
                continue
            self.sockets.pop(handler, None)
            self.sessions.socket_closed(name, handler)
            self.audit.write("session_closed", user=name, reason="login ended")
            handler.close(4001, "login ended")

    def purge(self) -> None:
        """Forget expired logins, failures and leases (every few minutes)."""
        try:
            self.state.purge()
        except StateUnavailable as exc:
            self.log_unavailable(exc)

    def log_unavailable(self, exc: Exception) -> None:
        """Log that the shared state is down (once a minute, not once a request)."""
        now = time.monotonic()
        if now - self._unavailable_logged >= 60:
            self._unavailable_logged = now
            log.error("shared state unavailable: logins refused, open pages kept: %s", exc)

    def login_for_handler(self, handler) -> tuple[str, User] | None:
        """:meth:`login_for_request` of a handler's request, looked up once per request."""
        if not hasattr(handler, "_safetyviz_login"):
            handler._safetyviz_login = self.login_for_request(handler.request)
        return handler._safetyviz_login

    def user_for_handler(self, handler) -> User | None:
        """The logged-in user of a request; for a websocket, only if the session token it
        presents was issued to that same user."""
        from tornado.websocket import WebSocketHandler

        found = self.login_for_handler(handler)
        user = found[1] if found else None
        if user is None or not isinstance(handler, WebSocketHandler):
            return user
        owner = _token_owner(handler.request.headers.get("Sec-WebSocket-Protocol", ""))
        if owner != user.name:
            self.audit.write("session_refused", user=user.name, ip=handler.request.remote_ip,
                             path=handler.request.path, token_user=owner,
                             reason="session token of another user")
            return None
        return user

    def access(self, request) -> dict:
        """The token payload field with the requesting user's :class:`Access`; None (the
        page then shows nothing) for a user whose scope the served data do not hold. Always
        the field: a page request answered from a kept session gets a token made from that
        session's payload updated with this (Panel's ``reuse_sessions``)."""
        user = self.user_for_request(request)
        if user is None:
            return {TOKEN_KEY: None}
        counties = scope_of(user, served_units() if user.role == "city" else None)
        if counties is None:
            self.audit.write("access_refused", user=user.name, role=user.role, city=user.city,
                             reason="the served data hold no such city, or the user's role "
                                    "needs one")
            return {TOKEN_KEY: None}
        area = user.city if user.role == "city" and counties else None  # a province's city
        return {TOKEN_KEY: Access(user.name, user.role, counties, area).to_payload()}


def scope_of(user: User, units) -> tuple[str, ...] | None:
    """The counties ``user`` may see, as a session token carries them (empty: every one),
    over the served reporting ``units`` (adcode, parent_adcode); None: none at all. A city
    user sees its city's units when the data are a province's (units in several cities),
    and must then name its city; in a city's data, the city's every unit."""
    if user.role != "city":
        return user.counties
    parents = set(units["parent_adcode"].dropna().astype(str)) if units is not None else set()
    if len(parents) <= 1:  # one city's data (or a flat set of units): all of them
        return () if user.city in (None, *parents) else None
    if user.city is None:
        return None
    inside = units[(units["parent_adcode"].astype(str) == user.city)
                   | (units["adcode"].astype(str) == user.city)]
    return tuple(sorted(inside["adcode"].astype(str))) or None


def served_units():
    """The reporting units (adcode, parent_adcode) of the configured catalog, read once per
    version of the catalog file and of its regions (a city user's page request asks: parsing
    the catalog each time cost 18 ms); None when there are none to read."""
    from safetyviz.data.catalog import catalog_path, version

    path = str(catalog_path())
    try:
        catalog = _catalog(path, _stamp(path))
        return _units(path, version("regions", catalog))
    except (UserError, OSError):
        return None


@functools.lru_cache(maxsize=4)
def _catalog(path: str, stamp: tuple):
    from safetyviz.data.catalog import open_catalog

    return open_catalog(Path(path))


@functools.lru_cache(maxsize=4)
def _units(path: str, regions_version: str):
    from safetyviz.data.loading import load_regions

    regions = load_regions(_catalog(path, _stamp(path)), geometry=False)
    return regions[["adcode", "parent_adcode"]]


def _stamp(path: str) -> tuple:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def _token_owner(protocols: str) -> str | None:
    """The user a Bokeh session token (in ``Sec-WebSocket-Protocol: bokeh, TOKEN``) was
    issued to; the token's signature is checked by Bokeh when the socket opens."""
    from bokeh.util.token import get_token_payload

    parts = [p.strip() for p in protocols.split(",")]
    if len(parts) != 2 or parts[0] != "bokeh":
        return None
    try:
        return (get_token_payload(parts[1]).get(TOKEN_KEY) or {}).get("user")
    except Exception:  # any malformed token: no owner
        return None


# --- pages of the login ---------------------------------------------------------------------

LOGIN_CSS = """
body {font-family: system-ui, "Noto Sans CJK SC", sans-serif; margin: 0; color: #1b2631;
      background: #f4f6f6; display: flex; justify-content: center;}
form {background: #fff; margin-top: 10vh; padding: 24px 28px; border-radius: 8px;
      border: 1px solid #d5d8dc; width: min(340px, 86vw);}
h1 {font-size: 20px; margin: 0 0 16px;} label {display: block; margin: 10px 0 4px;}
input[type=text], input[type=password] {width: 100%; box-sizing: border-box; padding: 8px;
      font-size: 16px; border: 1px solid #aab7b8; border-radius: 4px;}
button {margin-top: 16px; width: 100%; padding: 10px; font-size: 16px; border: 0;
      border-radius: 4px; background: #922b21; color: #fff;}
.error {color: #922b21; margin: 8px 0;} small {color: #566573;}
"""


def login_page(xsrf_html: str, target: str, error: str = "") -> str:
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 · Sign in</title><style>{LOGIN_CSS}</style></head>
<body><form method="post" action="login">
<h1>安全生产监管 · 登录<br><small>Work-safety supervision · sign in</small></h1>{message}
{xsrf_html}<input type="hidden" name="next" value="{html.escape(target)}">
<label for="username">用户名 / User name</label>
<input type="text" id="username" name="username" autocomplete="username" required autofocus>
<label for="password">密码 / Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">登录 / Sign in</button></form></body></html>"""


UNAVAILABLE = ("登录服务暂时无法连接，请稍后再试 / Signing in is unavailable: the server cannot "
               "reach its session store right now. Try again in a minute.")
UNAVAILABLE_LOGOUT = ("未能退出：登录服务暂时无法连接，请稍后再试 / Not signed out: the server "
                      "cannot reach its session store right now. Try again in a minute.")
UNAVAILABLE_RETRY_SECONDS = 30


def unavailable(handler, page: str) -> None:
    """Answer 503 with ``page`` (the shared state is down; nothing was changed)."""
    handler.set_status(503)
    handler.set_header("Retry-After", str(UNAVAILABLE_RETRY_SECONDS))
    handler.finish(page)


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
}


def content_security_policy(tiles: str | None) -> str:
    """Scripts, styles, data and sockets only from this server (Bokeh needs inline scripts
    and eval); images also from the configured base-map tile server."""
    tile_host = ""
    if tiles:
        parts = urlsplit(tiles.replace("{", "").replace("}", ""))
        tile_host = f" {parts.scheme}://{parts.netloc}"
    return ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; "
            "style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
            f"img-src 'self' data: blob:{tile_host}; connect-src 'self'; "
            "frame-ancestors 'self'; base-uri 'self'; form-action 'self'; object-src 'none'")


def logout_page(xsrf_html: str, error: str = "") -> str:
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>退出登录 · Sign out</title><style>{LOGIN_CSS}</style></head>
<body><form method="post" action="logout">
<h1>退出登录？<br><small>Sign out?</small></h1>{message}{xsrf_html}
<button type="submit">退出登录 / Sign out</button></form></body></html>"""


class SecureCookieMixin:
    """Every cookie a handler sets (the login's, ``_xsrf``) is ``Secure`` when the request came
    over TLS (directly, or as the proxy says with ``--use-xheaders``)."""

    def set_cookie(self, name, value, *args, **kwargs):
        if self.request.protocol == "https":
            kwargs["secure"] = True
        return super().set_cookie(name, value, *args, **kwargs)


class PlainHandlerMixin(SecureCookieMixin):
    """Security headers, no caching, and cookies marked Secure behind TLS."""

    def set_default_headers(self):
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy", content_security_policy(None))


def _handlers(auth: Authenticator):
    """The login and logout request handlers (built here: tornado is imported late)."""
    from tornado.ioloop import IOLoop
    from tornado.web import RequestHandler, create_signed_value

    class LoginHandler(PlainHandlerMixin, RequestHandler):
        public = True  # the one page without a login (guard_routes leaves it open)

        def get(self):
            self.write(login_page(self.xsrf_form_html(), safe_next(self.get_argument(
                "next", "/"))))

        async def post(self):
            self.check_xsrf_cookie()
            try:
                await self._log_in()
            except StateUnavailable as exc:
                auth.log_unavailable(exc)
                unavailable(self, login_page(self.xsrf_form_html(), "/", UNAVAILABLE))

        async def _log_in(self):
            name = self.get_body_argument("username", "").strip()[:64]
            password = self.get_body_argument("password", "")[:1024]
            target = safe_next(self.get_body_argument("next", "/"))
            ip = self.request.remote_ip
            wait = auth.throttle.attempt(name, ip)
            if wait > 0:
                auth.audit.write("login_throttled", user=name, ip=ip, wait_s=round(wait))
                self.set_status(429)
                self.set_header("Retry-After", str(math.ceil(wait)))
                self.write(login_page(self.xsrf_form_html(), target,
                                      f"尝试次数过多，请 {math.ceil(wait / 60)} 分钟后再试 / "
                                      f"Too many attempts: try again in "
                                      f"{math.ceil(wait / 60)} min"))
                return
            user = auth.users().get(name) if NAME.fullmatch(name) else None
            stored = user.password if user else dummy_hash()
            # ~0.1 s of scrypt off the event loop, so other sessions keep running
            ok = await IOLoop.current().run_in_executor(None, verify_password, password,
                                                        stored)
            if not (ok and user):  # (counted as failures by attempt() above)
                auth.audit.write("login_failed", user=name, ip=ip,
                                 reason="bad_password" if user else "unknown_user")
                self.set_status(401)
                self.write(login_page(self.xsrf_form_html(), target,
                                      "用户名或密码错误 / Wrong user name or password"))
                return
            auth.throttle.succeeded(name, ip)
            login = auth.state.create(user.name, user.fingerprint, ip)
            # the cookie only names the login (signed, so a guess is refused unread); a
            # browser-session cookie, and the login itself ends after login_hours
            self.set_cookie(COOKIE, create_signed_value(auth.cookie_key, COOKIE, login,
                                                        version=2),
                            httponly=True, samesite="Strict", path="/")
            auth.audit.write("login", user=name, ip=ip, role=user.role,
                             counties=list(user.counties))
            self.redirect(target)

    class LogoutHandler(PlainHandlerMixin, RequestHandler):
        """GET asks (another site can make a browser GET anything); POST, with the form's
        XSRF token, ends the login on the server — the cookie is worthless after it."""

        public = True

        def get(self):
            self.write(logout_page(self.xsrf_form_html()))

        def post(self):
            self.check_xsrf_cookie()
            try:
                found = auth.login_for_request(self.request)
                if found is not None:
                    auth.state.end(found[0])
            except StateUnavailable as exc:  # the login lives on: say so, keep the cookie
                auth.log_unavailable(exc)
                unavailable(self, logout_page(self.xsrf_form_html(), UNAVAILABLE_LOGOUT))
                return
            if found is not None:
                auth.audit.write("logout", user=found[1].name, ip=self.request.remote_ip)
            self.clear_cookie(COOKIE, path="/")
            self.redirect("login")

    return LoginHandler, LogoutHandler


def auth_provider(auth: Authenticator):
    """A Bokeh auth provider: every page and socket asks ``auth`` for the user."""
    from bokeh.server.auth_provider import AuthProvider

    login, logout = _handlers(auth)

    class Provider(AuthProvider):
        @property
        def get_user(self):
            def get_user(handler):
                user = auth.user_for_handler(handler)
                return user.name if user else None
            return get_user

        @property
        def login_url(self):
            return "/login"

        @property
        def login_handler(self):
            return login

        @property
        def logout_url(self):
            return "/logout"

        @property
        def logout_handler(self):
            return logout

    return Provider()


def access_handler(auth: Authenticator):
    """A Bokeh application handler that adds the requesting user's access to the session
    token (signed by the server, so the browser cannot change it)."""
    from bokeh.application.handlers.handler import Handler

    class AccessHandler(Handler):
        def modify_document(self, doc):
            pass

        def process_request(self, request) -> dict:
            return auth.access(request)

    return AccessHandler()

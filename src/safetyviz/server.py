"""Serving the dashboards safely: the Panel/Bokeh server built in this process, its login
(users file, signed cookie, throttling), a guard in front of every route, and the hardened
settings (signed session ids, short session tokens, no session-info route, origins given
explicitly, security headers, a strong cookie secret).

Who may see which county is decided per session from the user found here and carried in
the signed session token (:mod:`access`, :func:`components.page.session_access`).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import math
import os
import signal
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from . import settings
from .access import TOKEN_KEY, Access
from .audit import AuditLog, audit_log, set_audit_log
from .errors import UserError
from .limits import (  # noqa: F401  (Throttle: imported from here by earlier code)
    ConnectionLimiter,
    LoginThrottle,
    SessionLimiter,
    Throttle,
    raise_open_file_limit,
)
from .sessions import LoginStore
from .users import NAME, User, dummy_hash, load_users, verify_password

log = logging.getLogger("safetyviz.server")

COOKIE = "safetyviz_login"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
WEAK_SECRETS = {"changeme", "secret", "default", "password", "my_super_safe_cookie_secret",
                "cookie_secret", "panel", "bokeh", "safetyviz"}


# --- configuration --------------------------------------------------------------------------

@dataclass
class ServeConfig:
    """How ``safetyviz serve`` runs (flags, or a YAML file of the same names)."""

    pages: dict  # slug → pages.Page: the routes
    index: Path
    port: int = 5006
    address: str = "127.0.0.1"
    allow_websocket_origin: list[str] = field(default_factory=list)
    auth: Path | None = None  # users file; None: no login, loopback only
    cookie_secret: str | None = None
    audit_log: Path | None = None
    use_xheaders: bool = False  # behind a reverse proxy that sets X-Forwarded-*
    session_token_seconds: int = 60  # a page must open its websocket within this time
    login_hours: float = 8
    failures_per_user: int = 5  # failed logins per 15 minutes per (user, address)
    failures_per_user_total: int = 100  # … per user from addresses it never logged in from
    failures_per_address: int = 20  # … per address, for names not known there
    max_sessions_per_user: int = 20  # pages and websockets of one user at once
    max_connections_per_address: int = 200  # connections open from one client address
    sessions_file: Path | None = None  # the logins (SQLite); default DATA_DIR/logs/
    prefix: str = ""
    num_procs: int = 1  # server processes sharing the port (sessions are spread over them)
    warm: bool = True  # draw one page before serving, so the first user does not wait


CONFIG_KEYS = {"port", "address", "allow_websocket_origin", "auth", "cookie_secret_file",
               "audit_log", "use_xheaders", "session_token_seconds", "login_hours",
               "failures_per_user", "failures_per_user_total", "failures_per_address",
               "max_sessions_per_user", "max_connections_per_address", "sessions_file",
               "prefix", "num_procs"}

# Every connection, before any handler runs: the request line and headers within
# HEADER_SECONDS (also the longest a kept-alive connection idles), a body within
# BODY_SECONDS and of MAX_BODY_BYTES at most (the login form is the only body any route
# reads: a few hundred bytes).
HEADER_SECONDS = 10
BODY_SECONDS = 10
MAX_BODY_BYTES = 16 * 1024
MAX_HEADER_BYTES = 32 * 1024
SWEEP_SECONDS = 2  # open websockets of ended logins are closed within this


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
                 sessions_file: Path | None = None, failures_per_user_total: int = 100,
                 max_sessions_per_user: int = 20, session_token_seconds: float = 60):
        self.users_file = Path(users_file)
        self.cookie_key = derive_key(secret, "login-cookie")
        self.audit = audit
        self.login_hours = login_hours
        self.logins = LoginStore(sessions_file, login_hours)
        self.throttle = LoginThrottle(self.logins.is_known_address, failures_per_user,
                                      failures_per_user_total, failures_per_address)
        self.sessions = SessionLimiter(max_sessions_per_user, session_token_seconds)
        self.sockets: dict = {}  # open websocket handler → (login id, user, fingerprint)
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._users: dict[str, User] = load_users(self.users_file)  # a missing or broken
        # file stops the server before it starts

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
        login = self.logins.get(raw.decode("ascii", "replace"))
        if login is None:
            return None
        user = self.users().get(login.user)
        if user is None or not hmac.compare_digest(user.fingerprint, login.fingerprint):
            self.logins.end(login.id)
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
        user, expiry): run every few seconds by each server process."""
        if not self.sockets:
            return
        live = self.logins.live({login for login, _, _ in self.sockets.values()})
        users = self.users()
        for handler, (login, name, fingerprint) in list(self.sockets.items()):
            user = users.get(name)
            if login in live and user is not None and user.fingerprint == fingerprint:
                continue
            self.sockets.pop(handler, None)
            self.sessions.socket_closed(name, handler)
            self.audit.write("session_closed", user=name, reason="login ended")
            handler.close(4001, "login ended")

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
        """The token payload field with the requesting user's :class:`Access`."""
        user = self.user_for_request(request)
        if user is None:
            return {}
        return {TOKEN_KEY: Access(user.name, user.role, user.counties).to_payload()}


def _token_owner(protocols: str) -> str | None:
    """The user a Bokeh session token (in ``Sec-WebSocket-Protocol: bokeh, TOKEN``) was
    issued to; the token's signature is checked by Bokeh when the socket opens."""
    from bokeh.util.token import get_token_payload

    parts = [p.strip() for p in protocols.split(",")]
    if len(parts) != 2 or parts[0] != "bokeh":
        return None
    try:
        return get_token_payload(parts[1]).get(TOKEN_KEY, {}).get("user")
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


def logout_page(xsrf_html: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>退出登录 · Sign out</title><style>{LOGIN_CSS}</style></head>
<body><form method="post" action="logout">
<h1>退出登录？<br><small>Sign out?</small></h1>{xsrf_html}
<button type="submit">退出登录 / Sign out</button></form></body></html>"""


class PlainHandlerMixin:
    """Security headers, no caching, and the ``_xsrf`` cookie marked Secure when the
    request came over TLS (directly or as the proxy says with ``--use-xheaders``)."""

    def set_default_headers(self):
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy", content_security_policy(None))

    def set_cookie(self, name, value, *args, **kwargs):
        if self.request.protocol == "https":
            kwargs["secure"] = True
        return super().set_cookie(name, value, *args, **kwargs)


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
            login = auth.logins.create(user.name, user.fingerprint, ip)
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
            found = auth.login_for_request(self.request)
            if found is not None:
                login, user = found
                auth.logins.end(login)
                auth.audit.write("logout", user=user.name, ip=self.request.remote_ip)
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


# --- the guard in front of every route ------------------------------------------------------

PAGE_HANDLERS = {"DocHandler", "RootHandler"}
TOO_MANY_PAGES = ("<!DOCTYPE html><html lang='zh-CN'><meta charset='utf-8'><title>429</title>"
                  "<p>打开的页面过多，请关闭一些页面后再试。<br>Too many pages open: close some "
                  "and try again.</p></html>")


def guard_routes(tornado_app, auth: Authenticator | None, csp: str) -> list[str]:
    """Put a guard in front of every route but the login, logout and favicon: without a
    logged-in user a page redirects to the login and anything else gets 403 — before the
    route reads a file or imports a module. Pages never take a session id from the URL (that
    would let a leaked id join another user's session), are never cached, and every response
    carries the security headers. Returns the names of the guarded handlers."""
    from tornado.web import HTTPError, RequestHandler
    from tornado.websocket import WebSocketHandler

    guarded = []

    def wrap(handler_class):
        name = handler_class.__name__
        page = name in PAGE_HANDLERS
        socket = issubclass(handler_class, WebSocketHandler)

        class Guarded(handler_class):
            def set_default_headers(self):
                super().set_default_headers()
                for header, value in SECURITY_HEADERS.items():
                    self.set_header(header, value)
                if page:
                    self.set_header("Cache-Control", "no-store")
                    self.set_header("Content-Security-Policy", csp)

            def set_cookie(self, name, value, *args, **kwargs):
                if self.request.protocol == "https":
                    kwargs["secure"] = True
                return super().set_cookie(name, value, *args, **kwargs)

            async def prepare(self):
                user = auth.user_for_handler(self) if auth is not None else None
                if auth is not None and user is None:
                    if page and self.request.method in ("GET", "HEAD"):
                        self.redirect(f"{self.application.prefix or ''}/login?next="
                                      + quote(self.request.uri, safe="/"))
                        return
                    raise HTTPError(403)
                if {"bokeh-session-id", "bokeh-token"} & set(self.request.arguments) \
                        or "Bokeh-Session-Id" in self.request.headers:
                    raise HTTPError(403, "sessions are issued by the server")
                if self.request.body:  # only the login form has one
                    raise HTTPError(413)
                if user is not None and not await self._take_session(user):
                    return
                result = super().prepare()
                if result is not None:
                    await result

            async def _take_session(self, user) -> bool:
                """A new session (a dashboard page, or its websocket) of ``user``, within
                the per-user limit; a page waits for the user's page being built."""
                if socket:
                    if auth.sessions.may_connect(user.name):
                        return True
                elif name != "DocHandler" or self.request.method != "GET":
                    return True
                elif await auth.sessions.page(user.name):
                    self._building_for = user.name
                    return True
                auth.audit.write("session_refused", user=user.name, ip=self.request.remote_ip,
                                 path=self.request.path, reason="too many sessions",
                                 limit=auth.sessions.max_sessions)
                if socket:
                    raise HTTPError(429, "too many sessions")
                self.set_status(429)
                self.set_header("Retry-After", str(int(auth.sessions.page_seconds)))
                self.finish(TOO_MANY_PAGES)
                return False

            def _page_done(self):
                user = self.__dict__.pop("_building_for", None)
                if user is not None:
                    auth.sessions.page_built(user)

            def on_finish(self):
                self._page_done()
                super().on_finish()

            def on_connection_close(self):
                self._page_done()
                super().on_connection_close()

            def open(self, *args, **kwargs):
                found = auth.login_for_handler(self) if auth is not None else None
                if found is not None:
                    login, user = found
                    auth.sockets[self] = (login, user.name, user.fingerprint)
                    auth.sessions.socket_opened(user.name, self)
                return super().open(*args, **kwargs)

            def on_close(self):
                entry = auth.sockets.pop(self, None) if auth is not None else None
                if entry is not None:
                    auth.sessions.socket_closed(entry[1], self)
                return super().on_close()

        if socket:
            Guarded.set_default_headers = RequestHandler.set_default_headers
        else:
            del Guarded.open, Guarded.on_close
        if name == "ComponentResourceHandler":
            def parse_url_path(self, path):
                module = path.split("/", 1)[0]
                if module not in sys.modules:  # serve what is loaded; never import
                    raise HTTPError(404)
                return handler_class.parse_url_path(self, path)
            Guarded.parse_url_path = parse_url_path
        Guarded.__name__ = Guarded.__qualname__ = f"Guarded{name}"
        guarded.append(name)
        return Guarded

    class NotFound(RequestHandler):
        """No such route: 404 for a user, and 403 like every route for anyone else (no
        probing for which routes exist)."""

        def prepare(self):
            raise HTTPError(403 if auth is not None and auth.user_for_handler(self) is None
                            else 404)

    tornado_app.settings["default_handler_class"] = NotFound
    tornado_app.settings["default_handler_args"] = {}
    from bokeh.server.views.ico_handler import IcoHandler  # the favicon, from memory

    for rule in tornado_app.wildcard_router.rules:
        target = rule.target
        public = target is IcoHandler or getattr(target, "public", False) is True
        if isinstance(target, type) and issubclass(target, RequestHandler) and not public:
            rule.target = wrap(target)
    return guarded


# --- building and running -------------------------------------------------------------------

def warm_up(page) -> None:
    """Build ``page`` (the first registered: the overview), unseen, before serving: the cube
    is loaded and HoloViews and Bokeh have drawn once, so the first user after a start does
    not wait for that. Runs before logins are required and before any fork; its document is
    thrown away."""
    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    document = Document()
    with set_curdoc(document):
        viewable = pn.panel(page.create())
        root = viewable.get_root(document)
        viewable._cleanup(root)


def _access_handler(auth: Authenticator):
    """A Bokeh application handler that adds the requesting user's access to the session
    token (signed by the server, so the browser cannot change it)."""
    from bokeh.application.handlers.handler import Handler

    class AccessHandler(Handler):
        def modify_document(self, doc):
            pass

        def process_request(self, request) -> dict:
            return auth.access(request)

    return AccessHandler()


def build_server(config: ServeConfig, tiles: str | None = None):
    """The server for ``config``, not yet started."""
    import panel as pn
    from panel.io.application import build_applications
    from panel.io.server import get_server

    if config.auth is None and config.address not in LOOPBACK:
        raise UserError(f"--address {config.address}: serving beyond this machine needs "
                        "logins (--auth users.yaml); see docs/deployment.md")
    if config.auth is not None:
        secret = check_cookie_secret(config.cookie_secret)
        audit = AuditLog(config.audit_log)
        auth = Authenticator(config.auth, secret, audit, config.login_hours,
                             config.failures_per_user, config.failures_per_address,
                             config.sessions_file, config.failures_per_user_total,
                             config.max_sessions_per_user, config.session_token_seconds)
    else:
        secret = config.cookie_secret or os.urandom(32).hex()  # signs session ids only
        audit = AuditLog(config.audit_log) if config.audit_log else AuditLog(None)
        auth = None
        settings.configure(logins_required=None)
    set_audit_log(audit)
    if config.warm and config.pages:
        warm_up(next(iter(config.pages.values())))
    if auth is not None:
        settings.configure(logins_required=True)  # from now on a session without a login
        # sees nothing

    apps = build_applications({slug: page.create for slug, page in config.pages.items()},
                              title={slug: page.title for slug, page in config.pages.items()})
    if auth is not None:
        for app in apps.values():
            app.add(_access_handler(auth))
    origins = [f"localhost:{config.port}", f"127.0.0.1:{config.port}",
               *config.allow_websocket_origin]
    if any(o.strip() in ("*", "") or "*" in o for o in origins):
        raise UserError("--allow-websocket-origin: give each host[:port] explicitly, no '*'")
    pn.config.exception_handler = rejected_value
    kwargs = dict(
        port=config.port, address=config.address, websocket_origin=origins,
        index=str(config.index), start=False, show=False, session_history=0,
        sign_sessions=True, secret_key=derive_key(secret, "bokeh-session-ids").encode(),
        generate_session_ids=True,
        session_token_expiration=config.session_token_seconds,
        exclude_cookies=[COOKIE, "_xsrf"], exclude_headers=["Cookie"],
        xsrf_cookie_kwargs={"httponly": True, "samesite": "Strict"},
        use_xheaders=config.use_xheaders, num_procs=config.num_procs,
        http_server_kwargs=dict(
            idle_connection_timeout=HEADER_SECONDS, body_timeout=BODY_SECONDS,
            max_body_size=MAX_BODY_BYTES, max_header_size=MAX_HEADER_BYTES),
    )
    if config.prefix:
        kwargs["prefix"] = config.prefix
    if auth is not None:
        kwargs["auth_provider"] = auth_provider(auth)
        kwargs["cookie_secret"] = derive_key(secret, "tornado")
    raise_open_file_limit()
    without_tracebacks()
    server = get_server(apps, **kwargs)  # with num_procs > 1, returns in each child
    guard_routes(server._tornado, auth, content_security_policy(tiles))
    server.safetyviz_auth = auth
    ConnectionLimiter(config.max_connections_per_address).install(server._http)
    return server


def without_tracebacks() -> None:
    """Error replies to websocket messages name an incident id, never a traceback or a
    server path (those go to the log under the same id)."""
    from bokeh.server.connection import ServerConnection

    if getattr(ServerConnection.error, "safetyviz", False):
        return

    def error(self, message, text: str):
        incident = uuid.uuid4().hex[:12]
        log.error("incident %s: error handling a websocket message: %s", incident, text)
        reply = self.protocol.create("ERROR", message.header["msgid"],
                                     f"server error (incident {incident})")
        reply.content["traceback"] = None
        return reply

    error.safetyviz = True
    ServerConnection.error = error


REFUSALS = (ValueError, IndexError, KeyError, TypeError)  # what a value out of bounds raises


def rejected_value(exception: BaseException) -> None:
    """Panel's handler for an exception while applying a change sent by a browser: a value
    outside a widget's options or bounds (forged or not) was refused, and is recorded in the
    audit log with the session's user; anything else is logged as the error it is."""
    import panel as pn

    if not isinstance(exception, REFUSALS):
        log.error("error in a session callback", exc_info=exception)
        return

    user = None
    try:
        from .components.page import session_access
        user = session_access().user
    except Exception:  # no session or no access: record without a user
        pass
    path = None
    context = pn.state.curdoc.session_context if pn.state.curdoc else None
    if context is not None:
        path = getattr(context.request, "path", None)
    audit_log().write("rejected_value", user=user, path=path, error=type(exception).__name__,
                 detail=str(exception)[:300])
    log.warning("refused a value from the browser (%s): %s", user, str(exception)[:300])


def _die_with_parent() -> None:
    """A forked server process ends when the first one does (stopped by Ctrl-C or a
    supervisor's signal), instead of living on with the port."""
    import ctypes
    import signal

    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def serve(config: ServeConfig, tiles: str | None = None) -> None:
    """Build the server and run it until interrupted."""
    from tornado.ioloop import PeriodicCallback

    server = build_server(config, tiles)  # with num_procs > 1, returns in each child
    if config.num_procs != 1:
        _die_with_parent()
    server.start()
    auth = server.safetyviz_auth
    if auth is not None:
        PeriodicCallback(auth.sweep, SWEEP_SECONDS * 1000).start()
        PeriodicCallback(auth.logins.purge, 600_000).start()
    where = f"http://{config.address}:{server.port}{config.prefix}/"
    login = " (login required)" if config.auth else " (no login: this machine only)"
    print(f"serving {', '.join(config.pages)} at {where}{login}", flush=True)
    # A supervisor's SIGTERM stops the loop like Ctrl-C, so that what the caller set up
    # (the index's temporary folder) is cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: server.io_loop.add_callback_from_signal(
        server.io_loop.stop))
    try:
        server.io_loop.start()
    except KeyboardInterrupt:
        pass

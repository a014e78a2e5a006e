"""The guard in front of every route of the server: without a login a page redirects to the
login and anything else gets 403, before the route reads a file or imports a module; session
ids never come from the URL; bodies only on the login; per-user session limits; security
headers; open websockets registered with their login so that an ended login closes them.
While the shared state is down, pages and sockets not yet open get 503 (a login cannot be
checked); open ones go on.
"""

from __future__ import annotations

import sys
from urllib.parse import quote

from safetyviz.serve.auth import (
    SECURITY_HEADERS,
    UNAVAILABLE,
    Authenticator,
    SecureCookieMixin,
    unavailable,
)
from safetyviz.serve.shared import StateUnavailable

PAGE_HANDLERS = {"DocHandler", "RootHandler"}
TOO_MANY_PAGES = ("<!DOCTYPE html><html lang='zh-CN'><meta charset='utf-8'><title>429</title>"
                  "<p>打开的页面过多，请关闭一些页面后再试。<br>Too many pages open: close some "
                  "and try again.</p></html>")
UNAVAILABLE_PAGE = ("<!DOCTYPE html><html lang='zh-CN'><meta charset='utf-8'><title>503</title>"
                    f"<p>{UNAVAILABLE}</p></html>")


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

        class Guarded(SecureCookieMixin, handler_class):
            def set_default_headers(self):
                super().set_default_headers()
                for header, value in SECURITY_HEADERS.items():
                    self.set_header(header, value)
                if page:
                    self.set_header("Cache-Control", "no-store")
                    self.set_header("Content-Security-Policy", csp)

            async def prepare(self):
                try:
                    await self._guard()
                except StateUnavailable as exc:  # logins cannot be checked: none is taken
                    assert auth is not None
                    auth.log_unavailable(exc)
                    if socket:
                        raise HTTPError(503, "shared state unavailable") from None
                    unavailable(self, UNAVAILABLE_PAGE)

            async def _guard(self):
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
                the per-user limit."""
                assert auth is not None  # a user is only found when there are logins
                if socket:
                    if auth.sessions.may_connect(user.name):
                        return True
                elif name != "DocHandler" or self.request.method != "GET":
                    return True
                elif auth.sessions.page(user.name):
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

            def open(self, *args, **kwargs):
                found = auth.login_for_handler(self) if auth is not None else None
                if found is not None:
                    login, user = found
                    auth.sockets[self] = (login, user.name, user.fingerprint)
                    auth.sessions.socket_opened(user.name, self)
                return super().open(*args, **kwargs)

            async def _in_turn(self, step, *args):
                """``step`` in the turn of the socket's user (if logged in)."""
                entry = auth.sockets.get(self) if auth is not None else None
                if entry is None:
                    return await step(*args)
                async with auth.sessions.turn(entry[1]):
                    return await step(*args)

            async def _async_open(self, token):
                # the page's session is built here (a page request is answered from a kept
                # session)
                return await self._in_turn(super()._async_open, token)

            async def on_message(self, fragment):
                return await self._in_turn(super().on_message, fragment)

            def on_close(self):
                entry = auth.sockets.pop(self, None) if auth is not None else None
                if entry is not None:
                    auth.sessions.socket_closed(entry[1], self)
                return super().on_close()

        if socket:
            Guarded.set_default_headers = RequestHandler.set_default_headers
        else:
            del (Guarded.open, Guarded._in_turn, Guarded._async_open, Guarded.on_message,
                 Guarded.on_close)
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
            try:
                anonymous = auth is not None and auth.user_for_handler(self) is None
            except StateUnavailable:
                raise HTTPError(503) from None
            raise HTTPError(403 if anonymous else 404)

    tornado_app.settings["default_handler_class"] = NotFound
    tornado_app.settings["default_handler_args"] = {}
    from bokeh.server.views.ico_handler import IcoHandler  # the favicon, from memory

    for rule in tornado_app.wildcard_router.rules:
        target = rule.target
        public = target is IcoHandler or getattr(target, "public", False) is True
        if isinstance(target, type) and issubclass(target, RequestHandler) and not public:
            rule.target = wrap(target)
    return guarded



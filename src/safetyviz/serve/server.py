"""Serving the dashboards safely: the Panel/Bokeh server built in this process from the page
registry, with its logins (:mod:`auth`), the guard in front of every route (:mod:`guard`),
limits on connections (:mod:`limits`), and the hardened settings (signed session ids, short
session tokens, no session-info route, origins given explicitly, request timeouts and sizes,
no tracebacks to the client, a strong cookie secret).

Who may see which county is decided per session from the user found by :mod:`auth` and
carried in the signed session token (:mod:`access`, :func:`components.page.session_access`).
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import signal
import socket
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from safetyviz.core import settings
from safetyviz.core.errors import UserError
from safetyviz.security.audit import AuditLog, audit_log, set_audit_log
from safetyviz.serve.auth import (
    COOKIE,
    Authenticator,
    access_handler,
    auth_provider,
    check_cookie_secret,
    content_security_policy,
    derive_key,
)
from safetyviz.serve.guard import guard_routes
from safetyviz.serve.limits import ConnectionLimiter, raise_open_file_limit
from safetyviz.serve.shared import open_state

log = logging.getLogger("safetyviz.serve.server")

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
LANDING = "home"  # the registered page served at / as well (else: the index of the pages)


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
    shared_state: str | None = None  # redis://…: logins, throttles, limits shared by hosts
    prefix: str = ""
    num_procs: int = 1  # server processes sharing the port (sessions are spread over them)
    # Before serving, the pages opened first are drawn for everyone and then for each set of
    # counties in the users file, most users first, until this many seconds have passed (0:
    # none), so that the first users of each county do not wait for their cube's drawings.
    warm_seconds: float = 60.0

    def __post_init__(self) -> None:
        for name, least in NUMBERS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or value < least or (isinstance(least, int) and not isinstance(value, int)):
                kind = "a whole number" if isinstance(least, int) else "a number"
                raise SettingError(name, f"{value!r} is not {kind} ≥ {least:g}")


class SettingError(UserError):
    """A serve setting's value refused: the caller says where it came from."""

    def __init__(self, setting: str, problem: str):
        super().__init__(f"serve setting {setting}: {problem}")
        self.setting, self.problem = setting, problem


# the numeric settings and their least values (an int: a whole number)
NUMBERS = {"port": 0, "session_token_seconds": 1, "login_hours": 0.01,
           "failures_per_user": 1, "failures_per_user_total": 1, "failures_per_address": 1,
           "max_sessions_per_user": 1, "max_connections_per_address": 1, "num_procs": 0,
           "warm_seconds": 0.0}


CONFIG_KEYS = {"port", "address", "allow_websocket_origin", "auth", "cookie_secret_file",
               "audit_log", "use_xheaders", "session_token_seconds", "login_hours",
               "failures_per_user", "failures_per_user_total", "failures_per_address",
               "max_sessions_per_user", "max_connections_per_address", "sessions_file",
               "prefix", "num_procs", "shared_state", "warm_seconds"}

# Every connection, before any handler runs: the request line and headers within
# HEADER_SECONDS (also the longest a kept-alive connection idles), a body within
# BODY_SECONDS and of MAX_BODY_BYTES at most (the login form is the only body any route
# reads: a few hundred bytes).
HEADER_SECONDS = 10
BODY_SECONDS = 10
MAX_BODY_BYTES = 16 * 1024
MAX_HEADER_BYTES = 32 * 1024
SWEEP_SECONDS = 2  # open websockets of ended logins are closed within this


# --- building and running -------------------------------------------------------------------

# The pages opened first (the landing page, the overview, the county profile): warmed.
WARMED_PAGES = 3


def warm_up(page) -> None:
    """Build ``page``, unseen, before serving (its deferred plots too: there is no browser to
    wait for): the cube is loaded and the page's plots drawn, so the first user after a start
    does not wait for that. Runs before logins are required and before any fork; its document
    is thrown away."""
    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc
    from panel.viewable import Viewable

    document = Document()
    with set_curdoc(document):
        # a page is a component (never a template), so Panel makes it a Viewable
        viewable = cast(Viewable, pn.panel(page.create()))
        root = viewable.get_root(document)
        viewable._cleanup(root)


def scopes_to_warm(users_file: Path | None) -> list:
    """Whose view of the pages to warm: everything first, then each set of counties of the
    users file, the most users first (a county's cube is a subset with drawings of its own)."""
    from collections import Counter

    from safetyviz.security.access import LOCAL, Access
    from safetyviz.serve.auth import scope_of, served_units
    from safetyviz.serve.users import load_users

    if users_file is None:
        return [LOCAL]
    units = served_units()
    scopes = (scope_of(user, units) for user in load_users(users_file).values())
    counts = Counter(tuple(sorted(scope)) for scope in scopes if scope is not None)
    return [LOCAL, *(Access(None, "county", counties)
                     for counties, _ in counts.most_common() if counties)]


def warm_pages(pages: list, scopes: list, seconds: float) -> int:
    """Warm ``pages`` for each of ``scopes`` in turn until ``seconds`` have passed (a scope
    begun is finished, but a page's reading ahead stops at the deadline); how many scopes
    were warmed. A page that cannot be built for a scope
    (a county no longer in the data) is left for its first session, which says why."""
    import time

    from safetyviz.web.components.page import built_as

    deadline = time.monotonic() + seconds
    warmed = 0
    for access in scopes:
        if seconds <= 0 or time.monotonic() >= deadline:
            break
        with built_as(access):
            for page in pages:
                try:
                    warm_up(page)
                    page.read_ahead(deadline)
                except Exception:  # warming only saves the first session time
                    log.warning("warming %s for %s failed", page.slug,
                                ",".join(access.counties) or "all", exc_info=True)
        warmed += 1
    return warmed


YOUNG_OBJECTS = 20_000  # allocations between two collections of the youngest objects


def settle_memory() -> None:
    """Collect once, then leave everything alive now — modules, the cube and caches the
    warm-up loaded — out of every later garbage collection. Panel collects after sessions
    close, and a full collection over the ~500,000 objects of a warmed server stops the
    event loop ~230 ms (6 ms after this). Done before any fork, so the processes share these
    pages of memory instead of each copying them when the collector touches them.

    Then the young objects are collected every ``YOUNG_OBJECTS`` allocations instead of
    Python's 700: most of what a session open allocates is freed at once by reference
    counts, and collecting the rest every 700 allocations cost an overview open 8.7–9.1 ms
    of collections, 5.0–5.7 ms at 20,000 (40 opens, two runs each, alternating; Panel's
    full collections after sessions close included; an open session still holds 0.8 MB)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, older, oldest)


def check_listenable(address: str, port: int) -> None:
    """Refuse an address and port the server could not listen on (another server on the
    port, an address not of this machine) now, not after a minute of warming up."""
    if port == 0:
        return  # any free port
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind((address, port))
        except OSError as exc:
            why = "; is another server on it?" if exc.errno == errno.EADDRINUSE else ""
            raise UserError(f"--address {address} --port {port}: cannot listen there "
                            f"({exc.strerror}){why}") from None


def build_server(config: ServeConfig, tiles: str | None = None):
    """The server for ``config``, not yet started."""
    import panel as pn
    from panel.io.application import build_applications
    from panel.io.server import get_server

    if config.auth is None and config.address not in LOOPBACK:
        raise UserError(f"--address {config.address}: serving beyond this machine needs "
                        "logins (--auth users.yaml); see docs/deployment.md")
    # refused before anything is read or warmed: a mistyped flag costs no minute of warm-up
    check_listenable(config.address, config.port)
    origins = [f"localhost:{config.port}", f"127.0.0.1:{config.port}",
               *config.allow_websocket_origin]
    if any(o.strip() in ("*", "") or "*" in o for o in origins):
        raise UserError("--allow-websocket-origin: give each host[:port] explicitly, no '*'")
    if config.auth is not None:
        secret = check_cookie_secret(config.cookie_secret)
        audit = AuditLog(config.audit_log)
        state = open_state(config.shared_state or settings.current().shared_state,
                           config.sessions_file, config.login_hours)
        auth = Authenticator(config.auth, secret, audit, config.login_hours,
                             config.failures_per_user, config.failures_per_address,
                             state, config.failures_per_user_total,
                             config.max_sessions_per_user, config.session_token_seconds)
    else:
        secret = config.cookie_secret or os.urandom(32).hex()  # signs session ids only
        audit = AuditLog(config.audit_log) if config.audit_log else AuditLog(None)
        auth = None
        settings.configure(logins_required=None)
    set_audit_log(audit)
    if config.pages:
        scopes = scopes_to_warm(config.auth)
        warmed = warm_pages(list(config.pages.values())[:WARMED_PAGES], scopes,
                            config.warm_seconds)
        log.info("warmed the first pages for %d of %d sets of counties", warmed, len(scopes))
    settle_memory()
    if auth is not None:
        settings.configure(logins_required=True)  # from now on a session without a login
        # sees nothing

    routes = {slug: page for slug, page in config.pages.items()}
    if LANDING in routes:  # the landing page is also the address itself
        routes["/"] = routes[LANDING]
    apps = build_applications({slug: page.create for slug, page in routes.items()},
                              title={slug: page.title for slug, page in routes.items()})
    if auth is not None:
        for app in apps.values():
            app.add(access_handler(auth))
    pn.config.exception_handler = rejected_value
    # A page request answered from a session kept per page (its HTML holds no data: the
    # document comes over the websocket); the session is built once, by the process the
    # websocket reaches — with num_procs > 1 that is often not the page request's, which
    # built it in vain (16 overview opens: 311 → 195 ms of CPU each over both processes)
    pn.config.reuse_sessions = True
    from safetyviz.serve import kept_pages

    kept_pages.install()  # (what is the same for each page request, done once)
    styles_addressed_as_served()
    kwargs: dict[str, Any] = dict(
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
    # with num_procs > 1, returns in each child; Panel serves Bokeh Applications as they
    # are, but its annotation of get_server leaves them out
    server = get_server(apps, **kwargs)  # type: ignore[arg-type]
    icon_beside_the_pages(server._tornado)
    guard_routes(server._tornado, auth, content_security_policy(tiles))
    server.safetyviz_auth = auth  # type: ignore[attr-defined]  # ours, read by serve()
    ConnectionLimiter(config.max_connections_per_address).install(server._http)
    return server


def icon_beside_the_pages(tornado_app) -> None:
    """The favicon also where Panel's pages link it, beside them (``./favicon.ico``): under
    the server's prefix, where Bokeh serves it at the root only (a proxy passing on the
    prefix's paths alone never reaches that)."""
    from bokeh.server.views.ico_handler import IcoHandler

    if tornado_app.prefix:
        tornado_app.wildcard_router.add_rules(
            [(f"{tornado_app.prefix}/favicon.ico", IcoHandler, {"app": tornado_app})])


def styles_addressed_as_served() -> None:
    """Keep the address of Panel's styles a page was served with for its whole session.

    Once the browser reports its page's address, Panel's ``Location`` works out again how
    deep the page lies below the server's root — from the path with the server's prefix in
    it, as it looks for the prefix on Bokeh's ``Server``, which has none (its Tornado
    application has it) — and re-points the styles of every model made after: at
    ``../static/…`` for ``/prefix/page``, at the absolute ``/static/…`` with no prefix for
    ``/page``. Behind a prefix the styles of a spinner or a table drawn later were not found
    (404). Every page here is one level below the prefix and never changes its address: the
    addresses the page was served with are right. Idempotent."""
    from panel.io.location import Location

    panels = Location._sync_pathname
    if getattr(panels, "safetyviz", False):
        return

    def _sync_pathname(self) -> None:
        return None

    _sync_pathname._dinfo = panels._dinfo  # type: ignore[attr-defined]  # (param's: watched)
    _sync_pathname.safetyviz = True  # type: ignore[attr-defined]  # marks Panel's as replaced
    Location._sync_pathname = _sync_pathname  # type: ignore[method-assign,assignment]  # Panel


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

    error.safetyviz = True  # type: ignore[attr-defined]  # marks Bokeh's method as patched
    ServerConnection.error = error  # type: ignore[method-assign]  # patching Bokeh


REFUSALS = (ValueError, IndexError, KeyError, TypeError)  # what a value out of bounds raises


def rejected_value(exception: BaseException) -> None:
    """Panel's handler for an exception while applying a change sent by a browser: a value
    outside a widget's options or bounds (forged or not) was refused, and is recorded in the
    audit log with the session's user; anything else is logged as the error it is."""
    if not isinstance(exception, REFUSALS):
        log.error("error in a session callback", exc_info=exception)
        return

    from safetyviz.web.components.page import session_access, session_page

    user = None
    try:
        user = session_access().user
    except Exception:  # no session or no access: record without a user
        pass
    audit_log().write("rejected_value", user=user, path=session_page(),
                      error=type(exception).__name__, detail=str(exception)[:300])
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
        PeriodicCallback(auth.purge, 600_000).start()
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

"""How much one client may ask of the server: failed logins (:class:`LoginThrottle`), pages
and websockets per user (:class:`SessionLimiter`), connections per client address and what
happens when the process runs out of file descriptors (:class:`ConnectionLimiter`). Nothing
here knows about pages or data; :mod:`server` puts these in front of every route.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import secrets
import socket
import time
import weakref
from collections import defaultdict, deque
from collections.abc import AsyncIterator

from safetyviz.serve.shared import SharedState, StateUnavailable

log = logging.getLogger("safetyviz.serve.server")


class Throttle:
    """At most ``limit`` failures per key within ``window`` seconds, counted in the shared
    state (so across every server process: not N × the limit); then the key waits until
    the oldest failure leaves the window. An attempt counts as a failure from the moment it
    is made (:meth:`attempt`) until it succeeds, so attempts made at once cannot slip past
    the limit while their passwords are being checked."""

    def __init__(self, state: SharedState, name: str, limit: int, window: float = 900.0):
        self.state, self.name, self.limit, self.window = state, name, limit, window

    def _key(self, key: str) -> str:
        return f"{self.name}\x00{key}"

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        return self.state.window_wait(self._key(key), self.limit, self.window)

    def attempt(self, key: str) -> float:
        """Count an attempt for ``key`` as a failure, unless it must wait: then the seconds
        to wait, and nothing counted."""
        return self.state.window_attempt(self._key(key), self.limit, self.window)

    def forgive(self, key: str) -> None:
        """Take back the last attempt of ``key`` (it succeeded)."""
        self.state.window_forgive(self._key(key))

    def clear(self, key: str) -> None:
        self.state.window_clear(self._key(key))


class LoginThrottle:
    """Failed logins held back so that an attacker cannot lock a user out:

    - per (user, address): ``per_pair`` failures per 15 minutes, then that address waits
      for that name — the owner elsewhere does not;
    - per user, from addresses the user never logged in from: ``per_user`` failures
      (far more than a person makes) — a user's known addresses (successful logins of the
      last 90 days) are never held back by it;
    - per address, for names not known there: ``per_address`` failures (password spraying
      over many names), again not for a user's known address.
    """

    def __init__(self, state: SharedState, per_pair: int = 5, per_user: int = 100,
                 per_address: int = 20, window: float = 900.0):
        self.known = state.is_known_address
        self.pair = Throttle(state, "pair", per_pair, window)
        self.user = Throttle(state, "user", per_user, window)
        self.address = Throttle(state, "address", per_address, window)

    def _checks(self, user: str, ip: str) -> list[tuple[Throttle, str]]:
        checks = [(self.pair, f"{user}\x00{ip}")]
        if not self.known(user, ip):
            checks += [(self.user, user), (self.address, ip)]
        return checks

    def attempt(self, user: str, ip: str) -> float:
        """Count an attempt (a failure until :meth:`succeeded`); or the seconds to wait,
        nothing counted."""
        taken: list[tuple[Throttle, str]] = []
        for throttle, key in self._checks(user, ip):
            wait = throttle.attempt(key)
            if wait > 0:
                for earlier, earlier_key in taken:
                    earlier.forgive(earlier_key)
                return wait
            taken.append((throttle, key))
        return 0.0

    def succeeded(self, user: str, ip: str) -> None:
        """The attempt was right: the pair's failures are forgotten, the others' attempt
        taken back. (Call before the login makes the address known.)"""
        for throttle, key in self._checks(user, ip):
            if throttle is self.pair:
                throttle.clear(key)
            else:
                throttle.forgive(key)


PROCESS = secrets.token_hex(6)  # names this process's leases (renewed by it, lapse with it)
TURN_SECONDS = 10  # the longest a user's work waits for their previous piece
SOCKET_LEASE_SECONDS = 30  # a websocket of a process gone stops counting after this


class SessionLimiter:
    """Pages and websockets per user, counted in the shared state across every process: at
    most ``max_sessions`` at once (websockets open, and pages opened within the last
    ``page_seconds`` that have not connected yet); and one piece of a user's work at a time
    in a process (a session built, a message of theirs handled) — a user opening many pages
    at once waits for their own, never holds everyone else's. Websockets are leased for
    :data:`SOCKET_LEASE_SECONDS` and renewed by :meth:`renew` while open, so those of a
    process that died stop counting."""

    def __init__(self, state: SharedState, max_sessions: int = 20, page_seconds: float = 60):
        self.state, self.max_sessions, self.page_seconds = state, max_sessions, page_seconds
        self.sockets: dict[str, weakref.WeakKeyDictionary] = defaultdict(
            weakref.WeakKeyDictionary)  # user → open handler → its lease
        # user → pages leased here not yet connected (the newest few: older ones lapsed)
        self.pages: dict[str, deque] = defaultdict(lambda: deque(maxlen=max_sessions))
        self._turns: dict[str, asyncio.Semaphore] = {}  # user → their turn in this process

    def may_connect(self, user: str) -> bool:
        """A websocket (most likely of a page already counted) within the limit."""
        return self.state.leases("socket", user) < self.max_sessions

    def page(self, user: str) -> bool:
        """A page of ``user`` counted until its websocket opens; False (and nothing counted)
        when the user has too many sessions already."""
        open_now = self.state.leases("socket", user) + self.state.leases("page", user)
        if open_now >= self.max_sessions:
            return False
        page = secrets.token_hex(8)
        self.state.lease("page", user, [page], self.page_seconds)
        self.pages[user].append(page)
        return True

    @contextlib.asynccontextmanager
    async def turn(self, user: str) -> AsyncIterator[None]:
        """Within the block, the only work of ``user`` in this process: a session built
        (when its websocket opens) or a message of theirs handled (the plots drawn after a
        page, a change) — each holds the event loop. Others of theirs wait here, everyone
        else's go between. After :data:`TURN_SECONDS` of waiting (a turn held that long: a
        client not reading its replies) the work goes ahead anyway."""
        turns = self._turns.setdefault(user, asyncio.Semaphore(1))
        held: bool
        try:  # (free: taken at once, without wait_for's task: most messages)
            held = await (turns.acquire() if not turns.locked()
                          else asyncio.wait_for(turns.acquire(), TURN_SECONDS))
        except TimeoutError:
            held = False
        try:
            yield
        finally:
            if held:
                turns.release()

    def socket_opened(self, user: str, handler) -> None:
        """Count ``handler`` instead of the page it most likely belongs to."""
        lease = f"{PROCESS}:{secrets.token_hex(8)}"
        self.sockets[user][handler] = lease
        self._quietly(self.state.lease, "socket", user, [lease], SOCKET_LEASE_SECONDS)
        if self.pages[user]:
            self._quietly(self.state.release, "page", user, self.pages[user].popleft())

    def socket_closed(self, user: str, handler) -> None:
        lease = self.sockets[user].pop(handler, None)
        if lease is not None:
            self._quietly(self.state.release, "socket", user, lease)

    def renew(self) -> None:
        """Renew the leases of this process's open websockets (every few seconds)."""
        for user, sockets in list(self.sockets.items()):
            if sockets:
                self.state.lease("socket", user, list(sockets.values()),
                                 SOCKET_LEASE_SECONDS)
            else:
                del self.sockets[user]

    @staticmethod
    def _quietly(step, *args) -> None:
        """A lease taken or let go while the store is down: an open page goes on (it lapses
        or is renewed when the store is back)."""
        try:
            step(*args)
        except StateUnavailable as exc:
            log.warning("shared state unavailable, a lease not recorded: %s", exc)


OUT_OF_FILES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class ConnectionLimiter:
    """At most ``per_address`` connections open from one client address; when the process
    runs out of file descriptors, accepting pauses a moment (logged once per interval)
    instead of failing in a tight loop."""

    def __init__(self, per_address: int = 200, pause: float = 0.5,
                 log_every: float = 60.0, clock=time.monotonic):
        self.per_address, self.pause, self.log_every, self.clock = (
            per_address, pause, log_every, clock)
        self.streams: dict[str, weakref.WeakSet] = defaultdict(weakref.WeakSet)
        self.refused: dict[str, int] = defaultdict(int)
        self._logged = -float("inf")

    def admit(self, address: str) -> bool:
        streams = self.streams.get(address)
        if streams is None:
            return True
        for stream in list(streams):
            if stream.closed():
                streams.discard(stream)
        if not streams:
            del self.streams[address]
            return True
        return len(streams) < self.per_address

    def opened(self, address: str, stream) -> None:
        self.streams[address].add(stream)

    def _log(self, message: str, *args) -> None:
        now = self.clock()
        if now - self._logged >= self.log_every:
            self._logged = now
            log.warning(message, *args)

    def install(self, http_server) -> None:
        """Put the limits in front of a started tornado ``HTTPServer``: its accept handlers
        are replaced by ones that refuse an address over its limit at once and pause on
        running out of descriptors."""
        from tornado.ioloop import IOLoop

        io_loop = IOLoop.current()
        original_handle = http_server.handle_stream

        def handle_stream(stream, address):
            self.opened(_host(address), stream)
            return original_handle(stream, address)

        http_server.handle_stream = handle_stream
        for fd, remove in list(http_server._handlers.items()):
            remove()
            sock = http_server._sockets[fd]
            self._accept_on(io_loop, sock, http_server._handle_connection)
            http_server._handlers[fd] = lambda sock=sock: io_loop.remove_handler(sock)

    def _accept_on(self, io_loop, sock: socket.socket, handle) -> None:
        def on_readable(fd, events) -> None:
            for _ in range(128):  # tornado's backlog heuristic
                try:
                    connection, address = sock.accept()
                except BlockingIOError:
                    return
                except ConnectionAbortedError:
                    continue
                except OSError as exc:
                    if exc.errno not in OUT_OF_FILES:
                        raise
                    self._log("out of file descriptors (%s): not accepting for %.1f s",
                              exc.strerror, self.pause)
                    io_loop.remove_handler(sock)
                    io_loop.call_later(self.pause, io_loop.add_handler, sock, on_readable,
                                       io_loop.READ)
                    return
                host = _host(address)
                if not self.admit(host):
                    self.refused[host] += 1
                    self._log("refusing connections from %s beyond %d open at once", host,
                              self.per_address)
                    connection.close()
                    continue
                handle(connection, address)

        io_loop.add_handler(sock, on_readable, io_loop.READ)


def _host(address) -> str:
    return address[0] if isinstance(address, tuple) else str(address)


def raise_open_file_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft

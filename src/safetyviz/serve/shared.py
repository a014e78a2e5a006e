"""The state every server process shares, on one host or many: logins (server-side; the
login cookie only names one) and the addresses users logged in from, the failure windows of
the login throttles, and the leases of open pages and websockets behind the per-user limit.

Two stores with the same methods: :class:`SqliteState`, a file in the data dir (the default:
shared by the processes of one host, nothing else to run) and :class:`RedisState` (several
hosts; ``--shared-state redis://…``). A store that cannot be reached raises
:class:`StateUnavailable`; the server then refuses logins with a clear message and leaves
open pages alone (see :mod:`auth`).

A login ended here (logout, new password, removed user) ends on every process: each one
asks :meth:`SharedState.live` every few seconds about its open websockets.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("safetyviz.serve.server")

KNOWN_ADDRESS_DAYS = 90  # a successful login's address is trusted this long
RETRY_SECONDS = 1.0  # after a failure the store is not asked again for this long


class StateUnavailable(RuntimeError):
    """The shared store cannot be reached (or answered with an error)."""


@dataclass(frozen=True)
class Login:
    id: str
    user: str
    fingerprint: str
    expires: float


class SharedState(ABC):
    """Logins, failure windows and leases shared by every server process. Thread-safe.

    ``hours``: how long a login lives; ``clock``: seconds since the epoch (the same on
    every host: keep them synchronised, as any cluster must).
    """

    def __init__(self, hours: float = 8, clock=time.time):
        self.seconds, self.clock = hours * 3600, clock

    @staticmethod
    def new_login_id() -> str:
        return secrets.token_urlsafe(32)  # 256 random bits

    # logins
    @abstractmethod
    def create(self, user: str, fingerprint: str, ip: str | None) -> str:
        """A new login of ``user`` (remembering ``ip`` as one of theirs); returns its id."""

    @abstractmethod
    def get(self, login_id: str) -> Login | None:
        """The login, if it exists and has not expired."""

    @abstractmethod
    def live(self, ids: set[str]) -> set[str]:
        """Those of ``ids`` that are still logins."""

    @abstractmethod
    def end(self, login_id: str) -> None: ...

    @abstractmethod
    def end_user(self, user: str, keep_fingerprint: str | None = None) -> int:
        """End every login of ``user`` (but those made with the password whose fingerprint
        is ``keep_fingerprint``); returns how many."""

    @abstractmethod
    def is_known_address(self, user: str, ip: str) -> bool:
        """Whether ``user`` logged in successfully from ``ip`` within the last 90 days."""

    @abstractmethod
    def count(self, user: str | None = None) -> int:
        """Logins alive (of ``user``)."""

    @abstractmethod
    def purge(self) -> None:
        """Forget what has expired (the stores also do it as they go)."""

    # failure windows of the throttles
    @abstractmethod
    def window_attempt(self, key: str, limit: int, window: float) -> float:
        """Count a failure for ``key`` now, unless ``limit`` failures lie within the last
        ``window`` seconds: then the seconds until the oldest leaves it, nothing counted."""

    @abstractmethod
    def window_wait(self, key: str, limit: int, window: float) -> float:
        """Seconds until ``key`` may try again (0: now)."""

    @abstractmethod
    def window_forgive(self, key: str) -> None:
        """Take back the newest failure of ``key``."""

    @abstractmethod
    def window_clear(self, key: str) -> None: ...

    # leases: open pages and websockets, counted per user across processes
    @abstractmethod
    def lease(self, kind: str, user: str, members: list[str], seconds: float) -> None:
        """Hold (or renew) ``members`` of ``user``'s ``kind`` for ``seconds``."""

    @abstractmethod
    def release(self, kind: str, user: str, member: str) -> None: ...

    @abstractmethod
    def leases(self, kind: str, user: str) -> int:
        """How many of ``user``'s ``kind`` are held."""

    @abstractmethod
    def close(self) -> None:
        """Let go of connections (the store itself keeps everything)."""


# --- one host: SQLite -----------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS logins (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, fingerprint TEXT NOT NULL,
    ip TEXT, created REAL NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS logins_user ON logins (user);
CREATE TABLE IF NOT EXISTS known_addresses (
    user TEXT NOT NULL, ip TEXT NOT NULL, last REAL NOT NULL, PRIMARY KEY (user, ip));
CREATE TABLE IF NOT EXISTS failures (key TEXT NOT NULL, at REAL NOT NULL,
                                     expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS failures_key ON failures (key, at);
CREATE TABLE IF NOT EXISTS leases (kind TEXT NOT NULL, user TEXT NOT NULL,
    member TEXT NOT NULL, expires REAL NOT NULL, PRIMARY KEY (kind, user, member));
"""


class SqliteState(SharedState):
    """The shared state in an SQLite file (WAL: safe across the processes of one host; not
    on a network filesystem — use :class:`RedisState` for several hosts); ``path=None``
    keeps it in memory, for one process."""

    def __init__(self, path: Path | None, hours: float = 8, clock=time.time):
        super().__init__(hours, clock)
        self.path = path
        self._lock = threading.Lock()
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._connect()

    def __repr__(self) -> str:
        return f"SqliteState({str(self.path) if self.path else 'memory'})"

    def _connect(self) -> None:
        self._pid = os.getpid()
        self._db = sqlite3.connect(":memory:" if self.path is None else self.path, timeout=10,
                                   check_same_thread=False,
                                   isolation_level=None)  # autocommit: one statement each
        if self.path is not None:
            Path(self.path).chmod(0o600)  # login ids are as good as passwords while they live
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def _check_process(self) -> None:
        if self._pid != os.getpid() and self.path is not None:
            self._connect()  # a forked server process: a connection of its own

    def _run(self, sql: str, *args) -> list[tuple]:
        with self._lock:
            self._check_process()
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:  # locked past its timeout, disk gone
                raise StateUnavailable(f"{self.path}: {exc}") from exc

    def _transaction(self, steps) -> object:
        """``steps(execute)`` in one write transaction (other processes wait for it)."""
        with self._lock:
            self._check_process()
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    result = steps(lambda sql, *args: self._db.execute(sql, args).fetchall())
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                return result
            except sqlite3.OperationalError as exc:
                raise StateUnavailable(f"{self.path}: {exc}") from exc

    def create(self, user: str, fingerprint: str, ip: str | None) -> str:
        login_id, now = self.new_login_id(), self.clock()
        self._run("INSERT INTO logins VALUES (?, ?, ?, ?, ?, ?)", login_id, user, fingerprint,
                  ip, now, now + self.seconds)
        if ip:
            self._run("INSERT INTO known_addresses VALUES (?, ?, ?) ON CONFLICT (user, ip) "
                      "DO UPDATE SET last = excluded.last", user, ip, now)
        return login_id

    def get(self, login_id: str) -> Login | None:
        rows = self._run("SELECT id, user, fingerprint, expires FROM logins WHERE id = ? "
                         "AND expires > ?", login_id, self.clock())
        return Login(*rows[0]) if rows else None

    def live(self, ids: set[str]) -> set[str]:
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {row[0] for row in self._run(
            f"SELECT id FROM logins WHERE id IN ({marks}) AND expires > ?",  # noqa: S608
            *ids, self.clock())}

    def end(self, login_id: str) -> None:
        self._run("DELETE FROM logins WHERE id = ?", login_id)

    def end_user(self, user: str, keep_fingerprint: str | None = None) -> int:
        return len(self._run("DELETE FROM logins WHERE user = ? AND fingerprint IS NOT ? "
                             "RETURNING id", user, keep_fingerprint))

    def is_known_address(self, user: str, ip: str) -> bool:
        since = self.clock() - KNOWN_ADDRESS_DAYS * 86400
        return bool(self._run("SELECT 1 FROM known_addresses WHERE user = ? AND ip = ? AND "
                              "last > ?", user, ip, since))

    def count(self, user: str | None = None) -> int:
        now = self.clock()
        if user is None:
            return self._run("SELECT COUNT(*) FROM logins WHERE expires > ?", now)[0][0]
        return self._run("SELECT COUNT(*) FROM logins WHERE user = ? AND expires > ?", user,
                         now)[0][0]

    def purge(self) -> None:
        now = self.clock()
        self._run("DELETE FROM logins WHERE expires <= ?", now)
        self._run("DELETE FROM known_addresses WHERE last <= ?",
                  now - KNOWN_ADDRESS_DAYS * 86400)
        self._run("DELETE FROM failures WHERE expires <= ?", now)
        self._run("DELETE FROM leases WHERE expires <= ?", now)

    def window_attempt(self, key: str, limit: int, window: float) -> float:
        def steps(execute):
            now = self.clock()
            execute("DELETE FROM failures WHERE key = ? AND at <= ?", key, now - window)
            count, oldest = execute("SELECT COUNT(*), MIN(at) FROM failures WHERE key = ?",
                                    key)[0]
            if count >= limit:
                return max(0.0, oldest + window - now)
            execute("INSERT INTO failures VALUES (?, ?, ?)", key, now, now + window)
            return 0.0
        return float(self._transaction(steps))  # type: ignore[arg-type]

    def window_wait(self, key: str, limit: int, window: float) -> float:
        now = self.clock()
        count, oldest = self._run("SELECT COUNT(*), MIN(at) FROM failures WHERE key = ? AND "
                                  "at > ?", key, now - window)[0]
        return max(0.0, oldest + window - now) if count >= limit else 0.0

    def window_forgive(self, key: str) -> None:
        self._run("DELETE FROM failures WHERE rowid = (SELECT rowid FROM failures WHERE "
                  "key = ? ORDER BY at DESC LIMIT 1)", key)

    def window_clear(self, key: str) -> None:
        self._run("DELETE FROM failures WHERE key = ?", key)

    def lease(self, kind: str, user: str, members: list[str], seconds: float) -> None:
        if not members:
            return
        expires = self.clock() + seconds

        def steps(execute):
            for member in members:
                execute("INSERT INTO leases VALUES (?, ?, ?, ?) ON CONFLICT (kind, user, "
                        "member) DO UPDATE SET expires = excluded.expires", kind, user,
                        member, expires)
        self._transaction(steps)

    def release(self, kind: str, user: str, member: str) -> None:
        self._run("DELETE FROM leases WHERE kind = ? AND user = ? AND member = ?", kind, user,
                  member)

    def leases(self, kind: str, user: str) -> int:
        return self._run("SELECT COUNT(*) FROM leases WHERE kind = ? AND user = ? AND "
                         "expires > ?", kind, user, self.clock())[0][0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


# --- several hosts: Redis -------------------------------------------------------------------

# KEYS[1] the key's failures (a sorted set of times); ARGV now, window, limit, a new member
ATTEMPT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(math.max(0, tonumber(oldest[2]) + window - now))
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
return '0'
"""


class RedisState(SharedState):
    """The shared state in Redis (``redis://[:password@]host:port/db``, ``rediss://`` for
    TLS, ``unix:///path.sock``): every key under ``prefix``, each expiring with what it
    holds. A server that does not answer within ``timeout`` seconds is taken as down;
    then, for :data:`RETRY_SECONDS`, calls fail at once instead of each waiting."""

    def __init__(self, url: str, hours: float = 8, clock=time.time,
                 prefix: str = "safetyviz:", timeout: float = 1.0):
        import redis

        super().__init__(hours, clock)
        self.url, self.prefix = url, prefix
        self._errors = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(url, socket_timeout=timeout,
                                            socket_connect_timeout=timeout,
                                            decode_responses=True, health_check_interval=10)
        self._attempt = self._client.register_script(ATTEMPT)
        self._down_until = 0.0

    def __repr__(self) -> str:  # without the password the URL may hold
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        where = parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"
        return f"RedisState({parts.scheme}://{where})"

    def _call(self, work):
        if time.monotonic() < self._down_until:
            raise StateUnavailable(f"{self!r} did not answer a moment ago")
        try:
            return work(self._client)
        except self._errors as exc:
            self._down_until = time.monotonic() + RETRY_SECONDS
            raise StateUnavailable(f"{self!r}: {exc}") from exc

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def ping(self) -> None:
        self._call(lambda r: r.ping())

    def create(self, user: str, fingerprint: str, ip: str | None) -> str:
        login_id, now = self.new_login_id(), self.clock()
        key, expires = self._key("login", login_id), now + self.seconds

        def work(r):
            with r.pipeline() as pipe:
                pipe.hset(key, mapping={"user": user, "fingerprint": fingerprint,
                                        "ip": ip or "", "expires": repr(expires)})
                pipe.expire(key, max(1, int(self.seconds) + 1))
                pipe.sadd(self._key("user-logins", user), login_id)
                if ip:
                    pipe.zadd(self._key("known", user), {ip: now})
                    pipe.expire(self._key("known", user), KNOWN_ADDRESS_DAYS * 86400)
                pipe.execute()
        self._call(work)
        return login_id

    def get(self, login_id: str) -> Login | None:
        fields = self._call(lambda r: r.hgetall(self._key("login", login_id)))
        if not fields or float(fields["expires"]) <= self.clock():
            return None
        return Login(login_id, fields["user"], fields["fingerprint"], float(fields["expires"]))

    def live(self, ids: set[str]) -> set[str]:
        if not ids:
            return set()
        ordered = list(ids)

        def work(r):
            with r.pipeline(transaction=False) as pipe:
                for login_id in ordered:
                    pipe.hget(self._key("login", login_id), "expires")
                return pipe.execute()
        now = self.clock()
        return {login_id for login_id, expires in zip(ordered, self._call(work), strict=True)
                if expires is not None and float(expires) > now}

    def end(self, login_id: str) -> None:
        key = self._key("login", login_id)

        def work(r):
            user = r.hget(key, "user")
            r.delete(key)
            if user is not None:
                r.srem(self._key("user-logins", user), login_id)
        self._call(work)

    def end_user(self, user: str, keep_fingerprint: str | None = None) -> int:
        def work(r):
            ended = 0
            for login_id in r.smembers(self._key("user-logins", user)):
                fingerprint = r.hget(self._key("login", login_id), "fingerprint")
                if fingerprint is None or fingerprint != keep_fingerprint:
                    ended += r.delete(self._key("login", login_id))
                    r.srem(self._key("user-logins", user), login_id)
            return ended
        return self._call(work)

    def is_known_address(self, user: str, ip: str) -> bool:
        last = self._call(lambda r: r.zscore(self._key("known", user), ip))
        return last is not None and last > self.clock() - KNOWN_ADDRESS_DAYS * 86400

    def _logins_of(self, r, user: str) -> list[str]:
        """The live logins of ``user``, forgetting the expired ones in their set."""
        now, alive = self.clock(), []
        for login_id in r.smembers(self._key("user-logins", user)):
            expires = r.hget(self._key("login", login_id), "expires")
            if expires is None or float(expires) <= now:
                r.srem(self._key("user-logins", user), login_id)
            else:
                alive.append(login_id)
        return alive

    def count(self, user: str | None = None) -> int:
        if user is not None:
            return self._call(lambda r: len(self._logins_of(r, user)))
        now = self.clock()

        def work(r):
            return sum(1 for key in r.scan_iter(self._key("login", "*"), count=1000)
                       if float(r.hget(key, "expires") or 0) > now)
        return self._call(work)

    def purge(self) -> None:
        def work(r):  # Redis expires the logins; here the sets naming them
            prefix = self._key("user-logins", "")
            for key in r.scan_iter(prefix + "*", count=1000):
                self._logins_of(r, key[len(prefix):])
        self._call(work)

    def window_attempt(self, key: str, limit: int, window: float) -> float:
        return float(self._call(lambda r: self._attempt(
            keys=[self._key("failures", key)],
            args=[repr(self.clock()), repr(float(window)), limit, secrets.token_hex(8)],
            client=r)))

    def window_wait(self, key: str, limit: int, window: float) -> float:
        now = self.clock()
        times = self._call(lambda r: r.zrangebyscore(self._key("failures", key),
                                                     f"({now - window}", "+inf",
                                                     withscores=True))
        return max(0.0, times[0][1] + window - now) if len(times) >= limit else 0.0

    def window_forgive(self, key: str) -> None:
        self._call(lambda r: r.zpopmax(self._key("failures", key)))

    def window_clear(self, key: str) -> None:
        self._call(lambda r: r.delete(self._key("failures", key)))

    def lease(self, kind: str, user: str, members: list[str], seconds: float) -> None:
        if not members:
            return
        key, expires = self._key("leases", kind, user), self.clock() + seconds

        def work(r):
            with r.pipeline() as pipe:
                pipe.zadd(key, dict.fromkeys(members, expires))
                pipe.expire(key, int(seconds) + 60)
                pipe.execute()
        self._call(work)

    def release(self, kind: str, user: str, member: str) -> None:
        self._call(lambda r: r.zrem(self._key("leases", kind, user), member))

    def leases(self, kind: str, user: str) -> int:
        key, now = self._key("leases", kind, user), self.clock()

        def work(r):
            with r.pipeline() as pipe:
                pipe.zremrangebyscore(key, "-inf", now)
                pipe.zcard(key)
                return pipe.execute()[1]
        return self._call(work)

    def close(self) -> None:
        self._client.close()


def open_state(url: str | None, path: Path | None, hours: float = 8) -> SharedState:
    """The store named by ``url`` (``redis://…``, ``rediss://…``, ``unix://…``), else the
    SQLite file ``path`` (None: in memory). A Redis that does not answer at start stops the
    server with the reason."""
    from safetyviz.core.errors import UserError

    if not url:
        return SqliteState(path, hours)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise UserError(f"--shared-state {url.split(':', 1)[0]}:…: a redis://, rediss:// or "
                        "unix:// URL expected (or nothing: the SQLite file in the data dir)")
    try:
        import redis  # noqa: F401
    except ImportError:
        raise UserError("--shared-state redis://…: the redis client is not installed "
                        "(pip install 'safetyviz[redis]')") from None
    state = RedisState(url, hours)
    try:
        state.ping()
    except StateUnavailable as exc:
        raise UserError(f"shared state: {exc} (is redis-server running there?)") from None
    return state

"""Server-side logins of `safetyviz serve --auth`: a login is a row of an SQLite file in the
data dir (shared by the processes of ``--num-procs``; nothing else to run), and the login
cookie only names it. Logging out deletes the row; a login whose user was removed or whose
password changed is refused (the row keeps the password's fingerprint) and then deleted.

The file also remembers, per user, the addresses of successful logins: from those the user
can still log in while failed attempts from elsewhere hold the name back (see
:class:`server.LoginThrottle`).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

KNOWN_ADDRESS_DAYS = 90  # a successful login's address is trusted this long

SCHEMA = """
CREATE TABLE IF NOT EXISTS logins (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, fingerprint TEXT NOT NULL,
    ip TEXT, created REAL NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS logins_user ON logins (user);
CREATE TABLE IF NOT EXISTS known_addresses (
    user TEXT NOT NULL, ip TEXT NOT NULL, last REAL NOT NULL, PRIMARY KEY (user, ip));
"""


@dataclass(frozen=True)
class Login:
    id: str
    user: str
    fingerprint: str
    expires: float


class LoginStore:
    """The logins of one data dir. Thread-safe; safe across processes (SQLite's WAL)."""

    def __init__(self, path: Path | None, hours: float = 8, clock=time.time):
        """``path``: the SQLite file (None: in memory, for one process)."""
        self.path, self.seconds, self.clock = path, hours * 3600, clock
        self._lock = threading.Lock()
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._connect()

    def _connect(self) -> None:
        self._pid = os.getpid()
        self._db = sqlite3.connect(":memory:" if self.path is None else self.path, timeout=10,
                                   check_same_thread=False,
                                   isolation_level=None)  # autocommit: one statement each
        if self.path is not None:
            Path(self.path).chmod(0o600)  # login ids are as good as passwords while they live
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def _run(self, sql: str, *args) -> list[tuple]:
        with self._lock:
            if self._pid != os.getpid() and self.path is not None:
                self._connect()  # a forked server process: a connection of its own
            return self._db.execute(sql, args).fetchall()

    def create(self, user: str, fingerprint: str, ip: str | None) -> str:
        """A new login of ``user``; returns its id (256 random bits)."""
        login_id, now = secrets.token_urlsafe(32), self.clock()
        self._run("INSERT INTO logins VALUES (?, ?, ?, ?, ?, ?)", login_id, user, fingerprint,
                  ip, now, now + self.seconds)
        if ip:
            self._run("INSERT INTO known_addresses VALUES (?, ?, ?) ON CONFLICT (user, ip) "
                      "DO UPDATE SET last = excluded.last", user, ip, now)
        return login_id

    def get(self, login_id: str) -> Login | None:
        """The login, if it exists and has not expired."""
        rows = self._run("SELECT id, user, fingerprint, expires FROM logins WHERE id = ? "
                         "AND expires > ?", login_id, self.clock())
        return Login(*rows[0]) if rows else None

    def live(self, ids: set[str]) -> set[str]:
        """Those of ``ids`` that are still logins."""
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {row[0] for row in self._run(
            f"SELECT id FROM logins WHERE id IN ({marks}) AND expires > ?",  # noqa: S608
            *ids, self.clock())}

    def end(self, login_id: str) -> None:
        self._run("DELETE FROM logins WHERE id = ?", login_id)

    def end_user(self, user: str, keep_fingerprint: str | None = None) -> int:
        """End every login of ``user`` (but those made with the password whose fingerprint
        is ``keep_fingerprint``); returns how many."""
        before = self._run("SELECT COUNT(*) FROM logins WHERE user = ?", user)[0][0]
        self._run("DELETE FROM logins WHERE user = ? AND fingerprint IS NOT ?", user,
                  keep_fingerprint)
        return before - self._run("SELECT COUNT(*) FROM logins WHERE user = ?", user)[0][0]

    def is_known_address(self, user: str, ip: str) -> bool:
        """Whether ``user`` logged in successfully from ``ip`` within the last 90 days."""
        since = self.clock() - KNOWN_ADDRESS_DAYS * 86400
        return bool(self._run("SELECT 1 FROM known_addresses WHERE user = ? AND ip = ? AND "
                              "last > ?", user, ip, since))

    def purge(self) -> None:
        """Forget expired logins and old addresses."""
        now = self.clock()
        self._run("DELETE FROM logins WHERE expires <= ?", now)
        self._run("DELETE FROM known_addresses WHERE last <= ?",
                  now - KNOWN_ADDRESS_DAYS * 86400)

    def count(self, user: str | None = None) -> int:
        if user is None:
            return self._run("SELECT COUNT(*) FROM logins")[0][0]
        return self._run("SELECT COUNT(*) FROM logins WHERE user = ?", user)[0][0]

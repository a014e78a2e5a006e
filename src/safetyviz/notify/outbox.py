"""The notifier's memory, in one SQLite file in the data dir (``notify/outbox.sqlite``):
the events it has seen (alarms, installations offline) with their state, and the outbox of
messages, each written before it is sent.

Delivery loses nothing and repeats nothing:

* a message's key is its event, recipient and channel; writing it again is a no-op, so an
  evaluation run twice (or after a restart) queues nothing twice;
* a message is marked *sending* (committed) before it goes out and *sent* after; a channel
  that fails puts it back with a later try (5 s, 10 s, 20 s … at most 10 min apart);
* after a crash, a message left *sending* may or may not have gone out: it is marked
  *uncertain* and not sent again (at most once), and ``notify status`` lists it. A message
  still *pending* (written, never tried) is sent after the restart: exactly once.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from safetyviz.data import notices
from safetyviz.data.notices import in_units

FIRST_RETRY_S = 5.0
LAST_RETRY_S = 600.0

SCHEMA = """
create table if not exists messages (
    key text primary key,       -- event, recipient and channel: a message is queued once
    rule text not null, event text not null, contact text not null, channel text not null,
    adcode text not null, subject text not null, body text not null,  -- body: JSON
    state text not null default 'pending',  -- pending, sending, sent, uncertain
    attempts integer not null default 0, created real not null, next_try real not null,
    sent_at real, error text);
create index if not exists due on messages (state, next_try);
create table if not exists events (
    key text primary key,       -- rule, subject (a sensor or a site) and start
    rule text not null, kind text not null, site text not null, subject text not null,
    adcode text not null, level text, started text not null, ended text, peak real,
    detail text,                -- what a message says beyond the peak
    told_at real,               -- when it was first told (the machine's clock)
    state text not null default 'new',  -- new, acknowledged, resolved
    told integer not null default 0, resolved_told integer not null default 0,
    acknowledged_by text, acknowledged_at real);
create index if not exists open_events on events (rule, site, state);
create table if not exists told (
    rule text not null, site text not null, at text not null, primary key (rule, site));
"""

# (table, column, type) added to the schema after its first version, oldest first
ADDED_COLUMNS = [("events", "detail", "text"), ("events", "told_at", "real")]


@dataclass(frozen=True)
class Message:
    key: str
    rule: str
    event: str
    contact: str
    channel: str  # "email" or "webhook"
    adcode: str
    subject: str
    body: dict  # what the channel needs: text, markdown, facts


def retry_after(attempts: int) -> float:
    """Seconds before the next try of a message that failed ``attempts`` times."""
    return min(FIRST_RETRY_S * 2 ** max(attempts - 1, 0), LAST_RETRY_S)


class Outbox:
    """The events and messages of one data dir (one writer at a time: the notifier)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("pragma journal_mode = wal")
        self.db.execute("pragma synchronous = full")  # a message written is on disk
        self.db.executescript(SCHEMA)
        # an outbox written by an earlier version: its tables gain the columns added since
        for table, column, kind in ADDED_COLUMNS:
            have = {row[1] for row in self.db.execute(f"pragma table_info({table})")}
            if column not in have:
                self.db.execute(f"alter table {table} add column {column} {kind}")

    def close(self) -> None:
        self.db.close()

    def transaction(self):
        """``with outbox.transaction():`` — all of it, or none of it."""
        return _Transaction(self.db)

    # -- messages

    def enqueue(self, messages: Iterable[Message], now: float | None = None) -> int:
        """Queue ``messages`` (those queued before are left as they are); how many were new."""
        now = time.time() if now is None else now
        added = 0
        for m in messages:
            added += self.db.execute(
                "insert or ignore into messages (key, rule, event, contact, channel, adcode, "
                "subject, body, created, next_try) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (m.key, m.rule, m.event, m.contact, m.channel, m.adcode, m.subject,
                 json.dumps(m.body, ensure_ascii=False), now, now)).rowcount
        return added

    def claim(self, now: float | None = None) -> list[sqlite3.Row]:
        """The messages due now, marked *sending* (committed) before they are returned."""
        now = time.time() if now is None else now
        with self.transaction():
            rows = self.db.execute(
                "select * from messages where state = 'pending' and next_try <= ? "
                "order by created, key", (now,)).fetchall()
            self.db.executemany("update messages set state = 'sending' where key = ?",
                                [(r["key"],) for r in rows])
        return rows

    def sent(self, key: str, now: float | None = None) -> None:
        self.db.execute("update messages set state = 'sent', sent_at = ?, "
                        "attempts = attempts + 1, error = null where key = ?",
                        (time.time() if now is None else now, key))

    def failed(self, key: str, error: str, now: float | None = None) -> None:
        """Back to *pending*, tried again after :func:`retry_after`."""
        now = time.time() if now is None else now
        attempts = self.db.execute("select attempts from messages where key = ?",
                                   (key,)).fetchone()[0] + 1
        self.db.execute("update messages set state = 'pending', attempts = ?, next_try = ?, "
                        "error = ? where key = ?",
                        (attempts, now + retry_after(attempts), error[:500], key))

    def recover(self) -> int:
        """After a crash: messages left *sending* become *uncertain* (never sent again);
        how many."""
        return self.db.execute("update messages set state = 'uncertain', "
                               "error = 'interrupted while sending' "
                               "where state = 'sending'").rowcount

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("select state, count(*) from messages group by state")
                    .fetchall())

    def messages(self, state: str | None = None) -> list[sqlite3.Row]:
        query = "select * from messages" + (" where state = ?" if state else "")
        return self.db.execute(query + " order by created, key",
                               (state,) if state else ()).fetchall()

    # -- events, as the monitoring page lists and acknowledges them

    def events(self, adcodes: tuple[str, ...] | None = None, limit: int = 200
               ) -> list[sqlite3.Row]:
        """The latest events (of ``adcodes``; None: all), newest first."""
        return notices.events(self.db, adcodes, limit)

    def acknowledge(self, key: str, user: str, adcodes: tuple[str, ...] | None = None,
                    now: float | None = None) -> bool:
        """Mark the *new* event ``key`` (of ``adcodes``) acknowledged by ``user``; whether
        it was (not one of theirs, or not new: nothing changes)."""
        where, args = in_units(adcodes, "and")
        return self.db.execute(
            f"update events set state = 'acknowledged', acknowledged_by = ?, "
            f"acknowledged_at = ? where key = ? and state = 'new' {where}",
            (user, time.time() if now is None else now, key, *args)).rowcount == 1

    def acknowledge_seconds(self, adcodes: tuple[str, ...] | None = None) -> list[float]:
        """Seconds from being told to being acknowledged, of every event acknowledged (of
        ``adcodes``)."""
        return notices.acknowledge_seconds(self.db, adcodes)

    def next_try(self) -> float | None:
        """When the earliest pending message is due (None: none is pending)."""
        return self.db.execute("select min(next_try) from messages where state = 'pending'"
                               ).fetchone()[0]


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("begin immediate")
        return self.db

    def __exit__(self, kind, value, traceback):
        self.db.execute("rollback" if kind else "commit")
        return False

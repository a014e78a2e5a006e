"""Reading the notifier's outbox (``<data dir>/notify/outbox.sqlite``): the events it told
people about, their state (new → acknowledged → resolved) and how long people took to
acknowledge them — what the monitoring page lists and the bulletin reports.

The notifier (:mod:`safetyviz.notify`) writes the file; everything else opens it read-only.
A data dir where no notifier runs has no file, and nothing here creates one.
"""

from __future__ import annotations

import math
import sqlite3
import statistics
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from safetyviz.core.errors import UserError
from safetyviz.data.catalog import local_path

# The kinds of event a person is told about and may acknowledge. (A county's accidents
# rising is an observation recorded as already ended: nobody acknowledges it.)
ACKNOWLEDGEABLE = ("alarm", "offline", "online_rate", "hazards_overdue")


# the columns of the events table read here (the notifier adds those added since to an older
# outbox when it opens it)
READ_COLUMNS = ("key", "rule", "kind", "site", "subject", "adcode", "level", "started",
                "ended", "state", "acknowledged_by", "acknowledged_at", "told_at")


def outbox_path(data_dir: Path) -> Path:
    return Path(data_dir) / "notify" / "outbox.sqlite"


def outbox_beside(readings: Path) -> Path:
    """The outbox of the data dir holding the readings store ``readings`` (or of the data
    dir ``readings`` itself)."""
    readings = Path(readings)
    return outbox_path(readings.parent.parent if readings.name == "readings.zarr" else readings)


def outbox_of(catalog) -> Path | None:
    """Where the outbox of ``catalog``'s data dir is (beside its readings store); None for a
    catalog without readings on this disk."""
    try:
        return outbox_beside(local_path("monitoring", catalog))
    except (KeyError, UserError):
        return None


def outbox_version(path: Path | None) -> tuple:
    """What changes whenever the notifier or an acknowledgement writes to the outbox
    ``path`` (its file and its write-ahead log); () when there is none."""
    if path is None:
        return ()
    stamps = []
    for part in (Path(path), Path(f"{path}-wal")):
        try:
            stat = part.stat()
        except FileNotFoundError:
            continue
        stamps.append((part.name, stat.st_mtime_ns, stat.st_size))
    return tuple(stamps)


def read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to the outbox ``path`` (FileNotFoundError when there is none;
    UserError naming the file when it is not a notifier's outbox)."""
    path = Path(path).resolve()  # (named so in messages: no "catalogs/../data")
    if not path.is_file():
        raise FileNotFoundError(path)
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30)
    db.row_factory = sqlite3.Row
    try:
        columns = {row[1] for row in db.execute("pragma table_info(events)")}
    except sqlite3.DatabaseError as exc:
        db.close()
        raise UserError(f"{path}: not a notifier outbox ({exc})") from None
    missing = sorted(set(READ_COLUMNS) - columns)
    if missing:
        db.close()
        raise UserError(f"{path}: its events lack {', '.join(missing)}: not a notifier's "
                        "outbox, or one of an older safetyviz (`safetyviz notify status` "
                        "brings it up to date)")
    return db


def in_units(adcodes: tuple[str, ...] | list[str] | None, word: str = "where"
             ) -> tuple[str, tuple]:
    """The SQL condition (and its arguments) "an event of ``adcodes``"; None: every unit."""
    if adcodes is None:
        return "", ()
    return f"{word} adcode in ({', '.join('?' * len(adcodes)) or 'null'})", tuple(adcodes)


def events(db: sqlite3.Connection, adcodes: tuple[str, ...] | None = None, limit: int = 200
           ) -> list[sqlite3.Row]:
    """The latest events (of ``adcodes``; None: all), newest first."""
    where, args = in_units(adcodes)
    return db.execute(f"select * from events {where} order by started desc, key limit ?",
                      (*args, limit)).fetchall()


def acknowledge_seconds(db: sqlite3.Connection, adcodes: tuple[str, ...] | None = None,
                        start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
                        ) -> list[float]:
    """Seconds from being told to being acknowledged, of every event acknowledged (of
    ``adcodes``; that started from ``start`` to the end of the day ``end``)."""
    where, args = _told(adcodes, start, end)
    return [row[0] for row in db.execute(
        f"select acknowledged_at - told_at from events {where} "
        f"and acknowledged_at is not null", args)]


@dataclass(frozen=True)
class Acknowledgements:
    """How the events of one unit and period were acknowledged."""

    told: int  # events people were told about
    acknowledged: int  # of them, acknowledged by someone
    median_seconds: float  # from told to acknowledged (NaN: none acknowledged)


def acknowledgements(path: Path, adcodes: list[str] | tuple[str, ...] | None, start, end
                     ) -> Acknowledgements | None:
    """The events of ``adcodes`` (None: all) that started in [start, end's day] and were
    told, and how they were acknowledged; None when ``path`` holds no outbox."""
    try:
        db = read_only(path)
    except FileNotFoundError:
        return None
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    with closing(db):
        units = tuple(adcodes) if adcodes is not None else None
        where, args = _told(units, start, end)
        told = db.execute(f"select count(*) from events {where}", args).fetchone()[0]
        seconds = acknowledge_seconds(db, units, start, end)
    return Acknowledgements(told=int(told), acknowledged=len(seconds),
                            median_seconds=statistics.median(seconds) if seconds else math.nan)


def _told(adcodes: tuple[str, ...] | None, start, end) -> tuple[str, tuple]:
    """Events told (of ``adcodes``, started in [start, end's day]): a "where" and its
    arguments. ``started`` is text, 2020-03-01 08:15 (a quarter, 2020Q1, for the kinds no
    one acknowledges): compared as text within the day's bounds."""
    units, args = in_units(adcodes, "and")
    kinds = ", ".join("?" * len(ACKNOWLEDGEABLE))
    where = f"where told_at is not null and kind in ({kinds}) {units}"
    args = (*ACKNOWLEDGEABLE, *args)
    if start is not None:
        where += " and started >= ?"
        args = (*args, f"{pd.Timestamp(start):%Y-%m-%d}")
    if end is not None:
        where += " and started < ?"
        args = (*args, f"{pd.Timestamp(end).normalize() + pd.Timedelta(days=1):%Y-%m-%d}")
    return where, args


__all__ = ["ACKNOWLEDGEABLE", "READ_COLUMNS", "Acknowledgements", "acknowledge_seconds",
           "acknowledgements", "events", "in_units", "outbox_beside", "outbox_of",
           "outbox_path", "outbox_version", "read_only"]

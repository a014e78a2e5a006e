"""The notifier: ``safetyviz notify run`` evaluates the rules whenever new readings arrive and
delivers the outbox, trying a channel that is down again with backoff; ``--once`` does one
round (for cron, and the tests).

Evaluations look at the last ``window`` of readings up to the store's last time (the time
the readings say, not the machine's clock: a replayed or late feed is judged as it was).
The outbox is in ``<data-dir>/notify/outbox.sqlite``; one notifier per data dir.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xarray as xr

from safetyviz.core.errors import UserError
from safetyviz.data.catalog import ensure_catalog, open_catalog, version
from safetyviz.data.loading import load_regions, load_table
from safetyviz.data.notices import outbox_path
from safetyviz.data.readings import open_readings, readings_path
from safetyviz.data.regions import english_name, top_unit
from safetyviz.notify.channels import ChannelError, send_email, send_webhook
from safetyviz.notify.evaluate import Ledgers, Registers, evaluate, evaluate_ledgers
from safetyviz.notify.outbox import Outbox
from safetyviz.notify.rules import LEDGER_KINDS, READING_KINDS, Rules
from safetyviz.notify.schedule import queue_bulletins

log = logging.getLogger(__name__)
WINDOW = pd.Timedelta(hours=24)
HAZARD_COLUMNS = ["hazard_id", "enterprise_id", "adcode", "level", "found_date", "deadline",
                  "rectified_date", "listed_supervision"]


REGISTERS = ("sensors", "major_hazard_sites", "enterprises", "regions")


def register_versions(data_dir: Path) -> tuple[str, ...]:
    """What the registers resolve to now (a table rewritten resolves elsewhere)."""
    cat = open_catalog(ensure_catalog(data_dir))
    return tuple(version(name, cat) if name in cat else "" for name in REGISTERS)


def registers(data_dir: Path) -> Registers:
    cat = open_catalog(ensure_catalog(data_dir))
    sensors = load_table("sensors", catalog=cat).compute()
    sites = load_table("major_hazard_sites", catalog=cat).compute()
    try:
        firms = load_table("enterprises", catalog=cat,
                           columns=["enterprise_id", "name"]).compute()
    except UserError:  # monitoring without the register yet: firms named by their codes
        firms = pd.DataFrame({"enterprise_id": [], "name": []})
    regions = load_regions(cat, geometry=False)
    whole = top_unit(regions)[1]
    return Registers(sensors.astype({"sensor_id": str, "site_id": str, "adcode": str}),
                     sites.astype({"site_id": str, "adcode": str}),
                     {str(a): (str(zh), str(en)) for a, zh, en in
                      zip(regions["adcode"], regions["name_zh"], regions["name_en"])},
                     dict(zip(firms["enterprise_id"].astype(str), firms["name"].astype(str))),
                     (whole, english_name(whole) if whole else ""))


def deliver(outbox: Outbox, rules: Rules) -> dict[str, int]:
    """Send every message due; {'sent': n, 'failed': n}."""
    contacts = {c.name: c for c in rules.contacts}
    done = {"sent": 0, "failed": 0}
    for row in outbox.claim():
        contact = contacts.get(row["contact"])
        body = json.loads(row["body"])
        try:
            if contact is None:
                raise ChannelError(f"contact {row['contact']!r} is no longer in the rules")
            if row["channel"] == "email" and contact.email and rules.smtp:
                attached = (Path(body["attachment"]),) if body.get("attachment") else ()
                send_email(rules.smtp, contact.email, row["subject"], body["text"],
                           row["key"], attached)
            elif row["channel"] == "webhook" and contact.webhook:
                send_webhook(contact.webhook, row["subject"], body)
            else:
                raise ChannelError(f"contact {contact.name!r} has no {row['channel']} now")
        except ChannelError as exc:
            outbox.failed(row["key"], str(exc))
            log.warning("not delivered (tried again later): %s: %s", row["key"], exc)
            done["failed"] += 1
            continue
        outbox.sent(row["key"])
        done["sent"] += 1
    return done


@dataclass
class Round:
    queued: int = 0
    sent: int = 0
    failed: int = 0
    as_of: pd.Timestamp | None = None


class Notifier:
    """The notifier of one data dir with one rules file."""

    def __init__(self, data_dir: Path, rules: Rules, window: pd.Timedelta = WINDOW):
        self.data_dir, self.rules, self.window = Path(data_dir), rules, window
        self.outbox = Outbox(outbox_path(data_dir))
        uncertain = self.outbox.recover()
        if uncertain:
            log.warning("%d messages were being sent when the notifier stopped: not sent "
                        "again (see `safetyviz notify status`)", uncertain)
        self.versions = register_versions(data_dir)
        self.registers = registers(data_dir)
        self.evaluated: pd.Timestamp | None = None
        self.ledgers_seen: tuple | None = None  # the ledgers' versions evaluated
        self.bulletins_failed: dict[str, float] = {}  # scheduled bulletins not made yet

    def close(self) -> None:
        self.outbox.close()

    def readings(self) -> xr.DataArray | None:
        """The readings store as it is now (one version, read lazily); None without one."""
        if not readings_path(self.data_dir).exists():
            return None
        return open_readings(self.data_dir)["value"]

    @property
    def overlap(self) -> pd.Timedelta:
        """How far before the last evaluation a round looks again: enough to see an alarm
        run on, and an installation's last reading beyond the longest offline rule."""
        longest = max((r.minutes for r in self.rules.rules if r.kind == "offline"), default=0)
        return min(max(pd.Timedelta(hours=1), pd.Timedelta(minutes=2 * longest)), self.window)

    def evaluate(self) -> tuple[int, pd.Timestamp | None]:
        """Evaluate the rules on the readings new since the last round (and :attr:`overlap`
        before them; the first round: the last ``window``), if there are new ones."""
        stored = self.readings()
        last = None if stored is None else pd.Timestamp(stored["time"].values[-1])
        if stored is None or last == self.evaluated:
            return 0, last
        versions = register_versions(self.data_dir)
        if versions != self.versions:  # a sensor or installation added while running
            self.registers, self.versions = registers(self.data_dir), versions
        start = last - self.window
        if self.evaluated is not None:
            start = max(start, self.evaluated - self.overlap)
        readings = stored.sel(time=slice(start, last)).load()
        queued = evaluate(self.rules, readings, self.registers, self.outbox, last)
        self.evaluated = last
        return queued, last

    def evaluate_ledgers(self) -> int:
        """Evaluate the rules of the ledgers if the hazards or accidents changed since the
        last round, as of their latest date (the ledgers' own time, as the readings')."""
        if not any(r.kind in LEDGER_KINDS for r in self.rules.rules):
            return 0
        cat = open_catalog(ensure_catalog(self.data_dir))
        seen = (version("hazards", cat), version("accidents", cat))
        if seen == self.ledgers_seen:
            return 0
        ledgers = Ledgers(load_table("hazards", catalog=cat, columns=HAZARD_COLUMNS).compute(),
                          load_table("accidents", catalog=cat,
                                     columns=["date", "adcode"]).compute())
        dates = pd.to_datetime(pd.concat([
            ledgers.hazards["found_date"], ledgers.hazards["rectified_date"],
            ledgers.accidents["date"]]).dropna())
        queued = 0 if dates.empty else evaluate_ledgers(
            self.rules, ledgers, self.registers, self.outbox, dates.max())
        self.ledgers_seen = seen
        return queued

    def round(self, today=None) -> Round:
        """Evaluate the rules on new readings and ledgers, queue the bulletins due
        ``today`` (default: the machine's date), and deliver what is due."""
        watching = any(r.kind in READING_KINDS for r in self.rules.rules)
        queued, as_of = self.evaluate() if watching else (0, None)
        queued += self.evaluate_ledgers()
        if self.rules.schedules:
            today = pd.Timestamp.now() if today is None else pd.Timestamp(today)
            queued += queue_bulletins(self.rules, self.outbox, self.data_dir,
                                      open_catalog(ensure_catalog(self.data_dir)), today,
                                      self.registers.units, self.registers.whole,
                                      self.bulletins_failed)
        done = deliver(self.outbox, self.rules)
        return Round(queued, done["sent"], done["failed"], as_of)

    def run(self, every_s: float = 5.0, stop: threading.Event | None = None,
            report=print) -> None:
        """Rounds every ``every_s`` seconds until ``stop`` is set (or SIGTERM / SIGINT)."""
        stop = stop or threading.Event()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
        first = True
        while not stop.is_set():
            try:
                done = self.round()
            except UserError as exc:  # a store being rewritten, a register replaced
                report(f"round skipped: {exc}")
            else:
                if first or done.queued or done.sent or done.failed:
                    report(f"readings to {done.as_of}: {done.queued} queued, {done.sent} "
                           f"sent, {done.failed} to retry")
                first = False
            stop.wait(every_s)


def status(data_dir: Path) -> str:
    """The outbox's messages by state, and those not delivered with why."""
    path = outbox_path(data_dir)
    if not path.exists():
        return "no notifications yet"
    outbox = Outbox(path)
    try:
        counts = outbox.counts()
        lines = [", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "empty"]
        for state in ("pending", "uncertain"):
            for row in outbox.messages(state):
                lines.append(f"{state}: {row['subject']} → {row['contact']} "
                             f"({row['channel']}; {row['attempts']} tries"
                             f"{'; ' + row['error'] if row['error'] else ''})")
        return "\n".join(lines)
    finally:
        outbox.close()


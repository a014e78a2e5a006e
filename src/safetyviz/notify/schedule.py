"""Scheduled bulletins: on the rules' ``day``-th day after a quarter (or month) ends, its
bulletin — the whole data's to city and province contacts, each county's to its county
contacts, in the contact's language — written under ``<data-dir>/notify/bulletins/`` and
then queued (an e-mail carries the file, a webhook a link to the overview of the period).

Each period's bulletin is queued once (its messages' keys); a notifier that was down on the
day still sends it within :data:`GRACE_DAYS`, never a bulletin older than that (a new
installation does not mail last year's).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from safetyviz.core.errors import UserError
from safetyviz.core.i18n import text
from safetyviz.core.periods import parse_period, period_label
from safetyviz.notify.outbox import Message, Outbox
from safetyviz.notify.rules import Rules, Schedule

log = logging.getLogger(__name__)
GRACE_DAYS = 7
RETRY_S = 3600.0  # a bulletin that could not be made (no data yet) is tried again after this


def due_period(schedule: Schedule, today) -> str | None:
    """The period whose bulletin ``schedule`` sends ``today`` (or within the grace days
    after), None on other days."""
    due_from = pd.Timestamp(today).normalize() - pd.Timedelta(days=schedule.day)
    last = due_from - pd.Timedelta(days=GRACE_DAYS)  # (inclusive: due_from − grace + 1 …)
    # the latest period ending on or before due_from, if it ended after ``last``
    if schedule.every == "quarter":
        q = (due_from + pd.Timedelta(days=1)).to_period("Q") - 1
        period, end = f"{q.year}Q{q.quarter}", q.end_time.normalize()
    else:
        m = (due_from + pd.Timedelta(days=1)).to_period("M") - 1
        period, end = f"{m.year}-{m.month:02d}", m.end_time.normalize()
    return period if last < end <= due_from else None


def bulletin_path(data_dir: Path, schedule: Schedule, period: str, unit: str | None,
                  lang: str) -> Path:
    safe = "".join(c if c.isalnum() else "_" for c in schedule.name)
    return (Path(data_dir) / "notify" / "bulletins" /
            f"{safe}-{period}-{unit or 'all'}-{lang}.{schedule.format}")


def queue_bulletins(rules: Rules, outbox: Outbox, data_dir: Path, catalog, today,
                    units: dict[str, tuple[str, str]], whole: tuple[str, str],
                    failed: dict[str, float] | None = None) -> int:
    """Write and queue the bulletins due ``today``; how many messages were queued.
    ``units``: unit names by adcode (zh, en); ``whole``: the data's own name (zh, en);
    ``failed``: when each bulletin that could not be made was last tried (kept by the
    caller: it is not tried again for :data:`RETRY_S`, not every round)."""
    from safetyviz.report.render import write_report

    queued = 0
    for schedule in rules.schedules:
        period = due_period(schedule, today)
        if period is None:
            continue
        event = f"{schedule.name}:{period}"
        if outbox.db.execute("select 1 from messages where event = ? limit 1",
                             (event,)).fetchone():
            continue  # queued before
        if failed is not None and time.monotonic() - failed.get(event, -RETRY_S) < RETRY_S:
            continue
        messages = []
        try:
            for contact in rules.contacts:
                if contact.role not in schedule.to:
                    continue
                for unit in (contact.counties if contact.role == "county" else (None,)):
                    path = bulletin_path(data_dir, schedule, period, unit, contact.lang)
                    if not path.exists():
                        path.parent.mkdir(parents=True, exist_ok=True)
                        write_report(period, path, schedule.format, unit, contact.lang,
                                     catalog)
                    name = whole if unit is None else units.get(unit, (unit, unit))
                    messages += _messages(rules, schedule, period, event, contact, unit,
                                          name[1] if contact.lang == "en" else name[0], path)
        except UserError as exc:  # no data for the period yet: tried again later
            log.warning("bulletin %s not made (tried again in %.0f min): %s", event,
                        RETRY_S / 60, exc)
            if failed is not None:
                failed[event] = time.monotonic()
            continue
        with outbox.transaction():
            queued += outbox.enqueue(messages)
    return queued


def _messages(rules: Rules, schedule: Schedule, period: str, event: str, contact,
              unit: str | None, unit_name: str, path: Path) -> list[Message]:
    lang = contact.lang
    label = period_label(period, lang)
    subject = f"[{text('notice_head_bulletin', lang)}] {unit_name} {label}"
    link = (f"{rules.link}/overview?period={period}&lang={lang}"
            + (f"&county={unit}" if unit else "")) if rules.link else ""
    lines = [text("notice_bulletin", lang).format(unit=unit_name, period=label)]
    if link:
        lines.append(text("notice_link", lang).format(link=link))
    start, end = parse_period(period)
    facts = {"schedule": schedule.name, "period": period, "adcode": unit or "",
             "start": f"{start:%Y-%m-%d}", "end": f"{end:%Y-%m-%d}", "link": link}
    body = {"subject": subject, "text": "\n".join(lines),
            "markdown": f"### {subject}\n\n" + "\n\n".join(lines), "facts": facts}
    made = []
    for channel, reachable in (("email", contact.email), ("webhook", contact.webhook)):
        if reachable:
            extra = {"attachment": str(path)} if channel == "email" else {}
            made.append(Message(f"{event}|{unit or 'all'}|{contact.name}|{channel}",
                                schedule.name, event, contact.name, channel, unit or "",
                                subject, {**body, **extra}))
    return made

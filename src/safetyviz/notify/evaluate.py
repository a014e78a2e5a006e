"""Rules evaluated against the readings: which alarms and offline installations are new,
which have ended, and the messages that tell each recipient — written to the outbox in the
same transaction as the events' new state, so a crash in between repeats nothing and loses
nothing.

An alarm is :func:`analysis.monitoring.all_alarm_events`'s (a run above the threshold, with
hysteresis); an installation is offline when none of its sensors reported for the rule's
``minutes`` (an installation not yet connected — no ``online_since``, or a later one — is
not). Alarms are told per installation: everything new at one site since it was last told
goes in one message, and a site is told again no sooner than the rule's
``repeat_minutes``; when every alarm told at a site has ended, one message says so.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import xarray as xr

from safetyviz.analysis.monitoring import (
    ALARM_LEVELS,
    all_alarm_events,
    last_report,
    sensors_online,
    sites_online,
)
from safetyviz.core.i18n import text
from safetyviz.core.periods import period_label
from safetyviz.core.vocab import VOCABULARIES
from safetyviz.notify.outbox import Message, Outbox
from safetyviz.notify.rules import LEDGER_KINDS, READING_KINDS, Contact, Rule, Rules


@dataclass(frozen=True)
class Registers:
    """What a message names: sensors (sensor_id, site_id, adcode, kind, unit, high,
    high_high), installations (site_id, enterprise_id, adcode, online_since), and the names
    of units and firms by code."""

    sensors: pd.DataFrame
    sites: pd.DataFrame
    units: dict[str, tuple[str, str]]  # adcode → (Chinese, English)
    firms: dict[str, str] = field(default_factory=dict)
    whole: tuple[str, str] = ("", "")  # the data's city or province (Chinese, English)

    def site(self, site_id: str) -> dict:
        row = self.sites[self.sites["site_id"] == site_id].iloc[0]
        return {"site_id": site_id, "adcode": str(row["adcode"]),
                "firm": self.firms.get(str(row["enterprise_id"]), str(row["enterprise_id"]))}


@dataclass
class Notice:
    """One message's worth: a rule's events at one site."""

    rule: Rule
    kind: str  # alarm, offline, resolved, online
    site: str
    adcode: str
    events: list[dict]

    @property
    def key(self) -> str:
        keys = "|".join(sorted(e["key"] for e in self.events))
        return f"{self.rule.name}:{self.site}:{self.kind}:" + \
            hashlib.sha256(keys.encode()).hexdigest()[:16]


def _stamp(value) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def _alarms(rule: Rule, readings: xr.DataArray, registers: Registers, outbox: Outbox,
            as_of: pd.Timestamp) -> None:
    """Record ``rule``'s alarms in ``readings``: new ones, and those that ended."""
    spec = registers.sensors.set_index("sensor_id")
    events = all_alarm_events(readings, spec)
    events = events[events["level"].isin(rule.levels)]
    first = pd.Timestamp(readings["time"].values[0])
    db = outbox.db
    open_rows = {r["subject"]: r for r in db.execute(
        "select * from events where rule = ? and kind = 'alarm' and state != 'resolved'",
        (rule.name,))}
    seen: set[str] = set()
    for event in events.itertuples(index=False):
        sensor = str(event.sensor_id)
        stored = open_rows.get(sensor)
        ended = None if event.ongoing else _stamp(event.end)
        if stored is not None and (_stamp(event.start) == stored["started"] or (
                stored["started"] < _stamp(first) and event.start == first)):
            db.execute("update events set ended = ?, peak = max(coalesce(peak, ?), ?), "
                       "level = ?, state = case when ? is null then state else 'resolved' "
                       "end where key = ?", (ended, event.peak, event.peak, event.level,
                                             ended, stored["key"]))
            seen.add(sensor)
            continue
        if stored is not None and sensor not in seen:  # it ended; this one is another
            db.execute("update events set state = 'resolved' where key = ?", (stored["key"],))
            seen.add(sensor)
        site = spec.loc[sensor, "site_id"]
        db.execute(
            "insert or ignore into events (key, rule, kind, site, subject, adcode, level, "
            "started, ended, peak, state) values (?, ?, 'alarm', ?, ?, ?, ?, ?, ?, ?, ?)",
            (f"{rule.name}:{sensor}:{_stamp(event.start)}", rule.name, site, sensor,
             str(spec.loc[sensor, "adcode"]), event.level, _stamp(event.start), ended,
             float(event.peak), "resolved" if ended else "new"))
    for sensor, stored in open_rows.items():  # ended before the readings looked at
        if sensor not in seen and sensor not in set(events["sensor_id"]):
            db.execute("update events set state = 'resolved' where key = ?", (stored["key"],))


def _offline(rule: Rule, readings: xr.DataArray, registers: Registers, outbox: Outbox,
             as_of: pd.Timestamp) -> None:
    """Record the installations ``rule`` finds offline at ``as_of``, and those back."""
    sensors, sites = registers.sensors, registers.sites.set_index("site_id")
    last = last_report(readings, as_of)
    last.index = last.index.astype(str)
    reported = last.reindex(sensors["sensor_id"]).groupby(sensors["site_id"].values).max()
    since = pd.to_datetime(sites["online_since"]).reindex(reported.index)
    connected = since.notna() & (since <= as_of)
    gone = reported.isna() | (as_of - reported > pd.Timedelta(minutes=rule.minutes))
    db = outbox.db
    stored = {r["site"]: r for r in db.execute(
        "select * from events where rule = ? and kind = 'offline' and state != 'resolved'",
        (rule.name,))}
    first = readings["time"].values[0]
    for site in reported.index[connected & gone]:
        if site not in stored:
            started = _stamp(first if pd.isna(reported[site]) else reported[site])
            db.execute(
                "insert or ignore into events (key, rule, kind, site, subject, adcode, "
                "started, state) values (?, ?, 'offline', ?, ?, ?, ?, 'new')",
                (f"{rule.name}:{site}:{started}", rule.name, site, site,
                 str(sites.loc[site, "adcode"]), started))
    for site in reported.index[~gone]:
        if site in stored:
            db.execute("update events set state = 'resolved', ended = ? where key = ?",
                       (_stamp(reported[site]), stored[site]["key"]))


def _online_rate(rule: Rule, readings: xr.DataArray, registers: Registers, outbox: Outbox,
                 as_of: pd.Timestamp) -> None:
    """Record the units whose online rate at ``as_of`` is below ``rule.threshold``, and
    those back above it. Every registered installation counts (one never connected is
    offline), as in the bulletin."""
    sensors = registers.sensors
    online = sensors_online(readings, as_of, ONLINE_GAP)
    flags = sites_online(online, sensors.set_index("sensor_id")["site_id"])
    unit_of = registers.sites.set_index("site_id")["adcode"].astype(str)
    counted = flags.reindex(unit_of.index, fill_value=False).astype(bool)
    db = outbox.db
    for adcode, group in counted.groupby(unit_of.values):
        rate, detail = float(group.mean()), f"{int(group.sum())}/{len(group)}"
        below = rate * 100 < rule.threshold
        stored = db.execute("select * from events where rule = ? and kind = 'online_rate' "
                            "and site = ? and state != 'resolved'",
                            (rule.name, adcode)).fetchone()
        if below and stored is None:
            db.execute(
                "insert or ignore into events (key, rule, kind, site, subject, adcode, "
                "started, peak, detail, state) values (?, ?, 'online_rate', ?, ?, ?, ?, ?, ?, "
                "'new')", (f"{rule.name}:{adcode}:{_stamp(as_of)}", rule.name, adcode,
                           adcode, adcode, _stamp(as_of), rate, detail))
        elif not below and stored is not None:
            db.execute("update events set state = 'resolved', ended = ?, detail = ? "
                       "where key = ?", (_stamp(as_of), detail, stored["key"]))


@dataclass(frozen=True)
class Ledgers:
    """The tables the ledger rules read: hazards (hazard_id, enterprise_id, adcode, level,
    deadline, rectified_date, listed_supervision) and accidents (date, adcode)."""

    hazards: pd.DataFrame
    accidents: pd.DataFrame


def _hazards_overdue(rule: Rule, ledgers: Ledgers, registers: Registers, outbox: Outbox,
                     as_of: pd.Timestamp) -> None:
    """Record the hazards past their deadline at ``as_of`` and not rectified by then (of
    the rule's kind: 挂牌督办, major), and those rectified since."""
    hazards = ledgers.hazards
    if rule.listed_only:
        hazards = hazards[hazards["listed_supervision"].fillna(False).astype(bool)]
    if rule.major_only:
        hazards = hazards[hazards["level"].astype(str) == "major"]
    deadline = pd.to_datetime(hazards["deadline"])
    rectified = pd.to_datetime(hazards["rectified_date"])
    overdue = hazards[(deadline < as_of) & (rectified.isna() | (rectified > as_of))]
    db = outbox.db
    stored = {r["subject"]: r["key"] for r in db.execute(
        "select subject, key from events where rule = ? and kind = 'hazards_overdue' and "
        "state != 'resolved'", (rule.name,))}
    db.executemany(
        "insert or ignore into events (key, rule, kind, site, subject, adcode, level, "
        "started, detail, state) values (?, ?, 'hazards_overdue', ?, ?, ?, ?, ?, ?, 'new')",
        [(f"{rule.name}:{h.hazard_id}", rule.name, str(h.adcode), str(h.hazard_id),
          str(h.adcode), str(h.level), f"{pd.Timestamp(h.deadline):%Y-%m-%d}",
          str(h.enterprise_id)) for h in overdue.itertuples(index=False)
         if str(h.hazard_id) not in stored])
    still = set(overdue["hazard_id"].astype(str))
    db.executemany("update events set state = 'resolved', ended = ? where key = ?",
                   [(f"{as_of:%Y-%m-%d}", key) for hazard, key in stored.items()
                    if hazard not in still])


def last_complete(every: str, as_of: pd.Timestamp) -> pd.Period:
    """The latest quarter (or month) that ended on or before ``as_of``."""
    return (pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)).to_period(
        "Q" if every == "quarter" else "M") - 1


def _accidents_rising(rule: Rule, ledgers: Ledgers, registers: Registers, outbox: Outbox,
                      as_of: pd.Timestamp) -> None:
    """Record each county with more accidents in the last complete period than in the
    same one a year earlier (told once; nothing to end)."""
    period = last_complete(rule.every, as_of)
    before = period - (4 if rule.every == "quarter" else 12)
    dates = pd.to_datetime(ledgers.accidents["date"])
    counts = {}
    for which, p in (("now", period), ("before", before)):
        inside = (dates >= p.start_time) & (dates <= p.end_time)
        counts[which] = ledgers.accidents.loc[inside, "adcode"].astype(str).value_counts()
    label = f"{period.year}Q{period.quarter}" if rule.every == "quarter" else \
        f"{period.year}-{period.month:02d}"
    rows = []
    for adcode, now in counts["now"].items():
        earlier = int(counts["before"].get(adcode, 0))
        if now > earlier:
            rows.append((f"{rule.name}:{adcode}:{label}", rule.name, adcode, adcode, adcode,
                         label, float(now), f"{int(now)}:{earlier}"))
    outbox.db.executemany(  # an observation, not a state: ended as it is recorded
        "insert or ignore into events (key, rule, kind, site, subject, adcode, started, peak, "
        "detail, state) values (?, ?, 'accidents_rising', ?, ?, ?, ?, ?, ?, 'resolved')",
        rows)


# kind → what records its events: (rule, readings or ledgers, registers, outbox, as_of)
RECORDERS: dict[str, Callable[..., None]] = {
    "alarm": _alarms, "offline": _offline, "online_rate": _online_rate,
    "hazards_overdue": _hazards_overdue, "accidents_rising": _accidents_rising}
# what a rule's message is called once everything it told has ended
ENDED = {"alarm": "resolved", "offline": "online", "online_rate": "rate_restored",
         "hazards_overdue": "rectified", "accidents_rising": "resolved"}
ONLINE_GAP = "5min"  # a sensor silent longer than this is not online (as on the page)


def _notices(rule: Rule, outbox: Outbox, as_of: pd.Timestamp) -> list[Notice]:
    """What ``rule`` has to tell now: per site, its untold events (unless it was told less
    than ``repeat_minutes`` ago), and the end of what it told once all of it has ended."""
    db = outbox.db
    notices = []
    sites = [r[0] for r in db.execute("select distinct site from events where rule = ? and "
                                      "(told = 0 or resolved_told = 0)", (rule.name,))]
    for site in sorted(sites):
        rows = [dict(r) for r in db.execute(
            "select * from events where rule = ? and site = ? and (told = 0 or "
            "(state = 'resolved' and resolved_told = 0)) order by started, subject",
            (rule.name, site))]
        untold = [r for r in rows if not r["told"]]
        last = db.execute("select at from told where rule = ? and site = ?",
                          (rule.name, site)).fetchone()
        due = last is None or as_of - pd.Timestamp(last[0]) >= pd.Timedelta(
            minutes=rule.repeat_minutes)
        if untold and due:
            notices.append(Notice(rule, rule.kind, site, untold[0]["adcode"], untold))
            db.executemany("update events set told = 1, told_at = ?, resolved_told = "
                           "case when state = 'resolved' then 1 else 0 end where key = ?",
                           [(time.time(), r["key"]) for r in untold])
            db.execute("insert or replace into told (rule, site, at) values (?, ?, ?)",
                       (rule.name, site, _stamp(as_of)))
        still_open = db.execute("select count(*) from events where rule = ? and site = ? "
                                "and state != 'resolved'", (rule.name, site)).fetchone()[0]
        ended = [r for r in rows if r["told"] and r["state"] == "resolved"
                 and not r["resolved_told"]]
        if ended and not still_open:
            kind = ENDED[rule.kind]
            notices.append(Notice(rule, kind, site, ended[0]["adcode"], ended))
            db.executemany("update events set resolved_told = 1 where key = ?",
                           [(r["key"],) for r in ended])
    return notices


def _text(notice: Notice, contact: Contact, registers: Registers, rules: Rules) -> dict:
    """Subject and body of ``notice`` for ``contact``, in their language."""
    lang = contact.lang
    by_unit = notice.rule.kind != "alarm" and notice.rule.kind != "offline"  # a unit's
    site = {"firm": ""} if by_unit else registers.site(notice.site)
    unit = registers.units.get(notice.adcode, (notice.adcode, notice.adcode))
    unit_name = unit[1] if lang == "en" else unit[0]
    head = text(f"notice_head_{notice.kind}", lang)
    subject = f"[{head}] {unit_name}" + ("" if by_unit else
                                         f" · {site['firm']} · {notice.site}")
    lines = [text("notice_rule", lang).format(rule=notice.rule.name),
             text("notice_unit", lang).format(unit=unit_name) if by_unit else
             text("notice_where", lang).format(unit=unit_name, firm=site["firm"],
                                               site=notice.site)]
    sensors = registers.sensors.set_index("sensor_id")
    events = notice.events
    if notice.kind == "alarm":
        lines.append(text("notice_alarms", lang).format(
            count=len(events), first=min(e["started"] for e in events),
            levels=("、" if lang == "zh" else ", ").join(
                text(level, lang) for level in ALARM_LEVELS
                if any(e["level"] == level for e in events))))
        for e in events[:10]:
            known = e["subject"] in sensors.index
            kind = VOCABULARIES["sensor_kind"].get(
                str(sensors.loc[e["subject"], "kind"]) if known else "", ("", ""))[
                lang == "en"]
            unit_of = str(sensors.loc[e["subject"], "unit"]) if known else ""
            lines.append(f"- {e['subject']} {kind} "
                         f"{text(e['level'], lang)} {e['started']}"
                         f"{' – ' + e['ended'] if e['ended'] else ''} "
                         f"{text('peak', lang)} {e['peak']:g} {unit_of}".rstrip())
        if len(events) > 10:
            lines.append(text("notice_more", lang).format(count=len(events) - 10))
    elif notice.kind == "hazards_overdue":
        lines.append(text("notice_overdue", lang).format(
            count=len(events), major=sum(e["level"] == "major" for e in events)))
        for e in events[:10]:
            firm = registers.firms.get(e["detail"], e["detail"])
            level = VOCABULARIES["level"].get(e["level"], (e["level"], e["level"]))
            lines.append(f"- {firm} · {level[lang == 'en']} · "
                         + text("notice_deadline", lang).format(deadline=e["started"]))
        if len(events) > 10:
            lines.append(text("notice_more", lang).format(count=len(events) - 10))
    elif notice.kind == "accidents_rising":
        for e in events:
            now, earlier = e["detail"].split(":")
            lines.append(text("notice_accidents", lang).format(
                period=period_label(e["started"], lang), now=now, earlier=earlier))
    elif notice.kind == "online_rate":
        event = events[-1]
        lines.append(text("notice_online_rate", lang).format(
            rate=f"{event['peak']:.0%}", detail=event["detail"],
            threshold=f"{notice.rule.threshold:g}", at=event["started"]))
    elif notice.kind == "offline":
        lines.append(text("notice_offline_since", lang).format(
            since=events[0]["started"], minutes=f"{notice.rule.minutes:g}"))
    else:
        lines.append(text(f"notice_{notice.kind}_since", lang).format(
            at=max(e["ended"] or "" for e in events)))
    page = (f"county?county={notice.adcode}&lang={lang}" if notice.rule.kind in LEDGER_KINDS
            else f"monitoring?lang={lang}" if by_unit
            else f"monitoring?site={notice.site}&lang={lang}")
    link = f"{rules.link}/{page}" if rules.link else ""
    if link:
        lines.append(text("notice_link", lang).format(link=link))
    facts = {"rule": notice.rule.name, "kind": notice.kind, "site": notice.site,
             "adcode": notice.adcode, "firm": site["firm"], "link": link,
             "events": [{k: e[k] for k in ("subject", "level", "started", "ended", "peak",
                                           "detail")}
                        for e in events]}
    markdown = f"### {subject}\n\n" + "\n\n".join(lines)
    return {"subject": subject, "text": "\n".join(lines), "markdown": markdown,
            "facts": facts}


def evaluate(rules: Rules, readings: xr.DataArray, registers: Registers, outbox: Outbox,
             as_of: pd.Timestamp | None = None) -> int:
    """Evaluate the rules of the readings on ``readings`` (sensor × time, up to ``as_of``:
    by default their last time) and queue the messages; how many were queued. One
    transaction."""
    as_of = pd.Timestamp(readings["time"].values[-1]) if as_of is None else as_of
    return _evaluate(rules, READING_KINDS, readings.sel(time=slice(None, as_of)), registers,
                     outbox, as_of)


def evaluate_ledgers(rules: Rules, ledgers: Ledgers, registers: Registers,
                     outbox: Outbox, as_of: pd.Timestamp) -> int:
    """Evaluate the rules of the ledgers as of the day ``as_of`` and queue the messages;
    how many were queued. One transaction."""
    return _evaluate(rules, LEDGER_KINDS, ledgers, registers, outbox, as_of)


def _evaluate(rules: Rules, kinds: tuple[str, ...], data, registers: Registers,
              outbox: Outbox, as_of: pd.Timestamp) -> int:
    queued = 0
    with outbox.transaction():
        for rule in rules.rules:
            if rule.kind not in kinds:
                continue
            RECORDERS[rule.kind](rule, data, registers, outbox, as_of)
            for notice in _notices(rule, outbox, as_of):
                messages = []
                for contact in rules.recipients(rule, notice.adcode):
                    body = _text(notice, contact, registers, rules)
                    for channel, reachable in (("email", contact.email),
                                               ("webhook", contact.webhook)):
                        if reachable:
                            messages.append(Message(
                                f"{notice.key}|{contact.name}|{channel}", rule.name,
                                notice.key, contact.name, channel, notice.adcode,
                                body["subject"], body))
                queued += outbox.enqueue(messages)
    return queued

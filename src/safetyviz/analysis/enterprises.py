"""One enterprise's record and the enterprises that need a visit: every inspection, hazard,
enforcement action and joint operation naming a firm (read with the firm pushed down to the
Parquet files), its headline figures for a period against a year earlier, its timeline, and
a county's firms ranked by open, overdue and repeat hazards and by fines — with its
drill-down tables of any period cut from its history read once (:func:`county_history`).

Figures are computed from records, with the cube's definitions (:mod:`analysis.cube`,
:func:`indicators.rectification_rate`): hazards found by found date, rectified by
rectification date, open and overdue at the end of the period's last day, closures as the
closure, ban and seizure action types. Pure pandas out; no panel, bokeh or holoviews.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import polars as pl

from safetyviz.analysis.records import (
    hazards_open_at,
    inspections_between,
    open_major_hazards,
    overdue_hazards,
    read_county,
)
from safetyviz.core.identity import name_keys
from safetyviz.core.vocab import CLOSURE_ACTIONS
from safetyviz.data.engine import compute
from safetyviz.data.loading import load_table, rows_where

INSPECTION_FIELDS = ["inspection_id", "date", "adcode", "enterprise_id", "sector", "department",
                     "campaign", "joint_operation_id"]
HAZARD_FIELDS = ["hazard_id", "inspection_id", "enterprise_id", "adcode", "sector", "found_date",
                 "level", "category", "deadline", "rectified_date", "listed_supervision"]
ACTION_FIELDS = ["action_id", "date", "adcode", "enterprise_id", "target_name", "sector",
                 "action_type", "persons", "fine_yuan", "joint_operation_id"]
JOINT_FIELDS = ["joint_operation_id", "date", "adcode", "departments", "target"]
# A hazard of a category found again within this long after one was rectified is a repeat.
REPEAT_WITHIN = pd.Timedelta(days=365)
# The headline figures of a profile, in order.
PROFILE_FIGURES = ("inspections", "hazards_found", "hazards_open_end", "hazards_overdue_end",
                   "listed_open_end", "rectification_rate", "median_days_to_rectify",
                   "fines_yuan", "closures")


@dataclass
class EnterpriseRecords:
    """Every record naming one firm (pandas frames in the store's fields, dates as
    ``datetime64``); joint operations are those its inspections or actions were part of."""

    enterprise_id: str
    inspections: pd.DataFrame = field(default_factory=lambda: _empty(INSPECTION_FIELDS))
    hazards: pd.DataFrame = field(default_factory=lambda: _empty(HAZARD_FIELDS))
    actions: pd.DataFrame = field(default_factory=lambda: _empty(ACTION_FIELDS))
    joint_operations: pd.DataFrame = field(default_factory=lambda: _empty(JOINT_FIELDS))

    def __post_init__(self) -> None:
        for name in ("inspections", "hazards", "actions", "joint_operations"):
            setattr(self, name, typed(getattr(self, name)))


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c in _DATES else object)
                         for c in columns})


_DATES = {"date", "found_date", "deadline", "rectified_date"}


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as datetime64, codes and ids as plain strings (categoricals from the store
    carry every county's categories)."""
    frame = frame.reset_index(drop=True).copy()
    for column in frame.columns:
        if column in _DATES and frame[column].dtype != "datetime64[ns]":
            frame[column] = pd.to_datetime(frame[column])
        elif isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def enterprise_records(enterprise_id: str, catalog=None) -> EnterpriseRecords:
    """Every inspection, hazard and enforcement action naming ``enterprise_id`` (only the
    row groups whose statistics admit the id are read), and the joint operations they were
    part of."""
    firm = [str(enterprise_id)]
    inspections = rows_where("inspections", "enterprise_id", firm, INSPECTION_FIELDS, catalog)
    hazards = rows_where("hazards", "enterprise_id", firm, HAZARD_FIELDS, catalog)
    actions = rows_where("enforcement_actions", "enterprise_id", firm, ACTION_FIELDS, catalog)
    operations = {str(i) for frame in (inspections, actions)
                  for i in frame["joint_operation_id"].dropna()}
    joint = rows_where("joint_operations", "joint_operation_id", operations, JOINT_FIELDS,
                       catalog) if operations else _empty(JOINT_FIELDS)
    return EnterpriseRecords(str(enterprise_id), inspections, hazards, actions, joint)


def _between(dates: pd.Series, start, end) -> np.ndarray:
    return ((dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))).to_numpy()


def open_at(hazards: pd.DataFrame, day) -> np.ndarray:
    """Which hazards are open at the end of ``day``: found by then, not rectified by then."""
    day = pd.Timestamp(day)
    return ((hazards["found_date"] <= day)
            & (hazards["rectified_date"].isna() | (hazards["rectified_date"] > day))).to_numpy()


def profile_figures(records: EnterpriseRecords, start, end) -> dict[str, float]:
    """The headline figures of one firm for the period [start, end] (see
    :data:`PROFILE_FIGURES`): inspections; hazards found; open, overdue (past their deadline)
    and listed for supervision (挂牌督办) among those open at the end of ``end``; the
    rectification rate (rectified in the period ÷ found in it, NaN when none was found); the
    median days from finding to rectifying of those rectified in the period (NaN when none
    was); fines (yuan) and closures of the period."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    h, a = records.hazards, records.actions
    found = _between(h["found_date"], start, end)
    rectified = _between(h["rectified_date"], start, end)
    still_open = open_at(h, end)
    days = (h["rectified_date"] - h["found_date"]).dt.days[rectified]
    in_period = _between(a["date"], start, end)
    return {
        "inspections": float(_between(records.inspections["date"], start, end).sum()),
        "hazards_found": float(found.sum()),
        "hazards_open_end": float(still_open.sum()),
        "hazards_overdue_end": float((still_open & (h["deadline"] < end).to_numpy()).sum()),
        "listed_open_end": float((still_open & h["listed_supervision"].fillna(False)
                                  .astype(bool).to_numpy()).sum()),
        "rectification_rate": float(rectified.sum() / found.sum()) if found.any() else np.nan,
        "median_days_to_rectify": float(days.median()) if len(days) else np.nan,
        "fines_yuan": float(pd.to_numeric(a["fine_yuan"][in_period]).fillna(0).sum()),
        "closures": float((a["action_type"][in_period].astype(str)
                           .isin(CLOSURE_ACTIONS)).sum()),
    }


def year_earlier(start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The same dates a year earlier (what a period is compared with)."""
    return (pd.Timestamp(start) - pd.DateOffset(years=1),
            pd.Timestamp(end) - pd.DateOffset(years=1))


TIMELINE_KINDS = ("inspection", "hazard", "action", "joint_operation")


def timeline(records: EnterpriseRecords, as_of) -> pd.DataFrame:
    """Every event of the firm's record, the latest first: ``date``, ``kind`` (one of
    :data:`TIMELINE_KINDS`), ``record`` (its id), ``end`` (a hazard's rectification date,
    or ``as_of`` while it is open), ``status`` (a hazard's: rectified / open / overdue at
    ``as_of``; an action's type; an inspection's department; a joint operation's target),
    ``deadline`` (hazards) and ``fine_yuan`` (actions)."""
    as_of = pd.Timestamp(as_of)
    h = records.hazards
    hazard_status = np.where(h["rectified_date"].notna() & (h["rectified_date"] <= as_of),
                             "rectified", np.where(h["deadline"] < as_of, "overdue", "open"))
    parts = [
        pd.DataFrame({"date": records.inspections["date"], "kind": "inspection",
                      "record": records.inspections["inspection_id"],
                      "status": records.inspections["department"]}),
        pd.DataFrame({"date": h["found_date"], "kind": "hazard", "record": h["hazard_id"],
                      "end": h["rectified_date"].where(hazard_status == "rectified", as_of),
                      "status": hazard_status, "deadline": h["deadline"],
                      "level": h["level"], "category": h["category"]}),
        pd.DataFrame({"date": records.actions["date"], "kind": "action",
                      "record": records.actions["action_id"],
                      "status": records.actions["action_type"],
                      "fine_yuan": records.actions["fine_yuan"]}),
        pd.DataFrame({"date": records.joint_operations["date"], "kind": "joint_operation",
                      "record": records.joint_operations["joint_operation_id"],
                      "status": records.joint_operations["target"]}),
    ]
    columns = ["date", "kind", "record", "end", "status", "deadline", "level", "category",
               "fine_yuan"]
    frame = pd.concat([p for p in parts if len(p)] or [pd.DataFrame(columns=columns)],
                      ignore_index=True).reindex(columns=columns)
    for column in ("date", "end", "deadline"):
        frame[column] = pd.to_datetime(frame[column])
    order = frame["kind"].map({k: i for i, k in enumerate(TIMELINE_KINDS)})
    return frame.assign(_order=order).sort_values(
        ["date", "_order", "record"], ascending=[False, True, True]).drop(
        columns="_order").reset_index(drop=True)


def repeat_hazards(hazards: pd.DataFrame) -> np.ndarray:
    """Which hazards repeat one of their firm's: the same category found again within
    :data:`REPEAT_WITHIN` after a hazard of that category was rectified (strictly after)."""
    h = hazards[["enterprise_id", "category", "found_date", "rectified_date"]].copy()
    h["enterprise_id"] = h["enterprise_id"].astype(str)
    h["category"] = h["category"].astype(str)
    h["_row"] = np.arange(len(h))
    rectified = h.dropna(subset=["rectified_date"])[
        ["enterprise_id", "category", "rectified_date"]].sort_values("rectified_date")
    probes = h.dropna(subset=["found_date"]).sort_values("found_date")
    if not len(rectified) or not len(probes):
        return np.zeros(len(h), dtype=bool)
    # the latest rectification of the same firm and category before each finding
    joined = pd.merge_asof(probes, rectified, left_on="found_date", right_on="rectified_date",
                           by=["enterprise_id", "category"], allow_exact_matches=False,
                           direction="backward", suffixes=("", "_before"))
    repeat = joined["rectified_date_before"].notna() & (
        joined["found_date"] - joined["rectified_date_before"] <= REPEAT_WITHIN)
    out = np.zeros(len(h), dtype=bool)
    out[joined.loc[repeat.to_numpy(), "_row"].to_numpy()] = True
    return out


RANKING_FIGURES = ("open_hazards", "overdue_hazards", "repeat_hazards", "fines_yuan")


def enterprise_ranking(hazards: pd.DataFrame, actions: pd.DataFrame, start, end,
                       limit: int | None = 50, repeats: np.ndarray | None = None
                       ) -> pd.DataFrame:
    """The firms that need a visit, from one area's records: per ``enterprise_id``, hazards
    open and overdue at the end of ``end``, repeat hazards found in [start, end]
    (:func:`repeat_hazards`, or ``repeats`` if already computed for these rows) and fines of
    the period; most open first, then overdue, repeat, fines; firms with none of these left
    out; at most ``limit`` rows."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    named = hazards["enterprise_id"].notna().to_numpy()
    h = hazards[named].reset_index(drop=True)
    repeats = repeat_hazards(h) if repeats is None else np.asarray(repeats)[named]
    still_open = open_at(h, end)
    figures = pd.DataFrame({
        "enterprise_id": h["enterprise_id"].astype(str).to_numpy(),
        "open_hazards": still_open,
        "overdue_hazards": still_open & (h["deadline"] < end).to_numpy(),
        "repeat_hazards": repeats & _between(h["found_date"], start, end)})
    by_firm = figures.groupby("enterprise_id").sum()
    a = actions[(actions["enterprise_id"].notna() & _between(actions["date"], start, end)
                 ).to_numpy()]
    fines = pd.to_numeric(a["fine_yuan"]).fillna(0).groupby(
        a["enterprise_id"].astype(str).to_numpy()).sum()
    out = by_firm.join(fines.rename("fines_yuan"), how="outer").fillna(0)
    out = out.astype({c: "int64" for c in RANKING_FIGURES})
    out = out[(out[list(RANKING_FIGURES)] > 0).any(axis=1).to_numpy()]
    out = out.sort_values(list(RANKING_FIGURES), ascending=False, kind="stable")
    out = out.rename_axis("enterprise_id").reset_index()
    return out.head(limit) if limit else out


def area_ranking(county: str, start, end, catalog=None, limit: int | None = 50
                 ) -> pd.DataFrame:
    """:func:`enterprise_ranking` of one county, read from the store (the county pushed
    down): its hazards found by ``end`` and its enforcement actions of the period."""
    end_day = pd.Timestamp(end).date()
    hazards = compute(load_table("hazards", ["enterprise_id", "category", "found_date",
                                             "deadline", "rectified_date"], catalog,
                                 filters=[("adcode", "==", county),
                                          ("found_date", "<=", end_day)]))
    actions = compute(load_table("enforcement_actions", ["enterprise_id", "date", "fine_yuan"],
                                 catalog, filters=[("adcode", "==", county),
                                                   ("date", ">=", pd.Timestamp(start).date()),
                                                   ("date", "<=", end_day)]))
    return enterprise_ranking(typed(hazards), typed(actions), start, end, limit)


def firms_named(targets: pd.DataFrame, register: pd.DataFrame) -> pd.Series:
    """The register's firm each row of ``targets`` (``adcode``, ``target``: a name as
    written) names: the one firm of that county whose name key (:func:`identity.name_key`)
    is the target's; None where none or several are (a name alone never picks at random)."""
    if not len(targets) or not len(register):
        return pd.Series([None] * len(targets), index=targets.index, dtype=object)
    firms = pd.DataFrame({
        "adcode": register["adcode"].astype(str).to_numpy(),
        "key": name_keys(pl.Series(register["name"].fillna("").astype(str))).to_numpy(),
        "enterprise_id": register["enterprise_id"].astype(str).to_numpy()})
    unique = firms.drop_duplicates(["adcode", "key"], keep=False)
    wanted = pd.DataFrame({
        "adcode": targets["adcode"].astype(str).to_numpy(),
        "key": name_keys(pl.Series(targets["target"].fillna("").astype(str))).to_numpy()})
    found = wanted.merge(unique, on=["adcode", "key"], how="left")["enterprise_id"]
    return pd.Series([None if pd.isna(f) else f for f in found], index=targets.index,
                     dtype=object)


def county_history(county: str, catalog=None) -> dict[str, pd.DataFrame]:
    """Every hazard, inspection and enforcement action of ``county`` in the columns its
    drill-downs show (:func:`records.read_county`), and which hazards are repeats
    (``repeats``: one column, ``repeat``, row for row with ``hazards``; a repeat depends only
    on hazards found before it, so one computation serves every period): what
    :func:`period_records` cuts any period from, so that a county is read once, not once
    per period."""
    history = read_county(county, catalog)
    history["repeats"] = pd.DataFrame({"repeat": repeat_hazards(typed(history["hazards"]))})
    return history


def period_records(history: dict[str, pd.DataFrame], start, end, as_of
                   ) -> dict[str, pd.DataFrame]:
    """A county's drill-down tables for the period [start, end], hazards as of the end of
    ``as_of``, cut from its :func:`county_history`: open major hazards, overdue hazards,
    the period's inspections and the firms that need a visit — each what the query of that
    name on the store gives (:func:`records.open_major_hazards`,
    :func:`records.overdue_hazards`, :func:`records.latest_inspections`,
    :func:`area_ranking`)."""
    as_of = pd.Timestamp(as_of)
    hazards = history["hazards"]
    found = (hazards["found_date"] <= as_of).to_numpy()
    actions = history["enforcement_actions"]
    dated = ((actions["date"] >= pd.Timestamp(start)) & (actions["date"] <= as_of)).to_numpy()
    ranking = enterprise_ranking(
        typed(hazards.loc[found, ["enterprise_id", "category", "found_date", "deadline",
                                  "rectified_date"]]),
        typed(actions[dated]), start, as_of, repeats=history["repeats"]["repeat"][found])
    still_open = hazards_open_at(hazards, as_of)
    return {"open_major_hazards": open_major_hazards("", as_of, hazards=still_open),
            "overdue_hazards": overdue_hazards("", as_of, hazards=still_open),
            "inspections": inspections_between(history["inspections"], start, end),
            "firms_to_visit": ranking}

"""Reference figures: a published bulletin's numbers and how to compute each from records.

A reference file has one row per published figure (``key, adcode, region, period_start,
period_end, metric, op, value, definition, source_quote``). This module owns the metric
definitions (which table, which filter, count or sum) and the comparison ops, so the demo
generator, the tests and the notebooks all compute a figure the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from safetyviz.core.errors import UserError
from safetyviz.core.paths import shipped_dir
from safetyviz.core.vocab import ACTION_TYPES, DETENTION_ACTIONS

# Enterprise counts by licence, as the bulletin names them.
LICENCE_METRICS = {
    "hazchem_production_enterprises": "hazchem_production",
    "hazchem_use_permit_enterprises": "hazchem_use",
    "oil_depots": "oil_depot",
}
STATIC_METRICS = {"major_hazard_sites", "major_hazard_sites_online", "online_rate",
                  "dual_prevention_enterprises", *LICENCE_METRICS}
PERIOD_METRICS = {"inspections", "enterprises_inspected", "hazards_found", "hazards_rectified",
                  "fines_yuan", "joint_operations", "accidents", "deaths", *ACTION_TYPES}
METRICS = STATIC_METRICS | PERIOD_METRICS
CHECKED_OPS = ("eq", "range", "approx", "lt_same_period_last_year")

REFERENCE_COLUMNS = ["key", "adcode", "region", "period_start", "period_end", "metric", "op",
                     "value", "definition", "source_quote"]


def read_reference(path: Path) -> pd.DataFrame:
    """Read and check a reference file; errors name the file, row and column."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such reference file") from None
    missing = [c for c in REFERENCE_COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}")
    for i, row in frame.iterrows():
        where = f"{path}, row {i + 2}"
        for column in ("period_start", "period_end"):
            try:
                pd.Timestamp(row[column])
            except ValueError:
                raise UserError(f"{where}, column {column}: not a date: {row[column]!r}") from None
        kind, _ = parse_op(row["op"], where)
        if kind in CHECKED_OPS and row["metric"] not in METRICS:
            raise UserError(f"{where}, column metric: unknown metric {row['metric']!r}")
        if kind in ("eq", "approx") and not _is_number(row["value"]):
            raise UserError(f"{where}, column value: not a number: {row['value']!r}")
    frame["period_start"] = pd.to_datetime(frame["period_start"])
    frame["period_end"] = pd.to_datetime(frame["period_end"])
    return frame


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_op(op: str, where: str = "") -> tuple[str, tuple[float, ...]]:
    """``eq`` → ('eq', ()); ``range_370_379`` → ('range', (370, 379)); ``approx_0.005`` →
    ('approx', (0.005,)); also ``lt_same_period_last_year``, ``reference``, ``info``."""
    if op in ("eq", "lt_same_period_last_year", "reference", "info"):
        return op, ()
    if m := re.fullmatch(r"range_(\d+(?:\.\d+)?)_(\d+(?:\.\d+)?)", op):
        return "range", (float(m[1]), float(m[2]))
    if m := re.fullmatch(r"approx_(\d+(?:\.\d+)?)", op):
        return "approx", (float(m[1]),)
    raise UserError(f"{where + ', column op: ' if where else ''}unknown op {op!r}")


def target_value(row: Mapping) -> float | None:
    """The single value a generator should aim at for a row (the middle of a range)."""
    kind, params = parse_op(row["op"])
    if kind == "range":
        return float(np.floor((params[0] + params[1]) / 2))
    if kind in ("eq", "approx"):
        return float(row["value"])
    return None


def scope(adcode: str, city: str, counties: list[str]) -> list[str]:
    """The county adcodes a row's adcode covers: all counties for the city, else itself."""
    if adcode == city:
        return list(counties)
    if adcode in counties:
        return [adcode]
    raise UserError(f"adcode {adcode} is neither the city {city} nor one of its counties")


def _in(frame: pd.DataFrame, column: str, start, end) -> pd.Series:
    day = frame[column].dt.normalize()
    return (day >= start) & (day <= end)


def compute(tables: Mapping[str, pd.DataFrame], metric: str, adcodes: list[str],
            start: pd.Timestamp, end: pd.Timestamp) -> float:
    """The value of ``metric`` over the counties ``adcodes`` and the inclusive dates
    [start, end], from record-level tables (pandas, dates as datetime64)."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)

    def rows(table: str, date_column: str | None = None) -> pd.DataFrame:
        frame = tables[table]
        mask = frame["adcode"].astype(str).isin(adcodes)
        if date_column:
            mask &= _in(frame, date_column, start, end)
        return frame[mask]

    if metric == "inspections":
        return float(len(rows("inspections", "date")))
    if metric == "enterprises_inspected":
        return float(rows("inspections", "date")["enterprise_id"].dropna().nunique())
    if metric == "hazards_found":
        return float(len(rows("hazards", "found_date")))
    if metric == "hazards_rectified":
        return float(len(rows("hazards", "rectified_date")))
    if metric == "fines_yuan":
        return float(rows("enforcement_actions", "date")["fine_yuan"].sum())
    if metric in ACTION_TYPES:
        actions = rows("enforcement_actions", "date")
        actions = actions[actions["action_type"].astype(str) == metric]
        return float(actions["persons"].sum() if metric in DETENTION_ACTIONS else len(actions))
    if metric == "joint_operations":
        return float(len(rows("joint_operations", "date")))
    if metric == "accidents":
        return float(len(rows("accidents", "date")))
    if metric == "deaths":
        return float(rows("accidents", "date")["deaths"].sum())
    if metric == "major_hazard_sites":
        return float(len(rows("major_hazard_sites")))
    if metric == "major_hazard_sites_online":
        sites = rows("major_hazard_sites")
        return float((sites["online_since"].dt.normalize() <= end).sum())
    if metric == "online_rate":
        total = compute(tables, "major_hazard_sites", adcodes, start, end)
        online = compute(tables, "major_hazard_sites_online", adcodes, start, end)
        return online / total if total else float("nan")
    if metric in LICENCE_METRICS:
        enterprises = rows("enterprises")
        return float((enterprises["licence"].astype(str) == LICENCE_METRICS[metric]).sum())
    if metric == "dual_prevention_enterprises":
        e = rows("enterprises")
        return float(((e["scale"].astype(str) == "above")
                      & e["dual_prevention"].astype(str).isin(["built", "accepted"])).sum())
    raise UserError(f"unknown metric {metric!r}")


def compare(tables: Mapping[str, pd.DataFrame], reference: pd.DataFrame, city: str,
            counties: list[str]) -> pd.DataFrame:
    """Every checked reference row beside the value computed from the records.

    Columns: key, region, period, metric, published, computed, matches, source_quote. For a
    year-over-year row, ``published`` is the claim and ``computed`` shows both years.
    """
    out = []
    for row in reference.to_dict("records"):
        kind, params = parse_op(row["op"])
        if kind not in CHECKED_OPS:
            continue
        adcodes = scope(row["adcode"], city, counties)
        start, end = row["period_start"], row["period_end"]
        value = compute(tables, row["metric"], adcodes, start, end)
        if kind == "lt_same_period_last_year":
            before = compute(tables, row["metric"], adcodes, start - pd.DateOffset(years=1),
                             end - pd.DateOffset(years=1))
            published, ok = "低于上年同期", value < before
            computed = f"{value:g}（上年同期 {before:g}）"
        elif kind == "range":
            published = f"{params[0]:g}–{params[1]:g}"
            computed, ok = f"{value:g}", params[0] <= value <= params[1]
        elif kind == "approx":
            target = float(row["value"])
            published, computed = f"{target:g}", f"{value:.4f}"
            ok = abs(value - target) <= params[0]
        else:
            published, computed = f"{float(row['value']):g}", f"{value:g}"
            ok = value == float(row["value"])
        period = (f"{start:%Y-%m-%d}" if start == end else f"{start:%Y-%m-%d} – {end:%Y-%m-%d}")
        out.append({"key": row["key"], "region": row["region"], "period": period,
                    "metric": row["metric"], "published": published, "computed": computed,
                    "matches": bool(ok), "source_quote": row["source_quote"]})
    return pd.DataFrame(out)


def province_online_rate(city: str, start, end) -> tuple[float, str]:
    """The province's published online rate for a date in the period, if a reference file
    shipped with the project gives one (it is not in the records: it is the province's)."""
    province = city[:2] + "0000"
    folder = shipped_dir() / "reference"
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
        reference = read_reference(path)
        rows = reference[(reference["adcode"] == province)
                         & (reference["metric"] == "online_rate")
                         & (reference["period_end"] >= start) & (reference["period_end"] <= end)]
        if len(rows):
            row = rows.iloc[-1]
            return float(row["value"]), f"{path.name}: {row['key']}"
    return math.nan, ""

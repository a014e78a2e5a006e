"""The cube: every record table aggregated to an ``xr.Dataset`` with dims (adcode, month,
sector). :func:`build_cube` is the one place that computes; everything downstream reads it.

Definitions (DESIGN.md §4): counts by the record's own date (``hazards_found`` by found date,
``hazards_rectified`` by rectification date, whenever found); ``hazards_open_end`` and
``hazards_overdue_end`` are stocks at the end of each month (found on or before the month's last
day and not rectified by then; overdue when the deadline is before that day); ``fines_yuan``
sums all actions' fines; ``detentions`` sums persons; ``closures`` counts the closure, ban and
seizure action types; ``enterprises_inspected`` is a distinct count per cell and cannot be
summed over months; ``joint_operations`` has no sector.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import xarray as xr

from .errors import UserError
from .loading import load_regions, load_table
from .paths import cube_path
from .store import publish
from .vocab import CLOSURE_ACTIONS, CUBE_VARIABLES, DETENTION_ACTIONS, PENALTY_ACTIONS, SECTORS

KEYS = ["adcode", "month", "sector"]
NEVER = 10**6  # month index of "not rectified" (after any real month)


def _month(dates):
    """Month index (year × 12 + month − 1) of a datetime column."""
    return dates.dt.year * 12 + dates.dt.month - 1


def _codes(frame, columns):
    """Categoricals as plain strings so that group keys are values, not categories."""
    return frame.assign(**{c: frame[c].astype(str) for c in columns})


def _lazy_aggregates(catalog) -> dict[str, object]:
    """Dask graphs of every aggregate; computed together so each file is read once."""
    out = {}
    ins = load_table("inspections", ["date", "adcode", "sector", "enterprise_id"], catalog)
    ins = _codes(ins, ["adcode", "sector"]).assign(month=lambda f: _month(f["date"]))
    out["inspections"] = ins.groupby(KEYS).size()
    out["enterprises_inspected"] = (
        ins.dropna(subset=["enterprise_id"]).drop_duplicates(KEYS + ["enterprise_id"])
        .groupby(KEYS).size())

    hz = load_table("hazards", ["adcode", "sector", "found_date", "level", "deadline",
                                "rectified_date"], catalog)
    hz = _codes(hz, ["adcode", "sector", "level"])
    hz = hz.assign(
        month=_month(hz["found_date"]),
        rectified_month=_month(hz["rectified_date"]).fillna(NEVER).astype("int64"),
        overdue_month=_month(hz["deadline"] + pd.Timedelta(days=1)))
    out["hazards_found"] = hz.groupby(KEYS).size()
    out["major_hazards_found"] = hz[hz["level"] == "major"].groupby(KEYS).size()
    rectified = hz[hz["rectified_month"] != NEVER]
    out["hazards_rectified"] = (rectified.assign(month=rectified["rectified_month"])
                                .groupby(KEYS).size())
    # Stocks: a hazard is open from its found month until the month before its rectification
    # month; grouping by (start, stop) pairs keeps this small whatever the record count.
    out["open_spans"] = hz.groupby(["adcode", "sector", "month", "rectified_month"]).size()
    out["overdue_spans"] = hz.groupby(
        ["adcode", "sector", "overdue_month", "rectified_month"]).size()

    act = load_table("enforcement_actions",
                     ["date", "adcode", "sector", "action_type", "persons", "fine_yuan"], catalog)
    act = _codes(act, ["adcode", "sector", "action_type"]).assign(month=lambda f: _month(f["date"]))
    out["fines_yuan"] = act.groupby(KEYS)["fine_yuan"].sum()
    out["penalty_cases"] = act[act["action_type"].isin(PENALTY_ACTIONS)].groupby(KEYS).size()
    out["closures"] = act[act["action_type"].isin(CLOSURE_ACTIONS)].groupby(KEYS).size()
    out["detentions"] = (act[act["action_type"].isin(DETENTION_ACTIONS)]
                         .groupby(KEYS)["persons"].sum())

    joint = load_table("joint_operations", ["date", "adcode"], catalog)
    joint = _codes(joint, ["adcode"]).assign(month=lambda f: _month(f["date"]))
    out["joint_operations"] = joint.groupby(["adcode", "month"]).size()

    acc = load_table("accidents", ["date", "adcode", "sector", "deaths", "injuries"], catalog)
    acc = _codes(acc, ["adcode", "sector"]).assign(month=lambda f: _month(f["date"]))
    out["accidents"] = acc.groupby(KEYS).size()
    out["deaths"] = acc.groupby(KEYS)["deaths"].sum()
    out["injuries"] = acc.groupby(KEYS)["injuries"].sum()
    return out


def _dense(series: pd.Series, adcodes, months, sectors, dims=("adcode", "month", "sector")):
    """A (adcode, month[, sector]) count series as a zero-filled int64 array."""
    shape = (len(adcodes), len(months), len(sectors))[: len(dims)]
    array = np.zeros(shape, np.int64)
    if len(series):
        index = series.index.to_frame(index=False)
        a = pd.Index(adcodes).get_indexer(index["adcode"])
        m = index["month"].to_numpy() - months[0]
        pos = (a, m) if len(dims) == 2 else (a, m, pd.Index(sectors).get_indexer(index["sector"]))
        np.add.at(array, pos, series.to_numpy().astype(np.int64))
    return array


def _stock(spans: pd.Series, adcodes, months, sectors) -> np.ndarray:
    """Count at each month end of items alive from ``start`` (incl.) to ``stop`` (excl.)."""
    delta = np.zeros((len(adcodes), len(months) + 1, len(sectors)), np.int64)
    if len(spans):
        index = spans.index.to_frame(index=False)
        start, stop = index.iloc[:, 2].to_numpy(), index.iloc[:, 3].to_numpy()
        keep = start < stop
        a = pd.Index(adcodes).get_indexer(index["adcode"])[keep]
        s = pd.Index(sectors).get_indexer(index["sector"])[keep]
        n = spans.to_numpy()[keep]
        first, last = months[0], months[-1]
        start = np.clip(start[keep], first, last + 1) - first
        stop = np.clip(stop[keep], first, last + 1) - first
        np.add.at(delta, (a, start, s), n)
        np.add.at(delta, (a, stop, s), -n)
    return np.cumsum(delta, axis=1)[:, :-1, :]


def build_cube(catalog=None) -> xr.Dataset:
    """Aggregate the store (through the catalog) into the cube."""
    regions = load_regions(catalog)
    adcodes = list(regions["adcode"])
    sectors = list(SECTORS)
    (aggregates,) = dask.compute(_lazy_aggregates(catalog))

    for name, series in aggregates.items():
        index = series.index.to_frame(index=False)
        unknown = sorted(set(index["adcode"]) - set(adcodes))
        if unknown:
            raise UserError(f"{name}: records with adcode(s) {', '.join(unknown)} that the "
                            "regions do not know")
        if "sector" in index:
            bad = sorted(set(index["sector"]) - set(sectors))
            if bad:
                raise UserError(f"{name}: unknown sector code(s) {', '.join(bad)}")
    month_values = np.concatenate([series.index.get_level_values("month").to_numpy()
                                   for series in aggregates.values()
                                   if "month" in series.index.names])
    if month_values.size == 0:
        raise UserError("the store holds no dated records: nothing to aggregate")
    months = np.arange(month_values.min(), month_values.max() + 1)

    data = {}
    for var in CUBE_VARIABLES:
        if var.name == "hazards_open_end":
            values = _stock(aggregates["open_spans"], adcodes, months, sectors)
        elif var.name == "hazards_overdue_end":
            values = _stock(aggregates["overdue_spans"], adcodes, months, sectors)
        elif not var.by_sector:
            values = _dense(aggregates[var.name], adcodes, months, sectors, ("adcode", "month"))
        else:
            values = _dense(aggregates[var.name], adcodes, months, sectors)
        dims = ("adcode", "month", "sector") if var.by_sector else ("adcode", "month")
        data[var.name] = (dims, values, {
            "long_name_zh": var.long_name_zh, "long_name_en": var.long_name_en,
            "units": var.units, "units_zh": var.units_zh, "over_time": var.over_time})

    month_starts = pd.to_datetime(
        [f"{m // 12:04d}-{m % 12 + 1:02d}-01" for m in months]).as_unit("ns")
    return xr.Dataset(
        data,
        coords={"adcode": np.array(adcodes, dtype=object), "month": month_starts.to_numpy(),
                "sector": np.array(sectors, dtype=object),
                "name_zh": ("adcode", np.array(regions["name_zh"], dtype=object))},
        attrs={"title": "safetyviz cube", "city_adcode": str(regions["parent_adcode"].iloc[0])})


def write_cube(cube: xr.Dataset, data_dir: Path) -> Path:
    """Write the cube as Zarr; ``cube/cube.zarr`` switches to it atomically."""
    link = cube_path(data_dir)
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_dir() and not link.is_symlink():  # written by an earlier layout
        shutil.rmtree(link)

    def build(new: Path, old: Path | None) -> None:
        cube.to_zarr(new, mode="w", consolidated=True, zarr_format=2)

    publish(link, build)
    return link


def over_period(cube: xr.Dataset, name: str, start, end) -> xr.DataArray:
    """Variable ``name`` over the months of [start, end]: flows summed, stocks at the last
    month. Distinct counts cannot be combined from months and raise."""
    var = cube[name]
    in_period = var.sel(month=slice(pd.Timestamp(start), pd.Timestamp(end)))
    how = var.attrs.get("over_time", "sum")
    if how == "distinct":
        raise ValueError(f"{name} is a distinct count: compute it from records for a period")
    if in_period.sizes["month"] == 0:
        return xr.zeros_like(var.isel(month=0, drop=True))
    if how == "last":
        return in_period.isel(month=-1, drop=True)
    return in_period.sum("month")


def refresh_cube(data_dir: Path) -> Path | None:
    """Rebuild the cube of ``data_dir`` after its store changed (if it has a cube)."""
    from .catalog import ensure_catalog, open_catalog

    if not cube_path(data_dir).exists():
        return None
    return write_cube(build_cube(open_catalog(ensure_catalog(data_dir))), data_dir)

"""The cube: every record table aggregated to an ``xr.Dataset`` with dims (adcode, month,
sector). :func:`build_cube` is the one place that computes; everything downstream reads it.

Definitions (DESIGN.md §4): counts by the record's own date (``hazards_found`` by found date,
``hazards_rectified`` by rectification date, whenever found); ``hazards_open_end`` and
``hazards_overdue_end`` are stocks at the end of each month (found on or before the month's last
day and not rectified by then; overdue when the deadline is before that day); ``fines_yuan``
sums all actions' fines; ``detentions`` sums persons; ``closures`` counts the closure, ban and
seizure action types; ``hazards_listed_open_end`` is the open stock of listed-supervision
(挂牌督办) hazards; ``median_days_to_rectify`` is the median of (rectified − found) in days
over the hazards rectified in the cell's month (NaN where none); ``enterprises_inspected`` is a
distinct count per cell. Neither of the last two can be combined over months or counties;
``joint_operations`` has no sector.

Every aggregate is a group-by count or sum whose partial results combine by addition, so Dask
reduces them without a shuffle at any size; the median comes from a per-cell histogram of
days, which adds up the same way.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import xarray as xr

from .engine import dask_scheduler
from .errors import UserError
from .loading import load_regions, load_table
from .paths import cube_path
from .store import SCHEMAS, current_version, missing_tables, publish
from .vocab import CLOSURE_ACTIONS, CUBE_VARIABLES, DETENTION_ACTIONS, PENALTY_ACTIONS, SECTORS

KEYS = ["adcode", "month", "sector"]
NEVER = 10**6  # month index of "not rectified" (after any real month)
BUILT_FROM = "store_versions.json"  # beside the Zarr metadata; zarr ignores it


def _month(dates):
    """Month index (year × 12 + month − 1) of a datetime column."""
    return dates.dt.year * 12 + dates.dt.month - 1


def _codes(frame, columns):
    """Categoricals as plain strings so that group keys are values, not categories."""
    return frame.assign(**{c: frame[c].astype(str) for c in columns})


# Columns each dated table contributes to the cube.
SOURCE_COLUMNS = {
    "inspections": ["date", "adcode", "sector", "enterprise_id"],
    "hazards": ["adcode", "sector", "found_date", "level", "deadline", "rectified_date",
                "listed_supervision"],
    "enforcement_actions": ["date", "adcode", "sector", "action_type", "persons", "fine_yuan"],
    "joint_operations": ["date", "adcode"],
    "accidents": ["date", "adcode", "sector", "deaths", "injuries"],
}


def aggregate(table: str, frame) -> dict[str, object]:
    """The cube's aggregates from one table's records (a dask or a pandas DataFrame): series
    indexed by (adcode, month[, sector]), or by (adcode, sector, start, stop) month spans for
    the hazard stocks. Lazy for dask input."""
    out = {}
    if table == "inspections":
        ins = _codes(frame, ["adcode", "sector"]).assign(month=lambda f: _month(f["date"]))
        out["inspections"] = ins.groupby(KEYS).size()
        out["enterprises_inspected"] = (
            ins.dropna(subset=["enterprise_id"]).drop_duplicates(KEYS + ["enterprise_id"])
            .groupby(KEYS).size())
    elif table == "hazards":
        hz = _codes(frame, ["adcode", "sector", "level"])
        hz = hz.assign(
            month=_month(hz["found_date"]),
            rectified_month=_month(hz["rectified_date"]).fillna(NEVER).astype("int64"),
            overdue_month=_month(hz["deadline"] + pd.Timedelta(days=1)).fillna(NEVER)
            .astype("int64"),
            listed=hz["listed_supervision"].astype("boolean").fillna(False).astype(bool))
        out["hazards_found"] = hz.groupby(KEYS).size()
        out["major_hazards_found"] = hz[hz["level"] == "major"].groupby(KEYS).size()
        rectified = hz[hz["rectified_month"] != NEVER]
        out["hazards_rectified"] = (rectified.assign(month=rectified["rectified_month"])
                                    .groupby(KEYS).size())
        # Stocks: a hazard is open from its found month until the month before its
        # rectification month; grouping by (start, stop) keeps this small at any size.
        out["open_spans"] = hz.groupby(["adcode", "sector", "month", "rectified_month"]).size()
        out["overdue_spans"] = hz.groupby(
            ["adcode", "sector", "overdue_month", "rectified_month"]).size()
        out["listed_spans"] = hz[hz["listed"]].groupby(
            ["adcode", "sector", "month", "rectified_month"]).size()
        out["rectify_days"] = (rectified.assign(
            month=rectified["rectified_month"],
            days=(rectified["rectified_date"] - rectified["found_date"]).dt.days)
            .groupby(KEYS + ["days"]).size())
    elif table == "enforcement_actions":
        act = _codes(frame, ["adcode", "sector", "action_type"]).assign(
            month=lambda f: _month(f["date"]))
        out["fines_yuan"] = act.groupby(KEYS)["fine_yuan"].sum()
        out["penalty_cases"] = act[act["action_type"].isin(PENALTY_ACTIONS)].groupby(KEYS).size()
        out["closures"] = act[act["action_type"].isin(CLOSURE_ACTIONS)].groupby(KEYS).size()
        out["detentions"] = (act[act["action_type"].isin(DETENTION_ACTIONS)]
                             .groupby(KEYS)["persons"].sum())
    elif table == "joint_operations":
        joint = _codes(frame, ["adcode"]).assign(month=lambda f: _month(f["date"]))
        out["joint_operations"] = joint.groupby(["adcode", "month"]).size()
    elif table == "accidents":
        acc = _codes(frame, ["adcode", "sector"]).assign(month=lambda f: _month(f["date"]))
        out["accidents"] = acc.groupby(KEYS).size()
        out["deaths"] = acc.groupby(KEYS)["deaths"].sum()
        out["injuries"] = acc.groupby(KEYS)["injuries"].sum()
    return out


def _empty(table: str) -> pd.DataFrame:
    """A table with no records yet (real data may come without, say, joint operations)."""
    kinds = {"date32[day]": "datetime64[ns]", "int32": "int64", "int64": "int64"}
    return pd.DataFrame({f.name: pd.Series(dtype=kinds.get(str(f.type), object))
                         for f in SCHEMAS[table] if f.name in SOURCE_COLUMNS[table]})


def _lazy_aggregates(catalog, present: set[str] | None = None) -> dict[str, object]:
    """Dask graphs of every aggregate; computed together so each file is read once.
    Tables not in ``present`` (when given) count as empty."""
    out = {}
    for table, columns in SOURCE_COLUMNS.items():
        if present is None or table in present:
            frame = load_table(table, columns, catalog)
        else:
            frame = _empty(table)
        out.update(aggregate(table, frame))
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


def _check_keys(aggregates: dict, adcodes, sectors) -> None:
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


SOURCE_OF = {"hazards_open_end": "open_spans", "hazards_overdue_end": "overdue_spans",
             "hazards_listed_open_end": "listed_spans", "median_days_to_rectify": "rectify_days"}
# Not additive: recomputed from the store's records for the months a batch touches, as
# (table, date column that places a record in its month).
RECOMPUTED = {"enterprises_inspected": ("inspections", "date"),
              "median_days_to_rectify": ("hazards", "rectified_date")}


def _median(histogram: pd.Series, adcodes, months, sectors) -> np.ndarray:
    """Per-cell medians from a (adcode, month, sector, days) → count histogram; NaN where a
    cell has none. The median of an even count is the mean of the two middle values."""
    out = np.full((len(adcodes), len(months), len(sectors)), np.nan)
    if not len(histogram):
        return out
    frame = histogram.rename("n").reset_index().sort_values(KEYS + ["days"])
    cell = frame.groupby(KEYS, sort=False)["n"]
    frame["upto"] = cell.cumsum()
    frame["total"] = cell.transform("sum")
    # 0-based positions of the two middle values; each lies in the first bin reaching it.
    low = frame[frame["upto"] > (frame["total"] - 1) // 2].groupby(KEYS)["days"].first()
    high = frame[frame["upto"] > frame["total"] // 2].groupby(KEYS)["days"].first()
    middle = ((low + high) / 2).reset_index()
    a = pd.Index(adcodes).get_indexer(middle["adcode"])
    m = middle["month"].to_numpy() - months[0]
    s = pd.Index(sectors).get_indexer(middle["sector"])
    out[a, m, s] = middle["days"].to_numpy(float)
    return out


def _arrays(aggregates: dict, adcodes, months, sectors) -> dict[str, np.ndarray]:
    """Dense arrays of the cube variables that ``aggregates`` covers."""
    out = {}
    for var in CUBE_VARIABLES:
        source = SOURCE_OF.get(var.name, var.name)
        if source not in aggregates:
            continue
        if source.endswith("_spans"):
            out[var.name] = _stock(aggregates[source], adcodes, months, sectors)
        elif source == "rectify_days":
            out[var.name] = _median(aggregates[source], adcodes, months, sectors)
        elif not var.by_sector:
            out[var.name] = _dense(aggregates[source], adcodes, months, sectors,
                                   ("adcode", "month"))
        else:
            out[var.name] = _dense(aggregates[source], adcodes, months, sectors)
    return out


def _month_indices(cube: xr.Dataset) -> np.ndarray:
    months = pd.DatetimeIndex(cube["month"].values)
    return np.asarray(months.year * 12 + months.month - 1)


def build_cube(catalog=None, tables: set[str] | None = None,
               scheduler: str | None = None) -> xr.Dataset:
    """Aggregate the store (through the catalog) into the cube; ``tables`` limits which
    tables are read (the others count as empty). The aggregation runs on the Dask cluster at
    ``scheduler`` (or ``SAFETYVIZ_DASK_SCHEDULER``) if given, else on local threads."""
    regions = load_regions(catalog)
    adcodes = list(regions["adcode"])
    sectors = list(SECTORS)
    with dask_scheduler(scheduler):
        (aggregates,) = dask.compute(_lazy_aggregates(catalog, tables))
    _check_keys(aggregates, adcodes, sectors)
    month_values = np.concatenate([series.index.get_level_values("month").to_numpy()
                                   for series in aggregates.values()
                                   if "month" in series.index.names])
    if month_values.size == 0:
        raise UserError("the store holds no dated records: nothing to aggregate")
    months = np.arange(month_values.min(), month_values.max() + 1)
    arrays = _arrays(aggregates, adcodes, months, sectors)

    data = {}
    for var in CUBE_VARIABLES:
        dims = ("adcode", "month", "sector") if var.by_sector else ("adcode", "month")
        data[var.name] = (dims, arrays[var.name], {
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


def update_cube(cube: xr.Dataset, table: str, added: pd.DataFrame | None,
                removed: pd.DataFrame | None = None, catalog=None) -> xr.Dataset | None:
    """The cube after ``added`` records were appended to ``table`` (and ``removed`` taken out),
    without rereading the store: counts, sums and stocks are additive, so the batch's own
    aggregates are added (subtracted) to the cells it touches; the variables that are not
    additive (:data:`RECOMPUTED`) are recomputed from the store for the months the batch
    touches. Returns None when the batch falls outside the cube's counties or months: then the
    cube must be rebuilt."""
    if table not in SOURCE_COLUMNS:
        return cube
    adcodes = [str(a) for a in cube["adcode"].values]
    sectors = [str(s) for s in cube["sector"].values]
    months = _month_indices(cube)
    new = cube.copy(deep=True)
    touched: dict[str, set[int]] = {}  # recomputed variable → months the batch touches
    for frame, sign in ((added, 1), (removed, -1)):
        if frame is None or not len(frame):
            continue
        aggregates = aggregate(table, frame[SOURCE_COLUMNS[table]])
        try:
            _check_keys(aggregates, adcodes, sectors)
        except UserError:
            return None
        for series in aggregates.values():
            if "month" in series.index.names and len(series):
                in_batch = series.index.get_level_values("month")
                if in_batch.min() < months[0] or in_batch.max() > months[-1]:
                    return None
        for name, values in _arrays(aggregates, adcodes, months, sectors).items():
            if name in RECOMPUTED:
                source = aggregates[SOURCE_OF.get(name, name)]
                touched.setdefault(name, set()).update(
                    source.index.get_level_values("month").tolist())
            else:
                new[name].values += sign * values
    for name, months_touched in touched.items():
        if months_touched:
            _recompute(new, name, months, min(months_touched), max(months_touched), catalog)
    return new


def _recompute(cube: xr.Dataset, name: str, months: np.ndarray, first: int, last: int,
               catalog) -> None:
    """Variable ``name`` of months [first, last] recomputed in place from the store."""
    table, date = RECOMPUTED[name]
    start = pd.Timestamp(f"{first // 12:04d}-{first % 12 + 1:02d}-01")
    end = pd.Timestamp(f"{last // 12:04d}-{last % 12 + 1:02d}-01") + pd.offsets.MonthEnd(0)
    records = load_table(table, SOURCE_COLUMNS[table], catalog,
                         filters=[(date, ">=", start.date()), (date, "<=", end.date())])
    adcodes = [str(a) for a in cube["adcode"].values]
    sectors = [str(s) for s in cube["sector"].values]
    span = np.arange(first, last + 1)
    aggregates = {k: v for k, v in aggregate(table, records.compute()).items()
                  if k == SOURCE_OF.get(name, name)}
    values = _arrays(aggregates, adcodes, span, sectors)[name]
    cube[name].loc[{"month": cube["month"].values[(months >= first) & (months <= last)]}] = values


def store_versions(data_dir: Path) -> dict[str, str | None]:
    """The store version each dated table is at (what a cube is built from)."""
    return {table: (v.name if (v := current_version(data_dir, table)) else None)
            for table in SOURCE_COLUMNS}


def cube_versions(data_dir: Path) -> dict | None:
    """The store versions the current cube was built from (None if unknown)."""
    path = cube_path(data_dir) / BUILT_FROM
    return json.loads(path.read_text()) if path.exists() else None


def write_cube(cube: xr.Dataset, data_dir: Path, versions: dict | None = None) -> Path:
    """Write the cube as Zarr; ``cube/cube.zarr`` switches to it atomically. ``versions``
    (default: the store's current ones) records what it was built from."""
    link = cube_path(data_dir)
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_dir() and not link.is_symlink():  # written by an earlier layout
        shutil.rmtree(link)
    versions = versions if versions is not None else store_versions(data_dir)
    clean = cube.copy()
    for variable in clean.variables.values():
        variable.encoding = {}  # an encoding read from an earlier file does not carry over
    clean = clean.assign_coords({name: clean[name].astype(object) for name in
                                 ("adcode", "sector", "name_zh") if name in clean.coords})

    def build(new: Path, old: Path | None) -> None:
        clean.to_zarr(new, mode="w", consolidated=True, zarr_format=2)
        (new / BUILT_FROM).write_text(json.dumps(versions))

    publish(link, build)
    return link


def over_period(cube: xr.Dataset, name: str, start, end) -> xr.DataArray:
    """Variable ``name`` over the months of [start, end]: flows summed, stocks at the last
    month. Distinct counts cannot be combined from months and raise."""
    var = cube[name]
    in_period = var.sel(month=slice(pd.Timestamp(start), pd.Timestamp(end)))
    how = var.attrs.get("over_time", "sum")
    if how in ("distinct", "median"):
        raise ValueError(f"{name} is a {'distinct count' if how == 'distinct' else 'median'}: "
                         "compute it from records for a period (safetyviz.indicators)")
    if in_period.sizes["month"] == 0:
        return xr.zeros_like(var.isel(month=0, drop=True))
    if how == "last":
        return in_period.isel(month=-1, drop=True)
    return in_period.sum("month")


def refresh_cube(data_dir: Path, table: str | None = None, added: pd.DataFrame | None = None,
                 removed: pd.DataFrame | None = None, before: str | None = None) -> Path | None:
    """Bring the cube of ``data_dir`` up to date after its store changed (if it has a cube).

    Incremental when the cube was built from exactly the store as it was before this batch
    (``before``: the table's previous version); otherwise (a cube left behind by a killed
    ingest, say) a full rebuild."""
    from .catalog import ensure_catalog, open_catalog

    if not cube_path(data_dir).exists():
        return None
    cat = open_catalog(ensure_catalog(data_dir))
    now = store_versions(data_dir)
    built_from = cube_versions(data_dir)
    if built_from == now:
        return cube_path(data_dir)
    updated = None
    if table in SOURCE_COLUMNS and built_from == {**now, table: before}:
        current = xr.open_zarr(cube_path(data_dir), consolidated=True).load()
        updated = update_cube(current, table, added, removed, cat)
    if updated is None:
        updated = build_cube(cat, present_tables(data_dir))
    return write_cube(updated, data_dir, now)


def present_tables(data_dir: Path) -> set[str]:
    """The dated tables of ``data_dir``'s store that hold records."""
    return set(SOURCE_COLUMNS) - set(missing_tables(data_dir))

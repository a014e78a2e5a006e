"""The cube: every record table aggregated to an ``xr.Dataset`` with dims (adcode, month,
sector). :func:`build_cube` is the one place that computes; everything downstream reads it.

Definitions: counts by the record's own date (``hazards_found`` by found date,
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

import datetime as dt
import json
import os
import shutil
import threading
import weakref
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import xarray as xr

from safetyviz.core.cache import LRU
from safetyviz.core.errors import UserError
from safetyviz.core.paths import cube_path
from safetyviz.core.vocab import (
    CUBE_VARIABLES,
    SECTORS,
)
from safetyviz.data.engine import dask_scheduler
from safetyviz.data.loading import load_regions, part_reader, partition_files, table_parts
from safetyviz.data.regions import top_unit
from safetyviz.data.store import (
    FIRM_ROW_GROUP_ROWS,
    SCHEMAS,
    Transaction,
    compact,
    current_version,
    missing_tables,
    publish,
)

KEYS = ["adcode", "month", "sector"]
NEVER = 10**6  # month index of "not rectified" (after any real month)
BUILT_FROM = "store_versions.json"  # beside the Zarr metadata; zarr ignores it


def _months(dates) -> tuple[np.ndarray, np.ndarray]:
    """(month index = year × 12 + month − 1, missing mask) of a datetime column."""
    values = np.asarray(dates, dtype="datetime64[ns]")
    missing = np.isnat(values)
    months = values.astype("datetime64[M]").astype(np.int64) + 1970 * 12
    months[missing] = -1
    return months, missing


def _positions(values, codes: list[str], what: str) -> np.ndarray:
    """Position of each value in ``codes``; values outside them are a UserError."""
    index = pd.Index(codes)
    if isinstance(values.dtype, pd.CategoricalDtype):  # map the few categories, not the rows
        lookup = np.append(index.get_indexer(values.cat.categories.astype(str)), -1)
        found = lookup[values.cat.codes.to_numpy()]
    else:
        found = index.get_indexer(values.astype(str))
    if (found < 0).any():
        unknown = sorted(set(pd.Series(values)[found < 0].astype(str)))
        raise UserError(f"records with {what} {', '.join(unknown[:10])} that "
                        f"{'the regions do not know' if what == 'adcode' else 'are not codes'}")
    return found


def _tally(keys: dict[str, np.ndarray], weights: np.ndarray | None = None,
           distinct: np.ndarray | None = None) -> pd.DataFrame:
    """Per distinct tuple of integer ``keys``: the number of rows, the sum of ``weights``, or
    the number of distinct values of ``distinct`` (integer codes) — as a frame of the key
    columns and ``n``. The keys are packed into one int64 (mixed radix), which pandas counts
    by hashing: no sort, no strings, no MultiIndex."""
    names = list(keys)
    arrays = [np.asarray(keys[n]) for n in names]
    arrays = [a if a.dtype.kind in "iu" else a.astype(np.int64) for a in arrays]
    if not len(arrays[0]):
        return pd.DataFrame({n: np.array([], np.int64) for n in [*names, "n"]})
    lows = [int(a.min()) for a in arrays]
    bases = [int(a.max()) - low + 1 for a, low in zip(arrays, lows)]
    width = int(np.max(distinct)) + 1 if distinct is not None and len(distinct) else 1
    if np.prod([float(b) for b in bases]) * width >= 2.0**62:
        raise ValueError("group keys too wide to pack")  # not reachable with real calendars
    packed = np.zeros(len(arrays[0]), np.int64)
    for a, low, base in zip(arrays, lows, bases):  # in place: one int64 column at a time
        packed *= base
        packed += a
        packed -= low
    if distinct is not None:  # distinct (key, value) pairs, then pairs per key
        packed = pd.unique(packed * width + np.asarray(distinct, np.int64)) // width
    if weights is None:
        counts = pd.Series(packed).value_counts(sort=False)
    else:
        counts = pd.Series(np.asarray(weights, np.int64)).groupby(packed, sort=False).sum()
    rest = counts.index.to_numpy(np.int64)
    columns = {}
    for name, low, base in zip(reversed(names), reversed(lows), reversed(bases)):
        columns[name] = (rest % base + low).astype(np.int32)  # months, days, positions fit
        rest = rest // base
    return pd.DataFrame({n: columns[n] for n in names} | {"n": counts.to_numpy(np.int64)})


# Columns of each dated table that the cube's own code reads (stocks, distinct counts,
# medians); the additive variables add theirs (source_columns).
SPECIAL_COLUMNS = {
    "inspections": ["date", "adcode", "sector", "enterprise_id"],
    "hazards": ["adcode", "sector", "found_date", "level", "deadline", "rectified_date",
                "listed_supervision"],
    "enforcement_actions": ["adcode"],
    "joint_operations": ["adcode"],
    "accidents": ["adcode"],
}


def source_columns() -> dict[str, list[str]]:
    """The columns each dated table contributes to the cube: its own code's and those the
    additive variables' entries name (date, summed column, filters, sector)."""
    out = {table: list(columns) for table, columns in SPECIAL_COLUMNS.items()}
    for var in CUBE_VARIABLES:
        if not var.additive:
            continue
        columns = out.setdefault(var.table, ["adcode"])
        for column in (var.date, *(["sector"] if var.by_sector else []),
                       *([var.column] if var.column else []), *(c for c, _ in var.where)):
            if column not in columns:
                columns.append(column)
    return out


SOURCE_COLUMNS = source_columns()


SLICE = 250_000  # rows aggregated at a time: bounds the memory of the temporaries


def aggregate(table: str, frame: pd.DataFrame, adcodes: list[str],
              sectors: list[str]) -> dict[str, pd.DataFrame]:
    """:func:`aggregate_records` of ``frame``, taken :data:`SLICE` rows at a time and
    combined, so that a large part needs little more memory than its records; the distinct
    count is taken over the whole frame (a month may straddle two slices)."""
    if len(frame) <= SLICE:
        return aggregate_records(table, frame, adcodes, sectors)
    out = None
    for i in range(0, len(frame), SLICE):  # folded as it goes: one slice's results at a time
        part = aggregate_records(table, frame.iloc[i:i + SLICE], adcodes, sectors,
                                 distinct=False)
        out = part if out is None else _combine([out, part])
    assert out is not None  # len(frame) > SLICE: one slice at least
    if table == "inspections":
        out["enterprises_inspected"] = _enterprises_inspected(frame, adcodes, sectors)
    return out


def _enterprises_inspected(frame: pd.DataFrame, adcodes, sectors) -> pd.DataFrame:
    known = frame["enterprise_id"].notna().to_numpy()
    frame = frame[known]
    month, _ = _months(frame["date"])
    return _tally({"adcode": _positions(frame["adcode"], adcodes, "adcode"), "month": month,
                   "sector": _positions(frame["sector"], sectors, "sector")},
                  distinct=pd.factorize(frame["enterprise_id"])[0])


def aggregate_records(table: str, frame: pd.DataFrame, adcodes: list[str],
                      sectors: list[str], distinct: bool = True) -> dict[str, pd.DataFrame]:
    """The cube's aggregates from records of one table (a pandas DataFrame): frames of key
    columns and a count or sum ``n``, keyed by (adcode, month[, sector]), by (adcode, sector,
    start, stop) month spans for the hazard stocks, and by (adcode, month, sector, days) for
    the days-to-rectify histogram; adcode and sector as positions in ``adcodes`` and
    ``sectors``. Every one adds up across parts of a
    table, except ``enterprises_inspected``, which is exact within a part holding whole
    months."""
    a = _positions(frame["adcode"], adcodes, "adcode")
    s = _positions(frame["sector"], sectors, "sector") if "sector" in frame.columns else None
    out = _additive(table, frame, a, s)
    if table == "hazards":
        assert s is not None  # hazards always have a sector (SPECIAL_COLUMNS)
        found, _ = _months(frame["found_date"])
        rectified_month, open_ = _months(frame["rectified_date"])
        rectified_month[open_] = NEVER
        overdue, no_deadline = _months(frame["deadline"] + pd.Timedelta(days=1))
        overdue[no_deadline] = NEVER
        listed = frame["listed_supervision"].astype("boolean").fillna(False).to_numpy(bool)
        # Stocks: a hazard is open from its found month until the month before its
        # rectification month; counting by (start, stop) keeps this small at any size.
        out["open_spans"] = _tally({"adcode": a, "sector": s, "month": found,
                                    "rectified_month": rectified_month})
        out["overdue_spans"] = _tally({"adcode": a, "sector": s, "overdue_month": overdue,
                                       "rectified_month": rectified_month})
        out["listed_spans"] = _tally({"adcode": a[listed], "sector": s[listed],
                                      "month": found[listed],
                                      "rectified_month": rectified_month[listed]})
    if table == "inspections" and distinct:
        out["enterprises_inspected"] = _enterprises_inspected(frame, adcodes, sectors)
    return out


def _additive(table: str, frame: pd.DataFrame, a: np.ndarray,
              s: np.ndarray | None) -> dict[str, pd.DataFrame]:
    """The additive variables of ``table`` (:attr:`vocab.CubeVariable.additive`), each as
    its entry says: the rows whose date is set and whose filter columns hold one of the
    listed values, counted or summed, by county, month and (if by sector) sector."""
    out, months = {}, {}
    for var in CUBE_VARIABLES:
        if var.table != table or not var.additive:
            continue
        if var.date not in months:
            months[var.date] = _months(frame[var.date])
        month, missing = months[var.date]
        keep = ~missing
        for column, values in var.where:
            keep &= frame[column].isin(values).to_numpy(bool)
        cell = {"adcode": a[keep], "month": month[keep]}
        if var.by_sector:
            assert s is not None  # by-sector variables read the sector (source_columns)
            cell["sector"] = s[keep]
        weights = frame[var.column].fillna(0).to_numpy()[keep] if var.value == "sum" \
            else None
        out[var.name] = _tally(cell, weights)
    return out


def _combine(parts: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The aggregates of a whole table from those of its parts (which hold whole months)."""
    out = {}
    for name in parts[0]:
        frames = [p[name] for p in parts if len(p[name])]
        if len(frames) <= 1:
            out[name] = frames[0] if frames else parts[0][name]
            continue
        out[name] = _tally({c: np.concatenate([f[c].to_numpy() for f in frames])
                            for c in frames[0].columns if c != "n"},
                           np.concatenate([f["n"].to_numpy() for f in frames]))
    return out


def _empty(table: str) -> pd.DataFrame:
    """A table with no records yet (real data may come without, say, joint operations)."""
    kinds = {"date32[day]": "datetime64[ns]", "int32": "int64", "int64": "int64",
             "bool": "boolean"}
    return pd.DataFrame({f.name: pd.Series(dtype=kinds.get(str(f.type), object))
                         for f in SCHEMAS[table] if f.name in source_columns()[table]})


def _lazy_aggregates(catalog, adcodes: list[str], sectors: list[str],
                     present: set[str] | None = None) -> dict:
    """Delayed aggregates of every table: one task per partition (a year of records), then a
    small combine per table; computed together so each file is read once. Tables not in
    ``present`` (when given) count as empty."""
    out = {}
    for table, columns in source_columns().items():
        parts = table_parts(table, columns, catalog) if present is None or table in present \
            else []
        if not parts:
            out[table] = aggregate(table, _empty(table), adcodes, sectors)
            continue
        results = [dask.delayed(_aggregate_part, pure=True)(table, read, adcodes, sectors)
                   for read in parts]
        while len(results) > 1:  # a tree: parts' results are combined as soon as they exist
            results = [dask.delayed(_combine, pure=True)(results[i:i + 2])
                       for i in range(0, len(results), 2)]
        out[table] = results[0]
    return out


def _aggregate_part(table: str, read, adcodes: list[str], sectors: list[str]) -> dict:
    """One part read and aggregated in one task, so that its records never wait in memory
    for a later task."""
    return aggregate(table, read(), adcodes, sectors)


def _dense(counts: pd.DataFrame, adcodes, months, sectors, dims=("adcode", "month", "sector")):
    """A (adcode, month[, sector]) → n frame (adcode and sector as positions) as a
    zero-filled int64 array."""
    shape = (len(adcodes), len(months), len(sectors))[: len(dims)]
    array = np.zeros(shape, np.int64)
    if len(counts):
        position = tuple(counts[d].to_numpy() - (months[0] if d == "month" else 0)
                         for d in dims)
        np.add.at(array, position, counts["n"].to_numpy(np.int64))
    return array


def _stock(spans: pd.DataFrame, adcodes, months, sectors) -> np.ndarray:
    """Count at each month end of items alive from ``start`` (incl.) to ``stop`` (excl.):
    the frame's third and fourth columns."""
    delta = np.zeros((len(adcodes), len(months) + 1, len(sectors)), np.int64)
    if len(spans):
        start, stop = spans.iloc[:, 2].to_numpy(), spans.iloc[:, 3].to_numpy()
        keep = start < stop
        a = spans["adcode"].to_numpy()[keep]
        s = spans["sector"].to_numpy()[keep]
        n = spans["n"].to_numpy()[keep]
        first, last = months[0], months[-1]
        start = np.clip(start[keep], first, last + 1) - first
        stop = np.clip(stop[keep], first, last + 1) - first
        np.add.at(delta, (a, start, s), n)
        np.add.at(delta, (a, stop, s), -n)
    return np.cumsum(delta, axis=1)[:, :-1, :]


SOURCE_OF = {"hazards_open_end": "open_spans", "hazards_overdue_end": "overdue_spans",
             "hazards_listed_open_end": "listed_spans",
             "median_days_to_rectify": "rectify_medians"}
# Not additive: recomputed from the store's records for the months a batch touches, as
# (table, date column that places a record in its month, the batch aggregate whose months
# are the ones touched).
RECOMPUTED = {"enterprises_inspected": ("inspections", "date", "inspections"),
              "median_days_to_rectify": ("hazards", "rectified_date", "hazards_rectified")}


MEDIAN_COLUMNS = ["adcode", "sector", "found_date", "rectified_date"]


def rectify_medians(frame: pd.DataFrame, adcodes: list[str],
                    sectors: list[str]) -> pd.DataFrame:
    """Exact median days from found to rectified of the rectified hazards in ``frame``, per
    (adcode, month of rectification, sector) cell: a frame of those keys and ``median``.
    The median of an even count is the mean of the two middle values."""
    frame = frame[frame["rectified_date"].notna().to_numpy()]
    histogram = _tally({
        "adcode": _positions(frame["adcode"], adcodes, "adcode"),
        "month": _months(frame["rectified_date"])[0],
        "sector": _positions(frame["sector"], sectors, "sector"),
        "days": (frame["rectified_date"] - frame["found_date"]).dt.days.to_numpy()})
    if not len(histogram):
        return pd.DataFrame({c: np.array([], np.int32) for c in KEYS} | {"median": []})
    a, m, s, d, n = (histogram[c].to_numpy() for c in (*KEYS, "days", "n"))
    order = np.lexsort((d, s, m, a))
    a, m, s, d, n = a[order], m[order], s[order], d[order], n[order]
    first = np.r_[True, (a[1:] != a[:-1]) | (m[1:] != m[:-1]) | (s[1:] != s[:-1])]
    starts, group = np.flatnonzero(first), np.cumsum(first) - 1
    running = np.cumsum(n)
    upto = running - np.r_[0, running[starts[1:] - 1]][group]  # within the cell
    total = np.add.reduceat(n, starts)
    middle = []
    for rank in ((total - 1) // 2, total // 2):  # 0-based ranks of the middle values
        # Bins whose running count is still at or below the rank come before it.
        before = np.add.reduceat((upto <= rank[group]).astype(np.int64), starts)
        middle.append(d[starts + before])
    return pd.DataFrame({"adcode": a[starts], "month": m[starts], "sector": s[starts],
                         "median": (middle[0] + middle[1]) / 2})


def _medians_part(read, adcodes: list[str], sectors: list[str]) -> pd.DataFrame:
    return rectify_medians(read(), adcodes, sectors)


def _lazy_medians(catalog, adcodes: list[str], sectors: list[str]):
    """Delayed medians: one task per year of rectification, reading the hazards found up to
    that year whose rectification falls in it (pushed down to the row groups), so that each
    month's rectifications are all in one task and no task holds a whole histogram of days
    for the store."""
    fs, groups = partition_files("hazards", catalog)
    years = sorted(int(key[5:]) for key in groups if key.startswith("year="))
    if not years or len(years) != len(groups):  # not partitioned by year: one task
        readers = [part_reader("hazards", fs, [p for ps in groups.values() for p in ps],
                               MEDIAN_COLUMNS)] if groups else []
    else:
        readers = []
        for i, year in enumerate(years):
            paths = [p for y in years[:i + 1] for p in groups[f"year={y}"]]
            window = [("rectified_date", ">=", dt.date(year, 1, 1))]
            if i + 1 < len(years):  # the last task takes every later rectification
                window.append(("rectified_date", "<", dt.date(years[i + 1], 1, 1)))
            readers.append(part_reader("hazards", fs, paths, MEDIAN_COLUMNS, window))
    parts = [dask.delayed(_medians_part, pure=True)(read, adcodes, sectors)
             for read in readers]
    return dask.delayed(_concat, pure=True)(parts) if parts else rectify_medians(
        _empty("hazards"), adcodes, sectors)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True)


def _place(medians: pd.DataFrame, adcodes, months, sectors) -> np.ndarray:
    """Sparse per-cell values as a NaN-filled (adcode, month, sector) array."""
    out = np.full((len(adcodes), len(months), len(sectors)), np.nan)
    out[medians["adcode"].to_numpy(), medians["month"].to_numpy() - months[0],
        medians["sector"].to_numpy()] = medians["median"].to_numpy(float)
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
        elif source == "rectify_medians":
            out[var.name] = _place(aggregates[source], adcodes, months, sectors)
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
    """Aggregate the store (through the catalog) into the cube.

    Parameters
    ----------
    catalog : intake.Catalog, optional
        Default: the settings' catalog.
    tables : set of str, optional
        The tables to read; the others count as empty. Default: all.
    scheduler : str, optional
        A Dask scheduler's address to aggregate on (default: the settings', else local
        threads).

    Returns
    -------
    xarray.Dataset
        Dims (adcode, month, sector); one variable per :data:`vocab.CUBE_VARIABLES` entry,
        with its labels and units in the attributes.
    """
    regions = load_regions(catalog)
    adcodes = list(regions["adcode"])
    sectors = list(SECTORS)
    with dask_scheduler(scheduler):
        by_table, medians = dask.compute(
            _lazy_aggregates(catalog, adcodes, sectors, tables),
            _lazy_medians(catalog, adcodes, sectors) if tables is None or "hazards" in tables
            else rectify_medians(_empty("hazards"), adcodes, sectors))
    aggregates = {name: frame for table in by_table.values() for name, frame in table.items()}
    aggregates["rectify_medians"] = medians
    month_values = np.concatenate([frame["month"].to_numpy() for frame in aggregates.values()
                                   if "month" in frame])
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
        attrs={"title": "safetyviz cube", "city_adcode": top_unit(regions)[0]})


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
        try:
            aggregates = aggregate(table, frame[SOURCE_COLUMNS[table]], adcodes, sectors)
        except UserError:
            return None
        for counts in aggregates.values():
            if "month" in counts and len(counts):
                if counts["month"].min() < months[0] or counts["month"].max() > months[-1]:
                    return None
        for name, values in _arrays(aggregates, adcodes, months, sectors).items():
            if name not in RECOMPUTED:
                new[name].values += sign * values
        for name, (_, _, marker) in RECOMPUTED.items():
            if marker in aggregates:
                touched.setdefault(name, set()).update(aggregates[marker]["month"].tolist())
    for name, months_touched in touched.items():
        if months_touched:
            _recompute(new, name, months, min(months_touched), max(months_touched), catalog)
    return new


def _recompute(cube: xr.Dataset, name: str, months: np.ndarray, first: int, last: int,
               catalog) -> None:
    """Variable ``name`` of months [first, last] recomputed in place from the store."""
    fs, groups = partition_files(RECOMPUTED[name][0], catalog)
    recompute(cube, name, first, last, [p for paths in groups.values() for p in paths], fs)


def recompute(cube: xr.Dataset, name: str, first: int, last: int, files: list[str],
              fs=None) -> None:
    """Variable ``name`` (one of :data:`RECOMPUTED`) of months [first, last] (month indices)
    recomputed in place from the records in ``files`` (on filesystem ``fs``; local files if
    none)."""
    import fsspec

    table, date, _ = RECOMPUTED[name]
    months = _month_indices(cube)
    start = pd.Timestamp(f"{first // 12:04d}-{first % 12 + 1:02d}-01")
    end = pd.Timestamp(f"{last // 12:04d}-{last % 12 + 1:02d}-01") + pd.offsets.MonthEnd(0)
    fs = fs if fs is not None else fsspec.filesystem("file")
    columns = MEDIAN_COLUMNS if name == "median_days_to_rectify" else SOURCE_COLUMNS[table]
    records = part_reader(table, fs, files, columns,
                          [(date, ">=", start.date()), (date, "<=", end.date())])()
    adcodes = [str(a) for a in cube["adcode"].values]
    sectors = [str(s) for s in cube["sector"].values]
    span = np.arange(first, last + 1)
    if name == "median_days_to_rectify":
        values = _place(rectify_medians(records, adcodes, sectors), adcodes, span, sectors)
    else:
        aggregates = {name: aggregate(table, records, adcodes, sectors)[name]}
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
    publish(link, cube_build(cube, versions))
    return link


def cube_build(cube: xr.Dataset, versions: dict):
    """A store build step writing ``cube`` (built from the store ``versions``) as Zarr."""
    clean = cube.copy()
    for variable in clean.variables.values():
        variable.encoding = {}  # an encoding read from an earlier file does not carry over
    clean = clean.assign_coords({name: clean[name].astype(object) for name in
                                 ("adcode", "sector", "name_zh") if name in clean.coords})

    def build(new: Path, old: Path | None) -> None:
        clean.to_zarr(new, mode="w", consolidated=True, zarr_format=2)
        (new / BUILT_FROM).write_text(json.dumps(versions))

    return build


def load_cube_file(data_dir: Path) -> xr.Dataset:
    """The data dir's cube in memory (numpy, no dask: small), read straight from its file."""
    return xr.open_dataset(cube_path(data_dir), engine="zarr", consolidated=True,
                           chunks=None).load()


def over_period(cube: xr.Dataset, name: str, start, end) -> xr.DataArray:
    """Variable ``name`` over the months of [start, end]: flows summed, stocks at the last
    month. Distinct counts cannot be combined from months and raise."""
    var = cube[name]
    in_period = var.sel(month=slice(pd.Timestamp(start), pd.Timestamp(end)))
    how = var.attrs.get("over_time", "sum")
    if how in ("distinct", "median"):
        raise ValueError(f"{name} is a {'distinct count' if how == 'distinct' else 'median'}: "
                         "compute it from records for a period (safetyviz.analysis.indicators)")
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
    from safetyviz.data.catalog import ensure_catalog, open_catalog

    if not cube_path(data_dir).exists():
        return None
    cat = open_catalog(ensure_catalog(data_dir))
    now = store_versions(data_dir)
    built_from = cube_versions(data_dir)
    if built_from == now:
        return cube_path(data_dir)
    updated = None
    if table in SOURCE_COLUMNS and built_from == {**now, table: before}:
        updated = update_cube(load_cube_file(data_dir), table, added, removed, cat)
    if updated is None:
        updated = build_cube(cat, present_tables(data_dir))
    return write_cube(updated, data_dir, now)


def compact_store(data_dir: Path, row_group_rows: int = FIRM_ROW_GROUP_ROWS) -> dict[str, Path]:
    """Sort the record tables of ``data_dir`` by firm (:func:`store.compact`) and, when the
    cube was built from the store as it was, record it as built from the sorted versions
    (the records are the same): one transaction. Returns the tables' new versions."""
    with Transaction(data_dir) as change:
        current = cube_path(data_dir).exists() and \
            cube_versions(data_dir) == store_versions(data_dir)
        built = compact(change, data_dir, row_group_rows)
        if built and current:
            versions = {**store_versions(data_dir),
                        **{table: version.name for table, version in built.items()}}
            change.build(cube_path(data_dir), _relinked(versions))
    return built


def _relinked(versions: dict):
    """A build step giving the cube a new version of the same files (hard links) that
    records being built from the store ``versions``."""
    def build(new: Path, old: Path | None) -> None:
        assert old is not None
        for path in sorted(old.rglob("*")):
            target = new / path.relative_to(old)
            if path.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            elif path.name != BUILT_FROM:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, target)
        (new / BUILT_FROM).write_text(json.dumps(versions))

    return build


def present_tables(data_dir: Path) -> set[str]:
    """The dated tables of ``data_dir``'s store that hold records."""
    return set(SOURCE_COLUMNS) - set(missing_tables(data_dir))


class PerCube:
    """Results computed from a cube, kept while the cube lives and shared by every state on
    it (a server's sessions share one cube): the most recently used ``size`` per cube."""

    def __init__(self, size: int = 2048):
        self.size = size
        self._by_cube: dict[int, LRU] = {}
        self._lock = threading.Lock()

    def get(self, cube: xr.Dataset, key, compute):
        with self._lock:
            results = self._by_cube.get(id(cube))
            if results is None:
                results = self._by_cube[id(cube)] = LRU(self.size)
                weakref.finalize(cube, self._by_cube.pop, id(cube), None)
        return results.get(key, compute)

"""Feeding the readings store: the simulator (``safetyviz monitor simulate``) and the CSV
ingest of sensor readings (``safetyviz monitor ingest``).

The ingest validates every row like the ledger ingest does
(:mod:`safetyviz.ingest.ledgers`): a row is either stored or quarantined with its reason in
``<data-dir>/quarantine/<batch>.csv`` (the batch id is the file's content hash), never
dropped; re-ingesting a file stores nothing twice.
"""

from __future__ import annotations

import hashlib
import time as clock
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import xarray as xr

from safetyviz.core.errors import UserError
from safetyviz.core.files import write_quarantine
from safetyviz.data.catalog import ensure_catalog, open_catalog
from safetyviz.data.loading import load_table
from safetyviz.data.readings import (
    DEFAULT_INTERVAL,
    Appended,
    append_readings,
    open_readings,
    readings_path,
)
from safetyviz.synth import sensor_feed

COLUMNS = ["sensor_id", "time", "value"]
REASONS = {
    "unknown_sensor": "sensor_id is not in the sensors table",
    "bad_time": "time is not a date and time",
    "bad_value": "value is not a number",
    "off_grid": "time is not on the store's interval grid",
    "duplicate": "the same sensor and time appear earlier in the file",
    "conflict": "differs from the reading already stored for that sensor and time",
}
GRID_ORIGIN = pd.Timestamp("2000-01-01")


def _registry(data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    cat = open_catalog(ensure_catalog(data_dir))
    return (load_table("sensors", catalog=cat).compute(),
            load_table("major_hazard_sites", catalog=cat).compute())


def _store_grid(data_dir: Path) -> tuple[pd.Timestamp | None, pd.Timedelta]:
    """The store's last time and interval (None and the default when there is no store)."""
    if not readings_path(data_dir).exists():
        return None, pd.Timedelta(DEFAULT_INTERVAL)
    stored = open_readings(data_dir)
    return (pd.Timestamp(stored["time"].values[-1]),
            pd.Timedelta(stored.attrs.get("interval", DEFAULT_INTERVAL)))


def simulate(data_dir: Path, start=None, days: int = 1, interval=DEFAULT_INTERVAL,
             seed: int = 2020, excursions_per_day: float = 0.05, pace: float = 0.0,
             report=print) -> int:
    """Simulate ``days`` days of readings of the store's sensors from ``start`` (default: the
    day after the readings store ends) and append them: a day at a time, or with ``pace``
    one interval every ``pace`` seconds (a live feed for a dashboard). Returns the readings
    appended."""
    table, sites = _registry(data_dir)
    if table.empty:
        raise UserError("the sensors table is empty: run `safetyviz demo` first")
    last, _ = _store_grid(data_dir)
    if start is None:
        if last is None:
            raise UserError("no readings yet: give --start YYYY-MM-DD")
        start = last.normalize() + pd.Timedelta(days=1)
    start = pd.Timestamp(start)
    if days < 1:
        raise UserError("--days must be at least 1")
    total = 0
    for offset in range(days):
        feed = sensor_feed.readings(table, sites, start + pd.Timedelta(days=offset), 1,
                                    interval, seed, excursions_per_day=excursions_per_day)
        if pace <= 0:
            total += append_readings(data_dir, feed, interval).readings
            report(f"appended {feed['time'].values[0]} … {feed['time'].values[-1]}")
            continue
        for step in range(feed.sizes["time"]):
            total += append_readings(data_dir, feed.isel(time=slice(step, step + 1)),
                                     interval).readings
            clock.sleep(pace)
    return total


@dataclass
class ReadingsReport:
    path: Path
    batch: str
    rows_read: int = 0
    stored: int = 0  # new readings written
    already_stored: int = 0  # the same reading was in the store (a re-ingest)
    rejected: Counter = field(default_factory=Counter)
    quarantine: Path | None = None
    appended: Appended | None = None

    def summary(self) -> str:
        lines = [f"{self.path} → readings (batch {self.batch})",
                 f"  rows read {self.rows_read}, stored {self.stored}, already stored "
                 f"{self.already_stored}, rejected {sum(self.rejected.values())}"]
        lines += [f"    {n:>6}  {reason} ({REASONS[reason]})"
                  for reason, n in sorted(self.rejected.items(), key=lambda kv: -kv[1])]
        if self.quarantine:
            lines.append(f"  quarantine: {self.quarantine}")
        return "\n".join(lines)


def _read_rows(path: Path, content: bytes) -> pl.DataFrame:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        frame = pl.read_csv(text.encode(), infer_schema=False, truncate_ragged_lines=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise UserError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    frame = frame.rename({c: c.strip() for c in frame.columns})
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(f"{path}, row 1: missing column(s) {', '.join(missing)} "
                        f"(expected {', '.join(COLUMNS)})")
    return frame.with_row_index("row", offset=2)  # the header is row 1


def _reasons(frame: pl.DataFrame, sensors: set[str], origin: pd.Timestamp,
             interval: pd.Timedelta) -> pl.DataFrame:
    """``frame`` with parsed ``at`` and ``reading`` and the first ``reason`` that rejects
    each row (null: accepted)."""
    text_time = pl.col("time").str.strip_chars().str.replace("T", " ")
    parsed = frame.with_columns(
        at=pl.coalesce(text_time.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False),
                       text_time.str.to_datetime("%Y-%m-%d %H:%M", strict=False),
                       text_time.str.to_datetime("%Y/%m/%d %H:%M:%S", strict=False)),
        reading=pl.col("value").str.strip_chars().cast(pl.Float64, strict=False),
        sensor=pl.col("sensor_id").str.strip_chars())
    step = int(interval / pd.Timedelta(1, "us"))
    since = (pl.col("at") - pl.lit(origin.to_pydatetime())).dt.total_microseconds()
    first_of_pair = pl.int_range(pl.len()).over(["sensor", "at"]) == 0
    reason = (pl.when(~pl.col("sensor").is_in(list(sensors)) | pl.col("sensor").is_null())
              .then(pl.lit("unknown_sensor"))
              .when(pl.col("at").is_null()).then(pl.lit("bad_time"))
              .when(pl.col("reading").is_null() | pl.col("reading").is_nan()
                    | pl.col("reading").is_infinite()).then(pl.lit("bad_value"))
              .when(since % step != 0).then(pl.lit("off_grid"))
              .when(~first_of_pair).then(pl.lit("duplicate"))
              .otherwise(pl.lit(None, dtype=pl.String)))
    return parsed.with_columns(reason=reason)


def ingest_readings(path, data_dir: Path, dry_run: bool = False) -> ReadingsReport:
    """Validate a CSV of readings (columns sensor_id, time, value) and store the valid ones."""
    path, data_dir = Path(path), Path(data_dir)
    try:
        content = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise UserError(f"{path}: no such file") from None
    report = ReadingsReport(path, f"readings-{hashlib.sha256(content).hexdigest()[:16]}")
    frame = _read_rows(path, content)
    report.rows_read = frame.height
    table, _ = _registry(data_dir)
    last, interval = _store_grid(data_dir)
    origin = (pd.Timestamp(open_readings(data_dir)["time"].values[0]) if last is not None
              else GRID_ORIGIN)
    checked = _reasons(frame, set(table["sensor_id"]), origin, interval)
    good = checked.filter(pl.col("reason").is_null())
    rejected = checked.filter(pl.col("reason").is_not_null())
    if good.height and not dry_run:
        pivot = good.to_pandas().pivot(index="sensor", columns="at", values="reading")
        feed = xr.DataArray(pivot.to_numpy(np.float32), dims=("sensor", "time"),
                            coords={"sensor": pivot.index.astype(str).to_numpy(),
                                    "time": pd.DatetimeIndex(pivot.columns).to_numpy()})
        if last is None:  # a new store holds every sensor of the register
            feed = feed.reindex(sensor=table["sensor_id"].astype(str).to_numpy())
        report.appended = append_readings(data_dir, feed, interval)
        conflicts = report.appended.conflicts
        if conflicts is not None and len(conflicts):
            keys = conflicts.assign(conflict=True).rename(columns={"sensor_id": "sensor",
                                                                   "time": "at"})
            flagged = good.to_pandas().merge(keys[["sensor", "at", "conflict"]],
                                             on=["sensor", "at"], how="left")
            clash = flagged["conflict"].eq(True).to_numpy()
            rejected = pl.concat([rejected, good.filter(pl.Series(clash)).with_columns(
                reason=pl.lit("conflict"))], how="vertical_relaxed")
        report.stored = report.appended.readings
        report.already_stored = report.appended.skipped
    elif dry_run:
        report.stored = good.height
    report.rejected = Counter(rejected.get_column("reason").to_list())
    if rejected.height:
        report.quarantine = data_dir / "quarantine" / f"{report.batch}.csv"
        if not dry_run:
            rows = rejected.sort("row").to_dicts()
            write_quarantine(report.quarantine, [
                {"sheet": path.name, "row": r["row"], "reason": r["reason"],
                 "cells": {c: r[c] for c in COLUMNS}} for r in rows], COLUMNS)
    return report

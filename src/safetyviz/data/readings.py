"""The readings store: sensor readings of the major hazard installations, an xarray Dataset
``value (sensor × time)`` in Zarr at ``<data-dir>/monitoring/readings.zarr``, appended along
time and safe to read while it is appended.

Layout and guarantees:

* The time axis is a regular grid (``interval``, 60 s by default, in the store's attrs):
  reading *i* is at ``start + i × interval``; minutes without a reading are NaN. Appending
  fills the grid up to the new block's last time, so a late or missing minute never shifts
  the others.
* Chunks of a day of steps and ~1.5 MB (:func:`chunk_shape`: 256 sensors at one reading a
  minute): one sensor over a month is 30 chunks, all sensors over the last minutes one chunk
  per block of sensors; an append rewrites only the last chunk of each block.
* ``readings.zarr`` is a symlink to an immutable version (like the tables of
  :mod:`safetyviz.data.store`): an append hard-links the files of the current version into a new
  one, lets Zarr replace the chunks it changes (each file written beside and renamed, so the
  old version keeps its own), and swaps the symlink. A reader — opening the store, or
  holding a lazy dataset while appends go on — sees whole versions only: every time it can
  see has its readings, never a half-written chunk or a fill value.
* Appending is idempotent: a reading already stored is skipped, so a feed re-sent after a
  failure adds nothing twice. A late reading (a time the store has) fills the store's gap
  there; one that differs from a stored reading is returned as a conflict, not written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from safetyviz.core.errors import UserError
from safetyviz.data.store import publish

CHUNK_BYTES = 256 * 1440 * 4  # 1.5 MB of float32 readings per chunk
MAX_SENSORS_PER_CHUNK = 256


def chunk_shape(interval) -> tuple[int, int]:
    """(sensors, steps) of a chunk: a day of steps, and as many sensors as fit in
    ``CHUNK_BYTES`` (256 at one reading a minute, 4 at one a second) — so one sensor over a
    month is always 30 chunks, whatever the interval."""
    steps = int(pd.Timedelta("1D") / pd.Timedelta(interval))
    sensors = min(MAX_SENSORS_PER_CHUNK, max(1, CHUNK_BYTES // (steps * 4)))
    return sensors, steps
TIME_CHUNK = 1440 * 366  # the time coordinate: a year of minutes per chunk
DEFAULT_INTERVAL = "60s"
RETAIN_SECONDS = 600  # how long a replaced version stays readable


def readings_path(data_dir: Path) -> Path:
    return Path(data_dir) / "monitoring" / "readings.zarr"


@dataclass
class Appended:
    """What an append did."""

    path: Path | None  # the new version (None: nothing to add)
    steps: int  # time steps added to the grid
    readings: int  # readings (non-NaN values) added, late ones included
    skipped: int  # readings already stored with the same value (re-sent)
    filled: int = 0  # late readings written where the store had none
    conflicts: pd.DataFrame | None = None  # late readings differing from the stored ones


def open_readings(path: Path, chunks: dict | None = None) -> xr.Dataset:
    """The store as a lazy (dask) Dataset; ``path``: a data dir, the ``readings.zarr`` link
    or one version of it."""
    path = Path(path)
    if path.name != "readings.zarr" and not (path / "zarr.json").exists():
        path = readings_path(path)
    if not path.exists():
        raise UserError(f"{path}: no readings yet (safetyviz monitor simulate / ingest)")
    # The version the link points to now: every file of the dataset from the same version
    # (through the link, an append between two files would mix two). Versions are kept
    # RETAIN_SECONDS after they are replaced, so a lazy dataset can be read that long.
    return xr.open_zarr(str(path.resolve()), consolidated=False,
                        chunks=chunks if chunks is not None else {})


def _link_tree(old: Path, new: Path) -> None:
    for folder, _, files in os.walk(old):
        target = new / Path(folder).relative_to(old)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            os.link(Path(folder) / name, target / name)


def _on_grid(feed: xr.DataArray, first, interval: pd.Timedelta) -> xr.DataArray:
    """``feed`` reindexed onto the grid first, first + interval, … up to its last time."""
    last = pd.Timestamp(feed["time"].values.max())
    grid = pd.date_range(first, last, freq=interval) if last >= first else []
    offset = (pd.DatetimeIndex(feed["time"].values) - first) % interval
    if (offset != pd.Timedelta(0)).any():
        raise UserError(f"readings off the store's {interval} grid (first at {first})")
    return feed.reindex(time=grid)


def append_readings(data_dir: Path, feed: xr.DataArray, interval=DEFAULT_INTERVAL,
                    replace: bool = False) -> Appended:
    """Append ``feed`` (sensor × time, float) to the store of ``data_dir``; the first append
    (or ``replace``) creates it with ``feed``'s sensors (later feeds may carry fewer sensors,
    never others)."""
    link = readings_path(data_dir)
    link.parent.mkdir(parents=True, exist_ok=True)
    feed = feed.transpose("sensor", "time").astype(np.float32).sortby("time")
    outcome: dict[str, Any] = {}

    def build(new: Path, old: Path | None) -> None:
        if old is None or replace:
            step = pd.Timedelta(interval)
            block = _on_grid(feed, pd.Timestamp(feed["time"].values.min()), step)
            dataset = block.rename("value").to_dataset().assign_attrs(
                interval=f"{int(step.total_seconds())}s")
            encoding = {"value": {"chunks": chunk_shape(step)},
                        "time": {"chunks": (TIME_CHUNK,), "units": "seconds since 2000-01-01",
                                 "dtype": "int64"}}
            dataset.to_zarr(str(new), mode="w-", consolidated=False, encoding=encoding)
            outcome.update(steps=block.sizes["time"], readings=int(block.notnull().sum()),
                           skipped=0, filled=0, conflicts=None)
            return
        _link_tree(old, new)
        stored = xr.open_zarr(str(new), consolidated=False)
        step = pd.Timedelta(stored.attrs.get("interval", DEFAULT_INTERVAL))
        last = pd.Timestamp(stored["time"].values[-1])
        sensors = [str(s) for s in stored["sensor"].values]
        unknown = sorted(set(map(str, feed["sensor"].values)) - set(sensors))
        if unknown:
            raise UserError(f"sensors not in the readings store: {', '.join(unknown[:5])}"
                            + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""))
        filled, skipped, conflicts = _fill_past(new, stored, feed.sel(
            time=feed["time"] <= np.datetime64(last)))
        fresh = feed.sel(time=feed["time"] > np.datetime64(last))
        outcome.update(steps=0, readings=filled, filled=filled, skipped=skipped,
                       conflicts=conflicts)
        if fresh.sizes["time"] == 0:
            if not filled:
                raise _NothingNew
            return
        block = _on_grid(fresh.reindex(sensor=stored["sensor"].values), last + step, step)
        # the sensor axis is stored already: only the new time steps are written
        # (the store's attributes go along: an append rewrites the group's)
        block.rename("value").to_dataset().drop_vars("sensor").assign_attrs(
            stored.attrs).to_zarr(str(new), mode="a", append_dim="time", consolidated=False)
        outcome.update(steps=block.sizes["time"],
                       readings=filled + int(block.notnull().sum()))

    try:
        version = publish(link, build, retain_seconds=RETAIN_SECONDS)
    except _NothingNew:
        return Appended(None, 0, 0, outcome["skipped"], 0, outcome["conflicts"])
    return Appended(version, **outcome)


def _fill_past(new: Path, stored: xr.Dataset, past: xr.DataArray):
    """Late readings (at times the store has): written where the store has none; a reading
    equal to the stored one is skipped (a re-send); a different one is a conflict, left out.
    Returns (filled, skipped, conflicts as sensor_id, time, value, stored)."""
    past = past.dropna("time", how="all")
    none = pd.DataFrame(columns=["sensor_id", "time", "value", "stored"])
    if past.sizes["time"] == 0:
        return 0, 0, none
    times = pd.DatetimeIndex(stored["time"].values)
    positions = times.get_indexer(pd.DatetimeIndex(past["time"].values))
    if (positions < 0).any():
        raise UserError(f"readings off the store's {stored.attrs.get('interval')} grid")
    lo, hi = int(positions.min()), int(positions.max()) + 1
    region = stored["value"].isel(time=slice(lo, hi)).load()
    sensors = [str(s) for s in region["sensor"].values]
    have = region.values
    incoming = past.reindex(sensor=sensors, time=region["time"].values).values
    arrived, kept = ~np.isnan(incoming), ~np.isnan(have)
    gaps = arrived & ~kept
    same = arrived & kept & (have == incoming)
    rows, columns = np.nonzero(arrived & kept & (have != incoming))
    conflicts = pd.DataFrame({"sensor_id": np.array(sensors)[rows],
                              "time": region["time"].values[columns],
                              "value": incoming[rows, columns], "stored": have[rows, columns]})
    filled = int(gaps.sum())
    if filled:
        merged = region.copy(data=np.where(gaps, incoming, have)).rename("value").to_dataset()
        merged.drop_vars(["sensor", "time"]).to_zarr(str(new), region={"time": slice(lo, hi)},
                                                     consolidated=False)
    return filled, int(same.sum()), conflicts


class _NothingNew(Exception):
    """Every time of the feed is already stored: no new version."""

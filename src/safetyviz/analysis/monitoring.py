"""Monitoring indicators: what the sensor readings of the major hazard installations say —
which sensors and sites are online, the online rate, alarm events, hourly aggregates and data
completeness.

Pure functions of their arguments (no I/O, no dashboards). Readings are an ``xr.DataArray``
with dims ``(sensor, time)`` (``time`` as ``datetime64``, increasing; a missing reading is NaN),
numpy- or dask-backed alike; the sensors' attributes (site, thresholds) come as pandas
objects indexed by ``sensor_id``.

Definitions:

* A sensor is **online** at instant *t* if it reported a value in (t − ``max_gap``, t].
* A site is online if at least one of its sensors is (``require="any"``, what a monitoring
  platform shows as connected) or all are (``require="all"``).
* The **online rate** of a set of sites is online sites ÷ sites (the bulletin's 10 of 11 =
  91 %); over a window, :func:`online_share` gives each sensor's share of the window's
  instants at which it was online.
* An **alarm** starts when a reading reaches the high (or high-high) threshold and ends when
  the readings fall below the threshold minus a hysteresis band (so a value hovering at the
  threshold gives one alarm, not fifty); missing readings inside an alarm do not end it;
  alarms shorter than ``min_duration`` are dropped (spikes). Its level is ``high_high`` if
  any reading reached that threshold, else ``high``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

ALARM_LEVELS = ("high", "high_high")
EVENT_COLUMNS = ["sensor_id", "start", "end", "peak", "peak_time", "level", "ongoing"]


def _times(readings: xr.DataArray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(readings["time"].values)


def last_report(readings: xr.DataArray, at) -> pd.Series:
    """Each sensor's last reading time at or before ``at`` (NaT if none)."""
    window = readings.sel(time=slice(None, pd.Timestamp(at)))
    if window.sizes["time"] == 0:
        return pd.Series(pd.NaT, index=pd.Index(readings["sensor"].values, name="sensor"))
    flipped = np.asarray(window.notnull().values)[:, ::-1]  # computed once (lazy readings)
    has_any = flipped.any(axis=1)
    last = window.sizes["time"] - 1 - flipped.argmax(axis=1)  # the last True along time
    times = _times(window)
    values = np.where(has_any, times.values[np.clip(last, 0, None)], np.datetime64("NaT"))
    return pd.Series(values, index=pd.Index(readings["sensor"].values, name="sensor"))


def sensors_online(readings: xr.DataArray, at, max_gap) -> pd.Series:
    """True for each sensor that reported in (at − max_gap, at]."""
    at, max_gap = pd.Timestamp(at), pd.Timedelta(max_gap)
    # only the readings of the gap before ``at`` can make a sensor online
    recent = readings.sel(time=slice(at - max_gap + pd.Timedelta(1, "ns"), at))
    last = last_report(recent, at)
    return (last.notna() & (last > at - max_gap)).rename("online")


def sites_online(online: pd.Series, site_of: pd.Series, require: str = "any") -> pd.Series:
    """Per site, whether it is online given its sensors' ``online`` flags (``site_of``:
    sensor → site). Sites listed in ``site_of`` without any sensor in ``online`` are offline."""
    if require not in ("any", "all"):
        raise ValueError(f"require must be 'any' or 'all', not {require!r}")
    flags = online.reindex(site_of.index, fill_value=False).astype(bool)
    grouped = flags.groupby(site_of.values)
    return (grouped.any() if require == "any" else grouped.all()).rename("online")


def online_rate(site_flags: pd.Series, all_sites=None) -> float:
    """Online sites ÷ sites; ``all_sites`` (e.g. every registered installation, some with no
    sensor connected at all) counts the sites missing from ``site_flags`` as offline. NaN
    when there are no sites."""
    flags = site_flags if all_sites is None else site_flags.reindex(list(all_sites),
                                                                   fill_value=False)
    return float(flags.mean()) if len(flags) else float("nan")


def online_rates(site_flags: pd.Series, group_of: pd.Series) -> pd.Series:
    """Online rate per group of sites (``group_of``: site → county adcode, say): online
    sites ÷ sites of the group."""
    flags = site_flags.reindex(group_of.index, fill_value=False).astype(float)
    return flags.groupby(group_of.values).mean().rename("online_rate")


def online_share(readings: xr.DataArray, start, end, max_gap, step="1min") -> pd.Series:
    """Each sensor's share of the instants start, start + step, …, end at which it was
    online (reported within ``max_gap`` before the instant)."""
    instants = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq=step)
    max_gap = pd.Timedelta(max_gap)
    window = readings.sel(time=slice(instants[0] - max_gap, instants[-1]))
    times = _times(window).values
    reported = np.asarray(window.notnull().values)
    shares = np.zeros(window.sizes["sensor"])
    if len(times):
        # for each instant, the last reading time at or before it, per sensor
        position = np.searchsorted(times, instants.values, side="right") - 1
        last_seen = np.where(reported, times[None, :], np.datetime64("NaT"))
        last_seen = pd.DataFrame(last_seen.T).ffill().to_numpy().T  # last report so far
        seen = np.where(position[None, :] >= 0,
                        last_seen[:, np.clip(position, 0, None)], np.datetime64("NaT"))
        seen = seen.astype("datetime64[ns]")
        fresh = ~np.isnat(seen) & (seen > (instants.values - max_gap)[None, :])
        shares = fresh.mean(axis=1)
    return pd.Series(shares, index=pd.Index(readings["sensor"].values, name="sensor"),
                     name="online_share")


def completeness(readings: xr.DataArray, start, end, interval) -> pd.Series:
    """Readings received ÷ readings expected (one per ``interval``) in [start, end), per
    sensor."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    expected = (end - start) / pd.Timedelta(interval)
    window = readings.sel(time=slice(start, end - pd.Timedelta(1, "ns")))
    received = np.asarray(window.notnull().sum("time").values, dtype=float)
    return pd.Series(received / expected if expected > 0 else np.nan,
                     index=pd.Index(readings["sensor"].values, name="sensor"),
                     name="completeness")


def hourly(readings: xr.DataArray, freq: str = "1h") -> xr.Dataset:
    """Minimum, mean and maximum per sensor and ``freq`` bin (NaN where no reading), and the
    number of readings; lazy if the readings are. On a regular grid that starts on a bin
    boundary (the readings store's) the bins are whole blocks of steps (``coarsen``, a
    reshape); otherwise a resample."""
    times = pd.DatetimeIndex(readings["time"].values)
    width = pd.Timedelta(freq)
    steps = np.diff(times.values)
    if len(times) > 1 and (steps == steps[0]).all() and times[0] == times[0].floor(width):
        per_bin = width / pd.Timedelta(steps[0])
        if per_bin == int(per_bin) and len(times) % int(per_bin) == 0:
            blocks = readings.coarsen(time=int(per_bin))
            result = xr.Dataset({"min": blocks.min(), "mean": blocks.mean(), "max": blocks.max(),
                                 "count": readings.notnull().coarsen(time=int(per_bin)).sum()})
            return result.assign_coords(time=times[::int(per_bin)])
    bins = readings.resample(time=freq)
    return xr.Dataset({"min": bins.min(), "mean": bins.mean(), "max": bins.max(),
                       "count": bins.count()})


def _alarms(values: np.ndarray, times: pd.DatetimeIndex, high: np.ndarray,
            high_high: np.ndarray, band: np.ndarray, min_duration,
            sensor_ids: np.ndarray) -> pd.DataFrame:
    """The alarms of every row of ``values`` (sensors × times) at once: the rows are laid
    end to end, each followed by one empty step, and runs of "held" readings (at or above
    high − band, a gap carrying on the state before it) are found in that one long array;
    a run with a reading at or above ``high`` is an alarm."""
    n, steps = values.shape
    width = steps + 1  # one empty step after each row: no run crosses from one to the next
    known = ~np.isnan(values)
    held = np.where(known, values >= (high - band)[:, None], False)
    # a gap carries on the state before it: the held flag of the last known reading
    last_known = np.where(known, np.arange(steps)[None, :], -1)
    np.maximum.accumulate(last_known, axis=1, out=last_known)
    held = np.where(last_known >= 0, np.take_along_axis(held, np.maximum(last_known, 0), 1),
                    False)
    above = known & (values >= high[:, None])
    pad = np.zeros((n, 1), bool)
    held, above, known = (np.concatenate([a, pad], axis=1).ravel()
                          for a in (held, above, known))
    flat = np.concatenate([values, np.full((n, 1), np.nan)], axis=1).ravel()
    starts = np.flatnonzero(held & ~np.roll(held, 1))
    ends = np.flatnonzero(held & ~np.roll(held, -1))
    crossed = np.flatnonzero(above)
    first = np.searchsorted(crossed, starts)  # the first crossing at or after each start
    alarm = (first < len(crossed)) & (crossed[np.minimum(first, len(crossed) - 1)] <= ends)
    starts, ends = crossed[first[alarm]], ends[alarm]
    readings = np.flatnonzero(known)
    stops = readings[np.searchsorted(readings, ends, side="right") - 1]  # last real reading
    rows, begin, stop = starts // width, starts % width, stops % width
    peak_at = np.array([s + int(np.nanargmax(flat[s:e + 1])) for s, e in zip(starts, stops)],
                       dtype=int)
    peaks = flat[peak_at] if len(peak_at) else np.array([])
    events = pd.DataFrame({
        "sensor_id": sensor_ids[rows].astype(str), "start": times[begin], "end": times[stop],
        "peak": peaks, "peak_time": times[peak_at % width] if len(peak_at) else times[[]],
        "level": np.where(peaks >= high_high[rows], "high_high", "high"),
        "ongoing": ends % width == steps - 1}, columns=EVENT_COLUMNS)
    duration = events["end"] - events["start"]
    return events[duration >= pd.Timedelta(min_duration)].reset_index(drop=True)


def alarm_events(values, times, high: float, high_high: float = np.inf,
                 hysteresis: float = 0.0, min_duration="0s", sensor_id: str = "") -> pd.DataFrame:
    """The alarms of one sensor's readings ``values`` at ``times`` (see the module's
    definition). Columns: sensor_id, start (first reading at or above ``high``), end (last
    reading before the readings fell below ``high − hysteresis``; the last reading if still
    in alarm), peak and peak_time, level (high / high_high) and ongoing (still in alarm at the
    last reading)."""
    return _alarms(np.asarray(values, dtype=float)[None, :], pd.DatetimeIndex(times),
                   np.array([high], float), np.array([high_high], float),
                   np.array([hysteresis], float), min_duration, np.array([sensor_id]))


def all_alarm_events(readings: xr.DataArray, sensors: pd.DataFrame, hysteresis=None,
                     min_duration="0s") -> pd.DataFrame:
    """:func:`alarm_events` of every sensor, computed together; ``sensors`` is indexed by
    sensor_id with columns ``high`` and ``high_high`` (and optionally ``hysteresis``, else
    ``hysteresis`` here, else 2 % of the high threshold). Sorted by start, then sensor."""
    ids = np.array([str(s) for s in readings["sensor"].values])
    spec = sensors.reindex(ids)
    high, high_high = spec["high"].to_numpy(float), spec["high_high"].to_numpy(float)
    default = np.abs(high) * 0.02 if hysteresis is None else np.full(len(ids), hysteresis)
    band = (spec["hysteresis"].fillna(pd.Series(default, index=spec.index)).to_numpy(float)
            if "hysteresis" in spec else default)
    values = np.asarray(readings.transpose("sensor", "time").values)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: never in alarm
        reached = np.nanmax(values, axis=1) >= high
    rows = np.flatnonzero(reached)  # only a sensor that reached its threshold has alarms
    events = _alarms(values[rows].astype(float), pd.DatetimeIndex(readings["time"].values),
                     high[rows], high_high[rows], band[rows], min_duration, ids[rows])
    return events.sort_values(["start", "sensor_id"], ignore_index=True)


def alarm_counts(events: pd.DataFrame, site_of: pd.Series) -> pd.DataFrame:
    """Alarms per site and level (columns high, high_high, total), sites in ``site_of``'s
    order of appearance, zeros where none."""
    sites = pd.Index(pd.unique(site_of.values), name="site_id")
    site = events["sensor_id"].map(site_of)
    counts = (pd.crosstab(site, events["level"]) if len(events)
              else pd.DataFrame(index=sites))
    counts = counts.reindex(index=sites, columns=list(ALARM_LEVELS), fill_value=0)
    counts = counts.fillna(0).astype(int)
    counts["total"] = counts.sum(axis=1)
    counts.columns.name = None
    return counts


def decimate(series: pd.Series, max_points: int = 2000) -> pd.Series:
    """At most about ``max_points`` points of a time series for drawing, keeping every
    excursion: the series is cut into ``max_points / 2`` equal runs and each run gives its
    minimum and maximum, in time order. Shorter series come back as they are (NaN dropped)."""
    series = series.dropna()
    if len(series) <= max_points:
        return series
    bins = max(max_points // 2, 1)
    run = np.arange(len(series)) * bins // len(series)
    values = series.to_numpy()
    keep = []
    starts = np.flatnonzero(np.diff(np.concatenate([[-1], run])))
    ends = np.concatenate([starts[1:], [len(series)]])
    for first, last in zip(starts, ends):
        chunk = values[first:last]
        low, high = first + int(np.argmin(chunk)), first + int(np.argmax(chunk))
        keep += sorted({low, high})
    return series.iloc[keep]

"""The simulated sensor feed of the major hazard installations: which sensors each
installation carries, and what they read — daily cycles, noise, slow drift, dropouts, sites not
yet connected, and now and then an excursion into alarm.

Pure and deterministic: the same seed gives the same sensors and the same readings, and the
readings of a day do not depend on which other days are simulated with it (each day has its
own random stream), so a feed simulated day by day equals one simulated at once. Times are
local time in Asia/Shanghai, without a zone (as the ledgers write them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from safetyviz.core.vocab import SENSOR_KINDS

ABBREVIATION = {"level": "L", "temperature": "T", "pressure": "P", "combustible_gas": "G",
                "toxic_gas": "X"}
SENSOR_COLUMNS = ["sensor_id", "site_id", "adcode", "kind", "unit", "high", "high_high"]


def sensors(sites: pd.DataFrame, seed: int = 2020) -> pd.DataFrame:
    """The sensors of each installation (``sites``: site_id, adcode, grade): one of every kind,
    and a second level, temperature and gas sensor on grade 1–2 installations (the more
    dangerous, with more tanks and units), a third combustible-gas detector on a third of
    the sites."""
    rng = np.random.default_rng([seed, 7])
    rows = []
    for site in sites.sort_values("site_id").itertuples():
        counts = {kind: 1 for kind in SENSOR_KINDS}
        if int(site.grade) <= 2:
            for kind in ("level", "temperature", "combustible_gas"):
                counts[kind] += 1
        if rng.random() < 1 / 3:
            counts["combustible_gas"] += 1
        for kind, n in counts.items():
            spec = SENSOR_KINDS[kind]
            for i in range(1, n + 1):
                rows.append((f"{site.site_id}-{ABBREVIATION[kind]}{i:02d}", site.site_id,
                             str(site.adcode), kind, spec.unit, spec.high, spec.high_high))
    return pd.DataFrame(rows, columns=SENSOR_COLUMNS)


def _day_stream(seed: int, day: pd.Timestamp) -> np.random.Generator:
    return np.random.default_rng([seed, int(day.toordinal())])


def _per_sensor(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each sensor's daily phase (hours) and drift (in noise units per day), fixed for it."""
    rng = np.random.default_rng([seed, 11])
    return rng.uniform(0, 24, n), rng.normal(0, 0.05, n)


def readings(sensor_table: pd.DataFrame, sites: pd.DataFrame, start, days: int = 1,
             interval="60s", seed: int = 2020, dropout_rate: float = 0.002,
             excursions_per_day: float = 0.05, dtype=np.float32) -> xr.DataArray:
    """Readings of ``sensor_table``'s sensors from ``start`` (a midnight) for ``days`` days,
    one per ``interval``, as a DataArray (sensor × time), NaN where none arrived:

    * normal operation: the kind's baseline, a daily cycle of its amplitude (each sensor with
      its own phase), Gaussian noise and a slow drift;
    * dropouts: single readings lost at ``dropout_rate``, and one gap of 5–30 minutes per
      sensor on about one day in ten;
    * not connected: every reading of a site whose ``online_since`` is empty or later than
      the reading (the bulletin's one installation of 11 without real-time monitoring);
    * excursions: on average ``excursions_per_day`` per sensor and day, a rise over 2–20
      minutes to between the high threshold and 1.2 × the high-high one, and back.
    """
    start = pd.Timestamp(start).normalize()
    step = pd.Timedelta(interval)
    per_day = int(pd.Timedelta("1D") / step)
    if per_day * step != pd.Timedelta("1D"):
        raise ValueError(f"interval {interval!r} does not divide a day")
    table = sensor_table.reset_index(drop=True)
    n = len(table)
    kinds = [SENSOR_KINDS[k] for k in table["kind"]]
    baseline = np.array([k.baseline for k in kinds])
    amplitude = np.array([k.daily_amplitude for k in kinds])
    noise = np.array([k.noise for k in kinds])
    floor = np.array([k.minimum for k in kinds])
    high = table["high"].to_numpy(float)
    high_high = table["high_high"].to_numpy(float)
    phase, drift = _per_sensor(seed, n)
    connected = pd.to_datetime(table["site_id"].map(sites.set_index("site_id")["online_since"]))
    blocks = []
    for offset in range(days):
        day = start + pd.Timedelta(days=offset)
        rng = _day_stream(seed, day)
        times = pd.DatetimeIndex(day + step * np.arange(per_day))
        hours = (times - day) / pd.Timedelta("1h")
        day_number = (day - pd.Timestamp("2000-01-01")).days
        cycle = np.sin(2 * np.pi * (hours.to_numpy()[None, :] - phase[:, None]) / 24)
        values = (baseline[:, None] + amplitude[:, None] * cycle
                  + noise[:, None] * (rng.standard_normal((n, per_day))
                                      + drift[:, None] * (day_number % 365) / 30))
        for row in np.flatnonzero(rng.random(n) < excursions_per_day):
            length = int(rng.integers(2, 21) * pd.Timedelta("1min") / step) or 1
            first = int(rng.integers(0, max(per_day - 2 * length, 1)))
            peak = rng.uniform(high[row], 1.2 * high_high[row])
            ramp = np.concatenate([np.linspace(0, 1, length + 1)[1:],
                                   np.linspace(1, 0, length + 1)[1:]])
            span = slice(first, first + len(ramp))
            values[row, span] += ramp * (peak - values[row, span])  # reaches the peak
        values = np.maximum(values, floor[:, None])
        values[rng.random((n, per_day)) < dropout_rate] = np.nan
        for row in np.flatnonzero(rng.random(n) < 0.1):
            length = int(rng.integers(5, 31) * pd.Timedelta("1min") / step) or 1
            first = int(rng.integers(0, per_day - length))
            values[row, first:first + length] = np.nan
        offline = ~(connected.to_numpy()[:, None] <= times.to_numpy()[None, :])
        values[offline] = np.nan
        blocks.append(xr.DataArray(values.astype(dtype), dims=("sensor", "time"),
                                   coords={"sensor": table["sensor_id"].to_numpy(),
                                           "time": times.to_numpy()}))
    feed = xr.concat(blocks, dim="time") if len(blocks) > 1 else blocks[0]
    return feed.rename("value").assign_attrs(
        long_name_zh="传感器读数", long_name_en="Sensor reading",
        note="local time, Asia/Shanghai; NaN: no reading")

"""The readings store: appends on a regular grid, idempotent, refusing what does not fit, and
readable while a writer appends (never a partial version)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from safetyviz.core.errors import UserError
from safetyviz.data import readings
from safetyviz.synth import sensor_feed

SITES = pd.DataFrame({"site_id": ["S1", "S2"], "adcode": ["411002", "411003"],
                      "grade": [1, 3],
                      "online_since": [pd.Timestamp("2019-01-01"), pd.Timestamp("2019-06-01")]})
SENSORS = sensor_feed.sensors(SITES)
FEED = sensor_feed.readings(SENSORS, SITES, "2020-03-31", days=1, excursions_per_day=0.5)


def stored(data_dir) -> xr.DataArray:
    return readings.open_readings(data_dir)["value"].load()


def test_appends_add_up_to_the_feed_and_resending_adds_nothing(tmp_path):
    first = readings.append_readings(tmp_path, FEED.isel(time=slice(0, 600)))
    assert (first.steps, first.skipped) == (600, 0)
    again = readings.append_readings(tmp_path, FEED.isel(time=slice(500, 900)))  # overlaps
    resent = int(FEED.isel(time=slice(500, 600)).notnull().sum())
    assert (again.steps, again.skipped, again.filled) == (300, resent, 0)
    assert readings.append_readings(tmp_path, FEED.isel(time=slice(0, 900))).path is None
    readings.append_readings(tmp_path, FEED.isel(time=slice(900, None)))
    result = stored(tmp_path)
    np.testing.assert_array_equal(result["time"].values, FEED["time"].values)
    np.testing.assert_array_equal(result.values, FEED.values)  # NaN where NaN
    assert result.chunks is None and readings.open_readings(tmp_path)["value"].chunks


def test_late_readings_fill_gaps_and_different_ones_are_conflicts(tmp_path):
    early = FEED.isel(time=slice(0, 10)).copy()
    early[0, 5] = np.nan  # sensor 0's reading at 08:05 has not arrived
    readings.append_readings(tmp_path, early)
    late = FEED.isel(time=slice(5, 6), sensor=[0, 1]).copy()
    late[1, 0] = late[1, 0] + 1  # sensor 1 reports another value for a stored minute
    result = readings.append_readings(tmp_path, late)
    assert (result.filled, result.skipped, result.steps) == (1, 0, 0)
    assert result.conflicts[["sensor_id", "value", "stored"]].values.tolist() == [
        [str(FEED["sensor"].values[1]), float(late[1, 0]), float(FEED[1, 5])]]
    values = stored(tmp_path)
    assert values[0, 5] == FEED[0, 5] and values[1, 5] == FEED[1, 5]  # filled; kept
    assert readings.append_readings(tmp_path, late.isel(sensor=[0])).path is None  # re-sent


def test_a_gap_in_the_feed_stays_a_gap_on_the_grid(tmp_path):
    readings.append_readings(tmp_path, FEED.isel(time=slice(0, 10)))
    readings.append_readings(tmp_path, FEED.isel(time=slice(20, 30)))  # minutes 10–19 missing
    result = stored(tmp_path)
    assert result.sizes["time"] == 30
    assert result.isel(time=slice(10, 20)).isnull().all()
    np.testing.assert_array_equal(result.isel(time=slice(20, 30)).values,
                                  FEED.isel(time=slice(20, 30)).values)


def test_a_feed_with_fewer_sensors_is_padded_and_unknown_sensors_are_refused(tmp_path):
    readings.append_readings(tmp_path, FEED.isel(time=slice(0, 10)))
    some = FEED.isel(time=slice(10, 12)).isel(sensor=[0, 1])
    readings.append_readings(tmp_path, some)
    result = stored(tmp_path)
    assert result.isel(time=slice(10, 12)).isel(sensor=slice(2, None)).isnull().all()
    stranger = FEED.isel(time=slice(12, 13), sensor=[0]).assign_coords(sensor=["NOPE-01"])
    before = readings.readings_path(tmp_path).resolve()
    with pytest.raises(UserError, match="sensors not in the readings store: NOPE-01"):
        readings.append_readings(tmp_path, stranger)
    assert readings.readings_path(tmp_path).resolve() == before  # nothing changed


def test_a_store_keeps_its_interval_through_appends(tmp_path):
    times = pd.date_range("2020-03-31", periods=12, freq="30s")
    feed = xr.DataArray(np.arange(24, dtype=float).reshape(2, 12), dims=("sensor", "time"),
                        coords={"sensor": ["a", "b"], "time": times})
    for part in (slice(0, 4), slice(4, 8), slice(8, 12)):
        readings.append_readings(tmp_path, feed.isel(time=part), interval="30s")
    assert readings.open_readings(tmp_path).attrs["interval"] == "30s"
    np.testing.assert_array_equal(stored(tmp_path).values, feed.values)


def test_readings_off_the_grid_are_refused(tmp_path):
    readings.append_readings(tmp_path, FEED.isel(time=slice(0, 10)))
    late = FEED.isel(time=slice(10, 11)).assign_coords(
        time=FEED["time"].values[10:11] + np.timedelta64(30, "s"))
    with pytest.raises(UserError, match="off the store's 0 days 00:01:00 grid"):
        readings.append_readings(tmp_path, late)


WRITER = textwrap.dedent("""
    import sys, pandas as pd
    from safetyviz.data import readings
    from safetyviz.synth import sensor_feed
    sites = pd.DataFrame({"site_id": ["S1", "S2"], "adcode": ["411002", "411003"],
                          "grade": [1, 3], "online_since": [pd.Timestamp("2019-01-01"),
                                                            pd.Timestamp("2019-06-01")]})
    feed = sensor_feed.readings(sensor_feed.sensors(sites), sites, "2020-03-31", days=1,
                                excursions_per_day=0.5)
    for i in range(60, 300, 3):
        readings.append_readings(sys.argv[1], feed.isel(time=slice(i, i + 3)))
""")


def test_a_reader_never_sees_a_half_written_append(tmp_path):
    readings.append_readings(tmp_path, FEED.isel(time=slice(0, 60)))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)])
    seen, lazy = [], readings.open_readings(tmp_path)  # a lazy dataset held throughout
    try:
        while writer.poll() is None or len(seen) < 3:
            result = stored(tmp_path)
            n = result.sizes["time"]
            # Every visible minute is the feed's: no NaT time, no fill value, nothing torn.
            np.testing.assert_array_equal(result["time"].values, FEED["time"].values[:n])
            np.testing.assert_array_equal(result.values, FEED.values[:, :n])
            held = lazy["value"].load()
            np.testing.assert_array_equal(held.values, FEED.values[:, :60])
            seen.append(n)
            time.sleep(0.01)
    finally:
        writer.wait(timeout=120)
    assert writer.returncode == 0
    assert seen[-1] == 300 and len(set(seen)) > 2  # it did read while the writer appended

"""Monitoring indicators on hand-built readings: online, online rate, completeness, hourly
aggregates, alarms with hysteresis and minimum duration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from safetyviz.analysis import monitoring

T0 = pd.Timestamp("2020-03-31 08:00")
MINUTES = pd.date_range(T0, periods=6, freq="1min")
NAN = np.nan


def readings(rows: dict[str, list[float]], times=MINUTES) -> xr.DataArray:
    return xr.DataArray(np.array(list(rows.values()), dtype=float), dims=("sensor", "time"),
                        coords={"sensor": list(rows), "time": times})


# s1 reports every minute, s2 until 08:02, s3 never.
THREE = readings({"s1": [1, 1, 1, 1, 1, 1], "s2": [2, 2, 2, NAN, NAN, NAN],
                  "s3": [NAN] * 6})


def test_a_sensor_is_online_if_it_reported_within_the_gap():
    at = T0 + pd.Timedelta("5min")
    assert monitoring.sensors_online(THREE, at, "2min").to_dict() == {
        "s1": True, "s2": False, "s3": False}  # s2's last report, 08:02, is 3 min old
    assert monitoring.sensors_online(THREE, at, "4min").to_dict() == {
        "s1": True, "s2": True, "s3": False}
    # Looking back from 08:01, nothing after it counts.
    assert monitoring.last_report(THREE, T0 + pd.Timedelta("1min"))["s2"] == \
        T0 + pd.Timedelta("1min")


def test_site_online_rate_of_the_bulletin():
    # 11 sites, one sensor each; site K's sensor is silent: 10 of 11 online, 91 %.
    sites = [f"site{c}" for c in "ABCDEFGHIJK"]
    online = pd.Series([True] * 10 + [False], index=[f"x{i}" for i in range(11)])
    site_of = pd.Series(sites, index=online.index)
    flags = monitoring.sites_online(online, site_of)
    assert flags.sum() == 10
    assert round(monitoring.online_rate(flags), 2) == 0.91
    # A registered site with no sensor connected at all counts as offline.
    assert monitoring.online_rate(flags, all_sites=[*sites, "siteL"]) == 10 / 12


def test_online_rate_per_county():
    flags = pd.Series({"A": True, "B": False, "C": True})
    county = pd.Series({"A": "411002", "B": "411002", "C": "411025", "D": "411025"})
    # D is registered in 411025 but has no sensor reporting: offline.
    assert monitoring.online_rates(flags, county).to_dict() == {"411002": 0.5, "411025": 0.5}


def test_a_site_with_one_silent_sensor():
    online = pd.Series({"a1": True, "a2": False, "b1": False})
    site_of = pd.Series({"a1": "A", "a2": "A", "b1": "B"})
    assert monitoring.sites_online(online, site_of).to_dict() == {"A": True, "B": False}
    assert monitoring.sites_online(online, site_of, require="all").to_dict() == {
        "A": False, "B": False}


def test_online_share_over_a_window():
    # Instants 08:00 … 08:05, gap 2 min: s2 (last report 08:02) is online at 08:00–08:03,
    # not at 08:04 (report exactly 2 min old) or 08:05: 4 of 6.
    shares = monitoring.online_share(THREE, T0, T0 + pd.Timedelta("5min"), "2min")
    assert shares.to_dict() == pytest.approx({"s1": 1.0, "s2": 4 / 6, "s3": 0.0})


def test_completeness():
    shares = monitoring.completeness(THREE, T0, T0 + pd.Timedelta("6min"), "1min")
    assert shares.to_dict() == {"s1": 1.0, "s2": 0.5, "s3": 0.0}


def test_hourly_min_mean_max():
    two_hours = pd.date_range(T0, periods=120, freq="1min")
    values = readings({"s1": list(range(120))}, two_hours)
    values[0, 5] = NAN  # one dropout
    hours = monitoring.hourly(values)
    assert hours["min"].sel(sensor="s1").values.tolist() == [0, 60]
    assert hours["max"].sel(sensor="s1").values.tolist() == [59, 119]
    assert hours["count"].sel(sensor="s1").values.tolist() == [59, 60]
    assert hours["mean"].sel(sensor="s1").values[1] == pytest.approx(89.5)
    assert hours["mean"].sel(sensor="s1").values[0] == pytest.approx((sum(range(60)) - 5) / 59)


# high 10, high-high 12, hysteresis 1: an alarm starts at ≥ 10 and ends below 9.
LEVELS = [1, 5, 9.9, 10, 9.5, 10.2, 9.7, 8, 7, 12, 13, 10, 8.9]
TIMES = pd.date_range(T0, periods=len(LEVELS), freq="1min")


def test_alarms_with_hysteresis():
    events = monitoring.alarm_events(LEVELS, TIMES, high=10, high_high=12, hysteresis=1)
    # 9.9 is in the band but not an alarm; 10 at 08:03 starts one, the dip to 9.5 does not
    # end it, 8 at 08:07 does (last reading in alarm: 9.7 at 08:06). 12 at 08:09 starts a
    # high-high alarm, ended by 8.9 at 08:12.
    assert events[["start", "end", "peak", "level"]].values.tolist() == [
        [TIMES[3], TIMES[6], 10.2, "high"], [TIMES[9], TIMES[11], 13.0, "high_high"]]
    assert events["peak_time"].tolist() == [TIMES[5], TIMES[10]]
    assert not events["ongoing"].any()
    # Without hysteresis the dip to 9.5 splits the first alarm in two.
    assert len(monitoring.alarm_events(LEVELS, TIMES, high=10, high_high=12)) == 3


def test_short_alarms_are_dropped():
    events = monitoring.alarm_events(LEVELS, TIMES, high=10, high_high=12, hysteresis=1,
                                     min_duration="3min")
    assert events["start"].tolist() == [TIMES[3]]  # the 2-minute high-high one is dropped


def test_a_dropout_does_not_end_an_alarm_and_the_last_one_may_be_ongoing():
    times = pd.date_range(T0, periods=6, freq="1min")
    events = monitoring.alarm_events([8, 11, NAN, NAN, 11, 8], times, high=10, hysteresis=1)
    assert events[["start", "end"]].values.tolist() == [[times[1], times[4]]]
    ongoing = monitoring.alarm_events([8, 11, 11.5, NAN], times[:4], high=10)
    assert ongoing[["start", "end", "peak"]].values.tolist() == [[times[1], times[2], 11.5]]
    assert ongoing["ongoing"].tolist() == [True]


def test_alarm_counts_by_site_and_level():
    values = readings({"g1": [0, 30, 30, 0, 0, 0], "g2": [0, 0, 0, 60, 60, 0],
                       "t1": [20, 20, 20, 20, 20, 20]})
    sensors = pd.DataFrame({"high": [25.0, 25.0, 80.0], "high_high": [50.0, 50.0, 120.0]},
                           index=["g1", "g2", "t1"])
    events = monitoring.all_alarm_events(values, sensors)
    assert events[["sensor_id", "level"]].values.tolist() == [["g1", "high"],
                                                             ["g2", "high_high"]]
    counts = monitoring.alarm_counts(events, pd.Series({"g1": "A", "g2": "A", "t1": "B"}))
    assert counts.to_dict("index") == {"A": {"high": 1, "high_high": 1, "total": 2},
                                       "B": {"high": 0, "high_high": 0, "total": 0}}


def test_decimation_keeps_the_excursions():
    times = pd.date_range(T0, periods=10_000, freq="1min")
    values = pd.Series(np.sin(np.arange(10_000) / 500.0), index=times)
    values.iloc[4321] = 50.0  # a one-minute spike
    values.iloc[7000] = -50.0
    short = monitoring.decimate(values, max_points=200)
    assert len(short) <= 200
    assert short.max() == 50.0 and short.min() == -50.0
    assert short.index.is_monotonic_increasing
    assert monitoring.decimate(values.iloc[:100], max_points=200).equals(values.iloc[:100])

"""The simulated sensor feed: sensors per installation, deterministic readings, the bulletin's
one installation of 11 without monitoring, excursions that the alarm logic finds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from safetyviz.analysis import monitoring
from safetyviz.core.vocab import SENSOR_KINDS
from safetyviz.synth import sensor_feed

SITES = pd.DataFrame({
    "site_id": ["S1", "S2", "S3"], "adcode": ["411002", "411003", "411024"],
    "grade": [1, 3, 4],
    "online_since": [pd.Timestamp("2019-01-01"), pd.NaT, pd.Timestamp("2020-03-31 12:00")]})


def test_sensors_per_installation():
    table = sensor_feed.sensors(SITES, seed=1)
    per_site = table.groupby("site_id").size()
    # Every kind once; a grade-1 site has a second level, temperature and gas sensor; a third
    # gas detector on some sites (the seed decides which).
    assert set(table[table["site_id"] == "S2"]["kind"]) == set(SENSOR_KINDS)
    assert per_site["S1"] in (8, 9) and per_site["S2"] in (5, 6) and per_site["S3"] in (5, 6)
    assert table["sensor_id"].is_unique
    gas = table[table["kind"] == "combustible_gas"].iloc[0]
    assert (gas["unit"], gas["high"], gas["high_high"]) == ("%LEL", 25.0, 50.0)


def test_readings_are_deterministic_and_independent_of_how_days_are_split():
    table = sensor_feed.sensors(SITES)
    both = sensor_feed.readings(table, SITES, "2020-03-30", days=2)
    first = sensor_feed.readings(table, SITES, "2020-03-30", days=1)
    second = sensor_feed.readings(table, SITES, "2020-03-31", days=1)
    xr.testing.assert_identical(both, xr.concat([first, second], dim="time"))
    assert both.shape == (len(table), 2 * 1440) and both.dtype == np.float32
    other_seed = sensor_feed.readings(table, SITES, "2020-03-30", days=1, seed=7)
    assert not first.equals(other_seed)


def test_unconnected_sites_send_nothing_and_the_online_rate_follows():
    table = sensor_feed.sensors(SITES)
    feed = sensor_feed.readings(table, SITES, "2020-03-31", days=1)
    site_of = table.set_index("sensor_id")["site_id"]
    s2 = table[table["site_id"] == "S2"]["sensor_id"]
    assert feed.sel(sensor=list(s2)).isnull().all()  # never connected
    s3 = list(table[table["site_id"] == "S3"]["sensor_id"])
    assert feed.sel(sensor=s3, time=slice(None, "2020-03-31 11:59")).isnull().all()
    assert feed.sel(sensor=s3, time="2020-03-31 23:00").notnull().any()
    at_end = monitoring.sites_online(
        monitoring.sensors_online(feed, "2020-03-31 23:59", "5min"), site_of)
    assert at_end.to_dict() == {"S1": True, "S2": False, "S3": True}
    assert monitoring.online_rate(at_end, SITES["site_id"]) == 2 / 3


def test_normal_readings_stay_below_the_thresholds_and_excursions_raise_alarms():
    table = sensor_feed.sensors(SITES)
    quiet = sensor_feed.readings(table, SITES, "2020-03-31", excursions_per_day=0)
    specs = table.set_index("sensor_id")
    assert monitoring.all_alarm_events(quiet, specs).empty
    busy = sensor_feed.readings(table, SITES, "2020-03-31", excursions_per_day=1)
    events = monitoring.all_alarm_events(busy, specs)
    connected = table[table["site_id"] != "S2"]
    assert len(events) >= len(connected) // 2  # about one per connected sensor
    peaks = events.join(specs, on="sensor_id")
    assert (peaks["peak"] >= peaks["high"]).all()
    assert set(events["level"]) <= {"high", "high_high"}


def test_dropouts_are_rare():
    table = sensor_feed.sensors(SITES)
    feed = sensor_feed.readings(table, SITES, "2020-03-01", days=5)
    s1 = list(table[table["site_id"] == "S1"]["sensor_id"])
    share = monitoring.completeness(feed.sel(sensor=s1), "2020-03-01", "2020-03-06", "60s")
    assert share.between(0.98, 1.0).all() and (share < 1.0).any()


def test_the_demo_feed_gives_the_bulletins_10_of_11_online(demo_catalog):
    from safetyviz.data.catalog import read
    from safetyviz.data.loading import load_table

    feed = read("monitoring", demo_catalog)["value"]  # lazy, through the catalog
    assert feed.chunks is not None
    table = load_table("sensors", catalog=demo_catalog).compute()
    sites = load_table("major_hazard_sites", catalog=demo_catalog).compute()
    end = feed["time"].values[-1]
    assert str(end) == "2020-03-31T23:59:00.000000000"  # the bulletin's date
    online = monitoring.sensors_online(feed, end, "5min")
    flags = monitoring.sites_online(online, table.set_index("sensor_id")["site_id"])
    assert (int(flags.sum()), len(sites)) == (10, 11)
    assert round(monitoring.online_rate(flags, sites["site_id"]), 2) == 0.91

"""safetyviz monitor: the simulator appends after the stored readings; the CSV ingest stores
good rows, quarantines bad ones with their reasons, and stores nothing twice."""

from __future__ import annotations

import csv
import shutil

import pandas as pd
import pytest

from conftest import assert_one_clear_line, run_cli
from safetyviz.data import readings
from safetyviz.ingest import monitor


@pytest.fixture()
def data_dir(demo_dir, tmp_path):
    """A private copy of the demo data (the session's demo dir stays as it is)."""
    target = tmp_path / "data"
    shutil.copytree(demo_dir, target, symlinks=True)
    (target / "catalog.yaml").unlink()  # rewritten for this dir
    return target


def test_simulate_continues_after_the_stored_readings(data_dir):
    added = monitor.simulate(data_dir, days=1, report=lambda _: None)
    values = readings.open_readings(data_dir)["value"]
    assert str(values["time"].values[-1]) == "2020-04-01T23:59:00.000000000"
    assert values.sizes["time"] == 3 * 1440
    day = values.sel(time="2020-04-01")
    assert added == int(day.notnull().sum()) > 0


READINGS = [
    ("MHS0001-L01", "2020-04-01 00:00:00", "55.5"),   # row 2: good (a new minute)
    ("MHS0001-L01", "2020-04-01 00:01", "abc"),       # row 3: bad_value
    ("NOPE-01", "2020-04-01 00:01:00", "1"),          # row 4: unknown_sensor
    ("MHS0001-L01", "2020-04-01 00:01:30", "1"),      # row 5: off_grid
    ("MHS0001-L01", "yesterday", "1"),                # row 6: bad_time
    ("MHS0001-L01", "2020-04-01T00:00:00", "55.5"),   # row 7: duplicate of row 2
    ("MHS0001-T01", "2020-03-31 10:00:00", "999"),    # row 8: conflict with the stored one
    ("MHS0001-P01", "2020-04-01 00:02:00", " 1.25 "),  # row 9: good
]


def write_csv(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["sensor_id", "time", "value"])
        writer.writerows(rows)
    return path


def test_ingest_stores_good_rows_and_quarantines_the_rest(data_dir, tmp_path):
    path = write_csv(tmp_path / "readings.csv", READINGS)
    report = monitor.ingest_readings(path, data_dir)
    assert report.rows_read == 8 and report.stored == 2 and report.already_stored == 0
    assert dict(report.rejected) == {"bad_value": 1, "unknown_sensor": 1, "off_grid": 1,
                                     "bad_time": 1, "duplicate": 1, "conflict": 1}
    with open(report.quarantine, encoding="utf-8-sig") as stream:
        quarantined = [(int(r["row"]), r["reason"]) for r in csv.DictReader(stream)]
    assert quarantined == [(3, "bad_value"), (4, "unknown_sensor"), (5, "off_grid"),
                           (6, "bad_time"), (7, "duplicate"), (8, "conflict")]
    values = readings.open_readings(data_dir)["value"]
    assert float(values.sel(sensor="MHS0001-L01", time="2020-04-01 00:00")) == 55.5
    assert float(values.sel(sensor="MHS0001-P01", time="2020-04-01 00:02")) == 1.25
    assert values.sel(time="2020-04-01 00:01").isnull().all()  # nothing at the bad minute
    stored_before = float(values.sel(sensor="MHS0001-T01", time="2020-03-31 10:00"))
    assert stored_before != 999  # the conflict did not overwrite

    again = monitor.ingest_readings(path, data_dir)  # the same file once more
    assert (again.stored, again.already_stored) == (0, 2)
    assert again.rows_read == again.stored + again.already_stored + sum(again.rejected.values())


def test_dry_run_writes_nothing(data_dir, tmp_path):
    before = readings.readings_path(data_dir).resolve()
    report = monitor.ingest_readings(write_csv(tmp_path / "r.csv", READINGS), data_dir,
                                     dry_run=True)
    # Conflicts with stored readings are found when writing: a dry run counts row 8 as good.
    assert report.stored == 3 and sum(report.rejected.values()) == 5
    assert readings.readings_path(data_dir).resolve() == before
    assert not (data_dir / "quarantine").exists()


def test_bad_files_are_one_clear_line(data_dir, tmp_path):
    headers = tmp_path / "headers.csv"
    headers.write_text("sensor,time,reading\nMHS0001-L01,2020-04-01 00:00,1\n", "utf-8")
    result = run_cli("monitor", "ingest", str(headers), "--data-dir", str(data_dir))
    assert_one_clear_line(result, "headers.csv, row 1", "sensor_id", "value")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("sensor_id,time,value\n传感器,2020-04-01 00:00,1\n".encode("gbk"))
    result = run_cli("monitor", "ingest", str(gbk), "--data-dir", str(data_dir))
    assert_one_clear_line(result, "gbk.csv: not UTF-8")
    result = run_cli("monitor", "simulate", "--days", "0", "--data-dir", str(data_dir))
    assert_one_clear_line(result, "--days must be at least 1")


def test_simulated_feed_through_the_command_line(data_dir):
    result = run_cli("monitor", "simulate", "--start", "2020-04-01", "--data-dir",
                     str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "appended" in result.stdout
    end = pd.Timestamp(readings.open_readings(data_dir)["time"].values[-1])
    assert end == pd.Timestamp("2020-04-01 23:59")


def test_the_live_state_follows_the_store_and_checks_what_it_is_given(data_dir):
    from safetyviz.data.catalog import ensure_catalog, open_catalog
    from safetyviz.data.loading import load_table
    from safetyviz.web.live import MonitoringState

    cat = open_catalog(ensure_catalog(data_dir))
    state = MonitoringState(data_dir, load_table("sensors", catalog=cat).compute(),
                            load_table("major_hazard_sites", catalog=cat).compute(), 0.63)
    assert (state.kpis()["online"], state.kpis()["sites"]) == (10, 11)
    assert state.refresh() is False  # nothing new
    loads = state.loads
    monitor.simulate(data_dir, days=1, report=lambda _: None)
    assert state.refresh() is True and state.loads == loads + 1
    assert str(state.as_of) == "2020-04-01 23:59:00"
    state.site = "MHS0002"
    assert state.sensor.startswith("MHS0002-")  # the sensors follow the site
    with pytest.raises(ValueError):
        state.sensor = "MHS0001-L01"  # not one of MHS0002's
    with pytest.raises(ValueError):
        state.window = "1000d"
    assert state.curve().empty  # MHS0002 was never connected: nothing to draw
    # Values from the URL are checked like every other value from the browser.
    assert state.apply_query({"site": "<script>", "sensor": "MHS0003-L01", "window": "24h",
                              "lang": "en"}) == ["site", "sensor"]
    assert (state.site, state.window, state.lang) == ("MHS0002", "24h", "en")


def test_an_installation_without_sensors_yet_is_offline_and_says_so(data_dir):
    """A site registered before its sensors: counted, offline, and its curve a note, not an
    error."""
    from safetyviz.data.catalog import ensure_catalog, open_catalog
    from safetyviz.data.loading import load_regions, load_table
    from safetyviz.web.components.monitoring import MonitoringPage
    from safetyviz.web.live import MonitoringState

    cat = open_catalog(ensure_catalog(data_dir))
    sites = load_table("major_hazard_sites", catalog=cat).compute()
    bare = sites.iloc[[0]].assign(site_id="MHS9999", name="未接入传感器的储罐区")
    state = MonitoringState(data_dir, load_table("sensors", catalog=cat).compute(),
                            pd.concat([sites, bare], ignore_index=True), 0.63)
    assert (state.kpis()["online"], state.kpis()["sites"]) == (10, 12)
    state.site = "MHS9999"
    assert state.sensor is None and state.query()["sensor"] is None
    page = MonitoringPage(state=state, regions=load_regions(cat))
    curve = page._curve()
    assert curve.opts.get().kwargs["title"] == "该重大危险源尚未接入传感器"
    state.site = "MHS0001"  # and back to a site with sensors
    assert state.sensor.startswith("MHS0001-") and len(page._curve().get(0).data)

"""Monitoring at province scale: safetyviz (the Zarr readings store, xarray + Dask, the
monitoring indicators) against DuckDB computing the same from the same readings in Parquet,
in the same run; the results must be identical.

Data: 2,000 installations × 10 sensors, one reading a minute for a day (28.8 M readings,
minus dropouts and the one site in nine never connected), simulated once under --root. Each
engine runs in its own process (its peak RSS is its own) and computes:

* online: every installation online at 23:59 (a sensor reported within 5 minutes);
* alarms: every alarm event (hysteresis 2 % of the high threshold), start, end, peak, level;
* hourly: min, mean, max and count per sensor and hour.

Also measured: appending one minute of province readings to the store (median of 5), a
live-page refresh at that scale (reload + online + alarms of the last 24 h), the page's
curve of one sensor over 30 days at one reading a second (2.6 M readings, decimated), and end
to end: the monitoring page served over the province store in headless Chromium, the time
from appending a minute with an excursion until the page lists that alarm.

    python benchmarks/monitoring.py [--root /tmp/safetyviz-bench/monitoring] [--sites 2000]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

AT = pd.Timestamp("2020-03-31 23:59")
GAP = "5min"
KINDS = ["level", "level", "temperature", "temperature", "pressure", "pressure",
         "combustible_gas", "combustible_gas", "toxic_gas", "toxic_gas"]


def prepare(root: Path, n_sites: int) -> None:
    """Sensors, the Zarr store and the same readings as Parquet (long: one row a reading)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from safetyviz.core.vocab import SENSOR_KINDS
    from safetyviz.data.readings import append_readings
    from safetyviz.synth import sensor_feed

    marker = root / f"ready-{n_sites}"
    if marker.exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    sites = pd.DataFrame({"site_id": [f"S{i:05d}" for i in range(n_sites)], "adcode": "990101",
                          "grade": 3, "online_since": pd.Timestamp("2019-01-01")})
    sites.loc[::9, "online_since"] = pd.NaT
    rows = [(f"{s}-{i:02d}", s, kind, SENSOR_KINDS[kind].unit, SENSOR_KINDS[kind].high,
             SENSOR_KINDS[kind].high_high)
            for s in sites["site_id"] for i, kind in enumerate(KINDS)]
    sensors = pd.DataFrame(rows, columns=["sensor_id", "site_id", "kind", "unit", "high",
                                          "high_high"])
    feed = sensor_feed.readings(sensors.assign(adcode="990101"), sites, AT.normalize(), 1)
    append_readings(root / "data", feed, replace=True)
    values = feed.values
    known = ~np.isnan(values)
    rows_idx, cols_idx = np.nonzero(known)
    table = pa.table({
        "sensor_id": pa.DictionaryArray.from_arrays(rows_idx.astype(np.int32),
                                                    pa.array(feed["sensor"].values.astype(str))),
        "time": pa.array(feed["time"].values[cols_idx]),
        "value": pa.array(values[known], pa.float32())})
    pq.write_table(table, root / "readings.parquet", row_group_size=1_000_000)
    sensors.to_parquet(root / "sensors.parquet")
    sites.to_parquet(root / "sites.parquet")
    marker.touch()


def run_safetyviz(root: Path) -> dict:
    from safetyviz.analysis import monitoring
    from safetyviz.data.readings import open_readings

    sensors = pd.read_parquet(root / "sensors.parquet").set_index("sensor_id")
    start = time.perf_counter()
    values = open_readings(root / "data")["value"]
    online = monitoring.sites_online(monitoring.sensors_online(values, AT, GAP),
                                     sensors["site_id"])
    t_online = time.perf_counter()
    alarms = monitoring.all_alarm_events(values, sensors)
    t_alarms = time.perf_counter()
    hourly = monitoring.hourly(values).compute()
    t_hourly = time.perf_counter()
    frame = hourly.to_dataframe().reset_index()
    frame = frame[frame["count"] > 0].rename(columns={"sensor": "sensor_id", "time": "hour"})
    return {"seconds": {"online": t_online - start, "alarms": t_alarms - t_online,
                        "hourly": t_hourly - t_alarms, "total": t_hourly - start},
            "online": online.sort_index(), "alarms": alarms, "hourly": frame}


ALARMS_SQL = """
with h as (
    select r.sensor_id::varchar as sensor_id, r.time, r.value, s.high_high,
           r.value >= s.high - abs(s.high) * 0.02 as held, r.value >= s.high as above
    from read_parquet('{root}/readings.parquet') r
    join read_parquet('{root}/sensors.parquet') s on r.sensor_id::varchar = s.sensor_id),
g as (
    select *, sum(case when held then 0 else 1 end)
                  over (partition by sensor_id order by time rows unbounded preceding) as run,
              max(time) over (partition by sensor_id) as last_time
    from h),
runs as (
    select sensor_id, run, min(time) filter (where above) as "start", max(time) as "end",
           max(value) as peak, any_value(high_high) as high_high,
           max(time) = any_value(last_time) as ongoing
    from g where held group by sensor_id, run having count(*) filter (where above) > 0)
select r.sensor_id, r."start", r."end", r.peak,
       (select min(g.time) from g where g.sensor_id = r.sensor_id and g.run = r.run
          and g.time >= r."start" and g.value = r.peak) as peak_time,
       case when r.peak >= r.high_high then 'high_high' else 'high' end as level, r.ongoing
from runs r order by r."start", r.sensor_id
"""
ONLINE_SQL = """
select s.site_id, coalesce(bool_or(l.last_time > timestamp '{at}' - interval 5 minute), false)
       as online
from read_parquet('{root}/sensors.parquet') s
left join (select sensor_id::varchar as sensor_id, max(time) as last_time
           from read_parquet('{root}/readings.parquet') where time <= timestamp '{at}'
           group by 1) l on l.sensor_id = s.sensor_id
group by s.site_id order by s.site_id
"""
HOURLY_SQL = """
select sensor_id::varchar as sensor_id, date_trunc('hour', time) as hour, min(value) as min,
       avg(value) as mean, max(value) as max, count(value) as count
from read_parquet('{root}/readings.parquet') group by all order by 1, 2
"""


def run_duckdb(root: Path) -> dict:
    import duckdb

    con = duckdb.connect()
    start = time.perf_counter()
    online = con.sql(ONLINE_SQL.format(root=root, at=AT)).df().set_index("site_id")["online"]
    t_online = time.perf_counter()
    alarms = con.sql(ALARMS_SQL.format(root=root)).df()
    t_alarms = time.perf_counter()
    hourly = con.sql(HOURLY_SQL.format(root=root)).df()
    t_hourly = time.perf_counter()
    return {"seconds": {"online": t_online - start, "alarms": t_alarms - t_online,
                        "hourly": t_hourly - t_alarms, "total": t_hourly - start},
            "online": online.sort_index(), "alarms": alarms, "hourly": hourly}


def engine_main(engine: str, root: Path) -> None:
    result = (run_safetyviz if engine == "safetyviz" else run_duckdb)(root)
    out = root / f"result-{engine}"
    out.mkdir(exist_ok=True)
    result["online"].rename("online").to_frame().to_parquet(out / "online.parquet")
    result["alarms"].to_parquet(out / "alarms.parquet")
    result["hourly"].to_parquet(out / "hourly.parquet")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": result["seconds"], "peak_mb": peak}))


def compare(root: Path) -> list[str]:
    """Differences between the two engines' results (empty: identical)."""
    problems = []
    a, b = (root / "result-safetyviz", root / "result-duckdb")
    online_a = pd.read_parquet(a / "online.parquet")["online"].astype(bool)
    online_b = pd.read_parquet(b / "online.parquet")["online"].astype(bool)
    if not online_a.equals(online_b.reindex(online_a.index)):
        problems.append("online flags differ")
    columns = ["sensor_id", "start", "end", "peak", "peak_time", "level", "ongoing"]
    alarms_a = pd.read_parquet(a / "alarms.parquet")[columns].sort_values(
        ["sensor_id", "start"], ignore_index=True)
    alarms_b = pd.read_parquet(b / "alarms.parquet")[columns].sort_values(
        ["sensor_id", "start"], ignore_index=True)
    for frame in (alarms_a, alarms_b):
        for column in ("start", "end", "peak_time"):
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
        frame["peak"] = frame["peak"].astype(np.float32)
        frame["ongoing"] = frame["ongoing"].astype(bool)
    try:
        pd.testing.assert_frame_equal(alarms_a, alarms_b, check_dtype=False)
    except AssertionError as exc:
        problems.append(f"alarms differ: {str(exc).splitlines()[0]}")
    hourly_a = pd.read_parquet(a / "hourly.parquet").sort_values(["sensor_id", "hour"],
                                                                 ignore_index=True)
    hourly_b = pd.read_parquet(b / "hourly.parquet").sort_values(["sensor_id", "hour"],
                                                                 ignore_index=True)
    hourly_a["hour"] = pd.to_datetime(hourly_a["hour"]).astype("datetime64[ns]")
    hourly_b["hour"] = pd.to_datetime(hourly_b["hour"]).astype("datetime64[ns]")
    if len(hourly_a) != len(hourly_b):
        problems.append(f"hourly rows differ: {len(hourly_a)} vs {len(hourly_b)}")
    else:
        exact = ["sensor_id", "hour", "count"]
        if not hourly_a[exact].astype(str).equals(hourly_b[exact].astype(str)):
            problems.append("hourly keys or counts differ")
        for column in ("min", "max"):
            if not np.array_equal(hourly_a[column].astype(np.float32),
                                  hourly_b[column].astype(np.float32)):
                problems.append(f"hourly {column} differs")
        if not np.allclose(hourly_a["mean"], hourly_b["mean"], rtol=1e-5):
            problems.append("hourly mean differs beyond float32 rounding")
    return problems


def timed_append(root: Path, repeats: int = 5) -> tuple[float, float]:
    """Median seconds to append one minute of readings to the day, and to refresh the live
    page's state (reload, online, alarms of the last day)."""
    import shutil

    from safetyviz.data.readings import append_readings
    from safetyviz.synth import sensor_feed
    from safetyviz.web.live import MonitoringState

    sensors = pd.read_parquet(root / "sensors.parquet")
    sites = pd.read_parquet(root / "sites.parquet")
    work = root / "append"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(root / "data", work, symlinks=True)
    next_day = sensor_feed.readings(sensors.assign(adcode="990101"), sites,
                                    AT.normalize() + pd.Timedelta(days=1), 1)
    state = MonitoringState(work, sensors, sites)
    appends, refreshes = [], []
    for minute in range(repeats):
        start = time.perf_counter()
        append_readings(work, next_day.isel(time=slice(minute, minute + 1)))
        appends.append(time.perf_counter() - start)
        start = time.perf_counter()
        state.refresh()
        state.kpis()
        refreshes.append(time.perf_counter() - start)
    return statistics.median(appends), statistics.median(refreshes)


def month_at_one_second(root: Path) -> tuple[float, int, int]:
    """A month of one reading a second for one installation's sensors, then the live page's
    curve of one sensor over 30 days: (median seconds, readings read, points drawn)."""
    from safetyviz.data.readings import append_readings
    from safetyviz.synth import sensor_feed
    from safetyviz.web.live import MonitoringState

    store = root / "one-second"
    sites = pd.DataFrame({"site_id": ["S1"], "adcode": ["990101"], "grade": [3],
                          "online_since": [pd.Timestamp("2019-01-01")]})
    sensors = sensor_feed.sensors(sites).head(4)
    if not (store / "ready").exists():
        for day in pd.date_range("2020-03-02", periods=30, freq="D"):
            append_readings(store, sensor_feed.readings(sensors, sites, day, 1, "1s"), "1s")
        (store / "ready").touch()
    state = MonitoringState(store, sensors, sites, window="30d")
    times = []
    for _ in range(3):
        start = time.perf_counter()
        curve = state.curve()
        times.append(time.perf_counter() - start)
    readings = int(state.readings.sel(sensor=state.sensor).notnull().sum())
    return statistics.median(times), readings, len(curve)


def province_data_dir(root: Path, name: str) -> Path:
    """A data dir ``root/name``: a copy of the province store, with its installations and
    sensors spread over 150 synthetic counties, and its catalog."""
    import shutil

    from safetyviz.data import catalog, store
    from safetyviz.data.regions import write_boundaries
    from safetyviz.synth import synthetic

    live = root / name
    shutil.rmtree(live, ignore_errors=True)
    shutil.copytree(root / "data", live, symlinks=True)
    regions = synthetic.province_regions(150)
    write_boundaries(regions, live / "regions" / "boundaries.geojson")
    sites = pd.read_parquet(root / "sites.parquet")
    rng = np.random.default_rng(3)
    county = rng.integers(0, len(regions), len(sites))
    bounds = regions.geometry.bounds.to_numpy()[county]
    sites = sites.assign(enterprise_id=sites["site_id"], grade=np.int8(3),
                         adcode=regions["adcode"].to_numpy()[county],
                         lon=bounds[:, 0] + 0.1, lat=bounds[:, 1] + 0.1)
    sensors = pd.read_parquet(root / "sensors.parquet")
    sensors = sensors.assign(adcode=sensors["site_id"].map(sites.set_index("site_id")["adcode"]))
    store.write_store(live, {"major_hazard_sites": sites, "sensors": sensors})
    catalog.write_catalog(live / "catalog.yaml", "{CATALOG_DIR}")
    return live


def page_latency(root: Path, rounds: int = 3) -> list[float]:
    """Seconds from appending a minute with a high-high excursion to the province store until
    the served monitoring page (headless Chromium) lists that alarm, ``rounds`` times."""
    import os
    import socket

    import requests
    import xarray as xr
    from playwright.sync_api import sync_playwright

    from safetyviz.data.readings import append_readings, open_readings

    live = province_data_dir(root, "live")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    project = Path(__file__).resolve().parents[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", str(project / "apps" / "monitoring.py"),
         "--port", str(port), "--address", "127.0.0.1",
         "--allow-websocket-origin", f"127.0.0.1:{port}"],
        env={**os.environ, "SAFETYVIZ_CATALOG": str(live / "catalog.yaml")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/monitoring"
    latencies = []
    try:
        for _ in range(120):
            try:
                requests.get(url, timeout=60)
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=flags)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, timeout=120_000)
            page.locator(".tabulator-row").first.wait_for(timeout=120_000)
            stored = open_readings(live)["value"]
            last = pd.Timestamp(stored["time"].values[-1])
            base = stored.isel(time=-1).values
            for round_ in range(rounds):
                minute = last + pd.Timedelta(minutes=round_ + 1)
                block = xr.DataArray(base[:, None].copy(), dims=("sensor", "time"),
                                     coords={"sensor": stored["sensor"].values,
                                             "time": [minute]})
                sensor = f"S{round_ + 1:05d}-06"  # a combustible-gas detector
                block.loc[sensor] = 80.0
                started = time.perf_counter()
                append_readings(live, block)
                page.locator(".tabulator-row", has_text=sensor).first.wait_for(
                    timeout=60_000)
                latencies.append(time.perf_counter() - started)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/tmp/safetyviz-bench/monitoring")
    parser.add_argument("--sites", type=int, default=2000)
    parser.add_argument("--no-browser", action="store_true",
                        help="skip the end-to-end latency on the served page (needs chromium)")
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = Path(args.root)
    if args.engine:
        return engine_main(args.engine, root)
    started = time.perf_counter()
    prepare(root, args.sites)
    print(f"data ready in {time.perf_counter() - started:.1f} s under {root}")
    results = {}
    for engine in ("safetyviz", "duckdb"):
        out = subprocess.run([sys.executable, __file__, "--engine", engine, "--root", str(root)],
                             capture_output=True, text=True, check=True)
        results[engine] = json.loads(out.stdout.strip().splitlines()[-1])
    problems = compare(root)
    append_s, refresh_s = timed_append(root)
    month_s, month_readings, month_points = month_at_one_second(root)
    latencies = page_latency(root) if not args.no_browser else []
    s, d = results["safetyviz"], results["duckdb"]
    readings = pd.read_parquet(root / "readings.parquet", columns=["value"]).shape[0]
    print(f"\n{args.sites:,} installations × 10 sensors, one day at 1/min: {readings:,} "
          "readings\n")
    print("| step | safetyviz (Zarr, xarray/Dask) | DuckDB (Parquet) | ratio |")
    print("|---|---|---|---|")
    for step in ("online", "alarms", "hourly", "total"):
        print(f"| {step} | {s['seconds'][step]:.2f} s | {d['seconds'][step]:.2f} s | "
              f"{s['seconds'][step] / d['seconds'][step]:.2f} |")
    print(f"| peak memory | {s['peak_mb']:,.0f} MB | {d['peak_mb']:,.0f} MB | |")
    print(f"\nresults identical: {'yes' if not problems else 'NO: ' + '; '.join(problems)}")
    print(f"append one minute of readings (median of 5): {append_s:.3f} s")
    print(f"live page refresh (reload + online + alarms of the last 24 h): {refresh_s:.2f} s "
          f"(+ up to the page's 1 s refresh period)")
    print(f"one sensor's curve over 30 days at one reading a second: {month_s:.2f} s "
          f"({month_readings:,} readings → {month_points:,} points drawn)")
    if latencies:
        print("append → alarm on the served page (Chromium), 3 rounds: "
              + ", ".join(f"{x:.1f} s" for x in latencies))
    results.update(month_curve_seconds=month_s, month_readings=month_readings,
                   month_points=month_points, page_latency_seconds=latencies)
    results.update(problems=problems, append_seconds=append_s, refresh_seconds=refresh_s,
                   readings=readings, sites=args.sites)
    out = Path(__file__).parent / "results" / "monitoring.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

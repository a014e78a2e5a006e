"""The cube on a dask.distributed cluster (real worker processes on loopback): the same result
as local threads, from a catalog of fsspec URLs, and through a worker killed mid-build."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import xarray as xr

from conftest import assert_one_clear_line, run_cli
from safetyviz.analysis import cube
from safetyviz.data import catalog
from safetyviz.synth import synthetic

distributed = pytest.importorskip("distributed")


def local_cluster():
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                    host="127.0.0.1", dashboard_address=":0",
                                    silence_logs=logging.CRITICAL)


@pytest.fixture(scope="module")
def cluster():
    with local_cluster() as running:
        yield running


def test_the_cube_built_on_a_cluster_equals_the_threaded_one(cluster, demo_catalog):
    threaded = cube.build_cube(demo_catalog)
    remote = cube.build_cube(demo_catalog, scheduler=cluster.scheduler_address)
    xr.testing.assert_identical(remote, threaded)


def test_the_environment_names_the_scheduler_and_urls_name_the_store(cluster, tiny_dir,
                                                                     monkeypatch):
    # A catalog whose entries are file:// URLs, as a remote store's would be s3:// ones.
    by_url = catalog.write_catalog(tiny_dir / "by_url.yaml", f"file://{tiny_dir}")
    expected = cube.build_cube(catalog.open_catalog(tiny_dir / "catalog.yaml"))
    monkeypatch.setenv("SAFETYVIZ_DASK_SCHEDULER", cluster.scheduler_address)
    with distributed.Client(cluster.scheduler_address) as client:
        with distributed.get_task_stream(client) as stream:
            built = cube.build_cube(catalog.open_catalog(by_url))
    xr.testing.assert_identical(built, expected)
    ran = {task["key"][0] if isinstance(task["key"], tuple) else task["key"]
           for task in stream.data}
    assert any(str(key).startswith("_aggregate_part") for key in ran)  # on the cluster's workers


def test_an_unreachable_scheduler_is_one_clear_error(tiny_dir):
    result = run_cli("cube", "--data-dir", str(tiny_dir), "--full",
                     "--scheduler", "tcp://127.0.0.1:9")
    assert_one_clear_line(result, "cannot reach the Dask scheduler", "tcp://127.0.0.1:9")


def test_a_worker_killed_during_the_build_is_replaced_and_the_cube_is_right(tmp_path):
    data_dir = tmp_path / "province"
    synthetic.write_province(data_dir, 600_000, counties=40, years=4)
    cat = catalog.open_catalog(catalog.ensure_catalog(data_dir))
    expected = cube.build_cube(cat)
    with local_cluster() as running, distributed.Client(running) as client:
        result: dict = {}

        def build() -> None:
            result["cube"] = cube.build_cube(cat, scheduler=running.scheduler_address)

        builder = threading.Thread(target=build)
        builder.start()
        victim, deadline = None, time.monotonic() + 120
        while victim is None and time.monotonic() < deadline:
            busy = [worker for worker, keys in client.processing().items()
                    if any("_aggregate_part" in str(k) for k in keys)]
            victim = busy[0] if busy else None
            time.sleep(0.005)
        assert victim is not None, "the build never started on the cluster"
        pid = client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        killed_mid_build = builder.is_alive()
        builder.join(timeout=300)
    assert killed_mid_build and not builder.is_alive()
    xr.testing.assert_identical(result["cube"], expected)


def _start_scheduler(port: int):
    import subprocess
    import sys

    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", str(port), "--dashboard-address", "127.0.0.1:0", "--no-show"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", f"tcp://127.0.0.1:{port}",
         "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1",
         "--dashboard-address", "127.0.0.1:0", "--no-nanny"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return scheduler, worker


def _wait_for(condition, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline
        time.sleep(0.5)


def test_a_lost_scheduler_is_a_clear_error_and_its_return_is_picked_up(monkeypatch, tiny_dir):
    """What a dashboard's record queries go through (engine.compute): on the cluster while it
    lives, a ClusterUnavailable naming it while it is gone, the cluster again once it is
    back — in the same process, without a restart."""
    from conftest import free_port
    from safetyviz.data import engine
    from safetyviz.data.loading import load_table

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    monkeypatch.setenv("SAFETYVIZ_DASK_SCHEDULER", address)
    cat = catalog.open_catalog(tiny_dir / "catalog.yaml")
    expected = load_table("hazards", catalog=cat).compute()
    processes = _start_scheduler(port)
    try:
        _wait_for(engine.cluster_answers)
        assert engine.compute(load_table("hazards", catalog=cat)).equals(expected)
        for process in processes:
            process.kill()
            process.wait()
        with pytest.raises(engine.ClusterUnavailable, match=address):
            engine.compute(load_table("hazards", catalog=cat))
        started = time.monotonic()
        with pytest.raises(engine.ClusterUnavailable):  # fails fast while it is down
            engine.compute(load_table("hazards", catalog=cat))
        assert not engine.cluster_answers()
        assert time.monotonic() - started < engine.CONNECT_SECONDS + 10
        processes = _start_scheduler(port)
        _wait_for(engine.cluster_answers)
        assert engine.compute(load_table("hazards", catalog=cat)).equals(expected)
    finally:
        for process in processes:
            process.kill()
        if engine._CLIENT is not None:
            engine._close_quietly(engine._CLIENT)
            engine._CLIENT = None


def test_a_page_part_shows_the_cluster_status_instead_of_failing():
    import panel as pn

    from safetyviz.data import engine
    from safetyviz.web.components.page import or_cluster_status

    def lost():
        raise engine.ClusterUnavailable("the Dask cluster at tcp://127.0.0.1:9 was lost")

    shown = or_cluster_status(lost, refresh=lambda: None)
    assert isinstance(shown, pn.pane.Alert) and shown.alert_type == "warning"
    assert "计算集群暂不可用" in shown.object and "tcp://127.0.0.1:9" in shown.object
    assert or_cluster_status(lambda: "records", refresh=lambda: None) == "records"


def test_a_forked_server_process_computes_on_a_client_of_its_own(cluster, monkeypatch):
    """`serve --num-procs N` warms up (its pages query the cluster), then forks: a child
    using the parent's client waited forever (its connection and thread are the parent's);
    every record query of a forked server process hung."""
    import dask.array as da

    from safetyviz.data import engine

    monkeypatch.setenv("SAFETYVIZ_DASK_SCHEDULER", cluster.scheduler_address)
    assert engine.compute(da.arange(10, chunks=5).sum()) == 45  # the parent's client
    parent_client = engine._CLIENT
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # the forked process: answer through the pipe, then leave at once
        try:
            answer = engine.compute(da.arange(100, chunks=10).sum(), timeout=30)
            os.write(writing, str(int(answer)).encode())
        except BaseException as exc:  # reported to the parent, never raised here
            os.write(writing, f"error {type(exc).__name__}".encode())
        finally:
            os._exit(0)
    os.close(writing)
    _, status = os.waitpid(child, 0)
    assert os.read(reading, 100) == b"4950"
    os.close(reading)
    assert engine._CLIENT is parent_client and parent_client.status == "running"


READ_AT_ONCE = """
import sys, threading, time
import pandas as pd
from safetyviz.analysis.enterprises import area_ranking
from safetyviz.analysis.records import latest_inspections, open_hazards, open_major_hazards
from safetyviz.data.catalog import open_catalog
from safetyviz.data.engine import threadsafe_graphs

if sys.argv[2] == "fixed":
    threadsafe_graphs()
cat = open_catalog(sys.argv[1])
counties = ["411002", "411003", "411024", "411025", "411081", "411082"]
majors = {}

def read(thread):
    for n in range(6):
        county, quarter = counties[(thread + n) % 6], pd.Timestamp(f"2020-{1 + 3 * (n % 4):02d}-01")
        end = quarter + pd.offsets.QuarterEnd(0)
        hazards = open_hazards(county, end, cat)
        latest_inspections(county, quarter, end, cat)
        area_ranking(county, quarter, end, cat)
        majors[(county, end)] = len(open_major_hazards(county, end, hazards=hazards))

threads = [threading.Thread(target=read, args=(t,), daemon=True) for t in range(4)]
for t in threads:
    t.start()
deadline = time.monotonic() + 120
for t in threads:
    t.join(timeout=max(0, deadline - time.monotonic()))
print("stuck" if any(t.is_alive() for t in threads) else "done",
      majors.get(("411002", pd.Timestamp("2020-03-31"))))
"""


def test_threads_reading_records_at_once_all_finish(demo_dir, tmp_path):
    """Four threads building Dask graphs at once (the dashboards' record readers) finish
    with the right records; on Python 3.11 they used to wait for each other for ever."""
    script = tmp_path / "read_at_once.py"
    script.write_text(READ_AT_ONCE, encoding="utf-8")
    result = subprocess.run([sys.executable, str(script), str(demo_dir / "catalog.yaml"),
                             "fixed"], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    # 魏都区 on 31 March 2020: the bulletin's 15 open major hazards, read amid the others
    assert result.stdout.split() == ["done", "15"]

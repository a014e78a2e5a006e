"""Ingest under abuse: malformed files give one clear message; SIGKILL at any point of the
write leaves the store exactly as before or exactly as after, and the next ingest just works."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
import xarray as xr

from conftest import TESTS, assert_one_clear_line, run_cli
from safetyviz.analysis import cube
from safetyviz.data import catalog, store
from safetyviz.data.loading import load_cube

LEDGER = TESTS / "data" / "ledgers" / "inspections_ledger.xlsx"


@pytest.fixture()
def bad_files(tmp_path):
    truncated = tmp_path / "truncated.xlsx"
    truncated.write_bytes(LEDGER.read_bytes()[: LEDGER.stat().st_size // 2])
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 64)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.csv"  # a mapped file has no isspace(): checked whole
    blank.write_bytes(b" \r\n" * 40_000)
    one_column = tmp_path / "one_column.csv"
    with open(one_column, "w") as f:  # 50 MB, a single column
        f.write("value\n")
        f.write("1234567\n" * 6_250_000)
    return {"truncated": truncated, "garbage": garbage, "empty": empty, "blank": blank,
            "one_column": one_column}


@pytest.mark.parametrize("kind, message", [
    ("truncated", "not a readable XLSX workbook"),
    ("garbage", "not a text file"),
    ("empty", "the file is empty"),
    ("blank", "the file is empty"),
    ("one_column", "no header row found"),
])
def test_a_malformed_file_gives_one_clear_message(kind, message, bad_files, tiny_dir):
    before = store.current_version(tiny_dir, "inspections")
    result = run_cli("ingest", str(bad_files[kind]), "--table", "inspections",
                     "--data-dir", str(tiny_dir))
    assert_one_clear_line(result, str(bad_files[kind]), message)
    assert store.current_version(tiny_dir, "inspections") == before
    assert not (tiny_dir / "quarantine").exists()


def test_a_missing_required_column_names_it(tiny_dir, tmp_path):
    ledger = tmp_path / "no_county.csv"
    ledger.write_text("检查日期,行业,检查部门\n2020-01-02,工贸,应急\n", encoding="utf-8")
    result = run_cli("ingest", str(ledger), "--table", "inspections", "--data-dir", str(tiny_dir))
    assert_one_clear_line(result, "no column for required field(s) adcode")


ROWS = 40_000


@pytest.fixture(scope="module")
def big_ledger(tmp_path_factory):
    """A clean CSV of inspections within the tiny cube's months (Jan–Apr 2020)."""
    path = tmp_path_factory.mktemp("big") / "inspections.csv"
    counties = ["魏都区", "建安区", "鄢陵县", "襄城县", "禹州市", "长葛市"]
    sectors = ["工贸", "建筑施工", "危险化学品", "消防"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("检查编号,检查日期,所属县区,行业,检查部门\n")
        for i in range(ROWS):
            f.write(f"K{i:07d},2020-{1 + i % 4:02d}-{1 + i % 28:02d},{counties[i % 6]},"
                    f"{sectors[i % 4]},应急\n")
    return path


def _rows(data_dir) -> int:
    return pq.read_table(store.store_dir(data_dir) / "inspections").num_rows


@pytest.mark.parametrize("delay", [0.0, 0.002, 0.01, 0.05, 0.2, 0.6])
def test_sigkill_during_ingest_leaves_the_store_before_or_after(delay, big_ledger, tiny_dir):
    cube.write_cube(cube.build_cube(catalog.open_catalog(tiny_dir / "catalog.yaml")), tiny_dir)
    before = _rows(tiny_dir)
    versions = store.store_dir(tiny_dir) / ".versions" / "inspections"
    existing = set(os.listdir(versions))
    process = subprocess.Popen(
        [sys.executable, "-m", "safetyviz.cli", "ingest", str(big_ledger), "--table",
         "inspections", "--data-dir", str(tiny_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while set(os.listdir(versions)) == existing and process.poll() is None:
        assert time.time() < deadline
        time.sleep(0.0005)  # wait until the new version starts being written
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()

    assert _rows(tiny_dir) in (before, before + ROWS)  # readable, before or after
    manifest = store.read_manifest(store.current_version(tiny_dir, "inspections"))
    assert (len(manifest["batches"]) == 2) == (_rows(tiny_dir) == before + ROWS)

    result = run_cli("ingest", str(big_ledger), "--table", "inspections",
                     "--data-dir", str(tiny_dir))
    assert result.returncode == 0, result.stderr
    assert _rows(tiny_dir) == before + ROWS
    assert len(os.listdir(versions)) <= 2  # leftovers cleaned up
    cat = catalog.open_catalog(tiny_dir / "catalog.yaml")
    xr.testing.assert_identical(load_cube(cat), cube.build_cube(cat))


def test_a_store_without_leftovers_after_a_killed_writer(tiny_dir):
    # Simulate a writer killed between creating its version and the rename.
    versions = store.store_dir(tiny_dir) / ".versions" / "inspections"
    half = versions / "99999999999999999999-0badf00d"
    shutil.copytree(store.current_version(tiny_dir, "inspections"), half)
    (half / "year=2020" / "base.parquet").write_bytes(b"PAR1 half written")
    assert _rows(tiny_dir) == 5  # readers never see it
    run_cli("ingest", str(LEDGER), "--table", "inspections", "--data-dir", str(tiny_dir))
    assert not half.exists()

"""Province-scale synthetic data (for benchmarks) from the command line, and `cube --full`."""

from __future__ import annotations

import pyarrow.parquet as pq

from conftest import PROJECT, assert_one_clear_line, run_cli
from safetyviz.data import catalog, store
from safetyviz.data.loading import load_cube, load_regions


def test_demo_at_province_scale_writes_n_inspections_over_fictional_counties(tmp_path):
    data_dir = tmp_path / "province"
    result = run_cli("demo", "--scale", "province", "--records", "3000", "--counties", "7",
                     "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    cat = catalog.open_catalog(data_dir / "catalog.yaml")
    regions = load_regions(cat, geometry=False)
    assert len(regions) == 7 and regions["name_zh"].iloc[0] == "演示县001"
    assert all(a.startswith("99") for a in regions["adcode"])  # never a real place
    inspections = pq.read_table(store.store_dir(data_dir) / "inspections")
    hazards = pq.read_table(store.store_dir(data_dir) / "hazards")
    assert inspections.num_rows == 3000
    assert 2700 < hazards.num_rows < 3300  # about one hazard per inspection
    built = load_cube(cat)
    assert int(built["inspections"].sum()) == 3000 and built.sizes["adcode"] == 7
    assert int(built["hazards_found"].sum()) == hazards.num_rows
    assert built.sizes["month"] >= 10 * 12  # ten years (and rectifications after them)

    again = run_cli("cube", "--data-dir", str(data_dir))
    assert again.returncode == 0 and "up to date" in again.stdout
    full = run_cli("cube", "--full", "--data-dir", str(data_dir))
    assert full.returncode == 0 and "wrote" in full.stdout


def test_province_scale_needs_records_and_its_own_data_dir(tmp_path):
    assert_one_clear_line(run_cli("demo", "--scale", "province", "--data-dir",
                                  str(tmp_path / "p")), "--records")
    assert_one_clear_line(run_cli("demo", "--records", "10", "--data-dir",
                                  str(tmp_path / "c")), "--scale province")
    assert_one_clear_line(run_cli("demo", "--scale", "province", "--records", "10",
                                  "--data-dir", str(PROJECT / "data")), "own --data-dir")

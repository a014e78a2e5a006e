"""Compaction (``safetyviz store compact``): the record tables sorted by firm in small row
groups — the same records, the batches still replaceable, the cube still current — and one
firm's rows read by their row groups' statistics."""

from __future__ import annotations

import os
import signal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xarray as xr

from conftest import TESTS, assert_one_clear_line, run_cli
from safetyviz.analysis import cube
from safetyviz.analysis.enterprises import INSPECTION_FIELDS, enterprise_records
from safetyviz.data import catalog, store
from safetyviz.data.loading import RowGroupIndex, load_cube, load_table, rows_where
from safetyviz.ingest.ledgers import ingest

LEDGERS = TESTS / "data" / "ledgers"
TODAY = pd.Timestamp("2026-11-28")

FIRMS = [f"F{i}" for i in range(6)]


def inspections(rows: list[tuple[str, str]], prefix: str) -> pd.DataFrame:
    """Inspections of (firm, date) rows, ids ``<prefix><n>``."""
    return pd.DataFrame({
        "inspection_id": [f"{prefix}{n}" for n in range(len(rows))],
        "date": pd.to_datetime([d for _, d in rows]), "adcode": "411002",
        "enterprise_id": [f for f, _ in rows], "sector": "construction",
        "department": "emergency_management", "joint_operation_id": None,
        "campaign": "routine"})


def write_batches(data_dir, batches: dict[str, list[pd.DataFrame]]) -> None:
    """A new version of the inspections whose batches hold these chunks (each chunk written
    as files of its own, a file per year, as ``demo --scale province`` writes them)."""
    def build(new, old) -> None:
        manifest = {"batches": {}}
        for batch, chunks in batches.items():
            files = []
            for number, chunk in enumerate(chunks):
                name = batch if len(chunks) == 1 else f"{batch}-{number}"
                files += store.write_batch_files("inspections", chunk, new, name)
            manifest["batches"][batch] = {"files": files}
        store.write_manifest(new, manifest)

    store.publish(store.store_dir(data_dir) / "inspections", build)


def shuffled(rows: list) -> list:
    return [rows[i] for i in pd.Series(range(len(rows))).sample(frac=1, random_state=3)]


def stored(data_dir) -> pd.DataFrame:
    frame = pq.read_table(store.store_dir(data_dir) / "inspections").to_pandas()
    return frame.drop(columns="year").astype(str).sort_values("inspection_id") \
        .reset_index(drop=True)


def test_a_batch_is_sorted_by_firm_into_row_groups_a_firm_read_skips(tiny_dir):
    ledger = shuffled([(f, f"2020-03-{day:02d}") for f in FIRMS for day in range(1, 5)])
    chunks = [shuffled([(f, f"2020-0{month}-0{n + 1}") for f in FIRMS for month in (1, 2)]
                       + [(f, "2021-01-0" + str(n + 1)) for f in FIRMS]) for n in range(2)]
    write_batches(tiny_dir, {"ledger-a": [inspections(ledger, "A")],
                             "synthetic": [inspections(c, f"S{n}-") for n, c in
                                           enumerate(chunks)]})
    before = stored(tiny_dir)
    built = cube.compact_store(tiny_dir, row_group_rows=4)

    version = store.current_version(tiny_dir, "inspections")
    assert built["inspections"] == version
    files = sorted(str(p.relative_to(version)) for p in version.rglob("*.parquet"))
    assert files == ["year=2020/ledger-a.parquet", "year=2020/synthetic.parquet",
                     "year=2021/synthetic.parquet"]
    batches = store.read_manifest(version)["batches"]
    assert batches["ledger-a"]["files"] == ["year=2020/ledger-a.parquet"]
    assert batches["synthetic"]["files"] == ["year=2020/synthetic.parquet",
                                             "year=2021/synthetic.parquet"]
    pd.testing.assert_frame_equal(stored(tiny_dir), before)  # the same records
    merged = version / "year=2020" / "synthetic.parquet"
    for path in version.rglob("*.parquet"):
        assert store.sorted_by_firm(path)
        table = pq.read_table(path, partitioning=None)
        firms = table["enterprise_id"].cast(pa.string()).to_pylist()
        assert firms == sorted(firms)
        metadata = pq.read_metadata(path)
        assert all(metadata.row_group(g).num_rows <= 4 for g in range(metadata.num_row_groups))
    # 6 firms × 4 rows in the merged 2020 file: row group g holds firm Fg alone.
    index = RowGroupIndex(None, str(merged), "enterprise_id")
    assert [index.groups([f]) for f in FIRMS] == [[0], [1], [2], [3], [4], [5]]
    assert index.groups(["F3", "F5"]) == [3, 5] and index.groups(["E9"]) == []
    dates = pq.read_table(merged, partitioning=None).to_pandas()
    assert dates.groupby("enterprise_id", observed=True)["date"].apply(
        lambda d: d.is_monotonic_increasing).all()

    cat = catalog.open_catalog(tiny_dir / "catalog.yaml")
    f3 = rows_where("inspections", "enterprise_id", ["F3"], INSPECTION_FIELDS, cat)
    assert len(f3) == 4 + 2 * 2 + 2  # the ledger's 4, the chunks' 2 + 2 in 2020 and 1 + 1 in 2021
    expected = load_table("inspections", INSPECTION_FIELDS, cat,
                          filters=[("enterprise_id", "==", "F3")]).compute()
    assert sorted(f3["inspection_id"]) == sorted(expected["inspection_id"])
    assert str(f3["date"].dtype) == "datetime64[ns]"
    assert cube.compact_store(tiny_dir, row_group_rows=4) == {}  # nothing left to do
    assert store.current_version(tiny_dir, "inspections") == version


def test_after_compaction_a_batch_ingested_again_replaces_its_records_and_the_cube_follows(
        tiny_dir, monkeypatch):
    cat = catalog.open_catalog(tiny_dir / "catalog.yaml")
    cube.write_cube(cube.build_cube(cat), tiny_dir)
    ingest(LEDGERS / "hazards_invalid.csv", table="hazards", data_dir=tiny_dir, today=TODAY)
    hazards = len(load_table("hazards", catalog=cat).compute())
    built_cube = load_cube(cat)

    built = cube.compact_store(tiny_dir, row_group_rows=2)
    assert set(built) == {"inspections", "hazards", "enforcement_actions"}
    # The cube is recorded as built from the sorted versions: it is the same cube.
    assert cube.cube_versions(tiny_dir) == cube.store_versions(tiny_dir)
    assert cube.cube_versions(tiny_dir)["hazards"] == built["hazards"].name
    xr.testing.assert_identical(load_cube(cat), built_cube)

    def no_full_rebuild(*args, **kwargs):
        raise AssertionError("ingest rebuilt the whole cube")

    monkeypatch.setattr(cube, "build_cube", no_full_rebuild)
    again = ingest(LEDGERS / "hazards_invalid.csv", table="hazards", data_dir=tiny_dir,
                   today=TODAY, force=True)
    monkeypatch.undo()
    assert again.committed and again.accepted == 3
    assert len(load_table("hazards", catalog=cat).compute()) == hazards  # replaced, not added
    xr.testing.assert_identical(load_cube(cat), cube.build_cube(cat))


def test_a_firm_read_sees_the_table_as_it_is_now(tiny_dir):
    cat = catalog.open_catalog(tiny_dir / "catalog.yaml")
    assert len(enterprise_records("E1", cat).inspections) == 2
    store.replace_table(tiny_dir, "inspections", inspections(
        [("E1", "2020-01-05"), ("E1", "2020-02-05"), ("E1", "2021-02-05")], "N"))
    assert sorted(enterprise_records("E1", cat).inspections["inspection_id"]) == \
        ["N0", "N1", "N2"]


def test_a_forked_server_process_reads_a_firm_too(tiny_dir):
    """``panel serve --num-procs N`` forks: the child needs reader threads of its own (the
    parent's pool, once used, would wait forever on threads the fork did not copy)."""
    cat = catalog.open_catalog(tiny_dir / "catalog.yaml")
    assert len(enterprise_records("E1", cat).inspections) == 2  # the parent's pool in use
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's outcome is its exit code)
        signal.alarm(30)
        try:
            os._exit(0 if len(enterprise_records("E3", cat).inspections) == 1 else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_file_without_statistics_or_a_later_column_is_read_all_the_same(tiny_dir):
    version = store.current_version(tiny_dir, "inspections")
    frame = inspections([("E1", "2020-01-05"), ("E2", "2020-01-06"), ("E1", "2020-01-07")],
                        "X")
    arrow = store.to_arrow("inspections", frame).drop_columns(["campaign"])

    def build(new, old) -> None:
        store.link_files(old, new, keep=lambda relative: True)
        pq.write_table(arrow, new / "year=2020" / "old.parquet", write_statistics=False,
                       row_group_size=1)
        store.write_manifest(new, store.read_manifest(old))

    store.publish(store.store_dir(tiny_dir) / "inspections", build)
    assert store.current_version(tiny_dir, "inspections") != version
    cat = catalog.open_catalog(tiny_dir / "catalog.yaml")
    rows = rows_where("inspections", "enterprise_id", ["E1"], INSPECTION_FIELDS, cat) \
        .set_index("inspection_id")
    assert sorted(rows.index) == ["I1", "I2", "X0", "X2"]
    assert rows.loc["I1", "campaign"] == "routine" and pd.isna(rows.loc["X0", "campaign"])


def test_the_command_sorts_once_and_refuses_an_empty_data_dir(tiny_dir, tmp_path):
    result = run_cli("store", "compact", "--data-dir", str(tiny_dir))
    assert result.returncode == 0, result.stderr
    assert "inspections: sorted by firm, 1 → 1 files" in result.stdout
    again = run_cli("store", "compact", "--data-dir", str(tiny_dir))
    assert "inspections: already sorted by firm" in again.stdout and "done" not in again.stdout
    assert_one_clear_line(run_cli("store", "compact", "--data-dir", str(tmp_path / "empty")),
                          "no inspections, hazards, enforcement_actions yet")

"""Ingest: the ledger fixtures of tests/data/ledgers (made by make_fixtures.py) into the tiny
store; counts per reason are exact, every row read ends accepted or quarantined."""

from __future__ import annotations

import csv
import shutil
from collections import Counter

import pandas as pd
import pyarrow.parquet as pq
import pytest
import xarray as xr

from conftest import TESTS
from safetyviz.analysis import cube
from safetyviz.core.errors import UserError
from safetyviz.data import catalog, store
from safetyviz.data.loading import load_cube, load_table
from safetyviz.ingest.ledgers import ingest

LEDGERS = TESTS / "data" / "ledgers"
TODAY = pd.Timestamp("2026-11-28")

CASES = {  # file: (table, rows read, accepted, rejected by primary reason)
    "inspections_gbk.csv": ("inspections", 4, 4, {}),
    "inspections_bom.csv": ("inspections", 3, 3, {}),
    "inspections_ledger.xlsx": ("inspections", 4, 2,
                                {"rectified_exceeds_found": 1, "total_row": 1}),
    "actions_by_county.xlsx": ("enforcement_actions", 5, 4, {"total_row": 1}),
    "actions_invalid.csv": ("enforcement_actions", 5, 1,
                            {"negative_value": 1, "bad_number": 1, "unknown_code": 1,
                             "missing_field": 1}),
    # H-T-010 names a firm the register does not hold: stored, linked to a provisional firm
    "hazards_invalid.csv": ("hazards", 11, 3,
                            {"unknown_county": 1, "bad_date": 1, "date_out_of_range": 2,
                             "rectified_before_found": 1, "missing_field": 1,
                             "unknown_code": 1, "duplicate_id_in_file": 1}),
    "accidents.xls": ("accidents", 2, 2, {}),
}


@pytest.fixture()
def data_dir(tiny_dir):
    """The tiny store with its cube."""
    cube.write_cube(cube.build_cube(catalog.open_catalog(tiny_dir / "catalog.yaml")), tiny_dir)
    return tiny_dir


def rows_of(data_dir, table) -> pd.DataFrame:
    return pq.read_table(store.store_dir(data_dir) / table).to_pandas()


@pytest.mark.parametrize("name", list(CASES))
def test_every_row_read_is_accepted_or_quarantined(name, data_dir):
    table, read, accepted, rejected = CASES[name]
    before = len(rows_of(data_dir, table))
    report = ingest(LEDGERS / name, table=table, data_dir=data_dir, today=TODAY)
    assert (report.rows_read, report.accepted, dict(report.rejected)) == (read, accepted, rejected)
    assert report.accepted + report.rejected_total == report.rows_read
    assert len(rows_of(data_dir, table)) == before + accepted
    if rejected:
        raw = report.quarantine.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens UTF-8 with a BOM
        with open(report.quarantine, encoding="utf-8-sig", newline="") as f:
            quarantined = list(csv.DictReader(f))
        assert len(quarantined) == report.rejected_total
        assert Counter(q["reason"].split(":")[0] for q in quarantined) == Counter(rejected)
        assert all(q["sheet"] and int(q["row"]) > 1 for q in quarantined)
    else:
        assert report.quarantine is None


def test_values_are_converted_to_the_schema(data_dir):
    ingest(LEDGERS / "inspections_gbk.csv", table="inspections", data_dir=data_dir, today=TODAY)
    ins = rows_of(data_dir, "inspections")
    new = ins[ins["date"] >= pd.Timestamp("2020-05-01").date()].sort_values("date")
    assert list(new["adcode"]) == ["411002", "411081", "411003", "411082"]  # 魏都区, 禹州,
    assert list(new["sector"]) == ["crowded_places", "coal_mines", "industry_trade",  # 许昌县,
                                   "hazardous_chemicals"]  # 411082
    assert list(new["department"]) == ["emergency_management", "emergency_management",
                                       "market_regulation", "emergency_management"]
    ingest(LEDGERS / "actions_by_county.xlsx", table="enforcement_actions", data_dir=data_dir,
           today=TODAY)
    actions = rows_of(data_dir, "enforcement_actions")
    april = actions[actions["date"] >= pd.Timestamp("2020-04-01").date()]
    assert sorted(april["fine_yuan"]) == [0, 0, 5000, 12000]  # 0.5 and 1.2 万元
    assert april.loc[april["action_type"] == "criminal_detention", "persons"].tolist() == [3]
    ingest(LEDGERS / "accidents.xls", table="accidents", data_dir=data_dir, today=TODAY)
    acc = rows_of(data_dir, "accidents").sort_values("date")
    assert acc["direct_loss_yuan"].tolist()[-2:] == [1_500_000, 125_000]  # 150 and 12.5 万元
    assert acc["level"].tolist()[-1] == "ordinary"


def test_ingesting_the_same_file_again_changes_nothing(data_dir):
    first = ingest(LEDGERS / "inspections_gbk.csv", table="inspections", data_dir=data_dir,
                   today=TODAY)
    version = store.current_version(data_dir, "inspections")
    again = ingest(LEDGERS / "inspections_gbk.csv", table="inspections", data_dir=data_dir,
                   today=TODAY)
    assert again.already_ingested and not again.committed and again.batch == first.batch
    assert store.current_version(data_dir, "inspections") == version
    forced = ingest(LEDGERS / "inspections_gbk.csv", table="inspections", data_dir=data_dir,
                    today=TODAY, force=True)
    assert forced.committed and forced.accepted == 4 and not forced.rejected
    assert len(rows_of(data_dir, "inspections")) == 5 + 4


def test_a_record_id_already_in_the_store_is_rejected(data_dir):
    ingest(LEDGERS / "hazards_invalid.csv", table="hazards", data_dir=data_dir, today=TODAY)
    report = ingest(LEDGERS / "hazards_again.csv", table="hazards", data_dir=data_dir,
                    today=TODAY)
    assert dict(report.rejected) == {"duplicate_id_in_store": 1} and report.accepted == 0


def test_a_ledger_without_a_coded_column_leaves_the_table_readable(data_dir):
    """hazards_invalid.csv has no 隐患类别: its batch's category column is all null, and the
    table still reads through the catalog with the stored batches (an empty dictionary read
    back as categories of another type than the others' once broke that)."""
    ingest(LEDGERS / "hazards_invalid.csv", table="hazards", data_dir=data_dir, today=TODAY)
    frame = load_table("hazards", catalog=catalog.open_catalog(data_dir / "catalog.yaml"))
    categories = frame.compute().set_index("hazard_id")["category"]
    assert categories["H1"] == "equipment" and pd.isna(categories["H-T-002"])


def test_dry_run_writes_nothing(data_dir):
    before = store.current_version(data_dir, "hazards")
    report = ingest(LEDGERS / "hazards_invalid.csv", table="hazards", data_dir=data_dir,
                    today=TODAY, dry_run=True)
    assert report.accepted == 3 and not report.committed
    assert store.current_version(data_dir, "hazards") == before
    assert not (data_dir / "quarantine").exists()


def test_the_cube_is_updated_incrementally_and_equals_a_full_rebuild(demo_dir, tmp_path,
                                                                    monkeypatch):
    data_dir = tmp_path / "demo"
    shutil.copytree(demo_dir, data_dir, symlinks=True)  # the ledgers' months are in its cube

    def no_full_rebuild(*args, **kwargs):
        raise AssertionError("ingest rebuilt the whole cube")

    monkeypatch.setattr(cube, "build_cube", no_full_rebuild)
    for name in ("inspections_gbk.csv", "inspections_ledger.xlsx", "hazards_invalid.csv",
                 "actions_by_county.xlsx", "accidents.xls"):
        table = CASES[name][0]
        ingest(LEDGERS / name, table=table, data_dir=data_dir, today=TODAY)
    for name in ("inspections_gbk.csv", "hazards_invalid.csv"):  # replaced: out, then in
        ingest(LEDGERS / name, table=CASES[name][0], data_dir=data_dir, today=TODAY,
               force=True)
    monkeypatch.undo()
    cat = catalog.open_catalog(data_dir / "catalog.yaml")
    xr.testing.assert_identical(load_cube(cat), cube.build_cube(cat))
    assert cube.cube_versions(data_dir) == cube.store_versions(data_dir)


def test_mojibake_is_refused_not_guessed(data_dir):
    with pytest.raises(UserError, match="mojibake"):
        ingest(LEDGERS / "inspections_big5.csv", table="inspections", data_dir=data_dir)


def test_a_mapping_file_names_unusual_headers_and_values(data_dir, tmp_path):
    ledger = tmp_path / "odd.csv"
    ledger.write_text("检查时间（年月日）,所在县区名称,领域,所在乡镇\n"
                      "2020-07-01,禹州,危化企业,褚河镇\n", encoding="utf-8")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("columns:\n  检查时间（年月日）: date\n  所在县区名称: adcode\n"
                       "  领域: sector\n  所在乡镇: ignore\n"
                       "values:\n  sector: {危化企业: hazardous_chemicals}\n", encoding="utf-8")
    with pytest.raises(UserError, match="no header row found"):
        ingest(ledger, table="inspections", data_dir=data_dir)
    report = ingest(ledger, table="inspections", data_dir=data_dir, mapping=mapping)
    assert report.accepted == 1 and not report.ignored_columns
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns:\n  检查时间: when\n", encoding="utf-8")
    with pytest.raises(UserError, match="unknown field 'when'"):
        ingest(ledger, table="inspections", data_dir=data_dir, mapping=bad)


def test_the_data_dictionary_document_is_up_to_date():
    from conftest import PROJECT
    from safetyviz.ingest.dictionary import data_dictionary

    document = (PROJECT / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    assert document == data_dictionary() + "\n", "regenerate docs/data-dictionary.md"
    assert "罚款金额" in document and "`fine_yuan`" in document


def test_enterprises_then_inspections_that_name_them(data_dir, tmp_path):
    registry = tmp_path / "enterprises.csv"
    registry.write_text("企业名称,所属县区,行业,规模,风险等级,双重预防,经度,纬度\n"
                        "（演示）长葛测试再生资源有限公司,长葛市,工贸,规上,橙色,已建立,113.77,34.22\n"
                        "（演示）鄢陵测试苗木有限公司,鄢陵,森林防火,规下,蓝,,,\n",
                        encoding="utf-8")
    report = ingest(registry, table="enterprises", data_dir=data_dir, today=TODAY)
    assert report.accepted == 2 and not report.rejected
    enterprises = rows_of(data_dir, "enterprises").set_index("name")
    recycler = enterprises.loc["（演示）长葛测试再生资源有限公司"]
    assert (recycler["adcode"], recycler["scale"], recycler["risk_level"],
            recycler["dual_prevention"], recycler["lon"]) == (
        "411082", "above", "orange", "built", 113.77)
    ledger = tmp_path / "visits.csv"
    ledger.write_text("检查日期,所属县区,被检查单位,行业\n"
                      "2020-03-03,长葛市,(演示)长葛测试再生资源有限公司,工贸\n",  # half-width ()
                      encoding="utf-8")
    report = ingest(ledger, table="inspections", data_dir=data_dir, today=TODAY)
    assert report.accepted == 1
    visits = rows_of(data_dir, "inspections")
    assert visits.loc[visits["date"] == pd.Timestamp("2020-03-03").date(),
                      "enterprise_id"].tolist() == [recycler["enterprise_id"]]


def test_a_fresh_data_dir_fed_only_by_ingest_gets_a_cube(tmp_path):
    from conftest import run_cli

    fresh = tmp_path / "fresh"
    result = run_cli("ingest", str(LEDGERS / "inspections_gbk.csv"), "--table", "inspections",
                     "--data-dir", str(fresh))
    assert result.returncode == 0, result.stderr
    result = run_cli("cube", "--data-dir", str(fresh))
    assert result.returncode == 0, result.stderr
    built = load_cube(catalog.open_catalog(fresh / "catalog.yaml"))
    assert built["inspections"].sum().item() == 4 and built.sizes["month"] == 1
    assert built["accidents"].sum().item() == 0  # no accidents ingested: zero, not an error


BODY = ("检查日期,所属县区,行业\n2020-01-02, 魏都区 ,工贸\n,,\n合 计,,\n"
        "2020-01-03,禹州,消防\n")


@pytest.mark.parametrize("body, rows, totals, by_polars", [
    (BODY, [2, 5], [4], True),
    (BODY.replace("\n", "\r\n"), [2, 5], [4], True),  # Windows line ends
    (BODY + "\n\n", [2, 5], [4], True),  # trailing blank lines
    (BODY.replace(" 魏都区 ", "\u00a0魏都区\u3000"), [2, 5], [4], True),  # NBSP, U+3000
    # a cell over two lines is one row, as Excel numbers them: left to the general path
    (BODY.replace(",工贸", ',"工贸\n（含仓储）"'), [2, 5], [4], False),
    ("\ufeff" + BODY.replace("合 计", "合计"), [2, 5], [4], True),  # BOM
])
def test_the_fast_csv_path_and_the_general_path_agree(body, rows, totals, by_polars, tmp_path,
                                                       monkeypatch):
    from safetyviz.ingest import readers
    from safetyviz.ingest.mapping import ColumnMapping

    ledger = tmp_path / "ledger.csv"
    ledger.write_bytes(body.encode("utf-8"))
    is_header = ColumnMapping.for_table("inspections")
    polars_sheet = readers._csv_fast("ledger", body.encode(), is_header)
    assert (polars_sheet is not None) == by_polars
    (fast,) = readers.read_ledger(ledger, is_header)
    monkeypatch.setattr(readers, "_csv_fast", lambda *args, **kwargs: None)
    (general,) = readers.read_ledger(ledger, is_header)
    assert fast.header == general.header == ["检查日期", "所属县区", "行业"]
    assert fast.cells.equals(general.cells) and fast.totals.equals(general.totals)
    assert fast.cells["row"].to_list() == rows and fast.totals["row"].to_list() == totals
    assert fast.row(2)["所属县区"] == "魏都区"


def test_a_file_name_with_wildcards_is_read_as_named(tmp_path):
    # Polars, given a path, expands wildcards: 台账[1].csv would read 台账1.csv
    from safetyviz.ingest import readers
    from safetyviz.ingest.mapping import ColumnMapping

    for name, county in (("台账[1].csv", "魏都区"), ("台账1.csv", "禹州市"),
                         ("台账*.csv", "长葛市")):
        (tmp_path / name).write_text(f"检查日期,所属县区,行业\n2020-01-02,{county},工贸\n",
                                     encoding="utf-8")
    (sheet,) = readers.read_ledger(tmp_path / "台账[1].csv", ColumnMapping.for_table("inspections"))
    assert sheet.cells["1"].to_list() == ["魏都区"]
    (sheet,) = readers.read_ledger(tmp_path / "台账*.csv", ColumnMapping.for_table("inspections"))
    assert sheet.cells["1"].to_list() == ["长葛市"]


def test_a_gbk_csv_takes_the_fast_path_after_decoding(monkeypatch):
    from safetyviz.ingest import readers
    from safetyviz.ingest.mapping import ColumnMapping

    calls = []
    fast = readers._csv_fast
    monkeypatch.setattr(readers, "_csv_fast",
                        lambda *args, **kwargs: calls.append(1) or fast(*args, **kwargs))
    (sheet,) = readers.read_ledger(LEDGERS / "inspections_gbk.csv",
                                   ColumnMapping.for_table("inspections"))
    assert len(calls) == 2 and len(sheet.cells) == 4  # refused as UTF-8, parsed as GB18030


def test_rectified_counts_are_checked_against_whichever_counts_the_ledger_has(tiny_dir,
                                                                             tmp_path):
    ledger = tmp_path / "rectified.csv"
    ledger.write_text("检查日期,所属县区,行业,一般隐患数,已整改\n"
                      "2020-01-02,魏都区,工贸,2,2\n2020-01-03,魏都区,工贸,1,3\n"
                      "2020-01-04,禹州市,消防,,0\n", encoding="utf-8")
    report = ingest(ledger, table="inspections", data_dir=tiny_dir, today=TODAY,
                    dry_run=True)
    assert (report.accepted, dict(report.rejected)) == (2, {"rectified_exceeds_found": 1})
    only = tmp_path / "only_rectified.csv"  # no found counts: nothing to check against
    only.write_text("检查日期,所属县区,行业,已整改\n2020-01-02,魏都区,工贸,0\n"
                    "2020-01-03,魏都区,工贸,1\n", encoding="utf-8")
    report = ingest(only, table="inspections", data_dir=tiny_dir, today=TODAY, dry_run=True)
    assert (report.accepted, dict(report.rejected)) == (2, {})


def test_the_command_prints_the_summary_and_strict_fails_on_rejections(data_dir):
    from conftest import run_cli

    ledger = str(LEDGERS / "actions_invalid.csv")
    result = run_cli("ingest", ledger, "--table", "enforcement_actions", "--data-dir",
                     str(data_dir), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "rows read 5, accepted 1, rejected 4" in result.stdout
    assert "negative_value (数值为负)" in result.stdout
    result = run_cli("ingest", ledger, "--table", "enforcement_actions", "--data-dir",
                     str(data_dir), "--strict")
    assert result.returncode == 2 and "4 row(s) rejected (--strict)" in result.stderr
    assert "accepted 1" in result.stdout  # the good row is stored all the same

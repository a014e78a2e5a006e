"""Real ledgers get in (issue 15): firms named as county offices name them and linked to the
register (credit codes first, then names; firms not in it stored as provisional), headers of
several rows, counties written with the city's name before them, note rows, functional
zones; reconciliation (unmatched, merge, register files). The fixtures are written by
tests/data/ledgers/make_fixtures.py; every count below is worked out from them by hand."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
import xarray as xr

from conftest import TESTS, assert_one_clear_line, run_cli
from safetyviz.analysis import cube
from safetyviz.core.identity import credit_code_problem, enterprise_key, provisional_id
from safetyviz.data import catalog, store
from safetyviz.data.loading import load_cube
from safetyviz.ingest.ledgers import ingest

LEDGERS = TESTS / "data" / "ledgers"
ZONES = TESTS / "data" / "zones"
TODAY = pd.Timestamp("2026-11-28")
E1, E3 = "91411002MA78DQ57G6", "91411081MA4MNWBN3E"
N1, N2, C1, C2, Y1 = ("91411002MA44HDNY0F", "91411002MA44HDNY1J", "91411081MA45TC8R3J",
                      "91411002MA9UNKNW59", "91411024MA3X7QP2KB")


def table(data_dir, name) -> pd.DataFrame:
    return pq.read_table(store.store_dir(data_dir) / name).to_pandas()


def register(data_dir) -> pd.DataFrame:
    return table(data_dir, "enterprises").set_index("enterprise_id")


def quarantined(report) -> list[dict]:
    with open(report.quarantine, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def counts(report) -> tuple:
    assert report.accepted + report.rejected_total + report.notes == report.rows_read
    return (report.rows_read, report.accepted, dict(report.rejected), report.notes,
            report.provisional)


@pytest.fixture()
def data_dir(tiny_dir):
    """The tiny store (E1, E2 of 魏都区, E3 of 禹州市) with its cube."""
    cube.write_cube(cube.build_cube(catalog.open_catalog(tiny_dir / "catalog.yaml")), tiny_dir)
    return tiny_dir


# --- identity ---------------------------------------------------------------------------------
def test_credit_codes_are_checked_by_their_check_character():
    assert credit_code_problem("91350100M000100Y43") is None  # the standard's example
    assert credit_code_problem(E1) is None and credit_code_problem(E1.lower()) is None
    assert credit_code_problem("９１３５０１００Ｍ０００１００Ｙ４３") is None  # full-width
    assert credit_code_problem("91350100M000100Y44") == "wrong check character"
    assert credit_code_problem("91350100M000100Y4") == "not 18 characters"
    assert credit_code_problem("9135010OM000100Y43") == "characters outside the code's alphabet"
    assert credit_code_problem("91AB0100M000100Y43") == "characters 3-8 are not a region code"


def test_names_match_whatever_brackets_spaces_and_legal_form_they_are_written_with():
    key = enterprise_key("（演示）许昌恒达有限公司")
    for written in ("(演示)许昌恒达有限责任公司", "【演示】许昌 恒达有限公司",
                    "（演示）许昌·恒达有限公司"):
        assert enterprise_key(written) == key
    assert enterprise_key("（演示）许昌恒达股份有限公司") != key  # another legal form
    # stable ids: the same firm named again, or in another ledger, is the same provisional firm
    assert provisional_id("411002", key) == provisional_id("411002", key)
    assert provisional_id("411002", key) != provisional_id("411003", key)
    assert provisional_id("411002", key, C1) == f"P{C1}"


def test_name_keys_of_many_names_are_those_of_the_rule_whatever_the_characters():
    """The series path skips NFKC and lower-casing for names they cannot change: the keys
    must be the rule's all the same (full-width, capitals, compatibility forms, accents)."""
    from safetyviz.core.identity import name_key, name_keys

    written = ["（演示）许昌恒达有限公司", "(演示)许昌恒达有限责任公司", "许昌ABC商贸有限公司",
               "许昌ＡＢＣ商贸（集团）有限公司", "许昌abc商贸(集团)有限公司", "丽\uf9f1饭店",
               "Café e\u0301 ﬁ Ⅱ ㈱", "许昌·恒达　有限公司", "", None] * 2_000
    names = pl.Series(written, dtype=pl.String)
    expected = names.to_frame("t").select(name_key(pl.col("t"))).to_series()
    assert name_keys(names).eq_missing(expected).all()
    assert name_keys(names)[:4].to_list() == [enterprise_key(n) for n in written[:4]]
    assert name_keys(names)[0] == name_keys(names)[1]


def test_a_join_on_key_hashes_is_the_exact_join_whatever_the_hashes_say():
    from safetyviz.ingest.register import HASH, join_by_hash, with_key_hash

    left = pl.DataFrame({"adcode": ["411002", "411002", None, "411003", "411081"],
                         "key": ["甲", "乙", "甲", None, "丙"]})
    right = with_key_hash(pl.DataFrame({"adcode": ["411002", "411002", "411003"],
                                        "key": ["甲", "乙", "丁"], "n": [1, 2, 3]}),
                          ["adcode", "key"])
    exact = left.join(right.drop(HASH), on=["adcode", "key"], how="left",
                      maintain_order="left")
    assert exact.get_column("n").to_list() == [1, 2, None, None, None]
    assert join_by_hash(left, right, ["adcode", "key"]).equals(exact)
    # a left key sharing a right key's hash (forged here) must not take its row
    forged = right.with_columns(pl.when(pl.col("key") == "丁").then(
        with_key_hash(left, ["adcode", "key"]).get_column(HASH)[4]).otherwise(
        pl.col(HASH)).alias(HASH))
    assert join_by_hash(left, forged, ["adcode", "key"]).equals(exact)
    # two right keys sharing a hash, or keys of another type: the exact join
    assert join_by_hash(left, right.with_columns(pl.lit(7, pl.UInt64).alias(HASH)),
                        ["adcode", "key"]).equals(exact)
    with pytest.raises(pl.exceptions.PolarsError):  # as the exact join says
        join_by_hash(left.with_columns(pl.col("adcode").cast(pl.Categorical)), right,
                     ["adcode", "key"])


# --- ledgers ----------------------------------------------------------------------------------
def test_a_gbk_hazard_ledger_naming_firms_gets_in(data_dir):
    """20 rows between a note above the header and two below: 13 stored (3 new firms
    provisional), 7 rejected, 3 notes."""
    report = ingest(LEDGERS / "hazards_named_gbk.csv", table="hazards", data_dir=data_dir,
                    today=TODAY)
    assert counts(report) == (23, 13, {
        "bad_credit_code": 1, "credit_code_conflict": 1, "unknown_county": 1,
        "missing_field": 1, "bad_date": 1, "duplicate_id_in_file": 1, "unknown_code": 1}, 3, 3)
    hazards = table(data_dir, "hazards").set_index("hazard_id")
    firm = hazards["enterprise_id"]
    furniture = provisional_id("411002", enterprise_key("许昌市新兴家具厂"))
    quarry = provisional_id("411081", enterprise_key("禹州市鸿运砂石厂"))
    assert firm["HN-01"] == "E1"  # as registered
    assert firm["HN-02"] == "E1"  # (演示) … 有限责任公司
    assert firm["HN-03"] == "E3"  # a former name (alias)
    assert firm["HN-04"] == "E3"  # the credit code alone
    assert firm["HN-05"] == firm["HN-06"] == furniture  # a new firm, twice (a space between)
    assert firm["HN-07"] == firm["HN-08"] == f"P{C1}"  # its code on one row, not the other
    assert firm["HN-11"] == "E2" and hazards.loc["HN-11", "adcode"] == "411002"  # 许昌市魏都区
    assert pd.isna(firm["HN-15"]) and pd.isna(firm["HN-19"])  # no firm named
    assert firm["HN-16"] == "E2"  # an ideographic space in the name
    assert firm["HN-18"] == quarry
    enterprises = register(data_dir)
    new = enterprises[~enterprises["registered"]]
    assert sorted(new.index) == sorted([furniture, f"P{C1}", quarry])
    assert new.loc[f"P{C1}", "credit_code"] == C1
    assert new.loc[furniture, ["name", "adcode", "sector", "batch"]].tolist() == [
        "许昌市新兴家具厂", "411002", "industry_trade", report.batch]
    assert enterprises.loc[["E1", "E2", "E3"], "registered"].all()  # the register as it was
    reasons = {q["row"]: q["reason"] for q in quarantined(report)}
    assert reasons["12"].startswith("bad_credit_code: 统一社会信用代码='91411002MA78DQ57G7'")
    assert "wrong check character" in reasons["12"]
    assert reasons["13"].startswith(f"credit_code_conflict: 统一社会信用代码='{C2}', but "
                                    "企业名称='（演示）魏都测试建设有限公司' is E1")
    assert reasons["15"] == "unknown_county: 所属县区='郑州市金水区'"
    notes = [q for q in quarantined(report) if q["reason"].startswith("note_row")]
    assert [q["row"] for q in notes] == ["2", "24", "25"]
    assert notes[1]["reason"] == "note_row: 填表人：张三"


def test_the_same_ledger_again_links_to_the_same_firms_and_stores_nothing(data_dir):
    first = ingest(LEDGERS / "hazards_named_gbk.csv", table="hazards", data_dir=data_dir,
                   today=TODAY)
    before = register(data_dir)
    again = ingest(LEDGERS / "hazards_named_gbk.csv", table="hazards", data_dir=data_dir,
                   today=TODAY, force=True)
    assert again.accepted == first.accepted and again.provisional == 0
    assert len(register(data_dir)) == len(before) == 6


def test_strict_keeps_firms_the_register_does_not_hold_out(data_dir):
    report = ingest(LEDGERS / "hazards_named_gbk.csv", table="hazards", data_dir=data_dir,
                    today=TODAY, strict=True, dry_run=True)
    # HN-05, -06, -07, -08, -18 name firms not in the register
    assert report.accepted == 8 and report.rejected["unknown_enterprise"] == 5
    assert report.provisional == 0
    result = run_cli("ingest", str(LEDGERS / "hazards_named_gbk.csv"), "--table", "hazards",
                     "--data-dir", str(data_dir), "--strict")
    assert result.returncode == 2 and "12 row(s) rejected (--strict)" in result.stderr
    assert not (~register(data_dir)["registered"]).any()


def test_a_merged_header_and_actions_against_illegal_units(data_dir):
    """处罚情况 over 处罚类型 | 罚款（万元） | 人次 resolves by its leaves; actions against
    illegal units and a detention need no firm; one firm is new."""
    report = ingest(LEDGERS / "actions_merged_header.xlsx", table="enforcement_actions",
                    data_dir=data_dir, today=TODAY)
    assert counts(report) == (13, 9, {"missing_field": 1, "total_row": 1}, 2, 1)
    actions = table(data_dir, "enforcement_actions")
    new = actions[~actions["action_id"].isin(["A1", "A2", "A3", "A4", "A5"])]
    new = new.set_index("target_name")
    assert new.loc["（演示）魏都测试建设有限公司", ["enterprise_id", "fine_yuan"]].tolist() == [
        "E1", 15_000]
    assert new.loc["（演示）禹州测试矿业有限公司", ["enterprise_id", "action_type"]].tolist() == [
        "E3", "suspend"]
    assert new.loc["许昌新开商贸有限公司", "enterprise_id"].startswith("P411002-")
    illegal = ["南关无名加油点", "禹州市某非法采砂点", "张某", "某塑料小作坊", "豫K非法加油车",
               "某非法生产点"]
    assert new.loc[illegal, "enterprise_id"].isna().all()
    assert new.loc[illegal, "action_type"].tolist() == [
        "seize_black_gas_station", "ban_illegal_operation", "administrative_detention",
        "close_scattered_polluting", "seize_illegal_fuel_vehicle", "close_illegal_unit"]
    assert new.loc["张某", "persons"] == 1
    assert report.warnings == []  # the 合计 row (2.6 万元, 1 人次) checks


def test_a_three_row_header_prefixed_counties_and_signatures_below(data_dir):
    report = ingest(LEDGERS / "inspections_three_level.xlsx", table="inspections",
                    data_dir=data_dir, today=TODAY)
    # row 4 is another city's county; row 5 says 4 rectified of 3 found (检查情况/隐患/一般 and
    # 检查情况/整改情况/已整改 resolved through their groups)
    assert counts(report) == (6, 3, {"unknown_county": 1, "rectified_exceeds_found": 1}, 1, 1)
    visits = table(data_dir, "inspections")
    may = visits[visits["date"] >= pd.Timestamp("2020-05-01").date()].sort_values("date")
    assert may["adcode"].tolist() == ["411002", "411081", "411081"]
    assert may["enterprise_id"].tolist()[:2] == ["E1", "E3"]
    assert report.ignored_columns == []


def test_an_organisation_code_column_holds_credit_codes_only_where_they_have_18_characters(
        data_dir):
    report = ingest(LEDGERS / "inspections_org_code.csv", table="inspections",
                    data_dir=data_dir, today=TODAY)
    assert counts(report) == (3, 3, {}, 0, 1)
    june = table(data_dir, "inspections").set_index("date")["enterprise_id"]
    assert june[pd.Timestamp("2020-06-01").date()] == "E3"  # by its code
    assert june[pd.Timestamp("2020-06-02").date()] == "E1"  # 12345678-9 is no credit code
    assert june[pd.Timestamp("2020-06-03").date()] == f"P{Y1}"


def test_a_leaf_that_needs_its_group_says_so(data_dir, tmp_path):
    ledger = tmp_path / "accidents.csv"
    ledger.write_text("事故日期,所属县区,行业,事故情况,\n,,,一般,死亡人数\n"
                      "2020-03-02,魏都区,工贸,1,0\n", encoding="utf-8")
    report = ingest(ledger, table="accidents", data_dir=data_dir, today=TODAY, dry_run=True)
    assert report.accepted == 1  # 事故情况/死亡人数 resolved by its leaf
    assert report.ignored_columns == ["事故情况/一般"]
    assert "'一般' means nothing without its group" in report.warnings[0]
    ledger.write_text("事故日期,所属县区,行业,伤亡,\n,,,人数,受伤\n"
                      "2020-03-02,魏都区,工贸,1,0\n", encoding="utf-8")
    result = run_cli("ingest", str(ledger), "--table", "accidents", "--data-dir",
                     str(data_dir))
    assert_one_clear_line(result, "no column for required field(s) deaths",
                          "'人数' means nothing without its group, and the group '伤亡' does "
                          "not say which field; map '伤亡/人数' in a --mapping file")


def test_a_header_of_two_rows_in_a_csv_export(data_dir, tmp_path):
    """A CSV writes a merged group once, left of the blanks it spans."""
    ledger = tmp_path / "actions.csv"
    ledger.write_text("处罚日期,所属县区,行业,处罚情况,,\n,,,处罚类型,罚款（万元）,人次\n"
                      "2020-03-02,魏都区,工贸,罚款,0.5,\n2020-03-03,许昌禹州,工贸,行政拘留,,2\n",
                      encoding="utf-8")
    report = ingest(ledger, table="enforcement_actions", data_dir=data_dir, today=TODAY)
    assert (report.accepted, report.rejected_total) == (2, 0)
    actions = table(data_dir, "enforcement_actions")
    march = actions[actions["date"] >= pd.Timestamp("2020-03-02").date()]
    march = march[march["action_id"].str.startswith("EA-")].sort_values("date")
    assert march[["adcode", "fine_yuan", "persons"]].values.tolist() == [
        ["411002", 5000, 0], ["411081", 0, 2]]


# --- the register -----------------------------------------------------------------------------
def test_a_register_file_renames_closes_adds_and_promotes(data_dir):
    ingest(LEDGERS / "inspections_org_code.csv", table="inspections", data_dir=data_dir,
           today=TODAY)  # names 鄢陵新开苗圃 (code Y1) before the register does
    result = run_cli("enterprises", "register", str(LEDGERS / "register_update.csv"),
                     "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "rows read 7, accepted 5, rejected 2" in result.stdout
    assert ("register: 2 new, 3 updated (renamed 2, closed 1, provisional now registered 1)"
            in result.stdout)
    e = register(data_dir)
    assert e.loc["E1", "name"] == "（演示）魏都测试建设集团有限公司"  # renamed …
    assert e.loc["E1", "aliases"] == "（演示）魏都测试建设有限公司"  # … the old name kept
    assert (e.loc["E1", "scale"], e.loc["E1", "dual_prevention"]) == ("above", "built")
    assert e.loc["E2", "closed_on"] == pd.Timestamp("2020-06-30").date()
    assert e.loc["E2", "sector"] == "construction"  # not in the file: unchanged
    promoted = e.loc[f"P{Y1}"]  # the ledger's provisional firm, now registered
    assert promoted["registered"] and promoted["name"] == "（演示）鄢陵新开苗木有限公司"
    assert promoted["aliases"] == "鄢陵新开苗圃"
    by_code = e.reset_index().set_index("credit_code")
    assert by_code.loc[N1, "name"] == "（演示）魏都恒达商贸有限公司"
    assert by_code.loc[N2, "registered"]
    history = store.read_manifest(store.current_version(data_dir, "enterprises"))["history"]
    assert history[-1]["action"] == "register"
    assert history[-1]["renamed"] == ["E1", f"P{Y1}"]  # the register names the firm anew
    assert history[-1]["promoted"] == [f"P{Y1}"] and history[-1]["closed"] == ["E2"]
    # the old name still links (an alias); two firms of one name are never picked between
    ledger = data_dir / "visits.csv"
    ledger.write_text("检查日期,所属县区,企业名称,行业\n"
                      "2020-04-01,魏都区,（演示）魏都测试建设有限公司,建筑施工\n"
                      "2020-04-02,魏都区,（演示）魏都恒达商贸有限公司,人员密集场所\n",
                      encoding="utf-8")
    report = ingest(ledger, table="inspections", data_dir=data_dir, today=TODAY)
    assert (report.accepted, dict(report.rejected)) == (1, {"ambiguous_enterprise": 1})
    (row,) = [q for q in quarantined(report) if q["row"] == "3"]
    firms = ", ".join(sorted(by_code.loc[[N1, N2], "enterprise_id"]))
    assert row["reason"] == ("ambiguous_enterprise: 企业名称='（演示）魏都恒达商贸有限公司' "
                             f"matches {firms} in 411002")


def test_the_name_keys_kept_beside_each_register_version_are_those_of_its_firms(data_dir):
    """Each change regroups only the (county, key) groups it touches; after provisional
    firms, a register file (renames, new firms) and a merge, the key files still hold what
    grouping the whole register gives."""
    from safetyviz.ingest import register as reg

    def keys_of_version():
        version = store.current_version(data_dir, "enterprises")
        kept = reg._read_keys(version)
        whole = reg._keys_of(reg.read_register(version))
        groups = reg._groups(whole)
        return ({name: frame.sort(frame.columns) for name, frame in kept.items()},
                {"keys": whole.sort(whole.columns), "groups": groups.sort(groups.columns)})

    ingest(LEDGERS / "hazards_named_gbk.csv", table="hazards", data_dir=data_dir, today=TODAY)
    run_cli("enterprises", "register", str(LEDGERS / "register_update.csv"), "--data-dir",
            str(data_dir))
    furniture = provisional_id("411002", enterprise_key("许昌市新兴家具厂"))
    reg.merge(data_dir, furniture, "E2")
    kept, whole = keys_of_version()
    assert set(kept) == {"keys", "groups"}
    for name in kept:
        assert kept[name].equals(whole[name]), name
    groups = {key: (n, firm) for key, n, firm in whole["groups"].select(
        "key", "n", "by_name").iter_rows()}
    assert groups[enterprise_key("许昌市新兴家具厂")] == (1, "E2")  # merged: an alias


def test_a_register_row_whose_code_and_name_name_two_firms_is_refused(data_dir, tmp_path):
    update = tmp_path / "register.csv"
    update.write_text("统一社会信用代码,企业名称,所属县区,行业\n"
                      f"{E1},（演示）禹州测试矿业有限公司,禹州市,煤矿\n"  # E1's code, E3's name
                      f"{E3},（演示）魏都测试建筑工程有限公司,魏都区,建筑施工\n", encoding="utf-8")
    report = ingest(update, table="enterprises", data_dir=data_dir, today=TODAY)
    assert (report.accepted, dict(report.rejected)) == (0, {"credit_code_conflict": 2})
    reasons = [q["reason"] for q in quarantined(report)]
    assert reasons[0] == (f"credit_code_conflict: 统一社会信用代码='{E1}' is E1's, but "
                          f"企业名称='（演示）禹州测试矿业有限公司' is E3's (code {E3})")
    assert register(data_dir).loc["E1", "name"] == "（演示）魏都测试建设有限公司"


def test_unmatched_lists_provisional_firms_with_their_likeliest_matches(data_dir):
    ingest(LEDGERS / "hazards_named_gbk.csv", table="hazards", data_dir=data_dir, today=TODAY)
    ledger = data_dir / "visits.csv"
    ledger.write_text("检查日期,所属县区,企业名称,行业\n"
                      "2020-04-01,魏都区,魏都测试建设公司,建筑施工\n"
                      "2020-04-02,魏都区,魏都测试建设公司,建筑施工\n", encoding="utf-8")
    ingest(ledger, table="inspections", data_dir=data_dir, today=TODAY)
    result = run_cli("enterprises", "unmatched", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1].startswith("4 provisional firm(s)")
    furniture = provisional_id("411002", enterprise_key("许昌市新兴家具厂"))
    rows = [line.split("\t") for line in lines[1:-1]]
    assert [r[3] for r in rows] == ["2 (0/2/0)", "2 (0/2/0)", "2 (2/0/0)", "1 (0/1/0)"] or \
        sorted(r[3] for r in rows[:3]) == ["2 (0/2/0)", "2 (0/2/0)", "2 (2/0/0)"]
    assert [furniture, "许昌市新兴家具厂", "魏都区", "2 (0/2/0)"] in [r[:4] for r in rows]
    (builder,) = [line for line in lines if "魏都测试建设公司\t" in line]
    assert builder.split("\t")[-1].startswith("E1 （演示）魏都测试建设有限公司 1.00")
    out = data_dir / "unmatched.csv"
    assert run_cli("enterprises", "unmatched", "--data-dir", str(data_dir), "--out",
                   str(out)).returncode == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf") and len(out.read_text().splitlines()) == 5
    assert out.read_text(encoding="utf-8-sig").splitlines()[0].split(",")[:4] == [
        "enterprise_id", "name", "adcode", "credit_code"]


def test_a_merge_relinks_every_record_and_the_cube_follows(data_dir):
    ledger = data_dir / "visits.csv"
    ledger.write_text("检查日期,所属县区,企业名称,行业\n"
                      "2020-01-05,魏都区,魏都测试建设公司,建筑施工\n"  # E1 was inspected then too
                      "2020-02-06,魏都区,魏都测试建设公司,建筑施工\n", encoding="utf-8")
    ingest(ledger, table="inspections", data_dir=data_dir, today=TODAY)
    source = provisional_id("411002", enterprise_key("魏都测试建设公司"))
    cat = catalog.open_catalog(data_dir / "catalog.yaml")
    january = {"adcode": "411002", "sector": "construction", "month": "2020-01-01"}
    assert load_cube(cat)["enterprises_inspected"].sel(january).item() == 3  # E1, E2, P
    result = run_cli("enterprises", "merge", source, "E1", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert f"merged {source} into E1: records relinked (inspections 2)" in result.stdout
    visits = table(data_dir, "inspections")
    assert (visits["enterprise_id"] == source).sum() == 0
    assert (visits["enterprise_id"] == "E1").sum() == 4
    e = register(data_dir)
    assert source not in e.index and e.loc["E1", "aliases"] == "魏都测试建设公司"
    built = load_cube(cat)
    assert built["enterprises_inspected"].sel(january).item() == 2  # E1, E2
    xr.testing.assert_identical(built, cube.build_cube(cat))
    history = store.read_manifest(store.current_version(data_dir, "enterprises"))["history"]
    assert history[-1]["action"] == "merge" and history[-1]["records"] == {"inspections": 2}
    # the merged name now links straight to E1
    again = data_dir / "again.csv"
    again.write_text("检查日期,所属县区,企业名称,行业\n2020-03-09,魏都区,魏都测试建设公司,建筑施工\n",
                     encoding="utf-8")
    assert ingest(again, table="inspections", data_dir=data_dir, today=TODAY).provisional == 0
    assert (table(data_dir, "inspections")["enterprise_id"] == "E1").sum() == 5


@pytest.mark.parametrize("args, message", [
    (["P411002-0000000000", "E1"], "no enterprise 'P411002-0000000000' in the register"),
    (["PX", "E9"], "no enterprise 'PX' in the register"),
    (["E1", "E2"], "E1 (（演示）魏都测试建设有限公司) is a registered firm"),
])
def test_a_merge_that_cannot_be_done_is_one_clear_line(args, message, data_dir):
    before = store.current_version(data_dir, "enterprises")
    result = run_cli("enterprises", "merge", *args, "--data-dir", str(data_dir))
    assert_one_clear_line(result, "enterprises merge:", message)
    assert store.current_version(data_dir, "enterprises") == before


def test_unmatched_without_a_register_is_one_clear_line(tmp_path):
    result = run_cli("enterprises", "unmatched", "--data-dir", str(tmp_path / "none"))
    assert_one_clear_line(result, "no enterprise register")
    assert not (tmp_path / "none").exists()


def test_two_firms_with_different_credit_codes_are_not_merged(data_dir):
    ingest(LEDGERS / "hazards_named_gbk.csv", table="hazards", data_dir=data_dir, today=TODAY)
    result = run_cli("enterprises", "merge", f"P{C1}", "E3", "--data-dir", str(data_dir))
    assert_one_clear_line(result, "different credit codes", C1, E3)


@pytest.fixture(scope="module")
def merge_store(demo_dir, tmp_path_factory):
    """The demo store with a provisional firm inspected every day of four years (so that a
    merge rewrites every year's file), ready to be copied."""
    folder = tmp_path_factory.mktemp("merge") / "demo"
    shutil.copytree(demo_dir, folder, symlinks=True)
    ledger = folder.parent / "firm.csv"
    days = pd.date_range("2018-01-01", "2021-12-31")
    ledger.write_text("检查日期,所属县区,企业名称,行业\n" + "".join(
        f"{d:%Y-%m-%d},魏都区,许昌市合并测试有限公司,工贸\n" for d in days), encoding="utf-8")
    report = ingest(ledger, table="inspections", data_dir=folder, today=TODAY)
    assert report.accepted == 1461 and report.provisional == 1
    ledger.write_text("发现日期,所属县区,企业名称,行业,隐患等级\n" + "".join(
        f"{d:%Y-%m-%d},魏都区,许昌市合并测试有限公司,工贸,一般\n" for d in days[::30]),
        encoding="utf-8")
    assert ingest(ledger, table="hazards", data_dir=folder, today=TODAY).accepted == 49
    return folder


def _merge_state(data_dir, source):
    """Whether the merge of ``source`` into E41100200001 is done (after) or not (before);
    fails if it is half done."""
    cat = catalog.open_catalog(data_dir / "catalog.yaml")  # finishes a half-done switch
    visits = table(data_dir, "inspections")["enterprise_id"]
    in_register = source in register(data_dir).index
    relinked = {(visits == source).sum() == 0,
                (table(data_dir, "hazards")["enterprise_id"] == source).sum() == 0}
    assert len(relinked) == 1, "some tables relinked, others not"
    (done,) = relinked
    assert done != in_register, "the register disagrees with the records"
    xr.testing.assert_identical(load_cube(cat), cube.build_cube(cat))
    return done


@pytest.mark.parametrize("delay", [0.0, 0.1, 0.25, 0.5])  # before, …, after
def test_sigkill_during_a_merge_leaves_before_or_after(delay, merge_store, tmp_path):
    data_dir = tmp_path / "demo"
    shutil.copytree(merge_store, data_dir, symlinks=True)
    source = provisional_id("411002", enterprise_key("许昌市合并测试有限公司"))
    versions = store.store_dir(data_dir) / ".versions" / "inspections"
    existing = set(os.listdir(versions))
    process = subprocess.Popen(
        [sys.executable, "-m", "safetyviz.cli", "enterprises", "merge", source, "E41100200001",
         "--data-dir", str(data_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while set(os.listdir(versions)) == existing and process.poll() is None:
        assert time.time() < deadline
        time.sleep(0.0005)  # until the relinked records start being written
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = _merge_state(data_dir, source)
    if not done:  # the merge runs again to the end
        result = run_cli("enterprises", "merge", source, "E41100200001", "--data-dir",
                         str(data_dir))
        assert result.returncode == 0, result.stderr
        assert _merge_state(data_dir, source)
    else:  # killed after its commit: its leftover goes with the next writer's first step
        assert len(os.listdir(versions)) <= 3  # the new one, the one before, one left over
        store.cleanup(store.store_dir(data_dir) / "inspections")
    assert len(os.listdir(versions)) <= 2  # leftovers cleaned up


# --- functional zones -------------------------------------------------------------------------
@pytest.fixture()
def zoned(data_dir):
    """The tiny store with the test city's three zones declared (one with a boundary)."""
    for path in ZONES.iterdir():
        shutil.copy(path, data_dir / "regions" / path.name)
    result = run_cli("regions", "units", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "6 counties and 3 zone(s)" in result.stdout
    return data_dir


def test_zones_are_units_of_their_own_in_the_cube_and_the_city_total(zoned):
    report = ingest(LEDGERS / "inspections_zones.csv", table="inspections", data_dir=zoned,
                    today=TODAY)
    # 开发区 alone names no declared unit
    assert (report.accepted, dict(report.rejected)) == (6, {"unknown_county": 1})
    cat = catalog.open_catalog(zoned / "catalog.yaml")
    built = load_cube(cat)
    march = built["inspections"].sel(month="2020-03-01").sum("sector")
    assert march.sel(adcode=["411071", "411072", "411073"]).values.tolist() == [2, 1, 2]
    assert march.sum().item() == 6 + 1  # the tiny store's I5 (禹州市) and the ledger's six
    xr.testing.assert_identical(built, cube.build_cube(cat))
    assert built["name_zh"].sel(adcode="411072").item() == "许昌市城乡一体化示范区"


def test_the_overview_ranks_zones_and_names_those_it_cannot_draw(zoned):
    import holoviews as hv

    from safetyviz.web.components.overview import create_overview_app

    hv.extension("bokeh", logo=False)
    ingest(LEDGERS / "inspections_zones.csv", table="inspections", data_dir=zoned, today=TODAY)
    page = create_overview_app(str(zoned / "catalog.yaml"))
    page.state.param.update(period="2020-03", metric="inspections")
    assert "411072" in page.state.param.county.objects
    ranking = page._ranking()
    assert "许昌市城乡一体化示范区" in list(ranking.data["county"])
    drawn = page._map()
    assert sorted(drawn.data["adcode"].unique()) == sorted(
        ["411002", "411003", "411024", "411025", "411081", "411082", "411071"])
    note = page.unmapped.text
    assert "许昌市城乡一体化示范区、许昌市东城区" in note and "不在地图上" in note
    page.state.lang = "en"
    assert page.unmapped.text.startswith('<div class="map-note">Not on the map')


@pytest.mark.parametrize("units, message", [
    ("units:\n  - {code: '411002', name_zh: 重复区, parent: '411002'}\n",
     "unit 1 (411002), field code: 411002 is already the code of 魏都区"),
    ("units:\n  - {code: '411079', name_zh: 新区, parent: '410105'}\n",
     "unit 1 (411079), field parent: '410105' is not one of the city's counties"),
    ("units:\n  - {code: '411079', name_zh: 新区, parent: '411002', aliases: [禹州]}\n",
     "unit 1 (411079), field aliases: '禹州' already names 411081"),
    ("units:\n  - {code: '411079', name_zh: 新区, parent: '411002', boundary: none.geojson}\n",
     "unit 1 (411079), field boundary: cannot read"),
    ("units:\n  - {code: 4110, name_zh: 新区, parent: '411002'}\n",
     "unit 1 (4110), field code: a 6-digit code expected"),
    ("units:\n  - {code: '411079', name_zh: 新区, parent: '411002'\n",
     "line 3, column 1: not plain YAML data"),
])
def test_a_bad_zone_declaration_is_one_clear_line(units, message, data_dir):
    path = data_dir / "regions" / "units.yaml"
    path.write_text(units, encoding="utf-8")
    before = (data_dir / "regions" / "boundaries.geojson").read_bytes()
    result = run_cli("regions", "units", "--data-dir", str(data_dir))
    assert_one_clear_line(result, str(path), message)
    assert (data_dir / "regions" / "boundaries.geojson").read_bytes() == before


# --- the risk map -----------------------------------------------------------------------------
def test_the_risk_map_draws_registered_firms_and_counts_records_of_the_others(data_dir):
    from safetyviz.web.components.riskmap import create_riskmap_app

    ingest(LEDGERS / "hazards_named_gbk.csv", table="hazards", data_dir=data_dir, today=TODAY)
    page = create_riskmap_app(str(data_dir / "catalog.yaml"))
    assert sorted(page.state.points()["enterprise_id"]) == ["E1", "E2", "E3"]
    # HN-05, -06 (the furniture maker), -07, -08 (code C1), -18 (the quarry)
    assert page.state.unregistered_records() == {
        "firms": 3, "inspections": 0, "hazards": 5, "enforcement_actions": 0, "records": 5}
    legend = page._legend().object
    assert "另有 5 条记录（检查 0、隐患 5、执法 0）涉及 3 家尚未登记的企业" in legend


def test_an_old_store_is_brought_to_the_new_schema(data_dir):
    """A register written before credit codes (and actions before target names) gets the
    new columns on the next ingest; its firms count as registered."""
    link = store.store_dir(data_dir) / "enterprises"
    old = pq.read_table(link).drop_columns(["credit_code", "aliases", "registered", "batch",
                                            "closed_on"])
    version = store.publish(link, lambda new, _: pq.write_table(old, new / "base.parquet"))
    assert store.outdated_tables(data_dir) == ["enterprises"] and version.exists()
    ingest(LEDGERS / "hazards_named_gbk.csv", table="hazards", data_dir=data_dir, today=TODAY)
    e = register(data_dir)
    assert store.outdated_tables(data_dir) == []
    assert e.loc[["E1", "E2", "E3"], "registered"].all()
    # without its codes and aliases, the old register cannot tell HN-03 (E3's former name)
    # and HN-04 (E3's code) are E3's: two more provisional firms, one by its code
    assert sorted(e.index[~e["registered"]]) == sorted([
        provisional_id("411081", enterprise_key("（演示）禹州测试煤业有限公司")), f"P{E3}",
        f"P{C1}", provisional_id("411002", enterprise_key("许昌市新兴家具厂")),
        provisional_id("411081", enterprise_key("禹州市鸿运砂石厂"))])


def test_a_journal_left_by_a_killed_switch_is_finished_by_the_next_reader(data_dir):
    """The commit point of a change to several tables is its journal: a writer killed after
    writing it (some links switched, some not) is finished by whoever comes next."""
    links = [store.store_dir(data_dir) / t for t in ("inspections", "enterprises")]
    olds = {link: link.resolve() for link in links}
    with store.Transaction(data_dir) as change:
        for link in links:
            change.build(link, lambda new, old: shutil.copytree(old, new, dirs_exist_ok=True))
        built = dict(change.built)
        journal = {str(k.relative_to(data_dir)): str(v.relative_to(data_dir))
                   for k, v in built.items()}
        change.built = {}  # leave without committing; write the journal by hand instead
    (data_dir / store.TRANSACTION).write_text(json.dumps(journal))
    store._switch(links[0], built[links[0]])  # killed after the first switch
    assert links[1].resolve() == olds[links[1]]
    catalog.open_catalog(data_dir / "catalog.yaml")
    store.current_version(data_dir, "inspections")
    assert [link.resolve() for link in links] == [built[link] for link in links]
    assert not (data_dir / store.TRANSACTION).exists()
    assert pl.read_parquet(links[1] / "*.parquet").height == 3

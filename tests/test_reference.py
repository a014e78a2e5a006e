"""Every checked figure of the reference bulletin, reproduced from the demo's stored records."""

from __future__ import annotations

import pandas as pd
import pytest

from safetyviz.analysis import reference
from safetyviz.core.paths import shipped_dir
from safetyviz.data.loading import load_regions
from safetyviz.synth import demo
from safetyviz.synth.profile import load_profile

REFERENCE_FILE = shipped_dir() / "reference" / "xuchang_2020q1_bulletin.csv"
ROWS = reference.read_reference(REFERENCE_FILE)
CHECKED = ROWS[ROWS["op"].map(lambda op: reference.parse_op(op)[0] in reference.CHECKED_OPS)]


def test_reference_file_has_the_bulletins_figures():
    # 28 figures; 25 checkable from records (2 are context only, 1 is the province's rate).
    assert len(ROWS) == 28
    assert len(CHECKED) == 25


@pytest.mark.parametrize("key", list(CHECKED["key"]))
def test_reference_row_reproduced_from_records(key, demo_records, demo_catalog):
    row = CHECKED.set_index("key").loc[key]
    counties = list(load_regions(demo_catalog)["adcode"])
    scope = reference.scope(row["adcode"], "411000", counties)
    value = reference.compute(demo_records, row["metric"], scope, row["period_start"],
                              row["period_end"])
    kind, params = reference.parse_op(row["op"])
    if kind == "eq":
        assert value == float(row["value"])
    elif kind == "range":
        assert params[0] <= value <= params[1]
    elif kind == "approx":
        assert abs(value - float(row["value"])) <= params[0]
    else:
        before = reference.compute(demo_records, row["metric"], scope,
                                   row["period_start"] - pd.DateOffset(years=1),
                                   row["period_end"] - pd.DateOffset(years=1))
        assert value < before


def test_compute_by_hand_on_tiny_records():
    from conftest import read_tiny_table

    tables = {t: read_tiny_table(t) for t in ("inspections", "hazards", "enforcement_actions",
                                               "enterprises", "major_hazard_sites")}
    q1 = (pd.Timestamp("2020-01-01"), pd.Timestamp("2020-03-31"))
    assert reference.compute(tables, "inspections", ["411002"], *q1) == 4
    assert reference.compute(tables, "enterprises_inspected", ["411002"], *q1) == 2
    assert reference.compute(tables, "hazards_rectified", ["411002", "411081"], *q1) == 2
    assert reference.compute(tables, "fines_yuan", ["411081"], *q1) == 20000
    assert reference.compute(tables, "criminal_detention", ["411081"], *q1) == 2
    assert reference.compute(tables, "dual_prevention_enterprises", ["411002", "411081"], *q1) == 2
    assert reference.compute(tables, "major_hazard_sites_online", ["411081"],
                             *(pd.Timestamp("2019-05-31"),) * 2) == 0


def test_the_named_enterprise_is_only_a_joint_operation_target(demo_records):
    name = "许昌振德医用敷料有限公司"
    joint = demo_records["joint_operations"]
    assert list(joint.loc[joint["target"] == name, "date"]) == [pd.Timestamp("2020-04-20")]
    assert not demo_records["enterprises"]["name"].str.contains("振德").any()
    assert demo_records["enterprises"]["name"].str.startswith("（演示）").all()


def test_demo_is_deterministic_and_any_seed_reproduces_the_bulletin(demo_catalog):
    regions = load_regions(demo_catalog)
    profile = load_profile(shipped_dir() / "demo" / "411000.yaml")
    first = demo.generate(profile, regions, seed=7)
    second = demo.generate(profile, regions, seed=7)
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name])
    check = reference.compare(first, profile.reference, "411000", list(regions["adcode"]))
    assert check["matches"].all()


def test_demo_looks_like_a_city(demo_records):
    ins = demo_records["inspections"]
    monthly = ins.groupby(ins["date"].dt.to_period("M")).size()
    # The February-2020 dip and the spring rebound (复工复产).
    assert monthly[pd.Period("2020-02")] < 0.6 * monthly[pd.Period("2019-02")]
    assert monthly[pd.Period("2020-04")] > monthly[pd.Period("2019-04")]
    # Coal mines only where the profile puts them.
    coal = demo_records["enterprises"].query("sector == 'coal_mines'")["adcode"]
    assert set(coal) == {"411025", "411081"}
    hz = demo_records["hazards"]
    overdue = hz["rectified_date"].isna() & (hz["deadline"] < pd.Timestamp("2021-12-31"))
    assert 0 < overdue.sum() < 0.05 * len(hz)
    assert hz.loc[hz["listed_supervision"], "level"].eq("major").all()
    assert hz["listed_supervision"].sum() > 0

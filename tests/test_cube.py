"""The cube against values worked out by hand on the tiny store (tests/data/tiny)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from safetyviz.analysis import cube
from safetyviz.core.vocab import CUBE_VARIABLES, SECTORS
from safetyviz.data import catalog

ADCODES = ["411002", "411003", "411024", "411025", "411081", "411082"]
NAMES = ["魏都区", "建安区", "鄢陵县", "襄城县", "禹州市", "长葛市"]
MONTHS = pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01"]).as_unit("ns")
JAN, FEB, MAR, APR = range(4)
WEIDU, YUZHOU = "411002", "411081"


def expected_cube() -> xr.Dataset:
    """Every non-zero cell, with the records that make it."""
    cells = {var.name: {} for var in CUBE_VARIABLES}
    c = cells
    # Inspections I1–I3 (魏都, Jan, construction), I4 (魏都, Feb, unlicensed), I5 (禹州, Mar).
    c["inspections"] = {(WEIDU, JAN, "construction"): 3, (WEIDU, FEB, "industry_trade"): 1,
                        (YUZHOU, MAR, "coal_mines"): 1}
    # E1 twice + E2 in January; I4 has no enterprise.
    c["enterprises_inspected"] = {(WEIDU, JAN, "construction"): 2, (YUZHOU, MAR, "coal_mines"): 1}
    c["hazards_found"] = {(WEIDU, JAN, "construction"): 3, (YUZHOU, MAR, "coal_mines"): 1}
    c["major_hazards_found"] = {(WEIDU, JAN, "construction"): 1}  # H3
    # H1 rectified in Jan, H2 in Feb, H4 on 2 April; H3 never.
    c["hazards_rectified"] = {(WEIDU, JAN, "construction"): 1, (WEIDU, FEB, "construction"): 1,
                              (YUZHOU, APR, "coal_mines"): 1}
    # Open at month end: H2+H3 at end of Jan; H3 from Feb on; H4 at end of March only.
    c["hazards_open_end"] = {(WEIDU, JAN, "construction"): 2, (WEIDU, FEB, "construction"): 1,
                             (WEIDU, MAR, "construction"): 1, (WEIDU, APR, "construction"): 1,
                             (YUZHOU, MAR, "coal_mines"): 1}
    # H2's deadline is 31 Jan, the last day of January: not yet overdue then, rectified in Feb.
    # H3 (deadline 10 Feb) is overdue from Feb on; H4 (deadline 20 Mar) at end of March.
    c["hazards_overdue_end"] = {(WEIDU, FEB, "construction"): 1, (WEIDU, MAR, "construction"): 1,
                                (WEIDU, APR, "construction"): 1, (YUZHOU, MAR, "coal_mines"): 1}
    c["hazards_listed_open_end"] = {(WEIDU, m, "construction"): 1 for m in (JAN, FEB, MAR, APR)}
    # Days from found to rectified, in the rectification month: H1 5, H2 26, H4 23.
    c["median_days_to_rectify"] = {(WEIDU, JAN, "construction"): 5.0,
                                   (WEIDU, FEB, "construction"): 26.0,
                                   (YUZHOU, APR, "coal_mines"): 23.0}
    c["fines_yuan"] = {(WEIDU, JAN, "construction"): 5000, (YUZHOU, MAR, "coal_mines"): 20000}
    c["penalty_cases"] = {(WEIDU, JAN, "construction"): 1, (WEIDU, FEB, "construction"): 1,
                          (YUZHOU, MAR, "coal_mines"): 1}
    c["closures"] = {(YUZHOU, MAR, "industry_trade"): 1}
    c["detentions"] = {(YUZHOU, MAR, "industry_trade"): 2}
    c["joint_operations"] = {(YUZHOU, MAR): 1}
    c["accidents"] = {(YUZHOU, FEB, "coal_mines"): 1}
    c["deaths"] = {(YUZHOU, FEB, "coal_mines"): 1}
    c["injuries"] = {(YUZHOU, FEB, "coal_mines"): 2}

    sectors = list(SECTORS)
    data = {}
    for var in CUBE_VARIABLES:
        shape = (6, 4, len(sectors)) if var.by_sector else (6, 4)
        values = (np.full(shape, np.nan) if var.over_time == "median"
                  else np.zeros(shape, np.int64))
        for key, n in cells[var.name].items():
            index = (ADCODES.index(key[0]), key[1]) + (
                (sectors.index(key[2]),) if var.by_sector else ())
            values[index] = n
        dims = ("adcode", "month", "sector") if var.by_sector else ("adcode", "month")
        data[var.name] = (dims, values, {
            "long_name_zh": var.long_name_zh, "long_name_en": var.long_name_en,
            "units": var.units, "units_zh": var.units_zh, "over_time": var.over_time})
    return xr.Dataset(
        data, coords={"adcode": np.array(ADCODES, object), "month": MONTHS.to_numpy(),
                      "sector": np.array(sectors, object),
                      "name_zh": ("adcode", np.array(NAMES, object))},
        attrs={"title": "safetyviz cube", "city_adcode": "411000"})


def test_cube_of_the_tiny_store_matches_hand_computed_values(tiny_dir):
    built = cube.build_cube(catalog.open_catalog(tiny_dir / "catalog.yaml"))
    xr.testing.assert_identical(built, expected_cube())


def test_cube_round_trips_through_zarr_and_the_catalog(tiny_dir):
    cat = catalog.open_catalog(tiny_dir / "catalog.yaml")
    cube.write_cube(cube.build_cube(cat), tiny_dir)
    from safetyviz.data.loading import load_cube

    xr.testing.assert_identical(load_cube(cat), expected_cube())


def test_over_period_sums_flows_and_takes_stocks_at_the_end():
    c = expected_cube()
    q1 = ("2020-01-01", "2020-03-31")
    assert cube.over_period(c, "hazards_found", *q1).sel(adcode=WEIDU).sum().item() == 3
    # Stock at the end of March, not the sum of three month ends (2 + 1 + 1).
    assert cube.over_period(c, "hazards_open_end", *q1).sel(adcode=WEIDU).sum().item() == 1
    with pytest.raises(ValueError, match="distinct"):
        cube.over_period(c, "enterprises_inspected", *q1)


def test_demo_cube_agrees_with_the_bulletin(demo_dir):
    from safetyviz.data.loading import load_cube

    c = load_cube(catalog.open_catalog(demo_dir / "catalog.yaml"))
    q1 = c.sel(month=slice("2020-01-01", "2020-03-01"))
    assert q1["inspections"].sum().item() == 7967
    assert q1["hazards_rectified"].sum().item() == 8826
    assert q1["hazards_found"].sel(adcode="411002").sum().item() == 814
    assert q1["fines_yuan"].sel(adcode="411002").sum().item() == 85000


def test_medians_of_days_to_rectify_are_exact():
    # Cell (A, Jan 2020, s): 2, 4, 4, 10 days → (4 + 4) / 2; (B, Feb, s): 1, 3 → 2;
    # (A, Feb, t): 7 alone; an open hazard counts nowhere.
    found = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04",
                            "2020-02-01", "2020-02-02", "2020-02-03", "2020-01-05"])
    days = [2, 4, 4, 10, 1, 3, 7, None]
    frame = pd.DataFrame({
        "adcode": ["A", "A", "A", "A", "B", "B", "A", "B"],
        "sector": ["s", "s", "s", "s", "s", "s", "t", "s"], "found_date": found,
        "rectified_date": [f + pd.Timedelta(days=d) if d is not None else pd.NaT
                           for f, d in zip(found, days)]}).sample(frac=1, random_state=1)
    medians = cube.rectify_medians(frame, ["A", "B"], ["s", "t"])
    jan, feb = 2020 * 12, 2020 * 12 + 1
    got = {(r.adcode, r.month, r.sector): r.median for r in medians.itertuples()}
    assert got == {(0, jan, 0): 4.0, (1, feb, 0): 2.0, (0, feb, 1): 7.0}


def test_an_additive_metric_is_one_entry(tiny_dir, monkeypatch):
    """A new count or sum needs only its entry: the cube build computes it from the records
    (tests/data/tiny: A1 fine 5,000 in 魏都区 January 2020, A5 fine 20,000 in 禹州市 March)."""
    from safetyviz.core.vocab import CubeVariable

    toy = CubeVariable("fines_of_fine_decisions", "罚款决定金额", "Fines of fine decisions",
                       "yuan", "元", table="enforcement_actions", value="sum",
                       column="fine_yuan", where=(("action_type", ("fine",)),))
    monkeypatch.setattr(cube, "CUBE_VARIABLES", (*CUBE_VARIABLES, toy))
    built = cube.build_cube(catalog.open_catalog(tiny_dir / "catalog.yaml"))
    by_cell = built["fines_of_fine_decisions"].sum("sector").to_series()
    assert by_cell[by_cell != 0].to_dict() == {
        ("411002", pd.Timestamp("2020-01-01")): 5000,
        ("411081", pd.Timestamp("2020-03-01")): 20000}
    assert built["fines_of_fine_decisions"].sel(adcode="411081").sum("month").to_series()[
        "coal_mines"] == 20000


def test_results_are_kept_for_the_most_recently_used_keys_and_per_cube():
    from safetyviz.analysis.cube import PerCube
    from safetyviz.core.cache import LRU

    computed = []

    def compute(value):
        return lambda: computed.append(value) or value

    kept = LRU(2)
    assert [kept.get(k, compute(k)) for k in ("a", "b", "a", "c", "a", "b")] == [
        "a", "b", "a", "c", "a", "b"]
    assert computed == ["a", "b", "c", "b"]  # "a" kept (used last), "b" dropped for "c"
    assert len(kept) == 2
    weighed = LRU(8, weigh=len, budget=10)  # costs: the values' lengths
    for value in ("aaaa", "bbbb", "cc", "dddd"):
        weighed.get(value, lambda value=value: value)
    assert "aaaa" not in weighed and "bbbb" in weighed and weighed.cost == 10
    weighed.get("e" * 12, lambda: "e" * 12)  # over the budget alone: kept, alone
    assert len(weighed) == 1 and weighed.cost == 12
    per_cube = PerCube(size=8)
    first, second = xr.Dataset(), xr.Dataset()
    assert per_cube.get(first, "k", lambda: 1) == 1 and per_cube.get(second, "k", lambda: 2) == 2
    assert per_cube.get(first, "k", lambda: 3) == 1  # each cube its own results
    del first
    import gc

    gc.collect()
    assert len(per_cube._by_cube) == 1  # a cube's results go with it

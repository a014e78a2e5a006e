"""Derived indicators against values worked out by hand on tiny, hand-built cubes and records.

The cube: two counties (made-up adcodes, nothing city-specific) × 14 months (2020-01 …
2021-02) × two sectors; every non-zero cell is listed in CELLS.
"""

from __future__ import annotations

import math

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from safetyviz.analysis import indicators as ind

A, B, C = "900001", "900002", "900003"  # C: a county with no records at all
MONTHS = pd.date_range("2020-01-01", periods=14, freq="MS")  # 2020-01 … 2021-02
SECTORS = ["construction", "gas"]
CON, GAS = SECTORS
NAN = float("nan")

# name → (over_time, by_sector), as in vocab.CUBE_VARIABLES
VARIABLES = {
    "inspections": ("sum", True),
    "enterprises_inspected": ("distinct", True),
    "hazards_found": ("sum", True),
    "hazards_rectified": ("sum", True),
    "hazards_open_end": ("last", True),
    "joint_operations": ("sum", False),
}
CELLS = {
    # Q1 2020: A 10 + 5 = 15, B 4, city 19; construction 14, gas 5.
    # Jan–Feb 2021: A 15, B 2 + 2 = 4 (Jan–Feb 2020: A 10, B 4).
    "inspections": {(A, "2020-01", CON): 10, (A, "2020-03", GAS): 5, (B, "2020-02", CON): 4,
                    (A, "2021-01", CON): 15, (B, "2021-01", GAS): 2, (B, "2021-02", CON): 2},
    "enterprises_inspected": {(A, "2020-01", CON): 3, (A, "2020-03", GAS): 2},
    # Q1 2020: A 4 + 6 = 10, B 5, city 15.  Q2 2020: A 0, B 2, city 2.
    "hazards_found": {(A, "2020-01", CON): 4, (A, "2020-03", GAS): 6, (B, "2020-02", CON): 5,
                      (B, "2020-04", GAS): 2},
    # Q1 2020: A 3, B 4, city 7.  Q2 2020: A 5, B 3, city 8 (earlier hazards cleared).
    "hazards_rectified": {(A, "2020-02", CON): 3, (B, "2020-03", CON): 4,
                          (A, "2020-04", GAS): 5, (B, "2020-05", GAS): 3},
    # End of March 2020: A 1 + 6 = 7, B 1, city 8 (the sum over Q1's months would be 18).
    "hazards_open_end": {(A, "2020-01", CON): 4, (A, "2020-02", CON): 1, (A, "2020-03", CON): 1,
                         (A, "2020-03", GAS): 6, (A, "2020-04", GAS): 1,
                         (B, "2020-02", CON): 5, (B, "2020-03", CON): 1, (B, "2020-04", GAS): 2},
    "joint_operations": {(A, "2020-02"): 1, (B, "2020-02"): 2, (B, "2020-05"): 1},
}


def make_cube(counties=(A, B)) -> xr.Dataset:
    counties = list(counties)
    month_index = {f"{m:%Y-%m}": i for i, m in enumerate(MONTHS)}
    data = {}
    for name, (over_time, by_sector) in VARIABLES.items():
        dims = ("adcode", "month", "sector") if by_sector else ("adcode", "month")
        values = np.zeros((len(counties), len(MONTHS), len(SECTORS))[: len(dims)], np.int64)
        for (adcode, month, *sector), n in CELLS[name].items():
            index = (counties.index(adcode), month_index[month]) + tuple(
                SECTORS.index(s) for s in sector)
            values[index] = n
        data[name] = (dims, values, {"over_time": over_time, "units": "1"})
    names = {A: "甲县", B: "乙县", C: "丙县"}
    return xr.Dataset(data, coords={
        "adcode": np.array(counties, dtype=object), "month": MONTHS.to_numpy(),
        "sector": np.array(SECTORS, dtype=object),
        "name_zh": ("adcode", np.array([names[c] for c in counties], dtype=object))})


@pytest.fixture(scope="module")
def cube() -> xr.Dataset:
    return make_cube()


def by_county(array: xr.DataArray) -> dict[str, float]:
    return {str(a): float(v) for a, v in zip(array["adcode"].values, array.values)}


# --------------------------------------------------------------------------------------------
# total


def test_total_sums_flows_over_months_sectors_and_counties(cube):
    assert ind.total(cube, "inspections", "2020-01-01", "2020-03-31") == 19
    assert isinstance(ind.total(cube, "inspections", "2020-01-01", "2020-03-31"), int)
    # The whole of 2020: only Q1 has inspections.
    assert ind.total(cube, "inspections", "2020-01-01", "2020-12-31") == 19


def test_total_selects_and_keeps(cube):
    q1 = ("2020-01-01", "2020-03-31")
    assert ind.total(cube, "inspections", *q1, adcode=A) == 15
    assert ind.total(cube, "inspections", *q1, adcode=B) == 4
    assert ind.total(cube, "inspections", *q1, adcode=[A, B]) == 19
    assert ind.total(cube, "inspections", *q1, adcode=A, sector=CON) == 10
    per_county = ind.total(cube, "inspections", *q1, by="adcode")
    assert per_county.dims == ("adcode",)
    assert by_county(per_county) == {A: 15, B: 4}
    assert list(per_county["name_zh"].values) == ["甲县", "乙县"]  # names come along
    per_sector = ind.total(cube, "inspections", *q1, by="sector")
    assert dict(zip(per_sector["sector"].values, per_sector.values.tolist())) == {CON: 14,
                                                                                 GAS: 5}
    # One selected county can still be kept as a dimension.
    assert ind.total(cube, "inspections", *q1, adcode=A, by="adcode").values.tolist() == [15]
    both = ind.total(cube, "inspections", *q1, by=("adcode", "sector"))
    assert both.dims == ("adcode", "sector")
    assert both.values.tolist() == [[10, 5], [4, 0]]


def test_total_of_a_stock_is_the_last_month(cube):
    q1 = ("2020-01-01", "2020-03-31")
    # End of March: A construction 1 + gas 6, B construction 1 — not the sum over months (18).
    assert ind.total(cube, "hazards_open_end", *q1) == 8
    assert by_county(ind.total(cube, "hazards_open_end", *q1, by="adcode")) == {A: 7, B: 1}
    # End of February: A 1, B 5.
    assert ind.total(cube, "hazards_open_end", "2020-01-01", "2020-02-29") == 6


def test_total_outside_the_cube_is_nan_not_zero(cube):
    assert math.isnan(ind.total(cube, "inspections", "2019-01-01", "2019-12-31"))
    assert math.isnan(ind.total(cube, "inspections", "2021-03-01", "2021-03-31"))
    outside = ind.total(cube, "inspections", "2019-01-01", "2019-12-31", by="adcode")
    assert outside.isnull().all() and outside.sizes["adcode"] == 2
    # A month in the cube with no records is a real 0.
    assert ind.total(cube, "inspections", "2020-06-01", "2020-06-30") == 0
    # A period running past the cube's end counts the months the cube has: Jan–Feb 2021.
    assert ind.total(cube, "inspections", "2021-01-01", "2021-12-31") == 19


def test_total_of_a_distinct_count_raises(cube):
    with pytest.raises(ValueError, match=r"distinct.*indicators\.enterprises_inspected"):
        ind.total(cube, "enterprises_inspected", "2020-01-01", "2020-03-31")
    # Even a single month over two sectors would double-count an enterprise.
    with pytest.raises(ValueError, match="enterprises_inspected"):
        ind.total(cube, "enterprises_inspected", "2020-01-01", "2020-01-31", adcode=A)


def test_total_of_a_variable_without_sector(cube):
    q1 = ("2020-01-01", "2020-03-31")
    assert ind.total(cube, "joint_operations", *q1) == 3
    assert by_county(ind.total(cube, "joint_operations", *q1, by="adcode")) == {A: 1, B: 2}
    with pytest.raises(ValueError, match="no sector"):
        ind.total(cube, "joint_operations", *q1, sector=CON)
    with pytest.raises(ValueError, match="cannot be kept by 'sector'"):
        ind.total(cube, "joint_operations", *q1, by="sector")


def test_total_rejects_unknown_names_and_codes(cube):
    with pytest.raises(ValueError, match="unknown cube variable"):
        ind.total(cube, "nonsense", "2020-01-01", "2020-03-31")
    with pytest.raises(ValueError, match="999999"):
        ind.total(cube, "inspections", "2020-01-01", "2020-03-31", adcode="999999")
    with pytest.raises(ValueError, match="mining"):
        ind.total(cube, "inspections", "2020-01-01", "2020-03-31", sector="mining")


# --------------------------------------------------------------------------------------------
# rectification_rate, share, county_vs_city


def test_rectification_rate_by_county_and_city(cube):
    q1 = ("2020-01-01", "2020-03-31")
    # A 3/10, B 4/5; the city is 7/15, not the mean of the counties' rates (0.55).
    assert by_county(ind.rectification_rate(cube, *q1)) == pytest.approx({A: 0.3, B: 0.8})
    assert ind.rectification_rate(cube, *q1, by=None) == pytest.approx(7 / 15)
    assert ind.rectification_rate(cube, *q1, by=None, adcode=B) == pytest.approx(0.8)


def test_rectification_rate_can_exceed_one_and_is_nan_without_hazards_found(cube):
    q2 = ("2020-04-01", "2020-06-30")
    rate = by_county(ind.rectification_rate(cube, *q2))
    assert math.isnan(rate[A])  # 5 rectified / 0 found: NaN, not inf, not 0
    assert rate[B] == pytest.approx(1.5)  # 3 / 2: earlier hazards cleared in Q2
    assert ind.rectification_rate(cube, *q2, by=None) == pytest.approx(4.0)  # 8 / 2
    assert math.isnan(ind.rectification_rate(cube, "2020-07-01", "2020-09-30", by=None))


def test_share_sums_to_one(cube):
    shares = ind.share(cube, "inspections", "2020-01-01", "2020-03-31")
    assert by_county(shares) == pytest.approx({A: 15 / 19, B: 4 / 19})
    assert float(shares.sum()) == pytest.approx(1.0)
    assert by_county(ind.share(cube, "inspections", "2020-01-01", "2020-03-31", sector=GAS)) \
        == pytest.approx({A: 1.0, B: 0.0})


def test_share_is_nan_when_the_city_total_is_zero(cube):
    shares = ind.share(cube, "inspections", "2020-07-01", "2020-09-30")
    assert shares.isnull().all()


def test_county_vs_city_for_a_rate(cube):
    frame = ind.county_vs_city(cube, "rectification_rate", "2020-01-01", "2020-03-31")
    assert list(frame.index) == [A, B]
    assert list(frame["name_zh"]) == ["甲县", "乙县"]
    assert frame["value"].tolist() == pytest.approx([0.3, 0.8])
    assert frame["city"].tolist() == pytest.approx([7 / 15, 7 / 15])
    # Percentage points: 30% − 46.67% = −16.67 pp; 80% − 46.67% = +33.33 pp.
    assert frame["difference"].tolist() == pytest.approx([-50 / 3, 100 / 3])
    assert frame["rank"].tolist() == [2, 1]
    assert frame.attrs["difference_unit"] == "percentage points"


def test_county_vs_city_leaves_a_county_without_value_unranked(cube):
    frame = ind.county_vs_city(cube, "rectification_rate", "2020-04-01", "2020-06-30")
    assert math.isnan(frame.loc[A, "value"]) and math.isnan(frame.loc[A, "difference"])
    assert frame.loc[A, "rank"] is pd.NA
    assert frame.loc[B, "rank"] == 1
    assert frame.loc[B, "difference"] == pytest.approx((1.5 - 4.0) * 100)


def test_county_vs_city_for_a_count_compares_with_the_mean_county(cube):
    frame = ind.county_vs_city(cube, "inspections", "2020-01-01", "2020-03-31")
    # City 19 over 2 counties = 9.5 per county.
    assert frame["value"].tolist() == [15, 4]
    assert frame["city"].tolist() == [9.5, 9.5]
    assert frame["difference"].tolist() == [5.5, -5.5]
    assert frame["rank"].tolist() == [1, 2]
    assert ind.county_vs_city(cube, "inspections", "2020-01-01", "2020-03-31",
                              ascending=True)["rank"].tolist() == [2, 1]


# --------------------------------------------------------------------------------------------
# change and describe_change


@pytest.mark.parametrize(("previous", "current", "min_base", "absolute", "relative"), [
    (0, 0, 5, 0, NAN),      # nothing to nothing: no percentage
    (0, 3, 5, 3, NAN),      # never +inf
    (1, 4, 5, 3, NAN),      # never +300%
    (4, 5, 5, 1, NAN),      # 4 is below the base of 5
    (4, 5, 4, 1, 0.25),     # … but not below a base of 4
    (5, 6, 5, 1, 0.2),      # the base itself is enough
    (10, 15, 5, 5, 0.5),
    (10, 5, 5, -5, -0.5),
    (NAN, 3, 5, NAN, NAN),  # missing previous: no change at all, not +3
    (0, 0, 0, 0, NAN),      # min_base 0 still never divides by zero
])
def test_change(previous, current, min_base, absolute, relative):
    result = ind.change(current, previous, min_base=min_base)
    assert result.current == current or math.isnan(current)
    assert result.absolute == pytest.approx(absolute, nan_ok=True)
    assert result.relative == pytest.approx(relative, nan_ok=True)


def test_change_on_arrays():
    result = ind.change(np.array([0, 3, 15, 5]), np.array([0, 0, 10, 10]))
    assert result.absolute.tolist() == [0, 3, 5, -5]
    assert result.relative == pytest.approx([NAN, NAN, 0.5, -0.5], nan_ok=True)
    current = xr.DataArray([4, 15], coords={"adcode": [A, B]})
    previous = xr.DataArray([1, 10], coords={"adcode": [A, B]})
    relative = ind.change(current, previous).relative
    assert isinstance(relative, xr.DataArray)
    assert relative.values == pytest.approx([NAN, 0.5], nan_ok=True)


@pytest.mark.parametrize(("previous", "current", "zh", "en"), [
    (8, 9, "↑12.5%", "↑12.5%"),
    (100, 97, "↓3.0%", "↓3.0%"),
    (10, 15, "↑50.0%", "↑50.0%"),
    (10, 5, "↓50.0%", "↓50.0%"),
    (0, 0, "持平", "unchanged"),
    (7, 7, "持平", "unchanged"),
    (0, 3, "+3（基数小）", "+3 (small base)"),
    (1, 4, "+3（基数小）", "+3 (small base)"),
    (4, 1, "-3（基数小）", "-3 (small base)"),
    (4, 5, "+1（基数小）", "+1 (small base)"),
    (NAN, NAN, "无可比数据", "n/a"),
    (NAN, 3, "无可比数据", "n/a"),
    (3, None, "无可比数据", "n/a"),
])
def test_describe_change(previous, current, zh, en):
    assert ind.describe_change(current, previous) == zh
    assert ind.describe_change(current, previous, lang="en") == en


def test_describe_change_with_another_base_and_bad_lang():
    assert ind.describe_change(5, 4, min_base=4) == "↑25.0%"
    assert ind.describe_change(2.5, 1, lang="en") == "+1.5 (small base)"
    with pytest.raises(ValueError, match="lang"):
        ind.describe_change(5, 4, lang="fr")


# --------------------------------------------------------------------------------------------
# year_over_year, month_over_month, year_to_date


def test_year_over_year_of_a_month(cube):
    jan = ("2021-01-01", "2021-01-31")
    city = ind.year_over_year(cube, "inspections", *jan)
    assert (city.current, city.previous, city.absolute) == (17, 10, 7)
    assert city.relative == pytest.approx(0.7)
    counties = ind.year_over_year(cube, "inspections", *jan, by="adcode")
    assert by_county(counties.relative)[A] == pytest.approx(0.5)  # 10 → 15
    assert math.isnan(by_county(counties.relative)[B])  # 0 → 2: small base
    assert by_county(counties.absolute) == {A: 5, B: 2}


def test_year_over_year_before_the_cube_is_nan_not_zero(cube):
    # 2019Q1 is before the cube's first month: unknown, not 0 (which would read as +inf).
    result = ind.year_over_year(cube, "inspections", "2020-01-01", "2020-03-31")
    assert result.current == 19
    assert math.isnan(result.previous)
    assert math.isnan(result.absolute) and math.isnan(result.relative)
    per_county = ind.year_over_year(cube, "inspections", "2020-01-01", "2020-03-31",
                                    by="adcode")
    assert by_county(per_county.current) == {A: 15, B: 4}
    assert per_county.previous.isnull().all()


def test_year_over_year_compares_the_same_months(cube):
    # The cube ends in February 2021, so "2021" is Jan–Feb 2021 against Jan–Feb 2020
    # (A 15 vs 10, B 4 vs 4, city 19 vs 14), not against the whole of 2020 (19).
    city = ind.year_over_year(cube, "inspections", "2021-01-01", "2021-12-31")
    assert (city.current, city.previous) == (19, 14)
    assert city.relative == pytest.approx(5 / 14)
    counties = ind.year_over_year(cube, "inspections", "2021-01-01", "2021-12-31", by="adcode")
    assert by_county(counties.previous) == {A: 10, B: 4}
    # B: 4 → 4 is below the base of 5, so no percentage — but it reads as unchanged.
    assert by_county(counties.relative) == pytest.approx({A: 0.5, B: NAN}, nan_ok=True)
    assert ind.describe_change(4, 4) == "持平"


def test_year_over_year_of_a_stock_and_outside_the_cube(cube):
    # Open at end of Jan 2021: 0; at end of Jan 2020: 4 (below the base of 5).
    result = ind.year_over_year(cube, "hazards_open_end", "2021-01-01", "2021-01-31")
    assert (result.current, result.previous, result.absolute) == (0, 4, -4)
    assert math.isnan(result.relative)
    outside = ind.year_over_year(cube, "inspections", "2022-01-01", "2022-12-31")
    assert all(math.isnan(v) for v in outside)


def test_month_over_month(cube):
    city = ind.month_over_month(cube, "inspections", "2021-02")
    assert (city.current, city.previous, city.absolute) == (2, 17, -15)
    assert city.relative == pytest.approx(-15 / 17)
    counties = ind.month_over_month(cube, "inspections", pd.Timestamp("2021-02-15"),
                                    by="adcode")
    # A 15 → 0 = −100%; B 2 → 2 has a base below 5: no percentage.
    assert by_county(counties.relative) == pytest.approx({A: -1.0, B: NAN}, nan_ok=True)
    assert by_county(counties.absolute) == {A: -15, B: 0}
    # A stock: end of March 8 against end of February 6 (base above 5).
    stock = ind.month_over_month(cube, "hazards_open_end", "2020-03")
    assert (stock.current, stock.previous) == (8, 6)
    assert stock.relative == pytest.approx(2 / 6)


def test_month_over_month_at_the_cube_edges(cube):
    first = ind.month_over_month(cube, "inspections", "2020-01")
    assert first.current == 10 and math.isnan(first.previous)  # December 2019 is unknown
    after = ind.month_over_month(cube, "inspections", "2021-03")
    assert math.isnan(after.current) and after.previous == 2


def test_year_to_date(cube):
    assert ind.year_to_date(cube, "inspections", "2021-02") == 19  # Jan 17 + Feb 2
    assert by_county(ind.year_to_date(cube, "inspections", "2021-02-28", by="adcode")) == {
        A: 15, B: 4}
    assert ind.year_to_date(cube, "inspections", "2020-02") == 14  # Jan 10 + Feb 4
    # A stock is its value at the month: open at end of February 2020, A 1 + B 5.
    assert ind.year_to_date(cube, "hazards_open_end", "2020-02") == 6
    assert ind.year_to_date(cube, "joint_operations", "2020-12", adcode=B) == 3


def test_year_to_date_outside_the_cube_is_nan(cube):
    assert math.isnan(ind.year_to_date(cube, "inspections", "2021-03"))
    assert math.isnan(ind.year_to_date(cube, "inspections", "2019-12"))
    # A cube that starts in March 2020: Jan–Mar 2020 is not all there, so no partial figure.
    later = make_cube().sel(month=slice("2020-03-01", None))
    assert math.isnan(ind.year_to_date(later, "inspections", "2020-03"))
    assert ind.year_to_date(later, "inspections", "2021-01") == 17


# --------------------------------------------------------------------------------------------
# From records


def inspections_frame() -> pd.DataFrame:
    rows = [
        ("2020-01-05", A, "E1"),
        ("2020-01-20", A, "E1"),   # E1 again: still one enterprise
        ("2020-02-10", A, "E2"),
        ("2020-02-11", B, "E2"),   # E2 in both counties
        ("2020-03-31", B, "E3"),   # the period's last day counts
        ("2020-03-15", B, None),   # unlicensed site: not an enterprise
        ("2020-04-01", B, "E4"),   # after Q1
        ("2019-12-31", A, "E5"),   # before Q1
    ]
    frame = pd.DataFrame(rows, columns=["date", "adcode", "enterprise_id"])
    return frame.assign(date=pd.to_datetime(frame["date"]))


@pytest.mark.parametrize("engine", ["pandas", "dask"])
def test_enterprises_inspected(engine):
    frame = inspections_frame()
    if engine == "dask":
        frame = dd.from_pandas(frame, npartitions=3)
    q1 = ("2020-01-01", "2020-03-31")
    counties = ind.enterprises_inspected(frame, *q1)
    assert counties.to_dict() == {A: 2, B: 2}  # A {E1, E2}, B {E2, E3}
    city = ind.enterprises_inspected(frame, *q1, by=None)
    assert city == 3  # {E1, E2, E3}: E2 counts once
    assert city < counties.sum()
    assert ind.enterprises_inspected(frame, "2020-04-01", "2020-04-30", by=None) == 1


def test_enterprises_inspected_reports_every_county_and_categoricals():
    frame = inspections_frame().astype({"adcode": "category"})
    counties = ind.enterprises_inspected(frame, "2020-01-01", "2020-01-31", adcodes=[A, B, C])
    assert counties.to_dict() == {A: 1, B: 0, C: 0}
    assert counties.index.name == "adcode" and counties.dtype == "int64"
    assert ind.enterprises_inspected(frame, "2021-01-01", "2021-12-31", by=None) == 0


def hazards_frame() -> pd.DataFrame:
    rows = [
        (A, "2020-01-01", "2020-01-11"),  # 10 days
        (A, "2019-12-20", "2020-02-19"),  # 61 days (31 + 30): found before Q1, counts
        (A, "2020-03-01", "2020-03-05"),  # 4 days
        (A, "2020-03-10", None),          # still open: not counted
        (B, "2020-02-01", "2020-02-04"),  # 3 days
        (B, "2020-03-20", "2020-04-02"),  # 13 days, rectified in Q2
    ]
    frame = pd.DataFrame(rows, columns=["adcode", "found_date", "rectified_date"])
    return frame.assign(found_date=pd.to_datetime(frame["found_date"]),
                        rectified_date=pd.to_datetime(frame["rectified_date"]))


@pytest.mark.parametrize("engine", ["pandas", "dask"])
def test_median_days_to_rectify(engine):
    frame = hazards_frame()
    if engine == "dask":
        frame = dd.from_pandas(frame, npartitions=2)
    q1, q2 = ("2020-01-01", "2020-03-31"), ("2020-04-01", "2020-06-30")
    assert ind.median_days_to_rectify(frame, *q1).to_dict() == {A: 10.0, B: 3.0}
    assert ind.median_days_to_rectify(frame, *q1, by=None) == 7.0  # median of 3, 4, 10, 61
    q2_counties = ind.median_days_to_rectify(frame, *q2, adcodes=[A, B])
    assert math.isnan(q2_counties[A]) and q2_counties[B] == 13.0
    assert math.isnan(ind.median_days_to_rectify(frame, "2020-07-01", "2020-09-30", by=None))


# --------------------------------------------------------------------------------------------
# Time to rectification with censoring (Kaplan–Meier)


def test_still_open_counts_open_hazards_as_censored_not_as_rectified():
    # Five hazards found on 1 January, looked at on the 10th: rectified after 1, 2 and 4
    # days; one still open (watched 9 days); one rectified on the 20th, i.e. still open on
    # the 10th (watched 9 days).
    hazards = pd.DataFrame({
        "found_date": pd.to_datetime(["2020-01-01"] * 5 + ["2020-02-01"]),
        "rectified_date": pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-05", None,
                                          "2020-01-20", "2020-02-02"])})
    curve = ind.still_open(hazards, "2020-01-01", "2020-01-31", "2020-01-10",
                                  days=12)["all"]
    # Day 1: 1 of 5 at risk rectified → 4/5; day 2: 1 of 4 → 3/5; day 4: 1 of 3 → 2/5; the
    # two censored on day 9 change nothing; after day 9 nothing is known.
    expected = [1.0, 0.8, 0.6, 0.6, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]
    assert curve.iloc[:10].tolist() == pytest.approx(expected)
    assert curve.iloc[10:].isna().all()
    assert ind.median_days_open(curve) == 4.0
    # The naive median of the rectified ones (2 days) would understate it.


def test_still_open_by_group_and_when_more_than_half_stay_open():
    hazards = pd.DataFrame({
        "sector": ["gas", "gas", "fire", "fire", "fire"],
        "found_date": pd.to_datetime(["2020-01-01"] * 5),
        "rectified_date": pd.to_datetime(["2020-01-01", "2020-01-04", None, None,
                                          "2020-01-03"])})
    curves = ind.still_open(hazards, "2020-01-01", "2020-01-01", "2020-01-05",
                                   by="sector", days=5)
    assert list(curves.columns) == ["fire", "gas"]
    # gas: rectified the same day (day 0: 1 of 2) and on day 3 (the other) → 0.5, then 0.
    assert curves["gas"].tolist()[:4] == pytest.approx([0.5, 0.5, 0.5, 0.0])
    # fire: one of three rectified on day 2, two open at day 4 → 2/3 stays above a half.
    assert curves["fire"].tolist() == pytest.approx([1, 1, 2 / 3, 2 / 3, 2 / 3, float("nan")],
                                                    nan_ok=True)
    assert ind.median_days_open(curves["gas"]) == 0.0
    assert np.isnan(ind.median_days_open(curves["fire"]))

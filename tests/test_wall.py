"""The wall screen (指挥大屏): its programme taken from a link (and only what is allowed), its
views built once and cycled, its live view following new readings, its other views rebuilt
when the store changes (the browser tests draw it at 1920×1080 and 3840×2160)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from bokeh.document import Document

from safetyviz.security.access import LOCAL
from safetyviz.web.wall import WallState

VIEWS = ["overview", "monitoring", "enforcement", "riskmap"]


def test_a_link_sets_the_views_their_seconds_and_the_type_size():
    state = WallState(VIEWS)
    assert state.views == VIEWS and state.seconds == 30 and state.current == "overview"
    assert state.apply_query({"views": "monitoring, riskmap", "seconds": "12", "scale": "2",
                              "lang": "en"}) == []
    assert state.views == ["monitoring", "riskmap"] and state.seconds == 12
    assert state.scale == "2" and state.lang == "en"
    assert state.query() == {"views": "monitoring,riskmap", "seconds": "12", "scale": "2",
                             "lang": "en"}


@pytest.mark.parametrize("key, value", [
    ("views", ""), ("views", "overview,overview"), ("views", "overview,admin"),
    ("views", "<script>"), ("views", ",".join(VIEWS * 2)), ("seconds", "0"),
    ("seconds", "4"), ("seconds", "3601"), ("seconds", "1e3"), ("seconds", "-5"),
    ("seconds", "30.5"), ("scale", "10"), ("scale", "2; drop"), ("lang", "fr")])
def test_a_forged_value_is_refused_and_the_programme_stays(key, value):
    state = WallState(VIEWS)
    assert state.apply_query({key: value}) == [key]
    assert state.views == VIEWS and state.seconds == 30 and state.scale == "1"
    assert state.lang == "zh"


def test_the_screen_moves_on_in_turn_and_back_to_the_first():
    state = WallState(VIEWS)
    state.apply_query({"views": "riskmap,overview,monitoring"})
    assert [state.advance() for _ in range(4)] == ["overview", "monitoring", "riskmap",
                                                   "overview"]
    assert state.cycles == 4
    with pytest.raises(ValueError):
        WallState([])


@pytest.fixture(scope="module")
def wall_dir(demo_dir, tmp_path_factory):
    """A private copy of the demo data (the tests append readings and rebuild the cube)."""
    data_dir = tmp_path_factory.mktemp("wall") / "data"
    shutil.copytree(demo_dir, data_dir, symlinks=True)
    return data_dir


def built_wall(data_dir, **query):
    """A wall over ``data_dir`` drawn into a document, as a session would draw it."""
    import panel as pn

    from safetyviz.web.components.wall import FONT_SCALE, Wall, WallData

    state = WallState(VIEWS)
    assert state.apply_query(query) == []
    data = WallData(path=str(data_dir / "catalog.yaml"), access=LOCAL, lang=state.lang,
                    fontscale=FONT_SCALE)
    wall = Wall(state=state, data=data, area="许昌市")
    pn.panel(wall).get_root(Document())
    return wall


def test_the_wall_shows_one_view_at_a_time_and_names_it(wall_dir):
    wall = built_wall(wall_dir, views="overview,monitoring,riskmap")
    assert list(wall.views) == ["overview", "monitoring", "riskmap"]
    shown = lambda: [slug for slug, v in wall.views.items() if v.layout.visible]  # noqa: E731
    assert shown() == ["overview"]
    assert "许昌市 安全生产监管指挥大屏 · " in wall.header.object
    assert '<span class="view">总览</span>' in wall.header.object
    wall.advance()
    assert shown() == ["monitoring"]
    assert '<span class="on">重大危险源监测预警</span>' in wall.header.object
    wall.advance()
    wall.advance()
    assert shown() == ["overview"]
    # the latest complete quarter's figures, compared with the same quarter a year earlier
    overview = wall.views["overview"].layout.objects[0].object
    assert "全市 · 2021年第四季度" in overview and "同比" in overview
    # the risk map's cards: the four levels in their own colours, and only there
    risk = wall.views["riskmap"].layout.objects[0].object
    assert risk.count("border-left-color:") == 4 and "#e74c3c" in risk
    wall.tick()
    assert "数据截至 2021-12-31" in wall.clock.object


def test_the_live_view_follows_new_readings_and_the_others_a_new_store(wall_dir):
    from safetyviz import cli
    from safetyviz.data import readings

    wall = built_wall(wall_dir, views="monitoring,overview")
    monitoring = wall.views["monitoring"]
    assert 'data-kpi="alarms_high"><div class="label">一级报警（24小时）</div>' \
           '<div class="value">1</div>' in monitoring.cards.object
    stored = readings.open_readings(wall_dir)["value"]
    minutes = pd.date_range("2020-04-01 00:00", periods=10, freq="1min")
    block = xr.DataArray(np.tile(stored.isel(time=-1).values[:, None], (1, 10)),
                         dims=("sensor", "time"),
                         coords={"sensor": stored["sensor"].values, "time": minutes})
    block[list(stored["sensor"].values).index("MHS0001-G01"), 2:7] = 60.0
    readings.append_readings(wall_dir, block)
    wall.refresh_readings()
    cards = monitoring.cards.object
    assert "监测数据截至 2020-04-01 00:09" in cards
    assert 'data-kpi="alarms_high_high"><div class="label">二级报警（24小时）</div>' \
           '<div class="value">1</div>' in cards
    assert "二级" in monitoring.alarms.object and "MHS0001" not in monitoring.alarms.object
    assert monitoring.state.sensor == "MHS0001-G01"  # the curve shows the latest alarm's
    # the store unchanged: nothing rebuilt; a new cube: the overview is built again
    overview = wall.views["overview"]
    before = overview.layout.objects[0]
    wall.refresh_store()
    assert overview.layout.objects[0] is before
    assert cli.main(["cube", "--data-dir", str(wall_dir), "--full"]) == 0
    wall.refresh_store()
    assert overview.layout.objects[0] is not before

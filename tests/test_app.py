"""The overview: state logic, the Panel app's model, and a loopback `panel serve` smoke test."""

from __future__ import annotations

import contextlib
import re
import warnings

import pytest
import requests

from safetyviz.data import catalog
from safetyviz.data.loading import load_cube
from safetyviz.web.pages import PAGES
from safetyviz.web.state import OverviewState


@pytest.fixture(scope="module")
def demo_cube(demo_dir):
    return load_cube(catalog.open_catalog(demo_dir / "catalog.yaml"))


def test_state_values_follow_the_selection(demo_cube):
    state = OverviewState(demo_cube, period="2020Q1", metric="inspections")
    values = state.county_values()
    assert values.sel(adcode="411002").item() == 709
    assert values.sum().item() == 7967
    state.metric = "fines_yuan"
    assert state.county_values().sel(adcode="411002").item() == 85000
    state.metric, state.county = "inspections", "411002"
    monthly = state.monthly()
    assert monthly.sel(month=slice("2020-01", "2020-03")).sum().item() == 709
    assert state.county_name() == "魏都区"
    state.county = state.city
    assert state.county_name() == "全市"
    assert state.monthly().sel(month=slice("2020-01", "2020-03")).sum().item() == 7967


def test_state_rejects_values_outside_the_cube(demo_cube):
    state = OverviewState(demo_cube)
    assert state.period == "2021Q4"  # the latest complete quarter by default
    for name, value in (("county", "110101"), ("period", "1999Q1"), ("metric", "__class__"),
                        ("metric", "enterprises_inspected")):
        with pytest.raises(ValueError):
            setattr(state, name, value)


def test_headline_cards_of_a_period_with_honest_changes(demo_cube):
    state = OverviewState(demo_cube, period="2020Q1")
    cards = {c["name"]: c for c in state.kpis()}
    assert list(cards) == ["inspections", "hazards_found", "rectification_rate", "fines_yuan",
                           "closures", "accidents", "deaths"]
    assert cards["inspections"]["value"] == "7,967家次"  # the bulletin's figure
    assert cards["inspections"]["raw"] == 7967
    # Rectified 8,826 (bulletin) of 9,786 found in the quarter.
    assert cards["rectification_rate"]["raw"] == pytest.approx(8826 / 9786)
    assert cards["rectification_rate"]["value"] == "90.2%"
    assert cards["accidents"]["change"].startswith("↓")  # fewer than Q1 2019 (bulletin)
    state.param.update(county="411002", lang="en")
    cards = {c["name"]: c for c in state.kpis()}
    assert cards["inspections"]["value"] == "709" and cards["fines_yuan"]["value"] == \
        "85,000 yuan"
    # 1 accident after 0 a year before: the absolute change, never +inf %.
    assert cards["accidents"]["value"] == "1" and cards["accidents"]["change"] == \
        "+1 (small base)"


def test_sector_breakdown_and_last_year_overlay(demo_cube):
    import holoviews as hv

    from safetyviz.web.views import monthly_series, sector_breakdown

    hv.extension("bokeh", logo=False)  # options need a plotting extension
    state = OverviewState(demo_cube, period="2020Q1")
    assert state.sector_values().sum() == 7967
    state.county = "411002"
    assert state.sector_values().sum() == 709
    bars = sector_breakdown(state.sector_values(), label="检查家次", units="家次")
    assert bars.data["value"].sum() == 709 and (bars.data["value"] > 0).all()
    state.metric = "joint_operations"  # no sectors: nothing to break down
    assert state.sector_values().empty
    state.metric = "inspections"
    series = state.monthly()
    overlay = monthly_series(series, label="检查家次", units="家次")
    last_year = overlay.get(0).data.set_index("month")["value"]
    # Drawn at March 2020: the value of March 2019.
    assert last_year.loc["2020-03-01"] == series.sel(month="2019-03-01").item()


def test_the_enforcement_state_shows_fines_whatever_the_url_asks(demo_cube):
    from safetyviz.web.components.enforcement import EnforcementState

    state = EnforcementState(demo_cube, period="2020Q1")
    assert state.apply_query({"metric": "deaths", "county": "411024"}) == ["metric"]
    assert state.metric == "fines_yuan" and state.scope == "411024"
    state.county = state.city
    cards = {c["name"]: c for c in state.kpis()}
    assert list(cards) == ["fines_yuan", "penalty_cases", "closures", "detentions",
                           "joint_operations"]
    assert cards["fines_yuan"]["value"] == "247.5万元"
    # the city's records are those of its counties: never more than the cube's
    assert state.scope == ("411002", "411003", "411024", "411025", "411081", "411082")


def test_a_custom_period_is_a_range_of_whole_months(demo_cube):
    state = OverviewState(demo_cube)
    assert state.month_range("2019-10", "2020-04") == "2019-10-01/2020-04-30"
    assert state.month_range("2020-04", "2019-10") is None  # backwards
    assert state.month_range("1999-01", "2020-01") is None  # outside the cube
    # From a URL: whole months only (the cube cannot split April).
    assert state.apply_query({"period": "2019-10-01/2020-04-20"}) == ["period"]
    assert state.apply_query({"period": "2020-01-01/2020-03-31", "county": "411002"}) == []
    assert state.county_values().sel(adcode="411002").item() == 709  # = 2020Q1


def test_two_months_picked_on_the_page_become_the_period(demo_dir):
    from safetyviz.web.components.overview import create_overview_app

    app = create_overview_app(str(demo_dir / "catalog.yaml"))
    app.range_from.value, app.range_to.value = "2020-01", "2020-03"
    assert app.state.period == "2020-01-01/2020-03-31" == app.period_select.value
    assert app.state.county_values().sum().item() == 7967  # the bulletin's quarter
    app.range_from.value = "2020-06"  # after the end month: nothing changes
    assert app.state.period == "2020-01-01/2020-03-31"


def test_a_url_query_is_applied_only_where_its_values_are_allowed(demo_cube):
    state = OverviewState(demo_cube)
    before = state.query()
    ignored = state.apply_query({"county": "<script>alert(1)</script>", "period": "1999",
                                 "metric": "__class__", "lang": "fr"})
    assert sorted(ignored) == ["county", "lang", "metric", "period"] and state.query() == before
    # Numbers as a URL parser returns them (411002, not "411002") are taken as codes.
    assert state.apply_query({"county": 411002, "period": "2020Q1", "lang": "en"}) == []
    assert state.query() == {"metric": "inspections", "period": "2020Q1", "county": "411002",
                             "lang": "en"}


def test_numbers_and_labels_follow_the_language():
    from safetyviz.core.i18n import format_number, format_points, metric_label, with_units

    assert format_number(85000) == "85,000" and format_number(2475000) == "247.5万"
    assert format_number(450_000_000) == "4.50亿" and format_number(float("nan")) == "—"
    assert format_number(2475000, "en") == "2.48M" and format_number(123456, "en") == "123.5K"
    assert with_units("709", "家次") == "709家次" and with_units("85,000", "yuan", "en") == \
        "85,000 yuan"
    assert format_points(0.021) == "↑2.1个百分点" and format_points(-0.07, "en") == "↓7.0 pp"
    assert metric_label("fines_yuan") == "罚款金额" and metric_label("fines_yuan", "en") == "Fines"


def test_overview_app_builds_and_a_map_click_selects_a_county(demo_dir, monkeypatch):
    import panel as pn

    from safetyviz.web.components.overview import OverviewDashboard, create_overview_app

    app = create_overview_app(str(demo_dir / "catalog.yaml"))
    assert isinstance(app, OverviewDashboard)
    root = pn.panel(app).get_root()
    assert root is not None
    app._on_tap([4])
    assert app.state.county == "411081"
    app._on_tap([])
    assert app.state.county == app.state.city
    app.state.param.update(metric="inspections", period="2020Q1", county="411081")
    polygons = app._map()
    assert len(polygons.data) == 6
    weidu = polygons.data.set_index("adcode").loc["411002"]
    assert weidu["value"] == 709 and weidu["name"] == "魏都区"


def test_overview_app_without_data_says_so(tmp_path):
    import panel as pn

    from safetyviz.web.components.overview import create_overview_app

    app = create_overview_app(str(tmp_path / "missing.yaml"))
    assert isinstance(app, pn.pane.Alert) and "catalog not found" in app.object


def test_a_served_page_without_data_names_an_incident_not_the_path(tmp_path, caplog):
    from types import SimpleNamespace

    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from safetyviz.core.errors import UserError
    from safetyviz.web.components.page import unavailable

    document = Document()
    context = SimpleNamespace(request=SimpleNamespace(arguments={}), id="s", token=None)
    document._session_context = lambda: context  # (a weak reference) as when served
    error = UserError(f"{tmp_path / 'missing.yaml'}: catalog not found")
    with set_curdoc(document), caplog.at_level("ERROR", logger="safetyviz.web.pages"):
        alert = unavailable(error)
    assert "数据不可用" in alert.object and "incident" in alert.object
    assert str(tmp_path) not in alert.object and "catalog" not in alert.object
    incident = alert.object.split("incident ")[1].rstrip(")")
    assert any(incident in r.message and str(tmp_path) in r.message for r in caplog.records)


def test_a_wrapping_row_is_never_as_wide_as_all_its_items():
    """Four 300 px selectors side by side fit a 390 px phone only by wrapping: the row's
    model may not be given their 1,200 px as its least width (Panel does so for a row that
    stretches)."""
    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from safetyviz.web.components.page import wrapping

    with set_curdoc(Document()):
        selects = [pn.widgets.Select(options=["a", "b"], width=300) for _ in range(4)]
        row = wrapping(*selects).get_root()
        stretching = pn.Row(*selects, sizing_mode="stretch_width").get_root()
    assert stretching.min_width == 1200  # (what would not wrap)
    assert row.min_width is None and row.styles["flex-wrap"] == "wrap"


def test_what_is_below_the_fold_is_built_once_the_browser_scrolls_to_it():
    """Served, :func:`when_seen` gives a spot and builds nothing until the browser says the
    spot is in view — then once, whatever the browser sends after; a forged value that is no
    yes or no is refused. Outside a server (a notebook) it builds at once."""
    from types import SimpleNamespace

    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from safetyviz.web.components.page import WhenSeen, when_seen

    built: list[int] = []
    with set_curdoc(Document()):
        assert when_seen(lambda: built.append(1), height=500) is None
    assert built == [1]

    built.clear()
    document = Document()
    context = SimpleNamespace(request=SimpleNamespace(arguments={}), id="s", token=None)
    document._session_context = lambda: context  # (a weak reference) as when served
    with set_curdoc(document):
        spot = when_seen(lambda: built.append(1), height=500)
    assert isinstance(spot, WhenSeen) and spot.height == 500 and built == []
    assert spot.loading  # a spinner until then
    with pytest.raises(ValueError):
        spot.seen = "yes"
    assert built == []
    spot.seen = True
    assert built == [1] and not spot.loading  # (no spinner left in the browser's models)
    spot.seen = False  # a browser sending it again builds nothing twice
    spot.seen = True
    assert built == [1]


def test_panel_serve_smoke_serves_the_page_with_local_resources_only(served_overview):
    url = served_overview
    page = requests.get(url, timeout=30)
    assert page.status_code == 200
    page.encoding = "utf-8"
    assert "安全生产监管 · 总览" in page.text
    origin = url.rsplit("/", 1)[0]
    external = {u for u in re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", page.text)
                if not u.startswith(origin)}
    assert external == set()
    scripts = re.findall(r"""src=["']([^"']+\.js[^"']*)""", page.text)
    assert scripts, "no scripts on the page"
    for script in scripts[:3]:
        assert requests.get(requests.compat.urljoin(url, script), timeout=30).status_code == 200


def test_a_new_session_sees_a_rebuilt_cube(demo_dir, tmp_path):
    import shutil

    from safetyviz.analysis import cube as cube_module
    from safetyviz.web.components.overview import create_overview_app

    data_dir = tmp_path / "demo"
    shutil.copytree(demo_dir, data_dir, symlinks=True)
    path = str(data_dir / "catalog.yaml")
    before = create_overview_app(path).state.cube
    changed = before.copy(deep=True)
    changed["inspections"].values[:] += 1
    cube_module.write_cube(changed, data_dir)
    after = create_overview_app(path).state.cube
    assert (after["inspections"] - before["inspections"]).min().item() == 1


def test_the_index_of_the_dashboards_is_offline_and_bilingual():
    from safetyviz.web.components.index import index_html

    page = index_html()  # every registered page, in the registry's order
    assert re.findall(r'<a href="\./([a-z_0-9]+)">', page) == list(PAGES)
    assert 'href="./overview">总览<span>Overview</span>' in page
    assert not re.findall(r"""(?:src|href)=["']https?://""", page)
    assert 'href="./logout"' not in page and 'href="./logout"' in index_html(logout=True)


def test_safetyviz_serve_has_an_offline_landing_page(demo_dir):
    import subprocess
    import sys
    import time

    from conftest import PROJECT, free_port, get_page

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "safetyviz.cli", "serve", "--port",
                               str(port), "--data-dir", str(demo_dir), "--warm-seconds", "2"],
                              cwd=PROJECT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 90
        while True:
            try:
                root = requests.get(f"http://127.0.0.1:{port}/", timeout=30)
                break
            except requests.ConnectionError:
                assert server.poll() is None and time.time() < deadline
                time.sleep(0.5)
        root.encoding = "utf-8"  # the landing page (its links: tests/test_browser.py)
        assert root.status_code == 200 and "安全生产监管 · 首页" in root.text
        assert not re.findall(r"""(?:src|href)=["']https?://""", root.text)
        county = get_page(f"http://127.0.0.1:{port}/county")
        assert county.status_code == 200 and "县区画像" in county.text
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_each_plot_gets_its_own_tick_formatter(demo_cube):
    # A Bokeh model belongs to one document: a formatter shared between sessions rendered
    # every tick of the later sessions as "undefined".
    import holoviews as hv

    from safetyviz.web.views import monthly_series

    hv.extension("bokeh", logo=False)
    series = OverviewState(demo_cube).monthly()
    first, second = (hv.render(monthly_series(series, label="检查家次", units="家次"))
                     for _ in range(2))
    assert first.yaxis[0].formatter is not second.yaxis[0].formatter


def test_a_new_metric_period_or_county_recolours_the_drawn_map_without_its_shapes(demo_dir):
    import panel as pn
    from bokeh.document import Document
    from bokeh.document.events import ColumnDataChangedEvent, ModelChangedEvent
    from bokeh.models import ColorMapper, GlyphRenderer, HoverTool

    from safetyviz.web.components.overview import create_overview_app

    app = create_overview_app(str(demo_dir / "catalog.yaml"))
    doc = Document()
    doc.add_root(pn.panel(app).get_root(doc))
    drawn = app.map.copy
    source = next(r.data_source for r in drawn.renderers if isinstance(r, GlyphRenderer))
    shapes = source.data["xs"]
    sent = []
    doc.on_change(lambda event: sent.append(event))

    app.state.param.update(metric="fines_yuan", period="2020Q1")
    weidu = list(source.data["adcode"]).index("411002")
    assert source.data["value"][weidu] == 85_000
    assert source.data["text"][weidu] == "85,000元"
    assert drawn.select_one({"type": ColorMapper}).high == max(source.data["value"])
    assert drawn.title.text == "2020年第一季度 各县（市、区）罚款金额"
    assert "罚款金额" in dict(drawn.select_one({"type": HoverTool}).tooltips)
    columns = {c for e in sent if isinstance(e, ColumnDataChangedEvent) for c in e.cols or []}
    assert columns and not columns & {"xs", "ys"}
    assert not [e for e in sent if isinstance(e, ModelChangedEvent) and e.attr == "data"]
    assert source.data["xs"] is shapes

    app.state.county = "411002"
    assert list(source.data["line"]).count(3.0) == 1 and source.data["line"][weidu] == 3.0

    app.state.lang = "en"  # a new language: the same models, the values of the moment
    assert app.map.copy is drawn and source.data["xs"] is shapes
    assert source.data["text"][weidu] == "85,000 yuan"
    assert source.data["name"][weidu] == "Weidu District"

    other = next(i for i, a in enumerate(source.data["adcode"]) if a != "411002")
    source.selected.indices = [other]  # another county tapped in the browser
    assert app.state.county == source.data["adcode"][other]
    source.selected.indices = [len(shapes) + 5]  # a forged index: as a tap beside the map
    assert app.state.county == app.state.city
    values = list(source.data["value"])
    with contextlib.suppress(ValueError), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (Bokeh refuses to patch a read-only array)
        source.patch({"value": [(0, -1.0)]})  # a forged patch of values all sessions share
    drawing = next(r.data_source for r in app.map._shown.renderers
                   if isinstance(r, GlyphRenderer))
    assert list(source.data["value"]) == values == list(drawing.data["value"])


def test_a_recoloured_map_shows_what_a_map_drawn_for_its_selection_would(demo_dir):
    import panel as pn
    from bokeh.document import Document
    from bokeh.models import ColorBar, ColorMapper, GlyphRenderer, HoverTool

    from safetyviz.web.components.inplace import drawn
    from safetyviz.web.components.overview import create_overview_app

    def shown(figure) -> dict:
        renderer = next(r for r in figure.renderers if isinstance(r, GlyphRenderer))
        data = renderer.data_source.data
        widths = renderer.glyph.line_width  # a column, or one width for every county
        return {"title": figure.title.text,
                "columns": {k: list(data[k]) for k in ("adcode", "value", "name", "text")},
                "widths": list(data[widths.field]) if hasattr(widths, "field") else [
                    widths] * len(data["adcode"]),
                "range": [(m.low, m.high) for m in figure.select({"type": ColorMapper})],
                "bar": [b.title for b in figure.select({"type": ColorBar})],
                "hover": [h.tooltips for h in figure.select({"type": HoverTool})]}

    app = create_overview_app(str(demo_dir / "catalog.yaml"))
    Document().add_root(pn.panel(app).get_root(Document()))
    for change in ({"metric": "fines_yuan", "period": "2020Q1"}, {"county": "411002"},
                   {"lang": "en"}, {"county": app.state.city, "metric": "closures"}):
        app.state.param.update(**change)
        assert shown(app.map.copy) == shown(drawn(app._map()))
    assert app.map.copy.title.text.startswith("Closures and seizures by county")


def test_sessions_on_one_cube_share_drawings_and_each_shows_its_own_copy(demo_dir):
    import panel as pn
    from bokeh.document import Document

    from safetyviz.web.components.overview import create_overview_app

    apps = [create_overview_app(str(demo_dir / "catalog.yaml")) for _ in range(2)]
    for app in apps:
        Document().add_root(pn.panel(app).get_root(Document()))
    first, second = apps
    for plot in ("map", "ranking", "series", "sectors"):
        one, other = getattr(first, plot), getattr(second, plot)
        assert one._shown is other._shown  # drawn once …
        assert one.copy is not other.copy  # … shown in copies (a model has one document)
        assert not {m.id for m in one.copy.references()} & {
            m.id for m in other.copy.references()}
    second.state.period = "2020Q1"
    assert first.series._shown is not second.series._shown


def test_the_ranking_of_many_counties_shows_the_first_and_the_selected_one():
    import pandas as pd

    from safetyviz.web.views import county_ranking

    values = pd.Series({"a": 5.0, "b": 9.0, "c": 1.0, "d": 7.0})
    bars = county_ranking(values, {"a": "甲"}, label="检查", units="家次", selected="c", top=2)
    assert list(bars.data["county"]) == ["c", "d", "b"]  # bottom to top
    assert list(bars.data["rank"]) == ["4 / 4", "2 / 4", "1 / 4"]
    assert list(county_ranking(values, {}, label="x", units="", top=9).data["county"]) == [
        "c", "a", "d", "b"]


def test_charts_offer_hover_and_a_png_and_the_map_also_pan_and_zoom(demo_cube, demo_catalog):
    """No pan or zoom on a chart (on a phone a drag tool takes the finger that scrolls the
    page); the map keeps them."""
    import holoviews as hv
    import pandas as pd

    from safetyviz.data.loading import load_regions
    from safetyviz.web.views import choropleth, county_ranking, monthly_series

    hv.extension("bokeh", logo=False)
    values = pd.Series({"411002": 5.0, "411003": 9.0})
    inspections = demo_cube["inspections"]
    series = inspections.sum([d for d in inspections.dims if d != "month"])

    def tools(element):
        return sorted(type(t).__name__ for t in hv.render(element).tools)
    assert tools(county_ranking(values, {}, label="检查", units="家次")) == [
        "HoverTool", "SaveTool"]
    assert tools(monthly_series(series, label="检查", units="家次")) == ["HoverTool",
                                                                        "SaveTool"]
    regions = load_regions(demo_catalog)
    drawn = tools(choropleth(regions, values, label="检查", units="家次"))
    assert drawn == ["HoverTool", "PanTool", "ResetTool", "SaveTool", "TapTool",
                     "WheelZoomTool"]


def test_headline_figures_are_computed_once_per_cube_and_selection(demo_cube, monkeypatch):
    import gc

    from safetyviz.web import state as state_module

    calls = []
    compute = OverviewState._compute_headline_figures
    monkeypatch.setattr(OverviewState, "_compute_headline_figures",
                        lambda self: calls.append((self.period, self.county)) or compute(self))
    cube = demo_cube.copy()  # a cube object of its own: nothing kept for it yet
    first = OverviewState(cube, period="2020Q1")
    second = OverviewState(cube, period="2020Q1", lang="en")
    assert first.kpis()[0]["value"] == "7,967家次" and second.kpis()[0]["value"] == "7,967"
    assert calls == [("2020Q1", "411000")]  # the second session used the first one's
    second.county = "411002"
    assert second.kpis()[0]["raw"] == 709 and len(calls) == 2
    kept = state_module.HEADLINE_FIGURES._by_cube
    key = id(cube)
    assert key in kept
    del first, second, cube
    gc.collect()
    assert key not in kept  # gone with its cube (other tests' cubes may go at the same time)


def test_sessions_share_the_parsed_catalog_until_the_file_changes(demo_dir, tmp_path):
    import os
    import shutil

    from safetyviz.web.components.page import shared_catalog

    path = tmp_path / "catalog.yaml"
    shutil.copy(demo_dir / "catalog.yaml", path)
    assert shared_catalog(str(path)) is shared_catalog(str(path))
    first = shared_catalog(str(path))
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    os.utime(path, ns=(1, 1))
    assert shared_catalog(str(path)) is not first
    with pytest.raises(Exception, match="catalog not found"):
        shared_catalog(str(tmp_path / "missing.yaml"))


def test_a_sector_chart_first_drawn_with_nothing_can_then_show_bars():
    # An empty Bars drawn first broke every later update (a county without deaths in the
    # period of a shared link, then another period).
    import holoviews as hv
    import pandas as pd
    import panel as pn
    from bokeh.document import Document

    from safetyviz.web.views import sector_breakdown

    hv.extension("bokeh", logo=False)
    frames = [pd.Series({"gas": 0.0, "fire_safety": 0.0}), pd.Series(dtype=float),
              pd.Series({"gas": 4.0, "fire_safety": 1.0, "forestry": 0.0})]
    step = hv.streams.Stream.define("Step", n=0)()
    chart = hv.DynamicMap(lambda n: sector_breakdown(frames[n], label="死亡", units="人"),
                          streams=[step])
    Document().add_root(pn.pane.HoloViews(chart).get_root())
    nothing = sector_breakdown(frames[0], label="死亡", units="人")
    assert len(nothing.data) == 11 and nothing.data.set_index("sector")["value"].to_dict()[
        "城镇燃气"] == 0
    assert sector_breakdown(frames[1], label="x", units="").data["value"].isna().all()
    step.event(n=1)
    step.event(n=2)
    assert list(chart.last.data["sector"]) == ["消防", "城镇燃气"]


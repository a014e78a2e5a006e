"""Plots drawn once for every session and updated in place (:mod:`web.components.inplace`),
and changes applied with the document walked at most once (:func:`page.settled_once`): a
session shows a copy of the shared drawing; a new selection sends data and text into the
copy's models, which then equal a copy of the new selection's drawing."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
import pytest
import xarray as xr
from bokeh.core.serialization import Serializer
from bokeh.document import Document
from bokeh.models import Axis, CategoricalColorMapper, ColumnDataSource, GlyphRenderer, Grid

from safetyviz.web.components.inplace import carry_over, copied, drawn, paired_copy
from safetyviz.web.views import choropleth, county_ranking, monthly_series, sector_breakdown

hv.extension("bokeh", logo=False)

NAMES = {"411002": "魏都区", "411003": "建安区", "411024": "鄢陵县"}


def series(values, start="2019-01-01") -> xr.DataArray:
    months = pd.date_range(start, periods=len(values), freq="MS")
    return xr.DataArray(np.asarray(values, float), coords={"month": months}, dims="month")


def shown(root) -> str:
    """What a browser shows of ``root``: its JSON with every property (a value set to its
    default is one left unset), the models numbered in the order they appear (ids differ
    between copies) and binary buffers by name."""
    from bokeh.core.has_props import HasProps
    from bokeh.settings import settings

    from safetyviz.web import bokeh_speed

    # Bokeh's faster paths, if a page made earlier in this process installed them, read the
    # setting when installed: installed again around it (else defaults are left out)
    fast = HasProps.query_properties_with_values is bokeh_speed._set_properties
    settings.serialize_include_defaults.set_value(True)
    bokeh_speed.faster_bokeh(fast)
    try:
        text = json.dumps(Serializer().encode(root), sort_keys=True, default=repr)
    finally:
        settings.serialize_include_defaults.unset_value()
        bokeh_speed.faster_bokeh(fast)
    text = re.sub(r"Buffer\(id='[^']*', data=<memory at 0x[0-9a-f]+>\)", "Buffer", text)
    ids: dict[str, str] = {}
    return re.sub(r'"p\d+"', lambda m: ids.setdefault(m[0], f'"#{len(ids)}"'), text)


def _map(first_value: float, title: str, lang: str = "zh"):
    """The shipped city's counties, the first valued ``first_value``, the others 5."""
    import geopandas as gpd

    from safetyviz.core.paths import boundaries_path, shipped_dir

    regions = gpd.read_file(boundaries_path(shipped_dir())).sort_values("adcode")
    values = pd.Series(5.0, index=regions["adcode"])
    values.iloc[0] = first_value
    return choropleth(regions, values, label="罚款金额", units="元", title=title,
                      selected=values.index[0], lang=lang,
                      names=dict(zip(regions["adcode"], regions["name_zh"])))


PAIRS = {
    "ranking": lambda: (
        county_ranking(pd.Series({"411002": 3.0, "411003": 1.0, "411024": 2.0}), NAMES,
                       label="检查家次", units="家次", title="各县检查", selected="411003"),
        county_ranking(pd.Series({"411002": 5.0, "411003": 9.0, "411024": 0.0}), NAMES,
                       label="罚款金额", units="元", title="各县罚款", selected="411024")),
    "sectors": lambda: (
        sector_breakdown(pd.Series({"gas": 2.0, "fire_safety": 1.0}), label="死亡", units="人",
                         title="行业"),
        sector_breakdown(pd.Series({"gas": 4.0, "fire_safety": 1.0, "forestry": 7.0}),
                         label="事故", units="起", title="行业 · 2020", lang="en")),
    "series": lambda: (
        monthly_series(series(range(24)), label="检查家次", units="家次", title="月度",
                       highlight=(pd.Timestamp("2020-01-01"), pd.Timestamp("2020-03-31"))),
        monthly_series(series([5, 0, 2] * 8), label="罚款金额", units="元",
                       title="月度 · 魏都区", lang="en",
                       highlight=(pd.Timestamp("2020-04-01"), pd.Timestamp("2020-06-30")))),
    "map": lambda: (_map(0, "检查"), _map(85_000, "罚款", "en")),
}


@pytest.mark.parametrize("view", list(PAIRS))
def test_a_copy_updated_in_place_shows_what_a_copy_of_the_new_drawing_would(view):
    before, after = (drawn(element) for element in PAIRS[view]())
    pairing = paired_copy(before)
    copy = pairing[before.id]
    assert shown(copy) == shown(before)  # a copy is the drawing, but for its models' ids
    assert not {m.id for m in copy.references()} & {m.id for m in before.references()}
    models = {m.id for m in copy.references()}
    now = carry_over(pairing, before, after)
    assert now is not None and now[after.id] is copy
    assert shown(copy) == shown(after)
    assert {m.id for m in copy.references()} == models  # the same models: only their values
    assert shown(before) == shown(copied(before))  # the drawings themselves unchanged
    # and back, with the pairing it returned: the copy shows the first drawing again
    assert carry_over(now, after, before) is not None
    assert shown(copy) == shown(before)


def test_sessions_showing_one_drawing_share_the_walk_to_the_next(monkeypatch):
    """The two drawings are compared once for every session changing from one to the other;
    each session's copy gets the changes in models of its own."""
    from safetyviz.web.components import inplace

    walks = []
    plan = inplace._plan
    monkeypatch.setattr(inplace, "_plan", lambda old, new: walks.append(1) or plan(old, new))
    before, after = (drawn(element) for element in PAIRS["ranking"]())
    pairings = [paired_copy(before) for _ in range(3)]
    for pairing in pairings:
        assert carry_over(pairing, before, after) is not None
    assert len(walks) == 1
    copies = [pairing[before.id] for pairing in pairings]
    assert {shown(copy) for copy in copies} == {shown(after)}
    sources = [next(iter(copy.select({"type": ColumnDataSource}))) for copy in copies]
    assert len({id(source.data) for source in sources}) == 3  # each its own columns


def test_a_copy_its_browser_changed_out_of_shape_still_changes_without_error():
    """A (forged) message can set the models of a model in a session's copy: the next
    change still reaches the models the copy shows; a copy missing models of the drawing
    is left to be copied anew, unchanged."""
    before, after = (drawn(element) for element in PAIRS["series"]())
    pairing = paired_copy(before)
    copy = pairing[before.id]
    def line(root):
        return next(r for r in root.renderers if isinstance(r, GlyphRenderer))

    copy.renderers = [line(copy)]  # what the browser did: the shaded period gone
    now = carry_over(pairing, before, after)
    assert now is not None

    def columns(root):
        return {k: [str(v) for v in values] for k, values in line(root).data_source.data.items()}

    assert columns(copy) == columns(after) != columns(before)
    lost = {key: model for key, model in now.items() if model is not line(copy)}
    assert len(lost) == len(now) - 1
    unchanged = shown(copy)
    assert carry_over(lost, after, before) is None
    assert shown(copy) == unchanged


def _state(plot) -> dict:
    """What a browser shows of a HoloViews plot: every source's columns, the categories,
    the value range, title, value axis label and hover of each layer."""
    subplots = list(plot.subplots.values()) if plot.subplots else [plot]
    inverted = plot.invert_axes
    key_range = plot.handles["y_range" if inverted else "x_range"]
    return {
        "data": [{k: [str(v) for v in values] for k, values in sub.handles["source"].data.items()}
                 for sub in subplots if "source" in sub.handles and sub.handles["source"].data],
        "spans": [(str(sub.handles["glyph"].left), str(sub.handles["glyph"].right))
                  for sub in subplots if type(sub).__name__ == "BoxAnnotationPlot"],
        "factors": list(getattr(key_range, "factors", [])),
        "end": round(plot.handles["x_range" if inverted else "y_range"].end, 6),
        "title": plot.state.title.text,
        "label": plot.handles["xaxis" if inverted else "yaxis"].axis_label,
        "hover": [sub.handles["hover"].tooltips for sub in subplots if "hover" in sub.handles],
    }


@pytest.mark.parametrize("before, after", [
    (county_ranking(pd.Series({"411002": 3.0, "411003": 1.0, "411024": 2.0}), NAMES,
                    label="检查家次", units="家次", title="各县检查"),
     county_ranking(pd.Series({"411002": 5.0, "411003": 9.0, "411024": 0.0}), NAMES,
                    label="罚款金额", units="元", title="各县罚款", selected="411024")),
    (sector_breakdown(pd.Series({"gas": 2.0, "fire_safety": 1.0}), label="死亡", units="人",
                      title="行业"),
     sector_breakdown(pd.Series({"gas": 4.0, "fire_safety": 1.0, "forestry": 7.0}),
                      label="事故", units="起", title="行业 · 2020")),
    (monthly_series(series(range(24)), label="检查家次", units="家次", title="月度",
                    highlight=(pd.Timestamp("2020-01-01"), pd.Timestamp("2020-03-31"))),
     monthly_series(series([5, 0, 2] * 8), label="罚款金额", units="元", title="月度 · 魏都区",
                    highlight=(pd.Timestamp("2020-04-01"), pd.Timestamp("2020-06-30")))),
], ids=["ranking", "sectors", "series"])
def test_a_kept_plot_updated_to_a_new_selection_shows_what_a_new_drawing_would(before, after):
    """How a selection no session has shown is drawn: HoloViews' plot of the view, kept,
    updated in a few milliseconds (a new drawing is 35-95 ms)."""
    from safetyviz.web.components.inplace import _plot, update_drawn

    plot = _plot(before)
    models = {m.id for m in plot.state.references()}
    assert update_drawn(plot, after)
    assert _state(plot) == _state(_plot(after))
    assert {m.id for m in plot.state.references()} == models  # only their values changed
    colours = next(iter(plot.state.select({"type": CategoricalColorMapper})), None)
    if colours is not None:  # the selected county's bar has its colour though none had
        assert set(colours.factors) == {"yes", "no"}


def test_a_plot_of_another_shape_is_left_to_be_drawn_anew():
    from safetyviz.web.components.inplace import _plot, update_drawn

    plot = _plot(monthly_series(series(range(24)), label="a", units="", title="t",
                                highlight=(pd.Timestamp("2020-01-01"),
                                           pd.Timestamp("2020-03-31"))))
    shown_before = _state(plot)
    assert not update_drawn(plot, monthly_series(series(range(24)), label="b", units="",
                                                 title="u"))  # without the shaded period
    assert not update_drawn(plot, county_ranking(pd.Series({"411002": 1.0}), NAMES,
                                                 label="b", units="", title="u"))
    assert _state(plot) == shown_before  # nothing half-changed


@pytest.mark.parametrize("other", [
    lambda: monthly_series(series(range(24)), label="b", units="", title="u"),  # no shading
    lambda: county_ranking(pd.Series({"411002": 1.0}), NAMES, label="b", units="", title="u"),
], ids=["fewer layers", "bars for lines"])
def test_a_drawing_of_another_shape_is_carried_over_with_copies_of_its_new_models(other):
    first = drawn(monthly_series(series(range(24)), label="a", units="", title="t",
                                 highlight=(pd.Timestamp("2020-01-01"),
                                            pd.Timestamp("2020-03-31"))))
    pairing, new = paired_copy(first), drawn(other())
    copy = pairing[first.id]
    now = carry_over(pairing, first, new)
    assert now is not None
    assert shown(copy) == shown(new)
    # every model of the new drawing has its copy's: the next change pairs up with them
    assert {m.id for m in new.references()} <= now.keys()
    assert {now[m.id].id for m in new.references()} == {m.id for m in copy.references()}


def test_another_kind_of_model_is_left_to_be_copied_anew():
    from bokeh.models import Div

    first = drawn(county_ranking(pd.Series({"411002": 1.0}), NAMES, label="b", units="",
                                 title="u"))
    pairing = paired_copy(first)
    before = shown(pairing[first.id])
    assert carry_over(pairing, first, Div(text="本期无记录")) is None
    assert shown(pairing[first.id]) == before  # nothing half-changed


def test_what_the_user_did_in_the_browser_stays_and_shared_columns_are_not_sent_again():
    before, after = (drawn(element) for element in PAIRS["map"]())
    pairing = paired_copy(before)
    copy = pairing[before.id]
    source = next(r.data_source for r in copy.renderers if isinstance(r, GlyphRenderer))
    copy.x_range.start, copy.x_range.end = 113.5, 113.9  # zoomed in
    source.selected.indices = [2]  # a county tapped
    shapes = source.data["xs"]
    assert carry_over(pairing, before, after) is not None
    assert (copy.x_range.start, copy.x_range.end) == (113.5, 113.9)
    assert list(source.selected.indices) == [2]
    assert source.data["xs"] is shapes  # the same shapes: not sent again
    assert source.data["value"][0] == 85_000 and set(source.data["value"][1:]) == {5}
    with pytest.raises(ValueError, match="read-only"):  # shared by every session
        next(iter(after.select({"type": ColumnDataSource}))).data["value"][0] = 1


def test_a_copy_shares_no_container_with_its_drawing():
    """A copy's lists, dicts and sets are its own: Bokeh registers a model as an owner of
    each (to tell it of changes), so a shared one would tie every session's copy to the
    drawing kept for all — and a change to it would reach every session."""
    drawing = drawn(PAIRS["map"]()[0])
    copy = copied(drawing)

    def containers(root):
        return [value for model in root.references()
                for value in (*model._property_values.values(),
                              *model._unstable_default_values.values())
                if isinstance(value, list | dict | set)]

    kept = containers(drawing)
    assert {type(value).__name__ for value in kept} >= {"PropertyValueList", "PropertyValueDict"}
    assert not {id(value) for value in containers(copy)} & {id(value) for value in kept}
    # the empty defaults (tags, callbacks, subscribed events) left out of both are made for
    # each when read, as for a new model
    for name in ("tags", "js_property_callbacks", "subscribed_events"):
        assert getattr(copy, name) is not getattr(drawing, name)
        assert getattr(copy, name) == getattr(drawing, name)
        assert not getattr(copy, name)
    copies = {id(model) for model in copy.references()}
    assert not {id(owner) for value in kept for owner, _ in getattr(value, "_owners", ())
                } & copies


def test_a_browser_patching_its_copy_changes_no_other_session():
    drawing = drawn(PAIRS["map"]()[0])
    one, other = copied(drawing), copied(drawing)

    def source(root):
        return next(r.data_source for r in root.renderers if isinstance(r, GlyphRenderer))

    before = {k: list(v) for k, v in source(drawing).data.items() if k not in ("xs", "ys")}
    patched = []
    for column in before:  # what a (forged) ColumnsPatched message does
        try:
            source(one).patch({column: [(0, "伪造")]})
            patched.append(column)
        except ValueError as error:  # an array shared by every session: read-only
            assert "read-only" in str(error)
    assert patched  # (the lists: the copy's own)
    for root in (drawing, other):
        assert {k: list(source(root).data[k]) for k in before} == before


def _served(app):
    doc = Document()
    doc.add_root(pn.panel(app).get_root(doc))
    pn.state._on_load(doc)  # the plots drawn after the page, as the browser asks
    return doc


def _change(doc, widget, value) -> None:
    """``widget`` set to ``value`` as a browser's message does it (Panel's own path; a
    button group sends the index of the button)."""
    from panel.io.state import set_curdoc

    events = {"value": value}
    if isinstance(widget, pn.widgets.RadioButtonGroup):
        events = {"active": list(widget.values).index(value)}
    with set_curdoc(doc):
        widget._events = events
        widget._change_event(doc)


def test_a_new_selection_changes_values_not_models_and_walks_the_document_at_most_once(
        demo_dir, monkeypatch):
    from safetyviz.web.components.overview import create_overview_app

    app = create_overview_app(str(demo_dir / "catalog.yaml"))
    doc = _served(app)
    models = {m.id for m in doc.models}
    walks = []
    recompute = type(doc.models).recompute
    monkeypatch.setattr(type(doc.models), "recompute",
                        lambda self: walks.append(1) or recompute(self))
    _change(doc, app.period_select, "2020Q1")
    _change(doc, app.county_select, "411002")
    _change(doc, app.metric_select, "fines_yuan")
    assert walks == []  # only values changed: the model graph was not walked
    assert {m.id for m in doc.models} == models
    assert "85,000元" in app.cards.object  # 魏都区's fines in 2020Q1, the bulletin's
    ranking = next(m for m in doc.models if type(m).__name__ == "ColumnDataSource"
                   and "rank" in m.data)
    row = list(ranking.data["county"]).index("魏都区")
    assert ranking.data["text"][row] == "85,000元" and ranking.data["rank"][row].endswith("/ 6")
    _change(doc, app.lang_switch, "en")  # the plots and the map's note take the new
    assert {m.id for m in doc.models} == models  # language in place too
    assert walks == [] and "85,000 yuan" in app.cards.object
    assert "Weidu District" in ranking.data["county"]


def _from_browser(doc, model, **values) -> None:
    """``values`` set on ``model`` as a browser's message sets them: out of a server Panel
    leaves the document held, which would keep the model's callbacks from running."""
    from panel.io.state import set_curdoc

    while doc.callbacks.hold_value is not None:
        doc.unhold()
    with set_curdoc(doc):
        model.update(**values)


def test_county_records_fill_the_shown_table_and_the_others_when_opened(demo_dir):
    from safetyviz.web.components.county import create_county_app

    app = create_county_app(str(demo_dir / "catalog.yaml"))
    doc = _served(app)
    _change(doc, app.county_select, "411002")
    _change(doc, app.period_select, "2020Q1")
    shown = app.tables["open_major_hazards"]
    assert shown.rows.startswith("截至 2020-03-31，共 ")
    assert "inspections" in app._due  # not shown yet: not filled
    tabs = app.tabs
    assert [tab.title for tab in tabs.tabs] == ["未整改重大隐患", "逾期未整改隐患",
                                                "本期检查记录", "重点关注企业"]
    assert tabs.document is doc and shown.table.document is doc  # (the copy: this session's)
    inspections = app.tables["inspections"]
    assert inspections.table is None
    _from_browser(doc, tabs, active=2)
    assert "inspections" not in app._due and inspections._where == ("411002", "2020Q1")
    assert len(inspections._shown) == 709  # 魏都区's inspections in 2020Q1, the bulletin's
    assert inspections.table in tabs.tabs[2].child.children[0].references()
    for forged in (7, -1):  # an index no tab has (only a forged message sends one)
        _from_browser(doc, tabs, active=forged)
        assert app._active == 2 and tabs.active == 2  # the browser back on its tab
    _change(doc, app.period_select, "2020Q2")  # new records into the same tabs' tables
    assert app.tabs is tabs and inspections._where == ("411002", "2020Q2")
    assert set(app._due) == {"open_major_hazards", "overdue_hazards", "firms_to_visit"}
    _change(doc, app.period_select, "2020Q1")
    _change(doc, app.lang_switch, "en")  # new tabs, on the same tab, its table relabelled
    tabs = app.tabs
    assert tabs.tabs[0].title == "Open major hazards" and tabs.document is doc
    assert tabs.active == 2 and "Enterprise" in " ".join(inspections.on_screen.columns)
    assert inspections.table in tabs.tabs[2].child.children[0].references()
    assert "open_major_hazards" in app._due  # relabelled when chosen again
    _from_browser(doc, tabs, active=0)
    assert shown.rows == f"{len(shown.on_screen)} rows as of 2020-03-31"


def test_a_download_is_made_when_clicked_in_the_session_and_audited(demo_dir, monkeypatch):
    import base64

    from safetyviz.web.components import tables

    written = []
    monkeypatch.setattr(tables, "audit", lambda event, **fields: written.append(
        (event, fields)))
    frame = pd.DataFrame({"enterprise_id": ["E1", "E2"], "hazard_id": ["H1", "H2"]})
    where = SimpleNamespace(lang="zh", period="2020Q1", county="411002")
    table = tables.RecordTable(table_name="actions", firms={"E1": "甲厂"})
    doc = Document()
    doc.add_root(pn.panel(table.show_records(frame, where, shared=True)).get_root(doc))
    buttons = table.downloads
    assert buttons["csv"].filename == "411002_2020Q1_actions.csv"
    assert buttons["xlsx"].filename == "411002_2020Q1_actions.xlsx"
    assert buttons["csv"].data in (None, "")  # nothing sent before a click
    _from_browser(doc, buttons["csv"], clicks=1)
    mime, data = buttons["csv"].data.split(",", 1)
    assert mime == "data:text/csv;charset=UTF-8;base64"
    content = base64.b64decode(data).decode("utf-8-sig").splitlines()
    assert content[1:] == ["E1,甲厂,H1", "E2,E2,H2"]  # ids and names: both downloaded
    assert buttons["csv"]._transfers == 1  # (the browser saves the file on this)
    assert written == [("download", {"table": "actions", "format": "csv",
                                     "county": "411002", "period": "2020Q1", "rows": 2})]
    _from_browser(doc, buttons["xlsx"], clicks=1)
    assert buttons["xlsx"].data.startswith(
        "data:application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;base64,UEs")
    # a user who may not download gets no buttons: a forged click has nothing to answer
    viewer = tables.RecordTable(table_name="actions", access=tables.Access(
        user="wang", role="leader"))
    viewer.show_records(frame, where, shared=True)
    assert viewer.downloads == {}
    assert "FileDownload" not in {type(m).__name__ for m in viewer._copy.copy.references()}
    assert len(written) == 2


def test_records_of_a_county_are_read_once_for_every_session_and_period(demo_dir, monkeypatch):
    from safetyviz.data.catalog import open_catalog
    from safetyviz.web.components import county

    reads = []
    monkeypatch.setattr(county, "_RECORDS", county.LRU(4))
    monkeypatch.setattr(county, "_HISTORIES", county.LRU(4))
    original = county.county_history
    monkeypatch.setattr(county, "county_history",
                        lambda *args: reads.append(args[0]) or original(*args))
    cat = open_catalog(demo_dir / "catalog.yaml")
    start, end = pd.Timestamp("2020-01-01"), pd.Timestamp("2020-03-31")
    first = county.county_records(cat, "411002", start, end, end)
    assert county.county_records(cat, "411002", start, end, end) is first
    december = county.county_records(cat, "411002", pd.Timestamp("2019-12-01"),
                                     pd.Timestamp("2019-12-31"), pd.Timestamp("2019-12-31"))
    assert december is not first and reads == ["411002"]  # another period: cut, not read
    county.county_records(cat, "411003", start, end, end)
    assert reads == ["411002", "411003"]
    monkeypatch.setattr(county, "version", lambda table, catalog: f"{table}-v2")
    county.county_records(cat, "411002", start, end, end)  # a new version of the store
    assert reads == ["411002", "411003", "411002"]


def test_a_county_s_tables_cut_from_its_history_are_the_store_s_answers(demo_dir):
    """Every period's drill-downs cut from one read equal the queries of the store with the
    period pushed down (the demo's 魏都区: its bulletin figures, and quarters, a month and a
    year around them)."""
    from safetyviz.analysis.enterprises import area_ranking, county_history, period_records
    from safetyviz.analysis.records import (
        latest_inspections,
        open_major_hazards,
        overdue_hazards,
    )
    from safetyviz.data.catalog import open_catalog

    cat = open_catalog(demo_dir / "catalog.yaml")
    history = county_history("411002", cat)
    for name in ("2020Q1", "2019Q4", "2019-07", "2018", "2020Q3"):
        period = pd.Period(name)
        start, end = period.start_time.normalize(), period.end_time.normalize()
        cut = period_records(history, start, end, end)
        store = {"open_major_hazards": open_major_hazards("411002", end, cat),
                 "overdue_hazards": overdue_hazards("411002", end, cat),
                 "inspections": latest_inspections("411002", start, end, cat),
                 "firms_to_visit": area_ranking("411002", start, end, cat)}
        for table, frame in store.items():
            pd.testing.assert_frame_equal(cut[table].reset_index(drop=True), frame,
                                          check_dtype=False, check_categorical=False,
                                          obj=f"{name} {table}")
        if name == "2020Q1":  # the bulletin's: 15 major hazards open on 31 March
            assert len(cut["open_major_hazards"]) == 15
            assert len(cut["inspections"]) == 709


def test_a_warmed_server_leaves_its_long_lived_objects_out_of_collections(demo_dir, tmp_path):
    """Panel collects garbage after sessions close; over a warmed server's objects a full
    collection took ~230 ms of the event loop. The server collects once after warming up
    and freezes what lives then: later collections walk only the sessions' objects."""
    import gc

    from conftest import free_port
    from safetyviz.core import settings
    from safetyviz.serve.server import ServeConfig, build_server
    from safetyviz.web.pages import PAGES

    settings.configure(data_dir=demo_dir)
    (tmp_path / "index.html").write_text("<html></html>")
    threshold = gc.get_threshold()
    try:
        server = build_server(ServeConfig(pages={"overview": PAGES["overview"]},
                                          index=tmp_path / "index.html", port=free_port()))
        frozen = gc.get_freeze_count()
        assert frozen > 100_000  # the cube, the modules, HoloViews and Bokeh: all warmed
        assert gc.get_threshold()[0] == 20_000  # young objects collected less often
        server._http.stop()
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        settings.configure(data_dir=None)


def test_the_server_draws_each_county_users_pages_before_serving(demo_dir, tmp_path):
    """A county user's cube is a subset with drawings of its own: the first session of each
    county in each server process drew them (~0.3 s), and 50 users opening at once waited
    for that (10.8 s for all 50; 5.8 s warmed). The server warms the first pages for
    everyone, then for each set of counties of the users file, most users first, within its
    time budget."""
    import secrets

    from safetyviz.core import settings
    from safetyviz.data.catalog import open_catalog, version
    from safetyviz.serve.server import scopes_to_warm, warm_pages, warm_up
    from safetyviz.serve.users import add_user
    from safetyviz.web.components import inplace
    from safetyviz.web.components.page import built_as, load_data
    from safetyviz.web.pages import PAGES

    users = tmp_path / "users.yaml"
    for name, role, counties in [("li", "county", ("411003",)), ("city", "city", ()),
                                 ("wang", "county", ("411002",)),
                                 ("zhao", "county", ("411002",))]:
        add_user(users, name, role, secrets.token_urlsafe(12), counties)
    scopes = scopes_to_warm(users)
    assert [(s.role, s.counties) for s in scopes] == [
        ("analyst", ()), ("county", ("411002",)), ("county", ("411003",))]
    assert scopes_to_warm(None) == scopes[:1]

    settings.configure(data_dir=demo_dir)
    try:
        catalog = str(demo_dir / "catalog.yaml")
        cube, _ = load_data(catalog, version("cube", open_catalog(demo_dir / "catalog.yaml")))
        overview = PAGES["overview"]
        assert warm_pages([overview], scopes, seconds=0) == 0
        assert warm_pages([overview], scopes[:2], seconds=600) == 2
        wang = scopes[1].restrict_cube(cube)
        drawings = inplace._DRAWINGS._by_cube.get(id(wang))
        assert drawings is not None and len(drawings) >= 4  # series, sectors, ranking, map
        kept = len(drawings)
        with built_as(scopes[1]):  # wang's first session: everything is drawn already
            warm_up(overview)
        assert len(drawings) == kept
        assert id(scopes[2].restrict_cube(cube)) not in inplace._DRAWINGS._by_cube
    finally:
        settings.configure(data_dir=None)


def test_warming_reads_the_histories_of_the_counties_a_scope_may_see(demo_dir, monkeypatch):
    """The county profile reads ahead its scope's counties (each period of them is then a cut
    in pandas), only those the scope may see, and stops at the deadline."""
    import time

    from safetyviz.core import settings
    from safetyviz.security.access import LOCAL, Access
    from safetyviz.web.components import county
    from safetyviz.web.components.page import built_as
    from safetyviz.web.pages import PAGES

    monkeypatch.setattr(county, "_HISTORIES", county.LRU(16, county._HISTORIES.weigh,
                                                          county.HISTORY_BYTES))
    catalog = str(demo_dir / "catalog.yaml")
    settings.configure(data_dir=demo_dir)
    try:
        with built_as(Access(None, "county", ("411024", "411025"))):
            PAGES["county"].read_ahead(time.monotonic() + 600)
        assert sorted(key[1] for key in county._HISTORIES._values) == ["411024", "411025"]
        with built_as(LOCAL):
            assert county.read_histories_ahead(catalog, time.monotonic() - 1) == 0
            assert county.read_histories_ahead(catalog, time.monotonic() + 600) == 6
        assert len(county._HISTORIES) == 6  # the two read before, kept
    finally:
        settings.configure(data_dir=None)


def test_a_served_session_never_takes_the_warm_up_access():
    """The access pages are warmed as applies only outside served sessions: a session's
    access comes from its signed token, and without one it is refused."""
    import weakref

    from panel.io.state import set_curdoc

    from safetyviz.core import settings
    from safetyviz.security.access import Access
    from safetyviz.web.components.page import built_as, session_access

    class Context:  # a served session whose token carries no access
        token_payload: dict = {}
        request = None

    warming, context, document = Access(None, "county", ("411002",)), Context(), Document()
    document._session_context = weakref.ref(context)
    settings.configure(logins_required=True)
    try:
        with built_as(warming):
            with set_curdoc(Document()):
                assert session_access() == warming
            with set_curdoc(document), pytest.raises(PermissionError):
                session_access()
        with set_curdoc(Document()), pytest.raises(PermissionError):
            session_access()
    finally:
        settings.configure(logins_required=None)


def test_sessions_asking_for_the_same_records_at_once_share_one_read(demo_dir, monkeypatch):
    import threading

    from safetyviz.data.catalog import open_catalog
    from safetyviz.web.components import county

    reads, release = [], threading.Event()
    monkeypatch.setattr(county, "_RECORDS", county.LRU(4))
    monkeypatch.setattr(county, "_HISTORIES", county.LRU(4))
    original = county.county_history

    def slow_read(*args):
        reads.append(args[0])
        release.wait(30)  # the read is under way while the other sessions ask
        return original(*args)
    monkeypatch.setattr(county, "county_history", slow_read)
    cat = open_catalog(demo_dir / "catalog.yaml")
    where = ("411002", pd.Timestamp("2020-01-01"), pd.Timestamp("2020-03-31"),
             pd.Timestamp("2020-03-31"))
    assert not county.records_read(cat, *where)
    first = county.read_records_later(cat, *where)
    assert county.read_records_later(cat, *where) is first  # the same read, shared
    release.set()
    records = first.result(timeout=60)
    assert reads == ["411002"] and county.records_read(cat, *where)
    assert len(records["open_major_hazards"]) == 15  # the bulletin's 15 open on 31 March


def _glyph_variants(root) -> list[dict[str, str]]:
    """Each renderer's glyphs by role: the glyph model's type, or Bokeh's default."""
    roles = ("glyph", "selection_glyph", "nonselection_glyph", "hover_glyph", "muted_glyph")
    return [{role: type(value).__name__ if value not in ("auto", None) else str(value)
             for role in roles for value in [getattr(renderer, role)]}
            for renderer in root.select({"type": GlyphRenderer})]


def test_a_drawing_holds_no_glyph_its_plot_can_never_show():
    """Charts without a selecting tool keep no selected or unselected glyph and, without a
    legend that mutes, no muted one (HoloViews makes all three for every renderer); the map,
    which a tap selects on, keeps its selected and unselected outlines; a bar's hover glyph
    stays."""
    ranking = _glyph_variants(drawn(PAIRS["ranking"]()[0]))
    assert ranking == [{"glyph": "HBar", "selection_glyph": "auto",
                        "nonselection_glyph": "auto", "hover_glyph": "HBar",
                        "muted_glyph": "auto"}]
    series_ = _glyph_variants(drawn(PAIRS["series"]()[0]))
    assert {v["glyph"] for v in series_} == {"Line", "Scatter"}
    assert {(v["selection_glyph"], v["nonselection_glyph"], v["muted_glyph"])
            for v in series_} == {("auto", "auto", "auto")}
    map_ = _glyph_variants(drawn(PAIRS["map"]()[0]))
    assert map_ == [{"glyph": "MultiPolygons", "selection_glyph": "MultiPolygons",
                     "nonselection_glyph": "MultiPolygons", "hover_glyph": "MultiPolygons",
                     "muted_glyph": "auto"}]


def test_glyphs_a_legend_mutes_or_a_selection_shows_are_kept():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [3.0, 1.0, 2.0]})
    muting = (hv.Curve(frame, "x", "y", label="a") * hv.Curve(frame, "x", "y", label="b")
              ).opts(legend_opts={"click_policy": "mute"})
    assert {v["muted_glyph"] for v in _glyph_variants(drawn(muting))} == {"Line"}
    chosen = hv.Scatter(frame, "x", "y").opts(selected=[1], tools=[])
    variants = _glyph_variants(drawn(chosen))
    assert (variants[0]["selection_glyph"], variants[0]["nonselection_glyph"]) == (
        "Scatter", "Scatter")


def test_a_drawing_holds_no_hidden_axis_and_no_grid_that_draws_nothing():
    """The map's hidden axes and line-less grids are left out (each axis with its ticker,
    formatter and label policy); a chart keeps its two axes; a drawn grid stays, and so does
    the hidden axis it follows."""
    map_ = drawn(PAIRS["map"]()[0])
    assert (map_.below, map_.left, [type(m).__name__ for m in map_.center]) == ([], [], [])
    assert not list(map_.select({"type": Axis}))
    ranking = drawn(PAIRS["ranking"]()[0])
    assert [type(a).__name__ for a in ranking.below + ranking.left] == [
        "LinearAxis", "CategoricalAxis"]
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [3.0, 1.0, 2.0]})
    gridded = drawn(hv.Curve(frame, "x", "y").opts(show_grid=True, xaxis=None))
    grids = [m for m in gridded.center if isinstance(m, Grid)]
    assert len(grids) == 2 and all(g.grid_line_color is not None for g in grids)
    assert {id(g.axis) for g in grids} == {id(a) for a in gridded.below + gridded.left}
    assert [a.visible for a in gridded.below] == [False]


class _Chosen(param.Parameterized):
    """A selection whose view is a bar chart or, for ``kind="text"``, another kind of plot
    (a text where there are no data)."""

    kind = param.Selector(objects=["bars", "text"], default="bars")
    lang = param.String(default="zh")

    def __init__(self, **params):
        super().__init__(**params)
        self.cube = xr.Dataset()  # a cube of its own: its drawings are kept for it alone


def test_plots_in_one_bokeh_layout_take_a_new_kind_of_plot_in_their_place():
    from bokeh.models import Column, Div, Row

    from safetyviz.web.components.inplace import SharedPlot, stacked, wrapping_row

    state = _Chosen()

    def view():
        data = pd.DataFrame({"x": ["a", "b"], "y": [1.0, 2.0]})
        return hv.Bars(data, "x", "y") if state.kind == "bars" else hv.Div("<p>无数据</p>")

    plot, other = SharedPlot(view, state), SharedPlot(lambda: hv.Bars([("c", 4.0)]), state)
    note = Div(text="note")
    row = wrapping_row(stacked(plot.laid_out(height=300, styles={"flex": "1 1 420px"}), note),
                       other.laid_out(height=200))
    column, first = row.children[0], plot.copy
    assert isinstance(column, Column) and column.children == [first, note]
    assert row.styles["flex-wrap"] == "wrap" and row.sizing_mode == "stretch_width"
    assert first.height == 300 and first.styles == {"flex": "1 1 420px"}
    doc = Document()
    doc.add_root(pn.pane.Bokeh(row).get_root(doc))

    state.kind = "text"  # another kind of plot: a new copy in the old one's place …
    assert plot.copy is not first and column.children == [plot.copy, note]
    assert plot.copy.height == 300 and plot.copy.document is doc  # … laid out as it was
    assert isinstance(row, Row) and row.children[1] is other.copy
    assert "无数据" in plot.copy.text

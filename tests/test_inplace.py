"""Plots updated in place (:mod:`web.components.inplace`) and changes applied with the
document walked at most once (:func:`page.settled_once`): a new selection sends data and text
into the models drawn, and they then equal a plot drawn anew."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest
import xarray as xr
from bokeh.document import Document

from safetyviz.web.components.inplace import update_drawn
from safetyviz.web.views import county_ranking, monthly_series, sector_breakdown

hv.extension("bokeh", logo=False)

NAMES = {"411002": "魏都区", "411003": "建安区", "411024": "鄢陵县"}


def series(values, start="2019-01-01") -> xr.DataArray:
    months = pd.date_range(start, periods=len(values), freq="MS")
    return xr.DataArray(np.asarray(values, float), coords={"month": months}, dims="month")


def _state(plot) -> dict:
    """What a browser shows of a drawn plot: every source's columns, the categories, the
    value range, title, value axis label and hover of each layer."""
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


def drawn(element):
    return hv.renderer("bokeh").get_plot(element)


@pytest.mark.parametrize("before, after", [
    (county_ranking(pd.Series({"411002": 3.0, "411003": 1.0, "411024": 2.0}), NAMES,
                    label="检查家次", units="家次", title="各县检查", selected="411003"),
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
def test_a_plot_updated_in_place_shows_what_a_new_drawing_would(before, after):
    plot = drawn(before)
    models = set(plot.state.references())
    assert update_drawn(plot, after)
    assert _state(plot) == _state(drawn(after))
    assert set(plot.state.references()) == models  # the same models: only their values


def test_a_plot_of_another_shape_is_left_to_be_drawn_anew():
    plot = drawn(monthly_series(series(range(24)), label="a", units="", title="t",
                                highlight=(pd.Timestamp("2020-01-01"),
                                           pd.Timestamp("2020-03-31"))))
    shown = _state(plot)
    assert not update_drawn(plot, monthly_series(series(range(24)), label="b", units="",
                                                 title="u"))  # without the shaded period
    assert not update_drawn(plot, county_ranking(pd.Series({"411002": 1.0}), NAMES,
                                                 label="b", units="", title="u"))
    assert _state(plot) == shown  # nothing half-changed


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
    _change(doc, app.lang_switch, "en")  # a new language draws anew: new models, one walk
    assert len(walks) == 1 and "85,000 yuan" in app.cards.object


def test_county_records_fill_the_shown_table_and_the_others_when_opened(demo_dir):
    from safetyviz.web.components.county import create_county_app

    app = create_county_app(str(demo_dir / "catalog.yaml"))
    doc = _served(app)
    _change(doc, app.county_select, "411002")
    _change(doc, app.period_select, "2020Q1")
    shown = app.tables["open_major_hazards"]
    assert shown.rows.object.startswith("截至 2020-03-31，共 ")
    assert "inspections" in app._due  # not shown yet: not filled
    app.tabs.active = 2
    inspections = app.tables["inspections"]
    assert "inspections" not in app._due and inspections._where == ("411002", "2020Q1")
    assert len(inspections._shown) == 709  # 魏都区's inspections in 2020Q1, the bulletin's
    titles = list(app.tabs._names)
    _change(doc, app.lang_switch, "en")
    assert app.tabs._names != titles and app.tabs._names[0] == "Open major hazards"
    assert app.tabs.active == 2


def test_records_of_a_selection_are_read_once_for_every_session(demo_dir, monkeypatch):
    from safetyviz.data.catalog import open_catalog
    from safetyviz.web.components import county

    reads = []
    monkeypatch.setattr(county, "_RECORDS", county.LRU(4))
    original = county.open_hazards
    monkeypatch.setattr(county, "open_hazards",
                        lambda *args: reads.append(args[0]) or original(*args))
    cat = open_catalog(demo_dir / "catalog.yaml")
    start, end = pd.Timestamp("2020-01-01"), pd.Timestamp("2020-03-31")
    first = county.county_records(cat, "411002", start, end, end)
    assert county.county_records(cat, "411002", start, end, end) is first
    county.county_records(cat, "411003", start, end, end)
    assert reads == ["411002", "411003"]
    monkeypatch.setattr(county, "version", lambda table, catalog: f"{table}-v2")
    county.county_records(cat, "411002", start, end, end)  # a new version of the store
    assert reads == ["411002", "411003", "411002"]


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
    try:
        server = build_server(ServeConfig(pages={"overview": PAGES["overview"]},
                                          index=tmp_path / "index.html", port=free_port()))
        frozen = gc.get_freeze_count()
        assert frozen > 100_000  # the cube, the modules, HoloViews and Bokeh: all warmed
        server._http.stop()
    finally:
        gc.unfreeze()
        settings.configure(data_dir=None)


def test_sessions_asking_for_the_same_records_at_once_share_one_read(demo_dir, monkeypatch):
    import threading

    from safetyviz.data.catalog import open_catalog
    from safetyviz.web.components import county

    reads, release = [], threading.Event()
    monkeypatch.setattr(county, "_RECORDS", county.LRU(4))
    original = county.open_hazards

    def slow_read(*args):
        reads.append(args[0])
        release.wait(30)  # the read is under way while the other sessions ask
        return original(*args)
    monkeypatch.setattr(county, "open_hazards", slow_read)
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

"""Bokeh's bookkeeping without its repeated work (:mod:`web.bokeh_speed`): every page's
document is the same JSON with and without it, and what Bokeh refuses it still refuses."""

from __future__ import annotations

import functools
import json
import re

import panel as pn
import pytest
from bokeh.core.property.descriptors import AliasPropertyDescriptor, UnsetValueError
from bokeh.core.serialization import Serializer
from bokeh.document import Document
from bokeh.model import Model
from bokeh.models import Button, GlyphRenderer, Scatter, Slider
from bokeh.util.serialization import make_id
from panel.io.state import set_curdoc

from safetyviz.web import bokeh_speed
from safetyviz.web.bokeh_speed import faster_bokeh
from safetyviz.web.pages import PAGES


@pytest.fixture()
def bokeh_as_shipped():
    faster_bokeh(False)
    yield
    faster_bokeh(True)


def _json(document: Document) -> str:
    """The document as sent to a browser, its binary buffers named by position (their ids
    are new at each serialisation)."""
    text = json.dumps(document.to_json(), sort_keys=True, default=repr)
    return re.sub(r"Buffer\(id='[^']*', data=<memory at 0x[0-9a-f]+>\)", "Buffer", text)


@pytest.mark.parametrize("slug", list(PAGES))
def test_every_page_is_the_same_json_and_the_same_models_either_way(
        slug, demo_dir, bokeh_as_shipped, monkeypatch):
    monkeypatch.setattr(bokeh_speed, "faster_bokeh", lambda on=True: None)  # (create's call)
    document = Document()
    with set_curdoc(document):
        page = PAGES[slug].create(str(demo_dir / "catalog.yaml"))
        document.add_root(pn.panel(page).get_root(document))
    pn.state._on_load(document)  # the plots drawn after the page
    shipped, models = _json(document), {m.id for m in document.roots[0].references()}
    faster_bokeh(True)
    assert _json(document) == shipped
    assert {m.id for m in document.roots[0].references()} == models
    assert len(models) > 10  # (the page itself, not a message that data is missing)


def test_what_bokeh_refuses_to_send_is_still_refused():
    faster_bokeh(True)
    with pytest.raises(UnsetValueError, match="start"):  # a slider without its range
        Serializer().encode(Slider())
    with pytest.raises(UnsetValueError, match="data_source"):  # a renderer without data
        GlyphRenderer().references()


def test_mutable_defaults_are_known_per_class_as_bokeh_finds_them(bokeh_as_shipped):
    classes = set(Model.model_class_reverse_map.values())
    shipped = {(cls, name): cls.lookup(name).has_unstable_default(cls.__new__(cls))
               for cls in classes for name in cls.properties(_with_props=True)
               if not isinstance(cls.lookup(name), AliasPropertyDescriptor)}
    faster_bokeh(True)
    assert len(shipped) > 5000
    assert {key: key[0].lookup(key[1]).has_unstable_default(key[0].__new__(key[0]))
            for key in shipped} == shipped


def test_models_count_on_from_bokehs_own_ids_and_unique_ids_stay_unique(monkeypatch):
    faster_bokeh(True)
    first, by_bokeh, third = Slider(start=0, end=1).id, make_id(), Slider(start=0, end=1).id
    assert re.fullmatch(r"p\d+", first)  # one counter for Bokeh's own ids and ours:
    assert [int(first[1:]) + 1, int(first[1:]) + 2] == [int(by_bokeh[1:]), int(third[1:])]
    monkeypatch.setenv("BOKEH_SIMPLE_IDS", "no")  # asked for, Bokeh's globally unique ids
    faster_bokeh(True)
    try:
        assert not re.fullmatch(r"p\d+", Slider(start=0, end=1).id)
    finally:
        monkeypatch.delenv("BOKEH_SIMPLE_IDS")
        faster_bokeh(True)


def test_a_callback_that_cannot_take_bokehs_arguments_is_still_refused():
    """Signature checks are remembered only for what passed them: a callback that does not
    fit is refused every time, whatever fitted before with the same function."""
    faster_bokeh(True)
    slider = Slider(start=0, end=1)

    def fitting(number):
        def fits(attr, old, new):
            return number
        return fits

    def takes_one_more(extra, attr, old, new):
        return extra

    slider.on_change("value", fitting(1), fitting(2))  # the same code: checked once
    for _ in range(2):
        with pytest.raises(ValueError, match=r"signature func\(attr, old, new\)"):
            slider.on_change("value", lambda attr, old: None)
    slider.on_change("value", functools.partial(takes_one_more, 1))  # fits once bound
    for _ in range(2):
        with pytest.raises(ValueError, match="signature"):
            slider.on_change("value", functools.partial(takes_one_more, 1, 2))
        with pytest.raises(ValueError, match="signature"):
            slider.on_change("value", takes_one_more)

    def passes_through(function):
        @functools.wraps(function)
        def wrapper(*args):
            return function(*args)
        return wrapper

    with pytest.raises(ValueError, match="signature"):  # Bokeh reads the wrapped signature
        slider.on_change("value", passes_through(lambda attr, old: None))
    document = Document()
    document.on_change(lambda event: None)
    with pytest.raises(ValueError, match="signature"):
        document.on_change(lambda: None)


def test_a_dict_bokeh_refuses_is_refused_with_bokehs_message(bokeh_as_shipped):
    """Valid dicts pass without their message spelt out; invalid ones get Bokeh's own."""
    def refusal(value) -> str:
        with pytest.raises(ValueError) as raised:
            Slider(start=0, end=1, js_property_callbacks=value)
        return re.sub(r"id='p\d+'", "id", str(raised.value))
    shipped = [refusal(bad) for bad in ({1: []}, {"change:value": [1]}, ["not", "a", "dict"])]
    faster_bokeh(True)
    assert [refusal(bad) for bad in ({1: []}, {"change:value": [1]}, ["not", "a", "dict"])] \
        == shipped
    assert "invalid keys: 1" in shipped[0] and "invalid values for keys: change:value" \
        in shipped[1]
    assert Slider(start=0, end=1, js_property_callbacks={}).js_property_callbacks == {}


def test_values_and_column_names_are_told_apart_as_bokeh_does(bokeh_as_shipped):
    def encoded(**spec) -> dict:
        return Scatter(**spec).to_serializable(Serializer())["attributes"]
    specs = [{"fill_color": "red"}, {"fill_color": "level"}, {"fill_color": "#ff0000"},
             {"size": 7}, {"size": "weight"}, {"x": "x", "y": 2.5},
             {"fill_color": (255, 0, 0)}, {"angle": 30}]
    shipped = [encoded(**spec) for spec in specs]
    faster_bokeh(True)
    assert [encoded(**spec) for spec in specs] == shipped
    assert shipped[0]["fill_color"] == {"type": "value", "value": "red"}
    assert shipped[1]["fill_color"] == {"type": "field", "field": "level"}


def test_bokehs_setting_to_send_defaults_is_honoured(monkeypatch):
    monkeypatch.setenv("BOKEH_SERIALIZE_INCLUDE_DEFAULTS", "yes")
    faster_bokeh(True)
    try:
        assert "label" in Button().to_serializable(Serializer())["attributes"]
    finally:
        monkeypatch.delenv("BOKEH_SERIALIZE_INCLUDE_DEFAULTS")
        faster_bokeh(True)
    assert "attributes" not in Button().to_serializable(Serializer())


def test_a_documents_checks_find_what_bokehs_own_find(bokeh_as_shipped):
    """The checks of a document: found once per class, run as Bokeh runs them."""
    from bokeh.core.validation import check as validation_check
    from bokeh.core.validation.decorators import error
    from bokeh.models import ColumnDataSource, Row
    from bokeh.plotting import figure

    plot = figure(extra_y_ranges={})
    plot.scatter("x", "missing", source=ColumnDataSource({"x": [1]}))  # a column not there
    plot.line("x", "y", source=ColumnDataSource({"x": [1], "y": [2]}), y_range_name="nope")
    empty = Row()  # a layout without children
    odd = Row(children=[Slider(start=0, end=1)])

    @error("a check of this one model")
    def _check_this_one():
        return "found"
    odd._check_this_one = _check_this_one  # (Bokeh's dir() of the model finds it too)
    models = [empty, odd, *plot.references(), *odd.references()]

    def found() -> list:
        issues = validation_check.check_integrity(models)
        return [(issue.code, issue.name, issue.extra) for issue in issues.error + issues.warning]
    shipped = found()
    faster_bokeh(True)
    assert validation_check.check_integrity is not bokeh_speed._CHECK_INTEGRITY
    assert found() == shipped
    names = {name for _, name, _ in shipped}
    assert {"BAD_COLUMN_NAME", "EMPTY_LAYOUT", "BAD_EXTRA_RANGE_NAME",
            "EXT:a check of this one model"} <= names


def test_a_kept_default_is_the_classs_and_a_themed_model_still_gets_its_themes():
    from bokeh.models import Title
    from bokeh.themes import Theme

    faster_bokeh(True)
    assert Title().text_font_size == Title().text_font_size == "13px"  # (kept once read)
    themed = Title()
    Theme(json={"attrs": {"Title": {"text_font_size": "20pt"}}}).apply_to_model(themed)
    assert themed.text_font_size == "20pt" and Title().text_font_size == "13px"
    assert Title().text_color == "#444444" and Title().text_font_style == "bold"

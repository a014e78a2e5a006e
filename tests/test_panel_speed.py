"""Panel's model making without its repeated work (:mod:`web.panel_speed`): every page is
made of the same models either way, and a file name is found or refused as param does."""

from __future__ import annotations

import json
import re

import pandas as pd
import panel as pn
import pytest
from bokeh.document import Document
from panel.io.state import set_curdoc
from param.parameters import Filename

from safetyviz.web import panel_speed
from safetyviz.web.pages import PAGES


def _page_json(slug: str, catalog: str) -> str:
    """The page's document as sent to a browser, its model ids (and uuids) named by where
    they first appear (each build numbers its models anew), the time of day left out."""
    document = Document()
    with set_curdoc(document):
        page = PAGES[slug].create(catalog)
        document.add_root(pn.panel(page).get_root(document))
    pn.state._on_load(document)  # the plots drawn after the page
    text = json.dumps(document.to_json(), sort_keys=True, default=repr)
    text = re.sub(r"Buffer\(id='[^']*', data=<memory at 0x[0-9a-f]+>\)", "Buffer", text)
    text = re.sub(r"\b([A-Z][A-Za-z]+)\d{5}\b", r"\1#", text)  # Panel's numbered names
    text = re.sub(r"\d\d:\d\d:\d\d", "hh:mm:ss", text)  # (the wall's clock)
    ids: dict[str, str] = {}
    return re.sub(r"(?<=['\"]|:)(p\d+|[0-9a-f]{32})(?=['\"])",  # ('p12', '__ref:p12')
                  lambda m: ids.setdefault(m.group(1), f"m{len(ids)}"), text)


@pytest.mark.parametrize("slug", list(PAGES))
def test_a_page_is_made_of_the_same_models_either_way(slug, demo_dir, monkeypatch):
    catalog = str(demo_dir / "catalog.yaml")
    calls: list = []
    monkeypatch.setattr(panel_speed, "_INIT_PARAMS", _counting(panel_speed._INIT_PARAMS, calls))
    faster_panel = panel_speed.faster_panel
    monkeypatch.setattr(panel_speed, "faster_panel", lambda on=True: None)  # (create's call)
    _page_json(slug, catalog)  # (caches filled: both builds below read the same)
    faster_panel(False)
    try:
        shipped = _page_json(slug, catalog)
        assert calls  # Panel's own was used …
        calls.clear()
        faster_panel(True)
        faster = _page_json(slug, catalog)
        assert not calls  # … and then not
    finally:
        faster_panel(True)
    assert faster == shipped
    assert len(re.findall("'type': 'object'", faster)) > 10  # (the page itself)


def _counting(function, calls: list):
    def counted(*args, **kwargs):
        calls.append(1)
        return function(*args, **kwargs)
    return counted


@pytest.mark.parametrize("make", [
    lambda: pn.widgets.Select(options=["a", "b"], name="县"),
    lambda: pn.widgets.Tabulator(pd.DataFrame({"x": [1, 2]}), hidden_columns=["x"]),
    lambda: pn.pane.Markdown("**粗体**", margin=(5, 10)),
    lambda: pn.Row(pn.pane.Str("x"), styles={"flex-wrap": "wrap"}),
])
def test_a_component_syncs_the_same_parameters_either_way(make):
    component = make()
    assert panel_speed._init_params(component) == panel_speed._INIT_PARAMS(component)
    assert list(panel_speed._init_params(component)) == list(
        panel_speed._INIT_PARAMS(component))  # (in the same order)


def test_a_file_name_is_found_or_refused_as_param_does(tmp_path, monkeypatch):
    parameter = Filename(search_paths=[str(tmp_path)])
    (tmp_path / "theme.css").write_text("a {}")
    found = str(tmp_path / "sub" / ".." / "theme.css")
    assert panel_speed._resolve_filename(parameter, found) == str(tmp_path / "theme.css")
    assert panel_speed._resolve_filename(parameter, found) == panel_speed._RESOLVE_FILENAME(
        parameter, found)
    assert panel_speed._resolve_filename(parameter, "theme.css") == str(tmp_path / "theme.css")
    for missing in (str(tmp_path / "gone.css"), "gone.css", str(tmp_path)):  # (a folder)
        with pytest.raises(OSError, match="not found"):
            panel_speed._resolve_filename(parameter, missing)

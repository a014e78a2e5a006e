"""Page requests answered from a kept session (:mod:`serve.kept_pages`): the same page with
and without what is kept, gathered anew when what it is gathered from changes."""

from __future__ import annotations

import re
from types import SimpleNamespace

import panel as pn
import panel.io.server as panel_server
import pytest
from bokeh.document import Document
from bokeh.resources import Resources as BokehResources
from panel.io.resources import Resources
from panel.io.state import set_curdoc

from safetyviz.serve import kept_pages
from safetyviz.web.pages import PAGES

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture()
def kept_session(demo_dir):
    """A session as Panel keeps it per page (its document built, never sent)."""
    def kept(slug: str):
        document = Document()
        with set_curdoc(document):
            pn.panel(PAGES[slug].create(str(demo_dir / "catalog.yaml"))).server_doc(document)
        return SimpleNamespace(document=document, token="the-token")
    yield kept
    kept_pages.install(False)


def page(session) -> str:
    """The page Panel renders for a request answered from ``session``, without what differs
    per request (the ids of its elements)."""
    resources = Resources.from_bokeh(BokehResources(mode="server", root_url="/"))
    document = session.document
    with set_curdoc(document):
        html = panel_server.server_html_page_for_session(
            session, resources=resources, title=document.title, token=session.token,
            template=document.template, template_variables=document.template_variables)
    return re.sub(r"""(["'])p\d+\1""", "ID", UUID.sub("UUID", html))


@pytest.mark.parametrize("slug", list(PAGES))
def test_every_page_is_rendered_the_same_from_what_is_kept(slug, kept_session, monkeypatch):
    session = kept_session(slug)
    kept_pages.install(False)
    as_panel_renders_it = page(session)
    assert page(session) == as_panel_renders_it and "the-token" in as_panel_renders_it
    bundle, patch = kept_pages._BUNDLE_RESOURCES, kept_pages._PATCH_MODEL_CSS
    calls: list[str] = []
    monkeypatch.setattr(kept_pages, "_BUNDLE_RESOURCES",
                        lambda *a, **k: calls.append("bundle") or bundle(*a, **k))
    monkeypatch.setattr(kept_pages, "_PATCH_MODEL_CSS",
                        lambda *a: calls.append("css") or patch(*a))
    kept_pages.install(True)
    assert [page(session) for _ in range(3)] == [as_panel_renders_it] * 3
    assert calls.count("bundle") == 1 and calls.count("css") == len(session.document.roots)


def test_a_page_is_gathered_anew_when_what_it_is_gathered_from_changes(kept_session,
                                                                        monkeypatch):
    from panel.config import panel_extension

    document = kept_session("overview").document
    gathered: list[int] = []
    monkeypatch.setattr(kept_pages, "_BUNDLE_RESOURCES",
                        lambda roots, resources: gathered.append(1) or len(gathered))
    kept_pages.install(True)
    resources = Resources.from_bokeh(BokehResources(mode="server", root_url="/"))

    def bundle() -> int:
        with set_curdoc(document):
            return panel_server.bundle_resources(document.roots, resources)

    assert [bundle(), bundle()] == [1, 1]
    document.add_root(pn.pane.HTML("another root").get_root(document))
    assert [bundle(), bundle()] == [2, 2]
    with set_curdoc(document):  # (the session's own setting)
        pn.config.raw_css = [*pn.config.raw_css, ".added {}"]
    assert [bundle(), bundle()] == [3, 3]
    monkeypatch.setattr(panel_extension, "_loaded_extensions",
                        [*panel_extension._loaded_extensions, "vega"])
    assert [bundle(), bundle()] == [4, 4]
    other = Resources.from_bokeh(BokehResources(mode="server", root_url="/other/"))
    with set_curdoc(document):
        assert panel_server.bundle_resources(document.roots, other) == 5

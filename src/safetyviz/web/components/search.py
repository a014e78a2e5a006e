"""The enterprise search box every page carries: results as the user types (a name fragment,
pinyin initials or full pinyin, a credit code), each a link to the firm's profile with its
county and sector. The index is built once per register version for all sessions; the
session's counties are applied on the server to every query."""

from __future__ import annotations

import html

import panel as pn
import param

from safetyviz.analysis.search import RESULTS, EnterpriseIndex
from safetyviz.core.i18n import text
from safetyviz.data.catalog import catalog_path, version
from safetyviz.security.access import LOCAL, Access
from safetyviz.web.components.page import load_registers, shared_catalog
from safetyviz.web.enterprise import code_label
from safetyviz.web.page_state import PageState
from safetyviz.web.state import NoNone
from safetyviz.web.views import profile_url

MAX_QUERY = 100  # characters looked at (a pasted page of text is cut, not searched)

SEARCH_CSS = """
.search-results {margin: 0 10px; max-width: 640px;}
.search-results a {display: block; padding: 4px 6px; text-decoration: none; color: #1b2631;
                   border-bottom: 1px solid #eaeded;}
.search-results a:hover {background: #f4f6f6;}
.search-results .where {color: #566573; font-size: 12px; margin-left: 8px;}
.search-results .none {color: #566573; padding: 4px 6px;}
"""


@pn.cache(max_items=2)
def _index(path: str, register_version: str) -> EnterpriseIndex:
    (enterprises, _regions) = load_registers(path, "enterprises")
    return EnterpriseIndex(enterprises)


def enterprise_index(path: str) -> EnterpriseIndex:
    """The search index of the register of the catalog at ``path``, built once per register
    version for all sessions."""
    return _index(path, version("enterprises", shared_catalog(path)))


class EnterpriseSearch(pn.viewable.Viewer):
    """A text box and, below it, the firms it finds (at most :data:`RESULTS`), in the
    page state's language."""

    state = param.ClassSelector(class_=PageState, allow_None=NoNone,
                                doc="The page's state (its language).")
    catalog = param.String(doc="Path of the catalog whose register is searched.")
    access = param.ClassSelector(class_=Access, default=LOCAL,
                                 doc="Who is searching: only their counties' firms are found.")
    names = param.Dict(default={}, doc="County names by adcode, {'zh': …, 'en': …}.")

    def __init__(self, **params):
        super().__init__(**params)
        self.box = pn.widgets.TextInput(name="", max_length=MAX_QUERY, width=320,
                                        css_classes=["enterprise-search"])
        self.results = pn.pane.HTML("", stylesheets=[SEARCH_CSS], sizing_mode="stretch_width",
                                    margin=0)
        self._relabel()
        self.state.param.watch(lambda event: self._relabel(), "lang")
        self.box.param.watch(lambda event: self._search(), "value_input")

    def _relabel(self) -> None:
        self.box.placeholder = text("search_placeholder", self.state.lang)
        self._search()

    def _search(self) -> None:
        query = str(self.box.value_input or "")[:MAX_QUERY].strip()
        if not query:
            self.results.object = ""
            return
        counties = None if self.access.all_counties else self.access.counties
        found = enterprise_index(self.catalog).search(query, counties, limit=RESULTS)
        self.results.object = self._html(found)

    def _html(self, found) -> str:
        lang = self.state.lang
        if not len(found):
            return (f'<div class="search-results"><div class="none">'
                    f'{html.escape(text("search_none", lang))}</div></div>')
        names = self.names.get(lang) or self.names.get("zh", {})
        items = "".join(
            f'<a href="{html.escape(profile_url(row.enterprise_id, lang))}">'
            f'{html.escape(str(row.name))}<span class="where">'
            f'{html.escape(names.get(str(row.adcode), str(row.adcode)))} · '
            f'{html.escape(code_label("sector", row.sector, lang))}</span></a>'
            for row in found.itertuples(index=False))
        return f'<div class="search-results">{items}</div>'

    def __panel__(self):
        return pn.Column(self.box, self.results, margin=0, sizing_mode="stretch_width")


def search_box(state: PageState, catalog: str | None, access: Access,
               regions) -> EnterpriseSearch:
    """The search box of a page over ``catalog`` (None: the configured one) for a session
    with ``access``, naming counties as ``regions`` do."""
    return EnterpriseSearch(state=state, catalog=str(catalog or catalog_path()), access=access,
                            names={
                                "zh": dict(zip(regions["adcode"].astype(str),
                                               regions["name_zh"])),
                                "en": dict(zip(regions["adcode"].astype(str),
                                               regions["name_en"]))})

"""The dashboards, one registry entry each: a page is a module with a factory
(``create_<slug>_app(catalog=None)`` returning a Panel object) plus one :class:`Page` here.

The registry is the one list of pages: `safetyviz serve` serves and warms them, the index and
JupyterLab's proxy link them, and the tests (routes, offline resources, phone layout, county
scoping) take every registered page — a page cannot be left out of the security tests. Other
packages add pages through the ``safetyviz.web.pages`` entry-point group, whose values are
:class:`Page` objects. Nothing here imports Panel: a factory is imported when its page is
built.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from importlib.metadata import entry_points

from safetyviz.core.errors import UserError

ENTRY_POINT_GROUP = "safetyviz.web.pages"
SLUG = re.compile(r"[a-z][a-z0-9_]{0,31}")
TITLE_PREFIX = "安全生产监管"


@dataclass(frozen=True)
class Page:
    """A dashboard page."""

    slug: str  # its route: /<slug>
    zh: str  # its title, in Chinese …
    en: str  # … and in English
    factory: str  # "package.module:function", called with the catalog path (or None)
    # What shows that a county user's page drew their own data (the scoping tests look for
    # it): "county", their county's name; "sites", the ids of their major hazard sites.
    proof: str = "county"
    framed: bool = True  # in the app shell (header, navigation); False: the page is the screen
    # "package.module:function" giving the landing page's tile its figure: called with the
    # landing page and the language, it returns (label, figure) or None
    headline: str | None = None
    # "package.module:function" reading ahead, before serving, what the page's later
    # selections read (beyond the first view, which building the page warms): called with
    # the catalog path (or None) and a time.monotonic() deadline, for the scope being warmed
    warm: str | None = None

    @property
    def title(self) -> str:
        return f"{TITLE_PREFIX} · {self.zh}"

    def create(self, catalog: str | None = None):
        """The page's Panel object (over ``catalog``, else the configured one) in the app
        shell (:data:`SHELL`)."""
        _styles_from_this_server()
        _imported("safetyviz.web.bokeh_speed:faster_bokeh")()
        _imported("safetyviz.web.panel_speed:faster_panel")()
        body = _imported(self.factory)(catalog)
        return _imported(SHELL)(self, body, catalog) if self.framed else body

    def read_ahead(self, deadline: float, catalog: str | None = None) -> None:
        """What the page's ``warm`` function reads ahead (nothing without one)."""
        if self.warm:
            _imported(self.warm)(catalog, deadline)

    def servable(self):
        """The page, marked servable with its title (an app script's one line)."""
        return self.create().servable(title=self.title)


# What frames every page: header, navigation, language, data freshness, user.
SHELL = "safetyviz.web.components.shell:framed"


def _styles_from_this_server() -> None:
    """Make the stylesheets of every model of a served page come from the server, never from
    Panel's CDN (which an offline machine cannot reach and the content security policy
    blocks). Panel points a model's stylesheets at the address of its document, and at the
    CDN when the model has none: a model changed while detached — a table in a tab not shown,
    relabelled or filled when its tab opens — came back with CDN addresses (holoviz/panel
    #7073). Served, that fallback is this server's own copy."""
    import panel.reactive
    from panel.io.resources import LOCAL_DIST, use_cdn
    from panel.io.state import state

    document = state.curdoc
    if document is not None and document.session_context is not None and not use_cdn():
        panel.reactive.CDN_DIST = LOCAL_DIST  # (a relative address: every page is /<slug>)


def _imported(target: str):
    """The object ``"package.module:name"`` names."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


HOME = "safetyviz.web.components.home"
BUILT_IN = (
    Page("home", "首页", "Home", f"{HOME}:create_home_app"),
    Page("overview", "总览", "Overview", "safetyviz.web.components.overview:create_overview_app",
         headline=f"{HOME}:overview_headline"),
    Page("county", "县区画像", "County profile",
         "safetyviz.web.components.county:create_county_app",
         headline=f"{HOME}:county_headline",
         warm="safetyviz.web.components.county:read_histories_ahead"),
    Page("enforcement", "执法", "Enforcement",
         "safetyviz.web.components.enforcement:create_enforcement_app",
         headline=f"{HOME}:enforcement_headline"),
    Page("riskmap", "安全风险四色图", "Four-colour risk map",
         "safetyviz.web.components.riskmap:create_riskmap_app",
         headline=f"{HOME}:riskmap_headline"),
    Page("monitoring", "重大危险源监测预警", "Major hazard monitoring",
         "safetyviz.web.components.monitoring:create_monitoring_app", proof="sites",
         headline=f"{HOME}:monitoring_headline"),
    Page("enterprise", "企业画像", "Enterprise profile",
         "safetyviz.web.components.enterprise:create_enterprise_app",
         headline=f"{HOME}:enterprise_headline"),
    Page("wall", "指挥大屏", "Wall screen", "safetyviz.web.components.wall:create_wall_app",
         framed=False),
)


def registered_pages() -> dict[str, Page]:
    """The built-in pages, then those of installed plugins, by slug."""
    pages = {page.slug: page for page in BUILT_IN}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        page = entry.load()
        where = f"entry point {entry.name!r} of group {ENTRY_POINT_GROUP}"
        if not isinstance(page, Page):
            raise UserError(f"{where}: a safetyviz.web.pages.Page expected, not "
                            f"{type(page).__name__}")
        if not SLUG.fullmatch(page.slug) or page.slug in pages:
            raise UserError(f"{where}: slug {page.slug!r} is taken or not a lower-case name")
        pages[page.slug] = page
    return pages


# Read once per process (a plugin installed later is served after a restart): the shell and
# the landing page list them on every session open.
PAGES: dict[str, Page] = registered_pages()

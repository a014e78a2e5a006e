"""The landing page (首页, also served at ``/``): the latest period's headline figures of the
user's area, each a link into the page that explains it, and a tile for every registered
page with its own headline figure (a page's ``headline``: see :class:`pages.Page`)."""

from __future__ import annotations

import html
import math
from urllib.parse import urlencode

import pandas as pd
import panel as pn
import param

from safetyviz.analysis.reference import province_online_rate
from safetyviz.core.errors import UserError
from safetyviz.core.i18n import LANGUAGE_NAMES, format_percent, text
from safetyviz.core.periods import period_label
from safetyviz.data.catalog import catalog_path, local_path
from safetyviz.data.regions import top_unit
from safetyviz.security.access import Access
from safetyviz.web.components.page import (
    asked_city,
    english_names,
    load_registers,
    open_page,
    shared_catalog,
    sync_with_url,
)
from safetyviz.web.live import MonitoringState
from safetyviz.web.pages import PAGES, Page, _imported
from safetyviz.web.state import MAP_METRICS, NoNone, OverviewState

HOME_CSS = """
:host {width: 100%;}
.home {font-family: system-ui, "Noto Sans CJK SC", sans-serif; color: #1b2631;
       padding: 6px 14px;}
.home h2 {font-size: 18px; margin: 8px 0; font-weight: 600;}
.home .cards, .home .tiles {display: grid; gap: 10px;
                            grid-template-columns: repeat(auto-fill, minmax(170px, 1fr));}
.home .tiles {grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); margin-top: 8px;}
.home a {text-decoration: none; color: inherit; display: block; border: 1px solid #d5d8dc;
         border-radius: 8px; padding: 10px 14px; background: #fdfefe;}
.home a:hover {border-color: #7d3c98; background: #f5eef8;}
.home .label {font-size: 13px; color: #566573;}
.home .value {font-size: 24px; font-weight: 600; white-space: nowrap;}
.home .change {font-size: 12px; color: #566573;}
.home .tile .name {font-size: 18px; font-weight: 600; color: #4a235a;}
.home .tile .figure {font-size: 14px; color: #1b2631; margin-top: 4px;}
"""


def _link(slug: str, lang: str, city: str | None = None, **query) -> str:
    query = {**({"city": city} if city else {}), **query,
             **({"lang": "en"} if lang == "en" else {})}
    return f"./{slug}" + (f"?{urlencode(query)}" if query else "")


class HomePage(pn.viewable.Viewer):
    """Headline cards and page tiles over one :class:`OverviewState` on its latest period."""

    state = param.ClassSelector(class_=OverviewState, allow_None=NoNone,
                                doc="The user's area, latest period.")
    access = param.ClassSelector(class_=Access, allow_None=NoNone, doc="Who is looking.")
    path = param.String(doc="The catalog the pages' headlines are read through.")
    pages = param.List(item_type=Page, doc="The pages to tile (every registered one but this).")
    city = param.String(default=None, allow_None=True,
                        doc="The city of a province entered (``?city=``), which the links "
                            "keep; None at the province or over a city's data.")

    def __init__(self, **params):
        super().__init__(**params)
        self.lang_switch = pn.widgets.RadioButtonGroup.from_param(
            self.state.param.lang, options=LANGUAGE_NAMES, name="", button_type="light",
            align="end")
        self.content = pn.pane.HTML(self._html(), stylesheets=[HOME_CSS],
                                    sizing_mode="stretch_width", margin=0)
        self.state.param.watch(lambda event: setattr(self.content, "object", self._html()),
                               "lang")

    def _html(self) -> str:
        state, lang = self.state, self.state.lang
        period = period_label(state.period, lang)
        cards = "".join(
            f'<a class="kpi" data-kpi="{html.escape(c["name"])}" href="'
            f'{html.escape(self._card_link(c["name"]))}"><div class="label">'
            f'{html.escape(c["label"])}</div><div class="value">{html.escape(c["value"])}</div>'
            f'<div class="change">{html.escape(text("vs_last_year", lang))} '
            f'{html.escape(c["change"])}</div></a>' for c in state.kpis())
        tiles = "".join(self._tile(page) for page in self.pages)
        heading = text("home_heading", lang).format(area=state.county_name(), period=period)
        return (f'<div class="home"><h2>{html.escape(heading)}</h2>'
                f'<div class="cards">{cards}</div>'
                f'<h2>{html.escape(text("pages", lang))}</h2>'
                f'<div class="tiles">{tiles}</div></div>')

    def _card_link(self, metric: str) -> str:
        """Where a headline figure is explained: the overview's map of it, else the area's
        profile, on the same period."""
        state = self.state
        if metric in MAP_METRICS:
            return _link("overview", state.lang, self.city, metric=metric, period=state.period)
        return _link("county", state.lang, self.city, period=state.period)

    def _tile(self, page: Page) -> str:
        lang = self.state.lang
        figure = ""
        if page.headline:
            try:
                found = _imported(page.headline)(self, lang)
            except (UserError, OSError, KeyError, ValueError):
                found = None  # a page without its data says so itself
            if found:
                figure = f'<div class="figure">{html.escape(found[0])}：' \
                         f'<b>{html.escape(found[1])}</b></div>'
        name = page.en if lang == "en" else page.zh
        return (f'<a class="tile" data-page="{html.escape(page.slug)}" '
                f'href="{html.escape(_link(page.slug, lang, self.city))}"><div class="name">'
                f'{html.escape(name)}</div>{figure}</a>')

    def __panel__(self):
        return self.content


# Headlines of the built-in pages (Page.headline): (label, figure) for the user's area.

def card_headline(metric: str):
    def headline(home: HomePage, lang: str) -> tuple[str, str] | None:
        card = next((c for c in home.state.kpis() if c["name"] == metric), None)
        return (card["label"], card["value"]) if card else None
    return headline


overview_headline = card_headline("hazards_found")
enforcement_headline = card_headline("fines_yuan")


def county_headline(home: HomePage, lang: str) -> tuple[str, str]:
    counties = [c for c in home.state.param.county.objects if c != home.state.city]
    return text("counties", lang), f"{len(counties):,}"


def riskmap_headline(home: HomePage, lang: str) -> tuple[str, str]:
    enterprises = home.access.restrict(load_registers(home.path, "enterprises")[0])
    red = int((enterprises["risk_level"].astype(str) == "red").sum())
    return text("red_risk_firms", lang), f"{red:,}"


def enterprise_headline(home: HomePage, lang: str) -> tuple[str, str]:
    enterprises = home.access.restrict(load_registers(home.path, "enterprises")[0])
    return text("enterprises", lang), f"{len(enterprises):,}"


def monitoring_headline(home: HomePage, lang: str) -> tuple[str, str] | None:
    sensors, sites, regions = load_registers(home.path, "sensors", "major_hazard_sites")
    sensors, sites = home.access.restrict(sensors), home.access.restrict(sites)
    if sites.empty:
        return None
    city, _ = top_unit(regions)
    province, _ = province_online_rate(city, pd.Timestamp("1900-01-01"), pd.Timestamp.now())
    state = MonitoringState(local_path("monitoring", shared_catalog(home.path)), sensors, sites,
                            province_rate=province)
    figures = state.kpis()
    return text("online_rate", lang), format_percent(figures["rate"], lang) + (
        "" if math.isnan(province) else
        f"（{text('province', lang)} {format_percent(province, lang)}）")


def create_home_app(catalog: str | None = None):
    """A new landing page for one session (or an alert saying what data is missing)."""
    path = str(catalog or catalog_path())

    def build(cat, cube, regions, access):
        state = OverviewState(cube, names_en=english_names(regions),
                              city_total=access.sees_whole)
        state.period = state.latest_period()
        sync_with_url(state)
        entered = access.area if access.area and access.area == asked_city() else None
        return HomePage(state=state, access=access, path=path, city=entered,
                        pages=[p for p in PAGES.values() if p.slug != "home"])

    return open_page(path, build)

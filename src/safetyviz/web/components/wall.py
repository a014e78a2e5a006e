"""The wall screen (指挥大屏, ``/wall``): the command centre's screen that nobody touches. Dark,
no controls, large type; it shows the views of :data:`WALL_VIEWS` in turn (``?views=overview,
monitoring&seconds=30``), keeps the monitoring view live (new readings every few seconds)
and the others current (rebuilt when the store changes), and shows the clock and how fresh
the data are.

Every view is built once and then only shown, hidden or updated in place: cycling sends a
few visibility flags, a refresh new data for the plots already drawn, so a wall runs for days
without its session growing (``benchmarks/wall.py`` measures 24 simulated hours).
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from dataclasses import dataclass

import holoviews as hv
import pandas as pd
import panel as pn
import param

from safetyviz.analysis.records import actions_by_type
from safetyviz.analysis.reference import province_online_rate
from safetyviz.core.errors import UserError
from safetyviz.core.i18n import text
from safetyviz.core.periods import period_label
from safetyviz.core.vocab import label
from safetyviz.data.catalog import catalog_path, local_path, version
from safetyviz.data.regions import top_unit
from safetyviz.security.access import Access
from safetyviz.web.components.enforcement import EnforcementState
from safetyviz.web.components.page import (
    english_names,
    firm_names,
    load_data,
    load_registers,
    shared_catalog,
    sync_with_url,
    unavailable,
    viewer_access,
)
from safetyviz.web.components.shell import data_freshness
from safetyviz.web.live import MonitoringState
from safetyviz.web.names import installation_names, sensor_names
from safetyviz.web.pages import PAGES
from safetyviz.web.riskmap import RISK_COLOURS, RISK_LEVELS, RiskMapState
from safetyviz.web.state import NoNone, OverviewState
from safetyviz.web.views import (
    action_types,
    choropleth,
    county_ranking,
    dual_prevention_bars,
    monthly_series,
    risk_map,
    sector_breakdown,
    sensor_curve,
    site_status_map,
)
from safetyviz.web.wall import WallState

hv.extension("bokeh", logo=False)

CLOCK_MS = 1000
READINGS_MS = 2000  # the monitoring view's new readings
STORE_MS = 15000  # a new version of the store (an ingest, a new cube) is looked for this often
ALARM_ROWS = 5  # the latest alarms listed
FONT_SCALE = 1.5  # the plots' type at scale 1: readable from 5 m on a 1920 px screen
BACKGROUND = "#0b1622"

# Sizes in vw / vh: the same wall reads the same on a 1920 and a 3840 px screen. The bands'
# heights are fixed, not taken from their content: a plot laid out before the text beside it
# has its final height is not laid out again (Bokeh), and would overflow the screen.
# Below NARROW (a phone opening the wall's link) the bands take their content's height and
# the plots stack: a page to scroll, not a screen.
HEADER_HEIGHT, CARDS_HEIGHT, NARROW = 7.5, 17, "800px"  # vh, vh, px
PLOTS_HEIGHT = f"calc(100vh - {HEADER_HEIGHT + CARDS_HEIGHT}vh - 1px)"  # (the header's rule)


def band(height: str, stack: bool = False) -> str:
    """A stylesheet fixing a band's height on a screen, freeing it (and stacking what is side
    by side) on a phone."""
    return (f":host {{height: {height}; overflow: hidden;}}\n"
            f"@media (max-width: {NARROW}) {{:host {{height: auto; overflow: visible;"
            " min-width: 0 !important;"  # (Bokeh's: the sum of what was side by side)
            f"{' flex-direction: column;' if stack else ''}}}}}")
WALL_CSS = f"""
html, body {{margin: 0; background: {BACKGROUND};}}
"""
HEADER_CSS = """
:host {width: 100%;}
.wall-head {display: flex; align-items: center; gap: 1.2vw; padding: 0.6vh 1.2vw;
            color: #eaf2f8; font-family: system-ui, "Noto Sans CJK SC", sans-serif;
            flex-wrap: wrap;}
.wall-head h1 {font-size: clamp(16px, 1.7vw, 96px); margin: 0; font-weight: 600;
               white-space: nowrap;}
.wall-head h1 .view {color: #76d7c4;}
.wall-head .steps {display: flex; flex-wrap: wrap; gap: 0.5vw; flex: 1 1 auto;}
.wall-head .steps span {font-size: clamp(11px, 0.85vw, 48px); color: #85929e;
                        padding: 0.2vh 0.5vw; border-radius: 4px; white-space: nowrap;}
.wall-head .steps span.on {color: #0b1622; background: #76d7c4;}
@media (max-width: 800px) {.wall-head h1 {white-space: normal;}}
"""
CLOCK_CSS = """
:host {margin-left: auto;}
.wall-clock {text-align: right; color: #eaf2f8; padding: 0.4vh 1.2vw;
             font-family: system-ui, "Noto Sans CJK SC", sans-serif; white-space: nowrap;}
.wall-clock .time {font-size: clamp(16px, 1.7vw, 96px); font-variant-numeric: tabular-nums;}
.wall-clock .fresh {font-size: clamp(10px, 0.75vw, 40px); color: #aab7b8;}
"""
CARDS_CSS = """
:host {width: 100%;}
.wall-cards {display: flex; flex-wrap: wrap; gap: 0.8vw; padding: 1vh 1.2vw 0;}
.wall-card {flex: 1 1 0; min-width: 120px; background: #14222f; border-radius: 6px;
            padding: 0.8vh 0.9vw; border-left: 4px solid #76d7c4;}
.wall-card .label {font-size: clamp(12px, 0.95vw, 52px); color: #aab7b8;}
.wall-card .value {font-size: clamp(18px, 1.9vw, 104px); font-weight: 600; color: #fdfefe;
                   white-space: nowrap; font-variant-numeric: tabular-nums;}
.wall-card .change {font-size: clamp(10px, 0.75vw, 40px); color: #aab7b8;}
.wall-note {font-size: clamp(11px, 0.8vw, 44px); color: #aab7b8; padding: 0.4vh 1.2vw 0;}
"""
ALARMS_CSS = """
:host {width: 100%;}
.wall-alarms {color: #eaf2f8; font-family: system-ui, "Noto Sans CJK SC", sans-serif;
              padding: 0 0.6vw;}
.wall-alarms h2 {font-size: clamp(13px, 1.1vw, 60px); margin: 0.6vh 0; font-weight: 600;}
.wall-alarms table {width: 100%; border-collapse: collapse;
                    font-size: clamp(11px, 0.9vw, 48px);}
.wall-alarms td, .wall-alarms th {padding: 0.5vh 0.4vw; text-align: left;
                                  border-bottom: 1px solid #1f3347;}
.wall-alarms th {color: #aab7b8; font-weight: 400;}
.wall-alarms .high_high {color: #ff6b5b; font-weight: 600;}
.wall-alarms .high {color: #f8c471;}
.wall-alarms .none {color: #aab7b8;}
"""


def cards_html(cards: list[dict], note: str = "") -> str:
    """Headline cards in wall type (every text escaped: names come from data); a card may
    carry a ``colour`` (its edge: a risk level's own colour)."""
    items = "".join(
        f'<div class="wall-card" data-kpi="{html.escape(c["name"])}"'
        + (f' style="border-left-color:{html.escape(c["colour"])}"' if c.get("colour") else "")
        + f'><div class="label">{html.escape(c["label"])}</div>'
        f'<div class="value">{html.escape(c["value"])}</div>'
        f'<div class="change">{html.escape(c.get("change", ""))}</div></div>'
        for c in cards)
    extra = f'<div class="wall-note">{html.escape(note)}</div>' if note else ""
    return f'<div class="wall-cards">{items}</div>{extra}'


@dataclass
class WallData:
    """What the views of one wall are built from: the catalog and who is looking."""

    path: str
    access: Access
    lang: str
    fontscale: float

    def plot(self, element, **opts) -> pn.pane.HoloViews:
        """``element`` in wall type, filling its share of the screen."""
        return pn.pane.HoloViews(element.opts(fontscale=self.fontscale, toolbar=None,
                                              default_tools=[], **opts),
                                 sizing_mode="stretch_both", min_height=200, min_width=160,
                                 margin=(0, 8))  # no vertical margin: it would overflow


class WallView(pn.viewable.Viewer):
    """One view of the wall: cards over a row of plots, built by :meth:`build` and built
    again when the store it reads changes (:meth:`sources`)."""

    data = param.ClassSelector(class_=WallData, allow_None=NoNone,
                               doc="The catalog, the user, language and type.")
    tables: tuple[str, ...] = ("cube",)  # what the view reads (a new version: built again)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.layout = pn.Column(sizing_mode="stretch_both", margin=0, stylesheets=[
            f"@media (max-width: {NARROW}) {{:host {{min-width: 0 !important;}}}}"])
        self.built_from: tuple[str, ...] | None = None
        self.rebuild()

    def sources(self) -> tuple[str, ...]:
        """The versions of the tables this view reads (a change means: build again)."""
        cat = shared_catalog(self.data.path)
        return tuple(version(table, cat) for table in self.tables)

    def rebuild(self) -> bool:
        """Build the view again if what it reads changed; whether it did."""
        sources = self.sources()
        if sources == self.built_from:
            return False
        cards, plots = self.build()
        cards.stylesheets = [*cards.stylesheets, band(f"{CARDS_HEIGHT}vh")]
        self.layout.objects = [cards, pn.Row(*plots, sizing_mode="stretch_both", margin=0,
                                             stylesheets=[band(PLOTS_HEIGHT, stack=True)])]
        self.built_from = sources
        return True

    def build(self) -> tuple[pn.viewable.Viewable, list]:
        """The view's cards and its plots, side by side (each view says what they are)."""
        raise NotImplementedError(f"{type(self).__name__} builds nothing")

    def refresh(self) -> None:
        """Take in new data arriving between store versions (live views only)."""

    def __panel__(self):
        return self.layout

    def _cards(self, cards: list[dict], note: str = "") -> pn.pane.HTML:
        return pn.pane.HTML(cards_html(cards, note), stylesheets=[CARDS_CSS],
                            sizing_mode="stretch_width", margin=0)


def _cube_state(data: WallData, state_class=OverviewState, **params):
    """A state over the store's cube cut down to the user's counties, on its latest
    period."""
    cat = shared_catalog(data.path)
    cube, regions = load_data(data.path, version("cube", cat))
    cube, regions = data.access.restrict_cube(cube), data.access.restrict(regions)
    state = state_class(cube, names_en=english_names(regions),
                        city_total=data.access.sees_whole, lang=data.lang, **params)
    state.period = state.latest_period()
    return state, regions


def _caption(state: OverviewState) -> str:
    return f"{state.county_name()} · {period_label(state.period, state.lang)}"


class OverviewWall(WallView):
    """The latest period's headline figures, hazards found by county on the map and ranked,
    and the series by month."""

    def build(self):
        state, regions = _cube_state(self.data, metric="hazards_found")
        lang = state.lang
        cards = [dict(card, change=f'{text("vs_last_year", lang)} {card["change"]}')
                 for card in state.kpis()]
        values = state.county_values().to_series()
        names = state.county_names()
        plots = [self.data.plot(choropleth(
            regions, values, label=state.metric_label, units=state.metric_units,
            title=text("map_title", lang).format(period=period_label(state.period, lang),
                                                 metric=state.metric_label),
            names=names, lang=lang), min_height=None)]
        if len(regions) > 1:
            plots.append(self.data.plot(county_ranking(
                values, names, label=state.metric_label, units=state.metric_units,
                title=text("ranking_title", lang).format(metric=state.metric_label),
                lang=lang)))
        plots.append(self.data.plot(monthly_series(
            state.monthly(), label=state.metric_label, units=state.metric_units,
            title=text("series_title", lang).format(county=state.county_name(),
                                                    metric=state.metric_label),
            highlight=state.bounds, lang=lang)))
        return self._cards(cards, _caption(state)), plots


class EnforcementWall(WallView):
    """The latest period's enforcement figures, fines by month and sector, actions by
    type."""

    tables = ("cube", "enforcement_actions")

    def build(self):
        state, _ = _cube_state(self.data, EnforcementState)
        lang = state.lang
        cards = [dict(card, change=f'{text("vs_last_year", lang)} {card["change"]}')
                 for card in state.kpis()]
        start, end = state.bounds
        period = period_label(state.period, lang)
        actions = actions_by_type(state.scope, start, end, shared_catalog(self.data.path))
        plots = [
            self.data.plot(monthly_series(
                state.monthly(), label=state.metric_label, units=state.metric_units,
                title=text("series_title", lang).format(county=state.county_name(),
                                                        metric=state.metric_label),
                highlight=state.bounds, lang=lang)),
            self.data.plot(sector_breakdown(
                state.sector_values(), label=state.metric_label, units=state.metric_units,
                title=text("sector_title", lang).format(county=state.county_name(),
                                                        metric=state.metric_label),
                lang=lang)),
            self.data.plot(action_types(actions, lang=lang, title=text(
                "actions_title", lang).format(county=state.county_name(), period=period)))]
        return self._cards(cards, _caption(state)), plots


class RiskMapWall(WallView):
    """Enterprises by risk level on the map (the four colours, and only there), major hazard
    installations, dual prevention by county."""

    tables = ("enterprises", "major_hazard_sites", "regions")

    def build(self):
        enterprises, sites, regions = load_registers(self.data.path, "enterprises",
                                                     "major_hazard_sites")
        access, lang = self.data.access, self.data.lang
        city, _ = top_unit(regions)
        enterprises, sites, regions = (access.restrict(enterprises), access.restrict(sites),
                                       access.restrict(regions))
        counties = list(regions["adcode"])
        state = RiskMapState(enterprises, sites, city, counties, city_total=access.sees_whole,
                             lang=lang, names={"zh": dict(zip(counties, regions["name_zh"])),
                                               "en": dict(zip(counties, regions["name_en"]))})
        counts = state.level_counts()
        cards = [{"name": f"risk_{code}", "label": label("risk_level", code, lang),
                  "value": f"{counts[code]:,}", "colour": RISK_COLOURS[code]}
                 for code in RISK_LEVELS]
        cards.append({"name": "major_hazard_sites", "label": text("major_hazard_sites", lang),
                      "value": f"{len(state.sites):,}"})
        area = state.city if state.city_total else state.county
        points = state.points()
        names = {a: state.county_name(a) for a in state.param.county.objects}
        plots = [
            self.data.plot(risk_map(
                regions, points, state.sites, RISK_COLOURS, ink="#f4f6f6", lang=lang,
                title=text("riskmap_title", lang).format(county=state.county_name(area),
                                                         n=f"{len(points):,}")),
                min_height=None),
            self.data.plot(dual_prevention_bars(state.dual_prevention(), names,
                                                title=text("dual_title", lang), lang=lang))]
        return self._cards(cards), plots


class MonitoringWall(WallView):
    """Installations online on the map, the online rate, the latest alarms: live."""

    tables = ("sensors", "major_hazard_sites", "enterprises", "regions")

    def build(self):
        access, lang = self.data.access, self.data.lang
        sensors, sites, firms, regions = load_registers(self.data.path, "sensors",
                                                        "major_hazard_sites", "enterprises")
        city, _ = top_unit(regions)
        sensors, sites = access.restrict(sensors), access.restrict(sites)
        firms, regions = access.restrict(firms), access.restrict(regions)
        province, _ = province_online_rate(city, pd.Timestamp("1900-01-01"), pd.Timestamp.now())
        self.state = state = MonitoringState(
            local_path("monitoring", shared_catalog(self.data.path)), sensors, sites,
            province_rate=province, lang=lang, window="24h")
        self.regions = regions
        self.firm_names = firm_names(firms)
        self.installations = installation_names(sites, self.firm_names, lang)
        self.sensors = sensor_names(sensors, lang)
        self.cards = pn.pane.HTML(self._cards_html(), stylesheets=[CARDS_CSS],
                                  sizing_mode="stretch_width", margin=0)
        self.alarms = pn.pane.HTML(self._alarms_html(), stylesheets=[ALARMS_CSS],
                                   sizing_mode="stretch_both", margin=(0, 8))
        self._watch_latest_alarm()
        state.param.watch(self._follow, "loads")
        # redrawn only when an installation goes on- or offline, not at every reading
        site_map = hv.DynamicMap(pn.bind(self._map, state.param.status_changes))
        curve = hv.DynamicMap(pn.bind(self._curve, state.param.loads, state.param.sensor))
        side = pn.Column(self.alarms, self.data.plot(curve, min_height=None),
                         sizing_mode="stretch_both", margin=0)
        return self.cards, [self.data.plot(site_map, min_height=None), side]

    def _watch_latest_alarm(self) -> None:
        """The curve shows the sensor of the latest alarm (the first sensor when none)."""
        alarms = self.state.alarms()
        if len(alarms):
            latest = alarms.iloc[0]
            self.state.param.update(site=str(latest["site_id"]))
            self.state.sensor = str(latest["sensor_id"])

    def _curve(self, loads: int, sensor: str | None):
        state = self.state
        if sensor is None:
            return hv.Curve([]).opts(title=text("no_sensors", state.lang), responsive=True)
        high, high_high, unit = state.thresholds()
        kind = label("sensor_kind", state.sensors.loc[sensor, "kind"], state.lang)
        title = f"{self.installations.get(state.site, state.site)} · {self.sensors[sensor]}"
        return sensor_curve(state.curve(), high, high_high, title=title, code=sensor,
                            label=kind, units=unit, lang=state.lang)

    def refresh(self) -> None:
        self.state.refresh()

    def _follow(self, event) -> None:
        self._watch_latest_alarm()
        self.cards.object = self._cards_html()
        self.alarms.object = self._alarms_html()

    def _cards_html(self) -> str:
        lang, cards = self.state.lang, self.state.cards()
        latest = pd.Timestamp(self.state.as_of)
        return cards_html(cards, text("as_of", lang).format(time=f"{latest:%Y-%m-%d %H:%M}"))

    def _alarms_html(self) -> str:
        lang = self.state.lang
        alarms = self.state.alarms().head(ALARM_ROWS)
        heads = "".join(f"<th>{html.escape(text(k, lang))}</th>"
                        for k in ("start", "enterprise", "sensor", "level", "peak"))
        rows = "".join(
            f'<tr><td>{a.start:%m-%d %H:%M}</td>'
            f'<td>{html.escape(self.installations.get(a.site_id, a.site_id))}</td>'
            f'<td>{html.escape(self.sensors.get(a.sensor_id, a.sensor_id))}</td>'
            f'<td class="{html.escape(a.level)}">{html.escape(text(a.level, lang))}'
            f'{"（" + text("ongoing", lang) + "）" if a.ongoing and lang == "zh" else ""}'
            f'{" (" + text("ongoing", lang) + ")" if a.ongoing and lang == "en" else ""}</td>'
            f'<td>{a.peak:.2f} {html.escape(a.unit)}</td></tr>'
            for a in alarms.itertuples(index=False))
        if not rows:
            rows = f'<tr><td class="none" colspan="5">{html.escape(text("no_alarms", lang))}' \
                   f'</td></tr>'
        return (f'<div class="wall-alarms"><h2>{html.escape(text("alarm_list", lang))}</h2>'
                f'<table><tr>{heads}</tr>{rows}</table></div>')

    def _map(self, status_changes: int):
        return site_status_map(self.regions, self.state.site_status(self.installations),
                               title=text("site_map_title", self.state.lang),
                               size=round(16 * self.data.fontscale), lang=self.state.lang)


# The views a wall can show, in their default order, by the slug of the page they stand for
# (their titles are the pages'): a new view is one entry here.
WALL_VIEWS: dict[str, Callable[..., WallView]] = {
    "overview": OverviewWall,
    "monitoring": MonitoringWall,
    "enforcement": EnforcementWall,
    "riskmap": RiskMapWall,
}


class Wall(pn.viewable.Viewer):
    """The wall: a header (the area, the views in turn, clock and freshness) over the view on
    screen; cycling, live readings and the store's changes on periodic callbacks."""

    state = param.ClassSelector(class_=WallState, allow_None=NoNone,
                                doc="The programme and the view on screen.")
    data = param.ClassSelector(class_=WallData, allow_None=NoNone,
                               doc="The catalog, the user, language, type.")
    area = param.String(default="", doc="The name of the area shown (the city or the "
                                        "user's county).")

    def __init__(self, **params):
        super().__init__(**params)
        self.views = {slug: WALL_VIEWS[slug](data=self.data) for slug in self.state.views}
        self.header = pn.pane.HTML(self._header_html(), stylesheets=[HEADER_CSS],
                                   sizing_mode="stretch_width", margin=0)
        self.clock = pn.pane.HTML(self._clock_html(), stylesheets=[CLOCK_CSS], margin=0)
        self._freshness = self._fresh_text()
        self._show()

    def _title(self, slug: str) -> str:
        page = PAGES[slug]
        return page.en if self.state.lang == "en" else page.zh

    def _header_html(self) -> str:
        lang = self.state.lang
        wall = text("wall", lang)
        steps = "".join(
            f'<span class="{"on" if i == self.state.showing else ""}">'
            f'{html.escape(self._title(slug))}</span>'
            for i, slug in enumerate(self.state.views))
        area = f"{self.area} " if self.area and lang == "zh" else ""
        return (f'<header class="wall-head"><h1>{html.escape(area + wall)} · '
                f'<span class="view">{html.escape(self._title(self.state.current))}</span>'
                f'</h1><div class="steps">{steps}</div></header>')

    def _fresh_text(self) -> str:
        try:
            latest, _ = data_freshness(self.data.path)
        except (UserError, OSError, KeyError):
            latest = None
        return text("data_as_of", self.state.lang).format(date=latest) if latest else ""

    def _clock_html(self, now: float | None = None) -> str:
        fresh = getattr(self, "_freshness", "")
        return (f'<div class="wall-clock"><div class="time">'
                f'{time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))}</div>'
                f'<div class="fresh">{html.escape(fresh)}</div></div>')

    def _show(self) -> None:
        for slug, view in self.views.items():
            view.layout.visible = slug == self.state.current

    def tick(self, now: float | None = None) -> None:
        """The clock, once a second (``now``: a POSIX time, else the present)."""
        self.clock.object = self._clock_html(now)

    def advance(self) -> None:
        """The next view on screen."""
        self.state.advance()
        self._show()
        self.header.object = self._header_html()

    def refresh_readings(self) -> None:
        if "monitoring" in self.views:
            self.views["monitoring"].refresh()

    def refresh_store(self) -> None:
        """Views whose tables changed are built again; the freshness follows."""
        if any([view.rebuild() for view in self.views.values()]):
            self._freshness = self._fresh_text()

    def start(self) -> None:
        """The periodic callbacks of a served session (they end with it)."""
        if pn.state.curdoc is None or pn.state.curdoc.session_context is None:
            return
        pn.state.add_periodic_callback(self.tick, period=CLOCK_MS)
        pn.state.add_periodic_callback(self.advance, period=self.state.seconds * 1000)
        if "monitoring" in self.views:
            pn.state.add_periodic_callback(self.refresh_readings, period=READINGS_MS)
        pn.state.add_periodic_callback(self.refresh_store, period=STORE_MS)

    def __panel__(self):
        top = pn.Row(self.header, self.clock, sizing_mode="stretch_width", margin=0,
                     styles={"border-bottom": "1px solid #1f3347"},
                     stylesheets=[band(f"{HEADER_HEIGHT}vh", stack=True)])
        return pn.Column(top, *(view.layout for view in self.views.values()),
                         sizing_mode="stretch_both", margin=0,
                         styles={"background": BACKGROUND},
                         stylesheets=[band("100vh")])


def _area_name(data: WallData) -> str:
    """The city's name (a city user's, in a province), or the user's counties' when they
    see only those."""
    regions = data.access.restrict(load_registers(data.path)[0])
    if not data.access.all_counties and data.access.role != "city" and not data.access.area:
        return "、".join(str(n) for n in regions["name_zh"])
    return top_unit(regions)[1]


def create_wall_app(catalog: str | None = None):
    """A new wall for one session (or an alert saying what data is missing)."""
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        # this session's own settings (in a notebook they would be everyone's)
        setattr(pn.config, "theme", "dark")  # noqa: B010 (a property to Panel's types)
        pn.config.raw_css = [*pn.config.raw_css, WALL_CSS]
    try:
        access = viewer_access(str(catalog or catalog_path()))
        state = WallState(list(WALL_VIEWS))
        sync_with_url(state)
        scale = float(state.scale)
        data = WallData(path=str(catalog or catalog_path()), access=access, lang=state.lang,
                        fontscale=FONT_SCALE * scale)
        wall = Wall(state=state, data=data, area=_area_name(data))
    except (UserError, PermissionError) as exc:
        return unavailable(exc)
    wall.start()
    return wall


__all__ = ["WALL_VIEWS", "Wall", "create_wall_app"]

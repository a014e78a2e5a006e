"""What the dashboard pages share: the cube loaded once per version, the headline cards, the
selection kept in the URL, the county / period / language controls with the cards and the
monthly series they drive, a province's data seen at a level (its cities, or one city's
units) with the breadcrumb between them, and a page opened for one session."""

from __future__ import annotations

import contextlib
import contextvars
import html
import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import holoviews as hv
import panel as pn
import param
from bokeh.models import CustomJS
from bokeh.models.widgets import Div  # not in bokeh.models' static exports
from panel.reactive import ReactiveHTML

from safetyviz.analysis.cube import PerCube
from safetyviz.core import settings
from safetyviz.core.cache import LRU
from safetyviz.core.errors import UserError
from safetyviz.core.i18n import LANGUAGE_NAMES, text
from safetyviz.core.paths import tile_url
from safetyviz.core.periods import period_label
from safetyviz.data.catalog import catalog_path, open_catalog, version
from safetyviz.data.engine import ClusterUnavailable, cluster_answers, compute
from safetyviz.data.loading import load_cube, load_regions, load_table
from safetyviz.data.regions import unmapped_names
from safetyviz.security.access import LOCAL, Access
from safetyviz.web.components.inplace import SharedPlot
from safetyviz.web.state import NoNone, OverviewState
from safetyviz.web.views import monthly_series, sector_breakdown

log = logging.getLogger("safetyviz.web.pages")

hv.extension("bokeh", logo=False)


@contextlib.contextmanager
def settled_once(doc):
    """Bokeh walks a document's whole model graph (``doc.models.recompute``, ~20 ms for a
    dashboard) after each change of a model reference, and Panel after each of its own
    updates that hold one; within this block it walks it at most once, at the end, and not
    at all when only data and text changed (an update in place)."""
    models = getattr(doc, "models", None)
    if models is None or models._freeze_count:  # (within another: that one settles)
        yield
        return
    touched = []
    push = models._push_freeze

    def push_freeze() -> None:
        touched.append(True)
        push()

    models._freeze_count += 1  # invalidations and inner freezes wait for the end
    models._push_freeze = push_freeze
    models.invalidate = lambda: touched.append(True)
    try:
        yield
    finally:
        del models._push_freeze, models.invalidate
        models._freeze_count -= 1
        if touched and not models._freeze_count:
            models.recompute()


def hold_each_change() -> None:
    """Apply each change a browser sends (a widget's value, a click on a plot) with the
    session's document held — its messages sent together — and its model graph walked at
    most once (:func:`settled_once`). Panel holds only where asked."""
    from panel.io.document import hold
    from panel.reactive import Syncable

    if getattr(Syncable._change_event, "safetyviz", False):
        return
    change_event, bokeh_event = Syncable._change_event, Syncable._process_bokeh_event

    def held_change(self, doc):
        with hold(doc), settled_once(doc):
            change_event(self, doc)

    def held_bokeh_event(self, doc, event):
        with hold(doc), settled_once(doc):
            bokeh_event(self, doc, event)

    held_change.safetyviz = True  # type: ignore[attr-defined]  # marks Panel's as patched
    Syncable._change_event = held_change  # type: ignore[method-assign]  # patching Panel
    Syncable._process_bokeh_event = held_bokeh_event  # type: ignore[method-assign]


hold_each_change()


@pn.cache(max_items=4)
def _parsed_catalog(path: str, stamp: tuple):
    return open_catalog(Path(path))


def shared_catalog(path: str):
    """The catalog at ``path``, parsed once per version of the file for all sessions."""
    try:
        stat = os.stat(path)
    except OSError:
        return open_catalog(Path(path))  # says what is missing
    return _parsed_catalog(path, (stat.st_mtime_ns, stat.st_size, stat.st_ino))


@pn.cache(max_items=2)
def load_data(path: str, cube_version: str):
    """Cube and regions, loaded once per cube version and shared by all sessions; a new
    cube (after `safetyviz demo`, `cube` or an ingest) is picked up by the next session."""
    cat = open_catalog(Path(path))
    return load_cube(cat), load_regions(cat)


@pn.cache(max_items=2)
def load_hierarchy(path: str, regions_version: str):
    """Every level of the regions (a province's cities and the province too), with their
    boundaries, loaded once per version of the regions."""
    return load_regions(open_catalog(Path(path)), upper=True)


# The cube of a province's data seen at a level (its cities; one city's units), per cube.
_LEVELS = PerCube(size=64)


@dataclass(frozen=True)
class Level:
    """Where in a province's data a page is: ``path`` from the province down ((adcode,
    Chinese name, English name) each) and the units one level below it that can be entered
    (a province's cities), the same triples."""

    path: tuple[tuple[str, str, str], ...]
    below: tuple[tuple[str, str, str], ...] = ()

    @property
    def by_city(self) -> bool:
        """Whether the units shown are cities (the province's view)."""
        return bool(self.below)

    @property
    def here(self) -> str:
        """The adcode of where the page is (the province or one of its cities)."""
        return self.path[-1][0]

    def enterable(self, adcode: str) -> bool:
        return any(unit == adcode for unit, _, _ in self.below)


@dataclass(frozen=True)
class Province:
    """A province's data as levels: the province, and each of its units' city (a unit the
    province administers itself is its own)."""

    top: tuple[str, str, str]
    groups: dict[str, str]
    cities: tuple[tuple[str, str, str], ...]  # every city, by adcode
    enterable: tuple[tuple[str, str, str], ...]  # those with units of their own


def _province(hierarchy) -> Province | None:
    """The province of ``hierarchy``; None when the data are not a province's with cities
    (a city's data: seen as they are)."""
    from safetyviz.data.regions import groups_below

    top = hierarchy[hierarchy["level"] == "province"]
    if len(top) != 1:
        return None
    province = str(top["adcode"].iloc[0])
    groups = groups_below(hierarchy, province)
    cities = sorted(set(groups.values()))
    if len(cities) < 2 or set(groups.values()) == set(groups):  # no level in between
        return None
    names = dict(zip(hierarchy["adcode"].astype(str), hierarchy["name_zh"].astype(str)))
    names_en = dict(zip(hierarchy["adcode"].astype(str), hierarchy["name_en"].astype(str)))

    def named(adcode: str) -> tuple[str, str, str]:
        return adcode, names[adcode], str(names_en.get(adcode, names[adcode]))

    return Province(named(province), groups, tuple(named(c) for c in cities),
                     tuple(named(c) for c in cities
                           if any(g == c and u != c for u, g in groups.items())))


@pn.cache(max_items=2)
def province_of(path: str, regions_version: str) -> Province | None:
    """:func:`_province` of the catalog's regions, once per version of them (every page
    open of a user who sees everything asks)."""
    return _province(load_hierarchy(path, regions_version))


def at_level(cube, regions, hierarchy, city: str | None,
             province: Province | None = None):
    """(cube, regions, :class:`Level`) of a province's data seen from the province (its
    cities are the units: the cube summed by city, their boundaries) or from one of its
    ``city`` (that city's units); None when the data are not a province's with cities (a
    city's data: seen as they are). A ``city`` that is not one of the province's is the
    province (it came from a URL). ``province``: the hierarchy's, if already made."""
    from safetyviz.analysis.indicators import rolled_up

    province = province or _province(hierarchy)
    if province is None:
        return None
    entered = next((c for c in province.enterable if c[0] == city), None)
    if entered is not None:
        units = [a for a in regions["adcode"] if province.groups.get(a) == city]
        seen = _LEVELS.get(cube, ("city", city), lambda: cube.sel(adcode=units).assign_attrs(
            city_adcode=city))
        return (seen, regions[regions["adcode"].isin(units)].reset_index(drop=True),
                Level((province.top, entered)))
    names = {adcode: zh for adcode, zh, _ in (province.top, *province.cities)}
    seen = _LEVELS.get(cube, ("province",), lambda: rolled_up(cube, province.groups, names))
    shapes = hierarchy[hierarchy["adcode"].isin([c[0] for c in province.cities])]
    return (seen, shapes.sort_values("adcode").reset_index(drop=True),
            Level((province.top,), province.enterable))


def unit_cities(path: str, regions) -> dict[str, tuple[str, str, str]]:
    """The city of each of ``regions``' units over a province's data, (adcode, Chinese name,
    English name) by the unit's adcode (what a page's choice of county is grouped by); empty
    for a city's data or when the regions are not a province's units."""
    try:
        province = province_of(path, version("regions", shared_catalog(path)))
    except (UserError, OSError, KeyError):
        return {}
    if province is None:
        return {}
    cities = {city[0]: city for city in province.cities}
    return {unit: cities[province.groups[unit]] for unit in map(str, regions["adcode"])
            if province.groups.get(unit) in cities}


def show_county_choices(select: pn.widgets.Select, state) -> None:
    """``select`` (of ``state.county``) relabelled in the state's language: its units by
    name, grouped by city over a province's data (:meth:`UnitsState.county_groups`); the
    current value in the same update (a Select whose options change alone falls back to the
    first one)."""
    groups = state.county_groups()
    select.param.update(name=text("county", state.lang), value=state.county,
                        options=[] if groups else {
                            state.county_name(a): a for a in state.param.county.objects},
                        groups=groups or None)


def asked_city() -> str | None:
    """The ``city`` of the page's address (checked where it is used: only one of the
    province's cities is taken)."""
    values = (pn.state.session_args or {}).get("city") or []
    return values[-1].decode("utf-8", "replace")[:12] if values else None


def level_of(access: Access, path: str, city: str | None) -> tuple[Access, Level | None]:
    """Where a user who sees all of a province's data is, and what they see there: the
    province (``access`` as it is; its cities to enter), or the ``city`` asked for (the URL's
    ``?city=``), ``access`` narrowed to that city's units with the city's totals — a page
    then reads nothing beyond them. Anyone else, or a city's data: as they are, no level.
    A URL can only narrow what a session sees, never widen it."""
    if not access.all_counties:
        return access, None
    try:
        province = province_of(path, version("regions", shared_catalog(path)))
    except (UserError, OSError, KeyError):
        return access, None
    if province is None:
        return access, None
    entered = next((c for c in province.enterable if c[0] == city), None)
    if entered is None:
        return access, Level((province.top,), province.enterable)
    units = tuple(sorted(u for u, g in province.groups.items() if g == city and u != city))
    return (Access(access.user, access.role, units, area=city),
            Level((province.top, entered)))


def session_level(access: Access, path: str, refusals: bool = False
                  ) -> tuple[Access, Level | None]:
    """:func:`level_of` this session's address (``?city=``); with ``refusals``, a city
    asked for that the province has not is logged as a rejected query."""
    asked = asked_city()
    seen, level = level_of(access, path, asked)
    if refusals and asked and level is not None and level.here != asked:
        audit("rejected_query", query={"city": asked})
    return seen, level


def viewer_access(path: str) -> Access:
    """What this session sees on a page that does not use :func:`open_page`: its user's
    access narrowed to the city its address asks for (:func:`session_level`)."""
    return session_level(session_access(), path, refusals=True)[0]


def level_html(level: Level, lang: str, selected: str | None = None,
               selected_name: str = "", keep: dict[str, str] | None = None) -> str:
    """The breadcrumb of ``level`` (each step above a link to it) and, at the province, a
    link into the ``selected`` city (named ``selected_name``), or without one a link into
    each city; links are the page's own address with ``?city=`` and what else of the
    selection they ``keep`` (period, metric)."""
    def href(city: str | None) -> str:
        query = {**({"city": city} if city else {}), **(keep or {}), "lang": lang}
        return html.escape("?" + urlencode(query))

    def name(zh: str, en: str) -> str:
        return html.escape(en if lang == "en" else zh)

    steps = []
    for index, (adcode, zh, en) in enumerate(level.path):
        if index == len(level.path) - 1:
            steps.append(f"<b>{name(zh, en)}</b>")
        else:
            steps.append(f'<a href="{href(adcode if index else None)}">{name(zh, en)}</a>')
    parts = [" › ".join(steps)]
    if selected is not None:
        if level.enterable(selected):
            link = html.escape(text("enter_city", lang).format(name=selected_name))
            parts.append(f'<a class="enter" href="{href(selected)}">{link}</a>')
    elif level.below:
        links = " · ".join(f'<a href="{href(adcode)}">{name(zh, en)}</a>'
                           for adcode, zh, en in level.below)
        parts.append(f'<span class="enter">{html.escape(text("enter_a_city", lang))}'
                     f"</span>{links}")
    return '<div class="levels">' + "　".join(parts) + "</div>"


LEVELS_CSS = """
.levels {font-size: 14px; color: #566573; padding: 2px 0;}
.levels a {color: #1f618d; text-decoration: none;}
.levels .enter {margin-left: 1em; font-weight: 600;}
"""


@pn.cache(max_items=4)
def _registers(path: str, tables: tuple[str, ...], versions: tuple[str, ...]):
    cat = shared_catalog(path)
    return (*[compute(load_table(table, catalog=cat)) for table in tables], load_regions(cat))


def load_registers(path: str, *tables: str):
    """The small tables ``tables`` (registers: enterprises, sites, sensors) and the regions
    of the catalog at ``path``, loaded once per version of those tables for all sessions."""
    cat = shared_catalog(path)
    return _registers(path, tables, tuple(version(table, cat) for table in tables))


KPI_CSS = """
.kpis {display: flex; flex-wrap: wrap; gap: 8px; margin: 4px 10px;}
.kpi {flex: 1 1 130px; border: 1px solid #e5e7e9; border-radius: 6px; padding: 6px 10px;
      background: #fdfefe;}
.kpi .label {font-size: 13px; color: #566573;}
.kpi .value {font-size: 22px; font-weight: 600; color: #1b2631; white-space: nowrap;}
.kpi .change {font-size: 12px; color: #566573;}
"""


def kpi_html(cards: list[dict], caption: str) -> str:
    """The headline cards as HTML; every text is escaped (county names come from data)."""
    items = "".join(
        f'<div class="kpi" data-kpi="{html.escape(c["name"])}">'
        f'<div class="label">{html.escape(c["label"])}</div>'
        f'<div class="value">{html.escape(c["value"])}</div>'
        f'<div class="change">{html.escape(caption)} {html.escape(c["change"])}</div></div>'
        for c in cards)
    return f'<div class="kpis">{items}</div>'


def sync_with_url(state) -> None:
    """Keep the selection in the page's URL query (``?county=411002&period=2020Q1``): a link
    reproduces the view and the back button returns to the previous one. Values from the URL
    are checked against the allowed ones (:meth:`PageState.apply_query`)."""
    # The request's own arguments: there before the first render (the location's query is
    # filled in by the browser a moment later).
    def apply(query: dict) -> None:
        ignored = state.apply_query(query)
        if ignored:
            audit("rejected_query", query={k: str(query[k])[:100] for k in ignored})

    apply({key: values[-1].decode("utf-8", "replace")
           for key, values in (pn.state.session_args or {}).items() if values})
    location = pn.state.location
    if location is None:
        return

    def to_url(*events) -> None:
        if location.query_params != state.query():
            location.update_query(**state.query())

    def from_url(event) -> None:
        apply(location.query_params)

    state.param.watch(to_url, list(state.query()))
    location.param.watch(from_url, "search")
    to_url()
    # Panel pushes each change onto the history but does not listen for the back button: a
    # step back loads the page again, and the URL it lands on restores that view.
    if pn.state.curdoc is not None:
        pn.state.curdoc.js_on_event("document_ready", CustomJS(code=(
            "window.addEventListener('popstate', () => window.location.reload());")))


# Whose pages are built outside any served session (the server warming up, before it
# serves): set only by :func:`built_as`, never from a request.
_UNSERVED_ACCESS: contextvars.ContextVar[Access | None] = contextvars.ContextVar(
    "unserved_access", default=None)


@contextlib.contextmanager
def built_as(access: Access):
    """Pages built in this block outside a served session are built as ``access`` sees them:
    the server warms the caches of its users' cubes (their subsets and drawings) before it
    serves. A served session's access always comes from its signed token."""
    token = _UNSERVED_ACCESS.set(access)
    try:
        yield
    finally:
        _UNSERVED_ACCESS.reset(token)


def session_access() -> Access:
    """Who this session's user is and which counties they may see, from the session token
    the server signed when the page was requested (``access.TOKEN_KEY``); everything
    (:data:`access.LOCAL`) when served without logins. Served with logins, a session without
    a user is refused (PermissionError), never shown everything."""
    from safetyviz.security.access import TOKEN_KEY

    context = pn.state.curdoc.session_context if pn.state.curdoc is not None else None
    unserved = _UNSERVED_ACCESS.get()
    if context is None and unserved is not None:
        return unserved
    try:
        # token_payload: Bokeh types the context as its base class, without it; a served
        # session's (a BokehSessionContext) has it
        payload = context.token_payload if context is not None else {}  # type: ignore[attr-defined]
    except (AssertionError, AttributeError, ValueError):
        payload = {}
    if payload.get(TOKEN_KEY) is not None:
        return Access.from_payload(payload[TOKEN_KEY])
    if settings.current().logins_required:
        raise PermissionError("this session has no logged-in user")
    return LOCAL


def audit(event: str, **fields) -> None:
    """Record ``event`` in the server's audit log, with this session's user and page."""
    from safetyviz.security.audit import audit_log

    try:
        user = session_access().user
    except PermissionError:
        user = None
    audit_log().write(event, user=user, path=session_page(), **fields)


def session_page() -> str | None:
    """The address of this session's page (``/county``), None outside a served session. A
    session is built by the request of its websocket (``/county/ws``) where the page
    request was answered from a kept session (Panel's ``reuse_sessions``)."""
    context = pn.state.curdoc.session_context if pn.state.curdoc is not None else None
    path = getattr(getattr(context, "request", None), "path", None)
    if not isinstance(path, str):
        return None
    return path.removesuffix("/ws") or "/"


def unavailable(exc: Exception) -> pn.pane.Alert:
    """What a page shows instead when its data cannot be read. Served, an incident id, never
    the error itself (it names files of the server; it goes to the log under that id); in a
    notebook, the error (the analyst is on the machine that has the files)."""
    title = f"{text('data_unavailable', 'zh')} / {text('data_unavailable', 'en')}"
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        return pn.pane.Alert(f"{title}: {exc}", alert_type="danger")
    incident = uuid.uuid4().hex[:12]
    log.error("incident %s: page data unavailable: %s", incident, exc)
    return pn.pane.Alert(f"{title} ({text('incident', 'zh')} / {text('incident', 'en')} "
                         f"{incident})", alert_type="danger")


CLUSTER_CHECK_MS = 3000
SEEN_MARGIN = 200  # px below the window where a spot counts as seen: built as it scrolls in


def or_cluster_status(build, refresh) -> pn.viewable.Viewable:
    """``build()``; while the Dask cluster is lost, a status saying so instead, and
    ``refresh()`` as soon as the cluster answers again (checked every few seconds off the
    event loop, so other sessions never wait on a dead scheduler)."""
    try:
        return build()
    except ClusterUnavailable as exc:
        alert = pn.pane.Alert(f"{text('cluster_unavailable', 'zh')} / "
                              f"{text('cluster_unavailable', 'en')} ({exc})",
                              alert_type="warning", sizing_mode="stretch_width")
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            return alert
        checking = threading.Event()

        def check() -> None:
            if checking.is_set():
                return
            checking.set()

            def probe() -> None:
                if cluster_answers():
                    doc.add_next_tick_callback(back)
                else:
                    checking.clear()
            threading.Thread(target=probe, daemon=True).start()

        def back() -> None:
            callback.stop()
            refresh()

        callback = pn.state.add_periodic_callback(check, period=CLUSTER_CHECK_MS)
        return alert


def open_page(catalog: str | None, build, levels: bool = True):
    """``build(catalog, cube, regions, access)`` for one session, on the cube and regions
    shared by all sessions, cut down to the counties the session's user may see — and, over
    a province's data, to the city the address asks for (:func:`session_level`; unless the
    page shows the ``levels`` itself); an alert saying what is missing (or refused) when
    they cannot be read."""
    try:
        access = session_access()
        path = str(catalog or catalog_path())
        if levels:
            access, _ = session_level(access, path, refusals=True)
        cat = shared_catalog(path)
        cube, regions = load_data(path, version("cube", cat))
        cube, regions = access.restrict_cube(cube), access.restrict(regions)
    except (UserError, PermissionError) as exc:
        return unavailable(exc)
    return build(cat, cube, regions, access)


def drawn_after_the_page(plots: Callable[[], pn.viewable.Viewable]) -> pn.Column:
    """A column that gets the layout ``plots()`` returns (a page's plots) once the browser
    shows the rest of the page: the heading, controls and cards arrive at once, the plots a
    moment later in their place (a spinner meanwhile), instead of every session waiting for
    all of them. Out of a served session, at once. (Not Panel's deferred ``ParamFunction``:
    its replaceable pane costs each session ~5 ms more, and it would watch parameters.)"""
    spot = pn.Column(sizing_mode="stretch_width", loading=True)

    def draw() -> None:
        try:
            spot[:] = [plots()]
        finally:  # (an error is logged by Panel: no spinner forever)
            spot.loading = False

    pn.state.onload(draw)
    return spot


def wrapping(*items, **layout) -> pn.Row:
    """``items`` side by side, wrapping onto more lines where the window is narrower than
    they are wide, as a Panel FlexBox lays them out — for ~5 ms less of a session's build (a
    FlexBox is a ReactiveHTML component: its template is rendered for each). ``layout``: the
    row's; never a stretching ``sizing_mode``, which would make Panel give the row the width
    of all its items together, so that it could never wrap. For items of a fixed width: an
    item that stretches stretches the row the same way (a FlexBox, then)."""
    styles = {"flex-wrap": "wrap", **layout.pop("styles", {})}
    return pn.Row(*items, styles=styles, **layout)


class WhenSeen(ReactiveHTML):
    """An empty spot of a page that tells the server once the browser has it in view, or
    nearly (``SEEN_MARGIN`` pixels below the window): what goes there is built then."""

    seen = param.Boolean(default=False, doc="""
        Whether the browser has scrolled the spot into view (only ever set by the browser:
        a forged value can only have built what scrolling would).""")

    _template = '<div id="spot" style="width: 100%; height: 100%"></div>'
    _scripts = {  # (the observer sees the spot in Bokeh's shadow roots as well)
        "render": """
            state.observer = new IntersectionObserver((entries) => {
              if (entries.some((entry) => entry.isIntersecting)) {
                state.observer.disconnect()
                data.seen = true
              }
            }, {rootMargin: "0px 0px MARGINpx 0px"})
            state.observer.observe(spot)""".replace("MARGIN", str(SEEN_MARGIN)),
        "remove": "state.observer.disconnect()",
    }


def when_seen(show: Callable[[], None], height: int) -> pn.viewable.Viewable | None:
    """In a served session, a spot ``height`` pixels high, under a spinner, where ``show()``
    puts what is below the fold once the browser scrolls to it (at once if the window reaches
    it): a phone builds no table its user never scrolls to. Elsewhere (a notebook, a test)
    ``show()`` now, and None."""
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        show()
        return None
    # under a spinner: what is there is not drawn yet (and tests waiting for the page to be
    # drawn wait for it)
    spot = WhenSeen(height=height, sizing_mode="stretch_width", margin=0, loading=True)

    def seen(event: param.parameterized.Event) -> None:
        if event.new:
            spot.param.unwatch(watcher)  # once: the spot is replaced by what is shown
            # (and leaves no spinner in the browser's models: BokehJS keeps a replaced
            # model a while, and what looks for spinners there would wait for it)
            spot.loading = False
            show()
    watcher = spot.param.watch(seen, "seen")
    return spot


def map_tiles() -> str | None:
    """The configured base-map tiles (``SAFETYVIZ_TILES``), None when there are none or the
    setting is malformed (logged: a map without a base map beats no page)."""
    try:
        return tile_url()
    except UserError as exc:
        pn.state.log(f"base map off: {exc}", level="warning")
        return None


TILES_DOC = "XYZ URL of the base-map tiles under the maps; None for none (offline)."


def firm_names(firms) -> dict[str, str]:
    """Firm names by enterprise id, of ``firms`` (a register), read by column (a loop over
    a register's Arrow strings costs a session ~10 ms per 8,000 firms)."""
    return dict(zip(firms["enterprise_id"].astype(str).tolist(), firms["name"].tolist(),
                    strict=True))


_FIRM_NAMES: LRU[dict[str, str]] = LRU(16)


def register_names(path: str, access: Access) -> dict[str, str]:
    """:func:`firm_names` of the firms of the register at ``path`` that ``access`` may
    see; made once per version of the register and set of counties, for every session
    (so: never changed in place)."""
    key = (path, version("enterprises", shared_catalog(path)), access.counties)
    return _FIRM_NAMES.get(key, lambda: firm_names(
        access.restrict(load_registers(path, "enterprises")[0])))


def english_names(regions) -> dict[str, str]:
    return dict(zip(regions["adcode"], regions["name_en"]))


def unmapped_note(regions, names: dict[str, str], lang: str) -> Div:
    """A line under a map naming the units it cannot draw (zones without a boundary);
    empty when every unit is drawn. A Bokeh model, to go with the map's
    (:func:`inplace.stacked`); :func:`unmapped_html` is its text in another language."""
    return Div(text=unmapped_html(regions, names, lang), margin=(0, 10),
               styles={"font-size": "12px", "color": "#566573"})


def unmapped_html(regions, names: dict[str, str], lang: str) -> str:
    missing = unmapped_names(regions, names)
    note = text("unmapped", lang).format(names="、".join(missing)) if missing else ""
    return f'<div class="map-note">{html.escape(note)}</div>' if note else ""


class SelectionPage(pn.viewable.Viewer):
    """A page over one :class:`OverviewState`: county, period and language controls, the
    headline cards and the monthly series of the state's metric. Pages add their own
    widgets in :meth:`_controls` and relabel them in :meth:`_relabel`."""

    state = param.ClassSelector(class_=OverviewState, allow_None=NoNone,
                                doc="The selection this page shows.")
    access = param.ClassSelector(class_=Access, default=LOCAL,
                                 doc="Who is looking: their counties (the state's cube holds "
                                     "only those) and whether they may download records.")
    search = param.Parameter(default=None, doc="The enterprise search box (None: none).")

    HEADING: str | None = None  # the page's name (an i18n key) after the county's; None: none

    def __init__(self, **params):
        super().__init__(**params)
        self._controls()
        self._relabel()
        self.state.param.watch(lambda event: self._relabel(), "lang")
        self.series = self.in_place(self._series)
        # heading (a page without one: none made) and cards: their text changes, their
        # models stay
        self.header = (pn.pane.Markdown(self._heading_text(), margin=(5, 10))
                       if self.HEADING is not None else None)
        self.cards = pn.pane.HTML(self._cards_html(), stylesheets=[KPI_CSS],
                                  sizing_mode="stretch_width")
        self.state.param.watch(self._retext, ["period", "county", "lang"])

    def _controls(self) -> None:
        state = self.state
        self.county_select = pn.widgets.Select.from_param(state.param.county)
        self.period_select = pn.widgets.Select.from_param(state.param.period)
        self.lang_switch = pn.widgets.RadioButtonGroup.from_param(
            state.param.lang, options=LANGUAGE_NAMES, name="", button_type="light",
            align="end")

    def _relabel(self) -> None:
        """Widget names and options in the state's language; the current value goes in the
        same update (a Select whose options change alone falls back to the first one)."""
        state, lang = self.state, self.state.lang
        for widget in (self.county_select, self.period_select):
            widget.description = None  # the parameters' docs are for developers
        show_county_choices(self.county_select, state)
        self.period_select.param.update(name=text("period", lang), value=state.period, options={
            period_label(p, lang): p for p in state.param.period.objects})

    def _top(self) -> list:
        """What sits above a page's heading: the enterprise search, if any."""
        return [] if self.search is None else [self.search]

    def _heading_text(self) -> str:
        if self.HEADING is None:
            return ""
        return f"## {html.escape(self.state.county_name())} · {text(self.HEADING, self.state.lang)}"

    def _cards_html(self) -> str:
        return kpi_html(self.state.kpis(), text("vs_last_year", self.state.lang))

    def _retext(self, *events) -> None:
        if self.header is not None:
            self.header.object = self._heading_text()
        self.cards.object = self._cards_html()

    def in_place(self, draw, **options) -> SharedPlot:
        """The plot of ``draw()`` (a view of the state), drawn once for every session on
        the cube and updated in place when the selection or language changes
        (:mod:`inplace`; ``options``: its ``key`` and ``on_tap``)."""
        return SharedPlot(draw, self.state, **options)

    def _series(self):
        state = self.state
        title = text("series_title", state.lang).format(county=state.county_name(),
                                                        metric=state.metric_label)
        return monthly_series(state.monthly(), label=state.metric_label,
                              units=state.metric_units, title=title, highlight=state.bounds,
                              lang=state.lang)

    def _sectors(self):
        state = self.state
        title = text("sector_title", state.lang).format(county=state.county_name(),
                                                        metric=state.metric_label)
        return sector_breakdown(state.sector_values(), label=state.metric_label,
                                units=state.metric_units, title=title, lang=state.lang)

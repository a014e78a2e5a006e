"""The county profile page (县区画像): one county's headline cards and monthly series, and its
records — the firms that need a visit (most open, overdue and repeat hazards, fines), open
major hazards, overdue hazards, inspections of the period — as sortable, filterable tables,
each downloadable as CSV and XLSX, each firm a link to its profile. Records are read from
the store when the county or period changes, with the county pushed down to the Parquet
files, once per selection for all sessions."""

from __future__ import annotations

import dataclasses
import os
import threading
from concurrent.futures import Future
from functools import partial
from typing import cast

import pandas as pd
import panel as pn
import param
from bokeh.model import Model
from bokeh.models import Column, TabPanel, Tabs
from panel.io.state import set_curdoc
from tornado.ioloop import IOLoop

from safetyviz.analysis.enterprises import county_history, period_records
from safetyviz.core.cache import LRU
from safetyviz.core.errors import UserError
from safetyviz.core.i18n import text
from safetyviz.core.threads import WorkerPool
from safetyviz.data.catalog import catalog_path, version
from safetyviz.data.engine import threadsafe_graphs
from safetyviz.web.components.inplace import SessionCopy, drawn_as, drawn_component
from safetyviz.web.components.page import (
    SelectionPage,
    drawn_after_the_page,
    english_names,
    load_data,
    open_page,
    or_cluster_status,
    register_names,
    session_access,
    shared_catalog,
    sync_with_url,
    unit_cities,
    when_seen,
    wrapping,
)
from safetyviz.web.components.search import search_box
from safetyviz.web.components.tables import RecordTable
from safetyviz.web.state import OverviewState

pn.extension("tabulator")


class CountyState(OverviewState):
    """The overview's selection, for one county (never the whole city)."""

    def __init__(self, cube, **params):
        super().__init__(cube, **params)
        counties = [a for a in self.param.county.objects if a != self.city]
        self.param.county.objects = counties
        if self.county not in counties:
            self.county = counties[0]

    @property
    def as_of(self) -> pd.Timestamp:
        """The last day of the period, or of the data if the period runs past it."""
        last = pd.Timestamp(self.cube["month"].values[-1]) + pd.offsets.MonthEnd(0)
        return min(self.bounds[1], last)


RECORD_TABLES = ("hazards", "inspections", "enforcement_actions")  # what the tables read
# The county's record tables, in their tabs' order, with their tabs' titles (i18n keys).
TABS = {"open_major_hazards": "open_major", "overdue_hazards": "overdue",
        "inspections": "latest_inspections", "firms_to_visit": "ranking_tab"}
HAZARD_TABLES = ("open_major_hazards", "overdue_hazards")  # as of the period's last day
RECORDS_HEIGHT = 540  # px the tables take (tabs, downloads, a page of 15 rows): kept for them
_RECORDS: LRU[dict[str, pd.DataFrame]] = LRU(64)
# The tab strip of the record tables, drawn once per language (and way of drawing): each
# session shows a copy, with its tables in the copy's tabs — ~10 models copied, against
# ~15 ms for Panel to make a Tabs, its tabs' layouts and their models in every session.
_TAB_STRIPS: LRU[TabStrip] = LRU(8)
# Counties' whole histories, each read once and cut into any period in pandas (50-70 ms,
# against 650-750 ms of reading a period); at most this many bytes in each server process.
HISTORY_BYTES = 256 * 2**20
_HISTORIES: LRU[dict[str, pd.DataFrame]] = LRU(
    64, weigh=lambda history: sum(int(frame.memory_usage(deep=True).sum())
                                  for frame in history.values()),
    budget=HISTORY_BYTES)
# Reads for served sessions run here, off the event loop (which the other sessions of the
# process need meanwhile); sessions asking for the same selection share one read.
threadsafe_graphs()  # (two readers build Dask graphs at once)
_READER = WorkerPool(max_workers=2, name="safetyviz-records")
_READING: dict[tuple, Future] = {}
_READING_LOCK = threading.Lock()


def _forget_readings() -> None:
    global _READING_LOCK
    _READING.clear()  # reads under way at a fork finish only in the parent
    _READING_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_readings)


def _versions(catalog) -> tuple:
    return tuple(version(table, catalog) for table in RECORD_TABLES)


def _records_key(catalog, county: str, start, end, as_of) -> tuple:
    return _versions(catalog), county, str(start), str(end), str(as_of)


def history_of(catalog, county: str) -> dict[str, pd.DataFrame]:
    """:func:`county_history` of ``county``, read once per version of the store's tables
    for every period and session (so: never changed in place)."""
    return _HISTORIES.get((_versions(catalog), county), lambda: county_history(county, catalog))


def county_records(catalog, county: str, start, end, as_of) -> dict[str, pd.DataFrame]:
    """The record tables of ``county`` for the period [start, end] (hazards as of
    ``as_of``), by table name; cut once per version of the store's tables and selection
    from the county's history, and shared by every session showing it (so: never changed
    in place)."""
    return _RECORDS.get(_records_key(catalog, county, start, end, as_of),
                        lambda: period_records(history_of(catalog, county), start, end, as_of))


def read_histories_ahead(catalog: str | None, deadline: float) -> int:
    """Read the histories of the counties the scope being warmed may see, until
    ``deadline`` (``time.monotonic()``) or until they would not all be kept; how many are
    at hand. Then every period of these counties is a cut in pandas, from the first session
    on."""
    import time

    path = str(catalog or catalog_path())
    try:
        cat = shared_catalog(path)
        cube, _ = load_data(path, version("cube", cat))
        counties = [str(a) for a in session_access().restrict_cube(cube)["adcode"].values]
    except (UserError, PermissionError):  # no data (yet): the page itself says so
        return 0
    read = 0
    for county in counties:
        if time.monotonic() >= deadline or _HISTORIES.cost > HISTORY_BYTES * 0.75:
            break
        history_of(cat, county)
        read += 1
    return read


def records_read(catalog, county: str, start, end, as_of) -> bool:
    """Whether :func:`county_records` of this selection is at hand (no read needed)."""
    return _records_key(catalog, county, start, end, as_of) in _RECORDS


def read_records_later(catalog, county: str, start, end, as_of) -> Future:
    """:func:`county_records` on a worker thread; the read of this selection already under
    way, if another session asked for it first."""
    key = _records_key(catalog, county, start, end, as_of)
    with _READING_LOCK:
        future = _READING.get(key)
        if future is None:
            future = _READING[key] = _READER.submit(county_records, catalog, county, start,
                                                    end, as_of)
            future.add_done_callback(lambda _: _forget_reading(key))
    return future


def _forget_reading(key: tuple) -> None:
    with _READING_LOCK:
        _READING.pop(key, None)


@dataclasses.dataclass(frozen=True)
class TabStrip:
    """Tabs of empty columns as Panel draws them (:func:`inplace.drawn_component`)."""

    model: Model  # a Bokeh Tabs
    columns: list[str]  # the ids of the tabs' columns, in the tabs' order


def drawn_tabs(titles: list[str]) -> TabStrip:
    """A :class:`TabStrip` of tabs titled ``titles``, each an empty column that stretches
    (where a session puts what the tab shows)."""
    model = drawn_component(pn.Tabs(*[(title, pn.Column(sizing_mode="stretch_width"))
                                      for title in titles],
                                    dynamic=False, sizing_mode="stretch_width"))
    return TabStrip(model, [cast(TabPanel, tab).child.id for tab in cast(Tabs, model).tabs])


class CountyProfile(SelectionPage):
    """Cards, series and record tables over one :class:`CountyState`."""

    HEADING = "county_profile"

    catalog = param.Parameter(doc="The catalog the records are read through.")
    firms = param.Dict(default={}, doc="Firm names by enterprise_id (the session's counties').")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.tables = {name: RecordTable(table_name=name, access=self.access, firms=self.firms)
                       for name in TABS}
        self._strip: SessionCopy | None = None  # this session's copy of the tab strip
        self._answered: Model | None = None  # the copy's tabs, whose choice is answered
        self._active = 0  # the tab chosen (the browser's copy says which; it is checked)
        self._filled: dict[str, tuple] = {}  # the tables' records (and their date)
        self._due: dict[str, tuple] = {}  # … of the tables not showing them yet
        self._wanted: tuple | None = None  # the selection whose records are shown or read
        # the tables, or the cluster's status while it is lost; filled once drawn
        self.records = pn.Column(sizing_mode="stretch_width")
        self.state.param.watch(self._records_changed, ["period", "county", "lang"])

    @property
    def tabs(self) -> Tabs | None:
        """The tabs on screen: this session's copy of the tab strip (None before the tables
        are first shown)."""
        return None if self._strip is None else cast(Tabs, self._strip.copy)

    def _records_changed(self, *events) -> None:
        if self._wanted is not None:  # shown (else filled when scrolled to)
            self._show_records()

    def _selection(self) -> tuple:
        state = self.state
        assert isinstance(state, CountyState)  # as create_county_app builds the page
        start, end = state.bounds
        return state.county, start, end, state.as_of

    def _show_records(self) -> None:
        """New records into the tables (the layout stays: no new models but the rows). In a
        served session, records not read yet are read on a worker thread — the tables wait
        under a spinner, the process's other sessions do not — and shown when they arrive,
        if the selection is still this one."""
        where = self._selection()
        doc = pn.state.curdoc
        self._wanted = where
        # (the spinner on Panel's column: a plain Bokeh column's view keeps its classes)
        if doc is None or doc.session_context is None or records_read(self.catalog, *where):
            self.records.loading = False
            self._show(lambda: county_records(self.catalog, *where))
            return
        self.records.loading = True
        strip = self._tab_strip()
        if not self.records.objects or self.records[0] is not strip:
            self.records[:] = [strip]
        loop = IOLoop.current()  # the session's event loop (this is its thread)
        read_records_later(self.catalog, *where).add_done_callback(
            lambda future: loop.add_callback(self._arrive, doc, where, future))

    def _arrive(self, doc, where: tuple, future: Future) -> None:
        """On the event loop again: show the records with the document's lock, if the
        session is still open."""
        if doc.session_context is None or doc.session_context.destroyed:
            return
        doc.add_next_tick_callback(partial(self._arrived, doc, where, future))

    def _arrived(self, doc, where: tuple, future: Future) -> None:
        if where != self._wanted:
            return  # another selection since: its own read shows it
        with set_curdoc(doc):
            self.records.loading = False
            self._show(future.result)  # the records, or the read's error

    def _show(self, records) -> None:
        shown = or_cluster_status(lambda: self._fill_tables(records()), self._show_records)
        if len(self.records) != 1 or self.records[0] is not shown:
            self.records[:] = [shown]

    def _fill_tables(self, records: dict[str, pd.DataFrame]) -> pn.pane.Bokeh:
        """The county's records of the period for the same tables: into the one shown now,
        the others' when their tab is chosen."""
        state = self.state
        assert isinstance(state, CountyState)
        strip = self._tab_strip()
        date = f"{state.as_of:%Y-%m-%d}"
        self._filled = {name: (frame, date if name in HAZARD_TABLES else None)
                        for name, frame in records.items()}
        self._due = dict(self._filled)
        self._show_due()
        return strip

    def _tab_strip(self) -> pn.pane.Bokeh:
        """The tabs in the state's language: this session's copy of their drawing (a new
        language: a new copy, whose tables show their records again when chosen), each table
        in its tab's column."""
        lang = self.state.lang
        drawing = _TAB_STRIPS.get((lang, *drawn_as()), lambda: drawn_tabs(
            [text(title, lang) for title in TABS.values()]))
        if self._strip is None:
            self._strip = SessionCopy(drawing.model, sizing_mode="stretch_width")
        elif drawing.model is not self._strip.shown:  # (anew: a browser's tabs do not
            self._strip.show(drawing.model, anew=True)  # redraw a tab's new title)
        tabs = cast(Tabs, self._strip.copy)
        if tabs is not self._answered:  # a new copy: on the tab chosen before
            self._answered, tabs.active = tabs, self._active
            tabs.on_change("active", self._tab_chosen)
        for (name, table), column in zip(self.tables.items(), drawing.columns):
            if table.place(cast(Column, self._strip.pairing[column])) and name in self._filled:
                self._due.setdefault(name, self._filled[name])  # (shown again when chosen)
        return self._strip.pane

    def _tab_chosen(self, attr: str, old, new) -> None:
        """A tab chosen in the browser: its table gets its records if it has none yet. An
        index that is no tab's (only a forged message sends one) puts the browser back on
        the tab it was on."""
        tabs = self.tabs
        if tabs is None or tabs.document is None:
            return
        if not isinstance(new, int) or not 0 <= new < len(self.tables):
            tabs.active = self._active  # (answered again: a tab's index, nothing to show)
            return
        self._active = new
        with set_curdoc(tabs.document):
            self._show_due()

    def _show_due(self) -> None:
        """The records of the table shown, if it does not have them yet."""
        name = list(self.tables)[self._active]
        if name in self._due:
            frame, date = self._due.pop(name)
            self.tables[name].show_records(frame, self.state, as_of=date, shared=True)

    def __panel__(self):
        controls = wrapping(self.county_select, self.period_select)
        return pn.Column(*self._top(), self.header, controls, self.cards,
                         drawn_after_the_page(self._plots_and_tables),
                         sizing_mode="stretch_width")

    def _plots_and_tables(self) -> pn.Column:
        if not self.records.objects:
            spot = when_seen(self._show_records, height=RECORDS_HEIGHT)
            if spot is not None:
                self.records[:] = [spot]
        return pn.Column(
            self.series.panel(height=360, sizing_mode="stretch_width"),
            self.records, sizing_mode="stretch_width")


def create_county_app(catalog: str | None = None):
    """A new county profile page for one session (or an alert saying what data is missing)."""
    def build(cat, cube, regions, access):
        path = str(catalog or catalog_path())
        state = CountyState(cube, names_en=english_names(regions),
                            city_total=access.sees_whole,
                            unit_cities=unit_cities(path, regions))
        sync_with_url(state)
        return CountyProfile(state=state, catalog=cat, access=access,
                             firms=register_names(path, access),
                             search=search_box(state, catalog, access, regions))

    return open_page(catalog, build)

"""The county profile page (县区画像): one county's headline cards and monthly series, and its
records — the firms that need a visit (most open, overdue and repeat hazards, fines), open
major hazards, overdue hazards, inspections of the period — as sortable, filterable tables,
each downloadable as CSV and XLSX, each firm a link to its profile. Records are read from
the store when the county or period changes, with the county pushed down to the Parquet
files."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from safetyviz.analysis.enterprises import area_ranking
from safetyviz.analysis.records import (
    latest_inspections,
    open_hazards,
    open_major_hazards,
    overdue_hazards,
)
from safetyviz.core.i18n import text
from safetyviz.data.catalog import catalog_path
from safetyviz.web.components.page import (
    SelectionPage,
    drawn_after_the_page,
    english_names,
    load_registers,
    open_page,
    or_cluster_status,
    sync_with_url,
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


class CountyProfile(SelectionPage):
    """Cards, series and record tables over one :class:`CountyState`."""

    catalog = param.Parameter(doc="The catalog the records are read through.")
    firms = param.Dict(default={}, doc="Firm names by enterprise_id (the session's counties').")

    def __init__(self, **params):
        super().__init__(**params)
        self.tables = {name: RecordTable(table_name=name, access=self.access, firms=self.firms)
                       for name in ("open_major_hazards", "overdue_hazards", "inspections",
                                    "firms_to_visit")}
        self.tabs = pn.Tabs(*self.tables.items(), dynamic=True, sizing_mode="stretch_width")
        # the tables, or the cluster's status while it is lost; filled once drawn
        self.records = pn.Column(sizing_mode="stretch_width")
        self.state.param.watch(self._records_changed, ["period", "county", "lang"])

    @param.depends("state.lang", "state.county")
    def _header(self):
        return self._heading("county_profile")

    def _records_changed(self, *events) -> None:
        if self.records.objects:  # drawn (else filled when it is)
            self._show_records()

    def _show_records(self) -> None:
        """New records into the tables (the layout stays: no new models but the rows)."""
        shown = or_cluster_status(self._fill_tables, self._show_records)
        if len(self.records) != 1 or self.records[0] is not shown:
            self.records[:] = [shown]

    def _fill_tables(self) -> pn.Tabs:
        """The county's records of the period in the same three tables (one query for both
        hazard tables)."""
        state, lang = self.state, self.state.lang
        assert isinstance(state, CountyState)  # as create_county_app builds the page
        date = f"{state.as_of:%Y-%m-%d}"
        start, end = state.bounds
        hazards = open_hazards(state.county, state.as_of, self.catalog)
        major = open_major_hazards(state.county, state.as_of, hazards=hazards)
        overdue = overdue_hazards(state.county, state.as_of, hazards=hazards)
        inspections = latest_inspections(state.county, start, end, self.catalog)
        ranking = area_ranking(state.county, start, state.as_of, self.catalog)
        tables = self.tables
        self.tabs[:] = [
            (text("open_major", lang).format(date=date),
             tables["open_major_hazards"].show_records(major, state)),
            (text("overdue", lang).format(date=date),
             tables["overdue_hazards"].show_records(overdue, state)),
            (text("latest_inspections", lang),
             tables["inspections"].show_records(inspections, state)),
            (text("ranking_tab", lang), tables["firms_to_visit"].show_records(ranking, state))]
        return self.tabs

    def __panel__(self):
        controls = pn.FlexBox(self.county_select, self.period_select,
                              sizing_mode="stretch_width")
        return pn.Column(*self._top(), self._header, controls, self._kpis,
                         drawn_after_the_page(self._plots_and_tables),
                         sizing_mode="stretch_width")

    def _plots_and_tables(self) -> pn.Column:
        if not self.records.objects:
            self._show_records()
        return pn.Column(
            pn.pane.HoloViews(self.series, height=360, sizing_mode="stretch_width"),
            self.records, sizing_mode="stretch_width")


def create_county_app(catalog: str | None = None):
    """A new county profile page for one session (or an alert saying what data is missing)."""
    def build(cat, cube, regions, access):
        state = CountyState(cube, names_en=english_names(regions),
                            city_total=access.all_counties)
        sync_with_url(state)
        (firms, _) = load_registers(str(catalog or catalog_path()), "enterprises")
        firms = access.restrict(firms)
        return CountyProfile(state=state, catalog=cat, access=access,
                             firms=dict(zip(firms["enterprise_id"].astype(str), firms["name"])),
                             search=search_box(state, catalog, access, regions))

    return open_page(catalog, build)

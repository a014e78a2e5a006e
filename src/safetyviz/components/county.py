"""The county profile page (县区画像): one county's headline cards and monthly series, and its
records — open major hazards, overdue hazards, inspections of the period — as sortable,
filterable tables, each downloadable as CSV and XLSX. Records are read from the store when
the county or period changes, with the county pushed down to the Parquet files."""

from __future__ import annotations

import io

import pandas as pd
import panel as pn
import param

from ..access import LOCAL, Access
from ..i18n import text
from ..records import (
    labelled,
    latest_inspections,
    open_major_hazards,
    overdue_hazards,
    to_csv_bytes,
    to_xlsx_bytes,
)
from ..state import OverviewState
from .page import (
    SelectionPage,
    audit,
    drawn_after_the_page,
    english_names,
    open_page,
    or_cluster_status,
    sync_with_url,
)

pn.extension("tabulator")


def record_table(frame: pd.DataFrame, name: str, state: OverviewState,
                 access: Access = LOCAL) -> pn.Column:
    """Records as a sortable, filterable table in the state's language, with its row count
    and, for a user who may download records, CSV / XLSX downloads named after the county,
    period and ``name`` (each download recorded in the audit log)."""
    lang = state.lang
    shown = labelled(frame, lang)
    filename = f"{state.county}_{state.period}_{name}"

    def download(fmt: str, to_bytes):
        def callback():
            audit("download", table=name, format=fmt, county=state.county,
                  period=state.period, rows=len(shown))
            return io.BytesIO(to_bytes())
        return pn.widgets.FileDownload(callback=callback, filename=f"{filename}.{fmt}",
                                       label=fmt.upper(), button_type="light", width=90)

    downloads = [download("csv", lambda: to_csv_bytes(shown)),
                 download("xlsx", lambda: to_xlsx_bytes(shown, name))] \
        if access.may_download else []
    table = pn.widgets.Tabulator(
        shown, disabled=True, pagination="local", page_size=15, show_index=False,
        header_filters=True, layout="fit_data_stretch", sizing_mode="stretch_width", name=name)
    return pn.Column(pn.Row(pn.pane.Str(text("rows", lang).format(n=len(shown))), *downloads),
                     table, sizing_mode="stretch_width")


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

    @param.depends("state.lang", "state.county")
    def _header(self):
        return self._heading("county_profile")

    @param.depends("state.period", "state.county", "state.lang")
    def _records(self):
        return or_cluster_status(self._record_tabs, lambda: self.state.param.trigger("period"))

    def _record_tabs(self):
        state, lang = self.state, self.state.lang
        date = f"{state.as_of:%Y-%m-%d}"
        start, end = state.bounds
        return pn.Tabs(
            (text("open_major", lang).format(date=date),
             record_table(open_major_hazards(state.county, state.as_of, self.catalog),
                          "open_major_hazards", state, self.access)),
            (text("overdue", lang).format(date=date),
             record_table(overdue_hazards(state.county, state.as_of, self.catalog),
                          "overdue_hazards", state, self.access)),
            (text("latest_inspections", lang),
             record_table(latest_inspections(state.county, start, end, self.catalog),
                          "inspections", state, self.access)),
            dynamic=True, sizing_mode="stretch_width")

    def __panel__(self):
        controls = pn.FlexBox(self.county_select, self.period_select, self.lang_switch,
                              sizing_mode="stretch_width")
        return pn.Column(self._header, controls, self._kpis,
                         drawn_after_the_page(self._plots_and_tables),
                         sizing_mode="stretch_width")

    def _plots_and_tables(self) -> pn.Column:
        return pn.Column(
            pn.pane.HoloViews(self.series, height=360, sizing_mode="stretch_width"),
            self._records, sizing_mode="stretch_width")


def create_county_app(catalog: str | None = None):
    """A new county profile page for one session (or an alert saying what data is missing)."""
    def build(cat, cube, regions, access):
        state = CountyState(cube, names_en=english_names(regions),
                            city_total=access.all_counties)
        sync_with_url(state)
        return CountyProfile(state=state, catalog=cat, access=access)

    return open_page(catalog, build)

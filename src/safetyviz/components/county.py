"""The county profile page (县区画像): one county's headline cards and monthly series, and its
records — open major hazards, overdue hazards, inspections of the period — as sortable,
filterable tables, each downloadable as CSV and XLSX. Records are read from the store when
the county or period changes, with the county pushed down to the Parquet files."""

from __future__ import annotations

import io

import holoviews as hv
import pandas as pd
import panel as pn
import param

from ..catalog import catalog_path, open_catalog, version
from ..errors import UserError
from ..i18n import LANGUAGE_NAMES, text
from ..periods import period_label
from ..records import (
    labelled,
    latest_inspections,
    open_major_hazards,
    overdue_hazards,
    to_csv_bytes,
    to_xlsx_bytes,
)
from ..state import OverviewState
from ..views import monthly_series
from .overview import KPI_CSS, kpi_html, load_data, sync_with_url

hv.extension("bokeh", logo=False)
pn.extension("tabulator")


def record_table(frame: pd.DataFrame, name: str, state: OverviewState) -> pn.Column:
    """Records as a sortable, filterable table in the state's language, with its row count
    and CSV / XLSX downloads named after the county, period and ``name``."""
    lang = state.lang
    shown = labelled(frame, lang)
    filename = f"{state.county}_{state.period}_{name}"
    downloads = [
        pn.widgets.FileDownload(callback=lambda: io.BytesIO(to_csv_bytes(shown)),
                                filename=f"{filename}.csv", label="CSV",
                                button_type="light", width=90),
        pn.widgets.FileDownload(callback=lambda: io.BytesIO(to_xlsx_bytes(shown, name)),
                                filename=f"{filename}.xlsx", label="XLSX",
                                button_type="light", width=90)]
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


class CountyProfile(pn.viewable.Viewer):
    """Cards, series and record tables over one :class:`CountyState`."""

    state = param.ClassSelector(class_=CountyState, doc="The selection this page shows.")
    catalog = param.Parameter(doc="The catalog the records are read through.")

    def __init__(self, **params):
        super().__init__(**params)
        state = self.state
        self.county_select = pn.widgets.Select.from_param(state.param.county)
        self.period_select = pn.widgets.Select.from_param(state.param.period)
        self.lang_switch = pn.widgets.RadioButtonGroup.from_param(
            state.param.lang, options=LANGUAGE_NAMES, name="", button_type="light",
            align="end")
        self._relabel()
        state.param.watch(lambda event: self._relabel(), "lang")
        self.series = hv.DynamicMap(self._series)

    def _relabel(self) -> None:
        state, lang = self.state, self.state.lang
        for widget in (self.county_select, self.period_select):
            widget.description = None
        self.county_select.param.update(name=text("county", lang), value=state.county, options={
            state.county_name(a): a for a in state.param.county.objects})
        self.period_select.param.update(name=text("period", lang), value=state.period, options={
            period_label(p, lang): p for p in state.param.period.objects})

    @param.depends("state.lang", "state.county")
    def _header(self):
        lang = self.state.lang
        return pn.pane.Markdown(f"## {self.state.county_name()} · {text('county_profile', lang)}",
                                margin=(5, 10))

    @param.depends("state.period", "state.county", "state.lang")
    def _kpis(self):
        return pn.pane.HTML(kpi_html(self.state.kpis(), text("vs_last_year", self.state.lang)),
                            stylesheets=[KPI_CSS], sizing_mode="stretch_width")

    @param.depends("state.metric", "state.period", "state.county", "state.lang")
    def _series(self):
        state = self.state
        title = text("series_title", state.lang).format(county=state.county_name(),
                                                        metric=state.metric_label)
        return monthly_series(state.monthly(), label=state.metric_label,
                              units=state.metric_units, title=title, highlight=state.bounds,
                              lang=state.lang)

    @param.depends("state.period", "state.county", "state.lang")
    def _records(self):
        state, lang = self.state, self.state.lang
        date = f"{state.as_of:%Y-%m-%d}"
        start, end = state.bounds
        return pn.Tabs(
            (text("open_major", lang).format(date=date),
             record_table(open_major_hazards(state.county, state.as_of, self.catalog),
                          "open_major_hazards", state)),
            (text("overdue", lang).format(date=date),
             record_table(overdue_hazards(state.county, state.as_of, self.catalog),
                          "overdue_hazards", state)),
            (text("latest_inspections", lang),
             record_table(latest_inspections(state.county, start, end, self.catalog),
                          "inspections", state)),
            dynamic=True, sizing_mode="stretch_width")

    def __panel__(self):
        controls = pn.FlexBox(self.county_select, self.period_select, self.lang_switch,
                              sizing_mode="stretch_width")
        return pn.Column(self._header, controls, self._kpis,
                         pn.pane.HoloViews(self.series, height=360, sizing_mode="stretch_width"),
                         self._records, sizing_mode="stretch_width")


def create_county_app(catalog: str | None = None):
    """A new county profile page for one session (or an alert saying what data is missing)."""
    try:
        path = str(catalog or catalog_path())
        cat = open_catalog(path)
        cube, regions = load_data(path, version("cube", cat))
    except UserError as exc:
        return pn.pane.Alert(f"{text('data_unavailable', 'zh')} / "
                             f"{text('data_unavailable', 'en')}: {exc}", alert_type="danger")
    state = CountyState(cube, names_en=dict(zip(regions["adcode"], regions["name_en"])))
    sync_with_url(state)
    return CountyProfile(state=state, catalog=cat)

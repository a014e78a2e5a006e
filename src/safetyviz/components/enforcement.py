"""The enforcement page (执法): for the city or one county and a period, the enforcement cards
(fines, penalty cases, closures, detentions, joint operations, each against a year earlier),
fines month by month and by sector, actions by type (bans, scattered-polluting closures,
black gas stations, illegal fuel vehicles, illegal units, detentions…) and the joint
operations on a timeline and in a downloadable table."""

from __future__ import annotations

import holoviews as hv
import panel as pn
import param

from ..catalog import catalog_path, open_catalog, version
from ..errors import UserError
from ..i18n import LANGUAGE_NAMES, text
from ..periods import period_label
from ..records import actions_by_type, joint_operations
from ..state import OverviewState
from ..views import action_types, joint_timeline, monthly_series, sector_breakdown
from .county import record_table
from .overview import KPI_CSS, kpi_html, load_data, sync_with_url

hv.extension("bokeh", logo=False)
pn.extension("tabulator")


class EnforcementState(OverviewState):
    """The overview's selection, with fines as the metric and enforcement cards."""

    kpi_metrics = ["fines_yuan", "penalty_cases", "closures", "detentions", "joint_operations"]

    def __init__(self, cube, **params):
        super().__init__(cube, **{"metric": "fines_yuan", **params})
        self.param.metric.objects = ["fines_yuan"]  # the page shows fines, whatever the URL

    @property
    def scope(self) -> str | None:
        """The county the records are read for; None for the whole city."""
        return None if self.county == self.city else self.county


class EnforcementPage(pn.viewable.Viewer):
    """Cards, fines and actions over one :class:`EnforcementState`."""

    state = param.ClassSelector(class_=EnforcementState, doc="The selection this page shows.")
    catalog = param.Parameter(doc="The catalog the records are read through.")
    names = param.Dict(default={}, doc="County names by adcode, in the state's language.")

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
        self.fines = hv.DynamicMap(self._fines)
        self.sectors = hv.DynamicMap(self._sectors)

    def _relabel(self) -> None:
        state, lang = self.state, self.state.lang
        for widget in (self.county_select, self.period_select):
            widget.description = None
        self.county_select.param.update(name=text("county", lang), value=state.county, options={
            state.county_name(a): a for a in state.param.county.objects})
        self.period_select.param.update(name=text("period", lang), value=state.period, options={
            period_label(p, lang): p for p in state.param.period.objects})
        self.names = {a: state.county_name(a) for a in state.param.county.objects}

    @param.depends("state.lang", "state.county")
    def _header(self):
        lang = self.state.lang
        return pn.pane.Markdown(f"## {self.state.county_name()} · {text('enforcement', lang)}",
                                margin=(5, 10))

    @param.depends("state.period", "state.county", "state.lang")
    def _kpis(self):
        return pn.pane.HTML(kpi_html(self.state.kpis(), text("vs_last_year", self.state.lang)),
                            stylesheets=[KPI_CSS], sizing_mode="stretch_width")

    @param.depends("state.period", "state.county", "state.lang")
    def _fines(self):
        state = self.state
        title = text("series_title", state.lang).format(county=state.county_name(),
                                                        metric=state.metric_label)
        return monthly_series(state.monthly(), label=state.metric_label,
                              units=state.metric_units, title=title, highlight=state.bounds,
                              lang=state.lang)

    @param.depends("state.period", "state.county", "state.lang")
    def _sectors(self):
        state = self.state
        title = text("sector_title", state.lang).format(county=state.county_name(),
                                                        metric=state.metric_label)
        return sector_breakdown(state.sector_values(), label=state.metric_label,
                                units=state.metric_units, title=title, lang=state.lang)

    @param.depends("state.period", "state.county", "state.lang")
    def _records(self):
        state, lang = self.state, self.state.lang
        start, end = state.bounds
        period = period_label(state.period, lang)
        county = state.county_name()
        actions = actions_by_type(state.scope, start, end, self.catalog)
        operations = joint_operations(state.scope, start, end, self.catalog)
        plots = pn.FlexBox(
            pn.pane.HoloViews(action_types(actions, lang=lang, title=text(
                "actions_title", lang).format(county=county, period=period)),
                height=360, min_width=320, sizing_mode="stretch_width",
                styles={"flex": "1 1 420px"}),
            pn.pane.HoloViews(joint_timeline(operations, self.names, lang=lang, title=text(
                "joint_title", lang).format(county=county, period=period)),
                height=360, min_width=320, sizing_mode="stretch_width",
                styles={"flex": "1 1 420px"}),
            sizing_mode="stretch_width")
        return pn.Column(plots, record_table(operations, "joint_operations", state),
                         sizing_mode="stretch_width")

    def __panel__(self):
        controls = pn.FlexBox(self.county_select, self.period_select, self.lang_switch,
                              sizing_mode="stretch_width")
        plots = pn.FlexBox(
            pn.pane.HoloViews(self.fines, height=360, min_width=320, sizing_mode="stretch_width",
                              styles={"flex": "2 1 480px"}),
            pn.pane.HoloViews(self.sectors, height=360, min_width=300,
                              sizing_mode="stretch_width", styles={"flex": "1 1 320px"}),
            sizing_mode="stretch_width")
        return pn.Column(self._header, controls, self._kpis, plots, self._records,
                         sizing_mode="stretch_width")


def create_enforcement_app(catalog: str | None = None):
    """A new enforcement page for one session (or an alert saying what data is missing)."""
    try:
        path = str(catalog or catalog_path())
        cat = open_catalog(path)
        cube, regions = load_data(path, version("cube", cat))
    except UserError as exc:
        return pn.pane.Alert(f"{text('data_unavailable', 'zh')} / "
                             f"{text('data_unavailable', 'en')}: {exc}", alert_type="danger")
    state = EnforcementState(cube, names_en=dict(zip(regions["adcode"], regions["name_en"])))
    sync_with_url(state)
    return EnforcementPage(state=state, catalog=cat)

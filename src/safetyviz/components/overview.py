"""The overview page (总览): county choropleth of a metric for a period and the monthly series
of the county clicked on the map or chosen in the selector."""

from __future__ import annotations

import html

import holoviews as hv
import panel as pn
import param
from bokeh.models import CustomJS

from ..catalog import catalog_path, open_catalog, version
from ..errors import UserError
from ..i18n import LANGUAGE_NAMES, metric_label, text
from ..loading import load_cube, load_regions
from ..periods import period_label
from ..state import MAP_METRICS, OverviewState
from ..views import choropleth, county_ranking, monthly_series, sector_breakdown

hv.extension("bokeh", logo=False)


@pn.cache(max_items=2)
def load_data(path: str, cube_version: str):
    """Cube and regions, loaded once per cube version and shared by all sessions; a new
    cube (after `safetyviz demo`, `cube` or an ingest) is picked up by the next session."""
    cat = open_catalog(path)
    return load_cube(cat), load_regions(cat)


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


class OverviewDashboard(pn.viewable.Viewer):
    """Headline cards, map, ranking and series over one :class:`OverviewState`."""

    state = param.ClassSelector(class_=OverviewState, doc="The selection this page shows.")
    regions = param.Parameter(doc="County boundaries (GeoDataFrame sorted by adcode).")

    def __init__(self, **params):
        super().__init__(**params)
        state = self.state
        self.metric_select = pn.widgets.Select.from_param(state.param.metric)
        self.period_select = pn.widgets.Select.from_param(state.param.period)
        self.county_select = pn.widgets.Select.from_param(state.param.county)
        self.lang_switch = pn.widgets.RadioButtonGroup.from_param(
            state.param.lang, options=LANGUAGE_NAMES, name="",
            button_type="light", align="end")
        start, end = (f"{t:%Y-%m}" for t in state.bounds)
        months = state.months
        self.range_from = pn.widgets.Select(value=start if start in months else months[0],
                                            width=150)
        self.range_to = pn.widgets.Select(value=end if end in months else months[-1],
                                          width=120)
        for widget in (self.range_from, self.range_to):
            widget.param.watch(self._on_range, "value")
        self._relabel()
        state.param.watch(lambda event: self._relabel(), "lang")
        self.map = hv.DynamicMap(self._map)
        self.taps = hv.streams.Selection1D(source=self.map)
        self.taps.add_subscriber(self._on_tap)
        self.series = hv.DynamicMap(self._series)
        self.ranking = hv.DynamicMap(self._ranking)
        self.sectors = hv.DynamicMap(self._sectors)

    def _relabel(self) -> None:
        """Widget names and options in the state's language."""
        state, lang = self.state, self.state.lang
        for widget in (self.metric_select, self.period_select, self.county_select):
            widget.description = None  # the parameters' docs are for developers
        # New options with the current value in the same update: a Select whose options
        # change alone falls back to the first one, and that would change the selection.
        self.metric_select.param.update(name=text("metric", lang), value=state.metric, options={
            metric_label(m, lang): m for m in MAP_METRICS})
        self.period_select.param.update(name=text("period", lang), value=state.period, options={
            period_label(p, lang): p for p in state.param.period.objects})
        self.county_select.param.update(name=text("county", lang), value=state.county, options={
            state.county_name(a): a for a in state.param.county.objects})
        for widget, key in ((self.range_from, "range_from"), (self.range_to, "range_to")):
            widget.param.update(name=text(key, lang), value=widget.value, options={
                period_label(m, lang): m for m in state.months})

    def _on_range(self, event) -> None:
        """Two months chosen: their whole-month range becomes the period."""
        value = self.state.month_range(self.range_from.value, self.range_to.value)
        if value is not None and value != self.state.period:
            self._relabel()  # the new period among the period selector's options
            self.state.period = value

    def _names(self) -> dict[str, str]:
        return {a: self.state.county_name(a) for a in self.regions["adcode"]}

    @param.depends("state.metric", "state.period", "state.county", "state.lang")
    def _map(self):
        state = self.state
        values = state.county_values().to_series()
        title = text("map_title", state.lang).format(
            period=period_label(state.period, state.lang), metric=state.metric_label)
        return choropleth(self.regions, values, label=state.metric_label,
                          units=state.metric_units, title=title, selected=state.county,
                          names=self._names(), lang=state.lang)

    @param.depends("state.metric", "state.period", "state.county", "state.lang")
    def _ranking(self):
        state = self.state
        title = text("ranking_title", state.lang).format(metric=state.metric_label)
        return county_ranking(state.county_values().to_series(), self._names(),
                              label=state.metric_label, units=state.metric_units,
                              title=title, selected=state.county, lang=state.lang)

    @param.depends("state.metric", "state.period", "state.county", "state.lang")
    def _series(self):
        state = self.state
        title = text("series_title", state.lang).format(county=state.county_name(),
                                                        metric=state.metric_label)
        return monthly_series(state.monthly(), label=state.metric_label,
                              units=state.metric_units, title=title,
                              highlight=state.bounds, lang=state.lang)

    @param.depends("state.metric", "state.period", "state.county", "state.lang")
    def _sectors(self):
        state = self.state
        title = text("sector_title", state.lang).format(county=state.county_name(),
                                                        metric=state.metric_label)
        return sector_breakdown(state.sector_values(), label=state.metric_label,
                                units=state.metric_units, title=title, lang=state.lang)

    @param.depends("state.period", "state.county", "state.lang")
    def _kpis(self):
        return pn.pane.HTML(kpi_html(self.state.kpis(), text("vs_last_year", self.state.lang)),
                            stylesheets=[KPI_CSS], sizing_mode="stretch_width")

    @param.depends("state.lang")
    def _header(self):
        lang = self.state.lang
        city = self.regions["parent_name_zh"].iloc[0] if lang == "zh" else ""
        return pn.pane.Markdown(f"## {city}{text('supervision', lang)} · "
                                f"{text('overview', lang)}", margin=(5, 10))

    def _on_tap(self, index):
        """A click on the map selects that county; a click beside it goes back to the city."""
        adcodes = list(self.regions["adcode"])
        if index and 0 <= index[0] < len(adcodes):
            self.state.county = adcodes[index[0]]
        else:
            self.state.county = self.state.city

    def __panel__(self):
        controls = pn.FlexBox(self.metric_select, self.period_select, self.range_from,
                              self.range_to, self.county_select, self.lang_switch,
                              sizing_mode="stretch_width")
        plots = pn.FlexBox(
            pn.pane.HoloViews(self.map, min_width=340, height=460, sizing_mode="stretch_width",
                              styles={"flex": "1 1 420px"}),
            pn.pane.HoloViews(self.ranking, min_width=300, height=460,
                              sizing_mode="stretch_width", styles={"flex": "1 1 320px"}),
            pn.pane.HoloViews(self.series, min_width=340, height=460,
                              sizing_mode="stretch_width", styles={"flex": "1 1 420px"}),
            pn.pane.HoloViews(self.sectors, min_width=300, height=380,
                              sizing_mode="stretch_width", styles={"flex": "1 1 320px"}),
            sizing_mode="stretch_width")
        return pn.Column(self._header, controls, self._kpis, plots, sizing_mode="stretch_width")


def sync_with_url(state) -> None:
    """Keep the selection in the page's URL query (``?county=411002&period=2020Q1``): a link
    reproduces the view and the back button returns to the previous one. Values from the URL
    are checked against the allowed ones (:meth:`OverviewState.apply_query`)."""
    # The request's own arguments: there before the first render (the location's query is
    # filled in by the browser a moment later).
    state.apply_query({key: values[-1].decode("utf-8", "replace")
                       for key, values in (pn.state.session_args or {}).items() if values})
    location = pn.state.location
    if location is None:
        return

    def to_url(*events) -> None:
        if location.query_params != state.query():
            location.update_query(**state.query())

    def from_url(event) -> None:
        state.apply_query(location.query_params)

    state.param.watch(to_url, list(state.query()))
    location.param.watch(from_url, "search")
    to_url()
    # Panel pushes each change onto the history but does not listen for the back button: a
    # step back loads the page again, and the URL it lands on restores that view.
    if pn.state.curdoc is not None:
        pn.state.curdoc.js_on_event("document_ready", CustomJS(code=(
            "window.addEventListener('popstate', () => window.location.reload());")))


def create_overview_app(catalog: str | None = None):
    """A new overview page for one session (or an alert saying what data is missing)."""
    try:
        path = str(catalog or catalog_path())
        cube, regions = load_data(path, version("cube", open_catalog(path)))
    except UserError as exc:
        return pn.pane.Alert(f"{text('data_unavailable', 'zh')} / "
                             f"{text('data_unavailable', 'en')}: {exc}", alert_type="danger")
    state = OverviewState(cube, names_en=dict(zip(regions["adcode"], regions["name_en"])))
    sync_with_url(state)
    return OverviewDashboard(state=state, regions=regions)

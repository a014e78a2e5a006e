"""The overview page (总览): county choropleth of a metric for a period and the monthly series
of the county clicked on the map or chosen in the selector."""

from __future__ import annotations

import holoviews as hv
import panel as pn
import param

from ..catalog import catalog_path, open_catalog, version
from ..errors import UserError
from ..loading import load_cube, load_regions
from ..periods import period_label
from ..state import MAP_METRICS, OverviewState
from ..views import choropleth, monthly_series
from ..vocab import CUBE_VARIABLE

hv.extension("bokeh", logo=False)


@pn.cache(max_items=2)
def load_data(path: str, cube_version: str):
    """Cube and regions, loaded once per cube version and shared by all sessions; a new
    cube (after `safetyviz demo`, `cube` or an ingest) is picked up by the next session."""
    cat = open_catalog(path)
    return load_cube(cat), load_regions(cat)


class OverviewDashboard(pn.viewable.Viewer):
    """Map and series over one :class:`OverviewState`."""

    state = param.ClassSelector(class_=OverviewState, doc="The selection this page shows.")
    regions = param.Parameter(doc="County boundaries (GeoDataFrame sorted by adcode).")

    def __init__(self, **params):
        super().__init__(**params)
        state = self.state
        self.metric_select = pn.widgets.Select.from_param(
            state.param.metric, name="指标",
            options={CUBE_VARIABLE[m].long_name_zh: m for m in MAP_METRICS})
        self.period_select = pn.widgets.Select.from_param(
            state.param.period, name="时段",
            options={period_label(p): p for p in state.param.period.objects})
        self.county_select = pn.widgets.Select.from_param(
            state.param.county, name="县（市、区）",
            options={state.county_name(a): a for a in state.param.county.objects})
        self.map = hv.DynamicMap(self._map)
        self.taps = hv.streams.Selection1D(source=self.map)
        self.taps.add_subscriber(self._on_tap)
        self.series = hv.DynamicMap(self._series)

    @param.depends("state.metric", "state.period", "state.county")
    def _map(self):
        values = self.state.county_values().to_series()
        title = (f"{period_label(self.state.period)} 各县（市、区）{self.state.metric_label}"
                 f"（{self.state.metric_units}）")
        return choropleth(self.regions, values, label=self.state.metric_label,
                          units=self.state.metric_units, title=title, selected=self.state.county)

    @param.depends("state.metric", "state.period", "state.county")
    def _series(self):
        title = f"{self.state.county_name()} 逐月{self.state.metric_label}"
        return monthly_series(self.state.monthly(), label=self.state.metric_label,
                              units=self.state.metric_units, title=title,
                              highlight=self.state.bounds)

    def _on_tap(self, index):
        """A click on the map selects that county; a click beside it goes back to the city."""
        adcodes = list(self.regions["adcode"])
        if index and 0 <= index[0] < len(adcodes):
            self.state.county = adcodes[index[0]]
        else:
            self.state.county = self.state.city

    def __panel__(self):
        city_name = self.regions["parent_name_zh"].iloc[0]
        header = pn.pane.Markdown(f"## {city_name}安全生产监管 · 总览", margin=(5, 10))
        controls = pn.Row(self.metric_select, self.period_select, self.county_select,
                          sizing_mode="stretch_width")
        return pn.Column(
            header, controls,
            pn.Row(pn.pane.HoloViews(self.map, sizing_mode="stretch_width", height=460),
                   pn.pane.HoloViews(self.series, sizing_mode="stretch_width", height=460),
                   sizing_mode="stretch_width"),
            sizing_mode="stretch_width")


def create_overview_app(catalog: str | None = None):
    """A new overview page for one session (or an alert saying what data is missing)."""
    try:
        path = str(catalog or catalog_path())
        cube, regions = load_data(path, version("cube", open_catalog(path)))
    except UserError as exc:
        return pn.pane.Alert(f"数据不可用 / data unavailable: {exc}", alert_type="danger")
    return OverviewDashboard(state=OverviewState(cube), regions=regions)

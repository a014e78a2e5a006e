"""The overview page (总览): county choropleth of a metric for a period and the monthly series
of the county clicked on the map or chosen in the selector."""

from __future__ import annotations

from typing import cast

import panel as pn
import param
from bokeh.core.properties import field
from bokeh.models import ColorMapper, ColumnDataSource, HoverTool, MultiPolygons
from bokeh.models.annotations import ColorBar  # not in bokeh.models' static exports
from bokeh.models.renderers import GlyphRenderer  # (nor this)

from safetyviz.core.i18n import metric_label, text
from safetyviz.core.periods import period_label
from safetyviz.data.catalog import catalog_path, version
from safetyviz.data.regions import mapped_units
from safetyviz.web.components.bulletin import BulletinDownload
from safetyviz.web.components.inplace import stacked, wrapping_row
from safetyviz.web.components.page import (
    LEVELS_CSS,
    TILES_DOC,
    Level,
    SelectionPage,
    asked_city,
    at_level,
    audit,
    drawn_after_the_page,
    english_names,
    level_html,
    load_hierarchy,
    map_tiles,
    open_page,
    province_of,
    sync_with_url,
    unmapped_html,
    unmapped_note,
    wrapping,
)
from safetyviz.web.components.search import search_box
from safetyviz.web.state import MAP_METRICS, OverviewState
from safetyviz.web.views import (
    choropleth,
    choropleth_columns,
    choropleth_hover,
    colour_range,
    county_ranking,
    plot_title,
    quantity_label,
)

RANKING_TOP = 20  # counties drawn in the ranking (a province has a hundred and more)


class OverviewDashboard(SelectionPage):
    """Headline cards, map, ranking, sectors and series over one :class:`OverviewState`."""

    regions = param.Parameter(doc="County boundaries (GeoDataFrame sorted by adcode).")
    tiles = param.String(default=None, allow_None=True, doc=TILES_DOC)
    level = param.ClassSelector(class_=Level, default=None, allow_None=True,
                                doc="Where in a province's data the page is (its cities, or "
                                    "one city's counties); None for a city's data.")
    bulletin = param.ClassSelector(class_=BulletinDownload, default=None, allow_None=True,
                                   doc="The bulletin of the selection, made on request "
                                       "(None: none offered).")

    def __init__(self, **params):
        super().__init__(**params)
        self.levels = None if self.level is None else pn.pane.HTML(
            self._levels_html(), margin=(0, 10), stylesheets=[LEVELS_CSS],
            sizing_mode="stretch_width")
        if self.level is not None:  # its links keep the metric (period: by _retext)
            self.state.param.watch(lambda event: self._retext(), "metric")
        self.map = self.in_place(self._map, key=(self.tiles,), on_tap=self._on_tap,
                                 derive=self._recoloured,
                                 derived_on=("metric", "period", "county"))
        self.ranking = self.in_place(self._ranking)
        self.sectors = self.in_place(self._sectors)
        self.unmapped = unmapped_note(self.regions, self.state.county_names(), self.state.lang)
        self.state.param.watch(self._renote, "lang")

    def _controls(self) -> None:
        super()._controls()
        state = self.state
        self.metric_select = pn.widgets.Select.from_param(state.param.metric)
        start, end = (f"{t:%Y-%m}" for t in state.bounds)
        months = state.months
        self.range_from = pn.widgets.Select(value=start if start in months else months[0],
                                            width=150)
        self.range_to = pn.widgets.Select(value=end if end in months else months[-1],
                                          width=120)
        for widget in (self.range_from, self.range_to):
            widget.param.watch(self._on_range, "value")

    def _relabel(self) -> None:
        super()._relabel()
        state, lang = self.state, self.state.lang
        if self.level is not None and self.level.by_city:  # the province's units: cities
            self.county_select.name = text("city_unit", lang)
        self.metric_select.description = None
        self.metric_select.param.update(name=text("metric", lang), value=state.metric, options={
            metric_label(m, lang): m for m in MAP_METRICS})
        for widget, key in ((self.range_from, "range_from"), (self.range_to, "range_to")):
            widget.param.update(name=text(key, lang), value=widget.value, options={
                period_label(m, lang): m for m in state.months})

    def _on_range(self, event) -> None:
        """Two months chosen: their whole-month range becomes the period."""
        value = self.state.month_range(self.range_from.value, self.range_to.value)
        if value is not None and value != self.state.period:
            self._relabel()  # the new period among the period selector's options
            self.state.period = value

    def _levels_html(self) -> str:
        if self.level is None:
            return ""
        state = self.state
        keep = {key: value for key, value in state.query().items()
                if key in ("period", "metric")}
        return level_html(self.level, state.lang, state.county, state.county_name(), keep)

    def _retext(self, *events) -> None:
        super()._retext(*events)
        if self.levels is not None:
            self.levels.object = self._levels_html()

    def _renote(self, event) -> None:
        self.unmapped.text = unmapped_html(self.regions, self.state.county_names(),
                                           self.state.lang)

    def _map_title(self) -> str:
        state = self.state
        by_city = self.level is not None and self.level.by_city
        return text("map_title_cities" if by_city else "map_title", state.lang).format(
            period=period_label(state.period, state.lang), metric=state.metric_label)

    def _map(self):
        """The map drawn (once per language); the drawing of each metric, period and county
        is a copy of it recoloured (:meth:`_recoloured`)."""
        state = self.state
        return choropleth(self.regions, state.county_values().to_series(),
                          label=state.metric_label, units=state.metric_units,
                          title=self._map_title(), selected=state.county,
                          names=state.county_names(), tiles=self.tiles, lang=state.lang)

    def _recoloured(self, drawing) -> None:
        """``drawing`` (a copy of the map's) made the map of the state's metric, period and
        county: its values, colour range, title, colour bar title and hover label — a few
        numbers per county, its shapes untouched."""
        state = self.state
        columns = choropleth_columns(self.regions, state.county_values().to_series(),
                                     units=state.metric_units, selected=state.county,
                                     names=state.county_names(), lang=state.lang)
        renderer = next(r for r in drawing.renderers if isinstance(r, GlyphRenderer))
        source = cast(ColumnDataSource, renderer.data_source)  # (HoloViews draws from one)
        # the selected county's outline as a column, even when HoloViews drew every outline
        # alike (one width: no column)
        source.data.update(color=columns["value"], line_width=columns["line"], **columns)
        for glyph in (renderer.glyph, renderer.selection_glyph, renderer.nonselection_glyph,
                      renderer.hover_glyph, renderer.muted_glyph):
            if isinstance(glyph, MultiPolygons):  # (None or "auto": Bokeh's own)
                glyph.line_width = field("line_width")
        low, high = colour_range(columns["value"])
        for mapper in drawing.select({"type": ColorMapper}):
            mapper.update(low=low, high=high)
        drawing.title.text = plot_title(self._map_title())
        label = quantity_label(state.metric_label, state.metric_units, state.lang)
        for bar in drawing.select({"type": ColorBar}):
            bar.title = label
        labels = [label for label, _ in choropleth_hover(state.metric_label, state.lang)]
        for hover in drawing.select({"type": HoverTool}):  # (fields as HoloViews wrote them)
            hover.tooltips = [(label, field) for label, (_, field) in zip(
                labels, hover.tooltips, strict=True)]

    def _ranking(self):
        state = self.state
        key = "ranking_top_title" if len(self.regions) > RANKING_TOP else "ranking_title"
        title = text(key, state.lang).format(metric=state.metric_label, top=RANKING_TOP)
        return county_ranking(state.county_values().to_series(), state.county_names(),
                              label=state.metric_label, units=state.metric_units,
                              title=title, selected=state.county, top=RANKING_TOP,
                              lang=state.lang)

    def _on_tap(self, index):
        """A click on the map selects that county; a click beside it goes back to the city."""
        adcodes = list(mapped_units(self.regions)["adcode"])
        if index and 0 <= index[0] < len(adcodes):
            self.state.county = adcodes[index[0]]
        elif self.state.city_total:
            self.state.county = self.state.city

    def _plots(self) -> pn.pane.Bokeh:
        # a ranking of one county (a user who sees only theirs) says nothing
        ranking = [self.ranking.laid_out(min_width=300, height=460, sizing_mode="stretch_width",
                                         styles={"flex": "1 1 320px"})
                   ] if len(self.regions) > 1 else []
        return pn.pane.Bokeh(wrapping_row(
            stacked(self.map.laid_out(min_width=340, height=460, sizing_mode="stretch_width"),
                    self.unmapped, sizing_mode="stretch_width", styles={"flex": "1 1 420px"}),
            *ranking,
            self.series.laid_out(min_width=340, height=460, sizing_mode="stretch_width",
                                 styles={"flex": "1 1 420px"}),
            self.sectors.laid_out(min_width=300, height=380, sizing_mode="stretch_width",
                                  styles={"flex": "1 1 320px"})),
            sizing_mode="stretch_width", margin=0)

    def __panel__(self):
        controls = wrapping(self.metric_select, self.period_select, self.range_from,
                            self.range_to, self.county_select,
                            *([self.bulletin] if self.bulletin is not None else []))
        levels = [self.levels] if self.levels is not None else []
        return pn.Column(*self._top(), *levels, controls, self.cards,
                         drawn_after_the_page(self._plots), sizing_mode="stretch_width")


def create_overview_app(catalog: str | None = None):
    """A new overview page for one session (or an alert saying what data is missing). Over
    a province's data, a user who sees all of it starts at the province (its cities on the
    map) and enters a city with ``?city=ADCODE``; a city user sees its city as before."""
    def build(cat, cube, regions, access):
        level, units = None, regions
        if access.all_counties:
            path = str(catalog or catalog_path())
            asked = asked_city()
            regions_version = version("regions", cat)
            province = province_of(path, regions_version)  # (None: a city's data)
            seen = None if province is None else at_level(
                cube, regions, load_hierarchy(path, regions_version), asked, province)
            if seen is not None:
                cube, regions, level = seen
                if asked and asked != level.here:  # not one of the province's cities
                    audit("rejected_query", query={"city": asked})
        state = OverviewState(cube, names_en=english_names(regions),
                              city_total=access.sees_whole)
        sync_with_url(state)
        bulletin = BulletinDownload(state=state, access=access,
                                    catalog=str(catalog or catalog_path()))
        return OverviewDashboard(state=state, regions=regions, tiles=map_tiles(), access=access,
                                 level=level, search=search_box(state, catalog, access, units),
                                 bulletin=bulletin)

    return open_page(catalog, build, levels=False)  # (its own: the cities on its map)

"""The four-colour risk map page (安全风险四色图): enterprises as points coloured by risk level
over the county boundaries, filtered by sector and level, with the major hazard installations
marked; and per county, the dual-prevention progress of the enterprises above designated
size."""

from __future__ import annotations

import html

import holoviews as hv
import pandas as pd
import panel as pn
import param

from safetyviz.core.errors import UserError
from safetyviz.core.i18n import LANGUAGE_NAMES, text
from safetyviz.core.vocab import RISK_LEVELS, SECTORS, label
from safetyviz.data.catalog import catalog_path, version
from safetyviz.data.loading import load_table
from safetyviz.data.regions import top_unit, unmapped_names
from safetyviz.ingest.register import provisional_records
from safetyviz.web.components.page import (
    TILES_DOC,
    drawn_after_the_page,
    load_registers,
    map_tiles,
    shared_catalog,
    show_county_choices,
    sync_with_url,
    unavailable,
    unit_cities,
    viewer_access,
    wrapping,
)
from safetyviz.web.components.search import search_box
from safetyviz.web.riskmap import RISK_COLOURS, RiskMapState
from safetyviz.web.state import NoNone
from safetyviz.web.views import dual_prevention_bars, risk_map

hv.extension("bokeh", logo=False)


CHIPS_CSS = """
.choices__list--multiple .choices__item {background-color: #5b2c6f !important;
                                         border-color: #4a235a !important;}
.choices__list--multiple .choices__item.is-highlighted {background-color: #4a235a !important;}
"""


class RiskMapPage(pn.viewable.Viewer):
    """Filters, map and progress over one :class:`RiskMapState`."""

    state = param.ClassSelector(class_=RiskMapState, allow_None=NoNone,
                                doc="The selection this page shows.")
    regions = param.Parameter(doc="County boundaries (GeoDataFrame sorted by adcode).")
    tiles = param.String(default=None, allow_None=True, doc=TILES_DOC)
    search = param.Parameter(default=None, doc="The enterprise search box (None: none).")

    def __init__(self, **params):
        super().__init__(**params)
        state = self.state
        # the chips not in the widget's blue: blue means low risk on this page
        self.sector_filter = pn.widgets.MultiChoice.from_param(state.param.sectors,
                                                               stylesheets=[CHIPS_CSS])
        self.level_filter = pn.widgets.CheckButtonGroup.from_param(state.param.levels,
                                                                   button_type="light")
        self.county_select = pn.widgets.Select.from_param(state.param.county)
        self.lang_switch = pn.widgets.RadioButtonGroup.from_param(
            state.param.lang, options=LANGUAGE_NAMES, name="", button_type="light",
            align="end")
        self._relabel()
        state.param.watch(lambda event: self._relabel(), "lang")
        self.map = hv.DynamicMap(self._map)
        self.progress = hv.DynamicMap(self._progress)

    def _relabel(self) -> None:
        state, lang = self.state, self.state.lang
        for widget in (self.sector_filter, self.level_filter, self.county_select):
            widget.description = None
        self.sector_filter.param.update(name=text("sector", lang), value=state.sectors,
                                        options={label("sector", c, lang): c for c in SECTORS})
        self.level_filter.param.update(name=text("risk_level", lang), value=state.levels,
                                       options={label("risk_level", c, lang): c
                                                for c in RISK_LEVELS})
        show_county_choices(self.county_select, state)
        # The same codes in new options: Panel keeps the old labels as the chips' value (they
        # went blank after a language switch) unless told to send the value again.
        self.sector_filter.param.trigger("value")

    @param.depends("state.sectors", "state.levels", "state.county", "state.lang")
    def _map(self):
        state = self.state
        points = state.points()
        area = state.city if state.city_total else state.county
        title = text("riskmap_title", state.lang).format(county=state.county_name(area),
                                                         n=f"{len(points):,}")
        return risk_map(self.regions, points, state.sites, RISK_COLOURS, title=title,
                        selected=state.county, tiles=self.tiles, lang=state.lang)

    @param.depends("state.lang")
    def _progress(self):
        state = self.state
        names = {a: state.county_name(a) for a in state.param.county.objects}
        return dual_prevention_bars(state.dual_prevention(), names,
                                    title=text("dual_title", state.lang), lang=state.lang)

    @param.depends("state.sectors", "state.levels", "state.lang")
    def _legend(self):
        counts = self.state.level_counts()
        items = "".join(
            f'<span style="display:inline-block;margin-right:14px">'
            f'<span style="display:inline-block;width:12px;height:12px;border-radius:6px;'
            f'background:{RISK_COLOURS[code]};margin-right:4px"></span>'
            f'{label("risk_level", code, self.state.lang)} {counts[code]:,}</span>'
            for code in RISK_LEVELS)
        notes = []
        missing = self.state.unregistered_records()
        if missing["firms"]:
            notes.append(text("provisional_note", self.state.lang).format(
                **{k: f"{v:,}" for k, v in missing.items()}))
        names = {a: self.state.county_name(a) for a in self.regions["adcode"]}
        unmapped = unmapped_names(self.regions, names)
        if unmapped:
            notes.append(text("unmapped", self.state.lang).format(names="、".join(unmapped)))
        notes_html = "".join(f'<div class="map-note" style="font-size:12px;color:#566573">'
                             f'{html.escape(n)}</div>' for n in notes)
        return pn.pane.HTML(f'<div class="risk-legend">{items}</div>{notes_html}',
                            margin=(0, 10))

    @param.depends("state.county", "state.lang")
    def _header(self):
        """The area shown and the page (the shell's header names the city and the page)."""
        state = self.state
        return pn.pane.Markdown(f"## {html.escape(state.county_name(state.county))} · "
                                f"{text('riskmap', state.lang)}", margin=(5, 10))

    def __panel__(self):
        controls = wrapping(self.level_filter, self.sector_filter, self.county_select)
        return pn.Column(*([self.search] if self.search is not None else []), self._header,
                         controls, self._legend,
                         drawn_after_the_page(self._plots), sizing_mode="stretch_width")

    def _plots(self) -> pn.FlexBox:
        return pn.FlexBox(
            pn.pane.HoloViews(self.map, height=560, min_width=340, sizing_mode="stretch_width",
                              styles={"flex": "2 1 520px"}),
            pn.pane.HoloViews(self.progress, height=400, min_width=320,
                              sizing_mode="stretch_width", styles={"flex": "1 1 360px"}),
            sizing_mode="stretch_width")


@pn.cache(max_items=4)
def _unregistered_records(path: str, versions: tuple[str, ...]) -> pd.DataFrame:
    cat = shared_catalog(path)
    enterprises = load_table("enterprises", ["enterprise_id", "registered"], cat).compute()
    return provisional_records(enterprises, cat).to_pandas()


def unregistered_records(path: str) -> pd.DataFrame:
    """Records naming provisional firms, per table and county (table, adcode, records,
    firms), read once per version of the register and record tables for all sessions."""
    cat = shared_catalog(path)
    return _unregistered_records(path, tuple(version(t, cat) for t in (
        "enterprises", "inspections", "hazards", "enforcement_actions")))


def create_riskmap_app(catalog: str | None = None):
    """A new risk map page for one session (or an alert saying what data is missing)."""
    try:
        path = str(catalog or catalog_path())
        access = viewer_access(path)
        enterprises, sites, regions = load_registers(path, "enterprises", "major_hazard_sites")
        unregistered = unregistered_records(path)
    except (UserError, PermissionError) as exc:
        return unavailable(exc)
    city = access.area or top_unit(regions)[0]  # (the whole a city user sees: their city)
    enterprises, sites, regions = (access.restrict(enterprises), access.restrict(sites),
                                   access.restrict(regions))
    counties = list(regions["adcode"])
    unregistered = access.restrict(unregistered)
    state = RiskMapState(enterprises, sites, city, counties, city_total=access.sees_whole,
                         unregistered=unregistered, unit_cities=unit_cities(path, regions),
                         names={"zh": dict(zip(counties, regions["name_zh"])),
                                "en": dict(zip(counties, regions["name_en"]))})
    sync_with_url(state)
    return RiskMapPage(state=state, regions=regions, tiles=map_tiles(),
                       search=search_box(state, path, access, regions))

"""The enforcement page (执法): for the city or one county and a period, the enforcement cards
(fines, penalty cases, closures, detentions, joint operations, each against a year earlier),
fines month by month and by sector, actions by type (bans, scattered-polluting closures,
black gas stations, illegal fuel vehicles, illegal units, detentions…) and the joint
operations on a timeline and in a downloadable table (counties by name, a target that is a
registered firm linked to its profile)."""

from __future__ import annotations

import panel as pn
import param

from safetyviz.analysis.enterprises import firms_named
from safetyviz.analysis.records import actions_by_type, joint_operations
from safetyviz.core.i18n import text
from safetyviz.core.periods import period_label
from safetyviz.data.catalog import catalog_path
from safetyviz.web.components.page import (
    SelectionPage,
    drawn_after_the_page,
    english_names,
    firm_names,
    load_registers,
    open_page,
    or_cluster_status,
    sync_with_url,
    unit_cities,
    wrapping,
)
from safetyviz.web.components.search import search_box
from safetyviz.web.components.tables import RecordTable
from safetyviz.web.state import OverviewState
from safetyviz.web.views import action_types, joint_timeline

pn.extension("tabulator")


class EnforcementState(OverviewState):
    """The overview's selection, with fines as the metric and enforcement cards."""

    kpi_metrics = ["fines_yuan", "penalty_cases", "closures", "detentions", "joint_operations"]

    def __init__(self, cube, **params):
        super().__init__(cube, **{"metric": "fines_yuan", **params})
        self.param.metric.objects = ["fines_yuan"]  # the page shows fines, whatever the URL

    @property
    def scope(self) -> str | tuple[str, ...]:
        """The county the records are read for; for the total, every county of the cube —
        never more than the session may see (a city user's total over a province's data is
        its city's)."""
        if self.county == self.city:
            return tuple(str(a) for a in self.cube["adcode"].values)
        return self.county


class EnforcementPage(SelectionPage):
    """Cards, fines and actions over one :class:`EnforcementState`."""

    HEADING = "enforcement"

    catalog = param.Parameter(doc="The catalog the records are read through.")
    register = param.DataFrame(doc="The firms of the session's counties (enterprise_id, "
                                   "name, adcode): joint operations' targets are named by it.")

    def __init__(self, **params):
        super().__init__(**params)
        self.sectors = self.in_place(self._sectors)
        self.operations = RecordTable(table_name="joint_operations", access=self.access,
                                      firms=firm_names(self.register))

    @param.depends("state.period", "state.county", "state.lang")
    def _records(self):
        return or_cluster_status(self._actions_and_operations,
                                 lambda: self.state.param.trigger("period"))

    def _actions_and_operations(self):
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
            pn.pane.HoloViews(joint_timeline(
                operations, state.county_names(), lang=lang,
                title=text("joint_title", lang).format(county=county, period=period)),
                height=360, min_width=320, sizing_mode="stretch_width",
                styles={"flex": "1 1 420px"}),
            sizing_mode="stretch_width")
        listed = operations.assign(
            county=[state.county_name(str(a)) for a in operations["adcode"]],
            enterprise_id=firms_named(operations, self.register))
        return pn.Column(plots, self.operations.show_records(listed, state),
                         sizing_mode="stretch_width")

    def __panel__(self):
        controls = wrapping(self.county_select, self.period_select)
        return pn.Column(*self._top(), self.header, controls, self.cards,
                         drawn_after_the_page(self._plots_and_tables),
                         sizing_mode="stretch_width")

    def _plots_and_tables(self) -> pn.Column:
        plots = pn.FlexBox(
            self.series.panel(height=360, min_width=320, sizing_mode="stretch_width",
                              styles={"flex": "2 1 480px"}),
            self.sectors.panel(height=360, min_width=300, sizing_mode="stretch_width",
                               styles={"flex": "1 1 320px"}),
            sizing_mode="stretch_width")
        return pn.Column(plots, self._records, sizing_mode="stretch_width")


def create_enforcement_app(catalog: str | None = None):
    """A new enforcement page for one session (or an alert saying what data is missing)."""
    def build(cat, cube, regions, access):
        path = str(catalog or catalog_path())
        state = EnforcementState(cube, names_en=english_names(regions),
                                 city_total=access.sees_whole,
                                 unit_cities=unit_cities(path, regions))
        sync_with_url(state)
        (firms, _) = load_registers(path, "enterprises")
        return EnforcementPage(state=state, catalog=cat, access=access,
                               register=access.restrict(firms)[["enterprise_id", "name",
                                                                "adcode"]],
                               search=search_box(state, catalog, access, regions))

    return open_page(catalog, build)

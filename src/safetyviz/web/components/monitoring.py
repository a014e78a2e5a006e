"""The live monitoring page (重大危险源监测预警): installations online on a map, the online
rate against the province's, the alarms of the last day and the chosen sensor's readings with
its thresholds — each installation named by its firm, linked to the firm's profile —,
refreshed every few seconds from the readings appended since (a periodic callback of the
session, no page reload)."""

from __future__ import annotations

import html

import holoviews as hv
import pandas as pd
import panel as pn
import param

from safetyviz.analysis.reference import province_online_rate
from safetyviz.core.errors import UserError
from safetyviz.core.i18n import LANGUAGE_NAMES, text
from safetyviz.core.vocab import label
from safetyviz.data.catalog import catalog_path, local_path
from safetyviz.data.notices import outbox_beside
from safetyviz.data.regions import top_unit
from safetyviz.web.components.notices import NoticeBoard
from safetyviz.web.components.page import (
    KPI_CSS,
    firm_names,
    kpi_html,
    load_registers,
    shared_catalog,
    sync_with_url,
    unavailable,
    viewer_access,
    wrapping,
)
from safetyviz.web.components.search import search_box
from safetyviz.web.components.tables import URL_COLUMN
from safetyviz.web.live import WINDOWS, MonitoringState
from safetyviz.web.names import installation_names, sensor_names
from safetyviz.web.notices import NoticesState
from safetyviz.web.state import NoNone
from safetyviz.web.views import profile_url, sensor_curve, site_status_map

hv.extension("bokeh", logo=False)

REFRESH_MS = 1000  # new readings on the page within this plus one refresh (cheap when none)


class MonitoringPage(pn.viewable.Viewer):
    """Cards, map, alarm list and sensor curve over one :class:`MonitoringState`."""

    state = param.ClassSelector(class_=MonitoringState, allow_None=NoNone,
                                doc="What this page shows.")
    regions = param.Parameter(doc="County boundaries (GeoDataFrame sorted by adcode).")
    search = param.Parameter(default=None, doc="The enterprise search box (None: none).")
    firms = param.Dict(default={}, doc="Firm names by enterprise_id (the installations' "
                                       "owners are named, their profiles linked).")
    notices = param.ClassSelector(class_=NoticesState, default=None, allow_None=True,
                                  doc="The notifier's events of the session's counties "
                                      "(None: no notifier writes to this data dir).")

    def __init__(self, **params):
        super().__init__(**params)
        state = self.state
        self.site_select = pn.widgets.Select.from_param(state.param.site)
        self.sensor_select = pn.widgets.Select.from_param(state.param.sensor)
        self.window_select = pn.widgets.RadioButtonGroup.from_param(
            state.param.window, options=list(WINDOWS), button_type="light")
        self.lang_switch = pn.widgets.RadioButtonGroup.from_param(
            state.param.lang, options=LANGUAGE_NAMES, name="", button_type="light",
            align="end")
        self.alarm_table = pn.widgets.Tabulator(
            pd.DataFrame(), disabled=True, show_index=False, height=260,
            sizing_mode="stretch_width", pagination=None)
        self._relabel()
        state.param.watch(lambda event: self._relabel(), "lang")
        state.param.watch(lambda event: self._sensor_options(), "site")
        state.param.watch(lambda event: self._fill_alarms(), ["loads", "lang"])
        self._fill_alarms()
        self.map = hv.DynamicMap(self._map)
        self.curve = hv.DynamicMap(self._curve)
        self.board = None
        if self.notices is not None:
            notices = self.notices
            self.board = NoticeBoard(state=notices, installations=self._installations,
                                     units={lang: dict(zip(self.regions["adcode"],
                                                           self.regions[f"name_{lang}"]))
                                            for lang in ("zh", "en")})
            state.param.watch(lambda event: notices.refresh(), "loads")

    def _relabel(self) -> None:
        lang = self.state.lang
        for widget, key in ((self.site_select, "site"), (self.sensor_select, "sensor"),
                            (self.window_select, "window")):
            widget.description = None
            widget.name = text(key, lang)
        # names shown, codes kept as the values
        self._installations = installation_names(self.state.sites.reset_index(), self.firms,
                                                 lang)
        self._sensors = sensor_names(self.state.sensors.reset_index(), lang)
        if self.notices is not None:
            if getattr(self, "board", None) is not None:
                self.board.installations = self._installations
            self.notices.lang = lang
        self.site_select.param.update(value=self.state.site, options={
            self._installations[site]: site for site in self.state.param.site.objects})
        self._sensor_options()

    def _sensor_options(self) -> None:
        """The chosen installation's sensors by name (they change with the installation)."""
        self.sensor_select.param.update(value=self.state.sensor, options={
            self._sensors.get(sensor, sensor): sensor
            for sensor in self.state.param.sensor.objects})

    def firm_name(self, site: str) -> str:
        firm = str(self.state.sites.loc[site, "enterprise_id"])
        return self.firms.get(firm, firm)

    @param.depends("state.site", "state.lang")
    def _profile_link(self):
        site = self.state.site
        firm = self.state.sites.loc[site, "enterprise_id"]
        return pn.pane.HTML(
            f'<a class="profile-link" href="{html.escape(profile_url(firm, self.state.lang))}">'
            f'{html.escape(text("enterprise_profile", self.state.lang))}：'
            f'{html.escape(self.firm_name(site))}</a>', margin=(0, 10))

    def _fill_alarms(self) -> None:
        lang = self.state.lang
        alarms = self.state.alarms()
        frame = pd.DataFrame({
            text("start", lang): alarms["start"].dt.strftime("%m-%d %H:%M"),
            text("end", lang): [text("ongoing", lang) if o else f"{e:%m-%d %H:%M}"
                                for e, o in zip(alarms["end"], alarms["ongoing"])],
            text("enterprise", lang): [self.firm_name(s) for s in alarms["site_id"]],
            URL_COLUMN: [profile_url(self.state.sites.loc[s, "enterprise_id"], lang)
                         for s in alarms["site_id"]],
            text("sensor", lang): [self._sensors.get(s, s) for s in alarms["sensor_id"]],
            text("level", lang): [text(level, lang) for level in alarms["level"]],
            text("peak", lang): [f"{p:.2f} {u}" for p, u in zip(alarms["peak"],
                                                                  alarms["unit"])]})
        self.alarm_table.param.update(value=frame, hidden_columns=[URL_COLUMN], formatters={
            text("enterprise", lang): {"type": "link", "urlField": URL_COLUMN,
                                       "target": "_self"}})

    @param.depends("state.loads", "state.lang")
    def _kpis(self):
        lang, cards = self.state.lang, self.state.cards()
        latest = pd.Timestamp(self.state.as_of)
        caption = text("as_of", lang).format(time=f"{latest:%Y-%m-%d %H:%M}")
        return pn.Column(pn.pane.HTML(kpi_html(cards, ""), stylesheets=[KPI_CSS],
                                      sizing_mode="stretch_width"),
                         pn.pane.Markdown(caption, margin=(0, 10)),
                         sizing_mode="stretch_width")

    @param.depends("state.status_changes", "state.lang")
    def _map(self):
        lang = self.state.lang
        return site_status_map(self.regions, self.state.site_status(self._installations),
                               title=text("site_map_title", lang), lang=lang)

    @param.depends("state.loads", "state.sensor", "state.window", "state.lang")
    def _curve(self):
        state = self.state
        if state.sensor is None:  # an installation registered before its sensors
            return hv.Curve([]).opts(title=text("no_sensors", state.lang), responsive=True,
                                     min_height=300)
        high, high_high, unit = state.thresholds()
        # the sensor alone: the installation is named just above, and a Bokeh title does
        # not wrap on a phone
        title = self._sensors[state.sensor]
        return sensor_curve(state.curve(), high, high_high, title=title, code=state.sensor,
                            label=label("sensor_kind", state.sensors.loc[state.sensor, "kind"],
                                        state.lang), units=unit, lang=state.lang)

    @param.depends("state.lang")
    def _alarm_heading(self):
        return pn.pane.Markdown(f"#### {text('alarm_list', self.state.lang)}", margin=(0, 10))

    def __panel__(self):
        controls = pn.Column(
            wrapping(self.site_select, self.sensor_select, self.window_select),
            self._profile_link, sizing_mode="stretch_width")
        return pn.Column(
            *([self.search] if self.search is not None else []), self._kpis,
            pn.FlexBox(pn.pane.HoloViews(self.map, height=380, min_width=320,
                                         sizing_mode="stretch_width",
                                         styles={"flex": "1 1 380px"}),
                       pn.Column(self._alarm_heading, self.alarm_table,
                                 styles={"flex": "2 1 480px"}, sizing_mode="stretch_width"),
                       sizing_mode="stretch_width"),
            *([self.board] if self.board is not None else []),
            controls,
            pn.pane.HoloViews(self.curve, height=320, sizing_mode="stretch_width"),
            sizing_mode="stretch_width")

    def start(self, period_ms: int = REFRESH_MS) -> None:
        """Refresh from the readings store every ``period_ms`` while the session lives."""
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            state = self.state

            def refresh() -> None:  # the views follow ``loads``: refresh()'s answer is not needed
                state.refresh()
            pn.state.add_periodic_callback(refresh, period=period_ms)


def notices_of(readings, access) -> NoticesState | None:
    """The notifier's events of ``access``'s counties, from the outbox beside the readings
    store (``readings``: the store or its data dir); None when no notifier writes there."""
    path = outbox_beside(readings)
    if not path.exists():
        return None
    try:
        return NoticesState(path, None if access.all_counties else access.counties,
                            access.user)
    except UserError as exc:  # the page without its notifications beats no page
        pn.state.log(f"notifications not shown: {exc}", level="warning")
        return None


def create_monitoring_app(catalog: str | None = None, data_dir=None):
    """A new live monitoring page for one session (or an alert saying what is missing)."""
    try:
        path = str(catalog or catalog_path())
        access = viewer_access(path)
        sensors, sites, firms, regions = load_registers(path, "sensors", "major_hazard_sites",
                                                        "enterprises")
        firms = access.restrict(firms)
        city, _ = top_unit(regions)
        sensors, sites = access.restrict(sensors), access.restrict(sites)
        regions = access.restrict(regions)
        as_of = pd.Timestamp.now()
        province, _ = province_online_rate(city, pd.Timestamp("1900-01-01"), as_of)
        readings = data_dir or local_path("monitoring", shared_catalog(path))
        state = MonitoringState(readings, sensors, sites, province_rate=province)
        notices = notices_of(readings, access)
    except (UserError, PermissionError) as exc:
        return unavailable(exc)
    sync_with_url(state)
    page = MonitoringPage(state=state, regions=regions, notices=notices,
                          firms=firm_names(firms),
                          search=search_box(state, path, access, regions))
    page.start()
    return page

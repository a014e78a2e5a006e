"""The enterprise profile page (企业画像, ``/enterprise?id=…``): one firm's register entry, its
major hazard installations with their online status and alarms of the last day, its headline
figures for a period against a year earlier, its whole record on a timeline and in
downloadable tables. A provisional firm (named in a ledger, not yet registered) has a profile
too, marked as such. Without an id, the firm of the session's counties with the most open
hazards is shown."""

from __future__ import annotations

import html
import logging

import holoviews as hv
import pandas as pd
import panel as pn
import param

from safetyviz.analysis.enterprises import (
    EnterpriseRecords,
    area_ranking,
    enterprise_records,
)
from safetyviz.core.errors import UserError
from safetyviz.core.i18n import LANGUAGE_NAMES, text
from safetyviz.core.periods import period_label, periods_between
from safetyviz.data.catalog import catalog_path, local_path, version
from safetyviz.web.components.page import (
    KPI_CSS,
    drawn_after_the_page,
    kpi_html,
    load_data,
    load_registers,
    shared_catalog,
    sync_with_url,
    unavailable,
    viewer_access,
    wrapping,
)
from safetyviz.web.components.search import search_box
from safetyviz.web.components.tables import RecordTable
from safetyviz.web.enterprise import EnterpriseState, code_label
from safetyviz.web.live import MonitoringState
from safetyviz.web.names import numbered_installations
from safetyviz.web.riskmap import RISK_COLOURS
from safetyviz.web.state import NoNone
from safetyviz.web.views import enterprise_timeline

hv.extension("bokeh", logo=False)
pn.extension("tabulator")
log = logging.getLogger("safetyviz.web.enterprise")

RECORD_TABLES = ("events", "hazards", "inspections", "actions", "joint_operations")
RECORD_TABLE_FILES = {"events": "timeline", "hazards": "hazards", "inspections": "inspections",
                      "actions": "enforcement_actions", "joint_operations": "joint_operations"}

FACTS_CSS = """
.facts {display: flex; flex-wrap: wrap; gap: 4px 24px; margin: 0 10px; font-size: 14px;}
.facts div span {color: #566573; margin-right: 6px;}
.badge {display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 13px;
        background: #fdebd0; color: #7e5109; margin-left: 8px;}
.risk {display: inline-block; width: 10px; height: 10px; border-radius: 5px;
       margin-right: 4px;}
"""

@pn.cache(max_items=64)
def _records(path: str, versions: tuple[str, ...], enterprise_id: str) -> EnterpriseRecords:
    return enterprise_records(enterprise_id, shared_catalog(path))


RECORD_SOURCES = ("inspections", "hazards", "enforcement_actions", "joint_operations")


def cached_records(path: str, enterprise_id: str) -> EnterpriseRecords:
    """A firm's records, read once per version of the record tables for all sessions."""
    cat = shared_catalog(path)
    return _records(path, tuple(version(t, cat) for t in RECORD_SOURCES), enterprise_id)


@pn.cache(max_items=16)
def _most_open(path: str, versions: tuple[str, ...], counties: tuple[str, ...],
               start: str, end: str) -> str | None:
    cat = shared_catalog(path)
    best: tuple[int, int, str] | None = None
    for county in counties:
        ranking = area_ranking(county, start, end, cat, limit=1)
        if len(ranking):
            row = ranking.iloc[0]
            key = (int(row["open_hazards"]), int(row["overdue_hazards"]),
                   str(row["enterprise_id"]))
            if best is None or key[:2] > best[:2]:
                best = key
    return best[2] if best else None


def most_open_hazards(path: str, counties: list[str], start, end) -> str | None:
    """The firm of ``counties`` with the most hazards open at the end of ``end`` (ties: the
    most overdue), for all sessions once per version of the records."""
    cat = shared_catalog(path)
    return _most_open(path, tuple(version(t, cat) for t in ("hazards", "enforcement_actions")),
                      tuple(counties), f"{pd.Timestamp(start):%Y-%m-%d}",
                      f"{pd.Timestamp(end):%Y-%m-%d}")


class EnterprisePage(pn.viewable.Viewer):
    """Facts, installations, cards, timeline and record tables over one
    :class:`EnterpriseState`."""

    state = param.ClassSelector(class_=EnterpriseState, allow_None=NoNone,
                                doc="The firm and period this page shows.")
    sites = param.DataFrame(doc="The major hazard installations the session may see "
                                "(site_id, enterprise_id, grade, online_since …).")
    sensors = param.DataFrame(default=None, allow_None=True,
                              doc="Their sensors (sensor_id, site_id, kind, thresholds).")
    readings = param.Parameter(default=None, doc="The readings store (None: none yet).")
    search = param.Parameter(doc="The enterprise search box.")
    default_shown = param.Boolean(default=False, doc="Whether no firm was asked for (the "
                                                     "one with most open hazards is shown).")
    access = param.Parameter(doc="Who is looking (whether they may download records).")

    def __init__(self, **params):
        super().__init__(**params)
        state = self.state
        self.period_select = pn.widgets.Select.from_param(state.param.period)
        self.lang_switch = pn.widgets.RadioButtonGroup.from_param(
            state.param.lang, options=LANGUAGE_NAMES, name="", button_type="light",
            align="end")
        self.tables = {name: RecordTable(table_name=RECORD_TABLE_FILES[name],
                                         access=self.access)
                       for name in RECORD_TABLES}
        self.tabs = pn.Tabs(sizing_mode="stretch_width", dynamic=True)
        self.records_area = pn.Column(sizing_mode="stretch_width")
        self.timeline = hv.DynamicMap(self._timeline)
        self._relabel()
        state.param.watch(lambda event: self._relabel(), "lang")
        state.param.watch(lambda event: self._fill_tables(), ["id", "period", "lang"])
        state.param.watch(lambda event: setattr(self, "default_shown", False), "id")

    def _relabel(self) -> None:
        state, lang = self.state, self.state.lang
        self.period_select.description = None
        self.period_select.param.update(name=text("period", lang), value=state.period, options={
            period_label(p, lang): p for p in state.param.period.objects})

    @param.depends("state.id", "state.lang", "default_shown")
    def _header(self):
        state, lang = self.state, self.state.lang
        badge = "" if state.registered() else \
            f'<span class="badge">{html.escape(text("provisional", lang))}</span>'
        note = (f'<div style="color:#566573;font-size:13px;margin:0 10px">'
                f'{html.escape(text("no_firm", lang))}</div>') if self.default_shown else ""
        firm = state.firm()
        colour = RISK_COLOURS.get(str(firm.get("risk_level")), "#d5d8dc")
        facts = "".join(
            f'<div data-fact="{name}"><span>{html.escape(label)}</span>'
            + (f'<span class="risk" style="background:{colour}"></span>'
               if name == "risk_level" else "")
            + f'{html.escape(value)}</div>'
            for name, label, value in state.facts())
        return pn.pane.HTML(
            f'<h2 style="margin:6px 10px">{html.escape(state.firm_name())}{badge}</h2>{note}'
            f'<div class="facts">{facts}</div>',
            stylesheets=[FACTS_CSS], sizing_mode="stretch_width")

    @param.depends("state.id", "state.period", "state.lang")
    def _kpis(self):
        return pn.pane.HTML(kpi_html(self.state.kpis(), text("vs_last_year", self.state.lang)),
                            stylesheets=[KPI_CSS], sizing_mode="stretch_width")

    @param.depends("state.id", "state.lang")
    def _installations(self):
        state, lang = self.state, self.state.lang
        sites = self.sites[self.sites["enterprise_id"].astype(str) == state.id]
        if not len(sites):
            return pn.Spacer(height=0)
        online, alarms = self._monitoring(sites)
        names = numbered_installations(sites["site_id"], lang)
        rows = []
        for site in sites.itertuples(index=False):
            of_site = alarms[alarms["site_id"] == site.site_id]
            connected = not pd.isna(site.online_since)
            status = (text("online" if bool(online.get(site.site_id, False)) else "offline",
                           lang) if connected else text("not_connected", lang))
            rows.append({text("site", lang): names[site.site_id],
                         text("grade", lang): site.grade,
                         text("status", lang): status,
                         text("alarms_24h", lang): len(of_site),
                         text("last_alarm", lang): f"{of_site['start'].max():%m-%d %H:%M}"
                         if len(of_site) else "—"})
        return pn.Column(
            pn.pane.Markdown(f"#### {text('installations', lang)}", margin=(0, 10)),
            pn.widgets.Tabulator(pd.DataFrame(rows), disabled=True, show_index=False,
                                 sizing_mode="stretch_width", layout="fit_data_stretch"),
            sizing_mode="stretch_width")

    def _monitoring(self, sites: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
        """Which of ``sites`` are online at the latest reading, and their alarms of the
        last day (none known without readings or sensors)."""
        nothing = (pd.Series(dtype=bool), pd.DataFrame({"site_id": [], "start": []}))
        if self.readings is None or self.sensors is None:
            return nothing
        sensors = self.sensors[self.sensors["site_id"].isin(sites["site_id"])]
        if not len(sensors):
            return nothing
        try:
            live = MonitoringState(self.readings, sensors, sites)
        except (OSError, KeyError, ValueError) as exc:  # no readings store yet
            log.warning("installations of %s: no readings (%s)", self.state.id, exc)
            return nothing
        return live.online(), live.alarms()

    @param.depends("state.id", "state.period", "state.lang")
    def _timeline(self):
        state = self.state
        # the heading names the firm: a long name in the plot's title would not fit a phone
        return enterprise_timeline(state.timeline(), lang=state.lang,
                                   title=text("timeline", state.lang))

    def _fill_tables(self) -> None:
        if not self.records_area.objects:
            return  # filled when drawn
        state, lang = self.state, self.state.lang
        records = state.records()
        events = state.timeline().copy()
        events["status"] = [text(f"hazard_{s}", lang) if k == "hazard" else
                            code_label("department", s, lang) if k == "inspection" else
                            code_label("action_type", s, lang) if k == "action" else s
                            for k, s in zip(events["kind"], events["status"])]
        events["kind"] = [text(f"lane_{k}", lang) for k in events["kind"]]
        events = events.rename(columns={
            "date": text("date", lang), "kind": text("kind", lang),
            "record": text("record", lang), "end": text("end", lang),
            "status": text("detail", lang), "deadline": text("deadline", lang)})[
            [text(c, lang) for c in ("date", "kind", "record", "detail", "deadline")]]
        frames = {"events": events, "hazards": records.hazards,
                  "inspections": records.inspections, "actions": records.actions,
                  "joint_operations": records.joint_operations}
        shown = []
        for name in RECORD_TABLES:
            frame = frames[name].drop(columns=[c for c in ("enterprise_id",)
                                               if c in frames[name].columns])
            shown.append((f"{text(name, lang)} ({len(frame)})",
                          self.tables[name].show_records(frame, state)))
        self.tabs[:] = shown

    def _records(self):
        if not self.records_area.objects:
            self.records_area[:] = [self.tabs]
            self._fill_tables()
        return pn.Column(
            pn.pane.HoloViews(self.timeline, height=300, sizing_mode="stretch_width"),
            self.records_area, sizing_mode="stretch_width")

    def __panel__(self):
        controls = wrapping(self.period_select)
        return pn.Column(self.search, self._header, controls, self._kpis, self._installations,
                         drawn_after_the_page(self._records), sizing_mode="stretch_width")


def create_enterprise_app(catalog: str | None = None):
    """A new enterprise profile page for one session (or an alert saying what is missing)."""
    try:
        path = str(catalog or catalog_path())
        access = viewer_access(path)
        cat = shared_catalog(path)
        enterprises, sites, regions = load_registers(path, "enterprises", "major_hazard_sites")
        cube, _ = load_data(path, version("cube", cat))
    except (UserError, PermissionError) as exc:
        return unavailable(exc)
    enterprises, sites, regions = (access.restrict(enterprises), access.restrict(sites),
                                   access.restrict(regions))
    register = enterprises.assign(enterprise_id=enterprises["enterprise_id"].astype(str)) \
        .set_index("enterprise_id")
    months = pd.DatetimeIndex(cube["month"].values)
    last_day = months[-1] + pd.offsets.MonthEnd(0)
    counties = list(regions["adcode"].astype(str))
    if not len(register):
        return pn.pane.Alert(f"{text('no_firms', 'zh')} / {text('no_firms', 'en')}",
                             alert_type="warning")
    state = EnterpriseState(register, periods_between(months[0], months[-1]),
                            reader=lambda firm: cached_records(path, firm), as_of_data=last_day,
                            names={"zh": dict(zip(counties, regions["name_zh"])),
                                   "en": dict(zip(counties, regions["name_en"]))})
    asked = [v.decode("utf-8", "replace") for v in (pn.state.session_args or {}).get("id", [])]
    sync_with_url(state)  # an id of a firm this session may not see is refused and audited
    if not asked or asked[-1] != state.id:
        # No firm asked for (or one refused): the firm with the most open hazards, found
        # only then (over every county of a province it is the page's slowest step).
        busiest = most_open_hazards(path, counties, *state.bounds)
        if busiest in register.index:
            state.id = busiest
    try:
        sensors, _ = load_registers(path, "sensors")
        sensors = access.restrict(sensors)
        readings = local_path("monitoring", cat)
    except (UserError, KeyError) as exc:
        log.warning("enterprise profiles without monitoring: %s", exc)
        sensors, readings = None, None
    return EnterprisePage(state=state, sites=sites, sensors=sensors, readings=readings,
                          access=access, default_shown=not asked or asked[-1] != state.id,
                          search=search_box(state, path, access, regions))

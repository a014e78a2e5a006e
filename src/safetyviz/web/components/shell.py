"""The frame around every page (the app shell): one header with the city's name and the page's
title, navigation to every registered page (the links keep the language and, over a
province's data, the city entered), the breadcrumb province › city of a page that has none
of its own, the page's language switch, how fresh the data are ("数据截至 …": the latest
record date and when the store last changed) and, when logged in, the user, role and a way
out. :meth:`Page.create` frames what a page's factory builds; the page itself stays as it
was built.
"""

from __future__ import annotations

import html
import os
import time
from urllib.parse import urlencode

import panel as pn
import param

from safetyviz.core.errors import UserError
from safetyviz.core.i18n import text
from safetyviz.data.catalog import catalog_path, version
from safetyviz.data.loading import latest_value, load_regions
from safetyviz.data.regions import top_unit
from safetyviz.data.store import PARTITION_DATE, SCHEMAS
from safetyviz.security.access import LOCAL, Access
from safetyviz.web.components.page import (
    LEVELS_CSS,
    Level,
    level_html,
    session_access,
    session_level,
    shared_catalog,
)
from safetyviz.web.page_state import PageState
from safetyviz.web.pages import PAGES, Page
from safetyviz.web.state import NoNone

SHELL_CSS = """
:host {width: 100%;}
.shell {display: flex; flex-wrap: wrap; align-items: center; gap: 4px 18px;
        padding: 8px 14px; background: #1b2631; color: #f4f6f6;
        font-family: system-ui, "Noto Sans CJK SC", sans-serif;}
.shell h1 {font-size: 20px; margin: 0; font-weight: 600;}
.shell h1 .page {color: #76d7c4; white-space: nowrap;}
.shell nav {display: flex; flex-wrap: wrap; gap: 2px 4px; flex: 1 1 auto;}
.shell nav a {color: #d5dbdb; text-decoration: none; padding: 4px 8px; border-radius: 4px;
              font-size: 14px; white-space: nowrap;}
.shell nav a:hover {background: #2e4053; color: #fff;}
.shell nav a[aria-current="page"] {background: #f4f6f6; color: #1b2631; font-weight: 600;}
.shell .meta {font-size: 12px; color: #aab7b8; display: flex; flex-wrap: wrap;
              gap: 2px 12px;}
.shell .meta a {color: #76d7c4;}
"""

ROLES = {"province": ("省级", "province"), "city": ("市级", "city"), "county": ("区县", "county"),
         "analyst": ("分析员", "analyst")}


def _role_label(role: str, lang: str) -> str:
    zh, en = ROLES.get(role, (role, role))
    return en if lang == "en" else zh


# The dates a record says something happened on (a deadline is not one).
EVENT_DATES = (*PARTITION_DATE.items(), ("hazards", "rectified_date"))


@pn.cache(max_items=8)
def _freshness(path: str, versions: tuple[str, ...]) -> tuple[str | None, float | None]:
    cat = shared_catalog(path)
    latest = [latest_value(table, column, cat) for table, column in EVENT_DATES]
    dates = [value for value in latest if value is not None]
    changed = [os.path.getmtime(v) for v in versions if os.path.exists(v)]
    return (f"{max(dates):%Y-%m-%d}" if dates else None,
            max(changed) if changed else None)


def data_freshness(path: str) -> tuple[str | None, float | None]:
    """(the latest date a record of the store names, :data:`EVENT_DATES`, as YYYY-MM-DD;
    when the store last changed, a POSIX time), each None when unknown; from the files'
    statistics, once per version of the store for all sessions."""
    cat = shared_catalog(path)
    return _freshness(path, tuple(version(table, cat) for table in SCHEMAS))


@pn.cache(max_items=16)
def _city_name(path: str, regions_version: str, counties: tuple[str, ...] = ()) -> str:
    """The name of what the user sees: the data's city or province, or (a user of some of
    its counties) what those are in — a city user of a province sees its city's name."""
    regions = load_regions(shared_catalog(path), geometry=False)
    if counties:
        regions = regions[regions["adcode"].isin(counties).to_numpy()]
    return top_unit(regions)[1]


class AppShell(pn.viewable.Viewer):
    """A page in its frame: the header (city, page title, navigation, language, data
    freshness, user) above the page's body."""

    page = param.ClassSelector(class_=Page, allow_None=NoNone, doc="The registered page shown.")
    body = param.Parameter(doc="What the page's factory built.")
    pages = param.List(item_type=Page, doc="Every registered page, in menu order.")
    city = param.String(default="", doc="The city's name (Chinese; the English title has none).")
    access = param.ClassSelector(class_=Access, default=LOCAL, doc="Who is looking.")
    latest_record = param.String(default=None, allow_None=True,
                                 doc="The store's latest record date (YYYY-MM-DD).")
    changed = param.Number(default=None, allow_None=True,
                           doc="When the store last changed (POSIX time).")
    logout = param.Boolean(default=False, doc="Whether to offer logging out (served with "
                                              "logins).")
    level = param.ClassSelector(class_=Level, default=None, allow_None=True,
                                doc="Where in a province's data the page is (None: a city's "
                                    "data); its breadcrumb is shown unless the page shows "
                                    "its own.")

    def __init__(self, **params):
        super().__init__(**params)
        state = getattr(self.body, "state", None)
        # The page's language is its state's; a page without one (an alert) is in Chinese.
        self.state = state if isinstance(state, PageState) else PageState()
        self.lang_switch = getattr(self.body, "lang_switch", None)
        self.header = pn.pane.HTML(self._header_html(), stylesheets=[SHELL_CSS],
                                   sizing_mode="stretch_width", margin=0)
        own = isinstance(getattr(self.body, "level", None), Level)  # (the overview's)
        self.levels = None if self.level is None or own else pn.pane.HTML(
            level_html(self.level, self.state.lang), stylesheets=[LEVELS_CSS],
            sizing_mode="stretch_width", margin=(0, 14))
        self.state.param.watch(self._relabel, "lang")

    def _relabel(self, event) -> None:
        self.header.object = self._header_html()
        if self.levels is not None and self.level is not None:
            self.levels.object = level_html(self.level, self.state.lang)

    def _header_html(self) -> str:
        lang = self.state.lang
        query = {**({"city": self.level.here} if self.level and len(self.level.path) > 1
                    else {}), **({"lang": "en"} if lang == "en" else {})}
        suffix = "?" + urlencode(query) if query else ""
        links = "".join(
            f'<a href="./{html.escape(page.slug)}{suffix}"{self._current(page)}>'
            f'{html.escape(page.en if lang == "en" else page.zh)}</a>' for page in self.pages)
        city = self.city if lang == "zh" else ""
        title = self.page.en if lang == "en" else self.page.zh
        meta = []
        if self.latest_record:
            meta.append(text("data_as_of", lang).format(date=self.latest_record))
        if self.changed is not None:
            meta.append(text("store_changed", lang).format(
                time=time.strftime("%Y-%m-%d %H:%M", time.localtime(self.changed))))
        if self.access.user:
            role = _role_label(self.access.role, lang)
            meta.append(f"{self.access.user}（{role}）" if lang == "zh"
                        else f"{self.access.user} ({role})")
        spans = "".join(f"<span>{html.escape(m)}</span>" for m in meta)
        out = (f'<a class="logout" href="./logout">{html.escape(text("logout", lang))}</a>'
               if self.logout else "")
        return (f'<header class="shell"><h1>{html.escape(city + text("supervision", lang))}'
                f' · <span class="page">{html.escape(title)}</span></h1>'
                f'<nav aria-label="{html.escape(text("pages", lang))}">{links}</nav>'
                f'<div class="meta">{spans}{out}</div></header>')

    def _current(self, page: Page) -> str:
        return ' aria-current="page"' if page.slug == self.page.slug else ""

    def __panel__(self):
        top = pn.Row(self.header, *([self.lang_switch] if self.lang_switch is not None else []),
                     sizing_mode="stretch_width", margin=0,
                     styles={"background": "#1b2631", "flex-wrap": "wrap"})
        levels = [] if self.levels is None else [self.levels]
        return pn.Column(top, *levels, self.body, sizing_mode="stretch_width", margin=0)


def framed(page: Page, body, catalog: str | None = None) -> AppShell:
    """``body`` (what ``page``'s factory built) in the app shell. What the shell cannot
    read (no store yet) it leaves out: the page says what is missing."""
    from safetyviz.core import settings

    path = str(catalog or catalog_path())
    try:
        access = session_access()
    except PermissionError:
        access = LOCAL
    user, (access, level) = access, session_level(access, path)
    try:
        latest, changed = data_freshness(path)
        city = _city_name(path, version("regions", shared_catalog(path)), access.counties)
    except (UserError, OSError, KeyError):
        latest, changed, city = None, None, ""
    return AppShell(page=page, body=body, pages=list(PAGES.values()), city=city,
                    access=user, latest_record=latest, changed=changed, level=level,
                    logout=bool(settings.current().logins_required and access.user))

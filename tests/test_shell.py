"""The app shell around every page: navigation from the page registry, the language, the
data's freshness and the logged-in user (the browser tests click through it)."""

from __future__ import annotations

import os

import pandas as pd
import panel as pn

from conftest import read_tiny_table
from safetyviz.data import store
from safetyviz.security.access import Access
from safetyviz.web.components.shell import AppShell, data_freshness, framed
from safetyviz.web.pages import PAGES


def test_freshness_is_the_latest_record_date_and_the_last_change_of_the_store(tiny_dir):
    path = str(tiny_dir / "catalog.yaml")
    latest, changed = data_freshness(path)
    # tiny: inspections up to 03-10, actions 03-11, H4 rectified on 2020-04-02 (its deadline,
    # 03-20, is no event)
    assert latest == "2020-04-02"
    newest = max(os.path.getmtime(store.current_version(tiny_dir, t)) for t in store.TABLES)
    assert changed == newest
    inspections = read_tiny_table("inspections")
    inspections.loc[0, "date"] = pd.Timestamp("2020-05-01")
    store.replace_table(tiny_dir, "inspections", inspections)
    latest_now, changed_now = data_freshness(path)
    assert latest_now == "2020-05-01" and changed_now >= changed


def test_the_header_links_every_registered_page_in_the_pages_language(tiny_dir):
    shell = framed(PAGES["county"], pn.pane.Markdown("body"), str(tiny_dir / "catalog.yaml"))
    header = shell.header.object
    for page in PAGES.values():
        assert f'<a href="./{page.slug}"' in header and page.zh in header
    assert header.count('aria-current="page"') == 1
    assert '<a href="./county" aria-current="page">县区画像</a>' in header
    assert "许昌市安全生产监管 · " in header and "数据截至 2020-04-02" in header
    assert "logout" not in header  # no logins: nobody to log out
    shell.state.lang = "en"
    header = shell.header.object
    assert '<a href="./enforcement?lang=en">Enforcement</a>' in header
    assert "Work-safety supervision · " in header and "许昌" not in header
    assert "Data up to 2020-04-02" in header


def test_the_logged_in_user_is_shown_escaped_with_a_way_out():
    shell = AppShell(page=PAGES["overview"], body=pn.pane.Markdown("body"),
                     pages=list(PAGES.values()), access=Access("<b>li</b>", "county",
                                                                ("411002",)), logout=True)
    header = shell.header.object
    assert "&lt;b&gt;li&lt;/b&gt;（区县）" in header and "<b>li" not in header
    assert '<a class="logout" href="./logout">退出登录</a>' in header


def test_installations_and_sensors_are_named_not_coded():
    from safetyviz.web.names import installation_names, numbered_installations, sensor_names

    sites = pd.DataFrame({"site_id": ["MHS0002", "MHS0001", "MHS0003"],
                          "enterprise_id": ["E1", "E1", "E2"]})
    firms = {"E1": "（演示）甲化工", "E2": "（演示）乙燃气"}
    assert installation_names(sites, firms) == {
        "MHS0001": "（演示）甲化工 · 1号危险源", "MHS0002": "（演示）甲化工 · 2号危险源",
        "MHS0003": "（演示）乙燃气"}
    assert installation_names(sites, firms, "en")["MHS0002"] == \
        "（演示）甲化工 · installation 2"
    assert numbered_installations(["MHS0002", "MHS0001"], "en") == {
        "MHS0001": "Installation 1", "MHS0002": "Installation 2"}
    sensors = pd.DataFrame({"sensor_id": ["MHS0001-G02", "MHS0001-G01", "MHS0001-T01",
                                          "MHS0002-G01"],
                            "site_id": ["MHS0001", "MHS0001", "MHS0001", "MHS0002"],
                            "kind": ["level", "level", "temperature", "level"]})
    assert sensor_names(sensors) == {"MHS0001-G01": "液位 1号", "MHS0001-G02": "液位 2号",
                                     "MHS0001-T01": "温度 1号", "MHS0002-G01": "液位 1号"}
    assert sensor_names(sensors, "en")["MHS0001-G02"] == "Liquid level #2"


# --- one visual language ---------------------------------------------------------------------
def test_a_plot_with_nothing_to_draw_says_so():
    import holoviews as hv

    from safetyviz.web.views import action_types, joint_timeline

    none = pd.DataFrame({"cases": [], "persons": []})
    empty = action_types(none, title="魏都区 · 2020年第一季度 执法措施")
    assert isinstance(empty, hv.Text) and empty.text == "本期无记录"
    operations = pd.DataFrame(columns=["date", "adcode", "target", "departments"])
    english = joint_timeline(operations, {}, title="Joint operations", lang="en")
    assert isinstance(english, hv.Text) and english.text == "No records in this period"


def test_long_titles_break_at_their_separator_and_risk_colours_mean_risk():
    from safetyviz.web import views
    from safetyviz.web.riskmap import RISK_COLOURS

    assert views.plot_title("Whole city · Fines by sector") == "Whole city\nFines by sector"
    assert views.plot_title("Fines by county, 2021 Q4 to 2021 Q4 and more") == \
        "Fines by county\n2021 Q4 to 2021 Q4 and more"
    assert views.plot_title("全市 · 逐月罚款金额") == "全市 · 逐月罚款金额"  # short: one line

    def rgb(colour: str) -> tuple[int, ...]:
        return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))

    def near(a: str, b: str) -> bool:
        return sum(abs(x - y) for x, y in zip(rgb(a), rgb(b))) < 120

    for colour in (views.SERIES_COLOR, views.SELECTED_COLOR, views.SECOND_COLOR,
                   views.PERIOD_SHADE):
        assert not any(near(colour, risk) for risk in RISK_COLOURS.values()), colour
    assert views.MAP_COLORMAP == "Purples"

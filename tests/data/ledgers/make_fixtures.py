"""Writes the ledger fixtures of tests/test_ingest.py (run it after changing them):

    python tests/data/ledgers/make_fixtures.py

Each file is what a county bureau really sends; the expected counts are in test_ingest.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import xlwt

HERE = Path(__file__).parent


def write_csv(name: str, text: str, encoding: str) -> None:
    (HERE / name).write_bytes(text.encode(encoding))


def inspections_csvs() -> None:
    gbk = ("检查日期,所属县区,行业,检查部门\n"
           "2020-05-06,魏都区,人员密集场所,应急\n"
           "2020/5/7,禹州,煤矿,应急管理\n"
           "2020年5月8日,许昌县,工贸,市场监管\n"
           "20200509,411082,危险化学品,应急\n")
    write_csv("inspections_gbk.csv", gbk, "gbk")
    bom = ("序号,检查日期,县（市、区）,企业名称,行业领域\n"
           "1,2020-06-01,鄢陵县,,工贸\n"
           "2,2020-06-02,\u3000襄城县\u3000,,建筑施工\n"
           "3,2020-06-03,长葛市,,消防\n")
    write_csv("inspections_bom.csv", bom, "utf-8-sig")
    # A Taiwanese export: Big5 decodes as GB18030 only into mojibake and must be refused.
    write_csv("inspections_big5.csv", "檢查日期,所屬縣區,行業,檢查部門\n"
              "2020-05-06,魏都區,人員密集場所,應急\n", "big5")


def inspections_xlsx() -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "检查记录"
    ws.append(["许昌市2020年5月执法检查记录表"] + [None] * 7)
    ws.merge_cells("A1:H1")
    ws.append(["序号", "检查日期", "所属县区", "行业", "检查部门", "隐患", None, "已整改"])
    ws.append([None, None, None, None, None, "一般", "重大", None])
    for column in "ABCDEH":
        ws.merge_cells(f"{column}2:{column}3")
    ws.merge_cells("F2:G2")
    ws.append([1, dt.datetime(2020, 5, 6), "魏都区", "人员密集场所", "应急", 2, 0, 2])
    ws.append([2, "2020年5月7日", "建安区", "工贸", "应急", 1, 1, 2])
    ws.append([None] * 8)  # blank separator row
    ws.append([3, dt.datetime(2020, 5, 8), "长葛", "工贸", "市场监管", 1, 0, 3])
    ws.append(["合计", None, None, None, None, 4, 1, 7])
    wb.save(HERE / "inspections_ledger.xlsx")


def actions_by_county_xlsx() -> None:
    wb = openpyxl.Workbook()
    first = True
    for county, rows, total in (
        ("魏都区", [(dt.datetime(2020, 4, 1), "魏都区", "工贸", "罚款", 0.5, None),
                    (dt.datetime(2020, 4, 9), "魏都区", "建筑施工", "罚款", 1.2, None)], 1.7),
        ("禹州市", [(dt.datetime(2020, 4, 3), "禹州市", "工贸", "取缔非法生产经营行为", None, None),
                    (dt.datetime(2020, 4, 3), "禹州市", "工贸", "刑事拘留", None, 3)], None),
    ):
        ws = wb.active if first else wb.create_sheet()
        first = False
        ws.title = county
        ws.append(["处罚日期", "所属县区", "行业", "处罚类型", "罚款（万元）", "人数"])
        for row in rows:
            ws.append(list(row))
        if total is not None:
            ws.append(["合计", None, None, None, total, None])
    wb.save(HERE / "actions_by_county.xlsx")


def invalid_csvs() -> None:
    actions = ("处罚日期,所属县区,行业,处罚类型,罚款金额（元）\n"
               "2020-04-01,魏都区,工贸,罚款,8000\n"
               "2020-04-02,魏都区,工贸,罚款,-500\n"
               "2020-04-03,魏都区,工贸,罚款,八千\n"
               "2020-04-04,魏都区,工贸,口头警告,0\n"
               ",魏都区,工贸,罚款,1000\n")
    write_csv("actions_invalid.csv", actions, "utf-8")
    hazards = ("隐患编号,发现日期,所属县区,企业名称,行业,隐患等级,整改期限,整改日期,挂牌督办\n"
               "H-T-001,2020-03-02,魏都区,,建筑施工,一般,2020-03-20,2020-03-15,否\n"
               "H-T-002,2020/3/5,\u3000禹州市\u3000,,煤矿,重大,2020-05-01,,是\n"
               "H-T-003,2020-03-02,洛阳,,工贸,一般,2020-03-20,,否\n"
               "H-T-004,2020-13-45,魏都区,,工贸,一般,,,否\n"
               "H-T-005,1999-12-31,魏都区,,工贸,一般,,,否\n"
               "H-T-006,2099-01-01,魏都区,,工贸,一般,,,否\n"
               "H-T-007,2020-03-10,魏都区,,工贸,一般,2020-03-31,2020-03-01,否\n"
               "H-T-008,2020-03-10,魏都区,,,一般,,,否\n"
               "H-T-009,2020-03-10,魏都区,,火星产业,一般,,,否\n"
               "H-T-001,2020-03-11,魏都区,,工贸,一般,,,否\n"
               "H-T-010,2020-03-12,魏都区,不存在的公司,工贸,一般,,,否\n")
    write_csv("hazards_invalid.csv", hazards, "utf-8")
    write_csv("hazards_again.csv", hazards.splitlines()[0] + "\n"
              + "H-T-001,2020-03-02,魏都区,,建筑施工,一般,2020-03-20,2020-03-15,否\n", "utf-8")


def accidents_xls() -> None:
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("事故统计")
    sheet.write_merge(0, 0, 0, 5, "2020年一季度生产安全事故统计表")
    for c, header in enumerate(["事故日期", "县(市、区)", "行业", "死亡人数", "受伤人数",
                                "直接经济损失（万元）"]):
        sheet.write(1, c, header)
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    rows = [(dt.datetime(2020, 2, 14), "禹州市", "煤矿", 1, 2, 150),
            (dt.datetime(2020, 3, 20), "长葛市", "工贸", 0, 1, 12.5)]
    for r, row in enumerate(rows, start=2):
        sheet.write(r, 0, row[0], date_style)
        for c, value in enumerate(row[1:], start=1):
            sheet.write(r, c, value)
    book.save(str(HERE / "accidents.xls"))


if __name__ == "__main__":
    inspections_csvs()
    inspections_xlsx()
    actions_by_county_xlsx()
    invalid_csvs()
    accidents_xls()
    print("\n".join(sorted(p.name for p in HERE.iterdir() if p.suffix != ".py")))

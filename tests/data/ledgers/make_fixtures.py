"""Writes the ledger fixtures of tests/test_ingest.py and tests/test_real_ledgers.py (run it
after changing them; ``--real`` writes only the latter's):

    python tests/data/ledgers/make_fixtures.py [--real]

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


# --- real ledgers (issue 15): firms named as county offices name them ----------------------
# Valid credit codes (GB 32100 check character), none of a real firm.
N1, N2 = "91411002MA44HDNY0F", "91411002MA44HDNY1J"  # two firms, one name key (魏都区)
C1 = "91411081MA45TC8R3J"  # a firm no register holds (禹州市)
C2 = "91411002MA9UNKNW59"  # a code of no firm, written beside a registered firm's name
Y1 = "91411024MA3X7QP2KB"  # a firm a ledger names before the register does (鄢陵县)
E1, E3 = "91411002MA78DQ57G6", "91411081MA4MNWBN3E"  # the tiny register's E1 and E3


def hazards_named_gbk() -> None:
    """A GBK 隐患台账 naming firms as people write them (see test_real_ledgers.py for what
    each row is): 20 rows, a note above the header and two below."""
    w, y, g = "魏都区", "禹州市", "长葛市"
    builder, works = "（演示）魏都测试建设有限公司", "（演示）魏都测试建筑工程有限公司"
    furniture, ceramics = "许昌市新兴家具厂", "禹州市顺达陶瓷有限公司"
    march, april = "2020-03-31", "2020-04-30"
    rows = [
        ("1", "HN-01", "2020-03-02", w, builder, "", "建筑施工", "一般", "2020-03-20",
         "2020-03-15"),
        ("2", "HN-02", "2020-03-03", w, "(演示)魏都测试建设有限责任公司", "", "建筑施工", "一般",
         "2020-03-20", ""),
        ("3", "HN-03", "2020-03-04", y, "（演示）禹州测试煤业有限公司", "", "煤矿", "重大", april,
         ""),
        ("4", "HN-04", "2020-03-05", y, "", E3, "煤矿", "一般", march, "2020-03-20"),
        ("5", "HN-05", "2020-03-06", w, furniture, "", "工贸", "一般", march, ""),
        ("6", "HN-06", "2020-03-07", w, "许昌市新兴 家具厂", "", "工贸", "一般", march,
         "2020-03-25"),
        ("7", "HN-07", "2020-03-08", y, ceramics, C1, "工贸", "一般", march, ""),
        ("8", "HN-08", "2020-03-09", y, ceramics, "", "工贸", "重大", april, ""),
        ("9", "HN-09", "2020-03-10", w, "许昌市某商贸公司", E1[:-1] + "7", "人员密集场所", "一般",
         march, ""),
        ("10", "HN-10", "2020-03-11", w, builder, C2, "建筑施工", "一般", march, ""),
        ("11", "HN-11", "2020-03-12", "许昌市魏都区", works, "", "建筑施工", "一般", march, ""),
        ("12", "HN-12", "2020-03-13", "郑州市金水区", "郑州某建筑公司", "", "建筑施工", "一般",
         march, ""),
        ("13", "HN-13", "", w, furniture, "", "工贸", "一般", march, ""),
        ("14", "HN-14", "2020-02-30", w, furniture, "", "工贸", "一般", march, ""),
        ("15", "HN-15", "2020-03-16", g, "", "", "工贸", "一般", march, ""),
        ("16", "HN-16", "2020-03-17", w, works.replace("测试", "测试\u3000"), "", "建筑施工",
         "一般", march, ""),
        ("17", "HN-01", "2020-03-18", w, builder, "", "建筑施工", "一般", march, ""),
        ("18", "HN-18", "2020-03-19", y, "禹州市鸿运砂石厂", "", "非煤矿山", "重大", april, ""),
        ("19", "HN-19", "2020-03-20", g, "", "", "消防", "一般", march, "2020-03-28"),
        ("20", "HN-20", "2020-03-21", w, furniture, "", "工贸", "特大", march, ""),
    ]
    lines = ["许昌市2020年3月隐患排查整改台账,,,,,,,,,",
             "填报单位：许昌市应急管理局,,,,,,填报日期：2020年4月2日,,,",
             "序号,隐患编号,发现日期,所属县区,企业名称,统一社会信用代码,行业,隐患等级,整改期限,整改日期"]
    lines += [",".join(row) for row in rows]
    lines += ["填表人：张三,,,审核人：李四,,,,,,",
              "说明：本表由各县（市、区）应急管理局填报,,,,,,,,,"]
    write_csv("hazards_named_gbk.csv", "\n".join(lines) + "\n", "gbk")


def actions_merged_header_xlsx() -> None:
    """A 行政处罚台账 with a title row, a header of two rows under a merged 处罚情况 and a
    合计 row; actions against illegal units (never in a register); notes below."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "行政处罚"
    ws.append(["魏都区、禹州市2020年一季度行政处罚台账"] + [None] * 8)
    ws.merge_cells("A1:I1")
    ws.append(["序号", "处罚日期", "所属县区", "当事人", "行业", "处罚情况", None, None, "备注"])
    ws.append([None, None, None, None, None, "处罚类型", "罚款（万元）", "人次", None])
    for column in "ABCDEI":
        ws.merge_cells(f"{column}2:{column}3")
    ws.merge_cells("F2:H2")
    w, y, t = "魏都区", "禹州市", "危险化学品"
    builder = "（演示）魏都测试建设有限公司"
    rows = [
        (1, dt.datetime(2020, 1, 10), w, builder, "建筑施工", "罚款", 1.5, None),
        (2, dt.datetime(2020, 1, 12), w, "南关无名加油点", t, "查处黑加油点", None, None),
        (3, dt.datetime(2020, 1, 15), y, "禹州市某非法采砂点", "工贸", "取缔", None, None),
        (4, dt.datetime(2020, 1, 20), y, "（演示）禹州测试矿业有限公司", "煤矿", "责令停产整顿",
         None, None),
        (5, dt.datetime(2020, 2, 1), w, "许昌新开商贸有限公司", "人员密集场所", "罚款", 0.8, None),
        (6, dt.datetime(2020, 2, 3), w, "张某", t, "行政拘留", None, 1),
        (7, dt.datetime(2020, 2, 5), w, "某塑料小作坊", "工贸", "关闭小散乱污", None, None),
        (8, dt.datetime(2020, 2, 10), w, "豫K非法加油车", t, "查处非法加油车", None, None),
        (9, dt.datetime(2020, 3, 1), y, "某非法生产点", "工贸", "查处非法生产经营单位", None, None),
        (10, None, w, builder, "建筑施工", "罚款", 0.3, None),
    ]
    for row in rows:
        ws.append(list(row) + [None])
    ws.append(["合计", None, None, None, None, None, 2.6, 1, None])
    ws.append(["填表人：王五", None, None, None, "审核人：赵六", None, None, None, None])
    ws.append(["制表日期：2020年4月3日"] + [None] * 8)
    wb.save(HERE / "actions_merged_header.xlsx")


def inspections_three_level_xlsx() -> None:
    """Inspections under a header of three rows (检查情况 / 隐患 | 整改情况 / 一般 | 重大 |
    已整改), counties written with the city's (and province's) name before them, and the
    form's signatures below."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "检查"
    ws.append(["2020年5月执法检查情况统计表"] + [None] * 7)
    ws.merge_cells("A1:H1")
    ws.append(["序号", "检查日期", "所属县区", "被检查单位", "行业", "检查情况", None, None])
    ws.append([None, None, None, None, None, "隐患", None, "整改情况"])
    ws.append([None, None, None, None, None, "一般", "重大", "已整改"])
    for column in "ABCDE":
        ws.merge_cells(f"{column}2:{column}4")
    ws.merge_cells("F2:H2")
    ws.merge_cells("F3:G3")
    rows = [
        (1, dt.datetime(2020, 5, 6), "许昌市魏都区", "（演示）魏都测试建设有限公司", "建筑施工",
         2, 0, 2),
        (2, dt.datetime(2020, 5, 7), "河南省许昌市禹州市", "（演示）禹州测试矿业有限公司", "煤矿",
         1, 1, 1),
        (3, dt.datetime(2020, 5, 8), "许昌禹州", "禹州市鸿运砂石厂", "非煤矿山", 0, 1, 0),
        (4, dt.datetime(2020, 5, 9), "郑州市金水区", "郑州某商场", "人员密集场所", 1, 0, 1),
        (5, dt.datetime(2020, 5, 10), "长葛市", "", "工贸", 3, 0, 4),
    ]
    for row in rows:
        ws.append(list(row))
    ws.append(["填表人：孙七", None, None, "审核人：周八", None, None, None, None])
    wb.save(HERE / "inspections_three_level.xlsx")


def register_update_csv() -> None:
    """A register file: a rename, a closure, new firms (two with one name key), a firm a
    ledger named first, and two bad rows."""
    text = ("统一社会信用代码,企业名称,曾用名,所属县区,行业,规模,风险等级,双重预防,注销日期\n"
            f"{E1},（演示）魏都测试建设集团有限公司,,魏都区,建筑施工,规上,黄色,已建立,\n"
            ",（演示）魏都测试建筑工程有限责任公司,,魏都区,,,,,2020-06-30\n"
            f"{N1},（演示）魏都恒达商贸有限公司,,魏都区,人员密集场所,规下,蓝色,,\n"
            f"{N2},（演示）魏都恒达商贸有限责任公司,,魏都区,人员密集场所,规下,黄色,,\n"
            f"{Y1},（演示）鄢陵新开苗木有限公司,鄢陵新开苗圃,鄢陵县,森林防火,规下,蓝色,,\n"
            ",（演示）禹州无码矿业有限公司,,禹州市,,,,,\n"
            f"{E1[:-1]}X,坏码企业,,魏都区,工贸,,,,\n")
    write_csv("register_update.csv", text, "utf-8")


def inspections_org_code_csv() -> None:
    """An older export: 组织机构代码 holds credit codes in some rows, 9-character
    organisation codes in others (not credit codes: the row is linked by its name)."""
    text = ("检查日期,所属县区,单位名称,组织机构代码,行业\n"
            f"2020-06-01,禹州市,,{E3},煤矿\n"
            "2020-06-02,魏都区,（演示）魏都测试建设有限公司,12345678-9,建筑施工\n"
            f"2020-06-03,鄢陵县,鄢陵新开苗圃,{Y1},森林防火\n")
    write_csv("inspections_org_code.csv", text, "utf-8")


def zones() -> None:
    """The functional zones of tests/data/zones (one with a boundary) and a ledger naming
    them as ledgers do."""
    folder = HERE.parent / "zones"
    folder.mkdir(exist_ok=True)
    (folder / "units.yaml").write_text(
        "# Functional zones of the test city (codes of the test's own)\n"
        "units:\n"
        "  - code: \"411071\"\n"
        "    name_zh: 许昌经济技术开发区\n"
        "    name_en: Xuchang Economic-Technological Development Zone\n"
        "    aliases: [经开区, 经济技术开发区]\n"
        "    parent: \"411003\"\n"
        "    boundary: 411071.geojson\n"
        "  - code: \"411072\"\n"
        "    name_zh: 许昌市城乡一体化示范区\n"
        "    name_en: Xuchang Urban-Rural Integration Demonstration Zone\n"
        "    aliases: [示范区, 城乡一体化示范区]\n"
        "    parent: \"411003\"\n"
        "  - code: \"411073\"\n"
        "    name_zh: 许昌市东城区\n"
        "    name_en: Dongcheng (functional zone)\n"
        "    aliases: [东城区]\n"
        "    parent: \"411002\"\n", encoding="utf-8")
    (folder / "411071.geojson").write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
        '"geometry": {"type": "Polygon", "coordinates": [[[113.84, 34.00], [113.90, 34.00], '
        '[113.90, 34.05], [113.84, 34.05], [113.84, 34.00]]]}}]}\n', encoding="utf-8")
    text = ("检查日期,所属县区,行业\n"
            "2020-03-02,许昌经济技术开发区,工贸\n2020-03-03,经开区,工贸\n"
            "2020-03-04,示范区,建筑施工\n2020-03-05,许昌市东城区,消防\n"
            "2020-03-06,许昌东城区,消防\n2020-03-07,魏都区,工贸\n2020-03-08,开发区,工贸\n")
    write_csv("inspections_zones.csv", text, "utf-8")


REAL = (hazards_named_gbk, actions_merged_header_xlsx, inspections_three_level_xlsx,
        register_update_csv, inspections_org_code_csv, zones)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--real"]:  # only the issue-15 fixtures (the others stay as they are)
        for write in REAL:
            write()
    else:
        inspections_csvs()
        inspections_xlsx()
        actions_by_county_xlsx()
        invalid_csvs()
        accidents_xls()
        for write in REAL:
            write()
    print("\n".join(sorted(p.name for p in HERE.iterdir() if p.suffix != ".py")))

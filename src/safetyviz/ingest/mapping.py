"""Column mapping: ledger headers and cell values to the store's fields and codes.

Owns the built-in dictionary of the header names that Chinese ledgers use (检查日期, 所属县区,
企业名称, 罚款金额（万元）…), the units they carry (万元 → yuan), the Chinese names of codes
(危化 → hazardous_chemicals), and the optional YAML mapping file that extends them::

    columns:                 # header as written → field (or "ignore")
      检查时间（年月日）: date
      所在乡镇: ignore
    values:                  # field → {text as written: code}
      sector: {危化企业: hazardous_chemicals}
    units:                   # field → unit of a header that does not say it
      fine_yuan: 万元
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from safetyviz.core.errors import UserError
from safetyviz.core.identity import CREDIT_CODE_HEADERS
from safetyviz.core.vocab import VOCABULARIES

# Field → header names (normalised: NFKC, no spaces, units stripped). Per table below.
COMMON_HEADERS = {
    "adcode": ["所属县区", "县(市、区)", "县(市,区)", "县市区", "县区", "区域", "所属区域",
               "行政区划", "区划代码", "所属县(市、区)", "县(市)区", "地区", "所属单位",
               "县(市、区)、功能区"],
    "enterprise_id": ["企业编号", "单位编号"],
    "credit_code": list(CREDIT_CODE_HEADERS),
    # An organisation code column holds credit codes where its cells have 18 characters
    # (older ledgers); a 9-character organisation code is not one and is left out.
    "org_code": ["组织机构代码", "机构代码"],
    "enterprise_name": ["企业名称", "单位名称", "生产经营单位", "被检查单位", "企业(单位)名称",
                        "检查对象", "当事人"],
    "sector": ["行业", "行业领域", "所属行业", "行业类别", "监管行业"],
    "joint_operation_id": ["联合执法编号", "联合执法行动编号"],
}
TABLE_HEADERS: dict[str, dict[str, list[str]]] = {
    "inspections": {
        "inspection_id": ["检查编号", "记录编号", "检查记录编号", "检查记录号"],
        "date": ["检查日期", "日期", "时间", "检查时间"],
        "department": ["检查部门", "执法部门", "检查单位"],
        "campaign": ["专项行动", "检查类型"],
        "hazards_general": ["隐患/一般", "一般隐患", "一般隐患数"],
        "hazards_major": ["隐患/重大", "重大隐患", "重大隐患数"],
        "hazards_rectified": ["已整改", "已整改隐患", "整改隐患", "隐患/已整改", "整改数"],
    },
    "hazards": {
        "hazard_id": ["隐患编号"],
        "inspection_id": ["检查编号", "检查记录编号"],
        "found_date": ["发现日期", "排查日期", "检查日期", "日期"],
        "level": ["隐患等级", "隐患级别", "等级"],
        "category": ["隐患类别", "隐患类型"],
        "deadline": ["整改期限", "整改时限", "限期整改日期"],
        "rectified_date": ["整改日期", "整改完成日期", "销号日期", "完成整改日期"],
        "listed_supervision": ["挂牌督办", "是否挂牌督办"],
    },
    "enforcement_actions": {
        "action_id": ["处罚编号", "案件编号", "决定书编号", "文书编号", "处罚决定书文号"],
        "date": ["处罚日期", "决定日期", "日期", "执法日期"],
        "action_type": ["处罚类型", "处理措施", "执法措施", "处罚种类", "措施"],
        "persons": ["人数", "人次", "拘留人数", "涉及人数"],
        "fine_yuan": ["罚款金额", "罚款", "罚款数额", "罚没款"],
    },
    "accidents": {
        "accident_id": ["事故编号"],
        "date": ["事故日期", "发生日期", "发生时间", "日期"],
        "level": ["事故等级", "事故级别"],
        "deaths": ["死亡人数", "死亡"],
        "injuries": ["受伤人数", "受伤"],
        "direct_loss_yuan": ["直接经济损失", "经济损失"],
    },
    "enterprises": {
        "name": ["企业名称", "单位名称", "生产经营单位"],
        "aliases": ["曾用名", "别名", "原名称", "曾用名称", "原企业名称"],
        "closed_on": ["注销日期", "关闭日期", "关停日期", "吊销日期", "注销时间", "关闭时间"],
        "scale": ["规模", "企业规模", "是否规上"],
        "licence": ["许可类型", "许可证类型", "安全许可"],
        "risk_level": ["风险等级", "安全风险等级", "风险分级"],
        "dual_prevention": ["双重预防", "双重预防机制", "双重预防体系"],
        "lon": ["经度"],
        "lat": ["纬度"],
    },
}
IGNORED_HEADERS = {"序号", "备注", "编号序号", "No.", "no"}
# Header words that mean nothing without their group (一般 under 隐患 or under 事故): a
# column named by one of these alone resolves only through its group.
AMBIGUOUS_LEAVES = {"一般", "重大", "较大", "特别重大", "合计", "小计", "数量", "数目", "次数",
                    "人数", "起数", "金额", "总数", "个数", "家数", "其中"}
# Groups that give those words their meaning: a group containing the word (隐患, 隐患情况,
# 排查隐患) and the leaf → field.
GROUP_LEAVES: dict[str, dict[str, dict[str, str]]] = {
    "inspections": {"隐患": {"一般": "hazards_general", "重大": "hazards_major",
                             "已整改": "hazards_rectified", "整改": "hazards_rectified"}},
    "enforcement_actions": {"罚款": {"金额": "fine_yuan"}, "拘留": {"人数": "persons"}},
    "accidents": {"死亡": {"人数": "deaths"}, "受伤": {"人数": "injuries"}},
}
MONEY_FIELDS = {"fine_yuan", "direct_loss_yuan"}
UNITS = {"元": 1, "万元": 10_000, "亿元": 100_000_000}

# Codes by the words ledgers use, beyond the vocabularies' own labels.
VALUE_SYNONYMS: dict[str, dict[str, str]] = {
    "sector": {"危化": "hazardous_chemicals", "危险化学品": "hazardous_chemicals",
               "危化品": "hazardous_chemicals", "工商贸": "industry_trade",
               "冶金工贸": "industry_trade", "建筑": "construction", "建筑业": "construction",
               "道路运输": "road_transport", "交通": "road_transport",
               "人员密集场所": "crowded_places", "燃气": "gas", "森林": "forestry",
               "森林防火": "forestry", "矿山": "non_coal_mines", "非煤": "non_coal_mines",
               "煤炭": "coal_mines", "特种设备": "special_equipment"},
    "action_type": {"罚款": "fine", "行政罚款": "fine", "停产整顿": "suspend",
                    "责令停产停业整顿": "suspend", "取缔": "ban_illegal_operation",
                    "关闭小散乱污": "close_scattered_polluting",
                    "小散乱污": "close_scattered_polluting",
                    "黑加油点": "seize_black_gas_station",
                    "非法加油车": "seize_illegal_fuel_vehicle",
                    "非法生产经营单位": "close_illegal_unit", "刑拘": "criminal_detention",
                    "行拘": "administrative_detention"},
    "level": {"一般": "general", "重大": "major", "一般事故": "ordinary", "较大": "larger",
              "较大事故": "larger", "重大事故": "major", "特别重大": "especially_major"},
    "risk_level": {"红": "red", "红色": "red", "橙": "orange", "橙色": "orange", "黄": "yellow",
                   "黄色": "yellow", "蓝": "blue", "蓝色": "blue", "重大": "red", "较大": "orange",
                   "一般": "yellow", "低": "blue"},
    "scale": {"规上": "above", "是": "above", "规下": "below", "否": "below"},
    "dual_prevention": {"未建": "none", "无": "none", "已建": "built", "建成": "built",
                        "验收": "accepted", "已验收": "accepted"},
    "department": {"应急": "emergency_management", "应急管理局": "emergency_management",
                   "市场监管局": "market_regulation", "消防": "fire_rescue",
                   "消防救援大队": "fire_rescue", "环保": "ecology_environment",
                   "公安局": "public_security", "住建局": "housing_construction"},
}
CODE_FIELDS = {"sector": "sector", "action_type": "action_type", "department": "department",
               "licence": "licence", "risk_level": "risk_level", "scale": "scale",
               "dual_prevention": "dual_prevention", "category": "category",
               "campaign": "campaign", "level": "level"}


def code_vocabulary(table: str, name: str) -> dict[str, tuple[str, str]]:
    """The codes a coded field of ``table`` takes (``level`` means different things for
    hazards and accidents)."""
    if name == "level" and table == "accidents":
        return VOCABULARIES["accident_level"]
    return VOCABULARIES[CODE_FIELDS[name]]


def normalise_header(text: str) -> tuple[str, str | None]:
    """('罚款金额', '万元') from ' 罚款金额（万元） '; units in brackets or after a slash."""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text)))
    m = re.fullmatch(r"(.+?)[(\[](元|万元|亿元|人|人次|家|处|起|个|项)[)\]]", text) or \
        re.fullmatch(r"(.+?)/(元|万元|亿元)", text)
    if m:
        return m[1], m[2] if m[2] in UNITS else None
    return text, None


@dataclass
class ColumnMapping:
    """Header → field lookup for one table, with the mapping file's additions."""

    table: str
    headers: dict[str, str] = field(default_factory=dict)  # normalised header → field
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_table(cls, table: str, mapping_file: Path | None = None) -> ColumnMapping:
        if table not in TABLE_HEADERS:
            raise UserError(f"unknown table {table!r}; ingestible: {', '.join(TABLE_HEADERS)}")
        headers: dict[str, str] = {}
        fields = {**COMMON_HEADERS, **TABLE_HEADERS[table]}
        if table == "enterprises":
            fields.pop("enterprise_name")
        for name, aliases in fields.items():
            for alias in [name, *aliases]:
                headers.setdefault(normalise_header(alias)[0], name)
        values = {k: dict(v) for k, v in VALUE_SYNONYMS.items()}
        mapping = cls(table, headers, values)
        if mapping_file is not None:
            mapping.extend(Path(mapping_file), set(fields))
        return mapping

    def extend(self, path: Path, fields: set[str]) -> None:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise UserError(f"{path}: no such mapping file") from None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: not a valid YAML mapping: {exc}") from None
        if not isinstance(raw, dict) or set(raw) - {"columns", "values", "units"}:
            raise UserError(f"{path}: a mapping has only the keys columns, values, units")
        for header, name in (raw.get("columns") or {}).items():
            if name != "ignore" and name not in fields:
                raise UserError(f"{path}: columns: {header!r} maps to unknown field {name!r} "
                                f"for table {self.table}")
            self.headers[normalise_header(header)[0]] = name
        for name, pairs in (raw.get("values") or {}).items():
            if name not in CODE_FIELDS or not isinstance(pairs, dict):
                raise UserError(f"{path}: values: {name!r} is not a coded field")
            vocabulary = code_vocabulary(self.table, name)
            for text, code in pairs.items():
                if code not in vocabulary:
                    raise UserError(f"{path}: values: {name}: unknown code {code!r}")
                self.values.setdefault(name, {})[normalise_value(text)] = code
        for name, unit in (raw.get("units") or {}).items():
            if unit not in UNITS:
                raise UserError(f"{path}: units: {name}: unit must be one of {', '.join(UNITS)}")
            self.units[name] = unit

    def field_of(self, header: str) -> tuple[str | None, str | None]:
        """(field or None, unit or None) for a header as written. A header of several rows
        (``处罚情况/罚款（万元）``) resolves as a whole, else without its outer groups, else by
        its leaf alone — unless the leaf means nothing without its group (``一般``): then only
        a group that says which (隐患…) resolves it."""
        base, unit = normalise_header(header)
        if base in self.headers:
            return self.headers[base], unit
        parts = [p for p in str(header).split("/") if p.strip()]
        for i in range(1, len(parts)):
            tail, tail_unit = normalise_header("/".join(parts[i:]))
            if tail in self.headers and (i < len(parts) - 1 or tail not in AMBIGUOUS_LEAVES):
                return self.headers[tail], tail_unit or unit
        if len(parts) > 1:
            leaf = normalise_header(parts[-1])[0]
            for word, leaves in GROUP_LEAVES.get(self.table, {}).items():
                if leaf in leaves and any(word in normalise_header(g)[0] for g in parts[:-1]):
                    return leaves[leaf], unit
        if base in IGNORED_HEADERS or (parts and normalise_header(parts[-1])[0]
                                       in IGNORED_HEADERS):
            return "ignore", None
        return None, unit

    def ambiguity(self, header: str) -> str | None:
        """Why a header of several rows does not resolve, when its leaf needs its group."""
        parts = [p for p in str(header).split("/") if p.strip()]
        leaf = normalise_header(parts[-1])[0] if parts else ""
        if len(parts) > 1 and leaf in AMBIGUOUS_LEAVES and self.field_of(header)[0] is None:
            return (f"'{leaf}' means nothing without its group, and the group "
                    f"'{'/'.join(parts[:-1])}' does not say which field; map '{header}' in a "
                    "--mapping file (columns:)")
        return None

    def is_header_cell(self, text: str) -> bool:
        name, _ = self.field_of(text)
        return name is not None and name != "ignore"

    def is_header_part(self, text: str) -> bool:
        """A cell that may be part of a header of several rows: a field's name, an ignored
        column's, or a word that needs its group (一般)."""
        key = normalise_header(text)[0]
        return self.field_of(text)[0] is not None or key in AMBIGUOUS_LEAVES

    def code(self, name: str, text: str) -> str | None:
        """The code for a cell of a coded field, or None if unknown."""
        key = normalise_value(text)
        if key in self.values.get(name, {}):
            return self.values[name][key]
        for code, (zh, en) in code_vocabulary(self.table, name).items():
            if key in (code, normalise_value(zh), normalise_value(en)):
                return code
        return None


def normalise_value(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).lower()

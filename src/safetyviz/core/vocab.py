"""Vocabularies: every code used in the data, with its Chinese and English label.

Codes are stable English snake_case; labels are for display. This module also owns the
definitions of the cube variables (names, labels, units, how they aggregate over time), so
that the cube, the state and the views agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass

SECTORS: dict[str, tuple[str, str]] = {
    "hazardous_chemicals": ("危险化学品", "Hazardous chemicals"),
    "non_coal_mines": ("非煤矿山", "Non-coal mines"),
    "coal_mines": ("煤矿", "Coal mines"),
    "industry_trade": ("工贸", "Industry and trade"),
    "road_transport": ("交通运输", "Road transport"),
    "construction": ("建筑施工", "Construction"),
    "crowded_places": ("人员密集场所", "Crowded places"),
    "special_equipment": ("特种设备", "Special equipment"),
    "fire_safety": ("消防", "Fire safety"),
    "gas": ("城镇燃气", "Town gas"),
    "forestry": ("森林防火", "Forest fire prevention"),
}

ACTION_TYPES: dict[str, tuple[str, str]] = {
    "fine": ("罚款", "Fine"),
    "suspend": ("责令停产整顿", "Ordered to suspend for rectification"),
    "ban_illegal_operation": ("取缔非法生产经营行为", "Illegal operation banned"),
    "close_scattered_polluting": ("关闭小散乱污企业", "Small scattered polluting unit closed"),
    "seize_black_gas_station": ("查处黑加油点", "Illegal fuel point seized"),
    "seize_illegal_fuel_vehicle": ("查处非法加油车", "Illegal fuel vehicle seized"),
    "close_illegal_unit": ("查处非法生产经营单位", "Illegal production unit closed"),
    "criminal_detention": ("刑事拘留", "Criminal detention"),
    "administrative_detention": ("行政拘留", "Administrative detention"),
}

# Action types that count as closures (取缔、关闭、查处) in the cube.
CLOSURE_ACTIONS = (
    "ban_illegal_operation",
    "close_scattered_polluting",
    "seize_black_gas_station",
    "seize_illegal_fuel_vehicle",
    "close_illegal_unit",
)
# Action types whose target needs no registered enterprise (illegal units are never in a
# register; a detention names people).
NO_ENTERPRISE_ACTIONS = (*CLOSURE_ACTIONS, "criminal_detention", "administrative_detention")
# Action types that are administrative penalty decisions (行政处罚案件).
PENALTY_ACTIONS = ("fine", "suspend")
# Action types whose `persons` column counts people (人次).
DETENTION_ACTIONS = ("criminal_detention", "administrative_detention")

DEPARTMENTS: dict[str, tuple[str, str]] = {
    "emergency_management": ("应急管理", "Emergency management"),
    "market_regulation": ("市场监管", "Market regulation"),
    "fire_rescue": ("消防救援", "Fire and rescue"),
    "ecology_environment": ("生态环境", "Ecology and environment"),
    "public_security": ("公安", "Public security"),
    "health": ("卫健", "Health"),
    "transport": ("交通运输", "Transport"),
    "housing_construction": ("住建", "Housing and construction"),
    "commerce": ("商务", "Commerce"),
    "forestry": ("林业", "Forestry"),
}

LICENCES: dict[str, tuple[str, str]] = {
    "none": ("无", "None"),
    "hazchem_production": ("危险化学品生产许可", "Hazardous chemicals production"),
    "hazchem_use": ("危险化学品使用许可", "Hazardous chemicals use"),
    "hazchem_trading": ("危险化学品经营许可", "Hazardous chemicals trading"),
    "oil_depot": ("油库", "Oil depot"),
    "mining": ("安全生产许可（矿山）", "Mining safety licence"),
}

RISK_LEVELS: dict[str, tuple[str, str]] = {
    "red": ("重大风险", "Major risk"),
    "orange": ("较大风险", "Considerable risk"),
    "yellow": ("一般风险", "Moderate risk"),
    "blue": ("低风险", "Low risk"),
}

SCALES: dict[str, tuple[str, str]] = {
    "above": ("规模以上", "Above designated size"),
    "below": ("规模以下", "Below designated size"),
}

DUAL_PREVENTION: dict[str, tuple[str, str]] = {
    "none": ("未建立", "Not built"),
    "built": ("已建立", "Built"),
    "accepted": ("已验收", "Accepted"),
}

HAZARD_LEVELS: dict[str, tuple[str, str]] = {
    "general": ("一般隐患", "General hazard"),
    "major": ("重大隐患", "Major hazard"),
}

HAZARD_CATEGORIES: dict[str, tuple[str, str]] = {
    "equipment": ("设备设施", "Equipment and facilities"),
    "operation": ("作业行为", "Work practice"),
    "management": ("安全管理", "Safety management"),
    "environment": ("作业环境", "Work environment"),
    "fire_protection": ("消防设施", "Fire protection"),
}

ACCIDENT_LEVELS: dict[str, tuple[str, str]] = {
    "ordinary": ("一般事故", "Ordinary"),
    "larger": ("较大事故", "Larger"),
    "major": ("重大事故", "Major"),
    "especially_major": ("特别重大事故", "Especially major"),
}

VOCABULARIES: dict[str, dict[str, tuple[str, str]]] = {
    "sector": SECTORS,
    "action_type": ACTION_TYPES,
    "department": DEPARTMENTS,
    "licence": LICENCES,
    "risk_level": RISK_LEVELS,
    "scale": SCALES,
    "dual_prevention": DUAL_PREVENTION,
    "level": HAZARD_LEVELS,
    "category": HAZARD_CATEGORIES,
    "accident_level": ACCIDENT_LEVELS,
}


def label(vocabulary: str, code: str, lang: str = "zh") -> str:
    """Display label of ``code`` in ``vocabulary`` (``lang`` is ``zh`` or ``en``)."""
    zh, en = VOCABULARIES[vocabulary][code]
    return zh if lang == "zh" else en


@dataclass(frozen=True)
class CubeVariable:
    """One variable of the cube, and how it is computed from the records.

    ``over_time`` says how months combine into a longer period: ``sum`` for flows,
    ``last`` for stocks measured at month end, ``distinct`` for distinct counts and
    ``median`` for medians: both must be recomputed from records for any period longer than a
    month (``safetyviz.analysis.indicators``).

    The source: rows of ``table`` whose ``date`` is set, kept where each ``where`` column
    holds one of its values, counted (``value="count"``) or summed over ``column``
    (``value="sum"``, missing values as 0), by county, month of ``date`` and (``by_sector``)
    sector. Such an additive variable needs nothing but its entry here: the cube build, the
    DuckDB baseline of benchmarks/cube.py, the data dictionary and the cards derive from it.
    Other values (``"stock"``, ``"distinct"``, ``"median"``) name variables the cube computes
    by their own code.
    """

    name: str
    long_name_zh: str
    long_name_en: str
    units: str
    units_zh: str
    over_time: str = "sum"
    by_sector: bool = True
    table: str = ""
    date: str = "date"
    value: str = "count"
    column: str | None = None
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    note: str = ""  # how a variable of the cube's own code is computed, for the dictionary

    @property
    def additive(self) -> bool:
        """A count or sum of rows, computed from this entry alone."""
        return self.value in ("count", "sum")


CUBE_VARIABLES: tuple[CubeVariable, ...] = (
    CubeVariable("inspections", "检查家次", "Inspections", "1", "家次", table="inspections"),
    CubeVariable("enterprises_inspected", "检查企业数", "Enterprises inspected", "1", "家",
                 over_time="distinct", table="inspections", value="distinct",
                 column="enterprise_id"),
    CubeVariable("hazards_found", "排查隐患", "Hazards found", "1", "处", table="hazards",
                 date="found_date"),
    CubeVariable("major_hazards_found", "重大隐患", "Major hazards found", "1", "处",
                 table="hazards", date="found_date", where=(("level", ("major",)),)),
    CubeVariable("hazards_rectified", "整改隐患", "Hazards rectified", "1", "处",
                 table="hazards", date="rectified_date"),
    CubeVariable("hazards_open_end", "月末未整改隐患", "Hazards open at month end", "1", "处",
                 over_time="last", table="hazards", value="stock",
                 note="found by month end, not rectified by then"),
    CubeVariable("hazards_overdue_end", "月末逾期未整改隐患", "Hazards overdue at month end",
                 "1", "处", over_time="last", table="hazards", value="stock",
                 note="open at month end with its deadline before then"),
    CubeVariable("hazards_listed_open_end", "月末挂牌督办未整改隐患",
                 "Listed-supervision hazards open at month end", "1", "处", over_time="last",
                 table="hazards", value="stock", note="listed (挂牌督办) and open at month end"),
    CubeVariable("median_days_to_rectify", "隐患整改用时中位数", "Median days to rectify",
                 "days", "天", over_time="median", table="hazards", value="median",
                 note="median days from found to rectified, by rectification month"),
    CubeVariable("fines_yuan", "罚款金额", "Fines", "yuan", "元", table="enforcement_actions",
                 value="sum", column="fine_yuan"),
    CubeVariable("penalty_cases", "行政处罚案件", "Penalty cases", "1", "件",
                 table="enforcement_actions", where=(("action_type", PENALTY_ACTIONS),)),
    CubeVariable("closures", "取缔关闭查处", "Closures and seizures", "1", "项",
                 table="enforcement_actions", where=(("action_type", CLOSURE_ACTIONS),)),
    CubeVariable("detentions", "拘留人次", "Detentions", "persons", "人次",
                 table="enforcement_actions", value="sum", column="persons",
                 where=(("action_type", DETENTION_ACTIONS),)),
    CubeVariable("joint_operations", "联合执法行动", "Joint operations", "1", "次",
                 by_sector=False, table="joint_operations"),
    CubeVariable("accidents", "事故起数", "Accidents", "1", "起", table="accidents"),
    CubeVariable("deaths", "死亡人数", "Deaths", "persons", "人", table="accidents",
                 value="sum", column="deaths"),
    CubeVariable("injuries", "受伤人数", "Injuries", "persons", "人", table="accidents",
                 value="sum", column="injuries"),
)

CUBE_VARIABLE = {v.name: v for v in CUBE_VARIABLES}

CAMPAIGNS: dict[str, tuple[str, str]] = {
    "routine": ("日常检查", "Routine inspection"),
    "year_end": ("岁末年初安全检查", "Year-end safety inspection"),
    "resumption": ("复工复产安全检查", "Work-resumption safety inspection"),
    "safety_month": ("安全生产月", "Work Safety Month"),
}
VOCABULARIES["campaign"] = CAMPAIGNS

# Record fields: Chinese and English names and units (for the data dictionary and tables).
FIELDS: dict[str, tuple[str, str, str]] = {
    "inspection_id": ("检查记录编号", "Inspection id", ""),
    "hazard_id": ("隐患编号", "Hazard id", ""),
    "action_id": ("执法措施编号", "Action id", ""),
    "accident_id": ("事故编号", "Accident id", ""),
    "enterprise_id": ("企业编号", "Enterprise id", ""),
    "site_id": ("重大危险源编号", "Site id", ""),
    "joint_operation_id": ("联合执法行动编号", "Joint operation id", ""),
    "name": ("企业名称", "Name", ""),
    "credit_code": ("统一社会信用代码", "Unified social credit code",
                    "18 位，末位校验（GB 32100） / 18 characters, checked (GB 32100)"),
    "aliases": ("曾用名、别名（以 | 分隔）", "Former and other names (joined by |)", ""),
    "registered": ("已在企业名录中（否 = 台账中出现的临时企业）",
                   "In the register (false: provisional, named by a ledger)", "是/否 / bool"),
    "batch": ("来源批次", "Batch it came from", ""),
    "closed_on": ("注销、关闭日期", "Date closed", "日期 / date"),
    "target_name": ("执法对象（原文）", "Target, as written", ""),
    "adcode": ("县（市、区）行政区划代码", "County adcode", "6 位代码 / 6 digits"),
    "sector": ("行业领域", "Sector", "代码 / code"),
    "department": ("检查部门", "Department", "代码 / code"),
    "campaign": ("专项行动", "Campaign", "代码 / code"),
    "date": ("日期", "Date", "日期 / date"),
    "found_date": ("发现日期", "Date found", "日期 / date"),
    "deadline": ("整改期限", "Rectification deadline", "日期 / date"),
    "rectified_date": ("整改完成日期（空 = 未整改）", "Date rectified (empty = open)",
                       "日期 / date"),
    "level": ("等级", "Level", "代码 / code"),
    "category": ("隐患类别", "Hazard category", "代码 / code"),
    "listed_supervision": ("挂牌督办", "Listed for supervision", "是/否 / bool"),
    "action_type": ("措施类型", "Action type", "代码 / code"),
    "persons": ("人次（拘留）", "Persons (detentions)", "人次 / persons"),
    "fine_yuan": ("罚款金额", "Fine", "元 / yuan"),
    "deaths": ("死亡人数", "Deaths", "人 / persons"),
    "injuries": ("受伤人数", "Injuries", "人 / persons"),
    "direct_loss_yuan": ("直接经济损失", "Direct economic loss", "元 / yuan"),
    "scale": ("规模", "Scale", "代码 / code"),
    "licence": ("许可类型", "Licence", "代码 / code"),
    "risk_level": ("安全风险等级", "Risk level", "代码 / code"),
    "dual_prevention": ("双重预防机制", "Dual-prevention system", "代码 / code"),
    "lon": ("经度（WGS-84）", "Longitude (WGS-84)", "度 / degrees"),
    "lat": ("纬度（WGS-84）", "Latitude (WGS-84)", "度 / degrees"),
    "grade": ("重大危险源等级", "Grade", "1–4"),
    "online_since": ("接入实时监测日期", "Online since", "日期 / date"),
    "departments": ("参与部门", "Departments", "代码，以 | 分隔 / codes joined by |"),
    "target": ("检查对象", "Target", ""),
}


@dataclass(frozen=True)
class SensorKind:
    """A kind of sensor on a major hazard installation, with the values it normally reads
    and its two alarm thresholds (一级/二级报警: high, high-high)."""

    code: str
    label_zh: str
    label_en: str
    unit: str
    baseline: float  # typical reading
    daily_amplitude: float  # half the day-night swing
    noise: float  # standard deviation of one reading
    high: float
    high_high: float
    minimum: float = 0.0  # no reading below (concentrations, levels)


SENSOR_KINDS: dict[str, SensorKind] = {k.code: k for k in (
    SensorKind("level", "液位", "Liquid level", "%", 55.0, 8.0, 0.8, 85.0, 95.0),
    SensorKind("temperature", "温度", "Temperature", "°C", 35.0, 6.0, 0.4, 60.0, 75.0,
               minimum=-40.0),
    SensorKind("pressure", "压力", "Pressure", "MPa", 1.2, 0.08, 0.02, 1.8, 2.2),
    SensorKind("combustible_gas", "可燃气体", "Combustible gas", "%LEL", 2.0, 0.5, 0.6,
               25.0, 50.0),
    SensorKind("toxic_gas", "有毒气体", "Toxic gas", "ppm", 1.0, 0.3, 0.3, 10.0, 20.0),
)}
VOCABULARIES["sensor_kind"] = {k.code: (k.label_zh, k.label_en) for k in SENSOR_KINDS.values()}

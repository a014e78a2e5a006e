"""Interface language: every label of the dashboards in Chinese (the default) and English,
and numbers written the way each language writes them. Codes and cube variables get their
labels from :mod:`safetyviz.core.vocab`; everything else a page shows is here."""

from __future__ import annotations

import math

from safetyviz.core.vocab import CUBE_VARIABLE

LANGUAGES = ("zh", "en")
LANGUAGE_NAMES = {"中文": "zh", "English": "en"}  # each in its own language

TEXT: dict[str, tuple[str, str]] = {
    "overview": ("总览", "Overview"),
    "supervision": ("安全生产监管", "Work-safety supervision"),
    "pages": ("页面", "Pages"),
    "data_as_of": ("数据截至 {date}", "Data up to {date}"),
    "store_changed": ("更新于 {time}", "updated {time}"),
    "logout": ("退出登录", "Sign out"),
    "wall": ("安全生产监管指挥大屏", "Work-safety command centre"),
    "no_alarms": ("最近24小时无报警", "No alarms in the last 24 hours"),
    "home_heading": ("{area} · 最新一期：{period}", "{area} · latest period: {period}"),
    "counties": ("县（市、区）", "Counties"),
    "red_risk_firms": ("重大风险企业", "Red-risk enterprises"),
    "metric": ("指标", "Metric"),
    "period": ("时段", "Period"),
    "range_from": ("自定义时段：起", "Custom period: from"),
    "range_to": ("止", "to"),
    "county": ("县（市、区）", "County"),
    "city_total": ("全市", "Whole city"),
    "province_total": ("全省", "Whole province"),
    "enter_city": ("进入{name} ›", "Into {name} ›"),
    "enter_a_city": ("进入：", "Into: "),
    "language": ("语言", "Language"),
    "map_title": ("{period} 各县（市、区）{metric}", "{metric} by county, {period}"),
    "map_title_cities": ("{period} 各市{metric}", "{metric} by city, {period}"),
    "city_unit": ("市", "City"),
    "series_title": ("{county} · 逐月{metric}", "{county} · {metric} by month"),
    "ranking_title": ("{metric} · 排名", "{metric} · ranking"),
    "ranking_top_title": ("{metric} · 前{top}名", "{metric} · top {top}"),
    "rank": ("名次", "Rank"),
    "sector_title": ("{county} · 分行业{metric}", "{county} · {metric} by sector"),
    "same_period_last_year": ("去年同期", "Same period last year"),
    "vs_last_year": ("同比", "vs. last year"),
    "month": ("月份", "Month"),
    "value": ("数值", "Value"),
    "data_unavailable": ("数据不可用", "Data unavailable"),
    "incident": ("错误编号", "incident"),
    "cluster_unavailable": ("计算集群暂不可用，恢复后本区自动刷新",
                            "The compute cluster is unavailable; this part refreshes by itself "
                            "when it is back"),
    "rectification_rate": ("隐患整改率", "Rectification rate"),
    "points": ("个百分点", " pp"),
    "no_comparison": ("无可比数据", "n/a"),
    "county_profile": ("县区画像", "County profile"),
    "open_major": ("未整改重大隐患", "Open major hazards"),
    "overdue": ("逾期未整改隐患", "Overdue hazards"),
    "latest_inspections": ("本期检查记录", "Inspections in the period"),
    "rows": ("共 {n} 条", "{n} rows"),
    "rows_as_of": ("截至 {date}，共 {n} 条", "{n} rows as of {date}"),
    "enforcement": ("执法", "Enforcement"),
    "riskmap": ("安全风险四色图", "Four-colour risk map"),
    "sector": ("行业领域", "Sector"),
    "risk_level": ("风险等级", "Risk level"),
    "major_hazard_sites": ("重大危险源", "Major hazard installation"),
    "enterprises": ("企业数", "Enterprises"),
    "dual_title": ("规模以上企业双重预防机制建设", "Dual prevention, enterprises above size"),
    "riskmap_title": ("{county} · 企业安全风险分布（{n} 家）",
                      "{county} · enterprises by risk level ({n})"),
    "cases": ("起数", "Cases"),
    "persons": ("人次", "Persons"),
    "date": ("日期", "Date"),
    "target": ("检查对象", "Target"),
    "departments": ("参与部门", "Departments"),
    "actions_title": ("{county} · {period} 执法措施", "{county} · actions, {period}"),
    "joint_title": ("{county} · {period} 联合执法行动", "{county} · joint operations, {period}"),
    "monitoring": ("重大危险源监测预警", "Major hazard monitoring"),
    "time": ("时间", "Time"),
    "sites_online": ("在线企业", "Installations online"),
    "online_rate": ("监测上线率", "Online rate"),
    "province": ("全省", "province"),
    "alarms_high": ("一级报警（24小时）", "High alarms (24 h)"),
    "alarms_high_high": ("二级报警（24小时）", "High-high alarms (24 h)"),
    "alarms_ongoing": ("正在报警", "Alarms now"),
    "as_of": ("监测数据截至 {time}", "Readings up to {time}"),
    "site_map_title": ("重大危险源在线状态", "Installations online"),
    "no_sensors": ("该重大危险源尚未接入传感器", "No sensors at this installation yet"),
    "online": ("在线", "online"),
    "offline": ("离线", "offline"),
    "alarm_list": ("最近24小时报警", "Alarms in the last 24 hours"),
    "site": ("重大危险源", "Installation"),
    "sensor": ("传感器", "Sensor"),
    "window": ("时间范围", "Range"),
    "start": ("开始", "Start"),
    "end": ("结束", "End"),
    "peak": ("峰值", "Peak"),
    "level": ("级别", "Level"),
    "ongoing": ("报警中", "ongoing"),
    "high": ("一级", "high"),
    "high_high": ("二级", "high-high"),
    # notifications (safetyviz.notify): a message's head and lines
    "notice_head_alarm": ("报警", "Alarm"),
    "notice_head_offline": ("离线", "Offline"),
    "notice_head_resolved": ("报警解除", "Alarm ended"),
    "notice_head_online": ("恢复在线", "Back online"),
    "notice_rule": ("规则：{rule}", "Rule: {rule}"),
    "notice_where": ("位置：{unit} {firm}（{site}）", "Where: {unit}, {firm} ({site})"),
    "notice_alarms": ("报警 {count} 次（{levels}），首次 {first}",
                      "Alarms: {count} ({levels}), the first at {first}"),
    "notice_more": ("另有 {count} 次", "and {count} more"),
    "notice_offline_since": ("自 {since} 起无数据（超过 {minutes} 分钟）",
                             "No readings since {since} (over {minutes} minutes)"),
    "notice_resolved_since": ("报警均已结束（最后于 {at}）",
                              "Every alarm has ended (the last at {at})"),
    "notice_online_since": ("{at} 起恢复数据上报", "Readings again from {at}"),
    "notice_link": ("查看：{link}", "See: {link}"),
    "notices_title": ("告警通知与确认", "Notifications and acknowledgement"),
    "notice_state": ("状态", "State"),
    "state_new": ("未确认", "New"),
    "state_acknowledged": ("已确认", "Acknowledged"),
    "state_resolved": ("已结束", "Ended"),
    "acknowledged_by": ("确认人", "Acknowledged by"),
    "to_acknowledge": ("待确认", "To acknowledge"),
    "acknowledge": ("确认", "Acknowledge"),
    "acknowledge_time": ("通知后确认用时中位数 {minutes} 分钟（已确认 {count} 条）",
                         "Median time from notification to acknowledgement: {minutes} min "
                         "({count} acknowledged)"),
    "login_to_acknowledge": ("登录后可确认", "Log in to acknowledge"),
    "notice_head_bulletin": ("安全生产简报", "Work-safety bulletin"),
    "notice_head_hazards_overdue": ("隐患逾期未整改", "Hazards overdue"),
    "notice_head_accidents_rising": ("事故同比上升", "Accidents up on a year earlier"),
    "notice_accidents": ("{period}发生事故 {now} 起，上年同期 {earlier} 起",
                         "{now} accidents in {period}, {earlier} a year earlier"),
    "notice_head_rectified": ("逾期隐患已整改", "Overdue hazards rectified"),
    "notice_overdue": ("逾期未整改隐患 {count} 处（其中重大隐患 {major} 处）",
                       "{count} hazards past their deadline and not rectified ({major} major)"),
    "notice_deadline": ("整改期限 {deadline}", "deadline {deadline}"),
    "notice_rectified_since": ("以上隐患已于 {at} 前全部整改", "All rectified by {at}"),
    "notice_bulletin": ("{unit}{period}安全生产简报已生成，见附件或链接。",
                        "The work-safety bulletin of {unit} for {period}: attached, or at the "
                        "link below."),
    "make_bulletin": ("生成简报", "Make the bulletin"),
    "making_bulletin": ("正在生成简报……", "Making the bulletin…"),
    "download_bulletin": ("下载简报（{format}）", "Download the bulletin ({format})"),
    "bulletin_file": ("安全生产简报", "work-safety-bulletin"),
    "notice_head_online_rate": ("在线率低", "Low online rate"),
    "notice_head_rate_restored": ("在线率恢复", "Online rate restored"),
    "notice_unit": ("单位：{unit}", "Unit: {unit}"),
    "notice_online_rate": ("{at} 重大危险源在线率 {rate}（{detail}），低于 {threshold}%",
                           "Installations online at {at}: {rate} ({detail}), below "
                           "{threshold}%"),
    "notice_rate_restored_since": ("{at} 起在线率恢复", "The online rate is back up at {at}"),
    "unmapped": ("{names}无官方边界，不在地图上（数据见排名、卡片和表格）",
                 "Not on the map (no official boundary): {names}; their figures are in the "
                 "ranking, the cards and the tables"),
    "enterprise_profile": ("企业画像", "Enterprise profile"),
    "registered": ("已登记", "Registered"),
    "provisional": ("未登记（台账中出现，尚未纳入企业名录）",
                    "Provisional (named in a ledger, not yet in the register)"),
    "fact_credit_code": ("统一社会信用代码", "Credit code"),
    "fact_adcode": ("所属县区", "County"),
    "fact_sector": ("行业领域", "Sector"),
    "fact_scale": ("规模", "Scale"),
    "fact_licence": ("许可类型", "Licence"),
    "fact_risk_level": ("安全风险等级", "Risk level"),
    "fact_dual_prevention": ("双重预防机制", "Dual prevention"),
    "fact_registered": ("登记状态", "Register status"),
    "fact_closed_on": ("关闭日期", "Closed on"),
    "figure_inspections": ("检查家次", "Inspections"),
    "figure_hazards_found": ("发现隐患", "Hazards found"),
    "figure_hazards_open_end": ("期末未整改隐患", "Hazards open at end"),
    "figure_hazards_overdue_end": ("期末逾期隐患", "Overdue at end"),
    "figure_listed_open_end": ("挂牌督办未销号", "Listed for supervision, open"),
    "figure_rectification_rate": ("隐患整改率", "Rectification rate"),
    "figure_median_days_to_rectify": ("整改用时中位数", "Median days to rectify"),
    "figure_fines_yuan": ("罚款金额", "Fines"),
    "figure_closures": ("取缔关闭查处", "Closures and seizures"),
    "no_firm": ("未指定企业：显示本辖区未整改隐患最多的企业，可在上方搜索其他企业",
                "No firm chosen: showing the one with the most open hazards here; search "
                "above for another"),
    "no_firms": ("本辖区企业名录为空", "No enterprise in the register here"),
    "installations": ("重大危险源", "Major hazard installations"),
    "grade": ("等级", "Grade"),
    "status": ("状态", "Status"),
    "alarms_24h": ("24小时报警", "Alarms (24 h)"),
    "last_alarm": ("最近报警", "Last alarm"),
    "not_connected": ("未接入监测", "not connected"),
    "timeline": ("检查、隐患、执法时间轴", "Record timeline"),
    "lane_inspection": ("检查", "Inspections"),
    "lane_hazard": ("隐患", "Hazards"),
    "lane_action": ("执法", "Actions"),
    "lane_joint_operation": ("联合执法", "Joint operations"),
    "hazard_rectified": ("已整改", "rectified"),
    "hazard_open": ("未整改", "open"),
    "hazard_overdue": ("逾期未整改", "overdue"),
    "events": ("全部记录", "All records"),
    "hazards": ("隐患", "Hazards"),
    "inspections": ("检查", "Inspections"),
    "actions": ("执法措施", "Enforcement actions"),
    "joint_operations": ("联合执法", "Joint operations"),
    "kind": ("类型", "Kind"),
    "record": ("编号", "Record"),
    "detail": ("内容", "Detail"),
    "deadline": ("整改期限", "Deadline"),
    "search_placeholder": ("搜索企业：名称、拼音首字母或信用代码",
                           "Find a firm: name, pinyin initials or credit code"),
    "search_none": ("未找到匹配的企业", "No firm found"),
    "enterprise": ("企业", "Enterprise"),
    "ranking_tab": ("重点关注企业", "Firms to visit"),
    "open_hazards": ("未整改隐患", "Open hazards"),
    "overdue_hazards": ("逾期隐患", "Overdue hazards"),
    "repeat_hazards": ("重复隐患（12个月内）", "Repeat hazards (12 months)"),
    "fines": ("罚款（元）", "Fines (yuan)"),
    "no_records": ("本期无记录", "No records in this period"),
    "provisional_note": ("另有 {records} 条记录（检查 {inspections}、隐患 {hazards}、执法 "
                         "{enforcement_actions}）涉及 {firms} 家尚未登记的企业，不在图上",
                         "{records} more records ({inspections} inspections, {hazards} "
                         "hazards, {enforcement_actions} actions) name {firms} firms not yet "
                         "in the register, not shown"),
}

# English units of the cube variables ("1" is a plain count).
UNITS_EN = {"1": "", "yuan": "yuan", "persons": "persons", "days": "days"}


def text(key: str, lang: str = "zh") -> str:
    """The label ``key`` in ``lang``."""
    zh, en = TEXT[key]
    return en if lang == "en" else zh


def total_label(adcode: str, lang: str = "zh") -> str:
    """全省 / 全市: the whole of what ``adcode`` is (a province's code ends in 0000)."""
    return text("province_total" if str(adcode).endswith("0000") else "city_total", lang)


def metric_label(name: str, lang: str = "zh") -> str:
    var = CUBE_VARIABLE[name]
    return var.long_name_en if lang == "en" else var.long_name_zh


def metric_units(name: str, lang: str = "zh") -> str:
    var = CUBE_VARIABLE[name]
    return UNITS_EN.get(var.units, var.units) if lang == "en" else var.units_zh


def format_number(value, lang: str = "zh") -> str:
    """12,345 in both; then 1.2万 / 4.50亿 in Chinese, 123.5K / 4.50M / 1.20B in English;
    a dash for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    a = abs(value)
    if lang == "en":
        for limit, suffix in ((1e9, "B"), (1e6, "M")):
            if a >= limit:
                return f"{value / limit:.2f}{suffix}"
        return f"{value / 1e3:.1f}K" if a >= 1e5 else f"{value:,.0f}"
    if a >= 1e8:
        return f"{value / 1e8:.2f}亿"
    if a >= 1e5:
        return f"{value / 1e4:.1f}万"
    return f"{value:,.0f}"


def format_percent(rate, lang: str = "zh") -> str:
    """0.853 → 85.3%; a dash when there is no rate."""
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return "—"
    return f"{rate * 100:.1f}%"


def format_points(difference, lang: str = "zh") -> str:
    """A change of a rate in percentage points: ↑2.1个百分点 / ↑2.1 pp."""
    if difference is None or (isinstance(difference, float) and math.isnan(difference)):
        return text("no_comparison", lang)
    arrow = "↑" if difference > 0 else "↓" if difference < 0 else "±"
    return f"{arrow}{abs(difference) * 100:.1f}{text('points', lang)}"


def with_units(number: str, units: str, lang: str = "zh") -> str:
    """'7,967 家次' is written '7,967家次' in Chinese, '85,000 yuan' with a space in English."""
    if not units:
        return number
    return f"{number} {units}" if lang == "en" else f"{number}{units}"

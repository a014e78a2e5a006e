"""The quarterly work-safety bulletin's content: the figures of a period for the city or one
county, and the sentences that tell them.

Two steps, kept apart so each can be tested alone:

* :func:`gather` computes the raw figures (:class:`Facts`) from the cube, the records and the
  registers — numbers only, no wording;
* :func:`compose` turns them into a :class:`Bulletin` (title, paragraphs, headline table,
  county sections, data notes) in Chinese or English, with sentences taken from the
  narrative templates (``data/report/narrative.yaml``, editable by an analyst). The code
  decides *which* sentence applies — "事故起数和死亡人数双下降" only when both fell — and fills
  in its fields; the templates are formatted with plain field names only, never evaluated.

No rendering here: :mod:`safetyviz.report.render` lays a bulletin out as HTML or PDF.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr
import yaml

from safetyviz.analysis.cube import over_period
from safetyviz.analysis.indicators import (
    MIN_BASE,
    describe_change,
    enterprises_inspected,
    rectification_rate,
    year_over_year,
)
from safetyviz.analysis.reference import province_online_rate
from safetyviz.core.errors import UserError
from safetyviz.core.i18n import format_points, metric_label, metric_units, text, with_units
from safetyviz.core.paths import shipped_dir
from safetyviz.core.periods import parse_period, period_label
from safetyviz.data import catalog as catalog_module
from safetyviz.data.loading import load_cube, load_regions, load_table
from safetyviz.data.notices import Acknowledgements, acknowledgements, outbox_of
from safetyviz.data.regions import UPPER_SUFFIXES, english_name, top_unit

# The figures of the headline table, in order (rectification_rate is derived).
KPI_ROWS = ["inspections", "enterprises_inspected", "hazards_found", "major_hazards_found",
            "hazards_rectified", "rectification_rate", "hazards_open_end", "hazards_overdue_end",
            "hazards_listed_open_end",
            "fines_yuan", "penalty_cases", "closures", "detentions", "joint_operations",
            "accidents", "deaths", "injuries"]
# What counts as "data in the period" for a county: any activity recorded.
ACTIVITY = ["inspections", "hazards_found", "hazards_rectified", "penalty_cases", "closures",
            "detentions", "joint_operations", "accidents"]
SERIES_MONTHS = 24
TEMPLATE_FILE = Path("report") / "narrative.yaml"


# --------------------------------------------------------------------------------------------
# Figures


@dataclass
class Facts:
    """The raw figures of one scope (the city or a county) over one period.

    ``now`` and ``before`` map a figure's name (see :data:`KPI_ROWS`) to its value in the
    period and in the same months a year earlier (NaN where the data cannot say).
    """

    adcode: str
    name_zh: str
    name_en: str
    now: dict[str, float]
    before: dict[str, float]
    sites: int = 0
    sites_online: int = 0
    dual_prevention: int = 0
    dual_accepted: int = 0
    # the online rate of the level above (its level: "province" or "city") and where it
    # comes from: computed from the data when they hold it, else a reference figure
    above_rate: float = math.nan
    above_level: str = ""
    above_source: str = ""
    level: str = "county"  # the scope's: province, city or county (a county-level unit)
    # the warnings the notifier told people about, and how they were acknowledged (None:
    # no notifier writes to these data)
    notices: Acknowledgements | None = None

    @property
    def has_data(self) -> bool:
        return any(_number(self.now.get(name)) > 0 for name in ACTIVITY)


@dataclass
class Data:
    """Everything a bulletin is computed from, loaded once. ``regions``: the reporting units
    (county-level); ``hierarchy``: every level of the regions table (a province's cities and
    the province itself too)."""

    cube: xr.Dataset
    regions: pd.DataFrame  # a GeoDataFrame (a DataFrame subclass)
    inspections: pd.DataFrame
    sites: pd.DataFrame
    enterprises: pd.DataFrame
    versions: dict[str, str]
    hierarchy: pd.DataFrame | None = None
    outbox: Path | None = None  # the notifier's outbox, if the data dir has one

    @property
    def city(self) -> str:
        """The unit the data are of: the city, or the province."""
        return top_unit(self.regions)[0]

    @property
    def counties(self) -> list[str]:
        return list(self.regions["adcode"])

    def _parents(self) -> dict[str, str]:
        table = self.hierarchy if self.hierarchy is not None else self.regions
        return {str(a): str(p) for a, p in zip(table["adcode"], table["parent_adcode"])
                if isinstance(p, str) and p}

    def parent(self, adcode: str) -> str | None:
        """The unit above ``adcode`` in the data (None for the unit the data are of)."""
        if adcode == self.city:
            return None
        return self._parents().get(adcode)

    def units_in(self, adcode: str) -> list[str]:
        """The reporting units inside ``adcode`` (itself, for one): what its figures sum."""
        if adcode == self.city:
            return self.counties
        parents = self._parents()
        inside = []
        for unit in self.counties:
            above: str | None = unit
            while above is not None and above != adcode:
                above = parents.get(above)
            if above == adcode:
                inside.append(unit)
        return inside

    def children(self, adcode: str) -> list[str]:
        """The units right below ``adcode`` that the data hold (a province's cities, a city's
        counties); none below a county-level unit."""
        if adcode in self.counties:
            return []
        return [a for a, p in self._parents().items()
                if p == adcode and self.units_in(a)] if adcode != self.city or \
            self.hierarchy is not None else self.counties

    def level(self, adcode: str) -> str:
        """province, city or county: what ``adcode`` is."""
        if self.hierarchy is not None:
            rows = self.hierarchy[self.hierarchy["adcode"].astype(str) == adcode]
            if len(rows) and str(rows["level"].iloc[0]) in ("province", "city"):
                return str(rows["level"].iloc[0])
        if adcode == self.city:
            return "province" if adcode.endswith("0000") else "city"
        return "county"

    def name(self, adcode: str) -> tuple[str, str]:
        """(Chinese, English) name of ``adcode``."""
        for table in (self.regions, self.hierarchy):
            if table is None:
                continue
            rows = table[table["adcode"].astype(str) == adcode]
            if len(rows):
                row = rows.iloc[0]
                name_zh = str(row["name_zh"])
                name_en = row.get("name_en", "")
                return name_zh, str(name_en) if isinstance(name_en, str) and name_en else \
                    english_name(name_zh)
        name_zh = top_unit(self.regions)[1]
        return name_zh, english_name(name_zh, UPPER_SUFFIXES)


def load(catalog=None) -> Data:
    """The cube, the regions and the small registers, through the catalog."""
    cat = catalog if catalog is not None else catalog_module.open_catalog()
    inspections = load_table("inspections", ["date", "adcode", "enterprise_id"], cat).compute()
    sites = load_table("major_hazard_sites", ["site_id", "adcode", "online_since"], cat)
    enterprises = load_table("enterprises", ["adcode", "scale", "dual_prevention"], cat)
    versions = {name: Path(catalog_module.version(name, cat)).name
                for name in ("inspections", "hazards", "enforcement_actions", "accidents",
                             "major_hazard_sites", "enterprises", "cube")}
    return Data(cube=load_cube(cat), regions=load_regions(cat),
                inspections=inspections.assign(adcode=inspections["adcode"].astype(str)),
                sites=sites.compute(), enterprises=enterprises.compute(), versions=versions,
                hierarchy=load_regions(cat, upper=True), outbox=outbox_of(cat))


def _number(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value


def _cube_figures(cube: xr.Dataset, start, end, adcodes) -> tuple[dict, dict]:
    now, before = {}, {}
    for name in KPI_ROWS:
        if name in ("rectification_rate", "enterprises_inspected"):
            continue
        result = year_over_year(cube, name, start, end, adcode=adcodes)
        now[name], before[name] = _number(result.current), _number(result.previous)
    year = pd.DateOffset(years=1)
    now["rectification_rate"] = _number(rectification_rate(cube, start, end, by=None,
                                                           adcode=adcodes))
    before["rectification_rate"] = _number(rectification_rate(cube, start - year, end - year,
                                                              by=None, adcode=adcodes))
    return now, before


def gather(data: Data, start, end, adcode: str | None = None) -> Facts:
    """The figures of the period [start, end] for the unit ``adcode`` — a county-level unit,
    a city of the province the data are of, or (None) the unit the data are of."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    city = data.city
    scope = city if adcode in (None, "") else str(adcode)
    adcodes = data.units_in(scope)
    if not adcodes:
        above = data.children(city)
        raise UserError(f"unit {scope!r} is not in the data: {city} (all), "
                        + (f"one of {', '.join(above[:20])}{' …' if len(above) > 20 else ''}"
                           if above and set(above) != set(data.counties) else "")
                        + (" or " if above and set(above) != set(data.counties) else "")
                        + f"a county-level unit ({', '.join(data.counties[:10])}"
                        + (" …)" if len(data.counties) > 10 else ")"))
    name_zh, name_en = data.name(scope)
    now, before = _cube_figures(data.cube, start, end, None if scope == city else adcodes)
    inspections = data.inspections[data.inspections["adcode"].isin(adcodes)]
    year = pd.DateOffset(years=1)
    now["enterprises_inspected"] = float(enterprises_inspected(inspections, start, end, by=None))
    before["enterprises_inspected"] = (
        float(enterprises_inspected(inspections, start - year, end - year, by=None))
        if not math.isnan(before["inspections"]) else math.nan)
    if math.isnan(now["inspections"]):  # the period is outside the data
        now["enterprises_inspected"] = math.nan
    sites, online = _sites(data, adcodes, end)
    above = data.enterprises[data.enterprises["adcode"].astype(str).isin(adcodes)
                             & (data.enterprises["scale"].astype(str) == "above")]
    dual = above["dual_prevention"].astype(str)
    parent = data.parent(scope)
    if parent is not None:  # the level above is in the data: its rate computed from them
        parent_sites, parent_online = _sites(data, data.units_in(parent), end)
        rate = parent_online / parent_sites if parent_sites else math.nan
        above_level = data.level(parent)
        source = f"major_hazard_sites: {parent_online} / {parent_sites} ({parent})"
    elif data.level(scope) == "city":  # the province is not: its published figure, if any
        rate, source = province_online_rate(city, start, end)
        above_level = "province"
    else:
        rate, source, above_level = math.nan, "", ""
    return Facts(adcode=scope, name_zh=name_zh, name_en=name_en or name_zh, now=now,
                 before=before, sites=sites, sites_online=online,
                 dual_prevention=int(dual.isin(["built", "accepted"]).sum()),
                 dual_accepted=int((dual == "accepted").sum()), above_rate=rate,
                 above_level=above_level, above_source=source, level=data.level(scope),
                 notices=acknowledgements(data.outbox, adcodes, start, end)
                 if data.outbox is not None else None)


def _sites(data: Data, adcodes: list[str], end) -> tuple[int, int]:
    """(installations, those connected to monitoring by ``end``) of ``adcodes``."""
    sites = data.sites[data.sites["adcode"].astype(str).isin(adcodes)]
    online = sites["online_since"].notna() & (sites["online_since"] <= end)
    return len(sites), int(online.sum())


def monthly(cube: xr.Dataset, names: list[str], end, adcode: str | list[str] | None = None,
            months: int = SERIES_MONTHS) -> pd.DataFrame:
    """``names`` per month for the ``months`` months ending with the period's last month (as
    far as the cube goes), for one county, several (a city's) or all: one column per name."""
    last = min(pd.Timestamp(end).to_period("M").to_timestamp(),
               pd.Timestamp(cube["month"].values[-1]))
    first = last - pd.DateOffset(months=months - 1)
    columns = {}
    for name in names:
        var = cube[name].sel(month=slice(first, last))
        if adcode is not None:
            var = var.sel(adcode=[adcode] if isinstance(adcode, str) else adcode)
        columns[name] = var.sum([d for d in var.dims if d != "month"]).to_series()
    return pd.DataFrame(columns)


def by_county(cube: xr.Dataset, name: str, start, end) -> pd.Series:
    """``name`` per county (adcode) over the period."""
    values = over_period(cube, name, start, end)
    return values.sum([d for d in values.dims if d != "adcode"]).to_series()


# --------------------------------------------------------------------------------------------
# Wording


class _PlainFields(string.Formatter):
    """str.format with plain field names only: no attribute or index lookups, so a template
    can read the figures it is given and nothing else."""

    def get_field(self, field_name, args, kwargs):
        if not field_name.isidentifier():
            raise KeyError(field_name)
        return kwargs[field_name], field_name


def read_templates(path: Path | None = None) -> dict:
    """The narrative templates (``data/report/narrative.yaml`` unless ``path``); a file
    lacking a sentence the bulletin needs is refused, naming the file and the key."""
    path = Path(path) if path else shipped_dir() / TEMPLATE_FILE
    try:
        templates = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"{path}: cannot read the narrative templates ({exc})") from None
    reference = yaml.safe_load((shipped_dir() / TEMPLATE_FILE).read_text(encoding="utf-8"))
    _check_keys(path, templates, reference, [])
    return templates


def _check_keys(path: Path, templates, reference, where: list[str]) -> None:
    if not isinstance(reference, dict):
        if not isinstance(templates, str):
            raise UserError(f"{path}: {'.'.join(where)} must be a sentence (text)")
        return
    if not isinstance(templates, dict):
        raise UserError(f"{path}: {'.'.join(where) or 'the file'} must be a mapping")
    for key, value in reference.items():
        if key not in templates:
            raise UserError(f"{path}: missing {'.'.join([*where, key])}")
        _check_keys(path, templates[key], value, [*where, key])


def _fill(templates: dict, key: str, fields: dict) -> str:
    """The sentence ``key`` (dotted) with its fields filled in."""
    sentence: Any = templates  # a mapping until the last part: the sentence (text)
    for part in key.split("."):
        sentence = sentence[part]
    try:
        text = _PlainFields().format(sentence, **fields)
    except (KeyError, ValueError, IndexError) as exc:
        raise UserError(f"narrative template {key!r}: field {exc} is not one the bulletin "
                        f"knows ({', '.join(sorted(fields))})") from None
    return text[:1].upper() + text[1:]  # "the city …" opens an English sentence


def _count(value, lang: str) -> str:
    value = _number(value)
    if math.isnan(value):
        return "—" if lang == "zh" else "n/a"
    # The bulletin writes 7967家次; English groups thousands.
    return f"{value:.0f}" if lang == "zh" else f"{value:,.0f}"


def _money(yuan, lang: str) -> str:
    """Fines in 万元 for Chinese text (8.5), in yuan for English (85,000)."""
    yuan = _number(yuan)
    if math.isnan(yuan):
        return "—" if lang == "zh" else "n/a"
    if lang == "en":
        return f"{yuan:,.0f}"
    return f"{yuan / 1e4:.2f}".rstrip("0").rstrip(".")


def _percent(rate, digits: int = 1) -> str:
    rate = _number(rate)
    return "—" if math.isnan(rate) else f"{rate * 100:.{digits}f}%"


def _this(name_zh: str, lang: str) -> str:
    """该区 / 该县 / 该市 from the name's last character (the kind of county-level unit)."""
    if lang == "en":
        return "the county"
    kind = name_zh[-1:] if name_zh[-1:] in "区县市旗" else "县"
    return f"该{kind}"


# How a bulletin names the unit it is about when that unit has units below it.
SCOPE_WORDS = {"zh": {"province": "全省", "city": "全市", "county": "全市"},
               "en": {"province": "the province", "city": "the city", "county": "the city"}}


def _fields(facts: Facts, period: str, lang: str, is_city: bool) -> dict:
    now, before = facts.now, facts.before
    fields = {name: _count(now[name], lang) for name in now}
    fields.update({f"{name}_before": _count(before[name], lang) for name in before})
    fields.update(
        fines=_money(now["fines_yuan"], lang), fines_before=_money(before["fines_yuan"], lang),
        rectification_rate=_percent(now["rectification_rate"]),
        period=period, scope=SCOPE_WORDS[lang][facts.level] if is_city else
        (facts.name_zh if lang == "zh" else facts.name_en),
        scope_name=facts.name_zh if lang == "zh" else facts.name_en,
        this=_this(facts.name_zh, lang), sites=str(facts.sites), online=str(facts.sites_online),
        online_rate=_percent(facts.sites_online / facts.sites if facts.sites else math.nan, 0),
        dual_prevention=_count(facts.dual_prevention, lang),
        dual_accepted=_count(facts.dual_accepted, lang))
    if facts.notices is not None:
        fields.update(notices=_count(facts.notices.told, lang),
                      notices_acknowledged=_count(facts.notices.acknowledged, lang),
                      acknowledge_minutes=f"{facts.notices.median_seconds / 60:.1f}")
    return fields


def accident_trend(facts: Facts) -> str:
    """Which accident sentence is true: both_down, both_up, mixed, none_both or
    no_comparison (the same months a year earlier are not in the data)."""
    a, d = _number(facts.now["accidents"]), _number(facts.now["deaths"])
    a0, d0 = _number(facts.before["accidents"]), _number(facts.before["deaths"])
    if any(math.isnan(v) for v in (a, d, a0, d0)):
        return "no_comparison"
    if a == d == a0 == d0 == 0:
        return "none_both"
    if a < a0 and d < d0:
        return "both_down"
    if a > a0 and d > d0:
        return "both_up"
    return "mixed"


def _direction(now: float, before: float) -> str:
    return "down" if now < before else "up" if now > before else "flat"


@dataclass
class Section:
    heading: str
    paragraphs: list[str] = field(default_factory=list)
    adcode: str = ""


@dataclass
class Bulletin:
    """A bulletin ready to lay out: every text in one language, every table and figure's data."""

    lang: str
    title: str
    subtitle: str
    sections: list[Section]
    kpis: pd.DataFrame  # columns: metric, current, previous, change (all text)
    kpi_headings: dict[str, str]
    counties: list[Section]
    notes: list[str]
    has_data: bool
    headings: dict[str, str]
    figure_titles: dict[str, str]
    facts: Facts
    notes_intro: str = ""


def _kpi_table(facts: Facts, lang: str) -> pd.DataFrame:
    rows = []
    for name in KPI_ROWS:
        now, before = _number(facts.now[name]), _number(facts.before[name])
        if name == "rectification_rate":
            rows.append((text("rectification_rate", lang), _percent(now), _percent(before),
                         format_points(now - before, lang)))
            continue
        units = metric_units(name, lang)
        def write(value, name=name, units=units):
            if math.isnan(value):
                return "—"
            if name == "fines_yuan" and lang == "zh":
                return with_units(_money(value, lang), "万元", lang)
            return with_units(_count(value, lang), units, lang)

        rows.append((metric_label(name, lang), write(now), write(before),
                     describe_change(now, before, lang=lang)))
    return pd.DataFrame(rows, columns=["metric", "current", "previous", "change"])


def _notes(templates: dict, facts: Facts, start, end, scope: str, versions: dict,
           lang: str) -> list[str]:
    fields = {"start": f"{start:%Y-%m-%d}", "end": f"{end:%Y-%m-%d}", "scope": scope,
              "reference": facts.above_source or "—"}
    notes = [_PlainFields().format(sentence, **fields)
             for key, sentence in templates["sources"][lang].items()
             if key != "notices" or facts.notices is not None]
    listed = "; ".join(f"{name} {version}" for name, version in versions.items())
    return [*notes, _fill(templates[lang], "notes_versions", {"versions": listed})]


def compose(facts: Facts, period: str, lang: str = "zh", counties: list[Facts] | None = None,
            templates: dict | None = None, versions: dict | None = None,
            data_end=None) -> Bulletin:
    """The bulletin of ``facts`` (the city's or a county's) for ``period`` (e.g. 2020Q1) in
    ``lang``; ``counties``: the facts of each county, for the city's per-county sections."""
    if lang not in ("zh", "en"):
        raise UserError(f"--lang {lang!r}: use zh or en")
    templates = templates or read_templates()
    words = templates[lang]
    start, end = parse_period(period)
    is_city = counties is not None
    label = period_label(period, lang)
    fields = _fields(facts, label, lang, is_city)
    fields["data_end"] = f"{pd.Timestamp(data_end):%Y-%m-%d}" if data_end is not None else "—"
    headings = dict(words["headings"])
    by_city = facts.level == "province"  # the sections and the map: its cities
    if by_city:
        headings["counties"] = headings["cities"]
    title = _fill(words, "title", fields)
    subtitle = _fill(words, "subtitle", fields)
    scope_words = fields["scope"]
    notes = _notes(templates, facts, start, end, scope_words, versions or {}, lang)
    figure_titles = {key: _fill(words, f"figure_{key}", fields)
                     for key in ("map", "series", "accidents")}
    if by_city:
        figure_titles["map"] = _fill(words, "figure_map_cities", fields)
    if not facts.has_data:
        return Bulletin(lang, title, subtitle,
                        [Section(headings["supervision"], [_fill(words, "no_data", fields)])],
                        _kpi_table(facts, lang), words["table"], [], notes, False, headings,
                        figure_titles, facts, words["notes_intro"])

    supervision = [_fill(words, "supervision", fields), _fill(words, "supervision_stock", fields)]
    enforcement_total = sum(_number(facts.now[n]) for n in
                            ("penalty_cases", "closures", "detentions", "joint_operations"))
    enforcement = [_fill(words, "enforcement" if enforcement_total else "enforcement_none",
                         fields)]
    trend = accident_trend(facts)
    accidents = _fill(words, f"accidents.{trend}", {
        **fields,
        "accidents_direction": words["direction"][_direction(facts.now["accidents"],
                                                             facts.before["accidents"])],
        "deaths_direction": words["direction"][_direction(facts.now["deaths"],
                                                          facts.before["deaths"])]})
    if trend in ("both_down", "both_up", "mixed") and min(
            _number(facts.before["accidents"]), _number(facts.before["deaths"])) < MIN_BASE:
        accidents += ("" if lang == "zh" else " ") + words["small_base"]
    sections = [Section(headings["supervision"], supervision),
                Section(headings["enforcement"], enforcement),
                Section(headings["accidents"], [accidents])]
    if facts.sites:
        monitoring = _fill(words, "monitoring", fields)
        if not math.isnan(facts.above_rate):  # against the level above: province or city
            rate = facts.sites_online / facts.sites
            difference = round(rate * 100) - round(facts.above_rate * 100)
            level = facts.above_level
            key = f"monitoring_{level}" + ("" if difference >= 0 else "_lower")
            above = {f"{level}_rate": _percent(facts.above_rate, 0),
                     "difference": str(abs(difference))}
            monitoring += ("" if lang == "zh" else " ") + _fill(words, key, above)
    else:
        monitoring = _fill(words, "monitoring_none", fields)
    warnings = [] if facts.notices is None else [_fill(words, _notices_key(facts.notices),
                                                        fields)]
    sections.append(Section(headings["monitoring"], [monitoring, *warnings]))
    sections.append(Section(headings["dual_prevention"],
                            [_fill(words, "dual_prevention", fields)]))
    county_sections = []
    for county in counties or []:
        county_fields = _fields(county, label, lang, False)
        name = county.name_zh if lang == "zh" else county.name_en
        if county.has_data:
            paragraphs = [_fill(words, "county", county_fields),
                          _fill(words, "county_actions", county_fields)]
        else:
            paragraphs = [_fill(words, "no_data", county_fields)]
        county_sections.append(Section(name, paragraphs, county.adcode))
    return Bulletin(lang, title, subtitle, sections, _kpi_table(facts, lang), words["table"],
                    county_sections, notes, True, headings, figure_titles, facts,
                    words["notes_intro"])


def _notices_key(notices: Acknowledgements) -> str:
    """The sentence telling how the period's warnings were acknowledged."""
    if not notices.told:
        return "notices_none"
    return "notices" if notices.acknowledged else "notices_unacknowledged"


def build(period: str, adcode: str | None = None, lang: str = "zh", catalog=None,
          templates_path: Path | None = None, data: Data | None = None) -> tuple[Bulletin, Data]:
    """The bulletin of ``period`` for the unit ``adcode`` (a county-level unit, a city of the
    data's province) or the unit the data are of, from the catalog's data."""
    start, end = parse_period(period)  # a bad period fails before anything is loaded
    if lang not in ("zh", "en"):
        raise UserError(f"--lang {lang!r}: use zh or en")
    templates = read_templates(templates_path)
    data = data or load(catalog)
    facts = gather(data, start, end, adcode)
    below = data.children(facts.adcode)  # a section for each county, or each city
    counties = [gather(data, start, end, unit) for unit in below] if below else None
    data_end = pd.Timestamp(data.cube["month"].values[-1]) + pd.offsets.MonthEnd(0)
    bulletin = compose(facts, period, lang, counties, templates, data.versions, data_end)
    return bulletin, data


__all__ = ["Bulletin", "Data", "Facts", "Section", "accident_trend", "build", "by_county",
           "compose", "gather", "load", "monthly", "read_templates"]

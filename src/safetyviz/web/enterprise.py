"""The enterprise profile's state (企业画像): which firm, which period, and what follows —
its register entry in words, its headline figures against a year earlier, its timeline.
A firm is chosen by id from the register the session may see (a county user's register
holds only their counties' firms), so an id from the browser can name nothing else.
Parameterized only: no panel, bokeh or holoviews."""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd
import param

from safetyviz.analysis.enterprises import (
    PROFILE_FIGURES,
    EnterpriseRecords,
    profile_figures,
    timeline,
    year_earlier,
)
from safetyviz.analysis.indicators import describe_change
from safetyviz.core.i18n import (
    format_number,
    format_percent,
    format_points,
    metric_units,
    text,
    with_units,
)
from safetyviz.core.periods import parse_period
from safetyviz.core.vocab import VOCABULARIES
from safetyviz.web.page_state import PageState

# The register's coded fields shown on a profile, with their vocabularies.
FACTS = ("credit_code", "adcode", "sector", "scale", "licence", "risk_level",
         "dual_prevention", "registered")
# The cube variable whose units a headline figure takes (the same name where not listed).
AS_CUBE_VARIABLE = {"listed_open_end": "hazards_listed_open_end"}
DAYS = ("天", "days")


def code_label(vocabulary: str, code, lang: str = "zh") -> str:
    """A code's label, the code itself when the vocabulary does not know it, a dash for
    none."""
    if code is None or (isinstance(code, float) and math.isnan(code)) or code == "":
        return "—"
    labels = VOCABULARIES[vocabulary].get(str(code))
    return str(code) if labels is None else labels[lang == "en"]


class EnterpriseState(PageState):
    """One firm of the register, one period."""

    QUERY = ("id", "period", "lang")

    id = param.String(default="", doc="The firm shown (an enterprise_id of ``register``).")
    # param cannot type a Selector's value: the annotation says what it holds.
    period: str = param.Selector(default=None, objects=[], check_on_set=True,
                                 doc="Reporting period: a year, quarter or month.")  # type: ignore[assignment]
    register = param.DataFrame(doc="The firms this session may see, indexed by enterprise_id "
                                   "(name, credit_code, adcode, sector, scale, licence, "
                                   "risk_level, dual_prevention, registered, closed_on …).")
    names = param.Dict(default={}, doc="County names by adcode, {'zh': …, 'en': …}.")
    reader = param.Callable(doc="reader(enterprise_id) → EnterpriseRecords of that firm.")
    as_of_data = param.Date(doc="The last day of the data (a period may run past it).")

    def __init__(self, register: pd.DataFrame, periods: list[str], reader: Callable,
                 as_of_data, default_id: str | None = None, **params):
        super().__init__(register=register, reader=reader, as_of_data=as_of_data)
        self.param.period.objects = list(periods)
        last = pd.Timestamp(as_of_data)
        complete = [p for p in periods if "Q" in p and parse_period(p)[1] <= last]
        self.period = complete[0] if complete else periods[0]  # the latest whole quarter
        self.id = default_id if default_id in register.index else (
            str(register.index[0]) if len(register) else "")
        self._records: tuple[str, EnterpriseRecords] | None = None
        self.param.update(**params)

    def _take(self, key: str, value: str) -> bool:
        """An id only when it is a firm of the session's register."""
        if key == "id":
            if value not in self.register.index:
                return False
            self.id = value
            return True
        return super()._take(key, value)

    @param.depends("id")
    def firm(self) -> pd.Series:
        return self.register.loc[self.id]

    @property
    def county(self) -> str:
        """The firm's county (what files and audit entries of its tables are named by)."""
        return str(self.firm()["adcode"])

    @property
    def bounds(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        return parse_period(self.period)

    @property
    def as_of(self) -> pd.Timestamp:
        """The period's last day, or the data's if the period runs past it."""
        return min(self.bounds[1], pd.Timestamp(self.as_of_data))

    def records(self) -> EnterpriseRecords:
        """The firm's records (read once per firm chosen)."""
        if self._records is None or self._records[0] != self.id:
            self._records = (self.id, self.reader(self.id))
        return self._records[1]

    def county_name(self, adcode: str | None = None) -> str:
        adcode = str(adcode or self.county)
        return (self.names.get(self.lang, {}).get(adcode)
                or self.names.get("zh", {}).get(adcode) or adcode)

    def firm_name(self) -> str:
        return str(self.firm()["name"])

    def registered(self) -> bool:
        value = self.firm().get("registered", True)
        return bool(True if pd.isna(value) else value)

    @param.depends("id", "lang")
    def facts(self) -> list[tuple[str, str, str]]:
        """(field, label, value) of the firm's register entry, in words."""
        firm, lang = self.firm(), self.lang
        out = []
        for name in FACTS:
            value = firm.get(name)
            if name == "adcode":
                shown = self.county_name(value)
            elif name == "registered":
                shown = text("registered" if self.registered() else "provisional", lang)
            elif name == "credit_code":
                shown = "—" if pd.isna(value) or not value else str(value)
            else:
                shown = code_label(name, value, lang)
            out.append((name, text(f"fact_{name}", lang), shown))
        closed = firm.get("closed_on")
        if closed is not None and not pd.isna(closed):
            out.append(("closed_on", text("fact_closed_on", lang),
                        f"{pd.Timestamp(closed):%Y-%m-%d}"))
        return out

    def figures(self) -> list[tuple[str, float, float]]:
        """(name, this period, the same dates a year earlier) of each headline figure."""
        start, end = self.bounds
        end = min(end, pd.Timestamp(self.as_of_data))
        records = self.records()
        now = profile_figures(records, start, end)
        before = profile_figures(records, *year_earlier(start, end))
        return [(name, now[name], before[name]) for name in PROFILE_FIGURES]

    @param.depends("id", "period", "lang")
    def kpis(self) -> list[dict]:
        """The headline cards: each figure of the period with the change from a year
        earlier (a rate's in percentage points)."""
        lang, cards = self.lang, []
        for name, now, before in self.figures():
            if name == "rectification_rate":
                value, change = format_percent(now, lang), format_points(now - before, lang)
            else:
                units = DAYS[lang == "en"] if name == "median_days_to_rectify" else \
                    metric_units(AS_CUBE_VARIABLE.get(name, name), lang)
                number = format_number(now, lang)
                value = number if number == "—" else with_units(number, units, lang)
                change = describe_change(now, before, lang=lang)
            cards.append({"name": name, "label": text(f"figure_{name}", lang), "value": value,
                          "change": change, "raw": now})
        return cards

    @param.depends("id", "period")
    def timeline(self) -> pd.DataFrame:
        """Every event of the firm's record (:func:`analysis.enterprises.timeline`), hazards'
        states at the end of the period."""
        return timeline(self.records(), self.as_of)

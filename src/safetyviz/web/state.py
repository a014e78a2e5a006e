"""State: what a user has chosen (metric, period, county) and the data that follows from it.

Parameterized classes only; no panel, bokeh or holoviews here, so the logic is testable without
a browser. Every value is checked against the cube's own coordinates: a value forged in the
browser cannot select anything that is not there.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pandas as pd
import param
import xarray as xr

from safetyviz.analysis.cube import PerCube, over_period
from safetyviz.analysis.indicators import describe_change, rectification_rate, year_over_year
from safetyviz.core.i18n import (
    format_number,
    format_percent,
    format_points,
    metric_label,
    metric_units,
    text,
    total_label,
    with_units,
)
from safetyviz.core.periods import parse_period, periods_between
from safetyviz.core.vocab import CUBE_VARIABLES
from safetyviz.web.page_state import UnitsState

if TYPE_CHECKING:  # param >= 2.4: a parameter without a default that is never None once set
    from param.parameters import NoNone
else:  # the same at run time as leaving allow_None out (a default of None allows None)
    NoNone = False

MAP_METRICS = [v.name for v in CUBE_VARIABLES if v.over_time in ("sum", "last")]
# The headline cards of the overview, in order.
KPI_METRICS = ["inspections", "hazards_found", "rectification_rate", "fines_yuan", "closures",
               "accidents", "deaths"]


HEADLINE_FIGURES = PerCube()


class OverviewState(UnitsState):
    """The overview's selection over one cube."""

    kpi_metrics = KPI_METRICS  # the headline cards, in order
    QUERY = ("metric", "period", "county", "lang")

    cube = param.ClassSelector(class_=xr.Dataset, constant=True, allow_None=NoNone,
                               doc="The cube every value is selected from.")
    # param cannot type a Selector's value: the annotations say what it holds (period and
    # county from __init__ on), with the ignore param's documentation gives for that.
    metric: str = param.Selector(default="inspections", objects=MAP_METRICS, check_on_set=True,
                                 doc="Cube variable shown on the map and in the series.")  # type: ignore[assignment]
    period: str = param.Selector(default=None, objects=[], check_on_set=True,
                                 doc="Reporting period: a year (2020), quarter (2020Q1) or month "
                                     "(2020-03) within the cube's months.")  # type: ignore[assignment]
    county: str = param.Selector(default=None, objects=[], check_on_set=True,
                                 doc="Adcode of the county whose monthly series is shown; the "
                                     "city's adcode for the whole city.")  # type: ignore[assignment]
    names_en = param.Dict(default={}, doc="English county names by adcode (from the regions).")
    city_total = param.Boolean(default=True, constant=True,
                               doc="Whether the city's total is a choice of ``county``; False "
                                   "for a user who may see only some counties (the cube then "
                                   "holds only those).")

    def __init__(self, cube: xr.Dataset, **params):
        months = pd.DatetimeIndex(cube["month"].values)
        periods = periods_between(months[0], months[-1])
        self.city = str(cube.attrs["city_adcode"])
        counties = [str(a) for a in cube["adcode"].values]
        self._names_zh = dict(zip(counties, (str(n) for n in cube["name_zh"].values)))
        super().__init__(cube=cube, city_total=params.pop("city_total", True))
        self.param.period.objects = periods
        self.param.county.objects = [self.city, *counties] if self.city_total else counties
        complete = self.complete_quarters()
        self.period = complete[-1] if complete else periods[0]
        self.county = self.param.county.objects[0]
        self.param.update(**params)

    def complete_quarters(self) -> list[str]:
        """The quarters the cube holds every month of ('2020Q1'), oldest first."""
        last_day = pd.Timestamp(self.cube["month"].values[-1]) + pd.offsets.MonthEnd(0)
        return sorted(p for p in self.param.period.objects
                      if re.fullmatch(r"\d{4}Q\d", p) and parse_period(p)[1] <= last_day)

    def latest_period(self) -> str:
        """The latest complete quarter, else the latest month: what a screen nobody touches
        shows."""
        return (self.complete_quarters() or self.months)[-1]

    @property
    def bounds(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        return parse_period(self.period)

    @property
    def months(self) -> list[str]:
        """The cube's months as periods ('2020-03'), oldest first."""
        return sorted(p for p in self.param.period.objects if re.fullmatch(r"\d{4}-\d{2}", p))

    def month_range(self, first: str, last: str) -> str | None:
        """The period of the whole months ``first`` to ``last`` ('2019-10', '2020-04' →
        '2019-10-01/2020-04-30'), added to the choices; None unless both are months of the
        cube in order. Whole months only: the cube cannot split one."""
        if first not in self.months or last not in self.months or first > last:
            return None
        start = pd.Timestamp(f"{first}-01")
        end = pd.Timestamp(f"{last}-01") + pd.offsets.MonthEnd(0)
        value = f"{start:%Y-%m-%d}/{end:%Y-%m-%d}"
        if value not in self.param.period.objects:
            self.param.period.objects = [*self.param.period.objects, value]
        return value

    @param.depends("metric", "period")
    def county_values(self) -> xr.DataArray:
        """The metric per county over the period (summed over sectors)."""
        start, end = self.bounds
        return over_period(self.cube, self.metric, start, end).sum(
            [d for d in ("sector",) if d in self.cube[self.metric].dims])

    @param.depends("metric", "period", "county")
    def sector_values(self) -> pd.Series:
        """The metric per sector over the period, for the chosen county or the city (empty
        for a metric without sectors)."""
        if "sector" not in self.cube[self.metric].dims:
            return pd.Series(dtype=float)
        start, end = self.bounds
        values = over_period(self.cube, self.metric, start, end)
        if self.county != self.city:
            values = values.sel(adcode=self.county)
        else:
            values = values.sum("adcode")
        return values.to_series()

    @param.depends("metric", "county")
    def monthly(self) -> xr.DataArray:
        """The metric per month for the chosen county, or the whole city."""
        var = self.cube[self.metric]
        if "sector" in var.dims:
            var = var.sum("sector")
        if self.county == self.city:
            return var.sum("adcode")
        return var.sel(adcode=self.county, drop=True)

    def county_name(self, adcode: str | None = None) -> str:
        adcode = adcode or self.county
        if adcode == self.city:
            return total_label(self.city, self.lang)
        if self.lang == "en" and self.names_en.get(adcode):
            return self.names_en[adcode]
        return self._names_zh[adcode]

    def county_names(self) -> dict[str, str]:
        """The name of every choice of ``county`` (the city first) in the interface
        language, by adcode."""
        return {adcode: self.county_name(adcode) for adcode in self.param.county.objects}

    @property
    def metric_label(self) -> str:
        return metric_label(self.metric, self.lang)

    @property
    def metric_units(self) -> str:
        return metric_units(self.metric, self.lang)

    def headline_figures(self) -> list[tuple[str, float, float]]:
        """(name, this period, the same months last year) of each headline card for the
        chosen period and county (the rectification rate: its rate over the same dates a
        year earlier). Computed once per cube, set of cards, period and county, for all
        sessions."""
        key = (tuple(self.kpi_metrics), self.period, self.county)
        return HEADLINE_FIGURES.get(self.cube, key, self._compute_headline_figures)

    def _compute_headline_figures(self) -> list[tuple[str, float, float]]:
        start, end = self.bounds
        adcode = None if self.county == self.city else self.county
        figures = []
        for name in self.kpi_metrics:
            if name == "rectification_rate":
                now = rectification_rate(self.cube, start, end, by=None, adcode=adcode)
                before = rectification_rate(self.cube, start - pd.DateOffset(years=1),
                                            end - pd.DateOffset(years=1), by=None,
                                            adcode=adcode)
                figures.append((name, now, before))
            else:
                change = year_over_year(self.cube, name, start, end, adcode=adcode)
                figures.append((name, change.current, change.previous))
        return figures

    @param.depends("period", "county", "lang")
    def kpis(self) -> list[dict]:
        """The headline figures of the period for the chosen county (or the city), each with
        last year's figure for the same months and the change, told honestly
        (:func:`indicators.describe_change`); the rectification rate's change is in
        percentage points."""
        cards = []
        for name, now, before in self.headline_figures():
            if name == "rectification_rate":
                cards.append({"name": name, "label": text("rectification_rate", self.lang),
                              "value": format_percent(now, self.lang),
                              "change": format_points(now - before, self.lang), "raw": now})
                continue
            units = metric_units(name, self.lang)
            cards.append({"name": name, "label": metric_label(name, self.lang),
                          "value": with_units(format_number(now, self.lang), units, self.lang),
                          "change": describe_change(now, before, lang=self.lang), "raw": now})
        return cards

    def _take(self, key: str, value: str) -> bool:
        """A period may also be a range of whole months (``2020-01-01/2020-03-31``)."""
        if key == "period" and (m := re.fullmatch(r"(\d{4}-\d{2})-01/(\d{4}-\d{2})-\d{2}",
                                                  value)):
            if self.month_range(m[1], m[2]) != value:
                return False
            self.period = value
            return True
        return super()._take(key, value)

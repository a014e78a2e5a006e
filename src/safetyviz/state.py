"""State: what a user has chosen (metric, period, county) and the data that follows from it.

Parameterized classes only; no panel, bokeh or holoviews here, so the logic is testable without
a browser. Every value is checked against the cube's own coordinates: a value forged in the
browser cannot select anything that is not there.
"""

from __future__ import annotations

import pandas as pd
import param
import xarray as xr

from .cube import over_period
from .periods import parse_period, periods_between
from .vocab import CUBE_VARIABLE, CUBE_VARIABLES

MAP_METRICS = [v.name for v in CUBE_VARIABLES if v.over_time in ("sum", "last")]


class OverviewState(param.Parameterized):
    """The overview's selection over one cube."""

    cube = param.ClassSelector(class_=xr.Dataset, constant=True,
                               doc="The cube every value is selected from.")
    metric = param.Selector(default="inspections", objects=MAP_METRICS, check_on_set=True,
                            doc="Cube variable shown on the map and in the series.")
    period = param.Selector(default=None, objects=[], check_on_set=True,
                            doc="Reporting period: a year (2020), quarter (2020Q1) or month "
                                "(2020-03) within the cube's months.")
    county = param.Selector(default=None, objects=[], check_on_set=True,
                            doc="Adcode of the county whose monthly series is shown; the city's "
                                "adcode for the whole city.")

    def __init__(self, cube: xr.Dataset, **params):
        months = pd.DatetimeIndex(cube["month"].values)
        periods = periods_between(months[0], months[-1])
        self.city = str(cube.attrs["city_adcode"])
        counties = [str(a) for a in cube["adcode"].values]
        super().__init__(cube=cube)
        self.param.period.objects = periods
        self.param.county.objects = [self.city, *counties]
        last_day = months[-1] + pd.offsets.MonthEnd(0)
        complete = [p for p in periods if "Q" in p and parse_period(p)[1] <= last_day]
        self.period = complete[0] if complete else periods[0]
        self.county = self.city
        self.param.update(**params)

    @property
    def bounds(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        return parse_period(self.period)

    @param.depends("metric", "period")
    def county_values(self) -> xr.DataArray:
        """The metric per county over the period (summed over sectors)."""
        start, end = self.bounds
        return over_period(self.cube, self.metric, start, end).sum(
            [d for d in ("sector",) if d in self.cube[self.metric].dims])

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
            return "全市"
        return str(self.cube["name_zh"].sel(adcode=adcode).item())

    @property
    def metric_label(self) -> str:
        return CUBE_VARIABLE[self.metric].long_name_zh

    @property
    def metric_units(self) -> str:
        return CUBE_VARIABLE[self.metric].units_zh

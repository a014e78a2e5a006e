"""What every analysis notebook starts from: the catalog opened, the data's city checked
against the one asked for, the period parsed, the county resolved, figures set to draw
Chinese. One call, so that the notebooks' parameter cells (papermill) stay a few plain values
and a rerun for another period, county or city changes only those.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import xarray as xr

from safetyviz.core.errors import UserError
from safetyviz.core.periods import parse_period, period_label
from safetyviz.data import catalog as catalog_module
from safetyviz.data.loading import load_cube, load_regions
from safetyviz.data.regions import top_unit


@dataclass
class Workbench:
    """The data and choices of one analysis."""

    catalog: object
    regions: pd.DataFrame  # adcode, name_zh, name_en, parent_adcode, parent_name_zh
    cube: xr.Dataset
    city: str
    city_name: str
    period: str
    start: pd.Timestamp
    end: pd.Timestamp
    county: str | None  # None: the whole city

    @property
    def counties(self) -> list[str]:
        return list(self.regions["adcode"])

    @property
    def names(self) -> dict[str, str]:
        """Chinese name by adcode, the city's included."""
        return {self.city: self.city_name, **dict(zip(self.regions["adcode"],
                                                      self.regions["name_zh"]))}

    @property
    def scope(self) -> list[str]:
        """The adcodes analysed: the county, or every county of the city."""
        return [self.county] if self.county else self.counties

    @property
    def label(self) -> str:
        """The period and scope in words: 2020年第一季度 · 许昌市."""
        return f"{period_label(self.period)} · {self.names[self.county or self.city]}"

    @property
    def data_end(self) -> pd.Timestamp:
        """The last day the cube's months cover."""
        return pd.Timestamp(self.cube["month"].values[-1]) + pd.offsets.MonthEnd(0)

    def previous_year(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        year = pd.DateOffset(years=1)
        return self.start - year, self.end - year


def open_workbench(catalog_file=None, city: str | None = None, period: str = "2020Q1",
                   county: str | None = None, figures: bool = True) -> Workbench:
    """What every notebook starts from: the data, checked against the notebook's parameters.

    Parameters
    ----------
    catalog_file : Path, optional
        Default: the settings' catalog (``SAFETYVIZ_CATALOG``), else the project's.
    city : str, optional
        The city's adcode; must be the data's city (None: whatever city the data holds).
    period : str
        ``2020Q1``, ``2020-03``, ``2020``.
    county : str, optional
        One of the data's counties (None or the city's adcode: the whole city).
    figures : bool
        Set up Matplotlib for Chinese figures.

    Returns
    -------
    Workbench
        The catalog, cube, regions, period and county, with helpers for tables and figures.

    Raises
    ------
    UserError
        When the data is another city's, or the county is not one of its counties.
    """
    start, end = parse_period(period)
    cat = catalog_module.open_catalog(catalog_file)
    regions = load_regions(cat, geometry=False)
    data_city, data_city_name = top_unit(regions)
    if city is not None and str(city) != data_city:
        raise UserError(f"the catalog holds the data of city {data_city}, not {city}: "
                        "point catalog_file at that city's catalog")
    county = None if county in (None, "", data_city) else str(county)
    if county is not None and county not in set(regions["adcode"]):
        raise UserError(f"county {county!r} is not one of {', '.join(regions['adcode'])}")
    if figures:
        from safetyviz.report.figures import use_cjk_font

        use_cjk_font()
    return Workbench(catalog=cat, regions=regions, cube=load_cube(cat), city=data_city,
                     city_name=data_city_name, period=str(period),
                     start=start, end=end, county=county)

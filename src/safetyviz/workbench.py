"""What every analysis notebook starts from: the catalog opened, the data's city (or
province) checked against the one asked for, the period parsed, the unit resolved at any
level — the province, one of its cities, a county — figures set to draw Chinese. One call, so
that the notebooks' parameter cells (papermill) stay a few plain values and a rerun for
another period, unit or city changes only those.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import xarray as xr

from safetyviz.core.errors import UserError
from safetyviz.core.periods import parse_period, period_label
from safetyviz.data import catalog as catalog_module
from safetyviz.data.loading import load_cube, load_regions
from safetyviz.data.regions import groups_below, top_unit


@dataclass
class Workbench:
    """The data and choices of one analysis: the units of one area (a city's counties, a
    province's units) and, optionally, one of them. In a province's data the area is the
    province, or the city the unit asked for is (or is in)."""

    catalog: object
    regions: pd.DataFrame  # the area's units: adcode, name_zh, name_en, parent_adcode, …
    cube: xr.Dataset  # the area's units only
    city: str  # the area: a city, or a province (its adcode)
    city_name: str
    period: str
    start: pd.Timestamp
    end: pd.Timestamp
    county: str | None  # None: the whole area
    level: str = "city"  # of the area: "city" or "province"

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
                   county: str | None = None, figures: bool = True,
                   unit: str | None = None) -> Workbench:
    """What every notebook starts from: the data, checked against the notebook's parameters.

    Parameters
    ----------
    catalog_file : Path, optional
        Default: the settings' catalog (``SAFETYVIZ_CATALOG``), else the project's.
    city : str, optional
        The city's adcode: the data's city, or the data's province, or one of the province's
        cities (the analysis is then that city's); None: whatever the data holds.
    period : str
        ``2020Q1``, ``2020-03``, ``2020``.
    county : str, optional
        One of the data's counties (None or the city's adcode: the whole city).
    figures : bool
        Set up Matplotlib for Chinese figures.
    unit : str, optional
        One adcode at any level of the data: the province (everything), one of its cities
        (that city's counties), a county (it, among its city's counties). Instead of
        ``county``, and within ``city`` if both are given.

    Returns
    -------
    Workbench
        The catalog, cube, regions, period and unit, with helpers for tables and figures.

    Raises
    ------
    UserError
        When the data is another city's, or the unit (county) is not one of its units.
    """
    start, end = parse_period(period)
    cat = catalog_module.open_catalog(catalog_file)
    regions = load_regions(cat, geometry=False)
    top, top_name = top_unit(regions)
    every_level = load_regions(cat, geometry=False, upper=True)
    names = dict(zip(every_level["adcode"], every_level["name_zh"].astype(str)))
    is_province = bool((every_level["level"] == "province").any())
    city_of = groups_below(every_level, top) if is_province else {}  # unit → its city
    cities = {c for u, c in city_of.items() if u != c}
    city = None if city in (None, "") else str(city)
    if city is not None and city != top and city not in cities:
        within = (f"province {top} ({top_name}) and its cities" if is_province
                  else f"city {top}")
        raise UserError(f"the catalog holds the data of {within}, not {city}: "
                        "point catalog_file at that city's catalog")
    asked = _asked(unit, county)
    word = "unit" if unit not in (None, "") else "county"
    if asked is not None and asked != top and asked not in cities and asked not in set(
            regions["adcode"]):
        raise UserError(f"{word} {asked!r} is not one of "
                        + (f"{top}, its cities and their units" if is_province
                           else ", ".join(regions["adcode"])))
    area = city if city not in (None, top) else top
    if asked is not None and asked != top:
        area_of_asked = asked if asked in cities else city_of.get(asked, top)
        if area != top and area_of_asked != area:
            raise UserError(f"{word} {asked!r} is not in city {area} ({names.get(area)})")
        area = area_of_asked
    county = asked if asked not in (None, top, area) else None
    cube = load_cube(cat)
    if area != top:
        regions = regions[regions["adcode"].map(city_of) == area].reset_index(drop=True)
        cube = cube.sel(adcode=list(regions["adcode"]))
    if figures:
        from safetyviz.report.figures import use_cjk_font

        use_cjk_font()
    return Workbench(catalog=cat, regions=regions, cube=cube, city=area,
                     city_name=names.get(area, top_name) if area != top else top_name,
                     period=str(period), start=start, end=end, county=county,
                     level="province" if area == top and is_province else "city")


def _asked(unit: str | None, county: str | None) -> str | None:
    """The one unit asked for, by ``unit`` or by ``county`` (not two different ones)."""
    unit = None if unit in (None, "") else str(unit)
    county = None if county in (None, "") else str(county)
    if unit is not None and county is not None and unit != county:
        raise UserError(f"unit {unit!r} and county {county!r}: give one of them")
    return unit or county

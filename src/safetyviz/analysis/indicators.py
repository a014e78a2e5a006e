"""Indicators: the derived figures (totals over a period, rates, changes, shares) computed on
request from the cube or, where the cube cannot answer, from the records.

Nothing here is stored: rates are derived on request, never stored counts divided twice —
every rate is one division of two period totals, so a quarter's rate is never the mean of its
months' rates. All functions are pure (no I/O) and know nothing of a
particular city: counties are whatever adcodes the cube or the records hold.

Conventions:

* A period is an inclusive pair of dates ``start``, ``end`` (see :mod:`safetyviz.core.periods`);
  the cube's resolution is the month, so it covers the months whose first day lies in it.
* Missing is not zero. A figure the data cannot give (a period outside the cube's months, a
  rate with nothing to divide by, a change from a tiny base) is NaN, never 0 or inf.
* ``by`` names the dimensions kept (``"adcode"``, ``"sector"``, both, or None for the whole
  city); every other dimension is summed. With nothing kept the result is a plain number.
* Rates and relative changes are fractions (0.25 = 25%).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from safetyviz.analysis.cube import over_period
from safetyviz.core.vocab import CUBE_VARIABLE

SPACE = ("adcode", "sector")  # the dims a cube value can be kept by; month is the period's
MIN_BASE = 5  # below this many, a relative change says more about chance than about change

Number = float | int
Value = Any  # a plain number or an xr.DataArray of them


# --------------------------------------------------------------------------------------------
# Helpers


def _month_start(when) -> pd.Timestamp:
    return pd.Timestamp(when).to_period("M").start_time


def _cube_months(cube: xr.Dataset) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(cube["month"].values)


def _months_in(cube: xr.Dataset, start, end) -> pd.DatetimeIndex:
    """The cube's months in [start, end]: the same months :func:`cube.over_period` takes."""
    months = _cube_months(cube)
    return months[(months >= pd.Timestamp(start)) & (months <= pd.Timestamp(end))]


def _covers(cube: xr.Dataset, first, last) -> bool:
    """Whether every month from ``first`` to ``last`` (month starts) is in the cube."""
    months = _cube_months(cube)
    if not len(months):
        return False
    return bool(months[0] <= _month_start(first) and _month_start(last) <= months[-1])


def _as_codes(codes) -> list[str] | None:
    if codes is None:
        return None
    return [str(codes)] if isinstance(codes, str) else [str(c) for c in codes]


def _keep(by) -> tuple[str, ...]:
    if by is None:
        return ()
    return (by,) if isinstance(by, str) else tuple(by)


def _over_time(cube: xr.Dataset, name: str) -> str:
    """How months combine: the variable's attrs, else the vocabulary's definition."""
    how = cube[name].attrs.get("over_time")
    if how is None:
        how = CUBE_VARIABLE[name].over_time if name in CUBE_VARIABLE else "sum"
    return how


def _check_combinable(cube: xr.Dataset, name: str) -> str:
    if name not in cube.data_vars:
        raise ValueError(f"unknown cube variable {name!r}; variables: "
                         f"{', '.join(map(str, cube.data_vars))}")
    how = _over_time(cube, name)
    if how == "distinct":
        raise ValueError(
            f"{name} is a distinct count per cell: it cannot be summed over months, sectors or "
            "counties (one enterprise inspected twice would count twice). Compute it from the "
            "inspection records with indicators.enterprises_inspected(inspections, start, end)")
    if how not in ("sum", "last"):
        raise ValueError(f"{name} ({how}) cannot be combined across cells")
    return how


def _scalar(value: xr.DataArray) -> Value:
    """A 0-d result as a plain number; anything else unchanged."""
    return value.item() if value.ndim == 0 else value


def _missing(value: Value) -> Value:
    """NaN in the shape of ``value``."""
    if isinstance(value, xr.DataArray):
        return xr.full_like(value, np.nan, dtype=float)
    return float("nan")


def _mask(value: Value, keep) -> Value:
    """``value`` where ``keep``, NaN elsewhere (numbers, arrays, DataArrays, Series)."""
    if isinstance(value, (xr.DataArray, pd.Series, pd.DataFrame)):
        return value.where(keep)
    out = np.where(keep, value, np.nan)
    return out.item() if out.ndim == 0 else out


def _ratio(numerator: Value, denominator: Value) -> Value:
    """numerator / denominator, NaN where the denominator is 0 (or missing): never inf."""
    if isinstance(denominator, xr.DataArray):
        return numerator / denominator.where(denominator > 0)
    if not denominator > 0:  # also catches NaN
        return numerator * np.nan
    return numerator / denominator


def _reduce(cube: xr.Dataset, name: str, start, end, adcode, sector, by) -> xr.DataArray:
    """``name`` over the cube's months in [start, end], selected and summed down to ``by``;
    zeros (from over_period) when no month is in the cube — the callers decide about that."""
    how = _check_combinable(cube, name)
    var = cube[name]
    keep = _keep(by)
    for dim in keep:
        if dim not in SPACE or dim not in var.dims:
            raise ValueError(f"{name} cannot be kept by {dim!r}; its dims: "
                             f"{', '.join(str(d) for d in var.dims if d != 'month')}")
    selection = {}
    for dim, codes in (("adcode", _as_codes(adcode)), ("sector", _as_codes(sector))):
        if codes is None:
            continue
        if dim not in var.dims:
            raise ValueError(f"{name} has no {dim} dimension: it cannot be selected by {dim}")
        unknown = sorted(set(codes) - {str(c) for c in cube[dim].values})
        if unknown:
            raise ValueError(f"unknown {dim}(s) {', '.join(unknown)}")
        selection[dim] = codes  # a list keeps the dim, so by= still works on one code
    data = cube[[name]].sel(selection) if selection else cube[[name]]
    if data[name].attrs.get("over_time") != how:
        # over_period reads the attribute; make sure it is there even on an older cube
        data = data.assign({name: data[name].assign_attrs(over_time=how)})
    value = over_period(data, name, start, end)
    value = value.sum([d for d in value.dims if d not in keep])
    return value.transpose(*keep)


# --------------------------------------------------------------------------------------------
# Totals and rates from the cube


def total(cube: xr.Dataset, name: str, start, end, adcode=None, sector=None,
          by: str | Sequence[str] | None = None) -> Value:
    """Variable ``name`` over the period [start, end].

    Flows are summed over the period's months, stocks (``over_time == "last"``) are the value
    at the period's last month in the cube; both are then summed over sectors and counties
    except the dims named in ``by``. ``adcode`` / ``sector`` (a code or a list of codes)
    restrict which cells count. Months of the period beyond the cube's range contribute
    nothing; a period with no month in the cube is NaN (no data), not 0.

    Distinct counts (``enterprises_inspected``) raise ValueError: use
    :func:`enterprises_inspected` on the records.

    Parameters
    ----------
    cube : xarray.Dataset
        The cube (:func:`cube.build_cube`).
    name : str
        A cube variable.
    start, end : date-like
        The period's first and last day.
    adcode, sector : str or list of str, optional
        Only these counties / sectors count.
    by : str or sequence of str, optional
        Dims kept (``"adcode"``, ``"sector"``); the others are summed.

    Returns
    -------
    float or xarray.DataArray
        A number when nothing is kept, else an array over the ``by`` dims.
    """
    value = _reduce(cube, name, start, end, adcode, sector, by)
    if not len(_months_in(cube, start, end)):
        value = _missing(value)
    return _scalar(value)


def rectification_rate(cube: xr.Dataset, start, end, by: str | Sequence[str] | None = "adcode",
                       adcode=None, sector=None) -> Value:
    """Hazard rectification rate (隐患整改率) over the period:

        hazards rectified in the period (by rectification date, whenever found)
        ÷ hazards found in the period (by found date).

    Per county by default, the whole city with ``by=None`` (the city's rectified over the
    city's found, not a mean of county rates). Because hazards found earlier count when they
    are rectified, the rate can exceed 1 (100%) in a period that clears a backlog. NaN where
    nothing was found (not 0, not inf).

    Parameters
    ----------
    cube : xarray.Dataset
        The cube.
    start, end : date-like
        The period's first and last day.
    by : str or sequence of str, optional
        Dims kept; default ``"adcode"`` (per county), None for the whole city.
    adcode, sector : str or list of str, optional
        Only these counties / sectors count.

    Returns
    -------
    float or xarray.DataArray
        The rate as a fraction (1 = 100 %).
    """
    found = total(cube, "hazards_found", start, end, adcode, sector, by)
    rectified = total(cube, "hazards_rectified", start, end, adcode, sector, by)
    return _ratio(rectified, found)


def share(cube: xr.Dataset, name: str, start, end, sector=None) -> xr.DataArray:
    """Each county's share of the city total of ``name`` over the period: county ÷ city, as
    fractions that sum to 1 over the counties. NaN for every county when the city total is 0
    (there is nothing to share) or the period is outside the cube."""
    counties = total(cube, name, start, end, sector=sector, by="adcode")
    city = total(cube, name, start, end, sector=sector)
    return _ratio(counties, city)


# Rates that county_vs_city (and other views) can name; each takes (cube, start, end, by=,
# sector=) and returns fractions.
RATES: dict[str, Callable[..., Value]] = {"rectification_rate": rectification_rate}


def county_vs_city(cube: xr.Dataset, indicator: str, start, end, sector=None,
                   ascending: bool = False) -> pd.DataFrame:
    """Each county against the city over the period, one row per county (index: adcode).

    ``indicator`` is a rate named in :data:`RATES` (e.g. ``"rectification_rate"``) or a cube
    variable (flow or stock). Columns:

    * ``name_zh`` — the county's name;
    * ``value`` — the county's figure (rates as fractions);
    * ``city`` — for a rate, the city's own rate (city numerator ÷ city denominator); for a
      variable, the city total divided by the number of counties (the mean county), since a
      county compared with the whole city total says nothing;
    * ``difference`` — value − city; for rates in percentage points (0.30 vs 0.40 → −10.0);
    * ``rank`` — 1 for the largest value (``ascending=True``: the smallest), ties share the
      best rank, counties without a value (NaN) have no rank.

    ``frame.attrs`` records the indicator, whether it is a rate and the difference's unit.
    """
    adcodes = [str(a) for a in cube["adcode"].values]
    if indicator in RATES:
        rate = RATES[indicator]
        value = rate(cube, start, end, by="adcode", sector=sector)
        city = rate(cube, start, end, by=None, sector=sector)
        scale, unit = 100.0, "percentage points"
    else:
        value = total(cube, indicator, start, end, sector=sector, by="adcode")
        city = _ratio(total(cube, indicator, start, end, sector=sector), len(adcodes))
        scale, unit = 1.0, cube[indicator].attrs.get("units", "1")
    values = np.asarray(value.sel(adcode=adcodes).values, dtype=float)
    names = (cube["name_zh"].sel(adcode=adcodes).values if "name_zh" in cube.coords
             else adcodes)
    frame = pd.DataFrame({"name_zh": [str(n) for n in names], "value": values,
                          "city": float(city), "difference": (values - float(city)) * scale},
                         index=pd.Index(adcodes, name="adcode"))
    frame["rank"] = frame["value"].rank(ascending=ascending, method="min").astype("Int64")
    frame.attrs = {"indicator": indicator, "rate": indicator in RATES, "difference_unit": unit}
    return frame


def rolled_up(cube: xr.Dataset, group_of: dict[str, str],
              names: dict[str, str] | None = None) -> xr.Dataset:
    """``cube`` summed over the units of each group (``group_of``: unit → the unit above it
    that it counts in, e.g. a province's counties → their cities; a unit not in it is a group
    of its own): one ``adcode`` per group, named by ``names``. Only the variables that add up
    across units (flows, stocks); distinct counts and medians do not, and are left out."""
    additive = [name for name in cube.data_vars
                if name in CUBE_VARIABLE and CUBE_VARIABLE[name].additive]
    labels = [group_of.get(str(a), str(a)) for a in cube["adcode"].values]
    plain = cube[additive].drop_vars([c for c in cube.coords if c not in cube.dims])
    out = plain.assign_coords(adcode=labels).groupby("adcode").sum(keep_attrs=True)
    out.attrs = dict(cube.attrs)
    groups = [str(a) for a in out["adcode"].values]
    return out.assign_coords(name_zh=("adcode", [(names or {}).get(a, a) for a in groups]))


def city_vs_province(cube: xr.Dataset, group_of: dict[str, str], indicator: str, start,
                     end, names: dict[str, str] | None = None, sector=None,
                     ascending: bool = False) -> pd.DataFrame:
    """Each city of the province against the province over the period, one row per city
    (``group_of``: unit → city; a unit the province administers itself is a row of its own),
    with the columns of :func:`county_vs_city`, ``province`` in place of ``city``: the
    province's rate, or for a variable its total over the number of cities; ``rank`` among
    the province's cities."""
    if indicator not in RATES and not (indicator in CUBE_VARIABLE
                                       and CUBE_VARIABLE[indicator].additive):
        raise ValueError(f"{indicator!r} does not add up over counties (a distinct count or "
                         "a median): compute it for each city from the records")
    frame = county_vs_city(rolled_up(cube, group_of, names), indicator, start, end,
                           sector=sector, ascending=ascending)
    frame.index.name = "city"
    return frame.rename(columns={"city": "province"})


# --------------------------------------------------------------------------------------------
# Changes


class Change(NamedTuple):
    """A comparison of ``current`` with ``previous`` (numbers or arrays alike)."""

    current: Value
    previous: Value
    absolute: Value  # current − previous; NaN if either is missing
    relative: Value  # (current − previous) ÷ previous; NaN when previous < min_base


def change(current: Value, previous: Value, min_base: Number = MIN_BASE) -> Change:
    """The absolute and the relative change from ``previous`` to ``current``.

    absolute = current − previous; relative = absolute ÷ previous, as a fraction (0.5 = +50%),
    and NaN when previous is below ``min_base`` (or not positive, or missing): going from 0 to
    3 or from 1 to 4 is reported as +3, never as +inf or +300%. Works elementwise on numbers,
    numpy arrays, pandas Series and xarray DataArrays.
    """
    absolute = current - previous
    usable = (previous >= min_base) & (previous > 0)
    relative = absolute / _mask(previous, usable)
    return Change(current, previous, absolute, relative)


def _signed(number: Number) -> str:
    if float(number).is_integer():
        return f"{int(number):+d}"
    return f"{number:+.1f}"


def describe_change(current: Number, previous: Number, min_base: Number = MIN_BASE,
                    lang: str = "zh") -> str:
    """A short text for the change from ``previous`` to ``current`` (numbers):

    * ``"↑12.5%"`` / ``"↓3.0%"`` — the relative change, one decimal;
    * ``"持平"`` / ``"unchanged"`` — when equal (also 0 → 0);
    * ``"+3（基数小）"`` / ``"+3 (small base)"`` — the absolute change when previous is below
      ``min_base``, where a percentage would mislead;
    * ``"无可比数据"`` / ``"n/a"`` — when either value is missing (NaN or None).
    """
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}")
    zh = lang == "zh"
    if pd.isna(current) or pd.isna(previous):
        return "无可比数据" if zh else "n/a"
    if current == previous:
        return "持平" if zh else "unchanged"
    result = change(current, previous, min_base)
    if pd.isna(result.relative):
        return f"{_signed(result.absolute)}{'（基数小）' if zh else ' (small base)'}"
    arrow = "↑" if result.relative > 0 else "↓"
    return f"{arrow}{abs(result.relative) * 100:.1f}%"


def year_over_year(cube: xr.Dataset, name: str, start, end, adcode=None, sector=None,
                   by: str | Sequence[str] | None = None, min_base: Number = MIN_BASE) -> Change:
    """Year-over-year change (同比) of ``name`` over [start, end].

    Like for like: the period is first cut to the months the cube holds (so the year 2021
    when the cube ends in February 2021 compares January–February 2021 with January–February
    2020), and compared with the same months one year earlier. The previous value is NaN (not
    0) unless all of those earlier months are in the cube; both are NaN when the period has no
    month in the cube. See :func:`change` for absolute and relative.

    Parameters
    ----------
    cube : xarray.Dataset
        The cube.
    name : str
        A cube variable.
    start, end : date-like
        The period's first and last day.
    adcode, sector, by
        As for :func:`total`.
    min_base : number
        Below this previous value the relative change is not given (NaN).

    Returns
    -------
    Change
        ``current``, ``previous``, ``absolute`` and ``relative`` (NaN where not defined).
    """
    months = _months_in(cube, start, end)
    current = _reduce(cube, name, start, end, adcode, sector, by)
    if not len(months):
        current = _missing(current)
        return change(_scalar(current), _scalar(current), min_base)
    first, last = months[0] - pd.DateOffset(years=1), months[-1] - pd.DateOffset(years=1)
    previous = _reduce(cube, name, first, last, adcode, sector, by)
    if not _covers(cube, first, last):
        previous = _missing(previous)
    return change(_scalar(current), _scalar(previous), min_base)


def month_over_month(cube: xr.Dataset, name: str, month, adcode=None, sector=None,
                     by: str | Sequence[str] | None = None,
                     min_base: Number = MIN_BASE) -> Change:
    """Month-over-month change (环比) of ``name``: ``month`` (any date in it) against the month
    before. Either is NaN (not 0) when that month is not in the cube."""
    this = _month_start(month)
    before = this - pd.DateOffset(months=1)
    current = total(cube, name, this, this, adcode, sector, by)
    previous = total(cube, name, before, before, adcode, sector, by)
    return change(current, previous, min_base)


def year_to_date(cube: xr.Dataset, name: str, month, adcode=None, sector=None,
                 by: str | Sequence[str] | None = None) -> Value:
    """Year to date (本年累计) of ``name`` through ``month``: flows summed from 1 January of
    that month's year to the end of ``month``; stocks are simply the value at ``month``. NaN
    unless every month from January to ``month`` is in the cube (a partial year would pass
    for a whole one)."""
    end = _month_start(month)
    start = end.replace(month=1)
    value = _reduce(cube, name, start, end, adcode, sector, by)
    if not _covers(cube, start, end):
        value = _missing(value)
    return _scalar(value)


# --------------------------------------------------------------------------------------------
# From records: what the cube cannot combine


def _in_period(dates, start, end):
    """Dates within [start, end] by calendar day (end inclusive); NaT is never in."""
    stop = pd.Timestamp(end).normalize() + pd.Timedelta(days=1)
    return (dates >= pd.Timestamp(start).normalize()) & (dates < stop)


def _computed(value):
    """Dask results computed; pandas ones unchanged."""
    return value.compute() if hasattr(value, "compute") else value


def enterprises_inspected(inspections, start, end, by: str | Sequence[str] | None = "adcode",
                          adcodes: Sequence[str] | None = None):
    """Enterprises inspected (检查企业数) over [start, end]: the number of distinct
    ``enterprise_id`` among the inspections dated in the period.

    ``inspections`` is the inspections table as a pandas or dask DataFrame with columns
    ``date`` (datetime64), ``adcode``, ``enterprise_id`` (nullable; null for an unlicensed site,
    which is not counted) and whatever ``by`` names. Per county by default (a Series indexed by
    adcode; ``adcodes`` lists the counties to report, those without inspections as 0); the
    whole city with ``by=None`` (an int). An enterprise inspected in two counties counts once
    in the city, so the city figure can be less than the sum of the counties'.
    """
    keys = list(_keep(by))
    frame = inspections[[*keys, "date", "enterprise_id"]]
    frame = frame[_in_period(frame["date"], start, end)].dropna(subset=["enterprise_id"])
    if not keys:
        return int(_computed(frame["enterprise_id"].nunique()))
    # Codes as plain strings, so that categorical columns group by value, not by category.
    frame = frame.assign(**{k: frame[k].astype(str) for k in keys})
    counts = _computed(frame.drop_duplicates([*keys, "enterprise_id"]).groupby(keys).size())
    counts = counts.astype("int64").rename("enterprises_inspected")
    if adcodes is not None and keys == ["adcode"]:
        counts = counts.reindex(pd.Index([str(a) for a in adcodes], name="adcode"),
                                fill_value=0)
    return counts


def median_days_to_rectify(hazards, start, end, by: str | Sequence[str] | None = "adcode",
                           adcodes: Sequence[str] | None = None):
    """Median days to rectify (隐患整改天数中位数) over [start, end]: the median of
    rectified_date − found_date, in days, over the hazards rectified in the period (whenever
    found; hazards still open do not count).

    ``hazards`` is the hazards table (pandas or dask) with ``found_date``, ``rectified_date``
    (datetime64, NaT when open) and whatever ``by`` names. Per county by default (a float
    Series indexed by adcode, NaN for the ``adcodes`` with no rectification); the whole city
    with ``by=None`` (a float, NaN when none). Medians do not combine: the city's is not a
    mean or a median of the counties'.
    """
    keys = list(_keep(by))
    frame = hazards[[*keys, "found_date", "rectified_date"]]
    frame = _computed(frame[_in_period(frame["rectified_date"], start, end)])
    days = (frame["rectified_date"] - frame["found_date"]) / pd.Timedelta(days=1)
    if not keys:
        return float(days.median()) if len(days) else float("nan")
    frame = frame.assign(days=days, **{k: frame[k].astype(str) for k in keys})
    medians = frame.groupby(keys)["days"].median().astype(float)
    medians = medians.rename("median_days_to_rectify")
    if adcodes is not None and keys == ["adcode"]:
        medians = medians.reindex(pd.Index([str(a) for a in adcodes], name="adcode"))
    return medians


def still_open(hazards, start, end, as_of, by: str | Sequence[str] | None = None,
               days: int = 180) -> pd.DataFrame:
    """Share of hazards still open ``d`` days after they were found (隐患未整改比例), for the
    hazards found in [start, end], as known on ``as_of`` — a Kaplan–Meier estimate.

    A hazard rectified on or before ``as_of`` is rectified after
    ``rectified_date − found_date`` days; one still open on ``as_of`` (or rectified later) is
    *censored*: it was open for at least ``as_of − found_date`` days, and what happened next is
    not known. Leaving those out would make rectification look faster than it is; counting
    them as never rectified, slower. At each day ``t`` with rectifications,
    S(t) = S(t−1) × (1 − rectified on day t ÷ hazards still open and observed on day t).

    Returns a DataFrame indexed by day 0…``days`` (0 = the day found; the share after
    same-day rectifications), one column per group of ``by`` (``"all"`` without ``by``);
    the estimate stops (NaN) after the last day any hazard of the group was observed.
    """
    keys = list(_keep(by))
    frame = _computed(hazards[[*keys, "found_date", "rectified_date"]])
    frame = frame[_in_period(frame["found_date"], start, end)]
    as_of = pd.Timestamp(as_of).normalize()
    frame = frame[frame["found_date"] <= as_of]
    rectified = frame["rectified_date"].notna() & (frame["rectified_date"] <= as_of)
    stop = frame["rectified_date"].where(rectified, as_of)
    duration = ((stop - frame["found_date"]) / pd.Timedelta(days=1)).astype("int64")
    spells = pd.DataFrame({"duration": duration.to_numpy(), "event": rectified.to_numpy()})
    groups = (frame[keys].astype(str).agg(" · ".join, axis=1).to_numpy() if keys
              else np.full(len(frame), "all"))
    grid = pd.RangeIndex(days + 1, name="days")
    curves = {}
    for group in sorted(set(groups)):
        curves[group] = _kaplan_meier(spells[groups == group], grid)
    return pd.DataFrame(curves, index=grid)


def _kaplan_meier(spells: pd.DataFrame, grid: pd.RangeIndex) -> pd.Series:
    events = spells[spells["event"]].groupby("duration").size()
    leaving = spells.groupby("duration").size()  # rectified or censored on that day
    times = leaving.index.to_numpy()
    at_risk = len(spells) - np.concatenate([[0], np.cumsum(leaving.to_numpy())[:-1]])
    rectified = events.reindex(times, fill_value=0).to_numpy()
    survival = pd.Series(np.cumprod(1 - rectified / at_risk), index=times)
    curve = survival.reindex(grid).ffill().fillna(1.0)
    return curve.where(grid.to_numpy() <= (times.max() if len(times) else -1))


def median_days_open(curve: pd.Series) -> float:
    """The first day on which at most half of the hazards are still open (the Kaplan–Meier
    median time to rectification); NaN if more than half are open at the curve's end."""
    reached = curve[curve <= 0.5]
    return float(reached.index[0]) if len(reached) else float("nan")

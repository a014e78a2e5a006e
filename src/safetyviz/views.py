"""Views: pure functions from data (DataArray, GeoDataFrame) to HoloViews elements.

No panel, no state: every input is an argument, so a view is testable on its own and the same
figure can be rendered in a dashboard, a notebook or a report.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import xarray as xr
from bokeh.models import CustomJSTickFormatter
from shapely.geometry import MultiPolygon, Polygon

MAP_COLORMAP = "OrRd"
SERIES_COLOR = "#c0392b"
# Axis and colour-bar ticks in the Chinese style of format_number (万, 亿).
CHINESE_TICKS = CustomJSTickFormatter(code="""
    const a = Math.abs(tick);
    if (a >= 1e8) return (tick / 1e8).toFixed(a >= 1e9 ? 0 : 1) + '亿';
    if (a >= 1e4) return (tick / 1e4).toFixed(a >= 1e5 ? 0 : 1) + '万';
    return tick.toLocaleString('zh-CN');
""")


def format_number(value: float) -> str:
    """Chinese style: 12,345; 1.23万; 4.5亿."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if abs(value) >= 1e8:
        return f"{value / 1e8:.2f}亿"
    if abs(value) >= 1e5:
        return f"{value / 1e4:.1f}万"
    return f"{value:,.0f}"


def county_paths(regions) -> list[dict]:
    """One HoloViews path dict per county (multi-part, with holes), in the regions' order."""
    paths = []
    for geometry in regions.geometry:
        parts = list(geometry.geoms) if isinstance(geometry, MultiPolygon) else [geometry]
        xs, ys, holes = [], [], []
        for part in parts:
            assert isinstance(part, Polygon)
            x, y = part.exterior.coords.xy
            if xs:
                xs.append([np.nan]), ys.append([np.nan])
            xs.append(np.asarray(x)), ys.append(np.asarray(y))
            holes.append([np.asarray(ring.coords) for ring in part.interiors])
        paths.append({"x": np.concatenate(xs), "y": np.concatenate(ys), "holes": holes})
    return paths


def choropleth(regions, values: pd.Series, *, label: str, units: str, title: str = "",
               selected: str | None = None) -> hv.Polygons:
    """Counties coloured by ``values`` (indexed by adcode); ``selected`` gets a heavy outline."""
    data = []
    for path, adcode, name in zip(county_paths(regions), regions["adcode"], regions["name_zh"]):
        value = float(values.get(adcode, np.nan))
        data.append({**path, "adcode": adcode, "name": name, "value": value,
                     "text": f"{format_number(value)} {units}",
                     "line": 3.0 if adcode == selected else 0.8})
    hover = [("县区", "@name"), (label, "@text")]
    value = hv.Dimension("value", label="数值")  # the title names the metric and units
    return hv.Polygons(data, vdims=[value, "adcode", "name", "text", "line"]).opts(
        color="value", cmap=MAP_COLORMAP, colorbar=True, line_color="#333333",
        line_width="line", tools=["hover", "tap"], hover_tooltips=hover,
        colorbar_opts={"formatter": CHINESE_TICKS}, title=title, xaxis=None, yaxis=None,
        data_aspect=1, responsive=True, min_height=380, toolbar="above",
        nonselection_alpha=1.0, selection_line_color="#000000", active_tools=["tap"],
        framewise=True)  # colour range follows the metric shown


def monthly_series(series: xr.DataArray, *, label: str, units: str, title: str = "",
                   highlight: tuple | None = None) -> hv.Overlay:
    """A monthly line of ``series`` (dim ``month``), the months of ``highlight`` shaded."""
    frame = pd.DataFrame({"month": pd.DatetimeIndex(series["month"].values),
                          "value": series.values.astype(float)})
    frame["text"] = [f"{format_number(v)} {units}" for v in frame["value"]]
    vdim = hv.Dimension("value", label=f"{label}（{units}）")
    month = hv.Dimension("month", label="月份")
    curve = hv.Curve(frame, month, [vdim, "text"]).opts(color=SERIES_COLOR, line_width=2,
                                                       framewise=True)
    points = hv.Scatter(frame, month, [vdim, "text"]).opts(
        color=SERIES_COLOR, size=5, tools=["hover"], framewise=True,
        hover_tooltips=[("月份", "@month{%Y-%m}"), (label, "@text")],
        hover_formatters={"@month": "datetime"})
    layers = [curve, points]
    if highlight is not None:
        start, end = (pd.Timestamp(t) for t in highlight)
        layers.insert(0, hv.VSpan(start, end + pd.Timedelta(days=1)).opts(
            color="#f5b041", alpha=0.25))
    return hv.Overlay(layers).opts(title=title, responsive=True, min_height=300,
                                   show_legend=False, toolbar="above", xlabel="月份",
                                   ylim=(0, None), yformatter=CHINESE_TICKS,
                                   ylabel=f"{label}（{units}）")

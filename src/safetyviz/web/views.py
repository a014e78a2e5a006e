"""Views: pure functions from data (DataArray, GeoDataFrame) to HoloViews elements.

No panel, no state: every input is an argument, so a view is testable on its own and the same
figure can be rendered in a dashboard, a notebook or a report.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import xarray as xr
from bokeh.models import (
    CustomJSTickFormatter,
    DatetimeAxis,
    DatetimeTickFormatter,
    LinearAxis,
    LogAxis,
    OpenURL,
    TapTool,
    WMTSTileSource,
)
from bokeh.models.renderers import TileRenderer  # not in bokeh.models' static exports
from holoviews.util.transform import lon_lat_to_easting_northing
from shapely.geometry import MultiPolygon, Polygon

from safetyviz.core.i18n import format_number, text, with_units
from safetyviz.core.vocab import VOCABULARIES
from safetyviz.core.vocab import label as vocab_label
from safetyviz.data.regions import mapped_units

# Red, orange, yellow and blue mean a risk level (riskmap.RISK_COLOURS) and nothing else:
# every other quantity is drawn in purple and teal; red and orange otherwise only for alarms
# and overdue hazards.
MAP_COLORMAP = "Purples"
SERIES_COLOR = "#7d3c98"
SELECTED_COLOR = "#4a235a"
SECOND_COLOR = "#138d75"
PERIOD_SHADE = "#abb2b9"
# Ticks written as format_number writes numbers: 万 / 亿 in Chinese, K / M / B in English,
# never 1.000e+6.
TICKS_JS = {
    "zh": """
    const a = Math.abs(tick);
    if (a >= 1e8) return (tick / 1e8).toFixed(a >= 1e9 ? 0 : 1).replace(/\\.0$/, '') + '亿';
    if (a >= 1e4) return (tick / 1e4).toFixed(a >= 1e5 ? 0 : 1).replace(/\\.0$/, '') + '万';
    return tick.toLocaleString('zh-CN');
""",
    "en": """
    const a = Math.abs(tick);
    if (a >= 1e9) return (tick / 1e9).toFixed(a >= 1e10 ? 0 : 1).replace(/\\.0$/, '') + 'B';
    if (a >= 1e6) return (tick / 1e6).toFixed(a >= 1e7 ? 0 : 1).replace(/\\.0$/, '') + 'M';
    if (a >= 1e4) return (tick / 1e3).toFixed(0) + 'K';
    return tick.toLocaleString('en-US');
""",
}


def number_ticks(lang: str = "zh") -> CustomJSTickFormatter:
    """Axis and colour-bar ticks in the style of format_number for ``lang``. A new model
    each time: a Bokeh model belongs to one document, and every session has its own."""
    return CustomJSTickFormatter(code=TICKS_JS["en" if lang == "en" else "zh"])


# Dates on an axis as each language writes them (Bokeh's default: "Mar 31, 2020"); a tick
# on a day's (month's, year's) boundary takes the next larger format, so the date shows.
DATE_TICKS = {
    "zh": dict(hours="%H:%M", days="%m月%d日", months="%Y年%m月", years="%Y年"),
    "en": dict(hours="%H:%M", days="%b %d", months="%b %Y", years="%Y"),
}


def date_ticks(lang: str = "zh") -> DatetimeTickFormatter:
    """Date ticks for ``lang``."""
    formats = DATE_TICKS["en" if lang == "en" else "zh"]
    return DatetimeTickFormatter(minsec="%H:%M:%S", minutes="%H:%M", hourmin="%H:%M",
                                 hours=formats["hours"], days=formats["days"],
                                 months=formats["months"], years=formats["years"])


def number_axes(lang: str = "zh"):
    """A plot hook giving every numeric axis of the plot :func:`number_ticks` (whichever
    side the values are drawn on: bars turned sideways put them on x) and every date axis
    :func:`date_ticks`."""
    language = "en" if lang == "en" else "zh"
    numbers, days = TICKS_JS[language], DATE_TICKS[language]["days"]

    def hook(plot, element) -> None:
        # A live plot runs its hooks at every update: an axis that has its formatter keeps it
        # (a new model each time would pile up in a session that runs for days).
        for axis in [*plot.state.xaxis, *plot.state.yaxis]:
            if type(axis) in (LinearAxis, LogAxis):  # not categories
                if getattr(axis.formatter, "code", None) != numbers:
                    axis.formatter = number_ticks(lang)
            elif type(axis) is DatetimeAxis and (
                    getattr(axis.formatter, "days", None) != days
                    or getattr(axis.formatter, "context", None) is not None):  # (Bokeh's)
                axis.formatter = date_ticks(lang)
    return hook


TITLE_LIMIT = 26  # characters of a title line (a Bokeh title never wraps by itself)


def plot_title(title: str, limit: int = TITLE_LIMIT) -> str:
    """``title`` on two lines, broken at its first " · " (else its last ", "), when longer
    than ``limit``: a title wider than a phone's plot would widen the plot past the
    screen."""
    if len(title) <= limit:
        return title
    if " · " in title:
        head, _, tail = title.partition(" · ")
    else:
        head, _, tail = title.rpartition(", ")
    return f"{head}\n{tail}" if head and tail else title


def shortened(label: str, limit: int = 20) -> str:
    """A bar's label cut to ``limit`` characters (the hover gives it whole): long English
    labels would squeeze a phone's plot to nothing and push its title off the screen."""
    return label if len(label) <= limit else label[:limit - 1].rstrip() + "…"


def quantity_label(label: str, units: str, lang: str = "zh") -> str:
    """A metric with its units, as an axis or a colour bar names it: 罚款金额（元）."""
    if not units:
        return label
    return f"{label}（{units}）" if lang == "zh" else f"{label} ({units})"


def base_map(url: str):
    """A plot hook laying the tiles of ``url`` (an XYZ template, see
    :func:`safetyviz.core.paths.tile_url`) under a map drawn in Web Mercator metres."""
    def hook(plot, element) -> None:
        figure = plot.state
        if not any(isinstance(r, TileRenderer) for r in figure.renderers):  # hooks run again
            figure.add_tile(WMTSTileSource(url=url, attribution=""))
    return hook


def open_on_tap(plot, element) -> None:
    """A plot hook: tapping one of the element's glyphs opens the address in its ``url``
    column, in the same tab (a profile link; the back button returns)."""
    renderer = plot.handles["glyph_renderer"]
    if not any(isinstance(t, TapTool) and renderer in (t.renderers or [])
               for t in plot.state.tools):  # hooks run again on updates
        plot.state.add_tools(TapTool(renderers=[renderer],
                                     callback=OpenURL(url="@url", same_tab=True)))


def profile_url(enterprise_id, lang: str = "zh") -> str:
    """The address of a firm's profile in ``lang``, relative to a page's own (pages sit side
    by side under one prefix, also behind a proxy)."""
    from urllib.parse import quote

    return f"./enterprise?id={quote(str(enterprise_id), safe='')}" + (
        "&lang=en" if lang == "en" else "")


def county_paths(regions) -> list[dict]:
    """One HoloViews path dict per county (multi-part, with holes), in the regions' order
    (pass :func:`mapped_units`: every one must have a boundary)."""
    paths = []
    for geometry in regions.geometry:
        parts = list(geometry.geoms) if isinstance(geometry, MultiPolygon) else [geometry]
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        holes: list[list[np.ndarray]] = []
        for part in parts:
            assert isinstance(part, Polygon)
            x, y = part.exterior.coords.xy
            if xs:  # a NaN between two parts
                xs.append(np.array([np.nan]))
                ys.append(np.array([np.nan]))
            xs.append(np.asarray(x))
            ys.append(np.asarray(y))
            holes.append([np.asarray(ring.coords) for ring in part.interiors])
        paths.append({"x": np.concatenate(xs), "y": np.concatenate(ys), "holes": holes})
    return paths


def choropleth_columns(regions, values: pd.Series, *, units: str,
                       selected: str | None = None, names: dict[str, str] | None = None,
                       lang: str = "zh") -> dict[str, list | np.ndarray]:
    """What a choropleth shows of each county, in the regions' order: value, hover text,
    outline width and name. The columns that change with the metric, period, selected county
    or language, while the shapes stay as they are. Units without a boundary are left out."""
    regions = mapped_units(regions)
    adcodes = list(regions["adcode"])
    value = values.reindex(adcodes).to_numpy(float)
    names = names or {}
    return {"value": value,
            "name": [names.get(a, n) for a, n in zip(adcodes, regions["name_zh"])],
            "text": [with_units(format_number(v, lang), units, lang) for v in value],
            "line": np.where(np.asarray(adcodes) == selected, 3.0, 0.8)}


def colour_range(values) -> tuple[float, float]:
    """The colour bar's range for ``values``: their minimum and maximum, widened to a range
    of one when they are all equal, (0, 1) when there are none."""
    finite = np.asarray(values, float)
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low, low + 1.0)


# The tools of a chart besides its hover (and tap): a PNG of it. No pan or zoom: a few bars or
# four years of months need neither, and on a phone a drag tool takes the finger that scrolls
# the page (each tool is also a Bokeh model or four, built for every session).
CHART_TOOLS = ["save"]
# A map keeps pan and zoom: a province's counties are small.
MAP_TOOLS = ["save", "pan", "wheel_zoom", "reset"]


def _tooled(overlay: hv.Overlay, tools: list[str]) -> hv.Overlay:
    """``overlay`` with ``tools`` as its layers' default tools (HoloViews takes an overlay's
    tools from its layers, not from options of its own)."""
    for layer in overlay:
        layer.opts(default_tools=tools)
    return overlay


def choropleth_hover(label: str, lang: str = "zh") -> list[tuple[str, str]]:
    return [(text("county", lang), "@name"), (label, "@text")]


def choropleth(regions, values: pd.Series, *, label: str, units: str, title: str = "",
               selected: str | None = None, names: dict[str, str] | None = None,
               tiles: str | None = None, hooks: tuple = (), lang: str = "zh") -> hv.Polygons:
    """Counties coloured by ``values`` (indexed by adcode); ``selected`` gets a heavy outline;
    over the base map of ``tiles`` if given (then in Web Mercator metres, not degrees).
    The polygons' columns are :func:`choropleth_columns`, so a dashboard can recolour a drawn
    map by replacing those alone; ``hooks`` are run on the drawn plot."""
    # spatialpandas: HoloViews' vectorised geometry backend, 3,000 counties drawn in 1 s
    # instead of 20 (imported here: numba makes it slow to import)
    import spatialpandas

    regions = mapped_units(regions)
    columns = choropleth_columns(regions, values, units=units, selected=selected, names=names,
                                 lang=lang)
    shapes = regions.to_crs(3857).geometry if tiles else regions.geometry
    data = spatialpandas.GeoDataFrame({
        "geometry": spatialpandas.GeoSeries(polygon_array(shapes.values)),
        "adcode": list(regions["adcode"]), **columns})
    value = hv.Dimension("value", label=text("value", lang))
    return hv.Polygons(data, vdims=[value, "adcode", "name", "text", "line"]).opts(
        color="value", cmap=MAP_COLORMAP, colorbar=True, line_color="#333333",
        line_width="line", tools=["hover", "tap"], hover_tooltips=choropleth_hover(label, lang),
        colorbar_opts={"formatter": number_ticks(lang)}, title=plot_title(title),
        clabel=quantity_label(label, units, lang),  # the colour bar names the metric
        xaxis=None, yaxis=None, clim=colour_range(columns["value"]),
        data_aspect=1, responsive=True, min_height=380, default_tools=MAP_TOOLS, toolbar="above",
        nonselection_alpha=1.0, selection_line_color="#000000", active_tools=["tap"],
        hooks=[*([base_map(tiles)] if tiles else []), *hooks], framewise=True)


def polygon_array(shapes):
    """``shapes`` (shapely polygons and multipolygons) as a spatialpandas MultiPolygonArray,
    shells counter-clockwise and holes clockwise as spatialpandas needs them. Oriented by
    shapely: spatialpandas' own orientation is a numba function compiled anew in every
    process (7–11 s before a server's first map)."""
    import shapely
    from spatialpandas.geometry import MultiPolygonArray

    return MultiPolygonArray.from_geopandas(shapely.orient_polygons(shapes, exterior_cw=False),
                                            orient=False)


def monthly_series(series: xr.DataArray, *, label: str, units: str, title: str = "",
                   highlight: tuple | None = None, lang: str = "zh") -> hv.Overlay:
    """A monthly line of ``series`` (dim ``month``), the months of ``highlight`` shaded."""
    frame = pd.DataFrame({"month": pd.DatetimeIndex(series["month"].values),
                          "value": series.values.astype(float)})
    frame["text"] = [with_units(format_number(v, lang), units, lang) for v in frame["value"]]
    axis = quantity_label(label, units, lang)
    vdim = hv.Dimension("value", label=axis)
    month = hv.Dimension("month", label=text("month", lang))
    curve = hv.Curve(frame, month, [vdim, "text"]).opts(color=SERIES_COLOR, line_width=2,
                                                       framewise=True)
    points = hv.Scatter(frame, month, [vdim, "text"]).opts(
        color=SERIES_COLOR, size=5, tools=["hover"], framewise=True,
        hover_tooltips=[(text("month", lang), "@month{%Y-%m}"), (label, "@text")],
        hover_formatters={"@month": "datetime"})
    # Last year's value of each month, drawn at this year's month: the same period a year
    # earlier overlaid (dashed, grey).
    last_year = frame.assign(month=frame["month"] + pd.DateOffset(years=1))
    last_year = last_year[last_year["month"] <= frame["month"].max()]
    earlier = hv.Curve(last_year, month, [vdim, "text"],
                       label=text("same_period_last_year", lang)).opts(
        color="#808b96", line_dash="dashed", line_width=1.5, framewise=True)
    layers = [earlier, curve, points]
    if highlight is not None:
        start, end = (pd.Timestamp(t) for t in highlight)
        layers.insert(0, hv.VSpan(start, end + pd.Timedelta(days=1)).opts(
            color=PERIOD_SHADE, alpha=0.25))
    # shared_axes off: another plot of the page with the same value dimension (the ranking)
    # must not impose its range.
    series = hv.Overlay(layers).opts(
        title=plot_title(title), responsive=True, min_height=300, framewise=True,
        shared_axes=False, show_legend=False, toolbar="above", xlabel=text("month", lang),
        ylim=(0, None), hooks=[number_axes(lang)], ylabel=axis)
    return _tooled(series, CHART_TOOLS)


def county_ranking(values: pd.Series, names: dict[str, str], *, label: str, units: str,
                   title: str = "", selected: str | None = None, top: int = 20,
                   lang: str = "zh") -> hv.Bars:
    """Counties ranked by ``values`` (indexed by adcode), largest on top; ``selected`` in a
    darker colour. Of more than ``top`` counties only the first ``top`` are drawn, and the
    selected one below them, its rank in the hover."""
    ranked = values.sort_values(ascending=False, kind="stable")
    rank = pd.Series(np.arange(1, len(ranked) + 1), index=ranked.index)
    shown = ranked.iloc[:top]
    if selected in ranked.index and selected not in shown.index:
        shown = pd.concat([shown, ranked.loc[[selected]]])
    ordered = shown.iloc[::-1]
    frame = pd.DataFrame({
        "county": [names.get(a, a) for a in ordered.index], "value": ordered.to_numpy(float),
        "text": [with_units(format_number(v, lang), units, lang) for v in ordered],
        "rank": [f"{rank[a]} / {len(ranked)}" for a in ordered.index],
        "selected": ["yes" if a == selected else "no" for a in ordered.index]})
    # colours by a category (both always among its factors), not as colours: HoloViews
    # draws bars of one colour (no county selected) as other models than bars of two, which
    # a drawn plot could not take in place
    selected_dim = hv.Dimension("selected", values=["no", "yes"])
    return hv.Bars(frame, hv.Dimension("county", label=" "),
                   [hv.Dimension("value", label=label), "text", "rank", selected_dim]).opts(
        invert_axes=True, color="selected", cmap={"yes": SELECTED_COLOR, "no": SERIES_COLOR},
        show_legend=False, title=plot_title(title), responsive=True, min_height=260,
        shared_axes=False, tools=["hover"],
        default_tools=CHART_TOOLS, toolbar="above", framewise=True,
        hover_tooltips=[("", "@county"), (label, "@text"), (text("rank", lang), "@rank")],
        hooks=[number_axes(lang)])


def sector_breakdown(values: pd.Series, *, label: str, units: str, title: str = "",
                     lang: str = "zh") -> hv.Bars:
    """The sectors' shares of a metric (``values`` indexed by sector code), largest on top;
    sectors with nothing are left out. When no sector has anything, every sector is listed
    with its value (0, or missing for a metric without sectors): never an empty chart, which
    HoloViews could not later update with bars."""
    shown = values[values > 0].sort_values()
    if shown.empty:
        shown = values.reindex(list(VOCABULARIES["sector"])).astype(float)
    values = shown
    frame = pd.DataFrame({
        "sector": [vocab_label("sector", code, lang) for code in values.index],
        "value": values.to_numpy(float),
        "text": [with_units(format_number(v, lang), units, lang) for v in values]})
    return hv.Bars(frame, hv.Dimension("sector", label=" "),
                   [hv.Dimension("value", label=label), "text"]).opts(
        invert_axes=True, color=SECOND_COLOR, title=plot_title(title),
        responsive=True, min_height=260,
        shared_axes=False, tools=["hover"], hover_tooltips=[("", "@sector"), (label, "@text")],
        default_tools=CHART_TOOLS, toolbar="above", framewise=True, hooks=[number_axes(lang)])


def nothing_to_draw(title: str = "", lang: str = "zh", min_height: int = 240) -> hv.Text:
    """What a plot shows when there is nothing to draw: says so ("本期无记录"), never an
    empty frame that looks like a fault."""
    return hv.Text(0.5, 0.5, text("no_records", lang)).opts(
        title=plot_title(title), xaxis=None, yaxis=None, xlim=(0, 1), ylim=(0, 1),
        responsive=True, min_height=min_height, default_tools=[], toolbar=None, shared_axes=False,
        text_color="#808b96", text_font_size="16pt")


def action_types(counts: pd.DataFrame, *, title: str = "", lang: str = "zh"
                 ) -> hv.Bars | hv.Text:
    """Enforcement actions per type (``counts`` indexed by action type with ``cases`` and
    ``persons``), most frequent on top; the hover gives persons for detentions."""
    if counts.empty or not counts["cases"].sum():
        return nothing_to_draw(title, lang)
    counts = counts.sort_values("cases")
    names = [vocab_label("action_type", code, lang) for code in counts.index]
    frame = pd.DataFrame({
        "type": [shortened(name) for name in names], "name": names,
        "cases": counts["cases"].to_numpy(float),
        "persons": counts["persons"].to_numpy(float)})
    cases = text("cases", lang)
    return hv.Bars(frame, hv.Dimension("type", label=" "),
                   [hv.Dimension("cases", label=cases), "name", "persons"]).opts(
        invert_axes=True, color=SERIES_COLOR, title=plot_title(title),
        responsive=True, min_height=260,
        shared_axes=False, tools=["hover"],
        hover_tooltips=[("", "@name"), (cases, "@cases"), (text("persons", lang), "@persons")],
        default_tools=CHART_TOOLS, toolbar="above", framewise=True, hooks=[number_axes(lang)])


def joint_timeline(operations: pd.DataFrame, names: dict[str, str], *, title: str = "",
                   lang: str = "zh") -> hv.Scatter | hv.Text:
    """Joint operations as points in time, one row per county; the hover names the target
    and the departments."""
    if operations.empty:
        return nothing_to_draw(title, lang)
    departments = {code: (zh if lang == "zh" else en)
                   for code, (zh, en) in VOCABULARIES["department"].items()}
    frame = pd.DataFrame({
        "date": pd.to_datetime(operations["date"]),
        "county": [names.get(a, a) for a in operations["adcode"]],
        "target": operations["target"].fillna("").astype(str),
        "departments": ["、".join(departments.get(c, c) for c in codes if c)
                        for codes in operations["departments"]]})
    return hv.Scatter(frame, hv.Dimension("date", label=text("date", lang)),
                      [hv.Dimension("county", label=" "), "target", "departments"]).opts(
        color=SECOND_COLOR, size=9, marker="diamond", title=plot_title(title), responsive=True,
        min_height=240, shared_axes=False, tools=["hover"],
        default_tools=CHART_TOOLS, toolbar="above", framewise=True,
        hover_tooltips=[(text("date", lang), "@date{%Y-%m-%d}"), ("", "@county"),
                        (text("target", lang), "@target"),
                        (text("departments", lang), "@departments")],
        hover_formatters={"@date": "datetime"}, hooks=[number_axes(lang)])


def risk_map(regions, points: pd.DataFrame, sites: pd.DataFrame, colours: dict[str, str], *,
             title: str = "", selected: str | None = None, tiles: str | None = None,
             ink: str = "#17202a", lang: str = "zh") -> hv.Overlay:
    """Enterprises as points coloured by risk level over the county outlines, major hazard
    installations as stars in ``ink`` (black; light on a dark screen); ``selected`` county
    outlined heavier; over the base map of ``tiles`` if given (then in Web Mercator metres,
    not degrees). ``points``: enterprise_id, name, sector, risk_level, lon, lat; ``sites``:
    site_id, enterprise_id, lon, lat; a tap on either opens the firm's profile."""
    place = lon_lat_to_easting_northing if tiles else (lambda lon, lat: (lon, lat))
    regions = mapped_units(regions)
    paths = list(zip(county_paths(regions.to_crs(3857) if tiles else regions), regions["adcode"]))
    # Two plain paths, not one with the width as a value dimension: HoloViews would split a
    # mapped width into one line per segment (2,773 arrays for six counties, seconds for
    # the browser to take in).
    counties = hv.Overlay([
        hv.Path([path for path, adcode in paths if (adcode == selected) == chosen]).opts(
            color="#566573", line_width=width)
        for chosen, width in ((False, 0.8), (True, 2.5))])
    order = list(colours)[::-1]  # the highest risk drawn last, on top
    points = points.iloc[np.argsort([order.index(c) for c in points["risk_level"].astype(str)],
                                    kind="stable")]
    lon, lat = place(points["lon"].to_numpy(float), points["lat"].to_numpy(float))
    frame = pd.DataFrame({
        "lon": lon, "lat": lat, "name": points["name"].astype(str).to_numpy(),
        "sector": [vocab_label("sector", c, lang) for c in points["sector"].astype(str)],
        "level": [vocab_label("risk_level", c, lang) for c in points["risk_level"].astype(str)],
        "colour": [colours[c] for c in points["risk_level"].astype(str)],
        "url": [profile_url(e, lang) for e in points["enterprise_id"]]})
    enterprises = hv.Points(frame, ["lon", "lat"], ["name", "sector", "level", "colour",
                                                    "url"]).opts(
        color="colour", size=4, alpha=0.8, line_color=None, tools=["hover"],
        hover_tooltips=[("", "@name"), (text("sector", lang), "@sector"),
                        (text("risk_level", lang), "@level")], hooks=[open_on_tap])
    lon, lat = place(sites["lon"].to_numpy(float), sites["lat"].to_numpy(float))
    firm_names = dict(zip(points["enterprise_id"].astype(str), points["name"].astype(str)))
    installations = hv.Points(
        pd.DataFrame({"lon": lon, "lat": lat, "site": sites["site_id"].astype(str).to_numpy(),
                      "name": [firm_names.get(str(e), "") for e in sites["enterprise_id"]],
                      "url": [profile_url(e, lang) for e in sites["enterprise_id"]]}),
        ["lon", "lat"], ["site", "name", "url"], label=text("major_hazard_sites", lang)).opts(
        marker="star", size=14, color=ink, tools=["hover"],
        hover_tooltips=[(text("major_hazard_sites", lang), "@name"), ("", "@site")],
        hooks=[open_on_tap])
    return _tooled((counties * enterprises * installations).opts(
        title=plot_title(title),
        xaxis=None, yaxis=None, data_aspect=1, responsive=True, min_height=420,
        toolbar="above", shared_axes=False, show_legend=False,
        hooks=[base_map(tiles)] if tiles else []), MAP_TOOLS)


def dual_prevention_bars(progress: pd.DataFrame, names: dict[str, str], *, title: str = "",
                         lang: str = "zh") -> hv.Bars:
    """Per county, enterprises above designated size by dual-prevention status: accepted,
    built (not yet accepted), not built — stacked."""
    rows = []
    for adcode, row in progress.iterrows():
        rest = row["enterprises"] - row["built"] - row["accepted"]
        for status, n in (("accepted", row["accepted"]), ("built", row["built"]),
                          ("none", rest)):
            rows.append({"county": names.get(adcode, adcode), "n": int(n),
                         "status": vocab_label("dual_prevention", status, lang)})
    frame = pd.DataFrame(rows)
    return hv.Bars(frame, [hv.Dimension("county", label=" "), "status"],
                   hv.Dimension("n", label=text("enterprises", lang))).opts(
        stacked=True, cmap=["#1e8449", "#82e0aa", "#d5d8dc"], title=plot_title(title),
        responsive=True,
        min_height=300, shared_axes=False, tools=["hover"],
        default_tools=CHART_TOOLS, toolbar="above",
        legend_position="top", legend_cols=3, xrotation=30, hooks=[number_axes(lang)])


ONLINE_COLOURS = {True: "#1e8449", False: "#95a5a6"}


def site_status_map(regions, sites: pd.DataFrame, *, title: str = "", size: int = 16,
                    lang: str = "zh") -> hv.Overlay:
    """The major hazard installations over the county outlines, green when online, grey when
    not (``sites``: site_id, lon, lat, online, status — the status text for the hover —,
    enterprise_id and name, its firm's: a tap opens the firm's profile)."""
    outlines = hv.Path(county_paths(mapped_units(regions))).opts(color="#566573",
                                                                  line_width=0.8)
    frame = pd.DataFrame({"lon": sites["lon"].to_numpy(float),
                          "lat": sites["lat"].to_numpy(float),
                          "site": sites["site_id"].astype(str).to_numpy(),
                          "status": sites["status"].astype(str).to_numpy(),
                          "colour": [ONLINE_COLOURS[bool(v)] for v in sites["online"]],
                          "name": sites["name"].astype(str).to_numpy(),
                          "url": [profile_url(e, lang) for e in sites["enterprise_id"]]})
    online = np.array([bool(v) for v in sites["online"]], dtype=bool)
    # One layer per state, so the legend says what green and grey mean.
    layers = [hv.Points(frame[mask], ["lon", "lat"], ["site", "status", "colour", "name",
                                                      "url"],
                        label=text("online" if state else "offline", lang)).opts(
        color=ONLINE_COLOURS[state], marker="star", size=size, line_color="#17202a",
        tools=["hover"], hooks=[open_on_tap],
        hover_tooltips=[(text("major_hazard_sites", lang), "@name"), ("", "@site"),
                        ("", "@status")])
        for state, mask in ((True, online), (False, ~online))]
    return _tooled(hv.Overlay([outlines, *layers]).opts(
        title=plot_title(title),
        xaxis=None, yaxis=None, data_aspect=1, responsive=True, min_height=320,
        toolbar="above", shared_axes=False, legend_position="top",
        legend_opts={"glyph_width": 22, "glyph_height": 22}), MAP_TOOLS)


def sensor_curve(values: pd.Series, high: float, high_high: float, *, title: str = "",
                 label: str = "", units: str = "", code: str = "",
                 lang: str = "zh") -> hv.Overlay:
    """One sensor's readings over time with its two alarm thresholds as dashed lines; the
    hover gives the sensor's ``code`` too."""
    frame = pd.DataFrame({"time": values.index, "value": values.to_numpy(float),
                          "sensor": code})
    curve = hv.Curve(frame, "time", [hv.Dimension("value", label=label, unit=units),
                                     "sensor"]).opts(
        color=SERIES_COLOR, line_width=1.2, tools=["hover"],
        hover_tooltips=[(text("time", lang), "@time{%Y-%m-%d %H:%M}"),
                        (quantity_label(label, units, lang), "@value{0,0.[00]}"),
                        (text("sensor", lang), "@sensor")],
        hover_formatters={"@time": "datetime"})
    lines = [hv.HLine(level).opts(color=colour, line_dash="dashed", line_width=1.2)
             for level, colour in ((high, "#f39c12"), (high_high, "#c0392b"))]
    top = max(high_high * 1.1, float(np.nanmax(frame["value"])) if len(frame) else 0.0)
    bottom = min(0.0, float(np.nanmin(frame["value"])) if len(frame) else 0.0)
    # the thresholds always in view: a reading far below them is the normal case
    readings = hv.Overlay([curve, *lines]).opts(
        title=plot_title(title), responsive=True, min_height=300, shared_axes=False,
        toolbar="above", xlabel=text("time", lang), ylim=(bottom, top),
        hooks=[number_axes(lang)])
    return _tooled(readings, CHART_TOOLS)


HAZARD_STATUS_COLOURS = {"rectified": "#1e8449", "open": "#f39c12", "overdue": "#c0392b"}
LANES = ("inspection", "hazard", "action", "joint_operation")


def enterprise_timeline(events: pd.DataFrame, *, title: str = "", lang: str = "zh"
                        ) -> hv.Overlay:
    """A firm's record on one time axis, a lane each: inspections, hazards (a bar from
    finding to rectification — or to the as-of date while open —, green rectified, orange
    open, red overdue), enforcement actions and joint operations (``events``: the frame of
    :func:`analysis.enterprises.timeline`): with none, the empty lanes (a DynamicMap
    redraws it, and must keep its type)."""
    lane_of = {kind: i for i, kind in enumerate(LANES[::-1])}  # inspections on top
    ticks = [(lane_of[k], text(f"lane_{k}", lang)) for k in LANES]
    hazards = events[events["kind"] == "hazard"]
    bars = hv.Segments(pd.DataFrame({
        "start": hazards["date"], "lane": lane_of["hazard"], "end": hazards["end"],
        "lane_end": lane_of["hazard"], "record": hazards["record"].astype(str),
        "state": [text(f"hazard_{s}", lang) for s in hazards["status"]],
        "colour": [HAZARD_STATUS_COLOURS[s] for s in hazards["status"]]}),
        ["start", "lane", "end", "lane_end"], ["record", "state", "colour"]).opts(
        color="colour", line_width=6, alpha=0.7, tools=["hover"],
        hover_tooltips=[(text("record", lang), "@record"), (text("status", lang), "@state")])
    others = events[events["kind"] != "hazard"]
    marks = hv.Scatter(pd.DataFrame({
        "date": others["date"], "lane": [lane_of[k] for k in others["kind"]],
        "record": others["record"].astype(str),
        "detail": [_detail(k, s, lang) for k, s in zip(others["kind"], others["status"])]}),
        "date", ["lane", "record", "detail"]).opts(
        color="#2e4053", size=8, marker="diamond", tools=["hover"],
        hover_tooltips=[(text("record", lang), "@record"), (text("detail", lang), "@detail")])
    return _tooled((bars * marks).opts(
        title=plot_title(title), yticks=ticks, ylim=(-0.6, len(LANES) - 0.4), xlabel="", ylabel="",
        responsive=True, min_height=260, shared_axes=False, toolbar="above",
        show_legend=False, hooks=[number_axes(lang)]), CHART_TOOLS)


def _detail(kind: str, status, lang: str) -> str:
    """What a timeline mark's hover says: an inspection's department, an action's type, a
    joint operation's target."""
    vocabulary = {"inspection": "department", "action": "action_type"}.get(kind)
    if vocabulary and str(status) in VOCABULARIES[vocabulary]:
        return vocab_label(vocabulary, str(status), lang)
    return "" if status is None or (isinstance(status, float) and np.isnan(status)) \
        else str(status)

"""Static figures for printed output (the bulletin, HTML and PDF): the county choropleth and
monthly series drawn with matplotlib into SVG.

The dashboards draw with HoloViews and Bokeh in a browser; a report has no browser, so its
figures are vectors drawn here, with text as outlines (they look the same on any machine,
fonts or not) and nothing random in the file: the same data give the same bytes. Pure
functions of their arguments; no panel, no I/O.
"""

from __future__ import annotations

import io
from functools import lru_cache

import matplotlib
import pandas as pd
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.patheffects import withStroke

from safetyviz.core.errors import UserError
from safetyviz.data.regions import mapped_units

# Fonts with Chinese glyphs, the first installed one is used (Debian: fonts-noto-cjk).
CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Zen Hei",
             "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", "SimHei"]
MAP_COLORMAP = "OrRd"
SERIES_COLORS = ["#c0392b", "#2c7fb8", "#7f8c8d"]
WIDTH_IN = 7.0


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of an installed font with Chinese glyphs, or None."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def _style(lang: str) -> dict:
    font = cjk_font()
    if font is None and lang == "zh":
        raise UserError("no font with Chinese characters is installed, so the figures cannot "
                        "be drawn: install one (Debian: apt-get install fonts-noto-cjk)")
    return {"font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"],
            "svg.hashsalt": "safetyviz", "svg.fonttype": "path", "font.size": 9,
            "axes.spines.top": False, "axes.spines.right": False}


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    FigureCanvasSVG(figure)
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None},
                   bbox_inches="tight")
    return buffer.getvalue()


def county_map(regions, values: pd.Series, title: str, names: dict[str, str],
               highlight: str | None = None, lang: str = "zh") -> str:
    """SVG of the counties (``regions``: GeoDataFrame with ``adcode``) coloured by
    ``values`` (indexed by adcode), each labelled with its name and value; ``highlight``
    outlines one county."""
    with matplotlib.rc_context(_style(lang)):
        figure = Figure(figsize=(WIDTH_IN * 0.62, WIDTH_IN * 0.62))
        axes = figure.add_subplot()
        mapped = mapped_units(regions)
        shapes = mapped.assign(value=mapped["adcode"].map(values).astype(float))
        shapes.plot(column="value", cmap=MAP_COLORMAP, linewidth=0.6, edgecolor="white",
                    ax=axes, legend=True, missing_kwds={"color": "#eeeeee"},
                    legend_kwds={"shrink": 0.6})
        if highlight is not None:
            shapes[shapes["adcode"] == highlight].boundary.plot(ax=axes, color="#222222",
                                                                linewidth=1.6)
        for row in shapes.itertuples():
            point = row.geometry.representative_point()
            value = "—" if pd.isna(row.value) else f"{row.value:,.0f}"
            axes.annotate(f"{names.get(row.adcode, row.adcode)}\n{value}", (point.x, point.y),
                          ha="center", va="center", fontsize=7, color="#111111",
                          path_effects=[withStroke(linewidth=2.2, foreground="white")])
        axes.set_axis_off()
        axes.set_title(title, fontsize=10)
        return _svg(figure)


def monthly_lines(frame: pd.DataFrame, labels: dict[str, str], title: str, start, end,
                  lang: str = "zh") -> str:
    """SVG of one line per column of ``frame`` (indexed by month), labelled by ``labels``,
    with the months of [start, end] shaded."""
    with matplotlib.rc_context(_style(lang)):
        figure = Figure(figsize=(WIDTH_IN, 2.4))
        axes = figure.add_subplot()
        for color, column in zip(SERIES_COLORS, frame.columns):
            axes.plot(frame.index, frame[column], marker="o", markersize=2.5, linewidth=1.4,
                      color=color, label=labels.get(column, column))
        axes.axvspan(pd.Timestamp(start), pd.Timestamp(end), color="#f6d55c", alpha=0.3,
                     linewidth=0)
        axes.set_ylim(bottom=0)
        axes.grid(axis="y", linewidth=0.4, color="#dddddd")
        axes.legend(frameon=False, fontsize=8, loc="lower center", ncol=len(frame.columns),
                    bbox_to_anchor=(0.5, 1.0))
        axes.set_title(title, fontsize=10, pad=18)
        axes.tick_params(labelsize=7)
        figure.autofmt_xdate()
        return _svg(figure)


def use_cjk_font() -> None:
    """Make matplotlib (notebooks' inline figures) draw Chinese, with the fonts of
    :func:`cjk_font`, and write SVG without random ids."""
    matplotlib.rcParams.update({key: value for key, value in _style("en").items()
                                if key in ("font.family", "svg.hashsalt")})
    matplotlib.rcParams["axes.unicode_minus"] = False

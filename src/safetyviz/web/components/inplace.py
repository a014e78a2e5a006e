"""Plots updated in place: a view drawn once (and again when the language changes), whose
later versions — another metric, period or county — go into the Bokeh models already drawn:
new columns into its sources, categories, value range, title, axis label and hover. A few
kilobytes and a millisecond or two of the server's time, where HoloViews drawing the plot
anew costs ~20 ms and new models in every browser.

Handles the elements the pages' views draw in place: bars, curves, points and spans, alone
or overlaid. Any other change (another kind or number of layers, a column HoloViews did not
make) draws the plot anew, so a view is never shown wrong.
"""

from __future__ import annotations

import weakref

import holoviews as hv
import numpy as np
import param
from bokeh.models import FactorRange, Range1d
from panel.io.document import unlocked


def weak_hook(method):
    """A plot hook calling ``method`` while its object lives. HoloViews keeps an element's
    options (hooks included) in a global registry: a bound method there would keep a closed
    session's page, and all it holds, alive."""
    method = weakref.WeakMethod(method)

    def hook(plot, element) -> None:
        if (bound := method()) is not None:
            bound(plot, element)
    return hook


class InPlacePlot(param.Parameterized):
    """The plot of ``draw()`` for a page: :attr:`dmap` draws it, anew when one of
    ``redraw_on`` (parameters of ``state``) changes; a change of ``update_on`` updates the
    drawn plot in place."""

    def __init__(self, draw, state: param.Parameterized, update_on: list[str],
                 redraw_on: tuple[str, ...] = ("lang",)):
        super().__init__()
        self.draw = draw
        self._drawn = None  # the HoloViews plot last drawn (its Bokeh models in .handles)
        self.dmap = hv.DynamicMap(self._draw, streams=[hv.streams.Params(state,
                                                                          list(redraw_on))])
        state.param.watch(self.update, update_on)

    def _draw(self, **_) -> hv.Element:
        element = self.draw()
        self._drawn = None
        hooks = element.opts.get("plot").kwargs.get("hooks", [])
        return element.opts(hooks=[*hooks, weak_hook(self._keep)])

    def _keep(self, plot, element) -> None:
        self._drawn = plot

    def update(self, *events) -> None:
        """The view's new version into the drawn plot, or drawn anew if it cannot be."""
        if self._drawn is None:
            return  # not drawn yet: it will be drawn as it is now
        with unlocked():  # (a click on a plot is handled without the document's lock)
            updated = update_drawn(self._drawn, self.draw())
        if not updated:
            self.dmap.event()


def _options(element, group: str) -> dict:
    return hv.Store.lookup_options("bokeh", element, group).kwargs


def _relabelled(drawn: list, tooltips: list) -> list | None:
    """The drawn tooltips (their fields as HoloViews wrote them) with the labels of
    ``tooltips``; None when they name other fields."""
    if len(drawn) != len(tooltips):
        return None
    return [(label, field) for (label, _), (_, field) in zip(tooltips, drawn, strict=True)]


def _columns(plot, element) -> dict | None:
    """The new columns of ``plot``'s source from ``element`` (None: one cannot be made)."""
    source = plot.handles.get("source")
    if source is None:
        return None
    names = {d.name for d in element.dimensions()}
    colour = _options(element, "style").get("color")
    columns = {}
    for column in source.data:
        if column in names:
            columns[column] = element.dimension_values(column)
        elif column == "color" and isinstance(colour, str) and colour in names:
            columns[column] = element.dimension_values(colour)
        else:
            return None
    return columns


def _value_end(values: list[np.ndarray], padding: float) -> float:
    """The end of a value axis starting at 0: the largest value and HoloViews' padding."""
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    if not finite.size or finite.max() <= 0:
        return 1.0
    high, low = float(finite.max()), float(finite.min())
    return high + (high - min(low, high) if high > low else high) * padding


def update_drawn(plot, element) -> bool:
    """Put ``element`` (what the view returns now) into ``plot`` (the HoloViews plot of its
    earlier version); False, and nothing changed, when its structure differs."""
    overlay = isinstance(element, hv.Overlay)
    layers = list(element) if overlay else [element]
    subplots = list(plot.subplots.values()) if overlay else [plot]
    if len(layers) != len(subplots) or any(
            type(layer).__name__ != key[0] for layer, key in zip(
                layers, plot.subplots if overlay else [(type(element).__name__,)],
                strict=True)):
        return False
    updates, values = [], []
    for layer, subplot in zip(layers, subplots, strict=True):
        if isinstance(layer, hv.VSpan):
            start, end = layer.data
            updates.append((subplot.handles["glyph"], {"left": start, "right": end}))
            continue
        if not isinstance(layer, hv.Bars | hv.Curve | hv.Scatter):
            return False
        columns = _columns(subplot, layer)
        if columns is None:
            return False
        updates.append((subplot.handles["source"], {"data": columns}))
        values.append(np.asarray(layer.dimension_values(1), dtype=float))
        tooltips = _options(layer, "plot").get("hover_tooltips")
        if tooltips and "hover" in subplot.handles:
            relabelled = _relabelled(subplot.handles["hover"].tooltips, tooltips)
            if relabelled is None:
                return False
            updates.append((subplot.handles["hover"], {"tooltips": relabelled}))
    inverted = plot.invert_axes
    key_range = plot.handles["y_range" if inverted else "x_range"]
    value_range = plot.handles["x_range" if inverted else "y_range"]
    if isinstance(key_range, FactorRange):
        factors = [str(f) for f in dict.fromkeys(layers[-1].dimension_values(0))]
        updates.append((key_range, {"factors": factors}))
    if isinstance(value_range, Range1d):
        padding = plot.padding[-1] if isinstance(plot.padding, tuple) else plot.padding
        updates.append((value_range, {"start": 0, "end": _value_end(values, padding)}))
    options = _options(element, "plot")
    label = options.get("ylabel") or layers[-1].vdims[0].pprint_label
    updates.append((plot.handles["xaxis" if inverted else "yaxis"], {"axis_label": label}))
    if options.get("title") is not None:
        updates.append((plot.state.title, {"text": options["title"]}))
    for model, properties in updates:
        model.update(**properties)
    return True

"""Plots drawn once for every session and updated in place.

HoloViews draws a view of a selection (metric, period, county, language) once per cube: the
Bokeh models it makes — a *drawing* — are kept and shared by every session on that cube
(sessions of users who may see other counties have other cubes, so other drawings). A new
selection is drawn by putting the view's new version into a HoloViews plot of the view kept
per cube and language (:func:`update_drawn`, a few milliseconds) and copying its models;
anew only when that cannot be done. A session shows its own copy of a drawing: copying the
models costs a tenth of drawing them, and the large columns (a map's shapes) are shared,
read-only. A new selection goes into the copy as the differences between the drawing it
shows and the drawing of the new selection (:func:`carry_over`): columns, ranges, factors,
titles, labels, hover text — a few kilobytes — and what the user did in the browser (zoomed,
tapped a county) stays. Models the new drawing has where the old had none or others (a hover
glyph, another number of layers) are copied into it; another kind of plot replaces the copy.
The differences between two drawings are found once for every session (a plan by the
drawings' model ids); each session applies them to its copy through the pairing of the
copy's models with the drawing's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from collections import defaultdict
from collections.abc import Callable
from typing import Any, cast

import holoviews as hv
import numpy as np
import panel as pn
import param
from bokeh.core.property.container import ColumnData
from bokeh.core.property.wrappers import PropertyValueContainer
from bokeh.document import Document
from bokeh.model import Model
from bokeh.models import (
    Axis,
    Column,
    ColumnDataSource,
    FactorRange,
    Grid,
    Plot,
    Range1d,
    Row,
)
from bokeh.models.annotations import Legend  # not in bokeh.models' static exports
from bokeh.models.renderers import GlyphRenderer  # not in bokeh.models' static exports
from bokeh.models.tools import SelectTool
from bokeh.models.ui import UIElement
from bokeh.themes import built_in_themes
from panel.io.document import unlocked

from safetyviz.analysis.cube import PerCube
from safetyviz.core.cache import LRU

# Drawings per cube (so per set of counties a user may see), by page, view and selection:
# those most recently shown.
_DRAWINGS = PerCube(size=48)  # (a drawing is ~150-300 KiB: Bokeh models are ~4.5 KiB each)
# Per cube, a HoloViews plot of each view in each language, kept to draw new selections:
# the new version of the view put into it (:func:`update_drawn`, a few milliseconds) and
# copied, instead of drawn anew (35-95 ms).
_DRAWERS = PerCube(size=32)
# Large columns by content: the shapes of a map are the same in every drawing of it.
_COLUMNS: LRU[Any] = LRU(64)
_LARGE = 4096  # bytes from which a column is shared by content
LAYOUT = {"sizing_mode", "width", "height", "min_width", "min_height", "max_width",
          "max_height", "margin", "styles"}
PANE_MARGIN = (5, 10)  # Panel's default for a pane


class SharedPlot(param.Parameterized):
    """The plot ``draw()`` makes of ``state`` (a page's state: the selection, and the
    ``cube`` it is made from) as a HoloViews element, in a Panel pane showing
    this session's copy of the drawing shared by all sessions (:func:`drawing`). A change of
    the state's selection or language puts the new drawing's differences into the copy.
    ``key`` adds to the selection what else the drawing depends on (the same for every
    session of a cube, e.g. the base map); ``on_tap(indices)`` is called with the rows of the
    first glyph a user taps (indices from the browser: check them).

    With ``derive``, the drawings of selections that differ only in ``derived_on`` are made
    from one drawing of them: ``derive(copy)`` makes a copy of it show the state's selection
    (a map recoloured: its shapes, most of the cost of drawing it, stay)."""

    def __init__(self, draw: Callable[[], hv.core.Dimensioned], state: Any,
                 key: tuple = (), on_tap: Callable[[list[int]], None] | None = None,
                 derive: Callable[[Model], None] | None = None,
                 derived_on: tuple[str, ...] = ()):
        super().__init__()
        self.draw, self.state, self.on_tap = draw, state, on_tap
        self.derive, self.derived_on = derive, derived_on
        owner = type(getattr(draw, "__self__", None)).__qualname__  # (the page of a method)
        self._view = (owner, draw.__qualname__, type(state).__qualname__, key)
        self._shown: Model | None = None  # the drawing the copy shows
        self.copy: Model | None = None
        self._pairing: dict[str, Model] = {}  # the copy's models by the drawing's ids
        self._pane: pn.pane.Bokeh | None = None  # showing the copy, or
        self._holder: Row | Column | None = None  # the Bokeh layout holding it
        self._layout: dict = {}
        state.param.watch(self.update, list(_selection(state)))

    def panel(self, **layout) -> pn.pane.Bokeh:
        """The pane showing the copy (its layout: Panel's, e.g. height, sizing_mode)."""
        self._pane = pn.pane.Bokeh(self.laid_out(**layout).copy, **layout)
        return self._pane

    def laid_out(self, **layout) -> SharedPlot:
        """This plot with its copy made and laid out (``layout``: Bokeh's, e.g. height,
        sizing_mode, styles), to be placed in :func:`wrapping_row` or :func:`stacked` with
        other plots: one Bokeh layout in one pane, instead of a Panel layout and a pane for
        each plot (~6 ms of a session's server time each)."""
        self._shown = self._drawing()
        self._pairing = paired_copy(self._shown)
        self.copy = self._fitted(self._pairing[self._shown.id], layout)
        self._layout = layout
        return self

    def _drawing(self) -> Model:
        selection = _selection(self.state)
        key = (self._view, tuple(selection.items()))
        if self.derive is None:
            return _DRAWINGS.get(self.state.cube, key, self._drawn_now)
        derive = self.derive
        common = (self._view, "derived from", tuple(
            (name, value) for name, value in selection.items() if name not in self.derived_on))

        return _DRAWINGS.get(self.state.cube, key, lambda: snapshot(
            drawing(self.state.cube, common, self.draw), derive))

    def _drawn_now(self) -> Model:
        """The drawing of the state's selection: the kept HoloViews plot of this view in
        this language updated to it and copied; drawn anew if it cannot be updated."""
        element = self.draw()
        kept = _DRAWERS.get(self.state.cube, (self._view, self.state.lang), lambda: [None])
        if kept[0] is None or not update_drawn(kept[0], element):
            kept[0] = _plot(element)
        return snapshot(kept[0].state)

    def _fitted(self, copy: Model, layout: dict) -> Model:
        """``copy`` laid out as its pane (Panel's HoloViews pane does the same to the
        figure it draws) and answering taps."""
        for name, value in {"margin": PANE_MARGIN, **layout}.items():
            if name in LAYOUT:
                setattr(copy, name, value)
        if self.on_tap is not None:
            glyphs = [r for r in copy.select({"type": GlyphRenderer})
                      if isinstance(r, GlyphRenderer)]
            if glyphs and isinstance(glyphs[0].data_source, ColumnDataSource):
                glyphs[0].data_source.selected.on_change("indices", self._tapped)
        return copy

    def _tapped(self, attr: str, old, new) -> None:
        if self.on_tap is not None:
            self.on_tap(list(new))

    def update(self, *events) -> None:
        """The drawing of the state's selection into the copy (or a new copy of it)."""
        if self.copy is None or self._shown is None:
            return  # not shown yet: it will be copied as it is then
        drawing = self._drawing()
        if drawing is self._shown:
            return
        with unlocked():  # (a tap on a plot is handled without the document's lock)
            pairing, anew = carried_over(self._pairing, self._shown, drawing)
            if anew:
                old, self.copy = self.copy, self._fitted(pairing[drawing.id], self._layout)
                if self._pane is not None:
                    self._pane.object = self.copy
                elif self._holder is not None:
                    new = cast(UIElement, self.copy)
                    self._holder.children = [new if child is old else child
                                             for child in self._holder.children]
        self._shown, self._pairing = drawing, pairing


def wrapping_row(*cells: SharedPlot | UIElement, **layout) -> Row:
    """``cells`` side by side, wrapping onto more lines where the screen is narrower than
    they are wide (each cell's ``styles``' ``flex`` says how it grows), as a Panel FlexBox
    lays them out — as one Bokeh model. ``layout``: the row's."""
    return _holding(Row, cells, {"sizing_mode": "stretch_width", **layout,
                                 "styles": {"flex-wrap": "wrap", **layout.get("styles", {})}})


def stacked(*cells: SharedPlot | UIElement, **layout) -> Column:
    """``cells`` one below the other, as one Bokeh model. ``layout``: the column's."""
    return _holding(Column, cells, layout)


def _holding(kind: type[Row] | type[Column], cells, layout: dict):
    children = [cast(UIElement, cell.copy) if isinstance(cell, SharedPlot) else cell
                for cell in cells]
    holder = kind(children=children, **layout)
    for cell in cells:
        if isinstance(cell, SharedPlot):
            cell._holder = holder  # (where a new kind of plot takes the copy's place)
    return holder


class SessionCopy:
    """A session's copy of one shared drawing after another (drawings of any Bokeh models,
    kept by whoever draws them), in a Bokeh column: the next drawing's differences go into
    the copy, so the browser gets a few kilobytes and keeps what its user did; a new copy
    replaces it when the two drawings are of different things, or when asked. The column is
    shown in a Panel pane (:attr:`pane`), or is a column of another copy."""

    def __init__(self, drawing: Model, holder: Column | None = None, **layout):
        """``holder``: the column the copy goes into (else one of its own); ``layout``: the
        column's and the pane's."""
        self.shown = drawing
        self.pairing = paired_copy(drawing)
        # the copy in a Bokeh column the pane keeps: a pane given a new model takes its
        # layout, and Panel's widgets' styles are not what a pane's parameters take
        self._holder = Column(**layout) if holder is None else holder
        self._holder.children = [cast(UIElement, self.copy)]
        self._layout = layout
        self._pane: pn.pane.Bokeh | None = None

    @property
    def copy(self) -> Model:
        """The session's copy, as the browser has it."""
        return self.pairing[self.shown.id]

    @property
    def pane(self) -> pn.pane.Bokeh:
        """A Panel pane showing the copy (made when first asked for)."""
        if self._pane is None:
            self._pane = pn.pane.Bokeh(self._holder, **self._layout)
        return self._pane

    def show(self, drawing: Model, anew: bool = False) -> None:
        """``drawing`` in the column: its differences into the copy, or (``anew``, or they
        cannot be) a new copy of it."""
        if drawing is self.shown and not anew:
            return
        with unlocked():
            pairing, anew = carried_over(self.pairing, self.shown, drawing, anew)
            if anew:
                self._holder.children = [cast(UIElement, pairing[drawing.id])]
        self.shown, self.pairing = drawing, pairing


def drawn_component(component: pn.viewable.Viewable) -> Model:
    """The Bokeh models Panel makes of ``component`` in this session (the addresses of its
    styles: this server's), kept read-only to be copied (:func:`snapshot`); the component
    is let go. Its Python callbacks are not kept: in the browser it must work by itself."""
    session = pn.state.curdoc
    document = Document()
    if session is not None:  # (where Panel's styles are served from)
        document._template_variables.update(session._template_variables)
    root = component.get_root(document)
    try:
        return snapshot(root)
    finally:
        component._cleanup(root)


def drawn_as() -> tuple:
    """What, besides a component, Panel makes its models of (:func:`drawn_component`): the
    session's design and theme, and whether and where it is served. Part of the key of a
    kept drawing of a component."""
    session = pn.state.curdoc
    served = session is not None and session.session_context is not None
    where = session._template_variables.get("dist_url") if session is not None else None
    return served, where, repr(pn.config.design), pn.config.theme


def _selection(state: param.Parameterized) -> dict[str, Any]:
    """The state's parameters that say what is shown (plain values: metric, period,
    county, language, …), by name."""
    return {name: value for name, value in state.param.values().items()
            if name != "name" and isinstance(value, str | int | float | bool | type(None))}


def drawing(cube, key: tuple, draw: Callable[[], hv.core.Dimensioned]) -> Model:
    """The drawing of ``draw()`` for ``key`` on ``cube``, drawn by the first session that
    asks."""
    return _DRAWINGS.get(cube, key, lambda: drawn(draw()))


# ---------------------------------------------------------------- drawing and copying


def drawn(element: hv.core.Dimensioned) -> Model:
    """The Bokeh models HoloViews draws of ``element`` (in a document of their own; never
    added to one) in HoloViews' theme, their large columns shared with earlier drawings and
    read-only."""
    return snapshot(_plot(element).state)


def _plot(element: hv.core.Dimensioned):
    """HoloViews' plot of ``element``, its models in HoloViews' theme."""
    renderer = hv.renderer("bokeh")
    plot = renderer.get_plot(element, doc=Document())
    for model in plot.state.references():
        _themed(model, renderer.theme)
    return plot


def snapshot(root: Model, change: Callable[[Model], None] | None = None) -> Model:
    """A copy of ``root`` (then changed by ``change``, if given) to keep as a drawing: its
    columns read-only, the large ones shared with earlier drawings that have the same.
    ``root``'s models may be any Bokeh models (HoloViews' plots, Panel's widgets)."""
    copies: dict = {}
    root = _copy(root, copies)
    if change is not None:
        change(root)
    for plot in copies.values():  # (the models copied: no walk of the graph)
        if isinstance(plot, Plot):
            _without_unseen_glyphs(plot)
            _without_unseen_guides(plot)
    for source in copies.values():
        if isinstance(source, ColumnDataSource):  # (not ``data = …``: Bokeh ignores equal)
            source.data.update({name: _shared(column) for name, column in source.data.items()})
    return root


def _without_unseen_glyphs(plot: Plot) -> None:
    """The glyphs ``plot`` can never show left to Bokeh's defaults (which are sent as
    nothing): a renderer's selected and unselected glyphs where no tool selects and nothing
    is selected, its muted glyph where no legend mutes and it is not muted. HoloViews makes
    all of them for every renderer: each is a model every session would copy, hold and
    send (16 of the overview's 204)."""
    selects = any(isinstance(tool, SelectTool) for tool in plot.toolbar.tools)
    mutes = any(isinstance(item, Legend) and item.click_policy == "mute"
                for side in (plot.center, plot.above, plot.below, plot.left, plot.right)
                for item in side)
    for renderer in plot.renderers:
        if not isinstance(renderer, GlyphRenderer):
            continue
        source = renderer.data_source
        selected = isinstance(source, ColumnDataSource) and (
            len(source.selected.indices) or len(source.selected.line_indices)
            or source.selected.multiline_indices)
        if not (selects or selected):
            renderer.selection_glyph = renderer.nonselection_glyph = "auto"
        if not (mutes or renderer.muted):
            renderer.muted_glyph = "auto"


def _without_unseen_guides(plot: Plot) -> None:
    """``plot`` without its grids that draw nothing and its hidden axes no drawn grid
    follows (HoloViews keeps them, each axis with its ticker, formatter and label policy:
    16 of the overview's models). Hidden, an axis takes no room in Bokeh's layout."""
    plot.center = [item for item in plot.center if not _unseen_grid(item)]
    followed = {id(item.axis) for item in plot.center if isinstance(item, Grid)}
    for side in ("below", "left", "above", "right"):
        items = getattr(plot, side)
        kept = [item for item in items if not (
            isinstance(item, Axis) and not item.visible and id(item) not in followed)]
        if len(kept) < len(items):
            setattr(plot, side, kept)


def _unseen_grid(item) -> bool:
    return isinstance(item, Grid) and (not item.visible or all(
        value is None for value in (item.grid_line_color, item.minor_grid_line_color,
                                    item.band_fill_color, item.band_hatch_pattern)))


def _themed(model: Model, theme) -> None:
    """``theme``'s values (HoloViews': titles of 12 pt) set on ``model``: a theme applies to
    the models of its document, and a copy goes into a session's, which has Bokeh's."""
    if isinstance(theme, str):
        theme = built_in_themes[theme]
    if theme is None:
        return
    theme.apply_to_model(model)
    values = dict(model.themed_values() or {})
    model.unapply_theme()
    for name, value in values.items():
        setattr(model, name, value)


def _shared(column):
    """``column`` (an array, or nested lists of arrays) as kept: read-only copies of its
    arrays (HoloViews may have handed out a cache's own), or, if it is large, the column
    already kept with the same content."""
    column = _frozen(column)
    if sum(a.nbytes for a in _arrays(column)) < _LARGE:
        return column
    digest = hashlib.blake2b(pickle.dumps(column, protocol=5), digest_size=20).digest()
    return _COLUMNS.get(digest, lambda: column)


def _frozen(value):
    if isinstance(value, np.ndarray):
        value = value.copy()
        value.flags.writeable = False  # (shared by sessions: nobody changes it in place)
        return value
    if isinstance(value, list | tuple):
        return type(value)(_frozen(item) for item in value)
    return value


def _arrays(value):
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _arrays(item)


_OWN = {"_id", "_property_values", "_unstable_default_values", "_unstable_themed_values",
        "_document", "_temp_document", "_callbacks", "_event_callbacks", "_initialized"}


def copied(root: Model) -> Model:
    """A copy of ``root`` and every model it refers to (new ids, no document, no Python
    callbacks), sharing their arrays: serialised, the same JSON as ``root`` but for ids."""
    return _copy(root, {})


def paired_copy(root: Model) -> dict[str, Model]:
    """:func:`copied` ``root``, as its models by the id of the model of ``root`` each is a
    copy of (the copy of ``root`` itself: ``[root.id]``)."""
    pairing: dict[str, Model] = {}
    _copy(root, pairing)
    return pairing


def _copy(model: Model, copies: dict) -> Model:
    done = copies.get(model.id)
    if done is not None:
        return done
    cls = type(model)
    copy = cls.__new__(cls)  # a new id; Bokeh's __init__ would make every default anew
    copies[model.id] = copy
    copy._property_values = {}
    copy._unstable_default_values = {}
    copy._unstable_themed_values = {}
    copy._document = copy._temp_document = None
    copy._callbacks = {}
    copy._event_callbacks = defaultdict(list)
    for name, value in vars(model).items():  # a subclass's own (a figure's glyph API)
        if name not in _OWN:
            setattr(copy, name, copy if value is model else _copy_value(value, copies))
    # values as the drawing holds them (validated and transformed when it was drawn), in
    # containers of the copy's own
    for name, value in model._property_values.items():
        descriptor = cls.lookup(name)
        value = (_own_columns(value) if isinstance(descriptor.property, ColumnData)
                 else _copy_value(value, copies))
        descriptor._set_value(copy, descriptor.property.wrap(value))
    for name, value in model._unstable_default_values.items():
        if isinstance(value, Model):
            copy._unstable_default_values[name] = _copy(value, copies)
        elif value or not isinstance(value, PropertyValueContainer):  # an untouched list or
            # dict (an empty one, most of them — tags, callbacks —, Bokeh makes when read,
            # as for a new model; never sent either way)
            default = cls.lookup(name).property.wrap(_copy_value(value, copies))
            if isinstance(default, PropertyValueContainer):
                default._register_owner(copy, cls.lookup(name))
            copy._unstable_default_values[name] = default
    copy._initialized = True
    return copy


def _own_columns(data: dict) -> dict:
    """A source's columns for a copy: its arrays shared (read-only), its lists its own — a
    browser may patch a source's columns, and that must reach no other session."""
    return {name: list(column) if isinstance(column, list) else column
            for name, column in data.items()}


def _copy_value(value, copies: dict):
    if isinstance(value, Model):
        return _copy(value, copies)
    if isinstance(value, dict):
        return {k: _copy_value(v, copies) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_value(v, copies) for v in value]
    if isinstance(value, tuple):
        return tuple(_copy_value(v, copies) for v in value)
    if isinstance(value, set):  # (a container of the copy's own, as the lists and dicts)
        return set(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # field(…, transform)
        return dataclasses.replace(value, **{
            f.name: _copy_value(getattr(value, f.name), copies)
            for f in dataclasses.fields(value) if f.init})
    return value  # arrays (shared, read-only), strings, numbers


# ---------------------------------------------------------------- updating a copy


@dataclasses.dataclass(frozen=True)
class _Columns:
    """A source's new columns (``after``) and those of them that changed: the others stay in
    the browser, unless the copy's columns the new drawing has not cannot stay."""

    after: dict
    changed: dict


@dataclasses.dataclass(frozen=True)
class _Replaced:
    """A value holding models that do not pair up with the drawing's (a glyph where there
    was none, another number of layers): copied, reusing the copy's models paired with its."""

    value: Any


@dataclasses.dataclass(frozen=True)
class _Relabelled:
    """A value whose models pair up but whose values around them differ (a legend's label):
    the new value, with the copy's models."""

    value: Any


@dataclasses.dataclass(frozen=True)
class _Plan:
    """How a copy of one drawing becomes a copy of another: found once for every session
    showing the first and asking for the second (walking the two drawings is ~a sixth of a
    change's server time)."""

    changes: tuple[tuple[str, str, Any], ...]  # (id of the old drawing's model, name, value)
    pairs: dict[str, str]  # id of a model of the new drawing → of the old's paired with it


# Plans by the ids of their two drawings (a model's id is never another's in a process).
_PLANS: LRU[_Plan | None] = LRU(256)


def carried_over(pairing: dict[str, Model], shown: Model, new: Model, anew: bool = False
                 ) -> tuple[dict[str, Model], bool]:
    """Drawing ``new`` in place of ``shown`` in a copy (``pairing``: the copy's models by
    ``shown``'s ids): its differences put into the copy (:func:`carry_over`), or — when they
    cannot be, or ``anew`` — a new copy of it. Returns the copy's models by ``new``'s ids
    and whether the copy is new (the caller puts it where the old one was)."""
    pairing_now = None if anew else carry_over(pairing, shown, new)
    if pairing_now is None:
        return paired_copy(new), True
    return pairing_now, False


def carry_over(pairing: dict[str, Model], shown: Model, new: Model) -> dict[str, Model] | None:
    """Put into a copy of drawing ``shown`` (``pairing``: its models by ``shown``'s ids, as
    :func:`paired_copy` gives them) what differs in drawing ``new``: values into the models
    that pair up, copies of the new models where they do not. Returns the copy's models by
    ``new``'s ids; None, and nothing changed, when the plots themselves differ (a bar chart
    where a map was) or the copy is no longer one of ``shown``."""
    plan = _PLANS.get((shown.id, new.id), lambda: _plan(shown, new))
    if plan is None:
        return None
    mine: dict[str, Model] = {}  # id of a model of ``new`` → the copy's paired with it
    for new_id, old_id in plan.pairs.items():
        model = pairing.get(old_id)
        if model is None:
            return None
        mine[new_id] = model
    updates = []  # (every value made before any is set: nothing half-changed)
    try:
        for old_id, name, value in plan.changes:
            model = pairing[old_id]
            if isinstance(value, _Columns):
                updates.extend(_columns_update(model, name, value))
            elif isinstance(value, _Replaced):
                updates.append((setattr, model, name, _copy_value(value.value, mine)))
            elif isinstance(value, _Relabelled):
                updates.append((setattr, model, name,
                                _with_models_of(getattr(model, name), value.value)))
            else:
                updates.append((setattr, model, name, _fresh(value)))
    except (KeyError, TypeError, ValueError):  # a copy changed by its browser out of shape
        return None
    for set_value, model, name, value in updates:
        set_value(model, name, value)
    return mine


def _update_columns(model: Model, name: str, columns: dict) -> None:
    getattr(model, name).update(columns)


def _columns_update(model: Model, name: str, columns: _Columns) -> list:
    """How the copy's source ``model`` takes ``columns``: the changed ones, or all anew
    when a column the new drawing has not cannot stay (HoloViews makes a column of a width
    that varies, none of one that does not: one of the same length may stay unused)."""
    rows = {len(v) for v in columns.after.values()}
    left = [v for k, v in getattr(model, name).items() if k not in columns.after]
    if left and (len(rows) != 1 or any(len(v) not in rows for v in left)):
        return [(setattr, model, name, _own_columns(columns.after))]
    if columns.changed:
        return [(_update_columns, model, name, _own_columns(columns.changed))]
    return []


def _plan(old: Model, new: Model) -> _Plan | None:
    changes: list[tuple[str, str, Any]] = []
    pairs: dict[str, Model] = {}
    if not _differences(old, new, changes, pairs):
        return None
    return _Plan(tuple(changes), {new_id: model.id for new_id, model in pairs.items()})


def _differences(old: Model, new: Model, changes: list, pairs: dict) -> bool:
    """Note how a copy of ``old`` becomes a copy of ``new``, pairing the models they refer
    to; False when the two are not models of one kind (or ``new``'s was paired with
    another)."""
    if new.id in pairs:
        return pairs[new.id] is old
    cls = type(old)
    if type(new) is not cls:
        return False
    pairs[new.id] = old
    names = (old._property_values.keys() | new._property_values.keys()
             | old._unstable_default_values.keys() | new._unstable_default_values.keys())
    references = cls.properties_with_refs()
    for name in sorted(names):
        before, after = getattr(old, name), getattr(new, name)
        if name in references and (_holds_models(before) or _holds_models(after)):
            paired = _pair(before, after, changes, pairs)
            if paired is None:
                changes.append((old.id, name, _Replaced(after)))
            elif not paired:  # e.g. a legend's label: the new value, with the copy's models
                changes.append((old.id, name, _Relabelled(after)))
        elif isinstance(cls.lookup(name).property, ColumnData):
            changed = {k: v for k, v in after.items() if k not in before or not _same(before[k], v)}
            if changed or after.keys() != before.keys():
                changes.append((old.id, name, _Columns(dict(after), changed)))
        elif not _same(before, after):
            changes.append((old.id, name, after))
    return True


def _pair(old, new, changes: list, pairs: dict) -> bool | None:
    """Pair the models in ``old`` and ``new`` (values of a property that may hold models),
    noting the differences of each pair: None when they do not pair up, else whether the
    values around the models are the same."""
    if isinstance(old, Model) or isinstance(new, Model):
        paired = (isinstance(old, Model) and isinstance(new, Model)
                  and _differences(old, new, changes, pairs))
        return True if paired else None
    if isinstance(old, list | tuple):
        if not (isinstance(new, list | tuple) and len(old) == len(new)):
            return None
        parts = [_pair(a, b, changes, pairs) for a, b in zip(old, new, strict=True)]
    elif isinstance(old, dict):
        if not (isinstance(new, dict) and old.keys() == new.keys()):
            return None
        parts = [_pair(old[k], new[k], changes, pairs) for k in old]
    elif dataclasses.is_dataclass(old):  # a field spec and its transform, a legend label
        if type(new) is not type(old):
            return None
        parts = [_pair(getattr(old, f.name), getattr(new, f.name), changes, pairs)
                 for f in dataclasses.fields(old)]
    else:
        return None if _holds_models(new) else _same(old, new)
    return None if None in parts else all(parts)


def _with_models_of(copy, new):
    """``new`` (a drawing's value) with the models of ``copy`` (paired with its own)."""
    if isinstance(new, Model):
        return copy
    if isinstance(new, list | tuple):
        return type(new)(_with_models_of(c, n) for c, n in zip(copy, new, strict=True))
    if isinstance(new, dict):
        return {k: _with_models_of(copy[k], v) for k, v in new.items()}
    if dataclasses.is_dataclass(new) and not isinstance(new, type):
        return dataclasses.replace(new, **{
            f.name: _with_models_of(getattr(copy, f.name), getattr(new, f.name))
            for f in dataclasses.fields(new) if f.init})
    return new


def _fresh(value):
    """``value`` to set on a copy: its lists and dicts its own, its models and arrays
    as they are."""
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_fresh(v) for v in value)
    return value


def _holds_models(value) -> bool:
    if value is None or isinstance(value, str | int | float):  # most values: answered first
        return False
    if isinstance(value, Model):
        return True
    if isinstance(value, list | tuple):
        return any(_holds_models(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_models(v) for v in value.values())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(_holds_models(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


def _same(a, b) -> bool:
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------- updating a HoloViews plot


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

"""Record tables of the pages: sortable, filterable, with their row count and (for users who
may) CSV / XLSX downloads, each recorded in the audit log. A table naming firms shows their
names, each a link to the firm's profile; the ids stay in the downloads."""

from __future__ import annotations

import dataclasses
from base64 import b64encode
from collections.abc import Callable
from functools import partial
from typing import Protocol, cast

import pandas as pd
import panel as pn
import param
from bokeh.model import Model
from bokeh.models import Column
from panel.io.state import set_curdoc
from panel.models.tabulator import DataTabulator
from panel.models.widgets import FileDownload as DownloadButton

from safetyviz.analysis.records import labelled, to_csv_bytes, to_xlsx_bytes
from safetyviz.core.cache import LRU
from safetyviz.core.i18n import text
from safetyviz.security.access import LOCAL, Access
from safetyviz.web.components.inplace import SessionCopy, drawn_as, drawn_component
from safetyviz.web.components.page import audit, wrapping
from safetyviz.web.views import profile_url

pn.extension("tabulator")

URL_COLUMN = "_profile"  # the hidden column a firm's name links to


class Where(Protocol):
    """What a table's records are of: the state of the page showing them."""

    lang: str
    period: str

    @property
    def county(self) -> str: ...


# Records labelled for people, by frame and language. A county's records of a selection are
# one frame for every session showing it (county.county_records), so they are labelled once
# per language instead of on every session's change (~18 % of a change's server time). An
# entry holds its frame: no other frame can have its id while the entry is kept.
_LABELLED: LRU[tuple[pd.DataFrame, pd.DataFrame, list[str] | None]] = LRU(64)


def labelled_once(frame: pd.DataFrame, lang: str) -> tuple[pd.DataFrame, list[str] | None]:
    """``labelled(frame, lang)`` and the profile link of each record's firm (None if the
    records name no firm), computed once per frame and language."""
    def compute():
        urls = [profile_url(e, lang) if e is not None and not pd.isna(e) else ""
                for e in frame["enterprise_id"]] if "enterprise_id" in frame.columns else None
        return frame, labelled(frame, lang), urls
    _, people, urls = _LABELLED.get((id(frame), lang), compute)
    return people.copy(deep=False), urls  # (a session's changes to its copy stay its own)


def firm_names_of(frame: pd.DataFrame, firms: dict[str, str]) -> list[str] | None:
    """The name of each record's firm in ``firms`` (its id if not there; empty for a record
    naming no firm); None if the records name no firm."""
    if "enterprise_id" not in frame.columns:
        return None
    return [firms.get(str(e), str(e)) if e is not None and not pd.isna(e) else ""
            for e in frame["enterprise_id"]]


def with_firm_names(frame: pd.DataFrame, shown: pd.DataFrame, names: list[str] | None,
                    lang: str) -> pd.DataFrame:
    """``shown`` (``frame`` labelled) with the firms' ``names`` beside their ids, as the
    column ``text("enterprise")``."""
    if names is None:
        return shown
    position = list(frame.columns).index("enterprise_id") + 1
    out = shown.copy()
    out.insert(position, text("enterprise", lang), names)
    return out


@dataclasses.dataclass
class _Rows:
    """Records as a table shows them, made once for every session showing the same records
    in the same language with the same firm names."""

    frame: pd.DataFrame  # the records (held: no other frame can take its id while kept)
    listed: pd.DataFrame  # labelled, firms named: what is downloaded
    shown: pd.DataFrame  # … and the firms' profile links: what the table holds


_ROWS: LRU[_Rows] = LRU(32)
# Downloads a user who may download records gets: how each format's file is made.
DOWNLOADS: dict[str, Callable[[pd.DataFrame, str], bytes]] = {
    "csv": lambda listed, table_name: to_csv_bytes(listed),
    "xlsx": to_xlsx_bytes,
}
MIME = {"csv": "text/csv;charset=UTF-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@dataclasses.dataclass(frozen=True)
class _Drawing:
    """A record table drawn as Panel draws it, its row count and downloads above it."""

    rows: _Rows  # (held: no other rows can take its id while the drawing is kept)
    model: Model
    table: str  # the id of the table's model (a DataTabulator)
    downloads: dict[str, str]  # the ids of the download buttons' models, by format


# Tables drawn once for every session showing the same rows the same way (each session
# shows a copy: ~1 ms, against ~30 ms for Panel to make a Tabulator, its row count and
# downloads, and their models — a column, an editor and a formatter for each column).
_DRAWN: LRU[_Drawing] = LRU(32)


def drawn_table(rows: _Rows, settings: dict, count: str, files: dict[str, str]) -> _Drawing:
    """The Bokeh models Panel makes in this session (:func:`inplace.drawn_component`) of a
    Tabulator of ``rows.shown`` with ``settings``, under its row count ``count`` and a
    download button for each format in ``files`` (to a file of that name). In the browser
    the table pages, sorts and filters itself; a click on a download asks the server for
    the file (:meth:`RecordTable._send`)."""
    buttons = [pn.widgets.FileDownload(label=fmt.upper(), filename=name, button_type="light",
                                       width=90) for fmt, name in files.items()]
    table = pn.widgets.Tabulator(rows.shown.copy(deep=False), **settings)
    model = drawn_component(pn.Column(wrapping(pn.pane.Str(count, align="center"), *buttons),
                                      table, sizing_mode="stretch_width"))
    drawn = model.references()  # (once per drawing, not per session)
    return _Drawing(rows, model,
                    table=next(m.id for m in drawn if isinstance(m, DataTabulator)),
                    downloads={cast(str, m.label).lower(): m.id for m in drawn
                               if isinstance(m, DownloadButton)})


class RecordTable(pn.viewable.Viewer):
    """Records as a sortable, filterable table with its row count and, for a user who may
    download records, CSV / XLSX downloads named after the county, period and table (each
    download recorded in the audit log). :meth:`show_records` puts records of the same
    columns in the same table (the browser gets new rows, not a new table); new columns (the
    first records, another language) get a new table."""

    table_name = param.String(doc="What the records are (names files and audit entries).")
    access = param.ClassSelector(class_=Access, default=LOCAL,
                                 doc="Who is looking: whether they may download records.")
    firms = param.Dict(default={}, doc="Firm names by enterprise_id: records naming a firm "
                                       "show its name, a link to its profile.")

    def __init__(self, **params):
        super().__init__(**params)
        self._shown = pd.DataFrame()  # the records as they are downloaded
        self._where = ("", "")  # the county and period of the records shown
        # made when it first shows records: a page's tables in tabs not opened cost a
        # session nothing
        self._layout: pn.Column | None = None  # (a Panel layout: made when laid out)
        self._holder: Column | None = None  # where the copy goes, if not in a pane
        self._copy: SessionCopy | None = None  # this session's copy of the drawing shown
        self._drawing: _Drawing | None = None
        self._count = ""
        self._on_screen = pd.DataFrame()  # the records as the table shows them
        self._answered: set[str] = set()  # the copy's download buttons this table answers

    @property
    def rows(self) -> str:
        """The row count (and the day the records are as of)."""
        return self._count

    @property
    def table(self) -> Model | None:
        """The table on screen: this session's copy of its Bokeh model, a Panel
        DataTabulator (None before the first records)."""
        return None if self._copy is None else self._copy.pairing[self._drawn.table]

    @property
    def on_screen(self) -> pd.DataFrame:
        """The records as the table shows them: labelled, firms named, with their profile
        links (in a hidden column)."""
        return self._on_screen

    @property
    def downloads(self) -> dict[str, DownloadButton]:
        """The download buttons on screen, by format: this session's copies of their
        models (none for a user who may not download records)."""
        if self._copy is None:
            return {}
        return {fmt: cast(DownloadButton, self._copy.pairing[model_id])
                for fmt, model_id in self._drawn.downloads.items()}

    @property
    def _drawn(self) -> _Drawing:
        assert self._drawing is not None, "no records shown yet"
        return self._drawing

    # not ``show``: that is Panel's (a Viewer's), serving the table in a browser
    def show_records(self, frame: pd.DataFrame, state: Where, as_of: str | None = None,
                     shared: bool = False) -> RecordTable:
        """Show ``frame`` labelled in the state's language, for its county and period (the
        records as of the day ``as_of``, if given); a firm's id is shown as its name, linked
        to its profile (both are downloaded). The table on screen is this session's copy of
        a drawing of it; ``shared``: ``frame`` is shown by other sessions too (and never
        changed): it is labelled and drawn once for all."""
        lang = state.lang
        people, urls = labelled_once(frame, lang)
        label = dict(zip(frame.columns, people.columns))  # a field's column name on screen
        names = firm_names_of(frame, self.firms)

        def rows() -> _Rows:
            listed = with_firm_names(frame, people, names, lang)
            return _Rows(frame, listed, listed if urls is None else listed.assign(
                **{URL_COLUMN: urls}))

        shown_rows = _ROWS.get((id(frame), lang, None if names is None else tuple(names)),
                               rows) if shared else rows()
        self._shown = shown_rows.listed
        self._where = (state.county, state.period)
        self._count = text("rows" if as_of is None else "rows_as_of", lang).format(
            n=len(self._shown), date=as_of)
        files = {fmt: f"{state.county}_{state.period}_{self.table_name}.{fmt}"
                 for fmt in DOWNLOADS} if self.access.may_download else {}
        shown, formatters, hidden = shown_rows.shown, {}, []
        # codes a name stands for: in the downloads, not on the screen
        if "county" in frame.columns and "adcode" in frame.columns:
            hidden.append(label["adcode"])
        if urls is not None:
            formatters[text("enterprise", lang)] = {
                "type": "link", "urlField": URL_COLUMN, "target": "_self"}
            hidden += [label["enterprise_id"], URL_COLUMN]
        settings = dict(formatters=formatters, hidden_columns=hidden, disabled=True,
                        pagination="local", page_size=15, show_index=False,
                        header_filters=True, layout="fit_data_stretch",
                        sizing_mode="stretch_width")

        def draw() -> _Drawing:
            return drawn_table(shown_rows, settings, self._count, files)

        drawing = _DRAWN.get((id(shown_rows), repr(sorted(settings.items())), self._count,
                              repr(files), *drawn_as()), draw) if shared else draw()
        columns, self._on_screen = list(self._on_screen.columns), shown
        if self._copy is None:
            self._copy = SessionCopy(drawing.model, holder=self._holder,
                                     sizing_mode="stretch_width")
            if self._layout is not None and self._holder is None:
                self._layout[:] = [self._copy.pane]
        else:  # the same columns: new rows only (the browser keeps the table); else anew
            # (a table the browser has drawn does not take new hidden columns)
            self._copy.show(drawing.model, anew=columns != list(shown.columns))
        self._drawing = drawing
        for fmt, button in self.downloads.items():
            if button.id not in self._answered:
                self._answered.add(button.id)
                button.on_change("clicks", partial(self._send, button, fmt))
        return self

    def place(self, holder: Column) -> bool:
        """Show the table in ``holder`` (a column of another session copy: a tab of the
        county's records) instead of a Panel pane; its next records go there as a new copy.
        Whether it was elsewhere (then the records it showed are shown again only when
        given again)."""
        if holder is self._holder:
            return False
        self._holder, self._copy = holder, None
        self._on_screen = pd.DataFrame()
        return True

    def _send(self, button: DownloadButton, fmt: str, attr: str, old, new) -> None:
        """A click on a download button of this session's copy: the records shown, as a
        file of ``fmt``, into the button — whose browser then saves it (Panel's
        FileDownload protocol) — recorded in the audit log."""
        document = button.document
        if document is None:  # (a button no longer on screen)
            return
        county, period = self._where
        with set_curdoc(document):
            audit("download", table=self.table_name, format=fmt, county=county,
                  period=period, rows=len(self._shown))
        content = DOWNLOADS[fmt](self._shown, self.table_name)
        # (``_transfers`` is what the browser waits for: then it saves the data)
        button.update(data=f"data:{MIME[fmt]};base64,{b64encode(content).decode()}",
                      _transfers=cast(int, button._transfers) + 1)

    def __panel__(self):
        if self._layout is None:
            self._layout = pn.Column(*([] if self._copy is None else [self._copy.pane]),
                                     sizing_mode="stretch_width")
        return self._layout

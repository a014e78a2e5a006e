"""The overview's bulletin download (下载简报): the work-safety bulletin of the chosen period
and unit as PDF, made on a worker thread — no session waits for it, one bulletin is made at
a time — and once for every session asking for the same one (same data, period, unit and
language), then offered as a download.

The unit is the page's own selection (a value the state has checked against the session's
cube), checked once more against the session's access before anything is read.
"""

from __future__ import annotations

import html
import io
import tempfile
from concurrent.futures import Future
from pathlib import Path

import panel as pn
import param

from safetyviz.core.cache import LRU
from safetyviz.core.errors import UserError
from safetyviz.core.i18n import text
from safetyviz.core.threads import WorkerPool
from safetyviz.data.catalog import version
from safetyviz.data.notices import outbox_of, outbox_version
from safetyviz.security.access import LOCAL, Access
from safetyviz.web.components.page import audit, shared_catalog
from safetyviz.web.state import NoNone, OverviewState

_MAKER = WorkerPool(max_workers=1, name="bulletin")
# (catalog, cube version, outbox version, period, unit, language) → (file content, format)
_MADE: LRU[tuple[bytes, str]] = LRU(16)


def bulletin_file(path: str, period: str, unit: str, lang: str) -> tuple[bytes, str]:
    """The bulletin of ``unit`` for ``period`` as PDF, or as HTML where the PDF cannot be
    made (no WeasyPrint or no Chinese font on the server); (content, "pdf" | "html")."""
    from safetyviz.report.render import write_report

    catalog = shared_catalog(path)
    # the outbox too: a bulletin tells how the period's warnings were acknowledged
    key = (path, version("cube", catalog), outbox_version(outbox_of(catalog)), period, unit,
           lang)

    def make() -> tuple[bytes, str]:
        with tempfile.TemporaryDirectory() as folder:
            for fmt in ("pdf", "html"):
                try:
                    out = write_report(period, Path(folder) / f"bulletin.{fmt}", fmt, unit,
                                       lang, catalog)
                except UserError:
                    if fmt == "html":
                        raise
                    continue
                return out.read_bytes(), fmt
        raise AssertionError("unreachable")

    return _MADE.get(key, make)


def may_read(access: Access, unit: str, whole: str) -> bool:
    """Whether ``access`` sees all of ``unit`` (``whole``: the adcode of everything the page
    shows: the data's city or province, or the city a session is narrowed to)."""
    if access.all_counties:
        return True
    return unit in access.counties or (unit == whole and unit == access.area)


class BulletinDownload(pn.viewable.Viewer):
    """A button that has the bulletin of the page's selection made, and the download it
    becomes."""

    state = param.ClassSelector(class_=OverviewState, allow_None=NoNone,
                                doc="The period and unit of the bulletin.")
    access = param.ClassSelector(class_=Access, default=LOCAL, doc="Who is asking.")
    catalog = param.String(doc="The catalog the page reads (its path).")

    def __init__(self, **params):
        super().__init__(**params)
        self.make = pn.widgets.Button(button_type="primary", button_style="outline",
                                      align="end")
        self.make.on_click(lambda event: self.request())
        # the download and the status are made when first needed: most sessions never ask
        self._download: pn.widgets.FileDownload | None = None
        self._status: pn.pane.HTML | None = None
        self._row = pn.Row(self.make, margin=0)
        self.future: Future | None = None
        self._asked: tuple | None = None
        self.state.param.watch(lambda *events: self._reset(), ["period", "county", "lang"])
        self._reset()

    @property
    def download(self) -> pn.widgets.FileDownload:
        """The made bulletin's download (hidden until there is one)."""
        if self._download is None:
            self._download = pn.widgets.FileDownload(visible=False, button_type="success",
                                                     align="end", embed=False)
            self._lay_out()
        return self._download

    @property
    def status(self) -> pn.pane.HTML:
        """What is happening to the bulletin asked for (being made, or why it was not)."""
        if self._status is None:
            self._status = pn.pane.HTML(margin=(0, 10), align="center")
            self._lay_out()
        return self._status

    def _lay_out(self) -> None:
        self._row[:] = [self.make, *(item for item in (self._download, self._status)
                                     if item is not None)]

    def _selection(self) -> tuple[str, str, str]:
        return self.state.period, self.state.county, self.state.lang

    def _reset(self) -> None:
        """A new selection: its bulletin is still to be made."""
        lang = self.state.lang
        self._asked = None
        self.make.param.update(name=text("make_bulletin", lang), disabled=False)
        if self._download is not None:
            self._download.visible = False
        if self._status is not None:
            self._status.object = ""

    def request(self) -> Future | None:
        """Have the selection's bulletin made (None if the session may not read it, or has
        one being made)."""
        period, unit, lang = self._selection()
        if self.future is not None and not self.future.done():
            return None  # one at a time per session: clicks cannot fill the queue
        if not may_read(self.access, unit, self.state.city):
            audit("rejected_value", value={"bulletin": unit})
            return None
        self._asked = (period, unit, lang)
        self.make.disabled = True
        self.status.object = html.escape(text("making_bulletin", lang))
        future = _MAKER.submit(bulletin_file, self.catalog, period, unit, lang)
        self.future = future
        doc = pn.state.curdoc
        served = doc if doc is not None and doc.session_context is not None else None

        def done(finished: Future) -> None:
            def show() -> None:
                self._show((period, unit, lang), finished)
            if served is not None:  # the document is changed on its own event loop
                served.add_next_tick_callback(show)
            else:
                show()
        future.add_done_callback(done)
        return future

    def _show(self, asked: tuple, finished: Future) -> None:
        if asked != self._asked:  # the selection changed meanwhile
            return
        period, unit, lang = asked
        self.make.disabled = False
        try:
            content, fmt = finished.result()
        except UserError as exc:
            self.status.object = html.escape(str(exc))
            return
        name = f"{self.state.county_name(unit)}_{period.replace('/', '_')}_" \
               f"{text('bulletin_file', lang)}.{fmt}"
        self.download.param.update(file=io.BytesIO(content), filename=name)
        # (after the file name: Panel names the button after a new file name)
        self.download.label = text("download_bulletin", lang).format(format=fmt.upper())
        self.download.visible = True  # last: shown only once it is whole
        self.status.object = ""

    def __panel__(self):
        return self._row

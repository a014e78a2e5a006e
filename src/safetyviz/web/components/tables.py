"""Record tables of the pages: sortable, filterable, with their row count and (for users who
may) CSV / XLSX downloads, each recorded in the audit log."""

from __future__ import annotations

import io

import pandas as pd
import panel as pn
import param

from safetyviz.analysis.records import labelled, to_csv_bytes, to_xlsx_bytes
from safetyviz.core.i18n import text
from safetyviz.security.access import LOCAL, Access
from safetyviz.web.components.page import audit
from safetyviz.web.state import OverviewState

pn.extension("tabulator")


class RecordTable(pn.viewable.Viewer):
    """Records as a sortable, filterable table with its row count and, for a user who may
    download records, CSV / XLSX downloads named after the county, period and table (each
    download recorded in the audit log). :meth:`show_records` puts new records in the same
    table: the browser gets new rows, not a new table."""

    table_name = param.String(doc="What the records are (names files and audit entries).")
    access = param.ClassSelector(class_=Access, default=LOCAL,
                                 doc="Who is looking: whether they may download records.")

    def __init__(self, **params):
        super().__init__(**params)
        self._shown = pd.DataFrame()
        self._where = ("", "")  # the county and period of the records shown
        self.rows = pn.pane.Str("")
        self.table = pn.widgets.Tabulator(
            self._shown, disabled=True, pagination="local", page_size=15, show_index=False,
            header_filters=True, layout="fit_data_stretch", sizing_mode="stretch_width",
            name=self.table_name)
        self.downloads = [
            self._download("csv", to_csv_bytes),
            self._download("xlsx", lambda shown: to_xlsx_bytes(shown, self.table_name)),
        ] if self.access.may_download else []
        self._layout = pn.Column(pn.Row(self.rows, *self.downloads), self.table,
                                 sizing_mode="stretch_width")

    def _download(self, fmt: str, to_bytes) -> pn.widgets.FileDownload:
        def callback():
            county, period = self._where
            audit("download", table=self.table_name, format=fmt, county=county,
                  period=period, rows=len(self._shown))
            return io.BytesIO(to_bytes(self._shown))
        return pn.widgets.FileDownload(callback=callback, label=fmt.upper(),
                                       button_type="light", width=90)

    # not ``show``: that is Panel's (a Viewer's), serving the table in a browser
    def show_records(self, frame: pd.DataFrame, state: OverviewState) -> RecordTable:
        """Show ``frame`` labelled in the state's language, for its county and period."""
        self._shown = labelled(frame, state.lang)
        self._where = (state.county, state.period)
        for download in self.downloads:
            download.filename = (f"{state.county}_{state.period}_{self.table_name}."
                                 f"{download.label.lower()}")
        self.rows.object = text("rows", state.lang).format(n=len(self._shown))
        self.table.value = self._shown
        return self

    def __panel__(self):
        return self._layout

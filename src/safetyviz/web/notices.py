"""The notifier's events as the monitoring page shows them: alarms, installations offline and
low online rates of the session's counties, each new → acknowledged → resolved, and the time
from being told to being acknowledged. Parameterized only: no panel, bokeh or holoviews.

An acknowledgement names an event by its key; only a key of this session's own list of new
events is taken (a browser can send any text), and only a logged-in user may acknowledge.
"""

from __future__ import annotations

import statistics
from contextlib import closing
from pathlib import Path

import pandas as pd
import param

from safetyviz.data import notices
from safetyviz.notify.outbox import Outbox
from safetyviz.web.page_state import PageState

COLUMNS = list(notices.READ_COLUMNS)


class NoticesState(PageState):
    """The events of one outbox for one session."""

    events = param.DataFrame(default=pd.DataFrame(columns=COLUMNS), constant=True,
                             doc="The latest events of the session's counties, newest first "
                                 "(the outbox's columns).")
    acknowledge_seconds = param.List(default=[], constant=True,
                                     doc="Seconds from told to acknowledged, per event "
                                         "acknowledged in the session's counties.")

    def __init__(self, path: Path, counties: tuple[str, ...] | None, user: str | None,
                 **params):
        """``path``: the outbox; ``counties``: the session's (None: all); ``user``: who is
        logged in (None: nobody, nothing can be acknowledged)."""
        super().__init__(**params)
        self.path, self.counties, self.user = Path(path), counties, user
        self.refresh()

    def refresh(self) -> None:
        with closing(notices.read_only(self.path)) as db:  # a page never writes but to ack
            rows = notices.events(db, self.counties)
            seconds = notices.acknowledge_seconds(db, self.counties)
        frame = pd.DataFrame([{c: row[c] for c in COLUMNS} for row in rows], columns=COLUMNS)
        with param.edit_constant(self):
            self.param.update(events=frame, acknowledge_seconds=seconds)

    def acknowledgeable(self) -> list[str]:
        """Keys of the events this session may acknowledge now (none without a user)."""
        if self.user is None:
            return []
        return list(self.events.loc[self.events["state"] == "new", "key"])

    def acknowledge(self, key: str) -> bool:
        """Acknowledge ``key`` as this session's user if it is one of
        :meth:`acknowledgeable`; whether it was."""
        if self.user is None or key not in self.acknowledgeable():
            return False
        outbox = Outbox(self.path)
        try:
            done = outbox.acknowledge(key, self.user, self.counties)
        finally:
            outbox.close()
        self.refresh()
        return done

    def median_acknowledge_seconds(self) -> float | None:
        return statistics.median(self.acknowledge_seconds) if self.acknowledge_seconds \
            else None

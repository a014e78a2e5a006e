"""The monitoring page's notifications (告警通知与确认): the notifier's events of the
session's counties with their state, the median time from being told to being
acknowledged, and a logged-in user's acknowledgement (audited; a key that is not one of the
session's own new events is refused and audited as a rejected value)."""

from __future__ import annotations

import html

import pandas as pd
import panel as pn
import param

from safetyviz.core.i18n import text
from safetyviz.web.components.page import audit
from safetyviz.web.notices import NoticesState
from safetyviz.web.state import NoNone

STATES = {"new": "state_new", "acknowledged": "state_acknowledged",
          "resolved": "state_resolved"}


class NoticeBoard(pn.viewable.Viewer):
    """The events table, the time to acknowledge, and the acknowledgement controls."""

    state = param.ClassSelector(class_=NoticesState, allow_None=NoNone,
                                doc="The events shown.")
    installations = param.Dict(default={}, doc="Installation names by site id (the page's, "
                                               "in the page's language).")
    units = param.Dict(default={}, doc="Unit names by adcode, {'zh': …, 'en': …}.")

    def __init__(self, **params):
        super().__init__(**params)
        self.table = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                          height=220, sizing_mode="stretch_width",
                                          pagination=None)
        self.pick = pn.widgets.Select(options={}, min_width=260, sizing_mode="stretch_width")
        self.button = pn.widgets.Button(button_type="primary", align="end", width=100)
        self.button.on_click(lambda event: self.acknowledge(self.pick.value))
        self.heading = pn.pane.Markdown(margin=(0, 10))
        self.summary = pn.pane.HTML(margin=(0, 10))
        self.state.param.watch(lambda *events: self._fill(), ["events", "lang"])
        self._fill()

    def acknowledge(self, key) -> bool:
        """Acknowledge ``key`` (what the browser chose) if the session may."""
        done = self.state.acknowledge(str(key)) if isinstance(key, str) else False
        if done:
            audit("acknowledged", notice=key)
        else:
            audit("rejected_value", value={"acknowledge": str(key)[:100]})
        return done

    def _where(self, row) -> str:
        if row["kind"] == "online_rate":
            names = self.units.get(self.state.lang) or self.units.get("zh", {})
            return names.get(row["adcode"], row["adcode"])
        return self.installations.get(row["site"], row["site"])

    def _fill(self) -> None:
        lang, events = self.state.lang, self.state.events
        self.heading.object = f"#### {text('notices_title', lang)}"
        rows = [row for _, row in events.iterrows()]
        # as tall as its rows, up to seven (then it scrolls)
        self.table.height = 40 + 31 * min(max(len(rows), 1), 7)
        self.table.value = pd.DataFrame({
            text("start", lang): [r["started"] for r in rows],
            text("kind", lang): [text(f"notice_head_{r['kind']}", lang) for r in rows],
            text("site", lang): [self._where(r) for r in rows],
            text("level", lang): [text(r["level"], lang) if r["level"] in ("high",
                                                                          "high_high")
                                  else "" for r in rows],
            text("notice_state", lang): [text(STATES[r["state"]], lang) for r in rows],
            text("acknowledged_by", lang): [r["acknowledged_by"] or "" for r in rows]})
        open_keys = self.state.acknowledgeable()
        labels = {r["key"]: " · ".join((self._where(r), text("notice_head_" + r["kind"], lang),
                                        r["started"]))
                  for r in rows if r["key"] in open_keys}
        self.pick.param.update(name=text("to_acknowledge", lang),
                               options={label: key for key, label in labels.items()},
                               disabled=not labels)
        self.button.param.update(name=text("acknowledge", lang), disabled=not labels)
        median = self.state.median_acknowledge_seconds()
        parts = []
        if median is not None:
            parts.append(text("acknowledge_time", lang).format(
                minutes=f"{median / 60:.1f}", count=len(self.state.acknowledge_seconds)))
        if self.state.user is None:
            parts.append(text("login_to_acknowledge", lang))
        self.summary.object = "　".join(html.escape(p) for p in parts)

    def __panel__(self):
        controls = [] if self.state.user is None else [  # nobody to acknowledge as
            pn.FlexBox(self.pick, self.button, sizing_mode="stretch_width")]  # (the pick grows)
        return pn.Column(self.heading, self.summary, self.table, *controls,
                         sizing_mode="stretch_width")

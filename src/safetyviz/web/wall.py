"""What the wall screen (指挥大屏) shows and when: which views it cycles through, how long each
stays, which is on screen, the type size and the language. Parameterized only: no panel,
bokeh or holoviews; every value taken from a link is checked against the allowed ones (a
wall's address is typed once, by hand, and then left alone for days).
"""

from __future__ import annotations

import re

import param

from safetyviz.web.page_state import PageState

SECONDS = (5, 3600)  # how long a view may stay on screen
SCALES = ("1", "1.5", "2", "3")  # the plots' type size (1: a 1920 px wall seen from 5 m)


class WallState(PageState):
    """A wall's programme: the views it cycles through and the one on screen."""

    QUERY = ("views", "seconds", "scale", "lang")

    views = param.List(default=[], item_type=str,
                       doc="The views shown in turn (slugs of wall views), at least one.")
    seconds = param.Integer(default=30, bounds=SECONDS,
                            doc="How long each view stays on screen.")
    # param cannot type a Selector's value: the annotation says what it holds.
    scale: str = param.Selector(default="1", objects=list(SCALES), check_on_set=True,
                                doc="Size of the plots' type: 1 for a 1920 px wide screen, 2 "
                                    "for 3840 px shown at 100 %.")  # type: ignore[assignment]
    showing = param.Integer(default=0, bounds=(0, None),
                            doc="Index in ``views`` of the view on screen.")
    cycles = param.Integer(default=0, constant=True,
                           doc="How many times the screen moved on (views may follow it).")

    def __init__(self, available: list[str], **params):
        """``available``: the slugs of the views this wall can show, in their default
        order; all are shown unless a link names some."""
        if not available:
            raise ValueError("a wall needs at least one view")
        self.available = list(available)
        super().__init__(views=list(available), **params)

    @property
    def current(self) -> str:
        return self.views[self.showing % len(self.views)]

    def advance(self) -> str:
        """Move on to the next view (back to the first after the last); its slug."""
        with param.edit_constant(self):
            self.param.update(showing=(self.showing + 1) % len(self.views),
                              cycles=self.cycles + 1)
        return self.current

    def _take(self, key: str, value: str) -> bool:
        if key == "views":
            chosen = [v for v in re.split(r"[,\s]+", value) if v]
            if not chosen or len(chosen) > len(self.available) or \
                    len(set(chosen)) < len(chosen) or not set(chosen) <= set(self.available):
                return False
            self.param.update(views=chosen, showing=0)
            return True
        if key == "seconds":
            if not re.fullmatch(r"\d{1,4}", value) or not \
                    SECONDS[0] <= int(value) <= SECONDS[1]:
                return False
            self.seconds = int(value)
            return True
        return super()._take(key, value)

    def query(self) -> dict[str, str]:
        return {"views": ",".join(self.views), "seconds": str(self.seconds),
                "scale": self.scale, "lang": self.lang}

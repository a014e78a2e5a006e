"""What every page's state shares: the interface language and the round trip of a link's
query (``?county=411002&lang=en``). A page's state names the parameters a link carries
(``QUERY``); a value from the browser is taken only when it is one of the parameter's allowed
values, and the keys of the others are returned so the page can audit them. Parameterized
only: no panel, bokeh or holoviews.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import param

from safetyviz.core.i18n import LANGUAGES


class PageState(param.Parameterized):
    """Base of the pages' states: ``lang`` and the URL query of the parameters in
    :attr:`QUERY`, in that order (a parameter whose choices follow another's comes after
    it)."""

    QUERY: ClassVar[tuple[str, ...]] = ("lang",)

    # param cannot type a Selector's value: the annotation says what it holds, with the
    # ignore param's documentation gives for that.
    lang: str = param.Selector(default="zh", objects=list(LANGUAGES), check_on_set=True,
                               doc="Interface language.")  # type: ignore[assignment]

    def apply_query(self, query: Mapping[str, Any]) -> list[str]:
        """Take the parameters of :attr:`QUERY` from a URL query, each only if allowed (a
        browser can send anything); returns the keys ignored."""
        return [key for key in self.QUERY
                if key in query and not self._take(key, str(query[key]).strip())]

    def _take(self, key: str, value: str) -> bool:
        """Set ``key`` to ``value`` if it is one of its allowed values; whether it was. A
        state may accept other forms of a value (a range of months, say)."""
        if value not in self.param[key].objects:
            return False
        setattr(self, key, value)
        return True

    def query(self) -> dict[str, Any]:
        """The selection as a URL query (what :meth:`apply_query` takes back)."""
        return {key: getattr(self, key) for key in self.QUERY}

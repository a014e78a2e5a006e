"""What every page's state shares: the interface language and the round trip of a link's
query (``?county=411002&lang=en``): a page's state names the parameters a link carries
(``QUERY``); a value from the browser is taken only when it is one of the parameter's allowed
values, and the keys of the others are returned so the page can audit them. And what the
states with a choice of county share: its choices named, grouped by city over a province's
data. Parameterized only: no panel, bokeh or holoviews.
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


class UnitsState(PageState):
    """A page state with a choice of ``county`` among units and their whole (subclasses
    declare ``county`` and name its choices with :meth:`county_name`)."""

    unit_cities = param.Dict(default={}, doc="Over a province's data seen whole: the city of "
                                             "each unit, (adcode, Chinese name, English name) "
                                             "by the unit's adcode; the choice of county is "
                                             "grouped by it. Empty: one list.")

    def county_name(self, adcode: str) -> str:
        raise NotImplementedError

    def county_groups(self) -> dict[str, dict[str, str]]:
        """The choices of ``county`` grouped by city, in the interface language ({city:
        {unit's name: adcode}}; the whole first, under its own name), empty when they are
        not grouped (one city's units, or fewer than two cities among them)."""
        choices = self.param["county"].objects
        cities = {self.unit_cities[a] for a in choices if a in self.unit_cities}
        if len(cities) < 2:
            return {}
        groups: dict[str, dict[str, str]] = {}
        for adcode in choices:
            name = self.county_name(adcode)
            city = self.unit_cities.get(adcode)
            group = name if city is None else city[2] if self.lang == "en" else city[1]
            groups.setdefault(group, {})[name] = adcode
        return groups

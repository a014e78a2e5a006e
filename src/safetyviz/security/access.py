"""What one session may see: the user's role and counties, and the data cut down to them
before any page is built. Enforced here, on the server: a county user's session never
holds another county's records or cube cells, so nothing sent from its browser can reach
them.

No Panel here; :func:`components.page.session_access` reads a session's access from its
(signed) Bokeh session token.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import xarray as xr

from safetyviz.analysis.cube import PerCube

# The session token's field with the session's Access (signed by the server).
TOKEN_KEY = "safetyviz_access"

_SUBSETS = PerCube(size=64)


@dataclass(frozen=True)
class Access:
    """A session's user (None when served without login, on loopback), role and counties
    (empty: every county), and the ``area`` those counties make up when they are a whole
    one (a city user's city in a province's data)."""

    user: str | None
    role: str
    counties: tuple[str, ...] = ()
    area: str | None = None

    @property
    def all_counties(self) -> bool:
        """Whether every county, and so the city's totals, may be seen."""
        return not self.counties

    @property
    def sees_whole(self) -> bool:
        """Whether the totals of what it sees may be shown: every county's, or its area's
        (a city user's 全市 over a province's data)."""
        return self.all_counties or self.area is not None

    @property
    def may_download(self) -> bool:
        """Whether record-level tables may be downloaded (analysts, and local use)."""
        return self.role == "analyst"

    def allows(self, adcode) -> bool:
        return self.all_counties or str(adcode) in self.counties

    def restrict(self, frame: pd.DataFrame, column: str = "adcode") -> pd.DataFrame:
        """The rows of ``frame`` in the allowed counties."""
        if self.all_counties:
            return frame
        return frame[frame[column].astype(str).isin(self.counties).to_numpy()]

    def restrict_cube(self, cube: xr.Dataset) -> xr.Dataset:
        """The cube's cells of the allowed counties (one subset per cube and set of counties,
        shared by the sessions that need it)."""
        if self.all_counties:
            return cube
        counties = sorted(set(self.counties) & {str(a) for a in cube["adcode"].values})
        if not counties:
            raise PermissionError(f"none of the counties {', '.join(self.counties)} is in "
                                  "the data")
        if self.area is None:
            return _SUBSETS.get(cube, tuple(counties), lambda: cube.sel(adcode=counties))
        return _SUBSETS.get(cube, (*counties, self.area), lambda: cube.sel(
            adcode=counties).assign_attrs(city_adcode=self.area))  # its totals are the area's

    def to_payload(self) -> dict:
        return {"user": self.user, "role": self.role, "counties": list(self.counties),
                **({"area": self.area} if self.area else {})}

    @classmethod
    def from_payload(cls, payload: dict) -> Access:
        area = payload.get("area")
        return cls(payload["user"], payload["role"], tuple(payload.get("counties") or ()),
                   str(area) if area else None)


LOCAL = Access(user=None, role="analyst")  # served without login: loopback only

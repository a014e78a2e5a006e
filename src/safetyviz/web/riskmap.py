"""The four-colour risk map's state (安全风险四色图): the enterprise register and the major
hazard installations, filtered by sector and risk level, and each county's progress on the
dual-prevention mechanism (双重预防机制). Parameterized only: no panel, bokeh or holoviews."""

from __future__ import annotations

import pandas as pd
import param

from safetyviz.core.i18n import total_label
from safetyviz.core.vocab import RISK_LEVELS, SECTORS
from safetyviz.web.page_state import UnitsState

# The map colours of the four levels (the national four-colour convention).
RISK_COLOURS = {"red": "#e74c3c", "orange": "#f39c12", "yellow": "#f4d03f", "blue": "#3498db"}


class RiskMapState(UnitsState):
    """What the risk map shows; every value is checked against the allowed ones."""

    QUERY = ("county", "lang")

    enterprises = param.DataFrame(doc="The enterprise register (adcode, sector, risk_level, "
                                      "dual_prevention, scale, lon, lat, registered, "
                                      "closed_on …); provisional firms (not yet registered) "
                                      "and closed ones are not drawn.")
    unregistered = param.DataFrame(default=None, allow_None=True,
                                   doc="Records naming provisional firms, per table and "
                                       "adcode (table, adcode, records).")
    sites = param.DataFrame(doc="Major hazard installations (site_id, enterprise_id, adcode, "
                                "grade, lon, lat).")
    sectors = param.ListSelector(default=list(SECTORS), objects=list(SECTORS),
                                 doc="Sectors shown.")
    levels = param.ListSelector(default=list(RISK_LEVELS), objects=list(RISK_LEVELS),
                                doc="Risk levels shown.")
    # param cannot type a Selector's value: the annotations say what it holds (county from
    # __init__ on), with the ignore param's documentation gives for that.
    county: str = param.Selector(default=None, objects=[], check_on_set=True,
                                 doc="A county to outline, or the city's adcode for none.")  # type: ignore[assignment]
    names = param.Dict(default={}, doc="County names by adcode, {'zh': …, 'en': …}.")
    city_total = param.Boolean(default=True, constant=True,
                               doc="Whether the whole city (no county outlined) is a choice; "
                                   "False for a user who may see only some counties (the "
                                   "registers then hold only those).")

    def __init__(self, enterprises: pd.DataFrame, sites: pd.DataFrame, city: str,
                 counties: list[str], **params):
        self.city = city
        super().__init__(enterprises=enterprises, sites=sites,
                         city_total=params.pop("city_total", True))
        self.param.county.objects = [city, *counties] if self.city_total else list(counties)
        self.county = self.param.county.objects[0]
        self.param.update(**params)

    def registered(self) -> pd.DataFrame:
        """The firms of the register that are open: registered (not provisional) and not
        closed."""
        e = self.enterprises
        keep = e["registered"].fillna(True).astype(bool) & e["closed_on"].isna()
        return e[keep.to_numpy()]

    @param.depends("sectors", "levels")
    def points(self) -> pd.DataFrame:
        """The registered, open enterprises of the chosen sectors and levels that have
        coordinates."""
        e = self.registered()
        keep = (e["sector"].astype(str).isin(self.sectors)
                & e["risk_level"].astype(str).isin(self.levels)
                & e["lon"].notna() & e["lat"].notna())
        return e[keep.to_numpy()]

    def unregistered_records(self) -> dict[str, int]:
        """How many provisional firms the (allowed) counties have and how many records of
        each table name them: {'firms': …, 'records': …, 'inspections': …, …}."""
        e = self.enterprises
        firms = int((~e["registered"].fillna(True).astype(bool)).sum())
        out = {"firms": firms, "inspections": 0, "hazards": 0, "enforcement_actions": 0}
        if self.unregistered is not None and len(self.unregistered):
            allowed = set(e["adcode"].astype(str)) | set(self.param.county.objects)
            rows = self.unregistered[self.unregistered["adcode"].astype(str).isin(allowed)]
            for table, n in rows.groupby("table")["records"].sum().items():
                out[str(table)] = int(n)
        out["records"] = out["inspections"] + out["hazards"] + out["enforcement_actions"]
        return out

    def level_counts(self) -> pd.Series:
        """Enterprises shown per risk level, in the order red, orange, yellow, blue."""
        counts = self.points()["risk_level"].astype(str).value_counts()
        return counts.reindex(list(RISK_LEVELS), fill_value=0)

    def dual_prevention(self) -> pd.DataFrame:
        """Per county, of the enterprises above designated size: how many, how many have
        built the dual-prevention mechanism, how many have had it accepted."""
        e = self.registered()
        e = e[(e["scale"].astype(str) == "above").to_numpy()]
        status = e["dual_prevention"].astype(str)
        frame = pd.DataFrame({"adcode": e["adcode"].astype(str).to_numpy(),
                              "built": (status == "built").to_numpy(),
                              "accepted": (status == "accepted").to_numpy()})
        out = frame.groupby("adcode").agg(enterprises=("built", "size"),
                                          built=("built", "sum"), accepted=("accepted", "sum"))
        counties = [a for a in self.param.county.objects if a != self.city]
        return out.reindex(counties, fill_value=0).astype(int)

    def county_name(self, adcode: str) -> str:
        if adcode == self.city:
            return total_label(self.city, self.lang)
        return self.names.get(self.lang, {}).get(adcode) or self.names.get("zh", {}).get(
            adcode, adcode)

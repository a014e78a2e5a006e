"""Demo data for a whole province: each of its cities (and each unit the province administers
itself) made by the city generator (:mod:`demo`) — a city with a calibrated demo profile (the
reference city) exactly as it is made alone, so its bulletin's figures still hold; every other
from a profile derived from a calibrated one and the city's size (its county-level units) —
and the province's major hazard installations connected to monitoring so that its online rate
is the one its reference figures give.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pandas as pd

from safetyviz.core.errors import UserError
from safetyviz.synth import demo
from safetyviz.synth.profile import Profile

# The record ids each generated city numbers from 1, and the columns that refer to them: a
# city that is not calibrated gets its ids prefixed with its code (a calibrated one keeps
# its own, as its bulletin's records were made).
IDS = {"major_hazard_sites": ["site_id"], "sensors": ["sensor_id", "site_id"],
       "inspections": ["inspection_id", "joint_operation_id"],
       "joint_operations": ["joint_operation_id"],
       "hazards": ["hazard_id", "inspection_id"],
       "enforcement_actions": ["action_id", "joint_operation_id"], "accidents": ["accident_id"]}
ONLINE_RATE = "online_rate"  # the province's reference figure the installations meet


def city_groups(regions: pd.DataFrame) -> tuple[str, dict[str, list[str]]]:
    """The province of ``regions`` (a province's regions table, every level) and the units of
    each of its children, by the child's adcode: a city's county-level units, or the child
    itself when it has none under it (济源, 东莞)."""
    top = regions[regions["level"] == "province"] if "level" in regions else regions.iloc[:0]
    if len(top) != 1:
        raise UserError("the data dir's regions are not a province's: build them with "
                        "`safetyviz regions build --province ADCODE`")
    province = str(top["adcode"].iloc[0])
    parents = regions["parent_adcode"].fillna("").astype(str)
    groups = {}
    for child in regions.loc[(parents == province).to_numpy(), "adcode"].astype(str):
        under = regions.loc[(parents == child).to_numpy()]
        under = under[under["level"].astype(str) != "zone"]
        groups[child] = sorted(under["adcode"].astype(str)) or [child]
    return province, groups


def derived_profile(city: str, units: list[str], template: Profile, scale: float) -> Profile:
    """A demo profile for ``city`` of ``units``, made like ``template`` (a calibrated city's:
    its rates, shocks, sector mix and firms per unit) without reference figures: each unit
    gets ``scale`` times the template's firms per unit and an activity, both varied by its
    code (deterministic, ±40 %), and the template's sector mix with each sector's weight
    varied by the city's code and by the unit's (±40 % each): cities differ in their
    industries, and the units of one city less than cities do."""
    specs = list(template.counties.values())
    firms = np.mean([float(s["enterprises"]) for s in specs])
    activity = np.mean([float(s.get("activity", 1.0)) for s in specs])
    sectors: dict[str, float] = {}
    for spec in specs:  # the template city's mix, all its units together
        total = sum(spec["sectors"].values())
        for sector, weight in spec["sectors"].items():
            sectors[sector] = sectors.get(sector, 0.0) + weight / total
    counties = {}
    for unit in units:
        size, busy = _varied(unit, "size"), _varied(unit, "activity")
        counties[unit] = {"enterprises": max(20, round(scale * firms * size)),
                          "activity": round(scale * activity * busy, 3),
                          "sectors": {sector: round(weight * _varied(city, sector)
                                                    * _varied(unit, sector), 6)
                                      for sector, weight in sectors.items()}}
    return replace(template, city=city, counties=counties, named_joint_operations=[],
                   reference=template.reference.iloc[:0])


def _varied(code: str, what: str) -> float:
    """A factor in [0.6, 1.4] fixed by ``code`` (the same in every run and on every machine)."""
    digest = hashlib.sha256(f"{code}:{what}".encode()).digest()
    return 0.6 + 0.8 * int.from_bytes(digest[:4], "big") / 2**32


def generate_province(regions: pd.DataFrame, profiles: dict[str, Profile], seed: int = 2020,
                      scale: float = 1.0) -> dict[str, pd.DataFrame]:
    """All record tables for the province of ``regions`` (every level, as
    :func:`city_groups` reads it), deterministic in ``seed``. ``profiles``: the calibrated
    demo profiles at hand, by city; the first is the template of the other cities', whose
    firms and activity are ``scale`` times it. Raises UserError when no profile is at hand
    or the province's online rate cannot be met."""
    province, groups = city_groups(regions)
    if not profiles:
        raise UserError("a province's demo needs one calibrated city profile to model the "
                        "others on (data/demo/<city>.yaml)")
    template = next(iter(profiles.values()))
    units = regions[regions["adcode"].astype(str).isin(
        [u for members in groups.values() for u in members])]
    parts = []
    for city, members in groups.items():
        calibrated = city in profiles
        profile = profiles[city] if calibrated else derived_profile(city, members, template,
                                                                    scale)
        city_seed = seed if calibrated else seed + int(_varied(city, "seed") * 1e6)
        tables = demo.generate(profile, units[units["adcode"].astype(str).isin(members)],
                               city_seed)
        parts.append((city, calibrated, tables if calibrated else _prefixed(tables, city)))
    tables = {name: pd.concat([t[name] for _, _, t in parts], ignore_index=True)
              for name in parts[0][2]}
    tables["major_hazard_sites"] = _connected(
        tables["major_hazard_sites"], [t["major_hazard_sites"] for _, c, t in parts if c],
        profiles, province, seed)
    for name, columns in IDS.items():
        if tables[name][columns[0]].duplicated().any():  # a bug here, not a user error
            raise AssertionError(f"province demo: {name}.{columns[0]} repeats")
    return tables


def _prefixed(tables: dict[str, pd.DataFrame], city: str) -> dict[str, pd.DataFrame]:
    """``tables`` with their record ids (:data:`IDS`) prefixed by ``city``'s code."""
    out = dict(tables)
    for name, columns in IDS.items():
        frame = out[name].copy()
        for column in columns:
            present = frame[column].notna()
            frame.loc[present, column] = city + "-" + frame.loc[present, column].astype(str)
        out[name] = frame
    return out


def _connected(sites: pd.DataFrame, calibrated: list[pd.DataFrame], profiles, province: str,
               seed: int) -> pd.DataFrame:
    """``sites`` with the uncalibrated cities' installations connected to monitoring (or
    not) so that the province's online rate at the date of its reference figure is that
    figure; the calibrated cities' as they were made. Unchanged without such a figure."""
    target = _province_rate(profiles, province)
    if target is None:
        return sites
    rate, as_of = target
    fixed = set(pd.concat(calibrated)["site_id"]) if calibrated else set()
    free = np.flatnonzero(~sites["site_id"].isin(fixed).to_numpy())
    online_at = (sites["online_since"].notna() & (sites["online_since"] <= as_of)).to_numpy()
    wanted = round(rate * len(sites)) - int(online_at[~np.isin(np.arange(len(sites)),
                                                                  free)].sum())
    if not 0 <= wanted <= len(free):
        raise UserError(f"the province's online rate {rate:.0%} cannot be met: "
                        f"{len(sites)} installations, {len(sites) - len(free)} of them fixed "
                        "by calibrated cities")
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(free)
    sites = sites.copy()
    since = sites["online_since"].to_numpy().copy()
    # those that stay connected keep their date, or are given one before the figure's date
    for i in chosen[:wanted]:
        if not online_at[i]:
            since[i] = (as_of - pd.Timedelta(days=int(rng.integers(30, 600)))).to_datetime64()
    since[chosen[wanted:]] = np.datetime64("NaT")
    sites["online_since"] = since
    return sites


def _province_rate(profiles, province: str) -> tuple[float, pd.Timestamp] | None:
    """The province's online rate and its date, from the calibrated profiles' reference
    figures (the reference bulletin quotes it)."""
    for profile in profiles.values():
        rows = profile.reference[(profile.reference["adcode"].astype(str) == province)
                                 & (profile.reference["metric"] == ONLINE_RATE)]
        if len(rows):
            row = rows.iloc[-1]
            return float(row["value"]), pd.Timestamp(row["period_end"])
    return None


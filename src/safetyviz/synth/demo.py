"""Demo data: a deterministic, realistic record-level dataset for a city, calibrated so that
every checked figure of the city's reference bulletin is reproduced exactly.

The generator is generic: the city, its counties and boundaries, its sector mix and the figures
to reproduce come from a demo profile (:mod:`profile`), the reference file it names and the
boundaries. How many events fall on each county and day comes from :mod:`grid`; this module
makes the records of each table (firms and their sites, inspections, joint operations,
hazards, enforcement actions, accidents) from those counts.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from safetyviz.analysis import reference as ref
from safetyviz.core.errors import UserError
from safetyviz.core.identity import CREDIT_ALPHABET, credit_check_character
from safetyviz.core.vocab import CLOSURE_ACTIONS, DETENTION_ACTIONS, HAZARD_CATEGORIES
from safetyviz.data.regions import short_name
from safetyviz.data.store import SCHEMAS
from safetyviz.synth import sensor_feed
from safetyviz.synth.grid import MIN_CALIBRATION_DAYS, Grid, Window
from safetyviz.synth.profile import Profile

# How hazard-prone an inspection of each sector is, relative to the city's rate.
SECTOR_HAZARD_FACTOR = {
    "hazardous_chemicals": 1.5, "coal_mines": 1.6, "non_coal_mines": 1.4, "construction": 1.3,
    "industry_trade": 1.1, "gas": 1.1, "special_equipment": 1.0, "fire_safety": 0.9,
    "crowded_places": 0.8, "road_transport": 0.8, "forestry": 0.6,
}
SECTOR_ABOVE_SCALE = {
    "industry_trade": 0.3, "hazardous_chemicals": 0.5, "coal_mines": 0.9, "non_coal_mines": 0.5,
    "construction": 0.25, "crowded_places": 0.08, "special_equipment": 0.15, "fire_safety": 0.05,
    "gas": 0.4, "road_transport": 0.2, "forestry": 0.1,
}
SECTOR_DEPARTMENT = {
    "construction": "housing_construction", "gas": "housing_construction",
    "special_equipment": "market_regulation", "fire_safety": "fire_rescue",
    "road_transport": "transport", "forestry": "forestry",
}
SECTOR_WORDS = {
    "hazardous_chemicals": ["化工", "精细化工", "工业气体", "新材料"],
    "coal_mines": ["煤业", "矿业"], "non_coal_mines": ["石料", "矿业", "砂石"],
    "industry_trade": ["机械", "铸造", "纺织", "建材", "再生资源", "陶瓷", "食品", "发制品"],
    "road_transport": ["运输", "物流"], "construction": ["建筑工程", "建设"],
    "crowded_places": ["商贸", "酒店", "超市", "影城"], "special_equipment": ["电梯", "锅炉"],
    "fire_safety": ["商厦", "仓储"], "gas": ["燃气"], "forestry": ["林场", "苗木"],
}
NAME_SYLLABLES = list("恒泰华鑫盛达宏瑞丰源隆昌通安利祥兴嘉和信")
CLOSURE_SECTOR = {
    "ban_illegal_operation": "industry_trade", "close_scattered_polluting": "industry_trade",
    "seize_black_gas_station": "hazardous_chemicals",
    "seize_illegal_fuel_vehicle": "hazardous_chemicals", "close_illegal_unit": "industry_trade",
}
ILLEGAL_TARGETS = {
    "ban_illegal_operation": "非法生产经营点", "close_scattered_polluting": "小散乱污作坊",
    "seize_black_gas_station": "黑加油点", "seize_illegal_fuel_vehicle": "非法加油车",
    "close_illegal_unit": "非法生产经营单位",
}
FINE_AMOUNTS = np.array([1000, 2000, 3000, 5000, 10000, 20000, 30000, 50000])
FINE_P = np.array([8, 10, 8, 10, 6, 3, 2, 1]) / 48


def demo_credit_code(adcode: str, enterprise_id: str) -> str:
    """A well-formed unified social credit code for a demo firm (enterprise registered with
    market regulation, 91; its county's code; a body made from its id, so the draws of the
    generator stay as they were)."""
    digest = hashlib.sha1(enterprise_id.encode()).digest()
    body = "MA" + "".join(CREDIT_ALPHABET[b % 31] for b in digest[:7])
    first17 = f"91{adcode}{body}"
    return first17 + credit_check_character(first17)


class Generator:
    """Generates all tables for one profile, boundaries and seed; see :func:`generate`."""

    def __init__(self, profile: Profile, regions, seed: int):
        self.p = profile
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        # The counties; zones the city declares get demo records only if the profile
        # names them (they need a boundary to place their firms).
        level = regions["level"] if "level" in regions else pd.Series("county", regions.index)
        chosen = (level != "zone") | regions["adcode"].astype(str).isin(profile.counties)
        self.regions = regions[chosen.to_numpy()].sort_values("adcode").reset_index(drop=True)
        self.counties = list(self.regions["adcode"].astype(str))
        missing = set(self.counties) ^ set(profile.counties)
        if missing:
            raise UserError(f"{profile.path}: counties differ from the boundaries: "
                            f"{', '.join(sorted(missing))}")
        self.grid = Grid(profile, self.counties, self.rng)
        self.days = self.grid.days

    # --- tables ----------------------------------------------------------------------------
    def enterprises(self) -> pd.DataFrame:
        frames = []
        for c, adcode in enumerate(self.counties):
            spec = self.p.counties[adcode]
            n = int(spec["enterprises"])
            weights = np.array(list(spec["sectors"].values()), float)
            sector = self.rng.choice(list(spec["sectors"]), size=n, p=weights / weights.sum())
            lon, lat = self._points_in(self.regions.geometry[c], n)
            frames.append(pd.DataFrame({
                "enterprise_id": [f"E{adcode}{i:05d}" for i in range(1, n + 1)],
                "adcode": adcode, "sector": sector, "lon": lon, "lat": lat}))
        e = pd.concat(frames, ignore_index=True)
        e["name"] = self._names(e)
        above_p = e["sector"].map(SECTOR_ABOVE_SCALE).to_numpy()
        e["scale"] = np.where(self.rng.random(len(e)) < above_p, "above", "below")
        e["licence"] = np.select(
            [e["sector"] == "hazardous_chemicals",
             e["sector"].isin(["coal_mines", "non_coal_mines"])],
            ["hazchem_trading", "mining"], "none")
        for w in self.grid.windows_for(*ref.LICENCE_METRICS):
            pool = np.flatnonzero((e["licence"] == "hazchem_trading").to_numpy()
                                  & np.isin(e["adcode"], np.array(self.counties)[w.counties]))
            if len(pool) < w.target:
                raise UserError(f"{self.p.path}: too few hazardous-chemicals enterprises for "
                                f"{w.metric} = {w.target:g}")
            chosen = self.rng.choice(pool, size=int(w.target), replace=False)
            e.loc[chosen, "licence"] = ref.LICENCE_METRICS[w.metric]
        e["risk_level"] = self._risk_levels(e)
        e["dual_prevention"] = "none"
        above = np.flatnonzero((e["scale"] == "above").to_numpy())
        targets = self.grid.windows_for("dual_prevention_enterprises")
        n_dual = int(targets[0].target) if targets else int(0.35 * len(above))
        if n_dual > len(above):
            raise UserError(f"{self.p.path}: only {len(above)} above-scale enterprises, "
                            f"fewer than dual_prevention_enterprises = {n_dual}")
        weight = np.where(e.loc[above, "risk_level"].isin(["red", "orange"]), 3.0, 1.0)
        built = self.rng.choice(above, size=n_dual, replace=False, p=weight / weight.sum())
        accepted = self.rng.random(n_dual) < 0.4
        e.loc[built, "dual_prevention"] = np.where(accepted, "accepted", "built")
        below = np.flatnonzero((e["scale"] == "below").to_numpy())
        e.loc[below[self.rng.random(len(below)) < 0.02], "dual_prevention"] = "built"
        e["credit_code"] = [demo_credit_code(a, i) for a, i in zip(e["adcode"],
                                                                    e["enterprise_id"])]
        e["aliases"], e["registered"], e["batch"], e["closed_on"] = None, True, "demo", pd.NaT
        return e[list(SCHEMAS["enterprises"].names)]

    def _points_in(self, polygon, n: int) -> tuple[np.ndarray, np.ndarray]:
        import shapely

        minx, miny, maxx, maxy = polygon.bounds
        lon, lat = np.empty(0), np.empty(0)
        while len(lon) < n:
            x = self.rng.uniform(minx, maxx, 4 * n)
            y = self.rng.uniform(miny, maxy, 4 * n)
            inside = shapely.contains_xy(polygon, x, y)
            lon, lat = np.concatenate([lon, x[inside]]), np.concatenate([lat, y[inside]])
        return np.round(lon[:n], 6), np.round(lat[:n], 6)

    def _names(self, e: pd.DataFrame) -> list[str]:
        """Fictional names, marked （演示） so nobody mistakes them for real firms."""
        seen: dict[str, int] = {}
        names = []
        n = len(NAME_SYLLABLES)
        first = self.rng.integers(n, size=len(e))
        second = (first + self.rng.integers(1, n, size=len(e))) % n  # never the same twice
        syllables = np.array(NAME_SYLLABLES)[np.column_stack([first, second])]
        county_names = {a: short_name(n) for a, n in zip(self.counties, self.regions["name_zh"])}
        for (adcode, sector), (s1, s2) in zip(zip(e["adcode"], e["sector"]), syllables):
            county = county_names[adcode]
            word = SECTOR_WORDS[sector][self.rng.integers(len(SECTOR_WORDS[sector]))]
            name = f"（演示）{county}{s1}{s2}{word}有限公司"
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                name = name.replace("有限公司", f"第{seen[name]}分公司")
            names.append(name)
        return names

    def _risk_levels(self, e: pd.DataFrame) -> np.ndarray:
        levels = np.array(["red", "orange", "yellow", "blue"])
        hazardous = e["sector"].isin(["hazardous_chemicals", "coal_mines", "non_coal_mines"])
        p_hazardous, p_other = [0.08, 0.22, 0.4, 0.3], [0.01, 0.06, 0.3, 0.63]
        out = np.where(hazardous, self.rng.choice(levels, len(e), p=p_hazardous),
                       self.rng.choice(levels, len(e), p=p_other))
        licensed = e["licence"].isin(["hazchem_production", "oil_depot", "hazchem_use"]).to_numpy()
        out[licensed] = self.rng.choice(["red", "orange"], licensed.sum(), p=[0.4, 0.6])
        return out

    def major_hazard_sites(self, e: pd.DataFrame) -> pd.DataFrame:
        rank = e["licence"].map({"hazchem_production": 0, "oil_depot": 1, "hazchem_use": 2,
                                 "hazchem_trading": 3}).fillna(9)
        candidates = e.assign(rank=rank)[rank < 9]
        counts = self.grid.windows_for("major_hazard_sites")
        n = int(counts[0].target) if counts else min(len(candidates), 2 * len(self.counties))
        chosen = candidates.sort_values(["rank", "enterprise_id"]).head(n)
        if len(chosen) < n:
            raise UserError(f"{self.p.path}: too few hazardous-chemicals enterprises for "
                            f"{n} major hazard sites")
        online = self.grid.windows_for("major_hazard_sites_online")
        n_online = int(online[0].target) if online else n
        as_of = self.days[online[0].last] if online else self.days[-1]
        since = pd.to_datetime(self.rng.integers(
            (as_of - pd.DateOffset(months=21)).value // 86_400_000_000_000,
            as_of.value // 86_400_000_000_000 + 1, n_online), unit="D")
        online_since = np.full(n, np.datetime64("NaT"), "datetime64[ns]")
        order = self.rng.permutation(n)
        online_since[order[:n_online]] = since.to_numpy()
        return pd.DataFrame({
            "site_id": [f"MHS{i:04d}" for i in range(1, n + 1)],
            "enterprise_id": chosen["enterprise_id"].to_numpy(),
            "adcode": chosen["adcode"].to_numpy(),
            "grade": self.rng.choice([1, 2, 3, 4], n, p=[0.1, 0.2, 0.3, 0.4]).astype("int8"),
            "online_since": online_since,
            "lon": chosen["lon"].to_numpy(), "lat": chosen["lat"].to_numpy()})

    def inspections(self, e: pd.DataFrame) -> pd.DataFrame:
        windows = self.grid.windows_for("inspections")
        intensity = self.grid.calibrate(self.grid.intensity(self.p.rates["inspections"]), windows)
        county, day = self.grid.cells_to_rows(self.grid.allocate(intensity, windows))
        n = len(county)
        enterprise = np.full(n, None, object)
        pinned = np.zeros(n, bool)
        risk_weight = e["risk_level"].map({"red": 3, "orange": 2, "yellow": 1.3, "blue": 1.0})
        pools = {c: (np.flatnonzero(e["adcode"].to_numpy() == a), risk_weight)
                 for c, a in enumerate(self.counties)}
        for w in self.grid.windows_for("enterprises_inspected"):
            rows = np.flatnonzero(w.counties[county] & (day >= w.first) & (day <= w.last))
            pool = np.flatnonzero(np.isin(e["adcode"], np.array(self.counties)[w.counties]))
            k = int(w.target)
            if k > len(rows) or k > len(pool):
                raise UserError(f"{self.p.path}: enterprises_inspected = {k} needs at least as "
                                "many inspections and enterprises in its window")
            chosen = self.rng.choice(pool, size=k, replace=False)
            rows = self.rng.permutation(rows)
            enterprise[rows[:k]] = e["enterprise_id"].to_numpy()[chosen]
            again = self.rng.choice(chosen, len(rows) - k)
            enterprise[rows[k:]] = e["enterprise_id"].to_numpy()[again]
            pinned[rows] = True
        for c, (pool, weight) in pools.items():
            rows = np.flatnonzero((county == c) & ~pinned)
            p = weight.to_numpy()[pool]
            picks = e["enterprise_id"].to_numpy()[self.rng.choice(pool, len(rows), p=p / p.sum())]
            unlicensed = self.rng.random(len(rows)) < 0.03  # sites with no registered unit
            enterprise[rows] = np.where(unlicensed, None, picks)
        sector_of = dict(zip(e["enterprise_id"], e["sector"]))
        sector = np.array([sector_of.get(x) for x in enterprise], object)
        missing = sector == None  # noqa: E711 (object array)
        sector[missing] = self.grid.sector_sample(county[missing])
        own_department = pd.Series(sector).map(SECTOR_DEPARTMENT).fillna("emergency_management")
        department = np.where(self.rng.random(n) < 0.6, own_department, "emergency_management")
        dates = self.days[day]
        return pd.DataFrame({
            "inspection_id": [f"INS{i:08d}" for i in range(1, n + 1)],
            "date": dates, "adcode": np.array(self.counties)[county], "enterprise_id": enterprise,
            "sector": sector, "department": department, "joint_operation_id": None,
            "campaign": campaign_of(dates)})

    def joint_operations(self, e: pd.DataFrame, inspections: pd.DataFrame) -> pd.DataFrame:
        fixed = np.zeros((len(self.counties), len(self.days)), np.int64)
        named: dict[tuple[int, int], list[dict]] = {}
        for op in self.p.named_joint_operations:
            c = self.counties.index(str(op["adcode"]))
            d = self.days.get_loc(pd.Timestamp(op["date"]))
            fixed[c, d] += 1
            named.setdefault((c, d), []).append(op)
        windows = self.grid.windows_for("joint_operations")
        intensity = self.grid.calibrate(
            self.grid.intensity(self.p.rates["joint_operations"]), windows)
        county, day = self.grid.cells_to_rows(self.grid.allocate(intensity, windows, fixed))
        rows = []
        for i, (c, d) in enumerate(zip(county, day), start=1):
            op_id = f"JO{i:06d}"
            if named.get((c, d)):
                op = named[(c, d)].pop()
                target, depts = op["target"], list(op["departments"])
            else:
                pool = e[e["adcode"] == self.counties[c]]
                target = pool["name"].iloc[self.rng.integers(len(pool))]
                others = self.rng.choice(JOINT_DEPARTMENTS, self.rng.integers(2, 6), replace=False)
                depts = ["emergency_management", *others]
                same_day = inspections.index[(inspections["adcode"] == self.counties[c])
                                             & (inspections["date"] == self.days[d])]
                inspections.loc[same_day[:3], "joint_operation_id"] = op_id
            rows.append({"joint_operation_id": op_id, "date": self.days[d],
                         "adcode": self.counties[c], "departments": "|".join(depts),
                         "target": target})
        # (a small unit may have none: the table keeps its columns)
        return pd.DataFrame(rows, columns=["joint_operation_id", "date", "adcode",
                                           "departments", "target"])

    def hazards(self, inspections: pd.DataFrame) -> pd.DataFrame:
        base = float(self.p.rates["hazards_per_inspection"])
        rate = inspections["sector"].map(SECTOR_HAZARD_FACTOR).to_numpy() * base
        county = pd.Index(self.counties).get_indexer(inspections["adcode"])
        day = self.days.get_indexer(inspections["date"])
        counts = np.zeros(len(inspections), np.int64)
        pinned = np.zeros(len(inspections), bool)
        windows = self.grid.windows_for("hazards_found")
        for w in windows:
            rows = np.flatnonzero(w.counties[county] & (day >= w.first) & (day <= w.last) & ~pinned)
            if len(rows) == 0 and w.target:
                raise UserError(f"{self.p.path}: hazards_found needs inspections in its window")
            p = rate[rows] / rate[rows].sum()
            counts[rows] = self.rng.multinomial(int(w.target), p)
            pinned[rows] = True
            if w.last - w.first + 1 >= MIN_CALIBRATION_DAYS:
                rate = rate * w.target / rate[rows].sum()
        counts[~pinned] = self.rng.poisson(rate[~pinned])
        src = inspections.loc[np.repeat(inspections.index.to_numpy(), counts)]
        src = src.reset_index(drop=True)
        n = len(src)
        risky = src["sector"].isin(["hazardous_chemicals", "coal_mines", "non_coal_mines"])
        major = self.rng.random(n) < np.where(risky, 0.05, 0.015)
        deadline_days = np.where(major, self.rng.choice([30, 60, 90], n),
                                 self.rng.choice([7, 15, 30], n, p=[0.4, 0.4, 0.2]))
        outcome = self.rng.random(n)
        on_time, late = np.where(major, 0.68, 0.80), np.where(major, 0.30, 0.197)
        delay = np.where(outcome < on_time,
                         np.floor(deadline_days * self.rng.beta(1.2, 2.0, n)),
                         deadline_days + 1 + self.rng.geometric(1 / 20, n))
        never = outcome >= on_time + late
        found = src["date"].to_numpy()
        rectified = found + delay.astype("timedelta64[D]")
        rectified[never | (rectified > self.days[-1].to_datetime64())] = np.datetime64("NaT")
        categories = list(HAZARD_CATEGORIES)
        hz = pd.DataFrame({
            "hazard_id": [f"HZ{i:08d}" for i in range(1, n + 1)],
            "inspection_id": src["inspection_id"], "enterprise_id": src["enterprise_id"],
            "adcode": src["adcode"], "sector": src["sector"], "found_date": found,
            "level": np.where(major, "major", "general"),
            "category": self.rng.choice(categories, n, p=[0.3, 0.25, 0.2, 0.1, 0.15]),
            "deadline": found + deadline_days.astype("timedelta64[D]"),
            "rectified_date": rectified,
            "listed_supervision": major & (self.rng.random(n) < 0.4)})
        self._calibrate_rectified(hz)
        return hz

    def _calibrate_rectified(self, hz: pd.DataFrame) -> None:
        """Move the fewest rectification dates across window edges to hit each target."""
        locked = np.zeros(len(self.counties), bool)
        county = pd.Index(self.counties).get_indexer(hz["adcode"])
        for w in self.grid.windows_for("hazards_rectified"):
            start, end = self.days[w.first].to_datetime64(), self.days[w.last].to_datetime64()
            in_scope = w.counties[county] & ~locked[county]
            rect = hz["rectified_date"].to_numpy()
            inside = in_scope & (rect >= start) & (rect <= end)
            fixed_inside = (w.counties[county] & locked[county] & (rect >= start) & (rect <= end))
            excess = int(inside.sum() + fixed_inside.sum() - w.target)
            if excess > 0:  # push the latest rectifications of the window just past its end
                rows = np.flatnonzero(inside)
                rows = rows[np.argsort(rect[rows])][::-1][: 3 * excess]
                rows = self.rng.choice(rows, excess, replace=False)
                hz.loc[rows, "rectified_date"] = end + self.rng.integers(
                    1, 8, excess).astype("timedelta64[D]")
            elif excess < 0:  # pull the earliest rectifications after the window into it
                found = hz["found_date"].to_numpy()
                after = np.flatnonzero(in_scope & (rect > end) & (found <= end))
                if len(after) < -excess:
                    raise UserError(f"{self.p.path}: hazards_rectified = {w.target:g} is more "
                                    "than the hazards found can give")
                rows = after[np.argsort(rect[after])][: -3 * excess]
                rows = self.rng.choice(rows, -excess, replace=False)
                new = end - self.rng.integers(0, 8, -excess).astype("timedelta64[D]")
                hz.loc[rows, "rectified_date"] = np.maximum(new, found[rows])
            locked |= w.counties

    def enforcement_actions(self, e: pd.DataFrame, inspections: pd.DataFrame,
                            hazards: pd.DataFrame, joint: pd.DataFrame) -> pd.DataFrame:
        per_inspection = (hazards["level"] == "major").groupby(hazards["inspection_id"]).any()
        per_inspection = per_inspection.rename("major").to_frame()
        ins = inspections.join(per_inspection, on="inspection_id", how="inner")
        fined = ins[self.rng.random(len(ins)) < np.where(ins["major"], 0.35, 0.05)]
        suspended = ins[ins["major"].to_numpy() & (self.rng.random(len(ins)) < 0.15)]
        frames = []
        for kind, src in (("fine", fined), ("suspend", suspended)):
            lag = self.rng.integers(3, 21, len(src)).astype("timedelta64[D]")
            frames.append(pd.DataFrame({
                "date": np.minimum(src["date"].to_numpy() + lag, self.days[-1].to_datetime64()),
                "adcode": src["adcode"].to_numpy(),
                "enterprise_id": src["enterprise_id"].to_numpy(),
                "sector": src["sector"].to_numpy(), "action_type": kind, "persons": 0,
                "fine_yuan": (self.rng.choice(FINE_AMOUNTS, len(src), p=FINE_P)
                              if kind == "fine" else 0)}))
        for action in CLOSURE_ACTIONS + DETENTION_ACTIONS:
            windows = self.grid.windows_for(action)
            rate = self.p.rates["detention_persons" if action in DETENTION_ACTIONS
                                else "closures_per_type"]
            intensity = self.grid.calibrate(self.grid.intensity(rate), windows)
            counts = self.grid.allocate(intensity, windows)
            if action in DETENTION_ACTIONS:
                county, day, persons = self._split_persons(counts)
            else:
                county, day = self.grid.cells_to_rows(counts)
                persons = np.zeros(len(county), int)
            sector = (np.full(len(county), CLOSURE_SECTOR[action], object)
                      if action in CLOSURE_SECTOR else self.grid.sector_sample(county))
            frames.append(pd.DataFrame({
                "date": self.days[day], "adcode": np.array(self.counties)[county],
                "enterprise_id": None, "sector": sector, "action_type": action,
                "persons": persons, "fine_yuan": 0}))
        actions = pd.concat(frames, ignore_index=True)
        actions["date"] = pd.to_datetime(actions["date"])
        self._calibrate_fines(actions)
        actions = actions.sort_values(["date", "adcode", "action_type"], kind="stable",
                                      ignore_index=True)
        by_day = joint.drop_duplicates(["adcode", "date"]).set_index(["adcode", "date"])
        key = pd.MultiIndex.from_arrays([actions["adcode"], actions["date"]])
        link = by_day["joint_operation_id"].reindex(key).to_numpy()
        actions["joint_operation_id"] = np.where(
            actions["action_type"].isin(CLOSURE_ACTIONS + DETENTION_ACTIONS), link, None)
        actions.insert(0, "action_id", [f"EA{i:07d}" for i in range(1, len(actions) + 1)])
        actions["target_name"] = self._targets(actions, e)
        return actions

    def _targets(self, actions: pd.DataFrame, e: pd.DataFrame) -> np.ndarray:
        """Who an action was against: the enterprise's name, or for an illegal unit (never
        in a register) a numbered fictional one of its county; none for a detention."""
        names = actions["enterprise_id"].map(dict(zip(e["enterprise_id"], e["name"])))
        short = {a: short_name(n) for a, n in zip(self.counties, self.regions["name_zh"])}
        illegal = actions["action_type"].isin(CLOSURE_ACTIONS).to_numpy()
        number = actions[illegal].groupby(["adcode", "action_type"], observed=True).cumcount() + 1
        names[illegal] = [f"（演示）{short[a]}{ILLEGAL_TARGETS[t]}{k}号" for a, t, k in zip(
            actions.loc[illegal, "adcode"], actions.loc[illegal, "action_type"], number)]
        return names.to_numpy(object)

    def _split_persons(self, counts: np.ndarray):
        """Each county-day's detained persons become actions of 1–3 persons each."""
        rows = []
        for c, d in zip(*np.nonzero(counts)):
            total = int(counts[c, d])
            while total > 0:
                size = min(total, int(self.rng.integers(1, 4)))
                rows.append((c, d, size))
                total -= size
        columns = np.array(rows, int).reshape(-1, 3).T
        return columns[0], columns[1], columns[2]

    def _calibrate_fines(self, actions: pd.DataFrame) -> None:
        """Fine amounts in a window with a fines_yuan figure add up to it exactly."""
        county = pd.Index(self.counties).get_indexer(actions["adcode"])
        day = self.days.get_indexer(actions["date"])
        for w in self.grid.windows_for("fines_yuan"):
            target = int(w.target)
            rows = np.flatnonzero(w.counties[county] & (day >= w.first) & (day <= w.last)
                                  & (actions["action_type"] == "fine").to_numpy())
            unit = next(u for u in (1000, 100, 1) if target % u == 0)
            units = target // unit
            if len(rows) == 0 or len(rows) > units:
                raise UserError(f"{self.p.path}: fines_yuan = {target} does not fit the "
                                f"{len(rows)} fines drawn in its window; change the seed or rates")
            weights = actions.loc[rows, "fine_yuan"].to_numpy(float)
            share = self.rng.multinomial(units - len(rows), weights / weights.sum())
            actions.loc[rows, "fine_yuan"] = (1 + share) * unit

    def accidents(self) -> pd.DataFrame:
        intensity = self.grid.intensity(self.p.rates["accidents"], weekdays=False)
        county, day = self.grid.cells_to_rows(self.grid.allocate(intensity, []))
        n = len(county)
        deaths = self.rng.choice([0, 1, 2, 3], n, p=[0.55, 0.35, 0.07, 0.03])
        acc = pd.DataFrame({"date": self.days[day], "adcode": np.array(self.counties)[county],
                            "sector": self.grid.sector_sample(county), "deaths": deaths,
                            "injuries": self.rng.poisson(0.8, n)})
        for w in self.grid.windows:
            if w.kind == "lt_same_period_last_year" and w.metric in ("accidents", "deaths"):
                acc = self._fewer_than_last_year(acc, w)
        acc = acc.sort_values(["date", "adcode"], ignore_index=True)
        acc["level"] = np.where(acc["deaths"] >= 3, "larger", "ordinary")
        acc["direct_loss_yuan"] = (np.round(
            (80_000 + 1_200_000 * acc["deaths"] + 60_000 * acc["injuries"])
            * self.rng.lognormal(0, 0.3, len(acc)), -3)).astype("int64")
        acc.insert(0, "accident_id", [f"ACC{i:06d}" for i in range(1, len(acc) + 1)])
        return acc[["accident_id", "date", "adcode", "sector", "level", "deaths", "injuries",
                    "direct_loss_yuan"]]

    def _fewer_than_last_year(self, acc: pd.DataFrame, w: Window) -> pd.DataFrame:
        """Remove (or lighten) accidents of the window until it is below the year before."""
        start, end = self.days[w.first], self.days[w.last]
        scope = np.array(self.counties)[w.counties]

        def in_period(frame, shift):
            s, t = start - pd.DateOffset(years=shift), end - pd.DateOffset(years=shift)
            return frame["adcode"].isin(scope) & (frame["date"] >= s) & (frame["date"] <= t)

        def value(frame, shift):
            rows = frame[in_period(frame, shift)]
            return len(rows) if w.metric == "accidents" else int(rows["deaths"].sum())

        while value(acc, 0) >= value(acc, 1):
            now = acc.index[in_period(acc, 0)]
            if w.metric == "accidents" and len(now):
                acc = acc.drop(self.rng.choice(now))
            elif w.metric == "deaths" and acc.loc[now, "deaths"].sum() > 0:
                fatal = now[acc.loc[now, "deaths"].to_numpy() > 0]
                acc.loc[self.rng.choice(fatal), "deaths"] -= 1
            else:  # nothing left to remove: the year before gets one more
                day = self.rng.integers(w.first, w.last + 1)
                acc = pd.concat([acc, pd.DataFrame({
                    "date": [self.days[day] - pd.DateOffset(years=1)], "adcode": [scope[0]],
                    "sector": ["industry_trade"], "deaths": [1], "injuries": [0]})],
                    ignore_index=True)
        return acc.reset_index(drop=True)

    def run(self) -> dict[str, pd.DataFrame]:
        enterprises = self.enterprises()
        sites = self.major_hazard_sites(enterprises)
        inspections = self.inspections(enterprises)
        joint = self.joint_operations(enterprises, inspections)
        hazards = self.hazards(inspections)
        actions = self.enforcement_actions(enterprises, inspections, hazards, joint)
        tables = {"enterprises": enterprises, "major_hazard_sites": sites,
                  "sensors": sensor_feed.sensors(sites, self.seed),
                  "inspections": inspections, "joint_operations": joint, "hazards": hazards,
                  "enforcement_actions": actions, "accidents": self.accidents()}
        check = ref.compare(tables, self.p.reference, self.p.city, self.counties)
        if len(check) and not check["matches"].all():  # a bug here, not a user error
            raise AssertionError("demo calibration failed:\n"
                                 + check[~check["matches"]].to_string())
        return tables


JOINT_DEPARTMENTS = ["market_regulation", "fire_rescue", "ecology_environment",
                      "public_security", "health", "transport", "housing_construction",
                      "commerce"]


def campaign_of(dates: pd.DatetimeIndex) -> np.ndarray:
    """The inspection campaign a date falls in (resumption only in the 2020 epidemic spring)."""
    md = dates.month * 100 + dates.day
    resumption = (dates >= pd.Timestamp("2020-02-10")) & (dates <= pd.Timestamp("2020-05-31"))
    return np.select([resumption, dates.month == 6, (md >= 1215) | (md <= 131)],
                     ["resumption", "safety_month", "year_end"], "routine")


MONITORING_DAYS = 2


def monitoring_feed(tables: dict[str, pd.DataFrame], seed: int = 2020):
    """Simulated readings of the demo's sensors for the ``MONITORING_DAYS`` days up to the
    day the last installation was connected, so that the feed ends with the register's
    online status (the bulletin's 10 of 11)."""
    sites = tables["major_hazard_sites"]
    last = pd.Timestamp(sites["online_since"].max()).normalize()
    start = last - pd.Timedelta(days=MONITORING_DAYS - 1)
    return sensor_feed.readings(tables["sensors"], sites, start, MONITORING_DAYS, seed=seed)


def generate(profile: Profile, regions, seed: int = 2020) -> dict[str, pd.DataFrame]:
    """All record tables for ``profile`` over the counties of ``regions``, deterministic in
    ``seed``. Raises UserError if the profile's figures cannot be met."""
    return Generator(profile, regions, seed).run()

"""Synthetic province-scale records, for benchmarks only: N inspections over many fictional
counties and years, with proportional hazards (about one per inspection) and enforcement
actions (about one per twenty), written straight to the store in chunks so that memory stays
flat at any N. Counties are squares on a grid (adcodes ``99xxyy``, names 演示县001…), so the
data can never be mistaken for a real place.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from safetyviz.core.vocab import (
    ACTION_TYPES,
    CAMPAIGNS,
    DEPARTMENTS,
    HAZARD_CATEGORIES,
    HAZARD_LEVELS,
    SECTORS,
)
from safetyviz.data import store
from safetyviz.data.regions import write_boundaries

PROVINCE = "990000"
CHUNK = 2_000_000  # inspections generated and written at a time
HAZARDS_PER_INSPECTION = 1.0
ACTIONS_PER_INSPECTION = 0.05
ENTERPRISES_PER_COUNTY = 400
OPEN_SHARE = 0.08  # hazards never rectified
LISTED_SHARE = 0.02
MAJOR_SHARE = 0.04


def province_regions(counties: int):
    """``counties`` square counties on a 0.2° grid, as the regions table."""
    import geopandas as gpd

    width = int(np.ceil(np.sqrt(counties)))
    rows = []
    for i in range(counties):
        x, y = 110 + 0.2 * (i % width), 32 + 0.2 * (i // width)
        rows.append({"adcode": f"99{i // 99 + 1:02d}{i % 99 + 1:02d}",
                     "name_zh": f"演示县{i + 1:03d}", "name_en": f"Demo County {i + 1}",
                     "aliases": "", "parent_adcode": PROVINCE, "parent_name_zh": "演示省",
                     "geometry": shapely.box(x, y, x + 0.2, y + 0.2)})
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


def _codes(vocabulary, indices: np.ndarray) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32)),
                                          pa.array(list(vocabulary)))


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32), type=pa.int32()).cast(pa.date32())


def _ids(prefix: str, start: int, n: int) -> pa.Array:
    return pa.array(np.char.add(prefix, np.arange(start, start + n).astype("U12")).astype(object),
                    type=pa.string())


class ProvinceGenerator:
    """Chunks of inspections with their hazards and actions; every draw comes from one seeded
    generator, so the same arguments give the same files."""

    def __init__(self, counties: int, years: int, seed: int, last_year: int):
        self.rng = np.random.default_rng(seed)
        self.adcodes = np.array([f"99{i // 99 + 1:02d}{i % 99 + 1:02d}" for i in range(counties)])
        first = dt.date(last_year - years + 1, 1, 1)
        self.first_day = (first - dt.date(1970, 1, 1)).days
        self.days = (dt.date(last_year, 12, 31) - first).days + 1
        self.sector_p = self.rng.dirichlet(np.full(len(SECTORS), 2.0))
        self.county_weight = self.rng.gamma(3.0, 1.0, counties)
        self.county_weight /= self.county_weight.sum()
        self.enterprises = counties * ENTERPRISES_PER_COUNTY

    def chunk(self, start: int, n: int) -> dict[str, pa.Table]:
        rng = self.rng
        county = rng.choice(len(self.adcodes), n, p=self.county_weight)
        day = self.first_day + rng.integers(0, self.days, n)
        sector = rng.choice(len(SECTORS), n, p=self.sector_p)
        enterprise = county * ENTERPRISES_PER_COUNTY + rng.integers(0, ENTERPRISES_PER_COUNTY, n)
        order = np.argsort(day, kind="stable")  # date order: tight row-group statistics
        county, day, sector, enterprise = county[order], day[order], sector[order], \
            enterprise[order]
        adcode = pa.array(self.adcodes[county].astype(object), type=pa.string())
        inspection_ids = _ids("PI", start, n)
        inspections = pa.table({
            "inspection_id": inspection_ids, "date": _dates(day), "adcode": adcode,
            "enterprise_id": pa.array(np.char.add("PE", enterprise.astype("U9")).astype(object),
                                      type=pa.string()),
            "sector": _codes(SECTORS, sector),
            "department": _codes(DEPARTMENTS, rng.integers(0, 4, n)),
            "joint_operation_id": pa.nulls(n, pa.string()),
            "campaign": _codes(CAMPAIGNS, np.zeros(n, np.int32))},
            schema=store.SCHEMAS["inspections"])

        per = rng.poisson(HAZARDS_PER_INSPECTION, n)
        source = np.repeat(np.arange(n), per)
        m = len(source)
        found = day[source]
        deadline = found + rng.integers(7, 31, m)
        rectified = found + np.minimum(rng.geometric(1 / 15, m), 400)
        still_open = rng.random(m) < OPEN_SHARE
        hazards = pa.table({
            "hazard_id": _ids("PH", start * 2, m),
            "inspection_id": inspection_ids.take(pa.array(source)),
            "enterprise_id": inspections["enterprise_id"].take(pa.array(source)),
            "adcode": adcode.take(pa.array(source)),
            "sector": _codes(SECTORS, sector[source]), "found_date": _dates(found),
            "level": _codes(HAZARD_LEVELS, np.where(rng.random(m) < MAJOR_SHARE,
                                                    list(HAZARD_LEVELS).index("major"),
                                                    list(HAZARD_LEVELS).index("general"))),
            "category": _codes(HAZARD_CATEGORIES,
                               rng.integers(0, len(HAZARD_CATEGORIES), m)),
            "deadline": _dates(deadline),
            "rectified_date": pa.array(rectified.astype(np.int32), mask=still_open)
            .cast(pa.date32()),
            "listed_supervision": pa.array(rng.random(m) < LISTED_SHARE)},
            schema=store.SCHEMAS["hazards"])

        acting = np.flatnonzero(rng.random(n) < ACTIONS_PER_INSPECTION)
        k = len(acting)
        kinds = rng.integers(0, len(ACTION_TYPES), k)
        fine = np.where(np.array(list(ACTION_TYPES))[kinds] == "fine",
                        rng.choice([1000, 5000, 10000, 30000], k), 0)
        actions = pa.table({
            "action_id": _ids("PA", start, k), "date": _dates(day[acting]),
            "adcode": adcode.take(pa.array(acting)),
            "enterprise_id": inspections["enterprise_id"].take(pa.array(acting)),
            "target_name": pa.nulls(k, pa.string()),
            "sector": _codes(SECTORS, sector[acting]),
            "action_type": _codes(ACTION_TYPES, kinds),
            "persons": pa.array(rng.integers(0, 3, k), pa.int32()).cast(
                store.SCHEMAS["enforcement_actions"].field("persons").type),
            "fine_yuan": pa.array(fine.astype(np.int64)),
            "joint_operation_id": pa.nulls(k, pa.string())},
            schema=store.SCHEMAS["enforcement_actions"])
        return {"inspections": inspections, "hazards": hazards, "enforcement_actions": actions}


def _by_year(table: pa.Table, date: str) -> dict[int | None, pa.Table]:  # write_parts' keys
    years = pc.year(table[date]).to_numpy()
    if len(years) and np.all(years[:-1] <= years[1:]):  # sorted: slices, no copies
        bounds = np.flatnonzero(np.diff(years)) + 1
        starts, stops = np.r_[0, bounds], np.r_[bounds, len(years)]
        return {int(years[a]): table.slice(a, b - a) for a, b in zip(starts, stops)}
    return {int(y): table.filter(pc.equal(table[date], y)) for y in np.unique(years)}


def write_province(data_dir: Path, records: int, counties: int = 150, years: int = 10,
                   seed: int = 2020, last_year: int = 2024) -> dict[str, int]:
    """Replace the store of ``data_dir`` (and its regions) with synthetic province data of
    ``records`` inspections; returns the row count of each table written. Chunks are staged
    under ``store/.staging`` and each table is then published atomically."""
    data_dir = Path(data_dir)
    write_boundaries(province_regions(counties), data_dir / "regions" / "boundaries.geojson")
    generator = ProvinceGenerator(counties, years, seed, last_year)
    staging = store.store_dir(data_dir) / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    counts: dict[str, int] = {}
    for number, start in enumerate(range(0, records, CHUNK)):
        for table, arrow in generator.chunk(start, min(CHUNK, records - start)).items():
            store.write_parts(staging / table, f"chunk-{number:04d}",
                              _by_year(arrow, store.PARTITION_DATE[table]))
            counts[table] = counts.get(table, 0) + len(arrow)
    for table in counts:
        store.publish(store.store_dir(data_dir) / table, _adopt(staging / table))
    shutil.rmtree(staging, ignore_errors=True)
    n = generator.enterprises
    store.replace_table(data_dir, "enterprises", pd.DataFrame({
        "enterprise_id": [f"PE{i}" for i in range(n)],
        "name": [f"演示企业{i}（演示）" for i in range(n)],
        "adcode": np.repeat(generator.adcodes, ENTERPRISES_PER_COUNTY),
        "sector": "industry_trade", "scale": "below", "licence": "none", "risk_level": "blue",
        "dual_prevention": "none", "lon": np.nan, "lat": np.nan, "credit_code": None,
        "aliases": None, "registered": True, "batch": "synthetic", "closed_on": pd.NaT}))
    counts["enterprises"] = n
    for table in ("joint_operations", "accidents", "major_hazard_sites"):
        store.replace_table(data_dir, table, store.SCHEMAS[table].empty_table().to_pandas())
    return counts


def _adopt(folder: Path):
    """A ``publish`` build step that moves the staged files into the new version."""
    def build(new: Path, old: Path | None) -> None:
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.parquet"))
        for relative in files:
            (new / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).rename(new / relative)
        store.write_manifest(new, {"batches": {"synthetic": {"files": files}}})
    return build

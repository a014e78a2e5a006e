"""Cube build at scale: safetyviz (Dask, local threads) against DuckDB computing the same
aggregates from the same Parquet files, in the same run; both results must be identical.

For each size, synthetic province data (``safetyviz demo --scale province``) of about that
many inspection + hazard records is written once under --root and reused. Each engine runs in
its own process, so its peak memory (max RSS) is its own; both turn their aggregates into the
cube's arrays with the same code, which is timed as part of each build. Also measured on the
largest store: an incremental cube update after ingesting one day of city data (about 150
records) and a cube slice (one metric, one county, all months). Prints a table and writes
benchmarks/results/cube.json.

    python benchmarks/cube.py [--sizes 1M,10M,50M] [--root /tmp/safetyviz-bench]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time
import timeit
from pathlib import Path

import numpy as np

TABLES = {"inspections", "hazards"}
NEVER = 10**6

# The cube's aggregates (safetyviz.analysis.cube.aggregate) for inspections and hazards, in SQL:
# the additive variables' from their entries (vocab.CubeVariable), the others by hand.
MONTH = "(year({0}) * 12 + month({0}) - 1)"
VIEWS = {"inspections": "ins", "hazards": "hz"}


def additive_query(var) -> str:
    """The SQL of an additive cube variable, written from its entry alone."""
    value = "count(*)" if var.value == "count" else f"sum(coalesce({var.column}, 0))"
    where = [f"{var.date} is not null", *(
        f"{column}::varchar in ({', '.join(repr(v) for v in values)})"
        for column, values in var.where)]
    sector = ", sector::varchar as sector" if var.by_sector else ""
    return (f"select adcode, {MONTH.format(var.date)} as month{sector}, {value} as n "
            f"from {VIEWS[var.table]} where {' and '.join(where)} group by all")


SPECIAL_QUERIES = {
    "enterprises_inspected": """
        select adcode, {m} as month, sector::varchar as sector,
               count(distinct enterprise_id) as n
        from ins where enterprise_id is not null group by all""",
    "open_spans": """
        select adcode, sector::varchar as sector, {f} as month,
               coalesce({r}, {never}) as rectified_month, count(*) as n
        from hz group by all""",
    "overdue_spans": """
        select adcode, sector::varchar as sector, {d} as overdue_month,
               coalesce({r}, {never}) as rectified_month, count(*) as n
        from hz group by all""",
    "listed_spans": """
        select adcode, sector::varchar as sector, {f} as month,
               coalesce({r}, {never}) as rectified_month, count(*) as n
        from hz where listed_supervision group by all""",
    "rectify_days": """
        select adcode, {r} as month, sector::varchar as sector,
               datediff('day', found_date, rectified_date) as days, count(*) as n
        from hz where rectified_date is not null group by all""",
}


def queries() -> dict[str, str]:
    from safetyviz.core.vocab import CUBE_VARIABLES

    return {**{var.name: additive_query(var) for var in CUBE_VARIABLES
               if var.additive and var.table in VIEWS}, **SPECIAL_QUERIES}


def _units(size: str) -> int:
    return int(float(size[:-1]) * {"K": 1e3, "M": 1e6}[size[-1].upper()]) \
        if size[-1].isalpha() else int(size)


def prepare(root: Path, records: int) -> Path:
    """A data dir with about ``records`` inspections + hazards (written once, then reused)."""
    from safetyviz.data.catalog import ensure_catalog
    from safetyviz.synth.synthetic import HAZARDS_PER_INSPECTION, write_province

    folder = root / f"records-{records}"
    done = folder / "written.json"
    if not done.exists():
        start = time.perf_counter()
        counts = write_province(folder, round(records / (1 + HAZARDS_PER_INSPECTION)))
        ensure_catalog(folder)
        done.write_text(json.dumps({"counts": counts,
                                    "seconds": time.perf_counter() - start}))
    return folder


def run_safetyviz(folder: Path) -> dict:
    from safetyviz.analysis.cube import build_cube
    from safetyviz.data.catalog import ensure_catalog, open_catalog
    from safetyviz.data.engine import lean_allocators

    lean_allocators()  # as `safetyviz cube` does

    cube = build_cube(open_catalog(ensure_catalog(folder)), TABLES)
    return {name: cube[name].values for name in cube.data_vars}


def run_duckdb(folder: Path) -> dict:
    import duckdb
    import pandas as pd

    from safetyviz.analysis.cube import _arrays
    from safetyviz.core.vocab import SECTORS
    from safetyviz.data.catalog import ensure_catalog, open_catalog
    from safetyviz.data.loading import load_regions

    con = duckdb.connect()
    for view, table in (("ins", "inspections"), ("hz", "hazards")):
        con.execute(f"create view {view} as select * from read_parquet("
                    f"'{folder}/store/{table}/**/*.parquet', hive_partitioning = false)")
    fields = {"m": MONTH.format("date"), "f": MONTH.format("found_date"),
              "r": MONTH.format("rectified_date"),
              "d": MONTH.format("deadline + interval 1 day"), "never": NEVER}
    adcodes = list(load_regions(open_catalog(ensure_catalog(folder)), geometry=False)["adcode"])
    sectors = list(SECTORS)
    aggregates = {}
    for name, sql in queries().items():
        frame = con.execute(sql.format(**fields)).df()
        # The cube's arrays take adcode and sector as positions.
        frame["adcode"] = pd.Index(adcodes).get_indexer(frame["adcode"])
        frame["sector"] = pd.Index(sectors).get_indexer(frame["sector"])
        aggregates[name] = frame
    months_seen = pd.concat([f["month"] for f in aggregates.values() if "month" in f])
    months = np.arange(months_seen.min(), months_seen.max() + 1)
    return _arrays(aggregates, adcodes, months, sectors)


def _child(method: str, folder: str, out: str) -> None:
    # Imports are a fixed cost, outside the clock; each engine imports only its own.
    if method == "duckdb":
        import duckdb  # noqa: F401
    import safetyviz.analysis.cube  # noqa: F401

    start = time.perf_counter()
    arrays = {"safetyviz": run_safetyviz, "duckdb": run_duckdb}[method](Path(folder))
    seconds = time.perf_counter() - start
    np.savez(out, **arrays)
    # A file, not a queue: the message must survive however the interpreter exits.
    Path(out).with_suffix(".json").write_text(json.dumps({
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(method: str, folder: Path) -> tuple[dict, dict]:
    out = folder / f"result-{method}.npz"
    for stale in (out, out.with_suffix(".json")):
        stale.unlink(missing_ok=True)
    process = mp.get_context("spawn").Process(target=_child,
                                              args=(method, str(folder), str(out)))
    process.start()
    process.join()
    if not out.with_suffix(".json").exists():
        raise SystemExit(f"{method} failed on {folder} (exit code {process.exitcode})")
    result = json.loads(out.with_suffix(".json").read_text())
    with np.load(out) as arrays:
        return result, {k: arrays[k] for k in arrays.files}


def same(a: dict, b: dict) -> list[str]:
    """Variables that differ (both engines computed them)."""
    return [k for k in sorted(set(a) & set(b))
            if not np.array_equal(a[k], b[k], equal_nan=np.issubdtype(a[k].dtype, np.floating))]


def incremental_and_slice(folder: Path) -> dict:
    """One day of city data ingested into the largest store (cube updated incrementally), and
    one cube slice."""
    import shutil
    import tempfile

    from safetyviz.analysis.cube import build_cube, write_cube
    from safetyviz.data.catalog import ensure_catalog, open_catalog
    from safetyviz.data.loading import load_cube
    from safetyviz.ingest.ledgers import ingest

    cat = open_catalog(ensure_catalog(folder))
    if not (folder / "cube" / "cube.zarr").exists():
        write_cube(build_cube(cat, TABLES), folder)
    day = Path(tempfile.mkdtemp()) / "one_day.csv"
    rng = np.random.default_rng(1)
    lines = ["检查编号,检查日期,所属县区,行业"] + [
        f"DAY-{int(time.time())}-{i},2024-06-03,演示县{rng.integers(1, 151):03d},工贸"
        for i in range(150)]
    day.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import safetyviz.ingest.ledgers

    cube_seconds = []
    refresh = safetyviz.ingest.ledgers.refresh_cube

    def timed_refresh(*args, **kwargs):  # the cube's share of the ingest
        begin = time.perf_counter()
        result = refresh(*args, **kwargs)
        cube_seconds.append(time.perf_counter() - begin)
        return result

    safetyviz.ingest.ledgers.refresh_cube = timed_refresh
    start = time.perf_counter()
    report = ingest(day, table="inspections", data_dir=folder)
    ingest_seconds = time.perf_counter() - start
    safetyviz.ingest.ledgers.refresh_cube = refresh
    assert report.accepted == 150, report.summary()
    shutil.rmtree(day.parent)
    cube = load_cube(open_catalog(ensure_catalog(folder)))
    county = str(cube["adcode"].values[0])
    runs = timeit.repeat(lambda: cube["inspections"].sel(adcode=county).sum("sector").values,
                         number=100, repeat=5)
    return {"ingest_150_rows_with_cube_update_s": ingest_seconds,
            "cube_update_s": sum(cube_seconds), "cube_slice_ms": min(runs) / 100 * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,10M,50M",
                        help="inspection + hazard records per store (default 1M,10M,50M)")
    parser.add_argument("--root", default="/tmp/safetyviz-bench",
                        help="where the synthetic stores are written and reused")
    args = parser.parse_args()
    root = Path(args.root)
    rows = []
    for size in args.sizes.split(","):
        folder = prepare(root, _units(size))
        written = json.loads((folder / "written.json").read_text())["counts"]
        records = written["inspections"] + written["hazards"]
        ours, our_arrays = measure("safetyviz", folder)
        theirs, their_arrays = measure("duckdb", folder)
        differ = same(our_arrays, their_arrays)
        rows.append({"records": records, "safetyviz": ours, "duckdb": theirs,
                     "ratio": ours["seconds"] / theirs["seconds"], "differ": differ,
                     "compared": sorted(set(our_arrays) & set(their_arrays))})
        print(f"{records:,} records: safetyviz {ours['seconds']:.1f} s, "
              f"{ours['peak_rss_mb']:,.0f} MB; duckdb {theirs['seconds']:.1f} s, "
              f"{theirs['peak_rss_mb']:,.0f} MB; identical: {not differ}", flush=True)
    extra = incremental_and_slice(folder)
    print()
    print(f"{'records':>12} {'engine':<10} {'seconds':>8} {'peak RSS MB':>12} "
          f"{'× duckdb':>9} {'identical':>10}")
    for row in rows:
        for engine in ("safetyviz", "duckdb"):
            r = row[engine]
            ratio = f"{row['ratio']:.2f}" if engine == "safetyviz" else ""
            same_text = ("yes" if not row["differ"] else "NO: " + ",".join(row["differ"])) \
                if engine == "safetyviz" else ""
            print(f"{row['records']:>12,} {engine:<10} {r['seconds']:>8.2f} "
                  f"{r['peak_rss_mb']:>12,.0f} {ratio:>9} {same_text:>10}")
    print(f"\non the {rows[-1]['records']:,}-record store: ingest of one day (150 rows) "
          f"{extra['ingest_150_rows_with_cube_update_s']:.2f} s in all, of which the "
          f"incremental cube update {extra['cube_update_s']:.2f} s; cube slice "
          f"(one metric, one county, all months) {extra['cube_slice_ms']:.3f} ms")
    print("targets: build ≤ 1.5 × duckdb at 10M and 50M; peak < 1,500 MB at 50M; "
          "update < 1 s; slice < 2 ms")
    out = Path(__file__).parent / "results" / "cube.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"builds": rows, **extra}, indent=2))


if __name__ == "__main__":
    main()

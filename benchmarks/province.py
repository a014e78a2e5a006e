"""The overview of a whole province against a city's, measured by the server's CPU.

A province's demo (``safetyviz demo --province``, every city and county-level unit on its
real boundaries) and the city demo are each served by ``safetyviz serve`` (warmed, as the
product runs); one client at a time opens pages as a browser does and changes selections,
and the server's CPU (every thread, from /proc/PID/task/*/schedstat) is counted until it
is quiet again, its idle CPU counted out. Reported, p50 / p90:

1. Opening the overview: the city's (city demo), the province's (its cities on the map) and
   one city's inside the province (``?city=``, the drill-down from the province is this
   page load) — target: the province's ≤ 2× the city's.
2. A change of metric on the province's overview (the map recoloured, the ranking and the
   cards anew) — target ≤ 50 ms — and of period.
3. The drill-down city → county: on a city's overview inside the province, a county chosen
   (by its selector or a click on the map: the same change) — target ≤ 300 ms.

Prints a table and writes benchmarks/results/province.json.

    python benchmarks/province.py [--province 410000] [--size 1.0] [--opens 12]
                                  [--changes 16] [--root /tmp/safetyviz-bench]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

from safetyviz.data.catalog import open_catalog
from safetyviz.data.loading import load_regions, load_table

sys.path.insert(0, str(Path(__file__).parent))
from dashboard import (  # noqa: E402
    Server,
    cpu_ns,
    is_period,
    opened_whole,
    p50,
    prepare_city,
    safetyviz,
    select_where,
)

QUIET = 0.3


def prepare_province(root: Path, province: str, size: float) -> Path:
    """The province's demo, written once under ``root``."""
    data = root / f"province-{province}-{size:g}"
    if not (data / "cube" / "cube.zarr").exists():
        safetyviz("demo", "--province", province, "--size", f"{size:g}", "--data-dir",
                  str(data))
    return data


async def idle_per_s(pid: int) -> float:
    start = cpu_ns(pid)
    await asyncio.sleep(2)
    return (cpu_ns(pid) - start) / 2


async def opens(url: str, pid: int, count: int) -> list[float]:
    """Server CPU (ns) of each of ``count`` sessions of ``url`` opened whole, one at a
    time, after two that warm the caches."""
    for _ in range(2):
        (await opened_whole(url)).close()
    await asyncio.sleep(1)
    idle = await idle_per_s(pid)
    used = []
    for _ in range(count):
        start, began = cpu_ns(pid), time.perf_counter()
        session = await opened_whole(url)
        used.append(cpu_ns(pid) - start - idle * (time.perf_counter() - began))
        session.close()
        await asyncio.sleep(0.2)
    return used


def metric_and_period(session) -> dict[str, list[tuple[str, str]]]:
    """The province overview's changes: of the metric (the map recoloured) and the period."""
    metric_id, metrics = select_where(session, lambda v: "fines_yuan" in v)
    period_id, periods = select_where(session, lambda v: any(map(is_period, v)))
    return {"metric": [(metric_id, m) for m in ["fines_yuan", "closures", "hazards_found",
                                                 "inspections"]],
            "period": [(period_id, p) for p in [p for p in periods if is_period(p)][:3]]}


def counties_of(city: str):
    """A city's overview inside the province: its counties chosen in turn (the drill-down
    city → county: the county's cards, series and sectors) and the city again."""
    def plan(session) -> dict[str, list[tuple[str, str]]]:
        county_id, counties = select_where(session, lambda v: city in v)
        units = [c for c in counties if c != city][:3]
        return {"county": [(county_id, c) for c in [*units, city]]}
    return plan


async def changes(url: str, pid: int, count: int, plan_of) -> dict[str, list[float]]:
    """Server CPU (ns) of the changes ``plan_of(session)`` names ({kind: [(model id, value)
    …]}) on one session of ``url``, each kind's ``count`` in turn, each selection's first
    (drawn for everyone) and later ones apart."""
    session = await opened_whole(url)
    idle = await idle_per_s(pid)
    out: dict[str, list[float]] = {}
    seen: set = set()
    for kind, steps in plan_of(session).items():
        for n in range(count):
            model_id, value = steps[n % len(steps)]
            start = cpu_ns(pid)
            await session.send({"kind": "ModelChanged", "model": {"id": model_id},
                                "attr": "value", "new": value})
            last, _ = await session.quiet(QUIET)
            used = cpu_ns(pid) - start - idle * (last + QUIET)
            out.setdefault(f"{kind}_{'warm' if (model_id, value) in seen else 'first'}",
                           []).append(used)
            seen.add((model_id, value))
    session.close()
    return out


def summary(values: list[float]) -> dict:
    """p50 and p90 in ms; a figure below the server's idle CPU over the same time (counted
    out) is 0: too small to tell from it."""
    ms = [max(v, 0) / 1e6 for v in values]
    return {"p50_ms": round(p50(ms), 1),
            "p90_ms": round(statistics.quantiles(ms, n=10)[-1], 1) if len(ms) > 1 else None,
            "n": len(ms)}


async def run(args) -> dict:
    root = Path(args.root)
    city, province = prepare_city(root), prepare_province(root, args.province, args.size)
    with Server([], city) as served:
        city_open = await opens(served.url("overview"), served.process.pid, args.opens)
    with Server([], province) as served:
        url, pid = served.url("overview"), served.process.pid
        province_open = await opens(url, pid, args.opens)
        drill = await opens(f"{url}?city={args.city}", pid, args.opens)
        changed = await changes(url, pid, args.changes, metric_and_period)
        changed |= await changes(f"{url}?city={args.city}", pid, args.changes,
                                 counties_of(args.city))
    catalog = open_catalog(province / "catalog.yaml")
    records = sum(len(load_table(table, ["adcode"], catalog))
                  for table in ("inspections", "hazards", "enforcement_actions"))
    result = {"province": args.province, "size": args.size, "records": records,
              "units": len(load_regions(catalog, geometry=False)),
              "city_overview_open": summary(city_open),
              "province_overview_open": summary(province_open),
              "city_in_province_open": summary(drill),
              **{name: summary(values) for name, values in changed.items()}}
    result["open_ratio"] = round(result["province_overview_open"]["p50_ms"]
                                 / result["city_overview_open"]["p50_ms"], 2)
    return result


def table(result: dict) -> str:
    def row(name, key, target=""):
        figures = result.get(key)
        if not figures:
            return f"{name:<64} —"
        p90 = "—" if figures["p90_ms"] is None else f"{figures['p90_ms']:.0f}"
        return f"{name:<64} {figures['p50_ms']:>6.0f} / {p90:>5} ms  {target}"
    return "\n".join([
        f"province {result['province']} demo at size {result['size']:g}: {result['units']} "
        f"county-level units, {result['records']:,} records (inspections, hazards, actions)",
        f"{'server CPU, p50 / p90':<64} {'':>15}  target",
        row("open: the city's overview (city demo)", "city_overview_open"),
        row("open: the province's overview", "province_overview_open",
            f"≤ 2× the city's: {result['open_ratio']:.2f}×"),
        row("open: a city inside the province (drill-down province → city)",
            "city_in_province_open"),
        row("province overview: metric change (map recoloured)", "metric_warm", "≤ 50 ms"),
        row("  … a metric none had shown yet", "metric_first"),
        row("province overview: period change", "period_warm"),
        row("  … a period none had shown yet", "period_first"),
        row("a city's overview: a county chosen (drill-down city → county)", "county_warm",
            "≤ 300 ms"),
        row("  … a county none had shown yet", "county_first", "≤ 300 ms"),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--province", default="410000")
    parser.add_argument("--city", default="411000", help="the city drilled into")
    parser.add_argument("--size", type=float, default=1.0)
    parser.add_argument("--opens", type=int, default=12)
    parser.add_argument("--changes", type=int, default=16)
    parser.add_argument("--root", default="/tmp/safetyviz-bench")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(table(result))
    out = Path(__file__).parent / "results" / "province.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

"""Server CPU per session open of two versions of the code, alternating, in the same run.

On a shared machine one open's CPU varies by more than a change worth making (160–300 ms
for the same overview open here), and the machine's speed drifts by the minute, so two
benchmark runs an hour apart compare the hours, not the code. This serves the demo city
twice with ``safetyviz serve`` — the working tree's code, and ``--against``'s (another
checkout's ``src``, e.g. ``git worktree add /tmp/base HEAD~1``) — warms both, then opens
each app on the two servers in turn, alternating which goes first, one client at a time,
and counts the server's CPU (every thread, benchmarks/dashboard.py's ``cpu_ns``) from the
page request until the server is quiet after the plots (with ``--scrolled``, after what is
built only once scrolled to). Prints p50, mean and fastest open of
each version and app, and the change from the baseline.

    python benchmarks/ab_open.py --against /tmp/base/src [--opens 60] [--apps overview,county]
                                 [--scrolled]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path

from dashboard import Server, _rows, cpu_ns, opened_whole, prepare_city


async def alternate(city: Path, against: Path, apps: list[str], opens: int,
                    scrolled: bool = False) -> dict:
    """Each app's open CPU (ms) on the baseline's server and this code's, alternating."""
    with Server([], city, env={"PYTHONPATH": str(against)}) as baseline, \
            Server([], city) as this:
        servers = {"baseline": baseline, "this code": this}
        result: dict = {}
        for app in apps:
            for server in servers.values():
                for _ in range(3):  # the first sessions load the data and warm the caches
                    (await opened_whole(server.url(app), scrolled)).close()
            await asyncio.sleep(1)
            times: dict[str, list[float]] = {name: [] for name in servers}
            for n in range(opens):
                order = list(servers.items())
                for name, server in order if n % 2 else reversed(order):
                    start = cpu_ns(server.process.pid)
                    session = await opened_whole(server.url(app), scrolled)
                    times[name].append((cpu_ns(server.process.pid) - start) / 1e6)
                    session.close()
                    await asyncio.sleep(0.3)
            result[app] = times
    return result


def table(result: dict) -> str:
    rows = [("open, server CPU (ms)", "p50 / mean / fastest", "vs baseline")]
    for app, times in result.items():
        base = times["baseline"]
        for name, values in times.items():
            figures = (statistics.median(values), statistics.mean(values), min(values))
            change = "" if name == "baseline" else " / ".join(
                f"{(a / b - 1) * 100:+.0f} %" for a, b in zip(
                    figures, (statistics.median(base), statistics.mean(base), min(base)),
                    strict=True))
            rows.append((f"{app}, {name}", " / ".join(f"{f:.0f}" for f in figures), change))
    return _rows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, type=Path,
                        help="the baseline's package folder (another checkout's src)")
    parser.add_argument("--root", default="/tmp/safetyviz-bench",
                        help="where the benchmark's data is written once and reused")
    parser.add_argument("--opens", type=int, default=60, help="opens per app and version")
    parser.add_argument("--apps", default="overview,county", help="the pages to open")
    parser.add_argument("--scrolled", action="store_true",
                        help="scroll to what a page builds only once in view (its tables)")
    args = parser.parse_args()
    if not (args.against / "safetyviz" / "__init__.py").is_file():
        parser.error(f"--against {args.against}: no safetyviz package there (give its src)")
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(alternate(prepare_city(root), args.against.resolve(),
                                   args.apps.split(","), args.opens, args.scrolled))
    print(table(result))


if __name__ == "__main__":
    main()

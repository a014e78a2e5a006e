"""The wall screen over 24 simulated hours: does a session that nobody closes grow?

A wall (every view, 30 s each) is built into a Bokeh document as a served session builds it,
over a private copy of the demo data, and its periodic callbacks are called as the server
would call them over a day, without waiting: the clock every second (86,400 times), the next
view every 30 s (2,880), new readings every 2 s (43,200) while the feed appends a minute of
readings every simulated minute (1,440 appends: a day of readings), and a new store every 6
hours (the cube rebuilt by another process: the views that read it are built again). The
document's change events are counted as the messages a browser would receive.

Baseline: the same process's RSS once every path has run (after the first store change, at
hour 6); the table gives RSS by simulated hour and the growth from there to hour 24 (target
≤ 10 %). Writes benchmarks/results/wall.json.

    python benchmarks/wall.py [--root /tmp/safetyviz-bench/wall] [--hours 24]
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import xarray as xr

# this folder's profile.py would shadow the standard library's (Panel imports cProfile)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

SECONDS_PER_VIEW = 30
READINGS_EVERY = 2
STORE_EVERY_HOURS = 6


def prepare(root: Path) -> Path:
    """A fresh copy of the demo data (the run appends to it)."""
    from safetyviz import cli

    demo = root / "demo"
    if not (demo / "catalog.yaml").exists():
        assert cli.main(["demo", "--data-dir", str(demo)]) == 0
    run = root / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(demo, run, symlinks=True)
    return run


def next_minute(data_dir: Path, rng: np.random.Generator) -> None:
    """One more minute of every sensor's readings (the last values, jittered)."""
    from safetyviz.data import readings

    stored = readings.open_readings(data_dir)["value"]
    last = stored.isel(time=-1)
    when = pd.Timestamp(last["time"].values) + pd.Timedelta(minutes=1)
    values = last.values * (1 + rng.normal(0, 0.01, last.shape))
    block = xr.DataArray(values[:, None], dims=("sensor", "time"),
                         coords={"sensor": stored["sensor"].values, "time": [when]})
    readings.append_readings(data_dir, block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/safetyviz-bench/wall"))
    parser.add_argument("--hours", type=int, default=24)
    args = parser.parse_args()
    data_dir = prepare(args.root)
    from safetyviz.data import readings

    # A replaced version of the readings stays readable ten real minutes: in simulated time
    # that would keep hundreds of versions on disk, so keep only the previous one.
    readings.RETAIN_SECONDS = 0

    import panel as pn
    from bokeh.document import Document

    from safetyviz.security.access import LOCAL
    from safetyviz.web.components.wall import FONT_SCALE, WALL_VIEWS, Wall, WallData
    from safetyviz.web.wall import WallState

    process = psutil.Process()
    started = time.perf_counter()
    state = WallState(list(WALL_VIEWS), seconds=SECONDS_PER_VIEW)
    wall = Wall(state=state, data=WallData(path=str(data_dir / "catalog.yaml"), access=LOCAL,
                                           lang="zh", fontscale=FONT_SCALE), area="许昌市")
    document = Document()
    document.add_root(pn.panel(wall).get_root(document))
    messages = [0]
    document.on_change(lambda event: messages.__setitem__(0, messages[0] + 1))
    built = time.perf_counter() - started
    rng = np.random.default_rng(2020)
    rows, rebuilds = [], 0
    start = time.time()
    for second in range(1, args.hours * 3600 + 1):
        wall.tick(start + second)  # the clock shows the simulated time
        if second % SECONDS_PER_VIEW == 0:
            wall.advance()
        if second % 60 == 0:
            next_minute(data_dir, rng)
        if second % READINGS_EVERY == 0:
            wall.refresh_readings()
        if second % (STORE_EVERY_HOURS * 3600) == 0:
            # built by another process, as an ingest or `safetyviz cube` would be
            subprocess.run([sys.executable, "-m", "safetyviz.cli", "cube", "--data-dir",
                            str(data_dir), "--full"], check=True, stdout=subprocess.DEVNULL)
            wall.refresh_store()
            rebuilds += 1
        if second % 3600 == 0:
            gc.collect()
            rows.append({"hour": second // 3600, "rss_mb": process.memory_info().rss / 2**20,
                         "messages": messages[0], "store_changes": rebuilds,
                         "wall_s": time.perf_counter() - started,
                         "cycles": state.cycles,
                         "readings_loaded": wall.views["monitoring"].state.loads})
            print(f"hour {rows[-1]['hour']:>2}: {rows[-1]['rss_mb']:7.1f} MB", flush=True)

    base = next((r for r in rows if r["hour"] == STORE_EVERY_HOURS), rows[0])
    last = rows[-1]
    growth = last["rss_mb"] / base["rss_mb"] - 1
    print(f"\nwall built in {built:.1f} s; {args.hours} simulated hours in "
          f"{last['wall_s']:.0f} s")
    print(f"{'hour':>5}{'RSS MB':>10}{'vs hour ' + str(base['hour']):>14}{'cycles':>9}"
          f"{'readings':>10}{'stores':>8}{'messages':>11}")
    for r in rows:
        print(f"{r['hour']:>5}{r['rss_mb']:10.1f}{r['rss_mb'] / base['rss_mb'] - 1:+14.1%}"
              f"{r['cycles']:>9}{r['readings_loaded']:>10}{r['store_changes']:>8}"
              f"{r['messages']:>11,}")
    print(f"growth from hour {base['hour']} to hour {last['hour']}: {growth:+.1%} "
          f"(target ≤ +10 %)")
    out = Path(__file__).parent / "results" / "wall.json"
    out.write_text(json.dumps({"built_s": built, "rows": rows, "growth": growth}, indent=1))


if __name__ == "__main__":
    main()

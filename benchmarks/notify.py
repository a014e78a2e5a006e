"""Notification rules at province scale: the notifier's CPU per round as readings arrive.

Data: benchmarks/monitoring.py's province store (2,000 installations × 10 sensors = 20,000
sensors, one reading a minute for a day), the installations spread over 150 synthetic
counties. Rules: alarms at both levels, high-high alone, and installations offline for 30
minutes, told to the city by a JSON webhook (a receiver on loopback) and to each county.

Measured, in one process: the first round (the last 24 h), then ``--minutes`` rounds each
after one more minute of province readings is appended (a few excursions among them), CPU
time (user + system, every thread) per round. The baseline, on the same data in the same
run: the same rounds evaluating the whole 24 h window every time instead of what is new
since the last round. Target: ≤ 10 % of one core at one round a minute.

    python benchmarks/notify.py [--root /tmp/safetyviz-bench/monitoring] [--sites 2000]
                                [--minutes 10]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from monitoring import AT, prepare, province_data_dir  # noqa: E402


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def receiver() -> tuple[ThreadingHTTPServer, list]:
    received: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def rules_file(folder: Path, url: str, counties: list[str]) -> Path:
    rules = {
        "contacts": [{"name": "省值班", "role": "city", "webhook": {"format": "json", "url": url}},
                     *({"name": f"县{c}", "role": "county", "counties": [c],
                        "webhook": {"format": "json", "url": url}} for c in counties)],
        "rules": [{"name": "报警", "kind": "alarm", "to": ["county"], "repeat_minutes": 30},
                  {"name": "二级报警", "kind": "alarm", "levels": ["high_high"],
                   "to": ["city"], "repeat_minutes": 30},
                  {"name": "离线", "kind": "offline", "minutes": 30, "to": ["county"]}]}
    path = folder / "rules.yaml"
    path.write_text(json.dumps(rules, ensure_ascii=False), encoding="utf-8")
    return path


def rounds(live: Path, rules_path: Path, minutes: int, whole_window: bool) -> dict:
    from safetyviz.data.readings import append_readings
    from safetyviz.notify.rules import load_rules
    from safetyviz.notify.service import Notifier
    from safetyviz.synth import sensor_feed

    notifier = Notifier(live, load_rules(rules_path))
    start = cpu_s()
    first = notifier.round()
    first_cpu = cpu_s() - start
    sensors, sites = notifier.registers.sensors, notifier.registers.sites
    day = sensor_feed.readings(sensors, sites, AT.normalize() + pd.Timedelta(days=1), 1,
                               excursions_per_day=2.0, seed=7)
    used, told = [], 0
    for minute in range(minutes):
        append_readings(live, day.isel(time=slice(minute, minute + 1)))
        if whole_window:
            notifier.evaluated = None  # every round looks at the whole 24 h again
        start = cpu_s()
        done = notifier.round()
        used.append(cpu_s() - start)
        told += done.sent
    notifier.close()
    return {"first_round_s": first_cpu, "first_round_sent": first.sent,
            "round_cpu_s": used, "median_s": statistics.median(used), "sent": told}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/tmp/safetyviz-bench/monitoring")
    parser.add_argument("--sites", type=int, default=2000)
    parser.add_argument("--minutes", type=int, default=10)
    args = parser.parse_args()
    root = Path(args.root)
    prepare(root, args.sites)
    server, received = receiver()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    results = {}
    for name, whole in (("incremental", False), ("whole_window", True)):
        live = province_data_dir(root, f"notify-{name}")
        counties = sorted(pd.read_parquet(live / "store" / "major_hazard_sites")["adcode"]
                          .astype(str).unique())
        results[name] = rounds(live, rules_file(live, url, counties), args.minutes, whole)
    sensors = args.sites * 10
    print(f"{sensors:,} sensors, one reading a minute; {args.minutes} rounds, each after one "
          "more minute of readings (CPU: user + system)")
    print(f"{'':<34} {'first round':>12} {'round p50':>10} {'% of a core':>12} {'sent':>6}")
    for name, label in (("incremental", "safetyviz notify (what is new)"),
                        ("whole_window", "baseline: the whole 24 h each round")):
        r = results[name]
        print(f"{label:<34} {r['first_round_s']:>10.2f} s {r['median_s']:>8.3f} s "
              f"{r['median_s'] / 60 * 100:>11.2f} % {r['sent']:>6}")
    print("target: ≤ 10 % of one core at one round a minute")
    out = Path(__file__).parent / "results" / "notify.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"sensors": sensors, **results}, indent=2))
    server.shutdown()


if __name__ == "__main__":
    main()

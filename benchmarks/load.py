"""Secure serving under load and under faults, on loopback only; stops by itself.

The dashboards are served by ``safetyviz serve --auth`` with their record queries on a Dask
cluster (a scheduler and two workers on 127.0.0.1), as a deployment at scale would run them.
The client speaks Bokeh's protocol as the browser does (benchmarks/dashboard.py's Session),
after a real login, with the login cookie on the page and on the websocket.

1. Load: --sessions (50) logged-in sessions at once — city users and county users, half on
   the overview, half on the county profile (whose record tables come from the cluster,
   built as the window reaches them: the client says so, as a meeting room's screen does) —
   each changing the period and (if the user may) the county every 1–3 s for --duration
   (120) seconds. Reported: update latency p50/p95 (the change sent → the new headline cards
   back; and → the last message of the update), errors (target: zero: a refused login,
   page or socket, an update not back within 60 s, a page showing an error), the server's
   memory before, during and after (sessions closed).
2. Faults: (a) a worker killed during a cube build on the cluster — the build finishes and
   the cube is identical to the one built without a fault; (b) the scheduler killed while a
   county page is open (on a server of its own that read no county ahead) — the page shows
   the cluster's status when another county is asked for, and refreshes its records by
   itself once the scheduler is back, in the same server process.

Prints a table and writes benchmarks/results/load-<N>proc.json.

    python benchmarks/load.py [--sessions 50] [--duration 120] [--num-procs 1]
                              [--root /tmp/safetyviz-bench]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).parent))
from dashboard import (  # noqa: E402
    ROOT,
    Session,
    below_the_fold,
    free_port,
    prepare_city,
    scroll_to,
    select_where,
)

COUNTIES = ["411002", "411003", "411024", "411025", "411081", "411082"]
PERIOD = re.compile(r"\d{4}(Q\d|-\d{2})?")
UPDATE_TIMEOUT = 60
MORE = 10  # pages opened beside the load's to measure one more session's memory


def add_users(path: Path, count: int) -> dict[str, str]:
    """``count`` users: every fifth a city user, the others county users spread over the
    counties; returns their passwords."""
    from safetyviz.serve.users import add_user

    passwords = {}
    for n in range(count):
        name, password = f"user{n:02d}", secrets.token_urlsafe(12)
        if n % 5 == 0:
            add_user(path, name, "city", password)
        else:
            add_user(path, name, "county", password, (COUNTIES[n % len(COUNTIES)],))
        passwords[name] = password
    return passwords


def login(base: str, name: str, password: str) -> str:
    """The Cookie header of a login as ``name``."""
    session = requests.Session()
    form = session.get(f"{base}/login", timeout=60)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text)[1]
    response = session.post(f"{base}/login", data={"_xsrf": xsrf, "username": name,
                                                   "password": password},
                            allow_redirects=False, timeout=60)
    if response.status_code != 302:
        raise RuntimeError(f"login of {name}: HTTP {response.status_code}")
    return "; ".join(f"{k}={v}" for k, v in session.cookies.items())


# ---------------------------------------------------------------- the cluster and server

class Cluster:
    """A Dask scheduler and workers on loopback, each a process of its own (no nanny: a
    killed worker stays dead)."""

    def __init__(self, workers: int = 2):
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler = None
        self.workers: list[subprocess.Popen] = []
        self.start(workers)

    def start(self, workers: int) -> None:
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", str(self.port), "--dashboard-address", "127.0.0.1:0", "--no-show"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(workers):
            self.add_worker()
        self.wait_for_workers(workers)

    def add_worker(self) -> None:
        self.workers.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", self.address,
             "--nthreads", "1", "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0",
             "--no-nanny", "--memory-limit", "4GB"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def live_workers(self) -> list[subprocess.Popen]:
        return [w for w in self.workers if w.poll() is None]

    def wait_for_workers(self, count: int, seconds: float = 60) -> None:
        from distributed import Client

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                with Client(self.address, timeout="2s") as client:
                    if len(client.scheduler_info(n_workers=-1)["workers"]) >= count:
                        return
            except (OSError, TimeoutError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"no {count} workers at {self.address} within {seconds} s")

    def kill_scheduler(self) -> None:
        for process in [self.scheduler, *self.workers]:
            if process.poll() is None:
                process.kill()
                process.wait()
        self.workers = []

    def stop(self) -> None:
        self.kill_scheduler()


class SecureServer:
    """``safetyviz serve --auth`` over ``data_dir`` with record queries on ``cluster``."""

    def __init__(self, data_dir: Path, users: Path, folder: Path, scheduler: str,
                 num_procs: int = 1, warm_seconds: float = 60):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.audit = folder / "audit.jsonl"
        self.log = (folder / f"server-{self.port}.log").open("w")
        env = dict(os.environ, SAFETYVIZ_COOKIE_SECRET=secrets.token_urlsafe(48),
                   SAFETYVIZ_DASK_SCHEDULER=scheduler, SAFETYVIZ_CATALOG="")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("safetyviz")), "serve", "--data-dir",
             str(data_dir), "--auth", str(users), "--port", str(self.port), "--audit-log",
             str(self.audit), "--num-procs", str(num_procs), "--warm-seconds",
             str(warm_seconds)], env=env, cwd=ROOT,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.base}/login", timeout=5)
                return
            except requests.ConnectionError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.3)
        raise RuntimeError("safetyviz serve did not start: "
                           + (folder / f"server-{self.port}.log").read_text())

    def memory_mb(self) -> float:
        """Memory of the server (its processes, if it forked): their proportional set size,
        a page shared by the forked processes counted once (their RSS counts it in each)."""
        main = psutil.Process(self.process.pid)
        return sum(p.memory_full_info().pss
                   for p in [main, *main.children(recursive=True)]) / 2**20

    def stop(self) -> None:
        """Stop the server as Ctrl-C does; its forked processes must end with it."""
        if self.process.poll() is not None:
            return
        children = psutil.Process(self.process.pid).children(recursive=True)
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        _, alive = psutil.wait_procs(children, timeout=10)
        for process in alive:  # not expected: say so, and clean up
            print(f"server process {process.pid} outlived the server", file=sys.stderr)
            process.kill()
        self.log.close()


# ---------------------------------------------------------------- one user's session

def _text(content: dict) -> str:
    return json.dumps(content, ensure_ascii=False)


async def next_message(session: Session, timeout: float):
    """The session's next whole message, waiting at most ``timeout``. A reader task reads
    whole messages into a queue: a timeout here never cuts a message in two."""
    queue = getattr(session, "queue", None)
    if queue is None:
        queue = session.queue = asyncio.Queue()

        async def read() -> None:
            while True:
                try:
                    message = await session._message(session.connection)
                except Exception as exc:  # closed: wake the reader of the queue
                    await queue.put(exc)
                    return
                await queue.put(message)

        session.reader = asyncio.ensure_future(read())
    message = await asyncio.wait_for(queue.get(), timeout)
    if isinstance(message, Exception):
        raise ConnectionError(f"websocket closed ({type(message).__name__})")
    header, content, size = message
    session.received += size
    return header, content


async def until(session: Session, seen, timeout: float = UPDATE_TIMEOUT) -> float:
    """Read messages until one whose content ``seen(text)`` is true; the seconds it took."""
    start = time.perf_counter()
    while True:
        header, content = await next_message(session, timeout)
        if header["msgtype"] == "ERROR":
            raise RuntimeError(f"server error: {_text(content)[:200]}")
        if header["msgtype"] == "PATCH-DOC" and seen(_text(content)):
            return time.perf_counter() - start


async def drain(session: Session, quiet: float = 1.0) -> tuple[float, list[str]]:
    """Messages until ``quiet`` seconds of silence: seconds to the last, and their texts."""
    start, last, texts = time.perf_counter(), 0.0, []
    while True:
        try:
            header, content = await next_message(session, quiet)
        except TimeoutError:
            return last, texts
        texts.append(_text(content))
        last = time.perf_counter() - start


def cards_of(text: str) -> bool:
    """Whether a message carries the headline cards (an HTML pane's text, escaped)."""
    return "&quot;kpis&quot;" in text


def records_of(text: str) -> bool:
    """Whether a message carries the county page's record tables (their row counts)."""
    return "共 " in text and " 条" in text


async def open_page(base: str, app: str, cookie: str) -> Session:
    """A session of ``app`` with everything drawn: the page, then (after the client says the
    document is shown, as BokehJS does) the plots and tables drawn after it."""
    _, _, session = await Session.open(f"{base}/{app}", whole=app == "overview",
                                       headers={"Cookie": cookie})
    if app != "overview":
        ready = {"type": "event", "name": "document_ready", "values": {}}
        await session.send({"kind": "MessageSent", "msg_type": "bokeh_event",
                            "msg_data": ready})
        if app == "county":  # a meeting room's window reaches the tables: they are built
            while not (spots := below_the_fold(
                    (await next_message(session, UPDATE_TIMEOUT))[1])):
                pass
            await scroll_to(session, spots)
            await until(session, records_of)
    await drain(session, quiet=1.0)
    return session


async def user_session(session: Session, app: str, stop_at: float, rng: random.Random,
                       result: dict) -> None:
    """Change the period, or (if the user may) the county, every 1–3 s until ``stop_at``."""
    try:
        period_id, periods = select_where(session, lambda v: all(PERIOD.fullmatch(x)
                                                                 for x in v))
        county_id, counties = select_where(session, lambda v: all(
            re.fullmatch(r"\d{6}", x) for x in v))
        periods = [p for p in periods if "Q" in p][:12]  # recent quarters
        chosen = {period_id: None, county_id: None}
        while time.monotonic() < stop_at:
            await asyncio.sleep(rng.uniform(1, 3))
            if counties and rng.random() < 0.5:
                model, attr, options = county_id, "value", counties
            else:
                model, attr, options = period_id, "value", periods
            value = rng.choice([o for o in options if o != chosen[model]])  # a real change
            chosen[model] = value
            await session.send({"kind": "ModelChanged", "model": {"id": model}, "attr": attr,
                                "new": value})
            try:
                cards = await until(session, cards_of)
                last, texts = await drain(session, quiet=1.0)
            except TimeoutError:
                result["errors"].append(f"{app}: no update within {UPDATE_TIMEOUT} s")
                continue
            result["cards"].append(cards)
            result["settled"].append(cards + last)
            result["cards_by"].append((app, stop_at - time.monotonic(), cards))
            if any("alert-danger" in t or "数据不可用" in t for t in texts):
                result["errors"].append(f"{app}: the page showed an error")
    except Exception as exc:
        result["errors"].append(f"{app}: {type(exc).__name__}: {exc}")
    finally:
        session.close()


async def opened(base: str, app: str, cookie: str, result: dict) -> Session | None:
    start = time.perf_counter()
    try:
        session = await open_page(base, app, cookie)
    except Exception as exc:  # counted, not raised: the other sessions go on
        result["errors"].append(f"open {app}: {type(exc).__name__}: {exc}")
        return None
    result["opens"].append(time.perf_counter() - start)
    return session


# ---------------------------------------------------------------- the measurements

def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def load_phase(server: SecureServer, cookies: dict[str, str], duration: float) -> dict:
    """All sessions opened at once (timed), then ``duration`` seconds of changes."""
    result = {"opens": [], "cards": [], "settled": [], "errors": [], "cards_by": []}
    rng = random.Random(2020)
    memory = {"before_mb": server.memory_mb()}
    apps = ["overview", "county"]
    started = time.perf_counter()
    sessions = await asyncio.gather(*[opened(server.base, apps[n % 2], cookie, result)
                                      for n, cookie in enumerate(cookies.values())])
    all_open_s = time.perf_counter() - started
    memory["open_mb"] = server.memory_mb()
    # What one more session costs, apart from what the burst filled once per process (record
    # caches, shared pages copied after the fork): MORE pages opened beside the 50, measured.
    scratch: dict = {"opens": [], "errors": []}
    more = await asyncio.gather(*[opened(server.base, apps[n % 2], cookie, scratch)
                                  for n, cookie in enumerate(list(cookies.values())[:MORE])])
    await asyncio.sleep(1)
    memory["per_more_session_mb"] = (server.memory_mb() - memory["open_mb"]) / MORE
    result["errors"] += scratch["errors"]
    for session in more:
        if session is not None:
            session.close()
    stop_at = time.monotonic() + duration
    peak = 0.0

    async def watch_memory():
        nonlocal peak
        while time.monotonic() < stop_at + 5:
            peak = max(peak, server.memory_mb())
            await asyncio.sleep(1)

    await asyncio.gather(watch_memory(), *[
        user_session(session, apps[n % 2], stop_at, random.Random(rng.random()), result)
        for n, session in enumerate(sessions) if session is not None])
    memory["peak_mb"] = peak
    memory["end_mb"] = server.memory_mb()
    await asyncio.sleep(25)  # closed sessions are let go after 15 s (checked every 17 s)
    memory["after_close_mb"] = server.memory_mb()
    rejected = [e for e in _events(server.audit) if e["event"] == "rejected_value"]
    result["errors"] += [f"refused value: {e.get('detail')}" for e in rejected]
    return {"sessions": len(cookies), "duration_s": duration,
            "all_open_s": round(all_open_s, 2),
            "open_p50_s": statistics.median(result["opens"]) if result["opens"] else None,
            "updates": len(result["cards"]),
            "updates_per_s": round(len(result["cards"]) / duration, 2),
            "cards_p50_s": statistics.median(result["cards"]) if result["cards"] else None,
            "cards_p95_s": percentile(result["cards"], 0.95),
            "settled_p50_s": statistics.median(result["settled"]) if result["settled"]
            else None,
            "settled_p95_s": percentile(result["settled"], 0.95),
            # where the slow ones are: by page, and in the first 30 s of changes or after
            "cards_p95_by_page_s": {app: percentile([c for a, _, c in result["cards_by"]
                                                     if a == app], 0.95) for app in apps},
            "cards_p95_first_30s_s": percentile([c for _, left, c in result["cards_by"]
                                                 if left > duration - 30], 0.95),
            "cards_p95_after_30s_s": percentile([c for _, left, c in result["cards_by"]
                                                 if left <= duration - 30], 0.95),
            "errors": len(result["errors"]), "error_samples": result["errors"][:10], **memory}


def _events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def build_cube(data_dir: Path, scheduler: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("safetyviz")), "cube", "--full", "--data-dir",
         str(data_dir), "--scheduler", scheduler],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def worker_killed_mid_build(data_dir: Path, cluster: Cluster) -> dict:
    import xarray as xr

    from safetyviz.core.paths import cube_path

    start = time.perf_counter()
    clean = build_cube(data_dir, cluster.address)
    clean.wait()
    clean_s = time.perf_counter() - start
    expected = xr.open_zarr(cube_path(data_dir)).load()
    start = time.perf_counter()
    build = build_cube(data_dir, cluster.address)
    time.sleep(min(1.5, clean_s / 3))
    victim = cluster.live_workers()[0]
    victim.kill()
    victim.wait()
    killed_at = time.perf_counter() - start
    _, stderr = build.communicate()
    faulted_s = time.perf_counter() - start
    built = xr.open_zarr(cube_path(data_dir)).load()
    cluster.add_worker()  # back to two for what follows
    cluster.wait_for_workers(2)
    return {"clean_build_s": round(clean_s, 2), "worker_killed_at_s": round(killed_at, 2),
            "build_with_fault_s": round(faulted_s, 2), "exit_code": build.returncode,
            "stderr": stderr.strip()[-300:], "cube_identical": bool(built.identical(expected))}


async def scheduler_killed(server: SecureServer, cluster: Cluster, cookie: str) -> dict:
    """On a server that has read no county's records ahead (a warmed one has every county's
    history and needs no cluster for any period of them): the page's county read, the
    scheduler killed, another county asked for."""
    pid = server.process.pid
    session = await open_page(server.base, "county", cookie)
    period_id, periods = select_where(session, lambda v: all(PERIOD.fullmatch(x) for x in v))
    county_id, counties = select_where(session, lambda v: set(COUNTIES) <= set(v))
    cluster.kill_scheduler()
    start = time.perf_counter()
    await session.send({"kind": "ModelChanged", "model": {"id": county_id}, "attr": "value",
                        "new": [c for c in counties if c in COUNTIES][-1]})
    status_s = await until(session, lambda t: "计算集群暂不可用" in t)
    await drain(session, quiet=1.0)
    # the cards (from the cube in memory) still change while the cluster is gone
    await session.send({"kind": "ModelChanged", "model": {"id": period_id}, "attr": "value",
                        "new": periods[1]})
    cards_while_down_s = await until(session, cards_of)
    await drain(session, quiet=1.0)
    down_for = time.perf_counter() - start
    restarted = time.perf_counter()
    cluster.start(workers=2)
    back_s = time.perf_counter() - restarted
    recovered_s = await until(session, lambda t: "共 " in t and "条" in t, timeout=120)
    recovered_s += back_s
    session.close()
    return {"status_shown_after_s": round(status_s, 2),
            "cards_while_down_s": round(cards_while_down_s, 2),
            "scheduler_down_for_s": round(down_for, 1),
            "cluster_restart_s": round(back_s, 2),
            "records_back_after_restart_s": round(recovered_s, 2),
            "same_server_process": server.process.pid == pid
            and server.process.poll() is None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--duration", type=float, default=120)
    parser.add_argument("--num-procs", type=int, default=1,
                        help="server processes (safetyviz serve --num-procs)")
    parser.add_argument("--root", default=str(Path(tempfile.gettempdir()) / "safetyviz-bench"))
    args = parser.parse_args()
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    data_dir = prepare_city(root)
    folder = Path(tempfile.mkdtemp(prefix="safetyviz-load-"))
    users = folder / "users.yaml"
    passwords = add_users(users, args.sessions)
    cluster = Cluster(workers=2)
    server = SecureServer(data_dir, users, folder, cluster.address, args.num_procs)
    results = {"num_procs": args.num_procs}
    try:
        started = time.perf_counter()
        cookies = {name: login(server.base, name, password)
                   for name, password in passwords.items()}
        results["logins_s"] = round(time.perf_counter() - started, 1)
        results["load"] = asyncio.run(load_phase(server, cookies, args.duration))
        print("load:", json.dumps(results["load"], ensure_ascii=False), flush=True)  # kept
        # should a fault phase fail
        results["worker_killed_mid_build"] = worker_killed_mid_build(data_dir, cluster)
        server.stop()
        cold = SecureServer(data_dir, users, folder, cluster.address, 1, warm_seconds=0)
        try:
            results["scheduler_killed"] = asyncio.run(scheduler_killed(
                cold, cluster, login(cold.base, "user00", passwords["user00"])))
        finally:
            cold.stop()
    finally:
        server.stop()
        cluster.stop()
    report(results)
    out = Path(__file__).parent / "results" / f"load-{args.num_procs}proc.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {out}")


def _seconds(value) -> str:
    return "—" if value is None or value != value else f"{value:.2f}"


def report(results: dict) -> None:
    load, build, down = (results["load"], results["worker_killed_mid_build"],
                         results["scheduler_killed"])
    rows = [
        ("server processes", f"{results['num_procs']}"),
        ("logins, one after another", f"{results['logins_s']} s"),
        ("sessions opened at once: all open / p50", f"{load['all_open_s']} s / "
                                                    f"{_seconds(load['open_p50_s'])} s"),
        ("then changes for", f"{load['duration_s']:.0f} s, every 1–3 s per session"),
        ("updates", f"{load['updates']} ({load['updates_per_s']}/s)"),
        ("update → new cards, p50 / p95", f"{_seconds(load['cards_p50_s'])} s / "
                                          f"{_seconds(load['cards_p95_s'])} s"),
        ("update → last message, p50 / p95", f"{_seconds(load['settled_p50_s'])} s / "
                                             f"{_seconds(load['settled_p95_s'])} s"),
        ("  p95 new cards: overview / county",
         " / ".join(f"{_seconds(load['cards_p95_by_page_s'][a])}" for a in ("overview",
                                                                         "county")) + " s"),
        ("  p95 new cards: first 30 s / after", f"{_seconds(load['cards_p95_first_30s_s'])} s"
                                                f" / {_seconds(load['cards_p95_after_30s_s'])} s"),
        ("errors", f"{load['errors']} (target 0)"),
        ("server memory (PSS) before / all open / peak / end / closed",
         f"{load['before_mb']:.0f} / {load['open_mb']:.0f} / {load['peak_mb']:.0f} / "
         f"{load['end_mb']:.0f} / {load['after_close_mb']:.0f} MB"),
        (f"  one more session ({MORE} opened beside the {load['sessions']})",
         f"{load['per_more_session_mb']:.1f} MB"),
        ("cube build, clean / worker killed at "
         f"{build['worker_killed_at_s']} s", f"{build['clean_build_s']} s / "
                                             f"{build['build_with_fault_s']} s, exit "
                                             f"{build['exit_code']}, identical: "
                                             f"{build['cube_identical']}"),
        ("scheduler killed: status on the page after", f"{down['status_shown_after_s']} s"),
        ("  cards (cube in memory) while it is down", f"{down['cards_while_down_s']} s"),
        ("  records back after the scheduler returns",
         f"{down['records_back_after_restart_s']} s (cluster start "
         f"{down['cluster_restart_s']} s), same server process: "
         f"{down['same_server_process']}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'what':<{width}}  figure")
    for what, figure in rows:
        print(f"{what:<{width}}  {figure}")
    for sample in load["error_samples"]:
        print("error:", sample)


if __name__ == "__main__":
    main()

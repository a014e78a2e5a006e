"""The dashboards under load, measured with a real client on loopback.

The client speaks Bokeh's own protocol as the browser does, without drawing: it GETs the page
(the server builds the session), opens its websocket and pulls the document; "time to the
document" ends when the whole document has arrived. A hello-world Panel app is served by the
same server and measured in the same run, interleaved, as the baseline.

1. Session open: p50 over --opens sessions, overview vs hello world (target ≤ 3×).
2. Map update: the client changes the metric (and the period) on the page as the browser
   does; timed server-side around the map's recolouring, and as the client's round trip
   until the new colours arrive; bytes sent back. At the demo's 6 counties (target ≤ 50 ms)
   and at 3,000 synthetic counties (target ≤ 100 ms).
3. 20 sessions opened at once with ``--num-procs 2`` (target: all within 5 s).
4. Server memory per session of the overview and of the county profile (20 kept open;
   target ≤ 5 MB) and over 200 open/close cycles
   (target: growth ≤ 10 % after the first 20).
5. Server CPU (every thread of the server process, to the nanosecond from
   /proc/PID/task/*/schedstat) per session open — the page, its document and its plots, until
   the server is quiet — and per change of the period, county or metric until the server is
   quiet again; one client at a time, so each figure is that session's alone. Changes to a
   selection some session has shown before (records read once for all sessions) and to one
   none has (read now) are reported apart. The overview and the county profile against
   hello world (a selector changing a text) in the same run (targets: open ≤ 150 ms, change
   p50 ≤ 40 ms). The county profile builds its record tables only once the browser scrolls
   to them (at once in a 1280 × 720 window; on a phone, when its user scrolls down): it is
   measured both without them and scrolled to them.

Prints a table and writes benchmarks/results/dashboard.json.

    python benchmarks/dashboard.py [--root /tmp/safetyviz-bench] [--opens 30] [--cycles 200]
                                   [--only cpu,open,map,concurrent,memory]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

# this folder's profile.py would shadow the standard library's (Panel imports cProfile; the
# map measure imports Panel)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

ROOT = Path(__file__).resolve().parents[1]
# hello world, with one selector changing one text: the baseline of a session and a change
HELLO = """import panel as pn

choice = pn.widgets.Select(name="choice", options=["2020Q1", "2020Q2", "2020Q3", "2020Q4"])
pn.Column(pn.pane.Markdown("# Hello, world"), choice,
          pn.bind(lambda value: f"chosen: {value}", choice)).servable()
"""
TOKEN = re.compile(r'"token":"([^"]+)"')
TIMEOUT = 120  # seconds a message may take before the benchmark gives up


# ---------------------------------------------------------------- the client


def _frames(msgtype: str, content: dict) -> list[str]:
    header = {"msgid": uuid.uuid4().hex, "msgtype": msgtype}
    return [json.dumps(header), "{}", json.dumps(content)]


class Session:
    """One dashboard session as a browser holds it: the page fetched, the websocket open and
    the document pulled."""

    def __init__(self, connection, document: dict, received: int):
        self.connection, self.document, self.received = connection, document, received
        self.patches: list[list[dict]] = []  # the events received since the document

    @classmethod
    async def open(cls, url: str, whole: bool = False,
                   headers: dict | None = None) -> tuple[float, float, Session]:
        """Open a session of the app at ``url``: the seconds to the document, the seconds
        until the page is whole (with ``whole``: the plots drawn after the page, once the
        client says the document is shown, as BokehJS does; else NaN) and the session.
        ``headers`` go with the page's request and the websocket's (a login cookie)."""
        start = time.perf_counter()
        page = await AsyncHTTPClient().fetch(HTTPRequest(url, headers=headers,
                                                         request_timeout=120))
        token = TOKEN.search(page.body.decode()).group(1)
        # (the page's query arguments reach the session through the token, not the socket)
        ws_url = url.partition("?")[0].replace("http://", "ws://").rstrip("/") + "/ws"
        origin = "/".join(url.split("/")[:3])
        connection = await websocket_connect(
            HTTPRequest(ws_url, headers={**(headers or {}), "Origin": origin},
                        request_timeout=120),
            subprotocols=["bokeh", token], max_message_size=1 << 30)
        await asyncio.wait_for(cls._message(connection), TIMEOUT)  # ACK
        for frame in _frames("PULL-DOC-REQ", {}):
            await connection.write_message(frame)
        header, content, received = await asyncio.wait_for(cls._message(connection), TIMEOUT)
        assert header["msgtype"] == "PULL-DOC-REPLY", header
        document = time.perf_counter() - start
        session = cls(connection, content["doc"], received)
        if not whole:
            return document, float("nan"), session
        ready = {"type": "event", "name": "document_ready", "values": {}}
        await session.send({"kind": "MessageSent", "msg_type": "bokeh_event",
                            "msg_data": ready})
        drawn = any(is_map_source(*model) for model in session.models())
        while not drawn:
            header, content, size = await asyncio.wait_for(cls._message(connection), TIMEOUT)
            session.received += size
            if header["msgtype"] == "PATCH-DOC":
                session.patches.append(content["events"])
                drawn = any(is_map_source(*model) for model in walk_models(content["events"]))
        return document, time.perf_counter() - start, session

    async def send(self, event: dict) -> None:
        for frame in _frames("PATCH-DOC", {"events": [event]}):
            await self.connection.write_message(frame)

    @staticmethod
    async def _message(connection, header_frame=None) -> tuple[dict, dict, int]:
        """The next whole message (after ``header_frame``, if its first frame was read
        already): header, content and its size in bytes."""
        if header_frame is None:
            header_frame = await connection.read_message()
        header = json.loads(header_frame)
        await connection.read_message()  # metadata
        content = await connection.read_message()
        received = len(content)
        for _ in range(header.get("num_buffers", 0)):
            await connection.read_message()
            received += len(await connection.read_message())
        return header, json.loads(content), received

    def models(self):
        """Every model of the document and the patches as (id, type name, attributes)."""
        return walk_models([self.document, self.patches])

    async def change(self, model_id: str, attr: str, new, until: str,
                     settled: float = 3.0) -> tuple[float, int]:
        """Set a widget's value as the browser does; returns the seconds until a change of
        model ``until`` arrives (or, if none comes — the server sends only what changed —
        until the last message before ``settled`` seconds of silence) and the bytes
        received meanwhile."""
        start = time.perf_counter()
        await self.send({"kind": "ModelChanged", "model": {"id": model_id}, "attr": attr,
                         "new": new})
        received, last = 0, 0.0
        while True:
            try:
                first = await asyncio.wait_for(self.connection.read_message(), settled)
            except TimeoutError:
                return last, received
            header, content, size = await asyncio.wait_for(
                self._message(self.connection, first), TIMEOUT)
            received, last = received + size, time.perf_counter() - start
            if header["msgtype"] == "PATCH-DOC" and any(
                    e.get("model", {}).get("id") == until for e in content["events"]):
                return last, received

    async def quiet(self, seconds: float = 0.5) -> tuple[float, int]:
        """Read what the server still sends until it is silent for ``seconds``: the seconds
        from now to the last message and the bytes."""
        start, last, received = time.perf_counter(), 0.0, 0
        while True:
            try:  # (the wait is for a message to begin: one begun is read whole)
                first = await asyncio.wait_for(self.connection.read_message(), seconds)
            except TimeoutError:
                return last, received
            header, content, size = await asyncio.wait_for(
                self._message(self.connection, first), TIMEOUT)
            if header["msgtype"] == "PATCH-DOC":
                self.patches.append(content["events"])
            last, received = time.perf_counter() - start, received + size

    def close(self) -> None:
        self.connection.close()


def walk_models(value):
    """Every model serialized in ``value`` (a document or events) as (id, name, attributes)."""
    if isinstance(value, dict):
        if value.get("type") == "object" and "id" in value:
            yield value["id"], value.get("name"), value.get("attributes", {})
        for item in value.values():
            yield from walk_models(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_models(item)


def below_the_fold(events) -> list[str]:
    """The ids of the spots in ``events`` (or a document) that the page builds only once the
    browser scrolls to them (the data of its ``WhenSeen`` components)."""
    return [model_id for model_id, name, _ in walk_models(events)
            if str(name).startswith("WhenSeen")]


async def scroll_to(session: Session, spots: list[str]) -> None:
    """Say of each of ``spots`` what a browser says once its window reaches it."""
    for spot in spots:
        await session.send({"kind": "ModelChanged", "model": {"id": spot}, "attr": "seen",
                            "new": True})


def is_map_source(model_id, name, attributes) -> bool:
    """The overview map's data: the ColumnDataSource with an ``adcode`` and a ``line``."""
    if name != "ColumnDataSource":
        return False
    data = attributes.get("data", {})
    entries = data.get("entries", []) if isinstance(data, dict) else []
    return {"adcode", "line"} <= {key for key, _ in entries}


def select_where(session: Session, offers) -> tuple[str, list[str]]:
    """The id of the page's first selector whose option values ``offers()``, and its values
    other than the selected one."""
    for model_id, name, attributes in session.models():
        options = attributes.get("options")
        if name and name.endswith("Select") and isinstance(options, list):
            values = [o[0] if isinstance(o, list) else o for o in options]
            if offers(values):
                return model_id, [v for v in values if v != attributes.get("value")]
    raise LookupError("no such selector in the document")


def map_source(session: Session) -> str:
    return next(model[0] for model in session.models() if is_map_source(*model))


# ---------------------------------------------------------------- data and servers


def safetyviz(*args: str) -> None:
    command = Path(sys.executable).with_name("safetyviz")  # the command of this venv
    subprocess.run([str(command), *args], check=True, stdout=subprocess.DEVNULL)


def prepare_city(root: Path) -> Path:
    """The city demo (6 counties), written once under ``root``."""
    from safetyviz.core.errors import UserError
    from safetyviz.data.catalog import open_catalog

    data = root / "dashboard-city"
    try:
        open_catalog(data / "catalog.yaml")  # written by an older safetyviz: write anew
        fresh = (data / "cube" / "cube.zarr").exists()
    except UserError:
        fresh = False
    if not fresh:
        shutil.rmtree(data, ignore_errors=True)
        safetyviz("demo", "--data-dir", str(data))
    return data


def prepare_counties(root: Path, counties: int) -> Path:
    """Synthetic records over ``counties`` fictional counties and two years, written once."""
    from safetyviz.synth import synthetic

    data = root / f"dashboard-{counties}"
    if not (data / "cube" / "cube.zarr").exists():
        synthetic.write_province(data, records=counties * 100, counties=counties, years=2)
        safetyviz("cube", "--data-dir", str(data))
    return data


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


SESSION_FLAGS = ["--check-unused-sessions", "500", "--unused-session-lifetime", "500"]


class Server:
    """``panel serve`` of ``apps`` in processes of their own, on the data of ``data_dir``;
    closed sessions are let go after half a second (the default is 15 s)."""

    def __init__(self, apps: list[str], data_dir: Path, *flags: str, env: dict | None = None):
        """``apps``: scripts for ``panel serve``; none: ``safetyviz serve`` (every page, as
        the product serves them: warmed up, its memory settled); ``env``: more environment
        (``PYTHONPATH`` to serve another checkout's code)."""
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="safetyviz-bench-", suffix=".log")
        command = [sys.executable, "-m", "panel", "serve", *apps, "--port", str(self.port),
                   "--address", "127.0.0.1", *SESSION_FLAGS, *flags] if apps else [
            sys.executable, "-m", "safetyviz.cli", "serve", "--data-dir", str(data_dir),
            "--port", str(self.port), *flags]
        env = dict(os.environ, SAFETYVIZ_DATA_DIR=str(data_dir), SAFETYVIZ_CATALOG="",
                   **(env or {}))
        self.process = subprocess.Popen(command, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=1):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("panel serve did not start:\n" + Path(self.log.name).read_text())

    def url(self, app: str) -> str:
        return f"http://127.0.0.1:{self.port}/{app}"

    def rss(self) -> int:
        """Resident memory of the server's processes (the main one and any forked)."""
        main = psutil.Process(self.process.pid)
        return sum(p.memory_info().rss for p in [main, *main.children(recursive=True)])

    def stop(self) -> None:
        """Stop the server and the processes it forked (which a signal to it leaves)."""
        processes = [psutil.Process(self.process.pid)]
        processes += processes[0].children(recursive=True)
        for process in processes:
            process.kill()
        psutil.wait_procs(processes, timeout=30)
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------- the measures


def p50(values) -> float:
    return statistics.median(values)


async def session_open(city: Path, opens: int, hello: str) -> dict:
    """Time to the document, the overview against hello world, interleaved."""
    with Server(["apps/overview.py", hello], city) as server:
        times = {"hello": [], "overview": [], "overview_whole": []}
        for n in range(opens + 3):
            for app in ("hello", "overview"):
                document, whole, session = await Session.open(server.url(app),
                                                              whole=app == "overview")
                session.close()
                if n >= 3:  # the first sessions load the data and warm the caches
                    times[app].append(document)
                    if app == "overview":
                        times["overview_whole"].append(whole)
    result = {key: {"p50": p50(v), "p90": statistics.quantiles(v, n=10)[-1]}
              for key, v in times.items()}
    result["ratio"] = result["overview"]["p50"] / result["hello"]["p50"]
    result["ratio_whole"] = result["overview_whole"]["p50"] / result["hello"]["p50"]
    return result


def _timed_recolour(durations: list[float]):
    """Time the map's updates on the server: the drawing of the new selection (a copy of the
    map's recoloured, the first time any session asks for it) into the session's copy."""
    from safetyviz.web.components.inplace import SharedPlot

    update = SharedPlot.update

    def timed(self, *events):
        start = time.perf_counter()
        update(self, *events)
        if self.derive is not None:  # (the map: the only plot drawn by recolouring)
            durations.append(time.perf_counter() - start)

    SharedPlot.update = timed


async def map_update(data_dir: Path, changes: int, durations: list[float]) -> dict:
    """Metric and period changes on a served overview; the server in this process, so that
    the map's own recolouring can be timed beside the client's round trip."""
    import panel as pn

    from safetyviz.web.components.overview import create_overview_app

    port = free_port()
    catalog = str(data_dir / "catalog.yaml")
    server = pn.serve({"overview": lambda: create_overview_app(catalog)}, port=port,
                      address="127.0.0.1", threaded=True, show=False, start=True,
                      websocket_origin=[f"127.0.0.1:{port}"])
    try:
        await asyncio.sleep(0.5)
        _, _, session = await Session.open(f"http://127.0.0.1:{port}/overview", whole=True)
        await session.quiet()
        source = map_source(session)
        metric_id, _ = select_where(session, lambda values: "fines_yuan" in values)
        period_id, periods = select_where(session, lambda values: any(
            re.fullmatch(r"\d{4}Q\d", str(v)) for v in values))
        quarters = [p for p in periods if re.fullmatch(r"\d{4}Q\d", p)][:4]
        sequence = [(metric_id, m) for m in ("hazards_found", "fines_yuan", "closures",
                                             "deaths")]
        sequence += [(period_id, q) for q in quarters]
        durations.clear()
        round_trips, whole, sent = [], [], []
        for n in range(changes):
            model_id, value = sequence[n % len(sequence)]
            trip, received = await session.change(model_id, "value", value, until=source)
            rest, more = await session.quiet(0.4)
            round_trips.append(trip)
            whole.append(trip + rest)
            sent.append(received)
        session.close()
    finally:
        server.stop()
    return {"server_p50": p50(durations), "server_max": max(durations),
            "round_trip_p50": p50(round_trips), "page_p50": p50(whole),
            "map_message_bytes_p50": p50(sent)}


async def concurrent_sessions(city: Path, sessions: int) -> dict:
    """``sessions`` opened at once on a server with two processes (warmed first)."""
    with Server(["apps/overview.py"], city, "--num-procs", "2") as server:
        url = server.url("overview")
        warm = await asyncio.gather(*(Session.open(url, whole=True) for _ in range(8)))
        for _, _, session in warm:
            session.close()
        await asyncio.sleep(1.5)
        start = time.perf_counter()
        opened = await asyncio.gather(*(Session.open(url, whole=True)
                                        for _ in range(sessions)))
        wall = time.perf_counter() - start
        for _, _, session in opened:
            session.close()
    return {"sessions": sessions, "document_max": max(o[0] for o in opened),
            "whole_max": max(o[1] for o in opened), "wall": wall}


async def memory(city: Path, kept: int, cycles: int) -> dict:
    """Server memory per open session of the overview and of the county profile (its
    records already read: the cache they go to is the process's, not a session's), and over
    open/close cycles of the overview."""
    with Server(["apps/overview.py", "apps/county.py"], city) as server:
        per_page = {}
        for app in ("overview", "county"):
            url = server.url(app)
            for _ in range(3):
                (await opened_whole(url)).close()
            await asyncio.sleep(2)
            before = server.rss()
            opened = [await opened_whole(url) for _ in range(kept)]
            await asyncio.sleep(1)
            per_page[app] = (server.rss() - before) / kept
            for session in opened:
                session.close()
            await asyncio.sleep(2)
        url = server.url("overview")
        samples = {}
        for n in range(1, cycles + 1):
            (await opened_whole(url)).close()
            if n in (20, cycles):
                await asyncio.sleep(2)  # the closed sessions let go
                samples[n] = server.rss()
    return {"per_session": per_page, "rss_after_20": samples[20],
            "rss_after_all": samples[cycles], "growth": samples[cycles] / samples[20] - 1,
            "cycles": cycles}


def cpu_ns(pid: int) -> int:
    """CPU time so far of every live thread of process ``pid``, in nanoseconds."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


def is_period(value) -> bool:
    return bool(re.fullmatch(r"\d{4}Q\d", str(value)))


async def opened_whole(url: str, scrolled: bool = False) -> Session:
    """A session as a browser opens it: the document, then (the page shown) what is drawn
    after it, until the server is quiet; with ``scrolled``, also what is built only once the
    browser scrolls to it (as when the window is tall enough to reach it)."""
    _, _, session = await Session.open(url)
    ready = {"type": "event", "name": "document_ready", "values": {}}
    await session.send({"kind": "MessageSent", "msg_type": "bokeh_event",
                        "msg_data": ready})
    await session.quiet(0.5)
    if scrolled:
        await scroll_to(session, below_the_fold(session.patches))
        await session.quiet(0.5)
    return session


# What the CPU is measured of: the app, and whether the client scrolls to what the page
# builds only once in view (the county's tables: at once in a 1280 × 720 window, not on a
# phone until its user scrolls down).
VIEWS = {"hello": ("hello", False), "overview": ("overview", False),
         "county": ("county", False), "county, scrolled to its tables": ("county", True)}


async def server_cpu(city: Path, hello: str, opens: int, changes: int) -> dict:
    """Server CPU per session open and per change, one client at a time."""
    quiet = 0.3
    with Server([hello], city) as hello_server, Server([], city) as server:
        result = {}
        for view, (app, scrolled) in VIEWS.items():
            serving = hello_server if app == "hello" else server
            url, pid = serving.url(app), serving.process.pid
            for _ in range(2):  # the first sessions load the data and warm the caches
                (await opened_whole(url, scrolled)).close()
            await asyncio.sleep(1)
            idle_start = cpu_ns(pid)
            await asyncio.sleep(2)
            idle = (cpu_ns(pid) - idle_start) / 2  # per second, counted out below
            open_ns = []
            for _ in range(opens):
                start = cpu_ns(pid)
                session = await opened_whole(url, scrolled)
                open_ns.append(cpu_ns(pid) - start - idle * (1.0 if scrolled else 0.5))
                session.close()
                await asyncio.sleep(0.2)
            session = await opened_whole(url, scrolled)
            sequence = []
            with contextlib.suppress(LookupError):
                _, periods = select_where(session, lambda v: any(map(is_period, v)))
                period_id, _ = select_where(session, lambda v: any(map(is_period, v)))
                sequence += [(period_id, p) for p in periods if is_period(p)][:4]
            with contextlib.suppress(LookupError):
                county_id, counties = select_where(
                    session, lambda v: sum(bool(re.fullmatch(r"\d{6}", str(x))) for x in v) > 1)
                sequence += [(county_id, c) for c in counties][:4]
            with contextlib.suppress(LookupError):
                metric_id, _ = select_where(session, lambda v: "fines_yuan" in v)
                sequence += [(metric_id, m) for m in ("fines_yuan", "closures", "hazards_found")]
            if app == "hello":
                choice_id, choices = select_where(session, lambda v: "2020Q1" in v)
                sequence = [(choice_id, c) for c in choices + ["2020Q1"]]
            # a selection seen before (by any session: the records of a county and period
            # are read once for all) or for the first time
            current = {model_id: None for model_id, _ in sequence}
            seen: set = set()
            change_ns: dict[str, list[float]] = {"warm": [], "cold": []}
            round_trips = []
            for n in range(changes):
                model_id, value = sequence[n % len(sequence)]
                current[model_id] = value
                selection = tuple(sorted(current.items(), key=str))
                start = cpu_ns(pid)
                await session.send({"kind": "ModelChanged", "model": {"id": model_id},
                                    "attr": "value", "new": value})
                last, _ = await session.quiet(quiet)
                used = cpu_ns(pid) - start - idle * (last + quiet)
                change_ns["warm" if selection in seen else "cold"].append(used)
                seen.add(selection)
                round_trips.append(last)
            session.close()
            await asyncio.sleep(0.5)
            warm = change_ns["warm"] or [float("nan")]
            result[view] = {"open_p50": p50(open_ns) / 1e9,
                           "open_p90": statistics.quantiles(open_ns, n=10)[-1] / 1e9,
                           "change_p50": p50(warm) / 1e9,
                           "change_p90": statistics.quantiles(warm, n=10)[-1] / 1e9,
                           "first_change_p50": p50(change_ns["cold"]) / 1e9,
                           "changes": len(warm), "first_changes": len(change_ns["cold"]),
                           "change_last_message_p50": p50(round_trips),
                           "idle_cpu_per_s": idle / 1e9}
    return result


# ---------------------------------------------------------------- the run


def table(results: dict) -> str:
    ms = lambda seconds: f"{seconds * 1000:,.0f} ms"  # noqa: E731
    mb = lambda size: f"{size / 2**20:,.1f} MB"  # noqa: E731
    rows = []
    if "cpu" in results:
        cpu = results["cpu"]
        for app in cpu:
            figures = cpu[app]
            target = "" if app == "hello" else " (target ≤ 150 ms)"
            rows.append((f"server CPU per session open, {app} (p50 / p90)",
                         f"{ms(figures['open_p50'])} / {ms(figures['open_p90'])}",
                         f"{figures['open_p50'] / cpu['hello']['open_p50']:.1f}× hello{target}"))
        for app in cpu:
            figures = cpu[app]
            target = "" if app == "hello" else " (target p50 ≤ 40 ms)"
            rows.append((f"server CPU per change, {app} (p50 / p90)",
                         f"{ms(figures['change_p50'])} / {ms(figures['change_p90'])}",
                         f"last message after {ms(figures['change_last_message_p50'])}"
                         f"{target}"))
            rows.append((f"  a selection no session had shown yet, {app} (p50)",
                         ms(figures["first_change_p50"]),
                         f"{figures['first_changes']} of "
                         f"{figures['first_changes'] + figures['changes']} changes"))
    if "session_open" in results:
        opened = results["session_open"]
        rows.append(("session open, hello world (p50)", ms(opened["hello"]["p50"]), ""))
        rows.append(("session open, overview: document (p50)", ms(opened["overview"]["p50"]),
                     f"{opened['ratio']:.2f}× hello (target ≤ 3×)"))
        rows.append(("session open, overview: with its plots (p50)",
                     ms(opened["overview_whole"]["p50"]), f"{opened['ratio_whole']:.2f}× hello"))
    for label, key, target in (("6 counties", "map_6", 50), ("3,000 counties", "map_3000", 100)):
        if key not in results:
            continue
        update = results[key]
        rows.append((f"map recolour, server side, {label} (p50 / max)",
                     f"{ms(update['server_p50'])} / {ms(update['server_max'])}",
                     f"target ≤ {target} ms"))
        rows.append((f"  client round trip to the new colours, {label} (p50)",
                     ms(update["round_trip_p50"]),
                     f"whole page {ms(update['page_p50'])}; "
                     f"{update['map_message_bytes_p50'] / 1024:,.1f} KiB sent"))
    if "concurrent" in results:
        crowd = results["concurrent"]
        rows.append((f"{crowd['sessions']} sessions at once, --num-procs 2: last document",
                     ms(crowd["document_max"]), "target ≤ 5,000 ms"))
        rows.append((f"{crowd['sessions']} sessions at once: last page with its plots",
                     ms(crowd["whole_max"]), ""))
    if "memory" in results:
        memory = results["memory"]
        for app, size in memory["per_session"].items():
            rows.append((f"server memory per open session: {app}", mb(size), "target ≤ 5 MB"))
        rows.append((f"server memory after 20 → {memory['cycles']} open/close cycles",
                     f"{mb(memory['rss_after_20'])} → {mb(memory['rss_after_all'])}",
                     f"{memory['growth'] * 100:+.1f} % (target ≤ +10 %)"))
    return _rows(rows)


def _rows(rows: list[tuple[str, str, str]]) -> str:
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{a:<{width}}  {b:>17}  {c}" for a, b, c in rows)


MEASURES = ("cpu", "open", "map", "concurrent", "memory")


async def run(args) -> dict:
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    city = prepare_city(root)
    hello = root / "hello.py"
    hello.write_text(HELLO, encoding="utf-8")
    only = set(args.only.split(","))
    results: dict = {}
    if "cpu" in only:
        results["cpu"] = await server_cpu(city, str(hello), 10, 40)
    if "open" in only:
        results["session_open"] = await session_open(city, args.opens, str(hello))
    if "map" in only:
        durations: list[float] = []
        _timed_recolour(durations)
        results["map_6"] = await map_update(city, args.changes, durations)
        results["map_3000"] = await map_update(prepare_counties(root, 3000), args.changes,
                                               durations)
    if "concurrent" in only:
        results["concurrent"] = await concurrent_sessions(city, 20)
    if "memory" in only:
        results["memory"] = await memory(city, 20, args.cycles)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/tmp/safetyviz-bench",
                        help="where the benchmark's data is written once and reused")
    parser.add_argument("--opens", type=int, default=30, help="sessions opened per app")
    parser.add_argument("--changes", type=int, default=24, help="map changes per scale")
    parser.add_argument("--cycles", type=int, default=200, help="open/close cycles")
    parser.add_argument("--only", default=",".join(MEASURES),
                        help=f"the measures to run, of {','.join(MEASURES)} (all)")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(table(results))
    out = ROOT / "benchmarks" / "results" / "dashboard.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

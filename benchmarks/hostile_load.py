"""Responsiveness of `safetyviz serve --auth` to one user while another client misbehaves,
on loopback only; stops by itself.

One logged-in user (the victim) opens the overview again and again, as a browser does: the
page, its websocket, the document and the plots drawn after it (the map's data):

1. idle: nobody else is there;
2. half-open: one client (from 127.0.0.2) holds --half-open (5,000) connections, each with
   a request line and no end to its headers;
3. many pages: another logged-in user opens --pages (200) pages at once, each with its
   websocket (where its session is built) and its plots.

Reported per phase: the victim's page-open time (median and worst of --samples), its ratio to
idle (target: at most 2), and what the misbehaving client got. Prints a table and writes
benchmarks/results/hostile_load.json.

    python benchmarks/hostile_load.py [--half-open 5000] [--pages 200] [--samples 5]
                                      [--root /tmp/safetyviz-bench]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from tornado.httpclient import HTTPClientError

sys.path.insert(0, str(Path(__file__).parent))
from dashboard import ROOT, Session, free_port, prepare_city  # noqa: E402

PASSWORDS = {"victim": "victim-pass-123", "flooder": "flooder-pass-123"}


def login(base: str, name: str) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{base}/login", timeout=60)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text)[1]
    response = session.post(f"{base}/login", data={
        "_xsrf": xsrf, "username": name, "password": PASSWORDS[name]},
        allow_redirects=False, timeout=60)
    if response.status_code != 302:
        raise RuntimeError(f"login of {name}: HTTP {response.status_code}")
    return session


def page_open(session: requests.Session, base: str) -> float:
    """Seconds until the victim's overview is whole, as a browser has it: the page, its
    websocket, the document, and the plots drawn after it (the map's data arrived)."""
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())

    async def whole() -> float:
        _, seconds, page = await Session.open(f"{base}/overview", whole=True,
                                              headers={"Cookie": cookie})
        page.close()
        return seconds

    return asyncio.run(whole())


async def open_pages(session: requests.Session, url: str, count: int,
                     done: threading.Event) -> list[int]:
    """``count`` pages of ``url`` opened at once (64 at a time) as a browser opens them
    (page, websocket, document, plots), held open until ``done``; the HTTP status of each
    (a refused page or websocket: 429)."""
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    slots = asyncio.Semaphore(64)
    held = []

    async def one() -> int:
        async with slots:
            try:
                held.append((await Session.open(url, whole=True,
                                                headers={"Cookie": cookie}))[2])
                return 200
            except HTTPClientError as exc:  # the page's or the websocket's refusal
                return exc.code
    statuses = await asyncio.gather(*(one() for _ in range(count)))
    while not done.is_set():
        await asyncio.sleep(0.2)
    for page in held:
        page.close()
    return list(statuses)


def victim_times(session, base: str, samples: int) -> list[float]:
    return [page_open(session, base) for _ in range(samples)]


def hold_half_open(port: int, count: int) -> list[socket.socket]:
    """``count`` connections from 127.0.0.2, each sending a request line and one header."""
    held = []
    for _ in range(count):
        connection = socket.socket()
        connection.bind(("127.0.0.2", 0))
        connection.settimeout(5)
        try:
            connection.connect(("127.0.0.1", port))
            connection.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        except OSError:
            connection.close()
            continue
        held.append(connection)
    return held


def still_open(connections: list[socket.socket]) -> int:
    alive = 0
    for connection in connections:
        connection.setblocking(False)
        try:
            alive += connection.recv(1) != b""
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half-open", type=int, default=5000)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--root", default=str(Path(tempfile.gettempdir()) / "safetyviz-bench"))
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the attacker's sockets

    from safetyviz.serve.users import add_user

    data = prepare_city(Path(args.root))
    folder = Path(tempfile.mkdtemp(prefix="hostile-load-"))
    users = folder / "users.yaml"
    for name, password in PASSWORDS.items():
        add_user(users, name, "city", password)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (folder / "server.log").open("w")
    env = dict(os.environ, SAFETYVIZ_COOKIE_SECRET=secrets.token_urlsafe(48),
               SAFETYVIZ_CATALOG="")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("safetyviz")), "serve", "--data-dir", str(data),
         "--auth", str(users), "--port", str(port), "--audit-log",
         str(folder / "audit.jsonl")], env=env, cwd=ROOT, stdout=log,
        stderr=subprocess.STDOUT)
    rows = []
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(f"{base}/login", timeout=5)
                break
            except requests.ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start: "
                                       + (folder / "server.log").read_text()) from None
                time.sleep(0.3)
        victim = login(base, "victim")
        page_open(victim, base)  # the first page after a start also loads the cube
        idle = victim_times(victim, base, args.samples)
        rows.append(("idle", idle, ""))

        held = hold_half_open(port, args.half_open)
        during = victim_times(victim, base, args.samples)
        rows.append((f"{args.half_open:,} half-open connections", during,
                     f"{len(held):,} connected, {still_open(held):,} still open"))
        for connection in held:
            connection.close()

        flooder = login(base, "flooder")
        statuses: list[int] = []
        victim_done = threading.Event()
        flood = threading.Thread(target=lambda: statuses.extend(asyncio.run(
            open_pages(flooder, f"{base}/overview", args.pages, victim_done))))
        flood.start()
        time.sleep(0.5)
        during = victim_times(victim, base, args.samples)
        victim_done.set()
        flood.join()
        rows.append((f"one user opening {args.pages} pages", during,
                     f"{statuses.count(200)} opened, {statuses.count(429)} refused (429)"))
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()

    base_median = statistics.median(rows[0][1])
    print(f"the victim's overview open until whole (page, websocket, document, map), "
          f"{args.samples} samples per phase")
    print(f"{'phase':<34} {'median s':>9} {'worst s':>8} {'× idle':>7}  misbehaving client")
    results = []
    for phase, times, note in rows:
        median = statistics.median(times)
        print(f"{phase:<34} {median:>9.2f} {max(times):>8.2f} {median / base_median:>7.2f}"
              f"  {note}")
        results.append({"phase": phase, "median_s": median, "worst_s": max(times),
                        "ratio_to_idle": median / base_median, "note": note})
    print("target: at most 2 × idle in every phase")
    out = Path(__file__).parent / "results" / "hostile_load.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()

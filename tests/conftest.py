"""Shared fixtures: a demo data dir (generated once per session) and the tiny store."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import requests

from safetyviz import cli
from safetyviz.core.paths import shipped_dir
from safetyviz.data import catalog, loading, store

TESTS = Path(__file__).parent
# Headless Chromium for the browser tests: Debian's, with the flags of a closed network.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
PROJECT = TESTS.parent
TINY = TESTS / "data" / "tiny"


def pytest_xdist_auto_num_workers(config) -> int:
    """A worker per core this process may run on (not the host's count, which a container
    or a CPU affinity may not give us), at most 4: each worker makes its own demo data dir
    and starts its own servers, ~2 GB at their peak."""
    return max(1, min(4, len(os.sched_getaffinity(0))))


# The test files that took longest (one process, 2 cores, 2026-11-30: seconds): run first, so
# the workers end together instead of one finishing a long file alone at the end. A file not
# named keeps its place after them.
LONGEST_FILES = {"test_browser.py": 408, "test_province.py": 339, "test_serving.py": 283,
                 "test_real_ledgers.py": 134, "test_notebooks.py": 100, "test_notify.py": 56}


def pytest_collection_modifyitems(config, items) -> None:
    items.sort(key=lambda item: -LONGEST_FILES.get(item.path.name, 0))  # stable: in-file order


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None,
            input_text: str | None = None):
    """``safetyviz ARGS`` in a fresh interpreter (``input_text`` on its stdin); returns the
    CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "safetyviz.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=600,
                          input=input_text)


def assert_one_clear_line(result, *fragments):
    """A user error: exit code 2, one line on stderr naming ``fragments``, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def copy_regions(data_dir: Path) -> None:
    shutil.copytree(shipped_dir() / "regions", data_dir / "regions")


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """A data dir filled by `safetyviz demo` (records, cube, catalog.yaml)."""
    data_dir = tmp_path_factory.mktemp("demo")
    assert cli.main(["demo", "--data-dir", str(data_dir)]) == 0
    return data_dir


@pytest.fixture(scope="session")
def demo_catalog(demo_dir):
    return catalog.open_catalog(demo_dir / "catalog.yaml")


@pytest.fixture(scope="session")
def demo_records(demo_catalog) -> dict[str, pd.DataFrame]:
    """Every table of the demo store, read back through the catalog."""
    return loading.load_records(catalog=demo_catalog)


def read_tiny_table(table: str) -> pd.DataFrame:
    frame = pd.read_csv(TINY / f"{table}.csv", dtype=str, keep_default_na=False)
    frame = frame.replace({"": None})
    for field in store.SCHEMAS[table]:
        kind = str(field.type)
        if kind == "date32[day]":
            frame[field.name] = pd.to_datetime(frame[field.name])
        elif kind.startswith("int"):
            frame[field.name] = frame[field.name].astype("int64")
        elif kind == "double":
            frame[field.name] = frame[field.name].astype(float)
        elif kind == "bool":
            frame[field.name] = frame[field.name] == "True"
    return frame


@pytest.fixture()
def tiny_dir(tmp_path) -> Path:
    """A data dir holding the hand-checkable tiny store and the shipped boundaries."""
    copy_regions(tmp_path)
    store.write_store(tmp_path, {t: read_tiny_table(t) for t in store.TABLES})
    catalog.write_catalog(tmp_path / "catalog.yaml", "{CATALOG_DIR}")
    return tmp_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_page(url: str, timeout: float = 60) -> requests.Response:
    """``url`` fetched, its text read as UTF-8 (proxies and Bokeh may not say so)."""
    response = requests.get(url, timeout=timeout)
    response.encoding = "utf-8"
    return response


def start_server(command: list[str], **options) -> subprocess.Popen:
    """``command`` started with its output in a temporary file (``.log``): a pipe nobody
    reads fills after ~64 KB of warnings, and the server then hangs on its next write."""
    log = tempfile.TemporaryFile()
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **options)
    server.log = log  # type: ignore[attr-defined]
    return server


def server_output(server: subprocess.Popen) -> str:
    """What a server of :func:`start_server` wrote so far."""
    server.log.seek(0)  # type: ignore[attr-defined]
    return server.log.read().decode(errors="replace")  # type: ignore[attr-defined]


def wait_until_answering(url: str, server: subprocess.Popen, seconds: float = 90) -> None:
    """Wait until ``url`` answers; fail with the server's output if it dies or is slow."""
    deadline = time.time() + seconds
    while True:
        try:
            requests.get(url, timeout=30)
            return
        except requests.ConnectionError:
            assert server.poll() is None, server_output(server)
            assert time.time() < deadline, f"{url} did not answer in {seconds} s"
            time.sleep(0.5)


@contextlib.contextmanager
def panel_server(apps: list[str], catalog_file: Path):
    """`panel serve` of the registered pages ``apps`` (slugs) on a loopback port over the
    data of ``catalog_file``; yields the base URL once the first app answers."""
    from safetyviz.web.pages import PAGES

    port = free_port()
    env = {**os.environ, "SAFETYVIZ_CATALOG": str(catalog_file)}
    with tempfile.TemporaryDirectory(prefix="safetyviz-apps-") as folder:
        scripts = []
        for app in apps:  # an app script per page, as `safetyviz lab` writes them
            script = Path(folder) / f"{PAGES[app].slug}.py"
            script.write_text(f"from safetyviz.web.pages import PAGES\n\nPAGES[{app!r}]"
                              ".servable()\n", encoding="utf-8")
            scripts.append(str(script))
        server = start_server(
            [sys.executable, "-m", "panel", "serve", *scripts,
             "--port", str(port), "--address", "127.0.0.1",
             "--allow-websocket-origin", f"127.0.0.1:{port}"],
            cwd=PROJECT, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_answering(f"{base}/{apps[0]}", server)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture(scope="session")
def served_overview(demo_dir):
    """Every registered page served over the demo data; yields the overview's URL (the
    other pages are beside it, at /<slug>)."""
    from safetyviz.web.pages import PAGES

    with panel_server(list(PAGES), demo_dir / "catalog.yaml") as base:
        yield f"{base}/overview"


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's), shared by a module's browser tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """A throwaway redis-server on a loopback port (nothing saved to disk), which a test may
    stop and start again on the same port."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=1) as probe:
                probe.sendall(b"PING\r\n")
                if probe.recv(16).startswith(b"+PONG"):
                    return
            assert self.process.poll() is None, "redis-server did not start"
            assert time.time() < deadline, "redis-server did not answer in 20 s"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A redis-server for the session (Debian's; `make test` installs it)."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()

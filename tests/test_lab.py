"""JupyterLab (make lab → safetyviz lab): the dashboards are reachable inside it through
jupyter-panel-proxy, and every app component renders inline in a notebook."""

from __future__ import annotations

import os
import re
import signal
import sys

import pytest
import requests
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from conftest import PROJECT, free_port, start_server, wait_until_answering
from safetyviz.web.pages import PAGES

APPS = list(PAGES)  # every registered page


@pytest.fixture(scope="module")
def lab(demo_dir):
    """`safetyviz lab` on a loopback port with a known token; yields its base URL."""
    port, token = free_port(), "test-token"
    server = start_server(
        [sys.executable, "-m", "safetyviz.cli", "lab", "--port", str(port), "--token", token,
         "--data-dir", str(demo_dir)], cwd=PROJECT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base}/api/status", server, seconds=120)
        yield base, token
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # JupyterLab and the panel server it started
        server.wait(timeout=30)


def test_dashboards_are_served_inside_jupyterlab(lab):
    base, token = lab
    auth = {"Authorization": f"token {token}"}
    for app in APPS:
        page = requests.get(f"{base}/panel/{app}", headers=auth, timeout=120)
        assert page.status_code == 200, (app, page.status_code)
        html = page.content.decode("utf-8")  # the proxy drops the charset
        assert "Bokeh" in html and "<title>安全生产监管" in html
    index = requests.get(f"{base}/panel/", headers=auth, timeout=30)
    assert index.status_code == 200
    index_html = index.content.decode("utf-8")
    assert re.findall(r'href="([^"]+)"', index_html) == [f"./{a}" for a in APPS]
    assert not re.search(r"https?://", index_html)  # our own index: no CDN
    anonymous = requests.get(f"{base}/panel/overview", allow_redirects=False, timeout=30)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_every_app_component_renders_inline_in_a_notebook(demo_dir):
    cells = ["import panel as pn\npn.extension()"]
    for app in APPS:
        cells.append(f"from safetyviz.web.pages import PAGES\n"
                     f"PAGES[{app!r}].create(catalog={str(demo_dir / 'catalog.yaml')!r})")
    notebook = new_notebook(cells=[new_code_cell(c) for c in cells])
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(PROJECT)}}).execute()
    for cell in notebook.cells[1:]:
        outputs = cell["outputs"]
        assert not [o for o in outputs if o["output_type"] == "error"], outputs
        kinds = {kind for o in outputs for kind in o.get("data", {})}
        assert "application/vnd.holoviews_exec.v0+json" in kinds, (cell.source, kinds)

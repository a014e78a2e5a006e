"""safetyviz installed from its wheel (not editable, not from a checkout): the shipped files
(regions, reference figures, report templates, demo profile) are inside the package, and
`safetyviz demo` and `safetyviz serve` work from any directory."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import zipfile

import pytest

from conftest import PROJECT, free_port, get_page, start_server, wait_until_answering


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with the wheel installed; the dependencies come from this venv (a path
    line, so this venv's editable install of safetyviz is not seen)."""
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", str(PROJECT), "-w", str(folder / "dist")],
                   check=True, capture_output=True)
    (wheel,) = (folder / "dist").glob("safetyviz-*.whl")
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    with open(os.path.join(purelib, "_dependencies.pth"), "w") as f:
        f.write("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True)
    return wheel, venv, folder


def test_the_wheel_carries_the_shipped_files(installed):
    wheel, _, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in ("regions/boundaries.geojson", "reference/xuchang_2020q1_bulletin.csv",
                    "report/bulletin.html.j2", "demo/411000.yaml"):
        assert f"safetyviz/shipped/{shipped}" in names
    assert "safetyviz/web/pages.py" in names and "safetyviz/core/__init__.py" in names


def test_demo_and_serve_work_from_any_directory(installed, tmp_path):
    _, venv, _ = installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SAFETYVIZ_") and k != "PYTHONPATH"}
    command = str(venv / "bin" / "safetyviz")
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import safetyviz; print(safetyviz.__file__)"], cwd=elsewhere,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert str(venv) in where and str(PROJECT) not in where  # the installed copy
    demo = subprocess.run([command, "demo", "--data-dir", "city"], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert (elsewhere / "city" / "cube" / "cube.zarr").is_dir()
    assert (elsewhere / "city" / "regions" / "boundaries.geojson").is_file()
    port = free_port()
    server = start_server([command, "serve", "--data-dir", "city", "--port", str(port)],
                          cwd=elsewhere, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_answering(f"{base}/", server, seconds=120)
        assert "安全生产监管 · 首页" in get_page(f"{base}/").text  # the landing page
        page = get_page(f"{base}/overview")
        assert page.status_code == 200 and "安全生产监管 · 总览" in page.text
    finally:
        server.terminate()
        server.wait(timeout=30)

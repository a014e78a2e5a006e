"""The package's shape: the layer contract (pyproject's [tool.importlinter], checked by
import-linter) holds, covers every module, and catches an upward import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import PROJECT

LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))  # of this venv


def _layers() -> list[list[str]]:
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = config["tool"]["importlinter"]["contracts"]
    return [[m.strip() for m in layer.replace(":", "|").split("|")]
            for layer in contract["layers"]]


def _lint(root, config) -> subprocess.CompletedProcess:
    return subprocess.run([LINT_IMPORTS, "--config", str(config), "--no-cache"],
                          cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root / "src")})


def test_imports_only_go_down_the_layers():
    result = _lint(PROJECT, PROJECT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_every_module_has_its_layer():
    placed = [m for layer in _layers() for m in layer]
    assert len(placed) == len(set(placed)), "a module in two layers"
    package = PROJECT / "src" / "safetyviz"
    modules = {f"safetyviz.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {f"safetyviz.{p.name}" for p in package.iterdir()
                if (p / "__init__.py").exists()}
    assert modules - set(placed) == set(), "modules without a layer in pyproject.toml"
    assert set(placed) - modules == set(), "layers naming modules that do not exist"


def test_an_upward_import_breaks_the_contract(tmp_path):
    shutil.copytree(PROJECT / "src", tmp_path / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(PROJECT / "pyproject.toml", tmp_path / "pyproject.toml")
    store = tmp_path / "src" / "safetyviz" / "store.py"
    store.write_text(store.read_text(encoding="utf-8") + "\n\ndef _upward():\n"
                     "    from .components import page  # noqa: F401\n", encoding="utf-8")
    result = _lint(tmp_path, tmp_path / "pyproject.toml")
    assert result.returncode != 0 and "BROKEN" in result.stdout.upper()
    assert "safetyviz.store -> safetyviz.components.page" in result.stdout, result.stdout


PUBLIC_API = ["catalog.open_catalog", "catalog.read", "ingest.ingest", "cube.build_cube",
              "indicators.total", "indicators.rectification_rate", "indicators.year_over_year",
              "report.write_report", "workbench.open_workbench"]


def test_the_public_api_documents_its_parameters_and_returns():
    import importlib
    import inspect

    for dotted in PUBLIC_API:
        module, name = dotted.rsplit(".", 1)
        function = getattr(importlib.import_module(f"safetyviz.{module}"), name)
        doc = inspect.getdoc(function) or ""
        for section in ("Parameters\n----------", "Returns\n-------"):
            assert section in doc, f"{dotted}: no {section.splitlines()[0]} section"
        documented = doc.split("Parameters\n----------")[1].split("Returns\n-------")[0]
        for parameter in inspect.signature(function).parameters:
            assert parameter.strip("*") in documented, f"{dotted}: {parameter} undocumented"

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


def _contracts() -> dict[str, list[list[str]]]:
    """The layer contracts of pyproject.toml: their names → their layers' modules."""
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["name"]: [[m.strip() for m in layer.replace(":", "|").split("|")]
                        for layer in c["layers"]]
            for c in config["tool"]["importlinter"]["contracts"]}


def _children(folder: Path, prefix: str) -> set[str]:
    """The modules and packages directly in ``folder``."""
    modules = {f"{prefix}.{p.stem}" for p in folder.glob("*.py") if p.stem != "__init__"}
    return modules | {f"{prefix}.{p.name}" for p in folder.iterdir()
                      if (p / "__init__.py").exists()}


def _lint(root, config) -> subprocess.CompletedProcess:
    return subprocess.run([LINT_IMPORTS, "--config", str(config), "--no-cache"],
                          cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root / "src")})


def test_imports_only_go_down_the_layers():
    result = _lint(PROJECT, PROJECT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(_contracts())} kept, 0 broken" in result.stdout


def test_every_module_has_its_layer():
    """The first contract orders the package's top level; each subpackage has a contract
    ordering its modules (the components' pages are one module of the web package)."""
    contracts = list(_contracts().values())
    top = [m for layer in contracts[0] for m in layer]
    root = PROJECT / "src" / "safetyviz"
    assert sorted(top) == sorted(_children(root, "safetyviz"))
    inside = {layers[0][0].rsplit(".", 1)[0]: [m for layer in layers for m in layer]
              for layers in contracts[1:]}
    packages = {m for m in top if (root / m.split(".")[1] / "__init__.py").exists()}
    assert set(inside) == packages, "a package without its own contract"
    for package, modules in inside.items():
        folder = root / package.split(".")[1]
        assert len(modules) == len(set(modules)), f"{package}: a module in two layers"
        assert sorted(modules) == sorted(_children(folder, package)), package


def test_an_upward_import_breaks_the_contract(tmp_path):
    shutil.copytree(PROJECT / "src", tmp_path / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(PROJECT / "pyproject.toml", tmp_path / "pyproject.toml")
    store = tmp_path / "src" / "safetyviz" / "data" / "store.py"
    store.write_text(store.read_text(encoding="utf-8") + "\n\ndef _upward():\n"
                     "    from safetyviz.web.components import page  # noqa: F401\n",
                     encoding="utf-8")
    result = _lint(tmp_path, tmp_path / "pyproject.toml")
    assert result.returncode != 0 and "BROKEN" in result.stdout.upper()
    assert "safetyviz.data.store -> safetyviz.web.components.page" in result.stdout, result.stdout


PUBLIC_API = ["data.catalog.open_catalog", "data.catalog.read", "ingest.ledgers.ingest",
              "analysis.cube.build_cube", "analysis.indicators.total",
              "analysis.indicators.rectification_rate", "analysis.indicators.year_over_year",
              "report.render.write_report", "workbench.open_workbench"]


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


def test_the_package_type_checks():
    """mypy over the whole package (pyproject's [tool.mypy]): no errors. Third-party
    libraries without type information count as Any; a ``type: ignore`` names its code."""
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=PROJECT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout

"""Shared fixtures: a demo data dir (generated once per session) and the tiny store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from safetyviz import catalog, cli, loading, store
from safetyviz.paths import shipped_dir

TESTS = Path(__file__).parent
PROJECT = TESTS.parent
TINY = TESTS / "data" / "tiny"


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None):
    """``safetyviz ARGS`` in a fresh interpreter; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "safetyviz.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=600)


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

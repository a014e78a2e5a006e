"""Notebooks run top to bottom on the demo data (the bulletin notebook asserts its figures)."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import PROJECT

NOTEBOOKS = sorted((PROJECT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, demo_dir, monkeypatch):
    monkeypatch.setenv("SAFETYVIZ_CATALOG", str(demo_dir / "catalog.yaml"))
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:  # committed without outputs
        assert not cell.get("outputs") and not cell.get("execution_count")
    assert any("parameters" in c.metadata.get("tags", []) for c in notebook.cells)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    text = "\n".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    if path.stem == "01_q1_2020_bulletin":
        assert "25 of 25 published figures reproduced from the records" in text

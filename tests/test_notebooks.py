"""Notebooks run top to bottom on the demo data, give the same outputs every time, and rerun
for another period or county through their papermill parameters."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import nbformat
import papermill
import pytest
from nbclient import NotebookClient

from conftest import PROJECT

NOTEBOOKS = sorted((PROJECT / "notebooks").glob("*.ipynb"))
EXPECTED = ["01_q1_2020_bulletin", "02_county_comparison", "03_hazard_lifecycle",
            "04_enforcement", "05_accidents"]


def outputs(notebook) -> list:
    """Every cell's outputs (streams, results, figures), without execution counts; a
    stream's consecutive pieces joined (the kernel flushes a line and its newline apart or
    together, as timing has it)."""
    def joined(cell) -> list:
        out: list[dict] = []
        for output in cell.get("outputs", []):
            output = {key: value for key, value in output.items() if key != "execution_count"}
            if (out and output.get("output_type") == "stream"
                    and out[-1].get("output_type") == "stream"
                    and out[-1]["name"] == output["name"]):
                out[-1] = {**out[-1], "text": out[-1]["text"] + output["text"]}
            else:
                out.append(output)
        return out

    return [joined(cell) for cell in notebook.cells]


def execute(path):
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return notebook


def text_of(notebook) -> str:
    return "\n".join(output.get("text", "") or output.get("data", {}).get("text/plain", "")
                     for cell in notebook.cells for output in cell.get("outputs", []))


def test_the_analyses_are_all_there():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_gives_the_same_outputs_twice(path, demo_dir, monkeypatch):
    monkeypatch.setenv("SAFETYVIZ_CATALOG", str(demo_dir / "catalog.yaml"))
    committed = nbformat.read(path, as_version=4)
    for cell in committed.cells:  # committed without outputs
        assert not cell.get("outputs") and not cell.get("execution_count")
    assert any("parameters" in c.metadata.get("tags", []) for c in committed.cells)
    with ThreadPoolExecutor(2) as pool:  # two kernels side by side: mostly waiting on them
        first, second = pool.map(execute, [path, path])
    errors = [o for cell in first.cells for o in cell.get("outputs", [])
              if o.get("output_type") == "error" or o.get("name") == "stderr"]
    assert not errors
    assert outputs(first) == outputs(second)
    text = text_of(first)
    if path.stem == "01_q1_2020_bulletin":
        assert "25 of 25 published figures reproduced from the records" in text
        assert "28 figures in the bulletin: 25 reproduced, 3 not checkable" in text
    elif path.stem == "03_hazard_lifecycle":
        # Hand-checkable on the demo: 9,786 hazards found in 2020 Q1, 2,685 open on 31 March.
        assert "9,786 hazards found; by 2020-03-31 7,101 rectified, 2,685 still open" in text
    else:
        assert "2020年第一季度 · 许昌市" in text


def test_papermill_reruns_a_notebook_for_another_period_and_county(demo_dir, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("SAFETYVIZ_CATALOG", str(demo_dir / "catalog.yaml"))
    out = tmp_path / "02.ipynb"
    papermill.execute_notebook(str(PROJECT / "notebooks" / "02_county_comparison.ipynb"),
                               str(out), parameters={"period": "2021Q2", "county": "411002"},
                               cwd=str(PROJECT / "notebooks"), progress_bar=False)
    assert "2021年第二季度 · 魏都区" in text_of(nbformat.read(out, as_version=4))


@pytest.mark.parametrize("parameters, message", [
    ({"period": "2020Q5"}, "bad period '2020Q5'"),
    ({"county": "999999"}, "county '999999' is not one of"),
    ({"city": "110000"}, "holds the data of city 411000, not 110000"),
])
def test_a_bad_parameter_stops_the_notebook_with_a_clear_message(parameters, message,
                                                                 demo_dir, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv("SAFETYVIZ_CATALOG", str(demo_dir / "catalog.yaml"))
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(str(PROJECT / "notebooks" / "05_accidents.ipynb"),
                                   str(tmp_path / "05.ipynb"), parameters=parameters,
                                   cwd=str(PROJECT / "notebooks"), progress_bar=False)
    assert failure.value.ename == "UserError" and message in failure.value.evalue

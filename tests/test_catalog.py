"""The Intake catalog: each entry loads with plain intake; overrides; only catalog.py imports it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import PROJECT, assert_one_clear_line, run_cli
from safetyviz.core.errors import UserError
from safetyviz.data import catalog

PLAIN_INTAKE = """
import json, sys, intake
cat = intake.from_yaml_file(sys.argv[1])
out = {}
for name in sorted(cat.entries):
    value = cat[name].read()
    out[name] = [type(value).__module__.split(".")[0], type(value).__name__, len(value)]
print(json.dumps(out))
"""


def test_every_entry_loads_with_plain_intake_in_a_fresh_interpreter(demo_dir):
    result = subprocess.run([sys.executable, "-c", PLAIN_INTAKE, str(demo_dir / "catalog.yaml")],
                            capture_output=True, text=True, check=True, timeout=300)
    loaded = json.loads(result.stdout)
    assert set(loaded) == set(catalog.ENTRIES)
    for table in ("inspections", "hazards", "enforcement_actions", "enterprises"):
        assert loaded[table][:2] == ["dask", "DataFrame"]
    assert loaded["regions"] == ["geopandas", "GeoDataFrame", 6]
    assert loaded["cube"][:2] == ["xarray", "Dataset"]
    assert loaded["enterprises"][2] == 8000
    assert loaded["major_hazard_sites"][2] == 11


def test_project_catalog_is_what_build_catalog_writes(tmp_path):
    written = catalog.write_catalog(tmp_path / "c.yaml", "{CATALOG_DIR}/../data")
    shipped = PROJECT / "catalogs" / "safetyviz.yaml"
    assert yaml.safe_load(written.read_text()) == yaml.safe_load(shipped.read_text())


def test_project_catalog_paths_are_relative_to_the_catalog():
    text = (PROJECT / "catalogs" / "safetyviz.yaml").read_text()
    urls = [v["kwargs"]["url"] for v in yaml.safe_load(text)["data"].values()]
    assert urls and all(u.startswith("{CATALOG_DIR}/../data/") for u in urls)


def test_env_var_overrides_the_catalog(demo_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("SAFETYVIZ_CATALOG", str(demo_dir / "catalog.yaml"))
    assert catalog.catalog_path(tmp_path) == demo_dir / "catalog.yaml"
    cat = catalog.open_catalog()
    assert len(catalog.read("regions", cat)) == 6
    # The CLI follows it too: the cube is built from the demo store into an empty dir.
    result = run_cli("cube", "--data-dir", str(tmp_path),
                     env={"SAFETYVIZ_CATALOG": str(demo_dir / "catalog.yaml")})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cube" / "cube.zarr").is_dir()


def test_only_catalog_module_imports_intake():
    importers = [p.name for p in (PROJECT / "src" / "safetyviz").rglob("*.py")
                 if "import intake" in p.read_text() or "from intake" in p.read_text()]
    assert importers == ["catalog.py"]


def test_data_layers_do_not_import_panel_bokeh_or_holoviews():
    modules = ["cli", "data.catalog", "data.loading", "analysis.cube", "web.state",
               "synth.demo", "analysis.reference", "data.regions", "data.store",
               "core.periods", "analysis.bulletin", "report.render", "report.figures",
               "workbench", "analysis.monitoring", "synth.sensor_feed", "web.live",
               "data.readings", "ingest.monitor", "core.identity", "ingest.register",
               "ingest.ledgers", "ingest.readers", "ingest.mapping", "web.riskmap"]
    code = ("import sys; import " + ", ".join(f"safetyviz.{m}" for m in modules) + "; "
            "print(sorted(m for m in ('panel', 'bokeh', 'holoviews') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_catalog_without_an_entry_is_refused(tmp_path):
    path = Path(catalog.write_catalog(tmp_path / "c.yaml", "{CATALOG_DIR}"))
    data = yaml.safe_load(path.read_text())
    del data["entries"]["cube"]
    path.write_text(yaml.safe_dump(data))
    import pytest

    from safetyviz.core.errors import UserError

    with pytest.raises(UserError, match="lacks entries cube"):
        catalog.open_catalog(path)


def _malicious(tmp_path, change) -> Path:
    path = Path(catalog.write_catalog(tmp_path / "c.yaml", "{CATALOG_DIR}"))
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))
    return path


def _first_data_key(data) -> str:
    return data["entries"]["inspections"]["kwargs"]["args"][0][6:-2]


MALICIOUS = {
    "a reader that is not a data reader": (
        lambda d: d["entries"]["cube"].update(reader="builtins:eval"),
        "entry 'cube': reader 'builtins:eval' is not allowed"),
    "a data type that unpickles": (
        lambda d: d["data"][_first_data_key(d)].update(
            datatype="intake.readers.datatypes:Pickle"),
        "datatype 'intake.readers.datatypes:Pickle' is not allowed"),
    "an environment variable in a URL": (
        lambda d: d["data"][_first_data_key(d)]["kwargs"].update(url="{env(HOME)}/x"),
        "field url: '{env(HOME)}/x' is not a plain path"),
    "a shell-style variable in a URL": (
        lambda d: d["data"][_first_data_key(d)]["kwargs"].update(url="/data/${HOME}"),
        "is not a plain path"),
    "a function template in a read option": (
        lambda d: d["entries"]["cube"]["kwargs"].update(chunks="{func(os.system)}"),
        "looks like a template"),
    "an unknown read option": (
        lambda d: d["entries"]["cube"]["kwargs"].update(engine="netcdf4"),
        "read option(s) engine not allowed"),
    "user parameters": (
        lambda d: d.update(user_parameters={"x": {"default": "{env(HOME)}"}}),
        "user_parameters are not allowed"),
    "an entry reading something that is not its catalog's data": (
        lambda d: d["entries"]["cube"]["kwargs"].update(args=["{import(os)}"]),
        "must name one data item"),
}


@pytest.mark.parametrize("case", MALICIOUS, ids=list(MALICIOUS))
def test_a_catalog_that_could_run_code_is_refused_before_anything_loads(case, tmp_path):
    change, message = MALICIOUS[case]
    path = _malicious(tmp_path, change)
    with pytest.raises(UserError, match=re.escape(message)):
        catalog.open_catalog(path)


def test_a_yaml_tag_that_builds_python_objects_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = Path(catalog.write_catalog(tmp_path / "catalog.yaml", "{CATALOG_DIR}"))
    path.write_text(path.read_text() + f"extra: !!python/object/apply:os.system "
                    f"['touch {marker}']\n")
    with pytest.raises(UserError, match="not plain YAML data"):
        catalog.open_catalog(path)
    assert not marker.exists()
    result = run_cli("report", "--period", "2020Q1", "--out", str(tmp_path / "r.html"),
                     "--data-dir", str(tmp_path))  # the same through the command line
    assert_one_clear_line(result, "catalog.yaml, line", "not plain YAML data")
    assert not marker.exists()


def test_a_version_follows_the_entry_and_its_symlinks_and_asks_intake_once(tmp_path,
                                                                         monkeypatch):
    """``version`` is where an entry's data resolves now; intake builds the entry's reader
    for its URL once per catalog and entry (a page open asks for ~20 versions)."""
    import intake
    from intake.readers import datatypes, readers

    first, second = tmp_path / "v1", tmp_path / "v2"
    first.mkdir(), second.mkdir()
    (tmp_path / "current").symlink_to(first)
    cat = intake.entry.Catalog()
    cat["table"] = readers.DaskParquet(datatypes.Parquet(url=str(tmp_path / "current")))
    built = []
    rehydrate = type(cat)._rehydrate
    monkeypatch.setattr(type(cat), "_rehydrate",
                        lambda self, *a, **k: built.append(1) or rehydrate(self, *a, **k))
    assert catalog.version("table", cat) == str(first)
    asked = len(built)
    assert asked > 0
    (tmp_path / "current").unlink()
    (tmp_path / "current").symlink_to(second)  # a new version of the table
    assert catalog.version("table", cat) == str(second)
    assert len(built) == asked  # (its URL not built again)
    cat["table"] = readers.DaskParquet(datatypes.Parquet(url=str(first)))  # replaced
    assert catalog.version("table", cat) == str(first)
    with pytest.raises(KeyError):
        catalog.version("missing", cat)

"""Settings: the command line's over the environment's over the defaults, read in one
module; the command line passes them down instead of writing environment variables."""

from __future__ import annotations

import re

import pytest

from conftest import PROJECT
from safetyviz.core import settings
from safetyviz.core.paths import default_data_dir, tile_url
from safetyviz.data.catalog import catalog_path

URL = "http://tiles.example/{z}/{x}/{y}.png"


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    for variable in settings.ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)
    yield
    settings._configured.clear()


def test_configured_over_environment_over_defaults(monkeypatch, tmp_path):
    assert tile_url() is None and settings.current().dask_scheduler is None
    monkeypatch.setenv("SAFETYVIZ_TILES", URL)
    monkeypatch.setenv("SAFETYVIZ_DATA_DIR", str(tmp_path / "env"))
    assert tile_url() == "http://tiles.example/{Z}/{X}/{Y}.png"
    assert default_data_dir() == tmp_path / "env"
    assert catalog_path() == tmp_path / "env" / "catalog.yaml"
    settings.configure(data_dir=tmp_path / "flag", tiles="")
    assert default_data_dir() == tmp_path / "flag" and tile_url() is None  # "" = none
    settings.configure(data_dir=None)  # back to the environment's
    assert default_data_dir() == tmp_path / "env"
    with pytest.raises(TypeError, match="unknown settings: colour"):
        settings.configure(colour="red")


def test_serve_takes_flags_over_its_config_file_over_the_environment(monkeypatch, tmp_path):
    from safetyviz.cli import _serve_settings, build_parser

    def served(*flags):
        data_dir, tiles, values = _serve_settings(build_parser().parse_args(["serve", *flags]))
        return data_dir, tiles, values.get("port")

    monkeypatch.chdir(tmp_path)
    for name in ("env", "file", "flag"):
        (tmp_path / name).mkdir()
    assert served() == (default_data_dir().absolute(), None, None)  # the defaults
    monkeypatch.setenv("SAFETYVIZ_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("SAFETYVIZ_TILES", URL)
    assert served() == (tmp_path / "env", "http://tiles.example/{Z}/{X}/{Y}.png", None)
    config = tmp_path / "conf" / "serve.yaml"
    config.parent.mkdir()
    config.write_text("data_dir: ../file\ntiles: ''\nport: 5100\n")  # relative to the file
    assert served("--config", str(config)) == (tmp_path / "file", None, 5100)
    assert served("--config", str(config), "--data-dir", "flag", "--port", "5200",
                  "--tiles", URL) == (tmp_path / "flag",
                                      "http://tiles.example/{Z}/{X}/{Y}.png", 5200)
    # zero is a value given (no warm-up; as many processes as cores), not "no flag"
    config.write_text("data_dir: ../file\nwarm_seconds: 30\nnum_procs: 2\n")
    _, _, values = _serve_settings(build_parser().parse_args(
        ["serve", "--config", str(config), "--warm-seconds", "0", "--num-procs", "0"]))
    assert (values["warm_seconds"], values["num_procs"]) == (0, 0)


def test_the_cookie_secret_is_never_shown(monkeypatch):
    monkeypatch.setenv("SAFETYVIZ_COOKIE_SECRET", "s3cr3t-" * 8)
    assert settings.current().cookie_secret == "s3cr3t-" * 8
    assert "s3cr3t" not in repr(settings.current())


def test_only_the_settings_module_reads_or_writes_the_environment():
    readers = []
    for path in sorted((PROJECT / "src" / "safetyviz").rglob("*.py")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.search(r"os\.environ(\[|\.get|\.pop|\.setdefault)|os\.getenv", line):
                readers.append(f"{path.relative_to(PROJECT)}: {line.strip()}")
    # settings.py reads it; the lab passes its settings to the processes it starts
    assert [r for r in readers if not r.startswith("src/safetyviz/core/settings.py")] == [
        'src/safetyviz/cli.py: PATH=os.pathsep.join([bin_dir, os.environ.get("PATH", "")]))']

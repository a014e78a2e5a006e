"""The Parquet store: typed, partitioned by year, and written atomically."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import read_tiny_table
from safetyviz import store


def test_tables_are_typed_and_partitioned_by_year(tiny_dir):
    root = tiny_dir / "store"
    assert sorted(p.name for p in (root / "inspections").iterdir()) == [
        "_manifest.json", "year=2020"]
    assert (root / "enterprises" / "base.parquet").is_file()
    schema = pq.read_schema(root / "hazards" / "year=2020" / "base.parquet")
    assert str(schema.field("adcode").type) == "string"
    assert str(schema.field("found_date").type) == "date32[day]"
    assert str(schema.field("sector").type) == "dictionary<values=string, indices=int32, ordered=0>"
    fines = pq.read_table(root / "enforcement_actions").column("fine_yuan")
    assert str(fines.type) == "int64" and fines.to_pylist()[0] == 5000


def test_a_failed_write_leaves_the_old_store_untouched(tiny_dir):
    before = sorted(str(p.relative_to(tiny_dir)) for p in (tiny_dir / "store").rglob("*"))
    tables = {t: read_tiny_table(t) for t in store.TABLES}
    # Fails when cast, after the other tables were staged.
    tables["accidents"] = tables["accidents"].astype({"deaths": object})
    tables["accidents"].loc[0, "deaths"] = "many"
    with pytest.raises(Exception, match="many|int"):
        store.write_store(tiny_dir, tables)
    after = sorted(str(p.relative_to(tiny_dir)) for p in (tiny_dir / "store").rglob("*"))
    assert after == before


def test_leftovers_of_a_killed_writer_are_cleaned_up_by_the_next_write(tiny_dir):
    root = tiny_dir / "store"
    current = store.current_version(tiny_dir, "accidents")
    unfinished = current.parent / "99999999999999999999-deadbeef"  # newer, never linked
    unfinished.mkdir()
    (root / ".accidents.link-0123").symlink_to(unfinished)
    store.replace_table(tiny_dir, "accidents", read_tiny_table("accidents"))
    assert not unfinished.exists() and not list(root.glob(".accidents.link-*"))
    # The new version and the one before it remain; the store reads as before.
    assert len(list(current.parent.iterdir())) == 2
    assert pq.read_table(root / "accidents").num_rows == 1


def test_rewriting_replaces_the_whole_store(tiny_dir):
    tables = {t: read_tiny_table(t) for t in store.TABLES}
    tables["inspections"] = tables["inspections"].iloc[:2]
    tables["inspections"].loc[1, "date"] = pd.Timestamp("2019-12-31")
    store.write_store(tiny_dir, tables)
    years = sorted(p.name for p in (tiny_dir / "store" / "inspections").iterdir())
    assert years == ["_manifest.json", "year=2019", "year=2020"]
    assert pq.read_table(tiny_dir / "store" / "inspections").num_rows == 2

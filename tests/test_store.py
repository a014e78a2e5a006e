"""The Parquet store: typed, partitioned by year, and written atomically."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import read_tiny_table
from safetyviz.data import store


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


def test_dictionaries_keep_only_the_codes_a_file_holds():
    import pyarrow as pa

    vocabulary = pa.array(["a", "b", "c", "d"])
    chunk = pa.DictionaryArray.from_arrays(pa.array([3, None, 1, 3], type=pa.int32()),
                                           vocabulary)
    table = pa.table({"code": pa.chunked_array([chunk]), "n": [1, 2, 3, 4]})
    compact = store.compact_dictionaries(table).column("code").chunk(0)
    assert compact.dictionary.to_pylist() == ["b", "d"]
    assert compact.indices.to_pylist() == [1, None, 0, 1]
    assert compact.to_pylist() == ["d", None, "b", "d"]
    assert store.compact_dictionaries(table).column("n").to_pylist() == [1, 2, 3, 4]


def test_year_parts_are_written_in_parallel_under_their_year(tmp_path):
    import pyarrow as pa

    parts = {2021: pa.table({"x": [2]}), 2020: pa.table({"x": [1, 1]})}
    files = store.write_parts(tmp_path, "b1", parts)
    assert files == ["year=2020/b1.parquet", "year=2021/b1.parquet"]
    assert pq.read_table(tmp_path / files[0]).column("x").to_pylist() == [1, 1]
    assert store.write_parts(tmp_path / "flat", "b2", {None: parts[2021]}) == ["b2.parquet"]

"""The Parquet store: table schemas and atomic writes under ``<data-dir>/store/<table>/``.

Dated tables are partitioned by year (``year=YYYY/<batch>.parquet``, hive style); the others are
flat. Region keys are strings, codes are dictionary-encoded (categoricals when read), dates are
``date32``, money is yuan (int64).

Every table is a symlink ``store/<table>`` to an immutable version directory
``store/.versions/<table>/<id>/``. A write builds a new version beside the current one
(unchanged files are hard-linked, not copied), fsyncs it and swaps the symlink with one
``rename``: a reader, or a writer killed at any point, sees the old table or the new one, never
half. Each version carries ``_manifest.json`` (ignored by Parquet readers) listing its batches.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .paths import store_dir

_code = pa.dictionary(pa.int32(), pa.string())

SCHEMAS: dict[str, pa.Schema] = {
    "enterprises": pa.schema([
        ("enterprise_id", pa.string()), ("name", pa.string()), ("adcode", pa.string()),
        ("sector", _code), ("scale", _code), ("licence", _code), ("risk_level", _code),
        ("dual_prevention", _code), ("lon", pa.float64()), ("lat", pa.float64())]),
    "major_hazard_sites": pa.schema([
        ("site_id", pa.string()), ("enterprise_id", pa.string()), ("adcode", pa.string()),
        ("grade", pa.int8()), ("online_since", pa.date32()), ("lon", pa.float64()),
        ("lat", pa.float64())]),
    "sensors": pa.schema([
        ("sensor_id", pa.string()), ("site_id", pa.string()), ("adcode", pa.string()),
        ("kind", _code), ("unit", pa.string()), ("high", pa.float64()),
        ("high_high", pa.float64())]),
    "inspections": pa.schema([
        ("inspection_id", pa.string()), ("date", pa.date32()), ("adcode", pa.string()),
        ("enterprise_id", pa.string()), ("sector", _code), ("department", _code),
        ("joint_operation_id", pa.string()), ("campaign", _code)]),
    "hazards": pa.schema([
        ("hazard_id", pa.string()), ("inspection_id", pa.string()),
        ("enterprise_id", pa.string()), ("adcode", pa.string()), ("sector", _code),
        ("found_date", pa.date32()), ("level", _code), ("category", _code),
        ("deadline", pa.date32()), ("rectified_date", pa.date32()),
        ("listed_supervision", pa.bool_())]),
    "enforcement_actions": pa.schema([
        ("action_id", pa.string()), ("date", pa.date32()), ("adcode", pa.string()),
        ("enterprise_id", pa.string()), ("sector", _code), ("action_type", _code),
        ("persons", pa.int32()), ("fine_yuan", pa.int64()),
        ("joint_operation_id", pa.string())]),
    "joint_operations": pa.schema([
        ("joint_operation_id", pa.string()), ("date", pa.date32()), ("adcode", pa.string()),
        ("departments", pa.string()), ("target", pa.string())]),
    "accidents": pa.schema([
        ("accident_id", pa.string()), ("date", pa.date32()), ("adcode", pa.string()),
        ("sector", _code), ("level", _code), ("deaths", pa.int32()), ("injuries", pa.int32()),
        ("direct_loss_yuan", pa.int64())]),
}

# The date a dated table is partitioned (and mostly filtered) by.
PARTITION_DATE = {
    "inspections": "date", "hazards": "found_date", "enforcement_actions": "date",
    "joint_operations": "date", "accidents": "date",
}
TABLES = tuple(SCHEMAS)
MANIFEST = "_manifest.json"


def to_arrow(table: str, frame: pd.DataFrame) -> pa.Table:
    """``frame`` cast to the table's schema (column order and types)."""
    schema = SCHEMAS[table]
    columns = {}
    for field in schema:
        values = frame[field.name]
        if pa.types.is_date32(field.type):
            stamps = pd.to_datetime(values).astype("datetime64[ns]")
            columns[field.name] = pa.array(stamps, from_pandas=True).cast(pa.date32())
            continue
        if pa.types.is_dictionary(field.type):
            values = values.astype("string")
        columns[field.name] = pa.array(values, type=field.type, from_pandas=True)
    return pa.table(columns, schema=schema)


def _fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            with open(Path(folder) / name, "rb") as f:
                os.fsync(f.fileno())
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_batch_files(table: str, frame, version: Path, batch: str) -> list[str]:
    """Write ``frame`` (a pandas DataFrame, or an Arrow table already in the schema) into
    ``version`` as files named after ``batch``; returns their paths relative to it."""
    arrow = frame if isinstance(frame, pa.Table) else to_arrow(table, frame)
    date = PARTITION_DATE.get(table)
    if date is None:
        return write_parts(version, batch, {None: arrow})
    years = pc.year(arrow.column(date))
    return write_parts(version, batch, {
        year: arrow.filter(pc.equal(years, year))
        for year in sorted(pc.unique(years).drop_null().to_pylist())})


def write_parts(version: Path, batch: str, parts: dict[int | None, pa.Table]) -> list[str]:
    """Write one batch's parts, keyed by year (None: a flat table), as
    ``year=YYYY/<batch>.parquet``; the files are written in parallel (Parquet encoding
    releases the GIL). Returns their paths relative to ``version``."""
    files = {year: f"year={year}/{batch}.parquet" if year is not None else f"{batch}.parquet"
             for year in parts}
    for relative in files.values():
        (version / relative).parent.mkdir(parents=True, exist_ok=True)
    def write(year) -> None:
        pq.write_table(compact_dictionaries(parts[year]), version / files[year])

    with ThreadPoolExecutor(max_workers=min(len(parts), os.cpu_count() or 1) or 1) as pool:
        list(pool.map(write, parts))
    return [files[year] for year in sorted(parts, key=lambda y: (y is not None, y))]


def compact_dictionaries(table: pa.Table) -> pa.Table:
    """Dictionary columns keep only the values they use (a file's categories are the codes it
    holds, however the dictionary was built)."""
    for i, column in enumerate(table.columns):
        if not pa.types.is_dictionary(column.type):
            continue
        chunks = []
        for chunk in column.chunks:
            size = len(chunk.dictionary)
            valid = chunk.is_valid().to_numpy(zero_copy_only=False)
            indices = chunk.indices.fill_null(0).to_numpy().astype(np.int64)
            used = np.bincount(indices[valid], minlength=size).astype(bool)
            if used.all():
                chunks.append(chunk)
                continue
            renumber = (np.cumsum(used) - 1).astype(np.int32)
            chunks.append(pa.DictionaryArray.from_arrays(
                pa.array(renumber[indices], mask=~valid), chunk.dictionary.filter(used)))
        table = table.set_column(i, table.field(i), pa.chunked_array(chunks, column.type))
    return table


def current_version(data_dir: Path, table: str) -> Path | None:
    """The version directory ``store/<table>`` points to, if any."""
    link = store_dir(data_dir) / table
    return link.resolve() if link.is_symlink() else None


def read_manifest(version: Path | None) -> dict:
    if version is None or not (version / MANIFEST).exists():
        return {"batches": {}}
    return json.loads((version / MANIFEST).read_text(encoding="utf-8"))


def publish(link: Path, build, retain_seconds: float = 0) -> Path:
    """Build a new version and point ``link`` at it atomically.

    ``build(new_dir, old_dir_or_None)`` fills ``new_dir``, a fresh directory under
    ``<link's folder>/.versions/<link's name>/``; then a new symlink replaces ``link`` by one
    ``rename``. Killed before that, nothing changed; after it, the new version is complete.
    Replaced versions younger than ``retain_seconds`` are kept for readers still on them.
    """
    versions = link.parent / ".versions" / link.name
    versions.mkdir(parents=True, exist_ok=True)
    cleanup(link, retain_seconds)
    old = link.resolve() if link.is_symlink() else None
    new = versions / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    try:
        new.mkdir()
        build(new, old)
        _fsync_tree(new)
        temporary = link.parent / f".{link.name}.link-{uuid.uuid4().hex}"
        os.symlink(os.path.relpath(new, link.parent), temporary)
        os.replace(temporary, link)  # the commit point
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    cleanup(link, retain_seconds)
    return new


def cleanup(link: Path, retain_seconds: float = 0) -> None:
    """Remove what a killed writer left (stray links, versions newer than the current one) and
    old versions; the current version, the one before it and the older ones made less than
    ``retain_seconds`` ago stay (a reader may be on them)."""
    for stray in link.parent.glob(f".{link.name}.link-*"):
        stray.unlink(missing_ok=True)
    versions = link.parent / ".versions" / link.name
    if not versions.is_dir():
        return
    current = link.resolve() if link.is_symlink() else None
    recent = f"{time.time_ns() - int(retain_seconds * 1e9):020d}"
    for version in sorted(versions.iterdir()):
        older = current is not None and version.name < current.name
        kept = older and (version == _previous(versions, current) or version.name > recent)
        if version != current and not kept:
            shutil.rmtree(version, ignore_errors=True)


def _previous(versions: Path, current: Path) -> Path | None:
    earlier = sorted(v for v in versions.iterdir() if v.name < current.name)
    return earlier[-1] if earlier else None


def link_files(old: Path, new: Path, keep) -> None:
    """Hard-link the Parquet files of ``old`` for which ``keep(relative_path)`` is true."""
    for path in old.rglob("*.parquet"):
        relative = path.relative_to(old)
        if keep(str(relative)):
            (new / relative).parent.mkdir(parents=True, exist_ok=True)
            os.link(path, new / relative)


def write_manifest(version: Path, manifest: dict) -> None:
    (version / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1),
                                    encoding="utf-8")


def replace_table(data_dir: Path, table: str, frame: pd.DataFrame, batch: str = "base") -> Path:
    """Replace all of ``table`` with ``frame`` (one batch)."""
    def build(new: Path, old: Path | None) -> None:
        files = write_batch_files(table, frame, new, batch)
        write_manifest(new, {"batches": {batch: {"files": files, "rows": len(frame)}}})

    return publish(store_dir(data_dir) / table, build)


def write_store(data_dir: Path, tables: dict[str, pd.DataFrame]) -> Path:
    """Replace each table of ``tables`` (every table atomically); returns the store path."""
    unknown = set(tables) - set(SCHEMAS)
    if unknown:
        raise ValueError(f"unknown table(s): {sorted(unknown)}")
    for table in tables:  # fail on a bad frame before anything is replaced
        to_arrow(table, tables[table])
    store_dir(data_dir).mkdir(parents=True, exist_ok=True)
    for table, frame in tables.items():
        replace_table(data_dir, table, frame)
    return store_dir(data_dir)


def missing_tables(data_dir: Path) -> list[str]:
    """Tables of the store with no Parquet file yet."""
    missing = []
    for table in TABLES:
        version = current_version(data_dir, table)
        if version is None or not any(version.rglob("*.parquet")):
            missing.append(table)
    return missing


def has_data(data_dir: Path) -> bool:
    """True when the store holds every table with at least one Parquet file."""
    return not missing_tables(data_dir)

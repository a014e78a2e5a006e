"""The Parquet store: table schemas and atomic writes under ``<data-dir>/store/<table>/``.

Dated tables are partitioned by year (``year=YYYY/part-0.parquet``, hive style); the others are
one file. Region keys are strings, codes are dictionary-encoded (categoricals when read),
dates are ``date32``, money is yuan (int64). A write stages the new files in a sibling
directory, fsyncs them and swaps directories by rename, so a reader or a killed writer never
sees half a table.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
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


def to_arrow(table: str, frame: pd.DataFrame) -> pa.Table:
    """``frame`` cast to the table's schema (column order and types)."""
    schema = SCHEMAS[table]
    columns = {}
    for field in schema:
        values = frame[field.name]
        if pa.types.is_date32(field.type):
            values = pd.to_datetime(values).dt.date
        elif pa.types.is_dictionary(field.type):
            values = values.astype("string")
        columns[field.name] = pa.array(values, type=field.type, from_pandas=True)
    return pa.table(columns, schema=schema)


def _fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            with open(Path(folder) / name, "rb") as f:
                os.fsync(f.fileno())


def _write_table_files(table: str, frame: pd.DataFrame, target: Path) -> None:
    arrow = to_arrow(table, frame)
    target.mkdir(parents=True)
    date = PARTITION_DATE.get(table)
    if date is None:
        pq.write_table(arrow, target / "part-0.parquet")
        return
    years = pd.to_datetime(frame[date]).dt.year.to_numpy()
    for year in sorted(set(years)):
        folder = target / f"year={year}"
        folder.mkdir()
        pq.write_table(arrow.filter(pa.array(years == year)), folder / "part-0.parquet")


def write_store(data_dir: Path, tables: dict[str, pd.DataFrame]) -> Path:
    """Replace the whole store with ``tables`` atomically; returns the store path."""
    unknown = set(tables) - set(SCHEMAS)
    if unknown:
        raise ValueError(f"unknown table(s): {sorted(unknown)}")
    final = store_dir(data_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".store-staging-{uuid.uuid4().hex}"
    try:
        staging.mkdir()
        for table, frame in tables.items():
            _write_table_files(table, frame, staging / table)
        _fsync_tree(staging)
        swap_in(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def swap_in(staging: Path, final: Path) -> None:
    """Rename ``staging`` to ``final``, moving any old ``final`` aside first and removing it
    after; a crash in between leaves the old copy in ``.old-*`` for :func:`recover`."""
    old = final.parent / f".old-{final.name}-{uuid.uuid4().hex}"
    if final.exists():
        os.rename(final, old)
    os.rename(staging, final)
    shutil.rmtree(old, ignore_errors=True)


def recover(final: Path) -> None:
    """After a crash between the two renames of :func:`swap_in`, put the old copy back."""
    if final.exists():
        for leftover in final.parent.glob(f".old-{final.name}-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        return
    leftovers = sorted(final.parent.glob(f".old-{final.name}-*"), key=os.path.getmtime)
    if leftovers:
        os.rename(leftovers[-1], final)


def has_data(data_dir: Path) -> bool:
    """True when the store holds every table with at least one Parquet file."""
    root = store_dir(data_dir)
    recover(root)
    return all(any((root / table).rglob("*.parquet")) for table in TABLES)

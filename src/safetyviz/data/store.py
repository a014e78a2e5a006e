"""The Parquet store: table schemas and atomic writes under ``<data-dir>/store/<table>/``.

Dated tables are partitioned by year (``year=YYYY/<batch>.parquet``, hive style); the others are
flat. Region keys are strings, codes are dictionary-encoded (categoricals when read), dates are
``date32``, money is yuan (int64).

Every table is a symlink ``store/<table>`` to an immutable version directory
``store/.versions/<table>/<id>/``. A write builds a new version beside the current one
(unchanged files are hard-linked, not copied), fsyncs it and swaps the symlink with one
``rename``: a reader, or a writer killed at any point, sees the old table or the new one, never
half. Each version carries ``_manifest.json`` (ignored by Parquet readers) listing its batches.

A change to several tables at once (an ingest adding records and provisional firms to the
register, a merge of two firms relinking records in every table and updating the cube) is a
:class:`Transaction`: every new version is written first, then a journal naming them all
(``<data-dir>/.transaction.json``, the commit point), then the links are switched. A writer
killed before the journal leaves nothing; one killed after it is finished by :func:`recover`,
which every writer and :func:`current_version` run first. Writers of one data dir take turns
(an advisory lock on ``<data-dir>/.lock``).

The record tables read one firm at a time are compacted off the ingest path
(:func:`compact`, ``safetyviz store compact``): a batch's files of a year merged into one,
sorted by firm and date, in row groups whose statistics let a reader skip all but a firm's.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from safetyviz.core.paths import store_dir

_code = pa.dictionary(pa.int32(), pa.string())

SCHEMAS: dict[str, pa.Schema] = {
    # The register: ``registered`` is False for a provisional firm (named by a ledger, not
    # yet in the register; ``batch`` is the batch that named it first); ``aliases`` are
    # former and other names, "|"-separated; ``closed_on`` the date it closed.
    "enterprises": pa.schema([
        ("enterprise_id", pa.string()), ("credit_code", pa.string()), ("name", pa.string()),
        ("aliases", pa.string()), ("adcode", pa.string()),
        ("sector", _code), ("scale", _code), ("licence", _code), ("risk_level", _code),
        ("dual_prevention", _code), ("lon", pa.float64()), ("lat", pa.float64()),
        ("registered", pa.bool_()), ("batch", pa.string()), ("closed_on", pa.date32())]),
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
        ("enterprise_id", pa.string()), ("target_name", pa.string()), ("sector", _code),
        ("action_type", _code),
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
TRANSACTION = ".transaction.json"
# String columns with few distinct values per file (dictionary-encoded when written).
FEW_VALUED = {"adcode", "enterprise_id", "site_id", "joint_operation_id", "unit"}
# Tables read one firm at a time (an enterprise profile), kept sorted by firm by
# :func:`compact` in row groups of this many rows: small enough that one firm's rows are a
# small read, large enough that a file's footer stays small.
SORTED_BY_FIRM = ("inspections", "hazards", "enforcement_actions")
FIRM_ROW_GROUP_ROWS = 4_096
# Values of columns added to a schema after a store was written (others become null).
ADDED_COLUMN_DEFAULTS = {("enterprises", "registered"): True}


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
        write_file(parts[year], version / files[year])

    with ThreadPoolExecutor(max_workers=min(len(parts), os.cpu_count() or 1) or 1) as pool:
        list(pool.map(write, parts))
    return [files[year] for year in sorted(parts, key=lambda y: (y is not None, y))]


def write_file(table: pa.Table, path: Path, **options) -> None:
    """Write one Parquet file of the store (``options`` go to ``pq.write_table``)."""
    table = compact_dictionaries(table)
    # Dictionary pages for codes and other few-valued columns only: an id column, one
    # value per row, would be tried and dropped (a fifth of the write time).
    few = [f.name for f in table.schema if pa.types.is_dictionary(f.type)
           or f.name in FEW_VALUED]
    pq.write_table(table, path, use_dictionary=few, **options)


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
            if size and not used.any():  # all null: one code kept, as an empty dictionary
                used[0] = True  # reads back as categories of another type than the others'
            if used.all():
                chunks.append(chunk)
                continue
            renumber = (np.cumsum(used) - 1).astype(np.int32)
            chunks.append(pa.DictionaryArray.from_arrays(
                pa.array(renumber[indices], mask=~valid), chunk.dictionary.filter(used)))
        table = table.set_column(i, table.field(i), pa.chunked_array(chunks, column.type))
    return table


def current_version(data_dir: Path, table: str) -> Path | None:
    """The version directory ``store/<table>`` points to, if any (a switch of several tables
    left half done by a killed writer is finished first)."""
    recover(data_dir)
    link = store_dir(data_dir) / table
    return link.resolve() if link.is_symlink() else None


def read_manifest(version: Path | None) -> dict:
    if version is None or not (version / MANIFEST).exists():
        return {"batches": {}}
    return json.loads((version / MANIFEST).read_text(encoding="utf-8"))


# --- writers: one at a time per data dir -----------------------------------------------------
_LOCKS: dict[Path, list] = {}  # data dir → [open lock file, depth]
_LOCKS_GUARD = threading.RLock()


@contextlib.contextmanager
def writing(data_dir: Path):
    """Hold the data dir's writer lock (re-entrant within a process): writers of one data dir
    take turns, so none removes a version another is still writing."""
    key = Path(data_dir).resolve()
    with _LOCKS_GUARD:
        held = _LOCKS.get(key)
        if held is None:
            key.mkdir(parents=True, exist_ok=True)
            handle = open(key / ".lock", "a+")  # noqa: SIM115 (kept open while held)
            fcntl.flock(handle, fcntl.LOCK_EX)
            held = _LOCKS[key] = [handle, 0]
        held[1] += 1
    try:
        yield
    finally:
        with _LOCKS_GUARD:
            held[1] -= 1
            if held[1] == 0:
                fcntl.flock(held[0], fcntl.LOCK_UN)
                held[0].close()
                del _LOCKS[key]


def _data_dir_of(link: Path) -> Path:
    """The data dir a versioned link lives in (``store/<table>``, ``cube/cube.zarr``, …)."""
    return link.parent.parent


def _new_version(link: Path) -> Path:
    versions = link.parent / ".versions" / link.name
    versions.mkdir(parents=True, exist_ok=True)
    new = versions / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    new.mkdir()
    return new


def _switch(link: Path, new: Path) -> None:
    """Point ``link`` at ``new`` with one rename."""
    temporary = link.parent / f".{link.name}.link-{uuid.uuid4().hex}"
    os.symlink(os.path.relpath(new, link.parent), temporary)
    os.replace(temporary, link)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(link: Path, build, retain_seconds: float = 0) -> Path:
    """Build a new version and point ``link`` at it atomically.

    ``build(new_dir, old_dir_or_None)`` fills ``new_dir``, a fresh directory under
    ``<link's folder>/.versions/<link's name>/``; then a new symlink replaces ``link`` by one
    ``rename``. Killed before that, nothing changed; after it, the new version is complete.
    Replaced versions younger than ``retain_seconds`` are kept for readers still on them.
    """
    with writing(_data_dir_of(link)):
        recover(_data_dir_of(link))
        cleanup(link, retain_seconds)
        old = link.resolve() if link.is_symlink() else None
        new = _new_version(link)
        try:
            build(new, old)
            _fsync_tree(new)
            _switch(link, new)  # the commit point
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        cleanup(link, retain_seconds)
    return new


class Transaction:
    """New versions of several links (store tables, the cube) of one data dir, switched
    together or not at all::

        with Transaction(data_dir) as change:
            records = change.build(store_dir(data_dir) / "inspections", build_records)
            change.build(store_dir(data_dir) / "enterprises", build_register)

    Each ``build(new, old)`` runs at once (a later one may read the versions built before
    it); leaving the block without an error commits (journal, then the switches), with one
    removes every version built.
    """

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.built: dict[Path, Path] = {}
        self._lock = writing(self.data_dir)

    def __enter__(self) -> Transaction:
        self._lock.__enter__()
        recover(self.data_dir)
        return self

    def old(self, link: Path) -> Path | None:
        """The version ``link`` points to before this transaction."""
        return link.resolve() if link.is_symlink() else None

    def build(self, link: Path, build) -> Path:
        if _data_dir_of(link).resolve() != self.data_dir.resolve():
            raise ValueError(f"{link} is not in {self.data_dir}")
        if link in self.built:
            raise ValueError(f"{link} is already part of this transaction")
        cleanup(link)
        new = _new_version(link)
        self.built[link] = new
        build(new, self.old(link))
        _fsync_tree(new)
        return new

    def build_side_by_side(self, builds: Mapping[Path, Callable[[Path, Path | None], None]]
                           ) -> dict[Path, Path]:
        """:meth:`build` of independent links at the same time (Parquet writing leaves the
        interpreter free: one table's files are written while another's rows are made)."""
        with ThreadPoolExecutor(max_workers=len(builds) or 1) as pool:
            futures = {link: pool.submit(self.build, link, build)
                       for link, build in builds.items()}
            return {link: future.result() for link, future in futures.items()}

    def __exit__(self, kind, error, traceback) -> None:
        try:
            if kind is None and self.built:
                self._commit()
            elif kind is not None:
                for new in self.built.values():
                    shutil.rmtree(new, ignore_errors=True)
        finally:
            self._lock.__exit__(kind, error, traceback)

    def _commit(self) -> None:
        journal = self.data_dir / TRANSACTION
        entries = {str(link.relative_to(self.data_dir)): str(new.relative_to(self.data_dir))
                   for link, new in self.built.items()}
        temporary = journal.with_name(f"{journal.name}.{uuid.uuid4().hex}")
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(entries, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, journal)  # the commit point
        _fsync_dir(self.data_dir)
        recover(self.data_dir)
        for link in self.built:
            cleanup(link)


def recover(data_dir: Path) -> None:
    """Finish the switch of a committed transaction (its journal exists) left half done by a
    killed writer; the journal goes once every link points at its new version. Costs one
    ``stat`` when there is nothing to finish; otherwise waits for the writer lock (a writer
    switching right now holds it for milliseconds)."""
    journal = Path(data_dir) / TRANSACTION
    if not journal.exists():
        return
    try:
        with writing(data_dir):
            if not journal.exists():  # finished by its writer meanwhile
                return
            try:
                entries = json.loads(journal.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return
            for relative_link, relative_new in entries.items():
                link, new = Path(data_dir) / relative_link, Path(data_dir) / relative_new
                if new.is_dir() and (not link.is_symlink() or link.resolve() != new.resolve()):
                    _switch(link, new)
            journal.unlink(missing_ok=True)
            _fsync_dir(Path(data_dir))
    except PermissionError:  # a reader without write access: the next writer finishes it
        return


def _pending(data_dir: Path) -> set[Path]:
    """The versions a committed, not yet finished transaction switches to."""
    journal = Path(data_dir) / TRANSACTION
    try:
        entries = json.loads(journal.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {(Path(data_dir) / new).resolve() for new in entries.values()}


def cleanup(link: Path, retain_seconds: float = 0) -> None:
    """Remove what a killed writer left (stray links, versions newer than the current one) and
    old versions; the current version, the one before it and the older ones made less than
    ``retain_seconds`` ago stay (a reader may be on them), and so do the versions of a
    transaction being switched."""
    for stray in link.parent.glob(f".{link.name}.link-*"):
        stray.unlink(missing_ok=True)
    versions = link.parent / ".versions" / link.name
    if not versions.is_dir():
        return
    current = link.resolve() if link.is_symlink() else None
    pending = _pending(_data_dir_of(link))
    recent = f"{time.time_ns() - int(retain_seconds * 1e9):020d}"
    previous = _previous(versions, current) if current is not None else None
    for version in sorted(versions.iterdir()):  # (previous found once: hundreds may be kept)
        kept = (current is not None and version.name < current.name
                and (version == previous or version.name > recent))
        if version != current and not kept and version.resolve() not in pending:
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


def outdated_tables(data_dir: Path) -> list[str]:
    """Tables with files written under an earlier schema (a column since added missing)."""
    out = []
    for table in TABLES:
        version = current_version(data_dir, table)
        files = sorted(version.rglob("*.parquet")) if version is not None else []
        if any(pq.read_schema(f).names != SCHEMAS[table].names for f in files):
            out.append(table)
    return out


def upgrade(data_dir: Path) -> list[str]:
    """Bring a store written by an earlier safetyviz to the current schemas: each outdated
    table gets a new version whose files have the added columns (null, or the value of
    :data:`ADDED_COLUMN_DEFAULTS`). Returns the tables upgraded."""
    upgraded = []
    for table in outdated_tables(data_dir):
        schema = SCHEMAS[table]

        def build(new: Path, old: Path, table=table, schema=schema) -> None:
            for path in old.rglob("*.parquet"):
                written = pq.read_table(path)
                columns = []
                for field in schema:
                    if field.name in written.column_names:
                        columns.append(written.column(field.name).cast(field.type))
                    else:
                        value = ADDED_COLUMN_DEFAULTS.get((table, field.name))
                        columns.append(pa.array([value] * written.num_rows, field.type))
                target = new / path.relative_to(old)
                target.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(pa.table(columns, schema=schema), target)
            write_manifest(new, read_manifest(old))

        publish(store_dir(data_dir) / table, build)
        upgraded.append(table)
    return upgraded


def sorted_by_firm(path: Path) -> bool:
    """True when the Parquet file at ``path`` declares its rows sorted by ``enterprise_id``
    (as :func:`compact` writes them)."""
    metadata = pq.ParquetFile(path).metadata
    if metadata.num_row_groups == 0:
        return True
    sorting = metadata.row_group(0).sorting_columns
    return bool(sorting) and metadata.schema.column(sorting[0].column_index).name == \
        "enterprise_id"


def compaction_plan(version: Path) -> dict[str, list[str]]:
    """What :func:`compact` rewrites in a version of a table sorted by firm: target file →
    the files merged into it (paths relative to ``version``). A batch's files of one
    partition become one file named after the batch; a file already alone and sorted by
    firm stays as it is."""
    owner = {file: batch for batch, entry in read_manifest(version)["batches"].items()
             for file in entry.get("files", [])}
    present = sorted(str(p.relative_to(version)) for p in version.rglob("*.parquet"))
    groups: dict[tuple[str, str], list[str]] = {}
    for relative in present:
        folder = str(Path(relative).parent)
        # A file no batch lists is a group of its own.
        groups.setdefault((owner.get(relative, relative), folder), []).append(relative)
    plan = {}
    for (batch, folder), files in groups.items():
        if len(files) == 1 and sorted_by_firm(version / files[0]):
            continue
        target = files[0]
        if len(files) > 1 and str(Path(folder) / f"{batch}.parquet") not in present:
            target = str(Path(folder) / f"{batch}.parquet")
        plan[target] = files
    return plan


def _compaction_build(table: str, plan: dict[str, list[str]], row_group_rows: int):
    """A ``publish`` build step writing ``plan`` (see :func:`compaction_plan`): each target
    sorted by firm, then date, in row groups of ``row_group_rows``; the other files linked;
    the manifest's batches naming the new files."""
    schema = SCHEMAS[table]
    order = [("enterprise_id", "ascending"), (PARTITION_DATE[table], "ascending")]
    sorting = pq.SortingColumn.from_ordering(schema, order, null_placement="at_end")
    keys = [(column, direction, "at_end") for column, direction in order]

    def rewrite(new: Path, old: Path, target: str, files: list[str]) -> None:
        records = pq.read_table([str(old / f) for f in files], schema=schema,
                                partitioning=None).unify_dictionaries().combine_chunks()
        order = pc.sort_indices(records, sort_keys=keys)
        (new / target).parent.mkdir(parents=True, exist_ok=True)
        write_file(records.take(order), new / target, row_group_size=row_group_rows,
                   sorting_columns=sorting)

    def build(new: Path, old: Path | None) -> None:
        assert old is not None
        merged = {file: target for target, files in plan.items() for file in files}
        link_files(old, new, keep=lambda relative: relative not in merged)
        with ThreadPoolExecutor(max_workers=min(len(plan), os.cpu_count() or 1) or 1) as pool:
            list(pool.map(lambda item: rewrite(new, old, *item), plan.items()))
        manifest = read_manifest(old)
        for entry in manifest["batches"].values():
            if "files" in entry:
                entry["files"] = sorted({merged.get(f, f) for f in entry["files"]})
        write_manifest(new, manifest)

    return build


def compact(change: Transaction, data_dir: Path,
            row_group_rows: int = FIRM_ROW_GROUP_ROWS) -> dict[str, Path]:
    """Within ``change``, give each table of :data:`SORTED_BY_FIRM` that needs it a new
    version whose files are sorted by firm (see :func:`compaction_plan`): one firm's records
    then lie in a row group or two of each file, and a reader filtering on the firm skips
    the others by their statistics. The records are the same. Returns the new versions."""
    built = {}
    for table in SORTED_BY_FIRM:
        link = store_dir(data_dir) / table
        old = change.old(link)
        plan = compaction_plan(old) if old is not None else {}
        if plan:
            built[table] = change.build(link, _compaction_build(table, plan, row_group_rows))
    return built


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

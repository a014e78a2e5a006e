"""Loading: typed, lazy access to the catalog's entries.

Turns what the catalog returns into the types the rest of the code relies on: dates as
``datetime64[ns]`` (the store keeps ``date32``), adcodes as strings, regions sorted by adcode,
the cube in memory. No computation beyond type conversion happens here. Tables come lazily
(dask) through the catalog's readers, except the few rows of one firm (:func:`rows_where`),
read at once from the row groups whose statistics admit them.
"""

from __future__ import annotations

import os

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from safetyviz.core.cache import LRU
from safetyviz.core.errors import UserError
from safetyviz.core.threads import WorkerPool
from safetyviz.data import catalog as catalog_module
from safetyviz.data.store import SCHEMAS


def _date_columns(table: str) -> list[str]:
    return [f.name for f in SCHEMAS[table] if str(f.type) == "date32[day]"]


def load_table(name: str, columns: list[str] | None = None, catalog=None,
               filters: list | None = None) -> dd.DataFrame:
    """A store table as a lazy dask DataFrame (only ``columns`` if given; ``filters`` in
    pyarrow's form are pushed down to the Parquet files)."""
    if name not in SCHEMAS:
        raise UserError(f"unknown table {name!r}; tables: {', '.join(SCHEMAS)}")
    kwargs = {"filters": filters} if filters else {}
    frame = catalog_module.read(name, catalog, columns=columns, **kwargs)
    if columns is None and "year" in frame.columns:
        frame = frame.drop(columns="year")  # the hive partition key, not a record field
    for column in _date_columns(name):
        if column in frame.columns:
            frame[column] = frame[column].astype("datetime64[ns]")
    return frame


def partition_files(name: str, catalog=None) -> tuple[object, dict[str, list[str]]]:
    """(filesystem, {partition directory → its Parquet files}) of a store table; the
    directory is ``year=YYYY``, or "" for the files of a flat table. The catalog says where
    the table lives; the location may be any fsspec URL."""
    fs, root, found = _table_files(name, catalog)
    groups: dict[str, list[str]] = {}
    for path in sorted(found):
        relative = path[len(root):].lstrip("/")
        groups.setdefault(relative.split("/")[0] if "/" in relative else "", []).append(path)
    return fs, groups


def _table_files(name: str, catalog=None) -> tuple[object, str, dict[str, dict]]:
    """(filesystem, root, {Parquet file → its fsspec info}) of a store table. A local root
    is resolved first: the files are those of the version the table's link points to now,
    however long they are read."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    if name not in SCHEMAS:
        raise UserError(f"unknown table {name!r}; tables: {', '.join(SCHEMAS)}")
    fs, root = fsspec.core.url_to_fs(catalog_module.url(name, catalog))
    root = root.rstrip("/")
    if isinstance(fs, LocalFileSystem):
        root = os.path.realpath(root)
        return fs, root, _local_files(root)
    try:
        found = fs.find(root, detail=True)
    except FileNotFoundError:
        found = {}
    return fs, root, {p: info for p, info in found.items() if p.endswith(".parquet")}


def _local_files(root: str) -> dict[str, dict]:
    """The Parquet files under a local folder with their size and mtime (faster than
    fsspec's ``find``, which a profile's reads would pay three times)."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            if name.endswith(".parquet"):
                path = os.path.join(folder, name)
                stat = os.stat(path)
                found[path] = {"size": stat.st_size, "mtime": stat.st_mtime_ns}
    return found


def part_reader(name: str, fs, paths: list[str], columns: list[str], filters=None):
    """A callable reading ``columns`` of the files ``paths`` of table ``name`` (rows
    matching pyarrow ``filters``, pushed down to the row groups) as a pandas frame; it
    pickles, to run on any Dask worker. Codes and strings come as categoricals, dates as
    ``datetime64``."""
    import functools

    return functools.partial(_read_part, fs, paths, columns, SCHEMAS[name], filters)


def table_parts(name: str, columns: list[str], catalog=None) -> list:
    """Readers (see :func:`part_reader`) of a table's parts, one per partition directory
    (``year=YYYY``; the whole table when it is flat), so that every month's records are in
    exactly one part."""
    fs, groups = partition_files(name, catalog)
    return [part_reader(name, fs, paths, columns) for _, paths in sorted(groups.items())]


def _read_part(fs, paths: list[str], columns: list[str], schema, filters=None) -> pd.DataFrame:
    # Strings (adcodes, ids) are read as dictionaries: few distinct values, cheap to map.
    for i, field in enumerate(schema):
        if field.name in columns and str(field.type) == "string":
            schema = schema.set(i, field.with_type(pa.dictionary(pa.int32(), pa.string())))
    table = pq.ParquetDataset(paths, filesystem=fs, schema=schema,
                              filters=filters).read(columns=columns)
    # Arrow buffers are freed column by column as pandas takes them over.
    return table.to_pandas(date_as_object=False, self_destruct=True, split_blocks=True)


def rows_where(name: str, column: str, values, columns: list[str],
               catalog=None) -> pd.DataFrame:
    """The rows of table ``name`` whose ``column`` is one of ``values`` (only ``columns``),
    in the types :func:`load_table` gives, except codes: strings, not categoricals. For a
    few rows of a large table (one firm's records): read at once, no task graph; the row
    groups are chosen by their statistics (kept per file, see :class:`RowGroupIndex`), so
    in a table sorted by firm (:func:`store.compact`) a firm's records cost one or two
    small row groups per file."""
    _, indexes = _row_group_indexes(name, column, catalog)
    read = [*columns, *([column] if column not in columns else [])]
    schema = pa.schema([SCHEMAS[name].field(c) for c in read])
    wanted = pa.array(sorted({str(v) for v in values}), pa.string())
    # The files are read side by side (Parquet decoding leaves the interpreter free).
    parts = [part for part in _READERS.map(lambda index: index.read(wanted, schema), indexes)
             if part is not None]
    table = pa.concat_tables(parts) if parts else schema.empty_table()
    table = _matching(table, column, wanted).select(columns)
    # Codes as plain strings: a few rows are not worth categories.
    table = table.cast(pa.schema([f.with_type(f.type.value_type)
                                  if pa.types.is_dictionary(f.type) else f
                                  for f in table.schema]))
    frame = table.to_pandas(date_as_object=False)
    for date in _date_columns(name):
        if date in frame.columns:
            frame[date] = frame[date].astype("datetime64[ns]")
    return frame


# Reads of at most this many rows (a firm's row groups in a file sorted by firm) are
# filtered once, all files together.
_FILTER_LATER_ROWS = 16_384


def latest_value(name: str, column: str, catalog=None):
    """The largest value of ``column`` in table ``name`` (a date, say) from the files'
    row-group statistics, without reading a row; None when the table is empty or no row
    group has statistics."""
    _, indexes = _row_group_indexes(name, column, catalog)
    highs = [pc.max(index.high).as_py() for index in indexes
             if not pa.types.is_null(index.high.type)]  # null: no statistics, or no rows
    return max((high for high in highs if high is not None), default=None)


def _row_group_indexes(name: str, column: str, catalog=None) -> tuple[object, list]:
    """(filesystem, the :class:`RowGroupIndex` of each file of ``name`` on ``column``),
    kept per version of the table's files."""
    fs, _, found = _table_files(name, catalog)
    # A file is known by its path and what its filesystem says of it (a local path names
    # an immutable store version).
    key = (name, column, tuple(sorted((path, info.get("size"), str(
        info.get("mtime") or info.get("LastModified") or info.get("ETag") or ""))
        for path, info in found.items())))
    return fs, _ROW_GROUP_INDEXES.get(key, lambda: [RowGroupIndex(fs, path, column)
                                                    for path in sorted(found)])


def _matching(table: pa.Table, column: str, values: pa.Array) -> pa.Table:
    return table.filter(pc.is_in(table[column].cast(pa.string()), values))


class RowGroupIndex:
    """One Parquet file's footer and the min and max of one column in each row group: which
    row groups may hold a value, found without opening the file."""

    def __init__(self, fs, path: str, column: str):
        from fsspec.implementations.local import LocalFileSystem

        self.path, self.column = path, column
        # Local files are opened by Arrow itself (no Python file object between threads).
        self.fs = None if fs is None or isinstance(fs, LocalFileSystem) else fs
        with self._open() as source:
            self.metadata = pq.read_metadata(source)
        names = self.metadata.schema.names
        self.names = set(names)
        low, high = [], []
        for group in range(self.metadata.num_row_groups):
            stats = (self.metadata.row_group(group).column(names.index(column)).statistics
                     if column in self.names else None)
            known = stats is not None and stats.has_min_max
            # A row group without statistics (null bounds) may hold anything.
            low.append(stats.min if known and stats is not None else None)
            high.append(stats.max if known and stats is not None else None)
        # Plain binary columns have bytes statistics: the bounds' type says which.
        self.low, self.high = pa.array(low), pa.array(high)

    def _open(self):
        return pa.OSFile(self.path) if self.fs is None else self.fs.open(self.path, "rb")

    def groups(self, values: list[str]) -> list[int]:
        """The row groups whose statistics admit one of ``values``."""
        if pa.types.is_null(self.low.type) or pa.types.is_null(self.high.type):
            return list(range(len(self.low)))
        admitted = pa.repeat(False, len(self.low))
        for value in values:
            key = pa.scalar(value.encode() if pa.types.is_binary(self.low.type) else value,
                            self.low.type)
            within = pc.and_kleene(pc.less_equal(self.low, key),
                                   pc.greater_equal(self.high, key))
            admitted = pc.or_(admitted, within.fill_null(True))
        return np.flatnonzero(admitted.to_numpy(zero_copy_only=False)).tolist()

    def read(self, values: pa.Array, schema: pa.Schema) -> pa.Table | None:
        """The row groups that may hold ``values`` (strings), in ``schema`` (a column the
        file lacks, written under an earlier schema, is null); None when none may. They are
        read a few at a time, and large reads (an unsorted file admits every row group) are
        filtered at once, so the file never sits whole in memory; the caller filters the
        rest."""
        groups = self.groups(values.to_pylist())
        if not groups or self.column not in self.names:  # a column the file lacks is null
            return None
        present = [f.name for f in schema if f.name in self.names]
        parts = []
        with self._open() as source:
            reader = pq.ParquetFile(source, metadata=self.metadata)
            for start in range(0, len(groups), 4):
                rows = reader.read_row_groups(groups[start:start + 4], columns=present)
                parts.append(_matching(rows, self.column, values)
                             if rows.num_rows > _FILTER_LATER_ROWS else rows)
        table = pa.concat_tables(parts)
        return pa.table([table[f.name].cast(f.type) if f.name in self.names
                         else pa.nulls(table.num_rows, f.type) for f in schema], schema=schema)


# Row group indexes of a table's files, by table, column and files.
_ROW_GROUP_INDEXES: LRU = LRU(64)
_READERS = WorkerPool(max_workers=4, name="safetyviz-rows")


def load_records(names=None, catalog=None, units=None) -> dict[str, pd.DataFrame]:
    """Whole tables in memory (pandas); for record-level checks on city-sized data — of a
    province's, one city's ``units`` (adcodes, pushed down to the Parquet files; a table
    without ``adcode`` whole)."""
    names = list(names) if names is not None else list(SCHEMAS)
    wanted = [("adcode", "in", [str(u) for u in units])] if units is not None else None
    return {name: load_table(name, catalog=catalog, filters=wanted if wanted and "adcode"
                             in SCHEMAS[name].names else None).compute()
            for name in names}


def load_regions(catalog=None, geometry: bool = True, upper: bool = False):
    """The reporting units (counties, and the zones a city declares, ``level`` "county" or
    "zone"; a zone's ``county`` is the one it was carved out of) as a GeoDataFrame sorted by
    adcode (WGS-84; a zone may have no geometry); without ``geometry``, just the names and
    codes (a DataFrame, much faster). A province's regions also hold the cities and the
    province above its units (rows that are another's ``parent_adcode``): left out unless
    ``upper``."""
    regions = catalog_module.read("regions", catalog, **({} if geometry else
                                                        {"ignore_geometry": True}))
    regions["adcode"] = regions["adcode"].astype(str)
    if not upper and "parent_adcode" in regions:
        parents = set(regions["parent_adcode"].dropna().astype(str))
        regions = regions[~regions["adcode"].isin(parents).to_numpy()].copy()
    for column in ("aliases", "name_en"):
        if column in regions:
            regions[column] = regions[column].fillna("")
    regions["level"] = regions["level"].fillna("county") if "level" in regions else "county"
    if "county" not in regions:
        regions["county"] = None
    return regions.sort_values("adcode").reset_index(drop=True)


def load_cube(catalog=None):
    """The cube as an in-memory xarray Dataset."""
    return catalog_module.read("cube", catalog).load()


def as_records(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A frame of ``table`` in the types :func:`load_table` gives (for batches in memory)."""
    frame = frame.copy()
    for column in _date_columns(table):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    return frame

"""Loading: typed, lazy access to the catalog's entries.

Turns what the catalog returns into the types the rest of the code relies on: dates as
``datetime64[ns]`` (the store keeps ``date32``), adcodes as strings, regions sorted by adcode,
the cube in memory. No computation beyond type conversion happens here.
"""

from __future__ import annotations

import dask.dataframe as dd
import pandas as pd

from safetyviz.core.errors import UserError
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
    import fsspec

    if name not in SCHEMAS:
        raise UserError(f"unknown table {name!r}; tables: {', '.join(SCHEMAS)}")
    fs, root = fsspec.core.url_to_fs(catalog_module.url(name, catalog))
    root = root.rstrip("/")
    try:
        files = sorted(p for p in fs.find(root) if p.endswith(".parquet"))
    except FileNotFoundError:
        files = []
    groups: dict[str, list[str]] = {}
    for path in files:
        relative = path[len(root):].lstrip("/")
        groups.setdefault(relative.split("/")[0] if "/" in relative else "", []).append(path)
    return fs, groups


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
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Strings (adcodes, ids) are read as dictionaries: few distinct values, cheap to map.
    for i, field in enumerate(schema):
        if field.name in columns and str(field.type) == "string":
            schema = schema.set(i, field.with_type(pa.dictionary(pa.int32(), pa.string())))
    table = pq.ParquetDataset(paths, filesystem=fs, schema=schema,
                              filters=filters).read(columns=columns)
    # Arrow buffers are freed column by column as pandas takes them over.
    return table.to_pandas(date_as_object=False, self_destruct=True, split_blocks=True)


def load_records(names=None, catalog=None) -> dict[str, pd.DataFrame]:
    """Whole tables in memory (pandas); for record-level checks on city-sized data."""
    names = list(names) if names is not None else list(SCHEMAS)
    return {name: load_table(name, catalog=catalog).compute() for name in names}


def load_regions(catalog=None, geometry: bool = True):
    """The reporting units (counties, and the zones a city declares, ``level`` "county" or
    "zone"; a zone's ``county`` is the one it was carved out of) as a GeoDataFrame sorted by
    adcode (WGS-84; a zone may have no geometry); without ``geometry``, just the names and
    codes (a DataFrame, much faster)."""
    regions = catalog_module.read("regions", catalog, **({} if geometry else
                                                        {"ignore_geometry": True}))
    regions["adcode"] = regions["adcode"].astype(str)
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

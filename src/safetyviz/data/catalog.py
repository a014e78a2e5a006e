"""The Intake 2 catalog: the one way code and notebooks find data. The only module that
imports intake.

A catalog has one entry per store table (dask DataFrames), ``regions`` (a GeoDataFrame) and
``cube`` (an xarray Dataset), with paths relative to ``{CATALOG_DIR}``. The project catalog
``catalogs/safetyviz.yaml`` points at ``<project>/data``; any other data dir gets its own
``<data-dir>/catalog.yaml``, written by the commands that fill it. ``SAFETYVIZ_CATALOG``
overrides which catalog is opened.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import intake
from intake.readers import datatypes, readers

from safetyviz.core import settings
from safetyviz.core.cache import LRU
from safetyviz.core.errors import UserError
from safetyviz.core.files import read_yaml
from safetyviz.core.paths import PROJECT_CATALOG, default_data_dir, project_root
from safetyviz.data.store import TABLES

DESCRIPTIONS = {
    "enterprises": "生产经营单位 / production and business units",
    "major_hazard_sites": "重大危险源 / major hazard installations",
    "inspections": "执法检查（家次） / inspection visits",
    "hazards": "隐患排查整改 / hazards found and their rectification",
    "enforcement_actions": "行政处罚、取缔关闭、拘留 / enforcement actions",
    "joint_operations": "联合执法行动 / joint multi-department operations",
    "accidents": "生产安全事故 / work-safety accidents",
    "sensors": "重大危险源监测传感器 / sensors of the major hazard installations",
    "monitoring": "重大危险源监测读数（传感器 × 时间） / sensor readings (sensor × time)",
    "regions": "县级行政区划边界（WGS-84） / county-level boundaries (WGS-84)",
    "cube": "统计立方体 (adcode × month × sector) / the aggregated cube",
}
ENTRIES = (*TABLES, "regions", "cube", "monitoring")


def build_catalog(root: str = "{CATALOG_DIR}") -> intake.Catalog:
    """A catalog whose paths start with ``root`` (the data dir as seen from the catalog)."""
    cat = intake.entry.Catalog(metadata={"description": "safetyviz data catalog"})
    for table in TABLES:
        cat[table] = readers.DaskParquet(
            datatypes.Parquet(url=f"{root}/store/{table}"),
            metadata={"description": DESCRIPTIONS[table]})
    cat["regions"] = readers.GeoPandasReader(
        datatypes.GeoJSON(url=f"{root}/regions/boundaries.geojson"),
        metadata={"description": DESCRIPTIONS["regions"]})
    cat["cube"] = readers.XArrayDatasetReader(
        datatypes.Zarr(url=f"{root}/cube/cube.zarr"),
        metadata={"description": DESCRIPTIONS["cube"]})
    # Lazy (dask): the readings can be far larger than memory.
    cat["monitoring"] = readers.XArrayDatasetReader(
        datatypes.Zarr(url=f"{root}/monitoring/readings.zarr"), chunks={}, consolidated=False,
        metadata={"description": DESCRIPTIONS["monitoring"]})
    return cat


def write_catalog(path: Path, root: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    build_catalog(root).to_yaml_file(str(path))
    return path


def catalog_path(data_dir: Path | None = None) -> Path:
    """``SAFETYVIZ_CATALOG`` if set; the project catalog for the project's data dir; else
    ``<data-dir>/catalog.yaml``."""
    catalog = settings.current().catalog
    if catalog is not None:
        return catalog
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    root = project_root()
    if root is not None and data_dir.resolve() == (root / "data").resolve():
        return root / PROJECT_CATALOG
    return data_dir / "catalog.yaml"


def ensure_catalog(data_dir: Path) -> Path:
    """The catalog for ``data_dir``, written if it is a data dir's own catalog and missing."""
    path = catalog_path(data_dir)
    if not path.exists() and path == Path(data_dir) / "catalog.yaml":
        write_catalog(path, "{CATALOG_DIR}")
    return path


# What a catalog may name. Intake builds readers from class paths and fills "{…}" templates
# (functions, imports, environment variables) when it reads: a catalog is checked against
# these before intake sees it, so a catalog can point at data and nothing else.
ALLOWED_READERS = {f"intake.readers.readers:{name}"
                   for name in ("DaskParquet", "GeoPandasReader", "XArrayDatasetReader")}
ALLOWED_DATATYPES = {f"intake.readers.datatypes:{name}"
                     for name in ("Parquet", "GeoJSON", "Zarr")}
ALLOWED_OUTPUTS = {"dask.dataframe:DataFrame", "geopandas:GeoDataFrame", "xarray:Dataset"}
ALLOWED_READ_OPTIONS = {"chunks", "consolidated", "ignore_geometry", "columns", "filters"}
ALLOWED_URL = re.compile(r"(\{CATALOG_DIR\}|(file|s3|gs|gcs|az|abfs)://|/)[^{}$%`]*")
DATA_REFERENCE = re.compile(r"\{data\([0-9a-f]+\)\}")


def check_catalog(path: Path) -> None:
    """Refuse a catalog that could do more than point at data: YAML tags that build Python
    objects, readers or data types outside the allow-lists, templates (``{func(…)}``,
    ``{env(…)}``, ``${…}``) anywhere but ``{CATALOG_DIR}`` and ``{data(…)}``, user
    parameters. One message naming the file, the entry and the field."""
    spec = read_yaml(path, "catalog")
    if not isinstance(spec, dict):
        raise UserError(f"{path}: not an Intake 2 catalog (a mapping expected)")
    extra = set(spec) - {"aliases", "data", "entries", "metadata", "user_parameters",
                         "version"}
    if extra:
        raise UserError(f"{path}: unexpected top-level key(s) {', '.join(sorted(extra))}")
    if spec.get("user_parameters"):
        raise UserError(f"{path}: user_parameters are not allowed (they template values)")
    data = spec.get("data") or {}
    for key, item in data.items():
        where = f"{path}: data {key!r}"
        if not isinstance(item, dict) or item.get("datatype") not in ALLOWED_DATATYPES:
            kind = item.get("datatype") if isinstance(item, dict) else item
            raise UserError(f"{where}: datatype {kind!r} is not allowed "
                            f"({', '.join(sorted(ALLOWED_DATATYPES))})")
        if item.get("user_parameters"):
            raise UserError(f"{where}: user_parameters are not allowed")
        kwargs = item.get("kwargs") or {}
        unknown = set(kwargs) - {"url", "storage_options", "root", "metadata"}
        if unknown:
            raise UserError(f"{where}: field(s) {', '.join(sorted(unknown))} not allowed")
        url_text = kwargs.get("url")
        if not isinstance(url_text, str) or not ALLOWED_URL.fullmatch(url_text):
            raise UserError(f"{where}, field url: {url_text!r} is not a plain path or URL "
                            "(no templates, environment variables or other protocols)")
        for field in ("storage_options", "root"):
            _plain(kwargs.get(field), f"{where}, field {field}")
    for name, entry in (spec.get("entries") or {}).items():
        where = f"{path}: entry {name!r}"
        if not isinstance(entry, dict) or entry.get("reader") not in ALLOWED_READERS:
            reader = entry.get("reader") if isinstance(entry, dict) else entry
            raise UserError(f"{where}: reader {reader!r} is not allowed "
                            f"({', '.join(sorted(ALLOWED_READERS))})")
        if entry.get("output_instance") not in ALLOWED_OUTPUTS:
            raise UserError(f"{where}: output_instance {entry.get('output_instance')!r} "
                            "is not allowed")
        if entry.get("user_parameters"):
            raise UserError(f"{where}: user_parameters are not allowed")
        kwargs = dict(entry.get("kwargs") or {})
        args = kwargs.pop("args", [])
        if (not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], str)
                or not (reference := DATA_REFERENCE.fullmatch(args[0]))
                or reference[0][6:-2] not in data):
            raise UserError(f"{where}, field args: {args!r} must name one data item "
                            "of this catalog")
        unknown = set(kwargs) - ALLOWED_READ_OPTIONS
        if unknown:
            raise UserError(f"{where}: read option(s) {', '.join(sorted(unknown))} "
                            "not allowed")
        _plain(kwargs, f"{where}, field kwargs")


def _plain(value, where: str) -> None:
    """Numbers, booleans, None, and text without templates, in lists and mappings."""
    if isinstance(value, dict):
        for key, item in value.items():
            _plain(key, where)
            _plain(item, where)
    elif isinstance(value, list | tuple):
        for item in value:
            _plain(item, where)
    elif isinstance(value, str):
        if any(mark in value for mark in ("{", "}", "$", "%(", "`")):
            raise UserError(f"{where}: {value!r} looks like a template; plain values only")
    elif value is not None and not isinstance(value, bool | int | float):
        raise UserError(f"{where}: {type(value).__name__} values are not allowed")


def open_catalog(path: Path | None = None) -> intake.Catalog:
    """Open a catalog, checked first (:func:`check_catalog`).

    Parameters
    ----------
    path : Path, optional
        The catalog file; default :func:`catalog_path` (the settings' catalog, else the data
        dir's).

    Returns
    -------
    intake.Catalog
        With the entries :data:`ENTRIES` (every store table, the cube, the regions). A change
        to several tables left half done by a killed writer is finished first.

    Raises
    ------
    UserError
        For a missing, unreadable or unsafe file (naming it), or one lacking an entry.
    """
    path = Path(path) if path is not None else catalog_path()
    if not path.is_file():
        raise UserError(f"{path}: catalog not found (set SAFETYVIZ_CATALOG or --data-dir)")
    check_catalog(path)
    try:
        cat = intake.from_yaml_file(str(path))
    except Exception as exc:  # intake raises many types for a malformed file
        raise UserError(f"{path}: not a valid Intake 2 catalog: {exc}") from None
    missing = [name for name in ENTRIES if name not in cat.entries]
    if missing:
        raise UserError(f"{path}: catalog lacks entries {', '.join(missing)}")
    _finish_changes(cat)
    return cat


def _finish_changes(cat: intake.Catalog) -> None:
    """A change to several tables left half switched by a killed writer is finished before
    anything is read (a local store only; see ``store.Transaction``)."""
    from safetyviz.data.store import recover

    link = cat["inspections"].data.url
    if "://" not in link or link.startswith("file://"):
        recover(Path(link.removeprefix("file://")).parent.parent)


def url(name: str, catalog: intake.Catalog | None = None) -> str:
    """Where entry ``name``'s data lives (a path or any fsspec URL)."""
    cat = catalog if catalog is not None else open_catalog()
    return cat[name].data.url


def local_path(name: str, catalog: intake.Catalog | None = None) -> Path:
    """Where entry ``name``'s data lives, as a local path; UserError if it is elsewhere."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(url(name, catalog))
    if "file" not in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        raise UserError(f"catalog entry {name!r} is not on a local disk: {url(name, catalog)}")
    return Path(path)


def version(name: str, catalog: intake.Catalog | None = None) -> str:
    """What entry ``name`` resolves to now: for a local path, the real path behind its
    symlinks (a new version of a table or the cube resolves elsewhere); else the URL."""
    cat = catalog if catalog is not None else open_catalog()
    url = _data_url(cat, name)
    path = url[len("file://"):] if url.startswith("file://") else url
    return os.path.realpath(path) if "://" not in path else url


# The URL of an entry's data by catalog and entry (both held: their ids stay theirs). intake
# rebuilds a reader from its description on every ``cat[name]`` (~0.1 ms), and a page open
# asks for the versions of ~20 entries; an entry replaced in its catalog is another entry.
_URLS: LRU[tuple[intake.Catalog, object, str]] = LRU(256)


def _data_url(cat: intake.Catalog, name: str) -> str:
    entry = cat.entries.get(name)
    if entry is None:
        return cat[name].data.url  # (intake's own error for an entry it lacks)
    return _URLS.get((id(cat), id(entry)), lambda: (cat, entry, cat[name].data.url))[2]


def read(name: str, catalog: intake.Catalog | None = None, **kwargs):
    """Read one entry of the catalog.

    Parameters
    ----------
    name : str
        An entry: a store table (``inspections``, ``hazards`` …), ``cube`` or ``regions``.
    catalog : intake.Catalog, optional
        Default: :func:`open_catalog`.
    **kwargs
        Passed to the entry's reader.

    Returns
    -------
    dask.dataframe.DataFrame, geopandas.GeoDataFrame or xarray.Dataset
        As the entry's reader gives it.

    Raises
    ------
    UserError
        When the entry has no data yet (run ``safetyviz demo`` or ``ingest`` first).
    """
    cat = catalog if catalog is not None else open_catalog()
    try:
        return cat[name].read(**kwargs)
    except (FileNotFoundError, OSError) as exc:
        raise UserError(f"catalog entry {name!r}: no data yet ({exc}); "
                        "run `safetyviz demo` (and `safetyviz cube`) first") from None

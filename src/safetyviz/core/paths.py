"""Where things live: the data dir, the project root, the files shipped with the project.

Layout of a data dir (default ``<project>/data``, env ``SAFETYVIZ_DATA_DIR``)::

    regions/boundaries.geojson   county boundaries of the current city (WGS-84)
    regions/names.csv            optional English names and extra aliases per adcode
    store/<table>/...            Parquet tables (generated)
    cube/cube.zarr               the aggregated cube (generated)
    catalog.yaml                 the Intake catalog for a non-default data dir (generated)
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from safetyviz.core import settings
from safetyviz.core.errors import UserError

PROJECT_CATALOG = Path("catalogs") / "safetyviz.yaml"


def project_root() -> Path | None:
    """The checkout this code runs in: the nearest folder up from cwd with the project catalog,
    else the one holding this package's source tree (editable install)."""
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / PROJECT_CATALOG).is_file() and (folder / "pyproject.toml").is_file():
            return folder
    source_root = Path(__file__).resolve().parents[3]
    if (source_root / PROJECT_CATALOG).is_file():
        return source_root
    return None


def default_data_dir() -> Path:
    """``SAFETYVIZ_DATA_DIR``, else ``<project>/data``, else ``./data``."""
    configured = settings.current().data_dir
    if configured is not None:
        return configured
    root = project_root()
    return (root / "data") if root else Path("data")


def shipped_dir() -> Path:
    """Files shipped with the project (reference boundaries, bulletin figures, demo profiles,
    the report's templates): the tracked files under ``<project>/data`` in a checkout, else
    their copy inside the installed package (``safetyviz/shipped``, put there by the wheel)."""
    root = project_root()
    if root is not None:
        return root / "data"
    installed = Path(str(resources.files("safetyviz") / "shipped"))
    if installed.is_dir():
        return installed
    raise UserError("cannot find the files shipped with safetyviz (regions, reference, demo): "
                    "install it from its wheel or run it from a checkout")


def store_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "store"


def cube_path(data_dir: Path) -> Path:
    return Path(data_dir) / "cube" / "cube.zarr"


def boundaries_path(data_dir: Path) -> Path:
    return Path(data_dir) / "regions" / "boundaries.geojson"


TILE_URL = re.compile(r"https?://[^\s\"'<>]+", re.IGNORECASE)


def tile_url(url: str | None = None) -> str | None:
    """The base map's tile URL (``url``, else env ``SAFETYVIZ_TILES``), or None: maps have no
    base map unless one is configured (an intranet tile server, say), so the dashboards
    request nothing from any other host. An XYZ template, http(s) with {x}, {y} and {z};
    returned with Bokeh's {X}/{Y}/{Z}."""
    url = (settings.current().tiles or "") if url is None else url
    url = url.strip()
    if not url:
        return None
    if not TILE_URL.fullmatch(url) or not all(f"{{{k}}}" in url.lower() for k in "xyz"):
        raise UserError(f"tile URL {url!r}: expected http(s)://host/…/{{z}}/{{x}}/{{y}}.png")
    return re.sub(r"\{([xyz])\}", lambda m: "{" + m[1].upper() + "}", url, flags=re.I)

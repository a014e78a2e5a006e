"""The settings of this process, in one place: what the command line (or a server) set with
:func:`configure`, over the environment (``SAFETYVIZ_*``, read here and nowhere else), over
the defaults. Modules ask :func:`current`; the command line passes its flags down through
:func:`configure` instead of writing environment variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ENVIRONMENT = {"data_dir": "SAFETYVIZ_DATA_DIR", "catalog": "SAFETYVIZ_CATALOG",
               "tiles": "SAFETYVIZ_TILES", "dask_scheduler": "SAFETYVIZ_DASK_SCHEDULER",
               "cookie_secret": "SAFETYVIZ_COOKIE_SECRET",
               "shared_state": "SAFETYVIZ_SHARED_STATE"}


@dataclass(frozen=True)
class Settings:
    data_dir: Path | None = None  # None: <project>/data in a checkout, else ./data
    catalog: Path | None = None  # None: the data dir's catalog
    tiles: str | None = None  # the base map's XYZ tile URL; None: no base map
    dask_scheduler: str | None = None  # a Dask scheduler's address; None: in process
    logins_required: bool = False  # serving with logins: a session without one sees nothing
    cookie_secret: str | None = field(default=None, repr=False)  # signs logins and sessions
    # where the server processes share logins, throttles and limits: redis://…; None: the
    # SQLite file in the data dir (one host). May hold a password: never printed.
    shared_state: str | None = field(default=None, repr=False)


_configured: dict = {}


def from_environment() -> Settings:
    values: dict[str, Any] = {}
    for name, variable in ENVIRONMENT.items():
        text = os.environ.get(variable) or None
        values[name] = Path(text) if text is not None and name in ("data_dir", "catalog") \
            else text
    return Settings(**values)


def named_secret(variable: str) -> str | None:
    """The value of the environment variable a configuration file names for a secret (a
    mail password, a robot's signing secret: ``secret_env:``), None when unset or empty."""
    return os.environ.get(variable) or None


def current() -> Settings:
    """What :func:`configure` set, else the environment, else the defaults."""
    return replace(from_environment(), **_configured)


def configure(**values) -> Settings:
    """Set settings for this process (and the server processes it forks); None leaves one
    to the environment."""
    known = {f.name for f in fields(Settings)}
    unknown = set(values) - known
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    for name, value in values.items():
        if value is None:
            _configured.pop(name, None)
        else:
            _configured[name] = value
    return current()

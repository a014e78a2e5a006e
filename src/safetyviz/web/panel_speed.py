"""Panel's model making without its repeated work: the same models, less server time per
session.

- Making a component's model reads the parameters it syncs with the model; Panel's
  ``Syncable._init_params`` builds that list anew for each of the component's parameters
  (a walk through all of them each time: ~40 × ~40 for a widget). It is built once per
  call; the parameters, their order and their values are the same.
- Making a component's model reads the file names of the design's theme styles, and param
  resolves a file name with a function object made anew for each (``resolve_path``, a
  ParameterizedFunction): ~10 µs of bookkeeping around one ``stat``. An absolute name of a
  file that exists (Panel's themes' are) is answered as ``resolve_path`` answers it — the
  name, normalised — without it; any other goes to it.

:func:`faster_panel` installs them; the tests compare the JSON of every registered page made
with and without them.
"""

from __future__ import annotations

import os
from typing import Any

from panel.reactive import Syncable
from param.parameters import Filename

# Panel's and param's own, put back by faster_panel(False)
_INIT_PARAMS: Any = Syncable._init_params
_RESOLVE_FILENAME: Any = Filename._resolve


def faster_panel(on: bool = True) -> None:
    """Install (``on``) or remove the faster paths. Idempotent."""
    Syncable._init_params = _init_params if on else _INIT_PARAMS  # type: ignore[method-assign]
    Filename._resolve = _resolve_filename if on else _RESOLVE_FILENAME  # type: ignore[method-assign]


def _init_params(self: Syncable) -> dict[str, Any]:
    """The values of the parameters ``self`` syncs with its model, None left out (as
    Panel's, with the list of synced parameters built once)."""
    synced = set(self._synced_params)
    params = {}
    for name in self.param:
        if name in synced:
            value = getattr(self, name)
            if value is not None:
                params[name] = value
    return params


def _resolve_filename(self: Filename, path) -> str:
    """``path`` as param's ``resolve_path`` finds it: an absolute name of an existing file
    is that name, normalised (param's first check); anything else, param's search."""
    if isinstance(path, str | os.PathLike):
        name = os.path.normpath(path)
        if os.path.isabs(name) and os.path.isfile(name):
            return name
    return _RESOLVE_FILENAME(self, path)

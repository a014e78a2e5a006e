"""Page requests answered from a kept session without redoing what is the same for each.

Served with Panel's ``reuse_sessions``, a page request is answered from a session kept per
page: its HTML holds a new session token and the page's resources, never its document (that
comes over the websocket). Panel still does two things per request that give the same result
every time (~20 of the ~25 ms of server time of a page request, 2 cores):

- it points every stylesheet of the kept document at this server's copy, walking the whole
  document (``patch_model_css``) — done once per root and address here;
- it gathers the page's scripts and stylesheets (``bundle_resources``) — kept here per kept
  document with what they are gathered from (:func:`_gathered_from`); any of that changed,
  they are gathered anew.

:func:`install` puts both in Panel's page rendering; the tests compare the pages rendered
with and without them.
"""

from __future__ import annotations

import weakref
from typing import Any

import panel.io.resources as panel_resources
import panel.io.server as panel_server

_PATCH_MODEL_CSS: Any = panel_server.patch_model_css  # Panel's own, put back by install(False)
_BUNDLE_RESOURCES: Any = panel_server.bundle_resources
_PATCHED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
_BUNDLES: weakref.WeakKeyDictionary[Any, tuple[tuple, Any]] = weakref.WeakKeyDictionary()


def install(on: bool = True) -> None:
    """Install (``on``) or remove the kept results in Panel's page rendering. Idempotent."""
    panel_server.patch_model_css = _patched_once if on else _PATCH_MODEL_CSS
    panel_server.bundle_resources = _kept_bundle if on else _BUNDLE_RESOURCES


def _patched_once(root, dist_url: str) -> None:
    """Panel's ``patch_model_css`` of ``root``, once per root and address: the stylesheets
    Panel adds later it points at the server itself."""
    done = _PATCHED.setdefault(root, set())
    if dist_url not in done:
        _PATCH_MODEL_CSS(root, dist_url)
        done.add(dist_url)


def _kept_bundle(roots, resources, *args, **kwargs):
    """Panel's ``bundle_resources`` of a page, kept per document while what it is gathered
    from stays the same (anything but a plain page request: gathered as Panel does)."""
    document = roots[0].document if roots else None
    if args or kwargs or document is None:
        return _BUNDLE_RESOURCES(roots, resources, *args, **kwargs)
    inputs = _gathered_from(roots, resources)
    kept = _BUNDLES.get(document)
    if kept is not None and kept[0] == inputs:
        panel_resources.RESOURCE_MODE = resources.mode  # (as Panel's gathering sets it)
        return kept[1]
    bundle = _BUNDLE_RESOURCES(roots, resources)
    _BUNDLES[document] = (inputs, bundle)
    return bundle


def _gathered_from(roots, resources) -> tuple:
    """What Panel's ``bundle_resources`` reads (Panel 1.9): the resources' settings, the
    page's address (relative paths), the roots and the kinds of models they hold (MathJax),
    every model class and extension loaded (their scripts and stylesheets), and the Panel
    settings of the session that add scripts, stylesheets or the loading spinner."""
    from bokeh.core.has_props import HasProps
    from panel.config import config
    from panel.config import panel_extension as extension
    from panel.io.state import state

    document = roots[0].document
    return (resources.mode, resources.root_url, resources.absolute, resources.minified,
            tuple(resources.components), state.rel_path, tuple(root.id for root in roots),
            frozenset(type(model) for model in document.models),
            len(HasProps.model_class_reverse_map), frozenset(extension._loaded_extensions),
            tuple(config.css_files), tuple(config.raw_css), tuple(config.global_css),
            tuple(config.js_files.items()), tuple(config.js_modules.items()),
            config.design, config.notifications, config.global_loading_spinner,
            config.loading_spinner, config.loading_color, config.loading_max_height,
            config.npm_cdn, config.autoreload)

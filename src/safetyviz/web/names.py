"""What people read instead of codes: an installation (重大危险源) by its firm's name, numbered
when the firm has several; a sensor by its kind, numbered within its installation. The codes
stay in tooltips and downloads. Pure pandas: no panel, bokeh or holoviews."""

from __future__ import annotations

import pandas as pd

from safetyviz.core.vocab import label


def _numbers(frame: pd.DataFrame, by: list[str], key: str) -> pd.Series:
    """1, 2, … within each group of ``by``, in the order of ``key``; indexed by ``key``."""
    ordered = frame.sort_values(key)
    return pd.Series(ordered.groupby(by, sort=False).cumcount().to_numpy() + 1,
                     index=ordered[key].astype(str).to_numpy())


def installation_names(sites: pd.DataFrame, firms: dict[str, str],
                       lang: str = "zh") -> dict[str, str]:
    """site_id → the firm's name (from ``firms``, by enterprise_id), with "2号危险源" /
    "installation 2" when the firm has more than one (``sites``: site_id, enterprise_id)."""
    if not len(sites):
        return {}
    sites = sites.assign(site_id=sites["site_id"].astype(str),
                         enterprise_id=sites["enterprise_id"].astype(str))
    number = _numbers(sites, ["enterprise_id"], "site_id")
    several = sites.groupby("enterprise_id")["site_id"].transform("size").gt(1)
    names = {}
    for site, firm, many in zip(sites["site_id"], sites["enterprise_id"], several,
                                strict=True):
        name = firms.get(firm) or firm
        if many:
            name += f" · {number[site]}号危险源" if lang == "zh" else \
                f" · installation {number[site]}"  # as numbered_installations numbers them
        names[site] = name
    return names


def numbered_installations(site_ids, lang: str = "zh") -> dict[str, str]:
    """One firm's installations by number, in the order of their ids: "1号危险源" /
    "Installation 1" (on the firm's own profile its name goes without saying)."""
    return {site: f"{n}号危险源" if lang == "zh" else f"Installation {n}"
            for n, site in enumerate(sorted(str(s) for s in site_ids), start=1)}


def sensor_names(sensors: pd.DataFrame, lang: str = "zh") -> dict[str, str]:
    """sensor_id → its kind and its number among its installation's sensors of that kind:
    "可燃气体 2号" / "Flammable gas #2" (``sensors``: sensor_id, site_id, kind)."""
    if not len(sensors):
        return {}
    sensors = sensors.assign(sensor_id=sensors["sensor_id"].astype(str))
    number = _numbers(sensors, ["site_id", "kind"], "sensor_id")
    return {sensor: (f"{label('sensor_kind', kind, lang)} {number[sensor]}号" if lang == "zh"
                     else f"{label('sensor_kind', kind, lang)} #{number[sensor]}")
            for sensor, kind in zip(sensors["sensor_id"], sensors["kind"], strict=True)}

"""What the live monitoring page shows: the readings as last loaded, which installation and
sensor are chosen, the range of the curve — and the figures that follow (sites online, online
rate, alarms, the chosen sensor's decimated curve). ``refresh()`` picks up readings appended
since. Parameterized only: no panel, bokeh or holoviews; every value set from the browser is
checked against the allowed ones.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import param
import xarray as xr

from safetyviz.analysis import monitoring
from safetyviz.core.cache import LRU
from safetyviz.core.i18n import format_percent, text
from safetyviz.data.readings import open_readings, readings_path
from safetyviz.web.page_state import PageState

WINDOWS = {"1h": "1h", "6h": "6h", "24h": "24h", "7d": "7D", "30d": "30D"}
ALARM_HOURS = 24  # the alarm list: alarms that started in the last day of readings
MAX_GAP = "5min"  # a sensor silent longer than this is offline


class MonitoringState(PageState):
    """The live page's selection and the readings behind it."""

    QUERY = ("site", "sensor", "window", "lang")  # the site first: it decides the sensors

    # param cannot type a Selector's value: the annotations say what it holds (site from
    # __init__ on; sensor None for a site without sensors), with the ignore param's
    # documentation gives for that.
    site: str = param.Selector(default=None, objects=[], check_on_set=True,
                               doc="The installation whose sensors can be chosen.")  # type: ignore[assignment]
    sensor: str | None = param.Selector(default=None, objects=[], check_on_set=True,
                                        allow_None=True,  # a site without sensors yet
                                        doc="The sensor whose readings are drawn.")  # type: ignore[assignment]
    window: str = param.Selector(default="6h", objects=list(WINDOWS), check_on_set=True,
                                 doc="Range of the curve, ending at the latest reading.")  # type: ignore[assignment]
    as_of = param.Date(default=None, allow_None=True, constant=True,
                       doc="Time of the latest reading loaded.")
    loads = param.Integer(default=0, constant=True,
                          doc="How many times new readings were loaded (views depend on it).")
    status_changes = param.Integer(default=0, constant=True,
                                   doc="How many times an installation went on- or offline "
                                       "(the map depends on it, not on every load).")

    def __init__(self, readings_path, sensors: pd.DataFrame, sites: pd.DataFrame,
                 province_rate: float = math.nan, **params):
        """``readings_path``: the readings store (``readings.zarr``) or its data dir."""
        super().__init__()
        self.readings_path = readings_path
        self.sensors = sensors.set_index("sensor_id")
        self.sites = sites.set_index("site_id")
        self.province_rate = province_rate
        self.readings: xr.DataArray | None = None
        self.version: Path | None = None  # the readings store version loaded
        self._events: pd.DataFrame | None = None
        self._online: pd.Series | None = None
        site_ids = sorted(self.sites.index)
        self.param.site.objects = site_ids
        self.site = site_ids[0]
        self._sensors_of_site()
        self.param.watch(lambda event: self._sensors_of_site(), "site")
        self.refresh()
        self.param.update(**params)

    def _sensors_of_site(self) -> None:
        options = sorted(self.sensors.index[self.sensors["site_id"] == self.site])
        self.param.sensor.objects = options
        if self.sensor not in options:
            self.sensor = options[0] if options else None

    def refresh(self) -> bool:
        """Load the readings again; True (and ``loads`` + 1) if newer ones arrived."""
        version = _version(self.readings_path)
        if self.readings is not None and version == self.version:
            return False
        readings = open_readings(version)["value"]
        last = pd.Timestamp(readings["time"].values[-1])
        self.readings, self.version, self._events = readings, version, None
        if self.as_of is not None and last == self.as_of:
            return False  # a new version without new minutes (late readings only)
        before = self._online
        self._online = None
        with param.edit_constant(self):
            self.as_of = last.to_pydatetime()
            changed = before is None or not self.online().equals(before)
            self.param.update(loads=self.loads + 1,
                              status_changes=self.status_changes + changed)
        return True

    def online(self) -> pd.Series:
        """Per installation, online at the latest reading (computed once per load)."""
        if self._online is None:
            assert self.readings is not None  # loaded by __init__ (refresh)
            flags = monitoring.sensors_online(self.readings, self.as_of, MAX_GAP)
            by_site = monitoring.sites_online(flags, self.sensors["site_id"])
            self._online = by_site.reindex(self.sites.index, fill_value=False)
        return self._online

    def alarms(self) -> pd.DataFrame:
        """Alarms that started in the last ``ALARM_HOURS`` hours, newest first, with their
        installation, sensor kind and unit."""
        if self._events is None:
            assert self.version is not None  # loaded by __init__ (refresh)
            events = _recent_alarms(self.version, pd.Timestamp(self.as_of), self.sensors)
            info = self.sensors.loc[events["sensor_id"], ["site_id", "kind", "unit"]]
            self._events = pd.concat([events.reset_index(drop=True),
                                      info.reset_index(drop=True)], axis=1).sort_values(
                ["start", "sensor_id"], ascending=[False, True], ignore_index=True)
        return self._events

    def kpis(self) -> dict:
        """Sites online, online rate (and the province's), alarms by level, alarms ongoing."""
        online = self.online()
        alarms = self.alarms()
        return {"online": int(online.sum()), "sites": len(online),
                "rate": monitoring.online_rate(online), "province_rate": self.province_rate,
                "high": int((alarms["level"] == "high").sum()),
                "high_high": int((alarms["level"] == "high_high").sum()),
                "ongoing": int(alarms["ongoing"].sum())}

    def cards(self) -> list[dict]:
        """The headline cards (name, label, value, change) of :meth:`kpis`."""
        lang, figures = self.lang, self.kpis()
        province = figures["province_rate"]
        return [
            {"name": "sites_online", "label": text("sites_online", lang),
             "value": f"{figures['online']} / {figures['sites']}", "change": ""},
            {"name": "online_rate", "label": text("online_rate", lang),
             "value": format_percent(figures["rate"], lang),
             "change": "" if math.isnan(province) else
             f"{text('province', lang)} {format_percent(province, lang)}"},
            *({"name": name, "label": text(name, lang), "value": str(figures[key]), "change": ""}
              for name, key in (("alarms_high", "high"), ("alarms_high_high", "high_high"),
                                ("alarms_ongoing", "ongoing")))]

    def site_status(self, names: dict[str, str]) -> pd.DataFrame:
        """The installations (site_id, lon, lat, enterprise_id, …) with ``online``, its
        ``status`` in words and their ``name`` (from ``names``, by site id)."""
        online = self.online()
        sites = self.sites.reset_index().assign(
            online=lambda f: f["site_id"].map(online).fillna(False).astype(bool),
            name=lambda f: [names.get(s, s) for s in f["site_id"]])
        sites["status"] = [text("online" if o else "offline", self.lang) for o in sites["online"]]
        return sites

    def curve(self, max_points: int = 2000) -> pd.Series:
        """The chosen sensor's readings over the window, decimated for drawing."""
        end = pd.Timestamp(self.as_of)
        start = end - pd.Timedelta(WINDOWS[self.window])
        assert self.readings is not None  # loaded by __init__ (refresh)
        values = self.readings.sel(sensor=self.sensor, time=slice(start, end)).load()
        return monitoring.decimate(values.to_series(), max_points)

    def thresholds(self) -> tuple[float, float, str]:
        row = self.sensors.loc[self.sensor]
        return float(row["high"]), float(row["high_high"]), str(row["unit"])


def _version(path) -> Path:
    """The readings store version ``path`` (a data dir or a readings.zarr) points to now."""
    path = Path(path)
    return (path if path.name == "readings.zarr" else readings_path(path)).resolve()


class _Alarms:
    """The alarms of the last ``ALARM_HOURS`` of one version of the readings, computed once
    for every session watching it (a refresh of all sessions costs one computation)."""

    def __init__(self, size: int = 4):
        self.cache: LRU[pd.DataFrame] = LRU(size)

    def __call__(self, version: Path, as_of: pd.Timestamp, sensors: pd.DataFrame):
        def compute() -> pd.DataFrame:
            start = as_of - pd.Timedelta(hours=ALARM_HOURS)
            recent = open_readings(version)["value"].sel(
                time=slice(start - pd.Timedelta(hours=1), None))
            events = monitoring.all_alarm_events(recent, sensors)
            return events[events["start"] >= start]

        # sessions may see different sensors
        return self.cache.get((version, as_of, tuple(sensors.index)), compute)


_recent_alarms = _Alarms()

__all__ = ["MonitoringState", "WINDOWS"]

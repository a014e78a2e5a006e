"""The (county × day) grid of a demo city: how many events fall on each county and day.

Counts are drawn day by day for each county from an intensity (activity × season × weekday ×
shocks such as the February-2020 epidemic dip × yearly growth); where a reference figure fixes
the total of a (counties, dates) window (:class:`Window`), that total is spread over the
window's cells by a multinomial draw instead, and the series is rescaled so the rest of the
data looks alike. :mod:`demo` turns the counts into records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from safetyviz.analysis import reference as ref
from safetyviz.core.errors import UserError
from safetyviz.synth.profile import Profile

SEASON = np.array([0.9, 0.75, 1.05, 1.05, 1.0, 1.15, 0.95, 0.95, 1.0, 0.95, 1.05, 1.15])
WEEKDAY = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.35, 0.2])
YEARLY_GROWTH = 1.04
DAYS_PER_MONTH = 30.44
MIN_CALIBRATION_DAYS = 28  # shorter windows (a single day) pin events but rescale nothing


@dataclass
class Window:
    """A reference figure as a constraint on the (county × day) grid."""

    metric: str
    kind: str
    counties: np.ndarray  # bool mask over counties
    first: int  # day index, inclusive
    last: int  # day index, inclusive
    target: float

    @property
    def order(self) -> tuple[int, int]:
        # County figures before city figures, short windows before long ones.
        return int(self.counties.sum()), self.last - self.first


class Grid:
    """The days and counties of a profile, its reference figures as windows, and the draws
    of counts on them (from ``rng``, the demo's one random stream)."""

    def __init__(self, profile: Profile, counties: list[str], rng: np.random.Generator):
        self.p = profile
        self.counties = counties
        self.rng = rng
        self.days = pd.date_range(profile.start, profile.end, freq="D")
        self.windows = self._windows()
        months = self.days.to_period("M")
        shock = np.array([profile.shocks.get(m, 1.0) for m in months])
        trend = YEARLY_GROWTH ** (self.days.year - self.days.year[0]).to_numpy()
        self.day_factor = SEASON[self.days.month - 1] * shock * trend  # before weekday
        self.activity = np.array([float(profile.counties[c].get("activity", 1.0))
                                  for c in self.counties])

    def _windows(self) -> list[Window]:
        out = []
        for row in self.p.reference.to_dict("records"):
            kind, _ = ref.parse_op(row["op"])
            if kind not in ref.CHECKED_OPS:
                continue
            adcodes = ref.scope(row["adcode"], self.p.city, self.counties)
            start, end = row["period_start"], row["period_end"]
            if start < self.days[0] or end > self.days[-1]:
                raise UserError(f"{self.p.path}: reference row {row['key']} lies outside "
                                f"{self.days[0]:%Y-%m-%d} – {self.days[-1]:%Y-%m-%d}")
            out.append(Window(row["metric"], kind, np.isin(self.counties, adcodes),
                              self.days.get_loc(start), self.days.get_loc(end),
                              ref.target_value(row) or 0.0))
        return sorted(out, key=lambda w: w.order)

    def windows_for(self, *metrics: str) -> list[Window]:
        return [w for w in self.windows
                if w.metric in metrics and w.kind != "lt_same_period_last_year"]

    # --- the allocator -------------------------------------------------------------------
    def intensity(self, monthly_rate: float, weekdays: bool = True) -> np.ndarray:
        """Expected events per county and day."""
        day = self.day_factor * (WEEKDAY[self.days.day_of_week] if weekdays else 1.0)
        return monthly_rate / DAYS_PER_MONTH * np.outer(self.activity, day)

    def calibrate(self, intensity: np.ndarray, windows: list[Window]) -> np.ndarray:
        """Rescale counties' series so that each window's expectation equals its target."""
        intensity = intensity.copy()
        scaled = np.zeros(len(self.counties), bool)
        for w in windows:
            if w.last - w.first + 1 < MIN_CALIBRATION_DAYS:
                continue
            free = w.counties & ~scaled
            fixed_part = intensity[w.counties & scaled, w.first:w.last + 1].sum()
            free_part = intensity[free, w.first:w.last + 1].sum()
            if free.any() and free_part > 0 and w.target > fixed_part:
                intensity[free] *= (w.target - fixed_part) / free_part
            scaled |= w.counties
        return intensity

    def allocate(self, intensity: np.ndarray, windows: list[Window],
                 fixed: np.ndarray | None = None) -> np.ndarray:
        """Integer counts per county and day: windows get exactly their target, the rest is
        Poisson. ``fixed`` holds events that must stand as given (named events)."""
        counts = np.zeros(intensity.shape, np.int64)
        pinned = np.zeros(intensity.shape, bool)
        if fixed is not None:
            counts += fixed
            pinned |= fixed > 0
        for w in windows:
            rows, days = np.flatnonzero(w.counties), slice(w.first, w.last + 1)
            sub_counts, sub_pinned = counts[rows, days], pinned[rows, days]  # copies
            remaining = int(round(w.target)) - int(sub_counts[sub_pinned].sum())
            weights = np.where(sub_pinned, 0.0, intensity[rows, days])
            if remaining < 0 or (remaining > 0 and weights.sum() == 0):
                raise UserError(f"{self.p.path}: reference figures for {w.metric} contradict "
                                "each other (a window's total cannot be met)")
            if remaining:
                draw = self.rng.multinomial(remaining, (weights / weights.sum()).ravel())
                sub_counts[~sub_pinned] = draw.reshape(weights.shape)[~sub_pinned]
            counts[rows, days] = sub_counts
            pinned[rows, days] = True
        counts[~pinned] = self.rng.poisson(intensity[~pinned])
        return counts

    def cells_to_rows(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(county index, day index) of each event, in date order."""
        county, day = np.nonzero(counts)
        reps = counts[county, day]
        county, day = np.repeat(county, reps), np.repeat(day, reps)
        order = np.lexsort((county, day))
        return county[order], day[order]

    def sector_sample(self, county_idx: np.ndarray) -> np.ndarray:
        out = np.empty(len(county_idx), object)
        for c, adcode in enumerate(self.counties):
            rows = np.flatnonzero(county_idx == c)
            weights = self.p.counties[adcode]["sectors"]
            p = np.array(list(weights.values()), float)
            out[rows] = self.rng.choice(list(weights), size=len(rows), p=p / p.sum())
        return out

"""A demo profile (``data/demo/<city>.yaml``): the city, its counties' make-up (activity,
firms, sector mix), base rates, shocks such as the 2020 epidemic dip, named events, and the
reference figures the demo must reproduce. Read and checked here; used by :mod:`grid` and
:mod:`demo`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from safetyviz.analysis import reference as ref
from safetyviz.core.errors import UserError
from safetyviz.core.vocab import SECTORS


@dataclass
class Profile:
    """A demo profile: the city, its counties' make-up, base rates and named events."""

    city: str
    start: pd.Timestamp
    end: pd.Timestamp
    counties: dict
    rates: dict
    shocks: dict
    named_joint_operations: list
    reference: pd.DataFrame
    path: Path = field(default=Path("."))


def load_profile(path: Path) -> Profile:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no demo profile for this city") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}") from None
    for key in ("city", "reference", "start", "end", "counties", "rates"):
        if key not in raw:
            raise UserError(f"{path}: missing key {key!r}")
    for adcode, county in raw["counties"].items():
        unknown = set(county.get("sectors", {})) - set(SECTORS)
        if unknown:
            raise UserError(f"{path}: county {adcode}: unknown sector(s) {sorted(unknown)}")
    return Profile(
        city=str(raw["city"]), start=pd.Timestamp(raw["start"]), end=pd.Timestamp(raw["end"]),
        counties={str(k): v for k, v in raw["counties"].items()}, rates=raw["rates"],
        shocks={pd.Period(str(k), "M"): float(v) for k, v in (raw.get("shocks") or {}).items()},
        named_joint_operations=raw.get("named_joint_operations") or [],
        reference=ref.read_reference(path.parent / raw["reference"]), path=path)

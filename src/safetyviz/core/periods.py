"""Periods: parsing, listing and labelling reporting periods (month, quarter, year, range).

A period is an inclusive pair of dates. Text forms: ``2020`` (year), ``2020Q1`` (quarter),
``2020-03`` (month), ``2020-01-01/2020-04-20`` (custom range).
"""

from __future__ import annotations

import functools
import re

import pandas as pd

from safetyviz.core.errors import UserError

QUARTER_ZH = "一二三四"


def parse_period(text: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Inclusive (start, end) dates of a period; UserError for anything else."""
    return _parsed(str(text).strip())


# (a served change parses its period a dozen times, 0.1 ms each; timestamps are immutable,
# and a bounded cache keeps what forged periods can fill small: errors are not kept)
@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    try:
        if re.fullmatch(r"\d{4}", text):
            p = pd.Period(text, "Y")
        elif m := re.fullmatch(r"(\d{4})[Qq]([1-4])", text):
            p = pd.Period(f"{m[1]}Q{m[2]}", "Q")
        elif re.fullmatch(r"\d{4}-\d{2}", text):
            p = pd.Period(text, "M")
        elif m := re.fullmatch(r"(\d{4}-\d{2}-\d{2})/(\d{4}-\d{2}-\d{2})", text):
            start, end = pd.Timestamp(m[1]), pd.Timestamp(m[2])
            if end < start:
                raise ValueError("end before start")
            return start, end
        else:
            raise ValueError("unknown form")
    except ValueError:
        raise UserError(f"bad period {text!r}: use 2020, 2020Q1, 2020-03 or "
                        "2020-01-01/2020-03-31") from None
    return p.start_time.normalize(), p.end_time.normalize()


def period_label(text: str, lang: str = "zh") -> str:
    """2020Q1 → 2020年第一季度 (zh) or 2020 Q1 (en)."""
    text = str(text).strip()
    if m := re.fullmatch(r"(\d{4})[Qq]([1-4])", text):
        return f"{m[1]}年第{QUARTER_ZH[int(m[2]) - 1]}季度" if lang == "zh" else f"{m[1]} Q{m[2]}"
    if re.fullmatch(r"\d{4}", text):
        return f"{text}年" if lang == "zh" else text
    if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
        return f"{m[1]}年{int(m[2])}月" if lang == "zh" else text
    start, end = parse_period(text)
    joiner = " 至 " if lang == "zh" else " – "
    return f"{start:%Y-%m-%d}{joiner}{end:%Y-%m-%d}"


def periods_between(first: pd.Timestamp, last: pd.Timestamp) -> list[str]:
    """Years, quarters and months covered by the months first…last, newest first."""
    months = pd.period_range(first, last, freq="M")
    years = sorted({str(m.year) for m in months}, reverse=True)
    quarters = sorted({f"{m.year}Q{m.quarter}" for m in months}, reverse=True)
    return years + quarters + [str(m) for m in reversed(months)]

"""Finding an enterprise as people type: by a fragment of its name or a former name, by the
pinyin of its name — initials (许昌 → ``xc``) or full (``xuchang``) — or by its credit code.

An :class:`EnterpriseIndex` is built once per register version and answers each keystroke
with vectorised substring searches (Arrow compute) over prepared columns; the caller says
which counties may be searched, so a county user never finds another county's firm. A
character of names commonly read two ways (长: chang / zhang, 行: hang / xing) is searchable
by either: a name gets one pinyin row per reading of its first few such characters.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Collection

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Readings tried for at most this many polyphonic characters of a name (2^3 rows at most).
MAX_POLYPHONIC = 3
RESULTS = 20
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
CODE = re.compile(r"[0-9A-Z]{4,18}")  # a credit code, or four or more of its characters


def normalised(text: str) -> str:
    """What is compared: NFKC (full-width letters and brackets as half-width), lower case,
    no spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).lower()


# Characters of place and firm names commonly read two ways: a name is found by either
# reading (pypinyin's own lists carry every rare reading too, 许 hǔ, and would multiply the
# rows). Every other character takes its most common reading.
POLYPHONES = {"长": ("chang", "zhang"), "行": ("hang", "xing"), "重": ("zhong", "chong"),
              "厦": ("xia", "sha"), "乐": ("le", "yue"), "都": ("du", "dou"),
              "朝": ("chao", "zhao"), "藏": ("zang", "cang"), "单": ("dan", "shan"),
              "盛": ("sheng", "cheng"), "传": ("chuan", "zhuan"), "调": ("diao", "tiao"),
              "曾": ("zeng", "ceng"), "解": ("jie", "xie"), "沈": ("shen",),
              "柏": ("bai", "bo"), "会": ("hui", "kuai"), "尉": ("wei", "yu"),
              "蚌": ("bang", "beng"), "涌": ("yong", "chong")}


@functools.cache
def _readings(character: str) -> tuple[str, ...]:
    """The pinyin readings of one character searched for; a letter or digit is itself;
    anything else (brackets, punctuation) has none."""
    if character in POLYPHONES:
        return POLYPHONES[character]
    if CJK.match(character):
        from pypinyin import Style, lazy_pinyin

        reading = lazy_pinyin(character, style=Style.NORMAL, errors="ignore")
        return (reading[0],) if reading and reading[0] else (character,)
    return (character,) if character.isalnum() else ()


def pinyin_forms(name: str) -> list[tuple[str, str]]:
    """(initials, full pinyin) of ``name`` for each reading of its first
    :data:`MAX_POLYPHONIC` polyphonic characters (the others take their most common)."""
    readings = [_readings(c) for c in normalised(name)]
    readings = [r for r in readings if r]
    varied = [i for i, r in enumerate(readings) if len(r) > 1][:MAX_POLYPHONIC]
    forms = []
    for choice in itertools.product(*[readings[i] for i in varied]):
        chosen = [r[0] for r in readings]
        for i, reading in zip(varied, choice):
            chosen[i] = reading
        forms.append(("".join(r[0] for r in chosen), "".join(chosen)))
    return list(dict.fromkeys(forms))


class EnterpriseIndex:
    """The register prepared for searching (``enterprise_id``, ``name``, ``aliases`` —
    "|"-separated —, ``credit_code``, ``adcode``; other columns are kept for the results)."""

    def __init__(self, register: pd.DataFrame):
        firms = register.reset_index(drop=True)
        self.firms = firms
        names = firms["name"].fillna("").astype(str)
        self._adcode = pa.array(firms["adcode"].astype(str).to_numpy())
        normal = [normalised(n) for n in names]
        self._name = pa.array(normal, pa.string())
        self._length = np.array([len(n) for n in normal], dtype=np.int64)
        self._latin = np.array([i for i, n in enumerate(normal)
                                if any(c.isascii() and c.isalnum() for c in n)], dtype=np.int64)
        aliases = firms["aliases"].fillna("").astype(str) if "aliases" in firms else None
        self._aliases = pa.array([normalised(a) for a in aliases] if aliases is not None
                                 else [""] * len(firms), pa.string())
        codes = firms["credit_code"] if "credit_code" in firms else pd.Series(None,
                                                                               index=firms.index)
        self._code = pa.array(codes.fillna("").astype(str).str.upper().to_numpy(), pa.string())
        rows, initials, full = [], [], []
        for row, name in enumerate(names):
            for short, long in pinyin_forms(name) or [("", "")]:
                rows.append(row)
                initials.append(short)
                full.append(long)
        # where each firm's pinyin rows start (every firm has at least one: see below)
        self._first_row = np.searchsorted(np.asarray(rows, dtype=np.int64),
                                          np.arange(len(firms)))
        self._initials, self._full = pa.array(initials, pa.string()), pa.array(full, pa.string())
        # Ties go to the shorter name, then the smaller id: one rank per firm, worked out once.
        ids = firms["enterprise_id"].astype(str).to_numpy()
        self._rank = np.empty(len(firms), dtype=np.int64)
        self._rank[np.lexsort((ids, self._length))] = np.arange(len(firms))

    def __len__(self) -> int:
        return len(self.firms)

    def search(self, query: str, counties: Collection[str] | None = None,
               limit: int = RESULTS) -> pd.DataFrame:
        """The firms ``query`` finds, best first, at most ``limit``; only those of
        ``counties`` (None: every county). Best: the name is the query, then it starts with
        it, then contains it; then a former name, the pinyin or the credit code contains
        it; shorter names first within each."""
        text = normalised(query)[:100]
        if not text or not len(self):
            return self.firms.iloc[:0]
        scores = np.full(len(self), 9, dtype=np.int64)

        def score(column: pa.Array, at_start: int, within: int, what: str = text
                  ) -> np.ndarray:
            """Per value of ``column``: ``at_start`` where it starts with ``what``,
            ``within`` where it holds it elsewhere, 9 where it does not."""
            where = pc.find_substring(column, what).to_numpy(zero_copy_only=False)
            return np.where(where == 0, at_start, np.where(where > 0, within, 9))

        if text.isascii():  # only names written with Latin letters or digits can hold it
            named = np.full(len(self), 9, dtype=np.int64)
            named[self._latin] = score(self._name.take(self._latin), 1, 2)
        else:
            named = score(self._name, 1, 2)
        named[(named == 1) & (self._length == len(text))] = 0  # the name itself
        np.minimum(scores, named, out=scores)
        np.minimum(scores, score(self._aliases, 3, 3), out=scores)
        if not CJK.search(text):
            if text.isascii() and text.isalpha():
                rows = np.minimum(score(self._initials, 3, 4), score(self._full, 3, 4))
                # a firm's pinyin rows are consecutive: the best of each firm's
                np.minimum(scores, np.minimum.reduceat(rows, self._first_row), out=scores)
            if CODE.fullmatch(text.upper()) and any(c.isdigit() for c in text):
                np.minimum(scores, score(self._code, 0, 2, text.upper()), out=scores)
        if counties is not None:
            allowed = pc.is_in(self._adcode, pa.array([str(c) for c in counties],
                                                      pa.string())).to_numpy(
                zero_copy_only=False)
            scores[~allowed] = 9
        hits = np.flatnonzero(scores < 9)
        if not len(hits):
            return self.firms.iloc[:0]
        key = scores[hits] * len(self) + self._rank[hits]
        if len(hits) > limit:
            keep = np.argpartition(key, limit - 1)[:limit]
            hits, key = hits[keep], key[keep]
        return self.firms.iloc[hits[np.argsort(key)]]

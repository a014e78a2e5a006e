"""Enterprise identity: when two mentions of a firm are the same firm.

Owns the unified social credit code (统一社会信用代码, GB 32100-2015: 18 characters, the last
a check character over the first 17), the key a firm's name is matched on (NFKC, one kind of
bracket, no spaces or punctuation, 有限责任公司 ↔ 有限公司 and the like), the stable id of a
provisional firm (one a ledger names but the register does not hold), and the similarity that
ranks registered firms as likely matches of a provisional one. Every rule is written once, as
a Polars expression; the scalar helpers run the same expression on one value.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter

import numpy as np
import polars as pl

# --- unified social credit codes (GB 32100-2015) -------------------------------------------
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
CREDIT_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], np.int64)
_VALUE = np.full(256, -1, np.int64)  # byte → value in the alphabet (-1: not allowed)
for _i, _c in enumerate(CREDIT_ALPHABET):
    _VALUE[ord(_c)] = _i
CREDIT_CODE_HEADERS = ("统一社会信用代码", "社会信用代码", "信用代码", "统一代码")


def credit_check_character(first17: str) -> str:
    """The 18th character of a code whose first 17 are ``first17``."""
    total = sum(CREDIT_ALPHABET.index(c) * int(w) for c, w in zip(first17, CREDIT_WEIGHTS))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def clean_credit_code(text: pl.Expr) -> pl.Expr:
    """A code as people type it (full-width, lower case, spaces) in its written form."""
    return text.str.normalize("NFKC").str.replace_all(r"\s", "").str.to_uppercase()


def credit_code_problems(codes: pl.Series) -> pl.Series:
    """Per code (already cleaned; null or "" for none): null when it is a valid code, else
    what is wrong with it. Vectorised: a million codes in well under a second."""
    codes = codes.cast(pl.String).fill_null("")
    length = codes.str.len_bytes().to_numpy()
    problems = np.full(len(codes), None, object)
    problems[(length != 18) & (length > 0)] = "not 18 characters"
    full = np.flatnonzero(length == 18)
    if len(full):
        # Non-ASCII bytes (of a code longer in characters than bytes allow) map to -1.
        raw = np.frombuffer("".join(codes.gather(full).to_list()).encode("utf-8"),
                            np.uint8).reshape(-1, 18)
        values = _VALUE[raw]
        bad_char = (values < 0).any(axis=1)
        region = raw[:, 2:8]
        bad_region = ((region < ord("0")) | (region > ord("9"))).any(axis=1)
        expected = (31 - (values[:, :17] * CREDIT_WEIGHTS).sum(axis=1) % 31) % 31
        bad_check = expected != values[:, 17]
        problems[full[bad_check]] = "wrong check character"
        problems[full[bad_region]] = "characters 3-8 are not a region code"
        problems[full[bad_char]] = "characters outside the code's alphabet"
    # Multi-byte characters make a code of 18 characters longer than 18 bytes.
    problems[(length != codes.str.len_chars().to_numpy()) & (length > 0)] = (
        "characters outside the code's alphabet")
    return pl.Series(problems.tolist(), dtype=pl.String)


def credit_code_problem(code: str) -> str | None:
    """What is wrong with one code (None: valid)."""
    cleaned = pl.select(clean_credit_code(pl.lit(code))).item()
    return credit_code_problems(pl.Series([cleaned])).item()


# --- names -----------------------------------------------------------------------------------
# Written forms of one legal form; the key keeps the second of each.
LEGAL_FORMS = (("股份有限公司", "股份公司"), ("有限责任公司", "有限公司"))
# What the key drops (spaces — NFKC has made every kind of space a plain one — and
# punctuation) or writes as ( ) (every kind of bracket), in one pass over each name.
_DROPPED = list(" \t\n\r\x0b\x0c·•・.,，、。;；:：'\"“”‘’`-—–_/\\|")
_OPENING, _CLOSING = list("[【〔〖{<《"), list("]】〕〗}>》")
_FROM = [*_DROPPED, *_OPENING, *_CLOSING, *(w for w, _ in LEGAL_FORMS)]
_TO = [*[""] * len(_DROPPED), *["("] * len(_OPENING), *[")"] * len(_CLOSING),
       *(k for _, k in LEGAL_FORMS)]


def name_key(text: pl.Expr) -> pl.Expr:
    """The key a firm's name is matched on: NFKC, lower case, all brackets as ( ), no spaces
    or punctuation, one written form per legal form, (集团) as 集团. '（演示）许昌 恒达有限责任公司'
    and '(演示)许昌恒达有限公司' have the same key."""
    return _shaped(_folded(text))


def _folded(text: pl.Expr) -> pl.Expr:
    return text.str.normalize("NFKC").str.to_lowercase()


def _shaped(text: pl.Expr) -> pl.Expr:
    return text.str.replace_many(_FROM, _TO).str.replace_all("(集团)", "集团", literal=True)


# A character _folded may change: anything but printable ASCII other than capitals, and CJK
# unified ideographs (no compatibility forms, no case). Most names have none.
_FOLDABLE = r"[^\x20-\x40\x5b-\x7e\u4e00-\u9fff]"


def name_keys(names: pl.Series) -> pl.Series:
    """:func:`name_key` of each of ``names``. NFKC and lower-casing, the costly steps, run only
    on the names they can change; each step on a long series is cut in two halves computed
    side by side (Polars runs one string expression on one core)."""
    foldable = names.str.contains(_FOLDABLE).fill_null(False).arg_true()
    if len(foldable):
        names = names.scatter(foldable, _in_halves(names.gather(foldable), _folded))
    return _in_halves(names, _shaped)


def _in_halves(texts: pl.Series, rule) -> pl.Series:
    half = (len(texts) + 1) // 2
    if half < 10_000:
        return texts.to_frame("text").select(rule(pl.col("text"))).to_series()
    halves = pl.DataFrame({"a": texts[:half], "b": texts[half:].extend_constant(
        None, half - (len(texts) - half))})
    out = halves.select(rule(pl.col("a")), rule(pl.col("b")))
    return pl.concat([out.get_column("a"), out.get_column("b")[:len(texts) - half]])


def enterprise_key(name: str) -> str:
    """:func:`name_key` of one name."""
    return pl.select(name_key(pl.lit(str(name)))).item()


def provisional_id(adcode: str, key: str, credit_code: str | None = None) -> str:
    """The id of a firm not in the register: from its credit code when it has a valid one
    (the same firm in any ledger), else from its county and name key — so another ledger, or
    the same one again, naming the firm links to the same provisional firm."""
    if credit_code:
        return f"P{credit_code}"
    digest = hashlib.sha1(f"{adcode}|{key}".encode()).hexdigest()[:10].upper()
    return f"P{adcode}-{digest}"


def provisional_ids(adcodes: pl.Series, keys: pl.Series, codes: pl.Series) -> pl.Series:
    """:func:`provisional_id` of each (county, name key, credit code or null)."""
    return pl.Series("provisional", [
        provisional_id(adcode, key or "", code)
        for adcode, key, code in zip(adcodes.to_list(), keys.to_list(), codes.to_list())],
        dtype=pl.String)


# --- similarity of names, for reconciliation -------------------------------------------------
# Words most firm names share: they say nothing about which firm is meant.
COMMON_WORDS = ("有限公司", "股份公司", "公司", "集团", "分公司", "有限", "责任", "(演示)")


def _core(key: str) -> str:
    for word in COMMON_WORDS:
        key = key.replace(word, "")
    return key


def bigrams(key: str) -> Counter:
    """Character bigrams of a name key less its common words (a one-character core counts
    as itself)."""
    core = _core(key)
    if len(core) < 2:
        return Counter([core]) if core else Counter()
    return Counter(core[i:i + 2] for i in range(len(core) - 1))


class NameIndex:
    """The registered names of one county, to rank the likeliest matches of another name:
    character bigrams (of :func:`bigrams`) weighted by how rare they are among the county's
    names, so that what most of them share (the county's name, 建设, 商贸) weighs little;
    the score is a weighted Dice coefficient (1.0: the same core)."""

    def __init__(self, entries: list[tuple[str, str]]):
        """``entries``: (id, name key), an id once per name or alias."""
        self.entries = [(eid, bigrams(key)) for eid, key in entries]
        documents = Counter(g for _, grams in self.entries for g in grams)
        n = len(self.entries)
        self.weight = {g: math.log((n + 1) / (df + 0.5)) for g, df in documents.items()}
        self.unseen = math.log((n + 1) / 0.5)
        self.postings: dict[str, list[int]] = {}
        for i, (_, grams) in enumerate(self.entries):
            for g in grams:
                self.postings.setdefault(g, []).append(i)
        self.norms = [self._norm(grams) for _, grams in self.entries]

    def _norm(self, grams: Counter) -> float:
        return sum(c * self.weight.get(g, self.unseen) for g, c in grams.items())

    def best(self, key: str, top: int = 3) -> list[tuple[float, str]]:
        """The ``top`` (score, id) most like ``key``, best first (ties by id)."""
        mine = bigrams(key)
        overlap: dict[int, float] = {}
        for g, c in mine.items():
            for i in self.postings.get(g, ()):
                shared = min(c, self.entries[i][1][g]) * self.weight[g]
                overlap[i] = overlap.get(i, 0.0) + shared
        norm = self._norm(mine)
        scores: dict[str, float] = {}
        for i, shared in overlap.items():
            total = norm + self.norms[i]
            score = 2 * shared / total if total else 0.0
            eid = self.entries[i][0]
            scores[eid] = max(scores.get(eid, 0.0), score)
        ranked = sorted(((s, e) for e, s in scores.items() if s > 0), key=lambda t: (-t[0], t[1]))
        return ranked[:top]

"""The enterprise register (企业名录): who a ledger row is about, and the data steward's work on
the register.

Owns: reading the register; linking ledger rows to it (:class:`Linker`: a valid credit code
first, then the name within the row's county, a unique match only; a firm the register does
not hold becomes a *provisional* firm rather than a rejected row); every change to the
register — provisional firms added by an ingest, a register file applied (new firms, renames
kept as aliases, closures, provisional firms promoted), two firms merged — written as a new
store version whose manifest keeps the history of changes; and reconciliation
(:func:`unmatched`: provisional firms with their likeliest registered matches). A merge
relinks the records of every table and updates the cube in one :class:`store.Transaction`.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import getpass
import hashlib
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from safetyviz.core.errors import UserError
from safetyviz.core.identity import NameIndex, enterprise_key, name_key, name_keys, provisional_ids
from safetyviz.core.paths import cube_path
from safetyviz.core.threads import WorkerPool
from safetyviz.core.vocab import NO_ENTERPRISE_ACTIONS, VOCABULARIES
from safetyviz.data import store

SCHEMA = store.SCHEMAS["enterprises"]
# Record tables that name an enterprise (relinked by a merge).
LINKED_TABLES = ("inspections", "hazards", "enforcement_actions", "major_hazard_sites")
MAX_FILES = 16  # the register's files are compacted into one beyond this
_BACKGROUND = WorkerPool(max_workers=1, name="safetyviz-name-keys")


def read_register(version: Path | None) -> pl.DataFrame:
    """The register of a store version (every column; codes as text), empty if none."""
    files = sorted(version.rglob("*.parquet")) if version is not None else []
    if not files:
        return _from_arrow(SCHEMA.empty_table()).with_columns(_plain_codes())
    table = pq.read_table(files, schema=SCHEMA) if len(files) > 1 else pq.read_table(
        files[0], schema=SCHEMA)
    return _from_arrow(table).with_columns(_plain_codes())


def _from_arrow(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)  # a Table gives a DataFrame (a Series: an array)
    return frame


def _plain_codes() -> list[pl.Expr]:
    return [pl.col(f.name).cast(pl.String) for f in SCHEMA if pa.types.is_dictionary(f.type)]


def current_register(data_dir: Path) -> pl.DataFrame:
    return read_register(store.current_version(data_dir, "enterprises"))


def to_arrow(frame: pl.DataFrame) -> pa.Table:
    """Register rows in the store's schema; a code column's dictionary is its vocabulary
    (never empty, even when every row is null)."""
    arrow = frame.select(SCHEMA.names).to_arrow()
    columns = []
    for f in SCHEMA:
        column = arrow.column(f.name)
        if pa.types.is_dictionary(f.type):
            codes = pa.array(list(VOCABULARIES[f.name]), pa.string())
            indices = pc.index_in(column.cast(pa.string()), value_set=codes).cast(pa.int32())
            columns.append(pa.DictionaryArray.from_arrays(indices.combine_chunks(), codes))
        else:
            columns.append(column.cast(f.type))
    return pa.table(columns, schema=SCHEMA)


def alias_list(aliases: str | None) -> list[str]:
    return [a for a in (aliases or "").split("|") if a]


def _keys_of(frame: pl.DataFrame) -> pl.DataFrame:
    """(adcode, text, key, enterprise_id) of every name and alias of the firms in ``frame``."""
    names = frame.select("enterprise_id", "adcode", pl.col("name").alias("text"))
    aliases = frame.select("enterprise_id", "adcode",
                           pl.col("aliases").fill_null("").str.split("|").alias("text")
                           ).explode("text")
    both = pl.concat([names, aliases]).filter(pl.col("text").is_not_null()
                                              & (pl.col("text") != ""))
    return both.select("adcode", "text", "enterprise_id").with_columns(
        key=name_keys(both.get_column("text"))).select(
        "adcode", "text", "key", "enterprise_id").unique(maintain_order=True)


# The name keys of a register version, beside its files (not *.parquet: no reader of the
# table sees them), and how many firms share each (county, key) — named by the version of
# identity.name_key, so a new rule recomputes them. Written with the version (only the groups
# a change touches regrouped), read by every ingest: the keys of 100,000 names cost 0.1 s,
# their grouping 0.05 s.
KEY_FILES = {"keys": "_name_keys.v3.arrow", "groups": "_name_groups.v3.arrow"}


def _read_keys(version: Path | None, names=tuple(KEY_FILES)) -> dict[str, pl.DataFrame]:
    """The key files ``names`` of ``version`` that exist, by name."""
    if version is None:
        return {}
    return {name: pl.read_ipc(version / KEY_FILES[name]) for name in names
            if (version / KEY_FILES[name]).exists()}


def _texts(keys: pl.DataFrame) -> pl.DataFrame:
    """Every name and alias as written (``text``), with its key."""
    return keys.select("text", "key").unique("text")


def _candidates(keys: pl.DataFrame) -> pl.DataFrame:
    """(adcode, key) → the ids of the firms with that name key in that county."""
    return keys.group_by("adcode", "key").agg(
        pl.col("enterprise_id").unique().sort().alias("candidates"))


def _groups(keys: pl.DataFrame) -> pl.DataFrame:
    """(adcode, key) → how many firms have that key in that county (``n``), and the firm
    when only one does (``by_name``): flat, so that linking joins it without lists."""
    firms = pl.col("enterprise_id").unique()
    return keys.group_by("adcode", "key").agg(
        firms.len().cast(pl.UInt32).alias("n"),
        pl.when(firms.len() == 1).then(pl.col("enterprise_id").first()).alias("by_name"))


# Left joins on text keys look up a 64-bit hash of the key columns (worked out once for the
# right side) and then compare the values: a hash probe costs a fraction of a string one.
HASH = "_key_hash"


def with_key_hash(frame: pl.DataFrame, on: list[str]) -> pl.DataFrame:
    """``frame`` with :data:`HASH`, a 64-bit hash of its ``on`` columns combined."""
    hashed = [pl.col(c).hash(i) for i, c in enumerate(on)]
    return frame.with_columns(functools.reduce(lambda a, b: a * 31 ^ b, hashed).alias(HASH))


def join_by_hash(left: pl.DataFrame, right: pl.DataFrame, on: list[str]) -> pl.DataFrame:
    """``left.join(right, on=on, how="left", maintain_order="left")`` for a ``right`` with
    distinct ``on`` values and :func:`with_key_hash`'s column (dropped): joined on the hash,
    checked on the values. Should two keys share a hash, or the key types differ, the exact
    join (so a collision costs time, never a wrong match)."""
    hashes = right.get_column(HASH)
    if hashes.n_unique() == len(hashes) and all(
            left.schema[c] == right.schema[c] for c in on):
        theirs = {c: f"{c}{HASH}" for c in on}
        joined = with_key_hash(left, on).join(
            right.rename(theirs).with_columns(_found=pl.lit(True)), on=HASH, how="left",
            maintain_order="left")
        same = pl.all_horizontal([pl.col(c).eq_missing(pl.col(t)) for c, t in theirs.items()])
        if not joined.select((pl.col("_found").fill_null(False) & ~same).any()).item():
            return joined.drop(HASH, "_found", *theirs.values())
    return left.join(right.drop(HASH), on=on, how="left", maintain_order="left")


def _write_keys(version: Path, keys: pl.DataFrame, groups: pl.DataFrame | None = None) -> None:
    derived = {"keys": keys, "groups": groups if groups is not None else _groups(keys)}
    for name, file in KEY_FILES.items():
        derived[name].write_ipc(version / file)  # uncompressed: read by memory map


def _changed_keys(keys: pl.DataFrame, groups: pl.DataFrame | None, changed: pl.Series,
                  added: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """(keys, groups) of a register version from the previous one's: the ``changed`` firms'
    keys replaced by ``added``; only the (county, key) groups they touch regrouped."""
    gone = pl.col("enterprise_id").is_in(changed.implode())
    new_keys = pl.concat([keys.filter(~gone), added])
    if groups is None:
        return new_keys, None
    touched = pl.concat([keys.filter(gone), added]).select("adcode", "key").unique()
    regrouped = _groups(new_keys.join(touched, on=["adcode", "key"], how="semi",
                                      nulls_equal=True))
    return new_keys, pl.concat([
        groups.join(touched, on=["adcode", "key"], how="anti", nulls_equal=True),
        regrouped])


class Register:
    """The register as matching needs it: credit codes, and name keys by county (read from
    the version's key file when it has one: the keys of 100,000 names cost 0.1 s)."""

    def __init__(self, frame: pl.DataFrame, keys: pl.DataFrame | None = None,
                 groups: pl.DataFrame | None = None):
        """``keys``: the (adcode, text, key, enterprise_id) of ``frame``'s names, and
        ``groups`` (see :func:`_groups`), computed if not given."""
        self.frame = frame
        self.codes = frame.filter(pl.col("credit_code").is_not_null()).select(
            "credit_code", pl.col("enterprise_id").alias("by_code")).unique("credit_code",
                                                                             keep="first")
        self.keys = keys if keys is not None else _keys_of(frame)
        if groups is not None:
            self.groups = groups  # the cached property's value
        self.version: Path | None = None  # the store version read, if loaded from one
        self.as_read: Register = self  # before firms were added during an ingest

    @classmethod
    def load(cls, data_dir: Path) -> Register:
        version = store.current_version(data_dir, "enterprises")
        files = _read_keys(version)
        register = (cls(read_register(version), files["keys"], files.get("groups"))
                    if "keys" in files else cls(read_register(version)))
        register.version = version
        register.matches  # noqa: B018 - worked out now, on the loading thread
        return register

    @functools.cached_property
    def groups(self) -> pl.DataFrame:
        return _groups(self.keys)

    def candidates(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """(adcode, key) → the ids of the firms with that name key in that county, for the
        (adcode, key) ``pairs`` only."""
        return _candidates(self.keys.join(pairs.select("adcode", "key").unique(),
                                          on=["adcode", "key"], how="semi"))

    @functools.cached_property
    def matches(self) -> pl.DataFrame:
        """:attr:`groups` with the one firm's credit code and whether it is registered:
        what linking a name needs, in one join."""
        firms = self.frame.select(pl.col("enterprise_id").alias("by_name"),
                                  pl.col("credit_code").alias("code_of_match"),
                                  pl.col("registered").alias("match_registered"))
        return with_key_hash(self.groups.join(firms.unique("by_name", keep="first"),
                                              on="by_name", how="left", maintain_order="left"),
                             ["adcode", "key"])

    def add(self, rows: pl.DataFrame) -> None:
        """Firms made during an ingest (provisional ones), matched by later sheets too."""
        if self.as_read is self:  # frames are immutable: a shallow copy keeps them
            self.as_read = copy.copy(self)
        for derived in ("groups", "texts", "matches"):
            self.__dict__.pop(derived, None)
        self.frame = pl.concat([self.frame, rows.select(self.frame.columns)],
                               how="vertical_relaxed")
        self.codes = pl.concat([self.codes, rows.filter(pl.col("credit_code").is_not_null())
                                .select("credit_code", pl.col("enterprise_id").alias("by_code"))])
        self.keys = pl.concat([self.keys, _keys_of(rows)])

    @functools.cached_property
    def texts(self) -> pl.DataFrame:
        """Every name and alias of the register as written (``text``), with its key (and
        :func:`with_key_hash`'s column)."""
        return with_key_hash(_texts(self.keys), ["text"])

    def name_keys(self, names: pl.Series, known: pl.DataFrame | None = None) -> pl.Series:
        """:func:`identity.name_key` of ``names``: a name found in ``known`` (``text``,
        ``key``, :func:`with_key_hash`'s column; default: the register's names as written)
        takes its key there (no string work at all), the others are computed."""
        known = self.texts if known is None else known
        keys = join_by_hash(names.to_frame("text"), known, ["text"]).get_column("key")
        missed = (keys.is_null() & names.is_not_null()).arg_true()
        if len(missed):
            keys = keys.scatter(missed, name_keys(names.gather(missed)))
        return keys


@dataclass
class Linker:
    """Links ledger rows to the register, and keeps the provisional firms it made and the
    credit codes it learned for provisional firms that had none."""

    register: Register
    table: str
    batch: str
    strict: bool = False
    new: pl.DataFrame = field(init=False)  # the register rows of the provisional firms made
    learned: dict[str, str] = field(default_factory=dict)  # provisional id → credit code
    _keys_ahead: Future | None = field(default=None, repr=False)  # see expect()

    def __post_init__(self):
        self.new = self.register.frame.clear()

    def expect(self, names: pl.Series) -> None:
        """Start working out the name keys of ``names`` (a sheet's names, before its other
        columns are checked) on another thread: Polars' string kernels leave the interpreter
        free, so the keys are ready by the time the checked rows are linked."""
        def keys_of_names() -> pl.DataFrame:
            # Distinct by 64-bit hash: five times cheaper than comparing the strings, and a
            # name lost to a collision is only not worked out ahead (_name_keys computes it).
            hashed = with_key_hash(names.to_frame("text"), ["text"])
            distinct = hashed.filter(pl.col(HASH).is_first_distinct()
                                     & pl.col("text").is_not_null())
            return distinct.with_columns(key=self.register.name_keys(distinct.get_column("text")))

        self._keys_ahead = _BACKGROUND.submit(keys_of_names)

    def _name_keys(self, names: pl.Series) -> pl.Series:
        """The keys of ``names``: those :meth:`expect` worked out, the others computed."""
        ahead, self._keys_ahead = self._keys_ahead, None
        return self.register.name_keys(names, ahead.result() if ahead is not None else None)

    def made(self) -> list[str]:
        """Ids of the firms this linking made or learned a code for."""
        return self.new.get_column("enterprise_id").to_list() + list(self.learned)

    def link(self, rows: pl.DataFrame, headers: dict[str, str]) -> tuple[pl.Series, pl.Series]:
        """(enterprise id, reason) per row of ``rows`` (columns ``adcode``, ``name``,
        ``credit_code`` — valid codes only —, ``sector``, ``action_type`` if any; nulls where
        the ledger says nothing). ``headers`` names the ledger's columns for the reasons."""
        # Ledgers name a firm many times: each distinct (county, name, code, action) is
        # linked once. Rows find their combination again by a 64-bit hash of its values,
        # checked by a second, independent one (should both collide, by the values); each
        # combines the columns' own hashes (a struct's hash costs twice as much).
        columns = [c for c in rows.columns if c != "sector"]

        def combined_hash(seed: int) -> pl.Expr:
            hashed = [pl.col(c).hash(seed * len(columns) + i) for i, c in enumerate(columns)]
            return functools.reduce(lambda a, b: a * 31 ^ b, hashed).alias(f"h{seed}")

        hashes = rows.select(combined_hash(0), combined_hash(1))
        # One hash-table pass numbers the combinations in order of first appearance, so a
        # row is a combination's first exactly where the running maximum of numbers grows.
        index, _ = pd.factorize(hashes.get_column("h0").to_numpy())
        first = pl.Series(np.diff(np.maximum.accumulate(index), prepend=-1) > 0)
        combos, combo_hashes = rows.filter(first), hashes.filter(first)
        ids, reasons = self._link_distinct(combos, headers)
        index = pl.Series(index, dtype=pl.UInt32)
        if (combo_hashes.get_column("h1").gather(index) == hashes.get_column("h1")).all():
            linked, why = ids.gather(index), reasons.gather(index)
        else:  # two combinations with one hash: join on the values themselves
            back = rows.join(combos.select(columns).with_columns(_id=ids, _why=reasons),
                             on=columns, how="left", nulls_equal=True, maintain_order="left")
            linked, why = back.get_column("_id"), back.get_column("_why")
        self._sectors(linked, rows.get_column("sector"))
        return linked, why

    def _sectors(self, ids: pl.Series, sectors: pl.Series) -> None:
        """A new provisional firm whose first row gave no sector: that of the first row
        naming it that does."""
        pending = self.new.filter(pl.col("sector").is_null()).get_column("enterprise_id")
        if not len(pending):
            return
        first = pl.DataFrame({"enterprise_id": ids, "sector": sectors.cast(pl.String)}).filter(
            pl.col("enterprise_id").is_in(pending.implode()) & pl.col("sector").is_not_null()
        ).unique("enterprise_id", keep="first")
        self.new = self.new.update(first, on="enterprise_id")

    def _link_distinct(self, rows: pl.DataFrame,
                       headers: dict[str, str]) -> tuple[pl.Series, pl.Series]:
        name_header = headers.get("name", "企业名称")
        code_header = headers.get("credit_code", "统一社会信用代码")
        f = rows.with_row_index("_i").with_columns(
            key=self._name_keys(rows.get_column("name")),
            credit_code=pl.col("credit_code").fill_null(pl.lit(None, pl.String)))
        f = f.with_columns(key=pl.when(pl.col("key") != "").then(pl.col("key")))
        f = f.join(self.register.codes, on="credit_code", how="left", maintain_order="left")
        f = join_by_hash(f, self.register.matches, ["adcode", "key"]).with_columns(
            ambiguous=pl.col("n").fill_null(0) > 1)
        no_enterprise = (pl.col("action_type").cast(pl.String).is_in(NO_ENTERPRISE_ACTIONS)
                         if "action_type" in f.columns else pl.lit(False))
        named = pl.col("key").is_not_null() | pl.col("credit_code").is_not_null()
        conflict = (pl.col("credit_code").is_not_null() & pl.col("by_code").is_null()
                    & pl.col("code_of_match").is_not_null()
                    & (pl.col("code_of_match") != pl.col("credit_code")))
        unmatched = (named & pl.col("by_code").is_null() & pl.col("by_name").is_null()
                     & ~pl.col("ambiguous") & pl.col("adcode").is_not_null())
        f = f.with_columns(conflict=conflict.fill_null(False),
                           unmatched=unmatched & ~no_enterprise)
        found = pl.coalesce(pl.col("by_code"), pl.when(~pl.col("conflict")).then(
            pl.col("by_name")))
        f = f.with_columns(found=found)
        provisional = self._provisional(f.filter(pl.col("unmatched")) if not self.strict
                                        else f.clear())
        quoted_name = pl.concat_str([pl.lit(f"{name_header}='"), pl.col("name"), pl.lit("'")])
        quoted_code = pl.concat_str([pl.lit(f"{code_header}='"), pl.col("credit_code"),
                                     pl.lit("'")])
        reasons = (
            pl.when(pl.col("conflict")).then(pl.concat_str([
                pl.lit("credit_code_conflict: "), quoted_code, pl.lit(", but "), quoted_name,
                pl.lit(" is "), pl.col("by_name"), pl.lit(" (code "), pl.col("code_of_match"),
                pl.lit(")")]))
            .when(pl.col("ambiguous") & pl.col("found").is_null()).then(pl.concat_str([
                pl.lit("ambiguous_enterprise: "), quoted_name, pl.lit(" matches "),
                pl.col("candidates").list.join(", "), pl.lit(" in "), pl.col("adcode")]))
            .when(pl.col("unmatched") & pl.lit(self.strict)).then(pl.concat_str([
                pl.lit("unknown_enterprise: "), pl.coalesce(quoted_name, quoted_code)])))
        f = f.join(provisional, on="_i", how="left", maintain_order="left")
        ids = f.select(pl.coalesce("found", "provisional")).to_series()
        # Reasons are written for the few rows that have one (every branch of a when/then
        # is computed for every row it is given).
        failing = (pl.col("conflict") | (pl.col("ambiguous") & pl.col("found").is_null())
                   | (pl.col("unmatched") & pl.lit(self.strict)))
        positions = f.select(failing.arg_true()).to_series()
        why = pl.repeat(None, len(f), dtype=pl.String, eager=True)
        if len(positions):
            failed = f[positions]
            failed = failed.join(self.register.candidates(failed), on=["adcode", "key"],
                                 how="left", maintain_order="left")
            why = why.scatter(positions, failed.select(reasons).to_series())
        self._learn(f)
        return ids, why

    def _provisional(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Ids of provisional firms for the rows no firm matched (``_i``: row position): by
        credit code when the row has one — or when its name has exactly one code among this
        batch's rows — else by county and name."""
        if not len(rows):
            return pl.DataFrame({"_i": [], "provisional": []},
                                schema={"_i": pl.UInt32, "provisional": pl.String})
        code_of_name = rows.filter(pl.col("credit_code").is_not_null()).group_by(
            "adcode", "key").agg(pl.col("credit_code").unique().alias("codes")).filter(
            pl.col("codes").list.len() == 1).select(
            "adcode", "key", pl.col("codes").list.first().alias("name_code"))
        rows = rows.join(code_of_name, on=["adcode", "key"], how="left", maintain_order="left")
        rows = rows.with_columns(code=pl.coalesce("credit_code", "name_code"))
        firms = rows.unique(["adcode", "key", "code"], keep="first", maintain_order=True)
        firms = firms.with_columns(provisional=provisional_ids(
            firms.get_column("adcode"), firms.get_column("key"), firms.get_column("code")))
        made = firms.filter(~pl.col("provisional").is_in(
            self.new.get_column("enterprise_id").implode())).unique(
            "provisional", keep="first", maintain_order=True)  # one code, two names: the first
        schema = self.register.frame.schema
        made = made.select(
            pl.col("provisional").alias("enterprise_id"), pl.col("code").alias("credit_code"),
            pl.coalesce("name", "code").alias("name"), "adcode",
            pl.col("sector").cast(pl.String), registered=pl.lit(False),
            batch=pl.lit(self.batch)).select(
            pl.col(c).cast(t) if c in made.columns or c in ("enterprise_id", "credit_code",
                                                              "name", "registered", "batch")
            else pl.lit(None, t).alias(c) for c, t in schema.items())
        if len(made):
            self.new = pl.concat([self.new, made])
            self.register.add(made)
        return rows.join(firms.select("adcode", "key", "code", "provisional"),
                         on=["adcode", "key", "code"], how="left", nulls_equal=True,
                         maintain_order="left").select("_i", "provisional")

    def _learn(self, f: pl.DataFrame) -> None:
        """A provisional firm matched by name, without a code, whose row has one: learned."""
        learned = f.filter(pl.col("found").is_not_null() & pl.col("credit_code").is_not_null()
                           & pl.col("code_of_match").is_null()
                           & (pl.col("match_registered") == False)  # noqa: E712
                           & pl.col("by_code").is_null())
        for pid, code in learned.select("found", "credit_code").unique().iter_rows():
            self.learned.setdefault(pid, code)

    def changes(self, used: set[str]) -> pl.DataFrame:
        """The register rows this ingest adds or changes, for the ids its accepted rows use:
        new provisional firms, and provisional firms with a credit code learned."""
        used_ids = pl.Series(sorted(used), dtype=pl.String).implode()
        new = self.new.filter(pl.col("enterprise_id").is_in(used_ids))
        learned = pl.DataFrame({"enterprise_id": list(self.learned),
                                "learned": list(self.learned.values())},
                               schema={"enterprise_id": pl.String, "learned": pl.String})
        learned = self.register.frame.join(learned.filter(
            pl.col("enterprise_id").is_in(used_ids)
            & ~pl.col("enterprise_id").is_in(self.new.get_column("enterprise_id").implode())),
            on="enterprise_id").unique("enterprise_id", keep="first").with_columns(
            credit_code=pl.col("learned")).drop("learned")
        return pl.concat([new, learned])


# --- writing the register ----------------------------------------------------------------------
def history_entry(action: str, **details) -> dict:
    return {"time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "user": getpass.getuser(), "action": action, **details}


def register_build(update, label: str, read: Register | None = None):
    """A store build step for the register: ``update(current) -> (upserts, removed ids,
    history entries, {batch: manifest entry})`` runs on the register as it is when the new
    version is made (under the writer lock, so no change is lost); files holding a changed
    firm are rewritten without it, the others hard-linked, the upserts written to one new
    file. ``read``: the register as this process loaded it, used instead of reading the
    version again when it is still the current one (versions never change)."""
    def build(new: Path, old: Path | None) -> None:
        known = read.as_read if read is not None and old is not None \
            and read.version == old else None
        current = known.frame if known is not None else read_register(old)
        upserts, removed, history, batches = update(current)
        changed = set(upserts.get_column("enterprise_id").to_list()) | set(removed)
        changed_ids = pl.Series(list(changed), dtype=pl.String)
        held = current.get_column("enterprise_id").is_in(changed_ids.implode()).any()
        files = sorted(old.rglob("*.parquet")) if old is not None else []
        compact = len(files) >= MAX_FILES
        kept = []
        for path in files:
            assert old is not None  # files are old's
            relative = path.relative_to(old)
            touched = held and pc.any(pc.is_in(
                pq.read_table(path, columns=["enterprise_id"]).column(0),
                changed_ids.to_arrow())).as_py()
            if compact or touched:
                table = pq.read_table(path, schema=SCHEMA)
                if changed:
                    table = table.filter(pc.invert(pc.is_in(
                        table.column("enterprise_id"), changed_ids.to_arrow())))
                kept.append(table)
            else:
                (new / relative).parent.mkdir(parents=True, exist_ok=True)
                (new / relative).hardlink_to(path)
        tables = [t for t in kept if t.num_rows]
        if len(upserts):
            tables.append(to_arrow(upserts))
        if tables:
            merged = pa.concat_tables(tables, promote_options="permissive").cast(SCHEMA)
            pq.write_table(store.compact_dictionaries(merged.combine_chunks()),
                           new / f"{label}-{uuid.uuid4().hex[:8]}.parquet")
        derived = ({"keys": known.keys, "groups": known.groups} if known is not None
                   else _read_keys(old))
        if "keys" not in derived:
            _write_keys(new, _keys_of(read_register(new)))
        else:  # the old version's keys, less the changed firms', plus the upserts'
            _write_keys(new, *_changed_keys(derived["keys"], derived.get("groups"),
                                            changed_ids, _keys_of(upserts)))
        manifest = store.read_manifest(old)
        manifest.setdefault("history", []).extend(history)
        manifest["batches"].update(batches)
        store.write_manifest(new, manifest)
    return build


def provisional_changes(current: pl.DataFrame, changes: pl.DataFrame, batch: str,
                        source: str):
    """A :func:`register_build` update adding an ingest's provisional firms to the register
    as it is now: firms it does not hold yet are added; a provisional firm it holds gets the
    credit code learned for it, if it still has none; a registered one is left alone."""
    ids = changes.get_column("enterprise_id")
    held = current.filter(pl.col("enterprise_id").is_in(ids.implode()))
    added = changes.filter(~pl.col("enterprise_id").is_in(
        held.get_column("enterprise_id").implode()))
    codes = changes.select("enterprise_id", pl.col("credit_code").alias("learned"))
    learned = held.filter(~pl.col("registered") & pl.col("credit_code").is_null()).join(
        codes, on="enterprise_id").filter(pl.col("learned").is_not_null()).with_columns(
        credit_code=pl.col("learned")).drop("learned")
    rows = pl.concat([added.select(current.columns).cast(current.schema),
                      learned.select(current.columns)])
    entry = history_entry("provisional", batch=batch, source=source, added=len(added),
                          codes_learned=len(learned))
    return rows, [], [entry] if len(rows) else [], {}


# --- applying a register file (new firms, renames, closures, promotions) ----------------------
def resolve_register_rows(records: pl.DataFrame, register: Register,
                          headers: dict[str, str]) -> tuple[pl.Series, pl.Series]:
    """(enterprise id, reason) of each row of a register file: the id the file gives, else the
    firm with its credit code, else the one its name or a former name (aliases) names in its
    county — a unique match only; a row matching nothing gets a new id (from its credit code,
    else its county and name)."""
    name_header = headers.get("name", "企业名称")
    f = records.with_row_index("_i").with_columns(key=name_key(pl.col("name")))
    f = f.join(register.codes, on="credit_code", how="left", maintain_order="left")
    given = pl.col("enterprise_id") if "enterprise_id" in f.columns else pl.lit(None, pl.String)
    # Names and former names of the row, against every name and alias in the register.
    texts = f.select("_i", "adcode", pl.concat_list(
        pl.col("name"), pl.col("aliases").fill_null("").str.split("|")).alias("text")
    ).explode("text").filter(pl.col("text") != "").with_columns(
        key=name_key(pl.col("text")))
    matches = texts.join(register.keys, on=["adcode", "key"], how="inner").group_by("_i").agg(
        pl.col("enterprise_id").unique().sort().alias("candidates"))
    f = f.join(matches, on="_i", how="left", maintain_order="left")
    n = pl.col("candidates").list.len().fill_null(0)
    known = set(register.frame.get_column("enterprise_id").to_list())
    f = f.with_columns(given=given, by_name=pl.when(n == 1).then(
        pl.col("candidates").list.first()), ambiguous=n > 1)
    code_header = headers.get("credit_code", "统一社会信用代码")
    code_of = dict(zip(register.frame["enterprise_id"], register.frame["credit_code"]))
    ids: list[str | None] = []
    reasons: list[str | None] = []
    for row in f.iter_rows(named=True):
        code, by_name = row["credit_code"], row["by_name"]
        other = by_name if by_name and by_name != row["by_code"] and (
            row["by_code"] or (code and code_of.get(by_name) not in (None, code))) else None
        if row["given"]:
            ids.append(row["given"])
            reasons.append(None)
        elif other:  # its code is one firm's (or none), its name another's: never guessed
            ids.append(None)
            reasons.append(f"credit_code_conflict: {code_header}='{code}' is "
                           f"{row['by_code'] or 'no firm'}'s, but {name_header}="
                           f"'{row['name']}' is {other}'s (code {code_of.get(other)})")
        elif row["by_code"]:
            ids.append(row["by_code"])
            reasons.append(None)
        elif row["ambiguous"]:
            ids.append(None)
            reasons.append(f"ambiguous_enterprise: {name_header}='{row['name']}' matches "
                           f"{', '.join(row['candidates'])} in {row['adcode']}")
        elif by_name:
            ids.append(by_name)
            reasons.append(None)
        elif row["adcode"] and row["key"] and row.get("sector") is None:
            ids.append(None)
            reasons.append(f"missing_field: {headers.get('sector', '行业')} (a firm new to the "
                           "register needs its sector)")
        elif row["adcode"] and row["key"]:
            seed = row["credit_code"] or f"{row['adcode']}|{row['key']}"
            base = new_id = f"E{hashlib.sha1(seed.encode()).hexdigest()[:12].upper()}"
            for suffix in range(2, len(known) + 3):  # its seed's firm was renamed since
                if new_id not in known:
                    break
                new_id = f"{base}-{suffix}"
            known.add(new_id)
            ids.append(new_id)
            reasons.append(None)
        else:
            ids.append(None)
            reasons.append(None)  # missing fields are reported elsewhere
    return pl.Series(ids, dtype=pl.String), pl.Series(reasons, dtype=pl.String)


def apply_register_rows(current: pl.DataFrame, rows: pl.DataFrame, provided: set[str],
                        batch: str, source: str) -> tuple[pl.DataFrame, dict]:
    """The register rows after ``rows`` (resolved ids, the store's columns) are applied to
    ``current``, and a history entry. For a firm already there, only the ``provided``
    columns change; a new name keeps the old one as an alias; a provisional firm becomes
    registered."""
    existing = {r["enterprise_id"]: r for r in current.iter_rows(named=True)}
    out, added, renamed, promoted, closed = [], [], [], [], []
    for row in rows.iter_rows(named=True):
        before = existing.get(row["enterprise_id"])
        if before is None:
            out.append({**row, "registered": True, "batch": batch})
            added.append(row["enterprise_id"])
            continue
        after = dict(before)
        for column in provided:
            if column in after and column not in ("enterprise_id", "aliases", "batch"):
                if row[column] is not None or column == "closed_on":
                    after[column] = row[column]
        aliases = alias_list(before["aliases"]) + alias_list(row.get("aliases"))
        if row["name"] and before["name"] and enterprise_key(row["name"]) != enterprise_key(
                before["name"]):  # a new name, not the old one spelt another way
            aliases.append(before["name"])
            renamed.append(row["enterprise_id"])
        after["aliases"] = "|".join(dict.fromkeys(a for a in aliases if a != after["name"])
                                    ) or None
        if not before["registered"]:
            promoted.append(row["enterprise_id"])
        after["registered"] = True
        if after["closed_on"] is not None and before["closed_on"] != after["closed_on"]:
            closed.append(row["enterprise_id"])
        out.append(after)
    entry = history_entry("register", batch=batch, source=source, added=len(added),
                          updated=len(out) - len(added), renamed=renamed, promoted=promoted,
                          closed=closed)
    return pl.DataFrame(out, schema=current.schema), entry


# --- reconciliation ----------------------------------------------------------------------------
def linked_records(ids: list[str], catalog=None,
                   tables: tuple[str, ...] = LINKED_TABLES[:3]) -> pl.DataFrame:
    """Per (table, enterprise_id, adcode): how many records of ``tables`` name one of
    ``ids`` (read through the catalog: two columns, the ids pushed down to the files)."""
    from safetyviz.data.loading import load_table

    frames = []
    for table in tables if ids else ():
        try:
            found = load_table(table, ["enterprise_id", "adcode"], catalog,
                               filters=[("enterprise_id", "in", list(ids))]).compute()
        except UserError:  # the table holds no records yet
            continue
        frames.append(pl.from_pandas(found.astype(str)).group_by("enterprise_id", "adcode")
                      .len("records").with_columns(table=pl.lit(table)))
    if not frames:
        return pl.DataFrame(schema={"enterprise_id": pl.String, "adcode": pl.String,
                                    "records": pl.UInt32, "table": pl.String})
    return pl.concat(frames)


def unmatched(data_dir: Path, county: str | None = None, top: int = 3) -> pl.DataFrame:
    """The provisional firms (of ``county``), most records first, each with its county's
    name, its records per table and the ``top`` registered firms of its county whose names
    are most alike (character bigrams; exact name matches in other counties too)."""
    from safetyviz.data.catalog import ensure_catalog, open_catalog
    from safetyviz.data.loading import load_regions

    _require_register(data_dir)
    register = current_register(data_dir)
    provisional = register.filter(~pl.col("registered"))
    if county is not None:
        provisional = provisional.filter(pl.col("adcode") == county)
    cat = open_catalog(ensure_catalog(data_dir))
    counts = linked_records(provisional.get_column("enterprise_id").to_list(), cat)
    regions = load_regions(cat, geometry=False)
    county_names = dict(zip(regions["adcode"], regions["name_zh"]))
    per_table = counts.group_by("enterprise_id").agg(
        [pl.col("records").filter(pl.col("table") == t).sum().alias(t)
         for t in LINKED_TABLES[:3]])
    registered = register.filter(pl.col("registered"))
    keys = _keys_of(registered).select("adcode", "key", "enterprise_id")
    indexes = {adcode: NameIndex(list(zip(group["enterprise_id"], group["key"])))
               for (adcode,), group in keys.partition_by("adcode", as_dict=True).items()}
    names = dict(zip(registered["enterprise_id"], registered["name"]))
    elsewhere: dict[str, set] = {}  # name key → (id, county) of registered firms
    for adcode, key, eid in keys.iter_rows():
        elsewhere.setdefault(key, set()).add((eid, adcode))
    suggestions = []
    for adcode, name in provisional.select("adcode", "name").iter_rows():
        key = enterprise_key(name)
        best = indexes[adcode].best(key, top) if adcode in indexes else []
        exact = sorted((1.0, e) for e, a in elsewhere.get(key, ()) if a != adcode)
        best = sorted(exact + best, key=lambda t: (-t[0], t[1]))[:top]
        suggestions.append("; ".join(f"{e} {names[e]} {s:.2f}" for s, e in best))
    out = provisional.select("enterprise_id", "name", "adcode", "credit_code", "batch")
    out = out.with_columns(
        county=pl.col("adcode").replace_strict(county_names, default=pl.col("adcode")),
        suggestions=pl.Series(suggestions, dtype=pl.String))
    out = out.join(per_table, on="enterprise_id", how="left").with_columns(
        [pl.col(t).fill_null(0).cast(pl.Int64) for t in LINKED_TABLES[:3]])
    return out.with_columns(records=pl.sum_horizontal(list(LINKED_TABLES[:3]))).sort(
        ["records", "enterprise_id"], descending=[True, False])


def _require_register(data_dir: Path) -> None:
    """A UserError when ``data_dir`` holds no register; else its store brought to the
    current schema (one written by an earlier safetyviz)."""
    if store.current_version(data_dir, "enterprises") is None:
        raise UserError(f"{store.store_dir(data_dir) / 'enterprises'}: no enterprise register "
                        "(safetyviz demo, or safetyviz enterprises register FILE, makes one)")
    store.upgrade(data_dir)


# --- merging two firms -------------------------------------------------------------------------
@dataclass
class MergeReport:
    source: str
    target: str
    relinked: dict[str, int]
    cube_updated: bool

    def summary(self) -> str:
        moved = ", ".join(f"{t} {n:,}" for t, n in self.relinked.items()) or "no records"
        cube = "; cube updated" if self.cube_updated else ""
        return (f"merged {self.source} into {self.target}: records relinked ({moved}); "
                f"{self.source}'s names kept as aliases of {self.target}{cube}")


def _relink_build(source: str, target: str, counted: dict[str, int], table: str):
    def build(new: Path, old: Path) -> None:
        for path in sorted(old.rglob("*.parquet")):
            relative = path.relative_to(old)
            (new / relative).parent.mkdir(parents=True, exist_ok=True)
            ids = pq.read_table(path, columns=["enterprise_id"]).column(0)
            hits = pc.sum(pc.equal(ids.cast(pa.string()), source)).as_py() or 0
            if not hits:
                (new / relative).hardlink_to(path)
                continue
            table_data = pq.read_table(path, schema=store.SCHEMAS[table])
            column = table_data.column("enterprise_id")
            relinked = pc.if_else(pc.equal(column, source), pa.scalar(target), column)
            table_data = table_data.set_column(table_data.schema.get_field_index(
                "enterprise_id"), "enterprise_id", relinked.cast(pa.string()))
            pq.write_table(store.compact_dictionaries(table_data), new / relative)
            counted[table] = counted.get(table, 0) + hits
        store.write_manifest(new, store.read_manifest(old))
    return build


def merge(data_dir: Path, source: str, target: str) -> MergeReport:
    """Merge firm ``source`` (a provisional one) into ``target``: every record naming it is
    relinked, its names become ``target``'s aliases (so later ledgers link to ``target``), it
    leaves the register, the history says so, and the cube's distinct counts follow — all in
    one transaction."""
    from safetyviz.analysis.cube import cube_build, load_cube_file, recompute

    data_dir = Path(data_dir)
    link = store.store_dir(data_dir) / "enterprises"
    _require_register(data_dir)
    with store.Transaction(data_dir) as change:
        register = read_register(change.old(link))
        rows = {r["enterprise_id"]: r for r in register.filter(
            pl.col("enterprise_id").is_in([source, target])).iter_rows(named=True)}
        where = store.store_dir(data_dir) / "enterprises"
        for eid in (source, target):
            if eid not in rows:
                raise UserError(f"enterprises merge: no enterprise {eid!r} in the register "
                                f"({where})")
        if source == target:
            raise UserError(f"enterprises merge: {source!r} cannot be merged into itself")
        if rows[source]["registered"]:
            raise UserError(f"enterprises merge: {source} ({rows[source]['name']}) is a "
                            "registered firm; only a provisional one is merged away")
        codes = {rows[e]["credit_code"] for e in (source, target)} - {None}
        if len(codes) > 1:
            raise UserError(f"enterprises merge: {source} and {target} have different credit "
                            f"codes ({', '.join(sorted(codes))}): they are different firms")
        relinked: dict[str, int] = {}
        versions, months = {}, []
        for table in LINKED_TABLES:
            table_link = store.store_dir(data_dir) / table
            old = change.old(table_link)
            if old is None:
                continue
            files = [str(p) for p in sorted(old.rglob("*.parquet"))]
            hits = ds.dataset(files, format="parquet").count_rows(
                filter=pc.field("enterprise_id") == source) if files else 0
            if hits and table == "inspections":  # the months whose distinct counts change
                dates = ds.dataset(files, format="parquet").to_table(
                    columns=["date"], filter=pc.field("enterprise_id") == source).column(0)
                months = sorted({d.year * 12 + d.month - 1 for d in dates.to_pylist()})
            if hits:
                versions[table] = change.build(table_link, _relink_build(source, target,
                                                                         relinked, table))

        def update(current: pl.DataFrame):
            src = current.filter(pl.col("enterprise_id") == source).row(0, named=True)
            dst = current.filter(pl.col("enterprise_id") == target).row(0, named=True)
            aliases = alias_list(dst["aliases"]) + [src["name"], *alias_list(src["aliases"])]
            merged = {**dst, "aliases": "|".join(dict.fromkeys(
                a for a in aliases if a and a != dst["name"])) or None,
                "credit_code": dst["credit_code"] or src["credit_code"]}
            entry = history_entry("merge", source=source, source_name=src["name"],
                                  target=target, target_name=dst["name"], records=relinked)
            return pl.DataFrame([merged], schema=current.schema), [source], [entry], {}

        change.build(link, register_build(update, "merge"))
        cube_updated = False
        if "inspections" in versions and cube_path(data_dir).exists():
            built = {t: (versions[t].name if t in versions else
                         (v.name if (v := change.old(store.store_dir(data_dir) / t)) else None))
                     for t in ("inspections", "hazards", "enforcement_actions",
                               "joint_operations", "accidents")}
            cube = load_cube_file(data_dir)
            recompute(cube, "enterprises_inspected", months[0], months[-1],
                      [str(p) for p in sorted(versions["inspections"].rglob("*.parquet"))])
            change.build(cube_path(data_dir), cube_build(cube, built))
            cube_updated = True
    return MergeReport(source, target, relinked, cube_updated)


def provisional_records(enterprises, catalog=None) -> pl.DataFrame:
    """Per (table, adcode): the records naming the provisional firms of ``enterprises`` (a
    register frame), for the note beside the risk map."""
    frame = enterprises if isinstance(enterprises, pl.DataFrame) else pl.from_pandas(
        enterprises[["enterprise_id", "registered"]].astype({"enterprise_id": str}))
    ids = frame.filter(~pl.col("registered").fill_null(True)).get_column(
        "enterprise_id").to_list()
    return linked_records(ids, catalog).group_by("table", "adcode").agg(
        pl.col("records").sum(), pl.col("enterprise_id").n_unique().alias("firms"))

"""Ingest: ledger files in, validated records appended to the store, nothing lost.

One file is one batch. Its rows are read (``readers``), mapped to fields (``mapping``),
converted (dates, numbers, counties through the region aliases, codes; each distinct text once,
then applied column-wise with Polars), validated with a pandera schema (polars backend) that
collects every failure at once, and split: accepted rows become a new
version of the table (atomic, see ``store``), every other row goes to
``<data-dir>/quarantine/<batch>.csv`` with its sheet, row number and reasons. The batch id is
the file's content hash, so ingesting the same file again changes nothing; ``force`` replaces
that batch. Afterwards the cube is updated for the months the batch touches.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.polars as pa
import polars as pl
import pyarrow as pa_lib
import pyarrow.parquet as pq

from safetyviz.analysis.cube import refresh_cube
from safetyviz.core.errors import UserError
from safetyviz.core.files import write_quarantine
from safetyviz.core.identity import clean_credit_code, credit_code_problems
from safetyviz.core.paths import cube_path, default_data_dir
from safetyviz.data import store
from safetyviz.data.catalog import ensure_catalog, open_catalog
from safetyviz.data.loading import as_records, load_regions
from safetyviz.data.regions import RegionIndex
from safetyviz.ingest import register as register_module
from safetyviz.ingest.mapping import UNITS, ColumnMapping, code_vocabulary
from safetyviz.ingest.readers import Sheet, mapped_file, read_ledger

INGESTIBLE = ("inspections", "hazards", "enforcement_actions", "accidents", "enterprises")
ID_FIELD = {"inspections": "inspection_id", "hazards": "hazard_id",
            "enforcement_actions": "action_id", "accidents": "accident_id",
            "enterprises": "enterprise_id"}
ID_PREFIX = {"inspections": "INS", "hazards": "HZ", "enforcement_actions": "EA",
             "accidents": "ACC", "enterprises": "E"}
REQUIRED = {
    "inspections": ["date", "adcode", "sector"],
    "hazards": ["found_date", "adcode", "sector", "level"],
    "enforcement_actions": ["date", "adcode", "sector", "action_type"],
    "accidents": ["date", "adcode", "sector", "deaths"],
    "enterprises": ["name", "adcode"],  # and sector, for a firm new to the register
}
DEFAULTS: dict[str, dict[str, object]] = {
    "inspections": {"department": "emergency_management", "campaign": "routine"},
    "hazards": {"listed_supervision": False},
    "enforcement_actions": {"persons": 0, "fine_yuan": 0},
    "accidents": {"injuries": 0, "direct_loss_yuan": 0},
    "enterprises": {"scale": "below", "licence": "none", "dual_prevention": "none"},
}
DATE_FIELDS = {"date", "found_date", "deadline", "rectified_date", "closed_on"}
LINKED = ("inspections", "hazards", "enforcement_actions")  # rows that name an enterprise
NUMBER_FIELDS = {"fine_yuan", "persons", "deaths", "injuries", "direct_loss_yuan", "lon", "lat",
                 "hazards_general", "hazards_major", "hazards_rectified"}
CODE_FIELDS = {"sector", "action_type", "department", "licence", "risk_level", "scale",
               "dual_prevention", "category", "campaign", "level"}
EARLIEST = pd.Timestamp("2000-01-01")
# Reasons, in the order that decides a row's primary reason, with their Chinese labels.
REASONS = {
    "total_row": "合计行（已核对）", "total_row_mismatch": "合计行与明细不符",
    "stray_cells": "表头之外有内容", "missing_field": "缺少必填项",
    "unknown_county": "县区无法识别",
    "bad_date": "日期无法识别", "date_out_of_range": "日期超出范围（2000年以前或晚于今天）",
    "bad_number": "数值无法识别", "negative_value": "数值为负", "unknown_code": "分类代码无法识别",
    "bad_credit_code": "统一社会信用代码有误", "credit_code_conflict": "信用代码与企业名称不符",
    "ambiguous_enterprise": "企业名称对应多家企业",
    "unknown_enterprise": "企业不在企业名录中", "rectified_before_found": "整改日期早于发现日期",
    "deadline_before_found": "整改期限早于发现日期", "rectified_exceeds_found": "整改数大于隐患数",
    "duplicate_id_in_file": "文件内记录编号重复", "duplicate_id_in_store": "记录编号已在库中",
}
NOTE_ROW = "note_row"  # 填表人、审核人… rows: kept in the quarantine file, not errors


@dataclass
class IngestReport:
    """What one ingest did (or, with ``dry_run``, would do)."""

    path: Path
    table: str
    batch: str
    rows_read: int = 0
    accepted: int = 0
    rejected: Counter = field(default_factory=Counter)  # primary reason → rows
    notes: int = 0  # note rows (填表人：…): neither records nor errors
    provisional: int = 0  # firms added to the register as not yet registered
    linked: int = 0  # accepted rows naming a firm of the register (registered or not)
    register_changes: dict = field(default_factory=dict)  # a register file's effect
    sheets: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    quarantine: Path | None = None
    committed: bool = False
    already_ingested: bool = False
    dry_run: bool = False
    months: list[str] = field(default_factory=list)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def summary(self) -> str:
        if self.already_ingested:
            return (f"{self.path}: already ingested as batch {self.batch}; nothing changed "
                    "(use --force to replace it)")
        lines = [f"{self.path} → {self.table} (batch {self.batch}"
                 f"{', dry run: nothing written' if self.dry_run else ''})",
                 f"  sheets: {', '.join(self.sheets)}",
                 f"  rows read {self.rows_read}, accepted {self.accepted}, "
                 f"rejected {self.rejected_total}"
                 + (f", notes {self.notes}" if self.notes else "")]
        for reason, n in sorted(self.rejected.items(), key=lambda kv: -kv[1]):
            lines.append(f"    {n:>6}  {reason} ({REASONS[reason]})")
        if self.notes:
            lines.append(f"  {NOTE_ROW}: {self.notes} row(s) of notes on the form (填表人、审核人"
                         "…), kept in the quarantine file, not counted as errors")
        if self.provisional:
            lines.append(f"  {self.provisional} firm(s) not in the register added as "
                         "provisional (safetyviz enterprises unmatched lists them)")
        if self.register_changes:
            c = self.register_changes
            lines.append(f"  register: {c['added']} new, {c['updated']} updated (renamed "
                         f"{len(c['renamed'])}, closed {len(c['closed'])}, provisional now "
                         f"registered {len(c['promoted'])})")
        if self.ignored_columns:
            lines.append(f"  ignored columns: {', '.join(self.ignored_columns)}")
        lines += [f"  warning: {w}" for w in self.warnings]
        if self.quarantine:
            lines.append(f"  quarantine{' (not written)' if self.dry_run else ''}: "
                         f"{self.quarantine}")
        return "\n".join(lines)


# --- conversion ----------------------------------------------------------------------------
def parse_date(text: str) -> pd.Timestamp | None:
    """2020-01-05, 2020/1/5, 2020.1.5, 2020年1月5日, 20200105 (a time part is dropped)."""
    text = unicodedata.normalize("NFKC", text).strip()
    m = (re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]\S.*)?", text)
         or re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text))
    if not m:
        return None
    try:
        return pd.Timestamp(dt.date(int(m[1]), int(m[2]), int(m[3])))
    except ValueError:
        return None


def parse_number(text: str, unit: str | None) -> float | None:
    """'1,000', '8.5万', '85000元', '-3' → float in the field's base unit (yuan for money)."""
    text = re.sub(r"[,\s]", "", unicodedata.normalize("NFKC", text))
    m = re.fullmatch(r"([-+]?\d+(?:\.\d+)?)(万元|万|元|亿元|人|人次)?", text)
    if not m:
        return None
    value = float(m[1])
    suffix = {"万": "万元"}.get(m[2], m[2])
    factor = UNITS[suffix] if suffix in UNITS else UNITS.get(unit or "元", 1)
    return value * factor


def _convert_cell(name: str, text: str, unit: str | None, mapping: ColumnMapping,
                  counties: RegionIndex):
    """(value, reason) for one non-empty cell; reason is None when it converts."""
    if name in DATE_FIELDS:
        value = parse_date(text)
        return (value.date() if value is not None else None), (
            None if value is not None else "bad_date")
    if name in NUMBER_FIELDS:
        value = parse_number(text, unit or mapping.units.get(name))
        return value, None if value is not None else "bad_number"
    if name == "adcode":
        return (counties.resolve(text), None) if text in counties else (None, "unknown_county")
    if name in CODE_FIELDS:
        value = mapping.code(name, text)
        return value, None if value is not None else "unknown_code"
    if name == "listed_supervision":
        return text in ("是", "Y", "y", "yes", "1", "√", "true", "True"), None
    return unicodedata.normalize("NFKC", text), None


def _dtype(name: str, table: str):
    """A field's Polars type; codes are Enums of their vocabulary, so they reach Arrow as
    dictionaries without re-hashing a million strings."""
    if name in CODE_FIELDS:
        return pl.Enum(list(code_vocabulary(table, name)))
    if name in DATE_FIELDS:
        return pl.Date
    if name in NUMBER_FIELDS:
        return pl.Float64
    if name in ("listed_supervision", "registered"):
        return pl.Boolean
    return pl.String


def _check_credit_codes(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """``frame`` with each cell of credit-code column ``name`` cleaned (``_clean_<name>``)
    and what is wrong with it (``_problem_<name>``), checked all at once. In an organisation
    code column only cells of 18 characters are taken as credit codes."""
    column = frame.get_column(name)
    written = (column != "").arg_true()  # most rows of most ledgers give no code
    given = column.gather(written)
    codes = given.unique()  # ledgers repeat a firm's code
    cleaned = codes.to_frame().select(clean_credit_code(pl.col(name))).to_series()
    if name == "org_code":
        cleaned = cleaned.set(cleaned.str.len_chars() != 18, "")
    problems = credit_code_problems(cleaned)
    n = len(column)

    def per_row(values: pl.Series, empty) -> pl.Series:
        return pl.repeat(empty, n, dtype=pl.String, eager=True).scatter(
            written, given.replace_strict(codes, values, return_dtype=pl.String))

    # Mostly every code is written as it should be and is valid: nothing to map back.
    return frame.with_columns(
        (column if (cleaned == codes).all() else per_row(cleaned, "")).alias(
            f"_clean_{name}"),
        (pl.repeat(None, n, dtype=pl.String, eager=True) if problems.null_count() == len(
            problems) else per_row(problems, None)).alias(f"_problem_{name}"))


def _credit_codes(name: str, header: str) -> tuple[pl.Expr, pl.Expr]:
    """(valid code or null, reason) of a column checked by :func:`_check_credit_codes`."""
    cleaned, problem = pl.col(f"_clean_{name}"), pl.col(f"_problem_{name}")
    value = pl.when(problem.is_null() & (cleaned != "")).then(cleaned).alias(name)
    reason = pl.when(problem.is_not_null()).then(pl.concat_str([
        pl.lit(f"bad_credit_code: {header}='"), pl.col(name), pl.lit("' ("), problem,
        pl.lit(")")]))
    return value, reason


def _converted(frame: pl.DataFrame, name: str, header: str, unit: str | None,
               mapping: ColumnMapping, counties: RegionIndex) -> tuple[pl.Expr, pl.Expr | None]:
    """(value expression, reason expression or None) for one field. Each distinct text is
    converted once in Python (ledgers repeat dates, counties and codes); free text is
    handled by Polars' string kernels."""
    text = pl.col(name)
    if name in ("credit_code", "org_code"):
        return _credit_codes(name, header)
    if name not in DATE_FIELDS | NUMBER_FIELDS | CODE_FIELDS | {
            "adcode", "listed_supervision"}:
        column = frame.get_column(name)
        if name.endswith("_id") and (column.str.len_bytes() != column.str.len_chars()).any():
            text = text.map_elements(lambda t: unicodedata.normalize("NFKC", t),
                                     return_dtype=pl.String)  # full-width ids
        return pl.when(pl.col(name) == "").then(None).otherwise(text).alias(name), None
    uniques = [u for u in frame.get_column(name).unique().to_list() if u]
    results = {u: _convert_cell(name, u, unit, mapping, counties) for u in uniques}
    good = {u: v for u, (v, r) in results.items() if r is None}
    value = text.replace_strict(list(good), list(good.values()), default=None,
                                return_dtype=_dtype(name, mapping.table)).alias(name)
    failed = {u: r for u, (v, r) in results.items() if r is not None}
    if not failed:
        return value, None
    code = next(iter(failed.values()))  # one kind of failure per field
    reason = pl.when(text.is_in(list(failed))).then(
        pl.concat_str([pl.lit(f"{code}: {header}='"), text, pl.lit("'")]))
    return value, reason


class KnownIds:
    """The record ids already in the store (less a batch being replaced) and in earlier
    sheets of this file, asked about a sheet's ids only: the store is scanned for just those
    (an ``isin`` filter on one column), never loaded whole."""

    def __init__(self, data_dir: Path, table: str, skip_batch: str | None):
        self.field = ID_FIELD[table]
        self.files: list[str] = []
        self.earlier: set[str] = set()  # ids of this file's earlier sheets
        version = store.current_version(data_dir, table)
        if version is not None:
            manifest = store.read_manifest(version)
            skip = set(manifest["batches"].get(skip_batch, {}).get("files", []))
            self.files = [str(path) for path in sorted(version.rglob("*.parquet"))
                          if str(path.relative_to(version)) not in skip]

    @property
    def empty(self) -> bool:
        return not self.files and not self.earlier

    def among(self, ids: pl.Series) -> list[str]:
        """Those of ``ids`` (distinct) already known."""
        found = ids.filter(ids.is_in(list(self.earlier))).to_list() if self.earlier else []
        if self.files and len(ids):
            import pyarrow.compute as pc
            import pyarrow.dataset as ds

            stored = ds.dataset(self.files, format="parquet").to_table(
                columns=[self.field], filter=pc.field(self.field).isin(
                    ids.to_arrow().cast(pa_lib.string())))
            found += stored.column(0).to_pylist()
        return found


def _schema(table: str, today: pd.Timestamp, known: KnownIds) -> pa.DataFrameSchema:
    """Checks on converted records; check names are reason codes."""
    first, last = EARLIEST.date(), today.date()

    def column_check(expr, name):
        return pa.Check(lambda data: data.lazyframe.select(expr(pl.col(data.key))), name=name)

    columns = {}
    for name in DATE_FIELDS:
        columns[name] = pa.Column(pl.Date, column_check(
            lambda c: c.is_null() | c.is_between(first, last), "date_out_of_range"),
            nullable=True, required=False)
    for name in NUMBER_FIELDS - {"lon", "lat"}:
        columns[name] = pa.Column(pl.Float64, column_check(
            lambda c: c.is_null() | (c >= 0), "negative_value"), nullable=True, required=False)

    def not_yet_known(data) -> pl.LazyFrame:
        if known.empty:
            return data.lazyframe.select(pl.repeat(True, pl.len()).alias(data.key))
        ids = data.lazyframe.select(pl.col(data.key).drop_nulls().unique()).collect()
        already = known.among(ids.to_series())
        return data.lazyframe.select(~pl.col(data.key).is_in(already))

    # A register row's id is null when it names no firm unambiguously (reported as such).
    columns[ID_FIELD[table]] = pa.Column(pl.String, [
        pa.Check(_first_of_its_id, name="duplicate_id_in_file"),
        pa.Check(not_yet_known, name="duplicate_id_in_store")],
        nullable=table == "enterprises")
    checks = []
    if table == "hazards":
        for later, name in (("rectified_date", "rectified_before_found"),
                            ("deadline", "deadline_before_found")):
            checks.append(pa.Check(lambda data, later=later: data.lazyframe.select(
                pl.col(later).is_null() | pl.col("found_date").is_null()
                | (pl.col(later) >= pl.col("found_date"))), name=name))
    if table == "inspections":
        checks.append(pa.Check(_rectified_within_found, name="rectified_exceeds_found"))
    return pa.DataFrameSchema(columns, checks=checks, strict=False)


def _rectified_within_found(data) -> pl.LazyFrame:
    """An inspection's rectified count is at most its general + major hazards (checked when
    the ledger has a found count to check against)."""
    columns = data.lazyframe.collect_schema().names()
    found = [pl.col(c).fill_null(0) for c in ("hazards_general", "hazards_major")
             if c in columns]
    if "hazards_rectified" not in columns or not found:
        return data.lazyframe.select(pl.repeat(True, pl.len()).alias("ok"))
    return data.lazyframe.select(pl.col("hazards_rectified").is_null()
                                 | (pl.col("hazards_rectified") <= pl.sum_horizontal(found)))


def _first_of_its_id(data) -> pl.LazyFrame:
    """True for each row whose id has not occurred above it. When the ids' 64-bit hashes are
    all distinct the ids are too, which settles the common case without comparing strings."""
    ids = pl.col(data.key)
    if data.lazyframe.select(ids.hash().n_unique() == pl.len()).collect().item():
        return data.lazyframe.select(pl.repeat(True, pl.len()).alias(data.key))
    return data.lazyframe.select(ids.is_first_distinct() | ids.is_null())


def _validate(records: pl.DataFrame, schema: pa.DataFrameSchema, frame: pl.DataFrame,
              columns: dict) -> dict[int, list[str]]:
    """Row position → reasons, each naming the column and the cell as written."""
    reasons: dict[int, list[str]] = {}
    try:
        schema.validate(records, lazy=True)
    except pa.errors.SchemaErrors as errors:
        for case in errors.failure_cases.iter_rows(named=True):
            if case["index"] is None:  # a check that could not run is a bug, not bad data
                raise RuntimeError(f"validation could not run check {case['check']!r} on "
                                   f"{case['column']!r}: {case['failure_case']}") from errors
            index, check = int(case["index"]), str(case["check"])
            if case["schema_context"] == "DataFrameSchema":
                if any(r.startswith(check + ":") for r in reasons.get(index, [])):
                    continue
                detail = ", ".join(f"{columns[c][0]}='{frame[index, c]}'" for c in (
                    "found_date", "deadline", "rectified_date", "hazards_general",
                    "hazards_major", "hazards_rectified") if c in columns)
            else:
                column = case["column"]
                text = frame[index, column] if column in frame.columns else case["failure_case"]
                detail = f"{columns[column][0] if column in columns else column}='{text}'"
            reasons.setdefault(index, []).append(f"{check}: {detail}")
    return reasons


def _record_ids(table: str, frame: pl.DataFrame, missing: pl.Series) -> pl.Series:
    """Deterministic ids for rows without one: a hash of the row's cells as written."""
    fields = [c for c in frame.columns if c not in (ID_FIELD[table], "row")]
    texts = frame.select(pl.concat_str([pl.col(c).fill_null("") for c in fields],
                                       separator="|")).to_series()
    return pl.Series([f"{ID_PREFIX[table]}-" + hashlib.sha1(f"{table}|{t}".encode())
                      .hexdigest()[:12].upper() if m else None
                      for t, m in zip(texts.to_list(), missing.to_list())], dtype=pl.String)


def _sheet_frame(sheet: Sheet, mapping: ColumnMapping, report: IngestReport, path: Path):
    """Field columns (text, stripped) of a sheet and the header each came from."""
    columns: dict[str, tuple[str, str | None]] = {}
    positions: dict[str, int] = {}
    hints = []
    for position, header in enumerate(sheet.header):
        name, unit = mapping.field_of(header) if header else (None, None)
        if name is None or name == "ignore":
            if header and name is None and header not in report.ignored_columns:
                report.ignored_columns.append(header)
                if hint := mapping.ambiguity(header):
                    hints.append(hint)
                    report.warnings.append(f"column {header!r} ignored: {hint}")
            continue
        if name in columns:
            raise UserError(f"{path}, sheet {sheet.name}: columns {columns[name][0]!r} and "
                            f"{header!r} both map to {name}; map one to ignore in a --mapping "
                            "file")
        columns[name], positions[name] = (header, unit), position
    missing = [f for f in REQUIRED[mapping.table] if f not in columns]
    if missing:
        raise UserError(f"{path}, sheet {sheet.name}: no column for required field(s) "
                        f"{', '.join(missing)} (headers: {', '.join(h for h in sheet.header if h)}"
                        "); name it in a --mapping file" + "".join(f"; {h}" for h in hints))
    frame = sheet.cells.select(pl.col("row"), *[pl.col(str(positions[n])).alias(n)
                                                for n in columns])
    return frame, columns


def _check_totals(sheet: Sheet, records: pl.DataFrame, columns: dict,
                  report: IngestReport) -> list[tuple[int, str, str]]:
    """Compare each total row's numbers with the sum of all the sheet's detail rows (the
    ledger's own arithmetic, whether or not the rows pass validation)."""
    out = []
    for row, *cells in sheet.totals.iter_rows():
        mismatches = []
        for name, (header, unit) in columns.items():
            if name not in NUMBER_FIELDS:
                continue
            text = cells[sheet.header.index(header)]
            stated = parse_number(text, unit) if text else None
            if stated is None:
                continue
            detail = float(records.get_column(name).sum() or 0.0)
            if not np.isclose(stated, detail):
                mismatches.append(f"{header}: 合计 {stated:g} ≠ 明细之和 {detail:g}")
        if mismatches:
            report.warnings.append(f"sheet {sheet.name} row {row}: " + "; ".join(mismatches))
            out.append((int(row), "total_row_mismatch", "; ".join(mismatches)))
        else:
            out.append((int(row), "total_row", "dropped after checking the detail rows"))
    return out


def ingest(path, table: str, data_dir=None, mapping=None, dry_run: bool = False,
           force: bool = False, today: pd.Timestamp | None = None,
           update_cube: bool = True, strict: bool = False) -> IngestReport:
    """Ingest one ledger file into ``table``; returns an :class:`IngestReport`.

    Rows naming a firm are linked to the enterprise register (a valid credit code first, then
    the name in the row's county); a firm the register does not hold is added to it as
    provisional — with ``strict``, such a row is rejected instead. Ingesting ``enterprises``
    applies a register file (new firms, updates, renames, closures).

    Parameters
    ----------
    path : Path or str
        A CSV (UTF-8 or GBK), XLSX or XLS ledger; every sheet with a header is read.
    table : str
        One of :data:`INGESTIBLE` (``inspections``, ``hazards``, ``enforcement_actions`` …).
    data_dir : Path, optional
        Default: the settings' data dir.
    mapping : Path, optional
        A YAML file mapping the ledger's headers to fields, over the built-in dictionary.
    dry_run : bool
        Check and report only; nothing is written.
    force : bool
        Ingest a file ingested before (its earlier copy is replaced).
    today : Timestamp, optional
        Dates after it are rejected (default: today).
    update_cube : bool
        Bring the cube up to date with the new records.
    strict : bool
        Reject rows naming a firm the register does not hold.

    Returns
    -------
    IngestReport
        Rows read, accepted, rejected (by reason), notes, provisional firms, the quarantine
        file; ``summary()`` says it in a few lines.

    Raises
    ------
    UserError
        For what makes the whole file unusable (unreadable, no header, a required column
        missing); row-level problems go to the quarantine file instead, nothing half-written.
    """
    path = Path(path)
    if table not in INGESTIBLE:
        raise UserError(f"--table must be one of {', '.join(INGESTIBLE)}, not {table!r}")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    today = pd.Timestamp(today or dt.date.today())
    column_mapping = ColumnMapping.for_table(table, mapping)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if not dry_run:
        store.upgrade(data_dir)  # a store written by an earlier safetyviz
    # What the rows are checked against is read while the file is read and parsed (file
    # reads, hashing, Parquet and Arrow reads leave the interpreter free).
    with ThreadPoolExecutor(max_workers=3) as pool:
        register_loaded = pool.submit(register_module.Register.load, data_dir)
        counties_loaded = pool.submit(lambda: RegionIndex(load_regions(
            open_catalog(ensure_catalog(data_dir)), geometry=False)))
        try:
            with mapped_file(path) as content:
                digest = pool.submit(hashlib.sha256, content)
                try:
                    sheets = read_ledger(path, column_mapping, content)
                finally:  # the hash reads the map: it is closed after
                    wait([digest])
        except (FileNotFoundError, IsADirectoryError):
            raise UserError(f"{path}: no such file") from None
        batch = f"{table}-{digest.result().hexdigest()[:16]}"
        report = IngestReport(path=path, table=table, batch=batch, dry_run=dry_run)
        manifest = store.read_manifest(store.current_version(data_dir, table))
        if batch in manifest["batches"] and not force:
            report.already_ingested = True
            if update_cube:  # an earlier run may have been killed before its cube update
                refresh_cube(data_dir)
            return report
        counties, register = counties_loaded.result(), register_loaded.result()
    linker = register_module.Linker(register, table, batch, strict)
    known = KnownIds(data_dir, table, batch if force else None)
    if table == "enterprises":  # a register row of a known firm updates it
        known.files = []
    schema = _schema(table, today, known)

    accepted_frames, rejected, notes, headers, provided = [], [], [], [], set()
    for sheet in sheets:
        report.sheets.append(sheet.name)
        report.rows_read += sheet.rows_read
        headers += [h for h in sheet.header if h and h not in headers]
        records, rejections, fields = _process_sheet(sheet, column_mapping, counties, linker,
                                                     schema, report, path)
        provided |= fields
        accepted_frames.append(records)
        rejected += rejections
        notes += [{"sheet": sheet.name, "row": row, "primary": NOTE_ROW,
                   "reason": f"{NOTE_ROW}: {next((c for c in cells if c), '')}",
                   "cells": dict(zip(sheet.header, cells))}
                  for row, *cells in (sheet.notes.iter_rows() if sheet.notes is not None
                                      else [])]
        if sheet is not sheets[-1]:  # later sheets must not repeat this one's ids
            known.earlier.update(records.get_column(ID_FIELD[table]).to_list())

    accepted = pl.concat(accepted_frames, how="diagonal_relaxed")
    report.accepted = len(accepted)
    report.rejected = Counter(item["primary"] for item in rejected)
    report.notes = len(notes)
    changes = None
    if table in LINKED:
        ids = accepted.get_column("enterprise_id")
        made = linker.made()  # which of them accepted rows use (all, when no row failed)
        used = set(made) if not rejected else set(
            ids.filter(ids.is_in(pl.Series(made, dtype=pl.String).implode())).unique()
            .to_list()) if made else set()
        changes = linker.changes(used)
        report.provisional = len(set(linker.new.get_column("enterprise_id")) & used)
        report.linked = int(accepted.get_column("enterprise_id").is_not_null().sum())
    date_field = store.PARTITION_DATE.get(table)
    if date_field and len(accepted):
        months = accepted.get_column(date_field).unique().drop_nulls().dt.month_start().unique()
        report.months = sorted(months.dt.strftime("%Y-%m").to_list())
    kept = rejected + notes
    if kept:
        report.quarantine = data_dir / "quarantine" / f"{batch}.csv"
    if dry_run:
        return report
    quarantine = data_dir / "quarantine" / f"{batch}.csv"
    if kept:
        kept.sort(key=lambda item: (report.sheets.index(item["sheet"]), item["row"]))
        write_quarantine(quarantine, kept, headers)
    elif quarantine.exists():  # left by an earlier ingest of this batch (--force)
        quarantine.unlink()
    before = store.current_version(data_dir, table)
    if table == "enterprises":
        _commit_register(data_dir, batch, accepted, provided, path, report, linker.register)
        return report
    added, removed = _commit(data_dir, table, batch, accepted, path, report, changes,
                             linker.register)
    report.committed = True
    if update_cube and cube_path(data_dir).exists():
        refresh_cube(data_dir, table, as_records(table, added.to_pandas()),
                     None if removed is None else as_records(table, removed.to_pandas()),
                     before=before.name if before else None)
    return report


def _process_sheet(sheet: Sheet, mapping: ColumnMapping, counties: RegionIndex,
                   linker: register_module.Linker, schema: pa.DataFrameSchema,
                   report: IngestReport, path: Path
                   ) -> tuple[pl.DataFrame, list[dict], set[str]]:
    """One sheet's accepted records, its rejections (rows with reasons, total rows) and the
    fields its columns gave."""
    table = mapping.table
    frame, columns = _sheet_frame(sheet, mapping, report, path)
    if table in LINKED and "enterprise_name" in columns:
        linker.expect(frame.get_column("enterprise_name"))
    for name in {"credit_code", "org_code"} & set(columns):
        frame = _check_credit_codes(frame, name)
    values, reasons = [], []
    for name, (header, unit) in columns.items():
        value, reason = _converted(frame, name, header, unit, mapping, counties)
        values.append(value)
        if reason is not None:
            reasons.append(reason)
        if name in REQUIRED[table]:
            reasons.append(pl.when(pl.col(name) == "").then(
                pl.lit(f"missing_field: {header}")))
    converted = frame.select(pl.col("row"), *values)
    if "org_code" in converted.columns:  # an organisation code of 18 characters
        converted = converted.with_columns(credit_code=pl.coalesce(
            *[pl.col(c) for c in ("credit_code", "org_code") if c in converted.columns]))
    if sheet.stray:
        stray = pl.DataFrame({"row": list(sheet.stray), "stray": [
            "stray_cells: " + ", ".join(cells) for cells in sheet.stray.values()]},
            schema={"row": pl.Int64, "stray": pl.String})
        frame = frame.join(stray, on="row", how="left", maintain_order="left")
        reasons.append(pl.col("stray"))
    headers = {"name": columns.get("enterprise_name", ("企业名称",))[0],
               "credit_code": columns.get("credit_code", columns.get(
                   "org_code", ("统一社会信用代码",)))[0]}
    records = _records(table, converted, frame)
    if table in LINKED and ({"enterprise_name", "credit_code", "org_code"} & set(columns)):
        # No check looks at the enterprise: the records are checked while they are linked
        # (pandera's bookkeeping holds the interpreter, Polars' joins leave it free).
        with ThreadPoolExecutor(max_workers=1) as pool:
            checked = pool.submit(_validate, records, schema, frame, columns)
            ids, link_reasons = linker.link(_link_rows(converted, table), headers)
            found = checked.result()
        records = records.with_columns(pl.coalesce("enterprise_id", pl.lit(ids)))
        frame = frame.with_columns(_link=link_reasons)
        reasons.append(pl.col("_link"))
    else:
        if table == "enterprises":
            ids, link_reasons = register_module.resolve_register_rows(
                records, linker.register, {**headers, "name": columns["name"][0]})
            records = records.with_columns(enterprise_id=ids)
            frame = frame.with_columns(_link=link_reasons)
            reasons.append(pl.col("_link"))
        found = _validate(records, schema, frame, columns)
    rejected_at: dict[int, list[str]] = {}
    if reasons:  # lists of reasons only for the rows that have one
        failing = frame.with_row_index("i").filter(
            pl.any_horizontal([r.is_not_null() for r in reasons])).select(
            "i", pl.concat_list(reasons).list.drop_nulls().alias("reasons"))
        rejected_at = dict(zip(failing.get_column("i").to_list(),
                               failing.get_column("reasons").to_list()))
    for index, more in found.items():
        rejected_at.setdefault(index, []).extend(more)
    rows = frame.get_column("row")
    rejected = [_rejection(sheet, rows[i], r) for i, r in sorted(rejected_at.items())]
    for row, primary, detail in _check_totals(sheet, converted, columns, report):
        rejected.append({"sheet": sheet.name, "row": row, "primary": primary,
                         "reason": f"{primary}: {detail}",
                         "cells": sheet.row(row, sheet.totals)})
    keep = ~pl.int_range(len(records), eager=True).is_in(list(rejected_at))
    provided = set(columns) | ({"credit_code"} if "org_code" in columns else set())
    return records.filter(keep), rejected, provided


def _link_rows(converted: pl.DataFrame, table: str) -> pl.DataFrame:
    """What linking a row to the register looks at: county, name, valid credit code, sector,
    action type; nothing for a row that gives its enterprise id."""
    given = (pl.col("enterprise_id").is_not_null() if "enterprise_id" in converted.columns
             else pl.lit(False))

    def column(name: str, dtype=pl.String) -> pl.Expr:
        """``name`` as ``dtype`` (None: as it is — a code only new firms take)."""
        if name not in converted.columns:
            return pl.lit(None, dtype or pl.String).alias(name)
        value = pl.col(name) if dtype is None else pl.col(name).cast(dtype)
        return pl.when(~given).then(value).alias(name)

    out = [pl.col("adcode").cast(pl.String) if "adcode" in converted.columns
           else pl.lit(None, pl.String).alias("adcode"),
           pl.when(~given & (pl.col("enterprise_name") != "")).then(
               pl.col("enterprise_name")).alias("name")
           if "enterprise_name" in converted.columns else pl.lit(None, pl.String).alias("name"),
           column("credit_code"), column("sector", None)]
    if table == "enforcement_actions":
        out.append(column("action_type", None))
    return converted.select(out)


def _rejection(sheet: Sheet, row: int, reasons: list[str]) -> dict:
    order = list(REASONS)
    reasons = sorted(set(reasons), key=lambda r: order.index(r.split(":")[0])
                     if r.split(":")[0] in order else 99)
    cells = sheet.row(row)
    if row in sheet.stray:
        cells["(beyond the header)"] = ", ".join(sheet.stray[row])
    return {"sheet": sheet.name, "row": row, "primary": reasons[0].split(":")[0],
            "reason": "; ".join(reasons), "cells": cells}


def _records(table: str, converted: pl.DataFrame, frame: pl.DataFrame) -> pl.DataFrame:
    """The store's columns (defaults filled, ids generated) plus the ledger's extra counts."""
    out = []
    for f in store.SCHEMAS[table]:
        dtype = _dtype(f.name, table) if f.name not in ("grade",) else pl.Int64
        if f.name in converted.columns:
            column = pl.col(f.name)
        elif f.name == "target_name" and "enterprise_name" in converted.columns:
            column = pl.when(pl.col("enterprise_name") != "").then(pl.col("enterprise_name"))
        else:
            column = pl.lit(None, dtype=dtype)
        if f.name in DEFAULTS[table]:
            column = column.fill_null(pl.lit(DEFAULTS[table][f.name], dtype=dtype))
        out.append(column.cast(dtype).alias(f.name))
    extra = [pl.col(n) for n in ("hazards_general", "hazards_major", "hazards_rectified")
             if n in converted.columns]
    records = converted.select(*out, *extra)
    id_field = ID_FIELD[table]
    missing = records.get_column(id_field).is_null()
    if missing.any() and table != "enterprises":  # a hash of the row's cells as written
        generated = _record_ids(table, frame, missing)
        records = records.with_columns(pl.col(id_field).fill_null(generated))
    if table == "accidents" and "level" not in converted.columns:
        records = records.with_columns(level=pl.when(pl.col("deaths").fill_null(0) >= 3)
                                       .then(pl.lit("larger")).otherwise(pl.lit("ordinary"))
                                       .cast(_dtype("level", table)))
    return records


def _commit(data_dir: Path, table: str, batch: str, accepted: pl.DataFrame, source: Path,
            report: IngestReport, register_changes: pl.DataFrame | None = None,
            register: register_module.Register | None = None
            ) -> tuple[pa_lib.Table, pa_lib.Table | None]:
    """Append the batch as a new version of the table (replacing an earlier copy of the same
    batch) and add the provisional firms it names to the register, both or neither; returns
    the records added and those the replaced copy held."""
    parts = _store_parts(table, accepted)
    removed = []

    def build(new: Path, old: Path | None) -> None:
        manifest = store.read_manifest(old)
        replaced = set(manifest["batches"].pop(batch, {}).get("files", []))
        if replaced:
            removed.append(pq.read_table([str(old / f) for f in sorted(replaced)],
                                         schema=store.SCHEMAS[table]))
        if old is not None:
            store.link_files(old, new, keep=lambda relative: relative not in replaced)
        files = store.write_parts(new, batch, parts)
        manifest["batches"][batch] = {
            "source": source.name, "rows": len(accepted), "files": files,
            "rejected": report.rejected_total, "notes": report.notes,
            "quarantine": report.quarantine.name if report.quarantine else None}
        store.write_manifest(new, manifest)

    store.store_dir(data_dir).mkdir(parents=True, exist_ok=True)
    builds = {store.store_dir(data_dir) / table: build}
    if register_changes is not None and len(register_changes):
        def update(current: pl.DataFrame):
            return register_module.provisional_changes(current, register_changes, batch,
                                                       source.name)

        builds[store.store_dir(data_dir) / "enterprises"] = register_module.register_build(
            update, batch, register)
    with store.Transaction(data_dir) as change:
        change.build_side_by_side(builds)
    added = pa_lib.concat_tables(parts.values()) if parts else store.SCHEMAS[table].empty_table()
    return added, (removed[0] if removed else None)


def _commit_register(data_dir: Path, batch: str, accepted: pl.DataFrame, provided: set[str],
                     source: Path, report: IngestReport,
                     register: register_module.Register | None = None) -> None:
    """Apply a register file's accepted rows to the register (one new version)."""
    def update(current: pl.DataFrame):
        rows, entry = register_module.apply_register_rows(
            current, accepted.with_columns(pl.col(pl.Enum).cast(pl.String)), provided, batch,
            source.name)
        batches = {batch: {"source": source.name, "rows": len(accepted),
                           "rejected": report.rejected_total, "notes": report.notes,
                           "quarantine": report.quarantine.name if report.quarantine
                           else None}}
        report.register_changes = entry
        return rows, [], [entry], batches

    store.store_dir(data_dir).mkdir(parents=True, exist_ok=True)
    store.publish(store.store_dir(data_dir) / "enterprises",
                  register_module.register_build(update, batch, register))
    report.committed = True


def _store_parts(table: str, accepted: pl.DataFrame) -> dict[int | None, pa_lib.Table]:
    """The accepted records in the store's schema, split by year for dated tables (codes
    are already Enums: Arrow only recasts their small dictionaries)."""
    schema = store.SCHEMAS[table]
    frame = accepted.select([
        pl.col(f.name).round().cast(pl.Int64) if pa_lib.types.is_integer(f.type)
        else pl.col(f.name) for f in schema])
    date = store.PARTITION_DATE.get(table)
    if not len(frame):
        return {}
    if date is None:
        groups = {None: frame}
    else:
        groups = {key[0]: part for key, part in frame.with_columns(
            pl.col(date).dt.year().alias("_year")).partition_by(
            "_year", as_dict=True, include_key=False, maintain_order=True).items()}

    def to_schema(part: pl.DataFrame) -> pa_lib.Table:
        arrow = part.to_arrow()
        return pa_lib.table([arrow.column(f.name).cast(f.type) for f in schema], schema=schema)

    years = sorted(groups, key=lambda year: (year is not None, year))
    with ThreadPoolExecutor(max_workers=2) as pool:  # Arrow's casts leave the interpreter free
        return dict(zip(years, pool.map(to_schema, [groups[year] for year in years])))

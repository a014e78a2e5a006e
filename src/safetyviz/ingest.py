"""Ingest: ledger files in, validated records appended to the store, nothing lost.

One file is one batch. Its rows are read (``readers``), mapped to fields (``mapping``),
converted (dates, numbers, counties through the region aliases, codes), validated with a
pandera schema that collects every failure at once, and split: accepted rows become a new
version of the table (atomic, see ``store``), every other row goes to
``<data-dir>/quarantine/<batch>.csv`` with its sheet, row number and reasons. The batch id is
the file's content hash, so ingesting the same file again changes nothing; ``force`` replaces
that batch. Afterwards the cube is updated for the months the batch touches.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import store
from .catalog import ensure_catalog, open_catalog
from .cube import refresh_cube
from .errors import UserError
from .loading import as_records, load_regions
from .mapping import UNITS, ColumnMapping
from .paths import default_data_dir
from .readers import Sheet, read_ledger
from .regions import RegionIndex, normalise_name

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
    "enterprises": ["name", "adcode", "sector"],
}
DEFAULTS = {
    "inspections": {"department": "emergency_management", "campaign": "routine"},
    "hazards": {"listed_supervision": False},
    "enforcement_actions": {"persons": 0, "fine_yuan": 0},
    "accidents": {"injuries": 0, "direct_loss_yuan": 0},
    "enterprises": {"scale": "below", "licence": "none", "dual_prevention": "none"},
}
DATE_FIELDS = {"date", "found_date", "deadline", "rectified_date"}
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
    "unknown_enterprise": "企业不在企业名录中", "rectified_before_found": "整改日期早于发现日期",
    "deadline_before_found": "整改期限早于发现日期", "rectified_exceeds_found": "整改数大于隐患数",
    "duplicate_id_in_file": "文件内记录编号重复", "duplicate_id_in_store": "记录编号已在库中",
}


@dataclass
class IngestReport:
    """What one ingest did (or, with ``dry_run``, would do)."""

    path: Path
    table: str
    batch: str
    rows_read: int = 0
    accepted: int = 0
    rejected: Counter = field(default_factory=Counter)  # primary reason → rows
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
                 f"rejected {self.rejected_total}"]
        for reason, n in sorted(self.rejected.items(), key=lambda kv: -kv[1]):
            lines.append(f"    {n:>6}  {reason} ({REASONS[reason]})")
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
    factor = UNITS.get(suffix) if suffix in UNITS else UNITS.get(unit or "元", 1)
    return value * factor


class _Rows:
    """Reasons per row while a sheet is converted: row index → [(reason, detail)]."""

    def __init__(self):
        self.reasons: dict[int, list[tuple[str, str]]] = {}

    def add(self, index: int, reason: str, detail: str) -> None:
        self.reasons.setdefault(index, []).append((reason, detail))


def _convert_cell(name: str, text: str, unit: str | None, mapping: ColumnMapping,
                  counties: RegionIndex, enterprises: dict[str, str]):
    """(value, reason) for one cell; reason is None when the cell converts (or is empty)."""
    if text.strip() == "":
        return None, None
    if name in DATE_FIELDS:
        value = parse_date(text)
        return value, None if value is not None else "bad_date"
    if name in NUMBER_FIELDS:
        value = parse_number(text, unit or mapping.units.get(name))
        return value, None if value is not None else "bad_number"
    if name == "adcode":
        return (counties.resolve(text), None) if text in counties else (None, "unknown_county")
    if name in CODE_FIELDS:
        value = mapping.code(name, text)
        return value, None if value is not None else "unknown_code"
    if name == "listed_supervision":
        return text.strip() in ("是", "Y", "y", "yes", "1", "√", "true", "True"), None
    if name == "enterprise_name":
        value = enterprises.get(normalise_name(text))
        return value, None if value is not None else "unknown_enterprise"
    return unicodedata.normalize("NFKC", text).strip(), None


def _convert(frame: pd.DataFrame, columns: dict[str, tuple[str, str | None]],
             mapping: ColumnMapping, counties: RegionIndex, enterprises: dict[str, str],
             rows: _Rows) -> pd.DataFrame:
    """Typed fields from text cells; failures are recorded in ``rows`` and left null.
    Each distinct text is converted once (ledgers repeat dates, counties and codes)."""
    out = pd.DataFrame(index=frame.index)
    for name, (header, unit) in columns.items():
        cells = frame[name]
        if name not in DATE_FIELDS | NUMBER_FIELDS | CODE_FIELDS | {
                "adcode", "listed_supervision", "enterprise_name"}:  # free text: vectorised
            text = pc.utf8_trim_whitespace(pa_array(cells))
            if name.endswith("_id"):  # names are kept as written; ids lose full-width forms
                text = pc.utf8_normalize(text, "NFKC")
            text = text.to_numpy(zero_copy_only=False).astype(object)
            text[text == ""] = None
            out[name] = pd.Series(text, index=frame.index, dtype=object)
            continue
        codes, uniques = pd.factorize(cells)
        converted = [_convert_cell(name, text, unit, mapping, counties, enterprises)
                     for text in uniques]
        unique_values = [value for value, _ in converted]
        if name in DATE_FIELDS:
            unique_values = pd.to_datetime(pd.Series(unique_values, dtype=object)).to_numpy(
                "datetime64[ns]")
        elif name in NUMBER_FIELDS:
            unique_values = pd.to_numeric(pd.Series(unique_values, dtype=object)).to_numpy(float)
        else:
            unique_values = np.array(unique_values + [None], dtype=object)[:-1]
        out[name] = pd.Series(unique_values[codes], index=frame.index)
        failed = np.array([reason is not None for _, reason in converted], dtype=bool)
        if failed.any():
            for index in np.flatnonzero(failed[codes]):
                text = uniques[codes[index]]
                rows.add(int(index), converted[codes[index]][1], f"{header}={text!r}")
    return out


def pa_array(cells: pd.Series):
    """The Arrow array behind a text column (no copy for pandas' Arrow-backed strings)."""
    import pyarrow as pa_

    return pa_.array(cells, type=pa_.string(), from_pandas=True)


def _schema(table: str, today: pd.Timestamp, existing_ids: set[str]) -> pa.DataFrameSchema:
    """Checks on converted fields; check names are reason codes."""
    def date_within_bounds(s):  # (a name pandera has no built-in check for)
        d = pd.to_datetime(s)
        return d.isna() | ((d >= EARLIEST) & (d <= today))

    def not_negative(s):
        return pd.to_numeric(s).isna() | (pd.to_numeric(s) >= 0)

    columns = {}
    for name in DATE_FIELDS:
        columns[name] = pa.Column(None, pa.Check(date_within_bounds, name="date_out_of_range"),
                                  nullable=True, required=False)
    for name in NUMBER_FIELDS - {"lon", "lat"}:
        columns[name] = pa.Column(None, pa.Check(not_negative, name="negative_value"),
                                  nullable=True, required=False)
    id_field = ID_FIELD[table]
    columns[id_field] = pa.Column(None, [
        pa.Check(lambda s: ~s.duplicated(keep="first"), name="duplicate_id_in_file"),
        pa.Check(lambda s: ~s.isin(existing_ids), name="duplicate_id_in_store")])
    checks = []
    if table == "hazards":
        checks += [
            pa.Check(lambda f: _not_before(f, "rectified_date", "found_date"),
                     name="rectified_before_found"),
            pa.Check(lambda f: _not_before(f, "deadline", "found_date"),
                     name="deadline_before_found")]
    if table == "inspections":
        checks.append(pa.Check(_rectified_within_found, name="rectified_exceeds_found"))
    return pa.DataFrameSchema(columns, checks=checks, strict=False)


def _not_before(frame: pd.DataFrame, later: str, earlier: str) -> pd.Series:
    if later not in frame or earlier not in frame:
        return pd.Series(True, index=frame.index)
    a, b = pd.to_datetime(frame[later]), pd.to_datetime(frame[earlier])
    return a.isna() | b.isna() | (a >= b)


def _rectified_within_found(frame: pd.DataFrame) -> pd.Series:
    if "hazards_rectified" not in frame:
        return pd.Series(True, index=frame.index)
    found = sum(pd.to_numeric(frame[c]).fillna(0) for c in ("hazards_general", "hazards_major")
                if c in frame)
    rectified = pd.to_numeric(frame["hazards_rectified"])
    return rectified.isna() | (rectified <= found)


def _validate(records: pd.DataFrame, schema: pa.DataFrameSchema, rows: _Rows,
              frame: pd.DataFrame, columns: dict) -> None:
    """Run the schema lazily; each failure names the column and the cell as written."""
    try:
        schema.validate(records, lazy=True)
    except pa.errors.SchemaErrors as errors:
        for case in errors.failure_cases.itertuples():
            if case.index is None or pd.isna(case.index):
                continue
            index = int(case.index)
            column = case.column if isinstance(case.column, str) else None
            if case.schema_context == "DataFrameSchema":
                column = None  # a check across columns, reported once per row
                if any(r == str(case.check) for r, _ in rows.reasons.get(index, [])):
                    continue
            if column in columns:
                detail = f"{columns[column][0]}={frame.at[index, column]!r}"
            elif column:
                detail = f"{column}={case.failure_case!r}"
            else:  # a check across columns: show the dates it compared
                detail = ", ".join(f"{columns[c][0]}={frame.at[index, c]!r}"
                                   for c in ("found_date", "deadline", "rectified_date",
                                             "hazards_general", "hazards_major",
                                             "hazards_rectified") if c in columns)
            rows.add(index, str(case.check), detail)


def _record_id(table: str, values: pd.DataFrame) -> pd.Series:
    """Deterministic ids for ledgers without one: a hash of the row's converted fields."""
    texts = ["|".join("" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
                      for v in row) for row in values.itertuples(index=False)]
    return pd.Series([f"{ID_PREFIX[table]}-" + hashlib.sha1(f"{table}|{t}".encode())
                      .hexdigest()[:12].upper() for t in texts], index=values.index, dtype=object)


# --- the ingest of one file ----------------------------------------------------------------
def _sheet_frame(sheet: Sheet, mapping: ColumnMapping, report: IngestReport, path: Path):
    """Field columns (text) of a sheet, with the header each came from."""
    columns: dict[str, tuple[str, str | None]] = {}
    positions: dict[str, int] = {}
    for position, header in enumerate(sheet.header):
        name, unit = mapping.field_of(header) if header else (None, None)
        if name is None or name == "ignore":
            if header and name is None and header not in report.ignored_columns:
                report.ignored_columns.append(header)
            continue
        if name in columns:
            raise UserError(f"{path}, sheet {sheet.name}: columns {columns[name][0]!r} and "
                            f"{header!r} both map to {name}; map one to ignore in a --mapping "
                            "file")
        columns[name], positions[name] = (header, unit), position
    if mapping.table != "enterprises" and "enterprise_name" in columns \
            and "enterprise_id" in columns:
        columns.pop("enterprise_name"), positions.pop("enterprise_name")
    missing = [f for f in REQUIRED[mapping.table] if f not in columns]
    if missing:
        raise UserError(f"{path}, sheet {sheet.name}: no column for required field(s) "
                        f"{', '.join(missing)} (headers: {', '.join(h for h in sheet.header if h)}"
                        "); name it in a --mapping file")
    frame = pd.DataFrame({name: sheet.cells[positions[name]].astype("str")
                          for name in columns}, index=sheet.cells.index)
    return frame.reset_index(drop=True), columns


def _check_totals(sheet: Sheet, converted: pd.DataFrame, columns: dict,
                  report: IngestReport) -> list[tuple[int, str, str]]:
    """Compare each total row's numbers with the sum of all the sheet's detail rows (the
    ledger's own arithmetic, whether or not the rows pass validation)."""
    out = []
    for row, cells in sheet.totals.iterrows():
        mismatches = []
        for name, (header, unit) in columns.items():
            if name not in NUMBER_FIELDS:
                continue
            text = cells[sheet.header.index(header)]
            stated = parse_number(text, unit) if text else None
            if stated is None:
                continue
            detail = pd.to_numeric(converted[name]).sum()
            if not np.isclose(stated, detail):
                mismatches.append(f"{header}: 合计 {stated:g} ≠ 明细之和 {detail:g}")
        if mismatches:
            report.warnings.append(f"sheet {sheet.name} row {row}: " + "; ".join(mismatches))
            out.append((row, "total_row_mismatch", "; ".join(mismatches)))
        else:
            out.append((row, "total_row", "dropped after checking the detail rows"))
    return out


def _store_ids(data_dir: Path, table: str, skip_batch: str | None) -> set[str]:
    version = store.current_version(data_dir, table)
    if version is None:
        return set()
    manifest = store.read_manifest(version)
    skip = set(manifest["batches"].get(skip_batch, {}).get("files", []))
    ids: set[str] = set()
    for path in version.rglob("*.parquet"):
        if str(path.relative_to(version)) not in skip:
            ids.update(pq.read_table(path, columns=[ID_FIELD[table]]).column(0).to_pylist())
    return ids


def _enterprise_names(data_dir: Path) -> dict[str, str]:
    version = store.current_version(data_dir, "enterprises")
    if version is None:
        return {}
    table = pq.read_table(version, columns=["enterprise_id", "name"]).to_pandas()
    return dict(zip(table["name"].map(normalise_name), table["enterprise_id"]))


def _write_quarantine(path: Path, rejected: list[dict], headers: list[str]) -> None:
    """UTF-8 with BOM so Excel opens it; written to a temporary name, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sheet", "row", "reason", *headers])
        for item in rejected:
            writer.writerow([item["sheet"], item["row"], item["reason"],
                             *[item["cells"].get(h, "") for h in headers]])
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def ingest(path, table: str, data_dir=None, mapping=None, dry_run: bool = False,
           force: bool = False, today: pd.Timestamp | None = None,
           update_cube: bool = True) -> IngestReport:
    """Ingest one ledger file into ``table``; returns an :class:`IngestReport`.

    Raises UserError for what makes the whole file unusable (unreadable, no header, a
    required column missing); row-level problems go to the quarantine file instead.
    """
    path = Path(path)
    if table not in INGESTIBLE:
        raise UserError(f"--table must be one of {', '.join(INGESTIBLE)}, not {table!r}")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    today = pd.Timestamp(today or dt.date.today())
    column_mapping = ColumnMapping.for_table(table, mapping)
    try:
        content = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise UserError(f"{path}: no such file") from None
    batch = f"{table}-{hashlib.sha256(content).hexdigest()[:16]}"
    report = IngestReport(path=path, table=table, batch=batch, dry_run=dry_run)
    manifest = store.read_manifest(store.current_version(data_dir, table))
    if batch in manifest["batches"] and not force:
        report.already_ingested = True
        if update_cube:  # an earlier run may have been killed before its cube update
            refresh_cube(data_dir)
        return report

    sheets = read_ledger(path, column_mapping.is_header_cell)
    counties = RegionIndex(load_regions(open_catalog(ensure_catalog(data_dir))))
    enterprises = _enterprise_names(data_dir) if table != "enterprises" else {}
    existing = _store_ids(data_dir, table, batch if force else None)
    schema = _schema(table, today, existing)

    accepted_frames, rejected, headers = [], [], []
    for sheet in sheets:
        report.sheets.append(sheet.name)
        report.rows_read += sheet.rows_read
        headers += [h for h in sheet.header if h and h not in headers]
        records, rejections = _process_sheet(sheet, column_mapping, counties, enterprises,
                                             schema, report, path)
        accepted_frames.append(records)
        rejected += rejections
        if sheet is not sheets[-1]:  # later sheets must not repeat this one's ids
            existing = existing | set(records[ID_FIELD[table]])
            schema = _schema(table, today, existing)

    accepted = pd.concat(accepted_frames, ignore_index=True)
    report.accepted = len(accepted)
    report.rejected = Counter(item["primary"] for item in rejected)
    date_field = store.PARTITION_DATE.get(table)
    if date_field and len(accepted):
        months = pd.to_datetime(accepted[date_field]).dt.to_period("M").unique()
        report.months = sorted(str(m) for m in months)
    if rejected:
        report.quarantine = data_dir / "quarantine" / f"{batch}.csv"
    if dry_run:
        return report
    stale = data_dir / "quarantine" / f"{batch}.csv"
    if rejected:
        rejected.sort(key=lambda item: (report.sheets.index(item["sheet"]), item["row"]))
        _write_quarantine(report.quarantine, rejected, headers)
    elif stale.exists():  # left by an earlier ingest of this batch (--force)
        stale.unlink()
    before = store.current_version(data_dir, table)
    added, removed = _commit(data_dir, table, batch, accepted, path, report)
    report.committed = True
    if update_cube:
        refresh_cube(data_dir, table, as_records(table, added),
                     None if removed is None else as_records(table, removed),
                     before=before.name if before else None)
    return report


def _process_sheet(sheet: Sheet, mapping: ColumnMapping, counties: RegionIndex,
                   enterprises: dict[str, str], schema: pa.DataFrameSchema,
                   report: IngestReport, path: Path) -> tuple[pd.DataFrame, list[dict]]:
    """One sheet's accepted records and its rejections (rows with reasons, total rows)."""
    table = mapping.table
    frame, columns = _sheet_frame(sheet, mapping, report, path)
    rows = _Rows()
    converted = _convert(frame, columns, mapping, counties, enterprises, rows)
    row_numbers = sheet.cells.index.to_numpy()
    if sheet.stray:
        position = {row: i for i, row in enumerate(row_numbers)}
        for row, stray in sheet.stray.items():
            if row in position:
                rows.add(position[row], "stray_cells", ", ".join(stray))
    for name in REQUIRED[table]:
        for index in converted.index[frame[name].str.strip() == ""]:
            rows.add(index, "missing_field", columns[name][0])
    records = _records(table, converted)
    _validate(records, schema, rows, frame, columns)
    rejected = [_rejection(sheet, int(row_numbers[index]), reasons)
                for index, reasons in rows.reasons.items()]
    for row, reason, detail in _check_totals(sheet, converted, columns, report):
        rejected.append({"sheet": sheet.name, "row": row, "primary": reason,
                         "reason": f"{reason}: {detail}",
                         "cells": dict(zip(sheet.header, sheet.totals.loc[row]))})
    return records[~records.index.isin(list(rows.reasons))], rejected


def _rejection(sheet: Sheet, row: int, reasons) -> dict:
    order = list(REASONS)
    reasons = sorted(set(reasons), key=lambda r: (order.index(r[0]) if r[0] in order else 99))
    cells = dict(zip(sheet.header, sheet.cells.loc[row]))
    if row in sheet.stray:
        cells["(beyond the header)"] = ", ".join(sheet.stray[row])
    return {"sheet": sheet.name, "row": row, "primary": reasons[0][0],
            "reason": "; ".join(f"{r}: {d}" for r, d in reasons), "cells": cells}


def _records(table: str, converted: pd.DataFrame) -> pd.DataFrame:
    """The store's columns (defaults filled, ids generated) plus the ledger's extra counts."""
    schema = store.SCHEMAS[table]
    records = pd.DataFrame(index=converted.index)
    for f in schema:
        if f.name in converted:
            records[f.name] = converted[f.name]
        elif f.name == "enterprise_id" and "enterprise_name" in converted:
            records[f.name] = converted["enterprise_name"]
        else:
            records[f.name] = DEFAULTS[table].get(f.name)
        if f.name in DEFAULTS[table]:
            records[f.name] = records[f.name].where(records[f.name].notna(),
                                                    DEFAULTS[table][f.name])
    for name in ("hazards_general", "hazards_major", "hazards_rectified"):
        if name in converted:
            records[name] = converted[name]
    id_field = ID_FIELD[table]
    missing = records[id_field].isna()
    if missing.any():  # ledgers without ids: a hash of the row's other fields
        fields = [c for c in converted.columns if c != id_field]
        records.loc[missing, id_field] = _record_id(table, converted.loc[missing, fields])
    if table == "accidents" and "level" not in converted:
        records["level"] = np.where(pd.to_numeric(records["deaths"]).fillna(0) >= 3,
                                    "larger", "ordinary")
    return records


def _commit(data_dir: Path, table: str, batch: str, accepted: pd.DataFrame, source: Path,
            report: IngestReport) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Append the batch as a new version of the table (replacing an earlier copy of the same
    batch); returns the records added and those the replaced copy held."""
    frame = accepted[[f.name for f in store.SCHEMAS[table]]].copy()
    for f in store.SCHEMAS[table]:
        if str(f.type).startswith("int"):
            frame[f.name] = pd.to_numeric(frame[f.name]).round().astype("int64")
        elif str(f.type) == "double":
            frame[f.name] = pd.to_numeric(frame[f.name]).astype(float)
        elif str(f.type) == "bool":
            frame[f.name] = frame[f.name].astype(bool)

    removed = []

    def build(new: Path, old: Path | None) -> None:
        manifest = store.read_manifest(old)
        replaced = set(manifest["batches"].pop(batch, {}).get("files", []))
        if replaced:
            removed.append(pq.read_table([str(old / f) for f in sorted(replaced)],
                                         schema=store.SCHEMAS[table]).to_pandas())
        if old is not None:
            store.link_files(old, new, keep=lambda relative: relative not in replaced)
        files = store.write_batch_files(table, frame, new, batch) if len(frame) else []
        manifest["batches"][batch] = {
            "source": source.name, "rows": len(frame), "files": files,
            "rejected": report.rejected_total,
            "quarantine": report.quarantine.name if report.quarantine else None}
        store.write_manifest(new, manifest)

    store.store_dir(data_dir).mkdir(parents=True, exist_ok=True)
    store.publish(store.store_dir(data_dir) / table, build)
    return frame, (removed[0] if removed else None)


def data_dictionary() -> str:
    """The data dictionary (docs/data-dictionary.md): every ingestible table's fields, types,
    units and the ledger headers that map to them."""
    from .mapping import COMMON_HEADERS, TABLE_HEADERS
    from .vocab import FIELDS

    out = ["# 数据字典 / Data dictionary", "",
           "Generated by `safetyviz.ingest.data_dictionary()`; a test keeps it in step with the "
           "code. Headers are matched after NFKC normalisation with spaces removed; a unit in "
           "brackets (`罚款（万元）`) or after a slash converts the value (万元 → × 10,000 元). "
           "Codes are accepted as the code, its Chinese or English label, or a common synonym "
           "(`safetyviz.mapping.VALUE_SYNONYMS`); more headers and values go in a `--mapping` "
           "YAML file. Required fields are marked ✱; an id left out is made from the row's "
           "content.", ""]
    for table in INGESTIBLE:
        headers = {**COMMON_HEADERS, **TABLE_HEADERS[table]}
        out += [f"## {table}", "", "| field | 中文 | English | type | unit | accepted headers |",
                "|---|---|---|---|---|---|"]
        for f in store.SCHEMAS[table]:
            zh, en, unit = FIELDS[f.name]
            names = headers.get(f.name, [])
            if f.name == "enterprise_id" and table != "enterprises":
                names = names + [f"{h} (name → id)" for h in COMMON_HEADERS["enterprise_name"]]
            mark = " ✱" if f.name in REQUIRED[table] else ""
            kind = {"date32[day]": "date", "double": "float"}.get(str(f.type), str(f.type))
            kind = "code" if kind.startswith("dictionary") else kind
            out.append(f"| `{f.name}`{mark} | {zh} | {en} | {kind} | {unit} | "
                       f"{'、'.join(names)} |")
        extra = [n for n in TABLE_HEADERS[table] if n not in store.SCHEMAS[table].names]
        for name in extra:
            out.append(f"| `{name}` (checked, not stored) | | | int | | "
                       f"{'、'.join(TABLE_HEADERS[table][name])} |")
        out.append("")
    from .vocab import VOCABULARIES

    out += ["## 代码表 / Codes", ""]
    for vocabulary, codes in VOCABULARIES.items():
        out += [f"### {vocabulary}", "", "| code | 中文 | English |", "|---|---|---|"]
        out += [f"| `{code}` | {zh} | {en} |" for code, (zh, en) in codes.items()]
        out.append("")
    return "\n".join(out)

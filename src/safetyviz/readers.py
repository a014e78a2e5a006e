"""Readers: ledger files (CSV, XLSX, XLS) as they really are, to rows of text with their
origin (sheet, row number).

Copes with: UTF-8, UTF-8 with BOM and GBK/GB18030 CSV (a file that decodes to mojibake is
refused, never guessed); a title row above the header; two-row headers with merged parent cells
(隐患 / 一般 | 重大 → ``隐患/一般``, ``隐患/重大``); blank separator rows; trailing
合计/小计/总计 rows (returned apart, for the caller to check); several sheets. Which row is the
header is decided by ``is_header_cell``, supplied by the caller (the column mapping).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .errors import UserError

MAX_HEADER_SEARCH = 10  # rows scanned for the header
MAX_FIELD_CHARS = 100_000  # longer cells are not ledger data
TOTAL_WORDS = ("合计", "小计", "总计")
XLSX_MAGIC, XLS_MAGIC = b"PK\x03\x04", b"\xd0\xcf\x11\xe0"


@dataclass
class Sheet:
    """One table found in a file. ``cells`` (Polars) has a column ``row`` (the row number in
    the sheet/file, 1-based) and one text column per header position, named "0", "1", …
    ("" for empty); ``totals`` holds the 合计 rows in the same layout; ``stray`` the cells
    beyond the header, by row number."""

    name: str
    header: list[str]
    cells: pl.DataFrame
    totals: pl.DataFrame
    stray: dict[int, list[str]] = field(default_factory=dict)

    @property
    def rows_read(self) -> int:
        return len(self.cells) + len(self.totals)

    def row(self, number: int, frame: pl.DataFrame | None = None) -> dict[str, str]:
        """The cells of row ``number`` as {header: text}."""
        found = (self.cells if frame is None else frame).filter(pl.col("row") == number)
        values = found.row(0)[1:] if len(found) else [""] * len(self.header)
        return dict(zip(self.header, values))


def clean(value) -> str:
    """A cell as text, as written (no surrounding spaces); dates as ISO, 3.0 as 3."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


# --- text decoding -------------------------------------------------------------------------
def _looks_like_mojibake(text: str) -> bool:
    """GB18030 decodes almost any bytes; real Chinese text is mostly GB2312 characters."""
    cjk = [c for c in text if "\u4e00" <= c <= "\u9fff"]
    odd = sum(1 for c in text if unicodedata.category(c) in ("Co", "Cn")
              or "\u3040" <= c <= "\u30ff" or "\ue000" <= c <= "\uf8ff")
    if not cjk:
        return odd > 0
    common = 0
    for c in cjk:
        try:
            c.encode("gb2312")
            common += 1
        except UnicodeEncodeError:
            pass
    return common / len(cjk) < 0.85 or odd > 0.01 * len(text)


def decode_text(data: bytes, path: Path) -> tuple[str, str]:
    """(text, encoding) of a CSV: BOM → UTF-8; else strict UTF-8; else strict GB18030 if the
    result reads as Chinese; else a UserError."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if b"\x00" in data[:4096]:
        raise UserError(f"{path}: not a text file (NUL bytes); expected CSV, XLSX or XLS")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: neither UTF-8 nor GBK/GB18030 text (byte {exc.start})") from None
    if _looks_like_mojibake(text):
        raise UserError(f"{path}: decodes as GB18030 only into mojibake; re-save it as UTF-8 "
                        "or GBK")
    return text, "gb18030"


# --- grids: a sheet as rows of cells, merged ranges filled ----------------------------------
def _csv_grid(path: Path, text: str):
    """The CSV as (name, rows, merged): rows is lazy, so a file without a header is refused
    after ten rows, not after parsing all of it."""
    csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        sample = text[:10_000]
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;") if sample.strip() else "excel"
    except csv.Error:
        dialect = "excel"

    def rows():
        try:
            for row in csv.reader(io.StringIO(text), dialect):
                yield [clean(c) for c in row]
        except csv.Error as exc:
            raise UserError(f"{path}: not a readable CSV file ({exc})") from None

    return [(path.stem, rows(), set())]


def _xlsx_grids(path: Path) -> list[tuple[str, list[list[str]], set]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable XLSX workbook ({exc.__class__.__name__}: "
                        f"{exc})") from None
    out = []
    for ws in book.worksheets:
        grid = [[clean(c) for c in row] for row in ws.iter_rows(values_only=True)]
        merged = set()
        for rng in ws.merged_cells.ranges:
            value = grid[rng.min_row - 1][rng.min_col - 1] if rng.min_row <= len(grid) else ""
            for r in range(rng.min_row - 1, min(rng.max_row, len(grid))):
                for c in range(rng.min_col - 1, rng.max_col):
                    if c < len(grid[r]):
                        grid[r][c] = value
                        if rng.max_col > rng.min_col:
                            merged.add((r, c))
        out.append((ws.title, grid, merged))
    return out


def _xls_grids(path: Path) -> list[tuple[str, list[list[str]], set]]:
    import xlrd

    try:
        book = xlrd.open_workbook(path, formatting_info=True)
    except Exception as exc:  # xlrd raises bare XLRDError/struct errors for damaged files
        raise UserError(f"{path}: not a readable XLS workbook ({exc})") from None
    out = []
    for sh in book.sheets():
        grid = []
        for r in range(sh.nrows):
            row = []
            for c in range(sh.ncols):
                cell = sh.cell(r, c)
                if cell.ctype == xlrd.XL_CELL_DATE:
                    row.append(clean(xlrd.xldate_as_datetime(cell.value, book.datemode)))
                else:
                    row.append(clean(cell.value))
            grid.append(row)
        merged = set()
        for r0, r1, c0, c1 in sh.merged_cells:
            value = grid[r0][c0]
            for r in range(r0, r1):
                for c in range(c0, c1):
                    grid[r][c] = value
                    if c1 - c0 > 1:
                        merged.add((r, c))
        out.append((sh.name, grid, merged))
    return out


# --- header detection ----------------------------------------------------------------------
def is_total_row(cells: list[str]) -> bool:
    """合计/小计/总计 in one of the first three cells."""
    return any(re.sub(r"\s", "", unicodedata.normalize("NFKC", c)) in TOTAL_WORDS
               for c in cells[:3])


def _find_table(name: str, grid, merged: set,
                is_header_cell: Callable[[str], bool]) -> Sheet | None:
    """Header row = the first row of the first ten with at least two known header cells; a
    second header row below merged parents is joined to them ('隐患/一般')."""
    rows = iter(grid)
    head = list(itertools.islice(rows, MAX_HEADER_SEARCH + 1))
    best = next((r for r, row in enumerate(head[:MAX_HEADER_SEARCH])
                 if sum(1 for c in row if c and is_header_cell(c)) >= 2), None)
    if best is None:
        return None
    header = list(head[best])
    start = best + 1
    if start < len(head):
        below = head[start]
        parents = {c for (r, c) in merged if r == best}
        if parents and all(below[c] for c in parents if c < len(below)):
            # Merged parents over named children: a two-row header.
            header = [f"{header[c]}/{below[c]}" if c in parents and c < len(below) and below[c]
                      else (header[c] or (below[c] if c < len(below) else ""))
                      for c in range(len(header))]
            start += 1
    width = len(header)
    kept, totals, stray = [], [], {}
    for r, row in enumerate(itertools.chain(head[start:], rows), start=start):
        cells = (row + [""] * width)[:width]
        extra = [c for c in row[width:] if c]
        if not any(cells) and not extra:
            continue  # blank separator row
        if extra:
            stray[r + 1] = extra  # kept, so validation can name the stray cells
        (totals if is_total_row(cells) else kept).append((r + 1, cells))
    return Sheet(name=name, header=header, cells=_frame(kept, width),
                 totals=_frame(totals, width), stray=stray)


def _frame(rows: list[tuple[int, list[str]]], width: int) -> pl.DataFrame:
    data = {"row": [r for r, _ in rows]}
    data.update({str(i): [cells[i] for _, cells in rows] for i in range(width)})
    return pl.DataFrame(data, schema={"row": pl.Int64, **{str(i): pl.String
                                                          for i in range(width)}})


def _csv_fast(name: str, utf8: bytes, is_header_cell) -> Sheet | None:
    """A clean CSV (UTF-8, header in the first ten rows, no ragged rows) parsed by Polars
    straight from its bytes; None sends the file down the general path. Polars refuses
    invalid UTF-8, so the text is checked without being decoded in Python."""
    head = utf8[:100_000]
    if len(utf8) > len(head):
        head = head[:head.rfind(b"\n") + 1]
    try:
        lines = head.decode("utf-8").split("\n", MAX_HEADER_SEARCH + 1)
    except UnicodeDecodeError:
        return None
    rows = list(csv.reader(lines[:MAX_HEADER_SEARCH]))
    best = next((r for r, row in enumerate(rows)
                 if sum(1 for c in row if c.strip() and is_header_cell(c.strip())) >= 2), None)
    if best is None:
        return None
    header = [clean(c) for c in rows[best]]
    names = [str(i) for i in range(len(header))]
    try:
        frame = pl.read_csv(utf8, has_header=False, skip_rows=best + 1, new_columns=names,
                            schema={n: pl.String for n in names}, quote_char='"',
                            truncate_ragged_lines=False)
    except (pl.exceptions.PolarsError, ValueError):
        return None  # not UTF-8, ragged rows, odd quoting: the general path names them
    # Polars keeps blank lines as empty rows, so row numbers follow line numbers unless a
    # quoted cell spans lines (or a lone CR ends one): then count to be sure.
    if (b'"' in utf8 or b"\r" in utf8) and len(frame) != (
            utf8.count(b"\n") + (not utf8.endswith(b"\n")) - best - 1):
        return None
    if frame.width != len(names):
        return None
    cells = [pl.col(n).fill_null("") for n in names]
    # Cheap byte scans decide whether any cell can have whitespace to strip; a multi-byte
    # search runs only when its lead byte occurs at all.
    spaced = any(c in utf8 for c in (b" ", b"\t", b"\r", b"\x0b", b"\x0c")) or any(
        lead in utf8 and space in utf8 for lead, space in (
            (b"\xc2", "\u00a0".encode()), (b"\xe3", "\u3000".encode())))
    if spaced:
        cells = [c.str.strip_chars() for c in cells]
    frame = frame.select(pl.int_range(best + 2, best + 2 + len(frame), dtype=pl.Int64)
                         .alias("row"), *[c.alias(n) for c, n in zip(cells, names)])
    blank = pl.all_horizontal([pl.col(n) == "" for n in names])
    first = [pl.col(n) for n in names[:3]]
    if spaced:  # "合 计"
        first = [c.str.replace_all(r"\s", "") for c in first]
    total = pl.any_horizontal([c.is_in(TOTAL_WORDS) for c in first])
    frame = frame.filter(~blank)  # blank separator rows (",,,") go
    return Sheet(name=name, header=header, cells=frame.filter(~total),
                 totals=frame.filter(total))


def read_ledger(path: Path, is_header_cell: Callable[[str], bool],
                data: bytes | None = None) -> list[Sheet]:
    """Every table in a CSV/XLSX/XLS file (``data``: its bytes, if already read). UserError
    for a file that is empty, unreadable, or has no recognisable header in any sheet."""
    path = Path(path)
    if data is None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise UserError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise UserError(f"{path}: is a directory, not a file") from None
    if not data or data.isspace():
        raise UserError(f"{path}: the file is empty")
    fast = None
    if data.startswith(XLSX_MAGIC):
        grids = _xlsx_grids(path)
    elif data.startswith(XLS_MAGIC):
        grids = _xls_grids(path)
    else:
        if b"\x00" not in data[:4096]:
            fast = _csv_fast(path.stem, data.removeprefix(b"\xef\xbb\xbf"), is_header_cell)
        if fast is None:
            text, encoding = decode_text(data, path)
            if encoding == "gb18030":
                fast = _csv_fast(path.stem, text.encode("utf-8"), is_header_cell)
        grids = None if fast is not None else _csv_grid(path, text)
    if grids is None:
        sheets = [fast]
    else:
        sheets = [s for s in (_find_table(n, g, m, is_header_cell) for n, g, m in grids) if s]
    if not sheets:
        raise UserError(f"{path}: no header row found (looked for known column names such as "
                        "检查日期, 所属县区, 企业名称 in the first 10 rows of every sheet)")
    return sheets

"""Readers: ledger files (CSV, XLSX, XLS) as they really are, to rows of text with their
origin (sheet, row number).

Copes with: UTF-8, UTF-8 with BOM and GBK/GB18030 CSV (a file that decodes to mojibake is
refused, never guessed); a title row above the header; headers of two or three rows under
merged group cells (隐患 / 一般 | 重大 → ``隐患/一般``, ``隐患/重大``; in a CSV export the group
is written once, left of the blanks it spans), with a group row above the first header row
too; blank separator rows; trailing 合计/小计/总计 rows (returned apart, for the caller to
check); note rows above or below the table (填表人：…, 审核人：…, 填报日期：…, 备注：…,
returned apart); several sheets. Which rows are the header is decided by the caller's
:class:`HeaderWords` (the column mapping).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import itertools
import mmap
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl

from safetyviz.core.errors import UserError

MAX_HEADER_SEARCH = 10  # rows scanned for the header
MAX_HEADER_ROWS = 3  # a header is at most three rows deep
MAX_FIELD_CHARS = 100_000  # longer cells are not ledger data
TOTAL_WORDS = ("合计", "小计", "总计")
XLSX_MAGIC, XLS_MAGIC = b"PK\x03\x04", b"\xd0\xcf\x11\xe0"
# A row whose first cell starts like these is a note on the form, not a record.
NOTE_PATTERN = (r"^(?:(?:(?:填表|填报|审核|审批|制表|统计|经办|复核)人?|(?:填报|填表|报送|制表)"
                r"(?:单位|日期|时间)|单位|统计(?:日期|时间|期间)|日期|时间|备注|说明|注\d*|附注|附件"
                r"|(?:单位|主要|分管)?负责人|分管领导|联系人|联系电话|电话|签字|签发)(?:[:：]|$)"
                r"|.{0,12}盖章)")
NOTE_RE = re.compile(NOTE_PATTERN)
DATA_LIKE = re.compile(r"[\d.,:/\-\s年月日]+")  # dates and numbers: never header words


class HeaderWords(Protocol):
    """What the caller knows of header text."""

    def is_header_cell(self, text: str) -> bool:
        """A cell naming a field on its own (检查日期, 所属县区)."""

    def is_header_part(self, text: str) -> bool:
        """A cell that may sit in a header row under a group (一般, 罚款（万元）)."""


@dataclass
class Sheet:
    """One table found in a file. ``cells`` (Polars) has a column ``row`` (the row number in
    the sheet/file, 1-based) and one text column per header position, named "0", "1", …
    ("" for empty); ``totals`` holds the 合计 rows and ``notes`` the note rows (above or below
    the table) in the same layout; ``stray`` the cells beyond the header, by row number."""

    name: str
    header: list[str]
    cells: pl.DataFrame
    totals: pl.DataFrame
    stray: dict[int, list[str]] = field(default_factory=dict)
    notes: pl.DataFrame | None = None

    @property
    def rows_read(self) -> int:
        return len(self.cells) + len(self.totals) + self.notes_read

    @property
    def notes_read(self) -> int:
        return 0 if self.notes is None else len(self.notes)

    def row(self, number: int, frame: pl.DataFrame | None = None) -> dict[str, str]:
        """The cells of row ``number`` as {header: text}."""
        found = (self.cells if frame is None else frame).filter(pl.col("row") == number)
        values = found.row(0)[1:] if len(found) else [""] * len(self.header)
        return dict(zip(self.header, values))


def is_note_row(cells: list[str]) -> bool:
    """填表人：…, 审核人：…, 填报日期：…, 备注：… — a row whose first filled cell, among its
    first three, is such a note (the rest of the row may hold names, dates, more notes)."""
    first = next((c for c in cells[:3] if c), "")
    return bool(first) and bool(NOTE_RE.search(re.sub(r"\s", "", unicodedata.normalize(
        "NFKC", first))))


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
def _csv_grid(path: Path, text: str) -> list[tuple[str, Iterable[list[str]], set]]:
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


def _is_group_row(row: list[str], r: int, merged: set, words: HeaderWords) -> bool:
    """Whether the row above the first header row holds the groups of the columns below
    it (基本情况 | 处罚情况): merged cells spanning some columns (not a title over all of
    them), or, in a CSV, several groups — never a note, a known field or numbers."""
    filled = [c for c in row if c]
    if not filled or is_note_row(row) or any(DATA_LIKE.fullmatch(c) or words.is_header_cell(c)
                                             for c in filled):
        return False
    spans = {c for (rr, c) in merged if rr == r}
    if spans:
        return len(spans) < len(row) or len(set(filled)) > 1
    return len(set(filled)) > 1


def _added(above: list[str], row: list[str]) -> list[str]:
    """The cells of ``row`` that are not a vertically merged cell's copy of ``above``."""
    return [v for c, v in enumerate(row) if v and (c >= len(above) or v != above[c])]


def _continues(above: list[str], row: list[str], words: HeaderWords) -> bool:
    """Whether ``row`` is one more header row under ``above``: what it adds reads as header
    words (at least half of it), none as data."""
    new = _added(above, row)
    if not new or any(DATA_LIKE.fullmatch(v) for v in new):
        return False
    return sum(1 for v in new if words.is_header_part(v)) * 2 >= len(new)


def _depth(head: list[list[str]], first: int, words: HeaderWords) -> int:
    """How many rows below the first header row continue it (0–2): the last of them names
    fields (一般, 罚款（万元）), a middle one may hold groups only (隐患 | 整改情况)."""
    for extra in range(MAX_HEADER_ROWS - 1, 0, -1):
        rows = head[first:first + extra + 1]
        if len(rows) < extra + 1 or not _continues(rows[-2], rows[-1], words):
            continue
        middle = [_added(a, r) for a, r in zip(rows[:-2], rows[1:-1])]
        if all(new and not any(DATA_LIKE.fullmatch(v) for v in new) for new in middle):
            return extra
    return 0


def combine_header(rows: list[list[str]]) -> list[str]:
    """Column names of a header of several rows, each the path of its non-empty cells
    (``处罚情况/罚款（万元）``). A blank cell of a group row right of a group whose columns
    have names below is part of that group (how a CSV writes a merged cell)."""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    filled = [list(r) for r in rows]
    for k in range(len(rows) - 1):
        below = [any(rows[j][c] for j in range(k + 1, len(rows))) for c in range(width)]
        for c in range(1, width):
            if not rows[k][c] and below[c] and filled[k][c - 1] and below[c - 1]:
                filled[k][c] = filled[k][c - 1]
    names = []
    for c in range(width):
        parts: list[str] = []
        for row in filled:
            if row[c] and (not parts or parts[-1] != row[c]):
                parts.append(row[c])
        names.append("/".join(parts))
    return names


def _find_table(name: str, grid, merged: set, words: HeaderWords) -> Sheet | None:
    """Header = the first row of the first ten with at least two known header cells, with
    the group row above it and up to two rows below it that continue it (merged parents
    over named children: '隐患/一般')."""
    rows = iter(grid)
    head = list(itertools.islice(rows, MAX_HEADER_SEARCH + MAX_HEADER_ROWS))
    best = next((r for r, row in enumerate(head[:MAX_HEADER_SEARCH])
                 if sum(1 for c in row if c and words.is_header_cell(c)) >= 2
                 and not is_note_row(row)), None)
    if best is None:
        return None
    levels = list(range(best, best + 1 + _depth(head, best, words)))
    if best > 0 and len(levels) < MAX_HEADER_ROWS and _is_group_row(head[best - 1], best - 1,
                                                                     merged, words):
        levels.insert(0, best - 1)
    header = combine_header([head[r] for r in levels])
    start = levels[-1] + 1
    width = len(header)
    notes = [(r + 1, (row + [""] * width)[:width]) for r, row in enumerate(head[:levels[0]])
             if is_note_row(row)]
    kept: list[tuple[int, list[str]]] = []
    totals: list[tuple[int, list[str]]] = []
    stray: dict[int, list[str]] = {}
    for r, row in enumerate(itertools.chain(head[start:], rows), start=start):
        cells = (row + [""] * width)[:width]
        extra = [c for c in row[width:] if c]
        if not any(cells) and not extra:
            continue  # blank separator row
        if is_note_row(cells):
            notes.append((r + 1, cells))
            continue
        if extra:
            stray[r + 1] = extra  # kept, so validation can name the stray cells
        (totals if is_total_row(cells) else kept).append((r + 1, cells))
    return Sheet(name=name, header=header, cells=_frame(kept, width),
                 totals=_frame(totals, width), stray=stray, notes=_frame(notes, width))


def _frame(rows: list[tuple[int, list[str]]], width: int) -> pl.DataFrame:
    data: dict[str, list[int] | list[str]] = {"row": [r for r, _ in rows]}
    data.update({str(i): [cells[i] for _, cells in rows] for i in range(width)})
    return pl.DataFrame(data, schema={"row": pl.Int64, **{str(i): pl.String
                                                          for i in range(width)}})


@contextlib.contextmanager
def mapped_file(path: Path) -> Iterator[bytes | mmap.mmap]:
    """The file's bytes, mapped rather than read while the block runs: a large ledger is
    served from the page cache instead of being copied into fresh memory (an empty file, or
    one that cannot be mapped, is read)."""
    with open(path, "rb") as f:
        try:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError):
            yield f.read()
            return
    with mapped:
        yield mapped


def _byte_scans(utf8: bytes | mmap.mmap) -> tuple[bool, bool]:
    """(whether any cell can have whitespace to strip, whether a quote or a CR can make rows
    span lines or end otherwise): a few memchr scans, a multi-byte space searched for only
    when its lead byte occurs at all (``find``: a mapped file has no ``in``)."""
    def has(part: bytes) -> bool:
        return utf8.find(part) != -1

    cr = has(b"\r")
    spaced = cr or any(has(c) for c in (b" ", b"\t", b"\x0b", b"\x0c")) or any(
        has(lead) and has(space) for lead, space in (
            (b"\xc2", "\u00a0".encode()), (b"\xe3", "\u3000".encode())))
    return spaced, cr or has(b'"')


def _line_ends(utf8: bytes | mmap.mmap) -> int:
    if isinstance(utf8, bytes):
        return utf8.count(b"\n")
    return int(np.count_nonzero(np.frombuffer(utf8, dtype=np.uint8) == ord("\n")))


def _csv_fast(name: str, utf8: bytes | mmap.mmap, words: HeaderWords,
              source: Path | None = None) -> Sheet | None:
    """A clean CSV (UTF-8, a header of one row in the first ten, no ragged rows) parsed by
    Polars straight from its bytes (or from ``source``, the file ``utf8`` maps); None sends
    the file down the general path. Polars refuses invalid UTF-8, so the text is checked
    without being decoded in Python. A BOM stays: it is on the header line, never parsed."""
    head = utf8[:100_000]
    if len(utf8) > len(head):
        head = head[:head.rfind(b"\n") + 1]
    head = head.removeprefix(b"\xef\xbb\xbf")
    try:
        lines = head.decode("utf-8").split("\n", MAX_HEADER_SEARCH + MAX_HEADER_ROWS)
    except UnicodeDecodeError:
        return None
    rows = [[clean(c) for c in row] for row in csv.reader(
        lines[:MAX_HEADER_SEARCH + MAX_HEADER_ROWS - 1])]
    best = next((r for r, row in enumerate(rows[:MAX_HEADER_SEARCH])
                 if sum(1 for c in row if c and words.is_header_cell(c)) >= 2
                 and not is_note_row(row)), None)
    if best is None:
        return None
    if _depth(rows, best, words) or (
            best > 0 and _is_group_row(rows[best - 1], best - 1, set(), words)):
        return None  # a header of several rows: the general path joins them
    header = rows[best]
    names = [str(i) for i in range(len(header))]
    # Byte scans decide whether any cell can have whitespace to strip; they run while
    # Polars parses (which leaves the interpreter free).
    with ThreadPoolExecutor(max_workers=1) as pool:
        scanned = pool.submit(_byte_scans, utf8)
        try:
            # bytes(): a no-op on the bytes given when there is no file (a map has a file)
            frame = pl.read_csv(source if source is not None else bytes(utf8),
                                has_header=False, skip_rows=best + 1,
                                new_columns=names, schema={n: pl.String for n in names},
                                quote_char='"', truncate_ragged_lines=False, glob=False)
        except (pl.exceptions.PolarsError, ValueError):
            return None  # not UTF-8, ragged rows, odd quoting: the general path names them
        spaced, quoted_or_cr = scanned.result()
    # Polars keeps blank lines as empty rows, so row numbers follow line numbers unless a
    # quoted cell spans lines (or a lone CR ends one): then count to be sure.
    if quoted_or_cr and len(frame) != (
            _line_ends(utf8) + (utf8[-1:] != b"\n") - best - 1):
        return None
    if frame.width != len(names):
        return None
    cells = [pl.col(n).fill_null("") for n in names]
    if spaced:
        cells = [c.str.strip_chars() for c in cells]
    frame = frame.select(pl.int_range(best + 2, best + 2 + len(frame), dtype=pl.Int64)
                         .alias("row"), *[c.alias(n) for c, n in zip(cells, names)])
    is_blank = pl.all_horizontal([pl.col(n) == "" for n in names])
    first = [pl.col(n) for n in names[:3]]
    if spaced:  # "合 计"
        first = [c.str.replace_all(r"\s", "") for c in first]
    is_total = pl.any_horizontal([c.is_in(TOTAL_WORDS) for c in first])
    first_filled = pl.coalesce([pl.when(pl.col(n) != "").then(pl.col(n)) for n in names[:3]])
    # A note starts with a Chinese word: only rows whose first cell does are looked at
    # (data rows mostly start with a number, a date or an id).
    maybe_note = first_filled.str.contains(r"^\s*[^\x00-\x7f]").fill_null(False)
    kind = frame.select(is_blank.alias("blank"), is_total.alias("total"),
                        maybe_note.alias("note"), first_filled.alias("first"))
    width = len(header)
    above = _frame([(r + 1, (row + [""] * width)[:width]) for r, row in enumerate(rows[:best])
                    if is_note_row(row)], width)
    blank, total, note = (kind.get_column(c) for c in ("blank", "total", "note"))
    if note.any():
        # As is_note_row, less NFKC: the note words have no compatibility forms, and the
        # pattern takes full-width colons (normalising a million cells costs 0.1 s).
        candidates = note.arg_true()
        found = kind.get_column("first").gather(candidates).str.replace_all(
            r"\s", "").str.contains(NOTE_PATTERN).fill_null(False)
        note = pl.repeat(False, len(note), eager=True).scatter(candidates, found)
    if not (blank.any() or total.any() or note.any()):  # the common case: rows only
        return Sheet(name=name, header=header, cells=frame, totals=frame.clear(),
                     notes=above)
    # blank separator rows (",,,") go
    return Sheet(name=name, header=header, cells=frame.filter(~blank & ~total & ~note),
                 totals=frame.filter(~blank & total & ~note),
                 notes=pl.concat([above, frame.filter(~blank & note)]))


def read_ledger(path: Path, words: HeaderWords,
                data: bytes | mmap.mmap | None = None) -> list[Sheet]:
    """Every table in a CSV/XLSX/XLS file (``data``: its bytes or :func:`map_file`'s map, if
    already open). UserError for a file that is empty, unreadable, or has no recognisable
    header in any sheet."""
    path = Path(path)
    if data is not None:
        return _read_ledger(path, words, data)
    try:
        with mapped_file(path) as data:
            return _read_ledger(path, words, data)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a file") from None


def _read_ledger(path: Path, words: HeaderWords, data: bytes | mmap.mmap) -> list[Sheet]:
    if not len(data) or (data[:65536].isspace() and data[:].isspace()):
        raise UserError(f"{path}: the file is empty")
    fast = None
    grids: Sequence[tuple[str, Iterable[list[str]], set]] | None
    if data[:8].startswith(XLSX_MAGIC):
        grids = _xlsx_grids(path)
    elif data[:8].startswith(XLS_MAGIC):
        grids = _xls_grids(path)
    else:
        if b"\x00" not in data[:4096]:
            fast = _csv_fast(path.stem, data, words,
                             source=path if isinstance(data, mmap.mmap) else None)
        if fast is None:
            text, encoding = decode_text(data[:], path)
            if encoding == "gb18030":
                fast = _csv_fast(path.stem, text.encode("utf-8"), words)
        grids = None if fast is not None else _csv_grid(path, text)
    if grids is None:
        assert fast is not None  # no grids only when the fast path read the file
        sheets = [fast]
    else:
        sheets = [s for s in (_find_table(n, g, m, words) for n, g, m in grids) if s]
    if not sheets:
        raise UserError(f"{path}: no header row found (looked for known column names such as "
                        "检查日期, 所属县区, 企业名称 in the first 10 rows of every sheet)")
    return sheets

"""Reading and writing small files the user edits or keeps: YAML read as plain data (errors
name the line and column), and writes that leave either the old file or the new one, never
half of either."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import yaml

from safetyviz.core.errors import UserError


def read_yaml(path: Path, what: str):
    """The plain data (mappings, lists, strings, numbers) in the YAML file ``path``; a tag
    that would build a Python object, a syntax error or an unreadable file is a UserError
    naming the file, line and column. ``what`` says what the file is, for the message."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{path}{where}: not plain YAML data ({problem})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the {what} ({exc})") from None


def write_atomically(out: Path, content: bytes, mode: int | None = None) -> None:
    """Write ``content`` to ``out`` through a temporary file in the same folder, synced and
    renamed over ``out``. ``mode``: the file's permissions (default: as ``open()`` would
    create it, under the umask)."""
    out = Path(out)
    if not out.parent.is_dir():
        raise UserError(f"{out}: folder {out.parent} does not exist")
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_quarantine(path: Path, rejected: list[dict], headers: list[str]) -> None:
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

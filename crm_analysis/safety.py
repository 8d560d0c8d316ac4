"""The shared safety checks: text from data becomes a path, a file or a spreadsheet cell
only through this module.

A DMS export is written by many hands, so a store id, a student id, a model or a
customer name is untrusted text. Three rules (README, "Security and privacy"):

- **Contained paths** -- :func:`check_path_part` lets an id become a folder or file name
  only when it is a plain name (letters and digits of any script, ``.``, ``_``, ``-``; at most
  :data:`MAX_PART_LENGTH` characters; not ``.``/``..`` nor a reserved device name), and
  :func:`contained` joins names under an output folder and refuses any result outside it.
- **Formula-safe spreadsheets** -- :func:`spreadsheet_text` applies OWASP's CSV-injection
  rule: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
  (and not a plain number) is written as text. :func:`write_csv` prefixes it with a single
  quote; :func:`put_cell` stores it in an .xlsx as a string cell with Excel's quote prefix,
  so the workbook keeps the text exactly and never evaluates it. Numbers stay numbers.
  :func:`write_csv` and :func:`write_xlsx` are the package's one writer of tables.
- **No half-written file** -- :func:`atomic_path` writes to a temporary file beside the
  target and renames it into place only when the write finished, so a full disk or a
  killed process never leaves a truncated file that looks finished.

Example
-------
>>> check_path_part("S001", "store id")
'S001'
>>> check_path_part("../../x", "store id", where="report")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: report: store id '../../x' cannot be used as a folder or file name: use ...
>>> spreadsheet_text('=HYPERLINK("http://x","y")'), spreadsheet_text("-12.5")
('\\'=HYPERLINK("http://x","y")', '-12.5')
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "FORMULA_PREFIXES",
    "MAX_PART_LENGTH",
    "atomic_path",
    "check_path_part",
    "contained",
    "is_formula_text",
    "is_safe_part",
    "put_cell",
    "spreadsheet_text",
    "write_csv",
    "write_text",
    "write_xlsx",
]

#: The longest id that may become a folder or file name (file systems allow 255 bytes;
#: a report name adds the notebook's name and a suffix to it).
MAX_PART_LENGTH = 64
# a letter or digit of any script (store ids such as 北京一店 are common), then letters,
# digits, ".", "_" and "-"; str.isalnum() is False for separators, spaces, controls and
# the invisible format characters (bidi overrides), so none of those can get in
_PART_RE = re.compile(r"[^\W_][\w.-]*")
# Names Windows reserves for devices, in any case and with any extension (a report folder
# may be copied to a Windows share).
_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(1, 10)]
    + [f"lpt{i}" for i in range(1, 10)])

#: First characters that make a spreadsheet program read a cell as a formula (OWASP,
#: "CSV Injection"): ``=``, ``+``, ``-``, ``@``, tab and carriage return.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


# ============================================================================ paths


def is_safe_part(value: Any) -> bool:
    """Whether ``value`` may be used as one folder or file name (see :func:`check_path_part`)."""
    return (isinstance(value, str) and len(value) <= MAX_PART_LENGTH
            and _PART_RE.fullmatch(value) is not None
            and all(ch.isalnum() or ch in "._-" for ch in value)
            and value.split(".")[0].lower() not in _RESERVED)


def check_path_part(value: Any, what: str, *, where: str | None = None) -> str:
    """``value`` when it is safe as one folder or file name, else a :class:`ValueError`.

    Safe means: a string of letters and digits (of any script: ``北京一店`` is safe), ``.``,
    ``_`` and ``-`` that starts with a letter or a digit (so never ``.``, ``..``, a hidden
    name, an absolute path or a path with a separator), at most :data:`MAX_PART_LENGTH`
    characters, and not a device name that Windows reserves (``CON``, ``NUL``, ``COM1`` ...).

    ``what`` names the value in the error (``"store id"``, ``"student id"``), ``where``
    the command or function that refuses it.
    """
    if is_safe_part(value):
        return value
    lead = f"{where}: " if where else ""
    shown = repr(value) if not isinstance(value, str) or len(value) <= 80 \
        else repr(value[:77] + "...")
    raise ValueError(
        f"{lead}{what} {shown} cannot be used as a folder or file name: use letters and "
        f"digits (any script), '.', '_' and '-' (at most {MAX_PART_LENGTH} characters, "
        "starting with a letter or digit)")


def contained(base: str | os.PathLike[str], *parts: str, where: str | None = None) -> Path:
    """``base / part / ...``, each part checked by :func:`check_path_part`, and the result
    checked to lie inside ``base`` after symbolic links are resolved (a link inside the
    output folder that points elsewhere is refused too)."""
    root = Path(base).resolve()
    for p in parts:
        check_path_part(p, "name", where=where)
    path = root.joinpath(*parts)
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        lead = f"{where}: " if where else ""
        raise ValueError(f"{lead}{path} would lie outside {root}")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed to ``path`` when the block
    ends without an error, deleted when it fails (a full disk, an interrupt)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file 0600: give it the mode a plain open() would have given
        os.chmod(tmp, _mode_of(target))
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename in (tmp, None):
            # name the file the user knows, not the temporary one
            raise OSError(exc.errno, exc.strerror, str(target)) from exc
        raise


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`."""
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask


def _mode_of(target: Path) -> int:
    """The permission bits ``target`` keeps (when it exists) or gets from the umask."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


# ===================================================================== spreadsheets


def is_formula_text(value: Any) -> bool:
    """Whether a spreadsheet program could read ``value`` as a formula: a string that
    starts with one of :data:`FORMULA_PREFIXES` and is not a plain number."""
    return (isinstance(value, str) and value.startswith(FORMULA_PREFIXES)
            and _NUMBER_RE.fullmatch(value) is None)


def spreadsheet_text(value: Any) -> Any:
    """``value`` made safe for a CSV cell: formula-like text gets a leading ``'``
    (OWASP's rule); numbers, dates and other text are returned unchanged."""
    return "'" + value if is_formula_text(value) else value


def _safe_frame(frame: Any) -> Any:
    """A copy of ``frame`` whose text cells went through :func:`spreadsheet_text`, and
    whose column names too."""
    import pandas as pd

    df = pd.DataFrame(frame).copy()
    for col in df.columns:
        s = df[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype) \
                or isinstance(s.dtype, pd.CategoricalDtype):
            df[col] = s.astype(object).map(spreadsheet_text)
    df.columns = [spreadsheet_text(str(c)) for c in df.columns]
    return df


def write_csv(frame: Any, path: str | os.PathLike[str], *, encoding: str = "utf-8-sig",
              index: bool = False) -> Path:
    """Write ``frame`` to ``path`` as CSV, formula-safe and atomically.

    ``utf-8-sig`` (UTF-8 with a byte-order mark) is the default so that Excel opens
    Chinese text correctly. Rows end in CRLF (RFC 4180), which also makes the writer quote
    every field holding a bare CR: unquoted, a spreadsheet program would start a new row
    there, and the text after the CR (``=...``) would be a cell of its own.
    """
    target = Path(path)
    df = _safe_frame(frame)
    with atomic_path(target) as tmp:
        df.to_csv(tmp, index=index, encoding=encoding, lineterminator="\r\n")
    return target


def _excel_value(value: Any) -> Any:
    """A Python value openpyxl can write: None for missing, plain numbers and datetimes."""
    import numpy as np
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp | np.datetime64):
        ts = pd.Timestamp(value)
        return None if pd.isna(ts) else ts.to_pydatetime().replace(tzinfo=None)
    if isinstance(value, str):
        return value
    return str(value)


def put_cell(ws: Any, row: int, column: int, value: Any) -> Any:
    """Write ``value`` into an openpyxl worksheet cell and return the cell.

    Text is always stored as a string cell (never a formula, whatever it starts with);
    formula-like text also gets Excel's quote prefix, so that editing the cell keeps it
    text. Missing values (None, NaN, NaT) leave the cell empty.
    """
    v = _excel_value(value)
    cell = ws.cell(row=row, column=column)
    cell.value = v
    if isinstance(v, str):
        cell.data_type = "s"  # openpyxl would store "=..." as a formula
        if is_formula_text(v):
            cell.quotePrefix = True
    return cell


def write_xlsx(sheets: Mapping[str, Any], path: str | os.PathLike[str] | Any, *,
               max_width: int = 40) -> Any:
    """Write one worksheet per ``{sheet name: table}`` to ``path`` (or a binary buffer),
    formula-safe (:func:`put_cell`) and atomically, with a bold header row and column
    widths fitted to the text (at most ``max_width`` characters)."""
    import pandas as pd
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    for name, frame in sheets.items():
        df = pd.DataFrame(frame)
        ws = wb.create_sheet(str(name)[:31])
        widths = []
        for j, col in enumerate(df.columns, start=1):
            put_cell(ws, 1, j, str(col)).font = Font(bold=True)
            widths.append(len(str(col)))
        for i, row in enumerate(df.itertuples(index=False, name=None), start=2):
            for j, value in enumerate(row, start=1):
                cell = put_cell(ws, i, j, value)
                if cell.value is not None:
                    widths[j - 1] = max(widths[j - 1], len(str(cell.value)))
        for j, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(j)].width = min(w + 2, max_width)
    if hasattr(path, "write"):
        wb.save(path)
        return path
    target = Path(path)
    with atomic_path(target) as tmp:
        wb.save(tmp)
    return target

"""Load real DMS exports into a valid :class:`~crm_analysis.schema.Dataset`.

:func:`load` takes whatever a dealer management system exported — one flat sheet (one row
per repair order, customer and vehicle columns repeated on every row), or separate
customer / vehicle / order (and store) tables, a folder of monthly files, several stores
— as CSV (UTF-8 with or without BOM, GBK / GB18030, UTF-16; ``,`` ``;`` or tab
delimited), Excel ``.xlsx`` (every sheet; title rows above the header and a totals row
at the bottom are recognised) or Parquet, with Chinese or English headers
(:data:`crm_analysis.io.normalize.HEADER_ALIASES`), and returns a :class:`LoadResult`:

``dataset``
    the accepted rows as a :class:`~crm_analysis.schema.Dataset` in the canonical model;
    ``dataset.validate()`` reports no violation.
``quarantine``
    one row per source row that was not used: ``file``, ``sheet``, ``row`` (1-based, as
    a spreadsheet or a text editor shows it), ``table``, ``reason`` (a code of
    :data:`~crm_analysis.io.normalize.REASONS`), ``message`` and ``raw`` (a dict of the
    row's values under their source headers; personal data pseudonymized).
``flags``
    rows that were kept but deserve a look (``mileage_backwards``, ``unknown_vin``,
    ``conflicting_repeat``, ``unknown_value``, ``duplicate_case``, ``null_text``):
    ``file``, ``sheet``, ``row``, ``table``, ``reason``, ``key``, ``message``.
``report``
    one row per (file, sheet, table): ``kind`` (``flat``, ``orders``, ``vehicles``,
    ``customers``, ``stores``), ``title_rows`` skipped above the header, ``read`` (data
    rows below the header), ``accepted``, ``duplicates`` (exact repeats merged),
    ``quarantined`` and one count column per quarantine reason. ``read = accepted +
    duplicates + quarantined`` on every row; :meth:`LoadResult.check` asserts it and
    :func:`load` calls it.

Rules applied (all stated here so that a reader of a report can look them up):

- A row whose cells are all empty is ``blank_row``; a row whose first non-empty cell is
  合计 / 总计 / 小计 / Total is ``summary_row``.
- Exact repeats of an order (same parsed content, e.g. the same order in two overlapping
  monthly files, whatever the date format) are kept once and counted as ``duplicates``;
  the same ``ro_id`` with different content quarantines every copy
  (``duplicate_order_conflict``). A repeated vehicle or customer row with different
  content: the last row read wins and a ``conflicting_repeat`` flag is raised.
- Flat exports: a vehicle's attributes (owner, home store, sale date, model, ...) and a
  customer's (name, phone, ...) come from their **most recent order** that has a value
  (by ``open_date``, then ``ro_id``); disagreeing values are flagged
  ``conflicting_repeat``. Separate vehicle / customer tables win over values taken from
  orders.
- Money: a missing component (labour, parts, other) counts as 0, an order with only a
  total puts it in ``other_amount``, and a missing total is the sum of the components;
  a total that differs from the sum by more than 0.01 is quarantined as
  ``total_mismatch``. Negative amounts or mileage are ``negative_amount``
  (refunds are not told apart: the data model has no negative revenue).
- A missing ``ro_type`` is ``other``; a missing ``payer`` is ``warranty`` for warranty
  orders and ``customer`` otherwise. Defaults for other required fields the export may
  lack are in :data:`DEFAULTS`.
- An order whose VIN has no vehicle row gets a vehicle with unknown sale date (flag
  ``unknown_vin``); customers and stores referenced but not described get a minimal row.
- ``as_of``: orders opened (or closed) after it are ``order_after_as_of``; without
  ``as_of`` it is the latest date in the accepted data (``dataset.meta["as_of"]``), and a
  date later than tomorrow (the day :func:`load` runs + 1, for time zones) is
  ``future_date``: an export cannot hold future dates, and one typo (2100-01-02) must not
  become the as-of date of every analysis.
- Bounds: an amount above :data:`~crm_analysis.io.normalize.MAX_ORDER_AMOUNT` (1,000,000
  yuan) on one order is ``implausible_amount``, a mileage above
  :data:`~crm_analysis.io.normalize.MAX_MILEAGE_KM` (10,000,000 km) ``implausible_mileage``.
  NaN / NULL-like text (``nan``, ``NULL``, ``None``, ``N/A``, ...) in a number, date or
  coded cell is read as an empty cell, by the rules for empty cells, and the row is
  flagged ``null_text`` (never taken for an empty cell silently).
- Ids that differ only in upper / lower case: order numbers are one number (the spelling
  first read is kept): copies with otherwise identical content are merged (counted as
  duplicates, flagged ``duplicate_case``), copies with different content are all set aside
  (``duplicate_case``). Customer and store ids so written are kept as read (two
  customers, two stores) and flagged ``duplicate_case``.
- Store ids become folder and file names of reports: one that is not a plain name
  (:func:`crm_analysis.safety.check_path_part`: ``../../tmp/x``, ``a/b``, ``CON``) is a
  :class:`DataError` naming file, column and row, not a quarantine reason (every row of
  that store would go).
- Workbooks are checked before they are opened: more than :data:`MAX_WORKBOOK_BYTES`
  (200 MB) unpacked, a member packed more than :data:`MAX_COMPRESSION_RATIO` to 1, or a
  cell of more than :data:`MAX_CELL_CHARS` (32,767, Excel's limit) characters is a
  :class:`DataError`. CSV lines ended by a bare CR are read as lines; a text file cut in
  the middle of a character is a :class:`DataError` naming the byte.
- Privacy: ``name``, ``phone``, ``plate`` and ``id_number`` are replaced by keyed
  pseudonyms (:func:`crm_analysis.privacy.pseudonymize`) unless ``keep_pii=True``; the
  key is ``key`` or the one kept in the folder of the first input
  (:func:`crm_analysis.privacy.store_key`). In the quarantine's ``raw`` the service
  advisor (an employee) is pseudonymized as well; the dataset keeps advisor names for
  the advisor analyses. Source columns that match no canonical
  column are not kept (they are listed in ``report["unmatched"]``), so unknown personal
  columns do not leak into the dataset or the quarantine.

Example
-------
>>> import tempfile, pathlib
>>> text = ("工单号,进厂日期,车架号,客户编号,客户名称,业务类型,工时费,材料费,合计金额\\n"
...         "R1,2023/1/5,LSVAA4180E2000001,C1,张三,首保,100,\\"1,200\\",1300\\n"
...         "R2,2023年2月6日,LSVAA4180E2000001,C1,张三,钣喷,50,50,999\\n"
...         "合计,,,,,,150,1250,2299\\n")
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = pathlib.Path(tmp) / "export.csv"
...     _ = path.write_bytes(text.encode("gbk"))
...     res = load(path, store_id="007", key="secret")
>>> res.dataset
Dataset(stores=1, customers=1, vehicles=1, repair_orders=1, truth=None, as_of='2023-01-05')
>>> res.quarantine[["row", "reason"]].to_dict("records")
[{'row': 3, 'reason': 'total_mismatch'}, {'row': 4, 'reason': 'summary_row'}]
>>> res.report[["read", "accepted", "duplicates", "quarantined"]].iloc[0].tolist()
[3, 1, 0, 2]
>>> res.dataset.customers["name"].tolist() != ["张三"]
True
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import os
import re
import unicodedata
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crm_analysis import privacy
from crm_analysis._inputs import read_as_of
from crm_analysis.io.normalize import (
    MAX_MILEAGE_KM,
    MAX_ORDER_AMOUNT,
    QUARANTINE_REASONS,
    REASONS,
    VIN_PATTERN,
    DataError,
    _factorize,
    _null_text_mask,
    clean_id,
    load_mapping,
    map_values,
    match_headers,
    parse_amounts,
    parse_dates,
    require_columns,
    unmatched_headers,
)
from crm_analysis.safety import check_path_part, is_safe_part
from crm_analysis.schema import TABLES, TOTAL_TOLERANCE, Dataset, coerce

__all__ = [
    "DEFAULTS",
    "EXTENSIONS",
    "FLAG_COLUMNS",
    "MAX_CELL_CHARS",
    "MAX_COMPRESSION_RATIO",
    "MAX_WORKBOOK_BYTES",
    "QUARANTINE_COLUMNS",
    "DataWarning",
    "LoadResult",
    "load",
]

#: File suffixes read from a folder, and the reader used (files named explicitly are
#: recognised by content as well).
EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".xls": "xls",
    ".parquet": "parquet",
    ".pq": "parquet",
}

#: Values used when an export lacks a field the data model requires.
DEFAULTS: dict[str, Any] = {
    "customer_type": "individual",
    "sold_here": False,
    "model": "unknown",
    "city": "unknown",
}

#: Columns of :attr:`LoadResult.quarantine`.
QUARANTINE_COLUMNS: tuple[str, ...] = ("file", "sheet", "row", "table", "reason", "message",
                                       "raw")
#: Columns of :attr:`LoadResult.flags`.
FLAG_COLUMNS: tuple[str, ...] = ("file", "sheet", "row", "table", "reason", "key", "message")

#: The most an .xlsx workbook may unpack to (the sum of the sizes of its zip members,
#: which :mod:`zipfile` never reads past): 200 MB, about six million cells, which
#: openpyxl takes minutes to read. Larger exports belong in CSV or Parquet, or in one
#: file per month. Checked before the workbook is opened.
MAX_WORKBOOK_BYTES = 200_000_000
#: The most characters one cell of an .xlsx workbook may hold: Excel's own limit, so no
#: workbook saved by Excel exceeds it. Checked on the shared strings and the sheets
#: before the workbook is opened.
MAX_CELL_CHARS = 32_767
#: The highest ratio of unpacked to packed size of a workbook member larger than 1 MB.
#: Sheets of real exports pack 5-20 to 1; a sheet of one character repeated (a "zip
#: bomb") packs about 1000 to 1.
MAX_COMPRESSION_RATIO = 100
_RATIO_MIN_BYTES = 1_000_000
_HEADER_SCAN_ROWS = 30
#: Characters of a CSV's text searched for its header row and delimiter.
_SNIFF_CHARS = 1 << 20
_MIN_HEADER_MATCHES = 3
_SUMMARY_LABELS = frozenset({"合计", "总计", "小计", "总合计", "合计金额合计", "total", "totals",
                             "grandtotal", "subtotal", "sum"})
#: A character every entry of _SUMMARY_LABELS has before NFKC and lower-casing.
_SUMMARY_HINT = "[计tsTSｔｓＴＳ]"
_DELIMITERS = (",", ";", "\t")

_VEHICLE_ONLY = ("sold_here", "sale_date", "model", "grade", "usage", "plate", "color")
_CUSTOMER_ONLY = ("name", "phone", "customer_type", "occupation", "region", "first_seen_date",
                  "id_number")
_STORE_ONLY = ("store_name", "city", "opened_date")
_ID_COLS = ("ro_id", "vin", "customer_id", "store_id")
_PII = ("name", "phone", "plate", "id_number")
# The quarantine shows source rows to whoever repairs the export: every person named
# there is pseudonymized, the service advisor (an employee) too. The dataset keeps
# advisor names, which the advisor analyses need.
_QUARANTINE_PII = (*_PII, "advisor")
_CODED = ("ro_type", "payer", "sold_here", "customer_type", "usage", "grade")
_AMOUNTS = ("labor_amount", "parts_amount", "other_amount")
_KIND_TABLE = {"flat": "repair_orders", "orders": "repair_orders", "vehicles": "vehicles",
               "customers": "customers", "stores": "stores"}
_KIND_KEY = {"flat": "ro_id", "orders": "ro_id", "vehicles": "vin", "customers": "customer_id",
             "stores": "store_id"}


def _kinds() -> dict[str, str]:
    out: dict[str, str] = {}
    for table in ("stores", "customers", "vehicles", "repair_orders"):
        for col, kind in TABLES[table].items():
            out.setdefault(col, kind)
    out["id_number"] = "str"
    return out


_COL_KIND = _kinds()


# ---------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------


@dataclass(eq=False)
class LoadResult:
    """What :func:`load` returns: the dataset, the quarantine, the flags and the report.

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> res = LoadResult(example_dataset(), _empty(QUARANTINE_COLUMNS),
    ...                  _empty(FLAG_COLUMNS), pd.DataFrame(
    ...                      {"read": [3], "accepted": [2], "duplicates": [1],
    ...                       "quarantined": [0]}))
    >>> res.check() is res
    True
    """

    dataset: Dataset
    quarantine: pd.DataFrame
    flags: pd.DataFrame
    report: pd.DataFrame
    meta: dict = field(default_factory=dict)

    def check(self) -> LoadResult:
        """Assert ``read = accepted + duplicates + quarantined`` on every report row.

        Raises :class:`AssertionError` naming the file and sheet otherwise; returns self.

        Example
        -------
        >>> bad = LoadResult(None, None, None, pd.DataFrame(
        ...     {"file": ["a.csv"], "sheet": [""], "read": [3], "accepted": [2],
        ...      "duplicates": [0], "quarantined": [0]}))
        >>> try:
        ...     bad.check()
        ... except AssertionError as err:
        ...     print(err)
        a.csv []: read 3 != accepted 2 + duplicates 0 + quarantined 0
        """
        r = self.report
        if len(r) == 0:
            return self
        total = r["accepted"] + r["duplicates"] + r["quarantined"]
        bad = r[total != r["read"]]
        if len(bad):
            lines = [
                f"{row.get('file', '?')} [{row.get('sheet', '')}]: read {row['read']} != "
                f"accepted {row['accepted']} + duplicates {row['duplicates']} + "
                f"quarantined {row['quarantined']}"
                for _, row in bad.iterrows()
            ]
            raise AssertionError("\n".join(lines))
        return self

    def summary(self) -> pd.DataFrame:
        """Quarantined rows by reason (columns ``reason``, ``count``, ``description``).

        Example
        -------
        >>> from crm_analysis.schema import example_dataset
        >>> LoadResult(example_dataset(), _empty(QUARANTINE_COLUMNS), _empty(FLAG_COLUMNS),
        ...            pd.DataFrame()).summary()
        Empty DataFrame
        Columns: [reason, count, description]
        Index: []
        """
        q = self.quarantine
        if q is None or len(q) == 0:
            return pd.DataFrame({"reason": [], "count": [], "description": []})
        out = q.groupby("reason", sort=True).size().reset_index(name="count")
        out["description"] = [REASONS.get(r, (r, r))[0] for r in out["reason"]]
        return out

    def __repr__(self) -> str:
        r = self.report
        if r is None or len(r) == 0:
            return f"LoadResult({self.dataset!r}, nothing read)"
        skipped = len(self.meta.get("skipped_sheets", []))
        return (f"LoadResult({self.dataset!r}, read={int(r['read'].sum())}, "
                f"accepted={int(r['accepted'].sum())}, duplicates={int(r['duplicates'].sum())}, "
                f"quarantined={int(r['quarantined'].sum())}, flags={len(self.flags)}"
                + (f", skipped_sheets={skipped})" if skipped else ")"))


class DataWarning(UserWarning):
    """Something in the input was not loaded but is not an error: a workbook sheet with no
    recognisable header next to a sheet that was read (listed in
    ``result.meta["skipped_sheets"]``)."""


def _empty(columns: Iterable[str]) -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    if "row" in df.columns:
        df["row"] = df["row"].astype("Int64")
    return df


# ---------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Sheet:
    file: str
    sheet: str
    title_rows: int
    raw: pd.DataFrame  # source headers (made unique), positional index
    rows: np.ndarray  # 1-based source row numbers
    columns: dict[str, str] = field(default_factory=dict)  # source header -> canonical
    kind: str = ""
    store_id: str | None = None
    unmatched: list[str] = field(default_factory=list)
    filled: np.ndarray | None = None  # rows with at least one filled cell
    malformed: dict[int, str] = field(default_factory=dict)  # row position -> message
    # other sheets of the same workbook that were not read: (sheet, non-empty rows, why)
    skipped: list[tuple[str, int, str]] = field(default_factory=list)


def _collect(paths: Any) -> list[Path]:
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = []
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if (f.is_file() and f.suffix.lower() in EXTENSIONS
                        and not any(part.startswith((".", "~$")) for part in rel)):
                    found.append(f)
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    seen: set[Path] = set()
    unique = []
    for f in out:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(f)
    if not unique:
        raise DataError(f"no data files (.csv, .txt, .xlsx, .parquet) found in "
                        f"{', '.join(str(p) for p in paths)}")
    return unique


def _cell_text(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    return str(v).strip()


def _unique_names(cells: list[Any], where: str) -> list[str]:
    """Source headers as text; empty ones named ``column_<n>``, repeats of unknown headers
    suffixed ``.1``, ``.2``; a repeated known header is a :class:`DataError`."""
    names: list[str] = []
    first: dict[str, int] = {}
    for j, c in enumerate(cells):
        name = str(c) if _cell_text(c) else f"column_{j + 1}"
        if name in first:
            if match_headers([name]):
                raise DataError(f"{where}: duplicate column header {name!r} (columns "
                                f"{first[name] + 1} and {j + 1}); rename or remove one of them",
                                file=where, columns=[name])
            k = 1
            while f"{name}.{k}" in first:
                k += 1
            name = f"{name}.{k}"
        first[name] = j
        names.append(name)
    return names


def _header_score(cells: list[Any], mapping: Mapping | None) -> int:
    names = list(dict.fromkeys(t for t in (_cell_text(c) for c in cells) if t))
    if not names:
        return 0
    try:
        matched = match_headers(names, mapping=mapping)
    except DataError:  # duplicate headers: the real call reports them
        return _MIN_HEADER_MATCHES
    return len(set(matched.values()))


def _find_header(rows: list[list[Any]], mapping: Mapping | None) -> tuple[int | None, int]:
    best = (None, 0)
    for i, cells in enumerate(rows[:_HEADER_SCAN_ROWS]):
        score = _header_score(cells, mapping)
        if score >= _MIN_HEADER_MATCHES:
            return i, score
        if score > best[1]:
            best = (i, score)
    return None, best[1]


def _no_header(where: str, rows: list[list[Any]], mapping: Mapping | None) -> DataError:
    first = next((r for r in rows if any(_cell_text(c) for c in r)), [])
    seen = [t for t in (_cell_text(c) for c in first) if t]
    try:
        require_columns({}, ["ro_id", "vin", "customer_id"], file=where, columns_seen=seen)
    except DataError as err:
        return DataError(f"{where}: no header row with at least {_MIN_HEADER_MATCHES} known "
                         f"columns in the first {_HEADER_SCAN_ROWS} rows; {err}")
    return DataError(f"{where}: no header row with at least {_MIN_HEADER_MATCHES} known "
                     f"columns in the first {_HEADER_SCAN_ROWS} rows (first row: {seen[:12]})")


def _decode(data: bytes, where: str) -> tuple[str, str]:
    """The text of a CSV file and the encoding it was read with."""
    if not data.strip():
        raise DataError(f"{where}: the file is empty")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as err:
            if _cut_off(err, data):
                raise _cut_off_error(where, "UTF-16", err, data) from None
            raise DataError(f"{where}: not valid UTF-16 text ({err})") from None
    if b"\x00" in data[:8192]:
        enc = _utf16_without_bom(data)
        if enc is not None:
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError as err:
                raise DataError(f"{where}: looks like {enc.upper()} text without a byte order "
                                f"mark but cannot be decoded ({err})") from None
        raise DataError(f"{where}: looks like a binary file, not CSV text (NUL bytes); "
                        "save it as CSV, .xlsx or Parquet")
    errors: dict[str, UnicodeDecodeError] = {}
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError as err:
            errors[enc] = err
            if enc == "utf-8-sig" and _cut_off(err, data) and not data[:err.start].isascii():
                # UTF-8 text up to a character cut in two at the very end: a truncated
                # file (read as GB18030 it would give garbled text and a misleading
                # "column not found")
                raise _cut_off_error(where, "UTF-8", err, data) from None
            if enc == "gb18030" and _cut_off(err, data):
                name = "UTF-8 or GB18030" if _cut_off(errors["utf-8-sig"], data) else "GB18030"
                raise _cut_off_error(where, name, err, data) from None
            continue
        head = text[:8192]
        ctrl = sum(1 for ch in head if unicodedata.category(ch) == "Cc" and ch not in "\t\r\n")
        if ctrl > max(2, len(head) // 100):
            raise DataError(f"{where}: looks like a binary file, not CSV text "
                            f"({ctrl} control characters in the first {len(head)})")
        return text, enc
    newline = b"\n"
    where_bad = "; ".join(
        f"not {name} from line {data.count(newline, 0, errors[enc].start) + 1}"
        for enc, name in (("utf-8-sig", "UTF-8"), ("gb18030", "GB18030")) if enc in errors)
    raise DataError(f"{where}: cannot decode the text as UTF-8, GBK or GB18030 ({where_bad}; "
                    "the file may mix encodings or use another one such as Big5 or Latin-1); "
                    "save it again as UTF-8 CSV")


def _cut_off(err: UnicodeDecodeError, data: bytes) -> bool:
    """Whether decoding failed only because the data ends inside a character."""
    return err.end >= len(data) and err.reason in (
        "unexpected end of data", "incomplete multibyte sequence", "truncated data")


def _cut_off_error(where: str, encoding: str, err: UnicodeDecodeError, data: bytes
                   ) -> DataError:
    line = data.count(b"\n", 0, err.start) + 1
    return DataError(f"{where}: the file is not valid {encoding} text at byte {err.start:,} "
                     f"(line {line:,}, the end of the file): its last character is cut in "
                     "two. Was the file cut off, e.g. by an interrupted copy, download or "
                     "export? Export or copy it again", file=where)


def _utf16_without_bom(data: bytes) -> str | None:
    """``"utf-16-le"`` / ``"utf-16-be"`` when the NUL bytes of ``data`` sit at every odd /
    even position of mostly-ASCII text (UTF-16 saved without a byte order mark)."""
    head = data[:8192]
    head = head[:len(head) - len(head) % 2]
    if len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    for enc, nul_side, other in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if nul_side.count(0) >= 0.3 * len(nul_side) and other.count(0) <= 0.05 * len(other):
            return enc
    return None


def _read_csv(path: Path, mapping: Mapping | None) -> list[_Sheet]:
    where = str(path)
    text, encoding = _decode(path.read_bytes(), where)
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        # Lines ended by a bare CR (classic Mac OS, some old DMS exports), alone or mixed
        # with other line ends: every CR, CR LF and LF ends a line, as a text editor shows
        # it (a CR inside a quoted cell becomes a LF there).
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # The header is looked for in the first lines only: a StringIO over the whole text of
    # a large export costs seconds per delimiter tried.
    head = text
    if len(text) > _SNIFF_CHARS:
        head = text[:_SNIFF_CHARS]
        head = head[:head.rfind("\n") + 1] or head
    best: tuple[int, int, str, int, list] | None = None  # score, fields, delim, line, header
    for delim in _DELIMITERS:
        reader = csv.reader(io.StringIO(head), delimiter=delim)
        rows, lines = [], []
        try:
            for rec in reader:
                rows.append(rec)
                lines.append(reader.line_num)
                if len(rows) >= _HEADER_SCAN_ROWS:
                    break
        except csv.Error:
            continue
        idx, score = _find_header(rows, mapping)
        if idx is None:
            continue
        cand = (score, len(rows[idx]), delim, lines[idx], rows[idx])
        if best is None or cand[:2] > best[:2]:
            best = cand
    if best is None:
        rows = [r.split(",") for r in _head_lines(text, _HEADER_SCAN_ROWS)]
        err = _no_header(where, rows, mapping)
        if encoding == "gb18030":
            err = DataError(f"{err} (the file is not UTF-8 and was read as GBK/GB18030; if the "
                            "columns found look garbled it is in another encoding, e.g. Big5 "
                            "or Shift-JIS: save it again as UTF-8 CSV)", file=where)
        raise err
    _, _, delim, header_line, header = best
    names = _unique_names(header, where)
    raw, malformed = _read_csv_arrow(text, delim, header_line, names), None
    if raw is None:
        raw, malformed = _read_csv_pandas(text, delim, header_line, names, where)
    title_rows = sum(1 for r in _head_lines(text, header_line - 1) if r.strip())
    sheet = _finish_sheet(where, "", title_rows, raw, header_line + 1)
    if malformed is not None:
        sheet.malformed = {i: m for i, m in malformed.items() if i < len(sheet.raw)}
    return [sheet]


def _read_csv_arrow(text: str, delim: str, header_line: int,
                    names: list[str]) -> pd.DataFrame | None:
    """The body of a regular CSV (every line as many fields as the header) read by
    pyarrow's multi-threaded reader: the cells :func:`_read_csv_pandas` gives (text, NaN
    where empty), as categorical columns, 3-4x faster. The categories let every later
    step (:mod:`crm_analysis.io.normalize`) work on each distinct value once without
    hashing the text again. ``None`` when pyarrow cannot read the file (a ragged line, a
    bare carriage return as line end): the pandas path then decides."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    if "\r" in text and text.count("\r") != text.count("\r\n"):
        return None  # lines ended by a bare CR: pandas and the line count below differ
    data = text.encode("utf-8")
    start = 0
    for _ in range(header_line):
        start = data.find(b"\n", start) + 1
        if start == 0:
            return None
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(pa.py_buffer(data)[start:]),
            read_options=pa_csv.ReadOptions(column_names=names, use_threads=True),
            parse_options=pa_csv.ParseOptions(delimiter=delim, newlines_in_values=True,
                                              ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=True,
                null_values=[""], quoted_strings_can_be_null=True))
    except (pa.ArrowInvalid, ValueError):
        return None
    del data
    # One dictionary per column (reading as dictionaries gives one per block of the file,
    # which to_pandas then has to unify: slower).
    import pyarrow.compute as pa_compute

    cols = {}
    for j, name in enumerate(names):
        cols[name] = pa_compute.dictionary_encode(table.column(j).combine_chunks()).to_pandas()
    del table
    return pd.DataFrame(cols, columns=names, copy=False)


def _read_csv_pandas(text: str, delim: str, header_line: int, names: list[str],
                     where: str) -> tuple[pd.DataFrame, dict[int, str] | None]:
    """The body of a CSV read by pandas; ragged lines go to :func:`_read_ragged_csv`."""
    try:
        with warnings.catch_warnings():
            # a line with one field too many is cut short with only a warning: read the
            # file again line by line so that such lines are quarantined, not truncated
            warnings.simplefilter("error", pd.errors.ParserWarning)
            raw = pd.read_csv(io.StringIO(text), sep=delim, header=None, skiprows=header_line,
                              names=names, dtype=str, keep_default_na=False, na_values=[""],
                              skip_blank_lines=False, index_col=False)
        return raw, None
    except pd.errors.ParserWarning:
        return _read_ragged_csv(text, delim, header_line, names, where)
    except (pd.errors.ParserError, ValueError) as err:
        if not _FIELD_COUNT_ERROR.search(str(err)):
            hint = ("a quote (\") opened in a cell is never closed; " if "EOF inside string"
                    in str(err) else "")
            raise DataError(f"{where}: cannot parse the CSV: {hint}{str(err).strip()}"
                            ) from None
        return _read_ragged_csv(text, delim, header_line, names, where)


_FIELD_COUNT_ERROR = re.compile(r"Expected \d+ fields in line \d+, saw \d+")


def _read_ragged_csv(text: str, delim: str, header_line: int, names: list[str],
                     where: str) -> tuple[pd.DataFrame, dict[int, str]]:
    """Read a CSV whose lines do not all have as many fields as the header.

    Lines with more fields than the header (beyond empty trailing ones) are kept with
    their first fields and reported in the returned ``{row position: message}`` so that
    :func:`load` quarantines them as ``malformed_row``; shorter lines get empty cells, as
    the fast reader gives them. Slower than :func:`pandas.read_csv`, used only when needed.
    """
    width = len(names)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    body: list[list[Any]] = []
    malformed: dict[int, str] = {}
    start = 0
    try:
        for rec in reader:
            if reader.line_num <= header_line:
                continue
            cells = [c if c != "" else None for c in rec]
            if len(cells) > width and any(c is not None for c in cells[width:]):
                malformed[len(body)] = (f"the line has {len(cells)} fields, the header "
                                        f"{width}: a stray {_delim_name(delim)} or line break")
            body.append((cells + [None] * width)[:width])
            start = reader.line_num
    except csv.Error as err:
        raise DataError(f"{where}: cannot parse the CSV at line {reader.line_num} ({err})"
                        ) from None
    if body and reader.line_num > start + 1 and any(
            c is not None and ("\n" in c or "\r" in c) for c in body[-1]):
        # the last record runs over several lines: is it an unterminated quote?
        lines = io.StringIO(text, newline="").readlines()[start:]
        try:
            list(csv.reader(lines, delimiter=delim, strict=True))
        except csv.Error as err:
            if "unexpected end of data" not in str(err):
                return pd.DataFrame(body, columns=names, dtype=object), malformed
            raise DataError(f"{where}: cannot parse the CSV: a quote opened at line "
                            f"{start + 1} is never closed") from None
    return pd.DataFrame(body, columns=names, dtype=object), malformed


def _delim_name(delim: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab"}.get(delim, repr(delim))


def _head_lines(text: str, n: int) -> list[str]:
    """The first ``n`` lines of ``text`` without splitting all of it."""
    out, start = [], 0
    for _ in range(n):
        end = text.find("\n", start)
        if end < 0:
            out.append(text[start:])
            break
        out.append(text[start:end])
        start = end + 1
    return out


def _finish_sheet(file: str, sheet: str, title_rows: int, raw: pd.DataFrame,
                  first_row: int) -> _Sheet:
    raw = raw.reset_index(drop=True)
    nonempty = _nonempty(raw)
    n = len(raw)
    if n and not nonempty.any():
        n = 0
    elif n:
        n = int(np.flatnonzero(nonempty)[-1]) + 1  # drop trailing empty rows
    raw = raw.iloc[:n].reset_index(drop=True)
    return _Sheet(file, sheet, title_rows, raw, np.arange(first_row, first_row + n),
                  filled=nonempty[:n])


def _filled(s: pd.Series) -> np.ndarray:
    """Cells that are not missing and not blank text."""
    filled = s.notna().to_numpy()
    if (s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype)) and filled.any():
        try:
            blank = s.str.strip().eq("").to_numpy(dtype=bool)
        except AttributeError:  # no text at all in the column
            return filled
        filled &= ~blank
    return filled


def _nonempty(raw: pd.DataFrame) -> np.ndarray:
    """Rows with at least one filled cell (columns are looked at only for rows not yet
    known to be filled, so this costs about one column's scan)."""
    out = np.zeros(len(raw), dtype=bool)
    cand = np.arange(len(raw))
    for j in range(raw.shape[1]):
        if len(cand) == 0:
            break
        col = raw.iloc[:, j]
        filled = _filled(col if len(cand) == len(raw) else col.iloc[cand])
        out[cand[filled]] = True
        cand = cand[~filled]
    return out


_XML_CHUNK = 1 << 22
# the members openpyxl reads cells from
_CELL_MEMBERS = re.compile(r"xl/(sharedStrings\.xml|worksheets/[^/]+\.xml)", re.IGNORECASE)


def _check_workbook(path: Path) -> None:
    """Refuse a workbook before openpyxl opens it when it would unpack to more than
    :data:`MAX_WORKBOOK_BYTES`, when a large member packs more tightly than
    :data:`MAX_COMPRESSION_RATIO` to 1, or when a cell holds more than
    :data:`MAX_CELL_CHARS` characters. Only the zip directory is read for the first two;
    the cell check streams the shared strings and the sheets in 4 MB pieces, so memory
    stays small whatever the file holds. A file that is not a readable zip is left to
    openpyxl, whose error says so."""
    where = str(path)
    limit_mb = MAX_WORKBOOK_BYTES / 1e6
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return
    with zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        if total > MAX_WORKBOOK_BYTES:
            raise DataError(f"{where}: the workbook unpacks to {total / 1e6:,.0f} MB, more than "
                            f"the limit of {limit_mb:,.0f} MB for an .xlsx file; save a large "
                            "export as CSV or Parquet, or split it (e.g. one file per month)",
                            file=where)
        for i in infos:
            if i.file_size > _RATIO_MIN_BYTES and \
                    i.file_size > MAX_COMPRESSION_RATIO * max(i.compress_size, 1):
                raise DataError(
                    f"{where}: the workbook member {i.filename} unpacks to "
                    f"{i.file_size / 1e6:,.1f} MB from {i.compress_size / 1e3:,.1f} kB, more "
                    f"than {MAX_COMPRESSION_RATIO} times its packed size (a real export packs "
                    "5 to 20 times): the file looks built to exhaust memory (a zip bomb) and "
                    "is not read", file=where)
        for i in infos:
            if not _CELL_MEMBERS.fullmatch(i.filename):
                continue
            try:
                longest = _longest_text(zf, i)
            except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError,
                    NotImplementedError, RuntimeError) as err:
                raise DataError(f"{where}: cannot read the workbook member {i.filename} "
                                f"({type(err).__name__}: {err}); the file may be truncated or "
                                "damaged", file=where) from None
            if longest > MAX_CELL_CHARS:
                raise DataError(
                    f"{where}: a cell in {i.filename} holds more than {MAX_CELL_CHARS:,} "
                    "characters, Excel's limit for one cell: the workbook is not read (a DMS "
                    "export has no such cell; the file may have been made to exhaust memory)",
                    file=where)


def _longest_text(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
    """The length in characters of the longest text of a workbook XML member, or
    ``MAX_CELL_CHARS + 1`` as soon as one text is longer (the reading stops there).

    First pass: the longest run of bytes without ``<`` (a text, with the tag before it),
    counted with numpy on 4 MB pieces. A text of *n* characters takes at least *n* bytes,
    so when no run is longer than the limit, no text is. Only otherwise (texts of many
    CJK characters or entities, or a real overflow) a second pass parses the XML with
    expat and counts the characters of each text exactly."""
    limit = MAX_CELL_CHARS
    run = longest = 0
    with zf.open(info) as fh:
        while chunk := fh.read(_XML_CHUNK):
            b = np.frombuffer(chunk, dtype=np.uint8)
            lt = np.flatnonzero(b == 0x3C)  # "<"
            if len(lt) == 0:
                run += len(b)
            else:
                inner = int(np.diff(lt).max()) - 1 if len(lt) > 1 else 0
                longest = max(longest, run + int(lt[0]), inner)
                run = len(b) - int(lt[-1]) - 1
            longest = max(longest, run)
    if longest <= limit:
        return longest
    return _longest_text_exact(zf, info)


class _TooLong(Exception):
    pass


def _longest_text_exact(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
    """:func:`_longest_text` by an XML parse (texts between two tags, entities decoded);
    a document type declaration (never in a workbook; entity tricks) is refused."""
    from xml.parsers import expat

    limit = MAX_CELL_CHARS
    state = {"n": 0, "max": 0}

    def characters(data: str) -> None:
        state["n"] += len(data)
        if state["n"] > limit:
            raise _TooLong

    def tag(*_: Any) -> None:
        state["max"] = max(state["max"], state["n"])
        state["n"] = 0

    def doctype(*_: Any) -> None:
        raise ValueError("a document type declaration in a workbook XML part")

    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.CharacterDataHandler = characters
    parser.StartElementHandler = tag
    parser.EndElementHandler = tag
    parser.StartDoctypeDeclHandler = doctype
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(_XML_CHUNK):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except _TooLong:
        return limit + 1
    except expat.ExpatError as err:
        raise ValueError(f"not well-formed XML ({err})") from None
    return max(state["max"], state["n"])


def _read_xlsx(path: Path, mapping: Mapping | None) -> list[_Sheet]:
    import openpyxl

    where = str(path)
    _check_workbook(path)
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError, EOFError) as err:
        raise DataError(f"{where}: cannot open the Excel workbook ({type(err).__name__}: "
                        f"{err}); the file may be truncated or not an .xlsx") from None
    sheets, errors, skipped = [], [], []
    try:
        for ws in wb.worksheets:
            try:
                rows = [list(r) for r in ws.iter_rows(values_only=True)]
            except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError) as err:
                raise DataError(f"{where} [{ws.title}]: cannot read the sheet "
                                f"({type(err).__name__}: {err}); the file may be truncated"
                                ) from None
            if not any(_cell_text(c) for r in rows for c in r):
                continue  # empty sheet
            idx, _ = _find_header(rows, mapping)
            if idx is None:
                errors.append(_no_header(f"{where} [{ws.title}]", rows, mapping))
                why = str(errors[-1]).replace(f"{where} [{ws.title}]: ", "").split(";")[0]
                skipped.append((ws.title, sum(1 for r in rows if any(_cell_text(c) for c in r)),
                                why))
                continue
            # cells right of the header's last column become unnamed columns (not cut off)
            width = max(len(r) for r in rows[idx:])
            names = _unique_names(rows[idx] + [None] * (width - len(rows[idx])),
                                  f"{where} [{ws.title}]")
            body = [r + [None] * (width - len(r)) for r in rows[idx + 1:]]
            raw = pd.DataFrame(body, columns=names, dtype=object)
            title = sum(1 for r in rows[:idx] if any(_cell_text(c) for c in r))
            sheets.append(_finish_sheet(where, ws.title, title, raw, idx + 2))
    finally:
        wb.close()
    if not sheets:
        if errors:
            raise errors[0]
        raise DataError(f"{where}: the workbook has no data")
    sheets[0].skipped = skipped
    return sheets


def _read_parquet(path: Path, mapping: Mapping | None) -> list[_Sheet]:
    where = str(path)
    try:
        raw = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises many types for a damaged file
        raise DataError(f"{where}: cannot read the Parquet file ({type(err).__name__}: "
                        f"{err})") from None
    raw = raw.reset_index(drop=True)
    raw.columns = _unique_names(list(raw.columns), where)
    for c in raw.columns:
        if raw[c].dtype == object:
            nested = raw[c].map(lambda v: isinstance(v, list | tuple | dict | set | np.ndarray))
            if nested.any():  # lists / structs cannot be compared or hashed: use their text
                raw[c] = raw[c].where(~nested, raw[c].map(_nested_text))
    if _header_score(list(raw.columns), mapping) == 0:
        raise _no_header(where, [list(raw.columns)], mapping)
    sheet = _Sheet(where, "", 0, raw, np.arange(1, len(raw) + 1))
    return [sheet]


def _nested_text(v: Any) -> Any:
    """A list / struct cell of a Parquet file: its only element, None when empty, else its
    text (which the checks then judge like any other text)."""
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, list | tuple | set) and len(v) <= 1:
        return next(iter(v), None)
    return str(v)


def _read_xls(path: Path, mapping: Mapping | None) -> list[_Sheet]:
    where = str(path)
    try:
        book = pd.read_excel(path, sheet_name=None, header=None, dtype=object)
    except ImportError:
        raise DataError(f"{where}: old .xls workbooks need the xlrd package; install it or "
                        "save the file as .xlsx") from None
    except Exception as err:
        raise DataError(f"{where}: cannot read the .xls workbook ({err})") from None
    sheets = []
    for name, df in book.items():
        rows = df.where(df.notna(), None).values.tolist()
        idx, _ = _find_header(rows, mapping)
        if idx is None:
            continue
        names = _unique_names(rows[idx], f"{where} [{name}]")
        raw = pd.DataFrame(rows[idx + 1:], columns=names, dtype=object)
        sheets.append(_finish_sheet(where, str(name), idx, raw, idx + 2))
    if not sheets:
        raise DataError(f"{where}: no sheet with a header row")
    return sheets


def _sniff_format(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    fmt = EXTENSIONS.get(path.suffix.lower(), "csv")
    if fmt != "csv" and _looks_like_text(path):
        return "csv"  # e.g. a CSV saved under an .xlsx name
    return fmt


def _looks_like_text(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not head.strip() or b"\x00" in head:
        return False
    for enc in ("utf-8", "gb18030"):
        try:
            text = head.decode(enc)
        except UnicodeDecodeError as err:
            if err.start < len(head) - 4:  # not just a character cut at the end
                continue
            text = head[:err.start].decode(enc)
        return not any(unicodedata.category(ch) == "Cc" and ch not in "\t\r\n" for ch in text)
    return False


_READERS: dict[str, Callable[[Path, Mapping | None], list[_Sheet]]] = {
    "csv": _read_csv,
    "xlsx": _read_xlsx,
    "xls": _read_xls,
    "parquet": _read_parquet,
}


# ---------------------------------------------------------------------------------------
# Matching headers and deciding the kind of each sheet
# ---------------------------------------------------------------------------------------


def _classify(sheet: _Sheet, mapping: Mapping | None, store_param: Any) -> None:
    where = sheet.file + (f" [{sheet.sheet}]" if sheet.sheet else "")
    seen = list(sheet.raw.columns)
    columns = match_headers(seen, mapping=mapping, where=where)
    sheet.columns = dict(columns)
    sheet.unmatched = list(unmatched_headers(seen, mapping=mapping))
    canon = set(columns.values())
    if "ro_id" in canon or {"open_date", "vin"} <= canon:
        extra = canon & set(_VEHICLE_ONLY + _CUSTOMER_ONLY)
        sheet.kind = "flat" if extra else "orders"
        required = ["ro_id", "open_date", "vin", "customer_id", "ro_type"]
        if not canon & {"total_amount", *_AMOUNTS}:
            required.append("total_amount")
    elif "vin" in canon:
        sheet.kind, required = "vehicles", ["vin", "customer_id"]
    elif "customer_id" in canon:
        sheet.kind, required = "customers", ["customer_id"]
    elif "store_id" in canon and canon & set(_STORE_ONLY):
        sheet.kind, required = "stores", ["store_id"]
    else:
        sheet.kind, required = "", ["ro_id", "vin", "customer_id"]
    sheet.store_id = _store_for(store_param, sheet.file)
    if sheet.kind in ("flat", "orders") and sheet.store_id is None:
        required.append("store_id")
    require_columns(columns, required, file=where, columns_seen=seen)


def _store_for(store_param: Any, file: str) -> str | None:
    if store_param is None:
        return None
    if isinstance(store_param, Mapping):
        p = Path(file)
        for k in (file, p.name, p.stem, str(p.resolve())):
            if k in store_param:
                return str(store_param[k])
        return None
    return str(store_param)


# ---------------------------------------------------------------------------------------
# Row bookkeeping
# ---------------------------------------------------------------------------------------


def _concat_rows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Stack the rows of several sheets, column by column: categorical columns (the CSV
    reader's) stay categorical with the union of their categories, columns of one numpy
    dtype keep it; a column missing from a sheet is empty there; any other mix becomes
    object."""
    names = list(dict.fromkeys(c for f in frames for c in f.columns))
    out = {}
    for c in names:
        parts = [f[c] if c in f.columns else pd.Series(np.nan, index=f.index, dtype=object)
                 for f in frames]
        if c.startswith("_"):
            out[c] = np.concatenate([p.to_numpy() for p in parts])
        elif all(isinstance(p.dtype, pd.CategoricalDtype) for p in parts):
            out[c] = pd.api.types.union_categoricals([p.array for p in parts])
        elif len({p.dtype for p in parts}) == 1 and isinstance(parts[0].dtype, np.dtype):
            out[c] = np.concatenate([p.to_numpy() for p in parts])
        else:
            out[c] = np.concatenate([p.to_numpy(dtype=object) for p in parts])
    return pd.DataFrame(out, columns=names)


class _Rows:
    """The rows of one kind (all sheets concatenated) with their status."""

    def __init__(self, sheets: list[tuple[int, _Sheet]], table: str):
        frames = []
        for i, sh in sheets:
            cols: dict[str, pd.Series] = {}
            for src, canon in sh.columns.items():
                s = sh.raw[src]
                cols[canon] = s if canon not in cols else (
                    cols[canon].astype(object).combine_first(s.astype(object)))
            f = pd.DataFrame(cols, index=pd.RangeIndex(len(sh.raw)))
            f["_sheet"] = i
            f["_pos"] = np.arange(len(sh.raw))
            f["_row"] = sh.rows
            frames.append(f)
        if len(frames) == 1:
            self.df = frames[0]
        elif frames:
            self.df = _concat_rows(frames)
        else:
            cols = [*TABLES[table], "_sheet", "_pos", "_row"]
            self.df = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        for c in ("_sheet", "_pos", "_row"):
            self.df[c] = self.df[c].astype("int64")
        self.table = table
        n = len(self.df)
        self.reason = np.full(n, None, dtype=object)
        self.message = np.full(n, None, dtype=object)
        self.bad = np.zeros(n, dtype=bool)
        self.dup = np.zeros(n, dtype=bool)

    def where_read(self) -> tuple[np.ndarray, np.ndarray]:
        """The sheet number and source row number of every row (numpy arrays)."""
        return self.df["_sheet"].to_numpy(), self.df["_row"].to_numpy()

    @property
    def ok(self) -> np.ndarray:
        return ~self.bad & ~self.dup

    def mark(self, mask: Any, reason: str, message: str | Callable[[np.ndarray], list[str]]):
        mask = np.asarray(mask, dtype=bool) & self.ok
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return
        self.bad[idx] = True
        self.reason[idx] = reason
        self.message[idx] = [message] * len(idx) if isinstance(message, str) else message(idx)

    def col(self, name: str) -> pd.Series:
        if name in self.df.columns:
            return self.df[name]
        return pd.Series(None, index=self.df.index, dtype=object)


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return "empty"
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat() if v == v.normalize() else v.isoformat()
    return repr(v)


def _values_at(s: pd.Series, idx: np.ndarray) -> list[Any]:
    return s.iloc[idx].to_numpy(dtype=object).tolist()


def _mark_blank_summary(rows: _Rows, sheets: list[_Sheet], key: str) -> None:
    df = rows.df
    if len(df) == 0:
        return
    blank = np.zeros(len(df), dtype=bool)
    for si, grp in df.groupby("_sheet", sort=False).indices.items():
        sh = sheets[si]
        if sh.filled is None:
            sh.filled = _nonempty(sh.raw)
        blank[grp] = ~sh.filled[df["_pos"].to_numpy()[grp]]
    rows.mark(blank, "blank_row", "every cell of the row is empty")
    # Totals rows: the first non-empty cell is a totals label. Only rows whose key is
    # empty or a label can be one.
    k = rows.col(key)
    codes, uniq = _factorize(k)  # each distinct key is looked at once
    # every totals label has 计, t or s (any width, any case): test only those keys
    try:
        maybe = pd.Series(uniq, dtype=object).str.contains(_SUMMARY_HINT, regex=True)
        maybe = maybe.eq(True).to_numpy()
    except AttributeError:  # no text among the keys
        maybe = np.zeros(len(uniq), dtype=bool)
    u_label = np.zeros(len(uniq) + 1, dtype=bool)
    u_label[-1] = True  # empty key
    for i in np.flatnonzero(maybe):
        u_label[i] = len(uniq[i]) <= 12 and _is_summary_label(uniq[i])
    cand = np.flatnonzero(rows.ok & u_label[np.where(codes < 0, len(uniq), codes)])
    summary = np.zeros(len(df), dtype=bool)
    labels = _first_labels(rows, sheets, cand)
    summary[cand] = [_is_summary_label(v) for v in labels]
    rows.mark(summary, "summary_row",
              lambda idx: [f"totals row ({v})" for v in _first_labels(rows, sheets, idx)])


def _mark_malformed(rows: _Rows, sheets: list[_Sheet]) -> None:
    """Quarantine the CSV lines that had more fields than the header."""
    df = rows.df
    if len(df) == 0 or not any(sh.malformed for sh in sheets):
        return
    si, pos = df["_sheet"].to_numpy(), df["_pos"].to_numpy()
    bad = np.zeros(len(df), dtype=bool)
    for s_, sh in enumerate(sheets):
        if sh.malformed:
            bad |= (si == s_) & np.isin(pos, np.fromiter(sh.malformed, dtype="int64"))
    rows.mark(bad, "malformed_row",
              lambda idx: [sheets[si[i]].malformed[int(pos[i])] for i in idx])


def _first_labels(rows: _Rows, sheets: list[_Sheet], idx: np.ndarray) -> list[str]:
    """The first non-empty cell of each row ``idx`` as read, one column at a time."""
    idx = np.asarray(idx, dtype=int)
    out = np.full(len(idx), "", dtype=object)
    si = rows.df["_sheet"].to_numpy()[idx]
    pos = rows.df["_pos"].to_numpy()[idx]
    for s_ in np.unique(si):
        at = np.flatnonzero(si == s_)
        sub = sheets[s_].raw.iloc[pos[at]]
        todo = np.arange(len(at))
        for j in range(sub.shape[1]):
            if len(todo) == 0:
                break
            texts = np.array([_cell_text(v) for v in
                              sub.iloc[todo, j].to_numpy(dtype=object)], dtype=object)
            found = texts != ""
            out[at[todo[found]]] = texts[found]
            todo = todo[~found]
    return out.tolist()


def _is_summary_label(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    t = unicodedata.normalize("NFKC", v).strip().lower()
    t = "".join(t.split()).rstrip(":：")
    return t in _SUMMARY_LABELS


# ---------------------------------------------------------------------------------------
# Parsing the canonical columns
# ---------------------------------------------------------------------------------------


def _parse(rows: _Rows, values_map: Mapping, key: bytes | None, flags: list,
           nulls: dict[str, np.ndarray]) -> list:
    """Parse every canonical column in place; return the pending marks (not applied yet).
    ``nulls`` receives, per number, date or coded column, the cells that held NaN / NULL-
    like text (read as empty; flagged ``null_text`` on the rows that are kept)."""
    df = rows.df
    pending: list[tuple[np.ndarray, str, Any]] = []
    for col in [c for c in df.columns if not c.startswith("_")]:
        kind = _COL_KIND.get(col, "str")
        orig = df[col]
        if col in _CODED or kind in ("datetime", "float"):
            null = _null_text_mask(orig)
            if null.any():
                nulls[col] = null
        if col in _CODED:
            s = orig
            if col == "sold_here" and pd.api.types.is_bool_dtype(s.dtype):
                df[col] = s.astype(object)
                continue
            s = clean_id(s) if s.dtype == object or isinstance(
                s.dtype, pd.CategoricalDtype) else s
            parsed = map_values(s, col, mapping=values_map.get(col))
            df[col] = parsed.values.astype(object).where(parsed.values.notna(), None)
            bad = np.asarray(parsed.bad, dtype=bool)
            if col == "ro_type":
                pending.append((bad, "unknown_ro_type", _msg_value(orig, col, "an unknown "
                                                                  "business type (业务类型)")))
            elif col in ("grade", "usage") and bad.any():
                for i in np.flatnonzero(bad):
                    flags.append((rows.table, int(i), "unknown_value",
                                  f"{col} {orig.iat[i]!r} is not a known value; left empty"))
            else:
                pending.append((bad, "unknown_value", _msg_value(orig, col, "not a known value")))
        elif kind == "datetime":
            parsed = parse_dates(orig)
            df[col] = parsed.values
            pending.append((np.asarray(parsed.bad, dtype=bool), "unparseable_date",
                            _msg_value(orig, col, "not a date")))
        elif kind == "float":
            parsed = parse_amounts(orig)
            df[col] = parsed.values
            pending.append((np.asarray(parsed.bad, dtype=bool), "unparseable_amount",
                            _msg_value(orig, col, "not a number")))
        else:
            df[col] = clean_id(orig, upper=col == "vin", missing=None)
    if key is not None:
        for col in _PII:
            if col in df.columns:
                df[col] = privacy.pseudonymize(df[col], key)
    return pending


def _msg_value(orig: pd.Series, col: str, what: str) -> Callable[[np.ndarray], list[str]]:
    def msg(idx: np.ndarray) -> list[str]:
        return [f"{col} {_short(v)} is {what}" for v in _values_at(orig, idx)]

    return msg


def _short(v: Any, n: int = 80) -> str:
    """``repr(v)``, cut to about ``n`` characters (a message never repeats a huge cell)."""
    if isinstance(v, str) and len(v) > n:
        return repr(v[:n]) + f"... ({len(v):,} characters)"
    return repr(v)


def _content_hash(df: pd.DataFrame) -> np.ndarray:
    cols = [c for c in df.columns if not c.startswith("_")]
    if not cols:
        return np.zeros(len(df), dtype="uint64")
    return pd.util.hash_pandas_object(df[cols], index=False).to_numpy()


def _locations(rows: _Rows, sheets: list[_Sheet], idx: Iterable[int], n: int = 3) -> str:
    idx = list(idx)
    parts = []
    si, rownum = rows.where_read()
    for i in idx[:n]:
        sh = sheets[int(si[i])]
        parts.append(f"{Path(sh.file).name}{'[' + sh.sheet + ']' if sh.sheet else ''} row "
                     f"{int(rownum[i])}")
    more = f" and {len(idx) - n} more" if len(idx) > n else ""
    return ", ".join(parts) + more


def _duplicates(rows: _Rows, sheets: list[_Sheet], key: str, conflict_reason: str | None,
                flags: list) -> None:
    """Merge exact repeats; quarantine (or flag) repeats of a key with different content."""
    df = rows.df
    live = rows.ok & df[key].notna().to_numpy() if key in df.columns else rows.ok
    if key not in df.columns or not live.any():
        return
    keys = df[key].to_numpy(dtype=object)
    # Only rows whose key is repeated can be a duplicate or a conflict: hash just those.
    repeated = np.zeros(len(df), dtype=bool)
    repeated[live] = pd.Series(keys[live], dtype=object).duplicated(keep=False).to_numpy()
    at = np.flatnonzero(repeated)
    if len(at) == 0:
        return
    frame = pd.DataFrame({"k": keys[at], "h": _content_hash(df.iloc[at])})
    nuniq = frame.groupby("k", sort=False)["h"].nunique()
    conflicted = set(nuniq.index[nuniq > 1])
    in_conflict = np.zeros(len(df), dtype=bool)
    in_conflict[at] = frame["k"].isin(conflicted).to_numpy()
    if conflict_reason is not None and in_conflict.any():
        cols = [c for c in df.columns if not c.startswith("_")]
        sub = df.loc[in_conflict, cols]
        diff = sub.groupby(key, sort=False).nunique(dropna=False) > 1
        diff_rows = dict(zip(diff.index, diff.to_numpy(dtype=bool), strict=True))
        diff_cols = np.asarray(diff.columns, dtype=object)
        groups = sub.groupby(key, sort=False).indices
        msgs: dict[str, str] = {}
        conflict_at = np.flatnonzero(in_conflict)
        for k, pos in groups.items():
            where = _locations(rows, sheets, conflict_at[pos])
            differ = list(diff_cols[diff_rows[k]])
            msgs[k] = (f"{key} {k!r} appears {len(pos)} times with different "
                       f"{', '.join(differ)} ({where}); every copy is quarantined")
        rows.mark(in_conflict, conflict_reason, lambda idx: [msgs[keys[i]] for i in idx])
    dup = np.zeros(len(df), dtype=bool)
    dup[at] = frame.duplicated().to_numpy()
    dup &= ~in_conflict
    rows.dup |= dup
    if conflict_reason is None and conflicted:
        # Tables of vehicles / customers: the last distinct row wins, flagged.
        last = {}
        for i in np.flatnonzero(in_conflict & ~dup):
            last[keys[i]] = i
        where = np.flatnonzero(in_conflict)
        by_key = pd.Series(where).groupby(keys[where], sort=False).indices
        for k, i in last.items():
            same = where[by_key[k]]
            flags.append((rows.table, int(i), "conflicting_repeat",
                          f"{key} {k!r} has {len(same)} rows with different content "
                          f"({_locations(rows, sheets, same)}); the last one read is used"))


# ---------------------------------------------------------------------------------------
# Checks per kind
# ---------------------------------------------------------------------------------------


def _check_keys(rows: _Rows, required: Iterable[str]) -> None:
    df = rows.df
    for col in required:
        miss = df[col].isna().to_numpy() if col in df.columns else np.ones(len(df), bool)
        rows.mark(miss, "missing_key", f"{col} is empty")
    if "vin" in df.columns:
        v = df["vin"]
        # the column is already clean (:func:`_parse`): match each distinct VIN once
        codes, uniq = pd.factorize(v)
        ok = pd.Series(uniq, dtype=object).str.fullmatch(VIN_PATTERN).eq(True).to_numpy()
        good = np.where(codes >= 0, ok[codes] if len(ok) else False, True)
        rows.mark(~good, "invalid_vin", lambda idx: [
            f"VIN {x!r} is not 17 characters of A-H, J-N, P, R-Z, 0-9"
            for x in _values_at(v, idx)])


def _today() -> dt.date:
    """The day :func:`load` runs (one place, so that tests can set it)."""
    return dt.date.today()


def _check_as_of(rows: _Rows, as_of: pd.Timestamp | None, ceiling: pd.Timestamp | None,
                 cols: Iterable[str]) -> None:
    """Quarantine dates after ``as_of`` (``order_after_as_of``) or, without it, after
    ``ceiling``, the day after the load (``future_date``)."""
    if as_of is None and ceiling is None:
        return
    df = rows.df
    for col in cols:
        if col not in df.columns:
            continue
        d = df[col]
        if as_of is None:
            rows.mark((d.dt.normalize() > ceiling).to_numpy(), "future_date",
                      lambda idx, d=d, col=col: [
                          f"{col} {_fmt(x)} is later than tomorrow: an export cannot hold "
                          "future dates (no as_of was given; pass the export date as as_of "
                          "to check against it)" for x in _values_at(d, idx)])
            continue
        late = (d.dt.normalize() > as_of).to_numpy() if as_of == as_of.normalize() else (
            d > as_of).to_numpy()
        rows.mark(late, "order_after_as_of", lambda idx, d=d, col=col: [
            f"{col} {_fmt(x)} is after as_of {_fmt(as_of)}" for x in _values_at(d, idx)])


def _where(sheets: list[_Sheet], si: int) -> str:
    sh = sheets[si]
    return sh.file + (f" [{sh.sheet}]" if sh.sheet else "")


def _check_store_ids(rows: _Rows, sheets: list[_Sheet]) -> None:
    """Store ids become folder and file names of reports downstream: every store id of
    the data rows must pass :func:`crm_analysis.safety.check_path_part`.

    An unsafe id is a :class:`DataError` naming the file, the column and the row, not a
    quarantine reason: it would quarantine every row of that store (an export whose
    store column is wrong loses everything), which the error says at once instead."""
    df = rows.df
    if "store_id" not in df.columns or len(df) == 0:
        return
    live = np.flatnonzero(rows.ok & df["store_id"].notna().to_numpy())
    if len(live) == 0:
        return
    codes, uniq = pd.factorize(df["store_id"].to_numpy(dtype=object)[live])
    unsafe = np.array([not is_safe_part(u) for u in uniq], dtype=bool)
    if not unsafe.any():
        return
    bad = live[unsafe[codes]]
    i = int(bad[0])
    si, row, value = int(df["_sheet"].iat[i]), int(df["_row"].iat[i]), df["store_id"].iat[i]
    sh = sheets[si]
    header = next((src for src, c in sh.columns.items() if c == "store_id"), "store_id")
    more = f" ({len(bad) - 1:,} more rows have unsafe store ids)" if len(bad) > 1 else ""
    try:
        check_path_part(value, "store id", where=f"{_where(sheets, si)}, column {header!r}, "
                                                  f"row {row}")
    except ValueError as err:
        raise DataError(f"{err}; store ids become the names of report folders and files, so "
                        f"the export is not read{more}", file=sh.file, sheet=sh.sheet or None,
                        columns=[header], rows=[row]) from None


def _fold_case(rows: _Rows, col: str) -> dict | None:
    """Give the ids of ``col`` that differ only in upper / lower case (RO001, ro001) one
    spelling, the first one read, so that :func:`_duplicates` sees one id: identical
    copies are merged (and flagged by :func:`_case_outcome`), different ones are set
    aside. ``None`` when no id has two spellings; otherwise the rows concerned, their
    spellings as read and their group number."""
    df = rows.df
    if col not in df.columns or len(df) == 0:
        return None
    live = np.flatnonzero(rows.ok & df[col].notna().to_numpy())
    if len(live) == 0:
        return None
    values = df[col].to_numpy(dtype=object)
    codes, uniq = pd.factorize(values[live])
    fcodes, funiq = pd.factorize(np.array([str(u).casefold() for u in uniq], dtype=object))
    spellings = np.bincount(fcodes, minlength=len(funiq))
    multi = spellings[fcodes] > 1  # per distinct spelling
    if not multi.any():
        return None
    at = live[multi[codes]]  # rows in read order
    group = fcodes[codes[multi[codes]]]
    first = pd.Series(at).groupby(group, sort=False).first()
    orig = values[at].copy()
    values = values.copy()
    values[at] = values[first.loc[group].to_numpy()]
    df[col] = values
    return {"rows": at, "orig": orig, "group": group}


def _case_outcome(rows: _Rows, sheets: list[_Sheet], folded: dict, col: str,
                  late_flags: list, kind: str) -> None:
    """After :func:`_duplicates` on ids folded by :func:`_fold_case`: set-aside copies get
    the reason ``duplicate_case``; a merged order is flagged ``duplicate_case``."""
    at, orig, group = folded["rows"], folded["orig"], folded["group"]
    ok = rows.ok
    for pos in pd.Series(group).groupby(group, sort=False).indices.values():
        members = at[pos]
        names = list(dict.fromkeys(orig[pos]))
        spelled = ", ".join(repr(n) for n in names)
        where = _locations(rows, sheets, members)
        conflict = rows.bad[members] & (rows.reason[members] == "duplicate_order_conflict")
        if conflict.any():
            rows.reason[members[conflict]] = "duplicate_case"
            rows.message[members[conflict]] = (
                f"{col} {spelled} differ only in upper / lower case, with different content "
                f"({where}); every copy is quarantined")
        else:
            kept = members[ok[members]]
            if len(kept):
                late_flags.append((kind, int(kept[0]), "duplicate_case",
                                   f"{col} {spelled} differ only in upper / lower case; the "
                                   f"rows are otherwise identical ({where}): the order is "
                                   f"kept once, as {names[0]!r}"))


def _case_variant_flags(groups: dict[str, _Rows], sheets: list[_Sheet], flags: list) -> None:
    """Flag customer and store ids that differ only in upper / lower case (C001, c001):
    they are kept as read (two customers, two stores), on the first row of each later
    spelling."""
    for col, what in (("customer_id", "customers"), ("store_id", "stores")):
        parts = []
        for kind, rows in groups.items():
            df = rows.df
            if col not in df.columns or len(df) == 0:
                continue
            idx = np.flatnonzero(rows.ok & df[col].notna().to_numpy())
            parts.append(pd.DataFrame({
                "s": df["_sheet"].to_numpy()[idx], "p": df["_pos"].to_numpy()[idx],
                "kind": kind, "i": idx, "v": df[col].to_numpy(dtype=object)[idx]}))
        if not parts:
            continue
        e = pd.concat(parts, ignore_index=True)
        uniq = pd.unique(e["v"])
        folds = pd.Series([str(u).casefold() for u in uniq], index=uniq)
        if folds.nunique() == len(folds):
            continue
        e = e.sort_values(["s", "p"], kind="stable").drop_duplicates("v")
        e["f"] = folds.loc[e["v"].to_numpy()].to_numpy()
        for _, g in e.groupby("f", sort=False):
            if len(g) < 2:
                continue
            first = g.iloc[0]
            loc = _locations(groups[first["kind"]], sheets, [int(first["i"])])
            for _, r in g.iloc[1:].iterrows():
                flags.append((r["kind"], int(r["i"]), "duplicate_case",
                              f"{col} {r['v']!r} differs only in upper / lower case from "
                              f"{first['v']!r} ({loc}); they are kept as two different {what}"))


def _null_text_flags(groups: dict[str, _Rows], nulls: dict[str, dict[str, np.ndarray]],
                     flags: list) -> None:
    """Flag ``null_text`` on the accepted rows whose number, date or coded cells held
    NaN / NULL-like text (read as empty cells)."""
    for kind, cols in nulls.items():
        rows = groups[kind]
        if not cols:
            continue
        hit = np.zeros(len(rows.df), dtype=bool)
        for m in cols.values():
            hit |= m
        idx = np.flatnonzero(hit & rows.ok)
        if len(idx) == 0:
            continue
        names = np.array(list(cols), dtype=object)
        which = np.column_stack([m[idx] for m in cols.values()])
        for i, w in zip(idx, which, strict=True):
            flags.append((kind, int(i), "null_text",
                          f"{', '.join(names[w])} held NaN / NULL-like text, read as an empty "
                          "cell"))


def _fix_orders(rows: _Rows) -> None:
    """Amounts, ro_type and payer defaults, negative / mismatch checks on orders."""
    df = rows.df
    n = len(df)
    nan = pd.Series(np.nan, index=df.index)
    parts = {c: df[c] if c in df.columns else nan for c in _AMOUNTS}
    total = df["total_amount"] if "total_amount" in df.columns else nan
    only_total = total.notna() & pd.concat(list(parts.values()), axis=1).isna().all(axis=1)
    parts["other_amount"] = parts["other_amount"].where(~only_total, total)
    comp_sum = sum(p.fillna(0.0) for p in parts.values())
    for c, p in parts.items():
        df[c] = p.fillna(0.0)
    df["total_amount"] = total.where(total.notna(), comp_sum)
    money = [c for c in (*_AMOUNTS, "total_amount", "labor_cost", "parts_cost", "mileage_km")
             if c in df.columns]
    neg = np.zeros(n, dtype=bool)
    for c in money:
        neg |= (df[c] < 0).to_numpy()

    def neg_msg(idx: np.ndarray) -> list[str]:
        vals = {c: df[c].to_numpy(dtype="float64")[idx] for c in money}
        return ["negative " + ", ".join(f"{c} {vals[c][k]:g}" for c in money if vals[c][k] < 0)
                for k in range(len(idx))]

    rows.mark(neg, "negative_amount", neg_msg)
    amounts = [c for c in money if c != "mileage_km"]
    big = np.zeros(n, dtype=bool)
    for c in amounts:
        big |= (df[c] > MAX_ORDER_AMOUNT).to_numpy()

    def big_msg(idx: np.ndarray) -> list[str]:
        vals = {c: df[c].to_numpy(dtype="float64")[idx] for c in amounts}
        return [f"more than {MAX_ORDER_AMOUNT:,.0f} yuan on one repair order: "
                + ", ".join(f"{c} {vals[c][k]:,.2f}" for c in amounts
                            if vals[c][k] > MAX_ORDER_AMOUNT) for k in range(len(idx))]

    rows.mark(big, "implausible_amount", big_msg)
    if "mileage_km" in df.columns:
        km = df["mileage_km"]
        rows.mark((km > MAX_MILEAGE_KM).to_numpy(), "implausible_mileage", lambda idx: [
            f"mileage_km {km.iat[i]:,.0f} is more than {MAX_MILEAGE_KM:,.0f} km" for i in idx])
    diff = (df["total_amount"] - comp_sum).abs()
    mismatch = (diff > TOTAL_TOLERANCE).to_numpy()
    rows.mark(mismatch, "total_mismatch", lambda idx: [
        f"total_amount {df['total_amount'].iat[i]:.2f} differs from labor + parts + other = "
        f"{comp_sum.iat[i]:.2f}" for i in idx])
    if "open_date" in df.columns:
        rows.mark(df["open_date"].isna().to_numpy(), "unparseable_date", "open_date is empty")
    if "close_date" in df.columns and "open_date" in df.columns:
        before = (df["close_date"] < df["open_date"]).to_numpy()
        rows.mark(before, "close_before_open", lambda idx: [
            f"close_date {_fmt(df['close_date'].iat[i])} is before open_date "
            f"{_fmt(df['open_date'].iat[i])}" for i in idx])
    ro_type = df["ro_type"] if "ro_type" in df.columns else pd.Series(None, index=df.index)
    df["ro_type"] = ro_type.where(ro_type.notna(), "other").astype(object)
    payer = df["payer"] if "payer" in df.columns else pd.Series(None, index=df.index)
    default = np.where(df["ro_type"].to_numpy() == "warranty", "warranty", "customer")
    df["payer"] = payer.where(payer.notna(), pd.Series(default, index=df.index)).astype(object)


def _own_sale_check(rows: _Rows) -> None:
    df = rows.df
    if "sale_date" in df.columns and "open_date" in df.columns:
        before = (df["open_date"].dt.normalize() < df["sale_date"].dt.normalize()).to_numpy()
        rows.mark(before, "order_before_sale", lambda idx: [
            f"open_date {_fmt(df['open_date'].iat[i])} is before the sale date "
            f"{_fmt(df['sale_date'].iat[i])} on the same row" for i in idx])


# ---------------------------------------------------------------------------------------
# Building the tables
# ---------------------------------------------------------------------------------------


def _order_rank(df: pd.DataFrame) -> np.ndarray:
    """Each order's position when sorted by open date, then ``ro_id`` (ties and missing
    values as a stable :meth:`~pandas.DataFrame.sort_values` places them). Computed once,
    so that choosing "the value on the most recent order" sorts integers, not text."""
    n = len(df)
    if n == 0:
        return np.zeros(0, dtype="int64")
    import pyarrow as pa
    import pyarrow.compute as pa_compute

    cols = [c for c in ("open_date", "ro_id") if c in df.columns]
    if cols:
        # pyarrow's sort is stable and puts missing values last, as pandas' does, and
        # compares text in C++ (sort_values compares Python strings: several times slower)
        table = pa.table({c: pa.Array.from_pandas(df[c]) for c in cols})
        pos = pa_compute.sort_indices(  # missing values go last by default
            table, sort_keys=[(c, "ascending") for c in cols]).to_numpy()
    else:
        pos = np.arange(n)
    rank = np.empty(n, dtype="int64")
    rank[pos] = np.arange(n)
    return rank


def _latest(df: pd.DataFrame, key: str, cols: list[str], order: list[str]) -> pd.DataFrame:
    """Per key, the last non-missing value of each column after sorting by ``order``."""
    cols = [c for c in cols if c in df.columns and c != key]
    if len(df) == 0:
        return pd.DataFrame(columns=[key, *cols])
    d = df[list(dict.fromkeys([key, *cols, *order]))]
    d = d.sort_values(order, kind="stable") if order else d
    if not cols:
        return d[[key]].dropna().drop_duplicates().reset_index(drop=True)
    # groupby(key, sort=False)[cols].last(), with the key hashed once for all the columns
    codes, uniq = pd.factorize(d[key])
    out = {key: pd.Series(uniq, dtype=d[key].dtype) if len(uniq) else d[key].iloc[:0]}
    out[key] = out[key].reset_index(drop=True)
    for c in cols:
        at = np.flatnonzero(d[c].notna().to_numpy() & (codes >= 0))[::-1]
        last = np.full(len(uniq), -1)
        found, first = np.unique(codes[at], return_index=True)  # the last row of each key
        last[found] = at[first]
        col = d[c].iloc[np.maximum(last, 0)].reset_index(drop=True) if len(d) else d[c]
        out[c] = col.where(pd.Series(last >= 0)) if (last < 0).any() else col
    return pd.DataFrame(out)


def _flat_conflicts(orders: pd.DataFrame, key: str, cols: list[str], table: str,
                    flags: list) -> None:
    for col in cols:
        if col not in orders.columns:
            continue
        filled = orders[col].notna().to_numpy()
        if not filled.any():
            continue
        # keys with two or more distinct values: count distinct (key, value) code pairs
        kc = pd.factorize(orders[key].to_numpy()[filled])[0]
        vc, vu = pd.factorize(orders[col].to_numpy()[filled])
        ok = kc >= 0
        pairs = np.unique(kc[ok].astype("int64") * (len(vu) + 1) + vc[ok])
        many = np.flatnonzero(np.bincount(pairs // (len(vu) + 1)) > 1)
        if len(many) == 0:
            continue
        rows = np.flatnonzero(filled)[np.isin(kc, many)]
        d = orders.iloc[rows][[key, col, "ro_id", "open_date", "_idx"]]
        d = d.sort_values(["open_date", "ro_id"], kind="stable")
        for k, g in d.groupby(key, sort=False):
            vals = list(dict.fromkeys(_fmt(v) for v in g[col]))
            last = g.iloc[-1]
            flags.append((table, int(last["_idx"]), "conflicting_repeat",
                          f"{key} {k!r} has {len(vals)} different {col} values "
                          f"({', '.join(vals[:5])}) on its orders; the value on the most "
                          f"recent order ({last['ro_id']}, {_fmt(last['open_date'])}) is used: "
                          f"{_fmt(last[col])}"))


def _build_vehicles(orders: pd.DataFrame, vrows: pd.DataFrame) -> pd.DataFrame:
    vcols = ["customer_id", "store_id", *_VEHICLE_ONLY]
    from_orders = _latest(orders, "vin", vcols, ["_ord"])
    table = _latest(vrows, "vin", vcols, []) if len(vrows) else from_orders.iloc[:0]
    rest = from_orders[~from_orders["vin"].isin(table["vin"])]
    out = pd.concat([table, rest], ignore_index=True) if len(table) else rest
    if "sale_date" not in out.columns:
        out["sale_date"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------------
# load
# ---------------------------------------------------------------------------------------


def load(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    mapping: Mapping | str | os.PathLike | None = None,
    store_id: str | Mapping[str, str] | None = None,
    as_of: Any = None,
    keep_pii: bool = False,
    key: bytes | str | None = None,
) -> LoadResult:
    """Load DMS exports (files or folders) into a valid dataset, quarantining bad rows.

    Parameters
    ----------
    paths:
        A file, a folder (read recursively: ``.csv .txt .tsv .xlsx .xlsm .xls .parquet``;
        hidden files and Excel lock files ``~$...`` are skipped) or a list of them.
    mapping:
        User mapping (a dict or a YAML file, see
        :func:`crm_analysis.io.normalize.load_mapping`): ``headers`` ``{source header:
        canonical column}`` and ``values`` ``{field: {value: code}}``.
    store_id:
        The store of an export without a store column (a str for every file, or a dict
        ``{file name or path: store id}``); it also fills empty store cells. Like the
        store ids of the data, it must be a plain name (letters, digits, ``.``, ``_``,
        ``-``; :func:`crm_analysis.safety.check_path_part`).
    as_of:
        The export date: orders opened or closed later are quarantined
        (``order_after_as_of``). Default: the latest date in the accepted data, after
        dates later than tomorrow are quarantined (``future_date``).
    keep_pii:
        Keep names, phones, plates and id numbers as read (default: pseudonymize).
    key:
        Pseudonymization key; default: the key file kept in the folder of the first
        input (:func:`crm_analysis.privacy.store_key`, created on first use).

    Returns
    -------
    LoadResult
        See the module docstring. ``result.meta`` has ``files``, ``as_of``,
        ``skipped_sheets`` (workbook sheets without a header row next to ones that were
        read; each also raises a :class:`DataWarning`),
        ``pseudonymized`` and the key's fingerprint.

    Raises
    ------
    DataError
        No input file, an unreadable file (empty, binary, undecodable, cut off in the
        middle of a character, damaged workbook), a workbook beyond the limits
        (:data:`MAX_WORKBOOK_BYTES`, :data:`MAX_COMPRESSION_RATIO`,
        :data:`MAX_CELL_CHARS`), no header row, a required column that cannot be found
        (the message names the file, the columns found and the closest known names),
        duplicate headers, a store id (in the data or the ``store_id`` argument) that
        cannot be a folder name.

    Example
    -------
    >>> import tempfile, pathlib
    >>> from crm_analysis.schema import example_dataset
    >>> ds = example_dataset()
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for name, df in ds.tables.items():
    ...         df.to_csv(pathlib.Path(tmp) / f"{name}.csv", index=False)
    ...     res = load(tmp, keep_pii=True, as_of="2024-06-30")
    >>> res.dataset
    Dataset(stores=2, customers=3, vehicles=3, repair_orders=5, truth=None, as_of='2024-06-30')
    >>> res.dataset.validate().ok, len(res.quarantine), len(res.flags)
    (True, 0, 0)
    """
    limit = None if as_of is None else read_as_of(as_of)
    # Without an export date, no date may lie after tomorrow (time zones): a later one
    # is a typo, not an order, and must not become the data's as-of date.
    ceiling = None if limit is not None else pd.Timestamp(_today() + dt.timedelta(days=1))
    for sid in (store_id.values() if isinstance(store_id, Mapping) else [store_id]):
        if sid is not None and not is_safe_part(str(sid)):
            # the ids become report folders: the shared rule, before anything is read (a
            # DataError, as for an unsafe store id in the data: callers catch one kind)
            try:
                check_path_part(str(sid), "store id", where="load: the store_id argument")
            except ValueError as err:
                raise DataError(str(err)) from None
    files = _collect(paths)
    maps = load_mapping(mapping) if mapping is not None else {}
    hdr_map = maps.get("headers") or None
    values_map = maps.get("values") or {}
    pii_key = None
    if not keep_pii:
        first = files[0]
        folder = Path(paths) if isinstance(paths, str | os.PathLike) and Path(
            paths).is_dir() else first.parent
        pii_key = privacy.store_key(folder, key)

    # 1. Read every file and decide what each sheet is.
    sheets: list[_Sheet] = []
    for f in files:
        found = _READERS[_sniff_format(f)](f, hdr_map)
        for sh in found:
            _classify(sh, hdr_map, store_id)
        sheets.extend(found)
    flags_raw: list[tuple] = []  # (kind, index in the kind's rows, reason, message)
    by_kind = {k: [(i, sh) for i, sh in enumerate(sheets) if sh.kind in kinds]
               for k, kinds in (("orders", ("flat", "orders")), ("vehicles", ("vehicles",)),
                                ("customers", ("customers",)), ("stores", ("stores",)))}
    groups = {k: _Rows(v, k if k != "orders" else "repair_orders") for k, v in by_kind.items()}

    # flags of kept rows, raised at the end on the rows that are still accepted then
    late_flags: list[tuple] = []
    nulls: dict[str, dict[str, np.ndarray]] = {}

    # 2. Row-level checks, per kind.
    for kind, rows in groups.items():
        keycol = _KIND_KEY[kind if kind != "orders" else "flat"]
        _mark_blank_summary(rows, sheets, keycol)
        _mark_malformed(rows, sheets)
        fl: list = []
        nulls[kind] = {}
        pending = _parse(rows, values_map, pii_key, fl, nulls[kind])
        flags_raw += [(kind, *f[1:]) for f in fl]
        # Fill store ids from the parameter.
        if kind in ("orders", "vehicles"):
            fill = np.array([sh.store_id for sh in sheets] + [None], dtype=object)[
                rows.df["_sheet"].to_numpy()]
            cur = rows.col("store_id")
            rows.df["store_id"] = cur.where(cur.notna(), pd.Series(fill, index=rows.df.index))
            rows.df["store_id"] = rows.df["store_id"].astype(object).where(
                rows.df["store_id"].notna(), None)
        if kind != "customers":
            _check_store_ids(rows, sheets)
        # Order numbers that differ only in case are one order number (see _fold_case).
        folded = _fold_case(rows, "ro_id") if kind == "orders" else None
        fl2: list = []
        _duplicates(rows, sheets, keycol, "duplicate_order_conflict" if kind == "orders"
                    else None, fl2)
        flags_raw += [(kind, *f[1:]) for f in fl2]
        if folded is not None:
            _case_outcome(rows, sheets, folded, "ro_id", late_flags, kind)
        for mask, reason, msg in pending:
            rows.mark(mask, reason, msg)
        if kind == "orders":
            _check_keys(rows, ["ro_id", "vin", "customer_id", "store_id"])
            _fix_orders(rows)
            _check_as_of(rows, limit, ceiling, ["open_date", "close_date", "first_seen_date"])
            _own_sale_check(rows)
        elif kind == "vehicles":
            _check_keys(rows, ["vin", "customer_id"])
            _check_as_of(rows, limit, ceiling, ["sale_date"])
        elif kind == "customers":
            _check_keys(rows, ["customer_id"])
            _check_as_of(rows, limit, ceiling, ["first_seen_date"])
        else:
            _check_keys(rows, ["store_id"])
            _check_as_of(rows, limit, ceiling, ["opened_date"])

    o_rows, v_rows = groups["orders"], groups["vehicles"]
    c_rows, s_rows = groups["customers"], groups["stores"]
    odf = o_rows.df
    odf["_idx"] = np.arange(len(odf))
    odf["_ord"] = _order_rank(odf)

    # Vehicle rows without a store: the store of the vehicle's latest accepted order.
    if len(v_rows.df):
        vdf = v_rows.df
        last_store = _latest(odf[o_rows.ok], "vin", ["store_id"], ["_ord"])
        store_of = dict(zip(last_store["vin"], last_store.get("store_id", []), strict=False))
        cur = v_rows.col("store_id")
        vdf["store_id"] = cur.where(cur.notna(), vdf["vin"].map(store_of)).astype(object)
        vdf["store_id"] = vdf["store_id"].where(vdf["store_id"].notna(), None)
        _check_keys(v_rows, ["store_id"])

    # 3. Orders before the vehicle's sale date (repeat: dropping an order can change the
    #    vehicle's most recent sale date).
    vtab = v_rows.df[v_rows.ok]
    for _ in range(5):
        vehicles = _build_vehicles(odf[o_rows.ok], vtab)
        at = pd.Index(vehicles["vin"]).get_indexer(odf["vin"])  # vins are unique here
        sale = pd.Series(pd.to_datetime(vehicles["sale_date"]).to_numpy()[np.maximum(at, 0)]
                         if len(vehicles) else np.full(len(odf), np.datetime64("NaT", "ns")),
                         index=odf.index).where(at >= 0)
        before = o_rows.ok & (odf["open_date"].dt.normalize() < sale.dt.normalize()).to_numpy() \
            if len(odf) else np.zeros(0, dtype=bool)
        if not before.any():
            break
        o_rows.mark(before, "order_before_sale", lambda idx, sale=sale: [
            f"open_date {_fmt(odf['open_date'].iat[i])} is before the vehicle's sale date "
            f"{_fmt(sale.iat[i])}" for i in idx])

    # 4. Final tables.
    orders = odf[o_rows.ok]
    vcols = [c for c in _VEHICLE_ONLY if c in orders.columns]
    known = orders["vin"].isin(vtab["vin"]).to_numpy()
    if vcols:  # a vehicle column filled on any of its orders describes the VIN
        has = np.zeros(len(orders), dtype=bool)
        for c in vcols:
            has |= orders[c].notna().to_numpy()
        known |= orders["vin"].isin(orders["vin"].to_numpy()[has]).to_numpy()
    unknown = pd.Series(~known, index=orders.index)
    if unknown.any():
        first = orders[unknown].sort_values(["open_date", "ro_id"]).drop_duplicates("vin")
        for _, r in first.iterrows():
            flags_raw.append(("orders", int(r["_idx"]), "unknown_vin",
                              f"VIN {r['vin']!r} is not in the vehicles data; a vehicle with "
                              "unknown sale date was created"))
    _flat_conflicts(orders, "vin", ["sale_date"], "orders", flags_raw)
    _flat_conflicts(orders, "customer_id", ["phone", "name"], "orders", flags_raw)
    _mileage_flags(orders, flags_raw)
    _case_variant_flags(groups, sheets, flags_raw)
    ok_now = {k: g.ok for k, g in groups.items()}
    flags_raw += [f for f in late_flags if ok_now[f[0]][f[1]]]
    _null_text_flags(groups, nulls, flags_raw)

    ctab = c_rows.df[c_rows.ok]
    ccols = [c for c in _CUSTOMER_ONLY if c != "id_number"] + ["id_number"]
    from_orders = _latest(orders, "customer_id", ccols, ["_ord"])
    cust_table = _latest(ctab, "customer_id", ccols, []) if len(ctab) else from_orders.iloc[:0]
    customers = pd.concat([cust_table, from_orders[~from_orders["customer_id"].isin(
        cust_table["customer_id"])]], ignore_index=True)
    known_c = set(customers["customer_id"])
    extra_c = [c for c in pd.unique(pd.concat([vehicles["customer_id"], orders["customer_id"]]
                                              ).dropna()) if c not in known_c]
    if extra_c:
        customers = pd.concat([customers, pd.DataFrame({"customer_id": extra_c})],
                              ignore_index=True)

    stab = s_rows.df[s_rows.ok]
    # a store table wins; a flat export's store name / city columns fill the rest
    s_orders = _latest(orders, "store_id", list(_STORE_ONLY), ["_ord"])
    s_table = _latest(stab, "store_id", list(_STORE_ONLY), []) if len(stab) else \
        s_orders.iloc[:0]
    stores = pd.concat([s_table, s_orders[~s_orders["store_id"].isin(s_table["store_id"])]],
                       ignore_index=True)
    known_s = set(stores["store_id"])
    extra_s = [s for s in pd.unique(pd.concat([vehicles["store_id"], orders["store_id"]]
                                              ).dropna()) if s not in known_s]
    if extra_s:
        stores = pd.concat([stores, pd.DataFrame({"store_id": extra_s})], ignore_index=True)

    dataset = _assemble(stores, customers, vehicles, orders, limit, files, pii_key)
    skipped = [{"file": sh.file, "sheet": name, "rows": n, "reason": why}
               for sh in sheets for name, n, why in sh.skipped]
    if skipped:
        # not rows of any table, but never dropped without a word
        dataset.meta["skipped_sheets"] = skipped
        for s_ in skipped:
            warnings.warn(f"{s_['file']} [{s_['sheet']}]: sheet not read ({s_['rows']} "
                          f"non-empty rows): {s_['reason']}", DataWarning, stacklevel=2)
    quarantine = _quarantine_frame(groups, sheets, pii_key)
    flags = _flags_frame(flags_raw, groups, sheets)
    report = _report(sheets, groups)
    result = LoadResult(dataset, quarantine, flags, report, meta=dict(dataset.meta))
    return result.check()


def _mileage_flags(orders: pd.DataFrame, flags: list) -> None:
    if "mileage_km" not in orders.columns or orders["mileage_km"].notna().sum() == 0:
        return
    d = orders.loc[orders["mileage_km"].notna(), ["vin", "open_date", "mileage_km", "_idx",
                                                  "_ord"]]
    # per VIN in (open_date, ro_id) order: sort integer codes, not the VIN text
    vin_code = pd.factorize(d["vin"], sort=True)[0]
    d = d.iloc[np.lexsort((d["_ord"].to_numpy(), vin_code))]
    vin_code = np.sort(vin_code)
    prev = d["mileage_km"].groupby(vin_code, sort=False).cummax()
    prev = prev.groupby(vin_code, sort=False).shift(1)
    back = (d["mileage_km"] < prev).to_numpy()
    b = d[back]
    for i, km, day, vin, p in zip(b["_idx"], b["mileage_km"], b["open_date"], b["vin"],
                                  prev[back], strict=True):
        flags.append(("orders", int(i), "mileage_backwards",
                      f"mileage {km:g} km on {_fmt(day)} is lower than "
                      f"{p:g} km on an earlier order of VIN {vin!r}"))


def _assemble(stores, customers, vehicles, orders, limit, files, pii_key) -> Dataset:
    def fill(df: pd.DataFrame, col: str, value: Any) -> None:
        if col not in df.columns:
            df[col] = value
        else:
            df[col] = df[col].where(df[col].notna(), value)

    stores = stores.copy()
    fill(stores, "store_name", stores["store_id"])
    fill(stores, "city", DEFAULTS["city"])
    fill(stores, "opened_date", pd.NaT)
    customers = customers.copy()
    fill(customers, "customer_type", DEFAULTS["customer_type"])
    for c in ("name", "phone", "occupation", "region"):
        fill(customers, c, None)
    fill(customers, "first_seen_date", pd.NaT)
    if "id_number" in customers.columns and customers["id_number"].isna().all():
        customers = customers.drop(columns="id_number")
    vehicles = vehicles.copy()
    known_v = set(vehicles["vin"])
    missing = orders[~orders["vin"].isin(known_v)]
    if len(missing):
        new = _latest(missing, "vin", ["customer_id", "store_id"], ["_ord"])
        vehicles = pd.concat([vehicles, new], ignore_index=True)
    fill(vehicles, "sold_here", DEFAULTS["sold_here"])
    fill(vehicles, "model", DEFAULTS["model"])
    fill(vehicles, "sale_date", pd.NaT)
    for c in ("grade", "usage", "plate", "color"):
        fill(vehicles, c, None)
    vehicles["sold_here"] = vehicles["sold_here"].astype(bool)
    ocols = [c for c in TABLES["repair_orders"] if c in orders.columns]
    orders = orders[ocols].copy()
    for c in ("close_date",):
        fill(orders, c, pd.NaT)
    fill(orders, "mileage_km", np.nan)
    tables = {
        "stores": stores[[c for c in TABLES["stores"]]],
        "customers": customers[[c for c in (*TABLES["customers"], "id_number")
                                if c in customers.columns]],
        "vehicles": vehicles[list(TABLES["vehicles"])],
        "repair_orders": orders,
    }
    tables = {n: coerce(n, df.reset_index(drop=True)) for n, df in tables.items()}
    if limit is None:
        dates = [df[c] for n, df in tables.items() for c, k in TABLES[n].items()
                 if k == "datetime" and c in df.columns]
        mx = max((d.max() for d in dates if d.notna().any()), default=pd.NaT)
        limit = None if pd.isna(mx) else mx
    meta = {"source": "crm_analysis.io.load", "files": [str(f) for f in files],
            "pseudonymized": pii_key is not None}
    if limit is not None:
        meta["as_of"] = limit.date().isoformat() if limit == limit.normalize() else \
            limit.isoformat()
    if pii_key is not None:
        meta["key_fingerprint"] = privacy.key_fingerprint(pii_key)
    return Dataset(**tables, meta=meta)


def _raw_records(sheet: _Sheet, positions: np.ndarray, pii_key: bytes | None) -> list[dict]:
    """The raw values of some rows of a sheet, one dict per row (personal data
    pseudonymized, missing values None, timestamps as ISO text); one column at a time, so
    that many quarantined rows cost no more than a few vectorized calls."""
    sub = sheet.raw.iloc[positions]
    cols: dict[Any, list] = {}
    for src, canon in sheet.columns.items():
        values = sub[src].astype(object)
        missing = np.array([v is None or (isinstance(v, float) and np.isnan(v))
                            for v in values], dtype=bool)
        if pii_key is not None and canon in _QUARANTINE_PII:
            cleaned = clean_id(values.where(~missing))
            shown = privacy.pseudonymize(cleaned, pii_key).to_numpy(dtype=object)
        elif pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
            shown = values.to_numpy(dtype=object, copy=True)
        else:
            shown = np.array([v.isoformat() if isinstance(v, pd.Timestamp) else v
                              for v in values] + [None], dtype=object)[:-1]
        shown[missing] = None
        cols[src] = shown.tolist()
    return [dict(zip(cols, row, strict=True)) for row in zip(*cols.values(), strict=True)]


def _quarantine_frame(groups: dict[str, _Rows], sheets: list[_Sheet],
                      pii_key: bytes | None) -> pd.DataFrame:
    parts = []
    for rows in groups.values():
        idx = np.flatnonzero(rows.bad)
        if len(idx) == 0:
            continue
        si = rows.df["_sheet"].to_numpy()[idx]
        pos = rows.df["_pos"].to_numpy()[idx]
        raw: list[dict | None] = [None] * len(idx)
        for s_ in pd.unique(si):
            at = np.flatnonzero(si == s_)
            for k, rec in zip(at, _raw_records(sheets[s_], pos[at].astype(int), pii_key),
                              strict=True):
                raw[k] = rec
        parts.append(pd.DataFrame({
            "file": [sheets[s].file for s in si],
            "sheet": [sheets[s].sheet for s in si],
            "row": rows.df["_row"].to_numpy()[idx],
            "table": rows.table,
            "reason": rows.reason[idx],
            "message": rows.message[idx],
            "raw": raw,
        }))
    if not parts:
        return _empty(QUARANTINE_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["row"] = out["row"].astype("Int64")
    return out.sort_values(["file", "sheet", "row"], kind="stable").reset_index(drop=True)


def _flags_frame(flags_raw: list, groups: dict[str, _Rows],
                 sheets: list[_Sheet]) -> pd.DataFrame:
    if not flags_raw:
        return _empty(FLAG_COLUMNS)
    # one kind at a time, with array lookups (a NULL in every row flags every row)
    recs = pd.DataFrame(flags_raw, columns=["kind", "i", "reason", "message"])
    files = np.array([sh.file for sh in sheets], dtype=object)
    names = np.array([sh.sheet for sh in sheets], dtype=object)
    parts = []
    for kind, g in recs.groupby("kind", sort=False):
        rows = groups[kind]
        i = g["i"].to_numpy(dtype="int64")
        si = rows.df["_sheet"].to_numpy()[i]
        keycol = _KIND_KEY["flat" if kind == "orders" else kind]
        key = rows.df[keycol].to_numpy(dtype=object)[i] if keycol in rows.df.columns else \
            np.full(len(i), None, dtype=object)
        parts.append(pd.DataFrame({
            "file": files[si], "sheet": names[si], "row": rows.df["_row"].to_numpy()[i],
            "table": rows.table, "reason": g["reason"].to_numpy(), "key": key,
            "message": g["message"].to_numpy()}, index=g.index))
    out = pd.concat(parts).sort_index()[list(FLAG_COLUMNS)]
    out["row"] = out["row"].astype("Int64")
    return out.sort_values(["file", "sheet", "row"], kind="stable").reset_index(drop=True)


def _report(sheets: list[_Sheet], groups: dict[str, _Rows]) -> pd.DataFrame:
    reasons = list(QUARANTINE_REASONS)
    used = set()
    for rows in groups.values():
        used |= {r for r in rows.reason[rows.bad]}
    reasons += sorted(used - set(reasons))
    recs = []
    for si, sh in enumerate(sheets):
        rows = groups["orders" if sh.kind in ("flat", "orders") else sh.kind]
        m = (rows.df["_sheet"] == si).to_numpy()
        rec = {"file": sh.file, "sheet": sh.sheet, "table": _KIND_TABLE[sh.kind],
               "kind": sh.kind, "title_rows": sh.title_rows, "read": int(m.sum()),
               "accepted": int((m & rows.ok).sum()), "duplicates": int((m & rows.dup).sum()),
               "quarantined": int((m & rows.bad).sum())}
        rs = pd.Series(rows.reason[m & rows.bad]).value_counts()
        for r in reasons:
            rec[r] = int(rs.get(r, 0))
        rec["unmatched"] = ", ".join(sh.unmatched)
        recs.append(rec)
    return pd.DataFrame(recs)

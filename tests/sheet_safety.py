"""Scan written spreadsheets for cells a spreadsheet program would run as formulas.

Used by tests/test_safety.py and by every test that writes a call list, a grade sheet,
a quarantine file or another export (issue 17: no formula in any written spreadsheet).
The scanner reads the files itself rather than trusting the writer: an .xlsx cell is a
formula when its XML has an ``<f>`` element or openpyxl reads it as type ``f``; a CSV
field is a formula when it starts with ``=``, ``+``, ``-``, ``@``, tab or CR and is not
a plain number (OWASP, "CSV Injection").
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

from crm_analysis.safety import is_formula_text

_F_RE = re.compile(rb"<(?:\w+:)?f[\s>/]")


def formula_cells(path: str | Path) -> list[str]:
    """``"<file>:<sheet>!<cell>: <value>"`` for every formula cell of an .xlsx or .csv file."""
    p = Path(path)
    if p.suffix.lower() == ".xlsx":
        return _xlsx_formulas(p)
    if p.suffix.lower() in (".csv", ".tsv"):
        return _csv_formulas(p)
    raise ValueError(f"formula_cells: {p} is not an .xlsx or .csv file")


def _xlsx_formulas(path: Path) -> list[str]:
    from openpyxl import load_workbook

    found = []
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml") \
                    and _F_RE.search(z.read(name)):
                found.append(f"{path.name}:{name}: <f> element")
    wb = load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    found.append(f"{path.name}:{ws.title}!{cell.coordinate}: {cell.value!r}")
    return found


def _csv_formulas(path: Path) -> list[str]:
    text = path.read_bytes().decode("utf-8-sig")
    found = []
    for i, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        for j, field in enumerate(row, start=1):
            if is_formula_text(field):
                found.append(f"{path.name}:row {i} column {j}: {field!r}")
    return found


def spreadsheets_under(folder: str | Path) -> list[Path]:
    """Every .xlsx and .csv file under ``folder``."""
    root = Path(folder)
    return sorted(p for p in root.rglob("*") if p.is_file()
                  and p.suffix.lower() in (".xlsx", ".csv"))

"""Every hostile string of issue 17, planted in a dealer group's raw DMS export, stays data.

A two-store group is written as a raw DMS export whose store name, city, car models,
advisors and customer names are HTML, script and spreadsheet-formula payloads, in a file
whose name is an HTML tag. ``crm-analysis batch`` then runs every notebook in English and
Chinese, and ``crm-analysis validate --quarantine`` writes the quarantine file. The test
reads what was written: no HTML page holds a tag or attribute that came from the data
(tests/html_safety.py parses the pages), and no spreadsheet holds a formula
(tests/sheet_safety.py reads the files).

Every notebook in two languages takes a few minutes: the module is ``slow``
(``make test-slow``). The fast suite checks the same escaping and writing paths directly
(tests/test_escaping.py, tests/test_safety.py, tests/test_five_classes.py).
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from html_safety import live_markup
from openpyxl import load_workbook
from sheet_safety import formula_cells, spreadsheets_under

from crm_analysis.synth import generate
from crm_analysis.synth.dms import write_dms_export

pytestmark = pytest.mark.slow

AS_OF = "2025-12-31"
STORE_NAME = "<script>alert('store')</script>"
CITY = "' onmouseover='alert(6)"
MODELS = ['<img src=x onerror=alert(1)>', '=HYPERLINK("http://example.invalid","y")']
ADVISOR = 'x"><svg onload=alert(5)>'
NAMES = ['=HYPERLINK("http://example.invalid","n")', "@SUM(1+1)", "+cmd|' /C calc'!A0"]
FILE_NAME = "<img src=x onerror=alert(2)>.csv"
HOSTILE = [STORE_NAME, CITY, *MODELS, ADVISOR, *NAMES, FILE_NAME, FILE_NAME[:-4]]


def _plant(ds):
    """The dataset with the hostile strings in its text columns."""
    stores = ds.stores.copy()
    stores.loc[stores.index[0], "store_name"] = STORE_NAME
    if "city" in stores.columns:
        stores.loc[stores.index[0], "city"] = CITY
    vehicles = ds.vehicles.copy()
    common = vehicles["model"].value_counts().index[:2]
    vehicles["model"] = vehicles["model"].replace(dict(zip(common, MODELS, strict=True)))
    customers = ds.customers.copy()
    customers["name"] = [NAMES[i % 3] if i % 4 == 0 else v
                         for i, v in enumerate(customers["name"])]
    orders = ds.repair_orders.copy()
    first = orders["advisor"].dropna().iloc[0]
    orders["advisor"] = orders["advisor"].replace({first: ADVISOR})
    return type(ds)(stores=stores, customers=customers, vehicles=vehicles,
                    repair_orders=orders, meta=ds.meta)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile") / "dms"
    ds = _plant(generate(n_stores=2, seed=17, scale=0.03, as_of=AS_OF))
    write_dms_export(ds, folder, formats=("csv",), months_per_file=120, seed=17)
    first = sorted(folder.glob("*.csv"))[0]
    first.rename(folder / FILE_NAME)
    return folder


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "crm_analysis", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1500)


@pytest.fixture(scope="module")
def batch_out(export, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    proc = _cli("batch", "--data", str(export), "--out", str(out), "--run", "hostile",
                "--lang", "en,zh", "--jobs", "2", "--as-of", AS_OF, "--no-progress",
                cwd=out)
    return out, proc


def test_every_notebook_ran(batch_out):
    out, proc = batch_out
    assert proc.returncode == 0, proc.stderr[-3000:]
    pages = sorted(out.rglob("*.html"))
    # 2 stores x 5 store notebooks + the group notebook, in two languages, and the indexes
    assert len([p for p in pages if p.name != "index.html"]) >= 2 * (2 * 5 + 1)


def test_no_live_markup_in_any_page(batch_out):
    out, _proc = batch_out
    problems = []
    for page in sorted(out.rglob("*.html")):
        problems += [f"{page.relative_to(out)}: {p}"
                     for p in live_markup(page.read_text(encoding="utf-8"), HOSTILE)]
    assert problems == []


def test_the_hostile_text_is_shown_not_dropped(batch_out):
    """Escaping, not deletion: the store's name appears, escaped, in its reports."""
    out, _proc = batch_out
    text = "\n".join(p.read_text(encoding="utf-8") for p in out.rglob("*.html"))
    assert "&lt;script&gt;alert(" in text


_XLSX_LINK = re.compile(
    r'href="data:application/vnd\.openxmlformats-officedocument\.spreadsheetml\.sheet;'
    r'base64,([A-Za-z0-9+/=]+)"')


def _embedded_workbooks(out: Path, folder: Path) -> list[Path]:
    """The call lists that notebook 04's pages offer as download links, written out."""
    found = []
    for page in sorted(out.rglob("04_*.html")):
        for i, payload in enumerate(_XLSX_LINK.findall(page.read_text(encoding="utf-8"))):
            path = folder / f"{page.parent.parent.name}_{page.parent.name}_{i}.xlsx"
            path.write_bytes(base64.b64decode(payload))
            found.append(path)
    return found


def test_no_formula_in_any_spreadsheet(batch_out, export, tmp_path):
    out, _proc = batch_out
    quarantine = tmp_path / "quarantine.csv"
    proc = _cli("validate", str(export), "--as-of", AS_OF, "--quarantine", str(quarantine),
                cwd=tmp_path)
    assert quarantine.is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    call_lists = _embedded_workbooks(out, tmp_path)
    assert len(call_lists) == 2 * 2  # a call list per store and language
    sheets = spreadsheets_under(out) + [quarantine, *call_lists]
    problems = [p for s in sheets for p in formula_cells(s)]
    assert problems == []
    # the planted models are in the call lists, as text
    cells = {c.value for p in call_lists
             for row in load_workbook(p).worksheets[0].iter_rows() for c in row}
    assert set(MODELS) <= cells

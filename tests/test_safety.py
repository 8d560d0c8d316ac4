"""crm_analysis.safety: the shared path check and the formula-safe writer (issue 17).

The formula rule is OWASP's "CSV Injection" guidance: a cell starting with ``=``, ``+``,
``-``, ``@``, tab or carriage return is written as text; numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import os

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from crm_analysis.safety import (
    MAX_PART_LENGTH,
    atomic_path,
    check_path_part,
    contained,
    is_formula_text,
    is_safe_part,
    spreadsheet_text,
    write_csv,
    write_xlsx,
)
from tests.sheet_safety import formula_cells

HOSTILE_CELLS = [
    '=HYPERLINK("http://example.invalid","y")',
    "@SUM(1+1)",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
    "=1+1",
]

# text that starts like a formula, as a user might type it; hypothesis adds the rest
_formulaish = st.builds(lambda a, b: a + b, st.sampled_from(["=", "+", "-", "@", "\t", "\r"]),
                        st.text(max_size=30))
_cell_text = st.one_of(_formulaish, st.text(max_size=30), st.sampled_from(HOSTILE_CELLS))


@pytest.mark.parametrize("value", ["S001", "store_1", "a.b-c", "x" * MAX_PART_LENGTH, "2024001",
                                   "北京一店", "门店1"])
def test_safe_ids_pass(value):
    assert check_path_part(value, "store id") == value


@pytest.mark.parametrize("value", [
    "../../x", "..", ".", "/abs/path", "a/b", "a\\b", "", " S1", ".hidden", "x" * 65,
    "x" * 300, "CON", "nul.txt", "Com1", 'x"><img src=x>', "a\x00b", "a b", "a\u202eb",
    "a\u200bb", "Ｓ/1", "_x", None, 12,
])
def test_unsafe_ids_refused_with_a_clear_error(value):
    with pytest.raises(ValueError, match=r"^report: store id .* cannot be used as a folder"):
        check_path_part(value, "store id", where="report")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_accepted_ids_stay_inside_the_folder(tmp_path_factory, value):
    base = tmp_path_factory.getbasetemp()
    if is_safe_part(value):
        path = contained(base, value)
        assert path.parent == base.resolve() and path.name == value
    else:
        with pytest.raises(ValueError):
            contained(base, value)


def test_contained_refuses_a_link_out_of_the_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "S1").symlink_to(tmp_path)  # a link planted in the output folder
    with pytest.raises(ValueError, match="outside"):
        contained(out, "S1", "x.html")
    assert contained(out, "S2", "x.html") == out.resolve() / "S2" / "x.html"


def test_formula_rule():
    for v in HOSTILE_CELLS:
        assert is_formula_text(v)
        assert spreadsheet_text(v) == "'" + v
    for v in ["-12.5", "+86", "1e5", "-.5", "text", "", "张三", "a=b"]:
        assert spreadsheet_text(v) == v, v
    assert spreadsheet_text(-3) == -3


@settings(max_examples=40, deadline=None)
@given(st.lists(_cell_text, min_size=1, max_size=20))
def test_csv_has_no_formula_and_keeps_the_text(tmp_path_factory, texts):
    path = tmp_path_factory.mktemp("csv") / "out.csv"
    df = pd.DataFrame({"text": texts, "amount": [-1.5] * len(texts)})
    write_csv(df, path)
    assert formula_cells(path) == []
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))
    assert rows[0] == ["text", "amount"]
    for written, original in zip(rows[1:], texts, strict=True):
        assert written[0] in (original, "'" + original)
        assert written[1] == "-1.5"  # numbers stay numbers


@settings(max_examples=12, deadline=None)
@given(st.lists(_cell_text, min_size=1, max_size=40))
def test_xlsx_has_no_formula_and_keeps_the_text_exactly(tmp_path_factory, texts):
    # openpyxl cannot store the C0 control characters XML 1.0 forbids (the loaders drop
    # them), and XML reads every line break back as LF
    texts = ["".join(ch for ch in s if ch in "\t\n\r" or ord(ch) >= 32) for s in texts]
    texts = [s.replace("\r\n", "\n").replace("\r", "\n") for s in texts]
    path = tmp_path_factory.mktemp("xlsx") / "out.xlsx"
    df = pd.DataFrame({"text": texts, "n": range(len(texts))})
    write_xlsx({"Sheet": df}, path)
    assert formula_cells(path) == []
    ws = load_workbook(path)["Sheet"]
    got = [ws.cell(row=i + 2, column=1).value for i in range(len(texts))]
    assert [g or "" for g in got] == texts
    assert [ws.cell(row=i + 2, column=2).value for i in range(len(texts))] \
        == list(range(len(texts)))


def test_scanner_finds_a_formula_written_the_unsafe_way(tmp_path):
    """The scanner itself can fail: pandas' own writers leave the formulas live."""
    df = pd.DataFrame({"name": HOSTILE_CELLS})
    df.to_excel(tmp_path / "raw.xlsx", index=False)
    df.to_csv(tmp_path / "raw.csv", index=False)
    assert len(formula_cells(tmp_path / "raw.xlsx")) >= 1
    assert len(formula_cells(tmp_path / "raw.csv")) == len(HOSTILE_CELLS)


def test_atomic_path_leaves_no_half_file(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("old")
    with pytest.raises(OSError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise OSError(28, "No space left on device")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.html"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["report.html"]


def test_atomic_path_gives_the_mode_a_plain_write_gives(tmp_path):
    with atomic_path(tmp_path / "new.csv") as tmp:
        tmp.write_text("x")
    (tmp_path / "plain.csv").write_text("x")
    assert (tmp_path / "new.csv").stat().st_mode == (tmp_path / "plain.csv").stat().st_mode
    os.chmod(tmp_path / "plain.csv", 0o640)
    with atomic_path(tmp_path / "plain.csv") as tmp:  # an existing file keeps its mode
        tmp.write_text("y")
    assert (tmp_path / "plain.csv").stat().st_mode & 0o777 == 0o640

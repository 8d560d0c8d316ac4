"""Notebooks people open: prose in Markdown in the reader's language, short code cells.

Static checks of every report notebook and lesson, before any execution (issue 18):

- the table of contents is complete before the notebook runs, in both languages: every
  heading is in a Markdown cell tagged ``lang-en`` or ``lang-zh``, and the two languages
  have the same outline;
- Chinese prose lives in Markdown cells (code cells hold less than 5% of the notebook's
  Chinese characters); sentences with computed numbers are narration catalog entries
  (``crm_analysis/texts/*.toml``) that code cells call by key, one line per finding;
- no code cell is longer than 15 lines.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

from crm_analysis.lab import notebook_sources
from crm_analysis.narrative import TEXTS_PACKAGE, catalog, strong, text_fields

NOTEBOOKS = notebook_sources()
IDS = [p.stem for p in NOTEBOOKS]
TEXTS_DIR = Path(__file__).resolve().parent.parent / "crm_analysis" / "texts"
CATALOGS = sorted(p.stem for p in TEXTS_DIR.glob("*.toml"))

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
HEADING = re.compile(r"^(#{1,6})\s+\S", re.M)
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
KEY_IN_CODE = re.compile(r"""["']((?:common|nb\d\d|lesson\d)\.[A-Za-z0-9_.]+)["']""")
MAX_CODE_LINES = 15
MAX_CODE_HAN_SHARE = 0.05


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _outline(nb, lang: str) -> list[int]:
    levels: list[int] = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and f"lang-{lang}" in _tags(cell):
            levels += [len(m.group(1)) for m in HEADING.finditer(FENCE.sub("", cell.source))]
    return levels


@pytest.fixture(scope="module", params=NOTEBOOKS, ids=IDS)
def nb(request):
    return request.param.stem, jupytext.read(request.param)


def test_every_markdown_cell_speaks_one_language(nb):
    name, book = nb
    for i, cell in enumerate(book.cells):
        if cell.cell_type != "markdown":
            continue
        langs = [t for t in _tags(cell) if t.startswith("lang-")]
        assert langs in (["lang-en"], ["lang-zh"]), (
            f"{name} cell {i}: a Markdown cell needs exactly one tag lang-en or lang-zh, "
            f"has {langs}: {cell.source[:60]!r}")
        if langs == ["lang-en"]:
            assert not HAN.search(cell.source), f"{name} cell {i}: Chinese in a lang-en cell"
        else:
            assert HAN.search(cell.source), f"{name} cell {i}: no Chinese in a lang-zh cell"


def test_markdown_renders_without_stray_markers(nb):
    """Bold next to Chinese punctuation stays literal ``**`` in CommonMark (write
    ``<strong>`` there); rendered with nbconvert's own Markdown renderer."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    name, book = nb
    for i, cell in enumerate(book.cells):
        if cell.cell_type == "markdown":
            html = re.sub(r"<code>.*?</code>", "", markdown2html_mistune(cell.source), flags=re.S)
            assert "**" not in html, f"{name} cell {i}: unrendered ** in {cell.source[:80]!r}"


def test_table_of_contents_is_complete_before_running(nb):
    name, book = nb
    en, zh = _outline(book, "en"), _outline(book, "zh")
    assert en and en[0] == 1, f"{name}: the English outline must start with a # title: {en}"
    assert en == zh, f"{name}: the English and Chinese outlines differ: {en} != {zh}"
    assert len(en) >= 4, f"{name}: a chapter has a title and sections; outline {en}"
    for i, cell in enumerate(book.cells):
        if cell.cell_type == "code":  # headings printed by code are missing from the TOC
            assert not re.search(r"""["'](#{1,6}) """, cell.source), (
                f"{name} cell {i}: a heading written by code; put it in a Markdown cell")


def test_chinese_prose_lives_in_markdown(nb):
    name, book = nb
    in_code = sum(len(HAN.findall(c.source)) for c in book.cells if c.cell_type == "code")
    total = sum(len(HAN.findall(c.source)) for c in book.cells)
    assert total > 0, f"{name}: no Chinese prose at all"
    assert in_code / total < MAX_CODE_HAN_SHARE, (
        f"{name}: code cells hold {in_code} of {total} Chinese characters "
        f"({in_code / total:.1%}); move prose to lang-zh Markdown cells or to the "
        f"narration catalog ({TEXTS_PACKAGE})")


def test_code_cells_are_short(nb):
    name, book = nb
    long = [(i, len(c.source.splitlines())) for i, c in enumerate(book.cells)
            if c.cell_type == "code" and len(c.source.splitlines()) > MAX_CODE_LINES]
    assert not long, f"{name}: code cells longer than {MAX_CODE_LINES} lines (cell, lines): {long}"


def test_no_domain_logic_defined_in_notebooks(nb):
    """Functions and classes live in tested library modules; a lesson's answer cells
    (tagged ``exercise`` / ``solution``) are the student's code and may define them."""
    name, book = nb
    for i, cell in enumerate(book.cells):
        if cell.cell_type == "code" and not {"exercise", "solution"} & set(_tags(cell)):
            assert not re.search(r"^\s*(def|class) ", cell.source, re.M), (
                f"{name} cell {i}: a function or class defined in a notebook")


def test_narration_keys_in_notebooks_exist(nb):
    name, book = nb
    for i, cell in enumerate(book.cells):
        if cell.cell_type != "code":
            continue
        for key in KEY_IN_CODE.findall(cell.source):
            chapter = key.split(".", 1)[0]
            assert key in catalog(chapter), f"{name} cell {i}: unknown narration key {key!r}"


@pytest.mark.parametrize("chapter", CATALOGS)
def test_catalog_entries_match_across_languages(chapter):
    entries = catalog(chapter)
    assert entries, chapter
    for key, texts in entries.items():
        assert text_fields(texts["en"]) == text_fields(texts["zh"]), (
            f"{key}: the en and zh texts use different fields")
        assert not HAN.search(texts["en"]), f"{key}: Chinese in the English text"
        if re.search(r"[A-Za-z]{3}", re.sub(r"\{[^}]*\}|`[^`]*`", "", texts["en"])):
            assert HAN.search(texts["zh"]), f"{key}: the Chinese text has no Chinese"
        for lang in ("en", "zh"):
            assert not HEADING.search(texts[lang]), (
                f"{key} ({lang}): headings belong in Markdown cells, not in narration")
            assert "**" not in strong(texts[lang]), f"{key} ({lang}): unpaired ** (bold)"


@pytest.mark.parametrize("chapter", [c for c in CATALOGS if c != "common"])
def test_every_catalog_entry_is_used(chapter):
    """A catalog entry no notebook or module asks for is dead text."""
    sources = [p.read_text(encoding="utf-8") for p in NOTEBOOKS]
    sources += [p.read_text(encoding="utf-8")
                for p in (TEXTS_DIR.parent).rglob("*.py")]
    used = set().union(*(KEY_IN_CODE.findall(s) for s in sources))
    # keys built from a prefix in code: n.tell(f"nb02.grade_{kind}") counts "nb02.grade_"
    prefixes = set().union(*(re.findall(r"""f["']((?:nb\d\d|lesson\d)\.[A-Za-z0-9_.]+)\{""", s)
                             for s in sources))
    unused = [k for k in catalog(chapter)
              if k not in used and not any(k.startswith(p) for p in prefixes)]
    assert not unused, f"{chapter}: catalog entries used nowhere: {unused}"

"""Does an HTML report speak one language? Paragraphs of the other language, found.

A report declares its language in ``<html lang>`` (``reporting.to_html``). Every
paragraph, list item and heading of its text (code and tables aside: table cells hold
data such as store and model names) is then checked:

- in an English report, a block whose letters are mostly Chinese characters is Chinese
  prose (a Chinese store name inside an English sentence is data, not prose);
- in a Chinese report, a block with five or more English words and no Chinese character
  is English prose (a model name inside a Chinese sentence is data).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
WORD = re.compile(r"[A-Za-z]{2,}")
BLOCKS = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "figcaption"}
SKIP = {"code", "pre", "script", "style", "table"}


class _Blocks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang = ""
        self.blocks: list[str] = []
        self._open: list[list[str]] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag == "html":
            self.lang = dict(attrs).get("lang") or ""
        if tag in SKIP:
            self._skip += 1
        elif tag in BLOCKS:
            self._open.append([])

    def handle_endtag(self, tag):
        if tag in SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in BLOCKS and self._open:
            text = " ".join("".join(self._open.pop()).split())
            if text:
                self.blocks.append(text)

    def handle_data(self, data):
        if self._open and not self._skip:
            self._open[-1].append(data.replace("\u00b6", ""))  # heading anchors: ¶


def report_blocks(html: str) -> tuple[str, list[str]]:
    """The declared language (``"en"``, ``"zh"``) and the text blocks of a report."""
    parser = _Blocks()
    parser.feed(html)
    return parser.lang, parser.blocks


def other_language_blocks(html: str) -> list[str]:
    """The paragraphs, list items and headings written in the other language."""
    lang, blocks = report_blocks(html)
    assert lang in ("en", "zh"), f"report without a known <html lang>: {lang!r}"
    found = []
    for text in blocks:
        han, latin = len(HAN.findall(text)), sum(len(w) for w in WORD.findall(text))
        if lang == "en" and han and han > latin:
            found.append(text)
        elif lang == "zh" and not han and len(WORD.findall(text)) >= 5:
            found.append(text)
    return found


def check_reports(folder: Path) -> int:
    """Assert every report under ``folder`` holds one language and no unrendered Markdown
    bold (``**``); return how many were read."""
    reports = [p for p in sorted(folder.rglob("*.html")) if p.name != "index.html"]
    for path in reports:
        html = path.read_text(encoding="utf-8")
        wrong = other_language_blocks(html)
        assert not wrong, f"{path}: paragraphs in the other language: {wrong[:3]}"
        stray = [b for b in report_blocks(html)[1] if "**" in b]
        assert not stray, f"{path}: Markdown bold left unrendered: {stray[:3]}"
        assert "<strong></strong>" not in html, f"{path}: a bold span lost its text"
    return len(reports)

"""Is text from data still text in a report's HTML? A checker built on ``html.parser``.

Issue 17 ("Untrusted data stays data"): a store name, a model, an advisor or a file name
from a DMS export may hold markup. :func:`live_markup` parses a page (a report, the index,
a lesson) as a browser's tokenizer would and lists the markup there that came from the
hostile strings put into the data: each hostile string is parsed alone to learn which
tags and attributes it would create, and the page is searched for them.

- a start tag with the hostile tag's name and (at least) its attributes, the attribute
  values starting with the hostile ones (an unterminated ``<img src=x onerror=y`` swallows
  what follows, so its last value runs on);
- a ``<script>`` or ``<style>`` whose content starts with the hostile one's content;
- a tag the reports never use (``iframe``, ``svg``, ``textarea``, ``base`` ...) with the
  hostile tag's name;
- an attribute written in a hostile string (``' onmouseover='x``: an attribute-value
  breakout): an event handler (``on...``) of that name anywhere, or another attribute with
  exactly that name and value;
- a ``javascript:`` / ``vbscript:`` / ``data:text/html`` URL in an attribute that holds a
  URL (``href``, ``src``, ``action`` ...);
- a link (``<a href>``) whose target is part of a hostile string (Markdown turning
  ``http://...`` or ``[a](javascript:...)`` from data into a link).

A tag without attributes and without content that the reports themselves use (``<p>``,
``<b>``) is not told apart from the page's own: that is cosmetic, not live markup, and
the exact check of a unit test compares :func:`tag_structure` with a benign rendering.

:func:`visible_text` is the page's text as a reader sees it (character references
decoded, scripts and styles left out), to check that escaping kept the hostile text.

>>> live_markup('<p>&lt;img src=x onerror=alert(1)&gt;</p>', ["<img src=x onerror=alert(1)>"])
[]
>>> live_markup('<p><img src=x onerror=alert(1)></p>', ["<img src=x onerror=alert(1)>"])
["live tag <img src=x onerror=alert(1)> from '<img src=x onerror=alert(1)>'"]
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser

__all__ = ["live_markup", "normalize_text", "tag_structure", "visible_text"]

#: Elements whose content is not markup (the tokenizer's raw text states).
_RAW = {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes",
        "noscript", "plaintext"}
#: Tags that no report, index or lesson page uses; one of them from data is live whatever
#: its attributes (a frame, a plug-in, a form, a base URL, a foreign namespace...).
NEVER_IN_REPORTS = frozenset({
    "applet", "base", "button", "embed", "form", "frame", "frameset", "iframe", "input",
    "keygen", "link", "math", "meta", "noembed", "noframes", "noscript", "object", "option",
    "plaintext", "portal", "select", "svg", "template", "textarea", "xmp", "video", "audio",
    "source", "track", "marquee", "isindex", "dialog"})
_DANGEROUS_URL = re.compile(r"^(javascript|vbscript|data:text/html)", re.I)
#: Attributes a browser follows or loads as a URL.
_URL_ATTRS = frozenset({"href", "src", "action", "formaction", "xlink:href", "data", "poster",
                        "background", "codebase", "cite", "longdesc", "srcset", "ping",
                        "manifest", "lowsrc", "dynsrc"})
_ATTR_IN_TEXT = re.compile(
    r"""([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"?|'([^']*)'?|([^\s"'=<>`]+))""")


@dataclass
class _Tag:
    name: str
    attrs: list[tuple[str, str]]
    raw: str
    after: str = ""  # the text right after the start tag, up to the next tag


class _Page(HTMLParser):
    """The start tags of a page (with the text right after each) and its visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[_Tag] = []
        self.text: list[str] = []
        self._last: _Tag | None = None
        self._raw: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        rec = _Tag(tag, [(k.lower(), v or "") for k, v in attrs],
                   self.get_starttag_text() or "")
        self.tags.append(rec)
        self._last = rec
        if tag in _RAW:
            self._raw = tag

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(_Tag(tag, [(k.lower(), v or "") for k, v in attrs],
                              self.get_starttag_text() or ""))
        self._last = None

    def handle_endtag(self, tag: str) -> None:
        self._last = None
        if tag == self._raw:
            self._raw = None

    def handle_data(self, data: str) -> None:
        if self._last is not None:
            self._last.after += data
        if self._raw not in ("script", "style"):
            self.text.append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def visible_text(html_text: str) -> str:
    """The text of ``html_text`` as a reader sees it: character references decoded,
    without the content of ``<script>`` and ``<style>``."""
    return "".join(_parse(html_text).text)


def normalize_text(text: str) -> str:
    """``text`` with whitespace runs as one space and invisible characters (controls)
    left out: what "the page shows the string" can mean, since HTML collapses whitespace
    and a report keeps a data value on one line."""
    kept = "".join(c for c in text if c.isprintable() or c.isspace())
    return re.sub(r"\s+", " ", kept).strip()


def tag_structure(html_text: str) -> list[tuple[str, tuple[str, ...]]]:
    """The start tags of ``html_text`` in order, as (name, sorted attribute names)."""
    return [(t.name, tuple(sorted(k for k, _ in t.attrs))) for t in _parse(html_text).tags]


def _hostile_parts(h: str) -> tuple[list[_Tag], set[str], set[tuple[str, str]]]:
    """The tags ``h`` creates when parsed alone (also when the page closes an open tag
    of it), and the attribute names and (name, value) pairs written in it."""
    tags = _parse(h).tags
    seen = {(t.name, tuple(t.attrs)) for t in tags}
    for t in _parse(h + ">").tags:  # "<img src=x onerror=y" left open swallows the rest
        if (t.name, tuple(t.attrs)) not in seen:
            tags.append(t)
    names: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    for m in _ATTR_IN_TEXT.finditer(h):
        name = m.group(1).lower()
        value = next((g for g in m.groups()[1:] if g is not None), "")
        names.add(name)
        if value:
            pairs.add((name, value))
    return tags, names, pairs


def _matches(doc: _Tag, bad: _Tag) -> bool:
    if doc.name != bad.name:
        return False
    if bad.attrs:
        have = dict(doc.attrs)
        return all(k in have and have[k].startswith(v) for k, v in bad.attrs)
    if bad.name in ("script", "style"):
        return bool(bad.after.strip()) and doc.after.strip().startswith(bad.after.strip())
    return bad.name in NEVER_IN_REPORTS


def live_markup(html_text: str, hostile_strings: Iterable[str]) -> list[str]:
    """The live tags and attributes of ``html_text`` that came from ``hostile_strings``
    (see the module docstring); an empty list when every hostile string stayed text."""
    page = _parse(html_text)
    problems: list[str] = []
    hostile = [h for h in dict.fromkeys(hostile_strings) if h]
    parts = {h: _hostile_parts(h) for h in hostile}
    for doc in page.tags:
        for h, (tags, names, pairs) in parts.items():
            if any(_matches(doc, bad) for bad in tags):
                problems.append(f"live tag {doc.raw[:120]} from {h[:80]!r}")
                continue
            for k, v in doc.attrs:
                if (k.startswith("on") and k in names) or (k, v) in pairs:
                    problems.append(f"attribute {k}={v[:60]!r} in {doc.raw[:120]} "
                                    f"from {h[:80]!r}")
            href = dict(doc.attrs).get("href", "")
            if (doc.name == "a" and len(href) >= 4 and not href.startswith(("#", "data:"))
                    and href in h):
                problems.append(f"link {doc.raw[:120]} made from {h[:80]!r}")
        for k, v in doc.attrs:
            url = re.sub(r"[\x00-\x20]+", "", v)
            if k in _URL_ATTRS and _DANGEROUS_URL.match(url):
                problems.append(f"script URL in {k}= of {doc.raw[:120]}")
    return list(dict.fromkeys(problems))

"""Writing a notebook's text in English or Chinese from computed numbers.

Notebooks narrate like a thesis chapter, and every number in the text must come from the
computation. A :class:`Narrator` holds the report language; ``say`` renders Markdown in
that language, and the number formatters follow its conventions (``1,234`` and ``58.4%``
in both; money as ``¥1.23M`` in English and ``123.4万元`` in Chinese). ``record``
stores the notebook's key metrics in its output, where tests and the report runner read
them back (see :func:`crm_analysis.reporting.read_metrics`).

Text from data is data
----------------------
A store name, a model, an advisor or a file name comes from a DMS export and may hold
anything, ``<script>`` included. It reaches a report's HTML only through this module's
one escaping path: :func:`escape_html` for HTML (every cell, header and label of
:meth:`Narrator.table`, every attribute and text of :func:`html_element` and
:func:`download_link`, the report index), and :func:`escape_markdown` (built on it) for
the values of a narration sentence, which is Markdown that passes raw HTML through. A
sentence filled by :meth:`Narrator.text` is a :class:`MarkdownText`: inserted into
another sentence it stays Markdown, while every other string is escaped, so a store named
``**x**`` shows its asterisks and ``<img onerror=...>`` shows as text.

Example
-------
>>> from crm_analysis.narrative import Narrator
>>> n = Narrator("zh")
>>> n("Orders", "工单")
'工单'
>>> n.rmb(1_234_567), n.pct(0.5843)
('123.5万元', '58.4%')
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import html
import json
import math
import numbers
import re
import string
import tomllib
from importlib import resources
from typing import Any

from crm_analysis.i18n import LANGS, check_lang

#: MIME type under which :meth:`Narrator.record` stores metrics in a notebook's output.
METRICS_MIME = "application/vnd.crm-analysis.metrics+json"


#: The package folder of the narration catalogs: ``texts/<chapter>.toml``.
TEXTS_PACKAGE = "crm_analysis.texts"

#: Format specs of catalog fields -> the Narrator method that formats the value
#: (``{orders:int}``, ``{share:pct}``, ``{share:pct0}`` for no decimal, ``{x:num2}``).
_SPEC_RE = re.compile(r"^(int|num|pct|pts|rmb|date|month)(\d?)$")


def _flatten(table: dict[str, Any], prefix: str, out: dict[str, dict[str, str]],
             where: str) -> None:
    for key, value in table.items():
        name = f"{prefix}.{key}"
        if not isinstance(value, dict):
            raise ValueError(f"{where}: {name} must be a table with 'en' and 'zh' texts")
        if set(value) & set(LANGS):
            missing = [lang for lang in LANGS if not isinstance(value.get(lang), str)]
            extra = sorted(set(value) - set(LANGS))
            if missing or extra:
                raise ValueError(f"{where}: {name} needs exactly the texts {list(LANGS)}; "
                                 f"missing {missing}, unknown {extra}")
            out[name] = {lang: value[lang].strip("\n") for lang in LANGS}
        else:
            _flatten(value, name, out, where)


@functools.cache
def catalog(chapter: str) -> dict[str, dict[str, str]]:
    """The narration texts of one chapter: ``{"<chapter>.<key>": {"en": ..., "zh": ...}}``.

    A chapter's sentences that carry computed numbers live in the package file
    ``crm_analysis/texts/<chapter>.toml`` (one TOML table per sentence or paragraph, with
    an ``en`` and a ``zh`` text), so that a notebook's code cell is one line per finding
    and the two languages are reviewed side by side. Fields name their format:
    ``{orders:int}``, ``{share:pct}``, ``{value:rmb}``, ``{day:date}``, ``{first:month}``,
    ``{x:num2}`` (two decimals), ``{gap:pts}``; a field without a spec is inserted as text.

    Raises ``KeyError`` for a chapter without a catalog and ``ValueError`` naming the
    entry when one lacks a language.

    >>> catalog("common")["common.orders"]["en"]
    '{orders:int} orders, {share:pct} of them maintenance.'
    """
    name = f"{chapter}.toml"
    try:
        text = resources.files(TEXTS_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyError(f"no narration catalog {name!r} in {TEXTS_PACKAGE}") from None
    out: dict[str, dict[str, str]] = {}
    _flatten(tomllib.loads(text), chapter, out, f"{TEXTS_PACKAGE}/{name}")
    return out


def text_fields(template: str) -> set[str]:
    """The field names of a catalog text (``{orders:int}`` -> ``{"orders"}``).

    >>> sorted(text_fields("{a:int} of {b}"))
    ['a', 'b']
    """
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", re.S)


def strong(text: str) -> str:
    """Markdown bold (``**...**``) as HTML ``<strong>``, which renders in every language.

    CommonMark only closes ``**`` after punctuation when whitespace or punctuation
    follows, so ``**门店（002）**为`` stays literal asterisks in Chinese, which has no
    spaces between words (a known limit of the spec for CJK text; no Markdown option of
    nbconvert's renderer changes it). Inline HTML is part of Markdown, so the notebooks
    and reports render it alike.

    >>> strong("**City Premium 4S（002）**总排名第一")
    '<strong>City Premium 4S（002）</strong>总排名第一'
    """
    return _BOLD.sub(r"<strong>\1</strong>", text)


# ------------------------------------------------------------------------ escaping


def escape_html(value: Any) -> str:
    """``value`` as HTML text: ``&``, ``<``, ``>``, ``"`` and ``'`` as character references.

    The package's one HTML escape: safe in element text and in a quoted attribute value.

    >>> escape_html('x"><img src=x onerror=alert(1)>')
    'x&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'
    """
    return html.escape(str(value), quote=True)


#: Characters Markdown may read as syntax anywhere in a line (CommonMark, GitHub's
#: extensions, nbconvert's renderer: emphasis, code, links, tables, strikethrough, maths,
#: autolinks ``http://``), written as numeric character references, which CommonMark shows
#: literally and never reads as syntax; unlike backslash escapes they also stay literal in
#: an HTML block.
_MD_ALWAYS = {c: f"&#{ord(c)};" for c in "\\`*_[]|~$:"}
#: Line breaks and other line-like whitespace (a new line could start a heading, a list or
#: a code block): one space.
_MD_SPACE = re.compile(r"[ \t\n\r\x0b\x0c\x1c-\x1f\x85\u2028\u2029]+")
#: What opens a block at the start of a line: a heading, a list, a setext underline, an
#: ordered list item (``1.``): the marker is escaped when a value starts with it.
_MD_BLOCK_START = re.compile(r"^( ?)([#+=-]|\d{1,9}(?=[.)]))")


def escape_markdown(value: Any) -> str:
    """``value`` as literal text inside a Markdown sentence.

    HTML characters become references (:func:`escape_html`), the Markdown syntax
    characters ``\\ ` * _ [ ] | ~ $ :`` numeric references, a leading block marker
    (``#``, ``-``, ``+``, ``=``, ``1.``) too, line breaks and tabs one space, and a space
    at either end a reference (``**{name}**`` stays bold), so that the value renders as
    exactly its text, on one line, in every Markdown renderer (nbconvert's, JupyterLab's).

    >>> escape_markdown("**x** <b>")
    '&#42;&#42;x&#42;&#42; &lt;b&gt;'
    >>> escape_markdown("# Wuhu\\n- 1")
    '&#35; Wuhu - 1'
    """
    text = _MD_SPACE.sub(" ", str(value))
    text = escape_html(text)
    text = "".join(_MD_ALWAYS.get(c, c) for c in text)
    m = _MD_BLOCK_START.match(text)
    if m:
        lead, mark = m.groups()
        if mark.isdigit():  # "1." -> "1&#46;"
            end = m.end()
            text = text[:end] + f"&#{ord(text[end])};" + text[end + 1:]
        else:
            text = lead + f"&#{ord(mark)};" + text[m.end():]
    if text.startswith(" "):
        text = "&#32;" + text[1:]
    if text.endswith(" "):
        text = text[:-1] + "&#32;"
    return text


class MarkdownText(str):
    """Markdown that is safe to display: a catalog sentence whose data values are escaped.

    :meth:`Narrator.text` returns it. Inserted as a value into another sentence it stays
    Markdown (its bold stays bold), while a plain ``str`` value is escaped by
    :func:`escape_markdown`. ``+`` and :meth:`join` keep the rule: the other strings are
    escaped, the result is a ``MarkdownText``.

    >>> sep = MarkdownText(", ")
    >>> sep.join([MarkdownText("**a**"), "*b*"])
    '**a**, &#42;b&#42;'
    """

    __slots__ = ()

    def __add__(self, other: str) -> MarkdownText:
        return MarkdownText(str.__add__(self, markdown_text(other)))

    def __radd__(self, other: str) -> MarkdownText:
        return MarkdownText(str.__add__(markdown_text(other), self))

    def join(self, items: Any) -> MarkdownText:  # type: ignore[override]
        """The items, escaped unless they are ``MarkdownText``, with ``self`` between them."""
        return MarkdownText(str.join(self, (markdown_text(x) for x in items)))


def markdown_text(value: Any) -> MarkdownText:
    """``value`` as :class:`MarkdownText`: unchanged if it is one, else escaped.

    >>> markdown_text("a_b"), markdown_text(MarkdownText("**a**"))
    ('a&#95;b', '**a**')
    """
    return value if isinstance(value, MarkdownText) else MarkdownText(escape_markdown(value))


def _is_trusted_value(value: Any) -> bool:
    """Values whose text holds no markup: numbers, booleans, dates and MarkdownText."""
    return isinstance(value, MarkdownText | numbers.Number | dt.date | dt.datetime) or (
        hasattr(value, "dtype") and getattr(value.dtype, "kind", "O") in "biufcmM")


def _markdown_to_plain(text: str) -> str:
    """A catalog sentence as plain text: bold markers removed, references decoded."""
    return html.unescape(_BOLD.sub(r"\1", text))


_VOID_ELEMENTS = frozenset({"br", "hr", "img", "input", "meta", "link", "wbr"})
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")


def html_element(tag: str, content: Any = "", /, **attributes: Any) -> str:
    """One HTML element, ``<tag attr="...">content</tag>``, with every attribute value and
    the content escaped by :func:`escape_html` (an attribute ``None`` is left out, a
    trailing ``_`` is dropped from a name: ``class_``).

    ``tag`` and attribute names are ours and must be plain names (a ``ValueError``
    otherwise); the content is text. To nest elements, pass the inner element as
    :class:`HTMLText` (what this function returns).

    >>> html_element("a", "<b>", href="data:x", download='x"><img src=x>')
    '<a href="data:x" download="x&quot;&gt;&lt;img src=x&gt;">&lt;b&gt;</a>'
    """
    names = [tag] + [k.rstrip("_") for k in attributes]
    for name in names:
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"html_element: {name!r} is not an HTML tag or attribute name")
    attrs = "".join(f' {k.rstrip("_")}="{escape_html(v)}"'
                    for k, v in attributes.items() if v is not None)
    inner = content if isinstance(content, HTMLText) else escape_html(content)
    if tag.lower() in _VOID_ELEMENTS:
        return HTMLText(f"<{tag}{attrs}>")
    return HTMLText(f"<{tag}{attrs}>{inner}</{tag}>")


class HTMLText(str):
    """HTML built by :func:`html_element`: nested into another element as is."""

    __slots__ = ()


#: The MIME type of an Excel workbook (.xlsx).
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def download_link(data: bytes, file_name: str, text: str, *, mime: str = XLSX_MIME) -> str:
    """A paragraph with a link that downloads ``data`` as ``file_name``: the file is inside
    the link (a base64 ``data:`` URI), so the report stays one self-contained file.

    ``file_name`` and ``text`` are escaped (a store id in a file name cannot leave the
    ``download`` attribute).

    >>> print(download_link(b"hi", 'a"><x>.txt', "<it>", mime="text/plain"))
    <p><a download="a&quot;&gt;&lt;x&gt;.txt" href="data:text/plain;base64,aGk=">&lt;it&gt;</a></p>
    """
    href = f"data:{mime};base64,{base64.b64encode(bytes(data)).decode('ascii')}"
    return html_element("p", html_element("a", text, download=file_name, href=href))


class _Formatter(string.Formatter):
    """``str.format`` with the Narrator's number formats as format specs; with
    ``markdown``, every other value that may hold text from data is escaped
    (:func:`escape_markdown`), and a :class:`MarkdownText` value is kept as it is."""

    def __init__(self, narrator: Narrator, *, markdown: bool = True) -> None:
        self.narrator = narrator
        self.markdown = markdown

    def format_field(self, value: Any, format_spec: str) -> str:
        m = _SPEC_RE.match(format_spec)
        if m is None:
            if not self.markdown:
                if isinstance(value, MarkdownText):
                    value = _markdown_to_plain(value)
                return super().format_field(value, format_spec)
            shown = super().format_field(value, format_spec)
            return shown if _is_trusted_value(value) else escape_markdown(shown)
        kind, digits = m.groups()
        method = getattr(self.narrator, kind)
        return method(value, int(digits)) if digits else method(value)


def _cell_text(value: Any, precision: int) -> str:
    """A cell's text as pandas' Styler shows it by default (floats with ``precision``)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return f"{value:.{precision}f}"
    return str(value)


def _escaped_format(spec: str | None, precision: int) -> Any:
    """A Styler formatter: ``spec.format(value)`` (or the default text), escaped."""
    def show(value: Any) -> str:
        if spec is not None:
            try:
                return escape_html(spec.format(value))
            except (TypeError, ValueError):
                pass
        return escape_html(_cell_text(value, precision))

    return show


def html_table(df: Any, formats: dict[Any, str] | None = None, *, na_rep: str = "–") -> Any:
    """A pandas ``Styler`` of ``df`` without its index, every cell, column header and index
    label escaped by :func:`escape_html` (pandas' Styler does not escape by default).

    ``formats`` maps a column to a ``str.format`` spec (``"{:,.0f}"``; a column ``df``
    does not have is ignored); other cells show as pandas shows them; missing values as
    ``na_rep``.

    >>> import pandas as pd
    >>> html = html_table(pd.DataFrame({"<b>": ["<script>"], "v": [0.5]}),
    ...                   {"v": "{:.0%}"}).to_html()
    >>> "&lt;script&gt;" in html and "&lt;b&gt;" in html and "<script>" not in html, "50%" in html
    (True, True)
    """
    import pandas as pd

    precision = int(pd.get_option("styler.format.precision"))
    default = _escaped_format(None, precision)
    styler = (df.style.hide(axis="index")
              .format(default, na_rep=na_rep)
              .format_index(default, axis="index")
              .format_index(default, axis="columns"))
    shown = {c: spec for c, spec in (formats or {}).items() if c in df.columns}
    if shown:
        # subset: a dict alone would reset the other columns to pandas' unescaped default
        styler = styler.format({c: _escaped_format(spec, precision)
                                for c, spec in shown.items()},
                               subset=list(shown), na_rep=na_rep)
    return styler


def _finite(x: Any) -> bool:
    """True for a number that is neither missing nor infinite."""
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    """JSON-safe plain Python values (numpy scalars, NaN → None, timestamps → ISO)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Narrator:
    """Language-aware text and number formatting for one report.

    Parameters
    ----------
    lang:
        ``"en"`` or ``"zh"``.

    Example
    -------
    >>> n = Narrator("en")
    >>> n.int(1234567), n.rmb(1_234_567), n.rmb(512.3)
    ('1,234,567', '¥1.23M', '¥512')
    """

    def __init__(self, lang: str = "en") -> None:
        self.lang = check_lang(lang)

    # -- text ----------------------------------------------------------------------
    def __call__(self, en: str, zh: str) -> str:
        """The text in the report language.

        >>> Narrator("en")("Store", "门店")
        'Store'
        """
        return en if self.lang == "en" else zh

    def say(self, en: str, zh: str) -> None:
        """Display Markdown in the report language (in a notebook; prints elsewhere).

        >>> Narrator("en").say("**Hello**", "**你好**")  # doctest: +SKIP
        """
        self._show(self(en, zh))

    @staticmethod
    def _show(text: str) -> None:
        text = strong(text)  # data values in a MarkdownText hold no "*": only ours are bold
        try:
            from IPython import get_ipython
            from IPython.display import Markdown, display

            if get_ipython() is not None:
                display(Markdown(text))
                return
        except ImportError:  # pragma: no cover - IPython is a dependency
            pass
        print(text)

    def _template(self, key: str, values: dict[str, Any]) -> str:
        chapter = key.split(".", 1)[0]
        texts = catalog(chapter).get(key)
        if texts is None:
            raise KeyError(f"no narration text {key!r} in {TEXTS_PACKAGE}/{chapter}.toml")
        template = texts[self.lang]
        missing = text_fields(template) - set(values)
        if missing:
            raise KeyError(f"narration text {key!r} needs the value(s) {sorted(missing)}")
        return template

    def text(self, key: str, **values: Any) -> MarkdownText:
        """A catalog text (see :func:`catalog`) in the report language, filled with ``values``.

        ``key`` is ``"<chapter>.<entry>"``. Unknown keys and missing values raise
        ``KeyError`` naming them. The result is Markdown (:class:`MarkdownText`): numbers
        and dates are formatted by the field's spec, text values are escaped
        (:func:`escape_markdown`: a store named ``<b>x</b>`` shows as that text), and a
        value that is itself a ``MarkdownText`` (another catalog text) is inserted as it
        is. For a title outside Markdown (a chart, a workbook) use :meth:`plain`.

        >>> Narrator("zh").text("common.orders", orders=1234, share=0.5)
        '共 1,234 张工单，其中 50.0% 为保养。'
        >>> Narrator("en").text("common.store", store_name="<b>", store_id="1",
        ...                     as_of="2024-06-30")
        '**&lt;b&gt; (1)** · analysis date **30 Jun 2024**'
        """
        return MarkdownText(_Formatter(self).format(self._template(key, values), **values))

    def plain(self, key: str, **values: Any) -> str:
        """A catalog text as plain text: the values as they are, no bold markers.

        For a chart or workbook title and a link's text (which are escaped where they are
        written), not for Markdown (:meth:`text`).

        >>> Narrator("en").plain("common.store", store_name="A*B", store_id="1",
        ...                      as_of="2024-06-30")
        'A*B (1) · analysis date 30 Jun 2024'
        """
        template = _BOLD.sub(r"\1", self._template(key, values))  # our bold, not the data's
        return _Formatter(self, markdown=False).format(template, **values)

    def join(self, items: Any, sep: str = "") -> MarkdownText:
        """Catalog texts (and other values, escaped) joined by ``sep`` (ours, not data) into
        one value for a sentence: ``n.tell("nb03.effects", effects=n.join(lines, "\\n"))``.

        >>> Narrator("en").join([MarkdownText("**a**"), "<b>"], " · ")
        '**a** · &lt;b&gt;'
        """
        return MarkdownText(sep).join(items)

    def bold(self, value: Any) -> MarkdownText:
        """``value`` in bold, as a value for a sentence; its text is escaped.

        >>> Narrator("en").bold("Age_of_car")
        '**Age&#95;of&#95;car**'
        """
        return MarkdownText("**" + escape_markdown(value) + "**")

    def tell(self, key: str, **values: Any) -> None:
        """Display a catalog text as Markdown: one finding, one line of the notebook.

        >>> Narrator("en").tell("common.orders", orders=10, share=0.25)  # doctest: +SKIP
        """
        self._show(self.text(key, **values))

    def table(self, df: Any, *, money: Any = (), pct: Any = (), ints: Any = (),
              floats: Any = (), digits: int = 2, pct_digits: int = 1) -> Any:
        """Display a table without its index: thousands separators, percentages, "–" for NaN.

        ``money`` columns show whole yuan (``12,345``), ``pct`` columns percentages with
        ``pct_digits`` decimals, ``ints`` thousands separators, ``floats`` ``digits``
        decimals. Every cell and header is escaped (:func:`html_table`). In a notebook
        the table is displayed and ``None`` returned (so a cell ending with
        ``n.table(...)`` does not show it twice); elsewhere the pandas ``Styler`` is
        returned.

        >>> import pandas as pd
        >>> s = Narrator("en").table(pd.DataFrame({"v": [1234.4], "p": [0.25]}),
        ...                          money=["v"], pct=["p"])
        >>> "1,234" in s.to_html() and "25.0%" in s.to_html()
        True
        """
        fmt = {c: "{:,.0f}" for c in money}
        fmt.update({c: f"{{:.{int(pct_digits)}%}}" for c in pct})
        fmt.update({c: "{:,}" for c in ints})
        fmt.update({c: f"{{:,.{int(digits)}f}}" for c in floats})
        styler = html_table(df, fmt)
        try:
            from IPython import get_ipython
            from IPython.display import display

            if get_ipython() is not None:
                display(styler)
                return None
        except ImportError:  # pragma: no cover
            pass
        return styler

    def download(self, data: bytes, file_name: str, text: str, *,
                 mime: str = XLSX_MIME) -> str | None:
        """Display a link that downloads ``data`` as ``file_name`` (:func:`download_link`:
        the file name and the text are escaped). In a notebook the link is displayed and
        ``None`` returned; elsewhere its HTML is returned.

        >>> "download=" in Narrator("en").download(b"x", "a.xlsx", "Download")
        True
        """
        link = download_link(data, file_name, text, mime=mime)
        try:
            from IPython import get_ipython
            from IPython.display import HTML, display

            if get_ipython() is not None:
                display(HTML(link))
                return None
        except ImportError:  # pragma: no cover
            pass
        return link

    # -- numbers -------------------------------------------------------------------
    #: What a missing number (None, NaN, inf) reads as in the text: "n/a" / "无数据".
    @property
    def missing(self) -> str:
        """The text shown for a number that could not be computed.

        >>> Narrator("en").pct(float("nan")), Narrator("zh").rmb(None)
        ('n/a', '无数据')
        """
        return "n/a" if self.lang == "en" else "无数据"

    def int(self, x: float) -> str:
        """A whole number with thousands separators.

        >>> Narrator("zh").int(1300.4)
        '1,300'
        """
        if not _finite(x):
            return self.missing
        return f"{round(float(x)):,}"

    def num(self, x: float, digits: int = 1) -> str:
        """A number with ``digits`` decimals.

        >>> Narrator("en").num(2.345, 2)
        '2.35'
        """
        if not _finite(x):
            return self.missing
        return f"{float(x):,.{digits}f}"

    def pct(self, x: float, digits: int = 1) -> str:
        """A share (0–1) as a percentage.

        >>> Narrator("en").pct(0.25)
        '25.0%'
        """
        if not _finite(x):
            return self.missing
        return f"{100 * float(x):.{digits}f}%"

    def pts(self, x: float, digits: int = 1) -> str:
        """A difference of two shares in percentage points.

        >>> Narrator("zh").pts(-0.031)
        '-3.1个百分点'
        """
        if not _finite(x):
            return self.missing
        v = f"{100 * float(x):+.{digits}f}"
        return f"{v} points" if self.lang == "en" else f"{v}个百分点"

    def rmb(self, x: float) -> str:
        """Money in RMB: ``¥512``, ``¥12.3k``, ``¥1.23M`` or ``512元``, ``1.2万元``, ``1.5亿元``.

        >>> Narrator("zh").rmb(250_000_000)
        '2.50亿元'
        """
        if not _finite(x):
            return self.missing
        x = float(x)
        a = abs(x)
        if self.lang == "en":
            if a >= 1e6:
                return f"¥{x / 1e6:,.2f}M"
            if a >= 1e4:
                return f"¥{x / 1e3:,.1f}k"
            return f"¥{x:,.0f}"
        if a >= 1e8:
            return f"{x / 1e8:,.2f}亿元"
        if a >= 1e4:
            return f"{x / 1e4:,.1f}万元"
        return f"{x:,.0f}元"

    def date(self, d: Any) -> str:
        """A date as ``30 Jun 2026`` or ``2026年6月30日``.

        >>> Narrator("zh").date("2026-06-30")
        '2026年6月30日'
        """
        import pandas as pd

        ts = pd.Timestamp(d)
        return ts.strftime("%-d %b %Y") if self.lang == "en" else (
            f"{ts.year}年{ts.month}月{ts.day}日")

    def month(self, d: Any) -> str:
        """A month as ``Jun 2026`` or ``2026年6月``.

        >>> Narrator("en").month("2026-06-30")
        'Jun 2026'
        """
        import pandas as pd

        ts = pd.Timestamp(d)
        return ts.strftime("%b %Y") if self.lang == "en" else f"{ts.year}年{ts.month}月"

    # -- metrics -------------------------------------------------------------------
    def record(self, **metrics: Any) -> dict[str, Any]:
        """Store key metrics in the notebook output (read back by the report runner).

        Values are converted to plain JSON (numpy scalars to numbers, NaN to null,
        dates to ISO strings). Returns the converted dict.

        >>> Narrator("en").record(orders_per_month=1300.0)  # doctest: +SKIP
        {'orders_per_month': 1300.0}
        """
        plain = _plain(metrics)
        json.dumps(plain)  # fail here, not in the runner, if something is not JSON
        try:
            from IPython import get_ipython
            from IPython.display import display

            if get_ipython() is not None:
                display({METRICS_MIME: plain}, raw=True)
        except ImportError:  # pragma: no cover
            pass
        return plain

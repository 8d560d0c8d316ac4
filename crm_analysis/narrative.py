"""Writing a notebook's text in English or Chinese from computed numbers.

Notebooks narrate like a thesis chapter, and every number in the text must come from the
computation. A :class:`Narrator` holds the report language; ``say`` renders Markdown in
that language, and the number formatters follow its conventions (``1,234`` and ``58.4%``
in both; money as ``¥1.23M`` in English and ``123.4万元`` in Chinese). ``record``
stores the notebook's key metrics in its output, where tests and the report runner read
them back (see :func:`crm_analysis.reporting.read_metrics`).

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

import functools
import json
import math
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


class _Formatter(string.Formatter):
    """``str.format`` with the Narrator's number formats as format specs."""

    def __init__(self, narrator: Narrator) -> None:
        self.narrator = narrator

    def format_field(self, value: Any, format_spec: str) -> str:
        m = _SPEC_RE.match(format_spec)
        if m is None:
            return super().format_field(value, format_spec)
        kind, digits = m.groups()
        method = getattr(self.narrator, kind)
        return method(value, int(digits)) if digits else method(value)


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
        text = strong(text)
        try:
            from IPython import get_ipython
            from IPython.display import Markdown, display

            if get_ipython() is not None:
                display(Markdown(text))
                return
        except ImportError:  # pragma: no cover - IPython is a dependency
            pass
        print(text)

    def text(self, key: str, **values: Any) -> str:
        """A catalog text (see :func:`catalog`) in the report language, filled with ``values``.

        ``key`` is ``"<chapter>.<entry>"``. Unknown keys and missing values raise
        ``KeyError`` naming them.

        >>> Narrator("zh").text("common.orders", orders=1234, share=0.5)
        '共 1,234 张工单，其中 50.0% 为保养。'
        """
        chapter = key.split(".", 1)[0]
        texts = catalog(chapter).get(key)
        if texts is None:
            raise KeyError(f"no narration text {key!r} in {TEXTS_PACKAGE}/{chapter}.toml")
        template = texts[self.lang]
        missing = text_fields(template) - set(values)
        if missing:
            raise KeyError(f"narration text {key!r} needs the value(s) {sorted(missing)}")
        return _Formatter(self).format(template, **values)

    def tell(self, key: str, **values: Any) -> None:
        """Display a catalog text as Markdown: one finding, one line of the notebook.

        >>> Narrator("en").tell("common.orders", orders=10, share=0.25)  # doctest: +SKIP
        """
        self._show(self.text(key, **values))

    def table(self, df: Any, *, money: Any = (), pct: Any = (), ints: Any = (),
              floats: Any = (), digits: int = 2) -> Any:
        """Display a table without its index: thousands separators, percentages, "–" for NaN.

        ``money`` columns show whole yuan (``12,345``), ``pct`` columns one decimal
        percent, ``ints`` thousands separators, ``floats`` ``digits`` decimals. In a
        notebook the table is displayed and ``None`` returned (so a cell ending with
        ``n.table(...)`` does not show it twice); elsewhere the pandas ``Styler`` is
        returned.

        >>> import pandas as pd
        >>> s = Narrator("en").table(pd.DataFrame({"v": [1234.4], "p": [0.25]}),
        ...                          money=["v"], pct=["p"])
        >>> "1,234" in s.to_html() and "25.0%" in s.to_html()
        True
        """
        fmt = {c: "{:,.0f}" for c in money}
        fmt.update({c: "{:.1%}" for c in pct})
        fmt.update({c: "{:,}" for c in ints})
        fmt.update({c: f"{{:,.{int(digits)}f}}" for c in floats})
        styler = df.style.hide(axis="index").format(fmt, na_rep="–")
        try:
            from IPython import get_ipython
            from IPython.display import display

            if get_ipython() is not None:
                display(styler)
                return None
        except ImportError:  # pragma: no cover
            pass
        return styler

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

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

import json
import math
from typing import Any

from crm_analysis.i18n import check_lang

#: MIME type under which :meth:`Narrator.record` stores metrics in a notebook's output.
METRICS_MIME = "application/vnd.crm-analysis.metrics+json"


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
        text = self(en, zh)
        try:
            from IPython import get_ipython
            from IPython.display import Markdown, display

            if get_ipython() is not None:
                display(Markdown(text))
                return
        except ImportError:  # pragma: no cover - IPython is a dependency
            pass
        print(text)

    def table(self, df: Any, *, money: Any = (), pct: Any = (), ints: Any = (),
              floats: Any = (), digits: int = 2) -> Any:
        """Display a table without its index: thousands separators, percentages, "–" for NaN.

        ``money`` columns show whole yuan (``12,345``), ``pct`` columns one decimal
        percent, ``ints`` thousands separators, ``floats`` ``digits`` decimals. Returns
        the pandas ``Styler`` (displayed in a notebook, returned unchanged elsewhere).

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

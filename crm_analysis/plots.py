"""Charts of the analysis chapters: one function per chart, seaborn style.

:mod:`crm_analysis.plotting` holds the style (seaborn theme, bundled CJK font) and the
small helpers every figure uses (:func:`~crm_analysis.plotting.label`,
:func:`~crm_analysis.plotting.fmt_rmb`, :func:`~crm_analysis.plotting.fmt_pct`); this
module holds the charts themselves. Every function

- takes tidy pandas frames (Polars frames are converted; a ``GradeResult`` may be passed
  where a grade summary is expected),
- draws into ``ax`` or, when ``ax`` is None, into a new figure,
- labels everything in ``lang`` (``"en"`` or ``"zh"``) from :mod:`crm_analysis.i18n`:
  a title (``title=`` overrides it), axis labels with units, translated category codes,
- raises :class:`KeyError` naming a missing column,
- and returns the Axes.

Call :func:`crm_analysis.plotting.setup` first. If it was not called, the functions add
the bundled CJK font to ``font.family`` as a fallback family, and give the texts of an
``ax`` created before that (title, axis and tick labels) the same font list.

Sections: value grading (issue 4: Lorenz curve, grade shares, customer pyramid, Pareto/ABC,
RFM segments, value matrix, cluster profile, profile heat map, resource allocation);
retention charts (the FAW-Toyota chart, survival curves, cohort heat map, funnel, forest
plot) will follow in their own section, using the same private helpers.

Example
-------
>>> import pandas as pd
>>> from crm_analysis import plots
>>> summary = pd.DataFrame({"grade": ["A", "B", "C"], "share_customers": [0.2, 0.3, 0.5],
...                         "share_value": [0.7, 0.2, 0.1]})
>>> ax = plots.grade_shares(summary, lang="zh")
>>> ax.get_title()
'各ABC类别的客户占比与价值占比'
>>> [round(float(v), 2) for v in ax.containers[1].datavalues]
[0.7, 0.2, 0.1]
>>> import matplotlib.pyplot as plt; plt.close("all")
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import narwhals as nw
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.patches import Polygon
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter

from crm_analysis.i18n import LABELS, check_lang, codes, t, with_unit
from crm_analysis.narrative import Narrator
from crm_analysis.plotting import BUNDLED_FAMILY, fmt_pct, fmt_rmb, label, register_bundled_font

__all__ = [
    "allocation_bars",
    "cluster_profile",
    "customer_pyramid",
    "grade_shares",
    "lorenz_curve",
    "pareto_chart",
    "profile_heatmap",
    "rfm_segment_bars",
    "value_matrix",
]

#: Category vocabularies of :mod:`crm_analysis.i18n`, tried in this order when a column's
#: codes must be recognised (value grades first: a grade summary's ``grade`` column).
VOCABULARIES: tuple[str, ...] = (
    "pyramid", "abc", "rfm", "value_group", "churn_class", "age_segment", "grade", "usage",
    "region", "occupation", "customer_type", "warranty_status", "status", "ro_type", "payer",
)  # fmt: skip

#: What the value of a grade summary can be: ``value_label`` -> ``plot.what_<value_label>``.
VALUE_LABELS: tuple[str, ...] = ("value", "net_value", "gross_profit", "revenue")

#: Colours of the MVC / MGC / BZ groups (seaborn "deep" palette).
GROUP_COLORS = {"mvc": "#4C72B0", "mgc": "#55A868", "bz": "#C44E52", "other": "#8C8C8C"}

#: Resources of :func:`allocation_bars`: column stem -> unit (a ``unit.*`` key or "rmb").
RESOURCE_UNITS = {"hours": "hours", "budget": "rmb"}

# Columns of a grade summary that are statistics, not cluster features.
_SUMMARY_STATS = frozenset({
    "customers", "share_customers", "value", "share_value", "value_per_customer",
    "orders_per_year", "revenue", "gross_profit", "net_value", "cost_to_serve", "k",
    "silhouette",
})  # fmt: skip
#: Code of the missing-value group (as in :func:`crm_analysis.value.profile`).
UNKNOWN = "unknown"
_FEATURE_PREFIXES = ("centroid_", "center_", "centre_", "mean_", "z_", "std_")


# ------------------------------------------------------------------------ shared helpers
def _prepare(lang: str) -> str:
    """Validate ``lang`` and make sure the bundled CJK font is a fallback family."""
    check_lang(lang)
    families = list(mpl.rcParams["font.family"])
    if BUNDLED_FAMILY not in families:
        mpl.rcParams["font.family"] = [*families, register_bundled_font()]
        mpl.rcParams["axes.unicode_minus"] = False
    return lang


def _new_ax(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        if not isinstance(ax, Axes):
            raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
        _adopt_fonts(ax)
        return ax
    _fig, new = plt.subplots(figsize=figsize, layout="constrained")
    return new


def _adopt_fonts(ax: Axes) -> None:
    """Give the texts of an Axes made before the CJK font was set up the current families.

    Title, axis labels and tick labels are created with the Axes; new ticks copy the
    first tick's font. Texts that already have the bundled font are left alone.
    """
    families = list(mpl.rcParams["font.family"])
    for text in ax.findobj(Text):
        if BUNDLED_FAMILY not in text.get_fontfamily():
            text.set_fontfamily(families)


def _frame(data: Any, what: str, *, part: str = "summary") -> pd.DataFrame:
    """A pandas DataFrame from pandas / Polars (eager or lazy) / a ``GradeResult``."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, tuple) and hasattr(data, part):  # GradeResult(labels, summary)
        return _frame(getattr(data, part), what)
    try:
        frame = nw.from_native(data)
    except TypeError:
        raise TypeError(
            f"{what}: expected a pandas or Polars DataFrame, got {type(data).__name__}"
        ) from None
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect()
    if not isinstance(frame, nw.DataFrame):
        raise TypeError(f"{what}: expected a DataFrame, got {type(data).__name__}")
    return frame.to_pandas()


def _require(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"{what}: missing column(s) {missing}; the frame has {list(df.columns)}")


def _what(value_label: str, lang: str) -> str:
    if value_label not in VALUE_LABELS:
        raise ValueError(f"value_label must be one of {VALUE_LABELS}, got {value_label!r}")
    return t(f"plot.what_{value_label}", lang)


def _sentence(text: str, lang: str) -> str:
    """Lower-case the first letter of an English label used inside a sentence."""
    if lang != "en" or not text or text[:2].isupper():
        return text
    return text[0].lower() + text[1:]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * float(x):.{digits}f}%"


def _money(x: float, lang: str) -> str:
    """Short money label: ``¥12.3k`` / ``1.2万元`` (the report text's format)."""
    return Narrator(lang).rmb(x)


def _money_tick(lang: str) -> FuncFormatter:
    """Tick formatter for wide money ranges: ``¥1.2M`` / ``¥12万``."""

    def fmt(v: float, _pos: object = None) -> str:
        a, sign = abs(v), "-" if v < 0 else ""
        if lang == "zh":
            if a >= 1e8:
                return f"{sign}¥{a / 1e8:g}亿"
            return f"{sign}¥{a / 1e4:g}万" if a >= 1e4 else f"{sign}¥{a:,.0f}"
        if a >= 1e6:
            return f"{sign}¥{a / 1e6:g}M"
        return f"{sign}¥{a / 1e3:g}k" if a >= 1e4 else f"{sign}¥{a:,.0f}"

    return FuncFormatter(fmt)


def _vocabulary(values: Sequence[Any], kind: str | None, what: str) -> str | None:
    """The i18n vocabulary holding every code in ``values`` (``kind`` if given)."""
    # "unknown" is the missing-value group of crm_analysis.value.profile: any vocabulary
    present = [str(v) for v in values if not pd.isna(v) and str(v) != UNKNOWN]
    if kind is not None:
        missing = [v for v in present if f"{kind}.{v}" not in LABELS]
        if missing:
            raise KeyError(f"{what}: no label for {kind!r} code(s) {missing} (keys '{kind}.*')")
        return kind
    for vocab in VOCABULARIES:
        if present and all(f"{vocab}.{v}" in LABELS for v in present):
            return vocab
    return None


def _grade_kind(values: Sequence[Any], kind: str | None, what: str) -> str:
    vocab = _vocabulary(values, kind, what)
    if vocab is None:
        raise KeyError(
            f"{what}: cannot tell which grading the codes {sorted(map(str, set(values)))} "
            f"belong to; pass kind= (one of {VOCABULARIES[:6]})"
        )
    return vocab


def _dim_label(name: str, lang: str) -> str:
    """Display name of a dimension (column) of a profile or grade table."""
    for key in (f"plot.dim_{name}", f"column.{name}", f"metric.{name}", f"feature.{name}"):
        if key in LABELS:
            return t(key, lang)
    return name


def _ordered_codes(values: pd.Series, vocab: str | None) -> list[Any]:
    """Distinct codes in display order: categorical order, vocabulary order, else sorted."""
    present = list(pd.unique(values.dropna()))
    if isinstance(values.dtype, pd.CategoricalDtype):
        order = [c for c in values.cat.categories if c in set(present)]
    elif vocab is not None:
        rank = {c: i for i, c in enumerate(codes(vocab))}
        order = sorted(present, key=lambda c: rank.get(str(c), len(rank)))
    else:
        try:
            order = sorted(present)
        except TypeError:
            order = sorted(present, key=str)
    if values.isna().any():
        order.append(None)
    return order


def _code_label(code: Any, field: str, vocab: str | None, lang: str) -> str:
    if code is None or (not isinstance(code, str) and pd.isna(code)):
        return t("plot.unknown", lang)
    if str(code) == UNKNOWN and (vocab is None or f"{vocab}.{UNKNOWN}" not in LABELS):
        return t("plot.unknown", lang)
    if vocab is not None:
        return t(f"{vocab}.{code}", lang)
    if field == "age_band" and float(code).is_integer():
        return t("metric.age_band", lang, n=int(code) + 1)
    return str(code)


def _translate_dim(values: pd.Series, field: str, lang: str) -> tuple[list[Any], list[str]]:
    """Codes of a profile dimension in order, with their display labels.

    A field with a vocabulary (``usage.*``, ``region.*``, ...) must have a label for each
    code; a value-grade column (``value_grade``, ``pyramid``, a summary's ``grade``) is
    recognised from its codes; other fields (model names, numbers) are shown as they are.
    """
    present = [str(v) for v in values.dropna().unique() if str(v) != UNKNOWN]
    vocab = _vocabulary(present, None, field) if present else None
    if field in VOCABULARIES and vocab != field:
        # the column has a vocabulary but some code is unknown: fail naming it
        vocab = _vocabulary(present, field, f"column {field!r}")
    order = _ordered_codes(values, vocab)
    return order, [_code_label(c, field, vocab, lang) for c in order]


def _grade_rows(summary: pd.DataFrame, grade_col: str) -> pd.DataFrame:
    """Summary rows in grade order (categorical order when the column is categorical)."""
    out = summary.reset_index(drop=True)
    if isinstance(out[grade_col].dtype, pd.CategoricalDtype):
        out = out.sort_values(grade_col, kind="stable").reset_index(drop=True)
    return out


def _paired_bars(
    ax: Axes,
    names: Sequence[str],
    first: np.ndarray,
    second: np.ndarray,
    *,
    legend: tuple[str, str],
    bar_labels: tuple[Sequence[str], Sequence[str]],
    colors: tuple[str, str] = ("#8DA0CB", "#4C72B0"),
) -> None:
    """Two horizontal bars per category, first category on top, with end labels."""
    y = np.arange(len(names), dtype=float)
    h = 0.38
    c1 = ax.barh(y - h / 2, first, height=h, color=colors[0], label=legend[0])
    c2 = ax.barh(y + h / 2, second, height=h, color=colors[1], label=legend[1])
    ax.bar_label(c1, labels=list(bar_labels[0]), padding=3, fontsize="small")
    ax.bar_label(c2, labels=list(bar_labels[1]), padding=3, fontsize="small")
    ax.set_yticks(y, list(names))
    ax.set_ylim(len(names) - 0.5, -0.5)  # first category on top
    lo = min(0.0, float(np.nanmin(np.r_[first, second], initial=0.0)))
    hi = max(0.0, float(np.nanmax(np.r_[first, second], initial=0.0)))
    span = (hi - lo) or 1.0
    # room for the end labels on both sides
    ax.set_xlim(lo - (0.3 * span if lo < 0 else 0.0), hi + 0.3 * span)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.grid(axis="y", visible=False)
    # above the plot, under the title (see _title_above_legend): never covers a bar label
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False,
              fontsize="small", borderaxespad=0.2)


def _heatmap(data: pd.DataFrame, **kwargs: Any) -> None:
    """:func:`seaborn.heatmap` without seaborn 0.13's warning about ``Colormap.set_bad``."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The set_bad function",
                                category=PendingDeprecationWarning)
        sns.heatmap(data, **kwargs)


def _title_above_legend(ax: Axes) -> None:
    """Lift the title over a legend placed just above the Axes."""
    ax.set_title(ax.get_title(), pad=22)


def _fit_xticklabels(ax: Axes) -> None:
    """Rotate the x tick labels by 30° when, horizontal, they would overlap."""
    if len([x for x in ax.get_xticklabels() if x.get_text()]) < 2:
        return
    try:
        ax.figure.draw_without_rendering()  # lay out and update the ticks first
        renderer = ax.figure.canvas.get_renderer()
        labels = [x for x in ax.get_xticklabels() if x.get_text()]
        widths = [renderer.get_text_width_height_descent(
            x.get_text(), x.get_fontproperties(), ismath=False)[0] for x in labels]
        slot = ax.get_window_extent(renderer).width / len(labels)
    except (AttributeError, RuntimeError, TypeError):  # pragma: no cover - odd backends
        labels = [x for x in ax.get_xticklabels() if x.get_text()]
        widths = [sum(1.0 if ord(c) > 0x2E80 else 0.6 for c in x.get_text()) for x in labels]
        # widths in em; the slot in em of a 10-point font
        slot = 72 * ax.figure.get_figwidth() * ax.get_position().width / len(labels) / 10
    if max(widths) > 0.85 * slot:
        ax.tick_params(axis="x", labelrotation=30)
        for x in ax.get_xticklabels():
            x.set_horizontalalignment("right")
            x.set_rotation_mode("anchor")
    else:  # seaborn may have turned them vertical
        ax.tick_params(axis="x", labelrotation=0)
        for x in ax.get_xticklabels():
            x.set_horizontalalignment("center")


# ------------------------------------------------------------------ value grading (issue 4)
def _ascending_curve(lorenz_df: Any, x: str, y: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz points in the classic orientation (lowest value first), starting at (0, 0).

    Accepts either orientation: a curve above the diagonal (customers sorted by value,
    highest first: a concentration or Pareto curve) is flipped, ``L(p) = 1 - C(1 - p)``.
    """
    df = _frame(lorenz_df, what)
    _require(df, [x, y], what)
    pts = df[[x, y]].astype(float).dropna().sort_values(x, kind="stable")
    p, v = pts[x].to_numpy(), pts[y].to_numpy()
    if len(p) == 0:
        raise ValueError(f"{what}: the curve has no points")
    if p[0] < -1e-9 or p[-1] > 1 + 1e-9:
        raise ValueError(f"{what}: {x} must lie in [0, 1], got {p[0]:.3g}..{p[-1]:.3g}")
    if p[0] > 0 or v[0] != 0:
        p, v = np.r_[0.0, p], np.r_[0.0, v]
    if abs(p[-1] - 1) > 1e-6 or abs(v[-1] - 1) > 1e-6:
        raise ValueError(f"{what}: the curve must end at (1, 1), got ({p[-1]:.3g}, {v[-1]:.3g})")
    if _area(p, v) > 0.5 + 1e-12:  # above the diagonal: highest value first
        p, v = 1.0 - p[::-1], 1.0 - v[::-1]
    return p, v


def _area(p: np.ndarray, v: np.ndarray) -> float:
    """Area under a piecewise-linear curve (trapezoids)."""
    return float(np.sum((v[1:] + v[:-1]) / 2 * np.diff(p)))


def _top_share_from_curve(p: np.ndarray, v: np.ndarray, top: float) -> tuple[float, float]:
    """Share of value held by the top ``top`` of customers, from an ascending curve.

    With one point per customer (``p = i/n``) the top group is the ``round(n × top)``
    best customers, halves up — the count rule of :func:`crm_analysis.value.top_share`;
    otherwise the curve is interpolated linearly. Returns (customer share where the top
    group starts, its value share).
    """
    n = len(p) - 1
    if n >= 1 and np.allclose(p, np.arange(n + 1) / n, atol=1e-12, rtol=0):
        k = int(np.floor(n * top + 0.5 + 1e-9))
        return float(p[n - k]), float(1.0 - v[n - k])
    return 1.0 - top, float(1.0 - np.interp(1.0 - top, p, v))


def lorenz_curve(
    lorenz_df: Any,
    *,
    gini: float | None = None,
    highlight: float | None = 0.2,
    value_label: str = "value",
    x: str = "share_customers",
    y: str = "share_value",
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Lorenz curve of customer value with the line of equality and the top-x% share.

    Parameters
    ----------
    lorenz_df:
        Points of the curve: cumulative share of customers ``x`` and cumulative share of
        value ``y`` (both 0–1), e.g. from :func:`crm_analysis.value.lorenz`. Either
        orientation is accepted (customers sorted by value ascending — the classic Lorenz
        curve, below the diagonal — or descending); the chart shows the classic one. The
        point (0, 0) is added if absent; the curve must end at (1, 1).
    gini:
        Gini coefficient shown in the legend; None computes it from the curve
        (1 − 2 × area under it, trapezoids — exact for a curve with one point per customer).
    highlight:
        Share of top customers to annotate ("top 20% of customers hold x% of value"):
        with one point per customer, the ``round(n × highlight)`` best customers (as
        :func:`crm_analysis.value.top_share`), else read off the curve by linear
        interpolation. None: no annotation.
    value_label:
        What the value is: ``"value"``, ``"net_value"``, ``"gross_profit"`` or
        ``"revenue"`` (used in the axis label and the annotation).
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes. The curve has gid ``"lorenz"``, the diagonal ``"equality"``, the
    annotation text ``"top_share"``.

    Example
    -------
    >>> import numpy as np, pandas as pd
    >>> v = np.sort(np.array([1.0, 1.0, 1.0, 1.0, 6.0]))
    >>> curve = pd.DataFrame({"share_customers": np.arange(1, 6) / 5,
    ...                       "share_value": v.cumsum() / v.sum()})
    >>> ax = lorenz_curve(curve, value_label="gross_profit")
    >>> [a.get_text() for a in ax.texts if a.get_gid() == "top_share"]
    ['Top 20% of customers\\nhold 60.0% of gross profit']
    >>> ax.get_legend().get_texts()[0].get_text()
    'Lorenz curve (Gini 0.40)'
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    p, v = _ascending_curve(lorenz_df, x, y, "lorenz_curve(lorenz_df)")
    if highlight is not None and not 0 < highlight < 1:
        raise ValueError(f"highlight must be a share in (0, 1) or None, got {highlight!r}")
    what = _what(value_label, lang)
    if gini is None:
        gini = 1.0 - 2.0 * _area(p, v)
    ax = _new_ax(ax, (6.5, 6))
    ax.plot(p, v, color="#4C72B0", lw=2, gid="lorenz", zorder=3,
            label=t("plot.lorenz_legend", lang, gini=f"{gini:.2f}"))
    ax.plot([0, 1], [0, 1], ls="--", color="0.5", lw=1, label=t("plot.equality", lang),
            gid="equality")
    ax.fill_between(p, v, p, color="#4C72B0", alpha=0.12, lw=0)
    if highlight is not None:
        x0, share = _top_share_from_curve(p, v, highlight)
        y0 = 1.0 - share
        ax.plot([x0, x0], [min(0.0, v.min()), y0], ls=":", color="#C44E52", lw=1)
        ax.plot([x0, 1.0], [1.0, 1.0], ls=":", color="#C44E52", lw=1)
        ax.plot([x0], [y0], "o", color="#C44E52", ms=5)
        ax.annotate("", xy=(x0, 1.0), xytext=(x0, y0),
                    arrowprops={"arrowstyle": "<->", "color": "#C44E52", "lw": 1.5})
        ax.text(x0 - 0.03, (y0 + 1.0) / 2, t("plot.top_share", lang, pct=_pct(highlight, 0),
                share=_pct(share), what=what), ha="right", va="center", color="#C44E52",
                gid="top_share", bbox={"boxstyle": "round", "fc": "white", "ec": "none",
                                       "alpha": 0.85})
    ax.set_xlim(0, 1)
    ax.set_ylim(min(0.0, float(v.min())) - 0.02, 1.02)
    ax.set_aspect("equal" if v.min() >= 0 else "auto")
    fmt_pct(ax, "both")
    ax.legend(loc="upper left")
    label(ax, title or t("plot.lorenz_title", lang, what=what),
          with_unit("plot.lorenz_x", "share", lang),
          with_unit("plot.cumulative_share_of", "share", lang, what=what))
    return ax


def grade_shares(
    summary: Any,
    *,
    grade_col: str = "grade",
    kind: str | None = None,
    value_label: str = "value",
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Share of customers vs share of value per grade: the pyramid table as a chart.

    Parameters
    ----------
    summary:
        A grade summary (or a ``GradeResult``): one row per grade with ``grade_col``,
        ``share_customers`` and ``share_value``; rows in grade order (a categorical
        ``grade_col`` is sorted by its categories).
    kind:
        Vocabulary of the grade codes: ``"pyramid"``, ``"abc"``, ``"rfm"``,
        ``"value_group"``, ... (labels ``f"{kind}.{code}"``); None recognises it from the
        codes.
    value_label:
        What the value is (``"value"``, ``"net_value"``, ``"gross_profit"``, ``"revenue"``).
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes; ``ax.containers[0]`` holds the customer-share bars, ``ax.containers[1]`` the
    value-share bars, first grade on top. Negative value shares (below-zero customers) are
    drawn to the left of zero.

    Example
    -------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"grade": ["important", "secondary", "normal", "small"],
    ...                   "share_customers": [0.01, 0.19, 0.3, 0.5],
    ...                   "share_value": [0.2, 0.5, 0.2, 0.1]})
    >>> ax = grade_shares(s, value_label="net_value")
    >>> [tl.get_text() for tl in ax.get_yticklabels()][:2]
    ['Important', 'Secondary']
    >>> ax.get_xlabel()
    'Share (%)'
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    what_arg = "grade_shares(summary)"
    df = _frame(summary, what_arg)
    _require(df, [grade_col, "share_customers", "share_value"], what_arg)
    df = _grade_rows(df, grade_col)
    vocab = _grade_kind(df[grade_col].tolist(), kind, what_arg)
    what = _what(value_label, lang)
    names = [t(f"{vocab}.{g}", lang) for g in df[grade_col]]
    sc = df["share_customers"].to_numpy(float)
    sv = df["share_value"].to_numpy(float)
    ax = _new_ax(ax, (8, 0.55 * len(df) + 2))
    _paired_bars(
        ax, names, sc, sv,
        legend=(t("metric.share_of_customers", lang), t("plot.share_of", lang, what=what)),
        bar_labels=([_pct(s) for s in sc], [_pct(s) for s in sv]),
    )
    fmt_pct(ax, "x")
    grading = _dim_label(vocab, lang)
    label(ax, title or t("plot.grade_shares_title", lang, what=what,
                         grading=_sentence(grading, lang)),
          with_unit("plot.share", "share", lang), grading)
    _title_above_legend(ax)
    return ax


def customer_pyramid(
    summary: Any,
    *,
    grade_col: str = "grade",
    value_label: str = "value",
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """The customer pyramid drawn as a pyramid: tiers stacked, the most valuable on top.

    Each tier is a trapezoid (the top one a triangle) of equal height — the drawing is
    schematic; the numbers are in the labels beside each tier: the tier's name, its share
    of customers and its share of value. A bracket marks the key customers (important +
    secondary) with their combined shares.

    Parameters
    ----------
    summary:
        A pyramid summary (or ``GradeResult``) with ``grade_col`` holding pyramid codes
        (``important``, ``secondary``, ``normal``, ``small``; a ``key`` row, if any, is
        left out as it overlaps two tiers), ``share_customers`` and ``share_value``.
    value_label:
        What the value is (``"value"``, ``"net_value"``, ``"gross_profit"``, ``"revenue"``).
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes; tier ``code`` is the polygon with gid ``f"tier_{code}"`` and its label the
    text with gid ``f"tier_text_{code}"``.

    Example
    -------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"grade": ["important", "secondary", "normal", "small"],
    ...                   "share_customers": [0.01, 0.19, 0.3, 0.5],
    ...                   "share_value": [0.2, 0.5, 0.2, 0.1]})
    >>> ax = customer_pyramid(s, lang="zh", value_label="net_value")
    >>> [x.get_text() for x in ax.texts if x.get_gid() == "tier_text_important"]
    ['重要客户\\n客户 1.0% · 净价值 20.0%']
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    what_arg = "customer_pyramid(summary)"
    df = _frame(summary, what_arg)
    _require(df, [grade_col, "share_customers", "share_value"], what_arg)
    df = df.loc[df[grade_col].astype(str) != "key"]
    _vocabulary(df[grade_col].astype(str).tolist(), "pyramid", what_arg)
    rank = {c: i for i, c in enumerate(codes("pyramid"))}
    df = df.assign(_rank=df[grade_col].astype(str).map(rank)).sort_values("_rank", kind="stable")
    if df[grade_col].astype(str).duplicated().any():
        raise ValueError(f"{what_arg}: {grade_col!r} has repeated tiers")
    what = _what(value_label, lang)
    n = len(df)
    ax = _new_ax(ax, (8, 5))
    colors = sns.color_palette("Blues_r", n + 2)[:n]
    ymid, wbottom = {}, {}
    for i, (code, sc, sv) in enumerate(
        zip(df[grade_col].astype(str), df["share_customers"], df["share_value"], strict=True)
    ):
        top, bottom = n - i, n - i - 1  # tier i spans heights [bottom, top]
        wt, wb = i / n, (i + 1) / n  # half-widths: 0 at the apex, 1 at the base
        ax.add_patch(Polygon([(-wb, bottom), (wb, bottom), (wt, top), (-wt, top)],
                             closed=True, fc=colors[i], ec="white", lw=2, gid=f"tier_{code}"))
        ymid[code] = (top + bottom) / 2
        wbottom[code] = wb
        text = t(f"pyramid.{code}", lang) + "\n" + t(
            "plot.pyramid_tier", lang, c=_pct(sc), what=what, v=_pct(sv))
        xe = (wt + wb) / 2
        ax.plot([xe + 0.03, 1.08], [ymid[code]] * 2, color="0.6", lw=0.8)
        ax.text(1.1, ymid[code], text, va="center", ha="left", fontsize="small",
                gid=f"tier_text_{code}")
    if {"important", "secondary"} <= set(ymid):
        key = df.loc[df[grade_col].astype(str).isin(["important", "secondary"])]
        y0, y1 = ymid["secondary"] - 0.45, ymid["important"] + 0.45
        xb = -wbottom["secondary"] - 0.1  # close to the pyramid, leaving room for the text
        ax.plot([xb + 0.05, xb, xb, xb + 0.05], [y0, y0, y1, y1], color="#C44E52", lw=1.5)
        ax.text(xb - 0.05, (y0 + y1) / 2,
                t("plot.pyramid_key", lang) + "\n" + t(
                    "plot.pyramid_tier", lang, c=_pct(key["share_customers"].sum()), what=what,
                    v=_pct(key["share_value"].sum())).replace(" · ", "\n"),
                ha="right", va="center", color="#C44E52", fontsize="small", gid="key_text")
    ax.set_xlim(-1.9, 2.5)
    ax.set_ylim(-0.05, n + 0.05)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    label(ax, title or t("plot.pyramid_title", lang),
          with_unit("plot.pyramid_x", "share", lang, what=what), t("plot.pyramid_y", lang))
    return ax


def _pareto_points(values_or_lorenz: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative (customer share, value share), customers sorted by value, highest first."""
    if isinstance(values_or_lorenz, pd.DataFrame) or (
        not isinstance(values_or_lorenz, pd.Series | np.ndarray | list | tuple)
        and hasattr(values_or_lorenz, "columns")
    ):
        p, v = _ascending_curve(values_or_lorenz, "share_customers", "share_value", what)
        return 1.0 - p[::-1], 1.0 - v[::-1]
    try:
        vals = np.asarray(values_or_lorenz, dtype=float).ravel()
    except (TypeError, ValueError):
        raise TypeError(f"{what}: expected numbers or a Lorenz-curve DataFrame") from None
    vals = vals[~np.isnan(vals)]
    if len(vals) == 0:
        raise ValueError(f"{what}: no values")
    total = vals.sum()
    if not total > 0:
        raise ValueError(f"{what}: the values must have a positive total, got {total:g}")
    vals = np.sort(vals)[::-1]
    p = np.arange(len(vals) + 1) / len(vals)
    return p, np.r_[0.0, np.cumsum(vals) / total]


def _crossing(p: np.ndarray, c: np.ndarray, level: float) -> float:
    """First customer share at which the cumulative value share reaches ``level``."""
    k = int(np.argmax(c >= level - 1e-12))
    if c[k] < level - 1e-12:
        return 1.0
    if k == 0:
        return float(p[0])
    return float(p[k - 1] + (level - c[k - 1]) / (c[k] - c[k - 1]) * (p[k] - p[k - 1]))


def pareto_chart(
    values_or_lorenz: Any,
    *,
    cuts: tuple[float, float] = (0.7, 0.9),
    value_label: str = "value",
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """ABC Pareto curve: cumulative share of value vs share of customers, best first.

    Parameters
    ----------
    values_or_lorenz:
        Per-customer values (a Series, array or list; NaN dropped; the total must be
        positive) or a Lorenz-curve DataFrame (``share_customers``, ``share_value``, either
        orientation; see :func:`lorenz_curve`).
    cuts:
        Cumulative value shares closing classes A and B (default 70% and 90%).
    value_label:
        What the value is (``"value"``, ``"net_value"``, ``"gross_profit"``, ``"revenue"``).
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes. The curve has gid ``"pareto"``; class ``c`` is the shaded span with gid
    ``f"band_{c}"`` from the customer share where the curve reaches the previous cut to
    where it reaches this one (linear interpolation between customers, so a band edge may
    fall inside a customer; :func:`crm_analysis.value.abc` assigns whole customers).

    Example
    -------
    >>> ax = pareto_chart([50.0, 20.0, 10.0, 10.0, 5.0, 5.0])
    >>> [x.get_text().split("\\n")[0] for x in ax.texts if x.get_gid() == "band_text_A"]
    ['A']
    >>> line = [ln for ln in ax.lines if ln.get_gid() == "pareto"][0]
    >>> [round(float(y), 2) for y in line.get_ydata()]
    [0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0]
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    what_arg = "pareto_chart(values_or_lorenz)"
    c1, c2 = (float(c) for c in cuts)
    if not 0 < c1 < c2 <= 1:
        raise ValueError(f"cuts must satisfy 0 < A cut < B cut <= 1, got {cuts!r}")
    p, c = _pareto_points(values_or_lorenz, what_arg)
    what = _what(value_label, lang)
    ax = _new_ax(ax, (8, 5))
    edges = [0.0, _crossing(p, c, c1), _crossing(p, c, c2), 1.0]
    colors = ("#4C72B0", "#8DA0CB", "#DDDDDD")
    for i, cls in enumerate(("A", "B", "C")):
        lo, hi = edges[i], edges[i + 1]
        ax.axvspan(lo, hi, color=colors[i], alpha=0.25, lw=0, gid=f"band_{cls}")
        ax.text((lo + hi) / 2, 0.03, t("plot.pareto_band", lang, cls=t(f"abc.{cls}", lang),
                                         pct=_pct(hi - lo)),
                ha="center", va="bottom", fontsize="small", gid=f"band_text_{cls}",
                rotation=90 if hi - lo < 0.12 else 0)
    for cut in (c1, c2):
        ax.axhline(cut, ls=":", color="0.4", lw=1)
    ax.plot(p, c, color="#C44E52", lw=2, gid="pareto",
            label=t("plot.pareto_curve", lang, what=what))
    ax.set_xlim(0, 1)
    ax.set_ylim(min(0.0, float(c.min())), max(1.0, float(c.max())) * 1.03)
    fmt_pct(ax, "both")
    ax.legend(loc="center right")
    label(ax, title or t("plot.pareto_title", lang, what=what),
          with_unit("plot.pareto_x", "share", lang),
          with_unit("plot.cumulative_share_of", "share", lang, what=what))
    return ax


def rfm_segment_bars(
    summary: Any,
    *,
    grade_col: str = "grade",
    value_label: str = "value",
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Customers and value per RFM eight segment: paired share bars with the counts.

    All eight segments are shown in the standard order (important value, develop, retain,
    win back, then the four general ones); a segment missing from ``summary`` shows as
    zero. The bar labels give the share and the absolute number: customers, and value in
    RMB.

    Parameters
    ----------
    summary:
        An RFM summary (or ``GradeResult``) with ``grade_col`` (``rfm.*`` codes),
        ``customers``, ``share_customers``, ``value`` and ``share_value``.
    value_label:
        What the value is (``"value"``, ``"net_value"``, ``"gross_profit"``, ``"revenue"``).
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes; ``ax.containers[0]`` / ``[1]`` hold the customer / value share bars.

    Example
    -------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"grade": ["important_value", "general_win_back"],
    ...                   "customers": [10, 30], "share_customers": [0.25, 0.75],
    ...                   "value": [9000.0, 1000.0], "share_value": [0.9, 0.1]})
    >>> ax = rfm_segment_bars(s)
    >>> len(ax.get_yticklabels()), ax.containers[0].datavalues.tolist()[:2]
    (8, [0.25, 0.0])
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    what_arg = "rfm_segment_bars(summary)"
    df = _frame(summary, what_arg)
    cols = ["customers", "share_customers", "value", "share_value"]
    _require(df, [grade_col, *cols], what_arg)
    _vocabulary(df[grade_col].astype(str).tolist(), "rfm", what_arg)
    seg = list(codes("rfm"))
    full = (
        df.assign(_code=df[grade_col].astype(str)).set_index("_code")[cols]
        .reindex(seg).fillna(0.0)
    )
    what = _what(value_label, lang)
    unit_c = t("unit.customers", lang)
    sep = " " if lang == "en" else ""
    cust_labels = [f"{_pct(s)} · {int(round(n)):,}{sep}{unit_c}"
                   for s, n in zip(full["share_customers"], full["customers"], strict=True)]
    value_labels = [f"{_pct(s)} · {_money(v, lang)}"
                    for s, v in zip(full["share_value"], full["value"], strict=True)]
    ax = _new_ax(ax, (10, 6))
    _paired_bars(
        ax, [t(f"rfm.{s}", lang) for s in seg],
        full["share_customers"].to_numpy(float), full["share_value"].to_numpy(float),
        legend=(t("metric.share_of_customers", lang), t("plot.share_of", lang, what=what)),
        bar_labels=(cust_labels, value_labels),
    )
    fmt_pct(ax, "x")
    label(ax, title or t("plot.rfm_title", lang, what=what),
          with_unit("plot.share", "share", lang), t("plot.dim_rfm", lang))
    _title_above_legend(ax)
    return ax


def _linthresh(values: np.ndarray) -> float:
    """A symlog linear range: the power of ten below the lower quartile of |non-zero|."""
    a = np.abs(values[np.isfinite(values) & (values != 0)])
    if len(a) == 0:
        return 1.0
    return float(max(1.0, 10.0 ** np.floor(np.log10(np.quantile(a, 0.25)))))


def value_matrix(
    labels_df: Any,
    *,
    actual: str = "actual_value",
    potential: str = "potential_value",
    group: str = "value_group",
    mvc_threshold: float | None = None,
    mgc_threshold: float | None = None,
    scale: str = "symlog",
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Actual vs potential yearly value per customer, coloured by MVC / MGC / BZ / other.

    Parameters
    ----------
    labels_df:
        One row per customer (or a ``GradeResult``, whose ``labels`` are used) with
        ``actual`` and ``potential`` value in RMB a year and ``group`` holding
        ``value_group.*`` codes (``mvc``, ``mgc``, ``bz``, ``other``).
    mvc_threshold:
        Actual value from which a customer is an MVC: drawn as a vertical line.
    mgc_threshold:
        Potential value from which a customer is an MGC: drawn as a horizontal line.
    scale:
        ``"symlog"`` (default: logarithmic beyond a linear band around zero, so
        below-zero customers show next to customers worth ¥100,000) or ``"linear"``.
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes. Group ``g`` is the scatter collection with gid ``f"group_{g}"`` (legend:
    translated name and count); the diagonal potential = actual has gid ``"parity"``.

    Example
    -------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"actual_value": [5000.0, 200.0, -80.0, 100.0],
    ...                    "potential_value": [4000.0, 3000.0, 10.0, 90.0],
    ...                    "value_group": ["mvc", "mgc", "bz", "other"]})
    >>> ax = value_matrix(df, lang="zh")
    >>> ax.get_xscale(), ax.get_xlabel()
    ('symlog', '实际价值（元/年）')
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    what_arg = "value_matrix(labels_df)"
    df = _frame(labels_df, what_arg, part="labels")
    _require(df, [actual, potential, group], what_arg)
    if scale not in ("symlog", "linear"):
        raise ValueError(f"scale must be 'symlog' or 'linear', got {scale!r}")
    _vocabulary(df[group].astype(str).tolist(), "value_group", what_arg)
    xs = df[actual].astype(float).to_numpy()
    ys = df[potential].astype(float).to_numpy()
    g = df[group].astype(str).to_numpy()
    ax = _new_ax(ax, (8, 6.5))
    if scale == "symlog":  # before drawing, so that autoscaling works in symlog space
        lt = _linthresh(np.r_[xs, ys])
        ax.set_xscale("symlog", linthresh=lt)
        ax.set_yscale("symlog", linthresh=lt)
    order = ("other", "bz", "mgc", "mvc")  # drawing order: highlighted groups on top
    handles = {}
    for code in order:
        m = g == code
        handles[code] = ax.scatter(
            xs[m], ys[m], s=10 if m.sum() > 2000 else 18, alpha=0.55, lw=0,
            color=GROUP_COLORS[code], rasterized=bool(m.sum() > 2000), gid=f"group_{code}",
            label=f"{t(f'value_group.{code}', lang)} · {int(m.sum()):,}",
        )
    if mvc_threshold is not None:
        ax.axvline(mvc_threshold, color=GROUP_COLORS["mvc"], ls=":", lw=1.5,
                   label=t("plot.mvc_threshold", lang), gid="mvc_threshold")
        ax.update_datalim([(mvc_threshold, np.nanmedian(ys) if len(ys) else 0.0)])
    if mgc_threshold is not None:
        ax.axhline(mgc_threshold, color=GROUP_COLORS["mgc"], ls=":", lw=1.5,
                   label=t("plot.mgc_threshold", lang), gid="mgc_threshold")
        ax.update_datalim([(np.nanmedian(xs) if len(xs) else 0.0, mgc_threshold)])
    ax.autoscale_view()
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    # the diagonal over the whole view, without changing it
    lo, hi = min(xlim[0], ylim[0]), max(xlim[1], ylim[1])
    if scale == "symlog":
        diag = np.r_[-np.geomspace(max(-lo, lt), lt, 200) if lo < -lt else [],
                     np.linspace(max(lo, -lt), min(hi, lt), 50),
                     np.geomspace(lt, max(hi, lt), 200) if hi > lt else []]
    else:
        diag = np.linspace(lo, hi, 2)
    ax.plot(diag, diag, ls="--", color="0.45", lw=1, label=t("plot.parity", lang), gid="parity")
    ax.axhline(0, color="0.3", lw=0.6)
    ax.axvline(0, color="0.3", lw=0.6)
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    if scale == "symlog":
        ax.xaxis.set_major_formatter(_money_tick(lang))
        ax.yaxis.set_major_formatter(_money_tick(lang))
        ax.tick_params(axis="x", labelrotation=30)
    else:
        fmt_rmb(ax, "both")
    legend_order = [handles[c] for c in ("mvc", "mgc", "bz", "other")]
    extra = [a for a in ax.lines if a.get_gid() in ("parity", "mvc_threshold", "mgc_threshold")]
    ax.legend(handles=legend_order + extra, loc="upper left", fontsize="small",
              markerscale=1.5)
    label(ax, title or t("plot.value_matrix_title", lang),
          with_unit("plot.actual_value", "rmb_per_year", lang),
          with_unit("plot.potential_value", "rmb_per_year", lang))
    return ax


def _centroid_text(v: float) -> str:
    if pd.isna(v):
        return ""
    a = abs(v)
    return f"{v:,.0f}" if a >= 10 else f"{v:.1f}" if a >= 1 else f"{v:.2f}"


def _feature_label(name: str, lang: str) -> str:
    stem = name
    for prefix in _FEATURE_PREFIXES:
        if stem.startswith(prefix):
            stem = stem[len(prefix):]
            break
    for suffix in ("_mean", "_median", "_z", "_std"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            break
    log = stem.startswith("log_")
    if log:
        stem = stem[4:]
    base = t(f"feature.{stem}", lang) if f"feature.{stem}" in LABELS else _dim_label(stem, lang)
    return t("plot.log_of", lang, what=base) if log else base


def cluster_profile(
    summary_or_centroids: Any,
    *,
    cluster_col: str | None = None,
    features: Sequence[str] | None = None,
    standardize: bool = True,
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Heat map of clusters × features: what sets each cluster apart.

    Parameters
    ----------
    summary_or_centroids:
        One row per cluster (or a ``GradeResult``, whose ``summary`` is used) with the
        feature values of each cluster centre. Rows are named from ``cluster_name_en`` /
        ``cluster_name_zh`` (the one matching ``lang``), else ``cluster_name``, else
        "Cluster k" from ``cluster_col``; a ``customers`` column adds the size.
    cluster_col:
        Column of cluster ids (default: ``grade`` or ``cluster`` when present).
    features:
        Feature columns; None takes every numeric column that is not a summary statistic
        (customers, shares, value, revenue, ...) or an id. Prefixes ``centroid_``,
        ``mean_``, ``z_``, ... and ``log_`` are understood in the labels.
    standardize:
        Colour each column by its z-score across clusters (the annotations keep the
        given values); False colours the given values (already standardised centroids).
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes (the colour bar is a second Axes of the figure); the cell colours are
    ``ax.collections[0].get_array()``, clusters as rows in input order.

    Example
    -------
    >>> import pandas as pd
    >>> c = pd.DataFrame({"grade": [0, 1], "cluster_name_en": ["Loyal", "Lapsed"],
    ...                   "cluster_name_zh": ["忠诚客户", "流失客户"], "customers": [40, 60],
    ...                   "recency_days": [30.0, 400.0], "orders": [6.0, 1.0]})
    >>> ax = cluster_profile(c, lang="zh")
    >>> [x.get_text() for x in ax.get_yticklabels()]
    ['忠诚客户（40户）', '流失客户（60户）']
    >>> [x.get_text() for x in ax.get_xticklabels()]
    ['距上次进厂天数', '工单数']
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    what_arg = "cluster_profile(summary_or_centroids)"
    df = _frame(summary_or_centroids, what_arg).reset_index(drop=True)
    if cluster_col is not None:
        _require(df, [cluster_col], what_arg)
    else:
        cluster_col = next((c for c in ("grade", "cluster") if c in df.columns), None)
    name_cols = [c for c in df.columns if str(c).startswith("cluster_name")]
    if features is None:
        skip = set(name_cols) | _SUMMARY_STATS | {cluster_col}
        features = [c for c in df.columns if c not in skip and not str(c).startswith("share_")
                    and pd.api.types.is_numeric_dtype(df[c])
                    and not pd.api.types.is_bool_dtype(df[c])]
        if not features:
            raise KeyError(f"{what_arg}: no feature columns (numeric, not a summary statistic)"
                           f"; pass features=; the frame has {list(df.columns)}")
    else:
        features = list(features)
        _require(df, features, what_arg)
    name_col = next((c for c in (f"cluster_name_{lang}", "cluster_name") if c in df.columns),
                    None)
    if name_col is not None:
        names = df[name_col].astype(str).tolist()
    elif cluster_col is not None:
        names = [t("plot.cluster_n", lang, n=c) for c in df[cluster_col]]
    else:
        names = [t("plot.cluster_n", lang, n=i) for i in range(len(df))]
    if "customers" in df.columns:
        names = [t("plot.n_customers", lang, name=nm, n=f"{int(n):,}")
                 for nm, n in zip(names, df["customers"], strict=True)]
    raw = df[features].astype(float)
    if standardize:
        sd = raw.std(ddof=0).replace(0.0, np.nan)
        colour = ((raw - raw.mean()) / sd).fillna(0.0)
    else:
        colour = raw
    annot = raw.map(_centroid_text)
    colour.index, colour.columns = names, [_feature_label(str(f), lang) for f in features]
    ax = _new_ax(ax, (max(6.0, 1.3 * len(features) + 3), 0.6 * len(df) + 2.5))
    lim = max(1.0, float(np.nanmax(np.abs(colour.to_numpy()), initial=0.0)))
    _heatmap(colour, annot=annot.to_numpy(), fmt="", cmap="vlag", center=0, vmin=-lim,
             vmax=lim, linewidths=1, linecolor="white", ax=ax,
             cbar_kws={"label": t("plot.z_score" if standardize else "plot.centroid", lang)})
    ax.grid(False)
    ax.tick_params(axis="y", labelrotation=0)
    label(ax, title or t("plot.cluster_title", lang), t("plot.feature", lang),
          t("plot.dim_cluster", lang))
    _fit_xticklabels(ax)
    return ax


#: Units of a profile measure: name -> (label key, unit or None, cell format).
_MEASURES: dict[str, tuple[str, str | None, str]] = {
    "share_customers": ("metric.share_of_customers", "share", "pct"),
    "share": ("metric.share_of_customers", "share", "pct"),
    "customers": ("metric.customers", "customers", "int"),
    "revenue": ("metric.revenue", "rmb", "money"),
    "gross_profit": ("metric.gross_profit", "rmb", "money"),
    "net_value": ("metric.net_value", "rmb", "money"),
    "value_per_customer": ("plot.value_per_customer", "rmb", "money"),
    "visits_per_year": ("metric.visits_per_year", None, "float"),
    "orders_per_year": ("metric.visits_per_year", None, "float"),
    "retention_rate": ("metric.retention_rate", "share", "pct"),
    "active_ratio": ("metric.active_ratio", "share", "pct"),
}


def _cell(v: float, kind: str, lang: str) -> str:
    if pd.isna(v):
        return ""
    if kind == "pct":
        return _pct(v)
    if kind == "int":
        return f"{int(round(v)):,}"
    if kind == "money":
        return _money(v, lang)
    return f"{v:.2f}"


def profile_heatmap(
    profile_df: Any,
    *,
    row: str,
    col: str,
    value: str = "share_customers",
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Heat map of a two-dimension customer profile (e.g. value grade × vehicle age).

    Parameters
    ----------
    profile_df:
        Tidy profile, one row per (``row``, ``col``) combination, e.g. from
        :func:`crm_analysis.value.profile`. Category codes are translated: fields with a
        vocabulary (``usage``, ``grade``, ``region``, ``occupation``, ``customer_type``,
        ``age_segment``, ``warranty_status``, ...) must have a label for every code; a
        value-grade column (``value_grade``, ``pyramid``, ...) is recognised from its
        codes; ``age_band`` k shows as "Year k+1"; missing values and the code
        ``"unknown"`` as "Unknown"; other columns (model names) as they are.
    row, col:
        The two dimensions (rows and columns of the heat map).
    value:
        The measure: ``share_customers`` (default), ``customers``, ``revenue``,
        ``gross_profit``, ``net_value``, ``value_per_customer``, ``visits_per_year``,
        ``retention_rate``, ``active_ratio``; it sets the colour-bar label, its unit
        and the cell format. Empty combinations are blank.
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes; the cell colours are ``ax.collections[0].get_array()`` (row-major).

    Example
    -------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"usage": ["private", "private", "taxi"],
    ...                   "region": ["urban_core", "rural", "urban_core"],
    ...                   "share_customers": [0.5, 0.3, 0.2]})
    >>> ax = profile_heatmap(p, row="usage", col="region", lang="zh")
    >>> ax.get_title(), [x.get_text() for x in ax.get_xticklabels()]
    ('按车辆用途和所在区域划分的客户占比', ['市中心', '乡村'])
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    what_arg = "profile_heatmap(profile_df)"
    df = _frame(profile_df, what_arg)
    _require(df, [row, col, value], what_arg)
    if row == col:
        raise ValueError("row and col must be different columns")
    if value not in _MEASURES and f"metric.{value}" not in LABELS:
        raise KeyError(f"{what_arg}: no label for measure {value!r}; "
                       f"known measures: {sorted(_MEASURES)}")
    key, unit, cell = _MEASURES.get(value, (f"metric.{value}", None, "float"))
    if df.duplicated([row, col]).any():
        raise ValueError(f"{what_arg}: several rows per ({row!r}, {col!r}); "
                         "profile by exactly these two dimensions or aggregate first")
    r_codes, r_labels = _translate_dim(df[row], row, lang)
    c_codes, c_labels = _translate_dim(df[col], col, lang)
    sentinel = "\x00missing"
    rk = df[row].astype(object).where(df[row].notna(), sentinel)
    ck = df[col].astype(object).where(df[col].notna(), sentinel)
    grid = pd.Series(df[value].astype(float).to_numpy(),
                     index=pd.MultiIndex.from_arrays([rk, ck])).unstack()
    grid = grid.reindex(index=[sentinel if c is None else c for c in r_codes],
                        columns=[sentinel if c is None else c for c in c_codes])
    annot = np.vectorize(lambda v: _cell(v, cell, lang), otypes=[object])(grid.to_numpy())
    grid.index, grid.columns = r_labels, c_labels
    ax = _new_ax(ax, (max(6.0, 1.1 * len(c_codes) + 3), 0.5 * len(r_codes) + 2.5))
    measure = with_unit(key, unit, lang) if unit else t(key, lang)
    _heatmap(grid, annot=annot, fmt="", cmap="Blues", linewidths=1, linecolor="white",
             ax=ax, cbar_kws={"label": measure})
    ax.grid(False)
    if cell == "pct":
        fmt_pct(ax.collections[0].colorbar.ax, "y")
    elif cell == "money":
        ax.collections[0].colorbar.ax.yaxis.set_major_formatter(_money_tick(lang))
    ax.tick_params(axis="y", labelrotation=0)
    row_label, col_label = _dim_label(row, lang), _dim_label(col, lang)
    if row == "age_band":
        row_label = with_unit("plot.dim_age_band", "years", lang)
    if col == "age_band":
        col_label = with_unit("plot.dim_age_band", "years", lang)
    label(ax, title or _capital(t("plot.profile_title", lang, value=t(key, lang),
                                  row=_sentence(_dim_label(row, lang), lang),
                                  col=_sentence(_dim_label(col, lang), lang))),
          col_label, row_label)
    _fit_xticklabels(ax)
    return ax


_BASIS_HEAD = ("_by_head", "_by_headcount")


def _resources(df: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(stem, by-value column, by-headcount column) for every resource pair in ``df``."""
    out = []
    for c in df.columns:
        m = re.fullmatch(r"(.+)_by_value", str(c))
        if m:
            head = next((m.group(1) + s for s in _BASIS_HEAD if m.group(1) + s in df.columns),
                        None)
            if head is not None:
                out.append((m.group(1), str(c), head))
    return out


def _resource_amount(stem: str, v: float, lang: str) -> str:
    unit = RESOURCE_UNITS.get(stem)
    if unit == "rmb":
        return _money(v, lang)
    if unit is None:
        return f"{v:,.0f}"
    sep = " " if lang == "en" else ""
    short = "h" if (unit == "hours" and lang == "en") else t(f"unit.{unit}", lang)
    return f"{v:,.0f}{sep}{short}"


def allocation_bars(
    table: Any,
    *,
    grade_col: str = "grade",
    kind: str | None = None,
    resource: str | None = None,
    value_label: str = "value",
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Resources per grade allocated in proportion to value vs to headcount.

    Parameters
    ----------
    table:
        One row per grade with ``grade_col`` and, for each resource, a pair of columns
        ``<resource>_by_value`` and ``<resource>_by_head`` (or ``_by_headcount``): the
        amount the grade gets under each rule. Known resources: ``hours`` (advisor hours)
        and ``budget`` (campaign budget, RMB); others are shown under their column stem.
    kind:
        Vocabulary of the grade codes (None: recognised from the codes).
    resource:
        None (default): bars show each grade's share of the resources under each rule
        (shares of the first resource pair; allocated by the same rule, every resource
        has the same shares) and the labels give the amounts of every resource. A
        resource stem (``"hours"``): bars show that resource's amount in its unit.
    value_label:
        What the value is (``"value"``, ``"net_value"``, ...), for the legend.
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes; ``ax.containers[0]`` holds the bars by value, ``[1]`` by headcount.

    Example
    -------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"grade": ["important", "small"],
    ...                   "hours_by_value": [300.0, 100.0], "hours_by_head": [40.0, 360.0],
    ...                   "budget_by_value": [7500.0, 2500.0], "budget_by_head": [1000.0, 9000.0]})
    >>> ax = allocation_bars(a)
    >>> ax.containers[0].datavalues.tolist(), ax.containers[1].datavalues.tolist()
    ([0.75, 0.25], [0.1, 0.9])
    >>> [x.get_text() for x in ax.texts][:1]
    ['300 h · ¥7,500']
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    what_arg = "allocation_bars(table)"
    df = _frame(table, what_arg)
    _require(df, [grade_col], what_arg)
    pairs = _resources(df)
    if not pairs:
        raise KeyError(f"{what_arg}: no resource columns; expected pairs such as "
                       f"'hours_by_value' and 'hours_by_head'; the frame has {list(df.columns)}")
    if resource is not None and resource not in [p[0] for p in pairs]:
        raise KeyError(f"{what_arg}: no columns for resource {resource!r} "
                       f"('{resource}_by_value', '{resource}_by_head'); "
                       f"resources: {[p[0] for p in pairs]}")
    df = _grade_rows(df, grade_col)
    vocab = _grade_kind(df[grade_col].tolist(), kind, what_arg)
    what = _what(value_label, lang)
    stem, by_value, by_head = next(p for p in pairs if resource in (None, p[0]))
    a = df[by_value].to_numpy(float)
    b = df[by_head].to_numpy(float)
    if resource is None:
        for name, arr in ((by_value, a), (by_head, b)):
            if not np.nansum(arr) > 0:
                raise ValueError(f"{what_arg}: {name!r} must have a positive total")
        a, b = a / np.nansum(a), b / np.nansum(b)

    def amounts(basis: int) -> list[str]:
        return [" · ".join(_resource_amount(s, float(df.iloc[i][cols[basis]]), lang)
                           for s, *cols in pairs) for i in range(len(df))]

    ax = _new_ax(ax, (9, 0.6 * len(df) + 2.2))
    _paired_bars(
        ax, [t(f"{vocab}.{g}", lang) for g in df[grade_col]], a, b,
        legend=(t("plot.basis_value", lang, what=what), t("plot.basis_head", lang)),
        bar_labels=(amounts(0), amounts(1)), colors=("#4C72B0", "#BBBBBB"),
    )
    grading = _dim_label(vocab, lang)
    if resource is None:
        fmt_pct(ax, "x")
        xlabel = with_unit("plot.share_of_resources", "share", lang)
    else:
        unit = RESOURCE_UNITS.get(stem)
        name_key = f"plot.resource_{stem}"
        base = t(name_key, lang) if name_key in LABELS else stem
        if unit == "rmb":
            fmt_rmb(ax, "x")
        xlabel = (f"{base}（{t(f'unit.{unit}', lang)}）" if lang == "zh" else
                  f"{base} ({t(f'unit.{unit}', lang)})") if unit else base
    label(ax, title or t("plot.allocation_title", lang, grading=_sentence(grading, lang)),
          xlabel, grading)
    _title_above_legend(ax)
    return ax


# ------------------------------------------------------------------- retention (issue 5)
# The FAW-Toyota retention chart (see also plotting.curve_by_age), survival curves,
# cohort heat map, funnel and forest plot go here, built on the helpers above.

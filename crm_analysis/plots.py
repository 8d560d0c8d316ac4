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
retention by vehicle age (issue 5: the FAW-Toyota chart, survival curves, cohort heat map,
service funnel, hazard-ratio forest plot, defection hazard and warranty cliff, status bars);
churn backtest (ROC, calibration, importance), BG/NBD diagnostics and dealer-group charts.

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

import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.patches import Polygon
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter

from crm_analysis._inputs import (
    caller,
    check_confidence,
    check_int,
    check_number,
    require_columns,
    to_pandas,
)
from crm_analysis.btyd import BTYD_MODELS, BetaGeoModel, HoldoutComparison, MBGCNBDModel
from crm_analysis.churn import BacktestResult
from crm_analysis.economics import LifetimeValue, LiftResult, pnl_label
from crm_analysis.group import SCORECARD_METRICS, metric_label
from crm_analysis.i18n import LABELS, codes, t, with_unit
from crm_analysis.narrative import Narrator
from crm_analysis.overview import OVER_TEN
from crm_analysis.plotting import (
    BUNDLED_FAMILY,
    ensure_cjk_font,
    fmt_pct,
    fmt_rmb,
    label,
)

__all__ = [
    "allocation_bars",
    "activity_chart",
    "order_mix_chart",
    "vehicle_bases_chart",
    "calibration_purchases_vs_holdout",
    "churn_calibration",
    "churn_importance",
    "churn_roc",
    "holdout_comparison",
    "probability_alive_matrix",
    "store_bars",
    "store_gap_heatmap",
    "store_retention_overlay",
    "cluster_profile",
    "cohort_heatmap",
    "customer_pyramid",
    "faw_toyota_chart",
    "forest_plot",
    "grade_shares",
    "hazard_chart",
    "hazard_ratio_label",
    "lifetime_value",
    "lorenz_curve",
    "pareto_chart",
    "pnl_waterfall",
    "profile_heatmap",
    "retention_lift",
    "rfm_segment_bars",
    "service_funnel_chart",
    "status_bars",
    "survival_curves",
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
    return ensure_cjk_font(lang)


def _new_ax(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        if not isinstance(ax, Axes):
            raise TypeError(f"{caller()}: ax must be a matplotlib Axes or None, got "
                            f"{type(ax).__name__}")
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


def _table(data: Any, name: str, part: str = "summary") -> pd.DataFrame:
    """``data`` as pandas (:func:`~crm_analysis._inputs.to_pandas`); a ``GradeResult``
    gives its ``part``."""
    if hasattr(data, "labels") and hasattr(data, "summary"):  # a GradeResult
        data = getattr(data, part)
    return to_pandas(data, name, reset_index=False)


def _what(value_label: str, lang: str) -> str:
    if value_label not in VALUE_LABELS:
        raise ValueError(f"{caller()}: value_label must be one of {VALUE_LABELS}, got "
                         f"{value_label!r}")
    return t(f"plot.what_{value_label}", lang)


def _sentence(text: str, lang: str) -> str:
    """Lower-case the first letter of an English label used inside a sentence."""
    if lang != "en" or not text or text[:2].isupper():
        return text
    return text[0].lower() + text[1:]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _vocabulary(values: Sequence[Any], kind: str | None) -> str | None:
    """The i18n vocabulary holding every code in ``values`` (``kind`` if given)."""
    # "unknown" is the missing-value group of crm_analysis.value.profile: any vocabulary
    present = [str(v) for v in values if not pd.isna(v) and str(v) != UNKNOWN]
    if kind is not None:
        missing = [v for v in present if f"{kind}.{v}" not in LABELS]
        if missing:
            raise KeyError(f"{caller()}: no label for {kind!r} code(s) {missing} "
                           f"(keys '{kind}.*')")
        return kind
    for vocab in VOCABULARIES:
        if present and all(f"{vocab}.{v}" in LABELS for v in present):
            return vocab
    return None


def _grade_kind(values: Sequence[Any], kind: str | None) -> str:
    vocab = _vocabulary(values, kind)
    if vocab is None:
        raise KeyError(
            f"{caller()}: cannot tell which grading the codes {sorted(map(str, set(values)))} "
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
    vocab = _vocabulary(present, None) if present else None
    if field in VOCABULARIES and vocab != field:
        # the column has a vocabulary but some code is unknown: fail naming it
        vocab = _vocabulary(present, field)
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
def _ascending_curve(lorenz_df: Any, x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz points in the classic orientation (lowest value first), starting at (0, 0).

    Accepts either orientation: a curve above the diagonal (customers sorted by value,
    highest first: a concentration or Pareto curve) is flipped, ``L(p) = 1 - C(1 - p)``.
    """
    df = _table(lorenz_df, "lorenz_df")
    require_columns(df, [x, y], "lorenz_df")
    pts = df[[x, y]].astype(float).dropna().sort_values(x, kind="stable")
    p, v = pts[x].to_numpy(), pts[y].to_numpy()
    if len(p) == 0:
        raise ValueError(f"{caller()}: the curve has no points")
    if p[0] < -1e-9 or p[-1] > 1 + 1e-9:
        raise ValueError(f"{caller()}: {x} must lie in [0, 1], got {p[0]:.3g}..{p[-1]:.3g}")
    if p[0] > 0 or v[0] != 0:
        p, v = np.r_[0.0, p], np.r_[0.0, v]
    if abs(p[-1] - 1) > 1e-6 or abs(v[-1] - 1) > 1e-6:
        raise ValueError(f"{caller()}: the curve must end at (1, 1), got ({p[-1]:.3g}, "
                         f"{v[-1]:.3g})")
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
    p, v = _ascending_curve(lorenz_df, x, y)
    if highlight is not None and not 0 < highlight < 1:
        raise ValueError(f"{caller()}: highlight must be a share in (0, 1) or None, got "
                         f"{highlight!r}")
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
        pct = Narrator(lang).pct
        ax.text(x0 - 0.03, (y0 + 1.0) / 2, t("plot.top_share", lang, pct=pct(highlight, 0),
                share=pct(share), what=what), ha="right", va="center", color="#C44E52",
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
    df = _table(summary, "summary")
    require_columns(df, [grade_col, "share_customers", "share_value"], "summary")
    df = _grade_rows(df, grade_col)
    vocab = _grade_kind(df[grade_col].tolist(), kind)
    what = _what(value_label, lang)
    names = [t(f"{vocab}.{g}", lang) for g in df[grade_col]]
    sc = df["share_customers"].to_numpy(float)
    sv = df["share_value"].to_numpy(float)
    ax = _new_ax(ax, (8, 0.55 * len(df) + 2))
    _paired_bars(
        ax, names, sc, sv,
        legend=(t("metric.share_of_customers", lang), t("plot.share_of", lang, what=what)),
        bar_labels=([Narrator(lang).pct(s) for s in sc], [Narrator(lang).pct(s) for s in sv]),
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
    df = _table(summary, "summary")
    require_columns(df, [grade_col, "share_customers", "share_value"], "summary")
    df = df.loc[df[grade_col].astype(str) != "key"]
    _vocabulary(df[grade_col].astype(str).tolist(), "pyramid")
    rank = {c: i for i, c in enumerate(codes("pyramid"))}
    df = df.assign(_rank=df[grade_col].astype(str).map(rank)).sort_values("_rank", kind="stable")
    if df[grade_col].astype(str).duplicated().any():
        raise ValueError(f"{caller()}: {grade_col!r} has repeated tiers")
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
            "plot.pyramid_tier", lang, c=Narrator(lang).pct(sc), what=what,
            v=Narrator(lang).pct(sv))
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
                    "plot.pyramid_tier", lang, c=Narrator(lang).pct(key["share_customers"].sum()),
                    what=what,
                    v=Narrator(lang).pct(key["share_value"].sum())).replace(" · ", "\n"),
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


def _pareto_points(values_or_lorenz: Any) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative (customer share, value share), customers sorted by value, highest first."""
    if isinstance(values_or_lorenz, pd.DataFrame) or (
        not isinstance(values_or_lorenz, pd.Series | np.ndarray | list | tuple)
        and hasattr(values_or_lorenz, "columns")
    ):
        p, v = _ascending_curve(values_or_lorenz, "share_customers", "share_value")
        return 1.0 - p[::-1], 1.0 - v[::-1]
    try:
        vals = np.asarray(values_or_lorenz, dtype=float).ravel()
    except (TypeError, ValueError):
        raise TypeError(f"{caller()}: expected numbers or a Lorenz-curve DataFrame") from None
    vals = vals[~np.isnan(vals)]
    if len(vals) == 0:
        raise ValueError(f"{caller()}: no values")
    total = vals.sum()
    if not total > 0:
        raise ValueError(f"{caller()}: the values must have a positive total, got {total:g}")
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
    c1, c2 = (float(c) for c in cuts)
    if not 0 < c1 < c2 <= 1:
        raise ValueError(f"{caller()}: cuts must satisfy 0 < A cut < B cut <= 1, got {cuts!r}")
    p, c = _pareto_points(values_or_lorenz)
    what = _what(value_label, lang)
    ax = _new_ax(ax, (8, 5))
    edges = [0.0, _crossing(p, c, c1), _crossing(p, c, c2), 1.0]
    colors = ("#4C72B0", "#8DA0CB", "#DDDDDD")
    for i, cls in enumerate(("A", "B", "C")):
        lo, hi = edges[i], edges[i + 1]
        ax.axvspan(lo, hi, color=colors[i], alpha=0.25, lw=0, gid=f"band_{cls}")
        ax.text((lo + hi) / 2, 0.03, t("plot.pareto_band", lang, cls=t(f"abc.{cls}", lang),
                                         pct=Narrator(lang).pct(hi - lo)),
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
    df = _table(summary, "summary")
    cols = ["customers", "share_customers", "value", "share_value"]
    require_columns(df, [grade_col, *cols], "summary")
    _vocabulary(df[grade_col].astype(str).tolist(), "rfm")
    seg = list(codes("rfm"))
    full = (
        df.assign(_code=df[grade_col].astype(str)).set_index("_code")[cols]
        .reindex(seg).fillna(0.0)
    )
    what = _what(value_label, lang)
    unit_c = t("unit.customers", lang)
    sep = " " if lang == "en" else ""
    cust_labels = [f"{Narrator(lang).pct(s)} · {int(round(n)):,}{sep}{unit_c}"
                   for s, n in zip(full["share_customers"], full["customers"], strict=True)]
    value_labels = [f"{Narrator(lang).pct(s)} · {Narrator(lang).rmb(v)}"
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
    df = _table(labels_df, "labels_df", part="labels")
    require_columns(df, [actual, potential, group], "labels_df")
    if scale not in ("symlog", "linear"):
        raise ValueError(f"{caller()}: scale must be 'symlog' or 'linear', got {scale!r}")
    _vocabulary(df[group].astype(str).tolist(), "value_group")
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
        fmt_rmb(ax, "both", lang=lang)
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
    df = _table(summary_or_centroids, "summary_or_centroids").reset_index(drop=True)
    if cluster_col is not None:
        require_columns(df, [cluster_col], "summary_or_centroids")
    else:
        cluster_col = next((c for c in ("grade", "cluster") if c in df.columns), None)
    name_cols = [c for c in df.columns if str(c).startswith("cluster_name")]
    if features is None:
        skip = set(name_cols) | _SUMMARY_STATS | {cluster_col}
        features = [c for c in df.columns if c not in skip and not str(c).startswith("share_")
                    and pd.api.types.is_numeric_dtype(df[c])
                    and not pd.api.types.is_bool_dtype(df[c])]
        if not features:
            raise KeyError(f"{caller()}: no feature columns (numeric, not a summary statistic)"
                           f"; pass features=; the frame has {list(df.columns)}")
    else:
        features = list(features)
        require_columns(df, features, "summary_or_centroids")
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
        return Narrator(lang).pct(v)
    if kind == "int":
        return f"{int(round(v)):,}"
    if kind == "money":
        return Narrator(lang).rmb(v)
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
    df = _table(profile_df, "profile_df")
    require_columns(df, [row, col, value], "profile_df")
    if row == col:
        raise ValueError(f"{caller()}: row and col must be different columns")
    if value not in _MEASURES and f"metric.{value}" not in LABELS:
        raise KeyError(f"{caller()}: no label for measure {value!r}; "
                       f"known measures: {sorted(_MEASURES)}")
    key, unit, cell = _MEASURES.get(value, (f"metric.{value}", None, "float"))
    if df.duplicated([row, col]).any():
        raise ValueError(f"{caller()}: several rows per ({row!r}, {col!r}); "
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
        fmt_rmb(ax.collections[0].colorbar.ax, "y", lang=lang)
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
        return Narrator(lang).rmb(v)
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
    df = _table(table, "table")
    require_columns(df, [grade_col], "table")
    pairs = _resources(df)
    if not pairs:
        raise KeyError(f"{caller()}: no resource columns; expected pairs such as "
                       f"'hours_by_value' and 'hours_by_head'; the frame has {list(df.columns)}")
    if resource is not None and resource not in [p[0] for p in pairs]:
        raise KeyError(f"{caller()}: no columns for resource {resource!r} "
                       f"('{resource}_by_value', '{resource}_by_head'); "
                       f"resources: {[p[0] for p in pairs]}")
    df = _grade_rows(df, grade_col)
    vocab = _grade_kind(df[grade_col].tolist(), kind)
    what = _what(value_label, lang)
    stem, by_value, by_head = next(p for p in pairs if resource in (None, p[0]))
    a = df[by_value].to_numpy(float)
    b = df[by_head].to_numpy(float)
    if resource is None:
        for name, arr in ((by_value, a), (by_head, b)):
            if not np.nansum(arr) > 0:
                raise ValueError(f"{caller()}: {name!r} must have a positive total")
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
# The FAW-Toyota retention chart (see also plotting.curve_by_age), survival curves, cohort
# heat map, service funnel, hazard-ratio forest plot, defection hazard and status bars.
# Inputs are the tidy tables of crm_analysis.retention / crm_analysis.survival.

#: Colours of the FAW-Toyota chart: retention-rate bars, active-ratio line.
RETENTION_COLORS = {"rate": "#4C72B0", "active": "#DD8452"}
#: Colours of the customer statuses (``status.*`` codes).
STATUS_COLORS = {"active": "#55A868", "dormant": "#E1B23A", "lost": "#C44E52",
                 "never_returned": "#A5A5A5"}
#: Forest plot: significant hazard ratios above / below 1, and the rest.
FOREST_COLORS = {"up": "#C44E52", "down": "#4C72B0", "ns": "#9A9A9A"}
#: Group codes of a survival curve that mean "every vehicle".
_ALL_GROUPS = frozenset({"all", "overall", "total", "all_vehicles"})


def _unwrap(obj: Any, attrs: Sequence[str]) -> Any:
    """The table held by a result object (its first attribute in ``attrs``), else ``obj``."""
    if isinstance(obj, pd.DataFrame):
        return obj
    for attr in attrs:
        if hasattr(obj, attr):
            return getattr(obj, attr)
    return obj


def _metric_label(column: str, lang: str) -> str:
    key = f"metric.{column}"
    return t(key, lang) if key in LABELS else column


def _band_label(k: Any, lang: str) -> str:
    return t("metric.age_band", lang, n=int(k) + 1)


def _int_bands(values: pd.Series, column: str) -> pd.Series:
    """Integer age bands (band k = age [k, k+1)); raises on fractional values."""
    v = pd.to_numeric(values, errors="coerce").astype(float)
    bad = v.notna() & ~np.isfinite(v.where(v.notna(), 0.0))
    if (values.notna() & v.isna()).any() or bad.any() or ((v.dropna() % 1) != 0).any():
        raise ValueError(f"{caller()}: {column!r} must hold integer age bands (0 = year 1)")
    return v


def _interval_columns(df: pd.DataFrame, column: str) -> tuple[str, str] | None:
    """``(<stem>_lo, <stem>_hi)`` of a rate column (``retention_rate`` -> ``retention_lo``)."""
    stem = column.rsplit("_", 1)[0]
    for lo, hi in ((f"{stem}_lo", f"{stem}_hi"), (f"{column}_lo", f"{column}_hi")):
        if lo in df.columns and hi in df.columns:
            return lo, hi
    return None


def _yerr(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Error-bar lengths (2 × n) from interval bounds; missing bounds give no bar."""
    err = np.vstack([v - lo, hi - v])
    return np.where(np.isfinite(err), np.clip(err, 0.0, None), 0.0)


def _group_codes(values: pd.Series, field: str, lang: str) -> tuple[list[Any], list[str]]:
    """Codes of an overlay / group column in display order, with their labels.

    Numbers (years) are sorted and shown as integers when whole; codes of a vocabulary
    (``usage``, ``region``, ``status``, ...) are translated; other codes (store ids) are
    shown as they are; missing values last, as "Unknown".
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        order: list[Any] = sorted(values.dropna().unique().tolist())
        names = [str(int(c)) if float(c).is_integer() else f"{c:g}" for c in order]
        if values.isna().any():
            order.append(None)
            names.append(t("plot.unknown", lang))
        return order, names
    return _translate_dim(values, field, lang)


def _rows_of(df: pd.DataFrame, column: str | None, code: Any) -> pd.DataFrame:
    if column is None:
        return df
    if code is None:
        return df.loc[df[column].isna()]
    return df.loc[df[column] == code]


def _check_unique(df: pd.DataFrame, keys: list[str], hint: str = "") -> None:
    if df.duplicated(keys).any():
        raise ValueError(f"{caller()}: several rows per {tuple(keys)}{hint}")


def _pct_ticks_to_100(ax: Axes, top: float) -> None:
    """y from 0 to ``top``, percent ticks, none above 100%."""
    ax.set_ylim(0, top)
    if top > 1.0:
        ax.set_yticks(np.linspace(0.0, 1.0, 6))
    fmt_pct(ax, "y")


def _tint(color: Any, amount: float) -> tuple[float, float, float]:
    """``color`` mixed with white (``amount`` = share of white)."""
    rgb = np.asarray(mpl.colors.to_rgb(color))
    return tuple(float(c) for c in rgb + (1.0 - rgb) * amount)


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def faw_toyota_chart(
    table: Any,
    *,
    rate: str | None = "retention_rate",
    active: str | None = "active_ratio",
    overlay: str | None = None,
    age: str = "age_band",
    intervals: bool = True,
    level: float = 0.95,
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """The FAW-Toyota retention chart: retention rate (bars) and active ratio (line) by age.

    FAW-Toyota's retention standard charts the annual averages of the retention rate
    (客户掌握率) and the active-customer ratio (活跃客户比例) by vehicle age, both falling
    as the cars get older. Here the retention rate is drawn as bars and the active ratio as
    a line, on one percent axis, with the value of every bar and point written on it.

    Parameters
    ----------
    table:
        One row per age band (and ``overlay`` value), e.g. from
        :func:`crm_analysis.retention.annual_average` or
        :func:`crm_analysis.retention.retention_by_vehicle_age`. Rows with a missing age
        band (vehicles of unknown sale date) are left out.
    rate, active:
        Columns of the bars and of the line (shares 0–1); either may be None to draw only
        the other. Names with a ``metric.*`` label are translated.
    overlay:
        Column whose values (years, store ids, usages, ...) are drawn side by side:
        grouped bars and one dashed line per value, in the same colour, with a legend.
        None: the table must have one row per age band.
    age:
        Column of the integer age band (band k = age [k, k+1), shown as "Year k+1").
    intervals:
        Draw confidence intervals when the table has them: error bars on the bars
        (``retention_lo`` / ``retention_hi`` for ``retention_rate``, i.e. ``<stem>_lo``
        and ``<stem>_hi``) and a shaded band around the line (``active_lo`` /
        ``active_hi``).
    level:
        Confidence level of those intervals, for the legend only.
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes. The bars have gid ``"rate"`` (with an overlay ``f"rate_{value}"``), their
    value labels ``"rate_label"`` (``f"rate_label_{value}"``); the line is ``"active"``
    (``f"active_{value}"``) and its value labels ``"active_label"`` (no line labels with
    an overlay). Every band of the union of the groups' bands gets a slot; a band a group
    lacks is left empty.

    Example
    -------
    >>> import pandas as pd
    >>> avg = pd.DataFrame({"age_band": [0, 1, 2], "retention_rate": [0.92, 0.75, 0.61],
    ...                     "active_ratio": [0.85, 0.6, 0.44]})
    >>> ax = faw_toyota_chart(avg, lang="zh")
    >>> ax.get_title()
    '各车龄客户掌握率与活跃客户比例'
    >>> [x.get_text() for x in ax.get_xticklabels()]
    ['第1年', '第2年', '第3年']
    >>> [x.get_text() for x in ax.texts if x.get_gid() == "rate_label"]
    ['92%', '75%', '61%']
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    if rate is None and active is None:
        raise ValueError(f"{caller()}: rate and active cannot both be None")
    df = _table(_unwrap(table, ("table_",)), "table")
    values = [c for c in (rate, active) if c is not None]
    require_columns(df, [age, *values, *([overlay] if overlay else [])], "table")
    df = df.loc[df[age].notna()].copy()
    df[age] = _int_bands(df[age], age)
    keys = [overlay, age] if overlay else [age]
    _check_unique(df, keys, "" if overlay else
                  "; pass overlay=<column> to draw several years, stores or groups")
    if overlay:
        group_codes, group_names = _group_codes(df[overlay], overlay, lang)
    else:
        group_codes, group_names = [None], [""]
    bands = sorted(df[age].unique().tolist())
    x = np.arange(len(bands), dtype=float)
    n = len(group_codes)
    palette = ([RETENTION_COLORS["rate"]] if n == 1 else sns.color_palette("deep", n))
    rate_iv = _interval_columns(df, rate) if (rate and intervals) else None
    active_iv = _interval_columns(df, active) if (active and intervals) else None
    ax = _new_ax(ax, (min(13.0, max(7.5, 0.3 * len(bands) * (n + 1) + 2.5)), 5.5))
    width = 0.8 / n
    top = 0.0
    for i, code in enumerate(group_codes):
        sub = _rows_of(df, overlay, code).set_index(age).reindex(bands)
        suffix = "" if overlay is None else f"_{code}"
        # with an overlay: light bars, and each line runs through its own bars' centres
        xg = x if n == 1 else x - 0.4 + width * (i + 0.5)
        if rate is not None:
            v = sub[rate].to_numpy(float)
            err = (_yerr(v, sub[rate_iv[0]].to_numpy(float), sub[rate_iv[1]].to_numpy(float))
                   if rate_iv else None)
            face = palette[i] if n == 1 else _tint(palette[i], 0.5)
            bars = ax.bar(xg, v, width=0.92 * width, color=face,
                          yerr=err, capsize=3 if n < 3 else 1.5, zorder=2,
                          error_kw={"ecolor": "0.25", "elinewidth": 1},
                          label=group_names[i] or _metric_label(rate, lang))
            for patch in bars.patches:
                patch.set_gid(f"rate{suffix}")
            texts = ax.bar_label(bars, labels=[Narrator(lang).pct(a, 0) if np.isfinite(a) else ""
                                               for a in v],
                                 padding=2, fontsize="small" if n == 1 else "x-small")
            for text in texts:
                text.set_gid(f"rate_label{suffix}")
            top = max(top, float(np.nanmax(v + (err[1] if err is not None else 0.0),
                                           initial=0.0)))
        if active is not None:
            a = sub[active].to_numpy(float)
            color = RETENTION_COLORS["active"] if n == 1 else palette[i]
            if active_iv:
                lo, hi = (sub[c].to_numpy(float) for c in active_iv)
                ax.fill_between(xg, lo, hi, color=color, alpha=0.18, lw=0, zorder=3,
                                gid=f"active_band{suffix}")
                top = max(top, float(np.nanmax(hi, initial=0.0)))
            ax.plot(xg, a, marker="o", color=color, lw=2.2 if n == 1 else 1.8,
                    ls="-" if n == 1 else "--",
                    mec="white", mew=1.2, ms=7, zorder=4, gid=f"active{suffix}",
                    label=_metric_label(active, lang))
            top = max(top, float(np.nanmax(a, initial=0.0)))
            if n == 1:
                for xi, ai in zip(x, a, strict=True):
                    if np.isfinite(ai):
                        ax.annotate(Narrator(lang).pct(ai, 0), (xi, ai), xytext=(0, -9),
                                    textcoords="offset points", ha="center", va="top",
                                    fontsize="small", color="#A0522D", zorder=5,
                                    gid=f"active_label{suffix}",
                                    bbox={"boxstyle": "round,pad=0.15", "fc": "white",
                                          "ec": "none", "alpha": 0.8})
    ax.set_xticks(x, [_band_label(k, lang) for k in bands])
    ax.set_xlim(-0.6, len(bands) - 0.4)
    ax.grid(axis="x", visible=False)
    _pct_ticks_to_100(ax, max(0.1, top * 1.12 + 0.02))
    # legend
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = []
    if n == 1:
        if rate is not None:
            handles.append(Patch(color=palette[0], label=_metric_label(rate, lang)))
        if active is not None:
            handles.append(Line2D([], [], color=RETENTION_COLORS["active"], marker="o", lw=2.2,
                                  mec="white", label=_metric_label(active, lang)))
    else:
        handles += [Patch(color=palette[i], label=name) for i, name in enumerate(group_names)]
        if rate is not None:
            handles.append(Patch(color="0.78", label=_metric_label(rate, lang)))
        if active is not None:
            handles.append(Line2D([], [], color="0.35", ls="--", marker="o", mec="white",
                                  label=_metric_label(active, lang)))
    if rate_iv or active_iv:
        handles.append(Line2D([], [], color="0.25", marker="|", ls="none", ms=12, mew=1.2,
                              label=t("plot.interval", lang, level=Narrator(lang).pct(level, 0))))
    ax.legend(handles=handles, loc="upper right", fontsize="small", ncols=1,
              title=_dim_label(overlay, lang) if overlay else None, title_fontsize="small")
    if rate is not None and active is not None:
        default = t("plot.faw_title", lang, rate=_metric_label(rate, lang),
                    active=_sentence(_metric_label(active, lang), lang))
        ylabel = with_unit("plot.share_of_vehicles", "share", lang)
    else:
        only = _metric_label(rate if rate is not None else str(active), lang)
        default = t("plot.by_vehicle_age", lang, what=only)
        ylabel = f"{only}（%）" if lang == "zh" else f"{only} (%)"
    label(ax, title or default, with_unit("metric.vehicle_age", "years", lang), ylabel)
    return ax


def _survival_groups(values: pd.Series, field: str,
                     lang: str) -> tuple[list[Any], list[str], str | None]:
    """Groups of a survival curve in order, their labels, and their vocabulary.

    "all" (and "overall", "total") is "All vehicles" and comes first; booleans or
    "True"/"False" (``by="sold_here"``) are "Sold here" / "Sold elsewhere"; other codes as
    :func:`_group_codes`.
    """
    present = values.dropna()
    text = present.astype(str)
    every = [c for c in pd.unique(present) if str(c) in _ALL_GROUPS]
    if len(present) and set(text.str.lower()) <= {"true", "false"}:
        order = sorted(pd.unique(present), key=lambda c: str(c).lower() != "true")
        names = [t(f"sold_here.{str(c).lower()}", lang) for c in order]
        if values.isna().any():
            order.append(None)
            names.append(t("plot.unknown", lang))
        return order, names, "sold_here"
    rest = values[~values.astype(str).isin(_ALL_GROUPS) | values.isna()]
    order, names = _group_codes(rest, field, lang) if len(rest) else ([], [])
    found = [str(c) for c in order if c is not None]
    vocab = _vocabulary(found, None) if found else None
    return every + order, [t("plot.all_vehicles", lang)] * len(every) + names, vocab


def _median_age(ages: np.ndarray, survival: np.ndarray) -> float:
    """First age at which the step curve is at or below one half (NaN if never)."""
    below = np.flatnonzero(survival <= 0.5)
    return float(ages[below[0]]) if len(below) else float("nan")


def _at_risk_at(ages: np.ndarray, counts: np.ndarray, k: float) -> int:
    """Vehicles at risk at age ``k``: the count of the first curve row at or after ``k``."""
    i = int(np.searchsorted(ages, k - 1e-9, side="left"))
    return int(counts[i]) if i < len(ages) and np.isfinite(counts[i]) else 0


def _count_text(n: float, lang: str) -> str:
    """An at-risk count: ``1,234``; from 10,000 on ``11.8k`` / ``1.2万`` (narrow columns)."""
    n = int(n)
    if n < 10_000:
        return f"{n:,}"
    return f"{n / 1e4:.1f}万" if lang == "zh" else f"{n / 1e3:.1f}k"


def _points_below_axis() -> float:
    """Offset (points) from the bottom of an Axes to below its tick labels and x label."""
    from matplotlib.font_manager import FontProperties

    rc = mpl.rcParams
    tick = FontProperties(size=rc["xtick.labelsize"]).get_size_in_points()
    lab = FontProperties(size=rc["axes.labelsize"]).get_size_in_points()
    return (rc["xtick.major.size"] + rc["xtick.major.pad"] + 1.3 * tick + rc["axes.labelpad"]
            + 1.3 * lab + 8.0)


def survival_curves(
    curve: Any,
    *,
    group: str | None = "group",
    at_risk: bool = True,
    max_age: float | None = None,
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Kaplan-Meier curves of the relationship by vehicle age, with bands and at-risk counts.

    Parameters
    ----------
    curve:
        Tidy curve, one row per (``group``, ``age``) step: ``age`` (years), ``survival``
        (share still a customer, 0–1), optionally ``lo`` / ``hi`` (confidence band) and
        ``at_risk``; e.g. ``survival_by_vehicle_age(...).curve_`` (a result object with
        a ``curve_`` attribute is accepted too). Each curve is drawn as a right-continuous
        step function.
    group:
        Column of the curve's group; codes of a vocabulary (``usage``, ``region``, ...)
        are translated, "all" shows as "All vehicles". None: a single curve.
    at_risk:
        Write the number of vehicles at risk at each whole age under the x axis, one row
        per group: the ``at_risk`` of the first row at or after that age (0 after the
        curve's last row, blank before its first), or, for a result object with an
        ``at_risk_`` table (``group, age, at_risk`` at whole ages), its exact counts.
    max_age:
        Right end of the x axis (default: the largest age of the curve).
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes. Group ``g`` (``"all"`` without ``group``, ``"unknown"`` for a missing
    code) is the step line with gid
    ``f"survival_{g}"``, its band ``f"band_{g}"``; the median, when the curve reaches
    one half, is the dotted line ``f"median_{g}"`` at that age and is given in the
    legend; the at-risk count at age k is the text ``f"at_risk_{g}_{k}"``.

    Example
    -------
    >>> import pandas as pd
    >>> c = pd.DataFrame({"group": "all", "age": [0.0, 1.0, 2.5, 4.0],
    ...                   "survival": [1.0, 0.8, 0.5, 0.3], "lo": [1.0, 0.75, 0.44, 0.25],
    ...                   "hi": [1.0, 0.85, 0.56, 0.36], "at_risk": [100, 90, 40, 12]})
    >>> ax = survival_curves(c)
    >>> ax.get_legend().get_texts()[0].get_text()
    'All vehicles (median 2.5 years)'
    >>> [x.get_text() for x in ax.texts if x.get_gid().startswith("at_risk_all")]
    ['100', '90', '40', '12', '12']
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    df = _table(_unwrap(curve, ("curve_",)), "curve")
    require_columns(df, ["age", "survival", *([group] if group else [])], "curve")
    exact = getattr(curve, "at_risk_", None) if not isinstance(curve, pd.DataFrame) else None
    if not (isinstance(exact, pd.DataFrame)
            and {"age", "at_risk", *([group] if group else [])} <= set(exact.columns)):
        exact = None
    if exact is not None:
        df = df.assign(at_risk=np.nan) if "at_risk" not in df.columns else df
    if group is not None:
        df = df.assign(**{group: df[group].mask(df[group].astype(str) == _MISSING_LEVEL)})
    if at_risk and "at_risk" not in df.columns:
        raise KeyError(f"{caller()}: missing column 'at_risk' (pass at_risk=False to draw "
                       f"without at-risk counts); the frame has {list(df.columns)}")
    bands = "lo" in df.columns and "hi" in df.columns
    if group is None:
        codes_, names, vocab = [None], [t("plot.all_vehicles", lang)], None
    else:
        codes_, names, vocab = _survival_groups(df[group], group, lang)
    n = len(codes_)
    palette = sns.color_palette("deep", n)
    ages_all = df["age"].astype(float)
    xmax = float(max_age) if max_age is not None else float(np.nanmax(ages_all, initial=1.0))
    ax = _new_ax(ax, (8.5, 5.5 + (0.25 * (n + 1) if at_risk else 0.0)))
    rows: list[tuple[str, str, Any, np.ndarray, np.ndarray]] = []
    for i, code in enumerate(codes_):
        sub = _rows_of(df, None if group is None else group, code)
        sub = sub.loc[sub["age"].notna()].sort_values("age", kind="stable")
        key = "all" if group is None else UNKNOWN if code is None else str(code)
        ages = sub["age"].to_numpy(float)
        s = sub["survival"].to_numpy(float)
        med = _median_age(ages, s)
        name = names[i] if np.isnan(med) else t("plot.median_age", lang, name=names[i],
                                                  age=f"{med:.1f}")
        ax.step(ages, s, where="post", color=palette[i], lw=2, label=name, zorder=3,
                gid=f"survival_{key}")
        if bands:
            ax.fill_between(ages, sub["lo"].to_numpy(float), sub["hi"].to_numpy(float),
                            step="post", color=palette[i], alpha=0.18, lw=0, zorder=2,
                            gid=f"band_{key}")
        if not np.isnan(med):
            ax.plot([med, med], [0.0, 0.5], ls=":", color=palette[i], lw=1.5, zorder=3,
                    gid=f"median_{key}")
            ax.plot([med], [0.5], "o", color=palette[i], ms=6, mec="white", zorder=4)
        if at_risk:
            if exact is not None:  # counts at whole ages from the fitted result
                e = _rows_of(exact, None if group is None else group, code)
                counts_at = dict(zip(e["age"].astype(float), e["at_risk"], strict=True))
            else:
                counts_at = None
            rows.append((key, names[i], palette[i], ages, sub["at_risk"].to_numpy(float),
                         counts_at))
    ax.axhline(0.5, color="0.55", lw=0.8, ls="--", zorder=1)
    ax.set_xlim(0, xmax * 1.02 if xmax > 0 else 1.0)
    ax.set_ylim(0, 1.03)
    if xmax <= 20:
        ax.set_xticks(np.arange(0, int(np.floor(xmax)) + 1))
    fmt_pct(ax, "y")
    legend = ax.legend(loc="upper right", fontsize="small")
    if vocab is not None and vocab != "sold_here" and n > 1:
        legend.set_title(_dim_label(vocab, lang), prop={"size": "small"})
    if rows:
        base = _points_below_axis()
        small = mpl.font_manager.FontProperties(size="small").get_size_in_points()
        step = 1.35 * small
        left = -(1.6 * small + 6)  # clear of a 5-character count centred at age 0
        ax.annotate(t("plot.at_risk", lang), (0, 0), xycoords="axes fraction",
                    xytext=(left, -base), textcoords="offset points", ha="right", va="top",
                    fontsize="small", gid="at_risk_header")
        for r, (key, name, color, ages, counts, counts_at) in enumerate(rows, start=1):
            y = -base - r * step
            ax.annotate(name, (0, 0), xycoords="axes fraction", xytext=(left, y),
                        textcoords="offset points", ha="right", va="top", fontsize="small",
                        color=color, gid=f"at_risk_name_{key}")
            for k in range(0, int(np.floor(xmax + 1e-9)) + 1):
                if counts_at is not None:
                    text = _count_text(counts_at.get(float(k), 0), lang)
                elif len(ages) and k < ages[0] - 1e-9:
                    text = ""  # the curve starts later (conditional on reaching it)
                else:
                    text = _count_text(_at_risk_at(ages, counts, k), lang)
                ax.annotate(text, (k, 0),
                            xycoords=("data", "axes fraction"), xytext=(0, y),
                            textcoords="offset points", ha="center", va="top",
                            fontsize="small", color=color, gid=f"at_risk_{key}_{k}")
    label(ax, title or t("plot.survival_title", lang),
          with_unit("metric.vehicle_age", "years", lang),
          with_unit("metric.survival", "share", lang))
    return ax


def cohort_heatmap(
    cohorts: Any,
    *,
    value: str = "retention_rate",
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Heat map of retention by sale-year cohort (rows) and vehicle age band (columns).

    Parameters
    ----------
    cohorts:
        One row per (``sale_year``, ``age_band``) with ``value`` (a share 0–1), e.g. from
        :func:`crm_analysis.retention.cohort_retention`; a ``vehicles`` column (cohort
        size) is shown in the row labels. Combinations not in the table (age years not
        yet observed) are blank.
    value:
        The share shown (default ``retention_rate``); the colour scale runs from 0 to 100%.
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes; the cell values are ``ax.collections[0].get_array()`` (masked where blank),
    sale years as rows (oldest on top), bands as columns.

    Example
    -------
    >>> import pandas as pd
    >>> c = pd.DataFrame({"sale_year": [2020, 2020, 2021], "age_band": [0, 1, 0],
    ...                   "vehicles": [120, 120, 150], "retention_rate": [0.9, 0.7, 0.85]})
    >>> ax = cohort_heatmap(c, lang="zh")
    >>> [x.get_text() for x in ax.get_yticklabels()]
    ['2020（120辆）', '2021（150辆）']
    >>> [x.get_text() for x in ax.texts]
    ['90%', '70%', '85%']
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    df = _table(cohorts, "cohorts")
    require_columns(df, ["sale_year", "age_band", value], "cohorts")
    df = df.loc[df["sale_year"].notna() & df["age_band"].notna()].copy()
    df["age_band"] = _int_bands(df["age_band"], "age_band")
    _check_unique(df, ["sale_year", "age_band"])
    grid = df.pivot(index="sale_year", columns="age_band", values=value).astype(float)
    grid = grid.sort_index()
    if len(grid.columns):
        lo_b, hi_b = int(grid.columns.min()), int(grid.columns.max())
        grid = grid.reindex(columns=range(lo_b, hi_b + 1))
    years = [int(y) if float(y).is_integer() else y for y in grid.index]
    if "vehicles" in df.columns:
        size = df.groupby("sale_year")["vehicles"].max()
        rows = [t("plot.cohort_n", lang, year=y, n=f"{int(size.loc[i]):,}")
                for y, i in zip(years, grid.index, strict=True)]
    else:
        rows = [str(y) for y in years]
    annot = np.vectorize(lambda v: "" if pd.isna(v) else Narrator(lang).pct(v, 0),
                         otypes=[object])(grid.to_numpy())
    shown = pd.DataFrame(grid.to_numpy(), index=rows,
                         columns=[_band_label(k, lang) for k in grid.columns])
    ax = _new_ax(ax, (max(7.0, 0.75 * shown.shape[1] + 3.5), 0.42 * shown.shape[0] + 2.5))
    _heatmap(shown, annot=annot, fmt="", cmap="Blues", vmin=0.0, vmax=1.0, linewidths=1,
             linecolor="white", ax=ax, annot_kws={"fontsize": "small"},
             cbar_kws={"label": with_unit(f"metric.{value}", "share", lang)
                       if f"metric.{value}" in LABELS else value})
    ax.grid(False)
    fmt_pct(ax.collections[0].colorbar.ax, "y")
    ax.tick_params(axis="y", labelrotation=0)
    label(ax, title or (t("plot.cohort_title", lang) if value == "retention_rate" else
                        t("plot.by_vehicle_age", lang, what=_metric_label(value, lang))),
          with_unit("plot.dim_age_band", "years", lang), t("plot.sale_year", lang))
    _fit_xticklabels(ax)
    return ax


def service_funnel_chart(
    funnel: Any,
    *,
    conditional: bool = True,
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Maintenance-sequence funnel: share of the vehicles sold that come back k times.

    Parameters
    ----------
    funnel:
        One row per ``visit`` (1, 2, 3, ...) with ``share``: the share of the vehicles
        sold here that came back for at least that many services, e.g. from
        :func:`crm_analysis.retention.service_funnel`. With a ``conditional_share``
        column (share of those back for visit k-1 that came back for visit k) and
        ``conditional=True`` it is written (upwards) inside the bars from the second visit
        on, where the bar is tall enough.
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes; the bars are ``ax.containers[0]``, labelled "94%" (texts with gid
    ``"share_label"``; the conditional shares have gid ``"conditional_label"``).

    Example
    -------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"visit": [1, 2, 3], "share": [0.94, 0.63, 0.42]})
    >>> ax = service_funnel_chart(f)
    >>> [x.get_text() for x in ax.get_xticklabels()]
    ['1st', '2nd', '3rd']
    >>> [x.get_text() for x in ax.texts if x.get_gid() == "share_label"]
    ['94%', '63%', '42%']
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    df = _table(funnel, "funnel")
    require_columns(df, ["visit", "share"], "funnel")
    df = df.loc[df["visit"].notna()].sort_values("visit", kind="stable").reset_index(drop=True)
    _check_unique(df, ["visit"])
    visits = [int(v) for v in df["visit"]]
    share = df["share"].to_numpy(float)
    x = np.arange(len(df), dtype=float)
    ax = _new_ax(ax, (max(7.0, 0.7 * len(df) + 2.5), 5))
    colors = sns.color_palette("Blues_r", len(df) + 3)[1:len(df) + 1]
    bars = ax.bar(x, share, width=0.72, color=colors, zorder=2)
    texts = ax.bar_label(bars, labels=[Narrator(lang).pct(s, 0) if np.isfinite(s) else ""
                                       for s in share],
                         padding=2, fontsize="small")
    for text in texts:
        text.set_gid("share_label")
    if conditional and "conditional_share" in df.columns:
        # written upwards inside the bar, when the bar is tall enough to hold it
        top = max(0.1, float(np.nanmax(share, initial=0.0)) * 1.1 + 0.02)
        height_pt = 72 * ax.figure.get_figheight() * ax.get_position().height
        fs = mpl.font_manager.FontProperties(size="x-small").get_size_in_points()
        for xi, s, c, k, face in zip(x, share, df["conditional_share"].astype(float), visits,
                                     colors, strict=True):
            if k == 1 or not np.isfinite(c):
                continue
            text = t("plot.funnel_conditional", lang, pct=Narrator(lang).pct(c, 0))
            need = fs * sum(1.0 if ord(ch) > 0x2E80 else 0.62 for ch in text) + 8
            if s / top * height_pt * 0.85 >= need:
                dark = sum(np.asarray(mpl.colors.to_rgb(face)) * (0.299, 0.587, 0.114)) < 0.55
                ax.text(xi, s / 2, text, ha="center", va="center", rotation=90,
                        fontsize="x-small", color="white" if dark else "0.15",
                        gid="conditional_label", zorder=3)
    names = [t("plot.visit_n", lang, nth=_ordinal(k) if lang == "en" else k) for k in visits]
    ax.set_xticks(x, names)
    ax.grid(axis="x", visible=False)
    _pct_ticks_to_100(ax, max(0.1, float(np.nanmax(share, initial=0.0)) * 1.1 + 0.02))
    label(ax, title or t("plot.funnel_title", lang), t("plot.funnel_x", lang),
          with_unit("plot.funnel_y", "share", lang))
    _fit_xticklabels(ax)
    return ax


# ------------------------------------------------------------------ data overview (nb 01)
def activity_chart(
    monthly: Any,
    *,
    measure: str = "orders",
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Orders or revenue per calendar month, a line over time.

    Parameters
    ----------
    monthly:
        One row per ``month`` with ``orders`` and ``revenue``, e.g. from
        :func:`crm_analysis.overview.monthly_activity`.
    measure:
        ``"orders"`` (repair orders per month) or ``"revenue"`` (RMB per month; ticks in
        万 for ``lang="zh"``).
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Example
    -------
    >>> import pandas as pd
    >>> m = pd.DataFrame({"month": pd.to_datetime(["2024-01-01", "2024-02-01"]),
    ...                   "orders": [120, 90], "revenue": [1.2e5, 0.9e5]})
    >>> ax = activity_chart(m, measure="revenue", lang="zh")
    >>> ax.get_title(), ax.lines[0].get_ydata().tolist()
    ('每月售后收入', [120000.0, 90000.0])
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    if measure not in ("orders", "revenue"):
        raise ValueError(f"{caller()}: measure must be 'orders' or 'revenue', got {measure!r}")
    df = _table(monthly, "monthly")
    require_columns(df, ["month", measure], "monthly")
    df = df.sort_values("month", kind="stable")
    ax = _new_ax(ax, (10, 3.4))
    ax.plot(df["month"], df[measure], color="#1f77b4" if measure == "orders" else "#2ca02c")
    if measure == "revenue":
        fmt_rmb(ax, scale=1e4, suffix="万") if lang == "zh" else fmt_rmb(ax)
    label(ax, title or t(f"overview.monthly_{measure}_title", lang), t("metric.month", lang),
          t(f"overview.monthly_{measure}_y", lang))
    return ax


def order_mix_chart(
    mix: Any,
    *,
    by: str = "ro_type",
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Share of orders and share of revenue by order type (or payer), paired bars.

    ``mix`` has ``by``, ``share_orders`` and ``share_revenue`` (e.g. from
    :func:`crm_analysis.overview.order_mix`); the categories are translated.

    Example
    -------
    >>> import pandas as pd
    >>> mix = pd.DataFrame({"ro_type": ["maintenance", "body_paint"],
    ...                     "share_orders": [0.8, 0.2], "share_revenue": [0.4, 0.6]})
    >>> ax = order_mix_chart(mix)
    >>> [x.get_text() for x in ax.get_xticklabels()]
    ['Maintenance', 'Body & paint']
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    df = _table(mix, "mix")
    require_columns(df, [by, "share_orders", "share_revenue"], "mix")
    long = df.melt(id_vars=by, value_vars=["share_orders", "share_revenue"],
                   var_name="measure", value_name="share")
    long["measure"] = [t(f"overview.{m}", lang) for m in long["measure"]]
    long[by] = [t(f"{by}.{c}", lang) if f"{by}.{c}" in LABELS else str(c) for c in long[by]]
    ax = _new_ax(ax, (9, 4.5))
    sns.barplot(data=long, x=by, y="share", hue="measure", ax=ax)
    fmt_pct(ax)
    label(ax, title or t("overview.mix_title", lang), t(f"column.{by}", lang),
          t("overview.share_pct", lang))
    ax.legend(title="")
    _fit_xticklabels(ax)
    return ax


def vehicle_bases_chart(
    bases: Any,
    *,
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Vehicle base next to the service base (sold here / bought elsewhere) by year of life.

    ``bases`` is the ``table`` of :func:`crm_analysis.overview.vehicle_bases` (``year``,
    ``vehicle_base``, ``service_sold_here``, ``service_elsewhere``); the last year,
    :data:`crm_analysis.overview.OVER_TEN`, reads "Over 10 y".

    Example
    -------
    >>> import pandas as pd
    >>> b = pd.DataFrame({"year": [1, 11], "vehicle_base": [5, 0],
    ...                   "service_sold_here": [4, 0], "service_elsewhere": [1, 2]})
    >>> ax = vehicle_bases_chart(b)
    >>> [x.get_text() for x in ax.get_xticklabels()], len(ax.containers)
    (['Year 1', 'Over 10 y'], 3)
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    df = _table(bases, "bases")
    require_columns(df, ["year", "vehicle_base", "service_sold_here", "service_elsewhere"],
                    "bases")
    x = np.arange(len(df), dtype=float)
    own, kept = df["vehicle_base"].to_numpy(), df["service_sold_here"].to_numpy()
    ax = _new_ax(ax, (10, 4.8))
    ax.bar(x - 0.2, own, width=0.4, color="#9ecae1", label=t("overview.base_sold_here", lang))
    ax.bar(x + 0.2, kept, width=0.4, color="#3182bd", label=t("overview.service_sold_here", lang))
    ax.bar(x + 0.2, df["service_elsewhere"].to_numpy(), width=0.4, bottom=kept,
           color="#fd8d3c", label=t("overview.service_elsewhere", lang))
    ax.set_xticks(x, [t("metric.age_band", lang, n=int(y)) if y < OVER_TEN
                      else t("overview.over_ten", lang) for y in df["year"]])
    label(ax, title or t("overview.age_title", lang), t("overview.age_x", lang),
          t("overview.age_y", lang))
    ax.legend()
    _fit_xticklabels(ax)
    return ax


_COVARIATE_FORMS = (
    re.compile(r"^(?P<field>[A-Za-z_]+)\[(?:T\.)?(?P<code>[^\]]+)\]$"),  # patsy: usage[T.taxi]
    re.compile(r"^(?P<field>[A-Za-z_]+)\s*(?:=|:|：)\s*(?P<code>.+)$"),  # usage=taxi, usage: taxi
)
#: Missing-value level of crm_analysis.survival's Cox covariates and survival groups.
_MISSING_LEVEL = "(missing)"
_VERSUS = re.compile(r"^(?P<what>.+?)\s*[(（]\s*(?:vs\.?|versus|ref(?:erence)?:?)\s*"
                     r"(?P<ref>[^)）]+?)\s*[)）]$")


def _field_code(text: str, lang: str) -> str | None:
    """``usage[T.taxi]`` / ``usage=taxi`` / ``usage: taxi`` / ``usage_taxi`` translated."""
    candidates: list[tuple[str, str]] = []
    for pattern in _COVARIATE_FORMS:
        m = pattern.match(text)
        if m:
            candidates.append((m["field"], m["code"].strip()))
    for field in sorted(VOCABULARIES, key=len, reverse=True):
        if text.startswith(field + "_"):
            candidates.append((field, text[len(field) + 1:]))
    for field, code in candidates:
        if f"{field}.{code}" in LABELS:
            return t("plot.field_code", lang, field=_dim_label(field, lang),
                     code=t(f"{field}.{code}", lang))
    return None


def _covariate_label(name: Any, lang: str) -> str:
    """Display name of a covariate of a Cox model (raw name when there is no label)."""
    text = str(name).strip()
    m = _VERSUS.match(text)
    if m:
        ref = m["ref"].strip()
        field = next((f for f in VOCABULARIES if f"{f}.{ref}" in LABELS
                      and text.startswith(f)), None)
        ref_label = t(f"{field}.{ref}", lang) if field else _covariate_label(ref, lang)
        return t("plot.versus", lang, what=_covariate_label(m["what"], lang), ref=ref_label)
    for key in (f"covariate.{text}", f"column.{text}", f"metric.{text}", f"feature.{text}"):
        if key in LABELS:
            return t(key, lang)
    return _field_code(text, lang) or text


def _level_label(field: str, code: Any, lang: str) -> str | None:
    """Label of a level of a Cox covariate (``usage`` ``taxi``, ``warranty`` ``out``, ...)."""
    code = str(code)
    if code in (_MISSING_LEVEL, UNKNOWN):
        return t("plot.unknown", lang)
    if f"covariate.{field}_{code}" in LABELS:  # warranty phases
        return t(f"covariate.{field}_{code}", lang)
    if f"{field}.{code}" in LABELS:
        return t(f"{field}.{code}", lang)
    flag = {"yes": "true", "no": "false"}.get(code)
    if flag is not None:
        key = f"{field}.{flag}"
        return t(key, lang) if key in LABELS else t(f"plot.{code}", lang)
    return None


def _amount(text: str, lang: str) -> str | None:
    """``"10,000 km"`` of a level ``"per 10,000 km"`` in ``lang`` (None if not that form)."""
    m = re.fullmatch(r"per\s+([\d,.]+)\s*(km)?", text.strip())
    if not m:
        return None
    n = float(m.group(1).replace(",", ""))
    if lang == "zh":
        num = f"{n / 1e4:g}万" if n >= 1e4 and n % 1e4 == 0 else f"{n:,.0f}"
        return num + ("公里" if m.group(2) else "")
    return f"{n:,.0f}" + (" km" if m.group(2) else "")


def _hazard_ratio_label(covariate: Any, level: Any, reference: Any, lang: str) -> str:
    """Row name of a hazard-ratio table with ``level`` / ``reference`` columns.

    "Vehicle use: Taxi (vs Private)", "Sold here (vs Sold elsewhere)", "First-year visits
    (per visit)", "Warranty ending (vs In warranty)"; unknown codes are shown as they are.
    """
    cov = str(covariate)
    base = _covariate_label(cov, lang)
    if level is None or pd.isna(level) or not str(level).strip():
        return base
    level = str(level).strip()
    if level == "per visit":
        return t("plot.per_visit", lang, what=base)
    if level == "per unit":
        return base
    amount = _amount(level, lang)
    if amount is not None:
        return t("plot.per_amount", lang, what=base, amount=amount)
    own = _level_label(cov, level, lang)
    if own is None:
        what = t("plot.field_code", lang, field=base, code=level)
    elif f"covariate.{cov}_{level}" in LABELS or (
            level in ("yes", "no") and f"{cov}.true" in LABELS):
        what = own  # the level names the covariate: "Out of warranty", "Sold here"
    else:
        what = t("plot.field_code", lang, field=base, code=own)
    if reference is None or pd.isna(reference) or not str(reference).strip():
        return what
    ref = _level_label(cov, reference, lang) or str(reference)
    return t("plot.versus", lang, what=what, ref=ref)


def hazard_ratio_label(covariate: Any, level: Any = None, reference: Any = None,
                       lang: str = "en") -> str:
    """The display name :func:`forest_plot` gives a row of a hazard-ratio table.

    Use it to name the same covariates in report text as in the figure.

    Example
    -------
    >>> hazard_ratio_label("usage", "taxi", "private", "en")
    'Vehicle use: Taxi (vs Private)'
    """
    return _hazard_ratio_label(covariate, level, reference, lang)


def _ratio_text(hr: float, lo: float, hi: float, p: float | None) -> str:
    if not np.isfinite(hr):
        return "–"
    out = f"{hr:.2f} ({lo:.2f}–{hi:.2f})"
    if p is not None and np.isfinite(p):
        out += "  p<0.001" if p < 0.001 else f"  p={p:.3f}"
    return out


def forest_plot(
    hazard_ratios: Any,
    *,
    confidence: float = 0.95,
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Forest plot of Cox hazard ratios with confidence intervals on a log axis.

    Parameters
    ----------
    hazard_ratios:
        One row per covariate: ``covariate``, ``hazard_ratio``, ``lo``, ``hi`` and
        optionally ``p``, e.g. ``defection_drivers(...).hazard_ratios_`` (a result object
        with a ``hazard_ratios_`` attribute is accepted too). A ``label_en`` / ``label_zh``
        column (the one of ``lang``) names the rows. With ``level`` (and ``reference``)
        columns — the table of :func:`crm_analysis.survival.defection_drivers`:
        ``covariate`` is the column and ``level`` its category, ``"yes"``, ``"per visit"``
        or ``"per 10,000 km"`` — rows read "Vehicle use: Taxi (vs Private)", "Sold here
        (vs Sold elsewhere)", "First-year visits (per visit)". Otherwise ``covariate``
        names the term and is translated where a label exists: ``covariate.*`` / ``column.*`` keys
        (``first_year_visits``, ``in_warranty``, ``annual_km``, ...) and category
        indicators of a vocabulary in the forms ``usage[T.taxi]``, ``usage=taxi``,
        ``usage: taxi`` or ``usage_taxi``, optionally followed by ``(vs private)``;
        other names are shown as they are. Rows are drawn in table order, top down.
    confidence:
        Level of the ``lo`` / ``hi`` intervals (in the axis label); a ratio is
        highlighted (red above 1, blue below) when ``p < 1 - confidence``, or, without
        a ``p`` column, when its interval excludes 1.
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes. The ratios are the scatter with gid ``"hazard_ratio"`` (offsets
    ``(ratio, row)``), the intervals the line collection ``"ci"``, the line at 1
    ``"reference"``; "1.42 (1.20–1.68)  p=0.003" texts at the right have gid
    ``"ratio_text"``.

    Example
    -------
    >>> import pandas as pd
    >>> hr = pd.DataFrame({"covariate": ["usage[T.taxi]", "first_year_visits"],
    ...                    "hazard_ratio": [1.8, 0.7], "lo": [1.4, 0.6], "hi": [2.3, 0.8],
    ...                    "p": [0.0001, 0.02]})
    >>> ax = forest_plot(hr, lang="zh")
    >>> [x.get_text() for x in ax.get_yticklabels()]
    ['车辆用途：出租车', '首年进厂次数']
    >>> ax.get_xscale()
    'log'
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    df = _table(_unwrap(hazard_ratios, ("hazard_ratios_",)), "hazard_ratios").reset_index(
        drop=True)
    require_columns(df, ["covariate", "hazard_ratio", "lo", "hi"], "hazard_ratios")
    alpha = 1.0 - check_confidence(confidence)
    hr, lo, hi = (df[c].to_numpy(float) for c in ("hazard_ratio", "lo", "hi"))
    positive = np.r_[hr, lo, hi]
    if (positive[np.isfinite(positive)] <= 0).any():
        raise ValueError(f"{caller()}: hazard ratios and their bounds must be positive")
    p = df["p"].to_numpy(float) if "p" in df.columns else None
    sig = (p < alpha) if p is not None else ((lo > 1) | (hi < 1))
    colors = [FOREST_COLORS["ns"] if not s else FOREST_COLORS["up" if h > 1 else "down"]
              for s, h in zip(sig, hr, strict=True)]
    n = len(df)
    y = np.arange(n, dtype=float)
    ax = _new_ax(ax, (9.5, 0.42 * n + 2.4))
    ax.hlines(y, lo, hi, colors=colors, lw=2.2, zorder=2, gid="ci")
    ax.scatter(hr, y, c=colors, s=46, marker="D", zorder=3, gid="hazard_ratio",
               edgecolors="white", linewidths=0.8)
    ax.axvline(1.0, color="0.3", ls="--", lw=1, zorder=1, gid="reference")
    ax.set_xscale("log")
    finite = positive[np.isfinite(positive)]
    x0 = min(float(finite.min()) if len(finite) else 1.0, 1.0) / 1.25
    x1 = max(float(finite.max()) if len(finite) else 1.0, 1.0) * 1.25
    ax.set_xlim(x0, x1)
    ax.xaxis.set_major_locator(mpl.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos=None: f"{v:g}"))
    ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    own = df[f"label_{lang}"] if f"label_{lang}" in df.columns else None
    names = []
    for i, cov in enumerate(df["covariate"]):
        if own is not None and pd.notna(own.iloc[i]) and str(own.iloc[i]).strip():
            names.append(str(own.iloc[i]))
        elif "level" in df.columns:
            ref = df["reference"].iloc[i] if "reference" in df.columns else None
            names.append(_hazard_ratio_label(cov, df["level"].iloc[i], ref, lang))
        else:
            names.append(_covariate_label(cov, lang))
    ax.set_yticks(y, names)
    ax.set_ylim(n - 0.4, -0.6)
    ax.grid(axis="y", visible=False)
    trans = mpl.transforms.blended_transform_factory(ax.transAxes, ax.transData)
    for yi, h, a, b, pv, c in zip(y, hr, lo, hi, p if p is not None else [None] * n, colors,
                                  strict=True):
        ax.text(1.02, yi, _ratio_text(h, a, b, pv), transform=trans, ha="left", va="center",
                fontsize="small", color=c if c != FOREST_COLORS["ns"] else "0.35",
                gid="ratio_text")
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=FOREST_COLORS["up"], marker="D", lw=2, mec="white",
               label=t("plot.significant_up", lang, alpha=f"{alpha:g}")),
        Line2D([], [], color=FOREST_COLORS["down"], marker="D", lw=2, mec="white",
               label=t("plot.significant_down", lang, alpha=f"{alpha:g}")),
        Line2D([], [], color=FOREST_COLORS["ns"], marker="D", lw=2, mec="white",
               label=t("plot.not_significant", lang)),
        Line2D([], [], color="0.3", ls="--", lw=1, label=t("plot.no_effect", lang)),
    ]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2,
              frameon=False, fontsize="small", borderaxespad=0.2)
    label(ax, title or t("plot.forest_title", lang),
          t("plot.hazard_ratio_x", lang, level=Narrator(lang).pct(confidence, 0)),
          t("plot.covariate", lang))
    ax.set_title(ax.get_title(), pad=40)  # above the two-row legend
    return ax


def hazard_chart(
    hazard: Any,
    *,
    cliff_age: float | None = None,
    confidence: float = 0.95,
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Yearly defection hazard by vehicle age band, with intervals and the warranty cliff.

    Parameters
    ----------
    hazard:
        One row per ``age_band`` with ``hazard`` (defections per vehicle-year at risk,
        e.g. 0.12 = 12% a year) and optionally ``hazard_lo`` / ``hazard_hi``, e.g. from
        :func:`crm_analysis.survival.warranty_cliff`. A result object holding the table
        in ``hazard_`` or ``table_`` is accepted, and its ``cliff_age_`` is used when
        ``cliff_age`` is None.
    cliff_age:
        Age band of the warranty cliff (the band whose hazard jumps most over the
        previous one): its bar is red and annotated "Warranty cliff: 8.0% → 21.0%".
        None: no annotation.
    confidence:
        Level of the intervals, for the legend only.
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes; the bars are ``ax.containers`` (the ``BarContainer``), bar labels have gid
    ``"hazard_label"``, the cliff annotation ``"cliff"``.

    Example
    -------
    >>> import pandas as pd
    >>> h = pd.DataFrame({"age_band": [0, 1, 2, 3], "hazard": [0.05, 0.06, 0.08, 0.21]})
    >>> ax = hazard_chart(h, cliff_age=3, lang="zh")
    >>> [x.get_text() for x in ax.texts if x.get_gid() == "cliff"]
    ['质保到期断崖：8.0% → 21.0%']
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    if cliff_age is None and not isinstance(hazard, pd.DataFrame):
        cliff_age = getattr(hazard, "cliff_age_", None)
    df = _table(_unwrap(hazard, ("hazard_", "table_")), "hazard")
    require_columns(df, ["age_band", "hazard"], "hazard")
    df = df.loc[df["age_band"].notna()].copy()
    df["age_band"] = _int_bands(df["age_band"], "age_band")
    _check_unique(df, ["age_band"])
    df = df.sort_values("age_band", kind="stable").reset_index(drop=True)
    bands = df["age_band"].astype(int).tolist()
    h = df["hazard"].to_numpy(float)
    iv = _interval_columns(df, "hazard")
    err = _yerr(h, df[iv[0]].to_numpy(float), df[iv[1]].to_numpy(float)) if iv else None
    cliff_i = None
    if cliff_age is not None and not (isinstance(cliff_age, float) and np.isnan(cliff_age)):
        if float(cliff_age) not in [float(b) for b in bands]:
            raise ValueError(f"{caller()}: cliff_age {cliff_age!r} is not one of the age "
                             f"bands {bands}")
        cliff_i = [float(b) for b in bands].index(float(cliff_age))
    colors = ["#C44E52" if i == cliff_i else "#8DA0CB" for i in range(len(bands))]
    x = np.arange(len(bands), dtype=float)
    ax = _new_ax(ax, (max(7.5, 0.65 * len(bands) + 2.5), 5))
    bars = ax.bar(x, h, width=0.7, color=colors, yerr=err, capsize=3, zorder=2,
                  error_kw={"ecolor": "0.25", "elinewidth": 1})
    for text in ax.bar_label(bars, labels=[Narrator(lang).pct(v) if np.isfinite(v) else ""
                                           for v in h],
                             padding=2, fontsize="small"):
        text.set_gid("hazard_label")
    tops = h + (err[1] if err is not None else 0.0)
    top = float(np.nanmax(tops, initial=0.0))
    ax.set_ylim(0, max(0.02, top * (1.45 if cliff_i is not None else 1.15)))
    if cliff_i is not None:
        before = Narrator(lang).pct(h[cliff_i - 1]) if cliff_i > 0 else "–"
        after = Narrator(lang).pct(h[cliff_i])
        ax.annotate(t("plot.warranty_cliff", lang, before=before, after=after),
                    xy=(x[cliff_i], tops[cliff_i] + 0.06 * top), xytext=(0, 30),
                    textcoords="offset points", ha="center", va="bottom", color="#C44E52",
                    gid="cliff",
                    arrowprops={"arrowstyle": "-|>", "color": "#C44E52", "lw": 1.5},
                    bbox={"boxstyle": "round", "fc": "white", "ec": "#C44E52", "alpha": 0.9})
    ax.set_xticks(x, [_band_label(k, lang) for k in bands])
    ax.grid(axis="x", visible=False)
    fmt_pct(ax, "y", decimals=None)
    if iv:
        from matplotlib.lines import Line2D

        ax.legend(handles=[Line2D([], [], color="0.25", marker="|", ls="none", ms=12, mew=1.2,
                                  label=t("plot.interval", lang,
                                          level=Narrator(lang).pct(confidence, 0)))],
                  loc="upper left", fontsize="small")
    label(ax, title or t("plot.hazard_title", lang),
          with_unit("metric.vehicle_age", "years", lang),
          with_unit("plot.hazard", "share_per_year", lang))
    _fit_xticklabels(ax)
    return ax


def status_bars(
    status_counts: Any,
    *,
    count: str = "vehicles",
    share: bool = True,
    max_age: int | None = None,
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Vehicles by customer status (active / dormant / lost / never returned) and age band.

    Parameters
    ----------
    status_counts:
        Either counts — ``age_band``, ``status`` and the ``count`` column, one row per
        combination — or the per-vehicle table of :func:`crm_analysis.retention.status`
        (no ``count`` column: each row is one vehicle; ``age_band`` is taken from
        ``age_years`` when absent). Vehicles of unknown age form an "Unknown" bar at the
        right. Status codes must be ``status.*`` codes.
    share:
        True: each bar is 100% (the status mix of the band); False: numbers of vehicles.
    max_age:
        Leave out bands above this one (None: keep all).
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes; ``ax.containers`` holds one ``BarContainer`` per status in the order
    active, dormant, lost, never returned (those present); segment labels (shares of the
    band, shown when the segment is large enough) have gid ``"status_label"``, the band
    totals above the bars ``"total"``.

    Example
    -------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"age_band": [0, 0, 1, 1], "status": ["active", "lost"] * 2,
    ...                   "vehicles": [80, 20, 50, 50]})
    >>> ax = status_bars(s, lang="zh")
    >>> [c.get_label() for c in ax.containers]
    ['活跃', '流失']
    >>> [round(float(v), 2) for v in ax.containers[0].datavalues]
    [0.8, 0.5]
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    _prepare(lang)
    df = _table(status_counts, "status_counts").copy()
    require_columns(df, ["status"], "status_counts")
    if "age_band" not in df.columns:
        if "age_years" not in df.columns:
            require_columns(df, ["age_band"], "status_counts (or 'age_years' per vehicle)")
        df["age_band"] = np.floor(pd.to_numeric(df["age_years"], errors="coerce").astype(float))
    df["age_band"] = _int_bands(df["age_band"], "age_band")
    _vocabulary(df["status"].dropna().astype(str).tolist(), "status")
    if df["status"].isna().any():
        raise ValueError(f"{caller()}: 'status' has missing values")
    if max_age is not None:
        df = df.loc[df["age_band"].isna() | (df["age_band"] <= max_age)]
    weight = (df[count].astype(float) if count in df.columns
              else pd.Series(1.0, index=df.index))
    key = df["age_band"].fillna(-1.0)  # -1: unknown age
    table = (weight.groupby([key, df["status"].astype(str)]).sum().unstack(fill_value=0.0))
    statuses = [c for c in codes("status") if c in table.columns]
    table = table.reindex(columns=statuses).sort_index()
    table = table.loc[[b for b in table.index if b >= 0] + [b for b in table.index if b < 0]]
    totals = table.sum(axis=1)
    heights = table.div(totals.replace(0.0, np.nan), axis=0).fillna(0.0) if share else table
    names = [t("plot.unknown", lang) if b < 0 else _band_label(b, lang) for b in table.index]
    x = np.arange(len(table), dtype=float)
    ax = _new_ax(ax, (max(7.5, 0.8 * len(table) + 2.5), 5.2))
    ymax = 1.0 if share else float(totals.max() if len(totals) else 1.0)
    bottom = np.zeros(len(table))
    for code in statuses:
        v = heights[code].to_numpy(float)
        ax.bar(x, v, bottom=bottom, width=0.72, color=STATUS_COLORS.get(code, "0.5"),
               label=t(f"status.{code}", lang), zorder=2, edgecolor="white", lw=0.6)
        frac = (table[code] / totals.replace(0.0, np.nan)).fillna(0.0).to_numpy(float)
        for xi, b0, vi, f in zip(x, bottom, v, frac, strict=True):
            if f >= 0.05 and vi >= 0.045 * ymax:
                ax.text(xi, b0 + vi / 2, Narrator(lang).pct(f, 0), ha="center", va="center",
                        fontsize="x-small", color="white" if code != "dormant" else "0.15",
                        gid="status_label", zorder=3)
        bottom = bottom + v
    for xi, b, n_ in zip(x, bottom, totals, strict=True):
        ax.text(xi, b + 0.01 * ymax, t("plot.n_vehicles", lang, n=f"{int(round(n_)):,}"),
                ha="center", va="bottom", fontsize="x-small", color="0.3", gid="total")
    ax.set_xticks(x, names)
    ax.grid(axis="x", visible=False)
    ax.set_ylim(0, ymax * 1.07)
    if share:
        ax.set_yticks(np.linspace(0.0, 1.0, 6))
        fmt_pct(ax, "y")
        ylabel = with_unit("plot.share_of_vehicles", "share", lang)
    else:
        ylabel = with_unit("metric.vehicles", "vehicles", lang)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(statuses),
              frameon=False, fontsize="small", borderaxespad=0.2)
    label(ax, title or t("plot.status_title", lang),
          with_unit("metric.vehicle_age", "years", lang), ylabel)
    _title_above_legend(ax)
    _fit_xticklabels(ax)
    return ax


# =========================================================================== money charts
# (moved here from crm_analysis.economics and crm_analysis.value)

_MONEY_TEXT: dict[str, tuple[str, str]] = {
    "pnl_title": ("Store P&L per month", "门店月度损益"),
    "pnl_sub": ("store {store}, {start} to {end}", "门店 {store}，{start} 至 {end}"),
    "pnl_deck": ("the 2012 deck's example store", "2012 年课件示例门店"),
    "pnl_x": ("P&L line", "损益项目"),
    "rmb_month": ("Amount (RMB per month)", "金额（元/月）"),
    "age_x": ("Year of the car's life (years since sale, 1 = first year)",
              "车龄（购车后第几年，1 = 第一年）"),
    "ltv_title": ("After-sales value of one new car", "一辆新车的售后价值"),
    "ltv_sub": ("{value}, discounted at {rate} a year: total {total}",
                "{value}，年折现率 {rate}：合计 {total}"),
    "ltv_y": ("Value per new car (RMB)", "每辆新车的价值（元）"),
    "ltv_bar": ("Present value in the year", "当年现值"),
    "ltv_cum": ("Cumulative present value", "累计现值"),
    "lift_title": ("Retention lift: value gained per new car", "提升客户掌握率的收益"),
    "lift_sub": ("+{points:.0f} points in {years}: +{gain} per car",
                 "{years}提升 {points:.0f} 个百分点：每辆车 +{gain}"),
    "lift_sub_year": ("; +{year} for one year's new cars", "；一年新车合计 +{year}"),
    "lift_y": ("Retention rate (%)", "客户掌握率（%）"),
    "base": ("Today", "现状"),
    "scenario": ("Scenario", "提升后"),
    "years": ("years {a}–{b}", "第{a}–{b}年"),
    "year": ("year {a}", "第{a}年"),
    "value.gross_profit_per_retained": ("gross profit", "毛利"),
    "value.net_value_per_retained": ("net value", "净价值"),
    "value.revenue_per_retained": ("revenue", "营业收入"),
}

#: The bars of :func:`pnl_waterfall`: (line, sign in the waterfall); None = a total from 0.
_WATERFALL = (("new_car_gross", 1), ("service_gross", 1), ("total_gross", None),
              ("running_cost", -1), ("operating_profit_before_depreciation", None),
              ("depreciation", -1), ("operating_profit_after_depreciation", None))


def _mt(key: str, lang: str, **fmt: Any) -> str:
    return t(key, lang, labels=_MONEY_TEXT, **fmt)


def pnl_waterfall(pnl: pd.DataFrame, *, ax: Axes | None = None, lang: str = "en") -> Axes:
    """Waterfall of the monthly P&L of :func:`crm_analysis.economics.service_pnl`: gross
    profit in, running cost and depreciation out.

    Bars: new-car gross and service gross (up), total gross, running cost (down),
    operating profit before depreciation, depreciation (down), operating profit after
    depreciation; each labelled with its amount.

    Example
    -------
    >>> from crm_analysis.economics import service_pnl
    >>> ax = pnl_waterfall(service_pnl(), lang="zh")
    >>> ax.get_ylabel()
    '金额（元/月）'
    >>> plt.close(ax.figure)
    """
    if not isinstance(pnl, pd.DataFrame):
        raise TypeError(f"{caller()}: pnl must be the DataFrame of service_pnl, got "
                        f"{type(pnl).__name__}")
    require_columns(pnl, ["line", "value"], "pnl")
    vals = pnl.set_index("line")["value"]
    missing = [k for k, _ in _WATERFALL if k not in vals.index]
    if missing:
        raise KeyError(f"{caller()}: pnl has no line(s) {missing}")
    _prepare(lang)
    ax = _new_ax(ax, (8, 5))
    level, lo, hi = 0.0, 0.0, 0.0
    for i, (line, sign) in enumerate(_WATERFALL):
        v = float(vals[line])
        if sign is None:
            bottom, height, color = 0.0, v, "#4c72b0" if v >= 0 else "#c44e52"
            level = v
        else:
            height = sign * v
            bottom, color = level, "#55a868" if height >= 0 else "#c44e52"
            level += height
        ax.bar(i, height, bottom=bottom, color=color, width=0.6)
        top = max(bottom, bottom + height)
        lo, hi = min(lo, bottom, bottom + height), max(hi, top)
        ax.text(i, top, Narrator(lang).rmb(sign * v if sign else v), ha="center", va="bottom",
                fontsize=8)
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_xticks(range(len(_WATERFALL)), [pnl_label(k, lang) for k, _ in _WATERFALL],
                  rotation=30, ha="right", rotation_mode="anchor")
    a = pnl.attrs
    if a.get("store_id") is not None:
        sub = _mt("pnl_sub", lang, store=a["store_id"],
                  start=(pd.Timestamp(a["start"]) + pd.Timedelta(days=1)).date(),
                  end=pd.Timestamp(a["end"]).date())
    else:
        sub = _mt("pnl_deck", lang)
    label(ax, f"{_mt('pnl_title', lang)}\n{sub}", _mt("pnl_x", lang), _mt("rmb_month", lang))
    fmt_rmb(ax, "y")
    pad = 0.1 * (hi - lo) if hi > lo else 1.0
    ax.set_ylim(lo - (pad if lo < 0 else 0.0), hi + pad)  # room for the amounts
    return ax


def _year_ticks(ax: Axes, bands: Iterable[int]) -> None:
    """Band k is shown as year k + 1 of the car's life."""
    b = [int(k) for k in bands]
    ax.set_xticks(b, [str(k + 1) for k in b])


def lifetime_value(result: LifetimeValue, *, ax: Axes | None = None,
                   lang: str = "en") -> Axes:
    """Present value per year of a new car's life (bars) and its running total (line), from
    :func:`crm_analysis.economics.new_car_lifetime_value`.

    Example
    -------
    >>> from crm_analysis.economics import new_car_lifetime_value
    >>> curve = pd.DataFrame({"age_band": [0, 1], "retention_rate": [0.9, 0.5],
    ...                       "gross_profit_per_retained": [1000.0, 1200.0]})
    >>> ax = lifetime_value(new_car_lifetime_value(curve, max_age=2))
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['1', '2']
    >>> plt.close(ax.figure)
    """
    if not isinstance(result, LifetimeValue):
        raise TypeError(f"{caller()}: result must be a LifetimeValue, got "
                        f"{type(result).__name__}")
    _prepare(lang)
    ax = _new_ax(ax, (8, 5))
    by = result.by_age
    k = by["age_band"].to_numpy()
    ax.bar(k, by["present_value"], color="#4c72b0", width=0.6, label=_mt("ltv_bar", lang))
    ax.plot(k, by["cumulative_present_value"], color="#dd8452", marker="o",
            label=_mt("ltv_cum", lang))
    _year_ticks(ax, k)
    vkey = f"value.{result.value}"
    vname = _mt(vkey, lang) if vkey in _MONEY_TEXT else result.value
    sub = _mt("ltv_sub", lang, value=vname, rate=Narrator(lang).pct(result.discount_rate, 0),
              total=Narrator(lang).rmb(result.total))
    label(ax, f"{_mt('ltv_title', lang)}\n{sub}", _mt("age_x", lang), _mt("ltv_y", lang))
    fmt_rmb(ax, "y")
    ax.legend(loc="upper left")
    return ax


def retention_lift(result: LiftResult, *, ax: Axes | None = None, lang: str = "en") -> Axes:
    """Retention by age today and in the scenario of
    :func:`crm_analysis.economics.retention_lift`, the lifted years shaded.

    The title gives the present value gained per new car (and per year of sales when
    ``cars_per_year`` was given).

    Example
    -------
    >>> from crm_analysis import economics
    >>> curve = pd.DataFrame({"age_band": [0, 1, 2], "retention_rate": [0.9, 0.6, 0.4],
    ...                       "gross_profit_per_retained": [800.0, 1000.0, 1500.0]})
    >>> ax = retention_lift(economics.retention_lift(curve, ages=[1], max_age=3), lang="zh")
    >>> ax.get_ylabel()
    '客户掌握率（%）'
    >>> plt.close(ax.figure)
    """
    if not isinstance(result, LiftResult):
        raise TypeError(f"{caller()}: result must be a LiftResult, got "
                        f"{type(result).__name__}")
    _prepare(lang)
    ax = _new_ax(ax, (8, 5))
    by = result.by_age
    k = by["age_band"].to_numpy()
    ax.plot(k, by["base_retention"], marker="o", color="#4c72b0", label=_mt("base", lang))
    ax.plot(k, by["scenario_retention"], marker="o", linestyle="--", color="#55a868",
            label=_mt("scenario", lang))
    ax.fill_between(k, by["base_retention"], by["scenario_retention"], color="#55a868",
                    alpha=0.25)
    for a in result.ages:
        ax.axvspan(a - 0.5, a + 0.5, color="0.85", zorder=0)
    _year_ticks(ax, k)
    a0, a1 = result.ages[0] + 1, result.ages[-1] + 1
    years = _mt("year", lang, a=a0) if a0 == a1 else _mt("years", lang, a=a0, b=a1)
    sub = _mt("lift_sub", lang, points=result.points * 100, years=years,
              gain=Narrator(lang).rmb(result.gain_per_car))
    if result.gain_per_year is not None:
        sub += _mt("lift_sub_year", lang, year=Narrator(lang).rmb(result.gain_per_year))
    label(ax, f"{_mt('lift_title', lang)}\n{sub}", _mt("age_x", lang), _mt("lift_y", lang))
    fmt_pct(ax, "y")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="upper right")
    return ax


# ======================================================= churn, BTYD, five classes and group charts
# (moved here from crm_analysis.churn, crm_analysis.btyd, crm_analysis.five_classes and
# crm_analysis.group)


# --- churn backtest (crm_analysis.churn.backtest)


def churn_roc(result: BacktestResult, *, ax: Axes | None = None, lang: str = "en") -> Axes:
    """ROC curves of every model and baseline of a :func:`crm_analysis.churn.backtest` on
    its test snapshot (AUC in the legend)."""
    from sklearn.metrics import roc_curve

    _prepare(lang)
    ax = _new_ax(ax, (7, 5))
    metrics, pred = result.metrics_, result.predictions_
    auc = metrics.set_index("model")["roc_auc"]
    y = pred["churned"].to_numpy()
    for name in metrics["model"]:
        p = pred[name].to_numpy(float)
        if np.isnan(p).any() or len(np.unique(y)) < 2:
            continue
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=t("churn_model.roc_legend", lang,
                                  model=t(f"churn_model.{name}", lang), auc=f"{auc[name]:.3f}"))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label=t("churn_model.chance", lang))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    fmt_pct(ax, "both")
    ax.legend(fontsize="small", loc="lower right")
    label(ax, t("churn_model.roc_title", lang, date=result.test_date_.date()),
          with_unit("churn_model.false_positive_rate", "share", lang),
          with_unit("churn_model.true_positive_rate", "share", lang))
    return ax


def churn_calibration(result: BacktestResult, *, ax: Axes | None = None,
                      lang: str = "en") -> Axes:
    """Reliability diagram of a :func:`crm_analysis.churn.backtest`: observed churn rate
    against mean predicted probability, per model and baseline (``result.calibration_``).

    Example
    -------
    >>> from crm_analysis.churn import backtest
    >>> from crm_analysis.synth import generate
    >>> ds = generate(n_stores=1, seed=5, start="2019-01-01", as_of="2023-12-31", scale=0.05)
    >>> res = backtest(ds, store_id="001", models="logistic", permutation_repeats=1)
    >>> churn_roc(res, lang="zh").get_title()
    'ROC曲线（测试快照 2022-12-31）'
    >>> len(churn_calibration(res).get_lines())   # the diagonal and four curves
    5
    >>> plt.close("all")
    """
    _prepare(lang)
    ax = _new_ax(ax, (7, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":",
            label=t("churn_model.perfect_calibration", lang))
    for name, g in result.calibration_.groupby("model", sort=False):
        ax.plot(g["mean_predicted"], g["observed_rate"], marker="o",
                label=t(f"churn_model.{name}", lang))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    fmt_pct(ax, "both")
    ax.legend(fontsize="small")
    label(ax, t("churn_model.calibration_title", lang, date=result.test_date_.date()),
          with_unit("churn_model.mean_predicted", "share", lang),
          with_unit("churn_model.observed_rate", "share", lang))
    return ax


def churn_importance(result: BacktestResult, *, model: str | None = None, top: int = 10,
                     ax: Axes | None = None, lang: str = "en") -> Axes:
    """Horizontal bars of the ``top`` permutation importances of ``model`` (default: the
    best model) of a :func:`crm_analysis.churn.backtest`, one standard deviation as error
    bars."""
    model = result.best_model_ if model is None else model
    imp = result.importance_[result.importance_["model"] == model]
    if imp.empty:
        raise ValueError(f"{caller()}: no importance for model {model!r}; models: "
                         f"{sorted(result.importance_['model'].unique())}")
    imp = imp.head(check_int(top, "top")).iloc[::-1]
    _prepare(lang)
    ax = _new_ax(ax, (7, 0.4 * len(imp) + 1.5))
    names = [t(f"churn_model.feature_{f}", lang) for f in imp["feature"]]
    ax.barh(names, imp["importance_mean"], xerr=imp["importance_std"], color="tab:blue",
            capsize=2)
    label(ax, t("churn_model.importance_title", lang, model=t(f"churn_model.{model}", lang)),
          t("churn_model.importance_x", lang), t("churn_model.feature", lang))
    return ax


def churn_probabilities(scores: Any, *, threshold: float | None = 0.5,
                        horizon_months: int = 12, bins: int = 20, ax: Axes | None = None,
                        lang: str = "en") -> Axes:
    """Histogram of the churn probabilities of scored customers
    (:meth:`crm_analysis.churn.ChurnModel.predict`: column ``churn_probability``), with
    the risk ``threshold`` as a dashed line (``None``: no line). ``horizon_months`` names
    the churn horizon in the axis label.

    >>> import pandas as pd
    >>> ax = churn_probabilities(pd.DataFrame({"churn_probability": [0.1, 0.15, 0.7]}),
    ...                          threshold=0.5, lang="zh")
    >>> ax.get_xlabel(), int(sum(p.get_height() for p in ax.patches))
    ('未来 12 个月不进厂的概率（%）', 3)
    >>> plt.close("all")
    """
    p = _table(scores, "scores")
    if "churn_probability" not in p.columns:
        raise KeyError(f"{caller()}: scores need a 'churn_probability' column; got "
                       f"{list(p.columns)}")
    months = check_int(horizon_months, "horizon_months")
    _prepare(lang)
    ax = _new_ax(ax, (8, 4))
    ax.hist(p["churn_probability"].astype(float), bins=check_int(bins, "bins"), range=(0, 1),
            color="#C44E52")
    if threshold is not None:
        ax.axvline(float(threshold), color="black", linestyle="--")
    label(ax, t("churn_model.probabilities_title", lang),
          with_unit("churn_model.no_visit_probability", "share", lang, months=months),
          t("metric.customers", lang))
    fmt_pct(ax, "x")
    return ax


# --- BG/NBD diagnostics (crm_analysis.btyd)

_BTYD_TEXT: dict[str, tuple[str, str]] = {
    "alive_title": ("Probability a customer is alive, by frequency and recency",
                    "客户存活概率（按购买频次与最近购买时间）"),
    "alive_sub": ("customer age {T:g} {unit}", "客户年龄 {T:g} {unit}"),
    "recency": ("Recency: age at last purchase ({unit})", "最近一次购买时的客户年龄（{unit}）"),
    "frequency": ("Frequency (repeat purchases)", "重复购买次数（次）"),
    "p_alive": ("P(alive)", "存活概率"),
    "holdout_title": ("Holdout purchases by calibration purchases: actual vs. model",
                      "验证期购买次数：实际与模型预测（按校准期购买次数）"),
    "holdout_sub": ("holdout {d:g} {unit}", "验证期 {d:g} {unit}"),
    "cal_purchases": ("Repeat purchases in calibration period (purchases)",
                      "校准期重复购买次数（次）"),
    "holdout_purchases": ("Mean holdout purchases (per customer)",
                          "验证期平均购买次数（次/客户）"),
    "actual": ("Actual", "实际"),
    "model": ("Model ({name})", "模型（{name}）"),
    "compare_title": ("Holdout purchases by calibration purchases: actual vs. each model",
                      "验证期购买次数：实际与各模型预测（按校准期购买次数）"),
    "unit.D": ("days", "天"),
    "unit.W": ("weeks", "周"),
    "unit.M": ("months", "月"),
    "unit.h": ("hours", "小时"),
    "unit.other": ("time units", "时间单位"),
}


def _time_unit(freq: Any, lang: str) -> str:
    key = f"unit.{freq}" if isinstance(freq, str) and f"unit.{freq}" in _BTYD_TEXT \
        else "unit.other"
    return t(key, lang, labels=_BTYD_TEXT)


def _fitted_bg(model: Any) -> BetaGeoModel | MBGCNBDModel:
    if not isinstance(model, BetaGeoModel | MBGCNBDModel):
        raise TypeError(f"{caller()}: model must be a BetaGeoModel or an MBGCNBDModel, got "
                        f"{type(model).__name__}")
    model._check_fitted()
    return model


def _model_name(model: BetaGeoModel | MBGCNBDModel) -> str:
    if isinstance(model, MBGCNBDModel):
        return f"MBG/CNBD-{int(model.params_['k'])}"
    return "BG/NBD"


def probability_alive_matrix(model: BetaGeoModel | MBGCNBDModel, *,
                             max_frequency: int | None = None,
                             max_recency: float | None = None, ax: Axes | None = None,
                             lang: str = "en", freq: str = "D",
                             cmap: str = "viridis") -> Axes:
    """Heatmap of P(alive) of a fitted :class:`~crm_analysis.btyd.BetaGeoModel` or
    :class:`~crm_analysis.btyd.MBGCNBDModel` for a customer of age ``max_recency``, by
    frequency × recency (lifetimes' ``plot_probability_alive_matrix``).

    Rows: frequency 0 … ``max_frequency`` (default: the largest fitted frequency); columns:
    recency 0 … ``max_recency`` (default: the largest fitted T), in the model's time unit
    ``freq`` (only used in the labels).
    """
    bg = _fitted_bg(model)
    _prepare(lang)
    ax = _new_ax(ax, (8, 6))
    tx = _BTYD_TEXT
    if max_frequency is None:
        max_frequency = int(bg.data_["frequency"].max()) if hasattr(bg, "data_") else 20
    if max_recency is None:
        max_recency = float(bg.data_["T"].max()) if hasattr(bg, "data_") else 52.0
    check_int(max_frequency, "max_frequency")
    check_number(max_recency, "max_recency", minimum=0, strict=True)
    n_cols = int(min(200, max(2, math.ceil(max_recency) + 1)))
    rec = np.linspace(0.0, float(max_recency), n_cols)
    fq = np.arange(0, int(max_frequency) + 1, dtype=float)
    X, R = np.meshgrid(fq, rec, indexing="ij")
    R = np.where(X == 0, 0.0, R)
    P = np.asarray(bg.probability_alive(X.ravel(), R.ravel(),
                                        np.full(X.size, float(max_recency)))).reshape(X.shape)
    step = rec[1] - rec[0]
    im = ax.imshow(P, origin="lower", aspect="auto", cmap=cmap, vmin=0, vmax=1,
                   extent=(-step / 2, float(max_recency) + step / 2, -0.5, max_frequency + 0.5),
                   interpolation="nearest")
    ax.figure.colorbar(im, ax=ax).set_label(t("p_alive", lang, labels=tx))
    unit = _time_unit(freq, lang)
    sub = (f"{_model_name(bg)}, "
           + t("alive_sub", lang, labels=tx, T=round(max_recency, 2), unit=unit))
    label(ax, f"{t('alive_title', lang, labels=tx)}\n{sub}",
          t("recency", lang, labels=tx, unit=unit), t("frequency", lang, labels=tx))
    ax.grid(False)
    return ax


def calibration_purchases_vs_holdout(model: BetaGeoModel | MBGCNBDModel, cal_holdout: Any, *,
                                     n: int = 7,
                                     ax: Axes | None = None, lang: str = "en",
                                     freq: str = "D") -> Axes:
    """Mean holdout purchases by calibration frequency (0 … ``n``, the last bin ``n+``),
    actual vs. the model's E[Y(duration_holdout) | calibration RFM] (lifetimes'
    ``plot_calibration_purchases_vs_holdout_purchases``).

    ``cal_holdout`` is the output of :func:`crm_analysis.btyd.calibration_holdout`; the
    model is normally fitted on its calibration columns.
    """
    bg = _fitted_bg(model)
    need = ["frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout"]
    d = to_pandas(cal_holdout, "cal_holdout")
    require_columns(d, need, "cal_holdout")
    n = check_int(n, "n")
    _prepare(lang)
    ax = _new_ax(ax, (8, 5))
    d = d[need].astype(float)
    pred = bg.expected_purchases(d["duration_holdout"].to_numpy(),
                                 d["frequency_cal"].to_numpy(), d["recency_cal"].to_numpy(),
                                 d["T_cal"].to_numpy())
    band = np.minimum(d["frequency_cal"].to_numpy(), n).astype(int)
    table = pd.DataFrame({"band": band, "actual": d["frequency_holdout"].to_numpy(),
                          "model": pred}).groupby("band")[["actual", "model"]].mean()
    return _holdout_lines(ax, table, {"model": _model_name(bg)}, n=n,
                          durations=d["duration_holdout"].unique(), title="holdout_title",
                          lang=lang, freq=freq)


def _holdout_lines(ax: Axes, table: pd.DataFrame, models: dict[str, str], *, n: int,
                   durations: np.ndarray, title: str, lang: str, freq: str) -> Axes:
    """The holdout charts' lines: ``table`` (index: calibration-frequency band, ``actual``
    and one column per model, named by ``models``), ticks, legend, title and labels."""
    tx = _BTYD_TEXT
    ax.plot(table.index, table["actual"], marker="o", color="black",
            label=t("actual", lang, labels=tx))
    for (column, name), marker in zip(models.items(), ("s", "^", "D", "v"), strict=False):
        ax.plot(table.index, table[column], marker=marker, linestyle="--",
                label=t("model", lang, labels=tx, name=name))
    ticks = list(table.index)
    ax.set_xticks(ticks, [f"{k}+" if k == n else str(k) for k in ticks])
    ax.legend()
    heading = t(title, lang, labels=tx)
    if durations.size == 1:
        heading += "\n" + t("holdout_sub", lang, labels=tx, d=round(float(durations[0]), 2),
                            unit=_time_unit(freq, lang))
    label(ax, heading, t("cal_purchases", lang, labels=tx),
          t("holdout_purchases", lang, labels=tx))
    ax.set_ylim(bottom=0)
    return ax


def holdout_comparison(comparison: HoldoutComparison, cal_holdout: Any, *, n: int = 7,
                       ax: Axes | None = None, lang: str = "en", freq: str = "D") -> Axes:
    """Mean holdout purchases by calibration frequency (0 … ``n``, the last bin ``n+``):
    actual, and the forecast of every converged model of ``comparison``
    (:func:`crm_analysis.btyd.compare_holdout` on ``cal_holdout``, the same table)."""
    if not isinstance(comparison, HoldoutComparison):
        raise TypeError(f"{caller()}: comparison must be compare_holdout()'s result, got "
                        f"{type(comparison).__name__}")
    d = to_pandas(cal_holdout, "cal_holdout")
    require_columns(d, ["frequency_cal", "duration_holdout"], "cal_holdout")
    preds = comparison.predictions_
    if len(preds) != len(d):
        raise ValueError(f"{caller()}: cal_holdout has {len(d)} rows but the comparison was "
                         f"made on {len(preds)}; pass the table given to compare_holdout")
    n = check_int(n, "n")
    _prepare(lang)
    ax = _new_ax(ax, (8, 5))
    band = np.minimum(d["frequency_cal"].to_numpy(float), n).astype(int)
    names = {code: _model_name(model) if code != "mbgnbd" else BTYD_MODELS[code]
             for code, model in comparison.models_.items() if code in preds.columns}
    table = preds[["actual", *names]].assign(band=band).groupby("band").mean()
    return _holdout_lines(ax, table, names, n=n, durations=d["duration_holdout"].unique(),
                          title="compare_title", lang=lang, freq=freq)


# --- dealer group (crm_analysis.group)

_GROUP_TEXT: dict[str, tuple[str, str]] = {
    "overlay_title": ("Retention rate by vehicle age, store by store", "各门店分车龄客户掌握率"),
    "age_axis": ("Vehicle age (year of life)", "车龄（第几年）"),
    "group_best": ("Group best", "集团最佳"),
    "gap_title": ("Gap to the group's best store (percentage points)",
                  "与集团最佳门店的差距（百分点）"),
    "store_axis": ("Store", "门店"),
    "gap_unit": ("Gap (percentage points)", "差距（百分点）"),
}

#: Unit of each scorecard metric in :func:`store_bars` (a ``unit.*`` key of i18n).
_SCORECARD_UNITS: dict[str, str] = {
    "vehicle_base": "vehicles", "service_base": "vehicles", "customers_scored": "customers",
    "at_risk": "customers", "class_high_value_stable": "customers",
    "class_high_value_at_risk": "customers", "class_low_value_stable": "customers",
    "class_low_value_at_risk": "customers", "class_no_value": "customers",
    "high_value_at_risk_expected_loss": "rmb", "service_gross_profit_per_month": "rmb",
    "new_car_lifetime_value": "rmb", "gross_profit_per_serviced_vehicle": "rmb_per_year",
    "cliff_year": "years",
}
_SCORECARD_SHARES = {"top20_share_gross_profit", "retention_year_1", "retention_year_3",
                     "retention_year_5", "retention_year_8", "service_absorption",
                     "cliff_drop", "at_risk_share", "high_value_at_risk_share"}


def _store_names(ids: Iterable[str], names: Mapping[str, str] | None) -> dict[str, str]:
    names = names or {}
    return {s: (f"{s} {names[s]}" if s in names and names[s] != s else s) for s in ids}


def store_retention_overlay(
    tidy: Any,
    *,
    value: str = "retention_rate",
    names: Mapping[str, str] | None = None,
    best: bool = True,
    highlight: str | None = None,
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> Axes:
    """Every store's curve by vehicle age on one chart, with the group's best as a ceiling.

    Parameters
    ----------
    tidy:
        One row per (``store_id``, ``age_band``) with ``value`` (a share 0–1), e.g.
        :func:`crm_analysis.group.retention_by_store`; pandas or Polars.
    value:
        Column drawn; its axis label is ``metric.<value>`` when the package has one.
    names:
        ``{store_id: store name}`` for the legend.
    best:
        Also draw the best value of each age band (dotted, grey).
    highlight:
        A store drawn thicker (e.g. the one with the largest gap).
    ax, lang, title:
        Axes to draw into (None: a new figure), language, title override.

    Returns
    -------
    The Axes; each store's line has gid ``"store_<id>"``, the ceiling ``"group_best"``.

    Example
    -------
    >>> tidy = pd.DataFrame({"store_id": ["001", "001", "002", "002"],
    ...                      "age_band": [0, 1, 0, 1],
    ...                      "retention_rate": [0.9, 0.6, 0.8, 0.7]})
    >>> ax = store_retention_overlay(tidy, lang="zh")
    >>> ax.get_title(), [x.get_text() for x in ax.get_xticklabels()]
    ('各门店分车龄客户掌握率', ['第1年', '第2年'])
    >>> sorted(line.get_gid() for line in ax.get_lines())
    ['group_best', 'store_001', 'store_002']
    >>> plt.close("all")
    """
    df = to_pandas(tidy, "tidy")
    require_columns(df, ["store_id", "age_band", value], "tidy")
    _prepare(lang)
    ax = _new_ax(ax, (9, 5))
    gt = _GROUP_TEXT
    df = df[df["age_band"].notna() & df[value].notna()].copy()
    df["store_id"] = df["store_id"].astype(str)
    df["age_band"] = df["age_band"].astype(int)
    ids = sorted(df["store_id"].unique())
    labels = _store_names(ids, names)
    colors = sns.color_palette("deep", max(len(ids), 1))
    for color, sid in zip(colors, ids, strict=False):
        g = df[df["store_id"] == sid].sort_values("age_band")
        thick = highlight is not None and str(highlight) == sid
        ax.plot(g["age_band"], g[value], marker="o", color=color,
                linewidth=3.2 if thick else 1.8, label=labels[sid], gid=f"store_{sid}",
                zorder=3 if thick else 2)
    if best and len(ids) > 1:
        top = df.groupby("age_band")[value].max().sort_index()
        ax.plot(top.index, top.to_numpy(), linestyle=":", color="0.35", linewidth=1.6,
                label=t("group_best", lang, labels=gt), gid="group_best", zorder=1)
    bands = sorted(df["age_band"].unique())
    ax.set_xticks(bands, [t("metric.age_band", lang, n=b + 1) for b in bands])
    key = f"metric.{value}"
    try:
        ylabel = with_unit(key, "share", lang)
        default_title = (t("overlay_title", lang, labels=gt) if value == "retention_rate"
                         else t(key, lang))
    except KeyError:
        ylabel, default_title = f"{value} (%)", value
    label(ax, title or default_title, t("age_axis", lang, labels=gt), ylabel)
    fmt_pct(ax, "y")
    ax.set_ylim(0, min(1.05, max(0.1, float(df[value].max()) * 1.1)))
    if ids:
        ax.legend(title=t("store_axis", lang, labels=gt), fontsize="small")
    plt.setp(ax.get_xticklabels(), rotation=0)
    return ax


def store_gap_heatmap(gaps: Any, *, names: Mapping[str, str] | None = None,
                      ax: Axes | None = None, lang: str = "en",
                      title: str | None = None) -> Axes:
    """Heat map of each store's gap to the group's best, by vehicle age (percentage
    points): rows stores, columns years of life, each cell annotated.

    ``gaps`` is the output of :func:`crm_analysis.group.gap_to_best` (its
    ``gap_pp_<store>`` columns); ``names``, ``ax``, ``lang`` and ``title`` as in
    :func:`store_retention_overlay`.

    Example
    -------
    >>> from crm_analysis.group import gap_to_best
    >>> tidy = pd.DataFrame({"store_id": ["A", "B", "A", "B"], "age_band": [0, 0, 1, 1],
    ...                      "retention_rate": [0.9, 0.8, 0.5, 0.6]})
    >>> ax = store_gap_heatmap(gap_to_best(tidy))
    >>> ax.get_ylabel(), [x.get_text() for x in ax.get_xticklabels()]
    ('Store', ['Year 1', 'Year 2'])
    >>> plt.close("all")
    """
    gaps = to_pandas(gaps, "gaps")
    require_columns(gaps, ["age_band"], "gaps")
    cols = [c for c in gaps.columns if c.startswith("gap_pp_")]
    if not cols:
        raise KeyError(f"{caller()}: no gap_pp_<store> columns; pass gap_to_best(...)")
    _prepare(lang)
    ax = _new_ax(ax, (9, 0.5 * len(cols) + 2))
    gt = _GROUP_TEXT
    ids = [c[len("gap_pp_"):] for c in cols]
    matrix = gaps.set_index("age_band")[cols].T.astype(float)
    matrix.index = list(_store_names(ids, names).values())
    matrix.columns = [t("metric.age_band", lang, n=int(b) + 1) for b in matrix.columns]
    sns.heatmap(matrix, ax=ax, annot=True, fmt=".0f", cmap="Reds", vmin=0,
                cbar_kws={"label": t("gap_unit", lang, labels=gt)}, linewidths=0.5)
    label(ax, title or t("gap_title", lang, labels=gt), t("age_axis", lang, labels=gt),
          t("store_axis", lang, labels=gt))
    ax.tick_params(axis="y", rotation=0)
    return ax


def store_bars(scorecard: Any, *, metric: str, ax: Axes | None = None, lang: str = "en",
               title: str | None = None) -> Axes:
    """Bar chart of one :func:`crm_analysis.group.store_scorecard` metric by store, the
    group mean as a dashed line. Shares are shown as percentages and money in RMB; each
    bar carries its value.

    Example
    -------
    >>> sc = pd.DataFrame({"store_id": ["001", "002"], "store_name": ["North", "South"],
    ...                    "new_car_lifetime_value": [5200.0, 4100.0]})
    >>> ax = store_bars(sc, metric="new_car_lifetime_value", lang="zh")
    >>> ax.get_title(), ax.get_ylabel()
    ('一辆新车的售后价值', '一辆新车的售后价值（元）')
    >>> plt.close("all")
    """
    df = to_pandas(scorecard, "scorecard")
    require_columns(df, ["store_id", metric], "scorecard")
    if metric not in SCORECARD_METRICS:
        raise KeyError(f"{caller()}: unknown metric {metric!r}; metrics: "
                       f"{', '.join(SCORECARD_METRICS)}")
    _prepare(lang)
    ax = _new_ax(ax, (8, 5))
    df = df.sort_values("store_id")
    ids = df["store_id"].astype(str).tolist()
    names = dict(zip(ids, df["store_name"], strict=True)) if "store_name" in df else None
    v = pd.to_numeric(df[metric], errors="coerce").astype(float).to_numpy()
    x = np.arange(len(ids))
    bars = ax.bar(x, np.nan_to_num(v), color="#4C72B0", gid="bars")
    share = metric in _SCORECARD_SHARES
    for rect, val in zip(bars, v, strict=True):
        if math.isfinite(val):
            ax.annotate(Narrator(lang).pct(val) if share else f"{val:,.0f}",
                        (rect.get_x() + rect.get_width() / 2, rect.get_height()),
                        ha="center", va="bottom", fontsize="small")
    if np.isfinite(v).any():
        ax.axhline(float(np.nanmean(v)), color="0.3", linestyle="--", linewidth=1)
    ax.set_xticks(x, list(_store_names(ids, names).values()))
    name = metric_label(metric, lang)
    unit = "share" if share else _SCORECARD_UNITS.get(metric)
    if unit is None:
        ylabel = name
    else:
        unit_text = t(f"unit.{unit}", lang)
        ylabel = f"{name}（{unit_text}）" if lang == "zh" else f"{name} ({unit_text})"
    label(ax, title or name, t("store_axis", lang, labels=_GROUP_TEXT), ylabel)
    if share:
        fmt_pct(ax, "y")
    return ax

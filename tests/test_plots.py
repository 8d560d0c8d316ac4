"""Charts of crm_analysis.plots: right data, labelled in the right language, no missing glyphs.

Every chart is drawn from small hand-made tidy frames shaped like the grading contract's
summaries and labels (docs: crm_analysis.value.GradeResult), in English and Chinese.
"""

from __future__ import annotations

import re
import warnings
from collections import namedtuple

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402

from crm_analysis import plots, plotting  # noqa: E402
from crm_analysis.i18n import t  # noqa: E402

LANGS = ("en", "zh")
HANZI = re.compile(r"[\u4e00-\u9fff]")
ASCII_WORD = re.compile(r"[A-Za-z]{2,}")
#: ASCII words a Chinese figure may show: the methods' own names.
ZH_ASCII_OK = {"ABC", "RFM", "MVC", "MGC", "BZ"}

GradeResult = namedtuple("GradeResult", ["labels", "summary"])  # the contract's shape

# ------------------------------------------------------------------------------- data
PYR_CODES = ["important", "secondary", "normal", "small"]
PYRAMID = pd.DataFrame({
    "grade": pd.Categorical(PYR_CODES, categories=PYR_CODES, ordered=True),
    "customers": [1, 19, 30, 50],
    "share_customers": [0.01, 0.19, 0.30, 0.50],
    "value": [20_000.0, 45_000.0, 27_000.0, 8_000.0],
    "share_value": [0.20, 0.45, 0.27, 0.08],
    "value_per_customer": [20_000.0, 2368.4, 900.0, 160.0],
    "orders_per_year": [6.0, 4.0, 2.5, 1.2],
})
ABC = pd.DataFrame({
    "grade": pd.Categorical(["A", "B", "C"], categories=["A", "B", "C"], ordered=True),
    "customers": [18, 22, 60], "share_customers": [0.18, 0.22, 0.60],
    "value": [7e4, 2e4, 1e4], "share_value": [0.70, 0.20, 0.10],
})
RFM_PRESENT = ["important_value", "important_develop", "important_retain",
               "general_value", "general_develop", "general_win_back"]
RFM = pd.DataFrame({
    "grade": RFM_PRESENT,
    "customers": [20, 5, 5, 10, 35, 25],
    "share_customers": [0.2, 0.05, 0.05, 0.1, 0.35, 0.25],
    "value": [60_000.0, 9_000.0, 8_000.0, 7_000.0, 12_000.0, 4_000.0],
    "share_value": [0.6, 0.09, 0.08, 0.07, 0.12, 0.04],
})
#: Net value per customer; sum 80, the top 2 of 10 hold 60 → 75%.
VALUES = np.array([-2.0, 0.0, 1.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 40.0])
VM = pd.DataFrame({
    "customer_id": [f"C{i}" for i in range(8)],
    "value_group": pd.Categorical(["mvc", "mvc", "mgc", "mgc", "bz", "other", "other", "other"],
                                  categories=["mvc", "mgc", "bz", "other"], ordered=True),
    "actual_value": [12_000.0, 8_000.0, 300.0, 150.0, -250.0, 400.0, 90.0, 0.0],
    "potential_value": [10_000.0, 9_000.0, 4_000.0, 2_500.0, 30.0, 350.0, 60.0, 20.0],
})
CLUSTERS = pd.DataFrame({
    "grade": [0, 1, 2],
    "cluster_name_en": ["recent frequent high-spend", "mid-recency mid-spend",
                        "lapsed infrequent low-spend"],
    "cluster_name_zh": ["近期·高频·高消费", "中期·中消费", "久未到店·低频·低消费"],
    "customers": [150, 500, 350], "share_customers": [0.15, 0.5, 0.35],
    "value": [9e5, 3e5, 2e4], "share_value": [0.74, 0.24, 0.02],
    "value_per_customer": [6000.0, 600.0, 57.0], "orders_per_year": [5.0, 2.0, 0.6],
    "revenue": [2e6, 8e5, 9e4], "gross_profit": [1e6, 3.5e5, 4e4],
    "mean_recency_days": [40.0, 160.0, 520.0], "mean_orders": [9.0, 3.5, 1.1],
    "mean_revenue": [13_000.0, 1_600.0, 260.0], "mean_main_vehicle_age": [3.5, 5.0, 8.2],
})
PROFILE = pd.DataFrame({
    "value_grade": pd.Categorical(
        ["important", "important", "secondary", "normal", "small", "small", "small"],
        categories=PYR_CODES, ordered=True),
    "usage": ["private", "taxi", "private", "unknown", "private", "ride_hailing", "unknown"],
    "share_customers": [0.01, 0.005, 0.2, 0.3, 0.4, 0.05, 0.035],
    "net_value": [9e4, 2e4, 1.5e5, 6e4, 2e4, -3e3, 1e3],
})
ALLOC = pd.DataFrame({
    "grade": pd.Categorical(PYR_CODES, categories=PYR_CODES, ordered=True),
    "customers": [1, 19, 30, 50],
    "hours_by_value": [400.0, 900.0, 540.0, 160.0],
    "hours_by_head": [20.0, 380.0, 600.0, 1000.0],
    "budget_by_value": [30_000.0, 67_500.0, 40_500.0, 12_000.0],
    "budget_by_head": [1_500.0, 28_500.0, 45_000.0, 75_000.0],
})


def _lorenz_frame(values, *, descending=False):
    v = np.sort(np.asarray(values, float))
    if descending:
        v = v[::-1]
    n = len(v)
    return pd.DataFrame({"share_customers": np.arange(n + 1) / n,
                         "share_value": np.r_[0.0, np.cumsum(v) / v.sum()]})


#: name -> function(ax, lang) drawing the chart from the data above.
CHARTS = {
    "lorenz_curve": lambda ax, lang: plots.lorenz_curve(
        _lorenz_frame(VALUES), ax=ax, lang=lang, value_label="net_value"),
    "grade_shares": lambda ax, lang: plots.grade_shares(PYRAMID, ax=ax, lang=lang),
    "customer_pyramid": lambda ax, lang: plots.customer_pyramid(PYRAMID, ax=ax, lang=lang),
    "pareto_chart": lambda ax, lang: plots.pareto_chart(VALUES, ax=ax, lang=lang),
    "rfm_segment_bars": lambda ax, lang: plots.rfm_segment_bars(RFM, ax=ax, lang=lang),
    "value_matrix": lambda ax, lang: plots.value_matrix(
        VM, ax=ax, lang=lang, mvc_threshold=5000.0, mgc_threshold=2000.0),
    "cluster_profile": lambda ax, lang: plots.cluster_profile(CLUSTERS, ax=ax, lang=lang),
    "profile_heatmap": lambda ax, lang: plots.profile_heatmap(
        PROFILE, row="value_grade", col="usage", ax=ax, lang=lang),
    "allocation_bars": lambda ax, lang: plots.allocation_bars(ALLOC, ax=ax, lang=lang),
}


# ---------------------------------------------------------------------------- helpers
@pytest.fixture(autouse=True)
def _isolated_rc():
    with mpl.rc_context():
        mpl.rcdefaults()
        yield
    plt.close("all")


def _glyph_warnings(records) -> list[str]:
    return [str(w.message) for w in records
            if "Glyph" in str(w.message) or "missing from font" in str(w.message)]


def _draw(fn, lang, *, ax=None, setup=True):
    """Draw a chart (rendering it) and return (Axes, missing-glyph warnings)."""
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        if setup:
            plotting.setup(lang)
        out = fn(ax, lang)
        out.figure.canvas.draw()
    return out, _glyph_warnings(records)


def _texts(ax: Axes) -> list[str]:
    """Every visible string of the Axes' figure (tick labels after drawing)."""
    out = []
    for a in ax.figure.axes:
        out += [a.get_title(), a.get_xlabel(), a.get_ylabel()]
        out += [x.get_text() for x in a.get_xticklabels() + a.get_yticklabels()]
        out += [x.get_text() for x in a.texts]
        if a.get_legend() is not None:
            out += [x.get_text() for x in a.get_legend().get_texts()]
    return [s for s in out if s and s.strip()]


def _by_gid(artists, gid):
    found = [a for a in artists if a.get_gid() == gid]
    assert len(found) == 1, (gid, [a.get_gid() for a in artists])
    return found[0]


def _span(patch) -> tuple[float, float]:
    """x extent of an axvspan (a Rectangle in matplotlib >= 3.9, a Polygon before)."""
    if hasattr(patch, "get_width"):
        return (patch.get_x(), patch.get_x() + patch.get_width())
    xs = np.asarray(patch.get_xy())[:, 0]
    return (float(xs.min()), float(xs.max()))


def _pct_in(text: str) -> list[float]:
    return [float(x) / 100 for x in re.findall(r"(-?\d+(?:\.\d+)?)%", text)]


# ---------------------------------------------------------------- every chart, both languages
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", sorted(CHARTS))
def test_chart_labels_language_and_glyphs(name, lang):
    ax, missing = _draw(CHARTS[name], lang)
    assert isinstance(ax, Axes)
    assert not missing, f"{len(missing)} missing-glyph warnings, e.g. {missing[:3]}"
    title, xlabel, ylabel = ax.get_title(), ax.get_xlabel(), ax.get_ylabel()
    assert title.strip() and xlabel.strip() and ylabel.strip()
    texts = _texts(ax)
    if lang == "zh":
        for s in (title, xlabel, ylabel):
            assert HANZI.search(s), s
        words = {w for s in texts for w in ASCII_WORD.findall(s)}
        assert words <= ZH_ASCII_OK, words - ZH_ASCII_OK
    else:
        assert not [s for s in texts if HANZI.search(s)]


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_chart_draws_into_the_given_axes(name):
    # The Axes exist before setup(): their title, label and tick fonts are updated.
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5))
    ax, missing = _draw(CHARTS[name], "zh", ax=right)
    assert ax is right and ax.figure is fig and not missing
    assert not left.has_data() and not left.texts
    assert len(plt.get_fignums()) == 1


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_chart_creates_a_figure_without_ax(name):
    before = set(plt.get_fignums())
    ax, _ = _draw(CHARTS[name], "en")
    assert set(plt.get_fignums()) - before == {ax.figure.number}


def test_title_override():
    ax = plots.grade_shares(ABC, lang="zh", title="自定义标题")
    assert ax.get_title() == "自定义标题"


def test_chinese_without_setup_uses_bundled_font_fallback():
    # rcdefaults (no setup): the functions add the bundled CJK font as a fallback.
    ax, missing = _draw(CHARTS["customer_pyramid"], "zh", setup=False)
    assert not missing
    assert plotting.BUNDLED_FAMILY in mpl.rcParams["font.family"]


def test_bad_language():
    with pytest.raises(ValueError, match="'en', 'zh'"):
        plots.grade_shares(ABC, lang="fr")


# ------------------------------------------------------------------------------ lorenz
def test_lorenz_curve_data_top_share_and_gini():
    ax = plots.lorenz_curve(_lorenz_frame(VALUES), value_label="net_value", lang="en")
    line = _by_gid(ax.lines, "lorenz")
    x, y = line.get_xdata(), line.get_ydata()
    assert (x[0], y[0]) == (0.0, 0.0) and (x[-1], y[-1]) == pytest.approx((1.0, 1.0))
    np.testing.assert_allclose(y, np.r_[0, np.cumsum(np.sort(VALUES))] / VALUES.sum())
    diag = _by_gid(ax.lines, "equality")
    assert list(diag.get_xdata()) == [0, 1] and list(diag.get_ydata()) == [0, 1]
    text = _by_gid(ax.texts, "top_share").get_text()
    top2 = np.sort(VALUES)[-2:].sum() / VALUES.sum()  # 60 / 80
    assert _pct_in(text) == pytest.approx([0.20, top2], abs=5e-4)
    assert "net value" in text
    # Gini from its definition: sum |xi - xj| / (2 n^2 mean)
    n = len(VALUES)
    g = np.abs(VALUES[:, None] - VALUES[None, :]).sum() / (2 * n * n * VALUES.mean())
    assert ax.get_legend().get_texts()[0].get_text() == f"Lorenz curve (Gini {g:.2f})"


def test_lorenz_curve_gini_given_and_no_highlight():
    ax = plots.lorenz_curve(_lorenz_frame(VALUES), gini=0.123, highlight=None, lang="zh")
    assert not [x for x in ax.texts if x.get_gid() == "top_share"]
    assert "0.12" in ax.get_legend().get_texts()[0].get_text()


def test_lorenz_curve_accepts_descending_curve_and_missing_origin():
    asc = plots.lorenz_curve(_lorenz_frame(VALUES), lang="en")
    desc_df = _lorenz_frame(VALUES, descending=True).iloc[1:]  # no (0, 0) row
    desc = plots.lorenz_curve(desc_df, lang="en")
    a, d = _by_gid(asc.lines, "lorenz"), _by_gid(desc.lines, "lorenz")
    np.testing.assert_allclose(d.get_xdata(), a.get_xdata(), atol=1e-12)
    np.testing.assert_allclose(d.get_ydata(), a.get_ydata(), atol=1e-12)
    assert (_by_gid(asc.texts, "top_share").get_text()
            == _by_gid(desc.texts, "top_share").get_text())


def test_lorenz_curve_interpolates_a_coarse_curve():
    curve = pd.DataFrame({"share_customers": [0.0, 0.5, 0.9, 1.0],
                          "share_value": [0.0, 0.2, 0.6, 1.0]})
    ax = plots.lorenz_curve(curve, highlight=0.2)
    # L(0.8) = 0.2 + (0.8 - 0.5) / 0.4 * 0.4 = 0.5 → the top 20% hold 50%
    assert _pct_in(_by_gid(ax.texts, "top_share").get_text())[1] == pytest.approx(0.5)


def test_lorenz_top_share_matches_value_module():
    value = pytest.importorskip("crm_analysis.value")
    if not all(hasattr(value, f) for f in ("lorenz", "top_share", "gini")):
        pytest.skip("crm_analysis.value grading functions not written yet")
    v = np.random.default_rng(4).lognormal(6, 1.2, 13)  # 13 × 0.2 = 2.6 → 3 customers
    ax = plots.lorenz_curve(value.lorenz(v), highlight=0.2)
    shown = _pct_in(_by_gid(ax.texts, "top_share").get_text())[1]
    assert shown == pytest.approx(value.top_share(v, 0.2), abs=5e-4)
    assert f"{value.gini(v):.2f}" in ax.get_legend().get_texts()[0].get_text()


def test_lorenz_curve_errors():
    with pytest.raises(KeyError, match="share_value"):
        plots.lorenz_curve(pd.DataFrame({"share_customers": [0.0, 1.0]}))
    with pytest.raises(ValueError, match=r"end at \(1, 1\)"):
        plots.lorenz_curve(pd.DataFrame({"share_customers": [0.0, 1.0],
                                         "share_value": [0.0, 0.8]}))
    with pytest.raises(ValueError, match="highlight"):
        plots.lorenz_curve(_lorenz_frame(VALUES), highlight=1.5)
    with pytest.raises(ValueError, match="value_label"):
        plots.lorenz_curve(_lorenz_frame(VALUES), value_label="profit")


# ------------------------------------------------------------------------ grade shares
@pytest.mark.parametrize("lang", LANGS)
def test_grade_shares_bars_equal_shares_in_grade_order(lang):
    shuffled = PYRAMID.iloc[[2, 0, 3, 1]]  # categorical order wins over row order
    ax = plots.grade_shares(shuffled, value_label="net_value", lang=lang)
    customers, value = ax.containers
    assert customers.datavalues.tolist() == PYRAMID["share_customers"].tolist()
    assert value.datavalues.tolist() == PYRAMID["share_value"].tolist()
    # first grade on top: its bars have the smallest y (the y axis is inverted)
    ys = [p.get_y() for p in value.patches]
    assert ys == sorted(ys) and ax.yaxis_inverted()
    names = [x.get_text() for x in ax.get_yticklabels()]
    assert names == [t(f"pyramid.{c}", lang) for c in PYR_CODES]
    legend = [x.get_text() for x in ax.get_legend().get_texts()]
    assert legend == [t("metric.share_of_customers", lang),
                      t("plot.share_of", lang, what=t("plot.what_net_value", lang))]
    labels = [x.get_text() for x in ax.texts]  # bar labels
    assert "45.0%" in labels and "1.0%" in labels


def test_grade_shares_kinds_and_inputs():
    ax = plots.grade_shares(GradeResult(None, ABC), lang="zh")  # a GradeResult
    assert [x.get_text() for x in ax.get_yticklabels()] == ["A类客户", "B类客户", "C类客户"]
    assert ax.get_ylabel() == "ABC类别"
    vg = pd.DataFrame({"grade": ["mvc", "mgc", "bz", "other"],
                       "share_customers": [0.2, 0.2, 0.1, 0.5],
                       "share_value": [0.8, 0.15, -0.05, 0.1]})
    ax = plots.grade_shares(vg, kind="value_group")
    assert ax.containers[1].datavalues.tolist() == [0.8, 0.15, -0.05, 0.1]
    assert ax.containers[1].patches[2].get_width() < 0  # below zero drawn left of 0
    assert ax.get_xlim()[0] < -0.05
    pl = pytest.importorskip("polars")
    ax = plots.grade_shares(pl.from_pandas(ABC.assign(grade=ABC["grade"].astype(str))))
    assert ax.containers[0].datavalues.tolist() == [0.18, 0.22, 0.60]


def test_grade_shares_errors():
    with pytest.raises(KeyError, match="share_value"):
        plots.grade_shares(PYRAMID.drop(columns="share_value"))
    with pytest.raises(KeyError, match="tier"):
        plots.grade_shares(PYRAMID.rename(columns={"grade": "tier"}))
    with pytest.raises(KeyError, match="'abc'"):
        plots.grade_shares(PYRAMID, kind="abc")
    with pytest.raises(KeyError, match="kind="):
        plots.grade_shares(PYRAMID.assign(grade=["x", "y", "z", "w"]))
    with pytest.raises(TypeError, match="^grade_shares: summary must be a data frame"):
        plots.grade_shares([1, 2, 3])


# ---------------------------------------------------------------------------- pyramid
def test_customer_pyramid_tiers_and_labels():
    with_key = pd.concat([PYRAMID.assign(grade=PYRAMID["grade"].astype(str)),
                          pd.DataFrame({"grade": ["key"], "share_customers": [0.2],
                                        "share_value": [0.65]})])
    ax = plots.customer_pyramid(with_key.iloc[::-1], value_label="net_value", lang="zh")
    tiers = [p for p in ax.patches if isinstance(p, Polygon)]
    assert [p.get_gid() for p in tiers] == [f"tier_{c}" for c in PYR_CODES]
    tops = [p.get_xy()[:, 1].max() for p in tiers]
    widths = [np.ptp(p.get_xy()[:, 0]) for p in tiers]
    assert tops == sorted(tops, reverse=True)  # important on top
    assert widths == sorted(widths)  # a pyramid: wider towards the base
    for code, sc, sv in PYRAMID[["grade", "share_customers", "share_value"]].itertuples(
            index=False):
        text = _by_gid(ax.texts, f"tier_text_{code}").get_text()
        assert text.startswith(t(f"pyramid.{code}", "zh"))
        assert _pct_in(text) == pytest.approx([sc, sv])
        assert "净价值" in text
    key = _by_gid(ax.texts, "key_text").get_text()
    assert key.startswith("关键客户") and _pct_in(key) == pytest.approx([0.20, 0.65])


def test_customer_pyramid_errors():
    with pytest.raises(KeyError, match="share_customers"):
        plots.customer_pyramid(PYRAMID.drop(columns="share_customers"))
    with pytest.raises(KeyError, match="pyramid"):
        plots.customer_pyramid(ABC)


# ----------------------------------------------------------------------------- pareto
def test_pareto_chart_curve_and_bands():
    vals = pd.Series([5.0, 10.0, 50.0, np.nan, 20.0, 10.0, 5.0])  # NaN dropped
    ax = plots.pareto_chart(vals, cuts=(0.7, 0.9), lang="en")
    line = _by_gid(ax.lines, "pareto")
    np.testing.assert_allclose(line.get_xdata(), np.arange(7) / 6)
    np.testing.assert_allclose(line.get_ydata(), [0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0])
    # 70% is reached after 2 of 6 customers, 90% after 4
    edges = [_span(_by_gid(ax.patches, f"band_{c}")) for c in "ABC"]
    np.testing.assert_allclose(edges, [(0.0, 2 / 6), (2 / 6, 4 / 6), (4 / 6, 1.0)])
    text = _by_gid(ax.texts, "band_text_B").get_text()
    assert text.startswith("B") and _pct_in(text) == pytest.approx([2 / 6], abs=5e-4)


def test_pareto_chart_interpolates_band_edges_and_takes_lorenz():
    v = np.array([50.0, 30.0, 20.0])
    ax = plots.pareto_chart(v, cuts=(0.6, 0.9))
    a = _span(_by_gid(ax.patches, "band_A"))[1]
    b = _span(_by_gid(ax.patches, "band_B"))[1]
    assert a == pytest.approx(1 / 3 + (0.1 / 0.3) / 3)  # 60% is 1/3 of the way into #2
    assert b == pytest.approx(2 / 3 + (0.1 / 0.2) / 3)
    from_lorenz = plots.pareto_chart(_lorenz_frame(v))
    np.testing.assert_allclose(_by_gid(from_lorenz.lines, "pareto").get_ydata(),
                               _by_gid(ax.lines, "pareto").get_ydata())


def test_pareto_chart_errors():
    with pytest.raises(ValueError, match="positive total"):
        plots.pareto_chart([-1.0, 0.5])
    with pytest.raises(ValueError, match="cuts"):
        plots.pareto_chart(VALUES, cuts=(0.9, 0.7))
    with pytest.raises(KeyError, match="share_value"):
        plots.pareto_chart(pd.DataFrame({"share_customers": [0.0, 1.0]}))


# -------------------------------------------------------------------------------- rfm
@pytest.mark.parametrize("lang", LANGS)
def test_rfm_segment_bars_all_eight_segments(lang):
    ax = plots.rfm_segment_bars(RFM, value_label="gross_profit", lang=lang)
    order = ["important_value", "important_develop", "important_retain",
             "important_win_back", "general_value", "general_develop", "general_retain",
             "general_win_back"]
    assert [x.get_text() for x in ax.get_yticklabels()] == [t(f"rfm.{c}", lang) for c in order]
    full = RFM.set_index("grade").reindex(order).fillna(0.0)
    assert ax.containers[0].datavalues.tolist() == full["share_customers"].tolist()
    assert ax.containers[1].datavalues.tolist() == full["share_value"].tolist()
    labels = [x.get_text() for x in ax.texts]
    unit = "户" if lang == "zh" else " customers"
    assert f"20.0% · 20{unit}" in labels and f"0.0% · 0{unit}" in labels
    assert ("60.0% · ¥60.0k" if lang == "en" else "60.0% · 6.0万元") in labels
    assert t("plot.what_gross_profit", lang) in ax.get_title()


def test_rfm_segment_bars_errors():
    with pytest.raises(KeyError, match="customers"):
        plots.rfm_segment_bars(RFM.drop(columns="customers"))
    with pytest.raises(KeyError, match="rfm"):
        plots.rfm_segment_bars(ABC)


# ------------------------------------------------------------------------ value matrix
def test_value_matrix_points_groups_and_thresholds():
    ax = plots.value_matrix(GradeResult(VM, None), mvc_threshold=5000.0,
                            mgc_threshold=2000.0, lang="zh")
    for code in ("mvc", "mgc", "bz", "other"):
        pts = _by_gid(ax.collections, f"group_{code}").get_offsets()
        rows = VM.loc[VM["value_group"] == code, ["actual_value", "potential_value"]]
        np.testing.assert_allclose(np.asarray(pts), rows.to_numpy())
    assert ax.get_xscale() == ax.get_yscale() == "symlog"
    x0, x1 = ax.get_xlim()
    assert x0 < -250 and x1 > 12_000  # negatives are visible
    assert _by_gid(ax.lines, "mvc_threshold").get_xdata()[0] == 5000.0
    assert _by_gid(ax.lines, "mgc_threshold").get_ydata()[0] == 2000.0
    parity = _by_gid(ax.lines, "parity")
    np.testing.assert_allclose(parity.get_xdata(), parity.get_ydata())
    legend = [x.get_text() for x in ax.get_legend().get_texts()]
    assert legend[:4] == ["最具价值客户 · 2", "最具增长潜力客户 · 2", "负价值客户 · 1",
                          "其他客户 · 3"]
    assert ax.get_xlabel() == "实际价值（元/年）"


def test_value_matrix_linear_and_errors():
    ax = plots.value_matrix(VM, scale="linear")
    assert ax.get_xscale() == "linear"
    assert ax.xaxis.get_major_formatter()(-1234.0, 0) == "-¥1,234"
    with pytest.raises(KeyError, match="potential_value"):
        plots.value_matrix(VM.drop(columns="potential_value"))
    with pytest.raises(KeyError, match="vip"):
        plots.value_matrix(VM.assign(value_group=["vip"] * len(VM)))
    with pytest.raises(ValueError, match="scale"):
        plots.value_matrix(VM, scale="log")


# ---------------------------------------------------------------------------- clusters
@pytest.mark.parametrize("lang", LANGS)
def test_cluster_profile_heatmap_values_and_names(lang):
    ax = plots.cluster_profile(GradeResult(None, CLUSTERS), lang=lang)
    feats = ["mean_recency_days", "mean_orders", "mean_revenue", "mean_main_vehicle_age"]
    raw = CLUSTERS[feats]
    z = ((raw - raw.mean()) / raw.std(ddof=0)).to_numpy()
    np.testing.assert_allclose(np.asarray(ax.collections[0].get_array()).reshape(z.shape), z)
    names = [x.get_text() for x in ax.get_yticklabels()]
    col = f"cluster_name_{lang}"
    sizes = ["150", "500", "350"]
    assert all(nm.startswith(c) and n in nm
               for nm, c, n in zip(names, CLUSTERS[col], sizes, strict=True))
    xt = [x.get_text() for x in ax.get_xticklabels()]
    assert xt == [t(f"feature.{f[5:]}", lang) for f in feats]
    annots = [x.get_text() for x in ax.texts]
    assert annots[:4] == ["40", "9.0", "13,000", "3.5"]


def test_cluster_profile_options_and_errors():
    ax = plots.cluster_profile(CLUSTERS.drop(columns=["cluster_name_en", "cluster_name_zh"]),
                               features=["mean_orders"], standardize=False, lang="zh")
    assert [x.get_text() for x in ax.get_yticklabels()][0].startswith("第0类客户")
    np.testing.assert_allclose(np.asarray(ax.collections[0].get_array()).ravel(),
                               [9.0, 3.5, 1.1])
    with pytest.raises(KeyError, match="mean_tenure"):
        plots.cluster_profile(CLUSTERS, features=["mean_tenure"])
    with pytest.raises(KeyError, match="features="):
        plots.cluster_profile(CLUSTERS[["grade", "customers", "share_value"]])


# ---------------------------------------------------------------------- profile heatmap
@pytest.mark.parametrize("lang", LANGS)
def test_profile_heatmap_cells_and_translated_codes(lang):
    ax = plots.profile_heatmap(PROFILE, row="value_grade", col="usage", lang=lang)
    rows = [x.get_text() for x in ax.get_yticklabels()]
    cols = [x.get_text() for x in ax.get_xticklabels()]
    assert rows == [t(f"pyramid.{c}", lang) for c in PYR_CODES]
    usage = ["private", "ride_hailing", "taxi"]  # vocabulary order, "unknown" last
    assert cols == [t(f"usage.{u}", lang) for u in usage] + [t("plot.unknown", lang)]
    grid = (PROFILE.pivot(index="value_grade", columns="usage", values="share_customers")
            .reindex(index=PYR_CODES, columns=[*usage, "unknown"]).to_numpy())
    cells = np.ma.filled(ax.collections[0].get_array().astype(float), np.nan)
    np.testing.assert_allclose(cells.reshape(grid.shape), grid)
    assert "40.0%" in [x.get_text() for x in ax.texts]
    cbar = ax.figure.axes[-1]
    assert cbar.get_ylabel() == t("metric.share_of_customers", lang) + (
        " (%)" if lang == "en" else "（%）")


def test_profile_heatmap_measures_and_dimensions():
    p = pd.DataFrame({"age_band": [0, 1, 2, 0], "region": ["rural", "rural", "urban_core", None],
                      "net_value": [1.5e4, 2e4, -1e3, 300.0]})
    ax = plots.profile_heatmap(p, row="region", col="age_band", value="net_value", lang="zh")
    assert [x.get_text() for x in ax.get_xticklabels()] == ["第1年", "第2年", "第3年"]
    assert [x.get_text() for x in ax.get_yticklabels()] == ["市中心", "乡村", "未知"]
    assert ax.get_xlabel() == "车龄（年）"
    assert ax.figure.axes[-1].get_ylabel() == "净价值（元）"
    assert "1.5万元" in [x.get_text() for x in ax.texts]


def test_profile_heatmap_errors():
    with pytest.raises(KeyError, match="churn"):
        plots.profile_heatmap(PROFILE, row="value_grade", col="usage", value="churn")
    with pytest.raises(KeyError, match="known measures"):
        plots.profile_heatmap(PROFILE.assign(churn=1.0), row="value_grade", col="usage",
                              value="churn")
    with pytest.raises(KeyError, match="region"):
        plots.profile_heatmap(PROFILE, row="value_grade", col="region")
    with pytest.raises(KeyError, match="limousine"):
        plots.profile_heatmap(PROFILE.assign(usage=["limousine", *PROFILE["usage"][1:]]),
                              row="value_grade", col="usage")
    with pytest.raises(ValueError, match="several rows"):
        plots.profile_heatmap(pd.concat([PROFILE, PROFILE]), row="value_grade", col="usage")


# -------------------------------------------------------------------------- allocation
@pytest.mark.parametrize("lang", LANGS)
def test_allocation_bars_shares_and_amounts(lang):
    ax = plots.allocation_bars(ALLOC.iloc[::-1], value_label="net_value", lang=lang)
    by_value, by_head = ax.containers
    np.testing.assert_allclose(by_value.datavalues, ALLOC["hours_by_value"] / 2000)
    np.testing.assert_allclose(by_head.datavalues, ALLOC["hours_by_head"] / 2000)
    assert [x.get_text() for x in ax.get_yticklabels()] == [
        t(f"pyramid.{c}", lang) for c in PYR_CODES]
    labels = [x.get_text() for x in ax.texts]
    first = "400 h · ¥30.0k" if lang == "en" else "400小时 · 3.0万元"
    assert labels[0] == first
    assert ax.get_xlabel() == with_share(t("plot.share_of_resources", lang), lang)


def with_share(label, lang):
    return f"{label} (%)" if lang == "en" else f"{label}（%）"


def test_allocation_bars_absolute_resource_and_errors():
    ax = plots.allocation_bars(ALLOC, resource="budget", lang="zh")
    assert ax.containers[0].datavalues.tolist() == ALLOC["budget_by_value"].tolist()
    assert ax.get_xlabel() == "营销预算（元）"
    with pytest.raises(KeyError, match="hours_by_value"):
        plots.allocation_bars(ALLOC[["grade", "customers"]])
    with pytest.raises(KeyError, match="visits"):
        plots.allocation_bars(ALLOC, resource="visits")
    with pytest.raises(KeyError, match="grade"):
        plots.allocation_bars(ALLOC.drop(columns="grade"))

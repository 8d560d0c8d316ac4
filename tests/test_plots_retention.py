"""Retention charts of crm_analysis.plots (issue 5): right data, right language, no missing glyphs.

Every chart is drawn from small hand-made tidy frames shaped like the output contracts of
crm_analysis.retention and crm_analysis.survival, in English and Chinese.
"""

from __future__ import annotations

import re
import warnings
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402

from crm_analysis import plots, plotting  # noqa: E402
from crm_analysis.i18n import t  # noqa: E402

LANGS = ("en", "zh")
HANZI = re.compile(r"[\u4e00-\u9fff]")
ASCII_WORD = re.compile(r"[A-Za-z]{2,}")
#: ASCII words a Chinese figure may show: method names.
ZH_ASCII_OK = {"Cox"}

# ------------------------------------------------------------------------------- data
#: retention_by_vehicle_age-shaped: one row per band, Wilson bounds; band 3 missing.
RBA = pd.DataFrame({
    "age_band": pd.array([0, 1, 2, 4, None], dtype="Int64"),
    "base_vehicles": [200, 180, 150, 90, 12],
    "retention_rate": [0.92, 0.75, 0.61, 0.33, 0.5],
    "retention_lo": [0.88, 0.68, 0.53, 0.24, 0.25],
    "retention_hi": [0.95, 0.81, 0.68, 0.43, 0.75],
    "active_ratio": [0.85, 0.60, 0.44, 0.20, 0.4],
    "active_lo": [0.80, 0.53, 0.36, 0.13, 0.2],
    "active_hi": [0.89, 0.67, 0.52, 0.29, 0.6],
})
#: annual_average-shaped for three years; 2025 has no band 2.
YEARS = pd.DataFrame({
    "year": [2023] * 3 + [2024] * 3 + [2025] * 2,
    "age_band": [0, 1, 2, 0, 1, 2, 0, 1],
    "retention_rate": [0.90, 0.70, 0.50, 0.88, 0.66, 0.47, 0.86, 0.60],
    "active_ratio": [0.80, 0.55, 0.35, 0.79, 0.52, 0.30, 0.75, 0.49],
    "months": 12,
})
#: survival curve_-shaped: private reaches one half at 3.0, taxi never (min 0.55).
CURVE = pd.DataFrame({
    "group": ["private"] * 5 + ["taxi"] * 4,
    "age": [0.0, 0.7, 1.5, 3.0, 4.2, 0.0, 1.2, 2.6, 3.4],
    "survival": [1.0, 0.9, 0.7, 0.45, 0.3, 1.0, 0.8, 0.6, 0.55],
    "lo": [1.0, 0.85, 0.62, 0.37, 0.21, 1.0, 0.7, 0.48, 0.42],
    "hi": [1.0, 0.94, 0.77, 0.53, 0.39, 1.0, 0.88, 0.71, 0.67],
    "at_risk": [100, 95, 70, 40, 12, 50, 45, 30, 9],
})
#: cohort_retention-shaped: a triangle, 2021 x band 1 not yet observed.
COHORTS = pd.DataFrame({
    "sale_year": [2019, 2019, 2019, 2020, 2020, 2021],
    "age_band": [0, 1, 2, 0, 1, 0],
    "vehicles": [120, 120, 120, 1500, 1500, 90],
    "retained": [110, 80, 60, 1390, 1000, 84],
    "retention_rate": [110 / 120, 80 / 120, 0.5, 1390 / 1500, 1000 / 1500, 84 / 90],
})
FUNNEL = pd.DataFrame({
    "visit": [3, 1, 2, 4],  # unsorted on purpose
    "vehicles": [420, 940, 630, 80],
    "share": [0.42, 0.94, 0.63, 0.08],
    "conditional_share": [0.42 / 0.63, 0.94, 0.63 / 0.94, 0.08 / 0.42],
})
HR = pd.DataFrame({
    "covariate": ["usage[T.taxi]", "grade=premium", "region: rural",
                  "customer_type_company", "first_year_visits", "in_warranty"],
    "hazard_ratio": [2.0, 0.7, 1.5, 1.1, 0.8, 0.4],
    "lo": [1.5, 0.55, 1.1, 0.9, 0.7, 0.3],
    "hi": [2.7, 0.9, 2.0, 1.35, 0.9, 0.55],
    "p": [1e-5, 0.004, 0.01, 0.3, 0.0004, 1e-9],
})
HAZARD = pd.DataFrame({
    "age_band": [0, 1, 2, 3, 4],
    "at_risk_years": [900.0, 850.0, 800.0, 700.0, 500.0],
    "events": [45.0, 51.0, 64.0, 147.0, 65.0],
    "hazard": [0.05, 0.06, 0.08, 0.21, 0.13],
    "hazard_lo": [0.037, 0.046, 0.062, 0.178, 0.10],
    "hazard_hi": [0.067, 0.079, 0.102, 0.247, 0.166],
})
STATUS = pd.DataFrame({
    "age_band": [0, 0, 0, 1, 1, 1, 1, None],
    "status": ["active", "dormant", "never_returned", "active", "dormant", "lost",
               "never_returned", "lost"],
    "vehicles": [80, 15, 5, 40, 20, 30, 10, 7],
})

#: name -> function(ax, lang) drawing the chart from the data above.
CHARTS = {
    "faw_toyota_chart": lambda ax, lang: plots.faw_toyota_chart(RBA, ax=ax, lang=lang),
    "faw_toyota_overlay": lambda ax, lang: plots.faw_toyota_chart(
        YEARS, overlay="year", ax=ax, lang=lang),
    "survival_curves": lambda ax, lang: plots.survival_curves(CURVE, ax=ax, lang=lang),
    "cohort_heatmap": lambda ax, lang: plots.cohort_heatmap(COHORTS, ax=ax, lang=lang),
    "service_funnel_chart": lambda ax, lang: plots.service_funnel_chart(FUNNEL, ax=ax,
                                                                        lang=lang),
    "forest_plot": lambda ax, lang: plots.forest_plot(HR, ax=ax, lang=lang),
    "hazard_chart": lambda ax, lang: plots.hazard_chart(HAZARD, cliff_age=3, ax=ax, lang=lang),
    "status_bars": lambda ax, lang: plots.status_bars(STATUS, ax=ax, lang=lang),
}


# ---------------------------------------------------------------------------- helpers
@pytest.fixture(autouse=True)
def _isolated_rc():
    with mpl.rc_context():
        mpl.rcdefaults()
        yield
    plt.close("all")


def _draw(fn, lang, *, ax=None, setup=True):
    """Draw a chart (rendering it) and return (Axes, missing-glyph warnings)."""
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        if setup:
            plotting.setup(lang)
        out = fn(ax, lang)
        out.figure.canvas.draw()
    missing = [str(w.message) for w in records
               if "Glyph" in str(w.message) or "missing from font" in str(w.message)]
    return out, missing


def _texts(ax: Axes) -> list[str]:
    """Every visible string of the Axes' figure (tick labels after drawing)."""
    out = []
    for a in ax.figure.axes:
        out += [a.get_title(), a.get_xlabel(), a.get_ylabel()]
        out += [x.get_text() for x in a.get_xticklabels() + a.get_yticklabels()]
        out += [x.get_text() for x in a.texts]
        if a.get_legend() is not None:
            out += [x.get_text() for x in a.get_legend().get_texts()]
            out.append(a.get_legend().get_title().get_text())
    return [s for s in out if s and s.strip()]


def _gid(artists, gid):
    return [a for a in artists if a.get_gid() == gid]


def _one(artists, gid):
    found = _gid(artists, gid)
    assert len(found) == 1, (gid, sorted({str(a.get_gid()) for a in artists}))
    return found[0]


def _heights(patches) -> list[float]:
    return [p.get_height() for p in patches]


def _bars(ax) -> list[BarContainer]:
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def _whiskers(ax) -> list[np.ndarray]:
    """(n, 2) arrays of (low, high) y of each error-bar container's vertical segments."""
    out = []
    for c in ax.containers:
        if isinstance(c, ErrorbarContainer):
            segs = c.lines[2][0].get_segments()
            out.append(np.array([[s[0][1], s[1][1]] for s in segs]))
    return out


def _tick_texts(axis_labels) -> list[str]:
    return [x.get_text() for x in axis_labels]


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
    if name != "forest_plot":  # the others have vehicle age on x, with its unit
        assert xlabel == ("Vehicle age (years)" if lang == "en" else "车龄（年）") or name in (
            "service_funnel_chart",)


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_chart_draws_into_the_given_axes(name):
    # The Axes exist before setup(): their title, label and tick fonts are updated.
    fig, (left, right) = plt.subplots(1, 2, figsize=(16, 6))
    ax, missing = _draw(CHARTS[name], "zh", ax=right)
    assert ax is right and ax.figure is fig and not missing
    assert not left.has_data() and not left.texts
    assert len(plt.get_fignums()) == 1


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_chart_creates_a_figure_without_ax(name):
    before = set(plt.get_fignums())
    ax, _ = _draw(CHARTS[name], "en")
    assert set(plt.get_fignums()) - before == {ax.figure.number}


def test_chinese_without_setup_uses_bundled_font_fallback():
    ax, missing = _draw(CHARTS["survival_curves"], "zh", setup=False)
    assert not missing
    assert plotting.BUNDLED_FAMILY in mpl.rcParams["font.family"]


def test_title_override_and_bad_language():
    assert plots.hazard_chart(HAZARD, title="自定义").get_title() == "自定义"
    with pytest.raises(ValueError, match="'en', 'zh'"):
        plots.cohort_heatmap(COHORTS, lang="fr")


# --------------------------------------------------------------------------- FAW-Toyota
@pytest.mark.parametrize("lang", LANGS)
def test_faw_toyota_bars_line_labels_and_intervals(lang):
    ax = plots.faw_toyota_chart(RBA, lang=lang)
    rows = RBA.dropna(subset=["age_band"])  # the unknown-age row is left out
    (bars,) = _bars(ax)
    assert _heights(bars.patches) == rows["retention_rate"].tolist()
    assert all(p.get_gid() == "rate" for p in bars.patches)
    line = _one(ax.lines, "active")
    np.testing.assert_array_equal(line.get_ydata(), rows["active_ratio"])
    assert [x.get_text() for x in _gid(ax.texts, "rate_label")] == ["92%", "75%", "61%", "33%"]
    assert [x.get_text() for x in _gid(ax.texts, "active_label")] == ["85%", "60%", "44%", "20%"]
    # bands 0, 1, 2, 4 (band 3 has no row): no empty slot invented for band 3
    assert _tick_texts(ax.get_xticklabels()) == [t("metric.age_band", lang, n=k) for k in
                                                 (1, 2, 3, 5)]
    (whiskers,) = _whiskers(ax)
    np.testing.assert_allclose(whiskers, rows[["retention_lo", "retention_hi"]].to_numpy())
    band = _one(ax.collections, "active_band")
    ys = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
    assert ys.min() == pytest.approx(rows["active_lo"].min())
    assert ys.max() == pytest.approx(rows["active_hi"].max())
    legend = [x.get_text() for x in ax.get_legend().get_texts()]
    assert legend == [t("metric.retention_rate", lang), t("metric.active_ratio", lang),
                      t("plot.interval", lang, level="95%")]
    assert ax.get_ylabel() == ("Share of vehicles (%)" if lang == "en" else "车辆占比（%）")
    assert ax.yaxis.get_major_formatter()(0.5, 0) == "50%"
    if lang == "zh":
        assert ax.get_title() == "各车龄客户掌握率与活跃客户比例"
    else:
        assert ax.get_title() == "Retention rate and active-customer ratio by vehicle age"


def test_faw_toyota_without_intervals_one_metric_and_polars():
    pl = pytest.importorskip("polars")
    annual = YEARS.loc[YEARS["year"] == 2023, ["age_band", "retention_rate", "active_ratio"]]
    ax = plots.faw_toyota_chart(pl.from_pandas(annual), lang="zh")
    assert not _whiskers(ax) and not _gid(ax.collections, "active_band")
    assert _heights(_bars(ax)[0].patches) == [0.9, 0.7, 0.5]
    ax = plots.faw_toyota_chart(RBA, intervals=False)
    assert not _whiskers(ax)
    ax = plots.faw_toyota_chart(RBA, active=None, lang="zh")
    assert not _gid(ax.lines, "active") and ax.get_title() == "各车龄客户掌握率"
    assert ax.get_ylabel() == "客户掌握率（%）"
    ax = plots.faw_toyota_chart(RBA, rate=None)
    assert not _bars(ax) and ax.get_title() == "Active-customer ratio by vehicle age"


@pytest.mark.parametrize("lang", LANGS)
def test_faw_toyota_overlay_years(lang):
    ax = plots.faw_toyota_chart(YEARS, overlay="year", lang=lang)
    bars = _bars(ax)
    assert [c.get_label() for c in bars] == ["2023", "2024", "2025"]
    for c, year in zip(bars, (2023, 2024, 2025), strict=True):
        want = (YEARS.loc[YEARS["year"] == year].set_index("age_band")["retention_rate"]
                .reindex([0, 1, 2]).tolist())
        np.testing.assert_array_equal(_heights(c.patches), want)  # 2025 band 2: NaN, empty
        assert {p.get_gid() for p in c.patches} == {f"rate_{year}"}
        line = _one(ax.lines, f"active_{year}")
        np.testing.assert_array_equal(
            line.get_ydata(),
            YEARS.loc[YEARS["year"] == year].set_index("age_band")["active_ratio"]
            .reindex([0, 1, 2]))
        # each line runs through its own bars
        np.testing.assert_allclose(line.get_xdata(), [p.get_x() + p.get_width() / 2
                                                      for p in c.patches])
    labels = [x.get_text() for x in _gid(ax.texts, "rate_label_2025")]
    assert labels == ["86%", "60%", ""]
    legend = ax.get_legend()
    assert [x.get_text() for x in legend.get_texts()][:3] == ["2023", "2024", "2025"]
    assert legend.get_title().get_text() == t("metric.year", lang)


def test_faw_toyota_overlay_translates_codes_and_numbers_stay_whole():
    by_usage = YEARS.assign(usage=YEARS["year"].map({2023: "private", 2024: "taxi",
                                                     2025: "ride_hailing"}))
    ax = plots.faw_toyota_chart(by_usage, overlay="usage", lang="zh")
    # vocabulary order: private, ride_hailing, taxi
    assert [c.get_label() for c in _bars(ax)] == ["私家车", "网约车", "出租车"]
    assert ax.get_legend().get_title().get_text() == "车辆用途"
    ax = plots.faw_toyota_chart(YEARS.assign(year=YEARS["year"].astype(float)), overlay="year")
    assert [c.get_label() for c in _bars(ax)] == ["2023", "2024", "2025"]


def test_faw_toyota_errors():
    with pytest.raises(KeyError, match="active_ratio"):
        plots.faw_toyota_chart(RBA.drop(columns="active_ratio"))
    with pytest.raises(KeyError, match="age_band"):
        plots.faw_toyota_chart(RBA.drop(columns="age_band"))
    with pytest.raises(KeyError, match="store_id"):
        plots.faw_toyota_chart(RBA, overlay="store_id")
    with pytest.raises(ValueError, match="overlay="):
        plots.faw_toyota_chart(YEARS)  # three rows per band
    with pytest.raises(ValueError, match="both be None"):
        plots.faw_toyota_chart(RBA, rate=None, active=None)
    with pytest.raises(ValueError, match="integer age bands"):
        plots.faw_toyota_chart(RBA.assign(age_band=[0.5, 1, 2, 3, 4]))


# ----------------------------------------------------------------------------- survival
def _expected_at_risk(sub: pd.DataFrame, k: int) -> int:
    later = sub.loc[sub["age"] >= k, "at_risk"]
    return int(later.iloc[0]) if len(later) else 0


@pytest.mark.parametrize("lang", LANGS)
def test_survival_curves_steps_bands_median_and_at_risk(lang):
    ax = plots.survival_curves(CURVE, lang=lang)
    for code in ("private", "taxi"):
        sub = CURVE.loc[CURVE["group"] == code]
        step = _one(ax.lines, f"survival_{code}")
        assert step.get_drawstyle() == "steps-post"
        np.testing.assert_array_equal(step.get_xdata(), sub["age"])
        np.testing.assert_array_equal(step.get_ydata(), sub["survival"])
        band = _one(ax.collections, f"band_{code}")
        ys = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
        assert ys.min() == pytest.approx(sub["lo"].min())
        assert ys.max() == pytest.approx(sub["hi"].max())
        for k in range(0, 5):  # x axis to 4.2: ages 0..4
            text = _one(ax.texts, f"at_risk_{code}_{k}").get_text()
            assert int(text.replace(",", "")) == _expected_at_risk(sub, k)
    # private first reaches one half at 3.0; taxi never does
    median = _one(ax.lines, "median_private")
    assert list(median.get_xdata()) == [3.0, 3.0]
    assert not _gid(ax.lines, "median_taxi")
    legend = [x.get_text() for x in ax.get_legend().get_texts()]
    assert legend == [t("plot.median_age", lang, name=t("usage.private", lang), age="3.0"),
                      t("usage.taxi", lang)]
    assert ax.get_legend().get_title().get_text() == t("column.usage", lang)
    assert _one(ax.texts, "at_risk_header").get_text() == t("plot.at_risk", lang)
    assert ax.get_ylabel() == t("metric.survival", lang) + (" (%)" if lang == "en" else "（%）")


def test_survival_curves_at_risk_counts_sit_under_the_axis_at_whole_ages():
    ax = plots.survival_curves(CURVE, lang="en")
    ax.figure.canvas.draw()
    box = ax.get_window_extent()
    label_box = ax.xaxis.label.get_window_extent()
    for k in range(5):
        text = _one(ax.texts, f"at_risk_private_{k}")
        assert text.xy[0] == k
        bb = text.get_window_extent()
        assert bb.y1 < label_box.y0 < box.y0  # below the x label, which is below the axis


def test_survival_curves_groups_result_object_and_options():
    single = CURVE.loc[CURVE["group"] == "private"].assign(group="all")
    ax = plots.survival_curves(SimpleNamespace(curve_=single), lang="zh")
    assert ax.get_legend().get_texts()[0].get_text() == "全部车辆（中位数3.0年）"
    flags = CURVE.assign(group=CURVE["group"].map({"private": True, "taxi": False}))
    ax = plots.survival_curves(flags, lang="zh")
    assert [x.get_text() for x in ax.get_legend().get_texts()][1] == "他店销售"
    assert _gid(ax.lines, "survival_True") and _gid(ax.lines, "survival_False")
    no_group = CURVE.loc[CURVE["group"] == "taxi"].drop(columns=["group", "lo", "hi",
                                                                  "at_risk"])
    ax = plots.survival_curves(no_group, group=None, at_risk=False, max_age=6)
    assert _gid(ax.lines, "survival_all") and not _gid(ax.collections, "band_all")
    assert not [x for x in ax.texts if str(x.get_gid()).startswith("at_risk")]
    assert ax.get_xlim()[1] >= 6


def test_survival_curves_exact_counts_of_a_result_and_late_curves():
    # a result object's at_risk_ (counts at whole ages) wins over the curve's at_risk
    exact = pd.DataFrame({"group": ["private"] * 5 + ["taxi"] * 4,
                          "age": [0.0, 1, 2, 3, 4, 0, 1, 2, 3],
                          "at_risk": [100, 96, 71, 12_345, 9, 0, 46, 31, 10]})
    ax = plots.survival_curves(SimpleNamespace(curve_=CURVE, at_risk_=exact), lang="zh")
    got = [_one(ax.texts, f"at_risk_private_{k}").get_text() for k in range(5)]
    assert got == ["100", "96", "71", "1.2万", "9"]
    assert _one(ax.texts, "at_risk_taxi_4").get_text() == "0"  # after its last age
    ax = plots.survival_curves(SimpleNamespace(curve_=CURVE, at_risk_=exact), lang="en")
    assert _one(ax.texts, "at_risk_private_3").get_text() == "12.3k"
    # a curve that starts late (walk-ins, conditional on reaching age 1.4): no count before
    late = CURVE.loc[CURVE["group"] == "taxi"].assign(age=lambda d: d["age"] + 1.4,
                                                      group="(missing)")
    ax = plots.survival_curves(late, lang="en")
    texts = {x.get_gid(): x.get_text() for x in ax.texts}
    assert texts["at_risk_unknown_0"] == texts["at_risk_unknown_1"] == ""
    assert texts["at_risk_unknown_2"] == "45"
    assert [x.get_text() for x in ax.get_legend().get_texts()] == ["Unknown"]


def test_survival_median_is_the_first_age_at_or_below_one_half():
    # as lifelines' median_survival_time_: S(2) = 0.5 exactly -> median 2
    c = pd.DataFrame({"age": [0.0, 1.0, 2.0, 3.0], "survival": [1.0, 0.6, 0.5, 0.2]})
    ax = plots.survival_curves(c, group=None, at_risk=False)
    assert list(_one(ax.lines, "median_all").get_xdata()) == [2.0, 2.0]
    lifelines = pytest.importorskip("lifelines")
    kmf = lifelines.KaplanMeierFitter().fit([1, 2, 3, 4], [1, 1, 1, 0])  # S(2) = 0.5
    sf = kmf.survival_function_.iloc[:, 0]
    ax = plots.survival_curves(pd.DataFrame({"age": sf.index, "survival": sf.to_numpy()}),
                               group=None, at_risk=False)
    assert _one(ax.lines, "median_all").get_xdata()[0] == kmf.median_survival_time_


def test_survival_curves_errors():
    with pytest.raises(KeyError, match="survival"):
        plots.survival_curves(CURVE.drop(columns="survival"))
    with pytest.raises(KeyError, match=r"at_risk.*at_risk=False"):
        plots.survival_curves(CURVE.drop(columns="at_risk"))
    with pytest.raises(KeyError, match="usage"):
        plots.survival_curves(CURVE, group="usage")


# ------------------------------------------------------------------------------- cohorts
@pytest.mark.parametrize("lang", LANGS)
def test_cohort_heatmap_cells_annotations_and_blanks(lang):
    ax = plots.cohort_heatmap(COHORTS.iloc[::-1], lang=lang)
    grid = COHORTS.pivot(index="sale_year", columns="age_band", values="retention_rate")
    cells = np.ma.filled(ax.collections[0].get_array().astype(float), np.nan)
    np.testing.assert_allclose(cells.reshape(grid.shape), grid.to_numpy())
    texts = [x.get_text() for x in ax.texts]
    assert texts == ["92%", "67%", "50%", "93%", "67%", "93%"]  # blanks not annotated
    rows = _tick_texts(ax.get_yticklabels())
    assert rows == (["2019 (n=120)", "2020 (n=1,500)", "2021 (n=90)"] if lang == "en"
                    else ["2019（120辆）", "2020（1,500辆）", "2021（90辆）"])
    assert _tick_texts(ax.get_xticklabels()) == [t("metric.age_band", lang, n=k)
                                                 for k in (1, 2, 3)]
    cbar = ax.figure.axes[-1]
    assert cbar.get_ylabel() == t("metric.retention_rate", lang) + (
        " (%)" if lang == "en" else "（%）")
    assert ax.get_ylabel() == t("plot.sale_year", lang)


def test_cohort_heatmap_errors_and_no_sizes():
    ax = plots.cohort_heatmap(COHORTS.drop(columns="vehicles"))
    assert _tick_texts(ax.get_yticklabels()) == ["2019", "2020", "2021"]
    with pytest.raises(KeyError, match="retention_rate"):
        plots.cohort_heatmap(COHORTS.drop(columns="retention_rate"))
    with pytest.raises(KeyError, match="sale_year"):
        plots.cohort_heatmap(COHORTS.drop(columns="sale_year"))
    with pytest.raises(ValueError, match="several rows"):
        plots.cohort_heatmap(pd.concat([COHORTS, COHORTS]))


# -------------------------------------------------------------------------------- funnel
@pytest.mark.parametrize("lang", LANGS)
def test_service_funnel_bars_and_labels(lang):
    ax = plots.service_funnel_chart(FUNNEL, lang=lang)
    (bars,) = _bars(ax)
    ordered = FUNNEL.sort_values("visit")
    assert _heights(bars.patches) == ordered["share"].tolist()
    assert [x.get_text() for x in _gid(ax.texts, "share_label")] == ["94%", "63%", "42%", "8%"]
    ticks = _tick_texts(ax.get_xticklabels())
    assert ticks == (["1st", "2nd", "3rd", "4th"] if lang == "en"
                     else ["第1次", "第2次", "第3次", "第4次"])
    # conditional shares from visit 2 on, when the bar is tall enough to hold them
    cond = [x.get_text() for x in _gid(ax.texts, "conditional_label")]
    assert cond == [t("plot.funnel_conditional", lang, pct=p) for p in ("67%", "67%")]
    assert not _gid(plots.service_funnel_chart(FUNNEL, conditional=False).texts,
                    "conditional_label")


def test_service_funnel_ordinals_and_errors():
    f = pd.DataFrame({"visit": [11, 12, 13, 21, 22, 23, 101], "share": [0.1] * 7})
    ax = plots.service_funnel_chart(f)
    assert _tick_texts(ax.get_xticklabels()) == ["11th", "12th", "13th", "21st", "22nd",
                                                 "23rd", "101st"]
    with pytest.raises(KeyError, match="share"):
        plots.service_funnel_chart(FUNNEL.drop(columns="share"))
    with pytest.raises(KeyError, match="visit"):
        plots.service_funnel_chart(FUNNEL.drop(columns="visit"))


# -------------------------------------------------------------------------------- forest
@pytest.mark.parametrize("lang", LANGS)
def test_forest_plot_points_intervals_and_names(lang):
    ax = plots.forest_plot(HR, lang=lang)
    points = _one(ax.collections, "hazard_ratio").get_offsets()
    np.testing.assert_allclose(np.asarray(points),
                               np.c_[HR["hazard_ratio"], np.arange(len(HR))])
    segs = _one(ax.collections, "ci").get_segments()
    np.testing.assert_allclose([[s[0][0], s[1][0]] for s in segs], HR[["lo", "hi"]])
    assert ax.get_xscale() == "log"
    ref = _one(ax.lines, "reference")
    assert list(ref.get_xdata()) == [1.0, 1.0]
    names = _tick_texts(ax.get_yticklabels())
    if lang == "en":
        assert names == ["Vehicle use: Taxi", "Vehicle grade: Premium", "Region: Rural",
                         "Customer type: Company", "First-year visits", "In warranty"]
    else:
        assert names == ["车辆用途：出租车", "车辆档次：高端", "所在区域：乡村", "客户类型：企业",
                         "首年进厂次数", "质保期内"]
    texts = [x.get_text() for x in _gid(ax.texts, "ratio_text")]
    assert texts[0] == "2.00 (1.50–2.70)  p<0.001"
    assert texts[3] == "1.10 (0.90–1.35)  p=0.300"
    # significant: red above 1, blue below; p = 0.3 grey
    colors = [mpl.colors.to_hex(c) for c in
              _one(ax.collections, "hazard_ratio").get_facecolors()]
    assert colors == ["#c44e52", "#4c72b0", "#c44e52", "#9a9a9a", "#4c72b0", "#4c72b0"]
    assert ax.get_xlabel() == t("plot.hazard_ratio_x", lang, level="95%")


def test_forest_plot_label_columns_reference_levels_and_no_p():
    hr = HR.drop(columns="p").assign(covariate=["usage_taxi (vs private)", "mystery", "x",
                                                "y", "z", "annual_km"])
    ax = plots.forest_plot(hr.assign(label_zh=["自定义", None, "", "y", "z", "w"]), lang="zh")
    names = _tick_texts(ax.get_yticklabels())
    assert names[:2] == ["自定义", "mystery"]  # own label; no label: raw name
    assert names[2] == "x"  # empty label: translated / raw name
    ax = plots.forest_plot(hr, lang="en")
    names = _tick_texts(ax.get_yticklabels())
    assert names[0] == "Vehicle use: Taxi (vs Private)" and names[-1] == "Annual mileage"
    # without p, significance = the interval excludes 1: lo 0.9 < 1 < 1.35 is not
    colors = [mpl.colors.to_hex(c) for c in
              _one(ax.collections, "hazard_ratio").get_facecolors()]
    assert colors[3] == "#9a9a9a" and colors[0] == "#c44e52"


#: crm_analysis.survival.defection_drivers-shaped: covariate = column, level, reference.
HR_LEVELS = pd.DataFrame({
    "covariate": ["usage", "region", "first_year_visits", "annual_km", "sold_here",
                  "in_warranty_at_exit", "warranty", "model", "usage"],
    "level": ["taxi", "rural", "per visit", "per 10,000 km", "yes", "yes", "out", "Corolla",
              "(missing)"],
    "reference": ["private", "urban_core", "", "", "no", "no", "in", "Camry", "private"],
    "term": ["usage[taxi]", "region[rural]", "first_year_visits", "annual_km",
             "sold_here[yes]", "in_warranty_at_exit[yes]", "warranty[out]", "model[Corolla]",
             "usage[(missing)]"],
    "hazard_ratio": [2.3, 1.6, 0.97, 1.1, 0.67, 0.9, 0.58, 1.0, 1.2],
    "lo": [1.7, 1.4, 0.96, 1.0, 0.62, 0.8, 0.45, 0.8, 0.9],
    "hi": [3.0, 1.8, 0.99, 1.2, 0.72, 1.0, 0.74, 1.25, 1.6],
    "p": [1e-9, 1e-12, 3e-4, 0.04, 1e-25, 0.05, 1e-5, 0.99, 0.2],
})


@pytest.mark.parametrize("lang", LANGS)
def test_forest_plot_names_rows_of_a_cox_table_with_levels(lang):
    names = _tick_texts(plots.forest_plot(HR_LEVELS, lang=lang).get_yticklabels())
    if lang == "en":
        assert names == [
            "Vehicle use: Taxi (vs Private)", "Region: Rural (vs Urban core)",
            "First-year visits (per visit)", "Annual mileage (per 10,000 km)",
            "Sold here (vs Sold elsewhere)", "In warranty: yes (vs no)",
            "Out of warranty (vs In warranty)", "Model: Corolla (vs Camry)",
            "Vehicle use: Unknown (vs Private)"]
    else:
        assert names == [
            "车辆用途：出租车（相对于私家车）",
            "所在区域：乡村（相对于市中心）",
            "首年进厂次数（每次）",
            "年行驶里程（每1万公里）",
            "本店销售（相对于他店销售）",
            "质保期内：是（相对于否）",
            "已出质保（相对于质保期内）",
            "车型：Corolla（相对于Camry）",
            "车辆用途：未知（相对于私家车）"]


def test_forest_plot_result_object_and_errors():
    ax = plots.forest_plot(SimpleNamespace(hazard_ratios_=HR))
    assert len(_tick_texts(ax.get_yticklabels())) == len(HR)
    with pytest.raises(KeyError, match="hi"):
        plots.forest_plot(HR.drop(columns="hi"))
    with pytest.raises(ValueError, match="positive"):
        plots.forest_plot(HR.assign(lo=[0.0, 0.5, 1, 1, 0.7, 0.3]))


# -------------------------------------------------------------------------------- hazard
@pytest.mark.parametrize("lang", LANGS)
def test_hazard_chart_bars_intervals_and_cliff(lang):
    ax = plots.hazard_chart(HAZARD, cliff_age=3, lang=lang)
    (bars,) = _bars(ax)
    assert _heights(bars.patches) == HAZARD["hazard"].tolist()
    (whiskers,) = _whiskers(ax)
    np.testing.assert_allclose(whiskers, HAZARD[["hazard_lo", "hazard_hi"]].to_numpy())
    labels = [x.get_text() for x in _gid(ax.texts, "hazard_label")]
    assert labels == ["5.0%", "6.0%", "8.0%", "21.0%", "13.0%"]
    cliff = _one(ax.texts, "cliff")
    assert cliff.get_text() == t("plot.warranty_cliff", lang, before="8.0%", after="21.0%")
    assert cliff.xy[0] == 3  # points at band 3
    reds = [i for i, p in enumerate(bars.patches) if mpl.colors.to_hex(p.get_facecolor())
            == "#c44e52"]
    assert reds == [3]
    assert _tick_texts(ax.get_xticklabels())[3] == t("metric.age_band", lang, n=4)
    assert ax.get_ylabel() == ("Defection hazard (% per year)" if lang == "en"
                               else "年流失风险（%/年）")


def test_hazard_chart_result_object_no_cliff_and_errors():
    ax = plots.hazard_chart(SimpleNamespace(hazard_=HAZARD, cliff_age_=2))
    assert _one(ax.texts, "cliff").xy[0] == 2
    ax = plots.hazard_chart(HAZARD.drop(columns=["hazard_lo", "hazard_hi"]))
    assert not _gid(ax.texts, "cliff") and not _whiskers(ax)
    with pytest.raises(ValueError, match="cliff_age 7"):
        plots.hazard_chart(HAZARD, cliff_age=7)
    with pytest.raises(KeyError, match="hazard"):
        plots.hazard_chart(HAZARD.drop(columns="hazard"))


# -------------------------------------------------------------------------------- status
@pytest.mark.parametrize("lang", LANGS)
def test_status_bars_shares_labels_and_totals(lang):
    ax = plots.status_bars(STATUS, lang=lang)
    bars = _bars(ax)
    assert [c.get_label() for c in bars] == [t(f"status.{s}", lang) for s in
                                             ("active", "dormant", "lost", "never_returned")]
    # bands 0, 1 and unknown (last); band 0 has 100 vehicles, band 1 100, unknown 7
    want = {"active": [0.8, 0.4, 0.0], "dormant": [0.15, 0.2, 0.0], "lost": [0.0, 0.3, 1.0],
            "never_returned": [0.05, 0.1, 0.0]}
    for c, code in zip(bars, want, strict=True):
        np.testing.assert_allclose(_heights(c.patches), want[code])
    bottoms = [p.get_y() for p in bars[2].patches]  # lost sits on active + dormant
    np.testing.assert_allclose(bottoms, [0.95, 0.6, 0.0])
    assert _tick_texts(ax.get_xticklabels()) == [t("metric.age_band", lang, n=1),
                                                 t("metric.age_band", lang, n=2),
                                                 t("plot.unknown", lang)]
    totals = [x.get_text() for x in _gid(ax.texts, "total")]
    assert totals == [t("plot.n_vehicles", lang, n=n) for n in ("100", "100", "7")]
    labels = [x.get_text() for x in _gid(ax.texts, "status_label")]
    assert labels == ["80%", "40%", "15%", "20%", "30%", "100%", "5%", "10%"]


def test_status_bars_from_per_vehicle_status_and_counts():
    per_vehicle = pd.DataFrame({
        "vin": [f"V{i}" for i in range(6)],
        "age_years": [0.2, 0.9, 1.5, 1.99, 2.0, np.nan],
        "status": ["active", "lost", "active", "dormant", "never_returned", "lost"],
    })
    ax = plots.status_bars(per_vehicle, share=False, max_age=1)
    heights = {c.get_label(): _heights(c.patches) for c in _bars(ax)}
    # bands 0 and 1 and unknown; band 2 (age 2.0) is beyond max_age
    assert heights == {"Active": [1.0, 1.0, 0.0], "Dormant": [0.0, 1.0, 0.0],
                       "Lost": [1.0, 0.0, 1.0]}
    assert ax.get_ylabel() == "Vehicles (vehicles)"


def test_status_bars_errors():
    with pytest.raises(KeyError, match="age_band"):
        plots.status_bars(STATUS.drop(columns="age_band"))
    with pytest.raises(KeyError, match="status"):
        plots.status_bars(STATUS.drop(columns="status"))
    with pytest.raises(KeyError, match="churned"):
        plots.status_bars(STATUS.assign(status=["churned", *STATUS["status"][1:]]))

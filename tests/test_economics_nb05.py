"""The library functions notebook 05 (lifetime value) calls instead of computing in cells.

What is checked, and against what:

- ``fit_spend`` on the CDNOW repeat buyers gives Fader & Hardie's published p, q, γ
  (6.25, 3.74, 15.44), hence the mean value pγ/(q − 1) by hand; the customers left out and
  the correlation are recounted with plain numpy.
- ``lifetime_values``: undiscounted it is Gamma-Gamma's expected value times the model's
  expected visits; one month ahead it is that divided by (1 + d)^(1/12); a non-positive
  mean value is a mean value of 0.
- ``visit_profile``, ``monthly_discount_rate``, ``recent_customers``,
  ``regularity_pattern``, ``holdout_summary`` and ``fit_first`` against hand-computed values
  (and a real held-out comparison on CDNOW), ``customer_value_by_age`` and
  ``LifetimeValue.share_in_first_years`` against small tables summed by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from crm_analysis import btyd
from crm_analysis.btyd import (
    BetaGeoModel,
    ConvergenceError,
    GammaGammaModel,
    MBGCNBDModel,
    calibration_holdout,
    compare_holdout,
    fit_first,
    fit_spend,
    holdout_summary,
    lifetime_values,
    monthly_discount_rate,
    recent_customers,
    regularity_pattern,
    visit_profile,
)
from crm_analysis.economics import customer_value_by_age, new_car_lifetime_value
from crm_analysis.features import rfm_summary

WEEKS_PER_YEAR = 365.25 / 7


@pytest.fixture(scope="module")
def cdnow_rfm(cdnow_sample) -> pd.DataFrame:
    return rfm_summary(cdnow_sample, "sample_id", "date", "dollar_value", as_of="1997-09-30",
                       freq="D", freq_multiplier=7)


def _model(cls, **params):
    m = cls()
    m.params_ = pd.Series(params, dtype=float)
    return m


# ----------------------------------------------------------------------------- spend


def test_fit_spend_reproduces_the_published_cdnow_fit(cdnow_rfm):
    spend = fit_spend(cdnow_rfm["frequency"], cdnow_rfm["monetary_value"])
    assert spend.customers == 946 and spend.excluded == 0
    assert spend.model.params_.round(2).to_dict() == {"p": 6.25, "q": 3.74, "v": 15.44}
    p, q, v = spend.model.params_
    assert spend.mean_value == pytest.approx(p * v / (q - 1), rel=1e-12)
    assert spend.mean_value == pytest.approx(6.25 * 15.44 / 2.74, rel=2e-3)
    repeat = cdnow_rfm[cdnow_rfm["frequency"] > 0]
    r = np.corrcoef(repeat["frequency"], repeat["monetary_value"])[0, 1]
    assert spend.correlation == pytest.approx(r, rel=1e-12)


def test_fit_spend_leaves_out_non_positive_means(cdnow_rfm):
    f = cdnow_rfm["frequency"].to_numpy()
    m = cdnow_rfm["monetary_value"].to_numpy(dtype=float, na_value=np.nan).copy()
    repeat = np.flatnonzero(f > 0)
    m[repeat[:3]] = [0.0, -12.5, 0.0]
    spend = fit_spend(f, m)
    assert (spend.customers, spend.excluded) == (943, 3)
    keep = (f > 0) & (m > 0)
    gg = GammaGammaModel().fit(f[keep], m[keep])
    np.testing.assert_allclose(spend.model.params_, gg.params_, rtol=1e-12)
    with pytest.raises(ValueError, match="fit_spend: frequency and monetary_value differ"):
        fit_spend([1, 2], [3.0])


# ----------------------------------------------------------------------------- values


def test_lifetime_values_equal_spend_times_visits():
    bg = _model(BetaGeoModel, r=0.243, alpha=4.414, a=0.793, b=2.426)
    gg = _model(GammaGammaModel, p=6.25, q=3.74, v=15.44)
    x, tx, T = np.array([2.0, 0.0, 5.0]), np.array([30.43, 0.0, 35.0]), np.full(3, 38.86)
    m = np.array([-5.0, np.nan, 40.0])
    month = 365.25 / 12 / 7
    # undiscounted: E[value] x E[visits in 12 months]
    spend = gg.conditional_expected_average_profit(x, np.where(m > 0, m, 0.0))
    visits = bg.expected_purchases(12 * month, x, tx, T)
    got = lifetime_values(bg, gg, x, tx, T, m, months=12, annual_discount_rate=0.0, freq="W")
    np.testing.assert_allclose(got, spend * visits, rtol=1e-10)
    # a mean value of 0 for the customer with a negative one: p·v / (p·x + q − 1)
    assert np.asarray(spend)[0] == pytest.approx(6.25 * 15.44 / (6.25 * 2 + 2.74), rel=1e-12)
    # one month ahead, discounted at 10% a year: one twelfth-power of 1.1
    one = lifetime_values(bg, gg, x, tx, T, m, months=1, annual_discount_rate=0.10, freq="W")
    visits1 = bg.expected_purchases(month, x, tx, T)
    np.testing.assert_allclose(one, spend * visits1 / 1.1 ** (1 / 12), rtol=1e-10)


def test_monthly_discount_rate_compounds_to_the_year():
    assert monthly_discount_rate(0.10) == pytest.approx(1.1 ** (1 / 12) - 1, rel=1e-15)
    assert (1 + monthly_discount_rate(0.05)) ** 12 == pytest.approx(1.05, rel=1e-14)
    assert monthly_discount_rate(0) == 0.0
    with pytest.raises(ValueError, match="monthly_discount_rate"):
        monthly_discount_rate(1.5)
    with pytest.raises(TypeError, match="monthly_discount_rate"):
        monthly_discount_rate("0.1")


# ----------------------------------------------------------------------------- visit models


def test_visit_profile_by_hand():
    bg = visit_profile(_model(BetaGeoModel, r=0.243, alpha=4.414, a=0.793, b=2.426), freq="W")
    assert (bg.name, bg.k) == ("BG/NBD", 1)
    assert bg.visits_per_year == pytest.approx(0.243 / 4.414 * WEEKS_PER_YEAR, rel=1e-12)
    assert bg.drop_per_visit == pytest.approx(0.793 / (0.793 + 2.426), rel=1e-12)
    mbg = visit_profile(_model(MBGCNBDModel, k=3, r=0.85, alpha=1.45, a=0.79, b=2.42),
                        freq="D")
    assert (mbg.name, mbg.k, mbg.r, mbg.b) == ("MBG/CNBD-3", 3, 0.85, 2.42)
    assert mbg.visits_per_year == pytest.approx(0.85 / (3 * 1.45) * 365.25, rel=1e-12)
    with pytest.raises(ValueError, match="visit_profile: the model is not fitted"):
        visit_profile(BetaGeoModel())
    with pytest.raises(TypeError, match="visit_profile: model must be"):
        visit_profile(GammaGammaModel())


def test_recent_customers_counts_last_visits_within_the_months():
    t = pd.Timestamp("2024-06-30")
    tx = pd.DataFrame({"customer_id": ["a", "a", "b", "b", "c", "d"],
                       "date": pd.to_datetime(["2023-01-01", "2024-05-01", "2022-03-01",
                                               "2023-06-01", "2024-06-30", "2023-07-10"])})
    rfm = rfm_summary(tx, "customer_id", "date", None, as_of=t, freq="D", freq_multiplier=7)
    # last visits: a 60 days ago, b 395, c 0, d 356 (one-time: recency 0, T = age)
    for months, expected in ((1, 1), (3, 2), (11, 2), (12, 3), (13, 4)):
        # by hand: last visit less than months x 30.4375 days before T
        days = {"a": 60, "b": 395, "c": 0, "d": 356}
        assert sum(d < months * 30.4375 for d in days.values()) == expected
        assert recent_customers(rfm["recency"], rfm["T"], months=months, freq="W") == expected
    with pytest.raises(ValueError, match="recent_customers: recency and T"):
        recent_customers([1.0, 2.0], [3.0], months=1)


def test_regularity_pattern_thresholds():
    assert regularity_pattern(1.17, 13.2) == "mixed"
    assert regularity_pattern(1.49, 2.01) == "mixed"
    assert regularity_pattern(1.5, 13.2) == "regular"
    assert regularity_pattern(1.0, 2.0) == "irregular"   # maintenance k = 2 is not > 2
    assert regularity_pattern(0.9, 1.1) == "irregular"
    with pytest.raises(TypeError, match="regularity_pattern"):
        regularity_pattern("1", 2.0)


# ----------------------------------------------------------------------------- held-out year


def _errors(rows):
    cols = ["model", "name", "k", "converged", "message", "actual", "predicted", "bias", "mae"]
    return pd.DataFrame(rows, columns=cols)


def test_holdout_summary_by_hand():
    errors = _errors([["bgnbd", "BG/NBD", 1, True, "", 3573.0, 3254.0, 3254 / 3573 - 1, 0.848],
                      ["mbgcnbd", "MBG/CNBD-k", 1, True, "", 3573.0, 3221.0, 3221 / 3573 - 1,
                       0.814]])
    s = holdout_summary(btyd.HoldoutComparison(errors, pd.DataFrame(), {}, "mbgcnbd"))
    assert (s.best, s.name, s.k, s.runner_up, s.failed) == ("mbgcnbd", "MBG/CNBD-k", 1,
                                                            "BG/NBD", {})
    assert s.gain == pytest.approx(1 - 0.814 / 0.848) and f"{s.gain:.1%}" == "4.0%"
    assert (s.actual, s.predicted, s.mae, s.runner_up_mae) == (3573.0, 3221.0, 0.814, 0.848)
    assert s.bias == pytest.approx(-0.0985166, abs=1e-7)
    # a model that failed: no runner-up, its message kept
    failed = _errors([["bgnbd", "BG/NBD", 1, True, "", 10.0, 12.0, 0.2, 0.5],
                      ["mbgcnbd", "MBG/CNBD-k", 1, False, "no optimum", 10.0, np.nan, np.nan,
                       np.nan]])
    s = holdout_summary(btyd.HoldoutComparison(failed, pd.DataFrame(), {}, "bgnbd"))
    assert (s.name, s.runner_up, s.failed) == ("BG/NBD", None, {"MBG/CNBD-k": "no optimum"})
    assert math.isnan(s.gain) and math.isnan(s.runner_up_mae)
    none = _errors([["bgnbd", "BG/NBD", 1, False, "x", 10.0, np.nan, np.nan, np.nan]])
    s = holdout_summary(btyd.HoldoutComparison(none, pd.DataFrame(), {}, None))
    assert (s.best, s.name, s.k, s.actual) == (None, None, None, 10.0)
    assert math.isnan(s.predicted) and math.isnan(s.bias)
    with pytest.raises(TypeError, match="holdout_summary: comparison must be"):
        holdout_summary(errors)


def test_holdout_summary_runner_up_is_the_next_best_of_three():
    # four customers with 0, 1, 2, 1 holdout purchases (4 in all); absolute errors by hand:
    #   BG/NBD      predicts 1, 1, 1, 1        -> |1|, 0, |1|, 0       MAE 2 / 4 = 0.5
    #   MBG/NBD     predicts 0.5, 1.5, 1.5, 1  -> .5, .5, .5, 0        MAE 1.5 / 4 = 0.375
    #   MBG/CNBD-k  predicts 0.5, 1, 1.5, 1    -> .5, 0, .5, 0         MAE 1 / 4 = 0.25
    # BG/NBD is listed first among the others but MBG/NBD is the runner-up:
    # gain = 1 - 0.25 / 0.375 = 1/3 (not 1 - 0.25 / 0.5 = 0.5).
    errors = _errors([["bgnbd", "BG/NBD", 1, True, "", 4.0, 4.0, 0.0, 0.5],
                      ["pnbd", "Pareto/NBD", 1, False, "no optimum", 4.0, np.nan, np.nan,
                       np.nan],
                      ["mbgnbd", "MBG/NBD", 1, True, "", 4.0, 4.5, 0.125, 0.375],
                      ["mbgcnbd", "MBG/CNBD-k", 2, True, "", 4.0, 4.0, 0.0, 0.25]])
    s = holdout_summary(btyd.HoldoutComparison(errors, pd.DataFrame(), {}, "mbgcnbd"))
    assert (s.name, s.k, s.runner_up, s.runner_up_mae, s.mae) == ("MBG/CNBD-k", 2, "MBG/NBD",
                                                                  0.375, 0.25)
    assert s.gain == pytest.approx(1 / 3) and s.failed == {"Pareto/NBD": "no optimum"}


def test_holdout_summary_of_a_real_comparison(cdnow_sample):
    cal = calibration_holdout(cdnow_sample, "sample_id", "date", calibration_end="1997-09-30",
                              observation_end="1998-06-30", freq="D", freq_multiplier=7,
                              regularity=True)
    comparison = compare_holdout(cal)
    s = holdout_summary(comparison)
    e = comparison.errors_.set_index("model")
    other = "bgnbd" if s.best == "mbgcnbd" else "mbgcnbd"
    assert s.best == e["mae"].idxmin() == comparison.best_model_
    assert s.actual == cal["frequency_holdout"].sum()
    assert s.predicted == pytest.approx(comparison.predictions_[s.best].sum(), rel=1e-12)
    assert s.bias == pytest.approx(s.predicted / s.actual - 1, rel=1e-12)
    assert s.gain == pytest.approx(1 - e.loc[s.best, "mae"] / e.loc[other, "mae"], rel=1e-12)
    assert s.gain >= 0


def test_fit_first_falls_back_in_order(cdnow_rfm, monkeypatch):
    f, r, T = cdnow_rfm["frequency"], cdnow_rfm["recency"], cdnow_rfm["T"]
    fit = fit_first(f, r, T, models=(None, "bgnbd", "mbgnbd", "bgnbd"))
    assert (fit.code, fit.failed) == ("bgnbd", {})
    assert fit.model.params_.round(3).to_dict() == {"r": 0.243, "alpha": 4.414, "a": 0.793,
                                                    "b": 2.426}
    tried = []
    real = btyd.fit_model

    def flaky(code, *args):
        tried.append(code)
        if code == "bgnbd":
            raise ConvergenceError("did not converge")
        return real(code, *args)

    monkeypatch.setattr(btyd, "fit_model", flaky)
    fit = fit_first(f, r, T, models=("bgnbd", "mbgnbd"))
    assert (tried, fit.code, fit.failed) == (["bgnbd", "mbgnbd"], "mbgnbd",
                                             {"bgnbd": "did not converge"})
    assert isinstance(fit.model, MBGCNBDModel) and int(fit.model.params_["k"]) == 1
    with pytest.raises(ConvergenceError, match="did not converge"):
        fit_first(f, r, T, models="bgnbd")
    with pytest.raises(ValueError, match="fit_first: models names no model"):
        fit_first(f, r, T, models=(None,))
    with pytest.raises(ValueError, match="fit_first"):
        fit_first(f, r, T, models=("pareto",))


# ----------------------------------------------------------------------------- economics


def test_customer_value_by_age_sums_by_hand():
    f = pd.DataFrame({"customer_id": list("abcdefg"),
                      "main_vehicle_age": [0.5, 2.999, 3.0, 5.0, 8.0, np.nan, 12.0]})
    v = pd.DataFrame({"customer_id": list("abcdez"),
                      "p_alive": [0.9, 0.7, 0.5, 0.4, 0.2, 1.0],
                      "clv": [1000.0, 600.0, 300.0, 800.0, 100.0, 5.0]})
    out = customer_value_by_age(f, v)
    assert out["segment"].tolist() == ["in_warranty", "post_warranty", "mature", "old"]
    assert out["customers"].tolist() == [2, 1, 1, 2]          # g counts, without values
    np.testing.assert_allclose(out["p_alive"], [0.8, 0.5, 0.4, 0.2])
    np.testing.assert_allclose(out["clv"], [800.0, 300.0, 800.0, 100.0])
    np.testing.assert_allclose(out["clv_total"], [1600.0, 300.0, 800.0, 100.0])
    pl_out = customer_value_by_age(pl.from_pandas(f), pl.from_pandas(v))
    pd.testing.assert_frame_equal(pl_out, out)
    # an empty segment is a row of 0 customers
    empty = customer_value_by_age(f[f["main_vehicle_age"] < 3], v)
    assert empty["customers"].tolist() == [2, 0, 0, 0]
    assert empty["clv_total"].tolist() == [1600.0, 0.0, 0.0, 0.0]
    assert empty["clv"].isna().tolist() == [False, True, True, True]
    with pytest.raises(KeyError, match="customer_value_by_age"):
        customer_value_by_age(f, v.drop(columns="clv"))
    with pytest.raises(ValueError, match="customer_value_by_age: values has several rows"):
        customer_value_by_age(f, pd.concat([v, v.iloc[:1]]))


def test_share_in_first_years_by_hand():
    curve = pd.DataFrame({"age_band": [0, 1, 2, 3], "retention_rate": [1.0, 0.8, 0.6, 0.3],
                          "gross_profit_per_retained": [500.0, 1000.0, 1000.0, 2000.0]})
    flat = new_car_lifetime_value(curve, max_age=4, discount_rate=0.0)
    # 500 + 800 + 600 + 600 = 2500; the first three years 1900
    assert flat.total == 2500.0
    assert flat.share_in_first_years(3) == pytest.approx(1900 / 2500, rel=1e-15)
    assert flat.share_in_first_years(0) == 0.0 and flat.share_in_first_years(9) == 1.0
    lv = new_car_lifetime_value(curve, max_age=4, discount_rate=0.1)
    pv = [500 / 1.1 ** 0.5, 800 / 1.1 ** 1.5, 600 / 1.1 ** 2.5, 600 / 1.1 ** 3.5]
    assert lv.share_in_first_years() == pytest.approx(sum(pv[:3]) / sum(pv), rel=1e-12)
    zero = new_car_lifetime_value(curve.assign(retention_rate=0.0), max_age=4)
    assert math.isnan(zero.share_in_first_years())
    with pytest.raises(ValueError, match="share_in_first_years"):
        flat.share_in_first_years(-1)


# ----------------------------------------------------------------------------- the texts


def test_nb05_texts_say_what_the_numbers_are():
    from crm_analysis.narrative import Narrator, catalog

    texts = catalog("nb05")
    # the bias column is the error of the total, beside the mean absolute error per customer
    assert texts["nb05.holdout_col.bias"] == {"en": "Error of the total", "zh": "总量偏差"}
    en, zh = Narrator("en"), Narrator("zh")
    # the what-if: 0.05 of the base is 5.0 points, written without a plus sign, and the
    # fixed years are not called the store's warranty cliff
    values = dict(points=100 * 0.05, first="year 4", last="year 6", per_car=1000.0,
                  cars=120, per_year=120_000.0)
    lift_en, lift_zh = en.text("nb05.lift", **values), zh.text("nb05.lift", **values)
    assert "raised retention by **5.0 percentage points** in year 4 to year 6 of the car's " \
           "life. Each" in lift_en
    assert "把保有率提高 **5.0个百分点**，" in lift_zh
    for text in (lift_en, lift_zh):
        assert "+" not in text and "cliff" not in text and "断崖" not in text
    ends = dict(customers=10, clv_total=1.0, months=36, top20=0.5, absorption=0.5, ltv=1.0,
                years=10, points=5.0, per_year=1.0)
    assert "Lifting retention by 5.0 percentage points after" in en.text("nb05.conclusions",
                                                                         **ends)
    assert "把保有率提高 5.0个百分点，" in zh.text("nb05.conclusions", **ends)
    # the window of the segment table is a field, the one the notebook computes with
    assert en.text("nb05.segments_intro", customers=1200, months=18).startswith(
        "Among the 1,200 customers served in the last 18 months,")
    assert zh.text("nb05.segments_intro", customers=1200, months=18).startswith(
        "在近 18 个月进厂的 1,200 位客户中")

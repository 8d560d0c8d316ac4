"""MBG/CNBD-k (crm_analysis.btyd.MBGCNBDModel) against the R package BTYDplus.

Reference values: ``tests/data/btydplus_reference.json`` and
``tests/data/btydplus_{grocery,cdnow}_predictions.csv.gz``, computed with BTYDplus 1.2.0
(github.com/mplatzer/BTYDplus, commit d5eda8f, its R/helpers.R and R/mbg-cnbd-k.R sourced
into R 4.2.2, the C++ functions compiled with Rcpp 1.0.10, gsl 2.1.8 for ₂F₁); the
exact R code and versions are in ``tests/data/README.md``. Data:

- grocery: BTYDplus's ``groceryElog`` (``data/external/grocery/``), 52 weeks of
  calibration to 2006-12-31 and 52 weeks of holdout, as BTYDplus's ``demo/mbg-cnbd-k.R``;
- CDNOW: the 2,357-customer sample (``data/external/cdnow/``), 39 weeks of calibration to
  1997-09-30 and 39 weeks of holdout, as ``demo/cdnow.R``.

Tolerances: R's ``optim`` (L-BFGS-B, factr 1e7, i.e. a relative reduction of the
objective of 2.2e-9) stops a little short of the maximum; a parameter is then accurate to
about sqrt(2.2e-9) ≈ 5e-5 relative, so estimates are compared at 2e-4 relative (and to
the three decimals BTYDplus prints), and our log-likelihood must be at least R's. Formulae
evaluated at the same parameters agree to rounding (1e-9), except where BTYDplus truncates
an infinite sum (noted at each test).
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy.special import hyp2f1  # noqa: E402

from crm_analysis.btyd import (  # noqa: E402
    BetaGeoModel,
    ConvergenceError,
    GammaGammaModel,
    MBGCNBDModel,
    _mbgcnbd_loglik,
    calibration_holdout,
    compare_holdout,
    estimate_regularity,
)
from crm_analysis.features import rfm_summary  # noqa: E402
from crm_analysis.plots import holdout_comparison, probability_alive_matrix  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
REF = json.loads((DATA / "btydplus_reference.json").read_text())
NAMES = ["k", "r", "alpha", "a", "b"]


def _predictions(name: str) -> pd.DataFrame:
    with gzip.open(DATA / f"btydplus_{name}_predictions.csv.gz", "rt") as f:
        return pd.read_csv(f, dtype={"cust": str}, float_precision="round_trip")


def _r_model(params: dict) -> MBGCNBDModel:
    m = MBGCNBDModel()
    m.params_ = pd.Series({k: float(params[k]) for k in NAMES})
    return m


@pytest.fixture(scope="module")
def grocery_elog() -> pd.DataFrame:
    elog = pd.read_csv(ROOT / "data" / "external" / "grocery" / "groceryElog.csv.gz",
                       dtype={"cust": str}, parse_dates=["date"])
    return elog


@pytest.fixture(scope="module")
def cdnow_elog() -> pd.DataFrame:
    elog = pd.read_csv(ROOT / "data" / "external" / "cdnow" / "CDNOW_sample.txt.gz",
                       sep=r"\s+", header=None,
                       names=["cust", "sampleid", "date", "cds", "sales"],
                       dtype={"cust": int, "sampleid": str, "date": str})
    elog["cust"] = elog["cust"].astype(str)         # R reads the id as a number: "00004" is 4
    elog["date"] = pd.to_datetime(elog["date"], format="%Y%m%d")
    return elog


def _holdout(elog: pd.DataFrame, cal_end: str, obs_end: str) -> pd.DataFrame:
    return calibration_holdout(elog, "cust", "date", None, calibration_end=cal_end,
                               observation_end=obs_end, freq="D", freq_multiplier=7,
                               regularity=True)


@pytest.fixture(scope="module")
def grocery(grocery_elog) -> pd.DataFrame:
    return _holdout(grocery_elog, "2006-12-31", "2007-12-30")


@pytest.fixture(scope="module")
def cdnow(cdnow_elog) -> pd.DataFrame:
    return _holdout(cdnow_elog, "1997-09-30", "1998-06-30")


# --------------------------------------------------------------------------- formulae


def test_loglik_matches_btydplus_hand_picked_cases():
    """Per-customer log-likelihood = BTYDplus ``mbgcnbd.LL`` for k = 1, 2, 3 (our
    function leaves out the parameter-free part (k−1)·litt − x·log((k−1)!))."""
    case = REF["hand_picked"]
    x, tx, T, litt = (np.array(case["cases"][c], float) for c in ("x", "t.x", "T.cal", "litt"))
    p = case["params"]
    core = np.array([p["r"], p["alpha"], p["a"], p["b"]])
    for k, key in ((1, "ll_mbgcnbd_k1"), (2, "ll_mbgcnbd_k2"), (3, "ll_mbgcnbd")):
        ll, _ = _mbgcnbd_loglik(core, k, x, tx, T, grad=False)
        ll = ll + (k - 1) * litt - x * math.lgamma(k)
        np.testing.assert_allclose(ll, case["cases"][key], rtol=1e-12, atol=1e-12)


def test_palive_and_conditional_expectation_match_hand_picked_cases():
    """``mbgcnbd.PAlive`` and ``mbgcnbd.ConditionalExpectedTransactions`` (8 customers:
    fewer than 100, so no cohort correction in BTYDplus either)."""
    case = REF["hand_picked"]
    x, tx, T = (np.array(case["cases"][c], float) for c in ("x", "t.x", "T.cal"))
    m = _r_model(case["params"])
    np.testing.assert_allclose(m.probability_alive(x, tx, T), case["cases"]["palive_mbgcnbd"],
                               rtol=1e-12)
    np.testing.assert_allclose(m.expected_purchases(32, x, tx, T),
                               case["cases"]["cet_mbgcnbd_Tstar32"], rtol=1e-10)


def test_unconditional_expectation_matches_btydplus():
    """``mbgcnbd.Expectation`` at k = 3. BTYDplus stops its sum Σ x·P(X=x) at the first
    term below 1e-8 (after 100 terms); the terms it leaves out are worth 3e-8 of the value
    at t = 52, so the agreement is to 1e-7, with ours the larger."""
    case = REF["hand_picked"]
    m = _r_model(case["params"])
    e = case["expectation"]
    ours = np.asarray(m.expected_purchases_new(np.array(e["t"], float)))
    np.testing.assert_allclose(ours, e["value"], rtol=1e-7)
    assert (ours >= np.array(e["value"]) - 1e-12).all()
    # BTYDplus's C++ self-check: params (3, 0.5, 2, 0.3, 0.6), E[X(10)] = 0.366405...
    cpp = REF["slice_sampling_cpp"]
    m2 = _r_model(dict(zip(NAMES, cpp["params"], strict=True)))
    assert m2.expected_purchases_new(10.0) == pytest.approx(cpp["exp_t10_mbg_cpp"], rel=1e-9)


def test_k1_expectation_equals_the_closed_form_where_btydplus_truncates():
    """For k = 1 (MBG/NBD) E[X(t)] has a closed form (Batislam, Denizel & Filiztekin
    2007): b/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b+1; a+b; t/(α+t))]. Our sum equals it;
    BTYDplus stops its sum once a term is below 1e-8, which on CDNOW's heavy tail
    (r = 0.52) leaves out up to 1.4e-4 of the value at t = 104 weeks."""
    exp = REF["cdnow"]["mbgcnbd"]["expectation"]
    p = REF["cdnow"]["mbgcnbd"]["params"]
    r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
    t = np.array(exp["t"], float)
    closed = b / (a - 1) * (1 - (alpha / (alpha + t)) ** r
                            * hyp2f1(r, b + 1, a + b, t / (alpha + t)))
    ours = np.asarray(_r_model(p).expected_purchases_new(t))
    np.testing.assert_allclose(ours, closed, rtol=1e-10)
    np.testing.assert_allclose(ours, exp["value"], rtol=2e-4)     # BTYDplus's truncation
    assert (ours >= np.array(exp["value"]) - 1e-12).all()         # it only leaves terms out


# --------------------------------------------------------------------------- data


def test_calibration_holdout_reproduces_btydplus_cbs(grocery, cdnow):
    """Our calibration table (days / 7) is BTYDplus's ``elog2cbs`` in weeks."""
    for name, table in (("grocery", grocery), ("cdnow", cdnow)):
        ref = _predictions(name).set_index("cust")
        ours = table.set_index("cust").loc[ref.index]
        assert (ours["frequency_cal"].to_numpy() == ref["x"].to_numpy()).all()
        for col, rcol in (("recency_cal", "t.x"), ("T_cal", "T.cal"), ("litt_cal", "litt")):
            np.testing.assert_allclose(ours[col].to_numpy(float), ref[rcol], rtol=1e-12,
                                       atol=1e-12)
        assert (ours["frequency_holdout"].to_numpy() == ref["x.star"].to_numpy()).all()
        np.testing.assert_allclose(ours["duration_holdout"], ref["T.star"], rtol=1e-12)


# --------------------------------------------------------------------------- estimates


@pytest.mark.parametrize("name", ["grocery", "cdnow"])
def test_estimates_reproduce_btydplus(name, request):
    table = request.getfixturevalue(name)
    ref = REF[name]
    m = MBGCNBDModel().fit(table["frequency_cal"], table["recency_cal"], table["T_cal"],
                           table["litt_cal"])
    want = pd.Series(ref["mbgcnbd"]["params"], dtype=float)[NAMES]
    got = m.params_[NAMES]
    assert got["k"] == want["k"]                      # grocery: k = 2; CDNOW: k = 1
    np.testing.assert_allclose(got, want, rtol=2e-4)
    assert (got.round(3) == want.round(3)).all()       # the precision BTYDplus prints
    assert m.log_likelihood_ == pytest.approx(ref["mbgcnbd"]["LL"], rel=1e-9)
    assert m.log_likelihood_ >= ref["mbgcnbd"]["LL"] - 1e-6
    # the same search: the same ks tried, the same likelihood at each
    grid = pd.DataFrame(ref["grid"])
    assert m.k_search_["k"].tolist() == grid["k"].tolist()
    np.testing.assert_allclose(m.k_search_["log_likelihood"], grid["LL"], rtol=1e-9)
    np.testing.assert_allclose(m.k_search_[["r", "alpha", "a", "b"]],
                               grid[["r", "alpha", "a", "b"]], rtol=2e-4)
    # MBG/NBD: the model with k = 1 fixed (mbgnbd.EstimateParameters)
    k1 = MBGCNBDModel(k=1).fit(table["frequency_cal"], table["recency_cal"], table["T_cal"])
    np.testing.assert_allclose(k1.params_[NAMES], pd.Series(ref["mbgnbd"]["params"])[NAMES],
                               rtol=2e-4)
    assert k1.log_likelihood_ == pytest.approx(ref["mbgnbd"]["LL"], rel=1e-9)


def test_customer_predictions_match_btydplus_grocery(grocery):
    """P(alive) and the cohort-corrected conditional expectation of all 1,525 grocery
    customers at BTYDplus's estimate. The expectation agrees to 1e-6 relative: the cohort
    correction divides sums of ``mbgcnbd.Expectation``, whose truncation (terms below 1e-8
    dropped) is BTYDplus's only approximation here."""
    ref = _predictions("grocery")
    m = _r_model(REF["grocery"]["mbgcnbd"]["params"])
    args = (ref["x"], ref["t.x"], ref["T.cal"])
    np.testing.assert_allclose(m.probability_alive(*args), ref["palive_mbgcnbd"], rtol=1e-10)
    np.testing.assert_allclose(m.expected_purchases(ref["T.star"], *args),
                               ref["cet_mbgcnbd"], rtol=1e-6)
    bias = REF["grocery"]["mbgcnbd"]["bias_correction"]
    raw = m.expected_purchases(ref["T.star"], *args, cohort_correction=False)
    assert float(np.sum(raw)) == pytest.approx(bias["sum_uncorrected"], rel=1e-10)
    corrected = np.sum(m.expected_purchases(ref["T.star"], *args))
    assert corrected / np.sum(raw) == pytest.approx(bias["factor"], rel=1e-7)
    # the per-customer log-likelihood at the estimate, litt included
    k = 2
    core = m.params_[["r", "alpha", "a", "b"]].to_numpy(float)
    ll, _ = _mbgcnbd_loglik(core, k, *(a.to_numpy(float) for a in args), grad=False)
    ll = ll + (k - 1) * ref["litt"] - ref["x"] * math.lgamma(k)
    np.testing.assert_allclose(ll, ref["ll_mbgcnbd"], rtol=1e-11)


def test_customer_predictions_match_btydplus_cdnow():
    """k = 1 on CDNOW: no cohort correction, agreement to rounding."""
    ref = _predictions("cdnow")
    args = (ref["x"], ref["t.x"], ref["T.cal"])
    m = _r_model(REF["cdnow"]["mbgcnbd"]["params"])
    np.testing.assert_allclose(m.probability_alive(*args), ref["palive_mbgcnbd"], rtol=1e-10)
    np.testing.assert_allclose(m.expected_purchases(ref["T.star"], *args),
                               ref["cet_mbgcnbd"], rtol=1e-10)


def test_holdout_errors_match_btydplus_demo(grocery):
    """BTYDplus's demo/mbg-cnbd-k.R compares models on the grocery holdout year by MAE,
    MSLE and bias; with our (slightly better) estimates the errors agree to 1e-4."""
    res = compare_holdout(grocery, models=("bgnbd", "mbgnbd", "mbgcnbd"))
    errors = res.errors_.set_index("model")
    for code, name in (("mbgcnbd", "MBG/CNBD-k"), ("mbgnbd", "MBG/NBD")):
        want = REF["grocery"]["errors"][name]
        assert errors.loc[code, "mae"] == pytest.approx(want["MAE"], rel=1e-4)
        assert errors.loc[code, "msle"] == pytest.approx(want["MSLE"], rel=1e-4)
        assert errors.loc[code, "bias"] == pytest.approx(want["BIAS"], rel=1e-3)
    # the demo's conclusion: the regular model forecasts the grocery customers best
    assert res.best_model_ == "mbgcnbd"
    assert errors.loc["mbgcnbd", "k"] == 2
    assert errors["converged"].all()
    assert set(res.predictions_.columns) == {"cust", "actual", "bgnbd", "mbgnbd", "mbgcnbd"}


# --------------------------------------------------------------------------- simulation


def simulate_mbgcnbd(n: int, T_cal: np.ndarray, T_star: float, params: dict, seed: int
                     ) -> pd.DataFrame:
    """Customers simulated from the model, as BTYDplus's ``mbgcnbd.GenerateData``:
    λ ~ Gamma(r, α), p ~ Beta(a, b) (floored at 1e-5), the number of purchases before
    dropping out ~ Geometric(p) counted from 0 (dropout possible at the first purchase),
    Erlang-k inter-purchase times with rate λ; customers start at max(T_cal) − T_cal."""
    k, r, alpha, a, b = (params[n_] for n_ in NAMES)
    rng = np.random.default_rng(seed)
    T_fix = float(np.max(T_cal))
    lam = rng.gamma(r, 1 / alpha, n)
    p = np.maximum(rng.beta(a, b, n), 1e-5)
    stays = np.minimum(rng.geometric(p) - 1, 100_000)
    rows = []
    for i in range(n):
        start = T_fix - T_cal[i]
        ts = start + np.concatenate([[0.0], np.cumsum(rng.gamma(k, 1 / lam[i], stays[i]))])
        ts = ts[ts <= T_fix + T_star]
        cal = ts[ts <= T_fix]
        x = len(cal) - 1
        rows.append({"x": x, "t_x": cal[-1] - start, "T": T_fix - start,
                     "litt": float(np.log(np.diff(cal)).sum()) if x else 0.0,
                     "x_star": int((ts > T_fix).sum()), "alive": bool(stays[i] > x)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    # BTYDplus's tests/testthat/test-mbg-cnbd-k.R: 8,000 customers, k=3, r=0.85,
    # alpha=1.45, a=0.79, b=2.42, T.cal = round(U(36, 96) / 12) * 12 weeks, T.star = 36
    rng = np.random.default_rng(1)
    T_cal = np.round(rng.uniform(36, 96, 8000) / 12) * 12
    return simulate_mbgcnbd(8000, T_cal, 36.0, dict(zip(NAMES, (3, 0.85, 1.45, 0.79, 2.42),
                                                        strict=True)), seed=2)


def test_recovers_simulated_parameters(simulated):
    """BTYDplus's own test: k found, parameters within its 10% tolerance, the sum of
    forecasts within 5% of the held-out purchases and the sum of P(alive) within 5% of
    the customers actually alive."""
    s = simulated
    m = MBGCNBDModel().fit(s["x"], s["t_x"], s["T"], s["litt"])
    truth = pd.Series({"k": 3, "r": 0.85, "alpha": 1.45, "a": 0.79, "b": 2.42})
    assert m.params_["k"] == 3
    np.testing.assert_allclose(m.params_[NAMES], truth, rtol=0.10)
    true_model = _r_model(truth.to_dict())
    forecast = np.sum(true_model.expected_purchases(36.0, s["x"], s["t_x"], s["T"]))
    assert forecast == pytest.approx(s["x_star"].sum(), rel=0.05)
    alive = np.sum(true_model.probability_alive(s["x"], s["t_x"], s["T"]))
    assert alive == pytest.approx(s["alive"].sum(), rel=0.05)
    # the intervals contain the truth (95% log-scale Wald; a 4 x 5% miss is unlikely)
    summary = m.summary.drop("k")
    inside = (summary["lower 95%"] <= truth.drop("k")) & (truth.drop("k")
                                                          <= summary["upper 95%"])
    assert inside.sum() >= 3
    # BTYDplus's checks that the cohort correction does not spoil single forecasts
    one = true_model.expected_purchases(32, [0, 1], [0, 12], [32, 32])
    assert one[1] < 1
    x3, x2 = (true_model.expected_purchases(32, x, 12, 32) for x in (3, 2))
    assert x3 != x2


def test_memoryless_data_choose_k1_and_match_bgnbd_in_spirit(cdnow):
    """CDNOW purchases are not regular (BTYDplus: "k=1 -> no regularity detected"), and
    the Wheat-Morrison estimate is about 1."""
    m = MBGCNBDModel().fit(cdnow["frequency_cal"], cdnow["recency_cal"], cdnow["T_cal"],
                           cdnow["litt_cal"])
    assert m.params_["k"] == 1


# --------------------------------------------------------------------------- regularity


@pytest.mark.parametrize("name", ["grocery", "cdnow"])
def test_wheat_morrison_regularity(name, request):
    """``estimateRegularity(elog, method = "wheat")`` draws which of the last two intervals
    is the numerator; we use both (its expectation), which R gives as
    ``symmetric_both_orders`` and which lies within the range of 200 seeds of R."""
    elog = request.getfixturevalue(f"{name}_elog")
    ref = REF[name]["regularity_wheat"]
    k = estimate_regularity(elog, "cust", "date")
    assert k == pytest.approx(ref["symmetric_both_orders"], rel=1e-12)
    assert ref["seeds_1_200_min"] - 0.005 <= k <= ref["seeds_1_200_max"]
    assert (k > 1.5) == (name == "grocery")            # grocery regular, CDNOW not


def test_regularity_of_an_erlang_process_is_recovered():
    """Customers with Erlang-4 intervals: Wheat-Morrison finds k close to 4 (its sampling
    sd at 3,000 customers is about 0.3)."""
    rng = np.random.default_rng(7)
    rows = []
    for c in range(3000):
        days = np.cumsum(rng.gamma(4, 30 / rng.uniform(0.5, 2), 4)).round()
        rows += [{"customer_id": c, "open_date": pd.Timestamp("2020-01-01")
                  + pd.Timedelta(days=d)} for d in np.unique(days)]
    k = estimate_regularity(pd.DataFrame(rows))
    assert 3.3 < k < 4.7


# --------------------------------------------------------------------------- API


def test_lifetime_value_uses_the_cohort_corrected_forecasts(grocery):
    g = grocery
    m = MBGCNBDModel(k=2).fit(g["frequency_cal"], g["recency_cal"], g["T_cal"])
    gg = GammaGammaModel()
    gg.params_ = pd.Series({"p": 6.25, "q": 3.74, "v": 15.44})
    spend = np.full(len(g), 30.0)
    clv = m.customer_lifetime_value(gg, g["frequency_cal"], g["recency_cal"], g["T_cal"],
                                    spend, months=12, discount_rate=0.0, freq="W")
    value = gg.expected_average_value(g["frequency_cal"].to_numpy(float), spend)
    expected = value * np.asarray(m.expected_purchases(365.25 / 12 / 7 * 12, g["frequency_cal"],
                                                       g["recency_cal"], g["T_cal"]))
    np.testing.assert_allclose(clv, expected, rtol=1e-9)   # undiscounted: one horizon
    assert (np.asarray(clv) >= 0).all()


def test_inputs_are_checked_with_the_callers_name():
    m = MBGCNBDModel()
    with pytest.raises(ValueError, match="MBGCNBDModel.fit: choosing k needs litt"):
        m.fit([1, 2], [1.0, 2.0], [3.0, 3.0])
    with pytest.raises(ValueError, match="litt must be 0"):
        m.fit([0, 2], [0.0, 2.0], [3.0, 3.0], litt=[0.5, 0.1])
    with pytest.raises(RuntimeError, match="not fitted"):
        m.probability_alive([1], [1.0], [2.0])
    m.params_ = pd.Series({"k": 2.5, "r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0})
    with pytest.raises(ValueError, match="k must be a whole number"):
        m.probability_alive([1], [1.0], [2.0])
    with pytest.raises(TypeError, match="cohort_correction must be True or False"):
        _r_model(REF["hand_picked"]["params"]).expected_purchases(1, [1], [1.0], [2.0],
                                                                  cohort_correction="yes")
    with pytest.raises(ValueError, match="compare_holdout: .*regularity=True"):
        compare_holdout(pd.DataFrame({"c": [1], "frequency_cal": [0]}), models="mbgcnbd")


def test_a_fit_that_cannot_converge_is_reported_per_model(monkeypatch, grocery):
    def boom(self, *a, **k):
        raise ConvergenceError("BetaGeoModel.fit: test failure")

    monkeypatch.setattr(BetaGeoModel, "fit", boom)
    res = compare_holdout(grocery, models=("bgnbd", "mbgcnbd"))
    row = res.errors_.set_index("model").loc["bgnbd"]
    assert not row["converged"] and "test failure" in row["message"]
    assert res.best_model_ == "mbgcnbd"
    assert "bgnbd" not in res.predictions_.columns


def test_rfm_summary_feeds_the_model_directly(grocery_elog):
    """``rfm_summary(..., regularity=True)`` gives what ``fit`` takes."""
    rfm = rfm_summary(grocery_elog, "cust", "date", None, as_of="2006-12-31", freq="D",
                      freq_multiplier=7, regularity=True)
    m = MBGCNBDModel(k=2).fit(rfm["frequency"], rfm["recency"], rfm["T"], rfm["litt"])
    np.testing.assert_allclose(m.params_[NAMES],
                               pd.Series(REF["grocery"]["grid"][1])[["k", "r", "alpha",
                                                                      "a", "b"]],
                               rtol=2e-4)


def test_bgnbd_penalizer_is_on_the_data_scale_not_lifetimes():
    """The BetaGeoModel docstring's claim: at penalizer 0.1 on the CDNOW summary the
    penalty of the mean log-likelihood on the weekly scale gives α = 0.571 (lifetimes'
    ``penalizer_coef=0.1``, which acts on time rescaled to [0, 1], gives 4.219 — value
    from a lifetimes 0.11.3 run quoted in issue 21)."""
    c = pd.read_csv(ROOT / "data" / "external" / "cdnow" / "cdnow_customers_summary.csv")
    bg = BetaGeoModel(penalizer=0.1).fit(c["frequency"], c["recency"], c["T"])
    assert round(bg.params_["alpha"], 3) == 0.571


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_charts_take_the_regular_model(grocery, lang):
    """P(alive) heat map and the side-by-side holdout chart with MBG/CNBD-k: titled, labelled
    with units, in Chinese glyphs for lang="zh", one line per converged model."""
    res = compare_holdout(grocery, models=("bgnbd", "mbgcnbd"))
    fig, (ax1, ax2) = plt.subplots(1, 2)
    try:
        assert probability_alive_matrix(res.models_["mbgcnbd"], max_frequency=10, ax=ax1,
                                        lang=lang, freq="W") is ax1
        image = ax1.get_images()[0].get_array()
        assert image.min() >= 0 and image.max() <= 1
        assert image[0].max() < 1          # MBG: a customer can be gone after one purchase
        assert "MBG/CNBD-2" in ax1.get_title()
        assert holdout_comparison(res, grocery, ax=ax2, lang=lang, freq="W") is ax2
        lines = ax2.get_lines()
        assert len(lines) == 3                                   # actual + two models
        legend = [t.get_text() for t in ax2.get_legend().get_texts()]
        assert any("BG/NBD" in s for s in legend) and any("MBG/CNBD-2" in s for s in legend)
        actual = np.asarray(lines[0].get_ydata())
        want = grocery.assign(b=np.minimum(grocery["frequency_cal"], 7)).groupby("b")[
            "frequency_holdout"].mean().to_numpy(float)
        np.testing.assert_allclose(actual, want)
        for ax in (ax1, ax2):
            texts = [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
            assert all(texts)
            if lang == "zh":
                assert all(any("\u4e00" <= ch <= "\u9fff" for ch in s) for s in texts)
        assert ("周" if lang == "zh" else "weeks") in ax2.get_title()
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="pass the table given to compare_holdout"):
        holdout_comparison(res, grocery.iloc[:10])

"""BG/NBD and Gamma-Gamma by maximum likelihood (crm_analysis.btyd).

What is checked, and against what:

- **Published CDNOW results** (Fader, Hardie & Lee 2005; Fader & Hardie 2013; DOMAIN.md
  section 5): BG/NBD r, α, a, b and the log-likelihood on ``cdnow_customers_summary.csv``,
  Gamma-Gamma p, q, γ on the 946 repeat buyers, whose input is built from
  ``CDNOW_sample`` with ``rfm_summary`` (see the btyd module docstring).
- **Values printed in the lifetimes documentation** (``docs/Quickstart.md`` of
  CamDavidsonPilon/lifetimes, reproduced by lifetimes 0.11.3): the five largest
  conditional expectations E[Y(1)], the Gamma-Gamma conditional expected average
  profits, their mean, and the 12-month CLVs; plus lifetimes 0.11.3's standard errors of
  the BG/NBD fit (``BetaGeoFitter().fit(...).summary``, run in a throwaway venv with
  pandas 1.5.3) and its ``calibration_and_holdout_data`` totals on CDNOW_sample.
- **Brute-force numerical integration** of the model (independent of the closed forms):
  the likelihood integrates the Poisson/geometric individual model over the Gamma and
  Beta priors, P(alive) and E[Y(t)] are posterior means computed with ``dblquad``.
- **Simulation**: data simulated from known parameters give back the parameters (within
  4 standard errors), standard errors that match the spread of estimates over replicates,
  and unbiased holdout predictions and P(alive) with the true parameters.
- Invariances (time unit, weights = duplicated rows), limits, input checks and the
  convergence error, plots.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import integrate, optimize  # noqa: E402
from scipy.special import betaln, gammaln  # noqa: E402

from crm_analysis import btyd  # noqa: E402
from crm_analysis.btyd import (  # noqa: E402
    BetaGeoModel,
    ConvergenceError,
    GammaGammaModel,
    calibration_holdout,
)
from crm_analysis.features import rfm_summary  # noqa: E402
from crm_analysis.plots import (  # noqa: E402
    calibration_purchases_vs_holdout,
    probability_alive_matrix,
)

ROOT = Path(__file__).resolve().parents[1]
CDNOW = ROOT / "data" / "external" / "cdnow"
BG_NAMES = ["r", "alpha", "a", "b"]


# ----------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    return pd.read_csv(CDNOW / "cdnow_customers_summary.csv").set_index("ID")


@pytest.fixture(scope="module")
def cdnow_rfm(cdnow_sample) -> pd.DataFrame:
    """The 39-week calibration RFM of the 2,357 customers, in weeks measured to the day."""
    return rfm_summary(cdnow_sample, "sample_id", "date", "dollar_value", as_of="1997-09-30",
                       freq="D", freq_multiplier=7).set_index("sample_id")


@pytest.fixture(scope="module")
def bg_cdnow(cdnow_summary) -> BetaGeoModel:
    return BetaGeoModel().fit(cdnow_summary["frequency"], cdnow_summary["recency"],
                              cdnow_summary["T"])


def with_params(cls, names, values):
    model = cls()
    model.params_ = pd.Series(values, index=names, dtype=float)
    return model


def round_half_up(values: pd.Series, decimals: int = 2) -> pd.Series:
    """Round as a spreadsheet does (x.xx5 up), as lifetimes' data file was rounded."""
    scale = 10.0 ** decimals
    return np.floor(values.astype(float) * scale + 0.5 + 1e-6) / scale


# ----------------------------------------------------------------------------- CDNOW: BG/NBD


def test_bgnbd_reproduces_published_cdnow_fit(bg_cdnow):
    # Fader, Hardie & Lee (2005): r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert bg_cdnow.params_.round(3).to_dict() == published
    assert round(bg_cdnow.log_likelihood_, 1) == -9582.4
    assert bg_cdnow.n_customers_ == 2357
    assert list(bg_cdnow.params_.index) == BG_NAMES


def test_bgnbd_standard_errors_match_lifetimes(bg_cdnow):
    # lifetimes 0.11.3, BetaGeoFitter().fit(cdnow summary).summary["se(coef)"] (autograd Hessian)
    lifetimes_se = [0.012557, 0.378221, 0.185719, 0.705345]
    np.testing.assert_allclose(bg_cdnow.standard_errors_.to_numpy(), lifetimes_se, rtol=2e-4)
    summary = bg_cdnow.summary
    assert list(summary.columns) == ["coef", "se(coef)", "lower 95%", "upper 95%"]
    assert (summary["lower 95%"] < summary["coef"]).all()
    assert (summary["coef"] < summary["upper 95%"]).all()
    assert (summary["lower 95%"] > 0).all()
    # log-scale Wald interval: coef is the geometric mean of its bounds
    np.testing.assert_allclose(np.sqrt(summary["lower 95%"] * summary["upper 95%"]),
                               summary["coef"], rtol=1e-12)


def test_bgnbd_fit_is_a_maximum(bg_cdnow, cdnow_summary):
    """The gradient vanishes, and moving any parameter by 1% lowers the likelihood."""
    d = cdnow_summary
    ll0 = bg_cdnow.log_likelihood_
    for name in BG_NAMES:
        for factor in (0.99, 1.01):
            params = bg_cdnow.params_.copy()
            params[name] *= factor
            ll, _ = btyd._bgnbd_loglik(params.to_numpy(), d["frequency"].to_numpy(float),
                                       d["recency"].to_numpy(float), d["T"].to_numpy(float),
                                       grad=False)
            assert ll.sum() < ll0
    grad = bg_cdnow._gradient(np.log(bg_cdnow.params_.to_numpy()))
    assert np.abs(grad).max() < 1e-8


def test_bgnbd_fit_timing(cdnow_summary):
    d = cdnow_summary
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        BetaGeoModel().fit(d["frequency"], d["recency"], d["T"])
        runs.append(time.perf_counter() - t0)
    assert min(runs) < 1.0


def test_bgnbd_predictions_match_lifetimes_quickstart(bg_cdnow, cdnow_summary):
    # lifetimes docs/Quickstart.md: conditional_expected_number_of_purchases_up_to_time(1, ...)
    # for the five customers with the largest values
    expected = {509: 0.424877, 841: 0.474738, 1981: 0.486526, 157: 0.662396, 1516: 0.710623}
    d = cdnow_summary.loc[list(expected)]
    got = bg_cdnow.expected_purchases(1, d["frequency"], d["recency"], d["T"])
    assert isinstance(got, pd.Series) and list(got.index) == list(expected)
    np.testing.assert_allclose(got.to_numpy(), list(expected.values()), rtol=2e-5)
    everyone = bg_cdnow.expected_purchases(1, cdnow_summary["frequency"],
                                           cdnow_summary["recency"], cdnow_summary["T"])
    assert set(everyone.nlargest(5).index) == set(expected)
    assert bg_cdnow.predict is not None  # lifetimes-style alias


# ----------------------------------------------------------------------------- CDNOW: Gamma-Gamma


def test_gamma_gamma_reproduces_published_cdnow_fit(cdnow_rfm):
    # Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value": p = 6.25,
    # q = 3.74, gamma = 15.44 on the 946 repeat buyers. Input: rfm_summary of CDNOW_sample
    # over the 39-week calibration period (purchase days; monetary_value = mean value of
    # the repeat purchase days), unrounded.
    repeat = cdnow_rfm[cdnow_rfm["frequency"] > 0]
    assert len(repeat) == 946
    gg = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])
    assert gg.params_.round(2).to_dict() == {"p": 6.25, "q": 3.74, "v": 15.44}
    assert gg.n_customers_ == 946 and gg.n_dropped_ == 0
    assert (gg.standard_errors_ > 0).all()


def test_gamma_gamma_and_clv_match_lifetimes_docs(bg_cdnow, cdnow_rfm, cdnow_summary):
    """lifetimes' CDNOW file rounds monetary_value to cents; so do we, and get its numbers."""
    monetary = round_half_up(cdnow_rfm["monetary_value"])
    freq = cdnow_rfm["frequency"].astype(int)
    repeat = freq > 0
    gg = GammaGammaModel().fit(freq[repeat], monetary[repeat])
    # lifetimes 0.11.3 on cdnow_customers_summary_with_transactions.csv
    np.testing.assert_allclose(gg.params_.to_numpy(), [6.248802, 3.744588, 15.447748],
                               rtol=1e-5)
    # docs/Quickstart.md: conditional_expected_average_profit(...).head(10) and its mean
    profit = gg.conditional_expected_average_profit(freq, monetary)
    expected = [24.658619, 18.911489, 35.170981, 35.170981, 35.170981, 71.462843, 18.911489,
                35.170981, 27.282408, 35.170981]
    np.testing.assert_allclose(profit.iloc[:10].to_numpy(), expected, rtol=2e-6)
    assert profit.mean() == pytest.approx(35.2529588256, rel=1e-6)
    assert gg.expected_average_value(freq, monetary).equals(profit)
    # docs/Quickstart.md: ggf.customer_lifetime_value(bgf, ..., time=12, discount_rate=0.01)
    # with lifetimes' default freq="D" (30 time units a month) on these weekly data
    clv = bg_cdnow.customer_lifetime_value(gg, cdnow_summary["frequency"],
                                           cdnow_summary["recency"], cdnow_summary["T"],
                                           monetary.to_numpy(), months=12, discount_rate=0.01,
                                           freq=30)
    expected_clv = [140.096211, 18.943467, 38.180574, 38.180574, 38.180574, 1003.868107,
                    28.109683, 38.180574, 167.418216, 38.180574]
    np.testing.assert_allclose(clv.iloc[:10].to_numpy(), expected_clv, rtol=1e-6)


def test_clv_definition(bg_cdnow):
    gg = with_params(GammaGammaModel, ["p", "q", "v"], [6.25, 3.74, 15.44])
    x, tx, T, m = np.array([0, 2, 7]), np.array([0.0, 30.43, 29.43]), np.full(3, 38.86), \
        np.array([0.0, 22.35, 73.74])
    spend = gg.expected_average_value(x, m)
    per_month = 365.25 / 12 / 7
    # one month, no discounting: spend x expected purchases in a month
    one = bg_cdnow.customer_lifetime_value(gg, x, tx, T, m, months=1, discount_rate=0.0,
                                           freq="W")
    np.testing.assert_allclose(one, spend * bg_cdnow.expected_purchases(per_month, x, tx, T))
    # 12 months, 1% a month: the sum of discounted monthly increments
    cum = np.array([bg_cdnow.expected_purchases(k * per_month, x, tx, T) for k in range(13)])
    manual = (spend * np.diff(cum, axis=0) / 1.01 ** np.arange(1, 13)[:, None]).sum(axis=0)
    got = bg_cdnow.customer_lifetime_value(gg, x, tx, T, m, freq="W")
    np.testing.assert_allclose(got, manual, rtol=1e-12)
    longer = bg_cdnow.customer_lifetime_value(gg, x, tx, T, m, months=24, freq="W")
    assert (longer > got).all()
    days = bg_cdnow.customer_lifetime_value(gg, x, tx * 7, T * 7, m, freq="D")
    assert isinstance(days, np.ndarray)
    assert btyd.PERIODS_PER_MONTH["D"] == pytest.approx(30.4375)


# ----------------------------------------------------------------------------- brute force


def brute_force(params, t, x, tx, T, eps=1e-8):
    """P(alive), E[Y(t)] and the total likelihood by 2-D quadrature over (lambda, p).

    Individual model: repeat purchases at Poisson rate lambda; after each repeat purchase
    the customer drops out with probability p. Given (lambda, p):
    L = (1-p)^x lambda^x e^(-lambda T)                         (alive at T)
      + 1{x>0} p (1-p)^(x-1) lambda^x e^(-lambda t_x)           (dropped at t_x)
    and, if alive at T, E[purchases in (T, T+t]] = (1 - e^(-lambda p t)) / p.
    Priors lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b); p = u^(1/a) absorbs the prior's
    singularity at 0. A constant (the closed-form log-likelihood) is subtracted from the
    exponent to avoid underflow; it cancels in the ratios, and the "total" it returns must
    be 1 when the closed form is right.
    """
    r, alpha, a, b = params
    offset = float(btyd._bgnbd_loglik(np.array(params, float), np.array([float(x)]),
                                      np.array([float(tx)]), np.array([float(T)]),
                                      grad=False)[0][0])
    const = r * math.log(alpha) - gammaln(r) - betaln(a, b) - math.log(a) - offset
    lam_hi = (r + x + 40 * math.sqrt(r + x) + 40) / (alpha + tx)

    def parts(lam, u):
        p = u ** (1 / a)
        prior = const + (b - 1) * np.log1p(-p) + (r - 1 + x) * np.log(lam) - alpha * lam
        alive = np.exp(prior + x * np.log1p(-p) - lam * T)
        dead = np.exp(prior + np.log(p) + (x - 1) * np.log1p(-p) - lam * tx) if x > 0 else 0.0
        return alive, dead, alive * -np.expm1(-lam * p * t) / p

    def integral(k):
        return integrate.dblquad(lambda lam, u: parts(lam, u)[k], 0, 1, 0, lam_hi,
                                 epsabs=0, epsrel=eps)[0]

    alive, dead, future = integral(0), integral(1) if x > 0 else 0.0, integral(2)
    return alive / (alive + dead), future / (alive + dead), alive + dead


@pytest.mark.parametrize("params,case", [
    ((0.243, 4.414, 0.793, 2.426), (39.0, 2, 30.43, 38.86)),   # CDNOW customer 1
    ((0.243, 4.414, 0.793, 2.426), (52.0, 0, 0.0, 38.86)),     # no repeat purchase
    ((1.5, 80.0, 2.5, 5.0), (365.0, 15, 200.0, 730.0)),        # daily scale, a > 1
    ((0.5, 30.0, 1.0000001, 0.8), (90.0, 4, 60.0, 120.0)),     # a at the singular point 1
])
def test_closed_forms_match_numerical_integration(params, case):
    t, x, tx, T = case
    model = with_params(BetaGeoModel, BG_NAMES, params)
    p_alive, expected, total = brute_force(params, t, x, tx, T)
    assert total == pytest.approx(1.0, rel=1e-6)            # the log-likelihood
    assert model.probability_alive(x, tx, T)[0] == pytest.approx(p_alive, rel=1e-6)
    assert model.expected_purchases(t, x, tx, T)[0] == pytest.approx(expected, rel=1e-6)


def test_unconditional_expectation_matches_numerical_integration():
    params = (0.243, 4.414, 0.793, 2.426)
    model = with_params(BetaGeoModel, BG_NAMES, params)
    # a new customer (x = 0, t_x = 0, T = 0): the posterior is the prior
    _, expected, _ = brute_force(params, 78.0, 0, 0.0, 0.0)
    assert model.expected_purchases_new(78.0) == pytest.approx(expected, rel=1e-6)
    assert model.expected_purchases(78.0, 0, 0, 0)[0] == pytest.approx(expected, rel=1e-9)
    got = model.expected_purchases_new(np.array([0.0, 39.0, 78.0]))
    assert got[0] == 0 and 0 < got[1] < got[2]


# E[Y(t) | x, t_x, T] from the textbook formula (FHL 2005 eq. 10) evaluated with mpmath 1.4.1
# at 40 significant digits (mp.hyp2f1, no transformation), in a throwaway venv:
#   num = (a+b+x-1)/(a-1) * (1 - ((al+T)/(al+T+t))**(r+x) * hyp2f1(r+x, b+x, a+b+x-1,
#                                                                   t/(al+T+t)))
#   den = 1 + (x > 0) * a/(b+x-1) * ((al+T)/(al+tx))**(r+x);   E = num / den
# Hard cases for double precision: hundreds of purchases, horizons of years, tiny t.
MPMATH_CASES = [
    ((0.243, 4.414, 0.793, 2.426), (520.0, 200, 38.0, 38.86), 559.11559189435809),
    ((0.243, 4.414, 0.793, 2.426), (5000.0, 50, 100.0, 100.0), 302.94744807176952),
    ((0.243, 4.414, 0.793, 2.426), (10000.0, 0, 0.0, 10.0), 10.098845663091976),
    ((1.5, 80.0, 2.5, 5.0), (365.0, 500, 700.0, 730.0), 0.00017440802088871531),
    ((0.05, 1.0, 5.0, 50.0), (800.0, 75, 49.0, 49.75), 28.708243586489788),
    ((3.0, 10.0, 0.3, 10.0), (208.76, 287, 510.0, 516.05), 106.22413207858688),
    ((10.0, 1000.0, 0.1, 0.5), (0.001, 3, 5.0, 10.0), 1.2344593709897125e-5),
]


@pytest.mark.parametrize("params,case,expected", MPMATH_CASES)
def test_expected_purchases_extreme_cases_match_mpmath(params, case, expected):
    model = with_params(BetaGeoModel, BG_NAMES, params)
    assert model.expected_purchases(*case)[0] == pytest.approx(expected, rel=1e-8)


# ----------------------------------------------------------------------------- simulation


def simulate_bgnbd(params, T, horizon, rng):
    """Customers from the BG/NBD story; calibration (0, T], holdout (T, T + horizon]."""
    r, alpha, a, b = params
    n = T.size
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    x, tx, hold = np.zeros(n, int), np.zeros(n), np.zeros(n, int)
    alive_at_T = np.ones(n, bool)
    now, active = np.zeros(n), np.ones(n, bool)
    while active.any():
        idx = np.flatnonzero(active)
        now[idx] += rng.exponential(1 / lam[idx])
        over = now[idx] > T[idx] + horizon
        active[idx[over]] = False
        idx = idx[~over]
        cal = now[idx] <= T[idx]
        x[idx[cal]] += 1
        tx[idx[cal]] = now[idx[cal]]
        hold[idx[~cal]] += 1
        drops = rng.random(idx.size) < p[idx]
        active[idx[drops]] = False
        alive_at_T[idx[drops & cal]] = False
    return x, tx, hold, alive_at_T


TRUE_BG = (0.5, 8.0, 0.7, 3.0)


def test_bgnbd_recovers_simulated_parameters():
    rng = np.random.default_rng(2026)
    T = rng.uniform(26, 52, 5000)
    x, tx, _, _ = simulate_bgnbd(TRUE_BG, T, 0.0, rng)
    bg = BetaGeoModel().fit(x, tx, T)
    # within 4 standard errors (a 4-sigma band: a correct estimator fails it with
    # probability ~6e-5 per parameter); the SEs themselves are checked below
    z = (bg.params_ - np.array(TRUE_BG)) / bg.standard_errors_
    assert (z.abs() < 4).all(), z


def test_bgnbd_standard_errors_are_calibrated():
    """Over 40 simulated samples the z-scores of the log-parameters have sd ~ 1."""
    rng = np.random.default_rng(11)
    zs = []
    for _ in range(40):
        T = rng.uniform(26, 52, 1000)
        x, tx, _, _ = simulate_bgnbd(TRUE_BG, T, 0.0, rng)
        bg = BetaGeoModel().fit(x, tx, T)
        se_log = bg.standard_errors_ / bg.params_
        zs.append(((np.log(bg.params_) - np.log(TRUE_BG)) / se_log).to_numpy())
    zs = np.array(zs)
    # the sd of 40 standard normals lies in [0.6, 1.5] with probability > 0.9999
    sd = zs.std(axis=0, ddof=1)
    assert ((sd > 0.6) & (sd < 1.5)).all(), sd
    coverage = (np.abs(zs) < 1.96).mean(axis=0)
    assert (coverage >= 0.8).all(), coverage   # nominal 0.95; 0.8 is > 4 binomial sd below


def test_holdout_predictions_and_p_alive_are_unbiased_on_simulated_data():
    """With the true parameters, sum(actual - E[Y | calibration]) is a sum of independent
    mean-zero terms, so its z-score is ~ N(0, 1); likewise alive - P(alive)."""
    rng = np.random.default_rng(5)
    T = rng.uniform(26, 52, 20000)
    x, tx, hold, alive = simulate_bgnbd(TRUE_BG, T, 26.0, rng)
    model = with_params(BetaGeoModel, BG_NAMES, TRUE_BG)
    resid = hold - model.expected_purchases(26.0, x, tx, T)
    assert abs(resid.sum() / math.sqrt((resid ** 2).sum())) < 4
    p = model.probability_alive(x, tx, T)
    assert abs((alive - p).sum() / math.sqrt((p * (1 - p)).sum())) < 4
    # calibration bands: model and actual means agree within 4 standard errors
    for k in range(4):
        band = x == k
        r_k = resid[band]
        assert abs(r_k.mean()) < 4 * r_k.std(ddof=1) / math.sqrt(band.sum()) + 1e-12


TRUE_GG = (6.0, 4.0, 15.0)


def simulate_gamma_gamma(n, rng):
    p, q, g = TRUE_GG
    x = 1 + rng.poisson(1.5, n)
    nu = rng.gamma(q, 1 / g, n)                 # rate of the customer's spend
    zbar = rng.gamma(p * x, 1 / nu) / x         # mean of x Gamma(p, nu) transactions
    return x, zbar, p / nu                      # p / nu: the customer's true mean spend


def test_gamma_gamma_recovers_simulated_parameters():
    rng = np.random.default_rng(7)
    x, zbar, mean_spend = simulate_gamma_gamma(3000, rng)
    gg = GammaGammaModel().fit(x, zbar)
    z = (gg.params_ - np.array(TRUE_GG)) / gg.standard_errors_
    assert (z.abs() < 4).all(), z
    truth = with_params(GammaGammaModel, ["p", "q", "v"], TRUE_GG)
    resid = mean_spend - truth.expected_average_value(x, zbar)
    assert abs(resid.sum() / math.sqrt((resid ** 2).sum())) < 4


# ----------------------------------------------------------------------------- invariances


def test_time_unit_only_rescales_alpha(bg_cdnow, cdnow_summary):
    """Measuring time in days instead of weeks multiplies alpha by 7, leaves r, a, b, and
    moves the log-likelihood by -sum(x) log 7 (a density in time per repeat purchase)."""
    d = cdnow_summary
    days = BetaGeoModel().fit(d["frequency"], d["recency"] * 7, d["T"] * 7)
    expected = bg_cdnow.params_ * np.array([1, 7, 1, 1])
    np.testing.assert_allclose(days.params_, expected, rtol=1e-6)
    shift = -d["frequency"].sum() * math.log(7)
    assert days.log_likelihood_ == pytest.approx(bg_cdnow.log_likelihood_ + shift, rel=1e-10)
    np.testing.assert_allclose(
        days.expected_purchases(7 * 39, d["frequency"], d["recency"] * 7, d["T"] * 7),
        bg_cdnow.expected_purchases(39, d["frequency"], d["recency"], d["T"]), rtol=1e-5)


def test_weights_equal_duplicated_rows(bg_cdnow, cdnow_summary):
    d = cdnow_summary
    double = BetaGeoModel().fit(d["frequency"], d["recency"], d["T"],
                                weights=np.full(len(d), 2.0))
    np.testing.assert_allclose(double.params_, bg_cdnow.params_, rtol=1e-6)
    assert double.log_likelihood_ == pytest.approx(2 * bg_cdnow.log_likelihood_, rel=1e-10)
    np.testing.assert_allclose(double.standard_errors_ * math.sqrt(2),
                               bg_cdnow.standard_errors_, rtol=1e-4)
    stacked = pd.concat([d, d])
    dup = BetaGeoModel().fit(stacked["frequency"], stacked["recency"], stacked["T"])
    np.testing.assert_allclose(dup.params_, double.params_, rtol=1e-6)


def test_starting_values_do_not_matter(bg_cdnow, cdnow_summary):
    d = cdnow_summary
    for start in ({"r": 5, "alpha": 0.1, "a": 3, "b": 0.2}, [0.01, 100.0, 0.05, 20.0]):
        other = BetaGeoModel().fit(d["frequency"], d["recency"], d["T"], initial_params=start)
        np.testing.assert_allclose(other.params_, bg_cdnow.params_, rtol=1e-5)


def test_probability_alive_properties(bg_cdnow):
    # BG/NBD drops customers only right after a repeat purchase: x = 0 means alive
    assert (bg_cdnow.probability_alive([0, 0, 0], [0, 0, 0], [0.0, 10.0, 500.0]) == 1).all()
    # a purchase at the very end of observation: P(alive) = 1 / (1 + a / (b + x - 1))
    r, alpha, a, b = bg_cdnow.params_
    assert bg_cdnow.probability_alive(3, 20.0, 20.0)[0] == pytest.approx(1 / (1 + a / (b + 2)))
    # the longer the silence since the last purchase, the less likely alive
    pa = bg_cdnow.probability_alive(3, 10.0, np.array([10.0, 20, 40, 80]))
    assert (np.diff(pa) < 0).all()
    # more purchases with the same silence: less likely alive (a fast buyer gone quiet)
    pa = bg_cdnow.probability_alive(np.array([1, 5, 10]), 10.0, 40.0)
    assert (np.diff(pa) < 0).all()


def test_expected_purchases_properties(bg_cdnow):
    e = bg_cdnow.expected_purchases(np.array([0.0, 1, 10, 100]), 2, 30.43, 38.86)
    assert e[0] == 0 and (np.diff(e) > 0).all()
    # per-customer horizons broadcast against scalar history
    e2 = bg_cdnow.expected_purchases(np.array([1.0, 10.0]), [2, 2], [30.43, 30.43], 38.86)
    np.testing.assert_allclose(e2, e[1:3])
    # at t -> 0 the purchase rate is P(alive) x E[lambda | alive, data], and given alive
    # lambda ~ Gamma(r + x, alpha + T)
    r, alpha, a, b = bg_cdnow.params_
    rate_now = bg_cdnow.expected_purchases(1e-6, 10, 38.86, 38.86)[0] / 1e-6
    p_alive = bg_cdnow.probability_alive(10, 38.86, 38.86)[0]
    assert rate_now == pytest.approx(p_alive * (r + 10) / (alpha + 38.86), rel=1e-4)


def test_compressed_likelihood_equals_per_customer(bg_cdnow, cdnow_summary):
    d = cdnow_summary
    ll, _ = btyd._bgnbd_loglik(bg_cdnow.params_.to_numpy(), d["frequency"].to_numpy(float),
                               d["recency"].to_numpy(float), d["T"].to_numpy(float), grad=False)
    assert ll.sum() == pytest.approx(bg_cdnow.log_likelihood_, rel=1e-12)
    assert len(bg_cdnow._x) < len(d)           # identical rows were merged


def test_analytic_gradients_match_finite_differences(cdnow_summary, cdnow_rfm):
    d = cdnow_summary.iloc[:300]
    x, tx, T = (d[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    logp = np.log([0.3, 5.0, 0.9, 2.0])

    def total(lp):
        return btyd._bgnbd_loglik(np.exp(lp), x, tx, T, grad=False)[0].sum()

    _, g = btyd._bgnbd_loglik(np.exp(logp), x, tx, T)
    np.testing.assert_allclose(g.sum(axis=1), optimize.approx_fprime(logp, total, 1e-7),
                               rtol=1e-5)
    rep = cdnow_rfm[cdnow_rfm["frequency"] > 0]
    xm = rep["frequency"].to_numpy(float)
    m = rep["monetary_value"].to_numpy(float)
    logq = np.log([5.0, 3.0, 12.0])

    def total_gg(lp):
        return btyd._gg_loglik(np.exp(lp), xm, m, grad=False)[0].sum()

    _, g = btyd._gg_loglik(np.exp(logq), xm, m)
    np.testing.assert_allclose(g.sum(axis=1), optimize.approx_fprime(logq, total_gg, 1e-7),
                               rtol=1e-5)


def test_penalizer_shrinks(cdnow_summary, bg_cdnow):
    d = cdnow_summary
    pen = BetaGeoModel(penalizer=0.1).fit(d["frequency"], d["recency"], d["T"])
    assert (pen.params_ ** 2).sum() < (bg_cdnow.params_ ** 2).sum()
    assert pen.log_likelihood_ < bg_cdnow.log_likelihood_     # LL is reported unpenalized
    assert "penalizer=0.1" in repr(pen)


# ----------------------------------------------------------------------------- calibration/holdout


def test_calibration_holdout_matches_lifetimes_on_cdnow(cdnow_sample, cdnow_summary):
    ch = calibration_holdout(cdnow_sample, "sample_id", "date", "dollar_value",
                             calibration_end="1997-09-30", observation_end="1998-06-30",
                             freq="D", freq_multiplier=7)
    assert list(ch.columns) == ["sample_id", "frequency_cal", "recency_cal", "T_cal",
                                "monetary_value_cal", "frequency_holdout",
                                "monetary_value_holdout", "duration_holdout"]
    assert len(ch) == 2357
    # lifetimes 0.11.3 calibration_and_holdout_data(..., freq="D", freq_multiplier=7):
    # 1,882 holdout purchase days, duration 39 weeks
    assert ch["frequency_holdout"].sum() == 1882
    assert (ch["duration_holdout"] == 39.0).all()
    cal = ch.set_index("sample_id")
    np.testing.assert_array_equal(cal["frequency_cal"], cdnow_summary["frequency"])
    np.testing.assert_allclose(cal["recency_cal"].round(2), cdnow_summary["recency"])
    np.testing.assert_allclose(cal["T_cal"].round(2), cdnow_summary["T"])
    weekly = calibration_holdout(cdnow_sample, "sample_id", "date", None, "1997-09-30",
                                 "1998-06-30", freq="W")
    assert weekly["frequency_holdout"].sum() == 1788          # lifetimes, freq="W"
    assert "monetary_value_holdout" not in weekly.columns


def test_calibration_holdout_hand_case():
    tx = pd.DataFrame({
        "id": ["a", "a", "a", "a", "b", "c", "b"],
        "date": pd.to_datetime(["2024-01-01", "2024-01-20", "2024-02-15", "2024-02-15",
                                "2024-01-05", "2024-02-10", "2024-03-05"]),
        "amount": [10.0, 20.0, 5.0, 7.0, 8.0, 9.0, 100.0]})
    ch = calibration_holdout(tx, "id", "date", "amount", calibration_end="2024-01-31",
                             observation_end="2024-02-29")
    # c has no calibration purchase: left out; b's March purchase is after the end
    assert ch["id"].tolist() == ["a", "b"]
    assert ch["frequency_cal"].tolist() == [1, 0]
    assert ch["recency_cal"].tolist() == [19.0, 0.0]
    assert ch["T_cal"].tolist() == [30.0, 26.0]
    assert ch["monetary_value_cal"].tolist() == [20.0, 0.0]
    assert ch["frequency_holdout"].tolist() == [1, 0]          # two orders, one day
    assert ch["monetary_value_holdout"].tolist() == [12.0, 0.0]  # the day's total
    assert (ch["duration_holdout"] == 29.0).all()
    with pytest.raises(ValueError, match="before calibration_end"):
        calibration_holdout(tx, "id", "date", None, "2024-01-31", "2024-01-01")
    with pytest.raises(KeyError, match="missing column"):
        calibration_holdout(tx, "customer", "date", None, "2024-01-31")
    with pytest.raises(ValueError, match="no transactions on or before"):
        calibration_holdout(tx, "id", "date", None, "2023-01-31")
    with pytest.raises(TypeError, match="^calibration_holdout: calibration_end must be a date"):
        calibration_holdout(tx, "id", "date", None, 20240131)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs,match", [
    ({"frequency": [1, -1], "recency": [1, 0], "T": [2, 2]},
     r"frequency must be >= 0.*first at row 1: frequency=-1"),
    ({"frequency": [1, 1], "recency": [1, -2], "T": [2, 2]}, r"recency must be >= 0"),
    ({"frequency": [1, 1], "recency": [3, 1], "T": [2, 2]},
     r"recency must be <= T.*row 0: recency=3, T=2"),
    ({"frequency": pd.Series([0, 0], index=["c1", "c2"]), "recency": [0, 1.0], "T": [2, 2]},
     r"frequency 0 and recency > 0, first at row 1 \(index 'c2'\)"),
    ({"frequency": [1.5, 1], "recency": [1, 1], "T": [2, 2]}, r"whole number.*1\.5"),
    ({"frequency": [1, np.nan], "recency": [1, 1], "T": [2, 2]},
     r"frequency has 1 missing or infinite value\(s\), first at row 1"),
    ({"frequency": [1, 1, 1], "recency": [1, 1], "T": [2, 2]}, r"same length"),
])
def test_bgnbd_input_errors_name_argument_and_row(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BetaGeoModel().fit(**kwargs)


def test_other_input_errors(bg_cdnow):
    with pytest.raises(ValueError, match="weights must be >= 0"):
        BetaGeoModel().fit([1, 0], [1, 0], [2, 2], weights=[1, -1])
    with pytest.raises(ValueError, match="initial_params needs 4 values"):
        BetaGeoModel().fit([1, 0], [1, 0], [2, 2], initial_params=[1, 2])
    with pytest.raises(ValueError, match="penalizer must be a finite number >= 0"):
        BetaGeoModel(penalizer=-1).fit([1, 0], [1, 0], [2, 2])
    with pytest.raises(RuntimeError, match="not fitted"):
        BetaGeoModel().probability_alive(1, 1, 2)
    with pytest.raises(ValueError, match="t must be >= 0"):
        bg_cdnow.expected_purchases(-1, 1, 1, 2)
    gg = with_params(GammaGammaModel, ["p", "q", "v"], [6.25, 3.74, 15.44])
    with pytest.raises(ValueError, match="freq='Q' is not supported"):
        bg_cdnow.customer_lifetime_value(gg, [1], [1], [2], [10.0], freq="Q")
    with pytest.raises(TypeError, match="fitted GammaGammaModel"):
        bg_cdnow.customer_lifetime_value(bg_cdnow, [1], [1], [2], [10.0])
    with pytest.raises(ValueError, match="months must be >= 1"):
        bg_cdnow.customer_lifetime_value(gg, [1], [1], [2], [10.0], months=0)
    bad_q = with_params(GammaGammaModel, ["p", "q", "v"], [6.0, 0.9, 15.0])
    with pytest.raises(ValueError, match="q = 0.9 <= 1"):
        bad_q.expected_average_value([1], [10.0])


def test_gamma_gamma_input_errors():
    freq = pd.Series([0, 2, 3, 0], index=["a", "b", "c", "d"])
    value = pd.Series([0.0, 10.0, 30.0, 0.0], index=freq.index)
    with pytest.raises(ValueError, match=r"2 customer\(s\) have frequency 0.*index 'a'"):
        GammaGammaModel().fit(freq, value)
    with pytest.raises(ValueError, match=r"monetary_value must be > 0.*index 'c'"):
        GammaGammaModel().fit(freq, value.replace(30.0, 0.0), drop_non_repeat=True)
    with pytest.raises(ValueError, match="same length"):
        GammaGammaModel().fit([1, 2], [10.0])
    with pytest.raises(ValueError, match="no repeat buyers"):
        GammaGammaModel().fit([0, 0], [0.0, 0.0], drop_non_repeat=True)
    with pytest.raises(ValueError, match=r"missing or infinite value\(s\) among repeat buyers"):
        GammaGammaModel().fit([1, 2], [np.nan, 10.0])
    # a missing spend is fine where there is no repeat purchase (it is not used)
    gg = with_params(GammaGammaModel, ["p", "q", "v"], [6.25, 3.74, 15.44])
    got = gg.expected_average_value([0, 1], [np.nan, 40.0])
    np.testing.assert_allclose(got, [6.25 * 15.44 / 2.74, 6.25 * 55.44 / 8.99])
    with pytest.raises(ValueError, match="monetary_value must be a number >= 0"):
        gg.expected_average_value([1, 2], [10.0, np.nan])


def test_gamma_gamma_drop_non_repeat_counts(cdnow_rfm):
    gg = GammaGammaModel().fit(cdnow_rfm["frequency"], cdnow_rfm["monetary_value"],
                               drop_non_repeat=True)
    assert gg.n_dropped_ == 2357 - 946 and gg.n_customers_ == 946
    assert gg.params_.round(2).to_dict() == {"p": 6.25, "q": 3.74, "v": 15.44}


def test_convergence_error_without_repeat_purchases():
    # no repeat purchase at all: a and b are not identified, r runs to 0
    with pytest.raises(ConvergenceError, match="not identified|runs off") as info:
        BetaGeoModel().fit([0] * 50, [0] * 50, np.linspace(5, 40, 50))
    assert info.value.params is not None and info.value.results


def test_convergence_error_with_homogeneous_spend():
    # identical spend: no heterogeneity, q and gamma run off to infinity
    with pytest.raises(ConvergenceError, match="runs off.*penalizer"):
        GammaGammaModel().fit([1, 2, 3, 4, 5], [10.0] * 5)
    assert GammaGammaModel(penalizer=0.01).fit([1, 2, 3, 4, 5], [10.0] * 5).params_.gt(0).all()


def test_convergence_error_carries_optimizer_message(monkeypatch, cdnow_summary):
    def stuck(fun, x0, *args, **kwargs):
        return optimize.OptimizeResult(x=np.asarray(x0, float), success=False, nit=0,
                                       message="forced failure for the test")

    monkeypatch.setattr(btyd.optimize, "minimize", stuck)
    d = cdnow_summary
    with pytest.raises(ConvergenceError, match="did not converge.*forced failure") as info:
        BetaGeoModel().fit(d["frequency"], d["recency"], d["T"])
    assert len(info.value.results) == 3          # L-BFGS-B, Nelder-Mead, L-BFGS-B


# ----------------------------------------------------------------------------- plots


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_plots(bg_cdnow, cdnow_sample, lang):
    ch = calibration_holdout(cdnow_sample, "sample_id", "date", None, "1997-09-30",
                             "1998-06-30", freq="D", freq_multiplier=7)
    fig, (ax1, ax2) = plt.subplots(1, 2)
    try:
        assert probability_alive_matrix(bg_cdnow, ax=ax1, lang=lang, freq="W") is ax1
        assert calibration_purchases_vs_holdout(bg_cdnow, ch, ax=ax2, lang=lang,
                                                     freq="W") is ax2
        image = ax1.get_images()[0].get_array()
        assert image.shape == (30, 40)                     # frequency 0..29 x recency 0..38.86
        assert np.all(image[0] == 1) and image.min() >= 0 and image.max() <= 1
        actual, model = (line.get_ydata() for line in ax2.get_lines()[:2])
        assert len(actual) == len(model) == 8              # calibration frequency 0..6, 7+
        assert np.all(np.abs(np.asarray(model) - np.asarray(actual)) < 0.6)
        for ax in (ax1, ax2):
            texts = [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
            assert all(texts)
            if lang == "zh":
                assert all(any("\u4e00" <= ch <= "\u9fff" for ch in s) for s in texts)
        unit = "周" if lang == "zh" else "weeks"
        assert unit in ax1.get_xlabel() and unit in ax2.get_title()
        assert "(" in ax2.get_ylabel() or "（" in ax2.get_ylabel()
    finally:
        plt.close(fig)


def test_plot_errors(bg_cdnow):
    with pytest.raises(TypeError, match="must be a BetaGeoModel"):
        probability_alive_matrix(GammaGammaModel())
    with pytest.raises(RuntimeError, match="not fitted"):
        probability_alive_matrix(BetaGeoModel())
    with pytest.raises(KeyError, match="missing column"):
        calibration_purchases_vs_holdout(bg_cdnow, pd.DataFrame({"frequency_cal": [1]}))
    with pytest.raises(ValueError, match="unsupported language"):
        probability_alive_matrix(bg_cdnow, lang="fr")

"""Buy-till-you-die models by maximum likelihood: BG/NBD, MBG/CNBD-k and Gamma-Gamma.

Three models in the lifelines / scikit-learn style (``fit(...)`` returns the model,
estimates end in ``_``), written with numpy and scipy only (``lifetimes`` is unmaintained
and no dependency, and no maintained Python package has MBG/CNBD-k; DOMAIN.md section 6):

:class:`BetaGeoModel`
    BG/NBD (Fader, Hardie & Lee 2005): while "alive" a customer buys as a Poisson process
    with rate λ ~ Gamma(shape r, rate α); after each purchase she drops out with
    probability p ~ Beta(a, b). Input per customer: ``frequency`` x (repeat purchases),
    ``recency`` t_x (time of the last purchase after the first) and ``T`` (time from the
    first purchase to the end of observation), in any one time unit.
:class:`MBGCNBDModel`
    MBG/CNBD-k (Reutterer, Platzer & Schröder 2020), the model of the R package
    BTYDplus: as BG/NBD, but the times between purchases are Erlang-k (k = 1 memoryless,
    larger k regular, as maintenance visits are) and a customer can also drop out at
    the first purchase. Input adds ``litt``, the sum of the log inter-purchase times, to
    choose k. :func:`estimate_regularity` (Wheat & Morrison 1990) tells whether a
    store's visits are regular at all; :func:`compare_holdout` fits BG/NBD and
    MBG/CNBD-k on a calibration period and scores both on the held-out one.
:class:`GammaGammaModel`
    Gamma-Gamma spend model (Fader & Hardie 2013, following Colombo & Jiang 1999): a
    customer's transaction values are Gamma(p, ν) with ν ~ Gamma(q, γ); input per repeat
    buyer: ``frequency`` x and ``monetary_value`` z̄, the mean value of the x repeat
    transactions. Its scale γ is called ``v`` in :attr:`GammaGammaModel.params_`, as in
    lifetimes.

Plus :func:`calibration_holdout` (lifetimes' ``calibration_and_holdout_data`` on top of
:func:`crm_analysis.features.rfm_summary`); the two diagnostic charts are
:func:`crm_analysis.plots.probability_alive_matrix` and
:func:`crm_analysis.plots.calibration_purchases_vs_holdout`.

Estimation
----------
The parameters are estimated on the log scale (so they stay positive) with
:func:`scipy.optimize.minimize` (L-BFGS-B with the analytic gradient, log-parameters
bounded to [-30, 30]; when that stops short, Nelder-Mead and L-BFGS-B again), followed by
up to five Newton steps that polish the optimum. Identical rows are merged into one
weighted row first (the same likelihood, fewer terms), and BLAS runs single-threaded
during the fit (see ``_one_blas_thread``). The objective, as in lifetimes, is the
weighted *mean* negative log-likelihood plus ``penalizer × Σ θ²`` (natural-scale
parameters θ), so a penalizer means the same for 100 and 100,000 customers. The
log-likelihood is computed in log space (``gammaln``, ``betaln``, and ``logaddexp`` for
the two terms of the BG/NBD mixture). When the optimizer cannot find a stationary point,
a parameter runs off towards 0 or infinity, or the Hessian at the optimum is not
positive definite (parameters not identified), :class:`ConvergenceError` is raised with
the optimizer's messages.

Standard errors come from the Hessian of the negative total (penalized) log-likelihood
with respect to the log-parameters, by central differences of the analytic gradient with a
step of ``HESSIAN_STEP`` = 1e-5 in each log-parameter (a relative step of 1e-5 in the
parameter; the differencing error is about 1e-10 relative, far below the sampling error).
At the optimum the gradient is zero, so the covariance of the natural parameters is
exactly ``diag(θ) · H⁻¹ · diag(θ)``; :attr:`summary` gives the 95% intervals on the log
scale, ``θ · exp(±1.96 · se/θ)``, which stay positive (lifetimes uses ``θ ± 1.96 se``).

Reproducing the published CDNOW results
---------------------------------------
``data/external/cdnow/`` (see its README) holds the 1-in-10 CDNOW sample of Fader, Hardie &
Lee (2005), 2,357 customers, 39-week calibration period ending 1997-09-30:

- BG/NBD on ``cdnow_customers_summary.csv`` (weeks) gives r = 0.243, α = 4.414,
  a = 0.793, b = 2.426, log-likelihood −9582.4, as published.
- Gamma-Gamma: Fader & Hardie's p = 6.25, q = 3.74, γ = 15.44 come from the 946 repeat
  buyers of that sample, with z̄ = mean value of the repeat *purchase days* of the
  calibration period (transactions of the same day summed; the first day excluded)::

      sample = pd.read_csv("data/external/cdnow/CDNOW_sample.txt.gz", sep=r"\\s+",
                           header=None, names=["customer_id", "sample_id", "date",
                                               "number_of_cds", "dollar_value"],
                           dtype={"customer_id": str, "date": str})
      sample["date"] = pd.to_datetime(sample["date"], format="%Y%m%d")
      rfm = rfm_summary(sample, "sample_id", "date", "dollar_value",
                        as_of="1997-09-30", freq="D", freq_multiplier=7)
      repeat = rfm[rfm["frequency"] > 0]
      GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])

  which is lifetimes' ``cdnow_customers_summary_with_transactions.csv`` (column ``zbar``)
  before its rounding to cents; ``tests/test_btyd.py`` checks both fits.

Time units
----------
The models do not know the time unit: predictions are in the unit of ``recency`` and
``T`` (weeks for the CDNOW summary, days for ``rfm_summary(..., freq="D")``). Functions
that need a calendar (customer lifetime value by month, labels of the plots) take
``freq``: ``"D"`` (days), ``"W"`` (weeks), ``"M"`` (months), ``"h"`` (hours). A month is
365.25 / 12 = 30.4375 days (:data:`PERIODS_PER_MONTH`), not lifetimes' 30 days / 4.345
weeks; pass a number of time units per month as ``freq`` to use another length (``freq=30``
reproduces lifetimes' ``freq="D"``).

Example
-------
>>> from pathlib import Path
>>> import pandas as pd
>>> import crm_analysis
>>> from crm_analysis.btyd import BetaGeoModel
>>> cdnow_dir = Path(crm_analysis.__file__).parents[1] / "data" / "external" / "cdnow"
>>> cdnow = pd.read_csv(cdnow_dir / "cdnow_customers_summary.csv")
>>> bg = BetaGeoModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
>>> bg.params_.round(3).to_dict()
{'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}
>>> round(bg.log_likelihood_, 1)
-9582.4
>>> bg.probability_alive(frequency=[0, 2], recency=[0.0, 30.43], T=[38.86, 38.86]).round(4)
array([1.    , 0.7266])
>>> bg.expected_purchases(39, frequency=2, recency=30.43, T=38.86).round(4)  # next 39 weeks
array([1.2259])
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from crm_analysis._inputs import (
    caller,
    check_bool,
    check_choice,
    check_int,
    check_number,
    read_as_of,
    require_columns,
    to_pandas,
)
from crm_analysis.features import _FREQ_ALIASES, rfm_summary

__all__ = [
    "HESSIAN_STEP",
    "PERIODS_PER_MONTH",
    "BetaGeoModel",
    "ConvergenceError",
    "BTYD_MODELS",
    "GammaGammaModel",
    "HoldoutComparison",
    "MBGCNBDModel",
    "calibration_holdout",
    "compare_holdout",
    "estimate_regularity",
    "fit_model",
    "FirstFit",
    "HoldoutSummary",
    "SpendFit",
    "VisitProfile",
    "fit_first",
    "fit_spend",
    "holdout_summary",
    "lifetime_values",
    "monthly_discount_rate",
    "recent_customers",
    "regularity_pattern",
    "visit_profile",
]

#: Step in each log-parameter of the finite-difference Hessian (see the module docstring).
HESSIAN_STEP = 1e-5

_DAYS_PER_MONTH = 365.25 / 12
#: Model time units per calendar month, by ``freq`` code (a month is 365.25 / 12 days).
PERIODS_PER_MONTH: dict[str, float] = {
    "D": _DAYS_PER_MONTH,
    "W": _DAYS_PER_MONTH / 7,
    "M": 1.0,
    "h": _DAYS_PER_MONTH * 24,
}

_LOG_BOUND = 30.0          # log-parameters are kept in [-30, 30]
_RUNAWAY = 25.0            # |log θ| beyond this at the optimum: the parameter diverges
_GTOL = 1e-6               # max |gradient| of the mean NLL w.r.t. log-parameters
_Z95 = 1.959963984540054   # standard normal 97.5% quantile


class ConvergenceError(RuntimeError):
    """The optimizer found no maximum of the likelihood.

    ``results`` holds the :class:`scipy.optimize.OptimizeResult` of every attempt, and
    ``params`` the (natural-scale) parameters where the last one stopped.
    """

    def __init__(self, message: str, results: list | None = None,
                 params: pd.Series | None = None) -> None:
        super().__init__(message)
        self.results = results or []
        self.params = params


# --------------------------------------------------------------------------- input checks


def _describe_row(pos: int, index: pd.Index | None) -> str:
    if index is None:
        return f"row {pos}"
    label = index[pos]
    label = label.item() if isinstance(label, np.generic) else label
    return f"row {pos} (index {label!r})"


def _to_array(value: Any, name: str, *, allow_missing: bool = False
              ) -> tuple[np.ndarray, pd.Index | None]:
    """A 1-D float array (and the pandas index, if any) with a clear error.

    Missing or infinite values are an error unless ``allow_missing`` (the caller checks).
    """
    index = value.index if isinstance(value, pd.Series) else None
    try:
        if isinstance(value, pd.Series):
            arr = value.to_numpy(dtype=float, na_value=np.nan)
        else:
            arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{caller()}: {name} must be numeric, got {type(value).__name__}") from exc
    if arr.ndim > 1:
        raise ValueError(f"{caller()}: {name} must be one-dimensional, got shape {arr.shape}")
    arr = np.atleast_1d(arr)
    bad = ~np.isfinite(arr)
    if bad.any() and not allow_missing:
        pos = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{caller()}: {name} has {int(bad.sum())} missing or infinite value(s), "
                         f"first at {_describe_row(pos, index)}: {arr[pos]}")
    return arr, index


def _first_bad(mask: np.ndarray, index: pd.Index | None) -> tuple[int, int, str]:
    pos = int(np.flatnonzero(mask)[0])
    return int(mask.sum()), pos, _describe_row(pos, index)


def _check_rfm(frequency: Any, recency: Any, T: Any
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Index | None]:
    """Validated frequency / recency / T arrays (broadcast to one length)."""
    x, ix = _to_array(frequency, "frequency")
    tx, it = _to_array(recency, "recency")
    T_, iT = _to_array(T, "T")
    try:
        x, tx, T_ = np.broadcast_arrays(x, tx, T_)
    except ValueError:
        raise ValueError(f"{caller()}: frequency, recency and T must have the same length, got "
                         f"{x.size}, {tx.size} and {T_.size}") from None
    index = next((i for i in (ix, it, iT) if i is not None and len(i) == x.size), None)
    for name, arr in (("frequency", x), ("recency", tx), ("T", T_)):
        if (arr < 0).any():
            n, pos, row = _first_bad(arr < 0, index)
            raise ValueError(f"{caller()}: {name} must be >= 0; {n} negative value(s), first at "
                             f"{row}: {name}={arr[pos]:g}")
    if (x != np.round(x)).any():
        n, pos, row = _first_bad(x != np.round(x), index)
        raise ValueError(f"{caller()}: frequency counts repeat purchases and must be a whole "
                         f"number; {n} value(s) are not, first at {row}: frequency={x[pos]:g}")
    late = tx > T_ * (1 + 1e-9) + 1e-12
    if late.any():
        n, pos, row = _first_bad(late, index)
        raise ValueError(f"{caller()}: recency must be <= T (the last purchase cannot be after the "
                         f"end of observation); {n} row(s) have recency > T, first at {row}: "
                         f"recency={tx[pos]:g}, T={T_[pos]:g}")
    ghost = (x == 0) & (tx > 0)
    if ghost.any():
        n, pos, row = _first_bad(ghost, index)
        raise ValueError(f"{caller()}: a customer without repeat purchases (frequency 0) must have "
                         f"recency 0; {n} row(s) have frequency 0 and recency > 0, first at "
                         f"{row}: recency={tx[pos]:g}")
    return x.astype(float), np.minimum(tx, T_).astype(float), T_.astype(float), index


def _check_horizon(t: Any, x: np.ndarray, tx: np.ndarray, T: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The forecast horizon ``t`` (>= 0, a scalar or one per customer) broadcast with the
    validated frequency / recency / T arrays."""
    t_arr, _ = _to_array(t, "t")
    if (t_arr < 0).any():
        raise ValueError(f"{caller()}: t must be >= 0, got {t_arr[t_arr < 0][0]:g}")
    try:
        t_arr, x, tx, T = np.broadcast_arrays(t_arr, x, tx, T)
    except ValueError:
        raise ValueError(f"{caller()}: t must be a scalar or have one value per customer") \
            from None
    return t_arr, x, tx, T


def _check_weights(weights: Any, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w, index = _to_array(weights, "weights")
    if w.size != n:
        raise ValueError(f"{caller()}: weights must have one value per customer ({n}), got "
                         f"{w.size}")
    if (w < 0).any():
        cnt, pos, row = _first_bad(w < 0, index)
        raise ValueError(f"{caller()}: weights must be >= 0; {cnt} negative, first at {row}: "
                         f"{w[pos]:g}")
    if not w.sum() > 0:
        raise ValueError(f"{caller()}: the weights sum to 0")
    return w


def _check_initial(initial_params: Any, names: tuple[str, ...], default: np.ndarray
                   ) -> np.ndarray:
    if initial_params is None:
        return default
    if isinstance(initial_params, dict | pd.Series):
        missing = [k for k in names if k not in initial_params]
        if missing:
            raise ValueError(f"{caller()}: initial_params is missing {missing}; give {list(names)}")
        values = np.array([float(initial_params[k]) for k in names])
    else:
        values = np.asarray(initial_params, dtype=float).ravel()
        if values.size != len(names):
            raise ValueError(f"{caller()}: initial_params needs {len(names)} values "
                             f"{list(names)}, got {values.size}")
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise ValueError(f"{caller()}: initial_params must be finite and > 0, got "
                         f"{values.tolist()}")
    return values


def _compress(columns: tuple[np.ndarray, ...], w: np.ndarray
              ) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Identical rows merged, their weights summed: the same log-likelihood, fewer terms."""
    keep = w > 0
    cols = [np.asarray(c)[keep] for c in columns]
    if not len(cols[0]):
        return tuple(c.copy() for c in cols), np.zeros(0)
    # the rows in lexicographic order (first column first), as np.unique(axis=0) gives
    # them, but by a lexsort of the columns: np.unique(axis=0) sorts a structured view
    # and took 4 of the 5 seconds of a fit on a million customers
    order = np.lexsort(cols[::-1])
    cols = [c[order] for c in cols]
    start = np.zeros(len(order), bool)
    start[0] = True
    for c in cols:
        start[1:] |= c[1:] != c[:-1]
    group = np.cumsum(start) - 1
    weights = np.bincount(group, weights=w[keep][order], minlength=int(group[-1]) + 1)
    return tuple(c[start] for c in cols), weights


def _wrap(values: np.ndarray, index: pd.Index | None, name: str | None = None):
    """A Series on the input's index when there was one, else the array."""
    if index is not None and len(index) == values.size:
        return pd.Series(values, index=index, name=name)
    return values


# --------------------------------------------------------------------------- likelihoods


def _bgnbd_loglik(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray,
                  grad: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-customer BG/NBD log-likelihood and its gradient w.r.t. the log-parameters.

    Fader, Hardie & Lee (2005)::

        L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
            + 1{x>0} · B(a+1, b+x−1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))
    """
    r, alpha, a, b = params
    rx = r + x
    a1 = gammaln(rx) - gammaln(r) + r * math.log(alpha)
    base = betaln(a, b)
    a2 = betaln(a, b + x) - base - rx * np.log(alpha + T)
    rep = x > 0
    a3 = np.full_like(x, -np.inf)
    xr = x[rep]
    a3[rep] = betaln(a + 1, b + xr - 1) - base - rx[rep] * np.log(alpha + tx[rep])
    mix = np.logaddexp(a2, a3)
    ll = a1 + mix
    if not grad:
        return ll, None
    w3 = np.exp(a3 - mix)           # share of the "dropped out at t_x" term (0 when x = 0)
    w2 = 1.0 - w3
    psi_ab = digamma(a + b)
    psi_abx = digamma(a + b + x)
    d_r = digamma(rx) - digamma(r) + math.log(alpha) \
        - w2 * np.log(alpha + T) - w3 * np.log(alpha + tx)
    d_alpha = r / alpha - rx * (w2 / (alpha + T) + w3 / (alpha + tx))
    d_a = w2 * (psi_ab - psi_abx) \
        + w3 * (digamma(a + 1) - digamma(a) + psi_ab - psi_abx)
    bx1 = np.where(rep, b + x - 1, 1.0)     # placeholder where x = 0 (w3 = 0 there)
    d_b = w2 * (digamma(b + x) - digamma(b) + psi_ab - psi_abx) \
        + w3 * (digamma(bx1) - digamma(b) + psi_ab - psi_abx)
    g = np.stack([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
    return ll, g


def _gg_loglik(params: np.ndarray, x: np.ndarray, m: np.ndarray,
               grad: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-customer Gamma-Gamma log-likelihood of the mean spend z̄ = m of x transactions.

    Fader & Hardie (2013)::

        f(z̄ | p, q, γ; x) = Γ(px+q) / (Γ(px) Γ(q)) · γ^q x^(px) z̄^(px−1) / (γ + x z̄)^(px+q)
    """
    p, q, v = params
    px = p * x
    log_xm_v = np.log(v + x * m)
    ll = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * math.log(v)
          + px * np.log(x) + (px - 1) * np.log(m) - (px + q) * log_xm_v)
    if not grad:
        return ll, None
    psi = digamma(px + q)
    d_p = x * (psi - digamma(px) + np.log(x) + np.log(m) - log_xm_v)
    d_q = psi - digamma(q) + math.log(v) - log_xm_v
    d_v = q / v - (px + q) / (v + x * m)
    g = np.stack([d_p * p, d_q * q, d_v * v])
    return ll, g


# --------------------------------------------------------------------------- fitting


_BLAS_CONTROLLER: list = []


def _one_blas_thread():
    """A context that runs BLAS (OpenBLAS) single-threaded, when threadpoolctl is there.

    scipy's L-BFGS-B calls BLAS on tiny vectors; with OpenBLAS's worker threads competing
    for the cores of a busy machine each call cost ~2.5 ms instead of microseconds
    (measured: a CDNOW fit took 0.17 s instead of 0.02 s). threadpoolctl comes with
    scikit-learn; without it the fit still works, only slower on such machines.
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - scikit-learn depends on threadpoolctl
        return contextlib.nullcontext()
    if not _BLAS_CONTROLLER:
        _BLAS_CONTROLLER.append(ThreadpoolController())
    return _BLAS_CONTROLLER[0].limit(limits=1, user_api="blas")


class _MLEModel:
    """Shared fitting machinery: optimizer, Hessian, standard errors, summary."""

    _names: tuple[str, ...] = ()

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    # -- subclasses provide the per-customer log-likelihood on their stored data
    def _loglik(self, params: np.ndarray, grad: bool = True):  # pragma: no cover
        raise NotImplementedError

    def _objective(self, logp: np.ndarray) -> tuple[float, np.ndarray]:
        """Weighted mean negative log-likelihood + penalty, and its gradient (log-params)."""
        params = np.exp(logp)
        with np.errstate(all="ignore"):
            ll, g = self._loglik(params)
            f = -float(np.sum(self._w * ll)) / self._wsum \
                + self.penalizer * float(np.sum(params ** 2))
            grad = -np.sum(g * self._w, axis=1) / self._wsum \
                + 2.0 * self.penalizer * params ** 2
        if not np.isfinite(f) or not np.isfinite(grad).all():
            return np.inf, np.zeros_like(logp)
        return f, grad

    def _gradient(self, logp: np.ndarray) -> np.ndarray:
        return self._objective(logp)[1]

    def _hessian(self, logp: np.ndarray) -> np.ndarray:
        """Hessian of the mean objective by central differences of the analytic gradient."""
        k = logp.size
        h = HESSIAN_STEP
        H = np.empty((k, k))
        for j in range(k):
            e = np.zeros(k)
            e[j] = h
            H[:, j] = (self._gradient(logp + e) - self._gradient(logp - e)) / (2 * h)
        return (H + H.T) / 2

    def _optimize(self, x0: np.ndarray) -> tuple[np.ndarray, list]:
        bounds = [(-_LOG_BOUND, _LOG_BOUND)] * x0.size
        lbfgs = {"maxiter": 5000, "maxfun": 20000, "ftol": 1e-15, "gtol": 1e-10}
        results = []
        f0, _ = self._objective(x0)
        if not np.isfinite(f0):
            raise ConvergenceError(
                f"{caller()}: the log-likelihood is not finite at the starting values "
                f"{dict(zip(self._names, np.exp(x0).round(6).tolist(), strict=True))}; "
                "give other initial_params", results)
        res = optimize.minimize(self._objective, x0, jac=True, method="L-BFGS-B",
                                bounds=bounds, options=lbfgs)
        results.append(res)
        best = res.x
        if not self._stationary(best) and np.abs(best).max() <= _RUNAWAY:
            res = optimize.minimize(lambda z: self._objective(z)[0], best, method="Nelder-Mead",
                                    options={"maxiter": 4000, "maxfev": 4000, "xatol": 1e-10,
                                             "fatol": 1e-15, "adaptive": True})
            results.append(res)
            res = optimize.minimize(self._objective, np.clip(res.x, -_LOG_BOUND, _LOG_BOUND),
                                    jac=True, method="L-BFGS-B", bounds=bounds, options=lbfgs)
            results.append(res)
            best = res.x
        best = self._newton_polish(best)
        params = pd.Series(np.exp(best), index=list(self._names))
        messages = "; ".join(f"{r.get('message', '')}" for r in results)
        hint = ("a larger penalizer" if self.penalizer > 0
                else "a small penalizer (0.001–0.1)")
        if np.abs(best).max() > _RUNAWAY:
            name = self._names[int(np.argmax(np.abs(best)))]
            raise ConvergenceError(
                f"{caller()}: parameter {name!r} runs off to {params[name]:.3g}: the likelihood "
                "has no finite maximum on these data (too few customers or repeat purchases?); "
                f"{hint} may keep the parameters finite. Optimizer: {messages}",
                results, params)
        if not self._stationary(best):
            g = np.abs(self._gradient(best)).max()
            raise ConvergenceError(
                f"{caller()}: the optimizer did not converge (max |gradient| {g:.2g} at "
                f"{params.round(6).to_dict()}). Optimizer: {messages}. Try other "
                f"initial_params or {hint}.", results, params)
        return best, results

    def _stationary(self, logp: np.ndarray) -> bool:
        f, g = self._objective(logp)
        return bool(np.isfinite(f) and np.abs(g).max() < _GTOL)

    def _newton_polish(self, logp: np.ndarray) -> np.ndarray:
        """Up to five Newton steps on the log-parameters, kept only while they help."""
        f, g = self._objective(logp)
        for _ in range(5):
            if not np.isfinite(f) or np.abs(g).max() < 1e-12:
                break
            H = self._hessian(logp)
            try:
                np.linalg.cholesky(H)           # positive definite: a descent direction
                step = np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                break
            cand = np.clip(logp - step, -_LOG_BOUND, _LOG_BOUND)
            f_new, g_new = self._objective(cand)
            if not (f_new <= f and np.abs(g_new).max() < np.abs(g).max()):
                break
            logp, f, g = cand, f_new, g_new
        return logp

    def _finish_fit(self, logp: np.ndarray, results: list) -> None:
        params = np.exp(logp)
        self.params_ = pd.Series(params, index=list(self._names), name="coef")
        ll, _ = self._loglik(params, grad=False)
        self.log_likelihood_ = float(np.sum(self._w * ll))
        # Hessian of the total (not mean) penalized negative log-likelihood, log-parameters
        H = self._hessian(logp) * self._wsum
        self.hessian_ = pd.DataFrame(H, index=self.params_.index, columns=self.params_.index)
        try:
            np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            raise ConvergenceError(
                f"{caller()}: no proper maximum: the Hessian of the log-likelihood is not "
                f"negative definite at {self.params_.round(6).to_dict()}, so some parameters "
                "are not identified by these data (e.g. no repeat purchases at all, or a "
                "flat likelihood). More data, or a penalizer > 0, may help.",
                results, self.params_.copy()) from None
        cov_log = np.linalg.inv(H)
        cov = cov_log * np.outer(params, params)
        self.variance_matrix_ = pd.DataFrame(cov, index=self.params_.index,
                                             columns=self.params_.index)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(cov)), index=self.params_.index,
                                          name="se(coef)")

    def _check_fitted(self, where: str | None = None) -> None:
        if not hasattr(self, "params_"):
            raise RuntimeError(f"{caller(where)}: the {type(self).__name__} is not fitted; "
                               "call fit(...) first")

    @property
    def summary(self) -> pd.DataFrame:
        """coef, se(coef) and a 95% interval per parameter (log-scale Wald interval)."""
        self._check_fitted(f"{type(self).__name__}.summary")
        coef, se = self.params_, self.standard_errors_
        half = _Z95 * se / coef
        return pd.DataFrame({"coef": coef, "se(coef)": se,
                             "lower 95%": coef * np.exp(-half),
                             "upper 95%": coef * np.exp(half)})

    def __repr__(self) -> str:
        name = type(self).__name__
        if not hasattr(self, "params_"):
            return f"<{name}(penalizer={self.penalizer}): not fitted>"
        ps = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return (f"<{name}(penalizer={self.penalizer}): {self.n_customers_} customers, {ps}, "
                f"log-likelihood {self.log_likelihood_:.2f}>")


# --------------------------------------------------------------------------- BG/NBD


class BetaGeoModel(_MLEModel):
    """BG/NBD model (Fader, Hardie & Lee 2005), fitted by maximum likelihood.

    Parameters
    ----------
    penalizer:
        L2 penalty ``penalizer × (r² + α² + a² + b²)`` added to the *mean* negative
        log-likelihood of the data as given; 0 gives the MLE. This is *not* lifetimes'
        ``penalizer_coef``: lifetimes divides recency and T by their maximum before
        fitting, so its penalty acts on the rescaled α (on CDNOW at 0.1 this penalty
        gives α = 0.571 where lifetimes gives 4.219); the two agree only at 0.

    Attributes (after :meth:`fit`)
    ------------------------------
    params_:
        Series ``r``, ``alpha``, ``a``, ``b``.
    log_likelihood_:
        The total (weighted) log-likelihood at the estimate, without the penalty.
    standard_errors_, variance_matrix_, hessian_:
        From the inverse Hessian (see the module docstring); :attr:`summary` tabulates them.
    n_customers_:
        Customers with a positive weight.

    Example
    -------
    >>> import pandas as pd
    >>> rfm = pd.DataFrame({"frequency": [0, 2, 5], "recency": [0.0, 30.4, 12.0],
    ...                     "T": [38.9, 38.9, 38.9]}, index=["c1", "c2", "c3"])
    >>> bg = BetaGeoModel()
    >>> bg.params_ = pd.Series({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    >>> bg.probability_alive(rfm["frequency"], rfm["recency"], rfm["T"]).round(3)
    c1    1.000
    c2    0.726
    c3    0.048
    Name: probability_alive, dtype: float64

    (Setting ``params_`` by hand, as here, is how to use published parameters; normally
    they come from :meth:`fit`.)
    """

    _names = ("r", "alpha", "a", "b")

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None,
            initial_params: Any = None) -> BetaGeoModel:
        """Estimate r, α, a, b by maximum likelihood; returns the model.

        Parameters
        ----------
        frequency, recency, T:
            Per customer: repeat purchases x (whole numbers >= 0), time of the last
            purchase t_x and age T (same time unit, 0 <= t_x <= T; t_x = 0 when x = 0),
            e.g. the columns of :func:`crm_analysis.features.rfm_summary`.
        weights:
            Optional number of customers each row stands for (compressed data).
        initial_params:
            Starting values (dict/Series by name, or r, α, a, b). Default: r = 1, α = the
            mean T (so that the starting rate is on the data's time scale), a = b = 1.
        """
        x, tx, T_, _ = _check_rfm(frequency, recency, T)
        check_number(self.penalizer, "penalizer", minimum=0)
        w = _check_weights(weights, x.size)
        default = np.array([1.0, max(float(np.average(T_, weights=w)), 1e-6), 1.0, 1.0])
        x0 = np.log(_check_initial(initial_params, self._names, default))
        (self._x, self._tx, self._T), self._w = _compress((x, tx, T_), w)
        self._wsum = float(w.sum())
        with _one_blas_thread():
            logp, results = self._optimize(x0)
            self._finish_fit(logp, results)
        self.optimizer_results_ = results
        self.n_customers_ = int((w > 0).sum())
        self.data_ = pd.DataFrame({"frequency": x, "recency": tx, "T": T_, "weights": w})
        return self

    def _loglik(self, params: np.ndarray, grad: bool = True):
        return _bgnbd_loglik(params, self._x, self._tx, self._T, grad)

    # -- predictions --------------------------------------------------------------

    def _unpack(self) -> tuple[float, float, float, float]:
        r, alpha, a, b = (float(v) for v in self.params_)
        return r, alpha, a, b

    def probability_alive(self, frequency: Any, recency: Any, T: Any):
        """P(alive at T | x, t_x, T) (one over the denominator of FHL 2005 eq. 10)::

            1 / (1 + 1{x>0} · a / (b+x−1) · ((α+T)/(α+t_x))^(r+x))

        It is 1 for a customer without repeat purchases: in BG/NBD a customer can only
        drop out right after a repeat purchase, so one who never repurchased is alive.
        Returns a Series on the input's index when ``frequency`` (or another argument) is
        a Series, else an array.
        """
        self._check_fitted()
        x, tx, T_, index = _check_rfm(frequency, recency, T)
        return _wrap(self._p_alive(x, tx, T_), index, "probability_alive")

    def _p_alive(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self._unpack()
        rep = x > 0
        out = np.ones_like(x, dtype=float)
        xr = x[rep]
        log_odds = (math.log(a) - np.log(b + xr - 1)
                    + (r + xr) * (np.log(alpha + T[rep]) - np.log(alpha + tx[rep])))
        out[rep] = expit(-log_odds)
        return out

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any):
        """Expected purchases in the next ``t`` time units, E[Y(t) | x, t_x, T] (FHL eq. 10).

        ::

            (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))]
            · P(alive | x, t_x, T)

        The bracket is computed through Euler's transformation,
        ``1 − (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z)`` with z = t/(α+T+t): small first
        parameters and 0 <= z < 1, so nothing overflows even for hundreds of purchases
        (the textbook form multiplies a vanishing power by a huge ₂F₁; checked against
        40-digit mpmath values to 1e-9 relative). ``t`` is a scalar or one value per
        customer. When a is within 1e-7 of 1 (the formula's removable singularity) a is
        moved to 1 ± 1e-7.
        """
        self._check_fitted()
        x, tx, T_, index = _check_rfm(frequency, recency, T)
        t_arr, x, tx, T_ = _check_horizon(t, x, tx, T_)
        out = self._cond_expectation(t_arr, x, tx, T_)
        return _wrap(out, index, "expected_purchases")

    def _a_safe(self) -> float:
        a = self._unpack()[2]
        if abs(a - 1) < 1e-7:
            a = 1 + math.copysign(1e-7, a - 1)
        return a

    def _cond_expectation(self, t, x, tx, T) -> np.ndarray:
        r, alpha, _, b = self._unpack()
        a = self._a_safe()
        with np.errstate(all="ignore"):
            z = t / (alpha + T + t)
            f = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
            out = (a + b + x - 1) / (a - 1) * (1 - f) * self._p_alive(x, tx, T)
        out = np.where(t == 0, 0.0, out)
        if not np.isfinite(out).all():
            raise FloatingPointError(f"{caller()}: the hypergeometric function overflowed; "
                                     "t is too large for these parameters")
        return out

    predict = expected_purchases

    def expected_purchases_new(self, t: Any):
        """Expected repeat purchases of a new customer in (0, t], E[X(t)] (FHL eq. 9)::

            (a+b−1)/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b; a+b−1; t/(α+t))]

        computed, as :meth:`expected_purchases`, through Euler's transformation:
        ``(a+b−1)/(a−1) · [1 − (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b−1; z)]``, z = t/(α+t).
        """
        self._check_fitted()
        t_arr, index = _to_array(t, "t")
        if (t_arr < 0).any():
            raise ValueError(f"{caller()}: t must be >= 0")
        r, alpha, _, b = self._unpack()
        a = self._a_safe()
        z = t_arr / (alpha + t_arr)
        f = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b - 1, z)
        out = (a + b - 1) / (a - 1) * (1 - f)
        out = np.where(t_arr == 0, 0.0, out)
        if np.ndim(t) == 0:
            return float(out[0])
        return _wrap(out, index, "expected_purchases_new")

    def customer_lifetime_value(self, gamma_gamma: GammaGammaModel, frequency: Any,
                                recency: Any, T: Any, monetary_value: Any, months: int = 12,
                                discount_rate: float = 0.01, freq: str | float = "D"):
        """Discounted value of each customer's purchases over the next ``months`` months.

        As lifetimes' ``customer_lifetime_value``: month k (k = 1 … ``months``) is worth
        ``E[spend] × (E[Y(k·m)] − E[Y((k−1)·m)]) / (1 + discount_rate)^k``, where ``m`` is the
        length of a month in the model's time unit and E[spend] the Gamma-Gamma conditional
        expected average value (the population mean for customers without repeat
        purchases). ``discount_rate`` is per month (0.01 ≈ 12.7% a year).

        ``freq`` is the model's time unit, ``"D"``, ``"W"``, ``"M"`` or ``"h"`` (a month is
        365.25/12 days, :data:`PERIODS_PER_MONTH`), or a number of time units per month
        (``30`` reproduces lifetimes' ``freq="D"``, ``4.345`` its ``"W"``).
        """
        self._check_fitted()

        def cumulative(steps, x, tx, T_):
            return self._cond_expectation(steps[None, :], x[:, None], tx[:, None], T_[:, None])

        return _lifetime_value(cumulative, gamma_gamma, frequency, recency, T, monetary_value,
                               months, discount_rate, freq)


def _lifetime_value(cumulative: Any, gamma_gamma: Any, frequency: Any, recency: Any, T: Any,
                    monetary_value: Any, months: Any, discount_rate: Any, freq: Any):
    """Customer lifetime value of a purchase model: ``cumulative(steps, x, t_x, T)`` gives
    each customer's expected purchases by each month-end step (customers × steps)."""
    if not isinstance(gamma_gamma, GammaGammaModel):
        raise TypeError(f"{caller()}: gamma_gamma must be a fitted GammaGammaModel, got "
                        f"{type(gamma_gamma).__name__}")
    per_month = _per_month(freq)
    check_int(months, "months")
    check_number(discount_rate, "discount_rate", minimum=-1, strict=True)
    x, tx, T_, index = _check_rfm(frequency, recency, T)
    spend = np.asarray(gamma_gamma._expected_value(x, monetary_value), dtype=float)
    cum = cumulative(np.arange(0, months + 1) * per_month, x, tx, T_)
    per = np.diff(cum, axis=1)
    disc = (1.0 + discount_rate) ** -np.arange(1, months + 1)
    return _wrap(spend * np.sum(per * disc, axis=1), index, "clv")


# --------------------------------------------------------------------------- MBG/CNBD-k


def _mbgcnbd_terms(params: np.ndarray, k: int, x: np.ndarray, tx: np.ndarray, T: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two log-terms of the MBG/CNBD-k likelihood and the weights inside the second.

    ``L1`` = log[a/(b+x) · ((α+T)/(α+t_x))^(r+kx)] (dropped out right after the last
    purchase) and ``L2`` = log Σ_{j<k} Γ(r+kx+j)/(Γ(r+kx) j!) · ((T−t_x)/(α+T))^j (still
    alive: fewer than k Erlang stages since the last purchase); ``pi`` (k × n) are the
    shares of the k summands of ``L2`` (used by the gradient).
    """
    r, alpha, a, b = params
    rk = r + k * x
    log_aT = np.log(alpha + T)
    L1 = math.log(a) - np.log(b + x) + rk * (log_aT - np.log(alpha + tx))
    if k == 1:
        return L1, np.zeros_like(L1), np.ones((1, x.size))
    gap = T - tx
    with np.errstate(divide="ignore"):
        log_ratio = np.log(gap) - log_aT          # -inf where the last purchase is at T
    j = np.arange(k, dtype=float)[:, None]
    terms = gammaln(rk + j) - gammaln(rk) - gammaln(j + 1)
    terms[1:] += j[1:] * log_ratio
    L2 = np.logaddexp.reduce(terms, axis=0)
    return L1, L2, np.exp(terms - L2)


def _mbgcnbd_loglik(params: np.ndarray, k: int, x: np.ndarray, tx: np.ndarray, T: np.ndarray,
                    grad: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-customer MBG/CNBD-k log-likelihood without its parameter-free part, and the
    gradient w.r.t. the log-parameters (Reutterer, Platzer & Schröder 2020, eq. 7; as
    BTYDplus's ``xbgcnbd.LL`` with ``dropout_at_zero = TRUE``)::

        log L = (k−1)·litt − x·log((k−1)!)                  (free of r, α, a, b)
                + log B(a, b+x+1) − log B(a, b)
                + log Γ(r+kx) − log Γ(r) + r log α − (r+kx) log(α+T)
                + log[exp(L1) + exp(L2)]

    (``L1``, ``L2``: :func:`_mbgcnbd_terms`). The first line does not depend on the
    parameters, so the fit leaves it out and :class:`MBGCNBDModel` adds it back.
    """
    r, alpha, a, b = params
    rk = r + k * x
    log_aT = np.log(alpha + T)
    L1, L2, pi = _mbgcnbd_terms(params, k, x, tx, T)
    mix = np.logaddexp(L1, L2)
    ll = (betaln(a, b + x + 1) - betaln(a, b) + gammaln(rk) - gammaln(r)
          + r * math.log(alpha) - rk * log_aT + mix)
    if not grad:
        return ll, None
    w1 = np.exp(L1 - mix)                  # share of "dropped out after the last purchase"
    w2 = 1.0 - w1
    j = np.arange(k, dtype=float)[:, None]
    psi_rk = digamma(rk)
    d_r = (psi_rk - digamma(r) + math.log(alpha) - log_aT
           + w1 * (log_aT - np.log(alpha + tx))
           + w2 * np.sum(pi * (digamma(rk + j) - psi_rk), axis=0))
    d_alpha = (r / alpha - rk / (alpha + T)
               + w1 * rk * (1 / (alpha + T) - 1 / (alpha + tx))
               - w2 * np.sum(pi * j, axis=0) / (alpha + T))
    psi_ab, psi_abx = digamma(a + b), digamma(a + b + x + 1)
    d_a = psi_ab - psi_abx + w1 / a
    d_b = digamma(b + x + 1) - digamma(b) + psi_ab - psi_abx - w1 / (b + x)
    g = np.stack([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
    return ll, g


def _nbd_pmf_table(r: float, alpha: float, t: np.ndarray, n: int) -> np.ndarray:
    """NBD probabilities P(N(t) = i), i = 0 … n−1, of a Gamma(r, α)-mixed Poisson count
    (rows: the values of ``t``), from scipy's negative binomial (p = α/(α+t))."""
    i = np.arange(n, dtype=float)[None, :]
    p = (alpha / (alpha + t))[:, None]
    return np.exp(stats.nbinom.logpmf(i, r, p))


def _mbgcnbd_unconditional(params: np.ndarray, k: int, t: np.ndarray) -> np.ndarray:
    """E[X(t)] of a new customer (BTYDplus ``mbgcnbd.Expectation``): Σ_x x · P(X(t)=x).

    P(X(t)=x) (BTYDplus ``xbgcnbd_pmf_cpp``, dropout at zero) is::

        B(a, b+x+1)/B(a, b) · [P(kx <= N < kx+k) + a/(b+x) · P(N >= kx)]

    with N the NBD count of Erlang stages by t. BTYDplus stops its sum at the NBD's
    99.99% quantile (at least 100 terms); here the sum runs until the NBD tail is below
    1e-16, which agrees with it to its own stopping error (about 1e-8).
    """
    r, alpha, a, b = params
    out = np.zeros(t.shape, dtype=float)
    pos = t > 0
    if not pos.any():
        return out
    tt = t[pos]
    top = float(stats.nbinom.isf(1e-16, r, alpha / (alpha + tt.max())))
    n_x = int(math.ceil((top + 1) / k)) + 2          # purchases x = 0 … n_x − 1
    pmf = _nbd_pmf_table(r, alpha, tt, n_x * k)
    # P(N >= i) from the tail (accurate where it is small)
    sf = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]
    xs = np.arange(1, n_x, dtype=float)
    kx = k * np.arange(1, n_x)
    ge = sf[:, kx]                                              # P(N >= kx)
    nxt = np.concatenate([sf[:, kx[1:]], np.zeros((len(tt), 1))], axis=1)
    band = ge - nxt                                             # P(kx <= N < kx+k)
    weight = np.exp(betaln(a, b + xs + 1) - betaln(a, b))
    px = weight[None, :] * (band + a / (b + xs)[None, :] * ge)
    out[pos] = px @ xs
    return out


class MBGCNBDModel(_MLEModel):
    """MBG/CNBD-k model (Reutterer, Platzer & Schröder 2020), fitted by maximum likelihood.

    BG/NBD assumes memoryless visits: the time to the next purchase is exponential, so a
    customer who has not come for a while is as likely to come tomorrow as one who just
    came. Cars are serviced on a schedule (every six months or 5,000–10,000 km), and the
    MBG/CNBD-k model says so: the time between a customer's purchases is Erlang-k
    (Gamma with integer shape k) with rate λ ~ Gamma(shape r, rate α); k = 1 is
    exponential (the MBG/NBD model of Batislam et al. 2007), larger k more regular. A
    customer drops out with probability p ~ Beta(a, b) at the first purchase and after
    each repeat purchase ("M": the dropout at zero, so a customer with no repeat purchase
    can be gone, unlike BG/NBD). Regularity sharpens P(alive): a regular customer who
    is well past their usual interval is more likely gone than a Poisson model thinks.

    It is the model of the R package BTYDplus (``mbgcnbd.*``), re-implemented here from
    the paper and checked against BTYDplus's estimates on its grocery data set and on
    CDNOW (``tests/test_btyd_mbgcnbd.py``); no maintained Python package has it.

    Parameters
    ----------
    k:
        Regularity (an integer >= 1), or ``None`` (default) to choose it: the model is
        fitted for k = 1, 2, … ``max_k`` and the k with the highest likelihood is kept.
        As in BTYDplus, the search stops early when the likelihood falls twice in a row
        (from k = 4 on) or a fit fails. Choosing k needs ``litt``; a fixed k does not.
    penalizer:
        L2 penalty ``penalizer × (r² + α² + a² + b²)`` on the *mean* negative
        log-likelihood, as :class:`BetaGeoModel` (not lifetimes' ``penalizer_coef``,
        which penalizes parameters of the time-rescaled data); 0 gives the MLE.
    max_k:
        Largest k of the search (BTYDplus: 12).

    Attributes (after :meth:`fit`)
    ------------------------------
    params_:
        Series ``k``, ``r``, ``alpha``, ``a``, ``b``. Predictions use the current
        ``params_``: set it by hand to evaluate a published estimate.
    log_likelihood_:
        The total log-likelihood at the estimate, with its parameter-free part
        ``Σ (k−1)·litt − x·log((k−1)!)`` (so that values for different k compare; as
        BTYDplus's ``mbgcnbd.cbs.LL``). Without ``litt`` that part counts litt as 0.
    k_search_:
        With ``k=None``: one row per k tried, ``k``, ``r``, ``alpha``, ``a``, ``b``,
        ``log_likelihood``, ``converged``, ``message``.
    standard_errors_, variance_matrix_, hessian_, summary:
        For r, α, a, b given k (k is chosen, not estimated continuously: its row in
        :attr:`summary` has no standard error).

    Example
    -------
    >>> import pandas as pd
    >>> m = MBGCNBDModel()
    >>> m.params_ = pd.Series({"k": 3, "r": 0.85, "alpha": 1.45, "a": 0.79, "b": 2.42})
    >>> m.probability_alive(frequency=[0, 4, 4], recency=[0.0, 20.0, 20.0],
    ...                     T=[10.0, 22.0, 40.0]).round(3)
    array([0.553, 0.876, 0.046])
    """

    _names = ("r", "alpha", "a", "b")

    def __init__(self, k: int | None = None, *, penalizer: float = 0.0, max_k: int = 12
                 ) -> None:
        super().__init__(penalizer)
        self.k = k
        self.max_k = max_k

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"<MBGCNBDModel(k={self.k}, penalizer={self.penalizer}): not fitted>"
        return super().__repr__().replace("MBGCNBDModel(", f"MBGCNBDModel(k={self.k}, ", 1)

    def fit(self, frequency: Any, recency: Any, T: Any, litt: Any = None, weights: Any = None,
            initial_params: Any = None) -> MBGCNBDModel:
        """Estimate (k,) r, α, a, b by maximum likelihood; returns the model.

        Parameters
        ----------
        frequency, recency, T:
            As :meth:`BetaGeoModel.fit` (e.g. the columns of
            :func:`crm_analysis.features.rfm_summary`).
        litt:
            Per customer, the sum of the logarithms of the times between consecutive
            purchases (``rfm_summary(..., regularity=True)``'s ``litt``, BTYDplus's
            ``litt``), in the time unit of ``recency``. Needed to choose k; with a fixed
            k it only enters :attr:`log_likelihood_`.
        weights, initial_params:
            As :meth:`BetaGeoModel.fit`. Default start: r = 1, α = the mean T, a = 1,
            b = 3 (BTYDplus starts at r = 1, α = 3, a = 1, b = 3 on a weekly scale).
        """
        x, tx, T_, index = _check_rfm(frequency, recency, T)
        check_number(self.penalizer, "penalizer", minimum=0)
        max_k = check_int(self.max_k, "max_k", minimum=1)
        if self.k is not None:
            check_int(self.k, "k", minimum=1)
        w = _check_weights(weights, x.size)
        if litt is None:
            if self.k is None:
                raise ValueError(f"{caller()}: choosing k needs litt (the sum of log "
                                 "inter-purchase times per customer, rfm_summary(..., "
                                 "regularity=True)); or give a fixed k")
            lt = np.zeros_like(x)
        else:
            lt, _ = _to_array(litt, "litt")
            if lt.size != x.size:
                raise ValueError(f"{caller()}: litt must have one value per customer "
                                 f"({x.size}), got {lt.size}")
            if (lt[x == 0] != 0).any():
                n, pos, row = _first_bad((x == 0) & (lt != 0), index)
                raise ValueError(f"{caller()}: a customer without repeat purchases has no "
                                 f"inter-purchase time, so litt must be 0; {n} row(s) are "
                                 f"not, first at {row}: litt={lt[pos]:g}")
        default = np.array([1.0, max(float(np.average(T_, weights=w)), 1e-6), 1.0, 3.0])
        x0 = np.log(_check_initial(initial_params, self._names, default))
        (self._x, self._tx, self._T), self._w = _compress((x, tx, T_), w)
        self._wsum = float(w.sum())
        # the parameter-free part of the log-likelihood, per k: Σ w·litt and Σ w·x
        self._sum_litt = float(np.sum(w * lt))
        self._sum_x = float(np.sum(w * x))
        if self.k is None:
            self._search_k(x0, max_k)
        else:
            self._fit_k(int(self.k), x0)
        self.n_customers_ = int((w > 0).sum())
        self.data_ = pd.DataFrame({"frequency": x, "recency": tx, "T": T_, "litt": lt,
                                   "weights": w})
        return self

    def _free_part(self, k: int) -> float:
        return (k - 1) * self._sum_litt - self._sum_x * math.lgamma(k)

    def _fit_k(self, k: int, x0: np.ndarray) -> None:
        self._k = k
        with _one_blas_thread():
            try:
                logp, results = self._optimize(x0)
            except ConvergenceError:
                # a second start from BTYDplus's values rescaled to the data
                alt = np.log(np.array([1.0, 3.0 / 52 * np.exp(x0[1]), 1.0, 3.0]))
                logp, results = self._optimize(alt)
            self._finish_fit(logp, results)
        self.optimizer_results_ = results
        self.log_likelihood_ += self._free_part(k)
        self.params_ = pd.concat([pd.Series({"k": float(k)}), self.params_]).rename("coef")

    def _search_k(self, x0: np.ndarray, max_k: int) -> None:
        rows, fits = [], {}
        for k in range(1, max_k + 1):
            try:
                self._fit_k(k, x0)
            except ConvergenceError as exc:
                rows.append({"k": k, "log_likelihood": np.nan, "converged": False,
                             "message": str(exc)})
                break
            fits[k] = {key: getattr(self, key) for key in
                       ("params_", "log_likelihood_", "hessian_", "variance_matrix_",
                        "standard_errors_", "optimizer_results_")}
            rows.append({"k": k, **self.params_.drop("k").to_dict(),
                         "log_likelihood": self.log_likelihood_, "converged": True,
                         "message": ""})
            lls = [row["log_likelihood"] for row in rows]
            if k > 2 and lls[-1] < lls[-2] < lls[-3]:
                break
        self.k_search_ = pd.DataFrame(rows, columns=["k", "r", "alpha", "a", "b",
                                                     "log_likelihood", "converged",
                                                     "message"])
        if not fits:
            raise ConvergenceError(f"{caller()}: no k could be fitted: "
                                   f"{self.k_search_['message'].iloc[0]}")
        best = max(fits, key=lambda k: fits[k]["log_likelihood_"])
        for key, value in fits[best].items():
            setattr(self, key, value)
        self._k = best

    def _loglik(self, params: np.ndarray, grad: bool = True):
        return _mbgcnbd_loglik(params, self._k, self._x, self._tx, self._T, grad)

    @property
    def summary(self) -> pd.DataFrame:
        """coef, se(coef) and 95% interval of r, α, a, b (log-scale Wald) and the k used."""
        self._check_fitted("MBGCNBDModel.summary")
        core = self.params_.drop("k")
        se = self.standard_errors_.reindex(core.index)
        half = _Z95 * se / core
        table = pd.DataFrame({"coef": core, "se(coef)": se, "lower 95%": core * np.exp(-half),
                              "upper 95%": core * np.exp(half)})
        k_row = pd.DataFrame({"coef": [self.params_["k"]], "se(coef)": [np.nan],
                              "lower 95%": [np.nan], "upper 95%": [np.nan]}, index=["k"])
        return pd.concat([k_row, table])

    # -- predictions --------------------------------------------------------------

    def _unpack(self) -> tuple[int, np.ndarray]:
        self._check_fitted()
        p = self.params_
        missing = [n for n in ("k", "r", "alpha", "a", "b") if n not in p.index]
        if missing:
            raise ValueError(f"{caller()}: params_ needs k, r, alpha, a, b; missing {missing}")
        k = float(p["k"])
        if k != round(k) or k < 1:
            raise ValueError(f"{caller()}: k must be a whole number >= 1, got {k:g}")
        core = np.array([float(p[n]) for n in ("r", "alpha", "a", "b")])
        if not (np.isfinite(core).all() and (core > 0).all()):
            raise ValueError(f"{caller()}: r, alpha, a, b must be > 0, got {core.tolist()}")
        return int(k), core

    def probability_alive(self, frequency: Any, recency: Any, T: Any, litt: Any = None):
        """P(alive at T | x, t_x, T) (BTYDplus ``mbgcnbd.PAlive``)::

            1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+kx)
                     / Σ_{j<k} Γ(r+kx+j)/(Γ(r+kx) j!) · ((T−t_x)/(α+T))^j)

        Unlike BG/NBD it is below 1 for customers without repeat purchases, and for
        k > 1 it falls faster once the time since the last purchase passes the
        customer's usual interval. ``litt`` is accepted for symmetry with :meth:`fit`
        and not used (given k, P(alive) does not depend on it). Returns a Series on the
        input's index when an argument is a Series, else an array.
        """
        k, params = self._unpack()
        x, tx, T_, index = _check_rfm(frequency, recency, T)
        return _wrap(self._p_alive(k, params, x, tx, T_), index, "probability_alive")

    @staticmethod
    def _p_alive(k: int, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray
                 ) -> np.ndarray:
        L1, L2, _ = _mbgcnbd_terms(params, k, x, tx, T)
        return expit(L2 - L1)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any,
                           litt: Any = None, *, cohort_correction: bool | None = None):
        """Expected purchases in the next ``t`` time units, E[Y(t) | x, t_x, T].

        The exact conditional expectation has no closed form; as BTYDplus
        (``mbgcnbd.ConditionalExpectedTransactions``), it is approximated by the BG/NBD
        expression with the scale α replaced by kα (a customer with rate λ makes about
        λt/k purchases in t)::

            (a+b+x)/(a−1) · [1 − ((kα+T)/(kα+T+t))^(r+x) ₂F₁(r+x, b+x+1; a+b+x; t/(kα+T+t))]
            · P(alive | x, t_x, T)

        (₂F₁ through Euler's transformation, as in :meth:`BetaGeoModel.expected_purchases`).
        For k > 1 this approximation is biased, and BTYDplus corrects it on the whole
        cohort: every prediction is scaled by Σ E[X(T+t)] − Σ E[X(T)] (the exact
        unconditional expectation, :meth:`expected_purchases_new`) over the sum of the
        predictions. ``cohort_correction=None`` applies it as BTYDplus does, when k > 1
        and at least 100 customers are passed (they should then be the whole cohort);
        ``True`` / ``False`` force it on or off (off for a few customers of a larger
        cohort). ``litt`` is not used (see :meth:`probability_alive`).
        """
        k, params = self._unpack()
        x, tx, T_, index = _check_rfm(frequency, recency, T)
        t_arr, x, tx, T_ = _check_horizon(t, x, tx, T_)
        if cohort_correction is None:
            cohort_correction = k > 1 and x.size >= 100
        check_bool(cohort_correction, "cohort_correction")
        out = self._cond_expectation(k, params, t_arr, x, tx, T_)
        if cohort_correction:
            out = out * self._cohort_factor(k, params, t_arr, T_, out)
        return _wrap(out, index, "expected_purchases")

    predict = expected_purchases

    @staticmethod
    def _cohort_factor(k: int, params: np.ndarray, t: np.ndarray, T: np.ndarray,
                       raw: np.ndarray) -> float:
        total = float(raw.sum())
        if total <= 0:
            return 1.0
        ends = np.concatenate([T, T + t])
        uniq, inv = np.unique(ends, return_inverse=True)
        e = _mbgcnbd_unconditional(params, k, uniq)[inv]
        return float(e[T.size:].sum() - e[:T.size].sum()) / total

    def _cond_expectation(self, k: int, params: np.ndarray, t: np.ndarray, x: np.ndarray,
                          tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = params
        if abs(a - 1) < 1e-7:      # the formula's removable singularity, as BetaGeoModel
            a = 1 + math.copysign(1e-7, a - 1)
        with np.errstate(all="ignore"):
            z = t / (k * alpha + T + t)
            f = (1 - z) ** (a - 1) * hyp2f1(a + b - r, a - 1, a + b + x, z)
            out = (a + b + x) / (a - 1) * (1 - f) * self._p_alive(k, params, x, tx, T)
        out = np.where(t == 0, 0.0, out)
        if not np.isfinite(out).all():
            raise FloatingPointError(f"{caller()}: the hypergeometric function overflowed; "
                                     "t is too large for these parameters")
        return out

    def expected_purchases_new(self, t: Any):
        """Expected repeat purchases of a new customer in (0, t], E[X(t)] (BTYDplus
        ``mbgcnbd.Expectation``): Σ_x x · P(X(t) = x), with the model's exact
        probabilities (see :func:`_mbgcnbd_unconditional`)."""
        k, params = self._unpack()
        t_arr, index = _to_array(t, "t")
        if (t_arr < 0).any():
            raise ValueError(f"{caller()}: t must be >= 0")
        uniq, inv = np.unique(t_arr, return_inverse=True)
        out = _mbgcnbd_unconditional(params, k, uniq)[inv]
        if np.ndim(t) == 0:
            return float(out[0])
        return _wrap(out, index, "expected_purchases_new")

    def customer_lifetime_value(self, gamma_gamma: GammaGammaModel, frequency: Any,
                                recency: Any, T: Any, monetary_value: Any, months: int = 12,
                                discount_rate: float = 0.01, freq: str | float = "D",
                                *, cohort_correction: bool | None = None):
        """Discounted value of each customer's purchases over the next ``months`` months,
        as :meth:`BetaGeoModel.customer_lifetime_value` with this model's expected
        purchases (and its cohort correction, per month, under the rule of
        :meth:`expected_purchases`)."""
        k, params = self._unpack()
        if cohort_correction is not None:
            check_bool(cohort_correction, "cohort_correction")

        def cumulative(steps, x, tx, T_):
            correct = (k > 1 and x.size >= 100) if cohort_correction is None \
                else cohort_correction
            cum = np.zeros((x.size, steps.size))
            for m, step in enumerate(steps[1:], start=1):
                t = np.full(x.size, step)
                col = self._cond_expectation(k, params, t, x, tx, T_)
                cum[:, m] = col * self._cohort_factor(k, params, t, T_, col) if correct else col
            return cum

        return _lifetime_value(cumulative, gamma_gamma, frequency, recency, T, monetary_value,
                               months, discount_rate, freq)


def estimate_regularity(transactions: Any, customer_col: str = "customer_id",
                        date_col: str = "open_date", *, as_of: Any = None,
                        min_intervals: int = 2) -> float:
    """How regular the customers' purchase timing is: Wheat & Morrison's estimate of k.

    Wheat & Morrison (1990, "Estimating purchase regularity with two interpurchase
    times", Journal of Marketing Research 27(1)): if a customer's inter-purchase times
    are Gamma with shape k (Erlang-k), the share M = t₁/(t₁+t₂) of two consecutive ones
    is Beta(k, k), whose variance is 1/(4(2k+1)); so k = (1 − 4·Var(M)) / (8·Var(M)).
    About 1 means memoryless, Poisson-like visits (BG/NBD's assumption); clearly above 1
    means regular visits, where :class:`MBGCNBDModel` fits better.

    As BTYDplus's ``estimateRegularity(method = "wheat")``: purchases of the same day
    are one purchase; customers with more than ``min_intervals`` purchase days (at least
    ``min_intervals`` intervals) count, with their last two intervals. BTYDplus puts a
    randomly chosen one of the two over their sum; here both orders are used (M and
    1 − M), which is that estimate's expectation over the random choice, so the result
    is deterministic. Only purchases up to ``as_of`` (default: all) count.

    Returns the estimate (a float); raises ValueError when fewer than two customers
    qualify or every M is the same.
    """
    tx = to_pandas(transactions, "transactions")
    require_columns(tx, [customer_col, date_col], "transactions")
    check_int(min_intervals, "min_intervals", minimum=2)
    dates = pd.to_datetime(tx[date_col])
    if dates.dt.tz is not None:
        dates = dates.dt.tz_localize(None)
    keep = tx[customer_col].notna() & dates.notna()
    if as_of is not None:
        keep &= dates <= read_as_of(as_of)
    days = pd.DataFrame({"c": tx.loc[keep, customer_col].to_numpy(),
                         "d": dates[keep].dt.normalize().to_numpy()}).drop_duplicates()
    days = days.sort_values(["c", "d"], kind="stable")
    n_days = days.groupby("c", sort=False)["d"].transform("size")
    days = days[n_days > min_intervals]
    last3 = days.groupby("c", sort=False).tail(3)
    gaps = last3.groupby("c", sort=False)["d"].diff().dt.total_seconds().dropna()
    pairs = gaps.to_numpy(float).reshape(-1, 2)
    if len(pairs) < 2:
        raise ValueError(f"{caller()}: fewer than two customers have more than "
                         f"{min_intervals} purchase days; regularity cannot be estimated")
    m = pairs[:, 0] / pairs.sum(axis=1)
    var = float(np.var(np.concatenate([m, 1 - m]), ddof=1))
    if var == 0:
        raise ValueError(f"{caller()}: every customer's last two intervals are in the same "
                         "proportion; regularity cannot be estimated")
    return (1 - 4 * var) / (8 * var)


def _per_month(freq: Any) -> float:
    if isinstance(freq, str):
        if freq not in PERIODS_PER_MONTH:
            raise ValueError(f"{caller()}: freq={freq!r} is not supported; use one of "
                             f"{list(PERIODS_PER_MONTH)} or a number of time units per month")
        return PERIODS_PER_MONTH[freq]
    return check_number(freq, "freq", minimum=0, strict=True)


# --------------------------------------------------------------------------- Gamma-Gamma


class GammaGammaModel(_MLEModel):
    """Gamma-Gamma model of spend per transaction (Fader & Hardie 2013).

    Each transaction of a customer is worth Z ~ Gamma(shape p, rate ν), the customer's
    ν ~ Gamma(shape q, rate γ); the mean of x transactions z̄ then has the density of
    :func:`_gg_loglik`. The published parameters are p, q, γ; :attr:`params_` calls
    γ ``v`` (as lifetimes). Spend is assumed independent of purchase frequency.

    Parameters
    ----------
    penalizer:
        L2 penalty ``penalizer × (p² + q² + γ²)`` on the mean negative log-likelihood.

    Example
    -------
    >>> import pandas as pd
    >>> gg = GammaGammaModel()
    >>> gg.params_ = pd.Series({"p": 6.25, "q": 3.74, "v": 15.44})  # CDNOW, published
    >>> gg.expected_average_value(frequency=[0, 1, 10], monetary_value=[0.0, 40.0, 40.0]).round(2)
    array([35.22, 38.54, 39.8 ])
    """

    _names = ("p", "q", "v")

    def fit(self, frequency: Any, monetary_value: Any, weights: Any = None,
            initial_params: Any = None, *, drop_non_repeat: bool = False) -> GammaGammaModel:
        """Estimate p, q, γ from repeat buyers; returns the model.

        ``frequency`` is the number of repeat transactions x (> 0) and ``monetary_value`` the
        mean value z̄ (> 0) of those x transactions (rfm_summary's ``monetary_value``).
        Customers with ``frequency == 0`` carry no spend information; passing them is an
        error unless ``drop_non_repeat=True``, which drops them and records how many in
        :attr:`n_dropped_`. Default starting values: p = 1, q = 2, γ = mean z̄ (so that
        the starting mean spend pγ/(q−1) is the sample mean).
        """
        x, index = _to_array(frequency, "frequency")
        m, _ = _to_array(monetary_value, "monetary_value", allow_missing=True)
        if m.size != x.size:
            raise ValueError(f"{caller()}: frequency and monetary_value must have the same "
                             f"length, got {x.size} and {m.size}")
        w = _check_weights(weights, x.size)
        check_number(self.penalizer, "penalizer", minimum=0)
        if (x < 0).any() or (x != np.round(x)).any():
            n, pos, row = _first_bad((x < 0) | (x != np.round(x)), index)
            raise ValueError(f"{caller()}: frequency must be a whole number >= 0; {n} bad "
                             f"value(s), first at {row}: {x[pos]:g}")
        zero = x == 0
        self.n_dropped_ = int(zero.sum())
        if zero.any() and not drop_non_repeat:
            n, pos, row = _first_bad(zero, index)
            raise ValueError(f"{caller()}: {n} customer(s) have frequency 0 (no repeat "
                             f"purchase), first at {row}; the model is fitted on repeat "
                             "buyers only: filter frequency > 0 or pass drop_non_repeat=True")
        keep = ~zero
        x, m, w = x[keep], m[keep], w[keep]
        kept_index = index[keep] if index is not None else None
        if x.size == 0 or not w.sum() > 0:
            raise ValueError(f"{caller()}: no repeat buyers to fit")
        if not np.isfinite(m).all():
            n, pos, row = _first_bad(~np.isfinite(m), kept_index)
            raise ValueError(f"{caller()}: monetary_value has {n} missing or infinite value(s) "
                             f"among repeat buyers, first at {row}")
        if (m <= 0).any():
            n, pos, row = _first_bad(m <= 0, kept_index)
            raise ValueError(f"{caller()}: monetary_value must be > 0 for repeat buyers (the "
                             f"model's spend is positive); {n} value(s) are not, first at "
                             f"{row}: {m[pos]:g}")
        default = np.array([1.0, 2.0, float(np.average(m, weights=w))])
        x0 = np.log(_check_initial(initial_params, self._names, default))
        (self._x, self._m), self._w = _compress((x, m), w)
        self._wsum = float(w.sum())
        with _one_blas_thread():
            logp, results = self._optimize(x0)
            self._finish_fit(logp, results)
        self.optimizer_results_ = results
        self.n_customers_ = int((w > 0).sum())
        self.data_ = pd.DataFrame({"frequency": x, "monetary_value": m, "weights": w})
        return self

    def _loglik(self, params: np.ndarray, grad: bool = True):
        return _gg_loglik(params, self._x, self._m, grad)

    def conditional_expected_average_profit(self, frequency: Any, monetary_value: Any):
        """E[Z | x, z̄] (Fader & Hardie 2013, eq. 5), the expected value per transaction::

            (q−1)/(px+q−1) · pγ/(q−1) + px/(px+q−1) · z̄  =  p (γ + x z̄) / (px + q − 1)

        a weighted average of the population mean pγ/(q−1) and the customer's own mean;
        the population mean for ``frequency == 0`` (whatever its ``monetary_value``).
        Requires q > 1 (otherwise the mean spend is infinite).
        """
        self._check_fitted()
        x, index = _to_array(frequency, "frequency")
        return _wrap(self._expected_value(x, monetary_value), index,
                     "expected_average_value")

    expected_average_value = conditional_expected_average_profit

    def _expected_value(self, x: np.ndarray, monetary_value: Any) -> np.ndarray:
        self._check_fitted()
        m, _ = _to_array(monetary_value, "monetary_value", allow_missing=True)
        try:
            x, m = np.broadcast_arrays(x, m)
        except ValueError:
            raise ValueError(f"{caller()}: frequency and monetary_value must have the same "
                             f"length, got {x.size} and {m.size}") from None
        if (x < 0).any():
            n, pos, row = _first_bad(x < 0, None)
            raise ValueError(f"{caller()}: frequency must be >= 0; {n} negative, first at {row}")
        bad = (x > 0) & ~(np.isfinite(m) & (m >= 0))
        if bad.any():
            n, pos, row = _first_bad(bad, None)
            raise ValueError(f"{caller()}: monetary_value must be a number >= 0 for customers "
                             f"with repeat purchases; {n} are not, first at {row}: {m[pos]}")
        p, q, v = (float(c) for c in self.params_)
        if q <= 1:
            raise ValueError(f"{caller()}: q = {q:.3g} <= 1: the model's mean spend is infinite")
        m = np.where(x > 0, m, 0.0)
        return p * (v + x * m) / (p * x + q - 1)


# --------------------------------------------------------------------------- data


def calibration_holdout(transactions: Any, customer_col: str = "customer_id",
                        date_col: str = "open_date", value_col: str | None = None,
                        calibration_end: Any = None, observation_end: Any = None,
                        freq: str = "D", freq_multiplier: float = 1,
                        *, regularity: bool = False) -> pd.DataFrame:
    """Calibration-period RFM plus holdout purchases per customer.

    As lifetimes' ``calibration_and_holdout_data``:

    - calibration: the transactions dated on or before ``calibration_end``, summarised by
      :func:`crm_analysis.features.rfm_summary` with ``as_of=calibration_end`` (columns
      ``frequency_cal``, ``recency_cal``, ``T_cal``, and ``monetary_value_cal`` with
      ``value_col``);
    - holdout: transactions dated after ``calibration_end`` and on or before
      ``observation_end`` (default: the latest date); ``frequency_holdout`` = number of
      distinct periods (``freq``) with a purchase, 0 for customers without one;
      ``duration_holdout`` = (period of ``observation_end`` − period of ``calibration_end``)
      / ``freq_multiplier``; with ``value_col``, ``monetary_value_holdout`` = mean value
      per purchase period (transactions of the same period summed, as in the calibration
      columns; lifetimes averages raw transactions instead), 0 without holdout purchases.

    With ``regularity=True`` the calibration columns include ``litt_cal``, the sum of the
    log inter-purchase times (:func:`crm_analysis.features.rfm_summary`'s ``litt``) that
    :class:`MBGCNBDModel` needs to choose k.

    Only customers with a calibration purchase are kept (their first purchase defines
    their age T). Input: a pandas or Polars frame; returns a pandas DataFrame with
    ``customer_col`` first, sorted by customer.

    Example
    -------
    >>> tx = pd.DataFrame({"id": ["a", "a", "a", "b", "c"],
    ...                    "date": pd.to_datetime(["2024-01-01", "2024-01-20", "2024-02-15",
    ...                                            "2024-01-05", "2024-02-10"])})
    >>> calibration_holdout(tx, "id", "date", calibration_end="2024-01-31",
    ...                     observation_end="2024-02-29")
      id  frequency_cal  recency_cal  T_cal  frequency_holdout  duration_holdout
    0  a              1         19.0   30.0                  1              29.0
    1  b              0          0.0   26.0                  0              29.0
    """
    cal_end = read_as_of(calibration_end, name="calibration_end")
    transactions = to_pandas(transactions, "transactions")
    cols = [customer_col, date_col] + ([value_col] if value_col else [])
    require_columns(transactions, cols, "transactions")
    tx = transactions[cols]
    if not pd.api.types.is_datetime64_any_dtype(tx[date_col]):
        raise TypeError(f"{caller()}: column {date_col!r} must hold dates (datetime64), got "
                        f"{tx[date_col].dtype}")
    tx = tx[tx[customer_col].notna() & tx[date_col].notna()]
    obs_end = tx[date_col].max() if observation_end is None \
        else read_as_of(observation_end, name="observation_end")
    if obs_end < cal_end:
        raise ValueError(f"{caller()}: observation_end ({obs_end.date()}) is before "
                         f"calibration_end ({cal_end.date()})")
    dates = tx[date_col].dt.tz_localize(None) if tx[date_col].dt.tz is not None \
        else tx[date_col]
    cal = tx[dates <= cal_end]
    if cal.empty:
        raise ValueError(f"{caller()}: no transactions on or before calibration_end "
                         f"{cal_end.date()}")
    summary = rfm_summary(cal, customer_col, date_col, value_col, as_of=cal_end, freq=freq,
                          freq_multiplier=freq_multiplier, regularity=regularity)
    summary = summary.rename(columns={c: f"{c}_cal" for c in summary.columns
                                      if c != customer_col})
    hold = tx[(dates > cal_end) & (dates <= obs_end)]
    if hold.empty:
        hold_summary = pd.DataFrame({customer_col: pd.Series([], dtype=summary[customer_col]
                                                            .dtype),
                                     "frequency_holdout": pd.Series([], dtype="Int64")})
        if value_col:
            hold_summary["monetary_value_holdout"] = pd.Series([], dtype="Float64")
    else:
        hs = rfm_summary(hold, customer_col, date_col, value_col, as_of=obs_end, freq=freq,
                         include_first_transaction=True)
        hold_summary = hs[[customer_col, "frequency"]
                          + (["monetary_value"] if value_col else [])].rename(
            columns={"frequency": "frequency_holdout",
                     "monetary_value": "monetary_value_holdout"})
    out = summary.merge(hold_summary, on=customer_col, how="left")
    out["frequency_holdout"] = out["frequency_holdout"].fillna(0).astype("Int64")
    if value_col:
        out["monetary_value_holdout"] = out["monetary_value_holdout"].fillna(0.0)
    code = _FREQ_ALIASES.get(freq, freq)
    pfreq = {"W": "W-SUN"}.get(code, code)
    delta = (obs_end.to_period(pfreq) - cal_end.to_period(pfreq)).n
    out["duration_holdout"] = delta / float(freq_multiplier)
    return out.sort_values(customer_col, ignore_index=True)


# --------------------------------------------------------------------------- comparison

#: The BTYD models by code (:func:`fit_model`, :func:`compare_holdout`, the churn
#: baselines), with their display names. ``"mbgnbd"`` is MBG/CNBD-k with k = 1.
BTYD_MODELS: dict[str, str] = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD",
                                  "mbgcnbd": "MBG/CNBD-k"}


def fit_model(model: str, frequency: Any, recency: Any, T: Any, litt: Any = None
              ) -> BetaGeoModel | MBGCNBDModel:
    """A fitted BTYD model by its :data:`BTYD_MODELS` code: ``"bgnbd"``
    (:class:`BetaGeoModel`), ``"mbgnbd"`` (:class:`MBGCNBDModel` with k = 1) or
    ``"mbgcnbd"`` (:class:`MBGCNBDModel`, k chosen by likelihood, which needs ``litt``).
    Raises :class:`ConvergenceError` as the fit does."""
    check_choice(model, "model", BTYD_MODELS)
    if model == "bgnbd":
        return BetaGeoModel().fit(frequency, recency, T)
    return MBGCNBDModel(k=1 if model == "mbgnbd" else None).fit(frequency, recency, T, litt)


@dataclass(frozen=True, repr=False)
class HoldoutComparison:
    """What :func:`compare_holdout` returns.

    Attributes
    ----------
    errors_:
        One row per model: ``model`` (code), ``name``, ``k`` (the regularity used; 1 for
        the memoryless models), ``log_likelihood`` (calibration), ``converged``,
        ``message`` (why a fit failed, else empty), ``actual`` and ``predicted`` holdout
        purchases of all customers, ``bias`` (predicted / actual − 1), ``mae`` (mean
        absolute error per customer) and ``msle`` (mean squared log error, log(1+y)),
        the measures of BTYDplus's model comparison.
    predictions_:
        The customer column, ``actual`` holdout purchases and one column of predictions
        per converged model.
    models_:
        The fitted models by code (converged ones only).
    best_model_:
        The converged model with the smallest ``mae``, or None when none converged.
    """

    errors_: pd.DataFrame
    predictions_: pd.DataFrame
    models_: dict[str, Any]
    best_model_: str | None

    def __repr__(self) -> str:
        return (f"<HoldoutComparison: best {self.best_model_!r} of "
                f"{list(self.errors_['model'])}>")


def compare_holdout(holdout: pd.DataFrame, *, models: Any = ("bgnbd", "mbgcnbd"),
                    customer_col: str | None = None) -> HoldoutComparison:
    """Fit BTYD models on the calibration period and score their forecasts of the holdout.

    ``holdout`` is :func:`calibration_holdout`'s table, with ``regularity=True`` when
    ``"mbgcnbd"`` is among ``models`` (it chooses k from ``litt_cal``). Each model is
    fitted on ``frequency_cal``, ``recency_cal``, ``T_cal`` and predicts every
    customer's purchases over ``duration_holdout`` (MBG/CNBD-k with its cohort
    correction, the table being the whole cohort); the errors are those of BTYDplus's
    demos (MAE, MSLE, bias). A model whose fit does not converge gets a row with
    ``converged=False`` and the optimizer's message instead of stopping the comparison.

    ``models``: codes of :data:`BTYD_MODELS`. ``customer_col``: default, the first
    column of ``holdout``.
    """
    if not isinstance(holdout, pd.DataFrame):
        raise TypeError(f"{caller()}: holdout must be calibration_holdout()'s DataFrame, "
                        f"got {type(holdout).__name__}")
    codes = [models] if isinstance(models, str) else list(models)
    for code in codes:
        check_choice(code, "models", BTYD_MODELS)
    if not codes:
        raise ValueError(f"{caller()}: models is empty; give some of {list(BTYD_MODELS)}")
    need = ["frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout"]
    if "mbgcnbd" in codes:
        need.append("litt_cal")
    if "litt_cal" in need and "litt_cal" not in holdout.columns:
        raise ValueError(f"{caller()}: choosing the regularity k of MBG/CNBD-k needs column "
                         "'litt_cal': build the table with calibration_holdout(..., "
                         "regularity=True)")
    require_columns(holdout, need, "holdout")
    cust = customer_col or str(holdout.columns[0])
    x = holdout["frequency_cal"].to_numpy(float)
    tx = holdout["recency_cal"].to_numpy(float)
    T_ = holdout["T_cal"].to_numpy(float)
    t = holdout["duration_holdout"].to_numpy(float)
    actual = holdout["frequency_holdout"].to_numpy(float)
    rows, fitted = [], {}
    preds = pd.DataFrame({cust: holdout[cust].to_numpy(), "actual": actual})
    for code in codes:
        row = {"model": code, "name": BTYD_MODELS[code], "k": 1, "log_likelihood": np.nan,
               "converged": True, "message": "", "actual": float(actual.sum()),
               "predicted": np.nan, "bias": np.nan, "mae": np.nan, "msle": np.nan}
        litt = holdout["litt_cal"].to_numpy(float) if "litt_cal" in holdout.columns else None
        try:
            model = fit_model(code, x, tx, T_, litt)
        except ConvergenceError as exc:
            row.update(converged=False, message=str(exc))
            rows.append(row)
            continue
        if isinstance(model, MBGCNBDModel):
            row["k"] = int(model.params_["k"])
        pred = np.asarray(model.expected_purchases(t, x, tx, T_), dtype=float)
        fitted[code] = model
        preds[code] = pred
        row.update(log_likelihood=model.log_likelihood_, predicted=float(pred.sum()),
                   bias=float(pred.sum() / actual.sum() - 1) if actual.sum() else np.nan,
                   mae=float(np.mean(np.abs(pred - actual))),
                   msle=float(np.mean((np.log1p(actual) - np.log1p(pred)) ** 2)))
        rows.append(row)
    errors = pd.DataFrame(rows)
    ok = errors[errors["converged"]]
    best = str(ok.loc[ok["mae"].idxmin(), "model"]) if len(ok) else None
    return HoldoutComparison(errors, preds, fitted, best)


# --------------------------------------------------------------------------- reading the fits


@dataclass(frozen=True)
class HoldoutSummary:
    """What :func:`holdout_summary` returns: the verdict of a :class:`HoldoutComparison`.

    Attributes
    ----------
    best:
        Code of the converged model with the smallest MAE (None when none converged).
    name, k, mae, predicted, bias:
        Its display name, regularity k, mean absolute error per customer, predicted
        holdout purchases and bias (predicted / actual − 1); None or NaN without a best.
    runner_up, runner_up_mae:
        Display name and MAE of the other converged model with the smallest MAE (None and
        NaN when the best model is the only one that converged).
    gain:
        1 − mae / runner_up_mae: how much smaller the best model's error is (NaN without a
        runner-up).
    actual:
        Holdout purchases of all customers.
    failed:
        ``{name: message}`` of the models whose fit did not converge.
    """

    best: str | None
    name: str | None
    k: int | None
    mae: float
    predicted: float
    bias: float
    runner_up: str | None
    runner_up_mae: float
    gain: float
    actual: float
    failed: dict[str, str]


def holdout_summary(comparison: HoldoutComparison) -> HoldoutSummary:
    """The better model of a :func:`compare_holdout` run, and by how much it is better.

    Example
    -------
    >>> errors = pd.DataFrame({"model": ["bgnbd", "mbgcnbd"], "name": ["BG/NBD", "MBG/CNBD-k"],
    ...     "k": [1, 2], "converged": [True, True], "message": ["", ""],
    ...     "actual": [100.0, 100.0], "predicted": [90.0, 95.0], "bias": [-0.1, -0.05],
    ...     "mae": [0.5, 0.4]})
    >>> s = holdout_summary(HoldoutComparison(errors, pd.DataFrame(), {}, "mbgcnbd"))
    >>> s.name, s.k, s.runner_up, round(s.gain, 3), s.predicted, s.bias
    ('MBG/CNBD-k', 2, 'BG/NBD', 0.2, 95.0, -0.05)
    """
    if not isinstance(comparison, HoldoutComparison):
        raise TypeError(f"{caller()}: comparison must be a HoldoutComparison (compare_holdout), "
                        f"got {type(comparison).__name__}")
    errors = comparison.errors_.set_index("model")
    failed = {str(r["name"]): str(r["message"])
              for _, r in errors[~errors["converged"].astype(bool)].iterrows()}
    actual = float(errors["actual"].iloc[0])
    best = comparison.best_model_
    if best is None:
        nan = float("nan")
        return HoldoutSummary(None, None, None, nan, nan, nan, None, nan, nan, actual, failed)
    won = errors.loc[best]
    others = errors.drop(index=best)
    others = others[others["converged"].astype(bool)]
    others = others.sort_values("mae", kind="stable", na_position="last")
    mae = float(won["mae"])
    runner_up = str(others["name"].iloc[0]) if len(others) else None
    runner_up_mae = float(others["mae"].iloc[0]) if len(others) else float("nan")
    gain = 1 - mae / runner_up_mae if len(others) else float("nan")
    return HoldoutSummary(best, str(won["name"]), int(won["k"]), mae, float(won["predicted"]),
                          float(won["bias"]), runner_up, runner_up_mae, gain, actual, failed)


def regularity_pattern(all_visits: float, maintenance: float) -> str:
    """How a store's visits keep time, from two Wheat–Morrison estimates
    (:func:`estimate_regularity` of all visits and of maintenance visits alone):

    - ``"mixed"``: maintenance is regular (k > 2) but all visits together are nearly
      memoryless (k < 1.5): other visits fall at random between the services;
    - ``"regular"``: all visits together keep a rhythm (k >= 1.5);
    - ``"irregular"``: neither.

    >>> regularity_pattern(1.17, 13.2), regularity_pattern(2.0, 5.0), regularity_pattern(1.1, 1.6)
    ('mixed', 'regular', 'irregular')
    """
    a = check_number(all_visits, "all_visits")
    m = check_number(maintenance, "maintenance")
    if m > 2 and a < 1.5:
        return "mixed"
    return "regular" if a >= 1.5 else "irregular"


@dataclass(frozen=True, eq=False)
class FirstFit:
    """What :func:`fit_first` returns.

    Attributes
    ----------
    model:
        The fitted model.
    code:
        Its :data:`BTYD_MODELS` code.
    failed:
        ``{code: message}`` of the models tried before it that did not converge.
    """

    model: Any
    code: str
    failed: dict[str, str]


def fit_first(frequency: Any, recency: Any, T: Any, litt: Any = None, *,
              models: Any = ("bgnbd", "mbgcnbd")) -> FirstFit:
    """Fit the models in the order given and keep the first that converges.

    ``models`` are :data:`BTYD_MODELS` codes, the preferred first (for example the winner
    of :func:`compare_holdout`, then the others); ``None`` and repeated codes are skipped,
    so ``models=(comparison.best_model_, "bgnbd", "mbgcnbd")`` works when no model won.
    Raises :class:`ConvergenceError` (the last one) when none converges.

    Example
    -------
    >>> from pathlib import Path
    >>> import crm_analysis
    >>> cdnow = pd.read_csv(Path(crm_analysis.__file__).parents[1] / "data" / "external"
    ...                     / "cdnow" / "cdnow_customers_summary.csv")
    >>> fit = fit_first(cdnow["frequency"], cdnow["recency"], cdnow["T"],
    ...                 models=(None, "bgnbd", "mbgnbd", "bgnbd"))
    >>> fit.code, fit.failed, round(float(fit.model.params_["r"]), 3)
    ('bgnbd', {}, 0.243)
    """
    codes = [models] if isinstance(models, str) else list(models)
    order = []
    for code in codes:
        if code is None or code in order:
            continue
        order.append(check_choice(code, "models", BTYD_MODELS))
    if not order:
        raise ValueError(f"{caller()}: models names no model; give some of {list(BTYD_MODELS)}")
    failed: dict[str, str] = {}
    for code in order:
        try:
            return FirstFit(fit_model(code, frequency, recency, T, litt), code, failed)
        except ConvergenceError as exc:
            failed[code] = str(exc)
            last = exc
    raise last


@dataclass(frozen=True)
class VisitProfile:
    """What :func:`visit_profile` returns: a fitted visit model in a store's terms.

    Attributes
    ----------
    name:
        ``"BG/NBD"`` or ``"MBG/CNBD-<k>"``.
    k, r, alpha, a, b:
        The parameters (k = 1 for BG/NBD).
    visits_per_year:
        Mean visit rate of a customer while alive, r / (k α), per year.
    drop_per_visit:
        Mean chance of leaving for good at a visit, a / (a + b).
    """

    name: str
    k: int
    r: float
    alpha: float
    a: float
    b: float
    visits_per_year: float
    drop_per_visit: float


def visit_profile(model: Any, *, freq: str | float = "D") -> VisitProfile:
    """Visits a year and the chance of leaving at a visit of a fitted BG/NBD or MBG/CNBD-k.

    While alive a customer's visit rate is λ ~ Gamma(r, α) per time unit and the time
    between visits Erlang-k with rate λ, so a typical customer visits r / (k α) times per
    unit; ``freq`` is the model's time unit as in ``customer_lifetime_value`` (a year is
    12 months of 365.25 / 12 days).

    Example
    -------
    >>> bg = BetaGeoModel()
    >>> bg.params_ = pd.Series({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    >>> p = visit_profile(bg, freq="W")
    >>> p.name, round(p.visits_per_year, 3), round(p.drop_per_visit, 3)  # 0.243/4.414·52.18
    ('BG/NBD', 2.873, 0.246)
    """
    if not isinstance(model, BetaGeoModel | MBGCNBDModel):
        raise TypeError(f"{caller()}: model must be a BetaGeoModel or MBGCNBDModel, got "
                        f"{type(model).__name__}")
    if not hasattr(model, "params_"):
        raise ValueError(f"{caller()}: the model is not fitted; call fit() first")
    per_year = 12 * _per_month(freq)
    p = model.params_
    k = int(p["k"]) if "k" in p else 1
    r, alpha, a, b = (float(p[name]) for name in ("r", "alpha", "a", "b"))
    name = f"MBG/CNBD-{k}" if isinstance(model, MBGCNBDModel) else "BG/NBD"
    return VisitProfile(name, k, r, alpha, a, b, r / (alpha * k) * per_year, a / (a + b))


def recent_customers(recency: Any, T: Any, *, months: int, freq: str | float = "D") -> int:
    """How many customers visited in the last ``months`` months of an RFM summary.

    A customer's last visit was T − recency time units before the end of observation
    (:func:`crm_analysis.features.rfm_summary`); it counts when that is less than
    ``months`` months of 365.25 / 12 days in the unit ``freq``.

    >>> recent_customers([0.0, 50.0, 10.0], [60.0, 60.0, 60.0], months=1, freq="D")
    1
    """
    check_int(months, "months")
    per_month = _per_month(freq)
    tx, _ = _to_array(recency, "recency")
    T_, _ = _to_array(T, "T")
    if tx.shape != T_.shape:
        raise ValueError(f"{caller()}: recency and T must have the same length, got {tx.size} "
                         f"and {T_.size}")
    return int((tx > T_ - months * per_month).sum())


def monthly_discount_rate(annual_rate: float) -> float:
    """The monthly rate that compounds to ``annual_rate`` in a year: (1 + d)^(1/12) − 1
    (``customer_lifetime_value`` discounts per month).

    >>> round(monthly_discount_rate(0.10), 6), monthly_discount_rate(0.0)
    (0.007974, 0.0)
    """
    d = check_number(annual_rate, "annual_rate", minimum=0, maximum=1)
    return (1 + d) ** (1 / 12) - 1


@dataclass(frozen=True, eq=False)
class SpendFit:
    """What :func:`fit_spend` returns.

    Attributes
    ----------
    model:
        The fitted :class:`GammaGammaModel`.
    customers:
        Repeat customers it was fitted on (frequency > 0 and a positive mean value).
    excluded:
        Repeat customers left out because their mean value is not positive.
    correlation:
        Pearson correlation of frequency and mean value of the customers fitted on; the
        model assumes the two are independent.
    mean_value:
        The model's mean value of a transaction, p ν / (q − 1) (NaN for q <= 1).
    """

    model: GammaGammaModel
    customers: int
    excluded: int
    correlation: float
    mean_value: float


def fit_spend(frequency: Any, monetary_value: Any) -> SpendFit:
    """Fit the Gamma-Gamma spend model on the repeat customers with a positive mean value.

    Gamma-Gamma needs a positive mean value per repeat customer; customers whose mean
    gross profit per visit is zero or negative (warranty and goodwill work) are left out
    and counted. Also returns the correlation between frequency and spend, the model's
    independence assumption, and the mean value of a transaction.

    Example
    -------
    >>> rng = np.random.default_rng(1)
    >>> x = rng.integers(1, 6, 500)
    >>> z = rng.gamma(5.0, 60.0, 500)
    >>> z[:3] = [0.0, -20.0, 0.0]
    >>> fit = fit_spend(np.r_[x, 0], np.r_[z, 0.0])
    >>> fit.customers, fit.excluded, abs(fit.correlation) < 0.2, 200 < fit.mean_value < 400
    (497, 3, True, True)
    """
    x, _ = _to_array(frequency, "frequency")
    m, _ = _to_array(monetary_value, "monetary_value", allow_missing=True)
    if len(x) != len(m):
        raise ValueError(f"{caller()}: frequency and monetary_value differ in length "
                         f"({len(x)} and {len(m)})")
    repeat = (x > 0) & (m > 0)
    excluded = int(((x > 0) & ~(m > 0)).sum())
    gg = GammaGammaModel().fit(x[repeat], m[repeat])
    corr = float(np.corrcoef(x[repeat], m[repeat])[0, 1])
    p, q, v = (float(gg.params_[k]) for k in ("p", "q", "v"))
    return SpendFit(gg, int(repeat.sum()), excluded, corr, p * v / (q - 1) if q > 1
                    else float("nan"))


def lifetime_values(model: Any, spend: GammaGammaModel, frequency: Any, recency: Any, T: Any,
                    monetary_value: Any, *, months: int, annual_discount_rate: float,
                    freq: str | float = "D") -> np.ndarray:
    """Each customer's discounted value over the next ``months`` months, discounted at a
    yearly rate: the model's ``customer_lifetime_value`` at the monthly rate
    :func:`monthly_discount_rate`, with a mean value of 0 for customers whose mean value
    is missing or not positive (they were left out of :func:`fit_spend`; Gamma-Gamma
    shrinks their expected value from the population mean toward 0). Without discounting,
    a customer's value is Gamma-Gamma's expected value times the expected visits.

    >>> bg = BetaGeoModel()
    >>> bg.params_ = pd.Series({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    >>> gg = GammaGammaModel()
    >>> gg.params_ = pd.Series({"p": 6.25, "q": 3.74, "v": 15.44})
    >>> lifetime_values(bg, gg, [2, 0], [30.43, 0.0], [38.86, 38.86], [-5.0, 0.0],
    ...                 months=12, annual_discount_rate=0.0, freq="W").round(2)
    array([9.9, 8.9])
    """
    m, _ = _to_array(monetary_value, "monetary_value", allow_missing=True)
    m = np.where(m > 0, m, 0.0)
    rate = monthly_discount_rate(annual_discount_rate)
    return np.asarray(model.customer_lifetime_value(spend, frequency, recency, T, m,
                                                    months=months, discount_rate=rate,
                                                    freq=freq), dtype=float)

"""Supervised churn risk: snapshot features, a time-based backtest and a scoring model.

A customer of a store *churns* at a date T when she has no order at the store in the
``horizon_months`` after T (DOMAIN.md section 3), among the customers with at least one
order at the store in the ``window_months`` before T. Three pieces:

:func:`churn_snapshot`
    one row per such customer at T: features built from the orders on or before T only
    (never a later order), the BG/NBD inputs and, when the data reach T + horizon, the
    label ``churned``.
:func:`backtest`
    trains on snapshots before T_test = as_of − horizon and tests at T_test, so that every
    training label is known at T_test (no look-ahead), for scikit-learn pipelines and two
    baselines; returns :class:`BacktestResult` (metrics, calibration curve, permutation
    importance, predictions; charts in :mod:`crm_analysis.plots`).
:class:`ChurnModel`
    the same pipeline trained on the snapshots before ``as_of``, scoring the customers at
    ``as_of`` with a churn probability and up to three reason codes each.

Snapshot columns
----------------
Every column of :func:`crm_analysis.features.customer_features` (window = (T − window, T]),
then these extras, all from the store's orders on or before T:

``snapshot_date``
    T.
``orders_12m``, ``orders_prev_12m``, ``visit_trend``
    orders in (T − 12 m, T], in (T − 24 m, T − 12 m], and the first minus the second.
``months_since_last_order``
    ``recency_days`` in months of 365.25 / 12 days.
``typical_gap_days``, ``overdue_ratio``
    median number of days between the customer's successive visit days (history up to T;
    missing with a single visit day), and ``recency_days / typical_gap_days``: above 1 the
    customer is later than usual.
``tenure_years``, ``avg_order_value``
    ``tenure_days / 365.25`` and ``revenue / orders`` (window).
``sold_here``
    1.0 when the main vehicle was sold by the store, 0.0 when bought elsewhere, missing
    when unknown.
``annual_km``
    kilometres a year of the main vehicle: its latest mileage reading on or before T divided
    by its age at that reading (readings before the age of 3 months are too noisy and are
    not used; missing without a usable reading).
``months_to_warranty_end``
    months from T to the end of the main vehicle's warranty, which ends at the age
    ``min(warranty_years, warranty_km / annual_km)`` (by age alone without ``annual_km``);
    negative once it has ended.
``frequency``, ``recency``, ``T``, ``litt``
    BG/NBD and MBG/CNBD-k inputs in days: :func:`crm_analysis.features.rfm_summary` of the
    customer's orders at the store up to T (``litt``, from ``regularity=True``: the sum of
    the logs of the days between successive visit days, 0 with a single visit day).
``churned``
    (``label=True``) 1 when the customer has no order at the store in (T, T + horizon],
    else 0.

The model features are :data:`NUMERIC_FEATURES` and :data:`CATEGORICAL_FEATURES`.

Models and validation
---------------------
``"logistic"``: median imputation (with missing-value indicators), a signed log
transform ``sign(x)·log(1 + |x|)`` and standardization of the numeric features, one-hot
categoricals (levels with fewer than 20 training rows pooled), then
:class:`~sklearn.linear_model.LogisticRegression`. ``"gradient_boosting"``:
:class:`~sklearn.ensemble.HistGradientBoostingClassifier` with native categorical
support (ordinal-coded levels, missing values handled natively), fixed iterations, no
early stopping. Each is wrapped in :class:`~sklearn.calibration.CalibratedClassifierCV`
(``ensemble=False``): out-of-fold scores from three folds formed with
:class:`~sklearn.model_selection.GroupKFold` on ``customer_id`` — all snapshots of one
customer fall in the same fold, so the calibrator never sees a score of a customer whose
other snapshot trained that score — are mapped to probabilities by isotonic regression
(or Platt scaling), and the pipeline refitted on all training rows is used for prediction.

Baselines (:data:`BASELINES`): ``recency_rule`` — the training churn rate of the
customer's months-since-last-order bucket (3-month buckets); ``bgnbd_p_alive`` —
1 − P(alive) of a :class:`~crm_analysis.btyd.BetaGeoModel` fitted (in days) on the test
snapshot's customers' own histories up to T_test (no label is used); ``mbgcnbd_p_alive`` —
the same with :class:`~crm_analysis.btyd.MBGCNBDModel` (MBG/CNBD-k, regular inter-visit
times, k chosen by likelihood; in days, with ``litt``).

No silent non-convergence: when a BTYD baseline's fit raises
:class:`~crm_analysis.btyd.ConvergenceError`, :func:`backtest` warns (``RuntimeWarning``)
naming the model and the reason, and falls back to the next model of
:data:`BTYD_FALLBACKS` — BG/NBD → MBG/NBD (``MBGCNBDModel(k=1)``) → MBG/CNBD-k for
``bgnbd_p_alive``, MBG/CNBD-k → MBG/NBD → BG/NBD for ``mbgcnbd_p_alive`` — so the baseline
keeps its metrics; every attempt is listed in :attr:`BacktestResult.notes_` and the
model that gave the scores in ``metrics_`` (``fitted_model``, ``note``). Only when every
model of the chain fails are the baseline's metrics missing.

Metrics: ROC-AUC, PR-AUC (average precision), Brier score and top-decile lift (churn rate
among the 10% highest scores over the overall rate; customers tied at the cut count in
proportion, so the lift does not depend on their order).

Example
-------
>>> from crm_analysis.synth import generate
>>> from crm_analysis.churn import churn_snapshot
>>> ds = generate(n_stores=1, seed=5, start="2019-01-01", as_of="2023-12-31", scale=0.05)
>>> snap = churn_snapshot(ds, as_of="2022-12-31", store_id="001")
>>> len(snap), round(float(snap["churned"].mean()), 2)
(185, 0.44)
>>> cols = ["months_since_last_order", "orders_12m", "months_to_warranty_end"]
>>> bool(snap[cols].notna().all().all())
True
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crm_analysis._inputs import (
    caller,
    check_choice,
    check_int,
    check_number,
    read_as_of,
    require_columns,
    select_store,
    tables,
    to_pandas,
)
from crm_analysis.btyd import BTYD_MODELS, ConvergenceError, fit_model
from crm_analysis.features import customer_features, rfm_summary
from crm_analysis.margins import DEFAULT_COST_PER_ORDER, Margins
from crm_analysis.overview import DAYS_PER_YEAR, window_start

__all__ = [
    "BASELINES",
    "BTYD_FALLBACKS",
    "BTYD_MODELS",
    "CATEGORICAL_FEATURES",
    "FEATURES",
    "MODELS",
    "NOTE_COLUMNS",
    "NUMERIC_FEATURES",
    "REASON_CODES",
    "BacktestResult",
    "ChurnModel",
    "backtest",
    "backtest_on_history",
    "baseline_fallbacks",
    "calibration_gap",
    "churn_snapshot",
    "training_snapshots_allowed",
]

#: Supervised models understood by :func:`backtest` and :class:`ChurnModel`.
MODELS: tuple[str, ...] = ("logistic", "gradient_boosting")
#: Baselines reported by :func:`backtest`.
BASELINES: tuple[str, ...] = ("recency_rule", "bgnbd_p_alive", "mbgcnbd_p_alive")
#: For each P(alive) baseline, the models tried in order until one converges.
BTYD_FALLBACKS: dict[str, tuple[str, ...]] = {
    "bgnbd_p_alive": ("bgnbd", "mbgnbd", "mbgcnbd"),
    "mbgcnbd_p_alive": ("mbgcnbd", "mbgnbd", "bgnbd"),
}
#: Columns of :attr:`BacktestResult.notes_`.
NOTE_COLUMNS: tuple[str, ...] = ("baseline", "attempt", "model", "status", "message", "used")

#: Numeric model features (columns of :func:`churn_snapshot`).
NUMERIC_FEATURES: tuple[str, ...] = (
    "months_since_last_order",
    "overdue_ratio",
    "orders",
    "orders_12m",
    "orders_prev_12m",
    "visit_trend",
    "visits_per_year",
    "frequency",
    "tenure_years",
    "revenue",
    "gross_profit",
    "net_value",
    "avg_order_value",
    "n_vehicles",
    "main_vehicle_age",
    "annual_km",
    "months_to_warranty_end",
    "sold_here",
    "share_maintenance",
    "share_repair",
    "share_body_paint",
    "share_warranty",
    "share_detailing",
    "share_other",
)
#: Categorical model features (missing values become the level ``"unknown"``).
CATEGORICAL_FEATURES: tuple[str, ...] = (
    "customer_type",
    "occupation",
    "region",
    "grade",
    "usage",
    "warranty_status",
)
#: All model features, numeric first.
FEATURES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES

_DAYS_PER_MONTH = DAYS_PER_YEAR / 12
_MIN_READING_AGE = 0.25          # years: mileage readings younger than this are not used
_RECENCY_BUCKET_MONTHS = 3
_CV_FOLDS = 3
_MIN_LEVEL = 20                  # customers: rarer categorical levels are pooled
_MIN_DROP = 0.01                 # smallest risk drop that makes a reason code
_N_BINS = 10                     # calibration bins
_UNKNOWN = "unknown"


# --------------------------------------------------------------------------- checks


def _thread_limit(n_threads: int | None):
    """Run OpenMP (gradient boosting) and BLAS on at most ``n_threads`` threads.

    The per-store tables are small (thousands of rows), so threads gain little, and two
    processes that each spin up one OpenMP thread per core (two pytest workers, or the
    report runner's parallel notebooks) slowed a backtest from 11 s to over 200 s on a
    2-core machine. ``None`` leaves the libraries' defaults (all cores).
    """
    if n_threads is None:
        return contextlib.nullcontext()
    # threadpoolctl limits only the libraries already loaded: load scikit-learn's OpenMP
    # runtime (with the gradient boosting) and the BLAS before setting the limit
    import sklearn.ensemble  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=check_int(n_threads, "n_threads"))


def _tables(data: Any) -> dict[str, pd.DataFrame | None]:
    """Orders, vehicles and customers of a Dataset or a mapping of tables, as pandas."""
    got = tables(data, ("repair_orders",), ("vehicles", "customers"))
    return {k: None if v is None else to_pandas(v, k, reset_index=False)
            for k, v in got.items()}


def _warranty(years: Any, km: Any) -> dict[str, float]:
    return {"warranty_years": check_number(years, "warranty_years", minimum=0, strict=True),
            "warranty_km": check_number(km, "warranty_km", minimum=0, strict=True)}


def _add_months(t: pd.Timestamp, months: int) -> pd.Timestamp:
    return pd.Timestamp(t + pd.DateOffset(months=months))


def _sub_months(t: pd.Timestamp, months: int) -> pd.Timestamp:
    return pd.Timestamp(window_start(months, as_of=t))


def _store_orders(orders: pd.DataFrame, store_id: str | None) -> pd.DataFrame:
    """The store's orders (all dates), open_date as datetime64."""
    require_columns(orders, ["customer_id", "vin", "open_date"], "repair_orders")
    if store_id is not None and not isinstance(store_id, str):
        raise TypeError(f"{caller()}: store_id must be a string such as '001', got "
                        f"{type(store_id).__name__} {store_id!r}")
    o = select_store(orders, store_id)
    if not pd.api.types.is_datetime64_any_dtype(o["open_date"]):
        raise TypeError(f"{caller()}: repair_orders.open_date must hold dates, got "
                        f"{o['open_date'].dtype}")
    return o.reset_index(drop=True)


# --------------------------------------------------------------------------- snapshot


def churn_snapshot(
    data: Any,
    *,
    as_of: Any,
    store_id: str | None = None,
    window_months: int = 24,
    horizon_months: int = 12,
    label: bool = True,
    margins: Margins | None = None,
    cost_per_order: float = DEFAULT_COST_PER_ORDER,
    warranty_years: float = 3.0,
    warranty_km: float = 100_000.0,
) -> pd.DataFrame:
    """One row of churn features (and the label) per customer active at the store at T.

    The columns are listed in the module docstring (:mod:`crm_analysis.churn`). Features
    use the orders opened on or before ``as_of`` only: appending later orders changes
    nothing but ``churned``.

    Parameters
    ----------
    data:
        A :class:`~crm_analysis.schema.Dataset` or a mapping of tables
        (``repair_orders``; ``vehicles`` give the main vehicle's age, grade, usage and
        origin; ``customers`` the customer type, occupation and region).
    as_of:
        The snapshot date T.
    store_id:
        The store (a string such as ``"001"``); ``None`` treats the group as one store.
    window_months:
        Customers with at least one order in (T − window, T] are included.
    horizon_months:
        Label window (T, T + horizon].
    label:
        Add ``churned``. Needs T + horizon on or before the data's as-of date
        (``data.meta["as_of"]``, else its latest order), else :class:`ValueError`.
    margins, cost_per_order:
        For gross profit and net value (:func:`crm_analysis.margins.order_profit`).
    warranty_years, warranty_km:
        Factory warranty limits (default 3 years / 100,000 km), for ``warranty_status``
        and ``months_to_warranty_end``.

    Returns
    -------
    pandas.DataFrame sorted by ``customer_id``. Orders at the store without a customer id
    cannot belong to a row; their number is in ``.attrs["dropped_orders"]``.

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> snap = churn_snapshot(example_dataset(), as_of="2021-03-31", store_id="001")
    >>> snap[["customer_id", "orders", "months_since_last_order", "churned"]].round(2)
      customer_id  orders  months_since_last_order  churned
    0        C001       2                    12.62        1
    1        C002       1                     2.79        1
    """
    tabs = _tables(data)
    t = read_as_of(as_of, data)
    window_months = check_int(window_months, "window_months")
    horizon_months = check_int(horizon_months, "horizon_months")
    if label:
        end = _add_months(t, horizon_months)
        data_end = read_as_of(None, data)
        if end > data_end:
            raise ValueError(
                f"{caller()}: label=True needs as_of + horizon_months on or before the data's "
                f"as_of ({data_end.date()}), but {t.date()} + {horizon_months} months = "
                f"{end.date()}; use an earlier as_of or label=False")
    orders = _store_orders(tabs["repair_orders"], store_id)
    return _snapshot(tabs, orders, t, window_months=window_months,
                     horizon_months=horizon_months if label else None, margins=margins,
                     cost_per_order=cost_per_order, **_warranty(warranty_years, warranty_km))


def _snapshot(data: dict[str, Any], orders: pd.DataFrame, t: pd.Timestamp, *, window_months: int,
              horizon_months: int | None, margins: Margins | None, cost_per_order: float,
              warranty_years: float = 3.0, warranty_km: float = 100_000.0) -> pd.DataFrame:
    """Snapshot from the store's orders (see :func:`churn_snapshot`)."""
    past = orders[orders["open_date"] <= t]
    dropped = int(past["customer_id"].isna().sum())
    f = customer_features(past, data["vehicles"], data["customers"], as_of=t,
                          window_months=window_months, margins=margins,
                          cost_per_order=cost_per_order, warranty_years=warranty_years,
                          warranty_km=warranty_km)
    f = f.reset_index(drop=True)
    f.insert(1, "snapshot_date", pd.Series(t, index=f.index, dtype="datetime64[ns]"))
    h = past[past["customer_id"].notna()]
    h = h[h["customer_id"].isin(f["customer_id"])]
    cid = f["customer_id"]

    # visits in the last 12 months and the 12 before
    d12, d24 = _sub_months(t, 12), _sub_months(t, 24)
    n12 = h.loc[h["open_date"] > d12, "customer_id"].value_counts()
    prev = h.loc[(h["open_date"] > d24) & (h["open_date"] <= d12), "customer_id"].value_counts()
    f["orders_12m"] = cid.map(n12).fillna(0).astype("int64").to_numpy()
    f["orders_prev_12m"] = cid.map(prev).fillna(0).astype("int64").to_numpy()
    f["visit_trend"] = f["orders_12m"] - f["orders_prev_12m"]
    recency = f["recency_days"].astype(float)
    f["months_since_last_order"] = recency / _DAYS_PER_MONTH

    # typical gap between visit days, and how late the customer is against it
    # visit *days*: orders with a time of day on the same day are one visit
    days = h[["customer_id", "open_date"]].assign(open_date=h["open_date"].dt.normalize())
    days = days.drop_duplicates().sort_values(["customer_id", "open_date"], kind="mergesort")
    gaps = days.groupby("customer_id", sort=False)["open_date"].diff().dt.days
    typical = gaps.groupby(days["customer_id"]).median()
    f["typical_gap_days"] = cid.map(typical).astype(float).to_numpy()
    f["overdue_ratio"] = recency / f["typical_gap_days"]
    f["tenure_years"] = f["tenure_days"].astype(float) / DAYS_PER_YEAR
    n = f["orders"].astype(float)
    f["avg_order_value"] = np.where(n > 0, f["revenue"].astype(float) / n.where(n > 0, 1.0),
                                    np.nan)

    # main vehicle: origin, yearly mileage, warranty end
    v = data["vehicles"]
    sale = pd.Series(dtype="datetime64[ns]")
    sold = pd.Series(dtype=float)
    if v is not None and "vin" in v.columns:
        vv = v.drop_duplicates("vin").set_index("vin")
        if "sale_date" in vv.columns:
            sale = pd.to_datetime(vv["sale_date"])
        if "sold_here" in vv.columns:
            sold = vv["sold_here"].map({True: 1.0, False: 0.0}).astype(float)
    main = f["main_vin"]
    f["sold_here"] = main.map(sold).astype(float).to_numpy()
    f["annual_km"] = main.map(_annual_km(h, sale)).astype(float).to_numpy()
    age = f["main_vehicle_age"].astype(float)
    km = f["annual_km"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        end_age = np.where(km > 0, np.minimum(warranty_years, warranty_km / km), warranty_years)
    f["months_to_warranty_end"] = (end_age - age.to_numpy()) * 12.0

    # BG/NBD and MBG/CNBD-k inputs in days
    rfm = rfm_summary(h, "customer_id", "open_date", None, as_of=t, freq="D",
                      regularity=True)
    rfm = rfm.set_index("customer_id")
    f["frequency"] = cid.map(rfm["frequency"]).astype("int64").to_numpy()
    f["recency"] = cid.map(rfm["recency"]).astype(float).to_numpy()
    f["T"] = cid.map(rfm["T"]).astype(float).to_numpy()
    f["litt"] = cid.map(rfm["litt"]).astype(float).to_numpy()

    if horizon_months is not None:
        end = _add_months(t, horizon_months)
        fut = orders.loc[(orders["open_date"] > t) & (orders["open_date"] <= end), "customer_id"]
        f["churned"] = (~cid.isin(set(fut.dropna()))).astype("int64").to_numpy()
    for c in f.columns:  # plain numpy dtypes for scikit-learn
        if isinstance(f[c].dtype, pd.Float64Dtype | pd.Int64Dtype):
            f[c] = f[c].astype("float64" if f[c].isna().any() or
                               isinstance(f[c].dtype, pd.Float64Dtype) else "int64")
    f.attrs["dropped_orders"] = dropped
    return f


def _annual_km(h: pd.DataFrame, sale: pd.Series) -> pd.Series:
    """Kilometres a year per VIN from its latest usable mileage reading."""
    if "mileage_km" not in h.columns or sale.empty:
        return pd.Series(dtype=float)
    r = h[["vin", "open_date", "mileage_km"]].dropna()
    r = r.assign(sale=r["vin"].map(sale)).dropna(subset=["sale"])
    age = (r["open_date"] - r["sale"]).dt.days / DAYS_PER_YEAR
    r = r.assign(age=age)[age >= _MIN_READING_AGE]
    r = r.sort_values(["vin", "open_date", "mileage_km"], kind="mergesort")
    last = r.drop_duplicates("vin", keep="last").set_index("vin")
    return last["mileage_km"].astype(float) / last["age"]


# --------------------------------------------------------------------------- design


def _symlog(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def _design(snap: pd.DataFrame) -> pd.DataFrame:
    """The model features of a snapshot: floats, and strings with ``"unknown"``."""
    require_columns(snap, FEATURES, "snapshot")
    out = pd.DataFrame(index=snap.index)
    for c in NUMERIC_FEATURES:
        out[c] = pd.to_numeric(snap[c], errors="coerce").astype(float)
    for c in CATEGORICAL_FEATURES:
        s = snap[c].astype(object)
        out[c] = s.where(s.notna(), _UNKNOWN).astype(str)
    return out


def _estimator(model: str, random_state: int):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        OneHotEncoder,
        OrdinalEncoder,
        StandardScaler,
    )

    num, cat = list(NUMERIC_FEATURES), list(CATEGORICAL_FEATURES)
    if model == "logistic":
        numeric = Pipeline([
            ("impute", SimpleImputer(strategy="median", add_indicator=True,
                                     keep_empty_features=True)),
            ("symlog", FunctionTransformer(_symlog, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
        ])
        prepare = ColumnTransformer([
            ("num", numeric, num),
            ("cat", OneHotEncoder(handle_unknown="infrequent_if_exist",
                                  min_frequency=_MIN_LEVEL, sparse_output=False), cat),
        ])
        clf = LogisticRegression(C=0.5, solver="newton-cholesky", max_iter=200)
    elif model == "gradient_boosting":
        prepare = ColumnTransformer([
            ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                   encoded_missing_value=np.nan, min_frequency=_MIN_LEVEL),
             cat),
            ("num", "passthrough", num),
        ])
        clf = HistGradientBoostingClassifier(
            learning_rate=0.1, max_iter=60, max_leaf_nodes=15, min_samples_leaf=40,
            l2_regularization=1.0, categorical_features=list(range(len(cat))),
            early_stopping=False, random_state=random_state)
    else:
        raise ValueError(f"{caller()}: unknown model {model!r}; use one of {list(MODELS)}")
    return Pipeline([("prepare", prepare), ("model", clf)])


def _fit_model(model: str, X: pd.DataFrame, y: np.ndarray, groups: np.ndarray,
               calibration: str | None, random_state: int):
    """The pipeline, calibrated on customer-grouped folds, fitted on all rows."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import GroupKFold

    est = _estimator(model, random_state)
    if calibration is None:
        return est.fit(X, y)
    n_groups = len(np.unique(groups))
    if n_groups < _CV_FOLDS:
        raise ValueError(f"{caller()}: calibration needs at least {_CV_FOLDS} customers, got "
                         f"{n_groups}")
    splits = list(GroupKFold(n_splits=_CV_FOLDS).split(X, y, groups))
    cal = CalibratedClassifierCV(est, method=calibration, cv=splits, ensemble=False)
    return cal.fit(X, y)


def _check_calibration(calibration: Any) -> str | None:
    return check_choice(calibration, "calibration", ("isotonic", "sigmoid", None))


def _check_models(models: Any) -> tuple[str, ...]:
    if isinstance(models, str):
        models = (models,)
    models = tuple(models)
    bad = [m for m in models if m not in MODELS]
    if bad or not models or len(set(models)) != len(models):
        raise ValueError(f"{caller()}: models must be distinct names from {list(MODELS)}, got "
                         f"{list(models)}")
    return models


def _training_frame(data: dict[str, Any], orders: pd.DataFrame,
                    dates: Sequence[pd.Timestamp], *, window_months: int, horizon_months: int,
                    **options: Any) -> pd.DataFrame:
    for d in dates:
        start = _sub_months(d, window_months)
        if not ((orders["open_date"] > start) & (orders["open_date"] <= d)).any():
            raise ValueError(f"{caller()}: the training snapshot at {d.date()} has no customer "
                             f"with an order in the {window_months} months before it; use "
                             "fewer train_snapshots or a later as_of")
    parts = []
    for d in dates:
        s = _snapshot(data, orders, d, window_months=window_months,
                      horizon_months=horizon_months, **options)
        parts.append(s)
    train = pd.concat(parts, ignore_index=True)
    if train["churned"].nunique() < 2:
        raise ValueError(f"{caller()}: the training snapshots hold a single class (churned = "
                         f"{int(train['churned'].iloc[0])} for all {len(train)} rows)")
    return train


# --------------------------------------------------------------------------- metrics


def _top_decile_lift(y: np.ndarray, p: np.ndarray, share: float = 0.1) -> float:
    """Churn rate of the top ``share`` of scores over the overall rate (ties pro rata)."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    base = y.mean()
    if not base > 0:
        return float("nan")
    k = max(1, int(np.ceil(share * len(y))))
    cut = np.sort(p)[::-1][k - 1]
    above = p > cut
    tie = p == cut
    churners = y[above].sum() + (k - above.sum()) * y[tie].mean()
    return float(churners / k / base)


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    if np.isnan(p).any() or len(np.unique(y)) < 2:
        return dict.fromkeys(("roc_auc", "pr_auc", "brier", "top_decile_lift"), float("nan"))
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, np.clip(p, 0.0, 1.0))),
        "top_decile_lift": _top_decile_lift(y, p),
    }


def _calibration_table(name: str, y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    b = np.clip(np.floor(np.clip(p, 0.0, 1.0) * _N_BINS), 0, _N_BINS - 1).astype(int)
    df = pd.DataFrame({"bin": b, "p": p, "y": y})
    g = df.groupby("bin", sort=True).agg(mean_predicted=("p", "mean"),
                                         observed_rate=("y", "mean"),
                                         customers=("y", "size")).reset_index()
    g.insert(0, "model", name)
    return g


# --------------------------------------------------------------------------- baselines


def _recency_bucket(months: np.ndarray) -> np.ndarray:
    return np.floor(np.maximum(months, 0.0) / _RECENCY_BUCKET_MONTHS).astype(int)


def _recency_rule(train: pd.DataFrame, y_train: np.ndarray, test: pd.DataFrame) -> np.ndarray:
    b_train = _recency_bucket(train["months_since_last_order"].to_numpy(float))
    rates = pd.Series(y_train, dtype=float).groupby(b_train).mean()
    b_test = _recency_bucket(test["months_since_last_order"].to_numpy(float))
    return pd.Series(b_test).map(rates).fillna(float(np.mean(y_train))).to_numpy(float)


def _btyd_churn(model: str, test: pd.DataFrame) -> np.ndarray:
    """1 − P(alive) of BTYD ``model`` (a :data:`~crm_analysis.btyd.BTYD_MODELS` code)
    fitted on the test snapshot's customers, in days; raises :class:`ConvergenceError` as
    the fit does."""
    x, tx, T, litt = (test[c].to_numpy(float) for c in ("frequency", "recency", "T", "litt"))
    alive = fit_model(model, x, tx, T, litt).probability_alive(x, tx, T)
    return 1.0 - np.asarray(alive, dtype=float)


def _btyd_baselines(test: pd.DataFrame) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Scores of the P(alive) baselines with their fallbacks, and the attempts made
    (:data:`NOTE_COLUMNS`). Each model is fitted at most once, whichever baseline needs
    it; every failed fit is reported by a warning."""
    fits: dict[str, np.ndarray | ConvergenceError] = {}
    scores: dict[str, np.ndarray] = {}
    notes = []
    for baseline, chain in BTYD_FALLBACKS.items():
        scores[baseline] = np.full(len(test), np.nan)
        for attempt, model in enumerate(chain, start=1):
            if model not in fits:
                try:
                    fits[model] = _btyd_churn(model, test)
                except ConvergenceError as exc:
                    fits[model] = exc
            got = fits[model]
            failed = isinstance(got, ConvergenceError)
            notes.append({"baseline": baseline, "attempt": attempt, "model": model,
                          "status": "failed" if failed else "converged",
                          "message": str(got) if failed else "", "used": not failed})
            if not failed:
                scores[baseline] = got
                break
            following = chain[attempt] if attempt < len(chain) else None
            then = (f"falling back to {BTYD_MODELS[following]}" if following else
                    "no model left, its metrics are missing")
            warnings.warn(f"{caller()}: the {baseline} baseline: {BTYD_MODELS[model]} did not "
                          f"converge ({got}); {then}", RuntimeWarning, stacklevel=4)
    return scores, pd.DataFrame(notes, columns=list(NOTE_COLUMNS))


def _note(baseline: str, notes: pd.DataFrame) -> tuple[str | None, str | None]:
    """The model that gave a P(alive) baseline's scores, and a note when it is not the
    baseline's own model (or none converged)."""
    rows = notes[notes["baseline"] == baseline]
    used = rows.loc[rows["used"], "model"]
    failed = rows[rows["status"] == "failed"]
    model = str(used.iloc[0]) if len(used) else None
    if failed.empty:
        return model, None
    why = "; ".join(f"{BTYD_MODELS[m]} did not converge ({msg})"
                    for m, msg in zip(failed["model"], failed["message"], strict=True))
    if model is None:
        return None, f"{why}; no model left, metrics missing"
    return model, f"{why}; scores from {BTYD_MODELS[model]}"


# --------------------------------------------------------------------------- backtest


@dataclass(frozen=True, repr=False)
class BacktestResult:
    """What :func:`backtest` returns (charts: :func:`crm_analysis.plots.churn_roc`,
    :func:`~crm_analysis.plots.churn_calibration`,
    :func:`~crm_analysis.plots.churn_importance`).

    Attributes
    ----------
    metrics_:
        One row per model and baseline: ``model``, ``kind`` (``"model"`` /
        ``"baseline"``), ``roc_auc``, ``pr_auc``, ``brier``, ``top_decile_lift``,
        ``n_train`` (rows of the pooled training snapshots; for the P(alive) baselines
        the customers they were fitted on, those of the test snapshot), ``n_test``,
        ``churn_rate`` (of the test snapshot), ``fitted_model`` (P(alive) baselines: the
        :data:`BTYD_MODELS` code of the model whose P(alive) gave the scores, missing
        when none converged; missing for the other rows) and ``note`` (why a P(alive)
        baseline's scores come from a fallback model or are missing, e.g.
        ``"BG/NBD did not converge (...); scores from MBG/NBD"``; missing otherwise).
    calibration_:
        Reliability table on the test snapshot, ten equal-width bins of the predicted
        probability (empty bins left out): ``model``, ``bin`` (0 = [0, 0.1), …),
        ``mean_predicted``, ``observed_rate``, ``customers``.
    importance_:
        Permutation importance on the test snapshot (drop of ROC-AUC when one feature
        column is shuffled): ``model``, ``feature``, ``importance_mean``,
        ``importance_std``; by model, most important first.
    predictions_:
        ``customer_id``, ``churned`` and one column of scores per model and baseline.
    train_dates_, test_date_:
        The snapshot dates.
    best_model_:
        The model (not baseline) with the highest test ROC-AUC.
    models_:
        The fitted (calibrated) scikit-learn estimators by name.
    test_snapshot_:
        The test snapshot (features and label).
    dropped_orders_:
        Orders of the store up to ``as_of`` without a customer id: they belong to no
        snapshot and no label.
    notes_:
        The BTYD fits behind the P(alive) baselines, one row per attempt
        (:data:`NOTE_COLUMNS`): ``baseline``, ``attempt`` (1, 2, … along
        :data:`BTYD_FALLBACKS`), ``model`` (:data:`BTYD_MODELS` code), ``status``
        (``"converged"`` / ``"failed"``), ``message`` (the
        :class:`~crm_analysis.btyd.ConvergenceError`; empty when converged), ``used``
        (this fit gave the baseline's scores). A baseline whose own model converged has
        a single row.

    Example
    -------
    >>> from crm_analysis.synth import generate
    >>> ds = generate(n_stores=1, seed=5, start="2019-01-01", as_of="2023-12-31", scale=0.05)
    >>> res = backtest(ds, store_id="001", models="logistic", permutation_repeats=1)
    >>> res.best_model_, list(res.predictions_.columns)  # doctest: +NORMALIZE_WHITESPACE
    ('logistic', ['customer_id', 'churned', 'logistic', 'recency_rule', 'bgnbd_p_alive',
                  'mbgcnbd_p_alive'])
    >>> res.notes_[["baseline", "model", "status"]]
              baseline    model     status
    0    bgnbd_p_alive    bgnbd  converged
    1  mbgcnbd_p_alive  mbgcnbd  converged
    """

    metrics_: pd.DataFrame
    calibration_: pd.DataFrame
    importance_: pd.DataFrame
    predictions_: pd.DataFrame
    train_dates_: list[pd.Timestamp]
    test_date_: pd.Timestamp
    best_model_: str
    models_: dict[str, Any]
    test_snapshot_: pd.DataFrame
    dropped_orders_: int = 0
    notes_: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(NOTE_COLUMNS)))

    def __repr__(self) -> str:
        auc = self.metrics_.set_index("model")["roc_auc"].round(3).to_dict()
        return (f"BacktestResult(test_date={self.test_date_.date()}, "
                f"train_dates={[d.date().isoformat() for d in self.train_dates_]}, "
                f"roc_auc={auc}, best_model={self.best_model_!r})")


def backtest(
    data: Any,
    *,
    as_of: Any = None,
    store_id: str | None = None,
    horizon_months: int = 12,
    window_months: int = 24,
    train_snapshots: int = 3,
    models: Sequence[str] = MODELS,
    calibration: str | None = "isotonic",
    permutation_repeats: int = 5,
    shuffle_labels: bool = False,
    random_state: int = 0,
    margins: Margins | None = None,
    cost_per_order: float = DEFAULT_COST_PER_ORDER,
    warranty_years: float = 3.0,
    warranty_km: float = 100_000.0,
    n_threads: int | None = 1,
) -> BacktestResult:
    """Time-based backtest of the churn models against the recency and BTYD baselines.

    The test snapshot is at T_test = ``as_of`` − ``horizon_months`` (its labels end at
    ``as_of``); the training snapshots at T_test − k·horizon, k = 1 … ``train_snapshots``,
    so the latest training labels end at T_test: nothing after T_test is used for
    training. The models and baselines are described in the module docstring.

    Parameters
    ----------
    data:
        As in :func:`churn_snapshot`.
    as_of:
        End of the data used (default: the data's as-of date, ``meta["as_of"]``, else
        the latest order).
    store_id, horizon_months, window_months:
        As in :func:`churn_snapshot`.
    margins, cost_per_order, warranty_years, warranty_km:
        As in :func:`churn_snapshot`.
    train_snapshots:
        Number of training snapshots (pooled; a customer may appear in several).
    models:
        Names from :data:`MODELS`.
    calibration:
        ``"isotonic"``, ``"sigmoid"`` or ``None`` (raw pipeline scores).
    permutation_repeats:
        Shuffles per feature for the permutation importance (0 skips it).
    shuffle_labels:
        Permute the training labels (a leakage guard: the models must fall to ROC-AUC 0.5
        up to noise). The recency rule learns from the permuted labels too; the BTYD
        baselines use no label.
    random_state:
        Seed of the gradient boosting, the permutations and the label shuffle.
    n_threads:
        Threads of gradient boosting and BLAS (default 1: the per-store tables are small
        and several stores may run in parallel; ``None``: the libraries' default, all
        cores).

    Returns
    -------
    :class:`BacktestResult`

    Example
    -------
    >>> from crm_analysis.synth import generate
    >>> ds = generate(n_stores=1, seed=5, start="2019-01-01", as_of="2023-12-31", scale=0.05)
    >>> res = backtest(ds, store_id="001", models=["logistic"], permutation_repeats=1)
    >>> res.test_date_.date(), [d.year for d in res.train_dates_]
    (datetime.date(2022, 12, 31), [2021, 2020, 2019])
    >>> res.metrics_[["model", "kind", "n_test", "fitted_model"]]
                 model      kind  n_test fitted_model
    0         logistic     model     185         None
    1     recency_rule  baseline     185         None
    2    bgnbd_p_alive  baseline     185        bgnbd
    3  mbgcnbd_p_alive  baseline     185      mbgcnbd
    """
    tabs = _tables(data)
    t_end = read_as_of(as_of, data)
    horizon_months = check_int(horizon_months, "horizon_months")
    window_months = check_int(window_months, "window_months")
    train_snapshots = check_int(train_snapshots, "train_snapshots")
    permutation_repeats = check_int(permutation_repeats, "permutation_repeats", minimum=0)
    models = _check_models(models)
    calibration = _check_calibration(calibration)
    data_end = read_as_of(None, data)
    if t_end > data_end:
        raise ValueError(f"{caller()}: as_of {t_end.date()} is after the data's as_of "
                         f"{data_end.date()}")
    kw = dict(window_months=window_months, horizon_months=horizon_months, margins=margins,
              cost_per_order=cost_per_order, **_warranty(warranty_years, warranty_km))
    with _thread_limit(n_threads):
        return _backtest(tabs, t_end, store_id=store_id, train_snapshots=train_snapshots,
                         models=models, calibration=calibration,
                         permutation_repeats=permutation_repeats,
                         shuffle_labels=shuffle_labels, random_state=random_state, **kw)


def _backtest(tabs: dict[str, Any], t_end: pd.Timestamp, *, store_id: str | None,
              train_snapshots: int, models: tuple[str, ...], calibration: str | None,
              permutation_repeats: int, shuffle_labels: bool, random_state: int,
              **kw: Any) -> BacktestResult:
    horizon_months, window_months = kw["horizon_months"], kw["window_months"]
    orders = _store_orders(tabs["repair_orders"], store_id)
    orders = orders[orders["open_date"] <= t_end]
    t_test = _sub_months(t_end, horizon_months)
    train_dates = [_sub_months(t_test, k * horizon_months) for k in range(1, train_snapshots + 1)]
    test = _snapshot(tabs, orders, t_test, **kw)
    if test.empty:
        raise ValueError(f"{caller()}: no customer has an order in the {window_months} months "
                         f"before the test date {t_test.date()}")
    train = _training_frame(tabs, orders, train_dates, **kw)

    y_train = train["churned"].to_numpy()
    if shuffle_labels:
        y_train = np.random.default_rng(random_state).permutation(y_train)
    y_test = test["churned"].to_numpy()
    X_train, X_test = _design(train), _design(test)
    groups = train["customer_id"].to_numpy()

    preds: dict[str, np.ndarray] = {}
    fitted: dict[str, Any] = {}
    importance = []
    for m in models:
        est = _fit_model(m, X_train, y_train, groups, calibration, random_state)
        fitted[m] = est
        preds[m] = est.predict_proba(X_test)[:, 1]
        if permutation_repeats and len(np.unique(y_test)) == 2:
            importance.append(_permutation_importance(m, est, X_test, y_test,
                                                      permutation_repeats, random_state))
    preds["recency_rule"] = _recency_rule(train, y_train, test)
    btyd_scores, notes = _btyd_baselines(test)
    preds.update(btyd_scores)

    rows = []
    for name, p in preds.items():
        kind = "model" if name in MODELS else "baseline"
        n_train = len(test) if name in BTYD_FALLBACKS else len(train)
        fitted_model, note = _note(name, notes) if name in BTYD_FALLBACKS else (None, None)
        rows.append({"model": name, "kind": kind, **_scores(y_test, p),
                     "n_train": n_train, "n_test": len(test),
                     "churn_rate": float(y_test.mean()), "fitted_model": fitted_model,
                     "note": note})
    metrics = pd.DataFrame(rows)
    calib = pd.concat([_calibration_table(n, y_test, p) for n, p in preds.items()
                       if not np.isnan(p).any()], ignore_index=True)
    imp_cols = ["model", "feature", "importance_mean", "importance_std"]
    importance_df = (pd.concat(importance, ignore_index=True) if importance
                     else pd.DataFrame(columns=imp_cols))
    predictions = pd.DataFrame({"customer_id": test["customer_id"].to_numpy(),
                                "churned": y_test, **preds})
    model_rows = metrics[metrics["kind"] == "model"]
    auc = model_rows["roc_auc"].fillna(-np.inf).to_numpy()
    best = str(model_rows["model"].iloc[int(np.argmax(auc))])
    return BacktestResult(metrics, calib, importance_df, predictions, train_dates, t_test,
                          best, fitted, test, int(orders["customer_id"].isna().sum()),
                          notes)


# ------------------------------------------------------------- backtests of short histories


def training_snapshots_allowed(
    data: Any,
    *,
    as_of: Any = None,
    store_id: str | None = None,
    horizon_months: int = 12,
    window_months: int = 24,
    train_snapshots: int = 3,
) -> int:
    """How many of :func:`backtest`'s training snapshots the store's order history allows.

    The backtest trains on snapshots at T_test − k·``horizon_months`` (k = 1 …
    ``train_snapshots``, T_test = ``as_of`` − ``horizon_months``), and a snapshot needs at
    least one order of the store in the ``window_months`` before it. A new store, or a
    short DMS export, has no customer at the earliest dates. Returns the largest k up to
    ``train_snapshots`` for which snapshots 1 … k all have an order: 0 when even the
    first has none.

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> ds = example_dataset()  # store 001: orders on 2019-09-10, 2020-03-12, 2021-01-05
    >>> # test at 2020-12-31; snapshots at 2020-06-30 and 2019-12-31 have an order in the
    >>> # 12 months before them, the one at 2019-06-30 has none
    >>> training_snapshots_allowed(ds, as_of="2021-06-30", store_id="001",
    ...                            horizon_months=6, window_months=12, train_snapshots=5)
    2
    """
    tabs = _tables(data)
    t_end = read_as_of(as_of, data)
    horizon_months = check_int(horizon_months, "horizon_months")
    window_months = check_int(window_months, "window_months")
    train_snapshots = check_int(train_snapshots, "train_snapshots")
    dates = _store_orders(tabs["repair_orders"], store_id)["open_date"]
    t_test = _sub_months(t_end, horizon_months)
    for k in range(1, train_snapshots + 1):
        d = _sub_months(t_test, k * horizon_months)
        if not ((dates > _sub_months(d, window_months)) & (dates <= d)).any():
            return k - 1
    return train_snapshots


def backtest_on_history(data: Any, *, as_of: Any = None, train_snapshots: int = 3,
                        **options: Any) -> BacktestResult:
    """:func:`backtest` with as many training snapshots as the history allows.

    Up to ``train_snapshots`` (see :func:`training_snapshots_allowed`): a store with a
    short history is trained on fewer yearly snapshots instead of failing;
    ``len(result.train_dates_)`` is the number used. ``options`` are :func:`backtest`'s
    (``store_id``, ``horizon_months``, ``window_months``, ``models``, ...).

    Raises
    ------
    ValueError
        As :func:`backtest`, among others when not even one training snapshot has an
        order in its window.

    Example
    -------
    >>> from crm_analysis.synth import generate
    >>> ds = generate(n_stores=1, seed=5, start="2021-07-01", as_of="2024-06-30", scale=0.05)
    >>> res = backtest_on_history(ds, store_id="001", train_snapshots=3,
    ...                           models="logistic", permutation_repeats=0)
    >>> [d.date().isoformat() for d in res.train_dates_]
    ['2022-06-30']
    """
    t_end = read_as_of(as_of, data)
    train_snapshots = check_int(train_snapshots, "train_snapshots")
    keys = ("store_id", "horizon_months", "window_months")
    allowed = training_snapshots_allowed(data, as_of=t_end, train_snapshots=train_snapshots,
                                         **{k: options[k] for k in keys if k in options})
    return backtest(data, as_of=t_end, train_snapshots=max(allowed, 1), **options)


def calibration_gap(result: BacktestResult, model: str | None = None) -> float:
    """Mean distance between predicted and observed churn on the test snapshot.

    The average over the calibration bins of ``model`` (default: the best model) of
    ``|mean_predicted − observed_rate|``, weighted by the customers in each bin
    (:attr:`BacktestResult.calibration_`): 0 for perfectly calibrated probabilities,
    0.05 when predictions are five percentage points off on average. NaN when the model
    has no calibration rows.

    Example
    -------
    >>> import pandas as pd
    >>> cal = pd.DataFrame({"model": ["m", "m", "other"], "bin": [0, 5, 0],
    ...                     "mean_predicted": [0.05, 0.55, 0.5],
    ...                     "observed_rate": [0.10, 0.45, 0.0], "customers": [30, 10, 5]})
    >>> res = BacktestResult(pd.DataFrame(), cal, pd.DataFrame(), pd.DataFrame(), [],
    ...                      pd.Timestamp("2023-12-31"), "m", {}, pd.DataFrame())
    >>> round(calibration_gap(res), 4)  # (30 × 0.05 + 10 × 0.10) / 40
    0.0625
    """
    name = result.best_model_ if model is None else model
    cal = result.calibration_[result.calibration_["model"] == name]
    if cal.empty:
        return float("nan")
    return float(np.average(np.abs(cal["mean_predicted"] - cal["observed_rate"]),
                            weights=cal["customers"]))


def baseline_fallbacks(result: BacktestResult) -> pd.DataFrame:
    """The P(alive) baselines whose own model did not converge, one row per failed fit.

    Columns: ``baseline`` (a code of :data:`BASELINES`), ``model`` (the
    :data:`BTYD_MODELS` code that failed, in the order tried) and ``fitted_model`` (the
    code of the model whose P(alive) gave the baseline's scores instead, ``None`` when
    no model of :data:`BTYD_FALLBACKS` converged). Empty when every baseline's own model
    converged.

    Example
    -------
    >>> import pandas as pd
    >>> notes = pd.DataFrame({"baseline": ["bgnbd_p_alive", "bgnbd_p_alive", "mbgcnbd_p_alive"],
    ...                       "attempt": [1, 2, 1], "model": ["bgnbd", "mbgnbd", "mbgcnbd"],
    ...                       "status": ["failed", "converged", "converged"],
    ...                       "message": ["no maximum", "", ""], "used": [False, True, True]})
    >>> res = BacktestResult(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame(),
    ...                      [], pd.Timestamp("2023-12-31"), "logistic", {}, pd.DataFrame(),
    ...                      notes_=notes)
    >>> baseline_fallbacks(res)
            baseline  model fitted_model
    0  bgnbd_p_alive  bgnbd       mbgnbd
    """
    notes = result.notes_
    failed = notes[notes["status"] == "failed"]
    used = notes[notes["used"].astype(bool)].drop_duplicates("baseline")
    fitted = dict(zip(used["baseline"], used["model"], strict=True))
    return pd.DataFrame({
        "baseline": failed["baseline"].to_numpy(dtype=object),
        "model": failed["model"].to_numpy(dtype=object),
        "fitted_model": [fitted.get(b) for b in failed["baseline"]],
    })


def _permutation_importance(name: str, est: Any, X: pd.DataFrame, y: np.ndarray,
                            repeats: int, random_state: int) -> pd.DataFrame:
    """Permutation importance with ROC-AUC scoring, as
    :func:`sklearn.inspection.permutation_importance` defines it (score on ``X`` minus the
    score with one column shuffled; mean and standard deviation over ``repeats``
    shuffles), but with the ``repeats`` shuffled copies of ``X`` scored in one call: one
    prediction per feature instead of one per shuffle (5 times fewer, much faster)."""
    from sklearn.metrics import roc_auc_score

    n = len(X)
    base = roc_auc_score(y, est.predict_proba(X)[:, 1])
    big = pd.concat([X] * repeats, ignore_index=True)
    rng = np.random.default_rng(random_state)
    rows = []
    for f in X.columns:
        col = X[f].to_numpy()
        shuffled = np.concatenate([col[rng.permutation(n)] for _ in range(repeats)])
        p = est.predict_proba(big.assign(**{f: shuffled}))[:, 1].reshape(repeats, n)
        drops = base - np.array([roc_auc_score(y, p[r]) for r in range(repeats)])
        rows.append({"model": name, "feature": f, "importance_mean": float(drops.mean()),
                     "importance_std": float(drops.std())})
    out = pd.DataFrame(rows)
    return out.sort_values(["importance_mean", "feature"], ascending=[False, True],
                           kind="mergesort").reset_index(drop=True)


# --------------------------------------------------------------------------- reasons


@dataclass(frozen=True)
class _Reason:
    """A group of features replaced together, and the code it reports for a customer."""

    features: tuple[str, ...]
    code: Callable[[pd.DataFrame, dict[str, Any]], np.ndarray]


def _above(feature: str, high: str, low: str, missing: str | None = None):
    def code(X: pd.DataFrame, ref: dict[str, Any]) -> np.ndarray:
        x = X[feature].to_numpy(float)
        out = np.where(x > ref[feature], high, low).astype(object)
        if missing is not None:
            out[np.isnan(x)] = missing
        return out
    return code


def _warranty_code(X: pd.DataFrame, ref: dict[str, Any]) -> np.ndarray:
    m = X["months_to_warranty_end"].to_numpy(float)
    return np.select([np.isnan(m), m < 0, m <= 12], ["warranty_unknown", "warranty_ended",
                                                     "warranty_ending"], "in_warranty")


def _usage_code(X: pd.DataFrame, ref: dict[str, Any]) -> np.ndarray:
    u = X["usage"].to_numpy(object)
    km = X["annual_km"].to_numpy(float)
    high = np.isin(u, ["ride_hailing", "taxi"]) | (km > ref["annual_km"])
    fleet = np.isin(u, ["company", "government"])
    return np.select([high, fleet, np.isnan(km)],
                     ["high_mileage_usage", "fleet_usage", "mileage_unknown"],
                     "low_mileage_usage")


def _grade_code(X: pd.DataFrame, ref: dict[str, Any]) -> np.ndarray:
    g = X["grade"].to_numpy(object)
    known = np.isin(g, ["economy", "mid", "premium"])
    return np.where(known, np.char.add("grade_", g.astype(str)), "grade_unknown").astype(object)


def _origin_code(X: pd.DataFrame, ref: dict[str, Any]) -> np.ndarray:
    s = X["sold_here"].to_numpy(float)
    return np.select([np.isnan(s), s >= 0.5], ["sale_origin_unknown", "bought_here"],
                     "bought_elsewhere")


def _customer_code(X: pd.DataFrame, ref: dict[str, Any]) -> np.ndarray:
    ct = X["customer_type"].to_numpy(object)
    nv = X["n_vehicles"].to_numpy(float)
    return np.select([np.isin(ct, ["company", "government"]), nv > 1],
                     ["company_customer", "several_vehicles"], "single_vehicle")


def _const(code: str):
    return lambda X, ref: np.full(len(X), code, dtype=object)


#: Reason groups: the features replaced together by their reference values.
_REASONS: dict[str, _Reason] = {
    "recency": _Reason(("months_since_last_order",),
                       _above("months_since_last_order", "long_since_last_visit",
                              "recent_visit")),
    "overdue": _Reason(("overdue_ratio",),
                       _above("overdue_ratio", "overdue_for_service", "visits_on_schedule",
                              "single_visit")),
    "visits": _Reason(("orders", "orders_12m", "orders_prev_12m", "visits_per_year",
                       "frequency"), _above("orders", "many_visits", "few_visits")),
    "trend": _Reason(("visit_trend",), _above("visit_trend", "rising_visits", "falling_visits")),
    "tenure": _Reason(("tenure_years",), _above("tenure_years", "long_relationship",
                                                "new_customer")),
    "spend": _Reason(("revenue", "gross_profit", "net_value", "avg_order_value"),
                     _above("revenue", "high_spend", "low_spend")),
    "vehicle_age": _Reason(("main_vehicle_age",),
                           _above("main_vehicle_age", "old_vehicle", "new_vehicle",
                                  "vehicle_age_unknown")),
    "warranty": _Reason(("months_to_warranty_end", "warranty_status"), _warranty_code),
    "usage": _Reason(("usage", "annual_km"), _usage_code),
    "grade": _Reason(("grade",), _grade_code),
    "origin": _Reason(("sold_here",), _origin_code),
    "customer": _Reason(("customer_type", "n_vehicles"), _customer_code),
    "region": _Reason(("region",), _const("customer_region")),
    "occupation": _Reason(("occupation",), _const("customer_occupation")),
    "order_mix": _Reason(tuple(c for c in NUMERIC_FEATURES if c.startswith("share_")),
                         _const("order_mix")),
}

#: Every reason code :meth:`ChurnModel.predict` can return (labels: ``churn_reason.<code>``).
REASON_CODES: tuple[str, ...] = (
    "long_since_last_visit", "recent_visit", "overdue_for_service", "visits_on_schedule",
    "single_visit", "many_visits", "few_visits", "rising_visits", "falling_visits",
    "long_relationship", "new_customer", "high_spend", "low_spend", "old_vehicle",
    "new_vehicle", "vehicle_age_unknown", "warranty_ended", "warranty_ending", "in_warranty",
    "warranty_unknown", "high_mileage_usage", "low_mileage_usage", "fleet_usage",
    "mileage_unknown",
    "grade_economy", "grade_mid", "grade_premium", "grade_unknown", "bought_here",
    "bought_elsewhere", "sale_origin_unknown", "company_customer", "several_vehicles",
    "single_vehicle", "customer_region", "customer_occupation", "order_mix",
)


def _reference(X: pd.DataFrame) -> dict[str, Any]:
    """Median of each numeric feature, most frequent level of each categorical one."""
    ref: dict[str, Any] = {}
    for c in NUMERIC_FEATURES:
        x = X[c].to_numpy(float)
        ref[c] = float(np.nanmedian(x)) if np.isfinite(x).any() else float("nan")
    for c in CATEGORICAL_FEATURES:
        counts = X[c].value_counts()
        top = counts[counts == counts.max()].index
        ref[c] = str(sorted(top)[0]) if len(top) else _UNKNOWN
    return ref


# --------------------------------------------------------------------------- ChurnModel


class ChurnModel:
    """A calibrated churn model that scores customers at a date, with reason codes.

    Trained like :func:`backtest` trains, but on the snapshots at ``as_of − k·horizon``
    (k = 1 … ``train_snapshots``), whose labels end on or before ``as_of``, so that it
    scores the customers active at ``as_of`` itself.

    Parameters (stored as given; :meth:`fit` checks them)
    ----------------------------------------------------
    model:
        ``"gradient_boosting"`` or ``"logistic"`` (see the module docstring).
    horizon_months, window_months:
        As in :func:`churn_snapshot`.
    train_snapshots:
        Number of pooled training snapshots.
    calibration:
        ``"isotonic"``, ``"sigmoid"`` or ``None``.
    random_state:
        Seed of the gradient boosting.
    n_threads:
        Threads of gradient boosting and BLAS in :meth:`fit` and :meth:`predict` (default
        1, as in :func:`backtest`; ``None``: all cores).

    Attributes (after :meth:`fit`)
    ------------------------------
    estimator_:
        The fitted scikit-learn estimator.
    reference_:
        Reference value of each feature (training median / most frequent level).
    train_dates_, n_train_, churn_rate_:
        Training snapshot dates, rows, and their churn rate.

    Reason codes
    ------------
    For each customer, each group of related features (recency, visit counts, visit trend,
    warranty, usage, ...) is set to its reference value and the customer rescored; the
    groups whose replacement lowers the predicted risk the most, by at least 0.01, give
    ``reason_1`` … ``reason_3`` (``None`` when fewer apply). The code describes the
    customer's own value, e.g. ``long_since_last_visit``, ``warranty_ended``,
    ``few_visits``, ``falling_visits``, ``high_mileage_usage`` (all codes:
    :data:`REASON_CODES`; labels ``churn_reason.<code>`` in :mod:`crm_analysis.i18n`).

    Example
    -------
    >>> from crm_analysis.synth import generate
    >>> ds = generate(n_stores=1, seed=5, start="2019-01-01", as_of="2023-12-31", scale=0.05)
    >>> cm = ChurnModel(model="logistic", train_snapshots=2).fit(ds, store_id="001")
    >>> [d.year for d in cm.train_dates_]
    [2022, 2021]
    >>> scored = cm.predict(ds, store_id="001")
    >>> scored[["churn_probability", "reason_1"]].notna().any().tolist()
    [True, True]
    >>> bool(scored["churn_probability"].between(0, 1).all())
    True
    """

    def __init__(self, model: str = "gradient_boosting", horizon_months: int = 12,
                 window_months: int = 24, train_snapshots: int = 3,
                 calibration: str | None = "isotonic", random_state: int = 0,
                 n_threads: int | None = 1) -> None:
        self.model = model
        self.horizon_months = horizon_months
        self.window_months = window_months
        self.train_snapshots = train_snapshots
        self.calibration = calibration
        self.random_state = random_state
        self.n_threads = n_threads

    def __repr__(self) -> str:
        return (f"ChurnModel(model={self.model!r}, horizon_months={self.horizon_months}, "
                f"window_months={self.window_months}, train_snapshots={self.train_snapshots}, "
                f"calibration={self.calibration!r}, random_state={self.random_state}, "
                f"n_threads={self.n_threads})")

    def fit(self, data: Any, *, as_of: Any = None, store_id: str | None = None,
            margins: Margins | None = None, cost_per_order: float = DEFAULT_COST_PER_ORDER,
            warranty_years: float = 3.0, warranty_km: float = 100_000.0) -> ChurnModel:
        """Train on the snapshots at ``as_of − k·horizon``; returns the model.

        ``data`` is as in :func:`churn_snapshot`; ``margins``, ``cost_per_order``,
        ``warranty_years`` and ``warranty_km`` are as there and are used again by
        :meth:`predict`."""
        tabs = _tables(data)
        t = read_as_of(as_of, data)
        check_choice(self.model, "model", MODELS)
        horizon = check_int(self.horizon_months, "horizon_months")
        window = check_int(self.window_months, "window_months")
        n_snapshots = check_int(self.train_snapshots, "train_snapshots")
        calibration = _check_calibration(self.calibration)
        if self.n_threads is not None:
            check_int(self.n_threads, "n_threads")
        data_end = read_as_of(None, data)
        if t > data_end:
            raise ValueError(f"{caller()}: as_of {t.date()} is after the data's as_of "
                             f"{data_end.date()}")
        options = dict(margins=margins, cost_per_order=cost_per_order,
                       **_warranty(warranty_years, warranty_km))
        orders = _store_orders(tabs["repair_orders"], store_id)
        orders = orders[orders["open_date"] <= t]
        dates = [_sub_months(t, k * horizon) for k in range(1, n_snapshots + 1)]
        train = _training_frame(tabs, orders, dates, window_months=window,
                                horizon_months=horizon, **options)
        X = _design(train)
        y = train["churned"].to_numpy()
        with _thread_limit(self.n_threads):
            self.estimator_ = _fit_model(self.model, X, y, train["customer_id"].to_numpy(),
                                         calibration, self.random_state)
        self.reference_ = _reference(X)
        self.train_dates_ = dates
        self.n_train_ = len(train)
        self.churn_rate_ = float(y.mean())
        self.store_id_ = store_id
        self._options = options
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimator_"):
            raise RuntimeError(f"{caller()}: the model is not fitted; call fit() first")

    def predict_proba(self, snapshot: pd.DataFrame) -> np.ndarray:
        """Churn probability of each row of a :func:`churn_snapshot` frame."""
        self._check_fitted()
        with _thread_limit(self.n_threads):
            return self.estimator_.predict_proba(_design(snapshot))[:, 1]

    def predict(self, data: Any, *, as_of: Any = None, store_id: str | None = None
                ) -> pd.DataFrame:
        """The snapshot at ``as_of`` (default: the data's as-of date; no label) with
        ``churn_probability`` and ``reason_1`` … ``reason_3``.

        ``store_id`` defaults to the store the model was fitted on."""
        tabs = _tables(data)
        t = read_as_of(as_of, data)
        self._check_fitted()
        if store_id is None:
            store_id = self.store_id_
        orders = _store_orders(tabs["repair_orders"], store_id)
        snap = _snapshot(tabs, orders, t, window_months=self.window_months,
                         horizon_months=None, **self._options)
        out = snap.copy()
        if snap.empty:
            out["churn_probability"] = np.array([], dtype=float)
            for k in (1, 2, 3):
                out[f"reason_{k}"] = np.array([], dtype=object)
            return out
        X = _design(snap)
        with _thread_limit(self.n_threads):
            p = self.estimator_.predict_proba(X)[:, 1]
            reasons = self._reasons(X, p)
        out["churn_probability"] = p
        for k in range(3):
            out[f"reason_{k + 1}"] = reasons[:, k]
        return out

    def _reasons(self, X: pd.DataFrame, p: np.ndarray) -> np.ndarray:
        """Top three reason codes per row (see the class docstring); one prediction call
        on all the modified copies of ``X`` stacked."""
        names = list(_REASONS)
        n = len(X)
        copies, codes = [], np.empty((n, len(names)), dtype=object)
        for j, name in enumerate(names):
            r = _REASONS[name]
            copies.append(X.assign(**{c: self.reference_[c] for c in r.features}))
            codes[:, j] = r.code(X, self.reference_)
        q = self.estimator_.predict_proba(pd.concat(copies, ignore_index=True))[:, 1]
        drops = p[:, None] - q.reshape(len(names), n).T
        order = np.argsort(-drops, axis=1, kind="stable")
        out = np.full((n, 3), None, dtype=object)
        rows = np.arange(n)
        for k in range(3):
            j = order[:, k]
            ok = drops[rows, j] >= _MIN_DROP
            out[ok, k] = codes[rows[ok], j[ok]]
        return out

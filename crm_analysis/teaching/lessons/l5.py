"""Exercises of lesson L5, "Churn prediction without leakage".

Each ``expected`` function is the grader's truth, computed from the student's own data
(:class:`~crm_analysis.teaching.core.LessonData`). Definitions (DOMAIN.md section 3):
the **test date** is T = analysis date − 12 months; the customers of the test snapshot
are those with at least one order at the store in (T − 24 months, T]; a customer
**churned** when she has no order at the store in (T, T + 12 months].

The label and the two single-feature scores (L5.1–L5.3) are computed here from the raw
orders with pandas, independently of :func:`crm_analysis.churn.churn_snapshot`, which
the lesson's solution cells use. The model answers (L5.4–L5.6) come from the library's
logistic regression (deterministic: no random split, fixed ``random_state``, one
thread), trained exactly as the lesson trains it; the counting and sorting around the
model are re-done here by hand.

The ``*_view`` functions are the lesson's tables as the student sees them: a
:class:`~crm_analysis.value.LabelledTable` (headers in the student's language from
``crm_analysis/texts/lesson5.toml``, numbers as numbers with their formats), shown with
``n.table(shown.table, **shown.formats)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crm_analysis.churn import ChurnModel, backtest
from crm_analysis.five_classes import (
    DEFAULT_HIGH_VALUE_SHARE,
    high_value_threshold,
    reason_labels,
)
from crm_analysis.i18n import t
from crm_analysis.narrative import Narrator
from crm_analysis.overview import window_start
from crm_analysis.teaching.core import exercise
from crm_analysis.value import LabelledTable

#: Churn horizon: no order in this many months after the snapshot date.
HORIZON_MONTHS = 12
#: Customers of a snapshot: an order in this many months up to its date.
WINDOW_MONTHS = 24
#: Yearly training snapshots before the test date (small and fast for a class).
TRAIN_SNAPSHOTS = 2
#: The cheap, deterministic model of the lesson.
MODEL = "logistic"
#: Seed of everything random in the model (the logistic model itself uses none).
RANDOM_STATE = 0
#: Churn probability from which a customer counts as at risk (the library default).
RISK_THRESHOLD = 0.5
#: The stricter threshold of exercise L5.5.
STRICT_THRESHOLD = 0.6
#: Customers of the call list asked for in L5.6.
CALL_TOP = 5
#: Share of the customers with a positive net value that count as high value (the
#: library default of :func:`~crm_analysis.five_classes.high_value_threshold`).
HIGH_VALUE_SHARE = DEFAULT_HIGH_VALUE_SHARE

_CACHE: dict[tuple, tuple] = {}


def _cached(name: str, data, build):
    key = (name, id(data.dataset), str(data.store_id), pd.Timestamp(data.as_of))
    hit = _CACHE.get(key)
    if hit is None or hit[0] is not data.dataset:
        for old in [k for k in _CACHE if k[0] == name]:
            del _CACHE[old]
        hit = _CACHE[key] = (data.dataset, build())
    return hit[1]


def test_date(data) -> pd.Timestamp:
    """T = analysis date − 12 calendar months: the last date whose labels are known."""
    return pd.Timestamp(window_start(HORIZON_MONTHS, as_of=data.as_of))


def run_backtest(data):
    """The lesson's backtest: logistic model, 2 yearly training snapshots, test at T."""
    return _cached("backtest", data, lambda: backtest(
        data.dataset, as_of=data.as_of, store_id=data.store_id, horizon_months=HORIZON_MONTHS,
        window_months=WINDOW_MONTHS, train_snapshots=TRAIN_SNAPSHOTS, models=[MODEL],
        permutation_repeats=0, random_state=RANDOM_STATE, n_threads=1))


def score_today(data) -> pd.DataFrame:
    """Today's customers scored by the lesson's model (ChurnModel.predict output)."""
    def build():
        cm = ChurnModel(model=MODEL, horizon_months=HORIZON_MONTHS,
                        window_months=WINDOW_MONTHS, train_snapshots=TRAIN_SNAPSHOTS,
                        random_state=RANDOM_STATE, n_threads=1)
        cm.fit(data.dataset, as_of=data.as_of, store_id=data.store_id)
        return cm.predict(data.dataset, as_of=data.as_of, store_id=data.store_id)
    return _cached("scored", data, build).copy()


def _orders(data) -> pd.DataFrame:
    o = data.dataset.repair_orders
    o = o[(o["store_id"].astype(str) == str(data.store_id)) & o["customer_id"].notna()]
    return o[["customer_id", "open_date"]]


def labelled_test_customers(data) -> pd.DataFrame:
    """One row per test-snapshot customer, by hand: ``customer_id``, ``last_order``
    (up to T), ``churned`` (0/1) and ``orders_24m_today`` (orders in the 24 months up to
    the *analysis* date: the leaky version of a visit count)."""
    o = _orders(data)
    t = test_date(data)
    start = window_start(WINDOW_MONTHS, as_of=t)
    end = t + pd.DateOffset(months=HORIZON_MONTHS)
    recent = o[(o["open_date"] > start) & (o["open_date"] <= t)]
    ids = pd.Index(sorted(recent["customer_id"].astype(str).unique()), name="customer_id")
    past = o[o["open_date"] <= t]
    last = past.groupby(past["customer_id"].astype(str))["open_date"].max()
    future = o[(o["open_date"] > t) & (o["open_date"] <= end)]
    came_back = set(future["customer_id"].astype(str))
    today = pd.Timestamp(data.as_of)
    late = o[(o["open_date"] > window_start(WINDOW_MONTHS, as_of=today))
             & (o["open_date"] <= today)]
    total = late.groupby(late["customer_id"].astype(str)).size()
    return pd.DataFrame({
        "last_order": last.reindex(ids).to_numpy(),
        "churned": [0 if c in came_back else 1 for c in ids],
        "orders_24m_today": total.reindex(ids).fillna(0).astype(int).to_numpy(),
    }, index=ids).reset_index()


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (ties count one half), without scikit-learn."""
    y = np.asarray(y, dtype=bool)
    ranks = pd.Series(np.asarray(score, dtype=float)).rank(method="average").to_numpy()
    n1, n0 = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


# --------------------------------------------------------------------------- tables shown


def _shown(frame: pd.DataFrame, lang: str, digits: int = 1,
           **kinds: list[str]) -> LabelledTable:
    """``frame`` with the lesson's headers in ``lang`` and the formats of its number columns
    (``money``, ``pct``, ``ints``, ``floats`` with ``digits`` decimals), for
    :meth:`~crm_analysis.narrative.Narrator.table`."""
    n = Narrator(lang)
    head = {c: c if c == "ROC AUC" else n.text(f"lesson5.col.{c}") for c in frame.columns}
    formats: dict[str, Any] = {kind: [head[c] for c in cols] for kind, cols in kinds.items()}
    if "floats" in kinds:
        formats["digits"] = digits
    return LabelledTable(frame.rename(columns=head), formats)


def _numbers(values: Any, kind: str = "float") -> np.ndarray | pd.Series:
    """Numbers of a column, missing ones as NaN (``kind="int"``: whole numbers, pd.NA)."""
    out = pd.to_numeric(pd.Series(values), errors="coerce").reset_index(drop=True)
    return out.round().astype("Int64") if kind == "int" else out.astype(float).to_numpy()


def snapshot_view(snap: pd.DataFrame, lang: str = "en") -> LabelledTable:
    """Rows of a churn snapshot as the lesson shows them, in ``lang``: customer, orders,
    months since the last order, vehicle age, net value (whole yuan), churned. Show it
    with ``n.table(shown.table, **shown.formats)``.

    >>> snap = pd.DataFrame({"customer_id": ["C1"], "orders": [3],
    ...     "months_since_last_order": [4.26], "main_vehicle_age": [None],
    ...     "net_value": [1234.5], "churned": [1]})
    >>> shown = snapshot_view(snap, "zh")
    >>> shown.formats["money"], shown.formats["floats"], shown.formats["digits"]
    (['净价值（元）'], ['距上次工单月数', '车龄（年）'], 1)
    """
    view = pd.DataFrame({
        "customer_id": snap["customer_id"].astype(str).to_numpy(),
        "orders": _numbers(snap["orders"], "int"),
        "months_since_last_order": _numbers(snap["months_since_last_order"]),
        "main_vehicle_age": _numbers(snap["main_vehicle_age"]),
        "net_value": _numbers(snap["net_value"]),
        "churned": _numbers(snap["churned"], "int"),
    })
    return _shown(view, lang, ints=["orders", "churned"],
                  floats=["months_since_last_order", "main_vehicle_age"], money=["net_value"])


def metrics_view(metrics: pd.DataFrame, lang: str = "en") -> LabelledTable:
    """A backtest's ``metrics_`` as the lesson shows them: method names in ``lang``,
    ROC AUC, Brier score and top-decile lift with three decimals.

    >>> m = pd.DataFrame({"model": ["recency_rule"], "roc_auc": [0.71234], "brier": [0.2],
    ...                   "top_decile_lift": [1.5]})
    >>> shown = metrics_view(m)
    >>> shown.table.iloc[0, 0], shown.formats
    ('Recency rule', {'floats': ['ROC AUC', 'Brier score', 'Top-decile lift'], 'digits': 3})
    """
    view = pd.DataFrame({
        "model": [t(f"churn_model.{c}", lang) for c in metrics["model"]],
        "ROC AUC": _numbers(metrics["roc_auc"]),
        "brier": _numbers(metrics["brier"]),
        "top_decile_lift": _numbers(metrics["top_decile_lift"]),
    })
    return _shown(view, lang, digits=3, floats=["ROC AUC", "brier", "top_decile_lift"])


def classes_view(summary: pd.DataFrame, lang: str = "en") -> LabelledTable:
    """The five classes' summary (indexed by class) as the lesson shows it: class names
    in ``lang``, customers, net value, mean churn probability and expected value at risk.

    >>> s = pd.DataFrame({"customers": [12], "value": [34567.8], "mean_risk": [0.654],
    ...                   "expected_value_at_risk": [22000.0]},
    ...                  index=pd.Index(["high_value_at_risk"], name="grade"))
    >>> shown = classes_view(s, "zh")
    >>> shown.table.iloc[0, 0], shown.formats["money"], shown.formats["pct"]
    ('高价值易流失客户', ['净价值（元）', '期望流失价值（元）'], ['平均流失概率'])
    """
    view = pd.DataFrame({
        "grade": [t(f"churn_class.{c}", lang) for c in summary.index],
        "customers": _numbers(summary["customers"], "int"),
        "value": _numbers(summary["value"]),
        "mean_risk": _numbers(summary["mean_risk"]),
        "expected_value_at_risk": _numbers(summary["expected_value_at_risk"]),
    })
    return _shown(view, lang, ints=["customers"], money=["value", "expected_value_at_risk"],
                  pct=["mean_risk"])


def calls_view(calls: pd.DataFrame, lang: str = "en") -> LabelledTable:
    """Rows of a call list (:func:`~crm_analysis.five_classes.action_list`) as the lesson
    shows them to the advisors: no customer id; class, vehicle age, net value, churn
    probability and the model's reasons in ``lang``
    (:func:`~crm_analysis.five_classes.reason_labels`).

    >>> calls = pd.DataFrame({"rank": [1], "customer_id": ["C9"],
    ...     "churn_class": ["high_value_at_risk"], "vehicle_age": [5.04], "value": [8000.0],
    ...     "risk": [0.81], "reason_1": ["long_since_last_visit"], "reason_2": [None]})
    >>> calls_view(calls).table.iloc[0, [1, 5]].tolist()
    ['High value, at risk', 'Long time since the last visit']
    """
    view = pd.DataFrame({
        "rank": _numbers(calls["rank"], "int"),
        "churn_class": [t(f"churn_class.{c}", lang) for c in calls["churn_class"]],
        "vehicle_age": _numbers(calls["vehicle_age"]),
        "value": _numbers(calls["value"]),
        "risk": _numbers(calls["risk"]),
        "reasons": reason_labels(calls, lang=lang,
                                 sep="、" if lang == "zh" else "; ").to_numpy(),
    })
    return _shown(view, lang, ints=["rank"], floats=["vehicle_age"], money=["value"],
                  pct=["risk"])


# A share of two exact counts: abs_tol 0.001 accepts it rounded to three decimals. A
# snapshot built one day off (>= instead of >) moves it by a customer or two, about
# 0.003-0.006 on a small store: "close".
@exercise(
    "L5.1",
    title={"en": "Churn rate of the test snapshot (share of its customers with no order in "
                 "the 12 months after the test date)",
           "zh": "测试快照的流失率（其客户中在测试日之后 12 个月内没有工单的比例）"},
    hint={"en": "Build churn_snapshot at the test date (analysis date minus 12 months) and "
                "average its 'churned' column; the answer is a share between 0 and 1.",
          "zh": "在测试日（分析日期减 12 个月）构建 churn_snapshot，对其 churned 列求平均；"
                "答案是 0 到 1 之间的比例。"},
    abs_tol=0.001, rel_tol=0.0,
)
def test_churn_rate(data) -> float:
    return float(labelled_test_customers(data)["churned"].mean())


# ROC AUC depends only on the order of the scores, so months, days or the last order date
# itself (reversed) all give the same number; abs_tol 0.002 accepts three decimals. The
# library's bucketed "recency rule" baseline differs by more than that: it is "close".
@exercise(
    "L5.2",
    title={"en": "ROC AUC of the recency baseline (months since the last order at the test "
                 "date as the churn score) on the test snapshot",
           "zh": "最近进厂间隔基准（以测试日距上次工单的月数为流失分数）在测试快照上的 ROC AUC"},
    hint={"en": "roc_auc_score(snapshot['churned'], snapshot['months_since_last_order']) on "
                "the snapshot at the test date: longer since the last visit means more risk.",
          "zh": "在测试日快照上计算 roc_auc_score(snapshot['churned'], "
                "snapshot['months_since_last_order'])：距上次进厂越久，风险越高。"},
    abs_tol=0.002, rel_tol=0.0,
)
def recency_auc(data) -> float:
    c = labelled_test_customers(data)
    days = (test_date(data) - pd.to_datetime(c["last_order"])).dt.days.to_numpy(float)
    return _auc(c["churned"].to_numpy(), days)


# Same reasoning as L5.2: only the ranking matters; abs_tol 0.002.
@exercise(
    "L5.3",
    title={"en": "Leakage: ROC AUC of the orders in the 24 months up to the analysis date "
                 "(not the test date; fewer orders = more risk) on the test snapshot",
           "zh": "数据泄漏：以截至分析日期（而非测试日）前 24 个月的工单数为分数（越少风险越高）"
                 "，在测试快照上的 ROC AUC"},
    hint={"en": "For each test customer count the orders with open_date after the analysis "
                "date minus 24 months and on or before the analysis date (0 when none), and "
                "use minus that count as the churn score.",
          "zh": "对每位测试客户，统计进厂日期晚于“分析日期减 24 个月”且不晚于分析日期的工单数"
                "（没有则为 0），以其相反数作为流失分数。"},
    abs_tol=0.002, rel_tol=0.0,
)
def leaky_orders_auc(data) -> float:
    c = labelled_test_customers(data)
    return _auc(c["churned"].to_numpy(), -c["orders_24m_today"].to_numpy(float))


# Model-based but deterministic (the same training rows, no random split, one thread).
# abs_tol 0.01: a customer whose probability sits on the 0.5 cut could move in or out if
# the arithmetic differed in the last bits (one customer moves the rate by about 0.005-
# 0.01 in a small store); forgetting the cut or using "> 0.5" lands within "close".
@exercise(
    "L5.4",
    title={"en": "Calibration check: observed churn rate among the test customers the "
                 "logistic model gives a churn probability of 0.5 or more",
           "zh": "校准检验：逻辑回归模型给出流失概率不低于 0.5 的测试客户中，实际流失的比例"},
    hint={"en": "Use the backtest's predictions_ table: keep the rows with logistic >= 0.5 "
                "and average 'churned'.",
          "zh": "使用回测结果的 predictions_ 表：保留 logistic >= 0.5 的行，对 churned 求平均。"},
    abs_tol=0.01, rel_tol=0.0,
)
def observed_rate_above_half(data) -> float:
    p = run_backtest(data).predictions_
    high = p[p[MODEL].to_numpy(float) >= RISK_THRESHOLD]
    return float(high["churned"].mean()) if len(high) else float("nan")


# A count from a deterministic model: abs_tol 0.5 makes it exact; within 5 (the "close"
# band) usually means the default 0.5 threshold was kept.
@exercise(
    "L5.5",
    title={"en": "Number of high-value customers at risk when 'at risk' means a churn "
                 "probability of 0.6 or more",
           "zh": "若“易流失”指流失概率不低于 0.6，高价值易流失客户有多少位"},
    hint={"en": "five_classes(scored, risk_threshold=0.6) with the default high-value rule "
                "(top 20% of the customers with a positive net value); count the "
                "'high_value_at_risk' class.",
          "zh": "five_classes(scored, risk_threshold=0.6)，高价值仍按默认规则"
                "（净价值为正的客户中前 20%）；数一数 high_value_at_risk 类。"},
    rel_tol=0.0, abs_tol=0.5,
)
def high_value_at_risk_strict(data) -> int:
    s = score_today(data)
    v = s["net_value"].to_numpy(float)
    hv = high_value_threshold(v)
    p = s["churn_probability"].to_numpy(float)
    return int(((v > 0) & (v >= hv) & (p >= STRICT_THRESHOLD)).sum())


# A set of ids: right only when it is exactly the first five; "close" (>= 80% overlap)
# when four of five agree, e.g. a tie broken differently.
@exercise(
    "L5.6",
    title={"en": "The call list: customer ids of the first 5 customers to call",
           "zh": "回访清单：最先回访的 5 位客户的编号"},
    hint={"en": "action_list(five_classes(scored), scored, top=5): high-value at-risk "
                "customers first, then the low-value at-risk, each by expected value at risk "
                "(probability x net value).",
          "zh": "action_list(five_classes(scored), scored, top=5)：先列高价值易流失客户，"
                "再列低价值易流失客户，"
                "各自按期望流失价值（概率 × 净价值）从高到低排序。"},
    kind="set",
)
def first_calls(data) -> set[str]:
    s = score_today(data)
    v = s["net_value"].to_numpy(float)
    p = s["churn_probability"].to_numpy(float)
    hv = high_value_threshold(v)
    at_risk = (v > 0) & (p >= RISK_THRESHOLD)
    pool = pd.DataFrame({"customer_id": s["customer_id"].astype(str).to_numpy(),
                         "high": (v >= hv).astype(int), "var": p * v})[at_risk]
    pool = pool.sort_values(["high", "var", "customer_id"], ascending=[False, False, True],
                            kind="mergesort")
    return set(pool["customer_id"].head(CALL_TOP))

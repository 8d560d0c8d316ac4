"""Exercises of lesson L2, "RFM and the eight segments; ABC; MVC / MGC / BZ".

``expected`` computes each answer from the student's own data
(:class:`~crm_analysis.teaching.core.LessonData`). Where the lesson's solution works by
hand in pandas (L2.1, L2.3, L2.4) the truth comes from :mod:`crm_analysis.value`; where
the solution calls the library (L2.2, L2.5) the truth is computed here by hand, so each
answer is checked by two independent routes.

Customers and values are those of :func:`crm_analysis.features.customer_features` for the
store over the 24 months up to the analysis date: R = ``recency_days`` (days since the
last order), F = ``orders`` (orders in the window), M = ``revenue`` (RMB in the window),
value = ``net_value``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crm_analysis.features import customer_features
from crm_analysis.narrative import Narrator
from crm_analysis.teaching.core import exercise
from crm_analysis.value import abc, grade_table, mvc_mgc_bz, potential_value, rfm_segments

#: Look-back window of the value measures in L2, in months.
WINDOW_MONTHS = 24
#: Shares of customers of the MVC and MGC groups (mvc_mgc_bz defaults).
MVC_SHARE = MGC_SHARE = 0.20


def features(data) -> pd.DataFrame:
    """The per-customer features of the lesson's store (24-month window)."""
    return customer_features(data.dataset, as_of=data.as_of, window_months=WINDOW_MONTHS,
                             store_id=data.store_id)


def potential(data, feats: pd.DataFrame | None = None) -> pd.DataFrame:
    """Expected net value of the next 12 months per customer (as in the lesson)."""
    feats = features(data) if feats is None else feats
    return potential_value(data.dataset, as_of=data.as_of, features=feats, store_id=data.store_id,
                           window_months=WINDOW_MONTHS)


def show_grades(summary: pd.DataFrame, kind: str, n: Narrator) -> Any:
    """Display a grade summary in ``n``'s language: :func:`crm_analysis.value.grade_table`
    (grade names, headers, counts, shares and money formatted), as notebook 02 shows it.

    ``summary`` is the ``summary`` of :func:`~crm_analysis.value.rfm_segments`,
    :func:`~crm_analysis.value.abc` or :func:`~crm_analysis.value.mvc_mgc_bz`; ``kind``
    names its grades (``"rfm"``, ``"abc"``, ``"value_group"``). Returns the pandas
    ``Styler`` (see :meth:`crm_analysis.narrative.Narrator.table`).
    """
    shown = grade_table(summary, kind=kind, lang=n.lang)
    return n.table(shown.table, **shown.formats)


def _round_count(n: int, share: float) -> int:
    """round(n × share) with halves rounded up (the count rule of every grade)."""
    return int(np.floor(n * share + 0.5 + 1e-9))


# Counts are right only when exact (abs_tol 0.5); a customer or two off (a ">=" instead
# of ">" against the mean) is "close" and earns the hint.
@exercise(
    "L2.1",
    title={"en": "Number of customers in the RFM segment 'important value' (R, F and M all "
                 "high against the mean)",
           "zh": "RFM“重要价值客户”（R、F、M 均高于平均值）的人数"},
    hint={"en": "R high means recency_days below its mean (recent); F high means orders above "
                "its mean; M high means revenue above its mean. Count customers with all "
                "three.",
          "zh": "R 高表示 recency_days 低于平均值（最近来过）；F 高表示 orders 高于平均值；"
                "M 高表示 revenue 高于平均值。数一数三项都高的客户。"},
    rel_tol=0.0, abs_tol=0.5,
)
def important_value_count(data) -> int:
    summary = rfm_segments(features(data), against="mean").summary
    return int(summary.set_index("grade").loc["important_value", "customers"])


# A set of customer ids must match exactly to be right; "close" (>= 80% overlap) catches
# a threshold applied with the wrong inequality at the edge.
@exercise(
    "L2.2",
    title={"en": "The customer_ids of the RFM segment 'important win-back' (M high, R and F "
                 "low), as a set",
           "zh": "RFM“重要挽留客户”（M 高，R、F 低）的 customer_id 集合"},
    hint={"en": "Important win-back: revenue above its mean, recency_days not below its mean "
                "and orders not above its mean.",
          "zh": "重要挽留客户：revenue 高于平均值，recency_days 不低于平均值，"
                "orders 不高于平均值。"},
    kind="set",
)
def important_win_back_ids(data) -> set[str]:
    f = features(data)
    m_high = f["revenue"] > f["revenue"].mean()
    r_low = ~(f["recency_days"] < f["recency_days"].mean())
    f_low = ~(f["orders"] > f["orders"].mean())
    return set(f.loc[m_high & r_low & f_low, "customer_id"].astype(str))


# Exact count (abs_tol 0.5): the customer who crosses 70% belongs to A; leaving it out
# gives one fewer, which is "close".
@exercise(
    "L2.3",
    title={"en": "Number of class-A customers: the smallest group of best customers (by net "
                 "value) holding at least 70% of net value",
           "zh": "A 类客户人数：按净价值从高到低，累计达到净价值 70% 所需的最少客户数"},
    hint={"en": "Sort by net value, largest first; a customer is A when the customers ranked "
                "above it hold less than 70% of the total (so the one that crosses 70% is A).",
          "zh": "按净价值从大到小排序；如果排在某位客户前面的客户合计不到总额的 70%，"
                "该客户就是 A 类（跨过 70% 的那位也算 A 类）。"},
    rel_tol=0.0, abs_tol=0.5,
)
def abc_a_count(data) -> int:
    summary = abc(features(data), value="net_value", cuts=(0.70, 0.90), by="value").summary
    return int(summary.set_index("grade").loc["A", "customers"])


# Exact count (abs_tol 0.5); counting net value <= 0 instead of < 0 is "close".
@exercise(
    "L2.4",
    title={"en": "Number of below-zero customers (BZ: net value below 0)",
           "zh": "负价值客户（BZ：净价值小于 0）的人数"},
    hint={"en": "Net value = gross profit − 60 RMB per order; count the customers whose net "
                "value over the window is strictly below 0.",
          "zh": "净价值 = 毛利 − 每单 60 元；数一数分析期内净价值严格小于 0 的客户。"},
    rel_tol=0.0, abs_tol=0.5,
)
def below_zero_count(data) -> int:
    feats = features(data)
    groups = mvc_mgc_bz(feats, potential(data, feats), mvc_share=MVC_SHARE,
                        mgc_share=MGC_SHARE).summary
    return int(groups.set_index("grade").loc["bz", "customers"])


# Exact set for "right"; "close" (>= 80% overlap) when e.g. the MVC customers were not
# removed first, which shifts a few customers at the growth cut.
@exercise(
    "L2.5",
    title={"en": "The customer_ids of the most growable customers (MGC), as a set",
           "zh": "最具增长潜力客户（MGC）的 customer_id 集合"},
    hint={"en": "Take out the BZ customers and the MVCs first; among the rest, customers "
                "whose potential value exceeds their actual value, ranked by growth "
                "(potential − actual), the first round(N × 0.2).",
          "zh": "先去掉负价值客户和最具价值客户；其余客户中潜在价值高于实际价值者，按增长额"
                "（潜在价值 − 实际价值）排序，取前 round(N × 0.2) 位。"},
    kind="set",
)
def mgc_ids(data) -> set[str]:
    f = features(data).reset_index(drop=True)
    pot = potential(data, f).set_index("customer_id").reindex(f["customer_id"])
    n = len(f)
    f = f.assign(growth=(pot["potential_value"] - pot["actual_value"]).to_numpy())
    ranked = f.sort_values(["net_value", "customer_id"], ascending=[False, True])
    mvc = set(ranked["customer_id"].head(_round_count(n, MVC_SHARE)))
    cand = f[(f["net_value"] >= 0) & ~f["customer_id"].isin(mvc) & (f["growth"] > 0)]
    cand = cand.sort_values(["growth", "customer_id"], ascending=[False, True])
    return set(cand["customer_id"].head(_round_count(n, MGC_SHARE)).astype(str))

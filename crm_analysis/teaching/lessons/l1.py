"""Exercises of lesson L1, "Why grade customers" (value concentration and the pyramid).

Each ``expected`` function is the grader's truth: it computes the answer from the
student's own data (:class:`~crm_analysis.teaching.core.LessonData`) with the library,
while the lesson's solution cells do the same by hand in pandas, so a mistake in one
shows up as a disagreement with the other (``tests/test_lessons.py``).

Value is measured as in notebook 02: the store's orders in the 24 months up to the
analysis date, gross profit from :func:`crm_analysis.margins.order_profit` and net value =
gross profit − 60 RMB per order (:func:`crm_analysis.features.customer_features`).
"""

from __future__ import annotations

import pandas as pd

from crm_analysis.features import customer_features
from crm_analysis.margins import order_profit
from crm_analysis.overview import window_start
from crm_analysis.teaching.core import exercise
from crm_analysis.value import abc, gini, pyramid, top_share

#: Look-back window of the value measures in L1, in months.
WINDOW_MONTHS = 24


def features(data) -> pd.DataFrame:
    """The per-customer features of the lesson's store (24-month window)."""
    return customer_features(data.dataset, as_of=data.as_of, window_months=WINDOW_MONTHS,
                             store_id=data.store_id)


def window_orders(data, months: int = WINDOW_MONTHS) -> pd.DataFrame:
    """The store's orders of the ``months`` up to the analysis date, with their profit.

    The table ``orders`` of lesson L1: the orders of ``data.store_id`` with a customer and
    an ``open_date`` in (T − ``months`` calendar months, T], one row per order, with
    ``gross_profit`` and ``net_value`` added by :func:`crm_analysis.margins.order_profit`
    (the same orders :func:`features` sums per customer).

    >>> from crm_analysis.schema import example_dataset
    >>> from crm_analysis.teaching.core import LessonData
    >>> d = LessonData(example_dataset(), "001", as_of=pd.Timestamp("2021-06-30"))
    >>> o = window_orders(d)
    >>> list(o["ro_id"]), "net_value" in o
    (['R0001', 'R0002', 'R0003'], True)
    """
    ro = data.dataset.repair_orders
    start = window_start(months, as_of=data.as_of)
    keep = ((ro["store_id"] == data.store_id) & (ro["open_date"] > start)
            & (ro["open_date"] <= data.as_of) & ro["customer_id"].notna())
    return order_profit(ro[keep]).reset_index(drop=True)


# A count is right only when it is exact: abs_tol 0.5 accepts 298.0 for 298 and nothing
# else; close (within 5) means the window or the filter is slightly off.
@exercise(
    "L1.1",
    title={"en": "Number of customers with an order in the 24 months up to the analysis date",
           "zh": "分析日期前 24 个月内有工单的客户数"},
    hint={"en": "Keep the orders with open_date after as_of minus 24 months and on or before "
                "as_of, then count the distinct customer_id.",
          "zh": "保留进厂日期晚于“分析日期减 24 个月”且不晚于分析日期的工单，"
                "再数不同的 customer_id。"},
    rel_tol=0.0, abs_tol=0.5,
)
def customers_in_window(data) -> int:
    return int(len(features(data)))


# Shares are compared to 0.001 (a tenth of a percentage point), which accepts an answer
# rounded to three decimals. A cut one customer too high or too low moves the share by
# one customer's share (about 0.005 in a store of 300 customers), which falls in the
# "close" band (10 × 0.001) and earns the hint about round(N × 0.2).
@exercise(
    "L1.2",
    title={"en": "Share of gross profit from the top 20% of customers, as a fraction",
           "zh": "前 20% 客户贡献的毛利占比（小数）"},
    hint={"en": "Sort customers by gross profit, largest first; the top group is the "
                "round(N × 0.2) first customers; divide their sum by the total.",
          "zh": "按毛利从大到小排序，前 round(N × 0.2) 位客户为前 20%，用其毛利之和除以总毛利。"},
    rel_tol=0.0, abs_tol=0.001,
)
def top20_gross_profit_share(data) -> float:
    return float(top_share(features(data)["gross_profit"], 0.20))


# The Gini coefficient is usually quoted with two decimals: abs_tol 0.005 accepts any
# correct computation rounded to two decimals (the trapezoid rule on the Lorenz points and
# the closed formula agree to rounding error).
@exercise(
    "L1.3",
    title={"en": "Gini coefficient of gross profit per customer",
           "zh": "客户毛利的基尼系数"},
    hint={"en": "Sort ascending, build the Lorenz points (i/N, cumulative share), starting "
                "at (0, 0); Gini = 1 − 2 × the area under them (trapezoids).",
          "zh": "从小到大排序，构造洛伦兹曲线的点 (i/N, 累计占比)，从 (0, 0) 开始；"
                "基尼系数 = 1 − 2 × 曲线下面积（梯形法）。"},
    rel_tol=0.0, abs_tol=0.005,
)
def gini_gross_profit(data) -> float:
    return float(gini(features(data)["gross_profit"]))


# Each tier's share is compared to 0.001 like L1.2; tier sizes follow round(N × cut)
# with halves rounded up, ties in net value broken by customer_id (a tie at a cut does
# not change a tier's value share).
@exercise(
    "L1.4",
    title={"en": "Share of net value held by each pyramid tier (important, secondary, "
                 "normal, small), as a Series of fractions",
           "zh": "客户金字塔各级（important、secondary、normal、small）的净价值占比"
                 "（Series，小数）"},
    hint={"en": "Rank by net value, largest first; the tiers end at ranks round(N × 0.01), "
                "round(N × 0.20) and round(N × 0.50); index the Series by the tier names.",
          "zh": "按净价值从大到小排序，各级分别截止于第 round(N × 0.01)、round(N × 0.20)、"
                "round(N × 0.50) 名；Series 的索引用英文等级名。"},
    kind="series", rel_tol=0.0, abs_tol=0.001,
)
def pyramid_value_shares(data) -> pd.Series:
    summary = pyramid(features(data), value="net_value").summary
    return pd.Series(summary["share_value"].to_numpy(dtype=float),
                     index=[str(g) for g in summary["grade"]], name="share_value")


# The answer is k / N for a whole number k: abs_tol 0.001 is well below 1 / N for any
# class-sized store (N < 1000), so only the exact k is right; one customer off is "close".
@exercise(
    "L1.5",
    title={"en": "Smallest share of customers (best first) that brings at least 80% of gross "
                 "profit, as a fraction",
           "zh": "贡献至少 80% 毛利所需的最少客户占比（从价值最高者算起，小数）"},
    hint={"en": "Sort by gross profit, largest first, take the cumulative share of the "
                "total; find the first customer at which it reaches 0.8 and divide its "
                "position (counting from 1) by N.",
          "zh": "按毛利从大到小排序并计算累计占比，找到累计占比首次达到 0.8 的客户，"
                "用其名次（从 1 开始）除以客户总数。"},
    rel_tol=0.0, abs_tol=0.001,
)
def customers_for_80_percent(data) -> float:
    summary = abc(features(data), value="gross_profit", cuts=(0.80, 0.90)).summary
    return float(summary.set_index("grade").loc["A", "share_customers"])

"""Five churn-risk classes and the store's call list (seed 001, DOMAIN.md section 3).

The CRM overview for 4S stores (seed 001) sorts customers into five classes by crossing
what a customer is worth with how likely they are to leave: **high-value stable**,
**high-value at-risk**, **low-value stable**, **low-value at-risk** and **no-value**.
This module grades a per-customer table into those classes and turns the at-risk ones
into a prioritised call list a service manager can work through in Excel:

- :func:`five_classes` — the classes, with a per-class summary (customers, value, mean
  risk, expected value at risk); :func:`high_value_threshold` — the default boundary
  between high and low value (where the pyramid's key customers start);
- :func:`action_list` — who to call first: high-value at-risk customers, then the rest
  by expected value at risk, with their car, last visit and churn reasons;
- :func:`write_action_list` — the list as a formatted, bilingual .xlsx with an "About"
  sheet; customer ids and VINs are pseudonymized (:mod:`crm_analysis.privacy`) unless
  the user asks for personal data.

Chart: :func:`crm_analysis.plots.grade_shares` of the summary (``kind="churn_class"``).

The input is one row per customer: typically :func:`crm_analysis.features.customer_features`
(``customer_id``, ``orders``, ``last_order_date``, ``net_value``, ``main_vin``,
``main_vehicle_age``, ``model``, ...) joined with a churn model's output
(``churn_probability``, ``reason_1`` .. ``reason_3``; see :mod:`crm_analysis.churn`).

Example
-------
>>> import pandas as pd
>>> from crm_analysis.five_classes import five_classes, action_list
>>> f = pd.DataFrame({"customer_id": ["A", "B", "C", "D", "E", "F"],
...                   "net_value": [5000.0, 4000, 800, 600, 0, -50],
...                   "churn_probability": [0.2, 0.7, 0.1, 0.9, 0.9, 0.1]})
>>> labels = five_classes(f, high_value=3000).labels
>>> labels["churn_class"].tolist()  # doctest: +NORMALIZE_WHITESPACE
['high_value_stable', 'high_value_at_risk', 'low_value_stable', 'low_value_at_risk',
 'no_value', 'no_value']
>>> action_list(labels)[["rank", "customer_id", "value_at_risk"]].to_numpy().tolist()
[[1, 'B', 2800.0], [2, 'D', 540.0]]
"""

from __future__ import annotations

import io
import math
import os
import re
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from crm_analysis._inputs import (
    caller,
    check_bool,
    check_int,
    check_number,
    require_columns,
    to_pandas,
)
from crm_analysis.i18n import LABELS, check_lang, t
from crm_analysis.privacy import (
    PII_COLUMNS,
    _hash_input,
    _key_bytes,
    key_fingerprint,
    pseudonymize,
)
from crm_analysis.safety import atomic_path, put_cell
from crm_analysis.value import (
    GradeResult,
    _categorical,
    _customers,
    _ids,
    _round_count,
    _summary,
)

__all__ = [
    "ACTION_COLUMNS",
    "ACTION_PRIORITY",
    "CHURN_CLASSES",
    "DEFAULT_ACTION_CLASSES",
    "DEFAULT_HIGH_VALUE_SHARE",
    "action_list",
    "five_classes",
    "high_value_threshold",
    "reason_labels",
    "top_reasons",
    "write_action_list",
]

#: The five classes (i18n keys ``churn_class.*``), in summary order.
CHURN_CLASSES: tuple[str, ...] = (
    "high_value_stable",
    "high_value_at_risk",
    "low_value_stable",
    "low_value_at_risk",
    "no_value",
)
#: Order of the classes in a call list: at risk before stable, high value before low.
ACTION_PRIORITY: tuple[str, ...] = (
    "high_value_at_risk",
    "low_value_at_risk",
    "high_value_stable",
    "low_value_stable",
    "no_value",
)
#: Classes put on the call list by default.
DEFAULT_ACTION_CLASSES: tuple[str, ...] = ("high_value_at_risk", "low_value_at_risk")
#: Default high-value group: the top 20% of the customers with a positive value (the
#: customer pyramid's key customers, thesis 000).
DEFAULT_HIGH_VALUE_SHARE = 0.20
#: Columns of :func:`action_list`, in order (those without a source in the input are left
#: out).
ACTION_COLUMNS: tuple[str, ...] = (
    "rank", "customer_id", "churn_class", "main_vin", "model", "vehicle_age", "last_visit",
    "orders", "value", "risk", "value_at_risk", "reason_1", "reason_2", "reason_3",
)  # fmt: skip

# Output column of action_list -> input columns it is taken from, first found wins.
_SOURCES: dict[str, tuple[str, ...]] = {
    "main_vin": ("main_vin", "vin"),
    "model": ("model",),
    "vehicle_age": ("vehicle_age", "main_vehicle_age"),
    "last_visit": ("last_visit", "last_order_date"),
    "orders": ("orders",),
    "reason_1": ("reason_1",),
    "reason_2": ("reason_2",),
    "reason_3": ("reason_3",),
}
_REASONS = ("reason_1", "reason_2", "reason_3")
_ATTR = "five_classes"  # key of the parameters in DataFrame.attrs

# Fixed time stamp of the workbook (document properties and zip entries), so that the
# same list always gives the same bytes.
_FIXED_TIME = datetime(2000, 1, 1)

_TEXT: dict[str, tuple[str, str]] = {
    # sheets and title
    "sheet_actions": ("Actions", "行动清单"),
    "sheet_about": ("About", "说明"),
    "title": ("Customer retention call list", "客户挽留行动清单"),
    "note": (
        "{n} customers, highest priority first. Definitions and parameters: sheet “About”.",
        "共 {n} 位客户，按优先级排列。定义与参数见“说明”工作表。",
    ),
    "note_pseudo": (
        " Customer IDs and VINs are pseudonymized.",
        "客户编号与车架号已去标识化。",
    ),
    "note_pii": (
        " Contains personal information: do not forward.",
        "含个人信息，请勿外传。",
    ),
    # column headers
    "col.rank": ("Priority", "优先级"),
    "col.customer_id": ("Customer ID", "客户编号"),
    "col.customer_id_pseudo": ("Customer ID (pseudonym)", "客户编号（去标识化）"),
    "col.name": ("Customer name", "客户名称"),
    "col.phone": ("Phone", "联系电话"),
    "col.churn_class": ("Class", "客户类别"),
    "col.main_vin": ("VIN", "车架号"),
    "col.main_vin_pseudo": ("VIN (pseudonym)", "车架号（去标识化）"),
    "col.model": ("Model", "车型"),
    "col.vehicle_age": ("Vehicle age (years)", "车龄（年）"),
    "col.last_visit": ("Last visit", "最近进厂日期"),
    "col.orders": ("Orders", "工单数"),
    "col.value": ("{what} (¥)", "{what}（元）"),
    "col.risk": ("Churn risk (%)", "流失概率（%）"),
    "col.value_at_risk": ("Value at risk (¥)", "风险价值（元）"),
    "col.reason": ("Reason {k}", "流失原因{k}"),
    "what_value": ("Value", "价值"),
    # column descriptions (About sheet)
    "desc.rank": ("Order in which to contact the customers (1 = first).",
                  "建议联系顺序（1 = 最先联系）。"),
    "desc.customer_id": ("The customer's number in the DMS.", "客户在DMS中的编号。"),
    "desc.customer_id_pseudo": (
        "Pseudonym of the customer's number: the analyst holding the key can look it up.",
        "客户编号的假名：持有密钥的分析人员可查回对应客户。",
    ),
    "desc.name": ("Name from the customer table.", "客户表中的客户名称。"),
    "desc.phone": ("Phone number from the customer table.", "客户表中的联系电话。"),
    "desc.churn_class": ("One of the five classes below.", "下列五类客户之一。"),
    "desc.main_vin": ("The car the customer brings most often.", "客户最常送修的车辆。"),
    "desc.main_vin_pseudo": ("Pseudonym of the VIN of the car the customer brings most "
                             "often.", "客户最常送修车辆车架号的假名。"),
    "desc.model": ("Model of that car.", "该车的车型。"),
    "desc.vehicle_age": ("Age of that car at the analysis date, in years.",
                         "分析日该车的车龄（年）。"),
    "desc.last_visit": ("Date of the customer's last repair order.",
                        "客户最近一次工单的进厂日期。"),
    "desc.orders": ("Repair orders in the analysis window.", "分析窗口内的工单数。"),
    "desc.value": ("{what} of the customer in the analysis window.",
                   "分析窗口内客户的{what}。"),
    "desc.risk": ("Predicted probability that the customer does not come back within the "
                  "churn model's horizon (12 months by default).",
                  "预测客户在流失模型的预测期（默认12个月）内不再进厂的概率。"),
    "desc.value_at_risk": ("Churn risk × {what}: the value the store can expect to lose.",
                           "流失概率 × {what}：门店预期会损失的价值。"),
    "desc.reason": ("Why the model rates this customer at risk, most important first.",
                    "模型判断该客户易流失的原因（按重要性排列）。"),
    # About sheet
    "about_title": ("About this list", "关于本清单"),
    "sec_order": ("How the list is ordered", "排序规则"),
    "order": (
        "By class (high-value at risk first, then low-value at risk, high-value stable, "
        "low-value stable, no-value), and within a class by value at risk, largest first; "
        "ties by customer ID.",
        "先按类别（高价值易流失、低价值易流失、高价值稳定、低价值稳定、无价值），"
        "同类按风险价值从高到低排列；相同时按客户编号排列。",
    ),
    "sec_classes": ("Customer classes", "客户类别"),
    "cls.high_value_stable": ("Value of at least {hv} and churn risk below {thr}.",
                              "价值不低于{hv}，流失概率低于{thr}。"),
    "cls.high_value_at_risk": ("Value of at least {hv} and churn risk of {thr} or more: "
                               "contact first.",
                               "价值不低于{hv}，流失概率不低于{thr}：优先联系挽留。"),
    "cls.low_value_stable": ("Value above ¥0 but below {hv}, churn risk below {thr}.",
                             "价值高于0元但低于{hv}，流失概率低于{thr}。"),
    "cls.low_value_at_risk": ("Value above ¥0 but below {hv}, churn risk of {thr} or more.",
                              "价值高于0元但低于{hv}，流失概率不低于{thr}。"),
    "cls.no_value": ("Value of ¥0 or less (the customer does not cover the cost of serving "
                     "them), whatever the risk.",
                     "价值不高于0元（毛利不足以覆盖服务成本），不论流失概率高低。"),
    "hv_unknown": ("the high-value threshold", "高价值门槛"),
    "thr_unknown": ("the risk threshold", "风险门槛"),
    "sec_params": ("Parameters", "参数"),
    "p.value": ("Value measure", "价值指标"),
    "p.high_value": ("High-value threshold", "高价值门槛"),
    "p.high_value_default": ("{hv}: where the top {share} of the customers with a positive "
                             "value start (key customers)",
                             "{hv}：正价值客户中前{share}（关键客户）的起点"),
    "p.high_value_none": ("none: too few customers with a positive value",
                          "无：正价值客户过少"),
    "p.high_value_given": ("{hv} (set by the analyst)", "{hv}（由分析人员设定）"),
    "p.risk": ("Churn risk measure", "流失风险指标"),
    "p.risk_threshold": ("Risk threshold", "风险门槛"),
    "p.value_at_risk": ("Value at risk", "风险价值"),
    "p.value_at_risk_def": ("churn risk × {what}", "流失概率 × {what}"),
    "p.classes": ("Classes listed", "列入清单的类别"),
    "p.graded": ("Customers graded", "参与分类的客户数"),
    "p.in_classes": ("Customers in the listed classes", "所列类别的客户数"),
    "p.listed": ("Customers on this list", "本清单客户数"),
    "p.unknown": ("not recorded", "未记录"),
    "sec_columns": ("Columns", "列说明"),
    "sec_reasons": ("Churn reasons on this list", "本清单中的流失原因"),
    "sec_privacy": ("Personal information", "个人信息保护"),
    "privacy_pseudo": (
        "Customer IDs and VINs are replaced by pseudonyms (keyed HMAC-SHA256, key "
        "fingerprint {fp}); names, phone numbers and plates are left out. The same key gives "
        "the same pseudonyms in every report.",
        "客户编号与车架号已替换为假名（带密钥的HMAC-SHA256，密钥指纹 {fp}），"
        "不含姓名、电话与车牌。同一密钥在各报告中生成相同的假名。",
    ),
    "privacy_pii": (
        "This file contains personal information ({what}). Share it only with the staff "
        "who make the calls and delete it when done.",
        "本文件含个人信息（{what}），仅限负责回访的员工使用，用毕请删除。",
    ),
    "pii_ids": ("customer IDs, VINs", "客户编号、车架号"),
    "pii_names": ("names", "姓名"),
    "pii_phones": ("phone numbers", "电话"),
    "generated": ("Made with crm_analysis.", "由 crm_analysis 生成。"),
    "list_sep": ("; ", "、"),
    "item_order": ("Order", "顺序"),
    "item_privacy": ("Identifiers", "身份信息"),
}


# ---------------------------------------------------------------------------------------
# Grading
# ---------------------------------------------------------------------------------------


def _numbers(df: pd.DataFrame, col: str, ids: np.ndarray) -> np.ndarray:
    """A numeric column as floats: no missing or infinite values (errors name customers)."""
    require_columns(df, [col])
    s = df[col]
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        raise TypeError(f"{caller()}: column {col!r} must be numeric, got dtype {s.dtype}")
    arr = s.to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{caller()}: column {col!r} has {int(bad.sum())} missing or infinite "
                         f"value(s), e.g. for customer_id {list(ids[bad][:3])}")
    return arr


def high_value_threshold(values: Any, share: float = DEFAULT_HIGH_VALUE_SHARE) -> float:
    """The value at which the top ``share`` of the customers with a positive value start.

    Only customers with a value above 0 count (value ≤ 0 is *no value*). Of those ``m``
    customers, the top ``k = round(m × share)`` (halves rounded up, the count rule of
    :func:`crm_analysis.value.pyramid`) form the high-value group, and the threshold is
    the value of the k-th most valuable one. A customer is high-value when its value is
    at or above the threshold, so customers tied with the k-th are high-value too and
    the group can be a little larger than k. With the default 20% this is where the
    customer pyramid's key customers (关键客户) start, among the positive-value
    customers. When ``k`` is 0 (fewer than 3 positive customers at 20%) there is no
    high-value group: the threshold is ``inf``.

    Parameters
    ----------
    values:
        One value per customer (list, numpy array, pandas or Polars series).
    share:
        Share of the positive-value customers that is high-value, in (0, 1].

    Example
    -------
    >>> high_value_threshold([100, 90, 80, 70, 60, 50, 40, 30, 20, 10, 0, -5])
    90.0
    >>> high_value_threshold([5.0, 0.0])
    inf
    """
    if not check_number(share, "share", minimum=0, maximum=1) > 0:
        raise ValueError(f"{caller()}: share must be within (0, 1], got {share!r}")
    try:
        v = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise TypeError(f"{caller()}: values must be numbers") from None
    if np.isnan(v).any():
        raise ValueError(f"{caller()}: {int(np.isnan(v).sum())} missing value(s)")
    pos = np.sort(v[v > 0])[::-1]
    k = _round_count(pos.size, float(share))
    return float(pos[k - 1]) if k > 0 else math.inf


def five_classes(
    frame: Any,
    *,
    value: str = "net_value",
    risk: str = "churn_probability",
    high_value: float | None = None,
    risk_threshold: float = 0.5,
    expected_value: str | None = None,
) -> GradeResult:
    """The five churn-risk classes of seed 001: value (high / low / none) × risk.

    - **no value**: ``value <= 0`` (a value of exactly 0 is no value), whatever the risk;
    - **high value**: ``value >= high_value`` (and > 0); **low value**: the other
      customers with a positive value;
    - **at risk**: ``risk >= risk_threshold`` (a risk exactly at the threshold is at
      risk); **stable** otherwise.

    Parameters
    ----------
    frame:
        One row per customer (pandas or Polars): ``customer_id`` (unique), the ``value``
        and ``risk`` columns, and optionally ``expected_value``. Missing values are an
        error naming the customers (no row is dropped).
    value:
        What a customer is worth (default ``net_value`` of
        :func:`~crm_analysis.features.customer_features`: gross profit − cost to serve
        over the window).
    risk:
        Churn probability in [0, 1] (default ``churn_probability`` of
        ``crm_analysis.churn.ChurnModel.predict``).
    high_value:
        High-value threshold in the unit of ``value``. Default: where the top 20% of the
        customers with a positive value start (:func:`high_value_threshold`), i.e. the
        pyramid's key customers.
    risk_threshold:
        Risk at or above which a customer is at risk, in [0, 1].
    expected_value:
        Column of the value the store would lose if the customer left (e.g. an expected
        future value from a CLV model); default: the ``value`` column.

    Returns
    -------
    GradeResult
        ``labels`` (input row order): ``customer_id``, ``value``, ``risk``,
        ``churn_class`` (ordered Categorical of :data:`CHURN_CLASSES` codes),
        ``value_class`` (``high`` / ``low`` / ``none``), ``at_risk`` (bool),
        ``value_at_risk`` (risk × expected value, or × value), and ``expected_value``
        when given. ``summary``: one row per class in :data:`CHURN_CLASSES` order, every
        class present: ``grade``, ``customers``, ``share_customers``, ``value``,
        ``share_value``, ``value_per_customer``, ``orders_per_year`` (and ``revenue``,
        ``gross_profit`` sums when the frame has them; see
        :class:`~crm_analysis.value.GradeResult`), then ``mean_risk`` (NaN for an empty
        class) and ``expected_value_at_risk`` (Σ ``value_at_risk``). With a negative
        expected value (no-value customers), value at risk is negative: losing them
        saves money. ``details["parameters"]``: the parameters used (``parameter``,
        ``value``), also in ``labels.attrs["five_classes"]`` and
        ``summary.attrs["five_classes"]`` (read by :func:`action_list` and
        :func:`write_action_list`).

    Raises
    ------
    KeyError
        A column is missing.
    ValueError
        Duplicate or missing customer ids, missing values, a risk outside [0, 1], a bad
        threshold.

    Example
    -------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"customer_id": ["A", "B", "C", "D"],
    ...                   "net_value": [1000.0, 200.0, 0.0, 300.0],
    ...                   "churn_probability": [0.5, 0.49, 0.9, 0.8]})
    >>> r = five_classes(f, high_value=500)
    >>> r.labels["churn_class"].tolist()
    ['high_value_at_risk', 'low_value_stable', 'no_value', 'low_value_at_risk']
    >>> r.summary[["grade", "customers", "expected_value_at_risk"]].to_numpy().tolist()
    ... # doctest: +NORMALIZE_WHITESPACE
    [['high_value_stable', 0, 0.0], ['high_value_at_risk', 1, 500.0],
     ['low_value_stable', 1, 98.0], ['low_value_at_risk', 1, 240.0], ['no_value', 1, 0.0]]
    """
    df = _customers(frame, "frame")
    ids = _ids(df, "frame")
    v = _numbers(df, value, ids)
    r = _numbers(df, risk, ids)
    out_of_range = (r < 0) | (r > 1)
    if out_of_range.any():
        i = int(np.flatnonzero(out_of_range)[0])
        raise ValueError(f"{caller()}: column {risk!r} must be a probability in [0, 1]; "
                         f"{int(out_of_range.sum())} value(s) are not, e.g. {r[i]:g} for "
                         f"customer_id {ids[i]!r}")
    thr = check_number(risk_threshold, "risk_threshold", minimum=0, maximum=1)
    if high_value is None:
        hv = high_value_threshold(v)
        rule = "default"
    else:
        if isinstance(high_value, bool) or not isinstance(high_value, int | float | np.number):
            raise TypeError(f"{caller()}: high_value must be a number or None, got {high_value!r}")
        hv = float(high_value)
        if math.isnan(hv):
            raise ValueError(f"{caller()}: high_value must not be NaN")
        rule = "given"
    ev = _numbers(df, expected_value, ids) if expected_value is not None else v

    value_class = np.where(v <= 0, 2, np.where(v >= hv, 0, 1))  # 0 high, 1 low, 2 none
    at_risk = r >= thr
    code = np.where(value_class == 2, 4, 2 * value_class + at_risk.astype(np.int64))
    grades = _categorical(code, CHURN_CLASSES)
    var = r * ev
    labels = pd.DataFrame({
        "customer_id": df["customer_id"].to_numpy(),
        "value": v,
        "risk": r,
        "churn_class": grades,
        "value_class": pd.Categorical.from_codes(value_class, ["high", "low", "none"],
                                                 ordered=True),
        "at_risk": at_risk,
        "value_at_risk": var,
    })
    if expected_value is not None:
        labels["expected_value"] = ev

    work = df.reset_index(drop=True)
    summary = _summary(work, grades, value)
    g = pd.DataFrame({"grade": grades, "risk": r, "var": var}).groupby(
        "grade", observed=False, sort=True)
    summary["mean_risk"] = g["risk"].mean().reindex(CHURN_CLASSES).to_numpy(dtype=float)
    summary["expected_value_at_risk"] = (
        g["var"].sum().reindex(CHURN_CLASSES).fillna(0.0).to_numpy(dtype=float))

    params = {
        "value": value,
        "risk": risk,
        "high_value": hv,
        "high_value_rule": rule,
        "high_value_share": DEFAULT_HIGH_VALUE_SHARE if rule == "default" else None,
        "risk_threshold": thr,
        "expected_value": expected_value,
        "customers": int(len(df)),
    }
    labels.attrs[_ATTR] = dict(params)
    summary.attrs[_ATTR] = dict(params)
    table = pd.DataFrame({"parameter": list(params), "value": list(params.values())})
    return GradeResult(labels, summary, {"parameters": table})


# ---------------------------------------------------------------------------------------
# Call list
# ---------------------------------------------------------------------------------------


def _check_classes(classes: Any) -> tuple[str, ...]:
    if isinstance(classes, str):
        classes = (classes,)
    try:
        out = tuple(classes)
    except TypeError:
        raise TypeError(f"{caller()}: classes must be a sequence of class codes, got "
                        f"{classes!r}") from None
    if not out:
        raise ValueError(f"{caller()}: classes is empty; valid classes: {list(CHURN_CLASSES)}")
    bad = [c for c in out if c not in CHURN_CLASSES]
    if bad:
        raise ValueError(f"{caller()}: unknown class(es) {bad}; valid classes: "
                         f"{list(CHURN_CLASSES)}")
    return out


def action_list(
    labels_or_frame: Any,
    features: Any = None,
    *,
    classes: Sequence[str] = DEFAULT_ACTION_CLASSES,
    top: int | None = None,
) -> pd.DataFrame:
    """Who to call first: the at-risk customers, most valuable to keep first.

    Parameters
    ----------
    labels_or_frame:
        The result of :func:`five_classes` (or its ``labels``), or a per-customer frame
        that already has ``churn_class``, ``value`` and ``risk`` columns. A frame without
        ``churn_class`` is graded first with :func:`five_classes` and its defaults
        (``net_value``, ``churn_probability``), and its other columns (``main_vin``,
        ``model``, ``main_vehicle_age``, ``last_order_date``, ``orders``, ``reason_1``
        .. ``reason_3``) fill the list.
    features:
        Optional per-customer table (e.g. ``customer_features`` or a churn model's
        ``predict`` output; pandas or Polars, unique ``customer_id``) for the columns the
        labels lack; joined on ``customer_id``. Customers missing from it keep blanks
        (their number is in ``attrs["five_classes"]["missing_features"]``).
    classes:
        Classes to list (codes of :data:`CHURN_CLASSES`).
    top:
        Keep the first ``top`` customers only (None: all).

    Returns
    -------
    pandas DataFrame ordered by class (:data:`ACTION_PRIORITY`: high-value at risk
    first), then ``value_at_risk`` descending, then ``customer_id``; columns of
    :data:`ACTION_COLUMNS` that have a source: ``rank`` (1, 2, ...), ``customer_id``,
    ``churn_class``, ``main_vin``, ``model``, ``vehicle_age`` (from
    ``main_vehicle_age``), ``last_visit`` (from ``last_order_date``), ``orders``,
    ``value``, ``risk``, ``value_at_risk`` (risk × value when the labels lack it),
    ``reason_1`` .. ``reason_3`` (None when missing). ``attrs["five_classes"]`` holds
    the grading parameters (when known) and the counts ``graded`` (customers in the
    input), ``in_classes`` (customers in the listed classes; those left out of the
    list are not lost, just not listed) and ``listed``.

    Example
    -------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"customer_id": ["A", "B", "C", "D"],
    ...                   "net_value": [900.0, 100.0, 120.0, 80.0],
    ...                   "churn_probability": [0.6, 0.9, 0.8, 0.2],
    ...                   "model": ["Finch", "Heron", "Finch", "Eagle"],
    ...                   "reason_1": ["warranty_ended", None, "few_visits", None]})
    >>> a = action_list(f)
    >>> a[["rank", "customer_id", "churn_class", "value_at_risk"]].to_numpy().tolist()
    ... # doctest: +NORMALIZE_WHITESPACE
    [[1, 'A', 'high_value_at_risk', 540.0], [2, 'C', 'low_value_at_risk', 96.0],
     [3, 'B', 'low_value_at_risk', 90.0]]
    >>> list(a.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['rank', 'customer_id', 'churn_class', 'model', 'value', 'risk', 'value_at_risk',
     'reason_1']
    """
    chosen = _check_classes(classes)
    if top is not None:
        check_int(top, "top")
    params: dict[str, Any] = {}
    if isinstance(labels_or_frame, GradeResult):
        labels_or_frame = labels_or_frame.labels
    df = to_pandas(labels_or_frame, "labels_or_frame", reset_index=False)
    params.update(df.attrs.get(_ATTR, {}))
    if "churn_class" not in df.columns:
        graded = five_classes(df)
        params.update(graded.labels.attrs[_ATTR])
        rest = df.reset_index(drop=True).drop(
            columns=[c for c in graded.labels.columns if c in df.columns])
        pool = pd.concat([graded.labels, rest], axis=1)
    else:
        missing = [c for c in ("customer_id", "value", "risk") if c not in df.columns]
        if missing:
            raise KeyError(f"{caller()}: the labels have 'churn_class' but miss column(s) "
                           f"{missing}; pass the labels of five_classes(...)")
        pool = df.reset_index(drop=True).copy()
    ids = _ids(pool, "labels_or_frame") if len(pool) else np.array([], dtype=object)
    v = _numbers(pool, "value", ids)
    r = _numbers(pool, "risk", ids)
    cls = pool["churn_class"].astype(object)
    unknown = ~cls.isin(CHURN_CLASSES)
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise ValueError(f"{caller()}: column 'churn_class' has unknown class {cls.iloc[i]!r} "
                         f"(customer_id {ids[i]!r}); valid classes: {list(CHURN_CLASSES)}")
    if "value_at_risk" in pool.columns:
        var = _numbers(pool, "value_at_risk", ids)
    else:
        var = r * v

    missing_features = 0
    if features is not None:
        fdf = to_pandas(features, "features")
        require_columns(fdf, ["customer_id"], "features")
        fids = _ids(fdf, "features") if len(fdf) else np.array([], dtype=object)
        wanted = [c for srcs in _SOURCES.values() for c in srcs
                  if c in fdf.columns and c not in pool.columns]
        if wanted:
            extra = fdf[wanted].copy()
            extra.index = pd.Index(fids, dtype=object)
            key = pool["customer_id"].astype(str).to_numpy(dtype=object)
            missing_features = int((~pd.Index(key).isin(extra.index)).sum())
            joined = extra.reindex(pd.Index(key, dtype=object))
            for c in wanted:
                pool[c] = joined[c].to_numpy()
        else:
            missing_features = int((~pool["customer_id"].astype(str).isin(fids)).sum())

    order_key = pd.DataFrame({
        "prio": cls.map({c: i for i, c in enumerate(ACTION_PRIORITY)}).to_numpy(),
        "neg_var": -var,
        "id": pool["customer_id"].astype(str).to_numpy(),
    })
    keep = cls.isin(chosen).to_numpy()
    order = order_key[keep].sort_values(["prio", "neg_var", "id"], kind="stable").index
    order = order.to_numpy(dtype=np.int64)
    in_classes = len(order)
    if top is not None:
        order = order[: int(top)]
    rows = pool.iloc[order].reset_index(drop=True)

    out = pd.DataFrame({"rank": np.arange(1, len(rows) + 1, dtype=np.int64)})
    out["customer_id"] = rows["customer_id"]
    out["churn_class"] = pd.Categorical(rows["churn_class"].astype(object).to_numpy(),
                                        categories=list(CHURN_CLASSES), ordered=True)
    for col in ("main_vin", "model", "vehicle_age", "last_visit", "orders"):
        src = next((s for s in _SOURCES[col] if s in rows.columns), None)
        if src is not None:
            out[col] = rows[src]
    if "last_visit" in out.columns and not pd.api.types.is_datetime64_any_dtype(
            out["last_visit"]):
        out["last_visit"] = pd.to_datetime(out["last_visit"])
    out["value"] = v[order]
    out["risk"] = r[order]
    out["value_at_risk"] = var[order]
    for col in _REASONS:
        if col in rows.columns:
            s = rows[col].astype(object)
            out[col] = s.where(s.notna(), None).to_numpy(dtype=object)
    params.update({"classes": list(chosen), "top": top, "graded": int(len(pool)),
                   "in_classes": int(in_classes), "listed": int(len(out)),
                   "missing_features": missing_features})
    out.attrs[_ATTR] = params
    return out


# ---------------------------------------------------------------------------------------
# Reasons on a call list
# ---------------------------------------------------------------------------------------


def reason_labels(actions: Any, *, lang: str = "en", sep: str = "; ") -> pd.Series:
    """Each customer's churn reasons in words, most important first, joined by ``sep``.

    ``actions`` is a call list (:func:`action_list`) or any frame with the columns
    ``reason_1`` .. ``reason_3`` (those present are used; missing reasons are skipped).
    Codes are labelled with ``churn_reason.<code>`` in ``lang`` (an unknown code is shown
    as it is). Returns a Series of strings on the index of ``actions`` (``""`` for a
    customer without reasons).

    Example
    -------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"reason_1": ["warranty_ended", None],
    ...                   "reason_2": ["few_visits", None]})
    >>> reason_labels(a).tolist()
    ['Warranty has ended; Few visits', '']
    >>> reason_labels(a, lang="zh", sep="、").iloc[0]
    '已出质保、进厂次数少'
    """
    check_lang(lang)
    df = to_pandas(actions, "actions", reset_index=False)
    cols = [c for c in _REASONS if c in df.columns]
    labels = [sep.join(s for s in (_reason_label(code, lang) for code in row) if s)
              for row in df[cols].to_numpy(dtype=object)]
    return pd.Series(labels, index=df.index, dtype=object, name="reasons")


def top_reasons(actions: Any, *, top: int = 3) -> pd.DataFrame:
    """The churn reasons given most often on a call list.

    Counts every mention in ``reason_1`` .. ``reason_3`` of ``actions`` (a call list of
    :func:`action_list`, or any frame with those columns), most frequent first (ties in
    the order the counts meet them). Returns the first ``top`` as a DataFrame with the
    columns ``reason`` (code; label: ``churn_reason.<code>``) and ``customers`` (how many
    customers of the list have it among their reasons).

    Example
    -------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"reason_1": ["warranty_ended", "few_visits", "warranty_ended"],
    ...                   "reason_2": ["few_visits", None, "old_vehicle"]})
    >>> top_reasons(a, top=2)
               reason  customers
    0  warranty_ended          2
    1      few_visits          2
    """
    top = check_int(top, "top")
    df = to_pandas(actions, "actions", reset_index=False)
    cols = [c for c in _REASONS if c in df.columns]
    if not cols:
        return pd.DataFrame({"reason": pd.Series([], dtype=object),
                             "customers": pd.Series([], dtype=np.int64)})
    counts = pd.concat([df[c] for c in cols]).dropna().value_counts().head(top)
    return pd.DataFrame({"reason": counts.index.to_numpy(dtype=object),
                         "customers": counts.to_numpy(dtype=np.int64)})


# ---------------------------------------------------------------------------------------
# Excel
# ---------------------------------------------------------------------------------------

_RMB_FORMAT = '"¥"#,##0;[Red]-"¥"#,##0'
_PCT_FORMAT = "0%"
_AGE_FORMAT = "0.0"
_INT_FORMAT = "0"
_DATE_FORMAT = "yyyy-mm-dd"
_FORMATS = {
    "rank": _INT_FORMAT, "orders": _INT_FORMAT, "vehicle_age": _AGE_FORMAT,
    "last_visit": _DATE_FORMAT, "value": _RMB_FORMAT, "risk": _PCT_FORMAT,
    "value_at_risk": _RMB_FORMAT,
}  # fmt: skip
_HEADER_FILL = "1F4E78"
_SECTION_FILL = "DDEBF7"
_CLASS_FILLS = {"high_value_at_risk": "F8CBAD", "low_value_at_risk": "FCE4D6"}
_TITLE_ROW, _NOTE_ROW, _HEADER_ROW = 1, 2, 3


def _display_width(text: str) -> int:
    """Width of ``text`` in Excel character units (CJK characters count double)."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _value_label(value_col: Any, lang: str) -> str:
    if isinstance(value_col, str) and f"metric.{value_col}" in LABELS:
        return t(f"metric.{value_col}", lang)
    if isinstance(value_col, str) and value_col:
        return value_col
    return t("what_value", lang, labels=_TEXT)


def _reason_label(code: Any, lang: str) -> str | None:
    if code is None or (isinstance(code, float) and math.isnan(code)) or code is pd.NA:
        return None
    try:
        return t(f"churn_reason.{code}", lang)
    except KeyError:
        return str(code)


def _pii_frame(actions: pd.DataFrame, customers: Any) -> pd.DataFrame | None:
    """``name`` / ``phone`` per action row from ``customers`` (or the actions themselves)."""
    cols = [c for c in ("name", "phone") if c in PII_COLUMNS["customers"]]
    if customers is None:
        have = [c for c in cols if c in actions.columns]
        return actions[have].reset_index(drop=True) if have else None
    cdf = to_pandas(customers, "customers")
    require_columns(cdf, ["customer_id"], "customers")
    have = [c for c in cols if c in cdf.columns]
    if not have:
        raise KeyError(f"{caller()}: customers has neither 'name' nor 'phone'; it has "
                       f"{list(cdf.columns)}")
    cids = _ids(cdf, "customers") if len(cdf) else np.array([], dtype=object)
    table = cdf[have].copy()
    table.index = pd.Index(cids, dtype=object)
    key = pd.Index(actions["customer_id"].astype(str).to_numpy(dtype=object))
    return table.reindex(key).reset_index(drop=True)


def _deterministic_zip(raw: bytes) -> bytes:
    """Re-pack an .xlsx with fixed time stamps (zip entries and document properties)."""
    stamp = _FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = data.decode("utf-8")
                for tag in ("dcterms:created", "dcterms:modified"):
                    text = re.sub(rf"(<{tag}[^>]*>)[^<]*(</{tag}>)", rf"\g<1>{stamp}\g<2>",
                                  text)
                data = text.encode("utf-8")
            zi = zipfile.ZipInfo(info.filename, date_time=_FIXED_TIME.timetuple()[:6])
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.create_system = 0
            zi.external_attr = 0
            dst.writestr(zi, data)
    return out.getvalue()


def write_action_list(
    actions: Any,
    path_or_buffer: str | os.PathLike[str] | io.IOBase,
    *,
    lang: str = "en",
    key: bytes | str | None = None,
    include_pii: bool = False,
    customers: Any = None,
    title: str | None = None,
) -> Any:
    """Write a call list (:func:`action_list`) as a formatted Excel workbook.

    Sheet 1 (“Actions” / “行动清单”): a title and a note, then the header row (styled,
    frozen with the id columns, with an autofilter) and one row per customer: priority,
    customer id, class name, VIN, model, vehicle age (years, 0.0), last visit (date),
    orders, value (¥), churn risk (%), value at risk (¥), churn reasons (their
    ``churn_reason.*`` labels; the raw code when a code has no label). Columns the list
    lacks are left out; columns not in :data:`ACTION_COLUMNS` are never written. The
    sheet prints landscape, one page wide, the header repeated on every page. Sheet 2
    (“About” / “说明”): how the list is ordered, the class definitions with the
    thresholds, the parameters and counts (from ``actions.attrs``, which
    :func:`action_list` fills), the columns, the churn reasons present and a
    personal-information note.

    Personal data: by default (``include_pii=False``) customer ids and VINs are
    replaced by :func:`crm_analysis.privacy.pseudonymize` pseudonyms under ``key``
    (required then) and no name, phone or plate is written, even if ``customers`` is
    given; the About sheet shows the key's fingerprint. With ``include_pii=True`` the
    raw ids and VINs are written, plus ``name`` and ``phone`` from ``customers`` (or from
    ``actions`` when it has them), and the About sheet says the file holds personal
    information.

    The bytes are the same for the same list and arguments: the workbook's created and
    modified times and the zip entries' times are fixed, and nothing depends on the
    clock.

    Parameters
    ----------
    actions:
        The output of :func:`action_list` (pandas or Polars; an empty list gives a sheet
        with the header only).
    path_or_buffer:
        File path (str or path-like) or a binary file object.
    lang:
        ``"en"`` or ``"zh"`` for every label, header and definition.
    key:
        Pseudonymization key (bytes or str), e.g. ``privacy.store_key(data_dir)``.
    include_pii:
        Write raw ids, VINs and (with ``customers``) names and phone numbers.
    customers:
        Customers table (``customer_id``, ``name``, ``phone``) used with
        ``include_pii=True``.
    title:
        Title of the sheet (default “Customer retention call list” / “客户挽留行动清单”).

    Returns
    -------
    The path (a :class:`pathlib.Path`) or the buffer written to.

    Raises
    ------
    ValueError
        No key while ``include_pii`` is False; an unsupported language.
    KeyError
        ``actions`` lacks ``customer_id`` or ``churn_class``; ``customers`` lacks
        ``customer_id`` or both ``name`` and ``phone``.

    Example
    -------
    >>> import io, pandas as pd
    >>> from openpyxl import load_workbook
    >>> f = pd.DataFrame({"customer_id": ["A", "B"], "net_value": [900.0, 100.0],
    ...                   "churn_probability": [0.6, 0.9]})
    >>> actions = action_list(five_classes(f, high_value=500))
    >>> buf = write_action_list(actions, io.BytesIO(), lang="zh", key=b"k")
    >>> ws = load_workbook(buf)["行动清单"]
    >>> [c.value for c in ws[3]][:3]
    ['优先级', '客户编号（去标识化）', '客户类别']
    >>> ws["C4"].value, ws["E4"].number_format
    ('高价值易流失客户', '0%')
    """
    from pathlib import Path

    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    check_lang(lang)
    include_pii = check_bool(include_pii, "include_pii")
    if not include_pii:
        if key is None:
            raise ValueError(f"{caller()}: a key is required to pseudonymize customer ids and "
                             "VINs (e.g. key=crm_analysis.privacy.store_key(data_dir)); or "
                             "pass include_pii=True to write personal data")
        k = _key_bytes(key, caller())
    df = to_pandas(actions, "actions")
    params: dict[str, Any] = dict(df.attrs.get(_ATTR, {}))
    missing = [c for c in ("customer_id", "churn_class") if c not in df.columns]
    if missing:
        raise KeyError(f"{caller()}: actions is missing column(s) {missing}; build it with "
                       "action_list(...)")
    if "rank" not in df.columns:
        df.insert(0, "rank", np.arange(1, len(df) + 1, dtype=np.int64))
    cols = [c for c in ACTION_COLUMNS if c in df.columns]
    data = df[cols].copy()
    pii_cols: list[str] = []
    if include_pii:
        pii = _pii_frame(df, customers)
        if pii is not None:
            at = cols.index("customer_id") + 1
            for j, c in enumerate(pii.columns):
                s = pii[c].astype(object)
                data.insert(at + j, c, [None if v is None or (isinstance(v, float) and
                                                               math.isnan(v))
                                        else _hash_input(v) for v in s])
                pii_cols.append(c)
    else:
        data["customer_id"] = pseudonymize(data["customer_id"].astype(object), k).to_numpy()
        if "main_vin" in data.columns:
            data["main_vin"] = pseudonymize(data["main_vin"].astype(object), k).to_numpy()
    class_codes = df["churn_class"].astype(object).tolist()
    bad = [c for c in class_codes if c not in CHURN_CLASSES]
    if bad:
        raise ValueError(f"{caller()}: column 'churn_class' has unknown class {bad[0]!r}; valid "
                         f"classes: {list(CHURN_CLASSES)}")
    data["churn_class"] = [t(f"churn_class.{c}", lang) for c in class_codes]
    reasons_seen: list[str] = []
    for col in _REASONS:
        if col in data.columns:
            codes = data[col].astype(object).tolist()
            for c in codes:
                if c is not None and not (isinstance(c, float) and math.isnan(c)) \
                        and str(c) not in reasons_seen:
                    reasons_seen.append(str(c))
            data[col] = [_reason_label(c, lang) for c in codes]

    value_what = _value_label(params.get("value"), lang)
    pseudo = "" if include_pii else "_pseudo"

    def header(col: str) -> str:
        if col in ("customer_id", "main_vin"):
            return t(f"col.{col}{pseudo}", lang, labels=_TEXT)
        if col == "value":
            return t("col.value", lang, labels=_TEXT, what=value_what)
        if col in _REASONS:
            return t("col.reason", lang, labels=_TEXT, k=col[-1])
        return t(f"col.{col}", lang, labels=_TEXT)

    def describe(col: str) -> str:
        if col in ("customer_id", "main_vin"):
            return t(f"desc.{col}{pseudo}", lang, labels=_TEXT)
        if col == "value":
            return t("desc.value", lang, labels=_TEXT, what=value_what)
        if col == "value_at_risk":
            return t("desc.value_at_risk", lang, labels=_TEXT, what=_sentence(value_what, lang))
        if col in _REASONS:
            return t("desc.reason", lang, labels=_TEXT)
        return t(f"desc.{col}", lang, labels=_TEXT)

    wb = Workbook()
    ws = wb.active
    ws.title = t("sheet_actions", lang, labels=_TEXT)
    thin = Side(style="thin", color="BFBFBF")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    n, ncol = len(data), len(data.columns)

    put_cell(ws, _TITLE_ROW, 1, title or t("title", lang, labels=_TEXT)).font = Font(
        bold=True, size=14)
    note = (t("note", lang, labels=_TEXT, n=n)
            + t("note_pii" if include_pii else "note_pseudo", lang, labels=_TEXT))
    put_cell(ws, _NOTE_ROW, 1, note).font = Font(italic=True, color="595959")

    headers = [header(c) for c in data.columns]
    for j, text in enumerate(headers, start=1):
        cell = put_cell(ws, _HEADER_ROW, j, text)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor=_HEADER_FILL)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = border
    ws.row_dimensions[_HEADER_ROW].height = 32

    widths = [min(_display_width(h), 16) for h in headers]
    for i, row in enumerate(data.itertuples(index=False, name=None)):
        r = _HEADER_ROW + 1 + i
        for j, (col, raw) in enumerate(zip(data.columns, row, strict=True), start=1):
            cell = put_cell(ws, r, j, raw)
            value = cell.value
            cell.border = border
            cell.alignment = Alignment(vertical="center")
            fmt = _FORMATS.get(col)
            if fmt is not None:
                cell.number_format = fmt
            if col == "churn_class" and class_codes[i] in _CLASS_FILLS:
                cell.fill = PatternFill("solid", fgColor=_CLASS_FILLS[class_codes[i]])
            if value is None:
                continue
            if col in ("value", "value_at_risk"):
                shown = f"¥{float(value):,.0f}"
            elif col == "risk":
                shown = f"{float(value):.0%}"
            elif col == "vehicle_age":
                shown = f"{float(value):.1f}"
            elif col == "last_visit":
                shown = _DATE_FORMAT
            else:
                shown = str(value)
            widths[j - 1] = max(widths[j - 1], _display_width(shown))
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = min(max(w + 3, 8), 48)

    id_cols = [c for c in ("rank", "customer_id", *pii_cols) if c in data.columns]
    ws.freeze_panes = ws.cell(row=_HEADER_ROW + 1, column=len(id_cols) + 1)
    last = get_column_letter(ncol)
    ws.auto_filter.ref = f"A{_HEADER_ROW}:{last}{_HEADER_ROW + max(n, 1)}"
    ws.print_title_rows = f"{_HEADER_ROW}:{_HEADER_ROW}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True

    _about_sheet(wb, lang, params, data, describe, headers, reasons_seen, include_pii,
                 pii_cols, None if include_pii else key_fingerprint(k))

    wb.properties.creator = "crm_analysis"
    wb.properties.lastModifiedBy = "crm_analysis"
    wb.properties.title = title or t("title", lang, labels=_TEXT)
    wb.properties.created = _FIXED_TIME
    wb.properties.modified = _FIXED_TIME
    raw = io.BytesIO()
    wb.save(raw)
    payload = _deterministic_zip(raw.getvalue())
    if hasattr(path_or_buffer, "write"):
        path_or_buffer.write(payload)
        if hasattr(path_or_buffer, "seek"):
            path_or_buffer.seek(0)
        return path_or_buffer
    path = Path(path_or_buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
    return path


def _sentence(text: str, lang: str) -> str:
    if lang != "en" or not text or text[:2].isupper():
        return text
    return text[0].lower() + text[1:]


def _about_sheet(wb: Any, lang: str, params: Mapping[str, Any], data: pd.DataFrame,
                 describe: Any, headers: list[str], reasons: list[str], include_pii: bool,
                 pii_cols: list[str], fingerprint: str | None) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    ws = wb.create_sheet(t("sheet_about", lang, labels=_TEXT))
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 100
    row = 1
    put_cell(ws, row, 1, t("about_title", lang, labels=_TEXT)).font = Font(
        bold=True, size=14)
    row += 2
    wrap = Alignment(wrap_text=True, vertical="top")

    def section(key: str) -> None:
        nonlocal row
        for col in (1, 2):
            c = ws.cell(row=row, column=col)
            c.fill = PatternFill("solid", fgColor=_SECTION_FILL)
        put_cell(ws, row, 1, t(key, lang, labels=_TEXT)).font = Font(bold=True)
        row += 1

    def item(name: str, text: str) -> None:
        nonlocal row
        a = put_cell(ws, row, 1, name)
        a.alignment = wrap
        a.font = Font(bold=True)
        put_cell(ws, row, 2, text).alignment = wrap
        row += 1

    def gap() -> None:
        nonlocal row
        row += 1

    hv = params.get("high_value")
    thr = params.get("risk_threshold")
    if isinstance(hv, int | float) and not math.isnan(hv):
        hv_text = f"¥{hv:,.0f}".replace("¥-", "-¥") if math.isfinite(hv) else "∞"
    else:
        hv_text = t("hv_unknown", lang, labels=_TEXT)
    thr_text = (f"{float(thr):.0%}" if isinstance(thr, int | float)
                else t("thr_unknown", lang, labels=_TEXT))
    value_what = _value_label(params.get("value"), lang)
    sep = t("list_sep", lang, labels=_TEXT)

    section("sec_order")
    item(t("item_order", lang, labels=_TEXT), t("order", lang, labels=_TEXT))
    gap()
    section("sec_classes")
    for code in ACTION_PRIORITY:
        item(t(f"churn_class.{code}", lang),
             t(f"cls.{code}", lang, labels=_TEXT, hv=hv_text, thr=thr_text))
    gap()
    section("sec_params")
    unknown = t("p.unknown", lang, labels=_TEXT)
    item(t("p.value", lang, labels=_TEXT), value_what if "value" in params else unknown)
    if isinstance(hv, int | float) and not math.isnan(hv):
        if not math.isfinite(hv):
            text = t("p.high_value_none", lang, labels=_TEXT)
        elif params.get("high_value_rule") == "default":
            share = params.get("high_value_share") or DEFAULT_HIGH_VALUE_SHARE
            text = t("p.high_value_default", lang, labels=_TEXT, hv=hv_text, share=f"{share:.0%}")
        else:
            text = t("p.high_value_given", lang, labels=_TEXT, hv=hv_text)
    else:
        text = unknown
    item(t("p.high_value", lang, labels=_TEXT), text)
    risk_col = params.get("risk")
    item(t("p.risk", lang, labels=_TEXT), _value_label(risk_col, lang) if risk_col else unknown)
    item(t("p.risk_threshold", lang, labels=_TEXT),
         thr_text if isinstance(thr, int | float) else unknown)
    ev = params.get("expected_value")
    what = _value_label(ev, lang) if ev else value_what
    item(t("p.value_at_risk", lang, labels=_TEXT),
         t("p.value_at_risk_def", lang, labels=_TEXT, what=_sentence(what, lang)))
    if params.get("classes"):
        item(t("p.classes", lang, labels=_TEXT),
             sep.join(t(f"churn_class.{c}", lang) for c in params["classes"]))
    for key, name in (("graded", "p.graded"), ("in_classes", "p.in_classes")):
        if key in params:
            item(t(name, lang, labels=_TEXT), str(params[key]))
    item(t("p.listed", lang, labels=_TEXT), str(len(data)))
    gap()
    section("sec_columns")
    for col, head in zip(data.columns, headers, strict=True):
        item(head, describe(col))
    if reasons:
        gap()
        section("sec_reasons")
        for code in reasons:
            label = _reason_label(code, lang)
            item(label or code, code)
    gap()
    section("sec_privacy")
    if include_pii:
        parts = [t("pii_ids", lang, labels=_TEXT)]
        if "name" in pii_cols:
            parts.append(t("pii_names", lang, labels=_TEXT))
        if "phone" in pii_cols:
            parts.append(t("pii_phones", lang, labels=_TEXT))
        text = t("privacy_pii", lang, labels=_TEXT, what=sep.join(parts))
    else:
        text = t("privacy_pseudo", lang, labels=_TEXT, fp=fingerprint)
    item(t("item_privacy", lang, labels=_TEXT), text)
    gap()
    put_cell(ws, row, 1, t("generated", lang, labels=_TEXT)).font = Font(
        italic=True, color="595959")

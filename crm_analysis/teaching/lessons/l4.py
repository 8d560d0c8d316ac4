"""Exercises of lesson L4, "Survival of the customer relationship".

Each ``expected`` function is the grader's truth, computed from the student's own data
(:class:`~crm_analysis.teaching.core.LessonData`). The relationships come from
:func:`crm_analysis.survival.defection_table` (the definitions of DOMAIN.md section 3: a
relationship ends at its last order when no order follows within 12 months, and is
censored at the horizon T − 12 months otherwise; time is the car's age; a car bought
elsewhere enters at its first visit). The Kaplan-Meier answers are computed here with a
plain product-limit loop in numpy, while the lesson's solution cells use the library
(:func:`crm_analysis.survival.survival_by_vehicle_age`, which wraps lifelines), so a
mistake in either shows up as a disagreement (``tests/test_lessons_l45.py``).

:func:`small_table` picks the eight relationships of the lesson's worked example; the
notebook shows exactly this table, so the counting exercises refer to it.
:func:`risk_set_steps` is the worked example's Kaplan-Meier by hand and
:func:`steepest_year` the age at which a curve falls most; :func:`small_table_view` and
:func:`steps_view` are the tables as the lesson shows them, with headers in the
student's language from ``crm_analysis/texts/lesson4.toml``.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from crm_analysis.narrative import Narrator
from crm_analysis.survival import defection_table
from crm_analysis.teaching.core import exercise
from crm_analysis.value import LabelledTable

#: A relationship has ended when no order follows its last one within this many months.
LAPSE_MONTHS = 12
#: Rows of the worked example's small table.
SMALL_ROWS = 8
#: Vehicle age (years) of the "who is at risk" question on the small table.
RISK_SET_AGE = 3.0
#: Vehicle age (years) of the Kaplan-Meier survival question.
SURVIVAL_AGE = 3.0
#: Survival level of the quantile question (the age by which three quarters have ended).
QUANTILE_LEVEL = 0.25

_CACHE: dict[tuple, tuple] = {}


def relationships(data) -> pd.DataFrame:
    """The store's defection table at the lesson date (cached per data and date)."""
    key = (id(data.dataset), str(data.store_id), pd.Timestamp(data.as_of))
    hit = _CACHE.get(key)
    if hit is None or hit[0] is not data.dataset:
        table = defection_table(data.dataset, as_of=data.as_of, store_id=data.store_id,
                                lapse_months=LAPSE_MONTHS)
        _CACHE.clear()
        hit = _CACHE[key] = (data.dataset, table)
    return hit[1].copy()


def _usable(tab: pd.DataFrame) -> pd.DataFrame:
    """Rows a survival estimate can use: known ages, and followed for some time (a
    relationship that began after the horizon is censored at its entry and says
    nothing)."""
    tab = tab[tab["age_known"].astype(bool)]
    followed = tab["event"].astype(bool) | (tab["exit_age"] > tab["entry_age"])
    return tab[followed]


def small_table(data, rows: int = SMALL_ROWS) -> pd.DataFrame:
    """Eight of the store's relationships for the worked example, labelled A, B, ….

    A reproducible random draw (seeds 0, 1, … tried in turn) of usable relationships
    that holds at least one that ended, one still going (censored), one car bought
    elsewhere (late entry), three own sales, and at age 3 at least one car at risk
    and one not. Sorted by entry age, then exit age. Columns: ``label``, ``vin``,
    ``sold_here``, ``sale_date``, ``first_order_date``, ``last_order_date``,
    ``entry_age``, ``exit_age``, ``event``.
    """
    pool = _usable(relationships(data)).sort_values(["vin"], kind="mergesort")
    pool = pool.reset_index(drop=True)
    if len(pool) < rows:
        raise ValueError(f"small_table: the store has only {len(pool)} usable "
                         f"relationships, {rows} are needed")
    pick = None
    for seed in range(1000):
        s = pool.sample(rows, random_state=seed)
        ev = s["event"].astype(bool)
        late = s["entry_age"] > 0
        at_risk = (s["entry_age"] <= RISK_SET_AGE) & (s["exit_age"] >= RISK_SET_AGE)
        if (ev.any() and (~ev).any() and late.any() and int(s["sold_here"].sum()) >= 3
                and at_risk.any() and not at_risk.all()):
            pick = s
            break
    if pick is None:  # pragma: no cover - needs a store with almost no variety
        pick = pool.sample(rows, random_state=0)
    pick = pick.sort_values(["entry_age", "exit_age", "vin"], kind="mergesort")
    cols = ["vin", "sold_here", "sale_date", "first_order_date", "last_order_date",
            "entry_age", "exit_age", "event"]
    out = pick[cols].reset_index(drop=True)
    out.insert(0, "label", list(string.ascii_uppercase[:rows]))
    out["event"] = out["event"].astype(bool)
    out["sold_here"] = out["sold_here"].astype(bool)
    return out


def _own_sales(data) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tab = _usable(relationships(data))
    tab = tab[tab["sold_here"].astype(bool)]
    return (tab["entry_age"].to_numpy(float), tab["exit_age"].to_numpy(float),
            tab["event"].to_numpy(bool))


def product_limit(entry: np.ndarray, exit_: np.ndarray, event: np.ndarray
                  ) -> pd.DataFrame:
    """Kaplan-Meier by hand: one row per departure age with ``at_risk`` (entered on or
    before the age and not yet gone: entry <= age <= exit), ``departures`` and the
    ``survival`` after that age."""
    rows, s = [], 1.0
    for age in np.unique(exit_[event]):
        at_risk = int(((entry <= age) & (exit_ >= age)).sum())
        d = int(((exit_ == age) & event).sum())
        s *= 1.0 - d / at_risk
        rows.append({"age": float(age), "at_risk": at_risk, "departures": d,
                     "survival": s})
    return pd.DataFrame(rows, columns=["age", "at_risk", "departures", "survival"])


def risk_set_steps(small: pd.DataFrame) -> pd.DataFrame:
    """The worked example: Kaplan-Meier by hand on the small table, one row per age at
    which a relationship ends.

    Columns ``age``, ``who`` (the labels of the relationships at risk at that age,
    ``"A, C"``), ``at_risk``, ``departures`` and ``survival`` (the product of 1 −
    departures ÷ at risk so far), from :func:`product_limit`.

    >>> small = pd.DataFrame({"label": ["A", "B", "C"], "entry_age": [0.0, 0.0, 2.0],
    ...                       "exit_age": [1.0, 3.0, 3.0], "event": [True, False, True]})
    >>> risk_set_steps(small)[["age", "who", "at_risk", "departures", "survival"]].values.tolist()
    [[1.0, 'A, B', 2, 1, 0.5], [3.0, 'B, C', 2, 1, 0.25]]
    """
    entry = small["entry_age"].to_numpy(float)
    leave = small["exit_age"].to_numpy(float)
    steps = product_limit(entry, leave, small["event"].to_numpy(bool))
    labels = small["label"].astype(str).to_numpy()
    steps.insert(1, "who", [", ".join(labels[(entry <= a) & (leave >= a)])
                            for a in steps["age"]])
    return steps


def steepest_year(survival: Iterable[float]) -> int | None:
    """The whole age k at which a survival curve falls most, from age k − 1 to k.

    ``survival`` holds the curve at the ages 0, 1, 2, … (for example
    ``km.survival_at(range(11))`` of one group). ``None`` when there are fewer than two
    ages. The first of equal falls wins.

    >>> steepest_year([1.0, 0.9, 0.6, 0.5, 0.2])
    2
    >>> steepest_year([0.8]) is None
    True
    """
    s = pd.Series(list(survival), dtype=float).reset_index(drop=True)
    drop = s.diff()
    return int(drop.idxmin()) if drop.notna().any() else None


def _yes_no(values: Iterable[Any], n: Narrator) -> list[str]:
    yes, no = n.text("lesson4.flag.yes"), n.text("lesson4.flag.no")
    return [yes if bool(v) else no for v in values]


def _shown(frame: pd.DataFrame, n: Narrator, **formats: Any) -> LabelledTable:
    """``frame`` with the lesson's headers (``lesson4.col.*``) in ``n``'s language and the
    formats of its number columns (``ints``, ``pct``, ``floats``, ``digits``), for
    :meth:`~crm_analysis.narrative.Narrator.table`."""
    head = {c: n.text(f"lesson4.col.{c}") for c in frame.columns}
    fmts = {k: v if k == "digits" else [head[c] for c in v] for k, v in formats.items()}
    return LabelledTable(frame.rename(columns=head), fmts)


def small_table_view(small: pd.DataFrame, lang: str = "en") -> LabelledTable:
    """The small table as the lesson shows it, in ``lang``: yes / no, dates, ages with
    two decimals, headers from the lesson's catalog (``crm_analysis/texts/lesson4.toml``).
    Show it with ``n.table(shown.table, **shown.formats)``.

    >>> small = pd.DataFrame({"label": ["A"], "vin": ["V1"], "sold_here": [True],
    ...     "sale_date": [pd.Timestamp("2020-03-01")], "first_order_date": [pd.NaT],
    ...     "last_order_date": [pd.NaT], "entry_age": [0.0], "exit_age": [1.234],
    ...     "event": [False]})
    >>> shown = small_table_view(small, "zh")
    >>> shown.table.iloc[0, :5].tolist(), shown.formats["floats"]
    (['A', '是', '2020年3月1日', '–', '–'], ['进入车龄（年）', '退出车龄（年）'])
    """
    n = Narrator(lang)

    def date(values: pd.Series) -> list[str]:
        return [n.date(d) if pd.notna(d) else "–" for d in values]

    view = pd.DataFrame({
        "label": small["label"].astype(str),
        "sold_here": _yes_no(small["sold_here"], n),
        "sale_date": date(small["sale_date"]),
        "first_order_date": date(small["first_order_date"]),
        "last_order_date": date(small["last_order_date"]),
        "entry_age": small["entry_age"].astype(float),
        "exit_age": small["exit_age"].astype(float),
        "event": _yes_no(small["event"], n),
    })
    return _shown(view, n, floats=["entry_age", "exit_age"], digits=2)


def steps_view(steps: pd.DataFrame, lang: str = "en") -> LabelledTable:
    """:func:`risk_set_steps` as the lesson shows it, in ``lang``: ages with two
    decimals, survival as a percentage, headers from the lesson's catalog.

    >>> steps = pd.DataFrame({"age": [1.0], "who": ["A, B"], "at_risk": [2],
    ...                       "departures": [1], "survival": [0.5]})
    >>> steps_view(steps).table.columns.tolist()
    ['Age (years)', 'At risk', 'Number at risk', 'Ending', 'Still a customer']
    >>> steps_view(steps, "zh").formats
    {'floats': ['车龄（年）'], 'digits': 2, 'ints': ['风险集人数', '结束数'], 'pct': ['仍为客户']}
    """
    n = Narrator(lang)
    view = steps[["age", "who", "at_risk", "departures", "survival"]].copy()
    view["age"] = view["age"].astype(float)
    view["survival"] = view["survival"].astype(float)
    return _shown(view, n, floats=["age"], digits=2, ints=["at_risk", "departures"],
                  pct=["survival"])


# Counts are exact: abs_tol 0.5 accepts 3.0 for 3 and nothing else.
@exercise(
    "L4.1",
    title={"en": "How many of the 8 relationships in the small table are censored?",
           "zh": "小表中的 8 段客户关系有几段是删失的？"},
    hint={"en": "A relationship is censored when it has not ended by the horizon (the "
                "'ended' column is False): we only know it lasted at least until then.",
          "zh": "到观察截止日仍未结束的关系（“已结束”一列为 False）就是删失的："
                "我们只知道它至少持续到那时。"},
    rel_tol=0.0, abs_tol=0.5,
)
def censored_in_small_table(data) -> int:
    return int((~small_table(data)["event"]).sum())


@exercise(
    "L4.2",
    title={"en": "How many of the 8 relationships enter late (left truncation)?",
           "zh": "小表中的 8 段关系有几段是“迟到进入”的（左截断）？"},
    hint={"en": "A car bought elsewhere is first seen at its first visit, at an age above 0: "
                "count the rows whose entry age is greater than 0.",
          "zh": "在别处购买的车辆第一次到店时才被我们看到，此时车龄已大于 0："
                "数一数进入车龄大于 0 的行。"},
    rel_tol=0.0, abs_tol=0.5,
)
def late_entries_in_small_table(data) -> int:
    return int((small_table(data)["entry_age"] > 0).sum())


@exercise(
    "L4.3",
    title={"en": "Which of the 8 relationships (letters) are at risk at vehicle age 3?",
           "zh": "车龄 3 年时，小表中哪几段关系（字母）处于风险集中？"},
    hint={"en": "At risk at age 3 means already under observation (entry age at most 3) "
                "and not yet gone (exit age at least 3).",
          "zh": "车龄 3 年时处于风险集，指已经进入观察（进入车龄不超过 3）"
                "且尚未离开（退出车龄不小于 3）。"},
    kind="set",
)
def at_risk_at_age_3(data) -> set[str]:
    s = small_table(data)
    inside = s["entry_age"].le(RISK_SET_AGE) & s["exit_age"].ge(RISK_SET_AGE)
    return set(s.loc[inside, "label"])


# The naive mean is a plain average of table values, so only rounding separates a right
# answer from ours: rel_tol 0.005 accepts it rounded to two decimals (ages of 1-3 years)
# or ages computed with 365-day years (0.07% off). Forgetting the "own sales" filter
# moves it by far more.
@exercise(
    "L4.4",
    title={"en": "Naive mean: the average exit age of the own-sale relationships that ended",
           "zh": "朴素平均：本店销售车辆中已结束关系的平均退出车龄"},
    hint={"en": "Keep the rows with sold_here and event both True and average exit_age. "
                "(This is the number that ignores censoring; the lesson shows why it is too low.)",
          "zh": "保留 sold_here 和 event 都为 True 的行，对 exit_age 求平均。（这个数忽略了删失，"
                "课上会说明它为什么偏低。）"},
    rel_tol=0.005,
)
def naive_mean_exit_age(data) -> float:
    tab = relationships(data)
    ended = tab[tab["sold_here"].astype(bool) & tab["event"].astype(bool)
                & tab["age_known"].astype(bool)]
    return float(ended["exit_age"].mean())


# Kaplan-Meier from our numpy product-limit; lifelines gives the same step function, so
# the two agree to rounding. abs_tol 0.005 (half a percentage point) accepts an answer
# rounded to two decimals; reading the value off the chart is "close" (within 0.05).
@exercise(
    "L4.5",
    title={"en": "Kaplan-Meier: share of own-sale relationships still going at vehicle age 3",
           "zh": "Kaplan-Meier：本店销售车辆的客户关系在车龄 3 年时仍在持续的比例"},
    hint={"en": "Fit survival_by_vehicle_age on the own sales (sold_here) and read "
                "survival_at(3); give a share between 0 and 1.",
          "zh": "对本店销售的车辆（sold_here）调用 survival_by_vehicle_age，再读 survival_at(3)；"
                "答案是 0 到 1 之间的比例。"},
    abs_tol=0.005, rel_tol=0.0,
)
def km_survival_at_3(data) -> float:
    km = product_limit(*_own_sales(data))
    before = km[km["age"] <= SURVIVAL_AGE]
    return float(before["survival"].iloc[-1]) if len(before) else 1.0


# The quantile is one of the departure ages, so a right answer matches it exactly; abs_tol
# 0.01 years (under four days) accepts it rounded to two decimals. Taking the age where
# survival first drops *below* 25% instead of "at or below" can land on the next
# departure, usually days or weeks later: that is "close" (within 0.1 years).
@exercise(
    "L4.6",
    title={"en": "Vehicle age by which three quarters of the own-sale relationships have ended",
           "zh": "本店销售车辆的客户关系有四分之三已经结束时的车龄"},
    hint={"en": "In the Kaplan-Meier curve of the own sales (curve_), take the smallest age "
                "at which survival is 0.25 or less.",
          "zh": "在本店销售车辆的 Kaplan-Meier 曲线（curve_）中，"
                "找出生存率首次不超过 0.25 的最小车龄。"},
    abs_tol=0.01, rel_tol=0.0,
)
def age_three_quarters_ended(data) -> float:
    km = product_limit(*_own_sales(data))
    hit = km[km["survival"] <= QUANTILE_LEVEL]
    return float(hit["age"].iloc[0]) if len(hit) else float("inf")

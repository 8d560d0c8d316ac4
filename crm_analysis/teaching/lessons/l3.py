"""Exercises of lesson L3, "Retention by vehicle age" (the FAW-Toyota chart, the cliff).

``expected`` computes each answer from the student's own data
(:class:`~crm_analysis.teaching.core.LessonData`). The lesson's solutions compute the
retention rate by hand in pandas (L3.1–L3.4, L3.6), so the truth comes from
:mod:`crm_analysis.retention`; L3.5's solution uses the library's
:func:`~crm_analysis.retention.annual_average`, so its truth is computed here by hand.

Definitions (DOMAIN.md section 3): the **vehicle base** at T is the cars the store sold
(``sold_here``, home store = the store) with a sale date on or before T and an age of at
most 10 years; age = (T − sale date) / 365.25 days, band k = ages [k, k+1) = "year k+1";
a car is **retained** when it has an order at the store in (T − 12 months, T] (calendar
months). The FAW-Toyota chart shows the mean of the 12 month-end figures of a year.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analysis.overview import window_start
from crm_analysis.retention import annual_average, retention_by_vehicle_age
from crm_analysis.teaching.core import exercise

#: Oldest vehicle age in the base, years.
MAX_AGE = 10
#: Retention window, months.
WINDOW_MONTHS = 12


def chart_year(data) -> int:
    """The year of the FAW-Toyota chart: the last full calendar year up to the analysis date."""
    t = pd.Timestamp(data.as_of)
    return t.year if t.is_year_end else t.year - 1


def _at(data) -> pd.DataFrame:
    return retention_by_vehicle_age(data.dataset, as_of=data.as_of, store_id=data.store_id,
                                    window_months=WINDOW_MONTHS, max_age=MAX_AGE)


# Counts are right only when exact (abs_tol 0.5); close (within 5) is a boundary slip
# (age <= 10 vs < 10, sale date on T).
@exercise(
    "L3.1",
    title={"en": "Size of the vehicle base at the analysis date (cars sold here, at most 10 "
                 "years old)",
           "zh": "分析日期的保有车辆数（本店销售、车龄不超过 10 年）"},
    hint={"en": "Vehicles with sold_here true and store_id the store, sale_date on or before "
                "the analysis date, and (as_of − sale_date) / 365.25 days at most 10.",
          "zh": "sold_here 为真且 store_id 为本店、购车日期不晚于分析日期、"
                "（分析日期 − 购车日期）/ 365.25 天不超过 10 的车辆。"},
    rel_tol=0.0, abs_tol=0.5,
)
def base_size(data) -> int:
    return int(_at(data)["base_vehicles"].sum())


# Shares are compared to 0.001 (answers rounded to three decimals are right); a window
# one month off or ages counted in whole calendar years usually lands in "close".
@exercise(
    "L3.2",
    title={"en": "Retention rate of first-year cars (age under 1 year) at the analysis date, "
                 "as a fraction",
           "zh": "分析日期第一年车辆（车龄不满 1 年）的客户掌握率（小数）"},
    hint={"en": "Among base cars with age below 1 year, the share with at least one order at "
                "the store after as_of minus 12 months and on or before as_of.",
          "zh": "在车龄不满 1 年的保有车辆中，在“分析日期减 12 个月”之后、分析日期当天及之前"
                "至少有一张本店工单的车辆所占比例。"},
    rel_tol=0.0, abs_tol=0.001,
)
def first_year_retention(data) -> float:
    r = _at(data).set_index("age_band")["retention_rate"]
    return float(r.get(0, np.nan))


# Per band to 0.001 as L3.2. Keys are the age bands 0..9 (band k = year k+1).
@exercise(
    "L3.3",
    title={"en": "Retention rate by age band at the analysis date (Series indexed by age band "
                 "0, 1, …, 9)",
           "zh": "分析日期各车龄段的客户掌握率（以车龄段 0、1、…、9 为索引的 Series）"},
    hint={"en": "age_band = floor(age in years); group the base by it and take the mean of "
                "the retained flag. Index by the band number, not by 'year k+1'.",
          "zh": "age_band = 车龄（年）向下取整；按它对保有车辆分组，求“是否掌握”的平均值。"
                "索引用车龄段编号，而不是“第 k+1 年”。"},
    kind="series", rel_tol=0.0, abs_tol=0.001,
)
def retention_by_band(data) -> pd.Series:
    r = _at(data)
    return pd.Series(r["retention_rate"].to_numpy(dtype=float),
                     index=[int(b) for b in r["age_band"]], name="retention_rate")


# To 0.001 like L3.2. Each month-end has its own base (a car moves to the next band on
# its birthday), so using the year-end base for all twelve months is "close" or wrong.
@exercise(
    "L3.4",
    title={"en": "FAW-Toyota annual average retention rate of third-year cars (band 2) in "
                 "the chart year, as a fraction",
           "zh": "图表年度第三年车辆（车龄段 2）的一汽丰田年平均客户掌握率（小数）"},
    hint={"en": "Compute the band-2 retention rate at each of the 12 month-ends of the year "
                "(Jan 31 … Dec 31, each with its own base and 12-month window) and average "
                "the twelve figures.",
          "zh": "分别计算该年 12 个月末（1 月 31 日 … 12 月 31 日，每个月末有各自的保有车辆和 "
                "12 个月窗口）车龄段 2 的掌握率，再求 12 个数的平均值。"},
    rel_tol=0.0, abs_tol=0.001,
)
def annual_third_year(data) -> float:
    a = annual_average(data.dataset, chart_year(data), store_id=data.store_id,
                       window_months=WINDOW_MONTHS, max_age=MAX_AGE, as_of=data.as_of)
    return float(a.set_index("age_band")["retention_rate"].get(2, np.nan))


def _monthly_by_hand(data, year: int) -> pd.Series:
    """Annual-average retention by band, computed month-end by month-end in pandas."""
    v = data.dataset.vehicles
    o = data.dataset.repair_orders
    sid = data.store_id
    own = v[v["sold_here"] & (v["store_id"] == sid) & v["sale_date"].notna()]
    store_orders = o[o["store_id"] == sid]
    rates = []
    for end in pd.date_range(f"{year}-01-31", periods=12, freq="ME"):
        age = (end - own["sale_date"]).dt.total_seconds() / (365.25 * 86400)
        base = own[(own["sale_date"] <= end) & (age <= MAX_AGE)]
        band = np.floor(age[base.index]).astype(int)
        recent = store_orders[(store_orders["open_date"] > window_start(WINDOW_MONTHS, as_of=end))
                              & (store_orders["open_date"] <= end)]
        kept = base["vin"].isin(set(recent["vin"]))
        rates.append(kept.groupby(band).mean())
    return pd.concat(rates, axis=1).mean(axis=1).sort_index()


# A year of life is a whole number: right only when exact (abs_tol 0.5).
@exercise(
    "L3.5",
    title={"en": "The year of the car's life (1 = first year) into which the annual average "
                 "retention rate drops the most",
           "zh": "年平均客户掌握率下降最多的车辆年份（第几年，1 表示第一年）"},
    hint={"en": "From the annual averages by band, take the difference with the previous "
                "band; the most negative difference is at band k, i.e. year k + 1.",
          "zh": "用各车龄段的年平均掌握率减去前一车龄段的值，降幅最大（差值最小）的是车龄段 k，"
                "即第 k + 1 年。"},
    rel_tol=0.0, abs_tol=0.5,
)
def steepest_drop_year(data) -> int:
    rate = _monthly_by_hand(data, chart_year(data))
    return int(rate.diff().idxmin()) + 1


# A difference of two shares, to 0.001 as the other shares.
@exercise(
    "L3.6",
    title={"en": "Warranty gap at the analysis date: retention rate of cars under 3 years "
                 "minus that of cars aged 3 to under 5 years (pooled), as a fraction",
           "zh": "分析日期的质保落差：车龄不满 3 年车辆的掌握率减去车龄 3 年至不满 5 年车辆的掌握率"
                 "（合并计算，小数）"},
    hint={"en": "Pool the cars: retained cars / base cars for ages [0, 3), the same for "
                "[3, 5), and subtract. Do not average the band rates.",
          "zh": "合并计算：车龄 [0, 3) 的掌握车辆数 ÷ 保有车辆数，车龄 [3, 5) 同样计算，"
                "再相减。不要对各车龄段的比例求平均。"},
    rel_tol=0.0, abs_tol=0.001,
)
def warranty_gap(data) -> float:
    r = _at(data)
    band = r["age_band"].astype(int)
    young, older = r[band < 3], r[(band >= 3) & (band < 5)]
    return float(young["retained"].sum() / young["base_vehicles"].sum()
                 - older["retained"].sum() / older["base_vehicles"].sum())

# %% [markdown] tags=["lang-en"]
# # L3 · Retention by vehicle age
#
# One class period. Run the cells from the top. Write your answers in the cells marked
# `# YOUR ANSWER` and run them to get feedback.

# %% [markdown] tags=["lang-zh"]
# # L3 · 按车龄的客户保有
#
# 一个课时。请从上往下运行各单元格。在标有 `# YOUR ANSWER` 的单元格中写出答案并运行，即可看到反馈。

# %% tags=["parameters"]
data_dir = "data/sample"  # str: the student's data folder
as_of = None  # str ISO date or None
lang = "en"  # "en" or "zh"
solutions = False  # bool: True fills in the answers (teacher's version)
store_id = ""  # str: "" means the first store of the data

# %%
# The lesson's tools: pandas by hand, the retention analyses of the library
import numpy as np
import pandas as pd
from IPython.display import display

from crm_analysis import plots, plotting, retention, teaching
from crm_analysis.group import last_full_year
from crm_analysis.notebook import open_chapter, year_label
from crm_analysis.overview import window_start
from crm_analysis.retention import annual_average, retention_by_vehicle_age

# %%
# Load the student's store: its vehicles, its orders and the year of the FAW-Toyota chart
data = teaching.start("L3", data_dir, as_of=as_of, lang=lang, store_id=store_id or None)
ch = open_chapter(data.dataset, store_id=data.store_id, as_of=data.as_of, lang=lang)
n, T, sid = ch.n, data.as_of, data.store_id
vehicles = data.dataset.vehicles
orders = data.dataset.repair_orders
orders = orders[orders["store_id"] == sid]
chart_year = last_full_year(as_of=T)
ch.title()

# %% [markdown] tags=["lang-en"]
# ## The store manager's question

# %% [markdown] tags=["lang-zh"]
# ## 店长的问题

# %%
# New cars the store sold in the 12 months up to T
sold_last_year = vehicles[vehicles["sold_here"] & (vehicles["store_id"] == sid)
                          & (vehicles["sale_date"] > window_start(12, as_of=T))
                          & (vehicles["sale_date"] <= T)]
n.tell("lesson3.question", sold=len(sold_last_year))

# %% [markdown] tags=["lang-en"]
# FAW-Toyota's customer-retention standard answers with one chart: the share of the cars a
# dealer sold that still come to it, by vehicle age. The share falls year after year, and it
# falls hardest when the factory warranty ends. New-car sales hide the loss as long as they
# grow — the standard calls it the dealers' blind spot.
#
# **Learning goals.** After this lesson you can
# 1. build the vehicle base and its age bands from the vehicles table;
# 2. compute the retention rate and the active ratio by age band at a date, by hand and
#    with `crm_analysis.retention`;
# 3. compute the FAW-Toyota annual average step by step and read the chart;
# 4. find the warranty cliff and say what the store should do before it.

# %% [markdown] tags=["lang-zh"]
# 一汽丰田的客户维系标准用一张图回答：经销店售出的车辆中，按车龄统计仍回本店的比例。这个比例逐年下降，而在厂家质保结束时降得最厉害。只要新车销量还在增长，这种流失就被掩盖了——标准称之为经销店的盲区。
#
# **学习目标。** 学完本课，你能够：
# 1. 从车辆表建立保有车辆及其车龄段；
# 2. 手工以及用 `crm_analysis.retention` 计算某一日期各车龄段的客户掌握率和活跃客户比例；
# 3. 逐步计算一汽丰田年平均值并读懂这张图；
# 4. 找出质保悬崖，并说明门店应在此之前做什么。

# %% [markdown] tags=["lang-en"]
# ## 1. The vehicle base and the retention rate
#
# - The **vehicle base** at a date T: the cars the store sold itself (`sold_here` true,
#   `store_id` the store) with a sale date on or before T and at most 10 years old.
# - **Vehicle age** = (T − sale date) in days / 365.25; **age band** k = ages [k, k+1),
#   shown as "year k+1" (band 0 is the first year).
# - **Retention rate** of a band: the share of its cars with at least one order at the
#   store in the 12 months up to T, (T − 12 months, T].
# - **Active ratio**: the same with 6 months — owners who come at every service interval.
#
# `window_start(12, as_of=T)` gives T minus 12 calendar months; an order counts when
# `open_date > window_start(12, as_of=T)` and `open_date <= T`.

# %% [markdown] tags=["lang-zh"]
# ## 1. 保有车辆与客户掌握率
#
# - 日期 T 的**保有车辆**：本店自己销售（`sold_here` 为真、`store_id` 为本店）、购车日期不晚于 T、车龄不超过 10 年的车辆。
# - **车龄** =（T − 购车日期）的天数 / 365.25；**车龄段** k 表示车龄 [k, k+1)，显示为“第 k+1 年”（车龄段 0 即第一年）。
# - 某车龄段的**客户掌握率**：该段车辆中，在截至 T 的 12 个月内，即 (T − 12 个月, T]，至少有一张本店工单的比例。
# - **活跃客户比例**：把 12 个月换成 6 个月——每个保养周期都回厂的车主。
#
# `window_start(12, as_of=T)` 给出 T 减去 12 个日历月的日期；当`open_date > window_start(12, as_of=T)` 且 `open_date <= T` 时，工单计入。

# %% [markdown] tags=["lang-en"]
# ### Worked example: the active ratio one year ago
#
# 1. Keep the store's own sales, compute each car's age at the date, and keep the cars sold
#    on or before it and at most 10 years old.
# 2. `np.floor` of the age gives the band.
# 3. Mark the cars with an order in the 6 months up to the date (`isin` on the VINs of those
#    orders).
# 4. The mean of a True/False column by band is the share of True.

# %% [markdown] tags=["lang-zh"]
# ### 例题：一年前的活跃客户比例
#
# 1. 保留本店自己销售的车辆，计算每辆车在该日期的车龄，保留在该日期之前售出、车龄不超过 10 年的车辆。
# 2. 对车龄用 `np.floor` 向下取整得到车龄段。
# 3. 标记在该日期前 6 个月内有工单的车辆（用这些工单的 VIN 做 `isin`）。
# 4. 按车龄段对 True/False 列求平均值，就是 True 的比例。

# %%
# The vehicle base one year before T and its active ratio by age band, by hand
T0 = pd.Timestamp(window_start(12, as_of=T))
own_sales = vehicles[vehicles["sold_here"] & (vehicles["store_id"] == sid)]
age_then = (T0 - own_sales["sale_date"]).dt.days / 365.25
base_then = own_sales[(own_sales["sale_date"] <= T0) & (age_then <= 10)].copy()
base_then["age_band"] = np.floor(age_then[base_then.index]).astype(int)
visits_then = orders[(orders["open_date"] > window_start(6, as_of=T0)) & (orders["open_date"] <= T0)]
base_then["active"] = base_then["vin"].isin(visits_then["vin"])
active_then = base_then.groupby("age_band", as_index=False)["active"].mean().rename(
    columns={"active": "active_ratio"})
n.tell("lesson3.active_then", day=T0, cars=len(base_then),
       first=active_then["active_ratio"].iloc[0], oldest=active_then["active_ratio"].iloc[-1])
display(base_then[["vin", "sale_date", "age_band", "active"]].head())

# %%
# The active ratio by vehicle age one year ago
with ch.figure(size=(9, 4.5)) as ax:
    plotting.curve_by_age(active_then, "active_ratio", ax=ax, lang=lang,
                          title=n.plain("lesson3.active_title", day=T0))

# %% [markdown] tags=["lang-en"]
# ### Exercise L3.1
#
# How many cars are in the vehicle base at the analysis date (the variable `T`, shown at the
# top of the lesson)?

# %% [markdown] tags=["lang-zh"]
# ### 练习 L3.1
#
# 分析日期（变量 `T`，见本课开头）的保有车辆有多少辆？

# %% tags=["exercise"]
# L3.1: size of the vehicle base at the analysis date T
answer = None  # YOUR ANSWER
teaching.check("L3.1", answer)

# %% tags=["solution"]
if solutions:
    mine = vehicles.loc[vehicles["sold_here"] & vehicles["store_id"].eq(sid)].copy()
    mine["years"] = (T - mine["sale_date"]).dt.days / 365.25
    base_now = mine[mine["sale_date"].le(T) & mine["years"].le(10)].copy()
    answer = len(base_now)
    teaching.check("L3.1", answer)

# %% [markdown] tags=["lang-en"]
# ### Exercise L3.2
#
# What is the **retention rate of first-year cars** (band 0) at `T`, as a fraction?
# Remember: 12 months, not 6.

# %% [markdown] tags=["lang-zh"]
# ### 练习 L3.2
#
# `T` 时**第一年车辆**（车龄段 0）的**客户掌握率**是多少（小数）？注意：是 12 个月，不是 6 个月。

# %% tags=["exercise"]
# L3.2: retention rate of first-year cars at T (fraction)
answer = None  # YOUR ANSWER
teaching.check("L3.2", answer)

# %% tags=["solution"]
if solutions:
    base_now["band"] = base_now["years"].floordiv(1).astype(int)
    last12 = orders.loc[orders["open_date"].gt(window_start(12, as_of=T)) & orders["open_date"].le(T)]
    base_now["kept"] = base_now["vin"].isin(set(last12["vin"]))
    answer = base_now.loc[base_now["band"].eq(0), "kept"].mean()
    teaching.check("L3.2", answer)

# %% [markdown] tags=["lang-en"]
# ### Exercise L3.3
#
# Give the **retention rate of every age band** at `T` as a pandas Series indexed by the
# band number (0, 1, …).

# %% [markdown] tags=["lang-zh"]
# ### 练习 L3.3
#
# 以车龄段编号（0、1、…）为索引的 pandas Series，给出 `T` 时**每个车龄段的客户掌握率**。

# %% tags=["exercise"]
# L3.3: retention rate by age band at T (Series indexed by band)
answer = None  # YOUR ANSWER
teaching.check("L3.3", answer)

# %% tags=["solution"]
if solutions:
    answer = base_now.groupby("band")["kept"].mean()
    teaching.check("L3.3", answer)

# %% [markdown] tags=["lang-en"]
# ## 2. The FAW-Toyota chart: annual averages
#
# One date can be misleading: a dip around Chinese New Year or a busy winter moves the
# figures. The FAW-Toyota chart therefore shows, for each age band, the **mean of the
# figures at the 12 month-ends** of a year (31 January, 28 or 29 February, …, 31 December).
# At each month-end the base, the ages and the window are computed again: a car moves to
# the next band on the anniversary of its sale.
#
# `pd.date_range("2025-01-31", periods=12, freq="ME")` lists the month-ends of a year. Turn
# your steps for L3.2–L3.3 into a function of the date and call it at each month-end.

# %% [markdown] tags=["lang-zh"]
# ## 2. 一汽丰田图：年平均值
#
# 只看一个日期可能会被误导：春节前后的低谷或冬季的旺季都会让数字波动。因此一汽丰田图对每个车龄段显示一年中 **12 个月末数值的平均值**（1 月 31 日、2 月 28 或 29 日、…、12 月 31 日）。每个月末都要重新计算保有车辆、车龄和时间窗口：车辆在购车周年日进入下一个车龄段。
#
# `pd.date_range("2025-01-31", periods=12, freq="ME")` 列出一年的各月末。把你在 L3.2–L3.3 中的步骤写成以日期为参数的函数，在每个月末调用一次。

# %%
# The chart year: the last full calendar year up to T (the variable `chart_year`)
n.tell("lesson3.chart_year", year=str(chart_year))

# %% [markdown] tags=["lang-en"]
# ### Exercise L3.4
#
# What is the **annual average retention rate of third-year cars** (band 2) in the chart
# year `chart_year`, as a fraction?

# %% [markdown] tags=["lang-zh"]
# ### 练习 L3.4
#
# 图表年度 `chart_year` 中**第三年车辆**（车龄段 2）的**年平均客户掌握率**是多少（小数）？

# %% tags=["exercise"]
# L3.4: annual average retention rate of band 2 in the chart year (fraction)
answer = None  # YOUR ANSWER
teaching.check("L3.4", answer)

# %% tags=["solution"]
if solutions:
    def retention_on(day):
        """Retention rate by band at `day`, by hand."""
        years_old = (day - mine["sale_date"]).dt.days / 365.25
        in_base = mine["sale_date"].le(day) & years_old.le(10)
        came = mine["vin"].isin(set(orders.loc[orders["open_date"].gt(window_start(12, as_of=day))
                                               & orders["open_date"].le(day), "vin"]))
        return came[in_base].groupby(years_old[in_base].floordiv(1).astype(int)).mean()

    month_ends = pd.date_range(f"{chart_year}-01-31", periods=12, freq="ME")
    per_month = pd.concat([retention_on(day) for day in month_ends], axis=1)
    answer = per_month.mean(axis=1).loc[2]
    teaching.check("L3.4", answer)

# %% [markdown] tags=["lang-en"]
# ### The chart with the library
#
# `annual_average(data.dataset, chart_year, store_id=...)` does the twelve month-ends in one
# pass; the bars are the retention rate, the line the active ratio.

# %% [markdown] tags=["lang-zh"]
# ### 用程序库画图
#
# `annual_average(data.dataset, chart_year, store_id=...)` 一次算完十二个月末；柱为客户掌握率，折线为活跃客户比例。

# %%
# The FAW-Toyota chart of the chart year, with the intervals of the year-end figure
annual = annual_average(data.dataset, chart_year, store_id=sid, max_age=10)
year_end = retention_by_vehicle_age(data.dataset, store_id=sid, max_age=10,
                                    as_of=pd.Timestamp(f"{chart_year}-12-31"))
chart = annual.merge(year_end[["age_band", "retention_lo", "retention_hi"]], on="age_band",
                     how="left")
with ch.figure(size=(10, 5)) as ax:
    plots.faw_toyota_chart(chart, ax=ax, lang=lang)
rate = annual.set_index("age_band")["retention_rate"]
n.tell("lesson3.chart", year=str(chart_year), first=rate.iloc[0], last=rate.iloc[-1],
       band=year_label(rate.index[-1], lang))

# %% [markdown] tags=["lang-en"]
# ### Exercise L3.5
#
# Into which **year of the car's life** (1 = first year) does the annual average retention
# rate drop the most, compared with the year before? Give a whole number (you may use
# `annual`).

# %% [markdown] tags=["lang-zh"]
# ### 练习 L3.5
#
# 与前一年相比，年平均客户掌握率在车辆的**第几年**（1 表示第一年）下降最多？请给出整数（可以使用 `annual`）。

# %% tags=["exercise"]
# L3.5: year of life with the largest drop of the annual average retention rate
answer = None  # YOUR ANSWER
teaching.check("L3.5", answer)

# %% tags=["solution"]
if solutions:
    step = annual.set_index("age_band")["retention_rate"].diff()
    answer = int(step.idxmin()) + 1
    teaching.check("L3.5", answer)

# %% [markdown] tags=["lang-en"]
# ## 3. The warranty cliff
#
# The factory warranty (3 years or 100,000 km for most makers; at least 3 years / 60,000 km
# by law) brings owners back: warranty repairs are free only at an authorised dealer, and
# many owners believe servicing elsewhere voids the warranty. When it ends, independent
# workshops with lower prices compete for the car, and many owners leave after their last
# in-warranty service. In the retention chart this is a **cliff**: a much larger drop into
# the fourth year than between the years around it.

# %% [markdown] tags=["lang-zh"]
# ## 3. 质保悬崖
#
# 厂家质保（多数厂家为 3 年或 10 万公里；法定至少 3 年或 6 万公里）把车主留在店里：质保维修只有在授权经销店才免费，许多车主也以为在外面保养会失去质保。质保一结束，价格更低的社会修理厂就来争夺这辆车，许多车主做完质保期内最后一次保养就不再回来。在掌握率图上这就是一道**悬崖**：进入第四年时的降幅远大于前后各年。

# %% [markdown] tags=["lang-en"]
# ### Exercise L3.6
#
# Measure the gap at `T`: the retention rate of all base cars **under 3 years** old minus
# that of all base cars **from 3 to under 5 years**, each pooled over its cars (retained
# cars / cars), as a fraction.

# %% [markdown] tags=["lang-zh"]
# ### 练习 L3.6
#
# 计算 `T` 时的落差：车龄**不满 3 年**的全部保有车辆的掌握率，减去车龄 **3 年至不满 5 年**的全部保有车辆的掌握率；两者都按车辆合并计算（掌握车辆数 / 车辆数），给出小数。

# %% tags=["exercise"]
# L3.6: pooled retention under 3 years minus pooled retention from 3 to under 5 years, at T
answer = None  # YOUR ANSWER
teaching.check("L3.6", answer)

# %% tags=["solution"]
if solutions:
    in_warranty = base_now.loc[base_now["years"].lt(3), "kept"].mean()
    after = base_now.loc[base_now["years"].ge(3) & base_now["years"].lt(5), "kept"].mean()
    answer = in_warranty - after
    teaching.check("L3.6", answer)

# %% [markdown] tags=["lang-en"]
# ### The cliff from the other side: when do owners leave?
#
# `warranty_cliff` follows each car's relationship with the store and dates a departure at
# the **last order** that was not followed by another within 12 months. The chart shows the
# share of remaining owners leaving in each year of the car's life (the hazard, a rate per
# customer-year, turned into the share leaving within a year by `annual_share`).

# %% [markdown] tags=["lang-zh"]
# ### 从另一面看悬崖：车主在什么时候离开？
#
# `warranty_cliff` 追踪每辆车与门店的关系，把流失时间记在**最后一张工单**上（此后 12 个月内再没有工单）。图中显示车辆每一年中仍在的车主离开的比例（风险率是每客户年的比率，由 `annual_share` 换算为一年内离开的比例）。

# %%
# The share of owners leaving in each year of the car's life, and where it jumps most
table = retention.defection_table(data.dataset, as_of=T, store_id=sid, lapse_months=12)
cliff = retention.warranty_cliff(table, max_age=10)
leaving = retention.annual_share(cliff)
cliff_band = None if cliff.cliff_age_ is None else int(cliff.cliff_age_)
with ch.figure(size=(10, 4.8)) as ax:
    plots.hazard_chart(leaving, cliff_age=cliff_band, ax=ax, lang=lang)
hz = leaving.set_index("age_band")["hazard"]
if cliff_band is not None and cliff_band - 1 in hz.index:
    n.tell("lesson3.cliff_found", band=year_label(cliff_band, lang),
           before=hz.get(cliff_band - 1), after=hz.get(cliff_band))
else:
    n.tell("lesson3.cliff_none")

# %% [markdown] tags=["lang-en"]
# ## Discussion: a plan for the third year

# %% [markdown] tags=["lang-zh"]
# ## 讨论：第三年的行动计划

# %%
# The vehicle base a year ago, to discuss
n.tell("lesson3.discussion", as_of=T, cars=len(base_then))

# %% [markdown] tags=["lang-en"]
# - What would you offer an owner in the third year of the car, *before* the last
#   in-warranty service — an extended warranty, a maintenance package, a price match with
#   independent workshops? What would it cost, and what is a retained older car worth to
#   the store (lesson L1)?
# - Who should call, and when: how many months before the warranty ends?
# - New-car sales hide the loss of older cars. Which figure from this lesson would you put
#   on the store's monthly dashboard so that the blind spot becomes visible?

# %% [markdown] tags=["lang-zh"]
# - 在车辆第三年、质保期内最后一次保养*之前*，你会向车主提供什么——延保、保养套餐，还是与社会修理厂比价？成本是多少？一辆留下来的老车对门店值多少钱（参见第 L1 课）？
# - 应该由谁来打电话、在什么时候：质保结束前几个月？
# - 新车销量掩盖了老车的流失。你会把本课中的哪个数字放进门店的月度看板，让这个盲区显现出来？

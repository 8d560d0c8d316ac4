# %% [markdown]
# # L3 · Retention by vehicle age / 按车龄的客户保有
#
# One class period. Run the cells from the top; the lesson text appears in the language
# set by `lang`. Write your answers in the cells marked `# YOUR ANSWER` and run them to get
# feedback. / 一个课时。请从上往下运行各单元格，课文按 `lang` 参数显示语言。在标有
# `# YOUR ANSWER` 的单元格中写出答案并运行，即可看到反馈。

# %% tags=["parameters"]
data_dir = "data/sample"  # str: the student's data folder
as_of = None  # str ISO date or None
lang = "en"  # "en" or "zh"
solutions = False  # bool: True fills in the answers (teacher's version)
store_id = ""  # str: "" means the first store of the data

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from crm_analysis import plots, plotting, teaching
from crm_analysis.i18n import t
from crm_analysis.narrative import Narrator
from crm_analysis.overview import window_start
from crm_analysis.retention import (
    annual_average,
    defection_table,
    retention_by_vehicle_age,
    warranty_cliff,
)

data = teaching.start("L3", data_dir, as_of=as_of, lang=lang, store_id=store_id or None)
plotting.setup(lang)
n = Narrator(lang)
T = data.as_of
sid = data.store_id
vehicles = data.dataset.vehicles
orders = data.dataset.repair_orders
orders = orders[orders["store_id"] == sid]
chart_year = T.year if T.is_year_end else T.year - 1


def year_label(band):
    return t("metric.age_band", lang, n=int(band) + 1)


# %%
sold_last_year = vehicles[vehicles["sold_here"] & (vehicles["store_id"] == sid)
                          & (vehicles["sale_date"] > window_start(12, as_of=T))
                          & (vehicles["sale_date"] <= T)]
n.say(
    "## The store manager's question\n\n"
    f"*\"We sold {n.int(len(sold_last_year))} new cars in the last twelve months, and more "
    "every year before that. So why is the workshop not getting busier? Where do our "
    "owners go?\"*\n\n"
    "FAW-Toyota's customer-retention standard answers with one chart: the share of the "
    "cars a dealer sold that still come to it, by vehicle age. The share falls year after "
    "year, and it falls hardest when the factory warranty ends. New-car sales hide the "
    "loss as long as they grow — the standard calls it the dealers' blind spot.\n\n"
    "**Learning goals.** After this lesson you can\n"
    "1. build the vehicle base and its age bands from the vehicles table;\n"
    "2. compute the retention rate (客户掌握率) and the active ratio (活跃客户比例) by age "
    "band at a date, by hand and with `crm_analysis.retention`;\n"
    "3. compute the FAW-Toyota annual average step by step and read the chart;\n"
    "4. find the warranty cliff and say what the store should do before it.",
    "## 店长的问题\n\n"
    f"*“过去十二个月我们卖了 {n.int(len(sold_last_year))} 辆新车，之前每年卖得更多。"
    "为什么车间却没有越来越忙？我们的车主都去哪儿了？”*\n\n"
    "一汽丰田的客户维系标准用一张图回答：经销店售出的车辆中，按车龄统计仍回本店的比例。"
    "这个比例逐年下降，而在厂家质保结束时降得最厉害。只要新车销量还在增长，这种流失就被掩盖了——"
    "标准称之为经销店的盲区。\n\n"
    "**学习目标。** 学完本课，你能够：\n"
    "1. 从车辆表建立保有车辆及其车龄段；\n"
    "2. 手工以及用 `crm_analysis.retention` 计算某一日期各车龄段的客户掌握率和活跃客户比例；\n"
    "3. 逐步计算一汽丰田年平均值并读懂这张图；\n"
    "4. 找出质保悬崖，并说明门店应在此之前做什么。",
)

# %%
n.say(
    "## 1. The vehicle base and the retention rate\n\n"
    "- The **vehicle base** (保有车辆) at a date T: the cars the store sold itself "
    "(`sold_here` true, `store_id` the store) with a sale date on or before T and at most "
    "10 years old.\n"
    "- **Vehicle age** = (T − sale date) in days / 365.25; **age band** k = ages [k, k+1), "
    "shown as \"year k+1\" (band 0 is the first year).\n"
    "- **Retention rate** (客户掌握率) of a band: the share of its cars with at least one "
    "order at the store in the 12 months up to T, (T − 12 months, T].\n"
    "- **Active ratio** (活跃客户比例): the same with 6 months — owners who come at every "
    "service interval.\n\n"
    "`window_start(12, as_of=T)` gives T minus 12 calendar months; an order counts when "
    "`open_date > window_start(12, as_of=T)` and `open_date <= T`.",
    "## 1. 保有车辆与客户掌握率\n\n"
    "- 日期 T 的**保有车辆**：本店自己销售（`sold_here` 为真、`store_id` 为本店）、"
    "购车日期不晚于 T、车龄不超过 10 年的车辆。\n"
    "- **车龄** =（T − 购车日期）的天数 / 365.25；**车龄段** k 表示车龄 [k, k+1)，"
    "显示为“第 k+1 年”（车龄段 0 即第一年）。\n"
    "- 某车龄段的**客户掌握率**：该段车辆中，在截至 T 的 12 个月内，即 (T − 12 个月, T]，"
    "至少有一张本店工单的比例。\n"
    "- **活跃客户比例**：把 12 个月换成 6 个月——每个保养周期都回厂的车主。\n\n"
    "`window_start(12, as_of=T)` 给出 T 减去 12 个日历月的日期；当 `open_date > window_start(12, as_of=T)` "
    "且 `open_date <= T` 时，工单计入。",
)

# %%
T0 = pd.Timestamp(window_start(12, as_of=T))
own_sales = vehicles[vehicles["sold_here"] & (vehicles["store_id"] == sid)]
age_then = (T0 - own_sales["sale_date"]).dt.days / 365.25
base_then = own_sales[(own_sales["sale_date"] <= T0) & (age_then <= 10)].copy()
base_then["age_band"] = np.floor(age_then[base_then.index]).astype(int)
visits_then = orders[(orders["open_date"] > window_start(6, as_of=T0)) & (orders["open_date"] <= T0)]
base_then["active"] = base_then["vin"].isin(visits_then["vin"])
active_then = base_then.groupby("age_band", as_index=False)["active"].mean().rename(
    columns={"active": "active_ratio"})
n.say(
    f"### Worked example: the active ratio one year ago ({n.date(T0)})\n\n"
    "1. Keep the store's own sales, compute each car's age at the date, and keep the cars "
    "sold on or before it and at most 10 years old.\n"
    "2. `np.floor` of the age gives the band.\n"
    "3. Mark the cars with an order in the 6 months up to the date "
    "(`isin` on the VINs of those orders).\n"
    "4. The mean of a True/False column by band is the share of True.\n\n"
    f"On {n.date(T0)} the base held **{n.int(len(base_then))} cars**; "
    f"{n.pct(active_then['active_ratio'].iloc[0])} of the first-year cars were active, "
    f"against {n.pct(active_then['active_ratio'].iloc[-1])} in the oldest band.",
    f"### 例题：一年前（{n.date(T0)}）的活跃客户比例\n\n"
    "1. 保留本店自己销售的车辆，计算每辆车在该日期的车龄，保留在该日期之前售出、车龄不超过 10 年的车辆。\n"
    "2. 对车龄用 `np.floor` 向下取整得到车龄段。\n"
    "3. 标记在该日期前 6 个月内有工单的车辆（用这些工单的 VIN 做 `isin`）。\n"
    "4. 按车龄段对 True/False 列求平均值，就是 True 的比例。\n\n"
    f"{n.date(T0)} 的保有车辆共 **{n.int(len(base_then))} 辆**；第一年车辆中有 "
    f"{n.pct(active_then['active_ratio'].iloc[0])} 是活跃的，车龄最高的一段只有 "
    f"{n.pct(active_then['active_ratio'].iloc[-1])}。",
)
display(base_then[["vin", "sale_date", "age_band", "active"]].head())
fig, ax = plt.subplots(figsize=(9, 4.5))
plotting.curve_by_age(active_then, "active_ratio", ax=ax, lang=lang,
                      title=n(f"Active ratio by vehicle age on {n.date(T0)} (by hand)",
                              f"{n.date(T0)}各车龄的活跃客户比例（手工计算）"))
fig.tight_layout()
plt.show()

# %%
n.say(
    "### Exercise L3.1\n\n"
    f"How many cars are in the vehicle base at the analysis date **{n.date(T)}** (the "
    "variable `T`)?",
    "### 练习 L3.1\n\n"
    f"分析日期 **{n.date(T)}**（变量 `T`）的保有车辆有多少辆？",
)

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

# %%
n.say(
    "### Exercise L3.2\n\n"
    "What is the **retention rate of first-year cars** (band 0) at `T`, as a fraction? "
    "Remember: 12 months, not 6.",
    "### 练习 L3.2\n\n"
    "`T` 时**第一年车辆**（车龄段 0）的**客户掌握率**是多少（小数）？注意：是 12 个月，不是 6 个月。",
)

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

# %%
n.say(
    "### Exercise L3.3\n\n"
    "Give the **retention rate of every age band** at `T` as a pandas Series indexed by "
    "the band number (0, 1, …).",
    "### 练习 L3.3\n\n"
    "以车龄段编号（0、1、…）为索引的 pandas Series，给出 `T` 时**每个车龄段的客户掌握率**。",
)

# %% tags=["exercise"]
# L3.3: retention rate by age band at T (Series indexed by band)
answer = None  # YOUR ANSWER
teaching.check("L3.3", answer)

# %% tags=["solution"]
if solutions:
    answer = base_now.groupby("band")["kept"].mean()
    teaching.check("L3.3", answer)

# %%
n.say(
    "## 2. The FAW-Toyota chart: annual averages\n\n"
    "One date can be misleading: a dip around Chinese New Year or a busy winter moves "
    "the figures. The FAW-Toyota chart therefore shows, for each age band, the **mean of "
    f"the figures at the 12 month-ends** of a year (here {chart_year}: 31 January, 28 or "
    "29 February, …, 31 December). At each month-end the base, the ages and the window "
    "are computed again: a car moves to the next band on the anniversary of its sale.\n\n"
    "`pd.date_range(\"2025-01-31\", periods=12, freq=\"ME\")` lists the month-ends of a "
    "year. Turn your steps for L3.2–L3.3 into a function of the date and call it at each "
    "month-end.",
    "## 2. 一汽丰田图：年平均值\n\n"
    "只看一个日期可能会被误导：春节前后的低谷或冬季的旺季都会让数字波动。因此一汽丰田图对每个车龄段显示"
    f"一年中 **12 个月末数值的平均值**（这里是 {chart_year} 年：1 月 31 日、2 月 28 或 29 日、…、"
    "12 月 31 日）。每个月末都要重新计算保有车辆、车龄和时间窗口：车辆在购车周年日进入下一个车龄段。\n\n"
    "`pd.date_range(\"2025-01-31\", periods=12, freq=\"ME\")` 列出一年的各月末。"
    "把你在 L3.2–L3.3 中的步骤写成以日期为参数的函数，在每个月末调用一次。",
)

# %%
n.say(
    "### Exercise L3.4\n\n"
    f"What is the **annual average retention rate of third-year cars** (band 2) in "
    f"{chart_year}, as a fraction?",
    "### 练习 L3.4\n\n"
    f"{chart_year} 年**第三年车辆**（车龄段 2）的**年平均客户掌握率**是多少（小数）？",
)

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

# %%
annual = annual_average(data.dataset, chart_year, store_id=sid, max_age=10)
year_end = retention_by_vehicle_age(data.dataset, store_id=sid, max_age=10,
                                    as_of=pd.Timestamp(f"{chart_year}-12-31"))
chart = annual.merge(year_end[["age_band", "retention_lo", "retention_hi"]], on="age_band",
                     how="left")
fig, ax = plt.subplots(figsize=(10, 5))
plots.faw_toyota_chart(chart, ax=ax, lang=lang)
fig.tight_layout()
plt.show()
rate = annual.set_index("age_band")["retention_rate"]
n.say(
    "### The chart with the library\n\n"
    f"`annual_average(data.dataset, {chart_year}, store_id=...)` does the twelve month-ends "
    "in one pass; the bars are the retention rate, the line the active ratio. In "
    f"{chart_year} the store kept **{n.pct(rate.iloc[0])} of its first-year cars** but "
    f"only {n.pct(rate.iloc[-1])} in {year_label(rate.index[-1])}.",
    "### 用程序库画图\n\n"
    f"`annual_average(data.dataset, {chart_year}, store_id=...)` 一次算完十二个月末；柱为客户掌握率，"
    f"折线为活跃客户比例。{chart_year} 年本店**第一年车辆的掌握率为 {n.pct(rate.iloc[0])}**，"
    f"到{year_label(rate.index[-1])}只剩 {n.pct(rate.iloc[-1])}。",
)

# %%
n.say(
    "### Exercise L3.5\n\n"
    "Into which **year of the car's life** (1 = first year) does the annual average "
    "retention rate drop the most, compared with the year before? Give a whole number "
    "(you may use `annual`).",
    "### 练习 L3.5\n\n"
    "与前一年相比，年平均客户掌握率在车辆的**第几年**（1 表示第一年）下降最多？请给出整数"
    "（可以使用 `annual`）。",
)

# %% tags=["exercise"]
# L3.5: year of life with the largest drop of the annual average retention rate
answer = None  # YOUR ANSWER
teaching.check("L3.5", answer)

# %% tags=["solution"]
if solutions:
    step = annual.set_index("age_band")["retention_rate"].diff()
    answer = int(step.idxmin()) + 1
    teaching.check("L3.5", answer)

# %%
n.say(
    "## 3. The warranty cliff\n\n"
    "The factory warranty (3 years or 100,000 km for most makers; at least 3 years / "
    "60,000 km by law) brings owners back: warranty repairs are free only at an "
    "authorised dealer, and many owners believe servicing elsewhere voids the warranty. "
    "When it ends, independent workshops with lower prices compete for the car, and many "
    "owners leave after their last in-warranty service. In the retention chart this is a "
    "**cliff**: a much larger drop into the fourth year than between the years around it.",
    "## 3. 质保悬崖\n\n"
    "厂家质保（多数厂家为 3 年或 10 万公里；法定至少 3 年或 6 万公里）把车主留在店里："
    "质保维修只有在授权经销店才免费，许多车主也以为在外面保养会失去质保。质保一结束，"
    "价格更低的社会修理厂就来争夺这辆车，许多车主做完质保期内最后一次保养就不再回来。"
    "在掌握率图上这就是一道**悬崖**：进入第四年时的降幅远大于前后各年。",
)

# %%
n.say(
    "### Exercise L3.6\n\n"
    "Measure the gap at `T`: the retention rate of all base cars **under 3 years** old "
    "minus that of all base cars **from 3 to under 5 years**, each pooled over its cars "
    "(retained cars / cars), as a fraction.",
    "### 练习 L3.6\n\n"
    "计算 `T` 时的落差：车龄**不满 3 年**的全部保有车辆的掌握率，减去车龄 **3 年至不满 5 年**"
    "的全部保有车辆的掌握率；两者都按车辆合并计算（掌握车辆数 / 车辆数），给出小数。",
)

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

# %%
table = defection_table(data.dataset, as_of=T, store_id=sid, lapse_months=12)
cliff = warranty_cliff(table, max_age=10)
# the hazard is a rate per customer-year; 1 - exp(-rate) is the share leaving within a year
leaving = cliff.hazard_.copy()
for col in ("hazard", "hazard_lo", "hazard_hi"):
    leaving[col] = 1 - np.exp(-leaving[col])
cliff_band = None if cliff.cliff_age_ is None else int(cliff.cliff_age_)
fig, ax = plt.subplots(figsize=(10, 4.8))
plots.hazard_chart(leaving, cliff_age=cliff_band, ax=ax, lang=lang)
fig.tight_layout()
plt.show()
hz = leaving.set_index("age_band")["hazard"]
found = cliff_band is not None and cliff_band - 1 in hz.index
n.say(
    "### The cliff from the other side: when do owners leave?\n\n"
    "`warranty_cliff` follows each car's relationship with the store and dates a departure "
    "at the **last order** that was not followed by another within 12 months. The chart "
    "shows the share of remaining owners leaving in each year of the car's life. "
    + (f"It jumps most in **{year_label(cliff_band)}**, from {n.pct(hz.get(cliff_band - 1))} "
       f"to {n.pct(hz.get(cliff_band))}: the last service under warranty is, for many "
       "owners, the last visit. The retention rate waits a full year without an order "
       "before it counts a car as gone, so it falls most one year later."
       if found else "On this small store no band stands out clearly."),
    "### 从另一面看悬崖：车主在什么时候离开？\n\n"
    "`warranty_cliff` 追踪每辆车与门店的关系，把流失时间记在**最后一张工单**上"
    "（此后 12 个月内再没有工单）。图中显示车辆每一年中仍在的车主离开的比例。"
    + (f"比例在**{year_label(cliff_band)}**跳升最多，从 {n.pct(hz.get(cliff_band - 1))} 升到 "
       f"{n.pct(hz.get(cliff_band))}：对许多车主来说，质保期内的最后一次保养就是最后一次到店。"
       "掌握率要等满一年没有工单才把车辆算作流失，所以它的最大降幅晚一年出现。"
       if found else "在这家小门店的数据中，没有哪个车龄段特别突出。"),
)

# %%
n.say(
    "## Discussion: a plan for the third year\n\n"
    f"A year before {n.date(T)} the vehicle base held {n.int(len(base_then))} cars, and "
    "the charts above show how many owners the store keeps once the warranty is over. "
    "Discuss in your group:\n\n"
    "- What would you offer an owner in the third year of the car, *before* the last "
    "in-warranty service — an extended warranty, a maintenance package, a price match "
    "with independent workshops? What would it cost, and what is a retained older car "
    "worth to the store (lesson L1)?\n"
    "- Who should call, and when: how many months before the warranty ends?\n"
    "- New-car sales hide the loss of older cars. Which figure from this lesson would you "
    "put on the store's monthly dashboard so that the blind spot becomes visible?",
    "## 讨论：第三年的行动计划\n\n"
    f"{n.date(T)} 的一年前，保有车辆有 {n.int(len(base_then))} 辆；上面的图显示质保结束后门店还能留住多少车主。"
    "请小组讨论：\n\n"
    "- 在车辆第三年、质保期内最后一次保养*之前*，你会向车主提供什么——延保、保养套餐，"
    "还是与社会修理厂比价？成本是多少？一辆留下来的老车对门店值多少钱（参见第 L1 课）？\n"
    "- 应该由谁来打电话、在什么时候：质保结束前几个月？\n"
    "- 新车销量掩盖了老车的流失。你会把本课中的哪个数字放进门店的月度看板，让这个盲区显现出来？",
)

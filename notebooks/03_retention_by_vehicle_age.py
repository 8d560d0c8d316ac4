# %% [markdown] tags=["lang-en"]
# # 03 · Retention by vehicle age
#
# Every car the store sells is a future stream of maintenance and repair work, but only
# while its owner keeps coming back. FAW-Toyota's customer-retention standard charts two
# figures against vehicle age, both as annual averages: the **retention rate** (the share
# of the cars a dealer sold that had at least one order in the last 12 months) and the
# **active ratio** (an order in the last 6 months). It warns that the loss of older-car
# owners is the dealers' blind spot: new-car sales hide it while they grow.
#
# This chapter draws that chart for one store, finds where owners leave, measures how long
# a relationship lasts and what drives its end, and prices what the lost owners were
# worth. The year, the windows and the oldest vehicle age are parameters of the notebook
# (`year`, `active_months`, `lost_months`, `lapse_months`, `max_age`); the first lines of
# the output give the values of this run.

# %% [markdown] tags=["lang-zh"]
# # 03 · 按车龄的客户保有
#
# 门店卖出的每一辆车都是未来的保养和维修业务，但前提是车主持续回厂。一汽丰田的客户维系标准按车龄统计两个指标，均取年度平均值：**客户掌握率**（本店销售的车辆中，近 12 个月内有过工单的比例）和**活跃客户比例**（近 6 个月内有过工单）。标准指出，高车龄客户的流失是经销店的盲区：新车销量增长时，这种流失被掩盖了。
#
# 本章为本店画出这张图，找出客户在哪里流失，度量客户关系能维持多久、什么因素导致流失，并估算流失客户的价值。年份、时间窗口和最高车龄都是本笔记本的参数（`year`、`active_months`、`lost_months`、`lapse_months`、`max_age`），输出的开头几行给出本次分析所用的取值。

# %% tags=["parameters"]
data_dir = None  # folder of the dataset; None means data/sample
store_id = "001"  # the store to report on (a string: "007" stays "007")
as_of = None  # analysis date "YYYY-MM-DD"; None means the export date of the data
year = None  # calendar year of the FAW-Toyota annual average; None: last full year
active_months = 6  # an order within this many months makes a car active
lost_months = 12  # no order for longer than this makes a car lost
lapse_months = 12  # a relationship ends at the last order not followed within this
max_age = 10  # oldest vehicle age (years) in the vehicle base
lang = "en"  # "en" or "zh"

# %%
# The library: the notebook kit, the charts, and the retention and survival analyses
import numpy as np
import pandas as pd

from crm_analysis import plots, retention, survival
from crm_analysis.group import last_full_year
from crm_analysis.notebook import open_chapter, year_label
from crm_analysis.overview import window_start

# %%
# Open the store; the chart's year defaults to the last full calendar year before T
ch = open_chapter(data_dir, store_id=store_id, as_of=as_of, lang=lang)
n, T, ds, store_id = ch.n, ch.as_of, ch.data, ch.store_id
year = last_full_year(as_of=T) if year is None else int(year)
active_months, lost_months = int(active_months), int(lost_months)
lapse_months, max_age = int(lapse_months), int(max_age)
common = dict(store_id=store_id, active_months=active_months, max_age=max_age)
ch.title()
n.tell("nb03.parameters", year=year, active_months=active_months, lost_months=lost_months,
       lapse_months=lapse_months, max_age=max_age)

# %% [markdown] tags=["lang-en"]
# ## 1. The FAW-Toyota chart: retention and active ratio by vehicle age
#
# Base: the cars the store sold, up to the oldest vehicle age. For each of the twelve
# month-ends of the year, the share of each age band with an order in the preceding
# retention window (retention) and active window (active); the chart shows the mean over
# the twelve months, the form of the FAW-Toyota chart, with 95% Wilson intervals of the
# year-end figure.

# %% [markdown] tags=["lang-zh"]
# ## 1. 一汽丰田图：各车龄的客户掌握率与活跃客户比例
#
# 口径：本店销售、车龄不超过最高车龄的车辆。在该年的十二个月末，分别计算各车龄段中在掌握窗口内有工单（掌握）和在活跃窗口内有工单（活跃）的车辆比例；图中为十二个月的平均值，即一汽丰田图的形式，误差线为年末数值的95% Wilson 区间。

# %%
# The annual average of the twelve month-ends, with the intervals of the year-end figure
annual = retention.annual_average(ds, year, window_months=lost_months, **common)
year_end = retention.retention_by_vehicle_age(ds, as_of=pd.Timestamp(f"{year}-12-31"),
                                              window_months=lost_months, **common)
chart = annual.merge(year_end[["age_band", "retention_lo", "retention_hi"]], on="age_band",
                     how="left")
with ch.figure(size=(10, 5)) as ax:
    plots.faw_toyota_chart(chart, ax=ax, lang=lang)

# %%
# Retention in years 1, 3, 5 and 8, the active ratio, and the steepest fall between years
rate = annual.set_index("age_band")["retention_rate"]
act = annual.set_index("age_band")["active_ratio"]
r1, r3, r5, r8 = (float(rate.get(band, np.nan)) for band in (0, 2, 4, 7))
a1, a8 = (float(act.get(band, np.nan)) for band in (0, 7))
drop = rate.diff()
worst = int(drop.idxmin()) if drop.notna().any() else None
steepest = "" if worst is None else n.text(
    "nb03.steepest_fall", band=year_label(worst, lang), change=drop.loc[worst])
n.tell("nb03.retention_by_year", year=year, r1=r1, r3=r3, r5=r5, r8=r8, a1=a1, a8=a8,
       steepest=steepest)

# %%
# The same chart for the last three years, those with a full window of orders before them
first_order = ch.dataset.repair_orders["open_date"].min()
years_shown = [y for y in (year - 2, year - 1, year)
               if pd.Timestamp(f"{y}-01-31") > first_order + pd.DateOffset(months=lost_months)]
if len(years_shown) > 1:
    several = pd.concat([retention.annual_average(ds, y, window_months=lost_months,
                                                  **common).assign(year=str(y))
                         for y in years_shown], ignore_index=True)
    with ch.figure(size=(10, 5)) as ax:
        plots.faw_toyota_chart(several, overlay="year", ax=ax, lang=lang)
    first, last = (several[several["year"] == str(y)].set_index("age_band")["retention_rate"]
                   for y in (years_shown[0], years_shown[-1]))
    change = (last - first).dropna()
    n.tell("nb03.retention_change", first=years_shown[0], last=years_shown[-1],
           mean=change.mean(), low=change.min(), high=change.max())

# %% [markdown] tags=["lang-en"]
# ## 2. Where the store loses owners
#
# Every car the store sold, at the analysis date, by months since its last order:
# **active** (an order within the active window), **dormant** (the last order older than
# that, but within the lost window), **lost** (no order for longer than the lost window)
# and **never returned** (sold here, never serviced).

# %% [markdown] tags=["lang-zh"]
# ## 2. 客户在哪里流失
#
# 截至分析日期本店销售的全部车辆，按距上次工单的月数分为：**活跃**（在活跃窗口内有工单）、**休眠**（最后一张工单早于活跃窗口，但仍在流失窗口内）、**流失**（超过流失窗口没有工单）和**未回厂**（本店销售后从未回厂）。

# %%
# Every car of the vehicle base by status and age band
st = retention.status(ds, as_of=T, store_id=store_id, active_months=active_months,
                      lost_months=lost_months)
own = st[st["sold_here"] & st["age_years"].notna() & (st["age_years"] <= max_age)].copy()
own["age_band"] = np.floor(own["age_years"].astype(float)).astype(int)
counts = own.groupby(["age_band", "status"]).size().rename("vehicles").reset_index()
with ch.figure(size=(10, 5)) as ax:
    plots.status_bars(counts, ax=ax, lang=lang)
shares = own["status"].value_counts(normalize=True)
n.tell("nb03.status_shares", cars=len(own), max_age=max_age, active=shares.get("active", 0),
       dormant=shares.get("dormant", 0), lost=shares.get("lost", 0),
       never=shares.get("never_returned", 0))

# %% [markdown] tags=["lang-en"]
# ### The warranty cliff
#
# The defection hazard is the number of relationships that end in each year of the car's
# life divided by the time the cars spent in that year as customers, shown as the share
# of owners leaving within a year. Departures are dated at the last order, so owners who
# leave when the warranty ends are counted in the months before it ends.

# %% [markdown] tags=["lang-zh"]
# ### 质保悬崖
#
# 流失风险 = 各车龄年度内结束的客户关系数 ÷ 车辆在该年度作为客户的总时间，图中换算为一年内离开的车主比例。流失时间记在最后一张工单上，因此质保结束时离开的车主，被计在质保结束前的几个月里。

# %%
# The defection hazard by age band, as the share of owners leaving within a year
table = survival.defection_table(ds, as_of=T, store_id=store_id, lapse_months=lapse_months)
cliff = survival.warranty_cliff(table, max_age=max_age)
yearly = survival.annual_share(cliff.hazard_)
cliff_age = cliff.cliff_age_
with ch.figure(size=(10, 4.8)) as ax:
    plots.hazard_chart(yearly, cliff_age=cliff_age, ax=ax, lang=lang)
hz = yearly.set_index("age_band")["hazard"]
if cliff_age is not None and cliff_age - 1 in hz.index:
    n.tell("nb03.cliff", band=year_label(cliff_age, lang), before=hz.get(cliff_age - 1),
           after=hz.get(cliff_age))

# %% [markdown] tags=["lang-en"]
# ### By usage and vehicle grade
#
# Retention at the analysis date in years 1, 3, 5 and 8 for each segment with at least 30
# cars in the band.

# %% [markdown] tags=["lang-zh"]
# ### 按车辆用途和档次
#
# 截至分析日期，各细分群体在第 1、3、5、8 年的客户掌握率（只列该车龄段至少 30 辆车的群体）。

# %%
# Retention by usage and by grade in years 1, 3, 5 and 8 (segments of at least 30 cars)
seg = pd.concat([retention.retention_by_vehicle_age(ds, as_of=T, window_months=lost_months,
                                                    by=[col], **common)
                 .rename(columns={col: "segment"}).assign(dimension=col)
                 for col in ("usage", "grade")], ignore_index=True)
seg = seg[seg["age_band"].isin([0, 2, 4, 7]) & (seg["base_vehicles"] >= 30)].copy()
seg["label"] = [plots.hazard_ratio_label(dim, code, None, lang)
                for dim, code in zip(seg["dimension"], seg["segment"], strict=True)]
wide = seg.pivot_table(index=["dimension", "segment"], columns="age_band",
                       values="retention_rate")
wide.index = [plots.hazard_ratio_label(dim, code, None, lang) for dim, code in wide.index]
wide.columns = [year_label(band, lang) for band in wide.columns]
n.table(wide.reset_index(names=""), pct=list(wide.columns), pct_digits=0)

# %%
# The weakest and the strongest segment in year 5
y5 = seg[seg["age_band"] == 4].sort_values("retention_rate")
if len(y5) >= 2:
    n.tell("nb03.segments_year5", weakest=y5["label"].iloc[0], strongest=y5["label"].iloc[-1],
           weak=y5["retention_rate"].iloc[0], strong=y5["retention_rate"].iloc[-1])

# %% [markdown] tags=["lang-en"]
# ## 3. How long a relationship lasts
#
# A relationship ends at the last order that is not followed by another within the lapse
# window (`lapse_months`). Whether a relationship that had an order within that window has
# ended cannot be known yet, so relationships are followed up to the start of the window.
# Time is the car's age, and a car bought elsewhere enters when it first visits (left
# truncation), so the Kaplan-Meier curve (lifelines) estimates the share of owners still
# customers at each age.

# %% [markdown] tags=["lang-zh"]
# ## 3. 客户关系能维持多久
#
# 若最后一张工单之后在关系失效窗口（`lapse_months`）内没有新工单，客户关系在最后一张工单时结束；窗口内有工单的关系是否已结束目前还无法判断，因此客户关系只跟踪到窗口开始时。时间轴为车龄，他店销售的车辆从首次到店时进入观察（左截断），因此 Kaplan-Meier 曲线（lifelines）估计的是各车龄仍为本店客户的比例。

# %%
# Kaplan-Meier curves of own sales and walk-ins, on the age scale
n.tell("nb03.horizon", horizon=window_start(lapse_months, as_of=T), lapse_months=lapse_months)
surv = survival.survival_by_vehicle_age(table, by="sold_here")
with ch.figure(size=(10, 5.5)) as ax:
    plots.survival_curves(surv, ax=ax, lang=lang)

# %%
# Own sales still customers at ages 1, 3, 5 and 8, the median, and the log-rank test
own_fit = survival.survival_by_vehicle_age(table[table["sold_here"]])
s1, s3, s5, s8 = own_fit.survival_at([1, 3, 5, 8])["survival"].astype(float)
median_own = float(own_fit.median_.iloc[0])
logrank = survival.compare_survival(table, "sold_here", pairwise=False)
p_value = float(logrank["p_value"].iloc[0])
half = (n.text("nb03.median_beyond") if np.isnan(median_own)
        else n.text("nb03.median_age", age=median_own))
differ = n.text("nb03.groups_differ" if p_value < 0.05 else "nb03.groups_alike")
n.tell("nb03.survival_own", s1=s1, s3=s3, s5=s5, s8=s8, half=half, differ=differ,
       p="< 0.001" if p_value < 0.001 else f"= {p_value:.3f}")

# %% [markdown] tags=["lang-en"]
# ## 4. Cohorts and the service funnel
#
# Each row of the heat map is the cars sold in one year; each column the share of them
# serviced here during that year of their life. The funnel follows every car sold here
# from its first service onwards.

# %% [markdown] tags=["lang-zh"]
# ## 4. 销售年份队列与保养漏斗
#
# 热力图每一行是同一年售出的车辆，每一列是这些车辆在该车龄年度内回本店维修保养的比例。漏斗跟踪本店售出的每辆车从首次保养开始的回厂情况。

# %%
# Cohorts by sale year, and the service funnel of the cars sold here
cohorts = retention.cohort_retention(ds, as_of=T, store_id=store_id, max_age=max_age)
funnel = retention.service_funnel(ds, as_of=T, store_id=store_id)
with ch.figure(1, 2, size=(14, 5.5), gridspec_kw={"width_ratios": [3, 2]}) as (left, right):
    plots.cohort_heatmap(cohorts, ax=left, lang=lang)
    plots.service_funnel_chart(funnel, ax=right, lang=lang)
fs = funnel.set_index("visit")["share"]
n.tell("nb03.funnel", first=fs.get(1, np.nan), second=fs.get(2, np.nan),
       third=fs.get(3, np.nan))

# %% [markdown] tags=["lang-en"]
# ## 5. What drives defection
#
# A Cox proportional-hazards model (lifelines) of the relationship on the age scale, with
# usage, vehicle grade, region, where the car was bought and the number of visits in the
# first year. Two covariates need care. Warranty status changes during a relationship, so
# each relationship is split into episodes at the car's own warranty end (three years or
# 100,000 km, whichever comes first) and its last year before it. First-year visits are
# only known after a year, so that model starts each relationship one year after it
# began. A hazard ratio above 1 means owners leave faster.

# %% [markdown] tags=["lang-zh"]
# ## 5. 什么因素导致流失
#
# 以车龄为时间轴的 Cox 比例风险模型（lifelines），变量包括车辆用途、车辆档次、区域、购车来源和首年进厂次数。有两个变量需要特别处理：质保状态在客户关系中会改变，因此按每辆车自己的质保结束时间（三年或十万公里，以先到者为准）及其前一年把客户关系切分为若干段；首年进厂次数要满一年才知道，因此模型从关系开始一年后起算。风险比大于 1 表示流失更快。

# %%
# The Cox model; a small store has few taxis or government cars: rare levels are pooled
drivers = survival.defection_drivers(table, pool_rare=True)
hr = drivers.hazard_ratios_
pooled = [plots.hazard_ratio_label(cov, level, None, lang)
          for cov, levels in drivers.pooled_levels_.items() for level in levels]
if pooled:
    n.tell("nb03.pooled", levels=n.text("nb03.list_separator").join(pooled))
with ch.figure(size=(9, 0.38 * len(hr) + 1.8)) as ax:
    plots.forest_plot(hr, ax=ax, lang=lang)

# %%
# The three strongest significant effects (p < 0.05)
sig = hr[hr["p"] < 0.05].copy()
sig["effect"] = (sig["hazard_ratio"] - 1).abs()
top = sig.sort_values("effect", ascending=False).head(3)
effects = [n.text("nb03.effect", ratio=row.hazard_ratio, lo=row.lo, hi=row.hi,
                  name=plots.hazard_ratio_label(row.covariate, row.level, row.reference, lang))
           for row in top.itertuples()]
n.tell("nb03.effects", effects=n.join(effects, "\n"))

# %% [markdown] tags=["lang-en"]
# The warranty phases compare owners who are still customers at those ages; the cliff
# itself is read from the hazard above, not from these ratios.

# %% [markdown] tags=["lang-zh"]
# 质保阶段的风险比比较的是在这些车龄仍是客户的车主；质保悬崖本身应看上文的流失风险，而不是这些风险比。

# %% [markdown] tags=["lang-en"]
# ## 6. What the lost owners were worth
#
# A relationship counts as lost this year when its last order fell in the year before the
# lapse window: a full lapse window has passed since without an order. For each, the gross
# profit of its orders per year of relationship (at least one year).

# %% [markdown] tags=["lang-zh"]
# ## 6. 流失客户的价值
#
# 最后一张工单落在关系失效窗口之前那一年内的客户关系：此后已满一个失效窗口没有工单，因此算作今年流失。对每段关系，计算其工单毛利按关系年数（至少一年）折算的年均值。

# %%
# The relationships lost this year and the yearly gross profit they brought
lost = retention.lost_owners(ds, as_of=T, store_id=store_id, lapse_months=lapse_months,
                             table=table)
n.tell("nb03.lost_window", start=lost.start, end=lost.end)
n.tell("nb03.lost_value", count=lost.count, mean=lost.mean_yearly_gross_profit,
       total=lost.yearly_gross_profit)

# %% [markdown] tags=["lang-en"]
# ## What it means for the store

# %% [markdown] tags=["lang-zh"]
# ## 对门店的启示

# %%
# The chapter's findings in three lines
cliff_text = (n.text("nb03.summary_no_cliff") if cliff_age is None else
              n.text("nb03.summary_cliff", band=year_label(cliff_age, lang)))
median_text = (n.text("nb03.summary_median", age=median_own) if np.isfinite(median_own)
               else n.text("nb03.summary_median_beyond"))
n.tell("nb03.summary", r1=r1, r8=r8, cliff=cliff_text, median=median_text,
       total=lost.yearly_gross_profit)

# %% [markdown] tags=["lang-en"]
# - A retention programme should start before the warranty ends: contact owners in the
#   third year, with an extended-warranty or maintenance-package offer, and follow up every
#   dormant owner before they are lost.

# %% [markdown] tags=["lang-zh"]
# - 客户维系应在质保结束前开始：在第三年主动联系车主，提供延保或保养套餐，并在休眠客户流失前回访。

# %%
# The key metrics, read back by the report runner and the tests
metrics = n.record(
    store_id=store_id, as_of=T.date().isoformat(), year=year,
    retention_year_1=r1, retention_year_3=r3, retention_year_5=r5, retention_year_8=r8,
    active_year_1=a1,
    km_survival_age_1=s1, km_survival_age_3=s3, km_survival_age_5=s5, km_survival_age_8=s8,
    median_relationship_age=median_own, cliff_age=cliff_age,
    lost_last_year=lost.count, lost_yearly_gross_profit=lost.yearly_gross_profit,
)

# %% [markdown] tags=["remove-cell"]
# # 03 · Retention by vehicle age
#
# FAW-Toyota's customer-retention standard charts two figures against vehicle age: the
# retention rate (客户掌握率, the share of the cars a dealer sold that it still services)
# and the active-customer ratio (活跃客户比例), both as annual averages, and calls the loss
# of older-car owners the dealers' blind spot. This chapter draws that chart for one store
# and adds the survival analysis behind it: when owners leave, how long a relationship
# lasts, what drives defection, and what the lost owners were worth. The report text is
# written by the code cells in the language chosen by `lang`; this cell is left out of
# the HTML report.

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
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from crm_analysis import plots, plotting
from crm_analysis.context import open_store
from crm_analysis.i18n import t
from crm_analysis.margins import order_profit
from crm_analysis.narrative import Narrator
from crm_analysis.overview import window_start
from crm_analysis.retention import (
    annual_average,
    cohort_retention,
    compare_survival,
    defection_drivers,
    defection_table,
    retention_by_vehicle_age,
    service_funnel,
    status,
    survival_by_vehicle_age,
    warranty_cliff,
)

plotting.setup(lang)
n = Narrator(lang)

ctx = open_store(data_dir, store_id=store_id, as_of=as_of)
dataset, ds, store_id, T, store = ctx.dataset, ctx.data, ctx.store_id, ctx.as_of, ctx.store
if year is None:
    year = T.year if T.is_year_end else T.year - 1
year = int(year)
active_months, lost_months = int(active_months), int(lost_months)
lapse_months, max_age = int(lapse_months), int(max_age)
common = dict(store_id=store_id, active_months=active_months, max_age=max_age)


def year_label(band):
    return t("metric.age_band", lang, n=int(band) + 1)


# %%
n.say(
    f"# {store['store_name']} ({store_id}) · retention by vehicle age\n\n"
    f"Analysis date **{n.date(T)}**. Every car the store sells is a future stream of "
    "maintenance and repair work, but only while its owner keeps coming back. FAW-Toyota's "
    "retention standard charts the **retention rate** (客户掌握率: the share of the cars a "
    f"dealer sold that had at least one order in the last {lost_months} months) and the "
    f"**active ratio** (活跃客户比例: an order in the last {active_months} months) by vehicle "
    "age, and warns that the loss of older-car owners is the dealers' blind spot: new-car "
    "sales hide it while they grow. This chapter draws that chart for the store, finds "
    "where owners leave, measures how long a relationship lasts and what drives its end, "
    "and prices what the lost owners were worth.",
    f"# {store['store_name']}（{store_id}）· 按车龄的客户保有\n\n"
    f"分析日期为**{n.date(T)}**。门店卖出的每一辆车都是未来的保养和维修业务，但前提是车主持续回厂。"
    "一汽丰田的客户维系标准按车龄统计**客户掌握率**（本店销售的车辆中，近 "
    f"{lost_months} 个月内有过工单的比例）和**活跃客户比例**（近 {active_months} 个月内有过工单），"
    "并指出高车龄客户的流失是经销店的盲区：新车销量增长时，这种流失被掩盖了。本章为本店画出这张图，"
    "找出客户在哪里流失，度量客户关系能维持多久、什么因素导致流失，并估算流失客户的价值。",
)

# %%
n.say(
    "## 1. The FAW-Toyota chart: retention and active ratio by vehicle age\n\n"
    f"Base: the cars the store sold that are at most {max_age} years old. For each of the "
    f"twelve month-ends of {year}, the share of each age band with an order in the "
    f"preceding {lost_months} months (retention) and {active_months} months (active); the "
    "chart shows the mean over the twelve months, the form of the FAW-Toyota chart, with "
    "95% Wilson intervals of the year-end figure.",
    "## 1. 一汽丰田图：各车龄的客户掌握率与活跃客户比例\n\n"
    f"口径：本店销售、车龄不超过 {max_age} 年的车辆。在 {year} 年的十二个月末，分别计算各车龄段中前 "
    f"{lost_months} 个月内有工单（掌握）和前 {active_months} 个月内有工单（活跃）的车辆比例；"
    "图中为十二个月的平均值，即一汽丰田图的形式，误差线为年末数值的 95% Wilson 区间。",
)
annual = annual_average(ds, year, window_months=lost_months, **common)
year_end = retention_by_vehicle_age(ds, as_of=pd.Timestamp(f"{year}-12-31"),
                                    window_months=lost_months, **common)
chart = annual.merge(year_end[["age_band", "retention_lo", "retention_hi"]], on="age_band",
                     how="left")
fig, ax = plt.subplots(figsize=(10, 5))
plots.faw_toyota_chart(chart, ax=ax, lang=lang)
fig.tight_layout()
plt.show()

rate = annual.set_index("age_band")["retention_rate"]
act = annual.set_index("age_band")["active_ratio"]


def at(series, year_of_life):
    band = year_of_life - 1
    return float(series.get(band, float("nan")))


drop = rate.diff()
worst = int(drop.idxmin()) if drop.notna().any() else None
n.say(
    f"In {year} the store kept **{n.pct(at(rate, 1))} of its first-year cars**, "
    f"{n.pct(at(rate, 3))} in year 3, {n.pct(at(rate, 5))} in year 5 and "
    f"{n.pct(at(rate, 8))} in year 8. The active ratio falls from {n.pct(at(act, 1))} to "
    f"{n.pct(at(act, 8))}. "
    + (f"The steepest fall is into **{year_label(worst)}**, "
       f"{n.pts(drop.loc[worst])}: the warranty has just ended."
       if worst is not None else ""),
    f"{year} 年本店**第一年车辆的掌握率为 {n.pct(at(rate, 1))}**，第 3 年为 {n.pct(at(rate, 3))}，"
    f"第 5 年为 {n.pct(at(rate, 5))}，第 8 年为 {n.pct(at(rate, 8))}。活跃客户比例从 "
    f"{n.pct(at(act, 1))} 降到 {n.pct(at(act, 8))}。"
    + (f"降幅最大的是进入**{year_label(worst)}**时，变化 {n.pts(drop.loc[worst])}："
       "这正是质保刚结束的时候。" if worst is not None else ""),
)

# %%
years_shown = [y for y in (year - 2, year - 1, year)
               if pd.Timestamp(f"{y}-01-31") > dataset.repair_orders["open_date"].min()
               + pd.DateOffset(months=lost_months)]
if len(years_shown) > 1:
    several = pd.concat([annual_average(ds, y, window_months=lost_months, **common)
                         .assign(year=str(y)) for y in years_shown], ignore_index=True)
    fig, ax = plt.subplots(figsize=(10, 5))
    plots.faw_toyota_chart(several, overlay="year", ax=ax, lang=lang)
    fig.tight_layout()
    plt.show()
    first, last = (several[several["year"] == str(y)].set_index("age_band")["retention_rate"]
                   for y in (years_shown[0], years_shown[-1]))
    change = (last - first).dropna()
    n.say(
        f"Over {years_shown[0]}–{years_shown[-1]} retention changed by "
        f"{n.pts(change.mean())} on average across age bands (from "
        f"{n.pts(change.min())} to {n.pts(change.max())}).",
        f"{years_shown[0]}–{years_shown[-1]} 年间，各车龄段的掌握率平均变化 {n.pts(change.mean())} "
        f"（最小 {n.pts(change.min())}，最大 {n.pts(change.max())}）。",
    )

# %%
n.say(
    "## 2. Where the store loses owners\n\n"
    f"Every car in the store's care at {n.date(T)}, by months since its last order: "
    f"**active** (within {active_months} months), **dormant** ({active_months}–{lost_months}), "
    f"**lost** (over {lost_months}) and **never returned** (sold here, never serviced).",
    "## 2. 客户在哪里流失\n\n"
    f"截至 {n.date(T)} 本店负责的全部车辆，按距上次工单的月数分为：**活跃**（{active_months} 个月以内）、"
    f"**休眠**（{active_months}–{lost_months} 个月）、**流失**（超过 {lost_months} 个月）和"
    "**未回厂**（本店销售后从未回厂）。",
)
st = status(ds, as_of=T, store_id=store_id, active_months=active_months, lost_months=lost_months)
own = st[st["sold_here"] & st["age_years"].notna() & (st["age_years"] <= max_age)].copy()
own["age_band"] = np.floor(own["age_years"].astype(float)).astype(int)
counts = own.groupby(["age_band", "status"]).size().rename("vehicles").reset_index()
fig, ax = plt.subplots(figsize=(10, 5))
plots.status_bars(counts, ax=ax, lang=lang)
fig.tight_layout()
plt.show()
shares = own["status"].value_counts(normalize=True)
n.say(
    f"Of the {n.int(len(own))} cars the store sold in the last {max_age} years, "
    f"{n.pct(shares.get('active', 0))} are active, {n.pct(shares.get('dormant', 0))} dormant, "
    f"**{n.pct(shares.get('lost', 0))} lost** and {n.pct(shares.get('never_returned', 0))} "
    "never came back after the sale. Dormant owners are the cheapest to win back: they have "
    "not yet settled with another workshop.",
    f"本店近 {max_age} 年售出的 {n.int(len(own))} 辆车中，{n.pct(shares.get('active', 0))} 活跃，"
    f"{n.pct(shares.get('dormant', 0))} 休眠，**{n.pct(shares.get('lost', 0))} 已流失**，"
    f"{n.pct(shares.get('never_returned', 0))} 售后从未回厂。休眠客户最容易挽回：他们还没有固定去别的修理厂。",
)

# %%
table = defection_table(ds, as_of=T, store_id=store_id, lapse_months=lapse_months)
cliff = warranty_cliff(table, max_age=max_age)
# The hazard is a rate (departures per customer-year) and can exceed 1 where owners leave
# within months; 1 - exp(-rate) turns it into the share leaving within a year, which is
# what a reader expects on a percent axis (a monotone map, so the intervals carry over).
yearly = cliff.hazard_.copy()
for col in ("hazard", "hazard_lo", "hazard_hi"):
    yearly[col] = 1 - np.exp(-yearly[col])
cliff_age = None if cliff.cliff_age_ is None else int(cliff.cliff_age_)
fig, ax = plt.subplots(figsize=(10, 4.8))
plots.hazard_chart(yearly, cliff_age=cliff_age, ax=ax, lang=lang)
fig.tight_layout()
plt.show()
hz = yearly.set_index("age_band")["hazard"]
n.say(
    "### The warranty cliff\n\n"
    "The defection hazard is the number of relationships that end in each year of the car's "
    "life divided by the time the cars spent in that year as customers, shown as the share "
    "of owners leaving within a year. Departures are dated at the last order, so owners who "
    "leave when the warranty ends are counted in the months before it ends. "
    + (f"It jumps most in **{year_label(cliff_age)}**, from {n.pct(hz.get(cliff_age - 1))} to "
       f"{n.pct(hz.get(cliff_age))} of owners a year: the last service under warranty is, for "
       "many owners, the last visit. Because a departure is dated at that last visit, the "
       "retention rate, which waits a year for an order, falls most a year later."
       if cliff_age is not None and cliff_age - 1 in hz.index else ""),
    "### 质保悬崖\n\n"
    "流失风险 = 各车龄年度内结束的客户关系数 ÷ 车辆在该年度作为客户的总时间，图中换算为一年内离开的车主比例。"
    "流失时间记在最后一张工单上，因此质保结束时离开的车主，被计在质保结束前的几个月里。"
    + (f"风险在**{year_label(cliff_age)}**跳升最多，每年离开的车主比例从 {n.pct(hz.get(cliff_age - 1))} "
       f"升到 {n.pct(hz.get(cliff_age))}：对许多车主来说，质保期内的最后一次保养就是最后一次到店。"
       "由于流失时间记在最后一次到店上，而掌握率要等满一年没有工单才下降，所以掌握率的最大降幅晚一年出现。"
       if cliff_age is not None and cliff_age - 1 in hz.index else ""),
)

# %%
segments = []
for col in ("usage", "grade"):
    r = retention_by_vehicle_age(ds, as_of=T, window_months=lost_months, by=[col], **common)
    r = r[r["age_band"].isin([0, 2, 4, 7])]
    for _, row in r.iterrows():
        segments.append((col, row[col], int(row["age_band"]), row["retention_rate"],
                         int(row["base_vehicles"])))
seg = pd.DataFrame(segments, columns=["dimension", "segment", "age_band", "rate", "base"])
seg = seg[seg["base"] >= 30]


def seg_label(dim, code):
    try:
        return t(f"{dim}.{code}", lang)
    except KeyError:
        return str(code)


wide = seg.pivot_table(index=["dimension", "segment"], columns="age_band", values="rate")
wide.index = [f"{t('column.' + d, lang)}: {seg_label(d, s)}" for d, s in wide.index]
wide.columns = [year_label(c) for c in wide.columns]
n.say(
    "### By usage and vehicle grade\n\n"
    f"Retention at {n.date(T)} in years 1, 3, 5 and 8 for each segment with at least 30 cars "
    "in the band.",
    "### 按车辆用途和档次\n\n"
    f"截至 {n.date(T)}，各细分群体在第 1、3、5、8 年的客户掌握率（只列该车龄段至少 30 辆车的群体）。",
)
display(wide.style.format("{:.0%}", na_rep="–"))
y4 = seg[seg["age_band"] == 4].sort_values("rate")
if len(y4) >= 2:
    lo_, hi_ = y4.iloc[0], y4.iloc[-1]
    n.say(
        f"In year 5 the weakest segment is {seg_label(lo_['dimension'], lo_['segment'])} "
        f"({n.pct(lo_['rate'])}) and the strongest {seg_label(hi_['dimension'], hi_['segment'])} "
        f"({n.pct(hi_['rate'])}).",
        f"第 5 年保有最弱的群体是{seg_label(lo_['dimension'], lo_['segment'])}（{n.pct(lo_['rate'])}），"
        f"最强的是{seg_label(hi_['dimension'], hi_['segment'])}（{n.pct(hi_['rate'])}）。",
    )

# %%
n.say(
    "## 3. How long a relationship lasts\n\n"
    f"A relationship ends at the last order that is not followed by another within "
    f"{lapse_months} months. Whether a relationship that had an order in the last "
    f"{lapse_months} months has ended cannot be known yet, so relationships are followed up to "
    f"{n.date(window_start(lapse_months, as_of=T))} and censored there if still going. Time is the "
    "car's age, and a car bought elsewhere enters when it first visits (left truncation), so "
    "the Kaplan-Meier curve (lifelines) estimates the share of owners still customers at each "
    "age.",
    "## 3. 客户关系能维持多久\n\n"
    f"若最后一张工单之后 {lapse_months} 个月内没有新工单，客户关系在最后一张工单时结束；截至 "
    f"{n.date(window_start(lapse_months, as_of=T))} 为止仍在持续的关系视为删失（近 {lapse_months} 个月内有工单的关系是否已结束，"
    "目前还无法判断）。时间轴为车龄，他店销售的车辆从首次到店时进入观察（左截断），"
    "因此 Kaplan-Meier 曲线（lifelines）估计的是各车龄仍为本店客户的比例。",
)
surv = survival_by_vehicle_age(table, by="sold_here")
fig, ax = plt.subplots(figsize=(10, 5.5))
plots.survival_curves(surv, ax=ax, lang=lang)
fig.tight_layout()
plt.show()
own_fit = survival_by_vehicle_age(table[table["sold_here"]])
s_at = own_fit.survival_at([1, 3, 5, 8])["survival"].reset_index(drop=True)
median_own = float(own_fit.median_.iloc[0])
lr = compare_survival(table, "sold_here", pairwise=False)
p_value = float(lr["p_value"].iloc[0])
p_text = "< 0.001" if p_value < 0.001 else f"= {p_value:.3f}"
n.say(
    f"Of the cars sold here, {n.pct(s_at.iloc[0])} are still customers at age 1, "
    f"{n.pct(s_at.iloc[1])} at 3, {n.pct(s_at.iloc[2])} at 5 and {n.pct(s_at.iloc[3])} at 8; "
    + (f"half of the relationships have ended by **age {n.num(median_own)}**. "
       if median_own == median_own else "more than half are still going at the oldest age "
       "observed. ")
    + ("Own sales and walk-ins differ" if p_value < 0.05 else
       "Own sales and walk-ins do not differ significantly") + f" (log-rank p {p_text}).",
    f"本店销售的车辆中，车龄 1 年时仍为客户的比例为 {n.pct(s_at.iloc[0])}，3 年时 {n.pct(s_at.iloc[1])}，"
    f"5 年时 {n.pct(s_at.iloc[2])}，8 年时 {n.pct(s_at.iloc[3])}；"
    + (f"一半的客户关系在**车龄 {n.num(median_own)} 年**时已经结束。"
       if median_own == median_own else "在观察到的最高车龄时，仍有一半以上的关系在持续。")
    + ("本店销售与他店销售的车辆差异显著" if p_value < 0.05 else "本店销售与他店销售的车辆差异不显著")
    + f"（log-rank 检验 p {p_text}）。",
)

# %%
n.say(
    "## 4. Cohorts and the service funnel\n\n"
    "Each row of the heat map is the cars sold in one year; each column the share of them "
    "serviced here during that year of their life. The funnel follows every car sold here "
    "from its first service onwards.",
    "## 4. 销售年份队列与保养漏斗\n\n"
    "热力图每一行是同一年售出的车辆，每一列是这些车辆在该车龄年度内回本店维修保养的比例。"
    "漏斗跟踪本店售出的每辆车从首次保养开始的回厂情况。",
)
cohorts = cohort_retention(ds, as_of=T, store_id=store_id, max_age=max_age)
funnel = service_funnel(ds, as_of=T, store_id=store_id)
fig, axes = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [3, 2]})
plots.cohort_heatmap(cohorts, ax=axes[0], lang=lang)
plots.service_funnel_chart(funnel, ax=axes[1], lang=lang)
fig.tight_layout()
plt.show()
fs = funnel.set_index("visit")["share"]
n.say(
    f"{n.pct(fs.get(1, float('nan')))} of the cars sold here came back for a first service, "
    f"{n.pct(fs.get(2, float('nan')))} for a second and {n.pct(fs.get(3, float('nan')))} for a "
    "third: every service visit is a chance to lose the owner, so the first three matter most.",
    f"本店售出的车辆中，{n.pct(fs.get(1, float('nan')))} 回厂做了首次保养，"
    f"{n.pct(fs.get(2, float('nan')))} 做了第二次，{n.pct(fs.get(3, float('nan')))} 做了第三次："
    "每一次保养都可能失去车主，前三次最为关键。",
)

# %%
n.say(
    "## 5. What drives defection\n\n"
    "A Cox proportional-hazards model (lifelines) of the relationship on the age scale, with "
    "usage, vehicle grade, region, where the car was bought and the number of visits in the "
    "first year. Two covariates need care. Warranty status changes during a relationship, "
    "so each relationship is split into episodes at the car's own warranty end (three years "
    "or 100,000 km, whichever comes first) and its last year before it. First-year visits "
    "are only known after a year, so that model starts each relationship one year after it "
    "began. A hazard ratio above 1 means owners leave faster.",
    "## 5. 什么因素导致流失\n\n"
    "以车龄为时间轴的 Cox 比例风险模型（lifelines），变量包括车辆用途、车辆档次、区域、购车来源和首年进厂次数。"
    "有两个变量需要特别处理：质保状态在客户关系中会改变，因此按每辆车自己的质保结束时间（三年或十万公里，"
    "以先到者为准）及其前一年把客户关系切分为若干段；首年进厂次数要满一年才知道，因此模型从关系开始一年后起算。"
    "风险比大于 1 表示流失更快。",
)
# a small store has few taxis or government cars: count rare levels with the most common
drivers = defection_drivers(table, pool_rare=True)
hr = drivers.hazard_ratios_
if drivers.pooled_levels_:
    pooled_en = "; ".join(plots.hazard_ratio_label(c, lv, None, "en")
                          for c, lvs in drivers.pooled_levels_.items() for lv in lvs)
    pooled_zh = "；".join(plots.hazard_ratio_label(c, lv, None, "zh")
                          for c, lvs in drivers.pooled_levels_.items() for lv in lvs)
    n.say(
        "Categories with too few relationships (or none ending) to estimate are counted with "
        f"the most common category of their variable: {pooled_en}.",
        f"关系数太少（或没有流失）而无法估计的类别并入该变量最常见的类别：{pooled_zh}。",
    )
fig, ax = plt.subplots(figsize=(9, 0.38 * len(hr) + 1.8))
plots.forest_plot(hr, ax=ax, lang=lang)
fig.tight_layout()
plt.show()
sig = hr[hr["p"] < 0.05].copy()
sig["effect"] = (sig["hazard_ratio"] - 1).abs()
top = sig.sort_values("effect", ascending=False).head(3)
lines_en, lines_zh = [], []
for _, row in top.iterrows():
    lines_en.append(f"- {plots.hazard_ratio_label(row['covariate'], row['level'], row['reference'], 'en')}: "
                    f"hazard ratio {n.num(row['hazard_ratio'], 2)} "
                    f"({n.num(row['lo'], 2)}–{n.num(row['hi'], 2)})")
    lines_zh.append(f"- {plots.hazard_ratio_label(row['covariate'], row['level'], row['reference'], 'zh')}："
                    f"风险比 {n.num(row['hazard_ratio'], 2)}（{n.num(row['lo'], 2)}–{n.num(row['hi'], 2)}）")
n.say(
    "The strongest significant effects (p < 0.05):\n\n" + "\n".join(lines_en)
    + "\n\nThe warranty phases compare owners who are still customers at those ages; the "
    "cliff itself is read from the hazard above, not from these ratios.",
    "影响最大且显著（p < 0.05）的因素：\n\n" + "\n".join(lines_zh)
    + "\n\n质保阶段的风险比比较的是在这些车龄仍是客户的车主；质保悬崖本身应看上文的流失风险，而不是这些风险比。",
)

# %%
lost_from, lost_to = window_start(lapse_months + 12, as_of=T), window_start(lapse_months, as_of=T)
n.say(
    "## 6. What the lost owners were worth\n\n"
    f"The relationships whose last order fell between {n.date(lost_from)} and "
    f"{n.date(lost_to)}: a full {lapse_months} months have passed since without an order, "
    "so they count as lost this year. For each, the gross profit of its orders per year of "
    "relationship (at least one year).",
    "## 6. 流失客户的价值\n\n"
    f"最后一张工单在 {n.date(lost_from)} 至 {n.date(lost_to)} 之间的客户关系：此后已满 {lapse_months} "
    "个月没有工单，因此算作今年流失。对每段关系，计算其工单毛利按关系年数（至少一年）折算的年均值。",
)
ended = table[table["event"] & (table["last_order_date"] > lost_from)
              & (table["last_order_date"] <= lost_to)]
profit = order_profit(ds.repair_orders)
gp_vin = profit.groupby("vin")["gross_profit"].sum()
years_rel = ((ended["last_order_date"] - ended["first_order_date"]).dt.days / 365.25).clip(
    lower=1.0)
yearly = ended["vin"].map(gp_vin).fillna(0.0).to_numpy() / years_rel.to_numpy()
lost_n = len(ended)
lost_avg = float(yearly.mean()) if lost_n else float("nan")
n.say(
    f"{n.int(lost_n)} relationships ended in that year. Those owners had brought the store "
    f"**{n.rmb(lost_avg)} of gross profit a year** on average, so together the store lost "
    f"about **{n.rmb(lost_avg * lost_n)} of yearly gross profit** — before counting the "
    "repairs their ageing cars would have needed.",
    f"这一年内结束的客户关系共 {n.int(lost_n)} 段。这些车主平均每年为本店带来 **{n.rmb(lost_avg)} 的毛利**，"
    f"合计每年损失约 **{n.rmb(lost_avg * lost_n)} 的毛利**——这还没有算上这些车辆随车龄增长所需的维修。",
)

# %%
n.say(
    "## What it means for the store\n\n"
    f"- Retention falls from {n.pct(at(rate, 1))} in year 1 to {n.pct(at(rate, 8))} in year 8; "
    + (f"the largest loss is when the warranty ends ({year_label(cliff_age)}).\n"
       if cliff_age is not None else "\n")
    + f"- Half of the relationships with own-sale owners have ended by age "
    f"{n.num(median_own)}.\n"
    f"- The owners lost in the last year took about {n.rmb(lost_avg * lost_n)} of yearly "
    "gross profit with them.\n"
    "- A retention programme should start before the warranty ends: contact owners in the "
    "third year, with an extended-warranty or maintenance-package offer, and follow up every "
    "dormant owner before they are lost.",
    "## 对门店的启示\n\n"
    f"- 客户掌握率从第 1 年的 {n.pct(at(rate, 1))} 降到第 8 年的 {n.pct(at(rate, 8))}；"
    + (f"最大的流失发生在质保结束时（{year_label(cliff_age)}）。\n" if cliff_age is not None
       else "\n")
    + f"- 本店销售车辆的客户关系有一半在车龄 {n.num(median_own)} 年时已经结束。\n"
    f"- 近一年流失的车主带走了约 {n.rmb(lost_avg * lost_n)} 的年毛利。\n"
    "- 客户维系应在质保结束前开始：在第三年主动联系车主，提供延保或保养套餐，并在休眠客户流失前回访。",
)

# %%
metrics = n.record(
    store_id=store_id,
    as_of=T.date().isoformat(),
    year=year,
    retention_year_1=at(rate, 1),
    retention_year_3=at(rate, 3),
    retention_year_5=at(rate, 5),
    retention_year_8=at(rate, 8),
    active_year_1=at(act, 1),
    km_survival_age_1=float(s_at.iloc[0]),
    km_survival_age_3=float(s_at.iloc[1]),
    km_survival_age_5=float(s_at.iloc[2]),
    km_survival_age_8=float(s_at.iloc[3]),
    median_relationship_age=median_own,
    cliff_age=cliff_age,
    lost_last_year=lost_n,
    lost_yearly_gross_profit=lost_avg * lost_n if lost_n else 0.0,
)

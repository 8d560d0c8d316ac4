# %% [markdown] tags=["lang-en"]
# # 06 · Group benchmark
#
# The store reports (01–05) each look at one store. A dealer group asks a different
# question. Every store of the group sells the same brand to similar owners, yet some keep
# their owners in the workshop for years and others lose them when the warranty ends.
# Because the stores share the brand, the parts prices and the maker's service standard,
# the best store at each vehicle age shows what the others could reach. This chapter asks:
# **which store has the largest gap to the group's best, at which vehicle age, and what is
# that gap worth?** It lays the stores' retention curves on top of each other, measures each
# store's distance to the best at every age, and then compares the stores on value
# concentration, churn risk and service economics, with the same definitions as the store
# reports.
#
# This is a *group* notebook: it has no `store_id` parameter but a list of `stores`
# (empty: every store of the data). Given `metrics_dir`, the folder of a batch run, it reads
# the metrics the store reports recorded instead of computing them again.

# %% [markdown] tags=["lang-zh"]
# # 06 · 集团对标
#
# 门店报告（01–05）每次只看一家门店，而经销商集团关心的是另一个问题。同一集团的门店销售同一品牌、面对相似的车主，但有的门店能让车主多年持续回厂，有的门店在质保结束时就失去了他们。由于各店的品牌、配件价格和厂家服务标准相同，每个车龄上表现最好的门店，就是其他门店可以达到的水平。本章要回答：<strong>哪家门店与集团最佳门店的差距最大？差在哪个车龄？这个差距值多少钱？</strong>本章先把各店按车龄的客户掌握率曲线叠放在一起，度量每家门店在各车龄与最佳门店的距离，再用与门店报告相同的口径，比较各店的客户价值集中度、流失风险和售后经营。
#
# 这是一个*集团*笔记本：它没有 `store_id` 参数，而是用 `stores` 列出要比较的门店（留空表示数据中的全部门店）。给出 `metrics_dir`（批量运行的输出文件夹）时，它直接读取各门店报告记录的指标，而不再重新计算。

# %% tags=["parameters"]
data_dir = "data/sample"  # str: dataset folder (canonical parquet/csv or raw DMS export)
as_of = None  # str ISO date or None (take it from the data)
lang = "en"  # "en" or "zh"
stores = ""  # str: comma-separated store ids, "" means every store
metrics_dir = ""  # str: folder of a batch run's per-store reports; "" means recompute

# %%
# the tools: the group comparison, its charts, narration and labels in the reader's language
from functools import partial

from crm_analysis import group, plots, plotting
from crm_analysis.context import load_data
from crm_analysis.narrative import Narrator
from crm_analysis.notebook import figure, year_label

# %%
# open the group: the stores compared, the analysis date T and the year of the curves
plotting.setup(lang)
n = Narrator(lang)
dataset = load_data(data_dir or None, as_of=as_of or None).dataset
ids = group.select_stores(dataset, stores or None)
T = group.analysis_date(dataset, as_of=as_of or None)
year = group.last_full_year(as_of=T)
names = group.store_names(dataset)
who = partial(group.store_label, names=names, lang=lang)  # "Hefei (001)"
reports = group.read_store_metrics(metrics_dir, ids, lang) if metrics_dir else {}
n.tell("common.group", group_name=n.text("nb06.group_name"), stores=len(ids), as_of=T)
n.tell("nb06.stores", stores=group.store_list(ids, names, lang))

# %% [markdown] tags=["lang-en"]
# ## 1. Retention by vehicle age, store by store
#
# Method: for each store, the **retention rate** of the cars it sold — the share with at
# least one order at the store in the preceding 12 months — by year of the car's life,
# averaged over the twelve month-ends of the last full calendar year (the FAW-Toyota form,
# as in each store's chapter 03). At each age, the group's best store sets the mark, and
# each store's **gap** is the best store's rate minus its own, in percentage points.

# %% [markdown] tags=["lang-zh"]
# ## 1. 各门店按车龄的客户掌握率
#
# 方法：对每家门店，计算其销售车辆的**客户掌握率**（前 12 个月内在本店至少有一张工单的车辆比例），按车辆使用的第几年分组，取最近一个完整自然年十二个月末的平均值（一汽丰田图的形式，与各店第 03 章相同）。在每个车龄上，以集团内最好的门店为标杆，每家门店的**差距**等于最佳门店的掌握率减去本店的掌握率，单位为百分点。

# %%
# the retention curves of every store, and each store's gap to the best at every age
curves = group.retention_by_store(dataset, ids, as_of=T, year=year)
gaps = group.benchmark_gaps(curves, min_base=group.MIN_BASE)
widest = group.gap_summary(gaps)
n.tell("nb06.curves_year", year=year, min_base=group.MIN_BASE)
with figure(size=(10, 5.5)) as ax:
    plots.store_retention_overlay(curves, ax=ax, lang=lang, names=names,
                                  highlight=widest["store_id"])

# %%
# the widest gap: which store, at which age, how far behind the best
if widest["store_id"] is not None:
    warranty = n.text("nb06.in_warranty" if widest["in_warranty"] else "nb06.after_warranty")
    n.tell("nb06.gap_widest", **widest, age=year_label(widest["age_band"], lang),
           warranty=warranty, store=who(widest["store_id"]), best=who(widest["best_store"]))
else:
    n.tell("nb06.no_gap")

# %%
# where each store loses ground: the gaps by vehicle age, store by store
if len(ids) > 1 and not gaps.empty:
    with figure(size=(10, 1.2 + 0.6 * len(ids))) as ax:
        plots.store_gap_heatmap(gaps, ax=ax, lang=lang, names=names)
    shown = group.gap_table(gaps, names=names, lang=lang)
    n.table(shown.table, **shown.formats)
    leader = group.leading_store(gaps)
    n.tell("nb06.leader", **leader, store=who(leader["store_id"]))

# %% [markdown] tags=["lang-en"]
# ### What the largest gap is worth

# %% [markdown] tags=["lang-zh"]
# ### 最大差距值多少钱

# %%
# the largest gap in gross profit: the store's own cars and profit per retained car there
worth = group.gap_value(dataset, widest, as_of=T)
if widest["store_id"] is not None:
    n.tell("nb06.gap_worth", **worth, store=who(widest["store_id"]),
           age=year_label(widest["age_band"], lang))
else:
    n.tell("nb06.no_gap")

# %% [markdown] tags=["lang-en"]
# ## 2. The scorecard
#
# Method: one row per store, with the headline figures of the store reports: the vehicle
# base and service base (chapter 01), the top 20% of customers' share of gross profit over
# 24 months (02), retention in years 1, 3 and 5 and the steepest year-to-year fall of the
# curve, the warranty cliff (03), the share of customers at risk of churn and of
# high-value customers at risk (04), and the workshop's gross profit a month, its
# absorption of the running cost and the after-sales value of one new car (05).

# %% [markdown] tags=["lang-zh"]
# ## 2. 门店记分卡
#
# 方法：每家门店一行，列出门店报告中的核心指标：保有车辆和基盘（第 01 章），近 24 个月前 20% 客户的毛利占比（02），第 1、3、5 年的客户掌握率以及曲线上相邻两年的最大降幅即质保悬崖（03），易流失客户和高价值易流失客户的占比（04），以及售后每月毛利、售后吸收率和一辆新车的售后价值（05）。

# %%
# the scorecard: the store reports' figures where given, the same definitions computed otherwise
scorecard = group.store_scorecard(dataset, as_of=T, stores=ids, reports=reports,
                                  curves=curves, year=year)
n_rep = int(scorecard["from_reports"].sum())
source = "data" if not metrics_dir else ("reports" if n_rep else "no_reports")
n.tell(f"nb06.source_{source}", reported=n_rep, folder=metrics_dir)
shown = group.scorecard_table(scorecard, names=names, lang=lang)
n.table(shown.table, **shown.formats)

# %% [markdown] tags=["lang-en"]
# ### The warranty cliff

# %% [markdown] tags=["lang-zh"]
# ### 质保悬崖

# %%
# retention in years 3 and 5, and the steepest fall of each store's curve
y3 = group.metric_range(scorecard, "retention_year_3", label=who, prefix="y3_")
y5 = group.metric_range(scorecard, "retention_year_5", label=who, prefix="y5_")
if y3 and y5:
    n.tell("nb06.cliff_retention", **y3, **y5)
cliff = group.metric_range(scorecard, "cliff_drop", label=who, scale=100)
if cliff:
    n.tell("nb06.cliff_drop", **cliff)

# %% [markdown] tags=["lang-en"]
# ## 3. Value concentration and churn risk

# %% [markdown] tags=["lang-zh"]
# ## 3. 价值集中度与流失风险

# %%
# how concentrated each store's profit is, and how many of its best customers may leave
with figure(1, 2, size=(12, 4.5)) as (left, right):
    plots.store_bars(scorecard, metric="top20_share_gross_profit", ax=left, lang=lang)
    plots.store_bars(scorecard, metric="high_value_at_risk_share", ax=right, lang=lang)
top20 = group.metric_range(scorecard, "top20_share_gross_profit", label=who)
if top20:
    n.tell("nb06.concentration", **top20)
at_risk = group.metric_range(scorecard, "high_value_at_risk_share", label=who)
any_risk = group.metric_range(scorecard, "at_risk_share", prefix="all_")
if at_risk and any_risk:
    n.tell("nb06.at_risk", **at_risk, **any_risk)

# %% [markdown] tags=["lang-en"]
# ## 4. Service economics

# %% [markdown] tags=["lang-zh"]
# ## 4. 售后经营

# %%
# what one new car is worth to each store, and how far the workshop covers its running cost
with figure(1, 2, size=(12, 4.5)) as (left, right):
    plots.store_bars(scorecard, metric="new_car_lifetime_value", ax=left, lang=lang)
    plots.store_bars(scorecard, metric="service_absorption", ax=right, lang=lang)
ltv = group.metric_range(scorecard, "new_car_lifetime_value", label=who)
if ltv:
    n.tell("nb06.lifetime_value", **ltv)
absorption = group.metric_range(scorecard, "service_absorption", label=who)
if absorption:
    n.tell("nb06.absorption", **absorption)

# %% [markdown] tags=["lang-en"]
# ## 5. Ranking the stores
#
# Method: on each figure where more (or less) is plainly better — retention in years 1, 3
# and 5, the warranty cliff, the share of high-value customers at risk, service absorption
# and the value of a new car — the stores are ranked from 1 (best) to the number of stores
# compared; the overall rank orders them by their mean rank. Size (the number of cars or of
# profit a month) is left out: a big store is not a better one.

# %% [markdown] tags=["lang-zh"]
# ## 5. 门店排名
#
# 方法：在各项明显越高（或越低）越好的指标上——第 1、3、5 年的客户掌握率、质保悬崖、高价值易流失客户占比、售后吸收率和一辆新车的售后价值——把各店从 1（最好）开始依次排名，再按平均名次给出总排名。规模（车辆数或每月利润）不参与排名：门店大并不等于门店好。

# %%
# the ranking: the mean of each store's ranks on those figures
ranking = group.rank_stores(scorecard)
shown = group.ranking_table(ranking, names=names, lang=lang)
n.table(shown.table, **shown.formats)
best_overall, last = str(ranking["store_id"].iloc[0]), str(ranking["store_id"].iloc[-1])
n.tell("nb06.rank_first_last" if len(ranking) > 1 else "nb06.rank_first",
       best=who(best_overall), last=who(last))

# %% [markdown] tags=["lang-en"]
# ## What it means for the dealer group

# %% [markdown] tags=["lang-zh"]
# ## 对经销商集团的启示

# %%
# the biggest gap, what it is worth, and the store to learn from
if widest["store_id"] is not None:
    n.tell("nb06.implications", store=who(widest["store_id"]), gap_pp=widest["gap_pp"],
           age=year_label(widest["age_band"], lang), best=who(best_overall),
           value_per_year=worth["value_per_year"])

# %% [markdown] tags=["lang-en"]
# - Set each store's retention target by vehicle age from the group's best store, not from
#   the store's own past: the best store shows what owners of this brand accept.

# %% [markdown] tags=["lang-zh"]
# - 各店按车龄的保有目标应参照集团最佳门店来设定，而不是参照本店的过去：最佳门店说明了本品牌车主能接受的水平。

# %%
# the key figures, recorded for the tests and the report index
metrics = n.record(
    as_of=T.date().isoformat(), year=year, n_stores=len(ids), stores=ids,
    metrics_source="data" if n_rep == 0 else "reports+data", metrics_from_reports=n_rep,
    best_store_overall=best_overall, best_store_by_age=group.best_store_by_year(gaps),
    largest_gap_store=widest["store_id"], largest_gap_age=widest["age_band"],
    largest_gap_year=widest["year"], largest_gap_pp=widest["gap_pp"],
    largest_gap_value_per_year=worth["value_per_year"],
    overall_rank=dict(zip(ranking["store_id"].astype(str),
                          ranking["overall_rank"].astype(int), strict=True)),
    scorecard=group.scorecard_record(scorecard),
)

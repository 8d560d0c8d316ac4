# %% [markdown] tags=["remove-cell"]
# # 06 · Group benchmark
#
# The store reports (01–05) each look at one store. A dealer group asks a different
# question: which of its stores keeps its owners worst, at which vehicle age, by how much,
# and what would closing that gap be worth? This chapter lays the stores' retention curves
# on top of each other, measures every store's gap to the group's best at each vehicle age,
# and compares value concentration, churn classes and service economics on one scorecard.
# It is a *group* notebook: it has no `store_id` parameter and runs once per language,
# after the store notebooks, reading their recorded metrics when `metrics_dir` is given.
# The report text is written by the code cells in the language chosen by `lang`; this cell
# is left out of the HTML report.

# %% tags=["parameters"]
data_dir = "data/sample"  # str: dataset folder (canonical parquet/csv or raw DMS export)
as_of = None  # str ISO date or None (take it from the data)
lang = "en"  # "en" or "zh"
stores = ""  # str: comma-separated store ids, "" means every store
metrics_dir = ""  # str: folder of a batch run's per-store reports; "" means recompute

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from crm_analysis import config, economics, plots, plotting
from crm_analysis.context import load_data
from crm_analysis.group import (
    analysis_date,
    gap_to_best,
    largest_gap,
    last_full_year,
    metric_label,
    rank_stores,
    read_store_metrics,
    retention_by_store,
    select_stores,
    store_scorecard,
)
from crm_analysis.i18n import t
from crm_analysis.narrative import Narrator

plotting.setup(lang)
n = Narrator(lang)

# a relative data_dir is read from the working folder, else from the project folder
data_path = Path(data_dir) if data_dir else config.DEFAULT_DATA_DIR
if not data_path.is_absolute() and not data_path.exists():
    data_path = config.PROJECT_ROOT / data_path
as_of = as_of or None
dataset = load_data(data_path, as_of=as_of).dataset
ids = select_stores(dataset, stores or None)
T = analysis_date(dataset, as_of=as_of)
year = last_full_year(as_of=T)
names = dict(zip(dataset.stores["store_id"], dataset.stores["store_name"], strict=True))
reports = read_store_metrics(metrics_dir, ids, lang) if metrics_dir else {}
MIN_BASE = 30  # age bands with fewer cars (annual average) are too noisy to compare


def year_label(band):
    return t("metric.age_band", lang, n=int(band) + 1)


def store_label(sid):
    return f"{names.get(sid, sid)} ({sid})" if lang == "en" else f"{names.get(sid, sid)}（{sid}）"


# %%
n.say(
    "# Group benchmark: how the stores compare\n\n"
    f"Analysis date **{n.date(T)}**; {n.int(len(ids))} stores: "
    + ", ".join(store_label(s) for s in ids) + ".\n\n"
    "Every store of a dealer group sells the same brand to similar owners, yet some keep "
    "their owners in the workshop for years and others lose them when the warranty ends. "
    "Because the stores share the brand, the parts prices and the maker's service "
    "standard, the best store at each vehicle age shows what the others could reach. This "
    "chapter asks: **which store has the largest gap to the group's best, at which vehicle "
    "age, and what is that gap worth?** It lays the stores' retention curves on top of "
    "each other, measures each store's distance to the best at every age, and then "
    "compares the stores on value concentration, churn risk and service economics, with "
    "the same definitions as the store reports.",
    "# 集团对标：各门店的比较\n\n"
    f"分析日期为**{n.date(T)}**；共 {n.int(len(ids))} 家门店："
    + "、".join(store_label(s) for s in ids) + "。\n\n"
    "同一集团的门店销售同一品牌、面对相似的车主，但有的门店能让车主多年持续回厂，有的门店在质保结束时就失去了他们。"
    "由于各店的品牌、配件价格和厂家服务标准相同，每个车龄上表现最好的门店，就是其他门店可以达到的水平。"
    "本章要回答：**哪家门店与集团最佳门店的差距最大？差在哪个车龄？这个差距值多少钱？**"
    "本章先把各店按车龄的客户掌握率曲线叠放在一起，度量每家门店在各车龄与最佳门店的距离，"
    "再用与门店报告相同的口径，比较各店的客户价值集中度、流失风险和售后经营。",
)

# %%
curves = retention_by_store(dataset, ids, as_of=T, year=year)
compared = curves[curves["base_vehicles"] >= MIN_BASE]
if compared.empty:  # a very small group: compare what there is
    compared = curves
gaps = gap_to_best(compared)
if (gaps["stores"] >= 2).any():  # an age band only one store has is no comparison
    gaps = gaps[gaps["stores"] >= 2].reset_index(drop=True)
top_gap = largest_gap(gaps)
best_by_age = {int(r.year): str(r.best_store) for r in gaps.itertuples()}

n.say(
    "## 1. Retention by vehicle age, store by store\n\n"
    "Method: for each store, the **retention rate** (客户掌握率) of the cars it sold — the "
    "share with at least one order at the store in the preceding 12 months — by year of "
    f"the car's life, averaged over the twelve month-ends of {year} (the FAW-Toyota form, "
    "as in each store's chapter 03). At each age, the group's best store sets the mark, and "
    "each store's **gap** is the best store's rate minus its own, in percentage points. "
    f"Age bands with fewer than {MIN_BASE} cars at a store are left out of the comparison.",
    "## 1. 各门店按车龄的客户掌握率\n\n"
    "方法：对每家门店，计算其销售车辆的**客户掌握率**（前 12 个月内在本店至少有一张工单的车辆比例），"
    f"按车辆使用的第几年分组，取 {year} 年十二个月末的平均值（一汽丰田图的形式，与各店第 03 章相同）。"
    "在每个车龄上，以集团内最好的门店为标杆，每家门店的**差距**等于最佳门店的掌握率减去本店的掌握率，单位为百分点。"
    f"某门店某车龄段车辆少于 {MIN_BASE} 辆时，不参与比较。",
)
fig, ax = plt.subplots(figsize=(10, 5.5))
plots.store_retention_overlay(curves, ax=ax, lang=lang, names=names,
                              highlight=top_gap["store_id"])
fig.tight_layout()
plt.show()

spread = gaps.dropna(subset=["largest_gap_pp"])
if top_gap["store_id"] is not None:
    row = gaps.set_index("age_band").loc[top_gap["age_band"]]
    n.say(
        f"The widest gap is in **{year_label(top_gap['age_band'])}**, "
        + ("still within the usual three-year warranty" if top_gap["age_band"] < 3
           else "after the usual three-year warranty has ended") + ": "
        f"**{store_label(top_gap['store_id'])}** keeps {n.pct(row['largest_gap_value'])} of "
        f"its cars of that age, while **{store_label(row['best_store'])}** keeps "
        f"{n.pct(row['best_value'])}, a gap of **{n.num(top_gap['gap_pp'])} percentage "
        f"points**. Averaged over the {n.int(len(spread))} age bands compared, the stores "
        f"behind the best trail it by {n.num(spread['mean_gap_pp'].mean())} points.",
        f"差距最大的是**{year_label(top_gap['age_band'])}**（"
        + ("仍在通常三年的质保期内" if top_gap["age_band"] < 3 else "通常三年的质保期已经结束")
        + "）："
        f"**{store_label(top_gap['store_id'])}**只掌握了该车龄 {n.pct(row['largest_gap_value'])} 的车辆，"
        f"而**{store_label(row['best_store'])}**为 {n.pct(row['best_value'])}，相差 "
        f"**{n.num(top_gap['gap_pp'])} 个百分点**。在参与比较的 {n.int(len(spread))} 个车龄段上，"
        f"非最佳门店平均落后 {n.num(spread['mean_gap_pp'].mean())} 个百分点。",
    )
else:
    n.say("Only one store has enough cars at each age, so there is no gap to measure.",
          "每个车龄上只有一家门店有足够的车辆，无法计算差距。")

# %%
if len(ids) > 1 and not gaps.empty:
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.6 * len(ids)))
    plots.store_gap_heatmap(gaps, ax=ax, lang=lang, names=names)
    fig.tight_layout()
    plt.show()
    table = pd.DataFrame({
        n("Vehicle age", "车龄"): [year_label(b) for b in gaps["age_band"]],
        n("Best store", "最佳门店"): [store_label(s) for s in gaps["best_store"]],
        n("Best retention", "最佳掌握率"): gaps["best_value"],
        n("Furthest behind", "差距最大的门店"): [store_label(s) if isinstance(s, str) else "–"
                                           for s in gaps["largest_gap_store"]],
        n("Its retention", "其掌握率"): gaps["largest_gap_value"],
        n("Gap (points)", "差距（百分点）"): gaps["largest_gap_pp"],
    })
    n.table(table, pct=[n("Best retention", "最佳掌握率"), n("Its retention", "其掌握率")],
            floats=[n("Gap (points)", "差距（百分点）")], digits=1)
    leaders = pd.Series(best_by_age).value_counts()
    n.say(
        f"**{store_label(leaders.index[0])}** is the best store in {n.int(leaders.iloc[0])} "
        f"of the {n.int(len(best_by_age))} age bands compared. The heat map shows where each "
        "store loses ground: a row that darkens from year 4 on would mean that owners leave "
        "that store when the warranty ends, while the best store keeps them.",
        f"**{store_label(leaders.index[0])}**在参与比较的 {n.int(len(best_by_age))} 个车龄段中有 "
        f"{n.int(leaders.iloc[0])} 个是最佳门店。热力图显示了各店在哪里落后：如果某一行从第 4 年起颜色变深，"
        "就说明质保结束后该店的车主流失了，而最佳门店留住了他们。",
    )

# %%
gap_value = float("nan")
if top_gap["store_id"] is not None:
    sid, band = top_gap["store_id"], top_gap["age_band"]
    by_age = economics.service_by_age(dataset.for_store(sid), as_of=T, store_id=sid)
    band_row = by_age.set_index("age_band").reindex([band]).iloc[0]
    cars = float(band_row["vehicles"])
    per_car = float(band_row["gross_profit_per_retained"])
    gap_value = cars * top_gap["gap_pp"] / 100 * per_car
    n.say(
        "### What the largest gap is worth\n\n"
        f"{store_label(sid)} has {n.int(cars)} cars in {year_label(band)} of their life. "
        f"Keeping {n.num(top_gap['gap_pp'])} points more of them — as many as the group's "
        f"best store keeps — would bring about {n.int(cars * top_gap['gap_pp'] / 100)} more "
        f"cars to the workshop, each worth {n.rmb(per_car)} of gross profit a year at that "
        f"age (the store's own figure): about **{n.rmb(gap_value)} of gross profit a year** "
        "from one age band alone.",
        "### 最大差距值多少钱\n\n"
        f"{store_label(sid)}处于{year_label(band)}的车辆有 {n.int(cars)} 辆。若能像集团最佳门店那样多掌握 "
        f"{n.num(top_gap['gap_pp'])} 个百分点，就能多留住约 {n.int(cars * top_gap['gap_pp'] / 100)} 辆车，"
        f"按本店该车龄每辆保有车辆每年 {n.rmb(per_car)} 的毛利计算，仅这一个车龄段每年就能多带来约 "
        f"**{n.rmb(gap_value)} 的毛利**。",
    )

# %%
scorecard = store_scorecard(dataset, as_of=T, stores=ids, reports=reports, curves=curves,
                            year=year)
sc = scorecard.set_index("store_id")
n_rep = int(scorecard["from_reports"].sum())
if metrics_dir and n_rep:
    source_en = (f"Of the scorecard's figures, {n.int(n_rep)} were read from the metrics the "
                 f"store reports recorded (folder `{metrics_dir}`); the rest, and the retention "
                 "curves above, were computed from the data with the same definitions.")
    source_zh = (f"记分卡中有 {n.int(n_rep)} 项数据读自各门店报告记录的指标（文件夹 `{metrics_dir}`）；"
                 "其余数据和上文的掌握率曲线，均按相同口径由原始数据计算。")
elif metrics_dir:
    source_en = (f"No usable store report was found in `{metrics_dir}` for this date, so every "
                 "figure was computed from the data with the store reports' definitions.")
    source_zh = (f"在 `{metrics_dir}` 中没有找到本分析日期可用的门店报告指标，因此所有数据均按门店报告的口径由原始数据计算。")
else:
    source_en = ("Every figure was computed from the data with the store reports' "
                 "definitions.")
    source_zh = "所有数据均按门店报告的口径由原始数据计算。"
n.say(
    "## 2. The scorecard\n\n"
    "Method: one row per store, with the headline figures of the store reports: the "
    "vehicle base and service base (chapter 01), the top 20% of customers' share of gross "
    "profit over 24 months (02), retention in years 1, 3 and 5 and the steepest "
    "year-to-year fall of the curve, the warranty cliff (03), the share of customers "
    "at risk of churn and of high-value customers at risk (04), and the workshop's "
    "gross profit a month, its absorption of the running cost and the after-sales value "
    "of one new car (05). " + source_en,
    "## 2. 门店记分卡\n\n"
    "方法：每家门店一行，列出门店报告中的核心指标：保有车辆和基盘（第 01 章），近 24 个月前 20% 客户的毛利占比（02），"
    "第 1、3、5 年的客户掌握率以及曲线上相邻两年的最大降幅即质保悬崖（03），易流失客户和高价值易流失客户的占比（04），"
    "以及售后每月毛利、售后吸收率和一辆新车的售后价值（05）。" + source_zh,
)
shown_metrics = ["vehicle_base", "service_base", "retention_year_1", "retention_year_3",
                 "retention_year_5", "cliff_drop", "top20_share_gross_profit",
                 "at_risk_share", "high_value_at_risk_share",
                 "service_gross_profit_per_month", "service_absorption",
                 "new_car_lifetime_value"]
card = pd.DataFrame({n("Store", "门店"): [store_label(s) for s in scorecard["store_id"]]})
for m in shown_metrics:
    card[metric_label(m, lang)] = scorecard[m].to_numpy()
n.table(card,
        ints=[metric_label(m, lang) for m in ("vehicle_base", "service_base")],
        pct=[metric_label(m, lang) for m in shown_metrics
             if m.startswith(("retention", "top20", "cliff")) or m.endswith("share")
             or m == "service_absorption"],
        money=[metric_label(m, lang) for m in ("service_gross_profit_per_month",
                                               "new_car_lifetime_value")])

# %%
ret3 = sc["retention_year_3"].dropna()
ret5 = sc["retention_year_5"].dropna()
cliff = sc["cliff_drop"].dropna()
n.say(
    "### The warranty cliff\n\n"
    + (f"In year 3 the stores keep between {n.pct(ret3.min())} ({store_label(ret3.idxmin())}) "
       f"and {n.pct(ret3.max())} ({store_label(ret3.idxmax())}) of their cars; in year 5 "
       f"between {n.pct(ret5.min())} and {n.pct(ret5.max())}. " if len(ret5) and len(ret3)
       else "")
    + (f"The steepest fall of a curve is {n.num(100 * cliff.max())} points at "
       f"{store_label(cliff.idxmax())} and {n.num(100 * cliff.min())} points at "
       f"{store_label(cliff.idxmin())}: the same warranty ends at every store, but not every "
       "store lets it end the relationship." if len(cliff) else ""),
    "### 质保悬崖\n\n"
    + (f"第 3 年各店的客户掌握率在 {n.pct(ret3.min())}（{store_label(ret3.idxmin())}）到 "
       f"{n.pct(ret3.max())}（{store_label(ret3.idxmax())}）之间；第 5 年在 {n.pct(ret5.min())} 到 "
       f"{n.pct(ret5.max())} 之间。" if len(ret5) and len(ret3) else "")
    + (f"曲线的最大降幅在{store_label(cliff.idxmax())}为 {n.num(100 * cliff.max())} 个百分点，"
       f"在{store_label(cliff.idxmin())}为 {n.num(100 * cliff.min())} 个百分点："
       "各店的质保期同样结束，但并非每家门店都让客户关系随之结束。" if len(cliff) else ""),
)

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
plots.store_bars(scorecard, metric="top20_share_gross_profit", ax=axes[0], lang=lang)
plots.store_bars(scorecard, metric="high_value_at_risk_share", ax=axes[1], lang=lang)
fig.tight_layout()
plt.show()
top20 = sc["top20_share_gross_profit"].dropna()
hvr = sc["high_value_at_risk_share"].dropna()
n.say(
    "## 3. Value concentration and churn risk\n\n"
    + (f"In every store a minority of customers brings most of the profit: the top 20% of "
       f"customers bring from {n.pct(top20.min())} ({store_label(top20.idxmin())}) to "
       f"{n.pct(top20.max())} ({store_label(top20.idxmax())}) of gross profit. The more "
       "concentrated a store's profit, the more it matters which customers leave. "
       if len(top20) else "")
    + (f"High-value customers at risk of churn (the top 20% of customers by net value "
       "with a churn probability of 50% or more; the five classes of chapter 04) are "
       f"{n.pct(hvr.min())} of the scored customers at {store_label(hvr.idxmin())} and "
       f"{n.pct(hvr.max())} at {store_label(hvr.idxmax())}; at-risk customers of any value "
       f"are {n.pct(sc['at_risk_share'].min())} to {n.pct(sc['at_risk_share'].max())}."
       if len(hvr) else ""),
    "## 3. 价值集中度与流失风险\n\n"
    + (f"每家门店都是少数客户贡献了大部分利润：前 20% 的客户贡献了 {n.pct(top20.min())}"
       f"（{store_label(top20.idxmin())}）到 {n.pct(top20.max())}（{store_label(top20.idxmax())}）的毛利。"
       "利润越集中，哪些客户流失就越要紧。" if len(top20) else "")
    + (f"高价值易流失客户（净价值前 20% 且流失概率不低于 50% 的客户，即第 04 章五类客户中的一类）占评分客户的比例，"
       f"在{store_label(hvr.idxmin())}为 {n.pct(hvr.min())}，在{store_label(hvr.idxmax())}为 "
       f"{n.pct(hvr.max())}；各店全部易流失客户的占比在 {n.pct(sc['at_risk_share'].min())} 到 "
       f"{n.pct(sc['at_risk_share'].max())} 之间。" if len(hvr) else ""),
)

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
plots.store_bars(scorecard, metric="new_car_lifetime_value", ax=axes[0], lang=lang)
plots.store_bars(scorecard, metric="service_absorption", ax=axes[1], lang=lang)
fig.tight_layout()
plt.show()
ltv = sc["new_car_lifetime_value"].dropna()
absorb = sc["service_absorption"].dropna()
n.say(
    "## 4. Service economics\n\n"
    + (f"One new car sold is worth {n.rmb(ltv.min())} ({store_label(ltv.idxmin())}) to "
       f"{n.rmb(ltv.max())} ({store_label(ltv.idxmax())}) of discounted service gross profit "
       "over its life: the same car, sold at the same price, is worth more to the store "
       "that keeps its owner. " if len(ltv) else "")
    + (f"The workshop covers between {n.pct(absorb.min())} and {n.pct(absorb.max())} of "
       "the running cost (service absorption, with the 2012 after-sales deck's standard "
       "running cost for every store)." if len(absorb) else ""),
    "## 4. 售后经营\n\n"
    + (f"卖出一辆新车，在其使用期内带来的售后毛利折现值从 {n.rmb(ltv.min())}（{store_label(ltv.idxmin())}）到 "
       f"{n.rmb(ltv.max())}（{store_label(ltv.idxmax())}）不等：同一款车以同样的价格售出，"
       "能留住车主的门店从中赚得更多。" if len(ltv) else "")
    + (f"售后毛利覆盖了经营费用的 {n.pct(absorb.min())} 到 {n.pct(absorb.max())}"
       "（售后吸收率；各店均采用 2012 年售后服务课件中标准门店的经营费用）。" if len(absorb) else ""),
)

# %%
ranking = rank_stores(scorecard)
best_overall = str(ranking["store_id"].iloc[0])
rank_cols = [c for c in ranking.columns if c.startswith("rank_")]
shown = pd.DataFrame({
    n("Rank", "排名"): ranking["overall_rank"],
    n("Store", "门店"): [store_label(s) for s in ranking["store_id"]],
    **{metric_label(c[len("rank_"):], lang): ranking[c] for c in rank_cols},
    n("Mean rank", "平均名次"): ranking["mean_rank"],
})
n.say(
    "## 5. Ranking the stores\n\n"
    "Method: on each figure where more (or less) is plainly better — retention in years "
    "1, 3 and 5, the warranty cliff, the share of high-value customers at risk, service "
    "absorption and the value of a new car — the stores are ranked 1 (best) to "
    f"{n.int(len(ids))}; the overall rank orders them by their mean rank. Size (the "
    "number of cars or of profit a month) is left out: a big store is not a better one.",
    "## 5. 门店排名\n\n"
    "方法：在各项明显越高（或越低）越好的指标上——第 1、3、5 年的客户掌握率、质保悬崖、高价值易流失客户占比、"
    f"售后吸收率和一辆新车的售后价值——把各店从 1（最好）排到 {n.int(len(ids))}，再按平均名次给出总排名。"
    "规模（车辆数或每月利润）不参与排名：门店大并不等于门店好。",
)
n.table(shown, floats=[n("Mean rank", "平均名次")], digits=2)
n.say(
    f"**{store_label(best_overall)}** ranks first overall"
    + (f" and **{store_label(str(ranking['store_id'].iloc[-1]))}** last." if len(ranking) > 1
       else "."),
    f"**{store_label(best_overall)}**总排名第一"
    + (f"，**{store_label(str(ranking['store_id'].iloc[-1]))}**排名最后。" if len(ranking) > 1
       else "。"),
)

# %%
if top_gap["store_id"] is not None:
    n.say(
        "## What it means for the dealer group\n\n"
        f"- The group's biggest retention gap is at **{store_label(top_gap['store_id'])}** "
        f"in {year_label(top_gap['age_band'])}: {n.num(top_gap['gap_pp'])} points behind "
        f"the best store, worth about {n.rmb(gap_value)} of gross profit a year.\n"
        f"- {store_label(best_overall)} ranks first overall; its after-sales practice "
        "(reminders before the warranty ends, extended-warranty and maintenance-package "
        "offers, follow-up of dormant owners) is the first thing to study and copy.\n"
        "- Set each store's retention target by vehicle age from the group's best store, "
        "not from the store's own past: the best store shows what owners of this brand "
        "accept.",
        "## 对经销商集团的启示\n\n"
        f"- 集团最大的客户掌握率差距在**{store_label(top_gap['store_id'])}**的{year_label(top_gap['age_band'])}："
        f"落后最佳门店 {n.num(top_gap['gap_pp'])} 个百分点，每年价值约 {n.rmb(gap_value)} 的毛利。\n"
        f"- {store_label(best_overall)}总排名第一；应首先研究并推广它的售后做法"
        "（质保到期前的提醒、延保和保养套餐、对休眠客户的回访）。\n"
        "- 各店按车龄的保有目标应参照集团最佳门店来设定，而不是参照本店的过去：最佳门店说明了本品牌车主能接受的水平。",
    )

# %%
card_values = sc.drop(columns=["store_name", "source", "from_reports"]).astype(object)
card_values = card_values.where(card_values.notna(), None)
metrics = n.record(
    as_of=T.date().isoformat(),
    year=year,
    n_stores=len(ids),
    stores=ids,
    metrics_source="data" if n_rep == 0 else "reports+data",
    metrics_from_reports=n_rep,
    best_store_overall=best_overall,
    best_store_by_age=best_by_age,
    largest_gap_store=top_gap["store_id"],
    largest_gap_age=top_gap["age_band"],
    largest_gap_year=top_gap["year"],
    largest_gap_pp=top_gap["gap_pp"],
    largest_gap_value_per_year=gap_value,
    overall_rank={str(s): int(r) for s, r in zip(ranking["store_id"], ranking["overall_rank"],
                                                 strict=True)},
    scorecard=card_values.to_dict(orient="index"),
)

# %% [markdown] tags=["remove-cell"]
# # 02 · Customer value grading
#
# Which owners is the store's after-sales business built on, and how should it spend its
# limited attention across them? This chapter follows the structure of the classic 4S-store
# thesis on customer grading: why grade (customers differ in value), how to grade (customer
# pyramid, ABC, RFM, MVC/MGC/BZ, clusters), what each grade looks like, and how to manage
# each grade. The report text is written by the code cells in the language chosen by
# `lang`; every number comes from the data. This cell is left out of the HTML report.

# %% tags=["parameters"]
data_dir = None  # folder of the dataset; None means data/sample
store_id = "001"  # the store to report on (a string: "007" stays "007")
as_of = None  # analysis date "YYYY-MM-DD"; None means the export date of the data
window_months = 24  # look-back window of the value measures, in months
pyramid_cuts = [0.01, 0.20, 0.50]  # cumulative shares: important, key (top 20%), normal
lang = "en"  # "en" or "zh"

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from crm_analysis import plots, plotting
from crm_analysis.context import open_store
from crm_analysis.features import customer_features
from crm_analysis.i18n import t
from crm_analysis.narrative import Narrator
from crm_analysis.overview import window_start
from crm_analysis.value import (
    abc,
    clusters,
    gini,
    lorenz,
    mvc_mgc_bz,
    potential_value,
    profile,
    pyramid,
    rfm_scores,
    rfm_segments,
    top_share,
)

plotting.setup(lang)
n = Narrator(lang)

ctx = open_store(data_dir, store_id=store_id, as_of=as_of)
dataset, ds, store_id, T, store = ctx.dataset, ctx.data, ctx.store_id, ctx.as_of, ctx.store
window_months = int(window_months)
cuts = tuple(float(c) for c in pyramid_cuts)
years = window_months / 12

features = customer_features(ds, as_of=T, window_months=window_months, store_id=store_id)
N = len(features)
gp_total = features["gross_profit"].sum()
net_total = features["net_value"].sum()
cost_total = features["cost_to_serve"].sum()


def summary_table(summary, kind):
    """A grade summary with translated grade names and bilingual headers."""
    out = pd.DataFrame({
        n("Grade", "等级"): [t(f"{kind}.{g}", lang) for g in summary["grade"]],
        n("Customers", "客户数"): summary["customers"].astype(int),
        n("Share of customers", "客户占比"): summary["share_customers"],
        n("Net value (RMB)", "净价值（元）"): summary["value"],
        n("Share of net value", "净价值占比"): summary["share_value"],
        n("Net value per customer (RMB)", "人均净价值（元）"): summary["value_per_customer"],
        n("Visits per year", "年均进厂次数"): summary["orders_per_year"],
    })
    n.table(out, money=[n("Net value (RMB)", "净价值（元）"),
                          n("Net value per customer (RMB)", "人均净价值（元）")],
              pct=[n("Share of customers", "客户占比"), n("Share of net value", "净价值占比")],
              ints=[n("Customers", "客户数")], floats=[n("Visits per year", "年均进厂次数")])


# %%
n.say(
    f"# {store['store_name']} ({store_id}) · customer value grading\n\n"
    f"Analysis date **{n.date(T)}**; value is measured over the **{window_months} months** "
    f"before it. In that window {n.int(N)} customers brought at least one car to the store. "
    f"Together they paid {n.rmb(features['revenue'].sum())}, which left "
    f"{n.rmb(gp_total)} of gross profit and, after a handling cost of "
    f"{n.rmb(cost_total / features['orders'].sum())} per order, {n.rmb(net_total)} of net "
    "value. A store cannot give every one of them the same attention, so this chapter asks "
    "which customers the business rests on, how to grade them, what each grade looks like and "
    "how to manage it.",
    f"# {store['store_name']}（{store_id}）· 客户价值分级\n\n"
    f"分析日期为**{n.date(T)}**，价值按此前 **{window_months} 个月**计算。在此期间共有 "
    f"{n.int(N)} 位客户到店维修保养，合计支付 {n.rmb(features['revenue'].sum())}，"
    f"形成毛利 {n.rmb(gp_total)}；扣除每单 {n.rmb(cost_total / features['orders'].sum())} "
    f"的接待服务成本后，净价值为 {n.rmb(net_total)}。门店的资源有限，无法对每位客户一视同仁，"
    "因此本章回答：门店的售后业务依靠哪些客户、如何给客户分级、各级客户是什么样子、又该如何管理。",
)

# %%
n.say(
    "## 1. Why grade customers: value is concentrated\n\n"
    "Each customer's **net value** is the gross profit of their orders (revenue minus parts "
    "and labour cost) minus a fixed cost to serve each order. The Lorenz curve sorts customers "
    "from the least to the most valuable and plots the share of value held by each share of "
    "customers; the further it bends below the diagonal, the more unequal the customers.",
    "## 1. 为什么要分级：客户价值高度集中\n\n"
    "每位客户的**净价值**等于其工单毛利（收入减去配件和工时成本）减去每单固定的服务成本。"
    "洛伦兹曲线把客户按价值从低到高排序，画出每一部分客户所占的价值份额；"
    "曲线越向对角线下方弯曲，客户之间的价值差异越大。",
)
curve_gp = lorenz(features["gross_profit"])
g_gp = gini(features["gross_profit"])
g_net = gini(features["net_value"])
top20_gp = top_share(features["gross_profit"], 0.20)
top20_net = top_share(features["net_value"], 0.20)
top1_gp = top_share(features["gross_profit"], 0.01)
bottom50_gp = 1 - top_share(features["gross_profit"], 0.50)
fig, ax = plt.subplots(figsize=(6.5, 6))
plots.lorenz_curve(curve_gp, gini=g_gp, highlight=0.2, value_label="gross_profit", ax=ax,
                    lang=lang)
fig.tight_layout()
plt.show()
negative = int((features["net_value"] < 0).sum())
n.say(
    f"**The top 20% of customers bring {n.pct(top20_gp)} of gross profit** "
    f"(and {n.pct(top20_net)} of net value); the top 1% alone bring {n.pct(top1_gp)}, while "
    f"the bottom half brings {n.pct(bottom50_gp)}. The Gini coefficient of gross profit is "
    f"{n.num(g_gp, 2)} (0 would mean every customer is worth the same). "
    f"{n.int(negative)} customers ({n.pct(negative / N)}) cost more to serve than they earn "
    "the store: their net value is below zero. Value this uneven is the reason to grade: "
    "the same advisor hour or campaign yuan returns very different amounts depending on "
    "whom it is spent on.",
    f"**前 20% 的客户贡献了 {n.pct(top20_gp)} 的毛利**（净价值的 {n.pct(top20_net)}）；"
    f"前 1% 的客户就贡献了 {n.pct(top1_gp)}，而后一半客户只贡献了 {n.pct(bottom50_gp)}。"
    f"毛利的基尼系数为 {n.num(g_gp, 2)}（为 0 表示每位客户价值相同）。"
    f"有 {n.int(negative)} 位客户（{n.pct(negative / N)}）的服务成本高于其带来的毛利，净价值为负。"
    "价值分布如此不均，正是客户分级的理由：同样一小时的顾问时间、同样一元的营销费用，"
    "花在不同客户身上，回报相差很大。",
)

# %%
n.say(
    "## 2. How to grade\n\n"
    "### 2.1 The customer pyramid\n\n"
    f"Customers are ranked by net value. The top {n.pct(cuts[0], 0)} are **important** "
    f"customers, the next {n.pct(cuts[1] - cuts[0], 0)} **secondary** customers (together the "
    f"top {n.pct(cuts[1], 0)}, the **key** customers), the next {n.pct(cuts[2] - cuts[1], 0)} "
    f"**normal** customers and the remaining {n.pct(1 - cuts[2], 0)} **small** customers.",
    "## 2. 如何分级\n\n"
    "### 2.1 客户金字塔\n\n"
    f"按净价值对客户排序：前 {n.pct(cuts[0], 0)} 为**重要客户**，其后 {n.pct(cuts[1] - cuts[0], 0)} "
    f"为**次要客户**（两者合计前 {n.pct(cuts[1], 0)}，即**关键客户**），再其后 "
    f"{n.pct(cuts[2] - cuts[1], 0)} 为**普通客户**，其余 {n.pct(1 - cuts[2], 0)} 为**小客户**。",
)
pyr_result = pyramid(features, value="net_value", cuts=cuts)
pyr_labels, pyr = pyr_result.labels, pyr_result.summary
summary_table(pyr, "pyramid")
fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
plots.customer_pyramid(pyr, value_label="net_value", ax=axes[0], lang=lang)
plots.grade_shares(pyr, kind="pyramid", value_label="net_value", ax=axes[1], lang=lang)
fig.tight_layout()
plt.show()
p = pyr.set_index("grade")
key_share = p.loc[["important", "secondary"], "share_value"].sum()
small_share = p.loc["small", "share_value"]
ratio_key_small = (p.loc["secondary", "value_per_customer"]
                   / p.loc["small", "value_per_customer"]
                   if p.loc["small", "value_per_customer"] > 0 else float("nan"))
top_tier = features.merge(pyr_labels, on="customer_id").query("value_grade == 'important'")
fleet = ((top_tier["n_vehicles"] > 1) | top_tier["customer_type"].isin(["company", "government"])
         | top_tier["usage"].isin(["ride_hailing", "taxi"]))
fleet_share = float(fleet.mean()) if len(top_tier) else float("nan")
n.say(
    f"The {n.int(p.loc[['important', 'secondary'], 'customers'].sum())} key customers hold "
    f"**{n.pct(key_share)} of net value**; the {n.int(p.loc['small', 'customers'])} small "
    f"customers hold {n.pct(small_share)}. An important customer is worth "
    f"{n.rmb(p.loc['important', 'value_per_customer'])} over the window and visits "
    f"{n.num(p.loc['important', 'orders_per_year'])} times a year; a small customer is worth "
    f"{n.rmb(p.loc['small', 'value_per_customer'])} and visits "
    f"{n.num(p.loc['small', 'orders_per_year'])} times. "
    f"{n.pct(fleet_share)} of the important customers are fleets or professional drivers "
    "(companies, government, owners of several cars, taxi and ride-hailing drivers): high "
    "mileage brings them back far more often than a private owner.",
    f"{n.int(p.loc[['important', 'secondary'], 'customers'].sum())} 位关键客户拥有"
    f"**{n.pct(key_share)} 的净价值**；{n.int(p.loc['small', 'customers'])} 位小客户只占 "
    f"{n.pct(small_share)}。一位重要客户在分析期内的净价值为 "
    f"{n.rmb(p.loc['important', 'value_per_customer'])}，每年进厂 "
    f"{n.num(p.loc['important', 'orders_per_year'])} 次；一位小客户的净价值为 "
    f"{n.rmb(p.loc['small', 'value_per_customer'])}，每年进厂 "
    f"{n.num(p.loc['small', 'orders_per_year'])} 次。"
    f"重要客户中有 {n.pct(fleet_share)} 是车队或职业司机（单位、政府、多车车主、出租车和网约车司机）："
    "行驶里程高，进厂次数远多于私家车主。",
)

# %%
n.say(
    "### 2.2 ABC analysis\n\n"
    "ABC grading cuts the same ranking where cumulative value reaches 70% (A) and 90% (B); "
    "the rest is C. The teaching variant cuts by headcount instead: the top 5%, the next 15% "
    "and the remaining 80%.",
    "### 2.2 ABC 分类\n\n"
    "ABC 分类沿用同一排序，在累计价值达到 70%（A 类）和 90%（B 类）处切分，其余为 C 类。"
    "教材中的另一种做法按人数切分：前 5%、其后 15%、其余 80%。",
)
abc_sum = abc(features, value="net_value").summary
abc_count = abc(features, value="net_value", by="count").summary
summary_table(abc_sum, "abc")
fig, ax = plt.subplots(figsize=(8, 5))
plots.pareto_chart(features["net_value"], cuts=(0.70, 0.90), value_label="net_value", ax=ax,
                   lang=lang)
fig.tight_layout()
plt.show()
a = abc_sum.set_index("grade")
ac = abc_count.set_index("grade")
n.say(
    f"Only **{n.pct(a.loc['A', 'share_customers'])} of customers** "
    f"({n.int(a.loc['A', 'customers'])}) make up the first 70% of net value, and "
    f"{n.pct(a.loc[['A', 'B'], 'share_customers'].sum())} make up 90%. By headcount, the top "
    f"5% hold {n.pct(ac.loc['A', 'share_value'])} of net value and the bottom 80% "
    f"{n.pct(ac.loc['C', 'share_value'])}.",
    f"仅 **{n.pct(a.loc['A', 'share_customers'])} 的客户**（{n.int(a.loc['A', 'customers'])} 位）"
    f"就构成了前 70% 的净价值，{n.pct(a.loc[['A', 'B'], 'share_customers'].sum())} 的客户构成了 90%。"
    f"按人数切分时，前 5% 的客户拥有 {n.pct(ac.loc['A', 'share_value'])} 的净价值，"
    f"后 80% 的客户拥有 {n.pct(ac.loc['C', 'share_value'])}。",
)

# %%
n.say(
    "### 2.3 RFM: eight segments\n\n"
    "RFM looks at behaviour rather than a single total: **recency** (days since the last "
    "visit), **frequency** (orders in the window) and **monetary** value (revenue in the "
    "window). Each is marked high or low against the store's mean, which gives the eight "
    "segments of the Chinese teaching standard.",
    "### 2.3 RFM 八类客户\n\n"
    "RFM 不只看总额，而是看行为：**最近一次消费（R）**（距上次进厂的天数）、**消费频率（F）**"
    "（分析期内的工单数）和**消费金额（M）**（分析期内的收入）。三项各与本店平均值比较，分高低，"
    "组合成国内教材中的八类客户。",
)
rfm_sum = rfm_segments(features, against="mean").summary
scores = rfm_scores(features)
summary_table(rfm_sum, "rfm")
fig, ax = plt.subplots(figsize=(10, 5))
plots.rfm_segment_bars(rfm_sum, value_label="net_value", ax=ax, lang=lang)
fig.tight_layout()
plt.show()
r = rfm_sum.set_index("grade")
biggest = r["share_value"].idxmax()
winback = r.loc["important_win_back"] if "important_win_back" in r.index else None
n.say(
    f"The segment holding the most value is **{t('rfm.' + biggest, lang)}**, with "
    f"{n.pct(r.loc[biggest, 'share_customers'])} of customers and "
    f"{n.pct(r.loc[biggest, 'share_value'])} of net value. "
    + (f"**{t('rfm.important_win_back', lang)}** — big spenders who came rarely and not "
       f"recently — number {n.int(winback['customers'])} and hold "
       f"{n.pct(winback['share_value'])} of net value: they are the first list for a "
       "win-back call." if winback is not None else ""),
    f"价值最高的一类是**{t('rfm.' + biggest, lang)}**，占客户的 "
    f"{n.pct(r.loc[biggest, 'share_customers'])}、净价值的 {n.pct(r.loc[biggest, 'share_value'])}。"
    + (f"**{t('rfm.important_win_back', lang)}**（消费金额高、但来得少且近期未到店）共 "
       f"{n.int(winback['customers'])} 位，拥有 {n.pct(winback['share_value'])} 的净价值，"
       "应当是回访挽留的首批名单。" if winback is not None else ""),
)

# %%
n.say(
    "### 2.4 Actual and potential value: MVC, MGC and BZ\n\n"
    "Peppers and Rogers split customers by what they are worth now and what they could be "
    "worth. **Actual value** is the customer's net value per year over the window. "
    "**Potential value** is the expected net value of the next twelve months: for each of "
    "the customer's cars, the chance that it comes back within a year (estimated from how "
    "customers with the same time since their last visit behaved a year earlier) times what "
    "a retained car of its next age typically earns this store. **Most valuable customers** "
    "(MVC) lead on actual value; **most growable customers** (MGC) have potential well above "
    "what they now bring; **below-zeros** (BZ) cost more than they earn.",
    "### 2.4 实际价值与潜在价值：MVC、MGC 与 BZ\n\n"
    "Peppers 和 Rogers 按客户当前的价值和可能的价值来划分客户。**实际价值**是客户在分析期内年均的净价值；"
    "**潜在价值**是未来十二个月的期望净价值：对客户的每辆车，用其一年内回厂的概率（依据一年前距上次进厂"
    "时间相同的客户后来的表现估计）乘以本店同车龄（下一年）保有车辆通常带来的年净价值。"
    "**最具价值客户**（MVC）实际价值最高；**最具增长潜力客户**（MGC）的潜在价值明显高于当前贡献；"
    "**负价值客户**（BZ）带来的毛利低于服务成本。",
)
pot = potential_value(ds, as_of=T, features=features, store_id=store_id)
vg_result = mvc_mgc_bz(features, pot)
vg_labels, vg_sum = vg_result.labels, vg_result.summary
summary_table(vg_sum, "value_group")
fig, ax = plt.subplots(figsize=(8, 6))
plots.value_matrix(vg_labels, ax=ax, lang=lang)
fig.tight_layout()
plt.show()
vg = vg_sum.set_index("grade")
n.say(
    f"{n.int(vg.loc['mvc', 'customers'])} MVCs hold {n.pct(vg.loc['mvc', 'share_value'])} of "
    f"net value. {n.int(vg.loc['mgc', 'customers'])} customers are most growable: their "
    f"expected value next year is {n.rmb(vg_labels.loc[vg_labels['value_group'] == 'mgc', 'potential_value'].mean())} "
    f"on average against {n.rmb(vg_labels.loc[vg_labels['value_group'] == 'mgc', 'actual_value'].mean())} "
    f"a year now. {n.int(vg.loc['bz', 'customers'])} customers are below zero, with a combined "
    f"net value of {n.rmb(vg.loc['bz', 'value'])}.",
    f"{n.int(vg.loc['mvc', 'customers'])} 位最具价值客户拥有 {n.pct(vg.loc['mvc', 'share_value'])} "
    f"的净价值。{n.int(vg.loc['mgc', 'customers'])} 位客户最具增长潜力：其明年的期望净价值平均为 "
    f"{n.rmb(vg_labels.loc[vg_labels['value_group'] == 'mgc', 'potential_value'].mean())}，"
    f"而目前每年只有 {n.rmb(vg_labels.loc[vg_labels['value_group'] == 'mgc', 'actual_value'].mean())}。"
    f"{n.int(vg.loc['bz', 'customers'])} 位客户为负价值，净价值合计 {n.rmb(vg.loc['bz', 'value'])}。",
)

# %%
n.say(
    "### 2.5 Data-driven groups: k-means clusters\n\n"
    "Cuts chosen in advance may not match the groups that are really there. k-means on the "
    "standardised logarithms of recency, frequency, monetary value and vehicle age finds "
    "groups from the data; the number of groups, between three and eight (two groups only "
    "separate active from lapsed customers), is the one with the best silhouette score, and "
    "each group is named from its centre.",
    "### 2.5 数据驱动的分群：k 均值聚类\n\n"
    "事先给定的切分点未必符合客户的真实分布。对最近消费、消费频率、消费金额和车龄取对数并标准化后做 "
    "k 均值聚类，由数据找出客户群；群数在三到八之间（分两群只能区分活跃与流失客户）取轮廓系数最高者，"
    "每个群按其中心特征命名。",
)
cl = clusters(features, k_range=range(3, 9))
cl_labels, cl_sum = cl.labels, cl.summary
name_col = "cluster_name_en" if lang == "en" else "cluster_name_zh"
fig, ax = plt.subplots(figsize=(9, 0.6 * len(cl_sum) + 2.5))
plots.cluster_profile(cl_sum, ax=ax, lang=lang)
fig.tight_layout()
plt.show()
cl_show = pd.DataFrame({
    n("Cluster", "客户群"): cl_sum[name_col],
    n("Customers", "客户数"): cl_sum["customers"].astype(int),
    n("Share of customers", "客户占比"): cl_sum["share_customers"],
    n("Share of net value", "净价值占比"): cl_sum["share_value"],
    n("Net value per customer (RMB)", "人均净价值（元）"): cl_sum["value_per_customer"],
})
n.table(cl_show, money=[n("Net value per customer (RMB)", "人均净价值（元）")],
          pct=[n("Share of customers", "客户占比"), n("Share of net value", "净价值占比")],
          ints=[n("Customers", "客户数")])
best = cl_sum.loc[cl_sum["share_value"].idxmax()]
k = len(cl_sum)
n.say(
    f"The silhouette score is highest with **{k} clusters**. The most valuable, "
    f"**{best[name_col]}**, holds {n.pct(best['share_value'])} of net value with "
    f"{n.pct(best['share_customers'])} of customers — the data-driven counterpart of the "
    "pyramid's key customers.",
    f"轮廓系数在 **{k} 个群**时最高。价值最高的群为**{best[name_col]}**，以 "
    f"{n.pct(best['share_customers'])} 的客户贡献了 {n.pct(best['share_value'])} 的净价值，"
    "相当于金字塔中关键客户的数据驱动版本。",
)

# %%
n.say(
    "## 3. What each grade looks like\n\n"
    "The after-sales deck segments owners on six dimensions: vehicle age, usage, value "
    "grade, occupation, region and vehicle grade. The table below profiles the pyramid "
    "grades on each; the heat map crosses value grade with vehicle age.",
    "## 3. 各级客户的画像\n\n"
    "售后业务资料从六个维度细分车主：车龄、车辆用途、价值等级、职业、区域和车辆档次。"
    "下表从每个维度刻画金字塔各级客户；热力图交叉展示价值等级与车龄。",
)
graded = features.merge(pyr_labels, on="customer_id")
prof_age = profile(graded, by=["value_grade", "age_segment"], as_of=T)
fig, ax = plt.subplots(figsize=(9, 4.5))
plots.profile_heatmap(prof_age, row="value_grade", col="age_segment",
                      value="share_customers", ax=ax, lang=lang)
fig.tight_layout()
plt.show()

dims = ["age_segment", "usage", "occupation", "region", "grade"]
rows = []
for dim in dims:
    prof = profile(graded, by=["value_grade", dim], as_of=T)
    top = prof.sort_values(["value_grade", "customers"], ascending=[True, False])
    top = top.groupby("value_grade", observed=True).head(1)
    for _, row in top.iterrows():
        rows.append((dim, row["value_grade"], row[dim], row["customers"]))
dominant = pd.DataFrame(rows, columns=["dimension", "value_grade", "value", "customers"])
grade_sizes = graded.groupby("value_grade", observed=True).size()
dominant["share"] = dominant["customers"] / dominant["value_grade"].map(grade_sizes)


def dim_label(dim, code):
    if code == "unknown":
        return n("Unknown", "未知")
    try:
        return t(f"{dim}.{code}", lang)
    except KeyError:
        return str(code)


wide = dominant.assign(
    cell=[f"{dim_label(d, v)} ({s:.0%})" for d, v, s in
          zip(dominant["dimension"], dominant["value"], dominant["share"], strict=True)]
).pivot(index="dimension", columns="value_grade", values="cell").reindex(dims)
wide.index = [t(f"column.{d}", lang) if d != "age_segment" else n("Vehicle age", "车龄段")
              for d in wide.index]
wide = wide.reindex(columns=[g for g in pyr["grade"] if g in wide.columns])
wide.columns = [t(f"pyramid.{c}", lang) for c in wide.columns]
display(wide)

prof_grade = profile(graded, by=["value_grade"], as_of=T).set_index("value_grade")
ret_key = graded.loc[graded["value_grade"].isin(["important", "secondary"])]
n.say(
    "Each cell gives the most common value of a dimension within a grade and its share. "
    f"Retention differs sharply: {n.pct(prof_grade.loc['important', 'retention_rate'])} of "
    "important customers came in during the last twelve months, against "
    f"{n.pct(prof_grade.loc['small', 'retention_rate'])} of small customers.",
    "每个单元格给出该等级客户在该维度上最常见的取值及其占比。各级客户的保有差别很大：重要客户中有 "
    f"{n.pct(prof_grade.loc['important', 'retention_rate'])} 在近十二个月内到店，小客户中只有 "
    f"{n.pct(prof_grade.loc['small', 'retention_rate'])}。",
)

# %%
advisors = ds.repair_orders.loc[ds.repair_orders["open_date"] > window_start(12, as_of=T), "advisor"]
n_advisors = int(advisors.nunique()) if advisors.notna().any() else 0
hours_per_advisor = 200  # hours a year each advisor spends on follow-up and care calls
campaign_share = 0.03  # share of yearly after-sales gross profit spent on CRM campaigns
hours = n_advisors * hours_per_advisor
budget = campaign_share * gp_total / years
alloc = pyr[["grade", "customers", "share_customers", "share_value"]].copy()
alloc["hours_by_value"] = hours * alloc["share_value"].clip(lower=0) / alloc[
    "share_value"].clip(lower=0).sum()
alloc["hours_by_head"] = hours * alloc["share_customers"]
alloc["budget_by_value"] = budget * alloc["share_value"].clip(lower=0) / alloc[
    "share_value"].clip(lower=0).sum()
alloc["budget_by_head"] = budget * alloc["share_customers"]
alloc["budget_per_customer"] = alloc["budget_by_value"] / alloc["customers"]
n.say(
    "## 4. How to manage each grade\n\n"
    "Grading matters only if resources follow it. Suppose each of the store's "
    f"{n.int(n_advisors)} service advisors spends {n.int(hours_per_advisor)} hours a year on "
    f"care and follow-up calls ({n.int(hours)} hours in all) and the store puts "
    f"{n.pct(campaign_share, 0)} of its yearly after-sales gross profit, "
    f"{n.rmb(budget)}, into customer campaigns. Spread evenly per head, most of both goes "
    "to small customers; spread in proportion to value, it follows the profit.",
    "## 4. 如何管理各级客户\n\n"
    f"分级只有在资源随之分配时才有意义。假设本店 {n.int(n_advisors)} 位服务顾问每人每年用 "
    f"{n.int(hours_per_advisor)} 小时做关怀和回访（合计 {n.int(hours)} 小时），并把每年售后毛利的 "
    f"{n.pct(campaign_share, 0)}（{n.rmb(budget)}）用于客户营销活动。若按人头平均分配，"
    "大部分资源会落在小客户身上；若按价值比例分配，资源就会跟着利润走。",
)
fig, ax = plt.subplots(figsize=(9, 4.8))
plots.allocation_bars(alloc, kind="pyramid", value_label="net_value", ax=ax, lang=lang)
fig.tight_layout()
plt.show()
al = alloc.set_index("grade")
n.say(
    f"By value, the key customers would receive "
    f"{n.int(al.loc[['important', 'secondary'], 'hours_by_value'].sum())} advisor hours and "
    f"{n.rmb(al.loc[['important', 'secondary'], 'budget_by_value'].sum())} a year — about "
    f"{n.rmb(al.loc['important', 'budget_per_customer'])} per important customer and "
    f"{n.rmb(al.loc['small', 'budget_per_customer'])} per small customer. The thesis "
    "recommends:\n\n"
    "- **Key customers**: concentrate the best resources on them — a named advisor, priority "
    "booking, pick-up and delivery — and keep in close touch.\n"
    f"- **Normal customers**: grow those with potential (the {n.int(vg.loc['mgc', 'customers'])} "
    "most growable customers above are the list) towards key customers; serve the rest "
    "efficiently.\n"
    "- **Small customers**: develop the few with potential; for the others, standard "
    "packages and lower cost to serve.\n"
    f"- **Below-zero customers** ({n.int(vg.loc['bz', 'customers'])}): find out why they lose "
    "money — free services, discounts, warranty-only visits — and reprice or stop the loss.",
    f"按价值分配时，关键客户每年可获得 "
    f"{n.int(al.loc[['important', 'secondary'], 'hours_by_value'].sum())} 小时顾问时间和 "
    f"{n.rmb(al.loc[['important', 'secondary'], 'budget_by_value'].sum())} 的营销费用，"
    f"约合每位重要客户 {n.rmb(al.loc['important', 'budget_per_customer'])}、每位小客户 "
    f"{n.rmb(al.loc['small', 'budget_per_customer'])}。论文建议：\n\n"
    "- **关键客户**：集中优势资源服务——专属顾问、优先预约、上门取送车——并保持密切沟通。\n"
    f"- **普通客户**：培养有升值潜力的客户（上文 {n.int(vg.loc['mgc', 'customers'])} 位最具增长潜力"
    "客户即是名单）成为关键客户；对其余客户提高服务效率。\n"
    "- **小客户**：培养少数有潜力者；其余客户提供标准化套餐、降低服务成本。\n"
    f"- **负价值客户**（{n.int(vg.loc['bz', 'customers'])} 位）：查明亏损原因——免费项目、折扣、"
    "只来做保修——重新定价或止损。",
)

# %%
n.say(
    "## What it means for the store\n\n"
    f"- Value is concentrated: the top 20% of customers bring {n.pct(top20_gp)} of gross "
    f"profit (Gini {n.num(g_gp, 2)}).\n"
    f"- The {n.int(p.loc[['important', 'secondary'], 'customers'].sum())} key customers are "
    "the store's after-sales business; losing one secondary customer costs as much as losing "
    f"{n.num(ratio_key_small, 0)} small ones.\n"
    f"- {n.int(vg.loc['mgc', 'customers'])} customers could be worth much more next year; "
    f"{n.int(vg.loc['bz', 'customers'])} cost more than they bring.\n"
    "- The retention chapter shows when owners leave; the churn chapter ranks who is at risk "
    "among the valuable ones.",
    "## 对门店的启示\n\n"
    f"- 价值高度集中：前 20% 的客户贡献 {n.pct(top20_gp)} 的毛利（基尼系数 {n.num(g_gp, 2)}）。\n"
    f"- {n.int(p.loc[['important', 'secondary'], 'customers'].sum())} 位关键客户撑起了本店的售后业务；"
    f"失去一位次要客户的损失相当于失去 {n.num(ratio_key_small, 0)} 位小客户。\n"
    f"- {n.int(vg.loc['mgc', 'customers'])} 位客户明年的价值可能大幅提高；"
    f"{n.int(vg.loc['bz', 'customers'])} 位客户带来的毛利低于服务成本。\n"
    "- 保有分析一章说明客户在何时流失；流失预警一章在高价值客户中找出有流失风险的人。",
)

# %%
metrics = n.record(
    store_id=store_id,
    as_of=T.date().isoformat(),
    window_months=window_months,
    customers=N,
    gross_profit=gp_total,
    net_value=net_total,
    top20_share_gross_profit=top20_gp,
    top20_share_net_value=top20_net,
    gini_gross_profit=g_gp,
    gini_net_value=g_net,
    pyramid_customers={g: int(c) for g, c in zip(pyr["grade"], pyr["customers"], strict=True)},
    key_share_net_value=key_share,
    abc_customers={g: int(c) for g, c in zip(abc_sum["grade"], abc_sum["customers"], strict=True)},
    below_zero=int(vg.loc["bz", "customers"]),
    mvc=int(vg.loc["mvc", "customers"]),
    mgc=int(vg.loc["mgc", "customers"]),
    clusters=k,
)

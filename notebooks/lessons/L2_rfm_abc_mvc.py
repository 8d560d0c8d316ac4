# %% [markdown]
# # L2 · RFM and the eight segments; ABC; MVC / MGC / BZ / RFM 八类客户、ABC 分类与 MVC/MGC/BZ
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
from crm_analysis.features import customer_features
from crm_analysis.i18n import t
from crm_analysis.narrative import Narrator
from crm_analysis.value import abc, mvc_mgc_bz, potential_value, rfm_segments

data = teaching.start("L2", data_dir, as_of=as_of, lang=lang, store_id=store_id or None)
plotting.setup(lang)
n = Narrator(lang)
T = data.as_of
features = customer_features(data.dataset, as_of=T, window_months=24, store_id=data.store_id)
N = len(features)


def grade_table(summary, kind):
    """A grade summary with translated names and bilingual headers."""
    out = pd.DataFrame({
        n("Grade", "等级"): [t(f"{kind}.{g}", lang) for g in summary["grade"]],
        n("Customers", "客户数"): summary["customers"].astype(int),
        n("Share of customers", "客户占比"): summary["share_customers"],
        n("Share of net value", "净价值占比"): summary["share_value"],
        n("Net value per customer (RMB)", "人均净价值（元）"): summary["value_per_customer"],
    })
    n.table(out, money=[n("Net value per customer (RMB)", "人均净价值（元）")],
            pct=[n("Share of customers", "客户占比"), n("Share of net value", "净价值占比")],
            ints=[n("Customers", "客户数")])


# %%
n.say(
    "## The store manager's question\n\n"
    "*\"Last lesson showed that a few customers bring most of the profit. But a big spender "
    "who has not been here for a year is not the same as one who came last week. Whom do "
    "we call this week, and what do we offer them?\"*\n\n"
    "Value alone does not say what to do next. This lesson adds behaviour (RFM), a "
    "value-share grading (ABC) and the future (MVC / MGC / BZ).\n\n"
    "**Learning goals.** After this lesson you can\n"
    "1. mark recency, frequency and monetary value high or low and name the eight RFM "
    "segments of the Chinese teaching standard;\n"
    "2. grade customers A / B / C by cumulative share of value;\n"
    "3. tell apart most valuable (MVC), most growable (MGC) and below-zero (BZ) customers;\n"
    "4. match each group with a concrete action for the service team.",
    "## 店长的问题\n\n"
    "*“上一课说明少数客户带来了大部分利润。可是一位消费很多、却一年没来的客户，"
    "和一位上周刚来过的客户并不一样。这周我们该给谁打电话？给他们什么优惠？”*\n\n"
    "只看价值还不知道下一步该做什么。本课加入客户行为（RFM）、按价值占比的分级（ABC）"
    "和未来的价值（MVC / MGC / BZ）。\n\n"
    "**学习目标。** 学完本课，你能够：\n"
    "1. 判断最近消费、消费频率、消费金额的高低，并说出国内教材中的 RFM 八类客户；\n"
    "2. 按价值累计占比把客户分为 A、B、C 三类；\n"
    "3. 区分最具价值客户（MVC）、最具增长潜力客户（MGC）和负价值客户（BZ）；\n"
    "4. 为每一类客户对应一项具体的服务行动。",
)

# %%
means = features[["recency_days", "orders", "revenue"]].mean()
n.say(
    "## 1. RFM: recency, frequency, monetary value\n\n"
    f"The table `features` has one row per customer of the last 24 months ({n.int(N)} "
    "customers). Three columns describe behaviour:\n\n"
    "- **R** `recency_days`: days since the last visit — *small is good*;\n"
    "- **F** `orders`: orders in the window;\n"
    "- **M** `revenue`: RMB paid in the window.\n\n"
    "Each is marked **high** or **low** against the store's mean: R is high when "
    f"recency_days is *below* its mean ({n.num(means['recency_days'], 0)} days), F when "
    f"orders is above {n.num(means['orders'])}, M when revenue is above "
    f"{n.rmb(means['revenue'])}. Two levels for three letters give eight segments. M "
    "high makes a customer *important* (重要), M low *general* (一般); R and F then say "
    "which: **value** (价值: R↑F↑), **develop** (发展: R↑F↓), **retain** (保持: R↓F↑) and "
    "**win back** (挽留: R↓F↓).",
    "## 1. RFM：最近消费、消费频率、消费金额\n\n"
    f"表 `features` 中每位近 24 个月的客户占一行（共 {n.int(N)} 位）。有三列描述客户行为：\n\n"
    "- **R** `recency_days`：距上次到店的天数——*越小越好*；\n"
    "- **F** `orders`：分析期内的工单数；\n"
    "- **M** `revenue`：分析期内支付的金额（元）。\n\n"
    "每一项都与本店平均值比较分出**高**或**低**：recency_days *低于*平均值"
    f"（{n.num(means['recency_days'], 0)} 天）时 R 为高，orders 高于 {n.num(means['orders'])} 时 "
    f"F 为高，revenue 高于 {n.rmb(means['revenue'])} 时 M 为高。三个字母各有高低两档，"
    "组合成八类。M 高为**重要**客户，M 低为**一般**客户；再由 R 和 F 细分为**价值**（R↑F↑）、"
    "**发展**（R↑F↓）、**保持**（R↓F↑）和**挽留**（R↓F↓）。",
)

# %%
r_up = features["recency_days"] < means["recency_days"]
f_up = features["orders"] > means["orders"]
m_up = features["revenue"] > means["revenue"]
develop = features[r_up & ~f_up & m_up]
n.say(
    "### Worked example: important-develop customers\n\n"
    "Three boolean Series mark R, F and M high; combining them with `&` and `~` (not) "
    "selects a segment. **Important develop** (重要发展) customers are recent (R↑) and spend "
    f"a lot (M↑) but come rarely (F↓): in this store there are **{n.int(len(develop))}**, "
    f"holding {n.pct(develop['net_value'].sum() / features['net_value'].sum())} of net "
    "value. They are often owners of a newer car who came for a big job: the aim is to make "
    "them come regularly.",
    "### 例题：重要发展客户\n\n"
    "用三个布尔 Series 标记 R、F、M 是否为高；用 `&` 和 `~`（取反）组合即可选出一类客户。"
    "**重要发展客户**最近来过（R↑）、消费金额高（M↑），但来得不多（F↓）：本店共有 "
    f"**{n.int(len(develop))}** 位，拥有 {n.pct(develop['net_value'].sum() / features['net_value'].sum())} "
    "的净价值。他们常常是车龄较短、来做过一次大项目的车主：目标是让他们定期回厂。",
)
display(develop[["customer_id", "recency_days", "orders", "revenue", "net_value"]].head())

# %%
n.say(
    "### Exercise L2.1\n\n"
    "How many customers are in the segment **important value** (重要价值: R, F and M all "
    "high against the mean)? Give a whole number.",
    "### 练习 L2.1\n\n"
    "**重要价值客户**（R、F、M 三项都高于平均值）有多少位？请给出整数。",
)

# %% tags=["exercise"]
# L2.1: number of customers in the RFM segment important value
answer = None  # YOUR ANSWER
teaching.check("L2.1", answer)

# %% tags=["solution"]
if solutions:
    recent = features["recency_days"] < features["recency_days"].mean()
    often = features["orders"] > features["orders"].mean()
    big = features["revenue"] > features["revenue"].mean()
    answer = int((recent & often & big).sum())
    teaching.check("L2.1", answer)

# %%
rfm_result = rfm_segments(features, against="mean")
rfm_labels, rfm_sum = rfm_result.labels, rfm_result.summary
n.say(
    "### The eight segments with the library\n\n"
    "`rfm_segments(features, against=\"mean\")` returns each customer's segment "
    "(`labels`) and a summary per segment.",
    "### 用程序库得到八类客户\n\n"
    "`rfm_segments(features, against=\"mean\")` 返回每位客户所属的类别（`labels`）和各类的汇总。",
)
grade_table(rfm_sum, "rfm")
fig, ax = plt.subplots(figsize=(10, 5))
plots.rfm_segment_bars(rfm_sum, value_label="net_value", ax=ax, lang=lang)
fig.tight_layout()
plt.show()
rs = rfm_sum.set_index("grade")
top_seg = rs["share_value"].idxmax()
n.say(
    f"The segment with the most value is **{t('rfm.' + top_seg, lang)}**: "
    f"{n.pct(rs.loc[top_seg, 'share_customers'])} of customers, "
    f"{n.pct(rs.loc[top_seg, 'share_value'])} of net value.",
    f"价值最高的一类是**{t('rfm.' + top_seg, lang)}**：占客户的 "
    f"{n.pct(rs.loc[top_seg, 'share_customers'])}，净价值的 {n.pct(rs.loc[top_seg, 'share_value'])}。",
)

# %%
n.say(
    "### Exercise L2.2\n\n"
    "The **important win-back** customers (重要挽留: M high, R low, F low) spent a lot but "
    "came rarely and not lately: they are the first list for a win-back call. Give their "
    "`customer_id`s as a Python set (you may use `rfm_labels`).",
    "### 练习 L2.2\n\n"
    "**重要挽留客户**（M 高、R 低、F 低）消费多，但来得少、最近也没来：他们是挽留回访的首批名单。"
    "请以 Python 集合（set）给出他们的 `customer_id`（可以使用 `rfm_labels`）。",
)

# %% tags=["exercise"]
# L2.2: set of customer_ids in the RFM segment important win-back
answer = None  # YOUR ANSWER
teaching.check("L2.2", answer)

# %% tags=["solution"]
if solutions:
    winback = rfm_labels["rfm_segment"] == "important_win_back"
    answer = set(rfm_labels.loc[winback, "customer_id"])
    teaching.check("L2.2", answer)

# %%
by_value = features.sort_values(["net_value", "customer_id"], ascending=[False, True])
k5 = int(np.floor(0.05 * N + 0.5))
n.say(
    "## 2. ABC: grading by share of value\n\n"
    "ABC grading ranks customers by net value, best first, and follows the cumulative "
    "share of value: **A** customers make up the first 70% of value, **B** the next 20% "
    "(up to 90%), **C** the rest. The customer whose value crosses 70% still counts as A. "
    "The course material also shows a headcount variant: the top 5% are A, the next 15% B "
    "and the other 80% C.\n\n"
    "### Worked example: the headcount variant\n\n"
    f"With N = {n.int(N)}, the top 5% are the first round(N × 0.05) = {n.int(k5)} "
    f"customers. Their net value is {n.rmb(by_value['net_value'].head(k5).sum())}, "
    f"**{n.pct(by_value['net_value'].head(k5).sum() / by_value['net_value'].sum())} of the "
    "total**.",
    "## 2. ABC 分类：按价值占比分级\n\n"
    "ABC 分类按净价值从高到低排列客户，看价值的累计占比：构成前 70% 价值的是 **A** 类，"
    "其后 20%（累计到 90%）是 **B** 类，其余为 **C** 类。跨过 70% 的那位客户仍算 A 类。"
    "教材中还有按人数切分的做法：前 5% 为 A 类，其后 15% 为 B 类，其余 80% 为 C 类。\n\n"
    "### 例题：按人数切分\n\n"
    f"N = {n.int(N)}，前 5% 就是前 round(N × 0.05) = {n.int(k5)} 位客户。他们的净价值为 "
    f"{n.rmb(by_value['net_value'].head(k5).sum())}，占**总额的 "
    f"{n.pct(by_value['net_value'].head(k5).sum() / by_value['net_value'].sum())}**。",
)

# %%
n.say(
    "### Exercise L2.3\n\n"
    "How many customers are in class **A** by value (the smallest group of best customers "
    "holding at least 70% of net value)? Hint: `cumsum()` and `shift()`.",
    "### 练习 L2.3\n\n"
    "按价值切分时，**A 类**客户有多少位（净价值合计至少达到 70% 的最少的一组最佳客户）？"
    "提示：`cumsum()` 和 `shift()`。",
)

# %% tags=["exercise"]
# L2.3: number of class-A customers by cumulative share of net value
answer = None  # YOUR ANSWER
teaching.check("L2.3", answer)

# %% tags=["solution"]
if solutions:
    nv_desc = features["net_value"].sort_values(ascending=False)
    held_above = (nv_desc.cumsum() / nv_desc.sum()).shift(fill_value=0.0)
    answer = int((held_above < 0.70).sum())
    teaching.check("L2.3", answer)

# %%
abc_sum = abc(features, value="net_value").summary
grade_table(abc_sum, "abc")
fig, ax = plt.subplots(figsize=(8, 5))
plots.pareto_chart(features["net_value"], cuts=(0.70, 0.90), value_label="net_value", ax=ax,
                   lang=lang)
fig.tight_layout()
plt.show()
ab = abc_sum.set_index("grade")
n.say(
    f"With the library (`abc`): {n.pct(ab.loc['A', 'share_customers'])} of customers make "
    f"up the first 70% of net value and {n.pct(ab.loc['C', 'share_customers'])} are C "
    f"customers, holding {n.pct(ab.loc['C', 'share_value'])}.",
    f"程序库（`abc`）结果：{n.pct(ab.loc['A', 'share_customers'])} 的客户构成了前 70% 的净价值；"
    f"C 类客户占 {n.pct(ab.loc['C', 'share_customers'])}，只拥有 {n.pct(ab.loc['C', 'share_value'])}。",
)

# %%
pot = potential_value(data.dataset, as_of=T, features=features, store_id=data.store_id)
n.say(
    "## 3. Actual and potential value: MVC, MGC and BZ\n\n"
    "Peppers and Rogers sort customers by what they are worth **now** and what they "
    "**could** be worth:\n\n"
    "- **MVC**, most valuable customers: the top 20% by actual value — keep them;\n"
    "- **MGC**, most growable customers: among the others, those whose potential value "
    "exceeds their actual value by the most (again up to 20% of customers) — grow them;\n"
    "- **BZ**, below-zero customers: net value below 0 — they cost more than they bring.\n\n"
    "`potential_value` estimates each customer's net value over the next 12 months: for "
    "each of their cars, the chance that it comes back within a year (from how similar "
    "cars behaved a year ago) times what a retained car of that age earns the store. "
    "`actual_value` is the window's net value per 12 months, on the same scale; "
    "`growth` = potential − actual.",
    "## 3. 实际价值与潜在价值：MVC、MGC 与 BZ\n\n"
    "Peppers 和 Rogers 按客户**现在**的价值和**可能**的价值给客户分类：\n\n"
    "- **MVC** 最具价值客户：实际价值最高的 20%——要留住；\n"
    "- **MGC** 最具增长潜力客户：其余客户中潜在价值超出实际价值最多的（同样至多 20%）——要培养；\n"
    "- **BZ** 负价值客户：净价值小于 0——服务成本高于其带来的毛利。\n\n"
    "`potential_value` 估计每位客户未来 12 个月的净价值：对客户的每辆车，用其一年内回厂的概率"
    "（依据一年前情况相似的车辆后来的表现）乘以该车龄的保有车辆为本店带来的价值。"
    "`actual_value` 是分析期净价值折算成每 12 个月的数值，口径相同；`growth` = 潜在 − 实际。",
)
display(pot[["customer_id", "actual_value", "potential_value", "growth", "p_return"]].head())

# %%
n.say(
    "### Exercise L2.4\n\n"
    "How many customers are **below zero** (BZ: net value in `features` below 0)?",
    "### 练习 L2.4\n\n"
    "有多少位**负价值客户**（BZ：`features` 中净价值小于 0）？",
)

# %% tags=["exercise"]
# L2.4: number of below-zero customers
answer = None  # YOUR ANSWER
teaching.check("L2.4", answer)

# %% tags=["solution"]
if solutions:
    answer = int(features["net_value"].lt(0).sum())
    teaching.check("L2.4", answer)

# %%
n.say(
    "### Exercise L2.5\n\n"
    "Give the `customer_id`s of the **most growable customers** (MGC) as a set. Use "
    "`mvc_mgc_bz(features, pot)` from `crm_analysis.value`, or build the rule yourself: "
    "remove BZ and the top round(N × 0.2) by net value, keep those with growth above 0, "
    "and take the round(N × 0.2) with the largest growth.",
    "### 练习 L2.5\n\n"
    "请以集合给出**最具增长潜力客户**（MGC）的 `customer_id`。可以用 `crm_analysis.value` 中的 "
    "`mvc_mgc_bz(features, pot)`，也可以自己实现规则：去掉负价值客户和净价值最高的 "
    "round(N × 0.2) 位，保留增长额大于 0 的客户，取增长额最大的 round(N × 0.2) 位。",
)

# %% tags=["exercise"]
# L2.5: set of customer_ids of the most growable customers
answer = None  # YOUR ANSWER
teaching.check("L2.5", answer)

# %% tags=["solution"]
if solutions:
    groups = mvc_mgc_bz(features, pot).labels
    answer = set(groups.loc[groups["value_group"] == "mgc", "customer_id"])
    teaching.check("L2.5", answer)

# %%
vg_result = mvc_mgc_bz(features, pot)
vg_labels, vg_sum = vg_result.labels, vg_result.summary
grade_table(vg_sum, "value_group")
fig, ax = plt.subplots(figsize=(8, 6))
plots.value_matrix(vg_labels, ax=ax, lang=lang)
fig.tight_layout()
plt.show()
vg = vg_sum.set_index("grade")
mgc_rows = vg_labels[vg_labels["value_group"] == "mgc"]
n.say(
    f"{n.int(vg.loc['mvc', 'customers'])} MVCs hold {n.pct(vg.loc['mvc', 'share_value'])} of "
    f"net value. The {n.int(vg.loc['mgc', 'customers'])} MGCs bring "
    f"{n.rmb(mgc_rows['actual_value'].mean())} a year on average now, but are expected to "
    f"bring {n.rmb(mgc_rows['potential_value'].mean())} next year. The "
    f"{n.int(vg.loc['bz', 'customers'])} BZ customers together lose the store "
    f"{n.rmb(-vg.loc['bz', 'value'])}.",
    f"{n.int(vg.loc['mvc', 'customers'])} 位最具价值客户拥有 {n.pct(vg.loc['mvc', 'share_value'])} "
    f"的净价值。{n.int(vg.loc['mgc', 'customers'])} 位最具增长潜力客户目前平均每年带来 "
    f"{n.rmb(mgc_rows['actual_value'].mean())}，预计明年可带来 {n.rmb(mgc_rows['potential_value'].mean())}。"
    f"{n.int(vg.loc['bz', 'customers'])} 位负价值客户合计让门店亏损 {n.rmb(-vg.loc['bz', 'value'])}。",
)

# %%
n.say(
    "## Discussion: this week's call list\n\n"
    f"The service manager has time for about {n.int(max(N // 10, 1))} calls this week. "
    "Discuss in your group:\n\n"
    "- Which RFM segment would you call first, and with what offer: an important win-back "
    "customer, an important develop customer, or an MGC? Why?\n"
    "- RFM, ABC and MVC/MGC/BZ put some customers in different groups. Find one customer "
    "who is class A but not important value (or the other way round) and explain why.\n"
    "- The course warns that grading can clash with fairness. How would you treat the BZ "
    "customers without losing their goodwill (and their word of mouth)?",
    "## 讨论：本周的回访名单\n\n"
    f"服务经理本周大约有 {n.int(max(N // 10, 1))} 通电话的时间。请小组讨论：\n\n"
    "- 你会先打给哪一类客户、提供什么优惠：重要挽留客户、重要发展客户，还是最具增长潜力客户？为什么？\n"
    "- RFM、ABC 和 MVC/MGC/BZ 会把一些客户分到不同的组。找出一位 A 类但不是重要价值客户"
    "（或反过来）的客户，并解释原因。\n"
    "- 教材提醒客户分级可能与公平产生矛盾。你会如何对待负价值客户，而又不失去他们的好感（和口碑）？",
)

# %% [markdown]
# # L1 · Why grade customers / 为什么要给客户分级
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
from crm_analysis.narrative import Narrator
from crm_analysis.overview import window_start
from crm_analysis.value import (
    DEFAULT_COST_PER_ORDER,
    Margins,
    gini,
    lorenz,
    order_profit,
    pyramid,
    top_share,
)

data = teaching.start("L1", data_dir, as_of=as_of, lang=lang, store_id=store_id or None)
plotting.setup(lang)
n = Narrator(lang)
T = data.as_of
window_from = window_start(24, as_of=T)
ro = data.dataset.repair_orders
in_window = ((ro["store_id"] == data.store_id) & (ro["open_date"] > window_from)
             & (ro["open_date"] <= T) & ro["customer_id"].notna())
orders = order_profit(ro[in_window]).reset_index(drop=True)
margins = Margins()

# %%
n.say(
    "## The store manager's question\n\n"
    "*\"We have hundreds of service customers and only a handful of service advisors. "
    "Should every customer get the same calls, the same offers, the same attention?\"*\n\n"
    "This lesson answers with the store's own data: customers are worth very different "
    "amounts, so the store grades them.\n\n"
    "**Learning goals.** After this lesson you can\n"
    "1. compute what each customer brought the store (revenue, gross profit, net value) "
    "from the repair orders;\n"
    "2. sort customers and compute cumulative shares in pandas, and read a Lorenz curve "
    "and a Gini coefficient;\n"
    "3. build the customer pyramid (important / secondary / normal / small) by hand and "
    "with `crm_analysis.value`;\n"
    "4. explain to a store manager why grading pays.",
    "## 店长的问题\n\n"
    "*“我们有几百位售后客户，服务顾问却只有几个人。每位客户都该接到同样的电话、"
    "同样的优惠、同样的关注吗？”*\n\n"
    "本课用门店自己的数据回答这个问题：不同客户给门店带来的价值相差很大，所以门店要给客户分级。\n\n"
    "**学习目标。** 学完本课，你能够：\n"
    "1. 从维修工单算出每位客户为门店带来的收入、毛利和净价值；\n"
    "2. 用 pandas 对客户排序、计算累计占比，并读懂洛伦兹曲线和基尼系数；\n"
    "3. 手工以及用 `crm_analysis.value` 建立客户金字塔（重要、次要、普通、小客户）；\n"
    "4. 向店长解释为什么客户分级能带来回报。",
)

# %%
n.say(
    "## 1. What is a customer worth?\n\n"
    f"The table `orders` holds the store's repair orders of the **24 months** up to "
    f"{n.date(T)} ({n.int(len(orders))} orders). For each order, `total_amount` is what "
    "the customer paid (revenue). **Gross profit** is revenue minus the cost of parts and "
    "labour; the export has no costs, so `order_profit` estimates them with standard "
    f"margins (labour {n.pct(margins.labor, 0)}, parts {n.pct(margins.parts, 0)}, less on "
    "warranty work paid by the maker). Every visit also costs the store about "
    f"{n.rmb(DEFAULT_COST_PER_ORDER)} to handle (reception, wash, follow-up call): "
    f"**net value** = gross profit − {n.rmb(DEFAULT_COST_PER_ORDER)} per order. A "
    "customer's value is the sum over their orders.",
    "## 1. 一位客户值多少钱？\n\n"
    f"表 `orders` 是截至 {n.date(T)} 的 **24 个月**内本店的维修工单（共 {n.int(len(orders))} 张）。"
    "每张工单的 `total_amount` 是客户支付的金额（收入）。**毛利**等于收入减去配件和工时成本；"
    "导出数据中没有成本，因此 `order_profit` 用标准毛利率估算（工时 "
    f"{n.pct(margins.labor, 0)}、配件 {n.pct(margins.parts, 0)}，厂家支付的保修工单更低）。"
    f"每次进厂门店还要花约 {n.rmb(DEFAULT_COST_PER_ORDER)} 接待（接车、洗车、回访电话）："
    f"**净价值** = 毛利 − 每单 {n.rmb(DEFAULT_COST_PER_ORDER)}。客户的价值就是其全部工单的合计。",
)
display(orders[["customer_id", "open_date", "ro_type", "total_amount", "gross_profit",
                "net_value"]].head())

# %%
revenue = (orders.groupby("customer_id")["total_amount"].sum()
           .sort_values(ascending=False))
n_cust = len(revenue)
top10 = int(np.floor(0.10 * n_cust + 0.5))
cum_share = revenue.cumsum() / revenue.sum()
n.say(
    "### Worked example: how much revenue do the top 10% bring?\n\n"
    "1. Sum `total_amount` by `customer_id` and sort, largest first.\n"
    f"2. There are N = {n.int(n_cust)} customers, so the top 10% are the first "
    f"round(N × 0.1) = {n.int(top10)}.\n"
    "3. The running total divided by the grand total (`cumsum() / sum()`) is the "
    "**cumulative share**: its value at position k is the share of revenue from the k "
    "best customers.\n\n"
    f"The top {n.int(top10)} customers paid {n.rmb(revenue.iloc[:top10].sum())} of "
    f"{n.rmb(revenue.sum())}: **{n.pct(cum_share.iloc[top10 - 1])} of revenue** from 10% "
    "of the customers. If every customer were worth the same, it would be 10%.",
    "### 例题：前 10% 的客户带来多少收入？\n\n"
    "1. 按 `customer_id` 汇总 `total_amount`，从大到小排序。\n"
    f"2. 共有 N = {n.int(n_cust)} 位客户，前 10% 就是前 round(N × 0.1) = {n.int(top10)} 位。\n"
    "3. 累计值除以总额（`cumsum() / sum()`）就是**累计占比**：第 k 个位置上的值，"
    "表示价值最高的 k 位客户所占的收入份额。\n\n"
    f"前 {n.int(top10)} 位客户支付了 {n.rmb(revenue.iloc[:top10].sum())}（总额 "
    f"{n.rmb(revenue.sum())}）：10% 的客户带来了 **{n.pct(cum_share.iloc[top10 - 1])} 的收入**。"
    "如果每位客户价值相同，这个数字应当是 10%。",
)
display(pd.DataFrame({"revenue": revenue, "cum_share": cum_share}).head(top10 + 2))

# %%
ascending = np.sort(revenue.to_numpy())
curve_x = np.arange(n_cust + 1) / n_cust
curve_y = np.concatenate([[0.0], np.cumsum(ascending) / ascending.sum()])
fig, ax = plt.subplots(figsize=(6, 5.5))
ax.plot(curve_x, curve_y, label=n("Lorenz curve of revenue", "收入的洛伦兹曲线"))
ax.plot([0, 1], [0, 1], linestyle="--", color="grey",
        label=n("Every customer equal", "每位客户价值相同"))
plotting.label(ax, n("Lorenz curve of revenue (by hand)", "收入的洛伦兹曲线（手工计算）"),
               n("Share of customers, least valuable first (%)", "客户累计占比，价值由低到高（%）"),
               n("Cumulative share of revenue (%)", "收入累计占比（%）"))
plotting.fmt_pct(ax, "both")
ax.legend()
fig.tight_layout()
plt.show()
n.say(
    "**The Lorenz curve** sorts customers the other way round, least valuable first, and "
    "plots the cumulative share of customers (x) against the cumulative share of value (y). "
    "On the dashed diagonal every customer is worth the same; the more the curve sags "
    "below it, the more the value is concentrated. The **Gini coefficient** measures the "
    "sag: 1 − 2 × (area under the curve). It is 0 when all are equal and close to 1 when "
    "one customer brings everything. The area is the sum of the trapezoids between "
    f"neighbouring points (`np.trapezoid`); for revenue it gives Gini = "
    f"{n.num(1 - 2 * np.trapezoid(curve_y, curve_x), 2)}.",
    "**洛伦兹曲线**把客户反过来排序（价值低的在前），横轴为客户累计占比，纵轴为价值累计占比。"
    "在虚线对角线上，每位客户价值相同；曲线越向下弯，价值越集中。**基尼系数**度量弯曲的程度："
    "1 − 2 ×（曲线下面积）。所有客户相同时为 0，一位客户拿走全部价值时接近 1。"
    "曲线下面积就是相邻两点之间梯形面积之和（`np.trapezoid`）；收入的基尼系数为 "
    f"{n.num(1 - 2 * np.trapezoid(curve_y, curve_x), 2)}。",
)

# %%
n.say(
    "### Exercise L1.1\n\n"
    "How many customers had at least one order in the 24-month window (the table "
    "`orders`)? Give a whole number.",
    "### 练习 L1.1\n\n"
    "在 24 个月的分析期内（表 `orders`），有多少位客户至少有一张工单？请给出整数。",
)

# %% tags=["exercise"]
# L1.1: number of customers with an order in the 24-month window
answer = None  # YOUR ANSWER
teaching.check("L1.1", answer)

# %% tags=["solution"]
if solutions:
    answer = orders["customer_id"].nunique()
    teaching.check("L1.1", answer)

# %%
n.say(
    "### Exercise L1.2\n\n"
    "What share of the window's **gross profit** comes from the top 20% of customers "
    "(the round(N × 0.2) customers with the most gross profit)? Give a fraction between 0 "
    "and 1, e.g. 0.55.",
    "### 练习 L1.2\n\n"
    "前 20% 的客户（毛利最高的 round(N × 0.2) 位）贡献了分析期内多少比例的**毛利**？"
    "请给出 0 到 1 之间的小数，例如 0.55。",
)

# %% tags=["exercise"]
# L1.2: share of gross profit from the top 20% of customers (fraction)
answer = None  # YOUR ANSWER
teaching.check("L1.2", answer)

# %% tags=["solution"]
if solutions:
    gp_desc = orders.groupby("customer_id")["gross_profit"].sum().sort_values(ascending=False)
    k20 = int(np.floor(0.2 * len(gp_desc) + 0.5))
    answer = gp_desc.head(k20).sum() / gp_desc.sum()
    teaching.check("L1.2", answer)

# %%
n.say(
    "### Exercise L1.3\n\n"
    "Compute the **Gini coefficient of gross profit** per customer, by hand as in the "
    "worked example (Lorenz points, then 1 − 2 × area).",
    "### 练习 L1.3\n\n"
    "仿照例题，手工计算客户**毛利的基尼系数**（先求洛伦兹曲线上的点，再用 1 − 2 × 面积）。",
)

# %% tags=["exercise"]
# L1.3: Gini coefficient of gross profit per customer
answer = None  # YOUR ANSWER
teaching.check("L1.3", answer)

# %% tags=["solution"]
if solutions:
    gp_up = np.sort(orders.groupby("customer_id")["gross_profit"].sum().to_numpy())
    lx = np.linspace(0.0, 1.0, len(gp_up) + 1)
    ly = np.insert(gp_up.cumsum(), 0, 0.0) / gp_up.sum()
    answer = 1.0 - 2.0 * np.trapezoid(ly, lx)
    teaching.check("L1.3", answer)

# %%
cuts = (0.01, 0.20, 0.50)
n.say(
    "## 2. The customer pyramid\n\n"
    "The classic 4S-store grading ranks customers by **net value**, best first, and cuts "
    f"the ranking at fixed shares of customers: the top {n.pct(cuts[0], 0)} are "
    f"**important** customers (重要客户), the next {n.pct(cuts[1] - cuts[0], 0)} "
    f"**secondary** customers (次要客户) — together the top {n.pct(cuts[1], 0)}, the "
    f"**key** customers (关键客户) — the next {n.pct(cuts[2] - cuts[1], 0)} **normal** "
    f"customers (普通客户) and the last {n.pct(1 - cuts[2], 0)} **small** customers "
    "(小客户). By hand: sort, number the customers 1..N, and a tier ends at position "
    "round(N × cut). Then compare each tier's share of customers with its share of value.",
    "## 2. 客户金字塔\n\n"
    "4S 店常用的分级方法按**净价值**从高到低给客户排名，并在固定的客户比例处切分："
    f"前 {n.pct(cuts[0], 0)} 为**重要客户**，其后 {n.pct(cuts[1] - cuts[0], 0)} 为**次要客户**"
    f"（二者合计前 {n.pct(cuts[1], 0)}，称为**关键客户**），再后 {n.pct(cuts[2] - cuts[1], 0)} "
    f"为**普通客户**，最后 {n.pct(1 - cuts[2], 0)} 为**小客户**。手工做法：排序后给客户编号 "
    "1..N，每一级截止于第 round(N × 切分比例) 名。然后比较各级的客户占比和价值占比。",
)
net = orders.groupby("customer_id")["net_value"].sum()
negative = int((net < 0).sum())
n.say(
    f"Net value can be negative: {n.int(negative)} of the {n.int(len(net))} customers "
    "cost more to handle than they earned the store, so the small tier's share of net "
    "value may be tiny or even below zero.",
    f"净价值可以为负：{n.int(len(net))} 位客户中有 {n.int(negative)} 位的接待成本高于其带来的毛利，"
    "因此小客户这一级的净价值占比可能很小，甚至小于零。",
)

# %%
n.say(
    "### Exercise L1.4\n\n"
    "Build the pyramid by hand on **net value** and give each tier's **share of the total "
    "net value** as a pandas Series indexed by `important`, `secondary`, `normal`, "
    "`small` (fractions; the four add up to 1). Customers with equal net value: the "
    "smaller `customer_id` ranks first.",
    "### 练习 L1.4\n\n"
    "按**净价值**手工建立客户金字塔，给出各级占**净价值总额的比例**，"
    "用以 `important`、`secondary`、`normal`、`small` 为索引的 pandas Series 表示（小数，"
    "四者之和为 1）。净价值相同的客户，`customer_id` 较小者排在前面。",
)

# %% tags=["exercise"]
# L1.4: share of net value of each pyramid tier (Series indexed by tier name)
answer = None  # YOUR ANSWER
teaching.check("L1.4", answer)

# %% tags=["solution"]
if solutions:
    ranked = (orders.groupby("customer_id", as_index=False)["net_value"].sum()
              .sort_values(["net_value", "customer_id"], ascending=[False, True]))
    ends = [int(np.floor(c * len(ranked) + 0.5)) for c in (0.01, 0.20, 0.50)]
    ranked["tier"] = np.select(
        [np.arange(len(ranked)) < e for e in ends], ["important", "secondary", "normal"],
        default="small")
    answer = (ranked.groupby("tier")["net_value"].sum() / ranked["net_value"].sum()).reindex(
        ["important", "secondary", "normal", "small"], fill_value=0.0)
    teaching.check("L1.4", answer)

# %%
n.say(
    "### Exercise L1.5\n\n"
    "The \"80/20 rule\" says a fifth of the customers bring four fifths of the profit. "
    "Check it: what is the **smallest share of customers**, best first, that together "
    "bring at least 80% of gross profit? Give a fraction (k / N).",
    "### 练习 L1.5\n\n"
    "“二八法则”说五分之一的客户带来五分之四的利润。请验证：从毛利最高的客户算起，"
    "**最少需要多大比例的客户**，其毛利合计才能达到总毛利的 80%？请给出小数（k / N）。",
)

# %% tags=["exercise"]
# L1.5: smallest share of customers (best first) bringing at least 80% of gross profit
answer = None  # YOUR ANSWER
teaching.check("L1.5", answer)

# %% tags=["solution"]
if solutions:
    gp_sorted = orders.groupby("customer_id")["gross_profit"].sum().sort_values(
        ascending=False).to_numpy()
    reach = np.cumsum(gp_sorted) / gp_sorted.sum()
    answer = (np.searchsorted(reach, 0.8 - 1e-12) + 1) / len(gp_sorted)
    teaching.check("L1.5", answer)

# %%
features = customer_features(data.dataset, as_of=T, window_months=24, store_id=data.store_id)
n.say(
    "## 3. The same with the library\n\n"
    "`customer_features` builds one row per customer (the window sums you computed, plus "
    "recency, frequency, vehicle age and more); `top_share`, `gini` and `lorenz` measure "
    "concentration; `pyramid` grades. Compare the numbers with your answers.",
    "## 3. 用程序库完成同样的计算\n\n"
    "`customer_features` 为每位客户生成一行特征（包括你刚才算的分析期合计，以及最近消费、"
    "消费频率、车龄等）；`top_share`、`gini` 和 `lorenz` 度量集中程度；`pyramid` 负责分级。"
    "请把这些结果与你的答案对照。",
)
fig, ax = plt.subplots(figsize=(6.5, 6))
plots.lorenz_curve(lorenz(features["gross_profit"]), gini=gini(features["gross_profit"]),
                   highlight=0.2, value_label="gross_profit", ax=ax, lang=lang)
fig.tight_layout()
plt.show()
n.say(
    f"Library: {n.int(len(features))} customers; the top 20% bring "
    f"**{n.pct(top_share(features['gross_profit'], 0.2))} of gross profit**; Gini "
    f"{n.num(gini(features['gross_profit']), 2)}.",
    f"程序库结果：共 {n.int(len(features))} 位客户；前 20% 的客户贡献了 "
    f"**{n.pct(top_share(features['gross_profit'], 0.2))} 的毛利**；基尼系数 "
    f"{n.num(gini(features['gross_profit']), 2)}。",
)

# %%
pyr = pyramid(features, value="net_value", cuts=cuts).summary
fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
plots.customer_pyramid(pyr, value_label="net_value", ax=axes[0], lang=lang)
plots.grade_shares(pyr, kind="pyramid", value_label="net_value", ax=axes[1], lang=lang)
fig.tight_layout()
plt.show()
p = pyr.set_index("grade")
key = ["important", "secondary"]
n.say(
    f"The {n.int(p.loc[key, 'customers'].sum())} key customers "
    f"({n.pct(p.loc[key, 'share_customers'].sum())} of customers) hold "
    f"**{n.pct(p.loc[key, 'share_value'].sum())} of net value**; the "
    f"{n.int(p.loc['small', 'customers'])} small customers hold "
    f"{n.pct(p.loc['small', 'share_value'])}. A key customer is worth "
    f"{n.rmb(p.loc[key, 'value'].sum() / max(p.loc[key, 'customers'].sum(), 1))} on "
    f"average over the two years, a small customer "
    f"{n.rmb(p.loc['small', 'value_per_customer'])}.",
    f"{n.int(p.loc[key, 'customers'].sum())} 位关键客户（占客户的 "
    f"{n.pct(p.loc[key, 'share_customers'].sum())}）拥有 **{n.pct(p.loc[key, 'share_value'].sum())} "
    f"的净价值**；{n.int(p.loc['small', 'customers'])} 位小客户只占 "
    f"{n.pct(p.loc['small', 'share_value'])}。两年内一位关键客户平均价值 "
    f"{n.rmb(p.loc[key, 'value'].sum() / max(p.loc[key, 'customers'].sum(), 1))}，"
    f"一位小客户 {n.rmb(p.loc['small', 'value_per_customer'])}。",
)

# %%
n.say(
    "## Discussion: what would you tell the store manager?\n\n"
    f"The store's advisors can make only so many care calls a year. With the numbers "
    f"above (top 20% → {n.pct(top_share(features['gross_profit'], 0.2))} of gross profit, "
    f"{n.int(negative)} customers below zero), discuss in your group:\n\n"
    "- How would you split the advisors' time between key, normal and small customers, "
    "and why not simply in proportion to value?\n"
    "- A small customer today may be a new owner whose car is still young. What else "
    "besides past value should the grading look at? (Lesson L2 takes this up.)\n"
    "- What should the store do about customers whose net value is below zero?",
    "## 讨论：你会对店长说什么？\n\n"
    f"服务顾问每年能打的关怀电话是有限的。结合上面的数字（前 20% 客户贡献 "
    f"{n.pct(top_share(features['gross_profit'], 0.2))} 的毛利，{n.int(negative)} 位客户净价值为负），"
    "请小组讨论：\n\n"
    "- 你会如何在关键客户、普通客户和小客户之间分配顾问的时间？为什么不能简单地按价值比例分配？\n"
    "- 今天的小客户可能是车龄还很短的新车主。除了过去的价值，分级还应该看什么？（第 L2 课将讨论这个问题。）\n"
    "- 对净价值为负的客户，门店应该怎么办？",
)

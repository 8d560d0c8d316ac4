# %% [markdown] tags=["lang-en"]
# # L1 · Why grade customers
#
# One class period. Run the cells from the top. Write your answers in the cells marked
# `# YOUR ANSWER` and run them to get feedback.

# %% [markdown] tags=["lang-zh"]
# # L1 · 为什么要给客户分级
#
# 一个课时。请从上往下运行各单元格。在标有 `# YOUR ANSWER` 的单元格中写出答案并运行，即可看到反馈。

# %% tags=["parameters"]
data_dir = "data/sample"  # str: the student's data folder
as_of = None  # str ISO date or None
lang = "en"  # "en" or "zh"
solutions = False  # bool: True fills in the answers (teacher's version)
store_id = ""  # str: "" means the first store of the data

# %%
# Load the student's store: the lesson's data, narration and figures in `lang`
import numpy as np
import pandas as pd
from IPython.display import display

from crm_analysis import plots, plotting, teaching
from crm_analysis.features import customer_features
from crm_analysis.notebook import open_chapter
from crm_analysis.teaching.lessons.l1 import window_orders
from crm_analysis.value import DEFAULT_COST_PER_ORDER, Margins, gini, lorenz, pyramid, top_share

data = teaching.start("L1", data_dir, as_of=as_of, lang=lang, store_id=store_id or None)
ch = open_chapter(data.dataset, store_id=data.store_id, as_of=data.as_of, lang=lang)
n, T = ch.n, data.as_of
ch.title()

# %% [markdown] tags=["lang-en"]
# ## The store manager's question
#
# *"We have hundreds of service customers and only a handful of service advisors. Should
# every customer get the same calls, the same offers, the same attention?"*
#
# This lesson answers with the store's own data: customers are worth very different
# amounts, so the store grades them.
#
# **Learning goals.** After this lesson you can
# 1. compute what each customer brought the store (revenue, gross profit, net value) from
#    the repair orders;
# 2. sort customers and compute cumulative shares in pandas, and read a Lorenz curve and a
#    Gini coefficient;
# 3. build the customer pyramid (important / secondary / normal / small) by hand and with
#    `crm_analysis.value`;
# 4. explain to a store manager why grading pays.

# %% [markdown] tags=["lang-zh"]
# ## 店长的问题
#
# *“我们有几百位售后客户，服务顾问却只有几个人。每位客户都该接到同样的电话、同样的优惠、同样的关注吗？”*
#
# 本课用门店自己的数据回答这个问题：不同客户给门店带来的价值相差很大，所以门店要给客户分级。
#
# **学习目标。** 学完本课，你能够：
# 1. 从维修工单算出每位客户为门店带来的收入、毛利和净价值；
# 2. 用 pandas 对客户排序、计算累计占比，并读懂洛伦兹曲线和基尼系数；
# 3. 手工以及用 `crm_analysis.value` 建立客户金字塔（重要、次要、普通、小客户）；
# 4. 向店长解释为什么客户分级能带来回报。

# %% [markdown] tags=["lang-en"]
# ## 1. What is a customer worth?

# %% [markdown] tags=["lang-zh"]
# ## 1. 一位客户值多少钱？

# %%
# The table `orders`: the store's repair orders of the 24 months up to T, with their profit
orders = window_orders(data, months=24)
margins = Margins()
n.tell("lesson1.worth", as_of=T, orders=len(orders), labor=margins.labor,
       parts=margins.parts, cost=DEFAULT_COST_PER_ORDER)
display(orders[["customer_id", "open_date", "ro_type", "total_amount", "gross_profit",
                "net_value"]].head())

# %% [markdown] tags=["lang-en"]
# ### Worked example: how much revenue do the top 10% bring?
#
# 1. Sum `total_amount` by `customer_id` and sort, largest first.
# 2. With N customers, the top 10% are the first round(N × 0.1).
# 3. The running total divided by the grand total (`cumsum() / sum()`) is the
#    **cumulative share**: its value at position k is the share of revenue from the k best
#    customers.

# %% [markdown] tags=["lang-zh"]
# ### 例题：前 10% 的客户带来多少收入？
#
# 1. 按 `customer_id` 汇总 `total_amount`，从大到小排序。
# 2. 共有 N 位客户时，前 10% 就是前 round(N × 0.1) 位。
# 3. 累计值除以总额（`cumsum() / sum()`）就是**累计占比**：第 k 个位置上的值，表示价值最高的k 位客户所占的收入份额。

# %%
# Revenue per customer, largest first, and its cumulative share
revenue = (orders.groupby("customer_id")["total_amount"].sum()
           .sort_values(ascending=False))
n_cust = len(revenue)
top10 = int(np.floor(0.10 * n_cust + 0.5))
cum_share = revenue.cumsum() / revenue.sum()
n.tell("lesson1.top10", customers=n_cust, top=top10, paid=revenue.iloc[:top10].sum(),
       total=revenue.sum(), share=cum_share.iloc[top10 - 1])
display(pd.DataFrame({"revenue": revenue, "cum_share": cum_share}).head(top10 + 2))

# %%
# The Lorenz curve of revenue, by hand: customers least valuable first
ascending = np.sort(revenue.to_numpy())
curve_x = np.arange(n_cust + 1) / n_cust
curve_y = np.concatenate([[0.0], np.cumsum(ascending) / ascending.sum()])
with ch.figure(size=(6, 5.5)) as ax:
    ax.plot(curve_x, curve_y, label=n.text("lesson1.lorenz.curve"))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label=n.text("lesson1.lorenz.equal"))
    plotting.label(ax, n.text("lesson1.lorenz.title"), n.text("lesson1.lorenz.x"),
                   n.text("lesson1.lorenz.y"))
    plotting.fmt_pct(ax, "both")
    ax.legend()

# %% [markdown] tags=["lang-en"]
# **The Lorenz curve** sorts customers the other way round, least valuable first, and plots
# the cumulative share of customers (x) against the cumulative share of value (y). On the
# dashed diagonal every customer is worth the same; the more the curve sags below it, the
# more the value is concentrated. The **Gini coefficient** measures the sag:
# 1 − 2 × (area under the curve). It is 0 when all are equal and close to 1 when one
# customer brings everything. The area is the sum of the trapezoids between neighbouring
# points (`np.trapezoid`).

# %% [markdown] tags=["lang-zh"]
# **洛伦兹曲线**把客户反过来排序（价值低的在前），横轴为客户累计占比，纵轴为价值累计占比。在虚线对角线上，每位客户价值相同；曲线越向下弯，价值越集中。**基尼系数**度量弯曲的程度：1 − 2 ×（曲线下面积）。所有客户相同时为 0，一位客户拿走全部价值时接近 1。曲线下面积就是相邻两点之间梯形面积之和（`np.trapezoid`）。

# %%
# The Gini coefficient of revenue from the area under the curve
n.tell("lesson1.gini_revenue", gini=1 - 2 * np.trapezoid(curve_y, curve_x))

# %% [markdown] tags=["lang-en"]
# ### Exercise L1.1
#
# How many customers had at least one order in the 24-month window (the table `orders`)?
# Give a whole number.

# %% [markdown] tags=["lang-zh"]
# ### 练习 L1.1
#
# 在 24 个月的分析期内（表 `orders`），有多少位客户至少有一张工单？请给出整数。

# %% tags=["exercise"]
# L1.1: number of customers with an order in the 24-month window
answer = None  # YOUR ANSWER
teaching.check("L1.1", answer)

# %% tags=["solution"]
if solutions:
    answer = orders["customer_id"].nunique()
    teaching.check("L1.1", answer)

# %% [markdown] tags=["lang-en"]
# ### Exercise L1.2
#
# What share of the window's **gross profit** comes from the top 20% of customers (the
# round(N × 0.2) customers with the most gross profit)? Give a fraction between 0 and 1,
# e.g. 0.55.

# %% [markdown] tags=["lang-zh"]
# ### 练习 L1.2
#
# 前 20% 的客户（毛利最高的 round(N × 0.2) 位）贡献了分析期内多少比例的**毛利**？请给出 0 到 1 之间的小数，例如 0.55。

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

# %% [markdown] tags=["lang-en"]
# ### Exercise L1.3
#
# Compute the **Gini coefficient of gross profit** per customer, by hand as in the worked
# example (Lorenz points, then 1 − 2 × area).

# %% [markdown] tags=["lang-zh"]
# ### 练习 L1.3
#
# 仿照例题，手工计算客户**毛利的基尼系数**（先求洛伦兹曲线上的点，再用 1 − 2 × 面积）。

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

# %% [markdown] tags=["lang-en"]
# ## 2. The customer pyramid
#
# The classic 4S-store grading ranks customers by **net value**, best first, and cuts the
# ranking at fixed shares of customers: the top 1% are **important** customers, the next
# 19% **secondary** customers — together the top 20%, the **key** customers — the next 30%
# **normal** customers and the last 50% **small** customers. By hand: sort, number the
# customers 1..N, and a tier ends at position round(N × cut). Then compare each tier's
# share of customers with its share of value.

# %% [markdown] tags=["lang-zh"]
# ## 2. 客户金字塔
#
# 4S 店常用的分级方法按**净价值**从高到低给客户排名，并在固定的客户比例处切分：前 1% 为**重要客户**，其后 19% 为**次要客户**（二者合计前 20%，称为**关键客户**），再后 30% 为**普通客户**，最后 50% 为**小客户**。手工做法：排序后给客户编号 1..N，每一级截止于第round(N × 切分比例) 名。然后比较各级的客户占比和价值占比。

# %%
# Customers whose net value is below zero
cuts = (0.01, 0.20, 0.50)
net = orders.groupby("customer_id")["net_value"].sum()
negative = int((net < 0).sum())
n.tell("lesson1.negative", negative=negative, customers=len(net))

# %% [markdown] tags=["lang-en"]
# ### Exercise L1.4
#
# Build the pyramid by hand on **net value** and give each tier's **share of the total net
# value** as a pandas Series indexed by `important`, `secondary`, `normal`, `small`
# (fractions; the four add up to 1). Customers with equal net value: the smaller
# `customer_id` ranks first.

# %% [markdown] tags=["lang-zh"]
# ### 练习 L1.4
#
# 按**净价值**手工建立客户金字塔，给出各级占**净价值总额的比例**，用以 `important`、`secondary`、`normal`、`small` 为索引的 pandas Series 表示（小数，四者之和为 1）。净价值相同的客户，`customer_id` 较小者排在前面。

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

# %% [markdown] tags=["lang-en"]
# ### Exercise L1.5
#
# The "80/20 rule" says a fifth of the customers bring four fifths of the profit. Check it:
# what is the **smallest share of customers**, best first, that together bring at least 80%
# of gross profit? Give a fraction (k / N).

# %% [markdown] tags=["lang-zh"]
# ### 练习 L1.5
#
# “二八法则”说五分之一的客户带来五分之四的利润。请验证：从毛利最高的客户算起，**最少需要多大比例的客户**，其毛利合计才能达到总毛利的 80%？请给出小数（k / N）。

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

# %% [markdown] tags=["lang-en"]
# ## 3. The same with the library
#
# `customer_features` builds one row per customer (the window sums you computed, plus
# recency, frequency, vehicle age and more); `top_share`, `gini` and `lorenz` measure
# concentration; `pyramid` grades. Compare the numbers with your answers.

# %% [markdown] tags=["lang-zh"]
# ## 3. 用程序库完成同样的计算
#
# `customer_features` 为每位客户生成一行特征（包括你刚才算的分析期合计，以及最近消费、消费频率、车龄等）；`top_share`、`gini` 和 `lorenz` 度量集中程度；`pyramid` 负责分级。请把这些结果与你的答案对照。

# %%
# The Lorenz curve of gross profit with the library, and its concentration
features = customer_features(data.dataset, as_of=T, window_months=24, store_id=data.store_id)
gp = features["gross_profit"]
with ch.figure(size=(6.5, 6)) as ax:
    plots.lorenz_curve(lorenz(gp), gini=gini(gp), highlight=0.2, value_label="gross_profit",
                       ax=ax, lang=lang)
n.tell("lesson1.library", customers=len(features), top20=top_share(gp, 0.2), gini=gini(gp))

# %%
# The customer pyramid on net value with the library
pyr = pyramid(features, value="net_value", cuts=cuts).summary
with ch.figure(1, 2, size=(12, 4.8)) as (left, right):
    plots.customer_pyramid(pyr, value_label="net_value", ax=left, lang=lang)
    plots.grade_shares(pyr, kind="pyramid", value_label="net_value", ax=right, lang=lang)
p = pyr.set_index("grade")
key = p.loc[["important", "secondary"]]
n.tell("lesson1.pyramid", key_n=key["customers"].sum(),
       key_customers=key["share_customers"].sum(), key_value=key["share_value"].sum(), small=p.loc["small", "customers"],
       small_value=p.loc["small", "share_value"],
       key_each=key["value"].sum() / max(key["customers"].sum(), 1),
       small_each=p.loc["small", "value_per_customer"])

# %% [markdown] tags=["lang-en"]
# ## Discussion: what would you tell the store manager?
#
# The store's advisors can make only so many care calls a year.

# %% [markdown] tags=["lang-zh"]
# ## 讨论：你会对店长说什么？
#
# 服务顾问每年能打的关怀电话是有限的。

# %%
# The numbers to discuss
n.tell("lesson1.discussion", top20=top_share(gp, 0.2), negative=negative)

# %% [markdown] tags=["lang-en"]
# - How would you split the advisors' time between key, normal and small customers, and
#   why not simply in proportion to value?
# - A small customer today may be a new owner whose car is still young. What else besides
#   past value should the grading look at? (Lesson L2 takes this up.)
# - What should the store do about customers whose net value is below zero?

# %% [markdown] tags=["lang-zh"]
# - 你会如何在关键客户、普通客户和小客户之间分配顾问的时间？为什么不能简单地按价值比例分配？
# - 今天的小客户可能是车龄还很短的新车主。除了过去的价值，分级还应该看什么？（第 L2 课将讨论这个问题。）
# - 对净价值为负的客户，门店应该怎么办？

# %% [markdown] tags=["lang-en"]
# # L2 · RFM and the eight segments; ABC; MVC / MGC / BZ
#
# One class period. Run the cells from the top. Write your answers in the cells marked
# `# YOUR ANSWER` and run them to get feedback.

# %% [markdown] tags=["lang-zh"]
# # L2 · RFM 八类客户、ABC 分类与 MVC/MGC/BZ
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
from IPython.display import display

from crm_analysis import plots, teaching
from crm_analysis.features import customer_features
from crm_analysis.notebook import open_chapter
from crm_analysis.teaching.lessons.l2 import show_grades
from crm_analysis.value import abc, mvc_mgc_bz, potential_value, rfm_segments

data = teaching.start("L2", data_dir, as_of=as_of, lang=lang, store_id=store_id or None)
ch = open_chapter(data.dataset, store_id=data.store_id, as_of=data.as_of, lang=lang)
n, T = ch.n, data.as_of
ch.title()

# %% [markdown] tags=["lang-en"]
# ## The store manager's question
#
# *"Last lesson showed that a few customers bring most of the profit. But a big spender who
# has not been here for a year is not the same as one who came last week. Whom do we call
# this week, and what do we offer them?"*
#
# Value alone does not say what to do next. This lesson adds behaviour (RFM), a value-share
# grading (ABC) and the future (MVC / MGC / BZ).
#
# **Learning goals.** After this lesson you can
# 1. mark recency, frequency and monetary value high or low and name the eight RFM segments
#    of the Chinese teaching standard;
# 2. grade customers A / B / C by cumulative share of value;
# 3. tell apart most valuable (MVC), most growable (MGC) and below-zero (BZ) customers;
# 4. match each group with a concrete action for the service team.

# %% [markdown] tags=["lang-zh"]
# ## 店长的问题
#
# *“上一课说明少数客户带来了大部分利润。可是一位消费很多、却一年没来的客户，和一位上周刚来过的客户并不一样。这周我们该给谁打电话？给他们什么优惠？”*
#
# 只看价值还不知道下一步该做什么。本课加入客户行为（RFM）、按价值占比的分级（ABC）和未来的价值（MVC / MGC / BZ）。
#
# **学习目标。** 学完本课，你能够：
# 1. 判断最近消费、消费频率、消费金额的高低，并说出国内教材中的 RFM 八类客户；
# 2. 按价值累计占比把客户分为 A、B、C 三类；
# 3. 区分最具价值客户（MVC）、最具增长潜力客户（MGC）和负价值客户（BZ）；
# 4. 为每一类客户对应一项具体的服务行动。

# %% [markdown] tags=["lang-en"]
# ## 1. RFM: recency, frequency, monetary value
#
# The table `features` has one row per customer of the last 24 months. Three columns
# describe behaviour:
#
# - **R** `recency_days`: days since the last visit — *small is good*;
# - **F** `orders`: orders in the window;
# - **M** `revenue`: RMB paid in the window.
#
# Each is marked **high** or **low** against the store's mean: R is high when
# `recency_days` is *below* its mean, F when `orders` is above its mean, M when `revenue`
# is above its mean. Two levels for three letters give eight segments. M high makes a
# customer *important*, M low *general*; R and F then say which: **value** (R↑F↑),
# **develop** (R↑F↓), **retain** (R↓F↑) and **win back** (R↓F↓).

# %% [markdown] tags=["lang-zh"]
# ## 1. RFM：最近消费、消费频率、消费金额
#
# 表 `features` 中每位近 24 个月的客户占一行。有三列描述客户行为：
#
# - **R** `recency_days`：距上次到店的天数——*越小越好*；
# - **F** `orders`：分析期内的工单数；
# - **M** `revenue`：分析期内支付的金额（元）。
#
# 每一项都与本店平均值比较分出**高**或**低**：`recency_days` *低于*平均值时 R 为高，`orders` 高于平均值时 F 为高，`revenue` 高于平均值时 M 为高。三个字母各有高低两档，组合成八类。M 高为**重要**客户，M 低为**一般**客户；再由 R 和 F 细分为**价值**（R↑F↑）、**发展**（R↑F↓）、**保持**（R↓F↑）和**挽留**（R↓F↓）。

# %%
# The table `features` (one row per customer) and the store's means, the line between high
# and low
features = customer_features(data.dataset, as_of=T, window_months=24, store_id=data.store_id)
N = len(features)
means = features[["recency_days", "orders", "revenue"]].mean()
n.tell("lesson2.means", customers=N, recency=means["recency_days"], orders=means["orders"],
       revenue=means["revenue"])

# %% [markdown] tags=["lang-en"]
# ### Worked example: important-develop customers
#
# Three boolean Series mark R, F and M high; combining them with `&` and `~` (not) selects a
# segment. **Important develop** customers are recent (R↑) and spend a lot (M↑) but come
# rarely (F↓). They are often owners of a newer car who came for a big job: the aim is to
# make them come regularly.

# %% [markdown] tags=["lang-zh"]
# ### 例题：重要发展客户
#
# 用三个布尔 Series 标记 R、F、M 是否为高；用 `&` 和 `~`（取反）组合即可选出一类客户。**重要发展客户**最近来过（R↑）、消费金额高（M↑），但来得不多（F↓）。他们常常是车龄较短、来做过一次大项目的车主：目标是让他们定期回厂。

# %%
# Important develop: R high, F low, M high
r_up = features["recency_days"] < means["recency_days"]
f_up = features["orders"] > means["orders"]
m_up = features["revenue"] > means["revenue"]
develop = features[r_up & ~f_up & m_up]
n.tell("lesson2.develop", customers=len(develop),
       share=develop["net_value"].sum() / features["net_value"].sum())
display(develop[["customer_id", "recency_days", "orders", "revenue", "net_value"]].head())

# %% [markdown] tags=["lang-en"]
# ### Exercise L2.1
#
# How many customers are in the segment **important value** (R, F and M all high against
# the mean)? Give a whole number.

# %% [markdown] tags=["lang-zh"]
# ### 练习 L2.1
#
# **重要价值客户**（R、F、M 三项都高于平均值）有多少位？请给出整数。

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

# %% [markdown] tags=["lang-en"]
# ### The eight segments with the library
#
# `rfm_segments(features, against="mean")` returns each customer's segment (`labels`) and a
# summary per segment.

# %% [markdown] tags=["lang-zh"]
# ### 用程序库得到八类客户
#
# `rfm_segments(features, against="mean")` 返回每位客户所属的类别（`labels`）和各类的汇总。

# %%
# The eight RFM segments with the library: table, chart and the most valuable segment
rfm_result = rfm_segments(features, against="mean")
rfm_labels, rfm_sum = rfm_result.labels, rfm_result.summary
show_grades(rfm_sum, "rfm", n)
with ch.figure(size=(10, 5)) as ax:
    plots.rfm_segment_bars(rfm_sum, value_label="net_value", ax=ax, lang=lang)
rs = rfm_sum.set_index("grade")
top_seg = rs["share_value"].idxmax()
n.tell("lesson2.top_segment", segment=ch.label(f"rfm.{top_seg}"),
       customers=rs.loc[top_seg, "share_customers"], value=rs.loc[top_seg, "share_value"])

# %% [markdown] tags=["lang-en"]
# ### Exercise L2.2
#
# The **important win-back** customers (M high, R low, F low) spent a lot but came rarely
# and not lately: they are the first list for a win-back call. Give their `customer_id`s as
# a Python set (you may use `rfm_labels`).

# %% [markdown] tags=["lang-zh"]
# ### 练习 L2.2
#
# **重要挽留客户**（M 高、R 低、F 低）消费多，但来得少、最近也没来：他们是挽留回访的首批名单。请以 Python 集合（set）给出他们的 `customer_id`（可以使用 `rfm_labels`）。

# %% tags=["exercise"]
# L2.2: set of customer_ids in the RFM segment important win-back
answer = None  # YOUR ANSWER
teaching.check("L2.2", answer)

# %% tags=["solution"]
if solutions:
    winback = rfm_labels["rfm_segment"] == "important_win_back"
    answer = set(rfm_labels.loc[winback, "customer_id"])
    teaching.check("L2.2", answer)

# %% [markdown] tags=["lang-en"]
# ## 2. ABC: grading by share of value
#
# ABC grading ranks customers by net value, best first, and follows the cumulative share of
# value: **A** customers make up the first 70% of value, **B** the next 20% (up to 90%),
# **C** the rest. The customer whose value crosses 70% still counts as A. The course
# material also shows a headcount variant: the top 5% are A, the next 15% B and the other
# 80% C.
#
# ### Worked example: the headcount variant
#
# Rank by net value and take the first round(N × 0.05) customers.

# %% [markdown] tags=["lang-zh"]
# ## 2. ABC 分类：按价值占比分级
#
# ABC 分类按净价值从高到低排列客户，看价值的累计占比：构成前 70% 价值的是 **A** 类，其后 20%（累计到 90%）是 **B** 类，其余为 **C** 类。跨过 70% 的那位客户仍算 A 类。教材中还有按人数切分的做法：前 5% 为 A 类，其后 15% 为 B 类，其余 80% 为 C 类。
#
# ### 例题：按人数切分
#
# 按净价值排序，取前 round(N × 0.05) 位客户。

# %%
# The top 5% of customers by net value and their share of it
by_value = features.sort_values(["net_value", "customer_id"], ascending=[False, True])
k5 = int(np.floor(0.05 * N + 0.5))
top5 = by_value["net_value"].head(k5).sum()
n.tell("lesson2.headcount", customers=N, top=k5, value=top5,
       share=top5 / by_value["net_value"].sum())

# %% [markdown] tags=["lang-en"]
# ### Exercise L2.3
#
# How many customers are in class **A** by value (the smallest group of best customers
# holding at least 70% of net value)? Hint: `cumsum()` and `shift()`.

# %% [markdown] tags=["lang-zh"]
# ### 练习 L2.3
#
# 按价值切分时，**A 类**客户有多少位（净价值合计至少达到 70% 的最少的一组最佳客户）？提示：`cumsum()` 和 `shift()`。

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
# ABC grading with the library: table, Pareto chart and the C customers
abc_sum = abc(features, value="net_value").summary
show_grades(abc_sum, "abc", n)
with ch.figure(size=(8, 5)) as ax:
    plots.pareto_chart(features["net_value"], cuts=(0.70, 0.90), value_label="net_value",
                       ax=ax, lang=lang)
ab = abc_sum.set_index("grade")
n.tell("lesson2.abc", a_customers=ab.loc["A", "share_customers"],
       c_customers=ab.loc["C", "share_customers"], c_value=ab.loc["C", "share_value"])

# %% [markdown] tags=["lang-en"]
# ## 3. Actual and potential value: MVC, MGC and BZ
#
# Peppers and Rogers sort customers by what they are worth **now** and what they **could**
# be worth:
#
# - **MVC**, most valuable customers: the top 20% by actual value — keep them;
# - **MGC**, most growable customers: among the others, those whose potential value exceeds
#   their actual value by the most (again up to 20% of customers) — grow them;
# - **BZ**, below-zero customers: net value below 0 — they cost more than they bring.
#
# `potential_value` estimates each customer's net value over the next 12 months: for each of
# their cars, the chance that it comes back within a year (from how similar cars behaved a
# year ago) times what a retained car of that age earns the store. `actual_value` is the
# window's net value per 12 months, on the same scale; `growth` = potential − actual.

# %% [markdown] tags=["lang-zh"]
# ## 3. 实际价值与潜在价值：MVC、MGC 与 BZ
#
# Peppers 和 Rogers 按客户**现在**的价值和**可能**的价值给客户分类：
#
# - **MVC** 最具价值客户：实际价值最高的 20%——要留住；
# - **MGC** 最具增长潜力客户：其余客户中潜在价值超出实际价值最多的（同样至多 20%）——要培养；
# - **BZ** 负价值客户：净价值小于 0——服务成本高于其带来的毛利。
#
# `potential_value` 估计每位客户未来 12 个月的净价值：对客户的每辆车，用其一年内回厂的概率（依据一年前情况相似的车辆后来的表现）乘以该车龄的保有车辆为本店带来的价值。`actual_value` 是分析期净价值折算成每 12 个月的数值，口径相同；`growth` = 潜在 − 实际。

# %%
# Actual and potential value per customer
pot = potential_value(data.dataset, as_of=T, features=features, store_id=data.store_id)
display(pot[["customer_id", "actual_value", "potential_value", "growth", "p_return"]].head())

# %% [markdown] tags=["lang-en"]
# ### Exercise L2.4
#
# How many customers are **below zero** (BZ: net value in `features` below 0)?

# %% [markdown] tags=["lang-zh"]
# ### 练习 L2.4
#
# 有多少位**负价值客户**（BZ：`features` 中净价值小于 0）？

# %% tags=["exercise"]
# L2.4: number of below-zero customers
answer = None  # YOUR ANSWER
teaching.check("L2.4", answer)

# %% tags=["solution"]
if solutions:
    answer = int(features["net_value"].lt(0).sum())
    teaching.check("L2.4", answer)

# %% [markdown] tags=["lang-en"]
# ### Exercise L2.5
#
# Give the `customer_id`s of the **most growable customers** (MGC) as a set. Use
# `mvc_mgc_bz(features, pot)` from `crm_analysis.value`, or build the rule yourself: remove
# BZ and the top round(N × 0.2) by net value, keep those with growth above 0, and take the
# round(N × 0.2) with the largest growth.

# %% [markdown] tags=["lang-zh"]
# ### 练习 L2.5
#
# 请以集合给出**最具增长潜力客户**（MGC）的 `customer_id`。可以用 `crm_analysis.value` 中的`mvc_mgc_bz(features, pot)`，也可以自己实现规则：去掉负价值客户和净价值最高的round(N × 0.2) 位，保留增长额大于 0 的客户，取增长额最大的 round(N × 0.2) 位。

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
# MVC, MGC and BZ with the library: table, value matrix and what each group is worth
vg_result = mvc_mgc_bz(features, pot)
vg_labels, vg_sum = vg_result.labels, vg_result.summary
show_grades(vg_sum, "value_group", n)
with ch.figure(size=(8, 6)) as ax:
    plots.value_matrix(vg_labels, ax=ax, lang=lang)
vg = vg_sum.set_index("grade")
mgc_rows = vg_labels[vg_labels["value_group"] == "mgc"]
n.tell("lesson2.groups", mvc=vg.loc["mvc", "customers"], mvc_value=vg.loc["mvc", "share_value"],
       mgc=vg.loc["mgc", "customers"], mgc_now=mgc_rows["actual_value"].mean(),
       mgc_next=mgc_rows["potential_value"].mean(), bz=vg.loc["bz", "customers"],
       bz_loss=-vg.loc["bz", "value"])

# %% [markdown] tags=["lang-en"]
# ## Discussion: this week's call list

# %% [markdown] tags=["lang-zh"]
# ## 讨论：本周的回访名单

# %%
# How many calls the service manager can make this week
n.tell("lesson2.calls", calls=max(N // 10, 1))

# %% [markdown] tags=["lang-en"]
# - Which RFM segment would you call first, and with what offer: an important win-back
#   customer, an important develop customer, or an MGC? Why?
# - RFM, ABC and MVC/MGC/BZ put some customers in different groups. Find one customer who
#   is class A but not important value (or the other way round) and explain why.
# - The course warns that grading can clash with fairness. How would you treat the BZ
#   customers without losing their goodwill (and their word of mouth)?

# %% [markdown] tags=["lang-zh"]
# - 你会先打给哪一类客户、提供什么优惠：重要挽留客户、重要发展客户，还是最具增长潜力客户？为什么？
# - RFM、ABC 和 MVC/MGC/BZ 会把一些客户分到不同的组。找出一位 A 类但不是重要价值客户（或反过来）的客户，并解释原因。
# - 教材提醒客户分级可能与公平产生矛盾。你会如何对待负价值客户，而又不失去他们的好感（和口碑）？

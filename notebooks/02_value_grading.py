# %% [markdown] tags=["lang-en"]
# # 02 · Value grading
#
# Which owners is the store's after-sales business built on, and how should it spend its
# limited attention across them? A store cannot give every customer the same attention. This
# chapter on customer value grading follows the structure of the classic 4S-store thesis on
# customer grading: why grade (customers differ in value), how to grade (customer pyramid,
# ABC, RFM, MVC/MGC/BZ, clusters), what each grade looks like, and how to manage each grade.
# Every number in the text comes from the data.

# %% [markdown] tags=["lang-zh"]
# # 02 · 客户价值分级
#
# 门店的售后业务依靠哪些车主？有限的精力又该如何在他们之间分配？门店无法对每位客户一视同仁。本章沿用4S店客户分级经典论文的结构：为什么要分级（客户价值各不相同）、如何分级（客户金字塔、ABC、RFM、MVC/MGC/BZ、聚类）、各级客户是什么样子，以及如何管理各级客户。文中的每个数字都来自数据。

# %% tags=["parameters"]
data_dir = None  # folder of the dataset; None means data/sample
store_id = "001"  # the store to report on (a string: "007" stays "007")
as_of = None  # analysis date "YYYY-MM-DD"; None means the export date of the data
window_months = 24  # look-back window of the value measures, in months
pyramid_cuts = [0.01, 0.20, 0.50]  # cumulative shares: important, key (top 20%), normal
lang = "en"  # "en" or "zh"

# %%
# Open the store and measure each customer's value over the window
from crm_analysis import plots, value
from crm_analysis.features import customer_features
from crm_analysis.i18n import t
from crm_analysis.notebook import open_chapter, progress

ch = open_chapter(data_dir, store_id=store_id, as_of=as_of, lang=lang)
n, T, ds, store_id = ch.n, ch.as_of, ch.data, ch.store_id
window_months, cuts = int(window_months), tuple(float(c) for c in pyramid_cuts)
features = customer_features(ds, as_of=T, window_months=window_months, store_id=store_id)
N, gp_total = len(features), features["gross_profit"].sum()
net_total = features["net_value"].sum()

# %%
# The store, the window, and what its customers paid and left
ch.title()
per_order = features["cost_to_serve"].sum() / features["orders"].sum()
n.tell("nb02.window", months=window_months, customers=N, revenue=features["revenue"].sum(),
       gross_profit=gp_total, cost_per_order=per_order, net_value=net_total)

# %% [markdown] tags=["lang-en"]
# ## 1. Why grade customers: value is concentrated
#
# Each customer's **net value** is the gross profit of their orders (revenue minus parts and
# labour cost) minus a fixed cost to serve each order. The Lorenz curve sorts customers from
# the least to the most valuable and plots the share of value held by each share of customers;
# the further it bends below the diagonal, the more unequal the customers.

# %% [markdown] tags=["lang-zh"]
# ## 1. 为什么要分级：客户价值高度集中
#
# 每位客户的**净价值**等于其工单毛利（收入减去配件和工时成本）减去每单固定的服务成本。洛伦兹曲线把客户按价值从低到高排序，画出每一部分客户所占的价值份额；曲线越向对角线下方弯曲，客户之间的价值差异越大。

# %%
# Lorenz curve of gross profit: how far the customers are from equal
g_gp, g_net = value.gini(features["gross_profit"]), value.gini(features["net_value"])
with ch.figure(size=(6.5, 6)) as ax:
    plots.lorenz_curve(value.lorenz(features["gross_profit"]), gini=g_gp, highlight=0.2,
                       value_label="gross_profit", ax=ax, lang=lang)

# %%
# How much of the value the top customers bring, and how many are worth less than nothing
top20_gp = value.top_share(features["gross_profit"], 0.20)
top20_net = value.top_share(features["net_value"], 0.20)
negative = int((features["net_value"] < 0).sum())
n.tell("nb02.concentration", top20_gp=top20_gp, top20_net=top20_net,
       top1_gp=value.top_share(features["gross_profit"], 0.01),
       bottom50_gp=1 - value.top_share(features["gross_profit"], 0.50), gini=g_gp,
       negative=negative, negative_share=negative / N)

# %% [markdown] tags=["lang-en"]
# Value this uneven is the reason to grade: the same advisor hour or campaign yuan returns
# very different amounts depending on whom it is spent on.

# %% [markdown] tags=["lang-zh"]
# 价值分布如此不均，正是客户分级的理由：同样一小时的顾问时间、同样一元的营销费用，花在不同客户身上，回报相差很大。

# %% [markdown] tags=["lang-en"]
# ## 2. How to grade
#
# ### 2.1 The customer pyramid

# %% [markdown] tags=["lang-zh"]
# ## 2. 如何分级
#
# ### 2.1 客户金字塔

# %%
# The pyramid's tiers (parameter pyramid_cuts)
n.tell("nb02.pyramid_cuts", important=cuts[0], secondary=cuts[1] - cuts[0], top_key=cuts[1],
       normal=cuts[2] - cuts[1], small=1 - cuts[2])

# %%
# Grade the customers into the pyramid
pyr_result = value.pyramid(features, value="net_value", cuts=cuts)
pyr_labels, pyr = pyr_result.labels, pyr_result.summary
shown = value.grade_table(pyr, kind="pyramid", lang=lang)
n.table(shown.table, **shown.formats)
with ch.figure(1, 2, size=(12, 4.8)) as (left, right):
    plots.customer_pyramid(pyr, value_label="net_value", ax=left, lang=lang)
    plots.grade_shares(pyr, kind="pyramid", value_label="net_value", ax=right, lang=lang)

# %%
# Key against small customers, and how many important customers are fleets
p = pyr.set_index("grade")
key, key_share = p.loc[["important", "secondary"], ["customers", "share_value"]].sum()
graded = features.merge(pyr_labels, on="customer_id")
n.tell("nb02.pyramid", key_customers=key, key_share=key_share, small=p.loc["small", "customers"],
       small_share=p.loc["small", "share_value"],
       important_value=p.loc["important", "value_per_customer"],
       important_visits=p.loc["important", "orders_per_year"],
       small_value=p.loc["small", "value_per_customer"],
       small_visits=p.loc["small", "orders_per_year"],
       fleet=value.fleet_share(graded[graded["value_grade"] == "important"]))

# %% [markdown] tags=["lang-en"]
# ### 2.2 ABC analysis
#
# ABC grading cuts the same ranking where cumulative value reaches 70% (A) and 90% (B); the
# rest is C. The teaching variant cuts by headcount instead: the top 5%, the next 15% and the
# remaining 80%.

# %% [markdown] tags=["lang-zh"]
# ### 2.2 ABC 分类
#
# ABC 分类沿用同一排序，在累计价值达到 70%（A 类）和 90%（B 类）处切分，其余为 C 类。教材中的另一种做法按人数切分：前 5%、其后 15%、其余 80%。

# %%
# ABC classes by cumulative value (and by headcount, for the text)
abc_sum = value.abc(features, value="net_value").summary
abc_count = value.abc(features, value="net_value", by="count").summary
shown = value.grade_table(abc_sum, kind="abc", lang=lang)
n.table(shown.table, **shown.formats)
with ch.figure(size=(8, 5)) as ax:
    plots.pareto_chart(features["net_value"], cuts=(0.70, 0.90), value_label="net_value",
                       ax=ax, lang=lang)

# %%
# How few customers make most of the value
a, ac = abc_sum.set_index("grade"), abc_count.set_index("grade")
n.tell("nb02.abc", a_share=a.loc["A", "share_customers"], a_customers=a.loc["A", "customers"],
       ab_share=a.loc[["A", "B"], "share_customers"].sum(),
       top5_value=ac.loc["A", "share_value"], bottom80_value=ac.loc["C", "share_value"])

# %% [markdown] tags=["lang-en"]
# ### 2.3 RFM: eight segments
#
# RFM looks at behaviour rather than a single total: **recency** (days since the last visit),
# **frequency** (orders in the window) and **monetary** value (revenue in the window). Each is
# marked high or low against the store's mean, which gives the eight segments of the Chinese
# teaching standard.

# %% [markdown] tags=["lang-zh"]
# ### 2.3 RFM 八类客户
#
# RFM 不只看总额，而是看行为：**最近一次消费（R）**（距上次进厂的天数）、**消费频率（F）**（分析期内的工单数）和**消费金额（M）**（分析期内的收入）。三项各与本店平均值比较，分高低，组合成国内教材中的八类客户。

# %%
# The eight RFM segments, high or low against the store's mean
rfm_sum = value.rfm_segments(features, against="mean").summary
shown = value.grade_table(rfm_sum, kind="rfm", lang=lang)
n.table(shown.table, **shown.formats)
with ch.figure(size=(10, 5)) as ax:
    plots.rfm_segment_bars(rfm_sum, value_label="net_value", ax=ax, lang=lang)

# %%
# The segment with the most value, and the big spenders to win back
r = rfm_sum.set_index("grade")
biggest, winback = r["share_value"].idxmax(), r.loc["important_win_back"]
n.tell("nb02.rfm", segment=t(f"rfm.{biggest}", lang),
       customer_share=r.loc[biggest, "share_customers"], value_share=r.loc[biggest, "share_value"],
       winback=t("rfm.important_win_back", lang), winback_customers=winback["customers"],
       winback_share=winback["share_value"])

# %% [markdown] tags=["lang-en"]
# ### 2.4 Actual and potential value: MVC, MGC and BZ
#
# Peppers and Rogers split customers by what they are worth now and what they could be worth.
# **Actual value** is the customer's net value per year over the window. **Potential value**
# is the expected net value of the next twelve months: for each of the customer's cars, the
# chance that it comes back within a year (estimated from how customers with the same time
# since their last visit behaved a year earlier) times what a retained car of its next age
# typically earns this store. **Most valuable customers** (MVC) lead on actual value; **most
# growable customers** (MGC) have potential well above what they now bring; **below-zeros**
# (BZ) cost more than they earn.

# %% [markdown] tags=["lang-zh"]
# ### 2.4 实际价值与潜在价值：MVC、MGC 与 BZ
#
# Peppers 和 Rogers 按客户当前的价值和可能的价值来划分客户。**实际价值**是客户在分析期内年均的净价值；**潜在价值**是未来十二个月的期望净价值：对客户的每辆车，用其一年内回厂的概率（依据一年前距上次进厂时间相同的客户后来的表现估计）乘以本店同车龄（下一年）保有车辆通常带来的年净价值。**最具价值客户**（MVC）实际价值最高；**最具增长潜力客户**（MGC）的潜在价值明显高于当前贡献；**负价值客户**（BZ）带来的毛利低于服务成本。

# %%
# Potential value of the next twelve months, and the MVC / MGC / BZ groups
pot = value.potential_value(ds, as_of=T, features=features, store_id=store_id)
vg_result = value.mvc_mgc_bz(features, pot)
vg_labels, vg_sum = vg_result.labels, vg_result.summary
shown = value.grade_table(vg_sum, kind="value_group", lang=lang)
n.table(shown.table, **shown.formats)
with ch.figure(size=(8, 6)) as ax:
    plots.value_matrix(vg_labels, ax=ax, lang=lang)

# %%
# How many customers are most valuable, most growable and below zero
vg = vg_sum.set_index("grade")
mgc = vg_labels[vg_labels["value_group"] == "mgc"]
n.tell("nb02.value_groups", mvc=vg.loc["mvc", "customers"], mvc_share=vg.loc["mvc", "share_value"],
       mgc=vg.loc["mgc", "customers"], mgc_potential=mgc["potential_value"].mean(),
       mgc_actual=mgc["actual_value"].mean(), bz=vg.loc["bz", "customers"],
       bz_value=vg.loc["bz", "value"])

# %% [markdown] tags=["lang-en"]
# ### 2.5 Data-driven groups: k-means clusters
#
# Cuts chosen in advance may not match the groups that are really there. k-means on the
# standardised logarithms of recency, frequency, monetary value and vehicle age finds groups
# from the data; the number of groups, between three and eight (two groups only separate active
# from lapsed customers), is the one with the best silhouette score, and each group is named
# from its centre.

# %% [markdown] tags=["lang-zh"]
# ### 2.5 数据驱动的分群：k 均值聚类
#
# 事先给定的切分点未必符合客户的真实分布。对最近消费、消费频率、消费金额和车龄取对数并标准化后做k 均值聚类，由数据找出客户群；群数在三到八之间（分两群只能区分活跃与流失客户）取轮廓系数最高者，每个群按其中心特征命名。

# %%
# k-means for 3 to 8 clusters, the slow step of the chapter (a progress bar shows the fits)
cl_sum = value.clusters(features, k_range=range(3, 9),
                        progress=lambda ks: progress(ks, desc="k-means")).summary
with ch.figure(size=(9, 0.6 * len(cl_sum) + 2.5)) as ax:
    plots.cluster_profile(cl_sum, ax=ax, lang=lang)
shown = value.grade_table(cl_sum, kind="cluster", lang=lang)
n.table(shown.table, **shown.formats)
k, best = len(cl_sum), cl_sum.loc[cl_sum["share_value"].idxmax()]
n.tell("nb02.clusters", k=k, name=best[f"cluster_name_{lang}"],
       value_share=best["share_value"], customer_share=best["share_customers"])

# %% [markdown] tags=["lang-en"]
# ## 3. What each grade looks like
#
# The after-sales deck segments owners on six dimensions: vehicle age, usage, value grade,
# occupation, region and vehicle grade. The heat map crosses value grade with vehicle age; the
# table below profiles the pyramid grades on the other dimensions: each cell gives the most
# common value of a dimension within a grade and its share.

# %% [markdown] tags=["lang-zh"]
# ## 3. 各级客户的画像
#
# 售后业务资料从六个维度细分车主：车龄、车辆用途、价值等级、职业、区域和车辆档次。热力图交叉展示价值等级与车龄；下表从其余维度刻画金字塔各级客户：每个单元格给出该等级客户在该维度上最常见的取值及其占比。

# %%
# Value grade against vehicle age
prof_age = value.profile(graded, by=["value_grade", "age_segment"], as_of=T)
with ch.figure(size=(9, 4.5)) as ax:
    plots.profile_heatmap(prof_age, row="value_grade", col="age_segment",
                          value="share_customers", ax=ax, lang=lang)

# %%
# The most common owner of each grade, and how many of each grade came in this year
dominant = value.dominant_values(graded)
n.table(value.dominant_table(dominant, lang=lang).table)
prof_grade = value.profile(graded, by=["value_grade"], as_of=T).set_index("value_grade")
n.tell("nb02.retention", important=prof_grade.loc["important", "retention_rate"],
       small=prof_grade.loc["small", "retention_rate"])

# %% [markdown] tags=["lang-en"]
# ## 4. How to manage each grade
#
# Grading matters only if resources follow it.

# %% [markdown] tags=["lang-zh"]
# ## 4. 如何管理各级客户
#
# 分级只有在资源随之分配时才有意义。

# %%
# The resources to share: advisor hours for care calls and a campaign budget
hours_per_advisor = 200  # hours a year each advisor spends on follow-up and care calls
campaign_share = 0.03  # share of yearly after-sales gross profit spent on CRM campaigns
n_advisors = value.active_advisors(ds.repair_orders, as_of=T, months=12)
hours = n_advisors * hours_per_advisor
budget = campaign_share * gp_total / (window_months / 12)
n.tell("nb02.resources", advisors=n_advisors, hours_per_advisor=hours_per_advisor, hours=hours,
       campaign_share=campaign_share, budget=budget)

# %%
# Share them among the pyramid tiers by value and by head
alloc = value.allocate(pyr, resources={"hours": hours, "budget": budget})
with ch.figure(size=(9, 4.8)) as ax:
    plots.allocation_bars(alloc, kind="pyramid", value_label="net_value", ax=ax, lang=lang)

# %%
# What the key, important and small customers would receive, and the thesis' advice per grade
al = alloc.set_index("grade")
n.tell("nb02.allocation", hours=al.loc[["important", "secondary"], "hours_by_value"].sum(),
       budget=al.loc[["important", "secondary"], "budget_by_value"].sum(),
       important=al.loc["important", "budget_per_customer"],
       small=al.loc["small", "budget_per_customer"])
n.tell("nb02.advice", mgc=vg.loc["mgc", "customers"], bz=vg.loc["bz", "customers"])

# %% [markdown] tags=["lang-en"]
# ## What it means for the store

# %% [markdown] tags=["lang-zh"]
# ## 对门店的启示

# %%
# The chapter in four points
small_value = p.loc["small", "value_per_customer"]
ratio_text = (n.text("nb02.ratio_small", ratio=p.loc["secondary", "value_per_customer"]
                     / small_value) if small_value > 0 else n.text("nb02.ratio_none"))
n.tell("nb02.summary", top20_gp=top20_gp, gini=g_gp, key_customers=key, ratio_text=ratio_text,
       mgc=vg.loc["mgc", "customers"], bz=vg.loc["bz", "customers"])

# %%
# Key metrics, read back by the tests and the report runner
metrics = n.record(
    store_id=store_id, as_of=T.date().isoformat(), window_months=window_months, customers=N,
    gross_profit=gp_total, net_value=net_total, top20_share_gross_profit=top20_gp,
    top20_share_net_value=top20_net, gini_gross_profit=g_gp, gini_net_value=g_net,
    pyramid_customers={g: int(c) for g, c in zip(pyr["grade"], pyr["customers"], strict=True)},
    key_share_net_value=key_share,
    abc_customers={g: int(c) for g, c in zip(abc_sum["grade"], abc_sum["customers"], strict=True)},
    below_zero=int(vg.loc["bz", "customers"]), mvc=int(vg.loc["mvc", "customers"]),
    mgc=int(vg.loc["mgc", "customers"]), clusters=k,
)

# %% [markdown] tags=["lang-en"]
# # L4 · Survival of the customer relationship
#
# Run the cells from top to bottom. In every cell marked `# YOUR ANSWER`, replace `None`
# with your answer and run the cell again: the line under it tells you at once whether
# it is right. The sentences with your store's numbers are written by the code cells, in
# the language chosen by `lang` in the next cell.
#
# **The store manager asks:** *"We sell a car, the owner comes for the first services.
# How long do owners keep coming back to us, and when do we lose them?"*
#
# **Learning goals.** After this lesson you can
# 1. say when a customer relationship has ended, and why some relationships cannot be
#    judged yet (**censoring**);
# 2. recognise cars that join late, when they were bought elsewhere (**left truncation**);
# 3. explain why the average length of the relationships that ended is too short;
# 4. estimate and read a **Kaplan-Meier** curve on the vehicle-age scale.

# %% [markdown] tags=["lang-zh"]
# # L4 · 客户关系的生存分析
#
# 从上到下依次运行各单元格。在标有 `# YOUR ANSWER` 的单元格中，把 `None` 换成你的答案后重新运行，下方会立即显示答案是否正确。含有本店数字的句子由代码单元格生成，语言由下一个单元格中的 `lang` 决定。
#
# **店长的问题：**“我们卖出一辆车，车主回来做了头几次保养。车主会持续回厂多久？我们在什么时候失去他们？”
#
# **学习目标。** 学完本课，你能够：
# 1. 判断一段客户关系何时结束，并说明为什么有些关系目前还无法判断（**删失**）；
# 2. 识别在别处购买、中途才来本店的车辆（**左截断**）；
# 3. 解释为什么只对已结束关系求平均时长会偏短；
# 4. 在车龄时间轴上估计并解读 **Kaplan-Meier** 曲线。

# %% tags=["parameters"]
data_dir = "data/sample"  # str: the student's data folder
as_of = None  # str ISO date or None
lang = "en"  # "en" or "zh"
solutions = False  # bool: True fills in the answers (teacher's version)
store_id = ""  # str: "" means the first store of the data

# %%
# Load the student's store (every answer is checked on it), narration and figures in `lang`
import numpy as np

from crm_analysis import plots, plotting, teaching
from crm_analysis.notebook import open_chapter
from crm_analysis.overview import window_start
from crm_analysis.survival import defection_table, survival_by_vehicle_age
from crm_analysis.teaching.lessons import l4

data = teaching.start("L4", data_dir, as_of=as_of, lang=lang, store_id=store_id or None)
ch = open_chapter(data.dataset, store_id=data.store_id, as_of=data.as_of, lang=lang)
n, T = ch.n, data.as_of
LAPSE = 12  # months without an order after which a relationship has ended
H = window_start(LAPSE, as_of=T)  # the horizon: relationships are judged up to this date
ch.title()

# %% [markdown] tags=["lang-en"]
# ## 1. When has a relationship ended?
#
# A relationship is one car at this store. Nobody tells the store that they have left,
# so we use a rule: the relationship **has ended at its last order** when no order
# followed within 12 months. That rule can only be applied to last orders up to the
# **horizon**, 12 months before the analysis date. A car that has been here since then
# is still going, and so is a car whose last order is after the horizon: we only know
# that its relationship lasted **at least** until the horizon. It is **censored** there.
#
# Time is the **age of the car**. A car sold here joins at age 0 (the sale). A car bought
# elsewhere joins at its first visit, at the age it had then: before that age we could
# not have seen it leave, so it must not count as a customer at younger ages. That is
# **left truncation** (a late entry).

# %% [markdown] tags=["lang-zh"]
# ## 1. 客户关系何时结束？
#
# 一段客户关系指一辆车与本店的关系。客户离开时不会通知门店，所以我们用一条规则：如果最后一张工单之后12 个月内没有新工单，关系**在最后一张工单时结束**。这条规则只能用于**观察截止日**（分析日期前12 个月）及以前的最后工单。最后工单晚于观察截止日的车辆，关系仍在持续：我们只知道它**至少**持续到了观察截止日，这就是**删失**。
#
# 时间轴是**车龄**。本店销售的车辆在车龄 0（购车）时进入观察；在别处购买的车辆在第一次到店时进入，此时已有一定车龄：在那之前即使它离开我们也看不到，所以在更小的车龄上不能把它算作本店客户。这就是**左截断**（迟到进入）。

# %%
# The store's relationships: one row per car, with its entry and exit age, ended or censored
table = defection_table(data.dataset, as_of=T, store_id=data.store_id, lapse_months=LAPSE)
n.tell("lesson4.relationships", horizon=H, lapse=LAPSE, relationships=len(table),
       own=int(table["sold_here"].sum()), censored=int((~table["event"]).sum()))

# %% [markdown] tags=["lang-en"]
# ### A small table

# %% [markdown] tags=["lang-zh"]
# ### 一张小表

# %%
# Eight of the relationships, to work on by hand (the grader uses the same eight)
small = l4.small_table(data)
n.tell("lesson4.small_table", horizon=H)
shown = l4.small_table_view(small, lang)
_ = n.table(shown.table, **shown.formats)

# %%
# Each relationship as a bar from its entry age (|) to its exit (× ended, > censored)
with ch.figure(size=(9, 4.2)) as ax:
    for i, row in small.iloc[::-1].reset_index(drop=True).iterrows():
        color = "#C44E52" if row["event"] else "#4C72B0"
        ax.plot([row["entry_age"], row["exit_age"]], [i, i], color=color, lw=3)
        ax.plot(row["entry_age"], i, "|", color="black", ms=14)
        ax.plot(row["exit_age"], i, "x" if row["event"] else ">", color=color, ms=9)
    ax.axvline(3, color="0.4", ls="--", lw=1)
    ax.set_yticks(range(len(small)), small["label"].iloc[::-1])
    ax.plot([], [], color="#C44E52", marker="x", lw=3, label=n.text("lesson4.plot.ended"))
    ax.plot([], [], color="#4C72B0", marker=">", lw=3, label=n.text("lesson4.plot.censored"))
    ax.legend(loc="upper right", fontsize="small")
    plotting.label(ax, n.text("lesson4.plot.title"), n.text("lesson4.plot.age"),
                   n.text("lesson4.plot.car"))

# %% [markdown] tags=["lang-en"]
# Each bar runs from the age at which the car joined (|) to its exit: a cross when the
# relationship ended, an arrow when it is censored. The dashed line marks age 3.
#
# **Exercise L4.1.** How many of the 8 relationships in the small table are censored?

# %% [markdown] tags=["lang-zh"]
# 每条横线从车辆进入观察的车龄（|）画到退出车龄：关系已结束的以叉号结尾，删失的以箭头结尾。虚线标出车龄 3 年。
#
# **练习 L4.1。** 小表中的 8 段客户关系有几段是删失的？

# %% tags=["exercise"]
# L4.1: how many of the 8 relationships in the small table are censored?
answer = None  # YOUR ANSWER
teaching.check("L4.1", answer)

# %% tags=["solution"]
if solutions:
    answer = len(small) - int(small["event"].sum())
    teaching.check("L4.1", answer)

# %% [markdown] tags=["lang-en"]
# **Exercise L4.2.** How many of the 8 relationships enter late (left truncation), i.e.
# join at an age above 0?

# %% [markdown] tags=["lang-zh"]
# **练习 L4.2。** 8 段关系中有几段是迟到进入的（左截断），即进入车龄大于 0？

# %% tags=["exercise"]
# L4.2: how many of the 8 relationships enter late (entry age above 0)?
answer = None  # YOUR ANSWER
teaching.check("L4.2", answer)

# %% tags=["solution"]
if solutions:
    answer = int(small["entry_age"].gt(0).sum())
    teaching.check("L4.2", answer)

# %% [markdown] tags=["lang-en"]
# **Exercise L4.3.** Which relationships are **at risk** at vehicle age 3, i.e. already
# under observation and not yet gone? Answer with the letters, e.g. `{"A", "C"}`.

# %% [markdown] tags=["lang-zh"]
# **练习 L4.3。** 车龄 3 年时，哪些关系处于**风险集**中，即已经进入观察且尚未离开？用字母作答，例如 `{"A", "C"}`。

# %% tags=["exercise"]
# L4.3: the letters of the relationships at risk at vehicle age 3
answer = None  # YOUR ANSWER
teaching.check("L4.3", answer)

# %% tags=["solution"]
if solutions:
    answer = set(small.query("entry_age <= 3 and exit_age >= 3")["label"])
    teaching.check("L4.3", answer)

# %% [markdown] tags=["lang-en"]
# ## 2. Two tempting shortcuts, and why they are wrong
#
# *Shortcut 1: average the lengths of the relationships that ended.* The censored
# relationships are left out, and they are exactly the ones that have lasted long and
# are still going. The average comes out too short.
#
# *Shortcut 2: count every car from age 0.* A car bought elsewhere that joined at age 4
# would count as a loyal customer at ages 0–4, when it was not ours at all. Owners who
# left another dealer early never reach us, so the early years look better than they are.
#
# **Exercise L4.4.** Take shortcut 1 on purpose: the average exit age (in years) of the
# relationships **of cars sold here** that **ended** (use the whole `table`, not the
# small one).

# %% [markdown] tags=["lang-zh"]
# ## 2. 两条诱人的捷径，以及它们错在哪里
#
# *捷径 1：对已结束关系的时长求平均。* 删失的关系被排除在外，而它们恰恰是持续时间长、至今仍在持续的关系，所以平均值会偏短。
#
# *捷径 2：所有车辆都从车龄 0 开始计。* 一辆在别处购买、车龄 4 年时才来本店的车，会在车龄 0–4 年被算作忠诚客户，而那时它根本不是我们的客户。早早离开其他经销商的车主根本不会来到本店，于是前几年看起来比实际更好。
#
# **练习 L4.4。** 故意走一次捷径 1：**本店销售**的车辆中，**已结束**的关系的平均退出车龄（年）（使用完整的 `table`，而不是小表）。

# %% tags=["exercise"]
# L4.4: mean exit age of the ended relationships of cars sold here
answer = None  # YOUR ANSWER
teaching.check("L4.4", answer)

# %% tags=["solution"]
if solutions:
    own_ended = table[table["sold_here"] & table["event"]]
    answer = float(own_ended["exit_age"].mean())
    teaching.check("L4.4", answer)

# %% [markdown] tags=["lang-en"]
# ## 3. Kaplan-Meier: using every relationship for as long as we saw it
#
# Go through the ages at which relationships end, from young to old. At each such age,
# look at the relationships **at risk** (joined at or before that age and not gone before
# it) and at the share of them that end there. The chance of still being a customer is
# the product of (1 − that share) over all ages so far. A censored relationship counts in
# the risk sets until its horizon and then quietly leaves; a late entry counts only from
# its entry age. Nothing is thrown away and nothing is invented.
#
# ### Worked example: the small table by hand

# %% [markdown] tags=["lang-zh"]
# ## 3. Kaplan-Meier：每段关系在观察到的时间内都被用上
#
# 按车龄从小到大，依次查看有关系结束的每个车龄。在每个这样的车龄，找出处于**风险集**中的关系（在该车龄或之前进入观察、且在此之前尚未离开），计算其中在此车龄结束的比例。仍是客户的概率，就是到目前为止各车龄（1 − 该比例）的乘积。删失的关系在截止日之前一直计入风险集，之后悄然退出；迟到进入的关系只从进入车龄开始计入。没有数据被丢弃，也没有数据是编造的。
#
# ### 例题：手算小表

# %%
# Kaplan-Meier by hand on the small table: who is at risk, who ends, survival so far
steps = l4.risk_set_steps(small)
shown = l4.steps_view(steps, lang)
_ = n.table(shown.table, **shown.formats)

# %% [markdown] tags=["lang-en"]
# Read the table row by row: at each age, the survival so far is multiplied by (1 −
# ending ÷ number at risk). Censored cars never appear in the 'ending' column, yet they
# keep the risk sets large while they are observed.
#
# ### The whole store
#
# The same calculation on every relationship, for the cars sold here and the cars bought
# elsewhere (these join late, and their curve starts where enough of them are under
# observation). The shaded bands are 95% confidence intervals; the numbers under the axis
# are the cars at risk at each age.

# %% [markdown] tags=["lang-zh"]
# 逐行阅读：在每个车龄，把此前的生存率乘以（1 − 结束数 ÷ 风险集人数）。删失的车辆从不出现在“结束数”一列，但在被观察期间，它们让风险集保持较大。
#
# ### 全店
#
# 对全部客户关系做同样的计算，分别画出本店销售和他店销售的车辆（后者迟到进入，其曲线从有足够车辆进入观察的车龄开始）。阴影为 95% 置信区间；坐标轴下方的数字是各车龄处于风险集中的车辆数。

# %%
# Kaplan-Meier of every relationship: cars sold here against cars bought elsewhere
km = survival_by_vehicle_age(table, by="sold_here")
with ch.figure(size=(10, 6)) as ax:
    plots.survival_curves(km, ax=ax, lang=lang, title=n.text("lesson4.km_title"))

# %%
# The curve of the cars sold here at ages 1 and 5, and its start right after the sale
at = km.survival_at([1, 5]).set_index(["group", "age"])["survival"]
start = float(km.curve_.query("group == 'True'")["survival"].iloc[0])
n.tell("lesson4.own_curve", age1=at.get(("True", 1.0), np.nan),
       age5=at.get(("True", 5.0), np.nan), never=1 - start)

# %% [markdown] tags=["lang-en"]
# **Exercise L4.5.** With Kaplan-Meier, what share of the relationships of the cars
# **sold here** is still going at vehicle age **3**? (A share between 0 and 1.)

# %% [markdown] tags=["lang-zh"]
# **练习 L4.5。** 用 Kaplan-Meier 估计：**本店销售**的车辆中，客户关系在车龄 **3** 年时仍在持续的比例是多少？（0 到 1 之间的比例。）

# %% tags=["exercise"]
# L4.5: Kaplan-Meier survival at age 3 of the cars sold here
answer = None  # YOUR ANSWER
teaching.check("L4.5", answer)

# %% tags=["solution"]
if solutions:
    own_km = survival_by_vehicle_age(table[table["sold_here"]])
    answer = float(own_km.survival_at(3)["survival"].iloc[0])
    teaching.check("L4.5", answer)

# %% [markdown] tags=["lang-en"]
# **Exercise L4.6.** By what vehicle age have **three quarters** of the relationships of
# the cars sold here ended? Give the smallest age at which the Kaplan-Meier survival is
# 0.25 or less (the curve is in `km.curve_`; the cars sold here are the group `"True"`).

# %% [markdown] tags=["lang-zh"]
# **练习 L4.6。** 本店销售的车辆中，客户关系在什么车龄时已有**四分之三**结束？给出 Kaplan-Meier生存率首次不超过 0.25 的最小车龄（曲线在 `km.curve_` 中，本店销售的车辆是分组 `"True"`）。

# %% tags=["exercise"]
# L4.6: smallest age at which survival of the cars sold here is 0.25 or less
answer = None  # YOUR ANSWER
teaching.check("L4.6", answer)

# %% tags=["solution"]
if solutions:
    own_curve = km.curve_[km.curve_["group"] == "True"]
    answer = float(own_curve.loc[own_curve["survival"] <= 0.25, "age"].min())
    teaching.check("L4.6", answer)

# %% [markdown] tags=["lang-en"]
# ## What we learned

# %% [markdown] tags=["lang-zh"]
# ## 本课小结

# %%
# The median age of the cars sold here against the shortcut, and the steepest year
median_km = float(km.median_.get("True", np.nan))
naive = float(table.loc[table["sold_here"] & table["event"], "exit_age"].mean())
if median_km == median_km and naive > 0:
    n.tell("lesson4.median", median=median_km, ratio=median_km / naive)
else:
    n.tell("lesson4.median_not_reached")
own_by_year = km.survival_at(np.arange(0, 11)).query("group == 'True'")["survival"]
steepest = l4.steepest_year(own_by_year)
if steepest:
    n.tell("lesson4.steepest", start=steepest - 1, end=steepest)

# %% [markdown] tags=["lang-en"]
# - Censored relationships and late entries are not errors in the data: they are the
#   normal state of a customer base, and Kaplan-Meier is built to use them.
#
# ## Discussion question for the store
#
# *Where your curve falls fastest, what would you offer owners in the months before that
# age? And how would you see next year, on the same curve, whether it worked?*

# %% [markdown] tags=["lang-zh"]
# - 删失和迟到进入不是数据错误，而是客户群的常态；Kaplan-Meier 方法正是为利用它们而设计的。
#
# ## 给门店的讨论题
#
# *在曲线下降最快的车龄之前的几个月，你会为车主提供什么？明年你又如何在同一条曲线上看出措施是否见效？*

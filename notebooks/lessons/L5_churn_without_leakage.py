# %% [markdown] tags=["lang-en"]
# # L5 · Churn prediction without leakage
#
# Run the cells from top to bottom. In every cell marked `# YOUR ANSWER`, replace `None`
# with your answer and run the cell again: the line under it tells you at once whether
# it is right. The sentences with your store's numbers are written by the code cells, in
# the language chosen by `lang` in the next cell.
#
# **The store manager asks:** *"Which of my service customers will not come back next
# year, and whom should my service advisors call first?"*
#
# **Learning goals.** After this lesson you can
# 1. define churn at a date: a label from the future, features from the past only;
# 2. recognise **leakage**, a feature that peeks past the snapshot date, by its too-good
#    score;
# 3. test a model honestly with a **time-based split** and compare it with simple
#    **baselines** (ROC AUC);
# 4. check **calibration**: does a 70% churn probability mean 7 in 10 leave?
# 5. turn the scores into the **five value × risk classes** and a call list.

# %% [markdown] tags=["lang-zh"]
# # L5 · 无泄漏的流失预测
#
# 从上到下依次运行各单元格。在标有 `# YOUR ANSWER` 的单元格中，把 `None` 换成你的答案后重新运行，下方会立即显示答案是否正确。含有本店数字的句子由代码单元格生成，语言由下一个单元格中的 `lang` 决定。
#
# **店长的问题：**“我的售后客户中，明年谁不会再回来？服务顾问应该先给谁打电话？”
#
# **学习目标。** 学完本课，你能够：
# 1. 在某个时点定义流失：标签来自未来，特征只来自过去；
# 2. 从“好得不真实”的分数中识别**数据泄漏**，即偷看了快照日之后信息的特征；
# 3. 用**按时间切分**的方法如实检验模型，并与简单的**基准方法**比较（ROC AUC）；
# 4. 检查**校准**：流失概率 70% 是否意味着 10 人中有 7 人离开？
# 5. 把分数转化为**价值 × 风险五类客户**和一份回访清单。

# %% tags=["parameters"]
data_dir = "data/sample"  # str: the student's data folder
as_of = None  # str ISO date or None
lang = "en"  # "en" or "zh"
solutions = False  # bool: True fills in the answers (teacher's version)
store_id = ""  # str: "" means the first store of the data

# %%
# Load the student's store (every answer is checked on it), narration and figures in `lang`
from sklearn.metrics import roc_auc_score

from crm_analysis import plots, teaching
from crm_analysis.churn import ChurnModel, backtest, churn_snapshot
from crm_analysis.five_classes import CHURN_CLASSES, action_list, five_classes, high_value_threshold
from crm_analysis.notebook import open_chapter
from crm_analysis.overview import window_start
from crm_analysis.teaching.lessons import l5

data = teaching.start("L5", data_dir, as_of=as_of, lang=lang, store_id=store_id or None)
ch = open_chapter(data.dataset, store_id=data.store_id, as_of=data.as_of, lang=lang)
n, ds, sid, T = ch.n, data.dataset, data.store_id, data.as_of
HORIZON, WINDOW = 12, 24  # months: the label window after a date, the customer window before
ch.title()

# %% [markdown] tags=["lang-en"]
# ## 1. What is churn, at a date?
#
# Pick a date, the **snapshot date**. Its customers are those with an order in the 24
# months up to it. A customer **churned** when she has no order in the 12 months after
# it. The features describe her **as known on that date**; the label needs the following
# year. So the latest snapshot we can check is 12 months before the analysis date: the
# **test date**.

# %% [markdown] tags=["lang-zh"]
# ## 1. 某个时点的“流失”是什么？
#
# 选定一个日期，即**快照日**。快照中的客户是在此前 24 个月内有过工单的客户。如果客户在快照日之后12 个月内没有工单，就算**流失**。特征只描述**快照日当天已知**的情况；而标签需要之后一年的数据。所以能检验的最晚快照在分析日期前 12 个月，即**测试日**。

# %%
# The test snapshot: customers of the test date, features up to it, the label after it
T_test = window_start(HORIZON, as_of=T)  # the latest date whose outcome is already known
snap = churn_snapshot(ds, as_of=T_test, store_id=sid, window_months=WINDOW,
                      horizon_months=HORIZON)
n.tell("lesson5.snapshot", test_date=T_test, customers=len(snap))
shown = l5.snapshot_view(snap.head(6), lang)
_ = n.table(shown.table, **shown.formats)

# %% [markdown] tags=["lang-en"]
# **Exercise L5.1.** What share of the customers in the test snapshot churned? (A share
# between 0 and 1.)

# %% [markdown] tags=["lang-zh"]
# **练习 L5.1。** 测试快照中有多大比例的客户流失了？（0 到 1 之间的比例。）

# %% tags=["exercise"]
# L5.1: churn rate of the test snapshot
answer = None  # YOUR ANSWER
teaching.check("L5.1", answer)

# %% tags=["solution"]
if solutions:
    answer = float(snap["churned"].sum() / len(snap))
    teaching.check("L5.1", answer)

# %% [markdown] tags=["lang-en"]
# ## 2. Leakage: the feature that knows the future
#
# The customer table you download from the DMS today says when each customer last came.
# It is tempting to join it to last year's snapshot as a feature. But that date is
# measured **today**, after the test date, so it already contains the answer: a customer
# whose last visit is more than a year ago cannot have come back in the last year.
#
# ### Worked example
#
# Score each test customer by the days from the last visit in today's export to today,
# and measure how well it ranks churners above stayers (ROC AUC: 0.5 is a coin toss, 1
# is perfect).

# %% [markdown] tags=["lang-zh"]
# ## 2. 数据泄漏：知道未来的特征
#
# 今天从 DMS 导出的客户表里记录了每位客户最近一次到店的日期。很容易想把它作为特征并入去年的快照。但这个日期是**今天**测得的，晚于测试日，因此已经包含了答案：最近一次到店在一年以前的客户，不可能在最近一年回来过。
#
# ### 例题
#
# 用“今天导出数据中最近一次到店距今的天数”给每位测试客户打分，看它把流失客户排在留存客户前面的能力（ROC AUC：0.5 相当于抛硬币，1 为完美）。

# %%
# The leaky score: days from the last visit in today's export to today
orders = ds.repair_orders[ds.repair_orders["store_id"] == sid]
last_in_export = orders.groupby("customer_id")["open_date"].max()
leaky_recency = (T - snap["customer_id"].map(last_in_export)).dt.days
auc_leaky_last = roc_auc_score(snap["churned"], leaky_recency)
n.tell("lesson5.leaky_auc", auc=auc_leaky_last)

# %% [markdown] tags=["lang-en"]
# **Exercise L5.2.** The honest version: the ROC AUC of the **months since the last
# order at the test date** (the snapshot's `months_since_last_order`; longer = more risk)
# as a churn score on the test snapshot. This is the recency baseline.

# %% [markdown] tags=["lang-zh"]
# **练习 L5.2。** 诚实的版本：以**测试日距上次工单的月数**（快照中的 `months_since_last_order`；越久风险越高）为流失分数，在测试快照上的 ROC AUC。这就是最近进厂间隔基准。

# %% tags=["exercise"]
# L5.2: ROC AUC of months since the last order at the test date
answer = None  # YOUR ANSWER
teaching.check("L5.2", answer)

# %% tags=["solution"]
if solutions:
    answer = float(roc_auc_score(snap["churned"], snap["months_since_last_order"]))
    teaching.check("L5.2", answer)

# %% [markdown] tags=["lang-en"]
# **Exercise L5.3.** A quieter leak: count each test customer's orders in the 24 months
# up to the **analysis date** (as a table built today would), use minus that count as the
# churn score (fewer orders = more risk), and give its ROC AUC on the test snapshot.

# %% [markdown] tags=["lang-zh"]
# **练习 L5.3。** 一种更隐蔽的泄漏：统计每位测试客户截至**分析日期**前 24 个月的工单数（今天生成的表就是这样统计的），以其相反数为流失分数（工单越少风险越高），给出它在测试快照上的 ROC AUC。

# %% tags=["exercise"]
# L5.3: ROC AUC of minus the orders in the 24 months up to the analysis date
answer = None  # YOUR ANSWER
teaching.check("L5.3", answer)

# %% tags=["solution"]
if solutions:
    in_window = (orders["open_date"] > window_start(WINDOW, as_of=T)) & (orders["open_date"] <= T)
    recent_orders = orders[in_window]
    per_customer = recent_orders["customer_id"].value_counts()
    today_count = snap["customer_id"].map(per_customer).fillna(0)
    answer = float(roc_auc_score(snap["churned"], -today_count))
    teaching.check("L5.3", answer)

# %%
# The same visit count measured honestly, in the 24 months up to the test date
auc_honest_orders = roc_auc_score(snap["churned"], -snap["orders"])
n.tell("lesson5.honest_orders", window=WINDOW, auc=auc_honest_orders)

# %% [markdown] tags=["lang-en"]
# ## 3. A time-based split and three baselines
#
# A model must be tested on customers **at a date it has not seen**. A random split of
# customer snapshots mixes the years: the model can learn from a later snapshot what
# happened after an earlier one, and then be tested on that earlier one. So we train on
# yearly snapshots before the test date, whose labels are all known by then, and test on
# the snapshot of the test date. The model is a **logistic regression** on the snapshot
# features (visits, recency, spend, vehicle age, warranty, usage, …), cheap and
# deterministic.
#
# A model is only worth having if it beats simple rules: the **recency rule** (the churn
# rate of customers with the same months since their last visit, learned on the training
# snapshots), and two customer-base models' probability that the customer is no longer
# active: **BG/NBD**, which assumes memoryless visits, and **MBG/CNBD-k**, which allows
# regular ones (a service every six months) and a customer lost after a single visit.

# %% [markdown] tags=["lang-zh"]
# ## 3. 按时间切分，并与三个基准比较
#
# 模型必须在**它没见过的时点**的客户上检验。随机划分客户快照会把不同年份混在一起：模型可能从较晚的快照中学到较早快照之后发生的事，再拿那个较早的快照来检验。因此我们用测试日之前的年度快照训练（其标签在测试日前都已知晓），在测试日的快照上检验。模型是基于快照特征（到店次数、最近到店间隔、消费、车龄、质保、用途等）的**逻辑回归**，计算快、结果确定。
#
# 只有胜过简单规则，模型才值得使用：**最近进厂间隔规则**（在训练快照上学到的、距上次进厂月数相同的客户的流失率），以及两个客户群模型给出的客户已不再活跃的概率：假设进厂无记忆的 **BG/NBD**，和允许进厂有规律（如每半年保养一次）、客户只来一次也可能流失的 **MBG/CNBD-k**。

# %%
# Backtest: train on two yearly snapshots before the test date, test at the test date
res = backtest(ds, as_of=T, store_id=sid, horizon_months=HORIZON, window_months=WINDOW,
               train_snapshots=2, models=["logistic"], permutation_repeats=0,
               random_state=0, n_threads=1)
m = res.metrics_.set_index("model")
train_dates = " & ".join(n.date(d) for d in sorted(res.train_dates_))
n.tell("lesson5.split", train=train_dates, test_date=T_test)
shown = l5.metrics_view(res.metrics_, lang)
_ = n.table(shown.table, **shown.formats)

# %%
# ROC curves of the model and the baselines at the test date
with ch.figure(size=(6.5, 6)) as ax:
    plots.churn_roc(res, ax=ax, lang=lang)
better = m.loc["logistic", "roc_auc"] > m.loc["recency_rule", "roc_auc"]
n.tell("lesson5.vs_rule_better" if better else "lesson5.vs_rule_same",
       model=m.loc["logistic", "roc_auc"], rule=m.loc["recency_rule", "roc_auc"])

# %% [markdown] tags=["lang-en"]
# ## 4. Calibration: do the probabilities mean what they say?
#
# A ranking (ROC AUC) is enough to decide whom to call first. To plan how many calls to
# make, or what the at-risk customers are worth, the probabilities themselves must be
# right: among customers given about 30%, about 30% should churn. The chart puts the
# customers of the test date in ten bins of predicted probability and compares each
# bin's mean prediction with its observed churn rate; the diagonal is perfect. The
# **Brier score** in the table above (mean squared error of the probabilities; lower is
# better) sums ranking and calibration in one number.

# %% [markdown] tags=["lang-zh"]
# ## 4. 校准：概率是否名副其实？
#
# 决定先给谁打电话，排序（ROC AUC）就够了。但要计划打多少电话、估计易流失客户值多少钱，概率本身必须准确：被预测为约 30% 的客户中，应有约 30% 流失。下图把测试日的客户按预测概率分成十组，比较每组的平均预测与实际流失率；对角线代表完美校准。上表中的 **Brier 分数**（概率的均方误差，越低越好）把排序和校准合成一个数。

# %%
# Calibration of the model at the test date: predicted against observed churn
with ch.figure(size=(6.5, 6)) as ax:
    plots.churn_calibration(res, ax=ax, lang=lang)

# %% [markdown] tags=["lang-en"]
# **Exercise L5.4.** Check one point of the calibration yourself: among the test
# customers to whom the logistic model gives a churn probability of **0.5 or more**, what
# share actually churned? (The backtest's predictions are in `res.predictions_`.)

# %% [markdown] tags=["lang-zh"]
# **练习 L5.4。** 亲手检验校准图上的一点：逻辑回归模型给出流失概率**不低于 0.5** 的测试客户中，实际流失的比例是多少？（回测的预测结果在 `res.predictions_` 中。）

# %% tags=["exercise"]
# L5.4: observed churn rate among test customers with a logistic probability of 0.5 or more
answer = None  # YOUR ANSWER
teaching.check("L5.4", answer)

# %% tags=["solution"]
if solutions:
    pred = res.predictions_
    flagged = pred[pred["logistic"] >= 0.5]
    answer = float(flagged["churned"].mean())
    teaching.check("L5.4", answer)

# %% [markdown] tags=["lang-en"]
# ## 5. Five classes and a call list
#
# Retrained on the snapshots up to today (every label known), the model scores today's
# customers. Each customer also has a **value**: the net value (gross profit minus a
# handling cost per visit) of the last 24 months. Crossing value with risk gives the five
# classes of the CRM literature: customers with a net value of zero or less are
# **no-value**; the top share of the others are **high value**, the rest **low value**; a
# churn probability of 0.5 or more makes a customer **at risk**.

# %% [markdown] tags=["lang-zh"]
# ## 5. 五类客户与回访清单
#
# 用截至今天的快照（标签都已知晓）重新训练后，模型为今天的客户打分。每位客户还有一个**价值**：近 24 个月的净价值（毛利减去每次进厂的服务成本）。价值与风险交叉，得到客户关系管理文献中的五类客户：净价值不大于零的为**无价值客户**；其余客户中排在前列的为**高价值客户**，其他为**低价值客户**；流失概率不低于 0.5 的客户为**易流失**。

# %%
# Retrain on every snapshot up to today, score today's customers, cross value with risk
cm = ChurnModel(model="logistic", horizon_months=HORIZON, window_months=WINDOW,
                train_snapshots=2, random_state=0, n_threads=1)
scored = cm.fit(ds, as_of=T, store_id=sid).predict(ds, as_of=T, store_id=sid)
hv = high_value_threshold(scored["net_value"])
fc = five_classes(scored, value="net_value", risk="churn_probability", high_value=hv,
                  risk_threshold=0.5)
n.tell("lesson5.scored", customers=len(scored), window=WINDOW,
       share=l5.HIGH_VALUE_SHARE, threshold=hv)

# %%
# The five classes: customers, net value, mean churn probability, expected value at risk
summary = fc.summary.set_index("grade").reindex(list(CHURN_CLASSES))
shown = l5.classes_view(summary, lang)
_ = n.table(shown.table, **shown.formats)
with ch.figure(size=(10, 4.5)) as ax:
    plots.grade_shares(fc.summary, kind="churn_class", value_label="net_value", ax=ax,
                       lang=lang)

# %% [markdown] tags=["lang-en"]
# **Exercise L5.5.** The advisors have little time, so the manager wants to count only
# customers with a churn probability of **0.6 or more** as at risk (same high-value
# rule). How many **high-value customers are at risk** then?

# %% [markdown] tags=["lang-zh"]
# **练习 L5.5。** 服务顾问时间有限，店长希望只把流失概率**不低于 0.6** 的客户算作易流失（高价值规则不变）。这时**高价值易流失客户**有多少位？

# %% tags=["exercise"]
# L5.5: number of high-value at-risk customers with a 0.6 risk threshold
answer = None  # YOUR ANSWER
teaching.check("L5.5", answer)

# %% tags=["solution"]
if solutions:
    strict = five_classes(scored, risk_threshold=0.6)
    answer = int(strict.summary.set_index("grade").loc["high_value_at_risk", "customers"])
    teaching.check("L5.5", answer)

# %% [markdown] tags=["lang-en"]
# ### The call list
#
# The at-risk customers with a positive value, high-value first, each class sorted by the
# **expected value at risk** (churn probability × net value), with the model's main
# reasons. Customer ids are hidden here: the list goes to the advisors, the ids stay in
# the system.

# %% [markdown] tags=["lang-zh"]
# ### 回访清单
#
# 价值为正的易流失客户，高价值客户在前，每类按**期望流失价值**（流失概率 × 净价值）从高到低排序，并附上模型给出的主要原因。此处隐藏了客户编号：清单交给服务顾问，编号留在系统里。

# %%
# The call list, most expected value at risk first (without the customer ids)
calls = action_list(fc, scored)
n.tell("lesson5.calls", customers=len(calls))
shown = l5.calls_view(calls.head(10), lang)
_ = n.table(shown.table, **shown.formats)

# %% [markdown] tags=["lang-en"]
# **Exercise L5.6.** Give the real **customer ids** of the first 5 customers on the call
# list (a set of 5 strings). Use `action_list` on the five classes `fc` and the scores
# `scored`.

# %% [markdown] tags=["lang-zh"]
# **练习 L5.6。** 给出回访清单上前 5 位客户的真实**客户编号**（5 个字符串组成的集合）。对五类结果 `fc` 和打分结果 `scored` 使用 `action_list`。

# %% tags=["exercise"]
# L5.6: customer ids of the first 5 customers on the call list
answer = None  # YOUR ANSWER
teaching.check("L5.6", answer)

# %% tags=["solution"]
if solutions:
    first_five = action_list(fc, scored, top=5)
    answer = set(first_five["customer_id"])
    teaching.check("L5.6", answer)

# %% [markdown] tags=["lang-en"]
# ## What we learned

# %% [markdown] tags=["lang-zh"]
# ## 本课小结

# %%
# The lesson's findings on the store's own numbers
hv_risk = summary.loc["high_value_at_risk"]
n.tell("lesson5.learned", horizon=HORIZON, leaky=auc_leaky_last,
       honest=m.loc["logistic", "roc_auc"], customers=hv_risk["customers"],
       value=hv_risk["expected_value_at_risk"])

# %% [markdown] tags=["lang-en"]
# ## Discussion question for the store
#
# *Your advisors can make about 20 calls a week. Whom do they call first, what do they
# offer each reason (an overdue maintenance, a warranty that has ended, …), and how will
# you know next year that the calls, and not chance, kept the customers? (Think of a
# group of similar customers who are not called.)*

# %% [markdown] tags=["lang-zh"]
# ## 给门店的讨论题
#
# *服务顾问每周大约能打 20 个电话。先打给谁？针对不同原因（保养逾期、质保已到期等）分别提供什么？明年你如何判断留住客户的是电话回访而不是运气？（想一想：留出一组情况相似、但不打电话的客户。）*

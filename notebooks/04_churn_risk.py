# %% [markdown] tags=["lang-en"]
# # 04 · Churn risk and the five customer classes
#
# Which of the store's service customers will not come back, and which of them are worth a
# call? A customer who stops coming costs the store every visit she would have made, and the
# store usually notices only when it is too late to ask why. This chapter predicts, for every
# recent customer, the probability of churning, checks that prediction honestly on a past
# year against three baselines, and combines it with each customer's value into the five
# classes of the CRM literature: high-value stable, high-value at risk, low-value stable,
# low-value at risk and no-value. The result is a call list: the customers most worth
# keeping, who are most likely to leave, with the reasons the model sees.

# %% [markdown] tags=["lang-zh"]
# # 04 · 流失风险与五类客户
#
# 门店的售后客户中，哪些明年不会再回来？其中哪些值得打电话挽留？客户一旦不再回厂，门店就失去了他此后的每一次进厂，而门店往往等到为时已晚才发现，也来不及了解原因。本章为每位近期客户预测流失概率，在过去的一年上对照三种基准方法如实检验这一预测，再结合客户价值把客户分为客户关系管理文献中的五类：高价值稳定客户、高价值易流失客户、低价值稳定客户、低价值易流失客户和无价值客户。最终得到一份回访清单：最值得挽留、又最可能流失的客户，以及模型看到的流失原因。

# %% tags=["parameters"]
data_dir = None  # folder of the dataset; None means data/sample
store_id = "001"  # the store to report on (a string: "007" stays "007")
as_of = None  # analysis date "YYYY-MM-DD"; None means the export date of the data
horizon_months = 12  # a customer churns with no order in this many months after the date
window_months = 24  # customers scored: an order in this many months before the date
train_snapshots = 3  # yearly snapshots the model learns from
risk_threshold = 0.5  # churn probability from which a customer counts as at risk
high_value_share = 0.2  # top share of the positive-value customers counted as high value
call_list_size = 200  # customers in the Excel call list
shown_rows = 15  # customers of the call list shown in the report
call_list_dir = None  # folder to save the call list .xlsx in; None: only a download link
lang = "en"  # "en" or "zh"

# %%
# Libraries: the churn model, the five classes, charts, pseudonyms and the notebook kit
import io
from pathlib import Path

import pandas as pd

from crm_analysis import churn, plots
from crm_analysis import five_classes as classes
from crm_analysis.context import resolve_data_path
from crm_analysis.notebook import open_chapter
from crm_analysis.privacy import pseudonymize, store_key
from crm_analysis.safety import atomic_path, contained

# %%
# Open the store: data, analysis date, figures and narration in the report language
ch = open_chapter(data_dir, store_id=store_id, as_of=as_of, lang=lang)
n, T, dataset, store_id = ch.n, ch.as_of, ch.dataset, ch.store_id
horizon_months, window_months = int(horizon_months), int(window_months)
train_snapshots, call_list_size = int(train_snapshots), int(call_list_size)
shown_rows, risk_threshold = int(shown_rows), float(risk_threshold)
high_value_share = float(high_value_share)
key = store_key(resolve_data_path(data_dir))  # the pseudonymization key kept beside the data
common = dict(store_id=store_id, horizon_months=horizon_months, window_months=window_months)
sep = n.text("nb04.list_sep")

# %%
# The store, the analysis date and what churn means here
ch.title()
n.tell("nb04.scope", horizon=horizon_months, window=window_months)

# %% [markdown] tags=["lang-en"]
# ## 1. Can churn be predicted? A backtest on a year the model did not see
#
# A churn model is only useful if it predicts customers it has not seen, at a date it has
# not seen. The model is therefore trained on yearly snapshots of the store's customers, each
# described by what was known on that date only (visits, recency, spend, vehicle age,
# warranty, usage) and labelled by whether the customer came back within the churn horizon.
# It is then tested on a later snapshot whose outcome was hidden from training. Three
# baselines set the bar: the **recency rule** (the churn rate of customers with the same time
# since their last visit) and the probability that the customer is no longer alive of two
# buy-till-you-die models fitted on the visit histories alone: **BG/NBD** (visits at random
# moments) and **MBG/CNBD-k** (visits at more or less regular intervals, as services are; it
# also allows a customer to be gone after the first visit).

# %% [markdown] tags=["lang-zh"]
# ## 1. 流失能预测吗？在模型没见过的一年上回测
#
# 流失模型只有能预测它没见过的客户、没见过的时点，才有实用价值。因此模型用本店客户的年度快照训练，每个快照只使用当时已知的信息（进厂次数、最近进厂时间、消费、车龄、质保、用途），标签为客户在流失观察期内是否回厂；然后在一个更晚的快照上检验，其结果在训练时是隐藏的。三个基准方法作为对照：**最近进厂间隔规则**（与该客户距上次进厂时间相同的客户的流失率），以及仅凭进厂记录拟合的两个“购买直至流失”模型给出的客户已不再“存活”的概率：**BG/NBD**（进厂时刻随机）和 **MBG/CNBD-k**（进厂间隔大致规律，保养正是如此；它还允许客户在首次进厂后即已流失）。

# %%
# Backtest: train on yearly snapshots (as many as the history allows), test on the last year
res = churn.backtest_on_history(dataset, as_of=T, train_snapshots=train_snapshots, **common)
if len(res.train_dates_) < train_snapshots:
    n.tell("nb04.short_history", requested=train_snapshots, used=len(res.train_dates_))
train_snapshots = len(res.train_dates_)
m, best = res.metrics_.set_index("model"), res.best_model_
auc, lift_best = m["roc_auc"].astype(float), float(m.loc[best, "top_decile_lift"])
churn_rate_test = float(m.loc[best, "churn_rate"])
n.tell("nb04.backtest", train_dates=sep.join(n.date(d) for d in sorted(res.train_dates_)),
       n_train=m.loc[best, "n_train"], horizon=horizon_months, test_date=res.test_date_,
       n_test=m.loc[best, "n_test"], churn_rate=churn_rate_test)

# %%
# A buy-till-you-die baseline that did not converge is replaced by the next model: say so
for baseline, failed in churn.baseline_fallbacks(res).groupby("baseline", sort=False):
    used = failed["fitted_model"].iloc[0]
    n.tell("nb04.fallback_none" if pd.isna(used) else "nb04.fallback_used",
           failed=sep.join(churn.BTYD_MODELS[c] for c in failed["model"]),
           row=ch.label(f"churn_model.{baseline}"), used=churn.BTYD_MODELS.get(used, ""))

# %%
# Every model and baseline scored on the test year
table = res.metrics_
cols = {c: n.text(f"nb04.col_{c}") for c in ("method", "kind", "brier", "lift")}
shown = n.table(pd.DataFrame({
    cols["method"]: [ch.label(f"churn_model.{c}") for c in table["model"]],
    cols["kind"]: [ch.label(f"churn_model.kind_{k}") for k in table["kind"]],
    "ROC-AUC": table["roc_auc"],
    "PR-AUC": table["pr_auc"],
    cols["brier"]: table["brier"],
    cols["lift"]: table["top_decile_lift"],
}), floats=["ROC-AUC", "PR-AUC", cols["brier"], cols["lift"]], digits=3)

# %%
# ROC curves on the test year
with ch.figure(size=(7, 6)) as ax:
    plots.churn_roc(res, ax=ax, lang=lang)

# %%
# How well the best model ranks churners, against the three baselines
beats = auc[best] > auc[list(churn.BASELINES)].max()
n.tell("nb04.best", model=ch.label(f"churn_model.{best}"), auc=auc[best],
       auc_recency=auc["recency_rule"], auc_bgnbd=auc["bgnbd_p_alive"],
       auc_mbgcnbd=auc["mbgcnbd_p_alive"],
       verdict=n.text("nb04.beats" if beats else "nb04.no_beat"),
       lift=lift_best, max_lift=1 / churn_rate_test if churn_rate_test > 0 else float("nan"))

# %% [markdown] tags=["lang-en"]
# A probability is **calibrated** when, among the customers given about p, a share of about
# p churns. The left chart compares predicted and observed churn on the test year. The right
# chart shows what the model relies on: how much ROC-AUC falls when one feature is scrambled.

# %% [markdown] tags=["lang-zh"]
# 所谓概率**经过校准**，是指被预测为约 p 的客户中，约有 p 的比例确实流失。左图比较了测试年份的预测与实际流失率；右图显示模型依赖哪些信息：打乱某一特征后 ROC-AUC 下降多少。

# %%
# Calibration (left) and permutation importance (right) of the best model
with ch.figure(1, 2, size=(13, 5)) as (left, right):
    plots.churn_calibration(res, ax=left, lang=lang)
    plots.churn_importance(res, model=best, ax=right, lang=lang)

# %%
# How far predicted churn is from observed churn, and the model's three main features
gap = churn.calibration_gap(res, best)
top3 = res.importance_[res.importance_["model"] == best].head(3)["feature"]
n.tell("nb04.calibration", gap_points=gap * 100,
       reading=n.text("nb04.face_value" if gap <= 0.05 else "nb04.ranking"),
       features=sep.join(n.bold(ch.label(f"churn_model.feature_{f}")) for f in top3))

# %% [markdown] tags=["lang-en"]
# ## 2. Today's customers: who is likely to leave
#
# The model is retrained on the most recent snapshots whose outcome is known today and scores
# every customer of the scoring window. The histogram shows how the churn probabilities
# spread; the dashed line is the risk threshold.

# %% [markdown] tags=["lang-zh"]
# ## 2. 当前客户：谁可能流失
#
# 模型用结果在今天都已知晓的最近几个快照重新训练，再为打分窗口内的每位客户打分。直方图显示流失概率的分布，虚线为风险阈值。

# %%
# Score today's customers with the model retrained up to today
cm = churn.ChurnModel(model=best, train_snapshots=train_snapshots, horizon_months=horizon_months,
                      window_months=window_months).fit(dataset, as_of=T, store_id=store_id)
scored = cm.predict(dataset, as_of=T, store_id=store_id)
expected_churners = float(scored["churn_probability"].sum())
at_risk_n = int((scored["churn_probability"] >= risk_threshold).sum())
n.tell("nb04.scored", last_train=max(cm.train_dates_), customers=len(scored),
       window=window_months, churners=expected_churners,
       churn_share=expected_churners / len(scored), horizon=horizon_months,
       at_risk=at_risk_n, threshold=risk_threshold)

# %%
# The spread of today's churn probabilities
with ch.figure(size=(8, 4)) as ax:
    plots.churn_probabilities(scored, threshold=risk_threshold, horizon_months=horizon_months,
                              ax=ax, lang=lang)

# %% [markdown] tags=["lang-en"]
# ## 3. The five customer classes
#
# A customer's value is the net value (gross profit minus the cost of serving each visit).
# Customers with a net value of zero or less are **no-value**; the others are **high value**
# or **low value**, and **at risk** or **stable** by their churn probability. The expected
# value at risk of a class is the sum over its customers of churn probability times net value.

# %% [markdown] tags=["lang-zh"]
# ## 3. 五类客户
#
# 客户价值取净价值（毛利减去每次进厂的服务成本）。净价值不大于零的客户为**无价值客户**；其余客户分为**高价值客户**和**低价值客户**，再按流失概率分为**易流失**和**稳定**。某一类客户的期望流失价值，是该类每位客户的流失概率与净价值之积的总和。

# %%
# Cross value and churn risk: the five classes
hv = classes.high_value_threshold(scored["net_value"], share=high_value_share)
fc = classes.five_classes(scored, value="net_value", risk="churn_probability", high_value=hv,
                          risk_threshold=risk_threshold)
rows = fc.summary.set_index("grade").reindex(list(classes.CHURN_CLASSES))
n.tell("nb04.classes_rule", window=window_months, share=high_value_share, hv=hv,
       threshold=risk_threshold)

# %%
# The five classes side by side: customers, value, risk and expected value at risk
cols = {c: n.text(f"nb04.col_{c}") for c in ("class", "customers", "share_customers",
                                             "net_value", "share_value", "mean_risk",
                                             "value_at_risk")}
shown = n.table(pd.DataFrame({
    cols["class"]: [ch.label(f"churn_class.{c}") for c in rows.index],
    cols["customers"]: rows["customers"].astype(int),
    cols["share_customers"]: rows["share_customers"],
    cols["net_value"]: rows["value"],
    cols["share_value"]: rows["share_value"],
    cols["mean_risk"]: rows["mean_risk"],
    cols["value_at_risk"]: rows["expected_value_at_risk"],
}), ints=[cols["customers"]], money=[cols["net_value"], cols["value_at_risk"]],
    pct=[cols["share_customers"], cols["share_value"], cols["mean_risk"]])

# %%
# Shares of customers and of net value by class
with ch.figure(size=(10, 4.5)) as ax:
    plots.grade_shares(fc.summary, kind="churn_class", value_label="net_value", ax=ax,
                       lang=lang)

# %%
# The high-value customers at risk: their value and what is expected to leave with them
hv_risk = rows.loc["high_value_at_risk"]
n.tell("nb04.hv_at_risk", customers=hv_risk["customers"], value=hv_risk["value"],
       share_value=hv_risk["share_value"], expected_loss=hv_risk["expected_value_at_risk"],
       expected_total=rows["expected_value_at_risk"].clip(lower=0).sum())

# %% [markdown] tags=["lang-en"]
# ## 4. The call list
#
# The at-risk customers with a positive value, high-value first and then by expected value
# at risk, with the model's reasons for each. Customer ids are pseudonyms (a keyed hash kept
# beside the data), so the list can be shared; the store looks them up with its key.

# %% [markdown] tags=["lang-zh"]
# ## 4. 回访清单
#
# 价值为正的易流失客户，高价值客户在前，其余按期望流失价值排序，并列出模型给出的流失原因。客户编号为化名（用保存在数据旁的密钥生成的哈希），清单可以放心传阅，门店凭密钥查回客户。

# %%
# Who to call first, and the reasons the model gives most often
actions = classes.action_list(fc, scored, top=call_list_size)
mentions = [n.text("nb04.reason_count", reason=ch.label(f"churn_reason.{r.reason}"),
                   count=r.customers) for r in classes.top_reasons(actions, top=3).itertuples()]
n.tell("nb04.call_list", listed=len(actions), shown=min(shown_rows, len(actions)),
       reasons=sep.join(mentions))

# %%
# The first customers of the list, under their pseudonyms
show = actions.head(shown_rows)
cols = {c: n.text(f"nb04.col_{c}") for c in ("customer", "class", "model", "vehicle_age",
                                             "last_visit", "net_value", "churn_probability")}
shown = n.table(pd.DataFrame({
    "#": show["rank"].astype(int),
    cols["customer"]: pseudonymize(show["customer_id"], key),
    cols["class"]: [ch.label(f"churn_class.{c}") for c in show["churn_class"]],
    cols["model"]: show["model"],
    cols["vehicle_age"]: show["vehicle_age"],
    cols["last_visit"]: [n.date(d) for d in show["last_visit"]],
    cols["net_value"]: show["value"],
    cols["churn_probability"]: show["risk"],
    n.text("nb04.col_reasons"): classes.reason_labels(show, lang=lang),
}), money=[cols["net_value"]], pct=[cols["churn_probability"]], floats=[cols["vehicle_age"]], digits=1)

# %%
# The whole list as an Excel workbook: a download link, and a file in call_list_dir if set
buffer = io.BytesIO()
classes.write_action_list(actions, buffer, lang=lang, key=key,
                          title=n.plain("nb04.call_list_title", **ch.title_values()))
xlsx, file_name = buffer.getvalue(), f"call_list_{store_id}_{T.date().isoformat()}_{lang}.xlsx"
if call_list_dir:  # the file stays inside call_list_dir, whatever the store id holds
    Path(call_list_dir).mkdir(parents=True, exist_ok=True)
    with atomic_path(contained(call_list_dir, file_name)) as tmp:
        tmp.write_bytes(xlsx)
n.download(xlsx, file_name, n.plain("nb04.download", customers=len(actions)))

# %% [markdown] tags=["lang-en"]
# ## What it means for the store

# %% [markdown] tags=["lang-zh"]
# ## 对门店的启示

# %%
# The findings in three lines
n.tell("nb04.summary", auc=auc[best], lift=lift_best, churners=expected_churners,
       customers=len(scored), horizon=horizon_months, hv_at_risk=hv_risk["customers"],
       expected_loss=hv_risk["expected_value_at_risk"])

# %%
# Key metrics, read back by the report runner and the tests
metrics = n.record(
    store_id=store_id, as_of=T.date().isoformat(),
    test_date=res.test_date_.date().isoformat(), best_model=best,
    **{f"roc_auc_{k}": float(v) for k, v in m["roc_auc"].items()},
    **{f"brier_{k}": float(v) for k, v in m["brier"].items()},
    top_decile_lift=lift_best, test_churn_rate=churn_rate_test, calibration_gap=gap,
    customers_scored=int(len(scored)), expected_churners=expected_churners, at_risk=at_risk_n,
    high_value_threshold=float(hv),
    **{f"class_{c}": int(rows.loc[c, "customers"]) for c in classes.CHURN_CLASSES},
    high_value_at_risk_value=float(hv_risk["value"]),
    high_value_at_risk_expected_loss=float(hv_risk["expected_value_at_risk"]),
    call_list_customers=int(len(actions)),
)

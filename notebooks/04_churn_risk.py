# %% [markdown] tags=["remove-cell"]
# # 04 · Churn risk and the five customer classes
#
# Which of the store's service customers will not come back next year, and which of them
# are worth a call? This chapter builds a churn model on the store's own history, proves
# it on a year it did not see against three baselines, scores today's customers,
# sorts them into the five value x risk classes of the CRM literature and writes the call
# list. The report text is written by the code cells in the language chosen by `lang`;
# this cell is left out of the HTML report.

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
import base64
import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML, display

from crm_analysis import plots, plotting
from crm_analysis.churn import BTYD_MODELS, ChurnModel, backtest
from crm_analysis.config import DEFAULT_DATA_DIR
from crm_analysis.context import open_store
from crm_analysis.five_classes import (
    CHURN_CLASSES,
    action_list,
    five_classes,
    high_value_threshold,
    write_action_list,
)
from crm_analysis.i18n import t
from crm_analysis.narrative import Narrator
from crm_analysis.privacy import pseudonymize, store_key

plotting.setup(lang)
n = Narrator(lang)

ctx = open_store(data_dir, store_id=store_id, as_of=as_of)
dataset, store_id, T, store = ctx.dataset, ctx.store_id, ctx.as_of, ctx.store
horizon_months, window_months = int(horizon_months), int(window_months)
train_snapshots, call_list_size, shown_rows = (int(train_snapshots), int(call_list_size),
                                               int(shown_rows))
risk_threshold, high_value_share = float(risk_threshold), float(high_value_share)
key = store_key(Path(data_dir) if data_dir else DEFAULT_DATA_DIR)
common = dict(store_id=store_id, horizon_months=horizon_months, window_months=window_months)


def model_name(code):
    return t(f"churn_model.{code}", lang)


def reason(code):
    return t(f"churn_reason.{code}", lang) if isinstance(code, str) and code else ""


# %%
n.say(
    f"# {store['store_name']} ({store_id}) · churn risk and the five customer classes\n\n"
    f"Analysis date **{n.date(T)}**. A customer who stops coming costs the store every visit "
    "she would have made, and the store usually notices only when it is too late to ask "
    "why. This chapter predicts, for every customer served in the last "
    f"{window_months} months, the probability of **no visit in the next {horizon_months} "
    "months** (churn), checks that prediction honestly on a past year, and combines it with "
    "each customer's value into the five classes of the CRM literature: high-value stable, "
    "high-value at risk, low-value stable, low-value at risk and no-value. The result is a "
    "call list: the customers most worth keeping, who are most likely to leave, with the "
    "reasons the model sees.",
    f"# {store['store_name']}（{store_id}）· 流失风险与五类客户\n\n"
    f"分析日期为**{n.date(T)}**。客户一旦不再回厂，门店就失去了他此后的每一次进厂，而门店往往等到为时已晚才发现，"
    f"也来不及了解原因。本章为近 {window_months} 个月进过厂的每位客户预测**未来 {horizon_months} 个月不再进厂**"
    "（流失）的概率，在过去的一年上如实检验这一预测，再结合客户价值把客户分为客户关系管理文献中的五类："
    "高价值稳定客户、高价值易流失客户、低价值稳定客户、低价值易流失客户和无价值客户。"
    "最终得到一份回访清单：最值得挽留、又最可能流失的客户，以及模型看到的流失原因。",
)

# %%
# A store with a short history (a new store, a short DMS export) has no customers at the
# earliest training dates: use as many yearly training snapshots as its history allows.
requested_snapshots = train_snapshots
while True:
    try:
        res = backtest(dataset, as_of=T, train_snapshots=train_snapshots, **common)
        break
    except ValueError as err:
        if "training snapshot" not in str(err) or train_snapshots == 1:
            raise
        train_snapshots -= 1
if train_snapshots < requested_snapshots:
    n.say(
        f"*The store's order history is too short for {requested_snapshots} yearly training "
        f"snapshots; the model below is trained on the {train_snapshots} it allows.*",
        f"*门店的工单历史不够 {requested_snapshots} 个年度训练快照，下文的模型只用历史所允许的 "
        f"{train_snapshots} 个快照训练。*",
    )
m = res.metrics_.set_index("model")
best = res.best_model_
auc_best = float(m.loc[best, "roc_auc"])
auc_recency = float(m.loc["recency_rule", "roc_auc"])
auc_bgnbd = float(m.loc["bgnbd_p_alive", "roc_auc"])
auc_mbgcnbd = float(m.loc["mbgcnbd_p_alive", "roc_auc"])
lift_best = float(m.loc[best, "top_decile_lift"])
churn_rate_test = float(m.loc[best, "churn_rate"])
n_test = int(m.loc[best, "n_test"])
n_train = int(m.loc[best, "n_train"])
train_dates = ", ".join(n.date(d) for d in sorted(res.train_dates_))

n.say(
    "## 1. Can churn be predicted? A backtest on a year the model did not see\n\n"
    "A churn model is only useful if it predicts customers it has not seen, at a date it "
    "has not seen. The model was therefore trained on yearly snapshots of the store's "
    f"customers ({train_dates}; {n.int(n_train)} customer-snapshots), each described by "
    "what was known on that date only (visits, recency, spend, vehicle age, warranty, "
    "usage) and labelled by whether the customer came back within the following "
    f"{horizon_months} months. It was then tested on the snapshot of "
    f"**{n.date(res.test_date_)}** ({n.int(n_test)} customers, of whom "
    f"{n.pct(churn_rate_test)} did not come back), whose outcome was hidden from training. "
    "Three baselines set the bar: the **recency rule** (the churn rate of customers with the "
    "same time since their last visit) and the probability that the customer is no longer "
    "alive of two buy-till-you-die models fitted on the visit histories alone: **BG/NBD** "
    "(visits at random moments) and **MBG/CNBD-k** (visits at more or less regular "
    "intervals, as services are; it also allows a customer to be gone after the first "
    "visit).",
    "## 1. 流失能预测吗？在模型没见过的一年上回测\n\n"
    "流失模型只有能预测它没见过的客户、没见过的时点，才有实用价值。因此模型用本店客户的年度快照训练"
    f"（{train_dates}；共 {n.int(n_train)} 个客户快照），每个快照只使用当时已知的信息（进厂次数、最近进厂时间、"
    f"消费、车龄、质保、用途），标签为客户在随后 {horizon_months} 个月内是否回厂。"
    f"然后在 **{n.date(res.test_date_)}** 的快照上检验（{n.int(n_test)} 位客户，其中 "
    f"{n.pct(churn_rate_test)} 没有回厂），这一结果在训练时是隐藏的。"
    "三个基准方法作为对照：**最近进厂间隔规则**（与该客户距上次进厂时间相同的客户的流失率），以及仅凭进厂记录拟合的两个"
    "“购买直至流失”模型给出的客户已不再“存活”的概率：**BG/NBD**（进厂时刻随机）和 **MBG/CNBD-k**"
    "（进厂间隔大致规律，保养正是如此；它还允许客户在首次进厂后即已流失）。",
)
# a buy-till-you-die model that does not converge on this store's data is replaced by the
# next one (churn.BTYD_FALLBACKS); say so rather than show its row without comment
for baseline, row in m.loc[m["note"].notna()].iterrows():
    failed = res.notes_[(res.notes_["baseline"] == baseline)
                        & (res.notes_["status"] == "failed")]
    models = [BTYD_MODELS[c] for c in failed["model"]]
    names, names_zh, label = ", ".join(models), "、".join(models), model_name(baseline)
    if pd.isna(row["fitted_model"]):
        n.say(f"*No model could be fitted to this store's visits for the row “{label}” "
              f"({names} did not converge): it has no score.*",
              f"*本店的进厂记录无法为“{label}”一行拟合任何模型（{names_zh} 均未收敛），该行没有结果。*")
    else:
        used = BTYD_MODELS[row["fitted_model"]]
        n.say(f"*{names} did not converge on this store's visits (the estimation found no "
              f"maximum of its likelihood), so the row “{label}” shows the P(alive) of "
              f"{used} instead.*",
              f"*{names_zh} 在本店的进厂记录上未收敛（估计未找到似然函数的最大值），"
              f"表中“{label}”一行改用 {used} 的存活概率。*")
table = res.metrics_.copy()
shown = pd.DataFrame({
    n("Method", "方法"): [model_name(c) for c in table["model"]],
    n("Kind", "类型"): [t(f"churn_model.kind_{k}", lang) for k in table["kind"]],
    "ROC-AUC": table["roc_auc"],
    "PR-AUC": table["pr_auc"],
    n("Brier score", "Brier分数"): table["brier"],
    n("Top-decile lift", "前10%提升度"): table["top_decile_lift"],
})
n.table(shown, floats=["ROC-AUC", "PR-AUC", n("Brier score", "Brier分数"),
                       n("Top-decile lift", "前10%提升度")], digits=3)
fig, ax = plt.subplots(figsize=(7, 6))
plots.churn_roc(res, ax=ax, lang=lang)
fig.tight_layout()
plt.show()
beats = auc_best > np.nanmax([auc_recency, auc_bgnbd, auc_mbgcnbd])
n.say(
    f"The best model, **{model_name(best)}**, ranks a churner above a customer who stays "
    f"{n.pct(auc_best)} of the time (ROC-AUC), against {n.pct(auc_recency)} for the recency "
    f"rule, {n.pct(auc_bgnbd)} for BG/NBD and {n.pct(auc_mbgcnbd)} for MBG/CNBD-k. "
    + ("It beats all three baselines, so the extra information (vehicle age, warranty, visit "
       "pattern) is worth having. " if beats else
       "It does not beat every baseline here; a simpler method is as good for this store. ")
    + f"Among the tenth of customers it rates riskiest, churn is **{n.num(lift_best, 2)} "
    f"times** the store's average (top-decile lift; at most {n.num(1 / churn_rate_test, 2)} "
    "is possible when that many churn): that is where calls pay off.",
    f"表现最好的模型是**{model_name(best)}**：随机取一位流失客户和一位留存客户，它把前者排在前面的概率为 "
    f"{n.pct(auc_best)}（ROC-AUC），最近进厂间隔规则为 {n.pct(auc_recency)}，BG/NBD 为 {n.pct(auc_bgnbd)}，"
    f"MBG/CNBD-k 为 {n.pct(auc_mbgcnbd)}。"
    + ("它优于全部三种基准方法，说明额外的信息（车龄、质保、进厂规律）确有价值。" if beats else
       "在本店它没有优于所有基准方法，更简单的方法同样有效。")
    + f"模型评出的风险最高的 10% 客户，流失率是全店平均的 **{n.num(lift_best, 2)} 倍**"
    f"（前 10% 提升度；在本店的流失率下最高可能为 {n.num(1 / churn_rate_test, 2)} 倍）：回访应从这里开始。",
)

# %%
cal = res.calibration_[res.calibration_["model"] == best]
gap = float(np.average(np.abs(cal["mean_predicted"] - cal["observed_rate"]),
                        weights=cal["customers"])) if len(cal) else float("nan")
imp = res.importance_[res.importance_["model"] == best].head(3)
top_features = [t(f"churn_model.feature_{f}", lang) for f in imp["feature"]]
fig, axes = plt.subplots(1, 2, figsize=(13, 5))
plots.churn_calibration(res, ax=axes[0], lang=lang)
plots.churn_importance(res, model=best, ax=axes[1], lang=lang)
fig.tight_layout()
plt.show()
n.say(
    "A probability is **calibrated** when, among the customers given about p, a share of "
    "about p churns. The left chart compares predicted and observed churn on the test year; "
    f"on average the two differ by {n.num(gap * 100)} percentage points, "
    + ("so the probabilities can be read at face value: " if gap <= 0.05 else
       "so read the probabilities as a ranking more than as exact chances: ")
    + "this is what allows a threshold on the probability and an expected value at risk "
    "below. The right chart shows what the model "
    "relies on (how much ROC-AUC falls when one feature is scrambled): "
    + ", ".join(f"**{f}**" for f in top_features) + ".",
    "所谓概率**经过校准**，是指被预测为约 p 的客户中，约有 p 的比例确实流失。左图比较了测试年份的预测与实际流失率，"
    f"两者平均相差 {n.num(gap * 100)} 个百分点，"
    + ("因此概率可以按字面理解：" if gap <= 0.05 else "因此概率更适合用于排序，而非精确的可能性：")
    + "这是下文用概率阈值划分风险、计算期望流失价值的前提。"
    "右图显示模型依赖哪些信息（打乱某一特征后 ROC-AUC 下降多少）："
    + "、".join(f"**{f}**" for f in top_features) + "。",
)

# %%
cm = ChurnModel(model=best, train_snapshots=train_snapshots, horizon_months=horizon_months,
                window_months=window_months).fit(dataset, as_of=T, store_id=store_id)
scored = cm.predict(dataset, as_of=T, store_id=store_id)
expected_churners = float(scored["churn_probability"].sum())
at_risk_n = int((scored["churn_probability"] >= risk_threshold).sum())
n.say(
    "## 2. Today's customers: who is likely to leave\n\n"
    f"Retrained on the snapshots up to {n.date(max(cm.train_dates_))} (every label known by "
    f"today), the model scores the **{n.int(len(scored))}** customers served in the last "
    f"{window_months} months. It expects about **{n.int(expected_churners)}** of them "
    f"({n.pct(expected_churners / len(scored))}) not to come back in the next "
    f"{horizon_months} months; {n.int(at_risk_n)} have a churn probability of at least "
    f"{n.pct(risk_threshold)}.",
    "## 2. 当前客户：谁可能流失\n\n"
    f"用截至 {n.date(max(cm.train_dates_))} 的快照（其结果在今天都已知晓）重新训练后，模型为近 "
    f"{window_months} 个月进过厂的 **{n.int(len(scored))}** 位客户打分。预计其中约 "
    f"**{n.int(expected_churners)}** 位（{n.pct(expected_churners / len(scored))}）在未来 "
    f"{horizon_months} 个月不会回厂；流失概率不低于 {n.pct(risk_threshold)} 的有 {n.int(at_risk_n)} 位。",
)
fig, ax = plt.subplots(figsize=(8, 4))
ax.hist(scored["churn_probability"], bins=20, range=(0, 1), color="#C44E52")
ax.axvline(risk_threshold, color="black", linestyle="--")
plotting.label(ax, n("Churn probability of today's customers", "当前客户的流失概率分布"),
               n(f"Probability of no visit in the next {horizon_months} months (%)",
                 f"未来 {horizon_months} 个月不进厂的概率（%）"),
               n("Customers", "客户数"))
plotting.fmt_pct(ax, "x")
fig.tight_layout()
plt.show()

# %%
hv = high_value_threshold(scored["net_value"], share=high_value_share)
fc = five_classes(scored, value="net_value", risk="churn_probability", high_value=hv,
                  risk_threshold=risk_threshold)
summ = fc.summary.set_index("grade")
n.say(
    "## 3. The five customer classes\n\n"
    "Value is the customer's net value over the last "
    f"{window_months} months (gross profit minus the cost of serving each visit). Customers "
    f"with a net value of zero or less are **no-value**; the top {n.pct(high_value_share)} "
    f"of the others (net value of at least {n.rmb(hv)}) are **high value**, the rest **low "
    f"value**. A churn probability of {n.pct(risk_threshold)} or more makes a customer **at "
    "risk**. The expected value at risk of a class is the sum over its customers of churn "
    "probability times net value.",
    "## 3. 五类客户\n\n"
    f"客户价值取近 {window_months} 个月的净价值（毛利减去每次进厂的服务成本）。净价值不大于零的客户为**无价值客户**；"
    f"其余客户中排名前 {n.pct(high_value_share)}（净价值不低于 {n.rmb(hv)}）为**高价值客户**，其他为**低价值客户**。"
    f"流失概率不低于 {n.pct(risk_threshold)} 的客户视为**易流失**。某一类客户的期望流失价值，"
    "是该类每位客户的流失概率与净价值之积的总和。",
)
rows = summ.reindex(list(CHURN_CLASSES))
show5 = pd.DataFrame({
    n("Class", "类别"): [t(f"churn_class.{c}", lang) for c in rows.index],
    n("Customers", "客户数"): rows["customers"].astype(int),
    n("Share of customers", "客户占比"): rows["share_customers"],
    n("Net value (RMB)", "净价值（元）"): rows["value"],
    n("Share of net value", "净价值占比"): rows["share_value"],
    n("Mean churn probability", "平均流失概率"): rows["mean_risk"],
    n("Expected value at risk (RMB)", "期望流失价值（元）"): rows["expected_value_at_risk"],
})
n.table(show5, ints=[n("Customers", "客户数")],
        pct=[n("Share of customers", "客户占比"), n("Share of net value", "净价值占比"),
             n("Mean churn probability", "平均流失概率")],
        money=[n("Net value (RMB)", "净价值（元）"),
               n("Expected value at risk (RMB)", "期望流失价值（元）")])
fig, ax = plt.subplots(figsize=(10, 4.5))
plots.grade_shares(fc.summary, kind="churn_class", value_label="net_value", ax=ax, lang=lang)
fig.tight_layout()
plt.show()
hv_risk = rows.loc["high_value_at_risk"]
evr_total = float(rows["expected_value_at_risk"].clip(lower=0).sum())
n.say(
    f"**{n.int(hv_risk['customers'])} high-value customers are at risk**. They brought "
    f"{n.rmb(hv_risk['value'])} of net value ({n.pct(hv_risk['share_value'])} of the "
    f"store's), and {n.rmb(hv_risk['expected_value_at_risk'])} of it is expected to leave "
    f"with them, out of {n.rmb(evr_total)} expected to leave across all classes. They come "
    "first on the call list.",
    f"**{n.int(hv_risk['customers'])} 位高价值客户处于流失风险中**。他们带来了 "
    f"{n.rmb(hv_risk['value'])} 的净价值（占全店的 {n.pct(hv_risk['share_value'])}），预计其中 "
    f"{n.rmb(hv_risk['expected_value_at_risk'])} 将随之流失；全部客户的期望流失价值为 {n.rmb(evr_total)}。"
    "他们排在回访清单的最前面。",
)

# %%
actions = action_list(fc, scored, top=call_list_size)
reasons_all = pd.concat([actions[c] for c in ("reason_1", "reason_2", "reason_3")
                         if c in actions]).dropna()
top_reasons = reasons_all.value_counts().head(3)
show = actions.head(shown_rows)
call = pd.DataFrame({
    "#": show["rank"].astype(int),
    n("Customer (pseudonym)", "客户（化名）"): pseudonymize(show["customer_id"], key),
    n("Class", "类别"): [t(f"churn_class.{c}", lang) for c in show["churn_class"]],
    n("Model", "车型"): show["model"],
    n("Vehicle age (years)", "车龄（年）"): show["vehicle_age"],
    n("Last visit", "上次进厂"): [n.date(d) for d in show["last_visit"]],
    n("Net value (RMB)", "净价值（元）"): show["value"],
    n("Churn probability", "流失概率"): show["risk"],
    n("Reasons", "流失原因"): ["; ".join(reason(r) for r in row if isinstance(r, str))
                             for row in show[["reason_1", "reason_2", "reason_3"]]
                             .itertuples(index=False)],
})
buffer = io.BytesIO()
write_action_list(actions, buffer, lang=lang, key=key,
                  title=n(f"Call list · {store['store_name']} ({store_id}) · {n.date(T)}",
                          f"回访清单 · {store['store_name']}（{store_id}）· {n.date(T)}"))
xlsx = buffer.getvalue()
file_name = f"call_list_{store_id}_{T.date().isoformat()}_{lang}.xlsx"
if call_list_dir:
    Path(call_list_dir).mkdir(parents=True, exist_ok=True)
    (Path(call_list_dir) / file_name).write_bytes(xlsx)
n.say(
    "## 4. The call list\n\n"
    f"The {n.int(len(actions))} at-risk customers with a positive value, high-value first "
    "and then by expected value at risk, with the model's reasons for each. Customer ids "
    "are pseudonyms (a keyed hash kept beside the data), so the list can be shared; the "
    "store looks them up with its key. The most frequent reasons are "
    + ", ".join(f"**{reason(r)}** ({n.int(c)})" for r, c in top_reasons.items())
    + f". The first {n.int(len(show))}:",
    "## 4. 回访清单\n\n"
    f"共 {n.int(len(actions))} 位价值为正的易流失客户，高价值客户在前，其余按期望流失价值排序，并列出模型给出的流失原因。"
    "客户编号为化名（用保存在数据旁的密钥生成的哈希），清单可以放心传阅，门店凭密钥查回客户。最常见的原因是"
    + "、".join(f"**{reason(r)}**（{n.int(c)}）" for r, c in top_reasons.items())
    + f"。前 {n.int(len(show))} 位如下：",
)
n.table(call, money=[n("Net value (RMB)", "净价值（元）")],
        pct=[n("Churn probability", "流失概率")],
        floats=[n("Vehicle age (years)", "车龄（年）")], digits=1)
link = base64.b64encode(xlsx).decode("ascii")
display(HTML(
    f'<p><a download="{file_name}" href="data:application/vnd.openxmlformats-officedocument.'
    f'spreadsheetml.sheet;base64,{link}">'
    + n(f"Download the full call list ({len(actions)} customers, Excel)",
        f"下载完整回访清单（{len(actions)} 位客户，Excel）") + "</a></p>"))

# %%
n.say(
    "## What it means for the store\n\n"
    f"- Churn can be predicted here: the model ranks churners correctly {n.pct(auc_best)} "
    f"of the time, and its riskiest tenth churns {n.num(lift_best, 2)} times as often as "
    "average.\n"
    f"- About {n.int(expected_churners)} of today's {n.int(len(scored))} customers are "
    f"expected not to return within {horizon_months} months.\n"
    f"- {n.int(hv_risk['customers'])} high-value customers are at risk, carrying "
    f"{n.rmb(hv_risk['expected_value_at_risk'])} of expected lost value: call them first, "
    "with an offer that answers their reason (a maintenance reminder for the overdue, an "
    "extended warranty or service package for cars leaving warranty).",
    "## 对门店的启示\n\n"
    f"- 本店的流失是可以预测的：模型对流失客户的排序正确率为 {n.pct(auc_best)}，"
    f"风险最高的 10% 客户的流失率是平均水平的 {n.num(lift_best, 2)} 倍。\n"
    f"- 当前 {n.int(len(scored))} 位客户中，预计约 {n.int(expected_churners)} 位在 {horizon_months} 个月内不会回厂。\n"
    f"- {n.int(hv_risk['customers'])} 位高价值客户处于流失风险中，期望流失价值 "
    f"{n.rmb(hv_risk['expected_value_at_risk'])}：应优先回访，并针对其流失原因给出方案"
    "（对逾期未保养的客户发送保养提醒，对即将出质保的车辆推荐延保或保养套餐）。",
)

# %%
metrics = n.record(
    store_id=store_id,
    as_of=T.date().isoformat(),
    test_date=res.test_date_.date().isoformat(),
    best_model=best,
    **{f"roc_auc_{k}": float(v) for k, v in m["roc_auc"].items()},
    **{f"brier_{k}": float(v) for k, v in m["brier"].items()},
    top_decile_lift=lift_best,
    test_churn_rate=churn_rate_test,
    calibration_gap=gap,
    customers_scored=int(len(scored)),
    expected_churners=expected_churners,
    at_risk=at_risk_n,
    high_value_threshold=float(hv),
    **{f"class_{c}": int(rows.loc[c, "customers"]) for c in CHURN_CLASSES},
    high_value_at_risk_value=float(hv_risk["value"]),
    high_value_at_risk_expected_loss=float(hv_risk["expected_value_at_risk"]),
    call_list_customers=int(len(actions)),
)

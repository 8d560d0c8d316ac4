# %% [markdown] tags=["remove-cell"]
# # 05 · Customer lifetime value and store economics
#
# What is a service customer worth in the years ahead, and what is one new car sold worth
# to the workshop over its life? This chapter fits two visit models, the memoryless BG/NBD and
# the regular MBG/CNBD-k, to the store's visit history, keeps the one that forecasts a
# held-out year better, values every customer with it and Gamma-Gamma, then works out
# the store's monthly service P&L the way the 2012 after-sales deck does, the lifetime value
# of a new car from the store's own retention curve, and what lifting retention after the
# warranty would be worth. The report text is written by the code cells in the language
# chosen by `lang`; this cell is left out of the HTML report.

# %% tags=["parameters"]
data_dir = None  # folder of the dataset; None means data/sample
store_id = "001"  # the store to report on (a string: "007" stays "007")
as_of = None  # analysis date "YYYY-MM-DD"; None means the export date of the data
holdout_months = 12  # months held out to compare the BG/NBD and MBG/CNBD-k forecasts
clv_months = 36  # horizon of the customer lifetime value, in months
annual_discount_rate = 0.10  # yearly discount rate of future profit (0.10 is 10%)
lift_points = 0.05  # what-if: retention raised by this share of the base (0.05 is 5 points)
lift_from_year = 4  # first year of life of the what-if (year 4: age 3 to 4)
lift_to_year = 6  # last year of life of the what-if
max_age = 10  # oldest vehicle age (years) in the lifetime value of a new car
lang = "en"  # "en" or "zh"

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from crm_analysis import economics, plots, plotting
from crm_analysis.btyd import (
    BTYD_MODELS,
    ConvergenceError,
    GammaGammaModel,
    MBGCNBDModel,
    calibration_holdout,
    compare_holdout,
    estimate_regularity,
    fit_model,
)
from crm_analysis.context import open_store
from crm_analysis.features import customer_features, rfm_summary
from crm_analysis.i18n import t
from crm_analysis.margins import order_profit
from crm_analysis.narrative import Narrator
from crm_analysis.overview import window_start
from crm_analysis.value import gini, lorenz, top_share

plotting.setup(lang)
n = Narrator(lang)

ctx = open_store(data_dir, store_id=store_id, as_of=as_of)
dataset, ds, store_id, T, store = ctx.dataset, ctx.data, ctx.store_id, ctx.as_of, ctx.store
holdout_months, clv_months, max_age = int(holdout_months), int(clv_months), int(max_age)
annual_discount_rate, lift_points = float(annual_discount_rate), float(lift_points)
lift_from_year, lift_to_year = int(lift_from_year), int(lift_to_year)
monthly_rate = (1 + annual_discount_rate) ** (1 / 12) - 1
WEEKS_PER_YEAR = 365.25 / 7

orders = ds.repair_orders
orders = order_profit(orders[(orders["store_id"] == store_id) & (orders["open_date"] <= T)])
cal_end = window_start(holdout_months, as_of=T)


def year_label(band):
    return t("metric.age_band", lang, n=int(band) + 1)


# %%
n.say(
    f"# {store['store_name']} ({store_id}) · customer lifetime value and store economics\n\n"
    f"Analysis date **{n.date(T)}**. The after-sales department earns about half of a 4S "
    "store's profit, and it earns it one visit at a time from owners who may stop coming. "
    "This chapter asks two questions. What is each service customer worth over the next "
    f"{clv_months} months, given how often and how recently they came? And what is one new "
    "car sold worth to the workshop over its life, given how the store keeps owners as "
    "their cars age? The first is answered with two visit models, the memoryless BG/NBD and "
    "the regular MBG/CNBD-k, of which the one that forecasts a held-out year better is "
    "kept, and the Gamma-Gamma spend model; the second with the store's own retention and "
    "spend by vehicle age, inside the monthly service P&L of the after-sales deck.",
    f"# {store['store_name']}（{store_id}）· 客户终身价值与门店经营测算\n\n"
    f"分析日期为**{n.date(T)}**。售后部门贡献了 4S 店约一半的利润，而这些利润来自一次次进厂，车主随时可能不再回来。"
    f"本章回答两个问题：根据每位客户进厂的频次和最近一次进厂的时间，他在未来 {clv_months} 个月里值多少？"
    "按本店随车龄保有客户的情况，卖出一辆新车在其整个使用期内能给售后带来多少利润？"
    "前者用两个进厂模型（无记忆的 BG/NBD 与有规律的 MBG/CNBD-k，取在留出的一年数据上预测更准的一个）和 Gamma-Gamma 消费模型回答；"
    "后者用本店按车龄的保有率和客单消费，放进售后服务课件中的门店月度损益模型来测算。",
)

# %%
ch = calibration_holdout(orders, "customer_id", "open_date", "gross_profit",
                         calibration_end=cal_end, observation_end=T, freq="D",
                         freq_multiplier=7, regularity=True)
comparison = compare_holdout(ch, models=("bgnbd", "mbgcnbd"))
errors = comparison.errors_.set_index("model")
# the same comparison on maintenance visits alone, the visits that keep a schedule
maintenance = orders[orders["ro_type"] == "maintenance"]
ch_maintenance = calibration_holdout(maintenance, "customer_id", "open_date", None,
                                     calibration_end=cal_end, observation_end=T, freq="D",
                                     freq_multiplier=7, regularity=True)
errors_maintenance = compare_holdout(ch_maintenance).errors_.set_index("model")
regularity_all = estimate_regularity(orders, as_of=T)
regularity_maintenance = estimate_regularity(maintenance, as_of=T)
n.say(
    "## 1. Forecasting visits: two models, checked on a held-out year\n\n"
    "Both models treat each customer as visiting at a personal rate while 'alive' and "
    "possibly leaving for good at a visit. The BG/NBD model (Fader, Hardie & Lee 2005) "
    "assumes memoryless visits: a customer who came yesterday is as likely to come "
    "tomorrow as one who came a year ago. The MBG/CNBD-k model (Reutterer, Platzer & "
    "Schröder 2020) lets the time between visits be regular, as maintenance every six "
    "months or so is, with the regularity k chosen by the data (k = 1 is memoryless). "
    "Each needs a few numbers per customer: repeat visits, the time of the last visit and "
    "the time since the first one, here in weeks. Both were fitted on the history up to "
    f"{n.date(cal_end)} ({n.int(len(ch))} customers) and asked to forecast the next "
    f"{holdout_months} months, which neither saw.",
    "## 1. 预测进厂次数：两个模型，用留出的一年检验\n\n"
    "两个模型都假设每位客户在“存活”期间以各自的频率进厂，并可能在某次进厂时永久离开。"
    "BG/NBD 模型（Fader、Hardie 与 Lee，2005）假设进厂无记忆：昨天刚来的客户与一年没来的客户明天来的可能性一样；"
    "MBG/CNBD-k 模型（Reutterer、Platzer 与 Schröder，2020）允许两次进厂的间隔有规律（例如约每半年一次保养），"
    "规律程度 k 由数据决定（k = 1 即无记忆）。每位客户只需要重复进厂次数、最近一次进厂的时间和首次进厂至今的时间，这里以周为单位。"
    f"两个模型都先用截至 {n.date(cal_end)} 的历史（{n.int(len(ch))} 位客户）拟合，"
    f"再预测它们都没有见过的后 {holdout_months} 个月。",
)
shown = pd.concat([comparison.errors_.assign(visits=n("All visits", "全部进厂")),
                   errors_maintenance.reset_index().assign(
                       visits=n("Maintenance only", "仅保养进厂"))])
shown = shown[shown["converged"]]
n.table(pd.DataFrame({
    n("Visits", "进厂"): shown["visits"],
    n("Model", "模型"): shown["name"], n("Regularity k", "规律度 k"): shown["k"],
    n("Forecast visits", "预测进厂次数"): shown["predicted"].round().astype(int),
    n("Actual visits", "实际进厂次数"): shown["actual"].round().astype(int),
    n("Forecast error", "总量偏差"): shown["bias"],
    n("Mean absolute error per customer", "每位客户平均绝对误差"): shown["mae"]}),
    ints=[n("Regularity k", "规律度 k"), n("Forecast visits", "预测进厂次数"),
          n("Actual visits", "实际进厂次数")],
    pct=[n("Forecast error", "总量偏差")],
    floats=[n("Mean absolute error per customer", "每位客户平均绝对误差")], digits=3)
fig, ax = plt.subplots(figsize=(8, 4.5))
plots.holdout_comparison(comparison, ch, ax=ax, lang=lang, freq="W")
fig.tight_layout()
plt.show()

# %%
best = comparison.best_model_
for _, row in errors[~errors["converged"]].iterrows():
    n.say(f"The {row['name']} model could not be fitted on this store's calibration data, "
          f"so it is left out: {row['message']}",
          f"{row['name']} 模型无法用本店校准期数据拟合，因此未纳入比较：{row['message']}")
won = errors.loc[best] if best is not None else None
other = errors.drop(index=best)[errors.drop(index=best)["converged"]] if won is not None \
    else errors.iloc[0:0]
holdout_error = float(won["bias"]) if won is not None else float("nan")
actual_visits = float(errors["actual"].iloc[0])
predicted_visits = float(won["predicted"]) if won is not None else float("nan")
if won is not None and len(other):
    gain = 1 - float(won["mae"]) / float(other["mae"].iloc[0])
    n.say(
        f"The customers made **{n.int(actual_visits)}** repeat visits in the held-out "
        f"months. The **{won['name']}** model (k = {int(won['k'])}) forecast each "
        f"customer's visits better: its mean absolute error of {n.num(won['mae'], 3)} "
        f"visits per customer is {n.pct(gain)} below the {other['name'].iloc[0]} model's "
        f"{n.num(other['mae'].iloc[0], 3)}; in total it forecast "
        f"**{n.int(predicted_visits)}** visits, {n.pct(abs(holdout_error))} "
        + ("too few. " if holdout_error < 0 else "too many. ")
        + "It is the model used to value the customers below.",
        f"留出期内客户实际重复进厂 **{n.int(actual_visits)}** 次。**{won['name']}** 模型"
        f"（k = {int(won['k'])}）对每位客户的预测更准：每位客户的平均绝对误差为 "
        f"{n.num(won['mae'], 3)} 次，比 {other['name'].iloc[0]} 模型的 "
        f"{n.num(other['mae'].iloc[0], 3)} 次低 {n.pct(gain)}；总量上预测 "
        f"**{n.int(predicted_visits)}** 次（" + ("少估" if holdout_error < 0 else "多估")
        + f" {n.pct(abs(holdout_error))}）。下文用这个模型评估客户价值。",
    )
n.say(
    "How regular are the visits? The Wheat–Morrison statistic (about 1 for memoryless "
    "visits, higher for regular ones) is "
    f"**{n.num(regularity_maintenance, 1)}** for maintenance visits alone but "
    f"**{n.num(regularity_all, 2)}** for all visits. "
    + ("Maintenance keeps its rhythm, but repairs, body work, warranty claims and other "
       "visits fall in between at random, and together they make the gaps between a "
       "customer's visits nearly memoryless. "
       if regularity_maintenance > 2 and regularity_all < 1.5 else
       "The store's visits keep a clear rhythm. " if regularity_all >= 1.5 else
       "Even maintenance visits show little rhythm here. ")
    + ("That is why the regular model chose k = 1 on all visits: its edge over BG/NBD comes "
       "from letting a customer be lost after a single visit, not from the rhythm."
       if best == "mbgcnbd" and won is not None and int(won["k"]) == 1 else
       "The regular model uses that rhythm." if best == "mbgcnbd" else
       "Here the memoryless model forecasts at least as well.")
    + (f" On maintenance visits alone the regular model chooses k = "
       f"{int(errors_maintenance.loc['mbgcnbd', 'k'])} and its error per customer is "
       f"{n.num(errors_maintenance.loc['mbgcnbd', 'mae'], 3)} against BG/NBD's "
       f"{n.num(errors_maintenance.loc['bgnbd', 'mae'], 3)}, but its total is "
       f"{n.pct(abs(errors_maintenance.loc['mbgcnbd', 'bias']))} "
       + ("too low" if errors_maintenance.loc["mbgcnbd", "bias"] < 0 else "too high")
       + ": the rhythm helps to rank customers more than to count visits."
       if errors_maintenance["converged"].all() else ""),
    "进厂有多规律？Wheat–Morrison 统计量（无记忆进厂约为 1，越有规律越大）"
    f"仅看保养进厂为 **{n.num(regularity_maintenance, 1)}**，看全部进厂则为 "
    f"**{n.num(regularity_all, 2)}**。"
    + ("保养本身很有节奏，但维修、钣喷、索赔和其他进厂随机穿插其间，使客户两次进厂的间隔几乎无记忆。"
       if regularity_maintenance > 2 and regularity_all < 1.5 else
       "本店进厂节奏明显。" if regularity_all >= 1.5 else "本店即使保养进厂也缺乏节奏。")
    + ("因此规律模型在全部进厂上选择了 k = 1：它胜过 BG/NBD 的原因是允许客户只来一次就流失，而不是节奏。"
       if best == "mbgcnbd" and won is not None and int(won["k"]) == 1 else
       "规律模型利用了这种节奏。" if best == "mbgcnbd" else "在本店，无记忆模型的预测不逊于规律模型。")
    + (f"若只看保养进厂，规律模型选择 k = {int(errors_maintenance.loc['mbgcnbd', 'k'])}，"
       f"每位客户的误差为 {n.num(errors_maintenance.loc['mbgcnbd', 'mae'], 3)} 次，BG/NBD 为 "
       f"{n.num(errors_maintenance.loc['bgnbd', 'mae'], 3)} 次，但总量"
       + ("少估" if errors_maintenance.loc["mbgcnbd", "bias"] < 0 else "多估")
       + f" {n.pct(abs(errors_maintenance.loc['mbgcnbd', 'bias']))}：节奏更有助于给客户排序，而不是估计总次数。"
       if errors_maintenance["converged"].all() else ""),
)

# %%
rfm = rfm_summary(orders, "customer_id", "open_date", "gross_profit", as_of=T, freq="D",
                  freq_multiplier=7, regularity=True)
chosen = [best] if best is not None else []
chosen += [c for c in ("bgnbd", "mbgcnbd") if c not in chosen]
for code in chosen:        # the better model; the other if it fails on the full history
    try:
        model = fit_model(code, rfm["frequency"], rfm["recency"], rfm["T"], rfm["litt"])
        break
    except ConvergenceError as exc:
        n.say(f"Refitted on the full history, the {BTYD_MODELS[code]} model did not "
              f"converge ({exc}); the next model is used.",
              f"用全部历史重新拟合时 {BTYD_MODELS[code]} 模型未收敛（{exc}），改用下一个模型。")
k_ = int(model.params_["k"]) if "k" in model.params_ else 1
model_name = f"MBG/CNBD-{k_}" if isinstance(model, MBGCNBDModel) else "BG/NBD"
r_, alpha_, a_, b_ = (float(model.params_[k]) for k in ("r", "alpha", "a", "b"))
visits_per_year = r_ / (alpha_ * k_) * WEEKS_PER_YEAR
drop_per_visit = a_ / (a_ + b_)
rfm["p_alive"] = np.asarray(model.probability_alive(rfm["frequency"], rfm["recency"],
                                                    rfm["T"]))
alive_share = float(rfm["p_alive"].mean())
recent = int((rfm["recency"] > rfm["T"] - holdout_months * 365.25 / 12 / 7).sum())
expected_alive = float(rfm["p_alive"].sum())

n.say(
    "## 2. Who is still a customer\n\n"
    f"Refitted on the full history to {n.date(T)} ({n.int(len(rfm))} customers who ever "
    f"came), the {model_name} model says a typical customer, while still a customer, "
    f"visits about **{n.num(visits_per_year)} times a year** (r/(kα)), and that at each "
    f"visit there is a **{n.pct(drop_per_visit)}** average chance of leaving for good "
    f"(a/(a+b)). Summing each customer's probability of still being 'alive' gives about "
    f"**{n.int(expected_alive)}** active customers, {n.pct(alive_share)} of everyone who "
    f"ever came; for comparison, {n.int(recent)} customers actually came in the last "
    f"{holdout_months} months. The model only lets customers leave at a visit, so it keeps "
    "owners who quietly stopped coming 'alive' longer than they are: read its count as an "
    "upper bound.",
    "## 2. 谁仍是本店客户\n\n"
    f"用截至 {n.date(T)} 的全部历史重新拟合（曾经进厂的客户共 {n.int(len(rfm))} 位），{model_name} 模型给出："
    f"典型客户在仍是本店客户时每年进厂约 **{n.num(visits_per_year)} 次**（r/(kα)），每次进厂时平均有 "
    f"**{n.pct(drop_per_visit)}** 的概率永久离开（a/(a+b)）。把每位客户仍“存活”的概率加总，"
    f"约有 **{n.int(expected_alive)}** 位活跃客户，占曾经进厂客户的 {n.pct(alive_share)}；"
    f"作为对照，近 {holdout_months} 个月实际进厂的客户为 {n.int(recent)} 位。"
    "模型只允许客户在某次进厂时离开，因此对悄悄不再来的车主会高估其“存活”时间：应把这一数字视为上限。",
)
params = model.summary.reset_index()
params = params.rename(columns={params.columns[0]: "parameter"})
n.table(params[["parameter", "coef", "se(coef)", "lower 95%", "upper 95%"]]
        .rename(columns={"parameter": n("Parameter", "参数"), "coef": n("Estimate", "估计值"),
                         "se(coef)": n("Std. error", "标准误"),
                         "lower 95%": n("95% low", "95%下限"),
                         "upper 95%": n("95% high", "95%上限")}),
        floats=[n("Estimate", "估计值"), n("Std. error", "标准误"), n("95% low", "95%下限"),
                n("95% high", "95%上限")], digits=3)
fig, ax = plt.subplots(figsize=(8, 6))
plots.probability_alive_matrix(model, max_frequency=int(min(rfm["frequency"].max(), 30)),
                               ax=ax, lang=lang, freq="W")
fig.tight_layout()
plt.show()
n.say(
    "The heat map reads like a store manager's intuition made exact: a customer who has "
    "come often but not for a long time (top left) is probably gone, while a rare "
    "visitor who came recently (bottom right) is still likely to be a customer.",
    "热力图把门店经理的直觉精确化了：来得很勤但很久没来的客户（左上）多半已经流失，"
    "而很少来但最近刚来过的客户（右下）仍很可能是本店客户。",
)

# %%
repeat = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
excluded_gg = int(((rfm["frequency"] > 0) & (rfm["monetary_value"] <= 0)).sum())
corr = float(np.corrcoef(repeat["frequency"], repeat["monetary_value"])[0, 1])
gg = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])
p_, q_, v_ = (float(gg.params_[k]) for k in ("p", "q", "v"))
mean_profit_visit = p_ * v_ / (q_ - 1) if q_ > 1 else float("nan")

monetary = rfm["monetary_value"].where(rfm["monetary_value"] > 0, 0.0)
rfm["clv"] = np.asarray(model.customer_lifetime_value(
    gg, rfm["frequency"], rfm["recency"], rfm["T"], monetary, months=clv_months,
    discount_rate=monthly_rate, freq="W"))
clv = rfm["clv"].to_numpy()
clv_total = float(clv.sum())
clv_mean = float(clv.mean())
clv_top20 = top_share(clv, 0.2)
clv_gini = gini(clv)

n.say(
    "## 3. What each customer is worth\n\n"
    "The Gamma-Gamma model turns each customer's average gross profit per visit into an "
    "expected profit per future visit, shrinking the averages of customers with few visits "
    f"toward the store's mean. It was fitted on the {n.int(len(repeat))} customers with "
    "repeat visits"
    + (f" ({n.int(excluded_gg)} with a non-positive average were left out)" if excluded_gg
       else "")
    + f". It assumes that how much a customer spends does not depend on how often they come; "
    f"here the correlation between the two is {n.num(corr, 2)}, "
    + ("small enough for the assumption to hold. " if abs(corr) < 0.3 else
       "larger than the model assumes, so treat the values with care. ")
    + f"The expected gross profit of a visit is about **{n.rmb(mean_profit_visit)}**.\n\n"
    f"Combining the two models, the **customer lifetime value** is the expected gross profit "
    f"of each customer's visits over the next {clv_months} months, discounted at "
    f"{n.pct(annual_discount_rate)} a year. Together the customers are worth "
    f"**{n.rmb(clv_total)}** ({n.rmb(clv_mean)} on average); the top 20% hold "
    f"**{n.pct(clv_top20)}** of it (Gini {n.num(clv_gini, 2)}).",
    "## 3. 每位客户的价值\n\n"
    "Gamma-Gamma 模型把每位客户的单次平均毛利转化为未来每次进厂的期望毛利，进厂次数少的客户的平均值会向全店均值收缩。"
    f"模型用 {n.int(len(repeat))} 位有重复进厂的客户拟合"
    + (f"（{n.int(excluded_gg)} 位平均毛利不为正的客户未纳入）" if excluded_gg else "")
    + f"。模型假设客户每次花多少与来得多频繁无关；本店两者的相关系数为 {n.num(corr, 2)}，"
    + ("足够小，假设成立。" if abs(corr) < 0.3 else "高于模型的假设，结果需谨慎解读。")
    + f"单次进厂的期望毛利约为 **{n.rmb(mean_profit_visit)}**。\n\n"
    f"两个模型结合，**客户终身价值**即每位客户未来 {clv_months} 个月进厂的期望毛利，按年 "
    f"{n.pct(annual_discount_rate)} 折现。全部客户合计价值 **{n.rmb(clv_total)}**（人均 "
    f"{n.rmb(clv_mean)}）；价值最高的 20% 客户占 **{n.pct(clv_top20)}**（基尼系数 "
    f"{n.num(clv_gini, 2)}）。",
)
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
upper = float(np.quantile(clv, 0.99)) if len(clv) else 1.0
axes[0].hist(np.clip(clv, 0, upper), bins=40, color="#4C72B0")
plotting.label(axes[0], n(f"Customer lifetime value, next {clv_months} months",
                          f"未来 {clv_months} 个月的客户终身价值"),
               n("Discounted gross profit per customer (RMB, top 1% capped)",
                 "每位客户的折现毛利（元，最高 1% 截尾）"),
               n("Customers", "客户数"))
plotting.fmt_rmb(axes[0], "x")
plots.lorenz_curve(lorenz(clv), ax=axes[1], lang=lang,
                   value_label="gross_profit",
                   title=n("Concentration of lifetime value", "终身价值的集中度"))
fig.tight_layout()
plt.show()

# %%
feats = customer_features(ds, as_of=T, window_months=24, store_id=store_id)
seg_codes = ["in_warranty", "post_warranty", "mature", "old"]
joined = feats[["customer_id", "main_vehicle_age"]].merge(
    rfm[["customer_id", "p_alive", "clv"]], on="customer_id", how="left")
joined["segment"] = pd.cut(joined["main_vehicle_age"], [-np.inf, 3, 5, 8, np.inf],
                           right=False, labels=seg_codes)
by_seg = (joined.groupby("segment", observed=False)
          .agg(customers=("customer_id", "size"), p_alive=("p_alive", "mean"),
               clv=("clv", "mean"), clv_total=("clv", "sum"))
          .reindex(seg_codes).reset_index())
n.say(
    f"Among the {n.int(len(feats))} customers served in the last 24 months, lifetime value "
    "differs by the age of the main vehicle, the dimension the after-sales deck uses to plan "
    "its contacts:",
    f"在近 24 个月进厂的 {n.int(len(feats))} 位客户中，终身价值随主用车的车龄而不同，"
    "这正是售后服务课件安排客户维系的维度：",
)
seg_show = pd.DataFrame({
    n("Vehicle age", "车龄段"): [t(f"age_segment.{s}", lang) for s in by_seg["segment"]],
    n("Customers", "客户数"): by_seg["customers"].astype(int),
    n("Mean P(alive)", "平均存活概率"): by_seg["p_alive"],
    n("Mean lifetime value (RMB)", "平均终身价值（元）"): by_seg["clv"],
    n("Total lifetime value (RMB)", "终身价值合计（元）"): by_seg["clv_total"],
})
n.table(seg_show, ints=[n("Customers", "客户数")], pct=[n("Mean P(alive)", "平均存活概率")],
        money=[n("Mean lifetime value (RMB)", "平均终身价值（元）"),
               n("Total lifetime value (RMB)", "终身价值合计（元）")])
best_seg = by_seg.loc[by_seg["clv"].idxmax(), "segment"] if by_seg["clv"].notna().any() \
    else None
if best_seg is not None:
    n.say(
        f"Customers whose car is **{t(f'age_segment.{best_seg}', 'en').lower()}** are worth "
        "the most per head; the table shows where the store's future service profit sits.",
        f"主用车处于**{t(f'age_segment.{best_seg}', 'zh')}**的客户人均价值最高；"
        "上表显示了本店未来售后利润所在。",
    )

# %%
deck = economics.StoreEconomics()
pnl = economics.service_pnl(dataset, as_of=T, store_id=store_id, params=deck)
line = pnl.set_index("line")["value"]
n.say(
    "## 4. The store's monthly service P&L\n\n"
    f"The 2012 after-sales deck works out a standard {n.int(deck.floor_area_m2)} m² store: "
    f"about {n.rmb(deck.running_cost_per_month)} of running cost a month against the gross "
    "profit of new-car sales and of the workshop. The same model with this store's own "
    f"figures for the twelve months to {n.date(T)} (orders, order value, margin and new "
    "cars sold measured from the data; costs and the gross per new car from the deck, as "
    "parameters):",
    "## 4. 门店的月度售后损益\n\n"
    f"2012 年的售后服务课件以一家 {n.int(deck.floor_area_m2)} 平方米的标准 4S 店为例：每月约 "
    f"{n.rmb(deck.running_cost_per_month)}的经营费用，"
    "靠新车销售毛利和维修保养毛利来覆盖。下面用同一模型代入本店截至 "
    f"{n.date(T)} 的十二个月数据（工单量、客单价、毛利率和新车销量取自数据；费用和单车毛利沿用课件数值，均为参数）：",
)
fig, ax = plt.subplots(figsize=(9, 4.5))
plots.pnl_waterfall(pnl, ax=ax, lang=lang)
fig.tight_layout()
plt.show()
service_gp = float(line["service_gross"])
absorption = float(line["service_absorption"])
service_share = float(line["service_share_of_gross"])
op_profit = float(line["operating_profit_after_depreciation"])
n.say(
    f"The workshop earns **{n.rmb(service_gp)}** of gross profit a month, "
    f"{n.pct(service_share)} of the store's gross profit, and covers "
    f"**{n.pct(absorption)}** of the running cost (the service absorption rate). After "
    f"running cost and depreciation the store makes **{n.rmb(op_profit)}** a month. "
    + ("Every point of service retention therefore goes almost straight to profit."
       if absorption >= 0.5 else
       "The store depends on new-car sales to pay its way, which makes after-sales "
       "retention all the more urgent."),
    f"维修车间每月创造 **{n.rmb(service_gp)}** 毛利，占全店毛利的 {n.pct(service_share)}，"
    f"覆盖了 **{n.pct(absorption)}** 的经营费用（售后吸收率）。扣除经营费用和折旧后，门店每月利润为 "
    f"**{n.rmb(op_profit)}**。"
    + ("因此售后保有率每提高一个点，几乎都直接转化为利润。" if absorption >= 0.5 else
       "门店要靠新车销售才能盈利，这使售后客户维系更加紧迫。"),
)

# %%
curve = economics.service_by_age(ds, as_of=T, store_id=store_id, max_age=max_age)
# a young store has not sold cars of every age yet: value the years it has observed
years = economics.observed_years(curve, max_age)
ltv = economics.new_car_lifetime_value(curve, discount_rate=annual_discount_rate,
                                       max_age=years)
by_age = ltv.by_age
warranty_part = float(by_age.loc[by_age["age_band"] < 3, "present_value"].sum())
ratio = ltv.total / deck.gross_per_new_car if deck.gross_per_new_car else float("nan")
n.say(
    "## 5. What one new car sold is worth to the workshop\n\n"
    "A car sold today brings service profit for years, but only in the years its owner "
    "still comes. For each year of the car's life, the expected gross profit is the share "
    "of the store's cars of that age that still came in the last twelve months (retention) "
    "times the gross profit the store earned per retained car of that age; discounted at "
    f"{n.pct(annual_discount_rate)} a year and summed over {years} years, this is the "
    "workshop's lifetime value of one new car."
    + (f" (The store has sold no car older than {years} years yet, so the sum stops there "
       f"rather than at {max_age}.)" if years < max_age else ""),
    "## 5. 卖出一辆新车对售后的价值\n\n"
    "今天卖出的一辆车会在多年里带来售后利润，但只限车主仍回厂的年份。对车辆的每一年，期望毛利等于本店同车龄车辆在近十二个月仍有进厂的比例（保有率）"
    f"乘以每辆保有车辆在该车龄为本店带来的毛利；按年 {n.pct(annual_discount_rate)} 折现并累加 {years} "
    "年，即为一辆新车对售后的终身价值。"
    + (f"（本店售出的车辆车龄尚未超过 {years} 年，因此只累加到第 {years} 年，而不是 {max_age} 年。）"
       if years < max_age else ""),
)
fig, ax = plt.subplots(figsize=(10, 4.5))
plots.lifetime_value(ltv, ax=ax, lang=lang)
fig.tight_layout()
plt.show()
n.say(
    f"One new car is worth **{n.rmb(ltv.total)}** of discounted service gross profit "
    f"({n.rmb(ltv.undiscounted_total)} undiscounted), "
    f"{n.pct(warranty_part / ltv.total if ltv.total else float('nan'))} of it earned in the "
    f"three warranty years. That is {n.num(ratio, 2)} times the deck's new-car gross of "
    f"{n.rmb(deck.gross_per_new_car)} per car: "
    + ("selling a car is only the start of what it earns the store." if ratio > 1.2 else
       "servicing a car over its life earns about as much as selling it did, and would "
       "earn more if fewer owners left after the warranty." if ratio >= 0.8 else
       "less than the sale itself, because owners leave early."),
    f"一辆新车带来的售后毛利折现后为 **{n.rmb(ltv.total)}**（不折现为 {n.rmb(ltv.undiscounted_total)}），"
    f"其中 {n.pct(warranty_part / ltv.total if ltv.total else float('nan'))} 来自三年质保期，"
    f"相当于课件中每辆新车销售毛利（{n.rmb(deck.gross_per_new_car)}）的 {n.num(ratio, 2)} 倍："
    + ("卖车只是这辆车为门店创造利润的开始。" if ratio > 1.2 else
       "一辆车整个使用期的售后利润与卖车的利润大致相当；如果质保后流失的车主更少，还会更多。"
       if ratio >= 0.8 else "低于卖车本身的利润，因为车主过早流失。"),
)

# %%
lift_to_year = min(lift_to_year, years)
bands = range(lift_from_year - 1, lift_to_year)
sold_per_year = float(line["new_cars_per_month"]) * 12
lift = economics.retention_lift(curve, points=lift_points, ages=bands,
                                discount_rate=annual_discount_rate,
                                cars_per_year=sold_per_year, max_age=years)
n.say(
    "## 6. What-if: keeping more owners after the warranty\n\n"
    f"Suppose a retention programme raised retention by **{n.pts(lift_points)}** in "
    f"{year_label(lift_from_year - 1)} to {year_label(lift_to_year - 1)} of the car's life, "
    "where the warranty cliff is. Each new car would then be worth "
    f"**{n.rmb(lift.gain_per_car)}** more; with the {n.int(sold_per_year)} cars the store "
    f"sells a year, that is **{n.rmb(lift.gain_per_year)}** of discounted gross profit for "
    "each year's sales.",
    "## 6. 情景分析：质保结束后多留住一些车主\n\n"
    f"假设一项客户维系计划能在车辆的{year_label(lift_from_year - 1)}至{year_label(lift_to_year - 1)}"
    f"（即质保断崖所在）把保有率提高 **{n.pts(lift_points)}**，每辆新车的价值将增加 "
    f"**{n.rmb(lift.gain_per_car)}**；按本店每年销售 {n.int(sold_per_year)} 辆计算，"
    f"每年的新车销售将多带来 **{n.rmb(lift.gain_per_year)}** 的折现毛利。",
)
fig, ax = plt.subplots(figsize=(10, 4.5))
plots.retention_lift(lift, ax=ax, lang=lang)
fig.tight_layout()
plt.show()

# %%
n.say(
    "## What it means for the store\n\n"
    f"- The store's {n.int(len(rfm))} past and present customers are worth about "
    f"{n.rmb(clv_total)} of gross profit over the next {clv_months} months, and a fifth of "
    f"them hold {n.pct(clv_top20)} of it: protect those first.\n"
    f"- The workshop covers {n.pct(absorption)} of the store's running cost; a new car is "
    f"worth {n.rmb(ltv.total)} to it over {years} years.\n"
    f"- Lifting retention by {n.pts(lift_points)} after the warranty would add "
    f"{n.rmb(lift.gain_per_year)} for each year of new-car sales; that is the budget a "
    "retention programme can spend and still pay.",
    "## 对门店的启示\n\n"
    f"- 本店 {n.int(len(rfm))} 位新老客户在未来 {clv_months} 个月约值 {n.rmb(clv_total)} 毛利，"
    f"其中五分之一的客户占 {n.pct(clv_top20)}：应优先维护这些客户。\n"
    f"- 维修车间覆盖了门店 {n.pct(absorption)} 的经营费用；一辆新车在 {years} 年内为售后带来 "
    f"{n.rmb(ltv.total)}。\n"
    f"- 质保结束后把保有率提高 {n.pts(lift_points)}，每年的新车销售将多带来 {n.rmb(lift.gain_per_year)}："
    "这就是客户维系计划在保本前提下可以投入的预算。",
)

# %%
metrics = n.record(
    store_id=store_id,
    as_of=T.date().isoformat(),
    customers=int(len(rfm)),
    btyd_model=model_name,
    btyd_k=k_,
    btyd_r=r_,
    btyd_alpha=alpha_,
    btyd_a=a_,
    btyd_b=b_,
    regularity_all_visits=regularity_all,
    regularity_maintenance=regularity_maintenance,
    holdout_mae_bgnbd=float(errors.loc["bgnbd", "mae"]),
    holdout_mae_mbgcnbd=float(errors.loc["mbgcnbd", "mae"]),
    holdout_best_model=best,
    holdout_mae_bgnbd_maintenance=float(errors_maintenance.loc["bgnbd", "mae"]),
    holdout_mae_mbgcnbd_maintenance=float(errors_maintenance.loc["mbgcnbd", "mae"]),
    mbgcnbd_k_maintenance=int(errors_maintenance.loc["mbgcnbd", "k"]),
    holdout_actual_visits=actual_visits,
    holdout_predicted_visits=predicted_visits,
    holdout_error=holdout_error,
    expected_active_customers=expected_alive,
    gg_p=p_,
    gg_q=q_,
    gg_v=v_,
    clv_months=clv_months,
    clv_total=clv_total,
    clv_mean=clv_mean,
    clv_top20_share=clv_top20,
    orders_per_month=float(line["orders_per_month"]),
    service_gross_profit_per_month=service_gp,
    service_absorption=absorption,
    operating_profit_per_month=op_profit,
    new_car_lifetime_value=float(ltv.total),
    lift_gain_per_car=float(lift.gain_per_car),
    lift_gain_per_year=float(lift.gain_per_year),
)

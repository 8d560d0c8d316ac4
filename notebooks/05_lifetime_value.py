# %% [markdown] tags=["lang-en"]
# # 05 · Customer lifetime value and store economics
#
# The after-sales department earns about half of a 4S store's profit, and it earns it one
# visit at a time from owners who may stop coming. This chapter asks two questions. What
# is each service customer worth in the years ahead, given how often and how recently they
# came? And what is one new car sold worth to the workshop over its life, given how the
# store keeps owners as their cars age? The first is answered with two visit models, the
# memoryless BG/NBD and the regular MBG/CNBD-k, of which the one that forecasts a held-out
# year better is kept, and the Gamma-Gamma spend model; the second with the store's own
# retention and spend by vehicle age, inside the monthly service P&L of the after-sales
# deck.

# %% [markdown] tags=["lang-zh"]
# # 05 · 客户终身价值与门店经营测算
#
# 售后部门贡献了 4S 店约一半的利润，而这些利润来自一次次进厂，车主随时可能不再回来。本章回答两个问题：根据每位客户进厂的频次和最近一次进厂的时间，他在未来几年里值多少？按本店随车龄保有客户的情况，卖出一辆新车在其整个使用期内能给售后带来多少利润？前者用两个进厂模型（无记忆的 BG/NBD 与有规律的 MBG/CNBD-k，取在留出的一年数据上预测更准的一个）和 Gamma-Gamma 消费模型回答；后者用本店按车龄的保有率和客单消费，放进售后服务课件中的门店月度损益模型来测算。

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
# The library functions this chapter uses
import numpy as np
import pandas as pd

from crm_analysis import btyd, economics, plots, plotting
from crm_analysis.features import customer_features, rfm_summary
from crm_analysis.i18n import t
from crm_analysis.margins import order_profit
from crm_analysis.notebook import open_chapter, year_label
from crm_analysis.overview import window_start
from crm_analysis.value import gini, lorenz, top_share

# %%
# Open the store; the orders up to the analysis date, with their gross profit
ch = open_chapter(data_dir, store_id=store_id, as_of=as_of, lang=lang)
n, T = ch.n, ch.as_of
holdout_months, clv_months, max_age = int(holdout_months), int(clv_months), int(max_age)
annual_discount_rate, lift_points = float(annual_discount_rate), float(lift_points)
lift_from_year, lift_to_year = int(lift_from_year), int(lift_to_year)
orders = order_profit(ch.orders[ch.orders["open_date"] <= T])
cal_end = window_start(holdout_months, as_of=T)
ch.title()

# %% [markdown] tags=["lang-en"]
# ## 1. Forecasting visits: two models, checked on a held-out year
#
# Both models treat each customer as visiting at a personal rate while 'alive' and possibly
# leaving for good at a visit. The BG/NBD model (Fader, Hardie & Lee 2005) assumes
# memoryless visits: a customer who came yesterday is as likely to come tomorrow as one who
# came a year ago. The MBG/CNBD-k model (Reutterer, Platzer & Schröder 2020) lets the time
# between visits be regular, as maintenance every six months or so is, with the regularity
# k chosen by the data (k = 1 is memoryless). Each needs a few numbers per customer: repeat
# visits, the time of the last visit and the time since the first one, here in weeks.

# %% [markdown] tags=["lang-zh"]
# ## 1. 预测进厂次数：两个模型，用留出的一年检验
#
# 两个模型都假设每位客户在“存活”期间以各自的频率进厂，并可能在某次进厂时永久离开。BG/NBD 模型（Fader、Hardie 与 Lee，2005）假设进厂无记忆：昨天刚来的客户与一年没来的客户明天来的可能性一样；MBG/CNBD-k 模型（Reutterer、Platzer 与 Schröder，2020）允许两次进厂的间隔有规律（例如约每半年一次保养），规律程度 k 由数据决定（k = 1 即无记忆）。每位客户只需要重复进厂次数、最近一次进厂的时间和首次进厂至今的时间，这里以周为单位。

# %%
# Fit both models on the calibration period and score their forecasts of the held-out months
cal = btyd.calibration_holdout(orders, "customer_id", "open_date", "gross_profit",
                               calibration_end=cal_end, observation_end=T, freq="D",
                               freq_multiplier=7, regularity=True)
comparison = btyd.compare_holdout(cal, models=("bgnbd", "mbgcnbd"))
errors = comparison.errors_.set_index("model")
# the same comparison on maintenance visits alone, the visits that keep a schedule
maintenance = orders[orders["ro_type"] == "maintenance"]
cal_maintenance = btyd.calibration_holdout(maintenance, "customer_id", "open_date", None,
                                           calibration_end=cal_end, observation_end=T,
                                           freq="D", freq_multiplier=7, regularity=True)
errors_maintenance = btyd.compare_holdout(cal_maintenance).errors_.set_index("model")
n.tell("nb05.holdout_setup", cal_end=cal_end, customers=len(cal), months=holdout_months)

# %%
# Table and figure: forecast against actual visits, all visits and maintenance alone
shown = pd.concat([comparison.errors_.assign(visits=n.text("nb05.visits_all")),
                   errors_maintenance.reset_index().assign(
                       visits=n.text("nb05.visits_maintenance"))])
shown = shown[shown["converged"]].assign(predicted=lambda d: d["predicted"].round().astype(int),
                                         actual=lambda d: d["actual"].round().astype(int))
cols = {c: n.text(f"nb05.holdout_col.{c}")
        for c in ("visits", "name", "k", "predicted", "actual", "bias", "mae")}
n.table(shown[list(cols)].rename(columns=cols),
        ints=[cols[c] for c in ("k", "predicted", "actual")], pct=[cols["bias"]],
        floats=[cols["mae"]], digits=3)
with ch.figure(size=(8, 4.5)) as ax:
    plots.holdout_comparison(comparison, cal, ax=ax, lang=lang, freq="W")

# %%
# Which model forecast each customer's visits better, and by how much
verdict = btyd.holdout_summary(comparison)
for name, message in verdict.failed.items():
    n.tell("nb05.model_failed", model=name, message=message)
if verdict.runner_up is not None:
    n.tell("nb05.holdout_winner", actual=verdict.actual, model=verdict.name, k=verdict.k,
           mae=verdict.mae, gain=verdict.gain, other=verdict.runner_up,
           other_mae=verdict.runner_up_mae, predicted=verdict.predicted,
           error=abs(verdict.bias),
           direction=n.text("nb05.too_few" if verdict.bias < 0 else "nb05.too_many"))

# %%
# How regular are the visits: all visits against maintenance visits alone
regularity_all = btyd.estimate_regularity(orders, as_of=T)
regularity_maintenance = btyd.estimate_regularity(maintenance, as_of=T)
pattern = btyd.regularity_pattern(regularity_all, regularity_maintenance)
choice = "memoryless" if verdict.best != "mbgcnbd" else "k1" if verdict.k == 1 else "rhythm"
regular = errors_maintenance.loc["mbgcnbd"]
maintenance_only = n.text(
    "nb05.maintenance_rhythm", k=int(regular["k"]), mae=regular["mae"],
    bgnbd_mae=errors_maintenance.loc["bgnbd", "mae"], error=abs(regular["bias"]),
    direction=n.text("nb05.too_low" if regular["bias"] < 0 else "nb05.too_high"),
) if errors_maintenance["converged"].all() else ""
n.tell("nb05.regularity", maintenance=regularity_maintenance, all_visits=regularity_all,
       pattern=n.text(f"nb05.pattern_{pattern}"), choice=n.text(f"nb05.choice_{choice}"),
       maintenance_only=maintenance_only)

# %% [markdown] tags=["lang-en"]
# ## 2. Who is still a customer

# %% [markdown] tags=["lang-zh"]
# ## 2. 谁仍是本店客户

# %%
# Refit the better model on the full history: visit rate, loss per visit, live customers
rfm = rfm_summary(orders, "customer_id", "open_date", "gross_profit", as_of=T, freq="D",
                  freq_multiplier=7, regularity=True)
fit = btyd.fit_first(rfm["frequency"], rfm["recency"], rfm["T"], rfm["litt"],
                     models=(comparison.best_model_, "bgnbd", "mbgcnbd"))
for code, message in fit.failed.items():
    n.tell("nb05.refit_failed", model=btyd.BTYD_MODELS[code], message=message)
model, visits = fit.model, btyd.visit_profile(fit.model, freq="W")
rfm["p_alive"] = np.asarray(model.probability_alive(rfm["frequency"], rfm["recency"], rfm["T"]))
recent = btyd.recent_customers(rfm["recency"], rfm["T"], months=holdout_months, freq="W")
n.tell("nb05.alive", as_of=T, customers=len(rfm), model=visits.name,
       visits=visits.visits_per_year, drop=visits.drop_per_visit, alive=rfm["p_alive"].sum(),
       share=rfm["p_alive"].mean(), recent=recent, months=holdout_months)

# %%
# Table: the model's parameters with their 95% intervals
params = model.summary.reset_index()
params = params.rename(columns={params.columns[0]: "parameter"})
cols = {c: n.text(f"nb05.param_col.{key}") for c, key in (
    ("parameter", "parameter"), ("coef", "estimate"), ("se(coef)", "se"),
    ("lower 95%", "low"), ("upper 95%", "high"))}
n.table(params[list(cols)].rename(columns=cols), floats=list(cols.values())[1:], digits=3)

# %%
# Figure: the probability of still being a customer, by visits and time of the last visit
with ch.figure(size=(8, 6)) as ax:
    plots.probability_alive_matrix(model, max_frequency=int(min(rfm["frequency"].max(), 30)),
                                   ax=ax, lang=lang, freq="W")

# %% [markdown] tags=["lang-en"]
# The heat map reads like a store manager's intuition made exact: a customer who has come
# often but not for a long time (top left) is probably gone, while a rare visitor who came
# recently (bottom right) is still likely to be a customer.

# %% [markdown] tags=["lang-zh"]
# 热力图把门店经理的直觉精确化了：来得很勤但很久没来的客户（左上）多半已经流失，而很少来但最近刚来过的客户（右下）仍很可能是本店客户。

# %% [markdown] tags=["lang-en"]
# ## 3. What each customer is worth
#
# The Gamma-Gamma model turns each customer's average gross profit per visit into an
# expected profit per future visit, shrinking the averages of customers with few visits
# toward the store's mean.

# %% [markdown] tags=["lang-zh"]
# ## 3. 每位客户的价值
#
# Gamma-Gamma 模型把每位客户的单次平均毛利转化为未来每次进厂的期望毛利，进厂次数少的客户的平均值会向全店均值收缩。

# %%
# Fit Gamma-Gamma on the repeat customers, then value every customer over the horizon
spend = btyd.fit_spend(rfm["frequency"], rfm["monetary_value"])
excluded = n.text("nb05.spend_excluded", excluded=spend.excluded) if spend.excluded else ""
assumption = n.text("nb05.corr_small" if abs(spend.correlation) < 0.3 else "nb05.corr_large")
n.tell("nb05.spend", customers=spend.customers, excluded=excluded, corr=spend.correlation,
       assumption=assumption, mean=spend.mean_value)
rfm["clv"] = btyd.lifetime_values(model, spend.model, rfm["frequency"], rfm["recency"],
                                  rfm["T"], rfm["monetary_value"], months=clv_months,
                                  annual_discount_rate=annual_discount_rate, freq="W")
clv = rfm["clv"].to_numpy()
clv_total, clv_mean, clv_top20 = float(clv.sum()), float(clv.mean()), top_share(clv, 0.2)
n.tell("nb05.clv", months=clv_months, rate=annual_discount_rate, total=clv_total,
       mean=clv_mean, top20=clv_top20, gini=gini(clv))

# %%
# Figure: how lifetime value is spread over the customers, and how concentrated it is
with ch.figure(1, 2, size=(12, 4.5)) as (left, right):
    upper = float(np.quantile(clv, 0.99)) if len(clv) else 1.0
    left.hist(np.clip(clv, 0, upper), bins=40, color="#4C72B0")
    plotting.label(left, n.plain("nb05.clv_hist_title", months=clv_months),
                   n.text("nb05.clv_hist_x"), n.text("nb05.clv_hist_y"))
    plotting.fmt_rmb(left, "x")
    plots.lorenz_curve(lorenz(clv), ax=right, lang=lang, value_label="gross_profit",
                       title=n.text("nb05.clv_lorenz_title"))

# %%
# Lifetime value by the age of the main vehicle, the deck's dimension for planning contacts
segment_months = 24  # the customers served in these last months
feats = customer_features(ch.data, as_of=T, window_months=segment_months, store_id=ch.store_id)
by_seg = economics.customer_value_by_age(feats, rfm[["customer_id", "p_alive", "clv"]])
n.tell("nb05.segments_intro", customers=len(feats), months=segment_months)
cols = {c: n.text(f"nb05.segment_col.{c}")
        for c in ("segment", "customers", "p_alive", "clv", "clv_total")}
n.table(by_seg.assign(segment=[t(f"age_segment.{s}", lang) for s in by_seg["segment"]])
        .rename(columns=cols), ints=[cols["customers"]], pct=[cols["p_alive"]],
        money=[cols["clv"], cols["clv_total"]])
if by_seg["clv"].notna().any():
    best_segment = by_seg.loc[by_seg["clv"].idxmax(), "segment"]
    n.tell("nb05.segment_best", segment=t(f"age_segment.{best_segment}", lang).lower())

# %% [markdown] tags=["lang-en"]
# ## 4. The store's monthly service P&L

# %% [markdown] tags=["lang-zh"]
# ## 4. 门店的月度售后损益

# %%
# The deck's monthly P&L with this store's own orders, order value, margin and cars sold
deck = economics.StoreEconomics()
pnl = economics.service_pnl(ch.dataset, as_of=T, store_id=ch.store_id, params=deck)
line = pnl.set_index("line")["value"]
n.tell("nb05.pnl_intro", area=deck.floor_area_m2, cost=deck.running_cost_per_month, as_of=T)
with ch.figure(size=(9, 4.5)) as ax:
    plots.pnl_waterfall(pnl, ax=ax, lang=lang)

# %%
# What the workshop earns, and how much of the running cost it covers
service_gp, absorption = float(line["service_gross"]), float(line["service_absorption"])
op_profit = float(line["operating_profit_after_depreciation"])
n.tell("nb05.pnl", gross=service_gp, share=line["service_share_of_gross"],
       absorption=absorption, profit=op_profit,
       consequence=n.text("nb05.absorption_high" if absorption >= 0.5
                          else "nb05.absorption_low"))

# %% [markdown] tags=["lang-en"]
# ## 5. What one new car sold is worth to the workshop

# %% [markdown] tags=["lang-zh"]
# ## 5. 卖出一辆新车对售后的价值

# %%
# The lifetime value of a new car from the store's retention and profit by vehicle age
curve = economics.service_by_age(ch.data, as_of=T, store_id=ch.store_id, max_age=max_age)
# a young store has not sold cars of every age yet: value the years it has observed
years = economics.observed_years(curve, max_age)
ltv = economics.new_car_lifetime_value(curve, discount_rate=annual_discount_rate,
                                       max_age=years)
note = n.text("nb05.ltv_short", years=years, max_age=max_age) if years < max_age else ""
n.tell("nb05.ltv_method", rate=annual_discount_rate, years=years, note=note)
with ch.figure(size=(10, 4.5)) as ax:
    plots.lifetime_value(ltv, ax=ax, lang=lang)

# %%
# A new car's service value against the gross profit of selling it
ratio = ltv.total / deck.gross_per_new_car if deck.gross_per_new_car else float("nan")
worth = "more" if ratio > 1.2 else "same" if ratio >= 0.8 else "less"
n.tell("nb05.ltv", total=ltv.total, undiscounted=ltv.undiscounted_total,
       warranty=ltv.share_in_first_years(3), ratio=ratio, deck=deck.gross_per_new_car,
       verdict=n.text(f"nb05.ltv_{worth}"))

# %% [markdown] tags=["lang-en"]
# ## 6. What-if: keeping more owners after the warranty

# %% [markdown] tags=["lang-zh"]
# ## 6. 情景分析：质保结束后多留住一些车主

# %%
# What-if: retention raised after the warranty, per new car and per year of car sales
lift_to_year = min(lift_to_year, years)
sold_per_year = float(line["new_cars_per_month"]) * 12
lift = economics.retention_lift(curve, points=lift_points,
                                ages=range(lift_from_year - 1, lift_to_year),
                                discount_rate=annual_discount_rate,
                                cars_per_year=sold_per_year, max_age=years)
n.tell("nb05.lift", points=100 * lift_points, first=year_label(lift_from_year - 1, lang),
       last=year_label(lift_to_year - 1, lang), per_car=lift.gain_per_car, cars=sold_per_year,
       per_year=lift.gain_per_year)
with ch.figure(size=(10, 4.5)) as ax:
    plots.retention_lift(lift, ax=ax, lang=lang)

# %% [markdown] tags=["lang-en"]
# ## What it means for the store

# %% [markdown] tags=["lang-zh"]
# ## 对门店的启示

# %%
# The three findings a store manager acts on
n.tell("nb05.conclusions", customers=len(rfm), clv_total=clv_total, months=clv_months,
       top20=clv_top20, absorption=absorption, ltv=ltv.total, years=years,
       points=100 * lift_points, per_year=lift.gain_per_year)

# %%
# Key metrics of the visit and spend models (recorded with the others below)
model_metrics = dict(
    store_id=ch.store_id, as_of=T.date().isoformat(), customers=int(len(rfm)),
    btyd_model=visits.name, btyd_k=visits.k, btyd_r=visits.r, btyd_alpha=visits.alpha,
    btyd_a=visits.a, btyd_b=visits.b, regularity_all_visits=regularity_all,
    regularity_maintenance=regularity_maintenance,
    holdout_mae_bgnbd=float(errors.loc["bgnbd", "mae"]),
    holdout_mae_mbgcnbd=float(errors.loc["mbgcnbd", "mae"]), holdout_best_model=verdict.best,
    holdout_mae_bgnbd_maintenance=float(errors_maintenance.loc["bgnbd", "mae"]),
    holdout_mae_mbgcnbd_maintenance=float(regular["mae"]), mbgcnbd_k_maintenance=int(regular["k"]),
    holdout_actual_visits=verdict.actual, holdout_predicted_visits=verdict.predicted,
    holdout_error=verdict.bias, expected_active_customers=float(rfm["p_alive"].sum()),
    **{f"gg_{k}": float(v) for k, v in spend.model.params_.items()})

# %%
# Key metrics, read back by the report runner and the tests
metrics = n.record(
    **model_metrics,
    clv_months=clv_months, clv_total=clv_total, clv_mean=clv_mean, clv_top20_share=clv_top20,
    orders_per_month=float(line["orders_per_month"]), service_gross_profit_per_month=service_gp,
    service_absorption=absorption, operating_profit_per_month=op_profit,
    new_car_lifetime_value=float(ltv.total), lift_gain_per_car=float(lift.gain_per_car),
    lift_gain_per_year=float(lift.gain_per_year))

"""English and Chinese labels for figures and tables.

Every label lives in :data:`LABELS`, one entry per key with its English and Chinese
text side by side. Keys are dotted: ``table.<name>``, ``column.<name>``, ``<field>.<code>``
for category values (``ro_type.maintenance``, ``sold_here.true``), ``unit.<name>``,
``metric.<name>`` and a few segment vocabularies. There are no silent fallbacks: an
unknown key, or a category code without a label, raises :class:`KeyError` naming it.

Example
-------
>>> from crm_analysis.i18n import t, with_unit
>>> t("ro_type.body_paint", "zh")
'钣喷'
>>> with_unit("metric.vehicle_age", "years", "zh")
'车龄（年）'
>>> t("metric.age_band", "en", n=4)
'Year 4'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "LABELS",
    "LANGS",
    "check_lang",
    "codes",
    "keys",
    "t",
    "translate_columns",
    "translate_values",
    "with_unit",
]

#: Supported languages, in the order of the label tuples in :data:`LABELS`.
LANGS: tuple[str, ...] = ("en", "zh")

#: key -> (English, Chinese). Labels may hold ``str.format`` fields such as ``{n}``.
LABELS: dict[str, tuple[str, str]] = {
    # -- tables ---------------------------------------------------------------------
    "table.stores": ("Stores", "门店"),
    "table.customers": ("Customers", "客户"),
    "table.vehicles": ("Vehicles", "车辆"),
    "table.repair_orders": ("Repair orders", "维修工单"),
    # -- columns: stores ------------------------------------------------------------
    "column.store_id": ("Store code", "门店代码"),
    "column.store_name": ("Store", "门店名称"),
    "column.city": ("City", "城市"),
    "column.opened_date": ("Opening date", "开业日期"),
    # -- columns: customers ---------------------------------------------------------
    "column.customer_id": ("Customer ID", "客户编号"),
    "column.name": ("Customer name", "客户名称"),
    "column.phone": ("Phone", "联系电话"),
    "column.customer_type": ("Customer type", "客户类型"),
    "column.occupation": ("Occupation", "职业"),
    "column.region": ("Region", "所在区域"),
    "column.first_seen_date": ("First visit", "首次到店日期"),
    # -- columns: vehicles ----------------------------------------------------------
    "column.vin": ("VIN", "车架号"),
    "column.sold_here": ("Sold by this store", "是否本店销售"),
    "column.sale_date": ("Purchase date", "购车日期"),
    "column.model": ("Model", "车型"),
    "column.grade": ("Vehicle grade", "车辆档次"),
    "column.usage": ("Vehicle use", "车辆用途"),
    "column.plate": ("Plate number", "车牌号"),
    "column.color": ("Color", "车身颜色"),
    # -- columns: repair orders -----------------------------------------------------
    "column.ro_id": ("Order no.", "工单号"),
    "column.open_date": ("Date in", "进厂日期"),
    "column.close_date": ("Date settled", "结算日期"),
    "column.mileage_km": ("Mileage (km)", "进厂里程（公里）"),
    "column.ro_type": ("Order type", "业务类型"),
    "column.payer": ("Paid by", "付费方"),
    "column.labor_amount": ("Labor (RMB)", "工时费（元）"),
    "column.parts_amount": ("Parts (RMB)", "材料费（元）"),
    "column.other_amount": ("Other charges (RMB)", "其他费用（元）"),
    "column.total_amount": ("Order total (RMB)", "结算金额（元）"),
    "column.labor_cost": ("Labor cost (RMB)", "工时成本（元）"),
    "column.parts_cost": ("Parts cost (RMB)", "材料成本（元）"),
    "column.advisor": ("Service advisor", "服务顾问"),
    # -- category values ------------------------------------------------------------
    "ro_type.maintenance": ("Maintenance", "保养"),
    "ro_type.repair": ("Repair", "维修"),
    "ro_type.body_paint": ("Body & paint", "钣喷"),
    "ro_type.warranty": ("Warranty", "保修索赔"),
    "ro_type.detailing": ("Detailing", "美容"),
    "ro_type.other": ("Other", "其他"),
    "payer.customer": ("Customer", "客户自付"),
    "payer.warranty": ("Manufacturer (warranty)", "厂家索赔"),
    "payer.insurance": ("Insurance", "保险"),
    "payer.internal": ("Internal", "内部"),
    "usage.private": ("Private", "私家车"),
    "usage.company": ("Company car", "单位用车"),
    "usage.ride_hailing": ("Ride-hailing", "网约车"),
    "usage.taxi": ("Taxi", "出租车"),
    "usage.government": ("Government", "公务用车"),
    "grade.economy": ("Economy", "经济型"),
    "grade.mid": ("Mid-range", "中级"),
    "grade.premium": ("Premium", "高端"),
    "customer_type.individual": ("Individual", "个人"),
    "customer_type.company": ("Company", "企业"),
    "customer_type.government": ("Government agency", "政府机关"),
    "status.active": ("Active", "活跃"),
    "status.dormant": ("Dormant", "休眠"),
    "status.lost": ("Lost", "流失"),
    "status.never_returned": ("Never returned", "未回厂"),
    "sold_here.true": ("Sold here", "本店销售"),
    "sold_here.false": ("Sold elsewhere", "他店销售"),
    # -- units ----------------------------------------------------------------------
    "unit.orders": ("orders", "单"),
    "unit.rmb": ("RMB", "元"),
    "unit.yuan": ("¥", "¥"),
    "unit.vehicles": ("vehicles", "辆"),
    "unit.customers": ("customers", "户"),
    "unit.years": ("years", "年"),
    "unit.months": ("months", "月"),
    "unit.km": ("km", "公里"),
    "unit.share": ("%", "%"),
    # -- metrics and axes -----------------------------------------------------------
    "metric.vehicle_age": ("Vehicle age", "车龄"),
    "metric.age_band": ("Year {n}", "第{n}年"),
    "metric.retention_rate": ("Retention rate", "客户掌握率"),
    "metric.active_ratio": ("Active-customer ratio", "活跃客户比例"),
    "metric.vehicle_base": ("Vehicles in operation", "保有车辆"),
    "metric.service_base": ("Service base", "基盘客户"),
    "metric.status": ("Customer status", "客户状态"),
    "metric.orders": ("Repair orders", "工单数"),
    "metric.customers": ("Customers", "客户数"),
    "metric.vehicles": ("Vehicles", "车辆数"),
    "metric.revenue": ("Revenue", "营业收入"),
    "metric.gross_profit": ("Gross profit", "毛利"),
    "metric.cost_to_serve": ("Cost to serve", "服务成本"),
    "metric.net_value": ("Net value", "净价值"),
    "metric.avg_order_value": ("Average order value", "平均单车产值"),
    "metric.visits_per_year": ("Visits per year", "年均进厂次数"),
    "metric.share_of_customers": ("Share of customers", "客户占比"),
    "metric.share_of_profit": ("Share of profit", "利润占比"),
    "metric.cumulative_share": ("Cumulative share", "累计占比"),
    "metric.churn_probability": ("Churn probability", "流失概率"),
    "metric.survival": ("Share still a customer", "客户留存概率"),
    "metric.months_since_last_visit": ("Months since last visit", "距上次进厂月数"),
    "metric.month": ("Month", "月份"),
    "metric.year": ("Year", "年份"),
    # -- customer pyramid (thesis 000) ----------------------------------------------
    "pyramid.important": ("Important", "重要客户"),
    "pyramid.secondary": ("Secondary", "次要客户"),
    "pyramid.key": ("Key", "关键客户"),
    "pyramid.normal": ("Normal", "普通客户"),
    "pyramid.small": ("Small", "小客户"),
    # -- ABC ------------------------------------------------------------------------
    "abc.A": ("A", "A类客户"),
    "abc.B": ("B", "B类客户"),
    "abc.C": ("C", "C类客户"),
    # -- RFM eight segments ---------------------------------------------------------
    "rfm.important_value": ("Important value", "重要价值客户"),
    "rfm.important_develop": ("Important to develop", "重要发展客户"),
    "rfm.important_retain": ("Important to retain", "重要保持客户"),
    "rfm.important_win_back": ("Important to win back", "重要挽留客户"),
    "rfm.general_value": ("General value", "一般价值客户"),
    "rfm.general_develop": ("General to develop", "一般发展客户"),
    "rfm.general_retain": ("General to retain", "一般保持客户"),
    "rfm.general_win_back": ("General to win back", "一般挽留客户"),
    # -- MVC / MGC / BZ (course 003) ------------------------------------------------
    "value_group.mvc": ("Most valuable (MVC)", "最具价值客户"),
    "value_group.mgc": ("Most growable (MGC)", "最具增长潜力客户"),
    "value_group.bz": ("Below zero (BZ)", "负价值客户"),
    "value_group.other": ("Others", "其他客户"),
    # -- five churn classes (001) ---------------------------------------------------
    "churn_class.high_value_stable": ("High value, stable", "高价值稳定客户"),
    "churn_class.high_value_at_risk": ("High value, at risk", "高价值易流失客户"),
    "churn_class.low_value_stable": ("Low value, stable", "低价值稳定客户"),
    "churn_class.low_value_at_risk": ("Low value, at risk", "低价值易流失客户"),
    "churn_class.no_value": ("No value", "无价值客户"),
    # -- vehicle-age segments (004) -------------------------------------------------
    "age_segment.in_warranty": ("In warranty (<3 y)", "质保期内（3年以内）"),
    "age_segment.post_warranty": ("Just out of warranty (3–5 y)", "刚出质保（3–5年）"),
    "age_segment.mature": ("Mature (5–8 y)", "成熟期（5–8年）"),
    "age_segment.old": ("Old (≥8 y)", "老旧车（8年及以上）"),
    # -- customer regions, occupations and warranty status (synthetic generator codes) ---
    "region.urban_core": ("Urban core", "市中心"),
    "region.inner_suburb": ("Inner suburbs", "近郊"),
    "region.outer_suburb": ("Outer suburbs", "远郊"),
    "region.county_town": ("County town", "县城"),
    "region.rural": ("Rural", "乡村"),
    "occupation.office_worker": ("Office worker", "企业职员"),
    "occupation.private_business_owner": ("Business owner", "私营业主"),
    "occupation.civil_servant": ("Civil servant", "公务员"),
    "occupation.teacher": ("Teacher", "教师"),
    "occupation.professional": ("Professional", "专业人士"),
    "occupation.factory_worker": ("Factory worker", "工人"),
    "occupation.retired": ("Retired", "退休人员"),
    "occupation.driver": ("Driver (ride-hailing)", "网约车司机"),
    "occupation.other": ("Other", "其他职业"),
    "warranty_status.in_warranty": ("In warranty", "质保期内"),
    "warranty_status.out_of_warranty": ("Out of warranty", "已出质保"),
    "warranty_status.unknown": ("Warranty unknown", "质保状态未知"),
    # -- more units -----------------------------------------------------------------
    "unit.hours": ("hours", "小时"),
    "unit.rmb_per_year": ("RMB/year", "元/年"),
    # -- clustering features (crm_analysis.plots.cluster_profile) --------------------
    "feature.recency_days": ("Days since last visit", "距上次进厂天数"),
    "feature.recency": ("Recency", "最近消费间隔"),
    "feature.frequency": ("Frequency", "消费频率"),
    "feature.monetary": ("Monetary value", "消费金额"),
    "feature.orders": ("Orders", "工单数"),
    "feature.visits_per_year": ("Visits per year", "年均进厂次数"),
    "feature.revenue": ("Revenue", "营业收入"),
    "feature.gross_profit": ("Gross profit", "毛利"),
    "feature.net_value": ("Net value", "净价值"),
    "feature.main_vehicle_age": ("Vehicle age", "车龄"),
    "feature.vehicle_age": ("Vehicle age", "车龄"),
    "feature.tenure_days": ("Days since first visit", "首次进厂至今天数"),
    "feature.n_vehicles": ("Vehicles", "车辆数"),
    # -- figures (crm_analysis.plots) -------------------------------------------------
    "plot.what_value": ("value", "价值"),
    "plot.what_net_value": ("net value", "净价值"),
    "plot.what_gross_profit": ("gross profit", "毛利"),
    "plot.what_revenue": ("revenue", "营业收入"),
    "plot.share": ("Share", "占比"),
    "plot.share_of": ("Share of {what}", "{what}占比"),
    "plot.value_per_customer": ("Value per customer", "人均价值"),
    # tables of value.grade_table / value.dominant_table
    "plot.per_customer_rmb": ("{what} per customer (RMB)", "人均{what}（元）"),
    "plot.dimension": ("Dimension", "维度"),
    "plot.unknown": ("Unknown", "未知"),
    "plot.log_of": ("{what} (log)", "{what}（对数）"),
    "plot.n_customers": ("{name} (n={n})", "{name}（{n}户）"),
    "plot.dim_pyramid": ("Pyramid tier", "金字塔层级"),
    "plot.dim_abc": ("ABC class", "ABC类别"),
    "plot.dim_rfm": ("RFM segment", "RFM客户类别"),
    "plot.dim_value_group": ("Value group", "价值分组"),
    "plot.dim_value_grade": ("Value grade", "价值等级"),
    "plot.dim_age_segment": ("Vehicle-age segment", "车龄段"),
    "plot.dim_age_band": ("Vehicle age", "车龄"),
    "plot.dim_churn_class": ("Churn class", "流失风险类别"),
    "plot.dim_warranty_status": ("Warranty status", "质保状态"),
    "plot.dim_status": ("Customer status", "客户状态"),
    "plot.dim_cluster": ("Cluster", "客户群"),
    "plot.lorenz_title": ("Lorenz curve of customer {what}", "客户{what}洛伦兹曲线"),
    "plot.lorenz_x": (
        "Cumulative share of customers, lowest value first",
        "累计客户占比（按价值从低到高）",
    ),
    "plot.cumulative_share_of": ("Cumulative share of {what}", "累计{what}占比"),
    "plot.lorenz_legend": ("Lorenz curve (Gini {gini})", "洛伦兹曲线（基尼系数 {gini}）"),
    "plot.equality": ("Line of equality", "绝对平均线"),
    "plot.top_share": (
        "Top {pct} of customers\nhold {share} of {what}",
        "前{pct}的客户\n贡献了{share}的{what}",
    ),
    "plot.grade_shares_title": (
        "Share of customers and of {what} by {grading}",
        "各{grading}的客户占比与{what}占比",
    ),
    "plot.pyramid_title": ("Customer pyramid", "客户金字塔"),
    "plot.pyramid_tier": ("customers {c} · {what} {v}", "客户 {c} · {what} {v}"),
    "plot.pyramid_key": ("Key customers", "关键客户"),
    "plot.pyramid_x": (
        "Share of customers · share of {what} per tier",
        "各层客户占比 · {what}占比",
    ),
    "plot.pyramid_y": ("Tier (top = most valuable)", "客户层级（越往上价值越高）"),
    "plot.pareto_title": ("ABC analysis: Pareto curve of {what}", "ABC分类：{what}帕累托曲线"),
    "plot.pareto_x": (
        "Cumulative share of customers, highest value first",
        "累计客户占比（按价值从高到低）",
    ),
    "plot.pareto_curve": ("Cumulative share of {what}", "累计{what}占比"),
    "plot.pareto_band": ("{cls}\n{pct} of customers", "{cls}\n占客户{pct}"),
    "plot.rfm_title": ("RFM segments: customers and {what}", "RFM八类客户：客户数与{what}"),
    "plot.value_matrix_title": (
        "Actual vs potential value of customers",
        "客户实际价值与潜在价值",
    ),
    "plot.actual_value": ("Actual value", "实际价值"),
    "plot.potential_value": ("Potential value (next 12 months)", "潜在价值（未来12个月）"),
    "plot.parity": ("Potential = actual", "潜在价值＝实际价值"),
    "plot.mvc_threshold": ("MVC threshold", "最具价值客户门槛"),
    "plot.mgc_threshold": ("MGC threshold", "最具增长潜力客户门槛"),
    "plot.cluster_title": ("Cluster profiles", "客户群特征画像"),
    "plot.cluster_n": ("Cluster {n}", "第{n}类客户"),
    "plot.feature": ("Feature", "特征"),
    "plot.z_score": ("Standardized across clusters (z-score)", "各群间标准化值（z分数）"),
    "plot.centroid": ("Cluster centre", "聚类中心值"),
    "plot.profile_title": ("{value} by {row} and {col}", "按{row}和{col}划分的{value}"),
    "plot.allocation_title": ("Resource allocation by {grading}", "按{grading}分配服务资源"),
    "plot.basis_value": ("In proportion to {what}", "按{what}比例分配"),
    "plot.basis_head": ("In proportion to headcount", "按客户人数平均分配"),
    "plot.share_of_resources": ("Share of resources", "资源占比"),
    "plot.resource_hours": ("Advisor hours", "顾问工时"),
    "plot.resource_budget": ("Campaign budget", "营销预算"),
    # -- retention charts (issue 5; crm_analysis.plots) -----------------------------
    "unit.share_per_year": ("% per year", "%/年"),
    "plot.faw_title": ("{rate} and {active} by vehicle age", "各车龄{rate}与{active}"),
    "plot.by_vehicle_age": ("{what} by vehicle age", "各车龄{what}"),
    "plot.share_of_vehicles": ("Share of vehicles", "车辆占比"),
    "plot.interval": ("{level} confidence interval", "{level}置信区间"),
    "plot.survival_title": (
        "How long the customer relationship lasts, by vehicle age",
        "客户关系留存曲线（按车龄）",
    ),
    "plot.versus": ("{what} (vs {ref})", "{what}（相对于{ref}）"),
    "plot.field_code": ("{field}: {code}", "{field}：{code}"),
    "plot.all_vehicles": ("All vehicles", "全部车辆"),
    "plot.at_risk": ("Number at risk", "风险集车辆数"),
    "plot.median_age": ("{name} (median {age} years)", "{name}（中位数{age}年）"),
    "plot.median_line": ("Median", "中位数"),
    "plot.cohort_title": (
        "Retention rate by sale-year cohort and vehicle age",
        "各购车年份车辆分车龄的客户掌握率",
    ),
    "plot.sale_year": ("Sale year", "购车年份"),
    "plot.cohort_n": ("{year} (n={n})", "{year}（{n}辆）"),
    "plot.funnel_title": (
        "Service funnel: who comes back for each service",
        "回厂保养漏斗：逐次回厂的车辆比例",
    ),
    "plot.visit_n": ("{nth}", "第{nth}次"),
    "plot.funnel_x": ("Service visit after the sale", "购车后回厂次序"),
    "plot.funnel_y": ("Share of vehicles sold here", "占本店销售车辆比例"),
    "plot.funnel_conditional": ("{pct} of previous", "上一次的{pct}"),
    "plot.forest_title": (
        "What drives defection: hazard ratios (Cox model)",
        "流失影响因素：风险比（Cox模型）",
    ),
    "plot.hazard_ratio_x": (
        "Hazard ratio with {level} confidence interval (log scale)",
        "风险比及{level}置信区间（对数刻度）",
    ),
    "plot.covariate": ("Covariate", "影响因素"),
    "plot.significant_up": (
        "Significant (p < {alpha}): leave sooner",
        "显著（p < {alpha}）：流失更快",
    ),
    "plot.significant_down": (
        "Significant (p < {alpha}): stay longer",
        "显著（p < {alpha}）：留存更久",
    ),
    "plot.not_significant": ("Not significant", "不显著"),
    "plot.no_effect": ("No effect (ratio 1)", "无影响（风险比为1）"),
    "plot.hazard_title": ("Yearly defection hazard by vehicle age", "各车龄年流失风险"),
    "plot.hazard": ("Defection hazard", "年流失风险"),
    "plot.warranty_cliff": (
        "Warranty cliff: {before} → {after}",
        "质保到期断崖：{before} → {after}",
    ),
    "plot.status_title": ("Vehicles by customer status and vehicle age", "各车龄车辆的客户状态"),
    "plot.n_vehicles": ("n={n}", "{n}辆"),
    # -- covariates of the defection model (crm_analysis.plots.forest_plot) -------------
    "covariate.first_year_visits": ("First-year visits", "首年进厂次数"),
    "covariate.in_warranty": ("In warranty", "质保期内"),
    "covariate.in_warranty_at_exit": ("In warranty", "质保期内"),
    "covariate.out_of_warranty": ("Out of warranty", "已出质保"),
    "covariate.annual_km": ("Annual mileage", "年行驶里程"),
    "covariate.annual_km_10k": ("Annual mileage (per 10,000 km)", "年行驶里程（每万公里）"),
    "covariate.entry_age": ("Vehicle age at first visit", "首次进厂车龄"),
    "covariate.orders": ("Orders", "工单数"),
    "covariate.sold_here": ("Sold by this store", "本店销售"),
    "covariate.warranty": ("Warranty", "质保"),
    "covariate.warranty_in": ("In warranty", "质保期内"),
    "covariate.warranty_ending": ("Warranty ending", "质保即将到期"),
    "covariate.warranty_out": ("Out of warranty", "已出质保"),
    "plot.per_visit": ("{what} (per visit)", "{what}（每次）"),
    "plot.per_amount": ("{what} (per {amount})", "{what}（每{amount}）"),
    "plot.yes": ("yes", "是"),
    "plot.no": ("no", "否"),
    # -- churn model (crm_analysis.churn) ---------------------------------------------
    "churn_model.logistic": ("Logistic regression", "逻辑回归"),
    "churn_model.gradient_boosting": ("Gradient boosting", "梯度提升树"),
    "churn_model.recency_rule": ("Recency rule", "最近进厂间隔规则"),
    "churn_model.bgnbd_p_alive": ("BG/NBD: 1 − P(alive)", "BG/NBD：1 − 存活概率"),
    "churn_model.mbgcnbd_p_alive": ("MBG/CNBD-k: 1 − P(alive)", "MBG/CNBD-k：1 − 存活概率"),
    "churn_model.kind_model": ("Model", "模型"),
    "churn_model.kind_baseline": ("Baseline", "基准方法"),
    "churn_model.roc_auc": ("ROC-AUC", "ROC-AUC"),
    "churn_model.pr_auc": ("PR-AUC (average precision)", "PR-AUC（平均精确率）"),
    "churn_model.brier": ("Brier score", "Brier分数"),
    "churn_model.top_decile_lift": ("Top-decile lift", "前10%客户提升度"),
    "churn_model.churn_rate": ("Churn rate", "流失率"),
    "churn_model.n_train": ("Training rows", "训练样本数"),
    "churn_model.n_test": ("Test customers", "测试客户数"),
    "churn_model.churned": ("Churned", "已流失"),
    "churn_model.churn_probability": ("Churn probability", "流失概率"),
    "churn_model.reason": ("Reason {n}", "流失原因{n}"),
    "churn_model.perfect_calibration": ("Perfect calibration", "完全校准"),
    "churn_model.calibration_title": (
        "Predicted vs observed churn, test snapshot {date}",
        "预测与实际流失率对比（测试快照 {date}）",
    ),
    "churn_model.mean_predicted": ("Mean predicted churn probability", "平均预测流失概率"),
    "churn_model.observed_rate": ("Observed churn rate", "实际流失率"),
    "churn_model.importance_title": ("Permutation importance: {model}", "置换重要性：{model}"),
    "churn_model.importance_x": (
        "Drop in ROC-AUC when the feature is shuffled",
        "打乱该特征后ROC-AUC的下降",
    ),
    "churn_model.feature": ("Feature", "特征"),
    "churn_model.roc_title": ("ROC curves, test snapshot {date}", "ROC曲线（测试快照 {date}）"),
    "churn_model.roc_legend": ("{model} (AUC {auc})", "{model}（AUC {auc}）"),
    "churn_model.chance": ("Chance", "随机猜测"),
    "churn_model.false_positive_rate": (
        "Stayers flagged (false positive rate)", "被误判为流失的留存客户占比（假阳性率）"),
    "churn_model.true_positive_rate": (
        "Churners caught (true positive rate)", "被识别出的流失客户占比（真阳性率）"),
    "churn_model.probabilities_title": (
        "Churn probability of today's customers", "当前客户的流失概率分布"),
    "churn_model.no_visit_probability": (
        "Probability of no visit in the next {months} months", "未来 {months} 个月不进厂的概率"),
    "churn_model.feature_months_since_last_order": ("Months since last visit", "距上次进厂月数"),
    "churn_model.feature_overdue_ratio": (
        "Time since last visit / usual gap", "距上次进厂时间 ÷ 惯常间隔"),
    "churn_model.feature_orders": ("Orders in window", "观察窗口内工单数"),
    "churn_model.feature_orders_12m": ("Orders, last 12 months", "近12个月工单数"),
    "churn_model.feature_orders_prev_12m": ("Orders, 12 months before", "前一个12个月工单数"),
    "churn_model.feature_visit_trend": ("Change in yearly orders", "年工单数变化"),
    "churn_model.feature_visits_per_year": ("Visits per year", "年均进厂次数"),
    "churn_model.feature_frequency": ("Repeat visit days (history)", "历史重复进厂天数"),
    "churn_model.feature_tenure_years": ("Years since first visit", "首次进厂至今年数"),
    "churn_model.feature_revenue": ("Revenue", "营业收入"),
    "churn_model.feature_gross_profit": ("Gross profit", "毛利"),
    "churn_model.feature_net_value": ("Net value", "净价值"),
    "churn_model.feature_avg_order_value": ("Average order value", "平均单次产值"),
    "churn_model.feature_n_vehicles": ("Vehicles", "车辆数"),
    "churn_model.feature_main_vehicle_age": ("Vehicle age", "车龄"),
    "churn_model.feature_annual_km": ("Kilometres per year", "年行驶里程"),
    "churn_model.feature_months_to_warranty_end": (
        "Months to warranty end", "距质保到期月数"),
    "churn_model.feature_sold_here": ("Bought at this store", "本店购车"),
    "churn_model.feature_share_maintenance": ("Share of maintenance", "保养占比"),
    "churn_model.feature_share_repair": ("Share of repairs", "维修占比"),
    "churn_model.feature_share_body_paint": ("Share of body & paint", "钣喷占比"),
    "churn_model.feature_share_warranty": ("Share of warranty work", "保修索赔占比"),
    "churn_model.feature_share_detailing": ("Share of detailing", "美容占比"),
    "churn_model.feature_share_other": ("Share of other orders", "其他业务占比"),
    "churn_model.feature_customer_type": ("Customer type", "客户类型"),
    "churn_model.feature_occupation": ("Occupation", "职业"),
    "churn_model.feature_region": ("Region", "所在区域"),
    "churn_model.feature_grade": ("Vehicle grade", "车辆档次"),
    "churn_model.feature_usage": ("Vehicle use", "车辆用途"),
    "churn_model.feature_warranty_status": ("Warranty status", "质保状态"),
    # -- churn reason codes (crm_analysis.churn.ChurnModel) ----------------------------
    "churn_reason.long_since_last_visit": ("Long time since the last visit", "距上次进厂时间较长"),
    "churn_reason.recent_visit": ("Visited recently", "近期有进厂"),
    "churn_reason.overdue_for_service": (
        "Later than the usual visit rhythm", "超出惯常进厂间隔"),
    "churn_reason.visits_on_schedule": ("Visits on the usual rhythm", "按惯常间隔进厂"),
    "churn_reason.single_visit": ("Only one visit day so far", "仅有一天进厂记录"),
    "churn_reason.many_visits": ("Many visits", "进厂次数多"),
    "churn_reason.few_visits": ("Few visits", "进厂次数少"),
    "churn_reason.rising_visits": ("Visits rising", "进厂次数上升"),
    "churn_reason.falling_visits": ("Visits falling", "进厂次数下降"),
    "churn_reason.long_relationship": ("Long-standing customer", "多年老客户"),
    "churn_reason.new_customer": ("New customer", "新客户"),
    "churn_reason.high_spend": ("High spend", "消费金额高"),
    "churn_reason.low_spend": ("Low spend", "消费金额低"),
    "churn_reason.old_vehicle": ("Older vehicle", "车龄较长"),
    "churn_reason.new_vehicle": ("Newer vehicle", "车龄较短"),
    "churn_reason.vehicle_age_unknown": ("Vehicle age unknown", "车龄未知"),
    "churn_reason.warranty_ended": ("Warranty has ended", "已出质保"),
    "churn_reason.warranty_ending": ("Warranty ends within 12 months", "质保将在12个月内到期"),
    "churn_reason.in_warranty": ("In warranty", "仍在质保期内"),
    "churn_reason.warranty_unknown": ("Warranty status unknown", "质保状态未知"),
    "churn_reason.high_mileage_usage": ("High-mileage use", "高里程用车"),
    "churn_reason.low_mileage_usage": ("Low-mileage use", "低里程用车"),
    "churn_reason.fleet_usage": ("Company or government car", "单位或公务用车"),
    "churn_reason.mileage_unknown": ("Mileage unknown", "行驶里程未知"),
    "churn_reason.grade_economy": ("Economy car", "经济型车"),
    "churn_reason.grade_mid": ("Mid-range car", "中级车"),
    "churn_reason.grade_premium": ("Premium car", "高端车"),
    "churn_reason.grade_unknown": ("Vehicle grade unknown", "车辆档次未知"),
    "churn_reason.bought_here": ("Bought at this store", "本店购车"),
    "churn_reason.bought_elsewhere": ("Bought elsewhere", "他店购车"),
    "churn_reason.sale_origin_unknown": ("Place of purchase unknown", "购车来源未知"),
    "churn_reason.company_customer": ("Company or government customer", "企业或机关客户"),
    "churn_reason.several_vehicles": ("Several vehicles", "多车客户"),
    "churn_reason.single_vehicle": ("Single vehicle", "单车客户"),
    "churn_reason.customer_region": ("Where the customer lives", "客户所在区域"),
    "churn_reason.customer_occupation": ("Customer's occupation", "客户职业"),
    "churn_reason.order_mix": ("Mix of order types", "业务类型构成"),
    # -- data overview (crm_analysis.overview, notebook 01) ----------------------------
    "overview.table": ("Table", "数据表"),
    "overview.rows": ("Rows", "行数"),
    "overview.file": ("File", "文件"),
    "overview.sheet": ("Sheet", "工作表"),
    "overview.read": ("Rows read", "读取行数"),
    "overview.accepted": ("Accepted", "采用"),
    "overview.duplicates": ("Duplicates merged", "重复合并"),
    "overview.quarantined": ("Quarantined", "隔离"),
    "overview.reason": ("Reason", "原因"),
    "overview.code": ("Code", "代码"),
    "overview.rows_quarantined": ("Rows quarantined", "隔离行数"),
    "overview.share_of_read": ("Share of rows read", "占读取行数"),
    "overview.flag": ("Flag", "标记"),
    "overview.rows_flagged": ("Rows kept but flagged", "保留但标记的行数"),
    "overview.orders": ("Orders", "工单数"),
    "overview.share_orders": ("Share of orders", "工单占比"),
    "overview.revenue": ("Revenue (RMB)", "收入（元）"),
    "overview.share_revenue": ("Share of revenue", "收入占比"),
    "overview.avg_order_value": ("Average order (RMB)", "平均单价（元）"),
    "overview.sold_here": ("Origin", "来源"),
    "overview.vehicles": ("Vehicles", "车辆数"),
    "overview.revenue_per_vehicle": ("Revenue per vehicle (RMB)", "单车收入（元）"),
    "overview.monthly_orders_title": ("Repair orders per month", "每月维修工单数"),
    "overview.monthly_orders_y": ("Orders per month", "工单数（单/月）"),
    "overview.monthly_revenue_title": ("After-sales revenue per month", "每月售后收入"),
    "overview.monthly_revenue_y": ("Revenue (RMB per month)", "收入（元/月）"),
    "overview.mix_title": ("Order mix, last 12 months", "近12个月业务构成"),
    "overview.share_pct": ("Share (%)", "占比（%）"),
    "overview.base_sold_here": ("Vehicle base (sold here)", "保有车辆（本店销售）"),
    "overview.service_sold_here": ("Service base: sold here", "基盘：本店销售"),
    "overview.service_elsewhere": ("Service base: bought elsewhere", "基盘：他店销售"),
    "overview.over_ten": ("Over 10 y", "10年以上"),
    "overview.age_title": ("Vehicles by age: sold vs still serviced here",
                           "各车龄车辆：保有与基盘"),
    "overview.age_x": ("Vehicle age (year of life)", "车龄（第几年）"),
    "overview.age_y": ("Vehicles", "车辆数（辆）"),
}

# Where translate_columns looks a column name up, in order.
_COLUMN_PREFIXES = ("column", "metric")


def check_lang(lang: str) -> str:
    """Return ``lang`` if it is supported, else raise :class:`ValueError` listing the valid ones.

    Example
    -------
    >>> check_lang("zh")
    'zh'
    >>> check_lang("fr")
    Traceback (most recent call last):
    ...
    ValueError: unsupported language 'fr'; valid languages: 'en', 'zh'
    """
    if lang not in LANGS:
        valid = ", ".join(repr(x) for x in LANGS)
        raise ValueError(f"unsupported language {lang!r}; valid languages: {valid}")
    return lang


def t(key: str, lang: str = "en", *, labels: Mapping[str, tuple[str, str]] | None = None,
      **fmt: Any) -> str:
    """The label of ``key`` in ``lang``; ``fmt`` fills ``{placeholders}``.

    ``labels`` looks the key up in a module's own catalog of (English, Chinese) pairs
    instead of :data:`LABELS` (the texts of one chapter's tables and charts): the one
    label lookup of the package.

    Raises :class:`KeyError` naming the key and the language when there is no label,
    and :class:`ValueError` for an unsupported language.

    Example
    -------
    >>> t("payer.insurance", "zh")
    '保险'
    >>> t("metric.age_band", "zh", n=1)
    '第1年'
    >>> t("ro_type.oil_change", "zh")
    Traceback (most recent call last):
    ...
    KeyError: "no label for key 'ro_type.oil_change' in language 'zh'"
    """
    idx = LANGS.index(check_lang(lang))
    try:
        label = (LABELS if labels is None else labels)[key][idx]
    except KeyError:
        raise KeyError(f"no label for key {key!r} in language {lang!r}") from None
    return label.format(**fmt) if fmt else label


def with_unit(key: str, unit: str, lang: str = "en", **fmt: Any) -> str:
    """An axis label with its unit: ``"Vehicle age (years)"`` / ``"车龄（年）"``.

    ``unit`` is the name of a ``unit.*`` entry (``"years"``, ``"rmb"``, ``"share"``, ...).

    Example
    -------
    >>> with_unit("metric.retention_rate", "share", "en")
    'Retention rate (%)'
    >>> with_unit("metric.revenue", "rmb", "zh")
    '营业收入（元）'
    """
    label, unit_label = t(key, lang, **fmt), t(f"unit.{unit}", lang)
    return f"{label}（{unit_label}）" if lang == "zh" else f"{label} ({unit_label})"


def keys(prefix: str = "") -> list[str]:
    """All label keys starting with ``prefix``, in dictionary order.

    Example
    -------
    >>> keys("grade.")
    ['grade.economy', 'grade.mid', 'grade.premium']
    """
    return [k for k in LABELS if k.startswith(prefix)]


def codes(field: str) -> tuple[str, ...]:
    """The category codes that have labels for ``field``.

    Example
    -------
    >>> codes("payer")
    ('customer', 'warranty', 'insurance', 'internal')
    """
    return tuple(k.split(".", 1)[1] for k in keys(f"{field}."))


def _code(value: Any) -> str:
    """The key suffix of a category value (``True`` -> ``"true"``)."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value)


def _mapping(values: pd.Series | pd.Index, field: str, lang: str) -> dict[Any, str]:
    uniques = values.dropna().unique()
    if isinstance(values.dtype, pd.CategoricalDtype):
        uniques = values.dtype.categories
    return {v: t(f"{field}.{_code(v)}", lang) for v in uniques}


def translate_values(
    values: pd.Series | pd.Index, lang: str = "en", *, field: str | None = None
) -> pd.Series | pd.Index:
    """Replace category codes by their display names.

    The labels are looked up as ``<field>.<code>``, where ``field`` defaults to the name
    of the Series or Index (``"ro_type"``, ``"payer"``, ``"sold_here"``, ...). Missing
    values stay missing; a categorical keeps its category order; booleans map to
    ``<field>.true`` / ``<field>.false``. A code without a label raises
    :class:`KeyError` naming it.

    Example
    -------
    >>> import pandas as pd
    >>> s = pd.Series(["maintenance", "body_paint", None], name="ro_type")
    >>> translate_values(s, "zh").tolist()
    ['保养', '钣喷', nan]
    >>> translate_values(pd.Index([True, False], name="sold_here"), "en").tolist()
    ['Sold here', 'Sold elsewhere']
    """
    check_lang(lang)
    if not isinstance(values, pd.Series | pd.Index) or isinstance(values, pd.MultiIndex):
        raise TypeError(f"expected a pandas Series or (flat) Index, got {type(values).__name__}")
    field = field if field is not None else values.name
    if not field:
        raise ValueError("cannot tell which labels to use: name the Series/Index or pass field=")
    mapping = _mapping(values, str(field), lang)
    if isinstance(values.dtype, pd.CategoricalDtype):
        if isinstance(values, pd.Series):
            return values.cat.rename_categories(mapping)
        return values.rename_categories(mapping)
    if isinstance(values, pd.Series):
        return values.map(mapping)
    return values.map(lambda v: mapping.get(v, v))


def translate_columns(
    df: pd.DataFrame, lang: str = "en", *, extra: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """A copy of ``df`` with column names replaced by their labels (for display tables).

    Each column is looked up as ``column.<name>``, then ``metric.<name>``; ``extra``
    maps further column names to label keys. An unknown column raises :class:`KeyError`.

    Example
    -------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"ro_type": ["repair"], "total_amount": [1300.5]})
    >>> list(translate_columns(df, "zh").columns)
    ['业务类型', '结算金额（元）']
    """
    check_lang(lang)
    extra = dict(extra or {})
    names = {}
    for col in df.columns:
        if col in extra:
            names[col] = t(extra[col], lang)
            continue
        for prefix in _COLUMN_PREFIXES:
            if f"{prefix}.{col}" in LABELS:
                names[col] = t(f"{prefix}.{col}", lang)
                break
        else:
            raise KeyError(
                f"no label for column {col!r} in language {lang!r} (looked up "
                + ", ".join(f"'{p}.{col}'" for p in _COLUMN_PREFIXES)
                + "; pass extra={column: key})"
            )
    return df.rename(columns=names)

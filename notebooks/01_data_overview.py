# %% [markdown] tags=["remove-cell"]
# # 01 · Data overview of one store
#
# What does the store's DMS export hold, is it clean enough to analyse, and what does the
# store's after-sales business look like at a glance? This notebook is the first chapter
# of every store report. The text of the report is written by the code cells below, in the
# language chosen by `lang` (`"en"` or `"zh"`), with every number taken from the data; this
# cell (tagged `remove-cell`) is left out of the HTML report.

# %% tags=["parameters"]
data_dir = None  # folder of the dataset (stores, customers, ...); None means data/sample
store_id = "001"  # the store to report on (a string: "007" stays "007")
as_of = None  # analysis date "YYYY-MM-DD"; None means the export date of the data
lang = "en"  # "en" or "zh"

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import display

from crm_analysis import plotting
from crm_analysis.context import open_store
from crm_analysis.i18n import t, translate_values
from crm_analysis.narrative import Narrator
from crm_analysis.overview import (
    monthly_activity,
    order_mix,
    vehicle_age_profile,
    window_start,
)

plotting.setup(lang)
n = Narrator(lang)

ctx = open_store(data_dir, store_id=store_id, as_of=as_of)
dataset, ds, store_id, T, store = ctx.dataset, ctx.data, ctx.store_id, ctx.as_of, ctx.store
orders = ds.repair_orders
year_ago = window_start(12, as_of=T)
last12 = orders[(orders["open_date"] > year_ago) & (orders["open_date"] <= T)]

# %%
n.say(
    f"# {store['store_name']} ({store_id}) · data overview\n\n"
    f"Analysis date **{n.date(T)}**. The export holds {n.int(len(orders))} repair orders "
    f"from {n.month(orders['open_date'].min())} to {n.month(orders['open_date'].max())}, "
    f"for {n.int(orders['vin'].nunique())} vehicles of {n.int(orders['customer_id'].nunique())} "
    "customers. Before any grading or retention analysis we check that the data is sound, "
    "then look at the rhythm of the workshop, the kind of work it does and the age of the "
    "cars it looks after.",
    f"# {store['store_name']}（{store_id}）· 数据概览\n\n"
    f"分析日期为**{n.date(T)}**。导出数据包含 {n.int(len(orders))} 张维修工单，"
    f"时间从{n.month(orders['open_date'].min())}到{n.month(orders['open_date'].max())}，"
    f"涉及 {n.int(orders['vin'].nunique())} 辆车、{n.int(orders['customer_id'].nunique())} 位客户。"
    "在做客户分级和保有分析之前，先确认数据可靠，再看车间的业务节奏、业务构成和所服务车辆的车龄。",
)

# %%
n.say(
    "## 1. What the export contains, and whether it is valid\n\n"
    "Rows per table for this store, then the validation of the whole export: unique keys, "
    "orders that point to known vehicles, customers and stores, dates in order, amounts that "
    "add up (`crm_analysis.schema`).",
    "## 1. 数据内容与数据质量\n\n"
    "先看本店各数据表的行数，再看整份导出数据的校验结果：主键是否唯一，工单能否对应到已知的车辆、"
    "客户和门店，日期先后是否合理，金额能否对上（`crm_analysis.schema`）。",
)
counts = pd.DataFrame(
    {
        n("Table", "数据表"): [t(f"table.{k}", lang) for k in
                               ("customers", "vehicles", "repair_orders")],
        n("Rows", "行数"): [len(ds.customers), len(ds.vehicles), len(ds.repair_orders)],
    }
)
display(counts.style.hide(axis="index").format({n("Rows", "行数"): "{:,}"}))

report = dataset.validate()
if report.ok:
    n.say(
        "The validation found **no violation**: every key is unique, every order points to a "
        "known vehicle, customer and store, dates are in order and every total equals labour "
        "plus parts plus other within one fen.",
        "数据校验**未发现问题**：主键唯一，每张工单都能对应到已知的车辆、客户和门店，日期先后合理，"
        "每张工单的结算金额等于工时费、材料费与其他费用之和（误差在一分钱以内）。",
    )
else:
    n.say(
        f"The validation found **{n.int(len(report))} violations**. They are listed below; "
        "figures in this report include the affected rows, so read them with care.",
        f"数据校验发现 **{n.int(len(report))} 处问题**，详见下表；本报告的数字包含这些记录，解读时请留意。",
    )
    display(report.summary())

# %%
# Data quality of raw DMS exports: only when the report was built from raw files
# (ctx.load_result is the LoadResult of crm_analysis.io.load; None for a dataset folder).
lr = ctx.load_result
quality: dict = {}
if lr is not None:
    from pathlib import Path

    from crm_analysis.io.normalize import describe_reason

    def reason_text(code: str) -> str:
        try:
            return describe_reason(code, lang)
        except KeyError:
            return code

    rep = lr.report
    read, accepted = int(rep["read"].sum()), int(rep["accepted"].sum())
    dups, quarantined = int(rep["duplicates"].sum()), int(rep["quarantined"].sum())
    by_reason = lr.quarantine["reason"].value_counts()
    flag_counts = lr.flags["reason"].value_counts()
    n_files = rep["file"].nunique()
    quality = {
        "rows_read": read, "rows_accepted": accepted, "rows_duplicates": dups,
        "rows_quarantined": quarantined, "rows_flagged": len(lr.flags), "files": n_files,
        "quarantine_by_reason": {str(k): int(v) for k, v in by_reason.items()},
        "flags_by_reason": {str(k): int(v) for k, v in flag_counts.items()},
    }
    n.say(
        "### Data quality of the raw export\n\n"
        f"This report was built from **{n.int(n_files)} raw DMS export file(s)**, read with "
        "`crm_analysis.io.load`. Every source row is accounted for: of "
        f"**{n.int(read)} rows read**, {n.int(accepted)} were accepted, {n.int(dups)} were "
        f"exact repeats merged into one, and **{n.int(quarantined)} "
        f"({n.pct(quarantined / read if read else float('nan'))}) were quarantined**: set "
        "aside with a reason, never silently dropped, and left out of every figure of this "
        "report. Names, phone numbers and plates were replaced by keyed pseudonyms on "
        "loading. The counts cover the whole export (every store in it).",
        "### 原始导出数据的质量\n\n"
        f"本报告基于 **{n.int(n_files)} 个DMS原始导出文件**，由 `crm_analysis.io.load` 读取。"
        f"每一行源数据都有去向：共**读取 {n.int(read)} 行**，其中 {n.int(accepted)} 行被采用，"
        f"{n.int(dups)} 行为完全重复的行、合并为一条，**{n.int(quarantined)} 行"
        f"（{n.pct(quarantined / read if read else float('nan'))}）被隔离**：隔离的行均注明原因，"
        "不会被悄悄丢弃，也不计入本报告的任何数字。客户姓名、电话和车牌在读取时已替换为加密假名。"
        "以上计数针对整份导出数据（包含其中所有门店）。",
    )
    per_file = rep.groupby(["file", "sheet"], sort=False)[
        ["read", "accepted", "duplicates", "quarantined"]].sum().reset_index()
    per_file["file"] = [Path(f).name for f in per_file["file"]]
    per_file.columns = [n("File", "文件"), n("Sheet", "工作表"), n("Rows read", "读取行数"),
                        n("Accepted", "采用"), n("Duplicates merged", "重复合并"),
                        n("Quarantined", "隔离")]
    n.table(per_file, ints=per_file.columns[2:])
    if len(by_reason):
        q_table = pd.DataFrame({
            n("Reason", "原因"): [reason_text(r) for r in by_reason.index],
            n("Code", "代码"): by_reason.index,
            n("Rows quarantined", "隔离行数"): by_reason.to_numpy(),
            n("Share of rows read", "占读取行数"): by_reason.to_numpy() / read,
        })
        n.table(q_table, ints=[n("Rows quarantined", "隔离行数")],
                pct=[n("Share of rows read", "占读取行数")])
        top = by_reason.index[0]
        n.say(
            f"The most common reason is *{reason_text(top)}* ({n.int(by_reason.iloc[0])} "
            "rows). `crm-analysis validate` lists every quarantined row with its file, row "
            "number and message, so that the store can correct it in the DMS.",
            f"最常见的隔离原因是“{reason_text(top)}”（{n.int(by_reason.iloc[0])} 行）。"
            "`crm-analysis validate` 会逐行列出被隔离记录的文件、行号和说明，便于门店在DMS中更正。",
        )
    if len(flag_counts):
        f_table = pd.DataFrame({
            n("Flag", "标记"): [reason_text(r) for r in flag_counts.index],
            n("Code", "代码"): flag_counts.index,
            n("Rows kept but flagged", "保留但标记的行数"): flag_counts.to_numpy(),
        })
        n.table(f_table, ints=[n("Rows kept but flagged", "保留但标记的行数")])
        n.say(
            f"{n.int(len(lr.flags))} rows were kept but flagged: they are used in the "
            "analysis, yet the values behind the flags are worth a check.",
            f"另有 {n.int(len(lr.flags))} 行被保留但做了标记：这些行参与分析，但被标记的取值值得核实。",
        )

# %%
n.say(
    "## 2. The workshop month by month\n\n"
    "Orders and revenue per calendar month. Chinese New Year closes the workshop for about a "
    "week, so January or February usually dips.",
    "## 2. 车间的月度业务\n\n"
    "按自然月统计的工单数和收入。春节期间车间停业约一周，因此一月或二月通常出现低谷。",
)
monthly = monthly_activity(orders)
fig, axes = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
axes[0].plot(monthly["month"], monthly["orders"], color="#1f77b4")
plotting.label(axes[0], n("Repair orders per month", "每月维修工单数"), n("Month", "月份"),
               n("Orders per month", "工单数（单/月）"))
axes[0].tick_params(labelbottom=True)
axes[1].plot(monthly["month"], monthly["revenue"], color="#2ca02c")
if lang == "zh":
    plotting.fmt_rmb(axes[1], scale=1e4, suffix="万")
else:
    plotting.fmt_rmb(axes[1])
plotting.label(axes[1], n("After-sales revenue per month", "每月售后收入"),
               n("Month", "月份"), n("Revenue (RMB per month)", "收入（元/月）"))
fig.suptitle(f"{store['store_name']} ({store_id})")
fig.tight_layout()
plt.show()

prev12 = orders[(orders["open_date"] > window_start(24, as_of=T)) & (orders["open_date"] <= year_ago)]
per_month = len(last12) / 12
aov = last12["total_amount"].mean()
growth = (len(last12) / len(prev12) - 1) if len(prev12) else float("nan")
recent = monthly[monthly["month"] > year_ago]
low = recent.loc[recent["orders"].idxmin()] if len(recent) else None
n.say(
    f"Over the last twelve months the workshop opened **{n.int(per_month)} orders a month** "
    f"with an average order value of **{n.rmb(aov)}**, for {n.rmb(last12['total_amount'].sum())} "
    f"of revenue. Order volume is {n.pct(abs(growth))} "
    f"{'above' if growth >= 0 else 'below'} the twelve months before. "
    + (f"The quietest month was {n.month(low['month'])} ({n.int(low['orders'])} orders)."
       if low is not None else ""),
    f"近十二个月车间平均每月开单 **{n.int(per_month)} 张**，平均单价 **{n.rmb(aov)}**，"
    f"合计收入 {n.rmb(last12['total_amount'].sum())}。工单量比前十二个月"
    f"{'增长' if growth >= 0 else '下降'} {n.pct(abs(growth))}。"
    + (f"最淡的月份是{n.month(low['month'])}（{n.int(low['orders'])} 张）。"
       if low is not None else ""),
)

# %%
n.say(
    "## 3. What kind of work: order mix and who pays\n\n"
    "Shares of orders and of revenue by order type over the last twelve months, and who pays "
    "for the work.",
    "## 3. 业务构成与付款方\n\n近十二个月各业务类型的工单占比和收入占比，以及由谁付款。",
)
mix = order_mix(last12)
mix_long = mix.melt(id_vars="ro_type", value_vars=["share_orders", "share_revenue"],
                    var_name="measure", value_name="share")
mix_long["measure"] = mix_long["measure"].map(
    {"share_orders": n("Share of orders", "工单占比"),
     "share_revenue": n("Share of revenue", "收入占比")})
mix_long["ro_type"] = translate_values(mix_long["ro_type"], lang)
fig, ax = plt.subplots(figsize=(9, 4.5))
sns.barplot(data=mix_long, x="ro_type", y="share", hue="measure", ax=ax)
plotting.fmt_pct(ax)
plotting.label(ax, n("Order mix, last 12 months", "近12个月业务构成"),
               n("Order type", "业务类型"), n("Share (%)", "占比（%）"))
ax.legend(title="")
fig.tight_layout()
plt.show()

payers = order_mix(last12, by="payer")
table = pd.DataFrame({
    n("Order type", "业务类型"): translate_values(mix["ro_type"], lang),
    n("Orders", "工单数"): mix["orders"],
    n("Share of orders", "工单占比"): mix["share_orders"],
    n("Revenue (RMB)", "收入（元）"): mix["revenue"],
    n("Share of revenue", "收入占比"): mix["share_revenue"],
    n("Average order (RMB)", "平均单价（元）"): mix["avg_order_value"],
})
display(table.style.hide(axis="index").format({
    n("Orders", "工单数"): "{:,}", n("Share of orders", "工单占比"): "{:.1%}",
    n("Revenue (RMB)", "收入（元）"): "{:,.0f}", n("Share of revenue", "收入占比"): "{:.1%}",
    n("Average order (RMB)", "平均单价（元）"): "{:,.0f}"}))

m = mix.set_index("ro_type")
p = payers.set_index("payer")
maint = m["share_orders"].get("maintenance", 0.0)
bp_rev = m["share_revenue"].get("body_paint", 0.0)
bp_ord = m["share_orders"].get("body_paint", 0.0)
insured = p["share_revenue"].get("insurance", 0.0)
maker = p["share_revenue"].get("warranty", 0.0)
n.say(
    f"Maintenance makes up **{n.pct(maint)} of orders**; body and paint work is only "
    f"{n.pct(bp_ord)} of orders but **{n.pct(bp_rev)} of revenue**, the most valuable work per "
    f"visit. Insurers pay {n.pct(insured)} of revenue and the car maker (warranty and free "
    f"first services) {n.pct(maker)}: the store's income depends on those two partners as well "
    "as on its owners.",
    f"保养占**工单的 {n.pct(maint)}**；钣喷只占工单的 {n.pct(bp_ord)}，却带来**收入的 {n.pct(bp_rev)}**，"
    f"是单次价值最高的业务。保险公司支付了 {n.pct(insured)} 的收入，厂家（保修索赔和免费首保）支付了 "
    f"{n.pct(maker)}：门店的收入既取决于车主，也取决于这两类合作方。",
)

# %%
n.say(
    "## 4. The cars the store looks after: vehicle-age profile\n\n"
    "Two bases: the **vehicle base** (保有车辆), cars the store sold that are at most ten years "
    "old, and the **service base** (基盘), every car serviced here in the last 24 months, "
    "whoever sold it. Comparing them by vehicle age shows where owners drift away.",
    "## 4. 门店服务的车辆：车龄结构\n\n"
    "两个口径：**保有车辆**指本店销售、车龄不超过十年的车辆；**基盘**指近24个月内在本店有过工单的全部车辆，"
    "无论在哪里购买。按车龄对比两者，可以看出客户在哪个阶段流失。",
)
profile = vehicle_age_profile(orders, ds.vehicles, as_of=T, store_id=store_id)
known = profile.dropna(subset=["age_band"]).copy()
# cars over ten years old (only walk-ins in the service base) share one bar
known["year"] = (known["age_band"] + 1).clip(upper=11).astype(int)
own_base = known[known["base"] == "vehicle_base"].groupby("year")["vehicles"].sum()
service = known[known["base"] == "service_base"].pivot_table(
    index="year", columns="sold_here", values="vehicles", aggfunc="sum", fill_value=0)
years = sorted(set(own_base.index) | set(service.index))
own_base = own_base.reindex(years, fill_value=0)
service = service.reindex(index=years, columns=[True, False], fill_value=0)

fig, ax = plt.subplots(figsize=(10, 4.8))
x = pd.Series(range(len(years)), dtype=float)
ax.bar(x - 0.2, own_base.to_numpy(), width=0.4, label=n("Vehicle base (sold here)", "保有车辆（本店销售）"),
       color="#9ecae1")
ax.bar(x + 0.2, service[True].to_numpy(), width=0.4,
       label=n("Service base: sold here", "基盘：本店销售"), color="#3182bd")
ax.bar(x + 0.2, service[False].to_numpy(), width=0.4, bottom=service[True].to_numpy(),
       label=n("Service base: bought elsewhere", "基盘：他店销售"), color="#fd8d3c")
ax.set_xticks(x, [t("metric.age_band", lang, n=y) if y <= 10 else n("Over 10 y", "10年以上")
                 for y in years])
plotting.label(ax, n("Vehicles by age: sold vs still serviced here", "各车龄车辆：保有与基盘"),
               n("Vehicle age (year of life)", "车龄（第几年）"), n("Vehicles", "车辆数（辆）"))
ax.legend()
fig.tight_layout()
plt.show()

base_total = int(own_base.sum())
in_warranty = int(own_base.loc[[y for y in years if y <= 3]].sum())
serv_total = int(service.to_numpy().sum())
walkin = int(service[False].sum())
kept = int(service[True].sum())
unknown_age = int(profile.loc[profile["age_band"].isna(), "vehicles"].sum())
n.say(
    f"The store has sold **{n.int(base_total)} cars** that are ten years old or younger; "
    f"{n.pct(in_warranty / base_total if base_total else float('nan'))} of them are in their "
    f"first three years, the usual warranty period. Its service base holds "
    f"**{n.int(serv_total)} cars**, of which {n.int(kept)} were sold here "
    f"({n.pct(kept / base_total if base_total else float('nan'))} of the vehicle base) and "
    f"**{n.int(walkin)} ({n.pct(walkin / serv_total if serv_total else float('nan'))}) were bought "
    "elsewhere**. The gap between the light and the dark blue bars widens with age: that is the "
    "loss of older-car owners that the retention chapter measures."
    + (f" {n.int(unknown_age)} serviced cars have no sale date and are left out of the chart."
       if unknown_age else ""),
    f"本店销售且车龄不超过十年的车辆共 **{n.int(base_total)} 辆**，其中 "
    f"{n.pct(in_warranty / base_total if base_total else float('nan'))} 处于前三年（通常的质保期内）。"
    f"基盘共 **{n.int(serv_total)} 辆**，其中 {n.int(kept)} 辆为本店销售"
    f"（占保有车辆的 {n.pct(kept / base_total if base_total else float('nan'))}），"
    f"**{n.int(walkin)} 辆（{n.pct(walkin / serv_total if serv_total else float('nan'))}）为他店销售**。"
    "浅蓝与深蓝柱子之间的差距随车龄扩大：这正是后续保有分析要度量的老车客户流失。"
    + (f"另有 {n.int(unknown_age)} 辆在修车辆缺少购车日期，未计入图中。" if unknown_age else ""),
)

# %%
n.say(
    "## 5. Sold here or bought elsewhere: who brings the work\n\n"
    "Orders and revenue of the last twelve months by where the car was bought.",
    "## 5. 本店销售与他店销售：业务从哪里来\n\n按车辆来源统计近十二个月的工单和收入。",
)
origin = last12.merge(ds.vehicles[["vin", "sold_here"]], on="vin", how="left")
by_origin = origin.groupby("sold_here").agg(
    orders=("ro_id", "size"), vehicles=("vin", "nunique"), revenue=("total_amount", "sum"))
by_origin = by_origin.reindex([True, False], fill_value=0)
by_origin["share_revenue"] = by_origin["revenue"] / by_origin["revenue"].sum()
by_origin["revenue_per_vehicle"] = by_origin["revenue"] / by_origin["vehicles"].where(
    by_origin["vehicles"] > 0)
shown = by_origin.reset_index()
shown["sold_here"] = translate_values(shown["sold_here"], lang)
shown.columns = [n("Origin", "来源"), n("Orders", "工单数"), n("Vehicles", "车辆数"),
                 n("Revenue (RMB)", "收入（元）"), n("Share of revenue", "收入占比"),
                 n("Revenue per vehicle (RMB)", "单车收入（元）")]
display(shown.style.hide(axis="index").format({
    n("Orders", "工单数"): "{:,}", n("Vehicles", "车辆数"): "{:,}",
    n("Revenue (RMB)", "收入（元）"): "{:,.0f}", n("Share of revenue", "收入占比"): "{:.1%}",
    n("Revenue per vehicle (RMB)", "单车收入（元）"): "{:,.0f}"}))
walkin_rev = by_origin.loc[False, "share_revenue"]

# %%
n.say(
    "## What it means for the store\n\n"
    f"- The workshop opens {n.int(per_month)} orders a month at {n.rmb(aov)} each, "
    f"{n.pct(abs(growth))} {'more' if growth >= 0 else 'fewer'} than a year earlier.\n"
    f"- Maintenance fills the bays ({n.pct(maint)} of orders) while body and paint pays the "
    f"bills ({n.pct(bp_rev)} of revenue); keeping accident work means keeping good terms with "
    "insurers.\n"
    f"- Cars bought elsewhere bring {n.pct(walkin_rev)} of revenue: conquest service is a real "
    "business, not a side effect.\n"
    "- The store's own sales fade from the service base as they age; the value-grading and "
    "retention chapters ask who is worth keeping and when owners leave.",
    "## 对门店的启示\n\n"
    f"- 车间每月开单 {n.int(per_month)} 张，平均每单 {n.rmb(aov)}，"
    f"比上一年{'增加' if growth >= 0 else '减少'} {n.pct(abs(growth))}。\n"
    f"- 保养撑起了工位（占工单的 {n.pct(maint)}），钣喷撑起了收入（占收入的 {n.pct(bp_rev)}）；"
    "留住事故车业务，就要维护好与保险公司的关系。\n"
    f"- 他店销售的车辆贡献了 {n.pct(walkin_rev)} 的收入：他销车辆的售后是一块实实在在的业务。\n"
    "- 本店售出的车辆随车龄增长逐渐流出基盘；后续的客户分级与保有分析将回答哪些客户值得留住、"
    "客户在什么时候流失。",
)

# %%
metrics = n.record(
    store_id=store_id,
    as_of=T.date().isoformat(),
    orders_total=len(orders),
    orders_last_12m=len(last12),
    orders_per_month=per_month,
    avg_order_value=aov,
    revenue_last_12m=last12["total_amount"].sum(),
    order_growth_yoy=growth,
    share_maintenance=maint,
    share_revenue_body_paint=bp_rev,
    vehicle_base=base_total,
    service_base=serv_total,
    service_base_walkin_share=walkin / serv_total if serv_total else None,
    validation_violations=len(report),
    data_quality=quality or None,
)

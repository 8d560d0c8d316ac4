# %% [markdown] tags=["lang-en"]
# # 01 · Data overview
#
# What does the store's DMS export hold, is it clean enough to analyse, and what does the
# store's after-sales business look like at a glance? This notebook is the first chapter
# of every store report. Before any grading or retention analysis we check that the data
# is sound, then look at the rhythm of the workshop, the kind of work it does and the age
# of the cars it looks after. Every number in the text is computed from the data, in the
# language chosen by `lang` (`"en"` or `"zh"`).

# %% [markdown] tags=["lang-zh"]
# # 01 · 数据概览
#
# 门店的DMS导出数据包含哪些内容？数据是否足够干净、可以用于分析？门店的售后业务总体是什么样子？本章是每份门店报告的第一章。在做客户分级和保有分析之前，先确认数据可靠，再看车间的业务节奏、业务构成和所服务车辆的车龄。文中的每个数字都由数据计算得出，语言由参数 `lang`（`"en"` 或 `"zh"`）选择。

# %% tags=["parameters"]
data_dir = None  # folder of the dataset (stores, customers, ...); None means data/sample
store_id = "001"  # the store to report on (a string: "007" stays "007")
as_of = None  # analysis date "YYYY-MM-DD"; None means the export date of the data
lang = "en"  # "en" or "zh"

# %%
# Open the store: its data, the analysis date, figures and narration in `lang`
from crm_analysis import overview, plots
from crm_analysis.i18n import translate_values
from crm_analysis.notebook import open_chapter

ch = open_chapter(data_dir, store_id=store_id, as_of=as_of, lang=lang)
n, T, orders = ch.n, ch.as_of, ch.orders
ch.title()

# %%
# What the export holds for this store
n.tell("nb01.export", orders=len(orders), first=orders["open_date"].min(),
       last=orders["open_date"].max(), vehicles=orders["vin"].nunique(),
       customers=orders["customer_id"].nunique())

# %% [markdown] tags=["lang-en"]
# ## 1. What the export contains, and whether it is valid
#
# Rows per table for this store, then the validation of the whole export: unique keys,
# orders that point to known vehicles, customers and stores, dates in order, amounts that
# add up (`crm_analysis.schema`).

# %% [markdown] tags=["lang-zh"]
# ## 1. 数据内容与数据质量
#
# 先看本店各数据表的行数，再看整份导出数据的校验结果：主键是否唯一，工单能否对应到已知的车辆、客户和门店，日期先后是否合理，金额能否对上（`crm_analysis.schema`）。

# %%
# Rows per table for this store, then the validation of the whole export
sizes = overview.table_sizes(ch.data)
sizes = overview.labelled(sizes.assign(table=translate_values(sizes["table"], lang)), lang)
n.table(sizes, ints=[sizes.columns[1]])
# the validation of the whole export, with its violations if any
report = ch.dataset.validate()
n.tell("nb01.valid_ok" if report.ok else "nb01.valid_bad", violations=len(report))
if not report.ok:
    n.table(report.summary())

# %% [markdown] tags=["lang-en"]
# ### Data quality of the raw export
#
# A report built from raw DMS export files (read with `crm_analysis.io.load`) accounts for
# every source row: it is accepted, merged with its exact repeat, or quarantined, that is
# set aside with a reason, never silently dropped, and left out of every figure of this
# report. Names, phone numbers and plates are replaced by keyed pseudonyms on loading.
# The counts cover the whole export (every store in it).

# %% [markdown] tags=["lang-zh"]
# ### 原始导出数据的质量
#
# 基于DMS原始导出文件（由 `crm_analysis.io.load` 读取）的报告会交代每一行源数据的去向：被采用、与完全重复的行合并，或被隔离。隔离的行均注明原因，不会被悄悄丢弃，也不计入本报告的任何数字。客户姓名、电话和车牌在读取时已替换为加密假名。以下计数针对整份导出数据（包含其中所有门店）。

# %%
# Row accounting of a raw export (a dataset folder has no raw rows to account for)
lr = ch.ctx.load_result
quality = overview.data_quality(lr, lang=lang) if lr is not None else None
if quality is None:
    n.tell("nb01.quality_none")
else:
    n.tell("nb01.quality", files=quality.files, read=quality.rows_read,
           accepted=quality.rows_accepted, duplicates=quality.rows_duplicates,
           quarantined=quality.rows_quarantined, share=quality.quarantined_share)
    per_file = overview.labelled(quality.per_file, lang)
    n.table(per_file, ints=per_file.columns[2:])

# %%
# Quarantined rows by reason, and rows kept but flagged
if quality is not None and len(quality.quarantine):
    q_table = overview.labelled(quality.quarantine, lang)
    n.table(q_table, ints=[q_table.columns[2]], pct=[q_table.columns[3]])
    top = quality.quarantine.iloc[0]
    n.tell("nb01.quality_top", reason=top["reason"], rows=top["rows_quarantined"])
if quality is not None and len(quality.flags):
    f_table = overview.labelled(quality.flags, lang)
    n.table(f_table, ints=[f_table.columns[2]])
    n.tell("nb01.quality_flags", flagged=quality.rows_flagged)

# %% [markdown] tags=["lang-en"]
# ## 2. The workshop month by month
#
# Orders and revenue per calendar month. Chinese New Year closes the workshop for about a
# week, so January or February usually dips.

# %% [markdown] tags=["lang-zh"]
# ## 2. 车间的月度业务
#
# 按自然月统计的工单数和收入。春节期间车间停业约一周，因此一月或二月通常出现低谷。

# %%
# Orders and revenue per calendar month
monthly = overview.monthly_activity(orders)
with ch.figure(2, 1, size=(10, 6.5), sharex=True) as (top, bottom):
    plots.activity_chart(monthly, measure="orders", ax=top, lang=lang)
    top.tick_params(labelbottom=True)
    plots.activity_chart(monthly, measure="revenue", ax=bottom, lang=lang)

# %%
# The last twelve months against the twelve before
year = overview.last_year_activity(orders, as_of=T)
last12 = year.orders
# year.trend: "up", "down" or "no_history" (no orders in the year before: growth is NaN)
n.tell(f"nb01.activity_{year.trend}",
       per_month=year.orders_per_month, aov=year.avg_order_value, revenue=year.revenue,
       growth=abs(year.growth))
if year.quietest_month is not None:
    n.tell("nb01.quietest", month=year.quietest_month, orders=year.quietest_orders)

# %% [markdown] tags=["lang-en"]
# ## 3. What kind of work: order mix and who pays
#
# Shares of orders and of revenue by order type over the last twelve months, and who pays
# for the work.

# %% [markdown] tags=["lang-zh"]
# ## 3. 业务构成与付款方
#
# 近十二个月各业务类型的工单占比和收入占比，以及由谁付款。

# %%
# Order mix of the last twelve months
mix = overview.order_mix(last12)
with ch.figure(size=(9, 4.5)) as ax:
    plots.order_mix_chart(mix, ax=ax, lang=lang)

# %%
# The mix as a table, then who does the work and who pays
shown = overview.labelled(mix.assign(ro_type=translate_values(mix["ro_type"], lang)), lang)
cols = shown.columns
n.table(shown, ints=[cols[1]], pct=[cols[2], cols[4]], money=[cols[3], cols[5]])
by_type = mix.set_index("ro_type")
by_payer = overview.order_mix(last12, by="payer").set_index("payer")
maint = by_type["share_orders"].get("maintenance", 0.0)
bp_ord = by_type["share_orders"].get("body_paint", 0.0)
bp_rev = by_type["share_revenue"].get("body_paint", 0.0)
n.tell("nb01.mix", maintenance=maint, body_orders=bp_ord, body_revenue=bp_rev,
       insurance=by_payer["share_revenue"].get("insurance", 0.0),
       maker=by_payer["share_revenue"].get("warranty", 0.0))

# %% [markdown] tags=["lang-en"]
# ## 4. The cars the store looks after: vehicle-age profile
#
# Two bases: the **vehicle base**, cars the store sold that are at most ten years old,
# and the **service base**, every car serviced here in the last 24 months,
# whoever sold it. Comparing them by vehicle age shows where owners drift away.

# %% [markdown] tags=["lang-zh"]
# ## 4. 门店服务的车辆：车龄结构
#
# 两个口径：**保有车辆**指本店销售、车龄不超过十年的车辆；**基盘**指近24个月内在本店有过工单的全部车辆，无论在哪里购买。按车龄对比两者，可以看出客户在哪个阶段流失。

# %%
# The vehicle base and the service base by year of life
profile = overview.vehicle_age_profile(orders, ch.data.vehicles, as_of=T, store_id=ch.store_id)
bases = overview.vehicle_bases(profile)
with ch.figure(size=(10, 4.8)) as ax:
    plots.vehicle_bases_chart(bases.table, ax=ax, lang=lang)

# %%
# How many cars each base holds, and how many were bought elsewhere
n.tell("nb01.bases", base=bases.vehicle_base, in_warranty=bases.in_warranty_share,
       service=bases.service_base, sold_here=bases.service_sold_here, kept=bases.kept,
       kept_share=bases.kept_share, walkin=bases.service_elsewhere,
       walkin_share=bases.walkin_share)
if bases.unknown_age:
    n.tell("nb01.unknown_age", vehicles=bases.unknown_age)

# %% [markdown] tags=["lang-en"]
# ## 5. Sold here or bought elsewhere: who brings the work
#
# Orders and revenue of the last twelve months by where the car was bought.

# %% [markdown] tags=["lang-zh"]
# ## 5. 本店销售与他店销售：业务从哪里来
#
# 按车辆来源统计近十二个月的工单和收入。

# %%
# Orders, vehicles and revenue of the last twelve months by origin of the car
by_origin = overview.revenue_by_origin(last12, ch.data.vehicles)
shown = overview.labelled(by_origin.assign(
    sold_here=translate_values(by_origin["sold_here"], lang)), lang)
cols = shown.columns
n.table(shown, ints=[cols[1], cols[2]], pct=[cols[4]], money=[cols[3], cols[5]])
walkin_rev = by_origin.set_index("sold_here").loc[False, "share_revenue"]

# %% [markdown] tags=["lang-en"]
# ## What it means for the store

# %% [markdown] tags=["lang-zh"]
# ## 对门店的启示

# %%
# The chapter in three lines
n.tell(f"nb01.summary_{year.trend}",
       per_month=year.orders_per_month, aov=year.avg_order_value, growth=abs(year.growth),
       maintenance=maint, body_revenue=bp_rev, walkin_revenue=walkin_rev)

# %% [markdown] tags=["lang-en"]
# The store's own sales fade from the service base as they age; the value-grading and
# retention chapters ask who is worth keeping and when owners leave.

# %% [markdown] tags=["lang-zh"]
# 本店售出的车辆随车龄增长逐渐流出基盘；后续的客户分级与保有分析将回答哪些客户值得留住、客户在什么时候流失。

# %%
# Key metrics, read back by the tests and the report runner
metrics = n.record(
    store_id=ch.store_id, as_of=T.date().isoformat(), orders_total=len(orders),
    orders_last_12m=len(last12), orders_per_month=year.orders_per_month,
    avg_order_value=year.avg_order_value, revenue_last_12m=year.revenue,
    order_growth_yoy=year.growth, share_maintenance=maint, share_revenue_body_paint=bp_rev,
    vehicle_base=bases.vehicle_base, service_base=bases.service_base,
    service_base_walkin_share=bases.walkin_share if bases.service_base else None,
    validation_violations=len(report),
    data_quality=quality.metrics() if quality is not None else None,
)

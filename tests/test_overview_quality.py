"""Notebook 01's computations as library functions (crm_analysis.overview).

The row accounting of a raw DMS export, the last twelve months of the workshop, the two
vehicle bases by year of life and the revenue by origin of the car, each checked against
numbers worked out by hand from tiny tables, and against a raw export written by
tests/raw_export.py (ground truth: its LoadResult); the charts that notebook 01 draws
from them.
"""

from __future__ import annotations

import math

import matplotlib
import pandas as pd
import pytest

from crm_analysis import overview, plots
from crm_analysis.io.load import FLAG_COLUMNS, QUARANTINE_COLUMNS, LoadResult
from crm_analysis.schema import example_dataset

matplotlib.use("Agg")


# ------------------------------------------------------------------ data quality


def _load_result(quarantine_reasons, flag_reasons, report_rows):
    q = pd.DataFrame({c: [None] * len(quarantine_reasons) for c in QUARANTINE_COLUMNS})
    q["reason"] = quarantine_reasons
    f = pd.DataFrame({c: [None] * len(flag_reasons) for c in FLAG_COLUMNS})
    f["reason"] = flag_reasons
    report = pd.DataFrame(report_rows,
                          columns=["file", "sheet", "read", "accepted", "duplicates",
                                   "quarantined"])
    return LoadResult(example_dataset(), q, f, report)


@pytest.fixture
def load_result():
    # 2 files, one with two sheets: 40 rows read = 30 accepted + 4 repeats + 6 quarantined
    return _load_result(
        ["unparseable_date"] * 4 + ["summary_row"] + ["missing_key"],
        ["some_future_flag", "some_future_flag", "negative_amount"],
        [("/exports/2023/orders.csv", "", 20, 15, 2, 3),
         ("/exports/2023/book.xlsx", "工单", 12, 9, 1, 2),
         ("/exports/2023/book.xlsx", "车辆", 8, 6, 1, 1)],
    ).check()


def test_data_quality_counts_every_row(load_result):
    q = overview.data_quality(load_result)
    assert (q.files, q.rows_read, q.rows_accepted, q.rows_duplicates, q.rows_quarantined,
            q.rows_flagged) == (2, 40, 30, 4, 6, 3)
    assert q.quarantined_share == pytest.approx(6 / 40)
    assert q.rows_read == q.rows_accepted + q.rows_duplicates + q.rows_quarantined


def test_data_quality_per_file_keeps_reading_order_and_drops_folders(load_result):
    per_file = overview.data_quality(load_result).per_file
    assert per_file.to_numpy().tolist() == [
        ["orders.csv", "", 20, 15, 2, 3],
        ["book.xlsx", "工单", 12, 9, 1, 2],
        ["book.xlsx", "车辆", 8, 6, 1, 1],
    ]


def test_data_quality_reasons_most_common_first_in_the_readers_language(load_result):
    q = overview.data_quality(load_result, lang="zh")
    assert q.quarantine["code"].tolist()[0] == "unparseable_date"
    assert q.quarantine["reason"].tolist()[0] == "日期无法识别"
    assert q.quarantine["rows_quarantined"].tolist() == [4, 1, 1]
    assert q.quarantine["share_of_read"].tolist() == pytest.approx([0.1, 0.025, 0.025])
    # a code without a description (a newer loader) is shown as its code
    assert q.flags[["flag", "code", "rows_flagged"]].to_numpy().tolist()[0] == [
        "some_future_flag", "some_future_flag", 2]
    en = overview.data_quality(load_result, lang="en")
    assert en.quarantine["reason"].tolist()[0] == "a date cell could not be read as a date"


def test_data_quality_metrics_are_the_recorded_ones(load_result):
    m = overview.data_quality(load_result).metrics()
    assert m == {
        "rows_read": 40, "rows_accepted": 30, "rows_duplicates": 4, "rows_quarantined": 6,
        "rows_flagged": 3, "files": 2,
        "quarantine_by_reason": {"unparseable_date": 4, "summary_row": 1, "missing_key": 1},
        "flags_by_reason": {"some_future_flag": 2, "negative_amount": 1},
    }
    assert all(type(v) is int for v in m["quarantine_by_reason"].values())


def test_data_quality_of_a_clean_export_has_empty_tables():
    q = overview.data_quality(_load_result([], [], [("a.csv", "", 5, 5, 0, 0)]))
    assert (q.rows_read, q.rows_quarantined, len(q.quarantine), len(q.flags)) == (5, 0, 0, 0)
    assert q.quarantined_share == 0.0
    empty = overview.data_quality(_load_result([], [], []))
    assert math.isnan(empty.quarantined_share)


def test_data_quality_refuses_what_is_not_a_load_result():
    with pytest.raises(TypeError, match="data_quality: load_result must be"):
        overview.data_quality(None)
    with pytest.raises(ValueError):
        overview.data_quality(_load_result([], [], []), lang="fr")


def test_data_quality_matches_a_raw_export(tmp_path):
    """Ground truth: the LoadResult of a messy export written by tests/raw_export.py."""
    from raw_export import AS_OF, make_export

    from crm_analysis.context import load_data

    folder = tmp_path / "dms"
    make_export(folder, formats=("csv",), months_per_file=72)
    lr = load_data(folder, as_of=AS_OF).load_result
    q = overview.data_quality(lr)
    rep = lr.report
    assert q.rows_read == int(rep["read"].sum()) > 0
    assert q.rows_quarantined == int(rep["quarantined"].sum()) == len(lr.quarantine) > 0
    assert q.metrics()["quarantine_by_reason"] == lr.quarantine["reason"].value_counts().to_dict()
    assert q.per_file["read"].sum() == q.rows_read
    assert set(q.per_file["file"]) == {p.rsplit("/", 1)[-1] for p in rep["file"]}


# ------------------------------------------------------------------ twelve months


def _orders(dates, amounts):
    return pd.DataFrame({"open_date": pd.to_datetime(dates), "vin": [f"V{i}" for i in
                                                                     range(len(dates))],
                         "total_amount": [float(a) for a in amounts]})


def test_last_year_window_is_open_at_the_start_and_closed_at_the_end():
    # T = 2024-06-30: the window is (2023-06-30, 2024-06-30], the year before
    # (2022-06-30, 2023-06-30]; an order after T is in neither
    o = _orders(["2022-06-30", "2022-07-01", "2023-06-30", "2023-07-01", "2024-06-30",
                 "2024-07-01"], [1, 2, 3, 40, 60, 1000])
    a = overview.last_year_activity(o, as_of="2024-06-30")
    assert a.orders["total_amount"].tolist() == [40.0, 60.0]
    assert a.orders_per_month == pytest.approx(2 / 12)
    assert (a.avg_order_value, a.revenue) == (50.0, 100.0)
    assert a.growth == pytest.approx(2 / 2 - 1)


def test_last_year_growth_and_quietest_month_by_hand():
    o = _orders(["2023-01-15", "2023-07-02", "2023-07-20", "2023-08-03", "2023-08-09",
                 "2023-08-30", "2024-01-05", "2024-03-01"], [100] * 8)
    a = overview.last_year_activity(o, as_of="2024-06-30")
    assert len(a.orders) == 7 and a.growth == pytest.approx(7 / 1 - 1)
    assert a.trend == "up"
    # September 2023 has no orders: the first of the months with 0
    assert (a.quietest_month, a.quietest_orders) == (pd.Timestamp("2023-09-01"), 0)


def _busy_year(skip=(), extra=()):
    # two orders on the 10th and 20th of every month from July 2023 to June 2024, but
    # none in the months of `skip`, plus the dates of `extra`
    months = [m for m in pd.period_range("2023-07", "2024-06", freq="M")
              if str(m) not in skip]
    dates = [f"{m}-{d}" for m in months for d in (10, 20)] + list(extra)
    return _orders(dates, [100] * len(dates))


def test_last_year_quietest_month_ties_go_to_the_first():
    # March and January 2024 lose one order each: January comes first
    o = _busy_year(skip=("2024-01", "2024-03"), extra=("2024-03-05", "2024-01-05"))
    a = overview.last_year_activity(o, as_of="2024-06-30")
    assert (a.quietest_month, a.quietest_orders) == (pd.Timestamp("2024-01-01"), 1)


def test_last_year_quietest_month_leaves_out_the_unfinished_month_of_t():
    # T = 2024-06-05: the window (2023-06-05, 2024-06-05] holds the whole months July
    # 2023 to May 2024 (11 months, 2 orders each); June 2024 has one order in its first
    # five days and June 2023 starts before the window: neither is a whole month
    o = _busy_year(extra=("2023-06-20", "2023-06-25", "2023-06-26"))
    o = o[o["open_date"] <= "2024-06-05"]
    o = pd.concat([o, _orders(["2024-06-01"], [100])], ignore_index=True)
    a = overview.last_year_activity(o, as_of="2024-06-05")
    assert len(a.orders) == 11 * 2 + 3 + 1  # the orders of the window still count
    assert (a.quietest_month, a.quietest_orders) == (pd.Timestamp("2023-07-01"), 2)


def test_last_year_quietest_month_of_t_counts_when_t_is_its_last_day():
    # T = 2024-06-30 closes June 2024, which has one order: it is the quietest
    o = _busy_year(skip=("2024-06",), extra=("2024-06-30",))
    a = overview.last_year_activity(o, as_of="2024-06-30")
    assert (a.quietest_month, a.quietest_orders) == (pd.Timestamp("2024-06-01"), 1)


def test_last_year_quietest_month_can_have_no_orders():
    # nothing in October 2023, two orders in every other month: October is the quietest
    # with 0 orders, where the months with orders alone would have given July 2023
    o = _busy_year(skip=("2023-10",))
    a = overview.last_year_activity(o, as_of="2024-06-30")
    assert len(a.orders) == 22
    assert (a.quietest_month, a.quietest_orders) == (pd.Timestamp("2023-10-01"), 0)


def test_last_year_quietest_month_counts_whole_calendar_months_only():
    # T = 2024-06-15: the whole months of the window are July 2023 to May 2024; June
    # 2023 (starts before the window) and June 2024 (ends after T) are left out, so
    # neither the single order of June 2023 nor the two of June 2024 make them the
    # quietest; July 2023, without orders, is
    o = _orders(["2023-06-20", "2023-12-01", "2023-12-02", "2024-06-01", "2024-06-10"],
                [1] * 5)
    a = overview.last_year_activity(o, as_of="2024-06-15")
    assert len(a.orders) == 5
    assert (a.quietest_month, a.quietest_orders) == (pd.Timestamp("2023-07-01"), 0)


def test_last_year_without_history():
    # the data start in May 2024: the months before are not quiet, just not in the data;
    # June 2024 (whole, as T is its last day) has no orders
    a = overview.last_year_activity(_orders(["2024-05-01"], [10]), as_of="2024-06-30")
    assert math.isnan(a.growth) and a.trend == "no_history"
    assert (a.quietest_month, a.quietest_orders) == (pd.Timestamp("2024-06-01"), 0)
    down = overview.last_year_activity(_orders(["2023-05-01", "2023-06-01", "2024-05-01"],
                                                [10] * 3), as_of="2024-06-30")
    assert down.growth == pytest.approx(1 / 2 - 1) and down.trend == "down"
    empty = overview.last_year_activity(_orders(["2020-05-01"], [10]), as_of="2024-06-30")
    assert len(empty.orders) == 0 and empty.quietest_month is None
    assert math.isnan(empty.avg_order_value) and empty.revenue == 0.0


def test_last_year_activity_as_of_rules():
    o = example_dataset().repair_orders
    with pytest.raises(TypeError, match="last_year_activity"):
        overview.last_year_activity(o, as_of=20240630)
    # default T: the last order's date, 2021-04-18; the window (2020-04-18, 2021-04-18]
    # holds 450 + 380 + 4650, the year before 410 + 1300.5
    default = overview.last_year_activity(o)
    assert (len(default.orders), default.revenue, default.growth) == (3, 5480.0, 0.5)
    with pytest.raises(KeyError, match="total_amount"):
        overview.last_year_activity(o.drop(columns="total_amount"), as_of="2024-06-30")


# ------------------------------------------------------------------ the two bases


def _profile(rows):
    return pd.DataFrame(rows, columns=["base", "sold_here", "age_band", "vehicles"])


def test_vehicle_bases_by_year_of_life_by_hand():
    b = overview.vehicle_bases(_profile([
        ("vehicle_base", True, 0.0, 10), ("vehicle_base", True, 2.0, 6),
        ("vehicle_base", True, 3.0, 4), ("vehicle_base", True, 9.0, 1),
        ("service_base", True, 0.0, 9), ("service_base", True, 3.0, 2),
        ("service_base", False, 3.0, 5), ("service_base", False, 10.0, 1),
        ("service_base", False, 15.0, 2), ("service_base", False, None, 3),
    ]))
    assert b.table.to_numpy().tolist() == [
        [1, 10, 9, 0], [3, 6, 0, 0], [4, 4, 2, 5], [10, 1, 0, 0], [11, 0, 0, 3]]
    assert (b.vehicle_base, b.in_warranty, b.service_sold_here, b.service_elsewhere,
            b.service_base, b.unknown_age) == (21, 16, 11, 8, 19, 3)
    assert b.in_warranty_share == pytest.approx(16 / 21)
    assert b.kept == 11 and b.kept_share == pytest.approx(11 / 21)
    assert b.walkin_share == pytest.approx(8 / 19)


def test_vehicle_bases_kept_share_leaves_out_sold_here_cars_over_ten():
    # 10 cars sold here in the vehicle base (years 1 and 6); the service base keeps 4 of
    # them plus 3 sold here that are over ten years old (bands 11 and 13), which the
    # vehicle base does not hold: kept = 4, not 7, and the share 4 / 10, not 7 / 10
    b = overview.vehicle_bases(_profile([
        ("vehicle_base", True, 0.0, 6), ("vehicle_base", True, 5.0, 4),
        ("service_base", True, 0.0, 3), ("service_base", True, 5.0, 1),
        ("service_base", True, 11.0, 2), ("service_base", True, 13.0, 1),
        ("service_base", False, 12.0, 5),
    ]))
    assert b.table.to_numpy().tolist() == [[1, 6, 3, 0], [6, 4, 1, 0], [11, 0, 3, 5]]
    assert (b.vehicle_base, b.service_sold_here, b.kept, b.service_base) == (10, 7, 4, 12)
    assert b.kept_share == pytest.approx(4 / 10)
    assert b.walkin_share == pytest.approx(5 / 12)


def test_vehicle_bases_of_an_empty_store():
    b = overview.vehicle_bases(_profile([("service_base", False, None, 2)]))
    assert len(b.table) == 0 and b.unknown_age == 2
    assert math.isnan(b.walkin_share) and math.isnan(b.in_warranty_share)


def test_vehicle_bases_from_the_age_profile_of_the_example():
    ds = example_dataset()
    prof = overview.vehicle_age_profile(ds.repair_orders, ds.vehicles, as_of="2024-06-30",
                                        store_id="001", service_months=60)
    b = overview.vehicle_bases(prof)
    # the car sold 2019-03-02 is in its 6th year on 2024-06-30; the walk-in has no sale date
    assert b.table.to_numpy().tolist() == [[6, 1, 1, 0]]
    assert (b.vehicle_base, b.service_base, b.unknown_age) == (1, 1, 1)


# ------------------------------------------------------------------ origin and sizes


def test_revenue_by_origin_by_hand():
    o = pd.DataFrame({"ro_id": range(5), "vin": ["A", "A", "B", "C", "X"],
                      "total_amount": [100.0, 200.0, 300.0, 400.0, 9999.0]})
    v = pd.DataFrame({"vin": ["A", "B", "C"], "sold_here": [True, True, False]})
    out = overview.revenue_by_origin(o, v)  # X is not in the vehicles table: left out
    assert out.to_numpy().tolist() == [[True, 3, 2, 600.0, 0.6, 300.0],
                                       [False, 1, 1, 400.0, 0.4, 400.0]]


def test_revenue_by_origin_without_walk_ins_keeps_both_rows():
    o = pd.DataFrame({"ro_id": [1], "vin": ["A"], "total_amount": [50.0]})
    v = pd.DataFrame({"vin": ["A"], "sold_here": [True]})
    out = overview.revenue_by_origin(o, v).set_index("sold_here")
    assert out.loc[False, ["orders", "vehicles", "revenue"]].tolist() == [0, 0, 0.0]
    assert out.loc[False, "share_revenue"] == 0.0
    assert math.isnan(out.loc[False, "revenue_per_vehicle"])


def test_table_sizes_of_a_dataset_and_of_a_mapping():
    ds = example_dataset()
    assert overview.table_sizes(ds)["rows"].tolist() == [3, 3, 5]
    mapping = {"customers": ds.customers, "vehicles": ds.vehicles.head(1),
               "repair_orders": ds.repair_orders}
    assert overview.table_sizes(mapping)["rows"].tolist() == [3, 1, 5]
    with pytest.raises(KeyError, match="customers"):
        overview.table_sizes({"vehicles": ds.vehicles, "repair_orders": ds.repair_orders})


def test_labelled_names_every_column_of_the_tables(load_result):
    q = overview.data_quality(load_result)
    for table in (q.per_file, q.quarantine, q.flags,
                  overview.revenue_by_origin(example_dataset().repair_orders,
                                             example_dataset().vehicles),
                  overview.order_mix(example_dataset().repair_orders)):
        for lang in ("en", "zh"):
            shown = overview.labelled(table, lang)
            assert len(set(shown.columns)) == len(table.columns)
            assert not set(shown.columns) & set(table.columns), (lang, list(shown.columns))
    assert list(overview.labelled(q.per_file, "zh").columns)[:3] == ["文件", "工作表", "读取行数"]


# ------------------------------------------------------------------ charts


def test_activity_chart_draws_one_measure():
    m = pd.DataFrame({"month": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
                      "orders": [120, 90, 130], "revenue": [1.2e5, 0.9e5, 1.4e5]})
    ax = plots.activity_chart(m, measure="orders")
    assert ax.lines[0].get_ydata().tolist() == [120, 90, 130]
    assert (ax.get_title(), ax.get_ylabel()) == ("Repair orders per month", "Orders per month")
    with pytest.raises(ValueError, match="measure"):
        plots.activity_chart(m, measure="profit")
    matplotlib.pyplot.close("all")


def test_order_mix_chart_pairs_the_shares():
    mix = overview.order_mix(example_dataset().repair_orders)
    ax = plots.order_mix_chart(mix, lang="zh")
    heights = [[round(b.get_height(), 4) for b in c] for c in ax.containers]
    assert heights == [[round(v, 4) for v in mix["share_orders"]],
                       [round(v, 4) for v in mix["share_revenue"]]]
    assert ax.get_title() == "近12个月业务构成"
    matplotlib.pyplot.close("all")


def test_vehicle_bases_chart_stacks_the_service_base():
    b = pd.DataFrame({"year": [1, 2, 11], "vehicle_base": [5, 4, 0],
                      "service_sold_here": [4, 3, 0], "service_elsewhere": [1, 2, 2]})
    ax = plots.vehicle_bases_chart(b, lang="zh")
    own, kept, walkin = ax.containers
    assert [r.get_height() for r in own] == [5, 4, 0]
    assert [r.get_y() for r in walkin] == [4, 3, 0]  # on top of the cars sold here
    assert [x.get_text() for x in ax.get_xticklabels()] == ["第1年", "第2年", "10年以上"]
    matplotlib.pyplot.close("all")

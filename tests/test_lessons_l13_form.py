"""Library code of lessons L1-L3 that the lesson notebooks call (issue 18, short cells).

- ``l1.window_orders``: the lesson's table ``orders`` (24-month window, one store, orders
  with a customer, profit per order), checked on hand-made orders at the window's edges and
  against :func:`crm_analysis.features.customer_features`, which sums the same orders;
- ``l2.show_grades``: the grade summaries of L2 with grade names and headers in the
  student's language, through :func:`crm_analysis.value.grade_table` (no copy of it).
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from crm_analysis import value
from crm_analysis.features import customer_features
from crm_analysis.margins import DEFAULT_COST_PER_ORDER
from crm_analysis.narrative import Narrator
from crm_analysis.schema import example_dataset
from crm_analysis.teaching.core import LessonData
from crm_analysis.teaching.lessons import l1, l2


def _orders(rows):
    """Copies of the example's first order with the given id, store, customer and date."""
    base = example_dataset().repair_orders.iloc[[0]].reset_index(drop=True)
    out = pd.concat([base] * len(rows), ignore_index=True)
    for i, (ro_id, store, customer, day) in enumerate(rows):
        out.loc[i, ["ro_id", "store_id", "customer_id"]] = [ro_id, store, customer]
        out.loc[i, "open_date"] = pd.Timestamp(day)
    return out


def test_window_orders_keeps_the_window_the_store_and_orders_with_a_customer():
    # T = 2024-06-30: the window is (2022-06-30, 2024-06-30]
    orders = _orders([
        ("A", "001", "C1", "2022-06-30"),  # on the window's start: out
        ("B", "001", "C1", "2022-07-01"),  # first day in
        ("C", "001", "C2", "2024-06-30"),  # on T: in
        ("D", "001", "C2", "2024-07-01"),  # after T: out
        ("E", "007", "C3", "2023-01-01"),  # other store: out
        ("F", "001", None, "2023-01-01"),  # no customer: out
    ])
    data = SimpleNamespace(dataset=SimpleNamespace(repair_orders=orders), store_id="001",
                           as_of=pd.Timestamp("2024-06-30"))
    got = l1.window_orders(data)
    assert list(got["ro_id"]) == ["B", "C"]
    assert list(got.index) == [0, 1]
    # net value = gross profit - the cost of handling one order
    assert (got["gross_profit"] - got["net_value"]).tolist() == [DEFAULT_COST_PER_ORDER] * 2
    assert list(l1.window_orders(data, months=1)["ro_id"]) == ["C"]


def test_window_orders_sum_to_the_customer_features():
    ds = example_dataset()
    data = LessonData(ds, "001", as_of=pd.Timestamp("2021-06-30"))
    by_customer = l1.window_orders(data).groupby("customer_id")[
        ["total_amount", "gross_profit", "net_value"]].sum()
    feats = customer_features(ds, as_of=data.as_of, window_months=24, store_id="001")
    feats = feats.set_index("customer_id").loc[by_customer.index]
    assert list(by_customer.index) == ["C001", "C002"]
    # C001: 410.00 + 1300.50 paid over two orders, C002: 380.00 over one
    assert by_customer["total_amount"].tolist() == [1710.5, 380.0]
    pd.testing.assert_series_equal(by_customer["gross_profit"], feats["gross_profit"],
                                   check_names=False)
    pd.testing.assert_series_equal(by_customer["net_value"], feats["net_value"],
                                   check_names=False)


# 10 customers: 2 MVC worth 9,000 RMB, 3 MGC worth 2,000, 5 BZ worth -1,000 (net 10,000)
SUMMARY = pd.DataFrame({"grade": ["mvc", "mgc", "bz"], "customers": [2.0, 3.0, 5.0],
                        "share_customers": [0.2, 0.3, 0.5],
                        "value": [9000.0, 2000.0, -1000.0], "share_value": [0.9, 0.2, -0.1],
                        "value_per_customer": [4500.0, 2000.0 / 3, -200.0],
                        "orders_per_year": [3.0, 2.0, 1.5]})


def test_l2_has_no_copy_of_the_grade_table():
    # the lesson shows the library's table (crm_analysis.value.grade_table)
    assert not hasattr(l2, "grade_table") or l2.grade_table is value.grade_table


@pytest.mark.parametrize("lang, headers, names", [
    ("en", ["Value group", "Customers", "Share of customers", "Net value (RMB)",
            "Share of net value", "Net value per customer (RMB)", "Visits per year"],
     ["Most valuable (MVC)", "Most growable (MGC)", "Below zero (BZ)"]),
    ("zh", ["价值分组", "客户数", "客户占比", "净价值（元）", "净价值占比", "人均净价值（元）",
            "年均进厂次数"],
     ["最具价值客户", "最具增长潜力客户", "负价值客户"]),
])
def test_show_grades_names_grades_and_headers_in_the_language(lang, headers, names):
    data = l2.show_grades(SUMMARY, "value_group", Narrator(lang)).data
    assert list(data.columns) == headers
    assert list(data.iloc[:, 0]) == names
    assert list(data.iloc[:, 1]) == [2, 3, 5] and data.iloc[:, 1].dtype.kind == "i"
    assert list(data.iloc[:, 4]) == [0.9, 0.2, -0.1]


def test_show_grades_of_an_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="kind"):
        l2.show_grades(SUMMARY, "pyramid_tier", Narrator("en"))


def test_show_grades_formats_counts_shares_and_money():
    html = l2.show_grades(SUMMARY, "value_group", Narrator("zh")).to_html()
    assert "最具价值客户" in html and "人均净价值（元）" in html
    # shares as percentages; money in whole RMB with thousands separators: 2000/3 -> 667
    assert "20.0%" in html and "-10.0%" in html
    assert "9,000" in html and "4,500" in html and "667" in html and "-200" in html

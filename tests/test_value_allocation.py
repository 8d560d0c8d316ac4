"""Managing the grades (crm_analysis.value): resources per grade, fleets, advisors, the
tables notebook 02 shows, and the progress hook of the k-means search.

Expected values are worked out by hand in the comments of each test.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from crm_analysis import plots
from crm_analysis.value import (
    active_advisors,
    allocate,
    clusters,
    dominant_table,
    dominant_values,
    fleet_share,
    grade_table,
    pyramid,
)

matplotlib.use("Agg")


def _summary() -> pd.DataFrame:
    return pd.DataFrame({"grade": ["important", "secondary", "normal", "small"],
                         "customers": [1, 4, 5, 0],
                         "share_customers": [0.1, 0.4, 0.5, 0.0],
                         "share_value": [0.5, 0.6, -0.1, 0.0]})


# ---------------------------------------------------------------------------- allocate


def test_allocate_by_value_and_by_head_hand_computed():
    out = allocate(_summary(), resources={"hours": 1100.0, "budget": 2200.0})
    # positive shares 0.5, 0.6, 0, 0 of 1.1 -> 500, 600, 0, 0 hours (1000, 1200, 0, 0 yuan)
    assert out["hours_by_value"].tolist() == pytest.approx([500.0, 600.0, 0.0, 0.0])
    assert out["budget_by_value"].tolist() == pytest.approx([1000.0, 1200.0, 0.0, 0.0])
    # by head: 10%, 40%, 50%, 0% of 1100 hours
    assert out["hours_by_head"].tolist() == pytest.approx([110.0, 440.0, 550.0, 0.0])
    # per customer by value: 1000 / 1, 1200 / 4, 0 / 5, and NaN for the empty grade
    per = out["budget_per_customer"].tolist()
    assert per[:3] == pytest.approx([1000.0, 300.0, 0.0]) and np.isnan(per[3])
    assert list(out.columns) == [
        "grade", "customers", "share_customers", "share_value",
        "hours_by_value", "hours_by_head", "hours_per_customer",
        "budget_by_value", "budget_by_head", "budget_per_customer"]


def test_allocate_spends_every_resource_on_a_real_pyramid():
    rng = np.random.default_rng(3)
    f = pd.DataFrame({"customer_id": [f"C{i:03d}" for i in range(200)],
                      "net_value": rng.normal(500, 900, 200)})
    pyr = pyramid(f).summary
    out = allocate(pyr, resources={"hours": 2400, "budget": 90_000})
    for name, total in (("hours", 2400), ("budget", 90_000)):
        assert out[f"{name}_by_value"].sum() == pytest.approx(total)
        assert out[f"{name}_by_head"].sum() == pytest.approx(total)
    # the most valuable tier gets more per head by value than by headcount
    top = out.iloc[0]
    assert top["hours_by_value"] / top["customers"] > top["hours_by_head"] / top["customers"]
    ax = plots.allocation_bars(out, kind="pyramid", value_label="net_value")
    assert len(ax.containers) == 2
    matplotlib.pyplot.close("all")


def test_allocate_without_positive_value_and_errors():
    s = _summary().assign(share_value=[-0.5, -0.2, 0.0, np.nan])
    out = allocate(s, resources={"hours": 100})
    assert out["hours_by_value"].isna().all()
    assert out["hours_by_head"].tolist() == pytest.approx([10.0, 40.0, 50.0, 0.0])
    with pytest.raises(TypeError, match="allocate: resources must be a mapping"):
        allocate(_summary(), resources=100)
    with pytest.raises(TypeError, match="allocate: resources must be a mapping"):
        allocate(_summary(), resources={})
    with pytest.raises(ValueError, match="allocate"):
        allocate(_summary(), resources={"hours": -1})
    with pytest.raises(TypeError, match="allocate"):
        allocate(_summary(), resources={"hours": "100"})
    with pytest.raises(KeyError, match="share_value"):
        allocate(_summary().drop(columns="share_value"), resources={"hours": 1})


# ---------------------------------------------------------------------------- advisors


def test_active_advisors_counts_the_window_hand_computed():
    o = pd.DataFrame({
        "open_date": pd.to_datetime(["2023-06-30", "2023-07-01", "2024-02-01", "2024-06-30",
                                     "2024-07-01", "2024-03-01"]),
        "advisor": ["Old", "Li", "Wang", "Wang", "Later", None]})
    # (2023-06-30, 2024-06-30]: Li, Wang (twice) and a missing name -> 2
    assert active_advisors(o, as_of="2024-06-30") == 2
    # 24 months also takes "Old" (2023-06-30 > 2022-06-30); "Later" is after the date
    assert active_advisors(o, as_of="2024-06-30", months=24) == 3
    # without a date: the last order (2024-07-01) -> Wang, Later (and Li on 2023-07-01 is
    # not after 2023-07-01)
    assert active_advisors(o) == 2
    assert active_advisors(o.drop(columns="advisor"), as_of="2024-06-30") == 0
    with pytest.raises(TypeError, match="active_advisors: as_of"):
        active_advisors(o, as_of=20240630)
    with pytest.raises(TypeError, match="months"):
        active_advisors(o, as_of="2024-06-30", months="12")


# ---------------------------------------------------------------------------- fleets


def test_fleet_share_hand_computed():
    f = pd.DataFrame({
        "n_vehicles": [1, 2, 1, 1, 1, np.nan],
        "customer_type": ["individual", "individual", "government", "individual", None,
                          "individual"],
        "usage": ["private", "private", "private", "ride_hailing", "private", None]})
    # several cars, government, ride-hailing: 3 of 6; missing values count as no
    assert fleet_share(f) == pytest.approx(0.5)
    assert np.isnan(fleet_share(f.iloc[:0]))
    with pytest.raises(KeyError, match="usage"):
        fleet_share(f.drop(columns="usage"))


# ---------------------------------------------------------------------------- profiles


def _graded() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [f"C{i}" for i in range(7)],
        "net_value": [900.0, 800, 50, 40, 30, 20, 10],
        "value_grade": pd.Categorical(
            ["important", "important", "small", "small", "small", "small", "small"],
            categories=["important", "secondary", "normal", "small"], ordered=True),
        "usage": ["taxi", "taxi", "private", "private", None, None, None],
        "region": ["urban_core", "rural", "rural", "rural", "rural", "urban_core", "rural"],
    })


def test_dominant_values_hand_computed():
    d = dominant_values(_graded(), dimensions=["usage", "region"])
    assert d.to_dict("list") == {
        # important: taxi 2 of 2; small: unknown usage 3 of 5 (private 2)
        # region: important ties 1:1 -> the first listed (alphabetical: rural);
        # small: rural 4 of 5
        "dimension": ["usage", "usage", "region", "region"],
        "grade": ["important", "small", "important", "small"],
        "value": ["taxi", "unknown", "rural", "rural"],
        "customers": [2, 3, 1, 4],
        "share": [1.0, 0.6, 0.5, 0.8],
    }
    # another grade column name gives the same
    renamed = _graded().rename(columns={"value_grade": "tier"})
    pd.testing.assert_frame_equal(dominant_values(renamed, dimensions=["usage", "region"],
                                                  grade="tier"), d)
    with pytest.raises(ValueError, match="dimensions"):
        dominant_values(_graded(), dimensions=[])
    with pytest.raises(KeyError, match="tier"):
        dominant_values(_graded(), dimensions=["usage"], grade="tier")


def test_dominant_table_reads_in_both_languages():
    d = dominant_values(_graded(), dimensions=["usage", "region"])
    en = dominant_table(d, lang="en").table
    assert list(en.columns) == ["Dimension", "Important", "Small"]
    assert en.to_numpy().tolist() == [
        ["Vehicle use", "Taxi (100%)", "Unknown (60%)"],
        ["Region", "Rural (50%)", "Rural (80%)"]]
    zh = dominant_table(d, lang="zh").table
    assert list(zh.columns) == ["维度", "重要客户", "小客户"]
    assert zh.iloc[0, 2] == "未知 (60%)"
    # a code without a label is shown as it is
    odd = d.assign(value=["taxi", "unknown", "moon_base", "rural"])
    assert dominant_table(odd).table.iloc[1, 1] == "moon_base (50%)"


# ---------------------------------------------------------------------------- grade tables


def test_grade_table_labels_and_formats():
    f = pd.DataFrame({"customer_id": [f"C{i}" for i in range(10)],
                      "net_value": [900.0, 50, 40, 30, 20, 10, 5, 0, -5, -10],
                      "visits_per_year": [6.0, 2, 2, 1, 1, 1, 1, 1, 0.5, 0.5]})
    summary = pyramid(f).summary
    shown = grade_table(summary, kind="pyramid", lang="en")
    assert list(shown.table.columns) == [
        "Pyramid tier", "Customers", "Share of customers", "Net value (RMB)",
        "Share of net value", "Net value per customer (RMB)", "Visits per year"]
    assert shown.table["Pyramid tier"].tolist() == ["Important", "Secondary", "Normal", "Small"]
    # 10 customers: important round(0.1) = 0, secondary 2 (900 + 50), normal 3 (40 + 30 +
    # 20), small 5 (10 + 5 + 0 - 5 - 10)
    assert shown.table["Customers"].tolist() == [0, 2, 3, 5]
    assert shown.table["Net value (RMB)"].tolist() == pytest.approx([0.0, 950.0, 90.0, 0.0])
    assert shown.table["Visits per year"].tolist()[1:] == pytest.approx([4.0, 4 / 3, 0.8])
    columns = set(shown.table.columns)
    assert {c for cols in shown.formats.values() for c in cols} == columns - {"Pyramid tier"}
    zh = grade_table(summary, kind="pyramid", lang="zh")
    assert zh.table.columns[0] == "金字塔层级" and zh.formats["pct"] == ["客户占比", "净价值占比"]
    gp = grade_table(summary, kind="pyramid", value="gross_profit")
    assert "Gross profit per customer (RMB)" in gp.table.columns
    with pytest.raises(ValueError, match="kind"):
        grade_table(summary, kind="pyramids")


def test_grade_table_of_clusters_uses_their_names():
    summary = pd.DataFrame({"grade": [0, 1], "customers": [3, 7], "share_customers": [0.3, 0.7],
                            "value": [900.0, 100.0], "share_value": [0.9, 0.1],
                            "value_per_customer": [300.0, 100 / 7], "orders_per_year": [4.0, 1.0],
                            "cluster_name_en": ["recent frequent", "lapsed"],
                            "cluster_name_zh": ["近期·高频", "流失"]})
    assert grade_table(summary, kind="cluster", lang="zh").table.iloc[:, 0].tolist() == [
        "近期·高频", "流失"]
    assert grade_table(summary, kind="cluster").table.columns[0] == "Cluster"


# ---------------------------------------------------------------------------- progress


def test_clusters_progress_hook_sees_every_k_and_changes_nothing():
    rng = np.random.default_rng(1)
    f = pd.DataFrame({"customer_id": [f"C{i:03d}" for i in range(90)],
                      "recency_days": np.r_[rng.uniform(1, 30, 45), rng.uniform(300, 700, 45)],
                      "orders": np.r_[rng.integers(5, 12, 45), rng.integers(1, 3, 45)],
                      "revenue": np.r_[rng.uniform(5e3, 2e4, 45), rng.uniform(100, 800, 45)]})
    seen = []

    def hook(ks):
        seen.append(list(ks))
        for k in ks:
            seen.append(k)
            yield k

    with_hook = clusters(f, k_range=range(2, 5), progress=hook)
    assert seen == [[2, 3, 4], 2, 3, 4]
    plain = clusters(f, k_range=range(2, 5))
    pd.testing.assert_frame_equal(with_hook.labels, plain.labels)
    pd.testing.assert_frame_equal(with_hook.details["silhouette"], plain.details["silhouette"])
    with pytest.raises(ValueError, match="progress hook must yield every k"):
        clusters(f, k_range=range(2, 5), progress=lambda ks: ks[:1])

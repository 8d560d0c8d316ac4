"""The group notebook's library functions (crm_analysis.group, notebook 06 section).

Store labels, the comparison rule, the summaries the notebook's sentences quote, the value
of the largest gap and the labelled tables, checked against hand-built tables and values
worked out by hand in the comments.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
from reference import hand_tidy_retention

from crm_analysis.group import (
    MIN_BASE,
    SHOWN_METRICS,
    benchmark_gaps,
    best_store_by_year,
    gap_summary,
    gap_table,
    gap_to_best,
    gap_value,
    leading_store,
    metric_label,
    metric_range,
    rank_stores,
    ranking_table,
    scorecard_record,
    scorecard_table,
    store_label,
    store_list,
    store_names,
)
from crm_analysis.narrative import Narrator
from crm_analysis.schema import example_dataset
from crm_analysis.value import LabelledTable

NAMES = {"A": "Hefei", "B": "Wuhu"}



# ------------------------------------------------------------------ store labels


def test_store_labels_in_both_languages():
    assert store_label("A", NAMES) == "Hefei (A)"
    assert store_label("A", NAMES, "zh") == "Hefei（A）"
    assert store_label("C", NAMES) == "C (C)"  # no name: the id twice, as before
    assert store_label(None, NAMES) == store_label(float("nan")) == store_label(pd.NA) == "–"
    assert store_list(["A", "B"], NAMES) == "Hefei (A), Wuhu (B)"
    assert store_list(["A", "B"], NAMES, "zh") == "Hefei（A）、Wuhu（B）"
    with pytest.raises(ValueError):
        store_label("A", NAMES, "fr")


def test_store_names_from_the_stores_table():
    ds = example_dataset()
    assert store_names(ds) == {"001": "Hefei North", "007": "Wuhu"}
    assert store_names({"stores": ds.stores}) == store_names(ds)
    with pytest.raises(KeyError):
        store_names({"repair_orders": ds.repair_orders})


# ------------------------------------------------------------------ comparison rule


def test_benchmark_gaps_leaves_out_small_bands_and_single_stores():
    gaps = benchmark_gaps(hand_tidy_retention())
    assert MIN_BASE == 30
    # A's 10 cars of band 3 are left out, so band 3 has one store (C), as has band 2 (B):
    # both dropped, bands 0 and 1 remain
    assert gaps["age_band"].tolist() == [0, 1]
    assert gaps["largest_gap_store"].tolist() == ["C", "C"]
    assert gaps.index.tolist() == [0, 1]
    # a lower threshold keeps A's band 3: gap C 0.25 - A 0.20 = 5 points
    low = benchmark_gaps(hand_tidy_retention(), min_base=5)
    assert low["age_band"].tolist() == [0, 1, 3]
    assert low.loc[2, "largest_gap_pp"] == 5.0


def test_benchmark_gaps_of_a_very_small_group():
    tidy = hand_tidy_retention()
    # every band below the threshold: compare what there is (all rows)
    all_small = benchmark_gaps(tidy.assign(base_vehicles=5))
    assert all_small["age_band"].tolist() == [0, 1, 3]
    # no band with two stores: the single-store bands are kept
    one = benchmark_gaps(tidy[tidy["store_id"] == "B"])
    assert one["age_band"].tolist() == [0, 1, 2]
    assert one["largest_gap_pp"].isna().all()


# ------------------------------------------------------------------ summaries


def test_gap_summary_quotes_the_largest_gap():
    s = gap_summary(gap_to_best(hand_tidy_retention()))
    # the largest gap: C in band 1 (year 2), 30 points behind A (0.60 vs 0.30)
    assert (s["store_id"], s["age_band"], s["year"], s["gap_pp"]) == ("C", 1, 2, 30.0)
    assert (s["store_value"], s["best_store"], s["best_value"]) == (0.30, "A", 0.60)
    assert s["in_warranty"] is True  # year 2 < 3-year warranty
    # bands with a gap: 0, 1 and 3; mean gaps 12.5, 15 and 5 -> 32.5 / 3
    assert s["bands"] == 3
    assert s["mean_gap_pp"] == pytest.approx(32.5 / 3)
    late = gap_summary(gap_to_best(hand_tidy_retention()[lambda d: d["age_band"] == 3]))
    assert late["in_warranty"] is False and late["store_id"] == "A"


def test_gap_summary_without_a_gap():
    s = gap_summary(gap_to_best(hand_tidy_retention()[lambda d: d["store_id"] == "B"]))
    assert s["store_id"] is None and s["gap_pp"] is None and s["best_store"] is None
    assert s["bands"] == 0 and math.isnan(s["mean_gap_pp"])


def test_best_store_by_year_and_the_leading_store():
    gaps = gap_to_best(hand_tidy_retention())  # best: B, A, B, C in years 1-4
    assert best_store_by_year(gaps) == {1: "B", 2: "A", 3: "B", 4: "C"}
    assert leading_store(gaps) == {"store_id": "B", "bands_led": 2, "bands": 4}
    tie = pd.DataFrame({"year": [1, 2], "best_store": ["B", "A"]})
    assert leading_store(tie)["store_id"] == "B"  # the store that leads first
    assert leading_store(tie.iloc[:0])["store_id"] is None


def test_gap_value_by_hand():
    ds = example_dataset()
    v = gap_value(ds, {"store_id": "007", "age_band": 0, "gap_pp": 20.0}, as_of="2021-06-30")
    # store 007's one car (sold 2020-07-15, year 1 at T) had orders R0004 and R0005 in the
    # 12 months before T: gross profit 150*0.65 + 300*0.30 = 187.5 and
    # 1800*0.65 + 2650*0.30 + 200*0.20 = 2005, so 2192.5 for the one retained car;
    # 20 points more of 1 car = 0.2 cars, worth 0.2 * 2192.5 = 438.5 a year
    assert v["vehicles"] == 1.0
    assert v["gross_profit_per_vehicle"] == pytest.approx(2192.5)
    assert v["extra_vehicles"] == pytest.approx(0.2)
    assert v["value_per_year"] == pytest.approx(438.5)
    # a band the store has no car in, and no gap at all: NaN
    empty = gap_value(ds, {"store_id": "007", "age_band": 5, "gap_pp": 20.0}, as_of="2021-06-30")
    assert math.isnan(empty["value_per_year"])
    none = gap_value(ds, {"store_id": None, "age_band": None, "gap_pp": None}, as_of=None)
    assert math.isnan(none["value_per_year"]) and math.isnan(none["vehicles"])


def test_gap_value_errors():
    ds = example_dataset()
    with pytest.raises(TypeError, match="^gap_value: as_of"):
        gap_value(ds, {"store_id": "007", "age_band": 0, "gap_pp": 1.0}, as_of=20210630)
    with pytest.raises(KeyError, match="gap_value: gap needs the keys \\['gap_pp'\\]"):
        gap_value(ds, {"store_id": "007", "age_band": 0}, as_of="2021-06-30")
    with pytest.raises(KeyError, match="gap_value: data must hold .* missing \\['vehicles'\\]"):
        gap_value({"repair_orders": ds.repair_orders},
                  {"store_id": "007", "age_band": 0, "gap_pp": 1.0}, as_of="2021-06-30")
    with pytest.raises(TypeError, match="gap_value: data must be"):
        gap_value([ds.repair_orders], {"store_id": "007", "age_band": 0, "gap_pp": 1.0},
                  as_of="2021-06-30")


def test_gap_value_takes_what_the_other_group_functions_take():
    ds = example_dataset()
    gap = {"store_id": "007", "age_band": 0, "gap_pp": 20.0}
    # a mapping of pandas or lazy Polars tables, as retention_by_store takes: the same
    # 1 car x 20 points x 2192.5 RMB = 438.5 a year as the Dataset (test above)
    pandas_tables = {"vehicles": ds.vehicles, "repair_orders": ds.repair_orders}
    polars_tables = {k: pl.from_pandas(v).lazy() for k, v in pandas_tables.items()}
    for data in (pandas_tables, polars_tables):
        v = gap_value(data, gap, as_of="2021-06-30")
        assert (v["vehicles"], v["gross_profit_per_vehicle"]) == (1.0, pytest.approx(2192.5))
        assert v["value_per_year"] == pytest.approx(438.5)
    # as_of left out: the data's own date. Tables without meta: their last order,
    # 2021-04-18; the car (sold 2020-07-15) is in year 1 and both its orders (R0004,
    # R0005) are in the 12 months before, so again 438.5
    assert gap_value(pandas_tables, gap)["value_per_year"] == pytest.approx(438.5)
    # the Dataset's own date is meta["as_of"] = 2024-06-30: the car is in band 3 (3.96
    # years old) and had no order in the 12 months before, so band 0 is empty and band 3
    # holds 1 car without a retained one (no gross profit per retained car)
    assert math.isnan(gap_value(ds, gap)["vehicles"])
    late = gap_value(ds, {**gap, "age_band": 3})
    assert late["vehicles"] == 1.0 and late["extra_vehicles"] == pytest.approx(0.2)
    assert math.isnan(late["gross_profit_per_vehicle"])


def test_metric_range():
    sc = pd.DataFrame({"store_id": ["A", "B", "C", "D"],
                       "cliff_drop": [0.12, np.nan, 0.30, 0.12],
                       "empty": [np.nan] * 4})
    assert metric_range(sc, "cliff_drop") == {
        "low": 0.12, "low_store": "A", "high": 0.30, "high_store": "C"}  # ties: first
    r = metric_range(sc, "cliff_drop", label=lambda s: store_label(s, NAMES), prefix="y3_",
                     scale=100)
    assert r == {"y3_low": pytest.approx(12.0), "y3_low_store": "Hefei (A)",
                 "y3_high": pytest.approx(30.0), "y3_high_store": "C (C)"}
    assert metric_range(sc, "empty") is None
    with pytest.raises(KeyError, match="missing"):
        metric_range(sc, "missing")
    # the fields fill a narration text of notebook 06
    text = Narrator("en").text("nb06.cliff_drop", **metric_range(sc, "cliff_drop", scale=100))
    assert text.startswith("The steepest fall of a curve is 30.0 points at C and 12.0 points at A")


# ------------------------------------------------------------------ tables


def test_gap_table_labels_and_formats():
    gaps = gap_to_best(hand_tidy_retention())
    shown = gap_table(gaps, names=NAMES, lang="zh")
    assert isinstance(shown, LabelledTable)  # the value module's labelled table, not a copy
    assert list(shown.table.columns) == ["车龄", "最佳门店", "最佳掌握率", "差距最大的门店",
                                         "其掌握率", "差距（百分点）"]
    assert shown.table["车龄"].tolist() == ["第1年", "第2年", "第3年", "第4年"]
    assert shown.table["最佳门店"].tolist() == ["Wuhu（B）", "Hefei（A）", "Wuhu（B）", "C（C）"]
    assert shown.table["差距最大的门店"].tolist()[2] == "–"  # band 2: B alone
    assert shown.table["差距（百分点）"].tolist()[:2] == [20.0, 30.0]
    assert shown.formats == {"pct": ["最佳掌握率", "其掌握率"], "floats": ["差距（百分点）"],
                             "digits": 1}
    html = Narrator("zh").table(shown.table, **shown.formats).to_html()
    assert "90.0%" in html and "20.0" in html


def test_scorecard_table_formats_by_kind():
    sc = pd.DataFrame({"store_id": ["A", "B"], **{m: [1.0, 2.0] for m in SHOWN_METRICS}})
    shown = scorecard_table(sc, names=NAMES)
    assert list(shown.table.columns) == ["Store", *(metric_label(m) for m in SHOWN_METRICS)]
    assert shown.table["Store"].tolist() == ["Hefei (A)", "Wuhu (B)"]
    # the kinds notebook 06 showed before: bases as counts, two money columns, the rest shares
    assert shown.formats["ints"] == [metric_label("vehicle_base"), metric_label("service_base")]
    assert shown.formats["money"] == [metric_label("service_gross_profit_per_month"),
                                      metric_label("new_car_lifetime_value")]
    assert len(shown.formats["pct"]) == len(SHOWN_METRICS) - 4
    assert metric_label("service_absorption") in shown.formats["pct"]
    with pytest.raises(KeyError, match="gini_gross_profit"):
        scorecard_table(sc, metrics=["gini_gross_profit"])


def test_ranking_table():
    sc = pd.DataFrame({"store_id": ["A", "B", "C"], "retention_year_3": [0.5, 0.6, 0.4],
                       "cliff_drop": [0.20, 0.25, 0.30]})
    shown = ranking_table(rank_stores(sc), names=NAMES, lang="en")
    # A: ranks 2 and 1 (mean 1.5, one first), B: 1 and 2 (1.5, one first; A's id first),
    # C: 3 and 3
    assert shown.table.columns.tolist() == ["Rank", "Store", "Retention, year 3",
                                            "Steepest retention fall", "Mean rank"]
    assert shown.table["Store"].tolist() == ["Hefei (A)", "Wuhu (B)", "C (C)"]
    assert shown.table["Mean rank"].tolist() == [1.5, 1.5, 3.0]
    assert shown.formats == {"floats": ["Mean rank"], "digits": 2}


def test_scorecard_record_is_plain():
    sc = pd.DataFrame({"store_id": ["A", "B"], "store_name": ["Hefei", "Wuhu"],
                       "vehicle_base": pd.array([120, None], dtype="Int64"),
                       "cliff_drop": [0.2, np.nan], "source": ["data", "data"],
                       "from_reports": [0, 0]})
    assert scorecard_record(sc) == {"A": {"vehicle_base": 120, "cliff_drop": 0.2},
                                    "B": {"vehicle_base": None, "cliff_drop": None}}

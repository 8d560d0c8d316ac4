"""Group comparison (crm_analysis.group): curves, gaps to the best, scorecard, ranking.

Gaps are checked against a hand-built table, the curves and the scorecard against the
store-level library functions and plain pandas, the metrics-folder reading against files
written here, and pandas against Polars input.
"""

from __future__ import annotations

import json
import math
import warnings

import matplotlib
import numpy as np
import pandas as pd
import polars as pl
import pytest
from reference import hand_tidy_retention

from crm_analysis import plots
from crm_analysis.features import customer_features
from crm_analysis.group import (
    RANKING_METRICS,
    SCORECARD_METRICS,
    analysis_date,
    gap_to_best,
    largest_gap,
    last_full_year,
    rank_stores,
    read_store_metrics,
    retention_by_store,
    select_stores,
    store_scorecard,
)
from crm_analysis.margins import order_profit
from crm_analysis.retention import annual_average, retention_by_vehicle_age
from crm_analysis.value import top_share

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

AS_OF = "2023-12-31"
T = pd.Timestamp(AS_OF)


@pytest.fixture(scope="module")
def ds(datasets):
    """3 stores, seed 21, 2017-01-01 to AS_OF, scale 0.1 (conftest.DATASETS["group"])."""
    return datasets.get("group")


@pytest.fixture(scope="module")
def curves(ds):
    return retention_by_store(ds, as_of=AS_OF)


@pytest.fixture(scope="module")
def scorecard(ds, curves):
    return store_scorecard(ds, as_of=AS_OF, curves=curves, churn_model=None)


# ------------------------------------------------------------------ gaps



def test_gap_to_best_matches_a_hand_built_table():
    g = gap_to_best(hand_tidy_retention())
    assert g["age_band"].tolist() == [0, 1, 2, 3]
    assert g["year"].tolist() == [1, 2, 3, 4]
    assert g["stores"].tolist() == [3, 3, 1, 2]
    assert g["best_store"].tolist() == ["B", "A", "B", "C"]
    assert g["best_value"].tolist() == pytest.approx([0.90, 0.60, 0.50, 0.25])
    assert g["largest_gap_store"].tolist() == ["C", "C", None, "A"]
    assert g["largest_gap_value"].tolist()[:2] == pytest.approx([0.70, 0.30])
    assert g["largest_gap_pp"].tolist()[:2] == [20.0, 30.0]
    assert g.loc[3, "largest_gap_pp"] == 5.0
    assert math.isnan(g.loc[2, "largest_gap_pp"])
    assert g.loc[0, "mean_gap_pp"] == pytest.approx(12.5)  # (5 + 20) / 2
    assert g.loc[1, "mean_gap_pp"] == pytest.approx(15.0)  # (0 + 30) / 2
    expected = {"gap_pp_A": [5.0, 0.0, np.nan, 5.0], "gap_pp_B": [0.0, 0.0, 0.0, np.nan],
                "gap_pp_C": [20.0, 30.0, np.nan, 0.0]}
    for col, values in expected.items():
        np.testing.assert_allclose(g[col].to_numpy(), values, err_msg=col)
    assert largest_gap(g) == {"store_id": "C", "age_band": 1, "year": 2, "gap_pp": 30.0}
    assert largest_gap(g, ages=[0, 3])["gap_pp"] == 20.0
    assert largest_gap(g, ages=[2])["store_id"] is None


def test_gap_to_best_min_base_and_errors():
    g = gap_to_best(hand_tidy_retention(), min_base=30)
    assert g.loc[g["age_band"] == 3, "stores"].item() == 1  # A's 10 cars left out
    assert g.loc[g["age_band"] == 3, "best_store"].item() == "C"
    tidy = hand_tidy_retention()
    with pytest.raises(ValueError, match="more than one row"):
        gap_to_best(pd.concat([tidy, tidy.head(1)]))
    with pytest.raises(KeyError, match="active_ratio"):
        gap_to_best(tidy, value="active_ratio")


def test_gap_to_best_is_the_same_for_polars():
    tidy = hand_tidy_retention()
    pd.testing.assert_frame_equal(gap_to_best(pl.from_pandas(tidy)), gap_to_best(tidy))
    pd.testing.assert_frame_equal(gap_to_best(pl.from_pandas(tidy).lazy()), gap_to_best(tidy))


# ------------------------------------------------------------------ curves


def test_curves_are_each_stores_own_annual_average(ds, curves):
    assert sorted(curves["store_id"].unique()) == ["001", "002", "003"]
    for sid in ("001", "003"):
        own = annual_average(ds.for_store(sid), 2023, store_id=sid)
        mine = curves[curves["store_id"] == sid].reset_index(drop=True)
        assert mine["age_band"].tolist() == own["age_band"].astype(int).tolist()
        np.testing.assert_allclose(mine["retention_rate"], own["retention_rate"].astype(float))
        np.testing.assert_allclose(mine["active_ratio"], own["active_ratio"].astype(float))
        assert (mine["year"] == mine["age_band"] + 1).all()


def test_snapshot_curves_and_store_selection(ds):
    snap = retention_by_store(ds, "003, 001", as_of=AS_OF, average=False)
    assert sorted(snap["store_id"].unique()) == ["001", "003"]
    own = retention_by_vehicle_age(ds, as_of=AS_OF, store_id="003")
    mine = snap[snap["store_id"] == "003"]
    np.testing.assert_allclose(mine["retention_rate"], own["retention_rate"].astype(float))
    assert mine["base_vehicles"].tolist() == own["base_vehicles"].astype(int).tolist()


def test_curves_are_the_same_for_polars(ds):
    tables = {"vehicles": pl.from_pandas(ds.vehicles),
              "repair_orders": pl.from_pandas(ds.repair_orders).lazy()}
    out = retention_by_store(tables, ["001", "002"], as_of=AS_OF)
    assert isinstance(out, pl.LazyFrame)
    expected = retention_by_store(ds, ["001", "002"], as_of=AS_OF).reset_index(drop=True)
    got = out.collect().to_pandas()
    assert got["store_id"].tolist() == expected["store_id"].tolist()
    assert got["age_band"].tolist() == expected["age_band"].astype(int).tolist()
    for col in ("retention_rate", "active_ratio", "base_vehicles"):
        np.testing.assert_allclose(got[col].astype(float), expected[col].astype(float))
    pd.testing.assert_frame_equal(gap_to_best(out), gap_to_best(expected))


def test_unknown_store_is_a_clear_error(ds):
    for call in (lambda: select_stores(ds, "004"),
                 lambda: retention_by_store(ds, ["001", "9"], as_of=AS_OF),
                 lambda: store_scorecard(ds, as_of=AS_OF, stores=[7], churn_model=None)):
        with pytest.raises(ValueError, match="valid store ids: 001, 002, 003"):
            call()
    assert select_stores(ds, "") == select_stores(ds, None) == ["001", "002", "003"]
    with pytest.raises(ValueError, match="not a date"):
        retention_by_store(ds, as_of="yesterday")


def test_an_integer_as_of_is_refused(ds):
    # 20231231 used to be read as nanoseconds after 1970 (analysis date 1970-01-01)
    with pytest.raises(TypeError, match=r"^analysis_date: as_of must be a date"):
        analysis_date(ds, as_of=20231231)
    with pytest.raises(TypeError, match=r"^last_full_year: as_of must be a date"):
        last_full_year(as_of=20231231)
    assert analysis_date(ds) == T and last_full_year(as_of=T) == 2023


# ------------------------------------------------------------------ scorecard


def test_scorecard_recomputes_the_store_reports_metrics(ds, curves, scorecard):
    assert scorecard["store_id"].tolist() == ["001", "002", "003"]
    assert list(scorecard.columns[2:-2]) == list(SCORECARD_METRICS)
    assert (scorecard["source"] == "data").all() and (scorecard["from_reports"] == 0).all()
    v = ds.vehicles
    for sid, row in scorecard.set_index("store_id").iterrows():
        # vehicle base and service base as notebook 01's test counts them
        age = (T - v["sale_date"]).dt.days / 365.25
        own = (v["store_id"] == sid) & v["sold_here"] & (v["sale_date"] <= T) & (age <= 10)
        assert row["vehicle_base"] == int(own.sum())
        o = ds.repair_orders[ds.repair_orders["store_id"] == sid]
        served = set(o.loc[o["open_date"] > T - pd.DateOffset(months=24), "vin"])
        assert row["service_base"] == len(served)
        # retention: the annual average of 2023 (notebook 03) at years 1, 3, 5
        own_curve = annual_average(ds.for_store(sid), 2023, store_id=sid).set_index(
            "age_band")["retention_rate"].astype(float)
        for y in (1, 3, 5, 8):
            if y - 1 in own_curve.index:
                assert row[f"retention_year_{y}"] == pytest.approx(own_curve.loc[y - 1])
            else:  # the store has sold no car that old yet
                assert math.isnan(row[f"retention_year_{y}"])
        drops = -own_curve.diff()
        assert row["cliff_drop"] == pytest.approx(drops.max())
        assert row["cliff_year"] == int(drops.idxmax()) + 1
        # value concentration as notebook 02
        f = customer_features(ds.for_store(sid), as_of=T, window_months=24, store_id=sid)
        assert row["top20_share_gross_profit"] == pytest.approx(top_share(f["gross_profit"]))
        # service gross profit a month: plain sum of the window's order profit
        window = order_profit(o[(o["open_date"] > T - pd.DateOffset(months=12))
                                & (o["open_date"] <= T)])
        assert row["service_gross_profit_per_month"] == pytest.approx(
            window["gross_profit"].sum() / 12, rel=1e-6)
        assert row["gross_profit_per_serviced_vehicle"] == pytest.approx(
            12 * row["service_gross_profit_per_month"] / row["service_base"])
        assert row["new_car_lifetime_value"] > 0
        # churn_model=None: no churn figures
        assert pd.isna(row["customers_scored"]) and math.isnan(row["at_risk_share"])


def test_scorecard_churn_classes_are_consistent(ds, curves):
    sc = store_scorecard(ds, as_of=AS_OF, stores="002", curves=curves, churn_model="logistic")
    row = sc.iloc[0]
    classes = [c for c in SCORECARD_METRICS if c.startswith("class_")]
    assert sum(int(row[c]) for c in classes) == row["customers_scored"] > 0
    assert row["at_risk"] >= row["class_high_value_at_risk"] + row["class_low_value_at_risk"]
    assert row["high_value_at_risk_share"] == pytest.approx(
        row["class_high_value_at_risk"] / row["customers_scored"])
    assert 0 <= row["at_risk_share"] <= 1


def _write(folder, name, data):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(data if isinstance(data, str) else json.dumps(data),
                               encoding="utf-8")


def test_metrics_dir_is_merged_with_recomputation(ds, curves, scorecard, tmp_path):
    run = tmp_path / "2023-12"
    # store 001: bases and retention from its reports (same date and year)
    _write(run / "001" / "en", "01_data_overview.metrics.json",
           {"store_id": "001", "as_of": AS_OF, "vehicle_base": 4321, "service_base": 1234})
    _write(run / "001" / "en", "03_retention_by_vehicle_age.metrics.json",
           {"store_id": "001", "as_of": AS_OF, "year": 2023, "retention_year_1": 0.99,
            "retention_year_3": 0.77, "retention_year_5": None, "retention_year_8": None})
    _write(run / "001" / "zh", "01_data_overview.metrics.json",
           {"store_id": "001", "as_of": AS_OF, "vehicle_base": 1})  # other language
    # store 002: a stale report (another date) and a report of another year: not used
    _write(run / "002" / "en", "01_data_overview.metrics.json",
           {"store_id": "002", "as_of": "2022-12-31", "vehicle_base": 1})
    _write(run / "002" / "en", "03_retention_by_vehicle_age.metrics.json",
           {"store_id": "002", "as_of": AS_OF, "year": 2022, "retention_year_1": 0.5})
    # store 003: only part of notebook 05's metrics, and a broken file
    _write(run / "003" / "en", "05_lifetime_value.metrics.json",
           {"store_id": "003", "as_of": AS_OF, "service_absorption": 0.42})
    _write(run / "003" / "en", "02_value_grading.metrics.json", "{not json")
    _write(run / "003" / "en", "notes.json", "[]")

    with pytest.warns(UserWarning, match="02_value_grading"):
        reports = read_store_metrics(run, lang="en")
    assert sorted(reports) == ["001", "002", "003"]
    assert sorted(reports["003"]) == ["05"]
    assert read_store_metrics("") == {}
    with pytest.raises(FileNotFoundError):
        read_store_metrics(tmp_path / "missing")

    merged = store_scorecard(ds, as_of=AS_OF, reports=reports, curves=curves, churn_model=None)
    m, base = merged.set_index("store_id"), scorecard.set_index("store_id")
    src = merged.attrs["sources"]
    assert (m.loc["001", "vehicle_base"], m.loc["001", "service_base"]) == (4321, 1234)
    assert m.loc["001", "retention_year_3"] == 0.77
    assert math.isnan(m.loc["001", "retention_year_5"])  # null in the report stays missing
    assert src["001"]["vehicle_base"] == src["001"]["retention_year_1"] == "reports"
    assert src["001"]["top20_share_gross_profit"] == "data"
    assert m.loc["001", "top20_share_gross_profit"] == base.loc["001",
                                                                "top20_share_gross_profit"]
    # the derived figure uses the reported service base
    assert m.loc["001", "gross_profit_per_serviced_vehicle"] == pytest.approx(
        12 * base.loc["001", "service_gross_profit_per_month"] / 1234)
    assert m.loc["002", "vehicle_base"] == base.loc["002", "vehicle_base"]
    assert m.loc["002", "retention_year_1"] == base.loc["002", "retention_year_1"]
    assert m.loc["003", "service_absorption"] == 0.42
    assert m.loc["003", "new_car_lifetime_value"] == pytest.approx(
        base.loc["003", "new_car_lifetime_value"])
    assert src["003"]["service_absorption"] == "reports"
    assert src["003"]["new_car_lifetime_value"] == "data"
    assert m["source"].to_dict() == {"001": "reports+data", "002": "data",
                                     "003": "reports+data"}
    assert m["from_reports"].to_dict() == {"001": 6, "002": 0, "003": 1}


# ------------------------------------------------------------------ ranking


def test_ranking_is_consistent(scorecard):
    r = rank_stores(scorecard)
    assert sorted(r["store_id"]) == ["001", "002", "003"]
    assert r["overall_rank"].tolist() == [1, 2, 3]
    assert r["mean_rank"].is_monotonic_increasing
    used = [c[len("rank_"):] for c in r.columns if c.startswith("rank_")]
    # churn figures are missing (churn_model=None): ranked on the others only
    assert "high_value_at_risk_share" not in used
    assert set(used) <= set(RANKING_METRICS)
    sc = scorecard.set_index("store_id")
    for metric in used:
        more_is_better = RANKING_METRICS[metric]
        best = sc[metric].idxmax() if more_is_better else sc[metric].idxmin()
        assert r.set_index("store_id").loc[best, f"rank_{metric}"] == 1, metric
    # a store best on everything ranks first; flipping every direction reverses the order
    toy = pd.DataFrame({"store_id": ["x", "y", "z"], "a": [3.0, 2.0, 1.0],
                        "b": [0.1, 0.2, 0.3]})
    assert rank_stores(toy, {"a": True, "b": False})["store_id"].tolist() == ["x", "y", "z"]
    assert rank_stores(toy, {"a": False, "b": True})["store_id"].tolist() == ["z", "y", "x"]
    pd.testing.assert_frame_equal(rank_stores(pl.from_pandas(toy), {"a": True}),
                                  rank_stores(toy, {"a": True}))
    with pytest.raises(ValueError, match="has a value"):
        rank_stores(toy.assign(c=np.nan), {"c": True})


# ------------------------------------------------------------------ charts


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_charts_have_titles_units_and_all_glyphs(curves, scorecard, lang):
    from crm_analysis import plotting

    plotting.setup(lang)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    try:
        plots.store_retention_overlay(curves, ax=axes[0], lang=lang, highlight="003",
                               names={"001": "北城店"})
        plots.store_gap_heatmap(gap_to_best(curves), ax=axes[1], lang=lang)
        plots.store_bars(scorecard, metric="retention_year_3", ax=axes[2], lang=lang)
        for ax in axes:
            assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert "%" in axes[0].get_ylabel() and "%" in axes[2].get_ylabel()
        assert {line.get_gid() for line in axes[0].get_lines()} == {
            "store_001", "store_002", "store_003", "group_best"}
        assert [t.get_text() for t in axes[0].get_legend().get_texts()][0] == "001 北城店"
        if lang == "zh":
            assert axes[0].get_title() == "各门店分车龄客户掌握率"
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*missing from font.*")
            fig.canvas.draw()
    finally:
        plt.close(fig)

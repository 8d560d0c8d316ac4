"""Survival of the relationship (crm_analysis.survival): hand-checked unit tests.

- ``defection_table`` on a hand-built store whose every row is worked out below: the
  lapse boundary at exactly 12 months, censoring at the horizon T − lapse, a car never
  serviced, a car bought elsewhere entering at its first-visit age, an unknown sale date,
  a car sold by another store, orders after T, an orphan VIN; the same table from
  pandas, Polars and Polars lazy;
- Kaplan–Meier with left truncation equal to the hand computation, and the conditioning
  that protects curves from tiny early risk sets;
- the left-truncated log-rank equal to lifelines without entry and to a brute-force
  reference with entry;
- the Cox model: hazard-ratio table, reference levels, and the errors on constant,
  collinear, rare and unidentifiable covariates and on convergence failure;
- the hazard by age band and the cliff on a hand example.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats

from crm_analysis.schema import Dataset, example_dataset
from crm_analysis.survival import (
    DEFECTION_COLUMNS,
    SurvivalResult,
    compare_survival,
    defection_drivers,
    defection_table,
    survival_by_vehicle_age,
    warranty_cliff,
)
from crm_analysis.synth import generate

T = "2024-06-30"  # horizon H = T - 12 months = 2023-06-30
YEAR = 365.25
d = pd.Timestamp


def years(a: str, b: str) -> float:
    return (d(a) - d(b)).days / YEAR


def to_pandas(frame) -> pd.DataFrame:
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if isinstance(frame, pl.DataFrame):
        frame = frame.to_pandas()
    return frame.reset_index(drop=True)


# ----------------------------------------------------------------------------- hand store


def hand_tables() -> dict[str, pd.DataFrame]:
    vehicles = pd.DataFrame({
        "vin": ["V1", "V2", "V3", "V4", "V5", "V6", "V7", "V8"],
        "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"],
        "store_id": ["001", "001", "001", "001", "001", "001", "002", "001"],
        "sold_here": [True, True, True, True, False, False, True, True],
        "sale_date": pd.to_datetime(["2018-01-15", "2018-01-15", "2020-05-01", "2024-01-10",
                                     "2015-03-01", None, "2019-06-01", None]),
        "usage": ["private", "taxi", "private", "private", "private", "company", "private",
                  "private"],
        "grade": "mid",
        "model": "Heron",
    })
    rows = [
        # V1: last order exactly at the horizon -> defected (12 months without an order)
        ("V1", "2018-03-01", 1_000.0), ("V1", "2019-01-10", 12_000.0),
        ("V1", "2023-06-30", None),
        # V2: last order one day after the horizon -> censored; an order after T is ignored
        ("V2", "2019-01-01", None), ("V2", "2023-07-01", None), ("V2", "2024-08-01", None),
        # V5: bought elsewhere, first seen at age 4; the order 12 months later is outside
        # its first year [2019-03-01, 2020-03-01)
        ("V5", "2019-03-01", 40_000.0), ("V5", "2020-03-01", None), ("V5", "2021-05-01", None),
        # V6: bought elsewhere, sale date unknown
        ("V6", "2022-01-01", None), ("V6", "2024-02-01", None),
        # V7: sold by store 002, serviced at 001 only
        ("V7", "2020-01-01", None),
        # V9: not in the vehicles table
        ("V9", "2021-01-01", None),
    ]
    orders = pd.DataFrame(rows, columns=["vin", "open_date", "mileage_km"])
    orders["open_date"] = pd.to_datetime(orders["open_date"])
    orders["store_id"] = "001"
    orders["customer_id"] = orders["vin"].str.replace("V", "c")
    customers = pd.DataFrame({"customer_id": ["c1", "c2", "c5", "c9"],
                              "customer_type": ["individual", "company", "individual",
                                                "individual"],
                              "region": ["urban_core", "rural", "rural", "urban_core"],
                              "occupation": ["teacher", None, "driver", None]})
    return {"vehicles": vehicles, "repair_orders": orders, "customers": customers}


def engines(tables):
    yield "pandas", tables
    # pandas' own string dtype takes the string-key path (object strings: integer codes)
    yield "pandas-string", {k: v.astype({c: "string" for c in ("vin", "store_id",
                                                              "customer_id") if c in v})
                            for k, v in tables.items()}
    pls = {k: pl.from_pandas(v) for k, v in tables.items()}
    yield "polars", pls
    yield "polars-lazy", {k: v.lazy() for k, v in pls.items()}


@pytest.fixture(scope="module")
def hand() -> pd.DataFrame:
    return defection_table(hand_tables(), as_of=T)


def test_columns_and_rows(hand):
    assert list(hand.columns) == list(DEFECTION_COLUMNS)
    # one row per relationship: V7 twice (never serviced at 002, serviced at 001), V9 kept
    keys = list(zip(hand["store_id"], hand["vin"], strict=True))
    assert keys == [("001", v) for v in ("V1", "V2", "V3", "V4", "V5", "V6", "V7", "V8", "V9")
                    ] + [("002", "V7")]


def row(tab: pd.DataFrame, vin: str, store: str = "001") -> pd.Series:
    r = tab[(tab["vin"] == vin) & (tab["store_id"] == store)]
    assert len(r) == 1
    return r.iloc[0]


def test_lapse_boundary_exactly_12_months(hand):
    r = row(hand, "V1")
    assert r["event"] and r["sold_here"] and r["age_known"]
    assert r["entry_age"] == 0.0
    assert r["exit_date"] == d("2023-06-30")
    assert r["exit_age"] == pytest.approx(years("2023-06-30", "2018-01-15"), abs=1e-12)
    assert r["duration"] == pytest.approx(r["exit_age"], abs=1e-12)
    assert r["orders"] == 3 and r["first_year_visits"] == 2
    assert r["customer_type"] == "individual" and r["region"] == "urban_core"
    assert r["occupation"] == "teacher"
    # latest odometer reading 12,000 km at 2019-01-10
    assert r["annual_km"] == pytest.approx(12_000 / years("2019-01-10", "2018-01-15"))
    assert not r["in_warranty_at_exit"]


def test_censored_at_the_horizon_not_at_T(hand):
    r = row(hand, "V2")
    assert not r["event"]
    assert r["last_order_date"] == d("2023-07-01")  # the order after T is ignored
    assert r["orders"] == 2
    assert r["exit_date"] == d("2023-06-30")
    assert r["exit_age"] == pytest.approx(years("2023-06-30", "2018-01-15"), abs=1e-12)
    assert r["last_order_age"] == pytest.approx(years("2023-07-01", "2018-01-15"), abs=1e-12)
    assert np.isnan(r["annual_km"])


def test_never_serviced_ends_at_age_zero(hand):
    r = row(hand, "V3")
    assert r["event"] and r["orders"] == 0 and r["first_year_visits"] == 0
    assert pd.isna(r["first_order_date"]) and pd.isna(r["last_order_date"])
    assert r["exit_age"] == 0.0 and r["duration"] == 0.0 and r["entry_age"] == 0.0
    assert r["exit_date"] == d("2020-05-01")
    assert r["in_warranty_at_exit"]
    # sold within the last 12 months and not yet serviced: censored, no follow-up yet
    r = row(hand, "V4")
    assert not r["event"] and r["exit_age"] == 0.0 and r["duration"] == 0.0
    assert r["exit_date"] == d("2024-01-10")


def test_bought_elsewhere_enters_at_first_visit(hand):
    r = row(hand, "V5")
    assert not r["sold_here"] and r["event"]
    assert r["entry_date"] == d("2019-03-01")
    assert r["entry_age"] == pytest.approx(years("2019-03-01", "2015-03-01"), abs=1e-12)
    assert r["exit_age"] == pytest.approx(years("2021-05-01", "2015-03-01"), abs=1e-12)
    assert r["duration"] == pytest.approx(years("2021-05-01", "2019-03-01"), abs=1e-12)
    assert r["first_year_visits"] == 1  # 2020-03-01 is the first day after the first year
    assert r["annual_km"] == pytest.approx(40_000 / years("2019-03-01", "2015-03-01"))
    # a car sold by another store is bought elsewhere for this one ...
    r = row(hand, "V7")
    assert not r["sold_here"] and r["event"]
    assert r["entry_age"] == pytest.approx(years("2020-01-01", "2019-06-01"), abs=1e-12)
    # ... and a never-serviced own sale of its home store
    r = row(hand, "V7", "002")
    assert r["sold_here"] and r["event"] and r["exit_age"] == 0.0 and r["orders"] == 0


def test_unknown_sale_date_kept_with_null_ages(hand):
    r = row(hand, "V6")
    assert not r["age_known"] and not r["event"]
    assert np.isnan(r["entry_age"]) and np.isnan(r["exit_age"])
    assert np.isnan(r["last_order_age"]) and pd.isna(r["in_warranty_at_exit"])
    # the relationship length is known from the dates
    assert r["duration"] == pytest.approx(years("2023-06-30", "2022-01-01"), abs=1e-12)
    # own sale, no sale date, no orders: undecidable, kept, censored
    r = row(hand, "V8")
    assert not r["age_known"] and not r["event"] and pd.isna(r["first_year_visits"])
    # orphan VIN: kept, owner from the orders
    r = row(hand, "V9")
    assert not r["age_known"] and r["event"] and r["customer_id"] == "c9"
    assert pd.isna(r["usage"]) and r["region"] == "urban_core"


def test_backends_identical(hand):
    for name, tables in engines(hand_tables()):
        out = defection_table(tables, as_of=T)
        if name == "polars-lazy":
            assert isinstance(out, pl.LazyFrame)
        got = to_pandas(out)
        assert list(got.columns) == list(DEFECTION_COLUMNS), name
        for c in DEFECTION_COLUMNS:
            a, b = hand[c], got[c]
            if pd.api.types.is_datetime64_any_dtype(a):
                assert (a.isna() == b.isna()).all() and (a.dropna() == b.dropna()).all(), c
            elif pd.api.types.is_float_dtype(a):
                np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-12,
                                           err_msg=f"{name} {c}")
            else:
                assert [None if pd.isna(x) else x for x in a] == \
                    [None if pd.isna(x) else x for x in b], f"{name} {c}"


def test_backends_identical_on_generated_store():
    ds = generate(n_stores=2, seed=4, start="2019-01-01", scale=0.05)
    ref = defection_table(ds, store_id="002")
    assert len(ref) > 100 and set(ref["store_id"]) == {"002"}
    pls = {k: pl.from_pandas(getattr(ds, k)) for k in ("vehicles", "repair_orders",
                                                       "customers")}
    got = to_pandas(defection_table(pls, as_of=ds.meta["as_of"], store_id="002"))
    ref = ref.astype({"first_year_visits": float, "in_warranty_at_exit": object})
    got = got.astype({"first_year_visits": float, "in_warranty_at_exit": object})
    pd.testing.assert_frame_equal(ref, got, check_dtype=False)


def test_lapse_months_store_and_as_of():
    tab = defection_table(hand_tables(), as_of=T, lapse_months=6)  # horizon 2023-12-30
    assert row(tab, "V2")["event"] and row(tab, "V6")["event"] is not True
    assert not row(tab, "V4")["event"]  # sold 2024-01-10, after the horizon
    only = defection_table(hand_tables(), as_of=T, store_id="002")
    assert only[["store_id", "vin"]].values.tolist() == [["002", "V7"]]
    # at an earlier as-of date later orders do not exist
    early = defection_table(hand_tables(), as_of="2021-12-31")
    assert row(early, "V1")["last_order_date"] == d("2019-01-10")
    assert "V3" in set(early["vin"]) and "V4" not in set(early["vin"])  # V4 sold later


def test_owner_from_orders_ties_to_largest_id():
    v = pd.DataFrame({"vin": ["X"], "store_id": ["001"], "sold_here": [False],
                      "sale_date": pd.to_datetime(["2019-01-01"])})
    o = pd.DataFrame({"vin": "X", "store_id": "001", "customer_id": ["b", "z", "a"],
                      "open_date": pd.to_datetime(["2020-01-01", "2021-01-01", "2021-01-01"])})
    for _, tables in engines({"vehicles": v, "repair_orders": o}):
        assert to_pandas(defection_table(tables, as_of=T))["customer_id"].tolist() == ["z"]


def test_sorted_codes_order_and_missing():
    from crm_analysis.survival import _sorted_codes

    s = pd.Series(["b", None, "é", "a", "b", "Z"], dtype=object)
    codes, values = _sorted_codes(s)
    assert codes.tolist() == [2, -1, 3, 1, 2, 0]  # code-point order, like sort_values
    assert values.tolist() == ["Z", "a", "b", "é"]
    assert _sorted_codes(s, few=True)[0].tolist() == codes.tolist()  # pandas' factorize
    codes, values = _sorted_codes(pd.Series([30, 10, 30], dtype=object))  # not strings
    assert codes.tolist() == [1, 0, 1] and values.tolist() == [10, 30]


def test_dataset_input_and_errors():
    ds = example_dataset()
    tab = defection_table(ds)  # meta as_of
    assert len(tab) == 3
    # a mapping without a date: its last order is T
    last = hand_tables()["repair_orders"]["open_date"].max()
    pd.testing.assert_frame_equal(defection_table(hand_tables()),
                                  defection_table(hand_tables(), as_of=last))
    no_orders = {**hand_tables(), "repair_orders": hand_tables()["repair_orders"].iloc[:0]}
    with pytest.raises(TypeError, match="^defection_table: as_of is required"):
        defection_table(no_orders)
    with pytest.raises(TypeError, match="^defection_table: as_of must be a date"):
        defection_table(hand_tables(), as_of=20240630)  # not nanoseconds after 1970
    with pytest.raises(TypeError, match="positional"):
        defection_table(hand_tables(), T)
    with pytest.raises(ValueError, match="is not a date"):
        defection_table(hand_tables(), as_of="last tuesday")
    with pytest.raises(TypeError, match="^defection_table: lapse_months must be an integer"):
        defection_table(hand_tables(), as_of=T, lapse_months="12")
    with pytest.raises(KeyError, match="repair_orders"):
        defection_table({"vehicles": ds.vehicles}, as_of=T)
    with pytest.raises(KeyError, match="'vehicles' is missing column"):
        defection_table({"vehicles": ds.vehicles.drop(columns="sale_date"),
                         "repair_orders": ds.repair_orders}, as_of=T)
    dup = pd.concat([ds.vehicles, ds.vehicles.iloc[:1]])
    with pytest.raises(ValueError, match="one row per vin"):
        defection_table({"vehicles": dup, "repair_orders": ds.repair_orders}, as_of=T)
    with pytest.raises(TypeError, match="Dataset or a mapping"):
        defection_table(ds.vehicles, as_of=T)
    assert isinstance(ds, Dataset)


# ----------------------------------------------------------------------------- Kaplan-Meier

# (entry, exit, event) worked by hand: risk set at t = {entry <= t <= exit}
#   t=0:   rows 1-4 at risk, 1 departure -> S = 3/4
#   t=1:   rows 2-4,         1 departure -> S = 3/4 * 2/3 = 1/2
#   t=2.5: rows 4, 5, 6 (row 3 censored at 2, rows 5-6 entered at 1.5) -> S = 1/3
#   t=3:   rows 4, 6,        1 departure -> S = 1/6
KM_HAND = pd.DataFrame({
    "entry_age": [0.0, 0.0, 0.0, 0.0, 1.5, 1.5],
    "exit_age": [0.0, 1.0, 2.0, 3.0, 2.5, 4.0],
    "event": [True, True, False, True, True, False],
    "usage": ["a", "a", "a", "b", "b", "b"],
})


def test_km_equals_hand_computation():
    km = survival_by_vehicle_age(KM_HAND)
    got = km.survival_at([0, 0.5, 1, 2, 2.5, 3, 3.5, 4.5])
    np.testing.assert_allclose(got["survival"].to_numpy()[:7],
                               [3 / 4, 3 / 4, 1 / 2, 1 / 2, 1 / 3, 1 / 6, 1 / 6])
    assert np.isnan(got["survival"].iloc[7])  # beyond the last exit: not observed
    assert got["at_risk"].tolist() == [4, 3, 3, 4, 3, 2, 1, 0]
    assert ((got["lo"] <= got["survival"]) & (got["survival"] <= got["hi"]))[:7].all()
    assert float(km.median_["all"]) == 1.0
    assert km.survival_at(1)["survival"].tolist() == [0.5]
    assert km.at_risk_["at_risk"].tolist() == [4, 3, 4, 2, 1]  # ages 0..4
    assert km.counts_[["relationships", "events"]].values.tolist() == [[6, 4]]
    # Polars input: the same curve
    pl_km = survival_by_vehicle_age(pl.from_pandas(KM_HAND))
    pd.testing.assert_frame_equal(km.curve_, pl_km.curve_)


def test_km_by_group_and_plot():
    km = survival_by_vehicle_age(KM_HAND, by="usage")
    assert km.groups_ == ["a", "b"]
    s = km.survival_at([1.2, 3.0])
    # group a: t=0 3 at risk, 1 leaves; t=1 2 at risk, 1 leaves -> 1/3
    # group b: t=2.5 3 at risk (two entered at 1.5), 1 leaves; t=3 2 at risk, 1 leaves
    np.testing.assert_allclose(s["survival"], [1 / 3, np.nan, 1.0, 1 / 3])
    assert (km.conditional_on_ == 0).all()
    import matplotlib

    matplotlib.use("Agg")
    from crm_analysis import plots

    ax = plots.survival_curves(km)
    assert sorted(x.get_gid() for x in ax.get_lines()
                  if str(x.get_gid()).startswith("survival_")) == ["survival_a", "survival_b"]


def test_left_truncation_tiny_early_risk_set_is_conditioned():
    # three walk-ins enter at 1.0 (one leaves at 1.1); twenty more enter at 2.0
    rng = np.random.default_rng(0)
    tab = pd.DataFrame({"entry_age": np.r_[1.0, 1.0, 1.0, np.full(20, 2.0)],
                        "exit_age": np.r_[1.1, 5.0, 6.0, 2.5 + rng.random(20) * 3],
                        "event": np.r_[True, False, False, rng.random(20) < 0.7]})
    naive = survival_by_vehicle_age(tab, min_at_risk=1)
    # the product-limit: the lone early departure takes a third off the curve for good
    assert float(naive.conditional_on_["all"]) == 0.0
    assert naive.survival_at([2.0])["survival"].iloc[0] == pytest.approx(2 / 3)
    km = survival_by_vehicle_age(tab)  # min_at_risk=10
    a0 = float(km.conditional_on_["all"])
    assert 2.5 <= a0 < 3.0
    assert km.excluded_["before_conditioning_age"] == int((tab["exit_age"] < a0).sum())
    assert km.survival_at([a0 - 0.01])["survival"].iloc[0] == 1.0
    assert km.survival_at([a0])["at_risk"].iloc[0] >= 10


def test_left_truncation_emptied_risk_set():
    from lifelines import KaplanMeierFitter
    from lifelines.exceptions import StatError

    # one walk-in enters at 1.0 and leaves at 1.2; then twenty enter at 2.0
    rng = np.random.default_rng(1)
    tab = pd.DataFrame({"entry_age": np.r_[1.0, np.full(20, 2.0)],
                        "exit_age": np.r_[1.2, 2.5 + rng.random(20) * 3],
                        "event": np.r_[True, rng.random(20) < 0.7]})
    with pytest.raises(StatError, match="too few early truncation times"):
        KaplanMeierFitter().fit(tab["exit_age"], tab["event"], entry=tab["entry_age"])
    km = survival_by_vehicle_age(tab, min_at_risk=1)
    a0 = float(km.conditional_on_["all"])
    assert 2.5 <= a0 < 3.0
    assert km.excluded_["before_conditioning_age"] == int((tab["exit_age"] < a0).sum())
    assert 0 < km.survival_at([3.0])["survival"].iloc[0] < 1


def test_options_are_checked_and_confidence_sets_the_bands():
    with pytest.raises(TypeError, match="^survival_by_vehicle_age: as_of must be a date"):
        survival_by_vehicle_age(hand_tables(), as_of=20240630)
    with pytest.raises(TypeError,
                       match="^survival_by_vehicle_age: lapse_months must be an integer"):
        survival_by_vehicle_age(hand_tables(), as_of=T, lapse_months="12")
    with pytest.raises(TypeError, match="^warranty_cliff: max_age must be an integer"):
        warranty_cliff(KM_HAND, max_age="5")
    with pytest.raises(ValueError, match="confidence must be"):
        survival_by_vehicle_age(KM_HAND, confidence=1.5)
    wide = survival_by_vehicle_age(KM_HAND, confidence=0.99).survival_at([1.0])
    narrow = survival_by_vehicle_age(KM_HAND, confidence=0.8).survival_at([1.0])
    assert wide["lo"].iloc[0] < narrow["lo"].iloc[0] and wide["hi"].iloc[0] > narrow["hi"].iloc[0]
    h90 = warranty_cliff(KM_HAND, max_age=4, confidence=0.9).hazard_
    h99 = warranty_cliff(KM_HAND, max_age=4, confidence=0.99).hazard_
    assert (h99["hazard_hi"] > h90["hazard_hi"]).all()
    with pytest.raises(AttributeError, match="fit"):
        SurvivalResult(confidence=0.9).survival_at([1.0])


def test_km_exclusions_counted(hand):
    km = survival_by_vehicle_age(hand)
    # unknown age: V6, V8, V9; no follow-up: V4 (sold after the horizon)
    assert km.excluded_["unknown_age"] == 3
    assert km.excluded_["no_follow_up"] == 1
    assert int(km.counts_["relationships"].sum()) == len(hand) - 4
    # the data path builds the same table
    km2 = survival_by_vehicle_age(hand_tables(), as_of=T)
    pd.testing.assert_frame_equal(km.curve_, km2.curve_)
    with pytest.raises(TypeError, match="as_of and store_id apply"):
        survival_by_vehicle_age(hand, as_of=T)
    with pytest.raises(KeyError, match="no column"):
        survival_by_vehicle_age(hand, by="colour")


# ----------------------------------------------------------------------------- log-rank


def brute_logrank(entry, exit_, event, groups):
    """Textbook log-rank with delayed entry, one departure age at a time.

    At risk at t: entry < t <= exit, and at t == entry for rows entering at age 0 or
    ending where they enter (compare_survival's rule; R's references are in
    tests/test_survival_logrank_r.py).
    """
    levels = sorted(set(groups))
    g = np.asarray(groups)
    u = np.zeros(len(levels))
    v = np.zeros((len(levels), len(levels)))
    early = (entry == 0) | (entry == exit_)
    for t in sorted(set(exit_[event])):
        at = ((entry < t) | ((entry == t) & early)) & (exit_ >= t)
        n = at.sum()
        dd = (at & event & (exit_ == t)).sum()
        ng = np.array([(at & (g == lv)).sum() for lv in levels])
        dg = np.array([(at & event & (exit_ == t) & (g == lv)).sum() for lv in levels])
        u += dg - dd * ng / n
        if n > 1:
            c = dd * (n - dd) / (n - 1)
            v += c * (np.diag(ng / n) - np.outer(ng, ng) / n**2)
    k = len(levels) - 1
    return float(u[:k] @ np.linalg.inv(v[:k, :k]) @ u[:k])


def random_table(n=300, entry=False, seed=1):
    rng = np.random.default_rng(seed)
    grp = rng.choice(["a", "b", "c"], n)
    scale = pd.Series(grp).map({"a": 2.0, "b": 3.0, "c": 2.5}).to_numpy()
    life = np.round(rng.exponential(scale), 1)  # rounded: ties
    cens = np.round(rng.uniform(0, 6, n), 1)
    ent = np.round(rng.uniform(0, 1.5, n), 1) * (rng.random(n) < 0.5) if entry else 0 * life
    # every row followed for some time (a row censored at its entry carries no follow-up
    # and the estimators leave it out; lifelines would keep it)
    ok = (np.minimum(life, cens) > ent) | ((life <= cens) & (life >= ent))
    return pd.DataFrame({"entry_age": ent, "exit_age": np.minimum(life, cens),
                         "event": life <= cens, "usage": grp})[ok].reset_index(drop=True)


def test_logrank_equals_lifelines_without_entry():
    from lifelines.statistics import multivariate_logrank_test, pairwise_logrank_test

    tab = random_table()
    res = compare_survival(tab, "usage")
    ref = multivariate_logrank_test(tab["exit_age"], tab["usage"], tab["event"])
    overall = res[res["test"] == "overall"].iloc[0]
    assert overall["test_statistic"] == pytest.approx(ref.test_statistic, rel=1e-10)
    assert overall["p_value"] == pytest.approx(ref.p_value, rel=1e-8)
    assert overall["df"] == 2
    pw = pairwise_logrank_test(tab["exit_age"], tab["usage"], tab["event"]).summary
    for _, r in res[res["test"] == "pairwise"].iterrows():
        assert r["test_statistic"] == pytest.approx(
            pw.loc[(r["group_a"], r["group_b"]), "test_statistic"], rel=1e-10)
        assert r["p_value"] == pytest.approx(pw.loc[(r["group_a"], r["group_b"]), "p"],
                                             rel=1e-8)
    assert res[["group_a", "group_b"]].iloc[1:].values.tolist() == [["a", "b"], ["a", "c"],
                                                                    ["b", "c"]]


def test_logrank_with_entry_equals_brute_force():
    tab = random_table(entry=True, seed=3)
    assert (tab["entry_age"] > 0).mean() > 0.3
    res = compare_survival(tab, "usage").set_index("test")
    e, x, ev = (tab[c].to_numpy() for c in ("entry_age", "exit_age", "event"))
    ref = brute_logrank(e, x, ev.astype(bool), tab["usage"].tolist())
    assert res.loc["overall", "test_statistic"] == pytest.approx(ref, rel=1e-10)
    assert res.loc["overall", "p_value"] == pytest.approx(stats.chi2.sf(ref, 2), rel=1e-8)
    # ignoring the entry (lifelines without entry=) would give another answer
    naive = compare_survival(tab.assign(entry_age=0.0), "usage").set_index("test")
    assert naive.loc["overall", "test_statistic"] != pytest.approx(ref, rel=1e-3)
    with pytest.raises(ValueError, match="at least two groups"):
        compare_survival(tab.assign(usage="a"), "usage")


# ----------------------------------------------------------------------------- Cox


@pytest.fixture(scope="module")
def small_table() -> pd.DataFrame:
    ds = generate(n_stores=1, seed=8, start="2015-01-01", scale=0.15)
    return defection_table(ds)


def test_hazard_ratio_table(small_table):
    cox = defection_drivers(small_table, ["usage", "grade", "sold_here", "first_year_visits"],
                            reference={"usage": "private"})
    hr = cox.hazard_ratios_
    assert list(hr.columns) == ["covariate", "level", "reference", "label", "term",
                                "hazard_ratio", "lo", "hi", "p"]
    n_usage = small_table["usage"].nunique() - 1
    n_grade = small_table["grade"].nunique() - 1
    assert len(hr) == n_usage + n_grade + 1 + 1 + 2  # + sold_here, visits, 2 warranty
    assert cox.reference_ == {"usage": "private", "grade": "mid"}  # mid: most frequent
    assert (hr["lo"] < hr["hazard_ratio"]).all() and (hr["hazard_ratio"] < hr["hi"]).all()
    assert hr["p"].between(0, 1).all()
    r = hr.set_index("term")
    assert r.loc["usage[taxi]", "label"] == "vehicle usage: taxi vs private"
    assert r.loc["sold_here[yes]", "label"] == "sold here: yes vs no"
    assert r.loc["first_year_visits", "level"] == "per visit"
    assert set(cox.model_.summary.index) == set(hr["term"])
    # landmark: relationships that ended in their first year are not in the model
    assert cox.landmark_ == 1.0 and cox.excluded_["ended_in_first_year"] > 0
    assert (cox.episodes_.groupby("id")["event"].sum() <= 1).all()
    # the warranty episodes tile each relationship without gaps
    ep = cox.episodes_.sort_values(["id", "start"])
    nxt = ep.groupby("id")["start"].shift(-1)
    assert np.allclose(ep["stop"][nxt.notna()], nxt.dropna())
    import matplotlib

    matplotlib.use("Agg")
    from crm_analysis import plots

    ax = plots.forest_plot(cox)
    assert len(ax.get_yticklabels()) == len(hr)


def test_cox_without_landmark_or_warranty(small_table):
    cox = defection_drivers(small_table, ["grade"], warranty_split=None)
    assert cox.landmark_ == 0.0 and "ended_in_first_year" not in cox.excluded_
    assert cox.hazard_ratios_["covariate"].tolist() == ["grade", "grade"]
    cox = defection_drivers(small_table, ["grade"], warranty_lead=0.0)
    assert cox.hazard_ratios_["term"].tolist()[-1:] == ["warranty[out]"]


def test_cox_constant_column(small_table):
    own = small_table[small_table["sold_here"]]
    with pytest.raises(ValueError, match=r"constant covariate\(s\) \['sold_here"):
        defection_drivers(own, ["usage", "sold_here"])


def test_cox_collinear_columns(small_table):
    tab = small_table.assign(segment=small_table["usage"].map(
        {"taxi": "fleet", "company": "fleet"}).fillna("retail"))
    # segment[fleet] = usage[company] + usage[taxi]
    with pytest.raises(ValueError, match="collinear") as err:
        defection_drivers(tab, ["usage", "segment"], reference={"usage": "private"})
    msg = str(err.value)
    assert "segment[fleet]" in msg and "usage[taxi]" in msg and "usage[company]" in msg
    assert "usage[ride_hailing]" not in msg
    # a numeric copy of a numeric column
    tab = small_table.assign(visits2=2 * small_table["first_year_visits"].astype(float))
    with pytest.raises(ValueError, match=r"first_year_visits', 'visits2"):
        defection_drivers(tab, ["first_year_visits", "visits2"], warranty_split=None)


def test_cox_tiny_category_and_unknown_columns(small_table):
    tab = small_table.copy()
    tab.loc[tab.index[:3], "grade"] = "ultra"
    with pytest.raises(ValueError, match=r"grade='ultra' \(3 relationships"):
        defection_drivers(tab, ["grade"])
    with pytest.raises(KeyError, match="colour"):
        defection_drivers(small_table, ["colour"])
    with pytest.raises(ValueError, match="reference level 'sports'"):
        defection_drivers(small_table, ["grade"], reference={"grade": "sports"})


def test_cox_warranty_not_identifiable(small_table):
    with pytest.raises(ValueError, match="warranty covariate is not identifiable"):
        defection_drivers(small_table, ["grade"], warranty_km=None)


def test_cox_convergence_error_is_explained(small_table, monkeypatch):
    from lifelines import CoxTimeVaryingFitter
    from lifelines.exceptions import ConvergenceError

    def boom(self, *args, **kwargs):
        raise ConvergenceError("Convergence halted due to matrix inversion problems.")

    monkeypatch.setattr(CoxTimeVaryingFitter, "fit", boom)
    with pytest.raises(ValueError, match="did not converge.*larger penalizer") as err:
        defection_drivers(small_table, ["grade"], penalizer=0.01)
    assert isinstance(err.value, ConvergenceError)
    assert "0.1" in str(err.value)


# ----------------------------------------------------------------------------- hazard


def test_hazard_by_band_by_hand():
    tab = pd.DataFrame({
        "entry_age": [0.0, 0.0, 0.0, 1.5, 0.0, 2.2],
        "exit_age": [0.0, 2.5, 3.5, 2.0, 1.0, 2.2],
        "event": [True, True, False, True, True, True],
    })
    wc = warranty_cliff(tab, max_age=4, min_exposure=0.1)
    h = wc.hazard_.set_index("age_band")
    # exposure band 0: rows 2, 3, 5 -> 3 years; band 1: rows 2, 3 + 0.5 (row 4) -> 2.5;
    # band 2: 0.5 + 1 -> 1.5; band 3: 0.5
    np.testing.assert_allclose(h["at_risk_years"], [3.0, 2.5, 1.5, 0.5])
    # departures: row 5 at 1.0 (band 1), row 4 at 2.0, row 2 at 2.5 and row 6 at 2.2 (band 2)
    assert h["events"].tolist() == [0, 1, 3, 0]
    np.testing.assert_allclose(h["hazard"], [0.0, 0.4, 2.0, 0.0])
    lo, hi = stats.chi2.ppf(0.025, 6) / 2 / 1.5, stats.chi2.ppf(0.975, 8) / 2 / 1.5
    assert h.loc[2, "hazard_lo"] == pytest.approx(lo) and h.loc[2, "hazard_hi"] == \
        pytest.approx(hi)
    assert h.loc[0, "hazard_lo"] == 0.0
    assert np.isnan(h.loc[0, "increase"])
    assert wc.cliff_age_ == 2 and wc.cliff_increase_ == pytest.approx(1.6)
    assert wc.never_returned_ == 1  # row 1, left out of band 0
    with_never = warranty_cliff(tab, max_age=4, min_exposure=0.1,
                                include_never_returned=True).hazard_
    assert with_never["events"].tolist() == [1, 1, 3, 0]
    # bands with too little exposure take no part in the cliff search
    wc = warranty_cliff(tab, max_age=4, min_exposure=2.0)
    assert wc.cliff_age_ == 1 and np.isnan(wc.hazard_.loc[2, "increase"])
    import matplotlib

    matplotlib.use("Agg")
    from crm_analysis import plots

    assert plots.hazard_chart(wc) is not None


def test_cox_pool_rare_levels(small_table):
    sizes = small_table["usage"].value_counts()
    cut = 100  # private 1961, ride-hailing 192, company 160 | taxi 76, government 46
    rare = sorted(sizes.index[sizes < cut])
    ref = sizes.idxmax()
    assert rare and ref not in rare
    with pytest.raises(ValueError, match=f"fewer than min_level_size={cut}"):
        defection_drivers(small_table, ["usage"], min_level_size=cut)
    cox = defection_drivers(small_table, ["usage"], min_level_size=cut, pool_rare=True)
    assert cox.pooled_levels_["usage"] == rare
    assert not set(rare) & set(cox.hazard_ratios_["level"])
    # the same as counting those cars with the reference level by hand
    by_hand = small_table.assign(usage=small_table["usage"].where(
        ~small_table["usage"].isin(rare), ref))
    expected = defection_drivers(by_hand, ["usage"], min_level_size=cut)
    pd.testing.assert_frame_equal(cox.hazard_ratios_, expected.hazard_ratios_)
    assert expected.pooled_levels_ == {}
    # pooled down to one level, the covariate is dropped instead of failing
    big = int(sizes.iloc[0])
    only = defection_drivers(small_table, ["usage", "sold_here"], min_level_size=big,
                             pool_rare=True)
    assert "usage" not in set(only.hazard_ratios_["covariate"])

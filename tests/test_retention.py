"""Retention by vehicle age (crm_analysis.retention).

- exact equality with the brute-force references of tests/reference.py on a generated
  two-store group made messier (unknown sale dates, cars serviced at both stores, orders
  of a VIN missing from the vehicles table): retention and active ratio for both bases,
  several as-of dates, windows 6/12/24 and max ages; the 12 month-ends of the annual
  average; status; cohorts; the service funnel;
- ``by=`` groups sum back to the totals and equal the analysis of the subset; all stores
  at once is the union of the stores;
- Wilson intervals: published values (Newcombe 1998) and exact coverage;
- pandas, Polars and Polars lazy give identical frames;
- ground truth: on a generated store the orders-based retention by age band equals the
  same share computed from the generator's truth within sampling error, and the
  per-vehicle identities behind it hold exactly;
- clear errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from reference import (
    annual_average_reference,
    cohort_retention_reference,
    retention_by_age_reference,
    retention_reference,
    service_funnel_reference,
    status_reference,
)
from scipy.stats import binom

from crm_analysis.overview import window_start
from crm_analysis.retention import (
    STATUSES,
    Interval,
    annual_average,
    cohort_retention,
    retention_by_vehicle_age,
    service_funnel,
    status,
    wilson_interval,
)
from crm_analysis.schema import Dataset, example_dataset
from crm_analysis.synth import generate

COUNTS = ["base_vehicles", "retained", "active"]
AS_OFS = ("2016-02-29", "2020-03-15", "2022-12-31", "2024-06-30")


# ----------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def group() -> Dataset:
    """Two generated stores plus the awkward cases real exports have.

    - 3 % of the cars bought elsewhere have no sale date;
    - 300 cars of store 001 also have orders at store 002 (copies of some of their
      orders), so they have a relationship with both stores;
    - a VIN with orders at 001 that is missing from the vehicles table.
    """
    ds = generate(n_stores=2, seed=11, start="2012-01-01", as_of="2024-06-30", scale=0.15)
    rng = np.random.default_rng(0)
    v = ds.vehicles.copy()
    elsewhere = np.flatnonzero(~v["sold_here"].to_numpy())
    v.loc[rng.choice(elsewhere, len(elsewhere) * 3 // 100, replace=False), "sale_date"] = pd.NaT
    o = ds.repair_orders
    vins = rng.choice(v.loc[v["store_id"] == "001", "vin"].to_numpy(), 300, replace=False)
    extra = o[o["vin"].isin(vins)].sample(frac=0.5, random_state=1).copy()
    extra["store_id"] = "002"
    extra["ro_id"] = extra["ro_id"] + "-X"
    ghost = o[o["store_id"] == "001"].tail(3).copy()
    ghost["vin"] = "LGHOST00000000001"
    ghost["ro_id"] = ghost["ro_id"] + "-G"
    ghost["open_date"] = pd.to_datetime(["2022-10-01", "2023-03-01", "2024-01-15"])
    orders = pd.concat([o, extra, ghost], ignore_index=True)
    return Dataset(stores=ds.stores, customers=ds.customers, vehicles=v,
                   repair_orders=orders, meta=dict(ds.meta))


@pytest.fixture(scope="module")
def truth_store() -> Dataset:
    """One store of about 11,000 cars (7,800 sold here) and 85,000 orders."""
    return generate(n_stores=1, seed=7, start="2012-01-01", as_of="2024-06-30", scale=0.6)


def tables(ds: Dataset, engine: str = "pandas"):
    d = {k: getattr(ds, k) for k in ("vehicles", "repair_orders", "customers")}
    if engine == "pandas":
        return d
    d = {k: pl.from_pandas(f) for k, f in d.items()}
    return d if engine == "polars" else {k: f.lazy() for k, f in d.items()}


def as_pandas(frame) -> pd.DataFrame:
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if isinstance(frame, pl.DataFrame):
        frame = frame.to_pandas()
    return frame.reset_index(drop=True)


def as_polars(frame) -> pl.DataFrame:
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    return frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)


def bands(frame: pd.DataFrame) -> list:
    return [None if pd.isna(b) else int(b) for b in frame["age_band"]]


# ----------------------------------------------------------------------------- references


@pytest.mark.parametrize("as_of", AS_OFS)
@pytest.mark.parametrize("window", [6, 12, 24])
def test_sold_base_equals_reference(group, as_of, window):
    for store, max_age in (("001", 10), ("002", 5.5)):
        ref = retention_by_age_reference(group, as_of, store_id=store,
                                         window_months=window, max_age=max_age)
        got = retention_by_vehicle_age(group, as_of=as_of, store_id=store,
                                       window_months=window, max_age=max_age)
        assert bands(got) == ref["band"].tolist()
        assert got["base_vehicles"].tolist() == ref["base"].tolist()
        assert got["retained"].tolist() == ref["retained"].tolist()
        assert (got["retention_rate"].to_numpy() == ref["rate"].to_numpy()).all()
    assert ref["retained"].sum() > 0


@pytest.mark.parametrize("base", ["sold", "service"])
@pytest.mark.parametrize("as_of", AS_OFS[1:])
def test_both_bases_and_active_ratio_equal_reference(group, base, as_of):
    for store, window, active, max_age, service in (("001", 12, 6, 10, 24),
                                                    ("002", 24, 3, 7, 36)):
        ref = retention_reference(group, as_of, store_id=store, base=base,
                                  window_months=window, active_months=active,
                                  max_age=max_age, service_months=service)
        got = retention_by_vehicle_age(group, as_of=as_of, store_id=store, base=base,
                                       window_months=window, active_months=active,
                                       max_age=max_age, service_months=service)
        assert bands(got) == ref["band"].tolist()
        assert got[COUNTS].to_numpy().tolist() == ref[["base", "retained", "active"]] \
            .to_numpy().tolist()
        assert (got["active_ratio"].to_numpy() == (ref["active"] / ref["base"]).to_numpy()).all()


@pytest.mark.parametrize("window, max_age", [(6, 10), (12, 10), (24, 8)])
def test_annual_average_equals_reference(group, window, max_age):
    kw = dict(store_id="001", window_months=window, max_age=max_age)
    monthly = annual_average(group, 2022, monthly=True, **kw)
    ends = pd.date_range("2022-01-31", periods=12, freq="ME")
    assert sorted(monthly["month_end"].unique()) == list(ends)
    refs = []
    for end in ends:  # every month-end exactly
        ref = retention_reference(group, end, **kw)
        got = monthly[monthly["month_end"] == end]
        assert bands(got) == ref["band"].tolist()
        assert got[COUNTS].to_numpy().tolist() == ref[["base", "retained", "active"]] \
            .to_numpy().tolist()
        refs.append(ref.assign(rate=ref["retained"] / ref["base"],
                               ratio=ref["active"] / ref["base"]))
    by_band = pd.concat(refs).groupby("band")
    avg = annual_average(group, 2022, **kw)
    assert bands(avg) == list(by_band.groups)
    assert avg["months"].tolist() == by_band.size().tolist()
    # the means differ from pandas' by float summation order only (<= 1 ulp)
    for col, ref_col in (("retention_rate", "rate"), ("active_ratio", "ratio"),
                         ("base_vehicles", "base")):
        np.testing.assert_allclose(avg[col], by_band[ref_col].mean().to_numpy(), rtol=1e-15)


def test_annual_average_equals_the_original_reference(group):
    for store in ("002",):
        avg = annual_average(group, 2023, store_id=store)
        ref = annual_average_reference(group, "2023-12-31", store_id=store)
        assert bands(avg) == ref.index.tolist()
        np.testing.assert_allclose(avg["retention_rate"], ref.to_numpy(), rtol=1e-15, atol=0)


def test_annual_average_stops_at_the_data_end(group):
    # the Dataset's as_of is 2024-06-30: a year-to-date average over six month-ends
    ytd = annual_average(group, 2024, store_id="001")
    assert ytd["months"].max() == 6
    # a mapping: the data end at their last order (None is the data's own as-of date)
    last = group.repair_orders["open_date"].max()
    ends = pd.date_range("2024-01-31", periods=12, freq="ME")
    mapped = annual_average(tables(group), 2024, store_id="001")
    assert mapped["months"].max() == (ends <= last).sum()
    full = annual_average(tables(group), 2024, store_id="001", as_of="2024-12-31")
    assert full["months"].max() == 12
    with pytest.raises(ValueError, match="no month-end of 2025"):
        annual_average(group, 2025, store_id="001")


@pytest.mark.parametrize("as_of", AS_OFS)
def test_status_equals_reference(group, as_of):
    for store in ("001", "002"):
        for active, lost in ((6, 12), (3, 24)):
            ref = status_reference(group, as_of, store_id=store, active_months=active,
                                   lost_months=lost)
            got = status(group, as_of=as_of, store_id=store, active_months=active,
                         lost_months=lost)
            assert got["vin"].tolist() == ref["vin"].tolist()
            for col in ("store_id", "sold_here", "status"):
                assert got[col].tolist() == ref[col].tolist(), col
            assert got["customer_id"].fillna("-").tolist() == ref["customer_id"].fillna(
                "-").tolist()
            for col in ("sale_date", "last_order_date"):
                pd.testing.assert_series_equal(got[col], pd.to_datetime(ref[col]),
                                               check_names=False)
            for col in ("age_years", "months_since_last_order"):
                np.testing.assert_allclose(got[col].to_numpy(float),
                                           ref[col].to_numpy(float), rtol=1e-15)
    assert set(got["status"]) == set(STATUSES)


def test_status_all_stores_is_the_union_of_the_stores(group):
    both = status(group, as_of="2023-06-30")
    parts = pd.concat([status(group, as_of="2023-06-30", store_id=s) for s in ("001", "002")],
                      ignore_index=True)
    pd.testing.assert_frame_equal(both, parts)
    # a car serviced at both stores has two relationships, sold here at one at most
    twice = both[both.duplicated("vin", keep=False)]
    assert len(twice) > 100
    assert (twice.groupby("vin")["sold_here"].sum() <= 1).all()


def test_status_agrees_with_retention(group):
    as_of = "2023-06-30"
    s = status(group, as_of=as_of, store_id="001")
    s = s[s["sold_here"] & (s["age_years"] <= 10)]
    r = retention_by_vehicle_age(group, as_of=as_of, store_id="001")
    band = np.floor(s["age_years"]).astype(int)
    assert s.groupby(band).size().tolist() == r["base_vehicles"].tolist()
    active = s["status"].eq("active").groupby(band).sum()
    retained = s["status"].isin(["active", "dormant"]).groupby(band).sum()
    assert active.tolist() == r["active"].tolist()
    assert retained.tolist() == r["retained"].tolist()
    # months since the last order agrees with the status to within a calendar month
    seen = s[s["status"] != "never_returned"]
    m = seen["months_since_last_order"]
    assert (m[seen["status"] == "active"] <= 6.1).all()
    assert (m[seen["status"] == "lost"] > 11.9).all()


@pytest.mark.parametrize("as_of", ["2019-12-31", "2024-02-29", "2024-06-30"])
def test_cohort_retention_equals_reference(group, as_of):
    for store, max_age in (("001", 10), ("002", 4)):
        ref = cohort_retention_reference(group, as_of, store_id=store, max_age=max_age)
        got = cohort_retention(group, as_of=as_of, store_id=store, max_age=max_age)
        assert got[["sale_year", "age_band", "vehicles", "retained"]].to_numpy().tolist() \
            == ref.to_numpy().tolist()
        assert (got["retention_rate"] == got["retained"] / got["vehicles"]).all()
    assert got["age_band"].max() == max_age - 1


def test_cohort_retention_leap_day_sale():
    # a car sold on 2016-02-29: its years end on Feb 28 in common years, Feb 29 in leap
    v = pd.DataFrame({"vin": ["V"], "customer_id": ["C"], "store_id": ["S"],
                      "sold_here": [True], "sale_date": pd.to_datetime(["2016-02-29"])})
    o = pd.DataFrame({"vin": ["V"] * 3, "store_id": ["S"] * 3, "open_date": pd.to_datetime(
        ["2017-02-28", "2018-03-01", "2020-02-29"])})
    got = cohort_retention({"vehicles": v, "repair_orders": o}, as_of="2020-02-29", store_id="S")
    # year 0 = (2016-02-29, 2017-02-28], 1 = (.., 2018-02-28], 2 = (.., 2019-02-28],
    # 3 = (2019-02-28, 2020-02-29]
    assert got["retained"].tolist() == [1, 0, 1, 1]
    ref = cohort_retention_reference(Dataset(stores=pd.DataFrame(), customers=pd.DataFrame(),
                                             vehicles=v, repair_orders=o), "2020-02-29",
                                     store_id="S")
    assert ref["retained"].tolist() == [1, 0, 1, 1]


@pytest.mark.parametrize("ro_types, min_age", [(("maintenance", "warranty"), None),
                                               (("maintenance",), 2.0)])
def test_service_funnel_equals_reference(group, ro_types, min_age):
    ref = service_funnel_reference(group, "2024-06-30", store_id="001", ro_types=ro_types,
                                   max_visits=12, min_age_years=min_age)
    got = service_funnel(group, as_of="2024-06-30", store_id="001", ro_types=ro_types,
                         max_visits=12, min_age_years=min_age)
    assert got["visit"].tolist() == list(range(1, 13))
    assert got["vehicles"].tolist() == ref["vehicles"].tolist()
    assert (got["base_vehicles"] == ref["base"]).all()
    assert (got["share"] == ref["vehicles"] / ref["base"]).all()
    prev = np.r_[ref["base"].iloc[0], ref["vehicles"].to_numpy()[:-1]]
    np.testing.assert_array_equal(got["conditional_share"], ref["vehicles"] / prev)
    # a funnel: never increasing, and practitioners' first-service share is high
    assert (np.diff(got["vehicles"]) <= 0).all()
    assert got["share"].iloc[0] > 0.85


# ----------------------------------------------------------------------------- by= and stores


@pytest.mark.parametrize("base", ["sold", "service"])
@pytest.mark.parametrize("by", ["usage", "grade", "region", ["customer_type", "grade"],
                                "store_id", "sold_here"])
def test_by_groups_sum_to_the_totals(group, base, by):
    store = None if by == "store_id" else "001"
    kw = dict(store_id=store, base=base)
    total = retention_by_vehicle_age(group, as_of="2023-06-30", **kw).set_index("age_band")
    split = retention_by_vehicle_age(group, as_of="2023-06-30", by=by, **kw)
    by_ = [by] if isinstance(by, str) else by
    assert list(split.columns[:len(by_)]) == by_
    if (by, base) != ("sold_here", "sold"):  # the vehicle base is all sold here
        assert split.groupby(by_, dropna=False).ngroups > 1
    sums = split.groupby("age_band", dropna=False)[COUNTS].sum()
    assert sums.to_numpy().tolist() == total[COUNTS].to_numpy().tolist()


@pytest.mark.parametrize("base, by", [("sold", "region"), ("service", ["store_id", "grade"])])
def test_by_groups_sum_to_the_totals_every_month(group, base, by):
    kw = dict(base=base, monthly=True)
    total = annual_average(group, 2023, **kw)
    split = annual_average(group, 2023, by=by, **kw)
    sums = split.groupby(["month_end", "age_band"], dropna=False)[COUNTS].sum()
    assert sums.to_numpy().tolist() == total[COUNTS].to_numpy().tolist()
    assert len(split) > len(total)


def test_by_group_equals_the_subset(group):
    # the taxi rows of by="usage" are the analysis of the taxis alone; the region rows of
    # the service base are the analysis of those customers' cars
    split = retention_by_vehicle_age(group, as_of="2023-06-30", store_id="001", by="usage")
    taxis = group.vehicles[group.vehicles["usage"] == "taxi"]
    alone = retention_by_vehicle_age({"vehicles": taxis,
                                      "repair_orders": group.repair_orders},
                                     as_of="2023-06-30", store_id="001")
    got = split[split["usage"] == "taxi"].drop(columns="usage").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, alone)

    c = group.customers
    county = set(c.loc[c["region"] == c["region"].mode()[0], "customer_id"])
    region = c["region"].mode()[0]
    split = retention_by_vehicle_age(group, as_of="2023-06-30", store_id="001", base="service",
                                     by="region")
    cars = group.vehicles["customer_id"].isin(county)
    orders = group.repair_orders[group.repair_orders["vin"].isin(group.vehicles.loc[cars,
                                                                                    "vin"])]
    alone = retention_by_vehicle_age({"vehicles": group.vehicles[cars],
                                      "repair_orders": orders},
                                     as_of="2023-06-30", store_id="001", base="service")
    got = split[split["region"] == region].drop(columns="region").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, alone)


def test_all_stores_split_by_store_equals_each_store(group):
    split = retention_by_vehicle_age(group, as_of="2023-06-30", by="store_id", base="service")
    for store in ("001", "002"):
        one = retention_by_vehicle_age(group, as_of="2023-06-30", store_id=store, base="service")
        got = split[split["store_id"] == store].drop(columns="store_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, one)


def test_service_base_holds_cars_bought_elsewhere_and_unknown_ages(group):
    as_of = pd.Timestamp("2023-06-30")
    r = retention_by_vehicle_age(group, as_of=as_of, store_id="001", base="service",
                                 by="sold_here")
    assert set(r["sold_here"]) == {True, False}
    assert r.loc[r["sold_here"], "base_vehicles"].sum() > 0
    assert r.loc[~r["sold_here"], "base_vehicles"].sum() > 0
    # the null band: every car with an order in the last 24 months and no known sale date
    o = group.repair_orders
    recent = o[(o["store_id"] == "001") & (o["open_date"] > as_of - pd.DateOffset(months=24))
               & (o["open_date"] <= as_of)]
    sale = group.vehicles.set_index("vin")["sale_date"]
    unknown = {v for v in recent["vin"].unique() if pd.isna(sale.get(v, pd.NaT))}
    assert "LGHOST00000000001" in unknown
    null_rows = r[r["age_band"].isna()]
    assert null_rows["base_vehicles"].sum() == len(unknown) > 5
    assert null_rows["sold_here"].eq(False).all()
    # the service base is at least the retained part of the vehicle base, band by band
    sold = retention_by_vehicle_age(group, as_of=as_of, store_id="001").set_index("age_band")
    svc = r[r["sold_here"]].set_index("age_band")
    assert (svc["base_vehicles"] >= sold.loc[svc.index, "retained"]).all()


# ----------------------------------------------------------------------------- Wilson


def test_wilson_interval_known_values():
    # textbook values at 95 %: 0, 5 and 10 of 10
    for x, lo, hi in ((0, 0.0, 0.2775), (5, 0.2366, 0.7634), (10, 0.7225, 1.0)):
        got = wilson_interval(x, 10)
        assert got.lo == pytest.approx(lo, abs=5e-5) and got.hi == pytest.approx(hi, abs=5e-5)
    assert wilson_interval(0, 10).lo == 0.0 and wilson_interval(10, 10).hi == 1.0
    # Newcombe (1998), Statistics in Medicine 17:857, Table II, method 3 (score)
    for x, n, lo, hi in ((81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605),
                         (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)):
        got = wilson_interval(x, n)
        assert (got.lo, got.hi) == pytest.approx((lo, hi), abs=5e-5)
    # 90 %: narrower; arrays; n = 0 gives NaN
    assert wilson_interval(5, 10, confidence=0.90).lo > wilson_interval(5, 10).lo
    ci = wilson_interval([0, 5, 0], [10, 10, 0])
    assert isinstance(ci, Interval) and not isinstance(ci, tuple)
    assert ci.lo[:2].tolist() == pytest.approx([0.0, 0.2366], abs=5e-5) and np.isnan(ci.hi[2])
    with pytest.raises(ValueError, match="successes <= trials"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 10, confidence=95)
    with pytest.raises(TypeError):
        wilson_interval(1, 10, 0.9)  # confidence is keyword-only


def test_wilson_interval_coverage():
    # exact coverage over a grid of p: near the nominal 95 % on average and never far below
    for n in (10, 50, 200):
        x = np.arange(n + 1)
        ci = wilson_interval(x, np.full(n + 1, n))
        lo, hi = ci.lo, ci.hi
        cover = np.array([binom.pmf(x, n, p)[(lo <= p) & (p <= hi)].sum()
                          for p in np.linspace(0.02, 0.98, 49)])
        assert abs(cover.mean() - 0.95) < 0.01, n
        assert cover.min() > 0.92, n


def test_frame_intervals_are_wilson(group):
    r = retention_by_vehicle_age(group, as_of="2023-06-30", store_id="001", confidence=0.9)
    ci = wilson_interval(r["retained"], r["base_vehicles"], confidence=0.9)
    np.testing.assert_allclose(r["retention_lo"], ci.lo, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(r["retention_hi"], ci.hi, rtol=1e-14)
    ci = wilson_interval(r["active"], r["base_vehicles"], confidence=0.9)
    np.testing.assert_allclose(r["active_lo"], ci.lo, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(r["active_hi"], ci.hi, rtol=1e-14)
    assert ((r["retention_lo"] <= r["retention_rate"])
            & (r["retention_rate"] <= r["retention_hi"])).all()


# ----------------------------------------------------------------------------- backends


CALLS = {
    "status": lambda d: status(d, as_of="2023-06-30", store_id="001"),
    "status_all": lambda d: status(d, as_of="2023-06-30", active_months=3, lost_months=24),
    "sold": lambda d: retention_by_vehicle_age(d, as_of="2023-06-30", store_id="001"),
    "service_by": lambda d: retention_by_vehicle_age(d, as_of="2023-06-30", base="service",
                                                     by=["store_id", "region"]),
    "annual": lambda d: annual_average(d, 2022, store_id="002", by="grade"),
    "annual_service": lambda d: annual_average(d, 2023, base="service", monthly=True),
    "cohort": lambda d: cohort_retention(d, as_of="2024-06-30", store_id="001"),
    "funnel": lambda d: service_funnel(d, as_of="2024-06-30", store_id="001"),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_pandas_polars_and_lazy_are_identical(group, call):
    fn = CALLS[call]
    pd_out = fn(tables(group))
    assert isinstance(pd_out, pd.DataFrame)
    assert fn(group).equals(pd_out)  # a Dataset = its pandas tables
    eager = fn(tables(group, "polars"))
    lazy = fn(tables(group, "polars-lazy"))
    assert isinstance(eager, pl.DataFrame) and isinstance(lazy, pl.LazyFrame)
    assert lazy.collect().equals(eager)
    assert as_polars(pd_out).equals(eager), call
    assert as_polars(pd_out).schema == eager.schema
    if "age_band" in pd_out.columns:
        assert str(pd_out["age_band"].dtype) == "Int64"


def test_mixed_backends_and_date_columns(group):
    ref = retention_by_vehicle_age(group, as_of="2023-06-30", store_id="001", by="region")
    d = tables(group, "polars")
    # Polars Date columns, pandas vehicles and customers with Polars orders
    d["repair_orders"] = d["repair_orders"].with_columns(pl.col("open_date").cast(pl.Date))
    mixed = {"vehicles": group.vehicles, "customers": group.customers,
             "repair_orders": d["repair_orders"]}
    got = retention_by_vehicle_age(mixed, as_of="2023-06-30", store_id="001", by="region")
    assert isinstance(got, pl.DataFrame)
    pd.testing.assert_frame_equal(as_pandas(got)[ref.columns].astype(ref.dtypes), ref)


# ----------------------------------------------------------------------------- ground truth


@pytest.mark.parametrize("as_of", ["2022-06-30", "2024-06-30"])
def test_retention_curve_matches_the_truth(truth_store, as_of):
    """The orders-based curve against the same share computed from the truth.

    For a car of the vehicle base at T, with W = (T − 12 months, T]:

    - if the truth says it defected (decided to leave) by T, all its orders are on or
      before that decision, so it is retained exactly when it had an order and its last
      order (``true_defection_date``) lies in W; a car that defected before W starts is
      never retained;
    - if it is still with the store at T it comes at least every ~8 months (maintenance
      every 6 months, ~35 % late), so it is retained, unless it is so new that its first
      service (0.2–1.2 months after the sale, uniform) is still ahead.

    The truth-based expected share of a band is the mean of those per-car values (the
    first-service probability for brand-new cars); the orders-based rate must lie within
    3 binomial standard errors of it. (The share alive at the *start* of W is only an
    upper bound: cars that leave during W before their next visit are not retained.)
    """
    T = pd.Timestamp(as_of)
    ws = pd.Timestamp(window_start(12, as_of=T))
    curve = retention_by_vehicle_age(truth_store, as_of=T, store_id="001")
    s = status(truth_store, as_of=T, store_id="001")
    s = s[s["sold_here"] & (s["age_years"] <= 10)].reset_index(drop=True)
    truth = truth_store.truth.set_index("vin").loc[s["vin"]]
    decided = truth["defection_decision_date"].to_numpy()
    last = truth["true_defection_date"].to_numpy()
    left_by_T = ~pd.isna(decided) & (decided <= T.to_datetime64())
    left_before_W = ~pd.isna(decided) & (decided <= ws.to_datetime64())
    retained = (s["last_order_date"] > ws).to_numpy()

    # exact per-car identities
    assert left_before_W.sum() > 1000
    assert not retained[left_before_W].any()
    had_orders = ~truth["never_returned"].to_numpy()
    truth_retained = had_orders & (last > ws.to_datetime64())
    assert (retained[left_by_T] == truth_retained[left_by_T]).all()

    # the band curve within sampling error of the truth-based share
    lo, hi = truth_store.meta["params"]["first_service_months"]
    months_old = s["age_years"].to_numpy() * 12
    p_first = np.clip((months_old - lo) / (hi - lo), 0.0, 1.0)
    expected = np.where(left_by_T, truth_retained.astype(float), p_first)
    band = np.floor(s["age_years"]).astype(int)
    e = pd.Series(expected).groupby(band).mean()
    n = pd.Series(expected).groupby(band).size()
    assert n.tolist() == curve["base_vehicles"].tolist() and n.min() > 400
    var = pd.Series(expected * (1 - expected)).groupby(band).sum() / n**2
    sigma = np.sqrt(var.to_numpy() + 0.25 / n.to_numpy() ** 2)  # half a car of slack
    z = (curve["retention_rate"].to_numpy() - e.to_numpy()) / sigma
    assert np.all(np.abs(z) < 3), dict(zip(e.index, np.round(z, 2), strict=True))
    # and the shares alive at the end and the start of W bracket the curve
    alive_T = pd.Series(~left_by_T).groupby(band).mean().to_numpy()
    alive_W = pd.Series(~left_before_W).groupby(band).mean().to_numpy()
    rate = curve["retention_rate"].to_numpy()
    assert (rate <= alive_W).all()
    assert (rate[1:] >= alive_T[1:]).all()
    # the generator's shape: falling over the first years, the warranty cliff in year 4
    assert (np.diff(rate[:4]) < 0).all() and rate[0] > 0.8 and rate[4] < 0.25


# ----------------------------------------------------------------------------- errors


def test_clear_errors(group):
    with pytest.raises(ValueError, match=r"unknown store 7; .*\['001', '002'\]"):
        retention_by_vehicle_age(group, as_of="2023-06-30", store_id=7)
    with pytest.raises(ValueError, match="unknown store '999'"):
        status(tables(group, "polars-lazy"), as_of="2023-06-30", store_id="999")
    with pytest.raises(ValueError,
                       match="^retention_by_vehicle_age: base must be one of 'sold', 'service'"):
        retention_by_vehicle_age(group, as_of="2023-06-30", base="owned")
    with pytest.raises(KeyError, match=r"\['mileage_band'\] are in neither vehicles or "
                                       "customers"):
        retention_by_vehicle_age(group, as_of="2023-06-30", by="mileage_band")
    no_customers = {k: v for k, v in tables(group).items() if k != "customers"}
    with pytest.raises(KeyError, match="no customers table given"):
        annual_average(no_customers, 2023, by="region")
    with pytest.raises(ValueError, match="as_of='last June' is not a date"):
        retention_by_vehicle_age(group, as_of="last June")
    with pytest.raises(TypeError, match="^status: as_of must be a date"):
        status(group, as_of=2023)
    with pytest.raises(TypeError, match="^annual_average: year must be an integer"):
        annual_average(group, "2023")
    with pytest.raises(KeyError, match="'repair_orders'"):
        status({"vehicles": group.vehicles}, as_of="2023-06-30")
    with pytest.raises(KeyError, match=r"table 'vehicles' is missing column\(s\) \['sold_here'\]"):
        retention_by_vehicle_age({"vehicles": group.vehicles.drop(columns="sold_here"),
                                  "repair_orders": group.repair_orders}, as_of="2023-06-30")
    with pytest.raises(TypeError, match="repair_orders.open_date must hold dates"):
        status({"vehicles": group.vehicles,
                "repair_orders": group.repair_orders.astype({"open_date": str})},
               as_of="2023-06-30")
    with pytest.raises(ValueError, match="active_months .* must not exceed"):
        status(group, as_of="2023-06-30", active_months=12, lost_months=6)
    with pytest.raises(ValueError, match="window_months must be >= 1"):
        retention_by_vehicle_age(group, as_of="2023-06-30", window_months=0)
    with pytest.raises(TypeError, match="^retention_by_vehicle_age: window_months must be an "
                                        "integer"):
        retention_by_vehicle_age(group, as_of="2023-06-30", window_months="12")
    with pytest.raises(TypeError, match="^service_funnel: max_visits must be an integer"):
        service_funnel(group, as_of="2023-06-30", store_id="001", max_visits="5")
    for call in (status, retention_by_vehicle_age):
        with pytest.raises(TypeError, match="positional"):
            call(group, "2023-06-30")
    for call in (cohort_retention, service_funnel):
        with pytest.raises(TypeError, match="positional"):
            call(group, "2023-06-30", store_id="001")
        with pytest.raises(TypeError, match=f"^{call.__name__}: as_of must be a date"):
            call(group, as_of=20230630, store_id="001")
    with pytest.raises(TypeError, match="must be a crm_analysis.schema.Dataset or a mapping"):
        status(group.repair_orders, as_of="2023-06-30")
    with pytest.raises(TypeError, match="ro_types"):
        service_funnel(group, as_of="2023-06-30", store_id="001", ro_types="maintenance")


def test_example_dataset_defaults_to_its_as_of():
    ds = example_dataset()
    s = status(ds)  # meta as_of 2024-06-30: every car's last order is years old
    assert s["status"].tolist() == ["lost", "lost", "lost"]
    assert s["months_since_last_order"].min() > 36


def test_survival_functions_are_re_exported():
    import crm_analysis.retention as retention
    import crm_analysis.survival as survival

    for name in ("defection_table", "survival_by_vehicle_age", "compare_survival",
                 "defection_drivers", "warranty_cliff"):
        assert getattr(retention, name) is getattr(survival, name)
        assert name in retention.__all__

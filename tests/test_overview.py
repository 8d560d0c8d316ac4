"""Overview table builders: same answer on pandas and Polars, and equal to a direct count."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

from crm_analysis.overview import monthly_activity, order_mix, vehicle_age_profile, window_start
from crm_analysis.synth import generate

AS_OF = "2023-12-31"


@pytest.fixture(scope="module")
def ds():
    return generate(n_stores=2, seed=4, start="2018-01-01", as_of=AS_OF, scale=0.15)


def to_pandas(frame) -> pd.DataFrame:
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if isinstance(frame, pl.DataFrame):
        frame = frame.to_pandas()
    return frame.reset_index(drop=True)


def engines(ds):
    yield "pandas", ds.vehicles, ds.repair_orders
    yield "polars", pl.from_pandas(ds.vehicles), pl.from_pandas(ds.repair_orders)
    yield "polars-lazy", pl.from_pandas(ds.vehicles).lazy(), pl.from_pandas(ds.repair_orders).lazy()


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-12)


def test_monthly_activity_matches_direct_count(ds):
    o = ds.repair_orders[ds.repair_orders["store_id"] == "002"]
    direct = o.groupby(o["open_date"].dt.to_period("M")).agg(
        orders=("ro_id", "size"), vehicles=("vin", "nunique"), revenue=("total_amount", "sum"))
    for name, _v, orders in engines(ds):
        got = to_pandas(monthly_activity(orders, store_id="002"))
        assert got["month"].dt.to_period("M").tolist() == direct.index.tolist(), name
        assert got["orders"].tolist() == direct["orders"].tolist(), name
        assert got["vehicles"].tolist() == direct["vehicles"].tolist(), name
        assert got["revenue"].round(6).tolist() == direct["revenue"].round(6).tolist(), name
        assert got["orders"].sum() == len(o)  # no order lost


def test_monthly_activity_returns_input_kind(ds):
    assert isinstance(monthly_activity(ds.repair_orders), pd.DataFrame)
    assert isinstance(monthly_activity(pl.from_pandas(ds.repair_orders)), pl.DataFrame)
    assert isinstance(monthly_activity(pl.from_pandas(ds.repair_orders).lazy()), pl.LazyFrame)


def test_order_mix_shares_and_engines(ds):
    ref = to_pandas(order_mix(ds.repair_orders, start="2023-01-01", end=AS_OF))
    o = ds.repair_orders[ds.repair_orders["open_date"] >= "2023-01-01"]
    counts = o["ro_type"].value_counts()
    assert dict(zip(ref["ro_type"], ref["orders"], strict=True)) == counts.to_dict()
    assert ref["share_orders"].sum() == pytest.approx(1.0)
    assert ref["share_revenue"].sum() == pytest.approx(1.0)
    assert ref["orders"].is_monotonic_decreasing
    for name, _v, orders in engines(ds):
        assert_same(to_pandas(order_mix(orders, start="2023-01-01", end=AS_OF)), ref), name


def test_order_mix_keeps_missing_categories():
    o = pd.DataFrame({"payer": ["customer", None, "customer"], "total_amount": [1.0, 2.0, 3.0],
                      "open_date": pd.to_datetime(["2024-01-01"] * 3)})
    mix = order_mix(o, by="payer")
    assert mix["orders"].sum() == 3 and mix["payer"].isna().sum() == 1


def brute_force_profile(ds, store, as_of, max_age=10, months=24):
    t = pd.Timestamp(as_of)
    lo = t - pd.DateOffset(months=months)
    rows = []
    o = ds.repair_orders
    served = set(o.loc[(o["store_id"] == store) & (o["open_date"] > lo) & (o["open_date"] <= t),
                       "vin"])
    for vin, s, own, sale in ds.vehicles[["vin", "store_id", "sold_here", "sale_date"]].itertuples(
            index=False):
        age = (t - sale).total_seconds() / 86400 / 365.25
        if s == store and own and sale <= t and age <= max_age:
            rows.append(("vehicle_base", own, float(int(age))))
        if vin in served:
            rows.append(("service_base", own, float(int(age))))
    return pd.DataFrame(rows, columns=["base", "sold_here", "age_band"]).value_counts()


def test_vehicle_age_profile_matches_brute_force(ds):
    expected = brute_force_profile(ds, "001", AS_OF)
    for name, vehicles, orders in engines(ds):
        got = to_pandas(vehicle_age_profile(orders, vehicles, as_of=AS_OF, store_id="001"))
        got = got.set_index(["base", "sold_here", "age_band"])["vehicles"]
        pd.testing.assert_series_equal(
            got.sort_index(), expected.rename("vehicles").sort_index(), check_dtype=False,
            check_names=False), name
    assert (~got.reset_index()["sold_here"]).any()  # walk-ins are present in the service base


def test_unknown_sale_date_is_kept_not_dropped(ds):
    v = ds.vehicles.copy()
    walk = v.index[~v["sold_here"]][:3]
    v.loc[walk, "sale_date"] = pd.NaT
    o = ds.repair_orders[ds.repair_orders["vin"].isin(v.loc[walk, "vin"])].copy()
    o["open_date"] = pd.Timestamp(AS_OF) - pd.Timedelta(days=30)
    o["store_id"] = v.loc[walk, "store_id"].iloc[0]
    got = vehicle_age_profile(o, v, as_of=AS_OF, store_id=o["store_id"].iloc[0])
    assert got.loc[got["age_band"].isna(), "vehicles"].sum() == len(set(o["vin"]))


def test_errors_name_the_problem(ds):
    with pytest.raises(KeyError, match="total_amount"):
        monthly_activity(ds.repair_orders.drop(columns="total_amount"))
    with pytest.raises(ValueError, match="as_of"):
        vehicle_age_profile(ds.repair_orders, ds.vehicles, as_of="not a date", store_id="001")
    assert window_start(1, as_of="2024-03-31") == pd.Timestamp("2024-02-29").to_pydatetime()


def test_as_of_is_a_date_keyword(ds):
    # a number is not read as nanoseconds after 1970 (a 1969 date)
    with pytest.raises(TypeError, match="^window_start: as_of must be a date"):
        window_start(12, as_of=20240630)
    with pytest.raises(TypeError, match="^window_start: months must be an integer"):
        window_start("12", as_of="2024-06-30")
    with pytest.raises(TypeError, match="^vehicle_age_profile: as_of must be a date"):
        vehicle_age_profile(ds.repair_orders, ds.vehicles, as_of=20231231, store_id="001")
    with pytest.raises(TypeError, match="positional"):
        vehicle_age_profile(ds.repair_orders, ds.vehicles, AS_OF, store_id="001")
    # None: the date of the last order
    last = ds.repair_orders["open_date"].max()
    pd.testing.assert_frame_equal(
        vehicle_age_profile(ds.repair_orders, ds.vehicles, store_id="001"),
        vehicle_age_profile(ds.repair_orders, ds.vehicles, as_of=last, store_id="001"))

"""Engine equivalence: every narwhals table builder gives the same rows on pandas,
Polars (eager and lazy) and DuckDB, in a frame of the kind it was given.

The PySpark half of these tests is ``test_engines_spark.py`` (``make test-spark``).
"""

from __future__ import annotations

import pytest
from engines import assert_same, cases, convert, dataset, kind

pytest.importorskip("polars")
pytest.importorskip("duckdb")

ENGINES = ("polars", "polars-lazy", "duckdb")


@pytest.fixture(scope="module")
def data():
    tables, as_of = dataset()
    calls = cases(as_of)
    expected = {name: call(tables) for name, call in calls.items()}
    return tables, calls, expected


@pytest.mark.parametrize("engine", ENGINES)
def test_every_builder_gives_the_pandas_rows(data, engine):
    tables, calls, expected = data
    frames = convert(tables, engine)
    for name, call in calls.items():
        got = call(frames)
        assert kind(got) == engine, f"{name} on {engine} returned a {kind(got)} frame"
        assert_same(got, expected[name], f"{name} on {engine}")


def test_pandas_reference_is_not_empty(data):
    # the comparison above means something only if the reference tables hold rows with
    # the cases it is about: unknown sale dates, several stores, events and censoring
    tables, calls, expected = data
    assert all(len(df) for df in expected.values())
    d = expected["defection_table"]
    assert d["event"].any() and (~d["event"]).any() and (~d["age_known"]).any()
    assert d["store_id"].nunique() == 2
    assert expected["vehicle_age_profile"]["age_band"].isna().any()
    # litt: customers with one purchase day (0), and gaps under and over a week (< 0, > 0)
    litt = expected["rfm_summary_regularity"]["litt"]
    assert (litt == 0).any() and (litt < 0).any() and (litt > 0).any()


def test_mixed_engines_follow_the_orders(data):
    # vehicles in pandas, orders in DuckDB: the result is a DuckDB relation, same rows
    tables, calls, expected = data
    frames = convert(tables, "duckdb")
    frames["vehicles"] = tables["vehicles"]
    got = calls["defection_table"](frames)
    assert kind(got) == "duckdb"
    assert_same(got, expected["defection_table"], "defection_table, mixed")


def test_an_unsupported_object_names_the_table():
    with pytest.raises(TypeError, match="repair_orders"):
        cases(dataset(scale=0.01, n_stores=1)[1])["status"](
            {"repair_orders": [1, 2], "vehicles": [3]})


def test_epoch_arithmetic_of_sql_engines_is_exact():
    # DuckDB and PySpark have no narwhals "timestamp": the builders compute epoch
    # milliseconds from calendar fields by hand (crm_analysis._frames._epoch_ms). On
    # random instants 1900-2100 (leap days and century years included) it must give
    # exactly Polars' dt.timestamp("ms").
    import duckdb
    import narwhals as nw
    import numpy as np
    import pandas as pd
    import polars as pl

    from crm_analysis._frames import _epoch_ms

    rng = np.random.default_rng(0)
    ms = rng.integers(-2_208_988_800_000, 4_102_444_800_000, 20_000)
    d = pd.DataFrame({"d": pd.to_datetime(ms, unit="ms")})
    d.loc[:3, "d"] = pd.to_datetime(["2000-02-29 23:59:59.999", "1900-03-01 00:00:00.000",
                                     "2100-02-28 12:00:00.000", "1970-01-01 00:00:00.000"])
    expected = pl.from_pandas(d).select(pl.col("d").dt.timestamp("ms"))["d"].to_numpy()
    got = (nw.from_native(duckdb.from_df(d))
           .select(_epoch_ms(nw.col("d"), nw.Implementation.DUCKDB).alias("d"))
           .collect().to_native()["d"].to_numpy())
    np.testing.assert_array_equal(got, expected)

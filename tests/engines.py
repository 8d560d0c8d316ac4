"""The engine-equivalence cases shared by ``test_engines.py`` and ``test_engines_spark.py``.

Every table builder written with narwhals is called on the same tables held by different
engines (pandas; Polars eager and lazy; DuckDB; PySpark) and must give the same rows as
with pandas, in a frame of the kind it was given: pandas -> pandas, Polars eager ->
Polars eager, a lazy frame (Polars LazyFrame, DuckDB relation, PySpark DataFrame) -> a
lazy frame of the same engine.

Results are compared after conversion to pandas, exactly (no tolerance): the builders
compute ages and periods in whole seconds and integer arithmetic precisely so that every
engine gives the same numbers (see ``crm_analysis._frames``). Only dtypes are aligned
(a pandas ``Int64`` column and a Polars ``Int64`` column differ in dtype, not in value).
The one exception is :data:`SUMMED_LOGS`: sums of logarithms, which no integer arithmetic
can give, and which each engine adds up in its own order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd
import pyarrow as pa

from crm_analysis import features, overview, retention, survival
from crm_analysis.synth import generate

TABLES = ("repair_orders", "vehicles", "customers")

#: Columns compared with a relative tolerance: ``rfm_summary``'s ``litt`` is a sum of up to
#: a few hundred logarithms per customer, each correctly rounded (to 1 ulp) by every
#: engine's libm, added in an engine-dependent order; the rounding of n terms in any
#: order stays below n * 2.2e-16 of the sum of their magnitudes (measured: 1.7e-13
#: absolute on sums up to 450), so 1e-12 relative (with 1e-12 absolute for zeros) is the
#: reordering error and nothing more.
SUMMED_LOGS: dict[str, float] = {"litt": 1e-12}


def dataset(scale: float = 0.03, n_stores: int = 2, seed: int = 11):
    """A small generated group, with a few messy rows every engine must treat alike."""
    ds = generate(n_stores=n_stores, seed=seed, scale=scale)
    v = ds.vehicles.copy()
    o = ds.repair_orders.copy()
    # unknown sale dates of cars serviced in the last year: null age bands, never dropped
    recent = o.loc[(o["store_id"] == "001")
                   & (o["open_date"] > pd.Timestamp(ds.meta["as_of"]) - pd.DateOffset(years=1)),
                   "vin"].drop_duplicates().sort_values().head(3)
    v.loc[v["vin"].isin(recent), "sale_date"] = pd.NaT
    # a missing customer and a missing mileage on a few orders
    o.loc[o.index[:4], "customer_id"] = None
    o.loc[o.index[4:9], "mileage_km"] = np.nan
    return {"repair_orders": o, "vehicles": v, "customers": ds.customers.copy()}, \
        pd.Timestamp(ds.meta["as_of"])


def _as_of_year(as_of: pd.Timestamp) -> int:
    return as_of.year - 1


def cases(as_of: pd.Timestamp) -> dict[str, Callable[[dict[str, Any]], Any]]:
    """Builder name -> call on a mapping of tables (the same call for every engine)."""
    t = as_of.to_pydatetime()
    year = _as_of_year(as_of)
    return {
        "customer_features": lambda d: features.customer_features(
            d["repair_orders"], d["vehicles"], d["customers"], as_of=t),
        "customer_features_inactive": lambda d: features.customer_features(
            d["repair_orders"], d["vehicles"], as_of=t, window_months=12,
            include_inactive=True),
        "rfm_summary": lambda d: features.rfm_summary(d["repair_orders"], as_of=t),
        "rfm_summary_weekly": lambda d: features.rfm_summary(
            d["repair_orders"], as_of=t, freq="W", include_first_transaction=True),
        "rfm_summary_regularity": lambda d: features.rfm_summary(
            d["repair_orders"], as_of=t, freq="D", freq_multiplier=7, regularity=True),
        "retention_by_vehicle_age": lambda d: retention.retention_by_vehicle_age(
            d, as_of=t, store_id="001"),
        "retention_service_by_store": lambda d: retention.retention_by_vehicle_age(
            d, as_of=t, base="service", by="store_id"),
        "annual_average": lambda d: retention.annual_average(d, year, store_id="001"),
        "status": lambda d: retention.status(d, as_of=t),
        "cohort_retention": lambda d: retention.cohort_retention(d, as_of=t, store_id="001"),
        "service_funnel": lambda d: retention.service_funnel(d, as_of=t, store_id="001"),
        "defection_table": lambda d: survival.defection_table(d, as_of=t),
        "monthly_activity": lambda d: overview.monthly_activity(d["repair_orders"]),
        "order_mix": lambda d: overview.order_mix(d["repair_orders"], store_id="002"),
        "vehicle_age_profile": lambda d: overview.vehicle_age_profile(
            d["repair_orders"], d["vehicles"], as_of=t, store_id="001"),
    }


# --------------------------------------------------------------------------- engines


def _arrow(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df, preserve_index=False)


def convert(tables: dict[str, pd.DataFrame], engine: str, spark: Any = None) -> dict:
    """The pandas ``tables`` held by ``engine``."""
    if engine == "pandas":
        return dict(tables)
    out = {}
    for name, df in tables.items():
        if engine in ("polars", "polars-lazy"):
            import polars as pl

            frame = pl.from_arrow(_arrow(df))
            out[name] = frame.lazy() if engine == "polars-lazy" else frame
        elif engine == "duckdb":
            import duckdb

            out[name] = duckdb.from_arrow(_arrow(df))
        elif engine == "pyspark":
            out[name] = spark.createDataFrame(df)
        else:  # pragma: no cover - a typo in a test
            raise ValueError(engine)
    return out


def kind(native: Any) -> str:
    """The engine of a native frame, as named in :func:`convert`."""
    if isinstance(native, pd.DataFrame):
        return "pandas"
    frame = nw.from_native(native)
    impl = frame.implementation
    if impl.is_polars():
        return "polars" if isinstance(frame, nw.DataFrame) else "polars-lazy"
    if impl.is_duckdb():
        return "duckdb"
    if impl.is_pyspark():
        return "pyspark"
    return str(impl)


def to_pandas(native: Any) -> pd.DataFrame:
    """Any result as a pandas frame with a fresh index."""
    if isinstance(native, pd.DataFrame):
        return native.reset_index(drop=True)
    frame = nw.from_native(native)
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect(backend="pyarrow")
    return frame.to_pandas().reset_index(drop=True)


def _normalized(df: pd.DataFrame) -> pd.DataFrame:
    """Values only: nullable and plain dtypes made comparable, datetimes naive (us)."""
    out = {}
    for c in df.columns:
        s = df[c]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            out[c] = s.astype("datetime64[us]").astype(object).where(s.notna(), None)
        elif pd.api.types.is_bool_dtype(s.dtype) or s.dtype == object and s.dropna().map(
                type).eq(bool).all() and s.notna().any():
            out[c] = s.astype("boolean")
        elif pd.api.types.is_numeric_dtype(s.dtype):
            out[c] = s.astype("Float64")
        else:
            out[c] = s.astype(object).where(s.notna(), None)
    return pd.DataFrame(out)


def assert_same(got: Any, expected: pd.DataFrame, name: str) -> None:
    """``got`` (any engine) holds exactly the rows and columns of ``expected``."""
    g, e = to_pandas(got), expected.reset_index(drop=True)
    assert list(g.columns) == list(e.columns), f"{name}: columns differ"
    assert len(g) == len(e), f"{name}: {len(g)} rows, expected {len(e)}"
    logs = [c for c in e.columns if c in SUMMED_LOGS]
    for c in logs:
        np.testing.assert_allclose(g[c].to_numpy(float), e[c].to_numpy(float),
                                   rtol=SUMMED_LOGS[c], atol=SUMMED_LOGS[c],
                                   err_msg=f"{name}: {c}")
    pd.testing.assert_frame_equal(_normalized(g.drop(columns=logs)),
                                  _normalized(e.drop(columns=logs)), check_exact=True,
                                  obj=name)

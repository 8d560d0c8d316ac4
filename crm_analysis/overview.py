"""Data overview: what a store's export holds (table builders).

The first questions about any DMS export: how many orders a month, how much revenue,
which kinds of work, and how old the cars in the store's base are, split into cars the
store sold (自销) and cars bought elsewhere (他销).

All functions are written once with narwhals, so they take pandas or Polars frames
(eager or lazy) and return the same kind. Counts are ``Int64``, money ``Float64``.

Example
-------
>>> from crm_analysis.schema import example_dataset
>>> from crm_analysis.overview import order_mix
>>> ds = example_dataset()
>>> mix = order_mix(ds.repair_orders)
>>> round(float(mix["share_orders"].sum()), 6)
1.0
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import narwhals as nw
import pandas as pd
from narwhals.typing import IntoFrameT

from crm_analysis._frames import _seconds_since
from crm_analysis._inputs import check_int, check_number, read_as_of, require_columns

DAYS_PER_YEAR = 365.25

__all__ = ["monthly_activity", "order_mix", "vehicle_age_profile", "window_start"]


def window_start(months: int, *, as_of: Any) -> _dt.datetime:
    """Start (exclusive) of the ``months``-long window ending at ``as_of``.

    Windows are calendar months, as in DOMAIN.md: (T − 12 months, T].

    >>> window_start(12, as_of="2026-06-30")
    datetime.datetime(2025, 6, 30, 0, 0)
    """
    months = check_int(months, "months")
    return (read_as_of(as_of) - pd.DateOffset(months=months)).to_pydatetime()


def _filter_orders(o, store_id, start, end):
    if store_id is not None:
        o = o.filter(nw.col("store_id") == str(store_id))
    if start is not None:
        o = o.filter(nw.col("open_date") >= read_as_of(start, name="start").to_pydatetime())
    if end is not None:
        o = o.filter(nw.col("open_date") <= read_as_of(end, name="end").to_pydatetime())
    return o


def monthly_activity(
    orders: IntoFrameT,
    *,
    store_id: str | None = None,
    start: Any = None,
    end: Any = None,
) -> IntoFrameT:
    """Orders, vehicles served, revenue and average order value per calendar month.

    Parameters
    ----------
    orders:
        Repair orders (pandas or Polars, eager or lazy) with ``open_date``,
        ``total_amount``, ``vin`` and, when ``store_id`` is given, ``store_id``.
    store_id:
        Keep one store's orders.
    start, end:
        Keep orders opened in ``[start, end]``.

    Returns
    -------
    Frame of the input's kind with ``month`` (first day), ``orders``, ``vehicles``,
    ``revenue`` and ``avg_order_value``, sorted by month. Months without orders are
    absent.

    Example
    -------
    >>> import pandas as pd
    >>> o = pd.DataFrame({"open_date": pd.to_datetime(["2024-01-05", "2024-01-20", "2024-02-01"]),
    ...                   "vin": ["A", "A", "B"], "total_amount": [100.0, 300.0, 50.0]})
    >>> monthly_activity(o)[["orders", "revenue"]].to_numpy().tolist()
    [[2.0, 400.0], [1.0, 50.0]]
    """
    o = nw.from_native(orders)
    require_columns(o, ["open_date", "vin", "total_amount"]
                    + (["store_id"] if store_id else []), "repair_orders")
    o = _filter_orders(o, store_id, start, end)
    out = (
        o.with_columns(month=nw.col("open_date").dt.truncate("1mo"))
        .group_by("month")
        .agg(
            nw.len().alias("orders"),
            nw.col("vin").n_unique().alias("vehicles"),
            nw.col("total_amount").sum().alias("revenue"),
        )
        .with_columns(
            nw.col("orders", "vehicles").cast(nw.Int64),
            nw.col("revenue").cast(nw.Float64),
            avg_order_value=nw.col("revenue") / nw.col("orders"),
        )
        .sort("month")
    )
    return nw.maybe_reset_index(out).to_native() if isinstance(out, nw.DataFrame) \
        else out.to_native()


def order_mix(
    orders: IntoFrameT,
    *,
    by: str = "ro_type",
    store_id: str | None = None,
    start: Any = None,
    end: Any = None,
) -> IntoFrameT:
    """Orders and revenue by a category (order type by default) with their shares.

    Parameters
    ----------
    orders:
        Repair orders with ``by``, ``total_amount`` and ``open_date``.
    by:
        The category column: ``"ro_type"``, ``"payer"``, ``"advisor"``, …
    store_id, start, end:
        As in :func:`monthly_activity`.

    Returns
    -------
    Frame with ``by``, ``orders``, ``share_orders``, ``revenue``, ``share_revenue`` and
    ``avg_order_value``, largest first (ties by name). Missing categories form their own
    row (null), so no order is dropped.

    Example
    -------
    >>> import pandas as pd
    >>> o = pd.DataFrame({"ro_type": ["maintenance", "repair", "maintenance"],
    ...                   "total_amount": [300.0, 900.0, 300.0],
    ...                   "open_date": pd.to_datetime(["2024-01-01"] * 3)})
    >>> order_mix(o).set_index("ro_type")["share_revenue"].round(2).to_dict()
    {'maintenance': 0.4, 'repair': 0.6}
    """
    o = nw.from_native(orders)
    require_columns(o, [by, "total_amount", "open_date"]
                    + (["store_id"] if store_id else []), "repair_orders")
    o = _filter_orders(o, store_id, start, end)
    out = (
        o.group_by(by)
        .agg(nw.len().alias("orders"), nw.col("total_amount").sum().alias("revenue"))
        .with_columns(nw.col("orders").cast(nw.Int64), nw.col("revenue").cast(nw.Float64))
        .with_columns(
            share_orders=nw.col("orders") / nw.col("orders").sum(),
            share_revenue=nw.col("revenue") / nw.col("revenue").sum(),
            avg_order_value=nw.col("revenue") / nw.col("orders"),
        )
        .sort(["orders", by], descending=[True, False], nulls_last=True)
        .select(by, "orders", "share_orders", "revenue", "share_revenue", "avg_order_value")
    )
    return nw.maybe_reset_index(out).to_native() if isinstance(out, nw.DataFrame) \
        else out.to_native()


def vehicle_age_profile(
    orders: IntoFrameT,
    vehicles: Any,
    *,
    as_of: Any = None,
    store_id: str,
    max_age: float = 10.0,
    service_months: int = 24,
) -> IntoFrameT:
    """Vehicles in the store's two bases by age band and origin (sold here or elsewhere).

    - **vehicle base** (保有车辆): cars sold by the store (``sold_here``), sold on or before
      ``as_of``, at most ``max_age`` years old;
    - **service base** (基盘): every car with at least one order at the store in the
      ``service_months`` before ``as_of``, whoever sold it.

    Age band k covers ages [k, k+1) years at ``as_of`` (band 0 is the car's first year).
    A service-base car with no sale date gets a null band instead of being dropped.

    Parameters
    ----------
    orders, vehicles:
        The repair-orders and vehicles tables, both pandas or both Polars.
    as_of:
        The analysis date T (default: the date of the last order).
    store_id:
        The store.
    max_age, service_months:
        Definitions above (DOMAIN.md section 3).

    Returns
    -------
    Frame with ``base`` (``"vehicle_base"`` | ``"service_base"``), ``sold_here``,
    ``age_band`` (Float64: whole numbers, null for an unknown sale date) and
    ``vehicles`` (Int64), sorted.

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> ds = example_dataset()
    >>> prof = vehicle_age_profile(ds.repair_orders, ds.vehicles, as_of=ds.meta["as_of"],
    ...                            store_id="001", service_months=60)
    >>> for row in prof[["base", "sold_here", "age_band", "vehicles"]].to_numpy().tolist():
    ...     print(row)
    ['vehicle_base', True, 5.0, 1]
    ['service_base', True, 5.0, 1]
    ['service_base', False, nan, 1]
    """
    t = read_as_of(as_of, {"repair_orders": orders}).to_pydatetime()
    service_months = check_int(service_months, "service_months")
    max_age = check_number(max_age, "max_age", minimum=0)
    v = nw.from_native(vehicles)
    o = nw.from_native(orders)
    require_columns(v, ["vin", "store_id", "sold_here", "sale_date"], "vehicles")
    require_columns(o, ["vin", "store_id", "open_date"], "repair_orders")
    sid = str(store_id)
    # ages in whole seconds, banded by an integer division: exact, hence the same band on
    # every engine (a float division by 365.25 days is not: Polars multiplies by the
    # reciprocal, pandas divides)
    year_s = round(86_400 * DAYS_PER_YEAR)
    secs = _seconds_since(t, nw.col("sale_date"), v.implementation)
    v = v.with_columns(_secs=secs)

    own = v.filter(
        (nw.col("store_id") == sid)
        & nw.col("sold_here")
        & (nw.col("sale_date") <= t)
        & (nw.col("_secs") <= max_age * year_s)
    ).with_columns(base=nw.lit("vehicle_base"))

    lo = window_start(service_months, as_of=t)
    served = (
        o.filter((nw.col("store_id") == sid) & (nw.col("open_date") > lo)
                 & (nw.col("open_date") <= t))
        .select("vin")
        .unique()
    )
    service = v.join(served, on="vin", how="inner").with_columns(base=nw.lit("service_base"))

    out = (
        nw.concat([own.select("vin", "sold_here", "_secs", "base"),
                   service.select("vin", "sold_here", "_secs", "base")])
        .with_columns(age_band=(nw.col("_secs") // year_s).cast(nw.Float64))
        .group_by("base", "sold_here", "age_band")
        .agg(nw.len().alias("vehicles"))
        .with_columns(nw.col("vehicles").cast(nw.Int64))
        .sort(["base", "sold_here", "age_band"], descending=[True, True, False],
              nulls_last=True)
    )
    return nw.maybe_reset_index(out).to_native() if isinstance(out, nw.DataFrame) \
        else out.to_native()

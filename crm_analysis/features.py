"""Customer features: one row per customer at an as-of date, the input of every grade.

Two table builders, both written once with narwhals so that they take pandas or Polars
frames (eager or lazy) and return the same kind:

:func:`customer_features`
    what each customer did with the store up to the as-of date T and what it was worth,
    over a look-back window of ``window_months`` calendar months, (T − window, T]
    (DOMAIN.md sections 2 and 3).
:func:`rfm_summary`
    frequency / recency / T / monetary value in the form of the ``lifetimes`` package's
    ``summary_data_from_transaction_data``, the input of BG/NBD and Gamma-Gamma models.

The columns of :func:`customer_features`, in order ("window" = orders opened in
(T − ``window_months``, T]; "history" = every order opened on or before T; orders after
T are never looked at):

``customer_id``
    the customer (str). One row per customer with at least one order in the window, or,
    with ``include_inactive=True``, with at least one order in the history (their window
    columns are then 0). Rows are sorted by ``customer_id``.
``orders``
    orders in the window (Int64).
``visits_per_year``
    ``orders / exposure_years``, where ``exposure_years`` is the time from the later of
    the window start and the customer's first order up to T, in years of 365.25 days,
    floored at 0.25 so that a customer first seen last week does not get 50 visits a year.
``first_order_date``, ``last_order_date``
    first and last order in the history (datetime).
``recency_days``, ``tenure_days``
    T − last order and T − first order, in days (Float64).
``revenue``, ``revenue_labor``, ``revenue_parts``, ``revenue_other``
    window sums of ``total_amount`` and of its three components.
``revenue_customer``, ``revenue_warranty``, ``revenue_insurance``, ``revenue_internal``
    window ``total_amount`` by payer (an order with a missing or unknown payer counts in
    ``revenue`` only).
``gross_profit``, ``gp_labor``, ``gp_parts``, ``gp_other``, ``gp_customer``, ``gp_warranty``,
``gp_insurance``, ``gp_internal``
    window gross profit, in total, by component and by payer, from
    :func:`crm_analysis.margins.order_profit` (cost columns when the export has them,
    otherwise :class:`~crm_analysis.margins.Margins`).
``cost_to_serve``, ``net_value``
    ``cost_per_order`` × window orders, and ``gross_profit − cost_to_serve``.
``n_vehicles``
    distinct VINs on the customer's orders in the history (Int64).
``main_vin``
    the VIN with the most orders in the window; ties go to the VIN ordered most recently,
    then to the smallest VIN. A customer without window orders (``include_inactive``)
    gets the same rule applied to the history instead.
``main_vehicle_age``
    age of the main vehicle at T in years, (T − ``vehicles.sale_date``) / 365.25 (null
    when the vehicle or its sale date is unknown, or without a vehicles table).
``grade``, ``usage``, ``model``
    of the main vehicle, from the vehicles table (null when absent).
``warranty_status``
    ``"in_warranty"`` when the main vehicle's age is below ``warranty_years`` and its last
    known mileage (the reading on its latest order in the history that has one; ties: the
    larger reading) is below ``warranty_km``; ``"out_of_warranty"`` otherwise; ``"unknown"``
    when the age is unknown. A vehicle without any mileage reading is judged by age alone.
``share_maintenance``, ``share_repair``, ``share_body_paint``, ``share_warranty``,
``share_detailing``, ``share_other``
    share of the window orders of each ``ro_type``; a missing or unknown type counts as
    ``other``, so the six shares sum to 1 whenever ``orders > 0`` (all 0 otherwise).
``customer_type``, ``occupation``, ``region``
    from the customers table (null when absent).

Example
-------
>>> from crm_analysis.schema import example_dataset
>>> from crm_analysis.features import customer_features
>>> f = customer_features(example_dataset(), as_of="2021-06-30", window_months=12)
>>> f[["customer_id", "orders", "revenue", "n_vehicles", "warranty_status"]]
  customer_id  orders  revenue  n_vehicles warranty_status
0        C002       1    380.0           1         unknown
1        C003       2   5100.0           1     in_warranty
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import Any

import narwhals as nw
import pandas as pd
from narwhals.typing import IntoFrameT

from crm_analysis._frames import (
    _barrier,
    _check_temporal,
    _epoch_ms,
    _finish,
    _like,
    _schema,
    _seconds_since,
)
from crm_analysis._inputs import (
    caller,
    check_bool,
    check_int,
    check_number,
    read_as_of,
    require_columns,
    tables,
)
from crm_analysis.margins import DEFAULT_COST_PER_ORDER, Margins, order_profit
from crm_analysis.overview import DAYS_PER_YEAR, window_start
from crm_analysis.schema import PAYERS, RO_TYPES, Dataset

__all__ = [
    "FEATURE_COLUMNS",
    "RFM_FREQS",
    "customer_features",
    "rfm_summary",
]

#: Output columns of :func:`customer_features`, in order.
FEATURE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "orders",
    "visits_per_year",
    "first_order_date",
    "last_order_date",
    "recency_days",
    "tenure_days",
    "revenue",
    "revenue_labor",
    "revenue_parts",
    "revenue_other",
    *(f"revenue_{p}" for p in PAYERS),
    "gross_profit",
    "gp_labor",
    "gp_parts",
    "gp_other",
    *(f"gp_{p}" for p in PAYERS),
    "cost_to_serve",
    "net_value",
    "n_vehicles",
    "main_vin",
    "main_vehicle_age",
    "grade",
    "usage",
    "model",
    "warranty_status",
    *(f"share_{t}" for t in RO_TYPES),
    "customer_type",
    "occupation",
    "region",
)

#: Period lengths understood by :func:`rfm_summary`: milliseconds per period.
#: ``"W"`` is special-cased: weeks run Monday to Sunday, as pandas' ``"W"`` (= ``"W-SUN"``).
RFM_FREQS: dict[str, int] = {
    "D": 86_400_000,
    "W": 7 * 86_400_000,
    "h": 3_600_000,
    "min": 60_000,
    "s": 1_000,
}
_FREQ_ALIASES = {"W-SUN": "W", "H": "h", "T": "min", "S": "s"}

_MS_PER_DAY = 86_400_000
_SECONDS_PER_YEAR = 86_400 * DAYS_PER_YEAR
_MIN_EXPOSURE_YEARS = 0.25

_ORDER_COLUMNS = (
    "customer_id", "vin", "open_date", "ro_type", "payer",
    "labor_amount", "parts_amount", "other_amount", "total_amount",
)
_COMPONENT_AMOUNTS = {"labor": "labor_amount", "parts": "parts_amount",
                      "other": "other_amount"}


# --------------------------------------------------------------------------- helpers


def _check_numeric(schema: dict[str, Any], columns: list[str], table: str) -> None:
    """A TypeError naming the table and column unless the schema's columns are numeric."""
    for c in columns:
        if not schema[c].is_numeric():
            raise TypeError(f"{caller()}: column {table}.{c} must be numeric, got {schema[c]}")


def _known(column: str) -> nw.Expr:
    """Rows where ``column`` is not missing."""
    return ~nw.col(column).is_null()


def _days_since(at: _dt.datetime, expr: nw.Expr, impl: Any) -> nw.Expr:
    """Days (Float64) from the datetime expression ``expr`` to ``at``."""
    return _seconds_since(at, expr, impl).cast(nw.Float64) / 86_400.0


# --------------------------------------------------------------------------- features


def customer_features(
    orders: IntoFrameT | Dataset | Mapping[str, Any],
    vehicles: Any = None,
    customers: Any = None,
    *,
    as_of: Any = None,
    window_months: int = 24,
    store_id: str | None = None,
    margins: Margins | None = None,
    cost_per_order: float = DEFAULT_COST_PER_ORDER,
    warranty_years: float = 3.0,
    warranty_km: float = 100_000.0,
    include_inactive: bool = False,
) -> IntoFrameT:
    """One row of value, activity and vehicle features per customer at ``as_of``.

    The columns and their definitions are listed in the module docstring
    (:mod:`crm_analysis.features`); :data:`FEATURE_COLUMNS` holds their names in order.
    Orders opened after ``as_of`` are ignored, so the table can be built at any past date
    (e.g. for churn labels) without leaking the future.

    Parameters
    ----------
    orders:
        Repair orders (pandas or Polars, eager or lazy) with ``customer_id``, ``vin``,
        ``open_date``, ``ro_type``, ``payer``, ``labor_amount``, ``parts_amount``,
        ``other_amount``, ``total_amount`` and optionally ``mileage_km``,
        ``labor_cost``, ``parts_cost`` (used for gross profit) and ``store_id``
        (required with ``store_id=``). Orders without a customer are dropped. Or a
        :class:`~crm_analysis.schema.Dataset` or a mapping of tables, whose vehicles and
        customers tables are then used and whose own as-of date is the default ``as_of``.
    vehicles:
        Optional vehicles table (``vin``, ``sale_date``, optionally ``model``,
        ``grade``, ``usage``) for the main vehicle's age, grade, usage, model and
        warranty status; any backend (converted to the orders' backend). One row per
        VIN, as :meth:`Dataset.validate <crm_analysis.schema.Dataset.validate>` checks.
    customers:
        Optional customers table (``customer_id``, optionally ``customer_type``,
        ``occupation``, ``region``), one row per customer.
    as_of:
        The analysis date T (required unless ``orders`` is a Dataset or a mapping).
    window_months:
        Length of the look-back window (T − window_months, T] in calendar months.
    store_id:
        Keep one store's orders only (features of the store's relationship).
    margins, cost_per_order:
        Passed to :func:`crm_analysis.margins.order_profit`.
    warranty_years, warranty_km:
        Factory warranty limits (default 3 years / 100,000 km).
    include_inactive:
        Also return customers whose last order is before the window (window sums 0).

    Returns
    -------
    A frame of the orders' kind (pandas, Polars eager or Polars lazy) with the columns
    of :data:`FEATURE_COLUMNS`, one row per customer, sorted by ``customer_id``.

    Raises
    ------
    KeyError
        A required column is missing (the message names the table and the column).
    TypeError, ValueError
        ``as_of`` is not a date, ``window_months`` is not a positive integer, a date
        column does not hold dates, ...

    Example
    -------
    >>> import pandas as pd
    >>> o = pd.DataFrame({
    ...     "customer_id": ["A", "A", "B"], "vin": ["V1", "V1", "V2"],
    ...     "open_date": pd.to_datetime(["2023-03-01", "2024-05-01", "2024-06-01"]),
    ...     "ro_type": ["maintenance", "repair", "maintenance"],
    ...     "payer": ["customer", "customer", "warranty"],
    ...     "labor_amount": [100.0, 200.0, 50.0], "parts_amount": [200.0, 300.0, 100.0],
    ...     "other_amount": [0.0, 0.0, 0.0], "total_amount": [300.0, 500.0, 150.0]})
    >>> f = customer_features(o, as_of="2024-06-30", window_months=12)
    >>> f[["customer_id", "orders", "revenue", "gross_profit", "net_value"]]
      customer_id  orders  revenue  gross_profit  net_value
    0           A       1    500.0         220.0      160.0
    1           B       1    150.0          32.0      -28.0
    >>> f[["share_maintenance", "share_repair", "visits_per_year"]].round(2).to_numpy().tolist()
    [[0.0, 1.0, 1.0], [1.0, 0.0, 4.0]]
    """
    data = None
    if isinstance(orders, Dataset | Mapping):
        if vehicles is not None or customers is not None:
            raise TypeError(
                f"{caller()}: pass either a Dataset or orders with vehicles/customers, not both"
            )
        data = orders
        orders, vehicles, customers = tables(data, ("repair_orders",),
                                             ("vehicles", "customers")).values()
    t = read_as_of(as_of, data).to_pydatetime()
    window_months = check_int(window_months, "window_months")
    warranty_years = check_number(warranty_years, "warranty_years", minimum=0, strict=True)
    warranty_km = check_number(warranty_km, "warranty_km", minimum=0, strict=True)
    ws = window_start(window_months, as_of=t)

    try:
        o_in = nw.from_native(orders)
    except TypeError as exc:
        raise TypeError(
            f"{caller()}: orders must be a pandas or Polars frame or a Dataset, "
            f"got {type(orders).__name__}"
        ) from exc
    eager = isinstance(o_in, nw.DataFrame)
    o = o_in.lazy()
    impl = o.implementation
    schema = _schema(o)
    require_columns(schema, [*_ORDER_COLUMNS, *(["store_id"] if store_id is not None else [])],
                    "repair_orders")
    cast_date = _check_temporal(schema, "open_date", "repair_orders")
    _check_numeric(schema, ["labor_amount", "parts_amount", "other_amount", "total_amount"]
                   + [c for c in ("labor_cost", "parts_cost", "mileage_km") if c in schema],
                   "repair_orders")
    has_mileage = "mileage_km" in schema

    # ---- orders in scope: the customer's history up to T (one store if asked)
    keep = [c for c in (*_ORDER_COLUMNS, "mileage_km", "labor_cost", "parts_cost")
            if c in schema]
    if store_id is not None:
        o = o.filter(nw.col("store_id") == str(store_id))
    o = o.select(keep)
    if cast_date:
        o = o.with_columns(nw.col("open_date").cast(nw.Datetime("us")))
    ids = [c for c in ("customer_id", "vin") if schema[c] != nw.String]
    if ids:  # e.g. integer customer numbers: ids are text in the output
        o = o.with_columns(nw.col(*ids).cast(nw.String))
    hist = o.filter(_known("customer_id") & (nw.col("open_date") <= t))
    win = hist.filter(nw.col("open_date") > ws)

    # ---- history: first and last order, vehicles
    span = hist.select("customer_id", "open_date").group_by("customer_id").agg(
        nw.col("open_date").min().alias("first_order_date"),
        nw.col("open_date").max().alias("last_order_date"),
    )
    pairs_hist = (
        hist.select("customer_id", "vin", "open_date")
        .group_by("customer_id", "vin", drop_null_keys=True)
        .agg(nw.len().alias("n"), nw.col("open_date").max().alias("last"))
    )
    n_vehicles = pairs_hist.group_by("customer_id").agg(nw.len().alias("n_vehicles"))

    # ---- window sums, gross profit from margins.order_profit
    win_p = nw.from_native(order_profit(win.to_native(), margins=margins,
                                        cost_per_order=cost_per_order)).lazy()
    indicator = {}
    for p in PAYERS:
        is_p = nw.col("payer") == p
        indicator[f"revenue_{p}"] = nw.when(is_p).then(nw.col("total_amount")).otherwise(0.0)
        indicator[f"gp_{p}"] = nw.when(is_p).then(nw.col("gross_profit")).otherwise(0.0)
    for rt in RO_TYPES:
        if rt != "other":
            indicator[f"n_{rt}"] = nw.when(nw.col("ro_type") == rt).then(1).otherwise(0)
    win_p = win_p.with_columns(
        nw.col(*_COMPONENT_AMOUNTS.values(), "total_amount").cast(nw.Float64), **indicator
    )
    sums = {
        "revenue": "total_amount",
        **{f"revenue_{c}": a for c, a in _COMPONENT_AMOUNTS.items()},
        **{f"revenue_{p}": f"revenue_{p}" for p in PAYERS},
        "gross_profit": "gross_profit",
        **{f"gp_{c}": f"gp_{c}" for c in _COMPONENT_AMOUNTS},
        **{f"gp_{p}": f"gp_{p}" for p in PAYERS},
        "cost_to_serve": "cost_to_serve",
        "net_value": "net_value",
    }
    type_counts = [f"n_{rt}" for rt in RO_TYPES if rt != "other"]
    agg = win_p.group_by("customer_id").agg(
        nw.len().alias("orders"),
        *(nw.col(src).sum().alias(name) for name, src in sums.items()),
        *(nw.col(n).sum() for n in type_counts),
    )

    # ---- main vehicle: most window orders, then latest order, then smallest VIN
    pairs = (
        win.select("customer_id", "vin", "open_date")
        .group_by("customer_id", "vin", drop_null_keys=True)
        .agg(nw.len().alias("n"), nw.col("open_date").max().alias("last"))
    )
    if include_inactive:
        quiet = pairs_hist.join(agg.select("customer_id"), on="customer_id", how="anti")
        pairs = nw.concat([pairs, quiet.select(pairs.collect_schema().names())])
    main = (
        pairs.with_columns((-nw.col("n").cast(nw.Int64)).alias("_neg_n"),
                           (-_epoch_ms(nw.col("last"), impl)).alias("_neg_last"))
        .unique("customer_id", keep="first", order_by=["_neg_n", "_neg_last", "vin"])
        .select("customer_id", nw.col("vin").alias("main_vin"))
    )

    # last known mileage of each VIN: the reading on its latest order that has one
    if has_mileage:
        readings = hist.select("vin", "open_date", "mileage_km").filter(
            _known("vin") & _known("mileage_km"))
        mileage = (
            readings.with_columns(nw.col("open_date").max().over("vin").alias("_last"))
            .filter(nw.col("open_date") == nw.col("_last"))
            .group_by("vin")
            .agg(nw.col("mileage_km").max().alias("_mileage"))
            .select(nw.col("vin").alias("main_vin"), nw.col("_mileage").cast(nw.Float64))
        )
        main = main.join(mileage, on="main_vin", how="left")
    else:
        main = main.with_columns(nw.lit(None, dtype=nw.Float64).alias("_mileage"))

    # ---- vehicle attributes of the main vehicle
    veh_cols = ("model", "grade", "usage")
    if vehicles is not None:
        v = _like(vehicles, o, "vehicles")
        vschema = _schema(v)
        require_columns(vschema, ["vin", "sale_date"], "vehicles")
        v_cast = _check_temporal(vschema, "sale_date", "vehicles")
        sale = nw.col("sale_date").cast(nw.Datetime("us")) if v_cast else nw.col("sale_date")
        v = v.select(
            nw.col("vin").cast(nw.String).alias("main_vin"),
            (_days_since(t, sale, impl) / DAYS_PER_YEAR).alias("main_vehicle_age"),
            *(nw.col(c).cast(nw.String) if c in vschema else nw.lit(None, dtype=nw.String)
              .alias(c) for c in veh_cols),
        )
        main = main.join(v, on="main_vin", how="left")
    else:
        main = main.with_columns(
            nw.lit(None, dtype=nw.Float64).alias("main_vehicle_age"),
            *(nw.lit(None, dtype=nw.String).alias(c) for c in veh_cols),
        )
    age = nw.col("main_vehicle_age")
    in_warranty = (age < warranty_years) & (
        nw.col("_mileage").is_null() | (nw.col("_mileage") < warranty_km))
    main = main.with_columns(
        nw.when(age.is_null()).then(nw.lit("unknown"))
        .when(in_warranty).then(nw.lit("in_warranty"))
        .otherwise(nw.lit("out_of_warranty"))
        .alias("warranty_status")
    )

    # ---- assemble
    out = span.join(agg, on="customer_id", how="left" if include_inactive else "inner")
    zero_fill = ["orders", *sums, *type_counts]
    out = out.with_columns([nw.col(c).fill_null(0) for c in zero_fill])
    out = _barrier(out.join(n_vehicles, on="customer_id", how="left").join(
        main, on="customer_id", how="left"))

    # exposure: from the later of the first order and the window start, to T; as the
    # smaller of two spans (not a date chosen by a CASE), which keeps Spark's plan small
    out = out.with_columns(
        recency_days=_days_since(t, nw.col("last_order_date"), impl),
        tenure_days=_days_since(t, nw.col("first_order_date"), impl),
    )
    window_days = (t - ws).total_seconds() / 86_400.0
    exposure = (nw.col("tenure_days").clip(upper_bound=window_days) / DAYS_PER_YEAR).clip(
        lower_bound=_MIN_EXPOSURE_YEARS)
    n = nw.col("orders").cast(nw.Float64)
    other = n - nw.sum_horizontal(*(nw.col(c) for c in type_counts)).cast(nw.Float64)
    shares = {
        f"share_{rt}": (
            nw.when(n > 0).then((nw.col(f"n_{rt}") if rt != "other" else other) / n)
            .otherwise(0.0)
        )
        for rt in RO_TYPES
    }
    out = out.with_columns(
        nw.col("orders", "n_vehicles").cast(nw.Int64),
        nw.col(*sums).cast(nw.Float64),
        visits_per_year=n / exposure,
        **shares,
    )

    cust_cols = ("customer_type", "occupation", "region")
    if customers is not None:
        c = _like(customers, o, "customers")
        cschema = _schema(c)
        require_columns(cschema, ["customer_id"], "customers")
        c = c.select(
            nw.col("customer_id").cast(nw.String),
            *(nw.col(k).cast(nw.String) if k in cschema else nw.lit(None, dtype=nw.String)
              .alias(k) for k in cust_cols),
        )
        out = out.join(c, on="customer_id", how="left")
    else:
        out = out.with_columns([nw.lit(None, dtype=nw.String).alias(k) for k in cust_cols])

    out = out.select(*FEATURE_COLUMNS).sort("customer_id")
    return _finish(out, eager)


# --------------------------------------------------------------------------- RFM summary


def _period_expr(column: str, freq: str, cast_date: bool, impl: Any) -> nw.Expr:
    """Integer period number of each timestamp (periods start at the Unix epoch)."""
    d = nw.col(column).cast(nw.Datetime("us")) if cast_date else nw.col(column)
    ms = _epoch_ms(d, impl)
    if freq == "W":
        # 1970-01-01 is a Thursday: day -3 is Monday, so weeks run Monday..Sunday
        return (ms // _MS_PER_DAY + 3) // 7
    return ms // RFM_FREQS[freq]


def _period_scalar(ts: _dt.datetime, freq: str) -> int:
    ms = int((pd.Timestamp(ts) - pd.Timestamp(0)) // pd.Timedelta(milliseconds=1))
    if freq == "W":
        return (ms // _MS_PER_DAY + 3) // 7
    return ms // RFM_FREQS[freq]


def rfm_summary(
    orders: IntoFrameT | Dataset,
    customer_col: str = "customer_id",
    date_col: str = "open_date",
    value_col: str | None = "total_amount",
    *,
    as_of: Any = None,
    freq: str = "D",
    freq_multiplier: float = 1,
    include_first_transaction: bool = False,
    regularity: bool = False,
) -> IntoFrameT:
    """Frequency, recency, T and monetary value per customer, as ``lifetimes`` computes them.

    Reproduces ``lifetimes.utils.summary_data_from_transaction_data`` (lifetimes 0.11.3)
    without depending on it, on pandas or Polars, eager or lazy:

    1. Every date is reduced to its period of length ``freq`` (pandas'
       ``to_period(freq)``): the day for ``"D"``, the Monday-to-Sunday week for ``"W"``.
       ``as_of`` (lifetimes' ``observation_period_end``; default: the latest date) is
       reduced the same way.
    2. Transactions whose **period** is after the as-of period are dropped. As in
       lifetimes, a transaction later than ``as_of`` but in the same period is kept
       (with ``freq="W"`` and a Tuesday ``as_of``, that week's Wednesday counts).
    3. Transactions of a customer in the same period are merged into one, values summed.
    4. ``frequency`` = number of periods with a purchase − 1 (repeat periods),
       ``recency`` = last period − first period, ``T`` = as-of period − first period,
       both divided by ``freq_multiplier``; ``monetary_value`` = mean value of the repeat
       periods, 0 when ``frequency`` is 0.

    With ``include_first_transaction=True`` the first period also counts in
    ``frequency`` and ``monetary_value`` (lifetimes' option of the same name).

    With ``regularity=True`` a column ``litt`` follows ``T``: the sum, over the customer's
    repeat periods, of the logarithm of the time since the previous purchase period, in
    the units of ``recency`` and ``T`` (period difference / ``freq_multiplier``); 0.0 for a
    customer with a single purchase period. It is BTYDplus's ``litt`` of ``elog2cbs``
    (R package BTYDplus, ``R/helpers.R``), the sufficient statistic of the Erlang-k
    inter-visit times of the MBG/CNBD-k model (:class:`crm_analysis.btyd.MBGCNBDModel`):
    ``elog2cbs`` merges the transactions of a day (of a timestamp, for ``POSIXt`` dates)
    and measures times in weeks, so on day dates it equals
    ``rfm_summary(..., freq="D", freq_multiplier=7, regularity=True)``. The first period
    never contributes, so ``litt`` is the same with ``include_first_transaction``.

    Supported ``freq``: ``"D"`` (day), ``"W"`` (week, Monday–Sunday; alias ``"W-SUN"``),
    ``"h"`` (hour), ``"min"`` (minute), ``"s"`` (second). Months are not supported
    (lifetimes itself fails on them: a month has no fixed length). Use e.g.
    ``freq="D", freq_multiplier=7`` for weeks measured to the day.

    Differences of form from lifetimes, not of content: the customer is a column
    (``customer_col``, first) rather than the index, so ``lifetimes_df`` corresponds to
    ``rfm_summary(...).set_index(customer_col)`` for pandas; ``frequency`` is ``Int64``
    (lifetimes returns floats); rows are sorted by customer (lifetimes sorts too). Rows
    without a customer or a date are dropped; a missing value counts as 0.

    Parameters
    ----------
    orders:
        Transactions (pandas or Polars, eager or lazy), or a
        :class:`~crm_analysis.schema.Dataset` or a mapping of tables (its repair orders;
        its own as-of date is then the default ``as_of``).
    customer_col, date_col, value_col:
        Customer id, transaction date (datetime or date) and value columns.
        ``value_col=None`` leaves out ``monetary_value``.
    as_of:
        End of the observation period (lifetimes' ``observation_period_end``).
    freq, freq_multiplier:
        Period length and the divisor of recency and T.
    include_first_transaction:
        Count the first period in ``frequency`` and ``monetary_value``.
    regularity:
        Add ``litt`` (sum of the log inter-period times), the input of the MBG/CNBD-k model.

    Returns
    -------
    Frame of the input's kind: ``customer_col``, ``frequency`` (Int64), ``recency``,
    ``T``, with ``regularity`` ``litt`` and, with ``value_col``, ``monetary_value``
    (Float64), sorted by customer.

    Example
    -------
    >>> import pandas as pd
    >>> tx = pd.DataFrame({"id": ["a", "a", "a", "b"],
    ...                    "date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-11",
    ...                                            "2024-01-05"]),
    ...                    "amount": [10.0, 5.0, 30.0, 8.0]})
    >>> rfm_summary(tx, "id", "date", "amount", as_of="2024-01-31")
      id  frequency  recency     T  monetary_value
    0  a          1     10.0  30.0            30.0
    1  b          0      0.0  26.0             0.0
    >>> rfm_summary(tx, "id", "date", None, as_of="2024-01-31", freq="W")
      id  frequency  recency    T
    0  a          1      1.0  4.0
    1  b          0      0.0  4.0
    >>> rfm_summary(tx, "id", "date", None, as_of="2024-01-31", regularity=True)
      id  frequency  recency     T      litt
    0  a          1     10.0  30.0  2.302585
    1  b          0      0.0  26.0  0.000000
    """
    if isinstance(orders, Dataset | Mapping):
        as_of = read_as_of(as_of, orders)
        orders = tables(orders)["repair_orders"]
    freq = _FREQ_ALIASES.get(freq, freq)
    if freq not in RFM_FREQS:
        raise ValueError(f"{caller()}: freq={freq!r} is not supported; use one of "
                         f"{list(RFM_FREQS)}")
    mult = check_number(freq_multiplier, "freq_multiplier", minimum=0, strict=True)
    check_bool(regularity, "regularity")
    try:
        f_in = nw.from_native(orders)
    except TypeError as exc:
        raise TypeError(f"{caller()}: orders must be a pandas or Polars frame, got "
                        f"{type(orders).__name__}") from exc
    eager = isinstance(f_in, nw.DataFrame)
    f = f_in.lazy()
    schema = _schema(f)
    cols = [customer_col, date_col] + ([value_col] if value_col is not None else [])
    require_columns(schema, cols, "orders")
    cast_date = _check_temporal(schema, date_col, "orders")
    if value_col is not None:
        _check_numeric(schema, [value_col], "orders")

    period = _period_expr(date_col, freq, cast_date, f.implementation).alias("_period")
    tx = f.filter(_known(customer_col) & _known(date_col))
    tx = tx.select(customer_col, period,
                   *([nw.col(value_col).cast(nw.Float64)] if value_col else []))
    if as_of is None:
        end = tx.select(nw.col("_period").max()).collect().item()
        if end is None:
            raise ValueError(f"{caller()}: no transactions with a customer and a date")
    else:
        end = _period_scalar(read_as_of(as_of), freq)
    tx = tx.filter(nw.col("_period") <= end)

    # one row per customer and period (values summed), then one pass per customer; the
    # first period is found with a window minimum rather than a join (much faster)
    by_period = tx.group_by(customer_col, "_period").agg(
        *([nw.col(value_col).sum()] if value_col else [nw.len().alias("_n")])
    ).with_columns(nw.col("_period").min().over(customer_col).alias("_first"))
    sums = []
    if value_col is not None:
        v = nw.col(value_col)
        by_period = by_period.with_columns(
            nw.when(nw.col("_period") == nw.col("_first")).then(0.0).otherwise(v)
            .alias("_repeat_value"))
        sums = [v.sum().alias("_all_value"), nw.col("_repeat_value").sum()]
    if regularity:
        # log of the gap to the previous purchase period (null on the first period, which
        # the sum skips); the division by freq_multiplier is taken out of the sum
        # (sum log(gap / m) = sum log(gap) - repeats * log(m))
        gap = nw.col("_period") - nw.col("_period").shift(1).over(
            customer_col, order_by="_period")
        by_period = by_period.with_columns(
            gap.cast(nw.Float64).log().alias("_log_gap"))
        sums.append(nw.col("_log_gap").sum())
    out = by_period.group_by(customer_col).agg(
        nw.col("_first").min(),
        nw.col("_period").max().alias("_last"),
        nw.len().alias("_count"),
        *sums,
    )
    frequency = nw.col("_count") - (0 if include_first_transaction else 1)
    out = out.with_columns(
        frequency=frequency.cast(nw.Int64),
        recency=(nw.col("_last") - nw.col("_first")).cast(nw.Float64) / mult,
        T=(nw.lit(end) - nw.col("_first")).cast(nw.Float64) / mult,
    )
    keep = [customer_col, "frequency", "recency", "T"]
    if regularity:
        log_mult = math.log(mult)
        out = out.with_columns(
            litt=(nw.col("_log_gap").fill_null(0.0)
                  - (nw.col("_count") - 1).cast(nw.Float64) * log_mult).cast(nw.Float64))
        keep.append("litt")
    if value_col is not None:
        # mean value of the repeat periods (all periods with include_first_transaction)
        total = nw.col("_all_value" if include_first_transaction else "_repeat_value")
        out = out.with_columns(
            monetary_value=nw.when(nw.col("frequency") > 0)
            .then(total / nw.col("frequency").cast(nw.Float64))
            .otherwise(0.0)
            .cast(nw.Float64)
        )
        keep.append("monetary_value")
    out = out.select(keep).sort(customer_col)
    return _finish(out, eager)

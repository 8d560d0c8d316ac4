"""Retention by vehicle age: the FAW-Toyota figures, status, cohorts and the service funnel.

FAW-Toyota's customer-retention standard (一汽丰田客户维系标准, ../shared/seeds/002) tracks
two shares of a dealer's cars, by vehicle age, and shows both falling year after year of
age — "the loss of older-car owners is our blind spot":

**客户掌握率 (retention rate)**
    among the store's base vehicles, the share with at least one repair order at the
    store in the last ``window_months`` (12) calendar months, (T − 12 months, T].
**活跃客户比例 (active-customer ratio)**
    the same share over the last ``active_months`` (6) months, (T − 6 months, T]: owners
    who come at every service interval, not just once a year.

Two bases (DOMAIN.md section 3):

``base="sold"`` — the **vehicle base** (保有车辆)
    cars the store sold itself (``sold_here``, home store = the store), sold on or before
    T and at most ``max_age`` years old. It answers "of the cars we sold, how many do we
    still see?", which is what the FAW-Toyota chart shows.
``base="service"`` — the **service base** (基盘)
    every car with at least one order at the store in the 24 months before T, whoever
    sold it. A car whose sale date is unknown gets a null age band instead of being
    dropped.

Vehicle age at date d is (d − sale_date) in years of 365.25 days; age band k covers ages
[k, k+1) and is "year k+1" of the car. The chart's bars are **annual averages**: the
figure at each of the 12 month-ends of a year (Jan 31, Feb 28/29, …, Dec 31), averaged
(:func:`annual_average`), which smooths seasonality (Chinese New Year, winter).

Example. A store sold 200 cars three years ago; at 2024-12-31 120 of them had an order in
2024 (12-month window) and 70 in its second half: the band-3 retention rate is
120 / 200 = 60 %, the active ratio 70 / 200 = 35 %. If the 12 month-ends of 2024 give
rates 0.58, 0.61, …, the annual average is their mean.

All table builders take ``data``: a :class:`~crm_analysis.schema.Dataset` (pandas tables)
or a mapping ``{"vehicles": ..., "repair_orders": ..., "customers": ...}`` (customers
optional) of pandas or Polars frames, eager or lazy. They are written once with narwhals
and return the frame kind of the ``repair_orders`` table (pandas for a Dataset; other
tables are converted to its backend). Results are identical across backends.

A *relationship* is a (vehicle, store) pair: with ``store_id=None`` every store is
analysed at once and a car serviced at two stores of a group counts once for each, so
``by="store_id"`` splits the totals exactly. ``sold_here`` of a relationship is true only
at the car's selling store.

The survival side of the issue (defection table, Kaplan-Meier by vehicle age, log-rank,
Cox model, warranty cliff, the hazard as an annual share) lives in
:mod:`crm_analysis.survival` and is re-exported here. :func:`lost_owners` prices the
relationships that ended in the year to T (the yearly gross profit they brought).

Example
-------
>>> import pandas as pd
>>> from crm_analysis.retention import retention_by_vehicle_age
>>> vehicles = pd.DataFrame({
...     "vin": ["V1", "V2", "V3", "V4"], "customer_id": ["C1", "C2", "C3", "C4"],
...     "store_id": ["001"] * 4, "sold_here": [True, True, True, True],
...     "sale_date": pd.to_datetime(["2023-03-01", "2023-05-01", "2021-02-01",
...                                  "2021-06-01"])})
>>> orders = pd.DataFrame({
...     "vin": ["V1", "V1", "V2", "V3"], "store_id": ["001"] * 4,
...     "open_date": pd.to_datetime(["2023-09-01", "2024-08-01", "2024-03-01",
...                                  "2023-05-01"])})
>>> r = retention_by_vehicle_age({"vehicles": vehicles, "repair_orders": orders},
...                              as_of="2024-12-31", store_id="001")
>>> r[["age_band", "base_vehicles", "retained", "retention_rate", "active",
...    "active_ratio"]]
   age_band  base_vehicles  retained  retention_rate  active  active_ratio
0         1              2         2             1.0       1           0.5
1         3              2         0             0.0       0           0.0
"""

from __future__ import annotations

import datetime as _dt
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from statistics import NormalDist
from typing import Any, NamedTuple

import narwhals as nw
import numpy as np
import pandas as pd

from crm_analysis._frames import (
    _datetime,
    _like,
    _nw_frame,
    _schema,
    _small_table,
    _string,
)
from crm_analysis._frames import _seconds_since as _frames_seconds_since
from crm_analysis._inputs import (
    caller,
    check_choice,
    check_confidence,
    check_int,
    check_number,
    read_as_of,
    require_columns,
    select_store,
    tables,
    to_pandas,
)
from crm_analysis.margins import Margins, order_profit
from crm_analysis.overview import DAYS_PER_YEAR, window_start
from crm_analysis.schema import Dataset
from crm_analysis.survival import (
    annual_share,
    compare_survival,
    defection_drivers,
    defection_table,
    survival_by_vehicle_age,
    warranty_cliff,
)

__all__ = [
    "BASES",
    "DAYS_PER_MONTH",
    "Interval",
    "LOST_COLUMNS",
    "LostOwners",
    "SERVICE_MONTHS",
    "STATUSES",
    "annual_average",
    "annual_share",
    "cohort_retention",
    "compare_survival",
    "defection_drivers",
    "defection_table",
    "lost_owners",
    "retention_by_vehicle_age",
    "service_funnel",
    "status",
    "survival_by_vehicle_age",
    "warranty_cliff",
    "wilson_interval",
]

#: The two vehicle bases of :func:`retention_by_vehicle_age`.
BASES: tuple[str, ...] = ("sold", "service")
#: Values of the ``status`` column of :func:`status`.
STATUSES: tuple[str, ...] = ("active", "dormant", "lost", "never_returned")
#: Look-back of the service base (基盘), in months.
SERVICE_MONTHS = 24
#: Average days per month (365.25 / 12), for ``months_since_last_order``.
DAYS_PER_MONTH = DAYS_PER_YEAR / 12

_RETENTION_COLUMNS = (
    "age_band", "base_vehicles", "retained", "retention_rate", "retention_lo",
    "retention_hi", "active", "active_ratio", "active_lo", "active_hi",
)
_STATUS_COLUMNS = (
    "vin", "customer_id", "store_id", "sold_here", "sale_date", "age_years",
    "last_order_date", "months_since_last_order", "status",
)
# columns of a relationship that ``by=`` may name (the store of the relationship, not
# the vehicle's home store; sold_here at that store)
_REL_BY = ("store_id", "sold_here", "vin")


# --------------------------------------------------------------------------- inputs


class _Tables(NamedTuple):
    orders: nw.LazyFrame  # vin, store_id (String), open_date (Datetime), [ro_type]
    vehicles: nw.LazyFrame  # vin, store_id, sold_here, sale_date, [customer_id, ...]
    customers: nw.LazyFrame | None
    eager: bool
    known_stores: tuple[str, ...]  # from a Dataset's stores table
    as_of: _dt.datetime  # T: as_of, or the data's own


def _tables(data: Any, as_of: Any, *, need_ro_type: bool = False,
            need_customer: bool = False) -> _Tables:
    """The orders, vehicles and (optional) customers of ``data``, normalized and lazy,
    and the analysis date (``as_of``, or the data's own)."""
    got = tables(data, ("repair_orders", "vehicles"), ("customers",))
    known: tuple[str, ...] = ()
    if isinstance(data, Dataset) and "store_id" in data.stores.columns:
        known = tuple(data.store_ids)
    o_in = _nw_frame(got["repair_orders"], "repair_orders")
    T = read_as_of(as_of, data).to_pydatetime()
    eager = isinstance(o_in, nw.DataFrame)
    o = o_in.lazy()

    osch = _schema(o)
    ocols = ["vin", "store_id", "open_date"] + (["ro_type"] if need_ro_type else [])
    require_columns(osch, ocols, "repair_orders")
    o = o.select(
        _string(osch, "vin"), _string(osch, "store_id"),
        _datetime(osch, "open_date", "repair_orders"),
        *([_string(osch, "ro_type")] if need_ro_type else []),
    )

    v = _like(got["vehicles"], o, "vehicles")
    vsch = _schema(v)
    require_columns(vsch, ["vin", "store_id", "sold_here", "sale_date"]
                    + (["customer_id"] if need_customer else []), "vehicles")
    sold = nw.col("sold_here")
    if vsch["sold_here"] != nw.Boolean:
        sold = sold.cast(nw.Boolean)
    o_dtype = _schema(o)["open_date"]
    sale = _datetime(vsch, "sale_date", "vehicles")
    if vsch["sale_date"] != o_dtype:  # one time unit for the two date columns
        sale = sale.cast(o_dtype)
    rest = [c for c in vsch if c not in ("vin", "store_id", "sold_here", "sale_date")]
    v = v.select(
        _string(vsch, "vin"), _string(vsch, "store_id"), sold.fill_null(False), sale,
        *(_string(vsch, c) if c == "customer_id" else nw.col(c) for c in rest),
    )

    c = None
    if got["customers"] is not None:
        c = _like(got["customers"], o, "customers")
        csch = _schema(c)
        require_columns(csch, ["customer_id"], "customers")
        c = c.with_columns(_string(csch, "customer_id"))
    return _Tables(o, v, c, eager, known, T)


def _check_store(t: _Tables, store_id: Any) -> str | None:
    """``store_id`` as a string, after checking the data know it."""
    if store_id is None:
        return None
    sid = str(store_id)
    if sid in t.known_stores:
        return sid
    for frame in (t.vehicles, t.orders):
        hit = frame.filter(nw.col("store_id") == sid).select("store_id").head(1).collect()
        if len(hit):
            return sid
    stores = set(t.known_stores)
    for frame in (t.vehicles, t.orders):
        stores |= set(frame.select("store_id").unique().collect()["store_id"].to_list())
    listed = sorted(s for s in stores if s is not None)
    raise ValueError(f"{caller()}: unknown store {store_id!r}; the data hold stores {listed}")


# Ages are computed from whole seconds: the band is an integer floor division and the
# max-age test a comparison in seconds, so both are exact (365.25 days = 31,557,600 s).
# Float ages are band + remainder / year with the division done as a multiplication by
# the reciprocal in every backend (Polars turns a division by a constant into that
# multiplication, pandas does not, and results must be identical); floor(age_years) is
# then always the band, since the remainder is at most 1 − 3e-8 of a year.
_YEAR_SECONDS = 31_557_600
_PER_YEAR = 1.0 / _YEAR_SECONDS
_PER_MONTH = 1.0 / (86_400 * DAYS_PER_MONTH)


def _seconds_since(at: _dt.datetime, column: str, impl: Any) -> nw.Expr:
    """Whole seconds from ``column`` to ``at`` (null where the column is)."""
    return _frames_seconds_since(at, nw.col(column), impl)


def _age_band(at: _dt.datetime, impl: Any) -> nw.Expr:
    """Age band at ``at``: floor(age in years of 365.25 days); null for no sale date."""
    return _seconds_since(at, "sale_date", impl) // _YEAR_SECONDS


def _age_at_most(at: _dt.datetime, years: float, impl: Any) -> nw.Expr:
    return _seconds_since(at, "sale_date", impl) <= years * _YEAR_SECONDS


def _age_years(at: _dt.datetime, impl: Any) -> nw.Expr:
    secs = _seconds_since(at, "sale_date", impl)
    return (secs // _YEAR_SECONDS).cast(nw.Float64) + (secs % _YEAR_SECONDS).cast(
        nw.Float64) * _PER_YEAR


def _finish(out: nw.LazyFrame, t: _Tables, int_nullable: Sequence[str] = ()):
    """Native result: Polars, DuckDB and PySpark cast nullable ints in the plan (a lazy
    input gives a lazy result); pandas gets ``Int64``."""
    if not t.orders.implementation.is_pandas_like():
        if int_nullable:
            out = out.with_columns(nw.col(*int_nullable).cast(nw.Int64))
        return out.collect().to_native() if t.eager else out.to_native()
    df = nw.maybe_reset_index(out.collect()).to_native()
    for c in int_nullable:
        df[c] = df[c].astype("Int64")
    return df


# --------------------------------------------------------------------------- Wilson


def _z(confidence: Any) -> float:
    # the two-sided normal quantile from the standard library (Wichura's AS241, accurate
    # to about 1e-16): no scipy needed for a closed-form interval
    return NormalDist().inv_cdf(0.5 + check_confidence(confidence) / 2)


@dataclass(frozen=True)
class Interval:
    """A confidence interval: ``lo`` and ``hi``, floats or NumPy arrays of one shape."""

    lo: Any
    hi: Any


def wilson_interval(successes: Any, trials: Any, *, confidence: float = 0.95) -> Interval:
    """Wilson score interval of a binomial proportion.

    With p̂ = x / n and z the two-sided normal quantile of ``confidence``::

        centre = (p̂ + z²/(2n)) / (1 + z²/n)
        half   = z / (1 + z²/n) · sqrt(p̂(1 − p̂)/n + z²/(4n²))

    The interval is [centre − half, centre + half], exactly 0 below when x = 0 and
    exactly 1 above when x = n. Unlike the normal (Wald) interval it stays inside [0, 1]
    and keeps its coverage for small n and proportions near 0 or 1, as retention rates
    of thin age bands often are.

    Parameters
    ----------
    successes, trials:
        Counts x and n (scalars or array-likes of the same shape), 0 <= x <= n.
    confidence:
        Coverage of the interval (default 0.95).

    Returns
    -------
    :class:`Interval`: ``lo`` and ``hi`` floats for scalar input, else arrays; NaN at n = 0.

    Example
    -------
    >>> ci = wilson_interval(5, 10)
    >>> round(ci.lo, 4), round(ci.hi, 4)
    (0.2366, 0.7634)
    >>> wilson_interval(0, 10, confidence=0.9).lo
    0.0
    """
    z = _z(confidence)
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    if np.any(x < 0) or np.any(n < 0) or np.any(x > n):
        raise ValueError(f"{caller()}: need 0 <= successes <= trials, got {successes!r} of "
                         f"{trials!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        z2 = z * z
        denom = 1.0 + z2 / n
        centre = (p + z2 / (2.0 * n)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
        lo = np.where(x == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
        hi = np.where(x == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    lo = np.where(n > 0, lo, np.nan)
    hi = np.where(n > 0, hi, np.nan)
    return Interval(float(lo), float(hi)) if lo.ndim == 0 else Interval(lo, hi)


def _wilson_exprs(x: str, n: str, z: float) -> tuple[nw.Expr, nw.Expr]:
    """The same interval as :func:`wilson_interval`, as expressions (n > 0)."""
    xf = nw.col(x).cast(nw.Float64)
    nf = nw.col(n).cast(nw.Float64)
    p = xf / nf
    z2 = z * z
    denom = 1.0 + z2 / nf
    centre = (p + z2 / (2.0 * nf)) / denom
    half = z * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / denom
    lo = nw.when(xf == 0).then(0.0).otherwise((centre - half).clip(0.0, 1.0))
    hi = nw.when(xf == nf).then(1.0).otherwise((centre + half).clip(0.0, 1.0))
    return lo, hi


# --------------------------------------------------------------------------- status


def status(
    data: Any,
    *,
    as_of: Any = None,
    store_id: str | None = None,
    active_months: int = 6,
    lost_months: int = 12,
):
    """Each vehicle's status with the store at ``as_of``: active, dormant, lost or never returned.

    Scope: the vehicles of the store (home store = ``store_id``: cars it sold and cars it
    adopted) and every vehicle with an order at the store on or before T, except cars
    bought elsewhere that have no order at the store yet, and cars sold after T. With
    ``store_id=None`` every store is analysed, one row per (vehicle, store) relationship
    (one row per vehicle when each car is serviced at one store only).

    With ``last`` = the last order at the store on or before T:

    - ``never_returned``: sold here and no order at the store after the sale date;
    - ``active``: ``last`` in (T − ``active_months``, T];
    - ``dormant``: ``last`` in (T − ``lost_months``, T − ``active_months``];
    - ``lost``: earlier.

    Windows are calendar months (:func:`crm_analysis.overview.window_start`), so
    ``active`` here means exactly "counts in the active ratio" of
    :func:`retention_by_vehicle_age`, and active or dormant means "retained" when
    ``lost_months`` equals its ``window_months``.

    Parameters
    ----------
    data:
        A Dataset or a mapping with ``vehicles`` (``vin``, ``customer_id``, ``store_id``,
        ``sold_here``, ``sale_date``) and ``repair_orders`` (``vin``, ``store_id``,
        ``open_date``); see the module docstring.
    as_of:
        The analysis date T (default: a Dataset's ``meta["as_of"]``).
    store_id:
        The store (None: all stores).
    active_months, lost_months:
        Thresholds in calendar months, ``active_months <= lost_months``.

    Returns
    -------
    Frame of the orders' kind, sorted by ``store_id`` and ``vin``: ``vin``,
    ``customer_id`` (the owner in the vehicles table; null for a VIN missing from it),
    ``store_id`` (the store of the relationship), ``sold_here``, ``sale_date``,
    ``age_years`` (Float64, null if the sale date is unknown), ``last_order_date``
    (null if none), ``months_since_last_order`` (days / 30.4375, null if none) and
    ``status``.

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> s = status(example_dataset(), as_of="2021-06-30")
    >>> s[["vin", "store_id", "status"]].to_numpy().tolist()
    [['LSVAA4180E2000001', '001', 'lost'], ['LSVAA4180E2000002', '001', 'active'], \
['LSVAA4180E2000003', '007', 'active']]
    """
    t = _tables(data, as_of, need_customer=True)
    T = t.as_of
    sid = _check_store(t, store_id)
    active_months = check_int(active_months, "active_months")
    lost_months = check_int(lost_months, "lost_months")
    if active_months > lost_months:
        raise ValueError(f"{caller()}: active_months ({active_months}) must not exceed "
                         f"lost_months ({lost_months})")

    o = t.orders.filter(nw.col("open_date") <= T)
    v = t.vehicles.select("vin", "customer_id", nw.col("store_id").alias("_home"),
                          nw.col("sold_here").alias("_home_sold"), "sale_date")
    if sid is not None:
        o = o.filter(nw.col("store_id") == sid)
    last = o.group_by("vin", "store_id").agg(nw.col("open_date").max().alias("last_order_date"))
    served = last.join(v, on="vin", how="left").with_columns(
        sold_here=(nw.col("_home_sold") & (nw.col("_home") == nw.col("store_id")))
        .fill_null(False))
    own = v.filter(nw.col("_home_sold"))
    if sid is not None:
        own = own.filter(nw.col("_home") == sid)
    own = (
        own.rename({"_home": "store_id"})
        .join(last.select("vin", "store_id"), on=["vin", "store_id"], how="anti")
        .with_columns(sold_here=nw.lit(True),
                      last_order_date=nw.lit(None, dtype=_schema(last)["last_order_date"]))
    )
    cols = ["vin", "customer_id", "store_id", "sold_here", "sale_date", "last_order_date"]
    rel = nw.concat([served.select(cols), own.select(cols)]).filter(
        nw.col("sale_date").is_null() | (nw.col("sale_date") <= T))

    last_ = nw.col("last_order_date")
    returned = ~last_.is_null() & (nw.col("sale_date").is_null()
                                   | (last_ > nw.col("sale_date")))
    state = (
        nw.when(nw.col("sold_here") & ~returned).then(nw.lit("never_returned"))
        .when(last_ > window_start(active_months, as_of=T)).then(nw.lit("active"))
        .when(last_ > window_start(lost_months, as_of=T)).then(nw.lit("dormant"))
        .otherwise(nw.lit("lost"))
    )
    out = rel.with_columns(
        age_years=_age_years(T, t.orders.implementation),
        months_since_last_order=_seconds_since(T, "last_order_date",
                                               t.orders.implementation).cast(nw.Float64)
        * _PER_MONTH,
        status=state,
    ).select(*_STATUS_COLUMNS).sort("store_id", "vin")
    return _finish(out, t)


# --------------------------------------------------------------------------- retention


def _by_list(by: Any) -> list[str]:
    if by is None:
        return []
    cols = [by] if isinstance(by, str) else list(by)
    if not all(isinstance(c, str) for c in cols) or len(set(cols)) != len(cols):
        raise TypeError(f"{caller()}: by must be a column name or a list of distinct names, "
                        f"got {by!r}")
    clash = [c for c in cols if c in _RETENTION_COLUMNS or c in ("month_end", "months")]
    if clash:
        raise ValueError(f"{caller()}: by column(s) {clash} clash with output columns")
    return cols


def _attach_by(rel: nw.LazyFrame, t: _Tables, by: list[str]) -> nw.LazyFrame:
    """Join the ``by`` columns (vehicles first, then customers) onto relationships."""
    vsch = _schema(t.vehicles)
    csch = _schema(t.customers) if t.customers is not None else {}
    from_v = [c for c in by if c not in _REL_BY and c in vsch and c != "vin"]
    from_c = [c for c in by if c not in _REL_BY and c not in from_v and c in csch]
    missing = [c for c in by if c not in _REL_BY and c not in from_v and c not in from_c]
    if missing:
        tables = "vehicles" + (" or customers" if t.customers is not None else
                               " (no customers table given)")
        raise KeyError(
            f"{caller()}: by column(s) {missing} are in neither {tables}; vehicles has "
            f"{list(vsch)}" + (f", customers has {list(csch)}" if csch else "")
        )
    if from_c and "customer_id" not in vsch:
        raise KeyError(f"{caller()}: by column(s) {from_c} come from customers, which needs "
                       "vehicles.customer_id")
    if not from_v and not from_c:
        return rel
    vcols = list(dict.fromkeys(from_v + (["customer_id"] if from_c else [])))
    attrs = t.vehicles.select("vin", *vcols)
    if from_c:
        cust = t.customers.select("customer_id", *from_c)
        attrs = attrs.join(cust, on="customer_id", how="left")
        if "customer_id" not in from_v:
            attrs = attrs.drop("customer_id")
    return rel.join(attrs, on="vin", how="left")


def _monthly(t: _Tables, ends: list[_dt.datetime], *, sid: str | None, base: str,
             window_months: int, active_months: int, service_months: int, max_age: float,
             by: list[str]) -> nw.LazyFrame:
    """[*by, month_end, age_band, base_vehicles, retained, active] for each month-end.

    One pass over the orders: each order is flagged for every month-end whose windows
    contain it, the flags are OR-ed per relationship (max), and each month-end's base is
    then counted from the relationship table.
    """
    windows = {"ret": window_months, "act": active_months}
    if base == "service":
        windows["svc"] = service_months
    starts = {k: [window_start(m, as_of=e) for e in ends] for k, m in windows.items()}
    lo = min(s[0] for s in starts.values())
    o = t.orders.filter((nw.col("open_date") > lo) & (nw.col("open_date") <= ends[-1]))
    if sid is not None:
        o = o.filter(nw.col("store_id") == sid)
    d = nw.col("open_date")
    flags = [
        ((d > starts[k][i]) & (d <= e)).alias(f"_{k}{i}")
        for k in windows for i, e in enumerate(ends)
    ]
    names = [f"_{k}{i}" for k in windows for i in range(len(ends))]
    per_rel = o.select("vin", "store_id", *flags).group_by("vin", "store_id").agg(
        nw.col(*names).max())

    if base == "sold":
        rel = t.vehicles.filter(nw.col("sold_here") & ~nw.col("sale_date").is_null()
                                & (nw.col("sale_date") <= ends[-1]))
        if sid is not None:
            rel = rel.filter(nw.col("store_id") == sid)
        rel = rel.select("vin", "store_id", "sold_here", "sale_date")
        rel = rel.join(per_rel, on=["vin", "store_id"], how="left").with_columns(
            nw.col(*names).fill_null(False))
    else:
        svc_any = nw.any_horizontal(*(nw.col(f"_svc{i}") for i in range(len(ends))),
                                    ignore_nulls=True)
        home = t.vehicles.select("vin", nw.col("store_id").alias("_home"),
                                 nw.col("sold_here").alias("_home_sold"), "sale_date")
        rel = per_rel.filter(svc_any).join(home, on="vin", how="left").with_columns(
            sold_here=(nw.col("_home_sold") & (nw.col("_home") == nw.col("store_id")))
            .fill_null(False)
        ).drop("_home", "_home_sold")
    rel = _attach_by(rel, t, by)

    date_type = _schema(t.orders)["open_date"]
    parts = []
    for i, e in enumerate(ends):
        known = (nw.col("sale_date") <= e) & _age_at_most(e, max_age, t.orders.implementation)
        in_base = known if base == "sold" else nw.col(f"_svc{i}") & (
            nw.col("sale_date").is_null() | known)
        parts.append(
            rel.filter(in_base)
            # booleans as integers: SQL engines (Spark) do not sum booleans; cast before
            # the group-by, which pandas runs fast only for plain sums
            .with_columns(age_band=_age_band(e, t.orders.implementation),
                          _r=nw.col(f"_ret{i}").cast(nw.Int64),
                          _a=nw.col(f"_act{i}").cast(nw.Int64))
            .group_by(*by, "age_band")
            .agg(nw.len().alias("base_vehicles"),
                 nw.col("_r").sum().alias("retained"),
                 nw.col("_a").sum().alias("active"))
            .with_columns(month_end=nw.lit(e).cast(date_type), _m=nw.lit(i))
        )
    out = nw.concat(parts) if len(parts) > 1 else parts[0]
    return out.with_columns(nw.col("base_vehicles", "retained", "active").cast(nw.Int64))


def _common_args(t: _Tables, *, store_id, base, window_months, active_months, max_age,
                 by, service_months) -> dict:
    return dict(
        base=check_choice(base, "base", BASES),
        by=_by_list(by),
        sid=_check_store(t, store_id),
        window_months=check_int(window_months, "window_months"),
        active_months=check_int(active_months, "active_months"),
        service_months=check_int(service_months, "service_months"),
        max_age=check_number(max_age, "max_age", minimum=0, strict=True),
    )


def retention_by_vehicle_age(
    data: Any,
    *,
    as_of: Any = None,
    store_id: str | None = None,
    base: str = "sold",
    window_months: int = 12,
    active_months: int = 6,
    max_age: float = 10,
    by: str | Sequence[str] | None = None,
    confidence: float = 0.95,
    service_months: int = SERVICE_MONTHS,
):
    """Retention rate (客户掌握率) and active ratio (活跃客户比例) by vehicle-age band at T.

    For each age band k (ages [k, k+1) at T, "year k+1") of the chosen base:
    ``retained`` = base vehicles with at least one order at the store in
    (T − ``window_months``, T], ``active`` = with one in (T − ``active_months``, T],
    and their shares with Wilson score intervals (:func:`wilson_interval`).

    Bases (module docstring): ``"sold"`` = vehicles the store sold (home store, sold
    here), sale date on or before T, age <= ``max_age``; ``"service"`` = every vehicle
    with an order at the store in (T − ``service_months``, T] (24 by default), age <=
    ``max_age`` or unknown (null ``age_band``); a vehicle whose recorded sale date is
    after T is left out of both.

    Parameters
    ----------
    data:
        A Dataset or a mapping of tables (module docstring); needs ``vehicles.vin``,
        ``store_id``, ``sold_here``, ``sale_date`` and ``repair_orders.vin``,
        ``store_id``, ``open_date``, plus the ``by`` columns.
    as_of:
        The date T (default: a Dataset's ``meta["as_of"]``).
    store_id:
        The store; None analyses every store's relationships together.
    base:
        ``"sold"`` (vehicle base, 保有车辆) or ``"service"`` (service base, 基盘).
    window_months, active_months:
        Windows of the retention rate and the active ratio, in calendar months.
    max_age:
        Oldest vehicle age counted, in years.
    by:
        Column name(s) to split by: any vehicles column (``usage``, ``grade``,
        ``model``, …), any customers column (``region``, ``customer_type``, …; joined on
        the vehicle's ``customer_id``), or ``"store_id"`` / ``"sold_here"`` of the
        relationship. Missing values form their own group.
    confidence:
        Coverage of the Wilson intervals.
    service_months:
        Look-back of the service base.

    Returns
    -------
    Frame of the orders' kind, one row per non-empty (``by``…, ``age_band``), sorted
    (null band last): ``*by``, ``age_band`` (Int64), ``base_vehicles``, ``retained``
    (Int64), ``retention_rate``, ``retention_lo``, ``retention_hi``, ``active``
    (Int64), ``active_ratio``, ``active_lo``, ``active_hi`` (Float64).

    Raises
    ------
    ValueError
        Unknown store, bad ``base``, non-positive windows, ``as_of`` not a date.
    KeyError
        A required or ``by`` column is missing (the message names the table).

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> r = retention_by_vehicle_age(example_dataset(), as_of="2021-06-30", store_id="001",
    ...                              base="service")
    >>> r[["age_band", "base_vehicles", "retained", "active"]]
       age_band  base_vehicles  retained  active
    0         2              1         0       0
    1      <NA>              1         1       1
    """
    t = _tables(data, as_of)
    args = _common_args(t, store_id=store_id, base=base, window_months=window_months,
                        active_months=active_months, max_age=max_age, by=by,
                        service_months=service_months)
    z = _z(confidence)
    m = _monthly(t, [t.as_of], **args)
    r_lo, r_hi = _wilson_exprs("retained", "base_vehicles", z)
    a_lo, a_hi = _wilson_exprs("active", "base_vehicles", z)
    n = nw.col("base_vehicles").cast(nw.Float64)
    by_ = args["by"]
    out = (
        m.with_columns(
            retention_rate=nw.col("retained").cast(nw.Float64) / n,
            retention_lo=r_lo, retention_hi=r_hi,
            active_ratio=nw.col("active").cast(nw.Float64) / n,
            active_lo=a_lo, active_hi=a_hi,
        )
        .select(*by_, *_RETENTION_COLUMNS)
        .sort(*by_, "age_band", nulls_last=True)
    )
    return _finish(out, t, ["age_band"])


def _month_ends(year: Any) -> list[_dt.datetime]:
    year = check_int(year, "year", minimum=1900, maximum=2200)
    return [ts.to_pydatetime() for ts in pd.date_range(f"{year}-01-31", periods=12,
                                                       freq="ME")]


def annual_average(
    data: Any,
    year: int,
    *,
    store_id: str | None = None,
    base: str = "sold",
    window_months: int = 12,
    active_months: int = 6,
    max_age: float = 10,
    by: str | Sequence[str] | None = None,
    service_months: int = SERVICE_MONTHS,
    as_of: Any = None,
    monthly: bool = False,
):
    """The FAW-Toyota annual averages: mean of the 12 month-end figures of ``year``.

    For each month-end T of the year (Jan 31 … Dec 31) the retention rate and the active
    ratio are computed per age band exactly as :func:`retention_by_vehicle_age` does at
    T (a vehicle moves to the next band on its birthday, so a band's base changes from
    month to month); each band's figures are then averaged over the month-ends at which
    the band is not empty.

    All month-ends are computed in one pass over the orders (each order is flagged for
    the month-ends whose windows contain it), not by 12 recomputations.

    Parameters
    ----------
    data, store_id, base, window_months, active_months, max_age, by, service_months:
        As in :func:`retention_by_vehicle_age`.
    year:
        The calendar year.
    as_of:
        End of the data: month-ends after it are left out (a year-to-date average).
        Default: the data's own (a Dataset's ``meta["as_of"]``, else the last order).
    monthly:
        Return the month-end figures instead of their averages: ``*by``,
        ``month_end``, ``age_band``, ``base_vehicles``, ``retained``, ``active``,
        ``retention_rate``, ``active_ratio``.

    Returns
    -------
    Frame of the orders' kind, one row per (``by``…, ``age_band``) non-empty at some
    month-end, sorted: ``*by``, ``age_band`` (Int64), ``retention_rate`` and
    ``active_ratio`` (means, Float64), ``months`` (month-ends with a non-empty band,
    Int64) and ``base_vehicles`` (mean base, Float64).

    Example
    -------
    >>> from crm_analysis.synth import generate
    >>> ds = generate(n_stores=1, seed=3, start="2018-01-01", as_of="2023-12-31", scale=0.05)
    >>> a = annual_average(ds, 2023, store_id="001")
    >>> bool(a["retention_rate"].iloc[0] > a["retention_rate"].iloc[-1])
    True
    >>> int(a["months"].max())
    12
    """
    t = _tables(data, as_of)
    ends = [e for e in _month_ends(year) if e <= t.as_of]
    if not ends:
        raise ValueError(f"{caller()}: no month-end of {int(year)} is on or before "
                         f"as_of {t.as_of.date()}")
    args = _common_args(t, store_id=store_id, base=base, window_months=window_months,
                        active_months=active_months, max_age=max_age, by=by,
                        service_months=service_months)
    by_ = args["by"]
    m = _monthly(t, ends, **args)
    n = nw.col("base_vehicles").cast(nw.Float64)
    m = m.with_columns(retention_rate=nw.col("retained").cast(nw.Float64) / n,
                       active_ratio=nw.col("active").cast(nw.Float64) / n)
    if monthly:
        out = m.select(*by_, "month_end", "age_band", "base_vehicles", "retained", "active",
                       "retention_rate", "active_ratio").sort(
            *by_, "month_end", "age_band", nulls_last=True)
        return _finish(out, t, ["age_band"])
    # means over the month-ends: each month's figure in its own column, then added in
    # month order, the same additions in every backend (a group-by sum or cumulative sum
    # may add in another order, or compensate, as pandas does)
    keys = [*by_, "age_band"]
    figures = ("retention_rate", "active_ratio")
    n_ends = len(ends)
    wide = m.with_columns(*(
        nw.when(nw.col("_m") == i).then(nw.col(f)).alias(f"_{f}{i}")
        for f in figures for i in range(n_ends)
    )).group_by(*keys).agg(
        *(nw.col(f"_{f}{i}").max() for f in figures for i in range(n_ends)),
        nw.len().alias("months"),
        nw.col("base_vehicles").sum().alias("_base_sum"),
    )
    months = nw.col("months").cast(nw.Float64)
    means = {
        f: reduce(operator.add, (nw.col(f"_{f}{i}").fill_null(0.0) for i in range(n_ends)))
        / months
        for f in figures
    }
    out = (
        wide.with_columns(**means,
                          base_vehicles=nw.col("_base_sum").cast(nw.Float64) / months)
        .with_columns(nw.col("months").cast(nw.Int64))
        .select(*keys, "retention_rate", "active_ratio", "months", "base_vehicles")
        .sort(*keys, nulls_last=True)
    )
    return _finish(out, t, ["age_band"])


# --------------------------------------------------------------------------- cohorts


def _is_leap(year: nw.Expr) -> nw.Expr:
    return ((year % 4) == 0) & (((year % 100) != 0) | ((year % 400) == 0))


def _month_day(date: nw.Expr) -> nw.Expr:
    return date.dt.month().cast(nw.Int64) * 100 + date.dt.day().cast(nw.Int64)


def _sale_md_in(year: nw.Expr) -> nw.Expr:
    """The sale's month-day in ``year``: Feb 29 becomes Feb 28 in a common year."""
    md = nw.col("_sale_md")
    return nw.when((md == 229) & ~_is_leap(year)).then(228).otherwise(md)


def _full_years(date: nw.Expr) -> nw.Expr:
    """Completed anniversaries of the sale on or before ``date`` (calendar years)."""
    y = date.dt.year().cast(nw.Int64)
    passed = _sale_md_in(y) <= _month_day(date)
    return y - nw.col("_sale_year") - nw.when(passed).then(0).otherwise(1)


def cohort_retention(data: Any, *, as_of: Any = None, store_id: str, max_age: float = 10):
    """Sale-year cohort × age-year retention: the heatmap behind the age curve.

    For the cars the store sold (home store, ``sold_here``) in each calendar year, and
    each age year k (band k, "year k+1": from the k-th to the (k+1)-th anniversary of the
    sale, (sale + k years, sale + k+1 years], calendar years, Feb 29 → Feb 28), the share
    that had at least one order at the store during that year. A car counts for age
    year k only once that year is fully observed (its (k+1)-th anniversary is on or
    before T), so the young cohorts have fewer columns; k + 1 <= ``max_age``. Unlike the
    rolling 12-month windows of :func:`retention_by_vehicle_age`, each cell follows the
    same cars through one year of their life. Dates are compared as calendar days.

    Parameters
    ----------
    data:
        A Dataset or a mapping of tables (module docstring).
    as_of:
        The date T (default: a Dataset's ``meta["as_of"]``).
    store_id:
        The store.
    max_age:
        Last age year shown (``k + 1 <= max_age``).

    Returns
    -------
    Frame of the orders' kind sorted by ``sale_year`` and ``age_band``: ``sale_year``,
    ``age_band`` (Int64), ``vehicles`` (cars of the cohort with age year k fully
    observed), ``retained`` (Int64) and ``retention_rate`` (Float64).

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> cohort_retention(example_dataset(), as_of="2021-06-30", store_id="001")
       sale_year  age_band  vehicles  retained  retention_rate
    0       2019         0         1         1             1.0
    1       2019         1         1         1             1.0
    """
    t = _tables(data, as_of)
    T = t.as_of
    sid = _check_store(t, store_id)
    if sid is None:
        raise TypeError(f"{caller()}: store_id is required")
    max_age = check_number(max_age, "max_age", minimum=1)
    n_years = math.floor(max_age)  # age years k = 0 .. n_years - 1

    sale = nw.col("sale_date")
    v = (
        t.vehicles.filter((nw.col("store_id") == sid) & nw.col("sold_here")
                          & ~sale.is_null() & (sale <= T))
        .select("vin", "sale_date", sale.dt.year().cast(nw.Int64).alias("_sale_year"),
                _month_day(sale).alias("_sale_md"))
        .with_columns(_full=_full_years(nw.lit(T)))
        .filter(nw.col("_full") >= 1)
    )
    # cars with age year k fully observed: _full >= k + 1
    base = v.group_by("_sale_year", "_full").agg(nw.len().alias("_n"))
    ks = _small_table({"age_band": list(range(n_years))}, t.orders)
    cells = (
        base.join(ks, how="cross").filter(nw.col("_full") >= nw.col("age_band") + 1)
        .group_by("_sale_year", "age_band").agg(nw.col("_n").sum().alias("vehicles"))
    )

    o = t.orders.filter((nw.col("store_id") == sid) & (nw.col("open_date") <= T)).select(
        "vin", "open_date")
    d = nw.col("open_date")
    # age year of an order: completed anniversaries strictly before its day
    y = d.dt.year().cast(nw.Int64)
    before = _sale_md_in(y) < _month_day(d)
    k = y - nw.col("_sale_year") - nw.when(before).then(0).otherwise(1)
    hits = (
        o.join(v, on="vin", how="inner")
        .filter(d > sale)
        .with_columns(age_band=k)
        .filter((nw.col("age_band") < nw.col("_full")) & (nw.col("age_band") < n_years))
        .select("vin", "_sale_year", "age_band").unique(["vin", "age_band"])
        .group_by("_sale_year", "age_band").agg(nw.len().alias("retained"))
    )
    out = (
        cells.join(hits, on=["_sale_year", "age_band"], how="left")
        .with_columns(nw.col("retained").fill_null(0))
        .with_columns(
            nw.col("_sale_year", "age_band", "vehicles", "retained").cast(nw.Int64),
        )
        .with_columns(retention_rate=nw.col("retained").cast(nw.Float64)
                      / nw.col("vehicles").cast(nw.Float64))
        .select(nw.col("_sale_year").alias("sale_year"), "age_band", "vehicles", "retained",
                "retention_rate")
        .sort("sale_year", "age_band")
    )
    return _finish(out, t, ["age_band"])


# --------------------------------------------------------------------------- funnel


def service_funnel(
    data: Any,
    *,
    as_of: Any = None,
    store_id: str,
    ro_types: Sequence[str] = ("maintenance", "warranty"),
    max_visits: int = 10,
    min_age_years: float | None = None,
):
    """The maintenance-sequence funnel: share of cars back for a 1st, 2nd, 3rd … service.

    Among the cars the store sold (home store, ``sold_here``, sale date on or before T,
    and, with ``min_age_years``, at least that old at T so that every car had time for
    the later visits), the number with at least k service visits at the store after the
    sale date and on or before T. A service visit is a day with at least one order of a
    type in ``ro_types`` (a maintenance and a warranty order on the same day are one
    visit). Practitioners quote such funnels as "94 % come for the first service, 63 %
    for the second, 42 % for the third …".

    Parameters
    ----------
    data:
        A Dataset or a mapping of tables (module docstring); the orders need ``ro_type``.
    as_of:
        The date T (default: a Dataset's ``meta["as_of"]``).
    store_id:
        The store.
    ro_types:
        Order types that count as a service.
    max_visits:
        Last visit number shown.
    min_age_years:
        Keep cars at least this old at T (None: all).

    Returns
    -------
    Frame of the orders' kind with one row per visit number 1 … ``max_visits``:
    ``visit``, ``vehicles`` (cars with at least ``visit`` visits, Int64), ``share``
    (of the base), ``conditional_share`` (of the cars with ``visit − 1`` visits; NaN
    when there are none) and ``base_vehicles`` (the cars counted, Int64).

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> f = service_funnel(example_dataset(), as_of="2021-06-30", store_id="007", max_visits=3)
    >>> f[["visit", "vehicles", "share", "conditional_share"]]
       visit  vehicles  share  conditional_share
    0      1         1    1.0                1.0
    1      2         0    0.0                0.0
    2      3         0    0.0                NaN
    """
    t = _tables(data, as_of, need_ro_type=True)
    T = t.as_of
    sid = _check_store(t, store_id)
    if sid is None:
        raise TypeError(f"{caller()}: store_id is required")
    max_visits = check_int(max_visits, "max_visits")
    if isinstance(ro_types, str) or not all(isinstance(r, str) for r in ro_types) \
            or not len(ro_types):
        raise TypeError(f"{caller()}: ro_types must be a non-empty list of order types, "
                        f"got {ro_types!r}")
    sale = nw.col("sale_date")
    v = t.vehicles.filter((nw.col("store_id") == sid) & nw.col("sold_here")
                          & ~sale.is_null() & (sale <= T))
    if min_age_years is not None:
        v = v.filter(_seconds_since(T, "sale_date", t.orders.implementation)
                     >= check_number(min_age_years, "min_age_years", minimum=0)
                     * _YEAR_SECONDS)
    v = v.select("vin", "sale_date")
    o = t.orders.filter((nw.col("store_id") == sid) & (nw.col("open_date") <= T)
                        & nw.col("ro_type").is_in(list(ro_types))).select("vin", "open_date")
    visits = (
        o.join(v, on="vin", how="inner").filter(nw.col("open_date") > sale)
        .with_columns(nw.col("open_date").dt.truncate("1d"))
        .unique(["vin", "open_date"])
        .group_by("vin").agg(nw.len().alias("_visits"))
        .group_by("_visits").agg(nw.len().alias("_n"))
    )
    ks = _small_table({"visit": list(range(0, max_visits + 1))}, t.orders)
    n_base = v.select(nw.len().alias("_base"))
    reached = (
        visits.join(ks, how="cross").filter(nw.col("_visits") >= nw.col("visit"))
        .group_by("visit").agg(nw.col("_n").sum().alias("vehicles"))
    )
    table = (
        ks.join(reached, on="visit", how="left")
        .with_columns(nw.col("vehicles").fill_null(0))
        .join(n_base, how="cross")
        .with_columns(nw.col("visit", "vehicles", "_base").cast(nw.Int64))
    )
    # visit 0 = the whole base (cars with >= 0 visits), so the previous step of visit 1
    # is the base
    table = table.with_columns(
        vehicles=nw.when(nw.col("visit") == 0).then(nw.col("_base"))
        .otherwise(nw.col("vehicles")))
    prev = table.select((nw.col("visit") + 1).alias("visit"),
                        nw.col("vehicles").alias("_prev"))
    vf = nw.col("vehicles").cast(nw.Float64)
    out = (
        table.filter(nw.col("visit") >= 1)
        .join(prev, on="visit", how="left")
        .with_columns(
            share=nw.when(nw.col("_base") > 0).then(vf / nw.col("_base").cast(nw.Float64))
            .otherwise(float("nan")),
            conditional_share=nw.when(nw.col("_prev") > 0)
            .then(vf / nw.col("_prev").cast(nw.Float64)).otherwise(float("nan")),
        )
        .select("visit", "vehicles", "share", "conditional_share",
                nw.col("_base").alias("base_vehicles"))
        .sort("visit")
    )
    return _finish(out, t)



# --------------------------------------------------------------------------- lost owners


#: Columns of :attr:`LostOwners.table`, in order.
LOST_COLUMNS: tuple[str, ...] = (
    "vin", "store_id", "first_order_date", "last_order_date", "gross_profit", "years",
    "yearly_gross_profit",
)


@dataclass(frozen=True)
class LostOwners:
    """The relationships lost in the year to T and the gross profit they brought.

    Attributes
    ----------
    table:
        One row per lost relationship, in the order of the defection table
        (:data:`LOST_COLUMNS`): ``vin``, ``store_id``, ``first_order_date``,
        ``last_order_date``, ``gross_profit`` (of all the relationship's orders at the
        store), ``years`` (last minus first order in years of 365.25 days, at least 1)
        and ``yearly_gross_profit`` (``gross_profit / years``).
    start, end:
        The window of the last orders, (start, end]: (T − lapse − 12 months,
        T − lapse months].
    """

    table: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def count(self) -> int:
        """The number of lost relationships."""
        return len(self.table)

    @property
    def mean_yearly_gross_profit(self) -> float:
        """The mean yearly gross profit of a lost relationship (NaN when none was lost)."""
        if not self.count:
            return float("nan")
        return float(self.table["yearly_gross_profit"].to_numpy(float).mean())

    @property
    def yearly_gross_profit(self) -> float:
        """The yearly gross profit lost: count × mean (0 when none was lost)."""
        return self.mean_yearly_gross_profit * self.count if self.count else 0.0


def lost_owners(
    data: Any,
    *,
    as_of: Any = None,
    store_id: str | None = None,
    lapse_months: int = 12,
    table: Any = None,
    margins: Margins | None = None,
) -> LostOwners:
    """The owners lost in the year to T and what they were worth to the store.

    A relationship ends at its last order when no order follows within ``lapse_months``
    (:func:`~crm_analysis.survival.defection_table`). The relationships counted as lost
    **in the year to T** are those that ended with a last order in (T − ``lapse_months``
    − 12 months, T − ``lapse_months``]: for each of them a full lapse window has passed
    without an order during that year. For each lost relationship the value is

        yearly gross profit = gross profit of its orders at the store
                              / max(1, (last order − first order) in days / 365.25)

    (gross profit by :func:`crm_analysis.margins.order_profit` of the orders on or before
    T; a relationship shorter
    than a year counts as one year, so a one-visit owner is worth that visit's profit a
    year). The store loses about count × mean of it a year
    (:attr:`LostOwners.yearly_gross_profit`), before the repairs the ageing cars would
    have needed.

    Parameters
    ----------
    data:
        A Dataset or a mapping of tables (module docstring) with ``repair_orders``
        (``vin``, ``store_id``, the amounts of :func:`~crm_analysis.margins.order_profit`)
        and, unless ``table`` is given, ``vehicles``.
    as_of:
        The date T (default: a Dataset's ``meta["as_of"]``).
    store_id:
        The store; None counts the relationships of every store.
    lapse_months:
        Months without an order after which a relationship has ended.
    table:
        The :func:`~crm_analysis.survival.defection_table` of the same data, T, store
        and ``lapse_months``, to reuse; built from ``data`` when None.
    margins:
        Margins of :func:`~crm_analysis.margins.order_profit` where orders carry no costs.

    Returns
    -------
    LostOwners

    Example
    -------
    >>> import pandas as pd
    >>> vehicles = pd.DataFrame({
    ...     "vin": ["A", "B"], "customer_id": ["c1", "c2"], "store_id": "001",
    ...     "sold_here": True, "sale_date": pd.to_datetime(["2018-01-01", "2019-01-01"])})
    >>> orders = pd.DataFrame({
    ...     "vin": ["A", "A", "B"], "store_id": "001",
    ...     "open_date": pd.to_datetime(["2020-01-01", "2022-12-31", "2023-03-01"]),
    ...     "labor_amount": [500.0, 300.0, 900.0], "labor_cost": [200.0, 200.0, 400.0],
    ...     "parts_amount": 0.0, "parts_cost": 0.0, "other_amount": 0.0})
    >>> lost = lost_owners({"vehicles": vehicles, "repair_orders": orders},
    ...                    as_of="2024-06-30", store_id="001")
    >>> str(lost.start.date()), str(lost.end.date()), lost.count
    ('2022-06-30', '2023-06-30', 2)
    >>> lost.table[["vin", "gross_profit", "years", "yearly_gross_profit"]].round(3)
      vin  gross_profit  years  yearly_gross_profit
    0   A         400.0  2.998              133.425
    1   B         500.0  1.000              500.000
    >>> round(lost.mean_yearly_gross_profit, 2), round(lost.yearly_gross_profit, 2)
    (316.71, 633.42)

    A's relationship lasted 1,095 days (2.998 years of 365.25 days) and brought 400 of
    gross profit; B came once, so its one order's profit counts for one year.
    """
    T = read_as_of(as_of, data)
    lapse = check_int(lapse_months, "lapse_months")
    orders = to_pandas(tables(data, ("repair_orders",))["repair_orders"], "repair_orders")
    require_columns(orders, ["vin", "store_id", "open_date"], "repair_orders")
    orders = select_store(orders, store_id)
    orders = orders[(orders["open_date"] <= T).fillna(False).to_numpy(bool)]
    if table is None:
        table = defection_table(data, as_of=T, store_id=store_id, lapse_months=lapse)
    df = to_pandas(table, "table")
    require_columns(df, ["vin", "store_id", "event", "first_order_date", "last_order_date"],
                    "defection table")
    start = pd.Timestamp(window_start(lapse + 12, as_of=T))
    end = pd.Timestamp(window_start(lapse, as_of=T))
    last = df["last_order_date"]
    ended = df[df["event"].fillna(False).to_numpy(bool)
               & (last > start).fillna(False).to_numpy(bool)
               & (last <= end).fillna(False).to_numpy(bool)]
    profit = order_profit(orders, margins=margins)
    gp = profit.groupby([profit["store_id"].astype(str), profit["vin"]])["gross_profit"].sum()
    keys = pd.MultiIndex.from_arrays([ended["store_id"].astype(str), ended["vin"]])
    gross = gp.reindex(keys).fillna(0.0).to_numpy(float)
    span = (ended["last_order_date"] - ended["first_order_date"]).dt.days / DAYS_PER_YEAR
    years = span.clip(lower=1.0).to_numpy(float)
    out = pd.DataFrame({
        "vin": ended["vin"].to_numpy(), "store_id": ended["store_id"].to_numpy(),
        "first_order_date": ended["first_order_date"].to_numpy(),
        "last_order_date": ended["last_order_date"].to_numpy(),
        "gross_profit": gross, "years": years, "yearly_gross_profit": gross / years,
    }, columns=list(LOST_COLUMNS))
    return LostOwners(out, start, end)

"""Survival of the store–vehicle relationship on the vehicle-age scale.

How long does an owner keep servicing the car at the store, and what makes owners leave?
DOMAIN.md section 3 defines it: a relationship **ends at its last order** when no order
follows within ``lapse_months`` (12); it is **right-censored** when the last order is more
recent than that; **time is vehicle age**; a car bought elsewhere and first seen at the
store at age *a* **enters at a** (left truncation); a car sold here and never serviced
ends at age 0.

Table builder (narwhals: pandas or Polars, eager or lazy, in; the same kind out):

- :func:`defection_table` — one row per vehicle relationship with a store.

Estimators (lifelines; any table of that shape, or the data itself, in):

- :func:`survival_by_vehicle_age` -> :class:`SurvivalResult` — Kaplan–Meier curves of
  "still a customer at age t" with left truncation (``entry=``), confidence bands,
  medians and at-risk counts, per group;
- :func:`compare_survival` — log-rank tests between groups, with left-truncated risk
  sets (see the function for why lifelines' own test is not used directly);
- :func:`defection_drivers` -> :class:`CoxResult` — a Cox model (lifelines
  ``CoxTimeVaryingFitter`` on the age scale) of what drives defection, with warranty as
  a time-varying covariate and a readable hazard-ratio table;
- :func:`warranty_cliff` -> :class:`WarrantyCliffResult` — defection hazard by age band
  (events per vehicle-year) with exact Poisson intervals, and the band where it jumps;
  :func:`annual_share` turns such a rate into the share of owners leaving within a year.

Ground truth of generated data (for tests and calibration): :func:`truth_table` and
:func:`true_survival`.

Censoring, precisely. Whether a relationship has ended is only known once ``lapse_months``
have passed after its last order. A relationship whose last order lies in the final
``lapse_months`` before T is therefore censored at the **horizon** H = T − lapse (its
``exit_date``), not at T: by H it is known to be alive, after H it is not known either
way. Censoring at T instead would keep the owners who left in the last year in the risk
set without ever counting their departure, and bias the curve upwards. A relationship
that begins after H (a car sold, or first seen, in the last ``lapse_months``) has no
follow-up yet: it stays in the table (``duration`` 0, censored) and the estimators leave
it out, with a count.

Example
-------
>>> import pandas as pd
>>> from crm_analysis.survival import defection_table, survival_by_vehicle_age
>>> vehicles = pd.DataFrame({
...     "vin": ["A", "B", "C", "D"], "customer_id": ["c1", "c2", "c3", "c4"],
...     "store_id": "001", "sold_here": [True, True, False, True],
...     "sale_date": pd.to_datetime(["2018-01-01", "2019-01-01", "2016-01-01", "2020-01-01"])})
>>> orders = pd.DataFrame({
...     "vin": ["A", "A", "C", "C", "D"], "store_id": "001",
...     "open_date": pd.to_datetime(["2018-07-01", "2020-01-01", "2019-01-01", "2024-03-01",
...                                  "2024-05-01"])})
>>> tab = defection_table({"vehicles": vehicles, "repair_orders": orders},
...                       as_of="2024-06-30")
>>> tab[["vin", "sold_here", "entry_age", "exit_age", "event"]].round(2)
  vin  sold_here  entry_age  exit_age  event
0   A       True        0.0      2.00   True
1   B       True        0.0      0.00   True
2   C      False        3.0      7.49  False
3   D       True        0.0      3.49  False

A left after its last order at age 2, B never came back, C (bought elsewhere) entered at
age 3 and D are still customers: censored at the horizon 2023-06-30.

>>> km = survival_by_vehicle_age(tab)
>>> km.survival_at([0, 1, 2.5, 4])[["age", "survival", "at_risk"]].round(4)
   age  survival  at_risk
0  0.0    0.6667        3
1  1.0    0.6667        2
2  2.5    0.3333        1
3  4.0    0.3333        1
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from crm_analysis._frames import (
    _datetime,
    _finish,
    _like,
    _nw_frame,
    _schema,
    _seconds_between,
    _string,
)
from crm_analysis._inputs import (
    caller,
    check_bool,
    check_confidence,
    check_int,
    check_number,
    read_as_of,
    require_columns,
    tables,
    to_pandas,
)
from crm_analysis.overview import DAYS_PER_YEAR, window_start
from crm_analysis.schema import Dataset

__all__ = [
    "DEFAULT_COVARIATES",
    "DEFECTION_COLUMNS",
    "CoxResult",
    "SurvivalResult",
    "WarrantyCliffResult",
    "annual_share",
    "compare_survival",
    "defection_drivers",
    "defection_table",
    "survival_by_vehicle_age",
    "true_survival",
    "truth_table",
    "warranty_cliff",
]

#: Columns of :func:`defection_table`, in order.
DEFECTION_COLUMNS: tuple[str, ...] = (
    "vin", "customer_id", "store_id", "sold_here", "sale_date", "entry_date",
    "first_order_date", "last_order_date", "exit_date", "entry_age", "last_order_age",
    "exit_age", "duration", "event", "age_known", "orders", "first_year_visits", "usage",
    "grade", "model", "customer_type", "region", "occupation", "annual_km",
    "in_warranty_at_exit",
)

#: Default covariates of :func:`defection_drivers` (warranty is added by
#: ``warranty_split``). ``customer_type`` is left out because on typical data it is
#: collinear with ``usage`` (every government car belongs to a government customer).
DEFAULT_COVARIATES: tuple[str, ...] = (
    "usage", "grade", "region", "first_year_visits", "sold_here",
)

#: Readable names of covariates in the hazard-ratio table.
COVARIATE_LABELS: dict[str, str] = {
    "usage": "vehicle usage",
    "grade": "vehicle grade",
    "model": "model",
    "region": "region",
    "customer_type": "customer type",
    "occupation": "occupation",
    "first_year_visits": "first-year visits",
    "orders": "orders",
    "sold_here": "sold here",
    "annual_km": "annual km",
    "warranty": "warranty",
}
#: Numeric covariates measured in larger units in the Cox model (hazard ratio per unit).
NUMERIC_UNITS: dict[str, float] = {"annual_km": 10_000.0}

_SECONDS_PER_YEAR = 86_400.0 * DAYS_PER_YEAR
_MIN_ANNUAL_KM_AGE = 0.25  # years: a reading in the first weeks says little about km/year
_ONE_DAY = 1.0 / DAYS_PER_YEAR
_MISSING = "(missing)"


# =========================================================================== inputs


def _years(later: nw.Expr, earlier: nw.Expr, impl: Any) -> nw.Expr:
    # + 0.0 turns the -0.0 pandas can give for a zero span into 0.0
    return (_seconds_between(later, earlier, impl).cast(nw.Float64) / _SECONDS_PER_YEAR
            + 0.0)


class _Keys:
    """How :func:`defection_table` names a relationship (a store and a vehicle).

    By default by the ``store_id`` and ``vin`` strings. For pandas frames with ``object``
    string keys by integer codes instead: ``_rel`` numbers the (store, vin) pairs and
    ``_vin`` the vehicles, both in the sort order of the strings, so that every string is
    hashed once and the group-bys, joins and the final sort work on integers (most of the
    time pandas spent on this table went into hashing VINs). Other pandas string dtypes
    keep the strings: they compare to nullable booleans, which the output shows.
    """

    def __init__(self, columns: list[str], own: list[nw.Expr], vehicle: str,
                 home: nw.Expr, stores: pd.Series | None = None,
                 vins: pd.Series | None = None) -> None:
        self.columns = columns  # the key of orders and relationships
        self.own = own  # the key of a vehicle's relationship with its home store
        self.vehicle = vehicle  # joins relationships to vehicles
        self.home = home  # the relationship is the one with the vehicle's home store
        self._stores, self._vins = stores, vins  # the string of each code
        self._n = max(len(vins), 1) if vins is not None else 1  # _rel = store * _n + vin

    @classmethod
    def make(cls, orders: nw.LazyFrame, keep: nw.Expr, vehicles: nw.LazyFrame
             ) -> tuple[nw.LazyFrame, nw.LazyFrame, _Keys]:
        """The orders to ``keep``, the vehicles, and how they name relationships."""
        if orders.implementation.is_pandas():
            o, v = orders.collect().to_native(), vehicles.collect().to_native()
            if all(x.dtype == object for x in (o["vin"], o["store_id"], v["vin"],
                                               v["_home_store"])):
                kept = orders.select(keep.alias("k")).collect().to_native()["k"]
                return cls._codes(o, kept.to_numpy(bool), v)
        keys = cls(["store_id", "vin"], [nw.col("_home_store").alias("store_id"),
                                         nw.col("vin")],
                   "vin", nw.col("_home_store") == nw.col("store_id"))
        return orders.filter(keep), vehicles, keys

    @classmethod
    def _codes(cls, o: pd.DataFrame, kept: np.ndarray, v: pd.DataFrame
               ) -> tuple[nw.LazyFrame, nw.LazyFrame, _Keys]:
        n = len(o)
        vin, vins = _sorted_codes(pd.concat([o["vin"], v["vin"]], ignore_index=True))
        store, stores = _sorted_codes(pd.concat([o["store_id"], v["_home_store"]],
                                                ignore_index=True), few=True)
        keys = cls(["_rel"], [nw.col("_home_rel").alias("_rel")], "_vin",
                   nw.col("_home_rel") == nw.col("_rel"), stores, vins)
        rel = np.where((store >= 0) & (vin >= 0), store * keys._n + vin, -1)
        # a new frame of the same arrays (copy=False): copying 10M orders takes seconds
        o = pd.DataFrame({**{c: o[c].array for c in o.columns if c not in ("vin", "store_id")},
                          "_rel": rel[:n]}, copy=False)
        if not kept.all():
            o = o.loc[kept].reset_index(drop=True)
        v = v.drop(columns=["vin"]).assign(_vin=vin[n:], _home_rel=rel[n:])
        return nw.from_native(o).lazy(), nw.from_native(v).lazy(), keys

    @staticmethod
    def cached(rel: nw.LazyFrame) -> nw.LazyFrame:
        """``rel``, computed once by Polars although the plan uses it twice."""
        if rel.implementation.is_polars():
            return nw.from_native(rel.to_native().cache())
        return rel

    def with_vehicle(self, rel: nw.LazyFrame) -> nw.LazyFrame:
        """``rel`` with the column that joins it to the vehicles."""
        if self._vins is None:
            return rel
        return rel.with_columns((nw.col("_rel") % self._n).alias("_vin"))

    def to_orders(self, orders: nw.LazyFrame, rel: nw.LazyFrame) -> nw.LazyFrame:
        """``orders`` with the columns of ``rel``, which has one row for each key of the
        orders."""
        if self._vins is None:
            return orders.join(rel, on=self.columns, how="inner")
        # pandas: a lookup instead of a merge, which copies the 10M orders twice
        o, r = orders.collect().to_native(), rel.collect().to_native()
        at = pd.Index(r["_rel"]).get_indexer(o["_rel"])
        cols = {c: o[c].array for c in o.columns}
        cols.update((c, r[c].array.take(at)) for c in r.columns if c != "_rel")
        return nw.from_native(pd.DataFrame(cols, copy=False)).lazy()

    def largest(self, frame: nw.LazyFrame, column: str) -> nw.LazyFrame:
        """One row per key of ``frame``: the one with the largest ``column`` (strings)."""
        if self._vins is None:
            return frame.unique(self.columns, keep="last", order_by=[column])
        # pandas: a string max or sort is slow; sort only the keys with several rows
        df = frame.collect().to_native()
        tied = df["_rel"].duplicated(keep=False).to_numpy()
        if tied.any():
            last = (df.loc[tied].sort_values(column, kind="stable")
                    .drop_duplicates("_rel", keep="last"))
            df = pd.concat([df.loc[~tied], last])
        return nw.from_native(df).lazy()

    def table(self, rel: nw.LazyFrame) -> nw.LazyFrame:
        """The :data:`DEFECTION_COLUMNS` of ``rel``, sorted by ``store_id`` and ``vin``."""
        if self._vins is None:
            return rel.select(*DEFECTION_COLUMNS).sort("store_id", "vin")
        names = [c for c in DEFECTION_COLUMNS if c not in ("store_id", "vin")]
        df = rel.select("_rel", *names).sort("_rel").collect().to_native()
        code = df["_rel"].to_numpy()
        cols = {c: df[c].array for c in names}
        cols["store_id"] = self._stores.array.take(code // self._n)
        cols["vin"] = self._vins.array.take(code % self._n)
        return nw.from_native(pd.DataFrame({c: cols[c] for c in DEFECTION_COLUMNS},
                                           copy=False)).lazy()


def _sorted_codes(values: pd.Series, *, few: bool = False) -> tuple[np.ndarray, pd.Series]:
    """Codes 0 … k−1 of the distinct values in their sort order (−1 for missing), and
    the value of each code (a Series of the dtype of ``values``).

    What ``pandas.factorize(values, sort=True)`` gives, but for strings with Arrow's
    dictionary encoding and sort, several times faster than pandas' hashing and sorting
    of Python strings (the order is the same: by code point). With ``few`` distinct
    values pandas is faster.
    """
    enc = None
    if not few:
        try:
            enc = pa.array(values, type=pa.large_string(), from_pandas=True).dictionary_encode()
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all strings
            pass
    if enc is None:
        codes = pd.factorize(values, sort=True)[0].astype(np.int64)
    else:
        order = pc.sort_indices(enc.dictionary).to_numpy()
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(len(order))
        codes = np.full(len(values), -1, np.int64)
        valid = enc.indices.is_valid().to_numpy(zero_copy_only=False)
        if len(order):
            codes[valid] = rank[enc.indices.fill_null(0).to_numpy()[valid]]
    valid = codes >= 0
    first = np.zeros(int(codes.max(initial=-1)) + 1, np.intp)
    first[codes[valid]] = np.flatnonzero(valid)
    return codes, values.iloc[first].reset_index(drop=True)


# =========================================================================== the table


def defection_table(
    data: Any,
    *,
    as_of: Any = None,
    store_id: str | None = None,
    lapse_months: int = 12,
    warranty_years: float = 3.0,
) -> Any:
    """One row per vehicle relationship with a store: entry, exit, defected or censored.

    A relationship is a (store, vehicle) pair with at least one order at the store on or
    before ``as_of`` (T), or a car sold by the store (``sold_here`` at its home store,
    sold on or before T or on an unknown date) that never came back. With ``store_id=None``
    every store's relationships are listed; a car that services at two stores has two.

    Columns (ages in years of 365.25 days since ``sale_date``; H = T − ``lapse_months``
    calendar months, the horizon up to which defection can be judged):

    ``vin``, ``customer_id``, ``store_id``
        the car, its owner (vehicles table; the customer on the car's latest order when
        the car is not in the vehicles table) and the store of the relationship.
    ``sold_here``
        the store sold the car (its home store and ``vehicles.sold_here``); a car sold
        by store A that services at store B is bought elsewhere for B.
    ``sale_date``, ``entry_date``
        sale date; start of the relationship: the sale for an own sale, the first order
        for a car bought elsewhere (null for an own sale with an unknown sale date).
    ``first_order_date``, ``last_order_date``
        first and last order at the store up to T (null when never serviced).
    ``exit_date``
        end of the observed relationship: the last contact (last order, or the sale for
        a car never serviced) when the relationship ended (``event``), else the horizon H
        (or ``entry_date`` when the relationship began after H).
    ``entry_age``, ``last_order_age``, ``exit_age``
        vehicle age at ``entry_date`` (0 for own sales), at the last order and at
        ``exit_date``; null when the age is unknown (see ``age_known``).
    ``duration``
        ``exit_date − entry_date`` in years (known even without a sale date for a car
        bought elsewhere); 0 for a car never serviced or a single-visit relationship.
    ``event``
        the relationship ended (defected): the last contact is on or before H, i.e. no
        order in the ``lapse_months`` before T. False (censored) otherwise, and for a
        never-serviced own sale with an unknown sale date (undecidable).
    ``age_known``
        the car can be placed on the age axis: sale date known and not after the entry.
        Rows without it (unknown sale date, or a sale date after the first order) stay
        in the table with null ages; the survival estimators leave them out and count
        them.
    ``orders``
        orders at the store up to T (Int64; 0 for a car never serviced).
    ``first_year_visits``
        orders in the first 12 calendar months of the relationship,
        [entry_date, entry_date + 12 months), up to T (incomplete when the relationship
        began less than a year before T; null when the entry is unknown).
    ``usage``, ``grade``, ``model``
        from the vehicles table; ``customer_type``, ``region``, ``occupation`` from the
        customers table (null without it).
    ``annual_km``
        kilometres a year from the odometer: the latest reading at the store divided by
        the age at that order (null without readings, age or when that age < 0.25 y).
    ``in_warranty_at_exit``
        ``exit_age < warranty_years`` (null when the age is unknown).

    Parameters
    ----------
    data:
        A :class:`~crm_analysis.schema.Dataset` or a mapping ``{"vehicles": ...,
        "repair_orders": ..., "customers": ...}`` (customers optional) of pandas or
        Polars frames, eager or lazy. Orders need ``vin``, ``store_id``, ``open_date``
        (optionally ``customer_id``, ``mileage_km``); vehicles ``vin``, ``store_id``,
        ``sold_here``, ``sale_date`` (optionally ``customer_id``, ``usage``, ``grade``,
        ``model``), one row per VIN.
    as_of:
        The analysis date T (default: the data's own, ``meta["as_of"]`` of a Dataset or
        the last order). Orders after T are ignored, so the table can be built at any
        past date.
    store_id:
        Keep one store's relationships.
    lapse_months:
        A relationship has ended when no order follows its last one within this many
        calendar months (DOMAIN.md section 3).
    warranty_years:
        Factory warranty in years, for ``in_warranty_at_exit``.

    Returns
    -------
    A frame of the orders' kind (pandas for a Dataset) with :data:`DEFECTION_COLUMNS`,
    sorted by ``store_id`` and ``vin``.

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> t = defection_table(example_dataset(), as_of="2022-06-30")
    >>> t[["store_id", "sold_here", "entry_age", "exit_age", "event", "age_known"]]
      store_id  sold_here  entry_age  exit_age  event  age_known
    0      001       True        0.0  1.029432   True       True
    1      001      False        NaN       NaN   True      False
    2      007       True        0.0  0.758385   True       True
    """
    got = tables(data, ("repair_orders", "vehicles"), ("customers",))
    o_in = _nw_frame(got["repair_orders"], "repair_orders")
    t = read_as_of(as_of, data).to_pydatetime()
    lapse_months = check_int(lapse_months, "lapse_months")
    warranty_years = check_number(warranty_years, "warranty_years", minimum=0, strict=True)
    horizon = window_start(lapse_months, as_of=t)

    eager = isinstance(o_in, nw.DataFrame)
    o = o_in.lazy()
    impl = o.implementation
    osch = _schema(o)
    require_columns(osch, ["vin", "store_id", "open_date"], "repair_orders")
    has_ocust = "customer_id" in osch
    has_km = "mileage_km" in osch
    if has_km and not osch["mileage_km"].is_numeric():
        raise TypeError(f"{caller()}: column repair_orders.mileage_km must be numeric, got "
                        f"{osch['mileage_km']}")
    o = o.select(
        _string(osch, "vin"), _string(osch, "store_id"),
        _datetime(osch, "open_date", "repair_orders"),
        *([_string(osch, "customer_id")] if has_ocust else []),
        *([nw.col("mileage_km").cast(nw.Float64)] if has_km else []),
    )
    date_type = _schema(o)["open_date"]
    keep = ~nw.col("vin").is_null() & ~nw.col("store_id").is_null() & (nw.col("open_date") <= t)
    if store_id is not None:
        keep = keep & (nw.col("store_id") == str(store_id))

    v = _like(got["vehicles"], o, "vehicles")
    vsch = _schema(v)
    require_columns(vsch, ["vin", "store_id", "sold_here", "sale_date"], "vehicles")
    sold = nw.col("sold_here") if vsch["sold_here"] == nw.Boolean \
        else nw.col("sold_here").cast(nw.Boolean)
    sale = _datetime(vsch, "sale_date", "vehicles")
    if vsch["sale_date"] != date_type:
        sale = sale.cast(date_type)
    vattr = ("usage", "grade", "model")
    v = v.select(
        _string(vsch, "vin"),
        _string(vsch, "store_id").alias("_home_store"),
        sold.fill_null(False).alias("_home_sold"),
        sale.alias("sale_date"),
        (_string(vsch, "customer_id") if "customer_id" in vsch
         else nw.lit(None, dtype=nw.String)).alias("_vehicle_customer"),
        *((_string(vsch, c) if c in vsch else nw.lit(None, dtype=nw.String)).alias(c)
          for c in vattr),
    ).filter(~nw.col("vin").is_null())
    dup = (v.group_by("vin").agg(nw.len().alias("n")).filter(nw.col("n") > 1)
           .select("vin").head(5).collect())
    if len(dup):
        raise ValueError(f"{caller()}: table 'vehicles' must have one row per vin; duplicated: "
                         f"{dup['vin'].to_list()}")

    # ---- relationships: one group-by of the orders for the dates and counts (and the
    # last dates with an odometer reading / a customer), the own sales never serviced, the
    # vehicle and the entry date; then the entry dates back to the orders, for the
    # first-year visits, the last reading and the last customer (one more group-by). No
    # window functions (slow with string keys in Polars); pandas uses integer keys (_Keys).
    o, v, keys = _Keys.make(o, keep, v)
    key = keys.columns
    dated = [("mileage_km", "_km_date")] if has_km else []
    dated += [("customer_id", "_customer_date")] if has_ocust else []
    seen = o.with_columns(
        nw.when(~nw.col(c).is_null()).then(nw.col("open_date")).alias(d) for c, d in dated
    ).group_by(*key).agg(
        nw.col("open_date").min().alias("first_order_date"),
        nw.col("open_date").max().alias("last_order_date"),
        nw.len().alias("orders"),
        *(nw.col(d).max() for _, d in dated),
    ).with_columns(nw.col("orders").cast(nw.Int64))
    own = v.filter(nw.col("_home_sold") & ~nw.col("_home_store").is_null()
                   & (nw.col("sale_date").is_null() | (nw.col("sale_date") <= t)))
    if store_id is not None:
        own = own.filter(nw.col("_home_store") == str(store_id))
    # with the own sales: those never serviced get no dates and 0 orders
    dates = ["first_order_date", "last_order_date", *(d for _, d in dated)]
    own = own.select(*keys.own, *(nw.lit(None, dtype=date_type).alias(d) for d in dates),
                     nw.lit(0).cast(nw.Int64).alias("orders"))
    rel = nw.concat([seen, own.select(seen.collect_schema().names())]).group_by(*key).agg(
        nw.col("first_order_date").min(), nw.col("last_order_date").max(),
        nw.col("orders").sum(), *(nw.col(d).max() for _, d in dated),
    ).with_columns(nw.col("orders").cast(nw.Int64))  # DuckDB sums to a 128-bit decimal
    rel = keys.with_vehicle(rel).join(v, on=keys.vehicle, how="left")

    first, last, sale_c = nw.col("first_order_date"), nw.col("last_order_date"), \
        nw.col("sale_date")
    sold_here = nw.col("_home_sold").fill_null(False) & keys.home.fill_null(False)
    rel = rel.with_columns(sold_here.alias("sold_here"))
    entry = nw.when(nw.col("sold_here")).then(sale_c).otherwise(first)
    rel = keys.cached(rel.with_columns(entry.alias("entry_date")))

    # ---- from the orders again, with the entry date: first-year visits (orders in
    # [entry, entry + 12 months)), the latest odometer reading (the largest on its day)
    # and the customer on the latest order with one (the largest id on that day)
    back = keys.to_orders(
        o.select(*key, "open_date", *(c for c, _ in dated)),
        rel.select(*key, "entry_date",
                   nw.col("entry_date").dt.offset_by("12mo").alias("_fy_end"),
                   *(d for _, d in dated)))
    back = back.with_columns(
        # an integer 0/1: SQL engines (Spark) do not sum booleans
        ((nw.col("open_date") >= nw.col("entry_date"))
         & (nw.col("open_date") < nw.col("_fy_end"))).cast(nw.Int64).alias("_fy"),
        *([nw.when(nw.col("open_date") == nw.col("_km_date")).then(nw.col("mileage_km"))
           .alias("_km")] if has_km else []),
    )
    facts = back.group_by(*key).agg(nw.col("_fy").sum(),
                                    *([nw.col("_km").max()] if has_km else []))
    if has_ocust:
        owner = keys.largest(
            back.filter((nw.col("open_date") == nw.col("_customer_date"))
                        & ~nw.col("customer_id").is_null())
            .select(*key, nw.col("customer_id").alias("_order_customer")),
            "_order_customer")
        facts = facts.join(owner, on=key, how="left")
    else:
        facts = facts.with_columns(nw.lit(None, dtype=nw.String).alias("_order_customer"))
    rel = rel.join(facts, on=key, how="left")

    # ---- owner and customer attributes
    rel = rel.with_columns(
        nw.when(nw.col("_vehicle_customer").is_null()).then(nw.col("_order_customer"))
        .otherwise(nw.col("_vehicle_customer")).alias("customer_id")
    )
    cattr = ("customer_type", "region", "occupation")
    if got["customers"] is not None:
        c = _like(got["customers"], o, "customers")
        csch = _schema(c)
        require_columns(csch, ["customer_id"], "customers")
        c = c.select(
            _string(csch, "customer_id"),
            *((_string(csch, k) if k in csch else nw.lit(None, dtype=nw.String)).alias(k)
              for k in cattr),
        ).unique("customer_id", keep="any")
        rel = rel.join(c, on="customer_id", how="left")
    else:
        rel = rel.with_columns(*(nw.lit(None, dtype=nw.String).alias(k) for k in cattr))

    # ---- exit, event and ages
    # the last contact: the last order, or the sale for an own sale (orders dated before
    # the sale, e.g. pre-delivery inspections, do not end a relationship before it began)
    contact = (
        nw.when(~nw.col("sold_here")).then(last)
        .when(last.is_null()).then(sale_c)
        .when(sale_c.is_null()).then(last)
        .when(last > sale_c).then(last)
        .otherwise(sale_c)
    )
    rel = rel.with_columns(contact.alias("_contact"))
    event = (nw.col("_contact") <= horizon).fill_null(False)
    start = nw.when(nw.col("entry_date").is_null()).then(first).otherwise(nw.col("entry_date"))
    censored_exit = (nw.when(start > horizon).then(start)
                     .otherwise(nw.lit(horizon).cast(date_type)))
    rel = rel.with_columns(
        event.alias("event"),
        nw.when(event).then(nw.col("_contact")).otherwise(censored_exit).alias("exit_date"),
    )
    age_known = (~sale_c.is_null() & ~nw.col("entry_date").is_null()
                 & (nw.col("entry_date") >= sale_c)).fill_null(False)
    rel = rel.with_columns(age_known.alias("age_known"))

    def age(col: str) -> nw.Expr:
        return nw.when(nw.col("age_known")).then(_years(nw.col(col), sale_c, impl))

    rel = rel.with_columns(
        nw.when(nw.col("age_known") & nw.col("sold_here")).then(nw.lit(0.0))
        .otherwise(age("entry_date")).alias("entry_age"),
        age("last_order_date").alias("last_order_age"),
        age("exit_date").alias("exit_age"),
        _years(nw.col("exit_date"), nw.col("entry_date"), impl).alias("duration"),
    )
    fy_count = nw.when(~nw.col("entry_date").is_null()).then(nw.col("_fy").fill_null(0))
    if not impl.is_pandas_like():  # pandas: NaN for unknown -> nullable Int64 below
        fy_count = fy_count.cast(nw.Int64)
    # annual km from the latest odometer reading at the store
    km_age = _years(nw.col("_km_date"), sale_c, impl)
    annual_km = (nw.when(~sale_c.is_null() & (km_age >= _MIN_ANNUAL_KM_AGE))
                 .then(nw.col("_km") / km_age) if has_km
                 else nw.lit(None, dtype=nw.Float64))
    rel = rel.with_columns(fy_count.alias("first_year_visits"), annual_km.alias("annual_km"))
    rel = rel.with_columns(
        (nw.col("exit_age") < warranty_years).alias("in_warranty_at_exit"),
        nw.col("entry_age", "last_order_age", "exit_age", "duration", "annual_km")
        .cast(nw.Float64),
    )
    out = keys.table(rel)
    native = _finish(out, eager)
    if isinstance(native, pd.DataFrame):
        native["first_year_visits"] = native["first_year_visits"].astype("Int64")
        # pandas has no null in a plain bool column: unknown ages -> pandas.NA
        native["in_warranty_at_exit"] = pd.array(
            np.where(native["age_known"].to_numpy(bool),
                     native["in_warranty_at_exit"].to_numpy(bool), False),
            dtype="boolean")
        native.loc[~native["age_known"].to_numpy(bool), "in_warranty_at_exit"] = pd.NA
    return native


# =========================================================================== helpers


def _table(table_or_data: Any, as_of: Any, store_id: Any, lapse_months: int
           ) -> pd.DataFrame:
    """A pandas defection table from a table, or built from the data."""
    if isinstance(table_or_data, Dataset | Mapping):  # checked here: errors name the caller
        table_or_data = defection_table(
            table_or_data, as_of=read_as_of(as_of, table_or_data), store_id=store_id,
            lapse_months=check_int(lapse_months, "lapse_months"))
    elif as_of is not None or store_id is not None:
        raise TypeError(f"{caller()}: as_of and store_id apply when data (a Dataset or a "
                        "mapping of tables) is passed, not a defection table; filter the "
                        "table instead")
    df = to_pandas(table_or_data, "table_or_data")
    require_columns(df, ["entry_age", "exit_age", "event"], "defection table")
    return df


def _usable(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rows that can enter a survival estimate, and counts of those left out."""
    entry = pd.to_numeric(df["entry_age"], errors="coerce").to_numpy(float)
    exit_ = pd.to_numeric(df["exit_age"], errors="coerce").to_numpy(float)
    event = df["event"].fillna(False).to_numpy(bool)
    known = np.isfinite(entry) & np.isfinite(exit_)
    if "age_known" in df:
        known &= df["age_known"].fillna(False).to_numpy(bool)
    bad = known & (exit_ < entry)
    no_follow_up = known & ~bad & ~event & (exit_ <= entry)
    keep = known & ~bad & ~no_follow_up
    out = df.loc[keep].copy()
    out["entry_age"] = entry[keep]
    out["exit_age"] = exit_[keep]
    out["event"] = event[keep]
    excluded = {
        "unknown_age": int((~known).sum()),
        "no_follow_up": int(no_follow_up.sum()),
        "exit_before_entry": int(bad.sum()),
    }
    return out.reset_index(drop=True), excluded


def _group_labels(df: pd.DataFrame, by: Any) -> tuple[pd.Series, list[str]]:
    """A string label per row ('all' without ``by``) and the ``by`` columns."""
    if by is None:
        return pd.Series("all", index=df.index), []
    cols = [by] if isinstance(by, str) else list(by)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(f"{caller()}: by={by!r}: the defection table has no column(s) {missing}; "
                       f"it has {list(df.columns)}")
    parts = [df[c].astype(object).where(df[c].notna(), _MISSING).astype(str) for c in cols]
    label = parts[0]
    for p in parts[1:]:
        label = label + " / " + p
    return label, cols


def _at_risk(entry: np.ndarray, exit_: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Relationships under observation at each age t: entry <= t <= exit (lifelines')."""
    return (np.searchsorted(np.sort(entry), t, side="right")
            - np.searchsorted(np.sort(exit_), t, side="left"))


def _step(index: np.ndarray, values: np.ndarray, t: np.ndarray, before: float) -> np.ndarray:
    """Right-continuous step function through (index, values) evaluated at t."""
    pos = np.searchsorted(index, t, side="right") - 1
    out = np.where(pos >= 0, values[np.clip(pos, 0, None)], before)
    return out.astype(float)


# =========================================================================== Kaplan-Meier


class SurvivalResult:
    """Kaplan–Meier curves of the relationship on the vehicle-age scale, by group.

    Fit with :meth:`fit` (or :func:`survival_by_vehicle_age`); results are in the
    attributes ending in ``_``, as in lifelines.

    Parameters
    ----------
    confidence:
        Level of the bands (lifelines' exponential Greenwood intervals).
    min_at_risk:
        Left truncation makes the earliest risk sets of cars bought elsewhere tiny: the
        first walk-ins enter one by one at different ages, and one early departure out
        of three at risk takes a third off the whole curve for good (lifelines computes
        that without complaint); if the risk set empties before later entries arrive,
        the product-limit is 0 from then on and lifelines raises ``StatError`` ("too few
        early truncation times"). So a group whose risk set at its first departure is
        below ``min_at_risk`` (when nobody in it enters at age 0), or whose risk set
        empties and refills, is estimated **conditionally** on the relationship lasting
        to an age ``a0``: the first departure age, after the last emptying, at which
        at least ``min_at_risk`` are at risk. Rows ending before ``a0`` are left out
        (counted), the others enter at ``max(entry, a0)``, and the curve starts at 1 at
        ``a0`` (recorded in :attr:`conditional_on_`; 0 = not conditional). Own sales
        all enter at 0, so their curves are conditional only if a tiny group empties.

    Attributes
    ----------
    curve_:
        Tidy frame ``group, age, survival, lo, hi, at_risk`` — the step function at each
        age where something happens (lifelines' timeline), ``at_risk`` in lifelines'
        sense (entry <= age <= exit).
    median_:
        Median relationship length per group as a vehicle age (Series; NaN when the
        curve does not fall to 0.5). :attr:`median_ci_` holds it with its interval.
    at_risk_:
        ``group, age, at_risk`` at the integer ages 0, 1, … up to the last exit.
    fitters_:
        The lifelines ``KaplanMeierFitter`` of each group.
    counts_:
        Per group: ``relationships`` used, ``events``, ``first_entry`` and
        ``conditional_on``.
    excluded_:
        Rows left out and why: ``unknown_age`` (no sale date, or a sale after the first
        order), ``no_follow_up`` (began after the horizon T − lapse: censored at entry),
        ``exit_before_entry`` (inconsistent rows), ``before_conditioning_age`` (ended
        before a group's ``a0``).
    """

    def __init__(self, confidence: float = 0.95, min_at_risk: int = 10) -> None:
        self.confidence = confidence
        self.min_at_risk = min_at_risk

    def fit(self, table: Any, by: str | Sequence[str] | None = None) -> SurvivalResult:
        """Fit the curves on a defection table (pandas or Polars); returns ``self``."""
        from lifelines import KaplanMeierFitter
        from lifelines.utils import median_survival_times

        alpha = 1.0 - check_confidence(self.confidence)
        min_at_risk = check_int(self.min_at_risk, "min_at_risk")
        df = to_pandas(table, "table")
        require_columns(df, ["entry_age", "exit_age", "event"], "defection table")
        df, excluded = _usable(df)
        labels, by_cols = _group_labels(df, by)
        self.by_ = by_cols
        excluded["before_conditioning_age"] = 0
        self.fitters_: dict[str, Any] = {}
        self._spans: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        curves, medians, counts, risk = [], [], [], []
        for group in sorted(labels.unique()):
            g = df.loc[labels == group]
            entry, exit_ = g["entry_age"].to_numpy(), g["exit_age"].to_numpy()
            event = g["event"].to_numpy(bool)
            a0 = _conditioning_age(entry, exit_, event, min_at_risk)
            if a0 > 0:
                keep = exit_ >= a0
                excluded["before_conditioning_age"] += int((~keep).sum())
                entry, exit_, event = np.maximum(entry[keep], a0), exit_[keep], event[keep]
            if len(entry) == 0:
                continue
            kmf = KaplanMeierFitter(alpha=alpha, label=str(group))
            kmf.fit(exit_, event, entry=entry)
            self.fitters_[group] = kmf
            self._spans[group] = (entry, exit_)
            sf = kmf.survival_function_.iloc[:, 0]
            ci = kmf.confidence_interval_
            timeline = sf.index.to_numpy(float)
            curves.append(pd.DataFrame({
                "group": group, "age": timeline, "survival": sf.to_numpy(float),
                "lo": ci.iloc[:, 0].to_numpy(float), "hi": ci.iloc[:, 1].to_numpy(float),
                "at_risk": _at_risk(entry, exit_, timeline).astype("int64"),
            }))
            med = float(kmf.median_survival_time_)
            mci = median_survival_times(kmf.confidence_interval_)
            medians.append({"group": group,
                            "median": med if math.isfinite(med) else np.nan,
                            "lo": _finite(mci.iloc[0, 0]), "hi": _finite(mci.iloc[0, 1])})
            counts.append({"group": group, "relationships": len(entry),
                           "events": int(event.sum()), "first_entry": float(entry.min()),
                           "conditional_on": a0})
            ages = np.arange(0, int(np.floor(exit_.max())) + 1, dtype=float)
            risk.append(pd.DataFrame({"group": group, "age": ages,
                                      "at_risk": _at_risk(entry, exit_, ages)
                                      .astype("int64")}))
        if not self.fitters_:
            raise ValueError(f"{caller()}: no relationship can be placed on the age axis "
                             f"(left out: {excluded})")
        self.curve_ = pd.concat(curves, ignore_index=True)
        self.median_ci_ = pd.DataFrame(medians)
        self.median_ = self.median_ci_.set_index("group")["median"]
        self.counts_ = pd.DataFrame(counts)
        self.conditional_on_ = self.counts_.set_index("group")["conditional_on"]
        self.at_risk_ = pd.concat(risk, ignore_index=True)
        self.excluded_ = excluded
        return self

    @property
    def groups_(self) -> list[str]:
        """Group labels, sorted ('all' without ``by``)."""
        return list(self.fitters_)

    def survival_at(self, ages: Iterable[float] | float) -> pd.DataFrame:
        """Survival with its band and at-risk count at the given ages, per group.

        Before a group's first age the survival is 1; after its last exit it is NaN
        (not observed). Returns ``group, age, survival, lo, hi, at_risk``.
        """
        if not hasattr(self, "fitters_"):
            raise AttributeError(f"{caller()}: call fit() first")
        a = np.atleast_1d(np.asarray(list(ages) if not np.isscalar(ages) else [ages],
                                     dtype=float))
        rows = []
        for group in self.fitters_:
            c = self.curve_[self.curve_["group"] == group]
            idx = c["age"].to_numpy()
            ok = a <= idx.max()
            s = np.where(ok, _step(idx, c["survival"].to_numpy(), a, 1.0), np.nan)
            lo = np.where(ok, _step(idx, c["lo"].to_numpy(), a, 1.0), np.nan)
            hi = np.where(ok, _step(idx, c["hi"].to_numpy(), a, 1.0), np.nan)
            entry, exit_ = self._spans[group]
            rows.append(pd.DataFrame({"group": group, "age": a, "survival": s, "lo": lo,
                                      "hi": hi,
                                      "at_risk": _at_risk(entry, exit_, a).astype("int64")}))
        return pd.concat(rows, ignore_index=True)

    def __repr__(self) -> str:
        if not hasattr(self, "fitters_"):
            return f"SurvivalResult(confidence={self.confidence}, unfitted)"
        n = int(self.counts_["relationships"].sum())
        return (f"SurvivalResult(groups={self.groups_}, relationships={n}, "
                f"excluded={sum(self.excluded_.values())})")


def _conditioning_age(entry: np.ndarray, exit_: np.ndarray, event: np.ndarray,
                      min_at_risk: int) -> float:
    """Age a0 to condition a curve on (0: none); see :class:`SurvivalResult`."""
    ev_times = np.unique(exit_[event])
    if not len(ev_times):
        return 0.0
    n_at = _at_risk(entry, exit_, ev_times)
    # the risk set empties (everyone observed so far has left) while others enter later
    times = np.unique(np.r_[entry, exit_])
    pop = (np.searchsorted(np.sort(entry), times, side="right")
           - np.searchsorted(np.sort(exit_), times, side="right"))
    gaps = times[(pop == 0) & (times < entry.max())]
    small_start = entry.min() > 0 and n_at[0] < min_at_risk
    if not len(gaps) and not small_start:
        return 0.0
    after = ev_times > (gaps.max() if len(gaps) else -np.inf)
    if not after.any():  # nobody leaves after the last gap: start at the next entry
        return float(entry[entry > gaps.max()].min())
    big = after & (n_at >= min_at_risk)
    return float(ev_times[big][0] if big.any() else ev_times[after][0])


def _finite(x: Any) -> float:
    x = float(x)
    return x if math.isfinite(x) else np.nan


def survival_by_vehicle_age(
    table_or_data: Any,
    *,
    as_of: Any = None,
    store_id: str | None = None,
    lapse_months: int = 12,
    by: str | Sequence[str] | None = None,
    confidence: float = 0.95,
    min_at_risk: int = 10,
) -> SurvivalResult:
    """Kaplan–Meier survival of the relationship by vehicle age, with left truncation.

    "Survival at age t" is the share of relationships still alive at vehicle age t: the
    owner's last order at the store comes after age t. Cars bought elsewhere count from
    their entry age on (lifelines ``entry=``), so they neither inflate early ages nor
    vanish. The curve of own sales starts below 1 at age 0 when some buyers never came
    back. See :class:`SurvivalResult` for the attributes and for how tiny early risk
    sets of left-truncated groups are handled (``min_at_risk``).

    Parameters
    ----------
    table_or_data:
        A :func:`defection_table` (pandas or Polars; any frame with ``entry_age``,
        ``exit_age``, ``event`` and the ``by`` columns), or a Dataset / mapping of
        tables, from which the table is built with ``as_of``, ``store_id`` and
        ``lapse_months``.
    by:
        Column(s) of the table defining groups (``"sold_here"``, ``"usage"``, …).
    confidence, min_at_risk:
        See :class:`SurvivalResult`.

    Returns
    -------
    SurvivalResult

    Example
    -------
    >>> import pandas as pd
    >>> tab = pd.DataFrame({"entry_age": [0.0, 0.0, 0.0, 0.0], "exit_age": [0.0, 1.5, 2.0, 4.0],
    ...                     "event": [True, True, False, True]})
    >>> km = survival_by_vehicle_age(tab)
    >>> km.survival_at([1, 3])["survival"].round(4).tolist()
    [0.75, 0.5]
    >>> float(km.median_["all"])
    1.5
    """
    table = _table(table_or_data, as_of, store_id, lapse_months)
    return SurvivalResult(confidence=confidence, min_at_risk=min_at_risk).fit(table, by=by)


# =========================================================================== log-rank


def _risk_entry(entry: np.ndarray, exit_: np.ndarray) -> np.ndarray:
    """Entry ages for the (entry, exit] risk sets of :func:`compare_survival`.

    A row enters at its entry age, except the two boundary cases, which are moved to the
    next float below (entry − ε): a relationship that begins at age 0 (at risk from the
    origin) and one that ends where it begins (entry == exit, a departure).
    """
    early = (entry == 0) | (entry == exit_)
    return np.where(early, np.nextafter(entry, -np.inf), entry)


def _logrank(entry: np.ndarray, exit_: np.ndarray, event: np.ndarray, codes: np.ndarray,
             n_groups: int) -> tuple[float, int]:
    """Log-rank statistic on (entry, exit] risk sets, exact (hypergeometric) ties.

    ``entry`` comes from :func:`_risk_entry`; a row is at risk of the departures at age
    t when entry < t <= exit.
    """
    times = np.unique(exit_[event])
    n = np.zeros((len(times), n_groups))
    d = np.zeros((len(times), n_groups))
    for g in range(n_groups):
        m = codes == g
        n[:, g] = (np.searchsorted(np.sort(entry[m]), times, side="left")
                   - np.searchsorted(np.sort(exit_[m]), times, side="left"))
        ev = np.sort(exit_[m & event])
        d[:, g] = np.searchsorted(ev, times, side="right") - np.searchsorted(ev, times,
                                                                             side="left")
    n_tot, d_tot = n.sum(1), d.sum(1)
    ok = n_tot > 0
    n, d, n_tot, d_tot = n[ok], d[ok], n_tot[ok], d_tot[ok]
    expected = n * (d_tot / n_tot)[:, None]
    u = (d - expected).sum(0)
    w = np.where(n_tot > 1, d_tot * (n_tot - d_tot) / np.maximum(n_tot - 1, 1), 0.0) / n_tot
    share = n / n_tot[:, None]
    v = np.diag((w[:, None] * n).sum(0)) - (w[:, None, None] * n[:, :, None]
                                             * share[:, None, :]).sum(0)
    k = n_groups - 1
    stat = float(u[:k] @ np.linalg.pinv(v[:k, :k]) @ u[:k])
    return stat, k


def compare_survival(
    table_or_data: Any,
    by: str | Sequence[str],
    *,
    as_of: Any = None,
    store_id: str | None = None,
    lapse_months: int = 12,
    pairwise: bool = True,
) -> pd.DataFrame:
    """Log-rank tests of equal relationship survival across the groups of ``by``.

    lifelines' ``logrank_test`` / ``multivariate_logrank_test`` take durations from a
    common origin and have no ``entry=``: fed vehicle ages they would count a walk-in
    as at risk from age 0, long before it ever came, and dilute every early hazard.
    The test here is the log-rank statistic on **left-truncated risk sets**: observed
    minus expected departures per group at every departure age, with the exact-ties
    (hypergeometric) covariance d (n − d) / (n − 1) of R's ``survdiff``. It equals the
    score test of the group indicators in R's ``coxph(Surv(entry, exit, event) ~ group,
    ties = "exact")`` (not Breslow's ties, whose variance lacks the (n − d) / (n − 1)
    factor), and statsmodels' ``survdiff(..., entry=)`` given the same entries.

    **Risk sets.** A relationship is at risk of the departures at age t when
    entry < t <= exit: R's counting-process interval (start, stop], statsmodels'
    ``entry=``. A walk-in first seen at age t is in the data because it was still a
    customer at t, so it does not count among those who could leave at t. Two boundary
    cases get the rule "entry moved an infinitesimal ε earlier", i.e. at risk on
    (entry − ε, exit]:

    - a relationship that **begins at age 0** (a car sold here) is at risk from the
      origin, departures at age 0 included, as in ``survdiff`` and lifelines without
      entry; so when no row has a positive entry age (own sales only) the statistic
      equals lifelines' ``multivariate_logrank_test`` / ``pairwise_logrank_test``
      exactly (the tests check that);
    - a **zero-length** relationship (entry == exit with a departure: a walk-in whose
      first visit was its last) is at risk at its own departure age only. The strict
      interval cannot hold it (R's ``Surv(entry, exit)`` turns it into NA and
      ``coxph`` drops it); dropping these rows would remove the earliest departures of
      walk-ins and make them look more loyal than they are.

    R reproduces both rules with the entry of those rows lowered by less than the
    smallest gap between ages (``scripts/r_logrank_reference.R``). Rows the
    estimators cannot use are left out as in :func:`survival_by_vehicle_age`.

    Returns
    -------
    DataFrame ``test`` ("overall" | "pairwise"), ``group_a``, ``group_b`` (null for the
    overall test), ``test_statistic``, ``df``, ``p_value``, ``n_a``, ``n_b``,
    ``events_a``, ``events_b`` (n and events of the overall row: all groups). Pairs
    are in sorted group order; the overall test (``df`` = groups − 1) uses the same
    risk sets.

    Example
    -------
    >>> import pandas as pd
    >>> tab = pd.DataFrame({"entry_age": 0.0, "exit_age": [1.0, 2, 3, 4, 5, 6, 7, 8],
    ...                     "event": True, "usage": ["taxi"] * 4 + ["private"] * 4})
    >>> res = compare_survival(tab, "usage")
    >>> res[["test", "group_a", "group_b", "df"]].to_numpy().tolist()
    [['overall', None, None, 1], ['pairwise', 'private', 'taxi', 1]]
    >>> round(float(res["p_value"].iloc[0]), 4)
    0.0067
    """
    pairwise = check_bool(pairwise, "pairwise")
    df, _ = _usable(_table(table_or_data, as_of, store_id, lapse_months))
    labels, _ = _group_labels(df, by)
    groups = sorted(labels.unique())
    if len(groups) < 2:
        raise ValueError(f"{caller()}: by={by!r} needs at least two groups with usable rows, "
                         f"got {groups}")
    exit_ = df["exit_age"].to_numpy(float)
    entry = _risk_entry(df["entry_age"].to_numpy(float), exit_)
    event = df["event"].to_numpy(bool)
    codes = pd.Categorical(labels, categories=groups).codes.astype(int)
    rows = []
    stat, k = _logrank(entry, exit_, event, codes, len(groups))
    rows.append({"test": "overall", "group_a": None, "group_b": None, "test_statistic": stat,
                 "df": k, "p_value": float(stats.chi2.sf(stat, k)), "n_a": len(df),
                 "n_b": len(df), "events_a": int(event.sum()), "events_b": int(event.sum())})
    if pairwise:
        for i, a in enumerate(groups):
            for j in range(i + 1, len(groups)):
                b = groups[j]
                m = (codes == i) | (codes == j)
                st, kk = _logrank(entry[m], exit_[m], event[m], (codes[m] == j).astype(int), 2)
                rows.append({"test": "pairwise", "group_a": a, "group_b": b,
                             "test_statistic": st, "df": kk,
                             "p_value": float(stats.chi2.sf(st, kk)),
                             "n_a": int((codes == i).sum()), "n_b": int((codes == j).sum()),
                             "events_a": int(event[codes == i].sum()),
                             "events_b": int(event[codes == j].sum())})
    out = pd.DataFrame(rows)
    out["df"] = out["df"].astype("int64")
    return out


# =========================================================================== Cox


@dataclass(frozen=True, repr=False, eq=False)
class CoxResult:
    """A fitted Cox model of defection (see :func:`defection_drivers`).

    Attributes
    ----------
    hazard_ratios_:
        ``covariate`` (column), ``level`` (category, or "per visit" / "per 10,000 km" /
        "yes" for numbers and flags), ``reference`` (the level it is compared with),
        ``label`` (readable: "vehicle usage: taxi vs private"), ``term`` (the model
        column), ``hazard_ratio``, ``lo``, ``hi`` (confidence interval), ``p``.
    model_:
        The lifelines ``CoxTimeVaryingFitter``.
    episodes_:
        The start/stop table it was fitted on (one row per relationship and warranty
        phase; ``id`` numbers the relationships; the model columns are the ``term``
        values).
    reference_:
        Reference level of each categorical covariate.
    warranty_ages_:
        Summary (count by value) of the per-vehicle warranty end ages used.
    landmark_:
        Years after entry at which relationships enter the model (1 with
        ``first_year_visits``, else 0).
    n_relationships_, n_events_, excluded_, warnings_:
        Sizes, rows left out and why, and lifelines warnings raised while fitting.
    pooled_levels_:
        With ``pool_rare=True``: rare categories counted with the reference level, by
        covariate (empty otherwise).
    """

    model_: Any
    hazard_ratios_: pd.DataFrame
    episodes_: pd.DataFrame
    reference_: dict[str, str]
    warranty_ages_: pd.Series
    landmark_: float
    n_relationships_: int
    n_events_: int
    excluded_: dict[str, int]
    warnings_: list[str]
    pooled_levels_: dict[str, list[str]] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"CoxResult(relationships={self.n_relationships_}, events={self.n_events_}, "
                f"terms={len(self.hazard_ratios_)})")


def _design(df: pd.DataFrame, covariates: Sequence[str], reference: Mapping[str, Any],
            min_level_size: int, pooled: dict[str, list[str]] | None = None):
    """Model columns (one-hot with a reference level), term metadata, reference levels.

    With ``pooled`` (a dict, filled in here), rare categories are counted with the
    reference level instead of raising; a covariate left with one level is dropped."""
    cols: dict[str, np.ndarray] = {}
    meta: list[dict[str, Any]] = []
    refs: dict[str, str] = {}
    constant, tiny = [], []
    event = df["event"].to_numpy(bool)
    for cov in covariates:
        s = df[cov]
        label = COVARIATE_LABELS.get(cov, cov)
        if s.dtype == bool or str(s.dtype) == "boolean":
            x = s.astype(float).to_numpy()
            if np.nanstd(x) == 0:
                constant.append(f"{cov} (always {bool(x[0])})")
                continue
            term = f"{cov}[yes]"
            cols[term] = x
            meta.append({"covariate": cov, "level": "yes", "reference": "no",
                         "label": f"{label}: yes vs no", "term": term})
            continue
        if pd.api.types.is_numeric_dtype(s):
            unit = NUMERIC_UNITS.get(cov, 1.0)
            x = s.to_numpy(float) / unit
            if np.nanstd(x) == 0:
                constant.append(f"{cov} (always {x[0]:g})")
                continue
            level = "per visit" if "visit" in cov else (
                f"per {unit:,.0f}" + (" km" if "km" in cov else "") if unit != 1 else "per unit")
            cols[cov] = x
            meta.append({"covariate": cov, "level": level, "reference": "",
                         "label": f"{label}: {level}", "term": cov})
            continue
        s = s.astype(object).where(s.notna(), _MISSING).astype(str)
        size = s.value_counts()
        if len(size) < 2:
            constant.append(f"{cov} (always {size.index[0]!r})")
            continue
        ev = pd.Series(event, index=s.index).groupby(s).sum()
        rare = [level for level, n in size.items()
                if n < min_level_size or ev.get(level, 0) == 0]
        if cov in reference:
            ref = str(reference[cov])
            if ref not in size.index:
                raise ValueError(f"{caller()}: reference level {ref!r} of {cov!r} does not "
                                 f"occur; levels: {sorted(size.index)}")
        else:  # the most frequent level, ties by name
            ref = sorted(size.index, key=lambda lv: (-size[lv], lv))[0]
        if pooled is not None and rare:
            moved = sorted(lv for lv in rare if lv != ref)
            if moved:
                pooled[cov] = moved
                s = s.where(~s.isin(moved), ref)
                size = s.value_counts()
            rare = [lv for lv in rare if lv == ref]
            if len(size) < 2:  # nothing left to compare with: the covariate is dropped
                continue
        for level in rare:
            tiny.append(f"{cov}={level!r} ({size[level]} relationships, "
                        f"{int(ev.get(level, 0))} defections)")
        refs[cov] = ref
        for level in sorted(size.index):
            if level == ref:
                continue
            term = f"{cov}[{level}]"
            cols[term] = (s == level).to_numpy(float)
            meta.append({"covariate": cov, "level": level, "reference": ref,
                         "label": f"{label}: {level} vs {ref}", "term": term})
    if constant:
        raise ValueError(
            f"{caller()}: constant covariate(s) {constant} among the {len(df)} relationships "
            "modelled: a Cox model cannot estimate an effect that does not vary; drop them "
            "from covariates= (or widen the data, e.g. all stores or both own sales and cars "
            "bought elsewhere)")
    if tiny:
        raise ValueError(
            f"{caller()}: categories with fewer than min_level_size={min_level_size} "
            f"relationships or without any defection: {tiny}. Their hazard ratios cannot be "
            "estimated reliably (lifelines would fail to converge or report an infinite "
            "ratio); merge them into a larger level, drop those rows, or lower "
            "min_level_size")
    return pd.DataFrame(cols, index=df.index), meta, refs


def _collinear(x: pd.DataFrame) -> list[list[str]]:
    """Groups of columns that are linearly dependent (with the constant), or []."""
    if x.shape[1] == 0:
        return []
    z = x.to_numpy(float)
    z = (z - z.mean(0)) / z.std(0)  # centring = adding the constant column
    _, sv, vt = np.linalg.svd(z, full_matrices=False)
    tol = max(z.shape) * np.finfo(float).eps * sv.max() * 1e3
    null = vt[sv <= tol]
    groups = []
    for vec in null:
        involved = [x.columns[i] for i in np.flatnonzero(np.abs(vec) > 1e-6)]
        if involved not in groups:
            groups.append(involved)
    return groups


def defection_drivers(
    table_or_data: Any,
    covariates: Sequence[str] = DEFAULT_COVARIATES,
    *,
    as_of: Any = None,
    store_id: str | None = None,
    lapse_months: int = 12,
    warranty_split: float | None = 3.0,
    warranty_km: float | None = 100_000.0,
    warranty_lead: float = 1.0,
    reference: Mapping[str, Any] | None = None,
    penalizer: float = 0.01,
    confidence: float = 0.95,
    min_level_size: int = 20,
    pool_rare: bool = False,
) -> CoxResult:
    """Cox proportional-hazards model of what drives defection, on the vehicle-age scale.

    Each relationship is at risk from its entry age to its exit age (start/stop on the
    age scale, so left truncation is handled by the risk sets; lifelines
    ``CoxTimeVaryingFitter``). A relationship that lasts 0 years (a car never serviced,
    or a single visit) is given one day, so that it enters the partial likelihood.

    **Warranty** is a time-varying covariate: each relationship is split into episodes
    at its warranty end age w = ``min(warranty_split, warranty_km / annual_km)`` (years
    or kilometres, whichever first; ``annual_km`` from the odometer, years alone when it
    is unknown or ``warranty_km=None``). The phases are *in* warranty (the reference),
    the *ending* phase — the last ``warranty_lead`` years before w, when owners who are
    about to leave skip the last in-warranty service (the cliff; ``warranty_lead=0``
    drops this phase and gives the plain in/out split) — and *out* of warranty after w.
    Terms ``warranty[ending]`` and ``warranty[out]``.

    Caveat: on the age scale the baseline hazard h0(age) already absorbs everything
    that depends on age alone, so a warranty that ends at the same age for every car is
    **not identifiable** (this function refuses it). The phases are estimated from cars
    whose warranty ends at a different age (high-mileage cars reach the km limit first),
    and they inherit what makes those cars different; ``warranty[out]`` also carries the
    selection of the cliff (those who stay past it are the loyal ones), so it is often
    below 1. Read the size and place of the cliff from :func:`warranty_cliff` (hazard
    by age) rather than from these ratios.

    **First-year visits** are only known once the relationship's first year is over;
    using them from the entry on would credit the owners who stayed with the visits
    they could only make by staying (immortal-time bias). With ``first_year_visits``
    among the covariates the model therefore starts at a **landmark**: each relationship
    enters one year (12 calendar months, as the count) after its entry, and those that
    ended earlier are left out (``excluded_["ended_in_first_year"]``).

    Categorical covariates are one-hot coded against a **reference level**: the most
    frequent level (ties by name) unless ``reference={"usage": "private"}`` says
    otherwise; a missing value is its own level ``"(missing)"``. Booleans compare True
    with False; numbers are per unit (``annual_km`` per 10,000 km). Rows with a missing
    number are left out with a warning.

    Before fitting, the design is checked and a ``ValueError`` names the culprits of:
    constant covariates, categories with fewer than ``min_level_size`` relationships or
    no defection, and collinear columns (rank of the design with the constant). A
    lifelines ``ConvergenceError`` is re-raised (still a ``ConvergenceError``, a
    ``ValueError``) with advice.

    Parameters
    ----------
    table_or_data:
        A :func:`defection_table` or the data to build it from (``as_of``, ``store_id``,
        ``lapse_months``).
    covariates:
        Columns of the table. ``customer_type`` is collinear with ``usage`` on typical
        data; ``annual_km`` largely with it too.
    warranty_split, warranty_km:
        Warranty years and kilometres; ``warranty_split=None`` leaves warranty out.
    warranty_lead:
        Length (years) of the *ending* phase before the warranty end; 0 for in/out.
    reference:
        Reference level per categorical covariate.
    penalizer:
        lifelines' L2 penalizer (stabilises rare levels; raise it if fitting fails).
    confidence:
        Level of the intervals.
    min_level_size:
        Smallest category size accepted.
    pool_rare:
        False (default): a category with fewer than ``min_level_size`` relationships or
        without any defection raises ``ValueError``. True: such categories are counted
        with the reference level (listed in ``pooled_levels_``), and a covariate left
        with a single level is dropped; for small stores, where a few taxis or
        government cars would otherwise stop the model.

    Returns
    -------
    CoxResult

    Example
    -------
    >>> from crm_analysis.synth import generate
    >>> ds = generate(n_stores=1, seed=3, start="2016-01-01", scale=0.15)
    >>> cox = defection_drivers(ds, ["usage", "grade"], reference={"usage": "private"})
    >>> hr = cox.hazard_ratios_.set_index("term")
    >>> bool(hr.loc["usage[taxi]", "hazard_ratio"] > 1)
    True
    >>> hr.loc["warranty[ending]", "label"]
    'warranty: last 1 warranty year(s) vs in'
    """
    from lifelines import CoxTimeVaryingFitter
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    df = _table(table_or_data, as_of, store_id, lapse_months)
    covariates = list(covariates)
    missing = [c for c in covariates if c not in df.columns]
    if missing:
        raise KeyError(f"{caller()}: covariate(s) {missing} are not columns of the defection "
                       f"table; it has {list(df.columns)}")
    if "warranty" in covariates:
        raise ValueError(f"{caller()}: warranty is added by warranty_split=, not covariates=")
    reference = dict(reference or {})
    min_level_size = check_int(min_level_size, "min_level_size")
    z = stats.norm.ppf(0.5 + check_confidence(confidence) / 2)
    df, excluded = _usable(df)

    # ---- missing numbers
    numeric = [c for c in covariates if pd.api.types.is_numeric_dtype(df[c])
               and not (df[c].dtype == bool or str(df[c].dtype) == "boolean")]
    for c in numeric:
        na = df[c].isna()
        if na.any():
            excluded[f"missing_{c}"] = int(na.sum())
            warnings.warn(f"{caller()}: {int(na.sum())} relationship(s) without {c} are left "
                          "out of the model", UserWarning, stacklevel=2)
            df = df.loc[~na]
    bools = [c for c in covariates if df[c].dtype == object
             and set(df[c].dropna().unique()) <= {True, False}]
    for c in bools:
        df[c] = df[c].astype("boolean")

    # ---- start / stop on the age scale, landmark for first-year visits
    start = df["entry_age"].to_numpy(float).copy()
    stop = df["exit_age"].to_numpy(float).copy()
    landmark = 0.0
    if "first_year_visits" in covariates:
        if "entry_date" in df and df["entry_date"].notna().all():
            ed = pd.to_datetime(df["entry_date"])
            first_year = ((ed + pd.DateOffset(months=12)) - ed).dt.days.to_numpy(float)
            land = start + first_year / DAYS_PER_YEAR
        else:
            land = start + 1.0
        ended = stop <= land
        excluded["ended_in_first_year"] = int(ended.sum())
        df, start, stop = df.loc[~ended], land[~ended], stop[~ended]
        landmark = 1.0
    stop = np.where(stop <= start, start + _ONE_DAY, stop)
    if len(df) == 0:
        raise ValueError(f"{caller()}: no relationship left to model (left out: {excluded})")

    pooled: dict[str, list[str]] = {}
    x, meta, refs = _design(df, covariates, reference, min_level_size,
                            pooled if pool_rare else None)
    groups = _collinear(x)
    if groups:
        raise ValueError(
            f"{caller()}: collinear covariate columns (the design matrix with the constant "
            f"has rank below its {x.shape[1] + 1} columns): {groups}; each group is a "
            "linear combination, so their effects cannot be told apart. Drop one "
            "covariate of each group (e.g. customer_type when usage is in) or merge levels")

    # ---- warranty episodes
    ids = np.arange(len(df))
    x = x.reset_index(drop=True)
    event = df["event"].to_numpy(bool)
    if warranty_split is not None:
        wy = check_number(warranty_split, "warranty_split", minimum=0, strict=True)
        w_age = np.full(len(df), wy)
        if warranty_km is not None and "annual_km" in df:
            km = pd.to_numeric(df["annual_km"], errors="coerce").to_numpy(float)
            by_km = check_number(warranty_km, "warranty_km", minimum=0, strict=True) / km
            w_age = np.where(np.isfinite(by_km) & (by_km < wy), by_km, wy)
        lead = float(warranty_lead)
        if not 0 <= lead < wy:
            raise ValueError(f"{caller()}: warranty_lead must be in [0, warranty_split), got "
                             f"{warranty_lead!r}")
        phases = ([("in", -np.inf, w_age - lead), ("ending", w_age - lead, w_age)]
                  if lead > 0 else [("in", -np.inf, w_age)]) + [("out", w_age, np.inf)]
        spans = [(start < hi_e) & (np.maximum(lo_e, start) < stop) for _, lo_e, hi_e in phases]
        if np.ptp(w_age) == 0 or sum(sp.any() for sp in spans) < 2:
            raise ValueError(
                f"{caller()}: the warranty covariate is not identifiable: every vehicle's "
                f"warranty ends at the same age ({w_age[0]:g} years) or no relationship "
                "changes warranty phase, and on the vehicle-age time scale an effect of "
                "age alone is part of the baseline hazard. Pass warranty_km= with an "
                "annual_km column (cars that reach the km limit first make it "
                "identifiable), or warranty_split=None and read the cliff from "
                "warranty_cliff()")
        parts = []
        for phase, lo_e, hi_e in phases:
            a, b = np.maximum(start, lo_e), np.minimum(stop, hi_e)
            m = a < b
            part = pd.DataFrame({"id": ids[m], "start": a[m], "stop": b[m],
                                 "event": event[m] & (b[m] == stop[m])})
            for other, _, _ in phases[1:]:
                part[f"warranty[{other}]"] = float(phase == other)
            parts.append(part.join(x.loc[m].reset_index(drop=True)))
        ep = pd.concat(parts, ignore_index=True)
        for phase, _, _ in phases[1:]:
            label = {"ending": f"last {lead:g} warranty year(s)", "out": "out"}[phase]
            meta.append({"covariate": "warranty", "level": phase, "reference": "in",
                         "label": f"warranty: {label} vs in", "term": f"warranty[{phase}]"})
        warranty_ages = pd.Series(np.round(w_age, 2)).value_counts().sort_index()
    else:
        ep = pd.DataFrame({"id": ids, "start": start, "stop": stop, "event": event}).join(x)
        warranty_ages = pd.Series(dtype=float)
    ep = ep.sort_values(["id", "start"], kind="mergesort").reset_index(drop=True)
    ep["event"] = ep["event"].astype(bool)

    model = CoxTimeVaryingFitter(penalizer=penalizer, alpha=1.0 - confidence)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            model.fit(ep, event_col="event", start_col="start", stop_col="stop",
                      id_col="id")
        except ConvergenceError as exc:
            raise ConvergenceError(
                f"{caller()}: the Cox model did not converge ({str(exc).splitlines()[0]}). "
                f"Usual causes: a level in which nobody (or everybody) defects, nearly "
                f"collinear covariates, or a covariate that separates events perfectly. "
                f"Try a larger penalizer (now {penalizer}; e.g. {max(penalizer * 10, 0.1):g}), "
                "drop or merge rare levels (min_level_size=), or remove covariates"
            ) from exc
    s = model.summary
    rows = []
    for m in meta:
        coef, se = float(s.loc[m["term"], "coef"]), float(s.loc[m["term"], "se(coef)"])
        rows.append({**m, "hazard_ratio": math.exp(coef), "lo": math.exp(coef - z * se),
                     "hi": math.exp(coef + z * se), "p": float(s.loc[m["term"], "p"])})
    hr = pd.DataFrame(rows, columns=["covariate", "level", "reference", "label", "term",
                                     "hazard_ratio", "lo", "hi", "p"])
    return CoxResult(model, hr, ep, refs, warranty_ages, landmark, len(df),
                     int(event.sum()), excluded,
                     [str(w.message) for w in caught
                      if issubclass(w.category, ConvergenceWarning)], pooled)


# =========================================================================== hazard


@dataclass(frozen=True, repr=False, eq=False)
class WarrantyCliffResult:
    """Defection hazard by vehicle-age band and the band where it jumps most.

    Attributes
    ----------
    hazard_:
        ``age_band`` (k covers ages [k, k+1), "year k+1"), ``at_risk_years`` (exposure:
        vehicle-years under observation in the band, honouring entry ages),
        ``events`` (relationships ending in the band), ``hazard`` (events per
        vehicle-year), ``hazard_lo``, ``hazard_hi`` (exact Poisson / Garwood interval),
        ``increase`` (hazard minus the previous band's; NaN for band 0 or when either
        band has less than ``min_exposure`` vehicle-years).
    cliff_age_:
        The band with the largest ``increase`` (an int; band 2 is the third year of
        the car's life). ``None`` when no band qualifies.
    cliff_increase_:
        That increase (events per vehicle-year).
    never_returned_:
        Own sales that never came back (departure at age 0), left out of the hazard
        unless ``include_never_returned=True``.
    excluded_:
        Rows left out as in :func:`survival_by_vehicle_age`.
    """

    hazard_: pd.DataFrame
    cliff_age_: int | None
    cliff_increase_: float
    never_returned_: int
    excluded_: dict[str, int]

    def __repr__(self) -> str:
        return (f"WarrantyCliffResult(cliff_age={self.cliff_age_}, "
                f"increase={self.cliff_increase_:.3f})" if self.cliff_age_ is not None
                else "WarrantyCliffResult(cliff_age=None)")


def warranty_cliff(
    table_or_data: Any,
    *,
    as_of: Any = None,
    store_id: str | None = None,
    lapse_months: int = 12,
    max_age: int = 10,
    confidence: float = 0.95,
    include_never_returned: bool = False,
    min_exposure: float = 50.0,
) -> WarrantyCliffResult:
    """Defection hazard per vehicle-age band and the warranty cliff.

    For band k = [k, k+1): exposure = vehicle-years each relationship spends in the
    band between its entry and exit ages (a car bought elsewhere counts from its entry
    age only), events = relationships whose exit (departure) age falls in the band, and
    hazard = events / exposure, with the exact Poisson (Garwood) interval
    [χ²(α/2; 2e)/2, χ²(1−α/2; 2e+2)/2] / exposure, with α = 1 − ``confidence``.

    The cliff is the band with the largest **increase** of the hazard over the previous
    band. Band 0 is never a candidate (it has no previous band), and by default the own
    sales that never came back (departure at age 0, the "never returned" spike: buyers
    lost at delivery, not at the warranty end) are left out of the hazard altogether —
    counted in ``never_returned_`` — so they neither swell band 0 nor make band 1 look
    like a drop. Bands with less than ``min_exposure`` vehicle-years take no part.

    A car bought elsewhere that came only once departs at its entry age with no
    exposure: one-off customers raise the hazard of the band they came in (they are
    real departures, not a spike at one age, so they stay in).

    Note the departure age is the **last order**: owners who leave at the warranty end
    mostly skip the last in-warranty service, so with a 3-year warranty the jump shows
    in band 2 (the third year), not band 3.

    Parameters
    ----------
    table_or_data:
        A :func:`defection_table` (or any frame with ``entry_age``, ``exit_age``,
        ``event``), or the data to build it from.
    max_age:
        Bands 0 … max_age − 1.
    confidence:
        Level of the intervals.
    include_never_returned:
        Keep the departures at age 0.
    min_exposure:
        Smallest exposure (vehicle-years) of a band for the cliff search.

    Returns
    -------
    WarrantyCliffResult

    Example
    -------
    >>> import pandas as pd
    >>> tab = pd.DataFrame({"entry_age": 0.0, "exit_age": [0.0, 2.5, 2.5, 3.5, 4.0, 4.0],
    ...                     "event": [True, True, True, True, False, False]})
    >>> wc = warranty_cliff(tab, max_age=5, min_exposure=0.1)
    >>> wc.hazard_[["age_band", "at_risk_years", "events", "hazard"]].round(3)
       age_band  at_risk_years  events  hazard
    0         0            5.0       0     0.0
    1         1            5.0       0     0.0
    2         2            4.0       2     0.5
    3         3            2.5       1     0.4
    4         4            0.0       0     NaN
    >>> wc.cliff_age_, wc.never_returned_
    (2, 1)
    """
    max_age = check_int(max_age, "max_age")
    alpha = 1.0 - check_confidence(confidence)
    df = _table(table_or_data, as_of, store_id, lapse_months)
    df, excluded = _usable(df)
    entry, exit_ = df["entry_age"].to_numpy(float), df["exit_age"].to_numpy(float)
    event = df["event"].to_numpy(bool)
    never = event & (exit_ == 0.0)
    n_never = int(never.sum())
    if not include_never_returned:
        entry, exit_, event = entry[~never], exit_[~never], event[~never]
    bands = np.arange(max_age)
    lo_edge, hi_edge = bands.astype(float), bands + 1.0
    exposure = np.clip(np.minimum(exit_[:, None], hi_edge) - np.maximum(entry[:, None],
                                                                         lo_edge), 0, None)
    exposure = exposure.sum(0)
    ev_band = np.floor(exit_[event]).astype(int)
    events = np.bincount(ev_band[(ev_band >= 0) & (ev_band < max_age)], minlength=max_age)
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(exposure > 0, events / exposure, np.nan)
        lo = np.where(events > 0, stats.chi2.ppf(alpha / 2, 2 * events) / 2, 0.0) / exposure
        hi = stats.chi2.ppf(1 - alpha / 2, 2 * events + 2) / 2 / exposure
    lo = np.where(exposure > 0, lo, np.nan)
    hi = np.where(exposure > 0, hi, np.nan)
    ok = exposure >= min_exposure
    increase = np.full(max_age, np.nan)
    increase[1:] = np.where(ok[1:] & ok[:-1], hazard[1:] - hazard[:-1], np.nan)
    table = pd.DataFrame({"age_band": bands.astype("int64"), "at_risk_years": exposure,
                          "events": events.astype("int64"), "hazard": hazard,
                          "hazard_lo": lo, "hazard_hi": hi, "increase": increase})
    if np.isfinite(increase).any():
        k = int(np.nanargmax(increase))
        cliff, jump = k, float(increase[k])
    else:
        cliff, jump = None, float("nan")
    return WarrantyCliffResult(table, cliff, jump, n_never, excluded)


#: Columns of a hazard table that :func:`annual_share` converts (the rate and its bounds).
_RATE_COLUMNS = ("hazard", "hazard_lo", "hazard_hi")


def annual_share(hazard: Any) -> Any:
    """The share of owners who leave within a year, from a defection hazard (a rate).

    The hazard of :func:`warranty_cliff` is a rate: departures per vehicle-year at risk.
    It can exceed 1 in a band where owners leave within months, so it is not a share. A
    constant hazard λ per year leaves exp(−λ) of the owners still customers a year later
    (the exponential survival function), so the **annual share**, the share of owners
    leaving within one year, is

        annual share = 1 − exp(−λ)

    (a monthly hazard h gives 1 − exp(−12 h)). It lies in [0, 1), is close to λ for a
    small λ (0.05 a year gives 4.9 %), and increases with λ, so the bounds of an interval
    of the rate are the bounds of the interval of the share. Missing rates stay missing.

    Parameters
    ----------
    hazard:
        A rate (a number), an array or a pandas Series of rates, or a hazard table: a
        DataFrame with ``hazard`` and optionally ``hazard_lo`` / ``hazard_hi`` (the
        ``hazard_`` of :func:`warranty_cliff`), or the :class:`WarrantyCliffResult`.

    Returns
    -------
    The same form: a float, an array, a Series (index and name kept), or a copy of the
    hazard table with ``hazard``, ``hazard_lo`` and ``hazard_hi`` as annual shares (its
    ``increase`` column, a difference of rates, is left out).

    Raises
    ------
    TypeError
        A value that is not numeric.
    ValueError
        A negative rate.

    Example
    -------
    >>> round(annual_share(1.0), 4)
    0.6321
    >>> annual_share(np.array([0.0, np.log(4)])).round(4)
    array([0.  , 0.75])
    >>> tab = pd.DataFrame({"age_band": [0, 1], "hazard": [0.1, 2.0]})
    >>> annual_share(tab).round(4)
       age_band  hazard
    0         0  0.0952
    1         1  0.8647
    """
    if isinstance(hazard, WarrantyCliffResult):
        hazard = hazard.hazard_
    if isinstance(hazard, pd.DataFrame):
        require_columns(hazard, ["hazard"], "hazard table")
        out = hazard.drop(columns=["increase"], errors="ignore").copy()
        for col in _RATE_COLUMNS:
            if col in out.columns:
                out[col] = _annual_share(out[col], col)
        return out
    if isinstance(hazard, pd.Series):
        return pd.Series(_annual_share(hazard, "hazard"), index=hazard.index,
                         name=hazard.name)
    share = _annual_share(hazard, "hazard")
    return float(share) if share.ndim == 0 else share


def _annual_share(values: Any, name: str) -> np.ndarray:
    """1 − exp(−rate) of numeric values, after the checks of :func:`annual_share`."""
    if values is None or isinstance(values, bool | np.bool_ | str | bytes) or (
            isinstance(values, pd.Series) and pd.api.types.is_bool_dtype(values)):
        raise TypeError(f"{caller()}: {name} must be a rate (a number), an array, a Series "
                        f"or a hazard table, got {type(values).__name__} {values!r}")
    try:
        rate = (values.to_numpy(dtype=float, na_value=np.nan)
                if isinstance(values, pd.Series) else np.asarray(values, dtype=float))
    except (TypeError, ValueError):
        raise TypeError(f"{caller()}: {name} must be a rate (a number), an array, a Series "
                        f"or a hazard table, got {type(values).__name__}") from None
    if (rate < 0).any():
        raise ValueError(f"{caller()}: {name} must be a rate >= 0 (departures per "
                         f"vehicle-year), got {np.nanmin(rate)!r}")
    return 1.0 - np.exp(-rate)


# =========================================================================== truth


def _truth_frame(ds: Dataset, store_id: Any) -> pd.DataFrame:
    if not isinstance(ds, Dataset) or ds.truth is None:
        raise TypeError(f"{caller()}: needs a generated Dataset with a truth table "
                        "(crm_analysis.synth.generate)")
    tr = ds.truth.merge(ds.vehicles[["vin", "sale_date", "usage", "grade"]], on="vin",
                        how="left")
    if store_id is not None:
        tr = tr[tr["store_id"] == str(store_id)]
    tr = tr[tr["entry_date"] <= pd.Timestamp(ds.meta["as_of"])]
    last = (ds.repair_orders.groupby("vin")["open_date"].max()
            .rename("last_order_date"))
    tr = tr.merge(last, left_on="vin", right_index=True, how="left")
    return tr.reset_index(drop=True)


def truth_table(ds: Dataset, *, store_id: str | None = None, horizon: Any = None
                ) -> pd.DataFrame:
    """The generator's true relationships as a defection table (for tests).

    One row per generated vehicle with ``vin``, ``store_id``, ``sold_here``, ``usage``,
    ``grade``, ``entry_age`` (true entry age), ``true_age`` (age at the true defection:
    the last order before the owner left, the sale for a buyer who never came back; NaN
    when not defected), ``exit_age``, ``event``, ``never_returned``, ``cliff_leaver``.

    Without ``horizon`` every defection decided by T (the generation date) is an event
    at ``true_age`` and the rest are censored at the age at T. With a ``horizon`` date
    (e.g. T − 12 months, the censoring of :func:`defection_table`) only defections with
    ``true_age`` on or before it are events and the rest are censored at the horizon
    (relationships beginning after it are censored at entry). A car that reached the
    generator's end of life (scrapped, no more orders) without defecting ends at its
    last order, as the orders show it.
    """
    tr = _truth_frame(ds, store_id)
    t = pd.Timestamp(ds.meta["as_of"])
    sale = tr["sale_date"]
    eol = tr["end_of_life_date"].notna() & (tr["end_of_life_date"] <= t) & ~tr["defected"]
    end = tr["true_defection_date"].where(tr["defected"], tr["last_order_date"].where(eol))
    ended = tr["defected"] | eol
    h = t if horizon is None else pd.Timestamp(horizon)
    event = ended & (end <= h)
    exit_date = end.where(event, tr["entry_date"].where(tr["entry_date"] > h, h))

    def years(d):
        return ((d - sale).dt.days / DAYS_PER_YEAR).to_numpy(float)

    return pd.DataFrame({
        "vin": tr["vin"], "store_id": tr["store_id"], "sold_here": tr["sold_here"],
        "usage": tr["usage"], "grade": tr["grade"],
        "entry_age": np.where(tr["sold_here"], 0.0, years(tr["entry_date"])),
        "true_age": np.where(ended, years(end), np.nan),
        "exit_age": years(exit_date), "event": event.to_numpy(bool),
        "never_returned": tr["never_returned"].to_numpy(bool),
        "cliff_leaver": tr["cliff_leaver"].to_numpy(bool),
    })


def true_survival(ds: Dataset, ages: Iterable[float], *, store_id: str | None = None,
                  margin_years: float = 1.5) -> pd.DataFrame:
    """True share of own-sale relationships still alive at each age (for tests).

    "Alive at age t" means the true departure age (last order before leaving; 0 for a
    buyer who never came back) is greater than t. It is read off the generator's truth
    among own sales old enough for the answer to be settled: sold at least
    ``t + margin_years`` before T, so that a car still with the store at T has had an
    order after age t (its service interval is well under ``margin_years``). No
    censoring and no lapse rule are involved; the generator's hazard depends on age,
    not on the calendar, so every cohort shares the same curve.

    Returns ``age``, ``survival``, ``vehicles`` (the cohort size behind it).
    """
    tr = _truth_frame(ds, store_id)
    tr = tr[tr["sold_here"]]
    t = pd.Timestamp(ds.meta["as_of"])
    age_t = ((t - tr["sale_date"]).dt.days / DAYS_PER_YEAR).to_numpy(float)
    true_age = ((tr["true_defection_date"] - tr["sale_date"]).dt.days
                / DAYS_PER_YEAR).to_numpy(float)
    last_age = ((tr["last_order_date"] - tr["sale_date"]).dt.days
                / DAYS_PER_YEAR).to_numpy(float)
    # not defected: alive at least until the last order so far (known to be > t here)
    depart = np.where(tr["defected"].to_numpy(bool), true_age, np.nan_to_num(last_age,
                                                                              nan=0.0))
    rows = []
    for a in ages:
        m = age_t >= a + margin_years
        rows.append({"age": float(a), "survival": float(np.mean(depart[m] > a))
                     if m.any() else np.nan, "vehicles": int(m.sum())})
    return pd.DataFrame(rows)

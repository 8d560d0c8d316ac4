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
import math
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import narwhals as nw
import pandas as pd
from narwhals.typing import IntoFrameT

from crm_analysis._frames import _seconds_since
from crm_analysis._inputs import (
    check_int,
    check_number,
    read_as_of,
    require_columns,
    tables,
    to_pandas,
)
from crm_analysis.i18n import check_lang, translate_columns
from crm_analysis.io.load import LoadResult
from crm_analysis.io.normalize import describe_reason

DAYS_PER_YEAR = 365.25

#: Display labels (``overview.<column>`` in :data:`crm_analysis.i18n.LABELS`) of the
#: columns of this module's tables; see :func:`labelled`.
COLUMN_LABELS: dict[str, str] = {name: f"overview.{name}" for name in (
    "table", "rows", "file", "sheet", "read", "accepted", "duplicates", "quarantined",
    "reason", "code", "rows_quarantined", "share_of_read", "flag", "rows_flagged", "orders",
    "share_orders", "revenue", "share_revenue", "avg_order_value", "sold_here", "vehicles",
    "revenue_per_vehicle",
)}  # fmt: skip

#: The vehicle-age year that collects every car over ``max_age`` (ten) years old.
OVER_TEN = 11

__all__ = [
    "COLUMN_LABELS",
    "DataQuality",
    "VehicleBases",
    "YearActivity",
    "data_quality",
    "labelled",
    "last_year_activity",
    "monthly_activity",
    "order_mix",
    "revenue_by_origin",
    "table_sizes",
    "vehicle_age_profile",
    "vehicle_bases",
    "window_start",
]


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


# ---------------------------------------------------------------------------------------
# Notebook 01: what the export holds, the last twelve months, the two bases
# ---------------------------------------------------------------------------------------


def labelled(table: pd.DataFrame, lang: str = "en") -> pd.DataFrame:
    """A display copy of one of this module's tables: column names in ``lang``.

    >>> sizes = pd.DataFrame({"table": ["Vehicles"], "rows": [12]})
    >>> list(labelled(sizes, "zh").columns)
    ['数据表', '行数']
    """
    return translate_columns(table, lang, extra=COLUMN_LABELS)


def table_sizes(data: Any) -> pd.DataFrame:
    """Rows per table: ``table`` (``customers``, ``vehicles``, ``repair_orders``) and ``rows``.

    ``data`` is a :class:`~crm_analysis.schema.Dataset` or a mapping of those tables.

    >>> from crm_analysis.schema import example_dataset
    >>> table_sizes(example_dataset()).to_numpy().tolist()
    [['customers', 3], ['vehicles', 3], ['repair_orders', 5]]
    """
    names = ("customers", "vehicles", "repair_orders")
    got = tables(data, names)
    return pd.DataFrame({"table": list(names),
                         "rows": [len(to_pandas(got[k], k)) for k in names]})


def _share(part: float, whole: float) -> float:
    return part / whole if whole else math.nan


@dataclass(frozen=True)
class DataQuality:
    """What happened to every row of a raw DMS export (see :func:`data_quality`).

    Attributes
    ----------
    files, rows_read, rows_accepted, rows_duplicates, rows_quarantined, rows_flagged:
        Counts over the whole export: ``read = accepted + duplicates + quarantined``.
    per_file:
        ``file`` (name without folder), ``sheet``, ``read``, ``accepted``, ``duplicates``,
        ``quarantined``: one row per file and sheet, in reading order.
    quarantine:
        ``reason`` (its description), ``code``, ``rows_quarantined``, ``share_of_read``:
        most common reason first.
    flags:
        ``flag`` (its description), ``code``, ``rows_flagged``: rows kept but flagged.
    """

    files: int
    rows_read: int
    rows_accepted: int
    rows_duplicates: int
    rows_quarantined: int
    rows_flagged: int
    per_file: pd.DataFrame
    quarantine: pd.DataFrame
    flags: pd.DataFrame

    @property
    def quarantined_share(self) -> float:
        """Share of the rows read that were quarantined (NaN when nothing was read)."""
        return _share(self.rows_quarantined, self.rows_read)

    def metrics(self) -> dict[str, Any]:
        """The counts as plain numbers, with rows per quarantine reason and per flag."""
        return {
            "rows_read": self.rows_read, "rows_accepted": self.rows_accepted,
            "rows_duplicates": self.rows_duplicates, "rows_quarantined": self.rows_quarantined,
            "rows_flagged": self.rows_flagged, "files": self.files,
            "quarantine_by_reason": dict(zip(self.quarantine["code"].astype(str),
                                             self.quarantine["rows_quarantined"].astype(int),
                                             strict=True)),
            "flags_by_reason": dict(zip(self.flags["code"].astype(str),
                                        self.flags["rows_flagged"].astype(int), strict=True)),
        }  # fmt: skip


def _reason_text(code: Any, lang: str) -> str:
    try:
        return describe_reason(str(code), lang)
    except KeyError:  # a code the loader knows but the catalog does not: show the code
        return str(code)


def data_quality(load_result: LoadResult, *, lang: str = "en") -> DataQuality:
    """Row accounting of a raw DMS export read by :func:`crm_analysis.io.load`.

    Every source row is accepted, merged as an exact repeat, or quarantined with a
    reason; some accepted rows carry flags. The reasons are described in ``lang``.

    Parameters
    ----------
    load_result:
        The :class:`~crm_analysis.io.LoadResult` (``StoreContext.load_result`` of a
        report built from raw files).
    lang:
        ``"en"`` or ``"zh"``, for the descriptions of reasons and flags.

    Example
    -------
    >>> from crm_analysis.io.load import LoadResult
    >>> from crm_analysis.schema import example_dataset
    >>> report = pd.DataFrame({"file": ["/x/a.csv", "/x/b.csv"], "sheet": ["", ""],
    ...                        "read": [10, 5], "accepted": [7, 5], "duplicates": [1, 0],
    ...                        "quarantined": [2, 0]})
    >>> lr = LoadResult(example_dataset(), pd.DataFrame({"reason": ["summary_row"] * 2}),
    ...                 pd.DataFrame({"reason": []}), report)
    >>> q = data_quality(lr, lang="zh")
    >>> q.rows_read, q.rows_quarantined, round(q.quarantined_share, 3)
    (15, 2, 0.133)
    >>> q.quarantine.to_numpy().tolist()
    [['合计行', 'summary_row', 2, 0.13333333333333333]]
    """
    if not isinstance(load_result, LoadResult):
        raise TypeError("data_quality: load_result must be a crm_analysis.io.LoadResult, "
                        f"got {type(load_result).__name__}")
    lang = check_lang(lang)
    rep = load_result.report
    counts = ["read", "accepted", "duplicates", "quarantined"]
    require_columns(rep, ["file", "sheet", *counts], "report")
    read = int(rep["read"].sum())
    per_file = rep.groupby(["file", "sheet"], sort=False)[counts].sum().reset_index()
    per_file["file"] = [PurePath(str(f)).name for f in per_file["file"]]
    per_file[counts] = per_file[counts].astype(int)
    by_reason = load_result.quarantine["reason"].value_counts()
    quarantine = pd.DataFrame({
        "reason": [_reason_text(r, lang) for r in by_reason.index],
        "code": by_reason.index.astype(str),
        "rows_quarantined": by_reason.to_numpy(int),
        "share_of_read": by_reason.to_numpy(float) / read if read else math.nan,
    })  # fmt: skip
    by_flag = load_result.flags["reason"].value_counts()
    flags = pd.DataFrame({"flag": [_reason_text(r, lang) for r in by_flag.index],
                          "code": by_flag.index.astype(str),
                          "rows_flagged": by_flag.to_numpy(int)})
    return DataQuality(
        files=int(rep["file"].nunique()), rows_read=read,
        rows_accepted=int(rep["accepted"].sum()), rows_duplicates=int(rep["duplicates"].sum()),
        rows_quarantined=int(rep["quarantined"].sum()), rows_flagged=len(load_result.flags),
        per_file=per_file, quarantine=quarantine, flags=flags,
    )


@dataclass(frozen=True)
class YearActivity:
    """The workshop's last twelve months (see :func:`last_year_activity`).

    Attributes
    ----------
    orders:
        The repair orders opened in (T − 12 months, T].
    orders_per_month, avg_order_value, revenue:
        Orders per month, mean order total and revenue of those orders.
    growth:
        Order count against the twelve months before, ``n / n_before − 1`` (NaN when
        there were no orders before).
    quietest_month, quietest_orders:
        Of the whole calendar months inside the window (first day after T − 12 months,
        last day on or before T), from the month of the first order in the data on, the
        one with the fewest orders (the first of ties; a month without orders counts
        with 0) and its orders; ``None`` when the window has no orders.
    """

    orders: pd.DataFrame
    orders_per_month: float
    avg_order_value: float
    revenue: float
    growth: float
    quietest_month: pd.Timestamp | None
    quietest_orders: int | None

    @property
    def trend(self) -> str:
        """``"up"`` (growth >= 0), ``"down"`` or ``"no_history"`` (growth not finite:
        no orders in the twelve months before, nothing to compare with)."""
        if not math.isfinite(self.growth):
            return "no_history"
        return "up" if self.growth >= 0 else "down"


def last_year_activity(orders: Any, *, as_of: Any = None) -> YearActivity:
    """Orders a month, average order value, revenue and growth over the last twelve months.

    The window is (T − 12 months, T] and the year before it (T − 24 months, T − 12 months],
    calendar months as in DOMAIN.md. ``orders`` are one store's repair orders (``open_date``,
    ``total_amount``, ``vin``); ``as_of`` defaults to the last order's date.

    Example
    -------
    >>> o = pd.DataFrame({"open_date": pd.to_datetime(
    ...     ["2023-03-01", "2023-09-10", "2024-02-01", "2024-02-20", "2024-05-05"]),
    ...     "vin": list("ABCDE"), "total_amount": [100.0, 200.0, 300.0, 500.0, 400.0]})
    >>> a = last_year_activity(o, as_of="2024-06-30")
    >>> len(a.orders), round(a.orders_per_month, 3), a.avg_order_value, a.revenue, a.growth
    (4, 0.333, 350.0, 1400.0, 3.0)
    >>> str(a.quietest_month.date()), a.quietest_orders  # July 2023 had no orders
    ('2023-07-01', 0)
    """
    o = to_pandas(orders, "orders")
    require_columns(o, ["open_date", "total_amount", "vin"], "repair_orders")
    t = read_as_of(as_of, {"repair_orders": o})
    year_ago = window_start(12, as_of=t)
    last = o[(o["open_date"] > year_ago) & (o["open_date"] <= t)]
    before = o[(o["open_date"] > window_start(24, as_of=t)) & (o["open_date"] <= year_ago)]
    # whole calendar months inside the window, from the first month with data on; a
    # month without orders counts with 0, the month of T only when T is its last day
    first = pd.Period(year_ago, "M") + 1
    if len(o):
        first = max(first, pd.Period(o["open_date"].min(), "M"))
    end = pd.Period(t, "M")
    if pd.Timestamp(t).normalize() < end.end_time.normalize():
        end -= 1
    months = pd.period_range(first, end, freq="M")
    counts = last["open_date"].dt.to_period("M").value_counts().reindex(months, fill_value=0)
    low = counts.idxmin() if len(last) and len(counts) else None
    return YearActivity(
        orders=last,
        orders_per_month=len(last) / 12,
        avg_order_value=float(last["total_amount"].mean()),
        revenue=float(last["total_amount"].sum()),
        growth=len(last) / len(before) - 1 if len(before) else math.nan,
        quietest_month=None if low is None else low.to_timestamp(),
        quietest_orders=None if low is None else int(counts[low]),
    )


@dataclass(frozen=True)
class VehicleBases:
    """The store's vehicle base and service base by year of life (see :func:`vehicle_bases`).

    Attributes
    ----------
    table:
        ``year`` (1 = the car's first year; :data:`OVER_TEN` = over ten years old),
        ``vehicle_base`` (cars sold here), ``service_sold_here`` and ``service_elsewhere``
        (cars serviced in the last 24 months, by where they were bought).
    unknown_age:
        Serviced cars without a sale date (left out of the table).
    """

    table: pd.DataFrame
    unknown_age: int

    @property
    def vehicle_base(self) -> int:
        """Cars sold here, at most ten years old."""
        return int(self.table["vehicle_base"].sum())

    @property
    def in_warranty(self) -> int:
        """Cars of the vehicle base in their first three years."""
        return int(self.table.loc[self.table["year"] <= 3, "vehicle_base"].sum())

    @property
    def service_sold_here(self) -> int:
        """Cars of the service base (with a known age) that were sold here."""
        return int(self.table["service_sold_here"].sum())

    @property
    def service_elsewhere(self) -> int:
        """Cars of the service base (with a known age) bought elsewhere."""
        return int(self.table["service_elsewhere"].sum())

    @property
    def service_base(self) -> int:
        """Cars of the service base with a known age."""
        return self.service_sold_here + self.service_elsewhere

    @property
    def in_warranty_share(self) -> float:
        """Share of the vehicle base in its first three years (NaN for an empty base)."""
        return _share(self.in_warranty, self.vehicle_base)

    @property
    def kept(self) -> int:
        """Cars of the vehicle base still serviced here: sold here, in the service base
        and at most ten years old (the sold-here cars of year :data:`OVER_TEN` are left
        out, as the vehicle base leaves them out)."""
        young = self.table["year"] < OVER_TEN
        return int(self.table.loc[young, "service_sold_here"].sum())

    @property
    def kept_share(self) -> float:
        """:attr:`kept` as a share of the vehicle base (NaN for an empty base)."""
        return _share(self.kept, self.vehicle_base)

    @property
    def walkin_share(self) -> float:
        """Share of the service base bought elsewhere (NaN for an empty base)."""
        return _share(self.service_elsewhere, self.service_base)


def vehicle_bases(profile: Any) -> VehicleBases:
    """The two bases of :func:`vehicle_age_profile` side by side, by year of life.

    Age band k becomes year k + 1; cars over ten years old share the year
    :data:`OVER_TEN`. Only the service base has them, walk-ins and cars sold here alike:
    the vehicle base stops at ten years.

    Example
    -------
    >>> prof = pd.DataFrame({
    ...     "base": ["vehicle_base", "vehicle_base", "service_base", "service_base",
    ...              "service_base", "service_base"],
    ...     "sold_here": [True, True, True, False, False, False],
    ...     "age_band": [0.0, 4.0, 4.0, 12.0, 14.0, None], "vehicles": [5, 3, 2, 1, 1, 2]})
    >>> b = vehicle_bases(prof)
    >>> b.table.to_numpy().tolist()
    [[1, 5, 0, 0], [5, 3, 2, 0], [11, 0, 0, 2]]
    >>> b.vehicle_base, b.in_warranty, b.service_base, b.unknown_age, b.walkin_share
    (8, 5, 4, 2, 0.5)
    >>> b.kept, b.kept_share
    (2, 0.25)
    """
    p = to_pandas(profile, "profile")
    require_columns(p, ["base", "sold_here", "age_band", "vehicles"], "profile")
    known = p.dropna(subset=["age_band"]).copy()
    known["year"] = (known["age_band"] + 1).clip(upper=OVER_TEN).astype(int)
    own = known[known["base"] == "vehicle_base"].groupby("year")["vehicles"].sum()
    service = known[known["base"] == "service_base"].pivot_table(
        index="year", columns="sold_here", values="vehicles", aggfunc="sum", fill_value=0)
    years = sorted(set(own.index) | set(service.index))
    service = service.reindex(index=years, columns=[True, False], fill_value=0)
    table = pd.DataFrame({
        "year": years,
        "vehicle_base": own.reindex(years, fill_value=0).to_numpy(int),
        "service_sold_here": service[True].to_numpy(int),
        "service_elsewhere": service[False].to_numpy(int),
    })  # fmt: skip
    unknown = int(p.loc[p["age_band"].isna(), "vehicles"].sum())
    return VehicleBases(table=table, unknown_age=unknown)


def revenue_by_origin(orders: Any, vehicles: Any) -> pd.DataFrame:
    """Orders, vehicles and revenue by where the car was bought (``sold_here``).

    Returns one row for cars sold here (``True``) and one for cars bought elsewhere
    (``False``) with ``orders``, ``vehicles``, ``revenue``, ``share_revenue`` and
    ``revenue_per_vehicle`` (NaN without vehicles). Orders of cars missing from the
    vehicles table are left out.

    Example
    -------
    >>> o = pd.DataFrame({"ro_id": [1, 2, 3], "vin": ["A", "A", "B"],
    ...                   "total_amount": [100.0, 300.0, 600.0]})
    >>> v = pd.DataFrame({"vin": ["A", "B"], "sold_here": [True, False]})
    >>> revenue_by_origin(o, v).to_numpy().tolist()
    [[True, 2, 1, 400.0, 0.4, 400.0], [False, 1, 1, 600.0, 0.6, 600.0]]
    """
    o = to_pandas(orders, "orders")
    v = to_pandas(vehicles, "vehicles")
    require_columns(o, ["ro_id", "vin", "total_amount"], "repair_orders")
    require_columns(v, ["vin", "sold_here"], "vehicles")
    merged = o.merge(v[["vin", "sold_here"]], on="vin", how="left")
    out = merged.groupby("sold_here").agg(
        orders=("ro_id", "size"), vehicles=("vin", "nunique"), revenue=("total_amount", "sum"))
    out = out.reindex([True, False], fill_value=0)
    out["share_revenue"] = out["revenue"] / out["revenue"].sum()
    out["revenue_per_vehicle"] = out["revenue"] / out["vehicles"].where(out["vehicles"] > 0)
    out.index.name = "sold_here"
    return out.reset_index()

"""Store economics: why after-sales retention pays, in RMB per month and per new car.

The 2012 after-sales CRM deck (售后服务客户关系管理, ../shared/seeds/004, slide 2,
"为什么要维护客户关系") works through a standard 2,000 m² 4S store:

- investment: building (steel frame, glass front) about ¥3M, depreciated over 15 years;
  equipment and tools bought from the maker about ¥2M, over 10 years; about ¥2M of
  working capital;
- running cost about ¥400k a month: 70 staff ¥150k, land rent ¥80k (¥40 per m²),
  advertising and hidden public-relations costs the rest;
- gross profit: new cars 100 a month × ¥2,000 = ¥200k; service 1,300 orders a month ×
  ¥500 average order value × 45 % margin = ¥292.5k; together ¥492.5k,

"so a well-run store that makes ¥100k a month is already doing well" — and service, not
the new-car sale, carries most of the running cost. This module turns that arithmetic
into functions that take the store's own data:

:class:`StoreEconomics`
    the deck's parameters (frozen dataclass; every figure can be changed).
:func:`service_pnl`
    the monthly P&L as a tidy table, with orders per month, average order value, service
    gross margin and new cars per month measured from the data when given.
:func:`service_by_age`
    narwhals table builder (pandas or Polars in, the same kind out): per age band of the
    cars the store sold, the retention rate (exactly
    :func:`crm_analysis.retention.retention_by_vehicle_age` with ``base="sold"``) and
    orders, revenue, gross profit and net value in the last 12 months, in total and per
    retained car.
:func:`new_car_lifetime_value`
    the after-sales value of one new car sold today, year by year, discounted.
:func:`retention_lift`
    what-if: the value gained when retention rises by some points at chosen ages.
:func:`observed_years`
    how many years of a car's life a curve can value.
:func:`customer_value_by_age`
    customers' lifetime value (from the visit and spend models of
    :mod:`crm_analysis.btyd`) per age segment of their main vehicle.

The charts are :func:`crm_analysis.plots.pnl_waterfall`,
:func:`crm_analysis.plots.lifetime_value` and :func:`crm_analysis.plots.retention_lift`.

Money in the measured figures is summed in whole fen: each order's revenue and gross
profit are rounded to 0.01 RMB (half up) and added as integers, so the sums are exact,
do not depend on the order of addition and are the same with pandas and Polars.

Example
-------
>>> from crm_analysis.economics import service_pnl
>>> pnl = service_pnl()  # the deck's store, no data
>>> pnl.set_index("line").loc[["new_car_gross", "service_gross", "total_gross",
...                            "operating_profit_before_depreciation"], "value"].tolist()
[200000.0, 292500.0, 492500.0, 92500.0]
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from crm_analysis._frames import _datetime, _nw_frame, _schema, _string
from crm_analysis._inputs import (
    caller,
    check_int,
    check_number,
    read_as_of,
    require_columns,
    tables,
    to_pandas,
)
from crm_analysis.i18n import t
from crm_analysis.margins import DEFAULT_COST_PER_ORDER, Margins, order_profit
from crm_analysis.overview import window_start
from crm_analysis.retention import _age_at_most, _age_band, _check_store, _finish, _tables
from crm_analysis.schema import Dataset
from crm_analysis.value import _AGE_SEGMENT_BOUNDS, AGE_SEGMENTS

__all__ = [
    "PNL_LINES",
    "LifetimeValue",
    "LiftResult",
    "StoreEconomics",
    "customer_value_by_age",
    "new_car_lifetime_value",
    "observed_years",
    "pnl_label",
    "retention_lift",
    "service_by_age",
    "service_pnl",
]

_AMOUNTS = ("labor_amount", "parts_amount", "other_amount")
_BY_AGE_COLUMNS = (
    "age_band", "vehicles", "retained", "retention_rate", "orders", "revenue",
    "gross_profit", "net_value", "orders_per_retained", "revenue_per_retained",
    "gross_profit_per_retained", "net_value_per_retained",
)


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class StoreEconomics:
    """The parameters of a store's monthly P&L; defaults are the 2012 deck's store.

    Money is in RMB. Monthly figures are per calendar month.

    Parameters
    ----------
    new_cars_per_month:
        New cars sold per month (deck: 100).
    gross_per_new_car:
        Gross profit per new car sold, RMB (deck: 2,000). Exports hold no sale prices, so
        this figure is never measured.
    orders_per_month:
        Repair orders per month (deck: 1,300).
    order_value:
        Average revenue per repair order, RMB (客单价; deck: 500).
    service_margin:
        Service gross margin, 0..1 (deck: 0.45).
    running_cost_per_month:
        All running costs per month, RMB (deck: about 400,000); includes staff and land
        rent, so the handling cost per order (``cost_per_order`` elsewhere) is not
        subtracted again.
    staff, staff_cost_per_month:
        Head count (deck: 70) and their wages per month (deck: 150,000), part of the
        running cost.
    floor_area_m2, land_rent_per_m2:
        Site area (deck: 2,000 m²) and monthly rent per m² (deck: ¥40), part of the
        running cost (deck: 80,000 a month).
    building_cost, building_years:
        Building cost and straight-line depreciation period (deck: ¥3M over 15 years).
    equipment_cost, equipment_years:
        Equipment and tools from the maker (deck: ¥2M over 10 years).
    working_capital:
        Working capital tied up (deck: about ¥2M); used only for the return on capital.

    Example
    -------
    >>> p = StoreEconomics()
    >>> p.new_car_gross, p.service_gross, p.depreciation_per_month
    (200000.0, 292500.0, 33333.333333333336)
    >>> StoreEconomics(orders_per_month=1500).service_gross
    337500.0
    """

    new_cars_per_month: float = 100.0
    gross_per_new_car: float = 2_000.0
    orders_per_month: float = 1_300.0
    order_value: float = 500.0
    service_margin: float = 0.45
    running_cost_per_month: float = 400_000.0
    staff: int = 70
    staff_cost_per_month: float = 150_000.0
    floor_area_m2: float = 2_000.0
    land_rent_per_m2: float = 40.0
    building_cost: float = 3_000_000.0
    building_years: float = 15.0
    equipment_cost: float = 2_000_000.0
    equipment_years: float = 10.0
    working_capital: float = 2_000_000.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int | float | np.number) \
                    or not math.isfinite(float(v)) or v < 0:
                raise ValueError(f"StoreEconomics: {f.name} must be a finite number >= 0, "
                                 f"got {v!r}")
        if self.service_margin > 1:
            raise ValueError(f"StoreEconomics: service_margin must be within 0..1, got "
                             f"{self.service_margin!r}")
        for name in ("building_years", "equipment_years"):
            if not getattr(self, name) > 0:
                raise ValueError(f"StoreEconomics: {name} must be > 0, got "
                                 f"{getattr(self, name)!r}")
        named = self.staff_cost_per_month + self.land_rent_per_month
        if named > self.running_cost_per_month + 1e-9:
            raise ValueError(
                f"StoreEconomics: staff ({self.staff_cost_per_month:,.0f}) plus land rent "
                f"({self.land_rent_per_month:,.0f}) exceed running_cost_per_month "
                f"({self.running_cost_per_month:,.0f}), of which they are parts")

    def replace(self, **changes: Any) -> StoreEconomics:
        """A copy with some parameters changed.

        Example
        -------
        >>> StoreEconomics().replace(service_margin=0.5).service_margin
        0.5
        """
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise TypeError(f"StoreEconomics.replace: unknown parameter(s) {unknown}")
        return StoreEconomics(**{**asdict(self), **changes})

    @property
    def land_rent_per_month(self) -> float:
        """Land rent per month: area × rent per m²."""
        return float(self.floor_area_m2) * float(self.land_rent_per_m2)

    @property
    def new_car_gross(self) -> float:
        """New-car gross profit per month."""
        return float(self.new_cars_per_month) * float(self.gross_per_new_car)

    @property
    def service_gross(self) -> float:
        """Service gross profit per month: orders × order value × margin."""
        return (float(self.orders_per_month) * float(self.order_value)
                * float(self.service_margin))

    @property
    def depreciation_per_month(self) -> float:
        """Straight-line depreciation of building and equipment per month."""
        return (float(self.building_cost) / (float(self.building_years) * 12)
                + float(self.equipment_cost) / (float(self.equipment_years) * 12))


# --------------------------------------------------------------------------- labels

_TEXT: dict[str, tuple[str, str]] = {
    # P&L lines
    "new_cars_per_month": ("New cars sold", "新车销量"),
    "gross_per_new_car": ("Gross profit per new car", "单车新车毛利"),
    "new_car_gross": ("New-car gross profit", "新车销售毛利"),
    "orders_per_month": ("Repair orders", "维修台次"),
    "order_value": ("Average order value", "客单价"),
    "service_margin": ("Service gross margin", "维修保养毛利率"),
    "service_revenue": ("Service revenue", "维修保养收入"),
    "service_gross": ("Service gross profit", "维修保养毛利"),
    "total_gross": ("Total gross profit", "毛利合计"),
    "staff_cost": ("Staff wages", "员工工资"),
    "land_rent": ("Land rent", "土地租金"),
    "other_running_cost": ("Advertising and other running costs", "广告及其他经营费用"),
    "running_cost": ("Running cost", "经营费用"),
    "operating_profit_before_depreciation": ("Operating profit before depreciation",
                                             "折旧前经营利润"),
    "building_depreciation": ("Building depreciation", "建筑折旧"),
    "equipment_depreciation": ("Equipment depreciation", "设备折旧"),
    "depreciation": ("Depreciation", "折旧"),
    "operating_profit_after_depreciation": ("Operating profit after depreciation",
                                            "折旧后经营利润"),
    "service_absorption": ("Service absorption (service gross / running cost)",
                           "售后吸收率（维修保养毛利/经营费用）"),
    "service_share_of_gross": ("Service share of gross profit", "售后毛利占比"),
    "breakeven_orders_per_month": ("Orders for full service absorption",
                                   "售后毛利覆盖经营费用所需台次"),
    "return_on_capital": ("Return on capital", "投资回报率"),
}

_UNITS = {
    "new_cars_per_month": "vehicles_per_month",
    "gross_per_new_car": "rmb_per_vehicle",
    "orders_per_month": "orders_per_month",
    "order_value": "rmb_per_order",
    "service_margin": "share",
    "service_absorption": "share",
    "service_share_of_gross": "share",
    "breakeven_orders_per_month": "orders_per_month",
    "return_on_capital": "share_per_year",
}

#: Line codes of :func:`service_pnl`, in table order.
PNL_LINES: tuple[str, ...] = (
    "new_cars_per_month", "gross_per_new_car", "new_car_gross",
    "orders_per_month", "order_value", "service_margin", "service_revenue", "service_gross",
    "total_gross",
    "staff_cost", "land_rent", "other_running_cost", "running_cost",
    "operating_profit_before_depreciation",
    "building_depreciation", "equipment_depreciation", "depreciation",
    "operating_profit_after_depreciation",
    "service_absorption", "service_share_of_gross", "breakeven_orders_per_month",
    "return_on_capital",
)


def pnl_label(line: str, lang: str = "en") -> str:
    """The English or Chinese name of a :func:`service_pnl` line.

    Example
    -------
    >>> pnl_label("service_gross", "zh"), pnl_label("order_value")
    ('维修保养毛利', 'Average order value')
    """
    if line not in PNL_LINES:
        raise KeyError(f"{caller()}: unknown line {line!r}; lines: {list(PNL_LINES)}")
    return t(line, lang, labels=_TEXT)


# --------------------------------------------------------------------------- inputs


def _fen(expr: nw.Expr) -> nw.Expr:
    """RMB → whole fen (0.01 RMB), half up: the same integer in every backend."""
    return (expr * 100.0 + 0.5).floor().cast(nw.Int64)


def _window_orders(data: Any, sid: str, start: _dt.datetime, end: _dt.datetime,
                   margins: Margins | None, cost_per_order: float) -> nw.LazyFrame:
    """Orders of store ``sid`` opened in (start, end]: vin, _rev, _gp (fen, Int64)."""
    o = _nw_frame(tables(data)["repair_orders"], "repair_orders").lazy()
    sch = _schema(o)
    require_columns(sch, ["vin", "store_id", "open_date", *_AMOUNTS], "repair_orders")
    extra = [c for c in ("payer", "labor_cost", "parts_cost") if c in sch]
    o = (
        o.select(_string(sch, "vin"), _string(sch, "store_id"),
                 _datetime(sch, "open_date", "repair_orders"),
                 *(nw.col(c).cast(nw.Float64) for c in _AMOUNTS),
                 *(_string(sch, c) if c == "payer" else nw.col(c).cast(nw.Float64)
                   for c in extra))
        .filter((nw.col("store_id") == sid) & (nw.col("open_date") > start)
                & (nw.col("open_date") <= end))
    )
    bad = o.filter(nw.any_horizontal(*(nw.col(c).is_null() for c in _AMOUNTS),
                                     ignore_nulls=False))
    n_bad = int(bad.select(nw.len()).collect().item())
    if n_bad:
        first = bad.select("vin", "open_date").head(1).collect().rows()[0]
        raise ValueError(
            f"{caller()}: {n_bad} order(s) of store {sid!r} in ({start.date()}, {end.date()}] "
            f"have a missing {'/'.join(_AMOUNTS)} (first: vin {first[0]!r}, opened "
            f"{first[1]}); fill them (e.g. with 0) first so that no order is left out")
    prof = nw.from_native(order_profit(o.to_native(), margins=margins,
                                       cost_per_order=cost_per_order)).lazy()
    revenue = nw.col("labor_amount") + nw.col("parts_amount") + nw.col("other_amount")
    out = prof.select("vin", _fen(revenue).alias("_rev"), _fen(nw.col("gross_profit"))
                      .alias("_gp"))
    return out


# --------------------------------------------------------------------------- P&L


def service_pnl(
    data: Dataset | Mapping[str, Any] | None = None,
    *,
    as_of: Any = None,
    store_id: str | None = None,
    months: int = 12,
    params: StoreEconomics | None = None,
    margins: Margins | None = None,
) -> pd.DataFrame:
    """The store's monthly P&L as a tidy table: the deck's arithmetic on the store's data.

    Without ``data`` every driver comes from ``params`` (default: the deck's store) and the
    table reproduces the deck: 100 × ¥2,000 + 1,300 × ¥500 × 45 % = ¥200,000 + ¥292,500 =
    ¥492,500 of gross profit a month, ¥92,500 after the ¥400,000 running cost.

    With ``data`` four drivers are measured over the months (T − ``months``, T] at the
    store (calendar months, as everywhere in the package):

    - ``orders_per_month``: repair orders opened at the store in the window / ``months``
      (all order types and payers, warranty and internal included);
    - ``order_value``: their revenue (``labor_amount + parts_amount + other_amount``) /
      orders;
    - ``service_margin``: their gross profit (:func:`crm_analysis.margins.order_profit`:
      cost columns when the export has them, else ``margins``) / revenue;
    - ``new_cars_per_month``: cars the store sold (``sold_here``, home store = the store)
      with a sale date in the window / ``months``.

    Everything else (gross per new car, costs, investment) comes from ``params``.

    Derived lines: ``new_car_gross`` = cars × gross per car; ``service_revenue`` = orders
    × order value; ``service_gross`` = revenue × margin (with data: exactly the measured
    gross profit / months); ``total_gross``; the running cost and its parts (staff, land
    rent = area × rent per m², the rest = advertising and other); operating profit before
    depreciation = total gross − running cost; straight-line depreciation of building and
    equipment; operating profit after depreciation; ``service_absorption`` = service
    gross / running cost (the share of the running cost that after-sales pays for; 1 =
    the store could live on service alone); ``service_share_of_gross``;
    ``breakeven_orders_per_month`` = running cost / (order value × margin), the orders
    at which service alone would cover the running cost; and ``return_on_capital`` = 12 ×
    operating profit after depreciation / (building + equipment + working capital), a
    simple yearly return on the money put in.

    Parameters
    ----------
    data:
        None (the deck's store), a :class:`~crm_analysis.schema.Dataset` or a mapping
        ``{"repair_orders": ..., "vehicles": ...}`` of pandas or Polars frames.
    as_of:
        End T of the window (default: the data's own as-of date); ignored without
        data.
    store_id:
        The store; may be left out when the data hold one store only.
    months:
        Length of the measurement window in calendar months.
    params:
        :class:`StoreEconomics` (default: the deck's figures).
    margins:
        :class:`~crm_analysis.margins.Margins` for orders without cost columns.

    Returns
    -------
    pandas DataFrame, one row per line of :data:`PNL_LINES` in that order: ``line``
    (code; English and Chinese labels in ``_TEXT``), ``value`` (float), ``unit``
    (``rmb_per_month`` unless noted: ``vehicles_per_month``, ``rmb_per_vehicle``,
    ``orders_per_month``, ``rmb_per_order``, ``share``, ``share_per_year``) and
    ``source``: ``"data"`` for a measured driver or a line computed from one,
    ``"default"`` for a figure of ``params`` or a line computed from those only.
    ``attrs`` holds ``store_id``, ``start`` (exclusive), ``end``, ``months`` and the
    measured raw counts (``orders``, ``new_cars``, ``revenue``, ``gross_profit``) when
    data are given.

    Raises
    ------
    ValueError
        Unknown store; several stores and no ``store_id``; no order in the window; the
        store's orders start after the window does (a partial window would understate
        the monthly figures: use a smaller ``months``); an order in the window with a
        missing amount.

    Example
    -------
    >>> from crm_analysis.synth import generate
    >>> ds = generate(n_stores=1, seed=5, start="2019-01-01", as_of="2023-12-31", scale=0.05)
    >>> pnl = service_pnl(ds).set_index("line")
    >>> pnl.loc["orders_per_month", "source"], round(float(pnl.loc["orders_per_month", "value"]), 2)
    ('data', 40.17)
    >>> pnl.loc["running_cost", "source"], float(pnl.loc["running_cost", "value"])
    ('default', 400000.0)
    >>> round(float(pnl.loc["service_margin", "value"]), 3)
    0.464
    """
    p = params if params is not None else StoreEconomics()
    if not isinstance(p, StoreEconomics):
        raise TypeError(f"{caller()}: params must be a StoreEconomics, got {type(p).__name__}")
    months = check_int(months, "months")
    if data is None and as_of is not None:
        read_as_of(as_of)  # ignored without data, but a wrong type is still an error
    attrs: dict[str, Any] = {"store_id": None, "start": None, "end": None, "months": months}
    measured: dict[str, float] = {}
    if data is not None:
        t = _tables(data, as_of)
        T = t.as_of
        sid = _check_store(t, store_id)
        if sid is None:
            stores = set(t.known_stores)
            for frame in (t.vehicles, t.orders):
                stores |= set(frame.select("store_id").unique().collect()["store_id"]
                              .to_list())
            stores.discard(None)
            if len(stores) != 1:
                raise ValueError(f"{caller()}: the data hold stores {sorted(stores)}; pass "
                                 "store_id (the P&L and its costs are one store's)")
            sid = next(iter(stores))
        start = window_start(months, as_of=T)
        first = (t.orders.filter(nw.col("store_id") == sid).select(nw.col("open_date").min())
                 .collect().item())
        if first is None or pd.isna(first):
            raise ValueError(f"{caller()}: store {sid!r} has no repair order at all")
        if pd.Timestamp(first) > pd.Timestamp(start) + pd.DateOffset(months=1):
            raise ValueError(
                f"{caller()}: the orders of store {sid!r} start on "
                f"{pd.Timestamp(first).date()}, more than a "
                f"month after the start of the window ({start.date()}, {T.date()}]; the "
                f"monthly figures would be understated: pass a smaller months or a later "
                f"as_of")
        o = _window_orders(data, sid, start, T, margins, DEFAULT_COST_PER_ORDER)
        agg = o.select(nw.len().alias("n"), nw.col("_rev").sum(), nw.col("_gp").sum()
                       ).collect().rows()[0]
        n_orders, rev_fen, gp_fen = int(agg[0]), int(agg[1] or 0), int(agg[2] or 0)
        if n_orders == 0:
            raise ValueError(f"{caller()}: store {sid!r} has no repair order in "
                             f"({start.date()}, {T.date()}]")
        if rev_fen <= 0:
            raise ValueError(f"{caller()}: the orders of store {sid!r} in ({start.date()}, "
                             f"{T.date()}] have no revenue; the margin is undefined")
        sale = nw.col("sale_date")
        n_cars = int(t.vehicles.filter(
            (nw.col("store_id") == sid) & nw.col("sold_here") & (sale > start) & (sale <= T)
        ).select(nw.len()).collect().item())
        measured = {
            "orders_per_month": n_orders / months,
            "order_value": rev_fen / 100 / n_orders,
            "service_margin": gp_fen / rev_fen,
            "new_cars_per_month": n_cars / months,
        }
        attrs.update(store_id=sid, start=pd.Timestamp(start), end=pd.Timestamp(T),
                     orders=n_orders, new_cars=n_cars, revenue=rev_fen / 100,
                     gross_profit=gp_fen / 100)
    return _pnl_table(p, measured, attrs)


def _pnl_table(p: StoreEconomics, measured: Mapping[str, float],
               attrs: dict[str, Any]) -> pd.DataFrame:
    val: dict[str, float] = {}
    src: dict[str, str] = {}

    def put(line: str, value: float, *inputs: str) -> None:
        val[line] = float(value)
        if inputs:
            src[line] = "data" if any(src[i] == "data" for i in inputs) else "default"
        else:
            src[line] = "data" if line in measured else "default"

    for line in ("new_cars_per_month", "orders_per_month", "order_value", "service_margin"):
        put(line, measured.get(line, getattr(p, line)))
    put("gross_per_new_car", p.gross_per_new_car)
    put("new_car_gross", val["new_cars_per_month"] * val["gross_per_new_car"],
        "new_cars_per_month", "gross_per_new_car")
    put("service_revenue", val["orders_per_month"] * val["order_value"],
        "orders_per_month", "order_value")
    if "gross_profit" in attrs:  # measured: exactly gross profit / months
        put("service_gross", attrs["gross_profit"] / attrs["months"], "service_margin")
    else:
        put("service_gross", val["service_revenue"] * val["service_margin"],
            "service_revenue", "service_margin")
    put("total_gross", val["new_car_gross"] + val["service_gross"],
        "new_car_gross", "service_gross")
    put("staff_cost", p.staff_cost_per_month)
    put("land_rent", p.land_rent_per_month)
    put("running_cost", p.running_cost_per_month)
    put("other_running_cost", val["running_cost"] - val["staff_cost"] - val["land_rent"],
        "running_cost", "staff_cost", "land_rent")
    put("operating_profit_before_depreciation", val["total_gross"] - val["running_cost"],
        "total_gross", "running_cost")
    put("building_depreciation", p.building_cost / (p.building_years * 12))
    put("equipment_depreciation", p.equipment_cost / (p.equipment_years * 12))
    put("depreciation", val["building_depreciation"] + val["equipment_depreciation"],
        "building_depreciation", "equipment_depreciation")
    put("operating_profit_after_depreciation",
        val["operating_profit_before_depreciation"] - val["depreciation"],
        "operating_profit_before_depreciation", "depreciation")
    rc = val["running_cost"]
    put("service_absorption", val["service_gross"] / rc if rc > 0 else math.nan,
        "service_gross", "running_cost")
    tg = val["total_gross"]
    put("service_share_of_gross", val["service_gross"] / tg if tg != 0 else math.nan,
        "service_gross", "total_gross")
    per_order = val["order_value"] * val["service_margin"]
    put("breakeven_orders_per_month", rc / per_order if per_order > 0 else math.nan,
        "order_value", "service_margin", "running_cost")
    capital = p.building_cost + p.equipment_cost + p.working_capital
    put("return_on_capital",
        12 * val["operating_profit_after_depreciation"] / capital if capital > 0
        else math.nan, "operating_profit_after_depreciation")
    out = pd.DataFrame({
        "line": list(PNL_LINES),
        "value": [val[k] for k in PNL_LINES],
        "unit": [_UNITS.get(k, "rmb_per_month") for k in PNL_LINES],
        "source": [src[k] for k in PNL_LINES],
    })
    out.attrs.update(attrs)
    out.attrs["params"] = asdict(p)
    return out


# --------------------------------------------------------------------------- by age


def service_by_age(
    data: Dataset | Mapping[str, Any],
    *,
    as_of: Any = None,
    store_id: str,
    window_months: int = 12,
    max_age: float = 10,
    margins: Margins | None = None,
    cost_per_order: float = DEFAULT_COST_PER_ORDER,
):
    """What the cars the store sold bring in, by vehicle-age band: the value side of retention.

    The base is exactly that of :func:`crm_analysis.retention.retention_by_vehicle_age`
    with ``base="sold"``: cars the store sold (``sold_here``, home store = the store),
    sale date on or before T, at most ``max_age`` years old at T; age band k = age
    [k, k+1) at T ("year k+1"). For each band, over the orders of these cars at the store
    in (T − ``window_months``, T]:

    - ``vehicles``: base cars; ``retained``: those with at least one order in the window;
      ``retention_rate`` = retained / vehicles (equal to retention_by_vehicle_age's);
    - ``orders``, ``revenue`` (labour + parts + other), ``gross_profit``
      (:func:`crm_analysis.margins.order_profit`: cost columns when present, else
      ``margins``), ``net_value`` = gross profit − ``cost_per_order`` × orders;
    - per retained car: ``orders_per_retained``, ``revenue_per_retained``,
      ``gross_profit_per_retained``, ``net_value_per_retained`` (NaN when no car is
      retained).

    Orders of cars outside the base (bought elsewhere, older than ``max_age``) are not in
    this table; :func:`service_pnl` counts every order. The band is the age at T, so a
    band's window orders were opened at ages up to one year younger; band 0 holds cars
    sold during the window, owned for half a year on average, so its per-retained figures
    cover a partial first year.

    Parameters
    ----------
    data:
        A :class:`~crm_analysis.schema.Dataset` or a mapping ``{"vehicles": ...,
        "repair_orders": ...}`` of pandas or Polars frames (eager or lazy); the orders
        need ``vin``, ``store_id``, ``open_date``, ``labor_amount``, ``parts_amount``,
        ``other_amount`` (and ``payer``, ``labor_cost``, ``parts_cost`` when present).
    as_of:
        The date T (default: the data's own as-of date).
    store_id:
        The store.
    window_months:
        Window of the retention rate and of the order sums, in calendar months.
    max_age:
        Oldest car counted, in years.
    margins, cost_per_order:
        As in :func:`crm_analysis.margins.order_profit`.

    Returns
    -------
    Frame of the orders' kind (pandas for a Dataset; Polars lazy in → Polars lazy out),
    one row per non-empty band, sorted: ``age_band`` (Int64), ``vehicles``,
    ``retained``, ``orders`` (Int64), ``retention_rate`` and the money columns (Float64,
    RMB over the window). Money is summed in whole fen (module docstring), so pandas and
    Polars give identical tables.

    Example
    -------
    >>> from crm_analysis.synth import generate
    >>> ds = generate(n_stores=1, seed=5, start="2019-01-01", as_of="2023-12-31", scale=0.05)
    >>> s = service_by_age(ds, store_id="001")
    >>> s[["age_band", "vehicles", "retained", "orders"]].head(3)
       age_band  vehicles  retained  orders
    0         0        45        39      83
    1         1        57        42     132
    2         2        51        18      59
    >>> s["gross_profit_per_retained"].round(0).tolist()[:3]
    [407.0, 934.0, 769.0]
    """
    if store_id is None:
        raise TypeError(f"{caller()}: store_id is required")
    t = _tables(data, as_of)
    T = t.as_of
    sid = _check_store(t, store_id)
    window_months = check_int(window_months, "window_months")
    max_age = check_number(max_age, "max_age", minimum=0, strict=True)
    cost_per_order = check_number(cost_per_order, "cost_per_order", minimum=0)
    cost_fen = int(math.floor(cost_per_order * 100 + 0.5))
    start = window_start(window_months, as_of=T)

    sale = nw.col("sale_date")
    impl = t.orders.implementation
    base = (
        t.vehicles.filter((nw.col("store_id") == sid) & nw.col("sold_here")
                          & ~sale.is_null() & (sale <= T) & _age_at_most(T, max_age, impl))
        .select("vin", _age_band(T, impl).alias("age_band"))
    )
    dup = (base.group_by("vin").agg(nw.len().alias("_n")).filter(nw.col("_n") > 1)
           .select("vin").head(3).collect()["vin"].to_list())
    if dup:
        raise ValueError(f"{caller()}: table 'vehicles' lists VIN(s) {dup} more than once for "
                         f"store {sid!r}; each car sold here must appear once")
    o = _window_orders(data, sid, start, T, margins, cost_per_order)
    if o.implementation is not base.implementation:  # _tables converted the vehicles
        o = nw.from_arrow(o.collect().to_arrow(), backend=base.implementation).lazy()
    per_car = o.join(base.select("vin"), on="vin", how="inner").group_by("vin").agg(
        nw.len().alias("_orders"), nw.col("_rev").sum(), nw.col("_gp").sum())
    cars = base.join(per_car, on="vin", how="left").with_columns(
        nw.col("_orders", "_rev", "_gp").fill_null(0)).with_columns(
        _kept=(nw.col("_orders") > 0).cast(nw.Int64))
    f = nw.col
    out = (
        cars.group_by("age_band").agg(
            nw.len().alias("vehicles"),
            f("_kept").sum().alias("retained"),
            f("_orders").sum().alias("orders"),
            f("_rev").sum(), f("_gp").sum(),
        )
        .with_columns(f("age_band", "vehicles", "retained", "orders", "_rev", "_gp")
                      .cast(nw.Int64))
        .with_columns(_nv=f("_gp") - f("orders") * cost_fen)
        .with_columns(
            retention_rate=f("retained").cast(nw.Float64) / f("vehicles").cast(nw.Float64),
            revenue=f("_rev").cast(nw.Float64) * 0.01,
            gross_profit=f("_gp").cast(nw.Float64) * 0.01,
            net_value=f("_nv").cast(nw.Float64) * 0.01,
        )
    )
    ret = f("retained").cast(nw.Float64)
    per = {
        f"{c}_per_retained": nw.when(f("retained") > 0).then(f(c).cast(nw.Float64) / ret)
        .otherwise(float("nan"))
        for c in ("orders", "revenue", "gross_profit", "net_value")
    }
    out = out.with_columns(**per).select(*_BY_AGE_COLUMNS).sort("age_band")
    return _finish(out, t, ["age_band"])


# --------------------------------------------------------------------------- lifetime value


def _bands(curve: Any, value: str, max_age: Any) -> pd.DataFrame:
    """Bands 0 … max_age − 1 of the curve: age_band, retention, value_per_retained."""
    max_age = check_int(max_age, "max_age")
    curve = to_pandas(curve, "curve")
    require_columns(curve, ["age_band", "retention_rate", value], "curve")
    c = curve[["age_band", "retention_rate", value]].copy()
    if c["age_band"].isna().any():
        c = c[c["age_band"].notna()]
    c["age_band"] = c["age_band"].astype(np.int64)
    if c["age_band"].duplicated().any():
        dup = sorted(set(c.loc[c["age_band"].duplicated(), "age_band"]))
        raise ValueError(f"{caller()}: curve has several rows for age band(s) {dup}; pass one "
                         "store's curve")
    wanted = list(range(int(max_age)))
    c = c.set_index("age_band")
    absent = [k for k in wanted if k not in c.index]
    if absent:
        raise ValueError(
            f"{caller()}: the curve has no row for age band(s) {absent} (band k = year k+1); "
            f"the store has sold no car of that age: pass max_age <= {absent[0]} or a curve "
            f"covering {int(max_age)} years")
    c = c.loc[wanted]
    r = c["retention_rate"].astype(float).to_numpy()
    v = c[value].astype(float).to_numpy()
    if np.isnan(r).any() or (r < 0).any() or (r > 1).any():
        raise ValueError(f"{caller()}: retention_rate must be within 0..1, got {r.tolist()}")
    bad = np.isnan(v) & (r > 0)
    if bad.any():
        raise ValueError(f"{caller()}: column {value!r} is missing for band(s) "
                         f"{[k for k, b in zip(wanted, bad, strict=True) if b]} although "
                         "their retention is > 0")
    return pd.DataFrame({"age_band": wanted, "retention": r,
                         "value_per_retained": np.where(np.isnan(v), 0.0, v)})


def observed_years(curve: Any, max_age: int = 10) -> int:
    """How many years of a car's life the curve can value: at most ``max_age``, and no
    more than the oldest age band with a car the store sold (band k + 1 years).

    A store that opened seven years ago has sold no car older than seven; use the result
    as ``max_age`` of :func:`new_car_lifetime_value` and :func:`retention_lift`.

    Example
    -------
    >>> import pandas as pd
    >>> curve = pd.DataFrame({"age_band": [0, 1, 2, 3], "vehicles": [50, 40, 30, 0]})
    >>> observed_years(curve), observed_years(curve, max_age=2)
    (3, 2)
    """
    df = to_pandas(curve, "curve")
    max_age = check_int(max_age, "max_age")
    require_columns(df, ["vehicles", "age_band"], "curve")
    sold = df.loc[df["vehicles"] > 0, "age_band"]
    return min(max_age, int(sold.max()) + 1) if len(sold) else 0


@dataclass(frozen=True, eq=False)
class LifetimeValue:
    """Result of :func:`new_car_lifetime_value`.

    Attributes
    ----------
    by_age:
        pandas DataFrame, one row per age band k = 0 … max_age − 1 (year k+1):
        ``age_band``, ``retention``, ``value_per_retained``, ``expected_value`` (=
        retention × value per retained), ``discount_factor`` ((1 + d)^−(k + 0.5)),
        ``present_value`` and ``cumulative_present_value``.
    total:
        Present value of the car's after-sales value (RMB).
    undiscounted_total:
        The same without discounting.
    discount_rate, value:
        The yearly rate and the curve column used.
    """

    by_age: pd.DataFrame
    total: float
    undiscounted_total: float
    discount_rate: float
    value: str

    def share_in_first_years(self, years: int = 3) -> float:
        """The share of the present value earned in the car's first ``years`` years (the
        three warranty years by default); NaN when the total is 0.

        >>> import pandas as pd
        >>> curve = pd.DataFrame({"age_band": [0, 1], "retention_rate": [0.9, 0.5],
        ...                       "gross_profit_per_retained": [1000.0, 1200.0]})
        >>> new_car_lifetime_value(curve, max_age=2, discount_rate=0.0).share_in_first_years(1)
        0.6
        """
        years = check_int(years, "years", minimum=0)
        if not self.total:
            return float("nan")
        by = self.by_age
        return float(by.loc[by["age_band"] < years, "present_value"].sum()) / self.total


def _lifetime(bands: pd.DataFrame, discount_rate: float, value: str) -> LifetimeValue:
    k = bands["age_band"].to_numpy(dtype=float)
    by = bands.copy()
    by["expected_value"] = by["retention"] * by["value_per_retained"]
    by["discount_factor"] = (1.0 + discount_rate) ** -(k + 0.5)
    by["present_value"] = by["expected_value"] * by["discount_factor"]
    by["cumulative_present_value"] = by["present_value"].cumsum()
    return LifetimeValue(by, float(by["present_value"].sum()),
                         float(by["expected_value"].sum()), discount_rate, value)


def new_car_lifetime_value(
    curve: Any,
    *,
    discount_rate: float = 0.08,
    value: str = "gross_profit_per_retained",
    max_age: int = 10,
) -> LifetimeValue:
    """After-sales value of one new car sold today: Σ retention × value per retained car.

    For age year k+1 (band k = 0 … ``max_age`` − 1) the car is still serviced at the store
    with probability r_k (the band's retention rate) and, if it is, brings v_k (the value
    per retained car of the band, default gross profit), so its expected value in year
    k+1 is r_k · v_k. Values arrive on average mid-year and are discounted at
    ``discount_rate``: present value = Σ_k r_k v_k (1 + d)^−(k + 0.5).

    The curve is a cross-section: today's k-year-old cars stand in for the new car's
    future in year k+1 (a synthetic cohort), at today's prices (so ``discount_rate`` is
    a real rate). Gross profit is the default because the running cost is fixed: a car
    kept brings its gross profit to the store's bottom line (:func:`service_pnl`);
    ``value="net_value_per_retained"`` also subtracts the per-order handling cost.

    Parameters
    ----------
    curve:
        The output of :func:`service_by_age` (pandas or Polars) or any table with
        ``age_band``, ``retention_rate`` and the ``value`` column.
    discount_rate:
        Yearly rate, 0..1 (default 8 %).
    value:
        Value per retained car and year: ``gross_profit_per_retained`` (default),
        ``net_value_per_retained`` or ``revenue_per_retained``.
    max_age:
        Years counted (bands 0 … max_age − 1); the curve must cover them.

    Returns
    -------
    :class:`LifetimeValue`

    Example
    -------
    >>> import pandas as pd
    >>> curve = pd.DataFrame({"age_band": [0, 1], "retention_rate": [0.9, 0.5],
    ...                       "gross_profit_per_retained": [1000.0, 1200.0]})
    >>> lv = new_car_lifetime_value(curve, max_age=2, discount_rate=0.0)
    >>> lv.total, lv.by_age["expected_value"].tolist()
    (1500.0, [900.0, 600.0])
    >>> round(new_car_lifetime_value(curve, max_age=2).total, 2)  # 900/1.08**.5 + 600/1.08**1.5
    1400.61
    """
    d = check_number(discount_rate, "discount_rate", minimum=0, maximum=1)
    bands = _bands(curve, value, max_age)
    return _lifetime(bands, d, value)


@dataclass(frozen=True, eq=False)
class LiftResult:
    """Result of :func:`retention_lift`.

    Attributes
    ----------
    base, scenario:
        :class:`LifetimeValue` today and with the lifted retention.
    points:
        Retention change (fraction: 0.05 = 5 percentage points).
    ages:
        Age bands lifted (band k = year k+1).
    gain_per_car:
        scenario.total − base.total: present value gained per new car (RMB).
    undiscounted_gain_per_car:
        The same without discounting.
    cars_per_year:
        New cars sold per year (None when not given).
    gain_per_year:
        gain_per_car × cars_per_year: present value, at sale, of the gain from one year's
        new-car sales (None without ``cars_per_year``).
    steady_state_gain_per_year:
        undiscounted gain per car × cars_per_year: the extra value a year once every age
        cohort has ``cars_per_year`` cars and the higher retention (None without it).
    by_age:
        pandas DataFrame: ``age_band``, ``base_retention``, ``scenario_retention``,
        ``value_per_retained``, ``base_present_value``, ``scenario_present_value``,
        ``gain_present_value``.
    """

    base: LifetimeValue
    scenario: LifetimeValue
    points: float
    ages: tuple[int, ...]
    gain_per_car: float
    undiscounted_gain_per_car: float
    cars_per_year: float | None
    gain_per_year: float | None
    steady_state_gain_per_year: float | None
    by_age: pd.DataFrame


def retention_lift(
    curve: Any,
    *,
    points: float = 0.05,
    ages: Iterable[int] = range(3, 6),
    discount_rate: float = 0.08,
    cars_per_year: float | None = None,
    value: str = "gross_profit_per_retained",
    max_age: int = 10,
) -> LiftResult:
    """What-if: the value of one new car when retention rises by ``points`` at ``ages``.

    The scenario adds ``points`` to the retention rate of the age bands ``ages`` (capped
    at 1, floored at 0 for a negative change) and keeps the value per retained car, then
    compares :func:`new_car_lifetime_value` of both. The default lifts years 4–6 (bands
    3, 4, 5), just after the 3-year warranty, where retention drops most (DOMAIN.md
    section 4).

    Parameters
    ----------
    curve, discount_rate, value, max_age:
        As in :func:`new_car_lifetime_value`.
    points:
        Change of the retention rate as a fraction, −1..1 (0.05 = +5 points).
    ages:
        Age bands to lift, each in 0 … max_age − 1.
    cars_per_year:
        New cars sold per year, for ``gain_per_year`` (e.g. 12 × ``new_cars_per_month``
        of :func:`service_pnl`).

    Returns
    -------
    :class:`LiftResult`

    Example
    -------
    >>> import pandas as pd
    >>> curve = pd.DataFrame({"age_band": [0, 1, 2], "retention_rate": [0.9, 0.6, 0.98],
    ...                       "gross_profit_per_retained": [800.0, 1000.0, 1500.0]})
    >>> r = retention_lift(curve, points=0.05, ages=[1, 2], max_age=3, discount_rate=0.0,
    ...                    cars_per_year=1200)
    >>> r.by_age["scenario_retention"].round(2).tolist()  # band 2 capped at 1
    [0.9, 0.65, 1.0]
    >>> round(r.gain_per_car, 2), round(r.gain_per_year)  # 0.05·1000 + 0.02·1500
    (80.0, 96000)
    """
    d = check_number(discount_rate, "discount_rate", minimum=0, maximum=1)
    points = check_number(points, "points", minimum=-1, maximum=1)
    if isinstance(ages, int | np.integer):
        ages = [ages]
    try:
        lifted = tuple(sorted({int(a) for a in ages}))
    except (TypeError, ValueError):
        raise TypeError(f"{caller()}: ages must be age bands (integers), got {ages!r}") from None
    if not lifted:
        raise ValueError(f"{caller()}: ages is empty")
    bands = _bands(curve, value, max_age)
    outside = [a for a in lifted if not 0 <= a < len(bands)]
    if outside:
        raise ValueError(f"{caller()}: ages {outside} are outside the bands 0..{len(bands) - 1} "
                         "counted (band k = year k+1)")
    cpy = None if cars_per_year is None else check_number(cars_per_year, "cars_per_year",
                                                           minimum=0)
    base = _lifetime(bands, d, value)
    sc = bands.copy()
    hit = sc["age_band"].isin(lifted).to_numpy()
    sc["retention"] = np.where(hit, np.clip(sc["retention"] + points, 0.0, 1.0),
                               sc["retention"])
    scenario = _lifetime(sc, d, value)
    gain = scenario.total - base.total
    ugain = scenario.undiscounted_total - base.undiscounted_total
    by = pd.DataFrame({
        "age_band": bands["age_band"],
        "base_retention": base.by_age["retention"],
        "scenario_retention": scenario.by_age["retention"],
        "value_per_retained": bands["value_per_retained"],
        "base_present_value": base.by_age["present_value"],
        "scenario_present_value": scenario.by_age["present_value"],
    })
    by["gain_present_value"] = by["scenario_present_value"] - by["base_present_value"]
    return LiftResult(base, scenario, points, lifted, gain, ugain, cpy,
                      None if cpy is None else gain * cpy,
                      None if cpy is None else ugain * cpy, by)


# --------------------------------------------------------------------------- customers


def customer_value_by_age(features: Any, values: Any) -> pd.DataFrame:
    """Customers, mean P(alive) and lifetime value per age segment of the main vehicle.

    The after-sales deck plans its contacts by the age of the car: ``in_warranty``
    (< 3 years), ``post_warranty`` (3–5), ``mature`` (5–8) and ``old`` (>= 8), as
    :func:`crm_analysis.value.profile` (i18n ``age_segment.*``).

    Parameters
    ----------
    features:
        One row per customer with ``customer_id`` and ``main_vehicle_age`` (years), e.g.
        :func:`crm_analysis.features.customer_features` (pandas or Polars). Customers
        without a vehicle age are left out.
    values:
        One row per customer with ``customer_id``, ``p_alive`` and ``clv`` (from a BTYD
        model and :func:`crm_analysis.btyd.lifetime_values`). A customer of ``features``
        missing here counts as a customer, without values.

    Returns
    -------
    pandas DataFrame, one row per segment in the order above (every segment, also an
    empty one): ``segment``, ``customers``, ``p_alive`` (mean), ``clv`` (mean) and
    ``clv_total`` (sum; 0 for an empty segment).

    Example
    -------
    >>> f = pd.DataFrame({"customer_id": ["a", "b", "c", "d"],
    ...                   "main_vehicle_age": [1.0, 3.0, 9.5, None]})
    >>> v = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "p_alive": [0.9, 0.5, 0.7, 1.0],
    ...                   "clv": [1000.0, 400.0, 2000.0, 50.0]})
    >>> customer_value_by_age(f, v).to_numpy().tolist()  # doctest: +NORMALIZE_WHITESPACE
    [['in_warranty', 1, 0.9, 1000.0, 1000.0], ['post_warranty', 1, 0.5, 400.0, 400.0],
     ['mature', 0, nan, nan, 0.0], ['old', 1, 0.7, 2000.0, 2000.0]]
    """
    f = to_pandas(features, "features")
    v = to_pandas(values, "values")
    require_columns(f, ["customer_id", "main_vehicle_age"], "features")
    require_columns(v, ["customer_id", "p_alive", "clv"], "values")
    if v["customer_id"].duplicated().any():
        raise ValueError(f"{caller()}: values has several rows for customer(s) "
                         f"{sorted(set(v.loc[v['customer_id'].duplicated(), 'customer_id']))[:5]}")
    joined = f[["customer_id", "main_vehicle_age"]].merge(
        v[["customer_id", "p_alive", "clv"]], on="customer_id", how="left")
    edges = [-np.inf, *_AGE_SEGMENT_BOUNDS, np.inf]
    joined["segment"] = pd.cut(joined["main_vehicle_age"].astype(float), edges, right=False,
                               labels=list(AGE_SEGMENTS))
    out = (joined.groupby("segment", observed=False)
           .agg(customers=("customer_id", "size"), p_alive=("p_alive", "mean"),
                clv=("clv", "mean"), clv_total=("clv", "sum"))
           .reindex(list(AGE_SEGMENTS)).reset_index())
    out["segment"] = out["segment"].astype(str)
    out["customers"] = out["customers"].astype(np.int64)
    return out

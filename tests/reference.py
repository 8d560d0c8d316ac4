"""Brute-force reference implementations used to check the library, and hand-built inputs.

These follow the DOMAIN.md definitions literally, one vehicle at a time, with no
vectorization or cleverness, so that a fast implementation can be compared with them.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

import pandas as pd

DAYS_PER_YEAR = 365.25


def retention_by_age_reference(dataset, as_of, *, store_id: str, window_months: int = 12,
                               max_age: float = 10.0) -> pd.DataFrame:
    """Retention rate by vehicle-age band at ``as_of`` (DOMAIN.md section 3).

    Base: vehicles sold by the store (``sold_here``) with sale_date <= as_of and
    age <= max_age. Retained: at least one order at the store in
    (as_of - window_months, as_of]. Returns band, base, retained, rate.
    """
    t = pd.Timestamp(as_of)
    lo = t - pd.DateOffset(months=window_months)
    orders = dataset.repair_orders
    dates: dict[str, list[pd.Timestamp]] = defaultdict(list)
    for vin, store, d in zip(orders["vin"], orders["store_id"], orders["open_date"], strict=True):
        if store == store_id:
            dates[vin].append(d)
    for v in dates.values():
        v.sort()
    rows: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    v = dataset.vehicles
    for vin, store, sold_here, sale in zip(v["vin"], v["store_id"], v["sold_here"],
                                           v["sale_date"], strict=True):
        if store != store_id or not sold_here or pd.isna(sale) or sale > t:
            continue
        age = (t - sale).days / DAYS_PER_YEAR
        if age > max_age:
            continue
        band = int(age)
        ds = dates.get(vin, [])
        i = bisect.bisect_right(ds, lo)  # first order strictly after lo
        retained = i < len(ds) and ds[i] <= t
        rows[band][0] += 1
        rows[band][1] += int(retained)
    out = pd.DataFrame(
        [(b, n, r) for b, (n, r) in sorted(rows.items())], columns=["band", "base", "retained"]
    )
    out["rate"] = out["retained"] / out["base"]
    return out


def annual_average_reference(dataset, year_end, *, store_id: str, window_months: int = 12,
                             max_age: float = 10.0) -> pd.Series:
    """Mean over the 12 month-ends ending at ``year_end`` of the monthly retention rates."""
    ends = pd.date_range(end=pd.Timestamp(year_end), periods=12, freq="ME")
    rates = [
        retention_by_age_reference(dataset, e, store_id=store_id, window_months=window_months,
                                   max_age=max_age).set_index("band")["rate"]
        for e in ends
    ]
    return pd.concat(rates, axis=1).mean(axis=1)


# --------------------------------------------------------------------------- retention
# Brute-force references for crm_analysis.retention (issue 5). Each follows DOMAIN.md
# section 3 and the module's docstrings literally, one vehicle at a time.


_DATES_CACHE: dict = {}


def _store_order_dates(dataset, store_id: str, *, ro_types=None) -> dict[str, list]:
    """VIN -> sorted open dates of its orders at the store (optionally of some types).

    Memoized per orders table (the table is kept alive with the entry, so its id cannot
    be reused); callers must not modify the lists.
    """
    o = dataset.repair_orders
    key = (id(o), len(o), store_id, None if ro_types is None else tuple(sorted(ro_types)))
    if key in _DATES_CACHE:
        return _DATES_CACHE[key][1]
    dates: dict[str, list[pd.Timestamp]] = defaultdict(list)
    types = o["ro_type"] if ro_types is not None else [None] * len(o)
    for vin, store, d, rt in zip(o["vin"], o["store_id"], o["open_date"], types, strict=True):
        if store == store_id and (ro_types is None or rt in ro_types):
            dates[vin].append(pd.Timestamp(d))
    for v in dates.values():
        v.sort()
    _DATES_CACHE[key] = (o, dates)
    return dates


def _any_in(ds: list, lo, hi) -> bool:
    """Is there a date d in the sorted list with lo < d <= hi?"""
    return any(lo < d <= hi for d in ds)


def retention_reference(dataset, as_of, *, store_id: str, base: str = "sold",
                        window_months: int = 12, active_months: int = 6,
                        max_age: float = 10.0, service_months: int = 24) -> pd.DataFrame:
    """Retention rate and active ratio by age band, both bases, one vehicle at a time.

    Base ``"sold"``: vehicles with home store ``store_id`` and ``sold_here``, sale date
    known and <= T, age <= max_age. Base ``"service"``: every VIN with an order at the
    store in (T - service_months, T]; its sale date from the vehicles table (unknown if
    the VIN is absent or the date missing: band None), dropped if the sale date is after
    T or the age above max_age. Retained: an order at the store in (T - window_months, T];
    active: in (T - active_months, T]. Returns band (None last), base, retained, active.
    """
    t = pd.Timestamp(as_of)
    w_lo = t - pd.DateOffset(months=window_months)
    a_lo = t - pd.DateOffset(months=active_months)
    s_lo = t - pd.DateOffset(months=service_months)
    dates = _store_order_dates(dataset, store_id)
    v = dataset.vehicles
    sale_of = {vin: s for vin, s in zip(v["vin"], v["sale_date"], strict=True)}
    if base == "sold":
        members = [vin for vin, store, sold in zip(v["vin"], v["store_id"], v["sold_here"],
                                                   strict=True)
                   if store == store_id and sold]
    else:
        members = [vin for vin, ds in dates.items() if _any_in(ds, s_lo, t)]
    rows: dict = defaultdict(lambda: [0, 0, 0])
    for vin in members:
        sale = sale_of.get(vin, pd.NaT)
        if pd.isna(sale):
            if base == "sold":
                continue
            band = None
        else:
            if sale > t:
                continue
            age = (t - sale).days / DAYS_PER_YEAR
            if age > max_age:
                continue
            band = int(age)
        ds = dates.get(vin, [])
        rows[band][0] += 1
        rows[band][1] += int(_any_in(ds, w_lo, t))
        rows[band][2] += int(_any_in(ds, a_lo, t))
    keys = sorted(rows, key=lambda b: (b is None, b if b is not None else 0))
    out = pd.DataFrame([rows[b] for b in keys], columns=["base", "retained", "active"])
    out.insert(0, "band", pd.Series(keys, dtype=object))
    return out


def status_reference(dataset, as_of, *, store_id: str, active_months: int = 6,
                     lost_months: int = 12) -> pd.DataFrame:
    """Status of each vehicle of the store's scope at ``as_of``, one vehicle at a time.

    Scope: home store == store_id and sold here, or any order at the store on or before
    T; sale date <= T or unknown. ``sold_here`` is true only for the home store's own
    sales. never_returned: sold here and no order at the store after the sale date (on
    or before T); otherwise by the last order: active if after T - active_months,
    dormant if after T - lost_months, else lost. Sorted by VIN.
    """
    t = pd.Timestamp(as_of)
    a_lo = t - pd.DateOffset(months=active_months)
    l_lo = t - pd.DateOffset(months=lost_months)
    dates = {vin: [d for d in ds if d <= t]
             for vin, ds in _store_order_dates(dataset, store_id).items()}
    dates = {vin: ds for vin, ds in dates.items() if ds}
    v = dataset.vehicles
    info = {vin: (c, s, sold, sale) for vin, c, s, sold, sale in zip(
        v["vin"], v["customer_id"], v["store_id"], v["sold_here"], v["sale_date"],
        strict=True)}
    scope = set(dates) | {vin for vin, (_, s, sold, _) in info.items()
                          if s == store_id and sold}
    rows = []
    for vin in sorted(scope):
        cust, home, sold, sale = info.get(vin, (None, None, False, pd.NaT))
        sold_here = bool(sold) and home == store_id
        if not pd.isna(sale) and sale > t:
            continue
        ds = dates.get(vin, [])
        last = ds[-1] if ds else pd.NaT
        after_sale = [d for d in ds if pd.isna(sale) or d > sale]
        if sold_here and not after_sale:
            state = "never_returned"
        elif last > a_lo:
            state = "active"
        elif last > l_lo:
            state = "dormant"
        else:
            state = "lost"
        age = None if pd.isna(sale) else (t - sale).days / DAYS_PER_YEAR
        months = None if pd.isna(last) else (t - last).days / (DAYS_PER_YEAR / 12)
        rows.append((vin, cust, store_id, sold_here, sale, age, last, months, state))
    return pd.DataFrame(rows, columns=["vin", "customer_id", "store_id", "sold_here",
                                       "sale_date", "age_years", "last_order_date",
                                       "months_since_last_order", "status"])


def cohort_retention_reference(dataset, as_of, *, store_id: str,
                               max_age: float = 10.0) -> pd.DataFrame:
    """Sale-year cohort x age-year retention, one vehicle and one year at a time.

    Age year k of a car runs (sale + k years, sale + k + 1 years] (pandas DateOffset
    years); it counts once sale + k + 1 years <= T and k + 1 <= max_age; retained: an
    order at the store in that year. Returns sale_year, age_band, vehicles, retained.
    """
    t = pd.Timestamp(as_of)
    dates = _store_order_dates(dataset, store_id)
    v = dataset.vehicles
    cells: dict = defaultdict(lambda: [0, 0])
    for vin, store, sold, sale in zip(v["vin"], v["store_id"], v["sold_here"], v["sale_date"],
                                      strict=True):
        if store != store_id or not sold or pd.isna(sale) or sale > t:
            continue
        k = 0
        while k + 1 <= max_age:
            start = sale + pd.DateOffset(years=k)
            end = sale + pd.DateOffset(years=k + 1)
            if end > t:
                break
            cells[(sale.year, k)][0] += 1
            cells[(sale.year, k)][1] += int(_any_in(dates.get(vin, []), start, end))
            k += 1
    return pd.DataFrame([(y, k, n, r) for (y, k), (n, r) in sorted(cells.items())],
                        columns=["sale_year", "age_band", "vehicles", "retained"])


def service_funnel_reference(dataset, as_of, *, store_id: str,
                             ro_types=("maintenance", "warranty"), max_visits: int = 10,
                             min_age_years: float | None = None) -> pd.DataFrame:
    """Vehicles sold here with at least k service visits after the sale, k = 1..max_visits.

    A visit is a distinct day with an order of a type in ``ro_types`` at the store, after
    the sale date and on or before T. Base: sold here, sale date <= T, age >= min_age_years
    when given. Returns visit, vehicles, base.
    """
    t = pd.Timestamp(as_of)
    dates = _store_order_dates(dataset, store_id, ro_types=set(ro_types))
    v = dataset.vehicles
    counts = []
    for vin, store, sold, sale in zip(v["vin"], v["store_id"], v["sold_here"], v["sale_date"],
                                      strict=True):
        if store != store_id or not sold or pd.isna(sale) or sale > t:
            continue
        if min_age_years is not None and (t - sale).days / DAYS_PER_YEAR < min_age_years:
            continue
        days = {d.normalize() for d in dates.get(vin, []) if sale < d <= t}
        counts.append(len(days))
    return pd.DataFrame([(k, sum(c >= k for c in counts), len(counts))
                         for k in range(1, max_visits + 1)],
                        columns=["visit", "vehicles", "base"])


def hand_tidy_retention() -> pd.DataFrame:
    """Retention by store and vehicle-age band, built by hand for the group comparisons.

    band 0: B best (0.9), A 0.85, C 0.70 -> gaps A 5, C 20; band 1: A and B tie at 0.6
    (A wins the tie), C 0.3 -> C 30; band 2: only B; band 3: A 0.2 base 10, C 0.25.
    """
    return pd.DataFrame({
        "store_id": ["A", "B", "C", "A", "B", "C", "B", "A", "C"],
        "age_band": [0, 0, 0, 1, 1, 1, 2, 3, 3],
        "retention_rate": [0.85, 0.90, 0.70, 0.60, 0.60, 0.30, 0.50, 0.20, 0.25],
        "base_vehicles": [100, 120, 80, 90, 95, 60, 70, 10, 40],
    })

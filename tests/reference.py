"""Brute-force reference implementations used to check the library.

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

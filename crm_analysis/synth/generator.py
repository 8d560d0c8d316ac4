"""The synthetic dealer-group simulation.

How one vehicle lives (all ages in years since its sale):

1. **Arrival.** Stores sell new cars month by month (growth, ramp-up after opening,
   calendar and Chinese-New-Year seasonality). Cars bought elsewhere arrive as walk-ins
   at a later age (``entry_age``) and are left-truncated in survival terms.
2. **Owner.** A private buyer is a new individual or, sometimes, an existing customer
   buying another car; company, taxi, government and some ride-hailing cars belong to
   fleet customers. The owner's distance ring sets the distance to the store.
3. **Defection.** A piecewise-constant yearly hazard by vehicle age, scaled by store,
   usage, grade, distance and a latent loyalty (log-normal frailty), plus a one-off
   chance of leaving when the warranty ends (years or km, whichever first). The
   decision age ``D`` is drawn exactly by inverting the cumulative hazard. After ``D``
   the car never comes back; the truth table records ``D`` and the last order before it.
4. **Orders while alive.** Maintenance whenever the km or months interval is due
   (owners come late by a log-normal factor), the first service 0.2–1.2 months after the
   sale; repairs at a rate growing with age and mileage; accidents (more in winter,
   mostly insurance-paid); warranty claims only inside warranty; detailing and other
   orders. Poisson processes with time-varying rates are drawn by thinning. Orders that
   would fall in the Chinese-New-Year closure are pushed to just after it.
5. **Money.** Order value by type, grade and age (log-normal), split into labour, parts
   and other; costs from margins by type and component, so gross margin is known.

Everything is vectorized with NumPy except the assignment of cars to owners (a loop
over cars in date order, because a repeat buyer must already exist).
"""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import replace as dc_replace
from typing import Any

import numpy as np
import pandas as pd

from crm_analysis import config
from crm_analysis._inputs import check_number, read_as_of
from crm_analysis.schema import RO_TYPES, Dataset, coerce
from crm_analysis.synth import pii
from crm_analysis.synth.calendar import cny_array
from crm_analysis.synth.params import (
    DEFAULT_REGION_DISTANCE_KM,
    DEFAULT_STORES,
    StoreProfile,
    SynthParams,
)

DAYS_PER_YEAR = 365.25

#: Models sold, by grade: (model name, 5-character VIN model code).
MODELS: dict[str, list[tuple[str, str]]] = {
    "economy": [("Sparrow 1.5L", "SP15A"), ("Finch 1.6L", "FN16B")],
    "mid": [("Heron 2.0L", "HR20C"), ("Crane 1.8T", "CR18D")],
    "premium": [("Falcon 2.0T", "FC20E"), ("Eagle 3.0T", "EG30F")],
}
COLORS = ("white", "black", "silver", "grey", "blue", "red")
COLOR_P = (0.38, 0.22, 0.14, 0.12, 0.08, 0.06)
OCCUPATIONS = (
    "office_worker", "private_business_owner", "civil_servant", "teacher", "professional",
    "factory_worker", "retired", "other",
)
OCCUPATION_P = (0.30, 0.20, 0.08, 0.07, 0.12, 0.10, 0.05, 0.08)
WALKIN_FIRST_ORDER = ("maintenance", "repair", "body_paint")
WALKIN_FIRST_ORDER_P = (0.60, 0.25, 0.15)
FLEET_CUSTOMER_TYPE = {
    "company": "company", "taxi": "company", "ride_hailing": "company",
    "government": "government",
}


def generate(
    n_stores: int = 3,
    seed: int = config.DEFAULT_SEED,
    *,
    start: Any = "2014-01-01",
    as_of: Any = config.DEFAULT_AS_OF,
    stores: list[StoreProfile] | tuple[StoreProfile, ...] | None = None,
    scale: float = 1.0,
    **overrides: Any,
) -> Dataset:
    """Generate a synthetic dealer group with ground truth.

    Parameters
    ----------
    n_stores:
        Number of stores. The first three are the default city-mainstream,
        city-premium and county-town stores; more stores cycle through those templates
        with jittered volumes and new ids (``"004"``, …). Ignored when ``stores`` is given.
    seed:
        Random seed. The same seed and parameters give identical tables.
    start, as_of:
        First day of the simulated history and the day the export is taken (no order
        after it).
    stores:
        Explicit store profiles, overriding ``n_stores``.
    scale:
        Multiplies every store's sales and walk-in volume (``scale=0.1`` gives a small,
        fast dataset with the same behaviour).
    **overrides:
        Any field of :class:`~crm_analysis.synth.params.SynthParams`.

    Returns
    -------
    Dataset
        ``stores``, ``customers``, ``vehicles``, ``repair_orders``, a ``truth`` table
        with one row per vehicle, and ``meta`` (seed, dates, parameters).

    Example
    -------
    >>> from crm_analysis.synth import generate
    >>> ds = generate(n_stores=1, seed=1, start="2022-01-01", as_of="2023-12-31", scale=0.1)
    >>> ds.validate().ok
    True
    >>> bool((ds.repair_orders["open_date"] <= "2023-12-31").all())
    True
    """
    asof_d = np.datetime64(read_as_of(as_of).date(), "D")
    start_d = np.datetime64(read_as_of(start, name="start").date(), "D")
    params = SynthParams().replace(**overrides) if overrides else SynthParams()
    params.validate()
    profiles = _store_profiles(n_stores, seed, stores)
    check_number(scale, "scale", minimum=0, strict=True)
    if asof_d <= start_d:
        raise ValueError(f"generate: as_of ({asof_d}) must be after start ({start_d})")
    # a short history still holds every store: openings are clamped to its first half
    n_months = int((asof_d.astype("datetime64[M]") - start_d.astype("datetime64[M]")).astype(int))
    profiles = [
        dc_replace(sp, opened_months_after_start=min(sp.opened_months_after_start, n_months // 2))
        for sp in profiles
    ]

    seeds = np.random.SeedSequence(seed).spawn(6)
    rng_arrival, rng_owner, rng_defect, rng_orders, rng_money, rng_pii = (
        np.random.default_rng(s) for s in seeds
    )

    veh = _arrivals(profiles, params, start_d, asof_d, scale, rng_arrival)
    veh, cust = _owners(veh, profiles, params, rng_owner)
    veh = _defection(veh, profiles, params, asof_d, rng_defect)
    orders = _orders(veh, params, asof_d, rng_orders)
    orders = _amounts(orders, veh, params, asof_d, rng_money)
    return _assemble(veh, cust, orders, profiles, params, start_d, asof_d, seed, scale,
                     rng_pii)


# ---------------------------------------------------------------------------------
# stores
# ---------------------------------------------------------------------------------


def _store_profiles(n_stores: int, seed: int, stores: Any) -> list[StoreProfile]:
    if stores is not None:
        profiles = list(stores)
        ids = [p.store_id for p in profiles]
        if len(set(ids)) != len(ids):
            raise ValueError(f"store ids must be unique, got {ids}")
        if not profiles:
            raise ValueError("stores is empty")
        return profiles
    if n_stores < 1:
        raise ValueError(f"n_stores must be >= 1, got {n_stores}")
    rng = np.random.default_rng([seed, 7])
    out: list[StoreProfile] = []
    for i in range(n_stores):
        tpl = DEFAULT_STORES[i % len(DEFAULT_STORES)]
        if i < len(DEFAULT_STORES):
            out.append(tpl)
            continue
        k = i // len(DEFAULT_STORES) + 1
        out.append(
            StoreProfile(
                store_id=f"{i + 1:03d}",
                store_name=f"{tpl.store_name} {k}",
                city=tpl.city,
                opened_months_after_start=int(rng.integers(0, 60)),
                sales_per_month=float(tpl.sales_per_month * rng.uniform(0.6, 1.4)),
                sales_growth_per_year=tpl.sales_growth_per_year,
                grade_mix=tpl.grade_mix,
                usage_mix=tpl.usage_mix,
                region_mix=tpl.region_mix,
                walkin_ratio=tpl.walkin_ratio,
                hazard_multiplier=float(tpl.hazard_multiplier * rng.uniform(0.85, 1.15)),
            )
        )
    return out


# ---------------------------------------------------------------------------------
# 1. arrivals: own sales and walk-ins
# ---------------------------------------------------------------------------------


def _arrivals(profiles, params: SynthParams, start_d, asof_d, scale, rng) -> pd.DataFrame:
    months = np.arange(start_d.astype("datetime64[M]"), asof_d.astype("datetime64[M]") + 1)
    month_start = months.astype("datetime64[D]")
    month_days = ((months + 1).astype("datetime64[D]") - month_start).astype(np.int64)
    cal_month = months.astype(int) % 12  # 0 = January
    years = months.astype("datetime64[Y]").astype(int) + 1970
    cny = cny_array(int(years.min()), int(years.max()))
    cny_month = cny.astype("datetime64[M]")
    is_cny_month = np.isin(months, cny_month)
    month_factor = np.asarray(params.sales_month_factor)[cal_month]
    month_factor = np.where(is_cny_month, month_factor * params.cny_sales_factor, month_factor)

    parts = []
    for sp in profiles:
        k = np.arange(len(months)) - sp.opened_months_after_start  # months since opening
        open_ = k >= 0
        ramp = np.clip(0.5 + 0.5 * k / max(params.ramp_up_months, 1), 0.0, 1.0)
        growth = (1.0 + sp.sales_growth_per_year) ** (np.maximum(k, 0) / 12.0)
        base = sp.sales_per_month * scale * growth * ramp * open_
        for sold_here, rate in (
            (True, base * month_factor),
            (False, base * sp.walkin_ratio),
        ):
            counts = rng.poisson(rate)
            m_idx = np.repeat(np.arange(len(months)), counts)
            day = (rng.random(len(m_idx)) * month_days[m_idx]).astype(np.int64)
            date = month_start[m_idx] + day
            keep = date <= asof_d
            date = date[keep]
            n = len(date)
            if sold_here:
                entry_age = np.zeros(n)
            else:
                entry_age = params.walkin_entry_age_offset + rng.gamma(
                    params.walkin_entry_age_shape, params.walkin_entry_age_scale, n
                )
                entry_age = np.minimum(entry_age, params.walkin_max_entry_age)
            sale = date - np.round(entry_age * DAYS_PER_YEAR).astype(np.int64)
            parts.append(
                pd.DataFrame(
                    {
                        "store_id": sp.store_id,
                        "sold_here": sold_here,
                        "entry_date": date,
                        "sale_date": sale,
                        "entry_age": (date - sale).astype(np.int64) / DAYS_PER_YEAR,
                    }
                )
            )
    veh = pd.concat(parts, ignore_index=True)
    # deterministic order: by store, then entry date, own sales first
    veh = veh.sort_values(["store_id", "entry_date", "sold_here"], ascending=[True, True, False],
                          kind="mergesort").reset_index(drop=True)
    n = len(veh)
    store_of = {sp.store_id: sp for sp in profiles}
    grade = np.empty(n, dtype=object)
    usage = np.empty(n, dtype=object)
    for sid, idx in veh.groupby("store_id", sort=True).indices.items():
        sp = store_of[sid]
        g_keys, g_p = zip(*sp.grade_mix.items(), strict=True)
        u_keys, u_p = zip(*sp.usage_mix.items(), strict=True)
        grade[idx] = np.asarray(g_keys, dtype=object)[rng.choice(len(g_keys), len(idx), p=g_p)]
        usage[idx] = np.asarray(u_keys, dtype=object)[rng.choice(len(u_keys), len(idx), p=u_p)]
    veh["grade"] = grade
    veh["usage"] = usage
    model_pick = rng.integers(0, 2, n)
    veh["model"] = [MODELS[g][m][0] for g, m in zip(grade, model_pick, strict=True)]
    veh["model_code"] = [MODELS[g][m][1] for g, m in zip(grade, model_pick, strict=True)]
    veh["color"] = np.asarray(COLORS, dtype=object)[rng.choice(len(COLORS), n, p=COLOR_P)]
    median_km = veh["usage"].map(params.annual_km_by_usage).to_numpy(float)
    veh["annual_km"] = np.round(
        median_km * np.exp(rng.normal(0.0, params.annual_km_sigma, n)), -1
    )
    veh["loyalty"] = rng.normal(0.0, 1.0, n)
    return veh


# ---------------------------------------------------------------------------------
# 2. owners
# ---------------------------------------------------------------------------------


def _owners(veh: pd.DataFrame, profiles, params: SynthParams, rng):
    store_of = {sp.store_id: sp for sp in profiles}
    n = len(veh)
    owner = np.empty(n, dtype=np.int64)
    cust_rows: list[dict[str, Any]] = []

    def new_customer(store: StoreProfile, ctype: str, fleet_kind: str | None) -> int:
        keys, p = zip(*store.region_mix.items(), strict=True)
        region = keys[rng.choice(len(keys), p=p)]
        lo, hi = DEFAULT_REGION_DISTANCE_KM[region]
        cust_rows.append(
            {
                "store_id": store.store_id,
                "customer_type": ctype,
                "fleet_kind": fleet_kind,
                "region": region,
                "distance_km": round(float(rng.uniform(lo, hi)), 1),
            }
        )
        return len(cust_rows) - 1

    store_ids = veh["store_id"].to_numpy()
    usage = veh["usage"].to_numpy()
    repeat_draw = rng.random(n)
    fleet_draw = rng.random(n)
    for sid, idx in veh.groupby("store_id", sort=True).indices.items():
        sp = store_of[sid]
        fleets: dict[str, list[int]] = {}
        fleet_w: dict[str, np.ndarray] = {}
        for kind, count in params.fleets_per_store.items():
            ctype = FLEET_CUSTOMER_TYPE[kind]
            fleets[kind] = [new_customer(sp, ctype, kind) for _ in range(max(count, 1))]
            w = 1.0 / np.arange(1, len(fleets[kind]) + 1)  # a few large fleets, many small
            fleet_w[kind] = w / w.sum()
        individuals: list[int] = []
        for i in idx:
            u = usage[i]
            is_fleet = u in ("company", "taxi", "government") or (
                u == "ride_hailing" and fleet_draw[i] < params.ride_hailing_fleet_share
            )
            if is_fleet:
                pool = fleets[u]
                owner[i] = pool[rng.choice(len(pool), p=fleet_w[u])]
            elif u == "private" and individuals and repeat_draw[i] < params.repeat_buyer_prob:
                owner[i] = individuals[int(rng.integers(0, len(individuals)))]
            else:
                c = new_customer(sp, "individual", None)
                cust_rows[c]["occupation"] = (
                    "driver" if u == "ride_hailing"
                    else OCCUPATIONS[rng.choice(len(OCCUPATIONS), p=OCCUPATION_P)]
                )
                individuals.append(c)
                owner[i] = c
    assert (store_ids == veh["store_id"].to_numpy()).all()
    cust = pd.DataFrame(cust_rows)
    if "occupation" not in cust:
        cust["occupation"] = None
    # keep only customers who own a car, numbered in order of creation
    used = np.unique(owner)
    remap = np.full(len(cust), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    cust = cust.iloc[used].reset_index(drop=True)
    cust["customer_id"] = [f"C{i + 1:07d}" for i in range(len(cust))]
    veh["customer_idx"] = remap[owner]
    veh["customer_id"] = cust["customer_id"].to_numpy()[veh["customer_idx"].to_numpy()]
    veh["distance_km"] = cust["distance_km"].to_numpy()[veh["customer_idx"].to_numpy()]
    return veh, cust


# ---------------------------------------------------------------------------------
# 3. defection
# ---------------------------------------------------------------------------------


def _cumhaz_knots(params: SynthParams) -> tuple[np.ndarray, np.ndarray]:
    """Knots (age, cumulative hazard) of the piecewise-constant base hazard."""
    h = np.asarray(params.defection_hazard_by_age, dtype=float)
    n_bands = int(np.ceil(params.scrap_age_years)) + 40  # far beyond any age
    h = np.concatenate([h, np.full(max(n_bands - len(h), 0), h[-1])])
    lam = -np.log1p(-h)
    ages = np.arange(len(lam) + 1, dtype=float)
    cum = np.concatenate([[0.0], np.cumsum(lam)])
    return ages, cum


def _defection(veh: pd.DataFrame, profiles, params: SynthParams, asof_d, rng) -> pd.DataFrame:
    n = len(veh)
    store_mult = veh["store_id"].map({sp.store_id: sp.hazard_multiplier for sp in profiles})
    sigma = params.loyalty_sigma
    mult = (
        store_mult.to_numpy(float)
        * veh["usage"].map(params.hazard_by_usage).to_numpy(float)
        * veh["grade"].map(params.hazard_by_grade).to_numpy(float)
        * np.exp(params.hazard_per_km
                 * (veh["distance_km"].to_numpy() - params.distance_reference_km))
        # a loyal owner (high z) has a lower hazard; the mean multiplier stays 1
        * np.exp(-sigma * veh["loyalty"].to_numpy() - sigma**2 / 2)
        * np.where(veh["sold_here"].to_numpy(), 1.0, params.walkin_hazard_multiplier)
    )
    ages, cum = _cumhaz_knots(params)
    entry = veh["entry_age"].to_numpy()
    warranty_age = np.minimum(params.warranty_years,
                              params.warranty_km / veh["annual_km"].to_numpy())
    cliff_age = warranty_age - rng.random(n) * params.warranty_cliff_lead_months / 12.0
    cliff_jump = -np.log1p(-params.warranty_cliff_prob) if params.warranty_cliff_prob < 1 else 50.0

    target = np.interp(entry, ages, cum) + rng.exponential(1.0, n) / mult
    d = np.interp(target, cum, ages)
    cliff_applies = cliff_age > entry
    at_or_past_cliff = cliff_applies & (d >= cliff_age)
    stays_at_cliff = at_or_past_cliff & (target <= np.interp(cliff_age, ages, cum) + cliff_jump)
    d = np.where(stays_at_cliff, cliff_age, d)
    after = at_or_past_cliff & ~stays_at_cliff
    d = np.where(after, np.interp(target - cliff_jump, cum, ages), d)

    never = veh["sold_here"].to_numpy() & (rng.random(n) < params.never_return_prob)
    d = np.where(never, 0.0, d)

    lo, hi = params.first_service_months
    first_service = rng.uniform(lo, hi, n) / 12.0
    veh["hazard_multiplier"] = mult
    veh["warranty_age"] = warranty_age
    veh["cliff_leaver"] = stays_at_cliff & ~never
    veh["decision_age"] = d
    veh["first_visit_age"] = np.where(veh["sold_here"].to_numpy(), first_service, entry)
    age_at_asof = (asof_d - veh["sale_date"].to_numpy().astype("datetime64[D]")).astype(
        np.int64
    ) / DAYS_PER_YEAR
    veh["age_at_asof"] = age_at_asof
    veh["end_age"] = np.minimum.reduce([d, np.full(n, params.scrap_age_years), age_at_asof])
    return veh


# ---------------------------------------------------------------------------------
# 4. orders while the relationship is alive
# ---------------------------------------------------------------------------------


def _orders(veh: pd.DataFrame, params: SynthParams, asof_d, rng) -> pd.DataFrame:
    n = len(veh)
    t0 = veh["first_visit_age"].to_numpy()
    end = veh["end_age"].to_numpy()
    alive = end >= t0
    span = np.where(alive, end - t0, 0.0)
    km = veh["annual_km"].to_numpy()
    sale = veh["sale_date"].to_numpy().astype("datetime64[D]")
    loyalty = veh["loyalty"].to_numpy()

    # --- maintenance chain: first visit at t0, then every (due interval x lateness)
    due = np.minimum(params.maintenance_interval_km / km, params.maintenance_interval_months / 12)
    k = np.where(alive, np.ceil(span / (due * 0.5)).astype(np.int64) + 2, 0)
    g = np.repeat(np.arange(n), k)
    s_late = params.maintenance_lateness_sigma
    mu = np.log(params.maintenance_lateness_mean) - s_late**2 / 2 - 0.05 * loyalty[g]
    step = due[g] * np.exp(mu + s_late * rng.standard_normal(len(g)))
    cs = np.cumsum(step)
    excl = cs - step
    starts = np.cumsum(k) - k
    base = np.zeros(n)
    base[k > 0] = excl[starts[k > 0]]
    t_maint = t0[g] + excl - base[g]
    keep = t_maint <= end[g]
    m_vi, m_t = g[keep], t_maint[keep]
    m_first = np.zeros(len(m_vi), dtype=bool)
    m_first[np.r_[True, m_vi[1:] != m_vi[:-1]]] = True
    m_type = np.full(len(m_vi), "maintenance", dtype=object)
    walkin_first = m_first & ~veh["sold_here"].to_numpy()[m_vi]
    m_type[walkin_first] = np.asarray(WALKIN_FIRST_ORDER, dtype=object)[
        rng.choice(len(WALKIN_FIRST_ORDER), int(walkin_first.sum()), p=WALKIN_FIRST_ORDER_P)
    ]
    free_first = m_first & veh["sold_here"].to_numpy()[m_vi] & params.free_first_service
    frames = [pd.DataFrame({"vi": m_vi, "age": m_t, "ro_type": m_type, "free_first": free_first})]

    # --- Poisson orders by thinning: candidates at the maximal rate, accepted with
    #     probability rate(t) / max rate.
    def poisson(rate_max: np.ndarray, lo: np.ndarray, hi: np.ndarray, ro_type: str,
                accept=None) -> None:
        length = np.clip(hi - lo, 0.0, None)
        cnt = rng.poisson(rate_max * length)
        vi = np.repeat(np.arange(n), cnt)
        t = lo[vi] + rng.random(len(vi)) * length[vi]
        if accept is not None:
            ok = rng.random(len(vi)) < accept(vi, t)
            vi, t = vi[ok], t[ok]
        frames.append(pd.DataFrame({"vi": vi, "age": t, "ro_type": ro_type, "free_first": False}))

    km_factor = (km / 15_000.0) ** params.repair_km_elasticity
    rep = lambda a: (params.repair_rate_base + params.repair_rate_per_year_of_age * a)  # noqa: E731
    poisson(rep(end) * km_factor, t0, end, "repair",
            accept=lambda vi, t: rep(t) / rep(end[vi]))

    acc = veh["usage"].map(params.accident_rate_by_usage).to_numpy(float)
    wf = params.winter_accident_factor

    def winter(vi, t):
        month = (sale[vi] + np.round(t * DAYS_PER_YEAR).astype(np.int64)).astype(
            "datetime64[M]").astype(int) % 12
        return np.where(np.isin(month, (11, 0, 1)), 1.0, 1.0 / wf)

    poisson(acc * wf, t0, end, "body_paint", accept=winter)
    w_end = np.minimum(end, veh["warranty_age"].to_numpy())
    poisson(np.full(n, params.warranty_claim_rate), t0, w_end, "warranty")
    poisson(np.full(n, params.detailing_rate), t0, end, "detailing")
    poisson(np.full(n, params.other_rate), t0, end, "other")

    o = pd.concat(frames, ignore_index=True)
    o["open_date"] = sale[o["vi"].to_numpy()] + np.round(o["age"].to_numpy() * DAYS_PER_YEAR
                                                         ).astype(np.int64)
    # Chinese New Year closure: push orders to just after the holiday
    od = o["open_date"].to_numpy().astype("datetime64[D]")
    yrs = od.astype("datetime64[Y]").astype(int) + 1970
    cny = cny_array(int(yrs.min()) - 1, int(yrs.max()) + 1)
    nearest = cny[np.clip(np.searchsorted(cny, od - params.cny_closed_days[1]), 0, len(cny) - 1)]
    offset = (od - nearest).astype(np.int64)
    lo_d, hi_d = params.cny_closed_days
    closed = (offset >= lo_d) & (offset <= hi_d)
    od = np.where(closed, nearest + hi_d + 1 + rng.integers(0, 10, len(od)), od)
    o["open_date"] = od
    # an order pushed past the end of the relationship (or past the export) never happens
    last_day = sale + np.round(end * DAYS_PER_YEAR).astype(np.int64)
    ok = (od <= asof_d) & (od <= last_day[o["vi"].to_numpy()])
    o = o[ok].reset_index(drop=True)
    o["age"] = (o["open_date"].to_numpy().astype("datetime64[D]") - sale[o["vi"].to_numpy()]
                ).astype(np.int64) / DAYS_PER_YEAR
    return o


# ---------------------------------------------------------------------------------
# 5. money
# ---------------------------------------------------------------------------------


def _amounts(o: pd.DataFrame, veh: pd.DataFrame, params: SynthParams, asof_d, rng) -> pd.DataFrame:
    m = len(o)
    vi = o["vi"].to_numpy()
    t = o["ro_type"].to_numpy()
    grade = veh["grade"].to_numpy()[vi]
    age = o["age"].to_numpy()
    sig = params.order_value_sigma

    def by_type(d: dict[str, float]) -> np.ndarray:
        return pd.Series(t).map(d).to_numpy(float)

    value = (
        by_type(params.mean_order_value)
        * pd.Series(grade).map(params.value_by_grade).to_numpy(float)
        * (1.0 + by_type(params.value_growth_per_year)) ** age
        * np.exp(rng.normal(-sig**2 / 2, sig, m))
    )
    labor_sh = np.clip(by_type(params.labor_share) * rng.uniform(0.85, 1.15, m), 0.05, 0.95)
    other_sh = by_type(params.other_share) * rng.uniform(0.5, 1.5, m)
    labor = np.round(value * labor_sh, 2)
    other = np.round(value * other_sh, 2)
    parts = np.round(np.clip(value - labor - other, 0.0, None), 2)
    o["labor_amount"] = labor
    o["parts_amount"] = parts
    o["other_amount"] = other
    o["total_amount"] = np.round(labor + parts + other, 2)
    lm = np.clip(by_type(params.labor_margin) * rng.uniform(0.9, 1.1, m), 0.0, 0.98)
    pm = np.clip(by_type(params.parts_margin) * rng.uniform(0.9, 1.1, m), 0.0, 0.98)
    o["labor_cost"] = np.round(labor * (1 - lm), 2)
    o["parts_cost"] = np.round(parts * (1 - pm), 2)

    payer = np.full(m, "customer", dtype=object)
    payer[t == "warranty"] = "warranty"
    payer[o["free_first"].to_numpy()] = "warranty"
    bp = t == "body_paint"
    payer[bp & (rng.random(m) < params.insurance_share_of_body_paint)] = "insurance"
    oth = t == "other"
    payer[oth & (rng.random(m) < params.internal_share_of_other)] = "internal"
    o["payer"] = payer

    # days in the workshop
    stay = np.zeros(m, dtype=np.int64)
    u = rng.random(m)
    stay = np.where(t == "maintenance", (u < 0.08).astype(np.int64), stay)
    stay = np.where(t == "repair", rng.integers(0, 4, m), stay)
    stay = np.where(bp, rng.integers(2, 13, m), stay)
    stay = np.where(t == "warranty", rng.integers(0, 6, m), stay)
    close = o["open_date"].to_numpy().astype("datetime64[D]") + stay
    # orders still in the workshop on the export day are open: no close date yet
    o["close_date"] = np.where(close <= asof_d, close, np.datetime64("NaT"))
    o["mileage_km"] = np.round(veh["annual_km"].to_numpy()[vi] * age)
    return o


# ---------------------------------------------------------------------------------
# 6. tables
# ---------------------------------------------------------------------------------


def _assemble(veh, cust, o, profiles, params, start_d, asof_d, seed, scale, rng) -> Dataset:
    n = len(veh)
    # VINs and plates
    model_year = veh["sale_date"].dt.year.to_numpy()
    plant = veh["store_id"].map({sp.store_id: str(i % 9 + 1) for i, sp in enumerate(profiles)})
    vins = pii.fake_vins(rng, veh["model_code"].to_numpy(), model_year, plant.to_numpy())
    if len(set(vins)) != n:  # pragma: no cover - guarded by construction
        raise RuntimeError("synthetic VINs are not unique")
    veh["vin"] = vins
    veh["plate"] = pii.fake_plates(rng, n)

    # orders sorted deterministically, ids per store and day
    o["vin"] = veh["vin"].to_numpy()[o["vi"].to_numpy()]
    o["store_id"] = veh["store_id"].to_numpy()[o["vi"].to_numpy()]
    o["customer_id"] = veh["customer_id"].to_numpy()[o["vi"].to_numpy()]
    o["type_rank"] = pd.Categorical(o["ro_type"], categories=list(RO_TYPES)).codes
    o = o.sort_values(["store_id", "open_date", "vin", "type_rank", "age"], kind="mergesort"
                      ).reset_index(drop=True)
    seq = o.groupby(["store_id", "open_date"], sort=False).cumcount() + 1
    # format each distinct day once (strftime per order was a quarter of the run time)
    day_codes, days = pd.factorize(o["open_date"])
    day = pd.Series(pd.DatetimeIndex(days).strftime("%Y%m%d").to_numpy(dtype=object)[day_codes],
                    index=o.index)
    o["ro_id"] = "RO" + o["store_id"] + "-" + day + "-" + seq.map("{:04d}".format)
    advisors = {
        sp.store_id: pii.fake_person_names(rng, pii.ADVISOR_POOL) for sp in profiles
    }
    adv_pick = rng.integers(0, pii.ADVISOR_POOL, len(o))
    o["advisor"] = [advisors[s][a] for s, a in zip(o["store_id"], adv_pick, strict=True)]

    repair_orders = coerce(
        "repair_orders",
        o[[
            "ro_id", "store_id", "vin", "customer_id", "open_date", "close_date",
            "mileage_km", "ro_type", "payer", "labor_amount", "parts_amount", "other_amount",
            "total_amount", "labor_cost", "parts_cost", "advisor",
        ]],
    )

    # customers
    first_seen = veh.groupby("customer_idx")["entry_date"].min()
    cust["first_seen_date"] = first_seen.reindex(range(len(cust))).to_numpy()
    is_org = cust["customer_type"].to_numpy() != "individual"
    names = np.empty(len(cust), dtype=object)
    names[~is_org] = pii.fake_person_names(rng, int((~is_org).sum()))
    org_idx = np.flatnonzero(is_org)
    names[org_idx] = pii.fake_org_names(
        rng, [cust["fleet_kind"].iat[i] for i in org_idx],
        "",
    )
    cust["name"] = names
    cust["phone"] = pii.fake_phones(rng, len(cust))
    customers = coerce(
        "customers",
        cust[["customer_id", "name", "phone", "customer_type", "occupation", "region",
              "first_seen_date"]],
    )

    vehicles = coerce(
        "vehicles",
        veh[["vin", "customer_id", "store_id", "sold_here", "sale_date", "model", "grade",
             "usage", "plate", "color"]],
    )

    stores = coerce(
        "stores",
        pd.DataFrame(
            {
                "store_id": [sp.store_id for sp in profiles],
                "store_name": [sp.store_name for sp in profiles],
                "city": [sp.city for sp in profiles],
                "opened_date": [
                    (start_d.astype("datetime64[M]") + sp.opened_months_after_start
                     ).astype("datetime64[D]")
                    for sp in profiles
                ],
            }
        ),
    )

    # ground truth
    last = o.groupby("vi")["open_date"].max()
    last_order = last.reindex(range(n)).to_numpy().astype("datetime64[D]")
    sale = veh["sale_date"].to_numpy().astype("datetime64[D]")
    d = veh["decision_age"].to_numpy()
    scrap = params.scrap_age_years
    defected = (d <= veh["age_at_asof"].to_numpy()) & (d < scrap)
    decision_date = sale + np.round(d * DAYS_PER_YEAR).astype(np.int64)
    has_orders = ~np.isnat(last_order)
    true_def = np.where(defected, np.where(has_orders, last_order, sale), np.datetime64("NaT"))
    eol = sale + int(round(scrap * DAYS_PER_YEAR))
    truth = pd.DataFrame(
        {
            "vin": veh["vin"],
            "store_id": veh["store_id"],
            "customer_id": veh["customer_id"],
            "sold_here": veh["sold_here"],
            "entry_date": veh["entry_date"],
            "entry_age_years": veh["entry_age"],
            "annual_km": veh["annual_km"],
            "distance_km": veh["distance_km"],
            "warranty_end_date": sale + np.round(veh["warranty_age"].to_numpy() * DAYS_PER_YEAR
                                                 ).astype(np.int64),
            "loyalty": veh["loyalty"],
            "hazard_multiplier": veh["hazard_multiplier"],
            "never_returned": defected & ~has_orders & veh["sold_here"].to_numpy(),
            "defection_decision_date": np.where(defected, decision_date, np.datetime64("NaT")),
            "true_defection_date": true_def,
            "defected": defected,
            "cliff_leaver": veh["cliff_leaver"].to_numpy() & defected,
            "end_of_life_date": np.where(eol <= asof_d, eol, np.datetime64("NaT")).astype(
                "datetime64[ns]"),
        }
    )
    truth = coerce("truth", truth)

    meta = {
        "generator": "crm_analysis.synth",
        "seed": int(seed),
        "start": str(start_d),
        "as_of": str(asof_d),
        "scale": float(scale),
        "stores": [asdict(sp) for sp in profiles],
        "params": _jsonable(asdict(params)),
    }
    return Dataset(stores=stores, customers=customers, vehicles=vehicles,
                   repair_orders=repair_orders, truth=truth, meta=meta)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x

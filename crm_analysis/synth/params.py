"""Parameters of the synthetic dealer-group generator.

Every behaviour of :func:`crm_analysis.synth.generate` is a named field here, with the
calibration figure it was tuned to (DOMAIN.md section 4; sources in ``data/README.md``).
Override any field by keyword: ``generate(warranty_years=2.0)`` or, for a store field,
``generate(stores=[StoreProfile(...), ...])``.

Example
-------
>>> from crm_analysis.synth.params import SynthParams
>>> p = SynthParams().replace(warranty_years=4.0)
>>> p.warranty_years, p.maintenance_interval_months
(4.0, 6.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from crm_analysis.schema import GRADES, RO_TYPES, USAGES


@dataclass(frozen=True)
class StoreProfile:
    """One store of the synthetic group.

    Attributes
    ----------
    store_id, store_name, city:
        Identity. Ids are strings with leading zeros (``"001"``).
    opened_months_after_start:
        Months between the data start and the store's opening; a store has no history
        before it opens.
    sales_per_month:
        New cars sold per month once ramped up (the 2,000 m² reference store of the
        after-sales deck sells about 100).
    sales_growth_per_year:
        Compound yearly growth of new-car sales.
    grade_mix, usage_mix:
        Shares of new cars by grade (economy / mid / premium) and usage.
    region_mix:
        Shares of customers by distance ring; the ring sets the customer's distance to
        the store (see :attr:`SynthParams.region_distance_km`).
    walkin_ratio:
        Vehicles bought elsewhere that start servicing here each month, as a multiple of
        monthly new-car sales. Tuned so that 25–35 % of the service base was bought
        elsewhere.
    hazard_multiplier:
        Store-level multiplier of the defection hazard (a county town with no competing
        brand store keeps owners longer; a city store has rivals next door).
    """

    store_id: str
    store_name: str
    city: str
    opened_months_after_start: int
    sales_per_month: float
    sales_growth_per_year: float
    grade_mix: dict[str, float]
    usage_mix: dict[str, float]
    region_mix: dict[str, float]
    walkin_ratio: float
    hazard_multiplier: float = 1.0

    def __post_init__(self) -> None:
        for name, mix, allowed in (
            ("grade_mix", self.grade_mix, GRADES),
            ("usage_mix", self.usage_mix, USAGES),
            ("region_mix", self.region_mix, tuple(DEFAULT_REGION_DISTANCE_KM)),
        ):
            unknown = set(mix) - set(allowed)
            if unknown:
                raise ValueError(
                    f"StoreProfile {self.store_id!r}: {name} has unknown keys {sorted(unknown)}; "
                    f"allowed: {list(allowed)}"
                )
            total = sum(mix.values())
            if abs(total - 1.0) > 1e-6:
                raise ValueError(
                    f"StoreProfile {self.store_id!r}: {name} shares sum to {total:.4f}, not 1"
                )
        if self.sales_per_month <= 0:
            raise ValueError(f"StoreProfile {self.store_id!r}: sales_per_month must be > 0")


#: Distance rings: (min km, max km) from the customer's home or workplace to the store.
DEFAULT_REGION_DISTANCE_KM: dict[str, tuple[float, float]] = {
    "urban_core": (2.0, 8.0),
    "inner_suburb": (8.0, 15.0),
    "outer_suburb": (15.0, 30.0),
    "county_town": (5.0, 25.0),
    "rural": (25.0, 60.0),
}

#: The three default stores: a city mainstream store (the deck's mature ~100 cars/month
#: store), a city premium store and a county-town store.
DEFAULT_STORES: tuple[StoreProfile, ...] = (
    StoreProfile(
        store_id="001",
        store_name="City Mainstream 4S",
        city="Hangzhou",
        opened_months_after_start=0,
        sales_per_month=80.0,
        sales_growth_per_year=0.015,
        grade_mix={"economy": 0.40, "mid": 0.50, "premium": 0.10},
        usage_mix={
            "private": 0.80,
            "company": 0.07,
            "ride_hailing": 0.08,
            "taxi": 0.03,
            "government": 0.02,
        },
        region_mix={
            "urban_core": 0.45,
            "inner_suburb": 0.30,
            "outer_suburb": 0.20,
            "rural": 0.05,
        },
        walkin_ratio=0.40,
        hazard_multiplier=1.0,
    ),
    StoreProfile(
        store_id="002",
        store_name="City Premium 4S",
        city="Hangzhou",
        opened_months_after_start=15,
        sales_per_month=55.0,
        sales_growth_per_year=0.04,
        grade_mix={"economy": 0.0, "mid": 0.35, "premium": 0.65},
        usage_mix={
            "private": 0.86,
            "company": 0.10,
            "ride_hailing": 0.0,
            "taxi": 0.0,
            "government": 0.04,
        },
        region_mix={
            "urban_core": 0.55,
            "inner_suburb": 0.30,
            "outer_suburb": 0.15,
        },
        walkin_ratio=0.36,
        hazard_multiplier=0.9,
    ),
    StoreProfile(
        store_id="003",
        store_name="County Town 4S",
        city="Tonglu",
        opened_months_after_start=44,
        sales_per_month=45.0,
        sales_growth_per_year=0.03,
        grade_mix={"economy": 0.62, "mid": 0.36, "premium": 0.02},
        usage_mix={
            "private": 0.84,
            "company": 0.08,
            "ride_hailing": 0.02,
            "taxi": 0.04,
            "government": 0.02,
        },
        region_mix={"county_town": 0.60, "rural": 0.40},
        walkin_ratio=0.42,
        hazard_multiplier=0.85,
    ),
)


def _d(**kw: Any) -> Any:
    return field(default_factory=lambda: dict(kw))


@dataclass(frozen=True)
class SynthParams:
    """Behavioural parameters shared by all stores (see module docstring).

    Attributes are grouped: vehicle use, service intervals, defection, order rates,
    order values and margins, seasonality, and population structure. All rates are per
    vehicle-year while the relationship with the store is alive.
    """

    # ---- vehicle use -------------------------------------------------------------
    #: Median kilometres a year by usage; ride-hailing and taxi cars run 60–100k km.
    annual_km_by_usage: dict[str, float] = _d(
        private=13_000.0, company=25_000.0, ride_hailing=80_000.0, taxi=100_000.0,
        government=20_000.0,
    )
    #: Log-normal spread of a car's yearly mileage around its usage median.
    annual_km_sigma: float = 0.30
    #: Age (years) at which a car leaves the road; no orders after it.
    scrap_age_years: float = 15.0

    # ---- warranty and maintenance ------------------------------------------------
    #: Factory warranty: whichever of years or kilometres comes first (三包 is at
    #: least 3 y / 60,000 km; many makers give 3 y / 100,000 km).
    warranty_years: float = 3.0
    warranty_km: float = 100_000.0
    #: Maintenance is due every ``maintenance_interval_km`` or every
    #: ``maintenance_interval_months``, whichever comes first.
    maintenance_interval_km: float = 7_500.0
    maintenance_interval_months: float = 6.0
    #: Owners come late: each interval is the due interval times a log-normal factor
    #: with this mean and spread (loyal owners are more punctual).
    maintenance_lateness_mean: float = 1.35
    maintenance_lateness_sigma: float = 0.20
    #: First service (首保) happens uniformly between these months after the sale.
    first_service_months: tuple[float, float] = (0.2, 1.2)
    #: The first maintenance is free for the owner, paid by the maker.
    free_first_service: bool = True
    #: Share of buyers who never come back after the sale.
    never_return_prob: float = 0.02

    # ---- defection -----------------------------------------------------------------
    #: Yearly probability that an owner decides to leave the store, by vehicle-age band
    #: (band k covers ages [k, k+1)); the last value holds for older cars. Before the
    #: store-, usage-, grade-, distance- and loyalty-multipliers below.
    defection_hazard_by_age: tuple[float, ...] = (
        0.42, 0.08, 0.23, 0.26, 0.26, 0.25, 0.25, 0.24, 0.24, 0.24,
    )
    #: Extra probability of leaving when the warranty ends (the warranty cliff).
    warranty_cliff_prob: float = 0.72
    #: Owners who leave at the cliff decide up to this many months before the warranty
    #: ends (uniformly): many skip the last in-warranty service.
    warranty_cliff_lead_months: float = 12.0
    #: Hazard multipliers by usage and grade (ride-hailing drivers chase cheap, fast
    #: service; premium owners stay with the brand).
    hazard_by_usage: dict[str, float] = _d(
        private=1.0, company=0.8, ride_hailing=1.5, taxi=1.6, government=0.7,
    )
    hazard_by_grade: dict[str, float] = _d(economy=1.15, mid=1.0, premium=0.8)
    #: Log-hazard per km of distance beyond ``distance_reference_km``.
    hazard_per_km: float = 0.015
    distance_reference_km: float = 10.0
    #: Standard deviation of the latent loyalty on the log-hazard scale (a frailty).
    loyalty_sigma: float = 0.6
    #: Vehicles bought elsewhere are less attached to the store.
    walkin_hazard_multiplier: float = 1.25
    #: Entry age of vehicles bought elsewhere: ``offset + Gamma(shape, scale)`` years.
    walkin_entry_age_shape: float = 2.0
    walkin_entry_age_scale: float = 1.6
    walkin_entry_age_offset: float = 0.3
    walkin_max_entry_age: float = 10.0

    # ---- order rates (per vehicle-year alive) --------------------------------------
    #: Repairs: ``base + per_year * age``, times (km / 15,000) ** ``repair_km_elasticity``.
    repair_rate_base: float = 0.40
    repair_rate_per_year_of_age: float = 0.06
    repair_km_elasticity: float = 0.5
    #: Accidents (body & paint) by usage; more in winter.
    accident_rate_by_usage: dict[str, float] = _d(
        private=0.40, company=0.48, ride_hailing=0.85, taxi=0.95, government=0.32,
    )
    winter_accident_factor: float = 1.35
    #: Share of body & paint orders paid by insurance.
    insurance_share_of_body_paint: float = 0.70
    #: Warranty claims while in warranty.
    warranty_claim_rate: float = 0.55
    #: Detailing (美容) and other orders.
    detailing_rate: float = 0.22
    other_rate: float = 0.08
    #: Share of "other" orders that are internal (the store's own cars).
    internal_share_of_other: float = 0.10

    # ---- order values and margins --------------------------------------------------
    #: Mean order value (RMB) of a mid-grade car at age 0, by order type.
    mean_order_value: dict[str, float] = _d(
        maintenance=320.0, repair=640.0, body_paint=1_500.0, warranty=650.0,
        detailing=220.0, other=200.0,
    )
    #: Log-normal spread of order values.
    order_value_sigma: float = 0.45
    #: Value multiplier by grade.
    value_by_grade: dict[str, float] = _d(economy=0.80, mid=1.0, premium=1.70)
    #: Yearly growth of order value with vehicle age, by order type.
    value_growth_per_year: dict[str, float] = _d(
        maintenance=0.05, repair=0.08, body_paint=0.02, warranty=0.0, detailing=0.0,
        other=0.0,
    )
    #: Share of the order value that is labour (工时费), by order type; the rest is
    #: parts (材料费) and ``other_share``.
    labor_share: dict[str, float] = _d(
        maintenance=0.33, repair=0.42, body_paint=0.45, warranty=0.35, detailing=0.75,
        other=0.50,
    )
    other_share: dict[str, float] = _d(
        maintenance=0.0, repair=0.03, body_paint=0.05, warranty=0.0, detailing=0.0,
        other=0.10,
    )
    #: Gross margin of labour and of parts by order type (cost = amount × (1 − margin)).
    #: Maintenance lands near 40 % and accident repair near 60 % (Zhongsheng H1 2024).
    labor_margin: dict[str, float] = _d(
        maintenance=0.60, repair=0.65, body_paint=0.75, warranty=0.40, detailing=0.70,
        other=0.60,
    )
    parts_margin: dict[str, float] = _d(
        maintenance=0.30, repair=0.32, body_paint=0.50, warranty=0.12, detailing=0.40,
        other=0.30,
    )

    # ---- seasonality ---------------------------------------------------------------
    #: New-car sales multiplier by calendar month (Dec year-end push, "golden Sep, silver
    #: Oct").
    sales_month_factor: tuple[float, ...] = (
        1.05, 0.95, 0.95, 0.95, 1.0, 1.05, 0.90, 0.95, 1.05, 1.05, 1.05, 1.25,
    )
    #: Sales in the month of Chinese New Year are multiplied by this.
    cny_sales_factor: float = 0.75
    #: Orders falling this many days around Chinese New Year are pushed to after it.
    cny_closed_days: tuple[int, int] = (-4, 6)
    #: Months a new store takes to reach its full sales rate (starting at half).
    ramp_up_months: int = 12

    # ---- population structure ------------------------------------------------------
    #: Chance that a private buyer is an existing customer of the store buying another car.
    repeat_buyer_prob: float = 0.06
    #: Number of fleet customers (companies, taxi firms, agencies) per store, by usage.
    fleets_per_store: dict[str, int] = _d(company=40, taxi=3, government=8, ride_hailing=4)
    #: Share of ride-hailing cars owned by a leasing fleet rather than their driver.
    ride_hailing_fleet_share: float = 0.30

    # ---- helpers -------------------------------------------------------------------
    def replace(self, **changes: Any) -> SynthParams:
        """Return a copy with some fields changed; unknown names raise ``TypeError``.

        >>> SynthParams().replace(never_return_prob=0.1).never_return_prob
        0.1
        """
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(
                f"unknown synthetic-data parameter(s) {unknown}; see "
                "crm_analysis.synth.params.SynthParams for the list"
            )
        return replace(self, **changes)

    def validate(self) -> None:
        """Check ranges and dictionary keys; raise ``ValueError`` naming the field.

        >>> SynthParams().validate()
        """
        for name in ("annual_km_by_usage", "hazard_by_usage", "accident_rate_by_usage"):
            _check_keys(name, getattr(self, name), USAGES)
        for name in ("hazard_by_grade", "value_by_grade"):
            _check_keys(name, getattr(self, name), GRADES)
        for name in (
            "mean_order_value", "value_growth_per_year", "labor_share", "other_share",
            "labor_margin", "parts_margin",
        ):
            _check_keys(name, getattr(self, name), RO_TYPES)
        for name in ("never_return_prob", "warranty_cliff_prob", "repeat_buyer_prob",
                     "insurance_share_of_body_paint", "internal_share_of_other",
                     "ride_hailing_fleet_share"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"SynthParams.{name} must be a probability, got {v}")
        if not self.defection_hazard_by_age or any(
            not 0.0 <= h < 1.0 for h in self.defection_hazard_by_age
        ):
            raise ValueError("SynthParams.defection_hazard_by_age: values must be in [0, 1)")
        if len(self.sales_month_factor) != 12:
            raise ValueError("SynthParams.sales_month_factor needs 12 monthly values")
        lo, hi = self.first_service_months
        if not 0 <= lo <= hi:
            raise ValueError("SynthParams.first_service_months must be (low, high), low <= high")


def _check_keys(name: str, mapping: dict[str, Any], allowed: tuple[str, ...]) -> None:
    missing = sorted(set(allowed) - set(mapping))
    unknown = sorted(set(mapping) - set(allowed))
    if missing or unknown:
        raise ValueError(
            f"SynthParams.{name}: missing keys {missing}, unknown keys {unknown}; "
            f"expected exactly {list(allowed)}"
        )

"""Ground truth: survival estimates from the orders against the generator's truth.

The generator (crm_analysis.synth) records for every vehicle whether and when the owner
left (``true_defection_date`` = the last order before leaving, the sale date for a buyer
who never came back). The store here has more than 5,000 own-sale vehicles in the
Kaplan–Meier risk set (``scale=0.45`` of the city store; 0.43 is about the smallest
scale that reaches 5,000 for most seeds, 0.45 leaves a margin).

- "Still a customer at age t" estimated by Kaplan–Meier from the defection table lies
  within 0.03 of the true share for t = 1..8, and the true share is inside the 95 % band
  for most t. The truth is model-free: the share of own sales, among those sold at least
  t + 1.5 years before T, whose true departure age exceeds t (no censoring, no lapse
  rule). Over seeds 101–110 the largest error was 0.008 and the truth was inside the
  band at all 8 ages every time (see the slow test).
- The defection table reproduces the truth exactly when the truth is censored the same
  way (at the horizon T − 12 months): the lapse rule recovers every true departure.
- Cars bought elsewhere (left-truncated): the same agreement with entry ages.
- The warranty cliff: the generator's warranty is 3 years and owners who leave at the
  cliff decide up to 12 months before it ends, so their departures (last orders) fall
  mostly in the third year, band 2; the largest hazard increase must be there, in the
  estimate and in the truth. Without the cliff (``warranty_cliff_prob=0``) the increase
  is several times smaller.
- The Cox model recovers the directions of the generator's hazard multipliers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_analysis.survival import (
    defection_drivers,
    defection_table,
    survival_by_vehicle_age,
    true_survival,
    truth_table,
    warranty_cliff,
)
from crm_analysis.synth import generate
from crm_analysis.synth.params import SynthParams

SEED = 2026
SCALE = 0.45
AGES = np.arange(1, 9)
TOLERANCE = 0.03


@pytest.fixture(scope="module")
def ds():
    return generate(n_stores=1, seed=SEED, scale=SCALE)


@pytest.fixture(scope="module")
def table(ds):
    return defection_table(ds)


def km_vs_truth(ds, table):
    own = table[table["sold_here"]]
    km = survival_by_vehicle_age(own)
    est = km.survival_at(AGES)
    truth = true_survival(ds, AGES)
    out = pd.DataFrame({
        "age": AGES, "km": est["survival"].to_numpy(), "lo": est["lo"].to_numpy(),
        "hi": est["hi"].to_numpy(), "truth": truth["survival"].to_numpy(),
        "at_risk": est["at_risk"].to_numpy(), "truth_vehicles": truth["vehicles"].to_numpy(),
    })
    out["error"] = (out["km"] - out["truth"]).abs()
    out["inside"] = (out["lo"] <= out["truth"]) & (out["truth"] <= out["hi"])
    return km, out


def test_km_within_003_of_truth(ds, table):
    km, res = km_vs_truth(ds, table)
    n = int(km.counts_["relationships"].sum())
    print(f"\nKM vs truth, seed {SEED}, scale {SCALE}, {n} own sales in the risk set:\n"
          f"{res.round(4).to_string(index=False)}\n"
          f"max |KM - truth| over ages 1..8 = {res['error'].max():.4f}; "
          f"truth inside the 95% band at {int(res['inside'].sum())}/8 ages")
    assert n >= 5_000
    assert km.excluded_["unknown_age"] == 0
    assert res["error"].max() <= TOLERANCE
    assert res["inside"].sum() >= 6
    assert res["truth_vehicles"].min() > 1_000


def test_table_recovers_every_true_departure(ds, table):
    """With the truth censored at the same horizon the two curves coincide."""
    horizon = pd.Timestamp(ds.meta["as_of"]) - pd.DateOffset(months=12)
    truth = truth_table(ds, horizon=horizon)
    for sold in (True, False):
        obs = survival_by_vehicle_age(table[table["sold_here"] == sold])
        tru = survival_by_vehicle_age(truth[truth["sold_here"] == sold])
        a, b = obs.survival_at(AGES), tru.survival_at(AGES)
        ok = a["at_risk"] >= 100
        assert ok.sum() >= 7
        err = (a["survival"] - b["survival"]).abs()[ok].max()
        assert err <= 0.005, (sold, err)
        assert obs.conditional_on_["all"] == pytest.approx(tru.conditional_on_["all"],
                                                           abs=0.05)
    # the own-sale events are the true departures, one for one
    own = table[table["sold_here"]].merge(truth[["vin", "event", "exit_age"]], on="vin",
                                          suffixes=("", "_true"))
    agree = (own["event"] == own["event_true"]).mean()
    assert agree > 0.995
    both = own[own["event"] & own["event_true"]]
    assert np.allclose(both["exit_age"], both["exit_age_true"])


def test_bought_elsewhere_enter_late(table):
    walk = table[~table["sold_here"]]
    assert walk["entry_age"].min() > 0.2 and walk["entry_age"].median() > 2
    km = survival_by_vehicle_age(table, by="sold_here")
    first = km.counts_.set_index("group")["first_entry"]
    assert first["True"] == 0.0 and first["False"] > 0.2


def test_warranty_cliff_at_the_true_age(ds, table):
    params = SynthParams()
    # cliff leavers decide in (w - 12 months, w]; their last order is earlier still
    expected = int(np.floor(params.warranty_years - params.warranty_cliff_lead_months / 12))
    assert expected == 2
    est = warranty_cliff(table)
    tru = warranty_cliff(truth_table(ds))
    print(f"\nhazard by age band (estimate):\n{est.hazard_.round(3).to_string(index=False)}"
          f"\ncliff: estimated band {est.cliff_age_} (+{est.cliff_increase_:.3f}/vehicle-year),"
          f" truth band {tru.cliff_age_} (+{tru.cliff_increase_:.3f})")
    assert est.cliff_age_ == tru.cliff_age_ == expected
    assert est.cliff_increase_ > 0.4
    # the estimated hazard of the cliff band covers the true one
    h = est.hazard_.set_index("age_band").loc[expected]
    assert h["hazard_lo"] <= tru.hazard_.set_index("age_band").loc[expected, "hazard"] \
        <= h["hazard_hi"]
    assert est.never_returned_ > 0


def test_no_cliff_no_jump(table):
    on = warranty_cliff(table)
    off_ds = generate(n_stores=1, seed=SEED, scale=SCALE, warranty_cliff_prob=0.0)
    off = warranty_cliff(defection_table(off_ds))
    print(f"\ncliff increase with the cliff {on.cliff_increase_:.3f}, "
          f"without {off.cliff_increase_:.3f}")
    assert off.cliff_increase_ < 0.35 * on.cliff_increase_
    h_on = on.hazard_.set_index("age_band")["hazard"]
    h_off = off.hazard_.set_index("age_band")["hazard"]
    assert h_off[2] < 0.5 * h_on[2]


def test_cox_recovers_hazard_directions(table):
    cox = defection_drivers(table, reference={"usage": "private", "grade": "mid",
                                              "region": "urban_core"})
    hr = cox.hazard_ratios_.set_index("term")["hazard_ratio"]
    print(f"\n{cox.hazard_ratios_.round(3).to_string(index=False)}")
    # generator: ride-hailing x1.5, taxi x1.6, premium x0.8, walk-ins x1.25 (so own sales
    # ~0.8), +1.5 % per km of distance (rural is far), cliff before the warranty end
    assert hr["usage[ride_hailing]"] > 1.2 and hr["usage[taxi]"] > 1.2
    assert hr["grade[premium]"] < 0.95
    assert hr["sold_here[yes]"] < 0.9
    assert hr["region[rural]"] > 1.2
    assert hr["warranty[ending]"] > 1.5
    assert cox.n_relationships_ > 3_000 and not cox.warnings_


@pytest.mark.slow
@pytest.mark.parametrize("seed", [101, 102, 103])
def test_km_truth_other_seeds(seed):
    ds = generate(n_stores=1, seed=seed, scale=SCALE)
    table = defection_table(ds)
    km, res = km_vs_truth(ds, table)
    print(f"\nseed {seed}: max |KM - truth| = {res['error'].max():.4f}, inside "
          f"{int(res['inside'].sum())}/8")
    assert int(km.counts_["relationships"].sum()) >= 5_000
    assert res["error"].max() <= TOLERANCE
    assert res["inside"].sum() >= 6
    assert warranty_cliff(table).cliff_age_ == 2


@pytest.mark.slow
def test_km_against_population_truth(ds, table):
    """The truth from a large independent store (sampling noise of the truth ~0.002)."""
    big = generate(n_stores=1, seed=SEED + 1, scale=3.0)
    pop = true_survival(big, AGES)["survival"].to_numpy()
    est = survival_by_vehicle_age(table[table["sold_here"]]).survival_at(AGES)
    err = np.abs(est["survival"].to_numpy() - pop)
    inside = ((est["lo"] <= pop) & (pop <= est["hi"])).sum()
    print(f"\npopulation truth: max |KM - truth| = {err.max():.4f}, inside {inside}/8")
    assert err.max() <= TOLERANCE
    assert inside >= 6

"""The domain logic of notebook 03 in the library (issue 18).

- :func:`crm_analysis.survival.annual_share`: the share of owners leaving within a year
  from a defection hazard (a rate per vehicle-year), 1 − exp(−rate): hand values, the
  monthly form 1 − exp(−12 h), every input form, and ground truth: on simulated
  exponential relationships the warranty-cliff hazard turned into an annual share equals
  the share of the owners at the start of a year of age who left within it;
- :func:`crm_analysis.retention.lost_owners`: the relationships lost in the year to T and
  the gross profit a year they brought, against a store built by hand (the window edges,
  a second store, censored and continuing relationships, a car never serviced), and
  against plain pandas straight from the orders of a generated store;
- clear errors.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from crm_analysis.margins import Margins
from crm_analysis.retention import LOST_COLUMNS, LostOwners, lost_owners
from crm_analysis.survival import annual_share, defection_table, warranty_cliff
from crm_analysis.synth import generate

# ------------------------------------------------------------------------ annual_share


def test_annual_share_hand_values():
    assert annual_share(0.0) == 0.0
    assert annual_share(math.log(2)) == pytest.approx(0.5, abs=1e-15)
    assert annual_share(1.0) == pytest.approx(1 - 1 / math.e, abs=1e-15)
    # a rate above 1 (owners leaving within months) is still a share below 1
    assert annual_share(3.0) == pytest.approx(0.950212931632136, abs=1e-15)
    # a small rate is close to itself: 0.05 a year is 4.88 %
    assert annual_share(0.05) == pytest.approx(0.048770575499286, abs=1e-15)
    assert isinstance(annual_share(1), float)
    assert math.isnan(annual_share(float("nan")))


def test_monthly_hazard_gives_one_minus_exp_of_twelve_h():
    # a constant hazard h per month is 12 h per year
    for h in (0.001, 0.02, 0.25):
        assert annual_share(12 * h) == pytest.approx(1 - math.exp(-12 * h), abs=1e-15)
        # surviving twelve months one after the other
        assert annual_share(12 * h) == pytest.approx(1 - math.exp(-h) ** 12, abs=1e-14)


def test_annual_share_keeps_the_form_of_its_input():
    arr = annual_share(np.array([0.0, math.log(4), np.nan]))
    np.testing.assert_allclose(arr, [0.0, 0.75, np.nan], atol=1e-15)
    s = pd.Series([0.0, math.log(4)], index=[3, 7], name="hazard", dtype="Float64")
    out = annual_share(s)
    assert list(out.index) == [3, 7] and out.name == "hazard"
    np.testing.assert_allclose(out.to_numpy(float), [0.0, 0.75], atol=1e-15)


def test_annual_share_of_a_hazard_table_and_of_the_cliff_result():
    tab = pd.DataFrame({"age_band": [0, 1, 2], "at_risk_years": [10.0, 8.0, 5.0],
                        "events": [1, 2, 5], "hazard": [0.1, 0.25, 1.0],
                        "hazard_lo": [0.05, 0.1, 0.5], "hazard_hi": [0.2, 0.5, 2.0],
                        "increase": [np.nan, 0.15, 0.75]})
    before = tab.copy()
    out = annual_share(tab)
    pd.testing.assert_frame_equal(tab, before)  # the input is not changed
    assert list(out.columns) == ["age_band", "at_risk_years", "events", "hazard",
                                 "hazard_lo", "hazard_hi"]
    for col in ("hazard", "hazard_lo", "hazard_hi"):
        np.testing.assert_allclose(out[col], 1 - np.exp(-tab[col]), rtol=1e-15)
    pd.testing.assert_frame_equal(out[["age_band", "at_risk_years", "events"]],
                                  tab[["age_band", "at_risk_years", "events"]])
    # increasing: the bounds of the rate's interval stay the bounds of the share's
    assert (out["hazard_lo"] <= out["hazard"]).all() and (out["hazard"] <= out["hazard_hi"]).all()

    rel = pd.DataFrame({"entry_age": 0.0, "exit_age": [0.5, 1.5, 2.5, 3.0, 3.0],
                        "event": [True, True, True, False, False]})
    cliff = warranty_cliff(rel, max_age=3, min_exposure=0.1)
    pd.testing.assert_frame_equal(annual_share(cliff), annual_share(cliff.hazard_))


def test_annual_share_is_the_share_leaving_within_a_year_on_exponential_data():
    """Ground truth: relationships with a constant hazard of 0.4 a year (exponential
    lifetimes, censored at age 6). Among the owners still customers at the start of a
    year of age, the share that leaves within that year is 1 − exp(−0.4) = 33.0 %; the
    hazard of warranty_cliff, turned into an annual share, must find it in every band."""
    rng = np.random.default_rng(18)
    n, rate = 40_000, 0.4
    life = rng.exponential(1 / rate, n)
    rel = pd.DataFrame({"entry_age": 0.0, "exit_age": np.minimum(life, 6.0),
                        "event": life < 6.0})
    shares = annual_share(warranty_cliff(rel, max_age=6).hazard_)
    for band in range(6):
        alive = life >= band
        left = alive & (life < band + 1)
        observed = left.sum() / alive.sum()
        # binomial standard error at 33 % with >= 2,000 owners: about 1 point
        assert shares.loc[band, "hazard"] == pytest.approx(observed, abs=0.03)
        assert shares.loc[band, "hazard"] == pytest.approx(1 - math.exp(-rate), abs=0.03)
        assert shares.loc[band, "hazard_lo"] < observed < shares.loc[band, "hazard_hi"]


def test_annual_share_errors():
    with pytest.raises(ValueError, match=r"^annual_share: hazard must be a rate >= 0"):
        annual_share(-0.1)
    with pytest.raises(ValueError, match="annual_share"):
        annual_share(pd.DataFrame({"hazard": [0.1, -1.0]}))
    for bad in ("0.1", True, None, [0.1, "x"]):
        with pytest.raises(TypeError, match=r"^annual_share: hazard must be a rate"):
            annual_share(bad)
    with pytest.raises(KeyError, match="hazard"):
        annual_share(pd.DataFrame({"rate": [0.1]}))


# ------------------------------------------------------------------------ lost_owners

AS_OF = "2024-06-30"  # lapse 12 months: lost this year = last order in (2022-06-30, 2023-06-30]


def _order(vin, day, labor, labor_cost, store="001"):
    return {"vin": vin, "store_id": store, "open_date": pd.Timestamp(day),
            "labor_amount": float(labor), "labor_cost": float(labor_cost),
            "parts_amount": 0.0, "parts_cost": 0.0, "other_amount": 0.0}


@pytest.fixture()
def store():
    """A store built by hand; gross profit of an order = labour amount − labour cost."""
    vins = list("ABCDEFG")
    vehicles = pd.DataFrame({
        "vin": vins, "customer_id": [f"c{v}" for v in vins], "store_id": "001",
        "sold_here": True, "sale_date": pd.Timestamp("2018-01-01")})
    orders = pd.DataFrame([
        _order("A", "2020-01-01", 500, 200),   # A: lost, 1,095 days, 300 + 100 profit
        _order("A", "2022-12-31", 300, 200),
        _order("A", "2023-02-01", 999, 0, store="002"),  # A at another store: not 001's
        _order("B", "2023-03-01", 900, 400),   # B: lost after one visit, 500 profit
        _order("C", "2021-01-01", 700, 0),     # C: last order on the window's start:
        _order("C", "2022-06-30", 100, 0),     #    lost the year before, not counted
        _order("D", "2021-06-30", 150, 50),    # D: last order on the window's end:
        _order("D", "2023-06-30", 250, 150),   #    lost, 730 days, 200 profit
        _order("E", "2023-09-01", 400, 100),   # E: last order in the lapse window: censored
        _order("F", "2023-01-01", 400, 100),   # F: came back within 12 months: going on
        _order("F", "2023-08-01", 400, 100),
    ])                                          # G: sold here, never serviced: not counted
    return {"vehicles": vehicles, "repair_orders": orders}


def test_lost_owners_by_hand(store):
    lost = lost_owners(store, as_of=AS_OF, store_id="001")
    assert isinstance(lost, LostOwners)
    assert (lost.start, lost.end) == (pd.Timestamp("2022-06-30"), pd.Timestamp("2023-06-30"))
    t = lost.table
    assert list(t.columns) == list(LOST_COLUMNS)
    assert t["vin"].tolist() == ["A", "B", "D"]
    assert t["store_id"].astype(str).tolist() == ["001"] * 3
    assert t["first_order_date"].tolist() == [pd.Timestamp(d) for d in
                                              ("2020-01-01", "2023-03-01", "2021-06-30")]
    assert t["gross_profit"].tolist() == [400.0, 500.0, 200.0]
    years = [1095 / 365.25, 1.0, 730 / 365.25]
    np.testing.assert_allclose(t["years"], years, rtol=1e-15)
    yearly = [400 / years[0], 500.0, 200 / years[2]]
    np.testing.assert_allclose(t["yearly_gross_profit"], yearly, rtol=1e-14)
    assert lost.count == 3
    assert lost.mean_yearly_gross_profit == pytest.approx(np.mean(yearly), rel=1e-14)
    assert lost.yearly_gross_profit == pytest.approx(sum(yearly), rel=1e-14)
    # 133.42 + 500 + 100.07 a year
    assert lost.yearly_gross_profit == pytest.approx(733.49, abs=0.01)


def test_lost_owners_reuses_a_defection_table(store):
    table = defection_table(store, as_of=AS_OF, store_id="001")
    a = lost_owners(store, as_of=AS_OF, store_id="001", table=table)
    b = lost_owners(store, as_of=AS_OF, store_id="001")
    pd.testing.assert_frame_equal(a.table, b.table)


def test_lost_owners_of_every_store_are_per_relationship(store):
    lost = lost_owners(store, as_of=AS_OF)
    t = lost.table.assign(store_id=lambda d: d["store_id"].astype(str))
    got = dict(zip(zip(t["store_id"], t["vin"], strict=True), t["gross_profit"], strict=True))
    # A's one order at 002 (a walk-in there) is a relationship of its own, lost too
    assert got == {("001", "A"): 400.0, ("001", "B"): 500.0, ("001", "D"): 200.0,
                   ("002", "A"): 999.0}


def test_lost_owners_lapse_window_and_margins(store):
    # a 6-month lapse: lost this year = last order in (2022-12-30, 2023-12-30]
    lost = lost_owners(store, as_of=AS_OF, store_id="001", lapse_months=6)
    assert (lost.start, lost.end) == (pd.Timestamp("2022-12-30"), pd.Timestamp("2023-12-30"))
    assert lost.table["vin"].tolist() == ["A", "B", "D", "E", "F"]
    # without cost columns the margins decide: labour at 50 %
    bare = {"vehicles": store["vehicles"],
            "repair_orders": store["repair_orders"].drop(columns=["labor_cost", "parts_cost"])}
    half = lost_owners(bare, as_of=AS_OF, store_id="001", margins=Margins(labor=0.5))
    assert half.table["gross_profit"].tolist() == [400.0, 450.0, 200.0]


def test_orders_after_the_analysis_date_do_not_count(store):
    # at 2021-06-30, A's visit of 2020-01-01 is its last: lost, worth that visit's 300
    lost = lost_owners(store, as_of="2021-06-30", store_id="001")
    assert lost.table["vin"].tolist() == ["A"]
    assert lost.table["gross_profit"].tolist() == [300.0]
    assert lost.yearly_gross_profit == 300.0


def test_nothing_lost_is_zero_not_missing(store):
    lost = lost_owners(store, as_of="2020-06-30", store_id="001")
    assert lost.count == 0 and list(lost.table.columns) == list(LOST_COLUMNS)
    assert math.isnan(lost.mean_yearly_gross_profit)
    assert lost.yearly_gross_profit == 0.0


def test_lost_owners_equal_plain_pandas_on_a_generated_store():
    ds = generate(n_stores=2, seed=11, start="2018-01-01", as_of="2023-12-31", scale=0.1)
    lost = lost_owners(ds, as_of="2023-12-31", store_id="002")
    o = ds.repair_orders[ds.repair_orders["store_id"] == "002"].copy()
    o["gp"] = 0.0
    for comp, margin in (("labor", 0.65), ("parts", 0.30), ("other", 0.20)):
        amount = o[f"{comp}_amount"].astype(float)
        cost = o.get(f"{comp}_cost")
        by_margin = amount * np.where(o["payer"] == "warranty",
                                      {"labor": 0.40, "parts": 0.12, "other": 0.10}[comp],
                                      margin)
        o["gp"] += by_margin if cost is None else np.where(cost.isna(), by_margin,
                                                           amount - cost.astype(float))
    per_vin = o.groupby("vin").agg(first=("open_date", "min"), last=("open_date", "max"),
                                   gp=("gp", "sum"))
    t = pd.Timestamp("2023-12-31")
    ended = per_vin[(per_vin["last"] > t - pd.DateOffset(months=24))
                    & (per_vin["last"] <= t - pd.DateOffset(months=12))]
    years = ((ended["last"] - ended["first"]).dt.days / 365.25).clip(lower=1.0)
    assert lost.count == len(ended) > 20
    got = lost.table.set_index("vin").loc[ended.index]
    np.testing.assert_allclose(got["gross_profit"], ended["gp"], rtol=1e-9)
    np.testing.assert_allclose(got["yearly_gross_profit"], ended["gp"] / years, rtol=1e-9)
    assert lost.yearly_gross_profit == pytest.approx((ended["gp"] / years).sum(), rel=1e-9)


def test_lost_owners_errors(store):
    with pytest.raises(TypeError, match=r"^lost_owners: as_of"):
        lost_owners(store, as_of=20240630, store_id="001")
    with pytest.raises(TypeError, match=r"^lost_owners: lapse_months"):
        lost_owners(store, as_of=AS_OF, store_id="001", lapse_months="12")
    with pytest.raises(ValueError, match=r"^lost_owners: .*store '009'"):
        lost_owners(store, as_of=AS_OF, store_id="009")
    with pytest.raises(KeyError, match="defection table"):
        lost_owners(store, as_of=AS_OF, store_id="001",
                    table=pd.DataFrame({"vin": ["A"], "event": [True]}))
    with pytest.raises(TypeError, match="^lost_owners: data must be"):
        lost_owners(store["repair_orders"], as_of=AS_OF, store_id="001")

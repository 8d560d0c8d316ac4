"""crm_analysis.economics: the deck's P&L, measured drivers, value by age, lifetime value, lift.

Measured figures are checked against plain-pandas computations written from the
definitions (DOMAIN.md section 3), retention against retention_by_vehicle_age, and the
lifetime value against a hand computation.
"""

from __future__ import annotations

import re
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
import pytest  # noqa: E402

from crm_analysis import economics as E  # noqa: E402
from crm_analysis import plots, plotting  # noqa: E402
from crm_analysis.margins import Margins  # noqa: E402
from crm_analysis.narrative import Narrator  # noqa: E402
from crm_analysis.retention import retention_by_vehicle_age  # noqa: E402
from crm_analysis.schema import Dataset  # noqa: E402
from crm_analysis.synth import generate  # noqa: E402

T = pd.Timestamp("2026-06-30")
HANZI = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def store() -> Dataset:
    """The generator's default store "001" (default seed and dates), ~130k orders."""
    return generate(n_stores=1)


@pytest.fixture(scope="module")
def group() -> Dataset:
    """Two small stores."""
    return generate(n_stores=2, seed=3, start="2018-01-01", as_of="2023-12-31", scale=0.05)


@pytest.fixture(scope="module")
def curve(store):
    return E.service_by_age(store, store_id="001")


def _pnl(df: pd.DataFrame) -> pd.Series:
    return df.set_index("line")["value"]


# ------------------------------------------------------------------------------ references

def _gross_profit(o: pd.DataFrame, margins: dict | None = None) -> pd.Series:
    """Gross profit per order from the definitions: revenue − cost, else revenue × margin."""
    m = margins or {"labor": 0.65, "parts": 0.30, "other": 0.20}
    w = {"labor": 0.40, "parts": 0.12, "other": 0.10}  # warranty paid by the maker
    warranty = o["payer"].eq("warranty")
    gp = pd.Series(0.0, index=o.index)
    for comp in ("labor", "parts", "other"):
        amount = o[f"{comp}_amount"]
        rate = np.where(warranty, w[comp], m[comp])
        by_margin = amount * rate
        cost = f"{comp}_cost"
        if cost in o.columns:
            gp += np.where(o[cost].isna(), by_margin, amount - o[cost])
        else:
            gp += by_margin
    return gp


def _fen(x: pd.Series) -> pd.Series:
    """Each order's money to the fen, half up: the module's documented convention."""
    return np.floor(x * 100 + 0.5) / 100


def _window(o: pd.DataFrame, sid: str, t: pd.Timestamp, months: int = 12) -> pd.DataFrame:
    lo = t - pd.DateOffset(months=months)
    return o[(o["store_id"] == sid) & (o["open_date"] > lo) & (o["open_date"] <= t)]


def _by_age_reference(ds: Dataset, sid: str, t: pd.Timestamp, *, months: int = 12,
                      max_age: float = 10, cost: float = 60.0,
                      margins: dict | None = None) -> pd.DataFrame:
    v = ds.vehicles
    v = v[(v["store_id"] == sid) & v["sold_here"] & v["sale_date"].notna()
          & (v["sale_date"] <= t)].copy()
    age = (t - v["sale_date"]).dt.days / 365.25
    v = v[age <= max_age].assign(band=np.floor(age[age <= max_age]).astype(int))
    o = _window(ds.repair_orders, sid, t, months).copy()
    o["revenue"] = _fen(o["labor_amount"] + o["parts_amount"] + o["other_amount"])
    o["gp"] = _fen(_gross_profit(o, margins))
    per_car = o.groupby("vin").agg(orders=("gp", "size"), revenue=("revenue", "sum"),
                                   gp=("gp", "sum"))
    v = v.join(per_car, on="vin").fillna({"orders": 0, "revenue": 0.0, "gp": 0.0})
    g = v.groupby("band").agg(vehicles=("vin", "size"),
                              retained=("orders", lambda s: int((s > 0).sum())),
                              orders=("orders", "sum"), revenue=("revenue", "sum"),
                              gross_profit=("gp", "sum")).reset_index()
    g["net_value"] = g["gross_profit"] - cost * g["orders"]
    return g


# ------------------------------------------------------------------------------ the deck

def test_deck_numbers_reproduced_exactly():
    pnl = E.service_pnl()
    assert pnl["line"].tolist() == list(E.PNL_LINES)
    assert set(pnl["source"]) == {"default"}
    v = _pnl(pnl)
    assert v["new_car_gross"] == 100 * 2000 == 200_000
    assert v["service_gross"] == 1300 * 500 * 0.45 == 292_500
    assert v["total_gross"] == 492_500
    assert v["running_cost"] == 400_000
    assert (v["staff_cost"], v["land_rent"], v["other_running_cost"]) == (150_000, 80_000,
                                                                          170_000)
    assert v["operating_profit_before_depreciation"] == 92_500  # "about ¥100k a month"
    assert v["building_depreciation"] == pytest.approx(3e6 / 15 / 12, abs=1e-9)
    assert v["equipment_depreciation"] == pytest.approx(2e6 / 10 / 12, abs=1e-9)
    assert v["operating_profit_after_depreciation"] == pytest.approx(
        92_500 - 3e6 / 180 - 2e6 / 120, abs=1e-9)
    assert v["service_absorption"] == pytest.approx(292_500 / 400_000)
    assert v["service_share_of_gross"] == pytest.approx(292_500 / 492_500)
    assert v["breakeven_orders_per_month"] == pytest.approx(400_000 / 225)
    assert v["return_on_capital"] == pytest.approx(
        12 * v["operating_profit_after_depreciation"] / 7e6)
    assert pnl.set_index("line").loc["order_value", "unit"] == "rmb_per_order"


def test_params_change_the_lines_and_are_validated():
    p = E.StoreEconomics(orders_per_month=1500, running_cost_per_month=450_000)
    v = _pnl(E.service_pnl(params=p))
    assert v["service_gross"] == 1500 * 500 * 0.45
    assert v["other_running_cost"] == 450_000 - 150_000 - 80_000
    assert E.StoreEconomics().replace(service_margin=0.5).service_gross == 1300 * 500 * 0.5
    with pytest.raises(ValueError, match="service_margin"):
        E.StoreEconomics(service_margin=1.2)
    with pytest.raises(ValueError, match="order_value"):
        E.StoreEconomics(order_value=-1)
    with pytest.raises(ValueError, match="exceed running_cost_per_month"):
        E.StoreEconomics(running_cost_per_month=200_000)
    with pytest.raises(TypeError, match="unknown parameter"):
        E.StoreEconomics().replace(margin=0.4)
    with pytest.raises(TypeError, match="StoreEconomics"):
        E.service_pnl(params={"orders_per_month": 1})


# ------------------------------------------------------------------------------ measured P&L

@pytest.mark.parametrize("costs", [True, False], ids=["cost_columns", "margins_only"])
def test_measured_pnl_equals_plain_pandas(store, costs):
    ds = store
    margins = None
    if not costs:  # an export without cost columns: gross profit from Margins
        ds = Dataset(customers=store.customers, vehicles=store.vehicles, stores=store.stores,
                     repair_orders=store.repair_orders.drop(columns=["labor_cost",
                                                                     "parts_cost"]),
                     meta=store.meta)
        margins = Margins(labor=0.6)
    pnl = E.service_pnl(ds, store_id="001", margins=margins)
    v = _pnl(pnl)
    src = pnl.set_index("line")["source"]

    o = _window(ds.repair_orders, "001", T).copy()
    revenue = _fen(o["labor_amount"] + o["parts_amount"] + o["other_amount"]).sum()
    exact_gp = _gross_profit(o, None if costs else {"labor": 0.6, "parts": 0.30,
                                                     "other": 0.20})
    gp = _fen(exact_gp).sum()
    # rounding each order to the fen moves the total by at most half a fen per order
    assert abs(v["service_gross"] * 12 - exact_gp.sum()) <= 0.005 * len(o)
    veh = ds.vehicles
    cars = ((veh["store_id"] == "001") & veh["sold_here"]
            & (veh["sale_date"] > T - pd.DateOffset(months=12))
            & (veh["sale_date"] <= T)).sum()
    rel = 1e-9
    assert v["orders_per_month"] == len(o) / 12
    assert v["order_value"] == pytest.approx(revenue / len(o), rel=rel)
    assert v["service_margin"] == pytest.approx(gp / revenue, rel=rel)
    assert v["new_cars_per_month"] == cars / 12
    assert v["service_gross"] == pytest.approx(gp / 12, rel=rel)
    assert v["service_revenue"] == pytest.approx(revenue / 12, rel=rel)
    assert v["new_car_gross"] == cars / 12 * 2000
    assert v["operating_profit_before_depreciation"] == pytest.approx(
        cars / 12 * 2000 + gp / 12 - 400_000, rel=rel)
    assert pnl.attrs["orders"] == len(o) and pnl.attrs["new_cars"] == cars
    for line in ("orders_per_month", "order_value", "service_margin", "new_cars_per_month",
                 "service_gross", "total_gross", "operating_profit_after_depreciation"):
        assert src[line] == "data", line
    for line in ("gross_per_new_car", "running_cost", "depreciation"):
        assert src[line] == "default", line
    if costs:  # the cost columns are really used: margins alone would give another figure
        alt = _gross_profit(o.drop(columns=["labor_cost", "parts_cost"])).sum()
        assert abs(alt - gp) > 1000


def test_default_store_in_domain_ranges(store):
    """DOMAIN.md section 4 / the deck: ~1,300 orders a month at ~¥500 and ~45 % margin.

    Ranges: volumes and order value within 0.5–1.5 × the deck's figure (the generated
    store sells 80 cars a month when it opens, not 100); the margin between maintenance's
    ~40 % and the deck's / Zhongsheng's 45–46 % plus accident work (~60 %) mixed in.
    """
    v = _pnl(E.service_pnl(store, store_id="001"))
    assert 650 <= v["orders_per_month"] <= 1950
    assert 250 <= v["order_value"] <= 750
    assert 0.40 <= v["service_margin"] <= 0.55
    assert 50 <= v["new_cars_per_month"] <= 150
    assert 0.5 <= v["service_absorption"] <= 1.5


def test_pnl_backends_store_choice_and_errors(store, group):
    a = E.service_pnl(store)  # one store: store_id may be left out
    lazy = {"vehicles": pl.from_pandas(store.vehicles).lazy(),
            "repair_orders": pl.from_pandas(store.repair_orders).lazy()}
    b = E.service_pnl(lazy, as_of="2026-06-30", store_id="001")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a.attrs["store_id"] == "001" and a.attrs["end"] == T

    with pytest.raises(ValueError, match=r"stores \['001', '002'\]; pass store_id"):
        E.service_pnl(group)
    with pytest.raises(ValueError, match="unknown store '009'"):
        E.service_pnl(group, store_id="009")
    with pytest.raises(ValueError, match="start on 2018-01-0.*smaller months"):
        E.service_pnl(group, store_id="001", months=120)
    with pytest.raises(ValueError, match="months must be >= 1"):
        E.service_pnl(group, store_id="001", months=0)
    o = group.repair_orders.copy()
    late = o.index[(o["store_id"] == "002") & (o["open_date"] > "2023-07-01")][:2]
    o.loc[late, "parts_amount"] = np.nan
    holes = {"vehicles": group.vehicles, "repair_orders": o}
    with pytest.raises(ValueError, match="2 order.*missing.*fill them"):
        E.service_pnl(holes, as_of="2023-12-31", store_id="002")
    # an order after T changes nothing
    extra = o.iloc[:1].assign(open_date=pd.Timestamp("2024-03-01"), store_id="001")
    more = {"vehicles": group.vehicles,
            "repair_orders": pd.concat([group.repair_orders, extra], ignore_index=True)}
    pd.testing.assert_frame_equal(E.service_pnl(more, as_of="2023-12-31", store_id="001"),
                                  E.service_pnl(group, store_id="001"))


# ------------------------------------------------------------------------------ by age

@pytest.mark.parametrize("as_of,window", [("2026-06-30", 12), ("2025-03-31", 6)])
def test_service_by_age_retention_equals_retention_by_vehicle_age(store, as_of, window):
    s = E.service_by_age(store, as_of=as_of, store_id="001", window_months=window)
    r = retention_by_vehicle_age(store, as_of=as_of, store_id="001", base="sold",
                                 window_months=window)
    assert s["age_band"].tolist() == r["age_band"].tolist()
    assert s["vehicles"].tolist() == r["base_vehicles"].tolist()
    assert s["retained"].tolist() == r["retained"].tolist()
    assert s["retention_rate"].tolist() == r["retention_rate"].tolist()  # exactly


def test_service_by_age_money_equals_plain_pandas(store, curve):
    ref = _by_age_reference(store, "001", T)
    s = curve
    assert s["age_band"].tolist() == ref["band"].tolist() == list(range(10))
    for c in ("vehicles", "retained", "orders"):
        assert s[c].tolist() == ref[c].astype(int).tolist(), c
    for c in ("revenue", "gross_profit", "net_value"):
        np.testing.assert_allclose(s[c], ref[c], rtol=1e-10, err_msg=c)
        np.testing.assert_allclose(s[f"{c}_per_retained"], ref[c] / ref["retained"],
                                   rtol=1e-10, err_msg=c)
    np.testing.assert_allclose(s["orders_per_retained"], ref["orders"] / ref["retained"])
    # net value = gross profit − 60 per order, exactly in fen
    assert (((s["gross_profit"] - s["net_value"]) * 100).round() == 6000 * s["orders"]).all()
    # the base's orders are a part of the store's window orders
    assert s["orders"].sum() <= len(_window(store.repair_orders, "001", T))


def test_service_by_age_custom_margins_and_cost(store):
    o = store.repair_orders.drop(columns=["labor_cost", "parts_cost"])
    data = {"vehicles": store.vehicles, "repair_orders": o}
    s = E.service_by_age(data, as_of=T, store_id="001", margins=Margins(parts=0.25),
                         cost_per_order=45.5, max_age=6)
    ds = Dataset(customers=store.customers, vehicles=store.vehicles, stores=store.stores,
                 repair_orders=o, meta=store.meta)
    ref = _by_age_reference(ds, "001", T, max_age=6, cost=45.5,
                            margins={"labor": 0.65, "parts": 0.25, "other": 0.20})
    assert s["age_band"].tolist() == ref["band"].tolist()
    np.testing.assert_allclose(s["gross_profit"], ref["gross_profit"], rtol=1e-10)
    np.testing.assert_allclose(s["net_value"], ref["net_value"], rtol=1e-10)


def test_service_by_age_pandas_and_polars_identical(store, curve):
    eager = {"vehicles": pl.from_pandas(store.vehicles),
             "repair_orders": pl.from_pandas(store.repair_orders)}
    a = E.service_by_age(eager, as_of=T, store_id="001")
    b = E.service_by_age({k: v.lazy() for k, v in eager.items()}, as_of=T,
                         store_id="001")
    assert isinstance(a, pl.DataFrame) and isinstance(b, pl.LazyFrame)
    assert list(a.columns) == list(curve.columns)
    pd.testing.assert_frame_equal(a.to_pandas(), curve, check_dtype=False, check_exact=True)
    pd.testing.assert_frame_equal(b.collect().to_pandas(), curve, check_dtype=False,
                                  check_exact=True)
    assert str(curve["age_band"].dtype) == "Int64"
    # deterministic
    pd.testing.assert_frame_equal(E.service_by_age(store, store_id="001"), curve,
                                  check_exact=True)


def test_service_by_age_errors(group):
    with pytest.raises(TypeError, match="store_id is required"):
        E.service_by_age(group, store_id=None)
    with pytest.raises(ValueError, match="unknown store"):
        E.service_by_age(group, store_id="777")
    with pytest.raises(TypeError, match="window_months"):
        E.service_by_age(group, store_id="001", window_months=1.5)
    with pytest.raises(KeyError, match="repair_orders.*labor_amount"):
        E.service_by_age({"vehicles": group.vehicles,
                          "repair_orders": group.repair_orders.drop(columns="labor_amount")},
                         as_of="2023-12-31", store_id="001")
    v = group.vehicles
    sold = v[(v["store_id"] == "001") & v["sold_here"]].iloc[:1]
    twice = {"vehicles": pd.concat([v, sold], ignore_index=True),
             "repair_orders": group.repair_orders}
    with pytest.raises(ValueError, match="more than once"):
        E.service_by_age(twice, as_of="2023-12-31", store_id="001")


def test_as_of_is_a_keyword_date(group):
    for fn in (E.service_pnl, E.service_by_age):
        with pytest.raises(TypeError, match=f"^{fn.__name__}: as_of must be a date"):
            fn(group, as_of=20231231, store_id="001")
        with pytest.raises(TypeError, match="positional"):
            fn(group, "2023-12-31", store_id="001")


# ------------------------------------------------------------------------------ lifetime value

def test_lifetime_value_equals_hand_computation(curve):
    lv = E.new_car_lifetime_value(curve, discount_rate=0.08)
    r = curve["retention_rate"].to_numpy()[:10]
    v = curve["gross_profit_per_retained"].to_numpy()[:10]
    pv = sum(r[k] * v[k] / 1.08 ** (k + 0.5) for k in range(10))
    assert lv.total == pytest.approx(pv, rel=1e-12)
    assert lv.undiscounted_total == pytest.approx(float((r * v).sum()), rel=1e-12)
    by = lv.by_age
    assert by["age_band"].tolist() == list(range(10))
    np.testing.assert_allclose(by["discount_factor"], 1.08 ** -(np.arange(10) + 0.5))
    assert by["cumulative_present_value"].iloc[-1] == pytest.approx(lv.total)
    assert list(by.columns) == ["age_band", "retention", "value_per_retained",
                                "expected_value", "discount_factor", "present_value",
                                "cumulative_present_value"]
    # a tiny curve by hand; no discounting = the plain sum; shorter horizons
    c = pd.DataFrame({"age_band": [2, 0, 1], "retention_rate": [0.5, 1.0, 0.8],
                      "net_value_per_retained": [300.0, 100.0, 200.0]})
    assert E.new_car_lifetime_value(c, value="net_value_per_retained", max_age=3,
                                    discount_rate=0).total == 100 + 160 + 150
    assert E.new_car_lifetime_value(c, value="net_value_per_retained", max_age=1,
                                    discount_rate=0.1).total == pytest.approx(100 / 1.1 ** 0.5)
    # Polars curve: the same
    assert E.new_car_lifetime_value(pl.from_pandas(curve)).total == lv.total


def test_lifetime_value_errors(curve):
    with pytest.raises(ValueError, match=r"no row for age band\(s\) \[10, 11\]"):
        E.new_car_lifetime_value(curve, max_age=12)
    with pytest.raises(KeyError, match="missing column"):
        E.new_car_lifetime_value(curve, value="profit")
    with pytest.raises(ValueError, match="discount_rate"):
        E.new_car_lifetime_value(curve, discount_rate=8)
    zero = pd.DataFrame({"age_band": [0, 1], "retention_rate": [0.9, 0.0],
                         "gross_profit_per_retained": [500.0, np.nan]})
    assert E.new_car_lifetime_value(zero, max_age=2, discount_rate=0).total == 450.0
    bad = zero.assign(retention_rate=[0.9, 0.2])
    with pytest.raises(ValueError, match=r"missing for band\(s\) \[1\]"):
        E.new_car_lifetime_value(bad, max_age=2)


# ------------------------------------------------------------------------------ lift

def test_lift_zero_at_zero_and_monotone(curve):
    zero = E.retention_lift(curve, points=0.0)
    assert zero.gain_per_car == 0.0 and zero.undiscounted_gain_per_car == 0.0
    gains = [E.retention_lift(curve, points=p).gain_per_car
             for p in (-0.05, 0.0, 0.01, 0.05, 0.10, 0.30)]
    assert all(a < b for a, b in zip(gains, gains[1:], strict=False))
    r = E.retention_lift(curve, points=0.05, cars_per_year=1200)
    # by hand: 5 points more at bands 3, 4, 5, value per retained unchanged
    v = curve["gross_profit_per_retained"].to_numpy()
    hand = sum(0.05 * v[k] / 1.08 ** (k + 0.5) for k in (3, 4, 5))
    assert r.gain_per_car == pytest.approx(hand, rel=1e-10)
    assert r.gain_per_year == pytest.approx(hand * 1200, rel=1e-10)
    assert r.steady_state_gain_per_year == pytest.approx(
        1200 * 0.05 * v[3:6].sum(), rel=1e-10)
    assert r.ages == (3, 4, 5)
    assert r.by_age["gain_present_value"].sum() == pytest.approx(r.gain_per_car)
    assert (r.by_age.loc[~r.by_age["age_band"].isin([3, 4, 5]), "gain_present_value"]
            == 0).all()
    assert r.base.total == E.new_car_lifetime_value(curve).total
    assert E.retention_lift(curve).gain_per_year is None


def test_lift_caps_and_errors():
    c = pd.DataFrame({"age_band": [0, 1], "retention_rate": [0.98, 0.03],
                      "gross_profit_per_retained": [1000.0, 1000.0]})
    up = E.retention_lift(c, points=0.05, ages=[0, 1], max_age=2, discount_rate=0)
    assert up.by_age["scenario_retention"].tolist() == [1.0, pytest.approx(0.08)]
    assert up.gain_per_car == pytest.approx(20 + 50)
    down = E.retention_lift(c, points=-0.05, ages=1, max_age=2, discount_rate=0)
    assert down.by_age["scenario_retention"].tolist() == [0.98, 0.0]
    assert down.gain_per_car == pytest.approx(-30)
    with pytest.raises(ValueError, match=r"ages \[2\] are outside"):
        E.retention_lift(c, ages=[1, 2], max_age=2)
    with pytest.raises(ValueError, match="points must be"):
        E.retention_lift(c, points=5, max_age=2)
    with pytest.raises(ValueError, match="cars_per_year"):
        E.retention_lift(c, ages=[1], max_age=2, cars_per_year=-1)


# ------------------------------------------------------------------------------ plots

@pytest.fixture(autouse=False)
def _isolated_rc():
    with mpl.rc_context():
        mpl.rcdefaults()
        yield
    plt.close("all")


def _texts(ax) -> list[str]:
    out = [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
    out += [x.get_text() for x in ax.get_xticklabels() + ax.get_yticklabels()]
    out += [x.get_text() for x in ax.texts]
    if ax.get_legend() is not None:
        out += [x.get_text() for x in ax.get_legend().get_texts()]
    return [s for s in out if s.strip()]


@pytest.mark.usefixtures("_isolated_rc")
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("chart", ["pnl", "pnl_data", "ltv", "lift"])
def test_charts_labels_units_and_glyphs(store, curve, chart, lang):
    draw = {
        "pnl": lambda ax: plots.pnl_waterfall(E.service_pnl(), ax=ax, lang=lang),
        "pnl_data": lambda ax: plots.pnl_waterfall(E.service_pnl(store), ax=ax, lang=lang),
        "ltv": lambda ax: plots.lifetime_value(E.new_car_lifetime_value(curve), ax=ax,
                                               lang=lang),
        "lift": lambda ax: plots.retention_lift(
            E.retention_lift(curve, cars_per_year=1167), ax=ax, lang=lang),
    }[chart]
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        plotting.setup(lang)  # before the figure: its texts take the fonts at creation
        fig, ax = plt.subplots(figsize=(8, 5))
        out = draw(ax)
        fig.canvas.draw()
    assert out is ax
    missing = [str(w.message) for w in records
               if "Glyph" in str(w.message) or "missing from font" in str(w.message)]
    assert not missing, missing[:3]
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    unit = {"pnl": ("RMB", "元"), "pnl_data": ("RMB", "元"), "ltv": ("RMB", "元"),
            "lift": ("%", "%")}[chart][lang == "zh"]
    assert unit in ax.get_ylabel()
    texts = _texts(ax)
    if lang == "zh":
        assert HANZI.search(ax.get_title()) and HANZI.search(ax.get_xlabel())
    else:
        assert not any(HANZI.search(s) for s in texts), texts


@pytest.mark.usefixtures("_isolated_rc")
def test_pnl_waterfall_bars_match_the_table():
    pnl = E.service_pnl()
    fig, ax = plt.subplots()
    plots.pnl_waterfall(pnl, ax=ax)
    bars = ax.patches
    v = _pnl(pnl)
    assert [b.get_height() for b in bars] == pytest.approx([
        v["new_car_gross"], v["service_gross"], v["total_gross"], -v["running_cost"],
        v["operating_profit_before_depreciation"], -v["depreciation"],
        v["operating_profit_after_depreciation"]])
    # floating bars stand on the running level
    assert bars[1].get_y() == pytest.approx(v["new_car_gross"])
    assert bars[3].get_y() == pytest.approx(v["total_gross"])
    assert Narrator("en").rmb(492_500) in [t.get_text() for t in ax.texts]


def test_every_pnl_line_has_both_labels():
    for line in E.PNL_LINES:
        en, zh = E.pnl_label(line, "en"), E.pnl_label(line, "zh")
        assert en and not HANZI.search(en), line
        assert HANZI.search(zh), line
    with pytest.raises(KeyError, match="unknown line"):
        E.pnl_label("ebitda")


def test_observed_years_stops_at_the_oldest_car_sold():
    curve = pd.DataFrame({"age_band": list(range(10)),
                          "vehicles": [90, 80, 70, 60, 50, 40, 30, 0, 0, 0]})
    assert E.observed_years(curve) == 7
    assert E.observed_years(curve, max_age=5) == 5
    assert E.observed_years(curve.assign(vehicles=0)) == 0
    with pytest.raises(KeyError, match="vehicles"):
        E.observed_years(curve.drop(columns="vehicles"))

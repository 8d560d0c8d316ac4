"""Customer features and the lifetimes-style RFM summary.

- ``customer_features``: a hand-computed dealer (window edges, future orders, main-vehicle
  ties, warranty status, exposure floor, payer and component sums, shares, inactive
  customers), the same answer on pandas, Polars and Polars lazy, sums equal to the orders,
  gross profit equal to the cost columns, and a brute-force per-customer reference on a
  generated store;
- ``rfm_summary``: equal to lifetimes 0.11.3 on CDNOW (reference files in tests/data,
  written by scripts/lifetimes_reference.py) and to Fader-Hardie-Lee's published summary;
- error messages.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from crm_analysis.features import FEATURE_COLUMNS, customer_features, rfm_summary
from crm_analysis.margins import Margins
from crm_analysis.schema import Dataset, example_dataset
from crm_analysis.synth import generate

ROOT = Path(__file__).resolve().parents[1]
CDNOW = ROOT / "data" / "external" / "cdnow"
REFERENCE = Path(__file__).resolve().parent / "data"

T = pd.Timestamp("2024-06-30")
DAY = 86_400.0
YEAR = 365.25


def to_pandas(frame) -> pd.DataFrame:
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if isinstance(frame, pl.DataFrame):
        frame = frame.to_pandas()
    return frame.reset_index(drop=True)


def engines(*frames):
    """The same tables as pandas, Polars and Polars lazy."""
    yield "pandas", frames
    pls = tuple(None if f is None else pl.from_pandas(f) for f in frames)
    yield "polars", pls
    yield "polars-lazy", tuple(None if f is None else f.lazy() for f in pls)


def assert_same(a: pd.DataFrame, b: pd.DataFrame, what: str = "") -> None:
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-12,
                                  obj=what or "DataFrame")


# ----------------------------------------------------------------------------- hand case

D = pd.Timestamp
NA = None


def _orders() -> pd.DataFrame:
    rows = [
        # ro_id, customer, vin, date, ro_type, payer, labor, parts, other, mileage
        ("R01", "A", "V1", "2023-06-30", "maintenance", "customer", 100, 100, 0, 10_000),
        ("R02", "A", "V1", "2023-07-01", "repair", "customer", 200, 300, 50, 20_000),
        ("R03", "A", "V1", "2024-06-30", "warranty", "warranty", 100, 200, 0, 50_000),
        ("R04", "A", "V1", "2024-07-01", "repair", "customer", 900, 900, 0, 150_000),
        ("R05", "A", "V9", "2024-08-01", "repair", "customer", 900, 900, 0, 160_000),
        ("R06", "B", "V2", "2024-01-10", "maintenance", "customer", 100, 0, 0, 80_000),
        ("R07", "B", "V3", "2024-02-01", "maintenance", "customer", 100, 0, 0, 120_000),
        ("R08", "B", "V2", "2024-03-01", NA, "insurance", 1000, 2000, 100, NA),
        ("R09", "B", "V3", "2024-04-01", "maintenance", "customer", 100, 0, 0, 95_000),
        ("R10", "C", "V5", "2024-06-20", "maintenance", "customer", 100, 0, 0, 30_000),
        ("R11", "C", "V4", "2024-06-20", "detailing", "customer", 0, 0, 80, NA),
        ("R12", "D", "V7", "2024-01-05", "maintenance", "internal", 100, 0, 0, 110_000),
        ("R13", "D", "V7", "2024-02-05", "repair", NA, 100, 100, 0, NA),
        ("R14", "E", "V8", "2022-01-01", "maintenance", "customer", 100, 100, 0, 20_000),
        ("R15", NA, "V1", "2024-01-01", "repair", "customer", 500, 500, 0, 40_000),
    ]
    o = pd.DataFrame(rows, columns=["ro_id", "customer_id", "vin", "open_date", "ro_type",
                                    "payer", "labor_amount", "parts_amount", "other_amount",
                                    "mileage_km"])
    o["open_date"] = pd.to_datetime(o["open_date"])
    for c in ("labor_amount", "parts_amount", "other_amount", "mileage_km"):
        o[c] = o[c].astype(float)
    o["total_amount"] = o["labor_amount"] + o["parts_amount"] + o["other_amount"]
    o["store_id"] = "001"
    return o


def _vehicles() -> pd.DataFrame:
    return pd.DataFrame({
        "vin": ["V1", "V2", "V3", "V4", "V5", "V7"],
        "sale_date": pd.to_datetime(["2022-01-01", "2020-06-30", "2023-01-01", None,
                                     "2021-01-01", "2023-06-01"]),
        "model": ["M1", "M2", "M3", "M4", "M5", "M7"],
        "grade": ["mid", "economy", "premium", None, "mid", "mid"],
        "usage": ["private", "taxi", "private", "company", "private", "ride_hailing"],
    })


def _customers() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["A", "B", "C", "E"],
        "customer_type": ["individual", "company", "individual", "individual"],
        "occupation": ["teacher", None, "doctor", None],
        "region": ["north", "south", None, "east"],
    })


HAND = list(engines(_orders(), _vehicles(), _customers()))


def _by_customer(frame) -> dict[str, dict]:
    f = to_pandas(frame)
    return {r["customer_id"]: r for r in f.to_dict("records")}


@pytest.mark.parametrize("name,tables", HAND, ids=[h[0] for h in HAND])
def test_hand_case_window_and_values(name, tables):
    o, v, c = tables
    f = _by_customer(customer_features(o, v, c, as_of="2024-06-30", window_months=12))
    # C, A, B, D have window orders; E only before the window; the null customer is dropped
    assert list(f) == ["A", "B", "C", "D"]
    a = f["A"]
    # window (2023-06-30, 2024-06-30]: R01 on the open edge is out, R03 on T is in,
    # R04/R05 after T are ignored entirely
    assert a["orders"] == 2
    assert a["first_order_date"] == D("2023-06-30") and a["last_order_date"] == T
    assert a["recency_days"] == 0.0 and a["tenure_days"] == 366.0
    assert a["visits_per_year"] == pytest.approx(2 / (366 / YEAR), rel=1e-12)
    assert a["revenue"] == 850.0
    assert (a["revenue_labor"], a["revenue_parts"], a["revenue_other"]) == (300.0, 500.0, 50.0)
    assert (a["revenue_customer"], a["revenue_warranty"]) == (550.0, 300.0)
    assert (a["revenue_insurance"], a["revenue_internal"]) == (0.0, 0.0)
    # R02 customer: 200*.65 + 300*.30 + 50*.20 = 230; R03 warranty: 100*.40 + 200*.12 = 64
    assert a["gross_profit"] == pytest.approx(294.0)
    assert a["gp_labor"] == pytest.approx(170.0) and a["gp_parts"] == pytest.approx(114.0)
    assert a["gp_other"] == pytest.approx(10.0)
    assert a["gp_customer"] == pytest.approx(230.0) and a["gp_warranty"] == pytest.approx(64.0)
    assert a["cost_to_serve"] == 120.0 and a["net_value"] == pytest.approx(174.0)
    assert a["n_vehicles"] == 1  # V9 appears only after T
    assert a["main_vin"] == "V1" and a["model"] == "M1" and a["grade"] == "mid"
    assert a["main_vehicle_age"] == pytest.approx((T - D("2022-01-01")).days / YEAR)
    # 2.49 years and 50,000 km on R03; R04's 150,000 km is after T
    assert a["warranty_status"] == "in_warranty"
    assert a["share_repair"] == 0.5 and a["share_warranty"] == 0.5
    assert (a["customer_type"], a["occupation"], a["region"]) == ("individual", "teacher",
                                                                  "north")

    b = f["B"]
    # V2 and V3 have two window orders each; V3 was ordered last
    assert b["main_vin"] == "V3" and b["n_vehicles"] == 2
    # V3 is 1.5 years old; its last reading (95,000 km on R09) counts, not the max (120,000)
    assert b["warranty_status"] == "in_warranty"
    # the untyped order R08 counts as "other"
    assert (b["share_maintenance"], b["share_other"]) == (0.75, 0.25)
    assert b["revenue_insurance"] == 3100.0 and b["revenue_customer"] == 300.0
    assert b["visits_per_year"] == pytest.approx(4 / ((T - D("2024-01-10")).days / YEAR))
    assert b["occupation"] is None or pd.isna(b["occupation"])

    c_ = f["C"]
    # same count and same last date: the smaller VIN wins; V4 has no sale date
    assert c_["main_vin"] == "V4"
    assert pd.isna(c_["main_vehicle_age"]) and c_["warranty_status"] == "unknown"
    assert c_["model"] == "M4" and pd.isna(c_["grade"])
    # first order 10 days before T: exposure floored at 0.25 years
    assert c_["visits_per_year"] == 8.0
    assert pd.isna(c_["region"])

    d = f["D"]
    # 1.08 years old but 110,000 km: out of warranty; R13 has no payer
    assert d["warranty_status"] == "out_of_warranty"
    assert d["revenue"] == 300.0 and d["revenue_internal"] == 100.0
    assert d["revenue_customer"] + d["revenue_warranty"] + d["revenue_insurance"] == 0.0
    assert d["gross_profit"] == pytest.approx(65.0 + 65.0 + 30.0)
    assert d["gp_internal"] == pytest.approx(65.0)
    assert pd.isna(d["customer_type"])  # D is not in the customers table

    for r in f.values():
        shares = sum(r[f"share_{t}"] for t in ("maintenance", "repair", "body_paint",
                                               "warranty", "detailing", "other"))
        assert shares == pytest.approx(1.0, abs=1e-12)
        assert r["net_value"] == pytest.approx(r["gross_profit"] - r["cost_to_serve"])
        assert r["revenue"] == pytest.approx(
            r["revenue_labor"] + r["revenue_parts"] + r["revenue_other"])
        assert r["gross_profit"] == pytest.approx(r["gp_labor"] + r["gp_parts"] + r["gp_other"])


@pytest.mark.parametrize("name,tables", HAND, ids=[h[0] for h in HAND])
def test_hand_case_include_inactive(name, tables):
    o, v, c = tables
    f = _by_customer(customer_features(o, v, c, as_of="2024-06-30", window_months=12,
                                       include_inactive=True))
    assert list(f) == ["A", "B", "C", "D", "E"]
    e = f["E"]
    assert e["orders"] == 0 and e["visits_per_year"] == 0.0
    assert e["first_order_date"] == D("2022-01-01") == e["last_order_date"]
    assert e["recency_days"] == float((T - D("2022-01-01")).days)
    for col in FEATURE_COLUMNS:
        if col.startswith(("revenue", "gp_", "share_")) or col in (
                "gross_profit", "cost_to_serve", "net_value"):
            assert e[col] == 0.0, col
    # the main vehicle of a customer without window orders comes from the history
    assert e["main_vin"] == "V8" and e["n_vehicles"] == 1
    assert e["warranty_status"] == "unknown"  # V8 is not in the vehicles table
    assert e["region"] == "east"


def test_hand_case_output_kind_and_columns():
    o, v, c = _orders(), _vehicles(), _customers()
    out = customer_features(o, v, c, as_of=T, window_months=12)
    assert isinstance(out, pd.DataFrame) and tuple(out.columns) == FEATURE_COLUMNS
    assert out.index.tolist() == list(range(len(out)))
    assert isinstance(customer_features(pl.from_pandas(o), as_of=T), pl.DataFrame)
    lazy = customer_features(pl.from_pandas(o).lazy(), as_of=T)
    assert isinstance(lazy, pl.LazyFrame)
    schema = lazy.collect_schema()
    assert schema["orders"] == pl.Int64 and schema["n_vehicles"] == pl.Int64
    assert schema["revenue"] == pl.Float64 and schema["warranty_status"] == pl.String
    assert schema["first_order_date"] == pl.Datetime("ns")
    # without vehicles and customers the attributes are null, warranty unknown
    # integer customer numbers come out as text, and still meet the customers table
    num = o.assign(customer_id=o["customer_id"].map({"A": 1, "B": 2, "C": 3, "D": 4,
                                                     "E": 5}).astype("Int64"))
    cnum = c.assign(customer_id=[1, 2, 3, 5])
    for name, (on, cn) in engines(num, cnum):
        g = to_pandas(customer_features(on, None, cn, as_of=T, window_months=12))
        assert g["customer_id"].tolist() == ["1", "2", "3", "4"], name
        assert g["region"].tolist()[:2] == ["north", "south"], name
    bare = customer_features(o, as_of=T, window_months=12)
    assert bare["main_vehicle_age"].isna().all() and bare["model"].isna().all()
    assert (bare["warranty_status"] == "unknown").all()
    assert bare["region"].isna().all()


def test_hand_case_costs_and_parameters():
    o = _orders()
    o["labor_cost"] = o["labor_amount"] * 0.5
    o["parts_cost"] = np.nan
    f = customer_features(o, as_of=T, window_months=12, cost_per_order=10.0,
                          margins=Margins(parts=0.5))
    a = f.set_index("customer_id").loc["A"]
    # labour from the cost column (50 %), parts from the margin (0.5, warranty 0.12)
    assert a["gp_labor"] == pytest.approx(150.0)
    assert a["gp_parts"] == pytest.approx(300 * 0.5 + 200 * 0.12)
    assert a["cost_to_serve"] == 20.0
    # longer window: R01 is in now; the store filter keeps everything here
    g = customer_features(o, as_of=T, window_months=13, store_id="001")
    assert g.set_index("customer_id").loc["A", "orders"] == 3
    assert customer_features(o, as_of=T, store_id="999").empty
    # warranty limits are parameters
    w = customer_features(o, _vehicles(), as_of=T, window_months=12, warranty_years=2.0)
    assert w.set_index("customer_id").loc["A", "warranty_status"] == "out_of_warranty"
    k = customer_features(o, _vehicles(), as_of=T, window_months=12, warranty_km=40_000)
    assert k.set_index("customer_id").loc["A", "warranty_status"] == "out_of_warranty"


# ----------------------------------------------------------------------------- generated store

AS_OF = "2024-06-30"


@pytest.fixture(scope="module")
def ds():
    return generate(n_stores=2, seed=5, start="2018-01-01", as_of="2025-06-30", scale=0.1)


@pytest.fixture(scope="module")
def feats(ds):
    """pandas features of the generated group at AS_OF (a year before its export date)."""
    return customer_features(ds, as_of=AS_OF)


def test_generated_same_on_every_engine(ds, feats):
    args = (ds.repair_orders, ds.vehicles, ds.customers)
    for name, (o, v, c) in list(engines(*args))[1:]:
        got = to_pandas(customer_features(o, v, c, as_of=AS_OF))
        assert_same(got, feats, name)
    # Polars orders with pandas vehicles and customers: converted, same answer
    mixed = customer_features(pl.from_pandas(ds.repair_orders).lazy(), ds.vehicles,
                              ds.customers, as_of=AS_OF)
    assert_same(to_pandas(mixed), feats, "mixed")
    # the Dataset form takes meta["as_of"] by default
    dflt = customer_features(ds)
    assert_same(dflt, customer_features(*args, as_of=ds.meta["as_of"]), "dataset")


def test_generated_sums_equal_the_orders(ds, feats):
    o = ds.repair_orders
    lo = pd.Timestamp(AS_OF) - pd.DateOffset(months=24)
    w = o[(o["open_date"] > lo) & (o["open_date"] <= AS_OF)]
    assert len(feats) == w["customer_id"].nunique()
    assert feats["customer_id"].is_monotonic_increasing and feats["customer_id"].is_unique
    assert feats["orders"].sum() == len(w)
    assert feats["revenue"].sum() == pytest.approx(w["total_amount"].sum(), rel=1e-12)
    for p in ("customer", "warranty", "insurance", "internal"):
        assert feats[f"revenue_{p}"].sum() == pytest.approx(
            w.loc[w["payer"] == p, "total_amount"].sum(), rel=1e-12, abs=1e-9)
    # gross profit: the generator's costs for labour and parts, the "other" margin by payer
    m = Margins()
    other_margin = w["payer"].map(lambda p: m.margin("other", p))
    truth = ((w["labor_amount"] - w["labor_cost"]) + (w["parts_amount"] - w["parts_cost"])
             + w["other_amount"] * other_margin)
    by_customer = truth.groupby(w["customer_id"]).sum()
    got = feats.set_index("customer_id")["gross_profit"]
    np.testing.assert_allclose(got.to_numpy(), by_customer.loc[got.index].to_numpy(),
                               rtol=1e-10, atol=1e-6)
    assert feats["net_value"].sum() == pytest.approx(truth.sum() - 60.0 * len(w), rel=1e-10)
    shares = feats[[c for c in FEATURE_COLUMNS if c.startswith("share_")]].sum(axis=1)
    np.testing.assert_allclose(shares, 1.0, atol=1e-12)
    assert set(feats["warranty_status"]) <= {"in_warranty", "out_of_warranty", "unknown"}
    assert (feats["visits_per_year"] <= feats["orders"] / 0.25 + 1e-12).all()


def test_generated_ignores_the_future(ds, feats):
    """Features at T are the same whether or not the data continue after T."""
    cut = Dataset(stores=ds.stores, customers=ds.customers, vehicles=ds.vehicles,
                  repair_orders=ds.repair_orders[ds.repair_orders["open_date"] <= AS_OF],
                  meta=ds.meta)
    assert len(cut.repair_orders) < len(ds.repair_orders)
    assert_same(customer_features(cut, as_of=AS_OF), feats, "truncated")
    both = customer_features(ds, as_of=AS_OF, include_inactive=True)
    hist = ds.repair_orders[ds.repair_orders["open_date"] <= AS_OF]
    assert len(both) == hist["customer_id"].nunique()
    active = both[both["orders"] > 0].reset_index(drop=True)
    assert_same(active, feats, "include_inactive")


def test_generated_store_filter(ds):
    o = ds.repair_orders
    one = customer_features(ds.repair_orders, ds.vehicles, as_of=AS_OF, store_id="002")
    pre = customer_features(o[o["store_id"] == "002"], ds.vehicles, as_of=AS_OF)
    assert_same(one, pre, "store filter")
    assert 0 < len(one) < o["customer_id"].nunique()


def _brute_force(o: pd.DataFrame, v: pd.DataFrame, cid: str, as_of, months: int) -> dict:
    """The features of one customer, row by row, from the definitions."""
    t = pd.Timestamp(as_of)
    lo = t - pd.DateOffset(months=months)
    m = Margins()
    hist = o[o["open_date"] <= t]
    mine = hist[hist["customer_id"] == cid]
    win = mine[mine["open_date"] > lo]
    r: dict = {"orders": len(win)}
    first, last = mine["open_date"].min(), mine["open_date"].max()
    r["first_order_date"], r["last_order_date"] = first, last
    expo = max((t - max(first, lo)).total_seconds() / DAY / YEAR, 0.25)
    r["visits_per_year"] = len(win) / expo
    sums = Counter()
    types = Counter()
    for row in win.itertuples():
        gp = {}
        for comp, cost in (("labor", "labor_cost"), ("parts", "parts_cost"),
                           ("other", None)):
            amount = getattr(row, f"{comp}_amount")
            c = getattr(row, cost) if cost else math.nan
            gp[comp] = amount - c if not math.isnan(c) else amount * m.margin(comp, row.payer)
            sums[f"revenue_{comp}"] += amount
            sums[f"gp_{comp}"] += gp[comp]
        total_gp = sum(gp.values())
        sums["revenue"] += row.total_amount
        sums["gross_profit"] += total_gp
        sums[f"revenue_{row.payer}"] += row.total_amount
        sums[f"gp_{row.payer}"] += total_gp
        types[row.ro_type] += 1
    r.update(sums)
    r["net_value"] = sums["gross_profit"] - 60.0 * len(win)
    for k in ("maintenance", "repair", "body_paint", "warranty", "detailing", "other"):
        r[f"share_{k}"] = types[k] / len(win)
    r["n_vehicles"] = mine["vin"].nunique()
    cands = {}
    for vin, g in win.groupby("vin"):
        cands[vin] = (-len(g), -g["open_date"].max().value, vin)
    main = min(cands.values())[2]
    r["main_vin"] = main
    veh = v.set_index("vin").loc[main]
    age = (t - veh["sale_date"]).total_seconds() / DAY / YEAR
    r["main_vehicle_age"] = age
    r["grade"], r["usage"], r["model"] = veh["grade"], veh["usage"], veh["model"]
    readings = hist[(hist["vin"] == main) & hist["mileage_km"].notna()]
    if len(readings):
        latest = readings[readings["open_date"] == readings["open_date"].max()]
        km = latest["mileage_km"].max()
    else:
        km = None
    in_w = age < 3.0 and (km is None or km < 100_000)
    r["warranty_status"] = "in_warranty" if in_w else "out_of_warranty"
    return r


def test_generated_matches_brute_force(ds, feats):
    o, v = ds.repair_orders, ds.vehicles
    f = feats.set_index("customer_id")
    rng = np.random.default_rng(0)
    # a random sample plus the extremes (most orders, most vehicles, highest value)
    picks = set(rng.choice(f.index.to_numpy(), size=60, replace=False))
    picks |= {f["orders"].idxmax(), f["n_vehicles"].idxmax(), f["net_value"].idxmax(),
              f["net_value"].idxmin()}
    statuses = Counter()
    for cid in sorted(picks):
        want = _brute_force(o, v, cid, AS_OF, 24)
        got = f.loc[cid]
        for col, val in want.items():
            if isinstance(val, str) or isinstance(val, pd.Timestamp):
                assert got[col] == val, (cid, col)
            else:
                assert got[col] == pytest.approx(val, rel=1e-10, abs=1e-8), (cid, col)
        statuses[want["warranty_status"]] += 1
    assert statuses["in_warranty"] > 0 and statuses["out_of_warranty"] > 0


# ----------------------------------------------------------------------------- rfm_summary


def load_cdnow() -> pd.DataFrame:
    tx = pd.read_csv(CDNOW / "CDNOW_master.txt.gz", sep=r"\s+",
                     dtype={"customer_id": str, "date": str})
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    return tx


@pytest.fixture(scope="module")
def cdnow():
    return load_cdnow()


CASES = pd.read_csv(REFERENCE / "cdnow_rfm_cases.csv").to_dict("records")


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_rfm_summary_equals_lifetimes_on_cdnow(cdnow, case):
    ref = pd.read_csv(REFERENCE / case["file"], dtype={"customer_id": str})
    assert len(ref) == case["customers"] == 23_570
    kinds = [("pandas", cdnow), ("polars-lazy", pl.from_pandas(cdnow).lazy())]
    for name, tx in kinds:
        got = to_pandas(rfm_summary(tx, "customer_id", "date", "dollar_value",
                                    as_of=case["observation_period_end"], freq=case["freq"],
                                    freq_multiplier=case["freq_multiplier"]))
        assert list(got.columns) == ["customer_id", "frequency", "recency", "T",
                                     "monetary_value"], name
        assert got["customer_id"].tolist() == ref["customer_id"].tolist(), name
        assert (got["frequency"].to_numpy() == ref["frequency"].to_numpy()).all(), name
        if case["freq_multiplier"] == 1:  # whole periods: exactly equal
            for col in ("recency", "T"):
                assert (got[col].to_numpy() == ref[col].to_numpy()).all(), (name, col)
        for col in ("recency", "T", "monetary_value"):
            np.testing.assert_allclose(got[col], ref[col], rtol=1e-9, atol=0, err_msg=name)


def test_rfm_summary_reproduces_the_bgnbd_paper_summary():
    """Fader-Hardie-Lee's 39-week summary of their 2,357-customer sample, to 2 decimals."""
    sample = pd.read_csv(CDNOW / "CDNOW_sample.txt.gz", sep=r"\s+", header=None,
                         names=["customer_id", "sample_id", "date", "n", "dollar_value"],
                         dtype={"customer_id": str, "date": str})
    sample["date"] = pd.to_datetime(sample["date"], format="%Y%m%d")
    got = rfm_summary(sample, "sample_id", "date", "dollar_value", as_of="1997-09-30",
                      freq="D", freq_multiplier=7)
    paper = pd.read_csv(CDNOW / "cdnow_customers_summary.csv")
    assert got["sample_id"].tolist() == paper["ID"].tolist()
    assert got["frequency"].tolist() == paper["frequency"].tolist()
    assert (got["frequency"] > 0).sum() == 946
    np.testing.assert_allclose(got["recency"].round(2), paper["recency"], atol=1e-9)
    np.testing.assert_allclose(got["T"].round(2), paper["T"], atol=1e-9)


def _tx() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["a", "a", "a", "a", "b", "b", None, "c"],
        "when": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 17:00", "2024-01-10 00:00",
                                "2024-01-17 00:00", "2024-01-03 00:00", "2024-01-18 00:00",
                                "2024-01-02 00:00", "2024-01-22 00:00"]),
        "amount": [10.0, 5.0, 20.0, 40.0, 7.0, np.nan, 99.0, 3.0],
    })


@pytest.mark.parametrize("name,tables", list(engines(_tx())), ids=["pandas", "polars", "lazy"])
def test_rfm_summary_hand_case(name, tables):
    (tx,) = tables
    # 2024-01-17 is a Wednesday. Daily: a buys on days 0 (twice, merged), 9 and 16
    d = to_pandas(rfm_summary(tx, "id", "when", "amount", as_of="2024-01-17 12:00"))
    assert d["id"].tolist() == ["a", "b"]  # c is after the end; the null id is dropped
    assert d["frequency"].tolist() == [2, 0]
    assert d["recency"].tolist() == [16.0, 0.0] and d["T"].tolist() == [16.0, 14.0]
    assert d["monetary_value"].tolist() == [30.0, 0.0]
    # weekly (Monday-Sunday): 2024-01-18 and -22 are in the as-of week or after it;
    # lifetimes keeps every transaction of the as-of week, even after as_of
    w = to_pandas(rfm_summary(tx, "id", "when", "amount", as_of="2024-01-17", freq="W"))
    assert w["id"].tolist() == ["a", "b"]
    assert w["frequency"].tolist() == [2, 1] and w["recency"].tolist() == [2.0, 2.0]
    assert w["T"].tolist() == [2.0, 2.0]
    # b's repeat week has only a missing value: it counts as 0
    assert w["monetary_value"].tolist() == [30.0, 0.0]
    # include_first_transaction, no value column, multiplier, default as_of (the last date)
    i = to_pandas(rfm_summary(tx, "id", "when", "amount", as_of="2024-01-17",
                              include_first_transaction=True))
    assert i["frequency"].tolist() == [3, 1]
    assert i["monetary_value"].tolist() == pytest.approx([25.0, 7.0])
    n = to_pandas(rfm_summary(tx, "id", "when", None, freq_multiplier=7))
    assert list(n.columns) == ["id", "frequency", "recency", "T"]
    assert n["id"].tolist() == ["a", "b", "c"]
    assert n["T"].tolist() == pytest.approx([21 / 7, 19 / 7, 0.0])


def test_rfm_summary_on_a_dataset(ds):
    r = rfm_summary(ds)
    o = ds.repair_orders
    assert len(r) == o["customer_id"].nunique()
    days = o["open_date"].dt.normalize()
    n_days = days.groupby(o["customer_id"]).nunique()
    assert (r.set_index("customer_id")["frequency"] == n_days - 1).all()
    assert (r["T"] >= r["recency"]).all() and (r["monetary_value"] >= 0).all()


# ----------------------------------------------------------------------------- errors


def test_errors_name_the_table_and_column():
    o, v, c = _orders(), _vehicles(), _customers()
    with pytest.raises(KeyError, match=r"'repair_orders'.*\['payer'\]"):
        customer_features(o.drop(columns="payer"), as_of=T)
    with pytest.raises(KeyError, match=r"'repair_orders'.*\['store_id'\]"):
        customer_features(o.drop(columns="store_id"), as_of=T, store_id="001")
    with pytest.raises(KeyError, match=r"'vehicles'.*\['sale_date'\]"):
        customer_features(o, v.drop(columns="sale_date"), as_of=T)
    with pytest.raises(KeyError, match=r"'customers'.*\['customer_id'\]"):
        customer_features(o, v, c.rename(columns={"customer_id": "id"}), as_of=T)
    with pytest.raises(TypeError, match=r"repair_orders\.open_date must hold dates"):
        customer_features(o.assign(open_date=o["open_date"].astype(str)), as_of=T)
    with pytest.raises(TypeError, match=r"vehicles\.sale_date must hold dates"):
        customer_features(o, v.assign(sale_date="2020-01-01"), as_of=T)
    with pytest.raises(TypeError, match=r"repair_orders\.total_amount must be numeric"):
        customer_features(o.assign(total_amount="1"), as_of=T)
    with pytest.raises(KeyError, match=r"'orders'.*\['amount'\]"):
        rfm_summary(o, value_col="amount")


def test_errors_on_parameters():
    o = _orders()
    with pytest.raises(ValueError, match="as_of='June' is not a date"):
        customer_features(o, as_of="June")
    with pytest.raises(TypeError, match="as_of must be a date"):
        customer_features(o, as_of=20240630)
    with pytest.raises(TypeError, match="as_of is required"):
        customer_features(o)
    for bad in (0, -6):
        with pytest.raises(ValueError, match="window_months must be >= 1"):
            customer_features(o, as_of=T, window_months=bad)
    with pytest.raises(TypeError, match="window_months must be an integer"):
        customer_features(o, as_of=T, window_months=1.5)
    with pytest.raises(ValueError, match="warranty_km must be a finite number > 0"):
        customer_features(o, as_of=T, warranty_km=0)
    with pytest.raises(ValueError, match="cost_per_order"):
        customer_features(o, as_of=T, cost_per_order=-1)
    with pytest.raises(TypeError, match="orders must be a pandas or Polars frame"):
        customer_features([1, 2], as_of=T)
    with pytest.raises(TypeError, match="either a Dataset or orders"):
        customer_features(example_dataset(), _vehicles(), as_of=T)
    with pytest.raises(ValueError, match="freq='M' is not supported"):
        rfm_summary(o, freq="M")
    with pytest.raises(ValueError, match="freq_multiplier must be a finite number > 0"):
        rfm_summary(o, freq_multiplier=0)
    with pytest.raises(ValueError, match="as_of='soon' is not a date"):
        rfm_summary(o, as_of="soon")
    with pytest.raises(TypeError, match="^rfm_summary: as_of must be a date"):
        rfm_summary(o, as_of=20240630)
    with pytest.raises(TypeError, match="^customer_features: as_of must be a date"):
        customer_features(example_dataset(), as_of=20240630)
    with pytest.raises(TypeError, match="positional"):
        rfm_summary(o, "customer_id", "open_date", "total_amount", "2024-06-30")

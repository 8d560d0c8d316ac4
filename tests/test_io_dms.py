"""Load the messy DMS export of a synthetic group and compare it with the known answer.

:func:`crm_analysis.synth.dms.write_dms_export` writes a generated dataset as a flat Chinese
DMS export (GBK / UTF-8-BOM CSV and ``.xlsx`` monthly files, mixed date and amount formats,
title and totals rows) with faults injected at a known rate and listed in a manifest.
These tests load the files with :func:`crm_analysis.io.load` and check that

- every listed fault is caught with the reason the manifest gives, at the same file, sheet
  and row, and that nothing else is quarantined or flagged;
- exact duplicates are merged (counted in the report) and backwards mileage is flagged;
- ``read = accepted + duplicates + quarantined`` per file, and ``read`` is the number of
  rows the writer put below the header;
- the accepted orders are the canonical orders of the orders the manifest says a loader
  keeps, column by column; vehicles, customers and stores too where the export carries
  the attribute;
- no raw name, phone or plate of the input is anywhere in the result.

The fast tests use a small group (about 2,000 orders in monthly files); the slow one the
default data of ``make data`` (``generate(n_stores=3, seed=2026)``, about 280,000 orders).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm_analysis.io import LoadResult, load
from crm_analysis.privacy import pseudonymize
from crm_analysis.schema import Dataset
from crm_analysis.synth import generate
from crm_analysis.synth.dms import FAULT_KINDS, OUTCOMES, ExportManifest, write_dms_export

KEY = b"test-io-dms-key"
ROOT = Path(__file__).resolve().parents[1]

# Vehicle and customer attributes a flat export carries (the others - a vehicle's home
# store, a customer's first-seen date, a store's city and opening date - are not in it).
VEHICLE_ATTRS = ["customer_id", "sold_here", "sale_date", "model", "grade", "usage", "color"]
CUSTOMER_ATTRS = ["customer_type", "occupation", "region"]


@dataclass
class Case:
    """A dataset, its messy export and what the loader made of it."""

    ds: Dataset
    manifest: ExportManifest
    res: LoadResult


def export_and_load(ds: Dataset, out: Path, **kwargs) -> Case:
    manifest = write_dms_export(ds, out, **kwargs)
    res = load(out, as_of=manifest.as_of, key=KEY)
    return Case(ds, manifest, res)


def located(df: pd.DataFrame) -> pd.DataFrame:
    """``file`` as a bare name and ``sheet`` as ``""`` for CSV (the manifest says None,
    the loader ""), so that manifest and result rows can be matched."""
    df = df.copy()
    df["file"] = [Path(f).name for f in df["file"]]
    df["sheet"] = df["sheet"].astype(object).where(df["sheet"].notna(), "")
    df["row"] = df["row"].astype("int64")
    return df


def manifest_rows(case: Case, outcome: str) -> pd.DataFrame:
    f = located(case.manifest.faults)
    return f[f["outcome"] == outcome]


# ---------------------------------------------------------------------------------------
# The checks (shared by the fast and the slow tests)
# ---------------------------------------------------------------------------------------


def check_quarantine(case: Case) -> dict[str, int]:
    """Every quarantined fault at its (file, sheet, row) with its reason, nothing else.

    Returns the number of quarantined rows per reason."""
    want = manifest_rows(case, "quarantined")
    got = located(case.res.quarantine)
    both = want.merge(got, on=["file", "sheet", "row"], how="outer", indicator=True)
    missed = both[both["_merge"] == "left_only"]
    assert missed.empty, f"injected faults not quarantined:\n{missed[['file', 'row', 'kind']]}"
    extra = both[both["_merge"] == "right_only"]
    assert extra.empty, f"clean rows quarantined:\n{extra[['file', 'row', 'reason', 'message']]}"
    wrong = both[both["kind"] != both["reason"]]
    assert wrong.empty, f"wrong reason:\n{wrong[['file', 'row', 'kind', 'reason', 'message']]}"
    assert (got["table"] == "repair_orders").all()
    # A missing key names the emptied column; a conflict lists both copies.
    mk = both[both["kind"] == "missing_key"]
    assert all(f"{c} is empty" in m for c, m in zip(mk["column"], mk["message"], strict=True))
    conflict = both[both["kind"] == "duplicate_order_conflict"]
    assert (conflict.groupby("ro_id").size() == 2).all()
    assert conflict["message"].str.contains("every copy is quarantined").all()
    # The raw values are kept, under the source headers.
    headers = case.manifest.headers
    for file, raw in zip(got["file"], got["raw"], strict=True):
        if file in headers:  # a data row: its headers are those the writer used
            assert set(raw) == set(headers[file]), (file, raw)
    return got["reason"].value_counts().to_dict()


def check_merged_and_flagged(case: Case) -> dict[str, int]:
    """Exact duplicates merged (counted per file), backwards mileage flagged and kept."""
    res = case.res
    dup = manifest_rows(case, "merged")
    assert set(dup["kind"]) <= {"exact_duplicate"}
    report = located(res.report.assign(row=0))
    per_file = report.groupby("file")["duplicates"].sum()
    want = dup.groupby("file").size().reindex(per_file.index, fill_value=0)
    pd.testing.assert_series_equal(per_file, want, check_names=False)
    kept = res.dataset.repair_orders["ro_id"]
    assert kept.is_unique
    assert set(dup["ro_id"]) <= set(kept)

    flagged = manifest_rows(case, "flagged")
    got = located(res.flags)
    cols = ["file", "sheet", "row", "reason", "key"]
    got_rows = set(got[cols].itertuples(index=False, name=None))
    want_rows = set(flagged.assign(reason=flagged["kind"], key=flagged["ro_id"])[cols]
                    .itertuples(index=False, name=None))
    assert got_rows == want_rows
    assert set(flagged["ro_id"]) <= set(kept)
    return {"exact_duplicate": int(per_file.sum()), **got["reason"].value_counts().to_dict()}


def check_accounting(case: Case) -> None:
    """read = accepted + duplicates + quarantined per file; read = rows below the header."""
    r = located(case.res.report.assign(row=0)).set_index("file")
    assert (r["read"] == r["accepted"] + r["duplicates"] + r["quarantined"]).all()
    layout = case.manifest.layout.set_index("file")
    assert sorted(r.index) == sorted(layout.index)  # one sheet per file, all flat
    assert (r["kind"] == "flat").all()
    totals_row = (layout["format"] == "xlsx").astype(int)
    assert r["read"].sort_index().tolist() == (layout["data_rows"] + totals_row).sort_index(
    ).tolist()
    assert r["title_rows"].sort_index().tolist() == (2 * totals_row).sort_index().tolist()
    faults = located(case.manifest.faults)
    q = faults[faults["outcome"] == "quarantined"].groupby("file").size()
    assert r["quarantined"].sort_index().tolist() == q.reindex(
        r.index, fill_value=0).sort_index().tolist()
    assert int(r["accepted"].sum()) == len(case.manifest.accepted_ro_ids)
    assert int(r["accepted"].sum()) == len(case.res.dataset.repair_orders)


def backwards_mileage(case: Case) -> pd.Series:
    """ro_id -> the lowered mileage written on a ``mileage_backwards`` row."""
    f = case.manifest.faults
    f = f[f["kind"] == "mileage_backwards"]
    new = [float(re.search(r"-> (\d+)", d).group(1)) for d in f["detail"]]
    return pd.Series(new, index=f["ro_id"].to_numpy())


def check_orders(case: Case) -> None:
    """Accepted orders = canonical orders of ``manifest.accepted_ro_ids``."""
    accepted = case.manifest.accepted_ro_ids
    got = case.res.dataset.repair_orders.sort_values("ro_id").reset_index(drop=True)
    src = case.ds.repair_orders
    want = src[src["ro_id"].isin(accepted)].sort_values("ro_id").reset_index(drop=True)
    assert got["ro_id"].tolist() == accepted
    assert list(got.columns) == list(want.columns)
    # The export writes some dates with a time of day (``2023-01-05 14:30``) where the
    # canonical data has midnight; the loader keeps the time, so dates compare by day.
    for c in ("open_date", "close_date"):
        got[c] = got[c].dt.normalize()
        want[c] = want[c].dt.normalize()
    # Rows flagged mileage_backwards carry the lowered mileage the writer put there.
    low = backwards_mileage(case)
    at = want["ro_id"].isin(low.index).to_numpy()
    assert at.sum() == len(low)
    assert (want.loc[at, "mileage_km"].to_numpy() > low[want.loc[at, "ro_id"]].to_numpy()).all()
    want.loc[at, "mileage_km"] = low[want.loc[at, "ro_id"]].to_numpy()
    pd.testing.assert_frame_equal(got, want, check_exact=False, atol=0.005, rtol=0)


def check_tables(case: Case) -> None:
    """Vehicles and customers of the accepted orders equal the canonical ones in every
    attribute the export carries; personal columns as keyed pseudonyms. (Store names:
    see :func:`test_store_names_of_a_flat_export_are_kept`.)"""
    ds, out = case.ds, case.res.dataset
    orders = out.repair_orders

    got = out.vehicles.set_index("vin").sort_index()
    assert set(got.index) == set(orders["vin"])
    want = ds.vehicles.set_index("vin").loc[got.index]
    pd.testing.assert_frame_equal(got[VEHICLE_ATTRS], want[VEHICLE_ATTRS])
    assert got["plate"].tolist() == pseudonymize(want["plate"], KEY).tolist()
    # The home store is not exported: it is the store of the vehicle's latest order.
    latest = orders.sort_values(["open_date", "ro_id"]).groupby("vin")["store_id"].last()
    assert got["store_id"].tolist() == latest.loc[got.index].tolist()

    got = out.customers.set_index("customer_id").sort_index()
    assert set(got.index) == set(orders["customer_id"])
    want = ds.customers.set_index("customer_id").loc[got.index]
    pd.testing.assert_frame_equal(got[CUSTOMER_ATTRS], want[CUSTOMER_ATTRS])
    for c in ("name", "phone"):
        assert got[c].tolist() == pseudonymize(want[c], KEY).tolist(), c

    assert set(out.stores["store_id"]) == set(orders["store_id"])
    assert out.validate().ok


_CJK = re.compile(r"[\u3400-\u9fff]+")
_DIGITS = re.compile(r"\d+")
_PLATE = re.compile(r"[\u3400-\u9fff][A-Z]·?[A-Z0-9]{4,6}")


def check_no_pii(case: Case) -> None:
    """No raw name, phone or plate of the exported rows anywhere in the result."""
    ds, res = case.ds, case.res
    vins = set(ds.repair_orders["vin"])
    cids = set(ds.repair_orders["customer_id"])
    cust = ds.customers[ds.customers["customer_id"].isin(cids)]
    phones = set(cust["phone"].dropna())
    plates = set(ds.vehicles.loc[ds.vehicles["vin"].isin(vins), "plate"].dropna())
    # Service advisors are staff, kept by design; some share a name with a customer.
    advisors = set(ds.repair_orders["advisor"].dropna()) if "advisor" in \
        ds.repair_orders.columns else set()
    names = set(cust["name"].dropna())
    assert phones and plates and names

    q = res.quarantine
    text = "\n".join([
        *(t.to_csv(index=False) for t in res.dataset.tables.values()),
        q.drop(columns="raw").to_csv(index=False),
        "\n".join(f"{k}\t{v}" for raw in q["raw"] for k, v in raw.items()),
        res.flags.to_csv(index=False),
        res.report.to_csv(index=False),
        repr(res.meta), repr(res.dataset.meta),
    ])
    found_phones = set(_DIGITS.findall(text)) & phones
    assert not found_phones, f"raw phones in the result: {sorted(found_phones)[:5]}"
    found_plates = {p.replace("·", "") for p in _PLATE.findall(text)} & {
        p.replace("·", "") for p in plates}
    assert not found_plates, f"raw plates in the result: {sorted(found_plates)[:5]}"
    lens = sorted({len(n) for n in names})
    leaked = set()
    for run in set(_CJK.findall(text)) - advisors:
        for k in lens:
            leaked |= {run[i:i + k] for i in range(len(run) - k + 1)} & names
    assert not leaked, f"raw names in the result: {sorted(leaked)[:5]}"


# ---------------------------------------------------------------------------------------
# Fast: a small group in monthly files
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Case:
    ds = generate(n_stores=2, seed=23, start="2022-01-01", as_of="2024-06-30", scale=0.1)
    out = tmp_path_factory.mktemp("dms_small")
    return export_and_load(ds, out, fault_rate=0.02, seed=4, months_per_file=1)


def test_export_has_every_kind_of_file_and_fault(small):
    m = small.manifest
    layout = m.layout
    assert len(m.files) >= 20
    assert set(layout["format"]) == {"csv", "xlsx"}
    assert set(layout["encoding"].dropna()) == {"gbk", "utf-8-sig"}
    counts = m.fault_counts()
    assert (counts >= 10).all(), counts  # every fault kind is exercised several times
    assert set(m.faults["kind"]) == {*FAULT_KINDS, "summary_row"}


def test_every_quarantined_fault_caught_with_its_reason(small):
    counts = check_quarantine(small)
    want = {k: int(n) for k, n in small.manifest.faults.groupby("kind")["row"].size().items()
            if OUTCOMES[k] == "quarantined"}
    assert counts == want


def test_duplicates_merged_and_backwards_mileage_flagged(small):
    counts = check_merged_and_flagged(small)
    fc = small.manifest.fault_counts()
    assert counts == {"exact_duplicate": fc["exact_duplicate"],
                      "mileage_backwards": fc["mileage_backwards"]}


def test_accounting_identity_per_file(small):
    check_accounting(small)


def test_accepted_orders_equal_the_canonical_orders(small):
    check_orders(small)


def test_vehicles_and_customers_equal_where_exported(small):
    check_tables(small)


def test_store_names_of_a_flat_export_are_kept(small):
    got = small.res.dataset.stores.set_index("store_id").sort_index()
    want = small.ds.stores.set_index("store_id").loc[got.index]
    assert got["store_name"].tolist() == want["store_name"].tolist()


def test_no_raw_personal_data_in_the_result(small):
    check_no_pii(small)


def test_pii_scan_would_see_a_leak(small):
    """The scan of :func:`check_no_pii` finds raw values when they are there."""
    res = small.res
    cust = small.ds.customers
    name = cust.loc[cust["customer_type"] == "individual", "name"].iloc[0]
    for leak in ({"phone": cust["phone"].iloc[0]}, {"name": name},
                 {"plate": small.ds.vehicles["plate"].iloc[0]}):
        q = res.quarantine.copy()
        q.at[0, "raw"] = {**q.at[0, "raw"], **leak}
        with pytest.raises(AssertionError, match="raw"):
            check_no_pii(Case(small.ds, small.manifest, LoadResult(
                res.dataset, q, res.flags, res.report, res.meta)))


def test_single_store_csv_export_with_store_param(tmp_path):
    """A one-store export has no store column: ``store_id`` supplies it."""
    ds = generate(n_stores=2, seed=5, start="2023-01-01", as_of="2024-06-30", scale=0.05)
    m = write_dms_export(ds, tmp_path, store_id="002", fault_rate=0.02, seed=2,
                         formats=("csv",), months_per_file=6)
    res = load(tmp_path, store_id="002", as_of=m.as_of, key=KEY)
    case = Case(ds, m, res)
    check_quarantine(case)
    check_merged_and_flagged(case)
    check_accounting(case)
    assert res.dataset.store_ids == ["002"]
    assert sorted(res.dataset.repair_orders["ro_id"]) == m.accepted_ro_ids


# ---------------------------------------------------------------------------------------
# Slow: the default data (make data)
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_default_data_export_loads_with_every_fault_caught(default_dataset, tmp_path):
    case = export_and_load(default_dataset, tmp_path / "dms", fault_rate=0.01, seed=2026,
                           months_per_file=12)
    assert (case.manifest.fault_counts() > 100).all()
    check_quarantine(case)
    check_merged_and_flagged(case)
    check_accounting(case)
    check_orders(case)
    check_tables(case)
    check_no_pii(case)
    assert np.isclose(case.res.dataset.repair_orders["total_amount"].sum(),
                      case.ds.repair_orders.loc[case.ds.repair_orders["ro_id"].isin(
                          case.manifest.accepted_ro_ids), "total_amount"].sum())

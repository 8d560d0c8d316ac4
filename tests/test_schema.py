"""Tests of the canonical data model (crm_analysis.schema)."""

from __future__ import annotations

import doctest
import filecmp
import json

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.parquet as pq
import pytest

from crm_analysis import schema
from crm_analysis.schema import (
    CHECKS,
    PAYERS,
    PII_COLUMNS,
    RO_TYPES,
    SCHEMAS,
    TABLES,
    Dataset,
    DataValidationError,
    ValidationReport,
    coerce,
)

# Mismatched None/NaN would make assert_frame_equal pass with only a warning: make it fail.
pytestmark = pytest.mark.filterwarnings("error:Mismatched null-like values:FutureWarning")

T = pd.Timestamp
NaT = pd.NaT
V1, V2, V3 = "LFV2A21K0A3000001", "LFV2A21K0A3000002", "LFV2A21K0A3000003"


@pytest.fixture
def ds() -> Dataset:
    """2 stores, 3 customers, 3 vehicles, 6 orders; V3 (home 007) also serviced at 001."""
    stores = pd.DataFrame(
        {
            "store_id": ["001", "007"],
            "store_name": ["合肥北店", "Wuhu"],
            "city": ["Hefei", "Wuhu"],
            "opened_date": [T("2012-05-01"), NaT],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["0012", "0100", "C3"],
            "name": ["李娜", None, "Wuhu City Government"],
            "phone": ["13900000012", None, "0553-1234567"],
            "customer_type": ["individual", "company", "government"],
            "occupation": [None, None, "civil servant"],
            "region": ["Hefei", None, "Wuhu"],
            "first_seen_date": [T("2019-01-10"), NaT, T("2020-06-01")],
        }
    )
    vehicles = pd.DataFrame(
        {
            "vin": [V1, V2, V3],
            "customer_id": ["0012", "0100", "C3"],
            "store_id": ["001", "001", "007"],
            "sold_here": [True, False, True],
            "sale_date": [T("2019-01-10"), NaT, T("2020-06-01")],
            "model": ["Sagitar", "Magotan", "Sagitar"],
            "grade": ["mid", None, "economy"],
            "usage": ["private", "company", "government"],
            "plate": ["皖A00001", None, "皖B00003"],
            "color": ["white", None, "black"],
        }
    )
    repair_orders = pd.DataFrame(
        {
            "ro_id": ["R1", "R2", "R3", "R4", "R5", "R6"],
            "store_id": ["001", "001", "001", "007", "007", "001"],
            "vin": [V1, V1, V2, V3, V3, V3],
            "customer_id": ["0012", "0012", "0100", "C3", "C3", "C3"],
            "open_date": [
                T("2019-07-01"),
                T("2020-01-15 09:30"),
                T("2021-03-03"),
                T("2020-12-01"),
                T("2021-06-01"),
                T("2022-02-02"),
            ],
            "close_date": [
                T("2019-07-01"),
                T("2020-01-16 17:00"),
                NaT,
                T("2020-12-01"),
                T("2021-06-03"),
                NaT,
            ],
            "mileage_km": [5000.0, 10000.5, np.nan, 20000.0, 40000.0, 55000.0],
            "ro_type": [
                "maintenance",
                "repair",
                "warranty",
                "maintenance",
                "body_paint",
                "detailing",
            ],
            "payer": ["customer", "customer", "warranty", "customer", "insurance", "customer"],
            "labor_amount": [100.0, 300.1, 200.0, 120.0, 1500.0, 80.0],
            "parts_amount": [200.0, 500.2, 400.0, 180.0, 2500.0, 0.0],
            "other_amount": [0.0, 50.0, 0.0, 0.0, 100.0, 20.0],
            "total_amount": [300.0, 850.3, 600.0, 300.0, 4100.0, 100.0],
            "labor_cost": [40.0, np.nan, 80.0, 45.0, 600.0, np.nan],
            "parts_cost": [150.0, np.nan, 300.0, 130.0, 1800.0, np.nan],
            "advisor": ["张伟", None, "张伟", "Liu", None, "Liu"],
            # Extra columns must be kept, with their dtypes.
            "source_row": np.arange(1, 7, dtype="int64"),
            "note": ["007", None, "NA", "x", None, "0.10"],
        }
    )
    truth = pd.DataFrame(
        {
            "vin": [V1, V2, V3],
            "store_id": ["001", "001", "007"],
            "customer_id": ["0012", "0100", "C3"],
            "sold_here": [True, False, True],
            "entry_date": [T("2019-01-10"), T("2021-03-03"), T("2020-06-01")],
            "entry_age_years": [0.0, 2.5, 0.0],
            "annual_km": [10000.0, 15000.0, 35000.0],
            "distance_km": [3.2, 12.0, 1.1],
            "warranty_end_date": [T("2022-01-10"), T("2021-01-01"), T("2023-06-01")],
            "loyalty": [0.3, -1.2, 0.1],
            "hazard_multiplier": [0.8, 2.1, 1.0],
            "never_returned": [False, False, False],
            "defection_decision_date": [NaT, T("2021-05-01"), NaT],
            "true_defection_date": [NaT, T("2021-03-03"), NaT],
            "defected": [False, True, False],
            "segment": ["loyal", "drifter", None],
            "latent_rate": [1 / 3, 0.1 + 0.2, np.nan],
        }
    )
    meta = {
        "as_of": "2022-12-31",
        "seed": 1,
        "generator": {"name": "hand-made", "stores": ["001", "007"], "rate": 0.25},
    }
    return Dataset(stores, customers, vehicles, repair_orders, truth=truth, meta=meta)


def _assert_same(a: Dataset, b: Dataset) -> None:
    assert list(a.tables) == list(b.tables)
    for name, df in a.tables.items():
        pd.testing.assert_frame_equal(b.tables[name], df, check_exact=True, obj=name)
    assert b.meta == a.meta


def _found(report: ValidationReport) -> set[tuple]:
    v = report.violations
    return {
        (t, c, None if pd.isna(r) else int(r), k)
        for t, c, r, k in zip(v["table"], v["column"], v["row"], v["check"], strict=True)
    }


# ---------------------------------------------------------------------------------------
# module constants
# ---------------------------------------------------------------------------------------


def test_constants_are_consistent():
    assert RO_TYPES == ("maintenance", "repair", "body_paint", "warranty", "detailing", "other")
    assert PAYERS == ("customer", "warranty", "insurance", "internal")
    assert PII_COLUMNS == {"customers": ("name", "phone"), "vehicles": ("plate",)}
    assert set(SCHEMAS) == set(TABLES) == {*schema.TABLE_NAMES, "truth"}
    assert list(TABLES["stores"]) == ["store_id", "store_name", "city", "opened_date"]
    assert TABLES["repair_orders"]["open_date"] == "datetime"
    assert TABLES["vehicles"]["sold_here"] == "bool"
    for table, cols in schema.COLUMNS.items():
        for col, spec in cols.items():
            assert spec.pii == (col in PII_COLUMNS.get(table, ())), (table, col)


def test_docstring_examples_run():
    result = doctest.testmod(schema, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 20
    assert result.failed == 0


# ---------------------------------------------------------------------------------------
# round trip
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_round_trip_is_exact(ds, tmp_path, fmt):
    folder = ds.to_dir(tmp_path / "data", format=fmt)
    assert (folder / f"repair_orders.{fmt}").is_file()
    back = Dataset.from_dir(folder)
    _assert_same(ds, back)
    assert back.stores["store_id"].tolist() == ["001", "007"]
    assert back.customers["customer_id"].tolist() == ["0012", "0100", "C3"]
    assert back.repair_orders["note"].tolist() == ["007", None, "NA", "x", None, "0.10"]
    assert str(back.repair_orders["open_date"].dtype) == "datetime64[ns]"
    assert back.vehicles["sold_here"].dtype == np.dtype(bool)
    assert back.vehicles.loc[1, "sale_date"] is NaT
    assert back.customers.loc[1, "name"] is None


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_round_trip_without_truth_or_meta(ds, tmp_path, fmt):
    ds.truth = None
    ds.meta = {}
    back = Dataset.from_dir(ds.to_dir(tmp_path, format=fmt))
    assert back.truth is None
    assert back.meta == {}
    _assert_same(ds, back)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_writes_are_deterministic(ds, tmp_path, fmt):
    a = ds.to_dir(tmp_path / "a", format=fmt)
    b = Dataset.from_dir(a).to_dir(tmp_path / "b", format=fmt)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    _, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    assert mismatch == [] and errors == []
    meta_text = (a / "meta.json").read_text(encoding="utf-8")
    assert json.loads(meta_text) == ds.meta
    assert meta_text.index('"as_of"') < meta_text.index('"generator"') < meta_text.index('"seed"')


def test_csv_is_utf8_with_iso_dates(ds, tmp_path):
    ds.to_dir(tmp_path, format="csv")
    text = (tmp_path / "repair_orders.csv").read_text(encoding="utf-8")
    assert "2020-01-15 09:30:00" in text
    assert "张伟" in text
    assert "2012-05-01" in (tmp_path / "stores.csv").read_text(encoding="utf-8")


def test_switching_format_removes_stale_files(ds, tmp_path):
    ds.to_dir(tmp_path, format="csv")
    ds.stores.loc[0, "store_name"] = "renamed"
    ds.truth = None
    ds.to_dir(tmp_path, format="parquet")
    assert not list(tmp_path.glob("*.csv"))
    back = Dataset.from_dir(tmp_path)
    assert back.stores.loc[0, "store_name"] == "renamed"
    assert back.truth is None


def test_from_dir_converts_date32_and_microsecond_timestamps(ds, tmp_path):
    ds.to_dir(tmp_path)
    # A parquet file written by another tool: date32 dates, us timestamps, large strings.
    table = pyarrow.table(
        {
            "store_id": pyarrow.array(["001", "007"], pyarrow.large_string()),
            "store_name": ["a", "b"],
            "city": ["Hefei", "Wuhu"],
            "opened_date": pyarrow.array(
                [pd.Timestamp("2012-05-01").date(), None], pyarrow.date32()
            ),
        }
    )
    pq.write_table(table, tmp_path / "stores.parquet")
    orders = pyarrow.Table.from_pandas(ds.repair_orders, preserve_index=False)
    i = orders.schema.get_field_index("open_date")
    orders = orders.set_column(i, "open_date", orders["open_date"].cast(pyarrow.timestamp("us")))
    pq.write_table(orders, tmp_path / "repair_orders.parquet")
    back = Dataset.from_dir(tmp_path)
    assert str(back.stores["opened_date"].dtype) == "datetime64[ns]"
    assert back.stores["opened_date"].tolist()[0] == T("2012-05-01")
    assert str(back.repair_orders["open_date"].dtype) == "datetime64[ns]"
    pd.testing.assert_frame_equal(back.repair_orders, ds.repair_orders)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("missing", ["stores", "vehicles", "repair_orders"])
def test_missing_table_file_is_named(ds, tmp_path, fmt, missing):
    ds.to_dir(tmp_path, format=fmt)
    (tmp_path / f"{missing}.{fmt}").unlink()
    with pytest.raises(FileNotFoundError) as err:
        Dataset.from_dir(tmp_path)
    msg = str(err.value)
    assert str(tmp_path) in msg
    assert f"{missing}.parquet" in msg and f"{missing}.csv" in msg


def test_from_dir_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Dataset.from_dir(tmp_path / "nope")


def test_to_dir_rejects_unknown_format(ds, tmp_path):
    with pytest.raises(ValueError, match="format"):
        ds.to_dir(tmp_path, format="xlsx")


# ---------------------------------------------------------------------------------------
# coerce
# ---------------------------------------------------------------------------------------


def test_coerce_keeps_leading_zeros_and_orders_columns():
    raw = pd.DataFrame(
        {
            "extra": [1, 2, 3],
            "opened_date": ["2015-03-01", None, ""],
            "city": ["Hefei", "", None],
            "store_id": ["007", "0012", "1"],
            "store_name": [7.0, np.nan, "x"],
        }
    )
    before = raw.copy()
    out = coerce("stores", raw)
    assert list(out.columns) == ["store_id", "store_name", "city", "opened_date", "extra"]
    assert out["store_id"].tolist() == ["007", "0012", "1"]
    assert out["store_name"].tolist() == ["7", None, "x"]
    assert out["city"].tolist() == ["Hefei", None, None]
    assert str(out["opened_date"].dtype) == "datetime64[ns]"
    assert out["opened_date"].isna().tolist() == [False, True, True]
    pd.testing.assert_frame_equal(raw, before)  # input untouched


def test_coerce_bools_money_and_dates():
    raw = pd.DataFrame(
        {
            "vin": [V1, V2, V3, "LFV2A21K0A3000004"],
            "sold_here": ["True", "false", 1, 0],
            "sale_date": ["2020-01-05", "2020-01-06 10:00:00", None, "2021-02-03"],
        }
    )
    out = coerce("vehicles", raw)
    assert out["sold_here"].dtype == np.dtype(bool)
    assert out["sold_here"].tolist() == [True, False, True, False]
    assert out["sale_date"].tolist()[1] == T("2020-01-06 10:00")
    orders = coerce(
        "repair_orders", pd.DataFrame({"labor_amount": ["1.5", "", 2], "ro_id": [1, 2, 3]})
    )
    assert orders["labor_amount"].dtype == np.dtype("float64")
    assert orders["labor_amount"].isna().tolist() == [False, True, False]
    assert orders["ro_id"].tolist() == ["1", "2", "3"]


def test_coerce_casts_timestamp_units_and_timezones():
    s = pd.Series(pd.to_datetime(["2020-01-01 08:00"]).as_unit("us")).dt.tz_localize(
        "Asia/Shanghai"
    )
    out = coerce("stores", pd.DataFrame({"store_id": ["1"], "opened_date": s}))
    assert str(out["opened_date"].dtype) == "datetime64[ns]"
    assert out["opened_date"].iloc[0] == T("2020-01-01 08:00")


def test_coerce_errors_name_the_column():
    with pytest.raises(ValueError, match=r"repair_orders\.total_amount.*abc"):
        coerce("repair_orders", pd.DataFrame({"total_amount": ["1", "abc"]}))
    with pytest.raises(ValueError, match=r"vehicles\.sold_here"):
        coerce("vehicles", pd.DataFrame({"sold_here": ["yes", "maybe"]}))
    with pytest.raises(ValueError, match=r"stores\.opened_date"):
        coerce("stores", pd.DataFrame({"opened_date": ["2020-01-01", "not a date"]}))
    with pytest.raises(ValueError, match="unknown table"):
        coerce("orders", pd.DataFrame())
    out = coerce("repair_orders", pd.DataFrame({"total_amount": ["1", "abc"]}), errors="coerce")
    assert out["total_amount"].isna().tolist() == [False, True]


# ---------------------------------------------------------------------------------------
# validate
# ---------------------------------------------------------------------------------------


def test_valid_dataset_has_no_violations(ds):
    report = ds.validate()
    assert report.ok and bool(report) and len(report) == 0
    assert list(report.violations.columns) == [
        "table",
        "column",
        "row",
        "key",
        "check",
        "value",
        "message",
    ]
    assert report.summary().empty
    assert report.raise_if_invalid() is report
    assert "OK" in repr(report) and "OK" in report._repr_html_()


def test_example_dataset_is_valid():
    assert schema.example_dataset().validate().ok


def _set(table, column, row, value):
    def mutate(d: Dataset) -> None:
        df = getattr(d, table)
        df.iloc[row, df.columns.get_loc(column)] = value

    return mutate


def _drop(table, column):
    def mutate(d: Dataset) -> None:
        setattr(d, table, getattr(d, table).drop(columns=column))

    return mutate


def _astype_str(table, column):
    def mutate(d: Dataset) -> None:
        getattr(d, table)[column] = getattr(d, table)[column].astype(str)

    return mutate


def _shift_close(d: Dataset) -> None:
    d.repair_orders.loc[0, "close_date"] = d.repair_orders.loc[0, "open_date"] - pd.Timedelta(
        days=1
    )


def _late_sale(d: Dataset) -> None:
    d.vehicles.loc[0, "sale_date"] = T("2019-08-01")  # after R1 (2019-07-01), before R2


# (id, mutation, table, column, row, check)
CORRUPTIONS = [
    (
        "missing_column",
        _drop("customers", "customer_type"),
        "customers",
        "customer_type",
        None,
        "missing_column",
    ),
    ("missing_truth_column", _drop("truth", "loyalty"), "truth", "loyalty", None, "missing_column"),
    ("dtype_column", _astype_str("vehicles", "sale_date"), "vehicles", "sale_date", None, "dtype"),
    (
        "dtype_value",
        _set("repair_orders", "store_id", 2, 7),
        "repair_orders",
        "store_id",
        2,
        "dtype",
    ),
    (
        "not_null",
        _set("repair_orders", "open_date", 1, NaT),
        "repair_orders",
        "open_date",
        1,
        "not_null",
    ),
    (
        "not_null_id",
        _set("vehicles", "customer_id", 2, None),
        "vehicles",
        "customer_id",
        2,
        "not_null",
    ),
    (
        "allowed_payer",
        _set("repair_orders", "payer", 4, "cash"),
        "repair_orders",
        "payer",
        4,
        "allowed_values",
    ),
    (
        "allowed_usage",
        _set("vehicles", "usage", 0, "bus"),
        "vehicles",
        "usage",
        0,
        "allowed_values",
    ),
    (
        "allowed_customer_type",
        _set("customers", "customer_type", 1, "Company"),
        "customers",
        "customer_type",
        1,
        "allowed_values",
    ),
    (
        "duplicate_ro",
        _set("repair_orders", "ro_id", 3, "R1"),
        "repair_orders",
        "ro_id",
        3,
        "duplicate_key",
    ),
    (
        "duplicate_store",
        _set("stores", "store_id", 1, "001"),
        "stores",
        "store_id",
        1,
        "duplicate_key",
    ),
    (
        "vin_length",
        _set("vehicles", "vin", 1, "LFV2A21K0A300002"),
        "vehicles",
        "vin",
        1,
        "vin_length",
    ),
    (
        "fk_order_vin",
        _set("repair_orders", "vin", 5, "LFV2A21K0A3999999"),
        "repair_orders",
        "vin",
        5,
        "foreign_key",
    ),
    (
        "fk_order_customer",
        _set("repair_orders", "customer_id", 0, "12"),
        "repair_orders",
        "customer_id",
        0,
        "foreign_key",
    ),
    (
        "fk_order_store",
        _set("repair_orders", "store_id", 3, "7"),
        "repair_orders",
        "store_id",
        3,
        "foreign_key",
    ),
    (
        "fk_vehicle_customer",
        _set("vehicles", "customer_id", 2, "C4"),
        "vehicles",
        "customer_id",
        2,
        "foreign_key",
    ),
    (
        "fk_vehicle_store",
        _set("vehicles", "store_id", 1, "002"),
        "vehicles",
        "store_id",
        1,
        "foreign_key",
    ),
    (
        "negative_parts",
        _set("repair_orders", "parts_amount", 2, -400.0),
        "repair_orders",
        "parts_amount",
        2,
        "negative_amount",
    ),
    (
        "negative_cost",
        _set("repair_orders", "labor_cost", 0, -1.0),
        "repair_orders",
        "labor_cost",
        0,
        "negative_amount",
    ),
    (
        "total_mismatch",
        _set("repair_orders", "total_amount", 5, 100.02),
        "repair_orders",
        "total_amount",
        5,
        "total_mismatch",
    ),
    ("close_before_open", _shift_close, "repair_orders", "close_date", 0, "close_before_open"),
    ("order_before_sale", _late_sale, "repair_orders", "open_date", 0, "order_before_sale"),
    (
        "future_open",
        _set("repair_orders", "open_date", 5, T("2023-01-01")),
        "repair_orders",
        "open_date",
        5,
        "future_date",
    ),
    (
        "future_sale",
        _set("vehicles", "sale_date", 1, T("2023-03-01")),
        "vehicles",
        "sale_date",
        1,
        "future_date",
    ),
    (
        "negative_mileage",
        _set("repair_orders", "mileage_km", 3, -10.0),
        "repair_orders",
        "mileage_km",
        3,
        "negative_mileage",
    ),
]


def test_every_check_code_is_exercised():
    assert {c[-1] for c in CORRUPTIONS} == set(CHECKS)


@pytest.mark.parametrize(
    ("mutate", "table", "column", "row", "check"),
    [c[1:] for c in CORRUPTIONS],
    ids=[c[0] for c in CORRUPTIONS],
)
def test_corruption_is_reported(ds, mutate, table, column, row, check):
    mutate(ds)
    report = ds.validate()
    assert not report.ok
    assert (table, column, row, check) in _found(report), report
    hits = report.violations[report.violations["check"] == check]
    assert len(hits) == 1, hits
    hit = hits.iloc[0]
    assert isinstance(hit["message"], str) and hit["message"]
    if row is not None:
        key_col = schema.PRIMARY_KEYS[table]
        assert hit["key"] == getattr(ds, table)[key_col].iloc[row]


def test_values_and_messages_are_informative(ds):
    ds.repair_orders.loc[4, "payer"] = "cash"
    ds.repair_orders.loc[5, "total_amount"] = 123.0
    ds.vehicles.loc[1, "vin"] = "SHORTVIN"
    v = ds.validate().violations.set_index("check")
    assert v.loc["allowed_values", "value"] == "cash"
    assert "customer" in v.loc["allowed_values", "message"]
    assert v.loc["total_mismatch", "value"] == "123.0"
    assert "100.00" in v.loc["total_mismatch", "message"]
    assert v.loc["vin_length", "value"] == "SHORTVIN"
    assert "8 characters" in v.loc["vin_length", "message"]


def test_rows_are_positional_not_index_labels(ds):
    ds.repair_orders.index = [10, 11, 12, 13, 14, 15]
    ds.repair_orders.loc[13, "payer"] = "cash"
    ds.repair_orders.loc[15, "vin"] = "LFV2A21K0A3999999"
    found = _found(ds.validate())
    assert ("repair_orders", "payer", 3, "allowed_values") in found
    assert ("repair_orders", "vin", 5, "foreign_key") in found


def test_all_violations_are_reported_at_once(ds):
    ds.repair_orders.loc[[0, 2, 4], "payer"] = ["cash", "card", "wechat"]
    ds.repair_orders.loc[1, "mileage_km"] = -5.0
    ds.repair_orders.loc[5, "vin"] = "NOT-A-VIN"
    ds.vehicles.loc[2, "grade"] = "luxury"
    ds.customers = ds.customers.drop(columns="phone")
    ds.stores.loc[1, "city"] = None
    ds.truth.loc[0, "vin"] = ds.truth.loc[1, "vin"]
    report = ds.validate()
    found = _found(report)
    expected = {
        ("repair_orders", "payer", 0, "allowed_values"),
        ("repair_orders", "payer", 2, "allowed_values"),
        ("repair_orders", "payer", 4, "allowed_values"),
        ("repair_orders", "mileage_km", 1, "negative_mileage"),
        ("repair_orders", "vin", 5, "foreign_key"),
        ("vehicles", "grade", 2, "allowed_values"),
        ("customers", "phone", None, "missing_column"),
        ("stores", "city", 1, "not_null"),
        ("truth", "vin", 1, "duplicate_key"),
    }
    assert expected <= found
    summary = report.summary()
    counts = {(t, c): n for t, c, n in summary.itertuples(index=False)}
    assert counts[("repair_orders", "allowed_values")] == 3
    assert summary["count"].sum() == len(report.violations)


def test_violations_are_sorted_deterministically(ds):
    ds.repair_orders.loc[[4, 0], "payer"] = "cash"
    ds.vehicles.loc[0, "usage"] = "bus"
    ds.stores.loc[0, "city"] = None
    ds.repair_orders.loc[2, "vin"] = "LFV2A21K0A3999999"
    v = ds.validate().violations
    order = [(t, c, r) for t, c, r in zip(v["table"], v["check"], v["row"], strict=True)]
    assert order == [
        ("stores", "not_null", 0),
        ("vehicles", "allowed_values", 0),
        ("repair_orders", "allowed_values", 0),
        ("repair_orders", "allowed_values", 4),
        ("repair_orders", "foreign_key", 2),
    ]
    pd.testing.assert_frame_equal(v, ds.validate().violations)
    assert str(v["row"].dtype) == "Int64"


def test_future_date_needs_as_of(ds):
    ds.repair_orders.loc[5, "open_date"] = T("2030-01-01")
    assert "future_date" in set(ds.validate().violations["check"])
    ds.meta.pop("as_of")
    assert ds.validate().ok
    ds.meta["as_of"] = "not a date"
    v = ds.validate().violations
    assert v[["table", "column", "check"]].values.tolist() == [["meta", "as_of", "dtype"]]


def test_same_day_is_not_in_the_future(ds):
    ds.repair_orders.loc[5, "open_date"] = T("2022-12-31 16:45")
    assert ds.validate().ok


def test_raise_if_invalid_lists_counts_and_examples(ds):
    ds.repair_orders.loc[4, "payer"] = "cash"
    ds.vehicles.loc[2, "store_id"] = "999"
    report = ds.validate()
    with pytest.raises(DataValidationError) as err:
        report.raise_if_invalid()
    assert isinstance(err.value, ValueError)
    assert err.value.report is report
    msg = str(err.value)
    assert "2 violation(s)" in msg
    assert "allowed_values" in msg and "foreign_key" in msg
    assert "repair_orders.payer row 4" in msg
    assert "vehicles.store_id row 2" in msg
    assert "repair_orders.payer row 4" in repr(report)
    html = report._repr_html_()
    assert "<table" in html and "cash" in html


# ---------------------------------------------------------------------------------------
# for_store
# ---------------------------------------------------------------------------------------


def test_store_ids(ds):
    assert ds.store_ids == ["001", "007"]


def test_for_store_subsets(ds):
    sub = ds.for_store("007")
    assert sub.stores["store_id"].tolist() == ["007"]
    assert sub.repair_orders["ro_id"].tolist() == ["R4", "R5"]
    assert sub.vehicles["vin"].tolist() == [V3]
    assert sub.customers["customer_id"].tolist() == ["C3"]
    assert sub.truth["vin"].tolist() == [V3]
    assert sub.meta["store_id"] == "007" and sub.meta["as_of"] == ds.meta["as_of"]
    assert "store_id" not in ds.meta
    assert sub.validate().ok

    sub = ds.for_store("001")
    assert sub.stores["store_id"].tolist() == ["001"]
    assert sub.repair_orders["ro_id"].tolist() == ["R1", "R2", "R3", "R6"]
    # V3's home store is 007 but it has an order (R6) at 001.
    assert sub.vehicles["vin"].tolist() == [V1, V2, V3]
    assert sub.customers["customer_id"].tolist() == ["0012", "0100", "C3"]
    assert sub.repair_orders.index.tolist() == [0, 1, 2, 3]
    pd.testing.assert_frame_equal(
        sub.repair_orders.iloc[3:], ds.repair_orders.iloc[[5]].set_axis([3])
    )


def test_for_store_unknown_id_lists_valid_ids(ds):
    with pytest.raises(KeyError) as err:
        ds.for_store("002")
    assert "'001'" in str(err.value) and "'007'" in str(err.value)
    with pytest.raises(KeyError, match="strings"):
        ds.for_store(7)


def test_repr_shows_row_counts(ds):
    text = repr(ds)
    assert "stores=2" in text and "customers=3" in text and "vehicles=3" in text
    assert "repair_orders=6" in text and "truth=3" in text


def test_constructor_rejects_non_frames(ds):
    with pytest.raises(TypeError, match="vehicles"):
        Dataset(ds.stores, ds.customers, None, ds.repair_orders)


def test_coerce_with_duplicate_index_labels():
    raw = pd.DataFrame(
        {"x": [1, 2], "store_id": ["007", None], "opened_date": ["2020-01-01", None]},
        index=[5, 5],
    )
    out = coerce("stores", raw)
    assert out.index.tolist() == [5, 5]
    assert list(out.columns) == ["store_id", "opened_date", "x"]
    assert out["store_id"].tolist() == ["007", None]
    assert out["x"].tolist() == [1, 2]


def test_from_dir_reads_hand_written_csv(tmp_path):
    files = {
        "stores": "store_id,store_name,city,opened_date\n007,Wuhu,Wuhu,2015/3/1\n001,NA,Hefei,\n",
        "customers": "customer_id,name,phone,customer_type,occupation,region,first_seen_date\n"
        "0012,李娜,013900000012,individual,,,2019-01-10\n",
        "vehicles": "vin,customer_id,store_id,sold_here,sale_date,model,grade,usage,plate,color\n"
        f"{V1},0012,007,1,2019-01-10,Sagitar,mid,private,皖A00001,\n"
        f"{V2},0012,001,0,,Magotan,,,,\n",
        "repair_orders": "ro_id,store_id,vin,customer_id,open_date,close_date,mileage_km,ro_type,"
        "payer,labor_amount,parts_amount,other_amount,total_amount,extra\n"
        f"0001,007,{V1},0012,2019-07-01,,5000,maintenance,customer,100,200.5,0,300.5,007\n",
    }
    for name, text in files.items():
        # Excel writes a byte-order mark.
        (tmp_path / f"{name}.csv").write_text("\ufeff" + text, encoding="utf-8")
    ds = Dataset.from_dir(tmp_path)
    assert ds.truth is None and ds.meta == {}
    assert ds.stores["store_id"].tolist() == ["007", "001"]
    assert ds.stores["store_name"].tolist() == ["Wuhu", "NA"]  # "NA" is a name, not missing
    assert ds.stores["opened_date"].tolist()[0] == T("2015-03-01")
    assert ds.customers["phone"].tolist() == ["013900000012"]
    assert ds.vehicles["sold_here"].tolist() == [True, False]
    assert ds.repair_orders["ro_id"].tolist() == ["0001"]
    assert ds.repair_orders["mileage_km"].dtype == np.dtype("float64")
    assert list(ds.repair_orders.columns)[-1] == "extra"
    assert ds.validate().ok, ds.validate()

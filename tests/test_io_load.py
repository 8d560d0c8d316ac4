"""Tests of crm_analysis.io.load: reading DMS exports, quarantine, accounting, privacy."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from crm_analysis.io import REASONS, DataError, LoadResult, load
from crm_analysis.privacy import KEY_FILE, pseudonymize
from crm_analysis.schema import PRIMARY_KEYS, TABLE_NAMES

KEY = "test-key"

HEADER = ["工单号", "进厂日期", "车架号", "客户编号", "客户名称", "手机", "车牌号", "车型",
          "购车日期", "业务类型", "付费方式", "进厂里程", "工时费", "材料费", "合计金额"]

V1, V2, V3 = "LSVAA4180E2000001", "LSVAA4180E2000002", "LSVAA4180E2000003"


def good_rows() -> list[list]:
    return [
        ["R001", "2023-01-05", V1, "C1", "张伟", "13800000001", "皖A12345", "朗逸",
         "2021/3/2", "首保", "自费", "5,100", "￥150.00", "260", "410"],
        ["R002", "2023年6月7日", V1, "C1", "张伟", "13800000001", "皖A12345", "朗逸",
         "2021/3/2", "机修", "自费", "10200", "420", "880.5", "1,300.50"],
        ["R003", "20230110", V2, "C2", "李娜", "13900000002", "皖B67890", "途观",
         "2020.7.15", "钣喷", "保险", "31000", "1800", "2650", "4450"],
    ]


def write_csv(path: Path, rows: list[list], *, header=HEADER, encoding="gbk", sep=",",
              title: list[str] = ()) -> Path:
    lines = list(title) + [sep.join(header)]
    for r in rows:
        cells = [str(c) for c in r]
        cells = [f'"{c}"' if sep in c else c for c in cells]
        lines.append(sep.join(cells))
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def assert_valid(res: LoadResult) -> None:
    res.check()
    report = res.dataset.validate()
    assert report.ok, report
    r = res.report
    assert (r["read"] == r["accepted"] + r["duplicates"] + r["quarantined"]).all()
    assert int(r["quarantined"].sum()) == len(res.quarantine)


# ---------------------------------------------------------------------------------------
# Formats and encodings
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "sep"),
    [("gbk", ","), ("utf-8-sig", ","), ("utf-8", ";"), ("gb18030", "\t"), ("utf-16", ",")],
)
def test_csv_encodings_and_delimiters(tmp_path, encoding, sep):
    path = write_csv(tmp_path / "export.csv", good_rows(), encoding=encoding, sep=sep)
    res = load(path, store_id="007", key=KEY)
    assert_valid(res)
    ro = res.dataset.repair_orders
    assert ro["ro_id"].tolist() == ["R001", "R002", "R003"]
    assert ro["open_date"].tolist() == [pd.Timestamp("2023-01-05"), pd.Timestamp("2023-06-07"),
                                        pd.Timestamp("2023-01-10")]
    assert ro["ro_type"].tolist() == ["maintenance", "repair", "body_paint"]
    assert ro["payer"].tolist() == ["customer", "customer", "insurance"]
    assert ro["total_amount"].tolist() == [410.0, 1300.5, 4450.0]
    assert ro["mileage_km"].tolist() == [5100.0, 10200.0, 31000.0]
    assert ro["store_id"].unique().tolist() == ["007"]
    veh = res.dataset.vehicles.set_index("vin")
    assert veh.loc[V2, "sale_date"] == pd.Timestamp("2020-07-15")
    assert veh.loc[V1, "model"] == "朗逸"
    assert res.dataset.stores["store_id"].tolist() == ["007"]
    assert len(res.quarantine) == 0 and len(res.flags) == 0
    assert res.dataset.meta["as_of"] == "2023-06-07"


def test_title_rows_and_totals_row_in_csv(tmp_path):
    rows = good_rows() + [["合计", "", "", "", "", "", "", "", "", "", "", "", "2370", "3790.5",
                           "6160.5"]]
    title = ["某某4S店维修工单明细", "导出日期:2024-01-01"]
    path = write_csv(tmp_path / "x.csv", rows, title=title)
    res = load(path, store_id="007", key=KEY)
    assert_valid(res)
    assert res.report["title_rows"].tolist() == [2]
    assert res.quarantine[["row", "reason"]].values.tolist() == [[7, "summary_row"]]
    assert len(res.dataset.repair_orders) == 3


def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def test_xlsx_title_rows_totals_excel_types(tmp_path):
    r1, r2, r3 = good_rows()
    r1 = list(r1)
    r1[1] = dt.datetime(2023, 1, 5, 9, 30)  # a real Excel date
    r1[8] = 44257  # Excel serial of 2021-03-02
    r1[12] = 150.0
    r2 = list(r2)
    r2[0] = 2  # numeric order number -> "2"
    rows = [["维修工单明细表"], [], HEADER, r1, r2, [None] * len(HEADER), r3,
            ["合计", None, None, None, None, None, None, None, None, None, None, None, 2370]]
    path = write_xlsx(tmp_path / "book.xlsx", {"明细": rows, "Sheet2": []})
    res = load(path, store_id="007", key=KEY)
    assert_valid(res)
    assert res.report[["sheet", "title_rows", "read", "accepted", "quarantined"]].values.tolist(
    ) == [["明细", 1, 5, 3, 2]]
    q = res.quarantine
    assert q[["sheet", "row", "reason"]].values.tolist() == [["明细", 6, "blank_row"],
                                                             ["明细", 8, "summary_row"]]
    ro = res.dataset.repair_orders.set_index("ro_id")
    assert ro.loc["R001", "open_date"] == pd.Timestamp("2023-01-05 09:30")
    assert "2" in ro.index
    assert res.dataset.vehicles.set_index("vin").loc[V1, "sale_date"] == pd.Timestamp("2021-03-02")


def test_xlsx_sheet_without_header_is_reported_not_lost(tmp_path):
    """A notes sheet beside the data sheet is not read, but it is named in the result's
    meta and a DataWarning: its rows never vanish without a word."""
    from crm_analysis.io import DataWarning

    notes = [["说明"], ["本表由DMS导出"], ["联系人", "张三"]]
    path = write_xlsx(tmp_path / "book.xlsx", {"明细": [HEADER, *good_rows()], "说明": notes})
    with pytest.warns(DataWarning, match=r"\[说明\]: sheet not read \(3 non-empty rows\)"):
        res = load(path, store_id="007", key=KEY)
    assert_valid(res)
    assert res.report["sheet"].tolist() == ["明细"]
    (skipped,) = res.meta["skipped_sheets"]
    assert (skipped["sheet"], skipped["rows"]) == ("说明", 3)
    assert "no header row" in skipped["reason"]
    assert "skipped_sheets=1" in repr(res)


def test_parquet_with_english_headers(tmp_path):
    df = pd.DataFrame(good_rows(), columns=["RO No", "open date", "VIN", "customer id",
                                            "customer name", "mobile", "plate", "model",
                                            "sale date", "ro type", "payer", "mileage", "labor",
                                            "parts", "total"])
    df["store code"] = "012"
    df.to_parquet(tmp_path / "x.parquet")
    res = load(tmp_path / "x.parquet", key=KEY)
    assert_valid(res)
    assert res.dataset.store_ids == ["012"]
    assert len(res.dataset.repair_orders) == 3


# ---------------------------------------------------------------------------------------
# Round trips with the synthetic generator
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth():
    from crm_analysis.synth import generate

    return generate(n_stores=2, seed=3, start="2022-01-01", as_of="2023-12-31", scale=0.05)


def _sorted(df: pd.DataFrame, key: str, cols) -> pd.DataFrame:
    return df.sort_values(key).reset_index(drop=True)[list(cols)]


def test_three_table_round_trip_equals_canonical(tmp_path, synth):
    for name in TABLE_NAMES:
        synth.tables[name].to_csv(tmp_path / f"{name}.csv", index=False)
    res = load(tmp_path, keep_pii=True, as_of="2023-12-31")
    assert_valid(res)
    assert len(res.quarantine) == 0
    assert set(res.report["kind"]) == {"stores", "customers", "vehicles", "orders"}
    for name in TABLE_NAMES:
        a, b = synth.tables[name], res.dataset.tables[name]
        key = PRIMARY_KEYS[name]
        pd.testing.assert_frame_equal(_sorted(b, key, a.columns), _sorted(a, key, a.columns))
    assert not (tmp_path / KEY_FILE).exists()  # keep_pii: no key needed


def test_flat_export_split_and_pseudonymized(tmp_path, synth):
    flat = (synth.repair_orders
            .merge(synth.vehicles.drop(columns=["customer_id", "store_id"]), on="vin")
            .merge(synth.customers, on="customer_id"))
    flat.to_csv(tmp_path / "flat.csv", index=False, encoding="gb18030")
    res = load(tmp_path, as_of="2023-12-31")
    assert_valid(res)
    assert res.report["kind"].tolist() == ["flat"]
    key = (tmp_path / KEY_FILE).read_bytes().strip()
    ds = res.dataset
    ro_cols = list(synth.repair_orders.columns)
    pd.testing.assert_frame_equal(_sorted(ds.repair_orders, "ro_id", ro_cols),
                                  _sorted(synth.repair_orders, "ro_id", ro_cols))
    vcols = ["vin", "sale_date", "model", "grade", "usage", "color", "sold_here"]
    want = synth.vehicles[synth.vehicles["vin"].isin(flat["vin"])]
    pd.testing.assert_frame_equal(_sorted(ds.vehicles, "vin", vcols), _sorted(want, "vin", vcols))
    want_plate = pseudonymize(want.sort_values("vin")["plate"], key).tolist()
    assert ds.vehicles.sort_values("vin")["plate"].tolist() == want_plate
    cust = synth.customers[synth.customers["customer_id"].isin(flat["customer_id"])]
    got = ds.customers.sort_values("customer_id")
    assert got["phone"].tolist() == pseudonymize(cust.sort_values("customer_id")["phone"],
                                                 key).tolist()
    # No raw personal data anywhere in the result.
    text = ds.customers.to_csv() + ds.vehicles.to_csv() + res.flags.to_csv()
    for v in list(cust["phone"].dropna()[:50]) + list(cust["name"].dropna()[:50]):
        assert v not in text


# ---------------------------------------------------------------------------------------
# Quarantine and flags: every reason code
# ---------------------------------------------------------------------------------------


def faulty_rows() -> tuple[list[list], dict[int, str]]:
    """Rows with one fault each; expected reason by source row number (header = row 1)."""
    base = good_rows()

    def row(ro, **kw):
        r = dict(zip(HEADER, base[0], strict=True))
        r["工单号"] = ro
        r.update(kw)
        return [r[h] for h in HEADER]

    rows = base + [
        row("F01", 进厂日期="2023-02-30"),                      # 5
        row("F02", 工时费="一百"),                              # 6
        row("F03", 材料费="-260", 合计金额="-110"),              # 7
        row("", 进厂日期="2023-03-01"),                         # 8
        row("F05", 车架号="LSVAA4180E200000I"),                 # 9
        row("F06", 业务类型="改装"),                            # 10
        row("F07", 进厂日期="2020-01-01"),                      # 11 before sale 2021-03-02
        row("F08", 进厂日期="2024-07-01"),                      # 12 after as_of
        row("F09", 合计金额="999"),                             # 13
        row("F10", 进厂日期="2023-03-03"),                      # 14 conflict with 15
        row("F10", 进厂日期="2023-03-04"),                      # 15
        row("F11", 进厂日期="2023-03-05"),                      # 16
        row("F11", 进厂日期="2023/3/5"),                        # 17 exact duplicate
        [""] * len(HEADER),                                     # 18
        row("F12", 进厂日期="2023-08-01", 进厂里程="900"),        # 19 mileage backwards (flag)
        row("F13", 车架号=V3, 客户编号="C3", 进厂日期="2023-09-01", 购车日期="",
            车型="", 车牌号=""),                                 # 20 unknown vin (flag)
        row("F14", 进厂日期="2023-10-01", 手机="13700000009",
            进厂里程="20000"),                                   # 21 conflicting phone (flag)
    ]
    expected = {5: "unparseable_date", 6: "unparseable_amount", 7: "negative_amount",
                8: "missing_key", 9: "invalid_vin", 10: "unknown_ro_type",
                11: "order_before_sale", 12: "order_after_as_of", 13: "total_mismatch",
                14: "duplicate_order_conflict", 15: "duplicate_order_conflict",
                18: "blank_row"}
    return rows, expected


def test_every_fault_is_caught_with_its_reason(tmp_path):
    rows, expected = faulty_rows()
    path = write_csv(tmp_path / "faults.csv", rows)
    res = load(path, store_id="007", as_of="2024-06-30", key=KEY)
    assert_valid(res)
    got = dict(zip(res.quarantine["row"], res.quarantine["reason"], strict=True))
    assert got == expected
    assert set(got.values()) - {"total_mismatch"} <= set(REASONS)
    rep = res.report.iloc[0]
    assert rep["read"] == 20
    assert rep["duplicates"] == 1
    assert rep["quarantined"] == len(expected)
    assert rep["accepted"] == 20 - 1 - len(expected)
    assert rep["unparseable_date"] == 1 and rep["duplicate_order_conflict"] == 2
    ro = set(res.dataset.repair_orders["ro_id"])
    assert {"R001", "R002", "R003", "F11", "F12", "F13", "F14"} == ro
    flags = res.flags.set_index("reason")
    assert flags.loc["mileage_backwards", "key"] == "F12"
    assert flags.loc["mileage_backwards", "row"] == 19
    assert flags.loc["unknown_vin", "key"] == "F13"
    assert flags.loc["conflicting_repeat", "row"] == 21
    assert "most recent order" in flags.loc["conflicting_repeat", "message"]
    assert res.dataset.vehicles.set_index("vin").loc[V3, "sale_date"] is pd.NaT
    # Messages name the column and the value; raw keeps the source headers.
    q = res.quarantine.set_index("row")
    assert "open_date '2023-02-30'" in q.loc[5, "message"]
    assert q.loc[5, "raw"]["进厂日期"] == "2023-02-30"
    assert "F10" in q.loc[14, "message"] and "open_date" in q.loc[14, "message"]
    # Personal data is pseudonymized in the quarantine and the flags too.
    dump = res.quarantine.to_string() + res.flags.to_string()
    assert "13800000001" not in dump and "张伟" not in dump and "13700000009" not in dump
    assert q.loc[5, "raw"]["手机"] == pseudonymize("13800000001", KEY)


def test_as_of_defaults_to_latest_accepted_date(tmp_path):
    rows, _ = faulty_rows()
    res = load(write_csv(tmp_path / "f.csv", rows), store_id="007", key=KEY)
    assert_valid(res)
    assert "order_after_as_of" not in set(res.quarantine["reason"])
    assert res.dataset.meta["as_of"] == "2024-07-01"


# ---------------------------------------------------------------------------------------
# Several files, stores, tables
# ---------------------------------------------------------------------------------------


def test_folder_of_monthly_files_two_stores_and_overlap(tmp_path):
    r1, r2, r3 = good_rows()
    (tmp_path / "hefei").mkdir()
    (tmp_path / "wuhu").mkdir()
    write_csv(tmp_path / "hefei" / "2023-01.csv", [r1, r3])
    write_csv(tmp_path / "hefei" / "2023-06.csv", [r2, r3], encoding="utf-8-sig")  # r3 again
    r4 = ["W001", "2023-05-05", V2, "C2", "李娜", "13900000002", "皖B67890", "途观",
          "2020.7.15", "保修", "", "35000", "0", "800", "800"]
    write_csv(tmp_path / "wuhu" / "2023.csv", [r4])
    stores = {"2023-01.csv": "001", "2023-06.csv": "001", "2023.csv": "007"}
    res = load(tmp_path, store_id=stores)
    assert_valid(res)
    assert res.report["read"].tolist() == [2, 2, 1]
    assert res.report["duplicates"].tolist() == [0, 1, 0]
    ds = res.dataset
    assert ds.store_ids == ["001", "007"]
    ro = ds.repair_orders.set_index("ro_id")
    assert len(ro) == 4 and ro.loc["W001", "store_id"] == "007"
    assert ro.loc["W001", "payer"] == "warranty"  # missing payer on a warranty order
    # The same person gets the same pseudonym in every file; vehicle's latest store.
    assert ds.customers["customer_id"].tolist().count("C2") == 1
    assert ds.vehicles.set_index("vin").loc[V2, "store_id"] == "007"
    assert (tmp_path / KEY_FILE).exists()


def test_three_tables_with_chinese_headers_and_unknown_vin(tmp_path):
    write_csv(tmp_path / "customers.csv", [["C1", "张伟", "13800000001", "个人"],
                                           ["C2", "李娜", "13900000002", "公司"]],
              header=["客户编号", "客户姓名", "联系电话", "客户类型"])
    write_csv(tmp_path / "vehicles.csv", [[V1, "C1", "001", "自销", "2021-03-02", "朗逸"],
                                          [V1, "C1", "001", "自销", "2021-03-02", "朗逸"],
                                          [V2, "C2", "001", "他销", "2022-03-02", "途观"]],
              header=["车架号", "客户编号", "门店编码", "自销/他销", "购车日期", "车型"])
    write_csv(tmp_path / "orders.csv", [["R1", "001", V1, "C1", "2023-01-05", "首保", "410"],
                                        ["R2", "001", V3, "C2", "2023-02-05", "美容", "99"],
                                        ["R3", "001", V2, "C2", "2022-01-05", "保养", "300"]],
              header=["工单号", "门店", "VIN码", "客户ID", "接待日期", "工单类型", "结算金额"])
    res = load(tmp_path, key=KEY)
    assert_valid(res)
    kinds = dict(zip(res.report["file"].map(lambda f: Path(f).name), res.report["kind"],
                     strict=True))
    assert kinds == {"customers.csv": "customers", "vehicles.csv": "vehicles",
                     "orders.csv": "orders"}
    ds = res.dataset
    veh = ds.vehicles.set_index("vin")
    assert veh.loc[V1, "sold_here"] and not veh.loc[V2, "sold_here"]
    assert pd.isna(veh.loc[V3, "sale_date"])
    assert res.flags[["reason", "key"]].values.tolist() == [["unknown_vin", "R2"]]
    assert res.quarantine[["reason"]].values.ravel().tolist() == ["order_before_sale"]
    assert ds.customers.set_index("customer_id").loc["C2", "customer_type"] == "company"
    assert res.report.set_index("kind").loc["vehicles", "duplicates"] == 1
    ro = ds.repair_orders.set_index("ro_id")
    assert ro.loc["R1", "labor_amount"] == 0.0 and ro.loc["R1", "total_amount"] == 410.0


def test_user_mapping_yaml(tmp_path):
    header = ["单号", "进厂日期", "车架号", "客户编号", "类别", "金额"]
    path = write_csv(tmp_path / "x.csv", [["R1", "2023-01-05", V1, "C1", "改装", "100"]],
                     header=header)
    with pytest.raises(DataError, match="ro_id"):
        load(path, store_id="001", key=KEY)
    (tmp_path / "map.yml").write_text(
        "headers:\n  单号: ro_id\n  类别: ro_type\n  金额: total_amount\n"
        "values:\n  ro_type:\n    改装: repair\n", encoding="utf-8")
    res = load(path, store_id="001", key=KEY, mapping=tmp_path / "map.yml")
    assert_valid(res)
    assert res.dataset.repair_orders["ro_type"].tolist() == ["repair"]


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def test_missing_required_column_names_file_columns_and_closest(tmp_path):
    header = [h for h in HEADER if h != "车架号"] + ["车架编号"]
    rows = [r[:2] + r[3:] + [r[2]] for r in good_rows()]
    path = write_csv(tmp_path / "x.csv", rows, header=header)
    with pytest.raises(DataError) as err:
        load(path, store_id="001", key=KEY)
    msg = str(err.value)
    assert "x.csv" in msg and "vin" in msg and "车架编号" in msg and "工单号" in msg


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02binary\xff\xfe\x00" * 50, "binary"),
        ("工单号,工单号 ,车架号,进厂日期\nR1,R1,x,2023-01-01\n".encode("gbk"), "duplicate"),
        (b"a,b,c\n1,2,3\n", "header"),
        ("工单号,车架号,工单号,进厂日期\nR1,x,R1,2023-01-01\n".encode("gbk"), "duplicate"),
    ],
)
def test_unreadable_files_raise_data_error(tmp_path, content, pattern):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=re.compile(pattern, re.I)) as err:
        load(path, store_id="001", key=KEY)
    assert "bad.csv" in str(err.value)


def test_truncated_xlsx_and_missing_store(tmp_path):
    path = write_xlsx(tmp_path / "book.xlsx", {"s": [HEADER] + good_rows()})
    data = path.read_bytes()
    (tmp_path / "cut.xlsx").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.xlsx"):
        load(tmp_path / "cut.xlsx", store_id="001", key=KEY)
    with pytest.raises(DataError, match="store_id"):
        load(path, key=KEY)
    with pytest.raises(DataError, match="no such file"):
        load(tmp_path / "nope.csv", key=KEY)


def test_header_only_file_loads_nothing(tmp_path):
    path = write_csv(tmp_path / "x.csv", [])
    res = load(path, store_id="001", key=KEY)
    assert_valid(res)
    assert res.report["read"].tolist() == [0]
    assert len(res.dataset.repair_orders) == 0


def test_check_detects_broken_accounting(tmp_path):
    res = load(write_csv(tmp_path / "x.csv", good_rows()), store_id="001", key=KEY)
    res.report.loc[0, "accepted"] -= 1
    with pytest.raises(AssertionError, match="x.csv"):
        res.check()
    assert np.all(res.summary()["count"] >= 0)

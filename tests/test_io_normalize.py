"""Tests of crm_analysis.io.normalize: headers, dates, amounts, coded values, ids, mapping."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from crm_analysis.io.normalize import (
    FLAG_REASONS,
    HEADER_ALIASES,
    MERGE_REASONS,
    QUARANTINE_REASONS,
    REASONS,
    VALUE_ALIASES,
    DataError,
    Parsed,
    clean_id,
    clean_vin,
    closest,
    describe_reason,
    load_mapping,
    map_values,
    match_headers,
    normalize_header,
    parse_amounts,
    parse_dates,
    require_columns,
    unmatched_headers,
    valid_vin,
)
from crm_analysis.schema import CUSTOMER_TYPES, GRADES, PAYERS, RO_TYPES, TABLES, USAGES

# ---------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------

CONTRACT_REASONS = {
    "unparseable_date", "unparseable_amount", "negative_amount", "missing_key",
    "duplicate_order_conflict", "order_before_sale", "order_after_as_of", "invalid_vin",
    "unknown_ro_type", "summary_row", "blank_row", "exact_duplicate", "mileage_backwards",
    "unknown_vin", "conflicting_repeat",
    # added by the loader: checks the canonical schema makes (Dataset.validate)
    "total_mismatch", "close_before_open", "unknown_value",
    # added by the loader: a CSV line with more fields than the header
    "malformed_row",
    # bounded input (issue 17): future dates without as_of, absurd amounts and mileage,
    # ids differing only in case, NaN / NULL-like text in number, date and coded cells
    "future_date", "implausible_amount", "implausible_mileage", "duplicate_case", "null_text",
}


def test_reasons_match_the_contract_and_are_bilingual():
    assert set(REASONS) == CONTRACT_REASONS
    assert set(QUARANTINE_REASONS) | set(MERGE_REASONS) | set(FLAG_REASONS) == set(REASONS)
    # unknown_value is both: quarantined in a required field, flagged in an optional one;
    # duplicate_case too: order copies with different content are quarantined, identical
    # ones merged and flagged, customer and store ids flagged
    assert set(QUARANTINE_REASONS) & set(FLAG_REASONS) == {"unknown_value", "duplicate_case"}
    assert len(QUARANTINE_REASONS) + len(MERGE_REASONS) + len(FLAG_REASONS) == len(REASONS) + 2
    for code, (en, zh) in REASONS.items():
        assert en.isascii() and en, code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), code
    assert describe_reason("exact_duplicate", "zh") == REASONS["exact_duplicate"][1]
    with pytest.raises(KeyError, match="unknown reason code"):
        describe_reason("nope")


def test_datas_error_is_a_value_error_with_attributes():
    err = DataError("x.csv [sheet 1]: bad", file="x.csv", sheet="1", columns=["vin"], rows=[3])
    assert isinstance(err, ValueError)
    assert (err.file, err.sheet, err.columns, err.rows) == ("x.csv", "1", ["vin"], [3])


def test_header_aliases_cover_every_canonical_column():
    for table in ("stores", "customers", "vehicles", "repair_orders"):
        for col in TABLES[table]:
            assert col in HEADER_ALIASES, (table, col)
            # every canonical column has a Chinese first alias (used by the export writer)
            first = HEADER_ALIASES[col][0]
            assert any("\u4e00" <= ch <= "\u9fff" for ch in first), col
    # no alias means two different columns
    keys: dict[str, str] = {}
    for col, aliases in HEADER_ALIASES.items():
        for alias in (col, *aliases):
            k = normalize_header(alias)
            assert keys.setdefault(k, col) == col, alias


@pytest.mark.parametrize(
    ("field", "allowed"),
    [("ro_type", RO_TYPES), ("payer", PAYERS), ("customer_type", CUSTOMER_TYPES),
     ("usage", USAGES), ("grade", GRADES), ("sold_here", (True, False))],
)
def test_value_aliases_map_to_allowed_codes(field, allowed):
    assert set(VALUE_ALIASES[field].values()) == set(allowed)


# ---------------------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("工单号", "ro_id"), ("维修工单号", "ro_id"), ("RO No.", "ro_id"), ("ro_no", "ro_id"),
        ("RO号", "ro_id"), ("ro_id", "ro_id"), ("Repair Order", "ro_id"),
        ("接待日期", "open_date"), ("进厂日期 ", "open_date"), ("开单日期", "open_date"),
        ("结算日期", "close_date"), ("门店编码", "store_id"), ("Store Code", "store_id"),
        ("客户编号", "customer_id"), ("客户ＩＤ", "customer_id"), ("客户 id", "customer_id"),
        ("车主姓名", "name"), ("手机号", "phone"), ("联系电话", "phone"),
        ("ＶＩＮ码", "vin"), ("底盘号", "vin"), ("vin", "vin"), ("车牌号", "plate"),
        ("品牌车型", "model"), ("购车日期", "sale_date"), ("开票日期", "sale_date"),
        ("自销/他销", "sold_here"), ("自销／他销", "sold_here"), ("行驶里程", "mileage_km"),
        ("里程（km）", "mileage_km"), ("维修性质", "ro_type"), ("工单类型", "ro_type"),
        ("付费方式", "payer"), ("人工费", "labor_amount"), ("工时费(元)", "labor_amount"),
        ("配件费", "parts_amount"), ("外包费用", "other_amount"), ("实收", "total_amount"),
        ("合计金额（元）", "total_amount"), ("SA", "advisor"), ("服务顾问", "advisor"),
        ("客户类型", "customer_type"), ("职业", "occupation"), ("地区", "region"),
        ("车辆档次", "grade"), ("使用性质", "usage"), ("车身颜色", "color"),
        ("首次进厂日期", "first_seen_date"), ("开业日期", "opened_date"),
        ("门店名称", "store_name"), ("城市", "city"), ("工时成本", "labor_cost"),
        ("材料成本", "parts_cost"), ("身份证号", "id_number"), ("\ufeff工单号", "ro_id"),
        ("\u3000工单号\u3000", "ro_id"),
    ],
)
def test_match_headers_known_variants(header, canonical):
    assert match_headers([header]) == {header: canonical}


def test_normalize_header_rules():
    assert normalize_header("  Ｃｕｓｔｏｍｅｒ　Ｉｄ ") == "customerid"
    assert normalize_header("客户（ID）") == normalize_header("客户(id)") == "客户id"
    assert normalize_header(None) == normalize_header(float("nan")) == ""
    assert normalize_header(3) == "3"


def test_match_headers_keeps_order_ignores_unknown_and_lists_them():
    cols = ["备注", "车架号", "工单号", None, 7, "进厂日期"]
    assert list(match_headers(cols).items()) == [
        ("车架号", "vin"), ("工单号", "ro_id"), ("进厂日期", "open_date")
    ]
    assert unmatched_headers(cols) == ["备注", None, 7]


def test_match_headers_preference_between_aliases():
    # two columns for one canonical column: the alias listed first wins, the other is left
    cols = ["电话", "手机", "结算金额", "合计金额"]
    assert match_headers(cols) == {"手机": "phone", "合计金额": "total_amount"}
    assert unmatched_headers(cols) == ["电话", "结算金额"]
    # an exact alias beats a match found only after dropping a bracketed part
    assert match_headers(["工时费(元)", "工时费"]) == {"工时费": "labor_amount"}


def test_user_mapping_wins_over_aliases():
    cols = ["单号", "工单号", "进厂日期", "接车日期"]
    m = match_headers(cols, mapping={"单号": "ro_id", "接车日期": "open_date"})
    assert m == {"单号": "ro_id", "接车日期": "open_date"}
    # the sectioned form and matching after normalization
    m = match_headers([" 单 号 "], mapping={"headers": {"单号": "ro_id"}})
    assert m == {" 单 号 ": "ro_id"}
    with pytest.raises(DataError, match="both"):
        match_headers(["A", "B"], mapping={"A": "vin", "B": "vin"})


def test_duplicate_headers_raise_naming_file_and_columns():
    with pytest.raises(DataError) as info:
        match_headers(["工单号", "车架号", "工单号 "], where="dms.xlsx [sheet 工单]")
    msg = str(info.value)
    assert "dms.xlsx [sheet 工单]" in msg and "'工单号'" in msg and "'工单号 '" in msg
    assert "columns 1 and 3" in msg
    # unknown duplicated columns are harmless
    assert match_headers(["备注", "备注", "车架号"]) == {"车架号": "vin"}


def test_closest():
    assert closest("车架", ["工单号", "车架号", "车型"]) == ["车架号", "车型"]
    assert closest("xyz", ["工单号", "车架号"]) == []
    assert len(closest("工单", [f"工单{i}" for i in range(10)], n=2)) == 2


def test_require_columns_passes_and_returns_inverse():
    seen = ["工单号", "车架号", "进厂日期"]
    out = require_columns(match_headers(seen), ["ro_id", "vin"], file="a.csv",
                          columns_seen=seen)
    assert out == {"ro_id": "工单号", "vin": "车架号", "open_date": "进厂日期"}


def test_require_columns_error_names_file_columns_and_candidates():
    seen = ["单据号", "车架号", "接车日", "金额"]
    with pytest.raises(DataError) as info:
        require_columns(match_headers(seen), ["ro_id", "vin", "open_date"],
                        file="data/orders.csv", sheet="Sheet1", columns_seen=seen)
    err = info.value
    msg = str(err)
    assert msg.startswith("data/orders.csv [sheet Sheet1]:")
    assert "required column ro_id" in msg and "required column open_date" in msg
    assert "required column vin" not in msg
    assert "'单据号', '车架号', '接车日', '金额'" in msg  # the columns found
    assert "closest headers in the file: '单据号'" in msg  # near 工单号
    assert "'接车日'" in msg.split("required column open_date")[1]
    assert "mapping=" in msg
    assert err.columns == ["ro_id", "open_date"] and err.file == "data/orders.csv"


# ---------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------

GOOD_DATES = [
    ("2023-01-05", "2023-01-05 00:00:00"),
    ("2023/1/5", "2023-01-05 00:00:00"),
    ("2023.1.5", "2023-01-05 00:00:00"),
    ("2023年1月5日", "2023-01-05 00:00:00"),
    ("2023 年 01 月 05 日", "2023-01-05 00:00:00"),
    ("2023年1月5日 14:30", "2023-01-05 14:30:00"),
    ("2023年1月5日14:30:15", "2023-01-05 14:30:15"),
    ("20230105", "2023-01-05 00:00:00"),
    ("2023-01-05 14:30", "2023-01-05 14:30:00"),
    ("2023/1/5 8:05:00", "2023-01-05 08:05:00"),
    ("2023-01-05T14:30:00", "2023-01-05 14:30:00"),
    ("2023-01-05 14:30:00.000", "2023-01-05 14:30:00"),
    ("2023-01-05  14:30", "2023-01-05 14:30:00"),
    ("  2023-01-05 ", "2023-01-05 00:00:00"),
    ("２０２３－０１－０５", "2023-01-05 00:00:00"),
    ("2024-02-29", "2024-02-29 00:00:00"),
    ("44931", "2023-01-05 00:00:00"),
    ("44931.75", "2023-01-05 18:00:00"),
    ("45000.0", "2023-03-15 00:00:00"),
]

BAD_DATES = [
    "2023-02-30", "2023-13-01", "2023-00-10", "2023-01-32", "2023-01-05 24:00",
    "2023-01-05 12:60", "2023", "2023-01", "05/01/2023", "1/5/2023", "2023-01-05+08:00",
    "2023/01-05", "1899-12-31", "2101-01-01", "20231305", "soon", "2023年13月1日",
    "12345", "99999", "2023-1-5 下午", "N/A?", "0",
]


@pytest.mark.parametrize(("raw", "expected"), GOOD_DATES)
def test_parse_dates_good(raw, expected):
    dates = parse_dates(pd.Series([raw]))
    assert not dates.bad.iloc[0]
    assert dates.values.iloc[0] == pd.Timestamp(expected)


def test_parse_dates_bad():
    dates = parse_dates(pd.Series(BAD_DATES))
    assert dates.bad.all(), [b for b, x in zip(BAD_DATES, dates.bad, strict=True) if not x]
    assert dates.values.isna().all()


def test_parse_dates_empty_is_nat_not_bad():
    raw = pd.Series(["", "  ", None, np.nan, "nan", "NaT", "None", pd.NaT], dtype=object)
    dates = parse_dates(raw)
    assert dates.values.isna().all() and not dates.bad.any()
    dates = parse_dates(pd.Series([], dtype=object))
    assert len(dates.values) == 0 and str(dates.values.dtype) == "datetime64[ns]"
    assert dates.bad.dtype == bool


def test_parse_dates_numbers_and_objects():
    # Excel serials and yyyymmdd integers, as read by openpyxl into object columns
    raw = pd.Series([44931, 44931.5, 20230105, 123, 90000, dt.date(2023, 1, 5),
                     dt.datetime(2023, 1, 5, 8, 30), pd.Timestamp("2023-01-05 10:00"),
                     pd.Timestamp("2023-01-05 10:00", tz="Asia/Shanghai"),
                     np.datetime64("2023-01-05"), True, "2023-01-05"], dtype=object)
    dates = parse_dates(raw)
    assert dates.bad.tolist() == [False, False, False, True, True] + [False] * 5 + [True, False]
    assert dates.values[~dates.bad].dt.normalize().eq(pd.Timestamp("2023-01-05")).all()
    assert dates.values.iloc[1] == pd.Timestamp("2023-01-05 12:00")
    assert dates.values.iloc[8] == pd.Timestamp("2023-01-05 10:00")  # local wall time kept
    # numeric dtypes
    dates = parse_dates(pd.Series([44931.0, np.nan, 1.5]))
    assert dates.values.iloc[0] == pd.Timestamp("2023-01-05")
    assert dates.bad.tolist() == [False, False, True]
    dates = parse_dates(pd.Series([20230105, None], dtype="Int64"))
    assert dates.values.iloc[0] == pd.Timestamp("2023-01-05") and not dates.bad.any()


def test_parse_dates_dtypes_index_and_passthrough():
    idx = pd.Index([10, 20, 30])
    raw = pd.Series(["2023-01-05", "x", None], index=idx, name="进厂日期")
    dates = parse_dates(raw)
    assert isinstance(dates, Parsed) and not isinstance(dates, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        dates.bad = None
    assert str(dates.values.dtype) == "datetime64[ns]" and dates.bad.dtype == bool
    assert dates.values.index.equals(idx) and dates.bad.index.equals(idx)
    assert dates.values.name == "进厂日期"
    dts = pd.Series(pd.to_datetime(["2023-01-05", None]))
    dates = parse_dates(dts)
    assert dates.values.equals(dts) and not dates.bad.any()
    aware = dts.dt.tz_localize("Asia/Shanghai")
    dates = parse_dates(aware)
    assert str(dates.values.dtype) == "datetime64[ns]"
    assert dates.values.iloc[0] == pd.Timestamp("2023-01-05")
    dates = parse_dates(pd.Series(["2023-01-05", pd.NA], dtype="string"))
    assert dates.values.iloc[0] == pd.Timestamp("2023-01-05") and not dates.bad.any()


def test_parse_dates_repeated_values_map_back_to_rows():
    rng = np.random.default_rng(1)
    days = pd.date_range("2015-01-01", periods=400)
    picks = rng.integers(0, len(days), 5000)
    fmts = np.array(["%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y%m%d"])
    f = fmts[rng.integers(0, len(fmts), 5000)]
    raw = pd.Series([days[p].strftime(x) for p, x in zip(picks, f, strict=True)])
    dates = parse_dates(raw)
    assert not dates.bad.any()
    assert (dates.values.to_numpy() == days[picks].to_numpy()).all()


def test_parse_dates_is_vectorized():
    # 200k distinct timestamps: a per-row parser takes tens of seconds here
    n = 200_000
    stamps = pd.Timestamp("2016-01-01") + pd.to_timedelta(np.arange(n) * 3607, unit="s")
    raw = pd.Series(stamps.strftime("%Y/%m/%d %H:%M:%S"), dtype=object)
    t0 = time.perf_counter()
    dates = parse_dates(raw)
    elapsed = time.perf_counter() - t0
    assert not dates.bad.any() and (dates.values.to_numpy() == stamps.to_numpy()).all()
    assert elapsed < 5, elapsed


# ---------------------------------------------------------------------------------------
# Amounts
# ---------------------------------------------------------------------------------------

GOOD_AMOUNTS = [
    ("1,234.50", 1234.5), ("¥1,234", 1234.0), ("￥1,234", 1234.0), ("1234元", 1234.0),
    ("１２３４．５", 1234.5), ("１，２３４元", 1234.0), ("(123)", -123.0), ("（123）", -123.0),
    ("(¥1,234.00)", -1234.0), ("-12.5", -12.5), ("−12.5", -12.5), ("- 12", -12.0),
    ("¥-8", -8.0), ("-¥8", -8.0), ("+5", 5.0), ("0", 0.0), ("0.00", 0.0), (".5", 0.5),
    ("12.", 12.0), ("1 234", 1234.0), ("RMB 300", 300.0), ("300 CNY", 300.0),
    ("1.2万", 12000.0), ("1,234,567.891", 1234567.891), ("1e3", 1000.0), (" 88 ", 88.0),
    ("007", 7.0),
]

BAD_AMOUNTS = ["abc", "12,34", "1,2345", "1.2.3", "1,234.5.6", "(12", "12)", "(-5)", "--5",
               "12-", "inf", "1e400", "¥", "元", "五十", "12 34", "1,234,56"]


@pytest.mark.parametrize(("raw", "expected"), GOOD_AMOUNTS)
def test_parse_amounts_good(raw, expected):
    amounts = parse_amounts(pd.Series([raw], dtype=object))
    assert not amounts.bad.iloc[0]
    assert amounts.values.iloc[0] == pytest.approx(expected)


def test_parse_amounts_bad():
    amounts = parse_amounts(pd.Series(BAD_AMOUNTS, dtype=object))
    assert amounts.bad.all(), [b for b, x in zip(BAD_AMOUNTS, amounts.bad, strict=True) if not x]
    assert amounts.values.isna().all()


def test_parse_amounts_missing_and_numbers():
    raw = pd.Series(["-", "--", "—", "", " ", None, np.nan, "nan", "NULL", "/", 12, 12.5,
                     np.int64(3), Decimal("2.25"), True, float("inf")], dtype=object)
    amounts = parse_amounts(raw)
    assert amounts.values.iloc[:10].isna().all() and not amounts.bad.iloc[:10].any()
    assert amounts.values.iloc[10:14].tolist() == [12.0, 12.5, 3.0, 2.25]
    assert amounts.bad.iloc[14:].all() and amounts.values.iloc[14:].isna().all()


def test_parse_amounts_dtypes():
    s = pd.Series([1, 2], index=["a", "b"], name="工时费")
    amounts = parse_amounts(s)
    assert str(amounts.values.dtype) == "float64" and amounts.values.tolist() == [1.0, 2.0]
    assert amounts.values.name == "工时费" and list(amounts.values.index) == ["a", "b"]
    assert amounts.bad.dtype == bool
    amounts = parse_amounts(pd.Series([1.5, None], dtype="Float64"))
    assert amounts.values.iloc[0] == 1.5 and np.isnan(amounts.values.iloc[1])
    assert not amounts.bad.any()
    amounts = parse_amounts(pd.Series([np.inf, 1.0]))
    assert amounts.bad.tolist() == [True, False]
    amounts = parse_amounts(pd.Series(["1,000", pd.NA], dtype="string"))
    assert amounts.values.iloc[0] == 1000 and not amounts.bad.any()


def test_parse_amounts_is_vectorized():
    rng = np.random.default_rng(2)
    values = np.round(rng.gamma(2, 400, 200_000), 2)
    raw = pd.Series([f"{v:,.2f}" for v in values], dtype=object)
    t0 = time.perf_counter()
    amounts = parse_amounts(raw)
    elapsed = time.perf_counter() - t0
    assert not amounts.bad.any() and np.allclose(amounts.values.to_numpy(), values)
    assert elapsed < 5, elapsed


# ---------------------------------------------------------------------------------------
# Coded values
# ---------------------------------------------------------------------------------------


def test_map_values_ro_type_vocabulary():
    raw = pd.Series(["保养", "首保", "定保", "常规保养", "一般维修", "机修", "维修", "电器维修",
                     "钣喷", "钣金喷漆", "钣金", "喷漆", "事故车", "事故", "保修", "索赔", "三包",
                     "质保", "美容", "洗美", "精品", "装潢", "其他", "内部", " 首保 ", "Repair",
                     "BODY_PAINT", "body paint", "ｍａｉｎｔｅｎａｎｃｅ"])
    codes = map_values(raw, "ro_type")
    assert not codes.bad.any()
    assert codes.values.tolist() == (
        ["maintenance"] * 4 + ["repair"] * 4 + ["body_paint"] * 6 + ["warranty"] * 4
        + ["detailing"] * 4 + ["other"] * 2 + ["maintenance", "repair", "body_paint",
                                               "body_paint", "maintenance"]
    )


def test_map_values_unknown_is_bad_and_missing_is_not():
    raw = pd.Series(["改装", None, "", "nan", "保养"], index=[5, 6, 7, 8, 9])
    codes = map_values(raw, "ro_type")
    assert codes.bad.tolist() == [True, False, False, False, False]
    assert codes.values.tolist() == [None, None, None, None, "maintenance"]
    assert codes.values.dtype == object and list(codes.values.index) == [5, 6, 7, 8, 9]


def test_map_values_other_fields():
    assert map_values(pd.Series(["自费", "厂家", "保险公司", "内部"]), "payer").values.tolist() == [
        "customer", "warranty", "insurance", "internal"]
    codes = map_values(pd.Series(["自销", "他销", "是", "否", "Y", "n", "TRUE", True, 0, 1.0],
                                 dtype=object), "sold_here")
    assert codes.values.tolist() == [True, False, True, False, True, False, True, True, False, True]
    assert all(type(v) is bool for v in codes.values)
    assert map_values(pd.Series(["个人", "单位", "机关"]), "customer_type").values.tolist() == [
        "individual", "company", "government"]
    assert map_values(pd.Series(["网约车", "出租", "非营运", "公务"]), "usage").values.tolist() == [
        "ride_hailing", "taxi", "private", "company"]
    assert map_values(pd.Series(["经济型", "中档", "高档"]), "grade").values.tolist() == [
        "economy", "mid", "premium"]


def test_map_values_user_mapping_forms_and_checks(tmp_path):
    raw = pd.Series(["改装", "保养", "事故"])
    expected = ["repair", "maintenance", "other"]
    flat = {"改装": "repair", "事故": "other"}  # the user also overrides a built-in alias
    assert map_values(raw, "ro_type", mapping=flat).values.tolist() == expected
    assert map_values(raw, "ro_type", mapping={"ro_type": flat}).values.tolist() == expected
    assert map_values(raw, "ro_type", mapping={"values": {"ro_type": flat}}).values.tolist() == (
        expected)
    path = tmp_path / "m.yml"
    path.write_text("values:\n  ro_type:\n    改装: repair\n    事故: other\n", encoding="utf-8")
    assert map_values(raw, "ro_type", mapping=path).values.tolist() == expected
    # a mapping for another field leaves this one alone
    assert map_values(raw, "ro_type", mapping={"payer": {"x": "customer"}}).bad.tolist() == [
        True, False, False]
    with pytest.raises(DataError, match="not a valid code"):
        map_values(raw, "ro_type", mapping={"改装": "tuning"})
    with pytest.raises(KeyError, match="no value vocabulary"):
        map_values(raw, "colour")


# ---------------------------------------------------------------------------------------
# Identifiers
# ---------------------------------------------------------------------------------------


def test_clean_id():
    raw = pd.Series([" 007 ", "007", 7.0, 7, np.int64(12), 1.2345678901e10, 7.5, "Ｒ００１",
                     None, np.nan, "", "  ", "nan", "7.0", pd.NA], dtype=object,
                    index=range(100, 115), name="门店")
    out = clean_id(raw)
    assert out.iloc[:8].tolist() == ["007", "007", "7", "7", "12", "12345678901", "7.5",
                                    "R001"]
    assert out.iloc[8:13].isna().all() and out.iloc[13] == "7.0" and pd.isna(out.iloc[14])
    assert out.dtype == object and out.name == "门店" and out.index.equals(raw.index)
    # float columns from Excel
    assert clean_id(pd.Series([7.0, np.nan])).iloc[0] == "7"


def test_vins():
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "LFV2A21K8A3000001")
    raw = pd.Series([" lfv2a21k8a3000001 ", "LFV2A21K8A3000001", full_width,
                     "LFV2A21K8A300000", "LFV2A21K8A30000011", "LFV2A21K8A300000I",
                     "LFV2A21K8A300000O", "LFV2A21K8A300000Q", "LFV2A21K8A30000-1",
                     "LFV2A21K8A3 00001", None, "", 12345678901234567])
    ok = valid_vin(raw)
    assert ok.dtype == bool
    assert ok.tolist() == [True, True, True] + [False] * 7 + [False, False, True]
    assert clean_vin(raw).iloc[:3].eq("LFV2A21K8A3000001").all()


# ---------------------------------------------------------------------------------------
# User mapping
# ---------------------------------------------------------------------------------------


def test_load_mapping_dict_forms():
    assert load_mapping(None) == {"headers": {}, "values": {}}
    assert load_mapping({}) == {"headers": {}, "values": {}}
    m = load_mapping({"headers": {"单号": "ro_id"}, "values": {"sold_here": {"本公司": "是"}}})
    assert m == {"headers": {"单号": "ro_id"}, "values": {"sold_here": {"本公司": True}}}
    assert load_mapping({"证件": "id_number"})["headers"] == {"证件": "id_number"}


def test_load_mapping_yaml(tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text(
        "# 我的DMS\nheaders:\n  单号: ro_id\n  接车日期: open_date\n"
        "values:\n  ro_type:\n    改装: repair\n  payer:\n    集团: internal\n",
        encoding="utf-8",
    )
    m = load_mapping(path)
    assert m["headers"] == {"单号": "ro_id", "接车日期": "open_date"}
    assert m["values"] == {"ro_type": {"改装": "repair"}, "payer": {"集团": "internal"}}
    assert load_mapping(str(path)) == m
    assert match_headers(["单号", "接车日期"], mapping=path) == {
        "单号": "ro_id", "接车日期": "open_date"}
    empty = tmp_path / "empty.yml"
    empty.write_text("", encoding="utf-8")
    assert load_mapping(empty) == {"headers": {}, "values": {}}


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("headers:\n  单号: order_no\n", r"'order_no' is not a canonical column \(closest: ro_id"),
        ("values:\n  rotype:\n    a: repair\n", "unknown field 'rotype'.*closest: ro_type"),
        ("values:\n  ro_type:\n    a: tuning\n", "'a' -> 'tuning' is not a valid code"),
        ("values:\n  ro_type: repair\n", "must be a dict"),
        ("headers: [1, 2]\n", "must be dicts"),
        ("colums:\n  a: b\n", r"unknown section|not a canonical column"),
        ("- a\n- b\n", "must be a dict"),
        ("headers: {a: [\n", "not valid YAML"),
    ],
)
def test_load_mapping_errors_name_the_file(tmp_path, content, pattern):
    path = tmp_path / "bad.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=pattern) as info:
        load_mapping(path)
    assert str(info.value).startswith(str(path))


def test_load_mapping_missing_file(tmp_path):
    with pytest.raises(DataError, match="mapping file not found"):
        load_mapping(tmp_path / "nope.yml")

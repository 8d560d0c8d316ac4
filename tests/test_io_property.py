"""Property test of crm_analysis.io.load: random cells never break the accounting.

Hypothesis writes small DMS exports — a random choice and order of Chinese / English
headers (sometimes an unknown or a repeated one), cells drawn from typed generators
(dates in every supported format and broken ones, amounts with ``¥``/``元``/thousands
separators/full-width digits, VINs right and wrong, business types known and unknown) and
from random text (Chinese, control characters, delimiters, quotes, line breaks), empty
cells and blank rows — as CSV (UTF-8, UTF-8 with BOM, GB18030, GBK when it can encode
the text; ``,`` ``;`` or tab, properly quoted or naively joined so that rows get too many
or too few fields) or as ``.xlsx`` with title rows, and loads them. Whatever the input:

- only :class:`~crm_analysis.io.DataError` may escape :func:`~crm_analysis.io.load`;
- the accounting identity ``read = accepted + duplicates + quarantined`` holds on every
  report row, the quarantine has exactly the quarantined rows, and every row read is
  either in the dataset, merged as a duplicate or in the quarantine (no row lost);
- ``read`` is the number of data rows written (trailing empty rows aside) for files
  written with correct quoting;
- the accepted data is a valid :class:`~crm_analysis.schema.Dataset`.

The examples are derandomized (the same ones on every run) and few enough to keep the
file well under 20 seconds.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_analysis.io import DataError, load

SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])

# Headers by canonical column (first Chinese, then an English or variant spelling).
HEADERS: dict[str, tuple[str, ...]] = {
    "ro_id": ("工单号", "RO No", "维修工单号"),
    "open_date": ("进厂日期", "open date", "开单日期"),
    "close_date": ("结算日期", "close_date"),
    "store_id": ("门店代码", "store"),
    "vin": ("车架号", "VIN", "ＶＩＮ码"),
    "customer_id": ("客户编号", "customer id"),
    "name": ("客户名称", "车主"),
    "phone": ("手机", "联系电话"),
    "plate": ("车牌号",),
    "model": ("车型",),
    "sale_date": ("购车日期", "sale date"),
    "sold_here": ("自销/他销",),
    "mileage_km": ("进厂里程", "mileage"),
    "ro_type": ("业务类型", "ro type"),
    "payer": ("付费方式",),
    "labor_amount": ("工时费", "labor"),
    "parts_amount": ("材料费",),
    "other_amount": ("其他费用",),
    "total_amount": ("合计金额", "实收（元）"),
    "grade": ("车辆档次",),
    "usage": ("使用性质",),
    "customer_type": ("客户类型",),
}
REQUIRED = ("ro_id", "open_date", "vin", "customer_id", "ro_type", "total_amount")
JUNK_HEADERS = ("备注", "remark", "", "工单号 ", "Unnamed: 3", "合计")

VINS = ("LSVAA4180E2000001", "LSVAA4180E2000002", "lsvaa4180e2000003", "LSVAA4180E200000",
        "LSVAA4180E2000O01", "LSVAA4180E20000011")
CODES = {
    "ro_type": ("首保", "定保", "机修", "钣喷", "事故车", "三包", "洗美", "maintenance",
                "其他", "换轮胎", "保 养"),
    "payer": ("自费", "保险", "索赔", "内部", "customer", "信用卡"),
    "sold_here": ("自销", "他销", "是", "否", "Y", "N", "maybe"),
    "grade": ("经济型", "中级", "豪华", "超豪华"),
    "usage": ("私家车", "网约车", "出租", "拖拉机"),
    "customer_type": ("个人", "公司", "政府", "外星人"),
}
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y-%m-%d %H:%M",
                "%Y/%m/%d %H:%M:%S", "%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%b %d %Y")
TEXT = st.text(alphabet=st.one_of(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    st.sampled_from("保养维修钣喷合计客户张王李赵¥元，。、；：“”（）0123456789０１２３"),
    st.sampled_from(",;\t\"'\n\r =-\x00\x07"),
), max_size=12)


@st.composite
def dates(draw) -> object:
    d = draw(st.one_of(st.dates(min_value=dt.date(2015, 1, 1), max_value=dt.date(2024, 12, 31)),
                       st.dates(min_value=dt.date(2015, 1, 1), max_value=dt.date(2024, 12, 31)),
                       st.dates(min_value=dt.date(1890, 1, 1), max_value=dt.date(2130, 12, 31))))
    kind = draw(st.sampled_from((0, 0, 0, 0, 1, 1, 2, 2, 4, 3, 5, 6)))
    if kind == 0:
        return d.strftime(draw(st.sampled_from(DATE_FORMATS)))
    if kind == 1:
        return f"{d.year}年{d.month}月{d.day}日"
    if kind == 2:  # Excel serial, maybe with a time of day, as number or text
        serial = (d - dt.date(1899, 12, 30)).days + draw(st.sampled_from((0, 0.5, 0.25)))
        return serial if draw(st.booleans()) else str(serial)
    if kind == 3:  # impossible dates in the supported forms
        y, m, dd = draw(st.integers(1800, 9999)), draw(st.integers(0, 13)), draw(
            st.integers(0, 32))
        return draw(st.sampled_from((f"{y}-{m:02d}-{dd:02d}", f"{y}/{m}/{dd}", f"{y}.{m}.{dd}",
                                     f"{y}{m:02d}{dd:02d}", f"{y}年{m}月{dd}日")))
    if kind == 4:
        return dt.datetime.combine(d, dt.time(draw(st.integers(0, 23))))
    if kind == 5:
        return draw(st.integers(-10**6, 10**9))
    return draw(st.sampled_from(("昨天", "2023-1-5-6", "2023/01/05 25:61", "0", "-", "N/A")))


@st.composite
def amounts(draw) -> object:
    x = draw(st.one_of(st.integers(0, 10**5), st.integers(0, 10**5), st.integers(-10**7, 10**7),
                       st.floats(allow_nan=True, allow_infinity=True, width=32)))
    kind = draw(st.sampled_from((0, 0, 0, 1, 1, 2, 3, 4, 5)))
    if kind == 0 or isinstance(x, float) and (x != x or abs(x) == float("inf")):
        return x
    x = round(float(x), 2)
    if kind == 1:
        return f"{x:,.2f}"
    if kind == 2:
        return f"¥{x:,.0f}" if draw(st.booleans()) else f"{x:g}元"
    if kind == 3:  # full-width digits
        return f"{x:g}".translate(str.maketrans("0123456789.-", "０１２３４５６７８９．－"))
    if kind == 4:
        return f"({abs(x):g})"
    return draw(st.sampled_from(("1,2,3", "12万", "1.2.3", "abc", "--", "1e999", "¥", "")))


def cells_for(column: str) -> st.SearchStrategy:
    empty = st.sampled_from(("", None, " "))
    if column in ("open_date", "close_date", "sale_date"):
        typed = dates()
    elif column in ("labor_amount", "parts_amount", "other_amount", "total_amount",
                    "mileage_km"):
        typed = amounts()
    elif column == "vin":
        typed = st.sampled_from(VINS[:3] * 3 + VINS[3:])
    elif column in CODES:
        typed = st.sampled_from(CODES[column])
    elif column == "ro_id":
        typed = st.one_of(st.sampled_from(("R001", "R002", "007", "合计")), st.integers(0, 5))
    elif column in ("customer_id", "store_id"):
        typed = st.one_of(st.sampled_from(("C1", "C2", "S1", "007", "S2")),
                          st.integers(0, 5), st.just(7.0))
    else:
        typed = st.sampled_from(("张三", "13800000001", "皖A12345", "朗逸", "Total"))
    return st.integers(0, 19).flatmap(
        lambda k: empty if k == 0 else TEXT if k == 1 else typed)


@st.composite
def exports(draw) -> dict:
    columns = list(REQUIRED) if draw(st.integers(0, 3)) else []
    columns += draw(st.lists(st.sampled_from(sorted(HEADERS)), max_size=8))
    columns = list(dict.fromkeys(columns))
    columns = draw(st.permutations(columns))
    header = [draw(st.sampled_from(HEADERS[c])) for c in columns]
    canon = list(columns)
    if draw(st.integers(0, 4)) == 0:
        pos = draw(st.integers(0, len(header)))
        junk = draw(st.sampled_from(JUNK_HEADERS))
        header.insert(pos, junk)
        canon.insert(pos, "junk")
    n = draw(st.integers(0, 8))
    rows = []
    for i in range(n):
        if draw(st.integers(0, 9)) == 0:
            rows.append([None] * len(header))  # blank row
            continue
        row = [draw(cells_for(c)) if c != "junk" else draw(st.one_of(TEXT, st.none()))
               for c in canon]
        if "ro_id" in canon and draw(st.integers(0, 3)):  # mostly distinct order numbers
            row[canon.index("ro_id")] = f"R{i + 1:03d}"
        rows.append(row)
    if rows and draw(st.integers(0, 5)) == 0:
        rows.append(list(rows[draw(st.integers(0, len(rows) - 1))]))  # exact repeat
    fmt = draw(st.sampled_from(("csv", "csv", "raw", "xlsx")))
    return {
        "header": header,
        "rows": rows,
        "format": fmt,
        "encoding": draw(st.sampled_from(("utf-8", "utf-8-sig", "gbk", "gb18030"))),
        "delimiter": draw(st.sampled_from((",", ";", "\t"))),
        "title_rows": draw(st.integers(0, 2)),
        "store_id": draw(st.sampled_from((None, "S1", "S1", "S1", "S1", "S1"))),
        "as_of": draw(st.sampled_from((None, "2024-06-30"))),
    }


def text_cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    return str(v)


def write(spec: dict, folder: Path) -> Path:
    header, rows = spec["header"], spec["rows"]
    if spec["format"] == "xlsx":
        path = folder / "export.xlsx"
        wb = openpyxl.Workbook()
        ws = wb.active
        for i in range(spec["title_rows"]):
            ws.append([f"维修工单明细 第{i + 1}页"])
        for r in [header, *rows]:
            ws.append([openpyxl_safe(v) for v in r])
        wb.save(path)
        return path
    path = folder / "export.csv"
    lines = [[f"导出时间 {i}"] for i in range(spec["title_rows"])] + [header] + [
        [text_cell(v) for v in r] for r in rows]
    if spec["format"] == "csv":
        buf = io.StringIO()
        csv.writer(buf, delimiter=spec["delimiter"], lineterminator="\n").writerows(lines)
        text = buf.getvalue()
    else:  # naive join: delimiters and line breaks inside cells break the rows
        text = "".join(spec["delimiter"].join(r) + "\n" for r in lines)
    try:
        data = text.encode(spec["encoding"])
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    path.write_bytes(data)
    return path


def openpyxl_safe(v: object) -> object:
    if isinstance(v, str):
        v = openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE.sub("", v)
        return v.lstrip("=")  # no formulas: their value is not stored by openpyxl
    return v


def rows_written(spec: dict) -> int:
    """Data rows below the header, without trailing empty rows (not counted as read)."""
    def empty(v: object) -> bool:
        return v is None or (isinstance(v, str) and not openpyxl_safe(v).strip())

    rows = spec["rows"]
    while rows and all(empty(v) for v in rows[-1]):
        rows = rows[:-1]
    return len(rows)


@pytest.mark.slow  # 100 generated exports (~12 s); tests/test_io_corpus.py checks the same identity
@SETTINGS
@given(spec=exports())
def test_random_exports_are_accounted_for(spec, tmp_path_factory):
    folder = tmp_path_factory.mktemp("prop")
    path = write(spec, folder)
    try:
        res = load(path, key="property-test", store_id=spec["store_id"], as_of=spec["as_of"])
    except DataError as err:
        assert str(err)  # a clear message, never an empty one
        return
    res.check()
    r = res.report
    assert (r["read"] == r["accepted"] + r["duplicates"] + r["quarantined"]).all()
    assert int(r["quarantined"].sum()) == len(res.quarantine)
    assert set(res.quarantine["reason"]) <= set(r.columns)
    orders = r["table"] == "repair_orders"
    if orders.any():
        assert int(r.loc[orders, "accepted"].sum()) == len(res.dataset.repair_orders)
    report = res.dataset.validate()
    assert report.ok, report
    if spec["format"] != "raw" and len(r) == 1 and r["title_rows"].iat[0] == spec[
            "title_rows"]:
        assert int(r["read"].iat[0]) == rows_written(spec)
    if len(res.quarantine) and spec["format"] != "raw":
        last = 1 + spec["title_rows"] + len(spec["rows"])
        assert res.quarantine["row"].between(1, last).all()
    pd.testing.assert_index_equal(res.quarantine.columns, pd.Index(
        ["file", "sheet", "row", "table", "reason", "message", "raw"]))

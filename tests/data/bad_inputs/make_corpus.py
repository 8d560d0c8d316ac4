"""Write the bad-input corpus of ``crm_analysis.io.load`` (tests/data/bad_inputs).

Each file (or folder) holds one kind of failure a real DMS export shows: an empty or
binary file, a wrong encoding, a damaged workbook, duplicate or missing headers, title and
totals rows, bad dates and amounts in every supported format, every quarantine reason,
conflicting repeats in a flat export, and so on. The expected outcome of each (a
``DataError`` whose message contains given fragments, or exact counts of rows read,
accepted, merged and quarantined by reason, and of flags) is in ``expected.yaml`` next to
this script, and ``tests/test_io_corpus.py`` checks them.

The corpus files are checked in; this script documents how they were made and writes them
again byte for byte (random bytes come from a seeded generator; workbooks are re-zipped
with fixed timestamps)::

    .venv/bin/python tests/data/bad_inputs/make_corpus.py          # rewrite the files
    .venv/bin/python tests/data/bad_inputs/make_corpus.py --check  # compare, write nothing

The files are small on purpose: each shows one fault (a few good rows around it so that
the counts are meaningful). Identities in them (names, phones, plates) are invented.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import random
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXED_TIME = (2024, 1, 1, 0, 0, 0)

V1, V2, V3, V4 = ("LSVAA4180E2000001", "LSVAA4180E2000002", "LSVAA4180E2000003",
                  "LSVAA4180E2000004")
# A flat export: one row per repair order, customer and vehicle columns repeated.
FLAT = ["工单号", "门店代码", "进厂日期", "车架号", "客户编号", "客户名称", "手机", "车牌号",
        "车型", "购车日期", "业务类型", "付费方式", "进厂里程", "工时费", "材料费", "合计金额"]
# An orders-only export (no vehicle / customer attributes).
ORDERS = ["工单号", "门店代码", "进厂日期", "车架号", "客户编号", "业务类型", "工时费",
          "材料费", "合计金额"]


def flat_row(ro: str, date: str, vin: str = V1, cust: str = "C1", *, store: str = "S1",
             name: str = "张伟", phone: str = "13800000001", plate: str = "皖A12345",
             model: str = "朗逸", sale: str = "2021-03-02", ro_type: str = "首保",
             payer: str = "自费", km: str = "5100", labor: str = "100", parts: str = "200",
             total: str = "300") -> list[str]:
    return [ro, store, date, vin, cust, name, phone, plate, model, sale, ro_type, payer, km,
            labor, parts, total]


def order_row(ro: str, date: str, vin: str = V1, cust: str = "C1", *, store: str = "S1",
              ro_type: str = "机修", labor: str = "100", parts: str = "200",
              total: str = "300") -> list[str]:
    return [ro, store, date, vin, cust, ro_type, labor, parts, total]


def csv_text(rows: list[list[str]], sep: str = ",") -> str:
    """Rows joined as CSV; cells with the delimiter, quotes or line breaks are quoted."""
    out = []
    for r in rows:
        cells = []
        for c in r:
            c = str(c)
            if any(ch in c for ch in (sep, '"', "\n", "\r")):
                c = '"' + c.replace('"', '""') + '"'
            cells.append(c)
        out.append(sep.join(cells))
    return "\n".join(out) + "\n"


def xlsx_bytes(sheets: dict[str, list[list]], *, merge_title: bool = False) -> bytes:
    """A workbook with the given sheets, re-zipped with fixed timestamps (reproducible)."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
        if merge_title and rows and len(rows[0]) == 1:
            ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=6)
    stamp = dt.datetime(*FIXED_TIME)
    wb.properties.created = wb.properties.modified = stamp
    wb.properties.creator = "make_corpus.py"
    buf = io.BytesIO()
    wb.save(buf)
    return rezip(buf.getvalue())


def rezip(data: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in sorted(src.infolist(), key=lambda i: i.filename):
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = fix_core_times(body)
            new = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME)
            new.compress_type = zipfile.ZIP_DEFLATED
            new.external_attr = 0o644 << 16
            dst.writestr(new, body)
    return out.getvalue()


def fix_core_times(body: bytes) -> bytes:
    import re

    return re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2024-01-01T00:00:00Z",
                  body)


def parquet_bytes(columns: dict[str, list]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf, compression="none")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------
# The corpus: file name -> bytes (or folder name -> {file name: bytes})
# ---------------------------------------------------------------------------------------

CORPUS: dict[str, Callable[[], bytes | dict[str, bytes]]] = {}


def entry(name: str):
    def register(fn):
        CORPUS[name] = fn
        return fn

    return register


GOOD3 = [flat_row("R001", "2023-01-05"),
         flat_row("R002", "2023-06-07", ro_type="机修", km="10200"),
         flat_row("R003", "2023-02-10", V2, "C2", name="李娜", phone="13900000002",
                  plate="皖B67890", model="途观", sale="2020-07-15", ro_type="钣喷",
                  payer="保险", km="31000")]


@entry("01_empty.csv")
def _():
    return b""


@entry("02_blank_lines_only.csv")
def _():
    return b"\r\n   \r\n\t\r\n"


@entry("03_binary_garbage.csv")
def _():
    return random.Random(3).randbytes(3000)


@entry("04_binary_no_nul.csv")
def _():
    rng = random.Random(4)
    return bytes(rng.randrange(1, 256) for _ in range(3000))


@entry("05_png_named_csv.csv")
def _():
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(5).randbytes(200)


@entry("06_wrong_encoding_big5.csv")
def _():
    header = ["工單號", "門店代碼", "進廠日期", "車架號", "客戶編號", "業務類型", "合計金額"]
    rows = [header, ["R001", "S1", "2023-01-05", V1, "C1", "首保", "300"]]
    return csv_text(rows).encode("big5")


@entry("07_wrong_encoding_latin1.csv")
def _():
    rows = [["ro_id", "store", "open_date", "vin", "customer_id", "ro_type", "total"],
            ["R001", "S1", "2023-01-05", V1, "Café-1", "maintenance", "300"],
            ["R002", "S1", "2023-01-06", V1, "Señor-2", "repair", "400"]]
    return csv_text(rows).encode("latin-1")


@entry("08_mixed_encoding.csv")
def _():
    good = csv_text([ORDERS, order_row("R001", "2023-01-05"), order_row("R002", "2023-01-06")])
    bad = csv_text([order_row("R003", "2023-01-07", ro_type="钣喷")])
    return good.encode("utf-8") + bad.encode("gbk")


@entry("09_utf16_without_bom.csv")
def _():
    rows = [ORDERS, order_row("R001", "2023-01-05"), order_row("R002", "2023-01-06")]
    return csv_text(rows).encode("utf-16-le")


@entry("10_truncated.xlsx")
def _():
    data = xlsx_bytes({"工单": [ORDERS] + [order_row(f"R{i:03d}", "2023-01-05")
                                          for i in range(1, 40)]})
    return data[: len(data) // 2]


@entry("11_zip_not_workbook.xlsx")
def _():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("readme.txt", date_time=FIXED_TIME), "not a workbook")
    return out.getvalue()


@entry("12_empty_workbook.xlsx")
def _():
    return xlsx_bytes({"Sheet1": [], "Sheet2": [[None, None], [" ", None]]})


@entry("13_workbook_without_header.xlsx")
def _():
    return xlsx_bytes({"数据": [["导出报表"], [1, 2, 3], [4, 5, 6]]})


@entry("14_duplicate_headers.csv")
def _():
    header = ["工单号", "进厂日期", "车架号", "客户编号", "业务类型", "合计金额", "工单号"]
    rows = [header, ["R001", "2023-01-05", V1, "C1", "首保", "300", "R001"]]
    return csv_text(rows).encode("gbk")


@entry("15_duplicate_headers_after_normalizing.csv")
def _():
    header = ["工单号", "进厂日期", "车架号", "客户编号", "业务类型", "合计金额", "车架号　"]
    rows = [header, ["R001", "2023-01-05", V1, "C1", "首保", "300", V1]]
    return csv_text(rows).encode("utf-8-sig")


@entry("16_missing_required_column.csv")
def _():
    header = ["工单号", "门店代码", "进厂日期", "车驾号", "客户编号", "业务类型", "合计金额"]
    rows = [header, ["R001", "S1", "2023-01-05", V1, "C1", "首保", "300"]]
    return csv_text(rows).encode("gbk")


@entry("17_no_store_column.csv")
def _():
    header = ["工单号", "进厂日期", "车架号", "客户编号", "业务类型", "合计金额"]
    rows = [header, ["R001", "2023-01-05", V1, "C1", "首保", "300"]]
    return csv_text(rows).encode("gbk")


@entry("18_header_below_row_30.csv")
def _():
    rows = [[f"说明第{i}行"] for i in range(1, 32)] + [ORDERS, order_row("R001", "2023-01-05")]
    return csv_text(rows).encode("gbk")


@entry("19_unterminated_quote.csv")
def _():
    text = csv_text([ORDERS, order_row("R001", "2023-01-05")])
    text += 'R002,S1,2023-01-06,' + V1 + ',C1,"机修,100,200,300\n'
    text += csv_text([order_row("R003", "2023-01-07")])
    return text.encode("gbk")


@entry("20_truncated.parquet")
def _():
    data = parquet_bytes({"工单号": ["R001", "R002"], "进厂日期": ["2023-01-05", "2023-01-06"],
                          "车架号": [V1, V1]})
    return data[: len(data) - 40]


@entry("21_fake.xls")
def _():
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + random.Random(21).randbytes(600)


@entry("22_no_data_files")
def _():
    return {"notes.md": "# 这个文件夹里没有数据文件\n".encode()}


@entry("23_single_column_text.csv")
def _():
    return "客户回访记录\n张先生说下次再来\n李女士车辆已提走\n".encode("gbk")


@entry("24_header_only.csv")
def _():
    return csv_text([FLAT]).encode("gbk")


@entry("25_title_and_totals_only.xlsx")
def _():
    return xlsx_bytes({"工单明细": [["维修工单明细表"], ["导出时间: 2024-01-01"], FLAT,
                                    ["合计", None, None, None, None, None, None, None, None,
                                     None, None, None, None, 0, 0, 0]]}, merge_title=True)


@entry("26_title_blank_totals.csv")
def _():
    rows = [["维修工单明细"], ["门店: 合肥一店", "导出人: admin"], FLAT, GOOD3[0], GOOD3[1],
            [""] * len(FLAT), GOOD3[2],
            ["合计"] + [""] * 12 + ["300", "600", "900"]]
    return csv_text(rows).encode("gbk")


@entry("27_title_totals.xlsx")
def _():
    serial = (dt.date(2023, 3, 1) - dt.date(1899, 12, 30)).days
    rows = [["售后维修工单导出"], [None], FLAT,
            flat_row("R001", "2023-01-05"),
            [*flat_row("R002", "x")[:2], dt.datetime(2023, 2, 1, 9, 30),
             *flat_row("R002", "x")[3:]],
            [*flat_row("R003", "x", V2, "C2", name="李娜", phone="13900000002")[:2], serial,
             *flat_row("R003", "x", V2, "C2", name="李娜", phone="13900000002")[3:9],
             dt.date(2020, 7, 15), *flat_row("R003", "x")[10:13], 100, 200.0, 300],
            [None] * len(FLAT),
            ["小计", *[None] * 12, 300, 600, 900],
            ["总计：", *[None] * 12, 300, 600, 900]]
    return xlsx_bytes({"工单": rows, "说明": [["本表由DMS导出"]]}, merge_title=True)


BAD_DATES = ["2023-02-30", "2023/13/5", "2023.1.32", "2023年13月5日", "20231345", "99999",
             "2023-01-05 25:00", "昨天", "5/1/2023", "9999-12-31", "1899-12-31", "2023-1-5-6"]
GOOD_DATES = ["2023-01-05", "2023/1/5", "2023.1.5", "2023年1月5日", "20230105", "44931",
              "2023/1/5 8:05:00", "2023-01-05T14:30", "２０２３－０１－０５", "2023 年 1 月 5 日"]


@entry("28_bad_dates.csv")
def _():
    rows = [ORDERS]
    for i, d in enumerate(GOOD_DATES + BAD_DATES, start=1):
        rows.append(order_row(f"R{i:03d}", d))
    return csv_text(rows).encode("gbk")


@entry("29_bad_dates.xlsx")
def _():
    cells: list = [dt.datetime(2023, 1, 5, 14, 30), dt.date(2023, 1, 6), 44933.5, 20230108,
                   "2023年1月9日",
                   10, 99999, True, "#VALUE!", "2023-02-29", "#N/A", -44931]
    rows = [ORDERS] + [[f"R{i:03d}", "S1", c, V1, "C1", "机修", 100, 200, 300]
                       for i, c in enumerate(cells, start=1)]
    return xlsx_bytes({"工单": rows})


BAD_AMOUNTS = ["12,34", "1.2.3", "abc", "¥", "12元34", "１２ａ", "1e999", "inf", "((5))",
               "1,234,56", "12 万 3"]
GOOD_AMOUNTS = ["1,234.50", "¥1,234", "1234元", "１２３４", "1.2万", "￥ 1,000.00 元",
                "RMB 300", " 300 ", "300.", "-", ""]


@entry("30_bad_amounts.csv")
def _():
    rows = [ORDERS]
    for i, a in enumerate(GOOD_AMOUNTS + BAD_AMOUNTS, start=1):
        rows.append(order_row(f"R{i:03d}", "2023-01-05", labor="", parts="", total=a))
    return csv_text(rows).encode("gb18030")


@entry("31_negative_amounts.csv")
def _():
    rows = [FLAT,
            flat_row("R001", "2023-01-05"),
            flat_row("R002", "2023-01-06", labor="-100", total="100"),
            flat_row("R003", "2023-01-07", parts="(80)", total="20"),
            flat_row("R004", "2023-01-08", labor="－５０", parts="0", total="－５０"),
            flat_row("R005", "2023-01-09", total="¥-300", labor="-100", parts="-200"),
            flat_row("R006", "2023-01-10", km="-5")]
    return csv_text(rows).encode("gb18030")


@entry("32_missing_keys.csv")
def _():
    rows = [ORDERS,
            order_row("R001", "2023-01-05"),
            order_row("", "2023-01-06"),
            order_row("R003", "2023-01-07", vin=""),
            order_row("R004", "2023-01-08", cust=" "),
            order_row("R005", "2023-01-09", store=""),
            order_row("nan", "2023-01-10")]
    return csv_text(rows).encode("gbk")


@entry("33_invalid_vin.csv")
def _():
    vins = [V1, "lsvaa4180e2000002", " LSVAA4180E2000003 ", "ＬＳＶＡＡ４１８０Ｅ２０００００４",
            "LSVAA4180E200000", "LSVAA4180E20000011", "LSVAI4180E2000001", "LSVAO4180E2000001",
            "LSVAQ4180E2000001", "LSVAA4180E20000-1", "粤B0000X", "0"]
    rows = [ORDERS] + [order_row(f"R{i:03d}", "2023-01-05", vin=v)
                       for i, v in enumerate(vins, start=1)]
    return csv_text(rows).encode("gbk")


@entry("34_unknown_ro_type.csv")
def _():
    types = ["首保", "定保", "保养", "一般维修", "机修", "钣金喷漆", "事故车", "索赔", "三包",
             "洗美", "美容", "其他", "maintenance", "Body Paint", "",
             "换轮胎", "保养?", "维修保养套餐", "PDI"]
    rows = [ORDERS] + [order_row(f"R{i:03d}", "2023-01-05", ro_type=t)
                       for i, t in enumerate(types, start=1)]
    return csv_text(rows).encode("gbk")


@entry("35_unknown_values.csv")
def _():
    header = [*ORDERS, "付费方式", "车辆档次", "使用性质", "自销/他销"]
    vals = [("自费", "经济型", "私家车", "自销"), ("保险", "中级", "网约车", "他销"),
            ("信用卡", "豪华", "出租", "是"), ("自费", "超豪华", "私家车", "否"),
            ("自费", "中级", "拖拉机", "是"), ("自费", "中级", "私家车", "也许")]
    rows = [header] + [order_row(f"R{i:03d}", "2023-01-05", vin=v) + list(x)
                       for i, (x, v) in enumerate(zip(vals, [V1, V2, V3, V4, V1, V2], strict=True),
                                                  start=1)]
    return csv_text(rows).encode("gbk")


@entry("36_duplicate_orders.csv")
def _():
    rows = [ORDERS,
            order_row("R001", "2023-01-05"),
            order_row("R001", "2023/1/5", total="300.00", parts="200", labor="100"),
            order_row("R001", "2023年1月5日"),
            order_row("R002", "2023-01-06"),
            order_row("R002", "2023-01-06", total="350", parts="250"),
            order_row("R003", "2023-01-07"),
            order_row("R003", "2023-01-07", ro_type="钣喷")]
    return csv_text(rows).encode("gbk")


@entry("37_flat_conflicting_repeats.csv")
def _():
    rows = [FLAT,
            flat_row("R001", "2023-01-05", sale="2021-03-02"),
            flat_row("R002", "2023-06-07", sale="2021-04-02", km="10200"),
            flat_row("R003", "2023-09-01", V2, "C2", phone="13900000002", sale="2020-01-01"),
            flat_row("R004", "2023-10-01", V2, "C2", phone="13900000099", sale="2020-01-01",
                     km="40000"),
            flat_row("R005", "2023-11-01", V3, "C3", name="王芳", phone="13700000003",
                     sale="2022-05-05")]
    return csv_text(rows).encode("gbk")


@entry("38_order_before_sale.csv")
def _():
    rows = [FLAT,
            flat_row("R001", "2023-01-05", sale="2021-03-02"),
            flat_row("R002", "2021-03-01", sale="2021-03-02"),
            flat_row("R003", "2023-01-05", V2, "C2", sale="2023-01-05"),
            flat_row("R004", "2022-12-31", V2, "C2", sale="2023-01-05")]
    return csv_text(rows).encode("gbk")


@entry("39_order_after_as_of.csv")
def _():
    rows = [ORDERS,
            order_row("R001", "2023-06-30"),
            order_row("R002", "2023-06-30 18:00"),
            order_row("R003", "2023-07-01"),
            order_row("R004", "2030-01-01")]
    return csv_text(rows).encode("gbk")


@entry("40_total_mismatch_close_before_open.csv")
def _():
    header = [*ORDERS, "结算日期"]
    rows = [header,
            order_row("R001", "2023-01-05") + ["2023-01-06"],
            order_row("R002", "2023-01-05", total="301") + ["2023-01-06"],
            order_row("R003", "2023-01-05", total="300.004") + ["2023-01-05"],
            order_row("R004", "2023-01-05") + ["2023-01-04"],
            order_row("R005", "2023-01-05", labor="", parts="", total="500") + [""],
            order_row("R006", "2023-01-05", labor="100", parts="200", total="") + [""]]
    return csv_text(rows).encode("gbk")


@entry("41_mileage_backwards.csv")
def _():
    rows = [FLAT,
            flat_row("R001", "2023-01-05", km="5000"),
            flat_row("R002", "2023-03-05", km="9000"),
            flat_row("R003", "2023-06-05", km="7000"),
            flat_row("R004", "2023-09-05", km="12000"),
            flat_row("R005", "2023-10-05", km="")]
    return csv_text(rows).encode("gbk")


@entry("42_three_tables")
def _():
    customers = [["客户编号", "客户名称", "手机", "客户类型"],
                 ["C1", "张伟", "13800000001", "个人"],
                 ["C1", "张伟", "13800000001", "个人"],
                 ["C2", "某某公司", "13900000002", "公司"],
                 ["", "无名", "13900000003", "个人"]]
    vehicles = [["车架号", "客户编号", "门店代码", "车型", "购车日期", "自销/他销"],
                [V1, "C1", "S1", "朗逸", "2021-03-02", "自销"],
                [V2, "C2", "S1", "途观", "2020-07-15", "他销"],
                [V2, "C2", "S1", "途观L", "2020-07-15", "他销"],
                ["LSVAA4180E20000", "C1", "S1", "朗逸", "2021-03-02", "自销"]]
    orders = [ORDERS,
              order_row("R001", "2023-01-05", V1, "C1"),
              order_row("R002", "2023-02-05", V2, "C2"),
              order_row("R003", "2023-03-05", V3, "C1"),
              order_row("R004", "2023-04-05", V3, "C1")]
    return {"customers.csv": csv_text(customers).encode("gbk"),
            "vehicles.csv": csv_text(vehicles).encode("utf-8-sig"),
            "orders.csv": csv_text(orders).encode("gbk")}


@entry("43_malformed_rows.csv")
def _():
    text = csv_text([ORDERS, order_row("R001", "2023-01-05")])
    text += f"R002,S1,2023-01-06,{V1},C1,机修,100,1,200,1300\n"  # unquoted thousands
    text += f"R003,S1,2023-01-07,{V1},C1,机修,100,200,300,\n"  # one empty field too many
    text += f"R004,S1,2023-01-08,{V1},C1,机修,100,200,300,备注\n"  # one field too many
    text += f"R005,S1,2023-01-09,{V1},C1,机\n修,100,200,300\n"  # unquoted line break
    text += csv_text([order_row("R006", "2023-01-10")])
    return text.encode("gbk")


@entry("44_semicolon_decimal_comma.csv")
def _():
    rows = [ORDERS, order_row("R001", "05.01.2023", labor="100", parts="200", total="300"),
            order_row("R002", "2023.01.06", labor="100,50", parts="200", total="300,50"),
            order_row("R003", "2023.01.07", labor="1.000,00", parts="0", total="1.000,00"),
            order_row("R004", "2023.01.08", labor="1 000", parts="0", total="1 000")]
    return csv_text(rows, sep=";").encode("utf-8")


@entry("45_blank_and_whitespace_rows.tsv")
def _():
    rows = [ORDERS, order_row("R001", "2023-01-05"), [""] * len(ORDERS), [" "] * len(ORDERS),
            ["\u3000", "", "\t"], order_row("R002", "2023-01-06"), [], [""] * 3]
    text = "\n".join("\t".join(c.replace("\t", " ") if i else c for i, c in enumerate(r))
                     for r in rows) + "\n"
    return text.encode("gb18030")


@entry("46_monthly_overlap")
def _():
    jan = [ORDERS, order_row("R001", "2023-01-05"), order_row("R002", "2023-01-31")]
    feb = [ORDERS, order_row("R002", "2023/1/31"), order_row("R003", "2023-02-03")]
    lock = b"locked by excel"
    return {"2023-01.csv": csv_text(jan).encode("gbk"),
            "2023-02.csv": csv_text(feb).encode("utf-8-sig"),
            "~$2023-03.xlsx": lock, ".hidden.csv": b"garbage\x00"}


@entry("47_csv_named_xlsx.xlsx")
def _():
    return csv_text([ORDERS, order_row("R001", "2023-01-05")]).encode("gbk")


@entry("48_nested_values.parquet")
def _():
    return parquet_bytes({
        "工单号": ["R001", "R002", "R003"],
        "门店代码": ["S1", "S1", "S1"],
        "进厂日期": ["2023-01-05", "2023-01-06", "2023-01-07"],
        "车架号": [V1, V1, V1],
        "客户编号": [["C1"], ["C1", "C2"], []],
        "业务类型": ["首保", "机修", "钣喷"],
        "合计金额": [300.0, 400.0, 500.0],
    })


@entry("49_odd_parquet_types.parquet")
def _():
    import pyarrow as pa

    return parquet_bytes({
        "ro_id": pa.array([1, 2, 3, 4, 5], pa.int64()),
        "store": ["S1", "S1", "S1", "S1", "S1"],
        "open_date": pa.array([dt.datetime(2023, 1, 5, 8), dt.datetime(2023, 1, 6),
                               None, dt.datetime(2023, 1, 8), dt.datetime(2023, 1, 9)],
                              pa.timestamp("us", tz="Asia/Shanghai")),
        "vin": [V1, V1, V1, None, V1],
        "customer_id": pa.array([7.0, 7.0, 7.0, 7.0, 7.5]),
        "ro_type": ["maintenance", "repair", "repair", "repair", "repair"],
        "total": pa.array([True, False, None, None, None], pa.bool_()),
        "labor": pa.array([None, None, 100.0, 100.0, float("nan")]),
    })


@entry("50_excel_error_cells.xlsx")
def _():
    rows = [ORDERS,
            ["R001", "S1", "2023-01-05", V1, "C1", "机修", 100, 200, 300],
            ["R002", "S1", "2023-01-06", V1, "C1", "机修", 100, 200, "#VALUE!"],
            ["R003", "S1", "2023-01-07", V1, "C1", "机修", "#DIV/0!", 200, 300],
            ["R004", "S1", "#REF!", V1, "C1", "机修", 100, 200, 300],
            ["R005", "S1", "2023-01-09", V1, "C1", "#NAME?", 100, 200, 300],
            ["R006", "S1", "2023-01-10", V1, "C1", "机修", 100, "#N/A", 100]]
    return xlsx_bytes({"Sheet1": rows})


@entry("51_odd_headers.csv")
def _():
    header = ["　工单号　", "门店 代码", "（进厂）日期", "ＶＩＮ码", "客户ID", "维修性质",
              "工时费（元）", "材料费(元)", "实收金额【元】", "备注", "Unnamed: 10"]
    rows = [header,
            ["R001", "S1", "2023-01-05", V1, "C1", "首保", "100", "200", "300", "", ""],
            ["R002", "S1", "2023-01-06", V1, "C1", "保 养", "100", "200", "300", "加急", "x"]]
    return csv_text(rows).encode("utf-8-sig")


@entry("52_two_sheets_one_bad.xlsx")
def _():
    good = [ORDERS, order_row("R001", "2023-01-05"), order_row("R002", "2023-01-06")]
    other = [["工单号", "进厂日期", "车架号", "客户编号", "业务类型", "合计金额", "工单号"],
             ["R003", "2023-01-07", V1, "C1", "机修", "300", "R003"]]
    return xlsx_bytes({"一月": good, "二月": other})


# ---- bounded input (issue 17): absurd values are flagged or quarantined, never taken --


@entry("53_future_dates.csv")
def _():
    # no as_of: a date after tomorrow cannot be in an export (and must not become as_of)
    rows = [ORDERS,
            order_row("R001", "2023-06-30"),
            order_row("R002", "2023-07-01"),
            order_row("R003", "2100-01-02"),
            order_row("R004", "2099-12-31 23:59")]
    return csv_text(rows).encode("gbk")


@entry("54_implausible_amounts_mileage.csv")
def _():
    rows = [FLAT,
            flat_row("R001", "2023-01-05"),
            flat_row("R002", "2023-02-05", labor="1.2e9", total="1200000200"),
            flat_row("R003", "2023-03-05", labor="0", parts="1,000,000.01",
                     total="1,000,000.01"),
            flat_row("R004", "2023-04-05", km="1.2e9"),
            flat_row("R005", "2023-05-05", km="10000001"),
            flat_row("R006", "2023-06-05", km="3000000", labor="999999.99", parts="0",
                     total="999999.99")]
    return csv_text(rows).encode("gbk")


@entry("55_ids_differing_in_case.csv")
def _():
    rows = [ORDERS,
            order_row("R001", "2023-01-05"),
            order_row("r001", "2023-01-05"),  # the same order: merged, flagged
            order_row("R002", "2023-02-05"),
            order_row("r002", "2023-02-06"),  # another date: both set aside
            order_row("R003", "2023-03-05", cust="c1")]  # customer c1 next to C1: flagged
    return csv_text(rows).encode("gbk")


@entry("56_bare_cr_line_ends.csv")
def _():
    # classic Mac OS line ends (CR only): read as lines, as a text editor shows them
    return csv_text([ORDERS, *[order_row(f"R00{i}", f"2023-01-0{i}") for i in (1, 2, 3)]]
                    ).replace("\n", "\r").encode("gbk")


@entry("57_truncated_utf8.csv")
def _():
    data = csv_text([FLAT, *GOOD3]).encode("utf-8")
    cut = data.rstrip(b"\n").rfind("途观".encode()) + 4  # inside the second character
    return data[:cut]


@entry("58_unsafe_store_id.csv")
def _():
    rows = [ORDERS,
            order_row("R001", "2023-01-05"),
            order_row("R002", "2023-01-06", store="../../tmp/evil")]
    return csv_text(rows).encode("gbk")


@entry("59_cell_too_long.xlsx")
def _():
    # openpyxl cuts a cell at Excel's limit (32,767 characters) when it writes: the long
    # cell is put into the sheet XML afterwards, as a hand-made workbook would carry it
    rows = [ORDERS,
            order_row("R001", "2023-01-05"),
            order_row("R002", "2023-01-06", ro_type="LONG_CELL")]
    src = zipfile.ZipFile(io.BytesIO(xlsx_bytes({"Sheet1": rows})))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename).replace(b"LONG_CELL", b"x" * 40_000)
            dst.writestr(info, body)
    return out.getvalue()


@entry("60_null_text.csv")
def _():
    # NaN / NULL text is read as empty and flagged; the accounting marks - and — are
    # empty cells (not flagged)
    header = [*ORDERS, "进厂里程", "结算日期", "付费方式"]
    rows = [header,
            [*order_row("R001", "2023-01-05"), "5100", "2023-01-05", "自费"],
            [*order_row("R002", "2023-02-05", labor="NaN", total="200"), "6000", "", ""],
            [*order_row("R003", "2023-03-05", total="NULL"), "None", "NaT", "N/A"],
            [*order_row("R004", "2023-04-05", labor="nan"), "", "", ""],  # total 300 != 200
            [*order_row("R005", "2023-05-05", labor="-", total="200"), "—", "", ""]]
    return csv_text(rows).encode("gbk")


def build(root: Path = HERE) -> dict[Path, bytes]:
    """Every corpus file as ``{path: bytes}`` (nothing written)."""
    out: dict[Path, bytes] = {}
    for name, fn in CORPUS.items():
        data = fn()
        if isinstance(data, dict):
            for sub, body in data.items():
                out[root / name / sub] = body
        else:
            out[root / name] = data
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare the files on disk with what would be written")
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        differ = [p for p, b in files.items() if not p.exists() or p.read_bytes() != b]
        for p in differ:
            print(f"differs: {p.relative_to(HERE)}")
        print(f"{len(files) - len(differ)} of {len(files)} files identical")
        return 1 if differ else 0
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(f"wrote {len(files)} files in {len(CORPUS)} corpus entries under {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Bounded input (issue 17, parts 3 and 5): crm_analysis.io.load refuses or marks what no
real DMS export holds, and never takes it silently.

One test per defect found by the probe of issue 17:

- a workbook that unpacks to gigabytes (one cell of 1 GB in a 1 MB file) is refused
  before openpyxl opens it, in little memory; so is a member packed like a zip bomb and a
  cell longer than Excel's 32,767 characters (while a legitimate 32,767-character cell of
  Chinese text loads);
- a date after tomorrow (no ``as_of``) is ``future_date`` and does not become the as-of
  date;
- amounts over 1,000,000 yuan and mileages over 10,000,000 km are quarantined;
  NaN / NULL text is flagged, never taken for an empty cell silently;
- order numbers that differ only in case are one order number (merged or set aside),
  customer and store ids so written are flagged;
- bare-CR line ends are read as lines; a file cut in the middle of a character is an
  error naming the byte (not "column not found");
- an unsafe store id (``../../tmp/evil``) in the data or the ``store_id`` argument is a
  DataError naming file, column and row;
- the quarantine pseudonymizes service advisors (employees) like every other person.

Every load also checks ``read = accepted + duplicates + quarantined`` (``LoadResult.check``,
asserted again here). The files are a few rows in ``tmp_path``; the zip bombs are built
from one compressed block repeated (no gigabyte is ever compressed or unpacked).
"""

from __future__ import annotations

import struct
import sys
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from crm_analysis.io import DataError, LoadResult, load
from crm_analysis.io.load import MAX_CELL_CHARS, MAX_COMPRESSION_RATIO, MAX_WORKBOOK_BYTES
from crm_analysis.io.normalize import MAX_MILEAGE_KM, MAX_ORDER_AMOUNT
from crm_analysis.privacy import pseudonymize

KEY = "bounded-input-key"
LOAD_MODULE = sys.modules["crm_analysis.io.load"]
V1, V2 = "LSVAA4180E2000001", "LSVAA4180E2000002"
HEADER = ["工单号", "门店代码", "进厂日期", "车架号", "客户编号", "服务顾问", "业务类型",
          "进厂里程", "工时费", "材料费", "合计金额"]


def row(ro: str, date: str, *, store: str = "S1", vin: str = V1, cust: str = "C1",
        advisor: str = "王强", km: str = "5000", labor: str = "100", parts: str = "200",
        total: str = "300") -> list[str]:
    return [ro, store, date, vin, cust, advisor, "保养", km, labor, parts, total]


def write_csv(path: Path, rows: list[list[str]], *, header=HEADER, newline: str = "\n",
              encoding: str = "utf-8") -> Path:
    text = newline.join(",".join(r) for r in [header, *rows]) + newline
    path.write_bytes(text.encode(encoding))
    return path


def accounted(res: LoadResult) -> LoadResult:
    """The accounting identity on every report row, and a valid dataset."""
    res.check()
    r = res.report
    assert (r["read"] == r["accepted"] + r["duplicates"] + r["quarantined"]).all()
    assert int(r["quarantined"].sum()) == len(res.quarantine)
    report = res.dataset.validate()
    assert report.ok, report
    return res


def reasons(res: LoadResult) -> dict[int, str]:
    return dict(zip(res.quarantine["row"].astype(int), res.quarantine["reason"], strict=True))


def flags(res: LoadResult, reason: str) -> pd.DataFrame:
    return res.flags[res.flags["reason"] == reason]


# ---------------------------------------------------------------------------------------
# Workbooks: refused before openpyxl opens them
# ---------------------------------------------------------------------------------------

_SHEET_HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
               b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>')
_SHEET_TAIL = b"</t></is></c></row></sheetData></worksheet>"
_SMALL_PARTS = {
    "[Content_Types].xml": (
        b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org'
        b'/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.'
        b'openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="'
        b'application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName'
        b'="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
        b'officedocument.spreadsheetml.worksheet+xml"/></Types>'),
    "_rels/.rels": (
        b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        b'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
        b'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        b'Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        b'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats'
        b'.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/'
        b'officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" '
        b'r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        b'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
        b'schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        b'Target="worksheets/sheet1.xml"/></Relationships>'),
}


def _deflate_repeated(head: bytes, block: bytes, times: int, tail: bytes
                      ) -> tuple[bytes, int, int]:
    """Raw deflate of ``head + block * times + tail``, its CRC-32 and length, without
    compressing ``block`` more than once: after a full flush the compressor forgets what
    came before, so each repetition compresses to the same bytes."""
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = [first.compress(head) + first.flush(zlib.Z_FULL_FLUSH)]
    rep = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = rep.compress(block) + rep.flush(zlib.Z_FULL_FLUSH)
    last = zlib.compressobj(9, zlib.DEFLATED, -15)
    data += [packed * times, last.compress(tail) + last.flush()]
    crc = zlib.crc32(head)
    for _ in range(times):
        crc = zlib.crc32(block, crc)
    return b"".join(data), zlib.crc32(tail, crc), len(head) + len(block) * times + len(tail)


def bomb_xlsx(path: Path, cell_bytes: int, block: int = 1 << 20) -> Path:
    """A well-formed .xlsx whose only cell holds ``cell_bytes`` letters ``A`` (a multiple
    of ``block``): a few kB on disk. Zip written by hand (stored small parts, one deflated
    sheet with its true CRC and sizes), so that zipfile and openpyxl read it as is."""
    assert cell_bytes % block == 0
    sheet = _deflate_repeated(_SHEET_HEAD, b"A" * block, cell_bytes // block, _SHEET_TAIL)
    parts = [(name, body, 0, zlib.crc32(body), len(body)) for name, body in
             _SMALL_PARTS.items()] + [("xl/worksheets/sheet1.xml", sheet[0], 8, sheet[1],
                                       sheet[2])]
    out, central = bytearray(), bytearray()
    for name, body, method, crc, size in parts:
        raw = name.encode()
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21,
                               crc, len(body), size, len(raw), 0, 0, 0, 0, 0, len(out)) + raw
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(body),
                           size, len(raw), 0) + raw + body
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(parts), len(parts),
                                 len(central), len(out), 0)
    path.write_bytes(bytes(out))
    return path


@pytest.fixture
def no_openpyxl(monkeypatch):
    """openpyxl must not be asked to open the workbook."""
    def refuse(*args, **kwargs):
        raise AssertionError("openpyxl.load_workbook was called on a refused workbook")

    monkeypatch.setattr(openpyxl, "load_workbook", refuse)


def _refused(path: Path) -> tuple[str, int]:
    """The DataError of loading ``path`` and the peak Python memory while it ran."""
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as info:
            load(path, store_id="S1", key=KEY)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return str(info.value), peak


def test_gigabyte_cell_workbook_is_refused_before_opening(tmp_path, no_openpyxl):
    # the probe: a ~1 MB .xlsx with one 1 GB cell took 5.25 GB and 103 s
    path = bomb_xlsx(tmp_path / "bomb.xlsx", 1 << 30)
    assert path.stat().st_size < 2_000_000
    with zipfile.ZipFile(path) as zf:  # a real bomb: zipfile would unpack 1 GiB
        assert zf.getinfo("xl/worksheets/sheet1.xml").file_size > (1 << 30)
        with zf.open("xl/worksheets/sheet1.xml") as fh:
            assert fh.read(len(_SHEET_HEAD) + 5) == _SHEET_HEAD + b"AAAAA"
    message, peak = _refused(path)
    assert str(path) in message
    assert "unpacks to 1,074 MB" in message and "limit of 200 MB" in message
    assert peak < 20_000_000  # only the zip directory was read


def test_zip_bomb_under_the_size_limit_is_refused_by_its_ratio(tmp_path, no_openpyxl):
    path = bomb_xlsx(tmp_path / "ratio.xlsx", 150 << 20)
    assert 150 << 20 < MAX_WORKBOOK_BYTES
    message, peak = _refused(path)
    assert "xl/worksheets/sheet1.xml" in message and "zip bomb" in message
    assert f"more than {MAX_COMPRESSION_RATIO} times its packed size" in message
    assert peak < 20_000_000


def test_cell_longer_than_excel_allows_is_refused_while_streaming(tmp_path, no_openpyxl):
    # 640 KiB in one cell: under the size limit and too small for the ratio check (1 MB),
    # over Excel's cell limit
    path = bomb_xlsx(tmp_path / "long.xlsx", 640 << 10, block=64 << 10)
    message, peak = _refused(path)
    assert f"more than {MAX_CELL_CHARS:,} characters" in message
    assert "xl/worksheets/sheet1.xml" in message
    assert peak < 30_000_000  # read in 4 MB pieces, never held whole


def test_longest_legal_cell_of_chinese_text_loads(tmp_path):
    # 32,767 CJK characters are 98,301 bytes: the byte scan cannot clear them, the exact
    # (expat) count must, and the workbook loads
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([*HEADER, "备注"])
    ws.append([*row("R001", "2023-01-05"), "保" * MAX_CELL_CHARS])
    ws.append([*row("R002", "2023-02-05"), "短"])
    wb.save(tmp_path / "ok.xlsx")
    res = accounted(load(tmp_path / "ok.xlsx", key=KEY))
    assert sorted(res.dataset.repair_orders["ro_id"]) == ["R001", "R002"]
    assert res.report["unmatched"].iat[0] == "备注"


# ---------------------------------------------------------------------------------------
# Dates in the future
# ---------------------------------------------------------------------------------------


def test_future_date_is_quarantined_and_not_the_as_of_date(tmp_path):
    path = write_csv(tmp_path / "f.csv", [row("R001", "2023-01-05"), row("R002", "2023-02-05"),
                                          row("R003", "2100-01-02")])
    res = accounted(load(path, key=KEY))
    assert reasons(res) == {4: "future_date"}
    assert res.dataset.meta["as_of"] == "2023-02-05"  # from the accepted rows, not 2100
    assert "2100-01-02" in res.quarantine["message"].iat[0]
    assert res.report["future_date"].iat[0] == 1
    # with the export date given, the as_of rule decides (no clock involved)
    res = accounted(load(path, key=KEY, as_of="2023-03-31"))
    assert reasons(res) == {4: "order_after_as_of"}


def test_future_means_after_tomorrow(tmp_path, monkeypatch):
    import datetime as dt

    monkeypatch.setattr(LOAD_MODULE, "_today", lambda: dt.date(2024, 6, 30))
    path = write_csv(tmp_path / "f.csv", [row("R001", "2024-06-30"), row("R002", "2024-07-01"),
                                          row("R003", "2024-07-02")])
    res = accounted(load(path, key=KEY))
    assert reasons(res) == {4: "future_date"}  # tomorrow (time zones) is still allowed
    assert res.dataset.meta["as_of"] == "2024-07-01"


# ---------------------------------------------------------------------------------------
# Absurd amounts and mileage, NaN text
# ---------------------------------------------------------------------------------------


def test_absurd_amounts_and_mileage_are_quarantined(tmp_path):
    assert (MAX_ORDER_AMOUNT, MAX_MILEAGE_KM) == (1_000_000.0, 10_000_000.0)
    rows = [row("R001", "2023-01-05", labor="1000000", parts="0", total="1000000"),
            row("R002", "2023-01-06", labor="1.2e9", total="1200000200"),
            row("R003", "2023-01-07", labor="0", parts="1000000.01", total="1000000.01"),
            row("R004", "2023-01-08", km="10000000"),
            row("R005", "2023-01-09", km="1.2e9"),
            row("R006", "2023-01-10", km="3000000")]  # high, but a car can: kept
    res = accounted(load(write_csv(tmp_path / "a.csv", rows), key=KEY))
    assert reasons(res) == {3: "implausible_amount", 4: "implausible_amount",
                            6: "implausible_mileage"}
    q = res.quarantine.set_index("row")
    assert "labor_amount 1,200,000,000.00" in q.loc[3, "message"]
    assert "1,000,000 yuan" in q.loc[3, "message"]
    assert "1,200,000,000 is more than 10,000,000 km" in q.loc[6, "message"]
    kept = res.dataset.repair_orders.set_index("ro_id")
    assert kept.loc["R001", "total_amount"] == 1_000_000
    assert kept.loc["R006", "mileage_km"] == 3_000_000


def test_nan_text_is_flagged_never_taken_silently(tmp_path):
    header = [*HEADER, "结算日期", "付费方式"]
    rows = [[*row("R001", "2023-01-05"), "2023-01-05", "自费"],
            [*row("R002", "2023-02-05", km="NaN", labor="nan", total="200"), "", ""],
            [*row("R003", "2023-03-05", total="NULL"), "NaT", "None"],
            [*row("R004", "2023-04-05", labor="NaN"), "", ""],  # total 300, parts 200
            [*row("R005", "2023-05-05", km="-", labor="—", total="200"), "", ""]]
    res = accounted(load(write_csv(tmp_path / "n.csv", rows, header=header), key=KEY))
    # NaN labour is not taken for 0 when the total says 300: the row is set aside
    assert reasons(res) == {5: "total_mismatch"}
    flagged = flags(res, "null_text").set_index("row")
    assert sorted(flagged.index) == [3, 4]  # not the accounting marks of row 6
    assert flagged.loc[3, "message"].startswith("mileage_km, labor_amount held NaN")
    assert "total_amount" in flagged.loc[4, "message"] and "payer" in flagged.loc[4, "message"]
    o = res.dataset.repair_orders.set_index("ro_id")
    assert pd.isna(o.loc["R002", "mileage_km"])  # missing, not 0
    assert o.loc["R003", "total_amount"] == 300  # a missing total is the sum of its parts
    assert pd.isna(o.loc["R003", "close_date"])


# ---------------------------------------------------------------------------------------
# Ids that differ only in case
# ---------------------------------------------------------------------------------------


def test_order_numbers_differing_only_in_case_are_one_order(tmp_path):
    rows = [row("RO001", "2023-01-05"), row("ro001", "2023-01-05"),
            row("RO002", "2023-02-05"), row("Ro002", "2023-02-06")]
    res = accounted(load(write_csv(tmp_path / "c.csv", rows), key=KEY))
    assert list(res.dataset.repair_orders["ro_id"]) == ["RO001"]  # the first spelling read
    assert res.report["duplicates"].iat[0] == 1
    assert reasons(res) == {4: "duplicate_case", 5: "duplicate_case"}
    assert "'RO002', 'Ro002' differ only in upper / lower case" in \
        res.quarantine["message"].iat[0]
    f = flags(res, "duplicate_case")
    assert f[["row", "key"]].values.tolist() == [[2, "RO001"]]
    assert "'RO001', 'ro001'" in f["message"].iat[0]


def test_customer_and_store_ids_differing_in_case_are_flagged(tmp_path):
    rows = [row("R001", "2023-01-05"), row("R002", "2023-02-05", cust="c1", vin=V2),
            row("R003", "2023-03-05", store="s1", vin=V2, cust="c1")]
    res = accounted(load(write_csv(tmp_path / "c.csv", rows), key=KEY))
    assert len(res.quarantine) == 0  # kept as read: two customers, two stores
    assert set(res.dataset.customers["customer_id"]) == {"C1", "c1"}
    assert set(res.dataset.stores["store_id"]) == {"S1", "s1"}
    f = flags(res, "duplicate_case").set_index("row")
    assert "customer_id 'c1' differs only in upper / lower case from 'C1'" in f.loc[3, "message"]
    assert "store_id 's1' differs only in upper / lower case from 'S1'" in f.loc[4, "message"]


def test_case_folding_is_deterministic(tmp_path):
    rows = [row("rx9", "2023-01-05"), row("RX9", "2023-01-05"), row("R2", "2023-01-06")]
    a = load(write_csv(tmp_path / "a.csv", rows), key=KEY)
    b = load(write_csv(tmp_path / "b.csv", rows), key=KEY)
    pd.testing.assert_frame_equal(a.dataset.repair_orders, b.dataset.repair_orders)
    assert list(a.dataset.repair_orders["ro_id"]) == ["rx9", "R2"]


# ---------------------------------------------------------------------------------------
# Line ends and cut-off text
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\r", "mixed"])
def test_bare_cr_line_ends_are_read_as_lines(tmp_path, newline):
    rows = [row("R001", "2023-01-05"), row("R002", "2023-02-05", vin="BAD"),
            row("R003", "2023-03-05")]
    want = accounted(load(write_csv(tmp_path / "lf.csv", rows), key=KEY))
    if newline == "mixed":  # a file pasted together from CR LF, CR and LF pieces
        text = "\r\n".join(",".join(r) for r in [HEADER, rows[0]]) + "\r" + \
            ",".join(rows[1]) + "\n" + ",".join(rows[2]) + "\r"
        path = tmp_path / "cr.csv"
        path.write_bytes(text.encode("utf-8"))
    else:
        path = write_csv(tmp_path / "cr.csv", rows, newline="\r")
    got = accounted(load(path, key=KEY))
    pd.testing.assert_frame_equal(got.dataset.repair_orders, want.dataset.repair_orders)
    assert reasons(got) == reasons(want) == {3: "invalid_vin"}


@pytest.mark.parametrize(("encoding", "name"), [("utf-8", "UTF-8"), ("gb18030", "GB18030"),
                                                ("utf-16", "UTF-16")])
def test_text_cut_in_a_character_names_the_byte(tmp_path, encoding, name):
    rows = [row("R001", "2023-01-05"), row("R002", "2023-02-05", advisor="李四")]
    data = write_csv(tmp_path / "x.csv", rows, encoding=encoding).read_bytes()
    char = "四".encode("utf-16-le" if encoding == "utf-16" else encoding)
    cut = data[:data.rfind(char) + 1]  # inside the last Chinese character
    path = tmp_path / "cut.csv"
    path.write_bytes(cut)
    with pytest.raises(DataError) as info:
        load(path, key=KEY)
    message = str(info.value)
    assert str(path) in message and f"not valid {name} text at byte {len(cut) - 1:,}" in message
    assert "Was the file cut off" in message
    assert "column" not in message and "header" not in message


# ---------------------------------------------------------------------------------------
# Store ids become folder names (part 3)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["../../tmp/evil", "a/b", "/etc", "CON", "..", ".hidden"])
def test_unsafe_store_id_in_the_data_is_an_error_naming_file_column_row(tmp_path, store):
    rows = [row("R001", "2023-01-05"), row("R002", "2023-01-06", store=store)]
    path = write_csv(tmp_path / "s.csv", rows)
    with pytest.raises(DataError) as info:
        load(path, key=KEY)
    err = info.value
    assert f"{path}, column '门店代码', row 3: store id {store!r}" in str(err)
    assert "cannot be used as a folder or file name" in str(err)
    assert (err.file, err.columns, err.rows) == (str(path), ["门店代码"], [3])


def test_unsafe_store_id_argument_is_refused_before_reading(tmp_path):
    path = write_csv(tmp_path / "s.csv", [row("R001", "2023-01-05")],
                     header=[h if h != "门店代码" else "备注" for h in HEADER])
    for bad in ("../x", {"s.csv": "../x"}):
        with pytest.raises(DataError, match="store_id argument: store id '../x' cannot be"):
            load(path, key=KEY, store_id=bad)
    res = accounted(load(path, key=KEY, store_id="S-01"))
    assert res.dataset.store_ids == ["S-01"]


# ---------------------------------------------------------------------------------------
# The quarantine pseudonymizes employees too
# ---------------------------------------------------------------------------------------


def test_quarantine_pseudonymizes_advisor_names(tmp_path):
    rows = [row("R001", "2023-01-05"), row("R002", "2023-01-06", vin="BAD", advisor="赵六")]
    path = write_csv(tmp_path / "q.csv", rows)
    res = accounted(load(path, key=KEY))
    raw = res.quarantine["raw"].iat[0]
    assert raw["服务顾问"] == pseudonymize("赵六", KEY)
    assert "赵六" not in res.quarantine.to_csv() + res.flags.to_csv()
    # the dataset keeps advisor names (advisor analyses); keep_pii keeps them everywhere
    assert list(res.dataset.repair_orders["advisor"]) == ["王强"]
    res = accounted(load(path, key=KEY, keep_pii=True))
    assert res.quarantine["raw"].iat[0]["服务顾问"] == "赵六"

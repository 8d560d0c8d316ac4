"""Tests of the messy DMS export writer (``crm_analysis.synth.dms``).

The files are read back independently of the package's loader: CSV with pandas in the
encoding a user would try (GBK, UTF-8 with BOM) and ``.xlsx`` with openpyxl, with a small
reference parser for the date and amount styles. Every row the manifest lists must show
its fault, every row it does not list must be clean and equal the canonical data, and the
header and value labels must belong to the vocabulary of the issue 3 contract (copied
here, so that a drift of ``HEADERS`` / ``VALUE_LABELS`` away from it fails).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import numpy as np
import openpyxl
import pandas as pd
import pytest

from crm_analysis.schema import example_dataset
from crm_analysis.synth import generate
from crm_analysis.synth.dms import (
    FAULT_KINDS,
    HEADERS,
    OUTCOMES,
    SHEET_NAME,
    VALUE_LABELS,
    ExportManifest,
    write_dms_export,
)

AS_OF = pd.Timestamp("2024-06-30")
RATE = 0.02
EPOCH = pd.Timestamp("1899-12-30")
VIN_RE = re.compile(r"[A-HJ-NPR-Z0-9]{17}")
AMOUNTS = ["labor_amount", "parts_amount", "other_amount", "total_amount"]

# Header aliases and value vocabularies of the issue 3 contract (notes/issue3_contract.md).
CONTRACT_HEADERS = {
    "ro_id": "工单号 工单编号 维修工单号 派工单号 RO号 RONo repairorder",
    "open_date": "进厂日期 接待日期 开单日期 进站日期 opendate",
    "close_date": "结算日期 完工日期 出厂日期 closedate",
    "store_id": "门店 门店编码 门店代码 经销商代码 store storecode",
    "store_name": "门店名称 storename",
    "customer_id": "客户编号 客户ID 客户代码 customerid",
    "name": "客户名称 客户姓名 车主姓名 车主 customername",
    "phone": "客户电话 手机 手机号 联系电话 电话 phone mobile",
    "vin": "车架号 VIN码 VIN 底盘号 车辆识别代码",
    "plate": "车牌号 车牌 牌照号 plate",
    "model": "车型 品牌车型 车型名称 model",
    "sale_date": "购车日期 销售日期 开票日期 购买日期 saledate",
    "sold_here": "自销/他销 是否本店销售 销售类型 soldhere",
    "mileage_km": "进厂里程 行驶里程 里程 里程数 mileage",
    "ro_type": "业务类型 工单类型 维修类型 维修性质 rotype",
    "payer": "付费方式 结算方式 付款方 支付方 payer",
    "labor_amount": "工时费 人工费 工时费用 labor",
    "parts_amount": "材料费 配件费 零件费 parts",
    "other_amount": "外包费用 其他费用 附加费 other",
    "total_amount": "合计金额 结算金额 实收 实收金额 总金额 total",
    "advisor": "服务顾问 接待员 SA",
    "customer_type": "客户类型",
    "occupation": "职业",
    "region": "区域 地区",
    "grade": "车辆档次",
    "usage": "车辆用途 使用性质",
    "color": "颜色 车身颜色",
    "labor_cost": "工时成本",
    "parts_cost": "配件成本 材料成本",
}
CONTRACT_VALUES = {
    "ro_type": {
        "maintenance": "保养 首保 定保 常规保养", "repair": "一般维修 机修 维修 电器维修",
        "body_paint": "钣喷 钣金喷漆 钣金 喷漆 事故车 事故", "warranty": "保修 索赔 三包 质保",
        "detailing": "美容 洗美 精品 装潢", "other": "其他 内部",
    },
    "payer": {"customer": "自费 客户 现金", "warranty": "保修 索赔 厂家",
              "insurance": "保险 保险公司", "internal": "内部"},
    "sold_here": {True: "自销 本店 是 Y true", False: "他销 外店 否 N false"},
    "customer_type": {"individual": "个人 私人", "company": "公司 单位 企业",
                      "government": "政府 机关"},
    "usage": {"private": "私家车 私人 非营运", "company": "公务 公司", "ride_hailing": "网约车",
              "taxi": "出租车 出租", "government": "政府"},
    "grade": {"economy": "经济型", "mid": "中级 中档", "premium": "豪华 高档"},
}


def norm_header(text: str) -> str:
    text = unicodedata.normalize("NFKC", str(text)).strip().lower()
    return re.sub(r"[\s()（）]", "", text)


def parse_date(v) -> pd.Timestamp | None:
    """Reference parser of the written date styles; ``None`` when unparseable."""
    if v is None:
        return pd.NaT
    if isinstance(v, dt.datetime):
        return pd.Timestamp(v).normalize()
    if isinstance(v, int):
        return EPOCH + pd.Timedelta(days=v)
    patterns = (
        r"(\d{4})-(\d{2})-(\d{2})(?: \d{2}:\d{2})?",
        r"(\d{4})/(\d{1,2})/(\d{1,2})(?: \d{1,2}:\d{2}:\d{2})?",
        r"(\d{4})\.(\d{1,2})\.(\d{1,2})",
        r"(\d{4})年(\d{1,2})月(\d{1,2})日",
        r"(\d{4})(\d{2})(\d{2})",
    )
    for p in patterns:
        m = re.fullmatch(p, v)
        if m:
            try:
                return pd.Timestamp(*map(int, m.groups()))
            except ValueError:
                return None
    return None


def parse_amount(v) -> float:
    if v is None:
        return np.nan
    if isinstance(v, int | float):
        return float(v)
    return float(v.replace("￥", "").replace("¥", "").replace(",", ""))


@pytest.fixture(scope="module")
def group():
    return generate(n_stores=2, seed=11, start="2021-01-01", as_of="2024-06-30", scale=0.05)


@pytest.fixture(scope="module")
def export(group, tmp_path_factory):
    out = tmp_path_factory.mktemp("dms")
    manifest = write_dms_export(group, out, fault_rate=RATE, seed=3, months_per_file=12)
    return manifest, read_back(manifest)


def read_back(manifest: ExportManifest) -> pd.DataFrame:
    """Every data row of every file: file, sheet, row (1-based) and canonical columns."""
    frames = []
    for path in manifest.files:
        names = manifest.headers[path.name]
        if path.suffix == ".csv":
            enc = "utf-8-sig" if path.read_bytes().startswith(b"\xef\xbb\xbf") else "gbk"
            df = pd.read_csv(path, encoding=enc, dtype=str, keep_default_na=False)
            df = df.astype(object).where(df != "", None)
            df.insert(0, "_row", np.arange(len(df)) + 2)
            df.insert(0, "_sheet", None)
        else:
            wb = openpyxl.load_workbook(path, read_only=True)
            assert wb.sheetnames == [SHEET_NAME]
            rows = list(wb[SHEET_NAME].iter_rows(values_only=True))
            wb.close()
            assert rows[0][0] == "维修工单明细表" and all(v is None for v in rows[0][1:])
            assert rows[1][0].startswith("门店")
            header, body, totals = rows[2], rows[3:-1], rows[-1]
            df = pd.DataFrame(body, columns=list(header), dtype=object)
            df = df.astype(object).where(df.notna(), None)
            df.insert(0, "_row", np.arange(len(df)) + 4)
            df.insert(0, "_sheet", SHEET_NAME)
            # the totals row sums the amount columns of every data row
            assert totals[0] == "合计"
            for c in AMOUNTS:
                j = list(header).index(next(h for h, cc in names.items() if cc == c))
                expected = sum(parse_amount(v) for v in df[header[j]])
                assert totals[j] == pytest.approx(expected, abs=0.01)
        assert list(df.columns[2:]) == list(names), path.name
        df = df.rename(columns=names)
        df.insert(0, "_file", path.name)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def test_fault_counts_follow_the_rate(group, export):
    manifest, rows = export
    n = len(group.repair_orders)
    assert manifest.n_orders == n
    counts = manifest.fault_counts()
    assert list(counts.index) == list(FAULT_KINDS)
    assert (counts == round(RATE * n)).all(), counts
    assert abs(counts.sum() / n - RATE * len(FAULT_KINDS)) < 1 / n * len(FAULT_KINDS)
    # every order gets at most one fault; faulty orders are not clean
    per_order = manifest.faults.dropna(subset=["ro_id"]).groupby("ro_id")["kind"].nunique()
    assert (per_order == 1).all()
    assert not set(per_order.index) & set(manifest.clean_ro_ids)
    assert set(per_order.index) | set(manifest.clean_ro_ids) == set(group.repair_orders["ro_id"])
    # one data row per order plus one copy per duplicate fault
    extra = counts["exact_duplicate"] + counts["duplicate_order_conflict"]
    assert len(rows) == n + extra == manifest.layout["data_rows"].sum()
    assert manifest.layout["orders"].sum() == n


def test_files_layout_and_encodings(export):
    manifest, _ = export
    lay = manifest.layout
    assert [p.name for p in manifest.files] == lay["file"].tolist()
    assert lay["format"].tolist() == ["csv", "xlsx", "csv", "xlsx"]
    assert lay["first_month"].tolist() == ["2021-01", "2022-01", "2023-01", "2024-01"]
    assert lay["encoding"].tolist() == ["gbk", None, "utf-8-sig", None]
    gbk, bom = manifest.files[0].read_bytes(), manifest.files[2].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        gbk.decode("utf-8")
    assert "门店名称" in gbk.decode("gbk").split("\r\n")[0]
    assert bom.startswith(b"\xef\xbb\xbf")
    # one totals row per workbook, listed on the row after the last order
    summary = manifest.faults[manifest.faults["kind"] == "summary_row"]
    xlsx = lay[lay["format"] == "xlsx"]
    assert summary["file"].tolist() == xlsx["file"].tolist()
    after_last = (xlsx["first_data_row"] + xlsx["data_rows"]).to_numpy()
    assert (summary["row"].to_numpy() == after_last).all()
    assert summary["ro_id"].isna().all()


def test_headers_and_values_use_the_contract_vocabulary(export):
    manifest, rows = export
    for canonical, aliases in HEADERS.items():
        allowed = {norm_header(a) for a in CONTRACT_HEADERS[canonical].split()}
        assert norm_header(aliases[0]) == norm_header(CONTRACT_HEADERS[canonical].split()[0])
        assert {norm_header(a) for a in aliases} <= allowed, canonical
    all_aliases = [norm_header(a) for al in HEADERS.values() for a in al]
    assert len(all_aliases) == len(set(all_aliases))
    variants = 0
    for name, used in manifest.headers.items():
        for header, canonical in used.items():
            assert norm_header(header) in {norm_header(a) for a in HEADERS[canonical]}
            variants += header != HEADERS[canonical][0]
        assert len({norm_header(h) for h in used}) == len(used), name
    assert variants >= 3 * len(manifest.files)
    for fld, codes in VALUE_LABELS.items():
        for code, labels in codes.items():
            assert set(labels) <= set(CONTRACT_VALUES[fld][code].split()), (fld, code)
    # labels on the rows: only vocabulary, except the unknown_ro_type rows
    listed = manifest.faults.set_index(["file", "row"])["kind"]
    for fld, codes in VALUE_LABELS.items():
        labels = {lab for labs in codes.values() for lab in labs}
        values = rows.set_index(["_file", "_row"])[fld].dropna()
        odd = values[~values.isin(labels)]
        expected = "unknown_ro_type" if fld == "ro_type" else None
        assert all(listed.get(key) == expected for key in odd.index), (fld, odd.head())
    # PII is written raw
    assert rows["name"].dropna().str.contains(r"[\u4e00-\u9fff]").any()


def test_listed_rows_show_their_fault(export, group):
    manifest, rows = export
    by_key = rows.set_index(["_file", "_row"])
    faults = manifest.faults
    assert set(faults["kind"]) == set(FAULT_KINDS) | {"summary_row"}
    assert (faults["outcome"] == faults["kind"].map(OUTCOMES)).all()
    vehicles = group.vehicles.set_index("vin")
    for f in faults[faults["kind"] != "summary_row"].itertuples():
        r = by_key.loc[(f.file, f.row)]
        assert f.sheet == r["_sheet"]
        if f.kind not in ("missing_key",):
            assert r["ro_id"] == f.ro_id
        if f.kind == "unparseable_date":
            assert parse_date(r["open_date"]) is None, r["open_date"]
        elif f.kind == "negative_amount":
            assert parse_amount(r["total_amount"]) < 0
        elif f.kind == "missing_key":
            assert r[f.column] is None and f.column in ("ro_id", "vin")
        elif f.kind == "duplicate_order_conflict":
            same = rows[(rows["_file"] == f.file) & (rows["ro_id"] == f.ro_id)]
            assert len(same) == 2
            assert parse_amount(same["total_amount"].iloc[0]) != parse_amount(
                same["total_amount"].iloc[1])
            assert set(same["_row"]) == set(faults.loc[faults["ro_id"] == f.ro_id, "row"])
        elif f.kind == "exact_duplicate":
            earlier = rows[(rows["_file"] == f.file) & (rows["ro_id"] == f.ro_id)
                           & (rows["_row"] < f.row)]
            assert len(earlier) == 1
            a = earlier.iloc[0].drop(["_file", "_row"])
            assert a.tolist() == r.tolist()
        elif f.kind == "order_before_sale":
            sale = vehicles.at[r["vin"], "sale_date"]
            assert parse_date(r["open_date"]) < sale == parse_date(r["sale_date"])
            assert r["mileage_km"] is None
        elif f.kind == "order_after_as_of":
            assert parse_date(r["open_date"]) > AS_OF and r["mileage_km"] is None
        elif f.kind == "invalid_vin":
            assert not VIN_RE.fullmatch(r["vin"])
        elif f.kind == "mileage_backwards":
            same_vin = rows[(rows["vin"] == r["vin"]) & rows["ro_id"].isin(manifest.clean_ro_ids)]
            opened = same_vin["open_date"].map(parse_date)
            before = same_vin[opened <= parse_date(r["open_date"])]
            assert len(before) >= 1
            assert float(r["mileage_km"]) < before["mileage_km"].astype(float).min()
        elif f.kind == "unknown_ro_type":
            assert r["ro_type"] not in {x for v in CONTRACT_VALUES["ro_type"].values()
                                        for x in v.split()}
        else:  # pragma: no cover
            raise AssertionError(f.kind)


def test_unlisted_rows_are_clean_and_equal_the_data(export, group):
    manifest, rows = export
    listed = set(zip(manifest.faults["file"], manifest.faults["row"], strict=True))
    keys = list(zip(rows["_file"], rows["_row"], strict=True))
    clean = rows[[k not in listed for k in keys]].copy()
    # unlisted rows: the clean orders and the first copy of each exact duplicate
    exact = manifest.faults.loc[manifest.faults["kind"] == "exact_duplicate", "ro_id"]
    assert clean["ro_id"].is_unique
    assert set(clean["ro_id"]) == set(manifest.clean_ro_ids) | set(exact)
    accepted = set(manifest.accepted_ro_ids)
    assert accepted == set(manifest.clean_ro_ids) | set(
        manifest.faults.loc[manifest.faults["kind"].isin(
            ["exact_duplicate", "mileage_backwards"]), "ro_id"])

    reverse = {fld: {lab: code for code, labs in codes.items() for lab in labs}
               for fld, codes in VALUE_LABELS.items()}
    got = pd.DataFrame({"ro_id": clean["ro_id"], "store_id": clean["store_id"]})
    for c in ("open_date", "close_date", "sale_date"):
        got[c] = pd.to_datetime(clean[c].map(parse_date))
    for c in AMOUNTS + ["labor_cost", "parts_cost", "mileage_km"]:
        got[c] = clean[c].map(parse_amount).astype(float)
    for fld, rev in reverse.items():
        got[fld] = clean[fld].map(rev)
    for c in ("vin", "customer_id", "advisor", "model", "color", "plate", "name", "phone",
              "occupation", "region"):
        got[c] = clean[c]
    assert got["vin"].map(lambda v: bool(VIN_RE.fullmatch(v))).all()
    assert (got[AMOUNTS] >= 0).all().all()
    assert (got["open_date"] <= AS_OF).all()

    ds = group
    veh = ds.vehicles.drop(columns=["customer_id", "store_id"])
    want = ds.repair_orders.merge(veh, on="vin").merge(ds.customers, on="customer_id")
    want = want.set_index("ro_id").loc[got["ro_id"]].reset_index()
    got = got.reset_index(drop=True)
    want["sold_here"] = want["sold_here"].astype(object)
    got["sold_here"] = got["sold_here"].astype(object)
    pd.testing.assert_frame_equal(got, want[got.columns], check_dtype=False)
    # accepted data keeps the mileage of each VIN non-decreasing, flagged rows apart
    ok = got.sort_values(["vin", "open_date", "ro_id"])
    assert (ok.groupby("vin")["mileage_km"].diff().dropna() >= 0).all()


def test_deterministic_by_seed(group, tmp_path):
    kw = dict(fault_rate=0.01, formats=("csv",), months_per_file=24)
    a = write_dms_export(group, tmp_path / "a", seed=5, **kw)
    b = write_dms_export(group, tmp_path / "b", seed=5, **kw)
    c = write_dms_export(group, tmp_path / "c", seed=6, **kw)
    assert [p.name for p in a.files] == [p.name for p in b.files]
    for pa_, pb_ in zip(a.files, b.files, strict=True):
        assert pa_.read_bytes() == pb_.read_bytes()
    pd.testing.assert_frame_equal(a.faults, b.faults)
    assert a.headers == b.headers
    assert not a.faults.equals(c.faults)
    assert a.files[0].read_bytes() != c.files[0].read_bytes()


def test_xlsx_deterministic_cells(tmp_path):
    ds = example_dataset()
    kw = dict(fault_rate=0, formats=("xlsx",), seed=2)
    a = write_dms_export(ds, tmp_path / "a", **kw)
    b = write_dms_export(ds, tmp_path / "b", **kw)
    cells = [list(openpyxl.load_workbook(m.files[0]).active.values) for m in (a, b)]
    assert cells[0] == cells[1]
    assert len(cells[0]) == 3 + 5 + 1


def test_single_store_export_and_json_round_trip(tmp_path):
    ds = example_dataset()
    m = write_dms_export(ds, tmp_path / "out", store_id="007", fault_rate=0,
                         formats=("csv",))
    assert [p.name for p in m.files] == ["dms_007_202010-202104.csv"]
    df = pd.read_csv(m.files[0], encoding="gbk", dtype=str)
    assert df.shape[0] == 2
    assert "store_id" not in m.headers[m.files[0].name].values()
    assert m.clean_ro_ids == ["R0004", "R0005"] and m.store_id == "007"
    assert m.as_of == "2024-06-30" and len(m.faults) == 0

    back = ExportManifest.from_json(m.to_json(tmp_path / "out" / "manifest.json"))
    assert back.files == [tmp_path / "out" / m.files[0].name]
    assert back.headers == m.headers and back.clean_ro_ids == m.clean_ro_ids
    assert back.store_id == "007" and back.n_orders == 2


def test_manifest_json_keeps_the_faults(export, tmp_path):
    manifest, _ = export
    back = ExportManifest.from_json(manifest.to_json(tmp_path / "m.json"))
    pd.testing.assert_frame_equal(back.faults, manifest.faults)
    pd.testing.assert_series_equal(back.fault_counts(), manifest.fault_counts())
    assert [p.name for p in back.files] == [p.name for p in manifest.files]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"formats": ("csv", "json")}, "formats"),
        ({"formats": ()}, "formats"),
        ({"fault_rate": 0.2}, "fault_rate"),
        ({"fault_rate": -0.1}, "fault_rate"),
        ({"months_per_file": 0}, "months_per_file"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        write_dms_export(example_dataset(), tmp_path, **kwargs)


def test_unknown_store(tmp_path):
    with pytest.raises(KeyError, match="'001', '007'"):
        write_dms_export(example_dataset(), tmp_path, store_id="9")

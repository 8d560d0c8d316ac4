"""Write a synthetic dataset as a messy Chinese DMS export, with a manifest of its faults.

Real after-sales data arrives as what a dealer management system (DMS) exports: one flat
sheet with a row per repair order and the customer and vehicle columns repeated on every
row, Chinese headers that differ from system to system, Chinese labels for the order
type or the payer, dates and amounts written in whatever way the export or a person
chose, CSV files saved by Excel in GBK, workbooks with title rows above the header and a
totals row (合计) at the bottom, and a share of broken rows. :func:`write_dms_export`
turns a :class:`~crm_analysis.schema.Dataset` (usually from
:func:`crm_analysis.synth.generate`) into such files, and injects known faults at a given
rate. The returned :class:`ExportManifest` lists every faulty row (file, sheet, row as a
spreadsheet numbers it, the reason code the loader must give it) and the orders written
without a fault, so that a loader can be tested against a known answer.

What the export looks like
--------------------------
* **Columns**: the canonical columns of the flat export are :data:`EXPORT_COLUMNS`
  (the store columns only when ``store_id`` is not given). Each is written under the
  first header of :data:`HEADERS`; in every file three columns use another alias and
  one header gets an inner space (``"车 架号"``), as different DMS versions do. The
  headers used are in :attr:`ExportManifest.headers`.
* **Values**: ``ro_type``, ``payer``, ``sold_here``, ``customer_type``, ``usage`` and
  ``grade`` are written as Chinese labels (:data:`VALUE_LABELS`; the first label of a
  code mostly, another one sometimes). Free text (model, colour, occupation, region),
  ids and the personal columns (name, phone, plate) are written as they are in the
  dataset: the export imitates a real one, so it holds raw personal data.
* **Dates**: each row uses one of :data:`DATE_STYLES` (``2023-01-05``, ``2023/1/5``,
  ``2023.1.5``, ``2023年1月5日``, ``20230105``, ``2023-01-05 14:30``,
  ``2023/1/5 8:05:00``; in ``.xlsx`` also real date cells). Styles with a time of day
  are used only on rows whose dates are all before ``as_of``; a loader should keep the
  day. In ``.xlsx`` the sale date is sometimes an Excel serial number (``44931``).
* **Amounts**: ``1234.50``, ``1,234.50`` or ``¥1,234.50`` per row (in ``.xlsx`` mostly
  number cells; CSV files use the full-width ``￥``, as GBK has no ``¥``); mileage is a
  whole number.
* **Files**: orders are sorted by open date and split into files of ``months_per_file``
  calendar months (``None``: one file per entry of ``formats``, consecutive time
  spans). File *i* has format ``formats[i % len(formats)]``, so every order is in exactly
  one file. CSV files are GBK with ``\\r\\n`` line ends; when there are two or more CSV
  files the last one is UTF-8 with a BOM. A CSV file has its header on line 1. A
  ``.xlsx`` file has one sheet, :data:`SHEET_NAME`, with two title rows, the header on
  row 3, data from row 4 and a totals row (合计 in the first cell, sums of the amount
  columns) after the last order.

Faults
------
For each kind in :data:`FAULT_KINDS`, ``round(fault_rate * n_orders)`` orders are
chosen (an order gets at most one fault) and changed as follows; :data:`OUTCOMES` gives
what a loader must do with the row:

``unparseable_date``
    the open date is written as ``2023-13-05``, ``2023/2/30``, ``待定``, ``0000-00-00``
    or ``##########`` (quarantined).
``negative_amount``
    all four amounts are negated on an order that is not a refund (quarantined).
``missing_key``
    the order id or the VIN is left empty (quarantined; the manifest keeps the order's
    real id in ``ro_id`` and the emptied column in ``column``).
``duplicate_order_conflict``
    a second row with the same order id but other parts and total amounts is added later
    in the same file; both rows are listed and both are quarantined.
``exact_duplicate``
    an identical copy of the row is added later in the same file; the copy is listed
    (merged: the order is kept once).
``order_before_sale``
    the open (and close) date is moved 1–365 days before the vehicle's sale date
    (quarantined).
``order_after_as_of``
    the open (and close) date is moved 1–365 days after ``as_of`` (quarantined).
``invalid_vin``
    the VIN on that row loses or gains a character or gets an ``I``, ``O`` or ``Q``
    (quarantined).
``mileage_backwards``
    the mileage is set below every earlier order of the same VIN; the order just before
    it is never given a fault (flagged, the row is kept).
``unknown_ro_type``
    the order type is a label outside the vocabulary, e.g. ``代办年审`` (quarantined).

Rows moved in time (``order_before_sale``, ``order_after_as_of``) have no mileage, so
that they do not make other orders look backwards. The totals row of each ``.xlsx``
file is listed with kind ``summary_row`` and no order id. Vehicles without any order,
and stores, are not in a flat export.

Example
-------
>>> import tempfile
>>> from crm_analysis.synth import generate
>>> from crm_analysis.synth.dms import write_dms_export
>>> ds = generate(n_stores=1, seed=5, start="2023-01-01", as_of="2024-06-30", scale=0.05)
>>> with tempfile.TemporaryDirectory() as tmp:
...     m = write_dms_export(ds, tmp, fault_rate=0.02, seed=1)
...     names = [p.name for p in m.files]
>>> names
['dms_all_202302-202312.csv', 'dms_all_202401-202406.xlsx']
>>> bool(m.fault_counts()["invalid_vin"] == round(0.02 * m.n_orders))
True
>>> m.faults.columns.tolist()
['file', 'sheet', 'row', 'kind', 'outcome', 'ro_id', 'column', 'detail']
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crm_analysis._inputs import check_int, read_as_of
from crm_analysis.schema import Dataset

__all__ = [
    "DATE_STYLES",
    "EXPORT_COLUMNS",
    "FAULT_KINDS",
    "HEADERS",
    "OUTCOMES",
    "SHEET_NAME",
    "VALUE_LABELS",
    "ExportManifest",
    "write_dms_export",
]

# ---------------------------------------------------------------------------------------
# Vocabulary written to the files
# ---------------------------------------------------------------------------------------

#: Canonical columns of the flat export, in file order (``store_id`` and ``store_name``
#: only when the export covers every store; ``labor_cost``, ``parts_cost`` and
#: ``advisor`` when the dataset has them).
EXPORT_COLUMNS: tuple[str, ...] = (
    "ro_id", "store_id", "store_name", "open_date", "close_date", "plate", "vin", "model",
    "grade", "usage", "color", "sale_date", "sold_here", "customer_id", "name", "phone",
    "customer_type", "occupation", "region", "mileage_km", "ro_type", "payer",
    "labor_amount", "parts_amount", "other_amount", "total_amount", "labor_cost",
    "parts_cost", "advisor",
)

#: Header aliases written per canonical column; the first is the default (it matches
#: the first alias of the loader's ``HEADER_ALIASES``), the others are used as variants.
HEADERS: dict[str, tuple[str, ...]] = {
    "ro_id": ("工单号", "工单编号", "维修工单号", "派工单号"),
    "store_id": ("门店", "门店编码", "门店代码", "经销商代码"),
    "store_name": ("门店名称",),
    "open_date": ("进厂日期", "接待日期", "开单日期", "进站日期"),
    "close_date": ("结算日期", "完工日期", "出厂日期"),
    "plate": ("车牌号", "车牌", "牌照号"),
    "vin": ("车架号", "VIN码", "VIN", "底盘号"),
    "model": ("车型", "品牌车型", "车型名称"),
    "grade": ("车辆档次",),
    "usage": ("车辆用途", "使用性质"),
    "color": ("颜色", "车身颜色"),
    "sale_date": ("购车日期", "销售日期", "开票日期"),
    "sold_here": ("自销/他销", "是否本店销售", "销售类型"),
    "customer_id": ("客户编号", "客户ID", "客户代码"),
    "name": ("客户名称", "客户姓名", "车主姓名"),
    "phone": ("客户电话", "手机", "手机号", "联系电话"),
    "customer_type": ("客户类型",),
    "occupation": ("职业",),
    "region": ("区域", "地区"),
    "mileage_km": ("进厂里程", "行驶里程", "里程数"),
    "ro_type": ("业务类型", "工单类型", "维修类型", "维修性质"),
    "payer": ("付费方式", "结算方式", "付款方"),
    "labor_amount": ("工时费", "人工费", "工时费用"),
    "parts_amount": ("材料费", "配件费", "零件费"),
    "other_amount": ("外包费用", "其他费用", "附加费"),
    "total_amount": ("合计金额", "结算金额", "实收金额", "总金额"),
    "labor_cost": ("工时成本",),
    "parts_cost": ("配件成本", "材料成本"),
    "advisor": ("服务顾问", "接待员"),
}

#: Chinese labels written for coded values: field -> code -> labels (first mostly used).
VALUE_LABELS: dict[str, dict[Any, tuple[str, ...]]] = {
    "ro_type": {
        "maintenance": ("保养", "定保", "常规保养"),
        "repair": ("一般维修", "机修", "维修"),
        "body_paint": ("钣喷", "钣金喷漆", "事故车"),
        "warranty": ("保修", "索赔"),
        "detailing": ("美容", "洗美"),
        "other": ("其他",),
    },
    "payer": {
        "customer": ("自费", "客户"),
        "warranty": ("索赔", "厂家"),
        "insurance": ("保险", "保险公司"),
        "internal": ("内部",),
    },
    "sold_here": {True: ("自销", "本店"), False: ("他销", "外店")},
    "customer_type": {
        "individual": ("个人", "私人"),
        "company": ("公司", "单位"),
        "government": ("政府", "机关"),
    },
    "usage": {
        "private": ("私家车", "非营运"),
        "company": ("公务",),
        "ride_hailing": ("网约车",),
        "taxi": ("出租车", "出租"),
        "government": ("政府",),
    },
    "grade": {"economy": ("经济型",), "mid": ("中级", "中档"), "premium": ("豪华", "高档")},
}

#: Date styles (examples for 2023-01-05); ``cell`` (a real date cell) only in ``.xlsx``.
DATE_STYLES: dict[str, str] = {
    "iso": "2023-01-05",
    "slash": "2023/1/5",
    "dot": "2023.1.5",
    "cn": "2023年1月5日",
    "compact": "20230105",
    "iso_minute": "2023-01-05 14:30",
    "slash_second": "2023/1/5 8:05:00",
    "cell": "(date cell)",
}
_TIMED_STYLES = ("iso_minute", "slash_second")
_DATE_ONLY = {"iso_minute": "iso", "slash_second": "slash"}

#: Fault kinds injected, each the reason code a loader must report for the row.
FAULT_KINDS: tuple[str, ...] = (
    "unparseable_date",
    "negative_amount",
    "missing_key",
    "duplicate_order_conflict",
    "exact_duplicate",
    "order_before_sale",
    "order_after_as_of",
    "invalid_vin",
    "mileage_backwards",
    "unknown_ro_type",
)

#: What a loader does with a row of each kind listed in the manifest.
OUTCOMES: dict[str, str] = {
    **{k: "quarantined" for k in FAULT_KINDS},
    "exact_duplicate": "merged",
    "mileage_backwards": "flagged",
    "summary_row": "quarantined",
}

#: Sheet name of the ``.xlsx`` files.
SHEET_NAME = "工单明细"

_FORMATS = ("csv", "xlsx")
_AMOUNTS = ("labor_amount", "parts_amount", "other_amount", "total_amount")
_COSTS = ("labor_cost", "parts_cost")
_DATES = ("open_date", "close_date", "sale_date")
_BAD_DATES = ("{y}-13-05", "{y}/2/30", "待定", "0000-00-00", "##########")
_UNKNOWN_RO_TYPES = ("代办年审", "二手车评估", "未分类业务")
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_FAULT_COLUMNS = ["file", "sheet", "row", "kind", "outcome", "ro_id", "column", "detail"]
_LAYOUT_COLUMNS = [
    "file", "format", "encoding", "sheet", "header_row", "first_data_row", "data_rows",
    "orders", "first_month", "last_month",
]


# ---------------------------------------------------------------------------------------
# Manifest
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportManifest:
    """What :func:`write_dms_export` wrote, and where each injected fault is.

    Attributes
    ----------
    files:
        Paths of the files written, in time order.
    faults:
        One row per listed source row: ``file`` (file name), ``sheet`` (``None`` for
        CSV), ``row`` (1-based, as a spreadsheet shows it: CSV header = row 1),
        ``kind`` (a :data:`FAULT_KINDS` reason code, or ``summary_row``), ``outcome``
        (:data:`OUTCOMES`), ``ro_id`` (the order's real id; ``None`` for a totals row),
        ``column`` (canonical column changed) and ``detail`` (text).
    clean_ro_ids:
        Sorted ids of the orders written without any fault.
    layout:
        One row per file: format, encoding, sheet, header row, first data row, number
        of data rows (duplicate copies included), orders, first and last month.
    headers:
        File name -> {header written: canonical column}.
    store_id, as_of, seed, fault_rate, n_orders:
        The export's store (``None``: every store, with a store column), the as-of date
        used for ``order_after_as_of``, the arguments, and the number of orders written.

    Example
    -------
    >>> m = ExportManifest(files=[], faults=pd.DataFrame(columns=_FAULT_COLUMNS),
    ...                    clean_ro_ids=["R1", "R2"], n_orders=2)
    >>> m.accepted_ro_ids
    ['R1', 'R2']
    """

    files: list[Path]
    faults: pd.DataFrame
    clean_ro_ids: list[str]
    layout: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_LAYOUT_COLUMNS))
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    store_id: str | None = None
    as_of: str | None = field(default=None, kw_only=True)
    seed: int = 0
    fault_rate: float = 0.0
    n_orders: int = 0

    def __post_init__(self) -> None:
        if self.as_of is not None:
            day = read_as_of(self.as_of, where="ExportManifest").date().isoformat()
            object.__setattr__(self, "as_of", day)

    @property
    def accepted_ro_ids(self) -> list[str]:
        """Sorted ids of the orders a loader keeps: clean, merged or flagged ones."""
        kept = self.faults.loc[self.faults["outcome"].isin(["merged", "flagged"]), "ro_id"]
        return sorted(set(self.clean_ro_ids) | set(kept.dropna()))

    def fault_counts(self) -> pd.Series:
        """Number of distinct orders per fault kind (every kind of :data:`FAULT_KINDS`).

        Example
        -------
        >>> m = ExportManifest(files=[], faults=pd.DataFrame(columns=_FAULT_COLUMNS),
        ...                    clean_ro_ids=[])
        >>> int(m.fault_counts().sum())
        0
        """
        f = self.faults[self.faults["kind"].isin(FAULT_KINDS)]
        counts = f.groupby("kind")["ro_id"].nunique()
        return counts.reindex(list(FAULT_KINDS), fill_value=0).astype(int)

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write the manifest as UTF-8 JSON; file paths are stored relative to its folder.

        :meth:`from_json` reads it back.

        Example
        -------
        >>> import tempfile
        >>> m = ExportManifest(files=[], faults=pd.DataFrame(columns=_FAULT_COLUMNS),
        ...                    clean_ro_ids=["R1"], as_of="2024-06-30")
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     back = ExportManifest.from_json(m.to_json(Path(tmp) / "manifest.json"))
        >>> back.clean_ro_ids, back.as_of
        (['R1'], '2024-06-30')
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        base = path.parent.resolve()

        def rel(p: Path) -> str:
            p = Path(p).resolve()
            try:
                return p.relative_to(base).as_posix()
            except ValueError:
                return str(p)

        faults = self.faults.astype(object).where(self.faults.notna(), None)
        layout = self.layout.astype(object).where(self.layout.notna(), None)
        doc = {
            "format": "crm_analysis.synth.dms manifest",
            "version": 1,
            "store_id": self.store_id,
            "as_of": self.as_of,
            "seed": self.seed,
            "fault_rate": self.fault_rate,
            "n_orders": self.n_orders,
            "files": [rel(p) for p in self.files],
            "layout": layout.to_dict(orient="records"),
            "headers": self.headers,
            "fault_counts": {k: int(v) for k, v in self.fault_counts().items()},
            "faults": faults.to_dict(orient="records"),
            "clean_ro_ids": list(self.clean_ro_ids),
        }
        text = json.dumps(doc, ensure_ascii=False, indent=1, default=_json_default)
        path.write_text(text + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> ExportManifest:
        """Read a manifest written by :meth:`to_json` (relative paths resolved from it)."""
        path = Path(path)
        doc = json.loads(path.read_text(encoding="utf-8"))
        faults = pd.DataFrame(doc["faults"], columns=_FAULT_COLUMNS)
        faults["row"] = faults["row"].astype("int64")
        return cls(
            files=[path.parent / p for p in doc["files"]],
            faults=faults,
            clean_ro_ids=list(doc["clean_ro_ids"]),
            layout=pd.DataFrame(doc["layout"], columns=_LAYOUT_COLUMNS),
            headers=doc["headers"],
            store_id=doc["store_id"],
            as_of=doc["as_of"],
            seed=doc["seed"],
            fault_rate=doc["fault_rate"],
            n_orders=doc["n_orders"],
        )


def _json_default(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    raise TypeError(f"cannot write {type(v).__name__} to JSON")


# ---------------------------------------------------------------------------------------
# The export
# ---------------------------------------------------------------------------------------


def write_dms_export(
    dataset: Dataset,
    out_dir: str | os.PathLike,
    *,
    store_id: str | None = None,
    fault_rate: float = 0.01,
    seed: int = 0,
    formats: Sequence[str] = ("csv", "xlsx"),
    months_per_file: int | None = None,
    as_of: str | None = None,
) -> ExportManifest:
    """Write ``dataset``'s repair orders as a flat Chinese DMS export with known faults.

    See the module docstring for the layout, the value formats and the faults.

    Parameters
    ----------
    dataset:
        Canonical data (e.g. from :func:`crm_analysis.synth.generate`). Each order is
        joined with its vehicle and customer; orders whose vehicle or customer is unknown
        raise :class:`ValueError`.
    out_dir:
        Folder to write to (created if needed; files of the same name are replaced).
    store_id:
        Export only the orders of this store, without store columns (a single-store
        export; load it with the loader's ``store_id``). ``None``: every order, with the
        store code (门店) and name (门店名称) columns.
    fault_rate:
        Share of orders given each fault kind, in ``[0, 0.05]``.
    seed:
        Random seed; the same dataset and arguments give the same files and manifest.
    formats:
        File formats, ``"csv"`` and / or ``"xlsx"``, used in turn by the files.
    months_per_file:
        Calendar months per file (1: monthly files, 12: yearly; spans start in January
        of the first year with an order).
        ``None``: one file per format, splitting the orders into consecutive spans.
    as_of:
        The export date (``order_after_as_of`` goes after it); default
        ``dataset.meta["as_of"]``, else the last order or close date.

    Returns
    -------
    ExportManifest

    Example
    -------
    >>> import tempfile
    >>> from crm_analysis.schema import example_dataset
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     m = write_dms_export(example_dataset(), tmp, store_id="001", fault_rate=0,
    ...                          formats=("csv",))
    ...     lines = m.files[0].read_bytes().decode("gbk").splitlines()
    >>> len(lines), lines[1].split(",")[:4]
    (4, ['R0001', '2019.9.10', '2019.9.10', '皖A12345'])
    >>> m.clean_ro_ids, len(m.faults)
    (['R0001', 'R0002', 'R0003'], 0)
    """
    as_of_ts = None if as_of is None else read_as_of(as_of)
    formats = tuple(formats)
    if not formats or any(f not in _FORMATS for f in formats) or len(set(formats)) != len(
        formats
    ):
        raise ValueError(f"formats must be distinct values among {_FORMATS}, got {formats!r}")
    if not 0 <= fault_rate <= 0.05:
        raise ValueError(f"fault_rate must be in [0, 0.05], got {fault_rate!r}")
    if months_per_file is not None:
        check_int(months_per_file, "months_per_file")
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    flat = _flat_orders(dataset, store_id)
    if as_of_ts is None:
        as_of_ts = read_as_of(dataset.meta.get("as_of")
                              or flat[["open_date", "close_date"]].max().max())
    as_of_ts = as_of_ts.normalize()
    n = len(flat)

    # -- files: calendar spans, formats in turn ----------------------------------------
    month = (flat["open_date"].dt.year * 12 + flat["open_date"].dt.month - 1).to_numpy()
    if months_per_file is not None:
        period = (month - month.min() // 12 * 12) // int(months_per_file)
        _, file_of = np.unique(period, return_inverse=True)
    else:
        file_of = _split_by_count(month, len(formats))
    n_files = int(file_of.max()) + 1 if n else 0
    fmt_of_file = [formats[i % len(formats)] for i in range(n_files)]
    fmt = np.array([fmt_of_file[i] for i in file_of], dtype=object)

    # -- faults: choose the orders --------------------------------------------------------
    k = int(round(fault_rate * n))
    kind = np.full(n, None, dtype=object)
    detail: dict[int, tuple[str | None, str]] = {}
    conflict_detail: dict[int, tuple[str | None, str]] = {}
    earlier_km = _earlier_min_mileage(flat)
    if k:
        _choose_faults(flat, earlier_km, kind, k, rng)

    # -- numeric changes --------------------------------------------------------------------
    vals = flat.copy()
    for i in np.flatnonzero(kind == "mileage_backwards"):
        earlier = earlier_km[i]
        new = float(np.floor(earlier * rng.uniform(0.3, 0.8)))
        vals.loc[i, "mileage_km"] = new
        detail[i] = ("mileage_km", f"mileage {flat['mileage_km'].iat[i]:.0f} -> {new:.0f}, "
                     f"below the {earlier:.0f} of an earlier order")
    for i in np.flatnonzero(kind == "negative_amount"):
        for c in _AMOUNTS:
            vals.loc[i, c] = -vals.at[i, c] if vals.at[i, c] else 0.0
        detail[i] = ("total_amount", f"amounts negated (total {vals.at[i, 'total_amount']:.2f})")
    for kind_name, sign in (("order_before_sale", -1), ("order_after_as_of", 1)):
        for i in np.flatnonzero(kind == kind_name):
            shift = pd.Timedelta(days=int(rng.integers(1, 366)))
            anchor = flat["sale_date"].iat[i] if sign < 0 else as_of_ts
            new_open = anchor + sign * shift
            duration = flat["close_date"].iat[i] - flat["open_date"].iat[i]
            vals.loc[i, "open_date"] = new_open
            vals.loc[i, "close_date"] = new_open + duration if pd.notna(duration) else pd.NaT
            vals.loc[i, "mileage_km"] = np.nan
            ref = "sale date" if sign < 0 else "as_of"
            detail[i] = ("open_date", f"open date {new_open.date()} ({shift.days} days "
                         f"{'before' if sign < 0 else 'after'} the {ref} "
                         f"{anchor.date()}); mileage left empty")

    # -- formatting -------------------------------------------------------------------------
    columns = [c for c in EXPORT_COLUMNS if c in vals.columns]
    if store_id is not None:
        columns = [c for c in columns if c not in ("store_id", "store_name")]
    is_xlsx = fmt == "xlsx"
    cells = pd.DataFrame(index=vals.index)
    last_date = vals[["open_date", "close_date"]].max(axis=1)
    date_style = _pick_date_style(n, is_xlsx, (last_date < as_of_ts).to_numpy(), rng)
    minutes = rng.integers(8 * 60, 18 * 60, size=n)
    serial = is_xlsx & (rng.random(n) < 0.3)
    amount_style = _pick_amount_style(n, is_xlsx, rng)
    for c in columns:
        if c in ("open_date", "close_date"):
            cells[c] = pd.Series(_format_dates(vals[c], date_style, minutes), index=vals.index,
                                 dtype=object)
        elif c == "sale_date":
            style = np.array([_DATE_ONLY.get(s, s) for s in date_style], dtype=object)
            text = _format_dates(vals[c], style, minutes)
            days = (vals[c] - _EXCEL_EPOCH).dt.days.to_numpy()
            for pos in np.flatnonzero(serial & vals[c].notna().to_numpy()):
                text[pos] = int(days[pos])
            cells[c] = pd.Series(text, index=vals.index, dtype=object)
        elif c in _AMOUNTS or c in _COSTS:
            style = amount_style.copy()
            style[(vals[c] < 0).to_numpy() & (style != "number")] = "plain"
            cells[c] = pd.Series(_format_amounts(vals[c], style), index=vals.index, dtype=object)
        elif c == "mileage_km":
            km = [
                None if pd.isna(v) else (int(v) if x else str(int(v)))
                for v, x in zip(vals[c], is_xlsx, strict=True)
            ]
            cells[c] = pd.Series(km, index=vals.index, dtype=object)
        elif c in VALUE_LABELS:
            labels = _labels(vals[c], VALUE_LABELS[c], rng)
            cells[c] = pd.Series(labels, index=vals.index, dtype=object)
        else:
            cells[c] = vals[c].astype(object).where(vals[c].notna(), None)

    # -- faults on cells ---------------------------------------------------------------------
    for i in np.flatnonzero(kind == "unparseable_date"):
        bad = str(rng.choice(_BAD_DATES)).format(y=flat["open_date"].iat[i].year)
        cells.at[i, "open_date"] = bad
        detail[i] = ("open_date", f"open date written as {bad!r}")
    for i in np.flatnonzero(kind == "missing_key"):
        col = str(rng.choice(["ro_id", "vin"]))
        cells.at[i, col] = None
        detail[i] = (col, f"{col} left empty")
    for i in np.flatnonzero(kind == "invalid_vin"):
        bad = _break_vin(flat["vin"].iat[i], rng)
        cells.at[i, "vin"] = bad
        detail[i] = ("vin", f"VIN written as {bad!r}")
    for i in np.flatnonzero(kind == "unknown_ro_type"):
        label = str(rng.choice(_UNKNOWN_RO_TYPES))
        cells.at[i, "ro_type"] = label
        detail[i] = ("ro_type", f"order type written as {label!r}")

    # -- files: rows, duplicate copies, writing -----------------------------------------
    files: list[Path] = []
    fault_rows: list[dict[str, Any]] = []
    layout_rows: list[dict[str, Any]] = []
    headers_used: dict[str, dict[str, str]] = {}
    n_csv = fmt_of_file.count("csv")
    csv_seen = 0
    tag = store_id if store_id is not None else "all"
    for f in range(n_files):
        members = np.flatnonzero(file_of == f)
        ext = fmt_of_file[f]
        first, last = _month_label(month[members].min()), _month_label(month[members].max())
        name = f"dms_{tag}_{first}-{last}.{ext}"
        # entries: (order position, variant) with variant "orig", "exact" or "conflict"
        entries: list[tuple[int, str]] = [(int(i), "orig") for i in members]
        for i in members:
            variant = {"exact_duplicate": "exact", "duplicate_order_conflict": "conflict"}.get(
                kind[i]
            )
            if variant is None:
                continue
            at = next(p for p, e in enumerate(entries) if e == (int(i), "orig"))
            entries.insert(int(rng.integers(at + 1, len(entries) + 1)), (int(i), variant))
        frame = cells.iloc[[e[0] for e in entries], :][columns].reset_index(drop=True)
        numbers = vals.iloc[[e[0] for e in entries]][list(_AMOUNTS)].reset_index(drop=True)
        for r, (i, variant) in enumerate(entries):
            if variant != "conflict":
                continue
            delta = round(float(rng.uniform(10, 300)), 2)
            for c in ("parts_amount", "total_amount"):
                numbers.at[r, c] = vals.at[i, c] + delta
                frame.at[r, c] = _format_amounts(
                    pd.Series([numbers.at[r, c]]), np.array([amount_style[i]], dtype=object)
                )[0]
            conflict_detail[i] = ("parts_amount",
                                  f"second row with parts and total +{delta:.2f}")

        header = _headers_for_file(columns, rng)
        headers_used[name] = dict(zip(header, columns, strict=True))
        first_row = 2 if ext == "csv" else 4
        path = out / name
        if ext == "csv":
            csv_seen += 1
            encoding = "utf-8-sig" if n_csv >= 2 and csv_seen == n_csv else "gbk"
            sheet = None
            _write_csv(path, frame, header, encoding)
        else:
            encoding = None
            sheet = SHEET_NAME
            title = (f"门店: {store_id if store_id is not None else '全部'}    统计期间: "
                     f"{first[:4]}-{first[4:]} 至 {last[:4]}-{last[4:]}    导出日期: "
                     f"{as_of_ts.date()}")
            _write_xlsx(path, frame, header, numbers, title)
            fault_rows.append(_fault_row(name, sheet, first_row + len(frame), "summary_row",
                                         None, None, "totals row (合计)"))
        for r, (i, variant) in enumerate(entries):
            kd = kind[i]
            if kd is None or (variant == "orig" and kd == "exact_duplicate"):
                continue
            col, text = conflict_detail[i] if variant == "conflict" else detail.get(i, (None, ""))
            if kd == "exact_duplicate":
                col, text = None, "identical copy of an earlier row"
            elif kd == "duplicate_order_conflict" and variant == "orig":
                col, text = None, "first of two rows with this order id and other amounts"
            fault_rows.append(
                _fault_row(name, sheet, first_row + r, kd, flat["ro_id"].iat[i], col, text)
            )
        files.append(path)
        layout_rows.append({
            "file": name, "format": ext, "encoding": encoding, "sheet": sheet,
            "header_row": first_row - 1, "first_data_row": first_row,
            "data_rows": len(frame), "orders": len(members),
            "first_month": f"{first[:4]}-{first[4:]}", "last_month": f"{last[:4]}-{last[4:]}",
        })

    faults = pd.DataFrame(fault_rows, columns=_FAULT_COLUMNS)
    faults["row"] = faults["row"].astype("int64")
    clean = sorted(flat["ro_id"][pd.isna(kind)].tolist())
    return ExportManifest(
        files=files,
        faults=faults,
        clean_ro_ids=clean,
        layout=pd.DataFrame(layout_rows, columns=_LAYOUT_COLUMNS),
        headers=headers_used,
        store_id=store_id,
        as_of=str(as_of_ts.date()),
        seed=seed,
        fault_rate=fault_rate,
        n_orders=n,
    )


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _flat_orders(ds: Dataset, store_id: str | None) -> pd.DataFrame:
    orders = ds.repair_orders
    if store_id is not None:
        known = set(ds.stores["store_id"].dropna())
        if store_id not in known:
            raise KeyError(
                f"unknown store id {store_id!r}; valid store ids: "
                f"{', '.join(repr(s) for s in sorted(known))}"
            )
        orders = orders[orders["store_id"] == store_id]
    veh = ds.vehicles.drop(columns=["customer_id", "store_id"], errors="ignore")
    flat = orders.merge(veh, on="vin", how="left", validate="many_to_one", indicator="_v")
    flat = flat.merge(ds.customers, on="customer_id", how="left", validate="many_to_one",
                      indicator="_c")
    missing = flat.loc[(flat["_v"] != "both") | (flat["_c"] != "both"), "ro_id"]
    if len(missing):
        raise ValueError(
            f"{len(missing)} repair orders have a vin or customer_id absent from vehicles / "
            f"customers (first: {', '.join(map(str, missing.head(3)))}); a flat export needs "
            "both"
        )
    flat = flat.drop(columns=["_v", "_c"])
    if store_id is None:
        flat = flat.merge(ds.stores[["store_id", "store_name"]], on="store_id", how="left")
    flat = flat.sort_values(["open_date", "ro_id"], kind="mergesort").reset_index(drop=True)
    return flat


def _split_by_count(month: np.ndarray, parts: int) -> np.ndarray:
    """File index per order: ``parts`` consecutive month spans of about equal counts."""
    if len(month) == 0 or parts == 1:
        return np.zeros(len(month), dtype=int)
    months, counts = np.unique(month, return_counts=True)
    share = np.cumsum(counts) / counts.sum()
    # the file of a month is decided by the share of orders before its middle
    mid = share - counts / counts.sum() / 2
    file_of_month = np.minimum((mid * parts).astype(int), parts - 1)
    file_of_month = np.maximum.accumulate(file_of_month)
    # renumber so that empty spans (few months) do not leave gaps
    _, file_of_month = np.unique(file_of_month, return_inverse=True)
    return file_of_month[np.searchsorted(months, month)]


def _earlier_min_mileage(flat: pd.DataFrame) -> np.ndarray:
    """Lowest known mileage of the earlier orders of the same VIN (NaN: none)."""
    by_vin = flat.groupby("vin", sort=False)["mileage_km"]
    shifted = by_vin.shift(1)
    low = shifted.groupby(flat["vin"], sort=False).cummin()
    return low.groupby(flat["vin"], sort=False).ffill().to_numpy(dtype=float)


def _choose_faults(
    flat: pd.DataFrame, earlier_km: np.ndarray, kind: np.ndarray, k: int,
    rng: np.random.Generator,
) -> None:
    n = len(flat)
    free = np.ones(n, dtype=bool)
    # mileage_backwards: an order after another of the same VIN, which is kept clean
    prev_pos = np.full(n, -1)
    last_seen: dict[str, int] = {}
    for pos, vin in enumerate(flat["vin"].to_numpy()):
        prev_pos[pos] = last_seen.get(vin, -1)
        last_seen[vin] = pos
    km = flat["mileage_km"].to_numpy(dtype=float)
    ok = (prev_pos >= 0) & (earlier_km >= 10) & ~np.isnan(km)
    chosen = 0
    for i in rng.permutation(np.flatnonzero(ok)):
        if chosen == k:
            break
        p = prev_pos[i]
        if free[i] and free[p]:
            kind[i] = "mileage_backwards"
            free[i] = free[p] = False
            chosen += 1
    _enough_orders(chosen, k, "mileage_backwards")
    # order_before_sale needs a known sale date
    cand = np.flatnonzero(free & flat["sale_date"].notna().to_numpy())
    _take(cand, k, "order_before_sale", kind, free, rng)
    for name in FAULT_KINDS:
        if name in ("mileage_backwards", "order_before_sale"):
            continue
        _take(np.flatnonzero(free), k, name, kind, free, rng)


def _take(cand: np.ndarray, k: int, name: str, kind: np.ndarray, free: np.ndarray,
          rng: np.random.Generator) -> None:
    _enough_orders(len(cand), k, name)
    pick = rng.choice(cand, size=k, replace=False)
    kind[pick] = name
    free[pick] = False


def _enough_orders(have: int, k: int, name: str) -> None:
    if have < k:
        raise ValueError(
            f"cannot inject {k} {name!r} faults: only {have} suitable orders; lower fault_rate"
        )


def _pick_date_style(n: int, is_xlsx: np.ndarray, timed_ok: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    text = ("iso", "slash", "dot", "cn", "compact", "iso_minute", "slash_second")
    p = np.array([0.35, 0.2, 0.1, 0.1, 0.1, 0.08, 0.07])
    style = rng.choice(np.array(text, dtype=object), size=n, p=p)
    style[is_xlsx & (rng.random(n) < 0.5)] = "cell"
    timed = np.isin(style, _TIMED_STYLES) & ~timed_ok
    style[timed] = np.array([_DATE_ONLY[s] for s in style[timed]], dtype=object)
    return style


def _pick_amount_style(n: int, is_xlsx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    styles = np.array(["plain", "comma", "yen"], dtype=object)
    style = rng.choice(styles, size=n, p=[0.6, 0.25, 0.15])
    # GBK has no "¥" (U+00A5): CSV files use the full-width "￥" (U+FFE5)
    style[~is_xlsx & (style == "yen")] = "wide_yen"
    style[is_xlsx & (rng.random(n) < 0.7)] = "number"
    return style


def _format_dates(s: pd.Series, style: np.ndarray, minutes: np.ndarray) -> list[Any]:
    out: list[Any] = [None] * len(s)
    ok = s.notna().to_numpy()
    y = s.dt.year.fillna(0).astype(int).astype(str).to_numpy()
    m = s.dt.month.fillna(0).astype(int).to_numpy()
    d = s.dt.day.fillna(0).astype(int).to_numpy()
    for pos in np.flatnonzero(ok):
        st, yy, mm, dd = style[pos], y[pos], m[pos], d[pos]
        hh, mi = divmod(int(minutes[pos]), 60)
        if st == "iso":
            v: Any = f"{yy}-{mm:02d}-{dd:02d}"
        elif st == "slash":
            v = f"{yy}/{mm}/{dd}"
        elif st == "dot":
            v = f"{yy}.{mm}.{dd}"
        elif st == "cn":
            v = f"{yy}年{mm}月{dd}日"
        elif st == "compact":
            v = f"{yy}{mm:02d}{dd:02d}"
        elif st == "iso_minute":
            v = f"{yy}-{mm:02d}-{dd:02d} {hh:02d}:{mi:02d}"
        elif st == "slash_second":
            v = f"{yy}/{mm}/{dd} {hh}:{mi:02d}:{int(minutes[pos]) * 7 % 60:02d}"
        else:  # cell
            v = _dt.datetime(int(yy), int(mm), int(dd))
        out[pos] = v
    return out


def _format_amounts(s: pd.Series, style: np.ndarray) -> list[Any]:
    out: list[Any] = []
    for v, st in zip(s.to_numpy(dtype=float), style, strict=True):
        if np.isnan(v):
            out.append(None)
        elif st == "number":
            out.append(round(float(v), 2))
        elif st == "comma":
            out.append(f"{v:,.2f}")
        elif st == "yen":
            out.append(f"¥{v:,.2f}")
        elif st == "wide_yen":
            out.append(f"￥{v:,.2f}")
        else:
            out.append(f"{v:.2f}")
    return out


def _labels(s: pd.Series, labels: dict[Any, tuple[str, ...]], rng: np.random.Generator
            ) -> list[str | None]:
    u = rng.random(len(s))
    j = rng.integers(0, 1 << 30, size=len(s))
    out: list[str | None] = []
    for v, a, b in zip(s.to_numpy(dtype=object), u, j, strict=True):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(None)
            continue
        choices = labels[bool(v) if isinstance(v, bool | np.bool_) else v]
        out.append(choices[0] if a < 0.8 or len(choices) == 1 else choices[b % len(choices)])
    return out


def _break_vin(vin: str, rng: np.random.Generator) -> str:
    how = int(rng.integers(0, 3))
    if how == 0:
        return vin[:-1]
    if how == 1:
        return vin + str(rng.integers(0, 10))
    pos = int(rng.integers(3, len(vin)))
    return vin[:pos] + str(rng.choice(["I", "O", "Q"])) + vin[pos + 1:]


def _headers_for_file(columns: list[str], rng: np.random.Generator) -> list[str]:
    header = [HEADERS[c][0] for c in columns]
    variable = [j for j, c in enumerate(columns) if len(HEADERS[c]) > 1]
    for j in rng.choice(variable, size=min(3, len(variable)), replace=False):
        header[j] = str(rng.choice(HEADERS[columns[j]][1:]))
    spaced = [j for j, h in enumerate(header) if len(h) >= 3 and not h.isascii()]
    if spaced:
        j = int(rng.choice(spaced))
        cut = int(rng.integers(1, len(header[j])))
        header[j] = header[j][:cut] + " " + header[j][cut:]
    return header


def _month_label(m: int) -> str:
    return f"{m // 12:04d}{m % 12 + 1:02d}"


def _fault_row(file: str, sheet: str | None, row: int, kind: str, ro_id: str | None,
               column: str | None, detail: str) -> dict[str, Any]:
    return {"file": file, "sheet": sheet, "row": int(row), "kind": kind,
            "outcome": OUTCOMES[kind], "ro_id": ro_id, "column": column, "detail": detail}


def _write_csv(path: Path, frame: pd.DataFrame, header: list[str], encoding: str) -> None:
    out = frame.copy()
    out.columns = header
    out.to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")


def _write_xlsx(path: Path, frame: pd.DataFrame, header: list[str], numbers: pd.DataFrame,
                title: str) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET_NAME)
    ws.append(["维修工单明细表"])
    ws.append([title])
    ws.append(header)
    for row in frame.itertuples(index=False, name=None):
        cells = []
        for v in row:
            if isinstance(v, _dt.datetime):
                c = WriteOnlyCell(ws, value=v)
                c.number_format = "yyyy-mm-dd"
                cells.append(c)
            else:
                cells.append(v)
        ws.append(cells)
    totals: list[Any] = [None] * len(header)
    totals[0] = "合计"
    for c in _AMOUNTS:
        if c in frame.columns:
            totals[list(frame.columns).index(c)] = round(float(numbers[c].sum()), 2)
    ws.append(totals)
    wb.properties.creator = "crm_analysis.synth.dms"
    wb.properties.created = _dt.datetime(2000, 1, 1)
    wb.save(path)

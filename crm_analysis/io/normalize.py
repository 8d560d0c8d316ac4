"""Normalization of raw DMS exports: headers, dates, amounts, coded values and ids.

The building blocks of :func:`crm_analysis.io.load`, kept pure and vectorized so that they
can be tested on their own and run on a million rows in a second or two:

Headers
    :data:`HEADER_ALIASES` lists, for every canonical column, the Chinese and English
    headers seen in dealer management system (DMS) exports. :func:`normalize_header`
    reduces a header to its matching key (NFKC, so full-width letters and brackets become
    half-width; lower case; no spaces, brackets, ``_``, ``-``, ``.``, ``:``),
    :func:`match_headers` maps the columns of a file to canonical names,
    :func:`unmatched_headers` lists the columns left over, and :func:`require_columns`
    raises a :class:`DataError` naming the file, the columns found and the closest
    candidates when a required column is missing (:func:`closest` finds those).
Values
    Each parser takes a :class:`pandas.Series` and returns a :class:`Parsed`: the parsed
    ``values`` (same index and name) and a boolean ``bad`` mask of the cells that held
    something that could not be parsed. Missing cells are never bad.
    :func:`parse_dates` (2023-01-05, 2023/1/5, 2023.1.5, 2023年1月5日, 20230105, Excel
    serials, with or without a time), :func:`parse_amounts` (1,234.50, ¥1,234, 1234元,
    full-width digits, ``(123)`` for -123, ``-`` for missing), :func:`map_values` (the
    Chinese vocabularies of :data:`VALUE_ALIASES`, e.g. 首保 -> ``maintenance``).
    :func:`clean_id` and :func:`clean_vin` tidy identifiers, :func:`valid_vin` checks VINs.
User mapping
    :func:`load_mapping` reads a user mapping (a dict or a YAML file) with a ``headers``
    section ``{source header: canonical column}`` and a ``values`` section
    ``{field: {alias: code}}``; both win over the built-in aliases.
Vocabulary
    :data:`REASONS` holds the reason codes of quarantined, merged and flagged rows with an
    English and a Chinese description; :class:`DataError` is the error raised for input
    that cannot be loaded at all.

Parsers work on the distinct values of a column (a DMS export repeats the same dates,
types and amounts over and over), then on those with one regular expression per format
family, never with a per-row ``try``/``except``.

Example
-------
>>> import pandas as pd
>>> from crm_analysis.io.normalize import match_headers, parse_dates, parse_amounts
>>> match_headers(["工单号", "进厂日期 ", "ＶＩＮ码", "合计金额（元）", "备注"])
{'工单号': 'ro_id', '进厂日期 ': 'open_date', 'ＶＩＮ码': 'vin', '合计金额（元）': 'total_amount'}
>>> dates = parse_dates(pd.Series(["2023-01-05", "2023年1月5日", "44931", "", "soon"]))
>>> dates.values.dt.strftime("%Y-%m-%d").tolist(), dates.bad.tolist()
(['2023-01-05', '2023-01-05', '2023-01-05', nan, nan], [False, False, False, False, True])
>>> amounts = parse_amounts(pd.Series(["¥1,234.50", "(80)", "-", "１２元", "abc"]))
>>> amounts.values.tolist(), amounts.bad.tolist()
([1234.5, -80.0, nan, 12.0, nan], [False, False, False, False, True])
"""

from __future__ import annotations

import datetime as _dt
import difflib
import math
import os
import re
import unicodedata
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crm_analysis.schema import CUSTOMER_TYPES, GRADES, PAYERS, RO_TYPES, TABLES, USAGES

__all__ = [
    "FLAG_REASONS",
    "HEADER_ALIASES",
    "MAX_MILEAGE_KM",
    "MAX_ORDER_AMOUNT",
    "MERGE_REASONS",
    "QUARANTINE_REASONS",
    "REASONS",
    "VALUE_ALIASES",
    "VIN_PATTERN",
    "DataError",
    "Parsed",
    "clean_id",
    "clean_vin",
    "closest",
    "describe_reason",
    "load_mapping",
    "map_values",
    "match_headers",
    "normalize_header",
    "normalize_value",
    "parse_amounts",
    "parse_dates",
    "require_columns",
    "unmatched_headers",
    "valid_vin",
]


class DataError(ValueError):
    """Input that cannot be loaded at all (as opposed to single rows, which are quarantined).

    The message names the file (and sheet), the column(s) and the row(s) where relevant.
    The optional keyword arguments are kept as attributes for programs that want them.

    Example
    -------
    >>> err = DataError("orders.csv: no column matches ro_id", file="orders.csv",
    ...                 columns=["ro_id"])
    >>> isinstance(err, ValueError), err.file, err.columns, str(err)
    (True, 'orders.csv', ['ro_id'], 'orders.csv: no column matches ro_id')
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | os.PathLike | None = None,
        sheet: str | None = None,
        columns: list[str] | None = None,
        rows: list[int] | None = None,
    ):
        super().__init__(message)
        self.file = None if file is None else str(file)
        self.sheet = sheet
        self.columns = columns
        self.rows = rows


@dataclass(frozen=True, eq=False)
class Parsed:
    """What a parser gives: the parsed ``values`` (same index and name as its input) and
    the boolean ``bad`` mask of the non-empty cells that could not be parsed."""

    values: pd.Series
    bad: pd.Series


# ---------------------------------------------------------------------------------------
# Reason codes
# ---------------------------------------------------------------------------------------

#: The largest amount (RMB, each of labour, parts, other, total and costs) one repair order
#: may carry; more is ``implausible_amount`` (a typo, a unit error such as fen for yuan, or
#: an exponent like ``1.2e9``). A complete rebuild of a luxury car stays well below it.
MAX_ORDER_AMOUNT = 1_000_000.0
#: The largest odometer reading (km) accepted; more is ``implausible_mileage``. Twice the
#: most-driven car on record (about 5 million km in 50 years), and above the taxis of the
#: synthetic data (up to a few million km): it catches exponents (``1.2e9``), metres
#: written as kilometres and digits typed twice, while a high but possible reading is
#: kept (a reading that goes backwards is flagged ``mileage_backwards``).
MAX_MILEAGE_KM = 10_000_000.0

#: Reason code -> (English, Chinese) description, for quarantined, merged and flagged rows.
REASONS: dict[str, tuple[str, str]] = {
    # quarantined: the row is not used
    "unparseable_date": ("a date cell could not be read as a date", "日期无法识别"),
    "unparseable_amount": ("an amount cell could not be read as a number", "金额无法识别"),
    "negative_amount": ("negative amount on an order that is not a refund", "金额为负(非退款)"),
    "missing_key": (
        "no repair order number, VIN or customer id where one is required",
        "缺少工单号、车架号或客户编号",
    ),
    "duplicate_order_conflict": (
        "the same repair order number with different content (every copy is set aside)",
        "工单号重复且内容不一致(所有副本均被隔离)",
    ),
    "order_before_sale": ("order opened before the vehicle's sale date", "进厂日期早于购车日期"),
    "order_after_as_of": ("order opened after the as-of date", "进厂日期晚于截止日期"),
    "invalid_vin": (
        "VIN is not 17 characters of A-H, J-N, P, R-Z and 0-9",
        "车架号不是17位有效字符(不含I、O、Q)",
    ),
    "unknown_ro_type": (
        "order type not in the vocabulary or the user mapping",
        "业务类型无法识别(不在词表或用户映射中)",
    ),
    "total_mismatch": (
        "the total differs from labour + parts + other by more than one fen (0.01 yuan)",
        "结算金额与工时费、材料费和其他费用之和相差超过0.01元",
    ),
    "close_before_open": ("order closed before it was opened", "结算日期早于进厂日期"),
    "unknown_value": (
        "a coded value (payer, customer type, own sale, grade, usage) not in the vocabulary "
        "or the user mapping; quarantined where the field is required, else left empty and "
        "flagged",
        "编码字段（付费方式、客户类型、自销/他销、车辆档次、用途）的取值无法识别；必填字段隔离，其余置空并标记",
    ),
    "summary_row": ("a totals row of the sheet", "合计行"),
    "blank_row": ("an empty row", "空行"),
    "malformed_row": (
        "a CSV line with more fields than the header (a stray delimiter or line break)",
        "CSV行的字段数多于表头(多余的分隔符或换行)",
    ),
    "future_date": (
        "a date later than tomorrow while no as-of date was given: an export cannot hold "
        "future dates (pass the export date as as_of to check against it instead)",
        "未指定截止日期时日期晚于明天:导出数据中不应有未来日期(可传入导出日期作为截止日期)",
    ),
    "implausible_amount": (
        f"an amount of more than {MAX_ORDER_AMOUNT:,.0f} yuan on one repair order (a typo "
        "or a unit error)",
        f"单张工单金额超过{MAX_ORDER_AMOUNT / 10_000:,.0f}万元(录入错误或单位错误)",
    ),
    "implausible_mileage": (
        f"an odometer reading of more than {MAX_MILEAGE_KM:,.0f} km",
        f"进厂里程超过{MAX_MILEAGE_KM / 10_000:,.0f}万公里",
    ),
    "duplicate_case": (
        "ids that differ only in upper / lower case (RO001, ro001): copies of an order with "
        "otherwise identical content are kept once and flagged, with different content every "
        "copy is set aside; customer and store ids are kept as read and flagged",
        "编号仅大小写不同(如RO001与ro001):内容相同的工单只保留一条并标记,内容不同的所有副本均被"
        "隔离;客户编号和门店编号按原样保留并标记",
    ),
    # merged
    "exact_duplicate": ("identical repeat of a row, kept once", "完全重复的行,只保留一条"),
    # flagged: the row is kept
    "mileage_backwards": (
        "mileage lower than on an earlier order of the same VIN",
        "里程低于该车之前工单的里程",
    ),
    "unknown_vin": (
        "order for a VIN absent from the vehicles data; vehicle created with unknown sale date",
        "车辆资料中没有该车架号,已新建车辆(购车日期未知)",
    ),
    "conflicting_repeat": (
        "one VIN with two sale dates or one customer with two phones; the value on the most "
        "recent order wins",
        "同一车架号有不同购车日期或同一客户有不同电话,以最近一张工单为准",
    ),
    "null_text": (
        "a number, date or coded cell holds NaN / NULL-like text (nan, NULL, None, N/A): "
        "read as an empty cell (an amount part then counts as 0, a missing total is the sum "
        "of its parts)",
        "数值、日期或编码单元格中是NaN/NULL之类的文字(nan、NULL、None、N/A):按空单元格处理"
        "(金额分项计为0,缺少的合计按分项之和)",
    ),
}

#: Reason codes of rows set aside (not used).
QUARANTINE_REASONS: tuple[str, ...] = (
    "unparseable_date",
    "unparseable_amount",
    "negative_amount",
    "missing_key",
    "duplicate_order_conflict",
    "order_before_sale",
    "order_after_as_of",
    "invalid_vin",
    "unknown_ro_type",
    "total_mismatch",
    "close_before_open",
    "unknown_value",
    "summary_row",
    "blank_row",
    "malformed_row",
    "future_date",
    "implausible_amount",
    "implausible_mileage",
    "duplicate_case",
)
#: Reason codes of rows merged into another row (counted, not quarantined).
MERGE_REASONS: tuple[str, ...] = ("exact_duplicate",)
#: Reason codes of rows kept but listed in ``LoadResult.flags``.
FLAG_REASONS: tuple[str, ...] = ("mileage_backwards", "unknown_vin", "conflicting_repeat",
                                  "unknown_value", "duplicate_case", "null_text")


def describe_reason(code: str, lang: str = "en") -> str:
    """The description of reason ``code`` in English (``lang="en"``) or Chinese (``"zh"``).

    Example
    -------
    >>> describe_reason("summary_row"), describe_reason("summary_row", "zh")
    ('a totals row of the sheet', '合计行')
    """
    if code not in REASONS:
        raise KeyError(f"unknown reason code {code!r}; expected one of {', '.join(REASONS)}")
    if lang not in ("en", "zh"):
        raise ValueError("lang must be 'en' or 'zh'")
    return REASONS[code][0 if lang == "en" else 1]


# ---------------------------------------------------------------------------------------
# Header aliases and matching
# ---------------------------------------------------------------------------------------

#: Canonical column -> headers seen in DMS exports, in order of preference (when two
#: columns of one file match the same canonical column, the one whose header comes first
#: here wins; the canonical name itself always matches and comes before every alias).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    # repair orders
    "ro_id": ("工单号", "工单编号", "维修工单号", "派工单号", "委托书号", "RO号", "RO No",
              "RO number", "repair order", "order id"),
    "open_date": ("进厂日期", "接待日期", "开单日期", "进站日期", "进厂时间", "维修日期",
                  "open date"),
    "close_date": ("结算日期", "完工日期", "出厂日期", "结算时间", "close date"),
    "store_id": ("门店", "门店编码", "门店代码", "经销商代码", "服务站代码", "store",
                 "store code"),
    "mileage_km": ("进厂里程", "行驶里程", "里程", "里程数", "公里数", "mileage", "mileage km",
                   "odometer"),
    "ro_type": ("业务类型", "工单类型", "维修类型", "维修性质", "ro type", "order type"),
    "payer": ("付费方式", "结算方式", "付款方", "支付方", "payer"),
    "labor_amount": ("工时费", "人工费", "工时费用", "工时金额", "labor", "labour",
                     "labor amount"),
    "parts_amount": ("材料费", "配件费", "零件费", "材料金额", "配件金额", "parts",
                     "parts amount"),
    "other_amount": ("外包费用", "其他费用", "附加费", "other", "other amount"),
    "total_amount": ("合计金额", "结算金额", "实收", "实收金额", "总金额", "total",
                     "total amount"),
    "labor_cost": ("工时成本", "labor cost", "labour cost"),
    "parts_cost": ("配件成本", "材料成本", "parts cost"),
    "advisor": ("服务顾问", "接待员", "SA", "service advisor"),
    # customers
    "customer_id": ("客户编号", "客户ID", "客户代码", "customer id", "customer no"),
    "name": ("客户名称", "客户姓名", "车主姓名", "车主", "姓名", "联系人", "customer name"),
    "phone": ("客户电话", "手机", "手机号", "手机号码", "车主电话", "车主手机", "联系电话",
              "电话", "phone", "mobile"),
    "id_number": ("身份证号", "身份证号码", "证件号码", "证件号", "id number", "id card"),
    "customer_type": ("客户类型", "客户性质", "customer type"),
    "occupation": ("职业", "occupation"),
    "region": ("区域", "地区", "所在区域", "region"),
    "first_seen_date": ("首次进厂日期", "首次到店日期", "first seen date"),
    # vehicles
    "vin": ("车架号", "VIN码", "VIN", "VIN号", "底盘号", "车辆识别代码", "车辆识别号"),
    "plate": ("车牌号", "车牌", "牌照号", "车牌号码", "plate", "plate number"),
    "model": ("车型", "品牌车型", "车型名称", "model"),
    "sale_date": ("购车日期", "销售日期", "开票日期", "购买日期", "sale date", "purchase date"),
    "sold_here": ("自销/他销", "是否本店销售", "销售类型", "sold here"),
    "grade": ("车辆档次", "档次", "vehicle grade", "grade"),
    "usage": ("车辆用途", "使用性质", "用途", "usage", "vehicle usage"),
    "color": ("颜色", "车身颜色", "color", "colour"),
    # stores
    "store_name": ("门店名称", "经销商名称", "store name"),
    "city": ("城市", "所在城市", "city"),
    "opened_date": ("开业日期", "opened date", "opening date"),
}

_FULLWIDTH_SPACE = "\u3000"
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
_HEADER_DROP = re.compile(r"[\s()（）\[\]【】_\-.:：'\"`]+")
_INVISIBLE_TABLE = {ord(c): None for c in _INVISIBLE}
_BRACKETED = re.compile(r"[(（\[【][^)）\]】]*[)）\]】]")


def _nfkc(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return text.strip(" \t\r\n\x0b\x0c" + _FULLWIDTH_SPACE + _INVISIBLE)


def normalize_header(text: Any) -> str:
    """The matching key of a header: NFKC, lower case, without spaces, brackets, ``_-.:``.

    Full-width letters, digits and brackets become half-width first, so ``ＶＩＮ码`` and
    ``VIN码`` match; ``客户 ID`` and ``客户id`` match; ``store_id`` and ``Store ID`` match.
    Missing headers (``None``, NaN) give ``""``.

    Example
    -------
    >>> normalize_header(" ＶＩＮ 码 "), normalize_header("RO No."), normalize_header("自销/他销")
    ('vin码', 'rono', '自销/他销')
    >>> normalize_header("合计金额（元）"), normalize_header("Store_ID")
    ('合计金额元', 'storeid')
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    text = _nfkc(str(text))
    return _HEADER_DROP.sub("", text.translate(_INVISIBLE_TABLE)).lower()



def _bare_header(text: Any) -> str:
    """:func:`normalize_header` after removing bracketed parts: ``工时费(元)`` -> ``工时费``."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    return normalize_header(_BRACKETED.sub("", _nfkc(str(text))))


def _alias_index() -> dict[str, tuple[str, int]]:
    index: dict[str, tuple[str, int]] = {}
    for canonical, aliases in HEADER_ALIASES.items():
        for rank, alias in enumerate((canonical, *aliases)):
            key = normalize_header(alias)
            if key in index and index[key][0] != canonical:
                raise AssertionError(f"header alias {alias!r} is ambiguous")
            index.setdefault(key, (canonical, rank))
    return index


_ALIAS_INDEX: dict[str, tuple[str, int]] = _alias_index()

#: Every column name the loader knows: canonical columns of the four tables plus the
#: extra columns of :data:`HEADER_ALIASES` (``id_number``).
_KNOWN_COLUMNS: frozenset[str] = frozenset(HEADER_ALIASES) | frozenset(
    c for t in ("stores", "customers", "vehicles", "repair_orders") for c in TABLES[t]
)


def _header_label(col: Any) -> str:
    return "" if col is None or (isinstance(col, float) and math.isnan(col)) else str(col)


def _match(
    columns: Iterable[Hashable], mapping: Any, where: str
) -> tuple[dict[Any, str], list[Any]]:
    cols = list(columns)
    user = {normalize_header(k): v for k, v in load_mapping(mapping)["headers"].items()}
    # candidates: column -> (canonical, priority); lower priority wins
    cand: dict[int, tuple[str, tuple[int, int]]] = {}
    keys = [normalize_header(c) for c in cols]
    for i, (col, key) in enumerate(zip(cols, keys, strict=True)):
        if not key:
            continue
        if key in user:
            cand[i] = (user[key], (0, 0))
        elif key in _ALIAS_INDEX:
            canonical, rank = _ALIAS_INDEX[key]
            cand[i] = (canonical, (1, rank))
        else:
            bare = _bare_header(col)
            if bare in user:
                cand[i] = (user[bare], (0, 1))
            elif bare in _ALIAS_INDEX:
                canonical, rank = _ALIAS_INDEX[bare]
                cand[i] = (canonical, (2, rank))
    # duplicate headers that matter: the same key twice, matched to a canonical column
    seen: dict[str, int] = {}
    for i, key in enumerate(keys):
        if i not in cand:
            continue
        if key in seen:
            first = cols[seen[key]]
            prefix = f"{where}: " if where else ""
            raise DataError(
                f"{prefix}duplicate column headers {_header_label(first)!r} and "
                f"{_header_label(cols[i])!r} (columns {seen[key] + 1} and {i + 1}) both mean "
                f"{cand[i][0]!r}; rename or remove one of them",
                file=where or None,
                columns=[_header_label(first), _header_label(cols[i])],
            )
        seen[key] = i
    # one source column per canonical column: the best priority wins
    best: dict[str, int] = {}
    for i, (canonical, prio) in cand.items():
        j = best.get(canonical)
        if j is None:
            best[canonical] = i
        elif prio == cand[j][1] and prio[0] == 0:
            prefix = f"{where}: " if where else ""
            raise DataError(
                f"{prefix}the mapping sends both {_header_label(cols[j])!r} and "
                f"{_header_label(cols[i])!r} to {canonical!r}",
                file=where or None,
                columns=[_header_label(cols[j]), _header_label(cols[i])],
            )
        elif prio < cand[j][1]:
            best[canonical] = i
    chosen = sorted(best.values())
    matched = {cols[i]: cand[i][0] for i in chosen}
    unmatched = [c for i, c in enumerate(cols) if i not in set(chosen)]
    return matched, unmatched


def match_headers(
    columns: Iterable[Hashable], *, mapping: Any = None, where: str = ""
) -> dict[Any, str]:
    """Map the columns of a file to canonical column names.

    A header matches a canonical column when its :func:`normalize_header` key equals that
    of the canonical name or of one of its :data:`HEADER_ALIASES`, or, failing that, when
    it does after dropping a bracketed part (``工时费(元)``, ``里程（km）``). Headers of the
    user ``mapping`` (a dict ``{source: canonical}``, a ``{"headers": {...}}`` dict or a
    YAML path, see :func:`load_mapping`) win over the built-in aliases.

    Returns ``{source column: canonical column}`` in the order of ``columns``. Unknown
    columns are left out (see :func:`unmatched_headers`). When several columns match the
    same canonical column, the user mapping wins, then the alias listed first (``手机``
    beats ``电话``); the others are left out too. Two columns with the same key that
    match a canonical column (``工单号`` and ``工单号 ``) raise :class:`DataError` naming
    ``where`` (the file and sheet) and both columns.

    Example
    -------
    >>> match_headers(["单号", "车架号", "电话", "手机", "备注"], mapping={"单号": "ro_id"})
    {'单号': 'ro_id', '车架号': 'vin', '手机': 'phone'}
    >>> match_headers(["工单号", " 工单号"], where="a.csv")
    Traceback (most recent call last):
    ...
    crm_analysis.io.normalize.DataError: a.csv: duplicate column headers '工单号' and ' 工单号' \
(columns 1 and 2) both mean 'ro_id'; rename or remove one of them
    """
    return _match(columns, mapping, where)[0]


def unmatched_headers(
    columns: Iterable[Hashable], *, mapping: Any = None, where: str = ""
) -> list[Any]:
    """The columns :func:`match_headers` leaves out, in their original order.

    Example
    -------
    >>> unmatched_headers(["工单号", "备注", "电话", "手机"])
    ['备注', '电话']
    """
    return _match(columns, mapping, where)[1]


def closest(name: Any, candidates: Iterable[Any], n: int = 3) -> list[Any]:
    """Up to ``n`` of ``candidates`` most similar to ``name`` (difflib, on header keys).

    Used in error messages. Candidates are compared by their :func:`normalize_header`
    keys and returned as given, best first; those less than 40 % similar are left out.

    Example
    -------
    >>> closest("工单 号", ["进厂日期", "工单编号", "车架号", "工单"])
    ['工单编号', '工单']
    >>> closest("vin", ["Customer", "VIN No"])
    ['VIN No']
    """
    key = normalize_header(name)
    scored = []
    for pos, cand in enumerate(candidates):
        ratio = difflib.SequenceMatcher(None, key, normalize_header(cand)).ratio()
        if ratio >= 0.4:
            scored.append((-ratio, pos, cand))
    scored.sort(key=lambda t: (t[0], t[1]))
    return [c for _, _, c in scored[:n]]


def require_columns(
    found: Mapping[Any, str],
    required: Iterable[str],
    *,
    file: str | os.PathLike,
    columns_seen: Iterable[Any],
    sheet: str | None = None,
) -> dict[str, Any]:
    """Raise :class:`DataError` unless every ``required`` canonical column was matched.

    ``found`` is the result of :func:`match_headers` (``{source: canonical}``). The error
    names the file (and sheet), each missing column with a few of its usual headers, the
    columns seen in the file and, for each missing column, the closest headers among them.
    Returns ``{canonical: source}`` for the matched columns.

    Example
    -------
    >>> seen = ["单号", "进厂日期", "VIN"]
    >>> found = match_headers(seen)
    >>> require_columns(found, ["open_date", "vin"], file="x.csv", columns_seen=seen)
    {'open_date': '进厂日期', 'vin': 'VIN'}
    >>> require_columns(found, ["ro_id", "vin"], file="x.csv", columns_seen=seen)
    Traceback (most recent call last):
    ...
    crm_analysis.io.normalize.DataError: x.csv: required column ro_id (e.g. 工单号, 工单编号, \
维修工单号) not found; closest headers in the file: '单号'. Columns found: '单号', '进厂日期', \
'VIN'. Rename the column or pass mapping={'<header>': 'ro_id'}.
    """
    by_canonical: dict[str, Any] = {}
    for source, canonical in found.items():
        by_canonical.setdefault(canonical, source)
    seen = [c for c in columns_seen if _header_label(c)]
    missing = [c for c in required if c not in by_canonical]
    if not missing:
        return by_canonical
    where = str(file) + (f" [sheet {sheet}]" if sheet else "")
    parts = []
    for canonical in missing:
        aliases = HEADER_ALIASES.get(canonical, ())
        hint = f" (e.g. {', '.join(aliases[:3])})" if aliases else ""
        scores: dict[Any, float] = {}
        for col in seen:
            if col in found:
                continue
            key = normalize_header(col)
            for alias in (canonical, *aliases):
                r = difflib.SequenceMatcher(None, key, normalize_header(alias)).ratio()
                scores[col] = max(scores.get(col, 0.0), r)
        near = [c for c, r in sorted(scores.items(), key=lambda t: -t[1]) if r >= 0.4][:3]
        near_txt = (
            "closest headers in the file: " + ", ".join(repr(_header_label(c)) for c in near)
            if near
            else "no similar header in the file"
        )
        parts.append(f"required column {canonical}{hint} not found; {near_txt}")
    seen_txt = ", ".join(repr(_header_label(c)) for c in seen) or "none"
    example = missing[0]
    raise DataError(
        f"{where}: " + "; ".join(parts) + f". Columns found: {seen_txt}. Rename the column "
        f"or pass mapping={{'<header>': '{example}'}}.",
        file=file,
        sheet=sheet,
        columns=missing,
    )


# ---------------------------------------------------------------------------------------
# Coded values
# ---------------------------------------------------------------------------------------


def _codes(code_to_aliases: dict[Any, tuple[str, ...]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code, aliases in code_to_aliases.items():
        for alias in aliases:
            out[alias] = code
        if isinstance(code, str):
            out[code] = code
    return out


#: Field -> {alias: code}: the Chinese (and English) vocabularies of coded columns.
#: Aliases are matched after :func:`normalize_value`; the codes map to themselves.
VALUE_ALIASES: dict[str, dict[str, Any]] = {
    "ro_type": _codes({
        "maintenance": ("保养", "首保", "定保", "常规保养", "二保", "定期保养", "免费保养"),
        "repair": ("一般维修", "机修", "维修", "电器维修", "机电维修", "故障维修"),
        "body_paint": ("钣喷", "钣金喷漆", "钣金", "喷漆", "事故车", "事故", "事故维修",
                       "body paint", "body and paint"),
        "warranty": ("保修", "索赔", "三包", "质保", "首保索赔"),
        "detailing": ("美容", "洗美", "精品", "装潢", "洗车"),
        "other": ("其他", "内部", "其它"),
    }),
    "payer": _codes({
        "customer": ("自费", "客户", "现金", "客户付费"),
        "warranty": ("保修", "索赔", "厂家", "厂家索赔"),
        "insurance": ("保险", "保险公司", "保险理赔"),
        "internal": ("内部", "内结"),
    }),
    "sold_here": _codes({
        True: ("自销", "本店", "本店销售", "是", "y", "yes", "true", "1"),
        False: ("他销", "外店", "非本店", "否", "n", "no", "false", "0"),
    }),
    "customer_type": _codes({
        "individual": ("个人", "私人", "个人客户"),
        "company": ("公司", "单位", "企业", "公司客户"),
        "government": ("政府", "机关", "事业单位"),
    }),
    "usage": _codes({
        "private": ("私家车", "私人", "非营运", "家用"),
        "company": ("公务", "公司", "单位用车"),
        "ride_hailing": ("网约车", "网约", "ride hailing"),
        "taxi": ("出租车", "出租"),
        "government": ("政府", "公务车"),
    }),
    "grade": _codes({
        "economy": ("经济型", "经济"),
        "mid": ("中级", "中档", "中级车"),
        "premium": ("豪华", "高档", "豪华型"),
    }),
}

#: Allowed codes of each coded field (``None``: any code).
_ALLOWED_CODES: dict[str, tuple[Any, ...]] = {
    "ro_type": RO_TYPES,
    "payer": PAYERS,
    "sold_here": (True, False),
    "customer_type": CUSTOMER_TYPES,
    "usage": USAGES,
    "grade": GRADES,
}

_VALUE_DROP = re.compile(r"[\s_\-]+")


def normalize_value(value: Any) -> str:
    """The matching key of a coded value: NFKC, lower case, no spaces, ``_`` or ``-``.

    Example
    -------
    >>> normalize_value(" Ride_Hailing "), normalize_value("首保"), normalize_value(1.0)
    ('ridehailing', '首保', '1')
    """
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    return _VALUE_DROP.sub("", _nfkc(str(value))).lower()


_VALUE_INDEX: dict[str, dict[str, Any]] = {
    f: {normalize_value(a): c for a, c in aliases.items()} for f, aliases in VALUE_ALIASES.items()
}


def _value_mapping_for(field: str, mapping: Any) -> dict[Any, Any]:
    """The user's ``{alias: code}`` for ``field`` out of any accepted mapping form."""
    if mapping is None:
        return {}
    if isinstance(mapping, (str, os.PathLike)):
        return load_mapping(mapping)["values"].get(field, {})
    if not isinstance(mapping, Mapping):
        raise TypeError(f"mapping must be a dict or a YAML path, got {type(mapping).__name__}")
    if "values" in mapping and isinstance(mapping["values"], Mapping):
        return dict(mapping["values"].get(field) or {})
    if field in mapping and isinstance(mapping[field], Mapping):
        return dict(mapping[field])
    if any(isinstance(v, Mapping) for v in mapping.values()):
        return {}  # a {field: {...}} mapping without this field
    return dict(mapping)


def map_values(s: pd.Series, field: str, *, mapping: Any = None) -> Parsed:
    """Translate the coded values of ``field`` (e.g. 首保 -> ``maintenance``).

    Values are matched after :func:`normalize_value` against :data:`VALUE_ALIASES` and
    the user ``mapping``, which wins. ``mapping`` is either ``{alias: code}`` for this
    field, ``{field: {alias: code}}``, or a whole :func:`load_mapping` result or YAML path.
    User codes must be valid for the field (:class:`DataError` otherwise).

    Returns a :class:`Parsed`: ``values``, an ``object`` Series of codes (``bool`` for
    ``sold_here``) with ``None`` for missing cells, and ``bad``, a mask of the non-empty
    cells not recognised.

    Example
    -------
    >>> import pandas as pd
    >>> codes = map_values(pd.Series(["首保", "钣金喷漆", "REPAIR", None, "改装"]), "ro_type")
    >>> codes.values.tolist(), codes.bad.tolist()
    (['maintenance', 'body_paint', 'repair', None, None], [False, False, False, False, True])
    >>> map_values(pd.Series(["改装"]), "ro_type", mapping={"改装": "repair"}).values.tolist()
    ['repair']
    >>> map_values(pd.Series(["自销", "他销", "Y"]), "sold_here").values.tolist()
    [True, False, True]
    """
    user = _value_mapping_for(field, mapping)
    if field not in _VALUE_INDEX and not user:
        raise KeyError(
            f"no value vocabulary for field {field!r}; known fields: {', '.join(VALUE_ALIASES)}"
        )
    allowed = _ALLOWED_CODES.get(field)
    index = dict(_VALUE_INDEX.get(field, {}))
    for alias, code in user.items():
        if field == "sold_here" and not isinstance(code, bool):
            code = _VALUE_INDEX["sold_here"].get(normalize_value(code), code)
        if allowed is not None and code not in allowed:
            raise DataError(
                f"mapping for {field}: {alias!r} -> {code!r} is not a valid code; expected "
                f"one of {', '.join(map(str, allowed))}"
            )
        index[normalize_value(alias)] = code
    s = _as_series(s)
    codes, uniques = _factorize(s)
    u_out = np.empty(len(uniques), dtype=object)
    u_bad = np.zeros(len(uniques), dtype=bool)
    for k, v in enumerate(uniques):
        key = normalize_value(v)
        if key == "" or key in _NULL_TOKENS:
            u_out[k] = None
        elif key in index:
            u_out[k] = index[key]
        else:
            u_out[k] = None
            u_bad[k] = True
    return _expand(s, codes, u_out, u_bad, None, object)


# ---------------------------------------------------------------------------------------
# Identifiers
# ---------------------------------------------------------------------------------------

_NULL_TOKENS: frozenset[str] = frozenset({"", "nan", "none", "null", "nat", "<na>", "n/a",
                                          "#n/a", "na"})
#: The non-empty ones: NaN / NULL-like text (see :func:`_null_text_mask`).
_NULL_WORDS: frozenset[str] = _NULL_TOKENS - {""}


def _null_text_mask(s: pd.Series) -> np.ndarray:
    """Cells holding NaN / NULL-like *text* (``nan``, ``NULL``, ``None``, ``NaT``, ``<NA>``,
    ``N/A``, ``#N/A``, ``NA``; any case, full width or padded): what a program writes for a
    value it lost. The parsers read them as empty cells; :func:`crm_analysis.io.load`
    flags them (``null_text``) so that they are never taken for an empty cell silently.
    Empty cells and the accounting marks ``-`` and ``/`` are not NULL-like text.
    Each distinct value is looked at once.

    Example
    -------
    >>> import pandas as pd
    >>> _null_text_mask(pd.Series(["NaN", " null ", "", None, "-", "12", "ＮＵＬＬ"])).tolist()
    [True, True, False, False, False, False, True]
    """
    s = _as_series(s)
    if not (s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype)):
        return np.zeros(len(s), dtype=bool)
    codes, uniques = _factorize(s)
    u = np.array([isinstance(v, str) and _nfkc(v).lower() in _NULL_WORDS for v in uniques]
                 + [False], dtype=bool)
    return u[np.where(codes < 0, len(uniques), codes)]


def _factorize(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (-1 where missing) and distinct values of a column, as
    :func:`pandas.factorize` gives them for its object values. A categorical column (the
    CSV reader's) uses its own codes and categories, so no text is hashed again; its
    unused categories are harmless extra distinct values."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return (s.cat.codes.to_numpy().astype(np.intp),
                np.asarray(s.cat.categories, dtype=object))
    return pd.factorize(s.astype(object), use_na_sentinel=True)


def _as_series(s: Any) -> pd.Series:
    return s if isinstance(s, pd.Series) else pd.Series(s)


def _expand(
    s: pd.Series,
    codes: np.ndarray,
    u_out: np.ndarray,
    u_bad: np.ndarray,
    missing: Any,
    dtype: Any,
) -> Parsed:
    """Broadcast per-unique results back to the rows of ``s`` (code -1 = missing)."""
    na = codes < 0
    safe = np.where(na, 0, codes)
    if len(u_out):
        out = u_out[safe]
        bad = u_bad[safe] & ~na
    else:
        out = np.empty(len(codes), dtype=u_out.dtype)
        bad = np.zeros(len(codes), dtype=bool)
    if na.any():
        out = out.copy()
        out[na] = missing
    return Parsed(pd.Series(out, index=s.index, name=s.name, dtype=dtype),
                  pd.Series(bad, index=s.index, name=s.name, dtype=bool))


def _clean_id1(v: Any) -> Any:
    if isinstance(v, str):
        t = _nfkc(v)
        return t if t and t.lower() not in _NULL_TOKENS else np.nan
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return np.nan
        return str(int(f)) if f.is_integer() else repr(f)
    return _nfkc(str(v)) or np.nan


def clean_id(s: pd.Series, *, upper: bool = False, missing: Any = np.nan) -> pd.Series:
    """Identifiers as trimmed NFKC text: ``"007"`` stays ``"007"``, Excel's 7.0 -> ``"7"``.

    Missing cells, empty strings and ``"nan"``/``"None"``-like text give ``missing``
    (NaN); ``upper=True`` upper-cases the text (VINs). Each distinct value is cleaned once.

    Example
    -------
    >>> import pandas as pd
    >>> clean_id(pd.Series([" 007 ", 7.0, 12, "Ｒ００１", None, ""], dtype=object)).tolist()
    ['007', '7', '12', 'R001', nan, nan]
    """
    s = _as_series(s)
    codes, uniques = _factorize(s)
    u_out = np.array([_clean_id1(v) for v in uniques], dtype=object)
    empty = np.array([not isinstance(v, str) for v in u_out], dtype=bool)
    if upper:
        u_out = np.array([v if e else v.upper() for v, e in zip(u_out, empty, strict=True)],
                         dtype=object)
    u_out[empty] = missing
    return _expand(s, codes, u_out, np.zeros(len(u_out), bool), missing, object).values


#: A valid VIN: 17 characters, digits and capitals except I, O and Q.
VIN_PATTERN = r"[A-HJ-NPR-Z0-9]{17}"


def clean_vin(s: pd.Series) -> pd.Series:
    """VINs as upper-case, trimmed NFKC text (missing -> NaN); see :func:`clean_id`.

    Example
    -------
    >>> import pandas as pd
    >>> clean_vin(pd.Series([" lfv2a21k8a3000001 ", "ＬＦＶ２Ａ２１Ｋ８Ａ３０００００２"])).tolist()
    ['LFV2A21K8A3000001', 'LFV2A21K8A3000002']
    """
    out = clean_id(s)
    return out.str.upper()


def valid_vin(s: pd.Series) -> pd.Series:
    """``True`` where the value is 17 characters of ``[A-HJ-NPR-Z0-9]`` after clean-up.

    Upper-casing, trimming and NFKC come first (:func:`clean_vin`); missing is ``False``.

    Example
    -------
    >>> import pandas as pd
    >>> valid_vin(pd.Series(["lfv2a21k8a3000001", "LFV2A21K8A300000", "LFV2A21K8A300000I",
    ...                      None])).tolist()
    [True, False, False, False]
    """
    v = clean_vin(s)
    ok = v.str.fullmatch(VIN_PATTERN)
    return ok.eq(True).astype(bool).rename(v.name)


# ---------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------

#: Dates the fast ISO parser of pandas reads: y-m-d with one of ``-/.`` (the same twice),
#: an optional time, or eight digits. Anything it accepts beyond this is not let through.
_DATE_GATE = (
    r"^(?:\d{4}([-/.])\d{1,2}\1\d{1,2}(?:[ T]\d{1,2}:\d{1,2}(?::\d{1,2}(?:\.\d+)?)?)?"
    r"|\d{8})$"
)
_CN_TRANSLATE = str.maketrans({"年": "-", "月": "-", "日": " "})
_CN_DATE = r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?\s*"
_NULL_TEXT = ("", "nan", "NaN", "NAN", "none", "None", "NONE", "null", "Null", "NULL", "nat",
              "NaT", "NAT", "<NA>", "<na>", "N/A", "n/a", "#N/A", "#n/a", "NA", "na")
_SERIAL_RE = r"^\d{5}(?:\.\d*)?$"
#: Excel's 1900 date system: serial 1 is 1900-01-01, with the phantom 1900-02-29.
_EXCEL_EPOCH = np.datetime64("1899-12-30", "ns")
_SERIAL_MIN, _SERIAL_MAX = 20000, 80000
_YEAR_MIN, _YEAR_MAX = 1900, 2100
_NS_PER_DAY = 86_400 * 10**9


def _serials_to_dt(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Excel serials -> (datetime64[ns], ok mask); ok when in the accepted range."""
    x = np.asarray(x, dtype="float64")
    ok = np.isfinite(x) & (x >= _SERIAL_MIN) & (x <= _SERIAL_MAX)
    ns = np.round(np.where(ok, x, 0.0) * _NS_PER_DAY).astype("int64")
    out = _EXCEL_EPOCH + ns.astype("timedelta64[ns]")
    return np.where(ok, out, np.datetime64("NaT", "ns")), ok


def _numbers_to_dt(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numbers -> dates: Excel serials 20000..80000 or yyyymmdd integers."""
    x = np.asarray(x, dtype="float64")
    out, ok = _serials_to_dt(x)
    ymd = ~ok & np.isfinite(x) & (x >= _YEAR_MIN * 10000 + 101) & (x <= _YEAR_MAX * 10000 + 1231)
    ymd &= np.where(np.isfinite(x), np.mod(x, 1) == 0, False)
    if ymd.any():
        v = x[ymd].astype("int64")
        parts = pd.DataFrame({"year": v // 10000, "month": v // 100 % 100, "day": v % 100})
        d = pd.to_datetime(parts, errors="coerce").to_numpy("datetime64[ns]")
        out = out.copy()
        out[ymd] = d
        ok = ok | (ymd & ~np.isnat(out))
    return out, ok


def _iso_to_dt(t: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Strings that passed :data:`_DATE_GATE` -> (datetime64[ns], ok)."""
    d = pd.to_datetime(t, format="ISO8601", errors="coerce").to_numpy("datetime64[ns]")
    years = d.astype("datetime64[Y]").astype("int64") + 1970
    ok = ~np.isnat(d) & (years >= _YEAR_MIN) & (years <= _YEAR_MAX)
    return np.where(ok, d, np.datetime64("NaT", "ns")), ok


def _strings_to_dt(u: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trimmed strings -> (datetime64[ns], ok, empty) per value.

    Western forms go straight to pandas' ISO parser (C speed) behind a strict regex gate;
    Chinese forms and odd spacing are rewritten to the western form first; five-digit
    numbers are Excel serials.
    """
    n = len(u)
    out = np.full(n, np.datetime64("NaT", "ns"))
    ok = np.zeros(n, dtype=bool)
    empty = u.isin(_NULL_TEXT).to_numpy()
    todo = ~empty
    gate = u.str.match(_DATE_GATE).to_numpy(dtype=bool) & todo
    if gate.any():
        out[gate], ok[gate] = _iso_to_dt(u[gate])
    todo &= ~gate
    serial = np.zeros(n, dtype=bool)
    if todo.any():
        serial[todo] = u[todo].str.match(_SERIAL_RE).to_numpy(dtype=bool)
        if serial.any():
            out[serial], ok[serial] = _serials_to_dt(pd.to_numeric(u[serial]).to_numpy())
        todo &= ~serial
    if todo.any():
        # 2023年1月5日 14:30 -> 2023-1-5 14:30 by a cheap translation, then the same gate
        t = u[todo].str.translate(_CN_TRANSLATE).str.replace("  ", " ", regex=False).str.strip()
        gate2 = t.str.match(_DATE_GATE).to_numpy(dtype=bool)
        if gate2.any():
            idx = np.flatnonzero(todo)[gate2]
            out[idx], ok[idx] = _iso_to_dt(t[gate2])
            todo[idx] = False
    if todo.any():
        # odd spacing: 2023 年 1 月 5 日, 2023-01-05  14:30
        t = u[todo].str.replace(_CN_DATE, r"\1-\2-\3 ", regex=True)
        t = t.str.replace(r"\s+", " ", regex=True).str.strip()
        gate3 = t.str.match(_DATE_GATE).to_numpy(dtype=bool)
        if gate3.any():
            idx = np.flatnonzero(todo)[gate3]
            out[idx], ok[idx] = _iso_to_dt(t[gate3])
    return out, ok, empty


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating, Decimal)) and not isinstance(
        v, (bool, np.bool_)
    )


def _kinds(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which distinct values are text and which are numbers (the rest: other objects)."""
    kind = pd.api.types.infer_dtype(u, skipna=True) if len(u) else "empty"
    if kind in ("string", "empty"):
        return np.ones(len(u), dtype=bool), np.zeros(len(u), dtype=bool)
    return (np.array([isinstance(v, str) for v in u], dtype=bool),
            np.array([_is_number(v) for v in u], dtype=bool))


def parse_dates(s: pd.Series) -> Parsed:
    """Parse a column of dates written in any of the formats seen in DMS exports.

    Accepted: ``2023-01-05``, ``2023/1/5``, ``2023.1.5``, ``2023年1月5日``, ``20230105``,
    each optionally followed by a time (``14:30``, ``8:05:00``, ``T14:30:00.5``); Excel
    serial numbers between 20000 and 80000 (1954-10-03 to 2119-01-10, the 1900 date
    system, fractions are times of day), as numbers or text; eight-digit numbers
    ``20230105``; ``datetime``/``date``/``Timestamp`` values and datetime columns pass
    through. Years must be in 1900..2100 and the date must exist (no 2023-02-30).
    Full-width digits and separators are read as half-width.

    Returns a :class:`Parsed`: ``values``, a ``datetime64[ns]`` Series (NaT where missing
    or bad), and ``bad``, a mask of the non-empty cells that could not be parsed. Missing
    cells, empty or blank strings and ``nan``/``None``/``NaT`` text give NaT, not bad.

    Example
    -------
    >>> import pandas as pd
    >>> raw = pd.Series(["2023/1/5 8:05:00", "2023.1.5", "20230105", 44931.5, "2023-02-30",
    ...                  None, "5/1/2023"])
    >>> dates = parse_dates(raw)
    >>> dates.values.dt.strftime("%Y-%m-%d %H:%M").tolist()[:4], dates.bad.tolist()
    (['2023-01-05 08:05', '2023-01-05 00:00', '2023-01-05 00:00', '2023-01-05 12:00'], \
[False, False, False, False, True, False, True])
    """
    s = _as_series(s)
    dtype = s.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_localize(None)
        dtype = s.dtype
    if pd.api.types.is_datetime64_dtype(dtype):
        return Parsed(s.astype("datetime64[ns]"), pd.Series(False, index=s.index, name=s.name))
    if pd.api.types.is_bool_dtype(dtype):
        bad = s.notna().to_numpy(dtype=bool)
        nat = pd.Series(pd.NaT, index=s.index, name=s.name, dtype="datetime64[ns]")
        return Parsed(nat, pd.Series(bad, index=s.index, name=s.name))
    codes, uniques = _factorize(s)
    u = np.asarray(uniques, dtype=object)
    n = len(u)
    u_out = np.full(n, np.datetime64("NaT", "ns"))
    u_ok = np.zeros(n, dtype=bool)
    u_empty = np.zeros(n, dtype=bool)
    if pd.api.types.is_numeric_dtype(dtype):
        is_str, is_num = np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
    else:
        is_str, is_num = _kinds(u)
    if is_str.any():
        txt = pd.Series([_nfkc(v) for v in u[is_str]], dtype=object)
        d, good, empty = _strings_to_dt(txt)
        u_out[is_str], u_ok[is_str], u_empty[is_str] = d, good, empty
    if is_num.any():
        d, good = _numbers_to_dt(u[is_num].astype("float64"))
        u_out[is_num], u_ok[is_num] = d, good
    other = ~(is_str | is_num)
    if other.any():
        for k in np.flatnonzero(other):
            v = u[k]
            if isinstance(v, (_dt.date, np.datetime64)):
                try:
                    ts = pd.Timestamp(v)
                    if ts.tzinfo is not None:
                        ts = ts.tz_localize(None)
                    u_out[k] = ts.to_datetime64().astype("datetime64[ns]")
                    u_ok[k] = not pd.isna(ts)
                except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
                    pass
    u_bad = ~(u_ok | u_empty)
    return _expand(s, codes, u_out, u_bad, np.datetime64("NaT", "ns"), "datetime64[ns]")


# ---------------------------------------------------------------------------------------
# Amounts
# ---------------------------------------------------------------------------------------

_AMOUNT_EMPTY: tuple[str, ...] = (*_NULL_TEXT, "-", "--", "---", "—", "——", "–", "/")
_AMOUNT_RE = re.compile(
    r"(?P<open>\()?\s*(?P<s1>[+-])?\s*(?:[¥$]|rmb|cny|人民币)?\s*(?P<s2>[+-])?\s*"
    r"(?P<num>(?:\d{1,3}(?:[, ]\d{3})+|\d+)(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+)"
    r"\s*(?P<wan>万)?\s*(?:元|rmb|cny)?\s*(?P<close>\))?",
    re.IGNORECASE,
)


def _amount1(text: str) -> float | None:
    """One cleaned-up amount string -> float, or ``None`` when it is not an amount."""
    m = _AMOUNT_RE.fullmatch(text)
    if m is None or (m["open"] is None) != (m["close"] is None):
        return None
    if (m["s1"] and m["s2"]) or (m["open"] and (m["s1"] or m["s2"])):
        return None
    value = float(m["num"].replace(",", "").replace(" ", ""))
    if m["wan"]:
        value *= 10_000
    if (m["s1"] or m["s2"]) == "-":
        value = -value
    if m["open"]:
        value = -value
    return value if math.isfinite(value) else None


def _strings_to_amounts(u: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trimmed strings -> (float64, ok, empty) per value.

    Plain numbers go through ``pd.to_numeric`` (C speed); the rest through one regular
    expression each.
    """
    empty = u.isin(_AMOUNT_EMPTY).to_numpy()
    val = pd.to_numeric(u, errors="coerce").to_numpy(dtype="float64")
    ok = np.isfinite(val) & ~empty
    rest = np.flatnonzero(~ok & ~empty)
    if len(rest):
        parsed = [_amount1(t.replace("\u2212", "-")) for t in u.to_numpy()[rest]]
        good = np.array([p is not None for p in parsed], dtype=bool)
        val[rest] = [np.nan if p is None else p for p in parsed]
        ok[rest] = good
    val[~ok] = np.nan
    return val, ok, empty


def parse_amounts(s: pd.Series) -> Parsed:
    """Parse money (RMB) written as in DMS exports into ``float64``.

    Accepted: plain numbers, thousands separators in groups of three (``1,234.50``),
    ``¥``/``￥``/``元``/``RMB``/``CNY`` anywhere, inner spaces, full-width digits and
    punctuation, a leading sign or ``−``, accounting negatives ``(123)``, a ``万`` suffix
    (× 10,000). Numbers pass through (``bool`` and infinities are bad). ``-``, ``--``,
    ``—``, ``/``, empty text and ``nan``/``None`` text mean missing: NaN, not bad.

    Returns a :class:`Parsed`: ``values``, a ``float64`` Series (NaN where missing or
    bad), and ``bad``, a mask of the non-empty cells that are not amounts (``12,34``).

    Example
    -------
    >>> import pandas as pd
    >>> raw = pd.Series(["1,234.50", "￥1,234", "1234元", "１２３．５", "(123)", "-", None,
    ...                  "1.2万", 88, "12,34", "n/a"], dtype=object)
    >>> amounts = parse_amounts(raw)
    >>> amounts.values.tolist()
    [1234.5, 1234.0, 1234.0, 123.5, -123.0, nan, nan, 12000.0, 88.0, nan, nan]
    >>> amounts.bad[amounts.bad].index.tolist()
    [9]
    """
    s = _as_series(s)
    dtype = s.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        out = s.astype("float64")
        bad = np.isinf(out.to_numpy())
        return Parsed(out.where(~bad), pd.Series(bad, index=s.index, name=s.name))
    codes, uniques = _factorize(s)
    u = np.asarray(uniques, dtype=object)
    n = len(u)
    u_out = np.full(n, np.nan)
    u_ok = np.zeros(n, dtype=bool)
    u_empty = np.zeros(n, dtype=bool)
    is_str, is_num = _kinds(u)
    if is_str.any():
        txt = pd.Series([_nfkc(v) for v in u[is_str]], dtype=object)
        val, good, empty = _strings_to_amounts(txt)
        u_out[is_str], u_ok[is_str], u_empty[is_str] = val, good, empty
    if is_num.any():
        val = u[is_num].astype("float64")
        good = np.isfinite(val) | np.isnan(val)
        u_out[is_num] = np.where(np.isfinite(val), val, np.nan)
        u_ok[is_num] = good
    u_bad = ~(u_ok | u_empty)
    return _expand(s, codes, u_out, u_bad, np.nan, "float64")


# ---------------------------------------------------------------------------------------
# User mapping
# ---------------------------------------------------------------------------------------


def load_mapping(mapping: Any) -> dict[str, dict[str, Any]]:
    """Read and check a user mapping: ``{"headers": {...}, "values": {...}}``.

    ``mapping`` is ``None`` (nothing), a dict, or the path of a YAML file. The
    ``headers`` section maps source headers to canonical columns, the ``values`` section
    maps, per coded field (:data:`VALUE_ALIASES`), source values to codes. A dict without
    either section is read as a ``headers`` section. Unknown canonical columns, fields or
    codes raise :class:`DataError` naming the file and the closest valid names.

    Example
    -------
    >>> load_mapping({"单号": "ro_id"})
    {'headers': {'单号': 'ro_id'}, 'values': {}}
    >>> m = load_mapping({"values": {"ro_type": {"改装": "repair"}}})
    >>> m["values"]
    {'ro_type': {'改装': 'repair'}}
    >>> load_mapping({"单号": "order_no"})
    Traceback (most recent call last):
    ...
    crm_analysis.io.normalize.DataError: mapping: header '单号' -> 'order_no' is not a \
canonical column (closest: ro_id, ro_type, customer_id)
    """
    where = "mapping"
    if mapping is None:
        return {"headers": {}, "values": {}}
    if isinstance(mapping, (str, os.PathLike)):
        where = str(mapping)
        mapping = _read_yaml(Path(mapping))
    if not isinstance(mapping, Mapping):
        raise DataError(
            f"{where}: a mapping must be a dict with 'headers' and/or 'values' sections, "
            f"got {type(mapping).__name__}",
            file=None if where == "mapping" else where,
        )
    if "headers" in mapping or "values" in mapping:
        extra = [k for k in mapping if k not in ("headers", "values")]
        if extra:
            raise DataError(
                f"{where}: unknown section(s) {', '.join(map(repr, extra))}; "
                "expected 'headers' and/or 'values'"
            )
        headers = mapping.get("headers") or {}
        values = mapping.get("values") or {}
    else:
        headers, values = mapping, {}
    if not isinstance(headers, Mapping) or not isinstance(values, Mapping):
        raise DataError(f"{where}: 'headers' and 'values' must be dicts")
    out_h: dict[str, str] = {}
    for source, canonical in headers.items():
        if not isinstance(canonical, str) or canonical not in _KNOWN_COLUMNS:
            near = _closest_canonical(canonical)
            hint = f" (closest: {', '.join(near)})" if near else ""
            raise DataError(
                f"{where}: header {source!r} -> {canonical!r} is not a canonical column{hint}"
            )
        out_h[str(source)] = canonical
    out_v: dict[str, dict[Any, Any]] = {}
    for fld, aliases in values.items():
        if fld not in VALUE_ALIASES:
            near = difflib.get_close_matches(str(fld), list(VALUE_ALIASES), n=3, cutoff=0.3)
            hint = f" (closest: {', '.join(near)})" if near else ""
            raise DataError(
                f"{where}: values section: unknown field {fld!r}; expected one of "
                f"{', '.join(VALUE_ALIASES)}{hint}"
            )
        if not isinstance(aliases, Mapping):
            raise DataError(f"{where}: values.{fld} must be a dict {{alias: code}}")
        allowed = _ALLOWED_CODES[fld]
        checked: dict[Any, Any] = {}
        for alias, code in aliases.items():
            if fld == "sold_here" and not isinstance(code, bool):
                code = _VALUE_INDEX["sold_here"].get(normalize_value(code), code)
            if code not in allowed:
                raise DataError(
                    f"{where}: values.{fld}: {alias!r} -> {code!r} is not a valid code; "
                    f"expected one of {', '.join(map(str, allowed))}"
                )
            checked[str(alias) if not isinstance(alias, bool) else alias] = code
        out_v[str(fld)] = checked
    return {"headers": out_h, "values": out_v}


def _closest_canonical(name: Any, n: int = 3) -> list[str]:
    """Canonical columns whose name or aliases are most similar to ``name``."""
    key = normalize_header(name)
    scores: dict[str, float] = {}
    for alias_key, (canonical, _) in _ALIAS_INDEX.items():
        r = difflib.SequenceMatcher(None, key, alias_key).ratio()
        scores[canonical] = max(scores.get(canonical, 0.0), r)
    ranked = sorted(scores.items(), key=lambda t: -t[1])
    return [c for c, r in ranked if r >= 0.4][:n]


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: mapping file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read the mapping file ({err})", file=path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise DataError(f"{path}: the mapping file is not valid YAML ({err})", file=path) from None
    return {} if data is None else data

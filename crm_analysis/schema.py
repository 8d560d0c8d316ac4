"""The canonical data model of ``crm_analysis``: tables, dtypes, validation and storage.

Every analysis in the package works on a :class:`Dataset`, the after-sales data of one
dealer group (or one store) as four tables, plus an optional ground-truth table that only
the synthetic generator can provide:

``stores``
    one row per store: ``store_id`` (key), ``store_name``, ``city``, ``opened_date``.
``customers``
    one row per customer: ``customer_id`` (key), ``name`` and ``phone`` (personal data),
    ``customer_type`` (one of :data:`CUSTOMER_TYPES`), ``occupation``, ``region``,
    ``first_seen_date``.
``vehicles``
    one row per car: ``vin`` (key, 17 characters), ``customer_id`` (owner), ``store_id``
    (home store), ``sold_here`` (sold by the home store, or bought elsewhere),
    ``sale_date``, ``model``, ``grade`` (:data:`GRADES`), ``usage`` (:data:`USAGES`),
    ``plate`` (personal data), ``color``.
``repair_orders``
    one row per workshop order: ``ro_id`` (key), ``store_id``, ``vin``, ``customer_id``,
    ``open_date``, ``close_date``, ``mileage_km``, ``ro_type`` (:data:`RO_TYPES`),
    ``payer`` (:data:`PAYERS`), the revenue split ``labor_amount``, ``parts_amount``,
    ``other_amount`` and ``total_amount``, and the optional ``labor_cost``,
    ``parts_cost`` and ``advisor``.
``truth`` (optional)
    one row per vehicle with the latent quantities the synthetic generator drew
    (loyalty, the date a car really defected, ...), used to check that the estimators
    recover what was simulated.

Canonical dtypes, whatever the source: identifiers and other text are ``object``
columns holding Python ``str`` with ``None`` for missing values (store code ``"007"``
stays ``"007"``; an empty string counts as missing); dates are ``datetime64[ns]`` with
``NaT`` for missing; money is RMB as ``float64``; flags are numpy ``bool``. Columns the
model does not know are allowed and kept, after the canonical ones.

:data:`COLUMNS` describes every column (:class:`ColumnSpec`), :data:`TABLES` gives the
short dtype kind of each column for I/O code, :data:`SCHEMAS` holds the pandera
schemas, :func:`coerce` casts a frame to the canonical dtypes, and
:meth:`Dataset.validate` reports every violation of the model at once.

Example
-------
>>> from crm_analysis.schema import example_dataset
>>> ds = example_dataset()
>>> ds
Dataset(stores=2, customers=3, vehicles=3, repair_orders=5, truth=None, as_of='2024-06-30')
>>> ds.validate().ok
True
>>> ds.for_store("007").repair_orders["ro_id"].tolist()
['R0004', 'R0005']
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pandera.errors import SchemaErrors

__all__ = [
    "CHECKS",
    "COLUMNS",
    "CUSTOMER_TYPES",
    "CUSTOMERS_SCHEMA",
    "GRADES",
    "OPTIONAL_TABLES",
    "PANDAS_DTYPES",
    "PAYERS",
    "PII_COLUMNS",
    "PRIMARY_KEYS",
    "REPAIR_ORDERS_SCHEMA",
    "RO_TYPES",
    "SCHEMAS",
    "STORES_SCHEMA",
    "TABLE_NAMES",
    "TABLES",
    "TOTAL_TOLERANCE",
    "TRUTH_SCHEMA",
    "USAGES",
    "VEHICLES_SCHEMA",
    "VIN_LENGTH",
    "ColumnSpec",
    "DataValidationError",
    "Dataset",
    "ValidationReport",
    "coerce",
    "example_dataset",
]

# ---------------------------------------------------------------------------------------
# Allowed values and table layout
# ---------------------------------------------------------------------------------------

#: ``customers.customer_type``.
CUSTOMER_TYPES: tuple[str, ...] = ("individual", "company", "government")
#: ``vehicles.grade`` (车辆档次).
GRADES: tuple[str, ...] = ("economy", "mid", "premium")
#: ``vehicles.usage`` (车辆用途).
USAGES: tuple[str, ...] = ("private", "company", "ride_hailing", "taxi", "government")
#: ``repair_orders.ro_type``: 保养, 维修, 钣喷/事故, 保修/索赔, 美容, other.
RO_TYPES: tuple[str, ...] = (
    "maintenance",
    "repair",
    "body_paint",
    "warranty",
    "detailing",
    "other",
)
#: ``repair_orders.payer``.
PAYERS: tuple[str, ...] = ("customer", "warranty", "insurance", "internal")

#: Length of a vehicle identification number.
VIN_LENGTH = 17

#: Tolerance (RMB) of the ``total_mismatch`` check.
TOTAL_TOLERANCE = 0.01

#: The four tables every dataset has, in canonical order.
TABLE_NAMES: tuple[str, ...] = ("stores", "customers", "vehicles", "repair_orders")
#: Tables a dataset may have.
OPTIONAL_TABLES: tuple[str, ...] = ("truth",)

#: Primary key column of each table.
PRIMARY_KEYS: dict[str, str] = {
    "stores": "store_id",
    "customers": "customer_id",
    "vehicles": "vin",
    "repair_orders": "ro_id",
    "truth": "vin",
}

#: Columns holding personal data, by table.
PII_COLUMNS: dict[str, tuple[str, ...]] = {"customers": ("name", "phone"), "vehicles": ("plate",)}

#: Pandas dtype of each column kind used in :data:`TABLES`.
PANDAS_DTYPES: dict[str, str] = {
    "str": "object",
    "datetime": "datetime64[ns]",
    "float": "float64",
    "bool": "bool",
}

#: Stable codes of the validation checks, in reporting order.
CHECKS: tuple[str, ...] = (
    "missing_column",
    "dtype",
    "not_null",
    "allowed_values",
    "duplicate_key",
    "vin_length",
    "foreign_key",
    "negative_amount",
    "negative_mileage",
    "total_mismatch",
    "close_before_open",
    "order_before_sale",
    "future_date",
)


@dataclass(frozen=True)
class ColumnSpec:
    """Description of one canonical column.

    ``kind`` is one of ``"str"``, ``"datetime"``, ``"float"``, ``"bool"`` (see
    :data:`PANDAS_DTYPES`); ``required`` columns must exist; ``nullable`` columns may hold
    missing values; ``allowed`` restricts the values; ``min_check`` names the check code
    reported for negative values.

    Example
    -------
    >>> from crm_analysis.schema import COLUMNS
    >>> spec = COLUMNS["repair_orders"]["ro_type"]
    >>> spec.kind, spec.nullable, spec.allowed[0]
    ('str', False, 'maintenance')
    """

    kind: Literal["str", "datetime", "float", "bool"]
    nullable: bool = False
    required: bool = True
    unique: bool = False
    allowed: tuple[str, ...] | None = None
    min_check: str | None = None
    length: int | None = None
    pii: bool = False
    description: str = ""


def _s(nullable: bool = False, **kw: Any) -> ColumnSpec:
    return ColumnSpec("str", nullable=nullable, **kw)


def _d(nullable: bool = False, **kw: Any) -> ColumnSpec:
    return ColumnSpec("datetime", nullable=nullable, **kw)


def _f(nullable: bool = False, **kw: Any) -> ColumnSpec:
    return ColumnSpec("float", nullable=nullable, **kw)


def _b(**kw: Any) -> ColumnSpec:
    return ColumnSpec("bool", **kw)


_MONEY = {"min_check": "negative_amount"}

#: Every canonical column of every table, in documented order.
COLUMNS: dict[str, dict[str, ColumnSpec]] = {
    "stores": {
        "store_id": _s(unique=True, description="store code, e.g. '007'"),
        "store_name": _s(),
        "city": _s(),
        "opened_date": _d(nullable=True),
    },
    "customers": {
        "customer_id": _s(unique=True),
        "name": _s(nullable=True, pii=True),
        "phone": _s(nullable=True, pii=True),
        "customer_type": _s(allowed=CUSTOMER_TYPES),
        "occupation": _s(nullable=True),
        "region": _s(nullable=True),
        "first_seen_date": _d(nullable=True),
    },
    "vehicles": {
        "vin": _s(unique=True, length=VIN_LENGTH),
        "customer_id": _s(description="owner, -> customers"),
        "store_id": _s(description="home store, -> stores"),
        "sold_here": _b(description="sold by the home store (自销) or elsewhere (他销)"),
        "sale_date": _d(nullable=True),
        "model": _s(),
        "grade": _s(nullable=True, allowed=GRADES),
        "usage": _s(nullable=True, allowed=USAGES),
        "plate": _s(nullable=True, pii=True),
        "color": _s(nullable=True),
    },
    "repair_orders": {
        "ro_id": _s(unique=True),
        "store_id": _s(),
        "vin": _s(),
        "customer_id": _s(),
        "open_date": _d(),
        "close_date": _d(nullable=True),
        "mileage_km": _f(nullable=True, min_check="negative_mileage"),
        "ro_type": _s(allowed=RO_TYPES),
        "payer": _s(allowed=PAYERS),
        "labor_amount": _f(**_MONEY),
        "parts_amount": _f(**_MONEY),
        "other_amount": _f(**_MONEY),
        "total_amount": _f(**_MONEY),
        "labor_cost": _f(nullable=True, required=False, **_MONEY),
        "parts_cost": _f(nullable=True, required=False, **_MONEY),
        "advisor": _s(nullable=True, required=False),
    },
    "truth": {
        "vin": _s(unique=True),
        "store_id": _s(),
        "customer_id": _s(),
        "sold_here": _b(),
        "entry_date": _d(nullable=True),
        "entry_age_years": _f(nullable=True),
        "annual_km": _f(nullable=True),
        "distance_km": _f(nullable=True),
        "warranty_end_date": _d(nullable=True),
        "loyalty": _f(nullable=True, description="latent loyalty z-score"),
        "hazard_multiplier": _f(nullable=True),
        "never_returned": _b(),
        "defection_decision_date": _d(nullable=True, description="NaT: none before horizon"),
        "true_defection_date": _d(nullable=True, description="NaT: not defected by as_of"),
        "defected": _b(),
        "cliff_leaver": _b(required=False, description="left when the warranty ended"),
        "end_of_life_date": _d(nullable=True, required=False,
                               description="the car reached the scrap age; NaT: not by as_of"),
    },
}

#: Column kind (``"str"``, ``"datetime"``, ``"float"``, ``"bool"``) of every canonical
#: column, by table; :data:`PANDAS_DTYPES` maps a kind to its pandas dtype.
TABLES: dict[str, dict[str, str]] = {
    table: {col: spec.kind for col, spec in cols.items()} for table, cols in COLUMNS.items()
}

_ALL_TABLES: tuple[str, ...] = TABLE_NAMES + OPTIONAL_TABLES

# Foreign keys: (child table, child column, parent table, parent column).
_FOREIGN_KEYS: tuple[tuple[str, str, str, str], ...] = (
    ("vehicles", "customer_id", "customers", "customer_id"),
    ("vehicles", "store_id", "stores", "store_id"),
    ("repair_orders", "store_id", "stores", "store_id"),
    ("repair_orders", "vin", "vehicles", "vin"),
    ("repair_orders", "customer_id", "customers", "customer_id"),
    ("truth", "vin", "vehicles", "vin"),
)

_AMOUNT_PARTS = ("labor_amount", "parts_amount", "other_amount")

# ---------------------------------------------------------------------------------------
# Pandera schemas
# ---------------------------------------------------------------------------------------


def _check_allowed(values: tuple[str, ...]):
    allowed = list(values)

    def check(s: pd.Series) -> pd.Series:
        return s.isin(allowed)

    return check


def _non_negative_mask(s: pd.Series) -> pd.Series:
    # Wrong dtypes are reported by the dtype check; here only real negatives fail.
    num = pd.to_numeric(s, errors="coerce") if s.dtype == object else s
    try:
        return ~(num < 0)
    except TypeError:
        return pd.Series(True, index=s.index)


def _check_length(n: int):
    def check(s: pd.Series) -> pd.Series:
        if s.dtype != object:
            return pd.Series(True, index=s.index)
        lengths = s.str.len()
        return lengths.isna() | (lengths == n)

    return check


def _check_str_values(s: pd.Series) -> pd.Series | bool:
    # Pandera's own ``str`` dtype tests every element in Python; this fast path only
    # looks at the elements when the column is not all text.
    if s.dtype != object or pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        return True
    return s.map(lambda v: isinstance(v, str), na_action="ignore").fillna(True).astype(bool)


_PANDERA_DTYPES = {
    "str": object,
    "datetime": "datetime64[ns]",
    "float": "float64",
    "bool": "bool",
}


def _build_schema(table: str) -> pa.DataFrameSchema:
    columns = {}
    for name, spec in COLUMNS[table].items():
        checks = []
        if spec.kind == "str":
            checks.append(pa.Check(_check_str_values, name="dtype", ignore_na=True))
        if spec.allowed is not None:
            checks.append(
                pa.Check(_check_allowed(spec.allowed), name="allowed_values", ignore_na=True)
            )
        if spec.min_check is not None:
            checks.append(pa.Check(_non_negative_mask, name=spec.min_check, ignore_na=True))
        if spec.length is not None:
            checks.append(pa.Check(_check_length(spec.length), name="vin_length", ignore_na=True))
        columns[name] = pa.Column(
            _PANDERA_DTYPES[spec.kind],
            checks=checks,
            nullable=spec.nullable,
            required=spec.required,
            unique=spec.unique,
            report_duplicates="exclude_first",
            description=spec.description or None,
        )
    return pa.DataFrameSchema(columns, name=table, strict=False, coerce=False, ordered=False)


#: Pandera schema of ``stores`` (extra columns allowed).
STORES_SCHEMA: pa.DataFrameSchema = _build_schema("stores")
#: Pandera schema of ``customers``.
CUSTOMERS_SCHEMA: pa.DataFrameSchema = _build_schema("customers")
#: Pandera schema of ``vehicles``.
VEHICLES_SCHEMA: pa.DataFrameSchema = _build_schema("vehicles")
#: Pandera schema of ``repair_orders`` (``labor_cost``, ``parts_cost``, ``advisor`` optional).
REPAIR_ORDERS_SCHEMA: pa.DataFrameSchema = _build_schema("repair_orders")
#: Pandera schema of the synthetic ground truth ``truth``.
TRUTH_SCHEMA: pa.DataFrameSchema = _build_schema("truth")

#: Table name -> pandera schema.
SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "stores": STORES_SCHEMA,
    "customers": CUSTOMERS_SCHEMA,
    "vehicles": VEHICLES_SCHEMA,
    "repair_orders": REPAIR_ORDERS_SCHEMA,
    "truth": TRUTH_SCHEMA,
}

# ---------------------------------------------------------------------------------------
# Coercion
# ---------------------------------------------------------------------------------------

_TRUE_STRINGS = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE_STRINGS = frozenset({"false", "f", "no", "n", "0", "0.0"})


def _table_spec(table: str) -> dict[str, ColumnSpec]:
    try:
        return COLUMNS[table]
    except KeyError:
        raise ValueError(
            f"unknown table {table!r}; expected one of {', '.join(_ALL_TABLES)}"
        ) from None


def _is_missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float | np.floating):
        return bool(np.isnan(v))
    if isinstance(v, np.datetime64):
        return bool(np.isnat(v))
    return False


def _str1(v: Any) -> str | None:
    if _is_missing(v):
        return None
    if isinstance(v, str):
        return v or None
    if isinstance(v, bytes):
        return v.decode("utf-8") or None
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _examples(values: Iterable[Any], n: int = 5) -> str:
    vals = list(values)
    more = f" (and {len(vals) - n} more)" if len(vals) > n else ""
    return ", ".join(repr(v) for v in vals[:n]) + more


def _coerce_str(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype != object:
        s = s.astype(object)
    if pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        keep = s.notna().to_numpy() & (s != "").to_numpy()
        if keep.all():
            return s
        return s.where(keep, None)
    return pd.Series([_str1(v) for v in s.to_numpy()], index=s.index, dtype=object, name=s.name)


def _coerce_float(s: pd.Series, where: str, errors: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return s.astype("float64")
    obj = s.astype(object)
    obj = obj.where(~obj.isin([""]), np.nan)
    try:
        return obj.astype("float64")
    except (TypeError, ValueError):
        parsed = pd.to_numeric(obj, errors="coerce").astype("float64")
        bad = obj[obj.notna() & parsed.isna()]
        if errors == "raise" and len(bad):
            raise ValueError(
                f"{where}: {len(bad)} value(s) are not numbers, e.g. {_examples(bad.unique())}"
            ) from None
        return parsed


def _coerce_datetime(s: pd.Series, where: str, errors: str) -> pd.Series:
    dtype = s.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_localize(None)
        dtype = s.dtype
    if pd.api.types.is_datetime64_dtype(dtype):
        try:
            return s.astype("datetime64[ns]")
        except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
            if errors == "raise":
                raise ValueError(f"{where}: dates outside the datetime64[ns] range") from None
            return pd.to_datetime(s.astype(object), errors="coerce").astype("datetime64[ns]")
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        if s.notna().any():
            if errors == "raise":
                raise ValueError(
                    f"{where}: numeric values in a date column (convert Excel serials or "
                    f"yyyymmdd numbers first), e.g. {_examples(s.dropna().unique())}"
                )
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]", name=s.name)
    obj = s.astype(object)
    obj = obj.where(~obj.isin([""]), None)
    try:
        out = pd.to_datetime(obj, format="ISO8601")
    except (TypeError, ValueError):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = pd.to_datetime(obj, format="mixed", errors="coerce")
        bad = obj[obj.notna() & out.isna()]
        if errors == "raise" and len(bad):
            raise ValueError(
                f"{where}: {len(bad)} value(s) are not dates, e.g. {_examples(bad.unique())}"
            ) from None
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        out = out.dt.tz_localize(None)
    return out.astype("datetime64[ns]")


def _bool1(v: Any) -> bool | None:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if _is_missing(v):
        return None
    if isinstance(v, int | float | np.integer | np.floating):
        return bool(v) if v in (0, 1) else None
    if isinstance(v, str):
        t = v.strip().lower()
        if t in _TRUE_STRINGS:
            return True
        if t in _FALSE_STRINGS:
            return False
    return None


def _coerce_bool(s: pd.Series, where: str, errors: str) -> pd.Series:
    if s.dtype == bool:
        return s
    if isinstance(s.dtype, pd.BooleanDtype) and not s.isna().any():
        return s.astype(bool)
    values = s.to_numpy(dtype=object)
    out = [_bool1(v) for v in values]
    bad = [v for v, o in zip(values, out, strict=True) if o is None]
    if not bad:
        return pd.Series(out, index=s.index, dtype=bool, name=s.name)
    if errors == "raise":
        raise ValueError(
            f"{where}: {len(bad)} value(s) are not booleans (True/False/1/0), "
            f"e.g. {_examples(pd.unique(pd.Series(bad, dtype=object)))}"
        )
    # Leave the column as object so that validate() reports it.
    return pd.Series(out, index=s.index, dtype=object, name=s.name)


def coerce(
    table_name: str, df: pd.DataFrame, *, errors: Literal["raise", "coerce"] = "raise"
) -> pd.DataFrame:
    """Return a copy of ``df`` with the canonical dtypes of table ``table_name``.

    Text and id columns become ``object`` columns of ``str`` (missing and empty strings
    become ``None``; a string like ``"007"`` is kept as is, a float like ``7.0`` becomes
    ``"7"``), dates become ``datetime64[ns]`` (ISO strings, ``datetime.date``, other
    units and time zones are converted), money and other numbers ``float64``, flags numpy
    ``bool`` (from ``True``/``False``, ``"True"``/``"false"``, ``1``/``0``, ``"yes"``...).
    Canonical columns come first in documented order, then the extra columns in their
    original order. Missing canonical columns are not added (:meth:`Dataset.validate`
    reports them). The index is kept.

    With ``errors="raise"`` (default) unparseable values raise :class:`ValueError` naming
    the table and column; with ``errors="coerce"`` they become missing (a flag column
    with bad values stays ``object`` so that validation reports it).

    Example
    -------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"city": ["Hefei", "Wuhu"], "store_id": ["007", "012"],
    ...                     "opened_date": ["2015-03-01", None], "store_name": ["A", "B"]})
    >>> out = coerce("stores", raw)
    >>> list(out.columns)
    ['store_id', 'store_name', 'city', 'opened_date']
    >>> out["store_id"].tolist(), str(out["opened_date"].dtype)
    (['007', '012'], 'datetime64[ns]')
    """
    specs = _table_spec(table_name)
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"coerce({table_name!r}, ...) expects a DataFrame, got {type(df)}")
    if errors not in ("raise", "coerce"):
        raise ValueError("errors must be 'raise' or 'coerce'")
    out = {}
    for col, spec in specs.items():
        if col not in df.columns:
            continue
        s = df[col]
        if isinstance(s, pd.DataFrame):
            raise ValueError(f"{table_name}: column {col!r} appears more than once")
        where = f"{table_name}.{col}"
        if spec.kind == "str":
            out[col] = _coerce_str(s)
        elif spec.kind == "float":
            out[col] = _coerce_float(s, where, errors)
        elif spec.kind == "datetime":
            out[col] = _coerce_datetime(s, where, errors)
        else:
            out[col] = _coerce_bool(s, where, errors)
    # Assemble by position (never by index label: the index may have duplicates).
    names = list(df.columns)
    order = [names.index(c) for c in out] + [i for i, c in enumerate(names) if c not in specs]
    result = df.iloc[:, order].copy()
    for i, values in enumerate(out.values()):
        result.isetitem(i, values.to_numpy())
    return result


# ---------------------------------------------------------------------------------------
# Validation report
# ---------------------------------------------------------------------------------------

_VIOLATION_COLUMNS = ("table", "column", "row", "key", "check", "value", "message")


class DataValidationError(ValueError):
    """Raised by :meth:`ValidationReport.raise_if_invalid`; ``.report`` holds the report.

    Example
    -------
    >>> ds = example_dataset()
    >>> ds.repair_orders.loc[0, "labor_amount"] = -5.0
    >>> try:
    ...     ds.validate().raise_if_invalid()
    ... except DataValidationError as err:
    ...     print(err.report.violations["check"].tolist())
    ['negative_amount', 'total_mismatch']
    """

    def __init__(self, message: str, report: ValidationReport | None = None):
        super().__init__(message)
        self.report = report


def _empty_violations() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype=object) for c in _VIOLATION_COLUMNS})
    df["row"] = df["row"].astype("Int64")
    return df


@dataclass(frozen=True, eq=False, repr=False)
class ValidationReport:
    """All violations of the data model found by :meth:`Dataset.validate`.

    ``violations`` has one row per violation with columns ``table``, ``column``, ``row``
    (0-based position in that table, ``<NA>`` for column-level problems), ``key`` (the
    row's primary key), ``check`` (a code from :data:`CHECKS`), ``value`` (the offending
    value as text) and ``message``. A report is truthy when there is no violation.

    Example
    -------
    >>> ds = example_dataset()
    >>> report = ds.validate()
    >>> bool(report), len(report)
    (True, 0)
    >>> report
    ValidationReport: OK, no violations
    """

    violations: pd.DataFrame = field(default_factory=_empty_violations)

    @property
    def ok(self) -> bool:
        """``True`` when there is no violation.

        Example
        -------
        >>> ValidationReport().ok
        True
        """
        return len(self.violations) == 0

    def __bool__(self) -> bool:
        return self.ok

    def __len__(self) -> int:
        return len(self.violations)

    def summary(self) -> pd.DataFrame:
        """Number of violations by table and check (columns ``table``, ``check``, ``count``).

        Example
        -------
        >>> ds = example_dataset()
        >>> ds.vehicles.loc[1, "vin"] = "SHORT"
        >>> ds.validate().summary()
                   table        check  count
        0       vehicles   vin_length      1
        1  repair_orders  foreign_key      1
        """
        v = self.violations
        if v.empty:
            return pd.DataFrame({"table": [], "check": [], "count": []}).astype(
                {"table": object, "check": object, "count": "int64"}
            )
        out = v.groupby(["table", "check"], sort=False).size().reset_index(name="count")
        return out.astype({"count": "int64"})

    def _lines(self, max_rows: int = 10) -> list[str]:
        n = len(self.violations)
        if n == 0:
            return ["ValidationReport: OK, no violations"]
        tables = self.violations["table"].nunique()
        lines = [f"ValidationReport: {n} violation(s) in {tables} table(s)"]
        for row in self.summary().itertuples(index=False):
            lines.append(f"  {row.table:<14} {row.check:<18} {row.count:>8}")
        lines.append(f"First {min(max_rows, n)} violation(s):")
        for v in self.violations.head(max_rows).itertuples(index=False):
            where = v.table + (f".{v.column}" if v.column is not None else "")
            if not pd.isna(v.row):
                where += f" row {v.row}"
                if v.key is not None:
                    where += f" (key {v.key!r})"
            lines.append(f"  {where}: {v.check}: {v.message}")
        return lines

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        if self.ok:
            return "<p><b>ValidationReport</b>: OK, no violations</p>"
        n = len(self.violations)
        head = (
            f"<p><b>ValidationReport</b>: {n} violation(s) in "
            f"{self.violations['table'].nunique()} table(s)</p>"
        )
        return (
            head
            + self.summary().to_html(index=False)
            + f"<p>First {min(20, n)} violation(s):</p>"
            + self.violations.head(20).to_html(index=False, na_rep="")
        )

    def raise_if_invalid(self, max_examples: int = 10) -> ValidationReport:
        """Raise :class:`DataValidationError` when there are violations, else return self.

        The message lists the counts by table and check and the first ``max_examples``
        violations with table, column and row.

        Example
        -------
        >>> example_dataset().validate().raise_if_invalid().ok
        True
        """
        if not self.ok:
            raise DataValidationError(
                "dataset does not follow the data model:\n" + "\n".join(self._lines(max_examples)),
                self,
            )
        return self


# ---------------------------------------------------------------------------------------
# Violation helpers
# ---------------------------------------------------------------------------------------


def _fmt_value(v: Any) -> str | None:
    if _is_missing(v):
        return None
    if isinstance(v, pd.Timestamp | np.datetime64 | _dt.datetime):
        ts = pd.Timestamp(v)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    if isinstance(v, float | np.floating):
        return repr(float(v))
    return str(v)


def _keys_at(df: pd.DataFrame, table: str, rows: Iterable[Any]) -> list[str | None]:
    pk = PRIMARY_KEYS.get(table)
    keys = df[pk].to_numpy(dtype=object) if pk in df.columns else None
    out: list[str | None] = []
    for r in rows:
        if keys is None or r is None or pd.isna(r):
            out.append(None)
        else:
            out.append(_str1(keys[int(r)]))
    return out


def _violations(
    table: str,
    column: str | None,
    df: pd.DataFrame,
    mask: np.ndarray | pd.Series,
    check: str,
    values: pd.Series,
    messages: Iterable[str] | str,
) -> pd.DataFrame:
    mask = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(mask)
    if len(rows) == 0:
        return _empty_violations()
    vals = values.to_numpy(dtype=object)[rows]
    if isinstance(messages, str):
        msgs = [messages] * len(rows)
    else:
        msgs = list(messages)
    return pd.DataFrame(
        {
            "table": table,
            "column": column,
            "row": pd.array(rows, dtype="Int64"),
            "key": _keys_at(df, table, rows),
            "check": check,
            "value": [_fmt_value(v) for v in vals],
            "message": msgs,
        }
    )


_PANDERA_CODES = {
    "column_in_dataframe": "missing_column",
    "not_nullable": "not_null",
    "field_uniqueness": "duplicate_key",
}


def _pandera_violations(table: str, df: pd.DataFrame) -> pd.DataFrame:
    try:
        SCHEMAS[table].validate(df, lazy=True)
    except SchemaErrors as err:
        fc = err.failure_cases
    else:
        return _empty_violations()
    specs = COLUMNS[table]
    records = []
    for check, column, case, index in zip(
        fc["check"], fc["column"], fc["failure_case"], fc["index"], strict=True
    ):
        check = str(check)
        code = _PANDERA_CODES.get(check, "dtype" if check.startswith("dtype(") else check)
        row = None if index is None or pd.isna(index) else int(index)
        spec = specs.get(column) if column is not None else None
        value = _fmt_value(case)
        if code == "missing_column":
            column, value = str(case), None
            msg = f"required column {column!r} is missing"
        elif code == "dtype":
            expected = f"{spec.kind} ({PANDAS_DTYPES[spec.kind]})" if spec else "?"
            if row is None:
                msg = f"column has dtype {case}, expected {expected}"
            else:
                msg = f"value {case!r} of type {type(case).__name__} in a {expected} column"
        elif code == "not_null":
            msg = f"{column} is missing but required"
        elif code == "allowed_values":
            msg = f"{case!r} is not one of {', '.join(spec.allowed) if spec else '?'}"
        elif code == "duplicate_key":
            msg = f"duplicate {column} {case!r}"
        elif code == "vin_length":
            msg = f"VIN {case!r} has {len(str(case))} characters, expected {VIN_LENGTH}"
        elif code in ("negative_amount", "negative_mileage"):
            msg = f"{column} is negative ({case})"
        else:
            msg = f"failed check {check}: {case}"
        records.append((column, row, code, value, msg))
    out = pd.DataFrame(records, columns=["column", "row", "check", "value", "message"])
    out.insert(0, "table", table)
    out["row"] = pd.array(out["row"].tolist(), dtype="Int64")
    out.insert(3, "key", _keys_at(df, table, out["row"]))
    return out[list(_VIOLATION_COLUMNS)]


def _as_datetime(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(s.dtype):
        return s
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(s.astype(object), errors="coerce", format="mixed")


def _as_float(s: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.astype("float64")
    return pd.to_numeric(s, errors="coerce").astype("float64")


def _fmt_day(v: Any) -> str:
    return _fmt_value(v) or "NaT"


def _cross_table_violations(tables: Mapping[str, pd.DataFrame], meta: Mapping) -> list:
    parts = []

    # Foreign keys.
    for child, ccol, parent, pcol in _FOREIGN_KEYS:
        cdf, pdf = tables.get(child), tables.get(parent)
        if cdf is None or pdf is None or ccol not in cdf.columns or pcol not in pdf.columns:
            continue
        s = cdf[ccol]
        mask = s.notna() & ~s.isin(pdf[pcol].dropna().unique())
        if mask.any():
            msgs = [f"{ccol} {v!r} not found in {parent}.{pcol}" for v in s[mask]]
            parts.append(_violations(child, ccol, cdf, mask, "foreign_key", s, msgs))

    ro = tables.get("repair_orders")
    if ro is not None:
        # Total = labour + parts + other.
        need = (*_AMOUNT_PARTS, "total_amount")
        if all(c in ro.columns for c in need):
            total = _as_float(ro["total_amount"])
            comp = sum(_as_float(ro[c]) for c in _AMOUNT_PARTS)
            diff = (total - comp).abs()
            mask = (diff > TOTAL_TOLERANCE).to_numpy() & diff.notna().to_numpy()
            if mask.any():
                msgs = [
                    f"total_amount {t:.2f} differs from labor + parts + other = {c:.2f}"
                    for t, c in zip(total[mask], comp[mask], strict=True)
                ]
                parts.append(
                    _violations(
                        "repair_orders", "total_amount", ro, mask, "total_mismatch", total, msgs
                    )
                )
        # Close before open.
        if "open_date" in ro.columns and "close_date" in ro.columns:
            o, c = _as_datetime(ro["open_date"]), _as_datetime(ro["close_date"])
            mask = (c < o).to_numpy()
            if mask.any():
                msgs = [
                    f"close_date {_fmt_day(cv)} is before open_date {_fmt_day(ov)}"
                    for cv, ov in zip(c[mask], o[mask], strict=True)
                ]
                parts.append(
                    _violations(
                        "repair_orders", "close_date", ro, mask, "close_before_open", c, msgs
                    )
                )
        # Order before the vehicle's sale.
        veh = tables.get("vehicles")
        if (
            veh is not None
            and {"vin", "sale_date"} <= set(veh.columns)
            and {"vin", "open_date"} <= set(ro.columns)
        ):
            sale_by_vin = (
                veh.loc[veh["vin"].notna(), ["vin", "sale_date"]]
                .drop_duplicates("vin")
                .set_index("vin")["sale_date"]
            )
            sale = _as_datetime(ro["vin"].map(_as_datetime(sale_by_vin)))
            o = _as_datetime(ro["open_date"])
            mask = (o.dt.normalize() < sale.dt.normalize()).to_numpy()
            if mask.any():
                msgs = [
                    f"open_date {_fmt_day(ov)} is before the vehicle's sale_date {_fmt_day(sv)}"
                    for ov, sv in zip(o[mask], sale[mask], strict=True)
                ]
                parts.append(
                    _violations(
                        "repair_orders", "open_date", ro, mask, "order_before_sale", o, msgs
                    )
                )

    # Dates after as_of.
    as_of = meta.get("as_of") if isinstance(meta, Mapping) else None
    if as_of is not None:
        try:
            limit = pd.Timestamp(as_of)
            if pd.isna(limit):
                raise ValueError
        except (TypeError, ValueError):
            parts.append(
                pd.DataFrame(
                    {
                        "table": ["meta"],
                        "column": ["as_of"],
                        "row": pd.array([None], dtype="Int64"),
                        "key": [None],
                        "check": ["dtype"],
                        "value": [str(as_of)],
                        "message": [f"meta['as_of'] {as_of!r} is not a date"],
                    }
                )
            )
        else:
            if limit.tzinfo is not None:
                limit = limit.tz_localize(None)
            whole_day = limit == limit.normalize()
            for table in TABLE_NAMES:
                df = tables.get(table)
                if df is None:
                    continue
                for col, spec in COLUMNS[table].items():
                    if spec.kind != "datetime" or col not in df.columns:
                        continue
                    d = _as_datetime(df[col])
                    mask = (d.dt.normalize() > limit) if whole_day else (d > limit)
                    mask = mask.to_numpy()
                    if mask.any():
                        msgs = [
                            f"{col} {_fmt_day(v)} is after as_of {_fmt_day(limit)}" for v in d[mask]
                        ]
                        parts.append(_violations(table, col, df, mask, "future_date", d, msgs))
    return parts


def _sort_violations(v: pd.DataFrame) -> pd.DataFrame:
    if v.empty:
        return _empty_violations()
    table_rank = {t: i for i, t in enumerate((*_ALL_TABLES, "meta"))}
    check_rank = {c: i for i, c in enumerate(CHECKS)}

    def col_rank(row_table: str, col: Any) -> tuple[int, str]:
        cols = list(COLUMNS.get(row_table, {}))
        if col in cols:
            return (cols.index(col), "")
        return (len(cols), "" if col is None else str(col))

    order = pd.DataFrame(
        {
            "t": v["table"].map(lambda t: table_rank.get(t, len(table_rank))),
            "c": [check_rank.get(c, len(check_rank)) for c in v["check"]],
            "cn": v["check"].astype(str),
            "col": [col_rank(t, c) for t, c in zip(v["table"], v["column"], strict=True)],
            "r": v["row"].astype("Int64").fillna(-1).astype("int64"),
            "val": v["value"].fillna("").astype(str),
        }
    )
    order["col0"] = [x[0] for x in order["col"]]
    order["col1"] = [x[1] for x in order["col"]]
    idx = order.sort_values(["t", "c", "cn", "col0", "col1", "r", "val"], kind="mergesort").index
    out = v.loc[idx].reset_index(drop=True)
    out["row"] = out["row"].astype("Int64")
    return out


# ---------------------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------------------

_DTYPES_FILE = "csv_dtypes.json"


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, pd.Timestamp | _dt.date | _dt.datetime):
        return o.isoformat()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    if isinstance(o, set | frozenset | tuple):
        return sorted(o) if isinstance(o, set | frozenset) else list(o)
    raise TypeError(f"meta value of type {type(o).__name__} is not JSON serializable")


def _dump_json(obj: Any) -> str:
    return (
        json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    )


def _cast_csv_extra(s: pd.Series, dtype: str) -> pd.Series:
    """Cast an extra CSV column (read as text) back to the dtype recorded at write time."""
    s = s.astype(object).where(s.notna(), None)
    if dtype == "object":
        return s
    try:
        if dtype == "bool":
            return _coerce_bool(s, "", "raise")
        if dtype.startswith("datetime64"):
            out = pd.to_datetime(s, format="ISO8601")
            if "," in dtype:  # time-zone aware
                return out.dt.tz_convert(dtype.split(",", 1)[1].strip(" ]"))
            return out.astype(dtype)
        return s.astype(dtype)
    except (TypeError, ValueError):
        return s


def _read_csv(path: Path, table: str, dtypes: Mapping[str, str] | None) -> pd.DataFrame:
    opts = {"encoding": "utf-8-sig", "keep_default_na": False, "na_values": [""]}
    header = pd.read_csv(path, nrows=0, **opts).columns
    known = COLUMNS[table]
    dtypes = dtypes or {}
    as_text = [c for c in header if c in known or c in dtypes]
    df = pd.read_csv(path, dtype={c: str for c in as_text}, float_precision="round_trip", **opts)
    for c in df.columns:
        if c not in known and c in dtypes:
            df[c] = _cast_csv_extra(df[c], dtypes[c])
    return df


def _store_of(path: Path, root: Path) -> str | None:
    """The store of a file of a hive-partitioned table (``store=001`` or
    ``store_id=001`` folder), or None."""
    for segment in path.relative_to(root).parent.parts:
        key, sep, value = segment.partition("=")
        if sep and key in ("store", "store_id"):
            return unquote(value)
    return None


def _read_parquet_dir(root: Path, table: str, keep: Any = None,
                      store_id: str | None = None) -> pd.DataFrame:
    """A table stored as a folder of Parquet files, hive-partitioned or not.

    Files are read in sorted path order (hidden files and folders and names starting
    with ``_`` are skipped). A hive key (``<key>=<value>`` folder) that is a canonical
    column of ``table`` missing from a file fills that column as a string (``"001"``
    stays ``"001"``); other keys only locate files and are not read (the files are the
    data: :func:`crm_analysis.synth.stream.write_partitioned` keeps ``store_id`` in them).
    """
    files = sorted(
        p for p in root.rglob("*.parquet")
        if p.is_file() and not any(s.startswith((".", "_")) for s in p.relative_to(root).parts)
    )
    if not files:
        raise FileNotFoundError(f"table folder {str(root)!r} holds no .parquet file")
    first = files[0]
    if store_id is not None and keep is None:  # one store: its own files only
        files = [f for f in files if _store_of(f, root) in (None, store_id)]
    parts = []
    for f in files:
        t = pq.read_table(f, filters=keep)
        for segment in f.relative_to(root).parent.parts:
            key, sep, value = segment.partition("=")
            if sep and key in COLUMNS[table] and key not in t.column_names:
                value = None if value == "__HIVE_DEFAULT_PARTITION__" else unquote(value)
                t = t.append_column(key, pyarrow.array([value] * t.num_rows, pyarrow.string()))
        parts.append(t)
    if not parts:  # a store without files: no rows, the columns of the table
        return pq.read_schema(first).empty_table().to_pandas()
    return pyarrow.concat_tables(parts, promote_options="default").to_pandas()


def _missing_table(folder: Path, name: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"dataset folder {str(folder)!r} has no {name!r} table: expected "
        f"{name}.parquet, {name}.csv or a {name}/ folder of Parquet files")


def _read_store(folder: Path, store_id: str, dtypes: Mapping | None) -> dict[str, Any]:
    """The tables of one store of a dataset folder with partitioned tables.

    Its orders (the files of its partition), the vehicles homed there or serviced there,
    the customers of both and their truth rows, and the whole ``stores`` table: what
    ``Dataset.from_dir(folder).for_store(store_id)`` keeps, without reading the other
    stores' orders into memory.
    """
    tables: dict[str, Any] = {"stores": _read_table(folder, "stores", dtypes)}

    def read(name: str, keep: Any = None, by_store: bool = True) -> pd.DataFrame | None:
        root = folder / name
        if root.is_dir():
            df = _read_parquet_dir(root, name, keep, store_id if by_store else None)
            return coerce(name, df.reset_index(drop=True))
        return _read_table(folder, name, dtypes)

    orders = read("repair_orders")
    if orders is None:
        raise _missing_table(folder, "repair_orders")
    orders = orders.loc[orders["store_id"] == store_id].reset_index(drop=True)
    vins = orders["vin"].dropna().unique().tolist()

    def strings(values: Iterable[Any]) -> pyarrow.Array:  # a typed set, even when empty
        return pyarrow.array(sorted(values), pyarrow.string())

    keep_v = (pc.field("store_id") == store_id) | pc.field("vin").isin(strings(vins))
    vehicles = read("vehicles", keep_v, by_store=False)
    if vehicles is None:
        raise _missing_table(folder, "vehicles")
    ids = set(vehicles["customer_id"].dropna()) | set(orders["customer_id"].dropna())
    customers = read("customers", pc.field("customer_id").isin(strings(ids)), by_store=False)
    if customers is None:
        raise _missing_table(folder, "customers")
    vv = vehicles["vin"].dropna().unique().tolist()
    truth = read("truth", pc.field("vin").isin(strings(vv)), by_store=False)
    # the same filters again in pandas: no-ops for partitioned tables, needed for flat ones
    vehicles = vehicles.loc[(vehicles["store_id"] == store_id)
                            | vehicles["vin"].isin(vins)].reset_index(drop=True)
    customers = customers.loc[customers["customer_id"].isin(ids)].reset_index(drop=True)
    if truth is not None:
        truth = truth.loc[truth["vin"].isin(vehicles["vin"])].reset_index(drop=True)
    tables.update(repair_orders=orders, vehicles=vehicles, customers=customers, truth=truth)
    return tables


def _read_table(folder: Path, table: str, dtypes: Mapping | None) -> pd.DataFrame | None:
    pq_path, csv_path = folder / f"{table}.parquet", folder / f"{table}.csv"
    if pq_path.is_file():
        df = pq.read_table(pq_path).to_pandas()
    elif csv_path.is_file():
        df = _read_csv(csv_path, table, (dtypes or {}).get(table))
    elif (folder / table).is_dir() or pq_path.is_dir():
        df = _read_parquet_dir(folder / table if (folder / table).is_dir() else pq_path, table)
    else:
        return None
    return coerce(table, df.reset_index(drop=True))


# ---------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------


@dataclass(eq=False, repr=False)
class Dataset:
    """The after-sales data of a dealer group or store: four tables, optional truth, meta.

    Tables are plain pandas DataFrames in the canonical layout (see the module
    docstring); ``meta`` is free-form, JSON-serializable metadata such as
    ``{"as_of": "2026-06-30", "seed": 1}`` (``as_of`` enables the ``future_date`` check).
    The constructor does not convert dtypes: use :func:`coerce` or :meth:`coerced`.

    Example
    -------
    >>> import pandas as pd
    >>> ds = Dataset(
    ...     stores=pd.DataFrame({"store_id": ["007"], "store_name": ["Hefei"],
    ...                          "city": ["Hefei"], "opened_date": [pd.NaT]}),
    ...     customers=pd.DataFrame(columns=list(TABLES["customers"])),
    ...     vehicles=pd.DataFrame(columns=list(TABLES["vehicles"])),
    ...     repair_orders=pd.DataFrame(columns=list(TABLES["repair_orders"])),
    ... ).coerced()
    >>> ds
    Dataset(stores=1, customers=0, vehicles=0, repair_orders=0, truth=None)
    >>> ds.store_ids
    ['007']
    """

    stores: pd.DataFrame
    customers: pd.DataFrame
    vehicles: pd.DataFrame
    repair_orders: pd.DataFrame
    truth: pd.DataFrame | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in TABLE_NAMES:
            if not isinstance(getattr(self, name), pd.DataFrame):
                raise TypeError(
                    f"Dataset.{name} must be a pandas DataFrame, "
                    f"got {type(getattr(self, name)).__name__}"
                )
        if self.truth is not None and not isinstance(self.truth, pd.DataFrame):
            raise TypeError("Dataset.truth must be a pandas DataFrame or None")
        if self.meta is None:
            self.meta = {}

    # -- basic accessors ----------------------------------------------------------------

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by name in canonical order, including ``truth`` when present.

        Example
        -------
        >>> list(example_dataset().tables)
        ['stores', 'customers', 'vehicles', 'repair_orders']
        """
        out = {name: getattr(self, name) for name in TABLE_NAMES}
        if self.truth is not None:
            out["truth"] = self.truth
        return out

    @property
    def store_ids(self) -> list[str]:
        """Sorted store ids of the ``stores`` table.

        Example
        -------
        >>> example_dataset().store_ids
        ['001', '007']
        """
        if "store_id" not in self.stores.columns:
            return []
        return sorted(str(s) for s in self.stores["store_id"].dropna().unique())

    def __repr__(self) -> str:
        counts = ", ".join(f"{n}={len(getattr(self, n))}" for n in TABLE_NAMES)
        truth = "None" if self.truth is None else str(len(self.truth))
        as_of = f", as_of={self.meta['as_of']!r}" if "as_of" in self.meta else ""
        return f"Dataset({counts}, truth={truth}{as_of})"

    def coerced(self, *, errors: Literal["raise", "coerce"] = "raise") -> Dataset:
        """A copy with every table cast to the canonical dtypes by :func:`coerce`.

        Example
        -------
        >>> ds = example_dataset()
        >>> ds.repair_orders["open_date"] = ds.repair_orders["open_date"].astype(str)
        >>> str(ds.coerced().repair_orders["open_date"].dtype)
        'datetime64[ns]'
        """
        return Dataset(
            **{n: coerce(n, df, errors=errors) for n, df in self.tables.items()},
            meta=copy.deepcopy(self.meta),
        )

    # -- storage ------------------------------------------------------------------------

    @classmethod
    def from_dir(cls, path: str | os.PathLike, *, store_id: str | None = None) -> Dataset:
        """Read a dataset folder written by :meth:`to_dir` (or by hand).

        For each table, ``<table>.parquet`` is read if present, else ``<table>.csv``
        (UTF-8, with or without BOM), else a folder ``<table>/`` (or ``<table>.parquet/``)
        of Parquet files, e.g. hive-partitioned ``repair_orders/store=001/part-0.parquet``
        as written by :func:`crm_analysis.synth.stream.write_partitioned` (all files are
        read into memory: for a very large group use Polars or DuckDB instead); ``truth``
        is optional; ``meta.json`` is read when present. Every table is passed through
        :func:`coerce`. A missing table raises :class:`FileNotFoundError` naming the
        folder and the expected file.

        With ``store_id`` and a folder whose ``repair_orders`` is a partitioned folder,
        only that store is read: its orders partition, the vehicles homed or serviced
        there, their customers and truth rows, and the whole ``stores`` table (the same
        rows as ``from_dir(path).for_store(store_id)`` but for ``stores``), so one store of
        a 200-store group fits in memory. For other folders ``store_id`` is ignored
        (everything is read).

        Example
        -------
        >>> import tempfile
        >>> ds = example_dataset()
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = ds.to_dir(tmp, format="csv")
        ...     back = Dataset.from_dir(tmp)
        >>> back.stores["store_id"].tolist()
        ['001', '007']
        """
        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(f"dataset folder {str(folder)!r} does not exist")
        dtypes = None
        if (folder / _DTYPES_FILE).is_file():
            dtypes = json.loads((folder / _DTYPES_FILE).read_text(encoding="utf-8"))
        if store_id is not None and (folder / "repair_orders").is_dir():
            tables = _read_store(folder, str(store_id), dtypes)
        else:
            tables = {name: _read_table(folder, name, dtypes) for name in _ALL_TABLES}
        for name in TABLE_NAMES:
            if tables.get(name) is None:
                raise _missing_table(folder, name)
        meta: dict = {}
        if (folder / "meta.json").is_file():
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        return cls(**tables, meta=meta)

    def to_dir(
        self, path: str | os.PathLike, format: Literal["parquet", "csv"] = "parquet"
    ) -> Path:
        """Write every table and ``meta.json`` to folder ``path`` (created if needed).

        ``format="parquet"`` writes ``<table>.parquet`` with pyarrow (no index);
        ``format="csv"`` writes UTF-8 ``<table>.csv`` with ISO dates plus
        ``csv_dtypes.json`` (dtypes of every column, so that extra columns read back
        exactly). Same data gives the same bytes. Table files of the other format and a
        stale ``truth`` file are removed so that :meth:`from_dir` reads back this dataset.
        Returns the folder.

        Example
        -------
        >>> import tempfile
        >>> ds = example_dataset()
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     folder = ds.to_dir(tmp)
        ...     sorted(p.name for p in folder.iterdir())
        ['customers.parquet', 'meta.json', 'repair_orders.parquet', 'stores.parquet', \
'vehicles.parquet']
        """
        if format not in ("parquet", "csv"):
            raise ValueError(f"format must be 'parquet' or 'csv', got {format!r}")
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        other = "csv" if format == "parquet" else "parquet"
        tables = self.tables
        for name in _ALL_TABLES:
            (folder / f"{name}.{other}").unlink(missing_ok=True)
            if name not in tables:
                (folder / f"{name}.{format}").unlink(missing_ok=True)
        dtypes: dict[str, dict[str, str]] = {}
        for name, df in tables.items():
            df = df.reset_index(drop=True)
            target = folder / f"{name}.{format}"
            if format == "parquet":
                table = pyarrow.Table.from_pandas(df, preserve_index=False)
                pq.write_table(table, target)
            else:
                df.to_csv(target, index=False, encoding="utf-8", lineterminator="\n")
                dtypes[name] = {str(c): str(t) for c, t in df.dtypes.items()}
        if format == "csv":
            (folder / _DTYPES_FILE).write_text(_dump_json(dtypes), encoding="utf-8")
        else:
            (folder / _DTYPES_FILE).unlink(missing_ok=True)
        (folder / "meta.json").write_text(_dump_json(self.meta), encoding="utf-8")
        return folder

    # -- validation ---------------------------------------------------------------------

    def validate(self) -> ValidationReport:
        """Check every table and the links between them; report all violations at once.

        Per-table checks (pandera, lazy): ``missing_column``, ``dtype``, ``not_null``,
        ``allowed_values``, ``duplicate_key``, ``vin_length``, ``negative_amount``,
        ``negative_mileage``. Cross-table checks: ``foreign_key`` (vehicle owner and home
        store, order store, vehicle and customer, truth vin), ``total_mismatch``
        (|total - (labor + parts + other)| > 0.01), ``close_before_open``,
        ``order_before_sale`` (order opened on a day before the vehicle's sale date) and
        ``future_date`` (a date after ``meta["as_of"]``, when known). Rows are 0-based
        positions in each table.

        Example
        -------
        >>> ds = example_dataset()
        >>> ds.repair_orders.loc[2, "vin"] = "LSVAA4180E2000999"
        >>> ds.repair_orders.loc[3, "ro_type"] = "oil change"
        >>> report = ds.validate()
        >>> report.violations[["table", "column", "row", "check"]]
                   table   column  row           check
        0  repair_orders  ro_type    3  allowed_values
        1  repair_orders      vin    2     foreign_key
        """
        tables = {name: df.reset_index(drop=True) for name, df in self.tables.items()}
        parts = [_pandera_violations(name, df) for name, df in tables.items()]
        parts += _cross_table_violations(tables, self.meta)
        parts = [p for p in parts if not p.empty]
        if not parts:
            return ValidationReport(_empty_violations())
        return ValidationReport(_sort_violations(pd.concat(parts, ignore_index=True)))

    # -- subsetting ---------------------------------------------------------------------

    def for_store(self, store_id: str) -> Dataset:
        """The sub-dataset of one store.

        Keeps the store's row, its repair orders, the vehicles whose home store it is or
        that have an order there, the customers of those vehicles and orders, and their
        truth rows. ``meta`` is copied with ``meta["store_id"]`` set. Vehicles serviced
        here but homed elsewhere keep their ``store_id``, so their home store is not in
        ``stores`` of the subset. Unknown ids raise :class:`KeyError` listing the valid
        ones (ids are strings: ``"007"``, not ``7``).

        Example
        -------
        >>> sub = example_dataset().for_store("007")
        >>> sub.stores["store_id"].tolist(), sub.vehicles["vin"].tolist()
        (['007'], ['LSVAA4180E2000003'])
        """
        valid = set(self.stores["store_id"].dropna()) if "store_id" in self.stores else set()
        if store_id not in valid:
            hint = ""
            if not isinstance(store_id, str):
                hint = f" (store ids are strings; got {type(store_id).__name__})"
            raise KeyError(
                f"unknown store id {store_id!r}{hint}; valid store ids: "
                f"{', '.join(repr(s) for s in self.store_ids)}"
            )

        def sub(df: pd.DataFrame, mask: pd.Series) -> pd.DataFrame:
            return df.loc[np.asarray(mask, dtype=bool)].reset_index(drop=True)

        stores = sub(self.stores, self.stores["store_id"] == store_id)
        orders = sub(self.repair_orders, self.repair_orders["store_id"] == store_id)
        vmask = (self.vehicles["store_id"] == store_id) | self.vehicles["vin"].isin(
            orders["vin"].dropna().unique()
        )
        vehicles = sub(self.vehicles, vmask)
        cust_ids = pd.concat([vehicles["customer_id"], orders["customer_id"]]).dropna().unique()
        customers = sub(self.customers, self.customers["customer_id"].isin(cust_ids))
        truth = None
        if self.truth is not None:
            truth = sub(self.truth, self.truth["vin"].isin(vehicles["vin"].dropna().unique()))
        meta = copy.deepcopy(self.meta)
        meta["store_id"] = store_id
        return Dataset(stores, customers, vehicles, orders, truth=truth, meta=meta)


# ---------------------------------------------------------------------------------------
# Example data
# ---------------------------------------------------------------------------------------


def example_dataset() -> Dataset:
    """A tiny valid dataset (2 stores, 3 customers, 3 vehicles, 5 orders) for examples.

    Example
    -------
    >>> ds = example_dataset()
    >>> ds.vehicles[["vin", "store_id", "sold_here"]]
                     vin store_id  sold_here
    0  LSVAA4180E2000001      001       True
    1  LSVAA4180E2000002      001      False
    2  LSVAA4180E2000003      007       True
    """
    d = pd.Timestamp
    stores = pd.DataFrame(
        {
            "store_id": ["001", "007"],
            "store_name": ["Hefei North", "Wuhu"],
            "city": ["Hefei", "Wuhu"],
            "opened_date": [d("2012-05-01"), pd.NaT],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["C001", "C002", "C003"],
            "name": ["Wang Lei", None, "Anhui Transit Co."],
            "phone": ["13800000001", None, "0551-6000000"],
            "customer_type": ["individual", "individual", "company"],
            "occupation": ["teacher", None, None],
            "region": ["Hefei", "Hefei", None],
            "first_seen_date": [d("2019-03-02"), pd.NaT, d("2020-07-15")],
        }
    )
    vehicles = pd.DataFrame(
        {
            "vin": ["LSVAA4180E2000001", "LSVAA4180E2000002", "LSVAA4180E2000003"],
            "customer_id": ["C001", "C002", "C003"],
            "store_id": ["001", "001", "007"],
            "sold_here": [True, False, True],
            "sale_date": [d("2019-03-02"), pd.NaT, d("2020-07-15")],
            "model": ["Sedan A", "SUV B", "Sedan A"],
            "grade": ["mid", "premium", None],
            "usage": ["private", "private", "ride_hailing"],
            "plate": ["皖A12345", None, "皖B67890"],
            "color": ["white", None, "black"],
        }
    )
    repair_orders = pd.DataFrame(
        {
            "ro_id": ["R0001", "R0002", "R0003", "R0004", "R0005"],
            "store_id": ["001", "001", "001", "007", "007"],
            "vin": [
                "LSVAA4180E2000001",
                "LSVAA4180E2000001",
                "LSVAA4180E2000002",
                "LSVAA4180E2000003",
                "LSVAA4180E2000003",
            ],
            "customer_id": ["C001", "C001", "C002", "C003", "C003"],
            "open_date": [
                d("2019-09-10"),
                d("2020-03-12"),
                d("2021-01-05"),
                d("2020-10-20"),
                d("2021-04-18"),
            ],
            "close_date": [d("2019-09-10"), d("2020-03-13"), pd.NaT, d("2020-10-20"), pd.NaT],
            "mileage_km": [5100.0, 10200.0, np.nan, 31000.0, 62000.0],
            "ro_type": ["maintenance", "repair", "maintenance", "maintenance", "body_paint"],
            "payer": ["customer", "customer", "customer", "customer", "insurance"],
            "labor_amount": [150.0, 420.0, 120.0, 150.0, 1800.0],
            "parts_amount": [260.0, 880.5, 230.0, 300.0, 2650.0],
            "other_amount": [0.0, 0.0, 30.0, 0.0, 200.0],
            "total_amount": [410.0, 1300.5, 380.0, 450.0, 4650.0],
        }
    )
    return Dataset(
        stores=stores,
        customers=customers,
        vehicles=vehicles,
        repair_orders=repair_orders,
        meta={"as_of": "2024-06-30", "source": "crm_analysis.schema.example_dataset"},
    )

"""The input layer: how every public function reads and checks what it is given.

One place for the checks that the analyses have in common, so that the same mistake
gets the same error everywhere (``docs/CONVENTIONS.md``):

- :func:`caller`: the public function being run, found once from the call stack, so
  that no function passes its own name by hand;
- :func:`read_as_of` and :func:`data_as_of`: the analysis date (a date, a
  ``"YYYY-MM-DD"`` string, a ``datetime`` / ``Timestamp``; ``None`` means the data's own
  as-of date; a number or a bool is a :class:`TypeError`);
- :func:`check_int`, :func:`check_number`, :func:`check_confidence`,
  :func:`check_choice`, :func:`check_bool`: arguments (TypeError for a wrong type,
  ValueError for a wrong value);
- :func:`to_pandas`, :func:`require_columns`, :func:`tables`, :func:`check_dataset`,
  :func:`select_store`: tables.

Every error starts with ``"<function>: "`` and names the argument and what was expected.

Example
-------
>>> def months_back(months=12):
...     return check_int(months, "months")
>>> months_back("12")
Traceback (most recent call last):
...
TypeError: months_back: months must be an integer, got '12' (str)
>>> read_as_of(20240630, where="status")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
TypeError: status: as_of must be a date ("YYYY-MM-DD", ...), got int 20240630
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from crm_analysis.schema import Dataset

__all__ = [
    "caller",
    "check_bool",
    "check_choice",
    "check_confidence",
    "check_dataset",
    "check_int",
    "check_number",
    "data_as_of",
    "iso_date_arg",
    "positive_int_arg",
    "read_as_of",
    "require_columns",
    "select_store",
    "tables",
    "to_pandas",
]

_PACKAGE = __name__.rpartition(".")[0]  # "crm_analysis"
_HERE = __file__


# =========================================================================== the caller


def caller(where: str | None = None) -> str:
    """The name errors start with: ``where`` when given, else the public function or
    method of the package that is running (``"status"``, ``"BetaGeoModel.fit"``).

    Walks up the call stack to the nearest frame of a ``crm_analysis`` module (or a
    doctest / notebook frame when no package frame is public) whose function is public:
    private helpers (a leading ``_``) are skipped, so that the name is the one the user
    called. ``__init__`` names its class. Costs a few microseconds; call it only on the
    error path or once per public call.
    """
    if where:
        return where
    frame = sys._getframe(1)
    first_outside = None
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        code = frame.f_code
        if code.co_filename != _HERE:
            qual = getattr(code, "co_qualname", code.co_name)
            parts = [p for p in qual.split(".") if p != "<locals>"]
            name = parts[-1]
            if module == _PACKAGE or module.startswith(_PACKAGE + "."):
                if name == "__init__" and len(parts) > 1:
                    return parts[-2]
                if not name.startswith(("_", "<")) and not any(
                        p.startswith("_") for p in parts[:-1]):
                    return ".".join(parts)
            elif first_outside is None and not name.startswith("<"):
                first_outside = ".".join(parts)
        frame = frame.f_back
    return first_outside or _PACKAGE


# =========================================================================== dates


_DATE_TYPES = (str, _dt.date, np.datetime64, pd.Timestamp)


def read_as_of(value: Any, data: Any = None, *, name: str = "as_of",
               where: str | None = None) -> pd.Timestamp:
    """The analysis date as a naive :class:`pandas.Timestamp`.

    ``value`` may be a ``"YYYY-MM-DD"`` string, a :class:`datetime.date`, a
    :class:`datetime.datetime`, a :class:`pandas.Timestamp` or a ``numpy.datetime64``.
    ``None`` (or a blank string, as a papermill parameter gives it) means the data's
    own as-of date (:func:`data_as_of`); without ``data`` it is a TypeError. A number
    (``20240630`` would otherwise be read as nanoseconds after 1970) or a bool is a
    TypeError, a string that is no date a ValueError; each names the function.

    >>> read_as_of("2024-06-30")
    Timestamp('2024-06-30 00:00:00')
    >>> read_as_of(None, {"repair_orders": pd.DataFrame(
    ...     {"open_date": pd.to_datetime(["2024-01-05", "2024-03-01"])})})
    Timestamp('2024-03-01 00:00:00')
    >>> read_as_of("June", where="status")
    Traceback (most recent call last):
    ...
    ValueError: status: as_of='June' is not a date
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        found = data_as_of(data) if data is not None else None
        if found is None:
            raise TypeError(
                f"{caller(where)}: {name} is required (the analysis date, e.g. "
                f"{name}=\"2024-06-30\"){'' if data is None else '; the data have no as-of date'}"
            )
        return found
    if isinstance(value, bool) or not isinstance(value, _DATE_TYPES):
        raise TypeError(
            f"{caller(where)}: {name} must be a date (\"YYYY-MM-DD\", datetime.date, "
            f"datetime or pandas.Timestamp), got {type(value).__name__} {value!r}"
        )
    try:
        ts = pd.Timestamp(value)
        if pd.isna(ts):
            raise ValueError("missing")
        # dateutil reads "June" as 0001-06-01: outside the datetime64[ns] range is no date
        ts = ts.as_unit("ns")
        if ts.tzinfo is not None:
            ts = ts.tz_localize(None)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{caller(where)}: {name}={value!r} is not a date") from exc
    return ts


def data_as_of(data: Any) -> pd.Timestamp | None:
    """The data's own as-of date: ``meta["as_of"]`` of a :class:`Dataset` (or of a
    mapping's ``"meta"``), else the date of the last repair order; ``None`` when the data
    hold neither."""
    meta = getattr(data, "meta", None)
    if meta is None and isinstance(data, Mapping):
        meta = data.get("meta")
    if isinstance(meta, Mapping) and meta.get("as_of"):
        return pd.Timestamp(meta["as_of"]).as_unit("ns")
    orders = getattr(data, "repair_orders", None)
    if orders is None and isinstance(data, Mapping):
        orders = data.get("repair_orders")
    if orders is None:
        return None
    frame = nw.from_native(orders)
    if "open_date" not in frame.columns:
        return None
    last = frame.lazy().select(nw.col("open_date").max()).collect().item()
    if last is None or pd.isna(last):
        return None
    # PySpark hands the wall time back with its session's time zone: keep the wall time
    return pd.Timestamp(last).tz_localize(None).as_unit("ns") if pd.Timestamp(last).tzinfo \
        else pd.Timestamp(last).as_unit("ns")


# =========================================================================== arguments


def check_int(value: Any, name: str, *, minimum: int | None = 1, maximum: int | None = None,
              where: str | None = None) -> int:
    """``value`` as an ``int``: a TypeError unless it is an integer (a bool or ``"12"``
    is not), a ValueError outside [``minimum``, ``maximum``]."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{caller(where)}: {name} must be an integer, got {value!r} "
                        f"({type(value).__name__})")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{caller(where)}: {name} must be {_range_text(minimum, maximum)}, "
                         f"got {value!r}")
    return int(value)


def check_number(value: Any, name: str, *, minimum: float | None = None,
                 maximum: float | None = None, strict: bool = False,
                 where: str | None = None) -> float:
    """``value`` as a finite ``float``: a TypeError unless it is a real number (not a bool
    or a string), a ValueError when it is not finite or outside [``minimum``,
    ``maximum``] (open bounds with ``strict=True``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{caller(where)}: {name} must be a number, got {value!r} "
                        f"({type(value).__name__})")
    x = float(value)
    low_bad = minimum is not None and (x <= minimum if strict else x < minimum)
    high_bad = maximum is not None and (x >= maximum if strict else x > maximum)
    if not np.isfinite(x) or low_bad or high_bad:
        raise ValueError(f"{caller(where)}: {name} must be a finite number"
                         f"{_range_text(minimum, maximum, strict, lead=' ')}, got {value!r}")
    return x


def check_confidence(confidence: Any, *, where: str | None = None) -> float:
    """The level of an interval, strictly between 0 and 1 (``confidence=0.95``)."""
    return check_number(confidence, "confidence", minimum=0.0, maximum=1.0, strict=True,
                        where=where)


def check_choice(value: Any, name: str, choices: Iterable[Any], *,
                 where: str | None = None) -> Any:
    """``value`` when it is one of ``choices``, else a ValueError listing them."""
    options = tuple(choices)
    try:
        ok = value in options
    except TypeError:  # unhashable values in a set of choices
        ok = False
    if not ok:
        listed = ", ".join(repr(c) for c in options)
        raise ValueError(f"{caller(where)}: {name} must be one of {listed}; got {value!r}")
    return value


def check_bool(value: Any, name: str, *, where: str | None = None) -> bool:
    """``value`` when it is a bool (``numpy.bool_`` too), else a TypeError."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{caller(where)}: {name} must be True or False, got {value!r}")
    return bool(value)


def positive_int_arg(text: str) -> int:
    """An argparse ``type``: a whole number >= 1 from the command line."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def iso_date_arg(text: str) -> str:
    """An argparse ``type``: a ``YYYY-MM-DD`` date from the command line, as that text."""
    try:
        return _dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def _range_text(minimum: Any, maximum: Any, strict: bool = False, lead: str = "") -> str:
    lo, hi = (">", "<") if strict else (">=", "<=")
    if minimum is not None and maximum is not None:
        return f"{lead}{lo} {minimum} and {hi} {maximum}"
    if minimum is not None:
        return f"{lead}{lo} {minimum}"
    if maximum is not None:
        return f"{lead}{hi} {maximum}"
    return ""


# =========================================================================== tables


def to_pandas(table: Any, name: str = "data", *, where: str | None = None,
              reset_index: bool = True) -> pd.DataFrame:
    """A pandas frame from pandas, Polars (eager or lazy), PyArrow, DuckDB or PySpark input
    (through narwhals), with a TypeError naming the argument for anything else."""
    if isinstance(table, pd.DataFrame):
        return table.reset_index(drop=True) if reset_index else table
    try:
        frame = nw.from_native(table)
    except TypeError:
        raise TypeError(f"{caller(where)}: {name} must be a data frame (pandas, Polars, "
                        f"PyArrow, DuckDB or PySpark), got {type(table).__name__}") from None
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect()
    if not isinstance(frame, nw.DataFrame):
        raise TypeError(f"{caller(where)}: {name} must be a data frame, got "
                        f"{type(table).__name__}")
    out = frame.to_pandas()
    return out.reset_index(drop=True) if reset_index else out


def require_columns(frame: Any, columns: Iterable[str], table: str = "data", *,
                    where: str | None = None) -> None:
    """A KeyError naming the table and the missing columns unless ``frame`` (a pandas or
    narwhals frame, a native frame narwhals reads, or a schema mapping) has them all."""
    if isinstance(frame, Mapping):
        have = list(frame)
    elif isinstance(frame, pd.DataFrame | nw.DataFrame | nw.LazyFrame):
        have = list(frame.columns)
    else:
        have = list(nw.from_native(frame).columns)
    missing = [c for c in columns if c not in have]
    if missing:
        raise KeyError(f"{caller(where)}: table {table!r} is missing column(s) {missing}; "
                       f"it has {have}")


def check_dataset(data: Any, *, where: str | None = None) -> Dataset:
    """``data`` when it is a :class:`~crm_analysis.schema.Dataset`, else a TypeError."""
    if not isinstance(data, Dataset):
        raise TypeError(f"{caller(where)}: data must be a crm_analysis.schema.Dataset, got "
                        f"{type(data).__name__}")
    return data


def tables(data: Any, required: Sequence[str] = ("repair_orders",),
           optional: Sequence[str] = (), *, where: str | None = None) -> dict[str, Any]:
    """The named tables of a :class:`Dataset` or of a mapping of tables, as given (native
    frames); a missing optional table is ``None``. A KeyError names the missing required
    tables, a TypeError any other input."""
    if isinstance(data, Dataset):
        got = {k: getattr(data, k, None) for k in (*required, *optional)}
        missing = [k for k in required if got[k] is None]
    elif isinstance(data, Mapping):
        got = {k: data.get(k) for k in (*required, *optional)}
        missing = [k for k in required if k not in data]
    else:
        wanted = ", ".join(f"{k!r}: ..." for k in (*required, *optional))
        raise TypeError(f"{caller(where)}: data must be a crm_analysis.schema.Dataset or a "
                        f"mapping {{{wanted}}} of tables, got {type(data).__name__}")
    if missing:
        raise KeyError(f"{caller(where)}: data must hold the table(s) {list(required)}; "
                       f"missing {missing}")
    return got


def select_store(frame: pd.DataFrame, store_id: Any, table: str = "repair_orders", *,
                 where: str | None = None) -> pd.DataFrame:
    """The rows of one store of a pandas table (all rows for ``store_id=None``); a
    ValueError listing the stores the table holds when ``store_id`` is not one of them."""
    if store_id is None:
        return frame
    require_columns(frame, ["store_id"], table, where=where)
    ids = frame["store_id"].astype("string")
    rows = frame[(ids == str(store_id)).fillna(False).to_numpy(bool)]
    if rows.empty:
        have = sorted(ids.dropna().unique().tolist())
        raise ValueError(f"{caller(where)}: unknown store {store_id!r}; the {table} table "
                         f"holds stores {have}")
    return rows

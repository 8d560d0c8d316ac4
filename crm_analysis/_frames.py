"""Input and output helpers shared by the narwhals table builders.

:mod:`crm_analysis.features`, :mod:`crm_analysis.retention` and
:mod:`crm_analysis.survival` take pandas or Polars frames, eager or lazy, and return the
kind they were given. The helpers here do the parts they have in common:

- read the input: :func:`_frame` and :func:`_lazy` (a narwhals frame, with an error that
  names the function and the table), :func:`_like` (a second table on the backend of the
  first, through Arrow when they differ);
- check it: :func:`_schema`, :func:`_require` (missing columns), :func:`_check_temporal`
  and :func:`_datetime` (date columns), :func:`_string` (string keys), :func:`_as_of`
  (the analysis date) and :func:`_positive` (a number > 0), each error naming the
  function (``where``), the table and the column;
- hand back the result: :func:`_finish` (a native frame of the input's kind).

Private to the package: the modules import the names with their leading underscore.
Helpers whose variants differ between the modules (for example the integer checks and the
``as_of`` reading of :mod:`crm_analysis.survival`) stay in those modules.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd


def _as_of(value: Any, where: str) -> _dt.datetime:
    """A naive ``datetime`` from a date-like value, with a clear error."""
    if isinstance(value, bool) or not isinstance(
        value, str | _dt.date | np.datetime64 | pd.Timestamp
    ):
        raise TypeError(
            f"{where}: as_of must be a date (str, datetime.date, datetime, numpy.datetime64 "
            f"or pandas.Timestamp), got {type(value).__name__} {value!r}"
        )
    try:
        ts = pd.Timestamp(value)
        if pd.isna(ts):
            raise ValueError("missing")
        # dateutil reads "June" as 0001-06-01: outside the datetime64[ns] range is no date
        ts = ts.as_unit("ns")
        return ts.to_pydatetime().replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{where}: as_of={value!r} is not a date") from exc


def _frame(native: Any, where: str, table: str) -> nw.DataFrame | nw.LazyFrame:
    """``native`` as a narwhals frame (eager or lazy, as given), with a clear error."""
    try:
        return nw.from_native(native)
    except TypeError as exc:
        raise TypeError(
            f"{where}: table {table!r} must be a pandas or Polars frame, "
            f"got {type(native).__name__}"
        ) from exc


def _lazy(native: Any, where: str, table: str) -> nw.LazyFrame:
    """``native`` as a narwhals LazyFrame, with a clear error."""
    return _frame(native, where, table).lazy()


def _like(native: Any, target: nw.LazyFrame, where: str, table: str) -> nw.LazyFrame:
    """``native`` as a LazyFrame of ``target``'s backend (through Arrow if it differs)."""
    frame = _lazy(native, where, table)
    if frame.implementation is target.implementation:
        return frame
    # different backends (say pandas vehicles with Polars orders): go through Arrow
    return nw.from_arrow(frame.collect().to_arrow(), backend=target.implementation).lazy()


def _schema(frame: nw.DataFrame | nw.LazyFrame) -> dict[str, Any]:
    return dict(frame.collect_schema())


def _require(schema: dict[str, Any], columns: Iterable[str], where: str, table: str) -> None:
    missing = [c for c in columns if c not in schema]
    if missing:
        raise KeyError(
            f"{where}: table {table!r} is missing column(s) {missing}; it has {list(schema)}"
        )


def _check_temporal(schema: dict[str, Any], column: str, where: str, table: str) -> bool:
    """Require a datetime (or date) column; True when it is a date that needs a cast."""
    dtype = schema[column]
    if dtype == nw.Datetime:
        return False
    if dtype == nw.Date:
        return True
    raise TypeError(
        f"{where}: column {table}.{column} must hold dates (datetime64), got {dtype}; "
        "convert it first, e.g. with pandas.to_datetime or crm_analysis.schema.coerce"
    )


def _datetime(schema: dict[str, Any], column: str, where: str, table: str) -> nw.Expr:
    """``column`` as a datetime expression (dates are cast), with a clear error."""
    if _check_temporal(schema, column, where, table):
        return nw.col(column).cast(nw.Datetime("us"))
    return nw.col(column)


def _string(schema: dict[str, Any], column: str) -> nw.Expr:
    """``column`` as a string expression (cast unless it holds strings already)."""
    c = nw.col(column)
    return c if schema[column] == nw.String else c.cast(nw.String)


def _positive(value: Any, name: str, where: str) -> float:
    """``value`` as a float, or a ValueError unless it is a number > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number) \
            or not value > 0:
        raise ValueError(f"{where}: {name} must be a number > 0, got {value!r}")
    return float(value)


def _finish(out: nw.LazyFrame, eager: bool) -> Any:
    """The native result: collected (with a fresh index for pandas) for eager input, a
    native LazyFrame for lazy input."""
    if eager:
        return nw.maybe_reset_index(out.collect()).to_native()
    return out.to_native()

"""Engine helpers shared by the narwhals table builders.

:mod:`crm_analysis.features`, :mod:`crm_analysis.retention`, :mod:`crm_analysis.survival`
and :mod:`crm_analysis.overview` take pandas, Polars (eager or lazy), DuckDB or PySpark
frames and return the kind they were given. The helpers here do the parts they have in
common (arguments and the analysis date are read by :mod:`crm_analysis._inputs`):

- read the input: :func:`_nw_frame` (a narwhals frame, with an error that names the function
  and the table), :func:`_like` (a second table on the backend of the first, through
  Arrow when they differ);
- check it: :func:`_schema`, :func:`_check_temporal` and :func:`_datetime` (date
  columns), :func:`_string` (string keys);
- hand back the result: :func:`_finish` (a native frame of the input's kind);
- work on every engine: :func:`_epoch_ms` and :func:`_seconds_since` (whole time
  spans on engines whose narwhals datetime namespace lacks ``timestamp`` or
  ``total_seconds``: DuckDB and PySpark), :func:`_small_table` (a constant table, such
  as the age bands 0 … 9, on the backend of a lazy frame).

Private to the package: the modules import the names with their leading underscore.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import narwhals as nw
import pandas as pd

from crm_analysis._inputs import caller


def _native_time(impl: Any) -> bool:
    """The backend has narwhals' ``dt.timestamp`` and ``dt.total_seconds``."""
    return impl.is_pandas_like() or impl.is_polars() or impl.is_pyarrow()


def _civil_days(expr: nw.Expr) -> nw.Expr:
    """Days since 1970-01-01 of a datetime expression, from its year and day of the year.

    Written by hand because narwhals has no portable "epoch" on SQL engines (PySpark has
    neither ``dt.timestamp`` nor ``dt.total_seconds``; DuckDB lacks ``dt.timestamp``),
    while ``dt.year`` and ``dt.ordinal_day`` exist everywhere: 365 days a year since 1970,
    plus the leap days of the years before (Gregorian rules), plus the day of the year.
    Integer arithmetic, exact on every engine for years >= 1 (every dividend is >= 0,
    so floor and truncating division agree). The expression stays small on purpose: Spark
    analyses a plan in time that grows quickly with the size of its expressions.
    """
    i64 = nw.Int64
    before = expr.dt.year().cast(i64) - 1  # the years before this one
    leap_days = before // 4 - before // 100 + before // 400 - 477  # 477 leap days to 1969
    return (before - 1969) * 365 + leap_days + expr.dt.ordinal_day().cast(i64) - 1


def _epoch_seconds(expr: nw.Expr) -> nw.Expr:
    """Whole seconds since 1970-01-01 (Int64) of a naive datetime, from calendar fields
    (:func:`_civil_days`); for the engines without ``dt.timestamp``."""
    i64 = nw.Int64
    return (_civil_days(expr) * 86_400 + expr.dt.hour().cast(i64) * 3_600
            + expr.dt.minute().cast(i64) * 60 + expr.dt.second().cast(i64))


def _epoch_ms(expr: nw.Expr, impl: Any) -> nw.Expr:
    """Whole milliseconds since 1970-01-01 (Int64) of a naive datetime expression.

    ``dt.timestamp("ms")`` where narwhals has it; elsewhere (DuckDB, PySpark) built from
    the calendar fields (:func:`_epoch_seconds`), which gives the same integers.
    """
    if _native_time(impl):
        return expr.dt.timestamp("ms")
    return _epoch_seconds(expr) * 1_000 + expr.dt.millisecond().cast(nw.Int64)


def _epoch_ms_scalar(value: _dt.datetime) -> int:
    """:func:`_epoch_ms` of one naive datetime."""
    return int((pd.Timestamp(value) - pd.Timestamp(0)) // pd.Timedelta(milliseconds=1))


def _seconds_since(at: _dt.datetime, expr: nw.Expr, impl: Any) -> nw.Expr:
    """Seconds from ``expr`` to the instant ``at`` (null where ``expr`` is).

    ``(at - expr).dt.total_seconds()`` where narwhals has it; on PySpark the difference of
    the epoch seconds, which is the same number for datetimes in whole seconds (dates
    and DMS timestamps are).
    """
    if _native_time(impl) or impl.is_duckdb():
        return (nw.lit(at) - expr).dt.total_seconds()
    return nw.lit(_epoch_ms_scalar(at) / 1_000) - _epoch_seconds(expr)


def _seconds_between(later: nw.Expr, earlier: nw.Expr, impl: Any) -> nw.Expr:
    """Seconds from ``earlier`` to ``later``, two datetime expressions (see above)."""
    if _native_time(impl) or impl.is_duckdb():
        return (later - earlier).dt.total_seconds()
    return _epoch_seconds(later) - _epoch_seconds(earlier)


def _small_table(columns: dict[str, list[Any]], like: nw.LazyFrame) -> nw.LazyFrame:
    """A small constant table as a LazyFrame of ``like``'s backend.

    ``nw.from_dict`` is eager-only, so lazy-only engines (DuckDB, PySpark) get the table
    through pyarrow and ``.lazy(backend)``.
    """
    impl = like.implementation
    if impl.is_pandas_like() or impl.is_polars() or impl.is_pyarrow():
        return nw.from_dict(columns, backend=impl).lazy()
    eager = nw.from_dict(columns, backend="pyarrow")
    if impl.is_spark_like():
        # narwhals needs the session to build a Spark frame: take the one of ``like``
        return nw.from_native(like.to_native().sparkSession.createDataFrame(
            eager.to_pandas()))
    return eager.lazy(backend=impl)


def _barrier(frame: nw.LazyFrame) -> nw.LazyFrame:
    """``frame`` computed once, on engines whose query planner needs it.

    On PySpark, every DataFrame operation re-analyses the whole logical plan, and the
    plans of the table builders (the same orders joined back to several of their own
    aggregates) take Spark's analyser minutes on a few hundred rows; a local checkpoint
    cuts the plan there (it computes the frame, which the next step needs anyway). Other
    engines plan the whole query at once and get ``frame`` unchanged.
    """
    if frame.implementation.is_spark_like():
        native = frame.to_native()
        if hasattr(native, "localCheckpoint"):
            return nw.from_native(native.localCheckpoint(eager=True))
    return frame


def _nw_frame(native: Any, table: str) -> nw.DataFrame | nw.LazyFrame:
    """``native`` as a narwhals frame (eager or lazy, as given), with a clear error."""
    try:
        return nw.from_native(native)
    except TypeError as exc:
        raise TypeError(
            f"{caller()}: table {table!r} must be a pandas, Polars, DuckDB or PySpark frame, "
            f"got {type(native).__name__}"
        ) from exc


def _like(native: Any, target: nw.LazyFrame, table: str) -> nw.LazyFrame:
    """``native`` as a LazyFrame of ``target``'s backend (through Arrow if it differs)."""
    frame = _nw_frame(native, table).lazy()
    if frame.implementation is target.implementation:
        return frame
    # different backends (say pandas vehicles with Polars orders): go through Arrow
    arrow = frame.collect().to_arrow()
    impl = target.implementation
    if impl.is_pandas_like() or impl.is_polars() or impl.is_pyarrow():
        return nw.from_arrow(arrow, backend=impl).lazy()
    if impl.is_spark_like():
        return nw.from_native(target.to_native().sparkSession.createDataFrame(
            arrow.to_pandas()))
    return nw.from_native(arrow).lazy(backend=impl)


def _schema(frame: nw.DataFrame | nw.LazyFrame) -> dict[str, Any]:
    return dict(frame.collect_schema())


def _check_temporal(schema: dict[str, Any], column: str, table: str) -> bool:
    """Require a datetime (or date) column; True when it is a date that needs a cast."""
    dtype = schema[column]
    if dtype == nw.Datetime:
        return False
    if dtype == nw.Date:
        return True
    raise TypeError(
        f"{caller()}: column {table}.{column} must hold dates (datetime64), got {dtype}; "
        "convert it first, e.g. with pandas.to_datetime or crm_analysis.schema.coerce"
    )


def _datetime(schema: dict[str, Any], column: str, table: str) -> nw.Expr:
    """``column`` as a datetime expression (dates are cast), with a clear error."""
    if _check_temporal(schema, column, table):
        return nw.col(column).cast(nw.Datetime("us"))
    return nw.col(column)


def _string(schema: dict[str, Any], column: str) -> nw.Expr:
    """``column`` as a string expression (cast unless it holds strings already)."""
    c = nw.col(column)
    return c if schema[column] == nw.String else c.cast(nw.String)


def _finish(out: nw.LazyFrame, eager: bool) -> Any:
    """The native result: collected (with a fresh index for pandas) for eager input, a
    native lazy frame (Polars LazyFrame, DuckDB relation, PySpark DataFrame) for lazy
    input."""
    if eager:
        return nw.maybe_reset_index(out.collect()).to_native()
    return out.to_native()

"""Comparing the stores of a dealer group: retention curves, gaps to the best, a scorecard.

A dealer group runs several 4S stores of one brand. Each store's own reports (notebooks
01–05) say how that store keeps its owners and what they are worth; the group's question
is different: *which store keeps its owners worst, at which vehicle age, and by how much
would it gain by doing as well as the group's best?* This module answers it with the
package's own metrics, never re-implemented:

:func:`retention_by_store`
    the FAW-Toyota retention curve (:func:`crm_analysis.retention.annual_average`, or the
    snapshot :func:`~crm_analysis.retention.retention_by_vehicle_age`) of every store, as
    one tidy table (``store_id``, ``age_band``, ``retention_rate``, …); narwhals, pandas or
    Polars in, the same kind out.
:func:`gap_to_best`
    per age band: the group's best store and value, each store's gap to it in percentage
    points, and the store with the largest gap; :func:`largest_gap` picks the largest of
    all.
:func:`read_store_metrics`
    the metrics the store notebooks recorded (``<metrics_dir>/<store_id>/<lang>/
    *.metrics.json``, the batch runner's layout).
:func:`store_scorecard`
    one row per store of headline metrics (bases, retention in years 1/3/5/8 and the
    warranty cliff, value concentration, churn classes, service economics), taken from
    those metrics where present and recomputed from the data otherwise.
:func:`rank_stores`
    ranks the stores on the scorecard (mean rank over metrics where more, or less, is
    better).
:mod:`crm_analysis.plots`
    the charts: ``store_retention_overlay``, ``store_gap_heatmap``, ``store_bars``.

Vehicle age follows the package (DOMAIN.md section 3): age band k covers ages [k, k+1)
years and is "year k+1" of the car's life.

Example
-------
>>> import pandas as pd
>>> from crm_analysis.group import gap_to_best, largest_gap
>>> tidy = pd.DataFrame({"store_id": ["001", "002", "001", "002"],
...                      "age_band": [0, 0, 3, 3],
...                      "retention_rate": [0.90, 0.85, 0.40, 0.25]})
>>> gaps = gap_to_best(tidy)
>>> gaps[["year", "best_store", "largest_gap_store", "largest_gap_pp"]]
   year best_store largest_gap_store  largest_gap_pp
0     1        001               002             5.0
1     4        001               002            15.0
>>> largest_gap(gaps)
{'store_id': '002', 'age_band': 3, 'year': 4, 'gap_pp': 15.0}
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from crm_analysis import economics
from crm_analysis._inputs import (
    caller,
    check_dataset,
    check_int,
    check_number,
    read_as_of,
    require_columns,
    tables,
    to_pandas,
)
from crm_analysis.churn import ChurnModel
from crm_analysis.features import customer_features
from crm_analysis.five_classes import CHURN_CLASSES, five_classes, high_value_threshold
from crm_analysis.i18n import check_lang, t
from crm_analysis.overview import vehicle_age_profile
from crm_analysis.retention import annual_average, retention_by_vehicle_age
from crm_analysis.schema import Dataset
from crm_analysis.value import LabelledTable, gini, top_share

__all__ = [
    "MIN_BASE",
    "RANKING_METRICS",
    "SCORECARD_METRICS",
    "SHOWN_METRICS",
    "WARRANTY_YEARS",
    "analysis_date",
    "benchmark_gaps",
    "best_store_by_year",
    "gap_summary",
    "gap_table",
    "gap_to_best",
    "gap_value",
    "largest_gap",
    "last_full_year",
    "leading_store",
    "metric_label",
    "metric_range",
    "rank_stores",
    "ranking_table",
    "read_store_metrics",
    "retention_by_store",
    "scorecard_record",
    "scorecard_table",
    "select_stores",
    "store_label",
    "store_list",
    "store_names",
    "store_scorecard",
]

#: Scorecard metrics read from the store notebooks' metrics: name -> (notebook number,
#: metric name recorded by that notebook). The others are derived or always computed.
REPORTED: dict[str, tuple[str, str]] = {
    "vehicle_base": ("01", "vehicle_base"),
    "service_base": ("01", "service_base"),
    "top20_share_gross_profit": ("02", "top20_share_gross_profit"),
    "gini_gross_profit": ("02", "gini_gross_profit"),
    "retention_year_1": ("03", "retention_year_1"),
    "retention_year_3": ("03", "retention_year_3"),
    "retention_year_5": ("03", "retention_year_5"),
    "retention_year_8": ("03", "retention_year_8"),
    "customers_scored": ("04", "customers_scored"),
    "at_risk": ("04", "at_risk"),
    "class_high_value_stable": ("04", "class_high_value_stable"),
    "class_high_value_at_risk": ("04", "class_high_value_at_risk"),
    "class_low_value_stable": ("04", "class_low_value_stable"),
    "class_low_value_at_risk": ("04", "class_low_value_at_risk"),
    "class_no_value": ("04", "class_no_value"),
    "high_value_at_risk_expected_loss": ("04", "high_value_at_risk_expected_loss"),
    "service_gross_profit_per_month": ("05", "service_gross_profit_per_month"),
    "service_absorption": ("05", "service_absorption"),
    "new_car_lifetime_value": ("05", "new_car_lifetime_value"),
}

#: Parameters a store report must share with the group analysis for its metrics to be
#: used: notebook number -> {recorded name: scorecard argument}. ``as_of`` is always checked.
_MUST_MATCH: dict[str, dict[str, str]] = {
    "02": {"window_months": "window_months"},
    "03": {"year": "year"},
}

#: Metrics computed from the scorecard's other columns.
DERIVED: tuple[str, ...] = (
    "at_risk_share", "high_value_at_risk_share", "gross_profit_per_serviced_vehicle",
)

#: Metrics always computed from the retention curve (no store report records them).
FROM_CURVE: tuple[str, ...] = ("cliff_year", "cliff_drop")

#: Every metric column of :func:`store_scorecard`, in order.
SCORECARD_METRICS: tuple[str, ...] = (*REPORTED, *FROM_CURVE, *DERIVED)

#: Default metrics of :func:`rank_stores`: name -> True when more is better.
RANKING_METRICS: dict[str, bool] = {
    "retention_year_1": True,
    "retention_year_3": True,
    "retention_year_5": True,
    "cliff_drop": False,
    "high_value_at_risk_share": False,
    "service_absorption": True,
    "new_car_lifetime_value": True,
}

_TEXT: dict[str, tuple[str, str]] = {
    "vehicle_base": ("Vehicles in operation (sold here, ≤10 y)", "保有车辆（本店销售，10年以内）"),
    "service_base": ("Service base (24 months)", "基盘车辆（近24个月）"),
    "top20_share_gross_profit": ("Top 20% customers' share of gross profit",
                                 "前20%客户的毛利占比"),
    "gini_gross_profit": ("Gini coefficient of gross profit", "毛利基尼系数"),
    "retention_year_1": ("Retention, year 1", "第1年客户掌握率"),
    "retention_year_3": ("Retention, year 3", "第3年客户掌握率"),
    "retention_year_5": ("Retention, year 5", "第5年客户掌握率"),
    "retention_year_8": ("Retention, year 8", "第8年客户掌握率"),
    "customers_scored": ("Customers scored for churn", "流失评分客户数"),
    "at_risk": ("Customers at risk", "易流失客户数"),
    # the five classes' names are the package's own (i18n), not retyped here
    **{f"class_{c}": (t(f"churn_class.{c}", "en"), t(f"churn_class.{c}", "zh"))
       for c in CHURN_CLASSES},
    "high_value_at_risk_expected_loss": ("Expected loss, high value at risk",
                                         "高价值易流失客户的期望流失价值"),
    "service_gross_profit_per_month": ("Service gross profit per month",
                                       "每月售后毛利"),
    "service_absorption": ("Service absorption", "售后吸收率"),
    "new_car_lifetime_value": ("After-sales value of one new car", "一辆新车的售后价值"),
    "cliff_year": ("Year of the steepest retention fall", "掌握率降幅最大的车龄年"),
    "cliff_drop": ("Steepest retention fall", "掌握率最大降幅"),
    "at_risk_share": ("Share of customers at risk", "易流失客户占比"),
    "high_value_at_risk_share": ("Share high value at risk", "高价值易流失客户占比"),
    "gross_profit_per_serviced_vehicle": ("Service gross profit per serviced car a year",
                                          "基盘单车年售后毛利"),
}

#: Scorecard metrics that are counts (nullable integers in the table).
_COUNTS = {"vehicle_base", "service_base", "customers_scored", "at_risk",
           "class_high_value_stable", "class_high_value_at_risk", "class_low_value_stable",
           "class_low_value_at_risk", "class_no_value", "cliff_year"}

_NOTEBOOK_RE = re.compile(r"^(\d{2})_.+\.metrics\.json$")


def metric_label(metric: str, lang: str = "en") -> str:
    """The English or Chinese name of a scorecard metric.

    Example
    -------
    >>> metric_label("retention_year_3", "zh"), metric_label("cliff_drop")
    ('第3年客户掌握率', 'Steepest retention fall')
    """
    if metric not in SCORECARD_METRICS:
        raise KeyError(f"{caller()}: unknown metric {metric!r}; metrics: "
                       f"{', '.join(SCORECARD_METRICS)}")
    return t(metric, lang, labels=_TEXT)


# --------------------------------------------------------------------------- inputs


def _valid_store_ids(data: Any) -> list[str]:
    if isinstance(data, Dataset):
        return list(data.store_ids)
    if isinstance(data, Mapping):
        for table in ("stores", "vehicles", "repair_orders"):
            if data.get(table) is not None:
                frame = nw.from_native(data[table]).lazy()
                ids = frame.select(nw.col("store_id").cast(nw.String)).unique().collect()
                return sorted(str(s) for s in ids["store_id"].to_list() if s is not None)
    raise TypeError(f"{caller()}: expected a Dataset or a mapping of tables with a store_id "
                    f"column, got {type(data).__name__}")


def select_stores(data: Any, stores: Any = None) -> list[str]:
    """The store ids to compare: all of the data's, or those asked for, checked.

    Parameters
    ----------
    data:
        A :class:`~crm_analysis.schema.Dataset` or a mapping of tables (``stores``,
        ``vehicles`` or ``repair_orders`` with a ``store_id`` column).
    stores:
        None or ``""`` (every store), a comma-separated string (``"001,003"``) or a list of
        ids. Ids are strings (``7`` is not ``"007"``); order and duplicates are dropped,
        the result is sorted.

    Raises
    ------
    ValueError
        An id that is not in the data; the message lists the valid ids.

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> select_stores(example_dataset()), select_stores(example_dataset(), "007, 001")
    (['001', '007'], ['001', '007'])
    >>> select_stores(example_dataset(), "2")
    Traceback (most recent call last):
    ...
    ValueError: select_stores: store id '2' is not in the data; valid store ids: 001, 007
    """
    valid = _valid_store_ids(data)
    if stores is None:
        return valid
    if isinstance(stores, str):
        wanted = [s.strip() for s in stores.split(",") if s.strip()]
    elif isinstance(stores, Iterable):
        wanted = [str(s).strip() for s in stores]
    else:
        raise TypeError(f"{caller()}: stores must be None, a comma-separated string or a "
                        f"list of ids, got {type(stores).__name__}")
    if not wanted:
        return valid
    for s in wanted:
        if s not in valid:
            raise ValueError(f"{caller()}: store id {s!r} is not in the data; valid store ids: "
                             f"{', '.join(valid)}")
    return sorted(set(wanted))


def analysis_date(data: Any, *, as_of: Any = None) -> pd.Timestamp:
    """The group's analysis date: ``as_of``, else the data's own as-of date
    (``meta["as_of"]``, else its last order), read by :func:`crm_analysis._inputs.read_as_of`.

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> analysis_date(example_dataset(), as_of="2021-06-30")
    Timestamp('2021-06-30 00:00:00')
    >>> analysis_date(example_dataset(), as_of=20210630)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: analysis_date: as_of must be a date (...), got int 20210630
    """
    return read_as_of(as_of, data)


def last_full_year(*, as_of: Any) -> int:
    """The last calendar year that ended on or before ``as_of`` (notebook 03's default year).

    Example
    -------
    >>> last_full_year(as_of="2026-06-30"), last_full_year(as_of="2025-12-31")
    (2025, 2025)
    """
    ts = read_as_of(as_of)
    return ts.year if ts.is_year_end else ts.year - 1


# --------------------------------------------------------------------------- retention


def retention_by_store(
    data: Any,
    stores: Any = None,
    *,
    as_of: Any = None,
    year: int | None = None,
    average: bool = True,
    window_months: int = 12,
    active_months: int = 6,
    max_age: float = 10,
):
    """Every store's retention curve by vehicle age, as one tidy table.

    With ``average=True`` (default) the FAW-Toyota form: the mean of the 12 month-end
    figures of ``year`` (default: the last full year before the analysis date, as in
    notebook 03), :func:`crm_analysis.retention.annual_average`. With ``average=False``
    the figures at the analysis date itself,
    :func:`crm_analysis.retention.retention_by_vehicle_age`. Both on the vehicle base
    (cars each store sold, at most ``max_age`` years old), all stores in one pass
    (``by="store_id"``), so a store's curve is exactly its own report's.

    Parameters
    ----------
    data:
        A :class:`~crm_analysis.schema.Dataset` or a mapping of pandas or Polars frames
        (eager or lazy) ``{"vehicles": ..., "repair_orders": ...}`` (``stores``
        optional).
    stores:
        Stores to keep (see :func:`select_stores`); None or ``""``: every store.
    as_of:
        The analysis date (see :func:`analysis_date`).
    year:
        Year of the annual average (``average=True`` only).
    average, window_months, active_months, max_age:
        As in :func:`~crm_analysis.retention.annual_average`.

    Returns
    -------
    A frame of the orders' kind (pandas for a Dataset), one row per (store, age band)
    with a base, sorted: ``store_id``, ``age_band`` (k = year k+1), ``year`` (k + 1),
    ``retention_rate``, ``active_ratio``, ``base_vehicles`` (with ``average=True`` the
    mean over the month-ends, else a count).

    Raises
    ------
    ValueError
        An unknown store (the valid ids listed) or a bad date.

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> r = retention_by_store(example_dataset(), as_of="2021-06-30", average=False)
    >>> r[["store_id", "age_band", "year", "retention_rate", "base_vehicles"]]
      store_id  age_band  year  retention_rate  base_vehicles
    0      001         2     3             0.0              1
    1      007         0     1             1.0              1
    """
    T = read_as_of(as_of, data)
    ids = select_stores(data, stores)
    common = dict(store_id=None, by="store_id", window_months=window_months,
                  active_months=active_months, max_age=max_age)
    if average:
        y = last_full_year(as_of=T) if year is None else check_int(year, "year")
        native = annual_average(data, y, **common)
    else:
        native = retention_by_vehicle_age(data, as_of=T, **common)
    frame = nw.from_native(native)
    out = (
        frame.filter(nw.col("store_id").is_in(ids) & ~nw.col("age_band").is_null())
        .with_columns(nw.col("age_band").cast(nw.Int64))
        .with_columns(year=nw.col("age_band") + 1)
        .select("store_id", "age_band", "year", "retention_rate", "active_ratio",
                "base_vehicles")
        .sort("store_id", "age_band")
    )
    return nw.to_native(out)


def gap_to_best(
    tidy: Any,
    value: str = "retention_rate",
    *,
    store: str = "store_id",
    age: str = "age_band",
    min_base: float = 0,
    base: str = "base_vehicles",
) -> pd.DataFrame:
    """Per vehicle age: the group's best store, and how far behind it each store is.

    For each age band, the best store is the one with the highest ``value`` (ties: the
    smallest store id); each store's gap is best − its value, in **percentage points**
    (``value`` is a share 0–1, the gap rounded to 1e-9), so 0 for the best and positive
    for the others; the
    largest gap is the store furthest behind (ties: the smallest id).

    Parameters
    ----------
    tidy:
        One row per (store, age band), pandas or Polars, e.g. :func:`retention_by_store`.
    value:
        The share compared (``retention_rate``, ``active_ratio``, …).
    store, age:
        Columns of the store id and the integer age band.
    min_base, base:
        Leave out rows whose ``base`` column is below ``min_base`` (small bases are
        noisy); ignored when the table has no ``base`` column and ``min_base`` is 0.

    Returns
    -------
    pandas DataFrame, one row per age band with at least one store, sorted by age:
    ``age_band``, ``year`` (band + 1), ``stores`` (stores compared), ``best_store``,
    ``best_value``, ``largest_gap_store``, ``largest_gap_value``, ``largest_gap_pp``
    (missing when only one store has the band), ``mean_gap_pp``, then
    ``gap_pp_<store id>`` for every store (missing where the store has no row).

    Raises
    ------
    KeyError
        A missing column. ``ValueError``: duplicate (store, age) rows.

    Example
    -------
    >>> import pandas as pd
    >>> tidy = pd.DataFrame({"store_id": ["A", "B", "C", "A", "B"],
    ...                      "age_band": [2, 2, 2, 3, 3],
    ...                      "retention_rate": [0.50, 0.62, 0.41, 0.30, 0.30]})
    >>> g = gap_to_best(tidy)
    >>> g[["age_band", "best_store", "largest_gap_store", "largest_gap_pp"]]
       age_band best_store largest_gap_store  largest_gap_pp
    0         2          B                 C            21.0
    1         3          A                 A             0.0
    >>> g[["gap_pp_A", "gap_pp_B", "gap_pp_C"]]
       gap_pp_A  gap_pp_B  gap_pp_C
    0      12.0       0.0      21.0
    1       0.0       0.0       NaN
    """
    df = to_pandas(tidy, "tidy")
    require_columns(df, [store, age, value], "tidy")
    if min_base:
        require_columns(df, [base], "tidy")
        df = df[df[base] >= min_base]
    df = df[df[age].notna() & df[value].notna()].copy()
    df[store] = df[store].astype(str)
    df[age] = df[age].astype(int)
    dup = df.duplicated([store, age])
    if dup.any():
        first = df.loc[dup, [store, age]].iloc[0].tolist()
        raise ValueError(f"{caller()}: more than one row for {store}={first[0]!r}, "
                         f"{age}={first[1]}; pass one row per store and age band")
    store_ids = sorted(df[store].unique().tolist())
    rows = []
    for band, g in df.groupby(age, sort=True):
        g = g.sort_values(store)
        v = g[value].astype(float).to_numpy()
        ids = g[store].to_numpy()
        best_i = int(np.argmax(v))  # first maximum = smallest id among ties
        gaps = np.round((v[best_i] - v) * 100, 9)  # no float noise in the points
        row: dict[str, Any] = {
            "age_band": int(band), "year": int(band) + 1, "stores": len(ids),
            "best_store": ids[best_i], "best_value": float(v[best_i]),
        }
        if len(ids) > 1:
            worst_i = int(np.argmax(gaps))
            row.update(largest_gap_store=ids[worst_i], largest_gap_value=float(v[worst_i]),
                       largest_gap_pp=float(gaps[worst_i]),
                       mean_gap_pp=float(gaps[np.arange(len(ids)) != best_i].mean()))
        else:
            row.update(largest_gap_store=None, largest_gap_value=np.nan,
                       largest_gap_pp=np.nan, mean_gap_pp=np.nan)
        row.update({f"gap_pp_{s}": np.nan for s in store_ids})
        row.update({f"gap_pp_{s}": float(x) for s, x in zip(ids, gaps, strict=True)})
        rows.append(row)
    columns = ["age_band", "year", "stores", "best_store", "best_value", "largest_gap_store",
               "largest_gap_value", "largest_gap_pp", "mean_gap_pp",
               *(f"gap_pp_{s}" for s in store_ids)]
    out = pd.DataFrame(rows, columns=columns)
    return out.astype({"age_band": "int64", "year": "int64", "stores": "int64"})


def largest_gap(gaps: pd.DataFrame, ages: Sequence[int] | None = None) -> dict[str, Any]:
    """The single largest gap to the group's best over all age bands of :func:`gap_to_best`.

    ``ages``: age bands to consider (default: every band with at least two stores).
    Ties: the youngest age band. Returns ``{"store_id", "age_band", "year", "gap_pp"}``
    (all None when no band has two stores).

    Example
    -------
    >>> import pandas as pd
    >>> gaps = pd.DataFrame({"age_band": [0, 1, 2], "year": [1, 2, 3],
    ...                      "largest_gap_store": ["B", "C", None],
    ...                      "largest_gap_pp": [3.0, 9.5, float("nan")]})
    >>> largest_gap(gaps)
    {'store_id': 'C', 'age_band': 1, 'year': 2, 'gap_pp': 9.5}
    >>> largest_gap(gaps, ages=[0])["store_id"]
    'B'
    """
    require_columns(gaps, ["age_band", "largest_gap_store", "largest_gap_pp"], "gaps")
    g = gaps[gaps["largest_gap_pp"].notna()]
    if ages is not None:
        g = g[g["age_band"].isin([int(a) for a in ages])]
    if g.empty:
        return {"store_id": None, "age_band": None, "year": None, "gap_pp": None}
    row = g.sort_values(["largest_gap_pp", "age_band"], ascending=[False, True]).iloc[0]
    return {"store_id": str(row["largest_gap_store"]), "age_band": int(row["age_band"]),
            "year": int(row["age_band"]) + 1, "gap_pp": float(row["largest_gap_pp"])}


# --------------------------------------------------------------------------- store metrics


def read_store_metrics(
    metrics_dir: str | os.PathLike[str] | None,
    stores: Iterable[str] | None = None,
    lang: str = "en",
) -> dict[str, dict[str, dict[str, Any]]]:
    """The metrics the store notebooks recorded, from a batch run's folder.

    Reads ``<metrics_dir>/<store_id>/<lang>/NN_<name>.metrics.json`` (each a JSON object
    ``{metric: value}`` written by the batch runner from ``Narrator.record``). Files that
    cannot be read or are not a JSON object are skipped with a warning, so the caller
    falls back to recomputing.

    Parameters
    ----------
    metrics_dir:
        The run folder; None or ``""`` reads nothing.
    stores:
        Store ids to read (default: every sub-folder).
    lang:
        Language folder of the reports.

    Returns
    -------
    ``{store_id: {notebook number "01".."99": metrics dict}}``; stores without a file
    are absent.

    Example
    -------
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = Path(tmp, "001", "en"); folder.mkdir(parents=True)
    ...     _ = Path(folder, "01_data_overview.metrics.json").write_text(
    ...         json.dumps({"vehicle_base": 812}))
    ...     read_store_metrics(tmp)
    {'001': {'01': {'vehicle_base': 812}}}
    """
    check_lang(lang)
    if metrics_dir is None or not str(metrics_dir).strip():
        return {}
    root = Path(metrics_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{caller()}: metrics_dir {str(root)!r} is not a "
                                "folder")
    ids = sorted(p.name for p in root.iterdir() if p.is_dir()) if stores is None \
        else [str(s) for s in stores]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for sid in ids:
        folder = root / sid / lang
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.metrics.json")):
            m = _NOTEBOOK_RE.match(path.name)
            if not m:
                continue
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                warnings.warn(f"{caller()}: cannot read {path}: {exc}; skipped",
                              stacklevel=2)
                continue
            if not isinstance(data, dict):
                warnings.warn(f"{caller()}: {path} is not a JSON object; skipped",
                              stacklevel=2)
                continue
            out.setdefault(sid, {})[m.group(1)] = data
    return out


def _cliff(curve: pd.DataFrame) -> tuple[float, float]:
    """(year of life into which retention falls most, the fall as a positive share)."""
    rate = curve.set_index("age_band")["retention_rate"].sort_index()
    rate = rate.reindex(range(int(rate.index.min()), int(rate.index.max()) + 1)) \
        if len(rate) else rate
    drop = -rate.diff()
    if not drop.notna().any():
        return math.nan, math.nan
    band = int(drop.idxmax())
    return float(band + 1), float(drop.loc[band])


def _curve_value(curve: pd.DataFrame, year: int) -> float:
    hit = curve.loc[curve["age_band"] == year - 1, "retention_rate"]
    return float(hit.iloc[0]) if len(hit) else math.nan


def _compute_01(dataset: Dataset, sid: str, T: pd.Timestamp, **_: Any) -> dict[str, Any]:
    # exactly notebook 01's vehicle and service base
    ds = dataset.for_store(sid)
    profile = vehicle_age_profile(ds.repair_orders, ds.vehicles, as_of=T, store_id=sid)
    known = profile.dropna(subset=["age_band"])
    return {
        "vehicle_base": int(known.loc[known["base"] == "vehicle_base", "vehicles"].sum()),
        "service_base": int(known.loc[known["base"] == "service_base", "vehicles"].sum()),
    }


def _compute_02(dataset: Dataset, sid: str, T: pd.Timestamp, *, window_months: int,
                **_: Any) -> dict[str, Any]:
    f = customer_features(dataset.for_store(sid), as_of=T, window_months=window_months,
                          store_id=sid)
    if f.empty or not f["gross_profit"].sum() > 0:
        return {"top20_share_gross_profit": math.nan, "gini_gross_profit": math.nan}
    return {"top20_share_gross_profit": top_share(f["gross_profit"], 0.20),
            "gini_gross_profit": gini(f["gross_profit"])}


def _compute_03(dataset: Dataset, sid: str, T: pd.Timestamp, *, curve: pd.DataFrame,
                **_: Any) -> dict[str, Any]:
    return {f"retention_year_{y}": _curve_value(curve, y) for y in (1, 3, 5, 8)}


def _compute_04(dataset: Dataset, sid: str, T: pd.Timestamp, *, churn_model: str | None,
                window_months: int, **_: Any) -> dict[str, Any]:
    keys = [k for k, (nb, _) in REPORTED.items() if nb == "04"]
    if churn_model is None:
        return dict.fromkeys(keys, math.nan)
    try:
        cm = ChurnModel(model=churn_model, window_months=window_months).fit(
            dataset, as_of=T, store_id=sid)
        scored = cm.predict(dataset, as_of=T, store_id=sid)
        hv = high_value_threshold(scored["net_value"], share=0.2)
        fc = five_classes(scored, value="net_value", risk="churn_probability",
                          high_value=hv, risk_threshold=0.5)
    except ValueError as exc:  # too little history to train on
        warnings.warn(f"{caller()}: no churn classes for store {sid}: {exc}",
                      stacklevel=3)
        return dict.fromkeys(keys, math.nan)
    summ = fc.summary.set_index("grade")
    out: dict[str, Any] = {
        "customers_scored": int(len(scored)),
        "at_risk": int((scored["churn_probability"] >= 0.5).sum()),
        "high_value_at_risk_expected_loss":
            float(summ.loc["high_value_at_risk", "expected_value_at_risk"]),
    }
    out.update({f"class_{c}": int(summ.loc[c, "customers"]) for c in CHURN_CLASSES})
    return out


def _compute_05(dataset: Dataset, sid: str, T: pd.Timestamp, *, discount_rate: float,
                max_age: int, **_: Any) -> dict[str, Any]:
    pnl = economics.service_pnl(dataset, as_of=T, store_id=sid,
                                params=economics.StoreEconomics()).set_index("line")["value"]
    curve = economics.service_by_age(dataset.for_store(sid), as_of=T, store_id=sid,
                                     max_age=max_age)
    years = economics.observed_years(curve, max_age)
    ltv = economics.new_car_lifetime_value(curve, discount_rate=discount_rate,
                                           max_age=years).total if years else math.nan
    return {"service_gross_profit_per_month": float(pnl["service_gross"]),
            "service_absorption": float(pnl["service_absorption"]),
            "new_car_lifetime_value": float(ltv)}


_COMPUTE = {"01": _compute_01, "02": _compute_02, "03": _compute_03, "04": _compute_04,
            "05": _compute_05}


def _usable(report: Mapping[str, Any], nb: str, sid: str, T: pd.Timestamp,
            params: Mapping[str, Any]) -> bool:
    """Whether a store report was made for the same store, date and parameters."""
    if "store_id" in report and str(report["store_id"]) != sid:
        return False
    if "as_of" in report:
        try:
            if pd.Timestamp(report["as_of"]).normalize() != T.normalize():
                return False
        except (TypeError, ValueError):
            return False
    for name, arg in _MUST_MATCH.get(nb, {}).items():
        if name in report and report[name] != params[arg]:
            return False
    return True


def _ratio(a: Any, b: Any) -> float:
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return math.nan
    return a / b if b and math.isfinite(a) and math.isfinite(b) else math.nan


def store_scorecard(
    dataset: Dataset,
    *,
    as_of: Any = None,
    stores: Any = None,
    reports: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    curves: pd.DataFrame | None = None,
    year: int | None = None,
    window_months: int = 24,
    churn_model: str | None = "gradient_boosting",
    discount_rate: float = 0.10,
    max_age: int = 10,
) -> pd.DataFrame:
    """One row per store of headline metrics, from the store reports where present.

    Metrics (:data:`SCORECARD_METRICS`; names as the store notebooks record them):

    - bases (notebook 01): ``vehicle_base`` (cars sold here, at most 10 years old),
      ``service_base`` (cars with an order in 24 months);
    - value concentration (02): ``top20_share_gross_profit``, ``gini_gross_profit`` of
      the customers of the last ``window_months``;
    - retention (03): ``retention_year_1/3/5/8``, annual averages of ``year`` (default
      the last full year), and from the same curve ``cliff_year`` (the year of life into
      which retention falls most) and ``cliff_drop`` (that fall, a positive share);
    - churn (04): ``customers_scored``, ``at_risk`` (probability ≥ 0.5), the five
      classes ``class_<class>`` (high value = top 20% of positive net value), and
      ``high_value_at_risk_expected_loss``;
    - economics (05): ``service_gross_profit_per_month``, ``service_absorption``,
      ``new_car_lifetime_value`` (discounted at ``discount_rate``);
    - derived: ``at_risk_share``, ``high_value_at_risk_share`` (of the customers scored)
      and ``gross_profit_per_serviced_vehicle`` (12 × monthly service gross profit /
      service base).

    For each store and notebook, the metrics are taken from ``reports`` (see
    :func:`read_store_metrics`) when that store's report exists and was made for the
    same store, analysis date and parameters (``year`` of 03, ``window_months`` of 02);
    every metric not found there is recomputed from ``dataset`` with the store
    notebooks' defaults. Notebook 04 picks its churn model by a backtest; the
    recomputation uses ``churn_model`` directly (None: no churn metrics), so the churn
    figures of the two sources can differ slightly.

    Parameters
    ----------
    dataset:
        The group's :class:`~crm_analysis.schema.Dataset`.
    as_of, stores:
        See :func:`analysis_date` and :func:`select_stores`.
    reports:
        ``{store_id: {notebook number: metrics}}``; None: recompute everything.
    curves:
        The output of :func:`retention_by_store` for the same date and year, if already
        computed (pandas); None computes it.
    year, window_months, churn_model, discount_rate, max_age:
        As above.

    Returns
    -------
    pandas DataFrame sorted by store: ``store_id``, ``store_name``, the metrics,
    ``source`` (``"reports"``, ``"data"`` or ``"reports+data"``) and ``from_reports``
    (how many metrics came from the reports). ``attrs["sources"]``:
    ``{store_id: {metric: "reports" | "data"}}``.

    Raises
    ------
    ValueError
        An unknown store (the valid ids listed) or a bad date.

    Example
    -------
    >>> from crm_analysis.synth import generate
    >>> ds = generate(n_stores=2, seed=3, start="2019-01-01", as_of="2022-12-31",
    ...               scale=0.03)
    >>> reports = {"002": {"01": {"as_of": "2022-12-31", "vehicle_base": 999}}}
    >>> sc = store_scorecard(ds, reports=reports, churn_model=None)
    >>> sc[["store_id", "vehicle_base", "source"]]
      store_id  vehicle_base        source
    0      001           110          data
    1      002           999  reports+data
    """
    check_dataset(dataset)
    T = read_as_of(as_of, dataset)
    ids = select_stores(dataset, stores)
    y = last_full_year(as_of=T) if year is None else check_int(year, "year")
    params = {"year": y, "window_months": check_int(window_months, "window_months")}
    if curves is None:
        curves = retention_by_store(dataset, ids, as_of=T, year=y, max_age=max_age)
    curves = to_pandas(curves, "curves")
    names = dataset.stores.set_index("store_id")["store_name"] \
        if "store_name" in dataset.stores else pd.Series(dtype=object)
    reports = reports or {}
    rows, sources = [], {}
    for sid in ids:
        curve = curves[curves["store_id"].astype(str) == sid]
        row: dict[str, Any] = {"store_id": sid, "store_name": names.get(sid, sid)}
        src: dict[str, str] = {}
        for nb, compute in _COMPUTE.items():
            keys = [k for k, (n, _) in REPORTED.items() if n == nb]
            report = reports.get(sid, {}).get(nb)
            found = {}
            if report is not None and _usable(report, nb, sid, T, params):
                found = {k: report[REPORTED[k][1]] for k in keys if REPORTED[k][1] in report}
            computed = {} if len(found) == len(keys) else compute(
                dataset, sid, T, curve=curve, window_months=int(window_months),
                churn_model=churn_model, discount_rate=float(discount_rate),
                max_age=int(max_age))
            for k in keys:
                if k in found:
                    row[k] = math.nan if found[k] is None else found[k]
                    src[k] = "reports"
                else:
                    row[k] = computed[k]
                    src[k] = "data"
        row["cliff_year"], row["cliff_drop"] = _cliff(curve) if len(curve) \
            else (math.nan, math.nan)
        row["at_risk_share"] = _ratio(row["at_risk"], row["customers_scored"])
        row["high_value_at_risk_share"] = _ratio(row["class_high_value_at_risk"],
                                                 row["customers_scored"])
        row["gross_profit_per_serviced_vehicle"] = _ratio(
            12 * float(row["service_gross_profit_per_month"]), row["service_base"])
        for k in (*FROM_CURVE, *DERIVED):
            src[k] = "data"
        n_rep = sum(v == "reports" for v in src.values())
        row["source"] = "data" if n_rep == 0 else (
            "reports" if n_rep == len(REPORTED) else "reports+data")
        row["from_reports"] = n_rep
        rows.append(row)
        sources[sid] = src
    out = pd.DataFrame(rows, columns=["store_id", "store_name", *SCORECARD_METRICS,
                                      "source", "from_reports"])
    for k in SCORECARD_METRICS:
        out[k] = pd.to_numeric(out[k], errors="coerce").astype(float)
        if k in _COUNTS:
            out[k] = out[k].round().astype("Int64")
    out.attrs["sources"] = sources
    return out


def rank_stores(
    scorecard: Any,
    metrics: Mapping[str, bool] | None = None,
) -> pd.DataFrame:
    """Rank the stores: mean of their ranks on metrics where more (or less) is better.

    Each metric ranks the stores 1 (best) … n, ties sharing the best rank (``"min"``);
    a store with no value for a metric is not ranked on it; metrics with no value at
    all are skipped. The overall rank orders the stores by mean rank (ties: the store
    with more first places, then the smaller id). Sizes (bases, profit per month) are
    left out by default: a big store is not a better one.

    Parameters
    ----------
    scorecard:
        :func:`store_scorecard` output or any table with ``store_id`` and the metrics
        (pandas or Polars).
    metrics:
        ``{column: True when more is better}``; default :data:`RANKING_METRICS` (those
        present in the table).

    Returns
    -------
    pandas DataFrame sorted by ``overall_rank``: ``store_id``, ``rank_<metric>`` for
    each metric used, ``metrics_ranked``, ``mean_rank``, ``firsts`` (metrics where the
    store is best) and ``overall_rank`` (1 = best).

    Example
    -------
    >>> import pandas as pd
    >>> sc = pd.DataFrame({"store_id": ["001", "002", "003"],
    ...                    "retention_year_3": [0.50, 0.60, 0.40],
    ...                    "cliff_drop": [0.20, 0.25, 0.30]})
    >>> r = rank_stores(sc, {"retention_year_3": True, "cliff_drop": False})
    >>> r[["store_id", "rank_retention_year_3", "rank_cliff_drop", "mean_rank",
    ...    "overall_rank"]]
      store_id  rank_retention_year_3  rank_cliff_drop  mean_rank  overall_rank
    0      001                      2                1        1.5             1
    1      002                      1                2        1.5             2
    2      003                      3                3        3.0             3
    """
    df = to_pandas(scorecard, "scorecard")
    require_columns(df, ["store_id"], "scorecard")
    if metrics is None:
        metrics = {k: v for k, v in RANKING_METRICS.items() if k in df.columns}
    else:
        require_columns(df, list(metrics), "scorecard")
    used = [m for m in metrics if pd.to_numeric(df[m], errors="coerce").notna().any()]
    if not used:
        raise ValueError(f"{caller()}: none of the metrics {list(metrics)} has a value")
    out = pd.DataFrame({"store_id": df["store_id"].astype(str).to_numpy()})
    for m in used:
        v = pd.to_numeric(df[m], errors="coerce").astype(float).reset_index(drop=True)
        out[f"rank_{m}"] = v.rank(ascending=not metrics[m], method="min").astype("Int64")
    ranks = out[[f"rank_{m}" for m in used]].astype(float)
    out["metrics_ranked"] = ranks.notna().sum(axis=1).astype(int)
    out["mean_rank"] = ranks.mean(axis=1)
    out["firsts"] = (ranks == 1).sum(axis=1).astype(int)
    out = out.sort_values(["mean_rank", "firsts", "store_id"],
                          ascending=[True, False, True], na_position="last")
    out["overall_rank"] = np.arange(1, len(out) + 1)
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- notebook 06
# What the group notebook says and shows, computed here so that its cells stay one line per
# finding: the comparison rule, the summaries its sentences quote, its labelled tables.

#: Fewest cars (annual average) a store's age band needs to be compared with the other
#: stores' (notebook 06): smaller bands are too noisy.
MIN_BASE = 30

#: Years of the usual new-car warranty (churn's ``warranty_years``): age bands below it
#: are "still under warranty" in the group notebook's text.
WARRANTY_YEARS = 3

#: The scorecard metrics notebook 06 shows, in its order.
SHOWN_METRICS: tuple[str, ...] = (
    "vehicle_base", "service_base", "retention_year_1", "retention_year_3",
    "retention_year_5", "cliff_drop", "top20_share_gross_profit", "at_risk_share",
    "high_value_at_risk_share", "service_gross_profit_per_month", "service_absorption",
    "new_car_lifetime_value",
)

#: Scorecard metrics in money (RMB) and as shares (0-1), for the tables' formats.
_MONEY = {"service_gross_profit_per_month", "new_car_lifetime_value",
          "high_value_at_risk_expected_loss", "gross_profit_per_serviced_vehicle"}
_SHARES = {"top20_share_gross_profit", "retention_year_1", "retention_year_3",
           "retention_year_5", "retention_year_8", "cliff_drop", "at_risk_share",
           "high_value_at_risk_share", "service_absorption"}

#: Column names of the group notebook's tables.
_COLUMNS: dict[str, tuple[str, str]] = {
    "store": ("Store", "门店"),
    "age": ("Vehicle age", "车龄"),
    "best_store": ("Best store", "最佳门店"),
    "best_value": ("Best retention", "最佳掌握率"),
    "gap_store": ("Furthest behind", "差距最大的门店"),
    "gap_value": ("Its retention", "其掌握率"),
    "gap_pp": ("Gap (points)", "差距（百分点）"),
    "rank": ("Rank", "排名"),
    "mean_rank": ("Mean rank", "平均名次"),
}


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def store_names(data: Any) -> dict[str, str]:
    """Store id -> store name, from the ``stores`` table of a Dataset or a mapping of tables.

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> store_names(example_dataset())
    {'001': 'Hefei North', '007': 'Wuhu'}
    """
    stores = tables(data, ["stores"])["stores"]
    df = to_pandas(stores, "stores")
    require_columns(df, ["store_id", "store_name"], "stores")
    return {str(s): str(n) for s, n in zip(df["store_id"], df["store_name"], strict=True)}


def store_label(store_id: Any, names: Mapping[str, str] | None = None,
                lang: str = "en") -> str:
    """A store as the reader sees it: ``"Wuhu (007)"`` / ``"Wuhu（007）"``.

    A store without a name shows its id twice (``"009 (009)"``); a missing store (None,
    NaN: an age band only one store has) is ``"–"``.

    Example
    -------
    >>> names = {"007": "Wuhu"}
    >>> store_label("007", names), store_label("007", names, "zh"), store_label(None)
    ('Wuhu (007)', 'Wuhu（007）', '–')
    """
    check_lang(lang)
    if _missing(store_id):
        return "–"
    sid = str(store_id)
    name = (names or {}).get(sid, sid)
    return f"{name} ({sid})" if lang == "en" else f"{name}（{sid}）"


def store_list(store_ids: Iterable[Any], names: Mapping[str, str] | None = None,
               lang: str = "en") -> str:
    """Stores as a list in running text: ``"A (001), B (002)"`` / ``"A（001）、B（002）"``.

    Example
    -------
    >>> store_list(["001", "007"], {"001": "Hefei", "007": "Wuhu"}, "zh")
    'Hefei（001）、Wuhu（007）'
    """
    sep = ", " if check_lang(lang) == "en" else "、"
    return sep.join(store_label(s, names, lang) for s in store_ids)


def benchmark_gaps(curves: Any, *, min_base: float = MIN_BASE) -> pd.DataFrame:
    """The gaps notebook 06 compares: :func:`gap_to_best` of the age bands with enough cars.

    Rows of ``curves`` (:func:`retention_by_store`) whose ``base_vehicles`` is below
    ``min_base`` are left out (all rows are kept when that leaves none: a very small group
    is compared on what there is); then age bands that only one store has are dropped,
    unless no band has two stores.

    Example
    -------
    >>> import pandas as pd
    >>> curves = pd.DataFrame({"store_id": ["A", "B", "A", "B"], "age_band": [0, 0, 1, 1],
    ...                        "retention_rate": [0.9, 0.8, 0.7, 0.4],
    ...                        "base_vehicles": [50, 40, 60, 10]})
    >>> benchmark_gaps(curves)[["age_band", "stores", "largest_gap_pp"]]
       age_band  stores  largest_gap_pp
    0         0       2            10.0
    """
    df = to_pandas(curves, "curves")
    require_columns(df, ["base_vehicles"], "curves")
    compared = df[df["base_vehicles"] >= check_number(min_base, "min_base", minimum=0)]
    if compared.empty:
        compared = df
    gaps = gap_to_best(compared)
    if (gaps["stores"] >= 2).any():
        gaps = gaps[gaps["stores"] >= 2].reset_index(drop=True)
    return gaps


def best_store_by_year(gaps: pd.DataFrame) -> dict[int, str]:
    """Year of the car's life -> the group's best store there (rows of :func:`gap_to_best`).

    Example
    -------
    >>> import pandas as pd
    >>> best_store_by_year(pd.DataFrame({"year": [1, 4], "best_store": ["001", "007"]}))
    {1: '001', 4: '007'}
    """
    require_columns(gaps, ["year", "best_store"], "gaps")
    return {int(y): str(s) for y, s in zip(gaps["year"], gaps["best_store"], strict=True)}


def leading_store(gaps: pd.DataFrame) -> dict[str, Any]:
    """The store that is best in the most age bands: ``{"store_id", "bands_led", "bands"}``.

    Ties: the store that leads first (the youngest age band). ``store_id`` is None
    without any band.

    Example
    -------
    >>> import pandas as pd
    >>> leading_store(pd.DataFrame({"year": [1, 2, 3], "best_store": ["B", "A", "A"]}))
    {'store_id': 'A', 'bands_led': 2, 'bands': 3}
    """
    best = best_store_by_year(gaps)
    if not best:
        return {"store_id": None, "bands_led": 0, "bands": 0}
    leaders = pd.Series(best).value_counts()
    return {"store_id": str(leaders.index[0]), "bands_led": int(leaders.iloc[0]),
            "bands": len(best)}


def gap_summary(gaps: pd.DataFrame) -> dict[str, Any]:
    """The largest gap to the best (:func:`largest_gap`) with what a sentence about it quotes.

    Returns :func:`largest_gap`'s ``store_id``, ``age_band``, ``year``, ``gap_pp`` and
    ``store_value`` (that store's rate), ``best_store``, ``best_value`` (the best
    store's), ``in_warranty`` (the band is younger than :data:`WARRANTY_YEARS`),
    ``bands`` (age bands with a gap, i.e. two stores or more) and ``mean_gap_pp`` (the
    mean over those bands of the stores' mean gap behind the best). Without any gap the
    fields of the largest gap are None.

    Example
    -------
    >>> import pandas as pd
    >>> tidy = pd.DataFrame({"store_id": ["A", "B", "A", "B"], "age_band": [0, 0, 3, 3],
    ...                      "retention_rate": [0.90, 0.85, 0.40, 0.25]})
    >>> s = gap_summary(gap_to_best(tidy))
    >>> s["store_id"], s["year"], s["gap_pp"], s["best_store"], s["in_warranty"]
    ('B', 4, 15.0, 'A', False)
    >>> s["store_value"], s["best_value"], s["bands"], s["mean_gap_pp"]
    (0.25, 0.4, 2, 10.0)
    """
    top = largest_gap(gaps)
    spread = gaps[gaps["largest_gap_pp"].notna()]
    out = {**top, "store_value": None, "best_store": None, "best_value": None,
           "in_warranty": None, "bands": len(spread),
           "mean_gap_pp": float(spread["mean_gap_pp"].mean()) if len(spread) else math.nan}
    if top["store_id"] is not None:
        row = gaps.set_index("age_band").loc[top["age_band"]]
        out.update(store_value=float(row["largest_gap_value"]),
                   best_store=str(row["best_store"]), best_value=float(row["best_value"]),
                   in_warranty=top["age_band"] < WARRANTY_YEARS)
    return out


def gap_value(data: Any, gap: Mapping[str, Any], *, as_of: Any = None) -> dict[str, Any]:
    """What closing a retention gap is worth to the store a year, in service gross profit.

    ``gap`` names the store, the age band and the gap in percentage points
    (:func:`largest_gap` or :func:`gap_summary`). The store's cars of that band
    (``vehicles``) and their gross profit per retained car a year
    (``gross_profit_per_vehicle``) are the store's own, from
    :func:`crm_analysis.economics.service_by_age` at ``as_of``; keeping ``gap_pp`` points
    more of the cars brings ``extra_vehicles`` = vehicles × gap_pp / 100 more to the
    workshop, worth ``value_per_year`` = extra_vehicles × gross_profit_per_vehicle.
    Everything is NaN when ``gap`` has no store or the store has no car in the band.

    Parameters
    ----------
    data:
        A :class:`~crm_analysis.schema.Dataset` or a mapping of pandas or Polars frames
        (eager or lazy) ``{"vehicles": ..., "repair_orders": ...}``, as for
        :func:`retention_by_store`.
    gap:
        ``store_id``, ``age_band`` and ``gap_pp``.
    as_of:
        The analysis date (see :func:`analysis_date`); None: the data's own.

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> v = gap_value(example_dataset(), {"store_id": "007", "age_band": 0, "gap_pp": 20.0},
    ...               as_of="2021-06-30")
    >>> v["vehicles"], v["extra_vehicles"], v["value_per_year"] > 0
    (1.0, 0.2, True)
    """
    T = read_as_of(as_of, data)
    tables(data, ["vehicles", "repair_orders"])
    missing = [k for k in ("store_id", "age_band", "gap_pp") if k not in gap]
    if missing:
        raise KeyError(f"{caller()}: gap needs the keys {missing} (see largest_gap)")
    sid, band, gap_pp = gap["store_id"], gap["age_band"], gap["gap_pp"]
    out = {"store_id": sid, "age_band": band, "gap_pp": gap_pp, "vehicles": math.nan,
           "gross_profit_per_vehicle": math.nan, "extra_vehicles": math.nan,
           "value_per_year": math.nan}
    if _missing(sid):
        return out
    sid = str(sid)
    # a Dataset: the store's own sub-dataset (same figures, fewer rows to read)
    source = data.for_store(sid) if isinstance(data, Dataset) else data
    by_age = to_pandas(economics.service_by_age(source, as_of=T, store_id=sid), "service_by_age")
    row = by_age.set_index("age_band").reindex([int(band)]).iloc[0]
    cars, per_car = float(row["vehicles"]), float(row["gross_profit_per_retained"])
    extra = cars * float(gap_pp) / 100
    out.update(vehicles=cars, gross_profit_per_vehicle=per_car, extra_vehicles=extra,
               value_per_year=extra * per_car)
    return out


def metric_range(scorecard: Any, metric: str, *, label: Any = None, prefix: str = "",
                 scale: float = 1.0) -> dict[str, Any] | None:
    """The lowest and highest value of one scorecard metric, and the stores that have them.

    Returns ``{"<prefix>low", "<prefix>low_store", "<prefix>high", "<prefix>high_store"}``
    (values times ``scale``: 100 turns a share difference into points; stores through
    ``label``, e.g. :func:`store_label`; ties: the first store), ready for a narration
    text; None when no store has a value. ``prefix`` lets one sentence quote two ranges.

    Example
    -------
    >>> import pandas as pd
    >>> sc = pd.DataFrame({"store_id": ["001", "002", "003"],
    ...                    "cliff_drop": [0.12, None, 0.3]})
    >>> metric_range(sc, "cliff_drop", scale=100, prefix="drop_")
    {'drop_low': 12.0, 'drop_low_store': '001', 'drop_high': 30.0, 'drop_high_store': '003'}
    """
    df = to_pandas(scorecard, "scorecard")
    require_columns(df, ["store_id", metric], "scorecard")
    values = pd.to_numeric(df.set_index("store_id")[metric], errors="coerce").dropna()
    if values.empty:
        return None
    values = values.astype(float)
    label = label or str
    return {f"{prefix}low": scale * float(values.min()),
            f"{prefix}low_store": label(values.idxmin()),
            f"{prefix}high": scale * float(values.max()),
            f"{prefix}high_store": label(values.idxmax())}


def gap_table(gaps: pd.DataFrame, *, names: Mapping[str, str] | None = None,
              lang: str = "en") -> LabelledTable:
    """The gaps by vehicle age for the reader: year of life, best store and its retention,
    the store furthest behind, its retention and the gap in points.

    Example
    -------
    >>> import pandas as pd
    >>> tidy = pd.DataFrame({"store_id": ["A", "B"], "age_band": [0, 0],
    ...                      "retention_rate": [0.9, 0.8]})
    >>> shown = gap_table(gap_to_best(tidy), names={"A": "Hefei"})
    >>> shown.table[["Vehicle age", "Best store", "Furthest behind"]].iloc[0].tolist()
    ['Year 1', 'Hefei (A)', 'B (B)']
    >>> float(shown.table["Gap (points)"].iloc[0])
    10.0
    >>> shown.formats["pct"]
    ['Best retention', 'Its retention']
    """
    require_columns(gaps, ["age_band", "best_store", "best_value", "largest_gap_store",
                           "largest_gap_value", "largest_gap_pp"], "gaps")
    col = {k: t(k, lang, labels=_COLUMNS) for k in _COLUMNS}
    table = pd.DataFrame({
        col["age"]: [t("metric.age_band", lang, n=int(b) + 1) for b in gaps["age_band"]],
        col["best_store"]: [store_label(s, names, lang) for s in gaps["best_store"]],
        col["best_value"]: gaps["best_value"].to_numpy(),
        col["gap_store"]: [store_label(s, names, lang) for s in gaps["largest_gap_store"]],
        col["gap_value"]: gaps["largest_gap_value"].to_numpy(),
        col["gap_pp"]: gaps["largest_gap_pp"].to_numpy(),
    })
    return LabelledTable(table, {"pct": [col["best_value"], col["gap_value"]],
                                 "floats": [col["gap_pp"]], "digits": 1})


def scorecard_table(scorecard: Any, *, names: Mapping[str, str] | None = None,
                    lang: str = "en",
                    metrics: Sequence[str] = SHOWN_METRICS) -> LabelledTable:
    """The scorecard for the reader: one row per store, ``metrics`` under their names
    (:func:`metric_label`); counts, shares and money formatted as such.

    Example
    -------
    >>> import pandas as pd
    >>> sc = pd.DataFrame({"store_id": ["001"], "vehicle_base": [1200],
    ...                    "retention_year_3": [0.5]})
    >>> shown = scorecard_table(sc, names={"001": "Hefei"}, lang="zh",
    ...                         metrics=["vehicle_base", "retention_year_3"])
    >>> list(shown.table.columns), shown.formats["pct"]
    (['门店', '保有车辆（本店销售，10年以内）', '第3年客户掌握率'], ['第3年客户掌握率'])
    """
    df = to_pandas(scorecard, "scorecard")
    require_columns(df, ["store_id", *metrics], "scorecard")
    table = pd.DataFrame({t("store", lang, labels=_COLUMNS):
                          [store_label(s, names, lang) for s in df["store_id"]]})
    for m in metrics:
        table[metric_label(m, lang)] = df[m].to_numpy()
    kinds = {"ints": [m for m in metrics if m in _COUNTS],
             "pct": [m for m in metrics if m in _SHARES],
             "money": [m for m in metrics if m in _MONEY]}
    return LabelledTable(table,
                         {k: [metric_label(m, lang) for m in v] for k, v in kinds.items()})


def ranking_table(ranking: pd.DataFrame, *, names: Mapping[str, str] | None = None,
                  lang: str = "en") -> LabelledTable:
    """The ranking (:func:`rank_stores`) for the reader: overall rank, store, the rank on
    each metric and the mean rank (two decimals).

    Example
    -------
    >>> import pandas as pd
    >>> sc = pd.DataFrame({"store_id": ["001", "002"], "retention_year_3": [0.5, 0.6]})
    >>> shown = ranking_table(rank_stores(sc), lang="en")
    >>> shown.table.values.tolist()
    [[1, '002 (002)', 1, 1.0], [2, '001 (001)', 2, 2.0]]
    """
    require_columns(ranking, ["store_id", "overall_rank", "mean_rank"], "ranking")
    rank_cols = [c for c in ranking.columns if c.startswith("rank_")]
    mean_rank = t("mean_rank", lang, labels=_COLUMNS)
    table = pd.DataFrame({
        t("rank", lang, labels=_COLUMNS): ranking["overall_rank"].to_numpy(),
        t("store", lang, labels=_COLUMNS): [store_label(s, names, lang)
                                            for s in ranking["store_id"]],
        **{metric_label(c[len("rank_"):], lang): ranking[c].to_numpy() for c in rank_cols},
        mean_rank: ranking["mean_rank"].to_numpy(),
    })
    return LabelledTable(table, {"floats": [mean_rank], "digits": 2})


def scorecard_record(scorecard: Any) -> dict[str, dict[str, Any]]:
    """The scorecard's metrics as plain values, store by store (None where missing), as
    notebook 06 records them.

    Example
    -------
    >>> import pandas as pd
    >>> sc = pd.DataFrame({"store_id": ["001"], "store_name": ["Hefei"],
    ...                    "cliff_drop": [float("nan")], "source": ["data"],
    ...                    "from_reports": [0]})
    >>> scorecard_record(sc)
    {'001': {'cliff_drop': None}}
    """
    df = to_pandas(scorecard, "scorecard")
    require_columns(df, ["store_id"], "scorecard")
    values = df.set_index("store_id").drop(
        columns=[c for c in ("store_name", "source", "from_reports") if c in df.columns])
    values = values.astype(object)
    return values.where(values.notna(), None).to_dict(orient="index")

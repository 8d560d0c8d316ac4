"""``rfm_summary(..., regularity=True)``: the ``litt`` column of the MBG/CNBD-k model.

``litt`` is BTYDplus's ``litt`` of ``elog2cbs`` (R package BTYDplus, ``R/helpers.R``):
transactions of a customer on the same date merged, inter-transaction times in weeks
(``difftime(..., units = "week")``), ``litt = sum(log(itt[itt > 0]))`` over the
calibration period. References here:

- a hand case (numbers worked out below) on pandas, Polars and Polars lazy;
- a direct pandas computation (merge same-day rows, ``diff`` in days / 7, ``log``, sum)
  on the 2,357 customers of the CDNOW sample (``data/external/cdnow``), 39-week
  calibration to 1997-09-30 as in BTYDplus's CDNOW demo;
- BTYDplus's own ``elog2cbs(cdnowElog, T.cal = "1997-09-30")`` output
  (``tests/data/btydplus_cdnow_cbs.csv.gz``, provenance in ``tests/data/README.md``);
- Jensen's inequality, which holds for every customer whatever the data:
  ``litt <= x * log(t_x / x)`` (the mean log gap is at most the log of the mean gap),
  with equality exactly for evenly spaced visits.

The other engines (DuckDB, PySpark) are in ``tests/engines.py`` (case
``rfm_summary_regularity``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from engines import to_pandas

from crm_analysis.features import rfm_summary
from crm_analysis.synth import generate

ROOT = Path(__file__).resolve().parents[1]
CDNOW = ROOT / "data" / "external" / "cdnow"
REFERENCE = Path(__file__).resolve().parent / "data"
BTYDPLUS_CBS = REFERENCE / "btydplus_cdnow_cbs.csv.gz"


def _tx() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["a", "a", "a", "a", "b", "b", "c", "d", "d", "d"],
        "when": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 17:00", "2024-01-10 00:00",
                                "2024-01-17 00:00", "2024-01-03 00:00", "2024-01-31 00:00",
                                "2024-01-22 00:00", "2024-01-02 00:00", "2024-01-09 00:00",
                                "2024-01-16 00:00"]),
        "amount": [10.0, 5.0, 20.0, 40.0, 7.0, 1.0, 3.0, 1.0, 1.0, 1.0],
    })


def _kinds(tx: pd.DataFrame):
    p = pl.from_pandas(tx)
    return [("pandas", tx), ("polars", p), ("polars-lazy", p.lazy())]


@pytest.mark.parametrize("kind", ["pandas", "polars", "polars-lazy"])
def test_hand_case(kind):
    tx = dict(_kinds(_tx()))[kind]
    # a: days 0 (twice: one period), 9, 16 -> gaps 9 and 7 days; b: one day before the
    # end (the 31st is after as_of); c: one day; d: days 1, 8, 15 -> gaps 7 and 7
    d = to_pandas(rfm_summary(tx, "id", "when", "amount", as_of="2024-01-20",
                              regularity=True))
    assert list(d.columns) == ["id", "frequency", "recency", "T", "litt", "monetary_value"]
    assert d["id"].tolist() == ["a", "b", "d"]
    assert d["litt"].tolist() == pytest.approx([math.log(9) + math.log(7), 0.0,
                                                2 * math.log(7)], rel=1e-15)
    # in weeks (days / 7): log(9/7) + log(1) and 0 for evenly weekly d
    w = to_pandas(rfm_summary(tx, "id", "when", None, as_of="2024-01-20", freq="D",
                              freq_multiplier=7, regularity=True))
    assert list(w.columns) == ["id", "frequency", "recency", "T", "litt"]
    assert w["litt"].tolist() == pytest.approx([math.log(9 / 7), 0.0, 0.0], abs=1e-15)
    # the first period never contributes: the same litt when it counts in frequency
    i = to_pandas(rfm_summary(tx, "id", "when", None, as_of="2024-01-20", freq="D",
                              freq_multiplier=7, regularity=True,
                              include_first_transaction=True))
    assert i["frequency"].tolist() == [3, 1, 3]
    assert i["litt"].tolist() == w["litt"].tolist()
    # weekly periods (Monday-Sunday): a buys in weeks 0, 1, 2 -> log 1 + log 1 = 0;
    # as_of defaults to the last date, so b's second week and c count too
    k = to_pandas(rfm_summary(tx, "id", "when", None, freq="W", regularity=True))
    assert k["id"].tolist() == ["a", "b", "c", "d"]
    assert k["litt"].tolist() == pytest.approx([0.0, math.log(4), 0.0, 0.0], abs=1e-15)


def test_without_regularity_no_column_and_bad_flag():
    tx = _tx()
    assert "litt" not in rfm_summary(tx, "id", "when", "amount").columns
    with pytest.raises(TypeError, match="^rfm_summary: regularity must be True or False"):
        rfm_summary(tx, "id", "when", "amount", regularity="yes")


# ----------------------------------------------------------------------------- CDNOW


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    s = pd.read_csv(CDNOW / "CDNOW_sample.txt.gz", sep=r"\s+", header=None,
                    names=["customer_id", "sample_id", "date", "n", "dollar_value"],
                    dtype={"customer_id": str, "date": str})
    s["date"] = pd.to_datetime(s["date"], format="%Y%m%d")
    return s


@pytest.fixture(scope="module")
def cbs(sample) -> pd.DataFrame:
    """rfm_summary in BTYDplus's units: weeks measured to the day, 39-week calibration."""
    return rfm_summary(sample, "sample_id", "date", "dollar_value", as_of="1997-09-30",
                       freq="D", freq_multiplier=7, regularity=True).set_index("sample_id")


def _direct_litt(tx: pd.DataFrame, end: str) -> pd.Series:
    """elog2cbs's recipe written out in pandas: merge same-day rows, diff, log, sum."""
    days = tx.loc[tx["date"] <= end, ["sample_id", "date"]].drop_duplicates()
    days = days.sort_values(["sample_id", "date"])
    itt = days.groupby("sample_id")["date"].diff().dt.days / 7
    return np.log(itt).groupby(days["sample_id"]).sum(min_count=1).fillna(0.0)


def test_cdnow_equals_a_direct_computation(sample, cbs):
    direct = _direct_litt(sample, "1997-09-30")
    assert direct.index.tolist() == cbs.index.tolist() and len(direct) == 2357
    # same logs, summed in the same order: equal up to the rounding of
    # log(gap) - log(7) versus log(gap / 7) (a few ulp per term)
    np.testing.assert_allclose(cbs["litt"], direct, rtol=1e-12, atol=1e-12)
    assert (cbs.loc[cbs["frequency"] == 0, "litt"] == 0).all()
    assert (cbs["litt"] != 0).sum() > 900  # 946 repeat buyers, a few with weekly gaps


def test_cdnow_jensen_bound(cbs):
    rep = cbs[cbs["frequency"] > 0]
    x = rep["frequency"].astype(float)
    bound = x * np.log(rep["recency"] / x)
    assert (rep["litt"] <= bound + 1e-9).all()
    # one repeat visit: a single gap equal to the recency, so the bound is reached
    one = rep[rep["frequency"] == 1]
    np.testing.assert_allclose(one["litt"], np.log(one["recency"]), rtol=1e-12)


def test_cdnow_equals_btydplus(cbs):
    ref = pd.read_csv(BTYDPLUS_CBS)
    ref = ref.set_index("sampleid")
    assert len(ref) == 2357
    got = cbs.loc[ref.index]
    assert (got["frequency"].to_numpy() == ref["x"].to_numpy()).all()
    # the file holds R's doubles with 17 significant digits: the tolerance is the
    # rounding of a sum of logs computed in two orders (log(gap) - log 7 here, log(gap/7)
    # in R), a few ulp of terms up to |log(0.14)| ~ 2
    np.testing.assert_allclose(got["recency"], ref["t.x"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["T"], ref["T.cal"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["litt"], ref["litt"], rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- dealer data


def test_generated_store_evenly_spaced_bound_and_dataset_input():
    ds = generate(n_stores=1, seed=3, scale=0.02)
    r = rfm_summary(ds, freq="D", freq_multiplier=7, regularity=True)
    assert "litt" in r.columns
    rep = r[r["frequency"] > 0]
    x = rep["frequency"].astype(float)
    assert (rep["litt"] <= x * np.log(rep["recency"] / x) + 1e-9).all()
    # days -> weeks shifts each repeat's log by log 7 exactly
    d = rfm_summary(ds, regularity=True)
    np.testing.assert_allclose(r["litt"], d["litt"] - r["frequency"] * math.log(7),
                               rtol=1e-12, atol=1e-10)

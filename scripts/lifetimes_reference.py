#!/usr/bin/env python
"""Write lifetimes' RFM summaries of CDNOW as reference files for tests/test_features.py.

``crm_analysis.features.rfm_summary`` reproduces
``lifetimes.utils.summary_data_from_transaction_data`` (lifetimes 0.11.3). lifetimes is
unmaintained, breaks on current pandas and is *not* a dependency of this project, so its
output is computed once, in a throwaway environment, and stored under ``tests/data/``.

This script does not import ``crm_analysis``; it needs only lifetimes and pandas 1.x.

Reproduce (from the repository root; Python 3.11, Linux)::

    python3.11 -m venv /tmp/ltvenv
    /tmp/ltvenv/bin/pip install "lifetimes==0.11.3" "pandas<2" "numpy<2"
    /tmp/ltvenv/bin/python scripts/lifetimes_reference.py

The reference files in git were written with lifetimes 0.11.3, pandas 1.5.3,
numpy 1.26.4 (and scipy 1.17.1, autograd 1.9.1, dill 0.4.1 pulled in by lifetimes).

Input: ``data/external/cdnow/CDNOW_master.txt.gz`` (69,659 transactions of 23,570
customers, 1997-01-01 to 1998-06-30; see the README beside it). Customer ids are read as
strings ("00001"), dates as ``%Y%m%d``, the value is ``dollar_value``.

Output: one gzip CSV per case, ``tests/data/cdnow_rfm_<case>.csv.gz``, with columns
``customer_id, frequency, recency, T, monetary_value`` (lifetimes' index as the first
column; numbers written with 17 significant digits, i.e. exactly), and
``tests/data/cdnow_rfm_cases.csv`` listing the cases:

=================  ====  ===============  ========================================
case               freq  freq_multiplier  observation_period_end
=================  ====  ===============  ========================================
D_19980630         D     1                1998-06-30 (the whole data set)
W_19980630         W     1                1998-06-30
W_19970930         W     1                1997-09-30 (a Tuesday: the 39-week
                                          calibration period; exercises the cut-off
                                          and lifetimes' same-week rule)
D7_19970930        D     7                1997-09-30 (weeks measured to the day, as
                                          in Fader & Hardie's BG/NBD paper)
=================  ====  ===============  ========================================
"""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import pandas as pd
from lifetimes.utils import summary_data_from_transaction_data

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "data" / "external" / "cdnow" / "CDNOW_master.txt.gz"
OUT = ROOT / "tests" / "data"

#: (case, freq, freq_multiplier, observation_period_end)
CASES = (
    ("D_19980630", "D", 1, "1998-06-30"),
    ("W_19980630", "W", 1, "1998-06-30"),
    ("W_19970930", "W", 1, "1997-09-30"),
    ("D7_19970930", "D", 7, "1997-09-30"),
)


def load_cdnow(path: Path = SOURCE) -> pd.DataFrame:
    """CDNOW_master as customer_id (str), date (datetime64), number_of_cds, dollar_value."""
    df = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df


def write_gzip_csv(df: pd.DataFrame, path: Path) -> None:
    """Deterministic gzip (no timestamp or file name in the header)."""
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.17g", lineterminator="\n")
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                               filename="") as gz:
        gz.write(buf.getvalue().encode())


def main() -> int:
    import lifetimes

    tx = load_cdnow()
    print(f"lifetimes {lifetimes.__version__}, pandas {pd.__version__}; "
          f"{len(tx):,} transactions, {tx['customer_id'].nunique():,} customers")
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for case, freq, mult, end in CASES:
        s = summary_data_from_transaction_data(
            tx, "customer_id", "date", monetary_value_col="dollar_value",
            observation_period_end=end, freq=freq, freq_multiplier=mult,
        )
        s = s.reset_index()
        s["frequency"] = s["frequency"].astype("int64")
        path = OUT / f"cdnow_rfm_{case}.csv.gz"
        write_gzip_csv(s, path)
        rows.append({"case": case, "freq": freq, "freq_multiplier": mult,
                     "observation_period_end": end, "customers": len(s),
                     "file": path.name})
        print(f"{case}: {len(s):,} customers -> {path.relative_to(ROOT)}")
    pd.DataFrame(rows).to_csv(OUT / "cdnow_rfm_cases.csv", index=False, lineterminator="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

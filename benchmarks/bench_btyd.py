#!/usr/bin/env python
"""Benchmark the BG/NBD and Gamma-Gamma fits of crm_analysis.btyd against lifetimes.

Times ``BetaGeoModel().fit`` and ``GammaGammaModel().fit`` on the CDNOW data shipped in
``data/external/cdnow/`` and, when an interpreter with lifetimes is available, lifetimes'
``BetaGeoFitter().fit`` and ``GammaGammaFitter().fit`` on exactly the same arrays, then
prints one markdown table headed by the machine.

Data sets:

- ``CDNOW summary``: ``cdnow_customers_summary.csv``, 2,357 customers, weeks (the BG/NBD
  paper's data; published r = 0.243, α = 4.414, a = 0.793, b = 2.426);
- ``CDNOW 946 repeat buyers``: Gamma-Gamma input built from ``CDNOW_sample`` with
  ``rfm_summary(..., as_of="1997-09-30", freq="D", freq_multiplier=7)``, frequency > 0
  (published p = 6.25, q = 3.74, γ = 15.44);
- ``CDNOW master``: BG/NBD on all 23,570 customers of ``CDNOW_master``, same calibration
  period and units (10× the data; no published fit).

Measurement: each fit runs ``--repeat`` times (default 5) in one process after one
untimed warm-up run; the table shows the median and the fastest run, in seconds. The
lifetimes runs happen in a separate process under the lifetimes interpreter (default
``/tmp/ltvenv/bin/python`` when it exists, or ``--lifetimes-python``), which reads the
same inputs from a temporary CSV written by this process (it imports only pandas, numpy
and lifetimes) with BLAS limited to one thread, as our fit does internally (on a busy
2-core machine OpenBLAS threads made scipy's L-BFGS-B about 10× slower). A throwaway
environment for it::

    python3.11 -m venv /tmp/ltvenv
    /tmp/ltvenv/bin/pip install "lifetimes==0.11.3" "pandas<2" "numpy<2"

lifetimes minimizes the same objective (mean negative log-likelihood on log-parameters,
time rescaled internally) with scipy's BFGS and autograd gradients, and computes an
autograd Hessian; our fit uses L-BFGS-B with analytic gradients, merges identical rows,
and computes the Hessian by finite differences of the gradient. Both report standard errors, so both
timings include them. Nothing is asserted; compare runs on the same machine.

Usage
-----
    .venv/bin/python benchmarks/bench_btyd.py
    .venv/bin/python benchmarks/bench_btyd.py --repeat 9 --lifetimes-python /path/to/python
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import MARK, run_child
from common import machine as _machine

ROOT = Path(__file__).resolve().parents[1]
CDNOW = ROOT / "data" / "external" / "cdnow"
DEFAULT_LT_PYTHON = "/tmp/ltvenv/bin/python"


def _time(fn, repeat: int) -> tuple[object, float, float]:
    """(result of the last run, median seconds, fastest seconds), after one warm-up run."""
    fn()
    runs, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - t0)
    return result, statistics.median(runs), min(runs)


# --------------------------------------------------------------------------- inputs


def _inputs(workdir: Path) -> dict[str, Path]:
    """The three data sets as CSV files (frequency, recency, T[, monetary_value])."""
    import pandas as pd

    from crm_analysis.features import rfm_summary

    files = {}
    summary = pd.read_csv(CDNOW / "cdnow_customers_summary.csv")
    files["bg_summary"] = workdir / "bg_summary.csv"
    summary[["frequency", "recency", "T"]].to_csv(files["bg_summary"], index=False)

    sample = pd.read_csv(CDNOW / "CDNOW_sample.txt.gz", sep=r"\s+", header=None,
                         names=["customer_id", "sample_id", "date", "number_of_cds",
                                "dollar_value"], dtype={"customer_id": str, "date": str})
    sample["date"] = pd.to_datetime(sample["date"], format="%Y%m%d")
    rfm = rfm_summary(sample, "sample_id", "date", "dollar_value", as_of="1997-09-30",
                      freq="D", freq_multiplier=7)
    repeat = rfm[rfm["frequency"] > 0]
    files["gg_repeat"] = workdir / "gg_repeat.csv"
    repeat[["frequency", "monetary_value"]].astype(float).to_csv(files["gg_repeat"],
                                                                  index=False)

    master = pd.read_csv(CDNOW / "CDNOW_master.txt.gz", sep=r"\s+",
                         dtype={"customer_id": str, "date": str})
    master["date"] = pd.to_datetime(master["date"], format="%Y%m%d")
    big = rfm_summary(master, "customer_id", "date", None, as_of="1997-09-30", freq="D",
                      freq_multiplier=7)
    files["bg_master"] = workdir / "bg_master.csv"
    big[["frequency", "recency", "T"]].astype(float).to_csv(files["bg_master"], index=False)
    return files


CASES = (
    ("BG/NBD", "CDNOW summary (weeks)", "bg_summary"),
    ("Gamma-Gamma", "CDNOW 946 repeat buyers", "gg_repeat"),
    ("BG/NBD", "CDNOW master, 23,570 customers", "bg_master"),
)


# --------------------------------------------------------------------------- fits


def _ours(files: dict[str, Path], repeat: int) -> dict:
    import pandas as pd

    from crm_analysis.btyd import BetaGeoModel, GammaGammaModel

    out = {}
    for _, _, key in CASES:
        d = pd.read_csv(files[key])
        if key.startswith("bg"):
            def fit(d=d):
                return BetaGeoModel().fit(d["frequency"], d["recency"], d["T"])
        else:
            def fit(d=d):
                return GammaGammaModel().fit(d["frequency"], d["monetary_value"])
        model, med, best = _time(fit, repeat)
        out[key] = {"n": len(d), "median": med, "min": best,
                    "params": {k: float(v) for k, v in model.params_.items()},
                    "ll": model.log_likelihood_}
    return out


def _child_lifetimes(files: dict[str, str], repeat: int) -> dict:
    # as our fit (which limits BLAS to one thread while fitting): one BLAS thread, set
    # before numpy is imported, so that both sides are measured the same way
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    os.environ["OMP_NUM_THREADS"] = "1"
    import warnings

    import lifetimes
    import numpy as np
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    warnings.simplefilter("ignore")
    out = {"version": f"lifetimes {lifetimes.__version__}, pandas {pd.__version__}, "
                      f"numpy {np.__version__}"}
    for _, _, key in CASES:
        d = pd.read_csv(files[key])
        if key.startswith("bg"):
            def fit(d=d):
                return BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
        else:
            def fit(d=d):
                return GammaGammaFitter().fit(d["frequency"], d["monetary_value"])
        try:
            model, med, best = _time(fit, repeat)
        except Exception as exc:  # noqa: BLE001 - report, do not abort the benchmark
            out[key] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
            continue
        # lifetimes' own objective is in rescaled time units; the parent evaluates the
        # log-likelihood of its estimate in the data's units instead
        out[key] = {"n": len(d), "median": med, "min": best,
                    "params": {k: float(v) for k, v in model.params_.items()}}
    return out


def _loglik_at(files: dict[str, Path], key: str, params: dict) -> float:
    """Total log-likelihood (our closed form, the data's time unit) at given parameters."""
    import numpy as np
    import pandas as pd

    from crm_analysis.btyd import _bgnbd_loglik, _gg_loglik

    d = pd.read_csv(files[key]).astype(float)
    if key.startswith("bg"):
        p = np.array([params[k] for k in ("r", "alpha", "a", "b")])
        ll, _ = _bgnbd_loglik(p, d["frequency"].to_numpy(), d["recency"].to_numpy(),
                              d["T"].to_numpy(), grad=False)
    else:
        p = np.array([params[k] for k in ("p", "q", "v")])
        ll, _ = _gg_loglik(p, d["frequency"].to_numpy(), d["monetary_value"].to_numpy(),
                           grad=False)
    return float(ll.sum())


def _lifetimes_python(arg: str | None) -> str | None:
    if arg:
        return arg if Path(arg).exists() else None
    return DEFAULT_LT_PYTHON if Path(DEFAULT_LT_PYTHON).exists() else None


# --------------------------------------------------------------------------- report


def _fmt_params(params: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in params.items())


def _table(ours: dict, lt: dict | None) -> str:
    rows = ["| model | data | customers | ours median s (min) | lifetimes median s (min) "
            "| lifetimes / ours | ours: parameters, LL | lifetimes: parameters, LL |",
            "|:--|:--|--:|--:|--:|--:|:--|:--|"]
    for model, label, key in CASES:
        o = ours[key]
        ours_t = f"{o['median']:.3f} ({o['min']:.3f})"
        ours_p = f"{_fmt_params(o['params'])}; {o['ll']:.1f}"
        if lt is None:
            lt_t, ratio, lt_p = "not run", "", ""
        elif "error" in lt.get(key, {"error": "missing"}):
            lt_t, ratio, lt_p = "failed", "", lt.get(key, {}).get("error", "")
        else:
            r = lt[key]
            lt_t = f"{r['median']:.3f} ({r['min']:.3f})"
            ratio = f"{r['median'] / o['median']:.0f}×"
            lt_p = f"{_fmt_params(r['params'])}; {r['ll']:.1f}"
        rows.append(f"| {model} | {label} | {o['n']:,} | {ours_t} | {lt_t} | {ratio} "
                    f"| {ours_p} | {lt_p} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5, help="timed runs per fit (default 5)")
    p.add_argument("--lifetimes-python", default=None,
                   help=f"interpreter with lifetimes (default {DEFAULT_LT_PYTHON} if present)")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:                      # running under the lifetimes interpreter
        files = json.loads(args.child[1])
        print(MARK + json.dumps(_child_lifetimes(files, int(args.child[0]))))
        return 0

    sys.path.insert(0, str(ROOT))
    import numpy
    import pandas
    import scipy

    with tempfile.TemporaryDirectory(prefix="bench_btyd_") as tmp:
        files = _inputs(Path(tmp))
        ours = _ours(files, args.repeat)
        lt_python = _lifetimes_python(args.lifetimes_python)
        lt = None
        if lt_python:
            lt = run_child(__file__, [str(args.repeat),
                                      json.dumps({k: str(v) for k, v in files.items()})],
                           python=lt_python)
            for _, _, key in CASES:
                if "params" in lt.get(key, {}):
                    lt[key]["ll"] = _loglik_at(files, key, lt[key]["params"])
    print(f"Machine: {_machine()}")
    print(f"Ours: Python {sys.version.split()[0]}, numpy {numpy.__version__}, "
          f"scipy {scipy.__version__}, pandas {pandas.__version__}")
    if lt is not None:
        print(f"lifetimes: {lt['version']} ({lt_python})")
    else:
        print("lifetimes: not run (no interpreter with lifetimes; see --lifetimes-python)")
    print(f"Median and fastest of {args.repeat} runs after a warm-up; standard errors "
          "included in both; LL = total log-likelihood of each estimate in the data's "
          "time unit (lifetimes' own objective uses rescaled time).\n")
    print(_table(ours, lt))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    raise SystemExit(main())

#!/usr/bin/env python
"""Benchmark customer features and the RFM summary on 1M and 10M generated orders.

Measures :func:`crm_analysis.features.customer_features` and
:func:`crm_analysis.features.rfm_summary` with pandas, Polars and Polars-lazy input, and
lifetimes' ``summary_data_from_transaction_data`` on the same transactions, then prints
one markdown table (step, input, orders, seconds, orders/s, data MB, peak MB) headed by
the machine. It also checks that ``rfm_summary`` and lifetimes agree customer by
customer on every size measured. Nothing else is asserted.

Data. The generator runs at about 75,000 orders a second, so 10M orders are not
generated directly: one group of about 1M orders is generated
(``generate(n_stores=3, seed=2026, scale=3.55)``, about 15 s) and the 10M set is that
group tiled 10 times, tile k > 0 with ``-k`` appended to every ``customer_id``, ``vin``
and ``ro_id`` (the vehicles and customers tables are tiled the same way). The tiles are
identical customer bases side by side: same dates, so the same as-of date and window
apply. Files are written as parquet with pyarrow, one tile at a time.

Measurements. Every step runs in a fresh process, ``--repeat`` times (default 3; the
fastest run is reported, which damps the noise of a shared machine). The input is read
from parquet before the clock starts (only the columns the function uses), except for
Polars-lazy, where ``pl.scan_parquet(...)`` is part of the measured query (that is the
point of lazy input). "data MB" is the resident set after loading, "peak MB" the
resident-set high-water mark during a run (reset just before it via
``/proc/self/clear_refs`` on Linux; elsewhere ``getrusage``, a process-wide peak); both
include the interpreter and libraries.

lifetimes is unmaintained and breaks on current pandas, so it is not a dependency. When it
cannot be imported here, pass an interpreter of a throwaway environment that has it::

    python3.11 -m venv /tmp/ltvenv
    /tmp/ltvenv/bin/pip install "lifetimes==0.11.3" "pandas<2" "numpy<2" "pyarrow<16"
    .venv/bin/python benchmarks/bench_features.py --lifetimes-python /tmp/ltvenv/bin/python

That interpreter runs this same file (it then imports only pandas, pyarrow and
lifetimes) on the same parquet files. Without either, the lifetimes rows are skipped.

Usage
-----
    python benchmarks/bench_features.py                       # 1M and 10M orders
    python benchmarks/bench_features.py --sizes 1 --base-scale 0.5     # a quick run
    python benchmarks/bench_features.py --workdir /tmp/bf --keep       # reuse the data
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from common import load as _load
from common import machine as _machine
from common import measure as _measure
from common import parser, run_child, run_child_step
from common import rss_mb as _rss_mb
from common import versions as _versions

FEATURE_ORDER_COLUMNS = [
    "customer_id", "vin", "open_date", "ro_type", "payer", "labor_amount", "parts_amount",
    "other_amount", "total_amount", "labor_cost", "parts_cost", "mileage_km",
]
RFM_COLUMNS = ["customer_id", "open_date", "total_amount"]
STEPS = (
    "features/pandas", "features/polars", "features/polars-lazy",
    "rfm_summary/pandas", "rfm_summary/polars", "rfm_summary/polars-lazy",
    "lifetimes/pandas",
)


# --------------------------------------------------------------------------- steps


def _child_step(step: str, folder: Path, as_of: str, out_path: str | None,
                repeat: int) -> dict:
    func, engine = step.split("/")
    if func == "lifetimes":
        import pandas as pd
        from lifetimes.utils import summary_data_from_transaction_data

        tx = _load("pandas", folder, "repair_orders", RFM_COLUMNS)
        data_mb = _rss_mb()
        res, secs, peak, per_step = _measure(lambda: summary_data_from_transaction_data(
            tx, "customer_id", "open_date", "total_amount", observation_period_end=as_of,
            freq="D"), repeat)
        if out_path:
            res.reset_index().to_parquet(out_path, index=False)
        import lifetimes

        return {"seconds": secs, "peak_mb": peak, "data_mb": data_mb, "per_step": per_step,
                "rows": len(res), "version": f"lifetimes {lifetimes.__version__}, "
                f"pandas {pd.__version__}"}

    import polars as pl

    from crm_analysis.features import customer_features, rfm_summary

    if func == "features":
        orders = _load(engine, folder, "repair_orders", FEATURE_ORDER_COLUMNS)
        vehicles = _load(engine, folder, "vehicles",
                         ["vin", "sale_date", "model", "grade", "usage"])
        customers = _load(engine, folder, "customers",
                          ["customer_id", "customer_type", "occupation", "region"])

        def run():
            f = customer_features(orders, vehicles, customers, as_of=as_of)
            return f.collect() if isinstance(f, pl.LazyFrame) else f
    else:
        orders = _load(engine, folder, "repair_orders", RFM_COLUMNS)

        def run():
            r = rfm_summary(orders, "customer_id", "open_date", "total_amount", as_of=as_of)
            return r.collect() if isinstance(r, pl.LazyFrame) else r
    data_mb = _rss_mb()
    res, secs, peak, per_step = _measure(run, repeat)
    if out_path:
        (res if isinstance(res, pl.DataFrame) else pl.from_pandas(res)).write_parquet(out_path)
    return {"seconds": secs, "peak_mb": peak, "data_mb": data_mb, "per_step": per_step,
            "rows": len(res)}


def _child_compare(ours: str, theirs: str) -> dict:
    """rfm_summary vs lifetimes: exact on counts and periods, 1e-9 relative on money."""
    import numpy as np
    import pandas as pd

    a = pd.read_parquet(ours)
    b = pd.read_parquet(theirs)
    same_ids = a["customer_id"].tolist() == b["customer_id"].tolist()
    exact = bool(same_ids and all((a[c].to_numpy() == b[c].to_numpy()).all()
                                  for c in ("frequency", "recency", "T")))
    m_a, m_b = a["monetary_value"].to_numpy(), b["monetary_value"].to_numpy()
    rel = float(np.max(np.abs(m_a - m_b) / np.maximum(np.abs(m_b), 1e-12))) if same_ids \
        else float("nan")
    return {"customers": len(a), "same": exact and rel <= 1e-9, "max_rel_monetary": rel}


def _run_child(args: list[str], python: str | None = None) -> dict:
    return run_child(__file__, args, python)


# --------------------------------------------------------------------------- report


def _lifetimes_python(arg: str | None) -> str | None:
    """The interpreter that can import lifetimes: this one, ``arg``, or none."""
    try:
        import lifetimes  # noqa: F401

        return sys.executable
    except Exception:  # noqa: BLE001 - lifetimes fails in many ways on new pandas
        pass
    return arg


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0], STEPS)
    p.add_argument("--lifetimes-python", default=None,
                   help="interpreter with lifetimes installed, when this one has none")
    args = p.parse_args(argv)

    if args.child:  # one measured step in a fresh process
        return run_child_step(args.child, _child_compare, _child_step)

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    steps = [s for s in args.steps.split(",") if s.strip()]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        p.error(f"unknown steps {unknown}; use {list(STEPS)}")
    lt_python = _lifetimes_python(args.lifetimes_python)
    if "lifetimes/pandas" in steps and lt_python is None:
        print("lifetimes is not importable and --lifetimes-python was not given: "
              "skipping the lifetimes rows", file=sys.stderr)
        steps.remove("lifetimes/pandas")

    tmp = None
    if args.workdir:
        workdir = Path(args.workdir)
    else:
        tmp = tempfile.mkdtemp(prefix="crm-bench-features-")
        workdir = Path(tmp)
    try:
        meta_path = workdir / "prepared.json"
        prepared = json.loads(meta_path.read_text()) if args.keep and meta_path.exists() \
            else None
        key = [args.base_scale, args.stores, args.seed]
        if not prepared or prepared.get("key") != key or not all(
                str(n) in prepared["sizes"] for n in sizes):
            print(f"generating ~{args.base_scale * 282_000:,.0f} orders and tiling "
                  f"{sizes} into {workdir} ...", file=sys.stderr)
            prepared = _run_child(["prepare", str(workdir), ",".join(map(str, sizes)),
                                   str(args.stores), str(args.seed), str(args.base_scale)])
            prepared["key"] = key
            meta_path.write_text(json.dumps(prepared))
        as_of = prepared["as_of"]

        rows = []
        checks = []
        lt_version = ""
        per_step = True
        for n in sizes:
            folder = workdir / f"x{n}"
            info = prepared["sizes"][str(n)]
            results = {}
            for step in steps:
                print(f"  x{n} {step} ...", file=sys.stderr)
                out_path = "-"
                if step in ("rfm_summary/polars", "lifetimes/pandas"):
                    out_path = str(workdir / f"rfm_x{n}_{step.split('/')[0]}.parquet")
                python = lt_python if step.startswith("lifetimes") else None
                r = _run_child([step, str(folder), as_of, out_path, str(args.repeat)], python)
                results[step] = (r, out_path)
                per_step = per_step and r["per_step"]
                lt_version = r.get("version", lt_version)
                rows.append((step, n, info["orders"], r))
            if "rfm_summary/polars" in results and "lifetimes/pandas" in results:
                c = _run_child(["compare", results["rfm_summary/polars"][1],
                                results["lifetimes/pandas"][1]])
                checks.append((n, info["orders"], c))
    finally:
        if tmp and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"### bench_features: as of {as_of}, 24-month window, base group "
          f"{args.stores} stores × scale {args.base_scale:g}, seed {args.seed} "
          f"(generated in {prepared['generate_s']:.0f} s)\n")
    print(f"Machine: {_machine()}  ")
    print(f"Software: {_versions()}" + (f"; lifetimes run with {lt_version}" if lt_version
                                        else "") + "\n")
    print("| step | input | orders | customers out | seconds | orders/s | data MB | peak MB |")
    print("|:-----|:------|-------:|--------------:|--------:|---------:|--------:|--------:|")
    for step, n, orders, r in rows:
        func, engine = step.split("/")
        name = {"features": "customer_features", "lifetimes": "lifetimes summary"}.get(
            func, func)
        rate = orders / r["seconds"] if r["seconds"] > 0 else float("inf")
        print(f"| {name} ×{n} | {engine} | {orders:,} | {r['rows']:,} | {r['seconds']:.2f} "
              f"| {rate:,.0f} | {r['data_mb']:,.0f} | {r['peak_mb']:,.0f} |")
    note = "reset before each run" if per_step else "process-wide (not resettable here)"
    print(f"\nseconds: fastest of {args.repeat} run(s) in one process; data MB: resident "
          f"set after loading the input; peak MB: high-water mark during a run ({note}); "
          "both include the interpreter and libraries. polars-lazy reads the parquet file "
          "inside the measured step.")
    for n, orders, c in checks:
        verdict = ("equal: same customers, frequency, recency and T" if c["same"]
                   else "DIFFERENT")
        print(f"\nrfm_summary vs lifetimes ×{n} ({orders:,} orders, {c['customers']:,} "
              f"customers): {verdict}; monetary_value within "
              f"{c['max_rel_monetary']:.1e} relative.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

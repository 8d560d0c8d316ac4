#!/usr/bin/env python
"""One-table scale benchmark: 1M, 10M and 30M orders on pandas, Polars and DuckDB.

For every size (``--sizes``, millions of orders) and engine (pandas; Polars lazy from
``pl.scan_parquet``; DuckDB relations from ``duckdb.read_parquet``, which the functions
take through narwhals) it times, each in a fresh process:

- ``load``: the orders, vehicles and customers parquet files, every column, read into the
  engine (pandas ``read_parquet``; Polars ``scan_parquet(...).collect()``; DuckDB
  ``CREATE TABLE ... AS SELECT * FROM read_parquet(...)`` in an in-memory database);
- ``customer_features``: :func:`crm_analysis.features.customer_features` (24-month window,
  with the vehicles and customers tables), result collected;
- ``rfm_summary``: :func:`crm_analysis.features.rfm_summary` (daily periods), collected;
- ``retention``: :func:`crm_analysis.retention.retention_by_vehicle_age` at the as-of date
  plus :func:`crm_analysis.retention.annual_average` over the last full year;
- ``defection + KM``: :func:`crm_analysis.survival.defection_table` at the as-of date,
  converted to pandas, then :func:`crm_analysis.survival.survival_by_vehicle_age`;
- ``floor``: a bare Polars ``scan_parquet(orders).group_by("customer_id")
  .agg(pl.col("total_amount").sum()).collect()``, the hardware floor: every row's
  "× floor" is its seconds divided by the floor's seconds at the same size.

plus lifetimes' ``summary_data_from_transaction_data`` on the 1M orders (outputs checked
against ``rfm_summary``), and ``BetaGeoModel.fit`` against lifetimes' ``BetaGeoFitter``
on CDNOW and on ~1M customers. It prints ONE markdown table (step | size | engine |
seconds | × floor | peak MB | note) headed by the machine, then the issue's targets,
met or not met; ``--json`` writes the same rows as JSON.

pandas input is read from parquet before the clock starts (only the columns the function
uses; the ``load`` row gives the cost of reading); Polars and DuckDB input is lazy, so
their measured steps include reading parquet, as the floor does. Seconds are the fastest
of ``--repeat`` runs in one process (default 3 at 1M, 1 above); peak MB is the resident-set
high-water mark of a run (reset before it), interpreter, libraries and input included.

A step that fails prints "error: <message>"; a process that goes over ``--max-mb``
(default: the available memory minus 2 GB) or is killed by the kernel prints "out of
memory"; a step whose memory, extrapolated linearly from the previous size, would not fit prints
"skipped (needs ~N GB)", one that would run past ``--timeout`` "skipped (would take ~N
min)". The table always prints.

Data: one generated group of ~1M orders (``generate(n_stores=3, seed=2026,
scale=3.55)``) tiled n times (``common.child_prepare``; tile k > 0 gets ``-k`` appended to
its ids), written once into ``--workdir`` (default ``benchmarks/.work``, git-ignored by a
``.gitignore`` it writes there) and reused by later runs.

Usage
-----
    .venv/bin/python benchmarks/bench_scale.py                     # 1M orders (make bench)
    .venv/bin/python benchmarks/bench_scale.py --sizes 1,10,30 --json scale.json
    .venv/bin/python benchmarks/bench_scale.py --engines pandas,polars --steps rfm_summary
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the columns each retention step reads: the same as bench_retention.py's
from bench_retention import (
    DEFECTION_CUSTOMERS,
    DEFECTION_ORDERS,
    DEFECTION_VEHICLES,
    RETENTION_ORDERS,
    RETENTION_VEHICLES,
)
from common import (
    MARK,
    TABLES,
    child_prepare,
    machine,
    measure,
    proc_mb,
    rss_mb,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_WORKDIR = HERE / ".work"
DEFAULT_LT_PYTHON = "/tmp/ltvenv/bin/python"

ENGINES = ("pandas", "polars", "duckdb")
STEPS = ("load", "customer_features", "rfm_summary", "retention", "defection_km")
STEP_NAMES = {"floor": "floor (Polars group-by sum)", "load": "load",
              "customer_features": "customer_features", "rfm_summary": "rfm_summary",
              "retention": "retention by age + annual", "defection_km": "defection + KM",
              "lifetimes": "rfm: lifetimes summariser"}
ANALYSIS_STEPS = ("customer_features", "rfm_summary", "retention", "defection_km")

# the columns each function reads (as in bench_features.py and bench_retention.py)
FEATURE_ORDERS = ["customer_id", "vin", "open_date", "ro_type", "payer", "labor_amount",
                  "parts_amount", "other_amount", "total_amount", "labor_cost",
                  "parts_cost", "mileage_km"]
FEATURE_VEHICLES = ["vin", "sale_date", "model", "grade", "usage"]
FEATURE_CUSTOMERS = ["customer_id", "customer_type", "occupation", "region"]
RFM_ORDERS = ["customer_id", "open_date", "total_amount"]

MB_HEADROOM = 2000  # MB of available memory left to others (the machine is shared)


# =========================================================================== children
# Everything below up to the parent section runs in a fresh process (``--child``). The
# lifetimes children run under another interpreter, so only the standard library and
# ``common`` are imported at module level.


def _year(as_of: str) -> int:
    """The last calendar year that ends on or before ``as_of``."""
    y, m, d = (int(x) for x in as_of[:10].split("-"))
    return y if (m, d) == (12, 31) else y - 1


def _reader(engine: str, folder: Path):
    """``read(table, columns)``: pandas frame (read now) or a lazy Polars/DuckDB frame."""
    if engine == "pandas":
        import pandas as pd

        return lambda t, cols: pd.read_parquet(folder / f"{t}.parquet", columns=cols)
    if engine == "polars":
        import polars as pl

        return lambda t, cols: pl.scan_parquet(folder / f"{t}.parquet").select(cols)
    if engine == "duckdb":
        import duckdb

        return lambda t, cols: duckdb.read_parquet(str(folder / f"{t}.parquet")).select(*cols)
    raise ValueError(f"unknown engine {engine!r}")


def _collect(x):
    """A concrete frame (pandas, Polars or pyarrow) from any frame a function returns."""
    mod = type(x).__module__
    if mod.startswith("pandas"):
        return x
    if mod.startswith("polars"):
        return x.collect() if hasattr(x, "collect") else x
    if mod.startswith("duckdb"):
        return x.fetch_arrow_table()
    import narwhals as nw

    frame = nw.from_native(x)
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect()
    return frame.to_native()


def _to_pandas(x):
    x = _collect(x)
    return x if type(x).__module__.startswith("pandas") else x.to_pandas()


def _child_step(step: str, engine: str, folder: Path, as_of: str, repeat: int,
                out_path: str | None) -> dict:
    """One measured step; returns seconds, peak MB, base MB (after imports), rows."""
    import polars as pl

    import crm_analysis.features as features
    import crm_analysis.retention as retention
    import crm_analysis.survival as survival

    if engine == "duckdb":
        import duckdb  # noqa: F401
    if step == "defection_km":
        try:  # the Kaplan-Meier fit imports lifelines on first use: not timed
            import lifelines  # noqa: F401
        except ImportError:
            pass
    base_mb = rss_mb()
    t0 = time.perf_counter()  # after the imports: reading the input and the runs
    read = _reader(engine, folder) if step not in ("floor", "load") else None
    count = len  # rows of the result

    if step == "floor":
        path = folder / "repair_orders.parquet"

        def run():
            return (pl.scan_parquet(path).group_by("customer_id")
                    .agg(pl.col("total_amount").sum()).collect())
    elif step == "load":
        paths = {t: folder / f"{t}.parquet" for t in TABLES}
        if engine == "pandas":
            import pandas as pd

            def run():
                return {t: pd.read_parquet(p) for t, p in paths.items()}
        elif engine == "polars":
            def run():
                return {t: pl.scan_parquet(p).collect() for t, p in paths.items()}
        else:
            import duckdb

            def run():
                con = duckdb.connect()  # in-memory; released with the result
                for t, p in paths.items():
                    con.execute(f"CREATE TABLE {t} AS SELECT * FROM read_parquet('{p}')")
                return con

        def count(res):
            if engine == "duckdb":
                return res.execute("SELECT count(*) FROM repair_orders").fetchone()[0]
            return len(res["repair_orders"])
    elif step == "customer_features":
        orders = read("repair_orders", FEATURE_ORDERS)
        vehicles = read("vehicles", FEATURE_VEHICLES)
        customers = read("customers", FEATURE_CUSTOMERS)

        def run():
            return _collect(features.customer_features(orders, vehicles, customers,
                                                       as_of=as_of))
    elif step == "rfm_summary":
        orders = read("repair_orders", RFM_ORDERS)

        def run():
            return _collect(features.rfm_summary(orders, "customer_id", "open_date",
                                                 "total_amount", as_of=as_of))
    elif step == "retention":
        data = {"repair_orders": read("repair_orders", RETENTION_ORDERS),
                "vehicles": read("vehicles", RETENTION_VEHICLES)}
        year = _year(as_of)

        def run():
            return (_collect(retention.retention_by_vehicle_age(data, as_of=as_of)),
                    _collect(retention.annual_average(data, year)))

        def count(res):
            return f"{len(res[0])} + {len(res[1])}"
    elif step == "defection_km":
        data = {"repair_orders": read("repair_orders", DEFECTION_ORDERS),
                "vehicles": read("vehicles", DEFECTION_VEHICLES),
                "customers": read("customers", DEFECTION_CUSTOMERS)}

        def run():
            table = _to_pandas(survival.defection_table(data, as_of=as_of))
            return table, survival.survival_by_vehicle_age(table)

        def count(res):
            return len(res[0])
    else:
        raise ValueError(f"unknown step {step!r}")

    data_mb = rss_mb()
    res, secs, peak, per_step = measure(run, repeat)
    rows = count(res)
    work_s = time.perf_counter() - t0
    if out_path:
        _to_pandas(res).to_parquet(out_path, index=False)
    return {"seconds": secs, "peak_mb": peak, "base_mb": base_mb, "data_mb": data_mb,
            "per_step": per_step, "rows": rows, "work_s": work_s}


def _child_compare(ours: str, theirs: str) -> dict:
    """rfm_summary vs lifetimes: same customers in the same order, max abs differences."""
    import numpy as np
    import pandas as pd

    a, b = pd.read_parquet(ours), pd.read_parquet(theirs)
    same_ids = len(a) == len(b) and a["customer_id"].tolist() == b["customer_id"].tolist()
    diff = {}
    for c in ("frequency", "recency", "T", "monetary_value"):
        if same_ids:
            x = a[c].to_numpy(dtype=float)
            y = b[c].to_numpy(dtype=float)
            diff[c] = float(np.max(np.abs(x - y))) if len(x) else 0.0
    return {"customers": len(a), "customers_lifetimes": len(b), "same_ids": same_ids,
            "max_abs": diff}


def _child_btyd_cdnow(workdir: str, repeat: int) -> dict:
    """Our BG/NBD fits on the CDNOW inputs of bench_btyd.py (median of ``repeat``)."""
    import bench_btyd

    files = bench_btyd._inputs(Path(workdir))
    ours = bench_btyd._ours(files, repeat)
    return {"files": {k: str(v) for k, v in files.items()},
            "ours": {k: v for k, v in ours.items() if k.startswith("bg")}}


def _child_btyd_big(folder: str, as_of: str, copies: int, out: str, repeat: int) -> dict:
    """rfm_summary of the ×1 orders repeated ``copies`` times, then BetaGeoModel.fit."""
    import numpy as np
    import pandas as pd
    import polars as pl

    from crm_analysis.btyd import BetaGeoModel
    from crm_analysis.features import rfm_summary

    # weeks measured to the day (in days lifetimes' BFGS stops with "precision loss")
    s = rfm_summary(pl.scan_parquet(Path(folder) / "repair_orders.parquet")
                    .select(RFM_ORDERS), "customer_id", "open_date", None, as_of=as_of,
                    freq="D", freq_multiplier=7).collect()
    d = pd.DataFrame({c: np.tile(s[c].to_numpy().astype(float), copies)
                      for c in ("frequency", "recency", "T")})
    d.to_parquet(out, index=False)
    del s
    gc.collect()
    distinct = len(d.drop_duplicates())
    model, secs, peak, _ = measure(
        lambda: BetaGeoModel().fit(d["frequency"], d["recency"], d["T"]), repeat)
    return {"seconds": secs, "peak_mb": peak, "customers": len(d), "distinct": distinct,
            "params": {k: float(v) for k, v in model.params_.items()},
            "ll": float(model.log_likelihood_)}


def _child_btyd_big_lifetimes(path: str, repeat: int) -> dict:
    """lifetimes' BetaGeoFitter on the same arrays (under the lifetimes interpreter)."""
    import warnings

    import lifetimes
    import pandas as pd
    from lifetimes import BetaGeoFitter

    warnings.simplefilter("ignore")
    d = pd.read_parquet(path)
    model, secs, peak, _ = measure(
        lambda: BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"]), repeat)
    return {"seconds": secs, "peak_mb": peak, "customers": len(d),
            "params": {k: float(v) for k, v in model.params_.items()},
            "version": f"lifetimes {lifetimes.__version__}, pandas {pd.__version__}"}


def _child(argv: list[str]) -> int:
    kind, *rest = argv
    try:
        if kind == "prepare":
            workdir, sizes, stores, seed, scale = rest
            out = child_prepare(Path(workdir), [int(s) for s in sizes.split(",")],
                                int(stores), int(seed), float(scale))
        elif kind == "step":
            step, engine, folder, as_of, repeat, out_path = rest
            out = _child_step(step, engine, Path(folder), as_of, int(repeat),
                              None if out_path == "-" else out_path)
        elif kind == "compare":
            out = _child_compare(*rest)
        elif kind == "btyd-cdnow":
            out = _child_btyd_cdnow(rest[0], int(rest[1]))
        elif kind == "btyd-big":
            folder, as_of, copies, path, repeat = rest
            out = _child_btyd_big(folder, as_of, int(copies), path, int(repeat))
        elif kind == "btyd-big-lifetimes":
            out = _child_btyd_big_lifetimes(rest[0], int(rest[1]))
        else:
            raise ValueError(f"unknown child {kind!r}")
    except MemoryError as exc:
        out = {"error": f"MemoryError: {exc}", "oom": True}
    except Exception as exc:  # noqa: BLE001 - the parent prints it in the table
        import traceback

        traceback.print_exc()
        out = {"error": f"{type(exc).__name__}: {exc}",
               "oom": "out of memory" in str(exc).lower()}
    print(MARK + json.dumps(out), flush=True)
    return 0


# =========================================================================== parent


def _meminfo_mb(field: str = "MemAvailable:") -> float | None:
    return proc_mb("/proc/meminfo", field)


def _pid_rss_mb(pid: int) -> float | None:
    return proc_mb(f"/proc/{pid}/status", "VmRSS:")


def _short(text: str, limit: int = 150) -> str:
    text = " ".join(str(text).split()).replace("|", "/")
    return text if len(text) <= limit else text[: limit - 1] + "…"


OOM_SIGNS = ("MemoryError", "memory allocation of", "Out of Memory", "OutOfMemory",
             "Cannot allocate memory", "std::bad_alloc")


def _spawn(args: list[str], *, budget_mb: float | None, timeout: float | None,
           python: str | None = None, script: Path | None = None,
           env: dict | None = None, cwd: Path | None = None) -> dict:
    """Run ``script --child *args`` in a fresh process, watching its memory.

    Returns the child's JSON result with ``status`` "ok", or ``{"status": "error" |
    "oom", "message": ...}``: the child raised, went over ``budget_mb`` (killed here),
    was killed by the kernel (SIGKILL: the OOM killer), or ran past ``timeout``. The
    child runs in ``cwd`` (the work folder: DuckDB spills to ``.tmp`` there).
    """
    cmd = [python or sys.executable, str(script or Path(__file__).resolve()), "--child",
           *args]
    killed = None
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                text=True, cwd=cwd or HERE,
                                env={**os.environ, **(env or {})})
        t0 = time.monotonic()
        seen = 0.0
        while proc.poll() is None:
            rss = _pid_rss_mb(proc.pid) or 0.0
            seen = max(seen, rss)
            if budget_mb and rss > budget_mb:
                proc.kill()
                killed = "oom"
            elif timeout and time.monotonic() - t0 > timeout:
                proc.kill()
                killed = "timeout"
            time.sleep(0.05)
        code = proc.wait()
        wall = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    result = None
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARK):
            result = json.loads(line[len(MARK):])
            break
    if killed == "oom":
        return {"status": "oom", "message": f"out of memory (over the {budget_mb:,.0f} MB "
                f"guard; killed at {seen:,.0f} MB)"}
    if killed == "timeout":
        return {"status": "error", "message": f"error: timeout after {timeout:g} s"}
    if result is not None and "error" not in result:
        return {"status": "ok", "wall_s": wall, **result}
    if result is not None:
        if result.get("oom"):
            return {"status": "oom", "message": f"out of memory ({_short(result['error'])})"}
        return {"status": "error", "message": f"error: {_short(result['error'])}"}
    if code == -signal.SIGKILL:
        return {"status": "oom", "message": f"out of memory (killed by SIGKILL at about "
                f"{seen:,.0f} MB: the kernel's OOM killer?)"}
    if any(s in stderr for s in OOM_SIGNS):
        return {"status": "oom", "message": "out of memory (allocation failed)"}
    tail = [ln for ln in stderr.splitlines() if ln.strip()]
    msg = tail[-1] if tail else f"exit code {code}"
    return {"status": "error", "message": f"error: {_short(msg)} (exit code {code})"}


def _budget(max_mb: float) -> float:
    """MB a child may use: the available memory minus the headroom, at most --max-mb."""
    avail = _meminfo_mb()
    budget = (avail - MB_HEADROOM) if avail else float("inf")
    return min(budget, max_mb) if max_mb > 0 else budget


def _prepare(args, workdir: Path, sizes: list[int], budget_mb: float) -> dict:
    """Generate and tile the data unless ``workdir`` already holds it (prepared.json)."""
    workdir.mkdir(parents=True, exist_ok=True)
    ignore = workdir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# benchmark data made by bench_scale.py\n*\n")
    meta_path = workdir / "prepared.json"
    key = [args.base_scale, args.stores, args.seed]
    prepared = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if prepared.get("key") != key:
        prepared = {"key": key, "sizes": {}}
    missing = [n for n in sizes if str(n) not in prepared["sizes"] or not all(
        (workdir / f"x{n}" / f"{t}.parquet").exists() for t in TABLES)]
    if missing:
        print(f"generating ~{args.base_scale * 282_000:,.0f} orders and tiling ×"
              f"{','.join(map(str, missing))} into {workdir} ...", file=sys.stderr)
        r = _spawn(["prepare", str(workdir), ",".join(map(str, missing)), str(args.stores),
                    str(args.seed), str(args.base_scale)], budget_mb=budget_mb,
                   timeout=None)
        if r["status"] != "ok":
            raise SystemExit(f"data preparation failed: {r['message']}")
        if prepared.get("as_of") not in (None, r["as_of"]):
            prepared["sizes"] = {}  # the generator changed: older tilings are stale
        prepared["as_of"] = r["as_of"]
        prepared["generate_s"] = r["generate_s"]
        prepared["sizes"].update(r["sizes"])
        meta_path.write_text(json.dumps(prepared, indent=1))
    return prepared


def _lifetimes_python(arg: str | None) -> str | None:
    if arg == "":
        return None
    if arg:
        return arg if Path(arg).exists() else None
    return DEFAULT_LT_PYTHON if Path(DEFAULT_LT_PYTHON).exists() else None


def _fmt_s(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s:.3f}" if s < 0.1 else f"{s:.2f}" if s < 100 else f"{s:,.0f}"


def _fmt_duration(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"


def _fmt_params(p: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in p.items())


def _versions() -> str:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = [f"Python {platform.python_version()}"]
    for name in ("numpy", "pandas", "polars", "duckdb", "narwhals", "pyarrow", "scipy",
                 "lifelines"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} not installed")
    return ", ".join(out)


def _size_label(orders: int) -> str:
    return f"{orders / 1e6:.3g}M"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1",
                   help="comma-separated tilings of the ~1M-order group, i.e. millions of "
                        "orders (default 1; the issue's run: 1,10,30)")
    p.add_argument("--engines", default=",".join(ENGINES),
                   help=f"comma-separated engines (default {','.join(ENGINES)})")
    p.add_argument("--steps", default=",".join(STEPS),
                   help=f"comma-separated steps (default {','.join(STEPS)}; the floor "
                        "always runs)")
    p.add_argument("--repeat", type=int, default=None,
                   help="runs per step, fastest reported (default 3 at 1M, 1 above)")
    p.add_argument("--workdir", default=str(DEFAULT_WORKDIR),
                   help="folder for the parquet files, reused by later runs "
                        "(default benchmarks/.work)")
    p.add_argument("--base-scale", type=float, default=3.55,
                   help="generator scale of the base group (default 3.55: ~1M orders)")
    p.add_argument("--stores", type=int, default=3, help="stores (default 3)")
    p.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    p.add_argument("--max-mb", type=float, default=0,
                   help="kill a step's process above this resident size, in MB (default 0: "
                        "the available memory minus 2 GB)")
    p.add_argument("--timeout", type=float, default=1800,
                   help="seconds before a step's process is stopped; a step whose time, "
                        "extrapolated from the previous size, is longer is skipped "
                        "(default 1800)")
    p.add_argument("--lifetimes-python", default=None,
                   help=f"interpreter with lifetimes 0.11.3 (default {DEFAULT_LT_PYTHON} "
                        "if it exists; '' to skip the lifetimes rows)")
    p.add_argument("--btyd-copies", type=int, default=10,
                   help="BG/NBD fit on the ×1 RFM summary repeated this many times (default "
                        "10: ~1.05M customers, the summary of the 10M orders; 0: skip)")
    p.add_argument("--no-btyd", action="store_true", help="skip the BG/NBD rows")
    p.add_argument("--json", default=None, help="also write the rows as JSON to this file")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        return _child(args.child)

    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    engines = [e for e in args.engines.split(",") if e.strip()]
    steps = [s for s in args.steps.split(",") if s.strip()]
    for given, allowed, what in ((engines, ENGINES, "engines"), (steps, STEPS, "steps")):
        unknown = sorted(set(given) - set(allowed))
        if unknown:
            p.error(f"unknown {what} {unknown}; use {list(allowed)}")
    if not sizes or min(sizes) < 1:
        p.error("--sizes: positive whole numbers, e.g. 1,10,30")
    lt_python = _lifetimes_python(args.lifetimes_python)
    workdir = Path(args.workdir).resolve()
    avail0 = _meminfo_mb()
    try:
        load0 = os.getloadavg()
    except OSError:
        load0 = None
    t_start = time.monotonic()

    prepared = _prepare(args, workdir, sorted(set(sizes) | {1}), _budget(args.max_mb))
    as_of = prepared["as_of"]

    rows: list[dict] = []
    floor_s: dict[int, float] = {}
    last_ok: dict[tuple[str, str], tuple[int, dict]] = {}  # for the memory prediction
    oom_at: dict[tuple[str, str], int] = {}

    def run_step(step: str, engine: str, n: int, out_path: str = "-") -> dict:
        info = prepared["sizes"][str(n)]
        repeat = args.repeat or (3 if n < 10 else 1)
        row = {"step": step, "size": _size_label(info["orders"]), "n": n, "orders": info["orders"],
               "engine": engine, "seconds": None, "x_floor": None, "peak_mb": None,
               "note": ""}
        key = (step, engine)
        budget = _budget(args.max_mb)
        if engine == "duckdb" and importlib.util.find_spec("duckdb") is None:
            row.update(status="skipped", note="skipped (duckdb is not installed)")
            rows.append(row)
            return row
        if key in oom_at:
            row.update(status="skipped",
                       note=f"skipped (out of memory at ×{oom_at[key]})")
            rows.append(row)
            return row
        if key in last_ok:
            m, r = last_ok[key]
            base = r.get("base_mb") or 0.0
            need = base + (r["peak_mb"] - base) * n / m
            if need > budget:
                row.update(status="skipped", predicted_mb=need,
                           note=f"skipped (needs ~{need / 1000:.1f} GB; the limit is "
                                f"{budget / 1000:.1f} GB)")
                rows.append(row)
                return row
            # the process's wall time, its work (input and runs) scaled with the size
            need_s = r["wall_s"] + r["work_s"] * (n / m - 1)
            if args.timeout and need_s > args.timeout:
                row.update(status="skipped", predicted_s=need_s,
                           note=f"skipped (would take ~{_fmt_duration(need_s)}; "
                                f"--timeout {args.timeout:g} s)")
                rows.append(row)
                return row
        print(f"  ×{n} {step} {engine} ...", file=sys.stderr, flush=True)
        r = _spawn(["step", step, engine, str(workdir / f"x{n}"), as_of, str(repeat),
                    out_path], budget_mb=budget, timeout=args.timeout, cwd=workdir)
        row["status"] = r["status"]
        if r["status"] == "ok":
            last_ok[key] = (n, r)
            row.update(seconds=r["seconds"], peak_mb=r["peak_mb"], base_mb=r["base_mb"],
                       data_mb=r["data_mb"], rows_out=r["rows"], repeat=repeat,
                       wall_s=r["wall_s"])
            if n in floor_s and floor_s[n] > 0:
                row["x_floor"] = r["seconds"] / floor_s[n]
        else:
            if r["status"] == "oom":
                oom_at[key] = n
            row["note"] = r["message"]
        rows.append(row)
        return row

    for n in sizes:
        fl = run_step("floor", "polars", n)
        if fl["status"] == "ok":
            floor_s[n] = fl["seconds"]
            fl["x_floor"] = 1.0
            fl["note"] = f"{fl['rows_out']:,} customers"
        for step in steps:
            for engine in engines:
                out_path = "-"
                if step == "rfm_summary" and n == 1 and lt_python:
                    out_path = str(workdir / f"rfm_x1_{engine}.parquet")
                row = run_step(step, engine, n, out_path)
                if row["status"] != "ok":
                    continue
                what = {"load": "orders", "customer_features": "customers",
                        "rfm_summary": "customers", "retention": "rows (age bands)",
                        "defection_km": "relationships"}[step]
                out = row["rows_out"]
                row["note"] = f"{out:,} {what}" if isinstance(out, int) else f"{out} {what}"
                if step == "load":
                    row["note"] = f"{out:,} orders + vehicles + customers, all columns"

        # rfm_summary vs lifetimes' summariser on the same 1M orders (pandas)
        if n == 1 and lt_python and "rfm_summary" in steps:
            print("  ×1 lifetimes summariser ...", file=sys.stderr, flush=True)
            repeat = args.repeat or 3
            lt_out = str(workdir / "rfm_x1_lifetimes.parquet")
            r = _spawn(["lifetimes/pandas", str(workdir / "x1"), as_of, lt_out,
                        str(repeat)], python=lt_python, script=HERE / "bench_features.py",
                       budget_mb=_budget(args.max_mb), timeout=args.timeout)
            row = {"step": "lifetimes", "size": _size_label(prepared["sizes"]["1"]["orders"]),
                   "n": 1,
                   "orders": prepared["sizes"]["1"]["orders"], "engine": "lifetimes",
                   "seconds": None, "x_floor": None, "peak_mb": None,
                   "status": r["status"], "note": r.get("message", "")}
            if r["status"] == "ok":
                row.update(seconds=r["seconds"], peak_mb=r["peak_mb"], rows_out=r["rows"],
                           version=r.get("version", ""), repeat=repeat)
                if floor_s.get(1):
                    row["x_floor"] = r["seconds"] / floor_s[1]
                checks = []
                for ours in rows:
                    if not (ours["step"] == "rfm_summary" and ours["n"] == 1
                            and ours["status"] == "ok"):
                        continue
                    c = _spawn(["compare", str(workdir / f"rfm_x1_{ours['engine']}.parquet"),
                                lt_out], budget_mb=None, timeout=args.timeout)
                    speedup = ours["speedup_vs_lifetimes"] = r["seconds"] / ours["seconds"]
                    ours["note"] += (f"; {speedup:.1f}× faster than lifetimes" if speedup >= 1
                                     else f"; {1 / speedup:.1f}× slower than lifetimes")
                    if c["status"] != "ok":
                        checks.append(f"{ours['engine']}: compare {c['message']}")
                        continue
                    ours["compare_lifetimes"] = c
                    if not c["same_ids"]:
                        checks.append(f"{ours['engine']}: DIFFERENT customers "
                                      f"({c['customers']:,} vs {c['customers_lifetimes']:,})")
                        continue
                    d = c["max_abs"]
                    equal = d["frequency"] == d["recency"] == d["T"] == 0 and \
                        d["monetary_value"] < 1e-6
                    checks.append(f"{ours['engine']} {'equal' if equal else 'DIFFERENT'}"
                                  f" (max abs diff: frequency {d['frequency']:g}, recency "
                                  f"{d['recency']:g}, T {d['T']:g}, monetary "
                                  f"{d['monetary_value']:.1e})")
                row["note"] = (f"{r['rows']:,} customers; rfm_summary vs lifetimes: "
                               + "; ".join(checks))
            rows.append(row)

    # BG/NBD fits: CDNOW (bench_btyd.py's inputs) and ~1M customers
    if not args.no_btyd:
        btyd_dir = workdir / "btyd"
        btyd_dir.mkdir(exist_ok=True)
        print("  BG/NBD fits on CDNOW ...", file=sys.stderr, flush=True)
        r = _spawn(["btyd-cdnow", str(btyd_dir), "5"], budget_mb=_budget(args.max_mb),
                   timeout=args.timeout)
        lt = None
        if r["status"] == "ok" and lt_python:
            lt = _spawn([str(5), json.dumps(r["files"])], python=lt_python,
                        script=HERE / "bench_btyd.py", budget_mb=_budget(args.max_mb),
                        timeout=args.timeout,
                        env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
        for key, label in (("bg_summary", "CDNOW summary"), ("bg_master", "CDNOW master")):
            base = {"step": f"BG/NBD fit, {label}", "size": None, "n": None,
                    "x_floor": None, "peak_mb": None}
            if r["status"] != "ok":
                rows.append({**base, "engine": "crm_analysis", "seconds": None,
                             "status": r["status"], "note": r["message"]})
                continue
            o = r["ours"][key]
            base["size"] = f"{o['n']:,} customers"
            rows.append({**base, "engine": "crm_analysis", "seconds": o["median"],
                         "status": "ok", "params": o["params"],
                         "note": f"median of 5 after a warm-up; {_fmt_params(o['params'])}"})
            if lt is None:
                continue
            if lt["status"] != "ok" or "params" not in lt.get(key, {}):
                msg = lt.get("message") or f"error: {lt.get(key, {}).get('error', 'missing')}"
                rows.append({**base, "engine": "lifetimes", "seconds": None,
                             "status": "error", "note": _short(msg)})
                continue
            q = lt[key]
            rows.append({**base, "engine": "lifetimes", "seconds": q["median"],
                         "status": "ok", "params": q["params"],
                         "note": f"median of 5 after a warm-up; {_fmt_params(q['params'])}; "
                                 f"{q['median'] / o['median']:.1f}× our time"})

        if args.btyd_copies > 0:
            print(f"  BG/NBD fits on the ×1 RFM summary × {args.btyd_copies} ...",
                  file=sys.stderr, flush=True)
            path = str(btyd_dir / f"rfm_x1_times{args.btyd_copies}.parquet")
            rb = _spawn(["btyd-big", str(workdir / "x1"), as_of, str(args.btyd_copies),
                         path, "1"], budget_mb=_budget(args.max_mb), timeout=args.timeout)
            step = "BG/NBD fit, RFM summary"
            base = {"step": step, "size": None, "n": None, "x_floor": None}
            if rb["status"] != "ok":
                rows.append({**base, "engine": "crm_analysis", "seconds": None,
                             "peak_mb": None, "status": rb["status"],
                             "note": rb["message"]})
            else:
                base["size"] = f"{rb['customers']:,} customers"
                rows.append({**base, "engine": "crm_analysis", "seconds": rb["seconds"],
                             "peak_mb": rb["peak_mb"], "status": "ok",
                             "params": rb["params"], "customers": rb["customers"],
                             "note": f"one run; weeks; {rb['distinct']:,} distinct "
                                     f"(x, t_x, T) rows; {_fmt_params(rb['params'])}"})
                if lt_python:
                    rl = _spawn(["btyd-big-lifetimes", path, "1"], python=lt_python,
                                budget_mb=_budget(args.max_mb), timeout=args.timeout,
                                env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
                    if rl["status"] == "ok":
                        rows.append({**base, "engine": "lifetimes", "seconds": rl["seconds"],
                                     "peak_mb": rl["peak_mb"], "status": "ok",
                                     "params": rl["params"],
                                     "note": f"one run; {_fmt_params(rl['params'])}; "
                                             f"{rl['seconds'] / rb['seconds']:.1f}× our time"})
                    else:
                        rows.append({**base, "engine": "lifetimes", "seconds": None,
                                     "peak_mb": None, "status": rl["status"],
                                     "note": rl["message"]})

    targets = _targets(rows, args.btyd_copies)
    elapsed = time.monotonic() - t_start
    _print(args, prepared, sizes, rows, targets, avail0, load0, elapsed, lt_python)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": machine(), "versions": _versions(), "as_of": as_of,
            "sizes": {str(n): prepared["sizes"][str(n)] for n in sizes},
            "mem_available_mb_at_start": avail0, "loadavg_at_start": load0,
            "elapsed_s": elapsed, "rows": rows, "targets": targets}, indent=1))
    return 0


def _find(rows: list[dict], step: str, engine: str, n: int) -> dict | None:
    for r in rows:
        if r["step"] == step and r["engine"] == engine and r.get("n") == n:
            return r
    return None


def _targets(rows: list[dict], copies: int) -> list[dict]:
    """The issue's targets: met / not met / not measured, with the measured figure."""
    out = []

    def add(text: str, met: bool | None, figure: str) -> None:
        out.append({"target": text, "met": met, "figure": figure})

    def missing(r: dict | None, how: str) -> str:
        if r is None:
            return f"not measured ({how})"
        return f"not measured ({r['note'] or r['status']})"

    r = _find(rows, "customer_features", "polars", 10)
    text = "customer_features at 10M orders on Polars within 3× the floor"
    if r and r["x_floor"] is not None:
        add(text, r["x_floor"] <= 3, f"{r['x_floor']:.1f}× floor ({_fmt_s(r['seconds'])} s)")
    else:
        add(text, None, missing(r, "run with --sizes including 10"))

    r = _find(rows, "customer_features", "pandas", 10)
    text = "customer_features at 10M orders on pandas within 10 s"
    if r and r["seconds"] is not None:
        add(text, r["seconds"] <= 10, f"{_fmt_s(r['seconds'])} s")
    else:
        add(text, None, missing(r, "run with --sizes including 10"))

    r = _find(rows, "rfm_summary", "pandas", 1)
    text = "rfm_summary at least 5× faster than lifetimes' summariser at 1M orders (pandas)"
    if r and r.get("speedup_vs_lifetimes"):
        add(text, r["speedup_vs_lifetimes"] >= 5, f"{r['speedup_vs_lifetimes']:.1f}×")
    else:
        add(text, None, missing(r if r and r["status"] != "ok" else None,
                                "needs the 1M size and --lifetimes-python"))

    text = "peak memory under 3 GB at 10M orders on pandas (analysis steps)"
    pd10 = [r for r in rows if r["engine"] == "pandas" and r.get("n") == 10
            and r["step"] in ANALYSIS_STEPS]
    done = [r for r in pd10 if r["peak_mb"] is not None]
    if done:
        worst = max(done, key=lambda r: r["peak_mb"])
        over = [STEP_NAMES[r["step"]] for r in done if r["peak_mb"] >= 3000]
        failed = [STEP_NAMES[r["step"]] for r in pd10 if r["peak_mb"] is None]
        fig = f"max {worst['peak_mb']:,.0f} MB ({STEP_NAMES[worst['step']]})"
        if over:
            fig += f"; 3 GB or more: {', '.join(over)}"
        if failed:
            fig += f"; not measured: {', '.join(failed)}"
        load = _find(rows, "load", "pandas", 10)
        if load and load["peak_mb"] is not None:
            fig += f"; load (all columns) {load['peak_mb']:,.0f} MB"
        add(text, False if over else None if failed else True, fig)
    else:
        add(text, None, "not measured (run with --sizes including 10)")

    text = "BetaGeoModel.fit under 5 s at 1M customers"
    r = next((r for r in rows if r["step"] == "BG/NBD fit, RFM summary"
              and r["engine"] == "crm_analysis"), None)
    if r and r["seconds"] is not None:
        n = r.get("customers", 0)
        ok = r["seconds"] < 5 if n >= 1_000_000 else None
        fig = f"{_fmt_s(r['seconds'])} s on {n:,} customers"
        add(text, ok, fig if ok is not None else fig + " (fewer than 1M: --btyd-copies 10)")
    else:
        add(text, None, missing(r, "--btyd-copies 0 or --no-btyd"))
    return out


def _print(args, prepared, sizes, rows, targets, avail0, load0, elapsed, lt_python) -> None:
    print(f"### bench_scale: as of {prepared['as_of']}; base group {args.stores} stores × "
          f"scale {args.base_scale:g}, seed {args.seed}, tiled\n")
    print(f"Machine: {machine()}  ")
    mem = f"{avail0 / 1000:.1f} GB available" if avail0 else "available memory unknown"
    load = (f", load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}" if load0
            else "")
    print(f"At start: {mem}{load}  ")
    lt_version = next((r.get("version") for r in rows if r.get("version")), None)
    print(f"Software: {_versions()}"
          + (f"; lifetimes run with {lt_version} ({lt_python})" if lt_version else "")
          + "  ")
    print("Sizes: " + "; ".join(
        f"×{n} = {prepared['sizes'][str(n)]['orders']:,} orders, "
        f"{prepared['sizes'][str(n)]['customers']:,} customers "
        f"({prepared['sizes'][str(n)]['mb_on_disk']:,.0f} MB parquet)" for n in sizes) + "\n")
    print("| step | size | engine | seconds | × floor | peak MB | note |")
    print("|:-----|:-----|:-------|--------:|--------:|--------:|:-----|")
    for r in rows:
        xf = f"{r['x_floor']:.1f}" if r.get("x_floor") is not None else "—"
        pk = f"{r['peak_mb']:,.0f}" if r.get("peak_mb") is not None else "—"
        print(f"| {STEP_NAMES.get(r['step'], r['step'])} | {r['size'] or '—'} "
              f"| {r['engine']} | {_fmt_s(r['seconds'])} | {xf} | {pk} "
              f"| {_short(r['note'], 400)} |")
    base = [r["base_mb"] for r in rows if r.get("base_mb")]
    repeat = (f"fastest of {args.repeat} run(s)" if args.repeat
              else "fastest of 3 runs at 1M, one run above")
    print(f"\nseconds: {repeat} in a fresh process per row; pandas input is read before "
          "the clock (the load row is that cost), Polars and DuckDB input is lazy "
          "(their rows include reading parquet, as the floor does). × floor: seconds / the "
          "floor's seconds at the same size. peak MB: resident-set high-water mark of the "
          "run, the interpreter and libraries"
          + (f" (~{min(base):,.0f}–{max(base):,.0f} MB)" if base else "")
          + " and the input included. "
          f"Total run time {elapsed / 60:.1f} min (data preparation included).")
    print("\nTargets:\n")
    for t in targets:
        verdict = {True: "met", False: "NOT MET", None: "not measured"}[t["met"]]
        fig = t["figure"]
        if fig.startswith("not measured"):
            fig = fig[len("not measured"):].strip()
            print(f"- {t['target']}: **{verdict}** {fig}")
        else:
            print(f"- {t['target']}: **{verdict}**: {fig}")


if __name__ == "__main__":
    sys.exit(main())

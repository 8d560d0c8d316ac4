#!/usr/bin/env python
"""Benchmark the synthetic-data generator and the parquet round trip.

Times :func:`crm_analysis.synth.generate` for a 3-store group at several scales, then
:meth:`Dataset.to_dir` and :meth:`Dataset.from_dir` (parquet) on the result, and prints
one markdown table (step, orders, seconds, orders/s, peak MB) under a heading that
describes the machine. Nothing is asserted: the numbers are for reading and comparing.

Each scale runs in fresh subprocesses so that the steps do not share memory. The peak
is the resident-set high-water mark of that process during the step; it includes the
interpreter and the imported libraries (their size is printed below the table). On
Linux the mark is reset just before the step (``/proc/self/clear_refs``), elsewhere it
falls back to ``getrusage`` and then covers the whole process, so the to_dir row
also includes the generation before it.

Usage
-----
    python benchmarks/bench_synth.py                   # scales 0.25, 1, 2; 3 stores
    python benchmarks/bench_synth.py --scales 0.1,0.5 --stores 1
    make bench
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MARK = "BENCH_JSON "


# --------------------------------------------------------------------------- memory


def _reset_peak() -> bool:
    """Reset the RSS high-water mark of this process (Linux >= 4.0); True on success."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_mb(reset_ok: bool) -> float:
    """Peak resident set size of this process, in MB (10**6 bytes)."""
    if reset_ok:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # kilobytes on Linux, bytes on macOS
    return maxrss / 1e6 if sys.platform == "darwin" else maxrss * 1024 / 1e6


def _rss_mb() -> float:
    """Current resident set size in MB (Linux), else the peak so far."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return _peak_mb(False)


def _measure(fn):
    """Run ``fn()``; return (result, seconds, peak MB, peak_is_per_step)."""
    gc.collect()
    reset_ok = _reset_peak()
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    return result, seconds, _peak_mb(reset_ok), reset_ok


# --------------------------------------------------------------------------- child steps


def _warm_imports() -> None:
    """Import what the steps use, so that no step is charged for an import."""
    import pyarrow.parquet  # noqa: F401

    import crm_analysis.schema  # noqa: F401
    import crm_analysis.synth  # noqa: F401


def _child_generate_and_write(scale: float, stores: int, seed: int, folder: Path) -> dict:
    from crm_analysis.synth import generate

    _warm_imports()
    baseline = _rss_mb()
    ds, gen_s, gen_mb, per_step = _measure(lambda: generate(n_stores=stores, seed=seed,
                                                            scale=scale))
    _, write_s, write_mb, _ = _measure(lambda: ds.to_dir(folder, format="parquet"))
    size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
    return {
        "orders": len(ds.repair_orders),
        "vehicles": len(ds.vehicles),
        "baseline_mb": baseline,
        "per_step": per_step,
        "generate": [gen_s, gen_mb],
        "to_dir": [write_s, write_mb],
        "size_mb": size_mb,
        "period": f"{ds.meta['start']} to {ds.meta['as_of']}",
    }


def _child_read(folder: Path) -> dict:
    from crm_analysis.schema import Dataset

    _warm_imports()
    ds, read_s, read_mb, _ = _measure(lambda: Dataset.from_dir(folder))
    return {"orders": len(ds.repair_orders), "from_dir": [read_s, read_mb]}


def _run_child(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"benchmark step failed: {' '.join(args)}")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise SystemExit(f"benchmark step printed no result: {' '.join(args)}")


# --------------------------------------------------------------------------- report


def _machine() -> str:
    cores = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = cores
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        mem = f"{mem_gb:.1f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        mem = "RAM unknown"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    core_text = f"{cores} cores" + (f" ({usable} usable)" if usable != cores else "")
    return f"{core_text}, {mem}, {cpu}, {platform.system()} {platform.release()}"


def _versions() -> str:
    import numpy
    import pandas
    import pyarrow

    return (f"Python {platform.python_version()}, numpy {numpy.__version__}, "
            f"pandas {pandas.__version__}, pyarrow {pyarrow.__version__}")


def _scale_text(x: float) -> str:
    return f"{x:g}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scales", default="0.25,1,2",
                   help="comma-separated generator scales (default 0.25,1,2)")
    p.add_argument("--stores", type=int, default=3, help="number of stores (default 3)")
    p.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:  # one measured step in a fresh process
        kind, *rest = args.child
        if kind == "write":
            scale, stores, seed, folder = rest
            out = _child_generate_and_write(float(scale), int(stores), int(seed),
                                            Path(folder))
        else:
            out = _child_read(Path(rest[0]))
        print(MARK + json.dumps(out))
        return 0

    scales = [float(s) for s in args.scales.split(",") if s.strip()]
    rows: list[tuple[str, int, float, float]] = []
    baseline = None
    period = ""
    per_step = True
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
        for scale in scales:
            folder = Path(tmp) / f"scale_{_scale_text(scale)}"
            w = _run_child(["write", str(scale), str(args.stores), str(args.seed),
                            str(folder)])
            r = _run_child(["read", str(folder)])
            baseline = w["baseline_mb"] if baseline is None else baseline
            period = w["period"]
            per_step = per_step and w["per_step"]
            s = _scale_text(scale)
            n = w["orders"]
            rows.append((f"generate ×{s} ({w['vehicles']:,} vehicles)", n, *w["generate"]))
            rows.append((f"to_dir parquet ×{s} ({w['size_mb']:.1f} MB on disk)", n,
                         *w["to_dir"]))
            rows.append((f"from_dir parquet ×{s}", r["orders"], *r["from_dir"]))

    print(f"### bench_synth: {args.stores} stores, seed {args.seed}, {period}\n")
    print(f"Machine: {_machine()}  ")
    print(f"Software: {_versions()}\n")
    print("| step | orders | seconds | orders/s | peak MB |")
    print("|:-----|-------:|--------:|---------:|--------:|")
    for step, n, secs, peak in rows:
        rate = n / secs if secs > 0 else float("inf")
        print(f"| {step} | {n:,} | {secs:.2f} | {rate:,.0f} | {peak:,.0f} |")
    note = ("reset before each step" if per_step
            else "not resettable here: a process-wide peak")
    print(f"\nPeak MB: resident-set high-water mark of the process ({note}); "
          f"about {baseline:,.0f} MB of it is the interpreter and libraries.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

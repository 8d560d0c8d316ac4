#!/usr/bin/env python
"""Benchmark the batch report runner: stores x jobs, and what a kernel costs by itself.

Generates one small synthetic group (``--max-stores`` = the largest store count asked
for, ``--scale`` and ``--years`` of history), then times
:func:`crm_analysis.batch.run_batch` over every notebook (``--notebooks``, default all)
in English for the first 1, 3, 12, 30 stores (``--stores``) with 1 and 2 jobs
(``--jobs``), each run from scratch (a fresh output folder). It also times the fixed
cost of a notebook run: a kernel started for an empty notebook (one parameters cell),
and for a notebook that only imports what the report notebooks import (pandas,
matplotlib, crm_analysis), each the median of ``--repeat`` runs, and prints the run time
of each real notebook for the first store (from the 1-store, 1-job batch).

Prints one markdown table headed by the machine line. Nothing is asserted; compare runs
on the same machine. The 30-store row takes long on 2 cores: ask for it explicitly
(``--stores 1,3,30``).

Usage
-----
    .venv/bin/python benchmarks/bench_batch.py                      # 1 and 3 stores
    .venv/bin/python benchmarks/bench_batch.py --stores 1,3,12 --jobs 1,2 --scale 0.1
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def kernel_cost(workdir: Path, source: str, repeat: int) -> float:
    """Median seconds to run a notebook holding a parameters cell and ``source``."""
    import nbformat

    from crm_analysis.reporting import execute_notebook

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})]
    if source:
        nb.cells.append(nbformat.v4.new_code_cell(source))
    path = workdir / "k.ipynb"
    nbformat.write(nb, path)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        execute_notebook(path, workdir / "k_out.ipynb", {"x": 2}, transport="ipc")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stores", type=_ints, default=[1, 3], help="store counts (default 1,3)")
    ap.add_argument("--jobs", type=_ints, default=[1, 2], help="job counts (default 1,2)")
    ap.add_argument("--notebooks", default=None, help="e.g. 01,02 (default: all)")
    ap.add_argument("--scale", type=float, default=0.1, help="generator scale (default 0.1)")
    ap.add_argument("--years", type=int, default=8, help="years of history (default 8)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--repeat", type=int, default=3, help="kernel start-up runs (default 3)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args(argv)

    import ipykernel
    import nbclient
    import papermill

    from crm_analysis.batch import run_batch
    from crm_analysis.synth import generate

    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    as_of = "2026-06-30"
    start = f"{2026 - args.years}-07-01"
    n_max = max(args.stores)
    data = work / "data"
    t0 = time.perf_counter()
    ds = generate(n_stores=n_max, seed=args.seed, start=start, as_of=as_of, scale=args.scale)
    ds.to_dir(data)
    gen_s = time.perf_counter() - t0
    store_ids = sorted(ds.stores["store_id"].astype(str))
    notebooks = args.notebooks.split(",") if args.notebooks else None

    rows = []
    per_notebook: dict[str, float] = {}
    base: dict[int, float] = {}
    try:
        empty = kernel_cost(work, "", args.repeat)
        imports = kernel_cost(
            work,
            "import pandas, matplotlib.pyplot\nimport crm_analysis.plotting, "
            "crm_analysis.narrative, crm_analysis.context",
            args.repeat,
        )
        for n in args.stores:
            for jobs in args.jobs:
                out = work / f"out-{n}-{jobs}"
                t = time.perf_counter()
                run = run_batch(data, out, stores=store_ids[:n], notebooks=notebooks,
                                langs="en", jobs=jobs, force=True, progress=False)
                wall = time.perf_counter() - t
                failed = len(run.failed)
                for r in run.failed:
                    print(f"failed ({n} stores, {jobs} jobs): {r.store_id}/{r.notebook}: "
                          f"{r.error}", file=sys.stderr)
                if n == min(args.stores) and jobs == min(args.jobs):
                    for r in run.results:
                        if r.store_id == store_ids[0]:
                            per_notebook[r.notebook] = r.seconds
                base.setdefault(n, wall)
                rows.append((n, jobs, len(run.results), failed, wall))
                shutil.rmtree(out, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print(f"{machine()}; Python {platform.python_version()}, papermill {papermill.__version__}, "
          f"nbclient {nbclient.__version__}, ipykernel {ipykernel.__version__}")
    print(f"data: {n_max} store(s), scale {args.scale}, {args.years} years, "
          f"{len(ds.repair_orders):,} orders (generated in {gen_s:.1f} s); "
          f"notebooks: {args.notebooks or 'all'}; English; every report run (--force)")
    print()
    print("| run | reports | failed | wall s | s / report | speed-up vs 1 job |")
    print("|:----|--------:|-------:|-------:|-----------:|------------------:|")
    for n, jobs, reports, failed, wall in rows:
        print(f"| {n} store{'s' if n > 1 else ''}, {jobs} job{'s' if jobs > 1 else ''} | "
              f"{reports} | {failed} | {wall:.1f} | {wall / max(reports, 1):.1f} | "
              f"{base[n] / wall:.2f} |")
    print(f"| kernel start + empty cell (median of {args.repeat}) | 1 | 0 | {empty:.2f} | "
          f"{empty:.2f} | |")
    print(f"| kernel start + the notebooks' imports (median of {args.repeat}) | 1 | 0 | "
          f"{imports:.2f} | {imports:.2f} | |")
    for nb, secs in sorted(per_notebook.items()):
        print(f"| {nb} (store {store_ids[0]}, incl. HTML; computation ≈ "
              f"{max(secs - imports, 0):.1f} s) | 1 | 0 | {secs:.1f} | {secs:.1f} | |")
    print()
    print(json.dumps({"rows": rows, "kernel_empty_s": empty, "kernel_imports_s": imports,
                      "per_notebook_s": per_notebook}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Benchmark the streaming generator: a large group to partitioned Parquet.

Runs :func:`crm_analysis.synth.stream.write_partitioned` for each ``--stores`` value in a
fresh process and prints one markdown table (stores, years, scale, orders, seconds,
orders/s, peak RSS MB, MB on disk) under a heading that describes the machine. Nothing
is asserted: the numbers are for reading and comparing. The peak should not grow with
the number of stores (one batch of stores is held at a time).

- **seconds**: wall-clock time of ``write_partitioned`` (generation, id renumbering,
  checks and writing), imports excluded;
- **peak RSS MB**: resident-set high-water mark (``VmHWM``) of the child process, which
  includes the interpreter and libraries (their size after import, "base MB", is printed
  too);
- **MB on disk**: the Parquet files (10**6 bytes).

Usage
-----
    python benchmarks/bench_synth_stream.py --stores 20,200 --years 10
    python benchmarks/bench_synth_stream.py --stores 200 --years 10 --out /tmp/synth_big --keep
    python benchmarks/bench_synth_stream.py --stores 200 --years 10 --scale 3   # ~30M orders
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import MARK, machine, rss_mb, run_child, status_mb, versions


def _child(stores: int, years: int, scale: float, seed: int, batch_stores: int,
           out: str) -> dict:
    from crm_analysis.synth.stream import write_partitioned

    base = rss_mb()
    t0 = time.perf_counter()
    s = write_partitioned(out, n_stores=stores, seed=seed, years=years, scale=scale,
                          batch_stores=batch_stores)
    seconds = time.perf_counter() - t0
    peak = status_mb("VmHWM:")
    return {
        "orders": s["counts"]["repair_orders"],
        "vehicles": s["counts"]["vehicles"],
        "customers": s["counts"]["customers"],
        "seconds": seconds,
        "peak_mb": peak if peak is not None else s["peak_rss_mb"],
        "base_mb": base,
        "mb_on_disk": s["bytes_on_disk"] / 1e6,
        "period": f"{s['start']} to {s['as_of']}",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stores", default="20,200",
                   help="comma-separated store counts, one run each (default 20,200)")
    p.add_argument("--years", type=int, default=10, help="years of history (default 10)")
    p.add_argument("--scale", type=float, default=1.0, help="generator scale (default 1)")
    p.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    p.add_argument("--batch-stores", type=int, default=1,
                   help="stores per batch (default 1)")
    p.add_argument("--out", default=None,
                   help="output folder (default: a temporary folder); with several store "
                   "counts, <out>-<stores>")
    p.add_argument("--keep", action="store_true",
                   help="keep the output (only with --out)")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:  # one measured run in a fresh process
        stores, years, scale, seed, batch_stores, out = args.child
        result = _child(int(stores), int(years), float(scale), int(seed), int(batch_stores),
                        out)
        print(MARK + json.dumps(result))
        return 0

    counts = [int(s) for s in args.stores.split(",") if s.strip()]
    if args.keep and not args.out:
        p.error("--keep needs --out")
    rows = []
    with tempfile.TemporaryDirectory(prefix="crm-bench-stream-") as tmp:
        for n in counts:
            if args.out:
                out = Path(args.out if len(counts) == 1 else f"{args.out}-{n}")
            else:
                out = Path(tmp) / f"stores_{n}"
            r = run_child(__file__, [str(n), str(args.years), str(args.scale), str(args.seed),
                                     str(args.batch_stores), str(out)])
            rows.append((n, r))
            if args.out and not args.keep:
                shutil.rmtree(out, ignore_errors=True)
            print(f"done: {n} stores, {r['orders']:,} orders in {r['seconds']:.1f} s",
                  file=sys.stderr, flush=True)

    period = rows[0][1]["period"] if rows else ""
    print(f"### bench_synth_stream: seed {args.seed}, {period}, scale {args.scale:g}, "
          f"{args.batch_stores} store(s) per batch\n")
    print(f"Machine: {machine()}  ")
    print(f"Software: {versions()}\n")
    print("| stores | years | orders | seconds | orders/s | peak RSS MB | MB on disk |")
    print("|-------:|------:|-------:|--------:|---------:|------------:|-----------:|")
    for n, r in rows:
        rate = r["orders"] / r["seconds"] if r["seconds"] > 0 else float("inf")
        print(f"| {n} | {args.years} | {r['orders']:,} | {r['seconds']:.1f} | {rate:,.0f} | "
              f"{r['peak_mb']:,.0f} | {r['mb_on_disk']:,.1f} |")
    if rows:
        base = rows[0][1]["base_mb"]
        print(f"\nPeak RSS: high-water mark of each run's process; about {base:,.0f} MB of "
              "it is the interpreter and libraries.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m crm_analysis.synth --stores 3 --out data/sample``: write a synthetic group.

Example
-------
    python -m crm_analysis.synth --stores 3 --seed 2026 --out data/sample
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from crm_analysis import config


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (shared with ``crm-analysis synth``).

    >>> build_parser().parse_args(["--out", "x"]).stores
    3
    """
    p = argparse.ArgumentParser(
        prog="python -m crm_analysis.synth",
        description="Generate a calibrated synthetic dealer group (stores, customers, "
        "vehicles, repair orders and the ground-truth table) into a folder.",
    )
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the generator's options to ``p``."""
    p.add_argument("--stores", type=int, default=3, help="number of stores (default 3)")
    p.add_argument("--seed", type=int, default=config.DEFAULT_SEED,
                   help=f"random seed (default {config.DEFAULT_SEED})")
    p.add_argument("--start", default="2014-01-01",
                   help="first day of history (default 2014-01-01)")
    p.add_argument("--as-of", dest="as_of", default=config.DEFAULT_AS_OF,
                   help=f"export date, no order after it (default {config.DEFAULT_AS_OF})")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply sales volumes, e.g. 0.1 for a small classroom store")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet",
                   help="file format (default parquet)")


def run(args: argparse.Namespace) -> int:
    """Generate and write the dataset described by parsed ``args``; return an exit code."""
    from crm_analysis.synth import generate

    t = time.perf_counter()
    ds = generate(n_stores=args.stores, seed=args.seed, start=args.start, as_of=args.as_of,
                  scale=args.scale)
    ds.to_dir(args.out, format=args.format)
    secs = time.perf_counter() - t
    n_orders = len(ds.repair_orders)
    print(f"wrote {args.out}: {len(ds.stores)} stores, {len(ds.customers):,} customers, "
          f"{len(ds.vehicles):,} vehicles, {n_orders:,} repair orders "
          f"in {secs:.1f} s ({n_orders / secs:,.0f} orders/s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""The ``synth`` command: ``crm-analysis synth`` and ``python -m crm_analysis.synth``.

Example
-------
>>> import argparse
>>> args = add_synth_arguments(argparse.ArgumentParser()).parse_args(["--stores", "2"])
>>> args.stores, args.format
(2, 'parquet')
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crm_analysis._inputs import iso_date_arg, positive_int_arg
from crm_analysis.config import DEFAULT_AS_OF, DEFAULT_DATA_DIR, DEFAULT_SEED
from crm_analysis.synth.dms import write_dms_export
from crm_analysis.synth.generator import generate
from crm_analysis.synth.stream import start_for_years, write_partitioned

__all__ = ["add_synth_arguments", "main", "run_synth"]

DESCRIPTION = ("Generate a calibrated synthetic dealer group (stores, customers, vehicles, "
               "repair orders) and save it as a dataset folder.")


def add_synth_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``synth`` options to ``parser`` and set ``func`` to :func:`run_synth`."""
    add = parser.add_argument
    add("--stores", type=positive_int_arg, default=3, metavar="N",
        help="number of stores (default: %(default)s)")
    add("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    add("--start", type=iso_date_arg, default="2014-01-01", metavar="YYYY-MM-DD",
        help="first day of the history (default: %(default)s)")
    add("--as-of", dest="as_of", type=iso_date_arg, default=DEFAULT_AS_OF,
        metavar="YYYY-MM-DD",
        help="last day of the history, the analysis date (default: %(default)s)")
    add("--years", type=positive_int_arg, default=None, metavar="Y",
        help="years of history: sets --start to --as-of minus Y years (overrides --start)")
    add("--scale", type=float, default=1.0,
        help="multiply every store's sales volume, e.g. 0.1 for a small classroom store "
        "(default: %(default)s)")
    add("--out", type=Path, default=DEFAULT_DATA_DIR, help="output folder (default: %(default)s)")
    add("--format", choices=("parquet", "csv", "dms"), default="parquet",
        help="parquet or csv: a canonical dataset folder; dms: a messy Chinese DMS export "
        "(CSV and Excel files with injected faults and a manifest, read by "
        "crm_analysis.io.load; personal data left raw) (default: %(default)s)")
    add("--partitioned", action="store_true",
        help="stream a large group to hive-partitioned Parquet in bounded memory, a batch "
        "of stores at a time (<out>/repair_orders/store=001/part-0.parquet, ...; see "
        "crm_analysis.synth.stream): for hundreds of stores. --out must not exist or be "
        "empty; prints progress, orders/s and the peak memory")
    add("--batch-stores", dest="batch_stores", type=positive_int_arg, default=None,
        metavar="K",
        help="with --partitioned: stores generated and held in memory at a time (default: 1)")
    parser.set_defaults(func=run_synth)
    return parser


def _table_rows(dataset: Any) -> dict[str, int]:
    """Rows per table of a Dataset (or of a stand-in with the tables as attributes)."""
    tables = getattr(dataset, "tables", None)
    items = tables.items() if isinstance(tables, dict) else vars(dataset).items()
    return {name: len(frame) for name, frame in items
            if hasattr(frame, "columns") and hasattr(frame, "shape")}


def run_synth(args: argparse.Namespace) -> int:
    """Run the ``synth`` command for parsed :func:`add_synth_arguments` options; returns
    the exit code (0 written, 2 bad arguments)."""
    if args.years is not None:
        args.start = start_for_years(args.years, as_of=args.as_of)
    if args.start >= args.as_of:
        print(f"error: --start {args.start} must be before --as-of {args.as_of}", file=sys.stderr)
        return 2
    if args.partitioned:
        return _synth_partitioned(args)
    if args.batch_stores is not None:
        print("error: --batch-stores needs --partitioned", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        dataset = generate(n_stores=args.stores, seed=args.seed, start=args.start,
                           as_of=args.as_of, scale=args.scale)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.format == "dms":
        manifest = write_dms_export(dataset, args.out, seed=args.seed, as_of=args.as_of)
        manifest.to_json(Path(args.out) / "manifest.json")
        print(f"DMS export: {len(manifest.files)} file(s), {manifest.n_orders:,} orders, "
              f"{len(manifest.faults):,} injected faults (manifest beside the files)")
    else:
        dataset.to_dir(args.out, format=args.format)
    seconds = time.perf_counter() - started
    rows = _table_rows(dataset)
    print(
        f"wrote {args.stores} store(s), seed {args.seed}, {args.start} .. {args.as_of} "
        f"to {args.out} ({args.format}) in {seconds:.1f} s "
        f"({len(dataset.repair_orders) / seconds:,.0f} orders/s)"
    )
    width = max((len(n) for n in rows), default=0)
    for name, n in rows.items():
        print(f"  {name:<{width}}  {n:>10,d} rows")
    return 0


def _synth_partitioned(args: argparse.Namespace) -> int:
    """``synth --partitioned``: stream the group to partitioned Parquet, with progress."""
    if args.format != "parquet":
        print(f"error: --partitioned writes Parquet only, not --format {args.format}",
              file=sys.stderr)
        return 2
    batch_stores = args.batch_stores or 1
    n_batches = -(-args.stores // batch_stores)
    every = max(1, n_batches // 20)  # about 20 progress lines

    def progress(p: dict[str, Any]) -> None:
        if p["batch"] % every == 0 or p["batch"] == p["n_batches"]:
            stores = p["store_ids"]
            which = stores[0] if len(stores) == 1 else f"{stores[0]}..{stores[-1]}"
            print(f"  batch {p['batch']:>{len(str(n_batches))}}/{p['n_batches']} "
                  f"(store {which}): {p['orders_total']:>12,} orders, "
                  f"{p['seconds']:7.1f} s, {p['orders_per_s']:>8,.0f} orders/s, "
                  f"RSS {p['rss_mb']:,.0f} MB", flush=True)

    print(f"streaming {args.stores} store(s), seed {args.seed}, {args.start} .. {args.as_of}, "
          f"scale {args.scale:g}, {batch_stores} store(s) per batch, to {args.out}",
          flush=True)
    try:
        s = write_partitioned(
            args.out, n_stores=args.stores, seed=args.seed, start=args.start,
            as_of=args.as_of, scale=args.scale, batch_stores=batch_stores, progress=progress,
        )
    except (ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {s['counts']['repair_orders']:,} orders in {s['seconds']:.1f} s "
        f"({s['orders_per_s']:,.0f} orders/s), peak RSS {s['peak_rss_mb']:,.0f} MB, "
        f"{s['bytes_on_disk'] / 1e6:,.1f} MB on disk, to {args.out} (partitioned parquet)"
    )
    width = max(len(n) for n in s["counts"])
    for name, n in s["counts"].items():
        print(f"  {name:<{width}}  {n:>12,d} rows")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m crm_analysis.synth [options]``; returns the exit code."""
    parser = add_synth_arguments(argparse.ArgumentParser(
        prog="python -m crm_analysis.synth", description=DESCRIPTION))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for errors
        return int(exc.code or 0)
    return run_synth(args)

"""The ``crm-analysis`` command line.

Sub-commands:

- ``crm-analysis synth``    generate a synthetic dealer group and save it;
- ``crm-analysis validate`` check a dataset folder against the canonical schema;
- ``crm-analysis report``   run the analysis notebooks and write HTML reports.

Exit codes: 0 success, 1 report failures / data violations, 2 usage error.

Example
-------
>>> from crm_analysis.cli import main
>>> main(["synth", "--stores", "3", "--out", "data/sample"])  # doctest: +SKIP
0

From a shell::

    crm-analysis synth --stores 3 --seed 2026 --out data/sample
    crm-analysis validate data/sample
    crm-analysis report --data data/sample --stores 001,002 --lang zh
    python -m crm_analysis report --help
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crm_analysis.config import DEFAULT_AS_OF, DEFAULT_DATA_DIR, DEFAULT_SEED

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_EPILOG = """\
exit codes:
  0  success
  1  report failures (report) or schema violations (validate)
  2  usage error: bad arguments, unknown store id or notebook, missing folder
"""

_DEFAULT_START = "2014-01-01"


def _iso_date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("crm_analysis")
    except Exception:  # noqa: BLE001 - not installed (source checkout)
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """Return the ``crm-analysis`` argument parser with its sub-commands.

    Example
    -------
    >>> args = build_parser().parse_args(["validate", "data/sample"])
    >>> args.command, str(args.path)
    ('validate', 'data/sample')
    """
    from crm_analysis import reporting

    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="crm-analysis",
        description="After-sales customer value, retention and churn analytics for "
        "car dealerships (4S stores).",
        epilog=_EPILOG,
        formatter_class=fmt,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    synth = sub.add_parser(
        "synth",
        help="generate a synthetic dealer group",
        description="Generate a calibrated synthetic dealer group (stores, customers, "
        "vehicles, repair orders) and save it as a dataset folder.",
        epilog=_EPILOG,
        formatter_class=fmt,
    )
    synth.add_argument(
        "--stores",
        type=_positive_int,
        default=3,
        metavar="N",
        help="number of stores (default: %(default)s)",
    )
    synth.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)"
    )
    synth.add_argument(
        "--start",
        type=_iso_date,
        default=_DEFAULT_START,
        metavar="YYYY-MM-DD",
        help="first day of the history (default: %(default)s)",
    )
    synth.add_argument(
        "--as-of",
        dest="as_of",
        type=_iso_date,
        default=DEFAULT_AS_OF,
        metavar="YYYY-MM-DD",
        help="last day of the history, the analysis date (default: %(default)s)",
    )
    synth.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every store's sales volume, e.g. 0.1 for a small classroom store "
        "(default: %(default)s)",
    )
    synth.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="output folder (default: %(default)s)",
    )
    synth.add_argument(
        "--format",
        choices=("parquet", "csv"),
        default="parquet",
        help="file format (default: %(default)s)",
    )
    synth.set_defaults(func=_cmd_synth)

    validate = sub.add_parser(
        "validate",
        help="check a dataset folder against the schema",
        description="Load a dataset folder and check it against the canonical schema; "
        "print a summary of any violations.",
        epilog=_EPILOG,
        formatter_class=fmt,
    )
    validate.add_argument("path", type=Path, metavar="PATH", help="dataset folder")
    validate.set_defaults(func=_cmd_validate)

    report = sub.add_parser(
        "report",
        help="run the analysis notebooks and write HTML reports",
        description="Run every numbered notebook for every store (or the ones chosen) "
        "and write <out>/<store_id>/<notebook>.html and .ipynb plus <out>/index.html.",
        epilog=_EPILOG,
        formatter_class=fmt,
    )
    reporting.add_report_arguments(report)
    report.set_defaults(func=reporting.run_from_args)
    return parser


def _table_rows(dataset: Any) -> dict[str, int]:
    """Rows per table of a Dataset, whatever way it exposes its tables."""
    tables = getattr(dataset, "tables", None)
    if isinstance(tables, dict):
        items = tables.items()
    else:
        try:
            items = vars(dataset).items()
        except TypeError:
            names = ("stores", "customers", "vehicles", "repair_orders")
            items = ((n, getattr(dataset, n, None)) for n in names)
    return {
        name: len(frame)
        for name, frame in items
        if hasattr(frame, "columns") and hasattr(frame, "shape")
    }


def _cmd_synth(args: argparse.Namespace) -> int:
    from crm_analysis import synth

    if args.start >= args.as_of:
        print(f"error: --start {args.start} must be before --as-of {args.as_of}", file=sys.stderr)
        return EXIT_USAGE
    started = time.perf_counter()
    try:
        dataset = synth.generate(
            n_stores=args.stores, seed=args.seed, start=args.start, as_of=args.as_of,
            scale=args.scale,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
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
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from crm_analysis.schema import Dataset

    if not args.path.is_dir():
        print(f"error: dataset folder not found: {args.path}", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = Dataset.from_dir(args.path).validate()
    except Exception as exc:  # noqa: BLE001 - an unreadable dataset is a data problem
        print(f"error: cannot load the dataset in {args.path}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    # the report's text holds the per-table/check counts (summary()) and the first violations
    print(report)
    return EXIT_OK if report.ok else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``crm-analysis`` / ``python -m crm_analysis``; returns the exit code.

    Example
    -------
    >>> main(["--help"])  # doctest: +SKIP
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 0 for --help/--version, 2 for bad usage
        return int(exc.code or 0)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

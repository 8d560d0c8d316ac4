"""The ``crm-analysis`` command line.

Sub-commands:

- ``crm-analysis synth``    generate a synthetic dealer group and save it;
- ``crm-analysis validate`` check a dataset folder against the canonical schema, or load
  raw DMS exports and print what was accepted, merged and quarantined;
- ``crm-analysis report``   run the analysis notebooks and write HTML reports.

Exit codes: 0 success, 1 report failures / data violations / nothing usable loaded,
2 usage error.

Example
-------
>>> from crm_analysis.cli import main
>>> main(["synth", "--stores", "3", "--out", "data/sample"])  # doctest: +SKIP
0

From a shell::

    crm-analysis synth --stores 3 --seed 2026 --out data/sample
    crm-analysis validate data/sample
    crm-analysis validate exports/2024/*.xlsx --as-of 2024-06-30
    crm-analysis report --data data/sample --stores 001,002 --lang zh
    python -m crm_analysis report --help
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
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
  1  report failures (report); validate: schema violations, nothing usable loaded
     (no repair order accepted) or unreadable input (a DataError, message printed)
  2  usage error: bad arguments, unknown store id or notebook, missing folder
"""

_VALIDATE_DESCRIPTION = """\
Check data before analysing it.

A canonical dataset folder (written by `crm-analysis synth` or Dataset.to_dir) is
checked against the schema and the violations are summarised.

Anything else -- DMS export files (CSV, Excel, Parquet; Chinese or English headers;
flat or separate customer / vehicle / order tables) or folders of them -- is read
with crm_analysis.io.load and the command prints:
  - the load report: per file, sheet and table the rows read, accepted, merged as
    exact duplicates and quarantined (read = accepted + duplicates + quarantined);
  - the quarantine summary by file and reason, and the flagged rows (kept, but worth
    a look) by file and reason, with the first --show rows of each;
  - the schema validation of the accepted data.
Personal data (names, phones, plates, id numbers) are pseudonymized with the key
kept beside the data (.crm_analysis_key, created on first use); nothing printed
holds raw personal data. Rows are never dropped silently: every unusable row is
in the quarantine (--quarantine FILE writes it as CSV).

Exit code 0 when data were loaded (some rows may be quarantined), 1 when nothing
usable was loaded, the input could not be read (DataError: the message names the
file and the problem) or the data violate the schema, 2 for a missing path.
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
    >>> args.command, [str(p) for p in args.paths]
    ('validate', ['data/sample'])
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
        help="check a dataset folder, or load raw DMS exports and report what was quarantined",
        description=_VALIDATE_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=fmt,
    )
    validate.add_argument(
        "paths",
        type=Path,
        nargs="+",
        metavar="PATH",
        help="a dataset folder, or DMS export files / folders (read recursively)",
    )
    validate.add_argument(
        "--as-of",
        dest="as_of",
        type=_iso_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="raw exports: the export date; later orders are quarantined (default: the "
        "latest date in the accepted data)",
    )
    validate.add_argument(
        "--store-id",
        dest="store_id",
        default=None,
        metavar="ID",
        help="raw exports: the store of an export without a store column",
    )
    validate.add_argument(
        "--mapping",
        type=Path,
        default=None,
        metavar="FILE",
        help="raw exports: YAML file mapping unknown headers / values to canonical ones",
    )
    validate.add_argument(
        "--show",
        type=int,
        default=5,
        metavar="N",
        help="raw exports: list the first N quarantined and flagged rows of each reason "
        "(default: %(default)s; 0 for none)",
    )
    validate.add_argument(
        "--quarantine",
        dest="quarantine_out",
        type=Path,
        default=None,
        metavar="FILE",
        help="raw exports: write every quarantined row (file, sheet, row, reason, message, "
        "raw values with personal data pseudonymized) to this CSV file",
    )
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
    from crm_analysis.context import is_raw_source

    paths: list[Path] = list(args.paths)
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"error: not found: {', '.join(map(str, missing))}", file=sys.stderr)
        return EXIT_USAGE
    if len(paths) == 1 and paths[0].is_dir() and not is_raw_source(paths[0]):
        return _validate_dataset_dir(paths[0])
    return _validate_raw(paths, args)


def _validate_dataset_dir(path: Path) -> int:
    from crm_analysis.schema import Dataset

    try:
        report = Dataset.from_dir(path).validate()
    except Exception as exc:  # noqa: BLE001 - an unreadable dataset is a data problem
        print(f"error: cannot load the dataset in {path}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    # the report's text holds the per-table/check counts (summary()) and the first violations
    print(report)
    return EXIT_OK if report.ok else EXIT_FAILED


def _validate_raw(paths: list[Path], args: argparse.Namespace) -> int:
    """``validate`` for DMS exports: load them and print the report, quarantine and flags."""
    from crm_analysis.io import DataError, load

    started = time.perf_counter()
    try:
        result = load(paths, mapping=args.mapping, store_id=args.store_id, as_of=args.as_of)
    except (DataError, OSError) as exc:
        print(f"error: cannot load {', '.join(map(str, paths))}: {exc}", file=sys.stderr)
        if "store_id" in str(exc) and args.store_id is None:
            print("hint: for a single-store export without a store column, pass "
                  "--store-id ID", file=sys.stderr)
        return EXIT_FAILED
    seconds = time.perf_counter() - started
    ds = result.dataset
    rep = result.report
    files = sorted(set(rep["file"])) if len(rep) else []
    short = _short_names(files)
    totals = {c: int(rep[c].sum()) if len(rep) else 0
              for c in ("read", "accepted", "duplicates", "quarantined")}
    print(f"loaded {len(files)} file(s) in {seconds:.1f} s: {totals['read']:,} rows read, "
          f"{totals['accepted']:,} accepted, {totals['duplicates']:,} exact duplicates "
          f"merged, {totals['quarantined']:,} quarantined, {len(result.flags):,} flagged")

    print("\nLoad report (rows per file, sheet and table; read = accepted + duplicates + "
          "quarantined):")
    shown = rep[["file", "sheet", "table", "kind", "title_rows", "read", "accepted",
                 "duplicates", "quarantined"]].copy()
    shown["file"] = shown["file"].map(short)
    print(_indent(shown.to_string(index=False)))
    unmatched = rep[rep["unmatched"].astype(str).str.len() > 0] if "unmatched" in rep else rep[:0]
    for _, row in unmatched.iterrows():
        print(f"  columns ignored in {short[row['file']]} {row['sheet']}".rstrip()
              + f": {row['unmatched']}")

    for title, frame in (("Quarantine", result.quarantine), ("Flags (rows kept)", result.flags)):
        print(f"\n{title} by file and reason:")
        if frame is None or len(frame) == 0:
            print("  none")
            continue
        print(_indent(_by_file_reason(frame, short).to_string(index=False)))
        if args.show > 0:
            print(f"  first {args.show} of each reason:")
            for reason, grp in frame.groupby("reason", sort=True):
                for _, r in grp.head(args.show).iterrows():
                    where = f"{short.get(r['file'], r['file'])}"
                    where += f" [{r['sheet']}]" if r["sheet"] else ""
                    print(f"    {reason}: {where} row {r['row']}: {r['message']}")

    if args.quarantine_out is not None:
        q = result.quarantine.copy()
        q["raw"] = [json.dumps(v, ensure_ascii=False, default=str) for v in q["raw"]]
        args.quarantine_out.parent.mkdir(parents=True, exist_ok=True)
        q.to_csv(args.quarantine_out, index=False, encoding="utf-8-sig")
        print(f"\nquarantine written to {args.quarantine_out} ({len(q):,} rows)")

    rows = _table_rows(ds)
    pseudo = "pseudonymized" if ds.meta.get("pseudonymized") else "kept as read"
    print(f"\nDataset: {', '.join(f'{k}={v:,}' for k, v in rows.items())}; "
          f"as_of {ds.meta.get('as_of')}; personal data {pseudo}"
          + (f" (key {ds.meta['key_fingerprint']})" if ds.meta.get("key_fingerprint") else ""))
    report = ds.validate()
    print("\nSchema validation of the accepted data:")
    print(_indent(str(report)))
    if len(ds.repair_orders) == 0:
        print("error: nothing usable was loaded: no repair order was accepted", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK if report.ok else EXIT_FAILED


def _short_names(files: list[str]) -> dict[str, str]:
    """File paths relative to their common folder, for display."""
    if not files:
        return {}
    if len(files) == 1:
        return {files[0]: Path(files[0]).name}
    try:
        base = os.path.commonpath([str(Path(f).parent) for f in files])
        return {f: os.path.relpath(f, base) for f in files}
    except ValueError:  # different drives
        return {f: f for f in files}


def _by_file_reason(frame: Any, short: dict[str, str]) -> Any:
    import pandas as pd

    from crm_analysis.io import REASONS

    out = frame.groupby(["file", "reason"], sort=True).size().reset_index(name="rows")
    out["file"] = out["file"].map(lambda f: short.get(f, f))
    out["description"] = [REASONS.get(r, (r, r))[0] for r in out["reason"]]
    total = pd.DataFrame({"file": ["(all files)"], "reason": ["(all reasons)"],
                          "rows": [int(out["rows"].sum())], "description": [""]})
    return pd.concat([out, total], ignore_index=True)


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


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

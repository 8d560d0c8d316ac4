"""The ``crm-analysis`` command line.

Sub-commands:

- ``crm-analysis synth``    generate a synthetic dealer group and save it;
- ``crm-analysis validate`` check a dataset folder against the canonical schema, or load
  raw DMS exports and print what was accepted, merged and quarantined;
- ``crm-analysis report``   run the analysis notebooks for a store and write HTML reports;
- ``crm-analysis batch``    run them for every store and language in parallel, resumable,
  with an index page (see :mod:`crm_analysis.batch`);
- ``crm-analysis classroom prepare|grade``  per-student lesson data and notebooks, and
  automatic grading (see :mod:`crm_analysis.teaching.classroom` and docs/teaching.md).

Exit codes: 0 success, 1 report failures / data violations / nothing usable loaded,
2 usage error (including an id that cannot be a folder name, and a named pipe, socket or
device file in the data folder), 3 the output could not be written (disk full, read-only
folder, no permission: one line names the path and the cause).

Example
-------
>>> from crm_analysis.cli import main
>>> main(["synth", "--stores", "3", "--out", "data/sample"])  # doctest: +SKIP
0

From a shell::

    crm-analysis synth --stores 3 --seed 2026 --out data/sample
    crm-analysis synth --stores 200 --years 10 --partitioned --out data/big
    crm-analysis validate data/sample
    crm-analysis validate exports/2024/*.xlsx --as-of 2024-06-30
    crm-analysis report --data data/sample --store 007 --lang zh -p window_months=12
    crm-analysis batch --data data/sample --lang en,zh --jobs 2
    crm-analysis classroom prepare --roster roster.csv --out class
    crm-analysis classroom grade class
    python -m crm_analysis report --help
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
import warnings
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from crm_analysis import lab, reporting
from crm_analysis._inputs import iso_date_arg, positive_int_arg
from crm_analysis.config import DEFAULT_DATA_DIR, NOTEBOOKS_DIR, REPORTS_DIR
from crm_analysis.context import check_data_files, is_raw_source
from crm_analysis.io import REASONS, DataError, DataWarning, load
from crm_analysis.safety import check_path_part, contained, write_csv
from crm_analysis.schema import Dataset
from crm_analysis.synth.command import DESCRIPTION as _SYNTH_DESCRIPTION
from crm_analysis.synth.command import add_synth_arguments
from crm_analysis.teaching.classroom import add_classroom_parser

__all__ = ["add_batch_arguments", "build_parser", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_IO = 0, 1, 2, 3

_EPILOG = """\
exit codes:
  0  success
  1  report / batch: some reports failed (the others are written; see index.html),
     or the batch was interrupted (Ctrl-C, SIGTERM: run it again to finish);
     validate: schema violations, nothing usable loaded (no repair order accepted) or
     unreadable input (a DataError, message printed)
  2  usage error: bad arguments, unknown store id, notebook, language or parameter,
     a parameter value of the wrong type, missing folder; a store id or run name
     that cannot be a folder name (letters, digits, '.', '_', '-' only; checked
     before anything is written); a named pipe, socket or device file in the data
     folder
  3  the output could not be written: disk full, read-only folder or no
     permission (one line names the path and the cause; no half-written file is
     left in place: free space or fix the folder and run the same command again)
"""

_BATCH_DESCRIPTION = """\
Run the analysis notebooks for many stores and languages in parallel and write

  <out>/<run>/index.html                      stores x notebooks, run times, key metrics
  <out>/<run>/<store>/<lang>/<notebook>.html  report (code hidden, figures embedded)
                          .ipynb .metrics.json .stamp.json
  <out>/<run>/group/<lang>/...                group notebooks (no store_id parameter),
                                              run after the store notebooks

<run> defaults to the analysis month (YYYY-MM). A report whose notebook, parameters
and data files (content hashes, in its .stamp.json) are unchanged is skipped unless
--force; failed reports are run again. Reports are built in a staging folder and
moved into place, the stamp last: an interrupted batch leaves no report marked done
that is incomplete, and running it again finishes the rest. A failing notebook does
not stop the others; the exit code is then 1 and index.html shows the error cell.
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

def _version() -> str:
    try:
        return version("crm_analysis")
    except PackageNotFoundError:  # not installed (source checkout)
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """Return the ``crm-analysis`` argument parser with its sub-commands.

    Example
    -------
    >>> args = build_parser().parse_args(["validate", "data/sample"])
    >>> args.command, [str(p) for p in args.paths]
    ('validate', ['data/sample'])
    """
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

    synth = sub.add_parser("synth", help="generate a synthetic dealer group",
                           description=_SYNTH_DESCRIPTION, epilog=_EPILOG, formatter_class=fmt)
    add_synth_arguments(synth)

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
        type=iso_date_arg,
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
        "raw values with personal data pseudonymized) to this CSV file (formula-safe: a "
        "cell a spreadsheet would run as a formula starts with ')",
    )
    validate.set_defaults(func=_cmd_validate)

    report = sub.add_parser(
        "report",
        help="run the analysis notebooks and write HTML reports",
        description="Run every numbered notebook (or the ones chosen) for one store (or "
        "the ones chosen), one after the other, and write <out>/<store_id>/<notebook>.html, "
        ".ipynb and .metrics.json plus <out>/index.html. For many stores, languages and "
        "parallel runs with resume, use `crm-analysis batch`.",
        epilog=_EPILOG,
        formatter_class=fmt,
    )
    reporting.add_report_arguments(report)
    report.set_defaults(func=_cmd_report)

    batch = sub.add_parser(
        "batch",
        help="run the notebooks for every store and language in parallel (resumable)",
        description=_BATCH_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=fmt,
    )
    add_batch_arguments(batch)
    batch.set_defaults(func=_cmd_batch)

    add_classroom_parser(sub)

    lab_parser = sub.add_parser(
        "lab", help="open the notebooks in JupyterLab (what `make lab` runs)",
        description="Start JupyterLab at notebooks/ with the project's kernel. Options "
        "not listed here go to JupyterLab (e.g. --no-browser --port 8899).",
        epilog=_EPILOG, formatter_class=fmt)
    lab.add_lab_arguments(lab_parser)
    lab_parser.set_defaults(func=lab.run, passthrough=True)
    return parser


def _timeout(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds (0: no limit): {text!r}")
    return value or None


def add_batch_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``crm-analysis batch`` options to ``parser``.

    Example
    -------
    >>> p = add_batch_arguments(argparse.ArgumentParser())
    >>> a = p.parse_args(["--stores", "007,010", "--lang", "en,zh", "--jobs", "2"])
    >>> a.stores, a.lang, a.jobs
    ('007,010', 'en,zh', 2)
    """
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA_DIR,
        help="dataset folder, or raw DMS exports (pass --as-of with them) "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--stores", default="all", metavar="all|ID[,ID...]",
        help="store ids, kept as strings (007 stays 007), or all (default: %(default)s)",
    )
    parser.add_argument(
        "--notebooks", default=None, metavar="NN[,NN...]",
        help="notebook numbers or names (e.g. 01,03); default: all",
    )
    parser.add_argument(
        "--lang", default="en", metavar="en,zh",
        help="report language(s), comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--as-of", dest="as_of", type=iso_date_arg, default=None, metavar="YYYY-MM-DD",
        help="analysis date; default: the dataset's own as-of date",
    )
    parser.add_argument(
        "--jobs", type=positive_int_arg, default=None, metavar="N",
        help=f"notebooks run at the same time (default: the number of CPUs, "
        f"{os.cpu_count()})",
    )
    parser.add_argument(
        "--out", type=Path, default=REPORTS_DIR, help="reports folder (default: %(default)s)"
    )
    parser.add_argument(
        "--run", default=None, metavar="NAME",
        help="run folder under --out (default: the analysis month, YYYY-MM)",
    )
    parser.add_argument(
        "--force", action="store_true",
        help="run every report again, even those whose inputs did not change",
    )
    parser.add_argument(
        "--timeout", type=_timeout, default=1800, metavar="S",
        help="time limit per notebook in seconds, 0 for none (default: %(default)s)",
    )
    parser.add_argument(
        "-p", "--param", dest="params", action="append", default=[], metavar="NAME=VALUE",
        help="notebook parameter, repeatable; converted to the type of the notebook's "
        "default (strings stay strings); given to the notebooks that declare it",
    )
    parser.add_argument(
        "--notebooks-dir", type=Path, default=NOTEBOOKS_DIR,
        help="folder holding the numbered notebooks, NN_*.py scripts or NN_*.ipynb "
        "(default: %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _os_error_line(command: str, exc: OSError) -> str:
    from crm_analysis import batch  # lazy: subcommand module (docs/CONVENTIONS.md)

    return f"crm-analysis {command}: {batch.describe_os_error(exc)}"


def _check_output_names(command: str, data: Path, stores: Sequence[str] | None,
                        out: Path, run: str | None = None) -> None:
    """Refuse, before anything is written, a store id (given, or every store of the data
    when none is given) or run name that cannot be a folder name under ``out``, or whose
    folder would lie outside it (``ValueError`` starting with ``crm-analysis <command>``).

    A data folder that cannot be read is left to the command, which reports it.
    """
    where = f"crm-analysis {command}"
    ids = list(stores) if stores is not None else None
    if ids is None:
        try:
            ids = list(reporting.list_stores(data))
        except Exception:  # noqa: BLE001 - the command itself says what is wrong
            ids = []
    base = Path(out)
    if run is not None:
        check_path_part(run, "run name", where=where)
        base = contained(out, run, where=where)
    for sid in ids:
        check_path_part(sid, "store id", where=where)
        contained(base, sid, where=where)


def _cmd_report(args: argparse.Namespace) -> int:
    """``crm-analysis report``: store ids checked as folder names first; a file system
    that refuses the output is one line and exit code 3."""
    try:
        _check_output_names("report", args.data, args.stores, args.out)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    try:
        return int(reporting.run_from_args(args))
    except OSError as exc:
        print(_os_error_line("report", exc), file=sys.stderr)
        return EXIT_IO


def _cmd_batch(args: argparse.Namespace) -> int:
    """``crm-analysis batch``: SIGTERM stops it like Ctrl-C (finished reports are kept)."""
    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = None
    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return _run_batch_command(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run_batch_command(args: argparse.Namespace) -> int:
    from crm_analysis import batch  # lazy: subcommand module (docs/CONVENTIONS.md)

    if not Path(args.data).exists():
        print(f"error: data folder not found: {args.data}", file=sys.stderr)
        return EXIT_USAGE
    notebooks = None
    if args.notebooks:
        notebooks = [s.strip() for s in args.notebooks.split(",") if s.strip()]
    stores = None
    if args.stores.strip().lower() != "all":
        stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    try:
        _check_output_names("batch", args.data, stores, args.out, args.run)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    try:
        extra = None
        if args.params:
            selected = reporting._select_notebooks(
                reporting.discover_notebooks(args.notebooks_dir), notebooks
            )
            extra = reporting.parse_parameter_args(
                args.params, reporting._settable_parameters(selected))
        run = batch.run_batch(
            args.data,
            args.out,
            stores=args.stores,
            notebooks=notebooks,
            langs=args.lang,
            as_of=args.as_of,
            run=args.run,
            jobs=args.jobs,
            force=args.force,
            timeout=args.timeout,
            extra_parameters=extra,
            notebooks_dir=args.notebooks_dir,
            progress=not args.no_progress,
        )
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # disk full, read-only or not permitted output folder
        print(_os_error_line("batch", exc), file=sys.stderr)
        return EXIT_IO
    except KeyboardInterrupt:
        print("interrupted: the reports finished so far are kept; run the same command "
              "again to build the rest", file=sys.stderr)
        return EXIT_FAILED
    n = len(run.results)
    skipped = sum(r.skipped for r in run.results)
    print(f"{n - len(run.failed)} of {n} reports ok ({skipped} up to date, "
          f"{n - skipped} run); index: {run.index_path}")
    for r in run.failed:
        where = f" (cell {r.cell_index})" if r.cell_index is not None else ""
        print(f"FAILED {r.store_id}/{r.lang}/{r.notebook}{where}: {r.error}", file=sys.stderr)
    unwritten = [r for r in run.failed if getattr(r, "io_error", False)]
    if unwritten:
        print(f"crm-analysis batch: {len(unwritten)} report(s) could not be written "
              f"({unwritten[0].error}); free space or fix the folder and run the same "
              "command again", file=sys.stderr)
        return EXIT_IO
    return EXIT_FAILED if run.failed else EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    paths: list[Path] = list(args.paths)
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"error: not found: {', '.join(map(str, missing))}", file=sys.stderr)
        return EXIT_USAGE
    try:
        for p in paths:
            check_data_files(p, where="crm-analysis validate")
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    if len(paths) == 1 and paths[0].is_dir() and not is_raw_source(paths[0]):
        return _validate_dataset_dir(paths[0])
    return _validate_raw(paths, args)


def _validate_dataset_dir(path: Path) -> int:
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
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():  # skipped sheets are printed below
            warnings.simplefilter("ignore", DataWarning)
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
    for sk in result.meta.get("skipped_sheets", []):
        print(f"  sheet not read: {Path(sk['file']).name} [{sk['sheet']}] ({sk['rows']} "
              f"non-empty rows): {sk['reason']}")

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
        # formula-safe (a cell of an export may start with "=") and never half-written
        write_csv(q, args.quarantine_out)
        print(f"\nquarantine written to {args.quarantine_out} ({len(q):,} rows)")

    rows = {name: len(frame) for name, frame in ds.tables.items()}
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
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "passthrough", False):
            parser.parse_args(argv)  # the usual error for unknown arguments
    except SystemExit as exc:  # argparse exits 0 for --help/--version, 2 for bad usage
        return int(exc.code or 0)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if getattr(args, "passthrough", False):
            return int(args.func(args, extra))
        return int(args.func(args))
    except BrokenPipeError:  # the reader of the output went away (`| head`)
        raise
    except OSError as exc:  # disk full, read-only folder, ...: one line, not a traceback
        print(_os_error_line(args.command, exc), file=sys.stderr)
        return EXIT_IO


if __name__ == "__main__":
    sys.exit(main())

"""Shared parts of the benchmark scripts: data preparation, measurement, reporting.

Used by ``bench_features.py`` and ``bench_retention.py``, which import it as ``common``
(scripts run from this folder have it on ``sys.path``). Only the standard library is
imported at module level, so a child process running under another interpreter (the
lifetimes step of ``bench_features.py``) can import it too.

- :func:`child_prepare` generates one synthetic group (``generate(n_stores, seed,
  scale)``) and writes it and its tilings as parquet: the ×n set is the group repeated n
  times, tile k > 0 with ``-k`` appended to every ``customer_id``, ``vin`` and ``ro_id``
  (vehicles and customers tiled the same way), one tile at a time.
- :func:`measure` times a function (fastest of ``repeat`` runs) and records the
  resident-set high-water mark, reset before each run on Linux.
- :func:`run_child` runs a step of a script in a fresh process and reads the JSON line
  it prints after :data:`MARK`.
- :func:`machine` and :func:`versions` describe the machine and the libraries.
- :func:`parser` holds the command-line options both scripts share, and
  :func:`run_child_step` answers the ``--child`` call that :func:`run_child` makes.
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
import time
from pathlib import Path

MARK = "BENCH_JSON "
TABLES = ("repair_orders", "vehicles", "customers")
TILED = {"repair_orders": ("customer_id", "vin", "ro_id"), "vehicles": ("customer_id", "vin"),
         "customers": ("customer_id",)}


# --------------------------------------------------------------------------- memory


def reset_peak() -> bool:
    """Reset the RSS high-water mark of this process (Linux >= 4.0); True on success."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def proc_mb(path: str, field: str) -> float | None:
    """A ``<field> <n> kB`` line of a /proc file (``/proc/self/status``,
    ``/proc/<pid>/status``, ``/proc/meminfo``) in MB, or None (no /proc, no such line)."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return None


def status_mb(field: str) -> float | None:
    return proc_mb("/proc/self/status", field)


def peak_mb(reset_ok: bool) -> float:
    """Peak resident set size of this process, in MB (10**6 bytes)."""
    if reset_ok:
        hwm = status_mb("VmHWM:")
        if hwm is not None:
            return hwm
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 1e6 if sys.platform == "darwin" else maxrss * 1024 / 1e6


def rss_mb() -> float:
    rss = status_mb("VmRSS:")
    return rss if rss is not None else peak_mb(False)


def measure(fn, repeat: int = 1) -> tuple[object, float, float, bool]:
    """Run ``fn()`` ``repeat`` times; return (result, fastest seconds, highest peak MB,
    peak_is_per_step)."""
    best, peak = float("inf"), 0.0
    for _ in range(repeat):
        result = None
        gc.collect()
        reset_ok = reset_peak()
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
        peak = max(peak, peak_mb(reset_ok))
    return result, best, peak, reset_ok


# --------------------------------------------------------------------------- data


def child_prepare(workdir: Path, sizes: list[int], stores: int, seed: int,
                  scale: float) -> dict:
    """Generate the base group and write it, and its tilings, as parquet."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from crm_analysis.synth import generate

    t0 = time.perf_counter()
    ds = generate(n_stores=stores, seed=seed, scale=scale)
    gen_s = time.perf_counter() - t0
    base = {t: pa.Table.from_pandas(getattr(ds, t), preserve_index=False) for t in TABLES}
    as_of = str(ds.meta["as_of"])
    del ds
    gc.collect()
    out = {"as_of": as_of, "generate_s": gen_s, "sizes": {}}
    for n in sizes:
        folder = workdir / f"x{n}"
        folder.mkdir(parents=True, exist_ok=True)
        for table, tbl in base.items():
            with pq.ParquetWriter(folder / f"{table}.parquet", tbl.schema) as writer:
                for k in range(n):
                    tile = tbl
                    if k:
                        for col in TILED[table]:
                            i = tile.schema.get_field_index(col)
                            tile = tile.set_column(i, col, pc.binary_join_element_wise(
                                tile[col], pa.scalar(f"-{k}"), ""))
                    writer.write_table(tile, row_group_size=1_000_000)
        out["sizes"][str(n)] = {
            "orders": base["repair_orders"].num_rows * n,
            "customers": base["customers"].num_rows * n,
            "mb_on_disk": sum(p.stat().st_size for p in folder.iterdir()) / 1e6,
        }
    return out


def load(engine: str, folder: Path, table: str, columns: list[str] | None = None):
    """A table as pandas, Polars or Polars lazy (``scan_parquet``: read inside the step)."""
    path = folder / f"{table}.parquet"
    if engine == "pandas":
        import pandas as pd

        return pd.read_parquet(path, columns=columns)
    import polars as pl

    if engine == "polars":
        return pl.read_parquet(path, columns=columns)
    lazy = pl.scan_parquet(path)
    return lazy.select(columns) if columns else lazy


# --------------------------------------------------------------------------- processes


def run_child(script: str | Path, args: list[str], python: str | None = None) -> dict:
    """Run ``script --child *args`` in a fresh process and return its JSON result."""
    proc = subprocess.run(
        [python or sys.executable, str(Path(script).resolve()), "--child", *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"benchmark step failed: {' '.join(args)}")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise SystemExit(f"benchmark step printed no result: {' '.join(args)}")


# --------------------------------------------------------------------------- report


def machine() -> str:
    cores = os.cpu_count() or 0
    try:
        mem = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB RAM"
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
    return f"{cores} cores, {mem}, {cpu}, {platform.system()} {platform.release()}"


def versions() -> str:
    import narwhals
    import numpy
    import pandas
    import polars
    import pyarrow

    return (f"Python {platform.python_version()}, numpy {numpy.__version__}, "
            f"pandas {pandas.__version__}, polars {polars.__version__}, "
            f"narwhals {narwhals.__version__}, pyarrow {pyarrow.__version__}")


def parser(description: str, steps: tuple[str, ...]) -> argparse.ArgumentParser:
    """The options shared by the 1M/10M benchmark scripts (a script may add its own)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--sizes", default="1,10",
                   help="comma-separated tilings of the base group (default 1,10)")
    p.add_argument("--base-scale", type=float, default=3.55,
                   help="generator scale of the base group (default 3.55: ~1M orders)")
    p.add_argument("--stores", type=int, default=3, help="stores (default 3)")
    p.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    p.add_argument("--steps", default=",".join(steps),
                   help=f"comma-separated steps (default all: {','.join(steps)})")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs per step in its process; the fastest is reported (default 3)")
    p.add_argument("--workdir", default=None,
                   help="folder for the parquet files (default: a temporary folder)")
    p.add_argument("--keep", action="store_true",
                   help="keep --workdir and reuse the data already in it")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    return p


def run_child_step(child: list[str], compare, step) -> int:
    """Run one ``--child`` call in this (fresh) process and print its JSON result.

    ``child`` is ``["prepare", workdir, sizes, stores, seed, scale]``,
    ``["compare", ...]`` (passed to ``compare``) or ``[step, folder, as_of, out, repeat]``
    (passed to ``step(kind, folder, as_of, out_path or None, repeat)``).
    """
    kind, *rest = child
    if kind == "prepare":
        workdir, sizes, stores, seed, scale = rest
        out = child_prepare(Path(workdir), [int(s) for s in sizes.split(",")],
                            int(stores), int(seed), float(scale))
    elif kind == "compare":
        out = compare(*rest)
    else:
        folder, as_of, out_path, repeat = rest
        out = step(kind, Path(folder), as_of, None if out_path == "-" else out_path,
                   int(repeat))
    print(MARK + json.dumps(out))
    return 0

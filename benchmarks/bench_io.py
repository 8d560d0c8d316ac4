#!/usr/bin/env python
"""Benchmark :func:`crm_analysis.io.load` on a flat GBK CSV export of about 1M order rows.

The input imitates what a group's DMS exports in one go: one flat CSV file, GBK encoded,
Chinese headers, one row per repair order with the customer and vehicle columns repeated,
mixed date and amount formats (:func:`crm_analysis.synth.dms.write_dms_export` with
``formats=("csv",)``). The writer is slow on very large inputs, so the file is built by
writing the export of a smaller generated group (``generate(n_stores=3, seed, scale)``,
``--base-scale``, about 70,000 orders at 0.25) and tiling its rows until ``--rows``
rows: tile k > 0 appends ``-k`` to every ``ro_id`` and ``customer_id`` and changes the
9th character of every valid VIN (its check digit) to a letter of its own, so the tiles
are distinct groups and the VINs stay valid (the broken VINs stay broken).

One file is built per ``--fault-rates`` entry: ``0`` is a clean export, ``0.01`` the
writer's default (each of the ten fault kinds on 1% of the orders, so about 9% of the
rows end up quarantined and 1% merged). Each load runs in a fresh process
(``load(path, as_of=<export date>, key=...)``); the time is split, by wrapping the
loader's internal steps, into decoding the bytes (``_decode``), parsing the CSV text into
a frame (the rest of ``_read_csv``), normalizing the columns (``_parse``: dates,
amounts, codes, ids, pseudonyms), building the quarantine frame (``_quarantine_frame``,
the raw values of every quarantined row) and the rest (duplicates, checks, building the
tables, report). Prints one markdown table headed by the machine. Nothing is asserted;
the issue's target is under 30 s for 1M flat rows on 2 cores.

Usage
-----
    .venv/bin/python benchmarks/bench_io.py
    .venv/bin/python benchmarks/bench_io.py --rows 200000 --fault-rates 0.01
    .venv/bin/python benchmarks/bench_io.py --workdir /tmp/bench_io --keep
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import MARK, machine, measure, run_child

ROOT = Path(__file__).resolve().parents[1]
KEY = b"benchmark-key"
# Tile k > 0 puts TILE_LETTERS[k - 1] at the check-digit position of a valid VIN (which
# holds 0-9 or X), so no tile repeats another's VIN.
TILE_LETTERS = "ABCDEFGHJKLMNPRSTUVWYZ"


# --------------------------------------------------------------------------- data


def build_file(folder: Path, rows: int, stores: int, seed: int, scale: float,
               fault_rate: float) -> dict:
    """Write the export of a generated group and tile it into one GBK CSV of ``rows``."""
    import pandas as pd

    from crm_analysis.synth import generate
    from crm_analysis.synth.dms import write_dms_export

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"flat_{rows}_{fault_rate:g}.csv"
    info_path = path.with_suffix(".json")
    if path.exists() and info_path.exists():
        return json.loads(info_path.read_text())
    t0 = time.perf_counter()
    ds = generate(n_stores=stores, seed=seed, scale=scale)
    base_dir = folder / f"base_{fault_rate:g}"
    m = write_dms_export(ds, base_dir, fault_rate=fault_rate, seed=seed, formats=("csv",))
    write_s = time.perf_counter() - t0
    (src,) = m.files
    base = pd.read_csv(src, encoding="gbk", dtype=str, keep_default_na=False)
    cols = {c: m.headers[src.name][c] for c in base.columns}
    by_canon = {v: k for k, v in cols.items()}
    n_tiles = -(-rows // len(base))
    if n_tiles - 1 > len(TILE_LETTERS):
        raise SystemExit(f"--rows {rows} needs {n_tiles} tiles of {len(base)} rows; at most "
                         f"{len(TILE_LETTERS) + 1}: raise --base-scale")
    vin = base[by_canon["vin"]]
    valid = vin.str.fullmatch(r"[A-HJ-NPR-Z0-9]{17}") & vin.str[8].isin(list("0123456789X"))
    tiles = [base]
    for k in range(1, n_tiles):
        t = base.copy()
        for c in ("ro_id", "customer_id"):
            s = t[by_canon[c]]
            t[by_canon[c]] = s.where(s == "", s + f"-{k}")
        v = t[by_canon["vin"]]
        t[by_canon["vin"]] = v.where(~valid, v.str[:8] + TILE_LETTERS[k - 1] + v.str[9:])
        tiles.append(t)
    flat = pd.concat(tiles, ignore_index=True).iloc[:rows]
    flat.to_csv(path, index=False, encoding="gbk", lineterminator="\r\n")
    shutil.rmtree(base_dir)
    info = {"path": str(path), "rows": len(flat), "base_orders": m.n_orders, "tiles": n_tiles,
            "as_of": m.as_of, "mb": path.stat().st_size / 1e6, "write_s": write_s,
            "build_s": time.perf_counter() - t0}
    info_path.write_text(json.dumps(info))
    return info


# --------------------------------------------------------------------------- the load


def child_load(path: str, as_of: str, repeat: int) -> dict:
    """Time ``load`` on one file in this (fresh) process, with the split by step."""
    sys.path.insert(0, str(ROOT))
    import crm_analysis.io  # noqa: F401  (the package re-exports load, the function)

    L = sys.modules["crm_analysis.io.load"]  # the module, whose steps are wrapped

    spent: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - t0
        return wrapper

    L._decode = timed("decode", L._decode)
    L._READERS["csv"] = timed("read_csv", L._READERS["csv"])
    L._parse = timed("normalize", L._parse)
    L._quarantine_frame = timed("quarantine", L._quarantine_frame)

    def run():
        spent.clear()
        return L.load(path, as_of=as_of, key=KEY)

    res, secs, peak, _ = measure(run, repeat)
    r = res.report
    return {
        "seconds": secs, "peak_mb": peak,
        "decode": spent.get("decode", 0.0),
        "csv_parse": spent.get("read_csv", 0.0) - spent.get("decode", 0.0),
        "normalize": spent.get("normalize", 0.0),
        "quarantine": spent.get("quarantine", 0.0),
        "read": int(r["read"].sum()), "accepted": int(r["accepted"].sum()),
        "duplicates": int(r["duplicates"].sum()), "quarantined": int(r["quarantined"].sum()),
        "flags": len(res.flags),
    }


# --------------------------------------------------------------------------- main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--rows", type=int, default=1_000_000, help="rows of the flat CSV")
    p.add_argument("--fault-rates", default="0,0.01",
                   help="comma-separated fault rates, one file each (default 0,0.01)")
    p.add_argument("--base-scale", type=float, default=0.25,
                   help="generator scale of the group that is tiled (default 0.25)")
    p.add_argument("--stores", type=int, default=3, help="stores (default 3)")
    p.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    p.add_argument("--repeat", type=int, default=1, help="loads per file; fastest shown")
    p.add_argument("--workdir", default=None, help="folder for the files (default: temporary)")
    p.add_argument("--keep", action="store_true", help="keep --workdir and reuse its files")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        kind, *rest = args.child
        if kind == "build":
            folder, rows, stores, seed, scale, rate = rest
            sys.path.insert(0, str(ROOT))
            out = build_file(Path(folder), int(rows), int(stores), int(seed), float(scale),
                             float(rate))
        else:
            path, as_of, repeat = rest
            out = child_load(path, as_of, int(repeat))
        print(MARK + json.dumps(out))
        return 0

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench_io_"))
    rates = [float(r) for r in args.fault_rates.split(",")]
    results = []
    try:
        for rate in rates:
            info = run_child(__file__, ["build", str(work), str(args.rows), str(args.stores),
                                        str(args.seed), str(args.base_scale), str(rate)])
            res = run_child(__file__, ["load", info["path"], info["as_of"], str(args.repeat)])
            results.append((rate, info, res))
    finally:
        if not (args.keep and args.workdir):
            shutil.rmtree(work, ignore_errors=True)

    print(f"Machine: {machine()}")
    print(f"Input: one flat GBK CSV per fault rate, the DMS export of generate(n_stores="
          f"{args.stores}, seed={args.seed}, scale={args.base_scale}) tiled; "
          f"load(path, as_of=..., key=...) in a fresh process, fastest of {args.repeat} "
          f"run(s), seconds\n")
    print("| fault rate | rows | MB | total s | rows/s | peak MB | decode | CSV parse "
          "| normalize | quarantine frame | checks + build | accepted | duplicates "
          "| quarantined | flags |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rate, info, r in results:
        rest = r["seconds"] - r["decode"] - r["csv_parse"] - r["normalize"] - r["quarantine"]
        print(f"| {rate:g} | {r['read']:,} | {info['mb']:.0f} | {r['seconds']:.1f} "
              f"| {r['read'] / r['seconds']:,.0f} | {r['peak_mb']:,.0f} | {r['decode']:.1f} "
              f"| {r['csv_parse']:.1f} | {r['normalize']:.1f} | {r['quarantine']:.1f} "
              f"| {rest:.1f} | {r['accepted']:,} | {r['duplicates']:,} "
              f"| {r['quarantined']:,} | {r['flags']:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

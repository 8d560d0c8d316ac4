#!/usr/bin/env python
"""Benchmark retention by vehicle age on 1M and 10M generated orders.

Measures, with pandas, Polars and Polars-lazy input:

- :func:`crm_analysis.retention.retention_by_vehicle_age` at the as-of date (vehicle
  base, all stores, 12- and 6-month windows);
- :func:`crm_analysis.retention.annual_average` over the 12 month-ends of the last full
  year before the as-of date (the FAW-Toyota chart);
- :func:`crm_analysis.survival.defection_table` at the as-of date (all stores, with the
  vehicle and customer covariates), when ``crm_analysis.survival`` can be imported;

and prints one markdown table (step, input, orders, rows out, seconds, orders/s, data MB,
peak MB) headed by the machine. It also checks that pandas and Polars give identical
retention tables on every size, and that the ×10 tables are the ×1 tables with every
count multiplied by 10 and the same rates (the tiles are identical customer bases).
Nothing else is asserted.

Data and measurement are those of ``bench_features.py`` (shared code in ``common.py``):
one group of about 1M orders (``generate(n_stores=3, seed=2026, scale=3.55)``) tiled 10
times for 10M, parquet files read before the clock starts (only the columns the
function uses) except for Polars-lazy, whose measured query starts from
``pl.scan_parquet``; every step in a fresh process, the fastest of ``--repeat`` runs;
peak MB is the resident-set high-water mark of the run, interpreter and input included.
The same ``--workdir`` with ``--keep`` reuses the data of either script.

Usage
-----
    python benchmarks/bench_retention.py                       # 1M and 10M orders
    python benchmarks/bench_retention.py --sizes 1 --base-scale 0.5 --repeat 1   # quick
    python benchmarks/bench_retention.py --workdir /tmp/bf --keep        # reuse the data
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from common import (
    load,
    machine,
    measure,
    parser,
    rss_mb,
    run_child,
    run_child_step,
    versions,
)

RETENTION_ORDERS = ["vin", "store_id", "open_date"]
RETENTION_VEHICLES = ["vin", "store_id", "sold_here", "sale_date"]
DEFECTION_ORDERS = ["vin", "store_id", "open_date", "customer_id", "mileage_km"]
DEFECTION_VEHICLES = ["vin", "customer_id", "store_id", "sold_here", "sale_date", "usage",
                      "grade", "model"]
DEFECTION_CUSTOMERS = ["customer_id", "customer_type", "region", "occupation"]
ENGINES = ("pandas", "polars", "polars-lazy")
FUNCS = ("retention", "annual", "defection")
STEPS = tuple(f"{f}/{e}" for f in FUNCS for e in ENGINES)
NAMES = {"retention": "retention_by_vehicle_age", "annual": "annual_average",
         "defection": "defection_table"}
COMPARED = ("retention", "annual")  # written to parquet and compared across engines


def _has_survival() -> bool:
    try:
        import crm_analysis.survival  # noqa: F401
    except ImportError:
        return False
    return True


def _year(as_of: str) -> int:
    """The last calendar year that ends on or before ``as_of``."""
    y, m, d = (int(x) for x in as_of[:10].split("-"))
    return y if (m, d) == (12, 31) else y - 1


def _child_step(step: str, folder: Path, as_of: str, out_path: str | None,
                repeat: int) -> dict:
    import polars as pl

    func, engine = step.split("/")
    if func == "defection":
        from crm_analysis.survival import defection_table

        data = {"repair_orders": load(engine, folder, "repair_orders", DEFECTION_ORDERS),
                "vehicles": load(engine, folder, "vehicles", DEFECTION_VEHICLES),
                "customers": load(engine, folder, "customers", DEFECTION_CUSTOMERS)}

        def call():
            return defection_table(data, as_of=as_of)
    else:
        from crm_analysis.retention import annual_average, retention_by_vehicle_age

        data = {"repair_orders": load(engine, folder, "repair_orders", RETENTION_ORDERS),
                "vehicles": load(engine, folder, "vehicles", RETENTION_VEHICLES)}

        if func == "retention":
            def call():
                return retention_by_vehicle_age(data, as_of=as_of)
        else:
            year = _year(as_of)

            def call():
                return annual_average(data, year)

    def run():
        out = call()
        return out.collect() if isinstance(out, pl.LazyFrame) else out

    data_mb = rss_mb()
    res, secs, peak, per_step = measure(run, repeat)
    if out_path:
        (res if isinstance(res, pl.DataFrame) else pl.from_pandas(res)).write_parquet(out_path)
    return {"seconds": secs, "peak_mb": peak, "data_mb": data_mb, "per_step": per_step,
            "rows": len(res)}


def _child_compare(func: str, paths_json: str) -> dict:
    """Engines identical on each size; ×n counts = n × the ×1 counts, rates equal."""
    import polars as pl

    paths = json.loads(paths_json)  # {"1": {"pandas": path, ...}, "10": {...}}
    same_engines = True
    for by_engine in paths.values():
        frames = [pl.read_parquet(p) for p in by_engine.values()]
        same_engines &= all(f.equals(frames[0]) for f in frames[1:])
    scaled = None
    sizes = sorted(paths, key=int)
    if len(sizes) > 1 and sizes[0] == "1":
        one = pl.read_parquet(next(iter(paths["1"].values())))
        ints = [c for c in one.columns if one.schema[c].is_integer() and c != "age_band"]
        same = [c for c in one.columns if c.endswith(("_rate", "_ratio"))
                or c in ("age_band", "months")]
        scaled = True
        for n in sizes[1:]:
            big = pl.read_parquet(next(iter(paths[n].values())))
            k = int(n)
            scaled &= big.select(same).equals(one.select(same))
            if func == "retention":  # counts scale; the Wilson bounds narrow
                scaled &= big.select(ints).equals(one.select(pl.col(c) * k for c in ints))
            else:  # mean base: float, equal up to rounding
                ratio = big["base_vehicles"] / (one["base_vehicles"] * k)
                scaled &= bool(((ratio - 1).abs() < 1e-12).all())
    return {"func": func, "same_engines": bool(same_engines), "scaled": scaled}


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0], STEPS)
    args = p.parse_args(argv)

    if args.child:  # one measured step in a fresh process
        return run_child_step(args.child, _child_compare, _child_step)

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    steps = [s for s in args.steps.split(",") if s.strip()]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        p.error(f"unknown steps {unknown}; use {list(STEPS)}")
    if not _has_survival():
        print("crm_analysis.survival cannot be imported: skipping defection_table",
              file=sys.stderr)
        steps = [s for s in steps if not s.startswith("defection/")]

    def child(child_args: list[str]) -> dict:
        return run_child(__file__, child_args)

    tmp = None
    if args.workdir:
        workdir = Path(args.workdir)
    else:
        tmp = tempfile.mkdtemp(prefix="crm-bench-retention-")
        workdir = Path(tmp)
    try:
        meta_path = workdir / "prepared.json"
        prepared = json.loads(meta_path.read_text()) if args.keep and meta_path.exists() \
            else None
        key = [args.base_scale, args.stores, args.seed]
        if not prepared or prepared.get("key") != key or not all(
                str(n) in prepared["sizes"] for n in sizes):
            print(f"generating ~{args.base_scale * 282_000:,.0f} orders and tiling "
                  f"{sizes} into {workdir} ...", file=sys.stderr)
            prepared = child(["prepare", str(workdir), ",".join(map(str, sizes)),
                              str(args.stores), str(args.seed), str(args.base_scale)])
            prepared["key"] = key
            meta_path.write_text(json.dumps(prepared))
        as_of = prepared["as_of"]

        rows = []
        outputs: dict[str, dict[str, dict[str, str]]] = {f: {} for f in COMPARED}
        per_step = True
        for n in sizes:
            folder = workdir / f"x{n}"
            info = prepared["sizes"][str(n)]
            for step in steps:
                print(f"  x{n} {step} ...", file=sys.stderr)
                func, engine = step.split("/")
                out_path = "-"
                if func in COMPARED:
                    out_path = str(workdir / f"out_{func}_x{n}_{engine}.parquet")
                    outputs[func].setdefault(str(n), {})[engine] = out_path
                r = child([step, str(folder), as_of, out_path, str(args.repeat)])
                per_step = per_step and r["per_step"]
                rows.append((step, n, info["orders"], r))
        checks = [child(["compare", f, json.dumps(outputs[f])])
                  for f in COMPARED if outputs[f]]
    finally:
        if tmp and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"### bench_retention: as of {as_of} (annual average over {_year(as_of)}), "
          f"all stores, vehicle base, base group {args.stores} stores × scale "
          f"{args.base_scale:g}, seed {args.seed}\n")
    print(f"Machine: {machine()}  ")
    print(f"Software: {versions()}\n")
    print("| step | input | orders | rows out | seconds | orders/s | data MB | peak MB |")
    print("|:-----|:------|-------:|---------:|--------:|---------:|--------:|--------:|")
    for step, n, orders, r in rows:
        func, engine = step.split("/")
        rate = orders / r["seconds"] if r["seconds"] > 0 else float("inf")
        print(f"| {NAMES[func]} ×{n} | {engine} | {orders:,} | {r['rows']:,} "
              f"| {r['seconds']:.2f} | {rate:,.0f} | {r['data_mb']:,.0f} "
              f"| {r['peak_mb']:,.0f} |")
    note = "reset before each run" if per_step else "process-wide (not resettable here)"
    print(f"\nseconds: fastest of {args.repeat} run(s) in one process; data MB: resident "
          f"set after loading the input; peak MB: high-water mark during a run ({note}); "
          "both include the interpreter and libraries. polars-lazy reads the parquet files "
          "inside the measured step.")
    for c in checks:
        engines = "identical across engines" if c["same_engines"] else "ENGINES DIFFER"
        scaled = {None: "", True: "; every ×n table has n × the ×1 counts and the same rates",
                  False: "; the ×n tables are NOT n × the ×1 tables"}[c["scaled"]]
        print(f"\n{NAMES[c['func']]}: {engines}{scaled}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

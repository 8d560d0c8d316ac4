#!/usr/bin/env python
"""Benchmark the churn, lifetime-value and economics steps of notebooks 04 and 05 per store.

For every store of a dataset folder (default ``data/sample``, made by ``make data``), times
the steps the two notebooks run, each in this process, the fastest of ``--repeat`` runs
(default 1; the backtest is the slow one):

- ``backtest``: :func:`crm_analysis.churn.backtest` with its defaults (three yearly
  training snapshots, logistic regression and gradient boosting, calibration, permutation
  importance with 5 repeats, both baselines);
- ``churn model fit`` and ``churn model predict``: :class:`crm_analysis.churn.ChurnModel`
  trained to score at the as-of date, then scoring with reason codes;
- ``five classes + call list``: :func:`five_classes`, :func:`action_list` and the
  formatted workbook of :func:`write_action_list` (in memory);
- ``BG/NBD + Gamma-Gamma``: ``rfm_summary`` of the store's orders (weeks) and both fits;
- ``economics``: :func:`service_pnl`, :func:`service_by_age`,
  :func:`new_car_lifetime_value` and :func:`retention_lift`.

Rows also give the size of the input (customers scored, customers in the BTYD fit) and the
backtest's ROC-AUC of the best model and of the recency rule, so a slower run can be told
apart from a larger one. Prints one markdown table headed by the machine. Nothing is
asserted.

Usage
-----
    .venv/bin/python benchmarks/bench_churn.py
    .venv/bin/python benchmarks/bench_churn.py --data data/my_group --stores 001 --repeat 3
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from common import machine, measure

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--data", default=str(ROOT / "data" / "sample"),
                   help="dataset folder (default data/sample; `make data` creates it)")
    p.add_argument("--stores", default="all", help="comma-separated store ids or 'all'")
    p.add_argument("--repeat", type=int, default=1, help="runs per step; fastest shown")
    args = p.parse_args()

    sys.path.insert(0, str(ROOT))
    from crm_analysis import economics
    from crm_analysis.btyd import BetaGeoModel, GammaGammaModel
    from crm_analysis.churn import ChurnModel, backtest
    from crm_analysis.features import rfm_summary
    from crm_analysis.five_classes import action_list, five_classes, write_action_list
    from crm_analysis.margins import order_profit
    from crm_analysis.schema import Dataset

    folder = Path(args.data)
    if not (folder / "repair_orders.parquet").exists():
        print(f"error: no dataset in {folder}; run `make data` first", file=sys.stderr)
        return 2
    ds = Dataset.from_dir(folder)
    as_of = ds.meta["as_of"]
    stores = sorted(ds.stores["store_id"]) if args.stores == "all" \
        else [s.strip() for s in args.stores.split(",")]

    rows = []
    for sid in stores:
        res, s_bt, mb_bt, _ = measure(lambda sid=sid: backtest(ds, as_of=as_of, store_id=sid),
                                      args.repeat)
        m = res.metrics_.set_index("model")["roc_auc"]
        cm, s_fit, mb_fit, _ = measure(
            lambda sid=sid, best=res.best_model_: ChurnModel(model=best).fit(
                ds, as_of=as_of, store_id=sid), args.repeat)
        scored, s_pred, mb_pred, _ = measure(lambda cm=cm: cm.predict(ds), args.repeat)

        def classes(scored=scored):
            fc = five_classes(scored)
            actions = action_list(fc, scored)
            write_action_list(actions, io.BytesIO(), key=b"benchmark-key")
            return actions

        _, s_fc, mb_fc, _ = measure(classes, args.repeat)

        def btyd(sid=sid):
            o = ds.repair_orders
            o = order_profit(o[o["store_id"] == sid])
            rfm = rfm_summary(o, value_col="gross_profit", as_of=as_of, freq="D",
                              freq_multiplier=7)
            BetaGeoModel().fit(rfm["frequency"], rfm["recency"], rfm["T"])
            rep = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
            GammaGammaModel().fit(rep["frequency"], rep["monetary_value"])
            return len(rfm)

        n_btyd, s_btyd, mb_btyd, _ = measure(btyd, args.repeat)

        def econ(sid=sid):
            economics.service_pnl(ds, as_of=as_of, store_id=sid)
            curve = economics.service_by_age(ds, as_of=as_of, store_id=sid)
            years = economics.observed_years(curve)
            economics.new_car_lifetime_value(curve, max_age=years)
            economics.retention_lift(curve, max_age=years)

        _, s_econ, mb_econ, _ = measure(econ, args.repeat)
        rows.append((sid, len(scored), n_btyd, float(m[res.best_model_]),
                     float(m["recency_rule"]), s_bt, s_fit, s_pred, s_fc, s_btyd, s_econ,
                     max(mb_bt, mb_fit, mb_pred, mb_fc, mb_btyd, mb_econ)))

    print(f"Machine: {machine()}")
    print(f"Data: {folder} (as of {as_of}), fastest of {args.repeat} run(s), seconds\n")
    print("| store | customers scored | BTYD customers | ROC-AUC best / recency | backtest "
          "| churn fit | churn predict | five classes + xlsx | BG/NBD + GG | economics "
          "| peak MB |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for (sid, n_sc, n_bt, auc, auc_r, *secs, mb) in rows:
        times = " | ".join(f"{s:.2f}" for s in secs)
        print(f"| {sid} | {n_sc:,} | {n_bt:,} | {auc:.3f} / {auc_r:.3f} | {times} "
              f"| {mb:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Measure the default synthetic data against its calibration targets.

Prints a markdown table and, with ``--write``, replaces the table between the
``<!-- calibration-table -->`` markers of ``data/README.md``. The same figures are
checked against their target ranges by ``tests/test_synth.py``.

    python scripts/calibration_table.py --write
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from reference import annual_average_reference  # noqa: E402

from crm_analysis import config  # noqa: E402
from crm_analysis.synth import generate  # noqa: E402

AS_OF = pd.Timestamp(config.DEFAULT_AS_OF)
STORE = "001"


def measure() -> list[tuple[str, str, str, str]]:
    ds = generate(n_stores=3, seed=config.DEFAULT_SEED)
    o = ds.repair_orders
    o = o[o["store_id"] == STORE]
    last12 = o[o["open_date"] > AS_OF - pd.DateOffset(months=12)]
    rev = last12["total_amount"].sum()
    cost = last12["labor_cost"].sum() + last12["parts_cost"].sum() + 0.8 * last12[
        "other_amount"].sum()

    def gm(frame):
        r = frame["total_amount"].sum()
        c = frame["labor_cost"].sum() + frame["parts_cost"].sum() + 0.8 * frame[
            "other_amount"].sum()
        return (r - c) / r

    mix = last12["ro_type"].value_counts(normalize=True)
    base24 = o[o["open_date"] > AS_OF - pd.DateOffset(months=24)]["vin"].unique()
    walk = (~ds.vehicles[ds.vehicles["vin"].isin(base24)]["sold_here"]).mean()
    visits = last12.groupby("vin")["open_date"].nunique().mean()
    curve = annual_average_reference(ds, AS_OF, store_id=STORE)
    deck = "after-sales CRM deck (source 004)"
    rows = [
        ("repair orders a month", "~1,300 (±15 %)", deck, f"{len(last12) / 12:,.0f}"),
        ("average order value", "¥500–700", deck, f"¥{last12['total_amount'].mean():,.0f}"),
        ("gross margin", "~45 % (±4 pts)", f"{deck}; Zhongsheng H1 2024",
         f"{(rev - cost) / rev:.1%}"),
        ("gross margin, maintenance", "~40 %", "Zhongsheng H1 2024",
         f"{gm(last12[last12['ro_type'] == 'maintenance']):.1%}"),
        ("gross margin, body & paint", "~60 %", "Zhongsheng H1 2024",
         f"{gm(last12[last12['ro_type'] == 'body_paint']):.1%}"),
        ("labour share of order value", "30–45 %", "DOMAIN.md §4",
         f"{last12['labor_amount'].sum() / rev:.1%}"),
        ("parts per ¥1 of labour", "1.55 (US)", "NADA 2017",
         f"{last12['parts_amount'].sum() / last12['labor_amount'].sum():.2f}"),
    ]
    for t, rng in (("maintenance", "50–60 %"), ("repair", "15–20 %"), ("body_paint", "10–15 %"),
                   ("warranty", "5–10 %"), ("detailing", "~5 %")):
        rows.append((f"share of orders: {t.replace('_', ' & ')}", rng, "DOMAIN.md §4",
                     f"{mix.get(t, 0):.1%}"))
    rows += [
        ("walk-ins in the service base (24 months)", "25–35 %", "project assumption",
         f"{walk:.1%}"),
        ("visits a year per retained car", "2–3 (3.4 → 2.8 in China)", "J.D. Power China 2019",
         f"{visits:.2f}"),
    ]
    for year, rng in ((1, "85–95 %"), (2, "60–70 %"), (3, "45–55 %"), (4, "20–30 %"),
                      (10, "5–10 %")):
        rows.append((f"retention rate, year {year}", rng,
                     "DOMAIN.md §4 default curve; FAW-Toyota (source 002)",
                     f"{curve.loc[year - 1]:.1%}"))
    return rows


def table(rows) -> str:
    lines = ["| figure | target | source | measured |", "|:--|:--|:--|--:|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="update data/README.md")
    args = p.parse_args()
    text = table(measure())
    print(text)
    if args.write:
        readme = ROOT / "data" / "README.md"
        s = readme.read_text(encoding="utf-8")
        new, n = re.subn(r"(<!-- calibration-table -->\n).*?(\n<!-- /calibration-table -->)",
                         lambda m: m.group(1) + text + m.group(2), s, flags=re.S)
        if n != 1:
            raise SystemExit("calibration-table markers not found in data/README.md")
        readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

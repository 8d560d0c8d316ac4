"""data/README.md documents every generator parameter with its current default.

The parameter tables are written for people (``private 13,000; company 25,000``), so the
test compares the numbers in each row with the numbers of the default value, in order.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from crm_analysis import config
from crm_analysis.synth import DEFAULT_STORES, SynthParams

README = (config.PROJECT_ROOT / "data" / "README.md").read_text(encoding="utf-8")
NUMBER = re.compile(r"[−-]?\d[\d,]*(?:\.\d+)?\s*%?")
# rows written with compressed month ranges ("Feb–Apr 0.95") cannot be compared number by number
COMPRESSED = {"sales_month_factor"}


def numbers(text: str) -> list[float]:
    out = []
    for m in NUMBER.findall(text):
        pct = m.strip().endswith("%")
        v = float(m.replace("−", "-").replace(",", "").rstrip("% "))
        out.append(v / 100 if pct else v)
    return out


def flat(value) -> list[float]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in flat(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in flat(v)]
    if isinstance(value, bool):
        return []
    return [float(value)]


def row(name: str, min_cells: int = 1) -> list[str]:
    """The cells after the name of the first table row documenting ``name``."""
    for m in re.finditer(rf"^\| `{re.escape(name)}` \|(.*)$", README, re.M):
        cells = [c.strip() for c in m.group(1).split("|")]
        if len(cells) >= min_cells:
            return cells
    raise AssertionError(f"data/README.md does not document `{name}`")


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(SynthParams)])
def test_synth_params_documented_with_their_defaults(field):
    cells = row(field)
    if field in COMPRESSED:
        return
    default = getattr(SynthParams(), field)
    if isinstance(default, bool):
        assert cells[0] == str(default), (field, cells[0])
        return
    assert numbers(cells[0]) == pytest.approx(flat(default)), (field, cells[0], default)


@pytest.mark.parametrize("field", ["sales_per_month", "sales_growth_per_year", "walkin_ratio",
                                   "hazard_multiplier", "opened_months_after_start"])
def test_store_profiles_documented_with_their_defaults(field):
    cells = row(field, min_cells=1 + len(DEFAULT_STORES))[1:1 + len(DEFAULT_STORES)]
    documented = [numbers(c)[0] for c in cells]
    assert documented == pytest.approx([getattr(s, field) for s in DEFAULT_STORES]), field

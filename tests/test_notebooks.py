"""The notebooks run with papermill on generated data and record the right numbers.

Each notebook records its key metrics (``Narrator.record``); the tests recompute those
numbers directly from the data, as the recommenders project does for its examples.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jupytext
import nbformat
import pandas as pd
import pytest

from crm_analysis import config
from crm_analysis.reporting import discover_notebooks, run_reports

AS_OF = "2023-12-31"
STORE = "002"  # a string id with leading zeros


@pytest.fixture(scope="module")
def data_dir(small_dir):
    """3 stores, seed 21, 2019-01-01 to AS_OF, scale 0.1 (conftest.DATASETS["small"])."""
    return small_dir


@pytest.fixture(scope="module", params=["en", "zh"])
def report(request, data_dir, notebook_runs):
    lang = request.param
    out, results = notebook_runs(("01", lang, data_dir), lambda out: (out, run_reports(
        data_dir, out, stores=[STORE], notebooks=["01"], lang=lang, progress=False)))
    return lang, out, results


def test_notebook_runs_and_writes_html(report):
    lang, out, results = report
    assert [(r.store_id, r.notebook, r.status) for r in results] == [
        (STORE, "01_data_overview", "ok")], results[0].error
    html = (out / STORE / "01_data_overview.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64', html)) >= 3
    assert "plotting.setup(lang)" not in html  # code cells are hidden
    assert ("数据概览" in html) if lang == "zh" else ("data overview" in html)
    if lang == "zh":  # no English prose leaks into a Chinese report
        for english in ("What the export contains", "The workshop month by month",
                        "What it means for the store", "Data overview of one store"):
            assert english not in html, english
    index = (out / "index.html").read_text(encoding="utf-8")
    assert f'href="{STORE}/01_data_overview.html"' in index


def test_recorded_metrics_match_the_data(report, data_dir):
    _lang, out, results = report
    metrics = json.loads((out / STORE / "01_data_overview.metrics.json").read_text())
    assert metrics == results[0].metrics
    assert metrics["store_id"] == STORE and metrics["as_of"] == AS_OF

    from crm_analysis.schema import Dataset

    ds = Dataset.from_dir(data_dir)
    t = pd.Timestamp(AS_OF)
    o = ds.repair_orders[ds.repair_orders["store_id"] == STORE]
    last12 = o[o["open_date"] > t - pd.DateOffset(months=12)]
    assert metrics["orders_total"] == len(o)
    assert metrics["orders_last_12m"] == len(last12)
    assert metrics["avg_order_value"] == pytest.approx(last12["total_amount"].mean())
    assert metrics["share_maintenance"] == pytest.approx(
        (last12["ro_type"] == "maintenance").mean())
    v = ds.vehicles
    age = (t - v["sale_date"]).dt.days / 365.25
    own = (v["store_id"] == STORE) & v["sold_here"] & (v["sale_date"] <= t) & (age <= 10)
    assert metrics["vehicle_base"] == int(own.sum())
    served = set(o.loc[o["open_date"] > t - pd.DateOffset(months=24), "vin"])
    base = v[v["vin"].isin(served)]
    assert metrics["service_base"] == len(base)
    assert metrics["service_base_walkin_share"] == pytest.approx((~base["sold_here"]).mean())
    assert metrics["validation_violations"] == 0


def test_notebooks_are_paired_and_stored_without_outputs():
    notebooks = sorted(config.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert notebooks, "no notebooks found"
    assert [p.stem for p in notebooks] == [p.stem for p in discover_notebooks()]
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name
        assert nb.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent", path.name
        paired = jupytext.read(path.with_suffix(".py"))
        assert [c.source for c in paired.cells] == [c.source for c in nb.cells], (
            f"{path.name} and its .py differ: run `make notebooks-sync`")
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1, path.name
        # store notebooks take one store; group notebooks (06) a list of stores instead
        group = not re.search(r"^store_id = ", params[0].source, re.M)
        names = ("data_dir", "stores", "as_of", "lang") if group else (
            "data_dir", "store_id", "as_of", "lang")
        for name in names:
            assert re.search(rf"^{name} = ", params[0].source, re.M), (path.name, name)
    assert any(re.search(r"^store_id = ", p.with_suffix(".py").read_text(), re.M)
               for p in notebooks)


def test_unknown_store_is_refused_before_running(data_dir, tmp_path):
    with pytest.raises(ValueError, match="001, 002, 003"):
        run_reports(data_dir, tmp_path, stores=["2"], notebooks=["01"], progress=False)
    assert not (Path(tmp_path) / "index.html").exists()

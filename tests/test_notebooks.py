"""The notebooks run with papermill on generated data and record the right numbers.

Each notebook records its key metrics (``Narrator.record``); the tests recompute those
numbers directly from the data, as the recommenders project does for its examples.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import jupytext
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
    assert ("01 · 数据概览" in html) if lang == "zh" else ("01 · Data overview" in html)
    if lang == "zh":  # no English prose leaks into a Chinese report
        for english in ("What the export contains", "The workshop month by month",
                        "What it means for the store", "Data overview",
                        "Data quality of the raw export", "orders a month"):
            assert english not in html, english
    else:  # nor Chinese prose into an English one
        for chinese in ("数据概览", "车间的月度业务", "对门店的启示", "原始导出数据的质量"):
            assert chinese not in html, chinese
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


def test_notebooks_are_tracked_as_scripts_only():
    """The py:percent scripts are the notebooks' source; an .ipynb is a reader's working
    copy with outputs (git-ignored), so running one never changes `git status`."""
    scripts = sorted(config.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py"))
    assert scripts, "no notebooks found"
    assert discover_notebooks() == scripts  # the scripts win over any .ipynb copy
    for path in scripts:
        nb = jupytext.read(path)
        # no header (kernelspec, jupytext version): saving elsewhere does not rewrite it
        assert path.read_text(encoding="utf-8").startswith("# %%"), path.name
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1, path.name
        # store notebooks take one store; group notebooks (06) a list of stores instead
        group = not re.search(r"^store_id = ", params[0].source, re.M)
        names = ("data_dir", "stores", "as_of", "lang") if group else (
            "data_dir", "store_id", "as_of", "lang")
        for name in names:
            assert re.search(rf"^{name} = ", params[0].source, re.M), (path.name, name)
    assert any(re.search(r"^store_id = ", p.read_text(), re.M) for p in scripts)
    git = shutil.which("git")
    if git and (config.PROJECT_ROOT / ".git").exists():
        tracked = subprocess.run([git, "ls-files", "notebooks"], cwd=config.PROJECT_ROOT,
                                 capture_output=True, text=True, check=True).stdout.split()
        assert [f for f in tracked if f.endswith(".ipynb")] == []
        ignored = subprocess.run([git, "check-ignore", "notebooks/01_data_overview.ipynb",
                                  "notebooks/lessons/L1_x.ipynb"], cwd=config.PROJECT_ROOT,
                                 capture_output=True, text=True)
        assert len(ignored.stdout.split()) == 2


def test_unknown_store_is_refused_before_running(data_dir, tmp_path):
    with pytest.raises(ValueError, match="001, 002, 003"):
        run_reports(data_dir, tmp_path, stores=["2"], notebooks=["01"], progress=False)
    assert not (Path(tmp_path) / "index.html").exists()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_nb01_year_texts_read_well_for_every_trend(lang):
    """Notebook 01 tells nb01.activity_<trend> and nb01.summary_<trend>: a store with no
    orders in the year before gets the "no earlier year" text, not "n/a below", and a
    small store's 2 orders in twelve months read 0.2 orders a month, not 0."""
    from crm_analysis import overview
    from crm_analysis.narrative import Narrator

    n = Narrator(lang)
    cases = {"up": ["2023-03-01", "2024-02-01", "2024-05-05"],  # 2 against 1: +100%
             "down": ["2023-01-01", "2023-03-01", "2024-05-05"],  # 1 against 2: -50%
             "no_history": ["2024-02-01", "2024-05-05"]}  # nothing before July 2023
    growth_text = {"up": "100.0%", "down": "50.0%", "no_history": None}
    for trend, dates in cases.items():
        o = pd.DataFrame({"open_date": pd.to_datetime(dates), "vin": "V",
                          "total_amount": 100.0})
        year = overview.last_year_activity(o, as_of="2024-06-30")
        assert year.trend == trend
        values = dict(per_month=year.orders_per_month, aov=year.avg_order_value,
                      revenue=year.revenue, growth=abs(year.growth), maintenance=0.5,
                      body_revenue=0.3, walkin_revenue=0.2)
        for key in (f"nb01.activity_{trend}", f"nb01.summary_{trend}"):
            text = n.text(key, **values)
            assert n.missing not in text, (key, text)
            per_month = round(len(year.orders) / 12, 1)  # 1 or 2 orders: 0.1 or 0.2
            assert f"{per_month} " in text and " 0 " not in text, (key, text)
            if growth_text[trend]:
                assert growth_text[trend] in text, (key, text)

"""Notebook 06 (group benchmark) runs with papermill in both languages; its numbers are right.

06 is a group notebook (no ``store_id``), so it is executed here with papermill's Python
API through :func:`crm_analysis.reporting.execute_notebook`. The recorded metrics are
checked against :mod:`crm_analysis.group` called directly; the Chinese run also reads a
store report from a ``metrics_dir`` laid out as the batch runner writes it.
"""

from __future__ import annotations

import json
import re

import pytest

from crm_analysis import config
from crm_analysis.group import (
    gap_to_best,
    largest_gap,
    rank_stores,
    read_store_metrics,
    retention_by_store,
    store_scorecard,
)
from crm_analysis.reporting import execute_notebook, read_metrics, to_html

AS_OF = "2023-12-31"
NB = config.NOTEBOOKS_DIR / "06_group_benchmark.ipynb"
MIN_BASE = 30  # the notebook's comparison threshold
RUNS = {"en": {"stores": ""}, "zh": {"stores": "003,001"}}


@pytest.fixture(scope="module")
def data_dir(datasets):
    """3 stores, seed 21, 2017-01-01 to AS_OF, scale 0.1 (conftest.DATASETS["group"])."""
    return datasets.dir("group")


@pytest.fixture(scope="module")
def ds(datasets):
    return datasets.get("group")


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory):
    """A batch run folder with one Chinese store report (store 001, notebook 01)."""
    run = tmp_path_factory.mktemp("run06") / "2023-12"
    folder = run / "001" / "zh"
    folder.mkdir(parents=True)
    (folder / "01_data_overview.metrics.json").write_text(json.dumps(
        {"store_id": "001", "as_of": AS_OF, "vehicle_base": 777, "service_base": 555}))
    return run


# the Chinese run (a chosen subset of stores) is slow-marked to keep make test under
# 4 minutes; the English run stays
@pytest.fixture(scope="module", params=[pytest.param(lang, marks=pytest.mark.slow)
                                        if lang == "zh" else lang
                                        for lang in sorted(RUNS)])
def report(request, data_dir, metrics_dir, notebook_runs):
    lang = request.param
    params = {"data_dir": str(data_dir), "lang": lang, **RUNS[lang],
              "metrics_dir": str(metrics_dir) if lang == "zh" else ""}
    out = notebook_runs((NB.stem, lang, data_dir), lambda tmp: execute_notebook(
        NB, tmp / "06_group_benchmark.ipynb", params))
    return lang, out, params, read_metrics(out)


def test_notebook_runs_in_both_languages(report):
    lang, out, params, metrics = report
    html = to_html(out).read_text(encoding="utf-8")
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64', html)) >= 4
    assert "plotting.setup(lang)" not in html  # code hidden
    if lang == "zh":
        assert "集团对标" in html and "门店记分卡" in html
        for english in ("Group benchmark", "Retention by vehicle age, store by store",
                        "The scorecard", "Ranking the stores", "What it means for"):
            assert english not in html, english
        assert params["metrics_dir"] in html  # the text names the metrics source
    else:
        assert "Group benchmark" in html and "What it means for the dealer group" in html


def test_recorded_metrics_match_the_library(report, ds):
    lang, _, params, m = report
    stores = sorted(s for s in params["stores"].split(",") if s) or ds.store_ids
    assert m["n_stores"] == len(stores) and m["stores"] == stores
    assert m["as_of"] == AS_OF and m["year"] == 2023

    curves = retention_by_store(ds, stores, as_of=AS_OF)
    gaps = gap_to_best(curves[curves["base_vehicles"] >= MIN_BASE])
    gaps = gaps[gaps["stores"] >= 2]
    top = largest_gap(gaps)
    assert top["store_id"] is not None
    assert (m["largest_gap_store"], m["largest_gap_age"], m["largest_gap_year"]) == (
        top["store_id"], top["age_band"], top["year"])
    assert m["largest_gap_pp"] == pytest.approx(top["gap_pp"])
    assert m["best_store_by_age"] == {str(y): s for y, s in
                                      zip(gaps["year"], gaps["best_store"], strict=True)}
    assert m["largest_gap_value_per_year"] > 0

    reports = read_store_metrics(params["metrics_dir"], stores, lang) \
        if params["metrics_dir"] else {}
    sc = store_scorecard(ds, as_of=AS_OF, stores=stores, reports=reports, curves=curves)
    ranking = rank_stores(sc)
    assert m["best_store_overall"] == ranking["store_id"].iloc[0]
    assert m["overall_rank"] == dict(zip(ranking["store_id"],
                                         ranking["overall_rank"].astype(int), strict=True))
    recorded = m["scorecard"]
    assert sorted(recorded) == stores
    for row in sc.itertuples():
        for metric, want in row._asdict().items():
            if metric in ("Index", "store_id", "store_name", "source", "from_reports"):
                continue
            got = recorded[row.store_id][metric]
            if want != want or want is None:  # NaN / NA
                assert got is None, (row.store_id, metric)
            else:
                assert got == pytest.approx(float(want), rel=1e-9), (row.store_id, metric)

    if lang == "zh":  # store 001's bases came from its report
        assert recorded["001"]["vehicle_base"] == 777 and recorded["001"]["service_base"] == 555
        assert m["metrics_from_reports"] == 2 and m["metrics_source"] == "reports+data"
    else:
        assert m["metrics_from_reports"] == 0 and m["metrics_source"] == "data"


def test_parameters_cell_follows_the_contract():
    import nbformat

    nb = nbformat.read(NB, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    lines = [line for line in params[0].source.splitlines() if line.strip()]
    names = [line.split("=", 1)[0].strip() for line in lines]
    assert names == ["data_dir", "as_of", "lang", "stores", "metrics_dir"]
    assert "store_id" not in params[0].source
    for line in lines:
        code, _, comment = line.partition("#")
        assert "=" not in comment, line
    ns: dict = {}
    exec(params[0].source, ns)  # noqa: S102 - the notebook's own defaults
    assert (ns["data_dir"], ns["as_of"], ns["lang"], ns["stores"], ns["metrics_dir"]) == (
        "data/sample", None, "en", "", "")

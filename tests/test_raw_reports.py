"""Reports from raw DMS exports: notebook 01's data-quality section, and no raw PII.

A small store is written as a messy Chinese DMS export (raw names, phones and plates
included); the report runner reads the folder directly (crm_analysis.io.load, cached per
folder) and notebook 01 shows what was accepted, merged and quarantined. Notebooks 02-05
on the same kind of input: tests/test_raw_reports_all.py.
"""

from __future__ import annotations

import json

import pytest
from raw_export import AS_OF, find_pii, make_export, pii_values

from crm_analysis import reporting
from crm_analysis.context import is_raw_source, load_data, open_store
from crm_analysis.io.normalize import describe_reason
from crm_analysis.schema import example_dataset

STORE = "001"


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("raw") / "dms"
    # three CSV files (GBK, GBK, UTF-8 with BOM): .xlsx reading is slow, and is tested
    # with the loader and with `crm-analysis validate`
    ds, manifest = make_export(folder, formats=("csv",), months_per_file=72)
    return folder, ds, manifest


# the Chinese raw-export report is an end-to-end run marked slow: notebook 01 runs in
# Chinese on a dataset folder in tests/test_notebooks.py
@pytest.fixture(scope="module", params=["en", pytest.param("zh", marks=pytest.mark.slow)])
def report(request, export, notebook_runs):
    folder, *_ = export
    lang = request.param
    out, results = notebook_runs(("01", lang, folder), lambda out: (out, reporting.run_reports(
        folder, out, notebooks=["01"], lang=lang, as_of=AS_OF, progress=False)))
    return lang, out, results


def test_open_store_reads_raw_exports(export):
    folder, ds, manifest = export
    assert is_raw_source(folder) and len(manifest.files) == 3
    ctx = open_store(folder, store_id=STORE, as_of=AS_OF)
    lr = ctx.load_result
    assert lr is not None and ctx.dataset is lr.dataset
    assert load_data(folder, as_of=AS_OF).load_result is lr  # cached per folder and as_of
    assert ctx.as_of.isoformat()[:10] == AS_OF
    assert int(lr.report["quarantined"].sum()) == len(lr.quarantine) > 0
    assert lr.dataset.meta["pseudonymized"] is True
    assert not set(lr.dataset.customers["phone"].dropna()) & set(ds.customers["phone"])
    o = ctx.data.repair_orders
    assert (o["open_date"] == o["open_date"].dt.normalize()).all()  # days, no times
    assert list(reporting.list_stores(folder)) == [STORE]
    assert open_store(example_dataset(), store_id="001").load_result is None


def test_notebook_01_quality_section(report, export):
    lang, out, results = report
    folder, ds, _ = export
    assert [(r.store_id, r.notebook, r.status) for r in results] == [
        (STORE, "01_data_overview", "ok")], results[0].error
    lr = load_data(folder, as_of=AS_OF).load_result
    q = results[0].metrics["data_quality"]
    rep = lr.report
    assert q["rows_read"] == int(rep["read"].sum())
    assert q["rows_accepted"] == int(rep["accepted"].sum())
    assert q["rows_duplicates"] == int(rep["duplicates"].sum())
    assert q["rows_quarantined"] == int(rep["quarantined"].sum()) == len(lr.quarantine)
    assert q["quarantine_by_reason"] == lr.quarantine["reason"].value_counts().to_dict()
    assert q["flags_by_reason"] == lr.flags["reason"].value_counts().to_dict()
    assert len(q["quarantine_by_reason"]) >= 7

    html = (out / STORE / "01_data_overview.html").read_text(encoding="utf-8")
    heading = "Data quality of the raw export" if lang == "en" else "原始导出数据的质量"
    assert heading in html
    section = html[html.index(heading):]
    for reason, k in q["quarantine_by_reason"].items():
        text = describe_reason(reason, lang)
        assert text in section, text
        row = section[section.index(text):][:600]  # the table row: reason, code, count
        assert f">{k:,}<" in row, (reason, k)
    assert f"{q['rows_read']:,}" in section and f"{q['rows_quarantined']:,}" in section
    for _, r in rep.iterrows():  # one line per file, with its counts
        name = r["file"].rsplit("/", 1)[-1]
        row = section[section.index(name):][:800]
        for col in ("read", "accepted", "duplicates", "quarantined"):
            assert f">{r[col]:,}<" in row, (name, col)


def test_no_raw_personal_data_in_reports(report, export):
    _lang, out, _results = report
    _folder, ds, _ = export
    files = sorted(out.rglob("*.html")) + sorted(out.rglob("*.ipynb")) \
        + sorted(out.rglob("*.json"))
    assert len(files) >= 4  # index.html, the report's .html, .ipynb and metrics
    assert find_pii(files, pii_values(ds)) == []
    metrics = json.loads((out / STORE / "01_data_overview.metrics.json").read_text())
    assert metrics["as_of"] == AS_OF

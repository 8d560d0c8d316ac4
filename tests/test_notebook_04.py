"""Notebook 04 (churn risk and the five classes) runs with papermill; its numbers are right.

The recorded metrics are recomputed with plain pandas from the orders (who is scored, the
test year's churn rate), the backtest's claim (the model beats both baselines) is checked
on generated data, and the call list is read back from the Excel file and from the
download link in the report. Neither the HTML report nor the workbook may contain a raw
customer id, name or phone number of the input.
"""

from __future__ import annotations

import base64
import io
import json
import re
import zipfile

import openpyxl
import pandas as pd
import pytest

from crm_analysis.five_classes import CHURN_CLASSES
from crm_analysis.privacy import pseudonymize, store_key
from crm_analysis.reporting import run_reports
from crm_analysis.synth import generate

AS_OF = "2024-06-30"
STORE = "001"
NB = "04_churn_risk"
RUNS = {
    "en": {},
    "zh": {"risk_threshold": 0.4, "high_value_share": 0.3, "call_list_size": 50,
           "train_snapshots": 2, "shown_rows": 5},
}
DEFAULTS = {"risk_threshold": 0.5, "high_value_share": 0.2, "call_list_size": 200,
            "train_snapshots": 3, "shown_rows": 15}


@pytest.fixture(scope="module")
def data_dir(datasets):
    """1 store, seed 1, 2016-01-01 to AS_OF, scale 0.3 (conftest.DATASETS["churn"])."""
    return datasets.dir("churn")


@pytest.fixture(scope="module")
def ds(datasets):
    return datasets.get("churn")


def _run04(data_dir, lang, tmp):
    out, lists = tmp / "reports", tmp / "lists"
    lists.mkdir()
    results = run_reports(data_dir, out, stores=[STORE], notebooks=["04"], lang=lang,
                          extra_parameters={**RUNS[lang], "call_list_dir": str(lists)},
                          progress=False)
    return out, lists, results


# the English run (default parameters) is slow-marked to keep make test under 4 minutes;
# the Chinese run, with other parameters, stays
@pytest.fixture(scope="module", params=[pytest.param(lang, marks=pytest.mark.slow)
                                        if lang == "en" else lang
                                        for lang in sorted(RUNS)])
def report(request, data_dir, notebook_runs):
    lang = request.param
    out, lists, results = notebook_runs((NB, lang, data_dir),
                                        lambda tmp: _run04(data_dir, lang, tmp))
    return lang, out, lists, results, {**DEFAULTS, **RUNS[lang]}


def _html(out):
    return (out / STORE / f"{NB}.html").read_text(encoding="utf-8")


def test_notebook_runs_in_both_languages(report):
    lang, out, _, results, _ = report
    assert [(r.store_id, r.notebook, r.status) for r in results] == [(STORE, NB, "ok")], \
        results[0].error
    html = _html(out)
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64', html)) >= 4
    # the three tables (backtest scores, five classes, call list), each shown once
    assert html.count("<table") == 3
    if lang == "zh":
        assert "流失风险与五类客户" in html
        for english in ("Can churn be predicted", "The five customer classes",
                        "The call list", "What it means for the store"):
            assert english not in html, english
    else:
        assert "ROC-AUC" in html and "call list" in html


def test_backtest_claims_hold(report, ds):
    _, out, _, results, _ = report
    m = json.loads((out / STORE / f"{NB}.metrics.json").read_text())
    assert m == results[0].metrics
    best = m["best_model"]
    assert m[f"roc_auc_{best}"] > m["roc_auc_recency_rule"]
    assert m[f"roc_auc_{best}"] > m["roc_auc_bgnbd_p_alive"]
    assert m["calibration_gap"] < 0.1

    # the test year's churn rate, straight from the orders
    t_test = pd.Timestamp(AS_OF) - pd.DateOffset(months=12)
    assert m["test_date"] == t_test.date().isoformat()
    o = ds.repair_orders[ds.repair_orders["store_id"] == STORE]
    before = o[(o["open_date"] > t_test - pd.DateOffset(months=24)) & (o["open_date"] <= t_test)]
    after = o[(o["open_date"] > t_test) & (o["open_date"] <= pd.Timestamp(AS_OF))]
    base = set(before["customer_id"])
    assert m["test_churn_rate"] == pytest.approx(
        len(base - set(after["customer_id"])) / len(base), abs=1e-12)


def test_classes_cover_every_scored_customer(report, ds):
    _, _, _, results, p = report
    m = results[0].metrics
    t = pd.Timestamp(AS_OF)
    o = ds.repair_orders[ds.repair_orders["store_id"] == STORE]
    active = o[(o["open_date"] > t - pd.DateOffset(months=24)) & (o["open_date"] <= t)]
    assert m["customers_scored"] == active["customer_id"].nunique()
    assert sum(m[f"class_{c}"] for c in CHURN_CLASSES) == m["customers_scored"]
    assert m["expected_churners"] <= m["customers_scored"]
    assert m["call_list_customers"] == min(
        p["call_list_size"], m["class_high_value_at_risk"] + m["class_low_value_at_risk"])
    # the high-value group is the top share of the positive-value customers
    positive = m["customers_scored"] - m["class_no_value"]
    high = m["class_high_value_stable"] + m["class_high_value_at_risk"]
    assert high == pytest.approx(p["high_value_share"] * positive, abs=2)


def test_call_list_is_pseudonymized_and_downloadable(report, ds, data_dir):
    lang, out, lists, results, p = report
    m = results[0].metrics
    files = list(lists.glob("*.xlsx"))
    assert [f.name for f in files] == [f"call_list_{STORE}_{AS_OF}_{lang}.xlsx"]
    saved = files[0].read_bytes()
    # the download link in the report carries the same workbook
    link = re.search(r'href="data:application/vnd\.openxmlformats-officedocument\.'
                     r'spreadsheetml\.sheet;base64,([^"]+)"', _html(out))
    assert link is not None and base64.b64decode(link.group(1)) == saved

    ws = openpyxl.load_workbook(io.BytesIO(saved)).worksheets[0]
    rows = [r for r in ws.iter_rows(values_only=True)]
    key = store_key(data_dir)
    pseudonyms = set(pseudonymize(ds.customers["customer_id"], key))
    listed = [c for r in rows for c in r if isinstance(c, str) and c in pseudonyms]
    assert len(listed) == m["call_list_customers"] == len(set(listed))

    # no raw PII anywhere: workbook parts and HTML
    xml = "".join(zipfile.ZipFile(io.BytesIO(saved)).read(n).decode("utf-8", "replace")
                  for n in zipfile.ZipFile(io.BytesIO(saved)).namelist())
    html = _html(out)
    c = ds.customers
    listed_ids = c["customer_id"][pseudonymize(c["customer_id"], key).isin(listed)]
    raw = set(listed_ids) | set(c.loc[c["customer_id"].isin(listed_ids), "name"].dropna()) \
        | set(c.loc[c["customer_id"].isin(listed_ids), "phone"].dropna().astype(str))
    assert raw
    for value in raw:
        assert value not in xml, value
        assert value not in html, value
    # no phone number (not inside a hex pseudonym such as "17415039097f", which the
    # random per-folder key may give)
    assert not re.search(r"(?<![0-9a-f])1[3-9]\d{9}(?![0-9a-f])", html.replace(link.group(1), ""))


@pytest.mark.slow  # a third run of notebook 04, on a store with a short history
def test_short_history_trains_on_the_snapshots_it_allows(tmp_path):
    """A store with three years of orders cannot have training snapshots 2 and 3 years
    before the test year: the notebook uses fewer (and says so) instead of failing."""
    ds = generate(n_stores=1, seed=5, start="2021-07-01", as_of=AS_OF, scale=0.1)
    ds.to_dir(tmp_path / "data")
    results = run_reports(tmp_path / "data", tmp_path / "out", stores=[STORE],
                          notebooks=["04"], as_of=AS_OF, progress=False)
    assert [r.status for r in results] == ["ok"], results[0].error
    html = (tmp_path / "out" / STORE / f"{NB}.html").read_text(encoding="utf-8")
    m = re.search(r"too short for 3 yearly training snapshots; the model below is trained "
                  r"on the (\d) it allows", html)
    assert m and int(m.group(1)) in (1, 2)

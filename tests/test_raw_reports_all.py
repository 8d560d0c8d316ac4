"""Every report notebook runs on raw DMS exports, and none shows raw personal data.

The same kind of messy export as tests/test_raw_reports.py (which checks notebook 01's
data-quality section); here notebooks 02-05 run on it, in English. Four notebooks run one
after the other: the module is ``slow`` (``make test-slow``).
"""

from __future__ import annotations

import pytest
from raw_export import AS_OF, find_pii, make_export, pii_values

from crm_analysis import reporting

pytestmark = pytest.mark.slow

STORE = "001"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("raw") / "dms"
    ds, _ = make_export(folder, seed=8, scale=0.03, formats=("csv",), months_per_file=72)
    out = tmp_path_factory.mktemp("reports")
    results = reporting.run_reports(folder, out, notebooks=["02", "03", "04", "05"],
                                    lang="en", as_of=AS_OF, progress=False)
    return ds, out, {r.notebook[:2]: r for r in results}


@pytest.mark.parametrize("number", ["02", "04", "05"])
def test_notebook_runs_on_raw_exports(run, number):
    _ds, out, results = run
    r = results[number]
    assert r.ok, r.error
    assert r.html_path is not None and r.html_path.is_file()


def test_notebook_03_runs_on_raw_exports(run):
    _ds, _out, results = run
    assert results["03"].ok, results["03"].error


def test_no_raw_personal_data_in_any_report(run):
    ds, out, results = run
    files = sorted(out.rglob("*.html")) + sorted(out.rglob("*.ipynb"))
    assert len(files) >= 1 + 2 * len([r for r in results.values() if r.ok])
    assert find_pii(files, pii_values(ds)) == []

"""Tests for crm_analysis.reporting.

Kernel start-up costs a few seconds, so only six notebook executions happen in this file:
one shared successful run, one failing run and one run_reports over 2 stores x 2 notebooks.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from crm_analysis import reporting
from crm_analysis.reporting import (
    NotebookExecutionError,
    ReportResult,
    build_index,
    discover_notebooks,
    execute_notebook,
    run_reports,
    to_html,
    validate_parameters,
)

PARAMS_SOURCE = 'store_id = "000"\ndata_dir = ""\nlang = "en"\nas_of = None'
RECORD_SOURCE = (
    "import os\n"
    'print("TYPE=" + type(store_id).__name__)\n'
    'print("VALUE=" + repr(store_id))\n'
    'print("CWD=" + os.getcwd())\n'
    'print("LANG=" + lang)'
)
FIGURE_SOURCE = (
    "import matplotlib.pyplot as plt\n"
    "fig, ax = plt.subplots(figsize=(2, 2))\n"
    "ax.plot([1, 2, 3], [3, 1, 2])\n"
    "plt.show()"
)
MARKDOWN = "## Retention for this store"


def make_notebook(path: Path, *, extra: str | None = None, kernelspec: bool = True) -> Path:
    """Write a small parameterized notebook (no outputs) to ``path``."""
    nb = nbformat.v4.new_notebook()
    if kernelspec:
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
    nb.cells = [
        nbformat.v4.new_markdown_cell(MARKDOWN),
        nbformat.v4.new_code_cell(PARAMS_SOURCE, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(RECORD_SOURCE),
    ]
    if extra:
        nb.cells.append(nbformat.v4.new_code_cell(extra))
    nb.cells.append(nbformat.v4.new_code_cell(FIGURE_SOURCE))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def stdout_of(ipynb: Path) -> str:
    nb = nbformat.read(ipynb, as_version=4)
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )


# --------------------------------------------------------------------------- one shared run


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Execute the test notebook once with store_id "007" (no kernelspec in the file)."""
    root = tmp_path_factory.mktemp("exec")
    src = make_notebook(root / "nbs" / "01_demo.ipynb", kernelspec=False)
    out = execute_notebook(
        src,
        root / "out" / "01_demo.ipynb",
        {"store_id": "007", "data_dir": root, "lang": np.str_("zh"), "as_of": None},
    )
    return src, out


def test_string_store_id_stays_a_string(executed):
    _, out = executed
    text = stdout_of(out)
    assert "TYPE=str" in text
    assert "VALUE='007'" in text
    assert "LANG=zh" in text


def test_kernel_runs_in_notebook_folder(executed):
    src, out = executed
    assert f"CWD={src.parent.resolve()}" in stdout_of(out)


def test_output_records_real_source_path(executed):
    src, out = executed
    meta = json.loads(out.read_text(encoding="utf-8"))["metadata"]["papermill"]
    assert meta["input_path"] == str(src.resolve())
    assert meta["parameters"]["store_id"] == "007"


def test_source_notebook_untouched(executed):
    src, _ = executed
    nb = nbformat.read(src, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert "kernelspec" not in nb.metadata


def test_html_hides_code_and_embeds_figure(executed, tmp_path):
    _, out = executed
    html_path = to_html(out, tmp_path / "report.html")
    body = html_path.read_text(encoding="utf-8")
    # no code input, neither the plotting cell nor the parameters cell
    assert "plt.subplots" not in body
    assert "ax.plot" not in body
    assert 'store_id = "000"' not in body
    # figure embedded, markdown rendered, outputs kept
    assert "data:image/png;base64," in body
    assert "Retention for this store" in body
    assert "VALUE=" in body
    # self-contained: nothing loaded from the network
    assert not re.search(r'(?:src|href)="https?://', body)
    # deterministic
    again = to_html(out, tmp_path / "again.html").read_text(encoding="utf-8")
    assert again == body


def test_to_html_default_path(executed, tmp_path):
    _, out = executed
    copy = tmp_path / "x.ipynb"
    copy.write_bytes(out.read_bytes())
    assert to_html(copy) == tmp_path / "x.html"
    assert (tmp_path / "x.html").is_file()


# --------------------------------------------------------------------------- failures


def test_failing_cell_raises_and_writes_notebook(tmp_path):
    src = make_notebook(
        tmp_path / "02_fail.ipynb",
        extra='raise ZeroDivisionError("no repair orders for store " + store_id)',
    )
    out = tmp_path / "out" / "02_fail.ipynb"
    with pytest.raises(NotebookExecutionError) as info:
        execute_notebook(src, out, {"store_id": "007"})
    err = info.value
    assert err.ename == "ZeroDivisionError"
    assert "no repair orders for store 007" in err.evalue
    assert "no repair orders for store 007" in err.traceback
    assert "\x1b[" not in err.traceback
    message = str(err)
    assert "02_fail.ipynb" in message
    assert "'store_id': '007'" in message
    assert "ZeroDivisionError" in message
    # the failed notebook is still written, with the error in it
    assert out.is_file()
    assert err.output_path == out
    assert "no repair orders for store 007" in out.read_text(encoding="utf-8")
    assert "TYPE=str" in stdout_of(out)  # cells before the failure did run


def test_unknown_parameter_lists_valid_names(tmp_path):
    src = make_notebook(tmp_path / "01_demo.ipynb")
    with pytest.raises(ValueError) as info:
        execute_notebook(src, tmp_path / "out.ipynb", {"store": "007"})
    message = str(info.value)
    assert "'store'" in message
    for name in ("store_id", "data_dir", "lang", "as_of"):
        assert name in message
    assert not (tmp_path / "out.ipynb").exists()


def test_notebook_parameters_reads_parameters_cell(tmp_path):
    src = make_notebook(tmp_path / "01_demo.ipynb", kernelspec=False)
    params = reporting.notebook_parameters(src)
    assert list(params) == ["store_id", "data_dir", "lang", "as_of"]
    assert params["store_id"]["default"] == '"000"'


def test_parameters_converted_to_plain_types():
    declared = dict.fromkeys(["a", "b", "c", "d", "e", "f", "g", "h", "i"])
    out = validate_parameters(
        "nb.ipynb",
        {
            "a": np.int64(7),
            "b": np.float32(0.5),
            "c": np.str_("007"),
            "d": dt.date(2026, 6, 30),
            "e": pd.Timestamp("2026-06-30"),
            "f": Path("/data/sample"),
            "g": (1, np.int64(2)),
            "h": np.bool_(True),
            "i": np.datetime64("2026-06-30"),
        },
        declared=declared,
    )
    assert out == {
        "a": 7,
        "b": 0.5,
        "c": "007",
        "d": "2026-06-30",
        "e": "2026-06-30",
        "f": "/data/sample",
        "g": [1, 2],
        "h": True,
        "i": "2026-06-30",
    }
    assert type(out["a"]) is int and type(out["c"]) is str and type(out["h"]) is bool
    with pytest.raises(TypeError, match="'a'"):
        validate_parameters("nb.ipynb", {"a": object()}, declared=declared)


# --------------------------------------------------------------------------- discovery


def test_discover_notebooks(tmp_path):
    make_notebook(tmp_path / "01_a.ipynb")
    (tmp_path / "01_a.py").write_text("# %%\nx = 1\n")
    (tmp_path / "02_b.py").write_text("# %% tags=['parameters']\nstore_id = '000'\n")
    (tmp_path / "03_plain.py").write_text("x = 1\n")  # not a jupytext script
    (tmp_path / "notes.ipynb").write_text("{}")
    (tmp_path / "04_c.txt").write_text("")
    make_notebook(tmp_path / "sub" / "05_d.ipynb")
    make_notebook(tmp_path / "06_e.ipynb")  # a plain notebook without a script
    # the tracked script wins over its (git-ignored, maybe stale) .ipynb copy
    assert [p.name for p in discover_notebooks(tmp_path)] == ["01_a.py", "02_b.py", "06_e.ipynb"]


def test_select_notebooks_by_number_or_name(tmp_path):
    a = make_notebook(tmp_path / "01_a.ipynb")
    b = make_notebook(tmp_path / "02_b.ipynb")
    assert reporting._select_notebooks([a, b], ["02"]) == [b]
    assert reporting._select_notebooks([a, b], ["01_a", "2"]) == [a, b]
    with pytest.raises(ValueError, match="01_a, 02_b"):
        reporting._select_notebooks([a, b], ["09"])


# --------------------------------------------------------------------------- index


def test_build_index_links_and_status(tmp_path):
    reports = tmp_path / "reports"
    results = []
    for sid, nb, status in [
        ("007", "01_value", "ok"),
        ("007", "02_retention", "failed"),
        ("010", "01_value", "ok"),
        ("010", "02_retention", "ok"),
    ]:
        html_path = reports / sid / f"{nb}.html"
        ipynb_path = reports / sid / f"{nb}.ipynb"
        results.append(
            ReportResult(
                sid,
                f"Store {sid} 4S店",
                nb,
                status,
                1.25,
                html_path,
                ipynb_path,
                "KeyError: '<script>'" if status == "failed" else "",
            )
        )
    index = build_index(
        reports,
        results,
        data_dir=tmp_path / "data",
        as_of="2026-06-30",
        parameters={"lang": "en"},
        generated_at="2026-07-01T00:00:00",
    )
    assert index == reports / "index.html"
    body = index.read_text(encoding="utf-8")
    for sid in ("007", "010"):
        for nb in ("01_value", "02_retention"):
            assert f'href="{sid}/{nb}.html"' in body
            assert f'href="{sid}/{nb}.ipynb"' in body
    assert str(tmp_path) + "/reports" not in body.split("<table>")[1]  # links are relative
    assert body.count('class="failed"') == 1
    assert body.count('class="ok"') == 3
    assert "3 of 4 reports ok, 1 failed" in body
    assert "&lt;script&gt;" in body and "<script>" not in body  # escaped, no scripts
    assert "2026-06-30" in body and str((tmp_path / "data").resolve()) in body
    assert "Store 007 4S店" in body
    assert not re.search(r'(?:src|href)="https?://', body)
    assert "<style>" in body


def test_build_index_chinese_labels(tmp_path):
    r = ReportResult("001", "", "01_value", "ok", 0.5, None, None)
    body = build_index(tmp_path, [r], lang="zh").read_text(encoding="utf-8")
    assert 'lang="zh-CN"' in body and "门店" in body and "取自数据" in body


# --------------------------------------------------------------------------- run_reports


JUPYTEXT_SCRIPT = f"""\
# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# {MARKDOWN}

# %% tags=["parameters"]
{PARAMS_SOURCE}

# %%
{RECORD_SOURCE}
"""


@pytest.fixture
def fake_data(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setattr(
        reporting, "list_stores", lambda data_dir: {"007": "Store 007", "010": "Store 010"}
    )
    return data


def test_run_reports_continues_after_a_failure(tmp_path, fake_data):
    nbs = tmp_path / "notebooks"
    # 01 fails for store 007 only (the very first run); 02 exists only as a jupytext script
    make_notebook(
        nbs / "01_value.ipynb",
        extra='if store_id == "007":\n    raise KeyError("missing table for " + store_id)',
    )
    (nbs / "02_retention.py").write_text(JUPYTEXT_SCRIPT, encoding="utf-8")
    out = tmp_path / "reports"

    results = run_reports(fake_data, out, notebooks_dir=nbs, as_of="2026-06-30", progress=False)

    status = {(r.store_id, r.notebook): r.status for r in results}
    assert status == {
        ("007", "01_value"): "failed",
        ("007", "02_retention"): "ok",
        ("010", "01_value"): "ok",
        ("010", "02_retention"): "ok",
    }
    failed = next(r for r in results if not r.ok)
    assert "missing table for 007" in failed.error
    for r in results:
        assert r.ipynb_path == out / r.store_id / f"{r.notebook}.ipynb"
        assert r.html_path == out / r.store_id / f"{r.notebook}.html"
        assert r.ipynb_path.is_file() and r.html_path.is_file()
        assert r.seconds > 0
    # every store got its own id as a string, and the absolute data dir
    text = stdout_of(out / "010" / "02_retention.ipynb")
    assert "TYPE=str" in text and "VALUE='010'" in text
    meta = json.loads((out / "010" / "01_value.ipynb").read_text())["metadata"]["papermill"]
    assert meta["parameters"] == {
        "data_dir": str(fake_data.resolve()),
        "as_of": "2026-06-30",
        "lang": "en",
        "store_id": "010",
    }
    # index shows both notebooks for both stores, with the failure
    body = (out / "index.html").read_text(encoding="utf-8")
    for r in results:
        assert f'href="{r.store_id}/{r.notebook}.html"' in body
    assert body.count('class="failed"') == 1
    assert "missing table for 007" in body
    # nothing half-written left behind
    assert sorted(p.name for p in out.iterdir()) == ["007", "010", "index.html"]


def test_run_reports_rejects_bad_arguments(tmp_path, fake_data):
    nbs = tmp_path / "notebooks"
    make_notebook(nbs / "01_value.ipynb")
    out = tmp_path / "reports"
    with pytest.raises(ValueError, match="valid store ids: 007, 010"):
        run_reports(fake_data, out, notebooks_dir=nbs, stores=["7"])
    with pytest.raises(ValueError, match="unknown notebook"):
        run_reports(fake_data, out, notebooks_dir=nbs, notebooks=["05"])
    with pytest.raises(ValueError, match="language"):
        run_reports(fake_data, out, notebooks_dir=nbs, lang="fr")
    with pytest.raises(ValueError, match="ISO date"):
        run_reports(fake_data, out, notebooks_dir=nbs, as_of="30/06/2026")
    with pytest.raises(ValueError, match="valid parameters"):
        run_reports(fake_data, out, notebooks_dir=nbs, extra_parameters={"segment": "A"})
    assert not out.exists() or not any(out.rglob("*.ipynb"))


def test_run_reports_leaves_group_notebooks_to_the_batch_runner(tmp_path, fake_data):
    nbs = tmp_path / "notebooks"
    make_notebook(nbs / "01_value.ipynb")
    group = nbformat.v4.new_notebook()
    group.cells = [nbformat.v4.new_code_cell('data_dir = ""\nstores = ""',
                                             metadata={"tags": ["parameters"]})]
    nbformat.write(group, nbs / "06_group.ipynb")
    with pytest.raises(ValueError, match="group notebook"):
        run_reports(fake_data, tmp_path / "r", notebooks_dir=nbs, notebooks=["06"])
    with pytest.raises(ValueError, match="valid parameters"):
        run_reports(fake_data, tmp_path / "r", notebooks_dir=nbs, extra_parameters={"x": 1})
    with pytest.raises(TypeError, match="expects str"):
        run_reports(fake_data, tmp_path / "r", notebooks_dir=nbs, extra_parameters={"lang": 1})


# --------------------------------------------------------------------------- main()


def test_main_exit_codes(tmp_path, fake_data, monkeypatch, capsys):
    nbs = tmp_path / "notebooks"
    make_notebook(nbs / "01_value.ipynb")
    base = ["--data", str(fake_data), "--out", str(tmp_path / "r"), "--notebooks-dir", str(nbs)]
    assert reporting.main(["--help"]) == 0
    assert "--stores" in capsys.readouterr().out
    assert reporting.main([*base, "--lang", "fr"]) == 2
    assert reporting.main([*base, "--stores", "007,999"]) == 2
    assert "999" in capsys.readouterr().err
    assert reporting.main(["--data", str(tmp_path / "missing")]) == 2

    seen = {}

    def fake_run(data_dir, out_dir, **kw):
        seen.update(kw)
        ok = ReportResult("007", "", "01_value", "ok", 1.0, None, None)
        bad = ReportResult("010", "", "01_value", "failed", 1.0, None, None, "KeyError: x")
        return [ok, bad] if kw["lang"] == "zh" else [ok]

    monkeypatch.setattr(reporting, "run_reports", fake_run)
    assert reporting.main([*base, "--stores", "007,010", "--as-of", "2026-01-31"]) == 0
    assert seen["stores"] == ["007", "010"] and seen["as_of"] == "2026-01-31"
    assert reporting.main([*base, "--lang", "zh", "--notebooks", "01"]) == 1
    assert seen["notebooks"] == ["01"]
    assert "FAILED 010/01_value: KeyError: x" in capsys.readouterr().err

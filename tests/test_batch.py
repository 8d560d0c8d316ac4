"""Tests for the batch runner (crm_analysis.batch) and `crm-analysis batch`.

Kernel start-up dominates, so the real notebooks run only in the first test (notebook 01,
three small stores, one of them broken); the runner's other behaviour (group notebooks,
interruption and resume, timeouts, parameter types) is checked with tiny notebooks written
into a temporary notebooks folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from raw_export import find_pii, pii_values

from crm_analysis import cli
from crm_analysis.batch import check_run_dir, hash_data, run_batch
from crm_analysis.config import NOTEBOOKS_DIR
from crm_analysis.reporting import coerce_parameter, parse_parameter_args
from crm_analysis.synth import DEFAULT_STORES, generate

AS_OF = "2023-12-31"
RUN = "2023-12"
BROKEN = "009"  # its repair orders are removed: notebook 01 fails for it, and only for it


@pytest.fixture(scope="module")
def dataset():
    profiles = [
        DEFAULT_STORES[0],
        dataclasses.replace(DEFAULT_STORES[2], store_id="007"),
        dataclasses.replace(DEFAULT_STORES[1], store_id=BROKEN),
    ]
    return generate(seed=31, start="2021-01-01", as_of=AS_OF, scale=0.1, stores=profiles)


@pytest.fixture(scope="module")
def data_dir(dataset, tmp_path_factory):
    path = tmp_path_factory.mktemp("data")
    ro = dataset.repair_orders
    dataset.repair_orders = ro[ro["store_id"] != BROKEN].reset_index(drop=True)
    try:
        dataset.to_dir(path)
    finally:
        dataset.repair_orders = ro
    return path


def write_notebook(path: Path, params: str, *cells: str) -> Path:
    """A small notebook: a ``parameters`` cell and code cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


STORE_PARAMS = 'data_dir = ""\nstore_id = "000"\nas_of = None\nlang = "en"\nn = 3\ncode = "001"'
RECORD = (
    "from crm_analysis.narrative import Narrator\n"
    "Narrator(lang).record(store_id=store_id, id_type=type(store_id).__name__,\n"
    "    n=n, n_type=type(n).__name__, code=code, id_len=len(store_id))"
)


def stamps(run_dir: Path) -> dict[str, float]:
    return {str(p.relative_to(run_dir)): p.stat().st_mtime_ns
            for p in run_dir.rglob("*.stamp.json")}


# --------------------------------------------------------------------------- real notebook


@pytest.mark.slow  # end-to-end: real notebook 01 for three stores, twice (~28 s)
def test_batch_real_notebook_three_stores_two_jobs(data_dir, dataset, tmp_path):
    out = tmp_path / "reports"
    run = run_batch(data_dir, out, notebooks=["01"], jobs=2, progress=False)
    assert run.run_dir == out / RUN
    status = {r.store_id: r.status for r in run.results}
    assert status == {"001": "ok", "007": "ok", BROKEN: "failed"}
    bad = next(r for r in run.results if r.store_id == BROKEN)
    assert bad.cell_index is not None and bad.error and bad.traceback, bad
    for r in run.results:
        folder = out / RUN / r.store_id / "en"
        for suffix in (".ipynb", ".html", ".metrics.json", ".stamp.json"):
            assert (folder / f"01_data_overview{suffix}").is_file(), (r.store_id, suffix)
    assert check_run_dir(run.run_dir) == []
    # the string id "007" reached the kernel as a string and the metrics as recorded
    ok = next(r for r in run.results if r.store_id == "007")
    meta = json.loads(ok.ipynb_path.read_text(encoding="utf-8"))["metadata"]["papermill"]
    assert meta["parameters"]["store_id"] == "007"
    metrics_bytes = ok.metrics_path.read_bytes()
    assert json.loads(metrics_bytes) == ok.metrics and ok.metrics["store_id"] == "007"
    # the index: every report linked, the failure with its cell, key metrics side by side
    index = run.index_path.read_text(encoding="utf-8")
    for sid in ("001", "007", BROKEN):
        assert f'href="{sid}/en/01_data_overview.html"' in index
    assert "Failures" in index and bad.error.split(":")[0] in index
    assert "Orders / month" in index
    assert (out / "index.html").is_file() and f'href="{RUN}/index.html"' in (
        out / "index.html").read_text(encoding="utf-8")
    # no raw personal data in any report
    assert find_pii(sorted(out.rglob("*.html")), pii_values(dataset)) == []

    # second run: the ok reports are skipped (not executed: their stamps are untouched),
    # the failed one is run again
    before = stamps(run.run_dir)
    again = run_batch(data_dir, out, notebooks=["01"], jobs=2, progress=False)
    skipped = {r.store_id for r in again.results if r.skipped}
    assert skipped == {"001", "007"}
    after = stamps(run.run_dir)
    for sid in skipped:
        key = f"{sid}/en/01_data_overview.stamp.json"
        assert after[key] == before[key]

    # --force runs it again; the metrics are byte-identical (deterministic)
    forced = run_batch(data_dir, out, notebooks=["01"], stores="007", jobs=1, force=True,
                       progress=False)
    assert [(r.store_id, r.skipped, r.status) for r in forced.results] == [("007", False, "ok")]
    assert stamps(run.run_dir)["007/en/01_data_overview.stamp.json"] != before[
        "007/en/01_data_overview.stamp.json"]
    assert ok.metrics_path.read_bytes() == metrics_bytes


def test_data_change_reruns(data_dir, tmp_path):
    """Changing a data file's bytes (same size and mtime) changes the data hash."""
    folder = tmp_path / "d"
    folder.mkdir()
    f = folder / "orders.csv"
    f.write_text("a,b\n1,2\n")
    stat = f.stat()
    h1 = hash_data(folder)
    f.write_text("a,b\n1,3\n")
    os.utime(f, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert f.stat().st_size == stat.st_size and hash_data(folder) != h1
    assert hash_data(data_dir) == hash_data(data_dir)


# --------------------------------------------------------------------------- tiny notebooks


@pytest.fixture
def tiny_nbs(tmp_path):
    """A store notebook that fails for store 001, and a group notebook reading the metrics."""
    nbs = tmp_path / "notebooks"
    write_notebook(
        nbs / "01_tiny.ipynb", STORE_PARAMS,
        'if store_id == "001":\n    raise RuntimeError("broken data for " + store_id)',
        RECORD,
    )
    write_notebook(
        nbs / "06_group.ipynb",
        'data_dir = ""\nas_of = None\nlang = "en"\nstores = ""\nmetrics_dir = ""',
        "import json, pathlib\n"
        "from crm_analysis.narrative import Narrator\n"
        "found = sorted(p.parent.parent.name for p in\n"
        "               pathlib.Path(metrics_dir).glob(f'*/{lang}/01_tiny.metrics.json')\n"
        "               if json.loads(p.read_text()))\n"
        "Narrator(lang).record(n_stores=len(stores.split(',')), with_metrics=','.join(found))",
    )
    return nbs


def test_group_runs_after_the_stores_and_failures_are_reported_without_kernels(
    data_dir, tiny_nbs, tmp_path, monkeypatch
):
    """The batch's order and failure report, with the kernel replaced (jobs=1 runs in
    this process): every store notebook runs before the group notebook, which gets the
    run folder as ``metrics_dir`` and every store; a failing store is reported in the
    index with its cell and error. The same with real kernels: the slow test below."""
    from crm_analysis import batch
    from crm_analysis.reporting import NotebookExecutionError

    ran = []

    def execute(notebook, output_path, parameters=None, **kw):
        ran.append((Path(notebook).stem, dict(parameters)))
        Path(output_path).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbformat.read(str(notebook), as_version=4), str(output_path))
        if parameters.get("store_id") == "001":
            raise NotebookExecutionError(notebook, parameters, output_path=output_path,
                                         cell_index=2, ename="RuntimeError",
                                         evalue="broken data for 001",
                                         traceback="RuntimeError: broken data for 001")
        return Path(output_path)

    monkeypatch.setattr(batch, "execute_notebook", execute)
    out = tmp_path / "out"
    run = run_batch(data_dir, out, notebooks_dir=tiny_nbs, langs="en,zh", jobs=1,
                    run="r1", progress=False)
    stems = [stem for stem, _ in ran]
    assert stems == ["01_tiny"] * 6 + ["06_group"] * 2  # every store first
    group = [p for stem, p in ran if stem == "06_group"]
    assert [p["lang"] for p in group] == ["en", "zh"]
    assert all(p["metrics_dir"] == str(out / "r1") and p["stores"] == f"001,007,{BROKEN}"
               for p in group)
    by = {(r.store_id, r.lang, r.notebook): r for r in run.results}
    bad = by[("001", "zh", "01_tiny")]
    assert bad.status == "failed" and bad.cell_index == 2
    assert by[("group", "zh", "06_group")].ok
    index = (out / "r1" / "index.html").read_text(encoding="utf-8")
    assert 'href="group/zh/06_group.html"' in index and "broken data for 001" in index
    assert check_run_dir(out / "r1") == []


# slow (20-34 s: five kernels in a process pool); the fast suite runs a batch through real
# kernels in test_batch_real_notebook_three_stores_two_jobs and test_timeout_per_notebook
@pytest.mark.slow
def test_group_notebook_runs_after_the_stores_and_failures_are_reported(
    data_dir, tiny_nbs, tmp_path
):
    # one language: each kernel costs seconds, and the group notebook of each language runs
    # the same way (both languages: tests/test_report_language.py, slow)
    out = tmp_path / "out"
    run = run_batch(data_dir, out, notebooks_dir=tiny_nbs, langs="en", jobs=2,
                    run="r1", progress=False)
    by = {(r.store_id, r.lang, r.notebook): r for r in run.results}
    assert len(by) == 3 + 1
    lang = "en"
    assert by[("001", lang, "01_tiny")].status == "failed"
    assert by[("007", lang, "01_tiny")].metrics["id_type"] == "str"
    group = by[("group", lang, "06_group")]
    assert group.ok, group.error
    # it ran after every store notebook of its language, with metrics_dir and stores
    assert group.metrics == {"n_stores": 3, "with_metrics": f"007,{BROKEN}"}
    assert group.html_path == out / "r1" / "group" / lang / "06_group.html"
    bad = by[("001", "en", "01_tiny")]
    # cell 2 of the executed notebook: papermill inserts the injected-parameters cell
    assert bad.cell_index == 2 and "broken data for 001" in bad.error
    assert "RuntimeError" in bad.traceback
    index = (out / "r1" / "index.html").read_text(encoding="utf-8")
    assert 'href="group/en/06_group.html"' in index
    assert "broken data for 001" in index and "<details>" in index
    assert check_run_dir(out / "r1") == []
    assert not (out / "r1" / ".staging").exists()

    # a second run skips the ok reports and the group (its inputs did not change)
    again = run_batch(data_dir, out, notebooks_dir=tiny_nbs, langs="en", jobs=2,
                      run="r1", progress=False)
    executed = sorted((r.store_id, r.lang) for r in again.executed)
    assert executed == [("001", "en")]


def test_timeout_per_notebook(data_dir, tmp_path):
    nbs = tmp_path / "nbs"
    write_notebook(nbs / "01_slow.ipynb", STORE_PARAMS, "import time\ntime.sleep(60)")
    start = time.perf_counter()
    run = run_batch(data_dir, tmp_path / "o", notebooks_dir=nbs, stores="007", jobs=1,
                    timeout=4, progress=False)
    assert time.perf_counter() - start < 40
    (r,) = run.results
    assert r.status == "failed" and "timed out" in r.error


# slow (~38 s: a real `crm-analysis batch` killed mid-run, then resumed); the fast suite
# checks that finished reports are skipped through their stamps
# (test_batch_real_notebook_three_stores_two_jobs)
@pytest.mark.slow
def test_interrupted_batch_leaves_no_incomplete_report_and_resumes(data_dir, tmp_path):
    nbs = tmp_path / "nbs"
    for name in ("01_a", "02_b"):
        write_notebook(nbs / f"{name}.ipynb", STORE_PARAMS, "import time\ntime.sleep(0.5)",
                       RECORD)
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "crm_analysis", "batch", "--data", str(data_dir), "--out",
            str(out), "--run", "r", "--stores", "001,007", "--lang", "en,zh", "--jobs", "2",
            "--notebooks-dir",
            str(nbs), "--no-progress"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    run_dir = out / "r"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list(run_dir.rglob("*.stamp.json"))) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI, its workers and their kernels
    finally:
        proc.wait(timeout=30)
    time.sleep(0.5)
    # done = a stamp whose files are all there with the stamped hashes; nothing else counts
    assert check_run_dir(run_dir) == []
    done = set(stamps(run_dir))
    assert 2 <= len(done) < 8
    assert not (run_dir / "index.html").exists()

    code = cli.main(argv[3:])
    assert code == 0
    assert check_run_dir(run_dir) == []
    assert len(stamps(run_dir)) == 8
    for stamp in done:  # the reports finished before the kill were not run again
        assert json.loads((run_dir / stamp).read_text())["status"] == "ok"
    run = run_batch(data_dir, out, notebooks_dir=nbs, stores="001,007", langs="en,zh", run="r",
                    jobs=2, progress=False)
    assert run.executed == []
    assert not (run_dir / ".staging").exists()


# --------------------------------------------------------------------------- CLI and types


def test_cli_string_ids_and_typed_parameters(data_dir, tmp_path, capsys):
    nbs = tmp_path / "nbs"
    write_notebook(nbs / "01_tiny.ipynb", STORE_PARAMS, RECORD)
    out = tmp_path / "out"
    argv = ["batch", "--data", str(data_dir), "--out", str(out), "--stores", "007",
            "--notebooks-dir", str(nbs), "-p", "n=5", "-p", "code=007", "--jobs", "1",
            "--no-progress"]
    assert cli.main(argv) == 0
    metrics = json.loads((out / RUN / "007" / "en" / "01_tiny.metrics.json").read_text())
    assert metrics == {"code": "007", "id_len": 3, "id_type": "str", "n": 5, "n_type": "int",
                       "store_id": "007"}
    assert "1 of 1 reports ok" in capsys.readouterr().out

    # the one-store `report` command: --store 007 stays "007", -p typed the same way
    rep = tmp_path / "rep"
    argv = ["report", "--data", str(data_dir), "--store", "007", "--out", str(rep),
            "--notebooks-dir", str(nbs), "-p", "code=010", "--no-progress"]
    assert cli.main(argv) == 0
    metrics = json.loads((rep / "007" / "01_tiny.metrics.json").read_text())
    assert metrics["store_id"] == "007" and metrics["code"] == "010" and metrics["n"] == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--stores", "7"], "valid store ids: 001, 007, 009"),
        (["-p", "segment=A"], "valid parameters: code, n"),
        (["-p", "n=abc"], "'n' expects int"),
        (["-p", "n"], "name=value"),
        (["--lang", "en,fr"], "valid: en, zh"),
        (["--notebooks", "05"], "unknown notebook"),
        (["--run", "../x"], "run name"),
    ],
)
def test_cli_usage_errors_before_any_kernel(data_dir, tmp_path, capsys, extra, message):
    nbs = tmp_path / "nbs"
    write_notebook(nbs / "01_tiny.ipynb", STORE_PARAMS, RECORD)
    out = tmp_path / "out"
    argv = ["batch", "--data", str(data_dir), "--out", str(out), "--notebooks-dir", str(nbs),
            "--no-progress", *extra]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not any(out.rglob("*.ipynb"))


def test_python_api_type_check(data_dir, tmp_path):
    nbs = tmp_path / "nbs"
    write_notebook(nbs / "01_tiny.ipynb", STORE_PARAMS, RECORD)
    with pytest.raises(TypeError, match="'n' of 01_tiny expects int"):
        run_batch(data_dir, tmp_path / "o", notebooks_dir=nbs, extra_parameters={"n": "5"})
    with pytest.raises(ValueError, match="set by the batch runner"):
        run_batch(data_dir, tmp_path / "o", notebooks_dir=nbs, extra_parameters={"lang": "en"})


def test_coerce_parameter_keeps_strings():
    decl = {"store_id": {"default": '"001"'}, "n": {"default": "24"},
            "rate": {"default": "0.1"}, "flag": {"default": "False"},
            "cuts": {"default": "[0.01, 0.2]"}, "year": {"default": "None"}}
    got = parse_parameter_args(
        ["store_id=007", "n=12", "rate=1", "flag=yes", "cuts=[0.1, 0.5]", "year=2024"], decl
    )
    assert got == {"store_id": "007", "n": 12, "rate": 1.0, "flag": True, "cuts": [0.1, 0.5],
                   "year": 2024}
    assert coerce_parameter("year", "007", {"default": "None"}) == "007"
    assert coerce_parameter("year", "None", {"default": "None"}) is None
    with pytest.raises(ValueError, match="expects bool"):
        coerce_parameter("flag", "maybe", {"default": "True"})


def test_real_notebooks_are_store_notebooks():
    """Every shipped notebook 01-05 declares store_id (group notebooks do not)."""
    from crm_analysis.reporting import discover_notebooks, notebook_parameters

    for nb in discover_notebooks(NOTEBOOKS_DIR):
        if nb.stem[:2] in {"01", "02", "03", "04", "05"}:
            assert "store_id" in notebook_parameters(nb)


def test_key_written_by_a_notebook_does_not_make_the_next_run_redo_everything(
    data_dir, tmp_path
):
    """Notebook 04 keeps the pseudonymization key beside the data (privacy.store_key). The
    key is part of the data hash, so the batch creates it before hashing; else the first
    run's notebooks create it and the second run finds the data changed and redoes all."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(data_dir, data, ignore=shutil.ignore_patterns(".crm_analysis_key"))
    nbs = tmp_path / "notebooks"
    write_notebook(nbs / "01_key.ipynb", STORE_PARAMS,
                   "from crm_analysis.privacy import store_key\nstore_key(data_dir)", RECORD)
    first = run_batch(data, tmp_path / "out", notebooks_dir=nbs, stores=["007"], jobs=1,
                      run="r", progress=False)
    assert [r.status for r in first.results] == ["ok"]
    assert (data / ".crm_analysis_key").exists()
    again = run_batch(data, tmp_path / "out", notebooks_dir=nbs, stores=["007"], jobs=1,
                      run="r", progress=False)
    assert [r.skipped for r in again.results] == [True]

"""JupyterLab for the notebooks, and a clean repository after running and saving (issue 18).

- ``crm-analysis lab`` (what ``make lab`` runs) starts JupyterLab headless on 127.0.0.1;
  its REST API lists the project's ``python3`` kernel, the notebooks and lessons, opens a
  ``.py`` twin as a notebook (jupytext) and serves the environment's default viewer
  setting; then the server is stopped.
- Saving a notebook as JupyterLab does (outputs, execution counts, the running kernel's
  kernelspec and language_info) through jupytext's contents manager, in a git repository
  with the filter that ``make install`` sets up, leaves ``git status`` clean; so does
  ``jupyter nbconvert --execute --inplace`` from ``notebooks/`` (slow).
- A relative ``data_dir`` such as ``data/sample`` works from ``notebooks/``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from crm_analysis import config, lab
from crm_analysis.context import resolve_data_path
from crm_analysis.notebook import open_chapter

ROOT = config.PROJECT_ROOT
NOTEBOOK = "01_data_overview"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``python -m crm_analysis lab`` on 127.0.0.1 with a token; stopped after the tests."""
    home = tmp_path_factory.mktemp("jupyter-home")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    log = (home / "lab.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "crm_analysis", "lab", "--no-browser",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def get(path: str):
        req = urllib.request.Request(base + path, headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=20) as resp:
            return json.loads(resp.read())

    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                get("/api/status")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("JupyterLab did not start:\n"
                                + (home / "lab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield get
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    assert proc.returncode is not None


# slow (a JupyterLab server starts: 9-13 s); `make test-slow` runs it
@pytest.mark.slow
def test_lab_serves_the_projects_kernel(server):
    specs = server("/api/kernelspecs")
    assert specs["default"] == "python3"
    argv = specs["kernelspecs"]["python3"]["spec"]["argv"]
    assert os.path.abspath(argv[0]) == os.path.abspath(sys.executable), argv


# slow (a JupyterLab server starts: 9-13 s); `make test-slow` runs it
@pytest.mark.slow
def test_lab_lists_the_notebooks_and_lessons(server):
    listing = {item["name"]: item["type"] for item in server("/api/contents/")["content"]}
    for script in sorted(config.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py")):
        assert script.name in listing, script.name  # the tracked source...
        copy = script.with_suffix(".ipynb").name  # ...and its working copy (make install)
        assert listing.get(copy) == "notebook", f"{copy} missing: run `make install`"
    assert listing.get("lessons") == "directory"
    lessons = server("/api/contents/lessons")["content"]
    assert sum(item["type"] == "notebook" for item in lessons) >= 5


# slow (a JupyterLab server starts: 9-13 s); `make test-slow` runs it
@pytest.mark.slow
def test_lab_opens_a_py_twin_as_a_notebook(server):
    model = server(f"/api/contents/{NOTEBOOK}.py?type=notebook&content=1")
    assert model["type"] == "notebook"
    cells = model["content"]["cells"]
    assert any("parameters" in c["metadata"].get("tags", []) for c in cells)
    settings = server("/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    # the environment's overrides become the schema defaults; the user's settings still win
    viewers = settings["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers["python"] == "Jupytext Notebook"


def _nbstripout_keys() -> str:
    """The filter's extra keys, as ``make install`` sets them (read from the Makefile)."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    m = re.search(r"^NBSTRIPOUT_KEYS := (.*?)(?<!\\)$", text, re.M | re.S)
    assert m, "NBSTRIPOUT_KEYS not found in the Makefile"
    return " ".join(m.group(1).replace("\\\n", " ").split())


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    """A git repository holding notebook 01 and the project's notebook settings."""
    (tmp_path / "notebooks").mkdir()
    shutil.copy(config.NOTEBOOKS_DIR / f"{NOTEBOOK}.py", tmp_path / "notebooks")
    for name in ("jupytext.toml", ".gitattributes", ".gitignore"):
        shutil.copy(ROOT / name, tmp_path / name)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "test@example.org")
    _git(tmp_path, "config", "user.name", "test")
    subprocess.run([sys.executable, "-m", "nbstripout", "--install"], cwd=tmp_path, check=True)
    _git(tmp_path, "config", "filter.nbstripout.extrakeys", _nbstripout_keys())
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "notebooks")
    # the working copy, as `make install` (notebook-copies) makes it
    subprocess.run([sys.executable, "-m", "jupytext", "--quiet", "--to", "ipynb",
                    "--set-kernel", "python3", f"notebooks/{NOTEBOOK}.py"],
                   cwd=tmp_path, check=True)
    assert (tmp_path / "notebooks" / f"{NOTEBOOK}.ipynb").is_file()
    assert _git(tmp_path, "status", "--porcelain") == ""
    return tmp_path


def test_saving_in_jupyterlab_leaves_git_status_clean(repo):
    from jupytext import TextFileContentsManager

    cm = TextFileContentsManager(root_dir=str(repo / "notebooks"))
    model = cm.get(f"{NOTEBOOK}.ipynb")
    nb = model["content"]
    for i, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = i + 1
        cell["outputs"] = [nbformat.v4.new_output("stream", text=f"output {i}\n")]
        cell["metadata"]["execution"] = {"iopub.status.busy": "2026-12-07T06:00:00Z"}
    # what JupyterLab writes from the running kernel
    nb["metadata"]["kernelspec"] = {"display_name": "Python 3 (ipykernel)",
                                    "language": "python", "name": "python3"}
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.11.99",
                                       "mimetype": "text/x-python"}
    script = repo / "notebooks" / f"{NOTEBOOK}.py"
    before = script.stat().st_mtime_ns
    cm.save(model, f"{NOTEBOOK}.ipynb")
    saved = nbformat.read(repo / "notebooks" / f"{NOTEBOOK}.ipynb", as_version=4)
    assert any(c.get("outputs") for c in saved.cells)  # the working copy has the outputs
    assert script.stat().st_mtime_ns >= before  # jupytext wrote the tracked script too...
    assert _git(repo, "status", "--porcelain") == ""  # ...with nothing changed


@pytest.mark.slow
def test_nbconvert_execute_inplace_leaves_git_status_clean(repo):
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook",
                    "--execute", "--inplace", f"{NOTEBOOK}.ipynb"],
                   cwd=repo / "notebooks", check=True, capture_output=True)
    executed = nbformat.read(repo / "notebooks" / f"{NOTEBOOK}.ipynb", as_version=4)
    assert sum(bool(c.get("outputs")) for c in executed.cells) >= 5
    assert _git(repo, "status", "--porcelain") == ""


def test_relative_data_dir_works_from_the_notebooks_folder(monkeypatch, default_dir):
    monkeypatch.chdir(config.NOTEBOOKS_DIR)
    sample = Path("data") / "sample"
    assert resolve_data_path(sample) == (ROOT / sample).resolve()
    if (ROOT / sample).resolve() == default_dir.resolve():
        ch = open_chapter(str(sample), store_id="001", lang="zh")
        assert ch.store_id == "001" and len(ch.orders) > 0


def test_missing_data_says_how_to_make_it(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "DEFAULT_DATA_DIR", tmp_path / "data" / "sample")
    with pytest.raises(FileNotFoundError, match="make data"):
        resolve_data_path(None)
    with pytest.raises(FileNotFoundError, match="no/such/folder"):
        resolve_data_path("no/such/folder")


def test_reader_copies_hold_one_language(tmp_path):
    out = lab.reader_copies("zh", tmp_path / "zh")
    copies = sorted(out.rglob("*.ipynb"))
    assert len(copies) == len(list(config.NOTEBOOKS_DIR.rglob("*.ipynb")))
    for path in copies:
        nb = nbformat.read(path, as_version=4)
        tags = {t for c in nb.cells for t in c.metadata.get("tags", [])}
        assert "lang-en" not in tags, path.name
        params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        assert re.search(r'^lang = "zh"', params.source, re.M), path.name


@pytest.mark.slow
def test_a_notebook_runs_from_the_notebooks_folder_with_a_relative_data_dir(tmp_path,
                                                                            default_dir):
    """The README's relative `data_dir`, from notebooks/ as JupyterLab's kernel runs it."""
    from crm_analysis.reporting import execute_notebook, read_metrics

    if (ROOT / "data" / "sample").resolve() != default_dir.resolve():
        pytest.skip("data/sample is not the default test data here")
    out = execute_notebook(config.NOTEBOOKS_DIR / f"{NOTEBOOK}.py", tmp_path / "out.ipynb",
                           {"data_dir": "data/sample", "store_id": "001"},
                           cwd=config.NOTEBOOKS_DIR)
    assert read_metrics(out)["store_id"] == "001"

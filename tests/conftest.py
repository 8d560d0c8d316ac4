"""Test data and notebook runs shared by the test modules, made once per test run.

Datasets (session-scoped): a generated group is written once per test run into a folder
shared by the pytest-xdist workers of the run (a lock file makes the first worker write
it, the others wait and read it) and read back with :meth:`Dataset.from_dir` (the
round trip is exact). The names and generator parameters are in :data:`DATASETS`:

- ``tiny_dataset`` / ``tiny_dir``: one store, about 1,500 orders;
- ``small_dataset`` / ``small_dir``: three stores, about 5,400 orders;
- ``default_dataset`` / ``default_dir``: the data of ``make data`` (SEED 2026, STORES 3 of
  the Makefile, about 280,000 orders), read from ``data/sample`` when that folder holds
  them (its ``meta`` equals the generator's defaults), else generated once;
- ``datasets.get(name)`` / ``datasets.dir(name)`` for the others.

Tests get the same :class:`Dataset` object within a worker: they must not modify it (take
a ``.copy()`` of a table to change it).

Notebook runs: ``notebook_runs(key, execute)`` returns ``execute(out_dir)`` run at most once
per worker for ``key`` (the notebook, language, data and parameters). With pytest-xdist
(``-n``, the default ``--dist load``) the tests are scheduled by :data:`SHARED`: the tests
that read one notebook run (same module, same parameter id ``[en]``/``[zh]``), or all the
tests of a module with costly module-scoped results, go to one worker together, so each
notebook is executed once per language per test run; every other test is scheduled alone.
(``--dist loadgroup`` cannot do this: with pytest 9.2 it ignores ``xdist_group`` marks,
pytest-xdist issue #1386.)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Hashable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from report_language import check_reports

from crm_analysis import config
from crm_analysis.schema import Dataset
from crm_analysis.synth import DEFAULT_STORES, SynthParams, generate

# OpenMP (scikit-learn) threads wait for work by spinning, taking the CPU from the other
# pytest-xdist worker (a KMeans test: 34 s instead of 6 s on 2 busy cores). Set before any
# OpenMP runtime loads; inherited by the workers and the notebook kernels.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    import fcntl
except ImportError:  # no POSIX locks (Windows): each worker writes its own copy
    fcntl = None

#: SEED and STORES of the Makefile (the data of ``make data``, in data/sample).
SEED, STORES = config.DEFAULT_SEED, 3
SAMPLE_DIR = config.PROJECT_ROOT / "data" / "sample"
DATASETS: dict[str, dict[str, Any]] = {
    "tiny": dict(n_stores=1, seed=5, start="2019-01-01", as_of="2023-12-31", scale=0.05),
    "small": dict(n_stores=3, seed=21, start="2019-01-01", as_of="2023-12-31", scale=0.1),
    "group": dict(n_stores=3, seed=21, start="2017-01-01", as_of="2023-12-31", scale=0.1),
    "churn": dict(n_stores=1, seed=1, start="2016-01-01", as_of="2024-06-30", scale=0.3),
    "lesson": dict(n_stores=1, seed=7, scale=0.05),
    "default": dict(n_stores=STORES, seed=SEED),
}
#: Test modules scheduled in groups by pytest-xdist: "param": the tests with the same
#: parameter id (the language of a notebook run) together; "module": all tests together.
SHARED = {
    **dict.fromkeys(("tests/test_notebooks.py", "tests/test_notebook_02.py",
                     "tests/test_notebook_03.py", "tests/test_notebook_04.py",
                     "tests/test_notebook_05.py", "tests/test_notebook_06.py",
                     "tests/test_raw_reports.py"), "param"),
    **dict.fromkeys(("tests/test_synth.py", "tests/test_churn.py", "tests/test_group.py",
                     "tests/test_raw_reports_all.py", "tests/test_lab.py"), "module"),
}


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        if fcntl is not None:
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _sample_is_default() -> bool:
    """data/sample holds the data of ``make data`` with the generator's current defaults."""
    if not (SAMPLE_DIR / "repair_orders.parquet").exists():
        return False
    try:
        meta = json.loads((SAMPLE_DIR / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    # written before the generator's code last changed: stale, whatever its meta says
    synth = Path(config.PROJECT_ROOT / "crm_analysis" / "synth")
    if max(p.stat().st_mtime for p in synth.glob("*.py")) > \
            (SAMPLE_DIR / "meta.json").stat().st_mtime:
        return False
    want = {"seed": SEED, "scale": 1.0, "start": "2014-01-01", "as_of": config.DEFAULT_AS_OF,
            "stores": [asdict(s) for s in DEFAULT_STORES[:STORES]],
            "params": asdict(SynthParams())}
    return json.loads(json.dumps({k: meta.get(k) for k in want}, default=str)) == \
        json.loads(json.dumps(want, default=str))


class Datasets:
    """Generated datasets by name (:data:`DATASETS`), written once per test run."""

    def __init__(self, root: Path):
        self.root = root
        self._loaded: dict[str, Dataset] = {}

    def dir(self, name: str) -> Path:
        if name == "default" and _sample_is_default():
            return SAMPLE_DIR
        folder = self.root / name
        with _locked(self.root / f"{name}.lock"):
            if not folder.is_dir():
                staging = self.root / f"{name}.staging-{os.getpid()}"
                shutil.rmtree(staging, ignore_errors=True)
                generate(**DATASETS[name]).to_dir(staging)
                staging.rename(folder)
        return folder

    def get(self, name: str) -> Dataset:
        if name not in self._loaded:
            self._loaded[name] = Dataset.from_dir(self.dir(name))
        return self._loaded[name]


@pytest.fixture(scope="session")
def datasets(tmp_path_factory) -> Datasets:
    base = tmp_path_factory.getbasetemp()
    # pytest-xdist workers have basetemp <run>/popen-gwN: share <run>
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return Datasets(shared / "shared-datasets")


@pytest.fixture(scope="session")
def tiny_dataset(datasets) -> Dataset:
    return datasets.get("tiny")


@pytest.fixture(scope="session")
def tiny_dir(datasets) -> Path:
    return datasets.dir("tiny")


@pytest.fixture(scope="session")
def small_dataset(datasets) -> Dataset:
    return datasets.get("small")


@pytest.fixture(scope="session")
def small_dir(datasets) -> Path:
    return datasets.dir("small")


@pytest.fixture(scope="session")
def default_dataset(datasets) -> Dataset:
    return datasets.get("default")


@pytest.fixture(scope="session")
def default_dir(datasets) -> Path:
    return datasets.dir("default")


@pytest.fixture(scope="session")
def notebook_runs(tmp_path_factory) -> Callable[[Hashable, Callable[[Path], Any]], Any]:
    """``notebook_runs(key, execute)``: ``execute(out_dir)``, called once per ``key``.

    The HTML reports written to ``out_dir`` are then checked to hold one language
    (``report_language.check_reports``).
    """
    done: dict[Hashable, Any] = {}

    def run(key: Hashable, execute: Callable[[Path], Any]) -> Any:
        if key not in done:
            out = tmp_path_factory.mktemp("notebook-run")
            done[key] = execute(out)
            check_reports(out)  # every report a test makes speaks one language
        return done[key]

    return run


def schedule_scope(nodeid: str) -> str:
    """The pytest-xdist work unit of a test: a group of :data:`SHARED`, or the test alone."""
    path, _, name = nodeid.partition("::")
    how = SHARED.get(path)
    if how == "module":
        return path
    if how == "param" and name.endswith("]"):
        return f"{path}[{name[name.rindex('[') + 1:]}"
    return nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedRunScheduling(LoadScopeScheduling):
        """Load scheduling by :func:`schedule_scope` (largest units first)."""

        def _split_scope(self, nodeid: str) -> str:
            return schedule_scope(nodeid)

    return SharedRunScheduling(config, log)


@pytest.fixture(scope="session")
def cdnow_sample() -> pd.DataFrame:
    """The CDNOW sample of 2,357 customers (data/external/cdnow; lifetimes and BTYD's
    reference data), one row per purchase, dates parsed."""
    path = config.PROJECT_ROOT / "data" / "external" / "cdnow" / "CDNOW_sample.txt.gz"
    sample = pd.read_csv(path, sep=r"\s+", header=None,
                         names=["customer_id", "sample_id", "date", "number_of_cds",
                                "dollar_value"], dtype={"customer_id": str, "date": str})
    sample["date"] = pd.to_datetime(sample["date"], format="%Y%m%d")
    return sample


@pytest.fixture
def t9_exercises():
    """The exercises of the tiny test lesson T9 (tests/test_classroom.py), registered for
    one test (the classroom and sandbox tests)."""
    from test_classroom import EXERCISES_SOURCE

    from crm_analysis import teaching

    before = set(teaching.EXERCISES)
    exec(compile(EXERCISES_SOURCE, "t9_exercises", "exec"), {"__name__": "t9_exercises"})
    yield
    for key in set(teaching.EXERCISES) - before:
        del teaching.EXERCISES[key]

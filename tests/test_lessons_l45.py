"""Lessons L4 (survival of the relationship) and L5 (churn without leakage).

Each lesson notebook is executed with papermill on a small generated store, the size
``crm-analysis classroom prepare`` gives students (scale 0.04):

- in English with ``solutions=True`` every exercise's last check record (CHECK_MIME) is
  "right": the solution cells and the grader's ``expected`` functions agree;
- with ``solutions=False`` every exercise is "missing" (checked once, not answered);
- in Chinese with ``solutions=True`` everything is right too, the text is Chinese and
  matplotlib reports no missing glyph;
- the student version holds none of the solution code; the .py and .ipynb files are a
  clean jupytext pair without outputs.

Cheap unit tests compare the ``expected`` functions with the library directly. The
matrix over more stores is marked ``slow``.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from crm_analysis import teaching
from crm_analysis.reporting import execute_notebook
from crm_analysis.synth import generate

ROOT = Path(__file__).resolve().parents[1]
LESSONS_DIR = ROOT / "notebooks" / "lessons"
LESSONS = {
    "L4": "L4_survival_of_the_relationship",
    "L5": "L5_churn_without_leakage",
}
EXERCISE_IDS = {lesson: [f"{lesson}.{k}" for k in range(1, 7)] for lesson in LESSONS}
SCALE = 0.04  # crm_analysis.teaching.classroom.DEFAULT_SCALE: a student's store
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lesson_data") / "data"
    generate(n_stores=1, seed=11, scale=SCALE).to_dir(folder)
    return folder


def _run(lesson: str, data: Path, out_dir: Path, *, lang: str = "en",
         solutions: bool = True) -> nbformat.NotebookNode:
    out = out_dir / f"{lesson}_{lang}_{int(solutions)}.ipynb"
    execute_notebook(LESSONS_DIR / f"{LESSONS[lesson]}.ipynb", out,
                     {"data_dir": str(data), "lang": lang, "solutions": solutions},
                     timeout=300, transport="ipc")
    return nbformat.read(out, as_version=4)


def _outputs(nb: nbformat.NotebookNode):
    for cell in nb.cells:
        yield from cell.get("outputs", [])


def _checks(nb: nbformat.NotebookNode) -> dict[str, list[str]]:
    """Every check record of the executed notebook, in order, by exercise."""
    out: dict[str, list[str]] = {}
    for o in _outputs(nb):
        rec = o.get("data", {}).get(teaching.CHECK_MIME)
        if rec:
            out.setdefault(rec["exercise"], []).append(rec["status"])
    return out


def _stderr(nb: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in _outputs(nb)
                   if o.get("output_type") == "stream" and o.get("name") == "stderr")


def _markdown(nb: nbformat.NotebookNode) -> str:
    return "\n".join(o["data"]["text/markdown"] for o in _outputs(nb)
                     if "text/markdown" in o.get("data", {}))


def _source_lines(cells) -> set[str]:
    return {line.strip() for c in cells for line in c.source.splitlines() if line.strip()}


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


# --------------------------------------------------------------------------- executed


@pytest.mark.parametrize("lesson", LESSONS)
def test_solutions_are_right(lesson, data_dir, tmp_path):
    nb = _run(lesson, data_dir, tmp_path, lang="en", solutions=True)
    checks = _checks(nb)
    assert sorted(checks) == EXERCISE_IDS[lesson]
    # the exercise cell reports "missing", then the solution cell "right"
    assert {k: v[-1] for k, v in checks.items()} == dict.fromkeys(EXERCISE_IDS[lesson],
                                                                  "right")
    assert all(v == ["missing", "right"] for v in checks.values()), checks
    assert "missing from" not in _stderr(nb)


@pytest.mark.slow  # a kernel per lesson; the student copies are checked statically
@pytest.mark.parametrize("lesson", LESSONS)
def test_without_solutions_everything_is_missing(lesson, data_dir, tmp_path):
    nb = _run(lesson, data_dir, tmp_path, lang="en", solutions=False)
    checks = _checks(nb)
    assert checks == {i: ["missing"] for i in EXERCISE_IDS[lesson]}


# L4 in Chinese in the fast suite; L5 (the heaviest lesson run) is marked slow
@pytest.mark.parametrize("lesson", [pytest.param(x, marks=[pytest.mark.slow] if x == "L5" else [])
                                    for x in LESSONS])
def test_chinese_version(lesson, data_dir, tmp_path):
    nb = _run(lesson, data_dir, tmp_path, lang="zh", solutions=True)
    checks = _checks(nb)
    assert {k: v[-1] for k, v in checks.items()} == dict.fromkeys(EXERCISE_IDS[lesson],
                                                                  "right")
    text = _markdown(nb)
    assert "学习目标" in text and "给门店的讨论题" in text
    assert len(CJK.findall(text)) > 500
    assert "Learning goals" not in text
    images = [o for o in _outputs(nb) if "image/png" in o.get("data", {})]
    assert len(images) >= 2
    err = _stderr(nb)
    assert "missing from" not in err and "Glyph" not in err, err[:500]


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_chinese_student_run_everything_missing(lesson, data_dir, tmp_path):
    """The fourth cell of the language x solutions matrix: Chinese, no solutions."""
    nb = _run(lesson, data_dir, tmp_path, lang="zh", solutions=False)
    assert _checks(nb) == {i: ["missing"] for i in EXERCISE_IDS[lesson]}
    assert "学习目标" in _markdown(nb)


# --------------------------------------------------------------------------- static


@pytest.mark.parametrize("lesson", LESSONS)
def test_student_version_has_no_solution_code(lesson):
    nb = nbformat.read(LESSONS_DIR / f"{LESSONS[lesson]}.ipynb", as_version=4)
    solution_cells = [c for c in nb.cells if "solution" in _tags(c)]
    assert len(solution_cells) == len(EXERCISE_IDS[lesson])
    student = teaching.student_version(nb)
    assert not any("solution" in _tags(c) for c in student.cells)
    kept = _source_lines(student.cells)
    # the guard and the re-check are the same in every solution cell and not solutions
    boiler = re.compile(r"^(if solutions:|teaching\.check\(\"L\d\.\d\", answer\))$")
    leaked = [line for line in _source_lines(solution_cells)
              if not boiler.match(line) and line in kept]
    assert not leaked, leaked
    # every exercise cell is there for the student, with its answer slot and check
    exercise_cells = [c for c in student.cells if "exercise" in _tags(c)]
    assert [re.search(r'check\("(L\d\.\d)"', c.source).group(1) for c in exercise_cells] \
        == EXERCISE_IDS[lesson]
    assert all("answer = None  # YOUR ANSWER" in c.source for c in exercise_cells)


@pytest.mark.parametrize("lesson", LESSONS)
def test_pair_in_sync_without_outputs(lesson):
    import jupytext

    py = jupytext.read(LESSONS_DIR / f"{LESSONS[lesson]}.py")
    ipynb = nbformat.read(LESSONS_DIR / f"{LESSONS[lesson]}.ipynb", as_version=4)
    assert [(c.cell_type, c.source) for c in py.cells] == \
        [(c.cell_type, c.source) for c in ipynb.cells]
    assert [_tags(c) for c in py.cells] == [_tags(c) for c in ipynb.cells]
    assert ipynb.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    for c in ipynb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None
    params = [c for c in ipynb.cells if "parameters" in _tags(c)]
    assert len(params) == 1
    names = [line.split("=")[0].strip() for line in params[0].source.splitlines()]
    assert names == ["data_dir", "as_of", "lang", "solutions", "store_id"]
    for line in params[0].source.splitlines():
        assert "=" not in line.split("#", 1)[1]


# --------------------------------------------------------------------------- expected


@pytest.fixture(scope="module")
def lesson_data(data_dir):
    return teaching.start("L4", data_dir)


def test_l4_product_limit_matches_lifelines(lesson_data):
    from crm_analysis.survival import survival_by_vehicle_age
    from crm_analysis.teaching.lessons import l4

    table = l4.relationships(lesson_data)
    own = table[table["sold_here"]]
    km = survival_by_vehicle_age(own)
    ages = [0.0, 0.5, 1.0, 2.0, 3.0, 5.0]
    lib = km.survival_at(ages)["survival"].to_numpy()
    hand = l4.product_limit(*l4._own_sales(lesson_data))
    mine = [hand.loc[hand["age"] <= a, "survival"].iloc[-1] for a in ages]
    np.testing.assert_allclose(mine, lib, atol=1e-12)
    assert lesson_data.expected("L4.5") == pytest.approx(lib[4], abs=1e-12)


def test_l4_small_table_is_reproducible_and_varied(lesson_data):
    from crm_analysis.teaching.lessons import l4

    a, b = l4.small_table(lesson_data), l4.small_table(lesson_data)
    pd.testing.assert_frame_equal(a, b)
    assert list(a["label"]) == list("ABCDEFGH")
    assert a["event"].any() and (~a["event"]).any() and (a["entry_age"] > 0).any()
    assert 0 < len(lesson_data.expected("L4.3")) < 8


def test_l5_labels_match_churn_snapshot(lesson_data):
    from sklearn.metrics import roc_auc_score

    from crm_analysis.churn import churn_snapshot
    from crm_analysis.teaching.lessons import l5

    snap = churn_snapshot(lesson_data.dataset, as_of=l5.test_date(lesson_data),
                          store_id=lesson_data.store_id)
    mine = l5.labelled_test_customers(lesson_data)
    assert mine["customer_id"].tolist() == snap["customer_id"].tolist()
    assert mine["churned"].tolist() == snap["churned"].tolist()
    assert lesson_data.expected("L5.1") == pytest.approx(snap["churned"].mean(), abs=1e-12)
    assert lesson_data.expected("L5.2") == pytest.approx(
        roc_auc_score(snap["churned"], snap["months_since_last_order"]), abs=1e-9)
    # the leak makes the visit count look better than it honestly is
    honest = roc_auc_score(snap["churned"], -snap["orders"])
    assert lesson_data.expected("L5.3") > honest


# --------------------------------------------------------------------------- slow matrix


@pytest.mark.slow
@pytest.mark.parametrize("seed,scale", [(1, 0.04), (2, 0.04), (3, 0.04), (5, 0.1)])
@pytest.mark.parametrize("lesson", LESSONS)
def test_solutions_right_on_other_stores(lesson, seed, scale, tmp_path):
    data = tmp_path / "data"
    generate(n_stores=1, seed=seed, scale=scale).to_dir(data)
    checks = _checks(_run(lesson, data, tmp_path, lang="en", solutions=True))
    assert {k: v[-1] for k, v in checks.items()} == dict.fromkeys(EXERCISE_IDS[lesson],
                                                                  "right")

"""classroom prepare -> students work -> classroom grade, on a roster of five students.

Two students submit correct answers, one wrong answers, one a notebook that raises, one
nothing: the grade sheet must say exactly that. The first test uses a small
self-contained lesson written here (two exercises registered in the notebook and in this
process); the second runs the same scenario on the real lesson L1 when it exists.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from crm_analysis import teaching
from crm_analysis.config import NOTEBOOKS_DIR
from crm_analysis.schema import Dataset
from crm_analysis.teaching import classroom

ROSTER = "student_id,name\n001,张伟\n002,李娜\n003,Wang Fang\n004,刘洋\n005,陈静\n"
STUDENTS = ["001", "002", "003", "004", "005"]
NAMES = ["张伟", "李娜", "Wang Fang", "刘洋", "陈静"]
ANSWER_LINE = "answer = None  # YOUR ANSWER"

# Registers the test lesson's exercises: run in this process (the grader reads the
# exercise list when preparing) and in the notebook's kernel (check() needs them).
EXERCISES_SOURCE = '''
from crm_analysis.teaching import exercise

@exercise("T9.1", title={"en": "Number of repair orders", "zh": "工单数"},
          hint={"en": "len() of the orders table", "zh": "工单表的行数"},
          rel_tol=0.0, abs_tol=0.5)
def t9_orders(data):
    return len(data.dataset.repair_orders)

@exercise("T9.2", title={"en": "Mean order value", "zh": "平均结算金额"},
          hint={"en": "mean of total_amount", "zh": "total_amount 的平均值"}, rel_tol=1e-4)
def t9_mean_amount(data):
    return float(data.dataset.repair_orders["total_amount"].mean())
'''


def _lesson_notebook() -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell
    cells = [
        nbformat.v4.new_markdown_cell("# T9 · a tiny test lesson"),
        cell('data_dir = "data/sample"  # str: the student\'s data folder\n'
             "as_of = None  # str ISO date or None\n"
             'lang = "en"  # "en" or "zh"\n'
             "solutions = False  # bool: True fills in the answers\n"
             'store_id = ""  # str: "" means the first store',
             metadata={"tags": ["parameters"]}),
        cell("from crm_analysis import teaching\n" + EXERCISES_SOURCE
             + "\ndata = teaching.start('T9', data_dir, as_of=as_of, lang=lang, "
             "store_id=store_id or None)\norders = data.dataset.repair_orders"),
    ]
    solutions = {"T9.1": "len(orders)", "T9.2": "orders['total_amount'].mean()"}
    for ex_id, code in solutions.items():
        cells.append(cell(f"{ANSWER_LINE}\nteaching.check({ex_id!r}, answer)",
                          metadata={"tags": ["exercise"]}))
        cells.append(cell(f"if solutions:\n    answer = {code}\n"
                          f"    teaching.check({ex_id!r}, answer)",
                          metadata={"tags": ["solution"]}))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb




def _fill(path: Path, answers: dict[str, str]) -> None:
    """Replace the answer line of each exercise cell, as a student would."""
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        m = re.search(r"teaching\.check\(['\"]([^'\"]+)['\"]", c.source)
        if m and ANSWER_LINE in c.source and m.group(1) in answers:
            c.source = c.source.replace(ANSWER_LINE, f"answer = {answers[m.group(1)]}")
    nbformat.write(nb, path)


def _break(path: Path) -> None:
    """Add a cell that raises right after the parameters cell."""
    nb = nbformat.read(path, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell("raise RuntimeError('my bad')"))
    nbformat.write(nb, path)


def _lesson_data(folder: Path, lesson: str) -> teaching.LessonData:
    return teaching.start(lesson, folder / "data")


def _read_sheets(result: classroom.GradeResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    xlsx = pd.read_excel(result.paths["xlsx"], sheet_name=None, dtype={"student_id": str})
    csv = pd.read_csv(result.paths["csv"], dtype={"student_id": str}, keep_default_na=False,
                      encoding="utf-8-sig")
    grades_x = xlsx["grades"].fillna({"note": ""})
    pd.testing.assert_frame_equal(grades_x, csv, check_dtype=False)
    summary_csv = pd.read_csv(result.paths["summary_csv"], encoding="utf-8-sig")
    pd.testing.assert_frame_equal(xlsx["summary"], summary_csv, check_dtype=False)
    assert set(xlsx) == {"grades", "summary", "students", "notebooks"}
    return csv, summary_csv


def test_prepare_and_grade_five_students(tmp_path, t9_exercises):
    lessons_dir = tmp_path / "lessons"
    lessons_dir.mkdir()
    nbformat.write(_lesson_notebook(), lessons_dir / "T9_tiny.ipynb")
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8-sig")
    out = tmp_path / "class"

    code = classroom.main(["prepare", "--roster", str(roster), "--out", str(out),
                           "--lessons", "T9", "--lessons-dir", str(lessons_dir),
                           "--seed", "9", "--scale", "0.02"])
    assert code == 0
    manifest = json.loads((out / "classroom.json").read_text(encoding="utf-8"))
    assert [s["name"] for s in manifest["students"]] == NAMES
    assert manifest["lessons"]["T9"]["exercises"] == ["T9.1", "T9.2"]
    assert (out / "roster.csv").read_text(encoding="utf-8-sig") == ROSTER
    # prepare again without --force: refused, nothing overwritten
    assert classroom.main(["prepare", "--roster", str(roster), "--out", str(out),
                           "--lessons-dir", str(lessons_dir)]) == 2

    # each student: own data, notebook pointing at it, no solution code
    expected = {}
    for sid in STUDENTS:
        nb_path = out / sid / "T9_tiny.ipynb"
        nb = nbformat.read(nb_path, as_version=4)
        source = "\n".join(c.source for c in nb.cells)
        assert "if solutions:" not in source and "orders['total_amount'].mean()" not in source
        assert 'data_dir = "data"' in source
        d = _lesson_data(out / sid, "T9")
        expected[sid] = (d.expected("T9.1"), d.expected("T9.2"))
    assert len({e[0] for e in expected.values()}) == 5  # different data, different answers
    assert Dataset.from_dir(out / "001" / "data").meta["seed"] == manifest["students"][0]["seed"]

    # what the students hand in
    n1, m1 = expected["001"]
    _fill(out / "001" / "T9_tiny.ipynb", {"T9.1": str(n1), "T9.2": repr(m1)})  # values
    _fill(out / "002" / "T9_tiny.ipynb", {"T9.1": "len(orders)",                # code
                                          "T9.2": "orders['total_amount'].sum() / len(orders)"})
    n3, _ = expected["003"]
    _fill(out / "003" / "T9_tiny.ipynb", {"T9.1": str(n3 + 3),  # close
                                          "T9.2": "'about 500 yuan'"})  # wrong (a string)
    _fill(out / "004" / "T9_tiny.ipynb", {"T9.1": "len(orders)"})
    _break(out / "004" / "T9_tiny.ipynb")
    (out / "005" / "T9_tiny.ipynb").unlink()

    result = classroom.grade(out, timeout=120, jobs=2)

    assert result.exit_code == 1  # student 004's notebook raised
    grades, summary = _read_sheets(result)
    rows = list(grades[["student_id", "name", "exercise", "score", "status"]]
                .itertuples(index=False, name=None))
    assert rows == [
        ("001", "张伟", "T9.1", 1.0, "right"), ("001", "张伟", "T9.2", 1.0, "right"),
        ("002", "李娜", "T9.1", 1.0, "right"), ("002", "李娜", "T9.2", 1.0, "right"),
        ("003", "Wang Fang", "T9.1", 0.5, "close"), ("003", "Wang Fang", "T9.2", 0.0, "wrong"),
        ("004", "刘洋", "T9.1", 0.0, "error"), ("004", "刘洋", "T9.2", 0.0, "error"),
        ("005", "陈静", "T9.1", 0.0, "missing"), ("005", "陈静", "T9.2", 0.0, "missing"),
    ]
    assert "RuntimeError: my bad" in grades.loc[6, "note"]
    # the most often wrong exercise first
    assert summary["exercise"].tolist() == ["T9.2", "T9.1"]
    assert summary.loc[0, ["right", "close", "wrong", "missing", "error"]].tolist() == [
        2, 0, 1, 1, 1]
    assert summary.loc[1, ["right", "close", "wrong", "missing", "error"]].tolist() == [
        2, 1, 0, 1, 1]
    nbs = result.notebooks.set_index("student_id")["status"].to_dict()
    assert nbs == {"001": "ok", "002": "ok", "003": "ok", "004": "error", "005": "missing"}
    assert result.students["score"].tolist() == [2.0, 2.0, 0.5, 0.0, 0.0]
    assert (out / "_graded" / "001" / "T9_tiny.ipynb").is_file()


def test_copied_answers_score_nothing_and_tampering_is_caught(tmp_path, t9_exercises):
    """A neighbour's numbers are wrong on one's own data; pointing data_dir at the
    neighbour's folder is undone by the grader's injected parameters."""
    lessons_dir = tmp_path / "lessons"
    lessons_dir.mkdir()
    nbformat.write(_lesson_notebook(), lessons_dir / "T9_tiny.ipynb")
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\nA,张伟\nB,李娜\n", encoding="utf-8")
    out = tmp_path / "class"
    classroom.prepare(roster, out, lessons_dir=lessons_dir, seed=1, scale=0.02)
    n_a, m_a = (_lesson_data(out / "A", "T9").expected(k) for k in ("T9.1", "T9.2"))
    path = out / "B" / "T9_tiny.ipynb"
    _fill(path, {"T9.1": str(n_a), "T9.2": repr(m_a)})  # B copies A's numbers
    nb = nbformat.read(path, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = params.source.replace('data_dir = "data"', 'data_dir = "../A/data"')
    nbformat.write(nb, path)

    result = classroom.grade(out, timeout=120)
    b = result.grades[result.grades["student_id"] == "B"]
    assert b["status"].tolist() == ["wrong", "wrong"] and b["score"].sum() == 0
    assert result.exit_code == 0  # A submitted nothing changed: missing answers, no failure
    a = result.grades[result.grades["student_id"] == "A"]
    assert a["status"].tolist() == ["missing", "missing"]


# slow (waits for a 12 s limit); the batch's time limit is in the fast suite
# (tests/test_batch.py::test_timeout_per_notebook)
@pytest.mark.slow
def test_time_limit_per_notebook(tmp_path, t9_exercises):
    """A notebook that runs too long is stopped, scores what it checked, and the run goes on."""
    lessons_dir = tmp_path / "lessons"
    lessons_dir.mkdir()
    nbformat.write(_lesson_notebook(), lessons_dir / "T9_tiny.ipynb")
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\nslow,张伟\n", encoding="utf-8")
    out = tmp_path / "class"
    classroom.prepare(roster, out, lessons_dir=lessons_dir, seed=1, scale=0.02)
    _fill(out / "slow" / "T9_tiny.ipynb",
          {"T9.1": "len(orders)", "T9.2": "__import__('time').sleep(600)"})

    result = classroom.grade(out, timeout=12)

    assert result.exit_code == 1
    assert result.grades["status"].tolist() == ["right", "error"]
    nb = result.notebooks.iloc[0]
    assert nb["status"] == "timeout" and "12 s" in nb["error"] and nb["seconds"] < 60


def test_cli_usage_errors(tmp_path, capsys):
    assert classroom.main([]) == 2
    assert classroom.main(["prepare", "--out", str(tmp_path)]) == 2  # --roster missing
    assert classroom.main(["prepare", "--roster", str(tmp_path / "none.csv"),
                           "--out", str(tmp_path / "c")]) == 2
    roster = tmp_path / "r.csv"
    roster.write_text("student_id,name\n1,a\n", encoding="utf-8")
    assert classroom.main(["prepare", "--roster", str(roster), "--out", str(tmp_path / "c"),
                           "--lessons", "L99", "--lessons-dir", str(tmp_path)]) == 2
    assert classroom.main(["grade", str(tmp_path / "nothing")]) == 2
    assert classroom.main(["grade", str(tmp_path), "--timeout", "-1"]) == 2
    assert classroom.main(["prepare", "--help"]) == 0
    out = capsys.readouterr().out
    assert "exit codes" in out and "--roster" in out


# --------------------------------------------------------------------------- one language


@pytest.mark.parametrize("lang,other", [("zh", "en"), ("en", "zh")])
def test_prepared_lessons_hold_one_language(tmp_path, lang, other):
    """A class prepared in Chinese gets lessons without a lang-en cell, and in English
    without a lang-zh cell; the exercise cells and the parameters stay as they are."""
    lessons = ["L4", "L5"]
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\n001,张伟\n", encoding="utf-8")
    manifest = classroom.prepare(roster, tmp_path / "class", lessons=lessons, seed=3,
                                 lang=lang, scale=0.02)
    for lesson in lessons:
        info = manifest["lessons"][lesson]
        master = classroom._read_lesson(Path(info["source"]))  # the .py or .ipynb master
        nb = nbformat.read(tmp_path / "class" / "001" / info["notebook"], as_version=4)
        tags = [c.metadata.get("tags", []) for c in nb.cells]
        assert not any(f"lang-{other}" in t for t in tags), lesson
        mine = [c for c in master.cells if f"lang-{lang}" in c.metadata.get("tags", [])]
        assert mine and [c.source for c in nb.cells if c.cell_type == "markdown"] == [
            c.source for c in mine]
        exercises = [c for c in nb.cells if "exercise" in c.metadata.get("tags", [])]
        assert len(exercises) == len(info["exercises"]) == 6
        assert all(ANSWER_LINE in c.source for c in exercises)
        params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        assert f'lang = "{lang}"' in params.source and 'data_dir = "data"' in params.source
        nbformat.validate(nb)


# --------------------------------------------------------------------------- real lesson L1

L1_NOTEBOOKS = sorted((NOTEBOOKS_DIR / "lessons").glob("L1_*.py"))


# slow (~49 s): end-to-end grading of real L1 for five students; the fast suite grades tiny
# lessons (test_prepare_and_grade_five_students and the tests after it)
@pytest.mark.slow
@pytest.mark.skipif(not L1_NOTEBOOKS, reason="lesson L1 not written yet")
def test_prepare_and_grade_real_lesson_l1(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    out = tmp_path / "class"
    manifest = classroom.prepare(roster, out, lessons=["L1"], seed=2026, lang="zh")
    ids = manifest["lessons"]["L1"]["exercises"]
    assert ids and all(i.startswith("L1.") for i in ids)
    name = manifest["lessons"]["L1"]["notebook"]

    answers = {}
    for sid in STUDENTS:
        d = _lesson_data(out / sid, "L1")
        answers[sid] = {i: d.expected(i) for i in ids}
    assert answers["001"][ids[0]] != answers["002"][ids[0]]

    def literal(value):  # the expected answer written as Python source
        if isinstance(value, pd.Series):
            return repr({str(k): float(v) for k, v in value.items()})
        if isinstance(value, set | frozenset | list | tuple):
            return repr(sorted(value, key=str))
        return repr(value.item() if hasattr(value, "item") else value)

    def wrong(value):
        if isinstance(value, pd.Series):
            return repr({"nothing": 1.0})
        if isinstance(value, set | frozenset | list | tuple):
            return "['nobody']"
        if isinstance(value, str):
            return "'no idea'"
        return repr(float(value) * 3 + 7)

    for sid in ("001", "002"):
        _fill(out / sid / name, {i: literal(v) for i, v in answers[sid].items()})
    _fill(out / "003" / name, {i: wrong(v) for i, v in answers["003"].items()})
    _break(out / "004" / name)
    (out / "005" / name).unlink()

    result = classroom.grade(out, timeout=300, jobs=2)

    assert result.exit_code == 1
    grades, summary = _read_sheets(result)
    status = grades.pivot(index="student_id", columns="exercise", values="status")
    assert (status.loc["001"] == "right").all() and (status.loc["002"] == "right").all()
    assert (status.loc["003"] == "wrong").all()
    assert (status.loc["004"] == "error").all() and (status.loc["005"] == "missing").all()
    points = {i: manifest["lessons"]["L1"]["points"][i] for i in ids}
    scores = grades.groupby("student_id")["score"].sum()
    assert scores.to_dict() == {"001": sum(points.values()), "002": sum(points.values()),
                                "003": 0.0, "004": 0.0, "005": 0.0}
    assert set(summary["exercise"]) == set(ids) and (summary["wrong"] == 1).all()


@pytest.mark.skipif(not list((Path(__file__).parents[1] / "notebooks" / "lessons").glob(
    "L1_*.py")), reason="lesson L1 not present")
@pytest.mark.slow  # end-to-end: the rehearse command, five students x real L1 (~28 s)
def test_rehearsal_command_grades_five_simulated_students(tmp_path, capsys):
    """The teacher's dry run from docs/teaching.md: one command, and the grade sheet says
    exactly what each simulated student did (two right, one wrong, one broken, one
    missing); the exit code is 0 only then."""
    from crm_analysis.cli import main as cli_main

    code = cli_main(["classroom", "rehearse", "--out", str(tmp_path / "r"), "--jobs", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    grades = pd.read_csv(tmp_path / "r" / "class" / "grades.csv", dtype={"student_id": str},
                         encoding="utf-8-sig")
    by = grades.groupby("student_id")["status"].agg(lambda s: set(s)).to_dict()
    assert by == {"S01": {"right"}, "S02": {"right"}, "S03": {"wrong"}, "S04": {"error"},
                  "S05": {"missing"}}
    assert "张伟" in set(grades["name"])
    bad = classroom.GradeResult(grades.assign(status="right"), pd.DataFrame(),
                                pd.DataFrame(), pd.DataFrame())
    assert len(classroom.rehearsal_problems(bad)) == 3 * grades["exercise"].nunique()

"""Unit tests of crm_analysis.teaching.core: exercises, check() feedback, student versions."""

from __future__ import annotations

import decimal

import nbformat
import numpy as np
import pandas as pd
import pytest

from crm_analysis import teaching
from crm_analysis.schema import example_dataset
from crm_analysis.teaching import core
from crm_analysis.teaching.classroom import read_roster, set_parameters, student_seed

HINT = {"en": "look at the orders table", "zh": "看工单表"}


@pytest.fixture
def registry():
    """Register test exercises; remove them (and only them) afterwards."""
    before = set(teaching.EXERCISES)
    yield teaching.exercise
    for key in set(teaching.EXERCISES) - before:
        del teaching.EXERCISES[key]


@pytest.fixture
def data():
    return core.LessonData(example_dataset(), "001", as_of=pd.Timestamp("2024-06-30"), lang="en")


@pytest.fixture
def dummy(registry):
    """One exercise of each kind on the example dataset (5 orders)."""

    @registry("TT.num", title={"en": "Mean amount", "zh": "平均金额"}, hint=HINT, rel_tol=1e-3)
    def mean_amount(d):
        return float(d.dataset.repair_orders["total_amount"].mean())

    @registry("TT.share", title="Share", hint=HINT, rel_tol=0.0, abs_tol=0.001, points=2)
    def share(d):
        return 0.4

    @registry("TT.text", title="Type", hint=HINT, kind="text")
    def top_type(d):
        return "body_paint"

    @registry("TT.set", title="Orders", hint=HINT, kind="set")
    def ro_ids(d):
        return set(d.dataset.repair_orders["ro_id"])

    @registry("TT.series", title="By type", hint=HINT, kind="series", rel_tol=1e-3)
    def by_vin(d):
        return d.dataset.repair_orders.groupby("vin")["total_amount"].sum()

    return {"num": mean_amount, "text": top_type, "set": ro_ids, "series": by_vin}


# --------------------------------------------------------------------------- check()


def test_number_right_close_wrong_missing(dummy, data, capsys):
    e = dummy["num"](data)
    assert teaching.check("TT.num", e, data=data).status == "right"
    assert teaching.check("TT.num", e * (1 + 5e-4), data=data).status == "right"
    close = teaching.check("TT.num", e * (1 + 5e-3), data=data)
    assert (close.status, close.score) == ("close", 0.5)
    assert "Hint: look at the orders table" in close.message
    wrong = teaching.check("TT.num", e * 2, data=data)
    assert (wrong.status, wrong.score) == ("wrong", 0.0)
    assert "too high" in wrong.message
    missing = teaching.check("TT.num", None, data=data)
    assert (missing.status, missing.score) == ("missing", 0.0)
    assert "answer = None" in missing.message
    printed = capsys.readouterr().out  # outside a kernel the feedback is printed
    assert printed.count("TT.num") == 5


def test_number_accepts_numpy_and_pandas_scalars(dummy, data):
    e = dummy["num"](data)
    for answer in (np.float64(e), np.float32(e), pd.Series([e]).iloc[0], np.array([e]),
                   pd.Series([e]), data.dataset.repair_orders["total_amount"].mean(),
                   decimal.Decimal(repr(e))):
        assert teaching.check("TT.num", answer, data=data).status == "right", type(answer)
    assert teaching.check("TT.share", np.int64(0), data=data).status == "wrong"


def test_points_and_percentage_hint(dummy, data):
    right = teaching.check("TT.share", 0.4, data=data)
    assert right.score == 2.0 and right.right
    assert teaching.check("TT.share", 0.405, data=data).score == 1.0  # close: half the points
    pct = teaching.check("TT.share", 40, data=data)
    assert pct.status == "wrong" and "percentage" in pct.message


@pytest.mark.parametrize("answer", ["0.4", "forty", [0.4, 0.5], {"a": 1}, True, object(),
                                   float("nan"), pd.DataFrame({"a": [1, 2]})])
def test_wrong_type_is_wrong_never_raises(dummy, data, answer):
    fb = teaching.check("TT.share", answer, data=data)
    assert (fb.status, fb.score) == ("wrong", 0.0)
    if isinstance(answer, str):
        assert "expected a number" in fb.message and "str" in fb.message


def test_wrong_type_for_every_kind(dummy, data):
    assert "text string" in teaching.check("TT.text", 3, data=data).message
    assert "list or set" in teaching.check("TT.set", "R1", data=data).message
    assert "Series or a dict" in teaching.check("TT.series", [1, 2], data=data).message
    assert teaching.check("TT.series", 5.0, data=data).status == "wrong"


def test_text(dummy, data):
    assert teaching.check("TT.text", " Body_Paint ", data=data).status == "right"
    assert teaching.check("TT.text", "body paint", data=data).status == "right"
    assert teaching.check("TT.text", "bodypaint", data=data).status == "close"
    assert teaching.check("TT.text", np.str_("body_paint"), data=data).status == "right"
    assert teaching.check("TT.text", "maintenance", data=data).status == "wrong"


def test_set(dummy, data):
    ids = sorted(dummy["set"](data))
    assert len(ids) == 5
    assert teaching.check("TT.set", ids, data=data).status == "right"
    assert teaching.check("TT.set", pd.Series(ids[::-1] + ids[:1]), data=data).status == "right"
    assert teaching.check("TT.set", np.array(ids), data=data).status == "right"
    assert teaching.check("TT.set", pd.Index(ids), data=data).status == "right"
    # 4 of 5 shared, nothing extra: Jaccard 0.8 -> close
    assert teaching.check("TT.set", ids[:4], data=data).status == "close"
    fb = teaching.check("TT.set", ids[:2] + ["nope"], data=data)
    assert fb.status == "wrong" and "2 of the 5 expected items" in fb.message
    typed = teaching.check("TT.set", [1, 2, 3], data=data)
    assert typed.status == "wrong" and "type str" in typed.message


def test_series(dummy, data):
    e = dummy["series"](data)
    assert teaching.check("TT.series", e, data=data).status == "right"
    assert teaching.check("TT.series", e.to_dict(), data=data).status == "right"
    assert teaching.check("TT.series", e.sample(frac=1, random_state=1), data=data).right
    assert teaching.check("TT.series", e.to_frame(), data=data).status == "right"
    assert teaching.check("TT.series", e * (1 + 5e-3), data=data).status == "close"
    off = e.copy()
    off.iloc[0] *= 3
    fb = teaching.check("TT.series", off, data=data)
    assert fb.status == "wrong" and f"1 of {len(e)} values" in fb.message
    fb = teaching.check("TT.series", e.iloc[1:], data=data)
    assert fb.status == "wrong" and "missing" in fb.message
    fb = teaching.check("TT.series", e.to_frame().assign(x=1), data=data)
    assert fb.status == "wrong"


def test_series_keys_compared_as_text(registry, data):
    @registry("TT.band", title="Band", hint=HINT, kind="series")
    def band(d):
        return pd.Series([0.5, 0.25], index=pd.Index([0, 1], dtype="int64"))

    assert teaching.check("TT.band", {"0": 0.5, "1": 0.25}, data=data).right
    assert teaching.check("TT.band", {0.0: 0.5, 1.0: 0.25}, data=data).right
    assert not teaching.check("TT.band", {"0": "half", "1": 0.25}, data=data).right


def test_chinese_feedback(dummy):
    zh = core.LessonData(example_dataset(), "001", as_of=pd.Timestamp("2024-06-30"), lang="zh")
    assert "正确" in teaching.check("TT.share", 0.4, data=zh).message
    wrong = teaching.check("TT.share", "0.4", data=zh)
    assert "应为一个数字" in wrong.message and "提示：看工单表" in wrong.message
    assert "尚未作答" in teaching.check("TT.share", None, data=zh).message


def test_expected_is_cached_per_data(registry, data):
    calls = []

    @registry("TT.calls", title="Calls", hint=HINT)
    def counted(d):
        calls.append(1)
        return 1.0

    teaching.check("TT.calls", 1.0, data=data)
    teaching.check("TT.calls", 2.0, data=data)
    assert len(calls) == 1


def test_check_uses_start_context(dummy, tmp_path, monkeypatch):
    monkeypatch.setattr(core, "_CURRENT", None)  # restored afterwards
    with pytest.raises(RuntimeError, match="start"):
        teaching.check("TT.share", 0.4)
    example_dataset().to_dir(tmp_path / "data")
    d = teaching.start("TT", tmp_path / "data", lang="zh", store_id="")
    assert teaching.current() is d and d.lesson == "TT" and d.store_id == "001"
    assert teaching.check("TT.share", 0.4).status == "right"
    assert teaching.start("TT", tmp_path / "data", store_id="007").store_id == "007"
    with pytest.raises(ValueError, match="not in the data"):
        teaching.start("TT", tmp_path / "data", store_id="999")
    with pytest.raises(ValueError, match="lang"):
        teaching.start("TT", tmp_path / "data", lang="fr")


def test_lesson_bug_raises(registry, data):
    @registry("TT.bug", title="Bug", hint=HINT)
    def bug(d):
        return "not a number"

    with pytest.raises(TypeError, match="TT.bug"):
        teaching.check("TT.bug", 1.0, data=data)


def test_unknown_exercise(data):
    with pytest.raises(KeyError, match="unknown exercise 'ZZ.9'"):
        teaching.check("ZZ.9", 1, data=data)


# --------------------------------------------------------------------------- registration


def test_registration(registry):
    @registry("TT.reg", title={"en": "Title", "zh": "标题"}, hint="same in both", points=3)
    def f(d):
        return 1

    ex = teaching.EXERCISES["TT.reg"]
    assert (ex.id, ex.lesson, ex.kind, ex.points) == ("TT.reg", "TT", "number", 3.0)
    assert ex.hint == {"en": "same in both", "zh": "same in both"}
    assert ex.expected is f


def test_duplicate_id_is_an_error(registry):
    @registry("TT.dup", title="A", hint=HINT)
    def first(d):
        return 1

    with pytest.raises(ValueError, match="already registered"):

        @registry("TT.dup", title="B", hint=HINT)
        def second(d):
            return 2

    assert teaching.EXERCISES["TT.dup"].expected is first
    registry("TT.dup", title="A", hint=HINT)(first)  # the same function again: a reload


@pytest.mark.parametrize("kwargs, match", [
    ({"id": "no-dot"}, "look like"),
    ({"kind": "matrix"}, "unknown kind"),
    ({"rel_tol": -1}, "rel_tol"),
    ({"close_factor": 0.5}, "close_factor"),
    ({"title": {"fr": "x"}}, "unknown language"),
])
def test_registration_errors(registry, kwargs, match):
    args = {"id": "TT.bad", "title": "t", "hint": HINT, **kwargs}
    with pytest.raises(ValueError, match=match):
        registry(args.pop("id"), **args)(lambda d: 1)
    assert "TT.bad" not in teaching.EXERCISES


# --------------------------------------------------------------------------- notebooks


def _lesson_nb() -> nbformat.NotebookNode:
    cell, md = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell
    return nbformat.v4.new_notebook(cells=[
        cell('data_dir = "data/sample"  # str\nsolutions = False  # bool',
             metadata={"tags": ["parameters"]}),
        cell("answer = None  # YOUR ANSWER\nteaching.check('TT.1', answer)",
             metadata={"tags": ["exercise"]}, execution_count=3,
             outputs=[nbformat.v4.new_output("stream", text="✔ right")]),
        cell("if solutions:\n    answer = len(orders)\n    teaching.check('TT.1', answer)",
             metadata={"tags": ["solution"]}),
        md("The answer is 42", metadata={"tags": ["solution"]}),
        md("Discuss."),
    ], metadata={"jupytext": {"formats": "ipynb,py:percent"}})


def test_student_version_drops_solution_cells_and_outputs():
    nb = _lesson_nb()
    student = teaching.student_version(nb)
    assert len(student.cells) == 3 and len(nb.cells) == 5  # input unchanged
    text = "\n".join(c.source for c in student.cells)
    assert "len(orders)" not in text and "42" not in text
    assert all("solution" not in (c.metadata.get("tags") or []) for c in student.cells)
    code = [c for c in student.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "jupytext" not in student.metadata
    nbformat.validate(student)


def test_set_parameters_keeps_comments():
    nb = set_parameters(_lesson_nb(), {"data_dir": "data", "lang": "zh"})
    assert nb.cells[0].source == 'data_dir = "data"  # str\nsolutions = False  # bool\nlang = "zh"'


def test_lesson_paths(tmp_path):
    for name in ("L1_a.py", "L1_a.ipynb", "L3_c.py", "L2_b.ipynb", "README.md", "X_y.py"):
        (tmp_path / name).write_text("{}")
    paths = teaching.lesson_paths(lessons_dir=tmp_path)
    # the tracked script wins over its .ipynb working copy; a lone .ipynb is used as it is
    assert [(k, p.name) for k, p in paths.items()] == [
        ("L1", "L1_a.py"), ("L2", "L2_b.ipynb"), ("L3", "L3_c.py")]
    assert list(teaching.lesson_paths("l3,L1", tmp_path)) == ["L3", "L1"]
    with pytest.raises(ValueError, match="unknown lesson.*available: L1, L2, L3"):
        teaching.lesson_paths(["L9"], tmp_path)


# --------------------------------------------------------------------------- roster, seeds


def test_student_seeds_are_deterministic_and_distinct():
    ids = ["001", "002", "003", "张伟", "李娜"]
    seeds = [student_seed(2026, s) for s in ids]
    assert seeds == [student_seed(2026, s) for s in ids]
    assert len(set(seeds)) == len(ids)
    assert seeds != [student_seed(2027, s) for s in ids]
    assert all(0 <= s < 2**32 for s in seeds)
    assert student_seed(2026, "001") == 4061019252  # stable across runs and machines


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_read_roster_encodings(tmp_path, encoding):
    p = tmp_path / "roster.csv"
    p.write_bytes("student_id,name\n001,张伟\n002,李娜\n\n".encode(encoding))
    assert [(s.student_id, s.name) for s in read_roster(p)] == [("001", "张伟"), ("002", "李娜")]


@pytest.mark.parametrize("text, match", [
    ("student_id,name\n001,a\n001,b\n", "duplicate student_id '001'"),
    ("name\na\n", "no student_id column"),
    ("student_id,name\n../x,a\n", "cannot be used as a folder or file name"),
    ("student_id,name\n,a\n", "empty student_id"),
    ("student_id,name\n", "no students"),
])
def test_read_roster_errors(tmp_path, text, match):
    p = tmp_path / "roster.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        read_roster(p)

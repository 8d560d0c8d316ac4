"""The grading sandbox (issue 17, part 4) and the grade sheets (part 2).

A submitted notebook is an attacker: it tries to read and change another student's
notebook, delete the roster, write outside its folder, call the teacher's machine on the
network, leave a detached process behind and display a forged check record. In the
bubblewrap sandbox every attempt fails, the victim's grade is untouched, the forged
records score nothing and no process survives (end to end through ``grade``).
The other tests check the pieces without a kernel: the judging of records, the sandbox's
command line, the fallback's announcement, the roster's student ids and the
formula-safe grade sheets; one run of the fallback mode, whose detached child must not
survive either; and (slow) the same attacker in the fallback mode.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

import nbformat
import openpyxl
import pandas as pd
import pytest
from test_classroom import _fill, _lesson_notebook

from crm_analysis import teaching
from crm_analysis.safety import is_formula_text
from crm_analysis.schema import example_dataset
from crm_analysis.teaching import classroom, core, sandbox

FORMULA_NAMES = ['=HYPERLINK("http://evil.example/","click")', "@SUM(1+1)",
                 "+cmd|' /C calc'!A0", "-2+3"]


def _bwrap_works() -> bool:
    try:
        sandbox.open_sandbox("bwrap").close()
    except sandbox.SandboxUnavailable:
        return False
    return True


def _alive_with(marker: str) -> list[int]:
    """Processes whose command line holds ``marker`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def _class(tmp_path: Path, roster_text: str) -> Path:
    lessons_dir = tmp_path / "lessons"
    lessons_dir.mkdir()
    nbformat.write(_lesson_notebook(), lessons_dir / "T9_tiny.ipynb")
    roster = tmp_path / "roster.csv"
    roster.write_text(roster_text, encoding="utf-8")
    out = tmp_path / "class"
    classroom.prepare(roster, out, lessons_dir=lessons_dir, seed=5, scale=0.02)
    return out


# ------------------------------------------------------------------ forged records (fast)


def _record(exercise, answer=None, **claims):
    rec = {"exercise": exercise, "lesson": "T9", "status": "right", "score": 1.0,
           "points": 1.0, **claims}
    if answer is not None:
        rec["answer"] = answer
    return rec


def test_forged_records_score_nothing(tmp_path, t9_exercises):
    """The grader reads answers, not verdicts: a record that claims "right" without an
    answer is ignored, one with a wrong answer is judged wrong, and only the student's
    real answer (recomputed on the student's data) scores."""
    example_dataset().to_dir(tmp_path / "data")
    recompute = classroom._Recompute(tmp_path / "data", {}, "en")
    try:
        n = recompute.data("T9", "en").expected("T9.1")
        nb = {"cells": [{"cell_type": "code", "outputs": [
            {"output_type": "display_data", "data": {core.CHECK_MIME: rec}}
            for rec in recs]} for recs in [
            [_record("T9.1", {"number": n + 100})],            # real answer, wrong
            [_record("T9.1"), _record("T9.1", "right")],       # forged: no answer
            [_record("T9.2", {"number": 1e9}, status="right", score=99)],
        ]]}
        records = classroom._records(nb)
        assert [len(records[k]) for k in ("T9.1", "T9.2")] == [3, 1]
        status, score, note = classroom._judge_records("T9.1", records["T9.1"], 1.0,
                                                       recompute, "T9")
        assert (status, score) == ("wrong", 0.0)
        assert "too high" in note and "2 check record(s) without an answer ignored" in note
        assert classroom._judge_records("T9.2", records["T9.2"], 1.0, recompute,
                                        "T9")[:2] == ("wrong", 0.0)
        # only forged verdicts: nothing to judge
        assert classroom._judge_records("T9.1", [_record("T9.1")], 1.0, recompute,
                                        "T9") is None
        # the real answer, as check() records it, scores; a close one scores half
        right = core.answer_record("T9.1", n)
        assert classroom._judge_records("T9.1", [_record("T9.1", right, status="wrong")],
                                        1.0, recompute, "T9")[:2] == ("right", 1.0)
        close = core.answer_record("T9.1", n + 3)
        assert classroom._judge_records("T9.1", [_record("T9.1", close)], 2.0,
                                        recompute, "T9")[:2] == ("close", 1.0)
    finally:
        recompute.close()


@pytest.mark.parametrize("answer", [
    3, 3.0000001, "3", None, [1, 2], float("nan"), {"a": 1},
])
def test_recorded_answers_get_the_verdict_check_gave(answer, t9_exercises):
    """answer_record -> answer_from_record -> judge gives check()'s verdict."""
    @teaching.exercise("TS.n", title="n", abs_tol=0.5, rel_tol=0.0)
    def _n(data):
        return 3

    @teaching.exercise("TS.s", title="s", kind="set")
    def _s(data):
        return {"a", ("t", 1), 2}

    @teaching.exercise("TS.m", title="m", kind="series")
    def _m(data):
        return pd.Series({"a": 1.0, "b": float("nan"), "c": "x"})

    try:
        data = core.LessonData(example_dataset(), "001", as_of=pd.Timestamp("2024-06-30"))
        for ex, value in (("TS.n", answer), ("TS.s", answer), ("TS.s", {"a", ("t", 1), 2.0}),
                          ("TS.m", answer), ("TS.m", {"a": 1, "b": float("nan"), "c": " x"})):
            record = json.loads(json.dumps(core.answer_record(ex, value)))  # through JSON
            back = core.answer_from_record(ex, record)
            direct = core.judge(ex, value, data=data)
            assert core.judge(ex, back, data=data, recorded=True).status == direct.status, (
                ex, value, record)
    finally:
        for k in ("TS.n", "TS.s", "TS.m"):
            teaching.EXERCISES.pop(k, None)


# ------------------------------------------------------------------ sandbox pieces (fast)


def test_bubblewrap_command_isolates_the_notebook(tmp_path):
    venv_inside = Path(sys.prefix) / "class_in_venv"
    box = sandbox.Sandbox("bwrap", hide=[tmp_path, venv_inside])
    cmd = box.command(tmp_path / "box", sandbox.Limits(tmp_mb=64))
    text = " ".join(cmd)
    for flag in ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent",
                 "--new-session", "--clearenv", "--disable-userns"):
        assert flag in cmd, flag
    assert cmd[cmd.index("--uid") + 1] == str(sandbox.SANDBOX_UID)
    assert "--bind" not in cmd and "--dev-bind" not in cmd  # nothing of the host writable
    sources = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--ro-bind"]
    assert "/" not in sources and str(tmp_path) not in sources  # not the class folder
    assert sources[-1] == str(tmp_path / "box" / "in")  # the private copy, at /grading
    assert cmd[cmd.index(sources[-1]) + 1] == "/grading"
    assert "--tmpfs" in cmd and f"--size {64 * 2**20} --tmpfs /tmp" in text
    # a class folder lying in a folder the sandbox needs is covered by an empty tmpfs
    assert f"--tmpfs {venv_inside}" in text and f"--tmpfs {tmp_path} " not in text + " "
    assert cmd[-5:] == [box.python, "-I", "-B", str(Path(sandbox.__file__).resolve()),
                        "/grading/task.json"]
    # as root the runner starts as root of a user namespace that maps only root and
    # nobody, with only the capabilities to become nobody
    as_root = sandbox.Sandbox("bwrap", userns_fd=99).command(tmp_path, sandbox.Limits())
    assert as_root[as_root.index("--userns") + 1] == "99"
    assert "--cap-drop" in as_root and as_root.count("--cap-add") == 2


def test_inject_parameters_clears_outputs_and_injects_declared_names():
    nb = {"cells": [
        {"cell_type": "code", "source": "x = 1", "outputs": [{"output_type": "display_data",
         "data": {core.CHECK_MIME: {"exercise": "T9.1", "status": "right"}}}],
         "execution_count": 3, "metadata": {}},
        {"cell_type": "code", "source": ['data_dir = "data"\n', "as_of: str = None\n"],
         "metadata": {"tags": ["parameters"]}, "outputs": []},
    ]}
    out = sandbox.inject_parameters(nb, {"data_dir": '/g/"d"', "as_of": "2024-06-30",
                                         "solutions": False})
    assert out["cells"][0]["outputs"] == [] and out["cells"][0]["execution_count"] is None
    injected = out["cells"][2]
    assert injected["metadata"]["tags"] == ["injected-parameters"]
    assert injected["source"] == 'data_dir = "/g/\\"d\\""\nas_of = "2024-06-30"'
    assert nb["cells"][0]["outputs"]  # the input is not changed


def test_open_sandbox_announces_the_weaker_mode(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sandbox, "_bwrap_path", lambda: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="not installed"):
        sandbox.open_sandbox("bwrap")
    with sandbox.open_sandbox("auto") as box:
        assert box.mode == "process" and "bubblewrap" in box.reason
        assert "no view of the class" in box.missing and "no network" in box.missing
        assert "grader's user rights" in box.warning
    with pytest.raises(ValueError, match="sandbox must be one of auto, bwrap, process"):
        sandbox.open_sandbox("none")
    (tmp_path / "classroom.json").write_text('{"students": [], "lessons": {}}',
                                             encoding="utf-8")
    assert classroom.main(["grade", str(tmp_path), "--sandbox", "bwrap", "--quiet"]) == 2
    assert "bubblewrap is not installed" in capsys.readouterr().err
    result = classroom.grade(tmp_path, sandbox="auto")
    assert result.sandbox == "process" and "WEAKER GRADING SANDBOX" in result.warnings[0]
    assert "WARNING: WEAKER GRADING SANDBOX" in capsys.readouterr().err


def test_copy_regular_files_never_follows_links(tmp_path):
    src = tmp_path / "data"
    (src / "sub").mkdir(parents=True)
    (src / "orders.csv").write_text("a\n1\n", encoding="utf-8")
    (src / "sub" / "x.txt").write_text("x", encoding="utf-8")
    (src / "passwd").symlink_to("/etc/passwd")
    (src / "other").symlink_to(tmp_path)
    sandbox.copy_regular_files(src, tmp_path / "copy")
    got = sorted(str(p.relative_to(tmp_path / "copy")) for p in (tmp_path / "copy").rglob("*"))
    assert got == ["orders.csv", "sub", "sub/x.txt"]


def test_a_linked_submission_is_not_graded(tmp_path, monkeypatch):
    victim = tmp_path / "victim.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), victim)
    link = tmp_path / "L1_mine.ipynb"
    link.symlink_to(victim)
    with pytest.raises(ValueError, match="symbolic link"):
        classroom._read_submission(link)
    monkeypatch.setattr(classroom, "MAX_NOTEBOOK_BYTES", 1000)
    (tmp_path / "big.ipynb").write_bytes(b"{" + b" " * 1000 + b"}")
    with pytest.raises(ValueError, match="too big"):
        classroom._read_submission(tmp_path / "big.ipynb")


# ------------------------------------------------------------------ roster and sheets (fast)


def test_a_long_or_unsafe_student_id_is_a_clean_usage_error(tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\n001,a\n" + "9" * 300 + ",b\n", encoding="utf-8")
    out = tmp_path / "class"
    assert classroom.main(["prepare", "--roster", str(roster), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"roster {roster}, line 3: student_id '999" in err and "at most 64" in err
    assert "Traceback" not in err and not out.exists()  # refused before any folder
    for bad in ("../x", "a/b", "CON", ".hidden", "x" * 65):
        roster.write_text(f"student_id,name\n{bad},a\n", encoding="utf-8")
        with pytest.raises(ValueError, match="cannot be used as a folder or file name"):
            classroom.read_roster(roster)
    # an edited manifest is checked too
    out.mkdir()
    (out / "classroom.json").write_text(json.dumps(
        {"students": [{"student_id": "../../etc"}], "lessons": {}}), encoding="utf-8")
    assert classroom.main(["grade", str(out), "--quiet"]) == 2
    assert "student_id '../../etc' cannot be used" in capsys.readouterr().err


def test_grade_sheets_keep_formula_names_as_text(tmp_path):
    """Roster names that a spreadsheet would run stay text in grades.xlsx and grades.csv
    (the class is written by hand from the roster: nobody submitted, nothing runs)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(
        [("student_id", "name"), *((f"S{i}", n) for i, n in enumerate(FORMULA_NAMES))])
    (tmp_path / "roster.csv").write_text(buffer.getvalue(), encoding="utf-8")
    students = classroom.read_roster(tmp_path / "roster.csv")
    out = tmp_path / "class"
    out.mkdir()
    (out / "classroom.json").write_text(json.dumps({
        "lang": "en", "students": [{"student_id": s.student_id, "name": s.name}
                                   for s in students],
        "lessons": {"T9": {"notebook": "T9_tiny.ipynb", "exercises": ["T9.1"],
                           "points": {"T9.1": 1.0}}}}), encoding="utf-8")

    result = classroom.grade(out, sandbox="process")

    assert result.students["name"].tolist() == FORMULA_NAMES
    wb = openpyxl.load_workbook(result.paths["xlsx"])
    for sheet in ("grades", "students", "notebooks"):
        ws = wb[sheet]
        names = [c.value for c in ws["B"][1:]]
        assert set(names) == set(FORMULA_NAMES), sheet
        for cell in ws["B"][1:]:
            assert cell.data_type == "s"  # a string, never a formula
            assert cell.quotePrefix == is_formula_text(cell.value)
    text = result.paths["csv"].read_text(encoding="utf-8-sig")
    for name in FORMULA_NAMES:
        assert f"'{name}" in text.replace('""', '"')
    assert "\n=" not in text and ",=" not in text and ",@" not in text and ",+" not in text


# ------------------------------------------------------------------ the fallback mode (fast)


def test_process_mode_kills_detached_children(tmp_path):
    """The weaker mode still kills what a notebook leaves behind, detached or not."""
    marker = f"crm-sandbox-test-{os.getpid()}-{time.time_ns()}"
    code = ("import subprocess, sys\n"
            "subprocess.Popen([sys.executable, '-c', 'import os, time\\n"
            "if os.fork(): os._exit(0)\\nos.setsid(); time.sleep(300)', "
            f"{marker!r}], start_new_session=True)\n"
            "print('spawned', data_dir)")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("data_dir = 'x'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    (tmp_path / "data").mkdir()
    try:
        with sandbox.open_sandbox("process") as box:
            run = box.run(nb, tmp_path / "data", limits=sandbox.Limits(timeout=60))
        assert run.status == "ok", run.error
        printed = run.notebook["cells"][2]["outputs"][0]["text"]
        assert printed.startswith("spawned ") and "/in/data" in printed
        assert _alive_with(marker) == []
    finally:
        for pid in _alive_with(marker):
            os.kill(pid, 9)


# ------------------------------------------------------------------ the attack (slow)

ATTACK = '''
import json, os, socket, subprocess, sys
from IPython.display import display
CLASS, OUTSIDE, PORT, MARKER = {cls!r}, {outside!r}, {port!r}, {marker!r}
results = {{"uid": os.getuid()}}
def attempt(name, action):
    try:
        action()
        results[name] = "DONE"
    except BaseException as exc:
        results[name] = type(exc).__name__
def overwrite_victim():
    with open(CLASS + "/V/T9_tiny.ipynb", "w") as f:
        f.write("{{}}")
attempt("read_victim", lambda: open(CLASS + "/V/T9_tiny.ipynb").read())
attempt("list_class", lambda: os.listdir(CLASS))
attempt("overwrite_victim", overwrite_victim)
attempt("delete_roster", lambda: os.remove(CLASS + "/roster.csv"))
attempt("delete_manifest", lambda: os.remove(CLASS + "/classroom.json"))
attempt("write_class", lambda: open(CLASS + "/pwned.txt", "w").write("x"))
attempt("write_outside", lambda: open(OUTSIDE + "/pwned.txt", "w").write("x"))
attempt("network", lambda: socket.create_connection(("127.0.0.1", PORT), timeout=3))
attempt("memory_3gb", lambda: bytearray(3 * 2**30))
os.system(f"rm -f {{CLASS}}/roster.csv {{CLASS}}/V/T9_tiny.ipynb; touch {{OUTSIDE}}/system.txt")
subprocess.Popen([sys.executable, "-c",
                  "import os, time\\nif os.fork(): os._exit(0)\\nos.setsid(); time.sleep(300)",
                  MARKER], start_new_session=True)
print(json.dumps(results))
display({{"application/vnd.crm-analysis.check+json": {{
    "exercise": "T9.2", "lesson": "T9", "status": "right", "score": 1.0, "points": 1.0}}}},
    raw=True)
display({{"application/vnd.crm-analysis.check+json": {{
    "exercise": "T9.1", "lesson": "T9", "status": "right", "score": 1.0, "points": 1.0,
    "answer": {{"number": 123456789.0}}}}}}, raw=True)
'''


class _Listener:
    """A loopback server that counts the connections it accepts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


def _attack_class(tmp_path, marker, port):
    out = _class(tmp_path, "student_id,name\nA,attacker\nV,victim\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    _fill(out / "V" / "T9_tiny.ipynb", {"T9.1": "len(orders)",
                                        "T9.2": "orders['total_amount'].mean()"})
    path = out / "A" / "T9_tiny.ipynb"
    nb = nbformat.read(path, as_version=4)  # the attack runs after the (empty) answers
    nb.cells.append(nbformat.v4.new_code_cell(ATTACK.format(
        cls=str(out), outside=str(outside), port=port, marker=marker)))
    nbformat.write(nb, path)
    return out, outside


def _attack_results(out):
    nb = json.loads((out / "_graded" / "A" / "T9_tiny.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            text = "".join(o.get("text", ""))
            if text.startswith("{"):
                return json.loads(text)
    raise AssertionError("the attack cell printed nothing")


# in the fast suite: two tiny notebooks graded end to end in bubblewrap (4-7 s here)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bubblewrap needs Linux")
def test_attacker_notebook_is_contained(tmp_path, t9_exercises):
    if not _bwrap_works():
        pytest.skip("bubblewrap cannot run here")
    marker = f"crm-attack-{os.getpid()}-{time.time_ns()}"
    listener = _Listener()
    try:
        out, outside = _attack_class(tmp_path, marker, listener.port)
        victim_before = (out / "V" / "T9_tiny.ipynb").read_bytes()
        roster_before = (out / "roster.csv").read_bytes()

        result = classroom.grade(out, timeout=120, sandbox="bwrap", jobs=2, memory_mb=2048)

        attempts = _attack_results(out)
        assert attempts.pop("uid") == sandbox.SANDBOX_UID
        assert all(v != "DONE" for v in attempts.values()), attempts
        assert listener.accepted == 0
        assert (out / "V" / "T9_tiny.ipynb").read_bytes() == victim_before
        assert (out / "roster.csv").read_bytes() == roster_before
        assert (out / "classroom.json").is_file()
        assert not (out / "pwned.txt").exists() and list(outside.iterdir()) == []
        assert _alive_with(marker) == []
        g = result.grades.set_index(["student_id", "exercise"])
        assert g.loc["V", "status"].tolist() == ["right", "right"]
        assert g.loc["V", "score"].sum() == 2.0
        # forged verdicts score nothing: the fake answer is wrong, the answerless record
        # is ignored (the attacker left T9.2 unanswered)
        assert g.loc[("A", "T9.1"), "status"] == "wrong"
        assert g.loc[("A", "T9.2"), "status"] == "missing"
        assert g.loc["A", "score"].sum() == 0.0
        assert result.sandbox == "bwrap" and result.warnings == ()
        assert set(result.notebooks["sandbox"]) == {"bwrap"}
    finally:
        listener.close()
        for pid in _alive_with(marker):
            os.kill(pid, 9)


# slow (~7-10 s): the same attacker in the weaker mode, announced; forged records and
# detached children are still handled there
@pytest.mark.slow
def test_attacker_in_the_fallback_mode(tmp_path, t9_exercises, capsys):
    marker = f"crm-attack-{os.getpid()}-{time.time_ns()}"
    listener = _Listener()
    try:
        out, _ = _attack_class(tmp_path, marker, listener.port)
        # the victim is graded first: the fallback does not protect the class folder
        manifest = json.loads((out / "classroom.json").read_text(encoding="utf-8"))
        manifest["students"].reverse()
        (out / "classroom.json").write_text(json.dumps(manifest), encoding="utf-8")

        result = classroom.grade(out, timeout=120, sandbox="process", memory_mb=2048)

        assert "WARNING: WEAKER GRADING SANDBOX" in capsys.readouterr().err
        assert set(result.notebooks["sandbox"]) == {"process"}
        g = result.grades.set_index(["student_id", "exercise"])
        assert g.loc["V", "score"].sum() == 2.0
        assert g.loc["A", "score"].sum() == 0.0
        assert _alive_with(marker) == []
        attempts = _attack_results(out)
        assert attempts["read_victim"] == "DONE"  # what the weaker mode does not stop
        assert attempts["memory_3gb"] == "MemoryError"  # the limits hold
    finally:
        listener.close()
        for pid in _alive_with(marker):
            os.kill(pid, 9)

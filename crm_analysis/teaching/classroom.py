"""Classroom tools: per-student data and lessons (``prepare``), automatic grading (``grade``).

``prepare`` reads a roster (``student_id,name``; UTF-8 with or without BOM, or GBK /
GB18030 as saved by a Chinese Excel; Chinese names welcome) and writes, for each
student, a small synthetic store generated with the student's own seed (derived from
the class seed and the student id with SHA-256, so the same roster and seed always give
the same data) and the *student versions* of the lessons (no solution cells, and only
the prose cells of the class's language) with their parameters already pointing at that
data::

    DIR/classroom.json              manifest: students, seeds, lessons, exercises
    DIR/roster.csv                  copy of the roster
    DIR/<student_id>/data/          the student's store (Dataset folder)
    DIR/<student_id>/L1_....ipynb   the lessons to fill in
    DIR/<student_id>/README.txt     what to do (English and Chinese)

Two students get different numbers for the same exercise, so copying a neighbour's
answers scores nothing; every check is computed against the student's own data.

``grade`` executes every submitted notebook ``DIR/<student_id>/<lesson>.ipynb`` in the
grading sandbox (:mod:`crm_analysis.teaching.sandbox`: a private copy of the notebook and
of the student's data, run as user ``nobody`` with bubblewrap, without network, without a
view of the class folder or the roster, with a memory and a wall-clock limit, its whole
process tree killed at the end; a weaker, loudly announced mode where bubblewrap cannot
run), with the data folder, analysis date and store re-injected as parameters. The
grader then reads the *answers* that :func:`crm_analysis.teaching.check` recorded in the
outputs and judges them itself on the student's own data -- the verdict a notebook
displays is never trusted, so a forged check record scores nothing -- and writes a grade
sheet (``grades.xlsx`` with the sheets *grades*, *summary*, *students*, *notebooks*;
``grades.csv`` and ``grades_summary.csv``; formula-safe: a roster name such as
``=HYPERLINK(...)`` stays text). A notebook that raises scores what it checked before
the error and 0 (``error``) for the rest; a missing notebook scores 0 (``missing``) for
all its exercises; the run never stops on a broken notebook.

Example
-------
>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as tmp:
...     roster = pathlib.Path(tmp) / "roster.csv"
...     _ = roster.write_text("student_id,name\\n01,张伟\\n02,李娜\\n", encoding="utf-8")
...     [(s.student_id, s.name) for s in read_roster(roster)]
[('01', '张伟'), ('02', '李娜')]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import tokenize
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from crm_analysis import config
from crm_analysis._inputs import caller, positive_int_arg
from crm_analysis.reporting import KERNEL_ENV, language_cells
from crm_analysis.safety import atomic_path, check_path_part, write_csv, write_xlsx
from crm_analysis.synth import generate
from crm_analysis.teaching.core import (
    CHECK_MIME,
    EXERCISES,
    LESSONS_DIR,
    STATUSES,
    LessonData,
    answer_from_record,
    judge,
    lesson_data,
    lesson_paths,
    student_version,
)
from crm_analysis.teaching.core import start as start_lesson
from crm_analysis.teaching.sandbox import (
    MODES,
    Limits,
    Sandbox,
    SandboxUnavailable,
    copy_regular_files,
    open_sandbox,
)

__all__ = [
    "DEFAULT_SCALE",
    "GradeResult",
    "Student",
    "add_classroom_parser",
    "grade",
    "main",
    "prepare",
    "read_roster",
    "rehearsal_problems",
    "rehearse",
    "student_seed",
    "submit_answers",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: Size of a student's store relative to a full synthetic store (about 500-600 customers,
#: a few thousand repair orders: big enough for every lesson, small enough to run fast).
DEFAULT_SCALE = 0.04

#: Default time limit per notebook when grading, in seconds.
DEFAULT_TIMEOUT = 600.0

MANIFEST = "classroom.json"
GRADED_DIR = "_graded"

#: Grade statuses: those of :data:`crm_analysis.teaching.core.STATUSES` plus ``error``
#: (the notebook failed before checking the exercise).
GRADE_STATUSES = (*STATUSES, "error")

_ID_COLUMNS = ("student_id", "id", "student", "学号", "学生编号", "编号")
_NAME_COLUMNS = ("name", "student_name", "姓名", "学生姓名", "名字")
_CHECK_CALL_RE = re.compile(r"""check\(\s*["']([^"']+)["']""")

_README = """\
{name} ({student_id})

English
  Open the lesson notebooks (L1_....ipynb, ...) in Jupyter and work through them.
  Replace each `answer = None  # YOUR ANSWER` with your answer and run the cell:
  teaching.check(...) tells you at once whether it is right, close or wrong, computed
  on YOUR data in the folder `data/` (other students have different data, so their
  numbers will not be right for you). Keep the notebook's name and the `data/` folder
  as they are, save, and hand in the notebook.

中文
  在 Jupyter 中打开课程笔记本（L1_....ipynb 等）并依次完成。
  把每个 `answer = None  # YOUR ANSWER` 中的 None 换成你的答案并运行该单元格：
  teaching.check(...) 会立即告诉你答案正确、接近还是错误，依据的是 `data/` 文件夹中
  你自己的数据（每位同学的数据都不同，别人的数字对你并不正确）。请不要修改笔记本的
  文件名和 `data/` 文件夹，保存后提交笔记本。
"""


# --------------------------------------------------------------------------- roster


@dataclass(frozen=True)
class Student:
    """One row of the roster.

    Example
    -------
    >>> Student("007", "张伟")
    Student(student_id='007', name='张伟')
    """

    student_id: str
    name: str


def read_roster(path: str | os.PathLike[str]) -> list[Student]:
    """Read a roster CSV: columns ``student_id`` and ``name`` (Chinese headers 学号, 姓名
    also accepted).

    Encoding UTF-8 (with or without BOM), else GB18030 (what Excel saves in China).
    Student ids stay strings (``"007"``), are stripped, must be unique and usable as
    folder names (:func:`crm_analysis.safety.check_path_part`: letters and digits of
    any script, ``_ . -``, at most 64 characters, starting with a letter or digit). Names may be any
    text (Chinese names welcome); they reach the grade sheets as text, never as a
    formula. Blank lines are skipped. Raises ``ValueError`` naming the roster file, the
    line and the problem.

    Example
    -------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp) / "r.csv"
    ...     _ = p.write_bytes("学号,姓名\\r\\n007,王芳\\r\\n".encode("gb18030"))
    ...     read_roster(p)
    [Student(student_id='007', name='王芳')]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{caller()}: roster not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{caller()}: roster {path}: not UTF-8 or GB18030 text") from exc
    header = text.splitlines()[0] if text.strip() else ""
    sep = "\t" if "\t" in header else (";" if ";" in header and "," not in header else ",")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep,
                         skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{caller()}: roster {path}: cannot read it as CSV ({exc})") from exc
    columns = {str(c).strip().lower(): c for c in df.columns}
    id_col = next((columns[c] for c in _ID_COLUMNS if c in columns), None)
    name_col = next((columns[c] for c in _NAME_COLUMNS if c in columns), None)
    if id_col is None:
        raise ValueError(f"{caller()}: roster {path}: no student_id column (columns: "
                         f"{', '.join(map(str, df.columns))}); expected student_id,name")
    ids = df[id_col].astype(str).str.strip().tolist()
    names = (df[name_col].astype(str).str.strip().tolist() if name_col is not None
             else [""] * len(ids))
    students: list[Student] = []
    seen: set[str] = set()
    for line, (sid, name) in enumerate(zip(ids, names, strict=True), start=2):
        if not sid and not name:
            continue
        where = f"{caller()}: roster {path}, line {line}"
        if not sid:
            raise ValueError(f"{where}: empty student_id (name {name!r})")
        check_path_part(sid, "student_id", where=where)
        if sid in seen:
            raise ValueError(f"{where}: duplicate student_id {sid!r}")
        seen.add(sid)
        students.append(Student(sid, name))
    if not students:
        raise ValueError(f"{caller()}: roster {path}: no students")
    return students


def student_seed(seed: int, student_id: str) -> int:
    """The data seed of a student: SHA-256 of the class seed and the student id (32 bits).

    Deterministic across runs, machines and Python versions (unlike ``hash()``).

    Example
    -------
    >>> student_seed(2026, "001") == student_seed(2026, "001")
    True
    >>> student_seed(2026, "001") != student_seed(2026, "002") != student_seed(7, "002")
    True
    >>> student_seed(2026, "张伟")
    2951441939
    """
    digest = hashlib.sha256(f"crm-classroom\x1f{int(seed)}\x1f{student_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


# --------------------------------------------------------------------------- prepare


def _read_lesson(path: Path) -> Any:
    import nbformat

    if path.suffix == ".ipynb":
        return nbformat.read(path, as_version=4)
    import jupytext

    return jupytext.read(path)


def _py_literal(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _comment_of(line: str) -> str:
    try:
        for tok in tokenize.generate_tokens(io.StringIO(line).readline):
            if tok.type == tokenize.COMMENT:
                return tok.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return ""


def _parameters_cell(nb: Any) -> Any:
    return next((c for c in nb.cells if c.cell_type == "code"
                 and "parameters" in (c.metadata.get("tags") or [])), None)


def set_parameters(nb: Any, values: dict[str, Any]) -> Any:
    """Set assignments in the notebook's ``parameters`` cell, in place; return ``nb``.

    ``name = old  # comment`` becomes ``name = new  # comment``; a name not assigned in
    the cell is appended; a notebook without a parameters cell gets one at the top.

    Example
    -------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
    ...     'data_dir = "data/sample"   # str: the data\\nlang = "en"',
    ...     metadata={"tags": ["parameters"]})])
    >>> print(set_parameters(nb, {"data_dir": "data", "solutions": False}).cells[0].source)
    data_dir = "data"  # str: the data
    lang = "en"
    solutions = False
    """
    import nbformat

    cell = _parameters_cell(nb)
    if cell is None:
        cell = nbformat.v4.new_code_cell("", metadata={"tags": ["parameters"]})
        nb.cells.insert(0, cell)
    lines = cell.source.splitlines()
    done: set[str] = set()
    for i, line in enumerate(lines):
        m = re.match(r"^([A-Za-z_]\w*)\s*=", line)
        if m and m.group(1) in values:
            name = m.group(1)
            comment = _comment_of(line)
            lines[i] = f"{name} = {_py_literal(values[name])}" + (f"  {comment}" if comment else "")
            done.add(name)
    lines += [f"{k} = {_py_literal(v)}" for k, v in values.items() if k not in done]
    cell.source = "\n".join(lines)
    return nb


def _lesson_defaults(nb: Any) -> dict[str, Any]:
    """Literal values of the parameters cell (names -> Python values; others skipped)."""
    import ast

    cell = _parameters_cell(nb)
    out: dict[str, Any] = {}
    if cell is None:
        return out
    try:
        tree = ast.parse(cell.source)
    except SyntaxError:
        return out
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
            node.targets[0], ast.Name
        ):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return out


def _exercise_ids(nb: Any, lesson: str) -> list[str]:
    """The lesson's exercises: ids passed to check() in the notebook that are registered,
    in notebook order; else the registered exercises of the lesson."""
    in_notebook: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            in_notebook += _CHECK_CALL_RE.findall(cell.source)
    in_notebook = list(dict.fromkeys(in_notebook))
    registered = [k for k, ex in EXERCISES.items() if ex.lesson == lesson]
    ids = [i for i in in_notebook if i in EXERCISES] if registered else in_notebook
    return ids or registered


def prepare(
    roster: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    lessons: Iterable[str] | str | None = None,
    lessons_dir: str | os.PathLike[str] | None = None,
    seed: int = config.DEFAULT_SEED,
    lang: str = "en",
    scale: float = DEFAULT_SCALE,
    force: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Give every student of ``roster`` their own small store and the student lessons.

    Parameters
    ----------
    roster:
        CSV with ``student_id,name`` (see :func:`read_roster`).
    out:
        The class folder (see the module docs for its layout).
    lessons:
        Lesson ids (``["L1", "L2"]`` or ``"L1,L2"``); ``None`` means every lesson in
        ``lessons_dir`` (default ``notebooks/lessons``).
    seed:
        Class seed; each student's data seed is :func:`student_seed` ``(seed, id)``.
    lang:
        Language of the class (``"en"`` or ``"zh"``): the lessons keep the Markdown cells
        tagged ``lang-<lang>`` and lose the other language's
        (:func:`crm_analysis.reporting.language_cells`), and their ``lang`` parameter
        is set to it (a student who changes it changes the narration of the numbers).
    scale:
        Store size passed to :func:`crm_analysis.synth.generate` (one store).
    force:
        Overwrite a class folder that already has a ``classroom.json`` (students' work
        in it is lost); without it that is a ``FileExistsError``.

    Returns the manifest written to ``classroom.json``.

    Example
    -------
    >>> manifest = prepare("roster.csv", "class_2026", lessons="L1")  # doctest: +SKIP
    >>> [s["student_id"] for s in manifest["students"]]  # doctest: +SKIP
    ['001', '002', '003']
    """
    if lang not in config.LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(config.LANGUAGES)}, got {lang!r}")
    if not (isinstance(scale, int | float) and scale > 0):
        raise ValueError(f"scale must be > 0, got {scale!r}")
    students = read_roster(roster)
    paths = lesson_paths(lessons, lessons_dir)
    if not paths:
        where = lessons_dir or LESSONS_DIR
        raise ValueError(f"no lesson notebooks (L<n>_<title>.ipynb) in {where}")
    out = Path(out)
    if (out / MANIFEST).exists() and not force:
        raise FileExistsError(f"{out} already holds a class ({MANIFEST}); use force=True "
                              "(--force) to overwrite it and the students' work")
    import copy

    import nbformat

    lesson_info: dict[str, dict[str, Any]] = {}
    notebooks: dict[str, Any] = {}
    for lesson, path in paths.items():
        # the notebook's name becomes a file name in every student's folder
        check_path_part(f"{path.stem}.ipynb", "lesson notebook name",
                        where=f"{caller()}: {path}")
        nb = _read_lesson(path)
        ids = _exercise_ids(nb, lesson)
        defaults = _lesson_defaults(nb)
        # one language per copy: the student reads the lesson once, not twice
        student_nb = language_cells(student_version(nb), lang)
        student_nb.metadata.setdefault("kernelspec", {
            "name": "python3", "display_name": "Python 3", "language": "python"})
        student_nb.metadata["crm_analysis"] = {"lesson": lesson}
        nbformat.validate(student_nb)
        notebooks[lesson] = student_nb
        lesson_info[lesson] = {
            "notebook": f"{path.stem}.ipynb",
            "source": str(path.resolve()),
            "exercises": ids,
            "points": {i: EXERCISES[i].points if i in EXERCISES else 1.0 for i in ids},
            "titles": {i: dict(EXERCISES[i].title) if i in EXERCISES else {"en": i, "zh": i}
                       for i in ids},
            # re-injected when grading, so that a student cannot point at other data
            "fixed_parameters": {k: defaults[k] for k in ("as_of", "store_id")
                                 if k in defaults},
        }
    seeds: dict[str, int] = {}
    used: set[int] = set()
    for st in students:
        s, k = student_seed(seed, st.student_id), 0
        while s in used:  # two ids hashing to the same 32 bits: never share data
            k += 1
            s = student_seed(seed, f"{st.student_id}#{k}")
        used.add(s)
        seeds[st.student_id] = s
    out.mkdir(parents=True, exist_ok=True)
    for n, st in enumerate(students, start=1):
        folder = out / st.student_id
        if progress:
            print(f"[{n}/{len(students)}] {st.student_id} {st.name}: data seed "
                  f"{seeds[st.student_id]}", file=sys.stderr)
        data_dir = folder / "data"
        shutil.rmtree(data_dir, ignore_errors=True)
        generate(n_stores=1, seed=seeds[st.student_id], scale=scale).to_dir(data_dir)
        for lesson, nb in notebooks.items():
            mine = copy.deepcopy(nb)
            set_parameters(mine, {"data_dir": "data", "lang": lang, "solutions": False})
            mine.metadata["crm_analysis"]["student_id"] = st.student_id
            nbformat.write(mine, folder / lesson_info[lesson]["notebook"])
        (folder / "README.txt").write_text(
            _README.format(name=st.name or st.student_id, student_id=st.student_id),
            encoding="utf-8")
    roster_copy = out / "roster.csv"
    if Path(roster).resolve() != roster_copy.resolve():
        shutil.copyfile(roster, roster_copy)
    manifest = {
        "version": 1,
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "seed": int(seed),
        "scale": float(scale),
        "lang": lang,
        "lessons": lesson_info,
        "students": [{"student_id": st.student_id, "name": st.name,
                      "seed": seeds[st.student_id], "folder": st.student_id}
                     for st in students],
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                encoding="utf-8")
    return manifest


# --------------------------------------------------------------------------- grade


@dataclass
class GradeResult:
    """What :func:`grade` computed and wrote.

    ``grades``: one row per student and exercise (``student_id, name, lesson, exercise,
    score, points, status, note``); ``summary``: one row per exercise (students right,
    close, wrong, missing, error, mean score), most often wrong first; ``students``:
    totals per student; ``notebooks``: one row per student and lesson (``ok``,
    ``error``, ``timeout`` or ``missing``, the error, seconds, the sandbox mode).
    ``sandbox`` is the mode the notebooks ran in (``bwrap`` or ``process``) and
    ``warnings`` what the grader warned about (the weaker sandbox). ``exit_code`` is 1
    when a submitted notebook failed or timed out, else 0.

    Example
    -------
    >>> GradeResult(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(),
    ...             pd.DataFrame({"status": ["ok", "missing"]})).exit_code
    0
    """

    grades: pd.DataFrame
    summary: pd.DataFrame
    students: pd.DataFrame
    notebooks: pd.DataFrame
    paths: dict[str, Path] = field(default_factory=dict)
    sandbox: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """0 when every submitted notebook ran, 1 when one failed or timed out."""
        if len(self.notebooks) and self.notebooks["status"].isin(["error", "timeout"]).any():
            return EXIT_FAILED
        return EXIT_OK


#: Largest submitted notebook the grader reads (bytes); a bigger one fails to grade.
MAX_NOTEBOOK_BYTES = 50 * 2**20


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{caller()}: {folder} is not a class folder: no {MANIFEST} "
                                "(made by `crm-analysis classroom prepare`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{caller()}: {path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise ValueError(f"{caller()}: {path}: not a class manifest")
    # ids become folder names: checked before any folder is read or made
    for n, st in enumerate(manifest.get("students") or [], start=1):
        where = f"{caller()}: {path}, student {n}"
        if not isinstance(st, dict):
            raise ValueError(f"{where}: not a student entry")
        check_path_part(st.get("student_id"), "student_id", where=where)
        check_path_part(st.get("folder") or st["student_id"], "folder", where=where)
    for lesson, info in (manifest.get("lessons") or {}).items():
        where = f"{caller()}: {path}, lesson {lesson!r}"
        check_path_part(str(info.get("notebook", "")), "notebook", where=where)
    return manifest


def _submitted(folder: Path, lesson: str, name: str) -> Path | None:
    """The student's notebook for ``lesson``: ``name``, else another ``<lesson>_*.ipynb``
    (a link is returned as found: :func:`_read_submission` refuses it)."""
    exact = folder / name
    if exact.is_file() or exact.is_symlink():
        return exact
    others = sorted(p for p in folder.glob(f"{lesson}_*.ipynb")
                    if p.is_file() or p.is_symlink())
    return others[0] if others else None


def _read_submission(path: Path) -> dict[str, Any]:
    """A submitted notebook as a JSON dict: a regular file (a symbolic link is refused:
    it could point at another student's work or a file of the grader's), at most
    :data:`MAX_NOTEBOOK_BYTES`, valid JSON with a list of cells. ``ValueError`` else."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if path.is_symlink():
            raise ValueError("the notebook is a symbolic link, not a file") from exc
        raise ValueError(f"cannot open the notebook ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("the notebook is not a regular file")
        if info.st_size > MAX_NOTEBOOK_BYTES:
            raise ValueError(f"the notebook is too big ({info.st_size} bytes)")
        raw = f.read(MAX_NOTEBOOK_BYTES + 1)
    try:
        nb = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"the notebook is not valid JSON ({exc})") from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("the notebook has no cells")
    if nb.get("nbformat") != 4:
        import nbformat

        try:
            nb = json.loads(nbformat.writes(nbformat.reads(json.dumps(nb), as_version=4)))
        except Exception as exc:  # noqa: BLE001 - an unreadable notebook scores zero
            raise ValueError(f"the notebook cannot be read ({exc})") from exc
    return nb


def _run_submission(box: Sandbox, task: dict[str, Any]) -> dict[str, Any]:
    """Run one submitted notebook in the sandbox; the executed copy goes to ``_graded/``."""
    start = time.perf_counter()
    out = Path(task["output"])
    result: dict[str, Any] = {"status": "ok", "error": "", "cell": None, "notebook": None}
    try:
        nb = _read_submission(Path(task["notebook"]))
    except ValueError as exc:
        result.update(status="error", error=f"not graded: {exc}",
                      seconds=round(time.perf_counter() - start, 2))
        return result
    run = box.run(nb, task["data_dir"], parameters=task["parameters"], name=out.name,
                  limits=task["limits"], kernel_name=task["kernel_name"], env=KERNEL_ENV)
    result.update(status=run.status, error=run.error, cell=run.cell, seconds=run.seconds,
                  notebook=run.notebook)
    if run.notebook is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            tmp.write_text(json.dumps(run.notebook, ensure_ascii=False, indent=1) + "\n",
                           encoding="utf-8")
    return result


def _records(nb: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """Every :data:`CHECK_MIME` record of an executed notebook, by exercise, in order.
    What they claim is not trusted: :func:`_judge_records` reads only the answers."""
    found: dict[str, list[dict[str, Any]]] = {}
    for cell in (nb or {}).get("cells") or []:
        if not isinstance(cell, dict):
            continue
        for output in cell.get("outputs") or []:
            data = output.get("data") if isinstance(output, dict) else None
            record = data.get(CHECK_MIME) if isinstance(data, dict) else None
            if isinstance(record, dict) and isinstance(record.get("exercise"), str):
                found.setdefault(record["exercise"], []).append(record)
    return found


class _Recompute:
    """The student's expected answers, computed by the grader on a private copy of the
    student's data (one :class:`LessonData` per lesson and language)."""

    def __init__(self, data_dir: Path, fixed: dict[str, dict[str, Any]], lang: str) -> None:
        self.data_dir = data_dir
        self.fixed = fixed
        self.lang = lang
        self._data: dict[tuple[str, str], Any] = {}
        self._copy: Path | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def data(self, lesson: str, lang: str) -> LessonData:
        key = (lesson, lang)
        if key not in self._data:
            if self._copy is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="crm-grade-data-")
                self._copy = Path(self._tmp.name) / "data"
                copy_regular_files(self.data_dir, self._copy)
            fixed = self.fixed.get(lesson) or {}
            try:
                self._data[key] = lesson_data(lesson, self._copy, as_of=fixed.get("as_of"),
                                              lang=lang, store_id=fixed.get("store_id") or None)
            except Exception as exc:  # noqa: BLE001 - reported per exercise
                self._data[key] = exc
        value = self._data[key]
        if isinstance(value, Exception):
            raise value
        return value

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def _judge_records(ex_id: str, records: list[dict[str, Any]], points: float,
                   recompute: _Recompute, lesson: str) -> tuple[str, float, str] | None:
    """Status, score and note of an exercise from the notebook's check records: the last
    record with a readable answer, judged by the grader on the student's own data (the
    status and score a record claims are ignored). ``None`` when no record has an
    answer."""
    readable = []
    for record in records:
        try:
            answer = answer_from_record(ex_id, record.get("answer"))
        except (ValueError, KeyError):
            continue
        readable.append((answer, record))
    ignored = len(records) - len(readable)
    if not readable:
        return None
    answer, record = readable[-1]
    lang = record.get("lang") if record.get("lang") in config.LANGUAGES else recompute.lang
    try:
        data = recompute.data(lesson, lang)
        fb = judge(ex_id, answer, data=data, recorded=True)
    except Exception as exc:  # noqa: BLE001 - a grader-side failure is an error, not a zero
        return "error", 0.0, f"the grader could not judge the answer: {type(exc).__name__}: {exc}"
    score = {"right": points, "close": points / 2}.get(fb.status, 0.0)
    note = fb.message if fb.status in ("close", "wrong") else ""
    if ignored:
        note = (note + " " if note else "") + f"({ignored} check record(s) without an " \
            "answer ignored)"
    return fb.status, float(score), note


def grade(
    folder: str | os.PathLike[str],
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    out: str | os.PathLike[str] | None = None,
    jobs: int = 1,
    kernel_name: str = "python3",
    progress: bool = False,
    sandbox: str = "auto",
    memory_mb: int = Limits.memory_mb,
) -> GradeResult:
    """Execute every submitted lesson notebook of a class folder and write the grades.

    For each student of ``classroom.json`` and each lesson, ``<student_id>/<lesson
    notebook>.ipynb`` (or another ``<lesson>_*.ipynb`` in the student's folder) runs in
    the grading sandbox (:mod:`crm_analysis.teaching.sandbox`: a private copy of the
    notebook and of the student's data, as an unprivileged user, without network and
    without a view of the class folder, with a memory and a wall-clock limit) with the
    data folder, the lesson's analysis date and store and ``solutions=False`` injected;
    the executed copy goes to ``_graded/<student_id>/``. ``sandbox`` is ``"auto"``
    (bubblewrap when it works here, else the weaker ``"process"`` mode, announced on
    stderr, in :attr:`GradeResult.warnings` and in the notebooks sheet), ``"bwrap"``
    (bubblewrap or :class:`~crm_analysis.teaching.sandbox.SandboxUnavailable`) or
    ``"process"``.

    Each exercise is graded by the grader itself: it reads the answer of the last
    :func:`~crm_analysis.teaching.check` record of the exercise in the outputs and
    compares it with the expected answer it computes on the student's own data (the
    verdict shown in the notebook is never trusted: a forged record scores nothing).
    ``timeout`` limits each notebook (seconds; ``None``: no limit), ``memory_mb`` the
    address space of each of its processes; ``jobs`` notebooks run at once.

    Writes ``out`` (default ``<folder>/grades.xlsx``), and beside it ``<stem>.csv``
    (the grades) and ``<stem>_summary.csv`` (the class summary), UTF-8 with BOM so
    that Excel shows Chinese names, formula-safe (:mod:`crm_analysis.safety`). Returns
    a :class:`GradeResult`.

    Example
    -------
    >>> result = grade("class_2026", timeout=300)  # doctest: +SKIP
    >>> result.summary[["exercise", "wrong"]].head(1)  # doctest: +SKIP
      exercise  wrong
    0     L1.4      7
    """
    folder = Path(folder)
    manifest = _read_manifest(folder)
    if timeout is not None and timeout <= 0:
        raise ValueError(f"{caller()}: timeout must be positive (seconds) or None, "
                         f"got {timeout}")
    if jobs < 1:
        raise ValueError(f"{caller()}: jobs must be >= 1, got {jobs}")
    if not (isinstance(memory_mb, int) and memory_mb >= 256):
        raise ValueError(f"{caller()}: memory_mb must be an int >= 256, got {memory_mb!r}")
    if sandbox not in MODES:
        raise ValueError(f"{caller()}: sandbox must be one of {', '.join(MODES)}, "
                         f"got {sandbox!r}")
    xlsx = Path(out) if out is not None else folder / "grades.xlsx"
    if xlsx.suffix.lower() != ".xlsx":
        raise ValueError(f"{caller()}: --out must end with .xlsx: {xlsx}")
    lessons: dict[str, dict[str, Any]] = manifest.get("lessons") or {}
    students: list[dict[str, Any]] = manifest.get("students") or []
    limits = Limits(timeout=timeout, memory_mb=memory_mb)

    tasks: list[tuple[dict[str, Any], str, Path | None, dict[str, Any]]] = []
    for st in students:
        sid = str(st["student_id"])
        sfolder = folder / str(st.get("folder") or sid)
        usable = sfolder.is_dir() and not sfolder.is_symlink()
        for lesson, info in lessons.items():
            nb = _submitted(sfolder, lesson, info["notebook"]) if usable else None
            params = dict(info.get("fixed_parameters") or {})
            params.update(solutions=False)
            task = {
                "notebook": str(nb) if nb else None,
                "output": str(folder / GRADED_DIR / sid / info["notebook"]),
                "data_dir": str(sfolder / "data"),
                "parameters": params,
                "limits": limits,
                "kernel_name": kernel_name,
            }
            tasks.append((st, lesson, nb, task))

    runs: dict[int, dict[str, Any]] = {}
    todo = [i for i, (_, _, nb, _) in enumerate(tasks) if nb is not None]
    with open_sandbox(sandbox, hide=[folder]) as box:
        warnings = (box.warning,) if box.warning else ()
        for w in warnings:
            print(f"WARNING: {w}", file=sys.stderr)

        def run(i: int) -> None:
            try:
                runs[i] = _run_submission(box, tasks[i][3])
            except Exception as exc:  # noqa: BLE001 - one notebook never stops the run
                runs[i] = {"status": "error", "error": f"the grader failed on this "
                           f"notebook: {type(exc).__name__}: {exc}", "cell": None,
                           "seconds": 0.0, "notebook": None}
            if progress:
                st, lesson, _, _ = tasks[i]
                r = runs[i]
                print(f"{st['student_id']} {lesson}: {r['status']} ({r['seconds']:.1f} s)"
                      + (f" {r['error']}" if r["error"] else ""), file=sys.stderr)

        if jobs == 1 or len(todo) <= 1:
            for i in todo:
                run(i)
        else:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                list(pool.map(run, todo))

    grade_rows: list[dict[str, Any]] = []
    nb_rows: list[dict[str, Any]] = []
    fixed = {lesson: dict(info.get("fixed_parameters") or {})
             for lesson, info in lessons.items()}
    class_lang = manifest.get("lang") if manifest.get("lang") in config.LANGUAGES else "en"
    recomputes: dict[str, _Recompute] = {}
    try:
        for i, (st, lesson, nb, task) in enumerate(tasks):
            info = lessons[lesson]
            sid, name = str(st["student_id"]), str(st.get("name") or "")
            recompute = recomputes.setdefault(
                sid, _Recompute(Path(task["data_dir"]), fixed, class_lang))
            run = runs.get(i)
            if run is None:
                nb_status, error, checks = "missing", "no notebook submitted", {}
            else:
                nb_status, error = run["status"], run["error"]
                checks = _records(run.get("notebook"))
            nb_rows.append({
                "student_id": sid, "name": name, "lesson": lesson,
                "notebook": nb.name if nb else info["notebook"], "status": nb_status,
                "error": error, "cell": run.get("cell") if run else None,
                "seconds": run.get("seconds") if run else None, "sandbox": box.mode,
            })
            for ex_id in info["exercises"]:
                points = float(info.get("points", {}).get(ex_id, 1.0))
                judged = None
                if ex_id not in EXERCISES and checks.get(ex_id):
                    judged = ("error", 0.0, f"exercise {ex_id} is not registered in the "
                              "grader (import its lesson module)")
                elif checks.get(ex_id):
                    judged = _judge_records(ex_id, checks[ex_id], points, recompute, lesson)
                if judged is not None:
                    status, score, note = judged
                elif nb_status == "missing":
                    status, score, note = "missing", 0.0, "no notebook submitted"
                elif nb_status in ("error", "timeout"):
                    status, score, note = "error", 0.0, f"notebook failed: {error}"
                elif checks.get(ex_id):
                    status, score, note = ("missing", 0.0, "check record(s) without an "
                                           "answer ignored (not made by teaching.check)")
                else:
                    status, score, note = "missing", 0.0, "not checked in the notebook"
                grade_rows.append({
                    "student_id": sid, "name": name, "lesson": lesson, "exercise": ex_id,
                    "score": score, "points": points, "status": status, "note": note,
                })
    finally:
        for r in recomputes.values():
            r.close()

    grades = pd.DataFrame(grade_rows, columns=["student_id", "name", "lesson", "exercise",
                                               "score", "points", "status", "note"])
    notebooks = pd.DataFrame(nb_rows, columns=["student_id", "name", "lesson", "notebook",
                                               "status", "error", "cell", "seconds",
                                               "sandbox"])
    summary = _summary(grades, lessons, manifest.get("lang", "en"))
    totals = _student_totals(grades, notebooks, students)
    paths = _write(grades, summary, totals, notebooks, xlsx)
    return GradeResult(grades=grades, summary=summary, students=totals, notebooks=notebooks,
                       paths=paths, sandbox=box.mode, warnings=warnings)


def _summary(grades: pd.DataFrame, lessons: dict[str, Any], lang: str) -> pd.DataFrame:
    rows = []
    order = 0
    for lesson, info in lessons.items():
        for ex_id in info["exercises"]:
            g = grades[grades["exercise"] == ex_id]
            counts = g["status"].value_counts()
            title = (info.get("titles", {}).get(ex_id) or {})
            rows.append({
                "lesson": lesson, "exercise": ex_id,
                "title": title.get(lang) or title.get("en") or ex_id,
                "students": len(g),
                **{s: int(counts.get(s, 0)) for s in GRADE_STATUSES},
                "mean_score": round(float(g["score"].mean()), 4) if len(g) else 0.0,
                "points": float(info.get("points", {}).get(ex_id, 1.0)),
                "_order": order,
            })
            order += 1
    columns = ["lesson", "exercise", "title", "students", *GRADE_STATUSES, "mean_score",
               "points"]
    if not rows:
        return pd.DataFrame(columns=columns)
    df = pd.DataFrame(rows)
    df["_not_done"] = df["missing"] + df["error"]
    df = df.sort_values(["wrong", "close", "_not_done", "mean_score", "_order"],
                        ascending=[False, False, False, True, True], kind="stable")
    return df[columns].reset_index(drop=True)


def _student_totals(grades: pd.DataFrame, notebooks: pd.DataFrame,
                    students: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for st in students:
        sid = str(st["student_id"])
        g = grades[grades["student_id"] == sid]
        nb = notebooks[notebooks["student_id"] == sid]
        rows.append({
            "student_id": sid, "name": str(st.get("name") or ""),
            "score": float(g["score"].sum()), "points": float(g["points"].sum()),
            "right": int((g["status"] == "right").sum()),
            "notebooks_ok": int((nb["status"] == "ok").sum()),
            "notebooks_failed": int(nb["status"].isin(["error", "timeout"]).sum()),
            "notebooks_missing": int((nb["status"] == "missing").sum()),
        })
    return pd.DataFrame(rows, columns=["student_id", "name", "score", "points", "right",
                                       "notebooks_ok", "notebooks_failed",
                                       "notebooks_missing"])


def _write(grades: pd.DataFrame, summary: pd.DataFrame, totals: pd.DataFrame,
           notebooks: pd.DataFrame, xlsx: Path) -> dict[str, Path]:
    """The grade sheets, formula-safe (a roster name like ``=HYPERLINK(...)`` stays text)
    and written atomically."""
    xlsx.parent.mkdir(parents=True, exist_ok=True)
    csv = xlsx.with_suffix(".csv")
    summary_csv = xlsx.with_name(f"{xlsx.stem}_summary.csv")
    write_xlsx({"grades": grades, "summary": summary, "students": totals,
                "notebooks": notebooks}, xlsx, max_width=60)
    write_csv(grades, csv)
    write_csv(summary, summary_csv)
    return {"xlsx": xlsx, "csv": csv, "summary_csv": summary_csv}


# --------------------------------------------------------------------------- command line

_EPILOG = """\
exit codes:
  0  success (prepare: every student's folder written; grade: every submitted
     notebook ran -- students who submitted nothing score 0 and do not change it)
  1  grade: some submitted notebooks failed or timed out (they score what they
     checked before the error; everything else is graded and written)
  2  usage error: missing or malformed roster (a student_id that cannot be a folder
     name), unknown lesson, bad option, a class folder without classroom.json,
     prepare into an existing class without --force, --sandbox bwrap where
     bubblewrap cannot run
"""

_PREPARE_DESCRIPTION = """\
Prepare a class: for each student of the roster (CSV with columns student_id,name;
UTF-8 or GBK; Chinese names are fine) generate a small synthetic 4S store with the
student's own seed (derived from --seed and the student id) and write the student
versions of the lessons (no solution cells) with their parameters already pointing
at that data:

  OUT/classroom.json              manifest (students, seeds, lessons, exercises)
  OUT/roster.csv                  copy of the roster
  OUT/<student_id>/data/          the student's data
  OUT/<student_id>/L1_....ipynb   the lessons to fill in
  OUT/<student_id>/README.txt     instructions (English and Chinese)

Every student gets different numbers for the same exercises: teaching.check() in the
notebook judges answers against the student's own data.
"""

_GRADE_DESCRIPTION = """\
Grade a class: run every submitted notebook DIR/<student_id>/L*.ipynb in the grading
sandbox (--sandbox: bwrap = a private copy as user nobody, no network, no view of the
class folder or the roster, memory and time limits, every process killed at the end;
process = the weaker fallback, announced, when bubblewrap cannot run), with the
student's data, analysis date and store re-injected; a failing notebook never stops the
run. The grader judges the answers the notebook's teaching.check() calls recorded on
the student's own data (the verdicts a notebook shows are not trusted) and writes

  grades.xlsx          sheets grades (student, exercise, score, status),
                       summary (per exercise: right / close / wrong / missing /
                       error, mean score; most often wrong first), students
                       (totals) and notebooks (run status, error, seconds, sandbox)
  grades.csv           the grades sheet (UTF-8 with BOM: opens in Excel)
  grades_summary.csv   the class summary
  _graded/<student_id>/   the executed notebooks, for review

A notebook that raises scores what it checked before the error and 0 ("error") for
the rest; a student without a notebook scores 0 ("missing").
"""


# --------------------------------------------------------------------------- rehearsal

#: The exercise cell's placeholder line that a student replaces with an answer.
ANSWER_LINE = "answer = None  # YOUR ANSWER"
_CHECK_CALL = re.compile(r"teaching\.check\(['\"]([^'\"]+)['\"]")

#: The rehearsal class: five students, Chinese and pinyin names, and what each submits.
REHEARSAL_ROSTER = (("S01", "张伟", "right"), ("S02", "李娜", "right"),
                    ("S03", "Wang Fang", "wrong"), ("S04", "刘洋", "raises"),
                    ("S05", "陈静", "nothing"))


def _answer_source(value: Any) -> str:
    """An expected answer written as Python source a student could type."""
    if isinstance(value, pd.Series):
        return repr({str(k): float(v) for k, v in value.items()})
    if isinstance(value, set | frozenset | list | tuple):
        return repr(sorted(value, key=str))
    return repr(value.item() if hasattr(value, "item") else value)


def _wrong_source(value: Any) -> str:
    """A plausible but wrong answer of the same kind."""
    if isinstance(value, pd.Series):
        return repr({"nothing": 1.0})
    if isinstance(value, set | frozenset | list | tuple):
        return "['nobody']"
    if isinstance(value, str):
        return "'no idea'"
    return repr(float(value) * 3 + 7)


def submit_answers(path: str | os.PathLike[str], answers: dict[str, str]) -> int:
    """Write answers into a student notebook as a student would: each exercise cell's
    ``answer = None  # YOUR ANSWER`` line becomes ``answer = <source>``.

    ``answers`` maps exercise ids to Python source; returns how many cells were filled.

    Example
    -------
    >>> import nbformat, tempfile, pathlib
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
    ...     'answer = None  # YOUR ANSWER\\nteaching.check("L1.1", answer)')])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "L1.ipynb"
    ...     nbformat.write(nb, path)
    ...     n = submit_answers(path, {"L1.1": "42"})
    ...     print(n, nbformat.read(path, as_version=4).cells[0].source.splitlines()[0])
    1 answer = 42
    """
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    filled = 0
    for cell in nb.cells:
        m = _CHECK_CALL.search(cell.source)
        if cell.cell_type == "code" and m and ANSWER_LINE in cell.source and (
                m.group(1) in answers):
            cell.source = cell.source.replace(ANSWER_LINE, f"answer = {answers[m.group(1)]}")
            filled += 1
    nbformat.write(nb, str(path))
    return filled


def rehearse(out: str | os.PathLike[str], *, lessons: Sequence[str] | None = ("L1",),
             seed: int = config.DEFAULT_SEED, lang: str = "en", jobs: int = 1,
             timeout: float = DEFAULT_TIMEOUT, force: bool = False,
             progress: bool = False, sandbox: str = "auto") -> GradeResult:
    """A dry run of a class before the real one: five simulated students from
    :data:`REHEARSAL_ROSTER` (roster written to ``out/roster.csv``), :func:`prepare`, then
    submissions as each student's plan says -- two right answers (computed from their own
    data), one wrong answers, one notebook that raises in its first cell, one nothing --
    and :func:`grade` (in the ``sandbox`` mode). The grade sheet must say exactly that.

    Example
    -------
    >>> result = rehearse("rehearsal", lessons=["L1"])  # doctest: +SKIP
    >>> result.students[["student_id", "score"]]  # doctest: +SKIP
    """
    import nbformat

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    roster = out / "roster.csv"
    roster.write_text("student_id,name\n" + "".join(
        f"{sid},{name}\n" for sid, name, _ in REHEARSAL_ROSTER), encoding="utf-8")
    klass = out / "class"
    manifest = prepare(roster, klass, lessons=lessons, seed=seed, lang=lang, force=force,
                       progress=progress)
    for sid, _, plan in REHEARSAL_ROSTER:
        for lesson, info in manifest["lessons"].items():
            path = klass / sid / info["notebook"]
            if plan == "nothing":
                path.unlink()
            elif plan == "raises":
                nb = nbformat.read(str(path), as_version=4)
                at = next(i for i, c in enumerate(nb.cells)
                          if "parameters" in c.metadata.get("tags", []))
                nb.cells.insert(at + 1, nbformat.v4.new_code_cell(
                    "raise RuntimeError('a simulated broken notebook')"))
                nbformat.write(nb, str(path))
            else:
                data = start_lesson(lesson, klass / sid / "data", lang=lang)
                write = _answer_source if plan == "right" else _wrong_source
                submit_answers(path, {i: write(data.expected(i)) for i in info["exercises"]})
    return grade(klass, timeout=timeout, jobs=jobs, progress=progress, sandbox=sandbox)


def _lesson_list(text: str) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise argparse.ArgumentTypeError("give lesson ids like L1,L2")
    return items


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def add_classroom_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``classroom`` command (``prepare``, ``grade``) to an argparse sub-parsers.

    Every sub-command sets ``func(args) -> exit code`` (see the epilog for the codes).

    Example
    -------
    >>> parser = argparse.ArgumentParser(prog="crm-analysis")
    >>> _ = add_classroom_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["classroom", "grade", "class1", "--timeout", "60"])
    >>> args.classroom_command, str(args.folder), args.timeout
    ('grade', 'class1', 60.0)
    """
    fmt = argparse.RawDescriptionHelpFormatter
    classroom = subparsers.add_parser(
        "classroom",
        help="prepare per-student lessons and data, grade submitted notebooks",
        description="Classroom pack: `prepare` gives each student of a roster their own\n"
        "small store and the student versions of the lessons; `grade` runs the submitted\n"
        "notebooks and writes a grade sheet.",
        epilog=_EPILOG,
        formatter_class=fmt,
    )
    sub = classroom.add_subparsers(dest="classroom_command", metavar="SUBCOMMAND")

    def no_subcommand(args: argparse.Namespace) -> int:
        classroom.print_help(sys.stderr)
        return EXIT_USAGE

    classroom.set_defaults(func=no_subcommand)

    p = sub.add_parser("prepare", help="per-student data and student lessons",
                       description=_PREPARE_DESCRIPTION, epilog=_EPILOG, formatter_class=fmt)
    p.add_argument("--roster", required=True, type=Path,
                   help="CSV with columns student_id,name (UTF-8 or GBK)")
    p.add_argument("--out", required=True, type=Path, help="the class folder to write")
    p.add_argument("--lessons", type=_lesson_list, default=None,
                   help="comma-separated lesson ids, e.g. L1,L2 (default: all lessons)")
    p.add_argument("--seed", type=int, default=config.DEFAULT_SEED,
                   help=f"class seed; each student's data seed is derived from it and the "
                   f"student id (default {config.DEFAULT_SEED})")
    p.add_argument("--lang", choices=config.LANGUAGES, default="en",
                   help="language of the lessons: the other language's text cells are "
                   "left out (default en)")
    p.add_argument("--scale", type=_positive_float, default=DEFAULT_SCALE,
                   help=f"size of each student's store relative to a full synthetic store "
                   f"(default {DEFAULT_SCALE}: about 500 customers)")
    p.add_argument("--lessons-dir", type=Path, default=None,
                   help="folder of the lesson notebooks (default notebooks/lessons)")
    p.add_argument("--force", action="store_true",
                   help="overwrite an existing class folder (students' work is lost)")
    p.set_defaults(func=_cmd_prepare)

    g = sub.add_parser("grade", help="run submitted notebooks and write the grade sheet",
                       description=_GRADE_DESCRIPTION, epilog=_EPILOG, formatter_class=fmt)
    g.add_argument("folder", type=Path, help="the class folder (made by prepare)")
    g.add_argument("--timeout", type=_positive_float, default=DEFAULT_TIMEOUT,
                   help=f"time limit per notebook in seconds (default {DEFAULT_TIMEOUT:g})")
    g.add_argument("--out", type=Path, default=None,
                   help="grade sheet .xlsx (default DIR/grades.xlsx; the CSVs go beside it)")
    g.add_argument("--jobs", type=positive_int_arg, default=1,
                   help="notebooks run at once (default 1)")
    g.add_argument("--sandbox", choices=MODES, default="auto",
                   help="how the notebooks run: bwrap (bubblewrap: private copy, user "
                   "nobody, no network, no view of the class folder), process (weaker: "
                   "private copy and limits, but the grader's user rights), auto (bwrap "
                   "when it works here, else process with a warning; default)")
    g.add_argument("--memory", type=positive_int_arg, default=Limits.memory_mb,
                   metavar="MB", help="address-space limit of each notebook process in MB "
                   f"(default {Limits.memory_mb})")
    g.add_argument("--quiet", action="store_true", help="no progress lines")
    g.set_defaults(func=_cmd_grade)

    r = sub.add_parser("rehearse", help="dry run: prepare, simulate five students, grade",
                       description="A dry run before class: a roster of five simulated "
                       "students (two answer right,\none wrong, one notebook raises, one "
                       "submits nothing), prepare, submit, grade.\nThe grade sheet in "
                       "OUT/class/ must say exactly that.",
                       epilog=_EPILOG, formatter_class=fmt)
    r.add_argument("--out", required=True, type=Path, help="folder for the rehearsal")
    r.add_argument("--lessons", type=_lesson_list, default=["L1"],
                   help="comma-separated lesson ids (default L1)")
    r.add_argument("--lang", choices=config.LANGUAGES, default="en")
    r.add_argument("--jobs", type=positive_int_arg, default=1,
                   help="notebooks graded at once (default 1)")
    r.add_argument("--force", action="store_true", help="overwrite an earlier rehearsal")
    r.add_argument("--sandbox", choices=MODES, default="auto",
                   help="how the notebooks run (see `classroom grade --help`; default auto)")
    r.set_defaults(func=_cmd_rehearse)
    return classroom


def _cmd_rehearse(args: argparse.Namespace) -> int:
    try:
        result = rehearse(args.out, lessons=args.lessons, lang=args.lang, jobs=args.jobs,
                          force=args.force, progress=True, sandbox=args.sandbox)
    except (ValueError, FileNotFoundError, FileExistsError, SandboxUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    totals = result.grades.groupby(["student_id", "name"], sort=True)["score"].sum()
    status = result.grades.groupby("student_id")["status"].agg(
        lambda s: ", ".join(f"{k} {v}" for k, v in s.value_counts().sort_index().items()))
    print(f"rehearsal graded; grade sheet: {result.paths['xlsx']}")
    for (sid, name), score in totals.items():
        print(f"  {sid} {name}: score {score:g} ({status[sid]})")
    problems = rehearsal_problems(result)
    for p in problems:
        print(f"MISMATCH {p}", file=sys.stderr)
    print("the grade sheet says what each simulated student did" if not problems else
          f"{len(problems)} grade(s) differ from the simulated students' plan")
    return EXIT_FAILED if problems else EXIT_OK


def rehearsal_problems(result: GradeResult) -> list[str]:
    """Where a rehearsal's grade sheet differs from :data:`REHEARSAL_ROSTER`'s plan
    (right -> every exercise right, wrong -> wrong, raises -> error, nothing -> missing);
    an empty list when it says exactly what each simulated student did.

    Example
    -------
    >>> g = pd.DataFrame({"student_id": ["S01", "S05"], "exercise": ["L1.1", "L1.1"],
    ...                   "status": ["right", "wrong"]})
    >>> rehearsal_problems(GradeResult(g, pd.DataFrame(), pd.DataFrame(), pd.DataFrame()))
    ['S05 L1.1: wrong, expected missing']
    """
    want = {"right": "right", "wrong": "wrong", "raises": "error", "nothing": "missing"}
    plan = {sid: want[p] for sid, _, p in REHEARSAL_ROSTER}
    return [f"{r.student_id} {r.exercise}: {r.status}, expected {plan[r.student_id]}"
            for r in result.grades.itertuples()
            if r.student_id in plan and r.status != plan[r.student_id]]


def _cmd_prepare(args: argparse.Namespace) -> int:
    try:
        manifest = prepare(args.roster, args.out, lessons=args.lessons,
                           lessons_dir=args.lessons_dir, seed=args.seed, lang=args.lang,
                           scale=args.scale, force=args.force, progress=True)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    n_ex = sum(len(v["exercises"]) for v in manifest["lessons"].values())
    print(f"prepared {len(manifest['students'])} students, lessons "
          f"{', '.join(manifest['lessons'])} ({n_ex} exercises) in {args.out}")
    return EXIT_OK


def _cmd_grade(args: argparse.Namespace) -> int:
    try:
        result = grade(args.folder, timeout=args.timeout, out=args.out, jobs=args.jobs,
                       progress=not args.quiet, sandbox=args.sandbox, memory_mb=args.memory)
    except (ValueError, FileNotFoundError, SandboxUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    nb = result.notebooks
    print(f"graded {nb['student_id'].nunique()} students: {int((nb['status'] == 'ok').sum())} "
          f"notebooks ran, {int(nb['status'].isin(['error', 'timeout']).sum())} failed, "
          f"{int((nb['status'] == 'missing').sum())} missing; grade sheet: "
          f"{result.paths['xlsx']}")
    for row in nb[nb["status"].isin(["error", "timeout"])].itertuples():
        print(f"FAILED {row.student_id} {row.lesson}: {row.error}", file=sys.stderr)
    return result.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m crm_analysis.teaching.classroom prepare|grade ...``; returns the exit code.

    Example
    -------
    >>> main(["grade", "/nonexistent/class"])  # prints the error on stderr
    2
    """
    parser = argparse.ArgumentParser(prog="crm-analysis")
    add_classroom_parser(parser.add_subparsers(dest="command"))
    try:
        args = parser.parse_args(["classroom", *(argv if argv is not None else sys.argv[1:])])
    except SystemExit as exc:  # --help exits 0, bad usage 2
        return int(exc.code or 0)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

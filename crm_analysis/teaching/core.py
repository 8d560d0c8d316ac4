"""Exercises with immediate feedback for the classroom lessons.

A lesson notebook calls :func:`start` once (it loads the student's own data), then, for
each exercise, :func:`check` with the student's answer. ``check`` compares the answer
with the exercise's ``expected`` function computed on *that student's* data, shows a
short coloured line (right / close / wrong with a hint, in the lesson's language) and
leaves a machine-readable record (mime type :data:`CHECK_MIME`) in the notebook's
output. The record carries the *answer* (:func:`answer_record`): ``crm-analysis
classroom grade`` reads it back and judges it again itself (:func:`judge`), so the
verdict a notebook displays -- easy to forge -- never counts.

Exercises are registered with the :func:`exercise` decorator in
``crm_analysis/teaching/lessons/lN.py``; :data:`EXERCISES` maps their ids to
:class:`Exercise` objects.

Example
-------
>>> from crm_analysis.schema import example_dataset
>>> import pandas as pd
>>> @exercise("DOC.1", title={"en": "Number of orders", "zh": "工单数"},
...           hint={"en": "len() of the orders table", "zh": "工单表的行数"})
... def _orders(data):
...     return len(data.dataset.repair_orders)
>>> data = LessonData(example_dataset(), "001", as_of=pd.Timestamp("2024-06-30"), lang="en")
>>> check("DOC.1", 5, data=data).status
✔ DOC.1 — right, well done.
'right'
>>> check("DOC.1", "5", data=data).status  # doctest: +ELLIPSIS
✘ DOC.1 — not right: expected a number (like 0.25 or 1234), but your answer is a str. Hint: ...
'wrong'
>>> del EXERCISES["DOC.1"]
"""

from __future__ import annotations

import decimal
import difflib
import html
import math
import numbers
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from crm_analysis import config
from crm_analysis._inputs import caller, read_as_of
from crm_analysis.context import load_data, open_store
from crm_analysis.i18n import t

if TYPE_CHECKING:
    import nbformat

    from crm_analysis.schema import Dataset

__all__ = [
    "CHECK_MIME",
    "EXERCISES",
    "KINDS",
    "STATUSES",
    "Exercise",
    "Feedback",
    "LessonData",
    "RECORD_VERSION",
    "answer_from_record",
    "answer_record",
    "check",
    "current",
    "exercise",
    "judge",
    "lesson_data",
    "lesson_paths",
    "start",
    "student_version",
]

#: Mime type of the record :func:`check` leaves in a notebook's output.
CHECK_MIME = "application/vnd.crm-analysis.check+json"

#: Kinds of answers :func:`check` knows how to compare.
KINDS = ("number", "text", "set", "series")

#: Statuses of a :class:`Feedback` (grading adds ``"error"`` for a notebook that failed
#: before the exercise was checked).
STATUSES = ("right", "close", "wrong", "missing")

#: Where the lesson notebooks live in a source checkout.
LESSONS_DIR = config.NOTEBOOKS_DIR / "lessons"

#: Share of a set that must match (Jaccard: shared / all distinct items) for "close".
SET_CLOSE_OVERLAP = 0.8

_LANGS = ("en", "zh")
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*\.[A-Za-z0-9_.-]+$")
_LESSON_FILE_RE = re.compile(r"^([A-Za-z]+\d+)_.*\.(ipynb|py)$")


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class LessonData:
    """What :func:`start` loads and every exercise's ``expected`` receives.

    Attributes
    ----------
    dataset:
        The student's data: a :class:`~crm_analysis.schema.Dataset` holding the chosen
        store (the whole dataset when it has a single store, else ``for_store``).
    store_id:
        The store code (a string).
    as_of:
        The analysis date T.
    lang:
        ``"en"`` or ``"zh"``: the language of the feedback.
    lesson:
        The lesson id given to :func:`start` (``"L1"``), ``""`` when built by hand.

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> d = LessonData(example_dataset(), "001", as_of=pd.Timestamp("2024-06-30"), lang="zh")
    >>> d.store_id, d.lang
    ('001', 'zh')
    """

    dataset: Dataset
    store_id: str
    as_of: pd.Timestamp = field(kw_only=True)
    lang: str = "en"
    lesson: str = ""
    _expected: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "as_of", read_as_of(self.as_of, where="LessonData"))

    def expected(self, exercise_id: str) -> Any:
        """The expected answer of an exercise on this data (computed once, then cached).

        Example
        -------
        >>> from crm_analysis.schema import example_dataset
        >>> @exercise("DOC.2", title="Stores", hint="len(stores)")
        ... def _stores(data):
        ...     return len(data.dataset.stores)
        >>> data = LessonData(example_dataset(), "001", as_of=pd.Timestamp("2024-06-30"))
        >>> data.expected("DOC.2")
        2
        >>> del EXERCISES["DOC.2"]
        """
        if exercise_id not in self._expected:
            self._expected[exercise_id] = _get(exercise_id).expected(self)
        return self._expected[exercise_id]


@dataclass(frozen=True)
class Exercise:
    """One exercise of a lesson: how to compute its right answer and how to compare.

    ``expected(data)`` computes the right answer from the student's own
    :class:`LessonData`. ``kind`` says how answers are compared (see :func:`check`):
    ``"number"``, ``"text"``, ``"set"`` or ``"series"`` (a pandas Series or a dict,
    compared key by key). A number is right when ``|answer - expected| <=
    max(abs_tol, rel_tol * |expected|)`` and close within ``close_factor`` times that
    tolerance; a set is close when at least 80% of it matches. ``hint`` is shown when the
    answer is wrong or close; ``points`` is the score of a right answer (half for close).

    Example
    -------
    >>> ex = Exercise("L0.1", "L0", {"en": "Two", "zh": "二"}, lambda data: 2)
    >>> ex.kind, ex.points, ex.hint["en"]
    ('number', 1.0, '')
    """

    id: str
    lesson: str
    title: dict[str, str]
    expected: Callable[[LessonData], Any]
    kind: str = "number"
    rel_tol: float = 1e-6
    abs_tol: float = 1e-9
    close_factor: float = 10.0
    hint: dict[str, str] = field(default_factory=lambda: {"en": "", "zh": ""})
    points: float = 1.0

    def in_lang(self, what: str, lang: str) -> str:
        """The title or hint (``what``) in ``lang`` (English when no translation).

        Example
        -------
        >>> Exercise("L0.1", "L0", {"en": "Two", "zh": "二"}, lambda d: 2).in_lang("title", "zh")
        '二'
        """
        texts = getattr(self, what)
        return texts.get(lang) or texts.get("en") or ""


#: Every registered exercise by id (``"L1.3"``), in registration order.
EXERCISES: dict[str, Exercise] = {}


def _bilingual(value: str | Mapping[str, str] | None, name: str) -> dict[str, str]:
    if value is None:
        return {"en": "", "zh": ""}
    if isinstance(value, str):
        return {"en": value, "zh": value}
    if isinstance(value, Mapping):
        unknown = set(value) - set(_LANGS)
        if unknown:
            raise ValueError(f"{name}: unknown language(s) {sorted(unknown)}; use 'en', 'zh'")
        en = str(value.get("en") or value.get("zh") or "")
        return {"en": en, "zh": str(value.get("zh") or en)}
    raise TypeError(f"{name} must be a str or a dict {{'en': ..., 'zh': ...}}")


def exercise(
    id: str,
    *,
    title: str | Mapping[str, str],
    hint: str | Mapping[str, str] | None = None,
    kind: str = "number",
    rel_tol: float = 1e-6,
    abs_tol: float = 1e-9,
    close_factor: float = 10.0,
    points: float = 1.0,
) -> Callable[[Callable[[LessonData], Any]], Callable[[LessonData], Any]]:
    """Decorator registering ``expected(data: LessonData) -> answer`` as exercise ``id``.

    The lesson is the part of ``id`` before the first dot (``"L1.3"`` -> ``"L1"``).
    ``title`` and ``hint`` are ``{"en": ..., "zh": ...}`` (a plain string is used for
    both languages). Registering an id twice raises ``ValueError``, except when the
    same function is registered again (a module reloaded). The function is returned
    unchanged.

    Example
    -------
    >>> @exercise("DOC.3", title={"en": "Share", "zh": "占比"}, hint="a share", rel_tol=1e-3)
    ... def _share(data):
    ...     return 0.25
    >>> EXERCISES["DOC.3"].lesson, EXERCISES["DOC.3"].rel_tol
    ('DOC', 0.001)
    >>> exercise("DOC.3", title="again")(lambda data: 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: exercise 'DOC.3' is already registered (by ...core._share)
    >>> del EXERCISES["DOC.3"]
    """
    if not isinstance(id, str) or not _ID_RE.match(id):
        raise ValueError(f"exercise id must look like 'L1.3', got {id!r}")
    if kind not in KINDS:
        raise ValueError(f"exercise {id}: unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    for name, value in (("rel_tol", rel_tol), ("abs_tol", abs_tol), ("points", points)):
        if not (isinstance(value, numbers.Real) and value >= 0):
            raise ValueError(f"exercise {id}: {name} must be a number >= 0, got {value!r}")
    if not (isinstance(close_factor, numbers.Real) and close_factor >= 1):
        raise ValueError(f"exercise {id}: close_factor must be >= 1, got {close_factor!r}")
    titles = _bilingual(title, f"exercise {id}: title")
    hints = _bilingual(hint, f"exercise {id}: hint")

    def register(func: Callable[[LessonData], Any]) -> Callable[[LessonData], Any]:
        if not callable(func):
            raise TypeError(f"exercise {id}: expected a function, got {func!r}")
        old = EXERCISES.get(id)
        if old is not None and _qualname(old.expected) != _qualname(func):
            raise ValueError(
                f"exercise {id!r} is already registered (by {_qualname(old.expected)})"
            )
        EXERCISES[id] = Exercise(
            id=id, lesson=id.split(".", 1)[0], title=titles, expected=func, kind=kind,
            rel_tol=float(rel_tol), abs_tol=float(abs_tol),
            close_factor=float(close_factor), hint=hints, points=float(points),
        )
        return func

    return register


def _qualname(func: Any) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


def _get(exercise_id: str) -> Exercise:
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        lesson = str(exercise_id).split(".", 1)[0]
        same = [k for k in EXERCISES if k.split(".", 1)[0] == lesson]
        valid = ", ".join(same or EXERCISES) or "(none registered)"
        raise KeyError(f"unknown exercise {exercise_id!r}; known: {valid}") from None


# --------------------------------------------------------------------------- lesson context

_CURRENT: LessonData | None = None


def start(
    lesson: str,
    data_dir: str | os.PathLike[str] | None,
    *,
    as_of: Any = None,
    lang: str = "en",
    store_id: str | None = None,
) -> LessonData:
    """Load the student's data, make it the current lesson context and return it.

    ``data_dir`` is a dataset folder or raw DMS exports (read with
    :func:`crm_analysis.context.load_data`; ``None`` means ``data/sample``).
    ``store_id`` ``None`` (or ``""``) takes the first store of the data; ``as_of``
    ``None`` takes the export date recorded in the data, else the last order's date.
    Later :func:`check` calls without ``data=`` use this context.

    Example
    -------
    >>> import tempfile
    >>> from crm_analysis.schema import example_dataset
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = example_dataset().to_dir(tmp)
    ...     data = start("L1", tmp, lang="zh")
    >>> data.store_id, str(data.as_of.date()), data.lang, current() is data
    ('001', '2024-06-30', 'zh', True)
    """
    global _CURRENT
    as_of = None if as_of is None else read_as_of(as_of)
    _CURRENT = lesson_data(lesson, data_dir, as_of=as_of, lang=lang, store_id=store_id)
    return _CURRENT


def lesson_data(
    lesson: str,
    data_dir: str | os.PathLike[str] | None,
    *,
    as_of: Any = None,
    lang: str = "en",
    store_id: str | None = None,
) -> LessonData:
    """The :class:`LessonData` :func:`start` would load, without making it the current
    context: what the grader uses to recompute a student's expected answers.

    Example
    -------
    >>> import tempfile
    >>> from crm_analysis.schema import example_dataset
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = example_dataset().to_dir(tmp)
    ...     data = lesson_data("L1", tmp, lang="en")
    >>> data.store_id, data.lesson
    ('001', 'L1')
    """
    as_of = None if as_of is None else read_as_of(as_of)
    if lang not in _LANGS:
        raise ValueError(f"{caller()}: lang must be 'en' or 'zh', got {lang!r}")
    if data_dir is not None:
        # a relative folder is read from the working folder, else from the project folder
        # (a lesson opened in notebooks/lessons/ still finds the default data/sample)
        path = Path(data_dir)
        if not path.is_absolute() and not path.exists() and (
                config.PROJECT_ROOT / path).exists():
            data_dir = config.PROJECT_ROOT / path
    dataset = load_data(data_dir, as_of=as_of).dataset
    if not dataset.store_ids:
        raise ValueError(f"{caller()}: no store in the data at {data_dir}")
    sid = str(store_id) if store_id not in (None, "") else dataset.store_ids[0]
    ctx = open_store(dataset, store_id=sid, as_of=as_of)
    data = ctx.dataset if len(dataset.store_ids) == 1 else ctx.data
    return LessonData(dataset=data, store_id=ctx.store_id, as_of=ctx.as_of, lang=lang,
                      lesson=str(lesson))


def current() -> LessonData | None:
    """The lesson context set by the last :func:`start` (``None`` before).

    Example
    -------
    >>> isinstance(current(), (LessonData, type(None)))
    True
    """
    return _CURRENT


# --------------------------------------------------------------------------- feedback


@dataclass(frozen=True)
class Feedback:
    """The result of :func:`check`.

    ``status`` is ``"right"``, ``"close"``, ``"wrong"`` or ``"missing"`` (no answer
    yet); ``score`` is the exercise's points when right, half when close, else 0;
    ``message`` is the line shown to the student, in the lesson's language.

    Example
    -------
    >>> fb = Feedback("L1.1", "close", 0.5, "≈ L1.1 close")
    >>> fb.right, str(fb)
    (False, '≈ L1.1 close')
    """

    exercise: str
    status: str
    score: float
    message: str

    @property
    def right(self) -> bool:
        """True when the answer is right."""
        return self.status == "right"

    def __str__(self) -> str:
        return self.message

    def _repr_html_(self) -> str:
        return _html(self)

    def _ipython_display_(self) -> None:
        # check() has already shown this feedback in the running cell: a cell ending with
        # ``teaching.check(...)`` must not show it twice.
        shell = _shell()
        if shell is not None and _SHOWN.get(id(self)) == shell.execution_count:
            return
        from IPython.display import display

        display({"text/plain": self.message, "text/html": _html(self)}, raw=True)


#: id(Feedback) -> execution count of the cell where check() displayed it.
_SHOWN: dict[int, int] = {}

_STYLE = {
    "right": ("#1a7f37", "#e9f7ec", "✔"),
    "close": ("#9a6700", "#fff8e1", "≈"),
    "wrong": ("#cf222e", "#fdecec", "✘"),
    "missing": ("#57606a", "#f3f4f6", "…"),
}


def _html(fb: Feedback) -> str:
    color, bg, _ = _STYLE.get(fb.status, _STYLE["missing"])
    return (
        f'<div style="border-left:4px solid {color};background:{bg};color:#1f2328;'
        f'padding:4px 10px;margin:2px 0;font-family:sans-serif">'
        f"{html.escape(fb.message)}</div>"
    )


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    return get_ipython()


_TEXT = {
    "right": ("right, well done.", "正确，做得好。"),
    "close": ("close, but not exact: {detail}", "接近，但不完全正确：{detail}"),
    "wrong": ("not right: {detail}", "不正确：{detail}"),
    "missing": ("no answer yet: replace None in `answer = None` with your answer.",
                "尚未作答：把 `answer = None` 中的 None 换成你的答案。"),
    "hint": (" Hint: {hint}", "提示：{hint}"),
    "type.number": ("a number (like 0.25 or 1234)", "一个数字（例如 0.25 或 1234）"),
    "type.text": ("a text string (in quotes)", "一个字符串（加引号）"),
    "type.set": ("a list or set of items (like a list of customer ids)",
                 "一个列表或集合（例如客户编号列表）"),
    "type.series": ("a pandas Series or a dict (key -> value)",
                    "一个 pandas Series 或字典（键 -> 值）"),
    "wrong_type": ("expected {kind}, but your answer is a {got}.",
                   "应为{kind}，但你的答案是 {got} 类型。"),
    "not_comparable": ("your answer could not be compared ({error}); expected {kind}.",
                       "无法比较你的答案（{error}）；应为{kind}。"),
    "not_finite": ("your answer is not a finite number (NaN or infinite).",
                   "你的答案不是有限的数字（NaN 或无穷大）。"),
    "off": ("you are off by {rel:.2g}: do not round, and check the exact date window.",
            "相差 {rel:.2g}：不要四舍五入，并核对日期范围。"),
    "off_relative": ("you are off by {rel:.2g} (relative): do not round, and check the exact "
                     "date window.", "相差 {rel:.2g}（相对）：不要四舍五入，并核对日期范围。"),
    "percentage": ("it looks like a percentage: give a share between 0 and 1 (25% -> 0.25).",
                   "看起来是百分数：请给出 0 到 1 之间的比例（25% -> 0.25）。"),
    "share": ("it looks like a share: give a percentage (0.25 -> 25).",
              "看起来是比例：请给出百分数（0.25 -> 25）。"),
    "too_high": ("your answer is too high.", "你的答案偏高。"),
    "too_low": ("your answer is too low.", "你的答案偏低。"),
    "spelling": ("check the spelling.", "请检查拼写。"),
    "not_expected": ("this is not the expected answer.", "这不是预期的答案。"),
    "items": ("{shared} of the {n} expected items are in your answer, {extra} of yours "
              "should not be there.",
              "预期的 {n} 项中有 {shared} 项在你的答案里，你的答案中有 {extra} 项不应出现。"),
    "item_types": (" The items should be of type {expected}, yours are {got}.",
                   " 各项应为 {expected} 类型，你的是 {got}。"),
    "keys_missing": ("{n} key(s) missing (e.g. {name})", "缺少 {n} 个键（例如 {name}）"),
    "keys_extra": ("{n} unexpected key(s) (e.g. {name})", "多出 {n} 个键（例如 {name}）"),
    "keys": ("{parts}.", "{parts}。"),
    "keys_sep": ("; ", "；"),
    "not_a_number": ("the value for {name} should be a number.", "{name} 的值应为数字。"),
    "values_off": ("{n_off} of {n} values are off (for example {name}).",
                   "{n} 个值中有 {n_off} 个不对（例如 {name}）。"),
}


class _WrongType(Exception):
    """The answer is not of a type the exercise's kind can compare."""


def check(exercise_id: str, answer: Any, *, data: LessonData | None = None) -> Feedback:
    """Compare ``answer`` with the exercise's expected answer on the student's data.

    ``data`` defaults to the context of the last :func:`start`. ``answer=None`` means
    not answered yet (``"missing"``, score 0). Comparison by the exercise's ``kind``:

    - ``number``: right within ``max(abs_tol, rel_tol*|expected|)``, close within
      ``close_factor`` times that; numpy / pandas scalars and one-element arrays are
      numbers; a percentage given for a share (25 for 0.25) gets a hint saying so.
    - ``text``: compared ignoring case, surrounding spaces and ``_``/``-``/space
      differences; close when nearly the same spelling. ``expected`` may return several
      acceptable strings (a list, tuple or set).
    - ``set``: any list, tuple, set, array, Series or Index, order ignored; close when
      at least 80% of the distinct items are shared.
    - ``series``: a Series or dict compared key by key (keys compared as text, so
      ``1`` and ``"1"`` match); numeric values as numbers, others as text.

    An answer of the wrong type is ``"wrong"`` with a hint about the expected type; it
    never raises. The feedback is shown as a coloured line in a notebook (printed
    elsewhere) together with a record under :data:`CHECK_MIME` (``version``,
    ``exercise``, ``lesson``, ``status``, ``score``, ``points``, ``lang`` and the
    ``answer`` in the form of :func:`answer_record`) for grading; the grader uses only
    the answer and the language.

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> @exercise("DOC.4", title="Orders", hint={"en": "count rows", "zh": "数行数"})
    ... def _n(data):
    ...     return len(data.dataset.repair_orders)
    >>> data = LessonData(example_dataset(), "001", as_of=pd.Timestamp("2024-06-30"), lang="en")
    >>> check("DOC.4", None, data=data).status
    … DOC.4 — no answer yet: replace None in `answer = None` with your answer.
    'missing'
    >>> fb = check("DOC.4", 7, data=data)
    ✘ DOC.4 — not right: your answer is too high. Hint: count rows
    >>> fb.status, fb.score
    ('wrong', 0.0)
    >>> del EXERCISES["DOC.4"]
    """
    ex = _get(exercise_id)
    if data is None:
        data = _CURRENT
    if data is None:
        raise RuntimeError("no lesson data: call teaching.start(lesson, data_dir) first")
    fb = judge(ex.id, answer, data=data)
    _show(fb, ex, data, answer)
    return fb


def judge(exercise_id: str, answer: Any, *, data: LessonData,
          recorded: bool = False) -> Feedback:
    """The :class:`Feedback` of :func:`check` without showing anything: ``answer``
    compared with the exercise's expected answer computed on ``data``.

    This is what the grader calls, outside the student's kernel, on each answer read
    back from a notebook with :func:`answer_from_record` (``recorded=True``: the
    expected items of a set or series exercise are put in the same recorded form, so
    that the verdict is the one :func:`check` gave): the verdict a notebook shows is
    never trusted, it is recomputed.

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> @exercise("DOC.5", title="Orders", hint="count rows")
    ... def _n(data):
    ...     return len(data.dataset.repair_orders)
    >>> data = LessonData(example_dataset(), "001", as_of=pd.Timestamp("2024-06-30"))
    >>> judge("DOC.5", 5, data=data).status, judge("DOC.5", "5", data=data).status
    ('right', 'wrong')
    >>> del EXERCISES["DOC.5"]
    """
    ex = _get(exercise_id)
    lang = data.lang if data.lang in _LANGS else "en"
    if answer is None:
        status, detail = "missing", ""
    else:
        expected = data.expected(exercise_id)
        if recorded and ex.kind in ("set", "series"):
            expected = _answer_value(answer_record(ex.id, expected))
        try:
            if isinstance(answer, _Unreadable) and answer.error:
                raise _NotComparable(answer.error)
            status, detail = _compare(ex, answer, expected, lang)
        except _LessonBug as exc:
            raise TypeError(str(exc)) from None
        except _WrongType:
            got = answer.type_name if isinstance(answer, _Unreadable) else type(answer).__name__
            status = "wrong"
            detail = t("wrong_type", lang, labels=_TEXT, got=got,
                       kind=t(f"type.{ex.kind}", lang, labels=_TEXT))
        except Exception as exc:  # noqa: BLE001 - feedback must never raise on an answer
            error = str(exc) if isinstance(exc, _NotComparable) else type(exc).__name__
            status = "wrong"
            detail = t("not_comparable", lang, labels=_TEXT, error=error,
                       kind=t(f"type.{ex.kind}", lang, labels=_TEXT))
    score = {"right": ex.points, "close": ex.points / 2}.get(status, 0.0)
    message = f"{_STYLE[status][2]} {ex.id} — " + t(status, lang, labels=_TEXT, detail=detail)
    if status in ("close", "wrong") and ex.in_lang("hint", lang):
        message += t("hint", lang, labels=_TEXT, hint=ex.in_lang("hint", lang))
    return Feedback(exercise=ex.id, status=status, score=float(score), message=message)


def _show(fb: Feedback, ex: Exercise, data: LessonData, answer: Any) -> None:
    shell = _shell()
    if shell is None:
        print(fb.message)
        return
    from IPython.display import display

    # status and score are for the reader of the notebook; the grader ignores them and
    # recomputes the verdict from the answer (a record is easy to forge)
    record = {"version": RECORD_VERSION, "exercise": fb.exercise, "lesson": ex.lesson,
              "status": fb.status, "score": fb.score, "points": ex.points,
              "lang": data.lang, "answer": answer_record(ex.id, answer)}
    display({"text/plain": fb.message, "text/html": _html(fb), CHECK_MIME: record}, raw=True)
    if len(_SHOWN) > 1000:
        _SHOWN.clear()
    _SHOWN[id(fb)] = shell.execution_count


# --------------------------------------------------------------------------- answer records

#: Version of the :data:`CHECK_MIME` record: 2 carries the answer itself.
RECORD_VERSION = 2

#: The most items (of a set) or keys (of a series) a record carries; a bigger answer is
#: recorded as unreadable (and graded wrong).
MAX_RECORD_ITEMS = 100_000

_NON_FINITE = ("nan", "inf", "-inf")


class _NotComparable(Exception):
    """An answer recorded as not comparable (the error's name is the message)."""


class _Unreadable:
    """An answer a record could not carry in a comparable form (its type name kept)."""

    __slots__ = ("error", "type_name")

    def __init__(self, type_name: str, error: str = "") -> None:
        self.type_name = type_name
        self.error = error

    def __repr__(self) -> str:
        return f"<unreadable {self.type_name}{' ' + self.error if self.error else ''}>"


class _Opaque:
    """An item or value that is not a plain scalar: equal only to the same type and text,
    shown as its text (what the comparisons of sets and series use for such values)."""

    __slots__ = ("text", "type_name")

    def __init__(self, type_name: str, text: str) -> None:
        self.type_name = type_name
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Opaque) and (self.type_name, self.text) == (
            other.type_name, other.text)

    def __hash__(self) -> int:
        return hash((self.type_name, self.text))

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<{self.type_name} {self.text!r}>"


def _scalar_json(x: Any) -> Any:
    if x is None or isinstance(x, bool | str | int):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else {"float": repr(x)}
    return {"other": type(x).__name__, "text": str(x)[:1000]}


def _scalar_value(v: Any) -> Any:
    if v is None or isinstance(v, bool | str | int | float):
        return v
    if isinstance(v, dict) and set(v) == {"float"} and v["float"] in _NON_FINITE:
        return float(v["float"])
    if isinstance(v, dict) and set(v) == {"other", "text"}:
        return _Opaque(str(v["other"]), str(v["text"]))
    raise ValueError(f"not a recorded value: {v!r:.80}")


def answer_record(exercise_id: str, answer: Any) -> dict[str, Any]:
    """The JSON form of an answer that :func:`check` writes into its record: the answer
    as the exercise's kind compares it (a number, a text, a list of items, key/value
    pairs), or ``{"unreadable": <type>}`` when it is not of that kind.

    :func:`answer_from_record` reads it back; :func:`judge` on the result gives the
    same verdict as :func:`check` gave on the original answer.

    Example
    -------
    >>> @exercise("DOC.6", title="Share")
    ... def _share(data):
    ...     return 0.25
    >>> import numpy as np
    >>> answer_record("DOC.6", np.float64(0.25)), answer_record("DOC.6", "0.25")
    ({'number': 0.25}, {'unreadable': 'str'})
    >>> answer_from_record("DOC.6", {"number": 0.25})
    0.25
    >>> del EXERCISES["DOC.6"]
    """
    ex = _get(exercise_id)
    if answer is None:
        return {"none": True}
    try:
        if ex.kind == "number":
            value = _as_number(answer)
            return {"number": value if math.isfinite(value) else repr(value)}
        if ex.kind == "text":
            if hasattr(answer, "item") and not isinstance(answer, str):
                try:
                    answer = answer.item()
                except (ValueError, TypeError, AttributeError):
                    pass
            if not isinstance(answer, str):
                raise _WrongType
            return {"text": answer}
        if ex.kind == "set":
            items = _as_items(answer)
            if len(items) > MAX_RECORD_ITEMS:
                return {"unreadable": type(answer).__name__, "error": "too many items"}
            return {"items": [_scalar_json(x) for x in items]}
        mapping = _as_mapping(answer)
        if len(mapping) > MAX_RECORD_ITEMS:
            return {"unreadable": type(answer).__name__, "error": "too many items"}
        return {"mapping": [[k, _scalar_json(v)] for k, v in mapping.items()]}
    except _WrongType:
        return {"unreadable": type(answer).__name__}
    except Exception as exc:  # noqa: BLE001 - a record must never raise on an answer
        return {"unreadable": type(answer).__name__, "error": type(exc).__name__}


def answer_from_record(exercise_id: str, value: Any) -> Any:
    """The answer of an :func:`answer_record` form, to pass to :func:`judge`.

    Raises ``ValueError`` for anything that is not such a form (a record made by hand
    or damaged): the grader then ignores the record.

    Example
    -------
    >>> @exercise("DOC.7", title="Ids", kind="set")
    ... def _ids(data):
    ...     return {"a", "b"}
    >>> answer_from_record("DOC.7", {"items": ["a", "b"]})
    ['a', 'b']
    >>> answer_from_record("DOC.7", {"status": "right"})
    Traceback (most recent call last):
    ...
    ValueError: answer_from_record: exercise DOC.7: not an answer record: {'status': 'right'}
    >>> del EXERCISES["DOC.7"]
    """
    _get(exercise_id)
    try:
        return _answer_value(value)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{caller()}: exercise {exercise_id}: not an answer record: "
                         f"{value!r:.200}") from exc


def _answer_value(value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValueError
    keys = set(value)
    if keys == {"none"} and value["none"] is True:
        return None
    if keys == {"number"}:
        x = value["number"]
        if isinstance(x, str) and x in _NON_FINITE:
            return float(x)
        if isinstance(x, bool) or not isinstance(x, int | float):
            raise ValueError
        return float(x)
    if keys == {"text"} and isinstance(value["text"], str):
        return value["text"]
    if keys == {"items"} and isinstance(value["items"], list) and len(
            value["items"]) <= MAX_RECORD_ITEMS:
        return [_scalar_value(v) for v in value["items"]]
    if keys == {"mapping"} and isinstance(value["mapping"], list) and len(
            value["mapping"]) <= MAX_RECORD_ITEMS:
        out: dict[str, Any] = {}
        for pair in value["mapping"]:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise ValueError
            out[pair[0]] = _scalar_value(pair[1])
        return out
    if keys <= {"unreadable", "error"} and isinstance(value.get("unreadable"), str):
        return _Unreadable(value["unreadable"][:100], str(value.get("error") or "")[:100])
    raise ValueError


# --------------------------------------------------------------------------- comparisons


class _LessonBug(Exception):
    """The exercise's expected() returned something its kind cannot compare."""


def _compare(ex: Exercise, answer: Any, expected: Any, lang: str) -> tuple[str, str]:
    try:
        if ex.kind == "number":
            _as_number(expected)
        elif ex.kind == "set":
            _as_items(expected)
        elif ex.kind == "series":
            _as_mapping(expected)
        elif not isinstance(expected, str) and not isinstance(expected, Iterable):
            raise _WrongType
    except _WrongType:
        raise _LessonBug(f"exercise {ex.id}: expected() returned a {type(expected).__name__}, "
                         f"which a {ex.kind!r} exercise cannot compare") from None
    if ex.kind == "number":
        return _compare_number(ex, answer, expected, lang)
    if ex.kind == "text":
        return _compare_text(answer, expected, lang)
    if ex.kind == "set":
        return _compare_set(answer, expected, lang)
    return _compare_series(ex, answer, expected, lang)


def _as_number(value: Any) -> float:
    """A float from a number-like answer, else raise _WrongType."""
    if isinstance(value, (pd.Series, pd.Index, pd.DataFrame)) or type(value).__name__ == "ndarray":
        if getattr(value, "size", 0) != 1:
            raise _WrongType
        value = value.to_numpy().ravel()[0] if hasattr(value, "to_numpy") else value.ravel()[0]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, TypeError, AttributeError):
            pass
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _WrongType
    return float(value)


def _tolerance(ex: Exercise, expected: float) -> float:
    return max(ex.abs_tol, ex.rel_tol * abs(expected))


def _compare_number(ex: Exercise, answer: Any, expected: Any, lang: str) -> tuple[str, str]:
    a, e = _as_number(answer), float(_as_number(expected))
    if math.isnan(e) and math.isnan(a):
        return "right", ""
    if math.isnan(a) or math.isinf(a):
        return "wrong", t("not_finite", lang, labels=_TEXT)
    tol = _tolerance(ex, e)
    diff = abs(a - e)
    if diff <= tol:
        return "right", ""
    if diff <= ex.close_factor * tol:
        rel = diff / abs(e) if e else diff
        return "close", t("off_relative" if e else "off", lang, labels=_TEXT, rel=rel)
    if e and 0 < abs(e) <= 1 and abs(a - 100 * e) <= 100 * ex.close_factor * tol:
        return "wrong", t("percentage", lang, labels=_TEXT)
    if e and abs(a - e / 100) <= ex.close_factor * tol / 100 and abs(e) > 1:
        return "wrong", t("share", lang, labels=_TEXT)
    return "wrong", t("too_high" if a > e else "too_low", lang, labels=_TEXT)


def _norm_text(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).casefold().strip()
    return re.sub(r"[\s_\-]+", " ", text)


def _compare_text(answer: Any, expected: Any, lang: str) -> tuple[str, str]:
    if hasattr(answer, "item") and not isinstance(answer, str):
        try:
            answer = answer.item()
        except (ValueError, TypeError, AttributeError):
            pass
    if not isinstance(answer, str):
        raise _WrongType
    accepted = [expected] if isinstance(expected, str) else [str(x) for x in expected]
    a = _norm_text(answer)
    targets = [_norm_text(x) for x in accepted]
    if a in targets:
        return "right", ""
    squeeze = re.compile(r"[\W_]+")
    if any(squeeze.sub("", a) == squeeze.sub("", x) for x in targets) or any(
        difflib.SequenceMatcher(None, a, x).ratio() >= 0.8 for x in targets
    ):
        return "close", t("spelling", lang, labels=_TEXT)
    return "wrong", t("not_expected", lang, labels=_TEXT)


def _plain_item(x: Any) -> Any:
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        try:
            x = x.item()
        except (ValueError, TypeError, AttributeError):
            pass
    if isinstance(x, str):
        return x.strip()
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x


def _as_items(value: Any) -> list[Any]:
    if isinstance(value, (str, bytes, Mapping, pd.DataFrame)) or value is None:
        raise _WrongType
    if isinstance(value, (pd.Series, pd.Index)):
        value = value.tolist()
    elif type(value).__name__ == "ndarray":
        value = value.ravel().tolist()
    if not isinstance(value, Iterable):
        raise _WrongType
    return [_plain_item(x) for x in value]


def _compare_set(answer: Any, expected: Any, lang: str) -> tuple[str, str]:
    a_items = _as_items(answer)
    a, e = set(a_items), set(_as_items(expected))
    if a == e:  # order and duplicates do not matter
        return "right", ""
    shared = len(a & e)
    union = len(a | e) or 1
    detail = t("items", lang, labels=_TEXT, shared=shared, n=len(e), extra=len(a - e))
    if shared == 0 and a and e:
        ta = {type(x).__name__ for x in a}
        te = {type(x).__name__ for x in e}
        if ta != te:
            detail += t("item_types", lang, labels=_TEXT, expected=", ".join(sorted(te)),
                        got=", ".join(sorted(ta)))
    if shared / union >= SET_CLOSE_OVERLAP:
        return "close", detail
    return "wrong", detail


def _as_mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, pd.DataFrame):
        if value.shape[1] != 1:
            raise _WrongType
        value = value.iloc[:, 0]
    if isinstance(value, pd.Series):
        items = zip(value.index.tolist(), value.tolist(), strict=True)
    elif isinstance(value, Mapping):
        items = value.items()
    else:
        raise _WrongType
    return {str(_plain_item(k)): _plain_item(v) for k, v in items}


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _compare_series(ex: Exercise, answer: Any, expected: Any, lang: str) -> tuple[str, str]:
    a, e = _as_mapping(answer), _as_mapping(expected)
    missing = [k for k in e if k not in a]
    extra = [k for k in a if k not in e]
    if missing or extra:
        parts = [t(f"keys_{which}", lang, labels=_TEXT, n=len(keys), name=keys[0])
                 for which, keys in (("missing", missing), ("extra", extra)) if keys]
        return "wrong", t("keys", lang, labels=_TEXT,
                          parts=t("keys_sep", lang, labels=_TEXT).join(parts))
    worst, worst_key, n_off, all_close = 0.0, None, 0, True
    for key, ev in e.items():
        av = a[key]
        if _is_number(ev):
            if not _is_number(av):
                return "wrong", t("not_a_number", lang, labels=_TEXT, name=key)
            ev_f, av_f = float(ev), float(av)
            if math.isnan(ev_f) and math.isnan(av_f):
                continue
            tol = _tolerance(ex, ev_f)
            diff = abs(av_f - ev_f) if not math.isnan(av_f) else math.inf
            if diff > tol:
                n_off += 1
                all_close = all_close and diff <= ex.close_factor * tol
                rel = diff / abs(ev_f) if ev_f else diff
                if worst_key is None or rel > worst:
                    worst, worst_key = rel, key
        else:
            same = _norm_text(str(av)) == _norm_text(str(ev)) if av is not None else ev is None
            if not same:
                n_off += 1
                all_close = False
                if worst_key is None:
                    worst_key = key
    if n_off == 0:
        return "right", ""
    detail = t("values_off", lang, labels=_TEXT, n_off=n_off, n=len(e), name=worst_key)
    return ("close" if all_close else "wrong"), detail


# --------------------------------------------------------------------------- notebooks


def student_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of a lesson notebook for students: no cell tagged ``solution``, no outputs.

    Also drops execution counts, papermill metadata and the jupytext pairing (a student
    gets the ``.ipynb`` only). The input notebook is not changed.

    Example
    -------
    >>> import nbformat
    >>> cell = nbformat.v4.new_code_cell
    >>> nb = nbformat.v4.new_notebook(cells=[
    ...     cell("answer = None  # YOUR ANSWER", metadata={"tags": ["exercise"]}),
    ...     cell("if solutions:\\n    answer = 42", metadata={"tags": ["solution"]}),
    ... ])
    >>> [c.source for c in student_version(nb).cells]
    ['answer = None  # YOUR ANSWER']
    >>> len(nb.cells)
    2
    """
    import copy

    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells
                 if "solution" not in (c.get("metadata", {}).get("tags") or [])]
    for cell in out.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        meta = cell.get("metadata", {})
        for key in ("papermill", "execution"):
            meta.pop(key, None)
    for key in ("papermill", "jupytext"):
        out.metadata.pop(key, None)
    return out


def lesson_paths(
    lessons: Iterable[str] | str | None = None,
    lessons_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Path]:
    """The lesson notebooks by lesson id: ``{"L1": Path(".../L1_....py"), ...}``.

    Files are named ``<lesson>_<title>.py`` (the tracked jupytext script; it wins over
    its generated ``.ipynb`` copy) or ``<lesson>_<title>.ipynb`` (used when there is no
    script), in ``lessons_dir`` (default ``notebooks/lessons``), sorted by lesson
    number. ``lessons`` (ids or a comma-separated string) selects some; an unknown id
    raises ``ValueError`` listing the available ones.

    Example
    -------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for name in ("L2_b.ipynb", "L10_c.py", "L1_a.ipynb", "L1_a.py", "notes.md"):
    ...         _ = (pathlib.Path(tmp) / name).write_text("{}")
    ...     {k: p.name for k, p in lesson_paths(lessons_dir=tmp).items()}
    {'L1': 'L1_a.py', 'L2': 'L2_b.ipynb', 'L10': 'L10_c.py'}
    """
    folder = Path(lessons_dir) if lessons_dir is not None else LESSONS_DIR
    found: dict[str, Path] = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            m = _LESSON_FILE_RE.match(path.name)
            if not m or not path.is_file() or path.name.startswith("."):
                continue
            lesson = m.group(1)
            if lesson not in found or (path.suffix == ".py" and found[lesson].suffix != ".py"):
                found[lesson] = path
    order = sorted(found, key=lambda k: (re.sub(r"\d+$", "", k), int(re.sub(r"^\D+", "", k))))
    found = {k: found[k] for k in order}
    if lessons is None:
        return found
    wanted = [s.strip() for s in lessons.split(",")] if isinstance(lessons, str) else list(lessons)
    wanted = [w for w in wanted if w]
    by_upper = {k.upper(): k for k in found}
    unknown = [w for w in wanted if w.upper() not in by_upper]
    if unknown:
        raise ValueError(f"unknown lesson(s) {', '.join(unknown)} in {folder}; "
                         f"available: {', '.join(found) or '(none)'}")
    return {by_upper[w.upper()]: found[by_upper[w.upper()]] for w in dict.fromkeys(wanted)}

"""Teaching pack: lessons with exercises, automatic feedback and classroom grading.

In a lesson notebook::

    from crm_analysis import teaching
    data = teaching.start("L1", data_dir, as_of=as_of, lang=lang)
    answer = ...                      # the student's answer
    teaching.check("L1.3", answer)    # right / close / wrong with a hint, on own data

For the teacher, ``crm-analysis classroom prepare`` gives every student of a roster
their own small store and the student versions of the lessons (no solution cells), and
``crm-analysis classroom grade`` runs the submitted notebooks in a sandbox
(:mod:`crm_analysis.teaching.sandbox`), judges the recorded answers itself and writes a
grade sheet (see :mod:`crm_analysis.teaching.classroom`).

Example
-------
>>> from crm_analysis import teaching
>>> teaching.CHECK_MIME
'application/vnd.crm-analysis.check+json'
>>> sorted(teaching.Feedback.__dataclass_fields__)
['exercise', 'message', 'score', 'status']
"""

from crm_analysis.teaching.core import (
    CHECK_MIME,
    EXERCISES,
    Exercise,
    Feedback,
    LessonData,
    check,
    current,
    exercise,
    lesson_paths,
    start,
    student_version,
)

__all__ = [
    "CHECK_MIME",
    "EXERCISES",
    "Exercise",
    "Feedback",
    "LessonData",
    "check",
    "current",
    "exercise",
    "lesson_paths",
    "start",
    "student_version",
]

from crm_analysis.teaching import lessons  # noqa: E402,F401 - registers the exercises

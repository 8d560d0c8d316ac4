"""Exercise definitions of the classroom lessons L1-L5 (importing registers them).

Each module ``lN.py`` registers the exercises of lesson ``LN`` with
:func:`crm_analysis.teaching.core.exercise`; their ``expected`` functions compute the
right answers from a student's own data and are the grader's truth.

Example
-------
>>> from crm_analysis.teaching import EXERCISES
>>> all(ex.lesson.startswith("L") for ex in EXERCISES.values() if ex.id[:1] == "L")
True
"""

from . import l1, l2, l3, l4, l5  # noqa: F401 - imported for their registrations

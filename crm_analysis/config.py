"""Project paths and analysis defaults.

Paths follow the cookiecutter-data-science layout: raw data is immutable under
``data/``, generated reports go to ``reports/``. Every default here is only a
default: each function takes it as a parameter.

Example
-------
>>> from crm_analysis import config
>>> config.DEFAULT_DATA_DIR.name
'sample'
"""

from __future__ import annotations

import os
from pathlib import Path

#: Root of a source checkout (the folder holding ``pyproject.toml``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Where datasets live; override with the ``CRM_ANALYSIS_DATA`` environment variable.
DATA_DIR = Path(os.environ.get("CRM_ANALYSIS_DATA", PROJECT_ROOT / "data"))

#: The default synthetic dealer group written by ``make reports``.
DEFAULT_DATA_DIR = DATA_DIR / "sample"

#: The notebooks executed by the report runner.
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"

#: Generated reports (git-ignored).
REPORTS_DIR = Path(os.environ.get("CRM_ANALYSIS_REPORTS", PROJECT_ROOT / "reports"))

#: Seed of the default synthetic dataset.
DEFAULT_SEED = 2026

#: Default analysis date of the synthetic data (the end of its observation window).
DEFAULT_AS_OF = "2026-06-30"

#: Languages the notebooks and figures support.
LANGUAGES = ("en", "zh")

#: Environment variable the report runner sets in its kernels (``reporting.KERNEL_ENV``):
#: progress bars (``notebook.progress``) are for people, not for HTML reports.
BATCH_ENV = "CRM_ANALYSIS_BATCH"

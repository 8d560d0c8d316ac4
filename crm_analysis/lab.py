"""JupyterLab for the project's notebooks: ``make lab`` / ``crm-analysis lab``.

Researchers explore the notebooks in JupyterLab and teachers use them in class. This
module starts JupyterLab (installed by the ``lab`` extra) at ``notebooks/`` with the
project's own Python as the ``python3`` kernel, and opens the paired ``.py`` twins as
notebooks on double-click (jupytext's notebook viewer, set in the environment's
JupyterLab settings, never in the user's own).

Notebooks keep their prose in both languages, in Markdown cells tagged ``lang-en`` and
``lang-zh``. ``crm-analysis lab --lang zh`` gives a reader a one-language copy of every
notebook and lesson (in ``reader/zh/``, ignored by git, with ``lang = "zh"`` as the
default parameter) and opens JupyterLab there.

Example
-------
>>> import nbformat.v4 as v4
>>> nb = v4.new_notebook(cells=[
...     v4.new_code_cell('lang = "en"', metadata={"tags": ["parameters"]}),
...     v4.new_markdown_cell("# Hello", metadata={"tags": ["lang-en"]}),
...     v4.new_markdown_cell("# 你好", metadata={"tags": ["lang-zh"]})])
>>> [c.source for c in reader_notebook(nb, "zh").cells]
['lang = "zh"', '# 你好']
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crm_analysis import config
from crm_analysis.context import resolve_data_path
from crm_analysis.reporting import LANGUAGES, language_cells
from crm_analysis.safety import atomic_path, contained

__all__ = ["add_lab_arguments", "lab_command", "main", "notebook_sources", "reader_copies",
           "reader_notebook", "write_settings"]

#: Folder of the one-language copies (git-ignored): ``reader/<lang>/``.
READER_DIR = config.PROJECT_ROOT / "reader"

#: JupyterLab settings of the environment: ``.py`` twins open as notebooks (jupytext).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension:plugin": {
        "defaultViewers": {"python": "Jupytext Notebook"},
    },
}

#: The kernel of the notebooks: this environment's interpreter (``make install`` installs
#: it under this name; it is also what JupyterLab writes when it saves a notebook).
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}

_LANG_LINE = re.compile(r'^lang\s*=\s*"[a-z]+"', re.MULTILINE)


def reader_notebook(nb: Any, lang: str) -> Any:
    """``nb`` for a reader of one language: the other language's cells removed and the
    ``lang`` parameter's default set to ``lang`` (changed in place and returned)."""
    language_cells(nb, lang)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            cell.source = _LANG_LINE.sub(f'lang = "{lang}"', cell.source)
    return nb


def reader_copies(lang: str, out_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write one-language copies of every notebook and lesson into ``out_dir``.

    ``out_dir`` defaults to ``reader/<lang>/`` in the project. Returns the folder. Each
    copy is written whole or not at all (a temporary file renamed into place), and only
    inside ``out_dir`` (:func:`crm_analysis.safety.contained`: plain names, no link
    leading out).

    Raises ``ValueError`` for an unknown language.
    """
    import jupytext
    import nbformat

    if lang not in LANGUAGES:
        raise ValueError(f"reader_copies: lang must be one of {', '.join(LANGUAGES)}, "
                         f"got {lang!r}")
    out = Path(out_dir) if out_dir is not None else READER_DIR / lang
    for source in notebook_sources():
        parts = source.relative_to(config.NOTEBOOKS_DIR).with_suffix(".ipynb").parts
        target = contained(out, *parts, where="reader_copies")
        target.parent.mkdir(parents=True, exist_ok=True)
        nb = reader_notebook(jupytext.read(source), lang)
        nb.metadata = {"kernelspec": KERNELSPEC}
        with atomic_path(target) as tmp:
            nbformat.write(nb, str(tmp))
    return out


def notebook_sources(folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """The tracked notebook sources: the py:percent scripts of the report notebooks
    (``NN_*.py``) and of the lessons (``lessons/L<n>_*.py``)."""
    root = Path(folder) if folder is not None else config.NOTEBOOKS_DIR
    return sorted(root.glob("[0-9][0-9]_*.py")) + sorted(root.glob("lessons/L[0-9]_*.py"))


def write_settings(prefix: str | os.PathLike[str] = sys.prefix) -> Path:
    """Write the environment's JupyterLab settings overrides and return the file.

    ``<prefix>/share/jupyter/lab/settings/overrides.json`` is JupyterLab's place for the
    defaults of one environment: the user's own settings still win.
    """
    path = Path(prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    current.update(LAB_SETTINGS)
    # renamed into place: a full disk never leaves JupyterLab a truncated settings file
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n",
                       encoding="utf-8")
    os.chmod(path, 0o644)  # mkstemp made it private; the environment's settings are not
    return path


def lab_command(root: str | os.PathLike[str], extra: Sequence[str] = ()) -> list[str]:
    """The command line that starts JupyterLab at ``root`` with this interpreter."""
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={Path(root)}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and not any("allow_root" in a or
                                                                "allow-root" in a for a in extra):
        # containers and CI machines often run as root, which Jupyter refuses by default
        command.append("--ServerApp.allow_root=True")
    return [*command, *extra]


def _environment() -> dict[str, str]:
    # the environment's kernels and settings before the user's (jupyter_core), so that
    # "python3" is this project's interpreter even when the user has another python3
    return {**os.environ, "JUPYTER_PREFER_ENV_PATH": "1"}


def add_lab_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``crm-analysis lab`` options; other options go to JupyterLab unchanged."""
    parser.add_argument("--lang", choices=LANGUAGES, default=None,
                        help="open one-language copies of the notebooks (reader/<lang>/) "
                        "instead of the bilingual sources")
    parser.add_argument("--data", default=None, metavar="FOLDER",
                        help="data folder that must exist first (default: the generated "
                        "sample data, see `make data`)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Start JupyterLab; unknown options (``--no-browser``, ``--port 8899``) go to it."""
    parser = add_lab_arguments(argparse.ArgumentParser(prog="crm-analysis lab"))
    args, extra = parser.parse_known_args(argv)
    return run(args, extra)


def run(args: argparse.Namespace, extra: Sequence[str]) -> int:
    """Check the data, write the settings, then run JupyterLab until it stops."""
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        try:
            import jupyterlab  # noqa: F401
        except ImportError:
            print("error: JupyterLab is not installed; run `make lab` (it installs the "
                  "lab extra) or `pip install -e '.[lab]'`", file=sys.stderr)
            return 2
    try:
        resolve_data_path(args.data)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_settings()
    root = reader_copies(args.lang) if args.lang else config.NOTEBOOKS_DIR
    print(f"JupyterLab at {root}: open 01_data_overview.ipynb first (README, "
          "'Explore the notebooks'). Stop it with Ctrl-C.", flush=True)
    command = lab_command(root, extra)
    if os.name == "posix":
        # become JupyterLab: a signal sent to `crm-analysis lab` (a terminate from a test
        # or a service manager) then reaches the server itself; as a child it was left
        # running without its parent
        sys.stderr.flush()
        os.execve(command[0], command, _environment())
    return subprocess.call(command, env=_environment())

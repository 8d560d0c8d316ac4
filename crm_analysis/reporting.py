"""Run the parameterized analysis notebooks and publish them as HTML reports.

This is the minimal, sequential report runner. For every store of a dataset and every
numbered notebook (``notebooks/NN_*.py``, see :func:`discover_notebooks`) it executes
the notebook with papermill's Python API, converts the result to a self-contained HTML
page with the code hidden, and writes an ``index.html`` that links every report::

    reports/
        index.html
        001/01_value_grading.ipynb
        001/01_value_grading.html
        ...

Parameters are passed through the papermill *Python* API, never its CLI: the CLI turns
``-p store_id 007`` into the integer ``7`` (see DOMAIN.md, section 6). Parameters are checked
against the notebook's ``parameters`` cell before the kernel starts, and numpy scalars,
dates and paths are converted to plain ``str``/``int``/``float`` first.

Example
-------
>>> from crm_analysis import reporting
>>> results = reporting.run_reports("data/sample", "reports", stores=["001"])  # doctest: +SKIP
>>> all(r.ok for r in results)  # doctest: +SKIP
True

The same from a shell::

    python -m crm_analysis.reporting --data data/sample --out reports --stores 001,002
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import datetime as dt
import functools
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path, PurePath
from types import SimpleNamespace
from typing import Any

from tqdm.auto import tqdm

from crm_analysis._inputs import caller, read_as_of
from crm_analysis.config import (
    BATCH_ENV,
    DEFAULT_DATA_DIR,
    LANGUAGES,
    NOTEBOOKS_DIR,
    REPORTS_DIR,
)
from crm_analysis.context import clear_cache, load_data
from crm_analysis.narrative import METRICS_MIME, escape_html
from crm_analysis.safety import contained, write_text
from crm_analysis.schema import _read_table

__all__ = [
    "KERNEL_ENV",
    "NotebookExecutionError",
    "RUNNER_PARAMETERS",
    "ReportResult",
    "build_index",
    "coerce_parameter",
    "discover_notebooks",
    "execute_notebook",
    "kill_kernels",
    "list_stores",
    "main",
    "notebook_parameters",
    "parse_parameter_args",
    "read_metrics",
    "run_reports",
    "to_html",
    "validate_parameter_types",
    "validate_parameters",
]

#: Environment variables set for every notebook kernel (on top of the current environment).
#: The kernel must never open a GUI window. Plain ``MPLBACKEND=Agg`` would also stop figures
#: from being shown *in* the notebook (ipykernel only installs its inline backend when
#: ``MPLBACKEND`` is unset), so the kernel gets the inline backend explicitly: it draws
#: with Agg, is headless, and puts every figure in the notebook as a PNG. This also
#: overrides an ``MPLBACKEND=Agg`` inherited from the calling shell.
#: ``CRM_ANALYSIS_BATCH`` tells the notebook kit that nobody watches: no progress bars.
KERNEL_ENV: dict[str, str] = {"MPLBACKEND": "module://matplotlib_inline.backend_inline",
                              BATCH_ENV: "1"}

#: Cell tag of prose in one language: ``lang-en`` / ``lang-zh`` (see :func:`language_cells`).
LANG_TAG = "lang-{}"

#: Numbered notebooks: ``01_value_grading.ipynb`` (two digits, an underscore, a name).
_NOTEBOOK_RE = re.compile(r"^(\d{2})_[^.]+$")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_STATUS_OK = "ok"
_STATUS_FAILED = "failed"


# --------------------------------------------------------------------------- records/errors


@dataclasses.dataclass(frozen=True)
class ReportResult:
    """Outcome of one notebook run for one store.

    Paths are absolute (or ``None`` when nothing was written); ``status`` is ``"ok"`` or
    ``"failed"``; ``error`` is a one-line description of the failure (``""`` when ok).

    Example
    -------
    >>> r = ReportResult("007", "Store 7", "01_demo", "ok", 2.5, None, None)
    >>> r.ok
    True
    """

    store_id: str
    store_name: str
    notebook: str
    status: str
    seconds: float
    html_path: Path | None
    ipynb_path: Path | None
    error: str = ""
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the notebook ran without error."""
        return self.status == _STATUS_OK


class NotebookExecutionError(RuntimeError):
    """A notebook raised an error (or its kernel died / timed out) while executing.

    Attributes: ``notebook`` (source path), ``parameters`` (as injected), ``output_path``
    (the executed notebook, written even on failure when possible), ``cell_index``,
    ``ename``, ``evalue`` and ``traceback`` (plain text, colour codes stripped).

    Example
    -------
    >>> err = NotebookExecutionError("01_demo.ipynb", {"store_id": "007"}, ename="KeyError",
    ...                              evalue="'x'", traceback="KeyError: 'x'")
    >>> err.summary
    "KeyError: 'x'"
    """

    def __init__(
        self,
        notebook: str | os.PathLike[str],
        parameters: Mapping[str, Any],
        *,
        output_path: str | os.PathLike[str] | None = None,
        cell_index: int | None = None,
        ename: str = "",
        evalue: str = "",
        traceback: str = "",
    ) -> None:
        self.notebook = Path(notebook)
        self.parameters = dict(parameters)
        self.output_path = Path(output_path) if output_path is not None else None
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback
        where = f" in cell {cell_index}" if cell_index is not None else ""
        lines = [
            f"notebook {self.notebook.name} failed{where}: {self.summary}",
            f"  notebook:   {self.notebook}",
            f"  parameters: {self.parameters!r}",
        ]
        if self.output_path is not None:
            lines.append(f"  output:     {self.output_path} (open it to see the failing cell)")
        if traceback:
            lines += ["", traceback]
        super().__init__("\n".join(lines))

    @property
    def summary(self) -> str:
        """One line: ``"<ErrorName>: <message>"``."""
        if self.ename and self.evalue:
            return f"{self.ename}: {self.evalue}"
        return self.ename or self.evalue or "execution failed"


# --------------------------------------------------------------------------- discovery


def discover_notebooks(notebooks_dir: str | os.PathLike[str] = NOTEBOOKS_DIR) -> list[Path]:
    """Return the numbered notebooks ``NN_*`` at the top of ``notebooks_dir``, sorted.

    The project keeps each notebook as a jupytext py:percent script (``NN_name.py``, the
    tracked source); the ``.ipynb`` beside it is the reader's working copy (generated,
    git-ignored, perhaps with outputs or older than the script). So the script wins when
    both exist, and :func:`execute_notebook` converts it on the fly. A numbered
    ``.ipynb`` without a script (a folder of plain notebooks) is used as it is. A ``.py``
    counts only when it is a jupytext script (``# %%`` cells or a jupytext header).
    Sub-folders and un-numbered files are ignored.

    Example
    -------
    >>> [p.name for p in discover_notebooks("notebooks")]  # doctest: +SKIP
    ['01_data_overview.py', '02_value_grading.py']
    """
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"notebook folder not found: {folder}")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or not _NOTEBOOK_RE.match(path.stem):
            continue
        if path.suffix == ".py" and _is_jupytext_script(path):
            found[path.stem] = path  # the script wins over its .ipynb copy
        elif path.suffix == ".ipynb":
            found.setdefault(path.stem, path)
    return [found[stem] for stem in sorted(found)]


def _is_jupytext_script(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8")[:20_000]
    except (OSError, UnicodeDecodeError):
        return False
    return "jupytext:" in head[:2_000] or re.search(r"^# %%", head, re.MULTILINE) is not None


def _select_notebooks(available: Sequence[Path], wanted: Iterable[str] | None) -> list[Path]:
    """Pick notebooks by number (``"01"``), stem (``"01_x"``) or file name."""
    if wanted is None:
        return list(available)
    chosen: list[Path] = []
    for key in wanted:
        key = str(key).strip()
        matches = [
            p
            for p in available
            if key in (p.name, p.stem) or _NOTEBOOK_RE.match(p.stem).group(1) == key.zfill(2)
        ]
        if not matches:
            names = ", ".join(p.stem for p in available) or "(none)"
            raise ValueError(f"unknown notebook {key!r}; available notebooks: {names}")
        chosen += [p for p in matches if p not in chosen]
    return chosen


def list_stores(data_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Return ``{store_id: store_name}`` for the dataset in ``data_dir``, sorted by id.

    Store ids stay strings (``"007"``, never ``7``). ``data_dir`` is a dataset folder or
    raw DMS exports (a folder of CSV / Excel / Parquet exports, or one file), read with
    :func:`crm_analysis.context.load_data` (raw exports through
    :func:`crm_analysis.io.load`).

    Example
    -------
    >>> list_stores("data/sample")  # doctest: +SKIP
    {'001': 'Store 001', '002': 'Store 002', '003': 'Store 003'}
    """
    stores = _load_dataset(data_dir).stores
    names = stores["store_name"] if "store_name" in stores.columns else [""] * len(stores)
    pairs = {
        str(sid): ("" if name is None or name != name else str(name))
        for sid, name in zip(stores["store_id"], names, strict=True)
    }
    return dict(sorted(pairs.items()))


def _data_as_of(data_dir: str | os.PathLike[str]) -> str | None:
    """The dataset's own as-of date (``meta["as_of"]``), or None when it cannot be read."""
    try:
        meta = _load_dataset(data_dir).meta
        value = (meta or {}).get("as_of")
        return None if value is None else str(_to_plain(value, "as_of"))
    except Exception:  # noqa: BLE001 - display only
        return None


def _load_dataset(data_dir: str | os.PathLike[str]) -> Any:
    """The dataset of a folder or of raw exports (cached by :mod:`crm_analysis.context`).

    Only ``stores`` and ``meta`` are used: for a folder partitioned by store (a very large
    group, ``crm-analysis synth --partitioned``) just those two are read, not the orders.
    """
    folder = Path(data_dir) if data_dir is not None else None
    if folder is not None and (folder / "repair_orders").is_dir():
        stores = _read_table(folder, "stores", None)
        if stores is not None:
            meta_file = folder / "meta.json"
            meta = json.loads(meta_file.read_text(encoding="utf-8")) \
                if meta_file.is_file() else {}
            return SimpleNamespace(stores=stores, meta=meta)
    return load_data(data_dir).dataset


# --------------------------------------------------------------------------- parameters


def _to_plain(value: Any, name: str = "parameter") -> Any:
    """Convert a parameter value to something papermill injects faithfully.

    numpy scalars become ``int``/``float``/``bool``/``str``; dates and timestamps become ISO
    strings (``"2026-06-30"``; a naive midnight timestamp counts as a date); paths become
    strings; tuples become lists. Anything else unusual raises ``TypeError``.
    """
    if value is None or type(value) in (bool, str):
        return value
    if isinstance(value, str):  # numpy.str_ and other str subclasses
        return str(value)
    module = type(value).__module__ or ""
    if type(value).__name__ in ("NaTType", "NAType"):
        return None
    if module.startswith("numpy"):
        import numpy as np

        if isinstance(value, np.datetime64):
            import pandas as pd

            return _to_plain(pd.Timestamp(value), name)
        if isinstance(value, np.ndarray):
            return _to_plain(value.tolist(), name)
        if isinstance(value, np.generic):
            return _to_plain(value.item(), name)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None and value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, PurePath | os.PathLike):
        return os.fspath(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, list | tuple):
        return [_to_plain(v, name) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v, name) for k, v in value.items()}
    raise TypeError(
        f"parameter {name!r}: cannot pass a {type(value).__name__} to a notebook; "
        "use str, int, float, bool, None, list or dict"
    )


def _as_of_parameter(as_of: Any) -> str | None:
    """The ``as_of`` notebook parameter: an ISO day, or ``None`` (the data's own date).

    A string must be ISO (``"30/06/2026"`` is a ValueError: day and month are ambiguous).
    """
    if as_of is None:
        return None
    day = read_as_of(as_of).date().isoformat()
    if isinstance(as_of, str) and not as_of.strip().startswith(day):
        raise ValueError(f"{caller()}: as_of must be an ISO date (YYYY-MM-DD), got {as_of!r}")
    return day


def notebook_parameters(
    notebook: str | os.PathLike[str], *, kernel_name: str = "python3"
) -> dict[str, dict[str, Any]]:
    """Return the parameters declared in the notebook's ``parameters``-tagged cell.

    A thin wrapper around :func:`papermill.inspect_notebook` that also accepts jupytext
    ``.py`` scripts and notebooks without kernel metadata. Maps each name to papermill's
    description (``name``, ``inferred_type_name``, ``default``, ``help``).

    Example
    -------
    >>> sorted(notebook_parameters("notebooks/01_value_grading.ipynb"))  # doctest: +SKIP
    ['as_of', 'data_dir', 'lang', 'store_id']
    """
    with _prepared_ipynb(Path(notebook), kernel_name) as ipynb:
        return _inspect(ipynb)


def _inspect(ipynb: Path) -> dict[str, dict[str, Any]]:
    import papermill

    return dict(papermill.inspect_notebook(str(ipynb)))


def validate_parameters(
    notebook: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None,
    *,
    kernel_name: str = "python3",
    declared: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check parameter names against the notebook and return plain-typed values.

    Raises ``ValueError`` (listing the valid names) for a name the notebook's ``parameters``
    cell does not declare, and ``TypeError`` for a value that cannot be injected. numpy
    scalars, dates and paths are converted (see module docs). ``declared`` skips the
    inspection when the caller already has it.

    Example
    -------
    >>> validate_parameters("notebooks/01_value_grading.ipynb",
    ...                     {"store_id": "007"})  # doctest: +SKIP
    {'store_id': '007'}
    """
    parameters = dict(parameters or {})
    if declared is None:
        declared = notebook_parameters(notebook, kernel_name=kernel_name) if parameters else {}
    unknown = [name for name in parameters if name not in declared]
    if unknown:
        valid = ", ".join(declared) or "(none: the notebook has no cell tagged 'parameters')"
        raise ValueError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))} for notebook "
            f"{Path(notebook).name}; valid parameters: {valid}"
        )
    return {str(name): _to_plain(value, str(name)) for name, value in parameters.items()}


def _declared_type(info: Mapping[str, Any]) -> type | None:
    """The type of a declared parameter: its annotation, else the type of its default.

    ``None`` when unknown (no annotation and a ``None`` or non-literal default).
    """
    name = str(info.get("inferred_type_name") or "None")
    by_name = {"str": str, "int": int, "float": float, "bool": bool, "list": list,
               "dict": dict, "tuple": list}
    if name in by_name:
        return by_name[name]
    try:
        default = ast.literal_eval(str(info.get("default", "None")))
    except (ValueError, SyntaxError):
        return None
    if default is None:
        return None
    return list if isinstance(default, tuple) else type(default)


_INT_RE = re.compile(r"^[+-]?(0|[1-9][0-9]*)$")
_FLOAT_RE = re.compile(r"^[+-]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")


def coerce_parameter(name: str, text: str, info: Mapping[str, Any] | None) -> Any:
    """Turn the text of a command-line ``-p name=value`` into the notebook's type.

    The type is the one the notebook declares (see :func:`papermill.inspect_notebook`:
    the annotation, else the type of the default). A ``str`` (or unknown) parameter keeps
    the text as it is, so ``"007"`` stays ``"007"``; ``int``, ``float`` and ``bool``
    parameters are converted (``true``/``false``/``yes``/``no``/``1``/``0``), lists and
    dicts are read as Python / JSON literals, and ``None`` gives ``None`` for any
    non-string type. A parameter whose default is ``None`` takes an integer written
    without leading zeros as ``int`` (``year=2024``), ``None`` as ``None``, and anything
    else as text. Raises ``ValueError`` naming the parameter and the expected type.

    Example
    -------
    >>> coerce_parameter("store_id", "007", {"default": '"001"'})
    '007'
    >>> coerce_parameter("window_months", "12", {"default": "24"})
    12
    >>> coerce_parameter("year", "2024", {"default": "None"})
    2024
    >>> coerce_parameter("pyramid_cuts", "[0.05, 0.2, 0.5]", {"default": "[0.01, 0.2, 0.5]"})
    [0.05, 0.2, 0.5]
    """
    kind = _declared_type(info or {})
    if kind is str:
        return text
    stripped = text.strip()
    if stripped in ("None", "none", "null"):
        return None
    if kind is None:
        if _INT_RE.match(stripped) and not re.match(r"^[+-]?0[0-9]", stripped):
            return int(stripped)
        return text
    expected = kind.__name__
    default = (info or {}).get("default")
    try:
        if kind is bool:
            low = stripped.lower()
            if low in ("true", "yes", "1", "on"):
                return True
            if low in ("false", "no", "0", "off"):
                return False
            raise ValueError(text)
        if kind is int:
            return int(stripped)
        if kind is float:
            return float(stripped)
        value = ast.literal_eval(stripped)
        if kind is list and isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, kind):
            raise ValueError(text)
        return value
    except (ValueError, SyntaxError):
        raise ValueError(
            f"parameter {name!r} expects {expected} (default {default}), got {text!r}"
        ) from None


#: Notebook parameters the runners set from their own options (never with ``-p``).
RUNNER_PARAMETERS = frozenset({"data_dir", "store_id", "as_of", "lang", "stores", "metrics_dir"})


def _settable_parameters(notebooks: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """Parameters a user may set with ``-p`` (first declaration of each name wins)."""
    declared: dict[str, dict[str, Any]] = {}
    for nb in notebooks:
        for name, info in notebook_parameters(nb).items():
            if name not in RUNNER_PARAMETERS:
                declared.setdefault(name, info)
    return declared


def parse_parameter_args(
    pairs: Iterable[str], declared: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Parse ``name=value`` strings (the CLI's ``-p``) with the notebooks' declared types.

    ``declared`` maps parameter names to papermill's description (the union over the
    notebooks that will run). Raises ``ValueError`` for a malformed pair, an unknown name
    (listing the valid ones) or a value of the wrong type.

    Example
    -------
    >>> decl = {"window_months": {"default": "24"}, "store_id": {"default": '"001"'}}
    >>> parse_parameter_args(["window_months=12", "store_id=007"], decl)
    {'window_months': 12, 'store_id': '007'}
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = str(pair).partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"-p expects name=value, got {pair!r}")
        if name not in declared:
            raise ValueError(
                f"unknown parameter {name!r}; valid parameters: {', '.join(sorted(declared))}"
            )
        out[name] = coerce_parameter(name, text, declared[name])
    return out


def validate_parameter_types(
    notebook: str, parameters: Mapping[str, Any], declared: Mapping[str, Mapping[str, Any]]
) -> None:
    """Check each value against the type of the notebook's default; ``TypeError`` if wrong.

    ``int`` parameters take ints (not bools), ``float`` ones ints or floats, ``bool`` ones
    bools, ``str`` ones strings, lists lists; ``None`` is accepted everywhere and a
    parameter with a ``None`` default takes anything.

    Example
    -------
    >>> validate_parameter_types("02_value_grading", {"window_months": 12},
    ...                          {"window_months": {"default": "24"}})
    >>> validate_parameter_types("02_value_grading", {"window_months": "12"},
    ...                          {"window_months": {"default": "24"}})
    Traceback (most recent call last):
    ...
    TypeError: parameter 'window_months' of 02_value_grading expects int (default 24), got str '12'
    """
    for name, value in parameters.items():
        kind = _declared_type(declared.get(name, {}))
        if kind is None or value is None:
            continue
        good = {
            int: isinstance(value, int) and not isinstance(value, bool),
            float: isinstance(value, int | float) and not isinstance(value, bool),
            bool: isinstance(value, bool),
        }.get(kind, isinstance(value, kind))
        if not good:
            default = declared[name].get("default")
            raise TypeError(
                f"parameter {name!r} of {notebook} expects {kind.__name__} (default "
                f"{default}), got {type(value).__name__} {value!r}"
            )


# --------------------------------------------------------------------------- execution


def _read_notebook(notebook: Path) -> Any:
    import nbformat

    if not notebook.is_file():
        raise FileNotFoundError(f"notebook not found: {notebook}")
    if notebook.suffix == ".ipynb":
        return nbformat.read(notebook, as_version=4)
    import jupytext

    return jupytext.read(notebook)


def _parameter_default(nb: Any, name: str) -> Any:
    """The literal default of ``name`` in the notebook's ``parameters`` cell (else None)."""
    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" not in cell.metadata.get("tags", []):
            continue
        for node in ast.parse(cell.source).body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name) and node.targets[0].id == name):
                with contextlib.suppress(ValueError):
                    return ast.literal_eval(node.value)
    return None


def language_cells(nb: Any, lang: str) -> Any:
    """Keep the cells of one language: drop those tagged for another (``lang-zh`` for en).

    Notebooks keep their prose in Markdown cells tagged ``lang-en`` / ``lang-zh`` side by
    side; a report, or a reader's copy, holds one language. Untagged cells stay. The
    notebook is changed in place and returned (nbconvert's ``TagRemovePreprocessor``).

    >>> import nbformat.v4 as v4
    >>> nb = v4.new_notebook(cells=[v4.new_markdown_cell("Hi", metadata={"tags": ["lang-en"]}),
    ...                             v4.new_markdown_cell("你好", metadata={"tags": ["lang-zh"]}),
    ...                             v4.new_code_cell("x = 1")])
    >>> [c.source for c in language_cells(nb, "zh").cells]
    ['你好', 'x = 1']
    """
    from nbconvert.preprocessors import TagRemovePreprocessor

    if lang not in LANGUAGES:
        raise ValueError(f"{caller()}: lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    others = {LANG_TAG.format(other) for other in LANGUAGES if other != lang}
    nb, _ = TagRemovePreprocessor(remove_cell_tags=others).preprocess(nb, {})
    return nb


@contextlib.contextmanager
def _prepared_ipynb(notebook: Path, kernel_name: str, lang: str | None = None) -> Iterator[Path]:
    """Yield a temporary ``.ipynb`` copy of ``notebook`` that papermill can run.

    Converts jupytext ``.py`` scripts and fills in missing kernel metadata, without ever
    touching the source file. With ``lang``, the prose cells of the other languages are
    left out (:func:`language_cells`).
    """
    import nbformat

    nb = _read_notebook(notebook)
    if lang is not None:
        language_cells(nb, lang)
    kernelspec = nb.metadata.get("kernelspec") or {}
    if not kernelspec.get("name"):
        nb.metadata["kernelspec"] = {
            "name": kernel_name,
            "display_name": kernel_name,
            "language": kernelspec.get("language", "python"),
        }
    nb.metadata.setdefault("language_info", {"name": "python"})
    with tempfile.TemporaryDirectory(prefix="crm-nb-") as tmp:
        path = Path(tmp) / f"{notebook.stem}.ipynb"
        nbformat.write(nb, path)
        yield path


#: Kernel managers of the notebooks running in this process (see :func:`kill_kernels`).
_LIVE_KERNELS: weakref.WeakSet[Any] = weakref.WeakSet()


def kill_kernels() -> int:
    """Kill every notebook kernel this process started and that is still running.

    Used by the batch runner's per-notebook time limit: the executing notebook then fails
    with a dead kernel instead of hanging. Returns the number of kernels killed.

    Example
    -------
    >>> kill_kernels()  # no notebook running
    0
    """
    killed = 0
    for km in list(_LIVE_KERNELS):
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.kill()
                killed += 1
    return killed


@functools.cache
def _kernel_manager_class(transport: str = "tcp") -> type:
    """An ``AsyncKernelManager`` that adds :data:`KERNEL_ENV` to the kernel's environment.

    Passing the environment to the kernel process (rather than editing ``os.environ``)
    keeps the caller's environment untouched and is safe with concurrent runs. Where
    jupyter_client and pyzmq support it, the kernel's TCP sockets use CurveZMQ encryption
    (``transport_encryption="auto"``), which also silences ipykernel's "running over TCP
    without encryption" warning printed once per notebook.

    ``transport="ipc"`` (POSIX only) connects to the kernel through Unix domain sockets
    with a unique path per kernel instead of TCP ports, so kernels started in parallel
    can never collide on a port (papermill issue #511).
    """
    import zmq
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    if transport not in ("tcp", "ipc"):
        raise ValueError(f"unknown kernel transport {transport!r}; valid: tcp, ipc")
    use_curve = (
        transport == "tcp"
        and "transport_encryption" in AsyncKernelManager.class_trait_names()
        and zmq.has("curve")
    )

    class ReportKernelManager(AsyncKernelManager):
        if use_curve:

            @default("transport_encryption")
            def _default_transport_encryption(self) -> str:
                return "auto"

        if transport == "ipc":

            @default("transport")
            def _default_transport(self) -> str:
                return "ipc"

            @default("ip")
            def _default_ip(self) -> str:
                # short and unique: socket paths are limited to ~100 characters
                return os.path.join(tempfile.gettempdir(), f"crm-k-{uuid.uuid4().hex[:16]}")

        async def _async_pre_start_kernel(self, **kw: Any) -> Any:
            env = dict(kw.pop("env", None) or os.environ)
            env.update(KERNEL_ENV)
            kw["env"] = env
            return await super()._async_pre_start_kernel(**kw)

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            await super()._async_launch_kernel(kernel_cmd, **kw)
            _LIVE_KERNELS.add(self)

    return ReportKernelManager


def execute_notebook(
    notebook: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = 600,
    kernel_name: str = "python3",
    transport: str = "tcp",
) -> Path:
    """Execute ``notebook`` with papermill (in-process API) and write ``output_path``.

    ``parameters`` are validated against the notebook's ``parameters`` cell first (unknown
    name -> ``ValueError`` listing the valid ones) and converted to plain types, so the
    string ``"007"`` arrives in the kernel as ``"007"``. ``cwd`` defaults to the notebook's
    folder; ``timeout`` is the limit per cell in seconds (``None``: no limit). The kernel
    runs headless (see :data:`KERNEL_ENV`). A jupytext ``.py`` script is converted first.
    ``transport="ipc"`` talks to the kernel over Unix sockets (no TCP port to collide on
    when many notebooks run at once; POSIX only).

    On failure raises :class:`NotebookExecutionError` carrying the failing cell's error
    and traceback; the executed notebook, with the error, is still written to
    ``output_path``.

    Example
    -------
    >>> execute_notebook("notebooks/01_value_grading.ipynb", "/tmp/out.ipynb",
    ...                  {"store_id": "007", "data_dir": "/abs/data"})  # doctest: +SKIP
    PosixPath('/tmp/out.ipynb')
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(notebook)
    output_path = Path(output_path)
    if output_path.suffix != ".ipynb":
        raise ValueError(f"output_path must end with .ipynb: {output_path}")
    workdir = Path(cwd) if cwd is not None else notebook.resolve().parent
    lang = (parameters or {}).get("lang") or _parameter_default(_read_notebook(notebook), "lang")
    with _prepared_ipynb(notebook, kernel_name, lang if lang in LANGUAGES else None) as ipynb:
        params = validate_parameters(
            notebook, parameters, declared=_inspect(ipynb) if parameters else {}
        )
        output_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            papermill.execute_notebook(
                str(ipynb),
                str(output_path),
                parameters=params,
                cwd=str(workdir),
                kernel_name=kernel_name,
                progress_bar=False,
                execution_timeout=timeout,
                kernel_manager_class=_kernel_manager_class(transport),
            )
        except PapermillExecutionError as exc:
            _fix_input_path(output_path, notebook)
            raise NotebookExecutionError(
                notebook,
                params,
                output_path=output_path,
                cell_index=exc.cell_index,
                ename=exc.ename,
                evalue=_strip_ansi(str(exc.evalue)),
                traceback=_strip_ansi("\n".join(exc.traceback or [])),
            ) from exc
        except Exception as exc:
            # kernel died, cell timed out, kernel failed to start, ...: keep what was saved
            written = output_path if output_path.is_file() else None
            if written is not None:
                _fix_input_path(output_path, notebook)
            text = _strip_ansi(str(exc)).strip()
            raise NotebookExecutionError(
                notebook,
                params,
                output_path=written,
                ename=type(exc).__name__,
                evalue=text.splitlines()[0] if text else "",
                traceback=text,
            ) from exc
    _fix_input_path(output_path, notebook)
    return output_path


def _strip_ansi(text: str) -> str:
    return _ANSI_RE.sub("", text)


def _fix_input_path(output_path: Path, notebook: Path) -> None:
    """Record the real source notebook (not the temporary copy) in papermill's metadata."""
    try:
        data = json.loads(output_path.read_text(encoding="utf-8"))
        data.setdefault("metadata", {}).setdefault("papermill", {})["input_path"] = str(
            notebook.resolve()
        )
        output_path.write_text(
            json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n",
            encoding="utf-8",
        )
    except (OSError, ValueError):
        pass


# --------------------------------------------------------------------------- HTML


_REPORT_TEMPLATE = """\
{%- extends 'lab/index.html.j2' -%}
{#- self-contained: no require.js, widgets or mermaid from a CDN -#}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{#- MathJax only when a markdown cell holds maths; offline the TeX source stays readable -#}
{%- block html_head_js_mathjax -%}
{%- if resources.crm_needs_mathjax -%}{{ super() }}{%- endif -%}
{%- endblock html_head_js_mathjax -%}
"""

_MATH_RE = re.compile(r"\$[^$\n]+\$|\\\(|\\\[|\\begin\{")


def to_html(
    ipynb_path: str | os.PathLike[str], html_path: str | os.PathLike[str] | None = None
) -> Path:
    """Convert an executed notebook to a self-contained HTML report and return its path.

    Code inputs and prompts are hidden (the report shows text, tables and figures only),
    images are embedded as ``data:`` URIs, no script is loaded from the network (except
    MathJax when a markdown cell contains maths), and the same notebook always gives the
    same bytes. ``html_path`` defaults to the notebook path with ``.html``.

    Example
    -------
    >>> to_html("reports/007/01_value_grading.ipynb")  # doctest: +SKIP
    PosixPath('reports/007/01_value_grading.html')
    """
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    ipynb_path = Path(ipynb_path)
    html_path = Path(html_path) if html_path is not None else ipynb_path.with_suffix(".html")
    nb = nbformat.read(ipynb_path, as_version=4)

    # cells tagged "remove-cell" speak to the notebook's reader only (e.g. a title in one
    # language); the report shows the rest
    nb.cells = [c for c in nb.cells if "remove-cell" not in c.get("metadata", {}).get("tags", [])]
    for cell in nb.cells:  # recorded metrics are data for the runner, not for readers
        if cell.get("outputs"):
            cell["outputs"] = [o for o in cell["outputs"] if METRICS_MIME not in o.get("data", {})]
    exporter = HTMLExporter(
        extra_loaders=[DictLoader({"crm_report.html.j2": _REPORT_TEMPLATE})],
        template_file="crm_report.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        # Figures are outputs, which the template always embeds as data: URIs. nbconvert's
        # embed_images only serves Markdown image links (the notebooks have none), and it
        # re-parses every inline HTML tag on its own: `<strong>5.0</strong>` came out as
        # `<strong></strong>5.0`, losing the bold numbers of the Chinese narration.
        embed_images=False,
    )
    needs_math = any(
        cell.cell_type == "markdown" and _MATH_RE.search(cell.source) for cell in nb.cells
    )
    resources = {
        "metadata": {"name": ipynb_path.stem, "path": str(ipynb_path.parent)},
        "crm_needs_mathjax": needs_math,
    }
    # the document says its language (screen readers, fonts, translation tools; the
    # tests read it to check that a report holds one language)
    lang = nb.metadata.get("papermill", {}).get("parameters", {}).get("lang") or "en"
    exporter.language_code = lang if lang in LANGUAGES else "en"  # ISO 639-1 codes
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    write_text(html_path, body)
    return html_path


# --------------------------------------------------------------------------- index

_INDEX_CSS = """
:root { --fg:#1f2933; --muted:#616e7c; --line:#d9e2ec; --ok:#1f7a4d; --okbg:#e3f9e5;
        --bad:#a61b1b; --badbg:#ffe3e3; --head:#f0f4f8; }
* { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", Roboto, "Noto Sans", "PingFang SC",
       "Microsoft YaHei", sans-serif; color: var(--fg); margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; }
.sub { color: var(--muted); margin-top: 0; }
dl.params { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem;
            background: var(--head); padding: .8rem 1rem; border-radius: 6px; }
dl.params dt { font-weight: 600; } dl.params dd { margin: 0; font-family: monospace; }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; font-size: .92rem; }
th, td { border: 1px solid var(--line); padding: .45rem .6rem; text-align: left;
         vertical-align: top; }
th { background: var(--head); }
td.ok { background: var(--okbg); } td.failed { background: var(--badbg); }
.badge { font-weight: 700; text-transform: uppercase; font-size: .75rem; letter-spacing: .03em; }
td.ok .badge { color: var(--ok); } td.failed .badge { color: var(--bad); }
.secs { color: var(--muted); font-size: .8rem; margin-left: .3rem; }
.links { display: block; margin-top: .2rem; }
.links a { margin-right: .6rem; }
.err { display: block; color: var(--bad); font-size: .8rem; margin-top: .2rem;
       word-break: break-word; }
.summary.ok { color: var(--ok); } .summary.failed { color: var(--bad); }
footer { margin-top: 2rem; color: var(--muted); font-size: .8rem; }
"""

_LABELS = {
    "en": {
        "title": "After-sales analysis reports",
        "data": "Data folder",
        "as_of": "As-of date",
        "as_of_auto": "from the data",
        "generated": "Generated",
        "store": "Store",
        "params": "Parameters",
        "missing": "not run",
        "summary": "{ok} of {n} reports ok, {failed} failed",
        "failures": "Failures",
        "notebook": "Notebook",
        "error": "Error",
        "footer": "Generated by crm_analysis. Links are relative: keep this folder together.",
    },
    "zh": {
        "title": "售后客户分析报告",
        "data": "数据目录",
        "as_of": "分析日期",
        "as_of_auto": "取自数据",
        "generated": "生成时间",
        "store": "门店",
        "params": "参数",
        "missing": "未运行",
        "summary": "共 {n} 份报告：{ok} 份成功，{failed} 份失败",
        "failures": "失败明细",
        "notebook": "笔记本",
        "error": "错误",
        "footer": "由 crm_analysis 生成。链接为相对路径，请保持目录结构完整。",
    },
}


def _href(target: Path | None, base: Path) -> str | None:
    if target is None:
        return None
    rel = os.path.relpath(Path(target).resolve(), base.resolve())
    return urllib.parse.quote(PurePath(rel).as_posix())


def generated_now() -> str:
    """The time stamp of an index page: ``SOURCE_DATE_EPOCH`` when set (reproducible
    builds), else now, in ISO format to the second."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch and epoch.isdigit()
            else dt.datetime.now().astimezone())
    return when.replace(microsecond=0).isoformat()


def build_index(
    reports_dir: str | os.PathLike[str],
    results: Sequence[ReportResult],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    as_of: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    lang: str = "en",
    title: str | None = None,
    generated_at: str | None = None,
) -> Path:
    """Write ``reports_dir/index.html``: a stores x notebooks table linking every report.

    Each cell shows the status (ok / failed), the run time and relative links to the HTML
    report and the executed ``.ipynb``; failed runs also show their error. The page is a
    single self-contained file (inline CSS, no scripts, no external resources). ``lang``
    (``"en"``/``"zh"``) picks the page's labels. ``generated_at`` defaults to now (or to
    ``SOURCE_DATE_EPOCH`` when set, for reproducible builds). The file is written to a
    temporary name and renamed, so a reader never sees half a page.

    Example
    -------
    >>> r = ReportResult("007", "Store 7", "01_demo", "ok", 2.5,
    ...                  Path("/tmp/rep/007/01_demo.html"), Path("/tmp/rep/007/01_demo.ipynb"))
    >>> build_index("/tmp/rep", [r], data_dir="data/sample")  # doctest: +SKIP
    PosixPath('/tmp/rep/index.html')
    """
    as_of = None if as_of is None else read_as_of(as_of).date().isoformat()
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    labels = _LABELS.get(lang, _LABELS["en"])
    esc = escape_html  # the package's one HTML escape: every text of the page goes through it
    page_title = title or labels["title"]
    if generated_at is None:
        generated_at = generated_now()

    stores: dict[str, str] = {}
    notebooks: list[str] = []
    cells: dict[tuple[str, str], ReportResult] = {}
    for r in results:
        stores.setdefault(r.store_id, r.store_name)
        if r.notebook not in notebooks:
            notebooks.append(r.notebook)
        cells[(r.store_id, r.notebook)] = r
    store_ids = sorted(stores)
    notebooks.sort()
    n_ok = sum(r.ok for r in results)
    n_failed = len(results) - n_ok

    out: list[str] = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(page_title)}</title>",
        f"<style>{_INDEX_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(page_title)}</h1>",
        f'<p class="sub summary {"failed" if n_failed else "ok"}">'
        + esc(labels["summary"].format(n=len(results), ok=n_ok, failed=n_failed))
        + "</p>",
        '<dl class="params">',
    ]
    meta_rows: list[tuple[str, str]] = []
    if data_dir is not None:
        meta_rows.append((labels["data"], str(Path(data_dir).resolve())))
    meta_rows.append((labels["as_of"], as_of if as_of else labels["as_of_auto"]))
    meta_rows.append((labels["generated"], generated_at))
    for key, value in (parameters or {}).items():
        meta_rows.append((f"{labels['params']}: {key}", _display(value)))
    out += [f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in meta_rows]
    out.append("</dl>")

    out.append("<table>")
    out.append(
        "<thead><tr><th>"
        + esc(labels["store"])
        + "</th>"
        + "".join(f"<th>{esc(nb)}</th>" for nb in notebooks)
        + "</tr></thead>"
    )
    out.append("<tbody>")
    for sid in store_ids:
        name = stores[sid]
        head = f"<th>{esc(sid)}" + (f"<br><small>{esc(name)}</small>" if name else "") + "</th>"
        row = [head]
        for nb in notebooks:
            r = cells.get((sid, nb))
            if r is None:
                row.append(f'<td class="missing">{esc(labels["missing"])}</td>')
                continue
            links = []
            for label, target in (("HTML", r.html_path), ("ipynb", r.ipynb_path)):
                href = _href(target, reports_dir)
                if href is not None:
                    links.append(f'<a href="{esc(href)}">{label}</a>')
            cell = (
                f'<td class="{esc(r.status)}"><span class="badge">{esc(r.status)}</span>'
                f'<span class="secs">{r.seconds:.1f} s</span>'
                f'<span class="links">{"".join(links)}</span>'
            )
            if r.error:
                first = r.error.strip().splitlines()[0] if r.error.strip() else ""
                cell += f'<span class="err" title="{esc(r.error)}">{esc(first[:200])}</span>'
            row.append(cell + "</td>")
        out.append("<tr>" + "".join(row) + "</tr>")
    out.append("</tbody></table>")

    failed = [r for r in results if not r.ok]
    if failed:
        out.append(f"<h2>{esc(labels['failures'])}</h2>")
        out.append(
            f"<table><thead><tr><th>{esc(labels['store'])}</th>"
            f"<th>{esc(labels['notebook'])}</th><th>{esc(labels['error'])}</th></tr></thead>"
            "<tbody>"
        )
        for r in failed:
            href = _href(r.html_path or r.ipynb_path, reports_dir)
            nb_cell = f'<a href="{esc(href)}">{esc(r.notebook)}</a>' if href else esc(r.notebook)
            out.append(
                f"<tr><td>{esc(r.store_id)}</td><td>{nb_cell}</td>"
                f"<td><code>{esc(r.error)}</code></td></tr>"
            )
        out.append("</tbody></table>")

    out += [f"<footer>{esc(labels['footer'])}</footer>", "</body>", "</html>", ""]
    index = reports_dir / "index.html"
    write_text(index, "\n".join(out))
    return index


def _display(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


# --------------------------------------------------------------------------- runner


def run_reports(
    data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR,
    out_dir: str | os.PathLike[str] = REPORTS_DIR,
    *,
    stores: Iterable[str] | None = None,
    notebooks: Iterable[str] | None = None,
    lang: str = "en",
    as_of: Any = None,
    extra_parameters: Mapping[str, Any] | None = None,
    notebooks_dir: str | os.PathLike[str] = NOTEBOOKS_DIR,
    timeout: float | None = 600,
    kernel_name: str = "python3",
    progress: bool = True,
) -> list[ReportResult]:
    """Run every notebook for every store and write the reports plus ``index.html``.

    For each store (all stores of the dataset, or ``stores``) and each numbered notebook
    (all, or ``notebooks`` given by number ``"01"`` or stem) the notebook is executed with
    the parameters ``data_dir`` (absolute path), ``store_id`` (str), ``as_of`` (ISO date
    string, or ``None`` to let the notebook take it from the data) and ``lang``, plus
    ``extra_parameters``. Outputs go to ``out_dir/<store_id>/<notebook_stem>.ipynb`` and
    ``.html``; each report is built in a staging folder and moved into place only once
    complete. A failing notebook is recorded as ``failed`` and the run goes on. Runs are
    sequential. Group notebooks (no ``store_id`` parameter) are left out: they run with
    :func:`crm_analysis.batch.run_batch`. An ``extra_parameters`` entry goes to the
    notebooks that declare it (an unknown name is a ``ValueError``; a value of another
    type than the notebook's default a ``TypeError``).

    Raises ``ValueError`` before running anything for an unknown store id, notebook,
    language, bad date, or a parameter a notebook does not declare.

    ``data_dir`` may also hold raw DMS exports (see
    :func:`crm_analysis.context.is_raw_source`): every notebook then reads them with
    :func:`crm_analysis.io.load` (personal data pseudonymized, bad rows quarantined, with
    ``as_of`` as the export date) and notebook 01 adds a data-quality section. Give
    ``as_of`` with raw exports: without it the loader takes the latest date it accepts.

    Example
    -------
    >>> results = run_reports("data/sample", "reports", stores=["001"],
    ...                       notebooks=["01"], lang="zh")  # doctest: +SKIP
    >>> [(r.store_id, r.notebook, r.status) for r in results]  # doctest: +SKIP
    [('001', '01_value_grading', 'ok')]
    """
    as_of_str = _as_of_parameter(as_of)
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; valid: {', '.join(LANGUAGES)}")
    data_path = Path(data_dir).resolve()
    out_path = Path(out_dir).resolve()

    catalog = list_stores(data_path)
    index_as_of = as_of_str or _data_as_of(data_path)  # for the index page only
    if stores is None:
        store_ids = list(catalog)
    else:
        store_ids = [str(s).strip() for s in stores]
        unknown = [s for s in store_ids if s not in catalog]
        if unknown:
            raise ValueError(
                f"unknown store id(s) {', '.join(map(repr, unknown))}; "
                f"valid store ids: {', '.join(catalog) or '(none)'}"
            )
        store_ids = list(dict.fromkeys(store_ids))
    if not store_ids:
        raise ValueError(f"no stores in {data_path}")
    for sid in store_ids:  # a store id from data becomes a folder name: a plain name only
        contained(out_path, sid, where="run_reports")

    selected = _select_notebooks(discover_notebooks(notebooks_dir), notebooks)
    if not selected:
        raise ValueError(f"no numbered notebooks (NN_*.py or NN_*.ipynb) in {notebooks_dir}")

    base_params: dict[str, Any] = {"data_dir": str(data_path), "as_of": as_of_str, "lang": lang}
    extra = dict(extra_parameters or {})
    # validate every notebook's parameters up front: a typo should fail before hours of work.
    # An extra parameter goes to the notebooks that declare it; one that none declares fails.
    nb_params: dict[Path, dict[str, Any]] = {}
    declared_by = {nb: notebook_parameters(nb, kernel_name=kernel_name) for nb in selected}
    # group notebooks (no store_id parameter) run once for the group: crm-analysis batch
    group = [nb for nb in selected if "store_id" not in declared_by[nb]]
    if group and notebooks is not None:
        raise ValueError(
            f"{', '.join(nb.stem for nb in group)}: a group notebook (no store_id "
            "parameter); run it with `crm-analysis batch` (crm_analysis.batch.run_batch)"
        )
    selected = [nb for nb in selected if nb not in group]
    if not selected:
        raise ValueError(f"no store notebooks (NN_* with a store_id) in {notebooks_dir}")
    for name in extra:
        if not any(name in d for d in declared_by.values()):
            valid = sorted({n for d in declared_by.values() for n in d})
            raise ValueError(
                f"unknown parameter {name!r} for notebooks "
                f"{', '.join(p.stem for p in selected)}; valid parameters: {', '.join(valid)}"
            )
    for nb_path in selected:
        mine = {k: v for k, v in extra.items() if k in declared_by[nb_path]}
        params = {**base_params, **mine}
        validate_parameters(nb_path, {**params, "store_id": ""}, declared=declared_by[nb_path])
        validate_parameter_types(nb_path.stem, mine, declared_by[nb_path])
        nb_params[nb_path] = params

    out_path.mkdir(parents=True, exist_ok=True)
    results: list[ReportResult] = []
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_path))
    jobs = [(sid, nb) for sid in store_ids for nb in selected]
    try:
        with tqdm(total=len(jobs), desc="reports", unit="nb", disable=not progress) as bar:
            for sid, nb_path in jobs:
                stem = nb_path.stem
                bar.set_postfix_str(f"{sid}/{stem}")
                results.append(
                    _run_one(
                        nb_path,
                        {**nb_params[nb_path], "store_id": sid},
                        store_id=sid,
                        store_name=catalog.get(sid, ""),
                        staging=staging / sid,
                        final=out_path / sid,
                        timeout=timeout,
                        kernel_name=kernel_name,
                    )
                )
                bar.update(1)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        clear_cache()

    shown = {k: v for k, v in {**base_params, **extra}.items() if k not in ("data_dir", "as_of")}
    shown["stores"] = store_ids
    shown["notebooks"] = [p.stem for p in selected]
    build_index(
        out_path,
        results,
        data_dir=data_path,
        as_of=index_as_of,
        parameters=shown,
        lang=lang,
    )
    return results


def read_metrics(ipynb_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metrics a notebook recorded with :meth:`crm_analysis.narrative.Narrator.record`.

    Several ``record`` calls are merged in cell order (a later value wins).

    Example
    -------
    >>> read_metrics("reports/001/01_data_overview.ipynb")["orders_per_month"]  # doctest: +SKIP
    1383.25
    """
    import nbformat


    nb = nbformat.read(str(ipynb_path), as_version=4)
    metrics: dict[str, Any] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if METRICS_MIME in data:
                metrics.update(data[METRICS_MIME])
    return metrics


def _run_one(
    nb_path: Path,
    params: dict[str, Any],
    *,
    store_id: str,
    store_name: str,
    staging: Path,
    final: Path,
    timeout: float | None,
    kernel_name: str,
) -> ReportResult:
    stem = nb_path.stem
    tmp_ipynb = staging / f"{stem}.ipynb"
    tmp_html = staging / f"{stem}.html"
    status, error = _STATUS_OK, ""
    start = time.perf_counter()
    try:
        execute_notebook(nb_path, tmp_ipynb, params, timeout=timeout, kernel_name=kernel_name)
    except NotebookExecutionError as exc:
        status, error = _STATUS_FAILED, exc.summary
    html_ok = False
    metrics: dict[str, Any] = {}
    tmp_metrics = staging / f"{stem}.metrics.json"
    if tmp_ipynb.is_file():
        metrics = read_metrics(tmp_ipynb)
        tmp_metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True, ensure_ascii=False)
                               + "\n", encoding="utf-8")
        try:
            to_html(tmp_ipynb, tmp_html)
            html_ok = True
        except Exception as exc:  # noqa: BLE001 - record, keep going
            if status == _STATUS_OK:
                status, error = _STATUS_FAILED, f"HTML conversion failed: {exc}"
    seconds = time.perf_counter() - start

    # move the finished files into place (atomic rename within out_dir); drop an
    # earlier run's file when this run produced none, so old and new never mix
    final.mkdir(parents=True, exist_ok=True)
    placed: list[Path | None] = []
    for tmp, produced in ((tmp_metrics, tmp_metrics.is_file()), (tmp_ipynb, tmp_ipynb.is_file()),
                          (tmp_html, html_ok)):
        dst = final / tmp.name
        if produced:
            os.replace(tmp, dst)
            placed.append(dst)
        else:
            with contextlib.suppress(FileNotFoundError):
                dst.unlink()
            placed.append(None)
    _metrics_final, ipynb_final, html_final = placed
    return ReportResult(
        store_id=store_id,
        store_name=store_name,
        notebook=stem,
        status=status,
        seconds=round(seconds, 3),
        html_path=html_final,
        ipynb_path=ipynb_final,
        error=error,
        metrics=metrics,
    )


# --------------------------------------------------------------------------- CLI


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_report_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the report options (``--data``, ``--out``, ``--stores``, ...) to ``parser``.

    Shared by ``python -m crm_analysis.reporting`` and ``crm-analysis report``.

    Example
    -------
    >>> p = add_report_arguments(argparse.ArgumentParser())
    >>> p.parse_args(["--stores", "007,008"]).stores
    ['007', '008']
    """
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="dataset folder, or raw DMS exports (a folder of CSV / Excel / Parquet files "
        "or one file, read with crm_analysis.io.load: pseudonymized, bad rows quarantined; "
        "pass --as-of with them) (default: %(default)s)",
    )
    parser.add_argument(
        "--out", type=Path, default=REPORTS_DIR, help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--store",
        "--stores",
        dest="stores",
        type=_split_list,
        default=None,
        metavar="ID[,ID...]",
        help="store id, or comma-separated ids, kept as strings (007 stays 007); "
        "default: all stores",
    )
    parser.add_argument(
        "--notebooks",
        type=_split_list,
        default=None,
        metavar="NN[,NN...]",
        help="comma-separated notebook numbers or names (e.g. 01,02); default: all",
    )
    parser.add_argument(
        "--lang", choices=LANGUAGES, default="en", help="report language (default: %(default)s)"
    )
    parser.add_argument(
        "--as-of",
        dest="as_of",
        default=None,
        metavar="YYYY-MM-DD",
        help="analysis date; default: the dataset's own as-of date",
    )
    parser.add_argument(
        "--notebooks-dir",
        type=Path,
        default=NOTEBOOKS_DIR,
        help="folder holding the numbered notebooks, NN_*.py scripts or NN_*.ipynb "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600,
        metavar="SECONDS",
        help="time limit per notebook cell (default: %(default)s)",
    )
    parser.add_argument(
        "-p",
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="notebook parameter, repeatable (e.g. -p window_months=12); converted to the "
        "type of the notebook's default, strings stay strings; given to the notebooks "
        "that declare it",
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    """Run :func:`run_reports` for parsed :func:`add_report_arguments` options.

    Returns the exit code: 0 all reports ok, 1 some failed, 2 bad arguments.

    Example
    -------
    >>> p = add_report_arguments(argparse.ArgumentParser())
    >>> run_from_args(p.parse_args(["--data", "data/sample"]))  # doctest: +SKIP
    0
    """
    if not Path(args.data).exists():
        print(f"error: data folder not found: {args.data}", file=sys.stderr)
        return 2
    try:
        extra = None
        if getattr(args, "params", None):
            selected = _select_notebooks(discover_notebooks(args.notebooks_dir), args.notebooks)
            extra = parse_parameter_args(args.params, _settable_parameters(selected))
        results = run_reports(
            args.data,
            args.out,
            stores=args.stores,
            notebooks=args.notebooks,
            lang=args.lang,
            as_of=args.as_of,
            extra_parameters=extra,
            notebooks_dir=args.notebooks_dir,
            timeout=args.timeout,
            progress=not args.no_progress,
        )
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = [r for r in results if not r.ok]
    index = Path(args.out).resolve() / "index.html"
    print(f"{len(results) - len(failed)} of {len(results)} reports ok; index: {index}")
    for r in failed:
        print(f"FAILED {r.store_id}/{r.notebook}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


EXIT_CODES_HELP = """\
exit codes:
  0  success (all reports ok / no violations)
  1  some reports failed (or, for validate, the data has violations)
  2  usage error: bad arguments, unknown store id or notebook, missing folder
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m crm_analysis.reporting --data DIR --out DIR [...]``.

    Returns 0 when all reports are ok, 1 when any failed, 2 on bad arguments.

    Example
    -------
    >>> main(["--data", "data/sample", "--out", "reports", "--stores", "001"])  # doctest: +SKIP
    0
    """
    parser = argparse.ArgumentParser(
        prog="python -m crm_analysis.reporting",
        description="Run the analysis notebooks for each store and write HTML reports "
        "plus an index.html.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_report_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for errors
        return int(exc.code or 0)
    return run_from_args(args)


if __name__ == "__main__":
    sys.exit(main())

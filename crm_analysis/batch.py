"""Run the report notebooks for a whole dealer group: in parallel, resumable, with an index.

:func:`run_batch` executes every selected notebook for every selected store and language
in a pool of worker processes, then the *group notebooks* (notebooks whose ``parameters``
cell has no ``store_id``) once per language, and writes::

    <out>/<run>/index.html                                    stores x notebooks + key metrics
    <out>/<run>/<store_id>/<lang>/<notebook>.ipynb / .html / .metrics.json / .stamp.json
    <out>/<run>/group/<lang>/<notebook>.ipynb / .html / .metrics.json / .stamp.json

``<run>`` defaults to the month of the analysis date (``2026-06``).

Resume
    Each report gets a *stamp* (``<notebook>.stamp.json``) recording the content hash of
    the notebook file, the parameters, the content hash (blake2b over the bytes) of every
    file of the data folder, for group notebooks the hash of the per-store metrics they
    read, and the size and hash of the three output files. A report whose stamp says
    ``ok`` with the same hashes, and whose files are all there with the recorded sizes, is
    skipped (``force=True`` runs it again). Failed reports are always run again.

Atomicity
    A report is executed into a staging folder (``<out>/<run>/.staging/...``). When it is
    finished the old stamp is deleted, the ``.metrics.json``, ``.ipynb`` and ``.html`` are
    moved into place with :func:`os.replace`, and only then the new stamp is written
    (itself written to a temporary name and renamed). A run killed at any moment leaves
    either no stamp or a stamp whose files are complete; files without a stamp are not
    considered done and are rebuilt by the next run.

Clean failure
    Store ids and the run name become folder names only when they are plain names
    (:func:`crm_analysis.safety.check_path_part`; ``group`` is kept for the group
    reports) and every folder is joined under ``out_dir`` with
    :func:`crm_analysis.safety.contained`: an unsafe id is a ``ValueError`` before anything
    is written. A named pipe, socket or device file in the data folder is refused (a
    ``ValueError`` naming it) without being opened. A full, read-only or not permitted
    output folder fails the report it hits with ``io_error`` set and one line naming the
    path and the cause (:func:`describe_os_error`); none of its files is published or
    stamped, and the index is still written when there is room for it. Each worker
    watches the batch process: when the batch is killed, even with SIGKILL, its workers
    kill their notebook kernels and exit at once, and the forkserver and the resource
    tracker follow them.

Kernels talk to the runner over Unix sockets (``transport="ipc"``) on POSIX, so parallel
kernels never collide on TCP ports; a kernel that dies while starting is retried.

Example
-------
>>> from crm_analysis.batch import run_batch
>>> run = run_batch("data/sample", "reports", langs=["en", "zh"], jobs=2)  # doctest: +SKIP
>>> run.index_path, len(run.failed)  # doctest: +SKIP
(PosixPath('.../reports/2026-06/index.html'), 0)
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import hashlib
import json
import math
import multiprocessing
import os
import re
import select
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from crm_analysis._inputs import read_as_of
from crm_analysis.config import DEFAULT_DATA_DIR, LANGUAGES, NOTEBOOKS_DIR, REPORTS_DIR
from crm_analysis.context import refuse_special_file
from crm_analysis.narrative import escape_html
from crm_analysis.privacy import store_key
from crm_analysis.reporting import (
    RUNNER_PARAMETERS,
    NotebookExecutionError,
    _as_of_parameter,
    _data_as_of,
    _href,
    _select_notebooks,
    _to_plain,
    discover_notebooks,
    execute_notebook,
    generated_now,
    kill_kernels,
    list_stores,
    notebook_parameters,
    read_metrics,
    to_html,
    validate_parameter_types,
)
from crm_analysis.safety import check_path_part, contained, is_safe_part, write_text

__all__ = [
    "GROUP_DIR",
    "KEY_METRICS",
    "BatchResult",
    "BatchRun",
    "build_batch_index",
    "check_run_dir",
    "describe_os_error",
    "hash_data",
    "run_batch",
]

#: Folder (in place of a store id) of the group notebooks' reports.
GROUP_DIR = "group"
_OUTPUTS = (".metrics.json", ".ipynb", ".html")
_STAMP = ".stamp.json"
_STAGING = ".staging"
_STAMP_VERSION = 1
#: Errors of a kernel that did not start (or died at once): worth one more try.
_RETRYABLE_RE = re.compile(
    r"Address already in use|Kernel died|kernel_info|Kernel didn't respond|ZMQError|"
    r"DeadKernelError|Kernel failed to start",
    re.IGNORECASE,
)
#: errno values of a file system that refuses to take the output: full, over quota,
#: read-only, or not ours to write. The report (or the run) fails with one line naming
#: the path and the cause (see :func:`describe_os_error`); nothing half-written is kept.
_WRITE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM}
    | ({errno.EDQUOT} if hasattr(errno, "EDQUOT") else set())
)


# --------------------------------------------------------------------------- records


@dataclasses.dataclass(frozen=True)
class BatchResult:
    """Outcome of one report (one notebook for one store, or a group notebook, in one language).

    ``store_id`` is ``"group"`` for a group notebook. ``status`` is ``"ok"`` or
    ``"failed"``; ``skipped`` is True when the report was up to date and not run again
    (``seconds`` is then the run time recorded when it was built). ``cell_index``,
    ``error`` (one line) and ``traceback`` describe a failure; ``io_error`` is True when
    the report failed because its files could not be written (disk full, read-only or
    not permitted folder: ``error`` names the path and the cause, and no file of the
    report is left half-written or marked done).

    Example
    -------
    >>> r = BatchResult("007", "Store 7", "en", "01_demo", "ok", 3.2)
    >>> r.ok, r.skipped
    (True, False)
    """

    store_id: str
    store_name: str
    lang: str
    notebook: str
    status: str
    seconds: float
    html_path: Path | None = None
    ipynb_path: Path | None = None
    metrics_path: Path | None = None
    skipped: bool = False
    error: str = ""
    cell_index: int | None = None
    traceback: str = ""
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    io_error: bool = False

    @property
    def ok(self) -> bool:
        """True when the report is complete and its notebook ran without error."""
        return self.status == "ok"

    @property
    def group(self) -> bool:
        """True for a group notebook's report."""
        return self.store_id == GROUP_DIR


@dataclasses.dataclass(frozen=True)
class BatchRun:
    """What :func:`run_batch` did: the run folder, its index page and every result.

    Example
    -------
    >>> run = BatchRun(Path("reports/2026-06"), Path("reports/2026-06/index.html"), [])
    >>> run.failed, run.executed
    ([], [])
    """

    run_dir: Path
    index_path: Path
    results: list[BatchResult]

    @property
    def failed(self) -> list[BatchResult]:
        """The reports that failed."""
        return [r for r in self.results if not r.ok]

    @property
    def executed(self) -> list[BatchResult]:
        """The reports whose notebook was executed in this run (not skipped)."""
        return [r for r in self.results if not r.skipped]


@dataclasses.dataclass(frozen=True)
class _Task:
    store_id: str
    store_name: str
    lang: str
    notebook: str
    params: dict[str, Any]
    final_dir: str
    staging_dir: str
    key: dict[str, Any]
    timeout: float | None
    kernel_name: str
    transport: str

    @property
    def stem(self) -> str:
        return Path(self.notebook).stem


# --------------------------------------------------------------------------- hashing


def _blake(digest_size: int = 20) -> Any:
    return hashlib.blake2b(digest_size=digest_size)


def _hash_file(path: Path) -> str:
    h = _blake()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _hash_data_file(path: Path) -> str:
    """:func:`_hash_file` for a file of the data folder: a named pipe, socket or device
    is refused before it is read (opening a FIFO waits for a writer forever). It is
    opened without blocking and checked again on the open file, so it cannot be swapped
    for a FIFO in between."""
    refuse_special_file(path, os.stat(path).st_mode, where="hash_data")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        refuse_special_file(path, os.fstat(fd).st_mode, where="hash_data")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    h = _blake()
    with fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_data(path: str | os.PathLike[str]) -> str:
    """Content hash of a data file or of every file under a data folder (blake2b).

    Files are read in full (sizes and modification times are not trusted); names
    relative to the folder are part of the hash, so a renamed file changes it too.
    Hidden folders and ``__pycache__`` are skipped; hidden files (such as the
    pseudonymization key ``.crm_analysis_key``) are included. A named pipe (FIFO),
    socket or device file is a ``ValueError`` naming it, raised without reading it.

    Example
    -------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = Path(tmp, "orders.csv").write_text("ro_id\\n1\\n")
    ...     a = hash_data(tmp)
    ...     _ = Path(tmp, "orders.csv").write_text("ro_id\\n2\\n")
    ...     a == hash_data(tmp)
    False
    """
    root = Path(path)
    h = _blake()
    if root.exists() and not root.is_dir():
        files = [root]
        base = root.parent
    else:
        files = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(
                d for d in dirnames if not d.startswith(".") and d != "__pycache__"
            )
            files += [Path(dirpath, f) for f in filenames]
        base = root
    for f in sorted(files, key=lambda p: p.relative_to(base).as_posix()):
        h.update(f.relative_to(base).as_posix().encode("utf-8") + b"\0")
        h.update(_hash_data_file(f).encode("ascii"))
    return h.hexdigest()


def _hash_json(value: Any) -> str:
    h = _blake()
    h.update(json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


# --------------------------------------------------------------------------- stamps


def _stamp_path(final_dir: Path, stem: str) -> Path:
    return final_dir / f"{stem}{_STAMP}"


def _read_stamp(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _stamp_complete(final_dir: Path, stamp: Mapping[str, Any], *, verify: bool = False) -> bool:
    """True when every file the stamp lists is there with its size (and hash if ``verify``)."""
    files = stamp.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for name, info in files.items():
        path = final_dir / name
        try:
            if path.stat().st_size != info["size"]:
                return False
        except (OSError, KeyError, TypeError):
            return False
        if verify and _hash_file(path) != info.get("blake2b"):
            return False
    return True


def check_run_dir(run_dir: str | os.PathLike[str]) -> list[str]:
    """Problems of a batch run folder: stamps whose files are missing, short or changed.

    Every ``*.stamp.json`` must list its ``.html``, ``.ipynb`` and ``.metrics.json`` (all
    three for an ``ok`` report) and each must exist with the recorded size and blake2b
    hash. Returns one line per problem (empty: the folder is consistent). Reports without
    a stamp are not done, whatever files they have: they are not problems.

    Example
    -------
    >>> check_run_dir("reports/2026-06")  # doctest: +SKIP
    []
    """
    problems = []
    root = Path(run_dir)
    for stamp_file in sorted(root.rglob(f"*{_STAMP}")):
        if _STAGING in stamp_file.relative_to(root).parts:
            continue
        stamp = _read_stamp(stamp_file)
        rel = stamp_file.relative_to(root).as_posix()
        if stamp is None:
            problems.append(f"{rel}: unreadable stamp")
            continue
        stem = stamp_file.name[: -len(_STAMP)]
        files = stamp.get("files") or {}
        if stamp.get("status") == "ok":
            missing = [s for s in _OUTPUTS if f"{stem}{s}" not in files]
            if missing:
                problems.append(f"{rel}: ok stamp without {', '.join(missing)}")
        if not _stamp_complete(stamp_file.parent, stamp, verify=True):
            problems.append(f"{rel}: files missing or not the ones stamped")
    return problems


def _atomic_write_json(path: Path, value: Any) -> None:
    write_text(
        path, json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        + "\n")


def _write_error(exc: BaseException | None) -> OSError | None:
    """The OSError of a full, read-only or not permitted file system in ``exc`` or in the
    exceptions it was raised from (papermill wraps the one of the notebook it writes)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def describe_os_error(exc: OSError, path: str | os.PathLike[str] | None = None) -> str:
    """One line for a file-system error: the path and the cause, in words. ``path`` is
    the file being written, for an error that does not name it (a failed ``write``).

    Example
    -------
    >>> describe_os_error(OSError(errno.ENOSPC, "No space left on device", "r/a.html"))
    'disk full while writing r/a.html'
    >>> describe_os_error(OSError(errno.EROFS, "Read-only file system", "/mnt/r"))
    'cannot write /mnt/r: the folder is on a read-only file system'
    """
    if exc.filename is not None:
        path = exc.filename
    elif path is None:
        path = "(file not named by the system)"
    if exc.filename2 is not None:
        path = f"{path} -> {exc.filename2}"
    if exc.errno == errno.ENOSPC:
        return f"disk full while writing {path}"
    if getattr(errno, "EDQUOT", None) == exc.errno:
        return f"disk quota exceeded while writing {path}"
    if exc.errno == errno.EROFS:
        return f"cannot write {path}: the folder is on a read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied: {path}"
    return f"{path}: {exc.strerror or exc}"


def _up_to_date(task: _Task) -> dict[str, Any] | None:
    """The stamp of ``task``'s report when it is ok, complete and made from the same inputs."""
    final = Path(task.final_dir)
    stamp = _read_stamp(_stamp_path(final, task.stem))
    if (
        stamp is None
        or stamp.get("version") != _STAMP_VERSION
        or stamp.get("status") != "ok"
        or stamp.get("key") != task.key
        or set(stamp.get("files") or ()) != {f"{task.stem}{s}" for s in _OUTPUTS}
        or not _stamp_complete(final, stamp)
    ):
        return None
    return stamp


# --------------------------------------------------------------------------- worker


def _execute_task(task: _Task) -> BatchResult:
    """Run one report in a staging folder and publish it (runs in a worker process).

    A full, read-only or not permitted output folder does not stop the batch: the report
    fails with ``io_error`` set and one line naming the path, and none of its files is
    published or stamped (an earlier run's files and stamp are removed, so old and new
    never mix)."""
    stem = task.stem
    staging = Path(task.staging_dir)
    start = time.perf_counter()
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _io_failed(task, exc, start)
    tmp = {suffix: staging / f"{stem}{suffix}" for suffix in _OUTPUTS}
    status, error, cell_index, trace = "ok", "", None, ""
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        kill_kernels()

    for attempt in range(3):
        timer = None
        if task.timeout:
            timer = threading.Timer(task.timeout, on_timeout)
            timer.daemon = True
            timer.start()
        try:
            execute_notebook(
                task.notebook,
                tmp[".ipynb"],
                task.params,
                timeout=task.timeout,
                kernel_name=task.kernel_name,
                transport=task.transport,
            )
            status, error, cell_index, trace = "ok", "", None, ""
            break
        except NotebookExecutionError as exc:
            written = _write_error(exc)
            if written is not None:  # the executed notebook could not be saved
                return _io_failed(task, written, start, tmp[".ipynb"])
            status, error = "failed", exc.summary
            cell_index, trace = exc.cell_index, exc.traceback
            if timed_out.is_set():
                error = f"timed out: the notebook ran longer than {task.timeout:g} s"
                break
            retry = exc.cell_index is None and _RETRYABLE_RE.search(f"{exc.ename} {exc.evalue}")
            if not retry or attempt == 2:
                break
            time.sleep(0.5 + attempt)
        finally:
            if timer is not None:
                timer.cancel()

    # the outputs in staging; only files written completely are published
    metrics: dict[str, Any] = {}
    complete: set[str] = set()
    writing = tmp[".metrics.json"]
    try:
        if tmp[".ipynb"].is_file():
            complete.add(".ipynb")
            try:
                metrics = read_metrics(tmp[".ipynb"])
            except Exception as exc:  # noqa: BLE001 - an unreadable notebook is a failure
                if status == "ok":
                    status, error = "failed", f"cannot read the executed notebook: {exc}"
            _atomic_write_json(tmp[".metrics.json"], metrics)
            complete.add(".metrics.json")
            writing = tmp[".html"]
            try:
                to_html(tmp[".ipynb"], tmp[".html"])
                complete.add(".html")
            except OSError:
                raise
            except Exception as exc:  # noqa: BLE001 - record, keep going
                if status == "ok":
                    status, error = "failed", f"HTML conversion failed: {exc}"
    except OSError as exc:
        return _io_failed(task, exc, start, writing)
    seconds = round(time.perf_counter() - start, 3)
    if status == "ok" and complete != set(_OUTPUTS):
        status, error = "failed", "the notebook ran but not every output was written"

    # publish: stamp out first, files in, stamp last (an interruption leaves no stamp)
    final = Path(task.final_dir)
    stamp_file = _stamp_path(final, stem)
    placed: dict[str, Path | None] = {}
    files: dict[str, dict[str, Any]] = {}
    try:
        final.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            stamp_file.unlink()
        for suffix, src in tmp.items():
            dst = final / src.name
            if suffix in complete:
                files[dst.name] = {"size": src.stat().st_size, "blake2b": _hash_file(src)}
                os.replace(src, dst)
                placed[suffix] = dst
            else:
                with contextlib.suppress(FileNotFoundError):
                    dst.unlink()
                placed[suffix] = None
        if status == "ok" and any(p is None for p in placed.values()):
            status, error = "failed", "an output file vanished before it was moved into place"
        stamp = {
            "version": _STAMP_VERSION,
            "store_id": task.store_id,
            "lang": task.lang,
            "notebook": stem,
            "status": status,
            "seconds": seconds,
            "finished": dt.datetime.now().astimezone().replace(microsecond=0).isoformat(),
            "key": task.key,
            "files": files,
            "error": error,
            "cell_index": cell_index,
            "traceback": trace[-20_000:],
        }
        if files:
            _atomic_write_json(stamp_file, stamp)
    except OSError as exc:  # the files moved in have no stamp: not done, rebuilt next time
        return _io_failed(task, exc, start)
    shutil.rmtree(staging, ignore_errors=True)
    return BatchResult(
        store_id=task.store_id,
        store_name=task.store_name,
        lang=task.lang,
        notebook=stem,
        status=status,
        seconds=seconds,
        html_path=placed[".html"],
        ipynb_path=placed[".ipynb"],
        metrics_path=placed[".metrics.json"],
        error=error,
        cell_index=cell_index,
        traceback=trace,
        metrics=metrics,
    )


def _io_failed(task: _Task, exc: OSError, start: float,
               writing: Path | None = None) -> BatchResult:
    """The result of a report whose files could not be written; its staging folder, its
    stamp and any earlier output are removed where the file system still allows it.
    The error names the report's file in the run folder (not its staging copy)."""
    final = Path(task.final_dir)
    text = describe_os_error(exc, writing)
    text = text.replace(str(Path(task.staging_dir)), str(final))
    shutil.rmtree(task.staging_dir, ignore_errors=True)
    for name in (f"{task.stem}{_STAMP}", *(f"{task.stem}{s}" for s in _OUTPUTS)):
        with contextlib.suppress(OSError):
            (final / name).unlink()
    return BatchResult(
        store_id=task.store_id,
        store_name=task.store_name,
        lang=task.lang,
        notebook=task.stem,
        status="failed",
        seconds=round(time.perf_counter() - start, 3),
        error=text,
        io_error=True,
    )


def _skipped_result(task: _Task, stamp: Mapping[str, Any]) -> BatchResult:
    final = Path(task.final_dir)
    metrics_path = final / f"{task.stem}.metrics.json"
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        metrics = {}
    return BatchResult(
        store_id=task.store_id,
        store_name=task.store_name,
        lang=task.lang,
        notebook=task.stem,
        status="ok",
        seconds=float(stamp.get("seconds") or 0.0),
        html_path=final / f"{task.stem}.html",
        ipynb_path=final / f"{task.stem}.ipynb",
        metrics_path=metrics_path,
        skipped=True,
        metrics=metrics,
    )


def _crashed_result(task: _Task, exc: BaseException) -> BatchResult:
    written = _write_error(exc)
    return BatchResult(
        store_id=task.store_id,
        store_name=task.store_name,
        lang=task.lang,
        notebook=task.stem,
        status="failed",
        seconds=0.0,
        error=describe_os_error(written) if written is not None
        else f"worker process failed: {type(exc).__name__}: {exc}",
        io_error=written is not None,
    )


# ---------------------------------------------------------------- workers die with the batch
#
# A batch killed with SIGKILL cannot shut its pool down. Its workers would go on running
# (and their kernels with them: a kernel exits when its worker is gone, ipykernel's parent
# poller), and with them the forkserver and the resource tracker, which exit when the last
# worker has. So each worker watches the batch process itself: a thread blocked on a pidfd
# of the batch (Linux; elsewhere a poll every half second) kills the worker's kernels and
# ends the worker the moment the batch is gone. The worker also asks Linux for SIGKILL when
# its own parent (the forkserver) dies.

_PR_SET_PDEATHSIG = 1


def _set_parent_death_signal(sig: int) -> bool:
    """``prctl(PR_SET_PDEATHSIG, sig)`` on Linux: ``sig`` when the parent process dies."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _process_alive(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie, killed but not yet reaped, is gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): the signal test is all there is
    return stat_line.rsplit(")", 1)[-1].split()[:1] not in (["Z"], ["X"])


def _end_worker() -> None:
    with contextlib.suppress(Exception):
        kill_kernels()
    os._exit(1)


def _watch_parent(pid: int, pidfd: int | None) -> None:
    if pidfd is not None:
        try:
            select.select([pidfd], [], [])  # readable once the process has exited
        except (OSError, ValueError):
            pidfd = None
    if pidfd is None:
        while _process_alive(pid):
            time.sleep(0.5)
    _end_worker()


def _start_parent_watchdog(pid: int) -> threading.Thread:
    """End this process (after killing its notebook kernels) when process ``pid`` exits."""
    pidfd = None
    with contextlib.suppress(AttributeError, OSError):
        pidfd = os.pidfd_open(pid)
    if pidfd is None and not _process_alive(pid):
        _end_worker()
    thread = threading.Thread(target=_watch_parent, args=(pid, pidfd), daemon=True,
                              name="crm-analysis batch watchdog")
    thread.start()
    return thread


def _worker_init(batch_pid: int | None = None) -> None:
    """Set up a worker: its Ctrl-C is handled by the parent (which cancels the batch), and
    it ends when the batch process ``batch_pid`` ends, however that happens."""
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _set_parent_death_signal(signal.SIGKILL)
    if batch_pid is not None:
        _start_parent_watchdog(batch_pid)


# --------------------------------------------------------------------------- runner


def _check_langs(langs: str | Iterable[str]) -> list[str]:
    if isinstance(langs, str):
        langs = [part.strip() for part in langs.split(",") if part.strip()]
    langs = list(dict.fromkeys(str(lang) for lang in langs))
    bad = [lang for lang in langs if lang not in LANGUAGES]
    if bad or not langs:
        raise ValueError(
            f"unknown language(s) {', '.join(map(repr, bad)) or '(none given)'}; "
            f"valid: {', '.join(LANGUAGES)}"
        )
    return langs


def _stale_staging(run_dir: Path) -> None:
    """Remove staging folders of runs whose process is gone (e.g. killed)."""
    root = run_dir / _STAGING
    if not root.is_dir():
        return
    for child in root.iterdir():
        pid = child.name.split("-", 1)[0]
        alive = False
        if pid.isdigit():
            try:
                os.kill(int(pid), 0)
                alive = int(pid) != os.getpid()
            except (OSError, ValueError):
                alive = False
        if not alive:
            shutil.rmtree(child, ignore_errors=True)
    with contextlib.suppress(OSError):
        root.rmdir()


def _metrics_inputs_hash(run_dir: Path, stores: Sequence[str], lang: str) -> str:
    h = _blake()
    for sid in stores:
        folder = run_dir / sid / lang
        for f in sorted(folder.glob("*.metrics.json")) if folder.is_dir() else []:
            h.update(f"{sid}/{f.name}\0".encode())
            h.update(_hash_file(f).encode("ascii"))
    return h.hexdigest()


def run_batch(
    data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR,
    out_dir: str | os.PathLike[str] = REPORTS_DIR,
    *,
    stores: Iterable[str] | str | None = None,
    notebooks: Iterable[str] | None = None,
    langs: Iterable[str] | str = ("en",),
    as_of: Any = None,
    run: str | None = None,
    jobs: int | None = None,
    force: bool = False,
    timeout: float | None = 1800,
    extra_parameters: Mapping[str, Any] | None = None,
    notebooks_dir: str | os.PathLike[str] = NOTEBOOKS_DIR,
    kernel_name: str = "python3",
    progress: bool = True,
    generated_at: str | None = None,
) -> BatchRun:
    """Run the notebooks for many stores and languages in parallel; write ``index.html``.

    Parameters
    ----------
    data_dir:
        Dataset folder (or raw DMS exports) shared by every store.
    out_dir:
        Reports folder; this run writes into ``out_dir/<run>``.
    stores:
        Store ids (strings; ``"007"`` stays ``"007"``), a comma-separated string, or
        ``None`` / ``"all"`` for every store of the data.
    notebooks:
        Notebook numbers or stems (``["01", "03"]``); ``None``: every numbered notebook.
        Group notebooks (no ``store_id`` parameter) run once per language after the
        store notebooks, with ``metrics_dir=<out>/<run>`` and ``stores="001,002,..."``.
    langs:
        Report languages (``["en", "zh"]`` or ``"en,zh"``).
    as_of:
        Analysis date (ISO); ``None`` lets each notebook take it from the data.
    run:
        Name of the run folder; default the analysis month ``YYYY-MM``.
    jobs:
        Notebooks executed at the same time (worker processes); default ``os.cpu_count()``.
    force:
        Run every report even when its stamp says it is up to date.
    timeout:
        Time limit per notebook, in seconds (``None``: none); a notebook over it fails.
    extra_parameters:
        More notebook parameters; each goes to the notebooks that declare it, and must be
        declared by at least one (values are checked against the declared types).
    notebooks_dir:
        Folder of the numbered notebooks (``NN_*.py`` scripts or ``NN_*.ipynb``).

    Raises ``ValueError`` / ``TypeError`` before any kernel starts for an unknown store,
    notebook, language or parameter, a value of the wrong type or a bad date, and
    ``FileNotFoundError`` for a missing data folder. A failing notebook does not stop
    the others: it is reported in the result, the index and its stamp.

    Example
    -------
    >>> run = run_batch("data/sample", "reports", stores="001,002", notebooks=["01"],
    ...                 langs="en,zh", jobs=2)  # doctest: +SKIP
    >>> [(r.store_id, r.lang, r.notebook, r.status) for r in run.results][:1]  # doctest: +SKIP
    [('001', 'en', '01_data_overview', 'ok')]
    """
    as_of_str = _as_of_parameter(as_of)
    langs = _check_langs(langs)
    if jobs is None:
        jobs = os.cpu_count() or 1
    if int(jobs) < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    jobs = int(jobs)
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be positive (seconds) or None, got {timeout}")
    data_path = Path(data_dir).resolve()
    if not data_path.exists():
        raise FileNotFoundError(f"data folder not found: {data_path}")
    out_path = Path(out_dir).resolve()

    # -- notebooks and their parameters (inspected once, before anything runs)
    selected = _select_notebooks(discover_notebooks(notebooks_dir), notebooks)
    if not selected:
        raise ValueError(f"no numbered notebooks (NN_*.py or NN_*.ipynb) in {notebooks_dir}")
    declared = {nb: notebook_parameters(nb, kernel_name=kernel_name) for nb in selected}
    store_nbs = [nb for nb in selected if "store_id" in declared[nb]]
    group_nbs = [nb for nb in selected if "store_id" not in declared[nb]]
    extra = {str(k): _to_plain(v, str(k)) for k, v in (extra_parameters or {}).items()}
    all_declared = sorted({name for d in declared.values() for name in d})
    for name in extra:
        if name in RUNNER_PARAMETERS:
            raise ValueError(f"parameter {name!r} is set by the batch runner; use its option")
        if not any(name in d for d in declared.values()):
            raise ValueError(
                f"unknown parameter {name!r} for notebooks "
                f"{', '.join(nb.stem for nb in selected)}; valid parameters: "
                f"{', '.join(n for n in all_declared if n not in RUNNER_PARAMETERS)}"
            )
    for nb in selected:
        validate_parameter_types(
            nb.stem, {k: v for k, v in extra.items() if k in declared[nb]}, declared[nb]
        )

    # -- stores
    catalog = list_stores(data_path)
    if stores is None or (isinstance(stores, str) and stores.strip().lower() == "all"):
        store_ids = list(catalog)
    else:
        if isinstance(stores, str):
            stores = stores.split(",")
        store_ids = list(dict.fromkeys(str(s).strip() for s in stores if str(s).strip()))
        unknown = [s for s in store_ids if s not in catalog]
        if unknown:
            raise ValueError(
                f"unknown store id(s) {', '.join(map(repr, unknown))}; "
                f"valid store ids: {', '.join(catalog) or '(none)'}"
            )
    if not store_ids:
        raise ValueError(f"no stores in {data_path}")

    data_as_of = as_of_str or _data_as_of(data_path)
    if run is None:
        run = data_as_of[:7] if data_as_of else "latest"
    # ids become folder names: only plain names, checked before anything is written
    check_path_part(run, "run name", where="run_batch")
    for sid in store_ids:
        check_path_part(sid, "store id", where="run_batch")
        if sid == GROUP_DIR:
            raise ValueError(f"run_batch: store id {sid!r} cannot be used as a folder name: "
                             f"{GROUP_DIR!r} holds the group notebooks' reports")
    run_dir = contained(out_path, run, where="run_batch")
    final_dirs = {sid: {lang: contained(run_dir, sid, lang, where="run_batch")
                        for lang in langs} for sid in [*store_ids, GROUP_DIR]}

    # -- hashes: the data once per batch. The pseudonymization key beside the data is part
    # of it (a new key changes the reports' pseudonyms), so it is created first: otherwise
    # the first run's notebooks would create it and every report would run again next time.
    if data_path.is_dir():
        store_key(data_path)
    data_hash = hash_data(data_path)
    nb_hash = {nb: _hash_file(nb) for nb in selected}

    def params_for(nb: Path, base: dict[str, Any]) -> dict[str, Any]:
        merged = {**base, **extra}
        return {k: v for k, v in merged.items() if k in declared[nb]}

    def make_task(nb: Path, sid: str, name: str, lang: str, params: dict[str, Any],
                  inputs: str | None, staging: Path) -> _Task:
        key = {"notebook": nb_hash[nb], "parameters": params, "data": data_hash}
        if inputs is not None:
            key["inputs"] = inputs
        return _Task(
            store_id=sid,
            store_name=name,
            lang=lang,
            notebook=str(nb),
            params=params,
            final_dir=str(final_dirs[sid][lang]),
            staging_dir=str(staging / f"{sid}-{lang}-{nb.stem}"),
            key=key,
            timeout=timeout,
            kernel_name=kernel_name,
            transport="ipc" if os.name == "posix" else "tcp",
        )

    run_dir.mkdir(parents=True, exist_ok=True)
    _stale_staging(run_dir)
    staging = run_dir / _STAGING / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)

    store_tasks = [
        make_task(
            nb, sid, catalog.get(sid, ""), lang,
            params_for(nb, {"data_dir": str(data_path), "store_id": sid, "as_of": as_of_str,
                            "lang": lang}),
            None, staging,
        )
        for lang in langs
        for sid in store_ids
        for nb in store_nbs
    ]
    n_total = len(store_tasks) + len(group_nbs) * len(langs)
    results: list[BatchResult] = []
    pool: ProcessPoolExecutor | None = None
    try:
        with tqdm(total=n_total, desc="reports", unit="nb", disable=not progress) as bar:

            def run_tasks(tasks: list[_Task]) -> None:
                nonlocal pool
                pending = []
                for task in tasks:
                    stamp = None if force else _up_to_date(task)
                    if stamp is not None:
                        results.append(_skipped_result(task, stamp))
                        bar.update(1)
                    else:
                        pending.append(task)
                if not pending:
                    return
                if jobs == 1:
                    for task in pending:
                        bar.set_postfix_str(f"{task.store_id}/{task.lang}/{task.stem}")
                        results.append(_execute_task(task))
                        bar.update(1)
                    return
                if pool is None:
                    context = multiprocessing.get_context(
                        "forkserver" if sys.platform.startswith("linux") else "spawn"
                    )
                    pool = ProcessPoolExecutor(
                        max_workers=jobs,
                        mp_context=context,
                        initializer=_worker_init,
                        initargs=(os.getpid(),),
                    )
                futures: dict[Future[BatchResult], _Task] = {
                    pool.submit(_execute_task, task): task for task in pending
                }
                not_done = set(futures)
                while not_done:
                    done, not_done = wait(not_done, return_when=FIRST_COMPLETED)
                    for fut in done:
                        task = futures[fut]
                        try:
                            results.append(fut.result())
                        except Exception as exc:  # noqa: BLE001 - a crashed worker
                            results.append(_crashed_result(task, exc))
                        bar.set_postfix_str(f"{task.store_id}/{task.lang}/{task.stem}")
                        bar.update(1)

            run_tasks(store_tasks)
            group_tasks = [
                make_task(
                    nb, GROUP_DIR, "", lang,
                    params_for(nb, {"data_dir": str(data_path), "as_of": as_of_str,
                                    "lang": lang, "metrics_dir": str(run_dir),
                                    "stores": ",".join(store_ids)}),
                    _metrics_inputs_hash(run_dir, store_ids, lang), staging,
                )
                for lang in langs
                for nb in group_nbs
            ]
            run_tasks(group_tasks)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            (run_dir / _STAGING).rmdir()

    order = {(t.store_id, t.lang, t.stem): i for i, t in enumerate(store_tasks)}
    results.sort(key=lambda r: (r.group, order.get((r.store_id, r.lang, r.notebook), 0),
                                r.lang, r.notebook))
    index = build_batch_index(
        run_dir,
        results,
        stores={sid: catalog.get(sid, "") for sid in store_ids},
        langs=langs,
        data_dir=data_path,
        as_of=data_as_of,
        run=run,
        generated_at=generated_at,
    )
    _write_runs_index(out_path, page_lang="en" if "en" in langs else "zh")
    return BatchRun(run_dir=run_dir, index_path=index, results=results)


def _write_runs_index(out_path: Path, page_lang: str = "en") -> Path:
    """``<out>/index.html``: a list of the batch runs (folders with an index), newest first.

    Only folders with a safe name are listed (a folder someone else made under ``--out``,
    named ``javascript:alert(1)``, would otherwise become a script link)."""
    lab = _BATCH_LABELS[page_lang]
    runs = sorted(
        (d.name for d in out_path.iterdir()
         if is_safe_part(d.name) and d.is_dir() and (d / "index.html").is_file()
         and any(d.glob(f"*/*/*{_STAMP}"))),
        reverse=True,
    )
    items = "".join(
        f'<li><a href="{escape_html(r)}/index.html">{escape_html(r)}</a></li>' for r in runs
    )
    page = (
        f'<!DOCTYPE html>\n<html lang="{"en" if page_lang == "en" else "zh-CN"}">\n<head>'
        f'<meta charset="utf-8"><title>{escape_html(lab["title"])}</title>'
        f"<style>{_BATCH_CSS}</style></head>\n<body>\n<h1>{escape_html(lab['title'])}</h1>\n"
        f"<h2>{escape_html(lab['run'])}</h2>\n<ul>{items}</ul>\n</body>\n</html>\n"
    )
    index = out_path / "index.html"
    write_text(index, page)
    return index


# --------------------------------------------------------------------------- index page

#: Headline metrics of the index page: (label en, label zh, notebook prefix, metric, format).
#: A metric given as ``a/b`` is the ratio of two recorded metrics.
KEY_METRICS: tuple[tuple[str, str, str, str, str], ...] = (
    ("Orders / month", "月均工单", "01", "orders_per_month", "{:,.0f}"),
    ("Customers (24 m)", "客户数（24个月）", "02", "customers", "{:,.0f}"),
    ("Top-20% profit share", "前20%客户毛利占比", "02", "top20_share_gross_profit", "{:.0%}"),
    ("Retention age 3", "3年车龄保有率", "03", "retention_year_3", "{:.0%}"),
    ("Retention age 5", "5年车龄保有率", "03", "retention_year_5", "{:.0%}"),
    ("Churn-risk share", "流失风险客户占比", "04", "at_risk/customers_scored", "{:.0%}"),
    ("Expected active customers", "预计活跃客户", "05", "expected_active_customers", "{:,.0f}"),
    ("Mean CLV (36 m)", "平均客户终身价值", "05", "clv_mean", "{:,.0f}"),
)

_BATCH_CSS = """
:root { --fg:#1f2933; --muted:#616e7c; --line:#d9e2ec; --ok:#1f7a4d; --okbg:#e3f9e5;
        --bad:#a61b1b; --badbg:#ffe3e3; --head:#f0f4f8; }
* { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", Roboto, "Noto Sans", "PingFang SC",
       "Microsoft YaHei", sans-serif; color: var(--fg); margin: 2rem auto; max-width: 1300px;
       padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
h3 { font-size: 1rem; margin-top: 1.4rem; }
.sub { color: var(--muted); margin-top: 0; }
dl.params { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem;
            background: var(--head); padding: .8rem 1rem; border-radius: 6px; }
dl.params dt { font-weight: 600; } dl.params dd { margin: 0; font-family: monospace; }
table { border-collapse: collapse; width: 100%; margin-top: .6rem; font-size: .9rem; }
th, td { border: 1px solid var(--line); padding: .4rem .55rem; text-align: left;
         vertical-align: top; }
th { background: var(--head); } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.ok { background: var(--okbg); } td.failed { background: var(--badbg); }
.badge { font-weight: 700; text-transform: uppercase; font-size: .72rem; }
td.ok .badge { color: var(--ok); } td.failed .badge { color: var(--bad); }
.secs, .cached { color: var(--muted); font-size: .78rem; margin-left: .3rem; }
.links { display: block; margin-top: .15rem; } .links a { margin-right: .5rem; }
.err { display: block; color: var(--bad); font-size: .8rem; word-break: break-word; }
pre { white-space: pre-wrap; font-size: .78rem; background: #fafafa; padding: .5rem; }
.summary.ok { color: var(--ok); } .summary.failed { color: var(--bad); }
footer { margin-top: 2rem; color: var(--muted); font-size: .8rem; }
"""

_BATCH_LABELS = {
    "en": {
        "title": "After-sales analysis reports",
        "lang": {"en": "English", "zh": "中文 (Chinese)"},
        "summary": "{n} reports: {ok} ok ({skipped} up to date, not run again), {failed} failed",
        "run": "Run", "data": "Data folder", "as_of": "As-of date", "auto": "from the data",
        "generated": "Generated", "store": "Store", "group": "Group reports",
        "metrics": "Key metrics", "failures": "Failures", "notebook": "Notebook",
        "language": "Language", "cell": "Cell", "error": "Error", "missing": "not run",
        "cached": "cached", "traceback": "traceback",
        "footer": "Generated by crm_analysis (crm-analysis batch). Links are relative: keep "
        "this folder together. Run times are those of the run that built each report.",
    },
    "zh": {
        "title": "售后客户分析报告",
        "lang": {"en": "English（英文）", "zh": "中文"},
        "summary": "共 {n} 份报告：{ok} 份成功（其中 {skipped} 份未变化、未重新运行），"
        "{failed} 份失败",
        "run": "批次", "data": "数据目录", "as_of": "分析日期", "auto": "取自数据",
        "generated": "生成时间", "store": "门店", "group": "集团报告",
        "metrics": "关键指标", "failures": "失败明细", "notebook": "笔记本",
        "language": "语言", "cell": "单元格", "error": "错误", "missing": "未运行",
        "cached": "沿用", "traceback": "错误追踪",
        "footer": "由 crm_analysis（crm-analysis batch）生成。链接为相对路径，请保持目录结构完整。"
        "运行时间为生成各报告时的耗时。",
    },
}


def _metric_value(by_nb: Mapping[str, Mapping[str, Any]], prefix: str, name: str) -> Any:
    metrics: dict[str, Any] = {}
    for stem, values in by_nb.items():
        if stem[:2] == prefix:
            metrics.update(values)
    if "/" in name:
        num, den = (metrics.get(part) for part in name.split("/", 1))
        if isinstance(num, int | float) and isinstance(den, int | float) and den:
            return num / den
        return None
    return metrics.get(name)


def _fmt(value: Any, fmt: str) -> str:
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return "–"
        return fmt.format(value)
    return str(value)


def build_batch_index(
    run_dir: str | os.PathLike[str],
    results: Sequence[BatchResult],
    *,
    stores: Mapping[str, str] | None = None,
    langs: Sequence[str] = ("en",),
    data_dir: str | os.PathLike[str] | None = None,
    as_of: str | None = None,
    run: str | None = None,
    generated_at: str | None = None,
) -> Path:
    """Write ``run_dir/index.html`` for a batch run and return its path.

    Per language: a stores x notebooks table (status, run time, links to the HTML report,
    the executed notebook and the metrics), the group reports, and the group's key metrics
    side by side (:data:`KEY_METRICS`, read from the recorded metrics); then the failures
    with their failing cell and traceback. One self-contained file (inline CSS, no
    scripts), written to a temporary name and renamed. The page labels are English when
    ``"en"`` is among ``langs``, else Chinese. ``generated_at`` defaults to now (or
    ``SOURCE_DATE_EPOCH``).

    Example
    -------
    >>> r = BatchResult("007", "Store 7", "en", "01_demo", "ok", 2.5)
    >>> build_batch_index("/tmp/batch-demo/2026-06", [r]).name  # doctest: +SKIP
    'index.html'
    """
    as_of = None if as_of is None else read_as_of(as_of).date().isoformat()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    page_lang = "en" if "en" in langs else "zh"
    lab = _BATCH_LABELS[page_lang]
    esc = escape_html
    if generated_at is None:
        generated_at = generated_now()
    stores = dict(stores or {})
    for r in results:
        if not r.group:
            stores.setdefault(r.store_id, r.store_name)
    store_ids = sorted(stores)
    n_ok = sum(r.ok for r in results)
    n_skipped = sum(r.skipped for r in results)
    n_failed = len(results) - n_ok

    def links(r: BatchResult) -> str:
        out = []
        for label, target in (("HTML", r.html_path), ("ipynb", r.ipynb_path),
                              ("metrics", r.metrics_path)):
            href = _href(target, run_dir)
            if href is not None:
                out.append(f'<a href="{esc(href)}">{label}</a>')
        return f'<span class="links">{"".join(out)}</span>'

    def cell(r: BatchResult | None) -> str:
        if r is None:
            return f'<td class="missing">{esc(lab["missing"])}</td>'
        text = (
            f'<td class="{esc(r.status)}"><span class="badge">{esc(r.status)}</span>'
            f'<span class="secs">{r.seconds:.1f} s</span>'
        )
        if r.skipped:
            text += f'<span class="cached">({esc(lab["cached"])})</span>'
        text += links(r)
        if r.error:
            where = f"[cell {r.cell_index}] " if r.cell_index is not None else ""
            text += f'<span class="err">{esc(where + r.error[:300])}</span>'
        return text + "</td>"

    out = [
        "<!DOCTYPE html>",
        f'<html lang="{"en" if page_lang == "en" else "zh-CN"}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(lab['title'])} – {esc(run or run_dir.name)}</title>",
        f"<style>{_BATCH_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(lab['title'])}</h1>",
        f'<p class="sub summary {"failed" if n_failed else "ok"}">'
        + esc(lab["summary"].format(n=len(results), ok=n_ok, skipped=n_skipped,
                                    failed=n_failed))
        + "</p>",
        '<dl class="params">',
    ]
    meta = [(lab["run"], run or run_dir.name)]
    if data_dir is not None:
        meta.append((lab["data"], str(Path(data_dir).resolve())))
    meta.append((lab["as_of"], as_of or lab["auto"]))
    meta.append((lab["generated"], generated_at))
    out += [f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in meta]
    out.append("</dl>")

    for lang in langs:
        mine = [r for r in results if r.lang == lang]
        store_res = {(r.store_id, r.notebook): r for r in mine if not r.group}
        group_res = [r for r in mine if r.group]
        nbs = sorted({r.notebook for r in store_res.values()})
        out.append(f'<h2 id="lang-{esc(lang)}">{esc(lab["lang"].get(lang, lang))}</h2>')
        out.append("<table><thead><tr><th>" + esc(lab["store"]) + "</th>"
                   + "".join(f"<th>{esc(nb)}</th>" for nb in nbs) + "</tr></thead><tbody>")
        for sid in store_ids:
            name = stores.get(sid, "")
            head = f"<th>{esc(sid)}" + (f"<br><small>{esc(name)}</small>" if name else "")
            out.append("<tr>" + head + "</th>"
                       + "".join(cell(store_res.get((sid, nb))) for nb in nbs) + "</tr>")
        out.append("</tbody></table>")
        if group_res:
            out.append(f"<h3>{esc(lab['group'])}</h3>")
            out.append("<table><thead><tr>"
                       + "".join(f"<th>{esc(r.notebook)}</th>" for r in group_res)
                       + "</tr></thead><tbody><tr>"
                       + "".join(cell(r) for r in group_res) + "</tr></tbody></table>")
        # key metrics side by side
        by_store: dict[str, dict[str, dict[str, Any]]] = {}
        for (sid, nb), r in store_res.items():
            if r.ok:
                by_store.setdefault(sid, {})[nb] = r.metrics
        shown = [
            m for m in KEY_METRICS
            if any(_metric_value(by_store.get(s, {}), m[2], m[3]) is not None
                   for s in store_ids)
        ]
        if shown:
            name_idx = 0 if lang == "en" else 1
            out.append(f"<h3>{esc(lab['metrics'])}</h3>")
            out.append("<table><thead><tr><th>" + esc(lab["store"]) + "</th>"
                       + "".join(f"<th>{esc(m[name_idx])}</th>" for m in shown)
                       + "</tr></thead><tbody>")
            for sid in store_ids:
                vals = [_fmt(_metric_value(by_store.get(sid, {}), m[2], m[3]), m[4])
                        for m in shown]
                out.append(f"<tr><th>{esc(sid)}</th>"
                           + "".join(f'<td class="num">{esc(v)}</td>' for v in vals)
                           + "</tr>")
            out.append("</tbody></table>")

    failed = [r for r in results if not r.ok]
    if failed:
        out.append(f"<h2>{esc(lab['failures'])}</h2>")
        out.append(
            f"<table><thead><tr><th>{esc(lab['store'])}</th><th>{esc(lab['language'])}</th>"
            f"<th>{esc(lab['notebook'])}</th><th>{esc(lab['cell'])}</th>"
            f"<th>{esc(lab['error'])}</th></tr></thead><tbody>"
        )
        for r in failed:
            href = _href(r.html_path or r.ipynb_path, run_dir)
            nb = f'<a href="{esc(href)}">{esc(r.notebook)}</a>' if href else esc(r.notebook)
            tb = (
                f"<details><summary>{esc(lab['traceback'])}</summary>"
                f"<pre>{esc(r.traceback[-8000:])}</pre></details>"
                if r.traceback
                else ""
            )
            out.append(
                f"<tr><td>{esc(r.store_id)}</td><td>{esc(r.lang)}</td><td>{nb}</td>"
                f"<td>{'' if r.cell_index is None else r.cell_index}</td>"
                f"<td><code>{esc(r.error)}</code>{tb}</td></tr>"
            )
        out.append("</tbody></table>")
    out += [f"<footer>{esc(lab['footer'])}</footer>", "</body>", "</html>", ""]
    index = run_dir / "index.html"
    write_text(index, "\n".join(out))
    return index

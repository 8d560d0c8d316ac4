"""Clean failure (issue 17, part 6): a killed batch leaves no process behind; a full disk,
a read-only folder and a special file in the data folder give one clear line and an exit
code, never a traceback nor a truncated file that looks finished.

Exit codes of `crm-analysis report` / `batch`: 2 for a FIFO, socket or device in the data
folder (refused before anything is read), 3 when the output cannot be written (disk full,
read-only, no permission).

The fast tests simulate the file system's refusal in-process (a ``Path.write_text`` that
writes half of its text and then fails like a full disk; a ``mkdir`` that fails like a
read-only mount) around a batch whose notebook execution is replaced by a stand-in, so no
kernel starts. The slow tests do it for real: a 256 kB tmpfs and a read-only tmpfs
mounted in a user namespace (``unshare``), and ``kill -9`` of a running
``crm-analysis batch`` with two workers and their kernels.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from crm_analysis import batch, cli
from crm_analysis.batch import check_run_dir, hash_data, run_batch
from crm_analysis.schema import example_dataset

PARAMS = 'data_dir = ""\nstore_id = "000"\nas_of = None\nlang = "en"'
HTML = "<!DOCTYPE html><html><body>" + "report " * 400 + "</body></html>\n"
_REAL_WRITE_TEXT = pathlib.Path.write_text


def _notebook(folder: Path, *cells: str, name: str = "01_tiny") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(PARAMS, metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells or ("1 + 1",)]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{name}.ipynb")
    return folder


@pytest.fixture(scope="module")
def nbs(tmp_path_factory) -> Path:
    return _notebook(tmp_path_factory.mktemp("nbs"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data")
    example_dataset().to_dir(path)
    return path


@pytest.fixture
def no_kernel(monkeypatch):
    """The batch's notebook execution and HTML conversion, without a kernel: the executed
    notebook is the source notebook, the HTML a fixed page written with Path.write_text."""
    def execute(notebook, output_path, parameters=None, **kw):
        nb = nbformat.read(str(notebook), as_version=4)
        Path(output_path).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(output_path))
        return Path(output_path)

    def html(ipynb, html_path, **kw):
        Path(html_path).write_text(HTML, encoding="utf-8")
        return Path(html_path)

    monkeypatch.setattr(batch, "execute_notebook", execute)
    monkeypatch.setattr(batch, "to_html", html)


def full_disk_at(monkeypatch, fragment: str) -> None:
    """Writing a file whose name contains ``fragment`` fails like a full disk: half of the
    text reaches the file, then ``OSError(ENOSPC)`` without a file name (as from a real
    ``write``)."""
    real = _REAL_WRITE_TEXT

    def write_text(self, text, *args, **kwargs):
        if fragment in self.name:
            real(self, text[: len(text) // 2], *args, **kwargs)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", write_text)


def _all_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}


def _argv(data: Path, nbs: Path, out: Path, *extra: str) -> list[str]:
    return ["batch", "--data", str(data), "--out", str(out), "--run", "r", "--notebooks-dir",
            str(nbs), "--stores", "001", "--jobs", "1", "--no-progress", *extra]


# ------------------------------------------------------------------------------- full disk


def test_full_disk_while_writing_the_html_fails_the_report_cleanly(data, nbs, tmp_path,
                                                                   no_kernel, monkeypatch):
    out = tmp_path / "out"
    full_disk_at(monkeypatch, "01_tiny.html")
    run = run_batch(data, out, notebooks_dir=nbs, stores="001", jobs=1, run="r",
                    progress=False)
    (r,) = run.results
    final = out / "r" / "001" / "en"
    assert r.status == "failed" and r.io_error
    assert r.error == f"disk full while writing {final / '01_tiny.html'}"
    # nothing of the report is left: no truncated HTML, no stamp, no staging, no temp file
    assert _all_files(out) == {"index.html", "r/index.html"}
    assert check_run_dir(out / "r") == []
    assert "disk full while writing" in (out / "r" / "index.html").read_text(encoding="utf-8")


def test_full_disk_through_the_command_line_is_one_line_and_exit_code_3(
        data, nbs, tmp_path, no_kernel, monkeypatch, capsys):
    out = tmp_path / "out"
    full_disk_at(monkeypatch, "01_tiny.html")
    assert cli.main(_argv(data, nbs, out)) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (
        "crm-analysis batch: 1 report(s) could not be written (disk full while writing "
        f"{out / 'r' / '001' / 'en' / '01_tiny.html'}); free space or fix the folder and "
        "run the same command again")
    assert not list(out.rglob("01_tiny.*"))


def test_full_disk_while_writing_the_stamp_leaves_nothing_marked_done(
        data, nbs, tmp_path, no_kernel, monkeypatch):
    out = tmp_path / "out"
    full_disk_at(monkeypatch, "01_tiny.stamp.json")
    (r,) = run_batch(data, out, notebooks_dir=nbs, stores="001", jobs=1, run="r",
                     progress=False).results
    assert r.io_error and r.error.startswith("disk full while writing ")
    assert r.error.endswith("01_tiny.stamp.json")
    assert not list(out.rglob("*.stamp.json")) and not list(out.rglob("*.tmp"))
    assert check_run_dir(out / "r") == []
    monkeypatch.setattr(pathlib.Path, "write_text", _REAL_WRITE_TEXT)
    # space again: the same command builds it (nothing was taken for done)
    (again,) = run_batch(data, out, notebooks_dir=nbs, stores="001", jobs=1, run="r",
                         progress=False).results
    assert again.ok and not again.skipped
    assert check_run_dir(out / "r") == []


def test_full_disk_while_writing_the_index_is_one_line_and_no_half_index(
        data, nbs, tmp_path, no_kernel, monkeypatch, capsys):
    out = tmp_path / "out"
    full_disk_at(monkeypatch, "index.html")
    assert cli.main(_argv(data, nbs, out)) == 3
    err = capsys.readouterr().err.strip()
    assert err == f"crm-analysis batch: disk full while writing {out / 'r' / 'index.html'}"
    assert not list(out.rglob("*index.html*"))  # neither a half index nor its temp file
    assert check_run_dir(out / "r") == []  # the report itself was finished and stamped
    assert len(list(out.rglob("*.stamp.json"))) == 1


# ------------------------------------------------------------------------------- read-only


def read_only_below(monkeypatch, root: Path) -> None:
    """Creating a folder below ``root`` fails like a read-only mount."""
    real = pathlib.Path.mkdir

    def mkdir(self, *args, **kwargs):
        if str(self).startswith(str(root)):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)


@pytest.mark.parametrize("command", ["batch", "report"])
def test_read_only_output_folder_is_one_line_and_exit_code_3(command, data, nbs, tmp_path,
                                                             monkeypatch, capsys):
    out = tmp_path / "ro"
    read_only_below(monkeypatch, out)
    argv = _argv(data, nbs, out) if command == "batch" else [
        "report", "--data", str(data), "--out", str(out), "--store", "001",
        "--notebooks-dir", str(nbs), "--no-progress"]
    assert cli.main(argv) == 3
    err = capsys.readouterr().err
    target = out / "r" if command == "batch" else out
    assert err == (f"crm-analysis {command}: cannot write {target}: the folder is on a "
                   "read-only file system\n")
    assert not out.exists()


def test_quarantine_csv_into_a_read_only_folder_is_one_line(tmp_path, monkeypatch, capsys):
    """Any command: the file system's refusal is caught at the command line's boundary."""
    from crm_analysis.synth import generate

    raw = tmp_path / "export.csv"
    generate(n_stores=1, seed=3, start="2023-01-01", as_of="2023-06-30", scale=0.01) \
        .repair_orders.head(3).to_csv(raw, index=False)
    q = tmp_path / "ro" / "q.csv"
    read_only_below(monkeypatch, q.parent)
    code = cli.main(["validate", str(raw), "--store-id", "001", "--quarantine", str(q)])
    err = capsys.readouterr().err
    assert code == 3, err
    assert err.splitlines()[-1] == (f"crm-analysis validate: cannot write {q.parent}: the "
                                    "folder is on a read-only file system")


# --------------------------------------------------------------------------- special files


def _special_files():
    kinds = []
    if hasattr(os, "mkfifo"):
        kinds.append(("fifo", "a named pipe (FIFO)"))
    if hasattr(socket, "AF_UNIX"):
        kinds.append(("socket", "a socket"))
    return kinds


def _make_special(kind: str, path: Path):
    if kind == "fifo":
        os.mkfifo(path)
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    return sock


@pytest.fixture(params=_special_files(), ids=lambda k: k[0])
def special_data(request, data, tmp_path):
    """A copy of the dataset folder with a FIFO or a socket named like a data file."""
    kind, words = request.param
    folder = tmp_path / "data"
    shutil.copytree(data, folder, ignore=shutil.ignore_patterns(".crm_analysis_key"))
    sock = _make_special(kind, folder / "extra.csv")
    yield folder, words
    if sock is not None:
        sock.close()


def _in_thread(fn, seconds=10.0):
    """``fn()`` in a thread: its exception, or a failure when it blocks (reading a FIFO)."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"blocked for {seconds} s"
    return box


def test_hash_data_refuses_a_fifo_or_socket_without_opening_it(special_data):
    folder, words = special_data
    box = _in_thread(lambda: hash_data(folder))
    assert isinstance(box.get("error"), ValueError)
    assert str(box["error"]) == (
        f"hash_data: {folder / 'extra.csv'} is {words}, not a regular file: a data folder "
        "may hold only files and folders (reading it could block forever); remove it")


@pytest.mark.parametrize("command", ["batch", "report", "validate"])
def test_a_special_file_in_the_data_folder_is_exit_code_2_before_anything_runs(
        command, special_data, nbs, tmp_path, capsys):
    folder, words = special_data
    out = tmp_path / "out"
    argv = {"batch": _argv(folder, nbs, out),
            "report": ["report", "--data", str(folder), "--out", str(out), "--store", "001",
                       "--notebooks-dir", str(nbs), "--no-progress"],
            "validate": ["validate", str(folder)]}[command]
    box = _in_thread(lambda: cli.main(argv))
    assert box.get("value") == 2, box
    err = capsys.readouterr().err
    assert f"{folder / 'extra.csv'} is {words}, not a regular file" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
    assert not (folder / ".crm_analysis_key").exists()


# ----------------------------------------------------------------------- the parent watchdog


def _worker(batch_pid: int, no_pidfd: bool) -> None:
    if no_pidfd:  # the fallback of systems without pidfd_open: polling
        del os.pidfd_open
    batch._worker_init(batch_pid)
    time.sleep(60)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork, /proc")
@pytest.mark.parametrize("no_pidfd", [False, True], ids=["pidfd", "polling"])
def test_a_worker_ends_when_the_batch_process_is_killed(no_pidfd):
    """The batch stand-in is killed with SIGKILL and not reaped (a zombie, as when its own
    parent has not waited for it yet): the worker still notices and ends."""
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    worker = multiprocessing.get_context("fork").Process(
        target=_worker, args=(stand_in.pid, no_pidfd), daemon=True)
    worker.start()
    try:
        time.sleep(0.3)
        assert worker.is_alive()
        os.kill(stand_in.pid, signal.SIGKILL)
        worker.join(5)
        assert not worker.is_alive(), "the worker outlived the batch"
        assert worker.exitcode == 1
    finally:
        if worker.is_alive():
            worker.kill()
        stand_in.kill()
        stand_in.wait()


# ----------------------------------------------------------------------- real, slow tests


def _marked_processes(marker: str) -> list[str]:
    """The processes whose environment holds ``marker`` (set for one batch run only)."""
    found = []
    needle = marker.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            if needle in env:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
                found.append(f"{entry} {cmd[:100].decode(errors='replace')}")
        except OSError:
            continue
    return found


@pytest.mark.slow  # two real kernels start (about 10 s on 2 cores)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_kill_9_of_a_batch_leaves_no_process_behind(data, tmp_path):
    nbs = _notebook(tmp_path / "nbs", "import time\ntime.sleep(120)", name="01_slow")
    _notebook(nbs, "import time\ntime.sleep(120)", name="02_slow")
    marker = f"CRM_ANALYSIS_TEST_RUN={uuid.uuid4().hex}"
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    argv = [sys.executable, "-m", "crm_analysis", *_argv(data, nbs, tmp_path / "out")]
    argv[argv.index("--jobs") + 1] = "2"
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # both workers have started their kernels
            if sum("ipykernel" in p for p in _marked_processes(marker)) >= 2:
                break
            assert proc.poll() is None, "the batch ended early"
            time.sleep(0.2)
        else:
            pytest.fail(f"kernels did not start: {_marked_processes(marker)}")
        proc.kill()  # SIGKILL to the batch process only: no chance to clean up
        deadline = time.monotonic() + 10
        left = [p for p in _marked_processes(marker) if int(p.split()[0]) != proc.pid]
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = [p for p in _marked_processes(marker) if int(p.split()[0]) != proc.pid]
        assert left == [], "processes outlived the killed batch"
    finally:
        proc.kill()
        proc.wait()
        for p in _marked_processes(marker):  # never leave them to the next test
            os.kill(int(p.split()[0]), signal.SIGKILL)


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                           capture_output=True)
    return probe.returncode == 0


def _in_own_mount(mount: str, target: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """``argv`` in a user and mount namespace where ``target`` is a fresh tmpfs mounted
    with ``mount`` options: the mount is gone when it ends, nothing to clean up."""
    script = f'mount -t tmpfs -o {mount} tmpfs "$1" && shift && exec "$@"'
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                           script, "sh", str(target), *argv],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # a real batch (one kernel) into a 256 kB file system
@pytest.mark.skipif(not _unshare_works(), reason="no user namespaces (unshare)")
def test_real_full_disk(data, tmp_path):
    nbs = _notebook(tmp_path / "nbs", 'print("x" * 100)', name="01_q")
    out = tmp_path / "out"
    out.mkdir()
    script = (f"import sys; from crm_analysis import cli; rc = cli.main(sys.argv[1:]); "
              f"import os; print('FILES', sorted(os.path.relpath(os.path.join(d, f), "
              f"{str(out)!r}) for d, _, fs in os.walk({str(out)!r}) for f in fs)); "
              "sys.exit(rc)")
    done = _in_own_mount("size=256k", out,
                         [sys.executable, "-c", script, *_argv(data, nbs, out)])
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    html = out / "r" / "001" / "en" / "01_q.html"
    assert done.stderr.splitlines()[-1] == (
        f"crm-analysis batch: 1 report(s) could not be written (disk full while writing "
        f"{html}); free space or fix the folder and run the same command again")
    # the index was written once the report's staging space was freed; no half file
    assert "FILES ['index.html', 'r/index.html']" in done.stdout


@pytest.mark.slow  # two real command lines (their imports take a few seconds each)
@pytest.mark.skipif(not _unshare_works(), reason="no user namespaces (unshare)")
@pytest.mark.parametrize("command", ["batch", "report"])
def test_real_read_only_output_folder(command, data, nbs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    argv = _argv(data, nbs, out) if command == "batch" else [
        "report", "--data", str(data), "--out", str(out / "rep"), "--store", "001",
        "--notebooks-dir", str(nbs), "--no-progress"]
    done = _in_own_mount("ro,size=64k", out, [sys.executable, "-m", "crm_analysis", *argv])
    assert done.returncode == 3
    target = out / "r" if command == "batch" else out / "rep"
    assert done.stderr == (f"crm-analysis {command}: cannot write {target}: the folder is "
                           "on a read-only file system\n")

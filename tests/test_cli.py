"""Tests for the crm-analysis command line (no notebook is executed here)."""

from __future__ import annotations

import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from crm_analysis import cli, reporting

SUBCOMMAND_OPTIONS = {
    "synth": ["--stores", "--seed", "--start", "--years", "--as-of", "--out", "--format", "dms"],
    "validate": ["PATH"],
    "report": ["--data", "--store", "--lang", "--as-of", "--notebooks", "--out", "-p"],
    "batch": ["--data", "--stores", "--as-of", "--lang", "--jobs", "--out", "--run", "--force",
              "--timeout", "-p", "some reports failed"],
}


def test_top_level_help(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in SUBCOMMAND_OPTIONS:
        assert command in out
    assert "exit codes" in out


@pytest.mark.parametrize("command", sorted(SUBCOMMAND_OPTIONS))
def test_subcommand_help(command, capsys):
    assert cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    for option in SUBCOMMAND_OPTIONS[command]:
        assert option in out
    assert "exit codes" in out and "usage error" in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["synth", "--stores", "zero"],
        ["synth", "--stores", "0"],
        ["synth", "--start", "2014/01/01"],
        ["synth", "--format", "xlsx"],
        ["validate"],
        ["report", "--lang", "fr"],
        ["report", "--bogus"],
        ["synth", "--years", "0"],
        ["batch", "--jobs", "0"],
        ["batch", "--as-of", "30/06/2026"],
        ["batch", "--timeout", "soon"],
        ["batch", "--bogus"],
    ],
)
def test_bad_arguments_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    capsys.readouterr()


def test_missing_folders_exit_2(tmp_path, capsys):
    assert cli.main(["validate", str(tmp_path / "nope")]) == 2
    assert cli.main(["report", "--data", str(tmp_path / "nope")]) == 2
    assert cli.main(["batch", "--data", str(tmp_path / "nope")]) == 2
    assert "not found" in capsys.readouterr().err


def test_synth_start_after_as_of_exit_2(tmp_path, capsys):
    argv = ["synth", "--start", "2027-01-01", "--as-of", "2026-06-30", "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "--start" in capsys.readouterr().err


# --------------------------------------------------------------------------- with stubs


@dataclass
class FakeDataset:
    stores: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"store_id": ["001", "002"], "store_name": ["A", "B"]})
    )
    repair_orders: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"ro_id": ["1"] * 5}))
    meta: dict = field(default_factory=dict)
    written: list = field(default_factory=list)

    def to_dir(self, path, format="parquet"):
        self.written.append((Path(path), format))


def test_synth_calls_generator_and_writes(tmp_path, monkeypatch, capsys):
    from crm_analysis.synth import command as synth

    calls = {}
    dataset = FakeDataset()

    def fake_generate(**kwargs):
        calls.update(kwargs)
        return dataset

    monkeypatch.setattr(synth, "generate", fake_generate, raising=False)
    argv = [
        "synth",
        "--stores",
        "2",
        "--seed",
        "7",
        "--start",
        "2015-01-01",
        "--as-of",
        "2025-12-31",
        "--out",
        str(tmp_path),
        "--format",
        "csv",
    ]
    assert cli.main(argv) == 0
    assert calls == {"n_stores": 2, "seed": 7, "start": "2015-01-01", "as_of": "2025-12-31",
                     "scale": 1.0}
    assert dataset.written == [(tmp_path, "csv")]
    out = capsys.readouterr().out
    assert "stores" in out and "repair_orders" in out and "5 rows" in out


def test_synth_years_sets_the_start(tmp_path, monkeypatch, capsys):
    from crm_analysis.synth import command as synth

    calls = {}
    monkeypatch.setattr(synth, "generate", lambda **kw: calls.update(kw) or FakeDataset(),
                        raising=False)
    argv = ["synth", "--years", "3", "--as-of", "2026-06-30", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    assert calls["start"] == "2023-06-30" and calls["as_of"] == "2026-06-30"
    capsys.readouterr()


def test_synth_format_dms_writes_a_raw_export(tmp_path, capsys):
    from crm_analysis.context import is_raw_source

    out = tmp_path / "dms"
    argv = ["synth", "--stores", "1", "--years", "2", "--scale", "0.03", "--format", "dms",
            "--out", str(out)]
    assert cli.main(argv) == 0
    files = sorted(p.name for p in out.iterdir())
    assert "manifest.json" in files and any(f.endswith((".csv", ".xlsx")) for f in files)
    assert is_raw_source(out)
    assert "DMS export" in capsys.readouterr().out


def test_batch_passes_options_through(tmp_path, monkeypatch, capsys):
    from crm_analysis import batch

    seen = {}

    def fake_run(data_dir, out_dir, **kw):
        seen.update(kw, data_dir=data_dir, out_dir=out_dir)
        ok = batch.BatchResult("007", "A", "en", "01_x", "ok", 1.0, skipped=True)
        bad = batch.BatchResult("010", "B", "zh", "01_x", "failed", 1.0, cell_index=3,
                                error="KeyError: x")
        return batch.BatchRun(tmp_path / "r" / "2026-03", tmp_path / "i.html", [ok, bad])

    monkeypatch.setattr(batch, "run_batch", fake_run)
    argv = ["batch", "--data", str(tmp_path), "--stores", "007,010", "--lang", "en,zh",
            "--as-of", "2026-03-31", "--jobs", "3", "--run", "march", "--force",
            "--timeout", "0", "--out", str(tmp_path / "r"), "--no-progress"]
    assert cli.main(argv) == 1
    assert seen["stores"] == "007,010" and seen["langs"] == "en,zh"
    assert seen["as_of"] == "2026-03-31" and seen["jobs"] == 3 and seen["run"] == "march"
    assert seen["force"] is True and seen["timeout"] is None
    captured = capsys.readouterr()
    assert "1 of 2 reports ok (1 up to date, 1 run)" in captured.out
    assert "FAILED 010/zh/01_x (cell 3): KeyError: x" in captured.err


class FakeReport:
    def __init__(self, ok):
        self.ok = ok

    def __str__(self):
        return "all good" if self.ok else "2 violations in repair_orders"


@pytest.mark.parametrize(("ok", "code"), [(True, 0), (False, 1)])
def test_validate_exit_code(ok, code, tmp_path, monkeypatch, capsys):
    class Dataset:
        @classmethod
        def from_dir(cls, path):
            assert Path(path) == tmp_path
            return types.SimpleNamespace(validate=lambda: FakeReport(ok))

    monkeypatch.setattr(cli, "Dataset", Dataset)
    assert cli.main(["validate", str(tmp_path)]) == code
    assert str(FakeReport(ok)) in capsys.readouterr().out


def test_report_passes_options_through(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_run(data_dir, out_dir, **kw):
        seen.update(kw, data_dir=data_dir, out_dir=out_dir)
        return [reporting.ReportResult("001", "A", "01_x", "ok", 1.0, None, None)]

    monkeypatch.setattr(reporting, "run_reports", fake_run)
    argv = [
        "report",
        "--data",
        str(tmp_path),
        "--store",
        "001,007",
        "--lang",
        "zh",
        "--as-of",
        "2026-03-31",
        "--notebooks",
        "01,02",
        "--out",
        str(tmp_path / "r"),
    ]
    assert cli.main(argv) == 0
    assert seen["stores"] == ["001", "007"]  # ids stay strings, leading zeros kept
    assert seen["notebooks"] == ["01", "02"]
    assert seen["lang"] == "zh" and seen["as_of"] == "2026-03-31"
    assert Path(seen["out_dir"]) == tmp_path / "r"
    assert "1 of 1 reports ok" in capsys.readouterr().out


# --------------------------------------------------------------------------- entry points


# slow (a new Python process importing the whole command line: 5-9 s); the fast suite
# runs the same commands in-process through cli.main
@pytest.mark.slow
@pytest.mark.parametrize("module", ["crm_analysis", "crm_analysis.reporting"])
def test_python_dash_m_help(module):
    proc = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "--help" in proc.stdout or "usage" in proc.stdout


# slow (a new Python process importing the whole command line: 5-9 s); the fast suite
# runs the same commands in-process through cli.main
@pytest.mark.slow
def test_python_dash_m_bad_args_exit_2():
    proc = subprocess.run(
        [sys.executable, "-m", "crm_analysis", "report", "--lang", "xx"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr


def test_synth_scale_reaches_the_generator_and_module_entry_point(tmp_path):
    """`python -m crm_analysis.synth` and `crm-analysis synth` are one command."""
    from crm_analysis.schema import Dataset

    args = ["--stores", "1", "--seed", "3", "--start", "2024-01-01", "--as-of", "2024-12-31"]
    small, big = tmp_path / "small", tmp_path / "big"
    assert cli.main(["synth", *args, "--scale", "0.1", "--out", str(small)]) == 0
    proc = subprocess.run([sys.executable, "-m", "crm_analysis.synth", *args, "--scale", "0.4",
                           "--out", str(big)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    a, b = Dataset.from_dir(small), Dataset.from_dir(big)
    assert a.meta["scale"] == 0.1 and b.meta["scale"] == 0.4
    assert 2.5 < len(b.vehicles) / len(a.vehicles) < 6

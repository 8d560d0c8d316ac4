"""Contained paths (issue 17, part 3): `crm-analysis report` and `batch` refuse every id
that cannot be a folder name, before anything is written, and never write outside --out.

Store ids come from the data (a DMS export is written by many hands) or from the command
line; run names from the command line. The checks are crm_analysis.safety's; these tests
run the commands on a five-order dataset and a one-cell notebook, and no kernel starts.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from crm_analysis import cli, lab
from crm_analysis.batch import run_batch
from crm_analysis.schema import example_dataset

#: Ids that must never become a folder name (each is refused with the same message).
UNSAFE_IDS = ["../../evil", "/tmp/crm-absolute", "..", ".hidden", "a/b", "a\\b", "CON",
              "nul.txt", "x" * 65, "semi;colon", "line\nbreak", "-rf"]


def _notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        'data_dir = ""\nstore_id = "000"\nas_of = None\nlang = "en"',
        metadata={"tags": ["parameters"]}), nbformat.v4.new_code_cell("1 + 1")]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "01_tiny.ipynb")
    return folder


def _dataset_dir(path: Path, ids: dict[str, str]) -> Path:
    """The example dataset with its store ids ``001`` and ``007`` renamed."""
    ds = example_dataset()
    for df in ds.tables.values():
        if df is not None and "store_id" in df.columns:
            df["store_id"] = df["store_id"].replace(ids)
    ds.to_dir(path)
    return path


@pytest.fixture(scope="module")
def nbs(tmp_path_factory) -> Path:
    return _notebook(tmp_path_factory.mktemp("nbs"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return _dataset_dir(tmp_path_factory.mktemp("data"), {})


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("sid", UNSAFE_IDS)
def test_report_refuses_an_unsafe_store_id_before_writing_anything(sid, data, nbs, tmp_path,
                                                                   capsys):
    out = tmp_path / "a" / "b" / "out"
    before = _files(tmp_path)
    code = cli.main(["report", "--data", str(data), f"--store={sid}", "--out", str(out),
                     "--notebooks-dir", str(nbs), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"crm-analysis report: store id {sid!r} cannot be used as a folder")
    assert err.count("\n") == 1  # one line
    assert _files(tmp_path) == before  # not even --out was created


@pytest.mark.parametrize("sid", ["../../evil", "/tmp/crm-absolute", "..", "CON"])
def test_batch_refuses_an_unsafe_store_id_before_writing_anything(sid, data, nbs, tmp_path,
                                                                  capsys):
    out = tmp_path / "out"
    code = cli.main(["batch", "--data", str(data), f"--stores={sid}", "--out", str(out),
                     "--notebooks-dir", str(nbs), "--no-progress", "--jobs", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"crm-analysis batch: store id {sid!r} cannot be used as a folder")
    assert not out.exists()


@pytest.mark.parametrize("run", ["../x", "/tmp/crm-run", ".staging", "..", "a/b"])
def test_batch_refuses_an_unsafe_run_name(run, data, nbs, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["batch", "--data", str(data), "--run", run, "--out", str(out),
                     "--notebooks-dir", str(nbs), "--no-progress"])
    assert code == 2
    assert f"run name {run!r} cannot be used as a folder" in capsys.readouterr().err
    assert not out.exists()


def test_unsafe_store_ids_in_the_data_are_refused_by_report_and_batch(nbs, tmp_path, capsys):
    """The probe's case: a store id '../../x' (or an absolute path) in the data made
    `report` write outside --out. Every store of the data is checked when none is given."""
    data = _dataset_dir(tmp_path / "data", {"001": "../../evil", "007": str(tmp_path / "abs")})
    out = tmp_path / "a" / "b" / "out"
    for command in ("report", "batch"):
        code = cli.main([command, "--data", str(data), "--out", str(out), "--notebooks-dir",
                         str(nbs), "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2
        assert f"crm-analysis {command}: store id '../../evil' cannot be used" in err
    assert not out.exists()
    assert not (tmp_path / "a" / "evil").exists() and not (tmp_path / "abs").exists()
    # not even the pseudonymization key: the batch checks the ids before creating it
    assert not (data / ".crm_analysis_key").exists()


def test_run_batch_refuses_unsafe_ids_and_the_group_folder_name(nbs, tmp_path):
    data = _dataset_dir(tmp_path / "data", {"001": "group"})
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"^run_batch: run name '\.\./x' cannot be used"):
        run_batch(data, out, run="../x", notebooks_dir=nbs, progress=False)
    with pytest.raises(ValueError, match=r"^run_batch: store id 'group' cannot be used as a "
                                         r"folder name: 'group' holds the group notebooks"):
        run_batch(data, out, notebooks_dir=nbs, progress=False)
    assert not out.exists()


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="symbolic links")
def test_a_link_inside_out_that_leads_outside_is_refused(data, nbs, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "007").symlink_to(elsewhere, target_is_directory=True)
    code = cli.main(["report", "--data", str(data), "--store", "007", "--out", str(out),
                     "--notebooks-dir", str(nbs), "--no-progress"])
    assert code == 2
    assert "would lie outside" in capsys.readouterr().err
    (out / "r").symlink_to(elsewhere, target_is_directory=True)
    code = cli.main(["batch", "--data", str(data), "--stores", "001", "--run", "r", "--out",
                     str(out), "--notebooks-dir", str(nbs), "--no-progress"])
    assert code == 2
    assert "would lie outside" in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="symbolic links")
def test_reader_copies_stay_inside_their_folder(tmp_path, monkeypatch):
    """`crm-analysis lab --lang` writes one-language copies: only inside their folder."""
    from crm_analysis import config

    sources = lab.notebook_sources()
    lesson = next(s for s in sources if s.parent.name == "lessons")
    monkeypatch.setattr(lab, "notebook_sources", lambda: [lesson])
    out = tmp_path / "reader"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "lessons").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ValueError, match="reader_copies: .* would lie outside"):
        lab.reader_copies("zh", out)
    assert list(elsewhere.iterdir()) == []
    (out / "lessons").unlink()
    lab.reader_copies("zh", out)
    copy = out / lesson.relative_to(config.NOTEBOOKS_DIR).with_suffix(".ipynb")
    assert nbformat.read(copy, as_version=4).cells
    assert [p.name for p in copy.parent.iterdir()] == [copy.name]  # no temporary file left

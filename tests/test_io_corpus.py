"""The bad-input corpus: every file of tests/data/bad_inputs loads to its expected outcome.

Each corpus entry (a file or a folder, made by ``tests/data/bad_inputs/make_corpus.py``)
shows one kind of failure. ``expected.yaml`` records what :func:`crm_analysis.io.load`
must do with it: raise a :class:`~crm_analysis.io.DataError` whose message contains the
given fragments, or read, accept, merge, quarantine (by reason) and flag (by reason)
exactly the given numbers of rows. On every entry that loads, the accounting identity
``read = accepted + duplicates + quarantined`` holds, the quarantine lists exactly the
quarantined rows, the dataset is valid and no personal data of the input shows in the
quarantine or the flags.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pytest
import yaml

from crm_analysis.io import REASONS, DataError, DataWarning, load
from crm_analysis.io.normalize import FLAG_REASONS, QUARANTINE_REASONS

CORPUS = Path(__file__).parent / "data" / "bad_inputs"
EXPECTED: dict[str, dict] = yaml.safe_load((CORPUS / "expected.yaml").read_text("utf-8"))
NOT_INPUTS = {"make_corpus.py", "expected.yaml", "__pycache__"}
KEY = "corpus-test-key"
# Personal data written into the corpus files: must never come out of load() in clear.
PII = ("张伟", "李娜", "王芳", "13800000001", "13900000002", "13900000099", "13700000003",
       "皖A12345", "皖B67890")


def _load_module():
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_corpus_is_complete():
    on_disk = {p.name for p in CORPUS.iterdir()
               if p.name not in NOT_INPUTS and not p.name.startswith(".")}  # key files
    assert on_disk == set(EXPECTED), "every corpus entry needs an expected outcome and a file"
    assert set(_load_module().CORPUS) == on_disk
    assert len(EXPECTED) >= 30
    errors = [n for n, e in EXPECTED.items() if "error" in e]
    assert len(errors) >= 15 and len(EXPECTED) - len(errors) >= 15
    for name, e in EXPECTED.items():
        assert e.get("what"), f"{name}: say what the entry shows"
        if "error" not in e:
            assert {"read", "accepted", "duplicates", "quarantined", "flags"} <= set(e), name


def test_corpus_covers_every_reason():
    seen_q = {r for e in EXPECTED.values() for r in e.get("quarantined", {})}
    seen_f = {r for e in EXPECTED.values() for r in e.get("flags", {})}
    assert seen_q == set(QUARANTINE_REASONS)
    assert seen_f == set(FLAG_REASONS)
    assert any(e.get("duplicates") for e in EXPECTED.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_entry(name):
    e = EXPECTED[name]
    path = CORPUS / name
    options = e.get("options", {})
    if "error" in e:
        with pytest.raises(DataError) as info:
            load(path, key=KEY, **options)
        message = str(info.value)
        for fragment in e["error"]:
            assert fragment in message, f"{fragment!r} not in {message!r}"
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        res = load(path, key=KEY, **options)
    skipped = [(s["sheet"], s["rows"]) for s in res.meta.get("skipped_sheets", [])]
    assert skipped == [tuple(x) for x in e.get("skipped_sheets", [])]
    assert len([w for w in caught if issubclass(w.category, DataWarning)]) == len(skipped)
    r = res.report
    res.check()
    assert (r["read"] == r["accepted"] + r["duplicates"] + r["quarantined"]).all()
    got = {"read": int(r["read"].sum()), "accepted": int(r["accepted"].sum()),
           "duplicates": int(r["duplicates"].sum())}
    assert got == {k: e[k] for k in got}
    quarantined = res.quarantine["reason"].value_counts().to_dict()
    assert quarantined == e["quarantined"]
    assert int(r["quarantined"].sum()) == len(res.quarantine) == sum(e["quarantined"].values())
    for reason, n in e["quarantined"].items():  # the report's per-reason columns agree
        assert int(r[reason].sum()) == n
    assert res.flags["reason"].value_counts().to_dict() == e["flags"]
    assert int(r["title_rows"].sum()) == e.get("title_rows", 0)
    assert set(res.quarantine["reason"]) <= set(REASONS)
    assert res.quarantine["message"].map(bool).all()
    assert res.quarantine["row"].notna().all() and (res.quarantine["row"] >= 1).all()
    report = res.dataset.validate()
    assert report.ok, report
    shown = res.quarantine.to_string() + res.flags.to_string() + str(
        res.quarantine["raw"].tolist())
    leaked = [p for p in PII if p in shown]
    assert not leaked, f"personal data in the quarantine or flags: {leaked}"


def test_quarantine_rows_point_at_the_source_lines():
    res = load(CORPUS / "43_malformed_rows.csv", key=KEY)
    q = res.quarantine.set_index("row")
    assert q.loc[3, "reason"] == "malformed_row"  # R002: unquoted 1,200
    assert "10 fields" in q.loc[3, "message"] and "header 9" in q.loc[3, "message"]
    assert q.loc[5, "reason"] == "malformed_row"  # R004: a note in an extra field
    assert set(res.dataset.repair_orders["ro_id"]) == {"R001", "R003", "R006"}
    res = load(CORPUS / "26_title_blank_totals.csv", key=KEY)
    assert res.quarantine[["row", "reason"]].to_dict("records") == [
        {"row": 6, "reason": "blank_row"}, {"row": 8, "reason": "summary_row"}]


MADE_WITH = {"openpyxl": "3.1.5", "pyarrow": "26.0.1"}


def test_make_corpus_recreates_the_files_identically():
    import openpyxl
    import pyarrow

    same_libs = (openpyxl.__version__, pyarrow.__version__) == (
        MADE_WITH["openpyxl"], MADE_WITH["pyarrow"])
    files = _load_module().build()
    assert len(files) >= len(EXPECTED)
    for path, data in files.items():
        if path.suffix in (".xlsx", ".parquet") and not same_libs and data[:2] == b"PK":
            continue  # library output may change between versions; the rest must not
        if path.suffix == ".parquet" and not same_libs:
            continue
        assert path.read_bytes() == data, f"{path.relative_to(CORPUS)} differs from make_corpus"

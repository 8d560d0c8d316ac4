"""``crm-analysis validate`` on raw DMS exports (and still on dataset folders)."""

from __future__ import annotations

import pandas as pd
import pytest
from raw_export import find_pii, make_export, pii_values

from crm_analysis import cli
from crm_analysis.context import is_raw_source
from crm_analysis.io import load
from crm_analysis.schema import example_dataset


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("raw") / "dms"
    ds, manifest = make_export(folder, scale=0.03)  # one GBK CSV and one .xlsx
    result = load(folder, as_of="2026-06-30")  # the key file the CLI uses too
    return folder, ds, manifest, result


def _run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_raw_folder_prints_report_and_quarantine(export, capsys, tmp_path):
    folder, ds, manifest, result = export
    assert is_raw_source(folder)
    qfile = tmp_path / "q.csv"
    code, out, err = _run(["validate", str(folder), "--as-of", "2026-06-30",
                           "--quarantine", str(qfile)], capsys)
    assert code == 0, err
    rep = result.report
    read, accepted = int(rep["read"].sum()), int(rep["accepted"].sum())
    dups, quarantined = int(rep["duplicates"].sum()), int(rep["quarantined"].sum())
    assert f"{read:,} rows read, {accepted:,} accepted, {dups:,} exact duplicates merged, " \
           f"{quarantined:,} quarantined, {len(result.flags):,} flagged" in out
    assert quarantined > 0 and dups > 0 and len(result.flags) > 0
    # the load report: one line per file with its counts
    for _, r in rep.iterrows():
        name = r["file"].rsplit("/", 1)[-1]
        line = next(li for li in out.splitlines() if name in li and "flat" in li)
        assert line.split()[-4:] == [str(r[c]) for c in
                                     ("read", "accepted", "duplicates", "quarantined")]
    # the quarantine summary: every (file, reason) count of the LoadResult
    section = out.split("Quarantine by file and reason:")[1].split("Flags (rows kept)")[0]
    counts = result.quarantine.groupby(["file", "reason"]).size()
    assert len(counts) >= 8
    for (file, reason), k in counts.items():
        name = file.rsplit("/", 1)[-1]
        assert any(li.split()[:3] == [name, reason, str(k)] for li in section.splitlines()), \
            (name, reason, k)
    assert f"(all files) (all reasons) {quarantined}" in " ".join(section.split())
    flags = out.split("Flags (rows kept) by file and reason:")[1]
    assert "mileage_backwards" in flags
    # schema validation of the accepted data, and the quarantine file
    assert "Schema validation of the accepted data" in out and "OK, no violations" in out
    q = pd.read_csv(qfile, encoding="utf-8-sig")
    assert len(q) == quarantined
    assert q["reason"].value_counts().to_dict() == \
        result.quarantine["reason"].value_counts().to_dict()
    # nothing printed or written holds raw personal data
    assert find_pii([_write(tmp_path / "out.txt", out + err), qfile], pii_values(ds)) == []


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_single_file_and_show(export, capsys):
    folder, *_ = export
    csv = sorted(folder.glob("*.csv"))[0]
    code, out, _ = _run(["validate", str(csv), "--show", "1"], capsys)
    assert code == 0
    assert "loaded 1 file(s)" in out and csv.name in out and "first 1 of each reason" in out


def test_nothing_usable_exits_1(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_bytes("工单号,进厂日期,车架号,客户编号,门店,业务类型,合计金额\n"
                     "R1,2023/1/5,BADVIN,C1,001,首保,300\n".encode("gbk"))
    code, out, err = _run(["validate", str(path)], capsys)
    assert code == 1
    assert "0 accepted" in out and "invalid_vin" in out
    assert "nothing usable was loaded" in err


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        (b"\x00\x01\x02garbage\xff\xfe", "binary"),
        ("工单号,进厂日期,车架号,客户编号,业务类型\nR1,2023/1/5,LSVAA4180E2000001,C1,首保\n"
         .encode("gbk"), "--store-id"),
    ],
)
def test_data_error_exits_1_with_message(content, expect, tmp_path, capsys):
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    code, out, err = _run(["validate", str(path)], capsys)
    assert code == 1
    assert "error: cannot load" in err and "export.csv" in err and expect in err


def test_store_id_option(tmp_path, capsys):
    path = tmp_path / "export.csv"
    path.write_bytes("工单号,进厂日期,车架号,客户编号,业务类型,合计金额\n"
                     "R1,2023/1/5,LSVAA4180E2000001,C1,首保,300\n".encode("gbk"))
    code, out, _ = _run(["validate", str(path), "--store-id", "007"], capsys)
    assert code == 0 and "repair_orders=1" in out


def test_dataset_folder_still_schema_checked(tmp_path, capsys):
    example_dataset().to_dir(tmp_path)
    assert not is_raw_source(tmp_path)
    code, out, _ = _run(["validate", str(tmp_path)], capsys)
    assert code == 0 and "ValidationReport" in out and "Load report" not in out


def test_missing_path_and_help(tmp_path, capsys):
    assert _run(["validate", str(tmp_path / "nope.csv")], capsys)[0] == 2
    code, out, _ = _run(["validate", "--help"], capsys)
    assert code == 0
    for text in ("DMS export", "quarantine", "--as-of", "--store-id", "--mapping",
                 "nothing usable", "DataError", "exit codes"):
        assert text in out, text


def test_quarantine_csv_is_formula_safe(tmp_path, monkeypatch, capsys):
    """Text from an export that a spreadsheet would run as a formula (here the file name,
    '=2+3.csv', in the quarantine's file column) is written as text: a leading quote."""
    header = ("ro_id,store_id,vin,customer_id,open_date,close_date,mileage_km,ro_type,payer,"
              "labor_amount,parts_amount,other_amount,total_amount\n")
    good = "R1,001,LSVAA4180E2000001,C1,2023-01-05,2023-01-05,1000,maintenance,customer," \
           "10,10,0,20\n"
    bad = "R2,001,LSVAA4180E2000001,C1,not a date,2023-01-05,1000,maintenance,customer," \
          "10,10,0,20\n"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "=2+3.csv").write_text(header + good + bad, encoding="utf-8")
    code, out, err = _run(["validate", "=2+3.csv", "--as-of", "2023-06-30", "--quarantine",
                           "q.csv"], capsys)
    assert code == 0, err
    q = pd.read_csv(tmp_path / "q.csv", encoding="utf-8-sig", dtype=str)
    assert len(q) == 1 and q.loc[0, "reason"] == "unparseable_date"
    assert q.loc[0, "file"] == "'=2+3.csv"
    assert not any(str(v).startswith(("=", "+", "@")) for v in q.to_numpy().ravel())
    # no temporary file left beside it (only the pseudonymization key)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".crm_analysis_key", "=2+3.csv",
                                                          "q.csv"]

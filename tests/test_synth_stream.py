"""Tests of the streaming generator (crm_analysis.synth.stream): a group written batch by
batch to partitioned Parquet. Small groups only (a few stores, scale 0.1, two years)."""

from __future__ import annotations

import gc
import hashlib
import json
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from crm_analysis import cli
from crm_analysis.schema import Dataset
from crm_analysis.synth import generate, pii, stream
from crm_analysis.synth.stream import start_for_years, write_partitioned

KW = dict(n_stores=4, seed=5, years=2, as_of="2025-12-31", scale=0.1)
TABLES = ("stores", "customers", "vehicles", "repair_orders", "truth")
KEYS = {"stores": "store_id", "customers": "customer_id", "vehicles": "vin",
        "repair_orders": "ro_id", "truth": "vin"}


@pytest.fixture(scope="module")
def group(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("stream") / "group"
    return out, write_partitioned(out, **KW)


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "timing.json"}


def read_pandas(out: Path, table: str) -> pd.DataFrame:
    df = pd.read_parquet(out / table)
    return df.drop(columns=[stream.PARTITION_KEY], errors="ignore")


def read_polars(out: Path, table: str) -> pd.DataFrame:
    pl = pytest.importorskip("polars")
    lf = pl.scan_parquet(str(out / table / "**" / "*.parquet"), hive_partitioning=True)
    return lf.collect().to_pandas().drop(columns=[stream.PARTITION_KEY], errors="ignore")


def by_key(df: pd.DataFrame, table: str) -> pd.DataFrame:
    return df.sort_values(KEYS[table], kind="mergesort").reset_index(drop=True)


# ------------------------------------------------------------------------------ layout


def test_layout_meta_counts_and_timing(group):
    out, summary = group
    assert not out.with_name(out.name + ".partial").exists()
    store_ids = ["001", "002", "003", "004"]
    for table in stream.PARTITIONED_TABLES:
        parts = sorted(p.name for p in (out / table).iterdir())
        assert parts == [f"store={s}" for s in store_ids]
        for s in store_ids:
            tbl = pq.read_table(out / table / f"store={s}" / "part-0.parquet")
            assert tbl.column("store_id").to_pylist() == [s] * tbl.num_rows
    for table in stream.SINGLE_FILE_TABLES:
        assert [p.name for p in (out / table).iterdir()] == ["part-0.parquet"]
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    for table in TABLES:
        rows = sum(pq.read_metadata(p).num_rows for p in (out / table).rglob("*.parquet"))
        assert meta["counts"][table] == rows > 0, table
    on_disk = sum(p.stat().st_size for p in out.rglob("*.parquet"))
    assert meta["bytes_on_disk"] == on_disk
    assert meta["n_stores"] == 4 and meta["seed"] == 5 and meta["scale"] == 0.1
    assert (meta["start"], meta["as_of"]) == ("2023-12-31", "2025-12-31")
    assert len(meta["batch_seeds"]) == 4 and len(set(meta["batch_seeds"])) == 4
    assert [s["store_id"] for s in meta["stores"]] == store_ids
    timing = json.loads((out / "timing.json").read_text(encoding="utf-8"))
    assert set(timing) == {"seconds", "orders_per_s", "peak_rss_mb"}
    assert timing["seconds"] > 0 and timing["peak_rss_mb"] > 0
    assert summary == {**meta, **timing, "out": str(out)}


def test_ids_are_unique_across_batches_and_vins_valid(group):
    out, _ = group
    cust = read_pandas(out, "customers")
    veh = read_pandas(out, "vehicles")
    ro = read_pandas(out, "repair_orders")
    # every batch numbers its customers from C0000001 and its VIN serials from a random
    # base: without renumbering they would collide between stores
    assert cust["customer_id"].is_unique
    assert cust["customer_id"].tolist() == [f"C{i:07d}" for i in range(1, len(cust) + 1)]
    assert veh["vin"].is_unique and ro["ro_id"].is_unique
    assert veh["store_id"].nunique() == 4
    assert (veh["vin"].str.len() == 17).all()
    assert not veh["vin"].str.contains("[IOQ]").any()
    assert all(pii.vin_check_digit(v) == v[8] for v in veh["vin"])
    assert set(ro["vin"]) <= set(veh["vin"])
    assert set(ro["customer_id"]) | set(veh["customer_id"]) <= set(cust["customer_id"])
    assert (ro["ro_id"].str.slice(2, 5) == ro["store_id"]).all()


def test_reads_back_identically_with_pandas_polars_and_from_dir(group):
    out, _ = group
    ds = Dataset.from_dir(out)
    assert ds.validate().ok
    assert ds.meta["generator"] == "crm_analysis.synth.stream"
    for table in TABLES:
        a = by_key(read_pandas(out, table), table)
        b = by_key(read_polars(out, table), table)
        c = by_key(getattr(ds, table), table)
        pd.testing.assert_frame_equal(a, c, obj=f"pandas vs from_dir {table}")
        pd.testing.assert_frame_equal(a, b, obj=f"pandas vs polars {table}")
        if "store_id" in a:
            assert a["store_id"].map(type).eq(str).all()
            assert sorted(a["store_id"].unique()) == ["001", "002", "003", "004"]


def test_reads_back_with_duckdb(group):
    duckdb = pytest.importorskip("duckdb")
    out, summary = group
    path = (out / "repair_orders" / "**" / "*.parquet").as_posix()
    rel = duckdb.sql(f"select store_id, count(*) as n from read_parquet('{path}', "
                     "hive_partitioning=true) group by store_id order by store_id")
    rows = rel.fetchall()
    assert [r[0] for r in rows] == ["001", "002", "003", "004"]
    assert sum(r[1] for r in rows) == summary["counts"]["repair_orders"]


def test_store_profiles_match_one_piece_generation(group):
    out, _ = group
    one_piece = generate(n_stores=4, seed=5, start="2023-12-31", as_of="2025-12-31",
                         scale=0.1)
    pd.testing.assert_frame_equal(read_pandas(out, "stores"), one_piece.stores)
    streamed = read_pandas(out, "repair_orders")
    assert set(streamed.columns) == set(one_piece.repair_orders.columns)
    # same profiles, other draws: volumes of the same order
    assert 0.7 < len(streamed) / len(one_piece.repair_orders) < 1.4


# ------------------------------------------------------------------------------ determinism


def test_same_arguments_same_bytes(group, tmp_path):
    out, _ = group
    again = tmp_path / "again"
    write_partitioned(again, **KW)
    a, b = files_of(out), files_of(again)
    assert list(a) == list(b)
    for name in a:
        assert hashlib.sha256(a[name]).digest() == hashlib.sha256(b[name]).digest(), name
    other = tmp_path / "other"
    write_partitioned(other, **{**KW, "seed": 6})
    assert files_of(other)["repair_orders/store=001/part-0.parquet"] != a[
        "repair_orders/store=001/part-0.parquet"]


def test_batches_of_several_stores(tmp_path):
    out = tmp_path / "b2"
    s = write_partitioned(out, **{**KW, "n_stores": 5}, batch_stores=2)
    assert s["batch_stores"] == 2 and len(s["batch_seeds"]) == 3
    ds = Dataset.from_dir(out)
    assert ds.validate().ok
    assert ds.store_ids == ["001", "002", "003", "004", "005"]
    assert sorted(p.name for p in (out / "vehicles").iterdir()) == [
        f"store=00{i}" for i in range(1, 6)]


# ------------------------------------------------------------------------------ memory


def test_one_batch_in_memory_and_written_before_the_next(tmp_path, monkeypatch):
    """With batch_stores=1 the previous batch is freed (and on disk) before the next
    one is generated: memory does not grow with the number of stores."""
    out = tmp_path / "g"
    partial = tmp_path / "g.partial"
    real = stream.generate
    alive: list[weakref.ref] = []
    events: list[tuple] = []

    def tracking_generate(**kw):
        gc.collect()
        assert all(r() is None for r in alive), "an earlier batch is still in memory"
        stores = [sp.store_id for sp in kw["stores"]]
        assert len(stores) == 1
        events.append(("generate", stores[0]))
        ds = real(**kw)
        for df in (ds.repair_orders, ds.vehicles, ds.customers, ds.truth):
            alive.append(weakref.ref(df))
        alive.append(weakref.ref(ds))
        return ds

    def progress(p):
        (sid,) = p["store_ids"]
        events.append(("written", sid))
        assert (partial / "repair_orders" / f"store={sid}" / "part-0.parquet").is_file()
        assert not out.exists() and partial.is_dir()

    monkeypatch.setattr(stream, "generate", tracking_generate)
    s = write_partitioned(out, **{**KW, "n_stores": 5}, batch_stores=1, progress=progress)
    ids = ["001", "002", "003", "004", "005"]
    assert events == [e for sid in ids for e in (("generate", sid), ("written", sid))]
    assert out.is_dir() and not partial.exists()
    assert s["counts"]["stores"] == 5


# ------------------------------------------------------------------------------ safety


def test_a_failure_leaves_neither_dataset_nor_partial(tmp_path, monkeypatch):
    out = tmp_path / "g"
    real = stream.generate
    calls = []

    def failing(**kw):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return real(**kw)

    monkeypatch.setattr(stream, "generate", failing)
    with pytest.raises(RuntimeError, match="boom"):
        write_partitioned(out, **KW)
    assert not out.exists() and not (tmp_path / "g.partial").exists()


def test_leftover_partial_is_replaced_and_empty_out_is_used(tmp_path):
    out = tmp_path / "g"
    out.mkdir()  # empty: fine
    stale = tmp_path / "g.partial"
    (stale / "repair_orders").mkdir(parents=True)
    (stale / "junk.txt").write_text("from a killed run")
    write_partitioned(out, **{**KW, "n_stores": 1})
    assert not stale.exists()
    assert not (out / "junk.txt").exists() and (out / "meta.json").is_file()


def test_refuses_to_overwrite(group, tmp_path):
    out, _ = group
    with pytest.raises(FileExistsError, match=str(out)):
        write_partitioned(out, **KW)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(FileExistsError, match="file"):
        write_partitioned(a_file, **KW)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"n_stores": 0}, "n_stores"),
        ({"n_stores": -3}, "n_stores"),
        ({"batch_stores": 0}, "batch_stores"),
        ({"scale": 0}, "scale"),
        ({"seed": -1}, "seed"),
        ({"years": 0}, "years"),
        ({"years": None, "start": "2026-01-01", "as_of": "2025-01-01"}, "as_of"),
        ({"years": None, "start": "yesterday-ish"}, "start"),
    ],
)
def test_bad_arguments_are_named(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        write_partitioned(tmp_path / "g", **{**KW, **kw})
    assert not (tmp_path / "g").exists() and not (tmp_path / "g.partial").exists()


@pytest.mark.parametrize("kw", [{"n_stores": 2.5}, {"as_of": 20251231}])
def test_arguments_of_the_wrong_type_are_named(tmp_path, kw):
    with pytest.raises(TypeError, match=f"^write_partitioned: {next(iter(kw))} must be"):
        write_partitioned(tmp_path / "g", **{**KW, **kw})
    assert not (tmp_path / "g").exists() and not (tmp_path / "g.partial").exists()


# ------------------------------------------------------------------------------ helpers


def test_renumbered_vins_are_valid_and_keep_model_and_year():
    old = np.array(pii.fake_vins(np.random.default_rng(0), np.array(["HR20C", "FC20E"]),
                                 np.array([2020, 2024]), np.array(["1", "2"])), dtype=object)
    new = stream._renumber_vins(old, 32_999_998)
    assert [v[:8] for v in new] == [v[:8] for v in old]  # WMI + model code
    assert [v[9] for v in new] == [v[9] for v in old]  # model year
    assert [v[10:] for v in new] == ["Z999998", "Z999999"]
    assert all(pii.vin_check_digit(v) == v[8] for v in new)
    with pytest.raises(ValueError, match="vehicles"):
        stream._renumber_vins(old, stream.VIN_CAPACITY - 1)


def test_start_for_years():
    assert start_for_years(10, as_of="2026-06-30") == "2016-06-30"
    assert start_for_years(2, as_of="2024-02-29") == "2022-02-28"
    with pytest.raises(ValueError, match="years"):
        start_for_years(0, as_of="2026-06-30")
    with pytest.raises(TypeError, match="^start_for_years: as_of must be a date"):
        start_for_years(2, as_of=20260630)


def test_from_dir_reads_a_hive_key_missing_from_the_files_as_a_string(tmp_path):
    """A folder written by another tool (store_id only in the path) reads back as text."""
    from crm_analysis.schema import example_dataset

    ds = example_dataset()
    ds.to_dir(tmp_path)
    ro = ds.repair_orders
    (tmp_path / "repair_orders.parquet").unlink()
    for sid, part in ro.groupby("store_id"):
        folder = tmp_path / "repair_orders" / f"store_id={sid}"
        folder.mkdir(parents=True)
        part.drop(columns="store_id").to_parquet(folder / "part-0.parquet", index=False)
    back = Dataset.from_dir(tmp_path)
    pd.testing.assert_frame_equal(
        back.repair_orders.sort_values("ro_id").reset_index(drop=True),
        ro.sort_values("ro_id").reset_index(drop=True))
    (tmp_path / "vehicles.parquet").unlink()
    (tmp_path / "vehicles").mkdir()
    with pytest.raises(FileNotFoundError, match="no .parquet file"):
        Dataset.from_dir(tmp_path)


# ------------------------------------------------------------------------------ command line


def test_cli_partitioned(tmp_path, capsys):
    out = tmp_path / "big"
    argv = ["synth", "--stores", "2", "--years", "1", "--as-of", "2025-12-31", "--scale",
            "0.1", "--partitioned", "--batch-stores", "1", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "batch 2/2" in printed and "orders/s" in printed and "peak RSS" in printed
    assert "MB on disk" in printed
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert meta["start"] == "2024-12-31" and meta["n_stores"] == 2
    # never overwritten: exit 2, the folder named
    assert cli.main(argv) == 2
    assert str(out) in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--partitioned", "--format", "csv"], "Parquet only"),
        (["--batch-stores", "2"], "--partitioned"),
        (["--partitioned", "--batch-stores", "0"], "at least 1"),
    ],
)
def test_cli_partitioned_usage_errors(tmp_path, capsys, extra, message):
    argv = ["synth", "--stores", "1", "--years", "1", "--out", str(tmp_path / "o"), *extra]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_one_store_of_a_partitioned_group_is_read_alone(tmp_path):
    # a notebook opening one store of a large partitioned group reads that store's
    # partition only, and sees the same rows as when the whole group is read
    from crm_analysis.context import clear_cache, open_store
    from crm_analysis.schema import Dataset

    out = tmp_path / "g"
    write_partitioned(out, n_stores=3, seed=5, scale=0.03, years=3)
    whole = Dataset.from_dir(out)
    one = Dataset.from_dir(out, store_id="002")
    assert set(one.repair_orders["store_id"]) == {"002"}
    assert len(one.repair_orders) < len(whole.repair_orders)
    ref = whole.for_store("002")
    for name in ("repair_orders", "vehicles", "customers", "truth"):
        a = getattr(ref, name)
        b = getattr(one.for_store("002"), name)
        cols = list(a.columns[:2])
        pd.testing.assert_frame_equal(a.sort_values(cols).reset_index(drop=True),
                                      b.sort_values(cols).reset_index(drop=True))
    clear_cache()
    ctx = open_store(out, store_id="002")
    assert len(ctx.dataset.repair_orders) == len(one.repair_orders)
    with pytest.raises(ValueError, match="001, 002, 003"):
        open_store(out, store_id="009")
    clear_cache()

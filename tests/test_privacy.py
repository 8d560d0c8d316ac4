"""Pseudonyms and the store key: keyed, stable, missing-preserving; key file created safely."""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing
import os
import stat
import threading
import time

import numpy as np
import pandas as pd
import polars as pl
import pytest

from crm_analysis.privacy import (
    KEY_FILE,
    PII_COLUMNS,
    PSEUDONYM_LENGTH,
    key_fingerprint,
    pseudonymize,
    store_key,
)

KEY = b"test-key-0123"


def reference(value: str, key: bytes = KEY, prefix: str = "") -> str:
    """Independent HMAC-SHA256 computation of a pseudonym."""
    return prefix + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:12]


# ---------------------------------------------------------------------------- pseudonymize
def test_pseudonym_is_truncated_keyed_hmac_sha256():
    ids = ["C0000001", "C0000002", "客户甲", "13800138000"]
    assert pseudonymize(ids, KEY) == [reference(v) for v in ids]
    assert pseudonymize(ids, KEY, prefix="C-") == [reference(v, prefix="C-") for v in ids]
    assert PSEUDONYM_LENGTH == 12
    for p in pseudonymize(ids, KEY):
        assert len(p) == 12 and all(ch in "0123456789abcdef" for ch in p)


def test_same_value_same_key_same_pseudonym_across_calls_and_containers():
    values = ["C1", "C2", "C1", "C3"]
    as_list = pseudonymize(values, KEY)
    assert as_list[0] == as_list[2] and len(set(as_list)) == 3
    assert pseudonymize(values, KEY) == as_list
    assert pseudonymize(tuple(values), KEY) == as_list
    assert pseudonymize(np.array(values, dtype=object), KEY) == as_list
    assert pseudonymize(pl.Series(values), KEY) == as_list
    assert pseudonymize(pd.Series(values), KEY).tolist() == as_list
    assert pseudonymize(pd.Series(values, dtype="category"), KEY).tolist() == as_list
    assert pseudonymize(pd.Index(values), KEY).tolist() == as_list
    assert [pseudonymize(v, KEY) for v in values] == as_list
    # a str key is its UTF-8 bytes
    assert pseudonymize(values, KEY.decode()) == as_list


def test_different_keys_give_unrelated_pseudonyms():
    values = [f"C{i:07d}" for i in range(200)]
    a = pseudonymize(values, b"key-a")
    b = pseudonymize(values, b"key-b")
    assert all(x != y for x, y in zip(a, b, strict=True))
    assert not set(a) & set(b)


def test_no_collisions_on_many_distinct_ids():
    values = [f"C{i:07d}" for i in range(20_000)]
    assert len(set(pseudonymize(values, KEY))) == len(values)


def test_missing_values_stay_missing():
    values = ["A", None, float("nan"), pd.NA, pd.NaT, np.nan, "A"]
    out = pseudonymize(values, KEY)
    assert out == [reference("A"), None, None, None, None, None, reference("A")]
    s = pd.Series(["A", None, np.nan, "B"], index=[5, 6, 7, 8], name="customer_id")
    ps = pseudonymize(s, KEY)
    assert isinstance(ps, pd.Series)
    assert ps.index.tolist() == [5, 6, 7, 8] and ps.name == "customer_id"
    assert ps.isna().tolist() == [False, True, True, False]
    assert ps[5] == reference("A") and ps[8] == reference("B")
    assert pseudonymize(None, KEY) is None
    assert pseudonymize(pd.Series([None, None]), KEY).isna().all()


def test_numbers_hash_like_their_integer_text_but_leading_zeros_count():
    assert pseudonymize(13800138000.0, KEY) == reference("13800138000")
    assert pseudonymize(np.int64(13800138000), KEY) == reference("13800138000")
    assert pseudonymize(pd.Series([13800138000.0, np.nan]), KEY).tolist() == [
        reference("13800138000"), None]
    assert pseudonymize("007", KEY) != pseudonymize(7, KEY)
    assert pseudonymize(1.5, KEY) == reference("1.5")


@pytest.mark.parametrize("key, exc", [(None, ValueError), (b"", ValueError), ("", ValueError),
                                      (123, TypeError), (["k"], TypeError)])
def test_bad_keys_are_refused(key, exc):
    with pytest.raises(exc, match="key"):
        pseudonymize(["A"], key)


def test_multiindex_and_bad_prefix_are_refused():
    with pytest.raises(TypeError, match="MultiIndex"):
        pseudonymize(pd.MultiIndex.from_tuples([("a", 1)]), KEY)
    with pytest.raises(TypeError, match="prefix"):
        pseudonymize(["A"], KEY, prefix=1)


# ---------------------------------------------------------------------------- fingerprint
def test_key_fingerprint_identifies_the_key_without_revealing_it():
    fp = key_fingerprint(KEY)
    assert fp == key_fingerprint(KEY.decode()) and len(fp) == 8
    assert fp != key_fingerprint(b"other key")
    assert fp not in KEY.hex() and fp not in KEY.decode()
    # not a pseudonym of anything obvious
    assert fp not in {reference(""), reference(KEY.decode())}


# ---------------------------------------------------------------------------- store_key
def test_store_key_creates_a_private_random_key_once(tmp_path):
    k1 = store_key(tmp_path)
    path = tmp_path / KEY_FILE
    assert path.is_file()
    assert len(k1) == 64 and all(ch in b"0123456789abcdef" for ch in k1)
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store_key(tmp_path) == k1
    assert store_key(str(tmp_path)) == k1
    # another directory gets another key
    other = tmp_path / "other"
    other.mkdir()
    assert store_key(other) != k1


def test_store_key_creates_0600_even_with_a_permissive_umask(tmp_path):
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    old = os.umask(0)
    try:
        store_key(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600


def test_user_key_wins_and_touches_nothing(tmp_path):
    assert store_key(tmp_path, key="my key") == b"my key"
    assert store_key(tmp_path, key=b"raw") == b"raw"
    assert not (tmp_path / KEY_FILE).exists()
    # even over an existing key file
    stored = store_key(tmp_path)
    assert store_key(tmp_path, key=b"raw") == b"raw" != stored
    with pytest.raises(ValueError, match="empty"):
        store_key(tmp_path, key=b"")


def test_store_key_reads_an_existing_file_stripped(tmp_path):
    (tmp_path / KEY_FILE).write_bytes(b"  abc123\n")
    os.chmod(tmp_path / KEY_FILE, 0o600)
    assert store_key(tmp_path) == b"abc123"


def test_store_key_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        store_key(tmp_path / "missing")
    (tmp_path / KEY_FILE).write_bytes(b"\n")
    os.chmod(tmp_path / KEY_FILE, 0o600)
    old = time.time() - 60  # not a key being written right now (see the next test)
    os.utime(tmp_path / KEY_FILE, (old, old))
    with pytest.raises(ValueError, match="empty"):
        store_key(tmp_path)


def test_a_key_file_still_being_written_is_waited_for(tmp_path):
    """Where there are no hard links the key is written in place: a reader that finds the
    file just created and still empty waits for its content instead of failing."""
    path = tmp_path / KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

    def finish():
        time.sleep(0.2)
        os.write(fd, b"abc123\n")
        os.close(fd)

    writer = threading.Thread(target=finish)
    writer.start()
    try:
        assert store_key(tmp_path) == b"abc123"
    finally:
        writer.join()


def test_store_key_warns_about_a_readable_key_file(tmp_path):
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    (tmp_path / KEY_FILE).write_bytes(b"abc")
    os.chmod(tmp_path / KEY_FILE, 0o644)
    with pytest.warns(UserWarning, match="chmod 600"):
        assert store_key(tmp_path) == b"abc"


def test_pseudonyms_from_a_stored_key_are_stable(tmp_path):
    ids = ["C1", "C2"]
    first = pseudonymize(ids, store_key(tmp_path))
    assert pseudonymize(ids, store_key(tmp_path)) == first


# ---------------------------------------------------------------------------- PII_COLUMNS
def test_pii_columns_cover_the_data_model():
    assert dict(PII_COLUMNS) == {"customers": ("name", "phone", "id_number"),
                                 "vehicles": ("plate",)}
    with pytest.raises(TypeError):
        PII_COLUMNS["orders"] = ("x",)  # read-only


# ------------------------------------------------------------------ concurrent key creation
def _slow_writes(monkeypatch):
    """Every os.write pauses first: a key file created but not yet written stays empty
    long enough for every concurrent reader to find it."""
    real_write = os.write

    def slow_write(fd, data):
        time.sleep(0.05)
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", slow_write)


def test_concurrent_first_time_key_creation_gives_one_nonempty_key_to_all_threads(
        tmp_path, monkeypatch):
    _slow_writes(monkeypatch)
    n = 40
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def create(i):
        barrier.wait()
        try:
            results[i] = store_key(tmp_path)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            results[i] = exc

    threads = [threading.Thread(target=create, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    monkeypatch.undo()
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    assert len(set(results)) == 1 and len(results[0]) == 64
    assert store_key(tmp_path) == results[0]
    # no temporary file is left beside the key
    assert sorted(p.name for p in tmp_path.iterdir()) == [KEY_FILE]
    if os.name == "posix":
        assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600


def _create_key_in_child(folder, barrier, queue):
    barrier.wait()
    try:
        queue.put(store_key(folder))
    except Exception as exc:  # noqa: BLE001 - sent to the parent
        queue.put(repr(exc))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork start method")
def test_concurrent_first_time_key_creation_in_40_processes(tmp_path):
    ctx = multiprocessing.get_context("fork")
    for trial in range(1):
        folder = tmp_path / f"data{trial}"
        folder.mkdir()
        n = 40
        barrier, queue = ctx.Barrier(n), ctx.Queue()
        procs = [ctx.Process(target=_create_key_in_child, args=(folder, barrier, queue))
                 for _ in range(n)]
        for p in procs:
            p.start()
        keys = [queue.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert len(set(keys)) == 1, set(keys)
        assert isinstance(keys[0], bytes) and len(keys[0]) == 64
        assert (folder / KEY_FILE).read_bytes().strip() == keys[0]


def test_key_file_that_is_not_a_regular_file_is_refused_without_opening_it(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs")
    os.mkfifo(tmp_path / KEY_FILE)  # reading it would block forever
    with pytest.raises(ValueError, match="not a regular file"):
        store_key(tmp_path)

"""Stream a very large synthetic dealer group to partitioned Parquet in bounded memory.

:func:`~crm_analysis.synth.generate` builds a whole group in memory (about 110 MB per
store and unit of ``scale`` for a 12-year history), which is fine for a few stores but not
for 200 stores over ten years (tens of millions of orders). :func:`write_partitioned`
generates the group a batch of stores at a time (one store by default) and writes each
batch's tables to Parquet as soon as it exists, so memory is bounded by the largest batch
whatever the number of stores.

Layout of the output folder::

    out/stores/part-0.parquet                     one file, a row group per batch
    out/customers/part-0.parquet                  one file, a row group per batch
    out/vehicles/store=001/part-0.parquet         one file per store
    out/repair_orders/store=001/part-0.parquet
    out/truth/store=001/part-0.parquet
    out/meta.json                                 arguments, counts, bytes (deterministic)
    out/timing.json                               seconds, orders/s, peak RSS (not)

Every partitioned file also holds ``store_id`` as a string column. The directory key is
``store`` and not ``store_id`` on purpose: readers infer the type of a hive key from its
values, so ``store_id=001`` would come back as the integer 1 (pandas, Polars), and
pandas refuses a key that is also a column of the files ("Unable to merge: Field
store_id has incompatible types"). With the ``store`` key, ``store_id`` reads back as
the string ``"001"`` everywhere; readers that apply hive partitioning add an extra
integer column ``store`` (the directory key), which can be ignored or used to prune
files. Every table is a folder and reads with::

    pandas.read_parquet(out / "repair_orders")
    polars.scan_parquet(out / "repair_orders" / "**" / "*.parquet", hive_partitioning=True)
    duckdb.sql("select * from read_parquet('out/repair_orders/**/*.parquet', "
               "hive_partitioning=true)")
    crm_analysis.schema.Dataset.from_dir(out)   # small groups only: all in pandas

What differs from ``generate(n_stores=...)`` in one piece:

- **Random draws.** Each batch is one ``generate`` call with its own seed, derived from
  ``(seed, batch index)`` with :class:`numpy.random.SeedSequence`, so the tables are
  statistically the same as one-piece generation but not the same rows; and changing
  ``batch_stores`` changes the draws (it is part of the "same arguments" that give the
  same bytes). Store profiles (volumes, opening dates, hazard multipliers of stores
  ``"004"`` and up) are those of ``generate(n_stores, seed)``.
- **Nothing crosses stores anyway.** The generator has no cross-store servicing: every
  order is placed at its vehicle's home store, and customers (including repeat buyers and
  fleets) belong to one store. So cutting the group into batches of stores loses no
  link between stores.
- **Identifiers are renumbered** to stay unique across batches: ``customer_id`` is
  ``C`` + a running number over the whole group (``C0000001`` ...; more than seven digits
  past ten million customers); the VIN keeps its model code and model year but its plant
  character and 6-digit serial (positions 11-17) encode a running vehicle number over the
  group, and its check digit (position 9) is recomputed, so every VIN is still a valid
  17-character ISO 3779 VIN (up to 33 million vehicles; more raises an error). ``ro_id``
  (``RO<store>-<yyyymmdd>-<nnnn>``) is already unique across stores. Each batch is
  checked (unique keys, ``ro_id`` prefix = its store) and a violation raises.
- The ``meta.json`` holds the batch seeds, counts and bytes on disk instead of one seed.

The output is written to ``<out>.partial`` and renamed to ``out`` at the end, so a crash
never leaves a half dataset under ``out`` (a ``<out>.partial`` left by a killed run is
removed by the next run). The same arguments give byte-identical files (Parquet files and
``meta.json``; timings are in ``timing.json`` only).

Example
-------
>>> from crm_analysis.synth.stream import write_partitioned
>>> summary = write_partitioned("data/big", n_stores=200, years=10)  # doctest: +SKIP
>>> summary["counts"]["repair_orders"]  # doctest: +SKIP
10420064
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crm_analysis import config
from crm_analysis._inputs import check_int, check_number, read_as_of
from crm_analysis.schema import TABLES
from crm_analysis.synth.generator import _jsonable, _store_profiles, generate

__all__ = ["PARTITION_KEY", "PARTITIONED_TABLES", "SINGLE_FILE_TABLES", "start_for_years",
           "write_partitioned"]

#: Directory key of the partitioned tables (``store=001``); see the module docstring.
PARTITION_KEY = "store"
#: Tables written as one file per store.
PARTITIONED_TABLES: tuple[str, ...] = ("vehicles", "repair_orders", "truth")
#: Tables written as one file with a row group per batch.
SINGLE_FILE_TABLES: tuple[str, ...] = ("stores", "customers")
_TABLE_ORDER = ("stores", "customers", "vehicles", "repair_orders", "truth")
_PART = "part-0.parquet"

_ARROW_TYPES = {"str": pa.string(), "datetime": pa.timestamp("ns"), "float": pa.float64(),
                "bool": pa.bool_()}

# VIN alphabet (no I, O, Q) and ISO 3779 transliteration values and weights
_VIN_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
_VIN_VALUE = np.zeros(128, dtype=np.int64)
for _c, _v in {**{str(d): d for d in range(10)},
               **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
               **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
               **dict(zip("STUVWXYZ", range(2, 10), strict=True))}.items():
    _VIN_VALUE[ord(_c)] = _v
_VIN_WEIGHTS = np.array((8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2), dtype=np.int64)
_SERIALS = 1_000_000
#: Vehicles a streamed group can hold with unique VINs (33 plant characters x 10**6).
VIN_CAPACITY = len(_VIN_ALPHABET) * _SERIALS


def start_for_years(years: int, *, as_of: Any) -> str:
    """The day ``years`` years before ``as_of`` (28 February for a 29 February).

    Example
    -------
    >>> start_for_years(10, as_of="2026-06-30")
    '2016-06-30'
    >>> start_for_years(1, as_of="2024-02-29")
    '2023-02-28'
    """
    end = read_as_of(as_of).date()
    years = check_int(years, "years")
    try:
        return end.replace(year=end.year - int(years)).isoformat()
    except ValueError:  # 29 February
        return end.replace(day=28, year=end.year - int(years)).isoformat()


def write_partitioned(
    out: str | os.PathLike,
    *,
    n_stores: int = 200,
    seed: int = config.DEFAULT_SEED,
    start: str = "2014-01-01",
    as_of: Any = config.DEFAULT_AS_OF,
    years: int | None = None,
    scale: float = 1.0,
    batch_stores: int = 1,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Generate a dealer group batch by batch and write it as partitioned Parquet.

    Memory is bounded by one batch of ``batch_stores`` stores (plus the interpreter and
    libraries), whatever ``n_stores`` is: each batch is generated with
    :func:`~crm_analysis.synth.generate`, its identifiers renumbered to stay unique
    across batches, written, and dropped before the next one. See the module docstring
    for the folder layout, how to read it and what differs from one-piece generation.

    Parameters
    ----------
    out:
        Output folder. It must not exist or be empty (it is never overwritten). The data
        are written to ``<out>.partial`` and renamed to ``out`` when complete.
    n_stores:
        Number of stores (>= 1), with the store profiles of ``generate(n_stores, seed)``.
    seed:
        Random seed (>= 0). Batch ``b`` uses a seed derived from ``(seed, b)`` with
        :class:`numpy.random.SeedSequence`.
    start, as_of:
        First day of the history and the export day.
    years:
        If given, the history is the ``years`` years up to ``as_of`` (``start`` is
        ignored).
    scale:
        Multiplies every store's volume, as in ``generate``. At ``scale=1`` a store has
        about 50,000 orders in ten years (17,000 to 125,000): 200 stores x 10 years give
        10.4 million orders (seed 2026), ``scale=3`` 31 million.
    batch_stores:
        Stores generated (and held in memory) at a time; 1 is as fast as more.
    progress:
        Called after each batch is written with a dict: ``batch`` (1-based),
        ``n_batches``, ``store_ids``, ``orders`` (this batch), ``orders_total``,
        ``seconds``, ``orders_per_s``, ``rss_mb``.

    Returns
    -------
    dict
        The content of ``meta.json`` (``counts`` per table, ``bytes_on_disk``, the
        arguments, batch seeds) plus ``out``, ``seconds``, ``orders_per_s`` and
        ``peak_rss_mb`` (as in ``timing.json``).

    Raises
    ------
    ValueError
        A bad argument (the message names it).
    FileExistsError
        ``out`` exists and is not an empty folder.

    Example
    -------
    >>> import tempfile, pathlib, pandas as pd
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = pathlib.Path(tmp) / "group"
    ...     s = write_partitioned(out, n_stores=2, seed=1, years=2, scale=0.05)
    ...     ro = pd.read_parquet(out / "repair_orders")
    ...     ids = sorted(ro["store_id"].unique())
    >>> ids, s["counts"]["repair_orders"] == len(ro)
    (['001', '002'], True)
    >>> write_partitioned("data/big", n_stores=200, years=10)  # doctest: +SKIP
    """
    started = time.perf_counter()
    asof_s = str(read_as_of(as_of).date())
    check_int(n_stores, "n_stores")
    check_int(seed, "seed", minimum=0)
    check_int(batch_stores, "batch_stores")
    check_number(scale, "scale", minimum=0, strict=True)
    if years is not None:
        start = start_for_years(years, as_of=asof_s)
    start_s = str(read_as_of(start, name="start").date())
    if asof_s <= start_s:
        raise ValueError(f"as_of ({asof_s}) must be after start ({start_s})")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(
            f"output folder {str(out)!r} already exists and is not empty: "
            "write_partitioned never overwrites; remove it or choose another folder"
        )
    partial = out.with_name(out.name + ".partial")
    if partial.exists():  # left by a killed run
        shutil.rmtree(partial)
    profiles = _store_profiles(int(n_stores), int(seed), None)
    batches = [profiles[i:i + batch_stores] for i in range(0, len(profiles), batch_stores)]
    seeds = [_batch_seed(int(seed), b) for b in range(len(batches))]

    partial.mkdir(parents=True)
    try:
        state = _State(partial)
        for b, (batch, batch_seed) in enumerate(zip(batches, seeds, strict=True)):
            n_orders = _write_batch(state, batch, batch_seed, start_s, asof_s, float(scale))
            if progress is not None:
                seconds = time.perf_counter() - started
                progress({
                    "batch": b + 1, "n_batches": len(batches),
                    "store_ids": [sp.store_id for sp in batch], "orders": n_orders,
                    "orders_total": state.counts["repair_orders"], "seconds": seconds,
                    "orders_per_s": state.counts["repair_orders"] / max(seconds, 1e-9),
                    "rss_mb": _rss_mb(),
                })
        state.close()
        meta = {
            "generator": "crm_analysis.synth.stream",
            "layout": {
                "partition_key": PARTITION_KEY,
                "tables": {
                    t: f"{t}/{PARTITION_KEY}=<store_id>/{_PART}" if t in PARTITIONED_TABLES
                    else f"{t}/{_PART}" for t in _TABLE_ORDER
                },
            },
            "seed": int(seed),
            "start": start_s,
            "as_of": asof_s,
            "n_stores": int(n_stores),
            "scale": float(scale),
            "batch_stores": int(batch_stores),
            "batch_seeds": seeds,
            "counts": dict(state.counts),
            "bytes_on_disk": _bytes_under(partial),
            "stores": state.store_meta,
            "params": state.params,
        }
        (partial / "meta.json").write_text(_dump_json(meta), encoding="utf-8")
        seconds = time.perf_counter() - started
        timing = {
            "seconds": round(seconds, 3),
            "orders_per_s": round(state.counts["repair_orders"] / max(seconds, 1e-9), 1),
            "peak_rss_mb": round(_peak_rss_mb(), 1),
        }
        (partial / "timing.json").write_text(_dump_json(timing), encoding="utf-8")
        if out.exists():
            out.rmdir()  # empty (checked above)
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return {**meta, **timing, "out": str(out)}


# ------------------------------------------------------------------------------ batches


class _State:
    """What survives from one batch to the next: counters, writers, store metadata."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.counts = dict.fromkeys(_TABLE_ORDER, 0)
        self.n_customers = 0  # running numbers for the ids
        self.n_vehicles = 0
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.schemas: dict[str, pa.Schema] = {}
        self.store_meta: list[dict] = []
        self.params: dict | None = None
        for t in _TABLE_ORDER:
            (root / t).mkdir()

    def schema(self, table: str, df: pd.DataFrame) -> pa.Schema:
        """One fixed Arrow schema per table (canonical types), so every file agrees."""
        if table not in self.schemas:
            kinds = TABLES[table]
            fields = [pa.field(c, _ARROW_TYPES[kinds[c]]) if c in kinds
                      else pa.Schema.from_pandas(df[[c]], preserve_index=False).field(c)
                      for c in df.columns]
            self.schemas[table] = pa.schema(fields)
        return self.schemas[table]

    def arrow(self, table: str, df: pd.DataFrame) -> pa.Table:
        return pa.Table.from_pandas(df.reset_index(drop=True), schema=self.schema(table, df),
                                    preserve_index=False)

    def append(self, table: str, df: pd.DataFrame) -> None:
        tbl = self.arrow(table, df)
        if table not in self.writers:
            self.writers[table] = pq.ParquetWriter(self.root / table / _PART, tbl.schema)
        self.writers[table].write_table(tbl)
        self.counts[table] += len(df)

    def write_store(self, table: str, store_id: str, df: pd.DataFrame) -> None:
        folder = self.root / table / f"{PARTITION_KEY}={store_id}"
        folder.mkdir()
        pq.write_table(self.arrow(table, df), folder / _PART)
        self.counts[table] += len(df)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        # a table without any row still gets a (row-less) file, so that readers find it
        for t in _TABLE_ORDER:
            if not any((self.root / t).iterdir()) and t in self.schemas:
                pq.write_table(self.schemas[t].empty_table(), self.root / t / _PART)


def _write_batch(state: _State, batch, batch_seed: int, start: str, as_of: str,
                 scale: float) -> int:
    """Generate one batch, renumber its ids, check and write it; return its orders.

    The batch's Dataset lives only in this function, so it is freed before the next.
    """
    ds = generate(start=start, as_of=as_of, seed=batch_seed, stores=list(batch), scale=scale)
    if state.params is None:
        state.params = _jsonable(ds.meta["params"])
    state.store_meta.extend(ds.meta["stores"])
    tables = _renumber(ds, state.n_customers, state.n_vehicles)
    _check_batch(tables, [sp.store_id for sp in batch])
    state.n_customers += len(tables["customers"])
    state.n_vehicles += len(tables["vehicles"])
    del ds
    for t in SINGLE_FILE_TABLES:
        state.append(t, tables[t])
    for t in PARTITIONED_TABLES:
        df = tables[t]
        state.schema(t, df)
        for sid, idx in df.groupby("store_id", sort=True).indices.items():
            state.write_store(t, str(sid), df.iloc[idx])
    return len(tables["repair_orders"])


def _renumber(ds, first_customer: int, first_vehicle: int) -> dict[str, pd.DataFrame]:
    """Customer ids and VINs continuing the running numbers of the earlier batches.

    The tables of ``ds`` are changed in place (no copy: the batch is dropped after).
    """
    old_c = ds.customers["customer_id"].to_numpy()
    new_c = np.asarray([f"C{first_customer + i + 1:07d}" for i in range(len(old_c))],
                       dtype=object)
    old_v = ds.vehicles["vin"].to_numpy()
    new_v = _renumber_vins(old_v, first_vehicle)
    c_index, v_index = pd.Index(old_c), pd.Index(old_v)

    def remap(df: pd.DataFrame | None) -> pd.DataFrame | None:
        if df is None:
            return None
        for col, index, new in (("customer_id", c_index, new_c), ("vin", v_index, new_v)):
            if col in df.columns:
                pos = index.get_indexer(df[col])
                if (pos < 0).any():
                    raise RuntimeError(f"synth batch: {col} {df[col].iloc[np.argmax(pos < 0)]!r} "
                                       "is not in its own batch")
                df[col] = new[pos]
        return df

    return {"stores": ds.stores, "customers": remap(ds.customers),
            "vehicles": remap(ds.vehicles), "repair_orders": remap(ds.repair_orders),
            "truth": remap(ds.truth)}


def _renumber_vins(vins: np.ndarray, first: int) -> np.ndarray:
    """Give ``vins`` the running numbers ``first, first + 1, ...`` in positions 11-17.

    Position 11 (plant) is the millions digit in the VIN alphabet, 12-17 the serial; the
    check digit (position 9) is recomputed. Model code and model year are kept.
    """
    n = len(vins)
    if first + n > VIN_CAPACITY:
        raise ValueError(
            f"the group has more than {VIN_CAPACITY:,} vehicles: the VIN scheme of the "
            "streamed generator cannot keep them unique; lower n_stores or scale"
        )
    if n == 0:
        return np.asarray([], dtype=object)
    codes = np.asarray(vins, dtype="U17").view(np.uint32).reshape(n, 17).copy()
    g = np.arange(first, first + n, dtype=np.int64)
    alphabet = np.frombuffer(_VIN_ALPHABET.encode(), dtype=np.uint8).astype(np.uint32)
    codes[:, 10] = alphabet[g // _SERIALS]
    serial = g % _SERIALS
    for k in range(6):
        codes[:, 16 - k] = ord("0") + (serial // 10**k) % 10
    total = (_VIN_VALUE[codes] * _VIN_WEIGHTS).sum(axis=1) % 11
    codes[:, 8] = np.where(total == 10, ord("X"), ord("0") + total)
    return codes.reshape(-1).view("U17").astype(object)


def _check_batch(tables: dict[str, pd.DataFrame], store_ids: list[str]) -> None:
    """Keys unique in the batch and ``ro_id`` made of its own store id (else raise).

    Across batches, uniqueness holds by construction: customer ids and VINs continue
    running numbers, and ``ro_id`` starts with ``RO<store_id>-`` (store ids are unique).
    """
    for table, key in (("customers", "customer_id"), ("vehicles", "vin"),
                       ("repair_orders", "ro_id")):
        col = tables[table][key]
        if not col.is_unique:
            dup = col[col.duplicated()].iloc[0]
            raise RuntimeError(f"synth batch of stores {store_ids}: duplicate {key} {dup!r}")
    ro = tables["repair_orders"]
    groups = ro.groupby("store_id", sort=True).indices
    for sid, idx in groups.items():
        ids = pa.array(ro["ro_id"].to_numpy()[idx], pa.string())
        ok = pc.starts_with(ids, f"RO{sid}-").to_numpy(zero_copy_only=False)
        if sid not in store_ids or not ok.all():
            raise RuntimeError(
                f"synth batch of stores {store_ids}: ro_id {ids[int(np.argmin(ok))]!r} of "
                f"store {sid!r} is not of the form RO<store_id>-<yyyymmdd>-<n> of a store of "
                "the batch, so it could repeat in another batch"
            )


# ------------------------------------------------------------------------------ helpers


def _batch_seed(seed: int, batch: int) -> int:
    """A 64-bit seed for batch ``batch``, independent of every other batch."""
    hi, lo = np.random.SeedSequence(seed, spawn_key=(batch,)).generate_state(2, np.uint32)
    return (int(hi) << 32) | int(lo)


def _bytes_under(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _dump_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return None


def _peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (10**6 bytes)."""
    hwm = _status_mb("VmHWM:")
    if hwm is not None:
        return hwm
    try:
        import resource
    except ImportError:  # Windows
        return float("nan")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 1e6 if sys.platform == "darwin" else maxrss * 1024 / 1e6


def _rss_mb() -> float:
    rss = _status_mb("VmRSS:")
    return rss if rss is not None else _peak_rss_mb()

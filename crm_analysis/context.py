"""What every store notebook starts with: the data, the store and the analysis date.

Each report notebook receives ``data_dir``, ``store_id`` and ``as_of`` as papermill
parameters and needs the same three things from them: the whole dataset, the one store's
slice of it, and the analysis date as a timestamp. :func:`open_store` does that once, with
the checks a batch run needs (a store id that is not in the data is an error listing the
valid ones, never an empty report).

``data_dir`` may be a canonical dataset folder (``Dataset.to_dir``) or raw DMS exports
(a folder of CSV / Excel / Parquet files, or one file): :func:`is_raw_source` tells them
apart and :func:`load_data` reads either, raw exports through :func:`crm_analysis.io.load`
(pseudonymized, bad rows quarantined), cached per folder. The
:class:`~crm_analysis.io.LoadResult` of raw exports is kept on the context
(``ctx.load_result``) for the data-quality section of the reports.

Example
-------
>>> from crm_analysis.context import open_store
>>> from crm_analysis.schema import example_dataset
>>> ctx = open_store(example_dataset(), store_id="007")
>>> ctx.store_id, str(ctx.as_of.date()), ctx.store_name
('007', '2024-06-30', 'Wuhu')
"""

from __future__ import annotations

import functools
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from crm_analysis import config
from crm_analysis._inputs import read_as_of
from crm_analysis.io import LoadResult, load
from crm_analysis.io.load import EXTENSIONS
from crm_analysis.schema import Dataset

__all__ = ["LoadedData", "StoreContext", "check_data_files", "clear_cache", "is_raw_source",
           "load_data", "open_store", "refuse_special_file", "resolve_data_path",
           "special_file_kind"]

#: Files that make a folder a canonical dataset folder (see :func:`is_raw_source`).
_CANONICAL_MARKERS = ("repair_orders.parquet", "meta.json")


@dataclass(frozen=True)
class StoreContext:
    """One store of a dataset at an analysis date.

    Attributes
    ----------
    dataset:
        The whole dataset (every store), e.g. for group comparisons.
    data:
        ``dataset.for_store(store_id)``: the store's orders, vehicles and customers.
    store_id:
        The store code, always a string (``"007"`` stays ``"007"``).
    as_of:
        The analysis date T.
    store:
        The store's row of the stores table (``store_name``, ``city``, ...).
    load_result:
        The :class:`~crm_analysis.io.LoadResult` (report, quarantine, flags) when the data
        came from raw DMS exports; ``None`` for a dataset folder or a ``Dataset``.
    """

    dataset: Dataset
    data: Dataset
    store_id: str
    as_of: pd.Timestamp = field(kw_only=True)
    store: pd.Series
    load_result: LoadResult | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "as_of", read_as_of(self.as_of, where="StoreContext"))

    @property
    def store_name(self) -> str:
        """The store's name (its code when the name is missing)."""
        name = self.store.get("store_name")
        return str(name) if isinstance(name, str) and name else self.store_id


@dataclass(frozen=True)
class LoadedData:
    """What :func:`load_data` read: the dataset, and the :class:`~crm_analysis.io.LoadResult`
    (report, quarantine, flags) of raw DMS exports (``None`` for a dataset folder)."""

    dataset: Dataset
    load_result: LoadResult | None = None


def is_raw_source(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` holds raw DMS exports rather than a canonical dataset folder.

    A **file** is always a raw export. A **folder** is a canonical dataset folder (read
    with :meth:`Dataset.from_dir <crm_analysis.schema.Dataset.from_dir>`) when it holds
    ``repair_orders.parquet``, ``meta.json`` or a ``repair_orders.csv`` whose header has
    the canonical ``ro_id`` column; otherwise it is raw when it holds at least one data
    file (``.csv .txt .tsv .xlsx .xlsm .xls .parquet``, searched recursively, hidden
    files skipped). An empty or missing folder is not raw (reading it as a dataset folder
    gives the error that names the missing table).

    Example
    -------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = pathlib.Path(tmp)
    ...     empty = is_raw_source(folder)
    ...     _ = (folder / "工单导出.csv").write_text("工单号,进厂日期\\n", encoding="utf-8")
    ...     raw = is_raw_source(folder)
    ...     _ = (folder / "meta.json").write_text("{}", encoding="utf-8")
    ...     empty, raw, is_raw_source(folder)
    (False, True, False)
    """
    p = Path(path)
    if p.is_file():
        return True
    if not p.is_dir() or _is_dataset_dir(p):
        return False
    return bool(_raw_files(p))


def special_file_kind(mode: int) -> str | None:
    """What a file of mode ``mode`` (``os.stat(...).st_mode``) is when it is neither a
    regular file nor a folder, in words (``"a named pipe (FIFO)"``, ``"a socket"``,
    ``"a character device"``, ``"a block device"``); ``None`` for a file or a folder.

    Example
    -------
    >>> import stat
    >>> special_file_kind(stat.S_IFIFO | 0o644), special_file_kind(stat.S_IFREG | 0o644)
    ('a named pipe (FIFO)', None)
    """
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    for test, kind in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "a special file"


def check_data_files(path: str | os.PathLike[str], *, where: str | None = None) -> None:
    """A ``ValueError`` naming the first named pipe, socket or device file in the data
    folder ``path`` (or when ``path`` itself is one), found without opening anything:
    reading a FIFO waits for a writer forever. Hidden folders and ``__pycache__`` are
    skipped, as by :func:`crm_analysis.batch.hash_data`; a broken symbolic link is left
    to the reader to report.

    Example
    -------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     os.mkfifo(os.path.join(tmp, "orders.csv"))
    ...     check_data_files(tmp, where="load_data")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: load_data: .../orders.csv is a named pipe (FIFO), not a regular file: ...
    """
    root = Path(path)
    candidates = [root]
    if root.is_dir():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames
                                 if not d.startswith(".") and d != "__pycache__")
            candidates += [Path(dirpath, f) for f in sorted(filenames)]
    for f in candidates:
        try:
            mode = os.stat(f).st_mode
        except OSError:
            continue
        refuse_special_file(f, mode, where=where)


def refuse_special_file(path: str | os.PathLike[str], mode: int, *,
                        where: str | None = None) -> None:
    """A ``ValueError`` naming ``path`` when its mode (``os.stat(path).st_mode``) is that
    of a named pipe, socket or device file (:func:`special_file_kind`), else nothing."""
    kind = special_file_kind(mode)
    if kind is not None:
        lead = f"{where}: " if where else ""
        raise ValueError(f"{lead}{path} is {kind}, not a regular file: a data folder may "
                         "hold only files and folders (reading it could block forever); "
                         "remove it")


def _is_dataset_dir(folder: Path) -> bool:
    if any((folder / name).is_file() for name in _CANONICAL_MARKERS):
        return True
    csv = folder / "repair_orders.csv"
    if not csv.is_file():
        return False
    try:
        with csv.open(encoding="utf-8-sig", errors="replace") as fh:
            header = fh.readline()
    except OSError:
        return True  # let Dataset.from_dir report it
    return "ro_id" in [c.strip().strip('"') for c in header.split(",")]


def _raw_files(folder: Path) -> list[Path]:
    if not any(True for _ in folder.iterdir()):
        return []
    return sorted(
        f for f in folder.rglob("*")
        if f.is_file() and f.suffix.lower() in EXTENSIONS
        and not any(part.startswith((".", "~$")) for part in f.relative_to(folder).parts)
    )


def _signature(path: Path, raw: bool) -> tuple:
    """What the cache checks to notice a changed folder (names, sizes, modification times)."""
    try:
        if path.is_file():
            files = [path]
        elif raw:
            files = _raw_files(path)
        else:
            files = sorted(f for f in path.iterdir() if not f.name.startswith("."))
        return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    except OSError:
        return ()


def load_data(
    data: str | os.PathLike[str] | None,
    *,
    as_of: Any = None,
    store_id: str | None = None,
) -> LoadedData:
    """Read a dataset folder or raw DMS exports: a :class:`LoadedData` (``dataset``,
    ``load_result``).

    A canonical dataset folder is read with ``Dataset.from_dir`` and ``load_result`` is
    ``None``. Raw exports (see :func:`is_raw_source`) are read with
    :func:`crm_analysis.io.load` (``as_of`` passed on: later orders are quarantined;
    personal data pseudonymized with the key kept in the folder; times of day dropped from
    the dates, as the analyses work in days) and ``load_result`` is its
    :class:`~crm_analysis.io.LoadResult`. Results are cached per folder, ``as_of``
    and the folder's files (names, sizes, modification times); :func:`clear_cache`
    empties the cache. Treat the returned tables as read-only.

    With ``store_id``, a dataset folder whose tables are partitioned by store (written
    by ``crm-analysis synth --partitioned``) is read for that store only (see
    ``Dataset.from_dir``), so a notebook can open one store of a very large group; other
    folders are read whole.

    Raises
    ------
    FileNotFoundError
        A dataset folder without one of its tables.
    ValueError
        The folder holds a named pipe (FIFO), a socket or a device file (see
        :func:`check_data_files`): refused before anything is read.
    crm_analysis.io.DataError
        Raw exports that cannot be read (the message names the file and the problem).

    Example
    -------
    >>> import tempfile
    >>> from crm_analysis.schema import example_dataset
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = example_dataset().to_dir(tmp)
    ...     loaded = load_data(tmp)
    >>> len(loaded.dataset.repair_orders), loaded.load_result is None
    (5, True)
    """
    day = None if as_of is None else read_as_of(as_of).isoformat()
    path = resolve_data_path(data)
    check_data_files(path, where="load_data")
    raw = is_raw_source(path)
    if not raw:
        day = None
    store = None
    if store_id is not None and not raw and (path / "repair_orders").is_dir():
        store = str(store_id)
    return _cached_load(str(path), raw, day, _signature(path, raw), store)


def resolve_data_path(data: str | os.PathLike[str] | None) -> Path:
    """The absolute data folder (or file) that ``data`` names.

    ``None`` is the default generated data (``config.DEFAULT_DATA_DIR``). A relative path
    is looked up from the current folder first, then from the project root, so that
    ``"data/sample"`` works from the project root, from ``notebooks/`` in JupyterLab and in
    a report kernel alike.

    Raises
    ------
    FileNotFoundError
        Nothing exists there; the message names the places looked at and, for the default
        data, the command that makes it (``make data``).

    >>> resolve_data_path("crm_analysis") == config.PROJECT_ROOT / "crm_analysis"
    True
    """
    if data is None:
        candidates = [Path(config.DEFAULT_DATA_DIR)]
    else:
        given = Path(data).expanduser()
        candidates = [given] if given.is_absolute() else [Path.cwd() / given,
                                                          config.PROJECT_ROOT / given]
    for candidate in candidates:
        if candidate.exists():
            return candidate.resolve()
    looked = " or ".join(repr(str(c)) for c in dict.fromkeys(candidates))
    default = candidates[-1].resolve() == Path(config.DEFAULT_DATA_DIR).resolve()
    hint = ("run `make data` in the project folder to generate the default synthetic data"
            if default or data is None else
            "check the path, or run `make data DATA=<folder>` to generate synthetic data there")
    raise FileNotFoundError(f"data folder {str(data if data is not None else candidates[0])!r} "
                            f"not found (looked for {looked}); {hint}")


@functools.lru_cache(maxsize=4)
def _cached_load(path: str, raw: bool, as_of: str | None, _signature: tuple,
                 store: str | None = None) -> LoadedData:
    if not raw:
        return LoadedData(Dataset.from_dir(path, store_id=store))
    result = load(path, as_of=as_of)
    _to_days(result.dataset)
    return LoadedData(result.dataset, result)


def _to_days(dataset: Dataset) -> None:
    """Drop the time of day from every date column, in place (the analyses work in days).

    Raw exports may stamp orders with a time (``2023/1/5 8:05:00``); two orders of one
    day would otherwise count as two visits a few hours apart.
    """
    for df in dataset.tables.values():
        if df is None:
            continue
        for col in df.columns:
            if pd.api.types.is_datetime64_any_dtype(df[col]):
                df[col] = df[col].dt.normalize()


def clear_cache() -> None:
    """Forget the datasets :func:`load_data` has read.

    Example
    -------
    >>> clear_cache()
    """
    _cached_load.cache_clear()


def open_store(
    data: str | os.PathLike[str] | Dataset | None,
    *,
    store_id: Any,
    as_of: Any = None,
) -> StoreContext:
    """Load a dataset (or take one) and select a store and an analysis date.

    Parameters
    ----------
    data:
        A dataset folder, raw DMS exports (a folder of CSV / Excel / Parquet exports or
        one file, read with :func:`crm_analysis.io.load`, see :func:`load_data`), a
        :class:`~crm_analysis.schema.Dataset`, or ``None`` for the default generated
        data (``config.DEFAULT_DATA_DIR``). A folder partitioned by store (``crm-analysis
        synth --partitioned``) is read for ``store_id`` only.
    store_id:
        The store code; converted to ``str`` (papermill may inject ``7`` for ``"007"`` when
        called from its command line, which then fails here with the valid codes listed).
    as_of:
        The analysis date; ``None`` takes the export date recorded in the dataset's
        metadata, else the date of the last order. For raw exports it is also the
        loader's ``as_of``: orders opened after it are quarantined.

    Returns
    -------
    StoreContext
        With ``load_result`` set when the data came from raw exports.

    Raises
    ------
    TypeError
        When ``as_of`` is a number (``20240630``) or another non-date type.
    ValueError
        When the store is not in the data, or ``as_of`` is not a date.
    crm_analysis.io.DataError
        Raw exports that cannot be read.

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> open_store(example_dataset(), store_id="2")
    Traceback (most recent call last):
    ...
    ValueError: store_id '2' is not in the data; valid store ids: 001, 007
    """
    t = None if as_of is None else read_as_of(as_of)
    loaded = LoadedData(data) if isinstance(data, Dataset) else load_data(
        data, as_of=t, store_id=str(store_id))
    dataset, result = loaded.dataset, loaded.load_result
    sid = str(store_id)
    if sid not in dataset.store_ids:
        raise ValueError(f"store_id {sid!r} is not in the data; valid store ids: "
                         f"{', '.join(dataset.store_ids)}")
    if t is None:
        t = read_as_of(None, dataset)
    store = dataset.stores.set_index("store_id").loc[sid]
    return StoreContext(dataset=dataset, data=dataset.for_store(sid), store_id=sid,
                        as_of=t, store=store, load_result=result)


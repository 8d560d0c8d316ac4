"""Personal data: which columns hold it, keyed pseudonyms, and the store's secret key.

A store's DMS export names its customers (``name``), their phone numbers (``phone``),
sometimes their ID-card numbers (``id_number``) and the cars' plates (``plate``): personal
information under China's PIPL. Reports that leave the analyst's machine (an Excel call
list for a service manager, a chart in a slide deck) should not carry them.

- :data:`PII_COLUMNS` lists the personal columns of each table of the data model
  (DOMAIN.md section 2).
- :func:`pseudonymize` replaces identifiers (customer ids, VINs, phones, ...) by keyed
  pseudonyms: HMAC-SHA256 of the value under a secret key, first 12 hex characters. The
  same value and key always give the same pseudonym, so two reports made with the same
  key can be matched row by row, while someone without the key can neither reverse a
  pseudonym nor test a guessed phone number against it (a plain, unkeyed hash of an
  11-digit phone number is broken by trying all of them).
- :func:`store_key` keeps one random key per data directory in
  ``<data_dir>/.crm_analysis_key`` (created on first use, readable by its owner only).
- :func:`key_fingerprint` is a short public tag of a key, printed in reports so that
  readers can tell whether two reports used the same key, without revealing it.

12 hex characters are 48 bits: for a store's 10⁵ customers the chance that two share a
pseudonym is about n² / 2⁴⁹ ≈ 2 × 10⁻⁵.

Example
-------
>>> from crm_analysis.privacy import pseudonymize
>>> pseudonymize(["C0001", "C0002", None, "C0001"], key=b"secret")
['052dc3fcc4ce', '1ce2c62e7b94', None, '052dc3fcc4ce']
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import numbers
import os
import secrets
import stat
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "KEY_FILE",
    "PII_COLUMNS",
    "PSEUDONYM_LENGTH",
    "key_fingerprint",
    "pseudonymize",
    "store_key",
]

#: Personal columns of each table of the data model: never written to a shared report
#: unless the user asks for them.
PII_COLUMNS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "customers": ("name", "phone", "id_number"),
    "vehicles": ("plate",),
})

#: Name of the key file that :func:`store_key` keeps in a data directory.
KEY_FILE = ".crm_analysis_key"

#: Hex characters kept from the HMAC-SHA256 digest.
PSEUDONYM_LENGTH = 12

_KEY_BYTES = 32  # 256 random bits; stored as 64 hex characters


def _key_bytes(key: Any, where: str) -> bytes:
    """The key as bytes (str keys are UTF-8 encoded); a clear error otherwise."""
    if key is None:
        raise ValueError(f"{where}: a key is required (bytes or str); get one with "
                         "crm_analysis.privacy.store_key(data_dir)")
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes | bytearray):
        raise TypeError(f"{where}: key must be bytes or str, got {type(key).__name__}")
    if len(key) == 0:
        raise ValueError(f"{where}: the key is empty")
    return bytes(key)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    if isinstance(value, np.datetime64 | np.timedelta64):
        return bool(np.isnat(value))
    return False


def _hash_input(value: Any) -> str:
    """The text that is hashed: ``str(value)``, with whole floats written as integers.

    Identifiers read from Excel often arrive as floats (``13800138000.0``); they hash
    like the integer ``13800138000`` and the string ``"13800138000"``. Leading zeros of
    a string id are kept (``"007"`` differs from ``7``).
    """
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def _digest(text: str, key: bytes) -> str:
    mac = hmac.new(key, text.encode("utf-8"), hashlib.sha256)
    return mac.hexdigest()[:PSEUDONYM_LENGTH]


def pseudonymize(values: Any, key: bytes | str, *, prefix: str = "") -> pd.Series | list | str:
    """Keyed pseudonyms of identifiers: ``prefix`` + the first 12 hex characters of
    HMAC-SHA256(key, value).

    Parameters
    ----------
    values:
        A pandas Series or Index (a Series / Index of pseudonyms is returned, same index
        and name), any other iterable (list, tuple, numpy array, Polars series; a list is
        returned), or a single value (a single pseudonym is returned). Each value is
        hashed as text: ``str(value)``, except that integers and whole floats are written
        without a decimal point (``13800138000.0`` → ``"13800138000"``); ``"007"`` and
        ``7`` therefore differ. Missing values (None, NaN, NaT, ``pd.NA``) stay missing
        (None).
    key:
        The secret key (bytes, or str encoded as UTF-8), e.g. from :func:`store_key`.
        Required: an unkeyed hash of a phone number or an id is easily reversed.
    prefix:
        Put in front of each pseudonym (e.g. ``"C-"``).

    Returns
    -------
    pandas Series / Index, list or str, as described above. The same value and key give
    the same pseudonym in every call; different keys give unrelated pseudonyms.

    Raises
    ------
    ValueError, TypeError
        No key, an empty key, or a key that is not bytes / str.

    Example
    -------
    >>> import pandas as pd
    >>> s = pd.Series(["C0001", None], name="customer_id", index=[10, 11])
    >>> pseudonymize(s, "secret", prefix="C-")
    10    C-052dc3fcc4ce
    11              None
    Name: customer_id, dtype: object
    >>> pseudonymize(13800138000.0, "secret") == pseudonymize("13800138000", "secret")
    True
    """
    k = _key_bytes(key, "pseudonymize")
    if not isinstance(prefix, str):
        raise TypeError(f"pseudonymize: prefix must be a str, got {type(prefix).__name__}")

    def one(v: Any) -> str | None:
        return None if _missing(v) else prefix + _digest(_hash_input(v), k)

    if isinstance(values, pd.Series | pd.Index):
        if isinstance(values, pd.MultiIndex):
            raise TypeError("pseudonymize: a MultiIndex is not supported; pass one level")
        obj = values.astype(object)
        codes, uniques = pd.factorize(obj, use_na_sentinel=True)
        mapped = np.array([one(u) for u in uniques] + [None], dtype=object)
        out = mapped[np.where(codes < 0, len(uniques), codes)]
        if isinstance(values, pd.Index):
            return pd.Index(out, name=values.name, dtype=object)
        return pd.Series(out, index=values.index, name=values.name, dtype=object)
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        return one(values)
    cache: dict[Any, str | None] = {}
    result = []
    for v in values:
        if _missing(v):
            result.append(None)
            continue
        text = _hash_input(v)
        if text not in cache:
            cache[text] = prefix + _digest(text, k)
        result.append(cache[text])
    return result


def key_fingerprint(key: bytes | str) -> str:
    """A short public tag of ``key`` (8 hex characters) for reports.

    It is an HMAC of a fixed text under the key, so it reveals nothing usable about the
    key or about any pseudonym, yet two reports showing the same fingerprint were made
    with the same key (and their pseudonyms can be matched).

    Example
    -------
    >>> key_fingerprint(b"secret")
    '28fb716f'
    >>> key_fingerprint("secret") == key_fingerprint(b"secret")
    True
    """
    k = _key_bytes(key, "key_fingerprint")
    return hmac.new(k, b"crm_analysis key fingerprint", hashlib.sha256).hexdigest()[:8]


def store_key(data_dir: str | os.PathLike[str], key: bytes | str | None = None) -> bytes:
    """The pseudonymization key of a data directory, created on first use.

    Parameters
    ----------
    data_dir:
        The directory holding the store's data; it must exist.
    key:
        A user-supplied key (bytes or str): it wins, and nothing is read or written.

    Returns
    -------
    The key as bytes. Without ``key``, the content of ``<data_dir>/.crm_analysis_key``
    (surrounding whitespace stripped). When that file does not exist it is created with
    64 random hex characters (256 bits from :mod:`secrets`) and permissions 0600 (owner
    read/write only). Creation is atomic and exclusive (the key is written to a temporary
    file, then hard-linked into place): processes starting at once all end up with the
    same key, and none reads an empty or partial key file. Keep the file out of version
    control and out of shared folders: whoever has it can test guesses against the
    pseudonyms. Deleting it makes future pseudonyms unrelated to past ones.

    Raises
    ------
    FileNotFoundError
        ``data_dir`` does not exist (or is not a directory).
    ValueError
        The key file exists but is empty or not a regular file, or ``key`` is empty.

    Warns
    -----
    UserWarning
        The existing key file is readable by other users (POSIX permissions).

    Example
    -------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     k1 = store_key(d)
    ...     k2 = store_key(d)
    ...     mode = oct(os.stat(os.path.join(d, KEY_FILE)).st_mode & 0o777)
    >>> k1 == k2, len(k1), mode
    (True, 64, '0o600')
    >>> store_key("/nonexistent-dir", key="my key")
    b'my key'
    """
    if key is not None:
        return _key_bytes(key, "store_key")
    directory = Path(data_dir)
    if not directory.is_dir():
        raise FileNotFoundError(f"store_key: data directory {str(directory)!r} does not exist "
                                "or is not a directory")
    path = directory / KEY_FILE
    if not os.path.lexists(path):
        _create_key(path)
    return _read_key(path)


def _create_key(path: Path) -> None:
    """Create the key file atomically: the random key is written and flushed to a private
    temporary file first, which is then hard-linked to ``path``. A link never replaces an
    existing file, so when several processes create the key at once exactly one wins and
    the others read its key; nobody ever sees an empty or half-written key file."""
    text = (secrets.token_hex(_KEY_BYTES) + "\n").encode("ascii")
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:  # a read-only data folder: name the key, not the temporary file
        raise OSError(exc.errno, f"cannot create the pseudonymization key: {exc.strerror}",
                      str(path)) from exc
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # whatever the umask
            _write_all(fd, text)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created the key first: everybody uses that one
        except OSError:
            # no hard links on this file system (FAT, some network shares): create the
            # file exclusively in place; a reader that finds it still empty waits a moment
            # (see _read_key)
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    _write_all(fd, text)
                    os.fsync(fd)
                finally:
                    os.close(fd)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


#: How long a reader waits for a key file that was created a moment ago and is still empty
#: (only possible where the file system has no hard links; see :func:`_create_key`).
_FRESH_KEY_SECONDS = 1.0


def _read_key(path: Path) -> bytes:
    while True:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"store_key: key file {str(path)!r} is not a regular file; "
                             "delete it to create a new key")
        data = path.read_bytes().strip()
        if data or time.time() - st.st_mtime > _FRESH_KEY_SECONDS:
            break
        time.sleep(0.01)
    mode = st.st_mode
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.warn(f"store_key: key file {str(path)!r} is accessible by other users "
                      f"(mode {oct(mode & 0o777)}); run: chmod 600 {path}", stacklevel=3)
    if not data:
        raise ValueError(f"store_key: key file {str(path)!r} is empty; delete it to create "
                         "a new key (pseudonyms will change) or restore the old one")
    return data

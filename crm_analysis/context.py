"""What every store notebook starts with: the data, the store and the analysis date.

Each report notebook receives ``data_dir``, ``store_id`` and ``as_of`` as papermill
parameters and needs the same three things from them: the whole dataset, the one store's
slice of it, and the analysis date as a timestamp. :func:`open_store` does that once, with
the checks a batch run needs (a store id that is not in the data is an error listing the
valid ones, never an empty report).

Example
-------
>>> from crm_analysis.context import open_store
>>> from crm_analysis.schema import example_dataset
>>> ctx = open_store(example_dataset(), "007")
>>> ctx.store_id, str(ctx.as_of.date()), ctx.store_name
('007', '2024-06-30', 'Wuhu')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pandas as pd

from crm_analysis import config
from crm_analysis.schema import Dataset

__all__ = ["StoreContext", "open_store"]


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
    """

    dataset: Dataset
    data: Dataset
    store_id: str
    as_of: pd.Timestamp
    store: pd.Series

    @property
    def store_name(self) -> str:
        """The store's name (its code when the name is missing)."""
        name = self.store.get("store_name")
        return str(name) if isinstance(name, str) and name else self.store_id


def open_store(
    data: str | os.PathLike[str] | Dataset | None,
    store_id: Any,
    as_of: Any = None,
) -> StoreContext:
    """Load a dataset (or take one) and select a store and an analysis date.

    Parameters
    ----------
    data:
        A dataset folder, a :class:`~crm_analysis.schema.Dataset`, or ``None`` for the
        default generated data (``config.DEFAULT_DATA_DIR``).
    store_id:
        The store code; converted to ``str`` (papermill may inject ``7`` for ``"007"`` when
        called from its command line, which then fails here with the valid codes listed).
    as_of:
        The analysis date; ``None`` takes the export date recorded in the dataset's
        metadata, else the date of the last order.

    Returns
    -------
    StoreContext

    Raises
    ------
    ValueError
        When the store is not in the data, or ``as_of`` is not a date.

    Example
    -------
    >>> from crm_analysis.schema import example_dataset
    >>> open_store(example_dataset(), "2")
    Traceback (most recent call last):
    ...
    ValueError: store_id '2' is not in the data; valid store ids: 001, 007
    """
    dataset = data if isinstance(data, Dataset) else Dataset.from_dir(
        data or config.DEFAULT_DATA_DIR)
    sid = str(store_id)
    if sid not in dataset.store_ids:
        raise ValueError(f"store_id {sid!r} is not in the data; valid store ids: "
                         f"{', '.join(dataset.store_ids)}")
    if as_of is None:
        as_of = dataset.meta.get("as_of") or dataset.repair_orders["open_date"].max()
    try:
        t = pd.Timestamp(as_of)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"as_of={as_of!r} is not a date") from exc
    if pd.isna(t):
        raise ValueError(f"as_of={as_of!r} is not a date")
    store = dataset.stores.set_index("store_id").loc[sid]
    return StoreContext(dataset=dataset, data=dataset.for_store(sid), store_id=sid,
                        as_of=t, store=store)

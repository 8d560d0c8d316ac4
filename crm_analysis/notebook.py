"""The notebook kit: what every chapter's first code cell and every figure cell needs.

A report notebook or lesson opens its store, sets up figures and narration in the
reader's language, and then reads like the analysis: short code cells that call the
library, one line per finding. :func:`open_chapter` does the opening in one call and
returns a :class:`Chapter`; :func:`figure` (also ``ch.figure``) replaces the subplots /
tight_layout / show boilerplate; :func:`progress` shows progress of a long loop to a reader in
JupyterLab and stays silent in batch reports.

Example
-------
>>> from crm_analysis.notebook import open_chapter
>>> from crm_analysis.schema import example_dataset
>>> ch = open_chapter(example_dataset(), store_id="007", lang="zh")
>>> ch.store_id, ch.store_name, str(ch.as_of.date()), len(ch.orders)
('007', 'Wuhu', '2024-06-30', 2)
>>> ch.n.text("common.store", **ch.title_values())
'**Wuhu（007）** · 分析日期 **2024年6月30日**'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crm_analysis import plotting
from crm_analysis._inputs import read_as_of
from crm_analysis.config import BATCH_ENV
from crm_analysis.context import StoreContext, open_store
from crm_analysis.i18n import check_lang, t
from crm_analysis.narrative import Narrator
from crm_analysis.schema import Dataset

__all__ = ["Chapter", "figure", "open_chapter", "progress", "year_label"]



@contextlib.contextmanager
def figure(nrows: int = 1, ncols: int = 1, *, size: tuple[float, float] | None = None,
           **subplots: Any) -> Iterator[Any]:
    """A figure for one cell: yields its Axes, then lays it out and shows it.

    One Axes for ``nrows = ncols = 1``, else the flat array of Axes (unpack it:
    ``with figure(1, 2) as (left, right):``). ``size`` is (width, height) in inches;
    other keywords go to ``plt.subplots``. The figure is closed after it is shown, so a
    long notebook does not keep every figure in memory.

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> with figure(1, 2, size=(8, 3)) as (left, right):
    ...     _ = left.plot([0, 1], [1, 2])
    """
    import matplotlib.pyplot as plt

    if size is not None:
        subplots["figsize"] = size
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, **subplots)
    flat = axes.ravel()
    try:
        yield flat[0] if flat.size == 1 else flat
        fig.tight_layout()
        plt.show()
    finally:
        plt.close(fig)


@dataclass(frozen=True)
class Chapter:
    """One store, one analysis date, one language: what a notebook works with.

    Attributes
    ----------
    ctx:
        The :class:`~crm_analysis.context.StoreContext` (with ``load_result``).
    n:
        The :class:`~crm_analysis.narrative.Narrator` of the chapter's language.
    lang, dataset, data, store_id, as_of, store, store_name, orders:
        The language; the whole dataset; the store's slice of it; the store code (a
        string); the analysis date T; the store's row of the stores table; its name; its
        repair orders.
    """

    ctx: StoreContext
    n: Narrator
    lang: str
    dataset: Dataset
    data: Dataset
    store_id: str
    as_of: pd.Timestamp = field(kw_only=True)
    store: pd.Series
    store_name: str
    orders: pd.DataFrame

    def __post_init__(self) -> None:
        object.__setattr__(self, "as_of", read_as_of(self.as_of, where="Chapter"))

    #: the kit's figure helper, as a method for a chapter's cells: ``ch.figure(1, 2)``
    figure = staticmethod(figure)

    def title_values(self) -> dict[str, Any]:
        """The values of the chapter's title line (``common.store`` in the catalog)."""
        return {"store_name": self.store_name, "store_id": self.store_id, "as_of": self.as_of}

    def title(self) -> None:
        """Display the store, its code and the analysis date (the chapter's first line)."""
        self.n.tell("common.store", **self.title_values())

    def label(self, key: str, **fmt: Any) -> str:
        """A figure or table label in the chapter's language (:func:`crm_analysis.i18n.t`)."""
        return t(key, self.lang, **fmt)


def open_chapter(
    data_dir: str | os.PathLike[str] | Dataset | None,
    *,
    store_id: Any,
    as_of: Any = None,
    lang: str = "en",
) -> Chapter:
    """Open a store for a notebook: data, analysis date, figures and narration in ``lang``.

    ``data_dir``, ``store_id`` and ``as_of`` are the notebook's parameters, passed on to
    :func:`crm_analysis.context.open_store` (a relative folder is looked up from the
    current folder, then from the project root; ``None`` is the default generated data).
    Figures are set up for ``lang`` (:func:`crm_analysis.plotting.setup`: Chinese glyphs
    for ``"zh"``).

    Raises
    ------
    TypeError
        ``as_of`` that is not a date (an int such as ``20240630``).
    ValueError
        An unknown language or store (the valid store ids are listed).
    FileNotFoundError
        A data folder that does not exist (the message says how to make the default data).
    """
    check_lang(lang)
    if as_of is not None:
        as_of = read_as_of(as_of)
    ctx = open_store(data_dir, store_id=store_id, as_of=as_of)
    plotting.setup(lang)
    return Chapter(ctx=ctx, n=Narrator(lang), lang=lang, dataset=ctx.dataset, data=ctx.data,
                   store_id=ctx.store_id, as_of=ctx.as_of, store=ctx.store,
                   store_name=ctx.store_name, orders=ctx.data.repair_orders)


def year_label(band: int, lang: str = "en") -> str:
    """The label of a vehicle-age band: band 0 is "Year 1" / "第1年".

    >>> year_label(0), year_label(4, "zh")
    ('Year 1', '第5年')
    """
    return t("metric.age_band", lang, n=int(band) + 1)


def progress(items: Iterable[Any], *, total: int | None = None, desc: str = "") -> Iterable[Any]:
    """``items`` with a progress bar for a reader in JupyterLab or a terminal.

    In a batch report (the runner sets ``CRM_ANALYSIS_BATCH`` in its kernels) the items
    pass through untouched, so that no progress bar ends up in the HTML.

    >>> list(progress(range(3), desc="k-means"))
    [0, 1, 2]
    """
    if os.environ.get(BATCH_ENV):
        return items
    from tqdm.auto import tqdm  # tqdm comes with papermill

    return tqdm(items, total=total, desc=desc, leave=False)

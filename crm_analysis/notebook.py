"""The notebook kit: what every chapter's first code cell and every figure cell needs.

A report notebook or lesson opens its store, sets up figures and narration in the
reader's language, and then reads like the analysis: short code cells that call the
library, one line per finding. :func:`open_chapter` does the opening in one call and
returns a :class:`Chapter`; :meth:`Chapter.figure` replaces the subplots / tight_layout /
show boilerplate; :func:`progress` shows progress of a long loop to a reader in
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
from dataclasses import dataclass
from typing import Any

import pandas as pd

from crm_analysis import plotting
from crm_analysis.context import StoreContext, open_store
from crm_analysis.i18n import check_lang, t
from crm_analysis.narrative import Narrator
from crm_analysis.schema import Dataset

__all__ = ["Chapter", "open_chapter", "progress", "year_label"]

#: Environment variable set by the report runner in its kernels (see
#: ``reporting.KERNEL_ENV``): progress bars are for people, not for HTML reports.
BATCH_ENV = "CRM_ANALYSIS_BATCH"


@dataclass(frozen=True)
class Chapter:
    """One store, one analysis date, one language: what a notebook works with.

    Attributes
    ----------
    ctx:
        The :class:`~crm_analysis.context.StoreContext` (``dataset``, ``data``,
        ``store_id``, ``as_of``, ``store``, ``load_result``).
    n:
        The :class:`~crm_analysis.narrative.Narrator` of the chapter's language.
    """

    ctx: StoreContext
    n: Narrator

    # the context's fields, by the names the notebooks use
    @property
    def lang(self) -> str:
        """``"en"`` or ``"zh"``."""
        return self.n.lang

    @property
    def dataset(self) -> Dataset:
        """The whole dataset (every store)."""
        return self.ctx.dataset

    @property
    def data(self) -> Dataset:
        """The store's slice of the dataset."""
        return self.ctx.data

    @property
    def store_id(self) -> str:
        """The store code (a string: ``"007"``)."""
        return self.ctx.store_id

    @property
    def as_of(self) -> pd.Timestamp:
        """The analysis date T."""
        return self.ctx.as_of

    @property
    def store(self) -> pd.Series:
        """The store's row of the stores table."""
        return self.ctx.store

    @property
    def store_name(self) -> str:
        """The store's name."""
        return self.ctx.store_name

    @property
    def orders(self) -> pd.DataFrame:
        """The store's repair orders."""
        return self.ctx.data.repair_orders

    def title_values(self) -> dict[str, Any]:
        """The values of the chapter's title line (``common.store`` in the catalog)."""
        return {"store_name": self.store_name, "store_id": self.store_id, "as_of": self.as_of}

    def title(self) -> None:
        """Display the store, its code and the analysis date (the chapter's first line)."""
        self.n.tell("common.store", **self.title_values())

    def label(self, key: str, **fmt: Any) -> str:
        """A figure or table label in the chapter's language (:func:`crm_analysis.i18n.t`)."""
        return t(key, self.lang, **fmt)

    @contextlib.contextmanager
    def figure(self, nrows: int = 1, ncols: int = 1, *, size: tuple[float, float] | None = None,
               **subplots: Any) -> Iterator[Any]:
        """A figure for one cell: yields its Axes, then lays it out and shows it.

        One Axes for ``nrows = ncols = 1``, else the flat array of Axes (unpack it:
        ``with ch.figure(1, 2) as (left, right):``). ``size`` is (width, height) in
        inches; other keywords go to ``plt.subplots``. The figure is closed after it is
        shown, so a long notebook does not keep every figure in memory.

        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from crm_analysis.schema import example_dataset
        >>> ch = open_chapter(example_dataset(), store_id="007")
        >>> with ch.figure(1, 2, size=(8, 3)) as (left, right):
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
    ValueError
        An unknown language or store (the valid store ids are listed).
    FileNotFoundError
        A data folder that does not exist (the message says how to make the default data).
    """
    check_lang(lang)
    ctx = open_store(data_dir, store_id=store_id, as_of=as_of)
    plotting.setup(lang)
    return Chapter(ctx=ctx, n=Narrator(lang))


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

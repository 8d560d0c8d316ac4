"""open_store: the common start of every store notebook."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_analysis.context import open_store
from crm_analysis.schema import example_dataset


def test_store_slice_and_default_date(tmp_path):
    ds = example_dataset()
    ds.to_dir(tmp_path)
    ctx = open_store(tmp_path, "001")
    assert ctx.store_id == "001" and ctx.as_of == pd.Timestamp(ds.meta["as_of"])
    assert set(ctx.data.repair_orders["store_id"]) == {"001"}
    assert len(ctx.dataset.repair_orders) == len(ds.repair_orders)
    assert ctx.store_name == "Hefei North"


def test_explicit_date_and_errors():
    ds = example_dataset()
    assert open_store(ds, "007", "2023-12-31").as_of == pd.Timestamp("2023-12-31")
    with pytest.raises(ValueError, match="valid store ids: 001, 007"):
        open_store(ds, 7)  # what papermill's CLI makes of "007"
    with pytest.raises(ValueError, match="is not a date"):
        open_store(ds, "001", "last tuesday")

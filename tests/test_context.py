"""open_store: the common start of every store notebook."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_analysis.context import load_data, open_store
from crm_analysis.schema import example_dataset


def test_store_slice_and_default_date(tmp_path):
    ds = example_dataset()
    ds.to_dir(tmp_path)
    ctx = open_store(tmp_path, store_id="001")
    assert ctx.store_id == "001" and ctx.as_of == pd.Timestamp(ds.meta["as_of"])
    assert set(ctx.data.repair_orders["store_id"]) == {"001"}
    assert len(ctx.dataset.repair_orders) == len(ds.repair_orders)
    assert ctx.store_name == "Hefei North"


def test_explicit_date_and_errors():
    ds = example_dataset()
    assert open_store(ds, store_id="007", as_of="2023-12-31").as_of == pd.Timestamp("2023-12-31")
    with pytest.raises(ValueError, match="valid store ids: 001, 007"):
        open_store(ds, store_id=7)  # what papermill's CLI makes of "007"
    with pytest.raises(ValueError, match="is not a date"):
        open_store(ds, store_id="001", as_of="last tuesday")


def test_an_integer_as_of_is_a_type_error(tmp_path):
    ds = example_dataset()
    with pytest.raises(TypeError, match="^open_store: as_of must be a date"):
        open_store(ds, store_id="001", as_of=20231231)
    with pytest.raises(TypeError, match="^load_data: as_of must be a date"):
        load_data(tmp_path, as_of=20231231)

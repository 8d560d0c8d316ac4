"""Engine equivalence on PySpark: the cases of ``test_engines.py`` on a local Spark
session (``local[2]``). Run with ``make test-spark``; needs the ``spark`` extra
(``pip install -e ".[spark]"``) and Java 17 or newer. ``make test`` leaves these tests
out (marker ``spark``).

Spark runs a Python UDF-free plan for every builder, but each call still costs seconds of
planning and scheduling, so the data here are tiny: equivalence is about the plan, not the
volume.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from engines import assert_same, cases, convert, dataset, kind

pytestmark = pytest.mark.spark


def _java_problem() -> str | None:
    java = shutil.which("java") or (os.environ.get("JAVA_HOME") and os.path.join(
        os.environ["JAVA_HOME"], "bin", "java"))
    if not java or not os.path.exists(java):
        return "Java is not installed (PySpark needs Java 17 or newer on PATH or JAVA_HOME)"
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    return None if out else f"'{java} -version' printed nothing"


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark", reason="PySpark is not installed: pip install -e '.[spark]'")
    problem = _java_problem()
    if problem:
        pytest.skip(problem)
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]").appName("crm_analysis-tests")
        # naive dates are wall-clock times: read and shown in UTC, never shifted
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def data():
    tables, as_of = dataset(scale=0.01)
    calls = cases(as_of)
    return tables, calls, {name: call(tables) for name, call in calls.items()}


@pytest.mark.parametrize("name", list(cases(pd.Timestamp("2026-06-30"))))
def test_builder_gives_the_pandas_rows_on_spark(spark, data, name):
    tables, calls, expected = data
    got = calls[name](convert(tables, "pyspark", spark))
    assert kind(got) == "pyspark", f"{name} returned a {kind(got)} frame"
    assert_same(got, expected[name], f"{name} on pyspark")

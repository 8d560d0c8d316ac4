"""Library functions behind notebook 04 (churn risk and the five classes), checked by hand.

- :func:`churn.training_snapshots_allowed` / :func:`churn.backtest_on_history`: how many
  yearly training snapshots a short order history allows, and a backtest on them;
- :func:`churn.calibration_gap` and :func:`churn.baseline_fallbacks`: what the chapter says
  about calibration and about BTYD baselines that did not converge;
- :func:`five_classes.reason_labels` and :func:`five_classes.top_reasons`: the reasons of a
  call list in words, and the most frequent ones;
- :func:`plots.churn_probabilities`: the histogram of today's churn probabilities.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from crm_analysis import plots  # noqa: E402
from crm_analysis.churn import (  # noqa: E402
    BacktestResult,
    backtest,
    backtest_on_history,
    baseline_fallbacks,
    calibration_gap,
    training_snapshots_allowed,
)
from crm_analysis.five_classes import reason_labels, top_reasons  # noqa: E402
from crm_analysis.synth import generate  # noqa: E402


def _orders(days, store="001"):
    days = list(days)
    return pd.DataFrame({"store_id": store, "customer_id": [f"C{i}" for i in range(len(days))],
                         "vin": [f"V{i}" for i in range(len(days))],
                         "open_date": pd.to_datetime(days)})


# ------------------------------------------------------------------ training snapshots


@pytest.fixture(scope="module")
def orders():
    # store 001 on these days; store 002 has an order in every year, which must not count
    own = _orders(["2019-03-01", "2020-05-01", "2022-02-01"])
    other = _orders([f"{y}-01-15" for y in range(2014, 2024)], store="002")
    return {"repair_orders": pd.concat([own, other], ignore_index=True)}


@pytest.mark.parametrize("window,requested,expected", [
    # T_test = 2023-06-30; snapshot k at 2023-06-30 − k years
    (24, 10, 4),  # k = 1..4 have an order in the 24 months before; k = 5 (2018-06-30) none
    (24, 3, 3),   # never more than requested
    (12, 10, 1),  # (2020-06-30, 2021-06-30] is empty for k = 2
    (6, 10, 1),   # (2021-12-31, 2022-06-30] holds 2022-02-01; (2020-12-31, 2021-06-30] none
])
def test_training_snapshots_by_hand(orders, window, requested, expected):
    got = training_snapshots_allowed(orders, as_of="2024-06-30", store_id="001",
                                     horizon_months=12, window_months=window,
                                     train_snapshots=requested)
    assert got == expected


def test_training_snapshot_window_bounds():
    """A snapshot counts an order on its own date, not one on the window's first day."""
    kw = dict(as_of="2024-06-30", store_id="001", horizon_months=12, window_months=12,
              train_snapshots=3)
    # snapshot 1 at 2022-06-30 sees (2021-06-30, 2022-06-30], snapshot 2 sees
    # (2020-06-30, 2021-06-30]
    for day, expected in [("2022-06-30", 1), ("2021-07-01", 1), ("2021-06-30", 0),
                          ("2022-07-01", 0)]:
        data = {"repair_orders": _orders([day])}
        assert training_snapshots_allowed(data, **kw) == expected, day
    both = {"repair_orders": _orders(["2021-06-30", "2022-06-30"])}
    assert training_snapshots_allowed(both, **kw) == 2


def test_no_snapshot_when_the_store_is_new(orders):
    # first order 2019-03-01; the first snapshot, at 2018-06-30, has no order before it
    assert training_snapshots_allowed(orders, as_of="2020-06-30", store_id="001",
                                      window_months=12) == 0


def test_training_snapshots_checks_its_arguments(orders):
    with pytest.raises(TypeError, match="training_snapshots_allowed.*as_of"):
        training_snapshots_allowed(orders, as_of=20240630)
    with pytest.raises(TypeError, match="train_snapshots"):
        training_snapshots_allowed(orders, as_of="2024-06-30", train_snapshots="3")
    with pytest.raises(ValueError, match="train_snapshots"):
        training_snapshots_allowed(orders, as_of="2024-06-30", train_snapshots=0)


@pytest.fixture(scope="module")
def short_history():
    """Three years of orders: one yearly training snapshot before the test year."""
    return generate(n_stores=1, seed=5, start="2021-07-01", as_of="2024-06-30", scale=0.05)


FAST = dict(store_id="001", models="logistic", permutation_repeats=0)


def test_backtest_on_history_uses_the_snapshots_the_history_allows(short_history):
    assert training_snapshots_allowed(short_history, store_id="001") == 1
    res = backtest_on_history(short_history, train_snapshots=3, **FAST)
    assert [d.date().isoformat() for d in res.train_dates_] == ["2022-06-30"]
    assert res.test_date_ == pd.Timestamp("2023-06-30")
    # the same as asking backtest for one snapshot
    direct = backtest(short_history, train_snapshots=1, **FAST)
    pd.testing.assert_frame_equal(res.metrics_, direct.metrics_)
    # plain backtest with three snapshots fails on this history
    with pytest.raises(ValueError, match="training snapshot"):
        backtest(short_history, train_snapshots=3, **FAST)


def test_backtest_on_history_without_any_snapshot_fails_like_backtest():
    ds = generate(n_stores=1, seed=5, start="2022-07-01", as_of="2024-06-30", scale=0.05)
    with pytest.raises(ValueError, match="training snapshot at 2022-06-30 has no customer"):
        backtest_on_history(ds, train_snapshots=3, **FAST)


def test_backtest_on_history_refuses_an_integer_date(short_history):
    with pytest.raises(TypeError, match="backtest_on_history.*as_of"):
        backtest_on_history(short_history, as_of=20240630, **FAST)


# ------------------------------------------------------------------ calibration, fallbacks


def _result(calibration=None, notes=None, best="m"):
    empty = pd.DataFrame()
    kw = {} if notes is None else {"notes_": notes}
    return BacktestResult(empty, empty if calibration is None else calibration, empty, empty,
                          [], pd.Timestamp("2023-06-30"), best, {}, empty, **kw)


def test_calibration_gap_by_hand():
    cal = pd.DataFrame({"model": ["m", "m", "m", "x"], "bin": [0, 3, 8, 0],
                        "mean_predicted": [0.05, 0.35, 0.85, 0.0],
                        "observed_rate": [0.05, 0.45, 0.65, 1.0],
                        "customers": [50, 30, 20, 9]})
    res = _result(cal)
    # (50 × 0 + 30 × 0.10 + 20 × 0.20) / 100 = 0.07
    assert calibration_gap(res) == pytest.approx(0.07)
    assert calibration_gap(res, "x") == pytest.approx(1.0)
    assert np.isnan(calibration_gap(res, "unknown"))


def test_calibration_gap_of_perfect_probabilities_is_zero():
    cal = pd.DataFrame({"model": "m", "bin": [1, 5], "mean_predicted": [0.1, 0.5],
                        "observed_rate": [0.1, 0.5], "customers": [10, 10]})
    assert calibration_gap(_result(cal)) == 0.0


def _notes(rows):
    return pd.DataFrame(rows, columns=["baseline", "attempt", "model", "status", "message",
                                       "used"])


def test_baseline_fallbacks():
    notes = _notes([
        ("bgnbd_p_alive", 1, "bgnbd", "converged", "", True),
        ("mbgcnbd_p_alive", 1, "mbgcnbd", "failed", "no maximum", False),
        ("mbgcnbd_p_alive", 2, "mbgnbd", "failed", "no maximum", False),
        ("mbgcnbd_p_alive", 3, "bgnbd", "converged", "", True),
    ])
    got = baseline_fallbacks(_result(notes=notes))
    assert got.to_dict("records") == [
        {"baseline": "mbgcnbd_p_alive", "model": "mbgcnbd", "fitted_model": "bgnbd"},
        {"baseline": "mbgcnbd_p_alive", "model": "mbgnbd", "fitted_model": "bgnbd"},
    ]


def test_baseline_fallbacks_when_no_model_converges():
    notes = _notes([
        ("bgnbd_p_alive", k + 1, m, "failed", "no maximum", False)
        for k, m in enumerate(("bgnbd", "mbgnbd", "mbgcnbd"))
    ] + [("mbgcnbd_p_alive", 1, "mbgcnbd", "converged", "", True)])
    got = baseline_fallbacks(_result(notes=notes))
    assert got["model"].tolist() == ["bgnbd", "mbgnbd", "mbgcnbd"]
    assert got["fitted_model"].tolist() == [None, None, None]


def test_no_fallback_when_every_model_converges(short_history):
    res = backtest(short_history, train_snapshots=1, **FAST)
    got = baseline_fallbacks(res)
    assert got.empty and list(got.columns) == ["baseline", "model", "fitted_model"]
    assert len(baseline_fallbacks(_result())) == 0  # a result without notes


# ------------------------------------------------------------------ reasons of a call list


ACTIONS = pd.DataFrame({
    "rank": [1, 2, 3, 4],
    "reason_1": ["long_since_last_visit", "warranty_ended", "long_since_last_visit", None],
    "reason_2": ["warranty_ended", None, "high_mileage_usage", None],
    "reason_3": ["not_a_code", None, None, None],
}, index=[10, 11, 12, 13])


def test_reason_labels():
    en = reason_labels(ACTIONS)
    assert en.index.tolist() == [10, 11, 12, 13]
    assert en.tolist() == ["Long time since the last visit; Warranty has ended; not_a_code",
                           "Warranty has ended",
                           "Long time since the last visit; High-mileage use", ""]
    zh = reason_labels(ACTIONS, lang="zh", sep="、")
    assert zh[12] == "距上次进厂时间较长、高里程用车"
    assert reason_labels(ACTIONS[["rank"]]).tolist() == ["", "", "", ""]
    with pytest.raises(ValueError, match="lang"):
        reason_labels(ACTIONS, lang="fr")


def test_top_reasons_by_hand():
    got = top_reasons(ACTIONS, top=2)
    # long_since_last_visit 2, warranty_ended 2, then high_mileage_usage 1 and not_a_code 1
    assert got.to_dict("records") == [
        {"reason": "long_since_last_visit", "customers": 2},
        {"reason": "warranty_ended", "customers": 2},
    ]
    assert len(top_reasons(ACTIONS, top=10)) == 4
    assert top_reasons(ACTIONS, top=10)["customers"].sum() == 6  # every mention counted
    empty = top_reasons(ACTIONS[["rank"]])
    assert empty.empty and list(empty.columns) == ["reason", "customers"]
    with pytest.raises(TypeError, match="top"):
        top_reasons(ACTIONS, top=2.5)


# ------------------------------------------------------------------ the histogram


def test_churn_probabilities_chart():
    p = np.array([0.01, 0.04, 0.07, 0.5, 0.52, 0.99, 1.0])
    ax = plots.churn_probabilities(pd.DataFrame({"churn_probability": p}), threshold=0.4,
                                   horizon_months=6)
    heights = [patch.get_height() for patch in ax.patches]
    assert heights == np.histogram(p, bins=20, range=(0, 1))[0].tolist()
    assert [line.get_xdata()[0] for line in ax.get_lines()] == [0.4]
    assert ax.get_title() == "Churn probability of today's customers"
    assert ax.get_xlabel() == "Probability of no visit in the next 6 months (%)"
    assert ax.get_ylabel() == "Customers"
    assert ax.xaxis.get_major_formatter()(0.5, 0) == "50%"
    ax = plots.churn_probabilities(pd.DataFrame({"churn_probability": p}), threshold=None,
                                   lang="zh")
    assert not ax.get_lines() and ax.get_title() == "当前客户的流失概率分布"
    with pytest.raises(KeyError, match="churn_probability"):
        plots.churn_probabilities(pd.DataFrame({"p": p}))
    plt.close("all")

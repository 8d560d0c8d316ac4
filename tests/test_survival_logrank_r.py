"""The late-entry log-rank test (``compare_survival``) against R's survival package.

``compare_survival`` puts a relationship at risk of the departures at age t when
entry < t <= exit (R's counting-process interval (start, stop]), with two boundary rows
moved an infinitesimal ε earlier: rows entering at age 0 (at risk from the origin) and
zero-length rows (entry == exit with a departure: at risk at their own age only). The
statistic is the exact-ties (hypergeometric) log-rank.

Reference values (literals below) were printed by ``scripts/r_logrank_reference.R`` with
R 4.2.2 Patched (2022-11-10 r83330) and survival 3.5-3 (Debian bookworm r-base-core
4.2.2.20221110-2, r-cran-survival 3.5-3-1); the R call is

    coxph(Surv(entry_eps, exit, event) ~ group, ties = "exact", iter.max = 0)$score

with ``entry_eps`` = entry − 0.01 for the two boundary cases (less than any gap between
the examples' ages, so the same risk sets as any smaller ε). R printed 12 significant
digits; the two sides agree to about 1e-11, the tolerance is 1e-6 relative.

- Part 0: without entry, ``survdiff`` equals the ``ties = "exact"`` score test and not
  Breslow's or Efron's: that fixes the R peer, and shows the variance is not Breslow's.
- Parts 1 and 3: two examples with entries at departure ages, tied departures across
  groups, zero-length walk-ins and own sales leaving at age 0: overall (df 2) and the
  three pairs.
- Part 2: R's default for zero-length rows (``Surv()`` makes them NA, ``coxph`` drops
  them) equals ``compare_survival`` on the table without them.
- The zero-length rule by hand, and its invariance to the size of ε.
- On generated dealer data (whole-day ages, thousands of coinciding ages and zero-length
  rows), statsmodels' ``survdiff(..., entry=)``, an independent implementation of
  (entry, exit] risk sets, gives the same statistics for every test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crm_analysis.survival import compare_survival, defection_table

R_TOL = 1e-6

#: Example A of scripts/r_logrank_reference.R: ages in whole years.
EXAMPLE_A = pd.DataFrame({
    "usage": np.repeat(["a", "b", "c"], 10),
    "entry_age": np.array([0, 0, 0, 0, 0, 0, 2, 3, 3, 5,
                           0, 0, 0, 0, 1, 2, 2, 4, 4, 6,
                           0, 0, 0, 1, 1, 3, 3, 5, 6, 6], float),
    "exit_age": np.array([0, 1, 2, 3, 3, 6, 3, 3, 5, 7,
                          1, 2, 4, 5, 1, 2, 6, 4, 8, 9,
                          0, 3, 4, 2, 6, 5, 7, 5, 6, 9], float),
    "event": np.array([1, 1, 1, 1, 0, 1, 1, 1, 1, 0,
                       1, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                       1, 1, 0, 1, 1, 1, 1, 1, 1, 0], bool),
})

#: Example B of scripts/r_logrank_reference.R: ages in half years, group b leaves fast.
EXAMPLE_B = pd.DataFrame({
    "usage": np.repeat(["a", "b", "c"], 12),
    "entry_age": [0, 2.5, 2, 0, 1.5, 0, 2, 0, 0, 0, 0, 0,
                  0, 1, 1.5, 0, 1, 1.5, 0, 4, 2.5, 0, 1.5, 0,
                  0, 1, 0, 0, 0, 0, 0, 4, 0.5, 0, 0, 3.5],
    "exit_age": [4.5, 2.5, 2.5, 2, 5.5, 2.5, 5, 2.5, 0, 2, 4.5, 0,
                 1.5, 3, 3.5, 0.5, 3.5, 1.5, 2, 4.5, 3.5, 0, 1.5, 4,
                 0, 1.5, 2, 9.5, 0, 2.5, 2, 4.5, 1.5, 2.5, 2, 4.5],
    "event": np.array([1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 0, 1,
                       1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1,
                       1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0], bool),
})


def statistics(res: pd.DataFrame) -> list[float]:
    """overall, a-b, a-c, b-c."""
    assert res["test"].tolist() == ["overall"] + ["pairwise"] * 3
    assert res[["group_a", "group_b"]].iloc[1:].to_numpy().tolist() == [
        ["a", "b"], ["a", "c"], ["b", "c"]]
    assert res["df"].tolist() == [2, 1, 1, 1]
    return res["test_statistic"].tolist()


def test_examples_have_the_boundary_cases():
    for ex in (EXAMPLE_A, EXAMPLE_B):
        zero = ex["entry_age"] == ex["exit_age"]
        assert zero.sum() == 8 and ex.loc[zero, "event"].all()
        assert (zero & (ex["entry_age"] == 0)).any() and (zero & (ex["entry_age"] > 0)).any()
        departures = set(ex.loc[ex["event"], "exit_age"])
        walk_ins = ex.loc[(ex["entry_age"] > 0) & ~zero, "entry_age"]
        assert walk_ins.isin(departures).sum() >= 8  # entrants where others leave
        assert ex.loc[ex["event"], "exit_age"].value_counts().max() >= 3  # ties


def test_no_entry_equals_survdiff_not_breslow():
    # R, part 0: survdiff(Surv(exit, event) ~ group)$chisq and coxph(Surv(exit, event) ~
    # group, ties = ..., iter.max = 0)$score on example A
    survdiff_chisq, exact, breslow, efron = (1.03673575856, 1.03673575856, 0.872566806981,
                                             0.990081998015)
    assert exact == survdiff_chisq
    res = compare_survival(EXAMPLE_A.assign(entry_age=0.0), "usage", pairwise=False)
    stat = res["test_statistic"].iloc[0]
    assert stat == pytest.approx(survdiff_chisq, rel=R_TOL)
    assert stat != pytest.approx(breslow, rel=0.05)
    assert stat != pytest.approx(efron, rel=0.02)


def test_example_a_equals_r():
    # R, part 1: coxph(Surv(entry_eps, exit, event) ~ group, ties = "exact")$score
    r = [0.0893271166069, 0.11121414288, 0.00258056450965, 0.0370195413717]
    res = compare_survival(EXAMPLE_A, "usage")
    assert statistics(res) == pytest.approx(r, rel=R_TOL)
    assert res["p_value"].tolist() == pytest.approx(
        [stats.chi2.sf(r[0], 2)] + [stats.chi2.sf(x, 1) for x in r[1:]], rel=1e-6)
    # every row is used: the zero-length ones are counted, not dropped
    assert res.loc[0, ["n_a", "events_a"]].tolist() == [30, 25]


def test_example_a_without_zero_length_equals_r_default():
    # R, part 2: zero-length rows dropped (R's default: Surv() makes them NA), no ε
    r = [0.424034430618, 0.470574431435, 0.0941741955583, 0.0396285700886]
    kept = EXAMPLE_A[EXAMPLE_A["entry_age"] < EXAMPLE_A["exit_age"]]
    assert len(kept) == 22
    assert statistics(compare_survival(kept, "usage")) == pytest.approx(r, rel=R_TOL)
    # the zero-length rows are not dropped silently: with them the answer is part 1's
    full = statistics(compare_survival(EXAMPLE_A, "usage"))
    assert full[0] != pytest.approx(r[0], rel=0.1)


def test_example_b_equals_r():
    # R, part 3: coxph(Surv(entry_eps, exit, event) ~ group, ties = "exact")$score
    r = [3.4408221428, 3.71785316128, 2.00939096352, 0.0145256143285]
    res = compare_survival(EXAMPLE_B, "usage")
    assert statistics(res) == pytest.approx(r, rel=R_TOL)
    # the old risk set entry <= t <= exit gave 3.4087 / 3.5097 / 2.5612 / 0.0095
    assert statistics(res)[2] != pytest.approx(2.5612282062, rel=0.01)


def test_zero_length_rule_by_hand():
    # x1 leaves at 2; y1 enters and leaves at 2 (zero-length); y2 enters at 2 and leaves
    # at 4. At age 2: x1, x2, x3 and y1 at risk (y2 is not: it enters at 2), 2 departures,
    # one in y: O - E = 1 - 2 * 1/4 = 1/2, V = 2 * 2/3 * 1/4 * 3/4 = 1/4. At age 4: x3 and
    # y2 at risk, y2 leaves: O - E = 1/2, V = 1/4. Statistic (1)^2 / (1/2) = 2.
    tab = pd.DataFrame({"usage": ["x", "x", "x", "y", "y"],
                        "entry_age": [0.0, 0.0, 0.0, 2.0, 2.0],
                        "exit_age": [2.0, 3.0, 4.0, 2.0, 4.0],
                        "event": [True, False, False, True, True]})
    res = compare_survival(tab, "usage")
    assert res["test_statistic"].iloc[0] == pytest.approx(2.0, rel=1e-12)
    assert res["events_b"].iloc[0] == 3 and res["n_b"].iloc[1] == 2
    # y1 dropped (R's default): only age 4 counts, 0.5^2 / 0.25 = 1
    dropped = compare_survival(tab.drop(index=3), "usage")
    assert dropped["test_statistic"].iloc[0] == pytest.approx(1.0, rel=1e-12)
    # the old rule (y2 at risk at 2 as well): U = 0.2 + 0.5, V = 0.36 + 0.25
    assert res["test_statistic"].iloc[0] != pytest.approx(0.49 / 0.61, rel=1e-3)


@pytest.mark.parametrize("eps", [1e-9, 1e-3, 0.4])
def test_zero_length_rule_is_entry_minus_epsilon(eps):
    # lowering the entry of the boundary rows by any ε below the smallest gap (0.5 in
    # example B) leaves them strictly inside (entry, exit] and gives the same statistics
    ex = EXAMPLE_B.copy()
    early = (ex["entry_age"] == 0) | (ex["entry_age"] == ex["exit_age"])
    shifted = ex.assign(entry_age=np.where(early, ex["entry_age"] - eps, ex["entry_age"]))
    assert statistics(compare_survival(shifted, "usage")) == pytest.approx(
        statistics(compare_survival(ex, "usage")), rel=1e-12)


# ----------------------------------------------------------------------------- dealer data


@pytest.fixture(scope="module")
def dealer_table(default_dataset) -> pd.DataFrame:
    tab = defection_table(default_dataset)
    keep = tab["age_known"] & ((tab["exit_age"] > tab["entry_age"]) | tab["event"])
    return tab[keep].reset_index(drop=True)  # the rows compare_survival uses


def statsmodels_survdiff(tab: pd.DataFrame, by: str) -> float:
    from statsmodels.duration.survfunc import survdiff

    entry, exit_ = tab["entry_age"].to_numpy(float), tab["exit_age"].to_numpy(float)
    # statsmodels: "not in the risk set on or before the entry time", i.e. (entry, exit];
    # the boundary rows enter just before (the next float down), as compare_survival says
    early = (entry == 0) | (entry == exit_)
    chisq, _ = survdiff(exit_, tab["event"].to_numpy(int), tab[by].astype(str).to_numpy(),
                        entry=np.where(early, np.nextafter(entry, -np.inf), entry))
    return float(chisq)


def test_dealer_data_equals_statsmodels(dealer_table):
    pytest.importorskip("statsmodels")
    tab = dealer_table
    zero = tab["entry_age"] == tab["exit_age"]
    walk_in = tab["entry_age"] > 0
    departures = np.unique(tab.loc[tab["event"], "exit_age"])
    # the data exercise both rules: zero-length walk-ins and own sales, entries at
    # departure ages (ages come from whole days)
    assert (zero & walk_in).sum() > 500 and (zero & ~walk_in).sum() > 500
    assert np.isin(tab.loc[walk_in & ~zero, "entry_age"], departures).mean() > 0.5
    for by in ("usage", "sold_here", "store_id"):
        res = compare_survival(tab, by)
        assert res["test_statistic"].iloc[0] == pytest.approx(statsmodels_survdiff(tab, by),
                                                              rel=1e-8)
        for _, row in res.iloc[1:].iterrows():
            pair = tab[tab[by].astype(str).isin([row["group_a"], row["group_b"]])]
            assert row["test_statistic"] == pytest.approx(statsmodels_survdiff(pair, by),
                                                          rel=1e-8)

"""Narrator: numbers in report text, and what a missing number reads as."""

from __future__ import annotations

import math

import pytest

from crm_analysis.narrative import Narrator


@pytest.mark.parametrize("lang, missing", [("en", "n/a"), ("zh", "无数据")])
@pytest.mark.parametrize("value", [None, float("nan"), math.inf, -math.inf, "x"])
def test_missing_numbers_never_print_nan(lang, missing, value):
    n = Narrator(lang)
    for fmt in (n.int, n.num, n.pct, n.pts, n.rmb):
        assert fmt(value) == missing


def test_numbers_in_both_languages():
    en, zh = Narrator("en"), Narrator("zh")
    assert (en.pct(0.1234), zh.pct(0.1234)) == ("12.3%", "12.3%")
    assert (en.pts(0.05), zh.pts(-0.05)) == ("+5.0 points", "-5.0个百分点")
    assert (en.rmb(12_345), zh.rmb(12_345)) == ("¥12.3k", "1.2万元")
    assert en.int(0) == "0" and en.num(-1.25, 1) == "-1.2"

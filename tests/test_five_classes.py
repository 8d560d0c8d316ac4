"""Five churn-risk classes, the call list and its Excel file.

Checks against hand-computed cases and plain-pandas recomputations on generated data;
the workbook is read back with openpyxl and its raw XML is scanned for personal data.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from datetime import datetime
from xml.sax.saxutils import escape

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import polars as pl
import pytest
from openpyxl import load_workbook

from crm_analysis import i18n, plots, plotting
from crm_analysis.features import customer_features
from crm_analysis.five_classes import (
    ACTION_COLUMNS,
    ACTION_PRIORITY,
    CHURN_CLASSES,
    action_list,
    five_classes,
    high_value_threshold,
    write_action_list,
)
from crm_analysis.privacy import key_fingerprint, pseudonymize
from crm_analysis.value import GradeResult, pyramid

KEY = b"store-key-for-tests"
REASONS = np.array(["long_since_last_visit", "warranty_ended", "few_visits",
                    "falling_visits", None], dtype=object)


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def data(tiny_dataset):
    return tiny_dataset


@pytest.fixture(scope="module")
def frame(data):
    """customer_features + a synthetic churn risk and reasons (no churn model needed)."""
    f = customer_features(data, store_id=data.stores["store_id"].iloc[0])
    rng = np.random.default_rng(11)
    risk = np.clip(f["recency_days"].to_numpy() / 730 + rng.normal(0, 0.15, len(f)), 0, 1)
    f["churn_probability"] = np.round(risk, 3)
    for k in (1, 2, 3):
        f[f"reason_{k}"] = REASONS[rng.integers(0, len(REASONS), len(f))]
    return f


def small() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"],
        "net_value": [1000.0, 999.99, 1000.0, 500.0, 0.0, -20.0, 1e-9, 2000.0],
        "churn_probability": [0.5, 0.5, 0.4999, 0.7, 0.9, 0.1, 0.6, 0.0],
    })


def expected_classes(v, r, hv, thr):
    """Plain-Python class of every customer."""
    out = []
    for value, risk in zip(v, r, strict=True):
        if value <= 0:
            out.append("no_value")
            continue
        level = "high" if value >= hv else "low"
        out.append(f"{level}_value_{'at_risk' if risk >= thr else 'stable'}")
    return out


# ---------------------------------------------------------------------------- grading
def test_boundaries_zero_value_and_threshold_risk():
    labels = five_classes(small(), high_value=1000, risk_threshold=0.5).labels
    assert labels["churn_class"].tolist() == [
        "high_value_at_risk",   # value == threshold, risk == threshold
        "low_value_at_risk",    # just below the value threshold
        "high_value_stable",    # risk just below the threshold
        "low_value_at_risk",
        "no_value",             # value exactly 0, even at high risk
        "no_value",             # negative
        "low_value_at_risk",    # tiny positive value is still low value
        "high_value_stable",    # risk 0
    ]
    assert labels["value_class"].tolist() == ["high", "low", "high", "low", "none", "none",
                                              "low", "high"]
    assert labels["at_risk"].tolist() == [True, True, False, True, True, False, True, False]
    assert list(labels.columns[:4]) == ["customer_id", "value", "risk", "churn_class"]
    assert list(labels["churn_class"].cat.categories) == list(CHURN_CLASSES)
    assert labels["churn_class"].cat.ordered


@pytest.mark.parametrize("thr", [0.0, 0.3, 0.5, 1.0])
def test_classes_match_plain_python_on_generated_data(frame, thr):
    hv = float(frame["net_value"].quantile(0.7))
    labels = five_classes(frame, high_value=hv, risk_threshold=thr).labels
    assert labels["churn_class"].tolist() == expected_classes(
        frame["net_value"], frame["churn_probability"], hv, thr)
    assert labels["customer_id"].tolist() == frame["customer_id"].tolist()


def test_default_threshold_is_where_the_top_20pct_of_positive_customers_start():
    # 100 positive distinct values (+ zeros and negatives): 20 are high value
    values = np.r_[np.arange(1, 101, dtype=float), [0.0, 0.0, -5.0, -100.0]]
    assert high_value_threshold(values) == 81.0
    f = pd.DataFrame({"customer_id": [f"K{i:03d}" for i in range(len(values))],
                      "net_value": values, "churn_probability": 0.2})
    r = five_classes(f)
    assert (r.labels["value_class"] == "high").sum() == 20
    assert r.labels.attrs["five_classes"]["high_value"] == 81.0
    assert r.labels.attrs["five_classes"]["high_value_rule"] == "default"
    # with every value positive and distinct it is exactly the pyramid's key customers
    pos = f[f["net_value"] > 0]
    keys = set(pyramid(pos).labels.query("key")["customer_id"])
    assert set(five_classes(pos).labels.query("value_class == 'high'")["customer_id"]) == keys


def test_default_threshold_rounding_ties_and_small_counts():
    # round(m × 0.2) with halves up: m = 3 → 1 customer, m = 2 → none (inf), m = 8 → 2
    assert high_value_threshold([5, 4, 3]) == 5.0
    assert high_value_threshold([5, 4, 0, -1]) == float("inf")
    assert high_value_threshold([8, 7, 6, 5, 4, 3, 2, 1]) == 7.0
    assert high_value_threshold([1, 2, 3, 4, 5], share=1.0) == 1.0
    # ties at the threshold are all high value
    f = pd.DataFrame({"customer_id": list("abcdefghij"),
                      "net_value": [10.0, 9, 9, 9, 5, 4, 3, 2, 1, 1],
                      "churn_probability": 0.0})
    assert high_value_threshold(f["net_value"]) == 9.0
    assert (five_classes(f).labels["value_class"] == "high").sum() == 4
    two = pd.DataFrame({"customer_id": ["a", "b"], "net_value": [5.0, 1.0],
                        "churn_probability": [0.9, 0.9]})
    assert five_classes(two).labels["churn_class"].tolist() == ["low_value_at_risk"] * 2
    with pytest.raises(ValueError, match="share"):
        high_value_threshold([1.0], share=0)


def test_default_threshold_on_generated_data_matches_plain_pandas(frame):
    pos = frame.loc[frame["net_value"] > 0, "net_value"].sort_values(ascending=False)
    k = int(np.floor(len(pos) * 0.2 + 0.5))
    hv = pos.iloc[k - 1]
    labels = five_classes(frame).labels
    assert labels.attrs["five_classes"]["high_value"] == hv
    assert labels["churn_class"].tolist() == expected_classes(
        frame["net_value"], frame["churn_probability"], hv, 0.5)


def test_summary_sums_equal_inputs_and_plain_pandas(frame):
    r = five_classes(frame)
    labels, summary = r.labels, r.summary
    assert summary["grade"].tolist() == list(CHURN_CLASSES)
    assert list(summary.columns[:5]) == ["grade", "customers", "share_customers", "value",
                                         "share_value"]
    assert list(summary.columns[-2:]) == ["mean_risk", "expected_value_at_risk"]
    assert summary["customers"].sum() == len(frame)
    assert summary["share_customers"].sum() == pytest.approx(1.0)
    assert summary["value"].sum() == pytest.approx(frame["net_value"].sum())
    assert summary["share_value"].sum() == pytest.approx(1.0)
    var = frame["churn_probability"] * frame["net_value"]
    assert summary["expected_value_at_risk"].sum() == pytest.approx(var.sum())
    assert summary["revenue"].sum() == pytest.approx(frame["revenue"].sum())
    work = frame.assign(cls=labels["churn_class"].astype(str).to_numpy(), var=var)
    g = work.groupby("cls")
    for row in summary.itertuples():
        if row.customers == 0:
            assert np.isnan(row.mean_risk) and row.expected_value_at_risk == 0
            continue
        assert row.customers == g.size()[row.grade]
        assert row.value == pytest.approx(g["net_value"].sum()[row.grade])
        assert row.mean_risk == pytest.approx(g["churn_probability"].mean()[row.grade])
        assert row.expected_value_at_risk == pytest.approx(g["var"].sum()[row.grade])
    # every non-empty class of a realistic store
    assert (summary.set_index("grade").loc[["high_value_stable", "low_value_stable",
                                             "low_value_at_risk"], "customers"] > 0).all()


def test_empty_classes_are_listed_and_expected_value_column_is_used():
    f = pd.DataFrame({"customer_id": ["a", "b", "c"], "net_value": [100.0, 50.0, 10.0],
                      "clv": [1000.0, -40.0, 80.0], "churn_probability": [0.2, 0.6, 0.8]})
    r = five_classes(f, high_value=90, expected_value="clv")
    s = r.summary.set_index("grade")
    assert s.loc["high_value_at_risk", "customers"] == 0
    assert np.isnan(s.loc["high_value_at_risk", "mean_risk"])
    assert s.loc["high_value_stable", "expected_value_at_risk"] == pytest.approx(200.0)
    assert s.loc["low_value_at_risk", "expected_value_at_risk"] == pytest.approx(-24.0 + 64.0)
    assert r.labels["expected_value"].tolist() == [1000.0, -40.0, 80.0]
    assert r.labels["value_at_risk"].tolist() == pytest.approx([200.0, -24.0, 64.0])
    params = dict(zip(r.details["parameters"]["parameter"], r.details["parameters"]["value"],
                      strict=True))
    assert params["high_value"] == 90 and params["high_value_rule"] == "given"
    assert params["expected_value"] == "clv"


def test_result_is_a_grade_result_and_polars_gives_the_same(frame):
    r = five_classes(frame)
    assert isinstance(r, GradeResult)
    rp = five_classes(pl.from_pandas(frame.drop(columns=["reason_1", "reason_2",
                                                          "reason_3"])))
    pd.testing.assert_frame_equal(r.labels, rp.labels)
    pd.testing.assert_frame_equal(r.summary, rp.summary)
    # input order kept, fresh index
    shuffled = frame.sample(frac=1, random_state=3)
    rs = five_classes(shuffled)
    assert rs.labels["customer_id"].tolist() == shuffled["customer_id"].tolist()
    assert rs.labels.index.equals(pd.RangeIndex(len(frame)))
    pd.testing.assert_frame_equal(rs.summary, r.summary)


def test_grading_errors_name_the_problem():
    f = small()
    with pytest.raises(KeyError, match="churn_probability"):
        five_classes(f.drop(columns="churn_probability"))
    g = f.copy()
    g.loc[3, "churn_probability"] = np.nan
    with pytest.raises(ValueError, match=r"'churn_probability'.*c4"):
        five_classes(g)
    g = f.copy()
    g.loc[1, "churn_probability"] = 1.5
    with pytest.raises(ValueError, match=r"\[0, 1\].*1.5.*c2"):
        five_classes(g)
    g = f.copy()
    g.loc[2, "net_value"] = np.inf
    with pytest.raises(ValueError, match=r"'net_value'.*c3"):
        five_classes(g)
    with pytest.raises(ValueError, match="unique"):
        five_classes(pd.concat([f, f.iloc[[0]]]))
    with pytest.raises(ValueError, match="risk_threshold"):
        five_classes(f, risk_threshold=1.2)
    with pytest.raises(TypeError, match="high_value"):
        five_classes(f, high_value="1000")
    with pytest.raises(ValueError, match="empty"):
        five_classes(f.iloc[:0])


# ---------------------------------------------------------------------------- call list
def reference_order(labels: pd.DataFrame, classes) -> list[str]:
    """Plain sort: class priority, then value at risk descending, then customer id."""
    d = labels[labels["churn_class"].isin(classes)].copy()
    d["prio"] = d["churn_class"].astype(str).map(ACTION_PRIORITY.index)
    d["var"] = d["risk"] * d["value"]
    d = d.sort_values(["prio", "var", "customer_id"], ascending=[True, False, True])
    return d["customer_id"].tolist()


def test_action_list_order_and_columns_from_features(frame):
    r = five_classes(frame)
    a = action_list(r, frame)
    assert list(a.columns) == list(ACTION_COLUMNS)
    assert a["customer_id"].tolist() == reference_order(
        r.labels, ("high_value_at_risk", "low_value_at_risk"))
    assert a["rank"].tolist() == list(range(1, len(a) + 1))
    # high value at risk come first
    cls = a["churn_class"].astype(str).tolist()
    n_high = cls.count("high_value_at_risk")
    assert cls[:n_high] == ["high_value_at_risk"] * n_high
    assert set(cls[n_high:]) <= {"low_value_at_risk"}
    # exactly the at-risk customers with a positive value (plain pandas)
    at_risk = frame[(frame["net_value"] > 0) & (frame["churn_probability"] >= 0.5)]
    assert set(a["customer_id"]) == set(at_risk["customer_id"])
    # columns joined from customer_features
    f = frame.set_index("customer_id").loc[a["customer_id"]]
    assert a["main_vin"].tolist() == f["main_vin"].tolist()
    assert a["model"].tolist() == f["model"].tolist()
    np.testing.assert_allclose(a["vehicle_age"], f["main_vehicle_age"])
    assert (a["last_visit"].to_numpy() == f["last_order_date"].to_numpy()).all()
    assert a["orders"].tolist() == f["orders"].tolist()
    np.testing.assert_allclose(a["value_at_risk"], f["churn_probability"] * f["net_value"])
    for k in (1, 2, 3):
        assert a[f"reason_{k}"].tolist() == f[f"reason_{k}"].tolist()
    assert a.attrs["five_classes"]["listed"] == len(a) == len(at_risk)
    assert a.attrs["five_classes"]["graded"] == len(frame)


def test_action_list_from_a_raw_frame_equals_labels_plus_features(frame):
    direct = action_list(frame)
    via = action_list(five_classes(frame).labels, frame)
    pd.testing.assert_frame_equal(direct, via)
    polars = action_list(pl.from_pandas(frame))
    pd.testing.assert_frame_equal(direct, polars, check_dtype=False)


def test_action_list_classes_top_and_missing_features(frame):
    r = five_classes(frame)
    all_classes = action_list(r, classes=CHURN_CLASSES)
    assert len(all_classes) == len(frame)
    assert all_classes["customer_id"].tolist() == reference_order(r.labels, CHURN_CLASSES)
    assert list(all_classes.columns) == ["rank", "customer_id", "churn_class", "value",
                                         "risk", "value_at_risk"]
    top5 = action_list(r, frame, top=5)
    assert top5["customer_id"].tolist() == action_list(r, frame)["customer_id"].tolist()[:5]
    assert top5.attrs["five_classes"]["in_classes"] > 5 == top5.attrs["five_classes"]["listed"]
    only = action_list(r, classes="high_value_stable")
    assert set(only["churn_class"].astype(str)) == {"high_value_stable"}
    # features lacking some customers: blanks, counted
    part = frame.iloc[::2]
    a = action_list(r, part, classes=CHURN_CLASSES)
    assert a.attrs["five_classes"]["missing_features"] == len(frame) - len(part)
    absent = ~a["customer_id"].isin(part["customer_id"])
    assert a.loc[absent, "main_vin"].isna().all() and a.loc[~absent, "main_vin"].notna().all()


def test_action_list_ties_by_customer_id():
    f = pd.DataFrame({"customer_id": ["z", "b", "m", "a"], "value": [100.0, 100, 100, 100],
                      "risk": [0.8, 0.8, 0.8, 0.8],
                      "churn_class": ["low_value_at_risk"] * 4})
    assert action_list(f)["customer_id"].tolist() == ["a", "b", "m", "z"]


def test_action_list_errors():
    labels = five_classes(small(), high_value=1000).labels
    with pytest.raises(ValueError, match="unknown class"):
        action_list(labels, classes=("high_value_at_risk", "vip"))
    with pytest.raises(ValueError, match="top"):
        action_list(labels, top=0)
    bad = labels.assign(churn_class=labels["churn_class"].astype(str).replace(
        "no_value", "worthless"))
    with pytest.raises(ValueError, match=r"worthless.*c5"):
        action_list(bad)
    with pytest.raises(KeyError, match="risk"):
        action_list(labels.drop(columns="risk"))
    with pytest.raises(KeyError, match="customer_id"):
        action_list(labels, pd.DataFrame({"id": ["c1"]}))


# ---------------------------------------------------------------------------- Excel
def xml_parts(payload: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(payload)) as z:
        return {n: z.read(n).decode("utf-8") for n in z.namelist()}


def found(parts: dict[str, str], needles) -> list[str]:
    hits = []
    for needle in needles:
        if needle is None or (isinstance(needle, float) and np.isnan(needle)):
            continue
        s = str(needle)
        for form in {s, escape(s)}:
            hits += [f"{s!r} in {name}" for name, text in parts.items() if form in text]
    return hits


@pytest.fixture(scope="module")
def actions(frame):
    return action_list(five_classes(frame), frame)


def write(actions, **kw) -> bytes:
    buf = io.BytesIO()
    write_action_list(actions, buf, **kw)
    return buf.getvalue()


def test_workbook_rows_order_values_and_formats(actions):
    payload = write(actions, key=KEY)
    wb = load_workbook(io.BytesIO(payload))
    assert wb.sheetnames == ["Actions", "About"]
    ws = wb["Actions"]
    header = [c.value for c in ws[3]]
    assert header[:3] == ["Priority", "Customer ID (pseudonym)", "Class"]
    assert "Net value (¥)" in header and "Churn risk (%)" in header
    assert len(header) == len(actions.columns)
    rows = list(ws.iter_rows(min_row=4, values_only=True))
    assert len(rows) == len(actions) == ws.max_row - 3
    col = {name: header.index(h) for name, h in zip(actions.columns, header, strict=True)}
    got = pd.DataFrame(rows, columns=list(actions.columns))
    assert got["rank"].tolist() == actions["rank"].tolist()
    assert got["customer_id"].tolist() == pseudonymize(actions["customer_id"], KEY).tolist()
    assert got["main_vin"].tolist() == pseudonymize(actions["main_vin"], KEY).tolist()
    np.testing.assert_allclose(got["value"].astype(float), actions["value"])
    np.testing.assert_allclose(got["risk"].astype(float), actions["risk"])
    np.testing.assert_allclose(got["value_at_risk"].astype(float), actions["value_at_risk"])
    assert got["last_visit"].tolist() == [d.to_pydatetime() for d in actions["last_visit"]]
    assert got["churn_class"].tolist() == [i18n.t(f"churn_class.{c}", "en")
                                           for c in actions["churn_class"]]
    fmt = {name: ws.cell(row=4, column=col[name] + 1).number_format for name in col}
    assert fmt["value"] == fmt["value_at_risk"] and "¥" in fmt["value"]
    assert fmt["risk"] == "0%" and fmt["vehicle_age"] == "0.0"
    assert fmt["last_visit"] == "yyyy-mm-dd" and fmt["orders"] == "0"
    # layout for a store manager
    assert ws.freeze_panes == "C4"
    assert ws.auto_filter.ref == f"A3:N{3 + len(actions)}"
    assert ws["A3"].font.b and ws["A3"].fill.fgColor.rgb.endswith("1F4E78")
    assert ws["A1"].value == "Customer retention call list" and ws["A1"].font.b
    assert str(len(actions)) in ws["A2"].value
    widths = [ws.column_dimensions[chr(ord("A") + j)].width for j in range(len(header))]
    assert all(8 <= w <= 48 for w in widths)
    assert ws.page_setup.orientation == "landscape"
    about = [r for r in wb["About"].iter_rows(values_only=True)]
    text = "\n".join(str(v) for r in about for v in r if v is not None)
    assert "About this list" in text
    for c in CHURN_CLASSES:
        assert i18n.t(f"churn_class.{c}", "en") in text
    hv = actions.attrs["five_classes"]["high_value"]
    assert f"¥{hv:,.0f}" in text and "50%" in text
    assert key_fingerprint(KEY) in text


def test_workbook_in_chinese(actions):
    wb = load_workbook(io.BytesIO(write(actions, key=KEY, lang="zh")))
    assert wb.sheetnames == ["行动清单", "说明"]
    ws = wb.worksheets[0]
    header = [c.value for c in ws[3]]
    assert header[:3] == ["优先级", "客户编号（去标识化）", "客户类别"]
    assert "净价值（元）" in header and "流失原因1" in header
    assert ws["C4"].value == i18n.t(f"churn_class.{actions['churn_class'].iloc[0]}", "zh")
    assert ws["A1"].value == "客户挽留行动清单"
    about = "\n".join(str(v) for r in wb.worksheets[1].iter_rows(values_only=True)
                      for v in r if v is not None)
    assert "高价值易流失客户" in about and "密钥指纹" in about


def test_reason_codes_are_translated_with_raw_code_fallback(actions, monkeypatch):
    # one code with a label (as the churn module adds them), one without: raw code shown
    monkeypatch.setitem(i18n.LABELS, "churn_reason.warranty_ended",
                        ("Warranty has ended", "已出质保"))
    monkeypatch.delitem(i18n.LABELS, "churn_reason.few_visits", raising=False)
    for lang, reason_header in (("en", "Reason 1"), ("zh", "流失原因1")):
        ws = load_workbook(io.BytesIO(write(actions, key=KEY, lang=lang))).worksheets[0]
        j = [c.value for c in ws[3]].index(reason_header)
        got = [row[j] for row in ws.iter_rows(min_row=4, values_only=True)]
        expected = []
        for code in actions["reason_1"]:
            try:
                expected.append(None if code is None else i18n.t(f"churn_reason.{code}", lang))
            except KeyError:
                expected.append(code)
        assert got == expected
        assert i18n.t("churn_reason.warranty_ended", lang) in got
        assert "few_visits" in got


def test_no_raw_personal_data_anywhere_in_the_file(actions, data, frame):
    payload = write(actions, key=KEY, customers=data.customers, lang="zh")
    parts = xml_parts(payload)
    assert all(name.endswith((".xml", ".rels")) for name in parts)
    listed = data.customers.set_index("customer_id").loc[actions["customer_id"]]
    vins = data.vehicles[data.vehicles["customer_id"].isin(frame["customer_id"])]
    needles = [*frame["customer_id"], *frame["main_vin"], *listed["name"], *listed["phone"],
               *vins["plate"], *vins["vin"], KEY.decode()]
    assert not found(parts, needles)
    # positive control: the same scan finds them when personal data is asked for
    pii = xml_parts(write(actions, include_pii=True, customers=data.customers, lang="zh"))
    assert found(pii, actions["customer_id"].iloc[:3])
    assert found(pii, actions["main_vin"].iloc[:3])
    assert found(pii, listed["name"].iloc[:3]) and found(pii, listed["phone"].iloc[:3])
    assert not found(pii, vins["plate"])


def test_personal_columns_inside_the_actions_are_not_written(actions, data):
    cust = data.customers.set_index("customer_id").loc[actions["customer_id"]]
    plates = data.vehicles.set_index("vin").loc[actions["main_vin"], "plate"]
    leaky = actions.assign(name=cust["name"].to_numpy(), phone=cust["phone"].to_numpy(),
                           plate=plates.to_numpy(), id_number="110101199003070000",
                           customer_name=cust["name"].to_numpy())
    parts = xml_parts(write(leaky, key=KEY))
    assert not found(parts, [*cust["name"], *cust["phone"], *plates, "110101199003070000",
                             *actions["customer_id"], *actions["main_vin"]])
    # with include_pii the name and phone columns of the actions are used
    ws = load_workbook(io.BytesIO(write(leaky, include_pii=True))).worksheets[0]
    assert [c.value for c in ws[3]][2:4] == ["Customer name", "Phone"]
    assert ws["C4"].value == cust["name"].iloc[0]


def test_include_pii_adds_names_and_phones(actions, data):
    wb = load_workbook(io.BytesIO(write(actions, include_pii=True,
                                        customers=data.customers)))
    ws = wb.worksheets[0]
    header = [c.value for c in ws[3]]
    assert header[:5] == ["Priority", "Customer ID", "Customer name", "Phone", "Class"]
    rows = list(ws.iter_rows(min_row=4, values_only=True))
    cust = data.customers.set_index("customer_id")
    assert [r[1] for r in rows] == actions["customer_id"].tolist()
    assert [r[2] for r in rows] == cust.loc[actions["customer_id"], "name"].tolist()
    assert [r[3] for r in rows] == cust.loc[actions["customer_id"], "phone"].astype(str).tolist()
    assert ws.freeze_panes == "E4"
    about = "\n".join(str(v) for r in wb.worksheets[1].iter_rows(values_only=True)
                      for v in r if v is not None)
    assert "personal information" in about


def test_phone_numbers_read_as_numbers_are_written_as_text(actions, data):
    customers = data.customers.assign(phone=data.customers["phone"].astype(float))
    ws = load_workbook(io.BytesIO(write(actions.head(3), include_pii=True,
                                        customers=customers))).worksheets[0]
    expected = data.customers.set_index("customer_id").loc[actions["customer_id"].head(3),
                                                           "phone"].tolist()
    assert [ws.cell(row=r, column=4).value for r in (4, 5, 6)] == expected


def test_workbook_bytes_are_deterministic(actions, tmp_path):
    a = write(actions, key=KEY)
    b = write(actions.copy(), key=KEY)
    assert a == b
    path = write_action_list(actions, tmp_path / "list.xlsx", key=KEY)
    assert path.read_bytes() == a
    with zipfile.ZipFile(io.BytesIO(a)) as z:
        assert {i.date_time for i in z.infolist()} == {(2000, 1, 1, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
    stamps = re.findall(r"<dcterms:(?:created|modified)[^>]*>([^<]*)<", core)
    assert stamps == ["2000-01-01T00:00:00Z"] * 2
    wb = load_workbook(io.BytesIO(a))
    assert wb.properties.modified == datetime(2000, 1, 1)
    # other key, other bytes (pseudonyms change)
    assert write(actions, key=b"another key") != a


def test_write_errors_and_empty_list(actions, data):
    with pytest.raises(ValueError, match="key is required"):
        write(actions)
    with pytest.raises(ValueError, match="unsupported language"):
        write(actions, key=KEY, lang="fr")
    with pytest.raises(KeyError, match="churn_class"):
        write(actions.drop(columns="churn_class"), key=KEY)
    with pytest.raises(KeyError, match="name"):
        write(actions, include_pii=True, customers=data.customers[["customer_id"]])
    empty = action_list(five_classes(small(), high_value=1000), classes="no_value").iloc[:0]
    ws = load_workbook(io.BytesIO(write(empty, key=KEY))).worksheets[0]
    assert ws.max_row == 3 and ws["A3"].value == "Priority"


def test_write_without_attrs_still_documents(actions):
    bare = pd.DataFrame(actions.to_dict("list"))
    assert not bare.attrs
    wb = load_workbook(io.BytesIO(write(bare, key=KEY, title="Calls for May")))
    assert wb.worksheets[0]["A1"].value == "Calls for May"
    about = "\n".join(str(v) for r in wb.worksheets[1].iter_rows(values_only=True)
                      for v in r if v is not None)
    assert "the high-value threshold" in about and "not recorded" in about


# ---------------------------------------------------------------------------- plot
@pytest.fixture
def _rc():
    with mpl.rc_context():
        mpl.rcdefaults()
        yield
    plt.close("all")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_plot_five_classes(frame, lang, _rc):
    r = five_classes(frame)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        plotting.setup(lang)
        ax = plots.grade_shares(r.summary, kind="churn_class", value_label="net_value",
                                lang=lang)
        ax.figure.canvas.draw()
    missing = [str(w.message) for w in records if "Glyph" in str(w.message)
               or "missing from font" in str(w.message)]
    assert not missing, missing[:3]
    assert ax.get_title().strip() and ax.get_xlabel().strip() and ax.get_ylabel().strip()
    names = [tl.get_text() for tl in ax.get_yticklabels()]
    assert names == [i18n.t(f"churn_class.{c}", lang) for c in CHURN_CLASSES]
    np.testing.assert_allclose(ax.containers[0].datavalues, r.summary["share_customers"])
    np.testing.assert_allclose(ax.containers[1].datavalues, r.summary["share_value"])
    what = i18n.t("plot.what_net_value", lang)
    assert what in ax.get_title()
    # a GradeResult works too
    assert plots.grade_shares(r, kind="churn_class", value_label="net_value",
                              lang=lang).get_title() == ax.get_title()


def test_hostile_text_never_becomes_a_formula(actions, data, tmp_path):
    """Issue 17: a model `=HYPERLINK(...)` made 59 live formula cells in the call list, and
    with include_pii names and phones became formulas. Every text cell is a string cell now
    (scanned by tests/sheet_safety.py), and the text is kept exactly."""
    from tests.sheet_safety import formula_cells

    hostile = ['=HYPERLINK("http://example.invalid","y")', "@SUM(1+1)", "+cmd|' /C calc'!A0"]
    n = len(actions)
    planted = actions.assign(model=[hostile[i % 3] for i in range(n)])
    customers = data.customers.assign(
        name=[hostile[(i + 1) % 3] for i in range(len(data.customers))],
        phone=[hostile[(i + 2) % 3] for i in range(len(data.customers))])
    for kwargs in ({"key": KEY}, {"include_pii": True, "customers": customers}):
        path = write_action_list(planted, tmp_path / "calls.xlsx", title=hostile[0], **kwargs)
        assert formula_cells(path) == []
        ws = load_workbook(path).worksheets[0]
        values = [c.value for row in ws.iter_rows() for c in row]
        assert values.count(hostile[0]) >= n // 3 and ws["A1"].value == hostile[0]

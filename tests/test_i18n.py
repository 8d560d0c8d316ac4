"""The label dictionary is complete for both languages and fails loudly."""

from __future__ import annotations

import re
import string

import numpy as np
import pandas as pd
import pytest

from crm_analysis import i18n
from crm_analysis.i18n import LANGS, check_lang, t, translate_columns, translate_values, with_unit

try:  # the schema module is the source of truth once it exists
    from crm_analysis.schema import COLUMNS, CUSTOMER_TYPES, GRADES, PAYERS, RO_TYPES, USAGES

    CANONICAL_COLUMNS = {
        table: tuple(COLUMNS[table])
        for table in ("stores", "customers", "vehicles", "repair_orders")
    }
except ImportError:  # pragma: no cover - schema not written yet
    RO_TYPES = ("maintenance", "repair", "body_paint", "warranty", "detailing", "other")
    PAYERS = ("customer", "warranty", "insurance", "internal")
    USAGES = ("private", "company", "ride_hailing", "taxi", "government")
    GRADES = ("economy", "mid", "premium")
    CUSTOMER_TYPES = ("individual", "company", "government")
    CANONICAL_COLUMNS = {
        "stores": ("store_id", "store_name", "city", "opened_date"),
        "customers": (
            "customer_id", "name", "phone", "customer_type", "occupation", "region",
            "first_seen_date",
        ),
        "vehicles": (
            "vin", "customer_id", "store_id", "sold_here", "sale_date", "model", "grade",
            "usage", "plate", "color",
        ),
        "repair_orders": (
            "ro_id", "store_id", "vin", "customer_id", "open_date", "close_date", "mileage_km",
            "ro_type", "payer", "labor_amount", "parts_amount", "other_amount",
            "total_amount", "labor_cost", "parts_cost", "advisor",
        ),
    }  # fmt: skip

STATUSES = ("active", "dormant", "lost", "never_returned")

CATEGORY_FIELDS = {
    "ro_type": RO_TYPES,
    "payer": PAYERS,
    "usage": USAGES,
    "grade": GRADES,
    "customer_type": CUSTOMER_TYPES,
    "status": STATUSES,
    "sold_here": ("true", "false"),
}

#: The Chinese labels the project agreed on.
EXPECTED_ZH = {
    "ro_type.maintenance": "保养",
    "ro_type.repair": "维修",
    "ro_type.body_paint": "钣喷",
    "ro_type.warranty": "保修索赔",
    "ro_type.detailing": "美容",
    "ro_type.other": "其他",
    "payer.customer": "客户自付",
    "payer.warranty": "厂家索赔",
    "payer.insurance": "保险",
    "payer.internal": "内部",
    "usage.private": "私家车",
    "usage.company": "单位用车",
    "usage.ride_hailing": "网约车",
    "usage.taxi": "出租车",
    "usage.government": "公务用车",
    "grade.economy": "经济型",
    "grade.mid": "中级",
    "grade.premium": "高端",
    "customer_type.individual": "个人",
    "customer_type.company": "企业",
    "customer_type.government": "政府机关",
    "status.active": "活跃",
    "status.dormant": "休眠",
    "status.lost": "流失",
    "status.never_returned": "未回厂",
    "sold_here.true": "本店销售",
    "sold_here.false": "他店销售",
    "unit.orders": "单",
    "unit.rmb": "元",
    "unit.yuan": "¥",
    "unit.vehicles": "辆",
    "unit.years": "年",
    "unit.months": "月",
    "unit.share": "%",
    "metric.retention_rate": "客户掌握率",
    "metric.active_ratio": "活跃客户比例",
}

HAS_HANZI = re.compile(r"[\u4e00-\u9fff]")


def test_langs():
    assert LANGS == ("en", "zh")
    try:
        from crm_analysis.config import LANGUAGES
    except ImportError:  # pragma: no cover
        return
    assert tuple(LANGUAGES) == LANGS


@pytest.mark.parametrize("field", sorted(CATEGORY_FIELDS))
def test_every_category_code_has_both_labels(field):
    for code in CATEGORY_FIELDS[field]:
        en, zh = t(f"{field}.{code}", "en"), t(f"{field}.{code}", "zh")
        assert en.strip() and zh.strip()
        assert not HAS_HANZI.search(en), en
        assert HAS_HANZI.search(zh), zh


@pytest.mark.parametrize("field", sorted(CATEGORY_FIELDS))
def test_labels_of_a_field_are_distinct(field):
    # Two codes with one display name would merge in legends and group-bys.
    for lang in LANGS:
        labels = [t(f"{field}.{code}", lang) for code in CATEGORY_FIELDS[field]]
        assert len(set(labels)) == len(labels), (field, lang, labels)


def test_dictionary_has_no_codes_outside_the_allowed_sets():
    for field, allowed in CATEGORY_FIELDS.items():
        assert set(i18n.codes(field)) == set(allowed), field


def test_agreed_chinese_labels():
    assert {key: t(key, "zh") for key in EXPECTED_ZH} == EXPECTED_ZH


@pytest.mark.parametrize("table", sorted(CANONICAL_COLUMNS))
def test_every_canonical_column_and_table_has_both_labels(table):
    for lang in LANGS:
        assert t(f"table.{table}", lang).strip()
        for col in CANONICAL_COLUMNS[table]:
            assert t(f"column.{col}", lang).strip(), (col, lang)
        assert HAS_HANZI.search(t(f"table.{table}", "zh"))


def test_all_entries_complete_and_placeholders_match():
    formatter = string.Formatter()
    for key, labels in i18n.LABELS.items():
        assert re.fullmatch(r"[a-z_]+\.[A-Za-z0-9_]+", key), key
        assert len(labels) == len(LANGS), key
        assert all(isinstance(s, str) and s.strip() for s in labels), key
        fields = [{f for _, f, _, _ in formatter.parse(s) if f} for s in labels]
        assert all(f == fields[0] for f in fields), key


def test_format_fields():
    assert t("metric.age_band", "en", n=3) == "Year 3"
    assert t("metric.age_band", "zh", n=3) == "第3年"


def test_with_unit():
    assert with_unit("metric.vehicle_age", "years", "en") == "Vehicle age (years)"
    assert with_unit("metric.vehicle_age", "years", "zh") == "车龄（年）"
    assert with_unit("metric.orders", "orders", "zh") == "工单数（单）"
    with pytest.raises(KeyError, match="unit.parsecs"):
        with_unit("metric.orders", "parsecs", "en")


def test_missing_key_raises_keyerror_naming_key_and_lang():
    with pytest.raises(KeyError) as info:
        t("ro_type.oil_change", "zh")
    message = str(info.value)
    assert "ro_type.oil_change" in message and "'zh'" in message


@pytest.mark.parametrize("bad", ["fr", "ZH", "", "zh-CN", None])
def test_bad_lang_raises_valueerror_listing_valid(bad):
    with pytest.raises(ValueError) as info:
        check_lang(bad)
    assert "'en'" in str(info.value) and "'zh'" in str(info.value)
    with pytest.raises(ValueError):
        t("ro_type.repair", bad)
    with pytest.raises(ValueError):
        translate_values(pd.Series(["repair"], name="ro_type"), bad)


def test_check_lang_returns_lang():
    assert [check_lang(x) for x in LANGS] == list(LANGS)


def test_translate_series_keeps_index_name_and_missing():
    s = pd.Series(["maintenance", "body_paint", None, "repair"], name="ro_type", index=[5, 6, 7, 8])
    out = translate_values(s, "zh")
    assert out.tolist()[:2] == ["保养", "钣喷"] and pd.isna(out.iloc[2]) and out.iloc[3] == "维修"
    assert out.name == "ro_type" and list(out.index) == [5, 6, 7, 8]
    assert translate_values(s, "en").iloc[1] == "Body & paint"


def test_translate_categorical_keeps_order():
    s = pd.Series(
        pd.Categorical(["mid", "economy"], categories=["premium", "mid", "economy"]), name="grade"
    )
    out = translate_values(s, "zh")
    assert list(out.cat.categories) == ["高端", "中级", "经济型"]
    assert out.tolist() == ["中级", "经济型"]


def test_translate_index_and_booleans():
    idx = pd.Index(["private", "taxi"], name="usage")
    assert translate_values(idx, "zh").tolist() == ["私家车", "出租车"]
    flags = pd.Series(np.array([True, False, True]), name="sold_here")
    assert translate_values(flags, "zh").tolist() == ["本店销售", "他店销售", "本店销售"]
    cidx = pd.CategoricalIndex(["lost", "active"], name="status")
    assert translate_values(cidx, "en").tolist() == ["Lost", "Active"]


def test_translate_with_explicit_field():
    s = pd.Series(["insurance"], name="who_pays")
    assert translate_values(s, "zh", field="payer").tolist() == ["保险"]


def test_translate_unknown_code_raises():
    with pytest.raises(KeyError, match="ro_type.oil change"):
        translate_values(pd.Series(["repair", "oil change"], name="ro_type"), "en")


def test_translate_needs_a_field():
    with pytest.raises(ValueError, match="field"):
        translate_values(pd.Series(["repair"]), "en")
    with pytest.raises(TypeError):
        translate_values(["repair"], "en")


def test_translate_columns():
    df = pd.DataFrame({"ro_type": ["repair"], "total_amount": [1.0], "retention_rate": [0.5]})
    assert list(translate_columns(df, "zh").columns) == ["业务类型", "结算金额（元）", "客户掌握率"]
    assert list(df.columns) == ["ro_type", "total_amount", "retention_rate"]  # not modified
    with pytest.raises(KeyError, match="mystery"):
        translate_columns(pd.DataFrame({"mystery": [1]}), "en")
    out = translate_columns(pd.DataFrame({"n": [1]}), "zh", extra={"n": "metric.orders"})
    assert list(out.columns) == ["工单数"]

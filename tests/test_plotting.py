"""Figures render Chinese without missing glyphs, using only the bundled font subset.

The realistic test machine has no CJK font installed: every Chinese glyph must then come
from ``crm_analysis/fonts/NotoSansSC-crm-subset.ttf``.
"""

from __future__ import annotations

import importlib.util
import re
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import seaborn as sns  # noqa: E402
from fontTools.ttLib import TTFont  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from crm_analysis import plotting  # noqa: E402

FONTS_DIR = Path(plotting.__file__).resolve().parent / "fonts"

#: 300 of the most frequent hanzi (deduplicated below).
COMMON_HANZI = (
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会"
    "那后能对着事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种"
    "将还分此心前面又定见只主没公从知使把机点给很最现实力度长加相正外动意全已新问手比教政高"
    "两体制开关理向变合些路便等名身四重利结提业做老各条期原代表建应次张本内战安光头量东界海"
    "平并系样通声产接直立南信电题部管走程打真数白特放山决总且石果区何气报九深革林计"
)

#: Strings covering the label vocabulary: business terms, full-width punctuation,
#: quotes, currency, units and symbols.
RICH_STRINGS = [
    "客户掌握率",
    "活跃客户比例",
    "车龄（年）",
    "保养",
    "钣喷",
    "¥1,234",
    "“质保期”",
    "‘单位用车’、网约车；出租车：公务用车！",
    "《售后服务》【2024年】第1年—第10年…",
    "结算金额（元）·工时费＋材料费＝合计 ％ № ℃ × ÷ → ① Ⅳ ★",
    "重要价值客户 高价值易流失客户 他店销售 未回厂 休眠 流失 ０１２３",
]


def _hanzi(text: str) -> set[str]:
    return {c for c in text if "\u4e00" <= c <= "\u9fff"}


def _gb2312_characters() -> set[str]:
    chars = set()
    for lead in range(0xA1, 0xFF):
        for trail in range(0xA1, 0xFF):
            try:
                chars.add(bytes((lead, trail)).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return chars


def _glyph_warnings(records) -> list[str]:
    return [
        str(w.message)
        for w in records
        if "Glyph" in str(w.message) or "missing from font" in str(w.message)
    ]


@pytest.fixture(autouse=True)
def _isolated_rc():
    """Every test starts from matplotlib defaults and leaves no global style behind."""
    with mpl.rc_context():
        mpl.rcdefaults()
        yield
    plt.close("all")


def _draw_chinese_figure():
    ro_types = ["保养", "维修", "钣喷", "保修索赔", "美容", "其他"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 6))
    ax1.bar(ro_types, [52, 18, 12, 8, 5, 5], label="工单占比（%）")
    ax1.legend(title="业务类型")
    plotting.label(ax1, "各业务类型工单占比：“质保期”内", "业务类型", "占比（%）")
    ages = list(range(1, 11))
    ax2.plot(ages, [0.92, 0.66, 0.5, 0.28, 0.2, 0.15, 0.12, 0.1, 0.08, 0.07], label="客户掌握率")
    ax2.plot(ages, [0.8, 0.5, 0.38, 0.2, 0.15, 0.1, 0.08, 0.07, 0.05, 0.04], label="活跃客户比例")
    ax2.set_xticks(ages, [f"第{a}年" for a in ages])
    ax2.legend(title="指标 — ¥1,234")
    plotting.fmt_pct(ax2)
    plotting.label(ax2, "客户掌握率与活跃客户比例", "车龄（年）", "比例（%）")
    common = "".join(dict.fromkeys(COMMON_HANZI))
    lines = [common[i : i + 40] for i in range(0, len(common), 40)]
    fig.text(0.01, 0.01, "\n".join(lines + RICH_STRINGS), fontsize=6, va="bottom")
    fig.suptitle("售后客户价值分析 —— " + " ".join(RICH_STRINGS[:7]))
    return fig


def test_common_hanzi_list_is_broad():
    assert len(_hanzi(COMMON_HANZI)) >= 200


def test_glyph_warning_detector_works_without_setup(tmp_path):
    # Guard against a vacuous test: with matplotlib defaults (DejaVu Sans only, and no
    # system CJK font registered), Chinese text must raise the warning we look for.
    if plotting.available_cjk_fonts():
        pytest.skip("a system CJK font is installed")
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        fig, ax = plt.subplots()
        ax.set_title("客户掌握率")
        fig.savefig(tmp_path / "default.png")
    assert _glyph_warnings(records), "expected 'Glyph ... missing' warnings without setup()"


@pytest.mark.parametrize("ext", ["png", "pdf", "svg"])
def test_chinese_figure_renders_without_missing_glyphs(tmp_path, ext):
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        plotting.setup("zh")
        fig = _draw_chinese_figure()
        out = tmp_path / f"figure.{ext}"
        fig.savefig(out, dpi=80)
    missing = _glyph_warnings(records)
    assert not missing, f"{len(missing)} missing-glyph warnings, e.g. {missing[:3]}"
    assert out.stat().st_size > 1000
    if ext == "pdf" and not plotting.available_cjk_fonts():
        # No system CJK font: the Chinese glyphs come from the bundled subset.
        assert b"NotoSansSCSubset-Regular" in out.read_bytes()


def test_curve_by_age_in_chinese_has_no_missing_glyphs(tmp_path):
    df = pd.DataFrame(
        {
            "age_band": [0, 1, 2, 3] * 2,
            "retention_rate": [0.9, 0.65, 0.5, 0.25, 0.85, 0.55, 0.4, 0.2],
            "usage": ["private"] * 4 + ["ride_hailing"] * 4,
        }
    )
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        plotting.setup("zh")
        ax = plotting.curve_by_age(df, "retention_rate", hue="usage", lang="zh")
        ax.figure.savefig(tmp_path / "curve.png")
        ax.figure.savefig(tmp_path / "curve.pdf")
    assert not _glyph_warnings(records)
    assert ax.get_title() == "客户掌握率"
    assert ax.get_xlabel() == "车龄（年）"
    assert ax.get_ylabel() == "客户掌握率（%）"
    assert [tk.get_text() for tk in ax.get_xticklabels()] == ["第1年", "第2年", "第3年", "第4年"]
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "车辆用途"
    assert [tx.get_text() for tx in legend.get_texts()] == ["私家车", "网约车"]


def test_bundled_font_file_is_small_and_covers_gb2312():
    path = plotting.cjk_font_path()
    assert path.is_file() and path.suffix == ".ttf"
    assert path.stat().st_size < 8 * 1024 * 1024
    font = TTFont(path)
    assert "glyf" in font, "expected TrueType outlines"
    cmap = font.getBestCmap()
    gb = _gb2312_characters()
    gb_hanzi = _hanzi("".join(gb))
    assert len(gb_hanzi) == 6763
    missing = sorted(c for c in gb if ord(c) not in cmap)
    assert not missing, f"{len(missing)} GB 2312 characters missing, e.g. {missing[:20]}"
    for c in "¥·—“”‘’№℃×÷←→（），。、：；！？":
        assert ord(c) in cmap, c
    assert all(ord(c) in cmap for c in COMMON_HANZI + "".join(RICH_STRINGS))


def test_bundled_font_is_renamed_and_licensed():
    font = TTFont(plotting.cjk_font_path())
    names = font["name"]
    assert names.getDebugName(1) == plotting.BUNDLED_FAMILY
    assert names.getDebugName(16) == plotting.BUNDLED_FAMILY
    assert "Noto Sans CJK" not in names.getDebugName(4)
    assert names.getDebugName(6) == "NotoSansSCSubset-Regular"
    assert "Open Font License" in names.getDebugName(13)
    ofl = (FONTS_DIR / "OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in ofl
    assert "Copyright 2014-2021 Adobe (http://www.adobe.com/)" in ofl
    readme = (FONTS_DIR / "README.txt").read_text(encoding="utf-8")
    assert "build_cjk_font.py" in readme and "GB 2312" in readme


def test_matplotlib_reads_bundled_family():
    plotting.register_bundled_font()
    path = font_manager.findfont(
        font_manager.FontProperties(family=plotting.BUNDLED_FAMILY), fallback_to_default=False
    )
    assert Path(path) == plotting.cjk_font_path()


def test_setup_family_list_and_rc():
    families = plotting.setup("zh")
    assert families[0] == "DejaVu Sans"
    assert families[-1] == plotting.BUNDLED_FAMILY
    assert families[1:-1] == plotting.available_cjk_fonts()[:1]
    assert list(mpl.rcParams["font.family"]) == families
    assert mpl.rcParams["axes.unicode_minus"] is False
    # seaborn whitegrid theme is on
    assert mpl.rcParams["axes.grid"] is True


def test_setup_is_idempotent():
    first = plotting.setup("zh")
    n_entries = len(font_manager.fontManager.ttflist)
    second = plotting.setup("zh")
    assert first == second
    assert len(font_manager.fontManager.ttflist) == n_entries
    registered = [
        e for e in font_manager.fontManager.ttflist if Path(e.fname) == plotting.cjk_font_path()
    ]
    assert len(registered) == 1


def test_setup_restores_fonts_after_set_theme(tmp_path):
    plotting.setup("zh")
    sns.set_theme()  # resets font.family to ["sans-serif"]
    assert plotting.BUNDLED_FAMILY not in mpl.rcParams["font.family"]
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        plotting.setup("zh")
        fig, ax = plt.subplots()
        plotting.label(ax, "客户掌握率", "车龄（年）", "比例（%）")
        fig.savefig(tmp_path / "restored.png")
    assert plotting.BUNDLED_FAMILY in mpl.rcParams["font.family"]
    assert mpl.rcParams["axes.unicode_minus"] is False
    assert not _glyph_warnings(records)


def test_setup_context_is_applied():
    plotting.setup("en", context="paper")
    paper = mpl.rcParams["font.size"]
    plotting.setup("en", context="talk")
    assert mpl.rcParams["font.size"] > paper


def test_english_figure_uses_dejavu_for_latin(tmp_path):
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        plotting.setup("en")
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3], [0.9, 0.6, 0.5], label="Retention rate")
        ax.legend()
        title = ax.set_title("Retention rate by vehicle age")
        ax.set_xlabel("Vehicle age (years)")
        ax.set_ylabel("Share of vehicles (%)")
        out = tmp_path / "english.pdf"
        fig.savefig(out)
    assert not _glyph_warnings(records)
    first = font_manager.findfont(title.get_fontproperties(), fallback_to_default=False)
    assert Path(first).name == "DejaVuSans.ttf"
    embedded = set(re.findall(rb"/BaseFont /(?:[A-Z]{6}\+)?([\w-]+)", out.read_bytes()))
    assert embedded == {b"DejaVuSans"}, embedded


def test_setup_rejects_unknown_language():
    with pytest.raises(ValueError, match="'en', 'zh'"):
        plotting.setup("fr")


def test_label_sets_all_three_and_rejects_empty():
    fig, ax = plt.subplots()
    assert plotting.label(ax, "Title", "Age (years)", "Orders (orders)") is ax
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == (
        "Title",
        "Age (years)",
        "Orders (orders)",
    )
    for args in [("", "x", "y"), ("t", " ", "y"), ("t", "x", None)]:
        with pytest.raises(ValueError):
            plotting.label(ax, *args)


def test_fmt_rmb():
    fig, ax = plt.subplots()
    assert plotting.fmt_rmb(ax) is ax
    fmt = ax.yaxis.get_major_formatter()
    assert fmt(1234567, 0) == "¥1,234,567"
    assert fmt(-1234.4, 0) == "-¥1,234"
    assert fmt(0, 0) == "¥0"
    plotting.fmt_rmb(ax, "x", scale=1e4, suffix="万", decimals=1)
    assert ax.xaxis.get_major_formatter()(125000, 0) == "¥12.5万"
    plotting.fmt_rmb(ax, "both", decimals=2)
    assert ax.xaxis.get_major_formatter()(1.5, 0) == "¥1.50"
    with pytest.raises(ValueError, match="axis"):
        plotting.fmt_rmb(ax, "z")


def test_fmt_pct():
    fig, ax = plt.subplots()
    assert plotting.fmt_pct(ax) is ax
    assert ax.yaxis.get_major_formatter()(0.455, 0) == "46%"
    plotting.fmt_pct(ax, "x", xmax=100, decimals=1)
    assert ax.xaxis.get_major_formatter()(45.5, 0) == "45.5%"


def test_available_cjk_fonts_lists_only_installed_families():
    installed = {e.name for e in font_manager.fontManager.ttflist}
    found = plotting.available_cjk_fonts()
    assert all(name in installed for name in found)
    assert plotting.BUNDLED_FAMILY not in found
    assert plotting.available_cjk_fonts(include_bundled=True)[-1] == plotting.BUNDLED_FAMILY


def test_font_is_up_to_date_with_build_script():
    script = Path(__file__).resolve().parent.parent / "scripts" / "build_cjk_font.py"
    if not script.is_file():
        pytest.skip("not a source checkout")
    spec = importlib.util.spec_from_file_location("build_cjk_font", script)
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert build.gb2312_characters() == _gb2312_characters()
    cmap = TTFont(plotting.cjk_font_path()).getBestCmap()
    missing = [c for c in build.EXTRA_SYMBOLS + build.EXTRA_HANZI if ord(c) not in cmap]
    assert not missing, f"rebuild the font: {missing}"

"""Figure style, Chinese-capable fonts and small figure helpers.

Call :func:`setup` once at the top of a notebook or script. It applies the seaborn
theme, then registers the CJK font subset bundled with the package
(``crm_analysis/fonts/NotoSansSC-crm-subset.ttf``, SIL OFL 1.1) and sets a font
fallback list, so Chinese titles, labels and tick labels render without missing
glyphs even on a machine with no CJK font installed and without root.

Latin text is drawn with DejaVu Sans; matplotlib (>= 3.6) falls back glyph by glyph to
the next family of ``font.family``: a system CJK font when one is installed, then the
bundled subset, which covers ASCII, Latin-1, common punctuation and all of GB 2312.

Example
-------
>>> import pandas as pd
>>> from crm_analysis import plotting
>>> families = plotting.setup("zh")
>>> families[0], families[-1]
('DejaVu Sans', 'Noto Sans SC Subset')
>>> df = pd.DataFrame({"age_band": [0, 1, 2], "retention_rate": [0.9, 0.65, 0.5]})
>>> ax = plotting.curve_by_age(df, "retention_rate", lang="zh")
>>> ax.get_ylabel()
'客户掌握率（%）'
>>> ax.get_title()
'客户掌握率'
"""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, PercentFormatter

from crm_analysis.i18n import LABELS, check_lang, t, translate_values, with_unit

__all__ = [
    "BUNDLED_FAMILY",
    "LATIN_FAMILY",
    "SYSTEM_CJK_FAMILIES",
    "available_cjk_fonts",
    "cjk_font_path",
    "curve_by_age",
    "ensure_cjk_font",
    "fmt_pct",
    "fmt_rmb",
    "label",
    "prepare_axes",
    "register_bundled_font",
    "setup",
]

#: File name of the bundled font subset in ``crm_analysis/fonts/``.
FONT_FILE = "NotoSansSC-crm-subset.ttf"
#: Family name of the bundled subset (renamed so it never shadows a full install).
BUNDLED_FAMILY = "Noto Sans SC Subset"
#: Family used for Latin text (ships with matplotlib).
LATIN_FAMILY = "DejaVu Sans"
#: Installed Simplified-Chinese fonts preferred over the bundled subset, best first.
SYSTEM_CJK_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "SimHei",
)

_AXES = ("x", "y", "both")


def cjk_font_path() -> Path:
    """Path of the bundled CJK font subset.

    Raises :class:`FileNotFoundError` when the package was installed without its
    data files.

    Example
    -------
    >>> cjk_font_path().name
    'NotoSansSC-crm-subset.ttf'
    """
    path = Path(__file__).resolve().parent / "fonts" / FONT_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"bundled font {path} is missing: reinstall crm_analysis with its package data, "
            "or rebuild it with scripts/build_cjk_font.py"
        )
    return path


def register_bundled_font() -> str:
    """Register the bundled subset with matplotlib (once) and return its family name.

    Uses :meth:`matplotlib.font_manager.FontManager.addfont`: no root, no font-cache
    rebuild, nothing written to disk.

    Example
    -------
    >>> register_bundled_font()
    'Noto Sans SC Subset'
    """
    path = cjk_font_path()
    known = {Path(entry.fname).resolve() for entry in font_manager.fontManager.ttflist}
    if path not in known:
        font_manager.fontManager.addfont(str(path))
    return BUNDLED_FAMILY


def available_cjk_fonts(*, include_bundled: bool = False) -> list[str]:
    """Installed Chinese font families known to matplotlib, best first.

    Only the families of :data:`SYSTEM_CJK_FAMILIES` are considered. With
    ``include_bundled=True`` the bundled subset is registered and appended.

    Example
    -------
    >>> available_cjk_fonts(include_bundled=True)[-1]
    'Noto Sans SC Subset'
    """
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    found = [name for name in SYSTEM_CJK_FAMILIES if name in installed]
    if include_bundled:
        found.append(register_bundled_font())
    return found


def setup(lang: str = "en", *, context: str = "notebook") -> list[str]:
    """Apply the package figure style and Chinese-capable fonts; return ``font.family``.

    Order matters: :func:`seaborn.set_theme` (``whitegrid``, ``context``) runs first
    because it resets the font settings; then the bundled CJK subset is registered and
    ``font.family`` becomes ``[DejaVu Sans, <first installed system CJK font, if any>,
    Noto Sans SC Subset]``, and ``axes.unicode_minus`` is turned off (CJK fonts may lack
    U+2212). Calling it again, e.g. after another ``sns.set_theme()``, restores the
    same settings. ``lang`` is validated; the fonts are the same for every language
    (English reports may still show Chinese store or model names). Text is never read
    as mathtext (``text.parse_math`` off): a store or model name from data with ``$`` in
    it shows as written instead of failing the figure (``$\\foo$``) or turning into maths.

    Example
    -------
    >>> families = setup("zh", context="paper")
    >>> families[0], families[-1]
    ('DejaVu Sans', 'Noto Sans SC Subset')
    """
    check_lang(lang)
    sns.set_theme(style="whitegrid", context=context)
    families = [LATIN_FAMILY, *available_cjk_fonts()[:1], register_bundled_font()]
    mpl.rcParams["font.family"] = families
    mpl.rcParams["axes.unicode_minus"] = False
    mpl.rcParams["text.parse_math"] = False  # labels hold data text; the package writes no maths
    # pdf.fonttype stays at matplotlib's default (3): with Type 42, matplotlib 3.11 embeds a
    # CFF-flavoured system font (Noto Sans CJK, Source Han Sans) as FontFile2, which is
    # wrong; Type 3 works with every font.
    return list(families)


def prepare_axes(ax: Axes | None = None, lang: str = "en") -> Axes:
    """The Axes a chart function draws into, with Chinese text able to render.

    Validates ``lang``, adds the bundled CJK font as a fallback family (and turns off
    ``axes.unicode_minus``) when :func:`setup` has not already done so, and returns ``ax``
    or, when it is None, the current Axes. Chart functions call it first, so that they
    work with or without :func:`setup`.

    Example
    -------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> prepare_axes(ax, "zh") is ax, BUNDLED_FAMILY in plt.rcParams["font.family"]
    (True, True)
    >>> plt.close(fig)
    """
    ensure_cjk_font(lang)
    return _get_ax(ax)


def ensure_cjk_font(lang: str = "en") -> str:
    """Validate ``lang`` and make the bundled CJK font a fallback family if it is not one.

    Unlike :func:`setup` it leaves the style and the other families alone. Returns
    ``lang``.

    Example
    -------
    >>> ensure_cjk_font("zh")
    'zh'
    """
    check_lang(lang)
    families = list(mpl.rcParams["font.family"])
    if BUNDLED_FAMILY not in families:
        mpl.rcParams["font.family"] = [*families, register_bundled_font()]
        mpl.rcParams["axes.unicode_minus"] = False
    return lang


def _get_ax(ax: Axes | None) -> Axes:
    return plt.gca() if ax is None else ax


def _axes_of(ax: Axes, axis: str):
    if axis not in _AXES:
        raise ValueError(f"axis must be one of {', '.join(map(repr, _AXES))}, got {axis!r}")
    return [getattr(ax, f"{a}axis") for a in ("x", "y") if axis in (a, "both")]


def label(ax: Axes | None, title: str, xlabel: str, ylabel: str) -> Axes:
    """Set the title and both axis labels at once; every figure needs all three.

    Put units in the axis labels (see :func:`crm_analysis.i18n.with_unit`). Empty
    strings raise :class:`ValueError`. Returns the Axes.

    Example
    -------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> ax = label(ax, "维修工单金额分布", "结算金额（元）", "工单数（单）")
    >>> ax.get_title()
    '维修工单金额分布'
    >>> plt.close(fig)
    """
    ax = _get_ax(ax)
    for name, text in (("title", title), ("xlabel", xlabel), ("ylabel", ylabel)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{name} must be a non-empty string, got {text!r}")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def fmt_rmb(
    ax: Axes | None = None,
    axis: str = "y",
    *,
    decimals: int = 0,
    scale: float = 1.0,
    suffix: str = "",
    lang: str | None = None,
) -> Axes:
    """Format tick labels as RMB with thousands separators: ``¥1,234``.

    ``scale`` divides the values first, e.g. ``scale=1e4, suffix="万"`` gives ``¥12.5万``.
    ``lang`` (``"en"`` / ``"zh"``) instead picks the unit of each tick, for wide ranges:
    ``¥12k``, ``¥1.2M`` or ``¥12万``, ``¥1.2亿``. ``axis`` is ``"x"``, ``"y"`` or
    ``"both"``. Returns the Axes.

    Example
    -------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> ax = fmt_rmb(ax)
    >>> ax.yaxis.get_major_formatter()(-1234.4, 0)
    '-¥1,234'
    >>> fmt_rmb(ax, lang="zh").yaxis.get_major_formatter()(250_000, 0)
    '¥25万'
    >>> plt.close(fig)
    """
    ax = _get_ax(ax)
    if scale == 0:
        raise ValueError("scale must not be 0")
    units = {"en": ((1e6, 1e6, "M"), (1e4, 1e3, "k")), "zh": ((1e8, 1e8, "亿"), (1e4, 1e4, "万")),
             None: ()}[lang]

    def fmt(value: float, _pos: object = None) -> str:
        v = value / scale
        sign = "-" if round(v, decimals) < 0 else ""
        for above, div, unit in units:
            if abs(v) >= above:
                return f"{sign}¥{abs(v) / div:g}{unit}"
        return f"{sign}¥{abs(v):,.{decimals}f}{suffix}"

    for axis_obj in _axes_of(ax, axis):
        axis_obj.set_major_formatter(FuncFormatter(fmt))
    return ax


def fmt_pct(
    ax: Axes | None = None, axis: str = "y", *, xmax: float = 1.0, decimals: int | None = 0
) -> Axes:
    """Format tick labels as percentages; data are fractions (0–1) unless ``xmax=100``.

    Returns the Axes.

    Example
    -------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> ax = fmt_pct(ax)
    >>> ax.yaxis.get_major_formatter()(0.45, 0)
    '45%'
    >>> plt.close(fig)
    """
    ax = _get_ax(ax)
    for axis_obj in _axes_of(ax, axis):
        axis_obj.set_major_formatter(PercentFormatter(xmax=xmax, decimals=decimals))
    return ax


def curve_by_age(
    data: pd.DataFrame,
    y: str,
    *,
    x: str = "age_band",
    hue: str | None = None,
    ax: Axes | None = None,
    lang: str = "en",
    title: str | None = None,
    percent: bool = True,
) -> Axes:
    """Line chart of a metric by vehicle age (the FAW-Toyota retention chart).

    ``data`` is tidy: one row per integer age band ``x`` (band k covers age [k, k+1),
    shown as "Year k+1" / "第k+1年") and ``hue`` group. The y label is ``metric.<y>``
    from :mod:`crm_analysis.i18n` (with "%" when ``percent``), the legend shows the
    translated ``hue`` values, and the title defaults to the y label. With ``percent``
    the values are fractions shown as percentages. Returns the Axes.

    Example
    -------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"age_band": [0, 1, 0, 1],
    ...                    "active_ratio": [0.9, 0.6, 0.8, 0.4],
    ...                    "usage": ["private", "private", "taxi", "taxi"]})
    >>> ax = curve_by_age(df, "active_ratio", hue="usage", lang="zh")
    >>> [tick.get_text() for tick in ax.get_xticklabels()]
    ['第1年', '第2年']
    >>> ax.get_legend().get_title().get_text()
    '车辆用途'
    """
    check_lang(lang)
    cols = [x, y] + ([hue] if hue else [])
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise KeyError(f"columns {missing} not in data; columns: {list(data.columns)}")
    ax = _get_ax(ax)
    plot_df = data[cols].copy()
    if hue:
        plot_df[hue] = translate_values(plot_df[hue], lang)
    sns.lineplot(data=plot_df, x=x, y=y, hue=hue, marker="o", ax=ax)
    bands = sorted(int(b) for b in plot_df[x].dropna().unique())
    ax.set_xticks(bands, [t("metric.age_band", lang, n=k + 1) for k in bands])
    ylabel = with_unit(f"metric.{y}", "share", lang) if percent else t(f"metric.{y}", lang)
    xlabel = with_unit("metric.vehicle_age", "years", lang)
    label(ax, title or t(f"metric.{y}", lang), xlabel, ylabel)
    if percent:
        fmt_pct(ax, "y")
        ax.set_ylim(0, max(1.0, float(plot_df[y].max())) * 1.02)
    if hue and ax.get_legend() is not None:
        ax.get_legend().set_title(t(f"column.{hue}", lang) if f"column.{hue}" in LABELS else hue)
    return ax

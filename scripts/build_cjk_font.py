#!/usr/bin/env python
"""Build the CJK font subset shipped in ``crm_analysis/fonts/``.

The figures of ``crm_analysis`` must show Chinese on a machine without any CJK
font installed. We therefore ship a subset of Noto Sans CJK SC Regular
(SIL Open Font License 1.1) that covers ASCII, Latin-1, common punctuation and
symbols, and every character of GB 2312, converted from CFF to TrueType (glyf)
outlines so that matplotlib can embed it in PNG, PDF, PS and SVG output.

The font family is renamed to "Noto Sans SC Subset" so that it never shadows a
full Noto Sans CJK / Noto Sans SC installed on the system.

Usage
-----
Rebuild from a local copy of the source font (an ``.otf``, or the ``mplfonts``
wheel that contains ``mplfonts/fonts/NotoSansCJKsc-Regular.otf``)::

    python scripts/build_cjk_font.py --source /path/to/NotoSansCJKsc-Regular.otf
    python scripts/build_cjk_font.py --source /path/to/mplfonts-0.0.11-py3-none-any.whl

or let the script fetch the ``mplfonts`` wheel from PyPI with pip::

    python scripts/build_cjk_font.py

Only ``fontTools`` (a dependency of matplotlib) is needed.

Example
-------
>>> from scripts.build_cjk_font import subset_codepoints  # doctest: +SKIP
>>> 0x4E2D in subset_codepoints()  # "中"                   # doctest: +SKIP
True
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont, newTable

log = logging.getLogger("build_cjk_font")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "crm_analysis" / "fonts" / "NotoSansSC-crm-subset.ttf"

#: The PyPI wheel that carries the source font, and the font's path inside it.
WHEEL_REQUIREMENT = "mplfonts==0.0.11"
WHEEL_MEMBER = "mplfonts/fonts/NotoSansCJKsc-Regular.otf"
#: SHA-256 of that font (Noto Sans CJK SC Regular 1.004) as shipped in mplfonts 0.0.11.
SOURCE_SHA256 = "1652500938055a232cfbfa321de6ebaadfc5635dd9f75e369bc991d14a6512dd"

#: Family name of the subset (name IDs 1 and 16), and the PostScript name (ID 6).
FAMILY = "Noto Sans SC Subset"
POSTSCRIPT_NAME = "NotoSansSCSubset-Regular"

#: Maximum approximation error of the cubic-to-quadratic conversion, in font
#: units (1000 per em): 1 unit is invisible at any practical size.
MAX_ERR = 1.0

#: Symbols and characters used in Chinese business text that are outside GB 2312
#: (or outside the Unicode blocks listed in ``subset_codepoints``).
EXTRA_SYMBOLS = (
    "¥·—–‘’“”…‰№℃℉×÷±−≈≠≤≥√∞∑∆°€£$"
    "™®©℡※✓"
    "㎡㎞㎏㎎㎜㎝㏄"
    "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
    "ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅪⅫⅰⅱⅲⅳⅴⅵⅶⅷⅸⅹ"
    "▲△▼▽●○◎◆◇■□★☆"
)

#: Hanzi outside GB 2312 that turn up in Chinese business text: the everyday
#: 啰, characters common in personal and company names, and place names of
#: districts and towns (e.g. 硚口, 埇桥, 浉河, 甪直).
EXTRA_HANZI = (
    "啰喆堃犇骉垚镕祎玥珺瑨琤珣赟翀鋆燊璟昇彧淏邨瑄瑆曌旸嫚祐琇玹珉瑗婳"
    "妤昳晞晧暐炘炜烜焜煜琮琨瑭璠钰铧铖锴锘阚颀颉"
    "硚埇浉甪峃垟垵埗栟氹浈溆涠溱"
)

#: Unicode ranges kept in full (inclusive bounds).
RANGES = (
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # Latin-1 supplement
    (0x2000, 0x206F),  # general punctuation
    (0x2190, 0x21FF),  # arrows
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0xFF00, 0xFFEF),  # half-width and full-width forms
)


def gb2312_characters() -> set[str]:
    """Every character of GB 2312 (6,763 hanzi plus 682 symbols).

    Enumerates all two-byte EUC-CN codes (both bytes 0xA1-0xFE) and keeps the
    ones Python's ``gb2312`` codec decodes.

    Example
    -------
    >>> chars = gb2312_characters()
    >>> len(chars), "钣" in chars
    (7445, True)
    """
    chars: set[str] = set()
    for lead in range(0xA1, 0xFF):
        for trail in range(0xA1, 0xFF):
            try:
                chars.add(bytes((lead, trail)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


def subset_codepoints() -> set[int]:
    """The code points the subset should cover (those missing from the source are skipped).

    Example
    -------
    >>> cps = subset_codepoints()
    >>> ord("A") in cps and ord("保") in cps and ord("¥") in cps
    True
    """
    cps: set[int] = set()
    for lo, hi in RANGES:
        cps.update(range(lo, hi + 1))
    cps.update(ord(c) for c in gb2312_characters())
    cps.update(ord(c) for c in EXTRA_SYMBOLS + EXTRA_HANZI)
    return cps


def fetch_source(source: Path | None, workdir: Path) -> Path:
    """Return the path of the source ``.otf``.

    ``source`` may be the font itself or the ``mplfonts`` wheel; when it is
    ``None`` the wheel is downloaded with ``pip download`` into ``workdir``.

    Example
    -------
    >>> fetch_source(Path("NotoSansCJKsc-Regular.otf"), Path("/tmp"))  # doctest: +SKIP
    PosixPath('NotoSansCJKsc-Regular.otf')
    """
    if source is None:
        log.info("downloading %s with pip", WHEEL_REQUIREMENT)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                WHEEL_REQUIREMENT,
                "-d",
                str(workdir),
            ],
            check=True,
        )
        wheels = sorted(workdir.glob("mplfonts-*.whl"))
        if not wheels:
            raise FileNotFoundError(f"pip did not download a mplfonts wheel into {workdir}")
        source = wheels[-1]
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            data = wheel.read(WHEEL_MEMBER)
        target = workdir / Path(WHEEL_MEMBER).name
        target.write_bytes(data)
        return target
    return source


def _subset(font: TTFont, codepoints: set[int]) -> None:
    """Subset ``font`` in place: keep ``codepoints``, no hinting, no layout features."""
    options = subset.Options()
    options.layout_features = []  # matplotlib lays out horizontal CJK without GSUB/GPOS
    options.hinting = False
    options.desubroutinize = True
    options.notdef_outline = True
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.glyph_names = False
    options.drop_tables += ["BASE", "GSUB", "GPOS", "GDEF", "VORG", "vhea", "vmtx", "DSIG"]
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(unicodes=codepoints)
    subsetter.subset(font)


def _cff_to_glyf(font: TTFont, max_err: float = MAX_ERR) -> None:
    """Convert CFF (cubic) outlines to TrueType (quadratic) in place.

    Follows fontTools' ``Snippets/otf2ttf.py``.
    """
    glyph_order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    quad = {}
    for name in glyph_order:
        tt_pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(tt_pen, max_err, reverse_direction=True))
        quad[name] = tt_pen.glyph()

    font["loca"] = newTable("loca")
    font["glyf"] = glyf = newTable("glyf")
    glyf.glyphOrder = glyph_order
    glyf.glyphs = quad
    del font["CFF "]
    glyf.compile(font)

    hmtx = font["hmtx"]
    for name, glyph in quad.items():
        if hasattr(glyph, "xMin"):  # left side bearing = xMin for TrueType
            hmtx[name] = (hmtx[name][0], glyph.xMin)

    font["maxp"] = maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    maxp.maxZones = 1
    for attr in (
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
    ):
        setattr(maxp, attr, 0)
    maxp.maxComponentElements = 0
    maxp.compile(font)

    post = font["post"]
    post.formatType = 3.0  # no glyph names: the source (a CID font) has none either
    font.sfntVersion = "\x00\x01\x00\x00"


def _rename(font: TTFont, version_note: str) -> None:
    """Rename the family so the subset never shadows a full install."""
    name = font["name"]
    source_version = name.getDebugName(5) or ""
    revision = f"{font['head'].fontRevision:.3f}"
    new = {
        1: FAMILY,
        2: "Regular",
        3: f"{revision};GOOG;{POSTSCRIPT_NAME};crm_analysis",
        4: f"{FAMILY} Regular",
        5: f"{source_version.split(';')[0]}; {version_note}",
        6: POSTSCRIPT_NAME,
        16: FAMILY,
        17: "Regular",
    }
    for record in list(name.names):
        if record.nameID in new or record.nameID in (18, 20, 21):
            name.removeNames(nameID=record.nameID)
    for name_id, value in new.items():
        name.setName(value, name_id, 3, 1, 0x409)  # Windows, Unicode BMP, English (US)
        name.setName(value, name_id, 1, 0, 0)  # Macintosh, Roman, English
    if "CFF " in font:  # kept only with --format otf
        cff = font["CFF "].cff
        cff.fontNames = [POSTSCRIPT_NAME]
        top = cff.topDictIndex[0]
        for key, value in (("FullName", f"{FAMILY} Regular"), ("FamilyName", FAMILY)):
            if hasattr(top, key):
                setattr(top, key, value)


def build(source: Path, output: Path, *, fmt: str = "ttf", max_err: float = MAX_ERR) -> dict:
    """Subset, convert and rename ``source``; write ``output``; return a summary.

    Example
    -------
    >>> build(Path("NotoSansCJKsc-Regular.otf"), Path("out.ttf"))  # doctest: +SKIP
    {'glyphs': 7810, 'codepoints': 7809, 'bytes': 4123456, ...}
    """
    # Keep the source's head.modified timestamp so rebuilds are byte-identical.
    font = TTFont(source, lazy=False, recalcTimestamp=False)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        log.warning("source sha256 %s differs from the documented %s", digest, SOURCE_SHA256)
    if "CFF " not in font:
        raise ValueError(f"{source} has no CFF table: expected Noto Sans CJK SC (.otf)")
    available = set(font.getBestCmap())
    wanted = subset_codepoints()
    missing_gb = sorted(ord(c) for c in gb2312_characters() if ord(c) not in available)
    if missing_gb:
        raise ValueError(f"source font lacks {len(missing_gb)} GB 2312 characters")

    _subset(font, wanted & available)
    if fmt == "ttf":
        _cff_to_glyf(font, max_err=max_err)
    _rename(font, version_note=f"subset for crm_analysis ({WHEEL_MEMBER.split('/')[-1]})")

    buffer = io.BytesIO()
    font.save(buffer)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(buffer.getvalue())

    check = TTFont(output)
    return {
        "output": str(output),
        "bytes": output.stat().st_size,
        "sha256": hashlib.sha256(output.read_bytes()).hexdigest(),
        "glyphs": len(check.getGlyphOrder()),
        "codepoints": len(check.getBestCmap()),
        "hanzi": sum(1 for cp in check.getBestCmap() if 0x4E00 <= cp <= 0x9FFF),
        "family": check["name"].getDebugName(1),
        "outlines": "glyf" if "glyf" in check else "CFF",
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring).

    Example
    -------
    >>> main(["--source", "NotoSansCJKsc-Regular.otf"])  # doctest: +SKIP
    0
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="NotoSansCJKsc-Regular.otf, or the mplfonts wheel containing it "
        f"(default: pip download {WHEEL_REQUIREMENT})",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"output font (default: {DEFAULT_OUTPUT.relative_to(REPO_ROOT)})",
    )
    parser.add_argument(
        "--format",
        choices=("ttf", "otf"),
        default="ttf",
        help="ttf: TrueType outlines (default); otf: keep CFF outlines",
    )
    parser.add_argument(
        "--max-err",
        type=float,
        default=MAX_ERR,
        help="cubic-to-quadratic tolerance in font units (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("fontTools").setLevel(logging.WARNING)

    output = args.output or DEFAULT_OUTPUT.with_suffix("." + args.format)
    with tempfile.TemporaryDirectory() as tmp:
        src = fetch_source(args.source, Path(tmp))
        summary = build(src, output, fmt=args.format, max_err=args.max_err)
    for key, value in summary.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Helpers for the tests that feed raw DMS exports to the CLI and the reports.

A small generated store is written as a messy Chinese DMS export
(:func:`crm_analysis.synth.dms.write_dms_export`, raw personal data included), and
:func:`find_pii` looks for that personal data in what the program wrote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from crm_analysis.schema import Dataset
from crm_analysis.synth import generate
from crm_analysis.synth.dms import ExportManifest, write_dms_export

AS_OF = "2026-06-30"
#: A Chinese mobile number (a real one: the synthetic phones start with 100), standing
#: alone: not part of a longer run of letters and digits (a 12-hex-digit pseudonym that
#: happens to read ``a15056486886``) nor the decimals of a number (``3409.18858895223``).
MOBILE_RE = re.compile(r"(?<![0-9A-Za-z.])1[3-9]\d{9}(?![0-9A-Za-z]|\.\d)")
_IMAGE_RE = re.compile(r"data:image/[a-z+.-]+;base64,[A-Za-z0-9+/=\s]+")


def make_export(folder: Path, *, seed: int = 7, scale: float = 0.05,
                **kw) -> tuple[Dataset, ExportManifest]:
    """Generate one store and write it as a messy DMS export into ``folder``."""
    ds = generate(n_stores=1, seed=seed, scale=scale, as_of=AS_OF)
    manifest = write_dms_export(ds, folder, fault_rate=0.01, seed=seed, **kw)
    return ds, manifest


def pii_values(ds: Dataset) -> dict[str, set[str]]:
    """The raw names, phones and plates written into the export."""
    return {
        "name": {str(v) for v in ds.customers["name"].dropna()},
        "phone": {str(v) for v in ds.customers["phone"].dropna()},
        "plate": {str(v) for v in ds.vehicles["plate"].dropna()},
    }


def readable_text(path: Path) -> str:
    """The text of an HTML page or a notebook, without embedded images.

    A notebook is decoded (JSON escapes such as ``\\u5f20`` become characters) and its
    image outputs are dropped; base64 images are removed from HTML, as random base64
    could contain any digit run.
    """
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        nb = json.loads(text)
        for cell in nb.get("cells", []):
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                for key in [k for k in data if k.startswith("image/")]:
                    del data[key]
        text = json.dumps(nb, ensure_ascii=False)
    return _IMAGE_RE.sub("", text)


def find_pii(paths: Iterable[Path], pii: dict[str, set[str]]) -> list[str]:
    """Every raw personal value (or mobile-number pattern) found in ``paths``."""
    hits = []
    for path in paths:
        text = readable_text(path)
        for kind, values in pii.items():
            hits += [f"{path.name}: {kind} {v!r}" for v in values if v in text]
        hits += [f"{path.name}: mobile number {m!r}" for m in MOBILE_RE.findall(text)]
    return hits

"""Calibrated synthetic dealer group with ground truth.

No real dealer data is public, so the package ships a generator whose stores land near
published industry figures (DOMAIN.md section 4, sources in ``data/README.md``) and
whose ``truth`` table knows when each vehicle's owner really left. Tests use that truth
to prove that the estimators are right. :func:`write_partitioned` streams a very large
group (hundreds of stores) to partitioned Parquet a store at a time, in bounded memory.

Example
-------
>>> from crm_analysis.synth import generate
>>> ds = generate(n_stores=1, seed=7, start="2023-01-01", as_of="2024-06-30", scale=0.05)
>>> sorted(ds.truth.columns)[:3]
['annual_km', 'cliff_leaver', 'customer_id']
"""

from crm_analysis.synth.dms import ExportManifest, write_dms_export
from crm_analysis.synth.generator import generate
from crm_analysis.synth.params import DEFAULT_STORES, StoreProfile, SynthParams
from crm_analysis.synth.stream import write_partitioned

__all__ = [
    "generate", "StoreProfile", "SynthParams", "DEFAULT_STORES", "ExportManifest",
    "write_dms_export", "write_partitioned",
]

"""Narration catalogs: the notebooks' sentences that carry computed numbers.

One TOML file per chapter (``nb01.toml`` for notebook 01, ``L2.toml`` for lesson L2, ...);
read with :func:`crm_analysis.narrative.catalog`, used through
:meth:`crm_analysis.narrative.Narrator.tell`.
"""

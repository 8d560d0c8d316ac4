"""Reading real DMS exports: :func:`load` and the shared vocabulary of the ingest layer.

- :func:`load` (:mod:`crm_analysis.io.load`) reads flat or three-table exports (CSV,
  Excel, Parquet; Chinese or English headers) into a valid
  :class:`~crm_analysis.schema.Dataset` and returns a :class:`LoadResult` with the
  quarantine, the flags and the accounting report.
- :mod:`crm_analysis.io.normalize` holds the header aliases, the value vocabularies,
  the date / amount parsers, :class:`DataError` and the reason codes :data:`REASONS`.

Example
-------
>>> from crm_analysis.io import REASONS
>>> REASONS["summary_row"][0]
'a totals row of the sheet'
"""

from crm_analysis.io.load import DataWarning, LoadResult, load
from crm_analysis.io.normalize import REASONS, DataError

__all__ = ["REASONS", "DataError", "DataWarning", "LoadResult", "load"]

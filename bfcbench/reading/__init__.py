"""Reading stored results: tables, samples to reach an error, comparisons, reports.

Every reader starts from a :class:`~bfcbench.reading.results.ResultSet`, loaded
by :func:`~bfcbench.reading.results.load` from a result store (SQLite) or from a
file written by :mod:`bfcbench.reading.export` (CSV or Parquet). Rows of forced
re-runs (``superseded = 1``) are left out unless asked for, and rows whose status
is not ``ok`` keep their empty metrics: readers show their status, never a number.
"""

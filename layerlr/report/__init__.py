"""Reports: a results directory turned into figures and a Markdown summary.

``layerlr report RESULTS`` calls :func:`make_report`. Analysis reads the Parquet dataset
(and the Optuna storage for the study's configuration and state); matplotlib is
imported only here.
"""

from __future__ import annotations

from layerlr.report.build import Report, make_report

__all__ = ["Report", "make_report"]

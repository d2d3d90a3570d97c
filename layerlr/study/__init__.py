"""Studies: Optuna searches of schedules across cells, spread by Ray, recorded in Parquet.

The driver (Ray, Optuna, torch) is imported on first use of its names.
"""

from __future__ import annotations

from layerlr._lazy import lazy_names
from layerlr.study.config import StudyConfig, StudyFileError, load_study, parse_study

_LAZY = {"RunSummary": "layerlr.study.records", "StudyChanged": "layerlr.study.resume",
         "run_study": "layerlr.study.driver", "rebuild_results": "layerlr.study.rebuild",
         "StudyLocked": "layerlr.study.lock"}

__all__ = [
    "RunSummary",
    "StudyChanged",
    "StudyConfig",
    "StudyFileError",
    "StudyLocked",
    "load_study",
    "parse_study",
    "rebuild_results",
    "run_study",
]


__getattr__, _ = lazy_names(__name__, _LAZY)  # dir() keeps listing the eager names too

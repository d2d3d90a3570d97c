"""Studies: Optuna searches of schedules across cells, spread by Ray, recorded in Parquet.

The driver (Ray, Optuna, torch) is imported on first use of its names.
"""

from __future__ import annotations

import importlib
from typing import Any

from layerlr.study.config import StudyConfig, StudyFileError, load_study, parse_study

_LAZY = {"RunSummary": "driver", "StudyChanged": "driver", "run_study": "driver",
         "StudyLocked": "lock"}

__all__ = [
    "RunSummary",
    "StudyChanged",
    "StudyConfig",
    "StudyFileError",
    "StudyLocked",
    "load_study",
    "parse_study",
    "run_study",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"layerlr.study.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'layerlr.study' has no attribute {name!r}")

"""Studies: Optuna searches of schedules across cells, spread by Ray, recorded in Parquet."""

from layerlr.study.config import StudyConfig, StudyFileError, load_study, parse_study
from layerlr.study.driver import RunSummary, StudyChanged, StudyLocked, run_study

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

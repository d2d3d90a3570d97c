"""Study files (``studies/*.toml``) validated into typed, plain configuration.

The file's tables are pydantic models (:mod:`.tables`, :mod:`.model_tables`), whose JSON
Schema editors read (:func:`json_schema`); a valid file becomes the frozen records of
:mod:`.records` that the rest of layerlr uses. Every problem is reported at once, one
line each naming the key and the fix (:class:`StudyFileError`). Nothing here imports
Ray, Optuna or torch, or does maths.
"""

from __future__ import annotations

from layerlr.study.config.checks import MAX_CELLS, MAX_GRID_POINTS
from layerlr.study.config.facts import BASELINES, DEFAULT_ALPHA
from layerlr.study.config.fields import NAME
from layerlr.study.config.model_tables import MAX_DEPTH
from layerlr.study.config.problems import StudyFileError
from layerlr.study.config.reading import MAX_FILE_BYTES, load_study, parse_study
from layerlr.study.config.records import (
    Cell,
    ModelSpec,
    ResourceSpec,
    SearchSpec,
    StudyConfig,
    TrainSpec,
)
from layerlr.study.config.schema import json_schema
from layerlr.study.config.tables import (
    DIAGONAL_GRIDS,
    DIAGONAL_STEPS,
    DTYPES,
    MAX_BATCH,
    MAX_SEED,
    MAX_WORKERS,
    MIN_CPUS_PER_WORKER,
    OBJECTIVES,
    PHASES,
    PROTOCOLS,
    RATES,
    SAMPLERS,
)

__all__ = [
    "BASELINES",
    "DEFAULT_ALPHA",
    "DIAGONAL_GRIDS",
    "DIAGONAL_STEPS",
    "DTYPES",
    "MAX_BATCH",
    "MAX_CELLS",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_GRID_POINTS",
    "MAX_SEED",
    "MAX_WORKERS",
    "MIN_CPUS_PER_WORKER",
    "NAME",
    "OBJECTIVES",
    "PHASES",
    "PROTOCOLS",
    "RATES",
    "SAMPLERS",
    "Cell",
    "ModelSpec",
    "ResourceSpec",
    "SearchSpec",
    "StudyConfig",
    "StudyFileError",
    "TrainSpec",
    "json_schema",
    "load_study",
    "parse_study",
]

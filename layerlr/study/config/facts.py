"""What a study file needs to know about the network families and the engine.

Every family fact the study file uses is imported or stated here, once: the families,
their activations, inits, data and targets (SPEC 1-3, 10), the step limit (SPEC 4), the
default family by depth and the searched budget exponents (SPEC 8). Torch-free.
"""

from __future__ import annotations

from layerlr.datasets import DATASETS
from layerlr.setting import (
    ACTIVATIONS,
    DATAS,
    FAMILIES,
    INITS,
    MAX_STEPS,
    TARGETS,
    Setting,
    SettingError,
)

__all__ = [
    "ACTIVATIONS",
    "DATAS",
    "DATASETS",
    "DEFAULT_ALPHA",
    "FAMILIES",
    "INITS",
    "LINEAR_FAMILIES",
    "LINEAR_TARGETS",
    "MAX_STEPS",
    "TARGETS",
    "Setting",
    "SettingError",
    "default_activation",
    "default_family",
]

# Budget exponents alpha with B = scale * h^alpha that bracket the SPEC 8 regimes.
DEFAULT_ALPHA = {"matrix": (1.0, 1.6), "readout": (0.0, 0.8), "mlp": (0.0, 0.8)}
LINEAR_FAMILIES = ("matrix", "readout")  # SPEC 1: no activation; a table without a family
# A [model] table without a family is matrix or readout by depth: either's targets.
LINEAR_TARGETS = tuple(dict.fromkeys(TARGETS["matrix"] + TARGETS["readout"]))


def default_family(depth: int) -> str:
    """The family of a cell whose table names none: matrix at depth 2, else readout."""
    return "matrix" if depth == 2 else "readout"


def default_activation(family: str | None) -> str | None:
    """The activation of a cell whose table lists none: relu for an mlp, else none."""
    return "relu" if family == "mlp" else None

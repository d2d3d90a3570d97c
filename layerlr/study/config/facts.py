"""What a study file needs to know about the network families and the engine.

Every family fact the study file uses is read here from the families' registry
(:mod:`layerlr.families`), once: the families, their activations, inits, data and targets
(SPEC 1-3, 10), the step limit (SPEC 4), the default family by depth and the searched
budget exponents (SPEC 8). Torch-free.
"""

from __future__ import annotations

from layerlr.families import FAMILIES, family
from layerlr.families.mlp.choices import ACTIVATIONS, DATAS
from layerlr.families.mlp.datasets import DATASETS
from layerlr.families.module import LOSSES, OPTIMIZERS
from layerlr.families.rules import PROTOCOLS
from layerlr.setting import INITS, MAX_STEPS, Setting, SettingError

__all__ = [
    "ACTIVATIONS",
    "BASELINES",
    "LOSSES",
    "OPTIMIZERS",
    "STEPS_ANY",
    "DATAS",
    "DATASETS",
    "DEFAULT_ALPHA",
    "FAMILIES",
    "INITS",
    "LINEAR_FAMILIES",
    "LINEAR_TARGETS",
    "MAX_STEPS",
    "PROTOCOLS",
    "TARGETS",
    "Setting",
    "SettingError",
    "default_activation",
    "default_family",
]

TARGETS = {name: family(name).targets for name in FAMILIES}
STEPS_ANY = max(family(name).max_steps for name in FAMILIES)  # the most any family takes
BASELINES = ("single", "decay")  # searched beside a module study's cells (SPEC 13)

# Budget exponents alpha with B = scale * h^alpha that bracket the SPEC 8 regimes.
DEFAULT_ALPHA = {name: family(name).default_alpha for name in FAMILIES}
LINEAR_FAMILIES = ("matrix", "readout")  # SPEC 1: a table without a family is one of them
# A [model] table without a family is matrix or readout by depth: either's targets.
LINEAR_TARGETS = tuple(dict.fromkeys(TARGETS["matrix"] + TARGETS["readout"]))


def default_family(depth: int) -> str:
    """The family of a cell whose table names none: matrix at depth 2, else readout."""
    return "matrix" if depth == 2 else "readout"


def default_activation(name: str | None) -> str | None:
    """The activation of a cell whose table lists none (the mlp family's relu)."""
    return None if name is None else family(name).default_activation

"""The experimental setting: which network, which data, which target (SPEC sections 1-3,
10, 13).

A :class:`Setting` is a plain frozen value. It travels to Ray workers, into Optuna user
attributes and into Parquet columns, so it holds only strings and numbers. What each
field may be, and what it defaults to, is its family's to say
(:meth:`~layerlr.families.protocol.Family.defaults`, ``problems``); torch-free.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from layerlr.families import FAMILIES, family
from layerlr.families.rules import INITS, SYNTHETIC

MAX_STEPS = 100  # GD steps a schedule may have (every family)
DIVERGENCE = 1e6  # a population loss above this counts as diverged (losses start near 1);
# a study tells a diverged trial this value (finite, so every sampler copes)

__all__ = ["DIVERGENCE", "FAMILIES", "INITS", "MAX_STEPS", "SYNTHETIC", "Setting", "SettingError"]


class SettingError(ValueError):
    """A setting that cannot be built. ``problems`` holds one line per wrong field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid setting:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Setting:
    """One cell of a study: a network family at one depth and width, with its data.

    ``d`` and ``n`` default to the width, as in the paper (SPEC section 9).
    """

    family: str = "matrix"  # "matrix" (depth 2, SPEC 1), "readout" (depth >= 3), "mlp", "module"
    depth: int = 2  # matrices in the product, the readout vector a included
    width: int = 1000  # h
    d: int | None = None  # input dimension; None means h (a real data set's own d)
    n: int | None = None  # training samples; None means h (real data: rows - test_size)
    init: str | None = None  # SPEC section 3; None: orthogonal (module: its own init)
    data: str = "whitened"  # SPEC section 2; "digits" | "diabetes" for the mlp family;
    # module family: "mnist1d" | "digits" | "modular-addition" | "FILE.py:load" (SPEC 13)
    target: str | None = None  # matrix: orthogonal | gaussian; readout: gaussian | sphere;
    # mlp: gaussian | sphere (a linear teacher beta) | teacher (a network); None picks the
    # published choice: orthogonal (matrix), gaussian (readout, mlp); real data: no target
    noise: float = 0.0  # label-noise variance rho
    test_size: int | None = None  # m, inputs of the empirical test set; None means 500
    # (real data: held-out rows, a quarter of the data set)
    activation: str | None = None  # mlp family only: relu | tanh | gelu | linear (SPEC 10)
    # the module family only (SPEC 13):
    module: str | None = None  # "FILE.py:build" (absolute path) or "package.module:build"
    loss: str | None = None  # "mse" | "cross_entropy" (built-in data: cross_entropy)
    groups: tuple[tuple[str, str], ...] | None = None  # (name, regex) pairs, first match
    # wins; None: one group per direct child module that holds parameters
    optimizer: str | None = None  # "sgd" (default) | "adam"
    batch_size: int | None = None  # rows of each step's batch; None: every training row

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise SettingError([f"family: {self.family!r} is not one of {list(FAMILIES)}"])
        for name, value in family(self.family).defaults(self).items():
            object.__setattr__(self, name, value)
        problems = self.problems()
        if problems:
            raise SettingError(problems)

    @property
    def real(self) -> bool:
        """Whether the data are a real data set (SPEC 10) rather than drawn."""
        return self.data not in SYNTHETIC

    @property
    def layers(self) -> int:
        """K, the number of trained matrices (SPEC section 1)."""
        return family(self.family).layers(self)

    @property
    def outputs(self) -> int:
        """Columns of the end-to-end map: h for matrix, 1 for readout and mlp."""
        return family(self.family).outputs(self)

    def problems(self) -> list[str]:
        """Every violated constraint, one message per field, naming the fix."""
        return family(self.family).problems(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

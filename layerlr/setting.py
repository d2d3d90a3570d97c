"""The experimental setting: which network, which data, which target (SPEC sections 1-3).

A :class:`Setting` is a plain frozen value. It travels to Ray workers, into Optuna user
attributes and into Parquet columns, so it holds only strings and numbers.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

FAMILIES = ("matrix", "readout")
INITS = ("orthogonal", "gaussian")
DATAS = ("whitened", "gaussian")
TARGETS = {"matrix": ("orthogonal", "gaussian"), "readout": ("gaussian", "sphere")}


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

    family: str = "matrix"  # "matrix" (depth 2, SPEC 1) or "readout" (depth >= 3)
    depth: int = 2  # matrices in the product, the readout vector a included
    width: int = 1000  # h
    d: int | None = None  # input dimension; None means h
    n: int | None = None  # training samples; None means h
    init: str = "orthogonal"  # SPEC section 3
    data: str = "whitened"  # SPEC section 2
    target: str | None = None  # matrix: orthogonal | gaussian; readout: gaussian | sphere;
    # None picks the published choice: orthogonal (matrix), gaussian (readout)
    noise: float = 0.0  # label-noise variance rho
    test_size: int = 500  # m, inputs of the empirical test set

    def __post_init__(self) -> None:
        object.__setattr__(self, "d", self.width if self.d is None else self.d)
        object.__setattr__(self, "n", self.width if self.n is None else self.n)
        if self.target is None and self.family in TARGETS:
            object.__setattr__(self, "target", TARGETS[self.family][0])
        problems = self.problems()
        if problems:
            raise SettingError(problems)

    @property
    def layers(self) -> int:
        """K, the number of trained matrices (SPEC section 1)."""
        return self.depth - 1 if self.family == "readout" else 2

    @property
    def outputs(self) -> int:
        """Columns of the end-to-end map: h for matrix, 1 for readout."""
        return self.width if self.family == "matrix" else 1

    def problems(self) -> list[str]:
        """Every violated constraint, one message per field, naming the fix."""
        out: list[str] = []
        if self.family not in FAMILIES:
            return [f"family: {self.family!r} is not one of {list(FAMILIES)}"]
        for name in ("depth", "width", "d", "n", "test_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                out.append(f"{name}: must be a positive integer, got {value!r}")
        if out:
            return out
        if self.family == "matrix" and self.depth != 2:
            out.append(f"depth: the matrix family has depth 2 (W1 W2), got {self.depth}; "
                       "use family = 'readout' for depth >= 3")
        if self.family == "readout" and self.depth < 3:
            out.append(f"depth: the readout family needs depth >= 3, got {self.depth}; "
                       "use family = 'matrix' for depth 2")
        out += _choice("init", self.init, INITS) + _choice("data", self.data, DATAS)
        out += _choice("target", self.target, TARGETS[self.family],
                       f" for the {self.family} family")
        if self.init == "orthogonal" and self.d < self.width:
            out.append(f"d: orthogonal init needs d >= width (W1 has orthonormal columns), "
                       f"got d={self.d} < width={self.width}; raise d or use init = 'gaussian'")
        if self.data == "whitened" and self.n < self.d:
            out.append(f"n: whitened data needs n >= d (X = sqrt(n) Q_X), got n={self.n} < "
                       f"d={self.d}; raise n or use data = 'gaussian'")
        if self.family == "matrix" and self.target == "orthogonal" and self.d < self.width:
            out.append(f"target: an orthogonal target needs d >= width, got d={self.d}; "
                       "use target = 'gaussian'")
        if not isinstance(self.noise, (int, float)) or not math.isfinite(self.noise) \
                or self.noise < 0:
            out.append(f"noise: the label-noise variance must be a finite number >= 0, "
                       f"got {self.noise!r}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _choice(name: str, value: object, allowed: tuple[str, ...], where: str = "") -> list[str]:
    if value in allowed:
        return []
    return [f"{name}: {value!r} is not allowed{where}; choose one of {list(allowed)}"]

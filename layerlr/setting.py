"""The experimental setting: which network, which data, which target (SPEC sections 1-3, 10).

A :class:`Setting` is a plain frozen value. It travels to Ray workers, into Optuna user
attributes and into Parquet columns, so it holds only strings and numbers.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from layerlr.datasets import DATASETS

FAMILIES = ("matrix", "readout", "mlp")
MAX_STEPS = 100  # GD steps a schedule may have (every family)
ACTIVATIONS = ("relu", "tanh", "gelu", "linear")  # the mlp family's sigma (SPEC 10)
INITS = ("orthogonal", "gaussian")
SYNTHETIC = ("whitened", "gaussian")  # drawn inputs (SPEC 2)
DATAS = SYNTHETIC + tuple(DATASETS)  # and the bundled real data sets (mlp family only)
TARGETS = {"matrix": ("orthogonal", "gaussian"), "readout": ("gaussian", "sphere"),
           "mlp": ("gaussian", "sphere", "teacher")}


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

    family: str = "matrix"  # "matrix" (depth 2, SPEC 1), "readout" (depth >= 3) or "mlp"
    depth: int = 2  # matrices in the product, the readout vector a included
    width: int = 1000  # h
    d: int | None = None  # input dimension; None means h (a real data set's own d)
    n: int | None = None  # training samples; None means h (real data: rows - test_size)
    init: str = "orthogonal"  # SPEC section 3
    data: str = "whitened"  # SPEC section 2; "digits" | "diabetes" for the mlp family
    target: str | None = None  # matrix: orthogonal | gaussian; readout: gaussian | sphere;
    # mlp: gaussian | sphere (a linear teacher beta) | teacher (a network); None picks the
    # published choice: orthogonal (matrix), gaussian (readout, mlp); real data: no target
    noise: float = 0.0  # label-noise variance rho
    test_size: int | None = None  # m, inputs of the empirical test set; None means 500
    # (real data: held-out rows, a quarter of the data set)
    activation: str | None = None  # mlp family only: relu | tanh | gelu | linear (SPEC 10)

    def __post_init__(self) -> None:
        real = DATASETS.get(self.data) if self.family == "mlp" else None
        if real is not None:
            test = real.test_size if self.test_size is None else self.test_size
            object.__setattr__(self, "test_size", test)
            if self.d is None:
                object.__setattr__(self, "d", real.d)
            if self.n is None and isinstance(test, int):
                object.__setattr__(self, "n", real.rows - test)
        object.__setattr__(self, "d", self.width if self.d is None else self.d)
        object.__setattr__(self, "n", self.width if self.n is None else self.n)
        object.__setattr__(self, "test_size", 500 if self.test_size is None else self.test_size)
        if self.target is None and self.family in TARGETS and real is None:
            object.__setattr__(self, "target", TARGETS[self.family][0])
        if self.activation is None and self.family == "mlp":
            object.__setattr__(self, "activation", "relu")
        problems = self.problems()
        if problems:
            raise SettingError(problems)

    @property
    def real(self) -> bool:
        """Whether the data are a bundled real data set (SPEC 10) rather than drawn."""
        return self.data in DATASETS

    @property
    def layers(self) -> int:
        """K, the number of trained matrices (SPEC section 1)."""
        return 2 if self.family == "matrix" else self.depth - 1

    @property
    def outputs(self) -> int:
        """Columns of the end-to-end map: h for matrix, 1 for readout and mlp."""
        return self.width if self.family == "matrix" else 1

    def problems(self) -> list[str]:
        """Every violated constraint, one message per field, naming the fix."""
        out: list[str] = []
        if self.family not in FAMILIES:
            return [f"family: {self.family!r} is not one of {list(FAMILIES)}"]
        real = DATASETS.get(self.data) if self.family == "mlp" else None
        if real and isinstance(self.test_size, int) and not 1 <= self.test_size <= real.rows - 2:
            return [f"test_size: the {self.data} data set has {real.rows} rows; hold out "
                    f"between 1 and {real.rows - 2}, got {self.test_size}"]
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
        if self.family == "mlp" and self.depth < 2:
            out.append(f"depth: the mlp family needs depth >= 2 (one trained layer and a), "
                       f"got {self.depth}")
        out += self._activation_problems()
        out += _choice("init", self.init, INITS)
        if self.family != "mlp":
            out += _choice("data", self.data, SYNTHETIC, f" for the {self.family} family "
                           "(real data sets need family = 'mlp')")
        else:
            out += _choice("data", self.data, DATAS)
        if not isinstance(self.noise, (int, float)) or not math.isfinite(self.noise) \
                or self.noise < 0:
            out.append(f"noise: the label-noise variance must be a finite number >= 0, "
                       f"got {self.noise!r}")
        if self.family == "mlp" and self.real:
            return out + self._real_data_problems()
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
        return out

    def _activation_problems(self) -> list[str]:
        if self.family != "mlp":
            if self.activation is None:
                return []
            return [f"activation: the {self.family} family is linear and takes no activation "
                    f"(got {self.activation!r}); remove it, or use family = 'mlp'"]
        return _choice("activation", self.activation, ACTIVATIONS)

    def _real_data_problems(self) -> list[str]:
        """A bundled data set fixes d and n and brings its own labels (SPEC 10)."""
        real, name, out = DATASETS[self.data], self.data, []
        if self.target is not None:
            out.append(f"target: the {name} data set has its own labels; remove target "
                       f"(got {self.target!r}); a teacher or beta needs data = 'whitened' "
                       "or 'gaussian'")
        if self.d != real.d:
            out.append(f"d: the {name} data set has d = {real.d} inputs, got d={self.d}; "
                       "remove d")
        elif self.n != real.rows - self.test_size:
            out.append(f"n: the {name} data set trains on the {real.rows - self.test_size} "
                       f"rows left after the test split, got n={self.n}; remove n (the "
                       "split is set by test_size)")
        if self.init == "orthogonal" and self.d < self.width:
            out.append(f"init: orthogonal init needs d >= width (W1 has orthonormal columns), "
                       f"but the {name} data set has d = {real.d} < width={self.width}; "
                       "use init = 'gaussian'")
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _choice(name: str, value: object, allowed: tuple[str, ...], where: str = "") -> list[str]:
    if value in allowed:
        return []
    return [f"{name}: {value!r} is not allowed{where}; choose one of {list(allowed)}"]

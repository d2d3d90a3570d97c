"""The mlp family: the readout network with an activation after each trained layer
(SPEC 10), on drawn data or a bundled real data set. Torch-free; :mod:`.draws` and
:mod:`.dynamics` are the engine, :mod:`.datasets` the real data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from layerlr.families import rules
from layerlr.families.mlp.choices import ACTIVATIONS, DATAS, POPULATION, TARGETS
from layerlr.families.mlp.datasets import DATASETS
from layerlr.families.protocol import Family

if TYPE_CHECKING:
    import torch

    from layerlr.families.mlp.draws import MlpDraw
    from layerlr.families.mlp.dynamics import MlpDynamics
    from layerlr.setting import Setting

__all__ = ["ACTIVATIONS", "DATAS", "FAMILY", "POPULATION", "TARGETS", "MlpFamily"]


class MlpFamily(Family):
    name = "mlp"
    targets = TARGETS
    default_activation = ACTIVATIONS[0]
    default_alpha = (0.0, 0.8)
    default_exponent = (-1.0, 1.0)

    def defaults(self, setting: Setting) -> dict[str, Any]:
        """A real data set fixes d, and n from its rows less the held-out ones (a
        quarter by default), and has no target; drawn data take the readout family's."""
        s, real = setting, DATASETS.get(setting.data)
        activation = self.default_activation if s.activation is None else s.activation
        if real is None:
            return {**rules.drawn_defaults(s, TARGETS), "activation": activation}
        test = real.test_size if s.test_size is None else s.test_size
        n = real.rows - test if isinstance(test, int) else s.width
        return {"test_size": test, "d": real.d if s.d is None else s.d,
                "init": rules.INITS[0] if s.init is None else s.init,
                "n": n if s.n is None else s.n, "activation": activation}

    def problems(self, setting: Setting) -> list[str]:
        s, real = setting, DATASETS.get(setting.data)
        if real and isinstance(s.test_size, int) and not 1 <= s.test_size <= real.rows - 2:
            return [(f"test_size: the {s.data} data set has {real.rows} rows; hold out "
                     f"between 1 and {real.rows - 2}, got {s.test_size}")]
        out = rules.sizes(s)
        if out:
            return out
        if s.depth < 2:
            out.append(f"depth: the mlp family needs depth >= 2 (one trained layer and a), "
                       f"got {s.depth}")
        out += rules.choice("activation", s.activation, ACTIVATIONS) + rules.module_only(s)
        out += rules.choice("init", s.init, rules.INITS)
        out += rules.choice("data", s.data, DATAS)
        out += rules.noise(s)
        if real is not None:
            return out + _real_data_problems(s)
        out += rules.choice("target", s.target, TARGETS, " for the mlp family")
        return out + rules.drawn_data(s)

    def layers(self, setting: Setting) -> int:
        return setting.depth - 1

    def cell_prefix(self, setting: Setting) -> list[str]:
        """Its activation and data, and the target of drawn data (``relu-digits``,
        ``tanh-whitened-sphere``)."""
        s = setting
        return [s.activation, s.data] + ([] if s.data in DATASETS else [s.target])

    def threaded(self, setting: Setting) -> bool:
        """Its passes over the n training rows are large enough at any width."""
        return True

    def footprint(self, setting: Setting, seeds: int, steps: int,
                  itemsize: int) -> tuple[int, int]:
        """Shared: the draws (weights, inputs and labels of the training, test and
        population sets) and, for GD and for the surrogate, the gradients at
        initialisation and the products x W1, x G1 of every input set. Per (seed,
        schedule): the weights three times (the state, the next state, the gradients),
        two passes on the n training rows (layer inputs and slopes, the old and the new),
        back-propagation temporaries, and the test and population passes layer by layer.
        ``steps`` does not matter: the state has the same size at every step. An upper
        bound: measured peaks grow by 0.6 to 0.7 of the per-schedule figure (h = 256,
        tanh, digits and whitened data)."""
        s = setting
        h, d, n, m, k = s.width, s.d, s.n, s.test_size, self.layers(s)
        weights = d * h + (k - 1) * h * h
        linear = s.activation == "linear" and s.target != "teacher"
        pop = 0 if s.data in DATASETS or linear else POPULATION
        rows = n + m + pop
        teacher = weights + h if s.target == "teacher" else 0
        shared = weights + h + teacher + rows * (d + 1) + d + 2 * (weights + 2 * rows * h)
        per_schedule = 3 * weights + 2 * (2 * k * n * h) + 2 * n * h + 2 * m * h + 2 * pop * h
        return shared * seeds * itemsize, per_schedule * seeds * itemsize

    def absent_reason(self, setting: Setting, steps: int) -> str | None:
        return "there is no exact theory for the mlp family (SPEC 10)"

    def draw(self, setting: Setting, seeds: list[int], protocol: str,
             device: str | torch.device, dtype: torch.dtype) -> MlpDraw:
        from layerlr.families.mlp.draws import draw

        return draw(setting, seeds, protocol, device, dtype)

    def dynamics(self) -> MlpDynamics:
        from layerlr.families.mlp.dynamics import MlpDynamics

        return MlpDynamics()


def _real_data_problems(s: Setting) -> list[str]:
    """A bundled data set fixes d and n and brings its own labels (SPEC 10)."""
    real, name, out = DATASETS[s.data], s.data, []
    if s.target is not None:
        out.append(f"target: the {name} data set has its own labels; remove target "
                   f"(got {s.target!r}); a teacher or beta needs data = 'whitened' "
                   "or 'gaussian'")
    if s.d != real.d:
        out.append(f"d: the {name} data set has d = {real.d} inputs, got d={s.d}; "
                   "remove d")
    elif s.n != real.rows - s.test_size:
        out.append(f"n: the {name} data set trains on the {real.rows - s.test_size} "
                   f"rows left after the test split, got n={s.n}; remove n (the "
                   "split is set by test_size)")
    if s.init == "orthogonal" and s.d < s.width:
        out.append(f"init: orthogonal init needs d >= width (W1 has orthonormal columns), "
                   f"but the {name} data set has d = {real.d} < width={s.width}; "
                   "use init = 'gaussian'")
    return out


FAMILY = MlpFamily()

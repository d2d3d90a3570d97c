"""Draws and labels of the mlp family (SPEC 9, 10): the readout family's, then more.

Synthetic inputs: exactly the readout family's draws of the same depth
(:func:`layerlr.families.linear.draws.linear_draws`), then, for ``target = "teacher"``, a
teacher network's W's and a, then the population inputs (:data:`POPULATION` of them)
where the population loss needs them. Real data (:mod:`.datasets`): the split's
row order, the W's, xi, a. Unlike the linear families' draws
(:class:`~layerlr.families.linear.draws.Draw`), the data are kept: no sufficient
statistics exist for a nonlinear network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from layerlr.families.linear.draws import linear_draws
from layerlr.families.mlp import datasets
from layerlr.families.mlp.choices import POPULATION
from layerlr.families.mlp.dynamics import linear_map, output
from layerlr.families.random import RandomSource

if TYPE_CHECKING:
    from layerlr.setting import Setting


@dataclass
class MlpDraw:
    """The draws and data of S seeds, stacked along a leading seed axis.

    Labels are noise-free on the test and population inputs, noisy (rho) on the training
    rows; real data sets bring their own (standardised) labels.
    """

    weights: list[Tensor]  # W_l at init: (S, d, h), then (S, h, h)
    readout: Tensor  # a: (S, h)
    x: Tensor  # (S, n, d) training inputs
    y: Tensor  # (S, n) training labels
    x_test: Tensor  # (S, m, d) test inputs (real data: the held-out rows)
    y_test: Tensor  # (S, m)
    x_pop: Tensor | None  # (S, P, d) population inputs; None where the loss is exact
    y_pop: Tensor | None  # (S, P)
    beta: Tensor | None  # (S, d) the target's linear map, where it has one
    activation: str
    real: bool  # a real data set: the population loss is the held-out loss

    @property
    def seeds(self) -> int:
        return self.x.shape[0]

    @property
    def device(self) -> torch.device:
        return self.x.device

    @property
    def itemsize(self) -> int:
        return self.x.element_size()

    @property
    def exact_population(self) -> bool:
        return not self.real and self.activation == "linear" and self.beta is not None

def raw_mlp(setting: Setting, seed: int, protocol: str, device: str | torch.device,
            dtype: torch.dtype) -> dict[str, object]:
    """The raw draws of one seed, in order (SPEC 9, 10); no labels computed yet.

    Synthetic data: the readout family's draws of this depth (x_test, W's, X, xi, a,
    beta), then a teacher's W's and a, then the population inputs. Real data: the
    row order of the split, W's, xi, a.
    """
    s, rng = setting, RandomSource(seed, protocol, device, dtype)
    if s.real:
        order = rng.permutation(datasets.DATASETS[s.data].rows).cpu()
        weights = rng.weights(s)
        noise = rng.normal(math.sqrt(s.noise), s.n, 1)
        readout = rng.normal(1 / math.sqrt(s.width), s.width, 1)[:, 0]
        part = datasets.split(s.data, order, s.test_size)
        return {"order": order, "weights": weights, "readout": readout, "noise": noise,
                "x": part.x, "labels": part.y, "x_test": part.x_test,
                "test_labels": part.y_test}
    raw = linear_draws(s, rng)
    if s.target == "teacher":
        raw["teacher"] = rng.weights(s)
        raw["teacher_readout"] = rng.normal(1 / math.sqrt(s.width), s.width, 1)[:, 0]
    if s.target == "teacher" or s.activation != "linear":
        raw["x_pop"] = rng.randn(POPULATION, s.d)
    return raw

def labelled(setting: Setting, raw: dict, device: str | torch.device,
             dtype: torch.dtype) -> dict[str, Tensor | None]:
    """One seed's tensors in ``dtype`` on ``device``, with the labels of SPEC 10.

    A teacher network's outputs are divided by their root mean square over the
    population inputs, so that its labels have mean square 1, like |beta|^2 ~ 1.
    """
    def to(t: Tensor | None) -> Tensor | None:
        return None if t is None else t.to(device=device, dtype=dtype)

    out = {"weights": [to(w) for w in raw["weights"]], "readout": to(raw["readout"]),
           "x": to(raw["x"]), "x_test": to(raw["x_test"]), "x_pop": to(raw.get("x_pop")),
           "beta": None}
    noise = to(raw["noise"])[:, 0]
    if setting.real:
        out.update(y=to(raw["labels"]) + noise, y_test=to(raw["test_labels"]), y_pop=None)
        return out
    if setting.target == "teacher":
        teacher = [to(w) for w in raw["teacher"]]
        a = to(raw["teacher_readout"])

        def target(x: Tensor) -> Tensor:
            return output(x, teacher, a, setting.activation)

        scale = target(out["x_pop"]).square().mean().rsqrt()
        if setting.activation == "linear":
            out["beta"] = scale * linear_map(teacher, a)
    else:
        out["beta"] = to(raw["beta"])[:, 0]
        scale = 1.0

        def target(x: Tensor) -> Tensor:
            return x @ out["beta"]

    labels = {k: None if out[f"x{k}"] is None else scale * target(out[f"x{k}"])
              for k in ("", "_test", "_pop")}
    out.update(y=labels[""] + noise, y_test=labels["_test"], y_pop=labels["_pop"])
    return out

def draw(setting: Setting, seeds: list[int], protocol: str = "native",
             device: str | torch.device = "cpu", dtype: torch.dtype = torch.float64
             ) -> MlpDraw:
    """Draw every seed of ``seeds`` and stack them (see :class:`MlpDraw` for shapes)."""
    per_seed = [labelled(setting, raw_mlp(setting, seed, protocol, device, dtype), device,
                         dtype) for seed in seeds]

    def stack(key: str) -> Tensor | None:
        return None if per_seed[0][key] is None else torch.stack([p[key] for p in per_seed])

    weights = [torch.stack([p["weights"][i] for p in per_seed])
               for i in range(setting.layers)]
    return MlpDraw(weights, stack("readout"), stack("x"), stack("y"), stack("x_test"),
                   stack("y_test"), stack("x_pop"), stack("y_pop"), stack("beta"),
                   setting.activation, setting.real)

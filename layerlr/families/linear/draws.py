"""Draws of the linear families: initial weights, data, target, test set (SPEC 2, 3, 9).

The training data enter the dynamics only through ``sigma = X^T X / n`` and
``c = X^T y / n`` (SPEC section 4), and the train loss also through a least-squares fit F
of the labels (``fit``, ``fit_residual``, ``fit_loss``, see
:func:`layerlr.families.linear.forward.train_loss`); they are computed here, once per
seed, and the n x d matrix X is dropped. Whitened data have ``X^T X = n I`` by definition
(SPEC 2): in the matrix family, where every product with Sigma is h x h x h, ``sigma``
is then the identity exactly and ``Draw.sigma_identity`` says so (the readout family
computes Sigma: its products with it are cheap, and so it equals the mlp family's linear
case draw for draw). The test set is kept as a root ``Z`` with
``Z^T Z = x_test^T x_test / m``, so the empirical test loss is ``|Z (M - beta)|^2``.

Both protocols of :mod:`layerlr.families.random`; the mlp family (SPEC 10) continues
these draws from the same :class:`~layerlr.families.random.RandomSource`
(:func:`linear_draws`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from layerlr.families.random import RandomSource

if TYPE_CHECKING:
    from layerlr.setting import Setting


@dataclass
class Draw:
    """The draws of S seeds, stacked along a leading seed axis.

    ``o`` is the number of outputs: h for the matrix family, 1 for readout.
    """

    weights: list[Tensor]  # W_l at init: (S, d, h), then (S, h, h) for l >= 2
    readout: Tensor | None  # a: (S, h), readout family only
    beta: Tensor  # (S, d, o) teacher
    sigma: Tensor  # (S, d, d) = X^T X / n
    c: Tensor  # (S, d, o) = X^T y / n
    fit: Tensor  # (S, d, o) F, a least-squares fit of y on X: beta for noise-free labels
    fit_residual: Tensor  # (S, d, o) = Sigma F - c, zero up to rounding
    fit_loss: Tensor  # (S,) = |X F - y|_F^2 / n, the least train loss times 2
    test_root: Tensor  # (S, r, d), r = min(m, d): Z^T Z = x_test^T x_test / m
    sigma_identity: bool = False  # matrix family, whitened data: sigma = I exactly (SPEC 2)
    orthogonal_init: bool = False  # every W_l has orthonormal columns (SPEC 3)
    identity_init: bool = False  # every W_l is I: a draw in its init's frame (init_frame)

    @property
    def seeds(self) -> int:
        return self.beta.shape[0]

    @property
    def device(self) -> torch.device:
        return self.beta.device

    @property
    def itemsize(self) -> int:
        return self.beta.element_size()


def draw(setting: Setting, seeds: list[int], protocol: str = "native",
         device: str | torch.device = "cpu", dtype: torch.dtype = torch.float64) -> Draw:
    """Draw every seed of ``seeds`` and stack them (see :class:`Draw` for shapes)."""
    return from_raw([raw_draws(setting, seed, protocol, device, dtype) for seed in seeds],
                    device, dtype)


def from_raw(raws: list[dict], device: str | torch.device = "cpu",
             dtype: torch.dtype = torch.float64) -> Draw:
    """Sufficient statistics of raw draws (one dict per seed, see :func:`raw_draws`)."""
    per_seed = [_statistics(raw, device, dtype) for raw in raws]
    fields = per_seed[0].keys()
    stacked = {k: None if per_seed[0][k] is None else torch.stack([p[k] for p in per_seed])
               for k in fields if k not in ("weights", "sigma_identity", "orthogonal_init")}
    weights = [torch.stack([p["weights"][i] for p in per_seed])
               for i in range(len(per_seed[0]["weights"]))]
    return Draw(weights=weights, sigma_identity=per_seed[0]["sigma_identity"],
                orthogonal_init=per_seed[0]["orthogonal_init"], **stacked)


def raw_draws(setting: Setting, seed: int, protocol: str, device: str | torch.device,
              dtype: torch.dtype) -> dict[str, object]:
    """The raw draws of one seed in SPEC section 9 order: x_test, W's, X, target, noise."""
    return linear_draws(setting, RandomSource(seed, protocol, device, dtype))


def linear_draws(setting: Setting, rng: RandomSource) -> dict[str, object]:
    """SPEC 9's draws of the matrix and readout families from ``rng``, in order.

    Matrix orthogonal target: Q_beta is drawn before xi; a Gaussian target after xi;
    readout (and mlp, SPEC 10): xi, then a, then beta.
    """
    s = setting
    h, d, n, m = s.width, s.d, s.n, s.test_size
    x_test = rng.randn(m, d)
    weights = rng.weights(s)
    x = math.sqrt(n) * rng.orth(n, d) if s.data == "whitened" else rng.randn(n, d)
    readout = None
    if s.family == "matrix":
        beta = rng.orth(d, h) / math.sqrt(d) if s.target == "orthogonal" else None
        noise = rng.normal(math.sqrt(s.noise), n, h)
        if beta is None:
            beta = rng.normal(1 / d, d, h)
    else:
        noise = rng.normal(math.sqrt(s.noise), n, 1)
        readout = rng.normal(1 / math.sqrt(h), h, 1)
        beta = rng.normal(1 / math.sqrt(h), d, 1)
        if s.target == "sphere":
            readout, beta = readout / readout.norm(), beta / beta.norm()
        readout = readout[:, 0]
    return {"x_test": x_test, "weights": weights, "x": x, "noise": noise,
            "readout": readout, "beta": beta,
            "sigma_identity": s.data == "whitened" and s.family == "matrix",
            "orthogonal_init": s.init == "orthogonal"}


def _statistics(raw: dict, device: str | torch.device, dtype: torch.dtype) -> dict:
    def to(t: Tensor | None) -> Tensor | None:
        return None if t is None else t.to(device=device, dtype=dtype)

    x, beta, x_test = to(raw["x"]), to(raw["beta"]), to(raw["x_test"])
    n, m = x.shape[0], x_test.shape[0]
    identity = bool(raw.get("sigma_identity", False))
    if identity:
        sigma, c, fit_loss = _whitened(x, beta, to(raw["noise"]))
        fit, fit_residual = c, torch.zeros_like(c)
    else:
        x_beta = x @ beta
        y = x_beta + to(raw["noise"])
        sigma, c = x.T @ x / n, x.T @ y / n
        fit, fit_residual, fit_loss = _fit(x, beta, x_beta, y)
    return {
        "weights": [to(w) for w in raw["weights"]],
        "readout": to(raw["readout"]),
        "beta": beta,
        "sigma": sigma,
        "c": c,
        "fit": fit,
        "fit_residual": fit_residual,
        "fit_loss": fit_loss,
        "test_root": _test_root(x_test, m),
        "sigma_identity": identity,
        "orthogonal_init": bool(raw.get("orthogonal_init", False)),
    }


def _whitened(x: Tensor, beta: Tensor, noise: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Sigma, c and |X c - y|^2 / n for y = X beta + xi when X^T X = n I (SPEC 2).

    Then Sigma = I, c = beta + X^T xi / n is the least-squares fit of y (so F = c and
    Sigma F - c = 0), and |X c - y|^2 / n = |xi|^2 / n - |X^T xi / n|^2 (the part of
    the noise outside X's columns; zero when n = d, up to rounding, set to >= 0).
    Noise-free labels need no product at all: c = beta.
    """
    n, d = x.shape
    sigma = torch.eye(d, dtype=x.dtype, device=x.device)
    if not noise.any():
        return sigma, beta.clone(), x.new_zeros(())
    seen = x.T @ noise / n  # X^T xi / n, (d, o)
    outside = (noise * noise).sum() / n - (seen * seen).sum()
    return sigma, beta + seen, outside.clamp_min(0.0)


def _fit(x: Tensor, beta: Tensor, x_beta: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """A least-squares fit F of ``y`` (n, o) on ``x`` (n, d), Sigma F - c and
    |X F - y|^2 / n, in ``x``'s dtype and device. ``x_beta`` is X beta, from which y was made.

    F is beta when it fits the labels exactly (noise-free labels: then the other two are
    zero), else beta + X^+ (y - X beta), solved in float64 on the CPU (any rank of X).
    """
    n, miss = x.shape[0], x_beta - y  # (n, o)
    if not miss.any():
        return beta, torch.zeros_like(beta), x.new_zeros(())
    x64, y64 = x.double().cpu(), y.double().cpu()
    fit = beta.double().cpu() + torch.linalg.lstsq(x64, y64 - x_beta.double().cpu()).solution
    fit = fit.to(beta)  # rounded as the engine will use it; the rest is of this F
    miss = x64 @ fit.double().cpu() - y64
    return fit, (x64.T @ miss / n).to(x), ((miss * miss).sum() / n).to(x)


def _test_root(x_test: Tensor, m: int) -> Tensor:
    """(r, d) with r = min(m, d) and root^T root = x_test^T x_test / m."""
    if m <= x_test.shape[1]:
        return x_test / math.sqrt(m)
    return torch.linalg.cholesky(x_test.T @ x_test / m).mT

"""The mlp family: the readout network with an activation after each trained layer (SPEC 10).

f(x) = h^{-1/2} z_Kᵀ a with z_0 = x, z_l = sigma(z_{l-1}ᵀ W_l), l = 1 ... K = L - 1, a fixed.
With sigma = identity it is the readout family. No Sigma/c shortcut exists: every step
takes the forward pass on the n training rows and back-propagates through it, O(n h^2)
per layer, for every (seed, schedule) pair at once.

Tensors carry the leading axes ``(S, B)`` (seeds, schedules) as in
:mod:`layerlr.dynamics`; a state shared by every schedule of a seed (the initial one) has
B = 1 and broadcasts, so the step-1 gradient is computed once per seed.

The draws and labels are in :mod:`.draws`. Losses (SPEC 10): train
(1/2n)|f(X) - y|^2; empirical, the mean of (f(x) - label)^2 over the m test inputs;
population, over x ~ N(0, I_d) the exact |u - beta|^2 when the network is linear and its
target has a linear map (u = W1...W_K a / sqrt(h)), else the mean over :data:`POPULATION`
further inputs drawn per seed; for a real data set both test losses are the loss on the
held-out rows. The surrogate is GD on the linear loss -(1/n) sum_i y_i f(x_i) (SPEC 10;
for sigma = identity, SPEC 5's).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from layerlr.families.protocol import Dynamics

if TYPE_CHECKING:
    from layerlr.families.mlp.draws import MlpDraw


# sigma(p) and, when asked, sigma'(p), for a fresh pre-activation p that they may overwrite.


def relu(p: Tensor, slope: bool) -> tuple[Tensor, Tensor | None]:
    z = p.clamp_min_(0)
    return z, z.sign() if slope else None  # 1 where p > 0, else 0 (relu'(0) = 0, as autograd)


def tanh(p: Tensor, slope: bool) -> tuple[Tensor, Tensor | None]:
    z = p.tanh_()
    return z, (1 - z * z) if slope else None


def gelu(p: Tensor, slope: bool) -> tuple[Tensor, Tensor | None]:
    """The exact (erf) GELU, x Phi(x); its slope Phi(x) + x phi(x)."""
    cdf = 0.5 * (1 + torch.erf(p / math.sqrt(2)))
    grad = cdf + p * torch.exp(-0.5 * p * p) / math.sqrt(2 * math.pi) if slope else None
    return p.mul_(cdf), grad


def linear(p: Tensor, slope: bool) -> tuple[Tensor, Tensor | None]:
    return p, None  # slope 1: nothing to multiply by


ACTIVATIONS: dict[str, Callable[[Tensor, bool], tuple[Tensor, Tensor | None]]] = {
    "relu": relu, "tanh": tanh, "gelu": gelu, "linear": linear}

def output(x: Tensor, weights: list[Tensor], readout: Tensor, activation: str) -> Tensor:
    """f(x) of one network (no batch axes): x (N, d) -> (N,)."""
    z = x
    for w in weights:
        z = ACTIVATIONS[activation](z @ w, False)[0]
    return z @ readout / math.sqrt(readout.shape[0])


def linear_map(weights: list[Tensor], readout: Tensor) -> Tensor:
    """u = W1 ... W_K a / sqrt(h), any leading axes: (..., d)."""
    v = readout[..., None]
    for w in weights[::-1]:
        v = w @ v
    return v[..., 0] / math.sqrt(readout.shape[-1])

@dataclass
class MlpForward:
    """The networks of every (seed, schedule) in one state; each pass runs when first read.

    ``train``: the pass on the n training rows, (layer inputs z_0 = X (S, n, d), ...,
    z_{K-1} (S, B, n, h); slopes sigma'(p_l) (S, B, n, h), None for the identity; f(X)
    (S, B, n)); ``test`` f(x_test) (S, B, m); ``population`` the population loss (S, B).
    Nothing is computed that is not read: the surrogate's last state never runs on X.
    After step 1, ``first`` maps an input set to per-seed (x W1, x G1) (S, N, h) and
    ``eta1`` (B,) holds the layer-1 rates: x W1' = x W1 - eta1 x G1 costs O(N h) per
    schedule instead of O(N d h).
    """

    draw: MlpDraw
    state: list[Tensor]
    first: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)
    eta1: Tensor | None = None

    @cached_property
    def train(self) -> tuple[list[Tensor], list[Tensor | None], Tensor]:
        z, inputs, slopes = layers(self.draw.x, self.state, self.draw.activation, True,
                                   self._first("x"))
        return inputs, slopes, readout_of(z, self.draw.readout)

    @property
    def out(self) -> Tensor:
        return self.train[2]

    @cached_property
    def test(self) -> Tensor:
        return self._network("x_test")

    @cached_property
    def population(self) -> Tensor:
        draw = self.draw
        if draw.real:  # no population: the held-out rows
            return (self.test - draw.y_test[:, None]).square().mean(-1)
        if draw.exact_population:
            u = linear_map(self.state, draw.readout[:, None])  # (S, B, d)
            return (u - draw.beta[:, None]).square().sum(-1)
        return (self._network("x_pop") - draw.y_pop[:, None]).square().mean(-1)

    def _network(self, inputs: str) -> Tensor:
        """f of the input set ``inputs`` (an MlpDraw field): (S, B, N)."""
        z = layers(getattr(self.draw, inputs), self.state, self.draw.activation, False,
                   self._first(inputs))[0]
        return readout_of(z, self.draw.readout)

    def _first(self, inputs: str) -> Tensor | None:
        """Layer-1 pre-activations x W1 - eta1 x G1 (S, B, N, h) after step 1, else None."""
        if inputs not in self.first:
            return None
        base, delta = self.first[inputs]
        eta = self.eta1.to(base.dtype)[None, :, None, None]
        return torch.addcmul(base[:, None], eta, delta[:, None], value=-1)


class MlpDynamics(Dynamics["MlpDraw", dict, list[Tensor], MlpForward]):
    """GD and the signal-only surrogate of the mlp family, batched over (S, B) (SPEC 10).

    The state is the list of weights W_l, (S, B, d_l, h) (B = 1 at initialisation).
    :meth:`prepare` takes the gradient at initialisation once per seed, so step 1 of
    every schedule is W_l - eta_l G_l without a per-schedule backward pass.
    """

    def prepare(self, draw: MlpDraw, signal_only: bool, steps: int) -> dict:
        """The initial state, its gradients G_l (S, 1, d_l, h), and per input set the
        per-seed products x W1 and x G1 that step 1's layer 1 combines."""
        state = [w[:, None] for w in draw.weights]  # (S, 1, d_l, h): shared by the seed
        grads = gradients(draw, MlpForward(draw, state), signal_only)
        sets = ["x"] + (["x_test"] if not signal_only or draw.real else [])
        sets += ["x_pop"] if draw.x_pop is not None and not draw.exact_population else []
        first = {name: (getattr(draw, name) @ state[0][:, 0],
                        getattr(draw, name) @ grads[0][:, 0]) for name in sets}
        return {"state": state, "grads": grads, "first": first}

    def first_step(self, draw: MlpDraw, prepared: dict, rates: Tensor, signal_only: bool
                   ) -> tuple[list[Tensor], MlpForward]:
        """State and (lazy) networks after step 1 for ``rates`` (B, K)."""
        eta = rates.to(draw.x.dtype).T[:, None, :, None, None]  # (K, 1, B, 1, 1)
        state = [w - eta[l] * g for l, (w, g) in
                 enumerate(zip(prepared["state"], prepared["grads"]))]
        return state, MlpForward(draw, state, prepared["first"], rates[:, 0])

    def forward(self, draw: MlpDraw, state: list[Tensor], signal_only: bool) -> MlpForward:
        """The networks of ``state``; their passes run when the losses or a step read them
        (so the surrogate's, ``signal_only``, never run on the test inputs)."""
        return MlpForward(draw, state)

    def step(self, draw: MlpDraw, state: list[Tensor], fwd: MlpForward, rates: Tensor,
             signal_only: bool) -> list[Tensor]:
        """W_l <- W_l - eta_l dL/dW_l for every layer at once (simultaneous, SPEC 4).

        ``rates``: (B, K). See :func:`gradients` for L.
        """
        grads = gradients(draw, fwd, signal_only)
        eta = rates.to(draw.x.dtype).T[:, None, :, None, None]  # (K, 1, B, 1, 1)
        return [w - eta[l] * g for l, (w, g) in enumerate(zip(state, grads))]

    def losses(self, draw: MlpDraw, fwd: MlpForward) -> dict[str, Tensor]:
        """Train, population and empirical test loss, each (S, B) (SPEC 10)."""
        return {"train": 0.5 * (fwd.out - draw.y[:, None]).square().mean(-1),
                "population": fwd.population,
                "empirical": (fwd.test - draw.y_test[:, None]).square().mean(-1)}

    def population(self, draw: MlpDraw, fwd: MlpForward) -> Tensor:
        return fwd.population

    def zero(self, state: list[Tensor], mask: Tensor) -> list[Tensor]:
        """Reset the (seed, schedule) pairs of ``mask`` (S, B) to zero weights."""
        return [torch.where(mask[..., None, None], 0.0, w) for w in state]


def layers(x: Tensor, weights: list[Tensor], activation: str, keep: bool,
           first: Tensor | None = None) -> tuple[Tensor, list[Tensor], list[Tensor | None]]:
    """z_K of inputs ``x`` (S, N, d) through ``weights`` (S, B, d_l, h). -> (S, B, N, h).

    ``first``, when given, is layer 1's pre-activation (S, B, N, h). With ``keep``, also
    every layer's input z_{l-1} and slope sigma'(p_l) (for the gradient); otherwise each
    layer's tensors are dropped once used.
    """
    act = ACTIVATIONS[activation]
    z, inputs, slopes = x, [], []
    for l, w in enumerate(weights):
        if l == 0:
            pre = first if first is not None else x[:, None] @ w  # (S, B, N, h)
        else:
            pre = z @ w
        if keep:
            inputs.append(z)
        z, slope = act(pre, keep)
        slopes.append(slope)
    return z, inputs, slopes


def readout_of(z: Tensor, readout: Tensor) -> Tensor:
    """h^{-1/2} z a for z (S, B, N, h) and a (S, h). -> (S, B, N)."""
    return (z @ readout[:, None, :, None])[..., 0] / math.sqrt(readout.shape[-1])


def gradients(draw: MlpDraw, fwd: MlpForward, signal_only: bool) -> list[Tensor]:
    """dL/dW_l of every layer by back-propagation through ``fwd.train``. Each (S, B, d_l, h).

    L is the train loss (1/2n)|f(X) - y|^2, dL/df = (f - y)/n, or for the surrogate the
    linear loss -(1/n) sum_i y_i f(x_i), dL/df = -y/n. Then dL/dz_K = dL/df a / sqrt(h);
    delta_l = dL/dz_l * sigma'(p_l); dL/dW_l = z_{l-1}ᵀ delta_l; dL/dz_{l-1} = delta_l W_lᵀ.
    """
    inputs, slopes, out = fwd.train
    n, h = draw.x.shape[1], draw.readout.shape[-1]
    y = draw.y[:, None]  # (S, 1, n)
    dl_df = -y / n if signal_only else (out - y) / n  # (S, B or 1, n)
    g = dl_df[..., None] * (draw.readout[:, None, None, :] / math.sqrt(h))  # (S, B, n, h)
    grads: list[Tensor] = [None] * len(fwd.state)
    for l in range(len(fwd.state) - 1, -1, -1):
        delta = g if slopes[l] is None else g * slopes[l]
        if l == 0:
            grads[0] = inputs[0].mT[:, None] @ delta  # X^T delta_1
        else:
            grads[l] = inputs[l].mT @ delta
            g = delta @ fwd.state[l].mT
    return grads

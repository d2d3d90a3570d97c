"""GD (SGD or Adam) and the surrogate of the module family, batched with torch.func
(SPEC 13).

Every (seed, schedule) pair is one copy of the network: its parameters are stacked as
(S, B, *shape) and the network runs on all of them at once, with
``torch.func.functional_call`` under two ``vmap``s (seeds outside: each seed has its
own rows; schedules inside: they share them), and ``grad_and_value`` for the gradients.
At initialisation the B schedules of a seed share one state, so :meth:`prepare` takes
the first gradient once per seed (S, 1, *shape) and step 1 only scales it (Adam's
first step is a rate times a per-seed direction too).

Losses on rows i = 1 ... r of a network f: ``mse`` (1/2r) sum_i |f(x_i) - y_i|^2,
``cross_entropy`` (1/r) sum_i -log softmax(f(x_i))_{y_i}; the surrogate descends
(1/r) sum_i <g_i, f(x_i)> (g_i from :func:`~.draws.signal`). With a batch size b, step t
takes its gradient on the t-th batch of :func:`batch_rows`; the recorded losses are
always on every training row and on every held-out row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call, grad_and_value, vmap

from layerlr.families.module import updates
from layerlr.families.protocol import Dynamics

if TYPE_CHECKING:
    from layerlr.families.module.draws import ModuleDraw

BATCH_SEED = 0x9E3779B9  # added to a seed for its batch order (apart from its init)


def batch_rows(seeds: list[int], rows: int, size: int, steps: int) -> Tensor:
    """The rows of each step's batch, (S, T, b) int64: for seed s, the t-th block of
    ``size`` rows of the stream pi_1 pi_2 ... of permutations of the ``rows`` training
    rows drawn one after the other by ``torch.randperm(rows, generator=g)``, g a CPU
    ``torch.Generator`` seeded with (s + BATCH_SEED) mod 2^63. The same for every
    schedule, and a prefix of the longer runs' for fewer steps."""
    out = []
    for seed in seeds:
        g = torch.Generator().manual_seed((seed + BATCH_SEED) % 2**63)
        need = steps * size
        stream = torch.cat([torch.randperm(rows, generator=g)
                            for _ in range(-(-need // rows))])
        out.append(stream[:need].reshape(steps, size))
    return torch.stack(out)


@dataclass
class State:
    """Parameters (S, B, *shape) after ``step`` of ``steps`` steps, Adam's moments
    (S, B or 1, *shape) (None for SGD), and the run's batches (:func:`batch_rows`,
    None for full batches)."""

    params: dict[str, Tensor]
    moments: tuple[dict[str, Tensor], dict[str, Tensor]] | None
    step: int
    steps: int
    batches: Tensor | None


class Programs:
    """The batched functions of one draw's network: over (S, B) copies of it."""

    def __init__(self, draw: ModuleDraw) -> None:
        net, ce = draw.net, draw.loss == "cross_entropy"

        def task(f: Tensor, y: Tensor) -> Tensor:  # one network's loss on its r rows
            if ce:
                return F.cross_entropy(f, y)
            return 0.5 * (f.reshape(y.shape) - y).square().sum() / y.shape[0]

        def gd(params: dict, fixed: dict, x: Tensor, y: Tensor) -> Tensor:
            return task(functional_call(net, (params, fixed), (x,)), y)

        def surrogate(params: dict, fixed: dict, x: Tensor, g: Tensor) -> Tensor:
            f = functional_call(net, (params, fixed), (x,))
            return (g * f.reshape(g.shape)).sum() / g.shape[0]

        def held_out(params: dict, fixed: dict, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
            f = functional_call(net, (params, fixed), (x,))
            hits = (f.argmax(-1) == y).to(f.dtype).mean() if ce else f.new_zeros(())
            return task(f, y), hits

        def batched(fn):  # seeds outside (own rows), schedules inside (shared rows)
            return vmap(vmap(fn, in_dims=(0, None, None, None)), in_dims=(0, 0, 0, 0))

        self.grad = {False: batched(grad_and_value(gd)),
                     True: batched(grad_and_value(surrogate))}
        self.loss = batched(held_out)
        self.one = held_out  # one network, without vmap


class ModuleForward:
    """The networks of one state, computed when read: the gradient for the next step
    (:meth:`grads`), the loss on every training row (:meth:`train`), and the held-out
    loss and accuracy (:meth:`held_out`). Full-batch GD takes the training loss from
    the gradient's pass; the last state takes no gradient."""

    def __init__(self, programs: Programs, draw: ModuleDraw, state: State,
                 signal_only: bool) -> None:
        self.programs, self.draw, self.state = programs, draw, state
        self.signal_only, self.batches = signal_only, state.batches
        self._grads: dict[str, Tensor] | None = None
        self._train: Tensor | None = None
        self._held: tuple[Tensor, Tensor] | None = None

    def grads(self) -> dict[str, Tensor]:
        """The gradient of step ``state.step + 1``'s loss, (S, B, *shape)."""
        if self._grads is None:
            d, target = self.draw, self.draw.signal if self.signal_only else self.draw.y
            x = d.x
            if self.batches is not None:  # this step's b rows of each seed
                rows = self.batches[:, self.state.step]  # (S, b)
                seed = torch.arange(d.seeds, device=d.device)[:, None]
                x, target = x[seed, rows], target[seed, rows]
            self._grads, value = self.programs.grad[self.signal_only](
                self.state.params, d.fixed, x, target)
            if self.batches is None and not self.signal_only:
                self._train = value.detach()
        return self._grads

    def train(self) -> Tensor:
        """The training loss on all n rows, (S, B)."""
        if self._train is None:
            if self.batches is None and self.state.step < self.state.steps:
                self.grads()  # needed for the next step anyway: its value is the loss
            else:
                self._train = self._losses(self.draw.x, self.draw.y)[0]
        return self._train

    def held_out(self) -> tuple[Tensor, Tensor]:
        """The held-out loss and accuracy (0 for mse), each (S, B)."""
        if self._held is None:
            self._held = self._losses(self.draw.x_test, self.draw.y_test)
        return self._held

    @torch.no_grad()
    def _losses(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Loss and accuracy (S, B) on every row of ``x`` (S, N, ...), without gradient:
        ``draw.pass_schedules`` schedules at a time, or, where that is 1, one network
        at a time without vmap (on the CPU a batched convolution is slower than its
        networks one by one)."""
        params, fixed, step = self.state.params, self.draw.fixed, self.draw.pass_schedules
        b = next(iter(params.values())).shape[1]
        if step > 1:
            parts = [self.programs.loss({k: v[:, i:i + step] for k, v in params.items()},
                                        fixed, x, y) for i in range(0, b, step)]
            return torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts], 1)
        out = [[self.programs.one({k: v[i, j] for k, v in params.items()},
                                  {k: v[i] for k, v in fixed.items()}, x[i], y[i])
                for j in range(b)] for i in range(self.draw.seeds)]
        return tuple(torch.stack([torch.stack([o[n] for o in row]) for row in out])
                     for n in (0, 1))


class ModuleDynamics(Dynamics["ModuleDraw", dict, State, ModuleForward]):
    """SGD or Adam, and the surrogate, on S x B copies of the user's network (SPEC 13)."""

    def __init__(self) -> None:
        self._programs: tuple[ModuleDraw, Programs] | None = None

    def programs(self, draw: ModuleDraw) -> Programs:
        if self._programs is None or self._programs[0] is not draw:
            self._programs = (draw, Programs(draw))
        return self._programs[1]

    def prepare(self, draw: ModuleDraw, signal_only: bool, steps: int) -> dict:
        """The initial state (S, 1, *shape), the batches of ``steps`` steps, and step 1's
        direction per unit rate: the gradient at init (SGD), or Adam's first step, with
        Adam's moments after it."""
        batches = None
        if draw.batch_size is not None:
            batches = batch_rows(draw.seed_ids, draw.rows, draw.batch_size, steps).to(
                draw.device)
        init = State({k: v[:, None] for k, v in draw.params.items()}, None, 0, steps, batches)
        grads = ModuleForward(self.programs(draw), draw, init, signal_only).grads()
        moments, direction = None, grads
        if draw.optimizer == "adam":
            moments = updates.moments(None, None, grads)
            direction = updates.direction(*moments, 1)
        return {"init": init.params, "direction": direction, "moments": moments,
                "batches": batches, "steps": steps}

    def first_step(self, draw: ModuleDraw, prepared: dict, rates: Tensor,
                   signal_only: bool) -> tuple[State, ModuleForward]:
        """theta^1 = theta^0 - eta_1 * direction for ``rates`` (B, K): (S, B, *shape)."""
        eta = self._rates(draw, rates)
        params = {k: p - eta[k] * prepared["direction"][k]
                  for k, p in prepared["init"].items()}
        state = State(params, prepared["moments"], 1, prepared["steps"], prepared["batches"])
        return state, self.forward(draw, state, signal_only)

    def step(self, draw: ModuleDraw, state: State, fwd: ModuleForward, rates: Tensor,
             signal_only: bool) -> State:
        """Every group moves at once at its rate in ``rates`` (B, K)."""
        grads, eta, t = fwd.grads(), self._rates(draw, rates), state.step + 1
        if state.moments is None:
            params, moments = updates.sgd(state.params, grads, eta), None
        else:
            moments = updates.moments(*state.moments, grads)
            params = updates.adam(state.params, *moments, eta, t)
        return State(params, moments, t, state.steps, state.batches)

    def forward(self, draw: ModuleDraw, state: State, signal_only: bool) -> ModuleForward:
        return ModuleForward(self.programs(draw), draw, state, signal_only)

    def losses(self, draw: ModuleDraw, fwd: ModuleForward) -> dict[str, Tensor]:
        """train (all n rows), population = empirical (the held-out rows) and, for
        cross_entropy, the held-out accuracy; each (S, B)."""
        held, hits = fwd.held_out()
        out = {"train": fwd.train(), "population": held, "empirical": held}
        if draw.loss == "cross_entropy":
            out["accuracy"] = hits
        return out

    def population(self, draw: ModuleDraw, fwd: ModuleForward) -> Tensor:
        """The surrogate's recorded loss: the task's loss on the held-out rows (S, B)."""
        return fwd.held_out()[0]

    def zero(self, state: State, mask: Tensor) -> State:
        """The (seed, schedule) pairs of ``mask`` (S, B) reset to zero parameters and
        moments."""
        def reset(t: Tensor) -> Tensor:
            return torch.where(mask.reshape(*mask.shape, *[1] * (t.ndim - 2)), 0.0, t)

        moments = None if state.moments is None else tuple(
            {k: reset(t) for k, t in part.items()} for part in state.moments)
        return State({k: reset(t) for k, t in state.params.items()}, moments, state.step,
                     state.steps, state.batches)

    @staticmethod
    def _rates(draw: ModuleDraw, rates: Tensor) -> dict[str, Tensor]:
        """Each parameter's rate from ``rates`` (B, K): (1, B, 1, ...) to scale (S, B,
        *shape)."""
        rates = rates.to(device=draw.device, dtype=draw.signal.dtype)
        return {k: rates[:, g].reshape(1, -1, *[1] * (draw.params[k].ndim - 1))
                for k, g in draw.group.items()}

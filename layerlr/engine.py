"""Evaluate a batch of schedules over a set of seeds as one tensor program.

:func:`evaluate` is the engine's public entry point: B schedules x S seeds, T steps of
exact GD (SPEC 4; SGD or Adam for the module family, SPEC 13) and of the signal-only
surrogate (SPEC 5, 10, 13) from the same draws, the four measured losses (and the
family's further metrics, e.g. held-out accuracy) after every step, and the exact
expected surrogate loss (the "theory", SPEC 6, 11, 12) beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from layerlr.families import Draws, Dynamics, family
from layerlr.families.rules import PROTOCOLS
from layerlr.memory import footprint
from layerlr.schedules import as_schedules
from layerlr.setting import DIVERGENCE, Setting
from layerlr.theory.expectation import closed_form

DEFAULT_CPU_BUDGET = 2 * 2**30  # bytes of working memory for one chunk of schedules
LOSSES = ("train", "population", "empirical", "surrogate")


@dataclass
class Evaluation:
    """Losses of B schedules x S seeds after each of T steps, on the CPU in float64.

    ``losses[name]`` is (S, B, T) for name in ``LOSSES``. GD and the surrogate are two
    runs from the same draws, and each diverges at the first step whose population loss
    exceeds the threshold (1e6) or whose loss (GD: train or population) is not finite.
    From the step at which GD diverges its three losses are NaN; from the step at which
    the surrogate diverges, its loss is NaN. ``diverged_at`` and ``surrogate_diverged_at``
    (S, B) hold those steps, 0 for none. So no loss above the threshold is ever kept,
    and a surrogate below it is kept when GD diverged: it is still the quantity the
    theory is the expectation of.
    ``theory`` (B, T) is the expected surrogate loss, NaN where ``theory_kind`` is
    "absent". ``metrics[name]`` (S, B, T) holds the family's further measurements of GD
    (:attr:`~layerlr.families.protocol.Family.metrics`, e.g. "accuracy"), NaN where
    GD's losses are and where the setting has none (accuracy of a regression).
    Without measurement (``evaluate(..., measure=False)``) every loss is NaN.
    """

    setting: Setting
    seeds: list[int]
    schedules: Tensor  # (B, T, K)
    losses: dict[str, Tensor]
    diverged_at: Tensor  # (S, B)
    surrogate_diverged_at: Tensor  # (S, B)
    theory: Tensor
    theory_kind: np.ndarray
    device: str = field(default="cpu")
    metrics: dict[str, Tensor] = field(default_factory=dict)

    def per_schedule(self) -> list[dict]:
        """Per schedule: each loss's mean and standard error over seeds, per step.

        Keys ``loss_<name>`` and ``loss_<name>_se`` hold T floats (NaN from the first
        step at which a seed's value is NaN, se NaN for a single seed),
        ``loss_<name>_seeds`` T lists of S floats (the seeds in ``seeds`` order, for
        paired comparisons across schedules); each metric the same, under ``<metric>``,
        ``<metric>_se`` and ``<metric>_seeds``; ``loss_theory`` and ``theory`` the closed
        form; ``diverged_at`` and ``surrogate_diverged_at`` the first step at which any
        seed's GD run, or its surrogate run, diverged, or None.
        """
        s = len(self.seeds)
        stats = {}
        named = [(f"loss_{k}", self.losses[k]) for k in LOSSES] + list(self.metrics.items())
        for name, x in named:  # x: (S, B, T)
            stats[name] = x.mean(0)
            stats[f"{name}_se"] = (x.std(0) / s**0.5 if s > 1
                                   else torch.full_like(x[0], float("nan")))
            stats[f"{name}_seeds"] = x.permute(1, 2, 0)  # (B, T, S)
        first = {k: _first_step(getattr(self, k))
                 for k in ("diverged_at", "surrogate_diverged_at")}
        out = []
        for b in range(self.schedules.shape[0]):
            row = {k: v[b].tolist() for k, v in stats.items()}
            row["loss_theory"] = self.theory[b].tolist()
            row["theory"] = [str(k) for k in self.theory_kind[b]]
            row.update({k: v[b] for k, v in first.items()})
            out.append(row)
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per (schedule, seed, step)."""
        s, b, t = self.losses["population"].shape
        k = self.schedules.shape[2]
        grid = np.stack(np.meshgrid(np.arange(b), np.arange(s), np.arange(t),
                                    indexing="ij"), -1).reshape(-1, 3)
        bi, si, ti = grid.T
        frame = {"schedule": bi, "seed": np.asarray(self.seeds)[si], "step": ti + 1}
        rates = self.schedules.numpy()
        for layer in range(k):
            frame[f"eta{layer + 1}"] = rates[bi, ti, layer]
        for name in LOSSES:
            frame[f"loss_{name}"] = self.losses[name].permute(1, 0, 2).reshape(-1).numpy()
        for name, x in self.metrics.items():
            frame[name] = x.permute(1, 0, 2).reshape(-1).numpy()
        frame["loss_theory"] = self.theory.numpy()[bi, ti]
        frame["theory"] = self.theory_kind[bi, ti].astype(str)
        for column, at in (("diverged", self.diverged_at),
                           ("surrogate_diverged", self.surrogate_diverged_at)):
            div = at.numpy()[si, bi]
            frame[column] = (div > 0) & (div <= ti + 1)
        return pd.DataFrame(frame)


def _first_step(at: Tensor) -> list[int | None]:
    """Per schedule, the first step at which any seed diverged, or None. ``at``: (S, B)."""
    first = torch.where(at > 0, at, torch.iinfo(at.dtype).max).min(0).values
    return [None if v == torch.iinfo(at.dtype).max else int(v) for v in first]


def evaluate(setting: Setting, schedules: object, seeds: list[int], *,
             steps: int | None = None, protocol: str = "native",
             device: str | torch.device = "cpu", dtype: torch.dtype = torch.float64,
             memory_budget: int | None = None, divergence: float = DIVERGENCE,
             surrogate: bool = True, draws: Draws | None = None,
             prepared: dict | None = None, measure: bool = True) -> Evaluation:
    """Run every schedule for every seed and measure the losses after each step.

    ``schedules``: (B, T, K) rates, or (B, K) with ``steps`` for constant rates;
    ``steps`` given with (B, T, K) rates must equal T (:func:`as_schedules` refuses it).
    ``memory_budget`` (bytes) caps the working memory of one chunk of schedules
    (default 2 GiB on CPU, half the free memory on CUDA). ``draws`` reuses draws made
    earlier by :func:`draw` for the same seeds; ``prepared``, a dict the
    caller keeps with those draws, keeps the per-seed work shared by every schedule
    (SPEC 4: the products that step 1 and 2 combine, and the draws turned to the init's
    frame, :meth:`~layerlr.families.protocol.Dynamics.frame`) from one call to the next.
    ``surrogate=False`` skips the signal-only run (its column is then NaN).
    ``measure=False`` draws and trains nothing: the losses are NaN and only the theory
    is filled in, at no cost at any width (a study on the theory alone).
    """
    if not seeds:
        raise ValueError("seeds: need at least one seed")
    fam = family(setting.family)
    rates = as_schedules(schedules, setting.layers, steps, fam.max_steps)
    if not measure:
        return _theory_only(setting, list(seeds), rates)
    if draws is None:
        draws = draw(setting, list(seeds), protocol, device, dtype)
    dyn = fam.dynamics()
    chunk = chunk_size(setting, len(seeds), rates.shape[1], draws.itemsize, memory_budget,
                       draws.device)
    cache, steps, shared = {} if prepared is None else prepared, rates.shape[1], {}
    if "draws" not in cache:  # the draws the runs use (Dynamics.frame)
        cache["draws"] = dyn.frame(draws)
    draws = cache["draws"]
    for flag in (False, True) if surrogate else (False,):  # signal_only: GD, surrogate
        if (flag, steps) not in cache:
            cache[flag, steps] = dyn.prepare(draws, flag, steps)
        shared[flag] = cache[flag, steps]
    names = LOSSES + fam.metrics
    parts = [_run_chunk(dyn, draws, shared, rates[i:i + chunk], divergence, names)
             for i in range(0, rates.shape[0], chunk)]
    measured = {k: torch.cat([p[0][k] for p in parts], 1) for k in names}
    theory, kind = closed_form(setting, rates)
    return Evaluation(setting, list(seeds), rates, {k: measured[k] for k in LOSSES},
                      torch.cat([p[1] for p in parts], 1), torch.cat([p[2] for p in parts], 1),
                      theory, kind, str(draws.device),
                      {k: measured[k] for k in fam.metrics})


def draw(setting: Setting, seeds: list[int], protocol: str = "native",
         device: str | torch.device = "cpu", dtype: torch.dtype = torch.float64) -> Draws:
    """The draws of every seed of ``seeds`` for the setting's family, stacked along a
    leading seed axis (SPEC 9: ``protocol`` "published" draws as the paper's scripts)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol: {protocol!r} is not one of {list(PROTOCOLS)}")
    return family(setting.family).draw(setting, list(seeds), protocol, device, dtype)


def _theory_only(setting: Setting, seeds: list[int], rates: Tensor) -> Evaluation:
    """An Evaluation with the theory and NaN losses; nothing drawn."""
    s, (b, t, _) = len(seeds), rates.shape
    nan = torch.full((s, b, t), float("nan"), dtype=torch.float64)
    theory, kind = closed_form(setting, rates)
    none = torch.zeros(s, b, dtype=torch.long)
    return Evaluation(setting, seeds, rates, {k: nan.clone() for k in LOSSES},
                      none, none.clone(), theory, kind,
                      metrics={k: nan.clone() for k in family(setting.family).metrics})


def chunk_size(setting: Setting, seeds: int, steps: int, itemsize: int,
               budget: int | None, device: torch.device) -> int:
    """Schedules per chunk so that one chunk's tensors fit in ``budget`` bytes."""
    if budget is None:
        budget = DEFAULT_CPU_BUDGET
        if device.type == "cuda":
            budget = torch.cuda.mem_get_info(device)[0] // 2
    return max(1, int(budget // footprint(setting, seeds, steps, itemsize)[1]))


def _run_chunk(dyn: Dynamics, draws: Draws, prepared: dict, rates: Tensor,
               divergence: float, names: tuple[str, ...] = LOSSES
               ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """GD and the surrogate for a (B, T, K) chunk.

    -> losses (S, B, T) of every name in ``names`` (the four losses and the family's
    metrics; one GD does not measure stays NaN), and the steps at which GD and the
    surrogate diverged (S, B), by the rule of :class:`Evaluation`. ``prepared`` maps
    signal_only (False: GD, True: surrogate) to the shared step-1 work.
    """
    s, (b, t_max, _) = draws.seeds, rates.shape
    rates = rates.to(draws.device)
    out = {k: torch.full((s, b, t_max), float("nan"), dtype=torch.float64) for k in names}
    diverged_at = torch.zeros(s, b, dtype=torch.long)
    for t, fwd in _trajectory(dyn, draws, prepared[False], rates, False, diverged_at):
        measured = {k: v.expand(s, b).double().cpu() for k, v in dyn.losses(draws, fwd).items()}
        _mark(diverged_at, t, measured["population"], measured["train"], divergence)
        for k, v in measured.items():
            out[k][:, :, t - 1] = torch.where(diverged_at > 0, float("nan"), v)
    surrogate_at = torch.zeros(s, b, dtype=torch.long)
    if True in prepared:
        exact = dyn.surrogate_losses(draws, prepared[True], rates)  # (S, B, T) or None
        if exact is not None:
            runs = ((t, exact[..., t - 1]) for t in range(1, t_max + 1))
        else:
            runs = ((t, dyn.population(draws, fwd)) for t, fwd in
                    _trajectory(dyn, draws, prepared[True], rates, True, surrogate_at))
        for t, loss in runs:
            loss = loss.expand(s, b).double().cpu()
            _mark(surrogate_at, t, loss, loss, divergence)
            out["surrogate"][:, :, t - 1] = torch.where(surrogate_at > 0, float("nan"), loss)
    return out, diverged_at, surrogate_at


def _mark(diverged_at: Tensor, t: int, population: Tensor, loss: Tensor,
          divergence: float) -> None:
    """Set step ``t`` in ``diverged_at`` (S, B) for the runs not yet marked whose
    ``population`` (S, B) exceeds ``divergence`` or whose ``loss`` is not finite."""
    bad = ~(torch.isfinite(loss) & (population <= divergence))
    diverged_at[bad & (diverged_at == 0)] = t


def _trajectory(dyn: Dynamics, draws: Draws, prepared: object, rates: Tensor, signal_only: bool,
                diverged_at: Tensor):
    """Yield (t, forward map after step t) for t = 1..T of GD or of the surrogate.

    Runs that ``diverged_at`` (S, B) marks (the caller fills it in between steps) are
    reset before the next step, so that their infinities stay out of the arithmetic.
    """
    t_max = rates.shape[1]
    state, fwd = dyn.first_step(draws, prepared, rates[:, 0], signal_only)
    yield 1, fwd
    for t in range(2, t_max + 1):
        state = dyn.step(draws, state, fwd, rates[:, t - 1], signal_only)
        if diverged_at.any():
            state = dyn.zero(state, (diverged_at > 0).to(draws.device))
        fwd = dyn.forward(draws, state, signal_only)
        yield t, fwd

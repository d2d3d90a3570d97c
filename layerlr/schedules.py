"""Schedules: the T x K matrices of per-step, per-layer rates (SPEC section 4).

A batch of schedules is a float64 tensor of shape (B, T, K): schedules, steps, layers.
torch is imported where tensors are made: a sampler process that only suggests rates
(random, TPE) starts without it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING

from layerlr.setting import MAX_STEPS

if TYPE_CHECKING:
    from torch import Tensor


class ScheduleError(ValueError):
    """Rates that cannot be used as a batch of schedules."""


def as_schedules(rates: object, layers: int, steps: int | None = None,
                 max_steps: int = MAX_STEPS) -> Tensor:
    """Validate ``rates`` into a (B, T, K) float64 tensor.

    Accepts (B, T, K), or (B, K) together with ``steps`` for rates that repeat at every
    step, like the published experiments. ``steps`` with (B, T, K) rates must equal T,
    and T must not exceed ``max_steps`` (the family's :attr:`Family.max_steps`).
    """
    import torch

    out = torch.as_tensor(rates, dtype=torch.float64).cpu()
    if steps is not None and not (isinstance(steps, numbers.Integral) and steps >= 1):
        raise ScheduleError(f"steps must be a whole number >= 1, got {steps!r}")
    if out.ndim == 2 and steps is not None:
        out = constant(out, steps)
    if out.ndim == 3 and steps is not None and out.shape[1] != steps:
        raise ScheduleError(
            f"steps={steps} but the schedules have {out.shape[1]} steps (shape "
            f"{tuple(out.shape)}); drop steps=, or pass (schedules, layers) rates to repeat")
    if out.ndim != 3 or out.shape[0] == 0 or out.shape[1] == 0:
        raise ScheduleError(
            f"schedules must have shape (schedules, steps, layers), got {tuple(out.shape)}; "
            "pass (schedules, layers) together with steps= for constant rates")
    if out.shape[1] > max_steps:
        raise ScheduleError(f"schedules have {out.shape[1]} steps; at most {max_steps} are "
                            "supported")
    if out.shape[2] != layers:
        raise ScheduleError(f"schedules have {out.shape[2]} rates per step but the network "
                            f"has {layers} trained layers")
    bad = ~torch.isfinite(out) | (out < 0)
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        raise ScheduleError(f"schedule {index[0]}, step {index[1] + 1}, layer {index[2] + 1}: "
                            f"rate {out[index].item()} must be finite and >= 0")
    return out


def constant(rates: object, steps: int) -> Tensor:
    """(B, K) rates repeated at every one of ``steps`` steps -> (B, T, K)."""
    import torch

    r = torch.as_tensor(rates, dtype=torch.float64)
    return r[:, None, :].expand(r.shape[0], steps, r.shape[1]).clone()


def diagonal(budget: float, layers: int, divisions: int = 20, even: bool = False) -> Tensor:
    """The published sweep along eta1 + (the rest) = B (SPEC section 9). -> (N - 1, K).

    s = max(1, floor(B/20)), N = floor(B/s); for i = 1..N-1, eta1 = i s and the other
    K - 1 layers share (N - i) s equally (for K = 2, eta2 = (N - i) s, as published).
    ``divisions`` replaces the 20 for finer sweeps around the equal split; ``even``
    takes s = B / divisions and N = divisions instead (fine grids at small budgets,
    where the published integer s = 1 leaves few points).
    """
    if not (math.isfinite(budget) and (budget >= 2 or even and budget > 0)):
        raise ScheduleError(f"diagonal budget must be a finite number >= 2 (> 0 on an even "
                            f"grid), got {budget}")
    if divisions < 2:
        raise ScheduleError(f"diagonal divisions must be >= 2, got {divisions}")
    import torch

    s, n = _grid(budget, divisions, even)
    i = torch.arange(1, n, dtype=torch.float64)
    rest = ((n - i) * s / (layers - 1))[:, None].expand(-1, layers - 1)
    return torch.cat([(i * s)[:, None], rest], dim=1)


def diagonal_sum(budget: float, divisions: int = 20, even: bool = False) -> float:
    """What the rates of every point of :func:`diagonal` add up to: N s <= B."""
    s, n = _grid(budget, divisions, even)
    return float(n * s)


def diagonal_count(budget: float, divisions: int = 20, even: bool = False) -> int:
    """How many points (rows) :func:`diagonal` makes: N - 1, without making them."""
    return _grid(budget, divisions, even)[1] - 1


def _grid(budget: float, divisions: int, even: bool = False) -> tuple[float, int]:
    """SPEC 9's step s = max(1, floor(B / divisions)) and count N = floor(B / s), or the
    even grid s = B / divisions, N = divisions."""
    if even:
        return budget / divisions, divisions
    s = max(1, math.floor(budget / divisions))
    return s, math.floor(budget / s)


def budgets(values: float | Sequence[float]) -> list[float]:
    """A budget or a list of them, as floats."""
    return [float(v) for v in (values if isinstance(values, Sequence) else [values])]

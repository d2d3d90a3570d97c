"""Monte Carlo of the engine's realized surrogate loss against the theory column."""

from __future__ import annotations

import torch

from layerlr import Setting, evaluate


def first_rest(first: list[float], rest: list[float], steps: int) -> list[list[float]]:
    """A first-rest schedule: ``first`` at step 1, ``rest`` at every later step."""
    return [first] + [rest] * (steps - 1)


def surrogate(setting: Setting, schedules: list, seeds: int
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(theory, mean, standard error), each (B, T): the theory column and the engine's
    surrogate loss over ``seeds`` independent draws (native protocol, float64). The
    surrogate ignores the test set: settings with test_size = 1 draw faster."""
    ev = evaluate(setting, torch.tensor(schedules, dtype=torch.float64), list(range(seeds)),
                  dtype=torch.float64)
    sur = ev.losses["surrogate"]  # (S, B, T)
    assert (ev.theory_kind == "exact").all()
    return ev.theory, sur.mean(0), sur.std(0) / seeds**0.5

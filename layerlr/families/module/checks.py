"""The module family's check before a study writes anything (SPEC 13, issue 18's bad
input): every seed's network and data, and one batched gradient."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from layerlr.families.module.imports import ModuleError, one_line

if TYPE_CHECKING:
    from layerlr.setting import Setting

CHECK_ROWS = 8  # rows per seed of the preflight's batched gradient
UNBATCHABLE = ("forward() must not change parameters or buffers in place, call .item(), "
               "branch on tensor values, or draw random numbers (dropout)")


def preflight(setting: Setting, seeds: list[int]) -> list[str]:
    """The first problem of ``setting`` for ``seeds`` as one line, or nothing.

    Draws every seed (:func:`~.draws.draw`: builds, loads and checks, in float64 on the
    CPU), then takes the first gradient of GD and of the surrogate batched over the
    seeds as the engine does (:meth:`~.dynamics.ModuleDynamics.prepare`), on a batch of
    :data:`CHECK_ROWS` rows per seed (the full data's gradient took seconds a setting).
    """
    import torch

    from layerlr.families.module.draws import draw
    from layerlr.families.module.dynamics import ModuleDynamics

    try:
        draws = draw(setting, list(seeds), "native", "cpu", torch.float64)
    except ModuleError as err:
        return [str(err)]
    dyn, few = ModuleDynamics(), dataclasses.replace(  # the engine's program on a few
        draws, batch_size=min(draws.rows, CHECK_ROWS))  # rows: what matters is the network
    try:
        for signal_only in (False, True):
            dyn.prepare(few, signal_only, 1)
    except Exception as err:
        return [(f"module: the network cannot run batched under torch.func (vmap over "
                 f"stacked parameters, grad): {type(err).__name__}: {one_line(err)}; "
                 f"{UNBATCHABLE}")]
    return []

"""The module family: any torch network the user builds, on any data (SPEC 13).

Torch-free, except where a rule needs the network or the data; those methods import
torch and the family's engine modules when called, and keep what they learn per
setting (in this process):

- :meth:`ModuleFamily.layers` with default groups builds the network once
  (:func:`~.network.setting_layout`);
- :meth:`ModuleFamily.footprint` probes the network on seed 0's data once
  (:func:`~.memory.probe`);
- :meth:`ModuleFamily.preflight` builds every seed's network, loads and checks every
  seed's data, and takes one batched gradient.

:mod:`.imports` names the user's functions, :mod:`.datasets` the built-in data,
:mod:`.data` checks rows, :mod:`.network` builds and groups, :mod:`.draws` and
:mod:`.dynamics` are the engine, :mod:`.updates` SGD and Adam, :mod:`.memory` the
estimate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from layerlr.families.module import imports
from layerlr.families.module.datasets import BUILTIN
from layerlr.families.module.network import regex_problems
from layerlr.families.protocol import Family

if TYPE_CHECKING:
    import torch

    from layerlr.families.module.draws import ModuleDraw
    from layerlr.families.module.dynamics import ModuleDynamics
    from layerlr.setting import Setting

LOSSES = ("mse", "cross_entropy")  # SPEC 13
OPTIMIZERS = ("sgd", "adam")  # the first is the default
NOT_TAKEN = ("d", "n", "target", "test_size", "activation", "init")  # other families' own


class ModuleFamily(Family):
    name = "module"
    max_steps = 1000
    metrics = ("accuracy",)  # held-out, for cross_entropy (NaN for mse)

    def defaults(self, setting: Setting) -> dict[str, Any]:
        """The built-in data sets are classification sets: cross_entropy; SGD; groups
        as tuples of pairs (they may arrive as lists from JSON)."""
        s = setting
        loss = "cross_entropy" if s.loss is None and s.data in BUILTIN else s.loss
        groups = s.groups
        if isinstance(groups, (list, tuple)) and all(isinstance(g, (list, tuple))
                                                     for g in groups):
            groups = tuple(tuple(g) for g in groups)
        return {"loss": loss, "optimizer": OPTIMIZERS[0] if s.optimizer is None
                else s.optimizer, "groups": groups}

    def problems(self, setting: Setting) -> list[str]:
        """Torch-free checks: sizes, the fields other families own, the references'
        forms and files, loss, optimizer, batch_size, the groups' patterns."""
        s, out = setting, []
        for name in ("depth", "width"):
            value = getattr(s, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                out.append(f"{name}: must be a positive integer, got {value!r}")
        for name in NOT_TAKEN:
            if getattr(s, name) is not None:
                out.append(f"{name}: the module family takes its network and data from "
                           f"module and data (SPEC 13), not {name} (got "
                           f"{getattr(s, name)!r}); remove it")
        if s.noise != 0:
            out.append(f"noise: the module family adds no label noise (got {s.noise!r}); "
                       "remove it, or add noise in your load()")
        if s.module is None:
            out.append("module: the module family needs module = \"FILE.py:build\" or "
                       "\"package.module:build\"")
        else:
            out += imports.problems("module", s.module)
        data_ok = s.data in BUILTIN or not isinstance(imports.parse("data", s.data), str)
        if not data_ok:
            out.append(f"data: {s.data!r} is neither a built-in data set {list(BUILTIN)} "
                       "nor \"FILE.py:load\" or \"package.module:load\"")
        elif s.data not in BUILTIN:
            out += imports.problems("data", s.data)
        if s.loss is None and data_ok:
            out.append(f"loss: your data need a loss, one of {list(LOSSES)}")
        elif s.loss not in LOSSES:
            out.append(f"loss: {s.loss!r} is not one of {list(LOSSES)}")
        if s.optimizer not in OPTIMIZERS:
            out.append(f"optimizer: {s.optimizer!r} is not one of {list(OPTIMIZERS)}")
        b = s.batch_size
        if b is not None and (isinstance(b, bool) or not isinstance(b, int) or b < 1):
            out.append(f"batch_size: must be a positive integer (rows per step), or none "
                       f"for full batches; got {b!r}")
        return out + ([] if s.groups is None else regex_problems(s.groups))

    def layers(self, setting: Setting) -> int:
        """K: the groups given, or (default groups) those of the built network."""
        if setting.groups is not None:
            return len(setting.groups)
        from layerlr.families.module.network import setting_layout

        return setting_layout(setting).layers

    def group_names(self, setting: Setting) -> tuple[str, ...]:
        """The K groups' names, in the order of the rates eta1 ... etaK."""
        if setting.groups is not None:
            return tuple(name for name, _ in setting.groups)
        from layerlr.families.module.network import setting_layout

        return setting_layout(setting).groups

    def cell_prefix(self, setting: Setting) -> list[str]:
        """The network's and the data's short names (``mnist1d_cnn``, ``mnist1d``)."""
        names = []
        for key in ("module", "data"):
            ref = imports.parse(key, getattr(setting, key))
            names.append(getattr(setting, key) if isinstance(ref, str) else ref.short)
        return names

    def threaded(self, setting: Setting) -> bool:
        return True

    def footprint(self, setting: Setting, seeds: int, steps: int,
                  itemsize: int) -> tuple[int, int]:
        """See :mod:`.memory`: probes the network on seed 0's data (torch; once per
        setting). ``steps`` does not matter: only the batches grow with it."""
        from layerlr.families.module.memory import footprint

        return footprint(setting, seeds, itemsize)

    def absent_reason(self, setting: Setting, steps: int) -> str | None:
        return "there is no exact theory for the module family (SPEC 13)"

    def preflight(self, setting: Setting, seeds: list[int]) -> list[str]:
        """Build every seed's network and load every seed's data, check them, and take
        one batched gradient (torch): the first problem, as one line."""
        from layerlr.families.module.checks import preflight

        return preflight(setting, seeds)

    def draw(self, setting: Setting, seeds: list[int], protocol: str,
             device: str | torch.device, dtype: torch.dtype) -> ModuleDraw:
        from layerlr.families.module.draws import draw

        return draw(setting, seeds, protocol, device, dtype)

    def dynamics(self) -> ModuleDynamics:
        from layerlr.families.module.dynamics import ModuleDynamics

        return ModuleDynamics()


FAMILY = ModuleFamily()

"""The user's network and its layer groups (SPEC 13).

Seed s's network is ``build(width=h, depth=L)`` called with the torch default dtype set
to the study's and ``torch.manual_seed(s)`` immediately before, inside
``torch.random.fork_rng``: the caller's random state and default dtype are left as they
were. Its trained parameters are those of ``named_parameters()`` that require a
gradient; the rest (and the buffers) are held fixed. They are split into K groups:

- default: one group per direct child module that holds trained parameters, in
  registration order, named after the child; parameters held by the network itself
  (names without a dot) form a group of their own, first, named :data:`TOP`;
- or ``setting.groups``, (name, regex) pairs: a parameter belongs to the first group
  whose regex it contains (``re.search``; anchor with ^ and $ for whole names). Every
  parameter must belong to a group, and every group must get a parameter.

The network runs as ``build`` returns it (in training mode unless it calls ``eval()``),
under ``torch.func``: forward passes must be deterministic and leave parameters and
buffers unchanged (no dropout, no batch norm updating running statistics); the
preflight check (:mod:`.checks`) names a network that breaks this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from layerlr.families.module.imports import ModuleError, call, parse

if TYPE_CHECKING:
    import torch
    from torch import nn

    from layerlr.setting import Setting

TOP = "(top)"  # the group of the parameters the network holds itself


@dataclass(frozen=True)
class Layout:
    """The trained parameters of a network and their groups."""

    groups: tuple[str, ...]  # K group names, in order
    params: tuple[str, ...]  # trained parameter names, in named_parameters() order
    group: tuple[int, ...]  # the group (0 ... K-1) of each trained parameter
    numel: int  # P, the trained parameters' elements

    @property
    def layers(self) -> int:
        return len(self.groups)


def build(setting: Setting, seed: int, dtype: torch.dtype) -> nn.Module:
    """Seed ``seed``'s network (SPEC 13). ModuleError: the builder raised, returned no
    ``nn.Module``, or a network without trained parameters."""
    import torch
    from torch import nn

    ref = parse("module", setting.module)
    if isinstance(ref, str):
        raise ModuleError(ref)
    with torch.random.fork_rng(devices=[]):
        before = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            torch.manual_seed(seed)
            net = call(ref, width=setting.width, depth=setting.depth)
        finally:
            torch.set_default_dtype(before)
    if not isinstance(net, nn.Module):
        raise ModuleError(f"module: {ref.function}(width={setting.width}, depth="
                          f"{setting.depth}) returned an object of type "
                          f"{type(net).__name__}, not a torch.nn.Module; return the network")
    if not any(p.requires_grad for p in net.parameters()):
        raise ModuleError(f"module: the network of {ref} has no trained parameters "
                          "(none that requires a gradient); nothing to train")
    return net


def layout(net: nn.Module, groups: tuple[tuple[str, str], ...] | None) -> Layout:
    """The groups of ``net``'s trained parameters (see the module docstring).
    ModuleError: a regex that matches nothing, a parameter in no group."""
    names = [n for n, p in net.named_parameters() if p.requires_grad]
    numel = sum(p.numel() for p in net.parameters() if p.requires_grad)
    if groups is None:
        owner = [n.split(".", 1)[0] if "." in n else TOP for n in names]
        order = [TOP] + [c for c, _ in net.named_children()]
        kept = [g for g in order if g in owner]
        return Layout(tuple(kept), tuple(names), tuple(kept.index(o) for o in owner), numel)
    found = [_first_match(n, groups) for n in names]
    for name, index in zip(names, found):
        if index is None:
            raise ModuleError(f"groups: the parameter {name!r} matches no group's pattern; "
                              "add a pattern for it (a last group '.*' takes the rest)")
    for k, (group, pattern) in enumerate(groups):
        if k not in found:
            hit = [n for n in names if re.search(pattern, n)]
            why = (f"matches only {_listed(hit)}, taken by earlier groups" if hit else
                   f"matches no parameter (they are {_listed(names)})")
            raise ModuleError(f"groups.{group}: the pattern {pattern!r} {why}; fix the "
                              "pattern or remove the group")
    return Layout(tuple(g for g, _ in groups), tuple(names), tuple(found), numel)


def regex_problems(groups: object) -> list[str]:
    """What is wrong with a groups table short of building the network: its form,
    duplicate names, patterns that do not compile. Torch-free."""
    form = "groups: give (name, regex) pairs, e.g. (('body', '^conv'), ('head', '.*'))"
    if not isinstance(groups, tuple) or not groups:
        return [f"{form}; got {groups!r}"]
    out, seen = [], set()
    for pair in groups:
        if not (isinstance(pair, tuple) and len(pair) == 2
                and all(isinstance(v, str) for v in pair) and pair[0]):
            return [f"{form}; got the entry {pair!r}"]
        name, pattern = pair
        if name in seen:
            out.append(f"groups.{name}: the group is named twice; give each group one name")
        seen.add(name)
        try:
            re.compile(pattern)
        except re.error as err:
            out.append(f"groups.{name}: the pattern {pattern!r} does not compile ({err}); "
                       "fix the regular expression")
    return out


@lru_cache(maxsize=64)
def setting_layout(setting: Setting) -> Layout:
    """The layout of ``setting``'s network, built once per process (seed 0, float32:
    the groups and sizes do not depend on either)."""
    import torch

    return layout(build(setting, 0, torch.float32), setting.groups)


def _first_match(name: str, groups: tuple[tuple[str, str], ...]) -> int | None:
    return next((k for k, (_, pattern) in enumerate(groups) if re.search(pattern, name)),
                None)


def _listed(names: list[str], most: int = 8) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")

"""Network families: each one folder, all behind one torch-free registry.

``REGISTRY`` maps a family's name to the module whose ``FAMILY`` describes it (a
:class:`~layerlr.families.protocol.Family`); :func:`family` imports it on first use.
The modules named here import no torch: a study file is checked, and its cells sized,
without it. Adding a family is one folder and one line here.
"""

from __future__ import annotations

import importlib
from functools import cache

from layerlr.families.protocol import Draws, Dynamics, Family

REGISTRY = {
    "matrix": "layerlr.families.matrix",  # SPEC 1: x^T W1 W2 / h
    "readout": "layerlr.families.readout",  # SPEC 1: x^T W1 ... W_K a / sqrt(h)
    "mlp": "layerlr.families.mlp",  # SPEC 10: the readout network with activations
    "module": "layerlr.families.module",  # SPEC 13: any torch network, on any data
}
FAMILIES = tuple(REGISTRY)


@cache
def family(name: str) -> Family:
    """The family called ``name``; KeyError naming the known ones for any other."""
    if name not in REGISTRY:
        raise KeyError(f"family: {name!r} is not one of {list(FAMILIES)}")
    return importlib.import_module(REGISTRY[name]).FAMILY


__all__ = ["FAMILIES", "REGISTRY", "Draws", "Dynamics", "Family", "family"]

"""Names of a package imported on first use (PEP 562), so that importing the package
costs nothing until a name is needed."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_names(package: str, where: dict[str, str]
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` for ``package``: each name of ``where``
    (name -> the module that defines it) is imported at its first use and kept."""
    names = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = names[name] = getattr(importlib.import_module(where[name]), name)
        return value

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__

"""The user's functions named by a setting: ``"FILE.py:fn"`` or ``"package.module:fn"``
(SPEC 13: the ``module`` builder and the ``data`` loader).

A file is named by an absolute path (the study layer resolves relative ones against the
study file's folder before a :class:`~layerlr.setting.Setting` is built); it is imported
once per process under a name derived from its path, so a Ray worker on a node that
shares the study's directory imports the same file. Every failure is a
:class:`ModuleError` whose message is one line naming the key, the function and what
went wrong. Torch-free.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


class ModuleError(ValueError):
    """A module-family setting that cannot run: one line, "key: what failed and the fix"."""


@dataclass(frozen=True)
class Reference:
    """A function named by a setting: in a file (``path``) or in an importable module."""

    key: str  # the setting's field: "module" or "data"
    text: str  # as written
    path: str | None  # absolute path of a .py file
    package: str | None  # dotted name of an importable module
    function: str

    @property
    def short(self) -> str:
        """A short name for cell names: the file's stem or the module's last part, and
        the function unless it is the conventional one (``build``, ``load``)."""
        stem = Path(self.path).stem if self.path else self.package.rsplit(".", 1)[-1]
        return stem if self.function in ("build", "load") else f"{stem}.{self.function}"

    def __str__(self) -> str:
        return f"{self.path or self.package}:{self.function}"


def parse(key: str, text: object) -> Reference | str:
    """``text`` as a :class:`Reference`, or the one-line problem with it."""
    form = f"{key}: give \"FILE.py:function\" or \"package.module:function\""
    if not isinstance(text, str) or text.count(":") < 1:
        return f"{form}, got {text!r}"
    where, _, function = text.rpartition(":")
    if not function.isidentifier():
        return f"{form}; {function!r} (after the last ':') is not a function name"
    if where.endswith(".py"):
        if not Path(where).is_absolute():
            return (f"{key}: {where!r} is a relative path; give an absolute one (a study "
                    "file's relative paths are resolved against its folder)")
        return Reference(key, text, where, None, function)
    if not DOTTED.fullmatch(where):
        return f"{form}; {where!r} is neither a .py file nor a dotted module name"
    return Reference(key, text, None, where, function)


def problems(key: str, text: object) -> list[str]:
    """What is wrong with ``text`` short of importing it: its form, a missing file."""
    ref = parse(key, text)
    if isinstance(ref, str):
        return [ref]
    if ref.path is not None and not Path(ref.path).is_file():
        return [f"{key}: the file {ref.path} does not exist (on {_host()}); check the path"]
    return []


def resolve(ref: Reference) -> Callable[..., Any]:
    """Import the function ``ref`` names. ModuleError: a missing file or module, an
    import that raised, no such function, or something that cannot be called."""
    owner = _import(ref.path, ref.package, ref.key)
    fn = getattr(owner, ref.function, None)
    if fn is None:
        where = ref.path or ref.package
        return _fail(f"{ref.key}: {where} has no function {ref.function!r}; "
                     f"define {ref.function}() there or name another one")
    if not callable(fn):
        return _fail(f"{ref.key}: {ref} is a {type(fn).__name__}, not a function")
    return fn


def call(ref: Reference, **kwargs: Any) -> Any:
    """``ref``'s function called with ``kwargs``; its exception becomes a ModuleError
    naming the call and showing the function's own message."""
    fn = resolve(ref)
    try:
        return fn(**kwargs)
    except Exception as err:
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise ModuleError(f"{ref.key}: {ref.function}({args}) from {ref.path or ref.package} "
                          f"raised {type(err).__name__}: {one_line(err)}") from err


def one_line(err: BaseException) -> str:
    """An exception's message on one line."""
    text = " ".join(str(err).split())
    return text[:300] + ("..." if len(text) > 300 else "")


@cache
def _import(path: str | None, package: str | None, key: str) -> Any:
    """The module of a file (imported once per process) or a dotted name."""
    if package is not None:
        try:
            return importlib.import_module(package)
        except ModuleNotFoundError as err:
            if err.name and package.startswith(err.name):
                _fail(f"{key}: no module named {err.name!r} can be imported (on {_host()}); "
                      "install it, or name a FILE.py by its path")
            _fail(f"{key}: importing {package} raised ModuleNotFoundError: {one_line(err)}")
        except Exception as err:
            _fail(f"{key}: importing {package} raised {type(err).__name__}: {one_line(err)}")
    if not Path(path).is_file():
        _fail(f"{key}: the file {path} does not exist (on {_host()}); check the path (on "
              "a cluster every node must see the study's folder at the same path)")
    name = "layerlr_user_" + hashlib.sha1(path.encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    owner = importlib.util.module_from_spec(spec)
    sys.modules[name] = owner  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(owner)
    except Exception as err:
        del sys.modules[name]
        _fail(f"{key}: importing {path} raised {type(err).__name__}: {one_line(err)}")
    return owner


def _fail(message: str) -> Any:
    raise ModuleError(message) from None


def _host() -> str:
    import socket

    return socket.gethostname()

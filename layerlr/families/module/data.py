"""One seed's data for the module family (SPEC 13): ``load(seed=s)``, checked.

``setting.data`` is a built-in name (:mod:`.datasets`) or a reference to the user's
``load``. Whatever it returns, (X_train, y_train, X_test, y_test) as tensors, numpy
arrays or nested lists, is checked here and turned into tensors:

- inputs: floating (cast to the study's dtype) or integer (token ids, kept as int64);
  at least one row each, the same row shape in both sets, no NaN or infinity;
- ``cross_entropy`` labels: 1-D integers, one per row, in 0 ... o-1 for a network of o
  outputs (checked by :func:`outputs`);
- ``mse`` labels: (rows,) or (rows, o) numbers without NaN, cast to the dtype and kept
  as (rows, o).

Every failure is a :class:`~.imports.ModuleError` naming ``data`` (or ``module``, for
the network's outputs) and the call, in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from layerlr.families.module.datasets import BUILTIN
from layerlr.families.module.imports import ModuleError, call, one_line, parse

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn

    from layerlr.setting import Setting

NAMES = ("X_train", "y_train", "X_test", "y_test")


@dataclass
class Data:
    """One seed's checked rows: x (n, ...), y (n,) int64 or (n, o), and the held-out
    x_test (m, ...), y_test."""

    x: Tensor
    y: Tensor
    x_test: Tensor
    y_test: Tensor


def source(setting: Setting, seed: int) -> str:
    """How the rows were asked for, as error messages name it."""
    if setting.data in BUILTIN:
        return f"the built-in {setting.data!r} data (seed {seed})"
    ref = parse("data", setting.data)
    if isinstance(ref, str):
        return f"{setting.data!r} (seed {seed})"
    return f"{ref.function}(seed={seed}) from {ref.path or ref.package}"


@lru_cache(maxsize=16)
def raw(data: str, seed: int) -> Any:
    """What ``data``'s load returns for ``seed``, kept for the checks and the draws of
    the same process (a user's loader runs once per seed)."""
    if data in BUILTIN:
        return BUILTIN[data](seed)
    ref = parse("data", data)
    if isinstance(ref, str):
        raise ModuleError(ref)
    return call(ref, seed=seed)


def load(setting: Setting, seed: int, dtype: torch.dtype) -> Data:
    """Seed ``seed``'s rows, checked (see the module docstring)."""
    import torch

    rows, where = raw(setting.data, seed), source(setting, seed)
    if not isinstance(rows, (tuple, list)) or len(rows) != 4:
        size = f" of {len(rows)}" if isinstance(rows, (tuple, list)) else ""
        _fail(f"{where} must return (X_train, y_train, X_test, y_test), got a "
              f"{type(rows).__name__}{size}")
    t = {}
    for name, value in zip(NAMES, rows):
        try:
            t[name] = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as err:
            _fail(f"{name} of {where} is a {type(value).__name__}, not a tensor or array "
                  f"({one_line(err)})")
    x, x_test = (_inputs(t[k], k, where, dtype) for k in ("X_train", "X_test"))
    if x.shape[1:] != x_test.shape[1:]:
        _fail(f"X_test of {where} has rows of shape {tuple(x_test.shape[1:])} but "
              f"X_train {tuple(x.shape[1:])}; both sets need the same row shape")
    if x.dtype != x_test.dtype:
        _fail(f"X_test of {where} has dtype {t['X_test'].dtype} but X_train "
              f"{t['X_train'].dtype}; give both floating, or both integer")
    ys = []
    for inputs, name in ((x, "y_train"), (x_test, "y_test")):
        ys.append(_labels(t[name], name, inputs.shape[0], where, setting.loss, dtype))
    if ys[0].shape[1:] != ys[1].shape[1:]:
        _fail(f"y_test of {where} has {tuple(ys[1].shape[1:])} per row but y_train "
              f"{tuple(ys[0].shape[1:])}")
    return Data(x, ys[0], x_test, ys[1])


def outputs(net: nn.Module, data: Data, setting: Setting, seed: int) -> int:
    """o, the network's outputs per row, checked against the labels of ``data``:
    classes for cross_entropy (every label in 0 ... o-1), label columns for mse."""
    import torch

    where = source(setting, seed)
    try:
        with torch.no_grad():
            out = net(data.x[:2])
    except Exception as err:
        raise ModuleError(f"module: the network raised {type(err).__name__} on two rows of "
                          f"X_train of {where}: {one_line(err)}") from err
    if not isinstance(out, torch.Tensor):
        _fail(f"the network returned a {type(out).__name__}, not a tensor", "module")
    rows = min(2, data.x.shape[0])
    if out.ndim == 0 or out.shape[0] != rows:
        _fail(f"the network maps {rows} rows to an output of shape {tuple(out.shape)}; "
              "it must keep the rows first", "module")
    if setting.loss == "cross_entropy":
        if out.ndim != 2 or out.shape[1] < 2:
            _fail(f"cross_entropy needs (rows, classes) outputs, got {tuple(out.shape)} "
                  "for 2 rows", "module")
        classes = out.shape[1]
        for name, y in (("y_train", data.y), ("y_test", data.y_test)):
            low, high = int(y.min()), int(y.max())
            if low < 0 or high >= classes:
                _fail(f"labels of {name} of {where} run from {low} to {high}, but the "
                      f"network has {classes} outputs (classes 0 to {classes - 1}); fix "
                      "the labels or the network's last layer")
        return classes
    columns = out.reshape(rows, -1).shape[1]
    if columns != data.y.shape[1]:
        _fail(f"the network gives {columns} outputs per row but y_train of {where} has "
              f"{data.y.shape[1]} per row", "module")
    return columns


def _inputs(x: Tensor, name: str, where: str, dtype: torch.dtype) -> Tensor:
    import torch

    if x.ndim == 0 or x.shape[0] == 0:
        _fail(f"{name} of {where} has no rows (shape {tuple(x.shape)})")
    if x.is_floating_point():
        _finite(x, name, where)
        return x.to(dtype)
    if x.dtype == torch.bool or x.is_complex():
        _fail(f"{name} of {where} has dtype {x.dtype}; give floating inputs, or integer "
              "token ids")
    return x.long()


def _labels(y: Tensor, name: str, rows: int, where: str, loss: str,
            dtype: torch.dtype) -> Tensor:
    import torch

    if y.ndim == 0 or y.shape[0] != rows:
        x_name = "X" + name[1:]
        _fail(f"{name} of {where} has shape {tuple(y.shape)}, but {x_name} has {rows} "
              f"rows; give one label per row")
    if loss == "cross_entropy":
        if y.is_floating_point() or y.is_complex() or y.ndim != 1 or y.dtype == torch.bool:
            _fail(f"cross_entropy needs {name} of {where} to hold integer class labels, "
                  f"one per row (shape ({rows},)), got dtype {y.dtype} and shape "
                  f"{tuple(y.shape)}; use loss = 'mse' for numeric targets")
        return y.long()
    if y.ndim > 2 or y.is_complex():
        _fail(f"mse needs {name} of shape ({rows},) or ({rows}, outputs), got "
              f"{tuple(y.shape)} ({y.dtype})")
    y = y.to(dtype)
    _finite(y, name, where)
    return y.reshape(rows, -1)


def _finite(t: Tensor, name: str, where: str) -> None:
    import torch

    bad = ~torch.isfinite(t.reshape(t.shape[0], -1)).all(1)
    if bad.any():
        row = int(bad.nonzero()[0, 0])
        _fail(f"{name} of {where} holds NaN or infinity ({int(bad.sum())} rows, the first "
              f"is row {row}); clean or drop those rows")


def _fail(message: str, key: str = "data") -> None:
    raise ModuleError(f"{key}: {message}") from None

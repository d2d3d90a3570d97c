"""The draws of the module family (SPEC 13): every seed's network and data, stacked.

Seed s: its network (:func:`~.network.build`, the module's own init under
``torch.manual_seed(s)``), its rows ``load(seed=s)`` (:func:`~.data.load`), and the
surrogate's per-row output gradients g_i = dl/df at f = 0: -y_i for ``mse``,
1/o - e_{y_i} for ``cross_entropy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from layerlr.families.module import data as rows
from layerlr.families.module import network
from layerlr.families.module.imports import ModuleError

if TYPE_CHECKING:
    from layerlr.setting import Setting

CPU_PASS_FLOATS = 2**21  # activations of one pass without gradient on the CPU (8 MiB f32)


@dataclass
class ModuleDraw:
    """S seeds' networks and data, stacked along a leading seed axis.

    ``net`` is the first seed's network: :func:`torch.func.functional_call` runs it with
    each seed's (and schedule's) tensors, its own are never read.
    """

    net: nn.Module
    params: dict[str, Tensor]  # trained parameters at init, (S, *shape)
    fixed: dict[str, Tensor]  # buffers and untrained parameters, (S, *shape)
    group: dict[str, int]  # the group (0 ... K-1) of each trained parameter
    x: Tensor  # (S, n, ...) training inputs (study dtype, or int64 token ids)
    y: Tensor  # (S, n) int64 classes (cross_entropy) or (S, n, o) targets (mse)
    x_test: Tensor  # (S, m, ...) held-out inputs
    y_test: Tensor  # (S, m) or (S, m, o)
    signal: Tensor  # (S, n, o) the surrogate's g_i = dl/df at f = 0 per training row
    seed_ids: list[int]
    loss: str  # "mse" | "cross_entropy"
    optimizer: str  # "sgd" | "adam"
    batch_size: int | None  # rows per step; None: all n
    outputs: int  # o: classes (cross_entropy) or targets per row (mse)
    pass_schedules: int  # schedules per pass without gradient (1: network by network, no
    # vmap; see :func:`pass_schedules`)

    @property
    def seeds(self) -> int:
        return self.x.shape[0]

    @property
    def device(self) -> torch.device:
        return self.signal.device

    @property
    def itemsize(self) -> int:
        return self.signal.element_size()

    @property
    def rows(self) -> int:
        """n, the training rows."""
        return self.x.shape[1]


def draw(
    setting: Setting,
    seeds: list[int],
    protocol: str = "native",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
) -> ModuleDraw:
    """Every seed's network and checked data (see :class:`ModuleDraw` for shapes).
    ModuleError: anything :mod:`.network` or :mod:`.data` refuses, or networks / data
    whose shapes differ between seeds."""
    if protocol != "native":
        raise ModuleError(
            f"protocol: the module family's init is the module's own under "
            f"torch.manual_seed(seed) (SPEC 13); use protocol = 'native', "
            f"not {protocol!r}"
        )
    nets = [network.build(setting, s, dtype) for s in seeds]
    layout = network.layout(nets[0], setting.groups)
    data = [rows.load(setting, s, dtype) for s in seeds]
    outputs = [rows.outputs(nets[0], d, setting, s) for d, s in zip(data, seeds)]
    outputs = outputs[0]  # the same network: the same outputs (every seed's labels checked)
    _same_shapes(nets, data, seeds, setting)
    batch = setting.batch_size
    if batch is not None and batch > data[0].x.shape[0]:
        raise ModuleError(
            f"batch_size: {batch} rows per step, but {rows.source(setting, seeds[0])} "
            f"has {data[0].x.shape[0]} training rows; lower batch_size"
        )
    trained = set(layout.params)

    def stack(tensors: list[Tensor]) -> Tensor:
        t = torch.stack([v.detach() for v in tensors])
        return t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)

    states = [dict(n.named_parameters()) | dict(n.named_buffers()) for n in nets]
    params = {k: stack([s[k] for s in states]) for k in layout.params}
    fixed = {k: stack([s[k] for s in states]) for k in states[0] if k not in trained}
    x, y, x_test, y_test = (
        stack([getattr(d, k) for d in data]) for k in ("x", "y", "x_test", "y_test")
    )
    return ModuleDraw(
        nets[0].to(device),
        params,
        fixed,
        dict(zip(layout.params, layout.group)),
        x,
        y,
        x_test,
        y_test,
        signal(y, setting.loss, outputs, dtype),
        list(seeds),
        setting.loss,
        setting.optimizer,
        batch,
        outputs,
        pass_schedules(setting, len(seeds), x.shape[1], torch.device(device)),
    )


def pass_schedules(setting: Setting, seeds: int, rows: int, device: torch.device) -> int:
    """Schedules per pass without gradient (the losses on all training or held-out rows).

    On a GPU, all of them. On the CPU, as many as keep the activations of one pass near
    :data:`CPU_PASS_FLOATS`, and where that is one, the passes go network by network
    without vmap: these passes are as large as a per-schedule loop's own, a pass over
    many networks at once streams its activations through memory where one network's
    stay in the caches, and vmap turns convolutions into grouped ones, which the CPU runs
    slower (measured, MNIST-1D CNN on 4,000 rows: 1.9 times the time of one by one)."""
    if device.type != "cpu":
        return 2**31
    from layerlr.families.module.memory import probe

    kept = max(probe(setting).per_row, 1.0) * rows * seeds
    return max(1, int(CPU_PASS_FLOATS // kept))


def signal(y: Tensor, loss: str, outputs: int, dtype: torch.dtype) -> Tensor:
    """g_i = dl(f, y_i)/df at f = 0 (SPEC 13), (S, n, o): -y_i for mse; for
    cross_entropy softmax(0) - e_{y_i} = 1/o - e_{y_i}."""
    if loss == "mse":
        return -y
    onehot = torch.nn.functional.one_hot(y, outputs).to(dtype)
    return 1.0 / outputs - onehot


def _same_shapes(
    nets: list[nn.Module], data: list[rows.Data], seeds: list[int], setting: Setting
) -> None:
    """Every seed's network and rows must have the first seed's shapes (they are stacked)."""

    def shapes(net: nn.Module) -> dict[str, tuple]:
        return {k: tuple(v.shape) for k, v in (*net.named_parameters(), *net.named_buffers())}

    for net, d, s in zip(nets[1:], data[1:], seeds[1:]):
        if shapes(net) != shapes(nets[0]):
            raise ModuleError(
                f"module: the networks of seeds {seeds[0]} and {s} have "
                "different parameters; build() must make the same network "
                "for every seed"
            )
        for k in ("x", "y", "x_test", "y_test"):
            a, b = getattr(data[0], k), getattr(d, k)
            if a.shape != b.shape:
                raise ModuleError(
                    f"data: {rows.source(setting, s)} gives {k} of shape "
                    f"{tuple(b.shape)}, but {rows.source(setting, seeds[0])} "
                    f"{tuple(a.shape)}; every seed needs the same shapes"
                )

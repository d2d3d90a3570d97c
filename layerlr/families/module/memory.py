"""The memory an evaluation of the module family needs (SPEC 13), from a probe of the
network.

The network's activations cannot be read from a formula, so they are measured once per
setting: seed 0's network runs a forward pass and its loss on a few rows of seed 0's
data under ``torch.autograd.graph.saved_tensors_hooks``, which sees every tensor
autograd keeps for the backward pass. Two row counts give the elements kept per row and
those kept whatever the rows (the weights). From these, for r rows, ``saved(r)``; one
copy of the network (one seed, one schedule) needs, beside its state,

- a gradient pass on the r rows of a step: three times ``saved(r)`` (the kept
  activations, their gradients in the backward pass, and the convolutions' unfolded
  inputs), plus the input rows;
- a pass without gradient on the m held-out rows (and, with mini-batches, on the n
  training rows): four times the largest tensor kept per row (an operation's input
  and output beside the tensors a residual network keeps), at most ``saved``.

The passes without gradient are counted once per schedule, as a GPU runs them; the CPU
runs them network by network when they are large (:func:`~.draws.pass_schedules`), so
there the estimate is conservative. Measured (tests/families/test_module_memory.py):
the growth of the resident set during an evaluation stays within this estimate, at 0.6
of it for the MNIST-1D CNN on full batches, 0.2 for the transformer on mini-batches.

The state: the parameters, the gradient and the next parameters (SGD), plus Adam's two
moments and their successors, and two parameter-sized temporaries of the update.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from layerlr.setting import Setting

PROBE_ROWS = (2, 6)  # the two row counts of the probe
GRADIENT_PASS = 3  # a gradient pass holds up to 3 x the kept activations (see above)
LIVE = 4  # a pass without gradient holds up to 4 x the largest activation


@dataclass(frozen=True)
class Probe:
    """Sizes of a setting's network and data, in elements (floats, or int64 where
    marked), for one seed."""

    params: int  # P, trained
    fixed: int  # buffers and untrained parameters
    rows: int  # n, training rows
    held_out: int  # m
    row_floats: int  # floating elements of one input row (0 for token ids)
    row_ints: int  # int64 elements of one input row (token ids)
    outputs: int  # o
    per_row: float  # elements autograd keeps per row
    base: float  # elements autograd keeps whatever the rows
    largest: float  # elements per row of the largest tensor autograd keeps


@lru_cache(maxsize=64)
def probe(setting: Setting) -> Probe:
    """Measure ``setting``'s network on seed 0's data (builds and loads: torch)."""
    import torch

    from layerlr.families.module import data, network

    net = network.build(setting, 0, torch.float32)
    rows = data.load(setting, 0, torch.float32)
    outputs = data.outputs(net, rows, setting, 0)
    used = [min(r, rows.x.shape[0]) for r in PROBE_ROWS]
    kept = [_kept(net, rows, setting.loss, r) for r in used]
    counts = [sum(k) for k in kept]
    per_row = (counts[1] - counts[0]) / (used[1] - used[0]) if used[1] > used[0] else counts[1]
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    fixed = sum(p.numel() for p in net.parameters() if not p.requires_grad)
    fixed += sum(b.numel() for b in net.buffers())
    row = rows.x[0].numel()
    floating = rows.x.is_floating_point()
    return Probe(params, fixed, rows.x.shape[0], rows.x_test.shape[0],
                 row if floating else 0, 0 if floating else row, outputs,
                 max(per_row, 0.0), max(counts[0] - per_row * used[0], 0.0),
                 max(kept[1]) / used[1])


def footprint(setting: Setting, seeds: int, itemsize: int) -> tuple[int, int]:
    """(bytes shared by a cell's schedules, bytes of one schedule), all ``seeds`` seeds.

    Shared: the data, the initial parameters and the fixed tensors, and the per-seed
    work of both runs (GD and the surrogate): step 1's direction and Adam's moments,
    and the gradient pass that makes them. Per schedule: see the module docstring.
    """
    p = probe(setting)
    adam = setting.optimizer == "adam"
    r = p.rows if setting.batch_size is None else setting.batch_size

    def saved(rows: int) -> float:
        return p.base + p.per_row * rows

    def live(rows: int) -> float:  # a pass without gradient
        return min(saved(rows), LIVE * p.largest * rows + p.base)

    def inputs(rows: int) -> float:  # in floats: int64 ids count as 8 / itemsize each
        return rows * (p.row_floats + p.row_ints * 8 / itemsize)

    state = p.params * ((7 if adam else 3) + 2)
    passes = max(GRADIENT_PASS * saved(r) + inputs(r), live(p.held_out),
                 live(p.rows) if setting.batch_size is not None else 0.0)
    per_schedule = (state + passes) * seeds * itemsize
    data = inputs(p.rows + p.held_out) + (p.rows + p.held_out) * (p.outputs + 1)
    data += p.rows * p.outputs  # the surrogate's g_i
    work = 2 * p.params * (3 if adam else 1) + p.params + GRADIENT_PASS * saved(r) + inputs(r)
    shared = (data + p.params + p.fixed + work) * seeds * itemsize
    return int(shared), int(per_schedule)


def _kept(net, rows, loss: str, count: int) -> list[int]:
    """Elements of each tensor autograd keeps for the backward pass of the loss on
    ``count`` rows (each storage once: a tensor kept by two operations counts once)."""
    import torch
    import torch.nn.functional as F

    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.numel():
            seen[(t.untyped_storage().data_ptr(), t.storage_offset())] = t.numel()
        return t

    x, y = rows.x[:count], rows.y[:count]
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        f = net(x)
        if loss == "cross_entropy":
            F.cross_entropy(f, y)
        else:
            (f.reshape(y.shape) - y).square().sum()
    return list(seen.values()) or [0]

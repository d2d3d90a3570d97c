"""Every loss of the batched module family equals a plain per-schedule torch.optim loop
(SPEC 13), to 1e-6 relative in float64.

The reference here is what a user would write: for each seed, ``torch.manual_seed(s)``
then ``build``; for each schedule, ``torch.optim.SGD`` or ``torch.optim.Adam`` with one
parameter group per layer group and its rate set before each step; ``loss.backward()``
and ``opt.step()``; the losses measured after each step. The surrogate's reference
descends the linearised loss written out below. Nothing of the engine is used but the
built-in loaders' rows (the data, not a result).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from layerlr import Setting, evaluate
from layerlr.families.module import datasets
from layerlr.zoo import mnist1d_cnn, mnist1d_mlp, transformer

USER = Path(__file__).with_name("user_network.py")


def user_module():
    spec = importlib.util.spec_from_file_location("user_network_reference", USER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows_of(data, seed):
    """The raw rows: a built-in loader or the user's, as plain float64 / int64 tensors."""
    if data in datasets.BUILTIN:
        out = datasets.BUILTIN[data](seed)
    else:
        out = getattr(user_module(), data.rsplit(":", 1)[1])(seed)
    x, y, xt, yt = (torch.as_tensor(v) for v in out)
    x, xt = ((v.double() if v.is_floating_point() else v) for v in (x, xt))
    return x, y, xt, yt


def batch_stream(seed, n, b, steps):
    """SPEC 13's fixed per-seed batch sequence, as the engine documents it: the t-th
    block of b rows of successive torch.randperm(n) draws from a generator seeded
    with (seed + 0x9E3779B9) mod 2^63."""
    g = torch.Generator().manual_seed((seed + 0x9E3779B9) % 2**63)
    stream = []
    while len(stream) < steps * b:
        stream += torch.randperm(n, generator=g).tolist()
    return [stream[t * b : (t + 1) * b] for t in range(steps)]


def default_groups(net):
    """One group per direct child holding parameters; the network's own first."""
    own = [p for name, p in net.named_parameters(recurse=False)]
    groups = [own] if own else []
    return groups + [list(c.parameters()) for c in net.children() if list(c.parameters())]


def reference(build, data, loss, optimizer, batch, seed, rates, groups, signal_only, width, depth):
    """One seed, one schedule ``rates`` (T, K): the losses after each step."""
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(seed)
        net = build(width=width, depth=depth)
    finally:
        torch.set_default_dtype(torch.float32)
    x, y, xt, yt = rows_of(data, seed)
    if loss == "mse":
        y, yt = y.double().reshape(len(y), -1), yt.double().reshape(len(yt), -1)
    chosen = (
        default_groups(net)
        if groups is None
        else [[dict(net.named_parameters())[n] for n in names] for names in groups]
    )
    param_groups = [{"params": ps, "lr": 0.0} for ps in chosen]
    opt = (
        torch.optim.SGD(param_groups, lr=0.0)
        if optimizer == "sgd"
        else torch.optim.Adam(param_groups, lr=0.0, betas=(0.9, 0.999), eps=1e-8)
    )
    steps = rates.shape[0]
    order = batch_stream(seed, len(x), batch, steps) if batch else [list(range(len(x)))] * steps

    def task(f, target):
        if loss == "cross_entropy":
            return -f.log_softmax(-1).gather(1, target[:, None]).mean()
        return 0.5 * (f.reshape(target.shape) - target).square().sum() / len(target)

    out = []
    for t in range(steps):
        for k, group in enumerate(opt.param_groups):
            group["lr"] = float(rates[t, k])
        opt.zero_grad()
        rows = torch.tensor(order[t])
        f = net(x[rows])
        if signal_only:  # <g_i, f(x_i)> with g_i = dl/df at f = 0
            if loss == "mse":
                g = -y[rows]
            else:
                g = 1 / f.shape[1] - F.one_hot(y[rows], f.shape[1]).double()
            objective = (g * f.reshape(g.shape)).sum() / len(rows)
        else:
            objective = task(f, y[rows])
        objective.backward()
        opt.step()
        with torch.no_grad():
            ft = net(xt)
            row = {"train": float(task(net(x), y)), "held_out": float(task(ft, yt))}
            if loss == "cross_entropy":
                row["accuracy"] = float((ft.argmax(1) == yt).double().mean())
        out.append(row)
    return out


CASES = {
    "mlp-mnist1d-sgd-full": {
        "module": "layerlr.zoo.mnist1d_mlp:build",
        "build": mnist1d_mlp.build,
        "data": "mnist1d",
        "width": 6,
        "depth": 3,
        "optimizer": "sgd",
        "scale": 0.5,
    },
    "cnn-mnist1d-adam-batch": {
        "module": "layerlr.zoo.mnist1d_cnn:build",
        "build": mnist1d_cnn.build,
        "data": "mnist1d",
        "width": 3,
        "depth": 3,
        "optimizer": "adam",
        "batch_size": 50,
        "scale": 0.02,
    },
    "cnn-mnist1d-sgd-batch": {
        "module": "layerlr.zoo.mnist1d_cnn:build",
        "build": mnist1d_cnn.build,
        "data": "mnist1d",
        "width": 3,
        "depth": 2,
        "optimizer": "sgd",
        "batch_size": 64,
        "scale": 0.5,
    },
    "transformer-adam-batch": {
        "module": "layerlr.zoo.transformer:build",
        "build": transformer.build,
        "data": f"{USER}:load_pairs",
        "width": 8,
        "depth": 2,
        "optimizer": "adam",
        "batch_size": 64,
        "loss": "cross_entropy",
        "scale": 0.01,
    },
    "transformer-sgd-full": {
        "module": "layerlr.zoo.transformer:build",
        "build": transformer.build,
        "data": f"{USER}:load_pairs",
        "width": 4,
        "depth": 1,
        "optimizer": "sgd",
        "loss": "cross_entropy",
        "scale": 1.0,
    },
    "user-mse-sgd-batch-groups": {
        "module": f"{USER}:build",
        "build": "build",
        "data": f"{USER}:load",
        "loss": "mse",
        "width": 5,
        "depth": 3,
        "optimizer": "sgd",
        "batch_size": 7,
        "scale": 0.3,
        "groups": (("input", r"^scale$|^body\.0\."), ("hidden", r"^body\."), ("out", ".*")),
        "names": [
            ["scale", "body.0.weight", "body.0.bias"],
            ["body.2.weight", "body.2.bias"],
            ["head.weight", "head.bias"],
        ],
    },
    "user-mse-adam-full-default-groups": {
        "module": f"{USER}:build_one",
        "build": "build_one",
        "data": f"{USER}:load_1d",
        "loss": "mse",
        "width": 4,
        "depth": 2,
        "optimizer": "adam",
        "scale": 0.05,
    },
    "user-digits-cross-entropy-sgd-batch": {
        "module": f"{USER}:build_digits",
        "build": "build_digits",
        "data": "digits",
        "width": 5,
        "depth": 2,
        "optimizer": "sgd",
        "batch_size": 100,
        "scale": 0.5,
    },
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_loss_equals_a_per_schedule_torch_optim_loop(name):
    case = dict(CASES[name])
    build = case.pop("build")
    build = getattr(user_module(), build) if isinstance(build, str) else build
    scale, names = case.pop("scale"), case.pop("names", None)
    setting = Setting(family="module", **case)
    seeds, steps, k = [3, 11], 3, setting.layers
    rates = scale * torch.rand(
        2, steps, k, dtype=torch.float64, generator=torch.Generator().manual_seed(len(name))
    )
    rates[1, 0, 0] = 0.0  # a group held still at step 1
    ev = evaluate(setting, rates, seeds, dtype=torch.float64)
    ce = setting.loss == "cross_entropy"
    assert set(ev.metrics) == {"accuracy"}
    for si, seed in enumerate(seeds):
        for b in range(rates.shape[0]):
            args = (
                build,
                setting.data,
                setting.loss,
                setting.optimizer,
                setting.batch_size,
                seed,
                rates[b],
                names,
            )
            gd = reference(*args, False, setting.width, setting.depth)
            sur = reference(*args, True, setting.width, setting.depth)
            for t in range(steps):
                got = {k: ev.losses[k][si, b, t].item() for k in ev.losses}
                want = {
                    "train": gd[t]["train"],
                    "population": gd[t]["held_out"],
                    "empirical": gd[t]["held_out"],
                    "surrogate": sur[t]["held_out"],
                }
                for key, value in want.items():
                    assert got[key] == pytest.approx(value, rel=1e-6, abs=0), (key, si, b, t)
                accuracy = ev.metrics["accuracy"][si, b, t].item()
                if ce:
                    assert accuracy == pytest.approx(gd[t]["accuracy"], rel=1e-6, abs=0)
                else:
                    assert math.isnan(accuracy)  # no accuracy for a regression
    assert ev.losses["train"][:, :, -1].ne(ev.losses["train"][:, :, 0]).all()  # it moved

"""The mlp family (SPEC 10) against plain autograd, one schedule and one seed at a time.

The reference below is written independently of layerlr.families.mlp: torch's own activations,
autograd for every gradient, labels and standardisation redone from the raw draws (and
from scikit-learn's rows for real data), float64.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from layerlr import Setting, evaluate
from layerlr.engine import LOSSES
from layerlr.families import family
from layerlr.families.linear.draws import raw_draws
from layerlr.families.mlp import POPULATION
from layerlr.families.mlp.draws import draw as draw_mlp
from layerlr.families.mlp.draws import raw_mlp

memory = family("mlp").footprint

ACT = {"relu": torch.relu, "tanh": torch.tanh, "gelu": F.gelu, "linear": lambda x: x}
SEEDS = [4, 9]


def net(x, weights, a, activation):
    z = x
    for w in weights:
        z = ACT[activation](z @ w)
    return z @ a / math.sqrt(a.shape[0])


def reference_data(setting, raw):
    """Training rows and labels, test rows and labels, and the population loss as a
    function of the network f, built from the raw draws by hand."""
    f64 = {k: (v.double() if isinstance(v, torch.Tensor) else v) for k, v in raw.items()}
    noise = f64["noise"][:, 0]
    if setting.real:
        from sklearn import datasets

        x, y = getattr(datasets, f"load_{setting.data}")(return_X_y=True)
        x, y = torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
        test, train = raw["order"][:setting.test_size], raw["order"][setting.test_size:]
        mu, sd = x[train].mean(0), x[train].std(0)
        sd[sd == 0] = 1
        xs = (x - mu) / sd
        ys = (y - y[train].mean()) / y[train].std()
        x_test, y_test = xs[test], ys[test]
        return xs[train], ys[train] + noise, x_test, y_test, \
            lambda f: float((f(x_test) - y_test).square().mean())
    if setting.target == "teacher":
        teacher = [w.double() for w in raw["teacher"]]
        t_a = raw["teacher_readout"].double()
        scale = 1 / net(f64["x_pop"], teacher, t_a, setting.activation).square().mean().sqrt()

        def target(x):
            return scale * net(x, teacher, t_a, setting.activation)
    else:
        beta = f64["beta"][:, 0]

        def target(x):
            return x @ beta
    x, x_test = f64["x"], f64["x_test"]
    if setting.activation == "linear":  # exact over x ~ N(0, I): |u - beta|^2
        eye = torch.eye(setting.d, dtype=torch.float64)
        population = lambda f: float((f(eye) - target(eye)).square().sum())  # noqa: E731
    else:
        x_pop = f64["x_pop"]
        population = lambda f: float((f(x_pop) - target(x_pop)).square().mean())  # noqa: E731
    return x, target(x) + noise, x_test, target(x_test), population


def reference_run(setting, raw, rates, signal_only=False):
    """GD (or GD on -(1/n) sum y f for the surrogate) with rates (T, K), by autograd."""
    x, y, x_test, y_test, population = reference_data(setting, raw)
    weights = [w.double().clone().requires_grad_(True) for w in raw["weights"]]
    a = raw["readout"].double()

    def f(inputs):
        return net(inputs, weights, a, setting.activation)

    out = []
    for row in torch.as_tensor(rates, dtype=torch.float64):
        loss = -(f(x) * y).mean() if signal_only else (f(x) - y).square().mean() / 2
        grads = torch.autograd.grad(loss, weights)
        with torch.no_grad():
            for w, g, eta in zip(weights, grads, row):
                w -= eta * g
            out.append({"train": float((f(x) - y).square().mean() / 2),
                        "empirical": float((f(x_test) - y_test).square().mean()),
                        "population": population(f)})
    return out


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


CASES = [
    dict(activation="relu", depth=3, width=6, d=7, n=9, target="gaussian", noise=0.2),
    dict(activation="tanh", depth=4, width=5, d=5, n=6, target="sphere", init="gaussian"),
    dict(activation="gelu", depth=2, width=6, d=6, n=8, target="teacher", data="gaussian"),
    dict(activation="relu", depth=4, width=5, d=6, n=7, target="teacher", noise=0.1),
    dict(activation="linear", depth=3, width=5, d=6, n=8, target="teacher"),
    dict(activation="tanh", depth=3, width=7, data="diabetes", init="gaussian"),
    dict(activation="gelu", depth=3, width=6, data="digits", init="gaussian", noise=0.3),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['activation']}{c['depth']}-"
                         f"{c.get('target') or c['data']}")
def test_engine_equals_autograd(case):
    setting = Setting(family="mlp", test_size=case.pop("test_size", 5), **case) \
        if "data" not in case or case["data"] in ("whitened", "gaussian") \
        else Setting(family="mlp", **case)
    g = torch.Generator().manual_seed(setting.depth)
    rates = 0.2 + 0.8 * torch.rand(2, 3, setting.layers, generator=g, dtype=torch.float64)
    ev = evaluate(setting, rates, SEEDS, dtype=torch.float64)
    for si, seed in enumerate(SEEDS):
        raw = raw_mlp(setting, seed, "native", "cpu", torch.float64)
        for b in range(rates.shape[0]):
            gd = reference_run(setting, raw, rates[b])
            sur = reference_run(setting, raw, rates[b], signal_only=True)
            for t in range(rates.shape[1]):
                for name in ("train", "population", "empirical"):
                    got = ev.losses[name][si, b, t].item()
                    assert rel(got, gd[t][name]) <= 1e-10, (name, seed, b, t)
                got = ev.losses["surrogate"][si, b, t].item()
                assert rel(got, sur[t]["population"]) <= 1e-10, ("surrogate", seed, b, t)
    assert (ev.theory.isnan()).all() and set(ev.theory_kind.ravel()) == {"absent"}


@pytest.mark.parametrize("protocol", ["native", "published"])
@pytest.mark.parametrize("depth,target,init,data", [
    (3, "sphere", "orthogonal", "whitened"), (4, "gaussian", "gaussian", "gaussian")])
def test_linear_activation_is_the_readout_family(protocol, depth, target, init, data):
    common = dict(depth=depth, width=6, d=7, n=9, target=target, init=init, data=data,
                  noise=0.25, test_size=5)
    rates = 0.3 + torch.rand(3, 4, depth - 1, dtype=torch.float64)
    lin = evaluate(Setting(family="readout", **common), rates, SEEDS, protocol=protocol)
    mlp = evaluate(Setting(family="mlp", activation="linear", **common), rates, SEEDS,
                   protocol=protocol)
    for name in LOSSES:
        torch.testing.assert_close(mlp.losses[name], lin.losses[name], rtol=1e-10, atol=0)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_published_draws_are_the_readout_familys(activation):
    """SPEC 9 for the mlp: torch.manual_seed(seed), then the readout draw order."""
    setting = Setting(family="mlp", activation=activation, depth=4, width=6, d=7, n=9)
    readout = Setting(family="readout", depth=4, width=6, d=7, n=9)
    got = raw_mlp(setting, 2021, "published", "cpu", torch.float64)
    want = raw_draws(readout, 2021, "published", "cpu", torch.float64)
    for key in ("x_test", "x", "noise", "readout", "beta"):
        assert torch.equal(got[key], want[key]), key
    assert all(torch.equal(a, b) for a, b in zip(got["weights"], want["weights"]))
    torch.manual_seed(2021)  # a plain script: the same order, then the population set
    x_test = torch.randn(setting.test_size, 7)
    assert torch.equal(x_test, got["x_test"])


def test_published_protocol_checks_seed_for_seed_against_a_plain_script():
    """A script that draws by SPEC 9's order itself and trains by autograd agrees."""
    setting = Setting(family="mlp", activation="relu", depth=3, width=8, target="sphere",
                      test_size=6)
    rates = torch.tensor([[[3.0, 1.0], [0.5, 2.0]]], dtype=torch.float64)
    ev = evaluate(setting, rates, [2020], protocol="published")
    torch.manual_seed(2020)
    h = d = n = 8
    x_test = torch.randn(6, d)
    weights = []
    for rows in (d, h):
        q, r = torch.linalg.qr(torch.randn(rows, h))
        weights.append(q * torch.where(torch.diagonal(r) >= 0, 1.0, -1.0))
    q, r = torch.linalg.qr(torch.randn(n, d))
    x = math.sqrt(n) * q * torch.where(torch.diagonal(r) >= 0, 1.0, -1.0)
    noise = torch.normal(0.0, 0.0, (n, 1))
    a = torch.normal(0.0, 1 / math.sqrt(h), (h, 1))
    beta = torch.normal(0.0, 1 / math.sqrt(h), (d, 1))
    a, beta = a / a.norm(), beta / beta.norm()
    x_pop = torch.randn(POPULATION, d)
    raw = {"x_test": x_test, "weights": weights, "x": x, "noise": noise, "readout": a[:, 0],
           "beta": beta, "x_pop": x_pop}
    gd = reference_run(setting, raw, rates[0])
    for t in range(2):
        for name in ("train", "population", "empirical"):
            assert rel(ev.losses[name][0, 0, t].item(), gd[t][name]) <= 1e-10, (name, t)


def test_real_data_split_and_sizes():
    setting = Setting(family="mlp", depth=3, width=32, data="digits", init="gaussian")
    assert (setting.d, setting.n, setting.test_size, setting.target) == (64, 1348, 449, None)
    draws = draw_mlp(setting, [0, 1])
    assert draws.x.shape == (2, 1348, 64) and draws.x_test.shape == (2, 449, 64)
    assert draws.x_pop is None and draws.beta is None
    assert not torch.equal(draws.y_test[0], draws.y_test[1])  # a split per seed
    torch.testing.assert_close(draws.y.mean(1), torch.zeros(2, dtype=torch.float64),
                               atol=1e-12, rtol=0)
    torch.testing.assert_close(draws.y.var(1), torch.ones(2, dtype=torch.float64))
    small = Setting(family="mlp", depth=2, width=8, data="diabetes", init="gaussian",
                    test_size=42)
    assert (small.d, small.n) == (10, 400)


def test_teacher_labels_have_unit_mean_square_over_the_population_inputs():
    setting = Setting(family="mlp", activation="tanh", depth=3, width=16, target="teacher")
    draws = draw_mlp(setting, [3])
    assert draws.y_pop.square().mean().item() == pytest.approx(1.0, rel=1e-12)
    assert draws.y.square().mean().item() == pytest.approx(1.0, rel=0.2)


def test_divergence_and_chunks_leave_other_schedules_alone():
    setting = Setting(family="mlp", activation="relu", depth=3, width=8, target="teacher")
    good = torch.tensor([[[2.0, 3.0]] * 3, [[5.0, 1.0]] * 3], dtype=torch.float64)
    wild = torch.tensor([[[1e6, 1e6]] * 3], dtype=torch.float64)
    both = evaluate(setting, torch.cat([good[:1], wild, good[1:]]), [0, 1], memory_budget=1)
    alone = evaluate(setting, good, [0, 1])
    for name in LOSSES:
        torch.testing.assert_close(both.losses[name][:, [0, 2]], alone.losses[name],
                                   rtol=1e-12, atol=0)
    assert (both.diverged_at[:, 1] > 0).all() and (both.diverged_at[:, [0, 2]] == 0).all()


def test_memory_estimate_counts_the_tensors_of_one_schedule():
    """The per-schedule figure covers at least the weights of three states and the
    forward pass on the population inputs, and scales with the seeds."""
    setting = Setting(family="mlp", activation="relu", depth=3, width=64)
    per_seed, per_schedule = memory(setting, seeds=5, steps=2, itemsize=4)
    weights = 64 * 64 * 2
    assert per_schedule >= 5 * 4 * (3 * weights + POPULATION * 64)
    assert memory(setting, 10, 2, 4)[1] == 2 * per_schedule and per_seed > 0
    linear = Setting(family="mlp", activation="linear", depth=3, width=64)
    assert memory(linear, 5, 2, 4)[1] < per_schedule  # exact population: no inputs kept

"""Draws: the published order of SPEC section 9, written out independently here."""

from __future__ import annotations

import math

import naive
import numpy as np
import pytest
import torch

from layerlr import Setting, draw, evaluate
from layerlr.families.linear.draws import raw_draws
from layerlr.families.random import orthonormal


def orth(r, c):
    a = torch.randn(r, c)
    q, rr = torch.linalg.qr(a)
    d = torch.diagonal(rr)
    return q * torch.where(d >= 0, torch.ones_like(d), -torch.ones_like(d))


def published_sequence(family, init, depth, d, n, h, m, rho, seed):
    """SPEC 9, line by line."""
    torch.manual_seed(seed)
    x_test = torch.randn(m, d)
    if family == "matrix" and init == "orthogonal":
        w = [orth(d, h), orth(h, h)]
        qx = orth(n, d)
        qb = orth(d, h)
        xi = torch.normal(0, math.sqrt(rho), (n, h))
        return dict(x_test=x_test, weights=w, x=math.sqrt(n) * qx, beta=qb / math.sqrt(d),
                    noise=xi, readout=None)
    if family == "matrix":
        w1 = torch.normal(0, 1 / math.sqrt(d), (d, h))
        w2 = torch.normal(0, 1 / math.sqrt(h), (h, h))
        x = torch.randn(n, d)
        xi = torch.normal(0, math.sqrt(rho), (n, h))
        beta = torch.normal(0, 1 / d, (d, h))
        return dict(x_test=x_test, weights=[w1, w2], x=x, beta=beta, noise=xi, readout=None)
    if init == "orthogonal":
        w = [orth(d, h)] + [orth(h, h) for _ in range(depth - 2)]
        x = math.sqrt(n) * orth(n, d)
    else:
        w = [torch.normal(0, 1 / math.sqrt(d), (d, h))]
        w += [torch.normal(0, 1 / math.sqrt(h), (h, h)) for _ in range(depth - 2)]
        x = torch.randn(n, d)
    xi = torch.normal(0, math.sqrt(rho), (n, 1))
    a = torch.normal(0, 1 / math.sqrt(h), (h, 1))
    beta = torch.normal(0, 1 / math.sqrt(h), (d, 1))
    return dict(x_test=x_test, weights=w, x=x, beta=beta, noise=xi, readout=a[:, 0])


CASES = [("matrix", "orthogonal", 2), ("matrix", "gaussian", 2), ("readout", "orthogonal", 3),
         ("readout", "orthogonal", 5), ("readout", "gaussian", 3)]


@pytest.mark.parametrize("family,init,depth", CASES)
@pytest.mark.parametrize("rho", [0.0, 0.2])
def test_published_draws_follow_spec_order(family, init, depth, rho):
    data = "whitened" if init == "orthogonal" else "gaussian"
    target = "gaussian" if family == "readout" or init == "gaussian" else "orthogonal"
    setting = Setting(family=family, depth=depth, width=7, d=9, n=11, init=init, data=data,
                      target=target, test_size=6, noise=rho)
    got = raw_draws(setting, 2021, "published", "cpu", torch.float64)
    want = published_sequence(family, init, depth, 9, 11, 7, 6, rho, 2021)
    for key in ("x_test", "x", "beta", "noise", "readout"):
        if want[key] is None:
            assert got[key] is None
        else:
            assert got[key].dtype == torch.float32
            assert torch.equal(got[key], want[key]), key
    assert len(got["weights"]) == len(want["weights"])
    for g, w in zip(got["weights"], want["weights"]):
        assert torch.equal(g, w)


def test_orthonormal_is_orthonormal_with_nonnegative_r_diagonal():
    g = torch.Generator().manual_seed(0)
    q = orthonormal(9, 4, g, dtype=torch.float64)
    torch.testing.assert_close(q.T @ q, torch.eye(4, dtype=torch.float64))
    g = torch.Generator().manual_seed(0)
    a = torch.randn(9, 4, generator=g, dtype=torch.float64)
    assert (torch.diagonal(q.T @ a) >= 0).all()  # R = Q^T A has a nonnegative diagonal


def test_sufficient_statistics_match_the_data():
    setting = Setting(family="readout", depth=3, width=5, d=6, n=9, data="gaussian",
                      init="gaussian", noise=0.5)
    dr = draw(setting, [4], "native", "cpu", torch.float64)
    raw = raw_draws(setting, 4, "native", "cpu", torch.float64)
    x, y = raw["x"], raw["x"] @ raw["beta"] + raw["noise"]
    torch.testing.assert_close(dr.sigma[0], x.T @ x / 9)
    torch.testing.assert_close(dr.c[0], x.T @ y / 9)


def least_squares(setting: Setting) -> tuple:
    """(draws, X, y, a least-squares fit, its loss |X F - y|^2 / n) of seed 4, float64,
    the fit from numpy's solver: independent of the engine's."""
    dr = draw(setting, [4], "native", "cpu", torch.float64)
    raw = raw_draws(setting, 4, "native", "cpu", torch.float64)
    x, y = raw["x"], raw["x"] @ raw["beta"] + raw["noise"]
    best = np.linalg.lstsq(x.numpy(), y.numpy(), rcond=None)[0]
    return dr, x, y, best, ((x.numpy() @ best - y.numpy()) ** 2).sum() / setting.n


@pytest.mark.parametrize("n", [9, 4])  # more samples than inputs (d = 6), and fewer
def test_fit_is_a_least_squares_fit_of_noisy_labels(n):
    dr, x, y, _, least = least_squares(Setting(
        family="matrix", width=3, d=6, n=n, data="gaussian", init="gaussian",
        target="gaussian", noise=0.5))
    miss = x @ dr.fit[0] - y
    assert abs(dr.fit_loss[0].item() - least) <= 1e-10 * max(least, 1.0)
    torch.testing.assert_close(dr.fit_loss[0], (miss**2).sum() / n)
    torch.testing.assert_close(dr.fit_residual[0], x.T @ miss / n, rtol=0, atol=1e-12)
    assert dr.fit_residual.abs().max() <= 1e-12  # the normal equations hold


@pytest.mark.parametrize("n", [9, 6])  # more samples than inputs (d = 6), and as many
def test_whitened_matrix_data_have_sigma_i_and_are_fit_by_c(n):
    """X^T X = n I (SPEC 2): Sigma is I and the least-squares fit of y is X^T y / n."""
    dr, x, y, best, least = least_squares(Setting(
        family="matrix", width=3, d=6, n=n, data="whitened", target="gaussian", noise=0.5))
    assert dr.sigma_identity and torch.equal(dr.sigma[0], torch.eye(6, dtype=torch.float64))
    torch.testing.assert_close(dr.c[0], x.T @ y / n)
    np.testing.assert_allclose(dr.fit[0].numpy(), best, rtol=0, atol=1e-12)
    assert abs(dr.fit_loss[0].item() - least) <= 1e-10 * max(least, 1.0)
    assert least > 0.1 if n > 6 else least < 1e-20  # the test covers both cases


def test_fit_of_noise_free_labels_is_the_teacher_exactly():
    setting = Setting(family="readout", depth=3, width=5, d=6, n=9, data="gaussian")
    dr = draw(setting, [4, 5], "native", "cpu", torch.float32)
    assert torch.equal(dr.fit, dr.beta)
    assert not dr.fit_residual.any() and not dr.fit_loss.any()


def test_native_draws_leave_the_global_rng_alone_and_are_per_seed():
    setting = Setting(family="matrix", width=6)
    torch.manual_seed(123)
    before = torch.randn(3)
    torch.manual_seed(123)
    both = draw(setting, [1, 2], "native")
    assert torch.equal(torch.randn(3), before)
    alone = draw(setting, [2], "native")
    assert torch.equal(both.weights[0][1], alone.weights[0][0])


def test_published_protocol_reproduces_the_published_method_in_float32():
    """Empirical test losses equal a float32 full-X run of the published scripts' method."""
    setting = Setting(family="matrix", width=64, test_size=32)
    rates = [[300.0, 500.0]]
    ev = evaluate(setting, rates, [2020, 2021], steps=2, protocol="published",
                  dtype=torch.float32)
    for si, seed in enumerate([2020, 2021]):
        raw = raw_draws(setting, seed, "published", "cpu", torch.float32)
        ref = naive.run(setting, raw, [[300.0, 500.0]] * 2, dtype=torch.float32)
        sur = naive.run(setting, raw, [[300.0, 500.0]] * 2, signal_only=True)  # float64
        for t in range(2):
            got = ev.losses["empirical"][si, 0, t].item()
            assert abs(got - ref[t]["empirical"]) <= 1e-4 * ref[t]["empirical"]
            got = ev.losses["surrogate"][si, 0, t].item()
            assert abs(got - sur[t]["population"]) <= 1e-4 * sur[t]["population"]

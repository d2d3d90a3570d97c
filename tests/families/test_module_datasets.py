"""The module family's built-in data sets (SPEC 13): what each documents, checked
against its source (mnist1d's generator, scikit-learn's digits) and by definition."""

from __future__ import annotations

import random
import socket

import numpy as np
import pytest
import torch

from layerlr.families.module import datasets


def test_mnist1d_is_the_packages_own_generator_offline_and_leaves_global_rngs(monkeypatch):
    from mnist1d.data import get_dataset_args, make_dataset

    def offline(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", offline)
    datasets._mnist1d.cache_clear()
    random.seed(5)
    np.random.seed(5)
    before = random.random(), np.random.rand()
    random.seed(5)
    np.random.seed(5)
    x, _, xt, yt = datasets.mnist1d(seed=3)
    assert (random.random(), np.random.rand()) == before
    ref = make_dataset(get_dataset_args())
    assert x.shape == (4000, 40) and xt.shape == (1000, 40)
    assert torch.equal(x, torch.as_tensor(ref["x"]))
    assert torch.equal(yt, torch.as_tensor(ref["y_test"]))
    assert torch.equal(datasets.mnist1d(seed=4)[0], x)  # the same rows for every seed


def test_digits_holds_out_a_quarter_at_random_per_seed_standardised():
    from sklearn.datasets import load_digits

    _, raw_y = load_digits(return_X_y=True)
    x, y, xt, yt = datasets.digits(seed=1)
    assert x.shape == (1348, 64) and xt.shape == (449, 64) and y.dtype == torch.int64
    assert sorted(torch.cat([y, yt]).tolist()) == sorted(raw_y.tolist())
    assert torch.allclose(x.mean(0), torch.zeros(64, dtype=torch.float64), atol=1e-12)
    varying = x.std(0) > 0  # pixels constant on the training rows are only centred
    assert torch.allclose(x.std(0)[varying], torch.ones(int(varying.sum()),
                                                        dtype=torch.float64))
    other = datasets.digits(seed=2)
    assert not torch.equal(other[3], yt)  # another split
    order = torch.randperm(1797, generator=torch.Generator().manual_seed(1))
    assert torch.equal(yt, torch.as_tensor(raw_y)[order[:449]])


def test_modular_addition_splits_all_pairs_half_and_half():
    x, y, xt, yt = datasets.modular_addition(seed=7)
    p = 97
    assert x.dtype == torch.int64 and x.shape == (p * p // 2, 2)
    assert xt.shape[0] == p * p - p * p // 2
    pairs = torch.cat([x, xt])
    assert len({tuple(r) for r in pairs.tolist()}) == p * p  # every pair once
    assert torch.equal(torch.cat([y, yt]), (pairs[:, 0] + pairs[:, 1]) % p)
    assert not torch.equal(datasets.modular_addition(seed=8)[0], x)
    assert torch.equal(datasets.modular_addition(seed=7)[0], x)


@pytest.mark.parametrize("name", list(datasets.BUILTIN))
def test_every_builtin_set_is_a_classification_set(name):
    x, y, xt, yt = datasets.BUILTIN[name](0)
    assert y.dtype == yt.dtype == torch.int64 and y.ndim == 1
    assert len(x) == len(y) and len(xt) == len(yt) and x.shape[1:] == xt.shape[1:]

"""The module family's built-in data sets (SPEC 13): ``load(seed=s)`` for each name.

Each returns (X_train, y_train, X_test, y_test) as a user's loader would; all three are
classification sets (integer labels, ``loss = "cross_entropy"``), and none downloads:

- ``"mnist1d"``: the ``mnist1d`` package's own generator, ``make_dataset`` with its
  default arguments (5,000 signals of length 40, 10 classes, generated from its fixed
  seed 42, no network access), and its own split: the first 4,000 rows train, the last
  1,000 are held out. The same rows for every seed: the seed varies the init and the
  batch order only, as in the MNIST-1D paper's runs.
- ``"digits"``: scikit-learn's bundled 8 x 8 digits (1,797 rows, 64 inputs, 10
  classes). Seed s holds out the rows ``order[:449]`` (a quarter) and trains on the
  rest, ``order = torch.randperm(1797, generator=torch.Generator().manual_seed(s))``;
  inputs are standardised per column with the training rows' mean and standard
  deviation (a column constant on them is centred only).
- ``"modular-addition"``: every pair (a, b), 0 <= a, b < p = 97, as the token pair
  X = (a, b) (int64), label (a + b) mod p. Seed s trains on the pairs
  ``order[:4704]`` (the fraction :data:`TRAIN_FRACTION` = 1/2 of the p^2 = 9,409 pairs,
  rounded down) and holds out the rest, ``order = torch.randperm(p^2,
  generator=torch.Generator().manual_seed(s))``. A half is enough for a small
  transformer to generalise within hundreds of Adam steps, and leaves 4,705 held-out
  pairs for a precise accuracy.

torch, numpy, scikit-learn and mnist1d are imported when rows are made.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

MODULUS = 97  # p of modular addition
TRAIN_FRACTION = 0.5  # of the p^2 pairs of modular addition, trained on
DIGITS_HELD_OUT = 1797 // 4  # rows of digits held out per seed (a quarter)

Rows = tuple["Tensor", "Tensor", "Tensor", "Tensor"]  # X_train, y_train, X_test, y_test


@cache
def _mnist1d() -> Rows:
    """MNIST-1D from its generator with its default arguments (seconds; made once)."""
    import random

    import numpy as np
    import torch
    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset seeds Python's and numpy's global generators: leave them as they were
    saved = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
    return (torch.as_tensor(data["x"]), torch.as_tensor(data["y"]),
            torch.as_tensor(data["x_test"]), torch.as_tensor(data["y_test"]))


def mnist1d(seed: int) -> Rows:
    """MNIST-1D's own 4,000 / 1,000 split, the same for every seed."""
    return _mnist1d()


def digits(seed: int) -> Rows:
    """scikit-learn's digits: a quarter held out at random per seed, standardised."""
    import torch

    from layerlr.families.mlp.datasets import load

    x, y = load("digits")  # float64 rows (1797, 64), labels (1797,)
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    test, train = order[:DIGITS_HELD_OUT], order[DIGITS_HELD_OUT:]
    mean, std = x[train].mean(0), x[train].std(0)
    std = torch.where(std > 0, std, 1.0)  # pixels constant on the training rows: centred
    labels = y.round().long()
    return (x[train] - mean) / std, labels[train], (x[test] - mean) / std, labels[test]


def modular_addition(seed: int) -> Rows:
    """The pairs (a, b) mod p, labelled (a + b) mod p; half of them trained on."""
    import torch

    p = MODULUS
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    x = torch.stack([a.reshape(-1), b.reshape(-1)], 1)  # (p^2, 2) int64
    y = (x[:, 0] + x[:, 1]) % p
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    cut = int(TRAIN_FRACTION * p * p)
    train, test = order[:cut], order[cut:]
    return x[train], y[train], x[test], y[test]


BUILTIN: dict[str, Callable[[int], Rows]] = {
    "mnist1d": mnist1d, "digits": digits, "modular-addition": modular_addition}

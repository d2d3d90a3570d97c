"""A user's network and data, as a study file would name them by path (SPEC 13): written
for the tests, independent of the engine. Imported by the engine through its path."""

import numpy as np
import torch
from torch import nn


class Net(nn.Module):
    """A parameter held by the network itself (``scale``), a Sequential body, a head."""

    def __init__(self, width, depth, inputs, outputs):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(inputs) * 0.9)
        layers = [nn.Linear(inputs, width), nn.Tanh()]
        for _ in range(depth - 2):
            layers += [nn.Linear(width, width), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        self.register_buffer("shift", torch.linspace(-0.1, 0.1, width))
        self.head = nn.Linear(width, outputs)

    def forward(self, x):
        return self.head(self.body(x * self.scale) + self.shift)


def build(width, depth):
    return Net(width, depth, 6, 2)


def build_digits(width, depth):
    return Net(width, depth, 64, 10)


def load(seed):
    """Regression: 2 targets of 6 inputs, numpy arrays, different rows per seed."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 6))
    w = rng.normal(size=(6, 2))
    y = np.tanh(x @ w) + 0.1 * rng.normal(size=(40, 2))
    return x[:30], y[:30], x[30:], y[30:]


def load_1d(seed):
    """Regression with one target given as a 1-D array."""
    x, y, xt, yt = load(seed)
    return x, y[:, 0], xt, yt[:, 0]


def build_one(width, depth):
    return Net(width, depth, 6, 1)


def load_pairs(seed):
    """300 pairs (a, b) mod 97 with label (a + b) mod 97: the shipped transformer's task
    on fewer rows (200 trained on, 100 held out), as int64 tensors."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 97, (300, 2), generator=g)
    y = (x[:, 0] + x[:, 1]) % 97
    return x[:200], y[:200], x[200:], y[200:]

"""The MNIST-1D paper's MLP (Greydanus 2020, its ``MLPBase``): 40 inputs, hidden layers of
``width`` units with ReLU, the hidden-to-hidden layers residual, 10 classes.

``depth`` counts the linear layers (the paper's is 3: in, one residual hidden, out);
each is a direct child, so each is its own layer group by default.
"""

from __future__ import annotations

import torch
from torch import nn

INPUTS, CLASSES = 40, 10


class MLP(nn.Module):
    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(INPUTS, width)
        for i in range(2, depth):  # residual hidden layers
            setattr(self, f"linear{i}", nn.Linear(width, width))
        setattr(self, f"linear{depth}", nn.Linear(width, CLASSES))
        self.depth = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (rows, 40) -> (rows, 10)
        h = self.linear1(x).relu()
        for i in range(2, self.depth):
            h = h + getattr(self, f"linear{i}")(h).relu()
        return getattr(self, f"linear{self.depth}")(h)


def build(width: int = 100, depth: int = 3) -> nn.Module:
    if depth < 2:
        raise ValueError(f"depth must be at least 2 (an input and an output layer), got {depth}")
    return MLP(width, depth)

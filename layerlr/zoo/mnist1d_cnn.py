"""The MNIST-1D paper's CNN (Greydanus 2020, its ``ConvBase``): 1-D convolutions of
``width`` channels with ReLU (kernel 5 then 3, stride 2, padding 1) on the 40-sample
signal, flattened into a linear layer onto the 10 classes.

``depth`` counts the convolutions (the paper's is 3, which leaves 5 positions: 125
features at 25 channels); each layer is a direct child, so its own group by default.
"""

from __future__ import annotations

import torch
from torch import nn

LENGTH, CLASSES = 40, 10


class CNN(nn.Module):
    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        length = LENGTH
        for i in range(1, depth + 1):
            kernel = 5 if i == 1 else 3
            setattr(self, f"conv{i}", nn.Conv1d(1 if i == 1 else width, width, kernel,
                                                stride=2, padding=1))
            length = (length + 2 - kernel) // 2 + 1
        self.linear = nn.Linear(width * length, CLASSES)
        self.depth = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (rows, 40) -> (rows, 10)
        h = x.unsqueeze(1)  # (rows, 1 channel, 40)
        for i in range(1, self.depth + 1):
            h = getattr(self, f"conv{i}")(h).relu()
        return self.linear(h.flatten(1))


def build(width: int = 25, depth: int = 3) -> nn.Module:
    if not 1 <= depth <= 4:
        raise ValueError(f"depth must be 1 to 4 convolutions (each halves the 40 samples), "
                         f"got {depth}")
    return CNN(width, depth)

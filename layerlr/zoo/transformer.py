"""A small pre-norm transformer on modular addition: the tokens a, b and "=", embedded
in d = ``width`` dimensions with learned positions, ``depth`` blocks (2 by default) of
x + attention(LN(x)) then x + MLP(LN(x)) (4 heads, MLP 4d wide, GELU), and the
logits over the p classes read at the "=" position after a last LayerNorm.

Its direct children are ``embed``, ``block1`` ... ``blockL`` and ``head``: those are
its layer groups by default.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from layerlr.families.module.datasets import MODULUS

HEADS = 4


class Embed(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.tokens = nn.Embedding(MODULUS + 1, width)  # 0 ... p-1, and "=" as p
        self.positions = nn.Parameter(torch.randn(3, width) / math.sqrt(width))

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:  # (rows, 2) -> (rows, 3, d)
        equals = torch.full_like(pairs[:, :1], MODULUS)
        return self.tokens(torch.cat([pairs, equals], 1)) + self.positions


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(),
                                 nn.Linear(4 * width, width))

    def attention(self, x: torch.Tensor) -> torch.Tensor:  # (rows, 3, d) -> same
        rows, tokens, width = x.shape
        q, k, v = self.qkv(x).reshape(rows, tokens, 3, HEADS, width // HEADS).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (rows, heads, tokens, d/heads)
        weights = (q @ k.transpose(-1, -2) / math.sqrt(width // HEADS)).softmax(-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(rows, tokens, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Head(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.unembed = nn.Linear(width, MODULUS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (rows, 3, d) -> (rows, p)
        return self.unembed(self.norm(x[:, -1]))


class Transformer(nn.Module):
    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        self.embed = Embed(width)
        for i in range(1, depth + 1):
            setattr(self, f"block{i}", Block(width))
        self.head = Head(width)
        self.depth = depth

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:  # (rows, 2) ids -> (rows, p)
        x = self.embed(pairs)
        for i in range(1, self.depth + 1):
            x = getattr(self, f"block{i}")(x)
        return self.head(x)


def build(width: int = 128, depth: int = 2) -> nn.Module:
    if width % HEADS:
        raise ValueError(f"width must be a multiple of the {HEADS} heads, got {width}")
    return Transformer(width, depth)

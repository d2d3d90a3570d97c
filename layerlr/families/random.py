"""The random source of one seed under a draw protocol (SPEC 3, 9).

- ``published``: ``torch.manual_seed(seed)``, then torch's global RNG on the CPU in
  float32, in the caller's order: the paper's scripts' draws, seed for seed.
- ``native``: a private ``torch.Generator`` on the target device and in the target
  dtype; the global RNG is left alone.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from layerlr.setting import Setting


def orthonormal(rows: int, cols: int, generator: torch.Generator | None = None,
                device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
                ) -> Tensor:
    """Haar matrix with orthonormal columns (SPEC 3): QR of a Gaussian, diag(R) >= 0."""
    a = torch.randn(rows, cols, generator=generator, device=device, dtype=dtype)
    q, r = torch.linalg.qr(a)
    signs = torch.where(torch.diagonal(r) >= 0, 1.0, -1.0).to(dtype)
    return q * signs


class RandomSource:
    """The draws of one seed under a protocol, in the caller's order (see the module)."""

    def __init__(self, seed: int, protocol: str, device: str | torch.device,
                 dtype: torch.dtype) -> None:
        if protocol == "published":
            torch.manual_seed(seed)
            self.gen, self.device, self.dtype = None, "cpu", torch.float32
        else:
            self.gen = torch.Generator(device=device).manual_seed(seed)
            self.device, self.dtype = device, dtype

    def randn(self, *shape: int) -> Tensor:
        return torch.randn(*shape, generator=self.gen, device=self.device, dtype=self.dtype)

    def normal(self, std: float, *shape: int) -> Tensor:
        return torch.normal(0.0, std, shape, generator=self.gen, device=self.device,
                            dtype=self.dtype)

    def orth(self, rows: int, cols: int) -> Tensor:
        return orthonormal(rows, cols, self.gen, self.device, self.dtype)

    def permutation(self, rows: int) -> Tensor:
        return torch.randperm(rows, generator=self.gen, device=self.device)

    def weights(self, setting: Setting) -> list[Tensor]:
        """W1 (d, h), then W2 ... W_K (h, h): SPEC 3's orthogonal or Gaussian init."""
        h, d, k = setting.width, setting.d, setting.layers
        if setting.init == "orthogonal":
            return [self.orth(d, h)] + [self.orth(h, h) for _ in range(k - 1)]
        return [self.normal(1 / math.sqrt(d), d, h)] + [
            self.normal(1 / math.sqrt(h), h, h) for _ in range(k - 1)]

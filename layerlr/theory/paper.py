"""The paper's closed forms after one and two steps (SPEC section 6).

With p = eta1 + eta2 and q = eta1 * eta2 (the same rates at both steps), the four
formulas are exact expectations of the realized surrogate loss when d = n = h, rho = 0,
X whitened, W's orthogonal and the target orthogonal (matrix) or a and beta on the
sphere (readout, depth 3). The engine's theory column now comes from the exact
reductions (:mod:`.matrix`, :mod:`.readout`), which reproduce these to machine
precision; the formulas stay as an independent test of them.
"""

from __future__ import annotations

from torch import Tensor


def matrix_one_step(h: float, p: Tensor, q: Tensor) -> Tensor:
    """L1 = 1 + 1/h - 2p/h^2 + p^2/h^4 + 2q/h^5 + q^2/h^7 (SPEC 6, matrix family)."""
    return 1 + 1 / h - 2 * p / h**2 + p**2 / h**4 + 2 * q / h**5 + q**2 / h**7


def matrix_two_step(h: float, p: Tensor, q: Tensor) -> Tensor:
    """L2 of the matrix family (SPEC 6)."""
    g = 1 + q / h**3
    return (g**4 / h + 16 * q**2 / h**7 + (2 * p * (q + h**3) / h**5 - 1) ** 2
            + 8 * q * g**2 / h**5)


def readout_one_step(h: float, p: Tensor, q: Tensor) -> Tensor:
    """L1 = 1 + 1/h - 2p/h + p^2/h^2 + 2q/h^3 + q^2/h^4 (SPEC 6, readout depth 3)."""
    return 1 + 1 / h - 2 * p / h + p**2 / h**2 + 2 * q / h**3 + q**2 / h**4


def readout_two_step(h: float, p: Tensor, q: Tensor) -> Tensor:
    """L2 of the readout family at depth 3 (SPEC 6)."""
    return ((2 * p * (h + q) / h**2 - 1) ** 2 + 1 / h + 2 * q / h**2 + 10 * q / h**3
            + q**2 / h**3 + 37 * q**2 / h**4 + 12 * q**3 / h**5 + q**4 / h**6)


FORMULAS = {
    ("matrix", 1): matrix_one_step, ("matrix", 2): matrix_two_step,
    ("readout", 1): readout_one_step, ("readout", 2): readout_two_step,
}

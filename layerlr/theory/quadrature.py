"""Gauss quadrature for the laws of SPEC 11: exact expectations of polynomials.

An n-node Gauss rule of a probability law integrates every polynomial of degree up to
2n - 1 exactly. The rules here come from the law's three-term recurrence (Golub-Welsch):
the nodes are the eigenvalues of its n x n Jacobi matrix, the weights the Christoffel
numbers 1 / sum_k p_k(x)^2 of the orthonormal polynomials p_k. Everything stays in
float64 and is well scaled for any width (the laws are written in the variables the
theory uses, not in Gamma-function normalisations that overflow at h = 10^5).

Laws, for width h:

- :func:`cosine`: s, one coordinate of a uniform unit vector of R^h, density proportional
  to (1 - s^2)^((h - 3)/2) on [-1, 1] (Gauss-Jacobi with both parameters (h - 3)/2).
- :func:`chi2`: A = |a|^2 for a with i.i.d. N(0, 1/h) entries, i.e. chi^2_h / h
  (generalised Gauss-Laguerre in t = h A / 2, parameter h/2 - 1).
- :func:`product`: G = A B for A, B independent chi^2_h / h, and the same law tilted by
  A (the measure A dP, of mass E[A] = 1); built from the tensor product of two
  :func:`chi2` rules by Lanczos with full reorthogonalisation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigvalsh_tridiagonal


@dataclass(frozen=True)
class Rule:
    """Nodes and weights of a Gauss rule of a probability law; weights sum to 1."""

    nodes: np.ndarray  # (n,)
    weights: np.ndarray  # (n,)

    def __len__(self) -> int:
        return len(self.nodes)


def gauss(diag: np.ndarray, off: np.ndarray) -> Rule:
    """The Gauss rule of the recurrence x p_k = sqrt(b_{k+1}) p_{k+1} + a_k p_k
    + sqrt(b_k) p_{k-1} of orthonormal polynomials (p_0 = 1, a probability law).

    ``diag``: a_0..a_{n-1}; ``off``: sqrt(b_1)..sqrt(b_{n-1}). Weights that underflow
    (nodes far in a tail) are 0.
    """
    n = len(diag)
    if n == 1:
        return _frozen(np.array(diag, dtype=float), np.ones(1))
    nodes = eigvalsh_tridiagonal(diag, off)
    total, p_prev, p = np.ones(n), np.zeros(n), np.ones(n)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(n - 1):
            p_prev, p = p, ((nodes - diag[k]) * p - (off[k - 1] if k else 0.0) * p_prev) / off[k]
            total += p * p
        weights = np.where(np.isfinite(total), 1.0 / total, 0.0)
    return _frozen(nodes, weights / weights.sum())


@functools.lru_cache(maxsize=256)
def cosine(h: int, n: int) -> Rule:
    """n-node rule of s, a coordinate of a uniform unit vector of R^h (h >= 1).

    Symmetric Jacobi law with parameter c = (h - 3)/2: a_k = 0, b_1 = E[s^2] = 1/h and
    b_k = k (k + 2c) / ((2k + 2c + 1)(2k + 2c - 1)) for k >= 2. For h = 1 the law is the
    two points +-1, which 2 nodes integrate exactly.
    """
    if h == 1:
        return _frozen(np.array([-1.0, 1.0]), np.array([0.5, 0.5]))
    k = np.arange(2, n, dtype=float)
    c = (h - 3) / 2
    b = np.concatenate([[1 / h], k * (k + 2 * c) / ((2 * k + 2 * c + 1) * (2 * k + 2 * c - 1))])
    rule = gauss(np.zeros(n), np.sqrt(b[:n - 1]))
    # the law is symmetric: make the rule exactly so, odd powers then average to 0
    return _frozen((rule.nodes - rule.nodes[::-1]) / 2, (rule.weights + rule.weights[::-1]) / 2)


@functools.lru_cache(maxsize=256)
def chi2(h: int, n: int) -> Rule:
    """n-node rule of A = chi^2_h / h (mean 1, variance 2/h).

    The generalised Laguerre recurrence of t = h A / 2 (a_k = 2k + h/2,
    b_k = k (k + h/2 - 1)), rescaled by 2/h.
    """
    k = np.arange(n, dtype=float)
    diag = (2 * k + h / 2) * (2 / h)
    off = np.sqrt(k[1:] * (k[1:] + h / 2 - 1)) * (2 / h)
    return gauss(diag, off)


@functools.lru_cache(maxsize=64)
def product(h: int, n: int, tilted: bool) -> Rule:
    """n-node rule of G = A B (A, B independent chi^2_h / h); with ``tilted`` of the
    measure A dP (E over it of f(G) is E[A f(A B)]).

    The tensor product of two (n + 1)-node :func:`chi2` rules is a discrete law whose
    moments E[A^i B^j] are exact for i, j <= 2n + 1, so its G-moments (and A-tilted
    G-moments) are exact to degree 2n - 1, all a Gauss rule of n nodes needs. Its
    recurrence comes from Lanczos on diag(G) with full reorthogonalisation. At small
    widths and many nodes (h = 16, n = 160) the chi^2 tail weights near float64's
    underflow and the top moments are good to 1e-6 relative; 1e-12 from h = 64 on.
    """
    base = chi2(h, n + 1)
    i, j = np.triu_indices(n + 1)  # G is symmetric in (A, B): merge the pairs (i, j), (j, i)
    a, w = base.nodes, base.weights
    pair = np.where(i == j, 1.0, 2.0) * w[i] * w[j]
    weights = pair * (a[i] + a[j]) / 2 if tilted else pair
    diag, off = lanczos(a[i] * a[j], weights / weights.sum(), n)
    return gauss(diag, off)


def lanczos(x: np.ndarray, w: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Recurrence (a_0..a_{n-1}, sqrt(b_1)..sqrt(b_{n-1})) of the discrete law sum_i w_i
    delta(x_i) (weights summing to 1), by Lanczos with full reorthogonalisation."""
    basis = np.zeros((n, len(x)))
    q = np.ones_like(x)
    diag, off = np.zeros(n), np.zeros(max(n - 1, 0))
    for k in range(n):
        basis[k] = q
        diag[k] = np.sum(w * x * q * q)
        if k == n - 1:
            break
        r = (x - diag[k]) * q - (off[k - 1] * basis[k - 1] if k else 0.0)
        for _ in range(2):  # twice is enough (Kahan, Parlett)
            r -= basis[:k + 1].T @ (basis[:k + 1] @ (w * r))
        off[k] = np.sqrt(np.sum(w * r * r))
        q = r / off[k]
    return diag, off


def _frozen(nodes: np.ndarray, weights: np.ndarray) -> Rule:
    nodes, weights = np.array(nodes, dtype=float), np.array(weights, dtype=float)
    nodes.flags.writeable = weights.flags.writeable = False
    return Rule(nodes, weights)

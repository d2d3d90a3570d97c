"""How many Gauss nodes make the readout expectation exact (SPEC 11): the degree rule.

The loss after t steps is averaged as polynomials: in s (degree counted by
:func:`degrees`) and, for gaussian a and beta, in G = |a|^2 |beta|^2. An n-node Gauss
rule is exact to degree 2n - 1, and a symmetric one integrates odd powers to 0, so
degree m in s needs m // 2 + 1 nodes and degree m in G needs m // 2 + 1.

The s-degree after t steps is 2 (K - 1)^t (K trained layers), the G-degree
K ((K - 1)^t - 1) / (K - 2) (t for K = 2): depth 3 stays at 2 nodes in s for every
schedule length, deeper networks grow geometrically, so beyond the limits below a step
has no exact value (``absent``). Torch-free: the study layer checks study files with it.
"""

from __future__ import annotations

import functools

MAX_COSINE_NODES = 4096  # Gauss nodes in s
MAX_PRODUCT_NODES = 160  # Gauss nodes in G = A B (each of the two laws; cached per width)
MAX_WORK = 2**21  # quadrature nodes x steps x layers per schedule (~0.5 s)
NEG = float("-inf")


@functools.lru_cache(maxsize=1024)
def degrees(layers: int, steps: int) -> tuple[tuple[int, int], ...]:
    """Per step t = 1..T: (degree in s, degree in G) of the polynomials averaged.

    The s-degree is counted along the 2-d trajectory written in the basis (beta, a),
    whose Gram matrix [[1, s], [s, 1]] holds the only s: a vector is a pair of
    polynomials in s, W_l and W_l^T are 2 x 2 matrices of them (updated by
    p (Gram v)^T and v (Gram p)^T), and degrees add along products and take the max along
    sums. This bounds the degree in s of X = <u, Gram u> and Y = <u, beta>.
    The G-degree: every update carries one factor g, the weights after t steps have
    degree b_t = (K - 1) b_{t-1} + 1 in g, u has K b_t, X = |u|^2 twice that, so X and
    g Y are polynomials of degree K b_t in G = g^2.
    """
    eye = [[0.0, NEG], [NEG, 0.0]]
    w = [[row[:] for row in eye] for _ in range(layers)]  # degrees of W_l's entries
    wt = [[row[:] for row in eye] for _ in range(layers)]  # of W_l^T's
    beta, a = [0.0, NEG], [NEG, 0.0]
    out, b = [], 0
    for _ in range(steps):
        v = _suffix(w, a)
        p = [beta]
        for l in range(layers - 1):
            p.append(_matvec(wt[l], p[l]))
        for l in range(layers):
            gv, gp = _gram(v[l + 1]), _gram(p[l])
            for i in range(2):
                for j in range(2):
                    w[l][i][j] = max(w[l][i][j], p[l][i] + gv[j])
                    wt[l][i][j] = max(wt[l][i][j], v[l + 1][i] + gp[j])
        b = (layers - 1) * b + 1
        u = _suffix(w, a)[0]
        gu = _gram(u)
        x, y = max(u[0] + gu[0], u[1] + gu[1]), max(u[0], u[1] + 1)
        out.append((int(max(x, y)), layers * b))
    return tuple(out)


def nodes(layers: int, step: int, gaussian: bool) -> tuple[int, int]:
    """(Gauss nodes in s, Gauss nodes in G; 0 for the sphere) exact after ``step``."""
    s_degree, g_degree = degrees(layers, step)[step - 1]
    return s_degree // 2 + 1, (g_degree // 2 + 1 if gaussian else 0)


def exact_steps(layers: int, steps: int, gaussian: bool) -> int:
    """How many of the first ``steps`` steps are within the node and work limits."""
    for t in range(1, steps + 1):
        n_s, n_g = nodes(layers, t, gaussian)
        work = n_s * max(1, 2 * n_g) * t * layers
        if n_s > MAX_COSINE_NODES or n_g > MAX_PRODUCT_NODES or work > MAX_WORK:
            return t - 1
    return steps


# degree bookkeeping: polynomials in s by their degree, -inf for zero


def _gram(x: list[float]) -> list[float]:
    """Degrees of Gram x = (x_0 + s x_1, s x_0 + x_1)."""
    return [max(x[0], x[1] + 1), max(x[0] + 1, x[1])]


def _matvec(m: list[list[float]], x: list[float]) -> list[float]:
    return [max(m[i][0] + x[0], m[i][1] + x[1]) for i in range(2)]


def _suffix(w: list, a: list[float]) -> list[list[float]]:
    """Degrees of v_l = W_{l+1}...W_K a for l = 0..K (v[0] = W_1...W_K a)."""
    v = [a]
    for l in range(len(w) - 1, -1, -1):
        v.append(_matvec(w[l], v[-1]))
    return v[::-1]

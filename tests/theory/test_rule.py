"""The node rule: degrees against an exact symbolic count, and exactness at the rule.

The degrees are checked against the polynomials themselves, computed exactly over the
integers modulo a prime at random rates (a degree is generic in the rates: a
coefficient that vanishes for random residues vanishes identically, up to a chance of
degree / prime). Then the quadrature with the rule's node count agrees with more nodes
to rounding, and with one node fewer in s or in G it does not.
"""

from __future__ import annotations

import random

import pytest
import torch

from layerlr.theory import readout, rule

PRIME = 2_147_483_647  # 2^31 - 1: products of two residues fit Python ints trivially


def poly_mul(a: list[int], b: list[int]) -> list[int]:
    if not a or not b:
        return []
    out = [0] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i + j] = (out[i + j] + x * y) % PRIME
    return out


def poly_add(a: list[int], b: list[int]) -> list[int]:
    out = [((a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0)) % PRIME
           for i in range(max(len(a), len(b)))]
    while out and out[-1] == 0:
        out.pop()
    return out


def exact_degrees(layers: int, steps: int, rng: random.Random) -> list[int]:
    """Degree in s of |u|^2 and <u, beta> (max) after each step, from the polynomials.

    Vectors in the basis (beta, a) with Gram [[1, s], [s, 1]]; each W_l as the list of
    its rank-one updates (p, v, r): W x = x + sum r p <v, x>, W^T x = x + sum r v <p, x>.
    """
    s, one = [0, 1], [1]

    def dot(x, y):
        xy = poly_add(poly_mul(x[0], y[0]), poly_mul(x[1], y[1]))
        return poly_add(xy, poly_mul(s, poly_add(poly_mul(x[0], y[1]), poly_mul(x[1], y[0]))))

    def apply(updates, x, transpose=False):
        out = list(x)
        for p, v, r in updates:
            left, right = (v, p) if transpose else (p, v)
            c = poly_mul([r], dot(right, x))
            out = [poly_add(out[i], poly_mul(c, left[i])) for i in range(2)]
        return out

    w = [[] for _ in range(layers)]
    beta, a = [one, []], [[], one]
    out = []
    for _ in range(steps):
        v = [a]
        for l in range(layers - 1, -1, -1):
            v.append(apply(w[l], v[-1]))
        v = v[::-1]
        p = [beta]
        for l in range(layers - 1):
            p.append(apply(w[l], p[-1], transpose=True))
        for l in range(layers):
            w[l] = w[l] + [(p[l], v[l + 1], rng.randrange(1, PRIME))]
        u = a
        for l in range(layers - 1, -1, -1):
            u = apply(w[l], u)
        out.append(max(len(dot(u, u)), len(dot(u, beta))) - 1)
    return out


@pytest.mark.parametrize("layers,steps", [(2, 5), (3, 3), (4, 3), (5, 2), (7, 2)])
def test_s_degrees_are_those_of_the_polynomials(layers, steps):
    counted = [d for d, _ in rule.degrees(layers, steps)]
    assert counted == exact_degrees(layers, steps, random.Random(layers * 100 + steps))
    assert counted == [2 * (layers - 1) ** t for t in range(1, steps + 1)]


@pytest.mark.parametrize("layers,steps", [(2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (4, 1),
                                          (4, 2)])
@pytest.mark.parametrize("gaussian", [False, True])
def test_the_rule_is_exact_and_one_node_fewer_is_not(layers, steps, gaussian):
    """Small h and large rates: the top-degree terms matter, a missing node shows."""
    h = 6
    rates = (2 + 2 * torch.rand(3, steps, layers, generator=torch.Generator().manual_seed(
        steps), dtype=torch.float64)) * h**0.5
    n_s, n_g = rule.nodes(layers, steps, gaussian)
    more = readout.expected_loss(h, rates, gaussian, (n_s + 3, n_g + 3 if gaussian else 0))
    exact = readout.expected_loss(h, rates, gaussian, (n_s, n_g))
    torch.testing.assert_close(exact, more, rtol=1e-12, atol=0)
    fewer = [(n_s - 1, n_g)] + ([(n_s, n_g - 1)] if gaussian else [])
    for counts in fewer:
        off = (readout.expected_loss(h, rates, gaussian, counts) - more) / more
        assert off[:, -1].abs().min() > 1e-9, counts  # rounding is ~1e-15


def test_depth_three_needs_two_nodes_in_s_at_every_length():
    assert [rule.nodes(2, t, False) for t in (1, 10, 100)] == [(2, 0)] * 3
    assert rule.nodes(2, 100, True) == (2, 101)


LIMITS = {  # the README's table: the last exact step per depth, (sphere, gaussian)
    3: (None, None), 4: (11, 6), 5: (7, 4), 6: (5, 3), 7: (5, 3), 8: (4, 3)}


@pytest.mark.parametrize("depth", sorted(LIMITS))
@pytest.mark.parametrize("gaussian", [False, True])
def test_exact_steps_stop_at_the_documented_limits(depth, gaussian):
    last = LIMITS[depth][gaussian]
    if last is None:  # every schedule length a study allows
        assert rule.exact_steps(depth - 1, 100, gaussian) == 100
    else:
        assert rule.exact_steps(depth - 1, last + 5, gaussian) == last

"""The Gauss rules against exact moments and against scipy's own rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import roots_genlaguerre, roots_jacobi

from layerlr.theory import quadrature
from layerlr.theory.rule import MAX_PRODUCT_NODES


def log_chi2_moments(h: int, k_max: int) -> np.ndarray:
    """log E[A^k] for A = chi^2_h / h, k = 0..k_max: E[A^k] = prod_{i<k} (1 + 2i/h)."""
    return np.concatenate([[0.0], np.cumsum(np.log1p(2 * np.arange(k_max) / h))])


def relative_moment_errors(rule, log_exact: np.ndarray) -> np.ndarray:
    """|sum w x^k / exact - 1| for k = 0..len(log_exact)-1 (x > 0), in log space."""
    k = np.arange(len(log_exact))[:, None]
    with np.errstate(divide="ignore"):  # weights that underflowed to 0
        terms = np.log(rule.weights) + k * np.log(rule.nodes) - log_exact[:, None]
    return np.abs(np.exp(terms).sum(axis=1) - 1)


@pytest.mark.parametrize("h", [2, 3, 16, 1000, 100_000])
@pytest.mark.parametrize("n", [1, 2, 7, 60])
def test_cosine_rule_has_the_moments_of_a_coordinate_of_a_unit_vector(h, n):
    rule = quadrature.cosine(h, n)
    assert rule.weights.sum() == pytest.approx(1, abs=1e-14)
    for m in range(n):  # E[s^(2m)] = prod_{i<m} (2i + 1)/(h + 2i), exact to degree 2n - 1
        exact = math.prod((2 * i + 1) / (h + 2 * i) for i in range(m))
        assert np.sum(rule.weights * rule.nodes ** (2 * m)) == pytest.approx(exact, rel=1e-11)
        assert abs(np.sum(rule.weights * rule.nodes ** (2 * m + 1))) < 1e-15 * (m + 1)


@pytest.mark.parametrize("h,n", [(5, 4), (16, 9), (64, 30)])
def test_cosine_rule_equals_scipys_gauss_jacobi(h, n):
    nodes, weights = roots_jacobi(n, (h - 3) / 2, (h - 3) / 2)
    rule = quadrature.cosine(h, n)
    np.testing.assert_allclose(rule.nodes, nodes, atol=1e-13)
    np.testing.assert_allclose(rule.weights, weights / weights.sum(), rtol=1e-10)


def test_width_one_is_the_two_points_plus_minus_one():
    rule = quadrature.cosine(1, 5)
    assert list(rule.nodes) == [-1.0, 1.0] and list(rule.weights) == [0.5, 0.5]


@pytest.mark.parametrize("h", [3, 16, 1000, 100_000])
@pytest.mark.parametrize("n", [1, 3, 20, 80])
def test_chi2_rule_has_the_moments_of_chi2_over_h(h, n):
    errors = relative_moment_errors(quadrature.chi2(h, n), log_chi2_moments(h, 2 * n - 1))
    assert errors.max() < 1e-11


@pytest.mark.parametrize("h,n", [(6, 5), (16, 12), (200, 25)])
def test_chi2_rule_equals_scipys_generalised_laguerre(h, n):
    nodes, weights = roots_genlaguerre(n, h / 2 - 1)  # in t = h A / 2
    rule = quadrature.chi2(h, n)
    np.testing.assert_allclose(rule.nodes, 2 * nodes / h, rtol=1e-12)
    np.testing.assert_allclose(rule.weights, weights / weights.sum(), rtol=1e-9)


def product_moment_errors(h: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """E[G^k] = E[A^k]^2 and, tilted by A, E[A G^k] = E[A^(k+1)] E[A^k], k <= 2n - 1."""
    log_m = log_chi2_moments(h, 2 * n)
    return (relative_moment_errors(quadrature.product(h, n, False), 2 * log_m[:-1]),
            relative_moment_errors(quadrature.product(h, n, True), log_m[1:] + log_m[:-1]))


@pytest.mark.parametrize("h", [10, 16, 1000, 100_000])
@pytest.mark.parametrize("n", [1, 4, 30, 100])
def test_product_rules_have_the_moments_of_a_times_b(h, n):
    plain, tilted = product_moment_errors(h, n)
    assert plain.max() < 1e-11 and tilted.max() < 1e-11


@pytest.mark.parametrize("h,tolerance", [(16, 1e-5), (64, 1e-11), (1000, 1e-11),
                                         (100_000, 1e-11)])
def test_product_rules_at_the_node_limit(h, tolerance):
    """At the limit the top moments (degree 2n - 1 ~ 320) at h = 16 sit in a tail whose
    chi^2 weights (~1e-280) near float64's underflow: 1e-6 relative there."""
    plain, tilted = product_moment_errors(h, MAX_PRODUCT_NODES)
    assert plain.max() < tolerance and tilted.max() < tolerance

"""The expected surrogate loss beside every measurement ("theory", SPEC 6, 11, 12).

:func:`closed_form` gives, for a batch of schedules, the exact expectation of the
realized surrogate loss after every step wherever it is known, and says so per step:

- ``exact``: orthogonal init, whitened data, d = h (any n >= h), and a matrix network
  with an orthogonal target and rho = 0 (:mod:`.matrix`, SPEC 12, any number of steps)
  or a readout network of any depth with a and beta on the sphere or gaussian and
  rho = 0, or gaussian with label noise rho > 0 (:mod:`.readout`, SPEC 11), for the
  steps its quadrature allows (:mod:`.rule`);
- ``absent`` (value NaN, never 0) everywhere else: gaussian init or data, d != h,
  rho > 0 for the matrix family or a sphere target, a gaussian matrix target (SPEC 6's
  formula is off there: +167% at h = 16), readout steps beyond the quadrature limits.

Modules: :mod:`.scope` (where the theory is exact; torch-free), :mod:`.rule` (Gauss
nodes from polynomial degrees; torch-free), :mod:`.quadrature` (the Gauss rules),
:mod:`.readout` and :mod:`.matrix` (the reductions), :mod:`.expectation`
(:func:`closed_form`), :mod:`.paper` (SPEC 6's formulas, which the tests hold the
reductions to). Datasets written before the exact reductions may hold ``asymptotic``
rows: SPEC 6's formulas where they held only to leading order in h.
"""

from __future__ import annotations

from layerlr._lazy import lazy_names

_WHERE = {
    "closed_form": "layerlr.theory.expectation",
    "FORMULAS": "layerlr.theory.paper",
    "EXACT": "layerlr.theory.scope",
    "ABSENT": "layerlr.theory.scope",
    "exact_steps": "layerlr.theory.scope",
    "setting_kind": "layerlr.theory.scope",
}

__all__ = ["ABSENT", "EXACT", "FORMULAS", "closed_form", "exact_steps", "setting_kind"]

__getattr__, __dir__ = lazy_names(__name__, _WHERE)

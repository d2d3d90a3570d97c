"""Where the theory has an exact value: which settings, and how many steps (SPEC 11, 12).

Torch-free, so that study files are checked without importing the engine.
"""

from __future__ import annotations

from layerlr.setting import Setting
from layerlr.theory import rule

EXACT, ABSENT = "exact", "absent"


def setting_kind(setting: Setting) -> str:
    """``exact`` where SPEC 11 or 12 applies to the setting, else ``absent``.

    Both need orthogonal init, whitened data and d = h (n >= h changes nothing: whitened
    data give Sigma = I and, with rho = 0, c = beta). The matrix family needs an
    orthogonal target and rho = 0; the readout family takes a and beta on the sphere or
    gaussian with rho = 0, and label noise rho > 0 with gaussian a and beta (c is then
    gaussian too, see :mod:`.readout`).
    """
    s = setting
    if s.family == "mlp":  # no theory beyond linear networks (SPEC 10)
        return ABSENT
    if s.init != "orthogonal" or s.data != "whitened" or s.d != s.width:
        return ABSENT
    if s.family == "matrix":
        return EXACT if s.target == "orthogonal" and s.noise == 0 else ABSENT
    return EXACT if s.noise == 0 or s.target == "gaussian" else ABSENT


def exact_steps(setting: Setting, steps: int) -> int:
    """How many of the first ``steps`` steps have an exact value (0 where absent).

    Every step for the matrix family; for the readout family, the steps whose
    quadrature stays within :mod:`.rule`'s limits.
    """
    if setting_kind(setting) == ABSENT:
        return 0
    if setting.family == "matrix":
        return steps
    return rule.exact_steps(setting.layers, steps, setting.target == "gaussian")


def absent_reason(setting: Setting, steps: int) -> str | None:
    """Why some of the first ``steps`` steps have no exact value, or None."""
    known = exact_steps(setting, steps)
    if known == steps:
        return None
    if setting.family == "mlp":
        return "there is no exact theory for the mlp family (SPEC 10)"
    if known == 0 and setting_kind(setting) == ABSENT:
        needs = ("noise = 0, target = 'orthogonal'" if setting.family == "matrix"
                 else "noise = 0 or target = 'gaussian'")
        return ("there is no exact theory for this setting (it needs init = 'orthogonal', "
                f"data = 'whitened', d = width, {needs})")
    return (f"the exact theory stops after step {known} at depth {setting.depth} (its "
            "quadrature grows geometrically with the steps"
            + ("; target = 'sphere' allows more" if setting.target == "gaussian" else "") + ")")

"""Where the theory has an exact value: which settings, and how many steps (SPEC 11, 12).

Torch-free, so that study files are checked without importing the engine.
"""

from __future__ import annotations

from layerlr.setting import Setting
from layerlr.theory import rule

EXACT, ABSENT = "exact", "absent"


def setting_kind(setting: Setting) -> str:
    """``exact`` where SPEC 11 or 12 applies to the setting, else ``absent``.

    Both need orthogonal init, whitened data, rho = 0 and d = h (n >= h changes nothing:
    whitened data with rho = 0 give Sigma = I and c = beta). The matrix family needs an
    orthogonal target; the readout family takes a and beta on the sphere or gaussian.
    """
    s = setting
    if s.init != "orthogonal" or s.data != "whitened" or s.noise > 0 or s.d != s.width:
        return ABSENT
    if s.family == "matrix" and s.target != "orthogonal":
        return ABSENT
    return EXACT


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
    if known == 0 and setting_kind(setting) == ABSENT:
        return ("there is no exact theory for this setting (it needs init = 'orthogonal', "
                "data = 'whitened', noise = 0, d = width" + (", target = 'orthogonal'" if
                                                            setting.family == "matrix" else "")
                + ")")
    return (f"the exact theory stops after step {known} at depth {setting.depth} (its "
            "quadrature grows geometrically with the steps"
            + ("; target = 'sphere' allows more" if setting.target == "gaussian" else "") + ")")

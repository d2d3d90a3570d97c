"""Rules for a :class:`~layerlr.setting.Setting` that several families share (SPEC 2, 3, 9).

Each helper returns one line per violated constraint, "field: what was wrong and the
fix", as :meth:`~layerlr.families.protocol.Family.problems` does. Torch-free.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from layerlr.setting import Setting

INITS = ("orthogonal", "gaussian")  # SPEC 3
SYNTHETIC = ("whitened", "gaussian")  # drawn inputs (SPEC 2)
PROTOCOLS = ("native", "published")  # SPEC 9: a private generator, or the paper's draws
TEST_SIZE = 500  # m, the empirical test set (SPEC 9)
MODULE_FIELDS = ("module", "loss", "groups", "optimizer", "batch_size")  # SPEC 13 only


def choice(name: str, value: object, allowed: tuple[str, ...], where: str = "") -> list[str]:
    """``value`` must be one of ``allowed``."""
    if value in allowed:
        return []
    return [f"{name}: {value!r} is not allowed{where}; choose one of {list(allowed)}"]


def sizes(s: Setting) -> list[str]:
    """depth, width, d, n and test_size must be positive integers."""
    out = []
    for name in ("depth", "width", "d", "n", "test_size"):
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            out.append(f"{name}: must be a positive integer, got {value!r}")
    return out


def noise(s: Setting) -> list[str]:
    """The label-noise variance rho must be a finite number >= 0."""
    if isinstance(s.noise, (int, float)) and math.isfinite(s.noise) and s.noise >= 0:
        return []
    return [f"noise: the label-noise variance must be a finite number >= 0, got {s.noise!r}"]


def linear(s: Setting) -> list[str]:
    """The linear networks take no activation (the mlp family does)."""
    if s.activation is None:
        return []
    return [(f"activation: the {s.family} family is linear and takes no activation "
             f"(got {s.activation!r}); remove it, or use family = 'mlp'")]


def module_only(s: Setting) -> list[str]:
    """The fields of the module family (SPEC 13), which no other family takes."""
    return [f"{name}: only the module family takes {name} (got {getattr(s, name)!r}); "
            f"remove it, or use family = 'module'"
            for name in MODULE_FIELDS if getattr(s, name) is not None]


def drawn_data(s: Setting) -> list[str]:
    """Orthogonal init needs d >= width (SPEC 3); whitened data need n >= d (SPEC 2)."""
    out = []
    if s.init == "orthogonal" and s.d < s.width:
        out.append(f"d: orthogonal init needs d >= width (W1 has orthonormal columns), "
                   f"got d={s.d} < width={s.width}; raise d or use init = 'gaussian'")
    if s.data == "whitened" and s.n < s.d:
        out.append(f"n: whitened data needs n >= d (X = sqrt(n) Q_X), got n={s.n} < "
                   f"d={s.d}; raise n or use data = 'gaussian'")
    return out


def drawn_defaults(s: Setting, targets: tuple[str, ...]) -> dict[str, object]:
    """d and n default to the width, m to 500, the init to orthogonal and the target to
    the published choice."""
    return {"d": s.width if s.d is None else s.d, "n": s.width if s.n is None else s.n,
            "init": INITS[0] if s.init is None else s.init,
            "test_size": TEST_SIZE if s.test_size is None else s.test_size,
            "target": targets[0] if s.target is None else s.target}

"""The readout family: f(x) = h^{-1/2} x^T W1 ... W_K a, a fixed (SPEC 1: the paper's
three-layer and deeper networks). Torch-free; :mod:`.dynamics` is the engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerlr.families.linear import LinearFamily
from layerlr.theory import rule

if TYPE_CHECKING:
    from torch import Tensor

    from layerlr.families.readout.dynamics import ReadoutDynamics
    from layerlr.setting import Setting


class ReadoutFamily(LinearFamily):
    name = "readout"
    targets = ("gaussian", "sphere")  # SPEC 2: a and beta N(0, 1/h), or on the sphere
    default_alpha = (0.0, 0.8)  # B = 2 h^alpha brackets SPEC 8's regime, alpha 0.25-0.55
    default_exponent = (-1.0, 1.0)
    theory_needs = "noise = 0 or target = 'gaussian'"

    def depth_problems(self, setting: Setting) -> list[str]:
        if setting.depth >= 3:
            return []
        return [f"depth: the readout family needs depth >= 3, got {setting.depth}; "
                "use family = 'matrix' for depth 2"]

    def layers(self, setting: Setting) -> int:
        return setting.depth - 1

    def shared_floats(self, setting: Setting) -> int:
        return 4 * (setting.d + setting.width)

    def schedule_floats(self, setting: Setting, steps: int) -> int:
        # U, V columns of two runs, the chains and the matvec temporaries
        h, d, k = setting.width, setting.d, self.layers(setting)
        return 4 * k * steps * (d + h) + 8 * k * h + 8 * d

    def theory_target(self, setting: Setting) -> bool:
        """a and beta on the sphere or gaussian with rho = 0; gaussian with rho > 0 (c is
        then gaussian too, see :mod:`layerlr.theory.readout`)."""
        return setting.noise == 0 or setting.target == "gaussian"

    def exact_steps(self, setting: Setting, steps: int) -> int:
        """The steps whose quadrature stays within :mod:`layerlr.theory.rule`'s limits."""
        if not self.theory_holds(setting):
            return 0
        return rule.exact_steps(self.layers(setting), steps, setting.target == "gaussian")

    def theory_stops(self, setting: Setting, known: int) -> str:
        more = "; target = 'sphere' allows more" if setting.target == "gaussian" else ""
        return (f"the exact theory stops after step {known} at depth {setting.depth} (its "
                f"quadrature grows geometrically with the steps{more})")

    def expected_loss(self, setting: Setting, rates: Tensor) -> Tensor:
        from layerlr.theory import readout

        kappa = 1 + setting.width * setting.noise / setting.n  # var(c) / var(beta)
        return readout.expected_loss(setting.width, rates, setting.target == "gaussian",
                                     kappa=kappa)

    def dynamics(self) -> ReadoutDynamics:
        from layerlr.families.readout.dynamics import ReadoutDynamics

        return ReadoutDynamics()


FAMILY = ReadoutFamily()

"""The matrix family: f(x) = x^T W1 W2 / h, both layers trained (SPEC 1: the paper's
"two-layer" network). Torch-free; :mod:`.dynamics` and :mod:`.products` are the engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerlr.families.linear import LinearFamily

if TYPE_CHECKING:
    from torch import Tensor

    from layerlr.families.matrix.dynamics import MatrixDynamics
    from layerlr.setting import Setting


class MatrixFamily(LinearFamily):
    name = "matrix"
    targets = ("orthogonal", "gaussian")  # SPEC 2: Q_beta / sqrt(d), or N(0, 1/d^2)
    default_alpha = (1.0, 1.6)  # B = 2 h^alpha brackets SPEC 8's regime, alpha 1.1-1.5
    default_exponent = (0.5, 1.7)
    theory_needs = "noise = 0, target = 'orthogonal'"

    def depth_problems(self, setting: Setting) -> list[str]:
        if setting.depth == 2:
            return []
        return [f"depth: the matrix family has depth 2 (W1 W2), got {setting.depth}; "
                "use family = 'readout' for depth >= 3"]

    def target_problems(self, setting: Setting) -> list[str]:
        s = setting
        if s.target == "orthogonal" and s.d < s.width:
            return [f"target: an orthogonal target needs d >= width, got d={s.d}; "
                    "use target = 'gaussian'"]
        return []

    def layers(self, setting: Setting) -> int:
        return 2

    def outputs(self, setting: Setting) -> int:
        return setting.width

    def shared_floats(self, setting: Setting) -> int:
        return 40 * setting.d * setting.width  # the products steps 1 and 2 combine

    def schedule_floats(self, setting: Setting, steps: int) -> int:
        # W1, W2 (step 2's combinations, or a later step's products and temporaries),
        # M, Sigma M, Z M and the losses' buffer of differences, with room to spare
        h, d = setting.width, setting.d
        return 8 * (d * h + h * h) + d * h

    def theory_target(self, setting: Setting) -> bool:
        return setting.target == "orthogonal" and setting.noise == 0

    def exact_steps(self, setting: Setting, steps: int) -> int:
        """Every step (SPEC 12), where the theory holds."""
        return steps if self.theory_holds(setting) else 0

    def expected_loss(self, setting: Setting, rates: Tensor) -> Tensor:
        from layerlr.theory import matrix

        return matrix.expected_loss(setting.width, rates)

    def dynamics(self) -> MatrixDynamics:
        from layerlr.families.matrix.dynamics import MatrixDynamics

        return MatrixDynamics()


FAMILY = MatrixFamily()

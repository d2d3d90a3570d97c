"""What the linear families (matrix, readout) share: their rules, draws and memory.

Both draw SPEC 9's initial weights, data and target (:mod:`.draws`), keep only the
sufficient statistics Sigma = X^T X / n and c = X^T y / n, and record the same forward
pass (:mod:`.forward`). Torch-free; :mod:`.draws` and :mod:`.forward` import torch.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar

from layerlr.families import rules
from layerlr.families.protocol import Family

if TYPE_CHECKING:
    import torch

    from layerlr.families.linear.draws import Draw
    from layerlr.setting import Setting


class LinearFamily(Family):
    """A family of linear networks on drawn data (SPEC 1-3): matrix or readout."""

    def defaults(self, setting: Setting) -> dict[str, object]:
        return rules.drawn_defaults(setting, self.targets)

    def problems(self, setting: Setting) -> list[str]:
        s, out = setting, rules.sizes(setting)
        if out:
            return out
        out += self.depth_problems(s) + rules.linear(s) + rules.module_only(s)
        out += rules.choice("init", s.init, rules.INITS)
        out += rules.choice("data", s.data, rules.SYNTHETIC, f" for the {self.name} family "
                            "(real data sets need family = 'mlp')")
        out += rules.noise(s)
        out += rules.choice("target", s.target, self.targets, f" for the {self.name} family")
        return out + rules.drawn_data(s) + self.target_problems(s)

    @abstractmethod
    def depth_problems(self, setting: Setting) -> list[str]:
        """The depths the family has."""

    def target_problems(self, setting: Setting) -> list[str]:
        """What the target needs of the shapes."""
        return []

    # --- memory ---------------------------------------------------------------------

    def footprint(self, setting: Setting, seeds: int, steps: int,
                  itemsize: int) -> tuple[int, int]:
        """Every seed's raw draws coexist with what is kept of them (Sigma, c, the fit,
        the test root, the weights) and the per-seed work of :meth:`shared_floats`."""
        s = setting
        h, d, n, m, o, k = s.width, s.d, s.n, s.test_size, self.outputs(s), self.layers(s)
        raw = n * d + m * d + d * h + (k - 1) * h * h + n * o + d * o  # a seed's raw draws
        kept = d * d + 2 * d * o + min(m, d) * d + d * h + (k - 1) * h * h + h
        draws = seeds * (raw + kept + self.shared_floats(s)) * itemsize
        return draws, self.schedule_floats(s, steps) * itemsize * seeds

    @abstractmethod
    def shared_floats(self, setting: Setting) -> int:
        """Floats of the per-seed work that every schedule of a seed shares."""

    @abstractmethod
    def schedule_floats(self, setting: Setting, steps: int) -> int:
        """Floats one schedule of one seed needs in a chunk."""

    # --- the exact theory -------------------------------------------------------------

    def theory_holds(self, setting: Setting) -> bool:
        """SPEC 11, 12: orthogonal init, whitened data, d = h (n >= h changes nothing:
        whitened data give Sigma = I and, with rho = 0, c = beta), and the family's own
        conditions on target and noise (:attr:`theory_needs`)."""
        s = setting
        return (s.init == "orthogonal" and s.data == "whitened" and s.d == s.width
                and self.theory_target(s))

    theory_needs: ClassVar[str]  # the family's own conditions, as the user writes them

    @abstractmethod
    def theory_target(self, setting: Setting) -> bool:
        """The family's conditions on the target and the label noise."""

    def absent_reason(self, setting: Setting, steps: int) -> str | None:
        if self.exact_steps(setting, steps) == steps:
            return None
        if not self.theory_holds(setting):
            return ("there is no exact theory for this setting (it needs init = "
                    f"'orthogonal', data = 'whitened', d = width, {self.theory_needs})")
        return self.theory_stops(setting, self.exact_steps(setting, steps))

    def theory_stops(self, setting: Setting, known: int) -> str:
        """Why the theory stops after step ``known``."""
        return f"the exact theory stops after step {known}"

    # --- the engine -----------------------------------------------------------------

    def draw(self, setting: Setting, seeds: list[int], protocol: str,
             device: str | torch.device, dtype: torch.dtype) -> Draw:
        from layerlr.families.linear.draws import draw

        return draw(setting, seeds, protocol, device, dtype)

"""The report's records: small frozen dataclasses that the analysis fills and
:mod:`.markdown` and :mod:`.figures` read. Nothing here computes; no matplotlib.

Shapes: a :class:`Line` holds one budget's points (P rows of Parquet, one per trial);
per-seed values are (P, S) arrays, S the seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from layerlr.report.data import StudyResults

LOSSES = ("surrogate", "gd")  # the measured losses a budget is tested on (CurvatureRow)


@dataclass(frozen=True)
class TTest:
    """A two-sided one-sample t-test of a mean over seeds (SPEC 8 verdicts, gaps)."""

    mean: float
    se: float  # standard error of the mean (NaN below two seeds)
    n: int  # seeds
    t: float  # mean / se
    p: float  # two-sided, Student's t with n - 1 degrees of freedom; 1 when not decidable
    decidable: bool = True  # False: the effect is within the losses' rounding

    @property
    def df(self) -> int:
        return self.n - 1


@dataclass(frozen=True)
class Correction:
    """Holm's step-down over a study's m tests at family-wise level q: R findings."""

    q: float
    m: int
    findings: int

    @property
    def cutoff(self) -> float:
        """A test is a finding exactly when its p <= q / (m - R + 1) (0 with no finding)."""
        return self.q / (self.m - self.findings + 1) if self.findings else 0.0

    @property
    def next_cutoff(self) -> float:
        """The p a further test needs to become a finding: q / (m - R)."""
        return self.q / (self.m - self.findings) if self.findings < self.m else self.q


@dataclass(frozen=True)
class Line:
    """The points of one budget at one step, sorted by u = eta1/B of the swept step.

    ``rows``: the Parquet rows at the step; ``x``: eta1 of the swept step, per row.
    """

    budget: float
    layers: int
    rows: pd.DataFrame
    x: np.ndarray

    @property
    def u(self) -> np.ndarray:
        return self.x / self.budget

    def stencil(self) -> np.ndarray | None:
        """Positions (in ``rows``) of the three points nearest the equal split, sorted
        by u, or None when they do not bracket it."""
        u, equal = self.u, 1.0 / self.layers
        if len(u) < 3:
            return None
        near = np.sort(np.argsort(np.abs(u - equal), kind="stable")[:3])
        return near if u[near[0]] <= equal <= u[near[-1]] else None

    def spacing(self) -> float:
        """Half the stencil's width in eta1, relative to the equal rate B/K."""
        u = self.u[self.stencil()]
        return (u[2] - u[0]) / 2 * self.layers


@dataclass(frozen=True)
class Curvature:
    """d^2L/du^2 at the equal split: mean over seeds, its standard error, the verdict;
    and the slope dL/du there (mean and standard error over seeds). Measured ones carry
    their t-tests and the per-test p cutoff their verdict was decided at."""

    mean: float
    se: float | None  # None for the closed form (exact)
    verdict: str  # "maximum" | "minimum" | "undecided"
    slope: float = math.nan
    slope_se: float | None = None
    sloped: bool = False  # the slope puts the extremum off the stencil
    curvature_test: TTest | None = None  # None for the closed form
    slope_test: TTest | None = None
    vertex_off: bool = False  # the parabola's vertex lies outside the three points
    cutoff: float | None = None  # decided where a test's p <= cutoff

    @property
    def position(self) -> str:
        """What the budget shows of the equal split: "sloped" (no stationary point: the
        optimum lies to one side) or the curvature's verdict."""
        return "sloped" if self.sloped else self.verdict

    @property
    def seeds(self) -> int | None:
        return None if self.curvature_test is None else self.curvature_test.n


@dataclass(frozen=True)
class CurvatureRow:
    """The curvature tests of one budget at one step: closed form, surrogate, GD."""

    step: int
    budget: float
    alpha: float
    spacing: float  # half the stencil, relative to the equal rate
    theory: Curvature | None  # None where the theory is absent
    surrogate: Curvature | None  # None in a study of the theory alone
    gd: Curvature | None  # the study's measured objective (StudyResults.gd_loss)
    replaced: tuple[Curvature | None, Curvature | None] | None = None  # (surrogate, GD)
    # of the study's own seeds, where a confirm run's fresh seeds decide instead


@dataclass(frozen=True)
class BudgetTest:
    """One test of one budget (a curvature or a slope of a measured loss), where it stands
    after the study's correction, and the fresh seeds that would decide it."""

    cell: str
    step: int
    budget: float
    alpha: float
    loss: str  # "surrogate" | "gd"
    quantity: str  # "curvature" | "slope"
    test: TTest
    adjusted: float  # its Holm adjusted p
    finding: bool  # p <= the study's cutoff
    needed: int | None = None  # fresh seeds to decide it (not a finding); None: no estimate


@dataclass(frozen=True)
class Claim:
    """A SPEC 8 claim of one cell and step, decided over its budgets."""

    cell: str
    step: int
    loss: str  # "surrogate" | "gd" | "theory"
    verdict: str  # "yes" | "no" | "undecided" | "—" (a loss not measured)
    budgets: int
    decided_by: BudgetTest | None  # the weakest supporting test of a yes, the strongest
    # contradicting one of a no; None for undecided claims and the closed form
    false_yes: float  # bound on P(yes) with no curvature or slope (computed, see verdicts)
    false_no: float  # bound on P(no) likewise
    weakest: BudgetTest | None = None  # an undecided claim's open test with fewest seeds needed


@dataclass(frozen=True)
class Estimate:
    mean: float
    se: float
    n: int = 0  # seeds (0: unknown)


@dataclass(frozen=True)
class Gaps:
    """The decomposition of one cell at one step; ``parts`` keyed by gaps.PARTS."""

    step: int
    trials: int
    parts: dict[str, Estimate | None]
    total: Estimate | None  # empirical - theory, None without a closed form


@dataclass(frozen=True)
class GapFit:
    """|gap| = c h^b across widths: weighted least squares of log|gap| on log h."""

    network: str
    depth: int
    step: int
    part: str
    widths: tuple[int, ...]
    exponent: float  # b
    se: float  # from the gaps' standard errors (the weights)
    chi2: float  # residual chi^2 per degree of freedom (NaN with two widths)


@dataclass(frozen=True)
class Best:
    """The best schedule of a cell at one step."""

    cell: str
    depth: int
    width: int
    step: int
    trial: int
    loss: float  # the objective loss after ``step``, mean over seeds ...
    se: float  # ... and its standard error
    rates: tuple[float, ...]  # per layer, at ``step``
    budget: float  # sum of ``rates``
    alpha: float  # log(budget / scale) / log(width)
    edge: bool = False  # at the edge of the searched budgets: the optimum may lie beyond
    accuracy: float = math.nan  # held-out accuracy after ``step``, mean over seeds (NaN: none)

    @property
    def imbalance(self) -> float:
        """Largest over smallest rate (1 for equal rates)."""
        low = min(self.rates)
        return max(self.rates) / low if low > 0 else math.inf


@dataclass(frozen=True)
class Scaling:
    """alpha* against width for one depth and step, with its fitted slope."""

    depth: int
    step: int
    widths: tuple[int, ...]
    alphas: tuple[float, ...]
    slope: float | None  # d alpha* / d log2(h); None with one width
    se: float | None  # its standard error from the fit's residuals; None below 3 widths
    network: str = ""  # the mlp's activation and data (see report.data.network)
    residual: float | None = None  # root mean square residual of the fit (3+ widths)


@dataclass(frozen=True)
class CarryOver:
    """How the best schedule for one step does at another (cells that differ only in
    their objective step share their draws, so the comparison is paired over seeds)."""

    cell: str  # the cells' common name, without "-obj<step>"
    winner_of: int  # the objective step whose best trial this is
    trial: int
    step: int  # where it is measured
    loss: float  # its objective loss there, mean over seeds ...
    se: float  # ... and standard error
    gap: float  # minus the loss there of that step's own best trial, mean over seeds ...
    gap_se: float  # ... and the standard error of the paired differences
    seeds: int = 0  # the seeds both are over


@dataclass(frozen=True)
class BaselineGain:
    """A searched cell's best schedule against a baseline's best (SPEC 13), paired over
    seeds at the objective step (see :mod:`.baselines`)."""

    cell: str  # the searched cell
    baseline: str  # "single" or "decay"
    step: int
    trial: int  # the search's best trial ...
    loss: float  # ... and its loss, mean over seeds
    baseline_trial: int
    baseline_loss: float
    gain: TTest  # baseline loss minus the search's, per seed
    accuracy: float = math.nan  # held-out accuracy of the search's best, mean over seeds
    baseline_accuracy: float = math.nan  # ... and of the baseline's (NaN: none)


@dataclass
class CellReport:
    cell: str
    depth: int
    width: int
    curvatures: list[CurvatureRow]
    gaps: list[Gaps]
    best: list[Best]
    lines: dict[int, list[Line]]  # per step


@dataclass
class StudyReport:
    study: StudyResults
    cells: list[CellReport]
    scaling: list[Scaling]
    carry: list[CarryOver] = field(default_factory=list)  # winners at other objective steps
    baselines: list[BaselineGain] = field(default_factory=list)  # the search against them
    figures: list[Path] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    tests: list[BudgetTest] = field(default_factory=list)  # every measured test
    open: list[BudgetTest] = field(default_factory=list)  # tests to decide, see verdicts
    correction: Correction | None = None  # Holm over the study's tests (None: none measured)
    gap_fits: list[GapFit] = field(default_factory=list)
    confirmed_by: str | None = None  # the confirm study whose seeds replaced some tests


@dataclass
class Report:
    out: Path
    summary: Path
    studies: list[StudyReport]

    @property
    def figures(self) -> list[Path]:
        return [f for s in self.studies for f in s.figures]

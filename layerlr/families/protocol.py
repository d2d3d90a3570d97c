"""The contract between the engine and a network family (SPEC 1-5, 10, 13).

A family is described twice:

- :class:`Family`, torch-free: its rules for a :class:`~layerlr.setting.Setting`, its
  trained layers, its memory estimate and where its exact theory holds. Study files are
  checked, and cells sized, with it before torch is imported.
- :class:`Dynamics`: gradient descent and the signal-only surrogate, batched over
  (seeds, schedules), which :func:`layerlr.engine.evaluate` drives on the family's
  :class:`Draws`. :meth:`Family.dynamics` and :meth:`Family.draw` import torch.

The engine drives a family in this order, once per evaluation and then per chunk of
schedules ``rates`` (B, T, K) (see :func:`layerlr.engine.evaluate`)::

    draws = family.draw(setting, seeds, protocol, device, dtype)
    dyn = family.dynamics()
    draws = dyn.frame(draws)
    prepared = dyn.prepare(draws, signal_only, T)      # per seed: shared by every schedule
    dyn.surrogate_losses(draws, prepared, rates)        # surrogate only; None: run it
    state, fwd = dyn.first_step(draws, prepared, rates[:, 0], signal_only)
    for t = 2 .. T:
        dyn.losses(draws, fwd)  (GD)  or  dyn.population(draws, fwd)  (surrogate)
        state = dyn.step(draws, state, fwd, rates[:, t - 1], signal_only)
        state = dyn.zero(state, diverged)                # when some runs diverged
        fwd = dyn.forward(draws, state, signal_only)

A new family is one folder under ``layerlr/families/`` whose ``__init__`` defines
``FAMILY`` (a :class:`Family`), and one line in :data:`layerlr.families.REGISTRY`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from layerlr.setting import Setting


class Draws(Protocol):
    """The random draws of S seeds that a family's dynamics run on, stacked along a
    leading seed axis."""

    @property
    def seeds(self) -> int: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def itemsize(self) -> int:
        """Bytes per element of the tensors the runs use (4: float32, 8: float64)."""
        ...


DrawT = TypeVar("DrawT", bound=Draws)
StateT = TypeVar("StateT")
ForwardT = TypeVar("ForwardT")
PreparedT = TypeVar("PreparedT")


class Dynamics(ABC, Generic[DrawT, PreparedT, StateT, ForwardT]):
    """GD (SPEC 4) and the signal-only surrogate (SPEC 5, 10, 13) of one family.

    Every tensor carries two leading axes (S, B): seeds, then schedules; a state shared
    by every schedule of a seed (the initial one) may have B = 1 and broadcast.
    ``signal_only`` selects the surrogate. One instance serves one evaluation (one draw):
    it may keep per-draw work and buffers.
    """

    def frame(self, draw: DrawT) -> DrawT:
        """The draw the runs use: ``draw`` itself, or one in which they cost less and
        every loss is the same."""
        return draw

    @abstractmethod
    def prepare(self, draw: DrawT, signal_only: bool, steps: int) -> PreparedT:
        """The per-seed work of the first steps that every schedule shares (from the
        initial state), made once per evaluation of ``steps`` steps."""

    @abstractmethod
    def first_step(self, draw: DrawT, prepared: PreparedT, rates: Tensor,
                   signal_only: bool) -> tuple[StateT, ForwardT]:
        """State and forward pass after step 1 for step-1 ``rates`` (B, K)."""

    @abstractmethod
    def step(self, draw: DrawT, state: StateT, fwd: ForwardT, rates: Tensor,
             signal_only: bool) -> StateT:
        """One simultaneous update of every layer group at ``rates`` (B, K); ``fwd`` is
        the forward pass of ``state``."""

    @abstractmethod
    def forward(self, draw: DrawT, state: StateT, signal_only: bool) -> ForwardT:
        """The forward pass of ``state``: what :meth:`losses` (GD), :meth:`population`
        (surrogate) and the next :meth:`step` read. A family may compute parts lazily;
        ``signal_only`` says that the GD-only parts will not be read."""

    @abstractmethod
    def losses(self, draw: DrawT, fwd: ForwardT) -> dict[str, Tensor]:
        """The measured losses of GD, each (S, B) or broadcastable to it: "train",
        "population", "empirical", and, where the family has them, further metrics named
        in :attr:`Family.metrics` (e.g. "accuracy")."""

    @abstractmethod
    def population(self, draw: DrawT, fwd: ForwardT) -> Tensor:
        """The loss a surrogate run records (its "population" loss), (S, B)."""

    @abstractmethod
    def zero(self, state: StateT, mask: Tensor) -> StateT:
        """``state`` with the (seed, schedule) pairs of ``mask`` (S, B) reset to a finite
        value (diverged runs: their infinities must stay out of the arithmetic)."""

    def surrogate_losses(self, draw: DrawT, prepared: PreparedT,
                         rates: Tensor) -> Tensor | None:
        """The surrogate's population losses (S, B, T) for ``rates`` (B, T, K) without
        running it, where the family has an exact shortcut; None: run it step by step."""
        return None


class Family(ABC):
    """What the rest of layerlr needs to know of a network family; torch-free.

    Methods that make tensors (:meth:`draw`, :meth:`dynamics`, :meth:`expected_loss`)
    import torch and the family's engine modules when called.
    """

    name: ClassVar[str]
    max_steps: ClassVar[int] = 100  # GD steps a schedule may have
    metrics: ClassVar[tuple[str, ...]] = ()  # measured beyond the four losses
    targets: ClassVar[tuple[str, ...]] = ()  # the targets it takes; the first is the default
    default_activation: ClassVar[str | None] = None  # of a cell that names none
    default_alpha: ClassVar[tuple[float, float]] = (0.0, 0.8)  # B = c h^alpha searched
    default_exponent: ClassVar[tuple[float, float]] = (-1.0, 1.0)  # free rates eta = h^e

    # --- settings -------------------------------------------------------------------

    @abstractmethod
    def defaults(self, setting: Setting) -> dict[str, Any]:
        """Values for the fields ``setting`` left as None (d, n, target, ...)."""

    @abstractmethod
    def problems(self, setting: Setting) -> list[str]:
        """Every violated constraint, one line per field ("field: what and the fix")."""

    @abstractmethod
    def layers(self, setting: Setting) -> int:
        """K, the number of trained layers (or layer groups), each with its own rate."""

    def outputs(self, setting: Setting) -> int:
        """Outputs of the network: the columns of its end-to-end map."""
        return 1

    def cell_prefix(self, setting: Setting) -> list[str]:
        """What a cell's name says before ``L<depth>-h<width>`` (e.g. its activation and
        data); nothing for the linear families."""
        return []

    def preflight(self, setting: Setting, seeds: list[int]) -> list[str]:
        """Problems that only making the draws of ``seeds`` finds (the user's network or
        data: shapes, dtypes, NaN, labels), one line each; called by the study layer
        before anything is written. May import torch and take seconds. Nothing to find
        for the families that draw their own data."""
        return []

    def group_names(self, setting: Setting) -> tuple[str, ...]:
        """Names of the K layers (or layer groups), in the order of the rates."""
        return tuple(f"layer{k}" for k in range(1, self.layers(setting) + 1))

    def threaded(self, setting: Setting) -> bool:
        """Whether a batch's products are large enough for several threads."""
        return setting.width >= 512

    # --- memory ---------------------------------------------------------------------

    @abstractmethod
    def footprint(self, setting: Setting, seeds: int, steps: int,
                  itemsize: int) -> tuple[int, int]:
        """(bytes of the draws and the per-seed work, bytes of one schedule) of an
        evaluation over ``seeds`` seeds: the first paid once per cell, the second per
        schedule of a chunk. Sizes chunks; refuses cells that cannot fit."""

    # --- the exact theory (SPEC 6, 11, 12) --------------------------------------------

    def exact_steps(self, setting: Setting, steps: int) -> int:
        """How many of the first ``steps`` steps have an exact expected surrogate loss."""
        return 0

    def absent_reason(self, setting: Setting, steps: int) -> str | None:
        """Why some of the first ``steps`` steps have no exact value, or None."""
        if self.exact_steps(setting, steps) == steps:
            return None
        return f"there is no exact theory for the {self.name} family"

    def expected_loss(self, setting: Setting, rates: Tensor) -> Tensor:
        """The exact expected surrogate loss (B, T) for ``rates`` (B, T, K), T at most
        :meth:`exact_steps`."""
        raise NotImplementedError(f"the {self.name} family has no exact theory")

    # --- the engine -----------------------------------------------------------------

    @abstractmethod
    def draw(self, setting: Setting, seeds: list[int], protocol: str,
             device: str | torch.device, dtype: torch.dtype) -> Draws:
        """The draws of every seed of ``seeds`` under ``protocol`` (SPEC 9, 13)."""

    @abstractmethod
    def dynamics(self) -> Dynamics:
        """A fresh :class:`Dynamics` for one evaluation."""


__all__ = ["Draws", "Dynamics", "Family"]

"""Where the theory has an exact value: which settings, and how many steps (SPEC 11, 12).

Each family says where its own theory holds
(:meth:`~layerlr.families.protocol.Family.exact_steps`, ``absent_reason``). Torch-free,
so that study files are checked without importing the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerlr.families import family

if TYPE_CHECKING:
    from layerlr.setting import Setting

EXACT, ABSENT = "exact", "absent"


def setting_kind(setting: Setting) -> str:
    """``exact`` where SPEC 11 or 12 applies to the setting (from its first step on),
    else ``absent``."""
    return EXACT if exact_steps(setting, 1) == 1 else ABSENT


def exact_steps(setting: Setting, steps: int) -> int:
    """How many of the first ``steps`` steps have an exact value (0 where absent)."""
    return family(setting.family).exact_steps(setting, steps)


def absent_reason(setting: Setting, steps: int) -> str | None:
    """Why some of the first ``steps`` steps have no exact value, or None."""
    return family(setting.family).absent_reason(setting, steps)

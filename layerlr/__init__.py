"""layerlr: distributed studies of layer-wise learning rates in deep linear networks.

The engine (``evaluate``) runs exact batched gradient descent of the networks of
``SPEC.md``; the study layer searches schedules with Optuna and spreads them with Ray.
"""

from layerlr.draws import Draw, draw
from layerlr.engine import Evaluation, evaluate
from layerlr.schedules import ScheduleError, as_schedules, constant, diagonal
from layerlr.setting import Setting, SettingError
from layerlr.theory import closed_form

__all__ = [
    "Draw",
    "Evaluation",
    "ScheduleError",
    "Setting",
    "SettingError",
    "as_schedules",
    "closed_form",
    "constant",
    "diagonal",
    "draw",
    "evaluate",
]

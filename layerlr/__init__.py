"""layerlr: distributed studies of layer-wise learning rates: in deep linear networks
(SPEC 1-12), in nonlinear ones (the mlp family, SPEC 10), and in any torch network on any
data (the module family, SPEC 13).

The engine (:func:`evaluate`) runs batched gradient descent of the networks of SPEC.md
(exact for the linear families, by torch.func for any module); the study layer
(:func:`run_study`) searches schedules with Optuna and spreads them over Ray;
:func:`read_results` reads the Parquet dataset a study writes.

Names are imported on first use, so that ``layerlr --help`` and study-file checks do
not pay for importing torch, Ray or Optuna.
"""

from __future__ import annotations

from layerlr._lazy import lazy_names

_WHERE = {
    "Setting": "layerlr.setting",
    "SettingError": "layerlr.setting",
    "Draw": "layerlr.families.linear.draws",
    "draw": "layerlr.engine",
    "Evaluation": "layerlr.engine",
    "evaluate": "layerlr.engine",
    "ScheduleError": "layerlr.schedules",
    "as_schedules": "layerlr.schedules",
    "constant": "layerlr.schedules",
    "diagonal": "layerlr.schedules",
    "closed_form": "layerlr.theory.expectation",
    "read_results": "layerlr.results",
    "Report": "layerlr.report",
    "make_report": "layerlr.report",
    "StudyConfig": "layerlr.study",
    "StudyFileError": "layerlr.study",
    "load_study": "layerlr.study",
    "run_study": "layerlr.study",
}

__all__ = [
    "Draw",
    "Evaluation",
    "Report",
    "ScheduleError",
    "Setting",
    "SettingError",
    "StudyConfig",
    "StudyFileError",
    "as_schedules",
    "closed_form",
    "constant",
    "diagonal",
    "draw",
    "evaluate",
    "load_study",
    "make_report",
    "read_results",
    "run_study",
]

__getattr__, __dir__ = lazy_names(__name__, _WHERE)

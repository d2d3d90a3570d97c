"""Optuna study names: each cell of a study is its own Optuna study, ``<study>/<cell>``."""

from __future__ import annotations


def study_name(study: str, cell: str) -> str:
    """The Optuna study of one cell: ``<study>/<cell>``."""
    return f"{study}/{cell}"


def split_name(name: str) -> tuple[str, str]:
    """``<study>/<cell>`` -> (study, cell); a name without '/' is a cell of study ''."""
    study, _, cell = name.rpartition("/")
    return study, cell

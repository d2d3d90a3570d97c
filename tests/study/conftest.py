"""A study-file maker for the study tests (the shared Ray is in tests/conftest.py)."""

from __future__ import annotations

import textwrap

import pytest


@pytest.fixture
def make_study(tmp_path):
    """make_study(text) writes a study file in tmp_path and returns its path."""

    def make(text: str, name: str = "study.toml"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return make

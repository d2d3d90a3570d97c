"""A local Ray with 2 CPUs shared by the whole study test suite, and a study-file maker."""

from __future__ import annotations

import textwrap

import pytest


@pytest.fixture(scope="session")
def ray_address():
    import ray

    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False,
             configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture
def make_study(tmp_path):
    """make_study(text) writes a study file in tmp_path and returns its path."""

    def make(text: str, name: str = "study.toml"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return make

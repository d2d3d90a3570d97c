"""Shared by the whole suite: the test helpers on sys.path, and one local Ray."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def ray_address():
    """A local Ray with 2 CPUs, started once for every test that runs studies."""
    import ray

    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False,
             configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()

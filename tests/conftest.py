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


@pytest.fixture(autouse=True)
def no_run_outlives_its_test(monkeypatch):
    """Kill any ``layerlr`` process a test started and left running (a test that failed
    while waiting for it), so that it cannot slow down the rest of the suite."""
    import subprocess

    started = []

    class Tracked(subprocess.Popen):
        def __init__(self, args, *rest, **kwargs):
            super().__init__(args, *rest, **kwargs)
            if any("layerlr" in str(a) for a in (args if isinstance(args, list) else [args])):
                started.append(self)

    monkeypatch.setattr(subprocess, "Popen", Tracked)
    yield
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

"""Worker planning follows the cluster: one worker per GPU when there are GPUs."""

from __future__ import annotations

import ray

from layerlr.study.config import ResourceSpec
from layerlr.study.worker import plan


def test_one_worker_per_gpu_of_every_node(monkeypatch):
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 96.0, "GPU": 8.0})
    assert plan(ResourceSpec()) == (8, 1.0, 1.0)
    assert plan(ResourceSpec(gpus_per_worker=0.5)) == (16, 1.0, 0.5)
    assert plan(ResourceSpec(gpus_per_worker=0)) == (96, 1.0, 0)


def test_cpu_workers_fill_the_cluster(monkeypatch):
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0})
    assert plan(ResourceSpec()) == (16, 1.0, 0.0)
    assert plan(ResourceSpec(cpus_per_worker=4)) == (4, 4, 0.0)
    assert plan(ResourceSpec(workers=3)) == (3, 1.0, 0.0)

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


def test_pool_sends_a_cell_to_the_worker_that_ran_it_last():
    from collections import deque

    from layerlr.study.worker import Pool

    pool = Pool.__new__(Pool)  # the choice alone, without Ray actors
    pool.idle, pool.last = deque(["a", "b", "c"]), {"b": "L2-h1000", "c": "L3-h8"}
    assert pool.take("L3-h8") == "c"
    assert pool.take("L2-h64") == "a"  # nobody ran it: the longest idle
    assert pool.last == {"a": "L2-h64", "b": "L2-h1000", "c": "L3-h8"}
    assert list(pool.idle) == ["b"]

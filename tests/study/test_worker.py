"""Evaluator planning follows the cluster: one per GPU, else one per CPU node."""

from __future__ import annotations

import pytest

from layerlr.study.config import ResourceSpec
from layerlr.study.worker import PlanError, Slot, plan

GPU_NODES = [{"id": f"g{i}", "cpus": 48.0, "gpus": 4.0, "memory": 1e12} for i in range(2)]
CPU_NODES = [{"id": "a", "cpus": 16.0, "gpus": 0.0, "memory": 1e11},
             {"id": "b", "cpus": 8.0, "gpus": 0.0, "memory": 1e11}]


def test_one_evaluator_per_gpu_of_every_node():
    slots = plan(ResourceSpec(), GPU_NODES)
    assert len(slots) == 8 and {s.gpus for s in slots} == {1.0}
    assert [s.node for s in slots].count("g1") == 4
    assert len(plan(ResourceSpec(gpus_per_worker=0.5), GPU_NODES)) == 16
    cpu_only = plan(ResourceSpec(gpus_per_worker=0), GPU_NODES)
    assert cpu_only == [Slot("g0", 48.0, 0.0, 48), Slot("g1", 48.0, 0.0, 48)]


def test_one_evaluator_per_cpu_node_with_all_its_cpus_unless_told_otherwise():
    assert plan(ResourceSpec(), CPU_NODES) == [Slot("a", 16.0, 0.0, 16), Slot("b", 8.0, 0.0, 8)]
    four = plan(ResourceSpec(cpus_per_worker=4), CPU_NODES)
    assert len(four) == 6 and {s.threads for s in four} == {4}
    assert len(plan(ResourceSpec(workers=3), CPU_NODES)) == 3


@pytest.mark.parametrize("resources,needle", [
    (ResourceSpec(cpus_per_worker=64), "cpus_per_worker: 64 CPUs per worker, but the largest "
                                       "node has 16"),
    (ResourceSpec(gpus_per_worker=1), "gpus_per_worker: 1 GPUs per worker, but the largest "
                                      "node has 0"),
])
def test_resources_the_cluster_cannot_place_are_refused(resources, needle):
    with pytest.raises(PlanError, match=needle):
        plan(resources, CPU_NODES)

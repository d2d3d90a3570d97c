"""cluster/: the launcher config passes Ray's own schema; the KubeRay manifest is complete."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import ray
import yaml

CLUSTER = Path(__file__).parents[1] / "cluster"


def test_launcher_config_validates_against_the_schema_shipped_with_ray():
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    config = yaml.safe_load((CLUSTER / "aws-gpu.yaml").read_text())
    jsonschema.validate(config, schema)
    gpu = config["available_node_types"]["gpu_worker"]
    assert gpu["resources"]["GPU"] >= 2 and gpu["max_workers"] > gpu["min_workers"]
    assert config["available_node_types"][config["head_node_type"]]["resources"]["CPU"] == 0
    assert any("pip install" in c and "layerlr" in c for c in config["setup_commands"])
    starts = [c for c in config["head_start_ray_commands"] + config["worker_start_ray_commands"]
              if "ray start" in c]
    assert len(starts) == 2 and all("RAY_AUTH_MODE=token" in c for c in starts)
    assert "--dashboard-host=127.0.0.1" in starts[0]


def test_a_broken_launcher_config_fails_the_schema():
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    config = yaml.safe_load((CLUSTER / "aws-gpu.yaml").read_text())
    del config["provider"]
    try:
        jsonschema.validate(config, schema)
    except jsonschema.ValidationError:
        return
    raise AssertionError("the schema accepted a config without a provider")


def test_kuberay_manifest_has_the_required_fields():
    doc = yaml.safe_load((CLUSTER / "kuberay-raycluster.yaml").read_text())
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == "RayCluster"
    assert doc["spec"]["authOptions"]["mode"] == "token"
    assert doc["metadata"]["name"]
    head = doc["spec"]["headGroupSpec"]
    assert isinstance(head["rayStartParams"], dict)
    assert head["rayStartParams"]["dashboard-host"] == "127.0.0.1"
    assert head["template"]["spec"]["containers"][0]["image"].startswith("rayproject/ray:")
    groups = doc["spec"]["workerGroupSpecs"]
    assert groups
    for group in groups:
        assert group["groupName"] and isinstance(group["rayStartParams"], dict)
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        container = group["template"]["spec"]["containers"][0]
        assert container["name"] and container["image"]
        limits = container["resources"]["limits"]
        assert int(limits["nvidia.com/gpu"]) == int(group["rayStartParams"]["num-gpus"]) >= 2
    assert all(isinstance(v, str) for g in groups for v in g["rayStartParams"].values())

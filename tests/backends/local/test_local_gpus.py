"""GPUs on the local backend: ``SM_NUM_GPUS`` from the devices this machine has, CPU fallback with one warning."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from local_helpers import log_messages, make_request, stage_code, wait_for_status

from airflow_tf_sm.backends.local.devices import gpu_count, visible_gpu_count

FAKE_NVIDIA_SMI = """#!/bin/sh
case "$1" in
  -L) echo "GPU 0: NVIDIA A10G (UUID: GPU-5f1e0c2a-aaaa)"
      echo "GPU 1: NVIDIA A10G (UUID: GPU-7b2d9e4f-bbbb)"
      echo "GPU 2: NVIDIA A10G (UUID: GPU-9c3a8d1e-cccc)" ;;
  *) exit 9 ;;
esac
"""
SCRIPT = """
    import os
    print("GPUS=" + os.environ["SM_NUM_GPUS"] + " CUDA=" + os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"))
"""
WARNING = "is a GPU instance type but this machine shows no GPU"


@pytest.fixture
def fake_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put an ``nvidia-smi`` listing three GPUs first on PATH (for the runner and the scripts)."""
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text(FAKE_NVIDIA_SMI)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return fake


@pytest.fixture
def no_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH on which no ``nvidia-smi`` is found, whatever this machine has."""
    bin_dir = tmp_path / "nogpu"
    bin_dir.mkdir()
    kept = [p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "nvidia-smi").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join([str(bin_dir), *kept]))


def _run(clients: tuple[Any, Any, Any], name: str, instance_type: str, count: int = 1) -> list[list[str]]:
    sm, s3, logs = clients
    code = stage_code(s3, {"train.py": SCRIPT}, key=f"code/{name}/sourcedir.tar.gz")
    request = make_request(name, code, instance_count=count)
    request["ResourceConfig"]["InstanceType"] = instance_type
    sm.create_training_job(**request)
    desc = wait_for_status(sm, name)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    return [log_messages(logs, name, f"algo-{i}") for i in range(1, count + 1)]


def test_sm_num_gpus_counts_what_nvidia_smi_lists(clients: tuple[Any, Any, Any], fake_gpus: Path) -> None:
    (messages,) = _run(clients, "job-gpu-3", "ml.g5.12xlarge")
    assert "GPUS=3 CUDA=<unset>" in messages
    assert not any(WARNING in m for m in messages)


def test_cuda_visible_devices_narrows_the_count_and_reaches_the_script(
    clients: tuple[Any, Any, Any], fake_gpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    (messages,) = _run(clients, "job-gpu-2", "ml.g5.12xlarge")
    assert "GPUS=2 CUDA=2,0" in messages


def test_gpu_job_without_gpus_runs_on_cpu_with_one_warning(clients: tuple[Any, Any, Any], no_gpus: None) -> None:
    algo1, algo2 = _run(clients, "job-gpu-none", "ml.p3.2xlarge", count=2)
    assert "GPUS=0 CUDA=<unset>" in algo1 and "GPUS=0 CUDA=<unset>" in algo2
    warnings = [m for m in algo1 + algo2 if WARNING in m]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("WARNING: ml.p3.2xlarge is a GPU instance type")


def test_cpu_job_without_gpus_has_no_warning(clients: tuple[Any, Any, Any], no_gpus: None) -> None:
    (messages,) = _run(clients, "job-cpu", "ml.m5.large")
    assert "GPUS=0 CUDA=<unset>" in messages
    assert not any(WARNING in m for m in messages)


def test_gpu_count_reads_nvidia_smi_and_cuda_visible_devices(fake_gpus: Path) -> None:
    path = os.environ["PATH"]
    assert gpu_count({"PATH": path}) == 3
    assert gpu_count({"PATH": path, "CUDA_VISIBLE_DEVICES": "1"}) == 1
    assert gpu_count({"PATH": path, "CUDA_VISIBLE_DEVICES": ""}) == 0
    assert gpu_count({"PATH": "/nonexistent"}) == 0


def test_visible_gpu_count_follows_cuda_rules() -> None:
    gpus = [("0", "GPU-aaaa"), ("1", "GPU-bbbb")]
    assert visible_gpu_count(gpus, None) == 2
    assert visible_gpu_count(gpus, "0,1") == 2
    assert visible_gpu_count(gpus, "GPU-bb") == 1  # a UUID prefix
    assert visible_gpu_count(gpus, "1,7,0") == 1  # CUDA stops at the first device that does not exist
    assert visible_gpu_count(gpus, "-1") == 0
    assert visible_gpu_count(gpus, "0,0") == 1  # a device named twice is one device
    assert visible_gpu_count([], "0") == 0


def test_the_jobs_environment_can_narrow_the_gpus(clients: tuple[Any, Any, Any], fake_gpus: Path) -> None:
    sm, s3, logs = clients
    code = stage_code(s3, {"train.py": SCRIPT}, key="code/env-gpu/sourcedir.tar.gz")
    request = make_request("job-gpu-env", code, environment={"CUDA_VISIBLE_DEVICES": "1"})
    request["ResourceConfig"]["InstanceType"] = "ml.g5.12xlarge"
    sm.create_training_job(**request)
    assert wait_for_status(sm, "job-gpu-env")["TrainingJobStatus"] == "Completed"
    assert "GPUS=1 CUDA=1" in log_messages(logs, "job-gpu-env")

"""Helpers for the local backend tests: hand-built requests, staged code, polling."""

from __future__ import annotations

import io
import json
import tarfile
import textwrap
import time
from pathlib import Path
from typing import Any

from airflow_tf_sm.backends.local.processes import process_alive

BUCKET = "bucket"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.19.0-cpu-py312"
ROLE = "arn:aws:iam::000000000000:role/test"
TERMINAL = ("Completed", "Failed", "Stopped")


def stage_code(s3: Any, files: dict[str, str], key: str = "code/sourcedir.tar.gz") -> str:
    """Tar ``files`` (name -> source text, dedented) into the local store; return the s3:// URI."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in sorted(files.items()):
            data = textwrap.dedent(text).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    s3.put_object(Bucket=BUCKET, Key=key, Body=buffer.getvalue())
    return f"s3://{BUCKET}/{key}"


def make_request(
    name: str,
    code_uri: str,
    *,
    program: str = "train.py",
    hyperparameters: dict[str, Any] | None = None,
    channels: dict[str, str] | None = None,
    output_path: str = f"s3://{BUCKET}/output",
    instance_count: int = 1,
    max_runtime: int = 120,
    metric_definitions: list[dict[str, str]] | None = None,
    checkpoint_uri: str | None = None,
    environment: dict[str, str] | None = None,
    distribution: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a CreateTrainingJob request the way the SageMaker SDK does (JSON-string hyperparameters)."""
    hps: dict[str, Any] = {
        "sagemaker_program": program,
        "sagemaker_submit_directory": code_uri,
        "sagemaker_container_log_level": 20,
        "sagemaker_job_name": name,
        "sagemaker_region": "us-east-1",
        **(distribution or {}),
        **(hyperparameters or {}),
    }
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": output_path},
        "ResourceConfig": {
            "InstanceType": "ml.m5.large",
            "InstanceCount": instance_count,
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
        "HyperParameters": {k: json.dumps(v) for k, v in hps.items()},
    }
    if channels:
        request["InputDataConfig"] = [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
            for channel, uri in channels.items()
        ]
    if metric_definitions:
        request["AlgorithmSpecification"]["MetricDefinitions"] = metric_definitions
    if checkpoint_uri:
        request["CheckpointConfig"] = {"S3Uri": checkpoint_uri}
    if environment:
        request["Environment"] = environment
    return request


def wait_for_status(
    client: Any, name: str, statuses: tuple[str, ...] = TERMINAL, timeout: float = 30.0
) -> dict[str, Any]:
    """Poll describe_training_job until TrainingJobStatus is one of ``statuses``; return the response."""
    deadline = time.monotonic() + timeout
    while True:
        desc = client.describe_training_job(TrainingJobName=name)
        if desc["TrainingJobStatus"] in statuses:
            return desc
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} still {desc['TrainingJobStatus']}/{desc['SecondaryStatus']}")
        time.sleep(0.1)


def wait_for_log(logs: Any, name: str, text: str, timeout: float = 20.0) -> None:
    """Wait until ``text`` shows up in algo-1's log stream of job ``name``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in log_messages(logs, name):
            if text in message:
                return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never logged by {name}")


def log_messages(logs: Any, name: str, host: str = "algo-1") -> list[str]:
    """Return every message of one host's stream of job ``name`` (empty when not there yet)."""
    try:
        streams = logs.describe_log_streams(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/{host}-"
        )["logStreams"]
    except Exception:
        return []
    messages: list[str] = []
    for stream in streams:
        events = logs.get_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs",
            logStreamName=stream["logStreamName"],
            startFromHead=True,
        )["events"]
        messages.extend(e["message"] for e in events)
    return messages


def read_tar(s3: Any, uri: str) -> dict[str, bytes]:
    """Return name -> bytes of the regular files of a .tar.gz in the local store."""
    bucket, _, key = uri[len("s3://") :].partition("/")
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def server_processes(root: Path) -> list[int]:
    """Return the pids of the live model server processes started for ``root`` (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"airflow_tf_sm.backends.local.serving" in args and str(root).encode() in args:
            if process_alive(int(entry.name), None):
                pids.append(int(entry.name))
    return pids


def wait_gone(pids: list[int], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(process_alive(pid, None) for pid in pids):
            return True
        time.sleep(0.1)
    return False

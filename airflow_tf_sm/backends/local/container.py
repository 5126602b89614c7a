"""The SageMaker training-container contract, as pure functions.

What a host's ``/opt/ml`` holds and what the script sees (``SM_*`` environment, command line, config files),
computed the way the sagemaker-training toolkit computes it from the same files.

This module imports only the standard library and the package's standard-library facts (the runner loads it).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import signal
from pathlib import Path
from typing import Any

from airflow_tf_sm.sagemaker.hyperparameters import RESERVED_PREFIX, TOOLKIT_HYPERPARAMETERS, decode_value

FRAMEWORK_MODULE = "sagemaker_tensorflow_container.training:main"


def decode_hyperparameters(raw: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split request hyperparameters into (user, framework) ones, each value ``json.loads``-ed.

    Values that are not valid JSON stay raw strings. Keys starting ``sagemaker_`` and the toolkit's own
    ones (``_tuning_objective_metric``, ...) are framework parameters, never script arguments; all others
    (``model_dir`` included) belong to the user.
    """
    user: dict[str, Any] = {}
    framework: dict[str, Any] = {}
    for key, text in raw.items():
        own = key.startswith(RESERVED_PREFIX) or key in TOOLKIT_HYPERPARAMETERS
        (framework if own else user)[key] = decode_value(text)
    return user, framework


def to_cmd_args(hyperparameters: dict[str, Any]) -> list[str]:
    """Return the script's CLI arguments: ``--key value`` sorted by key, ``-k`` for one-letter keys.

    Dict values become ``k1=v1,k2=v2``; everything else ``str(value)`` (so booleans are ``True``/``False``).
    """
    args: list[str] = []
    for key in sorted(hyperparameters):
        value = hyperparameters[key]
        args.append(f"--{key}" if len(key) > 1 else f"-{key}")
        if isinstance(value, dict):
            args.append(",".join(f"{k}={v}" for k, v in sorted(value.items())))
        else:
            args.append("" if value is None else str(value))
    return args


def to_env_value(value: Any) -> str:
    """Format a value the way the toolkit exports it: strings raw, others compact sorted JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def to_env_vars(mapping: dict[str, Any]) -> dict[str, str]:
    """Return ``{"SM_" + KEY.upper(): formatted value}`` (nothing else changes in the key)."""
    return {f"SM_{key.upper()}": to_env_value(value) for key, value in mapping.items()}


def resource_config(current_host: str, hosts: list[str], instance_type: str) -> dict[str, Any]:
    """Return the ``resourceconfig.json`` of one host."""
    return {
        "current_host": current_host,
        "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": hosts,
        "instance_groups": [
            {"instance_group_name": "homogeneousCluster", "instance_type": instance_type, "hosts": hosts}
        ],
        "network_interface_name": "eth0",
    }


def input_data_config(request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the ``inputdataconfig.json`` content for the request's channels."""
    default_mode = request.get("AlgorithmSpecification", {}).get("TrainingInputMode", "File")
    config: dict[str, dict[str, Any]] = {}
    for channel in request.get("InputDataConfig") or []:
        source = channel.get("DataSource", {}).get("S3DataSource", {})
        entry: dict[str, Any] = {
            "TrainingInputMode": channel.get("InputMode", default_mode),
            "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
            "RecordWrapperType": channel.get("RecordWrapperType", "None"),
        }
        for key in ("ContentType", "CompressionType", "ShuffleConfig"):
            if key in channel:
                entry[key] = channel[key]
        config[channel["ChannelName"]] = entry
    return config


def container_environment(
    *,
    job_name: str,
    region: str,
    base: Path,
    current_host: str,
    hosts: list[str],
    instance_type: str,
    raw_hyperparameters: dict[str, str],
    channels: dict[str, dict[str, Any]],
) -> dict[str, str]:
    """Return the SageMaker variables of one host: ``SM_*`` plus job name, host and region.

    Args:
        job_name: Training job name.
        region: The job's region.
        base: The host's ``/opt/ml`` directory.
        current_host: ``algo-<n>``.
        hosts: All hosts.
        instance_type: ``ResourceConfig.InstanceType``.
        raw_hyperparameters: The request's HyperParameters (JSON-string values).
        channels: The ``inputdataconfig.json`` content.
    """
    user_hps, framework = decode_hyperparameters(raw_hyperparameters)
    channel_dirs = {name: str(base / "input" / "data" / name) for name in channels}
    program = str(framework.get("sagemaker_program", ""))
    module_name = program[:-3] if program.endswith(".py") else program
    log_level = framework.get("sagemaker_container_log_level", 20)
    paths = {
        "input_dir": str(base / "input"),
        "input_config_dir": str(base / "input" / "config"),
        "model_dir": str(base / "model"),
        "output_dir": str(base / "output"),
        "output_data_dir": str(base / "output" / "data"),
        "output_intermediate_dir": str(base / "output" / "intermediate"),
    }
    resources = resource_config(current_host, hosts, instance_type)
    num_cpus = os.cpu_count() or 1
    training_env: dict[str, Any] = {
        **paths,
        "additional_framework_parameters": framework,
        "channel_input_dirs": channel_dirs,
        "current_host": current_host,
        "current_instance_type": instance_type,
        "framework_module": FRAMEWORK_MODULE,
        "hosts": hosts,
        "hyperparameters": user_hps,
        "input_data_config": channels,
        "is_master": current_host == hosts[0],
        "job_name": job_name,
        "log_level": log_level,
        "master_hostname": hosts[0],
        "module_dir": framework.get("sagemaker_submit_directory", ""),
        "module_name": module_name,
        "network_interface_name": "eth0",
        "num_cpus": num_cpus,
        "num_gpus": 0,
        "resource_config": resources,
        "user_entry_point": program,
    }
    mapping: dict[str, Any] = {
        **paths,
        "hosts": hosts,
        "network_interface_name": "eth0",
        "hps": user_hps,
        "user_entry_point": program,
        "framework_params": framework,
        "resource_config": resources,
        "input_data_config": channels,
        "channels": sorted(channels),
        "current_host": current_host,
        "current_instance_type": instance_type,
        "module_name": module_name,
        "log_level": log_level,
        "framework_module": FRAMEWORK_MODULE,
        "num_cpus": num_cpus,
        "num_gpus": 0,
        "module_dir": framework.get("sagemaker_submit_directory", ""),
        "training_env": training_env,
        "user_args": to_cmd_args(user_hps),
    }
    for name, path in channel_dirs.items():
        mapping[f"channel_{name}"] = path
    for key, value in user_hps.items():
        mapping[f"hp_{key}"] = value
    env = to_env_vars(mapping)
    env.update(
        {
            "TRAINING_JOB_NAME": job_name,
            "SAGEMAKER_JOB_NAME": job_name,
            "CURRENT_HOST": current_host,
            "SAGEMAKER_REGION": region,
            "SAGEMAKER_BASE_DIR": str(base),
        }
    )
    return env


def tf_config(ports: list[int], index: int) -> str:
    """Return the TF_CONFIG of worker ``index`` of a multi-worker mirrored strategy cluster."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return json.dumps({"cluster": cluster, "environment": "cloud", "task": {"index": index, "type": "worker"}})


def image_tf_version(image: str) -> str | None:
    """Return ``major.minor`` of the TensorFlow version in an image tag like ``...:2.19.0-cpu-py312``."""
    tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
    match = re.match(r"^(\d+)\.(\d+)", tag)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def local_tf_version() -> str | None:
    """Return ``major.minor`` of the installed TensorFlow distribution (without importing it)."""
    for dist in ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel"):
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        match = re.match(r"^(\d+)\.(\d+)", version)
        if match:
            return f"{match.group(1)}.{match.group(2)}"
    return None


def extract_metrics(definitions: list[dict[str, str]], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply each ``{Name, Regex}`` to the log events; keep the last numeric match of each.

    The value is group 1 when the regex has a group, else the whole match.
    """
    results: list[dict[str, Any]] = []
    for definition in definitions:
        try:
            pattern = re.compile(definition["Regex"])
        except re.error:
            continue
        last: tuple[float, int] | None = None
        for event in events:
            for match in pattern.finditer(event.get("message", "")):
                text = match.group(1) if pattern.groups else match.group(0)
                try:
                    last = (float(text), int(event.get("timestamp", 0)))
                except (TypeError, ValueError):
                    continue
        if last is not None:
            results.append({"MetricName": definition["Name"], "Value": last[0], "Timestamp": last[1] / 1000.0})
    return results


def failure_reason_for_exit(code: int, command: list[str], tail: list[str]) -> str:
    """Build the FailureReason of a script that exited with ``code`` and wrote no failure file."""
    if code in (137, -signal.SIGKILL):
        return (
            "OutOfMemoryError: Please use an instance type with more memory, or reduce the size of job "
            "data processed on an instance. The training process was killed (exit code 137): "
            f"{' '.join(command)}"
        )
    shown = code if code >= 0 else 128 - code
    message = "\n".join(tail).replace('"', "'")
    return (
        f'AlgorithmError: ExecuteUserScriptError:\nExitCode {shown}\nErrorMessage "{message}"\n'
        f'Command "{" ".join(command)}", exit code: {shown}'
    )

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_tf_sm.sagemaker.hyperparameters import (
    HP_DISTRIBUTION_INSTANCE_GROUPS,
    HP_MODEL_DIR,
    HP_MWMS,
    HP_PARAMETER_SERVER,
    HP_TUNING_OBJECTIVE,
    RESERVED_PREFIX,
    TOOLKIT_DISTRIBUTION_FLAGS,
    TOOLKIT_HYPERPARAMETERS,
    decode_value,
)

FRAMEWORK_MODULE = "sagemaker_tensorflow_container.training:main"
#: The one group of a cluster without ``ResourceConfig.InstanceGroups``.
HOMOGENEOUS_GROUP = "homogeneousCluster"
#: The ports the TF framework module writes into TF_CONFIG: master/worker and ps of a parameter-server
#: cluster, workers of a multi-worker mirrored strategy cluster.
PS_WORKER_PORT, PS_PORT, MWMS_PORT = 2222, 2223, 8890
#: Where the toolkit's own data lives; the TF container keeps a ``model_dir`` under it for tuning jobs.
CONTAINER_ROOT = "/opt/ml"


def decode_hyperparameters(raw: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split request hyperparameters into (user, framework) ones, each value ``json.loads``-ed.

    Values that are not valid JSON stay raw strings. Framework ones are the keys starting ``sagemaker_``
    and the toolkit's own (:data:`~airflow_tf_sm.sagemaker.hyperparameters.TOOLKIT_HYPERPARAMETERS`, so also
    ``_tuning_objective_metric`` and ``default_user_module_name``); all others (``model_dir`` included)
    belong to the user.
    """
    user: dict[str, Any] = {}
    framework: dict[str, Any] = {}
    for key, text in raw.items():
        is_framework = key.startswith(RESERVED_PREFIX) or key in TOOLKIT_HYPERPARAMETERS
        (framework if is_framework else user)[key] = decode_value(text)
    return user, framework


def additional_framework_parameters(framework: dict[str, Any]) -> dict[str, Any]:
    """Return the framework hyperparameters outside the toolkit's own tuple (``SM_FRAMEWORK_PARAMS``)."""
    return {key: value for key, value in framework.items() if key not in TOOLKIT_HYPERPARAMETERS}


def script_hyperparameters(raw: dict[str, str], job_name: str) -> dict[str, Any]:
    """Return the user hyperparameters the TF framework module hands the script (``SM_HPS``, argv).

    For a tuning job's training job (one with ``_tuning_objective_metric``) the TF container appends the
    job name: a ``model_dir`` outside ``/opt/ml`` becomes ``<model_dir>/<job>/model`` (a missing one
    ``None/<job>/model``, as the container writes it).
    """
    user, framework = decode_hyperparameters(raw)
    if HP_TUNING_OBJECTIVE in framework:
        model_dir = user.get(HP_MODEL_DIR)
        if not (isinstance(model_dir, str) and model_dir.startswith(CONTAINER_ROOT)):
            user[HP_MODEL_DIR] = f"{model_dir}/{job_name}/model"
    return user


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


def instance_groups(resources: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the cluster of a request's ``ResourceConfig`` as ``resourceconfig.json`` lists it.

    ``[{"instance_group_name", "instance_type", "hosts"}]``: one ``homogeneousCluster`` group of
    ``InstanceCount`` x ``InstanceType``, or one group per ``InstanceGroups`` entry in order, the hosts
    numbered ``algo-1`` .. ``algo-N`` across the groups.
    """
    groups = resources.get("InstanceGroups") or [
        {
            "InstanceGroupName": HOMOGENEOUS_GROUP,
            "InstanceType": resources.get("InstanceType", "ml.m5.large"),
            "InstanceCount": max(1, int(resources.get("InstanceCount", 1))),
        }
    ]
    result: list[dict[str, Any]] = []
    first = 1
    for group in groups:
        count = int(group.get("InstanceCount", 1))
        hosts = [f"algo-{n}" for n in range(first, first + count)]
        result.append(
            {"instance_group_name": group["InstanceGroupName"], "instance_type": group["InstanceType"], "hosts": hosts}
        )
        first += count
    return result


def resource_config(
    current_host: str, hosts: list[str], instance_type: str, groups: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Return the ``resourceconfig.json`` of one host.

    ``groups`` (:func:`instance_groups`) defaults to one homogeneous group of ``hosts``; the host's group
    gives ``current_group_name`` and ``current_instance_type``.
    """
    groups = groups or [{"instance_group_name": HOMOGENEOUS_GROUP, "instance_type": instance_type, "hosts": hosts}]
    current = next((g for g in groups if current_host in g["hosts"]), groups[0])
    return {
        "current_host": current_host,
        "current_instance_type": current["instance_type"],
        "current_group_name": current["instance_group_name"],
        "hosts": hosts,
        "instance_groups": groups,
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


def distribution(resources: dict[str, Any], additional: dict[str, Any]) -> dict[str, Any]:
    """Return the toolkit's distribution view of one host from its ``resourceconfig.json`` content.

    ``distribution_instance_groups``: the ``sagemaker_distribution_instance_groups`` hyperparameter when
    given, else the host's own group when a distribution flag is set, else none. A flag counts by Python
    truth, as in the toolkit and the TF framework module (so the JSON text ``"false"`` -- a string -- counts
    as set; the SDK and this package always send a JSON boolean). ``distribution_hosts``: the hosts of those
    groups, in group order; ``master_hostname``: the first distribution host (the first host without any).
    """
    current_group = resources.get("current_group_name", HOMOGENEOUS_GROUP)
    if HP_DISTRIBUTION_INSTANCE_GROUPS in additional:
        groups = additional[HP_DISTRIBUTION_INSTANCE_GROUPS]
    else:
        flagged = any(additional.get(flag, False) for flag in TOOLKIT_DISTRIBUTION_FLAGS)
        groups = [current_group] if flagged else []
    config = resources.get("instance_groups") or []
    if config:
        hosts = [host for group in config if group["instance_group_name"] in groups for host in group["hosts"]]
    else:
        hosts = list(resources["hosts"])
    master = hosts[0] if hosts else resources["hosts"][0]
    return {
        "distribution_instance_groups": groups,
        "distribution_hosts": hosts,
        "master_hostname": master,
        "is_master": resources["current_host"] == master,
    }


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
    groups: list[dict[str, Any]] | None = None,
    environment: dict[str, str] | None = None,
    num_gpus: int = 0,
) -> dict[str, str]:
    """Return the variables the TF training image's start-up sets for the script of one host.

    What ``sagemaker_tensorflow_container.training:main`` does with toolkit 5.x: ``Environment()
    .to_env_vars()`` (``SM_*``), the variables ``Environment()`` writes (``SAGEMAKER_JOB_NAME``,
    ``CURRENT_HOST``, ``SAGEMAKER_REGION``), ``s3_utils.configure`` (``S3_REGION``, ``S3_USE_HTTPS``,
    ``TF_CPP_MIN_LOG_LEVEL=1``); plus what the platform and the image set (``TRAINING_JOB_NAME``,
    ``SAGEMAKER_TRAINING_MODULE``) and the local ``SAGEMAKER_BASE_DIR``. Not here: ``TF_CONFIG``
    (:func:`framework_tf_config`) and ``PYTHONPATH`` (the code directory first; the runner adds it).

    Args:
        job_name: Training job name.
        region: The job's region (used when the ``sagemaker_region`` hyperparameter is missing).
        base: The host's ``/opt/ml`` directory.
        current_host: ``algo-<n>``.
        hosts: All hosts.
        instance_type: ``ResourceConfig.InstanceType`` (of a homogeneous cluster).
        raw_hyperparameters: The request's HyperParameters (JSON-string values).
        channels: The ``inputdataconfig.json`` content.
        groups: :func:`instance_groups` of the request (default: one homogeneous group).
        environment: The request's ``Environment`` (the toolkit reads ``SAGEMAKER_PROGRAM``,
            ``SAGEMAKER_TRAINING_MODULE`` and ``SM_HP_MP_PARAMETERS`` from the process environment).
        num_gpus: The GPUs the host's script can use (``SM_NUM_GPUS``).
    """
    environment = environment or {}
    _user, framework = decode_hyperparameters(raw_hyperparameters)
    user_hps = script_hyperparameters(raw_hyperparameters, job_name)
    additional = additional_framework_parameters(framework)
    channel_dirs = {name: str(base / "input" / "data" / name) for name in channels}
    program = environment.get("SAGEMAKER_PROGRAM") or framework.get("sagemaker_program")
    module_name = str(program)
    module_name = module_name[:-3] if module_name.endswith(".py") else module_name
    log_level = framework.get("sagemaker_container_log_level", 20)
    sm_region = framework.get("sagemaker_region", region)
    sm_region = "" if sm_region is None else str(sm_region)
    mp_parameters = environment.get("SM_HP_MP_PARAMETERS")
    paths = {
        "input_dir": str(base / "input"),
        "input_config_dir": str(base / "input" / "config"),
        "model_dir": str(base / "model"),
        "output_dir": str(base / "output"),
        "output_data_dir": str(base / "output" / "data"),
        "output_intermediate_dir": str(base / "output" / "intermediate"),
    }
    resources = resource_config(current_host, hosts, instance_type, groups)
    group_config = resources["instance_groups"]
    current_group = resources["current_group_name"]
    cluster = {
        "current_instance_group": current_group,
        "current_instance_group_hosts": next(
            (g["hosts"] for g in group_config if g["instance_group_name"] == current_group), []
        ),
        "instance_groups": [g["instance_group_name"] for g in group_config],
        "instance_groups_dict": {g["instance_group_name"]: g for g in group_config},
        "is_hetero": len(group_config) > 1,
    }
    dist = distribution(resources, additional)
    num_cpus = os.cpu_count() or 1
    framework_module = environment.get("SAGEMAKER_TRAINING_MODULE", FRAMEWORK_MODULE)
    topology = resources.get("topology", [])
    common = {
        **paths,
        **cluster,
        "current_host": current_host,
        "current_instance_type": resources["current_instance_type"],
        "distribution_instance_groups": dist["distribution_instance_groups"],
        "framework_module": framework_module,
        "hosts": hosts,
        "input_data_config": channels,
        "log_level": log_level,
        "module_dir": str(framework.get("sagemaker_submit_directory", str(base / "code"))),
        "module_name": module_name,
        "network_interface_name": resources["network_interface_name"],
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "num_neurons": 0,
        "resource_config": resources,
        "user_entry_point": program,
    }
    # dict(Environment()): every public property of the toolkit's Environment
    training_env: dict[str, Any] = {
        **common,
        "additional_framework_parameters": additional,
        "channel_input_dirs": channel_dirs,
        "distribution_hosts": dist["distribution_hosts"],
        "hyperparameters": user_hps,
        "is_master": dist["is_master"],
        "is_modelparallel_enabled": mp_parameters and mp_parameters != "{}",
        "is_smddpmprun_installed": False,
        "is_smddprun_installed": False,
        "job_name": job_name,
        "master_hostname": dist["master_hostname"],
        "topology": topology,
    }
    # Environment.to_env_vars()
    mapping: dict[str, Any] = {
        **common,
        "hps": user_hps,
        "framework_params": additional,
        "channels": sorted(channels),
        "training_env": training_env,
        "user_args": to_cmd_args(user_hps),
    }
    if topology:
        mapping["topology"] = topology
    for name, path in channel_dirs.items():
        mapping[f"channel_{name}"] = path
    for key, value in user_hps.items():
        mapping[f"hp_{key}"] = value
    env = to_env_vars(mapping)
    env.update(
        {
            "TRAINING_JOB_NAME": job_name,
            "SAGEMAKER_JOB_NAME": to_env_value(framework.get("sagemaker_job_name", "")),
            "CURRENT_HOST": current_host,
            "SAGEMAKER_REGION": sm_region,
            # s3_utils.configure: the region of an s3:// model_dir's bucket (the local store's are the job's)
            "S3_REGION": sm_region,
            "TF_CPP_MIN_LOG_LEVEL": "1",
            "S3_USE_HTTPS": "1",
            "SAGEMAKER_TRAINING_MODULE": framework_module,
            "SAGEMAKER_BASE_DIR": str(base),
        }
    )
    return env


def framework_tf_config(
    raw_hyperparameters: dict[str, str],
    resources: dict[str, Any],
    address: Callable[[str, int], str] | None = None,
) -> str | None:
    """Return the TF_CONFIG ``sagemaker_tensorflow_container.training.train`` sets for one host, or None.

    Only a host of a distribution group gets one. Parameter server (with more than one host), over the
    distribution hosts: ``{"cluster": {"master": [h1:2222], "ps": [h:2223 ...], "worker": [h2:2222 ...]},
    "environment": "cloud", "task": {master 0 | worker i}}``; else multi-worker mirrored strategy:
    ``{"cluster": {"worker": [h:8890 ...]}, "environment": "cloud", "task": {"index": i, "type": "worker"}}``.

    Args:
        raw_hyperparameters: The request's HyperParameters.
        resources: The host's :func:`resource_config`.
        address: ``(host, port) -> "host:port"`` as the script should reach it (default ``f"{host}:{port}"``);
            the local runner maps each to a free local port.
    """
    where = address or (lambda host, port: f"{host}:{port}")
    _user, framework = decode_hyperparameters(raw_hyperparameters)
    additional = additional_framework_parameters(framework)
    dist = distribution(resources, additional)
    current = resources["current_host"]
    if resources["current_group_name"] not in dist["distribution_instance_groups"]:
        return None
    hosts = dist["distribution_hosts"]
    if additional.get(HP_PARAMETER_SERVER, False) and len(resources["hosts"]) > 1:
        workers = hosts[1:]
        cluster: dict[str, Any] = {"master": [where(h, PS_WORKER_PORT) for h in hosts[:1]]}
        if len(hosts) > 1:
            cluster["ps"] = [where(h, PS_PORT) for h in hosts]
        if workers:
            cluster["worker"] = [where(h, PS_WORKER_PORT) for h in workers]
        is_master = current == hosts[0]
        task = {"index": 0, "type": "master"} if is_master else {"index": workers.index(current), "type": "worker"}
        return json.dumps({"cluster": cluster, "environment": "cloud", "task": task})
    if additional.get(HP_MWMS, False):
        cluster = {"worker": [where(h, MWMS_PORT) for h in hosts]}
        task = {"index": hosts.index(current), "type": "worker"}
        return json.dumps({"cluster": cluster, "environment": "cloud", "task": task})
    return None


#: The TF container's ``_run_ps``: a CPU-only TF server for the cluster's ``ps`` job.
PS_SERVER_CODE = (
    "import json, sys\n"
    "import tensorflow as tf\n"
    "cluster = tf.train.ClusterSpec(json.loads(sys.argv[1]))\n"
    "config = tf.compat.v1.ConfigProto(device_count={'GPU': 0})\n"
    "tf.distribute.Server(cluster, job_name='ps', task_index=int(sys.argv[2]), config=config).join()\n"
)


def parameter_server_command(python: str, config: str, hosts: list[str], current_host: str) -> list[str] | None:
    """Return the command of a host's parameter server when its TF_CONFIG has a ``ps`` job, else None.

    As in the TF container, the task index is the host's index among all hosts.
    """
    cluster = json.loads(config).get("cluster", {})
    if "ps" not in cluster:
        return None
    return [python, "-c", PS_SERVER_CODE, json.dumps(cluster), str(hosts.index(current_host))]


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


_TF_IMPORT = re.compile(r"^\s*(?:import|from)\s+(?:tensorflow|keras|tf_keras)\b", re.MULTILINE)


def uses_tensorflow(code_dir: Path, limit: int = 200) -> bool:
    """Return whether any of the first ``limit`` Python files of the code imports TensorFlow or Keras."""
    for index, path in enumerate(sorted(code_dir.rglob("*.py"))):
        if index >= limit:
            break
        try:
            if _TF_IMPORT.search(path.read_text(errors="replace")):
                return True
        except OSError:
            continue
    return False


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


_TRACEBACK = "Traceback (most recent call last):"


def script_error(stderr_tail: list[str]) -> tuple[str, list[str]]:
    """Return the script's error line and the lines that explain it, from the end of its stderr.

    With a Python traceback: its final line (``ValueError: epochs must be >= 1``) and the traceback from its
    start; otherwise the last non-empty line and the lines before it. Start-up noise printed before the
    traceback (TensorFlow's oneDNN/absl lines) is left out.
    """
    lines = [line for line in stderr_tail if line.strip()]
    if not lines:
        return "", []
    starts = [i for i, line in enumerate(lines) if line.startswith(_TRACEBACK)]
    shown = lines[starts[-1] :] if starts else lines
    final = next((line for line in reversed(shown) if not line.startswith((" ", "\t"))), shown[-1])
    return final.strip(), shown


def failure_reason_for_exit(code: int, command: list[str], tail: list[str]) -> str:
    """Build the FailureReason of a script that exited with ``code`` and wrote no failure file.

    The toolkit's ``ExecuteUserScriptError`` shape, with what a person needs first: the script's error line
    (the last traceback's final line), then the exit code, the traceback and the command.
    """
    if code in (137, -signal.SIGKILL):
        return (
            "OutOfMemoryError: Please use an instance type with more memory, or reduce the size of job "
            "data processed on an instance. The training process was killed (exit code 137): "
            f"{' '.join(command)}"
        )
    shown = code if code >= 0 else 128 - code
    error, explained = script_error(tail)
    message = "\n".join(explained).replace('"', "'")
    headline = (
        f"AlgorithmError: ExecuteUserScriptError: {error}" if error else "AlgorithmError: ExecuteUserScriptError:"
    )
    return f'{headline}\nExitCode {shown}\nErrorMessage "{message}"\nCommand "{" ".join(command)}", exit code: {shown}'

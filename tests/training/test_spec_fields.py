"""The SDK v2 estimator arguments added for distributed and advanced jobs: their literal requests.

Expected values are written out by hand from the SageMaker Python SDK v2 sources (``_Job._prepare_resource_config``,
``_Job._format_model_uri_input``, ``EstimatorBase._get_train_args``, ``ProfilerConfig._to_request_dict``,
``DebuggerHookConfig._to_request_dict``, ``Framework._distribution_configuration``, ``_get_instance_type``).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from airflow_tf_sm.training.code import build_sourcedir, source_digest
from airflow_tf_sm.training.spec import TrainingJobSpec

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
CODE = "s3://my-bucket/output/code/0123abcd/sourcedir.tar.gz"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.19.0-{}-py312"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    (root / "train.py").write_text("import mylib\nprint(mylib.X)\n")
    return root


def _spec(src: Path, **kwargs: Any) -> TrainingJobSpec:
    return TrainingJobSpec.from_mapping(
        {
            "entry_point": "train.py",
            "source_dir": str(src),
            "role": ROLE,
            "output_path": "s3://my-bucket/output",
            **kwargs,
        }
    )


def _request(src: Path, **kwargs: Any) -> dict[str, Any]:
    return _spec(src, **kwargs).to_request("job-1", CODE, "us-east-1")


def test_defaults_send_no_profiler_debugger_warm_pool_or_image_config(src: Path) -> None:
    request = _request(src)
    for key in ("ProfilerConfig", "DebugHookConfig", "InputDataConfig"):
        assert key not in request
    assert request["ResourceConfig"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30}
    assert "TrainingImageConfig" not in request["AlgorithmSpecification"]


def test_instance_groups_make_a_heterogeneous_cluster(src: Path) -> None:
    request = _request(
        src,
        instance_groups=[
            {"instance_group_name": "data", "instance_type": "ml.c5.xlarge", "instance_count": 1},
            {"instance_group_name": "gpus", "instance_type": "ml.g5.xlarge", "instance_count": 2},
        ],
        distribution={"mpi": {"enabled": True}, "instance_groups": ["gpus"]},
    )
    assert request["ResourceConfig"] == {
        "VolumeSizeInGB": 30,
        "InstanceGroups": [
            {"InstanceGroupName": "data", "InstanceType": "ml.c5.xlarge", "InstanceCount": 1},
            {"InstanceGroupName": "gpus", "InstanceType": "ml.g5.xlarge", "InstanceCount": 2},
        ],
    }
    # the SDK picks the image from the first GPU group
    assert request["AlgorithmSpecification"]["TrainingImage"] == IMAGE.format("gpu")
    hps = request["HyperParameters"]
    assert hps["sagemaker_distribution_instance_groups"] == '["gpus"]'
    assert hps["sagemaker_mpi_enabled"] == "true"
    assert hps["model_dir"] == '"/opt/ml/model"'


def test_cpu_only_groups_take_the_first_groups_image(src: Path) -> None:
    request = _request(
        src,
        instance_groups=[
            {"instance_group_name": "a", "instance_type": "ml.c5.xlarge", "instance_count": 1},
            {"instance_group_name": "b", "instance_type": "ml.m5.xlarge", "instance_count": 1},
        ],
        distribution={"multi_worker_mirrored_strategy": {"enabled": True}, "instance_groups": ["a", "b"]},
    )
    assert request["AlgorithmSpecification"]["TrainingImage"] == IMAGE.format("cpu")
    assert request["HyperParameters"]["sagemaker_distribution_instance_groups"] == '["a", "b"]'
    assert request["HyperParameters"]["sagemaker_multi_worker_mirrored_strategy_enabled"] == "true"


def test_keep_alive_period_goes_to_the_resource_config(src: Path) -> None:
    request = _request(src, keep_alive_period_in_seconds="1800", volume_kms_key="key-1")
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
        "VolumeKmsKeyId": "key-1",
        "KeepAlivePeriodInSeconds": 1800,
    }


def test_training_repository_access_mode(src: Path) -> None:
    request = _request(src, training_repository_access_mode="Vpc", subnets=["subnet-1"], security_group_ids=["sg-1"])
    assert request["AlgorithmSpecification"]["TrainingImageConfig"] == {"TrainingRepositoryAccessMode": "Vpc"}
    request = _request(src, training_repository_access_mode="Platform")
    assert request["AlgorithmSpecification"]["TrainingImageConfig"] == {"TrainingRepositoryAccessMode": "Platform"}


def test_profiler_settings(src: Path) -> None:
    assert _request(src, disable_profiler=True)["ProfilerConfig"] == {"DisableProfiler": True}
    assert _request(src, disable_profiler="true", profiler_config={"disable_profiler": True})["ProfilerConfig"] == {
        "DisableProfiler": True
    }
    assert _request(src, profiler_config={"system_monitor_interval_millis": 500})["ProfilerConfig"] == {
        "S3OutputPath": "s3://my-bucket/output",
        "DisableProfiler": False,
        "ProfilingIntervalInMilliseconds": 500,
    }
    assert _request(src, profiler_config={"s3_output_path": "s3://prof/out"})["ProfilerConfig"] == {
        "S3OutputPath": "s3://prof/out",
        "DisableProfiler": False,
    }


def test_debugger_hook_settings(src: Path) -> None:
    hook = {
        "hook_parameters": {"save_interval": "100"},
        "collection_configs": [{"name": "losses"}, {"name": "weights", "parameters": {"save_interval": "500"}}],
        "container_local_output_path": "/opt/ml/output/tensors",
    }
    assert _request(src, debugger_hook_config=hook)["DebugHookConfig"] == {
        "S3OutputPath": "s3://my-bucket/output",
        "LocalPath": "/opt/ml/output/tensors",
        "HookParameters": {"save_interval": "100"},
        "CollectionConfigurations": [
            {"CollectionName": "losses"},
            {"CollectionName": "weights", "CollectionParameters": {"save_interval": "500"}},
        ],
    }
    assert _request(src, debugger_hook_config={"s3_output_path": "s3://dbg/x"})["DebugHookConfig"] == {
        "S3OutputPath": "s3://dbg/x"
    }
    assert "DebugHookConfig" not in _request(src, debugger_hook_config=False)


def test_model_uri_becomes_the_model_channel(src: Path) -> None:
    uri = "s3://my-bucket/output/base-job/output/model.tar.gz"
    request = _request(src, inputs={"train": "s3://my-bucket/data/train"}, model_uri=uri)
    assert request["InputDataConfig"] == [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "s3://my-bucket/data/train",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        },
        {
            "ChannelName": "model",
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
            },
            "ContentType": "application/x-sagemaker-model",
            "InputMode": "File",
        },
    ]
    request = _request(src, model_uri=uri, model_channel_name="pretrained")
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["pretrained"]


def _archive(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_dependencies_are_packed_next_to_the_code(src: Path, tmp_path: Path) -> None:
    lib = tmp_path / "libs" / "mylib"
    (lib / "sub").mkdir(parents=True)
    (lib / "__init__.py").write_text("X = 42\n")
    (lib / "sub" / "helpers.py").write_text("Y = 1\n")
    (lib / "__pycache__").mkdir()
    (lib / "__pycache__" / "x.pyc").write_bytes(b"\0")
    staged = build_sourcedir(str(src), "train.py", [str(lib)])
    assert _archive(staged.data) == {
        "train.py": b"import mylib\nprint(mylib.X)\n",
        "mylib/__init__.py": b"X = 42\n",
        "mylib/sub/helpers.py": b"Y = 1\n",
    }
    assert build_sourcedir(str(src), "train.py", [str(lib)]).data == staged.data  # deterministic
    before = source_digest(str(src), "train.py", [str(lib)]).digest
    assert before == staged.content_digest
    assert source_digest(str(src), "train.py").digest != before  # the dependency is part of the content address
    (lib / "__init__.py").write_text("X = 43\n")
    assert source_digest(str(src), "train.py", [str(lib)]).digest != before
    # without source_dir: the entry point file and the dependency
    single = build_sourcedir(None, str(src / "train.py"), [str(lib)])
    assert sorted(_archive(single.data)) == ["mylib/__init__.py", "mylib/sub/helpers.py", "train.py"]


SCRIPT = """
import json, os, sys
import mylib
env = os.environ
model = sorted(os.listdir(env["SM_CHANNEL_MODEL"])) if "SM_CHANNEL_MODEL" in env else []
print("HOST", env["SM_CURRENT_HOST"], env["SM_CURRENT_INSTANCE_GROUP"], env["SM_CURRENT_INSTANCE_TYPE"],
      env["SM_IS_HETERO"], "TF_CONFIG" in env, mylib.X, ",".join(model))
"""


def test_a_heterogeneous_job_runs_locally_with_its_dependencies_and_model(
    local_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the hook: one process per host of each group, the group variables, the dependency, the model channel."""
    from airflow_tf_sm.hook import TFSageMakerHook

    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__LOCAL_MAX_HOSTS", "3")  # three hosts, whatever this machine's CPUs
    from airflow_tf_sm.sagemaker.names import TaskInstanceIds

    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(SCRIPT)
    lib = tmp_path / "mylib"
    lib.mkdir()
    (lib / "__init__.py").write_text("X = 42\n")
    hook = TFSageMakerHook(backend="local", local_root=str(local_root), region_name="us-east-1")
    hook.write_bytes("s3://bucket/base/model.tar.gz", b"not really a model")
    spec = TrainingJobSpec.from_mapping(
        {
            "entry_point": "train.py",
            "source_dir": str(code),
            "dependencies": [str(lib)],
            "output_path": "s3://bucket/out",
            "instance_groups": [
                {"instance_group_name": "chief", "instance_type": "ml.m5.large", "instance_count": 1},
                {"instance_group_name": "workers", "instance_type": "ml.c5.xlarge", "instance_count": 2},
            ],
            "distribution": {"multi_worker_mirrored_strategy": {"enabled": True}, "instance_groups": ["workers"]},
            "model_uri": "s3://bucket/base/model.tar.gz",
            "keep_alive_period_in_seconds": 600,
            "max_run": 120,
        }
    )
    job, _ = hook.training.start(spec, TaskInstanceIds("dag", "hetero", "manual__1", -1))
    desc = hook.training.wait(job, poll_interval=0.2, max_wait=120, stream_logs=False)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 600  # accepted and reported; no warm pool locally
    logs = hook.clients.logs
    lines = []
    for host in ("algo-1", "algo-2", "algo-3"):
        streams = logs.describe_log_streams(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{job}/{host}-"
        )
        name = streams["logStreams"][0]["logStreamName"]
        events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=name, startFromHead=True)
        lines += [e["message"] for e in events["events"] if e["message"].startswith("HOST ")]
    assert sorted(lines) == [
        "HOST algo-1 chief ml.m5.large true False 42 model.tar.gz",
        "HOST algo-2 workers ml.c5.xlarge true True 42 model.tar.gz",
        "HOST algo-3 workers ml.c5.xlarge true True 42 model.tar.gz",
    ]

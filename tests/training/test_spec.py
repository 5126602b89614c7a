"""TrainingJobSpec: SDK-equivalent CreateTrainingJob requests, coercion, validation rules, immutability.

The expected requests are written out by hand from ../shared/FACTS.md section 1 and the SageMaker
Python SDK v2 sources (TensorFlow estimator, TrainingInput, Session._get_train_request).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from airflow_tf_sm.exceptions import ConfigValidationError
from airflow_tf_sm.training.spec import TrainingJobSpec, json_encode_hyperparameters

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
CODE = "s3://my-bucket/output/code/0123abcd/sourcedir.tar.gz"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A source dir with a training script, a nested module and a file outside the dir."""
    root = tmp_path / "src"
    (root / "pkg").mkdir(parents=True)
    (root / "train.py").write_text("print('training')\n")
    (root / "pkg" / "task.py").write_text("print('task')\n")
    (tmp_path / "outside.py").write_text("print('outside')\n")
    return root


@pytest.fixture
def base(src: Path) -> dict[str, Any]:
    """A valid config mapping; rule tests override one part of it."""
    return {
        "entry_point": "train.py",
        "source_dir": str(src),
        "role": ROLE,
        "output_path": "s3://my-bucket/output",
        "inputs": {"train": "s3://my-bucket/data/train"},
    }


def _fields(exc: ConfigValidationError) -> list[str]:
    return [error.field for error in exc.errors]


def _default_channel(name: str, uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }


# ------------------------------------------------------------------ SDK equivalence
def test_sdk_basic_two_channels(src: Path) -> None:
    spec = TrainingJobSpec(
        entry_point="train.py",
        source_dir=str(src),
        role=ROLE,
        instance_type="ml.c5.xlarge",
        hyperparameters={
            "epochs": 10,
            "learning-rate": 0.001,
            "optimizer": "adam",
            "use_bn": True,
            "batch": 64,
        },
        inputs={"train": "s3://my-bucket/data/train", "test": "s3://my-bucket/data/test"},
        output_path="s3://my-bucket/output",
    )
    request = spec.to_request("tf-basic-1", CODE, "us-west-2")

    assert request["TrainingJobName"] == "tf-basic-1"
    assert request["RoleArn"] == ROLE
    assert request["AlgorithmSpecification"] == {
        "TrainingImage": "763104351884.dkr.ecr.us-west-2.amazonaws.com/tensorflow-training:2.19.0-cpu-py312",
        "TrainingInputMode": "File",
        "EnableSageMakerMetricsTimeSeries": True,
    }
    assert request["HyperParameters"] == {
        "epochs": "10",
        "learning-rate": "0.001",
        "optimizer": '"adam"',
        "use_bn": "true",
        "batch": "64",
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": '"s3://my-bucket/output/code/0123abcd/sourcedir.tar.gz"',
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": '"tf-basic-1"',
        "sagemaker_region": '"us-west-2"',
        "model_dir": '"s3://my-bucket/output/tf-basic-1/model"',
    }
    assert request["InputDataConfig"] == [
        _default_channel("train", "s3://my-bucket/data/train"),
        _default_channel("test", "s3://my-bucket/data/test"),
    ]
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://my-bucket/output"}
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.c5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
    }
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    # optional keys only when asked
    assert set(request) == {
        "TrainingJobName",
        "AlgorithmSpecification",
        "RoleArn",
        "OutputDataConfig",
        "ResourceConfig",
        "StoppingCondition",
        "HyperParameters",
        "InputDataConfig",
    }


def test_sdk_string_input_on_gpu(tmp_path: Path) -> None:
    script = tmp_path / "scripts" / "mnist.py"
    script.parent.mkdir()
    script.write_text("print('mnist')\n")
    spec = TrainingJobSpec(
        entry_point=str(script),
        framework_version="2.18",
        role=ROLE,
        instance_type="ml.p3.2xlarge",
        volume_size=100,
        max_run=7200,
        inputs="s3://my-bucket/mnist/",
        output_path="s3://my-bucket/output/",
    )
    request = spec.to_request("tf-mnist-2", "s3://my-bucket/code/feed/sourcedir.tar.gz", "eu-west-1")

    assert (
        request["AlgorithmSpecification"]["TrainingImage"]
        == "763104351884.dkr.ecr.eu-west-1.amazonaws.com/tensorflow-training:2.18.0-gpu-py310"
    )
    assert request["HyperParameters"] == {
        "sagemaker_program": '"mnist.py"',
        "sagemaker_submit_directory": '"s3://my-bucket/code/feed/sourcedir.tar.gz"',
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": '"tf-mnist-2"',
        "sagemaker_region": '"eu-west-1"',
        "model_dir": '"s3://my-bucket/output/tf-mnist-2/model"',
    }
    assert request["InputDataConfig"] == [_default_channel("training", "s3://my-bucket/mnist/")]
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://my-bucket/output/"}
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.p3.2xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 100,
    }
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}


def test_sdk_spot_checkpoints_tags_environment_sharded(src: Path) -> None:
    spec = TrainingJobSpec(
        entry_point="train.py",
        source_dir=str(src),
        framework_version="2.16.2",
        role=ROLE,
        instance_type="ml.m5.xlarge",
        instance_count=2,
        max_run=3600,
        use_spot_instances=True,
        max_wait=7200,
        checkpoint_s3_uri="s3://my-bucket/checkpoints/run-3",
        tags={"project": "churn", "team": "ml"},
        environment={"TF_CPP_MIN_LOG_LEVEL": "2"},
        inputs={
            "train": {
                "s3_data": "s3://my-bucket/data/train",
                "distribution": "ShardedByS3Key",
                "content_type": "text/csv",
            }
        },
        output_path="s3://my-bucket/output",
    )
    request = spec.to_request(
        "tf-spot-3", CODE, "af-south-1", extra_tags={"airflow_dag_id": "nightly", "team": "platform"}
    )

    assert (
        request["AlgorithmSpecification"]["TrainingImage"]
        == "626614931356.dkr.ecr.af-south-1.amazonaws.com/tensorflow-training:2.16.2-cpu-py310"
    )
    assert request["HyperParameters"] == {
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": '"s3://my-bucket/output/code/0123abcd/sourcedir.tar.gz"',
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": '"tf-spot-3"',
        "sagemaker_region": '"af-south-1"',
        "model_dir": '"s3://my-bucket/output/tf-spot-3/model"',
    }
    assert request["InputDataConfig"] == [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "s3://my-bucket/data/train",
                    "S3DataDistributionType": "ShardedByS3Key",
                }
            },
            "ContentType": "text/csv",
        }
    ]
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://my-bucket/output"}
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 2,
        "VolumeSizeInGB": 30,
    }
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert request["EnableManagedSpotTraining"] is True
    assert request["CheckpointConfig"] == {"S3Uri": "s3://my-bucket/checkpoints/run-3"}
    assert request["Environment"] == {"TF_CPP_MIN_LOG_LEVEL": "2"}
    tags = {tag["Key"]: tag["Value"] for tag in request["Tags"]}
    assert len(request["Tags"]) == 3
    assert tags == {"project": "churn", "team": "platform", "airflow_dag_id": "nightly"}


def test_sdk_parameter_server_two_instances(src: Path) -> None:
    spec = TrainingJobSpec(
        entry_point="train.py",
        source_dir=str(src),
        framework_version="2.16",
        role=ROLE,
        instance_type="ml.c5.2xlarge",
        instance_count=2,
        distribution={"parameter_server": {"enabled": True}},
        inputs={"train": "s3://my-bucket-cn/data"},
        output_path="s3://my-bucket-cn/output",
    )
    request = spec.to_request("tf-ps-4", "s3://my-bucket-cn/code/sourcedir.tar.gz", "cn-north-1")

    assert (
        request["AlgorithmSpecification"]["TrainingImage"]
        == "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/tensorflow-training:2.16.2-cpu-py310"
    )
    assert request["HyperParameters"] == {
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": '"s3://my-bucket-cn/code/sourcedir.tar.gz"',
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": '"tf-ps-4"',
        "sagemaker_region": '"cn-north-1"',
        "sagemaker_parameter_server_enabled": "true",
        "model_dir": '"s3://my-bucket-cn/output/tf-ps-4/model"',
    }
    assert request["InputDataConfig"] == [_default_channel("train", "s3://my-bucket-cn/data")]
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://my-bucket-cn/output"}
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.c5.2xlarge",
        "InstanceCount": 2,
        "VolumeSizeInGB": 30,
    }
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}


def test_sdk_multi_worker_mirrored_with_metric(src: Path) -> None:
    spec = TrainingJobSpec(
        entry_point="pkg/task.py",
        source_dir=str(src),
        role=ROLE,
        instance_type="ml.g5.xlarge",
        instance_count=2,
        distribution={"multi_worker_mirrored_strategy": {"enabled": True}},
        metric_definitions=[{"Name": "val_accuracy", "Regex": r"val_accuracy: ([0-9\.]+)"}],
        inputs={"train": "s3://my-bucket/data/train"},
        output_path="s3://my-bucket/output",
    )
    request = spec.to_request("tf-mwms-5", CODE, "us-gov-west-1")

    assert request["AlgorithmSpecification"] == {
        "TrainingImage": ("442386744353.dkr.ecr.us-gov-west-1.amazonaws.com/tensorflow-training:2.19.0-gpu-py312"),
        "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "val_accuracy", "Regex": r"val_accuracy: ([0-9\.]+)"}],
        "EnableSageMakerMetricsTimeSeries": True,
    }
    assert request["HyperParameters"] == {
        "sagemaker_program": '"pkg/task.py"',
        "sagemaker_submit_directory": '"s3://my-bucket/output/code/0123abcd/sourcedir.tar.gz"',
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": '"tf-mwms-5"',
        "sagemaker_region": '"us-gov-west-1"',
        "sagemaker_multi_worker_mirrored_strategy_enabled": "true",
        "model_dir": '"s3://my-bucket/output/tf-mwms-5/model"',
    }
    assert request["InputDataConfig"] == [_default_channel("train", "s3://my-bucket/data/train")]
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://my-bucket/output"}
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.g5.xlarge",
        "InstanceCount": 2,
        "VolumeSizeInGB": 30,
    }
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}


# --------------------------------------------------------------- request details
def test_mpi_hyperparameters_and_container_model_dir(src: Path) -> None:
    spec = TrainingJobSpec(
        entry_point="train.py",
        source_dir=str(src),
        role=ROLE,
        instance_count=2,
        distribution={"mpi": {"enabled": True, "processes_per_host": 2, "custom_mpi_options": "-x NCCL_DEBUG=INFO"}},
        output_path="s3://my-bucket/output",
    )
    hps = spec.to_request("tf-mpi", CODE, "us-east-1")["HyperParameters"]
    assert hps["sagemaker_mpi_enabled"] == "true"
    assert hps["sagemaker_mpi_num_of_processes_per_host"] == "2"
    assert hps["sagemaker_mpi_custom_mpi_options"] == '"-x NCCL_DEBUG=INFO"'
    assert hps["model_dir"] == '"/opt/ml/model"'

    minimal = dataclasses.replace(spec, distribution={"mpi": {"enabled": True}})
    hps = minimal.to_request("tf-mpi", CODE, "us-east-1")["HyperParameters"]
    assert hps["sagemaker_mpi_custom_mpi_options"] == '""'
    assert "sagemaker_mpi_num_of_processes_per_host" not in hps


def test_model_dir_false_and_explicit(src: Path) -> None:
    spec = TrainingJobSpec(entry_point="train.py", source_dir=str(src), role=ROLE, output_path="s3://my-bucket/o")
    off = dataclasses.replace(spec, model_dir=False, hyperparameters={"model_dir": "/tmp/mine"})
    assert off.to_request("j", CODE, "us-east-1")["HyperParameters"]["model_dir"] == '"/tmp/mine"'
    assert (
        "model_dir"
        not in dataclasses.replace(spec, model_dir=False).to_request("j", CODE, "us-east-1")["HyperParameters"]
    )
    explicit = dataclasses.replace(spec, model_dir="s3://my-bucket/models/x", distribution={"mpi": {"enabled": True}})
    assert explicit.to_request("j", CODE, "us-east-1")["HyperParameters"]["model_dir"] == '"s3://my-bucket/models/x"'


def test_image_and_role_precedence(src: Path) -> None:
    spec = TrainingJobSpec(entry_point="train.py", source_dir=str(src), output_path="s3://my-bucket/o")
    with pytest.raises(ConfigValidationError) as info:
        spec.to_request("j", CODE, "us-east-1")
    assert _fields(info.value) == ["role"]

    request = spec.to_request("j", CODE, "us-east-1", role="arn:aws:iam::1:role/arg")
    assert request["RoleArn"] == "arn:aws:iam::1:role/arg"
    assert request["AlgorithmSpecification"]["TrainingImage"].endswith("tensorflow-training:2.19.0-cpu-py312")

    custom = dataclasses.replace(spec, role="arn:aws:iam::1:role/spec", image_uri="1.dkr.ecr/custom:1")
    assert custom.to_request("j", CODE, "us-east-1", role="arn:aws:iam::1:role/arg")["RoleArn"].endswith("/arg")
    assert custom.to_request("j", CODE, "us-east-1")["RoleArn"].endswith("/spec")
    assert custom.to_request("j", CODE, "us-east-1")["AlgorithmSpecification"]["TrainingImage"] == "1.dkr.ecr/custom:1"
    overridden = custom.to_request("j", CODE, "us-east-1", image_uri="2.dkr.ecr/arg:2")
    assert overridden["AlgorithmSpecification"]["TrainingImage"] == "2.dkr.ecr/arg:2"


def test_optional_request_keys(src: Path) -> None:
    spec = TrainingJobSpec(
        entry_point="train.py",
        source_dir=str(src),
        role=ROLE,
        output_path="s3://my-bucket/o",
        output_kms_key="alias/out",
        volume_kms_key="alias/vol",
        subnets=["subnet-1", "subnet-2"],
        security_group_ids=["sg-1"],
        enable_network_isolation=True,
        encrypt_inter_container_traffic=True,
        enable_sagemaker_metrics=False,
        max_retry_attempts=3,
        checkpoint_s3_uri="s3://my-bucket/ckpt",
        checkpoint_local_path="/opt/ml/checkpoints/",
        input_mode="FastFile",
        tags=[{"Key": "owner", "Value": "data-team"}],
    )
    request = spec.to_request("j", CODE, "us-east-1")
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://my-bucket/o", "KmsKeyId": "alias/out"}
    assert request["ResourceConfig"]["VolumeKmsKeyId"] == "alias/vol"
    assert request["VpcConfig"] == {"Subnets": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]}
    assert request["EnableNetworkIsolation"] is True
    assert request["EnableInterContainerTrafficEncryption"] is True
    assert request["AlgorithmSpecification"]["EnableSageMakerMetricsTimeSeries"] is False
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "FastFile"
    assert request["RetryStrategy"] == {"MaximumRetryAttempts": 3}
    assert request["CheckpointConfig"] == {
        "S3Uri": "s3://my-bucket/ckpt",
        "LocalPath": "/opt/ml/checkpoints/",
    }
    assert request["Tags"] == [{"Key": "owner", "Value": "data-team"}]
    assert "InputDataConfig" not in request and "Environment" not in request


def test_channel_with_every_setting(src: Path) -> None:
    spec = TrainingJobSpec(
        entry_point="train.py",
        source_dir=str(src),
        role=ROLE,
        output_path="s3://my-bucket/o",
        inputs={
            "train": {
                "s3_data": "s3://my-bucket/manifest.json",
                "distribution": "FullyReplicated",
                "content_type": "application/x-recordio",
                "compression": "Gzip",
                "input_mode": "Pipe",
                "s3_data_type": "AugmentedManifestFile",
                "record_wrapping": "RecordIO",
                "shuffle_config": 42,
                "attribute_names": ["source-ref", "label"],
            }
        },
    )
    assert spec.to_request("j", CODE, "us-east-1")["InputDataConfig"] == [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "AugmentedManifestFile",
                    "S3Uri": "s3://my-bucket/manifest.json",
                    "S3DataDistributionType": "FullyReplicated",
                    "AttributeNames": ["source-ref", "label"],
                }
            },
            "ContentType": "application/x-recordio",
            "CompressionType": "Gzip",
            "RecordWrapperType": "RecordIO",
            "InputMode": "Pipe",
            "ShuffleConfig": {"Seed": 42},
        }
    ]


def test_s3_source_dir_keeps_entry_point(tmp_path: Path) -> None:
    spec = TrainingJobSpec(
        entry_point="pkg/train.py",
        source_dir="s3://my-bucket/code/sourcedir.tar.gz",
        role=ROLE,
        output_path="s3://my-bucket/o",
    )
    assert spec.errors() == []
    assert spec.to_request("j", CODE, "us-east-1")["HyperParameters"]["sagemaker_program"] == '"pkg/train.py"'


def test_request_overrides_deep_merge(src: Path) -> None:
    overrides = {
        "ResourceConfig": {"KeepAlivePeriodInSeconds": 600},
        "StoppingCondition": {"MaxRuntimeInSeconds": 100},
        "AlgorithmSpecification": {"TrainingImage": "custom:1"},
        "Tags": [{"Key": "x", "Value": "y"}],
        "EnableNetworkIsolation": True,
    }
    spec = TrainingJobSpec(
        entry_point="train.py",
        source_dir=str(src),
        role=ROLE,
        output_path="s3://my-bucket/o",
        tags={"a": "b"},
        request_overrides=overrides,
    )
    request = spec.to_request("j", CODE, "us-east-1")
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
        "KeepAlivePeriodInSeconds": 600,
    }
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 100}
    assert request["AlgorithmSpecification"]["TrainingImage"] == "custom:1"
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert request["Tags"] == [{"Key": "x", "Value": "y"}]  # lists replace
    assert request["EnableNetworkIsolation"] is True
    request["Tags"][0]["Value"] = "changed"
    assert spec.request_overrides["Tags"] == [{"Key": "x", "Value": "y"}]


def test_extra_tags_over_the_limit(src: Path) -> None:
    spec = TrainingJobSpec(
        entry_point="train.py",
        source_dir=str(src),
        role=ROLE,
        output_path="s3://my-bucket/o",
        tags={f"k{i}": "v" for i in range(48)},
    )
    assert len(spec.to_request("j", CODE, "us-east-1", extra_tags={"a": "1", "b": "2"})["Tags"]) == 50
    with pytest.raises(ConfigValidationError) as info:
        spec.to_request("j", CODE, "us-east-1", extra_tags={"a": "1", "b": "2", "c": "3"})
    assert _fields(info.value) == ["tags"]


def test_to_request_refuses_an_invalid_spec(src: Path) -> None:
    spec = TrainingJobSpec(entry_point="train.py", source_dir=str(src), role=ROLE, instance_count=0)
    with pytest.raises(ConfigValidationError) as info:
        spec.to_request("j", CODE, "us-east-1")
    assert set(_fields(info.value)) == {"instance_count", "output_path"}


def test_code_prefix() -> None:
    spec = TrainingJobSpec(entry_point="t.py", output_path="s3://my-bucket/out/")
    assert spec.code_prefix() == "s3://my-bucket/out/code"
    assert dataclasses.replace(spec, code_location="s3://code-bucket/c/").code_prefix() == "s3://code-bucket/c"
    with pytest.raises(ConfigValidationError) as info:
        TrainingJobSpec(entry_point="t.py").code_prefix()
    assert _fields(info.value) == ["output_path"]


def test_json_encode_hyperparameters() -> None:
    encoded = json_encode_hyperparameters(
        {"epochs": 5, "lr": 0.5, "name": "adam", "flag": True, "off": False, "none": None, "layers": [64, 32]}
    )
    assert encoded == {
        "epochs": "5",
        "lr": "0.5",
        "name": '"adam"',
        "flag": "true",
        "off": "false",
        "none": "null",
        "layers": "[64, 32]",
    }


# ---------------------------------------------------------------------- from_mapping
def test_from_mapping_coerces_from_type_hints(base: dict[str, Any]) -> None:
    spec = TrainingJobSpec.from_mapping(
        {
            **base,
            "instance_count": "2",
            "volume_size": " 50 ",
            "max_run": "7200",
            "use_spot_instances": "true",
            "max_wait": 7200.0,
            "enable_network_isolation": "False",
            "enable_sagemaker_metrics": "null",
            "max_retry_attempts": "",
            "model_dir": "false",
            "container_log_level": "10",
            "hyperparameters": '{"epochs": "3", "lr": 0.1}',
            "subnets": '["subnet-1"]',
            "security_group_ids": ["sg-1"],
            "framework_version": "2.19",
        }
    )
    assert spec.instance_count == 2 and type(spec.instance_count) is int
    assert spec.volume_size == 50
    assert spec.max_run == 7200
    assert spec.use_spot_instances is True
    assert spec.max_wait == 7200 and type(spec.max_wait) is int
    assert spec.enable_network_isolation is False
    assert spec.enable_sagemaker_metrics is None
    assert spec.max_retry_attempts is None
    assert spec.model_dir is False
    assert spec.container_log_level == 10
    assert spec.hyperparameters == {"epochs": "3", "lr": 0.1}  # values inside are left alone
    assert spec.subnets == ["subnet-1"]
    assert spec.framework_version == "2.19"


def test_from_mapping_null_means_default(base: dict[str, Any]) -> None:
    spec = TrainingJobSpec.from_mapping({**base, "instance_count": None, "framework_version": None})
    assert spec.instance_count == 1
    assert spec.framework_version == "2.19.0"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("instance_count", "two"),
        ("instance_count", "2.5"),
        ("instance_count", True),
        ("use_spot_instances", "yes please"),
        ("hyperparameters", "epochs=3"),
        ("hyperparameters", ["epochs", 3]),
        ("subnets", "subnet-1"),
        ("role", 42),
    ],
)
def test_from_mapping_rejects_uncoercible_values(base: dict[str, Any], key: str, value: Any) -> None:
    with pytest.raises(ConfigValidationError) as info:
        TrainingJobSpec.from_mapping({**base, key: value})
    assert _fields(info.value) == [key]


@pytest.mark.parametrize(
    ("unknown", "suggestion"),
    [
        ("instance_cont", "instance_count"),
        ("train_instance_type", "instance_type"),
        ("hyperparameter", "hyperparameters"),
        ("output", "output_path"),
    ],
)
def test_unknown_key_suggests_close_match(base: dict[str, Any], unknown: str, suggestion: str) -> None:
    with pytest.raises(ConfigValidationError) as info:
        TrainingJobSpec.from_mapping({**base, unknown: 1})
    (error,) = info.value.errors
    assert error.field == unknown
    assert f"did you mean '{suggestion}'" in error.rule
    assert "entry_point" in error.rule and "request_overrides" in error.rule  # known keys listed


def test_unknown_key_without_close_match(base: dict[str, Any]) -> None:
    with pytest.raises(ConfigValidationError) as info:
        TrainingJobSpec.from_mapping({**base, "zzz": 1})
    assert "did you mean" not in info.value.errors[0].rule
    assert "known:" in info.value.errors[0].rule


def test_from_mapping_collects_all_problems(base: dict[str, Any]) -> None:
    with pytest.raises(ConfigValidationError) as info:
        TrainingJobSpec.from_mapping(
            {
                **base,
                "instance_count": "x",
                "volume_size": 0,
                "inputs": "/local/data",
                "foo": 1,
                "output_path": None,
            }
        )
    assert sorted(_fields(info.value)) == ["foo", "inputs", "instance_count", "output_path", "volume_size"]
    assert "local path" in str(info.value)


def test_from_mapping_needs_a_mapping_and_an_entry_point() -> None:
    with pytest.raises(ConfigValidationError) as info:
        TrainingJobSpec.from_mapping(["entry_point", "train.py"])  # type: ignore[arg-type]
    assert _fields(info.value) == ["config"]
    with pytest.raises(ConfigValidationError) as info:
        TrainingJobSpec.from_mapping({"output_path": "s3://my-bucket/o"})
    assert _fields(info.value) == ["entry_point"]


# ----------------------------------------------------------------------- the rules
def _many_hps(count: int) -> dict[str, int]:
    return {f"hp{i}": i for i in range(count)}


RULES: list[tuple[str, dict[str, Any], str]] = [
    ("instance type without ml.", {"instance_type": "m5.large"}, "instance_type"),
    ("instance type without size", {"instance_type": "ml.m5"}, "instance_type"),
    ("no instances", {"instance_count": 0}, "instance_count"),
    ("no volume", {"volume_size": 0}, "volume_size"),
    ("no run time", {"max_run": 0}, "max_run"),
    ("spot without max_wait", {"use_spot_instances": True}, "max_wait"),
    ("spot max_wait < max_run", {"use_spot_instances": True, "max_run": 7200, "max_wait": 3600}, "max_wait"),
    ("max_wait without spot", {"max_wait": 3600}, "max_wait"),
    ("checkpoint not s3", {"checkpoint_s3_uri": "/tmp/ckpt"}, "checkpoint_s3_uri"),
    ("checkpoint path alone", {"checkpoint_local_path": "/opt/ml/checkpoints"}, "checkpoint_local_path"),
    ("output bucket uppercase", {"output_path": "s3://My-Bucket/out"}, "output_path"),
    ("output bucket too short", {"output_path": "s3://ab/out"}, "output_path"),
    ("output bucket underscore", {"output_path": "s3://my_bucket/out"}, "output_path"),
    ("output missing", {"output_path": None}, "output_path"),
    ("code location not s3", {"code_location": "my-bucket/code"}, "code_location"),
    ("input local path", {"inputs": "/data/train"}, "inputs"),
    ("channel file uri", {"inputs": {"train": "file:///data"}}, "inputs.train"),
    (
        "channel without s3_data",
        {"inputs": {"train": {"distribution": "ShardedByS3Key"}}},
        "inputs.train.s3_data",
    ),
    (
        "channel bad distribution",
        {"inputs": {"train": {"s3_data": "s3://my-bucket/x", "distribution": "Sharded"}}},
        "inputs.train.distribution",
    ),
    (
        "channel bad compression",
        {"inputs": {"train": {"s3_data": "s3://my-bucket/x", "compression": "zip"}}},
        "inputs.train.compression",
    ),
    (
        "channel bad input mode",
        {"inputs": {"train": {"s3_data": "s3://my-bucket/x", "input_mode": "Stream"}}},
        "inputs.train.input_mode",
    ),
    (
        "channel bad data type",
        {"inputs": {"train": {"s3_data": "s3://my-bucket/x", "s3_data_type": "Prefix"}}},
        "inputs.train.s3_data_type",
    ),
    (
        "channel unknown key",
        {"inputs": {"train": {"s3_data": "s3://my-bucket/x", "compresion": "Gzip"}}},
        "inputs.train.compresion",
    ),
    (
        "channel seed not int",
        {"inputs": {"train": {"s3_data": "s3://my-bucket/x", "shuffle_config": "42"}}},
        "inputs.train.shuffle_config",
    ),
    ("channel bad name", {"inputs": {"bad name!": "s3://my-bucket/x"}}, "inputs.bad name!"),
    ("input mode", {"input_mode": "Stream"}, "input_mode"),
    ("entry point missing", {"entry_point": "missing.py"}, "entry_point"),
    ("entry point escapes", {"entry_point": "../outside.py"}, "entry_point"),
    ("entry point empty", {"entry_point": ""}, "entry_point"),
    ("source dir missing", {"source_dir": "/nonexistent/dir"}, "source_dir"),
    (
        "reserved hyperparameter",
        {"hyperparameters": {"sagemaker_program": "x.py"}},
        "hyperparameters.sagemaker_program",
    ),
    ("model_dir hyperparameter", {"hyperparameters": {"model_dir": "/tmp/m"}}, "hyperparameters.model_dir"),
    ("hyperparameter key too long", {"hyperparameters": {"k" * 257: 1}}, "hyperparameters." + "k" * 257),
    ("hyperparameter value too long", {"hyperparameters": {"big": "x" * 2499}}, "hyperparameters.big"),
    ("hyperparameter not json", {"hyperparameters": {"obj": object()}}, "hyperparameters.obj"),
    ("too many hyperparameters", {"hyperparameters": _many_hps(95)}, "hyperparameters"),
    ("unknown strategy", {"distribution": {"horovod": {"enabled": True}}}, "distribution.horovod"),
    ("strategy not a mapping", {"distribution": {"mpi": True}}, "distribution.mpi"),
    ("enabled not bool", {"distribution": {"mpi": {"enabled": "yes"}}}, "distribution.mpi.enabled"),
    (
        "strategy unknown key",
        {"distribution": {"parameter_server": {"enabled": True, "processes_per_host": 2}}},
        "distribution.parameter_server.processes_per_host",
    ),
    (
        "mpi processes < 1",
        {"distribution": {"mpi": {"enabled": True, "processes_per_host": 0}}},
        "distribution.mpi.processes_per_host",
    ),
    (
        "mpi options not str",
        {"distribution": {"mpi": {"enabled": True, "custom_mpi_options": 3}}},
        "distribution.mpi.custom_mpi_options",
    ),
    (
        "two strategies",
        {
            "distribution": {
                "parameter_server": {"enabled": True},
                "multi_worker_mirrored_strategy": {"enabled": True},
            }
        },
        "distribution",
    ),
    (
        "mpi with parameter server",
        {"distribution": {"parameter_server": {"enabled": True}, "mpi": {"enabled": True}}},
        "distribution",
    ),
    (
        "mwms before 2.9",
        {
            "image_uri": "my-registry/tf:2.8",
            "framework_version": "2.8",
            "distribution": {"multi_worker_mirrored_strategy": {"enabled": True}},
        },
        "distribution.multi_worker_mirrored_strategy",
    ),
    ("metric without regex", {"metric_definitions": [{"Name": "acc"}]}, "metric_definitions[0].Regex"),
    (
        "metric bad regex",
        {"metric_definitions": [{"Name": "acc", "Regex": "acc=("}]},
        "metric_definitions[0].Regex",
    ),
    ("metric without name", {"metric_definitions": [{"Regex": "acc=(.*)"}]}, "metric_definitions[0].Name"),
    ("environment not str", {"environment": {"EPOCHS": 3}}, "environment.EPOCHS"),
    ("too many tags", {"tags": {f"k{i}": "v" for i in range(51)}}, "tags"),
    ("tag key too long", {"tags": {"k" * 129: "v"}}, "tags." + "k" * 129),
    ("tag value too long", {"tags": {"k": "v" * 257}}, "tags.k"),
    ("tag list item", {"tags": [{"Key": "a"}]}, "tags[0]"),
    ("subnets alone", {"subnets": ["subnet-1"]}, "subnets"),
    ("unknown framework version", {"framework_version": "1.0"}, "framework_version"),
    ("py version not offered", {"py_version": "py27"}, "py_version"),
    ("too many retries", {"max_retry_attempts": 31}, "max_retry_attempts"),
    ("model_dir true", {"model_dir": True}, "model_dir"),
]


@pytest.mark.parametrize(("overrides", "field"), [(o, f) for _, o, f in RULES], ids=[r[0] for r in RULES])
def test_rule(base: dict[str, Any], overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigValidationError) as info:
        TrainingJobSpec.from_mapping({**base, **overrides})
    assert field in _fields(info.value)
    assert field in str(info.value)


def test_base_config_is_valid(base: dict[str, Any]) -> None:
    assert TrainingJobSpec.from_mapping(base).errors() == []


def test_hyperparameter_limit_counts_reserved_ones(base: dict[str, Any]) -> None:
    # 5 sagemaker_* + model_dir are added: 94 user ones make exactly 100
    TrainingJobSpec.from_mapping({**base, "hyperparameters": _many_hps(94)})
    # without model_dir one more user hyperparameter fits
    TrainingJobSpec.from_mapping({**base, "hyperparameters": _many_hps(95), "model_dir": False})
    with pytest.raises(ConfigValidationError, match="including the 7"):
        TrainingJobSpec.from_mapping(
            {
                **base,
                "hyperparameters": _many_hps(94),
                "distribution": {"parameter_server": {"enabled": True}},
            }
        )


def test_local_input_path_says_so(base: dict[str, Any]) -> None:
    with pytest.raises(ConfigValidationError) as info:
        TrainingJobSpec.from_mapping({**base, "inputs": {"train": "./data/train"}})
    assert "local path" in info.value.errors[0].rule


def test_errors_on_wrongly_typed_spec_do_not_crash(src: Path) -> None:
    spec = TrainingJobSpec(
        entry_point="train.py",
        source_dir=str(src),
        output_path="s3://my-bucket/o",
        instance_count="2",  # type: ignore[arg-type]
        distribution=["mpi"],  # type: ignore[arg-type]
    )
    assert sorted(error.field for error in spec.errors()) == ["distribution", "instance_count"]


# ------------------------------------------------------------------- immutability
def test_spec_is_frozen_and_owns_its_data(src: Path) -> None:
    hps: dict[str, Any] = {"layers": [64, 32]}
    inputs: dict[str, Any] = {"train": {"s3_data": "s3://my-bucket/x"}}
    spec = TrainingJobSpec(entry_point="train.py", source_dir=str(src), hyperparameters=hps, inputs=inputs)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.instance_count = 4  # type: ignore[misc]
    hps["layers"].append(16)
    hps["extra"] = 1
    inputs["train"]["s3_data"] = "s3://other-bucket/y"
    assert spec.hyperparameters == {"layers": [64, 32]}
    assert spec.inputs == {"train": {"s3_data": "s3://my-bucket/x"}}

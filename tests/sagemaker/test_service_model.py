from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from airflow_tf_sm.exceptions import ConfigValidationError
from airflow_tf_sm.sagemaker.service_model import parse_s3_uri, request_errors, validate_request

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
TRAINING_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.19.0-cpu-py312"


def base_request() -> dict[str, Any]:
    """A valid CreateTrainingJob request, shaped like the TF script-mode requests of the SDK."""
    return {
        "TrainingJobName": "nightly-train-1a2b3c4d",
        "AlgorithmSpecification": {
            "TrainingImage": TRAINING_IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "val:loss", "Regex": "val_loss: ([0-9.]+)"}],
        },
        "RoleArn": ROLE,
        "InputDataConfig": [
            {
                "ChannelName": "training",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": "s3://my-bucket/data/2025-01-01/train",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            },
            {
                "ChannelName": "test",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://my-bucket/data/test"}},
            },
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://my-bucket/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "HyperParameters": {
            "epochs": "5",
            "optimizer": '"adam"',
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://my-bucket/code/abc/sourcedir.tar.gz"',
            "sagemaker_container_log_level": "20",
        },
        "CheckpointConfig": {"S3Uri": "s3://my-bucket/checkpoints/job", "LocalPath": "/opt/ml/checkpoints/"},
        "Tags": [{"Key": "airflow-tf-sm:dag-id", "Value": "nightly"}],
    }


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    """Set a dotted path (``A.0.B`` indexes lists) in the request."""

    def apply(request: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = request
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return apply


def _delete(path: str) -> Mutation:
    def apply(request: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = request
        for part in parents:
            target = target[part]
        del target[last]

    return apply


def _spot(max_wait: int | None) -> Mutation:
    def apply(request: dict[str, Any]) -> None:
        request["EnableManagedSpotTraining"] = True
        request["StoppingCondition"] = {"MaxRuntimeInSeconds": 3600}
        if max_wait is not None:
            request["StoppingCondition"]["MaxWaitTimeInSeconds"] = max_wait

    return apply


def _many_hyperparameters(request: dict[str, Any]) -> None:
    request["HyperParameters"] = {f"hp{i}": "1" for i in range(101)}


LONG_KEY = "k" * 257
S3_CHANNEL = "InputDataConfig.0.DataSource.S3DataSource.S3Uri"
S3_CHANNEL_FIELD = "InputDataConfig[0].DataSource.S3DataSource.S3Uri"

BROKEN: list[tuple[str, Mutation, str]] = [
    ("underscore name", _set("TrainingJobName", "nightly_train"), "TrainingJobName"),
    ("dot in name", _set("TrainingJobName", "train.v2"), "TrainingJobName"),
    ("name too long", _set("TrainingJobName", "x" * 64), "TrainingJobName"),
    ("name missing", _delete("TrainingJobName"), "TrainingJobName"),
    ("role not an ARN", _set("RoleArn", "SageMakerRole"), "RoleArn"),
    ("role ARN of a user", _set("RoleArn", "arn:aws:iam::123456789012:user/bob"), "RoleArn"),
    (
        "instance type without ml.",
        _set("ResourceConfig.InstanceType", "m5.large"),
        "ResourceConfig.InstanceType",
    ),
    ("instance count as string", _set("ResourceConfig.InstanceCount", "2"), "ResourceConfig.InstanceCount"),
    ("instance count zero", _set("ResourceConfig.InstanceCount", 0), "ResourceConfig.InstanceCount"),
    ("unknown top-level field", _set("Epochs", 3), "Epochs"),
    ("unknown nested field", _set("ResourceConfig.Gpus", 1), "ResourceConfig.Gpus"),
    (
        "training input mode missing",
        _delete("AlgorithmSpecification.TrainingInputMode"),
        "AlgorithmSpecification.TrainingInputMode",
    ),
    ("output config missing", _delete("OutputDataConfig"), "OutputDataConfig"),
    ("spot flag as text", _set("EnableManagedSpotTraining", "yes"), "EnableManagedSpotTraining"),
    (
        "max runtime zero",
        _set("StoppingCondition.MaxRuntimeInSeconds", 0),
        "StoppingCondition.MaxRuntimeInSeconds",
    ),
    ("too many hyperparameters", _many_hyperparameters, "HyperParameters"),
    ("hyperparameter key too long", _set(f"HyperParameters.{LONG_KEY}", "1"), f"HyperParameters.{LONG_KEY}"),
    (
        "hyperparameter value too long",
        _set("HyperParameters.notes", '"' + "n" * 2500 + '"'),
        "HyperParameters.notes",
    ),
    ("hyperparameter value not a string", _set("HyperParameters.epochs", 5), "HyperParameters.epochs"),
    (
        "submit directory not S3",
        _set("HyperParameters.sagemaker_submit_directory", '"/tmp/sourcedir.tar.gz"'),
        "HyperParameters.sagemaker_submit_directory",
    ),
    (
        "submit directory without key",
        _set("HyperParameters.sagemaker_submit_directory", '"s3://my-bucket"'),
        "HyperParameters.sagemaker_submit_directory",
    ),
    ("channel S3 URI without scheme", _set(S3_CHANNEL, "my-bucket/data"), S3_CHANNEL_FIELD),
    ("channel S3 URI bad bucket", _set(S3_CHANNEL, "s3://My_Bucket/data"), S3_CHANNEL_FIELD),
    (
        "output path not S3",
        _set("OutputDataConfig.S3OutputPath", "/tmp/out"),
        "OutputDataConfig.S3OutputPath",
    ),
    ("checkpoint URI not S3", _set("CheckpointConfig.S3Uri", "file:///tmp/ckpt"), "CheckpointConfig.S3Uri"),
    ("spot without max wait", _spot(None), "StoppingCondition.MaxWaitTimeInSeconds"),
    ("spot max wait below max runtime", _spot(1800), "StoppingCondition.MaxWaitTimeInSeconds"),
    (
        "max wait without spot",
        _set("StoppingCondition.MaxWaitTimeInSeconds", 90000),
        "StoppingCondition.MaxWaitTimeInSeconds",
    ),
    (
        "duplicate channel",
        _set("InputDataConfig.1.ChannelName", "training"),
        "InputDataConfig[1].ChannelName",
    ),
    (
        "channel name with space",
        _set("InputDataConfig.0.ChannelName", "train data"),
        "InputDataConfig[0].ChannelName",
    ),
    ("channel name dot", _set("InputDataConfig.0.ChannelName", "."), "InputDataConfig[0].ChannelName"),
    ("channel name dot dot", _set("InputDataConfig.0.ChannelName", ".."), "InputDataConfig[0].ChannelName"),
    ("channel name too long", _set("InputDataConfig.0.ChannelName", "c" * 65), "InputDataConfig[0].ChannelName"),
    ("channels not a list", _set("InputDataConfig", {"training": "s3://my-bucket/x"}), "InputDataConfig"),
    ("tag without value", _set("Tags", [{"Key": "k"}]), "Tags[0].Value"),
]


def test_base_request_is_valid() -> None:
    assert request_errors(base_request()) == []
    validate_request(base_request())


def test_spot_request_with_enough_max_wait_is_valid() -> None:
    request = base_request()
    _spot(3600)(request)
    assert request_errors(request) == []


@pytest.mark.parametrize(("mutate", "field"), [pytest.param(m, f, id=i) for i, m, f in BROKEN])
def test_broken_request_names_field(mutate: Mutation, field: str) -> None:
    request = base_request()
    mutate(request)
    errors = request_errors(request)
    assert [e.field for e in errors] == [field], errors
    with pytest.raises(ConfigValidationError) as info:
        validate_request(request)
    assert f"  - {field}: " in str(info.value)
    assert "CreateTrainingJob request" in str(info.value)


def test_all_problems_are_reported_together() -> None:
    request = base_request()
    # one broken thing per row, picking rows that do not touch the same field
    chosen = {
        "underscore name",
        "role not an ARN",
        "instance type without ml.",
        "instance count as string",
        "unknown top-level field",
        "unknown nested field",
        "training input mode missing",
        "spot flag as text",
        "max runtime zero",
        "hyperparameter key too long",
        "hyperparameter value too long",
        "submit directory not S3",
        "channel S3 URI without scheme",
        "output path not S3",
        "checkpoint URI not S3",
        "duplicate channel",
        "tag without value",
    }
    rows = [row for row in BROKEN if row[0] in chosen]
    assert len(rows) == len(chosen)
    for _, mutate, _ in rows:
        mutate(request)
    with pytest.raises(ConfigValidationError) as info:
        validate_request(request)
    fields = sorted(e.field for e in info.value.errors)
    assert fields == sorted(f for _, _, f in rows)
    message = str(info.value)
    assert f"({len(rows)} problem(s))" in message
    for field in fields:
        assert f"  - {field}: " in message


def test_botocore_duplicate_is_dropped_for_project_rule() -> None:
    request = base_request()
    request["HyperParameters"]["epochs"] = 5
    errors = request_errors(request)
    assert len(errors) == 1
    assert "JSON-encoded" in errors[0].rule


def test_mapping_and_tuples_are_accepted() -> None:
    from types import MappingProxyType

    request = base_request()
    request["InputDataConfig"] = tuple(request["InputDataConfig"])
    assert request_errors(MappingProxyType(request)) == []


def test_request_that_is_not_a_mapping() -> None:
    errors = request_errors(["not", "a", "dict"])  # type: ignore[arg-type]
    assert [e.field for e in errors] == ["request"]


def test_submit_directory_accepts_raw_uri() -> None:
    request = base_request()
    request["HyperParameters"]["sagemaker_submit_directory"] = "s3://my-bucket/code/sourcedir.tar.gz"
    assert request_errors(request) == []


def test_validation_does_not_modify_request() -> None:
    request = base_request()
    request["ResourceConfig"]["InstanceCount"] = "2"
    before = copy.deepcopy(request)
    request_errors(request)
    assert request == before


# ------------------------------------------------------------ other operations


def _model() -> dict[str, Any]:
    return {
        "ModelName": "nightly-model-1",
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {
            "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.19.0-cpu",
            "ModelDataUrl": "s3://my-bucket/output/job/output/model.tar.gz",
        },
    }


def _endpoint_config() -> dict[str, Any]:
    return {
        "EndpointConfigName": "nightly-config-1",
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": "nightly-model-1",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
    }


def _endpoint() -> dict[str, Any]:
    return {"EndpointName": "nightly", "EndpointConfigName": "nightly-config-1"}


@pytest.mark.parametrize(
    ("operation", "make"),
    [("CreateModel", _model), ("CreateEndpointConfig", _endpoint_config), ("CreateEndpoint", _endpoint)],
)
def test_deploy_requests_valid(operation: str, make: Callable[[], dict[str, Any]]) -> None:
    assert request_errors(make(), operation) == []


@pytest.mark.parametrize(
    ("operation", "make", "mutate", "field"),
    [
        ("CreateModel", _model, _set("ModelName", "model_1"), "ModelName"),
        ("CreateModel", _model, _set("ExecutionRoleArn", "role"), "ExecutionRoleArn"),
        ("CreateModel", _model, _delete("ModelName"), "ModelName"),
        ("CreateEndpointConfig", _endpoint_config, _set("EndpointConfigName", "cfg.1"), "EndpointConfigName"),
        (
            "CreateEndpointConfig",
            _endpoint_config,
            _set("ProductionVariants.0.VariantName", "All_Traffic"),
            "ProductionVariants[0].VariantName",
        ),
        (
            "CreateEndpointConfig",
            _endpoint_config,
            _set("ProductionVariants.0.InstanceType", "local"),
            "ProductionVariants[0].InstanceType",
        ),
        (
            "CreateEndpointConfig",
            _endpoint_config,
            _set("ProductionVariants.0.InitialInstanceCount", "1"),
            "ProductionVariants[0].InitialInstanceCount",
        ),
        ("CreateEndpoint", _endpoint, _set("EndpointName", "-nightly"), "EndpointName"),
        ("CreateEndpoint", _endpoint, _delete("EndpointConfigName"), "EndpointConfigName"),
    ],
)
def test_deploy_requests_broken(
    operation: str, make: Callable[[], dict[str, Any]], mutate: Mutation, field: str
) -> None:
    request = make()
    mutate(request)
    assert [e.field for e in request_errors(request, operation)] == [field]
    with pytest.raises(ConfigValidationError, match=f"Invalid {operation} request"):
        validate_request(request, operation)


# ------------------------------------------------------------ parse_s3_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://my-bucket/data/train.csv", ("my-bucket", "data/train.csv")),
        ("s3://my-bucket/prefix/", ("my-bucket", "prefix/")),
        ("s3://my-bucket", ("my-bucket", "")),
        ("s3://my-bucket/", ("my-bucket", "")),
        ("s3://my.bucket.name/a b/c", ("my.bucket.name", "a b/c")),
    ],
)
def test_parse_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "my-bucket/key",
        "s3:/my-bucket/key",
        "S3://my-bucket/key",
        "s3:///key",
        "https://my-bucket.s3.amazonaws.com/k",
        "s3://My_Bucket/key",
        "s3://ab/key",
        "s3://-bucket/key",
        "",
        42,
    ],
)
def test_parse_s3_uri_rejects(uri: Any) -> None:
    with pytest.raises(ValueError):
        parse_s3_uri(uri)


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("s3:/bad", "must start with 's3://' (lowercase, two slashes)"),
        ("S3://my-bucket/key", "must start with 's3://' (lowercase, two slashes)"),
        ("s3:my-bucket/key", "must start with 's3://' (lowercase, two slashes)"),
        ("./data/train", "it looks like a local path"),
        ("s3://My_Bucket/key", "bucket names are 3-63 lowercase letters"),
    ],
)
def test_parse_s3_uri_says_what_is_wrong(uri: str, says: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_s3_uri(uri)
    assert says in str(info.value)
    if uri.lower().startswith("s3:"):
        assert "local path" not in str(info.value)


def test_json_encoded_hyperparameters_stay_valid() -> None:
    request = base_request()
    request["HyperParameters"]["layers"] = json.dumps([64, 32])
    request["HyperParameters"]["augment"] = "true"
    assert request_errors(request) == []

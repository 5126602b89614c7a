"""deploy.py: the quality gate, deployability checks, deterministic names and the request shapes (pure)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from airflow_tf_sm.exceptions import ConfigValidationError, ModelNotDeployableError
from airflow_tf_sm.hosting.spec import (
    TRAINING_JOB_TAG,
    DeploySpec,
    MetricRequirement,
    check_deployable,
    inference_image,
    parse_requirements,
    training_framework_version,
    unmet_requirements,
)
from airflow_tf_sm.sagemaker.names import is_valid_name
from airflow_tf_sm.sagemaker.resources import final_metrics

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE_219 = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.19.0-cpu-py312"


def job_desc(name: str = "mnist-20250101", **overrides: Any) -> dict[str, Any]:
    desc: dict[str, Any] = {
        "TrainingJobName": name,
        "TrainingJobStatus": "Completed",
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": IMAGE_219, "TrainingInputMode": "File"},
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://bucket/models/{name}/output/model.tar.gz"},
        "FinalMetricDataList": [
            {"MetricName": "val_accuracy", "Value": 0.95},
            {"MetricName": "val_loss", "Value": 0.21},
        ],
    }
    desc.update(overrides)
    return desc


def spec_for(desc: dict[str, Any] | None = None, **kwargs: Any) -> DeploySpec:
    return DeploySpec.from_training_job(
        desc or job_desc(), **{"endpoint_name": "mnist", "region": "us-east-1", **kwargs}
    )


# --------------------------------------------------------------------- quality gate
@pytest.mark.parametrize(
    ("rule", "value", "met"),
    [
        (">= 0.9", 0.9, True),
        (">= 0.9", 0.8999, False),
        ("> 0.9", 0.9, False),
        ("<0.3", 0.29, True),
        ("<= 0.3", 0.31, False),
        ("== 1", 1.0, True),
        ("  >=  1e-2 ", 0.01, True),
        (0.9, 0.91, True),  # a plain number means >=
        (0.9, 0.89, False),
    ],
)
def test_requirement_forms(rule: Any, value: float, met: bool) -> None:
    (requirement,) = parse_requirements({"m": rule})
    assert requirement.is_met(value) is met


def test_parse_requirements_sorted_and_str() -> None:
    parsed = parse_requirements({"val_loss": "< 0.3", "val_accuracy": ">= 0.9"})
    assert parsed == [MetricRequirement("val_accuracy", ">=", 0.9), MetricRequirement("val_loss", "<", 0.3)]
    assert [str(r) for r in parsed] == ["val_accuracy >= 0.9", "val_loss < 0.3"]
    assert parse_requirements(None) == [] and parse_requirements({}) == []


def test_malformed_rules_are_reported_together_naming_each_metric() -> None:
    with pytest.raises(ConfigValidationError) as info:
        parse_requirements({"val_accuracy": "at least 0.9", "val_loss": "=< 0.3", "ok": ">= 1", "flag": True})
    fields = sorted(e.field for e in info.value.errors)
    assert fields == ["require_metrics.flag", "require_metrics.val_accuracy", "require_metrics.val_loss"]
    assert "'at least 0.9'" in str(info.value) and ">=, >, <=, <, ==" in str(info.value)


def test_non_mapping_gate_is_rejected() -> None:
    with pytest.raises(ConfigValidationError, match="require_metrics"):
        parse_requirements([">= 0.9"])  # type: ignore[arg-type]


def test_unmet_requirements_carry_the_numbers() -> None:
    gate = parse_requirements({"val_accuracy": ">= 0.9", "val_loss": "< 0.3"})
    assert unmet_requirements(gate, {"val_accuracy": 0.95, "val_loss": 0.2}) == []
    unmet = unmet_requirements(gate, {"val_accuracy": 0.8731, "val_loss": 0.45})
    assert unmet == ["val_accuracy = 0.8731, required >= 0.9", "val_loss = 0.45, required < 0.3"]


def test_gate_on_a_metric_the_job_lacks_lists_what_it_has() -> None:
    gate = parse_requirements({"accuracy": ">= 0.9"})
    with pytest.raises(ConfigValidationError) as info:
        unmet_requirements(gate, {"val_accuracy": 0.95, "val_loss": 0.2})
    assert info.value.errors[0].field == "require_metrics.accuracy"
    assert "val_accuracy, val_loss" in str(info.value)
    with pytest.raises(ConfigValidationError, match="it has none"):
        unmet_requirements(gate, {})


def test_final_metrics_reads_the_describe_response() -> None:
    assert final_metrics(job_desc()) == {"val_accuracy": 0.95, "val_loss": 0.21}
    assert final_metrics({"TrainingJobName": "x"}) == {}


# ---------------------------------------------------------------- the training job
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"TrainingJobStatus": "InProgress"}, "is InProgress.*wait for it first"),
        ({"TrainingJobStatus": "Failed", "FailureReason": "OOM"}, "is Failed: OOM -- only a Completed job"),
        ({"TrainingJobStatus": "Stopped"}, "is Stopped"),
        ({"ModelArtifacts": {}}, "no model artifact"),
        ({"ModelArtifacts": None}, "no model artifact"),
    ],
)
def test_check_deployable_rejects(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelNotDeployableError, match=message):
        check_deployable(job_desc(**overrides))


def test_check_deployable_returns_the_model_data() -> None:
    assert check_deployable(job_desc("j1")) == "s3://bucket/models/j1/output/model.tar.gz"


def test_training_framework_version_from_the_image_tag() -> None:
    assert training_framework_version(IMAGE_219) == "2.19.0"
    assert (
        training_framework_version("x.dkr.ecr.cn-north-1.amazonaws.com.cn/tensorflow-training:2.18-gpu-py310") == "2.18"
    )
    assert training_framework_version("my-registry/my-image:latest") is None
    assert training_framework_version(None) is None


def test_inference_image_matches_version_and_serving_instance() -> None:
    desc = job_desc()
    assert inference_image(desc, "eu-west-1", "ml.m5.large") == (
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com/tensorflow-inference:2.19.0-cpu"
    )
    assert inference_image(desc, "us-east-1", "ml.g5.xlarge").endswith("tensorflow-inference:2.19.0-gpu")
    assert inference_image(desc, "us-east-1", "ml.m5.large", "2.18").endswith(":2.18.0-cpu")


def test_inference_image_errors_name_the_field() -> None:
    custom = job_desc(AlgorithmSpecification={"TrainingImage": "my/image:1"})
    with pytest.raises(ConfigValidationError, match=r"framework_version.*pass framework_version= or image="):
        inference_image(custom, "us-east-1", "ml.m5.large")
    with pytest.raises(ConfigValidationError, match=r"framework_version: '1.0'.*or pass image="):
        inference_image(job_desc(), "us-east-1", "ml.m5.large", "1.0")


# ------------------------------------------------------------------------ the spec
def test_requests_follow_the_sagemaker_shapes() -> None:
    spec = spec_for(environment={"SAGEMAKER_TFS_DEFAULT_MODEL_NAME": "model", "WORKERS": 2}, tags={"team": "ml"})
    model = spec.model_request()
    assert model == {
        "ModelName": spec.model_name,
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {
            "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.19.0-cpu",
            "ModelDataUrl": "s3://bucket/models/mnist-20250101/output/model.tar.gz",
            "Environment": {"SAGEMAKER_TFS_DEFAULT_MODEL_NAME": "model", "WORKERS": "2"},
        },
        "Tags": [{"Key": TRAINING_JOB_TAG, "Value": "mnist-20250101"}, {"Key": "team", "Value": "ml"}],
    }
    config = spec.endpoint_config_request()
    assert config["EndpointConfigName"] == spec.endpoint_config_name
    assert config["ProductionVariants"] == [
        {
            "VariantName": "AllTraffic",
            "ModelName": spec.model_name,
            "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large",
            "InitialVariantWeight": 1.0,
        }
    ]
    assert spec.create_endpoint_request() == {
        "EndpointName": "mnist",
        "EndpointConfigName": spec.endpoint_config_name,
        "Tags": model["Tags"],
    }
    assert spec.update_endpoint_request() == {"EndpointName": "mnist", "EndpointConfigName": spec.endpoint_config_name}
    assert spec.errors() == []


def test_names_are_deterministic_and_follow_what_defines_the_resource() -> None:
    base = spec_for()
    assert spec_for().model_name == base.model_name and spec_for().endpoint_config_name == base.endpoint_config_name
    assert base.model_name.startswith("mnist-20250101-") and len(base.model_name) == len("mnist-20250101-") + 8
    assert base.model_name != base.endpoint_config_name
    # tags or the endpoint name do not define the model or the config
    other = spec_for(tags={"x": "y"}, endpoint_name="other")
    assert (other.model_name, other.endpoint_config_name) == (base.model_name, base.endpoint_config_name)
    # a retrained model: new model and config
    retrained = spec_for(job_desc(ModelArtifacts={"S3ModelArtifacts": "s3://bucket/other/model.tar.gz"}))
    assert retrained.model_name != base.model_name and retrained.endpoint_config_name != base.endpoint_config_name
    # serving settings: same model, new config
    for change in ({"instance_type": "ml.c5.xlarge"}, {"instance_count": 2}, {"variant_name": "Blue"}):
        changed = spec_for(**change)
        assert changed.model_name == base.model_name, change
        assert changed.endpoint_config_name != base.endpoint_config_name, change
    # image, role and environment define the model
    for change in ({"image": "my/serving:1"}, {"role": ROLE + "2"}, {"environment": {"A": "1"}}):
        assert spec_for(**change).model_name != base.model_name, change


def test_long_and_odd_job_names_give_valid_names() -> None:
    long_name = "a" * 63
    spec = spec_for(job_desc(long_name))
    for name in (spec.model_name, spec.endpoint_config_name):
        assert is_valid_name(name) and len(name) <= 63
    assert spec.model_name != spec_for(job_desc("a" * 62 + "b")).model_name


def test_role_defaults_to_the_jobs_and_can_be_given() -> None:
    assert spec_for().role == ROLE
    other = "arn:aws:iam::123456789012:role/Serving"
    assert spec_for(role=other).model_request()["ExecutionRoleArn"] == other
    with pytest.raises(ConfigValidationError, match=r"role.*no RoleArn"):
        spec_for(job_desc(RoleArn=None))


def test_explicit_image_wins_over_the_version() -> None:
    spec = spec_for(job_desc(AlgorithmSpecification={"TrainingImage": "custom:1"}), image="my/serving:2")
    assert spec.model_request()["PrimaryContainer"]["Image"] == "my/serving:2"


def test_bad_settings_are_reported_together_before_any_request() -> None:
    with pytest.raises(ConfigValidationError) as info:
        spec_for(endpoint_name="bad_name", instance_type="m5.large", instance_count=0)
    fields = {e.field for e in info.value.errors}
    assert {"EndpointName", "ProductionVariants[0].InstanceType", "instance_count"} <= fields
    with pytest.raises(ConfigValidationError, match="ExecutionRoleArn: 'not-a-role'"):
        spec_for(role="not-a-role")
    with pytest.raises(ConfigValidationError, match="model_data"):
        spec_for(job_desc(ModelArtifacts={"S3ModelArtifacts": "/tmp/model.tar.gz"}))


def test_spec_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec_for().endpoint_name = "x"  # type: ignore[misc]

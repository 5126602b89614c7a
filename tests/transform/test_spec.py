"""TransformJobSpec: the CreateTransformJob request SDK v2 sends for the same transformer()/transform() arguments.

Expected requests are written out literally from FACTS.md section 8 and the SDK's documented behaviour
(``Session._get_transform_request``: TransformJobName, ModelName, TransformInput, TransformOutput and
TransformResources always; every other key only when given). No SDK is used in the tests.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from airflow_tf_sm.exceptions import ConfigValidationError
from airflow_tf_sm.sagemaker.service_model import request_errors
from airflow_tf_sm.transform.operator import TFBatchTransformOperator
from airflow_tf_sm.transform.spec import TransformJobSpec

CSV_CASE = {
    "data": "s3://bucket/score/2025-01-01/",
    "output_path": "s3://bucket/scores/2025-01-01",
    "instance_count": 1,
    "instance_type": "ml.m5.xlarge",
    "content_type": "text/csv",
    "split_type": "Line",
    "strategy": "MultiRecord",
    "assemble_with": "Line",
    "accept": "text/csv",
    "max_payload": 6,
    "max_concurrent_transforms": 2,
}


def test_csv_case_gives_the_sdk_request() -> None:
    spec = TransformJobSpec.from_mapping(CSV_CASE)
    assert spec.to_request(job_name="score-20250101", model_name="mnist-1-0a1b2c3d") == {
        "TransformJobName": "score-20250101",
        "ModelName": "mnist-1-0a1b2c3d",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/score/2025-01-01/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": "s3://bucket/scores/2025-01-01",
            "AssembleWith": "Line",
            "Accept": "text/csv",
        },
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge"},
        "BatchStrategy": "MultiRecord",
        "MaxConcurrentTransforms": 2,
        "MaxPayloadInMB": 6,
    }


def test_json_default_case_sends_only_what_was_given() -> None:
    spec = TransformJobSpec.from_mapping(
        {"data": "s3://bucket/in", "output_path": "s3://bucket/out", "content_type": "application/json"}
    )
    assert spec.to_request(job_name="job-1", model_name="model-1") == {
        "TransformJobName": "job-1",
        "ModelName": "model-1",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/in"}},
            "ContentType": "application/json",
        },
        "TransformOutput": {"S3OutputPath": "s3://bucket/out"},
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
    }


def test_every_optional_field_lands_where_the_sdk_puts_it() -> None:
    spec = TransformJobSpec.from_mapping(
        {
            "data": "s3://bucket/manifests/day.manifest",
            "data_type": "ManifestFile",
            "output_path": "s3://bucket/out",
            "instance_count": "2",
            "instance_type": "ml.c5.xlarge",
            "strategy": "SingleRecord",
            "assemble_with": "None",
            "output_kms_key": "alias/out-key",
            "accept": "application/jsonlines",
            "env": {"SAGEMAKER_TFS_DEFAULT_MODEL_NAME": "model"},
            "max_concurrent_transforms": 4,
            "max_payload": "0",
            "tags": {"team": "ml"},
            "volume_kms_key": "arn:aws:kms:us-east-1:123456789012:key/abc",
            "content_type": "application/jsonlines",
            "compression_type": "Gzip",
            "split_type": "Line",
            "input_filter": "$.features",
            "output_filter": "$['id','SageMakerOutput']",
            "join_source": "Input",
            "model_client_config": {"InvocationsTimeoutInSeconds": "120", "InvocationsMaxRetries": 1},
        }
    )
    request = spec.to_request(job_name="job-2", model_name="model-2", extra_tags={"airflow-tf-sm:dag-id": "d"})
    assert request == {
        "TransformJobName": "job-2",
        "ModelName": "model-2",
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://bucket/manifests/day.manifest"}
            },
            "ContentType": "application/jsonlines",
            "CompressionType": "Gzip",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": "s3://bucket/out",
            "KmsKeyId": "alias/out-key",
            "AssembleWith": "None",
            "Accept": "application/jsonlines",
        },
        "TransformResources": {
            "InstanceCount": 2,
            "InstanceType": "ml.c5.xlarge",
            "VolumeKmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/abc",
        },
        "BatchStrategy": "SingleRecord",
        "MaxConcurrentTransforms": 4,
        "MaxPayloadInMB": 0,
        "Environment": {"SAGEMAKER_TFS_DEFAULT_MODEL_NAME": "model"},
        "Tags": [{"Key": "team", "Value": "ml"}, {"Key": "airflow-tf-sm:dag-id", "Value": "d"}],
        "DataProcessing": {
            "InputFilter": "$.features",
            "OutputFilter": "$['id','SageMakerOutput']",
            "JoinSource": "Input",
        },
        "ModelClientConfig": {"InvocationsTimeoutInSeconds": 120, "InvocationsMaxRetries": 1},
    }
    assert request_errors(request, "CreateTransformJob") == []  # botocore's service model and the project's rules


def test_the_csv_request_passes_the_service_model() -> None:
    request = TransformJobSpec.from_mapping(CSV_CASE).to_request(job_name="job-1", model_name="model-1")
    assert request_errors(request, "CreateTransformJob") == []


def test_names_must_follow_the_name_rule() -> None:
    spec = TransformJobSpec.from_mapping(CSV_CASE)
    with pytest.raises(ConfigValidationError) as err:
        spec.to_request(job_name="bad_name", model_name="model.v1")
    assert {e.field for e in err.value.errors} == {"job_name", "model_name"}


def test_a_spec_built_directly_is_checked_when_the_request_is_built() -> None:
    spec = TransformJobSpec(data="s3://bucket/in", output_path="s3://bucket/out", strategy="MultiRecord")
    with pytest.raises(ConfigValidationError, match="strategy"):
        spec.to_request(job_name="job-1", model_name="model-1")


def test_task_tags_count_against_the_limit() -> None:
    spec = TransformJobSpec.from_mapping({**CSV_CASE, "tags": {f"k{i}": "v" for i in range(48)}})
    extra = {f"airflow-tf-sm:{i}": "x" for i in range(4)}
    with pytest.raises(ConfigValidationError, match="including the 4 added for the task"):
        spec.to_request(job_name="job-1", model_name="model-1", extra_tags=extra)


def test_every_spec_field_is_an_explicit_templated_operator_argument() -> None:
    names = [f.name for f in dataclasses.fields(TransformJobSpec)]
    assert list(TFBatchTransformOperator.SPEC_FIELDS) == names
    assert set(names) <= set(TFBatchTransformOperator.template_fields)
    op = TFBatchTransformOperator(task_id="t", training_job_name="job", data="s3://b/in", max_payload=3)
    assert op.max_payload == 3 and op.spec_mapping() == {"data": "s3://b/in", "max_payload": 3}


def test_partial_expand_over_any_spec_argument() -> None:
    from airflow.sdk import DAG

    with DAG(dag_id="expand_transform", schedule=None) as dag:
        TFBatchTransformOperator.partial(task_id="score", training_job_name="job", output_path="s3://b/out").expand(
            data=["s3://b/a/", "s3://b/b/"]
        )
    assert "score" in dag.task_dict


def test_unknown_operator_argument_is_rejected() -> None:
    with pytest.raises(TypeError):
        TFBatchTransformOperator(task_id="t", training_job_name="job", data="s3://b/in", split="Line")


def test_bad_if_job_exists_is_rejected() -> None:
    with pytest.raises(ValueError, match="if_job_exists"):
        TFBatchTransformOperator(task_id="t", training_job_name="job", if_job_exists="sometimes")


def _request(**overrides: Any) -> dict[str, Any]:
    return TransformJobSpec.from_mapping({**CSV_CASE, **overrides}).to_request(job_name="j", model_name="m")


def test_max_payload_times_concurrency_counts_the_default_payload() -> None:
    assert _request(max_payload=None, max_concurrent_transforms=16)["MaxConcurrentTransforms"] == 16
    with pytest.raises(ConfigValidationError, match=r"6 x 17"):
        _request(max_payload=None, max_concurrent_transforms=17)
    with pytest.raises(ConfigValidationError, match=r"50 x 3"):
        _request(max_payload=50, max_concurrent_transforms=3)

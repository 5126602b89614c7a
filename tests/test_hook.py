"""TFSageMakerHook: shared behaviour on both backends, AWS semantics with moto (HTTP) and botocore Stubber."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from airflow_tf_sm.backends import Clients
from airflow_tf_sm.exceptions import ConfigValidationError, TrainingJobFailedError
from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.sagemaker.errors import is_retryable as is_retryable_error
from airflow_tf_sm.training.spec import TrainingJobSpec

BUCKET = "tf-sm-tests"


def write_code(tmp_path: Path, body: str = "print('hello')\n") -> Path:
    src = tmp_path / "code"
    src.mkdir(exist_ok=True)
    (src / "train.py").write_text(body)
    (src / "util.py").write_text("X = 1\n")
    return src


def make_hook(backend: str, endpoint: str | None, root: Path) -> TFSageMakerHook:
    if backend == "local":
        return TFSageMakerHook(backend="local", local_root=str(root), region_name="us-east-1")
    hook = TFSageMakerHook(
        aws_conn_id=None,
        backend="sagemaker",
        region_name="us-east-1",
        endpoint_url=endpoint,
        retry_max_wait=0.01,
    )
    hook.clients.s3.create_bucket(Bucket=BUCKET)
    return hook


@pytest.fixture(params=["local", "sagemaker"])
def hook(request: pytest.FixtureRequest, local_root: Path) -> TFSageMakerHook:
    """The hook on each backend: the local engine, or moto over real HTTP."""
    endpoint = request.getfixturevalue("moto_endpoint") if request.param == "sagemaker" else None
    return make_hook(request.param, endpoint, local_root)


def spec_for(hook: TFSageMakerHook, tmp_path: Path, **extra: Any) -> Any:
    return TrainingJobSpec.from_mapping(
        {
            "entry_point": "train.py",
            "source_dir": str(write_code(tmp_path)),
            "output_path": f"s3://{BUCKET}/models",
            "role": "arn:aws:iam::123456789012:role/SageMakerRole",
            "hyperparameters": {"epochs": 2, "learning-rate": 0.1},
            "inputs": {"train": f"s3://{BUCKET}/data/train"},
            **extra,
        }
    )


# ----------------------------------------------------------------- both backends
def test_stage_code_is_content_addressed_and_uploaded_once(
    hook: TFSageMakerHook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_for(hook, tmp_path)
    puts: list[str] = []
    real_put = hook.clients.s3.put_object

    def counting_put(**kwargs: Any) -> Any:
        puts.append(kwargs["Key"])
        return real_put(**kwargs)

    monkeypatch.setattr(hook.clients.s3, "put_object", counting_put)
    first = hook.training.stage_code(spec)
    assert first.startswith(f"s3://{BUCKET}/models/code/") and first.endswith("/sourcedir.tar.gz")
    assert hook.object_exists(first)
    assert len(puts) == 1
    assert hook.training.stage_code(spec) == first
    assert len(puts) == 1  # unchanged code: nothing uploaded
    (Path(spec.source_dir) / "train.py").write_text("print('changed')\n")
    assert hook.training.stage_code(spec) != first
    assert len(puts) == 2


def test_write_read_roundtrip(hook: TFSageMakerHook) -> None:
    hook.write_bytes(f"s3://{BUCKET}/a/b.csv", b"x,y\n1,2\n")
    assert hook.read_bytes(f"s3://{BUCKET}/a/b.csv") == b"x,y\n1,2\n"
    assert not hook.object_exists(f"s3://{BUCKET}/a/missing.csv")


def test_build_request_then_create_and_describe(hook: TFSageMakerHook, tmp_path: Path) -> None:
    spec = spec_for(hook, tmp_path)
    code = hook.training.stage_code(spec)
    request = hook.training.request(spec, "hook-test-1", code, extra_tags={"airflow-tf-sm:dag-id": "d"})
    assert request["HyperParameters"]["sagemaker_submit_directory"] == f'"{code}"'
    assert {"Key": "airflow-tf-sm:dag-id", "Value": "d"} in request["Tags"]
    arn = hook.training.create(request)
    assert arn.endswith("training-job/hook-test-1")
    desc = hook.describe_training_job("hook-test-1")
    assert desc["TrainingJobName"] == "hook-test-1"
    assert desc["HyperParameters"]["epochs"] == "2"


def test_unknown_job_is_free_for_find_reusable_job(hook: TFSageMakerHook) -> None:
    name, desc = hook.training.find_reusable_job(lambda attempt: f"never-created-{attempt}")
    assert (name, desc) == ("never-created-1", None)


def test_bad_request_fails_before_any_call(hook: TFSageMakerHook, tmp_path: Path) -> None:
    spec = spec_for(hook, tmp_path)
    with pytest.raises(ConfigValidationError) as err:
        hook.training.request(spec, "bad_name_with_underscores", f"s3://{BUCKET}/code/x/sourcedir.tar.gz")
    assert "TrainingJobName" in str(err.value)


# ------------------------------------------------------------------- moto (AWS)
def test_moto_job_completes_and_result_is_small_json(moto_endpoint: str, local_root: Path, tmp_path: Path) -> None:
    import json

    hook = make_hook("sagemaker", moto_endpoint, local_root)
    spec = spec_for(hook, tmp_path)
    request = hook.training.request(spec, "moto-job-1", hook.training.stage_code(spec))
    hook.training.create(request)
    desc = hook.training.wait("moto-job-1", poll_interval=0.01)
    result = hook.training.result(desc)
    json.dumps(result)  # XCom-safe: no datetimes
    assert result["job_name"] == "moto-job-1"
    assert result["status"] == "Completed"
    assert result["model_data"] and result["model_data"].startswith("s3://")
    assert result["backend"] == "sagemaker" and result["region"] == "us-east-1"


# ------------------------------------------------------ Stubber: AWS semantics
def stubbed_hook(local_root: Path) -> tuple[TFSageMakerHook, Stubber]:
    hook = TFSageMakerHook(aws_conn_id=None, backend="sagemaker", region_name="us-east-1", retry_max_wait=0.01)
    client = boto3.client("sagemaker", region_name="us-east-1")
    logs = boto3.client("logs", region_name="us-east-1")
    logs_stub = Stubber(logs)
    for _ in range(20):
        logs_stub.add_client_error("describe_log_streams", "ResourceNotFoundException", "no group")
    logs_stub.activate()
    hook.__dict__["clients"] = Clients(sagemaker=client, s3=None, logs=logs, region="us-east-1", backend="sagemaker")
    stub = Stubber(client)
    stub.activate()
    return hook, stub


def describe_response(name: str, status: str, **extra: Any) -> dict[str, Any]:
    now = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "TrainingJobStatus": status,
        "SecondaryStatus": extra.pop("SecondaryStatus", "Training"),
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "CreationTime": now,
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://b/{name}/output/model.tar.gz"},
        **extra,
    }


def test_stubber_duplicate_name_surfaces_resource_in_use(local_root: Path, tmp_path: Path) -> None:
    hook, stub = stubbed_hook(local_root)
    stub.add_client_error("create_training_job", "ResourceInUse", "Training job names must be unique")
    request = {
        "TrainingJobName": "dup",
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/R",
        "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }
    with pytest.raises(ClientError) as err:
        hook.training.create(request)
    assert err.value.response["Error"]["Code"] == "ResourceInUse"
    stub.assert_no_pending_responses()


def test_stubber_throttling_then_success(local_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hook, stub = stubbed_hook(local_root)
    stub.add_client_error("describe_training_job", "ThrottlingException", "Rate exceeded", 400)
    stub.add_client_error("describe_training_job", "ThrottlingException", "Rate exceeded", 400)
    stub.add_client_error("describe_training_job", "InternalFailure", "oops", 500)
    stub.add_response("describe_training_job", describe_response("t1", "Completed"), {"TrainingJobName": "t1"})
    desc = hook.training.wait("t1", poll_interval=0.01)
    assert desc["TrainingJobStatus"] == "Completed"
    assert capsys.readouterr().out.count("retrying in") == 3
    stub.assert_no_pending_responses()


def test_stubber_throttling_is_bounded(local_root: Path) -> None:
    hook, stub = stubbed_hook(local_root)
    hook.retry_attempts = 3
    for _ in range(3):
        stub.add_client_error("describe_training_job", "ThrottlingException", "Rate exceeded", 400)
    with pytest.raises(ClientError) as err:
        hook.describe_training_job("t1")
    assert err.value.response["Error"]["Code"] == "ThrottlingException"


def test_stubber_other_errors_are_not_retried(local_root: Path) -> None:
    hook, stub = stubbed_hook(local_root)
    stub.add_client_error("describe_training_job", "AccessDeniedException", "not allowed", 400)
    with pytest.raises(ClientError) as err:
        hook.describe_training_job("t1")
    assert "not allowed" in str(err.value)
    stub.assert_no_pending_responses()


def test_stubber_failed_job_raises_with_failure_reason(local_root: Path) -> None:
    hook, stub = stubbed_hook(local_root)
    stub.add_response("describe_training_job", describe_response("f1", "InProgress"), {"TrainingJobName": "f1"})
    stub.add_response(
        "describe_training_job",
        describe_response("f1", "Failed", SecondaryStatus="Failed", FailureReason="AlgorithmError: boom"),
        {"TrainingJobName": "f1"},
    )
    with pytest.raises(TrainingJobFailedError) as err:
        hook.training.wait("f1", poll_interval=0.01)
    assert err.value.status == "Failed"
    assert "AlgorithmError: boom" in str(err.value)


def test_stubber_stop_then_stopped(local_root: Path) -> None:
    hook, stub = stubbed_hook(local_root)
    stub.add_response("stop_training_job", {}, {"TrainingJobName": "s1"})
    stub.add_client_error(
        "stop_training_job",
        "ValidationException",
        "The request was rejected because the training job is in status Completed.",
    )
    stub.add_response(
        "describe_training_job",
        describe_response("s1", "Stopped", SecondaryStatus="Stopped"),
        {"TrainingJobName": "s1"},
    )
    assert hook.stop_training_job("s1") is True
    assert hook.stop_training_job("s1") is False  # already ended: not an error
    with pytest.raises(TrainingJobFailedError) as err:
        hook.training.wait("s1", poll_interval=0.01)
    assert err.value.status == "Stopped"


def test_stubber_find_reusable_job_walks_attempts(local_root: Path) -> None:
    hook, stub = stubbed_hook(local_root)
    stub.add_response("describe_training_job", describe_response("n-1", "Failed"), {"TrainingJobName": "n-1"})
    stub.add_response("describe_training_job", describe_response("n-2", "Stopped"), {"TrainingJobName": "n-2"})
    stub.add_response("describe_training_job", describe_response("n-3", "InProgress"), {"TrainingJobName": "n-3"})
    name, desc = hook.training.find_reusable_job(lambda a: f"n-{a}")
    assert name == "n-3" and desc is not None and desc["TrainingJobStatus"] == "InProgress"
    stub.add_response("describe_training_job", describe_response("n-1", "Completed"), {"TrainingJobName": "n-1"})
    stub.add_client_error("describe_training_job", "ValidationException", "Requested resource not found.")
    name, desc = hook.training.find_reusable_job(lambda a: f"n-{a}", if_job_exists="retrain")
    assert (name, desc) == ("n-2", None)


def test_retryable_classification() -> None:
    def err(code: str, status: int) -> ClientError:
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")

    assert is_retryable_error(err("ThrottlingException", 400))
    assert is_retryable_error(err("Whatever", 503))
    assert not is_retryable_error(err("ValidationException", 400))
    assert not is_retryable_error(ValueError("x"))


def test_upload_refuses_code_that_changed_after_it_was_addressed(hook: TFSageMakerHook, tmp_path: Path) -> None:
    from airflow_tf_sm.exceptions import TFSageMakerError

    spec = spec_for(hook, tmp_path)
    code, uri = hook.training.package_code(spec)
    (Path(spec.source_dir) / "train.py").write_text("print('edited meanwhile')\n")
    with pytest.raises(TFSageMakerError, match="changed while it was being staged"):
        hook.training.upload_code(code, uri)
    assert not hook.object_exists(uri)


def test_no_region_names_the_backend_setting_and_the_local_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    # a new user without AWS settings and without [airflow_tf_sm] backend: the default backend is sagemaker
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AIRFLOW__AIRFLOW_TF_SM__BACKEND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    hook = TFSageMakerHook(aws_conn_id=None)
    with pytest.raises(ValueError) as info:
        hook.clients  # noqa: B018 - building the clients needs the region
    message = str(info.value)
    assert message.startswith("region_name: None -- no AWS region")
    assert "backend='local'" in message and "AIRFLOW__AIRFLOW_TF_SM__BACKEND=local" in message

"""Deploying: hook deploy methods (botocore Stubber request shapes), TFDeployOperator, DeleteEndpointOperator.

AWS request shapes are checked with botocore's Stubber (which also validates every request against the
service model) and moto (CreateModel / CreateEndpointConfig / CreateEndpoint / DeleteEndpoint only: moto
has no UpdateEndpoint and its endpoints are InService at once, so moto proves no SageMaker semantics).
Bad inputs are checked on a recording fake client: they fail before any create call.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from airflow_tf_sm.backends import Clients
from airflow_tf_sm.exceptions import (
    ConfigValidationError,
    EndpointFailedError,
    EndpointTimeoutError,
    ModelNotDeployableError,
    QualityGateError,
    TFSageMakerError,
)
from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.hosting.spec import DeploySpec
from airflow_tf_sm.links import EndpointConsoleLink, endpoint_console_url
from airflow_tf_sm.operators import DeleteEndpointOperator, TFDeployOperator
from airflow_tf_sm.training.spec import TrainingJobSpec

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
TRAINING_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.19.0-cpu-py312"
INFERENCE_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.19.0-cpu"
NOW = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


# ------------------------------------------------------------------ helpers
def client_error(code: str, message: str = "", operation: str = "Op", status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message or code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


def job_desc(name: str = "job-1", **overrides: Any) -> dict[str, Any]:
    desc: dict[str, Any] = {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": TRAINING_IMAGE, "TrainingInputMode": "File"},
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://bucket/models/{name}/output/model.tar.gz"},
        "FinalMetricDataList": [{"MetricName": "val_accuracy", "Value": 0.93, "Timestamp": NOW}],
    }
    desc.update(overrides)
    return desc


def endpoint_desc(name: str, config: str, status: str = "InService", **extra: Any) -> dict[str, Any]:
    return {
        "EndpointName": name,
        "EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}",
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
        **extra,
    }


class FakeSageMaker:
    """In-memory hosting API with a call log; ``endpoint_script`` replays describe_endpoint responses."""

    def __init__(self, jobs: dict[str, Any] | None = None) -> None:
        self.jobs = jobs or {}
        self.models: dict[str, dict[str, Any]] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.endpoint_script: list[dict[str, Any] | Exception] = []
        self.calls: list[str] = []

    def _missing(self, what: str, op: str) -> ClientError:
        return client_error("ValidationException", f"Could not find {what}.", op)

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.calls.append("describe_training_job")
        if TrainingJobName not in self.jobs:
            raise client_error("ValidationException", "Requested resource not found.", "DescribeTrainingJob")
        return self.jobs[TrainingJobName]

    def describe_model(self, ModelName: str) -> dict[str, Any]:
        self.calls.append("describe_model")
        if ModelName not in self.models:
            raise self._missing(f"model {ModelName}", "DescribeModel")
        return self.models[ModelName]

    def create_model(self, **request: Any) -> dict[str, Any]:
        self.calls.append("create_model")
        self.models[request["ModelName"]] = request
        return {"ModelArn": "arn"}

    def delete_model(self, ModelName: str) -> dict[str, Any]:
        self.calls.append("delete_model")
        if self.models.pop(ModelName, None) is None:
            raise self._missing(f"model {ModelName}", "DeleteModel")
        return {}

    def describe_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
        self.calls.append("describe_endpoint_config")
        if EndpointConfigName not in self.configs:
            raise self._missing(f"endpoint configuration {EndpointConfigName}", "DescribeEndpointConfig")
        return self.configs[EndpointConfigName]

    def create_endpoint_config(self, **request: Any) -> dict[str, Any]:
        self.calls.append("create_endpoint_config")
        self.configs[request["EndpointConfigName"]] = request
        return {"EndpointConfigArn": "arn"}

    def delete_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
        self.calls.append("delete_endpoint_config")
        if self.configs.pop(EndpointConfigName, None) is None:
            raise self._missing(f"endpoint configuration {EndpointConfigName}", "DeleteEndpointConfig")
        return {}

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        self.calls.append("describe_endpoint")
        if self.endpoint_script:
            step = self.endpoint_script.pop(0) if len(self.endpoint_script) > 1 else self.endpoint_script[0]
            if isinstance(step, Exception):
                raise step
            return step
        if EndpointName not in self.endpoints:
            raise self._missing(f"endpoint {EndpointName}", "DescribeEndpoint")
        return self.endpoints[EndpointName]

    def create_endpoint(self, EndpointName: str, EndpointConfigName: str, Tags: Any = ()) -> dict[str, Any]:
        self.calls.append("create_endpoint")
        self.endpoints[EndpointName] = endpoint_desc(EndpointName, EndpointConfigName, "Creating")
        return {"EndpointArn": "arn"}

    def update_endpoint(self, EndpointName: str, EndpointConfigName: str) -> dict[str, Any]:
        self.calls.append("update_endpoint")
        self.endpoints[EndpointName] = endpoint_desc(EndpointName, EndpointConfigName, "Updating")
        return {"EndpointArn": "arn"}

    def delete_endpoint(self, EndpointName: str) -> dict[str, Any]:
        self.calls.append("delete_endpoint")
        if self.endpoints.pop(EndpointName, None) is None:
            raise self._missing(f"endpoint {EndpointName}", "DeleteEndpoint")
        return {}

    def settle(self, name: str, status: str = "InService") -> None:
        self.endpoints[name]["EndpointStatus"] = status

    @property
    def creates(self) -> list[str]:
        return [c for c in self.calls if c.startswith(("create_", "update_", "delete_"))]


def hook_on(sagemaker: Any, runtime: Any = None) -> TFSageMakerHook:
    hook = TFSageMakerHook(
        aws_conn_id=None, backend="sagemaker", region_name="us-east-1", retry_attempts=2, retry_max_wait=0.01
    )
    hook.__dict__["clients"] = Clients(
        sagemaker=sagemaker,
        s3=None,
        logs=None,
        region="us-east-1",
        backend="sagemaker",
        runtime=runtime,
        invocation_url=lambda name, desc: (
            f"https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/{name}/invocations"
        ),
    )
    return hook


def stubbed(service: str = "sagemaker") -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name="us-east-1")
    stub = Stubber(client)
    stub.activate()
    return client, stub


def spec(job: str = "job-1", **kwargs: Any) -> DeploySpec:
    return DeploySpec.from_training_job(job_desc(job), endpoint_name="mnist", region="us-east-1", **kwargs)


class FakeTI:
    dag_id, task_id, run_id, map_index = "dag", "deploy", "manual__1", -1

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def run_operator(op: Any, hook: TFSageMakerHook) -> tuple[Any, FakeTI]:
    op._hook = hook
    ti = FakeTI()
    return op.execute({"ti": ti}), ti


# ------------------------------------------------- AWS request shapes (Stubber)
#: The requests a first deploy of job-1 sends (FACTS.md section 4), literal: names are the job's plus a hash
#: of what defines the resource, the variant "AllTraffic" takes all traffic, the job's tag on each.
JOB_TAG = [{"Key": "airflow-tf-sm:training-job", "Value": "job-1"}]
EXPECTED_CREATE_MODEL = {
    "ModelName": "job-1-316735d9",
    "ExecutionRoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
    "PrimaryContainer": {
        "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.19.0-cpu",
        "ModelDataUrl": "s3://bucket/models/job-1/output/model.tar.gz",
        "Environment": {},
    },
    "Tags": JOB_TAG,
}
EXPECTED_CREATE_ENDPOINT_CONFIG = {
    "EndpointConfigName": "job-1-80e8ee56",
    "ProductionVariants": [
        {
            "VariantName": "AllTraffic",
            "ModelName": "job-1-316735d9",
            "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large",
            "InitialVariantWeight": 1.0,
        }
    ],
    "Tags": JOB_TAG,
}
EXPECTED_CREATE_ENDPOINT = {"EndpointName": "mnist", "EndpointConfigName": "job-1-80e8ee56", "Tags": JOB_TAG}


def test_first_deploy_creates_model_config_and_endpoint_with_exact_requests() -> None:
    client, stub = stubbed()
    stub.add_client_error(
        "describe_model", "ValidationException", "Could not find model", 400, {"ModelName": "job-1-316735d9"}
    )
    stub.add_response(
        "create_model", {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/m"}, EXPECTED_CREATE_MODEL
    )
    stub.add_client_error(
        "describe_endpoint_config",
        "ValidationException",
        "Could not find endpoint configuration",
        400,
        {"EndpointConfigName": "job-1-80e8ee56"},
    )
    stub.add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/c"},
        EXPECTED_CREATE_ENDPOINT_CONFIG,
    )
    stub.add_client_error(
        "describe_endpoint", "ValidationException", "Could not find endpoint", 400, {"EndpointName": "mnist"}
    )
    stub.add_response(
        "create_endpoint",
        {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e"},
        EXPECTED_CREATE_ENDPOINT,
    )
    assert hook_on(client).hosting.deploy(spec()) == "created"
    stub.assert_no_pending_responses()


def test_redeploy_with_nothing_changed_creates_nothing() -> None:
    client, stub = stubbed()
    s = spec()
    model = s.model_request()
    stub.add_response(
        "describe_model",
        {
            "ModelName": s.model_name,
            "PrimaryContainer": model["PrimaryContainer"],
            "ExecutionRoleArn": ROLE,
            "CreationTime": NOW,
            "ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/m",
        },
        {"ModelName": s.model_name},
    )
    stub.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": s.endpoint_config_name,
            "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/c",
            "ProductionVariants": s.endpoint_config_request()["ProductionVariants"],
            "CreationTime": NOW,
        },
        {"EndpointConfigName": s.endpoint_config_name},
    )
    stub.add_response("describe_endpoint", endpoint_desc("mnist", s.endpoint_config_name), {"EndpointName": "mnist"})
    assert hook_on(client).hosting.deploy(s) == "unchanged"  # any create/update call would fail the Stubber
    stub.assert_no_pending_responses()


def test_a_retrained_model_updates_the_endpoint_without_tags() -> None:
    client, stub = stubbed()
    old, new = spec("job-1"), spec("job-2")
    stub.add_client_error("describe_model", "ValidationException", "Could not find model", 400)
    stub.add_response(
        "create_model", {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/m"}, new.model_request()
    )
    stub.add_client_error("describe_endpoint_config", "ValidationException", "Could not find", 400)
    stub.add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/c"},
        new.endpoint_config_request(),
    )
    stub.add_response("describe_endpoint", endpoint_desc("mnist", old.endpoint_config_name), {"EndpointName": "mnist"})
    stub.add_response(
        "update_endpoint",
        {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e"},
        {"EndpointName": "mnist", "EndpointConfigName": new.endpoint_config_name},
    )
    assert hook_on(client).hosting.deploy(new) == "updated"
    stub.assert_no_pending_responses()
    assert new.endpoint_config_name != old.endpoint_config_name


def test_a_busy_endpoint_is_waited_for_before_the_update() -> None:
    fake = FakeSageMaker()
    fake.endpoint_script = [
        endpoint_desc("mnist", "old-config", "Updating"),
        endpoint_desc("mnist", "old-config", "Updating"),
        endpoint_desc("mnist", "old-config", "InService"),
    ]
    s = spec()
    hook = hook_on(fake)
    hook.hosting.ensure_model(s.model_request())
    hook.hosting.ensure_endpoint_config(s.endpoint_config_request())
    assert hook.hosting.create_or_update_endpoint(s.create_endpoint_request(), poll_interval=0.01) == "updated"
    assert fake.calls.count("describe_endpoint") == 3 and fake.calls[-1] == "update_endpoint"


def test_a_failed_endpoint_is_not_updated() -> None:
    fake = FakeSageMaker()
    fake.endpoints["mnist"] = endpoint_desc("mnist", "old", "Failed", FailureReason="image pull failed")
    with pytest.raises(EndpointFailedError, match="Failed: image pull failed -- only an InService endpoint"):
        hook_on(fake).hosting.create_or_update_endpoint(spec().create_endpoint_request())
    assert "update_endpoint" not in fake.calls


def test_a_model_name_taken_by_other_data_is_an_error() -> None:
    fake = FakeSageMaker()
    s = spec()
    other = {**s.model_request(), "PrimaryContainer": {"Image": "x", "ModelDataUrl": "s3://b/other.tar.gz"}}
    fake.models[s.model_name] = other
    with pytest.raises(TFSageMakerError, match="exists with another image or model data"):
        hook_on(fake).hosting.ensure_model(s.model_request())
    assert "create_model" not in fake.calls


def test_create_retried_after_a_5xx_that_had_succeeded_counts_once() -> None:
    class Flaky(FakeSageMaker):
        def create_model(self, **request: Any) -> dict[str, Any]:
            super().create_model(**request)
            if self.calls.count("create_model") == 1:
                raise client_error("InternalFailure", status=500)  # created, but the answer was lost
            raise client_error("ValidationException", "Cannot create already existing model")

    fake = Flaky()
    assert hook_on(fake).hosting.ensure_model(spec().model_request()) is False
    assert fake.calls.count("create_model") == 2 and len(fake.models) == 1


# ------------------------------------------------------------------- waiting
def test_wait_for_endpoint_returns_when_in_service() -> None:
    fake = FakeSageMaker()
    fake.endpoint_script = [endpoint_desc("e", "c", "Creating"), endpoint_desc("e", "c", "InService")]
    desc = hook_on(fake).hosting.wait("e", expected_config="c", poll_interval=0.01)
    assert desc["EndpointStatus"] == "InService"


def test_a_failed_endpoint_reports_the_failure_reason() -> None:
    fake = FakeSageMaker()
    fake.endpoint_script = [
        endpoint_desc("e", "c", "Creating"),
        endpoint_desc("e", "c", "Failed", FailureReason="no GPU"),
    ]
    with pytest.raises(EndpointFailedError, match="Endpoint e is Failed: no GPU") as info:
        hook_on(fake).hosting.wait("e", expected_config="c", poll_interval=0.01)
    assert info.value.rolled_back is False


def test_a_rolled_back_update_is_reported_as_such() -> None:
    fake = FakeSageMaker()
    fake.endpoint_script = [
        endpoint_desc("e", "old", "Updating"),
        endpoint_desc("e", "old", "RollingBack"),
        endpoint_desc("e", "old", "InService", FailureReason="health check failed"),
    ]
    with pytest.raises(EndpointFailedError, match=r"was rolled back.*previous config: health check failed") as info:
        hook_on(fake).hosting.wait("e", expected_config="new", poll_interval=0.01)
    assert info.value.rolled_back and info.value.status == "InService"


def test_wait_for_endpoint_times_out() -> None:
    fake = FakeSageMaker()
    fake.endpoint_script = [endpoint_desc("e", "c", "Creating")]
    with pytest.raises(EndpointTimeoutError, match="still Creating"):
        hook_on(fake).hosting.wait("e", poll_interval=0.01, max_wait=0.05)


# ------------------------------------------------------------------ deleting
def test_delete_endpoint_removes_endpoint_config_and_model_and_is_repeatable() -> None:
    client, stub = stubbed()
    stub.add_response("describe_endpoint", endpoint_desc("e", "cfg"), {"EndpointName": "e"})
    stub.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": "cfg",
            "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/c",
            "CreationTime": NOW,
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "m1", "InstanceType": "ml.m5.large"}],
        },
        {"EndpointConfigName": "cfg"},
    )
    stub.add_response("delete_endpoint", {}, {"EndpointName": "e"})
    stub.add_response("delete_endpoint_config", {}, {"EndpointConfigName": "cfg"})
    stub.add_client_error("delete_model", "ValidationException", "Could not find model", 400, {"ModelName": "m1"})
    assert hook_on(client).delete_endpoint("e") is True  # a model already gone is skipped
    stub.add_client_error("describe_endpoint", "ValidationException", "Could not find endpoint", 400)
    assert hook_on(client).delete_endpoint("e") is False
    stub.assert_no_pending_responses()


def test_delete_endpoint_waits_for_a_busy_endpoint_and_never_hides_other_errors() -> None:
    fake = FakeSageMaker()
    fake.endpoints["e"] = endpoint_desc("e", "cfg", "Creating")
    fake.endpoint_script = [endpoint_desc("e", "cfg", "Creating"), endpoint_desc("e", "cfg", "InService")]
    assert hook_on(fake).delete_endpoint("e", poll_interval=0.01) is True
    assert fake.calls.count("describe_endpoint") == 2 and "delete_endpoint" in fake.calls

    class Busy(FakeSageMaker):
        def delete_endpoint(self, EndpointName: str) -> dict[str, Any]:
            raise client_error("ValidationException", 'Cannot update in-progress endpoint "arn".', "DeleteEndpoint")

    busy = Busy()
    busy.endpoints["e"] = endpoint_desc("e", "cfg")
    with pytest.raises(ClientError, match="in-progress"):
        hook_on(busy).delete_endpoint("e")


def test_delete_endpoint_can_keep_config_and_model() -> None:
    fake = FakeSageMaker()
    s = spec()
    hook = hook_on(fake)
    hook.hosting.deploy(s)
    fake.settle("mnist")
    assert hook.delete_endpoint("mnist", delete_config=False, delete_model=False)
    assert (
        fake.endpoints == {} and list(fake.configs) == [s.endpoint_config_name] and list(fake.models) == [s.model_name]
    )


# ------------------------------------------------------------------- invoking
def test_invoke_endpoint_sends_json_to_sagemaker_runtime() -> None:
    runtime, stub = stubbed("sagemaker-runtime")
    payload = {"instances": [[1.0, 2.0]]}
    answer = json.dumps({"predictions": [[0.1, 0.9]]}).encode()
    stub.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(answer), len(answer)), "ContentType": "application/json"},
        {
            "EndpointName": "e",
            "Body": json.dumps(payload).encode(),
            "ContentType": "application/json",
            "Accept": "application/json",
        },
    )
    assert hook_on(FakeSageMaker(), runtime).invoke_endpoint("e", payload) == {"predictions": [[0.1, 0.9]]}
    stub.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(b"<html>"), 6)},
        {"EndpointName": "e", "Body": b"1,2", "ContentType": "text/csv", "Accept": "application/json"},
    )
    with pytest.raises(TFSageMakerError, match="not JSON"):
        hook_on(FakeSageMaker(), runtime).invoke_endpoint("e", b"1,2", content_type="text/csv")


def test_invoke_endpoint_without_runtime_client_says_so() -> None:
    with pytest.raises(TFSageMakerError, match="no endpoint runtime"):
        hook_on(FakeSageMaker()).invoke_endpoint("e", {"instances": []})


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("us-east-1", "runtime.sagemaker.us-east-1.amazonaws.com"),
        ("cn-north-1", "runtime.sagemaker.cn-north-1.amazonaws.com.cn"),
        ("us-gov-west-1", "runtime.sagemaker.us-gov-west-1.amazonaws.com"),
    ],
)
def test_aws_endpoint_url_per_partition(region: str, host: str) -> None:
    from airflow_tf_sm.backends import ClientParams
    from airflow_tf_sm.backends.aws import aws_clients

    clients = aws_clients(ClientParams(aws_conn_id=None, region_name=region))
    assert clients.invocation_url("my-ep", {}) == f"https://{host}/endpoints/my-ep/invocations"


# ------------------------------------------------- the operator: bad inputs first
def deploy_op(**kwargs: Any) -> TFDeployOperator:
    return TFDeployOperator(
        task_id="deploy", **{"training_job_name": "job-1", "endpoint_name": "mnist", "poll_interval": 0.01, **kwargs}
    )


@pytest.mark.parametrize(
    ("jobs", "kwargs", "error", "message"),
    [
        ({}, {}, ModelNotDeployableError, "training job 'job-1' not found"),
        ({"job-1": job_desc(TrainingJobStatus="InProgress")}, {}, ModelNotDeployableError, "is InProgress"),
        ({"job-1": job_desc(TrainingJobStatus="Failed", FailureReason="OOM")}, {}, ModelNotDeployableError, "OOM"),
        ({"job-1": job_desc(ModelArtifacts={})}, {}, ModelNotDeployableError, "no model artifact"),
        (
            {"job-1": job_desc()},
            {"require_metrics": {"accuracy": ">= 0.9"}},
            ConfigValidationError,
            "require_metrics.accuracy.*has no such metric \\(it has val_accuracy\\)",
        ),
        (
            {"job-1": job_desc()},
            {"require_metrics": {"val_accuracy": ">= 0.95"}},
            QualityGateError,
            "val_accuracy = 0.93, required >= 0.95",
        ),
        ({"job-1": job_desc()}, {"endpoint_name": "x" * 70, "instance_type": "m5"}, ConfigValidationError, "Instance"),
        ({"job-1": job_desc()}, {"training_job_name": ""}, ModelNotDeployableError, "empty"),
    ],
)
def test_bad_inputs_fail_before_anything_is_created(
    jobs: dict[str, Any], kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    fake = FakeSageMaker(jobs)
    with pytest.raises(error, match=message):
        run_operator(deploy_op(**kwargs), hook_on(fake))
    assert fake.creates == [] and set(fake.calls) <= {"describe_training_job"}


def test_unmet_gate_skips_when_asked() -> None:
    from airflow_tf_sm.compat import skip_exception

    AirflowSkipException = skip_exception()

    fake = FakeSageMaker({"job-1": job_desc()})
    op = deploy_op(require_metrics={"val_accuracy": "> 0.99"}, on_gate_failure="skip")
    with pytest.raises(AirflowSkipException, match=r"val_accuracy = 0.93, required > 0.99; nothing deployed"):
        run_operator(op, hook_on(fake))
    assert fake.creates == []


def test_malformed_gate_and_options_fail_when_the_dag_is_parsed() -> None:
    with pytest.raises(ConfigValidationError, match=r"require_metrics.val_accuracy"):
        deploy_op(require_metrics={"val_accuracy": "about 0.9"})
    with pytest.raises(ValueError, match="on_gate_failure"):
        deploy_op(on_gate_failure="warn")
    deploy_op(require_metrics={"val_accuracy": ">= {{ params.min_accuracy }}"})  # templated: checked at run time


# ------------------------------------------------------- the operator: running
def test_operator_deploys_waits_and_is_idempotent() -> None:
    fake = FakeSageMaker({"job-1": job_desc(), "job-2": job_desc("job-2")})
    hook = hook_on(fake)
    original = fake.describe_endpoint

    def describe_then_settle(EndpointName: str) -> dict[str, Any]:
        desc = dict(original(EndpointName))
        if desc["EndpointStatus"] in ("Creating", "Updating"):
            fake.settle(EndpointName)
        return desc

    fake.describe_endpoint = describe_then_settle  # type: ignore[method-assign]
    op = deploy_op(require_metrics={"val_accuracy": ">= 0.9"})
    result, ti = run_operator(op, hook)
    s = spec()
    assert result == {
        "endpoint_name": "mnist",
        "endpoint_arn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/mnist",
        "endpoint_config_name": s.endpoint_config_name,
        "model_name": s.model_name,
        "model_data": "s3://bucket/models/job-1/output/model.tar.gz",
        "status": "InService",
        "url": "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/mnist/invocations",
        "region": "us-east-1",
        "backend": "sagemaker",
    }
    assert json.dumps(result)
    assert ti.pushed["endpoint_name"] == "mnist"
    assert set(ti.pushed) == {"endpoint_name"}  # the links need no XCom of their own
    assert [link.get_link(op, ti_key=None) for link in op.operator_extra_links] == [
        "https://console.aws.amazon.com/sagemaker/home?region=us-east-1#/endpoints/mnist"
    ]
    tags = {t["Key"]: t["Value"] for t in fake.models[s.model_name]["Tags"]}
    assert tags["airflow-tf-sm:training-job"] == "job-1" and tags["airflow-tf-sm:task-id"] == "deploy"
    assert fake.creates == ["create_model", "create_endpoint_config", "create_endpoint"]

    fake.calls.clear()
    again, _ = run_operator(deploy_op(), hook)
    assert again == result and fake.creates == []  # nothing changed: nothing created

    fake.calls.clear()
    updated, _ = run_operator(deploy_op(training_job_name="job-2"), hook)
    assert fake.creates == ["create_model", "create_endpoint_config", "update_endpoint"]
    assert updated["model_data"].endswith("/job-2/output/model.tar.gz") and updated["status"] == "InService"


def test_operator_default_endpoint_name_is_stable_and_valid() -> None:
    from airflow.sdk import DAG

    with DAG("nightly_retrain", schedule=None):
        op = TFDeployOperator(task_id="deploy_model", training_job_name="j")
    assert op.resolved_endpoint_name() == "nightly-retrain-deploy-model"
    assert TFDeployOperator(
        task_id="d", training_job_name="j", endpoint_name="My_Endpoint"
    ).resolved_endpoint_name() == ("My-Endpoint")


def test_deferrable_operator_defers_to_an_endpoint_trigger_and_resumes() -> None:
    from airflow_tf_sm.compat import task_deferred

    TaskDeferred = task_deferred()

    from airflow_tf_sm.triggers import EndpointTrigger

    fake = FakeSageMaker({"job-1": job_desc()})
    hook = hook_on(fake)
    op = deploy_op(deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        run_operator(op, hook)
    trigger = info.value.trigger
    s = spec()
    assert isinstance(trigger, EndpointTrigger)
    assert (trigger.endpoint_name, trigger.expected_config) == ("mnist", s.endpoint_config_name)
    assert info.value.kwargs == {"endpoint_name": "mnist", "expected_config": s.endpoint_config_name}
    assert json.dumps(trigger.serialize()[1])

    fake.settle("mnist")
    event = {"status": "success", "endpoint_name": "mnist", "expected_config": s.endpoint_config_name}
    assert op.execute_complete({}, event=event)["model_name"] == s.model_name  # dag.test(): the event alone
    fake.endpoints["mnist"] = endpoint_desc("mnist", "older-config", "InService", FailureReason="boom")
    with pytest.raises(EndpointFailedError, match="rolled back"):
        op.execute_complete({}, event=event)
    with pytest.raises(TFSageMakerError, match="Waiting for endpoint mnist failed: gone"):
        op.execute_complete({}, event={"status": "error", "message": "gone"}, endpoint_name="mnist")


def test_operator_without_waiting_returns_after_the_create_call() -> None:
    fake = FakeSageMaker({"job-1": job_desc()})
    result, _ = run_operator(deploy_op(wait_for_completion=False), hook_on(fake))
    assert result["status"] == "Creating"


def test_delete_operator_is_a_teardown_and_tolerates_a_missing_endpoint() -> None:
    fake = FakeSageMaker({"job-1": job_desc()})
    hook = hook_on(fake)
    hook.hosting.deploy(spec())
    fake.settle("mnist", "Failed")  # a failed endpoint is deleted too
    op = DeleteEndpointOperator(task_id="delete", endpoint_name="mnist")
    assert op.as_teardown().is_teardown
    op._hook = hook
    assert op.execute({}) == {"endpoint_name": "mnist", "deleted": True}
    assert fake.endpoints == {} and fake.configs == {} and fake.models == {}
    assert op.execute({}) == {"endpoint_name": "mnist", "deleted": False}


def test_endpoint_console_link() -> None:
    assert endpoint_console_url("ep", "us-gov-west-1") == (
        "https://console.amazonaws-us-gov.com/sagemaker/home?region=us-gov-west-1#/endpoints/ep"
    )
    assert endpoint_console_url("ep", "not-a-region") == ""
    assert any(isinstance(link, EndpointConsoleLink) for link in TFDeployOperator.resource_links)


# ---------------------------------------------------------------------- moto
@pytest.fixture
def moto_hook(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> TFSageMakerHook:
    conn = {"conn_type": "aws", "extra": {"endpoint_url": moto_endpoint, "region_name": "us-east-1"}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    return TFSageMakerHook(aws_conn_id="aws_default", backend="sagemaker")


def test_operator_on_moto_creates_the_three_resources_once_and_deletes_them(moto_hook: TFSageMakerHook) -> None:
    sm = moto_hook.clients.sagemaker
    sm.create_training_job(
        TrainingJobName="moto-job",
        AlgorithmSpecification={"TrainingImage": TRAINING_IMAGE, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        OutputDataConfig={"S3OutputPath": "s3://moto-bucket/models"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )
    op = deploy_op(training_job_name="moto-job", endpoint_name="moto-ep", require_metrics={"train:progress": ">= 100"})
    result, _ = run_operator(op, moto_hook)
    assert result["status"] == "InService" and result["endpoint_name"] == "moto-ep"
    model = sm.describe_model(ModelName=result["model_name"])
    assert model["PrimaryContainer"]["Image"] == INFERENCE_IMAGE
    assert model["PrimaryContainer"]["ModelDataUrl"] == result["model_data"]
    assert result["model_data"].startswith("s3://moto-bucket/models/")
    assert model["ExecutionRoleArn"] == ROLE
    config = sm.describe_endpoint_config(EndpointConfigName=result["endpoint_config_name"])
    (variant,) = config["ProductionVariants"]
    assert (variant["VariantName"], variant["ModelName"], variant["InitialInstanceCount"]) == (
        "AllTraffic",
        result["model_name"],
        1,
    )
    assert sm.describe_endpoint(EndpointName="moto-ep")["EndpointConfigName"] == result["endpoint_config_name"]

    again, _ = run_operator(op, moto_hook)
    assert again == result
    assert len(sm.list_models()["Models"]) == 1 and len(sm.list_endpoint_configs()["EndpointConfigs"]) == 1

    delete = DeleteEndpointOperator(task_id="delete", endpoint_name="moto-ep", aws_conn_id="aws_default")
    assert delete.execute({}) == {"endpoint_name": "moto-ep", "deleted": True}
    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert delete.execute({})["deleted"] is False


def test_invoke_endpoint_on_moto_uses_sagemaker_runtime(moto_hook: TFSageMakerHook, moto_endpoint: str) -> None:
    import urllib.request

    body = json.dumps({"predictions": [[0.2, 0.8]]})
    results = {"results": [{"Body": body, "ContentType": "application/json"}]}
    request = urllib.request.Request(
        f"{moto_endpoint}/moto-api/static/sagemaker/endpoint-results",
        data=json.dumps(results).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10)
    assert moto_hook.invoke_endpoint("any-ep", {"instances": [[1.0]]}) == {"predictions": [[0.2, 0.8]]}


# ------------------------------------------------------------ local backend
def local_endpoints_available() -> bool:
    from airflow_tf_sm.backends.local.clients import LocalSageMakerClient

    return hasattr(LocalSageMakerClient, "create_endpoint")


needs_local_endpoints = pytest.mark.skipif(
    not local_endpoints_available(), reason="the local backend has no endpoint API yet"
)


@pytest.fixture
def local_hook(local_root: Path) -> Any:
    hook = TFSageMakerHook(backend="local", local_root=str(local_root), region_name="us-east-1")
    yield hook
    for endpoint in hook.clients.sagemaker.list_endpoints()["Endpoints"]:
        hook.delete_endpoint(endpoint["EndpointName"])


EXAMPLE_CODE = Path(__file__).resolve().parents[2] / "dags_examples" / "tf_sm_example" / "code"
E2E_BUCKET = "s3://deploy-e2e"


def train_locally(hook: TFSageMakerHook, name: str, seed: int) -> dict[str, Any]:
    spec = TrainingJobSpec.from_mapping(
        {
            "entry_point": "train.py",
            "source_dir": str(EXAMPLE_CODE),
            "framework_version": "2.19.0",
            "hyperparameters": {"epochs": 2, "seed": seed},
            "inputs": {"train": f"{E2E_BUCKET}/data/train", "test": f"{E2E_BUCKET}/data/test"},
            "output_path": f"{E2E_BUCKET}/models",
            "metric_definitions": [{"Name": "val_accuracy", "Regex": r"val_accuracy=([0-9.]+)"}],
        }
    )
    hook.training.create(hook.training.request(spec, name, hook.training.stage_code(spec)))
    return hook.training.wait(name, poll_interval=0.5, stream_logs=False)


def own_predictions(hook: TFSageMakerHook, job_name: str) -> dict[str, Any]:
    """The trained model's own predictions on test rows (``predictions_sample.json`` in output.tar.gz)."""
    import tarfile

    data = hook.read_bytes(f"{E2E_BUCKET}/models/{job_name}/output/output.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("predictions_sample.json"))
        handle = tar.extractfile(member)
        assert handle is not None
        return dict(json.load(handle))


def assert_serves(hook: TFSageMakerHook, endpoint: str, job_name: str) -> None:
    import numpy as np

    sample = own_predictions(hook, job_name)
    answer = hook.invoke_endpoint(endpoint, {"instances": sample["instances"]})
    served = np.asarray(answer["predictions"], dtype=np.float64)
    expected = np.asarray(sample["predictions"], dtype=np.float64)
    assert served.shape == expected.shape == (len(sample["instances"]), 3)
    np.testing.assert_allclose(served, expected, atol=1e-5, rtol=0)


@pytest.mark.tensorflow
@needs_local_endpoints
def test_local_deploy_serves_the_models_predictions_is_idempotent_and_updates_after_retraining(
    local_root: Path,
) -> None:
    from tf_sm_example.data import make_dataset

    hook = TFSageMakerHook(backend="local", local_root=str(local_root), region_name="us-east-1")
    sm = hook.clients.sagemaker
    for relative, content in make_dataset(7, n_train=1200, n_test=200).items():
        hook.write_bytes(f"{E2E_BUCKET}/data/{relative}", content)

    def deploy(job: str) -> dict[str, Any]:
        op = deploy_op(
            training_job_name=job,
            endpoint_name="e2e-ep",
            backend="local",
            local_root=str(local_root),
            poll_interval=0.5,
            require_metrics={"val_accuracy": ">= 0.5"},
        )
        return run_operator(op, TFSageMakerHook(backend="local", local_root=str(local_root)))[0]

    try:
        train_locally(hook, "e2e-job-1", seed=1)
        first = deploy("e2e-job-1")
        assert first["status"] == "InService" and first["backend"] == "local"
        assert first["url"].startswith("http://127.0.0.1:") and first["url"].endswith("/invocations")
        assert first["model_data"] == f"{E2E_BUCKET}/models/e2e-job-1/output/model.tar.gz"
        assert_serves(hook, "e2e-ep", "e2e-job-1")
        endpoint_arn = sm.describe_endpoint(EndpointName="e2e-ep")["EndpointArn"]
        tags = sm.list_tags(ResourceArn=endpoint_arn)["Tags"]
        assert {"Key": "airflow-tf-sm:training-job", "Value": "e2e-job-1"} in tags

        # nothing changed: nothing created, the endpoint untouched
        modified = sm.describe_endpoint(EndpointName="e2e-ep")["LastModifiedTime"]
        assert deploy("e2e-job-1") == first
        assert len(sm.list_models()["Models"]) == 1 and len(sm.list_endpoint_configs()["EndpointConfigs"]) == 1
        assert sm.describe_endpoint(EndpointName="e2e-ep")["LastModifiedTime"] == modified

        # retrained: the endpoint is updated (tags kept) and serves the new model
        train_locally(hook, "e2e-job-2", seed=2)
        second = deploy("e2e-job-2")
        assert second["endpoint_config_name"] != first["endpoint_config_name"]
        assert second["model_data"] == f"{E2E_BUCKET}/models/e2e-job-2/output/model.tar.gz"
        assert sm.describe_endpoint(EndpointName="e2e-ep")["EndpointConfigName"] == second["endpoint_config_name"]
        assert sm.list_tags(ResourceArn=endpoint_arn)["Tags"] == tags
        assert_serves(hook, "e2e-ep", "e2e-job-2")
    finally:
        hook.delete_endpoint("e2e-ep", poll_interval=0.5)
    assert sm.list_endpoints()["Endpoints"] == []
    # the endpoint's config and model went with it; the first model is no longer the endpoint's
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == [first["model_name"]]
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]] == [
        first["endpoint_config_name"]
    ]

"""TFBatchTransformOperator and hook.transform: the model of a training job, retry safety, waiting, results.

On the local backend the training job is a real local job whose script writes a fake model (``fake.json``,
loaded by ``tests/backends/local/fake_models.py`` through the model server's loader hook), so these tests
need no TensorFlow; ``test_local_transform_tf.py`` covers real SavedModels. AWS request shapes are checked
with botocore's Stubber (which validates every request against the service model too).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from airflow_tf_sm.backends import Clients
from airflow_tf_sm.exceptions import ModelNotDeployableError, TFSageMakerError, TransformJobFailedError
from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.hosting.spec import DeploySpec
from airflow_tf_sm.transform.operator import TFBatchTransformOperator
from tests.recording import recording_hook

LOCAL_TESTS = Path(__file__).resolve().parents[1] / "backends" / "local"
BUCKET = "bucket"
TRAIN_SCRIPT = (
    "import json, os\n"
    "with open(os.path.join(os.environ['SM_MODEL_DIR'], 'fake.json'), 'w') as fh:\n"
    "    json.dump({'weights': [1.0, 2.0], 'bias': 0.5}, fh)\n"
)
CSV = {
    "content_type": "text/csv",
    "split_type": "Line",
    "strategy": "MultiRecord",
    "assemble_with": "Line",
    "accept": "text/csv",
}


class FakeTI:
    """The task instance of a test: its identity and the XComs it pushed."""

    def __init__(self, task_id: str = "score", run_id: str = "scheduled__2025-01-01T00:00:00+00:00") -> None:
        self.dag_id = "nightly_scoring"
        self.task_id = task_id
        self.run_id = run_id
        self.map_index = -1
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str, key: str) -> Any:
        return self.xcoms.get(key)


@pytest.fixture
def local_env(local_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The local backend with fake models; returns the root."""
    monkeypatch.setenv("AIRFLOW_TF_SM_LOCAL_MODEL_LOADER", "fake_models:load")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(LOCAL_TESTS), os.environ.get("PYTHONPATH")) if p))
    return local_root


@pytest.fixture
def trained(local_env: Path, tmp_path: Path) -> dict[str, Any]:
    """A Completed local training job whose model is the fake linear model; and two input objects."""
    from airflow_tf_sm.training.spec import TrainingJobSpec

    hook = TFSageMakerHook(backend="local", local_root=str(local_env), region_name="us-east-1")
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(TRAIN_SCRIPT)
    spec = TrainingJobSpec.from_mapping(
        {"entry_point": "train.py", "source_dir": str(code), "output_path": f"s3://{BUCKET}/models"}
    )
    hook.training.create(hook.training.request(spec, "linear-20250101", hook.training.stage_code(spec)))
    desc = hook.training.wait("linear-20250101", poll_interval=0.2)
    hook.write_bytes(f"s3://{BUCKET}/score/2025-01-01/north.csv", b"1,1\n2,2\n")
    hook.write_bytes(f"s3://{BUCKET}/score/2025-01-01/south/more.csv", b"0,1\n")
    return {"hook": hook, "desc": desc, "root": local_env}


def operator(root: Path, **kwargs: Any) -> TFBatchTransformOperator:
    arguments: dict[str, Any] = {
        "task_id": "score",
        "training_job_name": "linear-20250101",
        "data": f"s3://{BUCKET}/score/2025-01-01/",
        "output_path": f"s3://{BUCKET}/scores/2025-01-01",
        "backend": "local",
        "local_root": str(root),
        "region_name": "us-east-1",
        "poll_interval": 0.2,
        **CSV,
    }
    arguments.update(kwargs)
    return TFBatchTransformOperator(**arguments)


def created(calls: list[tuple[str, str]]) -> list[str]:
    return [method for _, method in calls if method.startswith("create_")]


# ---------------------------------------------------------------------------------------------
# local backend
# ---------------------------------------------------------------------------------------------
def test_scores_with_the_training_jobs_model_named_like_a_deploy(trained: dict[str, Any]) -> None:
    hook, root = trained["hook"], trained["root"]
    ti = FakeTI()
    result = operator(root).execute({"ti": ti})  # type: ignore[arg-type]
    deploy_model = DeploySpec.from_training_job(
        trained["desc"], endpoint_name="linear", region="us-east-1"
    ).model_name  # the name a TFDeployOperator of the same job creates
    job_name = result["transform_job_name"]
    assert result == {
        "transform_job_name": job_name,
        "transform_job_arn": f"arn:aws:sagemaker:us-east-1:000000000000:transform-job/{job_name}",
        "status": "Completed",
        "model_name": deploy_model,
        "output_path": "s3://bucket/scores/2025-01-01",
        "outputs": {
            "count": 2,
            "first": [
                "s3://bucket/scores/2025-01-01/north.csv.out",
                "s3://bucket/scores/2025-01-01/south/more.csv.out",
            ],
        },
        "failure_reason": None,
        "region": "us-east-1",
        "backend": "local",
    }
    assert json.loads(json.dumps(result)) == result
    assert job_name.startswith("nightly-scoring-score-") and len(job_name) <= 63
    assert ti.xcoms["transform_job_name"] == job_name
    assert set(ti.xcoms) == {"transform_job_name"}  # a local task pushes no link XCom
    assert hook.read_bytes("s3://bucket/scores/2025-01-01/north.csv.out") == b"3.5\n6.5\n"
    assert hook.read_bytes("s3://bucket/scores/2025-01-01/south/more.csv.out") == b"2.5\n"
    tags = hook.clients.sagemaker.list_tags(ResourceArn=result["transform_job_arn"])["Tags"]
    assert {"Key": "airflow-tf-sm:task-id", "Value": "score"} in tags
    model = hook.hosting.describe_model(deploy_model)
    assert (
        model is not None
        and model["PrimaryContainer"]["ModelDataUrl"] == trained["desc"]["ModelArtifacts"]["S3ModelArtifacts"]
    )
    assert model["PrimaryContainer"]["Image"].endswith("/tensorflow-inference:2.19.0-cpu")


def test_rerunning_the_task_reuses_the_completed_job(trained: dict[str, Any]) -> None:
    root = trained["root"]
    first = operator(root).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    hook, calls = recording_hook("local", root)
    again = operator(root)
    again._hook = hook
    second = again.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert second == first
    assert created(calls) == [] and ("sagemaker", "describe_training_job") not in calls
    summaries = hook.clients.sagemaker.list_transform_jobs()["TransformJobSummaries"]
    assert [s["TransformJobName"] for s in summaries] == [first["transform_job_name"]]


def test_another_task_shares_the_model_and_rerun_scores_again(trained: dict[str, Any]) -> None:
    root = trained["root"]
    first = operator(root).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    hook, calls = recording_hook("local", root)
    other = operator(root, task_id="score_again", output_path="s3://bucket/scores/again")
    other._hook = hook
    second = other.execute({"ti": FakeTI("score_again")})  # type: ignore[arg-type]
    assert second["model_name"] == first["model_name"]
    assert second["transform_job_name"] != first["transform_job_name"]
    assert created(calls) == ["create_transform_job"]  # the model exists: not created twice

    rerun = operator(root, if_job_exists="rerun").execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert rerun["transform_job_name"] == first["transform_job_name"] + "-a2" and rerun["status"] == "Completed"


def test_a_failed_job_fails_the_task_and_the_retry_starts_the_next_name(trained: dict[str, Any]) -> None:
    hook, root = trained["hook"], trained["root"]
    hook.write_bytes("s3://bucket/score/2025-01-01/south/more.csv", b"0,1\n1,bad\n")
    with pytest.raises(TransformJobFailedError) as failed:
        operator(root).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert failed.value.status == "Failed"
    assert "s3://bucket/score/2025-01-01/south/more.csv: record 2 (line 2)" in str(failed.value)
    first_name = failed.value.job_name
    hook.write_bytes("s3://bucket/score/2025-01-01/south/more.csv", b"0,1\n1,1\n")
    result = operator(root).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert result["transform_job_name"] == first_name + "-a2" and result["status"] == "Completed"
    assert hook.read_bytes("s3://bucket/scores/2025-01-01/south/more.csv.out") == b"2.5\n3.5\n"


def test_an_existing_model_by_name_and_a_template_job_name(trained: dict[str, Any]) -> None:
    root = trained["root"]
    model = operator(root).execute({"ti": FakeTI()})["model_name"]  # type: ignore[arg-type]
    result = operator(
        root, task_id="by_name", training_job_name=None, model_name=model, job_name="scores-20250101"
    ).execute({"ti": FakeTI("by_name")})  # type: ignore[arg-type]
    assert result["transform_job_name"] == "scores-20250101" and result["model_name"] == model


def test_a_model_name_that_does_not_exist_fails_before_any_create(trained: dict[str, Any]) -> None:
    hook, calls = recording_hook("local", trained["root"])
    op = operator(trained["root"], training_job_name=None, model_name="no-such-model")
    op._hook = hook
    with pytest.raises(TFSageMakerError, match="model_name: model 'no-such-model' not found"):
        op.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert created(calls) == []


@pytest.mark.parametrize("job", ["never-trained", "failed-job"])
def test_a_job_without_a_model_is_not_deployable(trained: dict[str, Any], job: str) -> None:
    if job == "failed-job":
        from airflow_tf_sm.training.spec import TrainingJobSpec

        hook = trained["hook"]
        code = trained["root"].parent / "failing"
        code.mkdir()
        (code / "train.py").write_text("raise SystemExit(3)\n")
        spec = TrainingJobSpec.from_mapping(
            {"entry_point": "train.py", "source_dir": str(code), "output_path": "s3://bucket/m"}
        )
        hook.training.create(hook.training.request(spec, job, hook.training.stage_code(spec)))
        with pytest.raises(Exception):  # noqa: B017 - the training job fails, as planned
            hook.training.wait(job, poll_interval=0.2)
    hook, calls = recording_hook("local", trained["root"])
    op = operator(trained["root"], training_job_name=job)
    op._hook = hook
    with pytest.raises(ModelNotDeployableError, match="training_job_name"):
        op.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert created(calls) == []


def test_without_waiting_the_result_is_in_progress(trained: dict[str, Any]) -> None:
    result = operator(trained["root"], wait_for_completion=False).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert result["status"] in ("InProgress", "Completed")
    if result["status"] == "InProgress":
        assert result["outputs"] is None
    trained["hook"].transform.wait(result["transform_job_name"], poll_interval=0.2)


def test_deferrable_defers_to_the_trigger_and_resumes_with_the_same_result(trained: dict[str, Any]) -> None:
    import asyncio

    from airflow_tf_sm.compat import task_deferred
    from airflow_tf_sm.transform.trigger import TransformJobTrigger

    TaskDeferred = task_deferred()
    op = operator(trained["root"], deferrable=True)
    ti = FakeTI()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": ti})  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, TransformJobTrigger)
    path, kwargs = trigger.serialize()
    assert path == "airflow_tf_sm.transform.trigger.TransformJobTrigger"
    rebuilt = TransformJobTrigger(**json.loads(json.dumps(kwargs)))

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in rebuilt.run()]

    (event,) = asyncio.run(asyncio.wait_for(collect(), 60))
    assert event["status"] == "success" and event["transform_job_status"] == "Completed"
    assert event["transform_job_name"] == ti.xcoms["transform_job_name"]
    assert event["result"]["outputs"]["count"] == 2
    resumed = operator(trained["root"], deferrable=True)
    # dag.test() hands over only the event; the kwargs name the job too
    assert resumed.execute_complete({"ti": ti}, event=event) == event["result"]  # type: ignore[arg-type]
    assert (
        resumed.execute_complete(
            {"ti": ti},  # type: ignore[arg-type]
            event={"status": "success"},
            transform_job_name=event["transform_job_name"],
        )
        == event["result"]
    )


def test_trigger_reports_an_unknown_job_as_an_error_event(local_env: Path) -> None:
    import asyncio

    from airflow_tf_sm.transform.trigger import TransformJobTrigger

    params = {"backend": "local", "local_root": str(local_env), "region_name": "us-east-1"}
    trigger = TransformJobTrigger("never-created", params, poll_interval=0.05)

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    (event,) = asyncio.run(asyncio.wait_for(collect(), 30))
    assert event["status"] == "error" and event["transform_job_name"] == "never-created"
    assert event["error_code"] == "ValidationException" and event["result"] is None
    with pytest.raises(TFSageMakerError, match="never-created"):
        TFSageMakerHook(**params).transform.result_from_event(event)


def test_sensor_pokes_until_completed_and_fails_on_failed(trained: dict[str, Any]) -> None:
    from airflow.sdk import PokeReturnValue

    from airflow_tf_sm.transform.sensor import TransformJobSensor

    root = trained["root"]
    done = operator(root).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    sensor = TransformJobSensor(
        task_id="wait", transform_job_name=done["transform_job_name"], backend="local", local_root=str(root)
    )
    poked = sensor.poke({"ti": FakeTI("wait")})  # type: ignore[arg-type]
    assert isinstance(poked, PokeReturnValue) and poked.is_done and poked.xcom_value == done

    trained["hook"].write_bytes("s3://bucket/bad/x.csv", b"oops\n")
    with pytest.raises(TransformJobFailedError):
        operator(root, task_id="bad", data="s3://bucket/bad/").execute({"ti": FakeTI("bad")})  # type: ignore[arg-type]
    failed_name = trained["hook"].clients.sagemaker.list_transform_jobs(StatusEquals="Failed")["TransformJobSummaries"][
        0
    ]["TransformJobName"]
    failing = TransformJobSensor(task_id="w2", transform_job_name=failed_name, backend="local", local_root=str(root))
    with pytest.raises(TransformJobFailedError, match=r"s3://bucket/bad/x\.csv: record 1"):
        failing.poke({"ti": FakeTI("w2")})  # type: ignore[arg-type]


def test_on_kill_stops_the_job_in_flight() -> None:
    stopped: list[str] = []

    class FakeTransform:
        def stop(self, name: str) -> bool:
            stopped.append(name)
            return True

    class FakeHook:
        transform = FakeTransform()

    op = TFBatchTransformOperator(task_id="t", training_job_name="job", data="s3://b/in")
    op._hook = FakeHook()  # type: ignore[assignment]
    op._job_name_in_flight = "score-1"
    op.on_kill()
    op.stop_job_on_kill = False
    op.on_kill()
    assert stopped == ["score-1"]


# ---------------------------------------------------------------------------------------------
# AWS request shapes (botocore Stubber)
# ---------------------------------------------------------------------------------------------
NOW = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
TRANSFORM_ARN = "arn:aws:sagemaker:us-east-1:123456789012:transform-job/score-20250101"
TASK_TAGS = [
    {"Key": "airflow-tf-sm:dag-id", "Value": "nightly_scoring"},
    {"Key": "airflow-tf-sm:task-id", "Value": "score"},
    {"Key": "airflow-tf-sm:run-id", "Value": "scheduled__2025-01-01T00:00:00+00:00"},
    {"Key": "airflow-tf-sm:map-index", "Value": "-1"},
]


def stubbed_hook() -> tuple[TFSageMakerHook, Stubber]:
    hook = TFSageMakerHook(aws_conn_id=None, backend="sagemaker", region_name="us-east-1")
    made = {name: boto3.client(name, region_name="us-east-1") for name in ("sagemaker", "s3", "logs")}
    stubber = Stubber(made["sagemaker"])
    stubber.activate()
    hook.__dict__["clients"] = Clients(region="us-east-1", backend="sagemaker", **made)
    return hook, stubber


def not_found(stubber: Stubber, method: str, message: str, params: dict[str, Any]) -> None:
    stubber.add_client_error(method, "ValidationException", message, 400, expected_params=params)


def in_progress(model: str) -> dict[str, Any]:
    return {
        "TransformJobName": "score-20250101",
        "TransformJobArn": TRANSFORM_ARN,
        "TransformJobStatus": "InProgress",
        "ModelName": model,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/score/"}}},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "CreationTime": NOW,
    }


def expected_request(model: Any) -> dict[str, Any]:
    return {
        "TransformJobName": "score-20250101",
        "ModelName": model,
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
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
        "BatchStrategy": "MultiRecord",
        "MaxConcurrentTransforms": 2,
        "MaxPayloadInMB": 6,
        "Tags": TASK_TAGS,
    }


def aws_operator(**kwargs: Any) -> TFBatchTransformOperator:
    return TFBatchTransformOperator(
        task_id="score",
        data="s3://bucket/score/2025-01-01/",
        output_path="s3://bucket/scores/2025-01-01",
        job_name="score-20250101",
        max_payload=6,
        max_concurrent_transforms=2,
        wait_for_completion=False,
        backend="sagemaker",
        aws_conn_id=None,
        **CSV,
        **kwargs,
    )


def test_aws_request_with_an_existing_model() -> None:
    hook, stubber = stubbed_hook()
    not_found(
        stubber,
        "describe_transform_job",
        "Could not find requested job with name score-20250101",
        {"TransformJobName": "score-20250101"},
    )
    stubber.add_response(
        "describe_model",
        {
            "ModelName": "existing-model",
            "ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/existing-model",
            "CreationTime": NOW,
            "ExecutionRoleArn": ROLE,
        },
        {"ModelName": "existing-model"},
    )
    stubber.add_response("create_transform_job", {"TransformJobArn": TRANSFORM_ARN}, expected_request("existing-model"))
    stubber.add_response(
        "describe_transform_job", in_progress("existing-model"), {"TransformJobName": "score-20250101"}
    )
    stubber.add_response(
        "describe_transform_job", in_progress("existing-model"), {"TransformJobName": "score-20250101"}
    )
    op = aws_operator(model_name="existing-model")
    op._hook = hook
    result = op.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    stubber.assert_no_pending_responses()
    assert result["status"] == "InProgress" and result["outputs"] is None and result["model_name"] == "existing-model"


def test_aws_request_with_a_training_jobs_model() -> None:
    hook, stubber = stubbed_hook()
    job = {
        "TrainingJobName": "mnist-20250101",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/mnist-20250101",
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "RoleArn": ROLE,
        "AlgorithmSpecification": {
            "TrainingImage": "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.19.0-cpu-py312",
            "TrainingInputMode": "File",
        },
        "ModelArtifacts": {"S3ModelArtifacts": "s3://bucket/models/mnist-20250101/output/model.tar.gz"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "CreationTime": NOW,
    }
    model_name = DeploySpec.from_training_job(job, endpoint_name="any", region="us-east-1").model_name
    not_found(
        stubber,
        "describe_transform_job",
        "Could not find requested job with name score-20250101",
        {"TransformJobName": "score-20250101"},
    )
    stubber.add_response("describe_training_job", job, {"TrainingJobName": "mnist-20250101"})
    not_found(stubber, "describe_model", f"Could not find model {model_name}.", {"ModelName": model_name})
    stubber.add_response(
        "create_model",
        {"ModelArn": f"arn:aws:sagemaker:us-east-1:123456789012:model/{model_name}"},
        {
            "ModelName": model_name,
            "ExecutionRoleArn": ROLE,
            "PrimaryContainer": {
                "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.19.0-cpu",
                "ModelDataUrl": "s3://bucket/models/mnist-20250101/output/model.tar.gz",
                "Environment": {},
            },
            "Tags": ANY,
        },
    )
    stubber.add_response("create_transform_job", {"TransformJobArn": TRANSFORM_ARN}, expected_request(model_name))
    stubber.add_response("describe_transform_job", in_progress(model_name), {"TransformJobName": "score-20250101"})
    stubber.add_response("describe_transform_job", in_progress(model_name), {"TransformJobName": "score-20250101"})
    op = aws_operator(training_job_name="mnist-20250101")
    op._hook = hook
    result = op.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    stubber.assert_no_pending_responses()
    assert result["model_name"] == model_name


def test_aws_create_retried_after_a_5xx_is_not_a_second_job() -> None:
    hook, stubber = stubbed_hook()
    hook.retry_max_wait = 0.01
    request = expected_request("existing-model")
    stubber.add_client_error("create_transform_job", "InternalFailure", "boom", 500, expected_params=request)
    stubber.add_client_error(
        "create_transform_job", "ResourceInUse", "Job name must be unique", 400, expected_params=request
    )
    stubber.add_response(
        "describe_transform_job", in_progress("existing-model"), {"TransformJobName": "score-20250101"}
    )
    stubber.add_response(
        "describe_transform_job", in_progress("existing-model"), {"TransformJobName": "score-20250101"}
    )
    assert hook.transform.create(request) == TRANSFORM_ARN
    stubber.assert_no_pending_responses()


def test_aws_stop_of_an_ended_job_is_not_an_error() -> None:
    hook, stubber = stubbed_hook()
    stubber.add_client_error(
        "stop_transform_job",
        "ValidationException",
        "The request was rejected because the transform job is in status Completed.",
        400,
        expected_params={"TransformJobName": "score-1"},
    )
    assert hook.transform.stop("score-1") is False
    stubber.add_response("stop_transform_job", {}, {"TransformJobName": "score-2"})
    assert hook.transform.stop("score-2") is True

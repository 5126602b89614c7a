"""TrainingJobTrigger: serialization, one event per terminal state, retries, the loop never blocks, kill vs cleanup.

AWS semantics come from botocore Stubber and small fakes; end-to-end runs use the local backend.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from airflow_tf_sm.backends import ClientParams, Clients
from airflow_tf_sm.exceptions import TFSageMakerError, TrainingJobFailedError
from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.training.spec import TrainingJobSpec
from airflow_tf_sm.training.trigger import TrainingJobTrigger

LOG_GROUP = "/aws/sagemaker/TrainingJobs"


# ------------------------------------------------------------------ helpers
def describe_response(name: str, status: str, secondary: str, **extra: Any) -> dict[str, Any]:
    now = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "TrainingJobStatus": status,
        "SecondaryStatus": secondary,
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "CreationTime": now,
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://b/{name}/output/model.tar.gz"},
        **extra,
    }


def client_error(code: str, status: int = 400, operation: str = "DescribeTrainingJob") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


class FakeLogs:
    """CloudWatch Logs client over in-memory streams (``describe_log_streams`` / ``get_log_events``)."""

    def __init__(self) -> None:
        self.streams: dict[str, list[str]] = {}
        self.threads: list[int] = []

    def add(self, stream: str, *lines: str) -> None:
        self.streams.setdefault(stream, []).extend(lines)

    def describe_log_streams(self, logGroupName: str, logStreamNamePrefix: str, **_: Any) -> dict[str, Any]:
        self.threads.append(threading.get_ident())
        assert logGroupName == LOG_GROUP
        if not self.streams:
            raise client_error("ResourceNotFoundException", operation="DescribeLogStreams")
        names = [s for s in self.streams if s.startswith(logStreamNamePrefix)]
        return {"logStreams": [{"logStreamName": s} for s in names]}

    def get_log_events(self, logGroupName: str, logStreamName: str, nextToken: str | None = None, **_: Any) -> Any:
        start = int(nextToken.split("/")[1]) if nextToken else 0
        lines = self.streams[logStreamName]
        return {
            "events": [{"message": line} for line in lines[start:]],
            "nextForwardToken": f"f/{len(lines)}",
        }


class FakeSageMaker:
    """SageMaker client replaying scripted describe responses; records stop and list calls.

    ``list_training_jobs`` reports every scripted job as modified just now, so the shared poller (the
    coalesced path every trigger takes by default) describes it each interval, like per-job polling.
    """

    def __init__(
        self,
        script: list[dict[str, Any] | Exception],
        *,
        delay: float = 0.0,
        on_describe: Callable[[int], None] | None = None,
    ) -> None:
        self.script = script
        self.delay = delay
        self.on_describe = on_describe
        self.describes = 0
        self.lists = 0
        self.stopped: list[str] = []
        self.threads: list[int] = []  # the threads the calls ran in

    def list_training_jobs(self, **_: Any) -> dict[str, Any]:
        self.lists += 1
        self.threads.append(threading.get_ident())
        names = {step["TrainingJobName"] for step in self.script if isinstance(step, dict)} or {"job-1"}
        now = dt.datetime.now(dt.timezone.utc)
        return {"TrainingJobSummaries": [{"TrainingJobName": n, "LastModifiedTime": now} for n in sorted(names)]}

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.threads.append(threading.get_ident())
        if self.delay:
            time.sleep(self.delay)
        index = min(self.describes, len(self.script) - 1)
        self.describes += 1
        if self.on_describe:
            self.on_describe(index)
        step = self.script[index]
        if isinstance(step, Exception):
            raise step
        return step

    def stop_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.stopped.append(TrainingJobName)
        return {}


def hook_with(sagemaker: Any, logs: Any = None, retry_attempts: int = 1) -> TFSageMakerHook:
    """A hook on fake clients; ``retry_attempts=1`` leaves every retry to the trigger."""
    hook = TFSageMakerHook(
        aws_conn_id=None,
        backend="sagemaker",
        region_name="us-east-1",
        retry_attempts=retry_attempts,
        retry_max_wait=0.01,
    )
    hook.__dict__["clients"] = Clients(
        sagemaker=sagemaker, s3=None, logs=logs or FakeLogs(), region="us-east-1", backend="sagemaker"
    )
    return hook


def trigger_on(hook: TFSageMakerHook, name: str = "job-1", **kwargs: Any) -> TrainingJobTrigger:
    params = {"backend": "sagemaker", "aws_conn_id": None, "region_name": "us-east-1"}
    trigger = TrainingJobTrigger(name, params, **{"poll_interval": 0.01, **kwargs})
    trigger.make_hook = lambda: hook  # type: ignore[method-assign]
    return trigger


def run_trigger(trigger: TrainingJobTrigger, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Run the trigger to its event; a coalesced one must have waited through ListTrainingJobs (the list path)."""

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(asyncio.wait_for(collect(), timeout))
    sagemaker = trigger.make_hook().clients.sagemaker
    if trigger.coalesce and hasattr(sagemaker, "lists"):
        assert sagemaker.lists > 0, "the shared poller never listed: it fell back to per-job describes"
    return events


def stubbed(name: str = "job-1") -> tuple[Any, Stubber]:
    client = boto3.client("sagemaker", region_name="us-east-1")
    stub = Stubber(client)
    stub.activate()
    return client, stub


# ------------------------------------------------------------- serialization
def test_serialize_round_trip_is_plain_json_and_rebuilds_the_same_trigger() -> None:
    params = ClientParams(
        backend="sagemaker",
        aws_conn_id="my_aws",
        region_name="eu-west-1",
        verify="/etc/ssl/ca.pem",
        botocore_config={"retries": {"mode": "adaptive", "max_attempts": 10}, "read_timeout": 120},
        endpoint_url="https://vpce.example",
        local_root=None,
    ).to_dict()
    trigger = TrainingJobTrigger("job-1", params, poll_interval=45, stream_logs=False, stop_job_on_kill=False)

    classpath, kwargs = trigger.serialize()
    wire = json.loads(json.dumps(kwargs))  # what the triggerer stores and reads back
    assert wire == kwargs
    module, _, cls_name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), cls_name)(**wire)

    assert isinstance(rebuilt, TrainingJobTrigger)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert (rebuilt.job_name, rebuilt.poll_interval, rebuilt.stream_logs, rebuilt.stop_job_on_kill) == (
        "job-1",
        45.0,
        False,
        False,
    )
    hook = rebuilt.make_hook()  # region, verify, botocore config, endpoint survive the trip
    assert hook.params == ClientParams(**params)


def test_local_backend_params_survive_serialization(tmp_path: Path) -> None:
    params = ClientParams(backend="local", local_root=str(tmp_path), region_name="us-west-2").to_dict()
    _, kwargs = TrainingJobTrigger("j", params).serialize()
    hook = TrainingJobTrigger(**json.loads(json.dumps(kwargs))).make_hook()
    assert hook.backend == "local"
    assert hook.params.local_root == str(tmp_path)
    assert hook.params.region_name == "us-west-2"


def test_trigger_client_params_pin_region_and_local_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__LOCAL_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    hook = TFSageMakerHook(backend="local")  # region and root left to the defaults of this process
    params = hook.trigger_params()
    assert params["region_name"] == "ap-south-1"
    assert params["local_root"] == str((tmp_path / "root").resolve())
    assert params["backend"] == "local"
    monkeypatch.delenv("AIRFLOW__AIRFLOW_TF_SM__LOCAL_ROOT")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-north-1")
    rebuilt = TrainingJobTrigger("j", params).make_hook()  # a triggerer with other defaults
    assert rebuilt.region == "ap-south-1"
    assert rebuilt.params.local_root == str((tmp_path / "root").resolve())


@pytest.mark.parametrize(
    ("params", "interval", "message"),
    [({"backend": "local", "region": "x"}, 1.0, "unknown key"), ({}, 0, "poll_interval")],
)
def test_bad_arguments_are_rejected(params: dict[str, Any], interval: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingJobTrigger("j", params, poll_interval=interval)


# ---------------------------------------------------------- terminal states
@pytest.mark.parametrize(
    ("final", "secondary", "expected"),
    [("Completed", "Completed", "success"), ("Failed", "Failed", "failed"), ("Stopped", "Stopped", "failed")],
)
def test_each_terminal_status_yields_one_event(
    final: str, secondary: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stub = stubbed()
    steps = [("InProgress", "Starting"), ("InProgress", "Starting"), ("InProgress", "Training")]
    if final == "Stopped":
        steps.append(("Stopping", "Stopping"))
    extra: dict[str, Any] = {"BillableTimeInSeconds": 321, "TrainingTimeInSeconds": 330}
    if final == "Failed":
        extra["FailureReason"] = "AlgorithmError: loss is NaN"
    for status, sec in steps:
        stub.add_response(
            "describe_training_job", describe_response("job-1", status, sec), {"TrainingJobName": "job-1"}
        )
    stub.add_response(
        "describe_training_job",
        describe_response(
            "job-1",
            final,
            secondary,
            FinalMetricDataList=[{"MetricName": "loss", "Value": 0.25, "Timestamp": dt.datetime(2025, 1, 1)}],
            **extra,
        ),
        {"TrainingJobName": "job-1"},
    )

    events = run_trigger(trigger_on(hook_with(client)))

    stub.assert_no_pending_responses()  # it polled through every state, Stopping included
    assert len(events) == 1
    event = events[0]
    assert event["status"] == expected
    assert event["job_name"] == "job-1"
    assert event["training_job_status"] == final
    assert event["secondary_status"] == secondary
    assert event["failure_reason"] == extra.get("FailureReason")
    assert event["result"]["metrics"] == {"loss": 0.25}
    assert event["result"]["billable_seconds"] == 321
    assert json.loads(json.dumps(event)) == event  # JSON-safe: no datetimes
    out = capsys.readouterr().out
    assert out.count("Training job job-1: InProgress - Starting") == 1  # transitions logged once each
    assert "Training job job-1: InProgress - Training" in out
    assert f"Training job job-1: {final} - {secondary}; billable seconds: 321" in out


def test_throttling_and_5xx_then_success_give_one_event(capsys: pytest.CaptureFixture[str]) -> None:
    client, stub = stubbed()
    stub.add_client_error("describe_training_job", "ThrottlingException", "Rate exceeded", 400)
    stub.add_response(
        "describe_training_job", describe_response("job-1", "InProgress", "Training"), {"TrainingJobName": "job-1"}
    )
    stub.add_client_error("describe_training_job", "ThrottlingException", "Rate exceeded", 400)
    stub.add_client_error("describe_training_job", "InternalFailure", "oops", 500)
    stub.add_response(
        "describe_training_job", describe_response("job-1", "Completed", "Completed"), {"TrainingJobName": "job-1"}
    )

    # per job: every poll's error is logged (the shared poller keeps only a job's newest news)
    events = run_trigger(trigger_on(hook_with(client, retry_attempts=1), coalesce=False))

    stub.assert_no_pending_responses()
    assert [e["status"] for e in events] == ["success"]
    out = capsys.readouterr().out
    assert out.count("Transient error while polling") == 3
    assert "ThrottlingException" in out and "InternalFailure" in out


def test_transient_errors_have_no_attempt_cap() -> None:
    # 40 throttled polls in a row (far more than any retry budget) still end in the job's own event.
    script: list[dict[str, Any] | Exception] = [client_error("ThrottlingException")] * 40
    script.append(describe_response("job-1", "Completed", "Completed"))
    fake = FakeSageMaker(script)
    events = run_trigger(trigger_on(hook_with(fake), poll_interval=0.001))
    assert fake.describes == 41
    assert [e["status"] for e in events] == ["success"]


def test_connection_errors_are_transient() -> None:
    from botocore.exceptions import EndpointConnectionError

    fake = FakeSageMaker(
        [EndpointConnectionError(endpoint_url="https://x"), describe_response("job-1", "Completed", "Completed")]
    )
    assert [e["status"] for e in run_trigger(trigger_on(hook_with(fake)))] == ["success"]


def test_non_retryable_error_yields_an_error_event() -> None:
    client, stub = stubbed()
    stub.add_client_error("describe_training_job", "ValidationException", "Requested resource not found.", 400)
    events = run_trigger(trigger_on(hook_with(client)))
    stub.assert_no_pending_responses()
    assert len(events) == 1
    event = events[0]
    assert event["status"] == "error"
    assert event["error_code"] == "ValidationException"
    assert "Requested resource not found" in event["message"]
    assert event["job_name"] == "job-1" and event["result"] is None
    json.dumps(event)


# ----------------------------------------------------------------------- logs
def test_new_log_lines_are_streamed_once_and_the_stored_event_repeats_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs = FakeLogs()

    def write_logs(index: int) -> None:  # the job logs 10 lines between polls
        logs.add("job-1/algo-1-1700000000", *[f"step {index * 10 + i}" for i in range(10)])

    script: list[dict[str, Any] | Exception] = [describe_response("job-1", "InProgress", "Training")] * 3
    script.append(describe_response("job-1", "Failed", "Failed", FailureReason="boom"))
    fake = FakeSageMaker(script, on_describe=write_logs)

    events = run_trigger(trigger_on(hook_with(fake, logs)))

    out = capsys.readouterr().out
    logged = [int(n) for n in re.findall(r"\] step (\d+)\s", out)]
    assert logged == list(range(40))  # every line logged once, in order...
    assert out.index("step 39") < out.index("Training job job-1: Failed - Failed: boom")  # ...before the end
    assert events[0]["log_tail"] == []  # shown already: the event (stored in Airflow's database) repeats none


def test_without_streaming_the_event_of_a_failed_job_carries_the_last_lines() -> None:
    logs = FakeLogs()
    logs.add("job-1/algo-1-1700000000", *[f"step {n}" for n in range(40)])
    fake = FakeSageMaker([describe_response("job-1", "Failed", "Failed", FailureReason="boom")])
    events = run_trigger(trigger_on(hook_with(fake, logs), stream_logs=False))
    assert events[0]["log_tail"] == [f"step {n}" for n in range(20, 40)]


def test_log_read_errors_never_fail_the_wait() -> None:
    class BrokenLogs(FakeLogs):
        def describe_log_streams(self, **kwargs: Any) -> dict[str, Any]:
            return {"logStreams": [{"logStreamName": "job-1/algo-1-1"}]}

        def get_log_events(self, **kwargs: Any) -> Any:
            raise client_error("AccessDeniedException", operation="GetLogEvents")

    fake = FakeSageMaker(
        [describe_response("job-1", "InProgress", "Training"), describe_response("job-1", "Completed", "Completed")]
    )
    events = run_trigger(trigger_on(hook_with(fake, BrokenLogs())))
    assert [e["status"] for e in events] == ["success"]


# ------------------------------------------------------------------- the loop never blocks
def test_every_client_call_runs_outside_the_event_loop_thread() -> None:
    """Blocking calls go to worker threads (the triggerer's loop-lag figures are in bench/, not here)."""
    script: list[dict[str, Any] | Exception] = [describe_response("job-1", "InProgress", "Training")] * 3
    script.append(describe_response("job-1", "Completed", "Completed"))
    fake = FakeSageMaker(script, delay=0.05)
    logs = FakeLogs()
    logs.add("job-1/algo-1-1700000000", "line")
    for coalesce in (True, False):
        fake.describes = 0
        trigger = trigger_on(hook_with(fake, logs), poll_interval=0.05, coalesce=coalesce)

        async def collect(trigger: TrainingJobTrigger = trigger) -> tuple[int, list[dict[str, Any]]]:
            return threading.get_ident(), [event.payload async for event in trigger.run()]

        loop_thread, events = asyncio.run(collect())
        assert [e["status"] for e in events] == ["success"]
        assert fake.threads and loop_thread not in fake.threads
        assert logs.threads and loop_thread not in logs.threads


# ------------------------------------------------------------- kill / cleanup
def in_progress_fake() -> FakeSageMaker:
    return FakeSageMaker([describe_response("job-1", "InProgress", "Training")])


def test_on_kill_stops_the_job() -> None:
    fake = in_progress_fake()
    asyncio.run(trigger_on(hook_with(fake), stop_job_on_kill=True).on_kill())
    assert fake.stopped == ["job-1"]


def test_on_kill_keeps_the_job_when_stop_job_on_kill_is_off() -> None:
    fake = in_progress_fake()
    asyncio.run(trigger_on(hook_with(fake), stop_job_on_kill=False).on_kill())
    assert fake.stopped == []


def test_on_kill_of_an_ended_job_is_not_an_error() -> None:
    client, stub = stubbed()
    stub.add_client_error(
        "stop_training_job",
        "ValidationException",
        "The request was rejected because the training job is in status Completed.",
        400,
    )
    asyncio.run(trigger_on(hook_with(client), stop_job_on_kill=True).on_kill())
    stub.assert_no_pending_responses()


def test_shutdown_cancel_and_cleanup_never_stop_the_job() -> None:
    fake = in_progress_fake()
    trigger = trigger_on(hook_with(fake), stop_job_on_kill=True)

    async def shutdown() -> None:
        async def consume() -> None:
            async for _ in trigger.run():
                raise AssertionError("no event expected while the job runs")

        task = asyncio.create_task(consume())
        while fake.describes < 3:
            await asyncio.sleep(0.01)
        task.cancel()  # what the triggerer does on shutdown / redistribution
        with pytest.raises(asyncio.CancelledError):
            await task
        await trigger.cleanup()

    asyncio.run(shutdown())
    assert fake.stopped == []


def test_two_runs_after_failover_give_the_same_event() -> None:
    fake = FakeSageMaker([describe_response("job-1", "Completed", "Completed")])
    trigger = trigger_on(hook_with(fake))
    first = run_trigger(trigger)
    _, kwargs = trigger.serialize()
    second_trigger = TrainingJobTrigger(**kwargs)
    second_trigger.make_hook = lambda: hook_with(fake)  # type: ignore[method-assign]
    assert run_trigger(second_trigger) == first
    assert fake.stopped == []


# ------------------------------------------------------------- resume helper
def test_training_result_from_event_re_describes_the_job() -> None:
    fake = FakeSageMaker([describe_response("job-1", "Completed", "Completed", BillableTimeInSeconds=7)])
    hook = hook_with(fake)
    result = hook.training.result_from_event({"status": "success", "job_name": "job-1", "log_tail": ["done"]})
    assert fake.describes == 1
    assert result == hook.training.result(describe_response("job-1", "Completed", "Completed", BillableTimeInSeconds=7))


def test_training_result_from_event_raises_for_failed_jobs_with_the_tail() -> None:
    fake = FakeSageMaker([describe_response("job-1", "Failed", "Failed", FailureReason="OOM")])
    event = {"status": "failed", "job_name": "job-1", "log_tail": ["Traceback", "MemoryError"]}
    with pytest.raises(TrainingJobFailedError) as err:
        hook_with(fake).training.result_from_event(event)
    assert err.value.status == "Failed" and err.value.failure_reason == "OOM"
    assert "MemoryError" in err.value.log_tail


@pytest.mark.parametrize(
    "event",
    [None, {}, {"status": "error", "job_name": "job-1", "message": "AccessDenied: no"}],
)
def test_training_result_from_event_rejects_error_events(event: dict[str, Any] | None) -> None:
    fake = in_progress_fake()
    with pytest.raises(TFSageMakerError):
        hook_with(fake).training.result_from_event(event)
    assert fake.describes == 0


# ------------------------------------------------------ local backend, end to end
def start_local_job(root: Path, tmp_path: Path, name: str, script: str) -> dict[str, Any]:
    code = tmp_path / name
    code.mkdir()
    (code / "train.py").write_text(script)
    hook = TFSageMakerHook(backend="local", local_root=str(root), region_name="us-east-1")
    spec = TrainingJobSpec.from_mapping(
        {"entry_point": "train.py", "source_dir": str(code), "output_path": "s3://bucket/models"}
    )
    hook.training.create(hook.training.request(spec, name, hook.training.stage_code(spec)))
    return ClientParams(backend="local", local_root=str(root), region_name="us-east-1").to_dict()


def test_local_job_completes_with_logs_and_result(
    local_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = start_local_job(local_root, tmp_path, "trig-ok", "print('epoch 1 loss=0.5')\n")
    trigger = TrainingJobTrigger(**TrainingJobTrigger("trig-ok", params, poll_interval=0.05).serialize()[1])

    events = run_trigger(trigger)

    assert len(events) == 1
    event = events[0]
    assert event["status"] == "success" and event["training_job_status"] == "Completed"
    assert event["result"]["model_data"] == "s3://bucket/models/trig-ok/output/model.tar.gz"
    assert event["result"]["backend"] == "local"
    out = capsys.readouterr().out
    assert out.count("epoch 1 loss=0.5") == 1  # streamed once
    assert out.index("epoch 1 loss=0.5") < out.index("Training job trig-ok: Completed")
    assert event["log_tail"] == []


def test_local_failed_job_reports_reason_and_tail(local_root: Path, tmp_path: Path) -> None:
    params = start_local_job(local_root, tmp_path, "trig-bad", "print('about to fail')\nraise SystemExit(3)\n")
    events = run_trigger(TrainingJobTrigger("trig-bad", params, poll_interval=0.05, stream_logs=False))
    event = events[0]
    assert event["status"] == "failed" and event["training_job_status"] == "Failed"
    assert event["failure_reason"]
    assert any("about to fail" in line for line in event["log_tail"])


def test_local_on_kill_stops_a_running_job(local_root: Path, tmp_path: Path) -> None:
    script = "import time\nprint('sleeping', flush=True)\ntime.sleep(60)\n"
    params = start_local_job(local_root, tmp_path, "trig-kill", script)
    trigger = TrainingJobTrigger("trig-kill", params, poll_interval=0.05)
    hook = TFSageMakerHook(**params)

    async def kill_then_wait() -> list[dict[str, Any]]:
        deadline = time.monotonic() + 20
        while (await asyncio.to_thread(hook.describe_training_job, "trig-kill"))["SecondaryStatus"] != "Training":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await trigger.on_kill()
        return [event.payload async for event in TrainingJobTrigger("trig-kill", params, poll_interval=0.05).run()]

    events = asyncio.run(asyncio.wait_for(kill_then_wait(), 60))
    assert events[0]["training_job_status"] == "Stopped" and events[0]["status"] == "failed"


def test_threads_are_used_for_client_calls() -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    fake = FakeSageMaker(
        [describe_response("job-1", "Completed", "Completed")], on_describe=lambda _: seen.append(threading.get_ident())
    )
    run_trigger(trigger_on(hook_with(fake)))
    assert seen and loop_thread not in seen

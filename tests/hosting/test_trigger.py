"""EndpointTrigger and EndpointSensor: one event per settled endpoint, rollbacks, errors, poke and deferral."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from airflow_tf_sm.exceptions import EndpointFailedError, TFSageMakerError
from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.hosting.trigger import EndpointTrigger
from airflow_tf_sm.sensors import EndpointSensor
from tests.hosting.test_operator import FakeSageMaker, FakeTI, client_error, endpoint_desc, hook_on

PARAMS = {"backend": "sagemaker", "aws_conn_id": None, "region_name": "us-east-1"}


def trigger_on(hook: TFSageMakerHook, expected: str | None = "cfg-2") -> EndpointTrigger:
    trigger = EndpointTrigger("ep", PARAMS, poll_interval=0.01, expected_config=expected)
    trigger.make_hook = lambda: hook  # type: ignore[method-assign]
    return trigger


def run_trigger(trigger: EndpointTrigger) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), 30))


def scripted(*steps: dict[str, Any] | Exception) -> tuple[FakeSageMaker, TFSageMakerHook]:
    fake = FakeSageMaker()
    fake.endpoint_script = list(steps)
    return fake, hook_on(fake)


def test_serialize_round_trip_is_plain_json() -> None:
    trigger = EndpointTrigger("ep", PARAMS, poll_interval=5, expected_config="cfg")
    path, kwargs = trigger.serialize()
    assert path == "airflow_tf_sm.hosting.trigger.EndpointTrigger"
    rebuilt = EndpointTrigger(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (path, kwargs)
    assert kwargs["expected_config"] == "cfg" and kwargs["poll_interval"] == 5.0


def test_triggers_serialized_under_the_old_path_still_load() -> None:
    """A task deferred before the slices existed resumes: the triggerer imports the old class path."""
    import importlib

    old = importlib.import_module("airflow_tf_sm.triggers")
    assert old.EndpointTrigger is EndpointTrigger
    assert old.TrainingJobTrigger.__module__ == "airflow_tf_sm.training.trigger"


def test_one_success_event_after_creating() -> None:
    fake, hook = scripted(
        endpoint_desc("ep", "cfg-2", "Creating"),
        endpoint_desc("ep", "cfg-2", "Creating"),
        endpoint_desc("ep", "cfg-2", "InService"),
    )
    events = run_trigger(trigger_on(hook))
    assert events == [
        {
            "status": "success",
            "endpoint_name": "ep",
            "endpoint_status": "InService",
            "endpoint_config_name": "cfg-2",
            "expected_config": "cfg-2",
            "failure_reason": None,
            "rolled_back": False,
        }
    ]
    assert fake.calls.count("describe_endpoint") == 3


def test_rolled_back_update_is_a_failed_event() -> None:
    _, hook = scripted(
        endpoint_desc("ep", "cfg-1", "Updating"),
        endpoint_desc("ep", "cfg-1", "RollingBack"),
        endpoint_desc("ep", "cfg-1", "InService", FailureReason="container did not pass ping"),
    )
    (event,) = run_trigger(trigger_on(hook))
    assert event["status"] == "failed" and event["rolled_back"] is True
    assert event["failure_reason"] == "container did not pass ping"


def test_failed_endpoint_event_carries_the_reason() -> None:
    _, hook = scripted(endpoint_desc("ep", "cfg-2", "Failed", FailureReason="model.tar.gz not found"))
    (event,) = run_trigger(trigger_on(hook, expected=None))
    assert (event["status"], event["endpoint_status"], event["failure_reason"]) == (
        "failed",
        "Failed",
        "model.tar.gz not found",
    )


def test_throttling_never_ends_the_wait_and_a_missing_endpoint_is_an_error_event() -> None:
    _, hook = scripted(
        client_error("ThrottlingException", operation="DescribeEndpoint"),
        endpoint_desc("ep", "cfg-2", "InService"),
    )
    hook.retry_attempts = 1
    assert run_trigger(trigger_on(hook))[0]["status"] == "success"
    _, gone = scripted(client_error("ValidationException", "Could not find endpoint", "DescribeEndpoint"))
    (event,) = run_trigger(trigger_on(gone))
    assert event["status"] == "error" and event["error_code"] == "ValidationException"
    assert event["endpoint_name"] == "ep"


def test_result_from_event_re_describes() -> None:
    fake = FakeSageMaker()
    hook = hook_on(fake)
    fake.endpoints["ep"] = endpoint_desc("ep", "cfg-2")
    fake.configs["cfg-2"] = {"ProductionVariants": [{"ModelName": "m-2"}]}
    fake.models["m-2"] = {"PrimaryContainer": {"ModelDataUrl": "s3://b/m2.tar.gz"}}
    event = {"status": "success", "endpoint_name": "ep", "expected_config": "cfg-2"}
    result = hook.hosting.result_from_event(event)
    assert (result["model_name"], result["model_data"], result["status"]) == ("m-2", "s3://b/m2.tar.gz", "InService")
    # a stale "success" cannot hide a rollback: the endpoint is described again
    fake.endpoints["ep"] = endpoint_desc("ep", "cfg-1")
    with pytest.raises(EndpointFailedError, match="rolled back"):
        hook.hosting.result_from_event(event)
    with pytest.raises(TFSageMakerError, match="no usable event"):
        hook.hosting.result_from_event(None)


# -------------------------------------------------------------------- sensor
def sensor_on(hook: TFSageMakerHook, **kwargs: Any) -> EndpointSensor:
    sensor = EndpointSensor(task_id="wait", endpoint_name="ep", poke_interval=0.01, timeout=60, **kwargs)
    sensor._hook = hook
    return sensor


def test_sensor_pokes_until_in_service() -> None:
    fake = FakeSageMaker()
    hook = hook_on(fake)
    fake.endpoints["ep"] = endpoint_desc("ep", "cfg", "Creating")
    sensor = sensor_on(hook)
    assert sensor.poke({}) is False  # type: ignore[arg-type]
    fake.settle("ep")
    done = sensor.poke({})  # type: ignore[arg-type]
    assert done.is_done and done.xcom_value["endpoint_name"] == "ep"  # type: ignore[union-attr]
    fake.settle("ep", "OutOfService")
    with pytest.raises(EndpointFailedError, match="OutOfService"):
        sensor.poke({})  # type: ignore[arg-type]


def test_deferrable_sensor_defers_while_creating_and_returns_at_once_when_in_service() -> None:
    from airflow_tf_sm.compat import task_deferred

    TaskDeferred = task_deferred()

    fake = FakeSageMaker()
    hook = hook_on(fake)
    fake.endpoints["ep"] = endpoint_desc("ep", "cfg", "Creating")
    sensor = sensor_on(hook, deferrable=True)
    ti = FakeTI()
    with pytest.raises(TaskDeferred) as info:
        sensor.execute({"ti": ti})  # type: ignore[arg-type]
    assert isinstance(info.value.trigger, EndpointTrigger) and info.value.trigger.expected_config is None
    assert sensor.link_target == ("ep", "us-east-1")
    fake.settle("ep")
    assert sensor.execute({"ti": ti})["status"] == "InService"  # type: ignore[arg-type]
    assert sensor.execute_complete({}, {"status": "success", "endpoint_name": "ep"})["status"] == "InService"

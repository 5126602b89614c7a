"""The one wait state machine: intervals, status lines, outcomes and events, for every resource family."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_tf_sm.sagemaker.resources import ENDPOINT, TRAINING_JOB
from airflow_tf_sm.waiting import Backoff, WaitTimeoutError, Watch, wait_blocking


def test_the_configured_interval_is_a_ceiling_not_a_fixed_sleep() -> None:
    backoff = Backoff(30.0)
    assert [backoff.next() for _ in range(8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    backoff.reset()
    assert backoff.next() == 1.0
    assert [Backoff(0.5).next() for _ in range(2)] == [0.5, 0.5]  # shorter than a second: that one
    fixed = Backoff(10.0, start=10.0)
    assert [fixed.next() for _ in range(3)] == [10.0, 10.0, 10.0]
    with pytest.raises(ValueError, match="poll_interval"):
        Backoff(0)


def test_the_local_backend_caps_waits_at_a_second(local_root: Path) -> None:
    from airflow_tf_sm.hook import TFSageMakerHook

    local = TFSageMakerHook(backend="local", local_root=str(local_root))
    assert [local.backoff(30.0).next() for _ in range(1)] == [1.0]
    capped = local.backoff(30.0)
    assert [capped.next() for _ in range(4)] == [1.0, 1.0, 1.0, 1.0]
    aws = TFSageMakerHook(aws_conn_id=None, backend="sagemaker", region_name="us-east-1")
    grows = aws.backoff(30.0)
    assert [grows.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]


def training(status: str, secondary: str, **extra: Any) -> dict[str, Any]:
    return {"TrainingJobName": "j", "TrainingJobStatus": status, "SecondaryStatus": secondary, **extra}


def test_a_blocking_wait_logs_each_status_once_and_sleeps_the_backoff() -> None:
    script = [training("InProgress", "Starting")] * 2 + [training("InProgress", "Training")] * 3
    script.append(training("Completed", "Completed", BillableTimeInSeconds=12))
    descs = iter(script)
    slept: list[float] = []
    logged: list[str] = []
    final = wait_blocking(
        Watch(TRAINING_JOB, "j"),
        lambda: next(descs),
        interval=Backoff(30.0),
        emit=lambda level, line: logged.append(line),
        sleep=slept.append,
    )
    assert final["TrainingJobStatus"] == "Completed"
    assert slept == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert logged == [
        "Training job j: InProgress - Starting",
        "Training job j: InProgress - Training",
        "Training job j: Completed - Completed; billable seconds: 12",
    ]


def test_a_blocking_wait_has_a_limit() -> None:
    clock = iter(range(0, 1000, 10))
    watch = Watch(TRAINING_JOB, "j")
    import airflow_tf_sm.waiting as waiting

    original = waiting.time.monotonic
    waiting.time.monotonic = lambda: float(next(clock))  # type: ignore[assignment]
    try:
        with pytest.raises(WaitTimeoutError, match="still InProgress after 25 s"):
            wait_blocking(
                watch,
                lambda: training("InProgress", "Training"),
                interval=Backoff(1.0),
                timeout=25,
                emit=lambda level, line: None,
                sleep=lambda s: None,
            )
    finally:
        waiting.time.monotonic = original  # type: ignore[assignment]


def test_an_endpoint_update_rolled_back_is_a_failure() -> None:
    watch = Watch(ENDPOINT, "ep", expected_config="new")
    step = watch.observe({"EndpointName": "ep", "EndpointStatus": "InService", "EndpointConfigName": "old"})
    assert step.done and not step.ok
    event = watch.event(step.desc)
    assert event == {
        "status": "failed",
        "endpoint_name": "ep",
        "endpoint_status": "InService",
        "failure_reason": None,
        "endpoint_config_name": "old",
        "expected_config": "new",
        "rolled_back": True,
    }


def test_a_failed_training_job_gives_a_failed_event_with_its_reason() -> None:
    watch = Watch(TRAINING_JOB, "j")
    step = watch.observe(training("Failed", "Failed", FailureReason="AlgorithmError: boom"))
    assert step.done and not step.ok
    assert watch.event(step.desc, log_tail=[]) == {
        "status": "failed",
        "job_name": "j",
        "training_job_status": "Failed",
        "failure_reason": "AlgorithmError: boom",
        "secondary_status": "Failed",
        "log_tail": [],
    }


def test_log_lines_come_before_the_final_status_each_once_at_their_level() -> None:
    import logging

    descs = iter(
        [training("InProgress", "Training"), training("Failed", "Failed", FailureReason="AlgorithmError: boom")]
    )
    batches = iter(
        [
            [(logging.INFO, "epoch=1")],
            [(logging.ERROR, "Traceback (most recent call last):")],
            [(logging.ERROR, "ValueError: x")],
        ]
    )
    written: list[tuple[int, str]] = []
    wait_blocking(
        Watch(TRAINING_JOB, "j"),
        lambda: next(descs),
        interval=Backoff(1.0),
        emit=lambda level, line: written.append((level, line)),
        read_entries=lambda: next(batches),
        sleep=lambda s: None,
    )
    assert written == [
        (logging.INFO, "epoch=1"),
        (logging.INFO, "Training job j: InProgress - Training"),
        (logging.ERROR, "Traceback (most recent call last):"),
        (logging.ERROR, "ValueError: x"),  # read once more after the job ended, still before its status
        (logging.ERROR, "Training job j: Failed - Failed: AlgorithmError: boom"),
    ]


@pytest.mark.parametrize(
    ("line", "stderr", "level"),
    [
        ("epoch=1 loss=0.4", False, 20),
        ("WARNING: the data has no header", False, 30),
        ("W0000 00:00:1796.1 19818 port.cc:153] slow path", True, 30),
        ("I0000 00:00:1796.1 19818 port.cc:153] oneDNN custom operations are on", True, 20),
        ("/x/keras.py:12: UserWarning: Do not pass an input_shape", True, 30),
        ("ERROR: out of data", False, 40),
        ("E0000 00:00:1 19818 op.cc:1] failed", True, 40),
        ("something on stderr", True, 30),
        ("Traceback (most recent call last):", True, 40),
    ],
)
def test_the_level_of_a_job_log_line(line: str, stderr: bool, level: int) -> None:
    from airflow_tf_sm.waiting import line_level

    assert line_level(line, stderr=stderr) == level

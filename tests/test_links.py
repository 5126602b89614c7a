"""Extra links: SageMaker console and CloudWatch logs URLs per partition; nothing for the local backend."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_tf_sm.hosting.operator import TFDeployOperator
from airflow_tf_sm.hosting.sensor import EndpointSensor
from airflow_tf_sm.links import (
    EndpointConsoleLink,
    TrainingJobConsoleLink,
    TrainingJobLogsLink,
    console_base,
    training_job_console_url,
    training_job_logs_url,
)
from airflow_tf_sm.sensors import TrainingJobSensor
from airflow_tf_sm.training.operator import TFTrainingOperator

LOGS_FRAGMENT = "#logsV2:log-groups/log-group/$252Faws$252Fsagemaker$252FTrainingJobs$3FlogStreamNameFilter$3D"


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("us-east-1", "https://console.aws.amazon.com"),
        ("eu-central-2", "https://console.aws.amazon.com"),
        ("cn-north-1", "https://console.amazonaws.cn"),
        ("cn-northwest-1", "https://console.amazonaws.cn"),
        ("us-gov-west-1", "https://console.amazonaws-us-gov.com"),
    ],
)
def test_urls_use_the_console_of_the_region_partition(region: str, host: str) -> None:
    assert console_base(region) == host
    assert training_job_console_url("mnist-7", region) == f"{host}/sagemaker/home?region={region}#/jobs/mnist-7"
    assert training_job_logs_url("mnist-7", region) == (
        f"{host}/cloudwatch/home?region={region}{LOGS_FRAGMENT}mnist-7$252F"
    )


@pytest.mark.parametrize("region", ["us-iso-east-1", "not a region", ""])
def test_regions_without_a_known_console_get_no_link(region: str) -> None:
    assert training_job_console_url("mnist-7", region) == ""
    assert training_job_logs_url("mnist-7", region) == ""


def test_no_job_name_no_link() -> None:
    assert training_job_console_url("", "us-east-1") == ""
    assert training_job_logs_url("", "us-east-1") == ""


TI_KEY = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (TrainingJobConsoleLink(), "https://console.amazonaws.cn/sagemaker/home?region=cn-north-1#/jobs/j-1"),
        (
            TrainingJobLogsLink(),
            f"https://console.amazonaws.cn/cloudwatch/home?region=cn-north-1{LOGS_FRAGMENT}j-1$252F",
        ),
        (EndpointConsoleLink(), "https://console.amazonaws.cn/sagemaker/home?region=cn-north-1#/endpoints/j-1"),
    ],
)
def test_get_link_points_at_the_resource_the_task_remembered(link: Any, expected: str) -> None:
    task = SimpleNamespace(link_target=("j-1", "cn-north-1"))
    assert link.get_link(operator=task, ti_key=TI_KEY) == expected


@pytest.mark.parametrize("link", [TrainingJobConsoleLink(), TrainingJobLogsLink(), EndpointConsoleLink()])
def test_a_task_that_never_reached_its_resource_has_no_link(link: Any) -> None:
    # no XCom is read: Airflow asks every link when a task ends, also one that failed validation
    assert link.get_link(operator=SimpleNamespace(link_target=None), ti_key=TI_KEY) == ""


def test_links_of_each_task_on_the_aws_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__BACKEND", "sagemaker")
    console, logs = TrainingJobConsoleLink(), TrainingJobLogsLink()
    assert console.name != logs.name and console.xcom_key != logs.xcom_key
    kinds = {
        TFTrainingOperator: {TrainingJobConsoleLink, TrainingJobLogsLink},
        TrainingJobSensor: {TrainingJobConsoleLink, TrainingJobLogsLink},
        TFDeployOperator: {EndpointConsoleLink},
        EndpointSensor: {EndpointConsoleLink},
    }
    for cls, expected in kinds.items():
        assert {type(link) for link in cls.resource_links} == expected
    sensor = TrainingJobSensor(task_id="s", job_name="j")
    assert {type(link) for link in sensor.operator_extra_links} == {TrainingJobConsoleLink, TrainingJobLogsLink}


def test_tasks_on_the_local_backend_have_no_links(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__BACKEND", "sagemaker")
    assert TrainingJobSensor(task_id="s", job_name="j", backend="local").operator_extra_links == ()
    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__BACKEND", "local")
    assert EndpointSensor(task_id="e", endpoint_name="ep").operator_extra_links == ()
    assert len(EndpointSensor(task_id="e2", endpoint_name="ep", backend="sagemaker").operator_extra_links) == 1


def test_a_task_failing_validation_logs_no_link_errors(airflow_db: Any, capfd: pytest.CaptureFixture[str]) -> None:
    from tests.training.test_operator import load_dag

    dags = Path(__file__).resolve().parent / "dags"
    dag = load_dag(dags / "tf_sm_links_test_dags.py", "tf_sm_test_links_bad_input")
    run = dag.test()
    out = "".join(capfd.readouterr())
    assert run.state == "failed"
    assert "missing.py" in out  # the validation error itself is logged
    assert "XCom not found" not in out and "Failed to push an xcom" not in out

"""Extra links: SageMaker console and CloudWatch logs URLs per partition; nothing for the local backend."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_tf_sm.links import (
    LINK_XCOM_KEY,
    TrainingJobConsoleLink,
    TrainingJobLogsLink,
    console_base,
    persist_training_job_link,
    training_job_console_url,
    training_job_logs_url,
)
from airflow_tf_sm.sensors import TrainingJobSensor

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


def test_persist_pushes_a_small_xcom_value() -> None:
    pushed: dict[str, Any] = {}
    ti = SimpleNamespace(xcom_push=lambda key, value: pushed.update({key: value}))
    persist_training_job_link({"ti": ti}, "mnist-7", "eu-west-1", "sagemaker")
    assert pushed == {LINK_XCOM_KEY: {"job_name": "mnist-7", "region": "eu-west-1", "backend": "sagemaker"}}


@pytest.fixture
def stored_xcom(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """XCom.get_value answering from a dict (key -> value); records the task instance keys asked for."""
    from airflow.sdk.execution_time.xcom import XCom

    store: dict[str, Any] = {"asked": []}

    def get_value(*, ti_key: Any, key: str) -> Any:
        store["asked"].append((ti_key, key))
        return store.get(key)

    monkeypatch.setattr(XCom, "get_value", staticmethod(get_value))
    return store


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (TrainingJobConsoleLink(), "https://console.amazonaws.cn/sagemaker/home?region=cn-north-1#/jobs/j-1"),
        (
            TrainingJobLogsLink(),
            f"https://console.amazonaws.cn/cloudwatch/home?region=cn-north-1{LOGS_FRAGMENT}j-1$252F",
        ),
    ],
)
def test_get_link_reads_the_persisted_value(stored_xcom: dict[str, Any], link: Any, expected: str) -> None:
    stored_xcom[LINK_XCOM_KEY] = {"job_name": "j-1", "region": "cn-north-1", "backend": "sagemaker"}
    ti_key = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)
    assert link.get_link(operator=None, ti_key=ti_key) == expected
    assert stored_xcom["asked"] == [(ti_key, LINK_XCOM_KEY)]


@pytest.mark.parametrize("link", [TrainingJobConsoleLink(), TrainingJobLogsLink()])
def test_local_backend_and_missing_values_give_no_link(stored_xcom: dict[str, Any], link: Any) -> None:
    ti_key = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)
    assert link.get_link(operator=None, ti_key=ti_key) == ""  # nothing persisted
    stored_xcom[LINK_XCOM_KEY] = {"job_name": "j-1", "region": "us-east-1", "backend": "local"}
    assert link.get_link(operator=None, ti_key=ti_key) == ""


def test_links_have_distinct_names_and_xcom_keys_and_are_on_the_sensor() -> None:
    console, logs = TrainingJobConsoleLink(), TrainingJobLogsLink()
    assert console.name != logs.name
    assert console.xcom_key != logs.xcom_key
    sensor_links = {type(link) for link in TrainingJobSensor.operator_extra_links}
    assert sensor_links == {TrainingJobConsoleLink, TrainingJobLogsLink}

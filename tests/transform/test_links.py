"""The transform job's console link: one URL per partition, nothing for the local backend."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_tf_sm.links import (
    TRANSFORM_LINK_XCOM_KEY,
    TransformJobConsoleLink,
    persist_transform_job_link,
    transform_job_console_url,
)
from airflow_tf_sm.transform.operator import TFBatchTransformOperator
from airflow_tf_sm.transform.sensor import TransformJobSensor
from tests.test_links import stored_xcom  # noqa: F401 - the fixture


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("us-east-1", "https://console.aws.amazon.com"),
        ("cn-north-1", "https://console.amazonaws.cn"),
        ("us-gov-west-1", "https://console.amazonaws-us-gov.com"),
    ],
)
def test_console_url_of_each_partition(region: str, host: str) -> None:
    assert (
        transform_job_console_url("score-7", region) == f"{host}/sagemaker/home?region={region}#/transform-jobs/score-7"
    )


def test_no_console_no_name_no_link() -> None:
    assert transform_job_console_url("score-7", "us-iso-east-1") == ""
    assert transform_job_console_url("", "us-east-1") == ""


def test_the_link_reads_the_persisted_value(stored_xcom: dict[str, Any]) -> None:  # noqa: F811
    ti_key = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)
    link = TransformJobConsoleLink()
    assert link.get_link(operator=None, ti_key=ti_key) == ""  # nothing persisted
    pushed: dict[str, Any] = {}
    persist_transform_job_link(
        {"ti": SimpleNamespace(xcom_push=lambda key, value: pushed.update({key: value}))},
        "score-7",
        "eu-west-1",
        "sagemaker",
    )
    stored_xcom.update(pushed)
    assert link.get_link(operator=None, ti_key=ti_key) == (
        "https://console.aws.amazon.com/sagemaker/home?region=eu-west-1#/transform-jobs/score-7"
    )
    stored_xcom[TRANSFORM_LINK_XCOM_KEY] = {"job_name": "score-7", "region": "eu-west-1", "backend": "local"}
    assert link.get_link(operator=None, ti_key=ti_key) == ""


def test_operator_and_sensor_carry_the_link() -> None:
    assert [type(link) for link in TFBatchTransformOperator.operator_extra_links] == [TransformJobConsoleLink]
    assert [type(link) for link in TransformJobSensor.operator_extra_links] == [TransformJobConsoleLink]

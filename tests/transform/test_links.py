"""The transform job's console link: one URL per partition, nothing for the local backend."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_tf_sm.links import TransformJobConsoleLink, transform_job_console_url
from airflow_tf_sm.transform.operator import TFBatchTransformOperator
from airflow_tf_sm.transform.sensor import TransformJobSensor


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


def test_the_link_points_at_the_job_the_task_remembered() -> None:
    ti_key = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)
    link = TransformJobConsoleLink()
    assert link.get_link(operator=SimpleNamespace(link_target=None), ti_key=ti_key) == ""  # never reached its job
    assert link.get_link(operator=SimpleNamespace(link_target=("score-7", "eu-west-1")), ti_key=ti_key) == (
        "https://console.aws.amazon.com/sagemaker/home?region=eu-west-1#/transform-jobs/score-7"
    )


def test_operator_and_sensor_carry_the_link_on_aws_only() -> None:
    assert [type(link) for link in TFBatchTransformOperator.resource_links] == [TransformJobConsoleLink]
    sensor = TransformJobSensor(task_id="s", transform_job_name="j", backend="sagemaker")
    assert [type(link) for link in sensor.operator_extra_links] == [TransformJobConsoleLink]
    assert TransformJobSensor(task_id="l", transform_job_name="j", backend="local").operator_extra_links == ()

"""Test-only DAG: a training task on the AWS backend that fails validation before it reaches AWS."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_tf_sm import TFTrainingOperator

with DAG(
    dag_id="tf_sm_test_links_bad_input",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
):
    TFTrainingOperator(
        task_id="train",
        entry_point="missing.py",  # not in source_dir: the task fails before any AWS call
        source_dir="mapped_code",
        output_path="s3://links-tests/models",
        backend="sagemaker",
        aws_conn_id=None,
        region_name="us-east-1",
    )

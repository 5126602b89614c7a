"""Test-only DAGs: mapped training tasks (``partial().expand()``) on a script without TensorFlow."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_tf_sm import TFTrainingOperator

COMMON = {"schedule": None, "start_date": pendulum.datetime(2025, 1, 1, tz="UTC"), "catchup": False}
PARTIAL = {
    "entry_point": "train.py",
    "source_dir": "mapped_code",
    "output_path": "s3://mapped-tests/models",
    "metric_definitions": [{"Name": "score", "Regex": r"score=([0-9.]+)"}],
    "poll_interval": 0.5,
}
SWEEP = [{"lr": 0.1}, {"lr": 0.01}, {"lr": 0.001}]

with DAG(dag_id="tf_sm_test_mapped_hyperparameters", **COMMON):
    TFTrainingOperator.partial(task_id="train", inputs="s3://mapped-tests/data", **PARTIAL).expand(
        hyperparameters=SWEEP
    )

with DAG(dag_id="tf_sm_test_mapped_product", **COMMON):
    TFTrainingOperator.partial(task_id="train", **PARTIAL).expand(instance_type=["ml.m5.large"], hyperparameters=SWEEP)

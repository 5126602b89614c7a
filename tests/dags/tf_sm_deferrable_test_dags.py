"""Test-only DAGs: deferrable training that succeeds, and one whose script fails."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param
from tf_sm_example.tasks import generate_data

from airflow_tf_sm import TFTrainingOperator

COMMON = {
    "schedule": None,
    "start_date": pendulum.datetime(2025, 1, 1, tz="UTC"),
    "catchup": False,
    "render_template_as_native_obj": True,
    "params": {"bucket": Param("s3://deferred-tests"), "epochs": Param(12, type="integer")},
}


def training_task(**kwargs: object) -> TFTrainingOperator:
    """The example script on this run's data, deferrable."""
    return TFTrainingOperator(
        task_id="train",
        entry_point="train.py",
        source_dir="../../dags_examples/tf_sm_example/code",
        inputs={"train": "{{ params.bucket }}/data/{{ ds }}/train", "test": "{{ params.bucket }}/data/{{ ds }}/test"},
        output_path="{{ params.bucket }}/models",
        metric_definitions=[{"Name": "val_accuracy", "Regex": r"val_accuracy=([0-9.]+)"}],
        deferrable=True,
        poll_interval=1,
        **kwargs,
    )


with DAG(dag_id="tf_sm_test_deferred_ok", **COMMON):
    generate_data() >> training_task(hyperparameters={"epochs": "{{ params.epochs }}", "batch-size": 32})

with DAG(dag_id="tf_sm_test_deferred_fail", **COMMON):
    # epochs 0 is refused by the script itself: the job fails with the script's reason
    generate_data() >> training_task(hyperparameters={"epochs": 0})

"""Example: the training job described in a Jinja-templated YAML file next to the DAG.

``tf_sm_example/job.yaml.j2`` holds every setting; the operator only names it. The hook renders it with
the task context and validates the result before anything is submitted; the rendered settings show
in the task's "Rendered Template" view.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG
from tf_sm_example import form
from tf_sm_example.tasks import generate_data

from airflow_tf_sm import TFTrainingOperator

# A retry re-attaches to the job of the failed try (or reuses its result): it never trains twice.
# One retry also covers a known Airflow 3.3 race that can fail a deferred task whose trigger fires
# within a second or two of deferring (apache/airflow#66374, #72716).
RETRY_SAFE = {"retries": 1, "retry_delay": dt.timedelta(seconds=10)}

with DAG(
    dag_id="tf_sm_config_file",
    description="Training settings from a templated YAML file",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args=RETRY_SAFE,
    tags=["airflow_tf_sm", "example"],
    params={
        "epochs": form.epochs(5),
        "instance_type": form.instance_type(),
        "bucket": form.bucket(),
    },
) as dag:
    train = TFTrainingOperator(task_id="train", config="tf_sm_example/job.yaml.j2", poll_interval=2)
    generate_data() >> train

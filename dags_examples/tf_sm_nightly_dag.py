"""Example (story 1): nightly retrain, deploy only when the new model beats a threshold.

Every day: write that day's data under ``<bucket>/data/{{ ds }}/``, train on it (deferrable: the wait
holds no worker slot) under the deterministic name ``tf-sm-nightly-<yyyymmdd>`` (a backfill or a
re-run of a date finds that date's job instead of training twice), then deploy it to the one
long-lived endpoint ``tf-sm-nightly`` -- but only when its ``val_accuracy`` beats ``min_val_accuracy``:
otherwise the deploy task is skipped and the endpoint keeps serving yesterday's model. Re-running a
date that was already deployed changes nothing; a new day's model updates the endpoint in place.

Story 10: the training task's outlet is the asset ``tf_sm_nightly_model`` (``tf_sm_example/assets.py``).
Each Completed training emits an event carrying the task's result (job name, model URI, metrics); the
DAG ``tf_sm_approved_deploy`` (``tf_sm_approval_dag.py``) is scheduled on it and deploys a candidate to
its own endpoint only after a person approved it.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG, Param
from tf_sm_example import form
from tf_sm_example.assets import NIGHTLY_MODEL
from tf_sm_example.tasks import DATA_DATE, DATA_DATE_NODASH, generate_data

from airflow_tf_sm import TFDeployOperator, TFTrainingOperator

DATA = "{{ params.bucket }}/data/" + DATA_DATE  # the logical date, or run_after for runs without one

# A retry re-attaches to the job of the failed try (or reuses its result): it never trains twice.
# One retry also covers a known Airflow 3.3 race that can fail a deferred task whose trigger fires
# within a second or two of deferring (apache/airflow#66374, #72716).
RETRY_SAFE = {"retries": 1, "retry_delay": dt.timedelta(seconds=10)}

with DAG(
    dag_id="tf_sm_nightly",
    description="Nightly retrain; deploy when the new model beats the threshold",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args=RETRY_SAFE,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["airflow_tf_sm", "example"],
    params={
        "epochs": form.epochs(10),
        "bucket": form.bucket(),
        "min_val_accuracy": Param(
            0.9,
            type="number",
            minimum=0,
            maximum=1,
            title="Deploy threshold",
            description="Deploy only a model whose val_accuracy is at least this (0-1)",
        ),
    },
) as dag:
    train = TFTrainingOperator(
        task_id="train",
        job_name="tf-sm-nightly-" + DATA_DATE_NODASH,
        entry_point="train.py",
        source_dir="tf_sm_example/code",
        framework_version="2.19.0",
        hyperparameters={"epochs": "{{ params.epochs }}"},
        inputs={
            "train": f"{DATA}/train",
            "test": f"{DATA}/test",
        },
        output_path="{{ params.bucket }}/models",
        metric_definitions=[{"Name": "val_accuracy", "Regex": r"val_accuracy=([0-9.]+)"}],
        deferrable=True,
        poll_interval=2,
        outlets=[NIGHTLY_MODEL],  # the event's extra: this task's result
    )
    deploy = TFDeployOperator(
        task_id="deploy",
        training_job_name=train.output["job_name"],
        endpoint_name="tf-sm-nightly",
        require_metrics={"val_accuracy": "> {{ params.min_val_accuracy }}"},
        on_gate_failure="skip",
        deferrable=True,
        poll_interval=2,
    )
    generate_data() >> train >> deploy

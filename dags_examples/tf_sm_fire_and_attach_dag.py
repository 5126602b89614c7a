"""Example: fire and attach — start a training job, release the worker, attach later.

The SageMaker SDK's ``fit(wait=False)`` then ``TensorFlow.attach(job_name)``, in Airflow terms: the
training task returns as soon as the job is created, with the job name in XCom; a deferrable sensor
picks the name up and waits in the triggerer (holding no worker slot) until the job ends; it returns
the same result as a waiting training task would.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG, task
from tf_sm_example import form
from tf_sm_example.tasks import DATA_DATE, generate_data

from airflow_tf_sm import TFTrainingOperator, TrainingJobSensor

DATA = "{{ params.bucket }}/data/" + DATA_DATE  # the logical date, or run_after for runs without one

# A retry re-attaches to the job of the failed try (or reuses its result): it never trains twice.
# One retry also covers a known Airflow 3.3 race that can fail a deferred task whose trigger fires
# within a second or two of deferring (apache/airflow#66374, #72716).
RETRY_SAFE = {"retries": 1, "retry_delay": dt.timedelta(seconds=10)}

with DAG(
    dag_id="tf_sm_fire_and_attach",
    description="Start a training job, attach to it later with a deferrable sensor",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args=RETRY_SAFE,
    render_template_as_native_obj=True,
    tags=["airflow_tf_sm", "example"],
    params={
        "epochs": form.epochs(10, maximum=500),
        "bucket": form.bucket(),
    },
) as dag:
    start = TFTrainingOperator(
        task_id="start_training",
        entry_point="train.py",
        source_dir="tf_sm_example/code",
        hyperparameters={"epochs": "{{ params.epochs }}"},
        inputs={"train": f"{DATA}/train", "test": f"{DATA}/test"},
        output_path="{{ params.bucket }}/models",
        metric_definitions=[{"Name": "val_accuracy", "Regex": r"val_accuracy=([0-9.]+)"}],
        wait_for_completion=False,
    )
    attach = TrainingJobSensor(
        task_id="attach",
        job_name=start.output["job_name"],
        deferrable=True,
        poke_interval=2,
        timeout=3600,
    )

    @task
    def report(result: dict) -> str:
        """Print what the attached job produced."""
        print(f"Attached to {result['job_name']}: {result['status']}, model {result['model_data']}")
        print(f"Metrics: {result['metrics']}")
        return str(result["model_data"])

    generate_data() >> start
    report(attach.output)

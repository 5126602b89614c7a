"""Example (story 7): a hyperparameter sweep with ``partial().expand()``, pick the best, deploy it.

One mapped training task trains the example model once per learning rate -- three jobs, each with its
own deterministic name (the map index is part of it), so a retry of one of them re-attaches to its own
job. ``pick_best`` reads the three small XCom results and returns the name of the job with the best
``val_accuracy``; the deploy task serves that job's model, the smoke test sends a few rows, the teardown
deletes the endpoint.

Runs unchanged on SageMaker and on this machine (``[airflow_tf_sm] backend = local``).
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG, task
from tf_sm_example import form
from tf_sm_example.tasks import DATA_DATE, generate_data, smoke_test

from airflow_tf_sm import DeleteEndpointOperator, TFDeployOperator, TFTrainingOperator

BUCKET = "{{ params.bucket }}"
DATA = BUCKET + "/data/" + DATA_DATE  # the logical date, or run_after for runs without one
ENDPOINT = "tf-sm-sweep-{{ run_id }}"
LEARNING_RATES = (0.05, 0.01, 0.002)
RETRY_SAFE = {"retries": 1, "retry_delay": dt.timedelta(seconds=10)}

with DAG(
    dag_id="tf_sm_sweep",
    description="Sweep the learning rate with partial().expand(), deploy the best model",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args=RETRY_SAFE,
    tags=["airflow_tf_sm", "example"],
    params={
        "epochs": form.epochs(6, description="Passes over the training data, per job"),
        "bucket": form.bucket(),
    },
) as dag:
    sweep = TFTrainingOperator.partial(
        task_id="sweep",
        entry_point="train.py",
        source_dir="tf_sm_example/code",
        framework_version="2.19.0",
        inputs={"train": DATA + "/train", "test": DATA + "/test"},
        output_path=BUCKET + "/models",
        metric_definitions=[
            {"Name": "val_accuracy", "Regex": r"val_accuracy=([0-9.]+)"},
            {"Name": "val_loss", "Regex": r"val_loss=([0-9.]+)"},
        ],
        max_run=3600,
        poll_interval=2,
        deferrable=True,
    ).expand(hyperparameters=[{"epochs": "{{ params.epochs }}", "learning-rate": lr} for lr in LEARNING_RATES])

    @task
    def pick_best(results: list[dict]) -> str:
        """Return the name of the training job with the best final ``val_accuracy``."""
        ranked = sorted(results, key=lambda r: r["metrics"].get("val_accuracy", float("-inf")), reverse=True)
        for result in ranked:
            print(f"{result['job_name']}: {result['metrics']}")
        print(f"Best: {ranked[0]['job_name']}")
        return str(ranked[0]["job_name"])

    best = pick_best(sweep.output)
    deploy = TFDeployOperator(
        task_id="deploy",
        training_job_name=best,
        endpoint_name=ENDPOINT,
        require_metrics={"val_accuracy": ">= 0.8"},
        poll_interval=2,
        deferrable=True,
    )
    teardown = DeleteEndpointOperator(task_id="delete_endpoint", endpoint_name=ENDPOINT, poll_interval=2)
    generate_data() >> sweep
    smoke_test(deploy.output) >> teardown.as_teardown()

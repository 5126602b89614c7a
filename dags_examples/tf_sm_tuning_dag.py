"""Example (story 8): tune the example model (Bayesian, early stopping), deploy the best training job, smoke-test it.

``TFTuningOperator`` runs one hyperparameter tuning job: 6 training jobs of the example Keras model, 2 at
a time, Bayesian search over the learning rate (log scale), the hidden units and the batch size, early
stopping ``Auto`` (a job whose ``val_accuracy`` falls below the median of the earlier jobs at the same
epoch is stopped). It waits in the triggerer (``deferrable=True``) and returns the best training job,
which ``TFDeployOperator`` serves; the smoke test sends a few rows, the teardown deletes the endpoint.

Runs unchanged on SageMaker and on this machine (``[airflow_tf_sm] backend = local``: real local training
jobs, the search by optuna).
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG
from tf_sm_example import form
from tf_sm_example.tasks import DATA_DATE, generate_data, smoke_test

from airflow_tf_sm import (
    CategoricalParameter,
    ContinuousParameter,
    DeleteEndpointOperator,
    IntegerParameter,
    TFDeployOperator,
    TFTuningOperator,
)

BUCKET = "{{ params.bucket }}"
DATA = BUCKET + "/data/" + DATA_DATE
ENDPOINT = "tf-sm-tuned-{{ run_id }}"

with DAG(
    dag_id="tf_sm_tuning",
    description="Tune the example model (Bayesian, early stopping), deploy the best job",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 1, "retry_delay": dt.timedelta(seconds=10)},
    tags=["airflow_tf_sm", "example"],
    params={
        "epochs": form.epochs(8, description="Epochs of each training job"),
        "bucket": form.bucket(),
    },
) as dag:
    tune = TFTuningOperator(
        task_id="tune",
        job_name="tf-sm-tune-{{ (dag_run.logical_date or dag_run.run_after) | ts_nodash }}",
        entry_point="train.py",
        source_dir="tf_sm_example/code",
        framework_version="2.19.0",
        hyperparameters={"epochs": "{{ params.epochs }}"},
        inputs={"train": DATA + "/train", "test": DATA + "/test"},
        output_path=BUCKET + "/models",
        metric_definitions=[
            {"Name": "val_accuracy", "Regex": r"val_accuracy=([0-9.]+)"},
            {"Name": "val_loss", "Regex": r"val_loss=([0-9.]+)"},
        ],
        max_run=3600,
        objective_metric_name="val_accuracy",
        objective_type="Maximize",
        hyperparameter_ranges={
            "learning-rate": ContinuousParameter(0.001, 0.1, "Logarithmic"),
            "hidden-units": IntegerParameter(16, 96),
            "batch-size": CategoricalParameter([32, 64]),
        },
        strategy="Bayesian",
        max_jobs=6,
        max_parallel_jobs=2,
        early_stopping_type="Auto",
        random_seed=8,
        poll_interval=2,
        deferrable=True,
    )
    deploy = TFDeployOperator(
        task_id="deploy",
        training_job_name=tune.output["best_training_job_name"],
        endpoint_name=ENDPOINT,
        require_metrics={"val_accuracy": ">= 0.8"},
        poll_interval=2,
        deferrable=True,
    )
    teardown = DeleteEndpointOperator(task_id="delete_endpoint", endpoint_name=ENDPOINT, poll_interval=2)
    generate_data() >> tune
    smoke_test(deploy.output) >> teardown.as_teardown()

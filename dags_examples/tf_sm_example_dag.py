"""Example: generate a day's data, train a Keras model with script mode, gate, deploy, smoke-test, tear down.

generate_data -> train (deferrable) -> deploy (only when ``require_metrics`` hold; deferrable) ->
smoke_test (a few test rows through the endpoint, predictions printed) -> delete_endpoint (a teardown:
runs even when something upstream failed). ``report`` prints the training result.

Runs unchanged on SageMaker (``[airflow_tf_sm] backend = sagemaker``, an ``aws`` connection, a bucket
and an execution role) and on this machine (``backend = local``): the local backend keeps ``s3://`` URIs
in a local object store and runs ``code/train.py`` under the SageMaker container contract.

Trigger it from the UI to change epochs, learning rate, batch size or instance type (the trigger form
shows the Params below).
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG, Param, task
from tf_sm_example import form
from tf_sm_example.tasks import DATA_DATE, generate_data, smoke_test

from airflow_tf_sm import DeleteEndpointOperator, TFDeployOperator, TFTrainingOperator

BUCKET = "{{ params.bucket }}"
DATA = BUCKET + "/data/" + DATA_DATE  # the logical date, or run_after for runs without one
# one endpoint per run (sanitized to the SageMaker name rule by both tasks that use it)
ENDPOINT = "tf-sm-example-{{ run_id }}"

# A retry re-attaches to the job of the failed try (or reuses its result): it never trains twice.
# One retry also covers a known Airflow 3.3 race that can fail a deferred task whose trigger fires
# within a second or two of deferring (apache/airflow#66374, #72716).
RETRY_SAFE = {"retries": 1, "retry_delay": dt.timedelta(seconds=10)}

with DAG(
    dag_id="tf_sm_example",
    description="Train a TensorFlow script-mode model on SageMaker or locally",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args=RETRY_SAFE,
    max_active_runs=3,
    render_template_as_native_obj=True,  # "{{ params.epochs }}" renders to the int 10, not "10"
    tags=["airflow_tf_sm", "example"],
    params={
        "epochs": form.epochs(10),
        "learning_rate": Param(
            0.01,
            type="number",
            minimum=0.0001,
            maximum=1,
            title="Learning rate",
            description="Adam's learning rate (0.0001-1)",
        ),
        "batch_size": Param(
            64, type="integer", minimum=1, maximum=4096, title="Batch size", description="Rows per step (1-4096)"
        ),
        "instance_type": form.instance_type(),
        "bucket": form.bucket(),
        "role_arn": Param(
            None,
            type=["null", "string"],
            title="Execution role ARN",
            description="The SageMaker execution role (AWS backend only; empty on the local backend)",
        ),
        "require_metrics": Param(
            {"val_accuracy": ">= 0.9"},
            type="object",
            title="Quality gate",
            description="Metric -> rule checked against the job's final metrics before deploying",
        ),
    },
) as dag:
    train = TFTrainingOperator(
        task_id="train",
        entry_point="train.py",
        source_dir="tf_sm_example/code",
        framework_version="2.19.0",
        instance_type="{{ params.instance_type }}",
        role="{{ params.role_arn }}",
        hyperparameters={
            "epochs": "{{ params.epochs }}",
            "batch-size": "{{ params.batch_size }}",
            "learning-rate": "{{ params.learning_rate }}",
        },
        inputs={"train": DATA + "/train", "test": DATA + "/test"},
        output_path=BUCKET + "/models",
        metric_definitions=[
            {"Name": "val_accuracy", "Regex": r"val_accuracy=([0-9.]+)"},
            {"Name": "val_loss", "Regex": r"val_loss=([0-9.]+)"},
        ],
        max_run=3600,
        poll_interval=2,
        deferrable=True,
    )

    deploy = TFDeployOperator(
        task_id="deploy",
        training_job_name=train.output["job_name"],
        endpoint_name=ENDPOINT,
        require_metrics="{{ params.require_metrics }}",
        instance_type="ml.m5.large",
        poll_interval=2,
        deferrable=True,
    )
    teardown = DeleteEndpointOperator(task_id="delete_endpoint", endpoint_name=ENDPOINT, poll_interval=2)

    @task
    def report(result: dict) -> dict:
        """Print the trained model's location and final metrics."""
        print(f"Training job {result['job_name']} on {result['backend']}: {result['status']}")
        print(f"Model artifact: {result['model_data']}")
        for name, value in sorted(result["metrics"].items()):
            print(f"Final metric {name} = {value:.4f}")
        return result

    generate_data() >> train
    report(train.output)
    smoke_test(deploy.output) >> teardown.as_teardown()

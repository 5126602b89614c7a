"""Example (story 6): distributed training with MultiWorkerMirroredStrategy on 2 instances, then serve.

``instance_count=2`` with ``distribution={"multi_worker_mirrored_strategy": {"enabled": True}}``: SageMaker
starts two instances (``algo-1``, ``algo-2``) and the TensorFlow container gives each a ``TF_CONFIG`` naming
both workers; the script (``tf_sm_distributed/code/train.py``, a custom training loop) trains one model on
both, all-reducing the gradients after every step. Only the chief (``algo-1``) exports the model: SageMaker
uploads ``algo-1``'s model directory as ``model.tar.gz`` -- the other hosts' model directories are dropped.
The deploy task serves that model, the smoke test sends a few rows, the teardown deletes the endpoint.

Runs unchanged on SageMaker and on this machine (``[airflow_tf_sm] backend = local``), where the two
instances are two local processes talking over 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG, Param
from tf_sm_example import form
from tf_sm_example.tasks import DATA_DATE, generate_data, smoke_test

from airflow_tf_sm import DeleteEndpointOperator, TFDeployOperator, TFTrainingOperator

BUCKET = "{{ params.bucket }}"
DATA = BUCKET + "/data/" + DATA_DATE  # the logical date, or run_after for runs without one
ENDPOINT = "tf-sm-distributed-{{ run_id }}"

with DAG(
    dag_id="tf_sm_distributed",
    description="Train on 2 instances with MultiWorkerMirroredStrategy, deploy the chief's model",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 1, "retry_delay": dt.timedelta(seconds=10)},
    tags=["airflow_tf_sm", "example", "distributed"],
    params={
        "epochs": form.epochs(8),
        "instance_count": Param(
            2,
            type="integer",
            minimum=1,
            maximum=8,
            title="Instances (workers)",
            description="Hosts training together with MultiWorkerMirroredStrategy (1-8; local: one process each)",
        ),
        "bucket": form.bucket(),
    },
) as dag:
    train = TFTrainingOperator(
        task_id="train",
        entry_point="train.py",
        source_dir="tf_sm_distributed/code",
        framework_version="2.19.0",
        instance_type="ml.c5.xlarge",
        instance_count="{{ params.instance_count }}",
        distribution={"multi_worker_mirrored_strategy": {"enabled": True}},
        hyperparameters={"epochs": "{{ params.epochs }}", "batch-size": 32, "learning-rate": 0.01},
        inputs={"train": DATA + "/train", "test": DATA + "/test"},
        output_path=BUCKET + "/models",
        metric_definitions=[
            {"Name": "val_accuracy", "Regex": r"final val_accuracy=([0-9.]+)"},
            {"Name": "val_loss", "Regex": r"final val_accuracy=[0-9.]+ val_loss=([0-9.]+)"},
        ],
        max_run=3600,
        poll_interval=2,
        deferrable=True,
    )
    deploy = TFDeployOperator(
        task_id="deploy",
        training_job_name=train.output["job_name"],
        endpoint_name=ENDPOINT,
        require_metrics={"val_accuracy": ">= 0.8"},
        poll_interval=2,
        deferrable=True,
    )
    teardown = DeleteEndpointOperator(task_id="delete_endpoint", endpoint_name=ENDPOINT, poll_interval=2)
    generate_data() >> train
    smoke_test(deploy.output) >> teardown.as_teardown()

"""Test-only DAGs: every operator kind with asset outlets (and aliases), on a script without TensorFlow.

The backend and the local root come from the environment (``AIRFLOW__AIRFLOW_TF_SM__*``).
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, Asset, AssetAlias

from airflow_tf_sm import TFBatchTransformOperator, TFDeployOperator, TFTrainingOperator, TFTuningOperator

BUCKET = "s3://lineage-tests"
COMMON = {"schedule": None, "start_date": pendulum.datetime(2025, 1, 1, tz="UTC"), "catchup": False}
TRAINING = {
    "entry_point": "train.py",
    "source_dir": "lineage_code",
    "inputs": {"train": f"{BUCKET}/data/train"},
    "output_path": f"{BUCKET}/models",
    "metric_definitions": [{"Name": "score", "Regex": r"score=([-0-9.]+)"}],
    "poll_interval": 0.3,
}
MODEL = Asset("s3://lineage-tests/candidate-model")
MODELS = AssetAlias("lineage-models")
TUNED = Asset("s3://lineage-tests/tuned-model")
TUNED_MODELS = AssetAlias("lineage-tuned-models")
ENDPOINT = Asset("lineage-endpoint")
SCORES = Asset("s3://lineage-tests/scores")
SCORE_OUTPUTS = AssetAlias("lineage-score-outputs")

with DAG(dag_id="tf_sm_test_lineage_assets", **COMMON):
    train = TFTrainingOperator(
        task_id="train", hyperparameters={"learning-rate": 0.01}, deferrable=True, outlets=[MODEL, MODELS], **TRAINING
    )
    tune = TFTuningOperator(
        task_id="tune",
        objective_metric_name="score",
        hyperparameter_ranges={"learning-rate": {"type": "categorical", "values": ["0.01", "0.02"]}},
        strategy="Grid",
        max_parallel_jobs=2,
        outlets=[TUNED, TUNED_MODELS],
        **TRAINING,
    )
    deploy = TFDeployOperator(
        task_id="deploy",
        training_job_name=train.output["job_name"],
        endpoint_name="lineage-ep",
        require_metrics={"score": ">= 0.5"},
        poll_interval=0.3,
        outlets=[ENDPOINT],
    )
    transform = TFBatchTransformOperator(
        task_id="score",
        training_job_name=train.output["job_name"],
        data=f"{BUCKET}/data/score/",
        output_path=f"{BUCKET}/scores/out",
        content_type="text/csv",
        split_type="Line",
        accept="text/csv",
        assemble_with="Line",
        poll_interval=0.3,
        deferrable=True,
        outlets=[SCORES, SCORE_OUTPUTS],
    )
    train >> [deploy, transform]

with DAG(dag_id="tf_sm_test_lineage_no_events", **COMMON):
    good = TFTrainingOperator(task_id="train", hyperparameters={"learning-rate": 0.01}, **TRAINING)
    TFDeployOperator(
        task_id="gated",
        training_job_name=good.output["job_name"],
        endpoint_name="lineage-gated",
        require_metrics={"score": ">= 2"},
        on_gate_failure="skip",
        outlets=[Asset("lineage-gated-endpoint")],
    )
    TFTrainingOperator(
        task_id="train_fails",
        hyperparameters={"fail": 1},
        outlets=[Asset("s3://lineage-tests/failed-model"), AssetAlias("lineage-failed-models")],
        **TRAINING,
    )

# OpenLineage in a real run: every kind, a secret hyperparameter (from the environment, so the DAG file's
# source does not hold it), and a training job that fails.
SECRET = os.environ.get("LINEAGE_TEST_SECRET", "not-set")
with DAG(dag_id="tf_sm_test_lineage_openlineage", **COMMON):
    trained = TFTrainingOperator(
        task_id="train", hyperparameters={"learning-rate": 0.01, "db_pass": SECRET}, **TRAINING
    )
    TFTuningOperator(
        task_id="tune",
        objective_metric_name="score",
        hyperparameters={"db_pass": SECRET},
        hyperparameter_ranges={"learning-rate": {"type": "categorical", "values": ["0.01", "0.02"]}},
        strategy="Grid",
        max_parallel_jobs=2,
        **TRAINING,
    )
    trained >> [
        TFDeployOperator(
            task_id="deploy",
            training_job_name=trained.output["job_name"],
            endpoint_name="lineage-ol-ep",
            poll_interval=0.3,
        ),
        TFBatchTransformOperator(
            task_id="score",
            training_job_name=trained.output["job_name"],
            data=f"{BUCKET}/data/score/",
            output_path=f"{BUCKET}/scores/ol",
            content_type="text/csv",
            split_type="Line",
            poll_interval=0.3,
        ),
    ]
    TFTrainingOperator(task_id="train_fails", hyperparameters={"fail": 1, "db_pass": SECRET}, **TRAINING)

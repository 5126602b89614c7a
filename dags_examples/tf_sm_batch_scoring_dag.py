"""Example (story 9): every night, score the day's CSV with the last model that passed the gate.

Every day: retrain on that day's data (``tf-sm-scoring-<yyyymmdd>``, deferrable), then pick the newest
training job of this DAG whose ``val_accuracy`` passes ``min_val_accuracy`` -- today's, or an earlier
day's when today's training failed or missed the gate -- and score the day's rows with it in a batch
transform job (``TFBatchTransformOperator``, deferrable). The rows arrive as ``<id>,f0,...,f7`` lines
under ``<bucket>/score/<date>/``; the model sees the features only (``input_filter="$[1:]"``), each
prediction is joined with its input row (``join_source="Input"``) and the output keeps the id and the
three class probabilities (``output_filter="$[0,-3,-2,-1]"``), in input order, in
``<bucket>/scores/<date>/rows.csv.out``.

The model is created once per training job, under the same name a deploy of that job would use; the
transform job's name is fixed per date, so re-running a date (or a retry) reuses its Completed job
instead of scoring twice. Runs unchanged on SageMaker and on the local backend.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG, Param
from tf_sm_example import form
from tf_sm_example.scoring import last_good_model, report, write_scoring_data
from tf_sm_example.tasks import DATA_DATE, DATA_DATE_NODASH, generate_data

from airflow_tf_sm import TFBatchTransformOperator, TFTrainingOperator

# A retry re-attaches to the job of the failed try (or reuses its result): it never trains or scores twice.
RETRY_SAFE = {"retries": 1, "retry_delay": dt.timedelta(seconds=10)}

with DAG(
    dag_id="tf_sm_batch_scoring",
    description="Nightly batch scoring of the day's CSV with the last model that passed the gate",
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
            title="Gate: minimum val_accuracy",
            description="A model scores only if its val_accuracy is at least this (0-1); else the last good one does",
        ),
    },
) as dag:
    train = TFTrainingOperator(
        task_id="train",
        job_name="tf-sm-scoring-" + DATA_DATE_NODASH,
        entry_point="train.py",
        source_dir="tf_sm_example/code",
        framework_version="2.19.0",
        hyperparameters={"epochs": "{{ params.epochs }}"},
        inputs={
            "train": "{{ params.bucket }}/data/" + DATA_DATE + "/train",
            "test": "{{ params.bucket }}/data/" + DATA_DATE + "/test",
        },
        output_path="{{ params.bucket }}/models",
        metric_definitions=[{"Name": "val_accuracy", "Regex": r"val_accuracy=([0-9.]+)"}],
        deferrable=True,
        poll_interval=2,
    )
    model = last_good_model()
    score = TFBatchTransformOperator(
        task_id="score",
        training_job_name=model,
        job_name="tf-sm-scores-" + DATA_DATE_NODASH,
        data="{{ params.bucket }}/score/" + DATA_DATE + "/",
        output_path="{{ params.bucket }}/scores/" + DATA_DATE,
        content_type="text/csv",
        split_type="Line",
        strategy="MultiRecord",
        assemble_with="Line",
        accept="text/csv",
        max_payload=6,
        max_concurrent_transforms=2,
        input_filter="$[1:]",
        join_source="Input",
        output_filter="$[0,-3,-2,-1]",
        deferrable=True,
        poll_interval=2,
    )
    generate_data() >> train >> model
    write_scoring_data() >> score
    report(score.output)

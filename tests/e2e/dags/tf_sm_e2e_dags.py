"""DAGs for the end-to-end tests: a scheduled DAG with catchup, a backfill target and drill targets.

They train ``e2e_code/train.py`` (standard library only, seconds per job) on the local backend, so the
suite exercises Airflow's scheduling, deferral and retries rather than TensorFlow.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task
from tf_sm_example.tasks import generate_data

from airflow_tf_sm import TFTrainingOperator

BUCKET = "s3://tf-sm-e2e"
# One retry, as in production: a retry re-attaches to (or reuses) the job of the try before, so it never
# trains twice. It also absorbs Airflow's stale-success race on deferred tasks whose trigger fires within
# a second or two of deferral (apache/airflow#67287).
RETRY = {"retries": 1, "retry_delay": dt.timedelta(seconds=1)}
DATA = "{{ params.bucket }}/data/{{ ds }}"


def training_task(**kwargs: Any) -> TFTrainingOperator:
    """The e2e training script as a ``train`` task (poll every second)."""
    return TFTrainingOperator(
        task_id="train",
        entry_point="train.py",
        source_dir="e2e_code",
        output_path="{{ params.bucket }}/models",
        metric_definitions=[{"Name": "accuracy", "Regex": r"accuracy=([0-9.]+)"}],
        poll_interval=1,
        **kwargs,
    )


def on_data(**kwargs: Any) -> TFTrainingOperator:
    """A ``train`` task on the run's own ``{{ ds }}`` data, after ``generate_data`` wrote it."""
    train = training_task(inputs={"train": DATA + "/train", "test": DATA + "/test"}, **kwargs)
    generate_data() >> train
    return train


# 1. Nightly with catchup: three daily intervals, each run on its own day's data (deferrable wait).
with DAG(
    dag_id="tf_sm_e2e_nightly",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    end_date=pendulum.datetime(2025, 1, 3, tz="UTC"),
    catchup=True,
    max_active_runs=3,
    default_args=RETRY,
    params={"bucket": Param(BUCKET, type="string")},
):
    on_data(hyperparameters={"seconds": 5}, deferrable=True)

# 2. The backfill target: the same nightly shape, no catchup of its own.
with DAG(
    dag_id="tf_sm_e2e_backfill",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    default_args=RETRY,
    params={"bucket": Param(BUCKET, type="string")},
):
    on_data(hyperparameters={"seconds": 5}, deferrable=True)

# 3. Conf as data: a free-text param that lands in a hyperparameter untouched.
with DAG(
    dag_id="tf_sm_e2e_params",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    render_template_as_native_obj=True,
    params={"bucket": Param(BUCKET, type="string"), "note": Param("plain", type="string")},
):
    training_task(hyperparameters={"note": "{{ params.note }}", "seconds": 0})

# 4/5. Deferrable training that lasts ``seconds``: deferral, triggerer restart, throttling.
with DAG(
    dag_id="tf_sm_e2e_deferred",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    render_template_as_native_obj=True,
    max_active_runs=5,
    default_args=RETRY,
    params={"bucket": Param(BUCKET, type="string"), "seconds": Param(15, type="integer", minimum=0)},
):
    training_task(hyperparameters={"seconds": "{{ params.seconds }}"}, deferrable=True)

# 5. Training that waits in the worker, with one retry: SIGKILL, clear and throttling drills.
#    Only the first try runs the long job; a later try that has to start a job of its own is short.
with DAG(
    dag_id="tf_sm_e2e_sync",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    render_template_as_native_obj=True,
    max_active_runs=5,
    default_args=RETRY,
    params={
        "bucket": Param(BUCKET, type="string"),
        "seconds": Param(20, type="integer", minimum=0),
        "rerun_seconds": Param(1, type="integer", minimum=0),
    },
):
    training_task(
        hyperparameters={"seconds": "{{ params.seconds if ti.try_number == 1 else params.rerun_seconds }}"},
        deferrable=False,
    )

# 4. A plain task: it runs while training tasks are deferred, proving they hold no worker slot.
with DAG(dag_id="tf_sm_e2e_quick", schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC")):

    @task
    def quick() -> str:
        """Return at once."""
        return "ran"

    quick()

# 6. The sagemaker backend against moto (connection ``aws_e2e_moto``), so the extra links have URLs.
with DAG(
    dag_id="tf_sm_e2e_aws_links",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    params={"bucket": Param("s3://tf-sm-e2e-moto", type="string")},
):
    training_task(
        backend="sagemaker",
        aws_conn_id="aws_e2e_moto",
        role="arn:aws:iam::123456789012:role/SageMakerRole",
        hyperparameters={"seconds": 0},
        deferrable=False,
    )

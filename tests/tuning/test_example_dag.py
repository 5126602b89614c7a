"""Story 8 with ``dag.test()`` on the local backend: tune the example model (real TensorFlow), deploy the best job."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_example_dags import delete_local_endpoints, local_backend  # noqa: F401 - fixture
from tests.training.test_operator import EXAMPLES, load_dag, xcom_of


@pytest.mark.tensorflow
def test_tuning_dag_tunes_deploys_the_best_job_and_the_endpoint_answers(
    airflow_db: Path,
    local_backend: Path,  # noqa: F811
) -> None:
    from airflow_tf_sm.hook import TFSageMakerHook

    dag = load_dag(EXAMPLES / "tf_sm_tuning_dag.py", "tf_sm_tuning")
    try:
        # without a logical date (a manual or REST trigger may send null): data and names from run_after
        run = dag.test(logical_date=None, run_conf={"epochs": 3, "bucket": "s3://tuning-demo"})
    finally:
        delete_local_endpoints(local_backend)
    assert run.state == "success" and run.logical_date is None
    tuned = xcom_of(run, "tune")
    assert tuned["status"] == "Completed" and tuned["backend"] == "local"
    counts = tuned["training_job_counts"]
    assert counts["Completed"] + counts["Stopped"] == 6 and counts["NonRetryableError"] == 0
    hook = TFSageMakerHook(backend="local", local_root=str(local_backend))
    jobs = hook.tuning.training_jobs(tuned["tuning_job_name"])
    completed = [j for j in jobs if j["TrainingJobStatus"] == "Completed"]
    best = max(completed, key=lambda j: j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    assert tuned["best_training_job_name"] == best["TrainingJobName"]
    assert tuned["best_objective"]["name"] == "val_accuracy" and tuned["best_objective"]["value"] >= 0.8
    assert set(tuned["best_hyperparameters"]) == {"learning-rate", "hidden-units", "batch-size"}
    deployed = xcom_of(run, "deploy")
    assert deployed["status"] == "InService" and deployed["model_data"] == tuned["best_model_data"]
    smoke = xcom_of(run, "smoke_test")
    assert len(smoke["predictions"]) == 5
    assert xcom_of(run, "delete_endpoint")["deleted"] is True

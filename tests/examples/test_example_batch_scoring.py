"""Story 9, run with ``dag.test()`` on the local backend: nightly batch scoring with the last good model."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.test_operator import EXAMPLES, load_dag, xcom_of


@pytest.fixture
def local_backend(local_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Select the local backend through the config section, as a deployment would."""
    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__BACKEND", "local")
    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__LOCAL_ROOT", str(local_root))
    return local_root


@pytest.mark.tensorflow
def test_batch_scoring_dag_scores_the_days_rows_with_the_last_good_model(airflow_db: Path, local_backend: Path) -> None:
    import numpy as np
    import pendulum
    from tf_sm_example.data import make_samples, seed_from_date
    from tf_sm_example.scoring import SCORING_ROWS

    from airflow_tf_sm.hook import TFSageMakerHook
    from airflow_tf_sm.hosting.spec import DeploySpec

    dag = load_dag(EXAMPLES / "tf_sm_batch_scoring_dag.py", "tf_sm_batch_scoring")
    assert dag.schedule == "@daily" and dag.catchup is False
    run = dag.test(
        logical_date=pendulum.datetime(2025, 3, 1, tz="UTC"),
        run_conf={"epochs": 2, "bucket": "s3://scoring-bucket", "min_val_accuracy": 0.8},
    )
    assert run.state == "success"
    trained = xcom_of(run, "train")
    assert trained["job_name"] == "tf-sm-scoring-20250301"
    assert xcom_of(run, "last_good_model") == "tf-sm-scoring-20250301"
    scored = xcom_of(run, "score")
    assert scored["status"] == "Completed" and scored["transform_job_name"] == "tf-sm-scores-20250301"
    assert scored["outputs"] == {"count": 1, "first": ["s3://scoring-bucket/scores/2025-03-01/rows.csv.out"]}

    hook = TFSageMakerHook(backend="local", local_root=str(local_backend))
    desc = hook.describe_training_job(trained["job_name"])
    # the model is the one a TFDeployOperator of that training job would create
    assert scored["model_name"] == DeploySpec.from_training_job(desc, endpoint_name="e", region=hook.region).model_name

    rows = [line.split(",") for line in hook.read_bytes(scored["outputs"]["first"][0]).decode().splitlines()]
    assert [row[0] for row in rows] == [f"row-{i}" for i in range(SCORING_ROWS)]  # the id kept, in input order
    probabilities = np.array([[float(v) for v in row[1:]] for row in rows])
    assert probabilities.shape == (SCORING_ROWS, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    # the rows' hidden labels: the trained model scores them (the example reaches about 0.9 after 2 epochs)
    _features, labels = make_samples(seed_from_date("2025-03-01") + 7, SCORING_ROWS)
    assert (probabilities.argmax(axis=1) == labels).mean() >= 0.8
    assert xcom_of(run, "report") == {"rows": SCORING_ROWS, "first": ",".join(rows[0])}

"""Tasks of the batch scoring example (story 9): the day's rows to score, and the last model that passed the gate."""

from __future__ import annotations

from typing import Any

from airflow.sdk import task

#: Rows scored each day.
SCORING_ROWS = 1000


def scoring_csv(seed: int, n: int = SCORING_ROWS) -> bytes:
    """Return the rows to score: ``<id>,f0,...,f7`` per line, no header and no label (what arrives each day)."""
    from tf_sm_example.data import make_samples

    features, _labels = make_samples(seed, n)
    lines = [f"row-{i}," + ",".join(f"{value:.6f}" for value in row) for i, row in enumerate(features)]
    return ("\n".join(lines) + "\n").encode("utf-8")


@task
def write_scoring_data(params: dict | None = None, dag_run: Any = None) -> str:
    """Write this date's rows to score to ``<params.bucket>/score/<date>/rows.csv``; return the prefix.

    The date is :data:`tf_sm_example.tasks.DATA_DATE` (the logical date, else ``run_after``).
    """
    from airflow_tf_sm import TFSageMakerHook
    from tf_sm_example.data import seed_from_date
    from tf_sm_example.tasks import data_date

    if params is None:
        raise ValueError("write_scoring_data needs the task context (params, dag_run)")
    day = data_date(dag_run)
    prefix = f"{params['bucket']}/score/{day}"
    TFSageMakerHook().write_bytes(f"{prefix}/rows.csv", scoring_csv(seed_from_date(day) + 7))
    return prefix


@task(trigger_rule="all_done")  # today's training failed or missed the gate: yesterday's model still scores
def last_good_model(params: dict | None = None) -> str:
    """Return the newest Completed training job of this DAG whose ``val_accuracy`` passes the gate.

    Raises:
        AirflowSkipException: no model has passed the gate yet (nothing to score with).
    """
    from airflow_tf_sm import TFSageMakerHook
    from airflow_tf_sm.compat import skip_exception
    from airflow_tf_sm.sagemaker.resources import final_metrics

    if params is None:
        raise ValueError("last_good_model needs the task context (params)")
    hook = TFSageMakerHook()
    sagemaker = hook.clients.sagemaker
    kwargs = {"NameContains": "tf-sm-scoring-", "StatusEquals": "Completed", "SortBy": "CreationTime"}
    while True:
        page = hook.call(sagemaker, "list_training_jobs", **kwargs)
        for summary in page["TrainingJobSummaries"]:
            name = summary["TrainingJobName"]
            accuracy = final_metrics(hook.training.describe(name)).get("val_accuracy", 0.0)
            if accuracy >= params["min_val_accuracy"]:
                print(f"Scoring with {name} (val_accuracy {accuracy:.4f} >= {params['min_val_accuracy']})")
                return str(name)
            print(f"Skipping {name}: val_accuracy {accuracy:.4f} < {params['min_val_accuracy']}")
        if not page.get("NextToken"):
            raise skip_exception()(f"no training job passed val_accuracy >= {params['min_val_accuracy']} yet")
        kwargs["NextToken"] = page["NextToken"]


@task
def report(result: dict) -> dict:
    """Print where the scores are and the first scored rows; return the row count and the first row."""
    from airflow_tf_sm import TFSageMakerHook

    outputs = result["outputs"] or {"count": 0, "first": []}
    print(f"Transform job {result['transform_job_name']}: {result['status']}, model {result['model_name']}")
    print(f"{outputs['count']} output file(s) under {result['output_path']}")
    if not outputs["first"]:
        return {"rows": 0, "first": None}
    hook = TFSageMakerHook(backend=result["backend"], region_name=result["region"])
    lines = hook.read_bytes(outputs["first"][0]).decode("utf-8").splitlines()
    for line in lines[:5]:
        print(f"  {line}")
    return {"rows": len(lines), "first": lines[0]}

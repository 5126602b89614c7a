"""Tasks the example DAGs share."""

from __future__ import annotations

from typing import Any

from airflow.sdk import task

#: The date of a run's data, as a template: the run's logical date or, for a run without one (a manual,
#: REST or asset-triggered run with ``logical_date: null``: the context then has no ``ds`` or
#: ``logical_date``), the time the run was queued for (``dag_run.run_after``).
DATA_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"
#: The same date as ``YYYYMMDD`` (for names: one job per date).
DATA_DATE_NODASH = "{{ (dag_run.logical_date or dag_run.run_after) | ds_nodash }}"


def data_date(dag_run: Any) -> str:
    """Return :data:`DATA_DATE` for Python tasks: ``YYYY-MM-DD`` of the logical date, else of ``run_after``."""
    if dag_run is None:
        raise ValueError("the task needs its context (dag_run)")
    return str((dag_run.logical_date or dag_run.run_after).strftime("%Y-%m-%d"))


@task
def generate_data(params: dict | None = None, dag_run: Any = None) -> str:
    """Write the run's train/test CSVs to ``<params.bucket>/data/<date>/`` (:data:`DATA_DATE`); return that prefix.

    Works on both backends: on ``local`` the ``s3://`` URIs live in the local object store.
    """
    from airflow_tf_sm import TFSageMakerHook
    from tf_sm_example.data import make_dataset, seed_from_date

    if params is None:
        raise ValueError("generate_data needs the task context (params, dag_run)")
    day = data_date(dag_run)
    hook = TFSageMakerHook()
    prefix = f"{params['bucket']}/data/{day}"
    for relative, content in make_dataset(seed_from_date(day)).items():
        hook.write_bytes(f"{prefix}/{relative}", content)
    return prefix


@task
def smoke_test(endpoint: dict, params: dict | None = None, dag_run: Any = None, rows: int = 5) -> dict:
    """Send the first ``rows`` rows of the run's test data to the endpoint and print the predictions.

    Fails when the endpoint does not answer with one prediction per row. Returns the predictions,
    the predicted classes and the true labels.
    """
    from airflow_tf_sm import TFSageMakerHook

    if params is None:
        raise ValueError("smoke_test needs the task context (params, dag_run)")
    day = data_date(dag_run)
    hook = TFSageMakerHook(backend=endpoint["backend"], region_name=endpoint["region"])
    lines = hook.read_bytes(f"{params['bucket']}/data/{day}/test/data.csv").decode("utf-8").splitlines()[1 : rows + 1]
    instances = [[float(value) for value in line.split(",")[:-1]] for line in lines]
    labels = [int(line.rsplit(",", 1)[1]) for line in lines]
    answer = hook.invoke_endpoint(endpoint["endpoint_name"], {"instances": instances})
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    if not isinstance(predictions, list) or len(predictions) != len(instances):
        raise ValueError(f"endpoint {endpoint['endpoint_name']} answered {answer!r} for {len(instances)} rows")
    classes = [max(range(len(p)), key=p.__getitem__) for p in predictions]
    print(f"Endpoint {endpoint['endpoint_name']} ({endpoint['model_data']}):")
    for label, predicted, probabilities in zip(labels, classes, predictions, strict=True):
        shown = ", ".join(f"{p:.4f}" for p in probabilities)
        print(f"  label {label} -> predicted {predicted}   probabilities [{shown}]")
    return {"predictions": predictions, "classes": classes, "labels": labels}

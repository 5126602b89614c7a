"""Tasks the example DAGs share."""

from __future__ import annotations

from airflow.sdk import task


@task
def generate_data(ds: str | None = None, params: dict | None = None) -> str:
    """Write this logical date's train/test CSVs to ``<params.bucket>/data/<ds>/``; return that prefix.

    Works on both backends: on ``local`` the ``s3://`` URIs live in the local object store.
    """
    from airflow_tf_sm import TFSageMakerHook
    from tf_sm_example.data import make_dataset, seed_from_date

    if ds is None or params is None:
        raise ValueError("generate_data needs the task context (ds, params)")
    hook = TFSageMakerHook()
    prefix = f"{params['bucket']}/data/{ds}"
    for relative, content in make_dataset(seed_from_date(ds)).items():
        hook.write_bytes(f"{prefix}/{relative}", content)
    return prefix


@task
def smoke_test(endpoint: dict, ds: str | None = None, params: dict | None = None, rows: int = 5) -> dict:
    """Send the first ``rows`` rows of this date's test data to the endpoint and print the predictions.

    Fails when the endpoint does not answer with one prediction per row. Returns the predictions,
    the predicted classes and the true labels.
    """
    from airflow_tf_sm import TFSageMakerHook

    if ds is None or params is None:
        raise ValueError("smoke_test needs the task context (ds, params)")
    hook = TFSageMakerHook(backend=endpoint["backend"], region_name=endpoint["region"])
    lines = hook.read_bytes(f"{params['bucket']}/data/{ds}/test/data.csv").decode("utf-8").splitlines()[1 : rows + 1]
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

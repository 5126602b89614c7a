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

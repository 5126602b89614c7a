"""The assets the example DAGs share (story 10: the nightly model, and the DAG scheduled on it)."""

from __future__ import annotations

from airflow.sdk import Asset

#: The nightly training task's model: each Completed training emits an event whose ``extra`` is the
#: task's result (``job_name``, ``model_data``, ``metrics``, ``backend``, ...).
NIGHTLY_MODEL = Asset(name="tf_sm_nightly_model")

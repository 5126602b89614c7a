"""Local backend: runs SageMaker script-mode jobs on this machine under the container contract.

``local_clients(root, region)`` returns boto3-shaped (sagemaker, s3, logs) clients over one state root.
Names load lazily so the job runner, which imports sibling modules, stays light.
"""

from __future__ import annotations

from airflow_tf_sm.exports import lazy_getattr

_EXPORTS = {
    "local_clients": "airflow_tf_sm.backends.local.clients",
    "LocalSageMakerClient": "airflow_tf_sm.backends.local.clients",
    "LocalS3Client": "airflow_tf_sm.backends.local.clients",
    "LocalLogsClient": "airflow_tf_sm.backends.local.clients",
    "LocalRuntimeClient": "airflow_tf_sm.backends.local.runtime_client",
    "local_backend": "airflow_tf_sm.backends.local.clients",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)

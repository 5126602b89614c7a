"""Local backend: runs SageMaker script-mode jobs on this machine under the container contract.

``local_clients(root, region)`` returns boto3-shaped (sagemaker, s3, logs) clients over one state root.
Names load lazily so the job runner, which imports sibling modules, stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "local_clients": "airflow_tf_sm.backends.local.clients",
    "LocalSageMakerClient": "airflow_tf_sm.backends.local.clients",
    "LocalS3Client": "airflow_tf_sm.backends.local.clients",
    "LocalLogsClient": "airflow_tf_sm.backends.local.clients",
    "LocalRuntimeClient": "airflow_tf_sm.backends.local.runtime_client",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

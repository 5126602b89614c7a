"""The connection arguments every task of this package accepts, and the hook built from them.

One place for the list, so operators and sensors cannot drift apart. Light: imported by DAG files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_tf_sm.hook import TFSageMakerHook

#: Task attributes passed, by the same names, to :class:`~airflow_tf_sm.hook.TFSageMakerHook`.
CLIENT_ARGS = ("backend", "aws_conn_id", "region_name", "verify", "botocore_config", "endpoint_url", "local_root")


def set_client_args(task: Any, values: Mapping[str, Any]) -> None:
    """Copy the :data:`CLIENT_ARGS` entries of ``values`` (an ``__init__``'s ``locals()``) onto ``task``."""
    for name in CLIENT_ARGS:
        setattr(task, name, values[name])


def hook_for(task: Any) -> TFSageMakerHook:
    """Build the hook from a task's connection arguments (at run time, never when the DAG is parsed)."""
    from airflow_tf_sm.hook import TFSageMakerHook

    return TFSageMakerHook(**{name: getattr(task, name) for name in CLIENT_ARGS})


def default_deferrable() -> bool:
    """Return ``[operators] default_deferrable`` (read when a task is built, not at import)."""
    from airflow.sdk.configuration import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)

"""Clients that record every API call, so a test can assert that none happened (on either backend)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from airflow_tf_sm.backends import Clients
from airflow_tf_sm.hook import TFSageMakerHook


class Recorder:
    """Wraps a boto3-shaped client; every public method call is appended to ``calls`` as ``(client, method)``."""

    def __init__(self, label: str, client: Any, calls: list[tuple[str, str]]) -> None:
        self._label = label
        self._client = client
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if name.startswith("_") or not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self._calls.append((self._label, name))
            return target(*args, **kwargs)

        return call


def recording_hook(backend: str, root: Path | None = None) -> tuple[TFSageMakerHook, list[tuple[str, str]]]:
    """Return a hook whose clients record their calls, and the list they record into.

    ``sagemaker``: boto3 clients behind botocore Stubbers with nothing queued (a call would also fail);
    ``local``: the local backend's clients over ``root``.
    """
    calls: list[tuple[str, str]] = []
    if backend == "local":
        assert root is not None
        hook = TFSageMakerHook(backend="local", local_root=str(root), region_name="us-east-1")
        real = hook.clients
    else:
        import boto3
        from botocore.stub import Stubber

        hook = TFSageMakerHook(aws_conn_id=None, backend="sagemaker", region_name="us-east-1")
        made = {name: boto3.client(name, region_name="us-east-1") for name in ("sagemaker", "s3", "logs")}
        for client in made.values():
            Stubber(client).activate()
        real = Clients(region="us-east-1", backend="sagemaker", **made)
    hook.__dict__["clients"] = dataclasses.replace(
        real,
        sagemaker=Recorder("sagemaker", real.sagemaker, calls),
        s3=Recorder("s3", real.s3, calls),
        logs=Recorder("logs", real.logs, calls),
        runtime=Recorder("runtime", real.runtime, calls) if real.runtime is not None else None,
    )
    return hook, calls

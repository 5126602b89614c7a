"""Backends: boto3-shaped clients for SageMaker on AWS and for this machine (local).

Both backends hand the hook the same client surface (``create_training_job(**request)``,
``describe_training_job(TrainingJobName=...)``, S3 and CloudWatch Logs calls), the same response
shapes and the same ``botocore.exceptions.ClientError`` codes, so the hook never branches on the backend.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Clients:
    """The clients one backend provides.

    Attributes:
        sagemaker: Client with the boto3 SageMaker API.
        s3: Client with the boto3 S3 API (the subset the hook uses).
        logs: Client with the boto3 CloudWatch Logs API (the subset the hook uses).
        region: The AWS region name the clients act in.
        backend: ``"sagemaker"`` or ``"local"``.
        runtime: Client with the boto3 SageMaker Runtime API (``invoke_endpoint``), when available.
    """

    sagemaker: Any
    s3: Any
    logs: Any
    region: str
    backend: str
    runtime: Any = None


@dataclass(frozen=True)
class ClientParams:
    """Everything needed to build clients, as plain JSON-able data (triggers carry it across processes).

    Attributes:
        backend: ``"sagemaker"`` or ``"local"`` (``None``: the ``[airflow_tf_sm] backend`` setting).
        aws_conn_id: Airflow connection of type ``aws`` (AWS backend only).
        region_name: Region; ``None`` takes it from the connection or the environment.
        verify: TLS verification flag or CA bundle path (AWS backend only).
        botocore_config: Keyword arguments of ``botocore.config.Config`` (AWS backend only).
        endpoint_url: Endpoint override for the SageMaker client (AWS backend only).
        local_root: State root of the local backend (``None``: the ``[airflow_tf_sm] local_root`` setting).
    """

    backend: str | None = None
    aws_conn_id: str | None = "aws_default"
    region_name: str | None = None
    verify: bool | str | None = None
    botocore_config: dict[str, Any] | None = None
    endpoint_url: str | None = None
    local_root: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as a plain dict (for trigger kwargs)."""
        return {
            "backend": self.backend,
            "aws_conn_id": self.aws_conn_id,
            "region_name": self.region_name,
            "verify": self.verify,
            "botocore_config": self.botocore_config,
            "endpoint_url": self.endpoint_url,
            "local_root": self.local_root,
        }


def get_clients(params: ClientParams) -> Clients:
    """Build the clients of the backend ``params`` names.

    Args:
        params: Backend choice and connection settings.

    Returns:
        The backend's clients.
    """
    from airflow_tf_sm.config import resolve_backend, resolve_local_root

    backend = resolve_backend(params.backend)
    if backend == "local":
        from airflow_tf_sm.backends.local.clients import local_clients

        root = resolve_local_root(params.local_root)
        region = params.region_name or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        sagemaker, s3, logs, runtime = local_clients(root, region)
        return Clients(sagemaker=sagemaker, s3=s3, logs=logs, region=region, backend="local", runtime=runtime)

    from airflow_tf_sm.backends.aws import aws_clients

    return aws_clients(params)

"""Backends: boto3-shaped clients for SageMaker on AWS (``aws.py``) and for this machine (``local/``).

Both backends hand the hook the same client surface (``create_training_job(**request)``,
``describe_training_job(TrainingJobName=...)``, S3 and CloudWatch Logs calls), the same response shapes
and the same ``botocore.exceptions.ClientError`` codes, so the hook never branches on the backend: what
differs (the default role, the invocation URL of an endpoint, the settings a trigger must carry) is data
in :class:`Clients`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClientParams:
    """Everything needed to build clients, as plain JSON-able data (triggers carry it across processes).

    Its fields are the connection arguments of every operator, sensor and of the hook (one list:
    :data:`CLIENT_ARGS`).

    Attributes:
        backend: ``"sagemaker"`` or ``"local"`` (``None``: the ``[airflow_tf_sm] backend`` setting).
        aws_conn_id: Airflow connection of type ``aws`` (AWS backend only).
        region_name: Region; ``None`` takes it from the connection or the environment.
        verify: TLS verification flag or CA bundle path (AWS backend only).
        botocore_config: Keyword arguments of ``botocore.config.Config`` (AWS backend only).
        endpoint_url: Endpoint override for the AWS clients (AWS backend only).
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
        return dataclasses.asdict(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ClientParams:
        """Build from a mapping holding (some of) the :data:`CLIENT_ARGS` keys; other keys are ignored."""
        return cls(**{name: values[name] for name in CLIENT_ARGS if name in values})


#: The connection arguments every operator, sensor and the hook take, by these names.
CLIENT_ARGS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ClientParams))


@dataclass(frozen=True)
class Clients:
    """The clients one backend provides, and what else differs between backends.

    Attributes:
        sagemaker: Client with the boto3 SageMaker API.
        s3: Client with the boto3 S3 API (the subset the package uses).
        logs: Client with the boto3 CloudWatch Logs API (the subset the package uses).
        region: The AWS region name the clients act in.
        backend: ``"sagemaker"`` or ``"local"``.
        runtime: Client with the boto3 SageMaker Runtime API (``invoke_endpoint``).
        params: The settings that rebuild these clients elsewhere (the triggerer): region and, on the
            local backend, the state root resolved.
        default_role: Role ARN used when a job names none (the local backend's placeholder; None on AWS).
        invocation_url: ``(endpoint name, DescribeEndpoint response) -> URL`` answering invocations ("" if none).
        client_retries: True when the clients retry throttling and 5xx themselves (botocore retry settings
            from the connection or ``botocore_config``): the hook then tries each call once, so retries
            never multiply.
        max_poll_interval: The longest useful poll interval of this backend (None: the configured one).
            Polling the local backend reads a file, so it caps waits at a second and a local job is seen
            ending within a second.
        max_hosts: The most instances one training job may have on this backend, and the setting that
            says so (None: no bound but the API's; the local backend runs each host as a process here).
    """

    sagemaker: Any
    s3: Any
    logs: Any
    region: str
    backend: str
    runtime: Any = None
    params: ClientParams = dataclasses.field(default_factory=ClientParams)
    default_role: str | None = None
    invocation_url: Callable[[str, Mapping[str, Any]], str] = lambda name, desc: ""
    client_retries: bool = False
    max_poll_interval: float | None = None
    max_hosts: tuple[int, str] | None = None

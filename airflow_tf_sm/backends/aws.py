"""AWS backend: real boto3 clients from an Airflow ``aws`` connection.

Sessions come from the Amazon provider's ``AwsBaseHook`` (credentials, role assumption, region,
``botocore_config`` and ``endpoint_url`` from the connection), so every place that builds clients,
the worker and the triggerer alike, honours the same settings.

Retries: when neither the task's ``botocore_config`` nor the connection's ``config_kwargs`` set
``retries``, botocore's own retries are turned off (``total_max_attempts=1``) and the hook's retry layer
is the only one. When they do, botocore retries and the hook tries each call once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from airflow_tf_sm.backends import ClientParams, Clients

#: botocore retry settings when the hook does the retrying.
NO_CLIENT_RETRIES = {"total_max_attempts": 1, "mode": "standard"}


def aws_clients(params: ClientParams) -> Clients:
    """Return SageMaker, S3, CloudWatch Logs and SageMaker Runtime clients for ``params``.

    Args:
        params: Connection id, region, TLS verification, botocore config and endpoint override.

    Raises:
        ValueError: when no region can be found in the arguments, the connection or the environment.
    """
    import dataclasses

    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from botocore.config import Config

    from airflow_tf_sm.backends import Clients

    config = Config(**params.botocore_config) if params.botocore_config else None
    base = AwsBaseHook(
        aws_conn_id=params.aws_conn_id,
        verify=params.verify,
        region_name=params.region_name,
        client_type="sagemaker",
        config=config,
    )
    session = base.get_session(region_name=base.region_name)
    region = base.region_name or session.region_name
    if not region:
        raise ValueError(
            "region_name: None -- no AWS region in the task arguments, the connection "
            f"{params.aws_conn_id!r} or the environment (AWS_DEFAULT_REGION); set region_name=..., the "
            "connection's region_name extra, or run on this machine with backend='local' "
            "([airflow_tf_sm] backend = local, env AIRFLOW__AIRFLOW_TF_SM__BACKEND=local)"
        )
    client_config = base.config
    client_retries = client_config is not None and client_config.retries is not None
    if not client_retries:
        client_config = (client_config or Config()).merge(Config(retries=dict(NO_CLIENT_RETRIES)))

    def make(service: str) -> Any:
        endpoint = params.endpoint_url or base.conn_config.get_service_endpoint_url(service_name=service)
        return session.client(
            service, region_name=region, endpoint_url=endpoint, config=client_config, verify=base.verify
        )

    runtime = make("sagemaker-runtime")

    def invocation_url(endpoint_name: str, desc: Mapping[str, Any]) -> str:
        return f"{runtime.meta.endpoint_url.rstrip('/')}/endpoints/{quote(endpoint_name, safe='')}/invocations"

    return Clients(
        sagemaker=make("sagemaker"),
        s3=make("s3"),
        logs=make("logs"),
        runtime=runtime,
        region=region,
        backend="sagemaker",
        params=dataclasses.replace(params, backend="sagemaker", region_name=region),
        invocation_url=invocation_url,
        client_retries=client_retries,
    )

"""AWS backend: real boto3 clients from an Airflow ``aws`` connection.

Sessions come from the Amazon provider's ``AwsBaseHook`` (credentials, role assumption, region,
``botocore_config`` and ``endpoint_url`` from the connection), so every place that builds clients,
the worker and the triggerer alike, honours the same settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_tf_sm.backends import ClientParams, Clients


def aws_clients(params: ClientParams) -> Clients:
    """Return SageMaker, S3, CloudWatch Logs and SageMaker Runtime clients for ``params``.

    Args:
        params: Connection id, region, TLS verification, botocore config and endpoint override.

    Raises:
        ValueError: when no region can be found in the arguments, the connection or the environment.
    """
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
            f"{params.aws_conn_id!r} or the environment (AWS_DEFAULT_REGION)"
        )
    client_config = base.config

    def make(service: str) -> object:
        endpoint = params.endpoint_url or base.conn_config.get_service_endpoint_url(service_name=service)
        return session.client(
            service, region_name=region, endpoint_url=endpoint, config=client_config, verify=base.verify
        )

    return Clients(
        sagemaker=make("sagemaker"),
        s3=make("s3"),
        logs=make("logs"),
        region=region,
        backend="sagemaker",
        runtime=make("sagemaker-runtime"),
    )

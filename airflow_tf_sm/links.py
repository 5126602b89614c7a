"""Extra links: training jobs (console, CloudWatch logs), tuning jobs and endpoints in the SageMaker console.

The task pushes a small XCom value (:func:`persist_training_job_link`) with the job name, region and
backend; the links build their URLs from it, with the console host of the region's partition (``aws``,
``aws-cn``, ``aws-us-gov``). The local backend has no console: its links are empty (no button), never
a broken URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: XCom key of the value the links read.
LINK_XCOM_KEY = "tf_sm_training_job_link"
#: Console domain per partition (the hosts the Amazon provider's console links use).
CONSOLE_DOMAINS: dict[str, str] = {
    "aws": "aws.amazon.com",
    "aws-cn": "amazonaws.cn",
    "aws-us-gov": "amazonaws-us-gov.com",
}


def console_base(region: str) -> str | None:
    """Return ``https://console.<domain>`` for ``region``'s partition, or ``None`` when it has no known console.

    Args:
        region: An AWS region name such as ``eu-west-1`` or ``cn-north-1``.
    """
    from airflow_tf_sm.exceptions import ConfigValidationError
    from airflow_tf_sm.sagemaker.images import partition_for

    try:
        partition = partition_for(region)
    except ConfigValidationError:
        return None
    domain = CONSOLE_DOMAINS.get(partition)
    return f"https://console.{domain}" if domain else None


def _console_fragment_escape(text: str) -> str:
    """Escape a value inside the CloudWatch console's ``#logsV2:`` fragment (``/`` -> ``$252F``)."""
    return quote(text, safe="").replace("%", "$25")


def training_job_console_url(job_name: str, region: str) -> str:
    """Return the SageMaker console page of a training job ("" when the region has no known console).

    Example:
        >>> training_job_console_url("mnist-1", "eu-west-1")
        'https://console.aws.amazon.com/sagemaker/home?region=eu-west-1#/jobs/mnist-1'
    """
    base = console_base(region)
    if not base or not job_name:
        return ""
    return f"{base}/sagemaker/home?region={quote(region)}#/jobs/{quote(job_name)}"


def training_job_logs_url(job_name: str, region: str) -> str:
    """Return the CloudWatch console page of a training job's log streams (``<job>/...``), or "".

    Example:
        >>> training_job_logs_url("mnist-1", "us-east-1").split("#")[1]
        'logsV2:log-groups/log-group/$252Faws$252Fsagemaker$252FTrainingJobs$3FlogStreamNameFilter$3Dmnist-1$252F'
    """
    from airflow_tf_sm.sagemaker.resources import TRAINING_LOG_GROUP

    base = console_base(region)
    if not base or not job_name:
        return ""
    group = _console_fragment_escape(TRAINING_LOG_GROUP)
    prefix = _console_fragment_escape(f"{job_name}/")
    return (
        f"{base}/cloudwatch/home?region={quote(region)}"
        f"#logsV2:log-groups/log-group/{group}$3FlogStreamNameFilter$3D{prefix}"
    )


def persist_training_job_link(context: Mapping[str, Any], job_name: str, region: str, backend: str) -> None:
    """Push the small XCom value the training job links read.

    Args:
        context: The task context (its ``ti`` pushes the XCom).
        job_name: The training job.
        region: The region the job runs in.
        backend: ``"sagemaker"`` or ``"local"`` (local jobs get no links).
    """
    context["ti"].xcom_push(key=LINK_XCOM_KEY, value={"job_name": job_name, "region": region, "backend": backend})


class _TrainingJobLink(BaseOperatorLink):
    """Reads the value :func:`persist_training_job_link` pushed and turns it into a URL."""

    name = "Training job"

    def url(self, job_name: str, region: str) -> str:
        """Return the URL for the job (empty: no link)."""
        raise NotImplementedError

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the link of the task instance ``ti_key`` ("" when there is none, or for the local backend)."""
        from airflow.sdk.execution_time.xcom import XCom

        info = XCom.get_value(ti_key=ti_key, key=LINK_XCOM_KEY)
        if not isinstance(info, Mapping) or info.get("backend") == "local":
            return ""
        return self.url(str(info.get("job_name") or ""), str(info.get("region") or ""))


class TrainingJobConsoleLink(_TrainingJobLink):
    """Extra link: the training job's page in the Amazon SageMaker console."""

    name = "SageMaker Training Job"

    def url(self, job_name: str, region: str) -> str:
        """Return the console URL of the job."""
        return training_job_console_url(job_name, region)


class TrainingJobLogsLink(_TrainingJobLink):
    """Extra link: the training job's log streams in the CloudWatch console."""

    name = "Training Job Logs"

    def url(self, job_name: str, region: str) -> str:
        """Return the CloudWatch logs URL of the job."""
        return training_job_logs_url(job_name, region)


#: XCom key of the value the endpoint link reads.
ENDPOINT_LINK_XCOM_KEY = "tf_sm_endpoint_link"


def endpoint_console_url(endpoint_name: str, region: str) -> str:
    """Return the SageMaker console page of an endpoint ("" when the region has no known console).

    Example:
        >>> endpoint_console_url("mnist", "cn-north-1")
        'https://console.amazonaws.cn/sagemaker/home?region=cn-north-1#/endpoints/mnist'
    """
    base = console_base(region)
    if not base or not endpoint_name:
        return ""
    return f"{base}/sagemaker/home?region={quote(region)}#/endpoints/{quote(endpoint_name)}"


def persist_endpoint_link(context: Mapping[str, Any], endpoint_name: str, region: str, backend: str) -> None:
    """Push the small XCom value the endpoint link reads.

    Args:
        context: The task context (its ``ti`` pushes the XCom).
        endpoint_name: The endpoint.
        region: The region the endpoint lives in.
        backend: ``"sagemaker"`` or ``"local"`` (local endpoints get no link).
    """
    context["ti"].xcom_push(
        key=ENDPOINT_LINK_XCOM_KEY, value={"endpoint_name": endpoint_name, "region": region, "backend": backend}
    )


class EndpointConsoleLink(BaseOperatorLink):
    """Extra link: the endpoint's page in the Amazon SageMaker console ("" for the local backend)."""

    name = "SageMaker Endpoint"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the console URL of the task instance's endpoint, or ""."""
        from airflow.sdk.execution_time.xcom import XCom

        info = XCom.get_value(ti_key=ti_key, key=ENDPOINT_LINK_XCOM_KEY)
        if not isinstance(info, Mapping) or info.get("backend") == "local":
            return ""
        return endpoint_console_url(str(info.get("endpoint_name") or ""), str(info.get("region") or ""))


#: XCom key of the value the tuning job link reads.
TUNING_LINK_XCOM_KEY = "tf_sm_tuning_job_link"


def resource_console_url(console_path: str, name: str, region: str) -> str:
    """Return the SageMaker console page of a resource from its ``Resource.console_path`` ("" when none).

    Example:
        >>> resource_console_url("#/hyper-tuning-jobs/{name}", "tune-1", "us-east-1")
        'https://console.aws.amazon.com/sagemaker/home?region=us-east-1#/hyper-tuning-jobs/tune-1'
    """
    base = console_base(region)
    if not base or not name or not console_path:
        return ""
    return f"{base}/sagemaker/home?region={quote(region)}{console_path.format(name=quote(name))}"


def tuning_job_console_url(tuning_job_name: str, region: str) -> str:
    """Return the SageMaker console page of a hyperparameter tuning job ("" when the region has no console)."""
    from airflow_tf_sm.sagemaker.resources import TUNING_JOB

    return resource_console_url(TUNING_JOB.console_path, tuning_job_name, region)


def persist_tuning_job_link(context: Mapping[str, Any], tuning_job_name: str, region: str, backend: str) -> None:
    """Push the small XCom value the tuning job link reads (local tuning jobs get no link)."""
    context["ti"].xcom_push(
        key=TUNING_LINK_XCOM_KEY, value={"tuning_job_name": tuning_job_name, "region": region, "backend": backend}
    )


class TuningJobConsoleLink(BaseOperatorLink):
    """Extra link: the tuning job's page in the Amazon SageMaker console ("" for the local backend)."""

    name = "SageMaker Tuning Job"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the console URL of the task instance's tuning job, or ""."""
        from airflow.sdk.execution_time.xcom import XCom

        info = XCom.get_value(ti_key=ti_key, key=TUNING_LINK_XCOM_KEY)
        if not isinstance(info, Mapping) or info.get("backend") == "local":
            return ""
        return tuning_job_console_url(str(info.get("tuning_job_name") or ""), str(info.get("region") or ""))

"""Extra links: training jobs (console, CloudWatch logs), tuning jobs, endpoints and transform jobs in the console.

A task remembers the resource it started or waited for (``SageMakerTask.remember_link``); when it ends,
Airflow asks each link for its URL and stores it as the ``_link_<class>`` XCom the UI shows. URLs use the
console host of the region's partition (``aws``, ``aws-cn``, ``aws-us-gov``). Tasks on the local backend
have no links at all (there is no console), so the UI shows no empty "Extra Links" and no link XComs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

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


class ResourceLink(BaseOperatorLink):
    """A link to the resource the task started or waited for (set with :meth:`SageMakerTask.remember_link`).

    Airflow calls :meth:`get_link` in the task's own process when the task ends (deferred, done or failed)
    and stores the URL as the ``_link_<class>`` XCom the UI reads; the link needs no XCom of its own.
    A task that never reached its resource (for example, one that failed validation) has no link.
    """

    name = "Resource"

    def url(self, resource_name: str, region: str) -> str:
        """Return the URL for the resource (empty: no link)."""
        raise NotImplementedError

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the link of the task's resource ("" when the task has none)."""
        target = getattr(operator, "link_target", None)
        if not target:
            return ""
        resource_name, region = target
        return self.url(str(resource_name), str(region))


class TrainingJobConsoleLink(ResourceLink):
    """Extra link: the training job's page in the Amazon SageMaker console."""

    name = "SageMaker Training Job"

    def url(self, job_name: str, region: str) -> str:
        """Return the console URL of the job."""
        return training_job_console_url(job_name, region)


class TrainingJobLogsLink(ResourceLink):
    """Extra link: the training job's log streams in the CloudWatch console."""

    name = "Training Job Logs"

    def url(self, job_name: str, region: str) -> str:
        """Return the CloudWatch logs URL of the job."""
        return training_job_logs_url(job_name, region)


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


class EndpointConsoleLink(ResourceLink):
    """Extra link: the endpoint's page in the Amazon SageMaker console."""

    name = "SageMaker Endpoint"

    def url(self, resource_name: str, region: str) -> str:
        """Return the console URL of the endpoint."""
        return endpoint_console_url(resource_name, region)


def resource_console_url(console_path: str, name: str, region: str) -> str:
    """Return the SageMaker console page of a resource from its ``Resource.console_path`` ("" when none).

    Example:
        >>> resource_console_url("#/transform-jobs/{name}", "score-1", "eu-west-1")
        'https://console.aws.amazon.com/sagemaker/home?region=eu-west-1#/transform-jobs/score-1'
    """
    base = console_base(region)
    if not base or not name or not console_path:
        return ""
    return f"{base}/sagemaker/home?region={quote(region)}{console_path.format(name=quote(name))}"


def transform_job_console_url(job_name: str, region: str) -> str:
    """Return the SageMaker console page of a batch transform job ("" when the region has no known console).

    Example:
        >>> transform_job_console_url("score-1", "us-east-1")
        'https://console.aws.amazon.com/sagemaker/home?region=us-east-1#/transform-jobs/score-1'
    """
    from airflow_tf_sm.sagemaker.resources import TRANSFORM_JOB

    return resource_console_url(TRANSFORM_JOB.console_path, job_name, region)


class TransformJobConsoleLink(ResourceLink):
    """Extra link: the batch transform job's page in the Amazon SageMaker console."""

    name = "SageMaker Transform Job"

    def url(self, resource_name: str, region: str) -> str:
        """Return the console URL of the transform job."""
        return transform_job_console_url(resource_name, region)


def tuning_job_console_url(tuning_job_name: str, region: str) -> str:
    """Return the SageMaker console page of a hyperparameter tuning job ("" when the region has no console).

    Example:
        >>> tuning_job_console_url("tune-1", "us-east-1")
        'https://console.aws.amazon.com/sagemaker/home?region=us-east-1#/hyper-tuning-jobs/tune-1'
    """
    from airflow_tf_sm.sagemaker.resources import TUNING_JOB

    return resource_console_url(TUNING_JOB.console_path, tuning_job_name, region)


class TuningJobConsoleLink(ResourceLink):
    """Extra link: the tuning job's page in the Amazon SageMaker console."""

    name = "SageMaker Tuning Job"

    def url(self, resource_name: str, region: str) -> str:
        """Return the console URL of the tuning job."""
        return tuning_job_console_url(resource_name, region)

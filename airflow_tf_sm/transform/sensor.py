"""``TransformJobSensor``: wait for a batch transform job started elsewhere (another task, DAG or notebook)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.links import TransformJobConsoleLink
from airflow_tf_sm.tasks import JobSensor, SageMakerTask

if TYPE_CHECKING:
    pass


class TransformJobSensor(JobSensor):
    """Wait for a batch transform job to end; succeed when it is Completed.

    Returns the same small dict as :class:`~airflow_tf_sm.transform.operator.TFBatchTransformOperator`
    (``transform_job_name``, ``status``, ``model_name``, ``output_path``, ``outputs``, ...); fails with
    :class:`~airflow_tf_sm.exceptions.TransformJobFailedError` (with SageMaker's FailureReason, which names
    the object and record that failed) when the job ends Failed or Stopped. Waits in the triggerer with
    ``deferrable=True``, else by poking.

    Args:
        transform_job_name: The transform job (templated, or an XComArg such as
            ``score.output["transform_job_name"]``).
        stream_logs: Copy the job's log into the task log while poking.
        stop_job_on_kill: Stop the job when the task is killed. Off by default: the sensor did not start it.
        **kwargs: ``deferrable``, connection and ``BaseSensorOperator`` arguments
            (:class:`~airflow_tf_sm.tasks.SageMakerSensor`).

    Example:
        >>> wait = TransformJobSensor(  # doctest: +SKIP
        ...     task_id="wait_for_scores", transform_job_name="score-20250101", deferrable=True
        ... )
    """

    template_fields: Sequence[str] = ("transform_job_name", *SageMakerTask.template_fields)
    resource_links = (TransformJobConsoleLink(),)
    ui_color = "#cbe8f6"
    family = "transform"
    trigger_class = "airflow_tf_sm.transform.trigger:TransformJobTrigger"
    what = "a transform job"
    name_argument = "transform_job_name"

    def __init__(
        self, *, transform_job_name: str, stream_logs: bool = True, stop_job_on_kill: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.transform_job_name = transform_job_name
        self.stream_logs = stream_logs
        self.stop_job_on_kill = stop_job_on_kill

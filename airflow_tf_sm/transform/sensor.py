"""``TransformJobSensor``: wait for a batch transform job started elsewhere (another task, DAG or notebook)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import PokeReturnValue

from airflow_tf_sm.links import TransformJobConsoleLink
from airflow_tf_sm.tasks import SageMakerSensor, SageMakerTask

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


class TransformJobSensor(SageMakerSensor):
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
    what = "a transform job"
    name_argument = "transform_job_name"

    def __init__(
        self, *, transform_job_name: str, stream_logs: bool = True, stop_job_on_kill: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.transform_job_name = transform_job_name
        self.stream_logs = stream_logs
        self.stop_job_on_kill = stop_job_on_kill

    def make_trigger(self) -> BaseTrigger:
        """Return the :class:`~airflow_tf_sm.transform.trigger.TransformJobTrigger` of this wait."""
        from airflow_tf_sm.transform.trigger import TransformJobTrigger

        return TransformJobTrigger(
            transform_job_name=self.transform_job_name,
            client_params=self.hook.trigger_params(),
            poll_interval=self.poke_interval,
            stream_logs=self.stream_logs,
            stop_job_on_kill=self.stop_job_on_kill,
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Return the result when the job is Completed, False while it runs; raise when it failed.

        Raises:
            TransformJobFailedError: the job ended Failed or Stopped.
        """
        from airflow_tf_sm.sagemaker.resources import TRANSFORM_JOB

        return self.poke_job(self.hook.transform, TRANSFORM_JOB, self.stream_logs)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired: re-describe the job and return its result (or raise)."""
        self.remember_link(self.resource_name)
        return self.hook.transform.result_from_event(event, self.log)

    def on_kill(self) -> None:
        """Stop the job when the task is killed while poking, if ``stop_job_on_kill`` (deferred: the trigger's)."""
        if self.stop_job_on_kill and self._hook is not None and self.transform_job_name:
            self.log.info("Task killed: stopping transform job %s", self.transform_job_name)
            self._hook.transform.stop(self.transform_job_name)

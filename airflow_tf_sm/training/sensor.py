"""``TrainingJobSensor``: wait for a training job started elsewhere (another task, another DAG, a notebook)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import PokeReturnValue

from airflow_tf_sm.links import TrainingJobConsoleLink, TrainingJobLogsLink
from airflow_tf_sm.tasks import SageMakerSensor, SageMakerTask

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


class TrainingJobSensor(SageMakerSensor):
    """Wait for a training job started elsewhere (another task, another DAG, a notebook) to end.

    Succeeds when the job is Completed and returns the same small dict as
    :class:`~airflow_tf_sm.training.operator.TFTrainingOperator` (``job_name``, ``model_data``, ``metrics``,
    ...); fails with :class:`~airflow_tf_sm.exceptions.TrainingJobFailedError` when it ends Failed or
    Stopped. It waits in the triggerer (``deferrable=True``) or by poking (``mode="poke"`` / ``"reschedule"``).

    Args:
        job_name: The training job (templated: ``"{{ ti.xcom_pull('train', key='job_name') }}"``, or an
            XComArg such as ``train.output["job_name"]``).
        stream_logs: Copy the training log into the task log while waiting (poke mode and deferrable).
        stop_job_on_kill: Stop the job when the task is killed. Off by default: the sensor did not
            start the job.
        **kwargs: ``deferrable``, connection and ``BaseSensorOperator`` arguments
            (:class:`~airflow_tf_sm.tasks.SageMakerSensor`).

    Example:
        >>> wait = TrainingJobSensor(  # doctest: +SKIP
        ...     task_id="wait_for_training",
        ...     job_name="{{ ti.xcom_pull('train', key='job_name') }}",
        ...     backend="local",
        ...     deferrable=True,
        ... )
    """

    template_fields: Sequence[str] = ("job_name", *SageMakerTask.template_fields)
    resource_links = (TrainingJobConsoleLink(), TrainingJobLogsLink())
    ui_color = "#ffd59e"
    what = "a training job"
    name_argument = "job_name"

    def __init__(
        self,
        *,
        job_name: str,
        stream_logs: bool = True,
        stop_job_on_kill: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.stream_logs = stream_logs
        self.stop_job_on_kill = stop_job_on_kill

    def make_trigger(self) -> BaseTrigger:
        """Return the :class:`~airflow_tf_sm.training.trigger.TrainingJobTrigger` of this wait."""
        from airflow_tf_sm.training.trigger import TrainingJobTrigger

        return TrainingJobTrigger(
            job_name=self.job_name,
            client_params=self.hook.trigger_params(),
            poll_interval=self.poke_interval,
            stream_logs=self.stream_logs,
            stop_job_on_kill=self.stop_job_on_kill,
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Return the result when the job is Completed, False while it runs; raise when it failed.

        Raises:
            TrainingJobFailedError: the job ended Failed or Stopped.
        """
        from airflow_tf_sm.sagemaker.resources import TRAINING_JOB

        return self.poke_job(self.hook.training, TRAINING_JOB, self.stream_logs)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired: re-describe the job and return its result (or raise)."""
        self.remember_link(self.resource_name)
        return self.hook.training.result_from_event(event, self.log)

    def on_kill(self) -> None:
        """Stop the job when the task is killed while poking, if ``stop_job_on_kill`` (deferred: the trigger's)."""
        if self.stop_job_on_kill and self._hook is not None and self.job_name:
            self.log.info("Task killed: stopping training job %s", self.job_name)
            self._hook.training.stop(self.job_name)

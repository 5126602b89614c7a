"""``TrainingJobSensor``: wait for a training job started elsewhere (another task, another DAG, a notebook)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.links import TrainingJobConsoleLink, TrainingJobLogsLink
from airflow_tf_sm.tasks import JobSensor, SageMakerTask

if TYPE_CHECKING:
    pass


class TrainingJobSensor(JobSensor):
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
    family = "training"
    trigger_class = "airflow_tf_sm.training.trigger:TrainingJobTrigger"
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

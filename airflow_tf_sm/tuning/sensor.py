"""``TuningJobSensor``: wait for a hyperparameter tuning job started elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.links import TuningJobConsoleLink
from airflow_tf_sm.tasks import JobSensor, SageMakerTask

if TYPE_CHECKING:
    pass


class TuningJobSensor(JobSensor):
    """Wait for a tuning job started elsewhere (another task, another DAG, a notebook) to end.

    Succeeds when the tuning job is Completed with a best training job and returns the same small dict as
    :class:`~airflow_tf_sm.tuning.operator.TFTuningOperator` (``best_training_job_name``, ``best_objective``,
    ...); fails with :class:`~airflow_tf_sm.exceptions.TuningJobFailedError` otherwise. It waits in the
    triggerer (``deferrable=True``) or by poking.

    Args:
        tuning_job_name: The tuning job (templated, or an XComArg such as ``tune.output["tuning_job_name"]``).
        stop_job_on_kill: Stop the tuning job when the task is killed. Off by default: the sensor did not
            start it.
        **kwargs: ``deferrable``, connection and ``BaseSensorOperator`` arguments.

    Example:
        >>> wait = TuningJobSensor(task_id="wait", tuning_job_name="tune-20250101", backend="local")  # doctest: +SKIP
    """

    template_fields: Sequence[str] = ("tuning_job_name", *SageMakerTask.template_fields)
    resource_links = (TuningJobConsoleLink(),)
    ui_color = "#ffd59e"
    family = "tuning"
    trigger_class = "airflow_tf_sm.tuning.trigger:TuningJobTrigger"
    what = "a tuning job"
    name_argument = "tuning_job_name"

    def __init__(self, *, tuning_job_name: str, stop_job_on_kill: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tuning_job_name = tuning_job_name
        self.stop_job_on_kill = stop_job_on_kill

"""``TuningJobSensor``: wait for a hyperparameter tuning job started elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import PokeReturnValue

from airflow_tf_sm.links import TuningJobConsoleLink
from airflow_tf_sm.tasks import SageMakerSensor, SageMakerTask

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_tf_sm.waiting import Watch


class TuningJobSensor(SageMakerSensor):
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
    what = "a tuning job"
    name_argument = "tuning_job_name"

    def __init__(self, *, tuning_job_name: str, stop_job_on_kill: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tuning_job_name = tuning_job_name
        self.stop_job_on_kill = stop_job_on_kill
        self._watch: Watch | None = None

    def make_trigger(self) -> BaseTrigger:
        """Return the :class:`~airflow_tf_sm.tuning.trigger.TuningJobTrigger` of this wait."""
        from airflow_tf_sm.tuning.trigger import TuningJobTrigger

        return TuningJobTrigger(
            tuning_job_name=self.tuning_job_name,
            client_params=self.hook.trigger_params(),
            poll_interval=self.poke_interval,
            stop_job_on_kill=self.stop_job_on_kill,
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Return the result when the tuning job is Completed, False while it runs; raise when it failed."""
        service = self.hook.tuning
        if self._watch is None:
            from airflow_tf_sm.tuning.service import tuning_watch

            self._watch = tuning_watch(self.tuning_job_name)
        step = self._watch.observe(service.describe(self.tuning_job_name))
        if step.status_line:
            self.log.info("%s", step.status_line)
        if not step.done:
            return False
        return PokeReturnValue(is_done=True, xcom_value=service.result(service.check_final(step.desc)))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired: re-describe the tuning job and return its result (or raise)."""
        self.remember_link(self.resource_name)
        return self.hook.tuning.result_from_event(event, self.log)

    def on_kill(self) -> None:
        """Stop the tuning job when the task is killed while poking, if ``stop_job_on_kill``."""
        if self.stop_job_on_kill and self._hook is not None and self.tuning_job_name:
            self.log.info("Task killed: stopping tuning job %s", self.tuning_job_name)
            self._hook.tuning.stop(self.tuning_job_name)

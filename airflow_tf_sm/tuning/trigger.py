"""``TuningJobTrigger``: wait in Airflow's triggerer for a hyperparameter tuning job to end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.jobtrigger import JobTrigger
from airflow_tf_sm.sagemaker.resources import TUNING_JOB
from airflow_tf_sm.waiting import Watch


class TuningJobTrigger(JobTrigger):
    """Wait in the triggerer for a tuning job to end, logging its progress (counters, best so far).

    The one event it yields::

        {"status": "success" | "failed" | "error", "tuning_job_name": ..., "tuning_job_status": ...,
         "failure_reason": ..., "result": hook.tuning.result(desc)}

    ``"error"`` events also carry ``error_code`` and ``message``.

    Args:
        tuning_job_name: The tuning job.
        client_params: Backend and connection settings (``hook.trigger_params()``), plain JSON.
        **options: ``poll_interval``, ``stop_job_on_kill``, ``coalesce``
            (see :class:`~airflow_tf_sm.jobtrigger.JobTrigger`).

    Example:
        >>> from airflow_tf_sm.backends import ClientParams
        >>> trigger = TuningJobTrigger("tune-1", ClientParams(backend="local").to_dict(), poll_interval=10)
        >>> trigger.serialize()[0]
        'airflow_tf_sm.tuning.trigger.TuningJobTrigger'
    """

    hook_class = TFSageMakerHook
    resource = TUNING_JOB
    service_name = "tuning"
    fields = ("tuning_job_name", "stop_job_on_kill", "coalesce")

    def __init__(self, tuning_job_name: str, client_params: Mapping[str, Any], **options: Any) -> None:
        self.tuning_job_name = tuning_job_name
        super().__init__(client_params, **options)

    def watch(self) -> Watch:
        """Return the state machine of this wait (with the tuning status line)."""
        from airflow_tf_sm.tuning.service import tuning_watch

        return tuning_watch(self.tuning_job_name, error_extra=self.error_extra())

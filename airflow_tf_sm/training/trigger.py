"""``TrainingJobTrigger``: wait in Airflow's triggerer for a training job to end, streaming its log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.jobtrigger import JobTrigger
from airflow_tf_sm.sagemaker.resources import TRAINING_JOB


class TrainingJobTrigger(JobTrigger):
    """Wait in the triggerer for a training job to end; stream its log and status transitions meanwhile.

    The one event it yields::

        {"status": "success" | "failed" | "error", "job_name": ..., "training_job_status": ...,
         "secondary_status": ..., "failure_reason": ..., "log_tail": [<= 20 lines],
         "result": hook.training.result(desc)}

    ``"error"`` events (an error that polling again cannot fix, e.g. an unknown job or denied access)
    also carry ``error_code`` and ``message``.

    Args:
        job_name: The training job.
        client_params: Backend and connection settings (``hook.trigger_params()``), plain JSON.
        **options: ``poll_interval``, ``stop_job_on_kill``, ``coalesce``, ``stream_logs``
            (see :class:`~airflow_tf_sm.jobtrigger.JobTrigger`).

    Example:
        >>> from airflow_tf_sm.backends import ClientParams
        >>> trigger = TrainingJobTrigger("mnist-1", ClientParams(backend="local").to_dict(), poll_interval=10)
        >>> trigger.serialize()[0]
        'airflow_tf_sm.training.trigger.TrainingJobTrigger'
    """

    hook_class = TFSageMakerHook
    resource = TRAINING_JOB
    service_name = "training"
    fields = ("job_name", "stream_logs", "stop_job_on_kill", "coalesce")

    def __init__(self, job_name: str, client_params: Mapping[str, Any], **options: Any) -> None:
        self.job_name = job_name
        super().__init__(client_params, **options)

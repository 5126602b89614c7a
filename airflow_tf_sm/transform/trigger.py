"""``TransformJobTrigger``: wait in Airflow's triggerer for a batch transform job to end, streaming its log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.jobtrigger import JobTrigger
from airflow_tf_sm.sagemaker.resources import TRANSFORM_JOB


class TransformJobTrigger(JobTrigger):
    """Wait in the triggerer for a transform job to end; stream its log and status changes meanwhile.

    The one event it yields::

        {"status": "success" | "failed" | "error", "transform_job_name": ..., "transform_job_status": ...,
         "failure_reason": ..., "log_tail": [<= 20 lines], "result": hook.transform.result(desc)}

    ``"error"`` events (e.g. an unknown job or denied access) also carry ``error_code`` and ``message``.
    A killed task stops the job when ``stop_job_on_kill`` (Airflow 3.3+ calls :meth:`on_kill`); triggerer
    shutdown, restart or redistribution never does.

    Args:
        transform_job_name: The transform job.
        client_params: Backend and connection settings (``hook.trigger_params()``), plain JSON.
        **options: ``poll_interval``, ``stop_job_on_kill``, ``coalesce``, ``stream_logs``
            (see :class:`~airflow_tf_sm.jobtrigger.JobTrigger`).

    Example:
        >>> from airflow_tf_sm.backends import ClientParams
        >>> trigger = TransformJobTrigger("score-1", ClientParams(backend="local").to_dict(), poll_interval=10)
        >>> trigger.serialize()[0]
        'airflow_tf_sm.transform.trigger.TransformJobTrigger'
    """

    hook_class = TFSageMakerHook
    resource = TRANSFORM_JOB
    service_name = "transform"
    fields = ("transform_job_name", "stream_logs", "stop_job_on_kill", "coalesce")

    def __init__(self, transform_job_name: str, client_params: Mapping[str, Any], **options: Any) -> None:
        self.transform_job_name = transform_job_name
        super().__init__(client_params, **options)

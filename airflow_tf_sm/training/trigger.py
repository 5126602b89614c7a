"""``TrainingJobTrigger``: wait in Airflow's triggerer for a training job to end, streaming its log."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.polling import WaitTrigger
from airflow_tf_sm.sagemaker.resources import TRAINING_JOB
from airflow_tf_sm.waiting import LOG_TAIL_LINES, LogReader, Watch


class TrainingJobTrigger(WaitTrigger):
    """Wait in the triggerer for a training job to end; stream its log and status transitions meanwhile.

    The one event it yields::

        {"status": "success" | "failed" | "error", "job_name": ..., "training_job_status": ...,
         "secondary_status": ..., "failure_reason": ..., "log_tail": [<= 20 lines],
         "result": hook.training.result(desc)}

    ``"error"`` events (an error that polling again cannot fix, e.g. an unknown job or denied access)
    also carry ``error_code`` and ``message``. A killed task stops the job when ``stop_job_on_kill``
    (Airflow 3.3+ calls :meth:`on_kill`); triggerer shutdown, restart or redistribution never does.

    Args:
        job_name: The training job.
        client_params: Backend and connection settings (``hook.trigger_params()``), plain JSON.
        poll_interval: Seconds between polls.
        stream_logs: Copy new training-log lines into the trigger's log while waiting.
        stop_job_on_kill: Stop the job when a user kills the deferred task.
        coalesce: Wait through the shared poller of this connection and region
            (:mod:`airflow_tf_sm.polling`: one paginated ListTrainingJobs per interval, describes only of
            jobs that changed, the logs of all its jobs read together: ``logfeed.py``) instead of describing
            this job and reading its log every interval. Same log lines, same event.

    Example:
        >>> from airflow_tf_sm.backends import ClientParams
        >>> trigger = TrainingJobTrigger("mnist-1", ClientParams(backend="local").to_dict(), poll_interval=10)
        >>> trigger.serialize()[0]
        'airflow_tf_sm.training.trigger.TrainingJobTrigger'
    """

    hook_class = TFSageMakerHook
    resource = TRAINING_JOB
    fields = ("job_name", "stream_logs", "stop_job_on_kill", "coalesce")

    def __init__(
        self,
        job_name: str,
        client_params: Mapping[str, Any],
        poll_interval: float = 30.0,
        stream_logs: bool = True,
        stop_job_on_kill: bool = True,
        coalesce: bool = True,
    ) -> None:
        super().__init__(client_params, poll_interval)
        self.job_name = job_name
        self.coalesce = coalesce
        self.stream_logs = stream_logs
        self.stop_job_on_kill = stop_job_on_kill
        self._reader: LogReader | None = None

    def watch(self) -> Watch:
        """Return the state machine of this wait."""
        return Watch(TRAINING_JOB, self.job_name, error_extra={"log_tail": [], "result": None})

    def log_reader(self, hook: TFSageMakerHook) -> LogReader:
        """Return the job's per-job log reader (built once)."""
        if self._reader is None:
            self._reader = hook.training.log_reader(self.job_name)
        return self._reader

    def describe(self, hook: TFSageMakerHook) -> dict[str, Any]:
        """Describe the job (blocking)."""
        return hook.training.describe(self.job_name)

    def new_entries(self, hook: TFSageMakerHook) -> list[tuple[int, str]]:
        """Return the job's new ``(level, line)`` log entries when streaming (blocking)."""
        return self.log_reader(hook).new_entries() if self.stream_logs else []

    def final_event(self, watch: Watch, desc: dict[str, Any]) -> dict[str, Any]:
        """Return the event of a job that ended (blocking: may read the last log lines).

        ``log_tail`` holds only lines not shown yet: none when the log was streamed, the last lines of a
        job that did not complete when it was not (the event is stored in Airflow's database: small).
        """
        hook = self.hook
        tail: list[str] = []
        if not self.stream_logs and desc["TrainingJobStatus"] != "Completed":
            tail = self.log_reader(hook).tail(LOG_TAIL_LINES)
        return watch.event(desc, log_tail=tail, result=hook.training.result(desc))

    async def on_kill(self) -> None:
        """Stop the training job when a user kills the deferred task (unless ``stop_job_on_kill=False``).

        Airflow (3.3+) calls this only for user actions (mark failed, clear, mark success), never on
        triggerer shutdown or redistribution; :meth:`cleanup` never stops the job.
        """
        if not self.stop_job_on_kill:
            self.log.info("Task killed: training job %s keeps running (stop_job_on_kill=False)", self.job_name)
            return
        self.log.info("Task killed: stopping training job %s", self.job_name)
        await asyncio.to_thread(self.hook.training.stop, self.job_name)

"""``TransformJobTrigger``: wait in Airflow's triggerer for a batch transform job to end, streaming its log."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.polling import WaitTrigger
from airflow_tf_sm.sagemaker.resources import TRANSFORM_JOB
from airflow_tf_sm.waiting import LOG_TAIL_LINES, LogReader, Watch


class TransformJobTrigger(WaitTrigger):
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
        poll_interval: Seconds between polls.
        stream_logs: Copy new log lines of the job into the trigger's log while waiting.
        stop_job_on_kill: Stop the job when a user kills the deferred task.
        coalesce: Wait through the shared poller of transform jobs of this connection and region (one paginated
            ListTransformJobs per interval, describes only of jobs that changed, logs read for all at once).

    Example:
        >>> from airflow_tf_sm.backends import ClientParams
        >>> trigger = TransformJobTrigger("score-1", ClientParams(backend="local").to_dict(), poll_interval=10)
        >>> trigger.serialize()[0]
        'airflow_tf_sm.transform.trigger.TransformJobTrigger'
    """

    hook_class = TFSageMakerHook
    resource = TRANSFORM_JOB
    fields = ("transform_job_name", "stream_logs", "stop_job_on_kill", "coalesce")

    def __init__(
        self,
        transform_job_name: str,
        client_params: Mapping[str, Any],
        poll_interval: float = 30.0,
        stream_logs: bool = True,
        stop_job_on_kill: bool = True,
        coalesce: bool = True,
    ) -> None:
        super().__init__(client_params, poll_interval)
        self.transform_job_name = transform_job_name
        self.coalesce = coalesce
        self.stream_logs = stream_logs
        self.stop_job_on_kill = stop_job_on_kill
        self._reader: LogReader | None = None

    def watch(self) -> Watch:
        """Return the state machine of this wait."""
        return Watch(TRANSFORM_JOB, self.transform_job_name, error_extra={"log_tail": [], "result": None})

    def log_reader(self, hook: TFSageMakerHook) -> LogReader:
        """Return the job's per-job log reader (built once)."""
        if self._reader is None:
            self._reader = hook.transform.log_reader(self.transform_job_name)
        return self._reader

    def describe(self, hook: TFSageMakerHook) -> dict[str, Any]:
        """Describe the job (blocking)."""
        return hook.transform.describe(self.transform_job_name)

    def new_entries(self, hook: TFSageMakerHook) -> list[tuple[int, str]]:
        """Return the job's new ``(level, line)`` log entries when streaming (blocking)."""
        return self.log_reader(hook).new_entries() if self.stream_logs else []

    def final_event(self, watch: Watch, desc: dict[str, Any]) -> dict[str, Any]:
        """Return the event of a job that ended (blocking: may read the last log lines, lists the outputs)."""
        hook = self.hook
        tail: list[str] = []  # only lines not shown yet: the event is stored in Airflow's database
        if not self.stream_logs and desc["TransformJobStatus"] != "Completed":
            tail = self.log_reader(hook).tail(LOG_TAIL_LINES)
        return watch.event(desc, log_tail=tail, result=hook.transform.result(desc))

    async def on_kill(self) -> None:
        """Stop the transform job when a user kills the deferred task (unless ``stop_job_on_kill=False``)."""
        if not self.stop_job_on_kill:
            self.log.info(
                "Task killed: transform job %s keeps running (stop_job_on_kill=False)", self.transform_job_name
            )
            return
        self.log.info("Task killed: stopping transform job %s", self.transform_job_name)
        await asyncio.to_thread(self.hook.transform.stop, self.transform_job_name)

"""``JobTrigger``: the one wait of a training, tuning or transform job in Airflow's triggerer.

A family's trigger (``training/trigger.py``, ``tuning/trigger.py``, ``transform/trigger.py``) names its resource,
its service on the hook and its constructor keywords (kept per family: a trigger stored in Airflow's database
by an earlier release is rebuilt from them); describing, log reading, the final event and stopping the job
when a user kills the deferred task are here, once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from airflow_tf_sm.polling import WaitTrigger
from airflow_tf_sm.waiting import LOG_TAIL_LINES, LogReader, Watch


class JobTrigger(WaitTrigger):
    """Wait in the triggerer for one job to end; stream its log (families with one) and status changes meanwhile.

    Subclasses set ``resource``, ``hook_class``, ``service_name`` (the hook's service of the family) and
    ``fields`` (the job's name keyword, ``resource.event_name_key``, first). Events carry the resource's event
    keys, ``failure_reason``, ``result`` (the service's ``result(desc)``) and, for a family with a log,
    ``log_tail`` (only lines not shown yet: the event is stored in Airflow's database). A killed task stops the
    job when ``stop_job_on_kill`` (Airflow 3.3+ calls :meth:`on_kill`); triggerer shutdown, restart or
    redistribution never does.

    A family's trigger takes the job's name (its own keyword) and ``client_params`` first, then these
    keywords, passed on unchanged.

    Args:
        client_params: Backend and connection settings (``hook.trigger_params()``), plain JSON.
        poll_interval: Seconds between polls.
        stop_job_on_kill: Stop the job when a user kills the deferred task.
        coalesce: Wait through the shared poller of the family's jobs of this connection and region
            (:mod:`airflow_tf_sm.polling`: one paginated List* per interval, describes only of jobs that
            changed, the logs of all its jobs read together: ``logfeed.py``) instead of describing this job
            and reading its log every interval. Same log lines, same event.
        stream_logs: Copy new log lines of the job into the trigger's log while waiting (families with a
            log; ignored for a tuning job, whose training jobs have the logs).
    """

    #: The hook's service of the family (``hook.training``, ``hook.tuning``, ``hook.transform``).
    service_name: str

    def __init__(
        self,
        client_params: Mapping[str, Any],
        poll_interval: float = 30.0,
        *,
        stop_job_on_kill: bool = True,
        coalesce: bool = True,
        stream_logs: bool = True,
    ) -> None:
        super().__init__(client_params, poll_interval)
        self.stop_job_on_kill = stop_job_on_kill
        self.coalesce = coalesce
        self.stream_logs = stream_logs and bool(self.resource.log_group)
        self._reader: LogReader | None = None

    @property
    def job(self) -> str:
        """The job's name (the family's own keyword)."""
        return str(getattr(self, self.resource.event_name_key))

    def service(self, hook: Any) -> Any:
        """Return the family's service of ``hook``."""
        return getattr(hook, self.service_name)

    def error_extra(self) -> dict[str, Any]:
        """Return the keys an ``error`` event carries besides the error (the same keys as the other events)."""
        return {"log_tail": [], "result": None} if self.resource.log_group else {"result": None}

    def watch(self) -> Watch:
        """Return the state machine of this wait."""
        return Watch(self.resource, self.job, error_extra=self.error_extra())

    def log_reader(self, hook: Any) -> LogReader | None:
        """Return the job's per-job log reader (built once; none for a family without a log)."""
        if self._reader is None and self.resource.log_group:
            self._reader = self.service(hook).log_reader(self.job)
        return self._reader

    def describe(self, hook: Any) -> dict[str, Any]:
        """Describe the job (blocking)."""
        return dict(self.service(hook).describe(self.job))

    def new_entries(self, hook: Any) -> list[tuple[int, str]]:
        """Return the job's new ``(level, line)`` log entries when streaming (blocking)."""
        reader = self.log_reader(hook) if self.stream_logs else None
        return reader.new_entries() if reader is not None else []

    def final_event(self, watch: Watch, desc: dict[str, Any]) -> dict[str, Any]:
        """Return the event of a job that ended (blocking: may read the last log lines).

        ``log_tail`` holds only lines not shown yet: none when the log was streamed, the last lines of a
        job that did not complete when it was not.
        """
        hook = self.hook
        extra: dict[str, Any] = {}
        if self.resource.log_group:
            shown = self.stream_logs or desc[self.resource.status_key] == "Completed"
            reader = None if shown else self.log_reader(hook)
            extra["log_tail"] = reader.tail(LOG_TAIL_LINES) if reader is not None else []
        return watch.event(desc, **extra, result=self.service(hook).result(desc))

    async def on_kill(self) -> None:
        """Stop the job when a user kills the deferred task (unless ``stop_job_on_kill=False``).

        Airflow (3.3+) calls this only for user actions (mark failed, clear, mark success), never on
        triggerer shutdown or redistribution; :meth:`cleanup` never stops the job.
        """
        kind = self.resource.title.lower()
        if not self.stop_job_on_kill:
            self.log.info("Task killed: %s %s keeps running (stop_job_on_kill=False)", kind, self.job)
            return
        self.log.info("Task killed: stopping %s %s", kind, self.job)
        await asyncio.to_thread(self.service(self.hook).stop, self.job)

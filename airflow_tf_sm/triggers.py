"""Triggers: wait for SageMaker (or local backend) resources in Airflow's triggerer, without blocking it.

A trigger is rebuilt in the triggerer process from plain JSON kwargs (:meth:`serialize`), builds its own
:class:`~airflow_tf_sm.hook.TFSageMakerHook` there, and runs every blocking client call in a worker
thread, so the triggerer's event loop never stalls. It polls until the resource reaches a terminal
state -- there is no attempt cap; the task's own timeout bounds the wait -- and yields exactly one event.

Throttling and other transient errors never fail the wait: they are logged and the next poll follows.
Running the same trigger twice (after a triggerer failover) is harmless: it only describes and reads
logs, and its event is computed from the job's state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_tf_sm.exceptions import TFSageMakerError, TrainingJobFailedError

if TYPE_CHECKING:
    from airflow_tf_sm.hook import TFSageMakerHook, TrainingLogReader

#: How many training-log lines an event carries.
LOG_TAIL_LINES = 20
#: The keyword arguments of :class:`~airflow_tf_sm.backends.ClientParams` a trigger carries.
CLIENT_PARAM_KEYS = (
    "backend",
    "aws_conn_id",
    "region_name",
    "verify",
    "botocore_config",
    "endpoint_url",
    "local_root",
)


class _PollingTrigger(BaseTrigger):
    """Poll one resource through the hook until it is terminal, then yield one event.

    Subclasses say what to poll and what the event holds; this class owns the loop: blocking work in a
    worker thread, status changes logged once, transient errors retried forever, other errors turned
    into an ``{"status": "error"}`` event.

    Args:
        client_params: Backend and connection settings, the keys of :data:`CLIENT_PARAM_KEYS`.
        poll_interval: Seconds between polls.
    """

    def __init__(self, client_params: Mapping[str, Any], poll_interval: float = 30.0) -> None:
        super().__init__()
        unknown = sorted(set(client_params) - set(CLIENT_PARAM_KEYS))
        if unknown:
            raise ValueError(f"client_params: unknown key(s) {unknown} -- allowed: {', '.join(CLIENT_PARAM_KEYS)}")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval: {poll_interval!r} -- must be a positive number of seconds")
        self.client_params: dict[str, Any] = dict(client_params)
        self.poll_interval = float(poll_interval)
        self._hook: TFSageMakerHook | None = None

    # ------------------------------------------------------------ to override
    def poll(self, hook: TFSageMakerHook) -> tuple[dict[str, Any], list[str]]:
        """Describe the resource (blocking; runs in a worker thread).

        Returns:
            The description and lines to copy into the log (e.g. new training-log lines).
        """
        raise NotImplementedError

    def is_terminal(self, desc: Mapping[str, Any]) -> bool:
        """Return True when ``desc`` is a final state."""
        raise NotImplementedError

    def status_line(self, desc: Mapping[str, Any]) -> str:
        """Return a one-line status; it is logged whenever it changes."""
        raise NotImplementedError

    def final_event(self, hook: TFSageMakerHook, desc: Mapping[str, Any]) -> dict[str, Any]:
        """Return the event payload for a terminal ``desc`` (blocking; runs in a worker thread)."""
        raise NotImplementedError

    def error_event(self, exc: BaseException) -> dict[str, Any]:
        """Return the event payload for an error that polling again cannot fix."""
        from airflow_tf_sm.hook import error_code

        return {"status": "error", "error_code": error_code(exc), "message": f"{type(exc).__name__}: {exc}"}

    # ------------------------------------------------------------------ loop
    def make_hook(self) -> TFSageMakerHook:
        """Build the hook from ``client_params`` (clients are created on first use, in a worker thread)."""
        from airflow_tf_sm.hook import TFSageMakerHook

        return TFSageMakerHook(**self.client_params)

    @property
    def hook(self) -> TFSageMakerHook:
        """The hook of this trigger instance, built once."""
        if self._hook is None:
            self._hook = self.make_hook()
        return self._hook

    def _poll_once(self, hook: TFSageMakerHook) -> tuple[dict[str, Any], list[str], dict[str, Any] | None]:
        desc, lines = self.poll(hook)
        event = self.final_event(hook, desc) if self.is_terminal(desc) else None
        return desc, lines, event

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the resource is terminal; yield one event with its final state."""
        from airflow_tf_sm.hook import error_code, is_retryable_error

        hook = self.hook
        last_status: str | None = None
        while True:
            try:
                desc, lines, event = await asyncio.to_thread(self._poll_once, hook)
            except Exception as exc:
                if is_retryable_error(exc):
                    self.log.warning(
                        "Transient error while polling (%s: %s); polling again in %g s",
                        error_code(exc) or type(exc).__name__,
                        exc,
                        self.poll_interval,
                    )
                    await asyncio.sleep(self.poll_interval)
                    continue
                self.log.error("Polling failed: %s", exc)
                yield TriggerEvent(self.error_event(exc))
                return
            status = self.status_line(desc)
            if status != last_status:
                self.log.info("%s", status)
                last_status = status
            for line in lines:
                self.log.info("%s", line)
            if event is not None:
                yield TriggerEvent(event)
                return
            await asyncio.sleep(self.poll_interval)


class TrainingJobTrigger(_PollingTrigger):
    """Wait in the triggerer for a training job to end; stream its log and status transitions meanwhile.

    The one event it yields::

        {"status": "success" | "failed" | "error", "job_name": ..., "training_job_status": ...,
         "secondary_status": ..., "failure_reason": ..., "log_tail": [<= 20 lines],
         "result": TFSageMakerHook.training_result(desc)}

    ``"error"`` events (an error that polling again cannot fix, e.g. an unknown job or denied access)
    also carry ``error_code`` and ``message``. A killed task stops the job when ``stop_job_on_kill``
    (Airflow 3.3+ calls :meth:`on_kill`); triggerer shutdown, restart or redistribution never does.

    Args:
        job_name: The training job.
        client_params: Backend and connection settings (``ClientParams.to_dict()``), plain JSON.
        poll_interval: Seconds between polls.
        stream_logs: Copy new training-log lines into the trigger's log while waiting.
        stop_job_on_kill: Stop the job when a user kills the deferred task.
        coalesce: Wait through the shared poller of this connection and region
            (:mod:`airflow_tf_sm.polling`: one paginated ListTrainingJobs per interval, describes only of
            jobs that changed) instead of describing this job every interval. Same log lines, same event.

    Example:
        >>> from airflow_tf_sm.backends import ClientParams
        >>> trigger = TrainingJobTrigger("mnist-1", ClientParams(backend="local").to_dict(), poll_interval=10)
        >>> trigger.serialize()[0]
        'airflow_tf_sm.triggers.TrainingJobTrigger'
    """

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
        self._reader: TrainingLogReader | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the plain-JSON kwargs that rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_name": self.job_name,
                "client_params": dict(self.client_params),
                "poll_interval": self.poll_interval,
                "stream_logs": self.stream_logs,
                "stop_job_on_kill": self.stop_job_on_kill,
                "coalesce": self.coalesce,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait until the job ends and yield its one event (through the shared poller when ``coalesce``)."""
        if not self.coalesce:
            async for event in super().run():
                yield event
            return
        from airflow_tf_sm.polling import watch_training_job

        async for payload in watch_training_job(self):
            yield TriggerEvent(payload)

    def _log_reader(self, hook: TFSageMakerHook) -> TrainingLogReader:
        if self._reader is None:
            from airflow_tf_sm.hook import TrainingLogReader

            self._reader = TrainingLogReader(hook, self.job_name)
        return self._reader

    def _new_log_lines(self, hook: TFSageMakerHook) -> list[str]:
        try:
            return self._log_reader(hook).new_lines()
        except Exception as exc:  # logs are a convenience: never fail the wait because of them
            self.log.warning("Cannot read the log of training job %s: %s", self.job_name, exc)
            return []

    def poll(self, hook: TFSageMakerHook) -> tuple[dict[str, Any], list[str]]:
        """Describe the job and read its new log lines (blocking)."""
        desc = hook.describe_training_job(self.job_name)
        lines = self._new_log_lines(hook) if self.stream_logs else []
        return desc, lines

    def is_terminal(self, desc: Mapping[str, Any]) -> bool:
        """Return True for Completed, Failed and Stopped."""
        from airflow_tf_sm.hook import TERMINAL_STATUSES

        return desc["TrainingJobStatus"] in TERMINAL_STATUSES

    def status_line(self, desc: Mapping[str, Any]) -> str:
        """Return ``"Training job <name>: <status> - <secondary status>"``, with billable seconds at the end."""
        line = f"Training job {self.job_name}: {desc['TrainingJobStatus']} - {desc.get('SecondaryStatus')}"
        transitions = desc.get("SecondaryStatusTransitions") or []
        message = transitions[-1].get("StatusMessage") if transitions else None
        if message:
            line += f" ({message})"
        if self.is_terminal(desc) and desc.get("BillableTimeInSeconds") is not None:
            line += f"; billable seconds: {desc['BillableTimeInSeconds']}"
        return line

    def final_event(self, hook: TFSageMakerHook, desc: Mapping[str, Any]) -> dict[str, Any]:
        """Return the event of a job that ended (blocking: may read the last log lines)."""
        status = desc["TrainingJobStatus"]
        tail: list[str] = []
        if self.stream_logs:
            tail = self._log_reader(hook).recent[-LOG_TAIL_LINES:]
        elif status != "Completed":
            try:
                tail = self._log_reader(hook).tail(LOG_TAIL_LINES)
            except Exception as exc:
                self.log.warning("Cannot read the log of training job %s: %s", self.job_name, exc)
        return {
            "status": "success" if status == "Completed" else "failed",
            "job_name": self.job_name,
            "training_job_status": status,
            "secondary_status": desc.get("SecondaryStatus"),
            "failure_reason": desc.get("FailureReason"),
            "log_tail": tail,
            "result": hook.training_result(desc),
        }

    def error_event(self, exc: BaseException) -> dict[str, Any]:
        """Return an ``"error"`` event that names the job."""
        return {
            **super().error_event(exc),
            "job_name": self.job_name,
            "training_job_status": None,
            "secondary_status": None,
            "failure_reason": None,
            "log_tail": [],
            "result": None,
        }

    async def on_kill(self) -> None:
        """Stop the training job when a user kills the deferred task (unless ``stop_job_on_kill=False``).

        Airflow (3.3+) calls this only for user actions (mark failed, clear, mark success), never on
        triggerer shutdown or redistribution; :meth:`cleanup` never stops the job.
        """
        if not self.stop_job_on_kill:
            self.log.info("Task killed: training job %s keeps running (stop_job_on_kill=False)", self.job_name)
            return
        self.log.info("Task killed: stopping training job %s", self.job_name)
        await asyncio.to_thread(self.hook.stop_training_job, self.job_name)


def trigger_client_params(hook: TFSageMakerHook) -> dict[str, Any]:
    """Return the hook's client settings for a trigger's kwargs, with the region and local root pinned.

    The triggerer may run elsewhere, with other defaults: the region the task resolved (from its
    connection or environment) and, on the local backend, the resolved state root travel explicitly.

    Args:
        hook: The deferring task's hook.
    """
    params = hook.params.to_dict()
    params["region_name"] = hook.region
    if hook.backend == "local":
        from airflow_tf_sm.config import resolve_local_root

        params["local_root"] = str(resolve_local_root(hook.params.local_root))
    return params


def training_result_from_event(
    hook: TFSageMakerHook, event: Mapping[str, Any] | None, log: Any = None
) -> dict[str, Any]:
    """Turn a :class:`TrainingJobTrigger` event into the task's result dict, re-describing the job.

    Used on resume (``execute_complete``) by the operator and the sensor. The job is described again,
    so a repeated or stale event cannot report a wrong state; the event's log tail is logged.

    Args:
        hook: Hook of the resumed task.
        event: The trigger's event.
        log: Logger for the log tail and billable seconds (default: the hook's).

    Returns:
        ``hook.training_result(desc)`` of the Completed job.

    Raises:
        TrainingJobFailedError: the job ended Failed or Stopped.
        TFSageMakerError: the trigger reported an error, or the event is missing or names no job.
    """
    logger = log or hook.log
    if not event or not event.get("job_name"):
        raise TFSageMakerError(f"Training job trigger returned no usable event: {event!r}")
    job_name = str(event["job_name"])
    if event.get("status") == "error":
        raise TFSageMakerError(f"Waiting for training job {job_name} failed: {event.get('message')}")
    tail = [str(line) for line in event.get("log_tail") or []]
    if tail:
        logger.info("Last log lines of training job %s:\n%s", job_name, "\n".join(tail))
    desc = hook.describe_training_job(job_name)
    status = desc["TrainingJobStatus"]
    if status in ("Failed", "Stopped"):
        raise TrainingJobFailedError(job_name, status, desc.get("FailureReason"), "\n".join(tail))
    if status != "Completed":
        raise TFSageMakerError(f"Training job {job_name} is {status} although its trigger reported it ended")
    return hook.training_result(hook.check_final(desc))


class EndpointTrigger(_PollingTrigger):
    """Wait in the triggerer for an endpoint to leave Creating/Updating; yield one event.

    The one event it yields::

        {"status": "success" | "failed" | "error", "endpoint_name": ..., "endpoint_status": ...,
         "endpoint_config_name": ..., "expected_config": ..., "failure_reason": ..., "rolled_back": bool}

    ``"success"`` means InService on ``expected_config`` (when given). An update that SageMaker rolled
    back leaves the endpoint InService on its previous config: that is ``"failed"`` with
    ``rolled_back=True``. ``"error"`` events (e.g. the endpoint was deleted) carry ``error_code`` and
    ``message``. The trigger only describes: running it twice is harmless.

    Args:
        endpoint_name: The endpoint.
        client_params: Backend and connection settings (``trigger_client_params(hook)``), plain JSON.
        poll_interval: Seconds between polls.
        expected_config: The endpoint config the endpoint must end up serving.

    Example:
        >>> from airflow_tf_sm.backends import ClientParams
        >>> trigger = EndpointTrigger("mnist", ClientParams(backend="local").to_dict(), poll_interval=10)
        >>> trigger.serialize()[0]
        'airflow_tf_sm.triggers.EndpointTrigger'
    """

    def __init__(
        self,
        endpoint_name: str,
        client_params: Mapping[str, Any],
        poll_interval: float = 30.0,
        expected_config: str | None = None,
    ) -> None:
        super().__init__(client_params, poll_interval)
        self.endpoint_name = endpoint_name
        self.expected_config = expected_config

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the plain-JSON kwargs that rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "endpoint_name": self.endpoint_name,
                "client_params": dict(self.client_params),
                "poll_interval": self.poll_interval,
                "expected_config": self.expected_config,
            },
        )

    def poll(self, hook: TFSageMakerHook) -> tuple[dict[str, Any], list[str]]:
        """Describe the endpoint (blocking)."""
        return hook.describe_endpoint(self.endpoint_name), []

    def is_terminal(self, desc: Mapping[str, Any]) -> bool:
        """Return True for every status but Creating, Updating, SystemUpdating and RollingBack."""
        from airflow_tf_sm.hook import ENDPOINT_BUSY_STATUSES

        return desc["EndpointStatus"] not in ENDPOINT_BUSY_STATUSES

    def status_line(self, desc: Mapping[str, Any]) -> str:
        """Return ``"Endpoint <name>: <status> (<config>)"``."""
        return f"Endpoint {self.endpoint_name}: {desc['EndpointStatus']} ({desc.get('EndpointConfigName')})"

    def final_event(self, hook: TFSageMakerHook, desc: Mapping[str, Any]) -> dict[str, Any]:
        """Return the event of an endpoint that settled."""
        status, config = desc["EndpointStatus"], desc.get("EndpointConfigName")
        rolled_back = status == "InService" and bool(self.expected_config) and config != self.expected_config
        return {
            "status": "success" if status == "InService" and not rolled_back else "failed",
            "endpoint_name": self.endpoint_name,
            "endpoint_status": status,
            "endpoint_config_name": config,
            "expected_config": self.expected_config,
            "failure_reason": desc.get("FailureReason"),
            "rolled_back": rolled_back,
        }

    def error_event(self, exc: BaseException) -> dict[str, Any]:
        """Return an ``"error"`` event that names the endpoint."""
        return {
            **super().error_event(exc),
            "endpoint_name": self.endpoint_name,
            "endpoint_status": None,
            "endpoint_config_name": None,
            "expected_config": self.expected_config,
            "failure_reason": None,
            "rolled_back": False,
        }


def endpoint_result_from_event(
    hook: TFSageMakerHook, event: Mapping[str, Any] | None, expected_config: str | None = None
) -> dict[str, Any]:
    """Turn an :class:`EndpointTrigger` event into the deploy result, re-describing the endpoint.

    Used on resume by :class:`~airflow_tf_sm.operators.TFDeployOperator` and
    :class:`~airflow_tf_sm.sensors.EndpointSensor`. A repeated or stale event cannot report a wrong
    state: the endpoint is described again and checked against the expected config.

    Args:
        hook: Hook of the resumed task.
        event: The trigger's event.
        expected_config: The endpoint config the endpoint must serve (default: the event's).

    Returns:
        ``hook.endpoint_result(...)`` of the InService endpoint.

    Raises:
        EndpointFailedError: the endpoint is Failed, OutOfService, ... or its update was rolled back.
        TFSageMakerError: the trigger reported an error, or the event is missing or names no endpoint.
    """
    if not event or not event.get("endpoint_name"):
        raise TFSageMakerError(f"Endpoint trigger returned no usable event: {event!r}")
    name = str(event["endpoint_name"])
    if event.get("status") == "error":
        raise TFSageMakerError(f"Waiting for endpoint {name} failed: {event.get('message')}")
    expected = expected_config or event.get("expected_config")
    desc = hook.check_endpoint(hook.describe_endpoint(name), expected)
    return hook.endpoint_result(name, desc)

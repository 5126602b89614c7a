"""The one wait state machine: SageMaker descriptions in; status lines, log lines, "done?" and the outcome out.

Every wait of the package runs on :class:`Watch`: the blocking wait of a task in a worker
(:func:`wait_blocking`), a sensor's poke, a per-job trigger (:func:`wait_async`) and the triggers served by
the shared poller (``polling.py``). A watch is fed descriptions of one resource (training job, endpoint,
tuning job, transform job) and tells each time whether its status line changed, whether the resource
settled, and whether that is a success; it builds the one event a trigger yields. The facts it reads
(statuses, name keys, log groups) are the resource's :class:`~airflow_tf_sm.sagemaker.resources.Resource`.

Polling intervals come from :class:`Backoff`: the configured interval is a ceiling, waits start shorter
and grow to it. Transient errors (throttling, 5xx, connection errors) never end a wait.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.sagemaker.errors import error_code, is_retryable
from airflow_tf_sm.sagemaker.resources import ENDPOINT, TRAINING_JOB, Resource

if TYPE_CHECKING:
    from airflow_tf_sm.hook import TFSageMakerHook

#: How many log lines a final event or failure message carries.
LOG_TAIL_LINES = 20
#: First polling interval (seconds) when the configured one is longer.
FIRST_INTERVAL = 1.0


class WaitTimeoutError(Exception):
    """The wait took longer than its limit (the caller decides what to stop)."""


@dataclass
class Backoff:
    """Polling intervals: ``start``, then doubling, never above ``ceiling`` (the configured interval).

    The configured interval is a ceiling, not a fixed sleep: a wait looks again after about a second, then
    2, 4, ... seconds, so a short job is seen ending within seconds while a long one is polled at the
    configured interval. Pass ``start=ceiling`` for a fixed interval.

    Args:
        ceiling: The configured poll interval (the longest wait).
        start: The first interval (default :data:`FIRST_INTERVAL`, or the ceiling when that is shorter).
    """

    ceiling: float
    start: float | None = None
    _next: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if self.ceiling <= 0:
            raise ValueError(f"poll_interval: {self.ceiling!r} -- must be a positive number of seconds")
        self.reset()

    def reset(self) -> None:
        """Start over from the first interval (after a change worth watching closely)."""
        self._next = min(self.ceiling, self.start if self.start else FIRST_INTERVAL)

    def next(self) -> float:
        """Return the next interval to wait."""
        value = self._next
        self._next = min(self.ceiling, value * 2)
        return value


@dataclass(frozen=True)
class Step:
    """What one description means for a wait.

    Attributes:
        desc: The description.
        status_line: The status line when it changed since the previous step, else ``None``.
        done: The resource settled (left every busy status).
        ok: It settled successfully (always False while not done).
    """

    desc: dict[str, Any]
    status_line: str | None
    done: bool
    ok: bool


#: Line starts that name a level (Python logging and warnings, glog/absl ``W0000``-style prefixes).
_LEVEL_WORDS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("CRITICAL", "FATAL", "F0", "F1"), logging.CRITICAL),
    (("ERROR", "E0", "E1"), logging.ERROR),
    (("WARNING", "WARN", "W0", "W1"), logging.WARNING),
    (("INFO", "I0", "I1", "DEBUG"), logging.INFO),
)
_WARNING_TEXT = re.compile(r"\b\w*Warning: ")
_TRACEBACK = "Traceback (most recent call last):"


def line_level(message: str, *, stderr: bool = False, in_traceback: bool = False) -> int:
    """Return the task-log level of one line of a job's log.

    By content first: ``ERROR``/``E0000`` lines, tracebacks and the exception line ending them are errors;
    ``WARNING``/``W0000`` lines and Python warnings (``UserWarning: ...``) warnings; ``INFO``/``I0000`` lines
    info. A line the script wrote to stderr that says nothing else is a warning; the rest is info.
    """
    text = message.upper()
    if in_traceback or message.startswith(_TRACEBACK):
        return logging.ERROR
    for words, level in _LEVEL_WORDS:
        if text.startswith(words):
            return level
    if _WARNING_TEXT.search(message):
        return logging.WARNING
    return logging.WARNING if stderr else logging.INFO


def stream_host(stream: str) -> str:
    """Return the host of a job's log stream ``<job>/<host>-<suffix>`` (``algo-1``), the label of its lines."""
    return stream.split("/", 1)[-1].rsplit("-", 1)[0]


class LineLevels:
    """Levels of the lines of several log streams, following Python tracebacks stream by stream."""

    def __init__(self) -> None:
        self._traceback: set[str] | None = None  # streams inside a Python traceback (made at the first one)

    def level(self, stream: str, message: str, stderr: bool) -> int:
        """Return a line's level, following tracebacks (indented frames up to the exception line)."""
        if message.startswith(_TRACEBACK):
            if self._traceback is None:
                self._traceback = set()
            self._traceback.add(stream)
            return logging.ERROR
        if self._traceback and stream in self._traceback:
            if not message.startswith((" ", "\t")):
                self._traceback.discard(stream)  # the exception line ends the traceback
            return logging.ERROR
        return line_level(message, stderr=stderr)


class LogReader:
    """Reads a resource's CloudWatch log streams incrementally, remembering its position in each stream.

    Args:
        hook: The hook whose logs client and retrying ``call`` are used.
        group: Log group (``/aws/sagemaker/TrainingJobs``).
        name: The job; its streams are ``<name>/<host>-<suffix>``.
    """

    def __init__(self, hook: TFSageMakerHook, group: str, name: str) -> None:
        self.hook = hook
        self.group = group
        self.name = name
        self.tokens: dict[str, str | None] = {}
        self.recent: list[str] = []
        self.levels = LineLevels()
        #: Per stream: (timestamp, count) of lines already shown by another reader (skipped on the first read).
        self.shown: dict[str, tuple[int, int]] = {}

    def streams(self) -> list[str]:
        """Return the names of the job's log streams (empty before the job logged anything)."""
        names: list[str] = []
        kwargs: dict[str, Any] = {"logGroupName": self.group, "logStreamNamePrefix": f"{self.name}/"}
        while True:
            try:
                page = self.hook.call(self.hook.clients.logs, "describe_log_streams", **kwargs)
            except Exception as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return names
                raise
            names.extend(s["logStreamName"] for s in page.get("logStreams", []))
            token = page.get("nextToken")
            if not token:
                return sorted(names)
            kwargs["nextToken"] = token

    def _events(self, stream: str) -> list[tuple[int, str]]:
        lines: list[tuple[int, str]] = []
        shown = self.shown.get(stream) if stream not in self.tokens else None
        while True:
            kwargs: dict[str, Any] = {"logGroupName": self.group, "logStreamName": stream, "startFromHead": True}
            token = self.tokens.get(stream)
            if token:
                kwargs["nextToken"] = token
            elif shown is not None:
                kwargs["startTime"] = shown[0]
            try:
                page = self.hook.call(self.hook.clients.logs, "get_log_events", **kwargs)
            except Exception as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return lines
                raise
            events = page.get("events", [])
            self.tokens[stream] = page.get("nextForwardToken", token)
            for event in events:
                if shown is not None:  # lines before ``timestamp`` and ``count`` lines at it were shown already
                    when = int(event.get("timestamp", 0))
                    if when < shown[0]:
                        continue
                    if when == shown[0] and shown[1] > 0:
                        shown = (when, shown[1] - 1)
                        continue
                    shown = None
                message = str(event.get("message", "")).rstrip("\n")
                lines.append((self.levels.level(stream, message, event.get("stream") == "stderr"), message))
            if not events or page.get("nextForwardToken") == token:
                return lines

    def new_entries(self) -> list[tuple[int, str]]:
        """Return ``(level, line)`` of the lines logged since the last call, host-prefixed when there are several.

        Logs are a convenience: an error reading them is logged and never fails the wait.
        """
        entries: list[tuple[int, str]] = []
        try:
            streams = self.streams()
            many = len(streams) > 1
            for stream in streams:
                host = stream_host(stream)
                entries.extend((level, f"[{host}] {text}" if many else text) for level, text in self._events(stream))
        except Exception as exc:
            self.hook.log.warning("Cannot read the log of %s: %s", self.name, exc)
        self.recent = (self.recent + [text for _, text in entries])[-200:]
        return entries

    def new_lines(self) -> list[str]:
        """Return the lines logged since the last call (see :meth:`new_entries`)."""
        return [text for _, text in self.new_entries()]

    def tail(self, count: int = LOG_TAIL_LINES) -> list[str]:
        """Return the last ``count`` lines seen (reading what is left first)."""
        self.new_lines()
        return self.recent[-count:]


def _training_line(watch: Watch, desc: Mapping[str, Any]) -> str:
    line = f"Training job {watch.name}: {desc.get('TrainingJobStatus')} - {desc.get('SecondaryStatus')}"
    transitions = desc.get("SecondaryStatusTransitions") or []
    message = transitions[-1].get("StatusMessage") if transitions else None
    if message:
        line += f" ({message})"
    if not watch.resource.is_busy(desc.get("TrainingJobStatus")) and desc.get("BillableTimeInSeconds") is not None:
        line += f"; billable seconds: {desc['BillableTimeInSeconds']}"
    return line


def _endpoint_line(watch: Watch, desc: Mapping[str, Any]) -> str:
    return f"Endpoint {watch.name}: {desc.get('EndpointStatus')} ({desc.get('EndpointConfigName')})"


def _generic_line(watch: Watch, desc: Mapping[str, Any]) -> str:
    return f"{watch.resource.title} {watch.name}: {desc.get(watch.resource.status_key)}"


#: Status line of each resource (others: "<title> <name>: <status>").
STATUS_LINES: dict[str, Callable[[Watch, Mapping[str, Any]], str]] = {
    TRAINING_JOB.name_key: _training_line,
    ENDPOINT.name_key: _endpoint_line,
}


class Watch:
    """The state machine of one wait for one resource.

    Args:
        resource: The resource family (facts: statuses, keys).
        name: The resource's name.
        expected_config: For endpoints: the endpoint config it must end up serving (an update that
            SageMaker rolled back leaves it InService on the previous one: a failure).
        status_line: Formats a description as a status line (default: the family's).
        error_extra: Keys an ``error`` event carries besides the common ones (e.g. an empty log tail).
    """

    def __init__(
        self,
        resource: Resource,
        name: str,
        *,
        expected_config: str | None = None,
        status_line: Callable[[Watch, Mapping[str, Any]], str] | None = None,
        error_extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.resource = resource
        self.error_extra = dict(error_extra or {})
        self.name = name
        self.expected_config = expected_config
        self._line = status_line or STATUS_LINES.get(resource.name_key, _generic_line)
        self.last_line: str | None = None
        self.last: dict[str, Any] | None = None

    def status(self, desc: Mapping[str, Any]) -> str | None:
        """Return the resource's status in ``desc``."""
        value = desc.get(self.resource.status_key)
        return None if value is None else str(value)

    def status_line(self, desc: Mapping[str, Any]) -> str:
        """Return the one-line status of ``desc``."""
        return self._line(self, desc)

    def is_done(self, desc: Mapping[str, Any]) -> bool:
        """Return True when the resource left every busy status."""
        return not self.resource.is_busy(self.status(desc))

    def rolled_back(self, desc: Mapping[str, Any]) -> bool:
        """Return True for an endpoint InService on another config than the expected one."""
        return (
            self.status(desc) in self.resource.success
            and bool(self.expected_config)
            and desc.get("EndpointConfigName") != self.expected_config
        )

    def is_ok(self, desc: Mapping[str, Any]) -> bool:
        """Return True when the resource settled successfully."""
        return self.is_done(desc) and self.status(desc) in self.resource.success and not self.rolled_back(desc)

    def observe(self, desc: Mapping[str, Any]) -> Step:
        """Take one description; return what it means."""
        last = self.last = dict(desc)  # (one copy: the step's too)
        line = self.status_line(desc)
        changed = line if line != self.last_line else None
        self.last_line = line
        done = self.is_done(desc)
        return Step(desc=last, status_line=changed, done=done, ok=done and self.is_ok(desc))

    def event(self, desc: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        """Return the event of a settled resource: ``status`` (success/failed), its name and status, and ``extra``."""
        payload: dict[str, Any] = {
            "status": "success" if self.is_ok(desc) else "failed",
            self.resource.event_name_key: self.name,
            self.resource.event_status_key: self.status(desc),
            "failure_reason": desc.get("FailureReason"),
        }
        if self.resource.secondary_key:
            payload["secondary_status"] = desc.get(self.resource.secondary_key)
        if self.resource is ENDPOINT:
            payload["endpoint_config_name"] = desc.get("EndpointConfigName")
            payload["expected_config"] = self.expected_config
            payload["rolled_back"] = self.rolled_back(desc)
        payload.update(extra)
        return payload

    def error_event(self, exc: BaseException, **extra: Any) -> dict[str, Any]:
        """Return the event of an error that polling again cannot fix (unknown resource, denied access...)."""
        payload: dict[str, Any] = {
            "status": "error",
            "error_code": error_code(exc),
            "message": f"{type(exc).__name__}: {exc}",
            self.resource.event_name_key: self.name,
            self.resource.event_status_key: None,
            "failure_reason": None,
        }
        if self.resource.secondary_key:
            payload["secondary_status"] = None
        if self.resource is ENDPOINT:
            payload.update(endpoint_config_name=None, expected_config=self.expected_config, rolled_back=False)
        payload.update(self.error_extra)
        payload.update(extra)
        return payload


def transient_warning(exc: BaseException, interval: float) -> str:
    """Return the log line of a transient error that the wait rides out."""
    code = error_code(exc) or type(exc).__name__
    return f"Transient error while polling ({code}: {exc}); polling again in {interval:g} s"


#: Where a wait writes: ``(level, text)``.
Emit = Callable[[int, str], None]


def status_level(step: Step) -> int:
    """Return the level of a step's status line: error when the resource settled unsuccessfully."""
    return logging.ERROR if step.done and not step.ok else logging.INFO


def status_text(step: Step, line: str) -> str:
    """Return the status line to log, with the failure reason when the resource settled unsuccessfully."""
    reason = step.desc.get("FailureReason")
    return f"{line}: {reason}" if step.done and not step.ok and reason else line


def wait_blocking(
    watch: Watch,
    describe: Callable[[], dict[str, Any]],
    *,
    interval: Backoff,
    timeout: float | None = None,
    emit: Emit,
    read_entries: Callable[[], list[tuple[int, str]]] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll until the resource settles; return its last description (the caller judges success).

    Each poll writes the new log lines (``read_entries``, if given) first, then the status line when it
    changed, so every line appears once, in order, before the final status; the lines written after the
    resource settled are read once more before it. A settled failure is written at ERROR with its reason.

    Raises:
        WaitTimeoutError: ``timeout`` seconds passed first.
    """
    started = time.monotonic()
    while True:
        step = watch.observe(describe())
        if read_entries is not None:
            entries = read_entries()
            if step.done:
                entries += read_entries()
            for level, line in entries:
                emit(level, line)
        if step.status_line:
            emit(status_level(step), status_text(step, step.status_line))
        if step.done:
            return step.desc
        if timeout is not None and time.monotonic() - started > timeout:
            raise WaitTimeoutError(
                f"{watch.resource.title} {watch.name} still {watch.status(step.desc)} after {timeout:.0f} s"
            )
        sleep(interval.next())


async def wait_async(
    watch: Watch,
    poll: Callable[[bool], tuple[dict[str, Any], list[tuple[int, str]]]],
    final: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    interval: Backoff,
    log: Any,
) -> AsyncIterator[dict[str, Any]]:
    """Poll in worker threads until the resource settles; yield the one event payload.

    ``poll(settled)`` returns a description and new ``(level, line)`` log entries (blocking; called once
    more with ``settled=True`` for the last lines); ``final`` builds the event of the settled resource
    (blocking). Lines go to ``log`` before the status line; transient errors are logged and waited out;
    any other error becomes the watch's ``error`` event.
    """
    while True:
        try:
            desc, entries = await asyncio.to_thread(poll, False)
            step = watch.observe(desc)
            event = None
            if step.done:
                entries += (await asyncio.to_thread(poll, True))[1]
                event = await asyncio.to_thread(final, step.desc)
        except Exception as exc:
            if is_retryable(exc):
                wait = interval.next()
                log.warning("%s", transient_warning(exc, wait))
                await asyncio.sleep(wait)
                continue
            log.error("Polling failed: %s", exc)
            yield watch.error_event(exc)
            return
        for level, line in entries:
            log.log(level, "%s", line)
        if step.status_line:
            log.log(status_level(step), "%s", status_text(step, step.status_line))
        if event is not None:
            yield event
            return
        await asyncio.sleep(interval.next())

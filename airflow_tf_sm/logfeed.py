"""Coalesced log reading: the CloudWatch logs of many waiting jobs of one log group with few calls.

Reading each job's log on its own costs, every interval and for every job, one DescribeLogStreams plus one
GetLogEvents per stream: 5,000 waiting jobs make 10,000 CloudWatch Logs calls an interval, against quotas
far below SageMaker's. A :class:`GroupLogReader` reads the streams of all the jobs of one log group that the
shared poller (``polling.py``) watches with log streaming on:

* **Reading**: ``FilterLogEvents`` with up to 100 ``logStreamNames`` per call (the API's maximum), so an
  interval costs ``ceil(streams / 100)`` calls while each page holds the new lines (at most 10,000 events
  or 1 MB a page; a page may be partly full or empty and still have a ``nextToken``, which is followed).
  Streams are grouped by position, so streams that are far behind share a call.
* **Finding streams**: ``DescribeLogStreams`` with ``logStreamNamePrefix=<job>/`` (as the per-job reader),
  but only when it can have changed: for a job newly watched, a job whose description changed (containers
  start and stop with status changes), a job that ended (before its last lines are read), and, with a
  growing pause (1, 2, 4 ... 16 intervals), a job that has fewer streams than its description has hosts.
  In steady state this costs nothing, so the log calls of an interval are ``ceil(streams / 100) + changed``.

  Rejected: one per-group scan. ``DescribeLogStreams`` of the whole group pages 50 streams at a time through
  every stream the account ever wrote (all past jobs), and ordering it by ``LastEventTime`` finds new
  streams late (``lastEventTimestamp`` is eventually consistent, "typically within an hour"). A
  ``FilterLogEvents`` over the whole group (no stream names) costs what the account logs, not what is
  watched, and would bring the logs of jobs nobody here waits for (other teams' secrets included) into the
  triggerer.

**Positions**: ``FilterLogEvents`` has no per-stream token. Each stream remembers the timestamp of the last
line delivered and the ``eventId`` of the lines at that timestamp; a call asks from the smallest position of
its streams (``startTime`` is inclusive) and drops, per stream, what is older or already delivered, so every
line is delivered exactly once and in order (events come sorted by timestamp, ingestion time and request).
A stream that stays quiet moves its position up to the start of the last complete read minus
:data:`QUIET_OVERLAP_MS` (a line ingested a little late is still read), so a stream that ended does not pull
its call back to its last line. A new stream is read from its creation (minus the same overlap).

**Throttling**: a call still throttled after the hook's retries stops the reading of this interval; the
calls not made yet wait for the next interval, a call cut short after some pages resumes from the page
that failed (its ``nextToken``, valid 24 hours), positions only move with delivered lines, so nothing is
lost or repeated; the poller then reads the logs less often for a while (:meth:`GroupLogReader.read_pass`).

Per-job reading (:class:`~airflow_tf_sm.waiting.LogReader`) stays the fallback: when ``FilterLogEvents`` is
not allowed (an IAM policy with only GetLogEvents) or the logs client lacks it, the poller stops feeding
lines and each waiter reads its job's log itself, after the lines already delivered.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.sagemaker.errors import error_code, is_retryable
from airflow_tf_sm.waiting import LineLevels, stream_host

if TYPE_CHECKING:
    from airflow_tf_sm.hook import TFSageMakerHook

log = logging.getLogger(__name__)

#: ``logStreamNames`` per FilterLogEvents call (the API's maximum).
STREAMS_PER_CALL = 100
#: How far (ms) a quiet stream's position stays behind the last complete read, for lines ingested late.
QUIET_OVERLAP_MS = 10_000
#: Longest pause (in poller intervals) between two stream look-ups of a job still missing streams.
MAX_LOOKUP_PAUSE = 16
#: Longest pause (in poller intervals) of the log reading after throttled calls.
MAX_THROTTLE_PAUSE = 8
#: Errors after which FilterLogEvents is not used any more (per-job reading takes over).
UNUSABLE_CODES = frozenset(
    {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidParameterException"}
)

#: ``(level, line)`` log entries.
Entries = list[tuple[int, str]]


def server_time(response: Mapping[str, Any]) -> float | None:
    """Return the server clock of a boto3 response (its HTTP ``Date`` header) in epoch seconds, if any."""
    headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    date = headers.get("date") or headers.get("Date")
    if not date:
        return None
    try:
        return parsedate_to_datetime(str(date)).timestamp()
    except (TypeError, ValueError):
        return None


def instance_count(desc: Mapping[str, Any]) -> int:
    """Return the number of instances (so of log streams) of a training or transform job's description."""
    config = desc.get("ResourceConfig") or desc.get("TransformResources") or {}
    groups = config.get("InstanceGroups") or []
    total = sum(int(g.get("InstanceCount") or 0) for g in groups) if groups else int(config.get("InstanceCount") or 1)
    return max(1, total)


class FilterUnusable(Exception):
    """FilterLogEvents cannot be used with these clients or permissions (per-job reading takes over)."""


@dataclass
class LogStats:
    """Calls of one reader (each call counted once; retries inside the hook excluded).

    Attributes:
        filter_calls: FilterLogEvents calls (pages).
        lookups: DescribeLogStreams calls.
        throttled: Calls still throttled after the hook's retries.
        events: Events received.
        delivered: Lines delivered.
    """

    filter_calls: int = 0
    lookups: int = 0
    throttled: int = 0
    events: int = 0
    delivered: int = 0

    @property
    def calls(self) -> int:
        """Every CloudWatch Logs call."""
        return self.filter_calls + self.lookups


class _Stream:
    __slots__ = ("job", "last", "name", "quiet", "seen")

    def __init__(self, name: str, job: str, start: int) -> None:
        self.name = name
        self.job = job
        self.last = -1  # timestamp (ms) of the last line delivered
        self.seen: set[str] = set()  # eventIds delivered at ``last``
        self.quiet = start  # where a quiet stream's next read may start

    @property
    def start(self) -> int:
        return max(self.last, self.quiet)

    def take(self, event: dict[str, Any]) -> bool:
        """Return True (and move on) when ``event`` was not delivered yet and is not older than the position."""
        when = int(event.get("timestamp", 0))
        ident = str(event.get("eventId", ""))
        if when < self.last or (when == self.last and ident in self.seen):
            return False
        if when > self.last:
            self.last = when
            self.seen.clear()  # (no new set per line: fewer long-lived objects for the garbage collector)
        self.seen.add(ident)
        return True


@dataclass
class _Job:
    name: str
    prefix: str
    pattern: re.Pattern[str] | None
    label: Callable[[str], str]
    streams: dict[str, _Stream] = field(default_factory=dict)
    hosts: int = 1
    pause: int = 1
    due: float = 0  # pass number of the next stream look-up
    reads: int = 0  # complete reads of every stream since the last change
    levels: LineLevels = field(default_factory=LineLevels)


@dataclass
class Batch:
    """One FilterLogEvents read: its streams, its ``startTime`` and, when resumed, the next page's token."""

    streams: tuple[str, ...]
    start: int
    token: str | None = None
    started: float | None = None


@dataclass
class PassResult:
    """What one reading pass gave.

    Attributes:
        entries: New ``(level, line)`` entries per job, each stream's lines in order.
        complete: The ``final`` jobs whose every stream was read to its end after it ended.
        throttled: A call was still throttled after the hook's retries (the rest waits for the next pass).
        unusable: Why FilterLogEvents cannot be used (then per-job reading must take over).
    """

    entries: dict[str, Entries] = field(default_factory=dict)
    complete: set[str] = field(default_factory=set)
    throttled: bool = False
    unusable: BaseException | None = None


@dataclass
class BatchResult:
    """What one batch read gave: new entries per job, whether it reached the end, what stopped it."""

    entries: dict[str, Entries] = field(default_factory=dict)
    done: bool = False
    throttled: BaseException | None = None
    error: BaseException | None = None
    unusable: FilterUnusable | None = None


class GroupLogReader:
    """Read the logs of the waiting jobs of one log group with FilterLogEvents (see the module docstring).

    The blocking methods (:meth:`look_up`, :meth:`read`) run in worker threads, several at a time, each on
    its own streams; the others run in the event loop.

    Args:
        hook: Hook whose logs client and retrying ``call`` are used.
        group: The log group (``/aws/sagemaker/TrainingJobs``).
        streams_per_call: ``logStreamNames`` per FilterLogEvents call (1-100).
        quiet_overlap_ms: See :data:`QUIET_OVERLAP_MS`.
        clock: Wall clock (epoch seconds) for the start of a read.
    """

    def __init__(
        self,
        hook: TFSageMakerHook,
        group: str,
        *,
        streams_per_call: int = STREAMS_PER_CALL,
        quiet_overlap_ms: int = QUIET_OVERLAP_MS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 1 <= streams_per_call <= STREAMS_PER_CALL:
            raise ValueError(f"streams_per_call: {streams_per_call!r} -- must be between 1 and {STREAMS_PER_CALL}")
        self.hook = hook
        self.group = group
        self.streams_per_call = streams_per_call
        self.quiet_overlap_ms = quiet_overlap_ms
        self.clock = clock
        self.stats = LogStats()
        self.passes = 0
        self._jobs: dict[str, _Job] = {}
        self._streams: dict[str, _Stream] = {}
        self._resume: list[Batch] = []
        self._lock = threading.Lock()
        self._skip = 0  # full passes still to skip after throttling
        self._pause = 1  # the next such pause

    # ------------------------------------------------------------- jobs
    @property
    def jobs(self) -> list[str]:
        """The jobs whose logs are read."""
        return list(self._jobs)

    def __contains__(self, job: object) -> bool:
        """Return whether ``job``'s logs are read (constant time, unlike ``job in reader.jobs``)."""
        return job in self._jobs

    def add(
        self,
        job: str,
        *,
        prefix: str | None = None,
        pattern: str | None = None,
        label: Callable[[str], str] = stream_host,
    ) -> None:
        """Read ``job``'s streams: those named ``prefix...`` (default ``<job>/``) matching ``pattern`` if given."""
        if job not in self._jobs:
            self._jobs[job] = _Job(job, prefix or f"{job}/", re.compile(pattern) if pattern else None, label)

    def remove(self, job: str) -> None:
        """Stop reading ``job``'s streams."""
        state = self._jobs.pop(job, None)
        if state is not None:
            for name in state.streams:
                self._streams.pop(name, None)

    def expect_hosts(self, job: str, hosts: int) -> None:
        """Note how many streams ``job`` will have (its instance count): fewer found -> looked up again later."""
        if job in self._jobs:
            self._jobs[job].hosts = max(1, hosts)

    def changed(self, job: str) -> None:
        """``job``'s description changed (or it ended): look its streams up at the next read."""
        if job in self._jobs:
            self._jobs[job].due = 0
            self._jobs[job].pause = 1
            self._jobs[job].reads = 0

    def due(self) -> list[str]:
        """Return the jobs whose streams are looked up in this pass (and start the pass)."""
        self.passes += 1
        return [name for name, job in self._jobs.items() if job.due <= self.passes]

    def streams_of(self, job: str) -> list[str]:
        """Return the known streams of ``job``."""
        state = self._jobs.get(job)
        return sorted(state.streams) if state else []

    def shown(self, job: str) -> dict[str, tuple[int, int]]:
        """Return, per stream of ``job``, the timestamp of the last line delivered and how many lines had it.

        (For per-job reading to go on after them: it cannot tell lines apart by ``eventId``.)
        """
        state = self._jobs.get(job)
        return {s.name: (s.last, len(s.seen)) for s in state.streams.values() if s.last >= 0} if state else {}

    # ------------------------------------------------------------ calls
    def look_up(self, job: str) -> None:
        """Find ``job``'s streams with DescribeLogStreams (blocking; raises what the call raises)."""
        state = self._jobs.get(job)
        if state is None:
            return
        found: dict[str, int] = {}
        kwargs: dict[str, Any] = {"logGroupName": self.group, "logStreamNamePrefix": state.prefix}
        while True:
            with self._lock:
                self.stats.lookups += 1
            try:
                page = self.hook.call(self.hook.clients.logs, "describe_log_streams", **kwargs)
            except Exception as exc:
                if error_code(exc) == "ResourceNotFoundException":  # no log group yet
                    break
                raise
            for item in page.get("logStreams", []):
                name = str(item["logStreamName"])
                if state.pattern is None or state.pattern.match(name):
                    times = [int(item[k]) for k in ("creationTime", "firstEventTimestamp") if item.get(k) is not None]
                    found[name] = min(times, default=0)
            token = page.get("nextToken")
            if not token:
                break
            kwargs["nextToken"] = token
        with self._lock:
            for name, born in sorted(found.items()):
                if name not in state.streams and job in self._jobs:
                    stream = _Stream(name, job, max(0, born - self.quiet_overlap_ms))
                    state.streams[name] = stream
                    self._streams[name] = stream
            if len(state.streams) >= state.hosts:
                state.due = math.inf  # only a change of the job looks again
            else:
                state.due = self.passes + state.pause
                state.pause = min(state.pause * 2, MAX_LOOKUP_PAUSE)

    def batches(self, jobs: Iterable[str] | None = None) -> list[Batch]:
        """Return this pass's reads: the ones cut short last time first, then the streams by position.

        Args:
            jobs: Only these jobs' streams (default: every job's).
        """
        wanted = set(self._jobs) if jobs is None else {j for j in jobs if j in self._jobs}
        resumed, self._resume = self._resume, []
        busy = {name for batch in resumed for name in batch.streams}
        keep = [b for b in resumed if any(self._streams.get(n) and self._streams[n].job in wanted for n in b.streams)]
        self._resume = [b for b in resumed if b not in keep]  # other jobs' cut-short reads wait
        streams = sorted(
            (s for job in wanted for s in self._jobs[job].streams.values() if s.name not in busy),
            key=lambda s: (s.start, s.name),
        )
        fresh = [
            Batch(tuple(s.name for s in chunk), min(s.start for s in chunk))
            for chunk in (streams[i : i + self.streams_per_call] for i in range(0, len(streams), self.streams_per_call))
        ]
        return keep + fresh

    def read(self, batch: Batch, stop: threading.Event | None = None) -> BatchResult:
        """Read one batch to its end (blocking); return the new entries per job.

        A throttled page (after the hook's retries) ends the read; the batch is resumed from that page at
        the next pass. ``stop`` set (another read was throttled) makes a read not started yet wait too.

        When FilterLogEvents is not available or not allowed, ``unusable`` says why (lines of the pages read
        before are kept).
        """
        result = BatchResult()
        if stop is not None and stop.is_set():
            self._keep(batch)
            return result
        if batch.started is None:
            batch.started = self.clock()
        if getattr(self.hook.clients.logs, "filter_log_events", None) is None:
            result.unusable = FilterUnusable("the logs client has no filter_log_events")
            return result
        while True:
            kwargs: dict[str, Any] = {
                "logGroupName": self.group,
                "logStreamNames": list(batch.streams),
                "startTime": batch.start,
            }
            if batch.token:
                kwargs["nextToken"] = batch.token
            with self._lock:
                self.stats.filter_calls += 1
            try:
                page = self.hook.call(self.hook.clients.logs, "filter_log_events", **kwargs)
            except Exception as exc:
                code = error_code(exc)
                if is_retryable(exc):
                    with self._lock:
                        self.stats.throttled += 1
                    self._keep(batch)
                    result.throttled = exc
                elif code in UNUSABLE_CODES:  # keep the lines of the pages read before
                    result.unusable = FilterUnusable(f"{code}: {exc}")
                else:  # e.g. a stream that is gone or an expired token: look the streams up again
                    result.error = exc
                    for name in batch.streams:
                        stream = self._streams.get(name)
                        if stream is not None:
                            self.changed(stream.job)
                return result
            served = server_time(page)
            if served is not None:  # the earlier of both clocks (one that runs ahead must not skip lines)
                batch.started = min(batch.started or served, served)
            self._take(page.get("events") or [], result)
            batch.token = page.get("nextToken") or None
            if not batch.token:
                break
        started_ms = int((batch.started or 0) * 1000) - self.quiet_overlap_ms
        for name in batch.streams:
            stream = self._streams.get(name)
            if stream is not None:
                stream.quiet = max(stream.quiet, started_ms)
        result.done = True
        return result

    def _keep(self, batch: Batch) -> None:
        """Resume ``batch`` at the next pass when it was cut short after some pages (else it is made anew)."""
        if batch.token:
            with self._lock:
                self._resume.append(batch)

    def _take(self, events: list[dict[str, Any]], result: BatchResult) -> None:
        """Deliver the page's new events to their jobs (each stream's own lines in order)."""
        count = 0
        for event in events:
            stream = self._streams.get(str(event.get("logStreamName", "")))
            if stream is None or not stream.take(event):
                continue
            job = self._jobs.get(stream.job)
            if job is None:
                continue
            message = str(event.get("message", "")).rstrip("\n")
            level = job.levels.level(stream.name, message, event.get("stream") == "stderr")
            text = f"[{job.label(stream.name)}] {message}" if len(job.streams) > 1 else message
            result.entries.setdefault(stream.job, []).append((level, text))
            count += 1
        with self._lock:
            self.stats.events += len(events)
            self.stats.delivered += count

    # ------------------------------------------------------------ passes
    async def read_pass(self, *, full: bool, final: Collection[str] = (), concurrency: int = 8) -> PassResult:
        """Read new lines in worker threads (at most ``concurrency`` calls at a time); the loop only routes.

        Args:
            full: Read every job (an interval's pass); else only the ``final`` jobs.
            final: Jobs that ended (each marked :meth:`changed` once when it ended): their streams are looked
                up again and read to the end (after the description that showed the end, so the lines logged
                before it are in); they are ``complete`` once such a read got through every stream.
            concurrency: Calls run at the same time.
        """
        out = PassResult()
        final = [job for job in final if job in self._jobs]
        if full and self._skip > 0:  # throttled lately: read less often for a while (ended jobs still)
            self._skip -= 1
            full = False
        if not full and not final:
            return out
        lookups = self.due() if full else [job for job in final if self._jobs[job].due <= self.passes]
        limit = asyncio.Semaphore(concurrency)
        stop = threading.Event()
        missed: set[str] = set()

        async def look(job: str) -> None:
            async with limit:
                if stop.is_set():
                    missed.add(job)
                    return
                try:
                    await asyncio.to_thread(self.look_up, job)
                except Exception as exc:
                    missed.add(job)
                    if is_retryable(exc):
                        stop.set()
                        out.throttled = True
                    else:
                        log.warning("Cannot list the log streams of %s: %s", job, exc)

        await asyncio.gather(*(look(job) for job in lookups))
        for job in missed:
            self.changed(job)  # look again at the next pass
        finished = await self._read_batches(self.batches(None if full else final), limit, stop, out)
        self._caught_up(final, missed, finished)
        out.complete = {job for job in final if job in self._jobs and self._jobs[job].reads >= 1}
        if out.throttled:
            self._skip, self._pause = self._pause, min(self._pause * 2, MAX_THROTTLE_PAUSE)
        elif full:
            self._pause = 1
        return out

    def _caught_up(self, jobs: Iterable[str], missed: set[str], finished: set[str]) -> None:
        """Count a complete read for each of ``jobs`` whose every stream was read to its end."""
        for job in jobs:
            state = self._jobs.get(job)
            if state is not None and job not in missed and set(state.streams) <= finished:
                state.reads += 1

    async def _read_batches(
        self, batches: list[Batch], limit: asyncio.Semaphore, stop: threading.Event, out: PassResult
    ) -> set[str]:
        """Run ``batches``; merge their entries into ``out``; return the streams read to their end."""

        async def run(batch: Batch) -> BatchResult:
            async with limit:
                result = await asyncio.to_thread(self.read, batch, stop)
                if result.unusable is not None:
                    stop.set()
                    out.unusable = result.unusable
                elif result.throttled is not None:
                    stop.set()
                    out.throttled = True
                elif result.error is not None:
                    log.warning("Cannot read log streams of %s: %s", self.group, result.error)
                return result

        finished: set[str] = set()
        for batch, result in zip(batches, await asyncio.gather(*(run(b) for b in batches)), strict=True):
            for job, entries in result.entries.items():
                out.entries.setdefault(job, []).extend(entries)
            if result.done:
                finished.update(batch.streams)
        return finished

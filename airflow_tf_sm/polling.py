"""How triggers poll: :class:`WaitTrigger` (the base of every trigger of the package), and the shared poller.

A :class:`WaitTrigger` runs the one wait state machine (``waiting.py``) in the triggerer: per job, or, for
training jobs, through the shared poller of its connection and region described below.

Coalesced polling: one shared poller per connection and region watches every waiting training job.

Polling each job on its own costs one DescribeTrainingJob per job per interval: 1,000 deferred tasks
make 1,000 calls every interval (and, on AWS, 1,000 sets of boto3 clients in the triggerer). A
:class:`JobPoller` serves every :class:`~airflow_tf_sm.triggers.TrainingJobTrigger` of one
triggerer that shares its client settings. Each interval it:

1. lists the jobs modified since its watermark (``ListTrainingJobs`` with ``LastModifiedTimeAfter``,
   100 per page, following ``NextToken``);
2. describes only the watched jobs that appear changed: listed with a ``LastModifiedTime`` (or status)
   newer than the last description, so a job listed again inside the overlap window is not described twice;
3. describes a few more watched jobs as a safety net: ``safety_net_fraction`` of those not described
   otherwise in this interval, least recently described first, so a job the list never reports still
   ends within about ``1 / safety_net_fraction`` intervals.

New waiters are described at once, jobs whose describe hit a transient error again at the next interval.
Every description goes to the waiters of that job, which then behave exactly like per-job polling: same
status logs, same single event.

Watermark: the next list asks for changes after ``(start of this listing) - overlap``, where the start is
the earlier of this machine's clock and the server's ``Date`` header of the first page. So a job that
changes while the pages are read, a list that lags behind, or a clock that runs ahead of AWS's is
still caught by the next listing. A throttled page is tried again after a short wait; a listing still cut
short goes on from that page at the next interval, and the watermark moves only when a listing is
complete, so no change is lost. When ``ListTrainingJobs`` itself is unusable (e.g. the IAM policy
allows only DescribeTrainingJob) the poller falls back to one describe per job per interval.

Log streaming waiters get their lines from the poller too: one coalesced reader per log group
(``logfeed.py``); an ended job is reported only after its last lines. All blocking calls run in worker
threads (``asyncio.to_thread``); the event loop only routes results.
Pollers live in a per-event-loop registry (:func:`get_poller`) and stop when their last waiter leaves.

Thousands of waiters in one event loop: they start a few per loop step and stay out of full garbage
collections (``crowd.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_tf_sm.backends import CLIENT_ARGS
from airflow_tf_sm.crowd import freeze_start_up, start_gate, waiter_subscribed
from airflow_tf_sm.listing import FAMILIES, TRAINING, Family, JobState, Listing, PollerStats, epoch
from airflow_tf_sm.logfeed import GroupLogReader, instance_count, server_time
from airflow_tf_sm.mailbox import Snapshot, Subscription, WaitEvent, wait_set
from airflow_tf_sm.redaction import description_secrets, redact_text, redact_values
from airflow_tf_sm.sagemaker.errors import error_code, is_retryable
from airflow_tf_sm.sagemaker.resources import Resource
from airflow_tf_sm.waiting import Backoff, Watch, status_level, status_text, transient_warning, wait_async

if TYPE_CHECKING:
    from airflow_tf_sm.waiting import LogReader

if TYPE_CHECKING:
    from airflow_tf_sm.hook import TFSageMakerHook

log = logging.getLogger(__name__)

#: ListTrainingJobs page size (the API's maximum).
LIST_PAGE_SIZE = 100
#: Seconds each listing reaches back before the previous listing started: covers a list that lags behind
#: DescribeTrainingJob by a few seconds and the whole-second ``Date`` header (the safety net covers the rest).
LIST_OVERLAP_SECONDS = 10.0
#: Share of the watched jobs not otherwise described in an interval that the safety net describes.
SAFETY_NET_FRACTION = 0.1
#: Describe calls one poller runs at the same time.
MAX_CONCURRENT_DESCRIBES = 8
#: Reading passes an ended job's report waits at most for its last log lines (throttled reads).
FINAL_LOG_READS = 5
#: Jobs whose new log lines (or waiters whose final snapshot) are handed over in one step of the event loop.
DELIVERY_SLICE = 50


class JobPoller:
    """Watch many jobs of one family (training, tuning, transform), connection and region with few API calls.

    Args:
        hook: Hook whose clients all calls use (shared by every waiter of this poller).
        family: The job family (default training jobs).
        poll_interval: Interval used until waiters ask for one.
        page_size: ListTrainingJobs ``MaxResults``.
        overlap: Seconds each listing reaches back before the previous one started.
        safety_net_fraction: Share of the watched jobs not otherwise described in an interval that are
            described anyway (0 = no safety net).
        max_concurrency: Describe calls run at the same time.
        clock: Wall clock of this machine (epoch seconds), for the watermark.
    """

    def __init__(
        self,
        hook: TFSageMakerHook,
        *,
        family: Family = TRAINING,
        poll_interval: float = 30.0,
        page_size: int = LIST_PAGE_SIZE,
        overlap: float = LIST_OVERLAP_SECONDS,
        safety_net_fraction: float = SAFETY_NET_FRACTION,
        max_concurrency: int = MAX_CONCURRENT_DESCRIBES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError(f"poll_interval: {poll_interval!r} -- must be a positive number of seconds")
        if not 1 <= page_size <= 100:
            raise ValueError(f"page_size: {page_size!r} -- must be between 1 and 100")
        if overlap < 0:
            raise ValueError(f"overlap: {overlap!r} -- must be zero or more seconds")
        if not 0 <= safety_net_fraction <= 1:
            raise ValueError(f"safety_net_fraction: {safety_net_fraction!r} -- must be between 0 and 1")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency: {max_concurrency!r} -- must be at least 1")
        self.hook = hook
        self.family = family
        self.resource = family.resource
        self.default_interval = float(poll_interval)
        self.page_size = page_size
        self.overlap = float(overlap)
        self.safety_net_fraction = float(safety_net_fraction)
        self.max_concurrency = max_concurrency
        self.clock = clock
        self.stats = PollerStats()
        #: False once the List* call proved unusable: every watched job is then described each interval.
        self.list_mode = True
        #: Set when the last waiter left; a closed poller takes no new waiters.
        self.closed = False
        self.watermark: float | None = None
        self._listing: Listing | None = None
        self._subs: dict[str, list[Subscription]] = {}
        self._jobs: dict[str, JobState] = {}
        self._pending: set[str] = set()
        self._retry: set[str] = set()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._on_close: Callable[[], None] | None = None
        self._clients_built = False
        #: False once FilterLogEvents proved unusable: each waiter then reads its job's log itself.
        self.logs_mode = True
        #: The coalesced log reader of the family's log group (built for the first log-streaming waiter).
        self.logs: GroupLogReader | None = None
        self._final: dict[str, list[Any]] = {}  # ended jobs' [snapshot, reads], held until their last lines

    # ----------------------------------------------------------------- waiters
    @property
    def poll_interval(self) -> float:
        """The smallest interval any current waiter asked for."""
        return min((s.poll_interval for subs in self._subs.values() for s in subs), default=self.default_interval)

    @property
    def watched(self) -> list[str]:
        """Names of the jobs with at least one waiter."""
        return list(self._subs)

    def subscribe(
        self, job_name: str, poll_interval: float | None = None, backoff: Backoff | None = None, *, logs: bool = False
    ) -> Subscription:
        """Start watching ``job_name`` (must run inside the event loop); it is described right away.

        Several waiters of the same job (a trigger running twice after a failover) each get every snapshot.
        ``backoff`` gives the waiter's growing intervals (default: fixed at ``poll_interval``). With ``logs``
        the poller also reads the job's log for the waiter (coalesced, ``logfeed.py``) and reports its end
        only after its last lines.
        """
        if self.closed:
            raise RuntimeError("this poller is closed: take a new one from get_poller()")
        interval = float(poll_interval or self.default_interval)
        sub = Subscription(job_name, interval, backoff, logs=logs and self.logs_mode and self.family.logs)
        if sub.fed_logs and self.logs is None:
            self.logs = GroupLogReader(self.hook, self.resource.log_group, clock=self.clock)
        self._subs.setdefault(job_name, []).append(sub)
        waiter_subscribed()
        state = self._jobs.setdefault(job_name, JobState())
        state.done = False  # a new waiter always gets a fresh description
        self._pending.add(job_name)
        if self._wake is None:
            self._wake = asyncio.Event()
        if self._task is None:
            freeze_start_up()
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"{self.family.name}-job-poller")
        self._wake.set()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop delivering to ``sub``; the poller closes when its last waiter leaves."""
        subs = self._subs.get(sub.job_name, [])
        if sub in subs:
            subs.remove(sub)
        if not subs:
            self._subs.pop(sub.job_name, None)
            self._jobs.pop(sub.job_name, None)
            self._pending.discard(sub.job_name)
            self._retry.discard(sub.job_name)
            self._final.pop(sub.job_name, None)
            if self.logs is not None:
                self.logs.remove(sub.job_name)
        if not self._subs:
            self.close()

    def close(self) -> None:
        """Stop the polling task and leave the registry (waiters still subscribed get nothing more)."""
        if self.closed:
            return
        self.closed = True
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        if self._on_close is not None:
            self._on_close()

    # -------------------------------------------------------------------- loop
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        next_tick = loop.time()
        try:
            while self._subs and not self.closed:
                names = set(self._pending)
                self._pending.clear()
                ticked = loop.time() >= next_tick
                if ticked:
                    started = loop.time()
                    names |= await self._tick(names)
                    next_tick = started + self.poll_interval
                    for subs in self._subs.values():  # each waiter moves on to its next (longer) interval
                        for waiter in subs:
                            waiter.poll_interval = waiter.backoff.next()
                names = {n for n in names if n in self._jobs and not self._jobs[n].done}
                if names:
                    await self._describe(names)
                if self.logs is not None and (ticked or self._final):
                    await self._read_logs(full=ticked)
                if self._pending:
                    continue
                self._wake.clear()
                timeout = next_tick - loop.time()
                if timeout > 0:
                    await wait_set(self._wake, timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not leave triggers waiting forever
            log.exception("%s poller failed; its waiters get the error", self.resource.title)
            for name in list(self._subs):
                self._deliver(name, Snapshot(error=exc))
            self.close()

    async def _tick(self, already: set[str]) -> set[str]:
        """List what changed; return the names to describe this interval (listed, retried, safety net)."""
        self.stats.ticks += 1
        names = set(self._retry)
        self._retry.clear()
        if self.list_mode:
            names |= await self._list_changed()
        active = [n for n, state in self._jobs.items() if not state.done]
        if not self.list_mode:
            return names | set(active)
        if self.safety_net_fraction > 0 and active:
            skip = names | already  # described this interval anyway
            unchecked = sorted((n for n in active if n not in skip), key=lambda n: self._jobs[n].described_at)
            extra = unchecked[: math.ceil(len(unchecked) * self.safety_net_fraction)]
            self.stats.safety_net_describes += len(extra)
            names |= set(extra)
        return names

    def _list_page(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return dict(self.hook.call(self.hook.clients.sagemaker, self.family.list_method, **kwargs))

    async def _list_changed(self) -> set[str]:
        """Read the pages of jobs modified since the watermark; return the watched ones that changed.

        A listing cut short by throttling is resumed at the next interval from the page that failed
        (same window), so sustained throttling slows the listing down but never skips a page.
        """
        if self._listing is None:
            started = self.clock()
            after = self.watermark if self.watermark is not None else started - self.overlap
            self._listing = Listing(after=after, started=started)
        listing = self._listing
        changed: set[str] = set()
        what, op = self.resource.title.lower(), "".join(w.title() for w in self.family.list_method.split("_"))
        while True:
            kwargs: dict[str, Any] = {
                "LastModifiedTimeAfter": datetime.fromtimestamp(listing.after, tz=timezone.utc),
                "MaxResults": self.page_size,
                "SortBy": "CreationTime",
                "SortOrder": "Descending",
            }
            if listing.token:
                kwargs["NextToken"] = listing.token
            try:
                page = await asyncio.to_thread(self._list_page, kwargs)
            except Exception as exc:
                reason = f"{error_code(exc) or type(exc).__name__}: {exc}"
                if is_retryable(exc):
                    self.stats.list_failures += 1
                    log.warning("Listing %ss failed (%s); it goes on from this page next interval", what, reason)
                elif listing.token is not None:  # e.g. an expired token: list the same window again
                    self.stats.list_failures += 1
                    self._listing = None
                    log.warning("Listing %ss failed (%s); the window is listed again next interval", what, reason)
                else:
                    self._listing = None
                    self.list_mode = False
                    log.warning("%s is not usable (%s): describing every watched job each interval", op, reason)
                return changed
            self.stats.list_pages += 1
            if listing.token is None:
                listing.server_start = server_time(page)
            for summary in page.get(self.family.summaries_key) or []:
                name = summary.get(self.resource.name_key)
                state = self._jobs.get(name) if isinstance(name, str) else None
                if state is not None and not state.done and state.looks_changed(summary, self.resource.status_key):
                    changed.add(str(name))
            listing.token = page.get("NextToken") or None
            if not listing.token:
                break
        start = listing.started if listing.server_start is None else min(listing.started, listing.server_start)
        self.watermark = start - self.overlap
        self._listing = None
        return changed

    def _build_clients(self) -> None:
        _ = self.hook.clients

    async def _describe(self, names: Iterable[str]) -> None:
        """Describe ``names`` in worker threads (bounded concurrency) and deliver each result."""
        names = sorted(names)
        if not self._clients_built:  # build them once, not in every concurrent thread
            try:
                await asyncio.to_thread(self._build_clients)
                self._clients_built = True
            except Exception as exc:
                for name in names:
                    self._deliver(name, Snapshot(error=exc))
                    if is_retryable(exc):
                        self._retry.add(name)
                return
        limit = asyncio.Semaphore(self.max_concurrency)

        async def describe(name: str) -> None:
            async with limit:
                if name not in self._jobs:  # its waiters left meanwhile
                    return
                self.stats.describes += 1
                try:
                    desc = await asyncio.to_thread(getattr(self.hook, self.family.service).describe, name)
                except Exception as exc:
                    if is_retryable(exc):
                        self._retry.add(name)
                    self._deliver(name, Snapshot(error=exc))
                    return
                self._deliver(name, Snapshot(desc=desc))

        await asyncio.gather(*(describe(name) for name in names))

    def _deliver(self, name: str, snapshot: Snapshot) -> None:
        state = self._jobs.get(name)
        if state is None:
            return
        if snapshot.desc is not None:
            desc = snapshot.desc
            before = (state.last_modified, state.status)
            state.last_modified = epoch(desc.get("LastModifiedTime"))
            state.status = desc.get(self.resource.status_key)
            state.described_at = time.monotonic()
            state.done = not self.resource.is_busy(state.status)  # a job never leaves a terminal state
            if self.logs is not None and any(sub.fed_logs for sub in self._subs.get(name, [])):
                new = name not in self.logs
                self.logs.add(name)  # read only once described: the waiter knows the secrets by then
                self.logs.expect_hosts(name, instance_count(desc))
                if not new and before != (state.last_modified, state.status):
                    self.logs.changed(name)  # containers start and stop with status changes
                if state.done:
                    self._final[name] = [snapshot, 0]  # reported after its last lines
                    return
        for sub in self._subs.get(name, []):
            sub.push(snapshot)

    async def _read_logs(self, full: bool) -> None:
        """Read the new log lines of the log-streaming jobs; report ended jobs once their last lines are in."""
        assert self.logs is not None
        reader, finals = self.logs, list(self._final)
        result = await reader.read_pass(full=full, final=finals, concurrency=self.max_concurrency)
        self.stats.log_calls = reader.stats.calls
        for count, (name, entries) in enumerate(result.entries.items(), 1):
            for sub in self._subs.get(name, []):
                if sub.fed_logs:
                    sub.push_lines(entries)
            if count % DELIVERY_SLICE == 0:  # let the woken waiters (and the rest of the loop) run meanwhile
                await asyncio.sleep(0)
        if result.unusable is not None:
            log.warning("Coalesced log reading is not usable (%s): each waiter reads its log", result.unusable)
            self.logs_mode, self.logs = False, None
            for name, subs in self._subs.items():
                shown = reader.shown(name)
                for sub in subs:
                    if sub.fed_logs:
                        sub.stop_feeding(shown)
        woken = 0
        for name in finals:
            held = self._final.get(name)
            if held is None:
                continue
            held[1] += 1
            if self.logs is not None and name not in result.complete and held[1] < FINAL_LOG_READS:
                continue  # read again at the next interval
            if self.logs is not None and name not in result.complete:
                log.warning("The last log lines of %s could not be read (throttled): reporting its end", name)
            del self._final[name]
            for sub in self._subs.get(name, []):
                sub.push(held[0])
                woken += 1
            if woken >= DELIVERY_SLICE:  # each woken waiter ends (its final event): a bounded few per step
                woken = 0
                await asyncio.sleep(0)


#: The old name (training jobs are the default family).
TrainingJobPoller = JobPoller

# ------------------------------------------------------------------ registry
_REGISTRY: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, JobPoller]] = weakref.WeakKeyDictionary()


def poller_key(client_params: Mapping[str, Any]) -> str:
    """Return the registry key of ``client_params``: waiters with equal settings share a poller."""
    return json.dumps(dict(client_params), sort_keys=True, default=str)


def get_poller(
    client_params: Mapping[str, Any],
    make_hook: Callable[[], TFSageMakerHook],
    *,
    family: Family = TRAINING,
    **options: Any,
) -> JobPoller:
    """Return this event loop's poller of ``family`` for ``client_params``, creating it (with ``options``) if needed.

    Must be called inside the running event loop. ``make_hook`` is called only when a poller is created.

    Args:
        client_params: Backend and connection settings (backend, connection id, region, endpoint, root...).
        make_hook: Builds the hook the new poller uses.
        family: The job family (one poller per family and settings).
        **options: Keyword arguments of :class:`JobPoller` for a new poller.
    """
    loop = asyncio.get_running_loop()
    pollers = _REGISTRY.setdefault(loop, {})
    key = f"{family.name}:{poller_key(client_params)}"
    poller = pollers.get(key)
    if poller is None or poller.closed:
        poller = JobPoller(make_hook(), family=family, **options)

        def forget(poller: JobPoller = poller) -> None:
            if pollers.get(key) is poller:
                del pollers[key]

        poller._on_close = forget
        pollers[key] = poller
    return poller


def active_pollers() -> list[JobPoller]:
    """Return the open pollers of the running event loop (for tests and diagnostics)."""
    return list(_REGISTRY.get(asyncio.get_running_loop(), {}).values())


# ------------------------------------------------------------------- triggers
class WaitTrigger(BaseTrigger):
    """Base of every trigger of the package: wait for one resource in the triggerer, yield one event.

    The trigger is rebuilt in the triggerer from plain JSON kwargs (:meth:`serialize`), builds its own hook
    there and runs every blocking call in a worker thread, so the event loop never stalls. It polls until
    the resource settles -- there is no attempt cap; the task's own timeout bounds the wait -- and yields
    exactly one event, computed from the resource's state, so running it twice (after a triggerer
    failover) is harmless. Transient errors never end the wait; other errors become an ``error`` event.

    Secrets never travel in the kwargs: the trigger learns them from the descriptions it reads (the
    secret-named ``HyperParameters`` / ``Environment`` values; the service registers them with Airflow's
    masker as it describes) and replaces them with ``***`` in every log line it copies, every status line
    and every event payload before yielding it (the event is stored in Airflow's database). Log lines are
    read only once the resource was described.

    Args:
        client_params: Backend and connection settings (``hook.trigger_params()``), plain JSON.
        poll_interval: Seconds between polls.
    """

    #: The resource family a subclass waits for.
    resource: Resource
    #: The hook class (set by each trigger module, which imports the hook; this module does not).
    hook_class: type[TFSageMakerHook]
    #: The constructor arguments a subclass adds, serialized by attribute name.
    fields: tuple[str, ...] = ()

    def __init__(self, client_params: Mapping[str, Any], poll_interval: float = 30.0) -> None:
        super().__init__()
        unknown = sorted(set(client_params) - set(CLIENT_ARGS))
        if unknown:
            raise ValueError(f"client_params: unknown key(s) {unknown} -- allowed: {', '.join(CLIENT_ARGS)}")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval: {poll_interval!r} -- must be a positive number of seconds")
        self.client_params: dict[str, Any] = dict(client_params)
        self.poll_interval = float(poll_interval)
        self._hook: TFSageMakerHook | None = None
        self._secrets: list[str] = []
        self._described = False

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the plain-JSON kwargs that rebuild this trigger."""
        kwargs = {name: getattr(self, name) for name in self.fields}
        kwargs.update(client_params=dict(self.client_params), poll_interval=self.poll_interval)
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    def make_hook(self) -> TFSageMakerHook:
        """Build the hook from ``client_params`` (clients are created on first use, in a worker thread)."""
        return self.hook_class.from_params(self.client_params)

    @property
    def hook(self) -> TFSageMakerHook:
        """The hook of this trigger instance, built once."""
        if self._hook is None:
            self._hook = self.make_hook()
        return self._hook

    # ------------------------------------------------------------ secrets
    def seen(self, desc: Mapping[str, Any]) -> dict[str, Any]:
        """Learn the secret values of a description; return it with every known secret value redacted."""
        self._secrets.extend(v for v in description_secrets(desc) if v not in self._secrets)
        self._described = True
        return dict(redact_values(desc, self._secrets))

    def redact(self, payload: Any) -> Any:
        """Return ``payload`` with every secret value seen so far replaced by ``***``."""
        return redact_values(payload, self._secrets)

    def log_entries(self, hook: TFSageMakerHook) -> list[tuple[int, str]]:
        """Return :meth:`new_entries` redacted; none before the first description (secrets unknown yet)."""
        return self.redact_entries(self.new_entries(hook)) if self._described else []

    def redact_entries(self, entries: list[tuple[int, str]]) -> list[tuple[int, str]]:
        """Return log ``(level, line)`` entries with every secret value seen so far replaced by ``***``."""
        return [(level, redact_text(line, self._secrets)) for level, line in entries]

    # ------------------------------------------------------------ to override
    def watch(self) -> Watch:
        """Return the state machine of this wait."""
        raise NotImplementedError

    def describe(self, hook: TFSageMakerHook) -> dict[str, Any]:
        """Describe the resource (blocking; runs in a worker thread)."""
        raise NotImplementedError

    def new_entries(self, hook: TFSageMakerHook) -> list[tuple[int, str]]:
        """Return new ``(level, line)`` log entries of the resource to copy into the trigger's log (blocking)."""
        return []

    def log_reader(self, hook: TFSageMakerHook) -> LogReader | None:
        """Return the per-job log reader of :meth:`new_entries`, if any (the shared poller's fallback seeds it)."""
        return None

    def final_event(self, watch: Watch, desc: dict[str, Any]) -> dict[str, Any]:
        """Return the event of the settled resource (blocking; runs in a worker thread)."""
        return watch.event(desc)

    # ------------------------------------------------------------------ loop
    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the resource settles; yield one event (through the shared poller when ``coalesce``)."""
        if getattr(self, "coalesce", False) and self.resource.name_key in FAMILIES:
            yield WaitEvent(payload=self.redact(await wait_shared(self)))
            return
        async for event in self._run_per_job():  # (no closures here: a waiting trigger keeps few objects alive)
            yield event

    async def _run_per_job(self) -> AsyncIterator[TriggerEvent]:
        """Poll the resource itself (describe and read its log every interval in worker threads)."""
        hook = self.hook

        def poll(settled: bool) -> tuple[dict[str, Any], list[tuple[int, str]]]:
            return ({} if settled else self.seen(self.describe(hook))), self.log_entries(hook)

        watch = self.watch()
        async for payload in wait_async(
            watch,
            poll,
            lambda desc: self.final_event(watch, desc),
            interval=hook.backoff(self.poll_interval),
            log=self.log,
        ):
            yield WaitEvent(payload=self.redact(payload))

    def _lend_hook(self) -> TFSageMakerHook:
        """Return :attr:`hook` (a new shared poller uses the hook of its first waiter)."""
        return self.hook


async def wait_shared(trigger: WaitTrigger) -> dict[str, Any]:
    """Wait for ``trigger``'s job through the shared poller of its family; return the one event payload.

    The same contract as per-job polling: status changes logged once, new log lines copied every
    ``poll_interval`` (read by the poller for all its jobs at once when the trigger streams logs), transient
    errors logged and waited out, any other error turned into the trigger's ``"error"`` event.

    A waiter wakes only for news: a snapshot, lines the poller read for it, or -- when it reads its log itself
    (the poller could not) -- its interval. Thousands wait in one triggerer, and each full garbage collection
    walks every object they keep alive, so a waiting one keeps few: no closures, no generator, one future,
    and of the last description only its state machine's copy.
    """
    await start_gate().enter()
    poller = get_poller(trigger.client_params, trigger._lend_hook, family=FAMILIES[trigger.resource.name_key])
    hook = poller.hook
    if trigger._hook is None:  # same client settings: the final event needs no hook (nor clients) of its own
        trigger._hook = hook
    watch = trigger.watch()
    logs = bool(getattr(trigger, "stream_logs", False))
    sub = poller.subscribe(watch.name, trigger.poll_interval, hook.backoff(trigger.poll_interval), logs=logs)
    try:
        while True:
            snapshot = await sub.get(timeout=sub.poll_interval if logs and not sub.fed_logs else None)
            if snapshot is None:  # nothing new on the job: copy its fresh log lines meanwhile
                await _copy_lines(trigger, sub, hook, logs)
                continue
            if snapshot.error is not None:
                exc = snapshot.error
                if is_retryable(exc):
                    trigger.log.warning("%s", transient_warning(exc, poller.poll_interval))
                    continue
                trigger.log.error("Polling failed: %s", exc)
                return watch.error_event(exc)
            step = watch.observe(trigger.seen(snapshot.desc or {}))
            snapshot = None  # (not kept while the waiter waits)
            await _copy_lines(trigger, sub, hook, logs, twice=step.done and not sub.fed_logs)
            if step.status_line:
                trigger.log.log(status_level(step), "%s", status_text(step, step.status_line))
            if step.done:
                return await _final_event(trigger, watch, step.desc)
    finally:
        poller.unsubscribe(sub)


async def _copy_lines(
    trigger: WaitTrigger, sub: Subscription, hook: TFSageMakerHook, logs: bool, twice: bool = False
) -> None:
    """Copy the waiter's new log lines into the trigger's log (``twice``: read again, the last lines can land late)."""
    lines = await _entries(trigger, sub, hook, logs)
    if twice:
        lines += await _entries(trigger, sub, hook, logs)
    for level, line in lines:
        trigger.log.log(level, "%s", line)


async def _entries(trigger: WaitTrigger, sub: Subscription, hook: TFSageMakerHook, logs: bool) -> list[tuple[int, str]]:
    """Return the waiter's new log entries: those the poller fed, and those it reads itself (worker thread).

    A trigger reads its log itself only when it streams logs and the poller does not feed them.
    """
    fed = trigger.redact_entries(sub.take_lines()) if trigger._described else []
    if not logs or sub.fed_logs:
        return fed
    return fed + await asyncio.to_thread(_own_entries, trigger, sub, hook)


def _own_entries(trigger: WaitTrigger, sub: Subscription, hook: TFSageMakerHook) -> list[tuple[int, str]]:
    """Read the job's new log entries (blocking): the trigger reads its log itself, after what the poller fed."""
    reader = trigger.log_reader(hook) if sub.shown else None
    if reader is not None:  # the poller stopped feeding lines: go on after those it delivered
        reader.shown.update(sub.shown)
        sub.shown = {}
    return trigger.log_entries(hook)


async def _final_event(trigger: WaitTrigger, watch: Watch, desc: dict[str, Any]) -> dict[str, Any]:
    """Build the event of an ended job, waiting out transient errors (an ended job stays ended)."""
    interval = trigger.hook.backoff(trigger.poll_interval)
    while True:
        try:
            return await asyncio.to_thread(trigger.final_event, watch, desc)
        except Exception as exc:
            if not is_retryable(exc):
                trigger.log.error("Polling failed: %s", exc)
                return watch.error_event(exc)
            trigger.log.warning("Transient error while reading the end of %s: %s", watch.name, exc)
            await asyncio.sleep(interval.next())

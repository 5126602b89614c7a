"""Coalesced log reading: exactly the per-job reader's lines, for every job, with far fewer calls.

A scripted CloudWatch Logs (``ScriptedLogs``) holds streams whose lines become visible as a clock moves:
streams that appear late, two hosts per job, a stream that ends, several lines in one millisecond,
FilterLogEvents pages that are short, empty (with a token) or throttled. The per-job reader
(``waiting.LogReader``: DescribeLogStreams + GetLogEvents) and the coalesced one (``logfeed.GroupLogReader``:
FilterLogEvents with up to 100 stream names) read the same streams; every job must get the same lines.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from airflow_tf_sm.backends import Clients
from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.logfeed import GroupLogReader, PassResult, instance_count
from airflow_tf_sm.triggers import TrainingJobTrigger
from airflow_tf_sm.waiting import LogReader

GROUP = "/aws/sagemaker/TrainingJobs"


def throttled(operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}, "ResponseMetadata": {}}, operation
    )


@dataclass
class Line:
    at: int  # timestamp (ms); visible once the clock reaches it
    message: str
    event_id: str
    stderr: bool = False


@dataclass
class ScriptedLogs:
    """CloudWatch Logs over scripted streams; ``now_ms()`` decides what is visible; every call is counted."""

    now_ms: Callable[[], int]
    page_limit: int = 10_000
    empty_pages: bool = False  # answer every other first page empty, with a token (the API may)
    throttle_filter: Callable[[int], bool] = lambda n: False  # gets the FilterLogEvents call number
    deny_after: int | None = None  # FilterLogEvents calls allowed before AccessDeniedException
    streams: dict[str, list[Line]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    filter_sizes: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_stream(self, name: str, times: list[int], *, stderr: frozenset[int] = frozenset()) -> None:
        self.streams[name] = [Line(at, f"{name} line {i}", f"{name}#{i}", i in stderr) for i, at in enumerate(times)]

    def _visible(self, name: str) -> list[Line]:
        now = self.now_ms()
        return [line for line in self.streams[name] if line.at <= now]

    def _exists(self, name: str) -> bool:
        return bool(self._visible(name))  # a stream exists once its first line arrived

    def describe_log_streams(self, *, logGroupName: str, logStreamNamePrefix: str, **_: Any) -> dict[str, Any]:
        with self.lock:
            self.calls["DescribeLogStreams"] += 1
        names = sorted(n for n in self.streams if n.startswith(logStreamNamePrefix) and self._exists(n))
        return {
            "logStreams": [{"logStreamName": n, "creationTime": self._visible(n)[0].at} for n in names],
        }

    def get_log_events(
        self,
        *,
        logGroupName: str,
        logStreamName: str,
        nextToken: str | None = None,
        startTime: int | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        with self.lock:
            self.calls["GetLogEvents"] += 1
        lines = self._visible(logStreamName)
        if nextToken:
            start = int(nextToken.split("/")[1])
        else:
            start = next((i for i, line in enumerate(lines) if startTime is None or line.at >= startTime), len(lines))
        chosen = lines[start : start + 3]  # short pages: the reader follows its forward token
        events = [
            {"timestamp": line.at, "message": line.message, **({"stream": "stderr"} if line.stderr else {})}
            for line in chosen
        ]
        return {"events": events, "nextForwardToken": f"f/{start + len(chosen)}"}

    def filter_log_events(
        self,
        *,
        logGroupName: str,
        logStreamNames: list[str],
        startTime: int,
        nextToken: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        assert 1 <= len(logStreamNames) <= 100  # the API's limit
        with self.lock:
            self.calls["FilterLogEvents"] += 1
            number = self.calls["FilterLogEvents"]
            self.filter_sizes.append(len(logStreamNames))
        if self.deny_after is not None and number > self.deny_after:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}, "ResponseMetadata": {}},
                "FilterLogEvents",
            )
        if self.throttle_filter(number):
            raise throttled("FilterLogEvents")
        if self.empty_pages and nextToken is None and number % 2:
            return {"events": [], "nextToken": "0", "searchedLogStreams": []}
        rows = sorted(
            (line.at, line.event_id, name, line)
            for name in logStreamNames
            if name in self.streams
            for line in self._visible(name)
            if line.at >= startTime
        )
        offset = int(nextToken or 0)
        page = rows[offset : offset + self.page_limit]
        events = [
            {
                "logStreamName": name,
                "timestamp": at,
                "message": line.message,
                "ingestionTime": at,
                "eventId": ident,
                **({"stream": "stderr"} if line.stderr else {}),
            }
            for at, ident, name, line in page
        ]
        response: dict[str, Any] = {"events": events, "searchedLogStreams": []}
        if offset + self.page_limit < len(rows):
            response["nextToken"] = str(offset + self.page_limit)
        return response


class Clock:
    """A clock the test moves by hand (ms and seconds views)."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.ms = start_ms

    def now_ms(self) -> int:
        return self.ms

    def seconds(self) -> float:
        return self.ms / 1000


def hook_with(logs: Any) -> TFSageMakerHook:
    hook = TFSageMakerHook(aws_conn_id=None, backend="sagemaker", region_name="us-east-1", retry_attempts=1)
    hook.__dict__["clients"] = Clients(sagemaker=None, s3=None, logs=logs, region="us-east-1", backend="x")
    return hook


def script(logs: ScriptedLogs, t0: int) -> dict[str, list[str]]:
    """Jobs and their streams (times relative to ``t0`` in ms); returns each job's stream names."""
    every = lambda first, count, step=1000: [t0 + first + step * i for i in range(count)]  # noqa: E731
    jobs = {
        "solo": ["solo/algo-1-1700000000"],  # one host, logging all along
        "pair": ["pair/algo-1-1700000000", "pair/algo-2-1700000000"],  # two hosts from the start
        "late": ["late/algo-1-1700000005"],  # its only stream appears after 5 s
        "ends": ["ends/algo-1-1700000000"],  # its stream stops after 3 s (a host that finished)
        "burst": ["burst/algo-1-1700000000"],  # several lines in one millisecond
        "second": ["second/algo-1-1700000000", "second/algo-2-1700000007"],  # a second host appears late
    }
    logs.add_stream(jobs["solo"][0], every(100, 12))
    logs.add_stream(jobs["pair"][0], every(150, 12), stderr=frozenset({2}))
    logs.add_stream(jobs["pair"][1], every(150, 12))  # same timestamps as host 1
    logs.add_stream(jobs["late"][0], every(5200, 6))
    logs.add_stream(jobs["ends"][0], every(300, 3))
    logs.add_stream(jobs["burst"][0], [t0 + 900] * 4 + [t0 + 2900] * 5 + every(4000, 3, 500))
    logs.add_stream(jobs["second"][0], every(200, 12))
    logs.add_stream(jobs["second"][1], every(7100, 4))
    # a Python traceback: its frames are errors up to the exception line, in each reader
    logs.streams[jobs["solo"][0]][4].message = "Traceback (most recent call last):"
    logs.streams[jobs["solo"][0]][5].message = '  File "train.py", line 3'
    logs.streams[jobs["solo"][0]][6].message = "ValueError: bad"
    # a stream of another job with a name sharing the prefix must not be read
    logs.add_stream("solo-2/algo-1-1700000000", every(100, 5))
    return jobs


def per_stream(entries: list[tuple[int, str]], streams: list[str]) -> dict[str, list[tuple[int, str]]]:
    """Group a job's entries by the stream that wrote them (lines start with their stream; host prefixes dropped)."""
    grouped: dict[str, list[tuple[int, str]]] = {s: [] for s in streams}
    for level, text in entries:
        message = text.split("] ", 1)[1] if text.startswith("[") else text
        stream = streams[0] if len(streams) == 1 else next(s for s in streams if message.startswith(f"{s} "))
        grouped[stream].append((level, message))
    return grouped


def run_both(logs: ScriptedLogs, clock: Clock, steps: int, **options: Any) -> tuple[Any, Any, GroupLogReader]:
    """Move the clock a second at a time; after each step both readers read; at the end, the final reads."""
    jobs = script(logs, clock.ms)
    hook = hook_with(logs)
    per_job = {job: LogReader(hook, GROUP, job) for job in jobs}
    coalesced = GroupLogReader(hook, GROUP, clock=clock.seconds, **options)
    got_per_job: dict[str, list[tuple[int, str]]] = {job: [] for job in jobs}
    got_coalesced: dict[str, list[tuple[int, str]]] = {job: [] for job in jobs}
    for job in jobs:
        coalesced.add(job)
    coalesced.expect_hosts("pair", 2)
    coalesced.expect_hosts("second", 2)

    def collect(result: PassResult) -> None:
        for job, entries in result.entries.items():
            got_coalesced[job].extend(entries)

    for _ in range(steps):
        clock.ms += 1000
        for job, reader in per_job.items():
            got_per_job[job].extend(reader.new_entries())
        collect(asyncio.run(coalesced.read_pass(full=True)))
    clock.ms += 1000
    for job, reader in per_job.items():  # the per-job trigger reads twice after the end
        got_per_job[job].extend(reader.new_entries() + reader.new_entries())
    final = set(jobs)
    for job in final:  # the poller marks an ended job changed once
        coalesced.changed(job)
    for _ in range(10):  # ended jobs are read until complete (throttled passes are tried again)
        result = asyncio.run(coalesced.read_pass(full=False, final=final))
        collect(result)
        final -= result.complete
        if not final:
            break
    assert not final, f"never read to the end: {final}"
    return (
        {job: per_stream(got_per_job[job], streams) for job, streams in jobs.items()},
        {job: per_stream(got_coalesced[job], streams) for job, streams in jobs.items()},
        coalesced,
    )


def assert_every_line_once(grouped: dict[str, dict[str, list[tuple[int, str]]]], logs: ScriptedLogs) -> None:
    for streams in grouped.values():
        for stream, entries in streams.items():
            assert [text for _, text in entries] == [line.message for line in logs.streams[stream]], stream


# ----------------------------------------------------------------- equivalence
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"page_limit": 4},  # short pages: tokens followed
        {"page_limit": 3, "empty_pages": True},  # empty first pages that still carry a token
        {"page_limit": 5, "throttle": lambda n: n % 3 == 0},  # every third page throttled
        {"throttle": lambda n: 4 <= n <= 9},  # a run of throttled pages: reading pauses, then catches up
    ],
    ids=["plain", "short-pages", "empty-pages", "throttled-pages", "throttled-run"],
)
def test_coalesced_reader_yields_exactly_the_per_job_readers_lines(options: dict[str, Any]) -> None:
    clock = Clock()
    throttle = options.pop("throttle", lambda n: False)
    logs = ScriptedLogs(clock.now_ms, throttle_filter=throttle, **options)

    per_job, coalesced, reader = run_both(logs, clock, steps=14, streams_per_call=3)

    assert coalesced == per_job  # same lines, same levels, each stream in order
    assert_every_line_once(coalesced, logs)  # ... and that is every line once (the other job's stream left out)
    assert coalesced["solo"]["solo/algo-1-1700000000"][4:7] == [
        (logging.ERROR, "Traceback (most recent call last):"),
        (logging.ERROR, '  File "train.py", line 3'),
        (logging.ERROR, "ValueError: bad"),
    ]
    assert coalesced["pair"]["pair/algo-1-1700000000"][2][0] == logging.WARNING  # a stderr line
    assert all(size <= 3 for size in logs.filter_sizes)  # streams_per_call
    assert (reader.stats.throttled > 0) == (throttle(3) or throttle(4))  # the scenario happened


def test_two_hosts_from_the_start_get_the_same_host_prefixed_lines() -> None:
    clock = Clock()
    logs = ScriptedLogs(clock.now_ms)
    t0 = clock.ms
    logs.add_stream("pair/algo-1-1", [t0 + 100 * i for i in range(5)])
    logs.add_stream("pair/algo-2-1", [t0 + 100 * i for i in range(5)])
    clock.ms += 300
    hook = hook_with(logs)
    per_job = LogReader(hook, GROUP, "pair")
    coalesced = GroupLogReader(hook, GROUP, clock=clock.seconds)
    coalesced.add("pair")
    coalesced.expect_hosts("pair", 2)

    first = per_job.new_entries()
    got = asyncio.run(coalesced.read_pass(full=True)).entries["pair"]
    clock.ms += 1000
    first += per_job.new_entries()
    got += asyncio.run(coalesced.read_pass(full=True)).entries["pair"]

    def by_host(entries: list[tuple[int, str]]) -> dict[str, list[str]]:
        return {host: [t for _, t in entries if t.startswith(f"[{host}] ")] for host in ("algo-1", "algo-2")}

    assert by_host(got) == by_host(first)
    assert by_host(got)["algo-2"] == [f"[algo-2] pair/algo-2-1 line {i}" for i in range(5)]
    assert sorted(got) == sorted(first) and len(got) == 10


def test_calls_per_pass_are_streams_over_100_when_nothing_changes() -> None:
    clock = Clock()
    logs = ScriptedLogs(clock.now_ms)
    t0 = clock.ms
    for i in range(250):
        logs.add_stream(f"job-{i:03d}/algo-1-1", [t0 + 1000 * k for k in range(30)])
    hook = hook_with(logs)
    reader = GroupLogReader(hook, GROUP, clock=clock.seconds)
    for i in range(250):
        reader.add(f"job-{i:03d}")
    clock.ms += 500
    asyncio.run(reader.read_pass(full=True))  # first pass: every job's streams are looked up
    assert logs.calls == {"DescribeLogStreams": 250, "FilterLogEvents": 3}
    delivered = []
    for _ in range(5):
        logs.calls.clear()
        clock.ms += 1000
        result = asyncio.run(reader.read_pass(full=True))
        delivered.append(sum(len(e) for e in result.entries.values()))
        assert logs.calls == {"FilterLogEvents": 3}  # ceil(250 / 100), no look-ups in steady state
    assert delivered == [250] * 5  # one new line per job per second, each once
    reader.changed("job-007")  # its description changed: its streams are looked up once more
    logs.calls.clear()
    asyncio.run(reader.read_pass(full=True))
    assert logs.calls == {"DescribeLogStreams": 1, "FilterLogEvents": 3}


def test_a_job_missing_a_host_is_looked_up_again_less_and_less_often() -> None:
    clock = Clock()
    logs = ScriptedLogs(clock.now_ms)
    logs.add_stream("pair/algo-1-1", [clock.ms + 1000 * k for k in range(60)])
    reader = GroupLogReader(hook_with(logs), GROUP, clock=clock.seconds)
    reader.add("pair")
    reader.expect_hosts("pair", 2)
    lookups = []
    for _ in range(20):
        clock.ms += 1000
        before = logs.calls["DescribeLogStreams"]
        asyncio.run(reader.read_pass(full=True))
        lookups.append(logs.calls["DescribeLogStreams"] - before)
    assert [i for i, n in enumerate(lookups) if n] == [0, 1, 3, 7, 15]  # pauses of 1, 2, 4, 8 passes


def test_a_quiet_stream_does_not_hold_back_its_call() -> None:
    clock = Clock()
    logs = ScriptedLogs(clock.now_ms)
    t0 = clock.ms
    logs.add_stream("ended/algo-1-1", [t0])  # logged once, an hour before the others
    logs.add_stream("busy/algo-1-1", [t0 + 3_600_000 + 1000 * k for k in range(100)])
    reader = GroupLogReader(hook_with(logs), GROUP, clock=clock.seconds, quiet_overlap_ms=10_000)
    reader.add("ended")
    reader.add("busy")
    clock.ms = t0 + 3_600_000 + 500
    asyncio.run(reader.read_pass(full=True))
    starts = []
    original = logs.filter_log_events

    def spy(**kwargs: Any) -> dict[str, Any]:
        starts.append(kwargs["startTime"])
        return original(**kwargs)

    logs.filter_log_events = spy  # type: ignore[method-assign]
    for _ in range(3):
        clock.ms += 1000
        asyncio.run(reader.read_pass(full=True))
    # the quiet stream's position moved up to the last read's start minus the overlap, not its last line
    assert all(start >= clock.ms - 3000 - 10_000 for start in starts)


def test_membership_follows_add_and_remove() -> None:
    reader = GroupLogReader(hook_with(ScriptedLogs(lambda: 0)), GROUP)
    reader.add("job-1")
    assert "job-1" in reader and "job-2" not in reader
    reader.remove("job-1")
    assert "job-1" not in reader and reader.jobs == []


def test_instance_count_of_descriptions() -> None:
    assert instance_count({"ResourceConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.xlarge"}}) == 2
    groups = [{"InstanceGroupName": "a", "InstanceCount": 2}, {"InstanceGroupName": "b", "InstanceCount": 1}]
    assert instance_count({"ResourceConfig": {"InstanceGroups": groups}}) == 3
    assert instance_count({"TransformResources": {"InstanceCount": 4}}) == 4
    assert instance_count({}) == 1


# -------------------------------------------------------- through the triggers
class Recorder:
    """Stands in for a trigger's logger: keeps what it logs."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    def log(self, level: int, fmt: str, *args: Any) -> None:
        self.lines.append((level, fmt % args if args else fmt))

    def info(self, fmt: str, *args: Any) -> None:
        self.log(logging.INFO, fmt, *args)

    def warning(self, fmt: str, *args: Any) -> None:
        self.log(logging.WARNING, fmt, *args)

    def error(self, fmt: str, *args: Any) -> None:
        self.log(logging.ERROR, fmt, *args)


@pytest.mark.parametrize("deny_after", [None, 6], ids=["coalesced", "denied-midway"])
def test_coalesced_triggers_log_the_same_lines_as_per_job_triggers(
    deny_after: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real time: jobs run and log on the scripted planes; both kinds of trigger copy every line once.

    ``denied-midway``: FilterLogEvents becomes forbidden after a few calls; each waiter reads on by itself.
    A fed waiter waits for news only (no timeout: the poller's lines wake it); one reading by itself polls.
    """
    from airflow_tf_sm.mailbox import Subscription
    from tests.test_polling import PARAMS, ControlPlane

    timeouts: list[float | None] = []
    original_get = Subscription.get

    def recording_get(self: Subscription, timeout: float | None = None) -> Any:
        timeouts.append(timeout)
        return original_get(self, timeout)

    monkeypatch.setattr(Subscription, "get", recording_get)

    plane = ControlPlane()
    t0 = int(time.time() * 1000)
    logs = ScriptedLogs(
        lambda: int(time.time() * 1000), page_limit=7, throttle_filter=lambda n: n % 4 == 0, deny_after=deny_after
    )
    for i in range(6):
        end = 0.5 + 0.15 * i
        plane.add(f"job-{i}", (0.1, "InProgress", "Training"), (end, "Completed", "Completed"))
        hosts = 2 if i % 2 else 1
        for h in range(1, hosts + 1):
            late = 300 if h == 2 and i == 3 else 0  # one second host appears late
            times = [t0 + late + 40 * k for k in range(int((end * 1000 - late) // 40))]
            logs.add_stream(f"job-{i}/algo-{h}-1700000000", times)
    hook_per_job = hook_with(logs)
    hook_per_job.__dict__["clients"] = Clients(sagemaker=plane, s3=None, logs=logs, region="us-east-1", backend="x")
    shared_hook = hook_with(logs)
    shared_hook.__dict__["clients"] = Clients(sagemaker=plane, s3=None, logs=logs, region="us-east-1", backend="x")

    def make(name: str, coalesce: bool) -> tuple[TrainingJobTrigger, Recorder]:
        made = TrainingJobTrigger(name, PARAMS, poll_interval=0.05, stream_logs=True, coalesce=coalesce)
        made.make_hook = lambda: hook_per_job if not coalesce else shared_hook  # type: ignore[method-assign]
        recorder = Recorder()
        made._log = recorder  # type: ignore[assignment]
        return made, recorder

    async def scenario() -> dict[tuple[str, bool], tuple[list[dict[str, Any]], Recorder]]:
        from airflow_tf_sm.polling import get_poller

        poller = get_poller(PARAMS, lambda: shared_hook, poll_interval=0.05)
        made = {(n, c): make(n, c) for n in plane.jobs for c in (False, True)}

        async def run(key: tuple[str, bool]) -> tuple[list[dict[str, Any]], Recorder]:
            trigger, recorder = made[key]
            return [e.payload async for e in trigger.run()], recorder

        results = await asyncio.wait_for(asyncio.gather(*(run(k) for k in made)), 30)
        assert poller.stats.log_calls > 0
        assert poller.logs_mode == (deny_after is None)
        if deny_after is None:  # fed: no waiter read its log itself, none woke on a timer
            assert all(made[(n, True)][0]._reader is None for n in plane.jobs)
            assert timeouts and set(timeouts) == {None}
        else:  # on its own after the denial: it polls its log every interval
            assert any(t is not None for t in timeouts)
        return dict(zip(made, results, strict=True))

    results = asyncio.run(scenario())
    for name in plane.jobs:
        streams = sorted(s for s in logs.streams if s.startswith(f"{name}/"))
        events = {c: results[(name, c)][0] for c in (False, True)}
        assert events[True] == events[False] and events[True][0]["status"] == "success"
        copied = {}
        for coalesce in (False, True):
            lines = results[(name, coalesce)][1].lines
            status = next(i for i, (_, t) in enumerate(lines) if t.startswith(f"Training job {name}: Completed"))
            log_lines = [(lvl, t) for lvl, t in lines if "line" in t and not t.startswith("Training job")]
            assert all(i < status for i, (_, t) in enumerate(lines) if "line" in t and "Training job" not in t)
            copied[coalesce] = per_stream(log_lines, streams)
        assert copied[True] == copied[False]
        for stream in streams:
            assert [t for _, t in copied[True][stream]] == [line.message for line in logs.streams[stream]]

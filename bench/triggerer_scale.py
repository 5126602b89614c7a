"""Triggerer scale: 1,000 TrainingJobTriggers in one event loop, per-job polling vs the shared poller.

A fake SageMaker control plane answers every call after a fixed latency (the calling thread sleeps, like
a real HTTP call) and moves its jobs through Training -> Uploading -> Completed (one in ten Failed) at
planned times, spread over the run. Each mode runs in a fresh process (so RSS is its own): all triggers
start at once; a probe measures the event loop's lag; every SageMaker call is recorded with its time.
The parent compares the two runs: same events, loop lag, RSS, calls per minute and per poll interval.

Child: ``python -m bench.triggerer_scale <json config>``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import math
import random
import sys
import threading
import time
from typing import Any

from bench.common import Figure, child_env, emit, new_home, peak_rss_mb, record_poller_ticks, rss_mb, run_child

GOAL_LAG = 0.2
GOAL_RSS_MB = 150.0


class Plane:
    """Fake SageMaker: planned job timelines on the wall clock, latency per call, every call recorded."""

    def __init__(self, jobs: int, start: float, spread: float, latency: float, seed: int) -> None:
        rng = random.Random(seed)
        self.latency = latency
        self.lock = threading.Lock()
        self.calls: list[tuple[float, str]] = []
        self.log_calls = 0
        self.jobs: dict[str, dict[str, Any]] = {}
        for i in range(jobs):
            end = start + 5.0 + rng.random() * spread
            failed = rng.random() < 0.1
            created = start - 600.0 - i
            self.jobs[f"bench-job-{i:04d}"] = {
                "created": created,
                "end": end,
                "steps": [
                    (created + 60.0, "InProgress", "Training"),
                    (end - 1.0 - rng.random() * 2.0, "InProgress", "Uploading" if not failed else "Training"),
                    (end, "Failed" if failed else "Completed", "Failed" if failed else "Completed"),
                ],
                "failed": failed,
            }

    def transitions(self, after: float) -> list[tuple[float, str]]:
        """(time, job) of every status change after ``after``."""
        return sorted((at, name) for name, job in self.jobs.items() for at, _, _ in job["steps"] if at > after)

    def _state(self, name: str, now: float) -> tuple[float, str, str]:
        current = self.jobs[name]["steps"][0]
        for step in self.jobs[name]["steps"]:
            if step[0] <= now:
                current = step
        return current

    def _call(self, operation: str) -> float:
        with self.lock:
            self.calls.append((time.time(), operation))
        time.sleep(self.latency)
        return time.time()

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        now = self._call("DescribeTrainingJob")
        job = self.jobs[TrainingJobName]
        modified, status, secondary = self._state(TrainingJobName, now)
        desc: dict[str, Any] = {
            "TrainingJobName": TrainingJobName,
            "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:000000000000:training-job/{TrainingJobName}",
            "TrainingJobStatus": status,
            "SecondaryStatus": secondary,
            "CreationTime": dt.datetime.fromtimestamp(job["created"], tz=dt.timezone.utc),
            "LastModifiedTime": dt.datetime.fromtimestamp(modified, tz=dt.timezone.utc),
            "AlgorithmSpecification": {"TrainingImage": "bench", "TrainingInputMode": "File"},
        }
        if status == "Completed":
            desc["ModelArtifacts"] = {"S3ModelArtifacts": f"s3://bench/{TrainingJobName}/output/model.tar.gz"}
            desc["BillableTimeInSeconds"] = 60
        if status == "Failed":
            desc["FailureReason"] = "AlgorithmError: bench"
        return desc

    def list_training_jobs(self, **kwargs: Any) -> dict[str, Any]:
        now = self._call("ListTrainingJobs")
        after = kwargs["LastModifiedTimeAfter"].timestamp()
        rows = []
        for name, job in self.jobs.items():
            modified, status, secondary = self._state(name, now)
            if modified > after:
                rows.append((job["created"], name, modified, status, secondary))
        rows.sort(reverse=kwargs.get("SortOrder") == "Descending")
        offset = int(kwargs.get("NextToken") or 0)
        size = int(kwargs["MaxResults"])
        response: dict[str, Any] = {
            "TrainingJobSummaries": [
                {
                    "TrainingJobName": name,
                    "CreationTime": dt.datetime.fromtimestamp(created, tz=dt.timezone.utc),
                    "LastModifiedTime": dt.datetime.fromtimestamp(modified, tz=dt.timezone.utc),
                    "TrainingJobStatus": status,
                    "SecondaryStatus": secondary,
                }
                for created, name, modified, status, secondary in rows[offset : offset + size]
            ]
        }
        if offset + size < len(rows):
            response["NextToken"] = str(offset + size)
        return response


class Logs:
    """CloudWatch Logs stand-in (read for the log tail of failed jobs, in both modes alike)."""

    def __init__(self, plane: Plane) -> None:
        self.plane = plane

    def describe_log_streams(self, **kwargs: Any) -> dict[str, Any]:
        with self.plane.lock:
            self.plane.log_calls += 1
        time.sleep(self.plane.latency)
        return {"logStreams": [{"logStreamName": f"{kwargs['logStreamNamePrefix']}algo-1-1700000000"}]}

    def get_log_events(self, **kwargs: Any) -> dict[str, Any]:
        with self.plane.lock:
            self.plane.log_calls += 1
        time.sleep(self.plane.latency)
        if kwargs.get("nextToken"):
            return {"events": [], "nextForwardToken": kwargs["nextToken"]}
        return {"events": [{"message": "Traceback: bench"}], "nextForwardToken": "f/1"}


def child(cfg: dict[str, Any]) -> None:
    """Run ``cfg["jobs"]`` triggers in one event loop until each yielded its event; print the measurements."""
    from airflow_tf_sm.backends import Clients
    from airflow_tf_sm.hook import TFSageMakerHook
    from airflow_tf_sm.triggers import TrainingJobTrigger

    params = {"backend": "sagemaker", "aws_conn_id": None, "region_name": "us-east-1"}
    start = time.time() + 1.0
    plane = Plane(cfg["jobs"], start, cfg["spread"], cfg["latency"], cfg["seed"])

    def make_hook() -> TFSageMakerHook:
        hook = TFSageMakerHook(aws_conn_id=None, backend="sagemaker", region_name="us-east-1")
        hook.__dict__["clients"] = Clients(
            sagemaker=plane, s3=None, logs=Logs(plane), region="us-east-1", backend="sagemaker"
        )
        return hook

    tick_times = record_poller_ticks()
    gc.collect()
    base_rss = rss_mb()
    pauses: list[float] = []
    gc_started = [0.0]

    def gc_timer(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - gc_started[0])

    gc.callbacks.append(gc_timer)

    async def main() -> dict[str, Any]:
        lag = 0.0
        done = asyncio.Event()

        async def probe() -> None:
            nonlocal lag
            while not done.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.05)
                lag = max(lag, time.perf_counter() - before - 0.05)

        received: dict[str, tuple[float, dict[str, Any]]] = {}

        async def wait(trigger: TrainingJobTrigger) -> None:
            async for event in trigger.run():
                received[trigger.job_name] = (time.time(), event.payload)

        while time.time() < start:
            await asyncio.sleep(0.01)
        triggers = []
        for name in plane.jobs:
            trigger = TrainingJobTrigger(
                name, params, poll_interval=cfg["interval"], stream_logs=False, coalesce=cfg["coalesce"]
            )
            trigger.make_hook = make_hook  # type: ignore[method-assign]
            triggers.append(trigger)
        watcher = asyncio.create_task(probe())
        await asyncio.gather(*(wait(t) for t in triggers))
        done.set()
        await watcher
        return {"lag": lag, "received": received}

    outcome = asyncio.run(main())
    ended = time.time()
    events = {
        name: {
            "at": at,
            "end": plane.jobs[name]["end"],
            "status": payload["status"],
            "training_job_status": payload["training_job_status"],
            "failure_reason": payload["failure_reason"],
            "model_data": (payload.get("result") or {}).get("model_data"),
            "log_tail": payload["log_tail"],
        }
        for name, (at, payload) in outcome["received"].items()
    }
    emit(
        {
            "start": start,
            "ended": ended,
            "lag": outcome["lag"],
            "max_gc_pause": max(pauses, default=0.0),
            "base_rss": base_rss,
            "peak_rss": peak_rss_mb(),
            "calls": plane.calls,
            "ticks": tick_times,
            "log_calls": plane.log_calls,
            "transitions": plane.transitions(start),
            "events": events,
        }
    )


def aws_client_cost(env: dict[str, str], hooks: int = 3) -> dict[str, float]:
    """RSS and seconds one hook's boto3 clients cost on the AWS backend (built locally, no call is made)."""
    code = f"""
import json, time
from bench.common import rss_mb
from airflow_tf_sm.hook import TFSageMakerHook
TFSageMakerHook(aws_conn_id=None, backend="sagemaker", region_name="us-east-1", endpoint_url="http://127.0.0.1:9").clients
before, start = rss_mb(), time.perf_counter()
keep = [TFSageMakerHook(aws_conn_id=None, backend="sagemaker", region_name="us-east-1",
                        endpoint_url="http://127.0.0.1:9").clients for _ in range({hooks})]
print(json.dumps({{"mb": (rss_mb() - before) / {hooks}, "seconds": (time.perf_counter() - start) / {hooks}}}))
"""
    result: dict[str, float] = run_child(["-c", code], env, timeout=300)
    return result


def _intervals(run: dict[str, Any], interval: float, jobs: int) -> list[dict[str, float]]:
    """Split a shared-poller run into its poll ticks (as the poller recorded them).

    Ticks come about a second apart at first and then less often (each waiter's interval doubles up to the
    configured one), so a tick is found from the poller, not from gaps between list calls: two early ticks
    4 s apart once counted as one 10 s interval with one interval's bound. The ticks before every trigger's
    first describe (start-up: triggers start a few per loop step, each described once) are left out.
    """
    calls = run["calls"]
    ticks = [at for at, op in calls if op == "ListTrainingJobs"]
    describes = [at for at, op in calls if op == "DescribeTrainingJob"]
    started_up = describes[jobs - 1] if len(describes) >= jobs else run["ended"]
    starts = run["ticks"]
    ends = {name: ev["at"] for name, ev in run["events"].items()}
    rows = []
    for k in range(1, len(starts)):
        lo, hi = starts[k], starts[k + 1] if k + 1 < len(starts) else run["ended"]
        if lo < started_up:
            continue
        waiting = sum(1 for at in ends.values() if at >= lo)
        if waiting == 0:
            break
        n_calls = sum(1 for at, _ in calls if lo <= at < hi)
        listed_until = max((at for at in ticks if lo <= at < hi), default=lo)  # the last page of this listing
        changed = len(
            {name for at, name in run["transitions"] if starts[k - 1] <= at <= listed_until and ends[name] >= lo}
        )
        bound = math.ceil(waiting / 100) + changed + waiting / 10
        rows.append({"calls": n_calls, "waiting": waiting, "changed": changed, "bound": bound})
    return rows


def measure(jobs: int = 1000, interval: float = 10.0, latency: float = 0.05, spread: float = 30.0) -> list[Figure]:
    """Run both modes (fresh processes, same plan) and return the triggerer rows."""
    env = child_env(new_home())
    base = {"jobs": jobs, "interval": interval, "latency": latency, "spread": spread, "seed": 11}
    timeout = spread + 20 * interval + 300
    per_job = run_child(["-m", "bench.triggerer_scale", json.dumps({**base, "coalesce": False})], env, timeout)
    shared = run_child(["-m", "bench.triggerer_scale", json.dumps({**base, "coalesce": True})], env, timeout)
    client = aws_client_cost(env)

    def strip(events: dict[str, Any]) -> dict[str, Any]:
        return {name: {k: v for k, v in ev.items() if k not in ("at", "end")} for name, ev in events.items()}

    same = strip(per_job["events"]) == strip(shared["events"]) and len(shared["events"]) == jobs

    def per_minute(run: dict[str, Any]) -> float:
        return len(run["calls"]) / (run["ended"] - run["start"]) * 60

    def delay(run: dict[str, Any]) -> float:
        return sum(ev["at"] - ev["end"] for ev in run["events"].values()) / max(1, len(run["events"]))

    rows = _intervals(shared, interval, jobs)
    worst = max(rows, key=lambda r: r["calls"] / r["bound"]) if rows else None
    within = all(r["calls"] <= r["bound"] for r in rows) and bool(rows)
    per_job_interval = len(per_job["calls"]) / max(1.0, (per_job["ended"] - per_job["start"]) / interval)
    rss_ok = shared["peak_rss"] <= GOAL_RSS_MB
    startup = sum(1 for at, _ in shared["calls"] if at < shared["start"] + interval)
    mode_text = (
        f"{jobs} triggers, {latency * 1000:.0f} ms a call, poll interval {interval:g} s, jobs end over {spread:g} s"
    )
    return [
        Figure(
            "3a. Triggerer: max event-loop lag, shared vs per-job",
            f"{shared['lag']:.3f} s vs {per_job['lag']:.3f} s",
            f"< {GOAL_LAG} s",
            shared["lag"] < GOAL_LAG,
            f"{mode_text}; probe sleeps 50 ms; largest garbage-collection pause "
            f"{shared['max_gc_pause']:.3f} s vs {per_job['max_gc_pause']:.3f} s (included)",
        ),
        Figure(
            "3b. Triggerer: peak RSS, shared vs per-job",
            f"{shared['peak_rss']:.0f} MB vs {per_job['peak_rss']:.0f} MB",
            f"<= {GOAL_RSS_MB:.0f} MB",
            rss_ok,
            f"whole process, {shared['base_rss']:.0f} MB of it after imports; fake clients. On AWS each per-job "
            f"trigger also builds its own boto3 clients: {client['mb']:.0f} MB and {client['seconds']:.2f} s each "
            f"(measured here), the shared poller one set per connection and region",
        ),
        Figure(
            "3c. Triggerer: SageMaker calls per minute, shared vs per-job",
            f"{per_minute(shared):.0f} vs {per_minute(per_job):.0f}",
            "same events as per-job",
            same,
            f"same {len(shared['events'])} events in both modes: {'yes' if same else 'NO'}; mean delay from job "
            f"end to event {delay(shared):.1f} s vs {delay(per_job):.1f} s; CloudWatch Logs calls "
            f"{shared['log_calls']} vs {per_job['log_calls']}",
        ),
        Figure(
            "3d. Triggerer: calls per poll interval (shared poller)",
            (f"worst interval {worst['calls']} calls, bound {worst['bound']:.1f}" if worst else "n/a")
            + f" (per-job: {per_job_interval:.0f})",
            "<= ceil(N/100) + changed + N/10",
            within,
            f"{len(rows)} poll ticks after start-up checked (ticks as the poller made them: about 1, 2, 4, "
            f"8 s apart, then every {interval:g} s); N = triggers still waiting, changed = their jobs that "
            f"changed between the previous listing's start and this one's end; start-up (until every trigger "
            f"was described once; {startup} calls in the first {interval:g} s) left out; calls/bound per tick: "
            + ", ".join(f"{r['calls']}/{r['bound']:.1f}" for r in rows),
        ),
    ]


if __name__ == "__main__":
    child(json.loads(sys.argv[1]))

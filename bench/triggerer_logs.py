"""Triggerer scale with log streaming on: 1,000 and 5,000 TrainingJobTriggers, each job logging a line a second.

The fake SageMaker of ``triggerer_scale.py`` (jobs Training -> Uploading -> Completed/Failed at planned times,
a fixed latency per call) plus a fake CloudWatch Logs: one stream per job, one line a second from its start
until it ends, visible once its timestamp passed; DescribeLogStreams, GetLogEvents and FilterLogEvents (up to
100 stream names, 10,000 events a page) answer after the same latency. Every call is recorded with its time.
Each mode runs in a fresh process: the shared poller (coalesced describes and logs) and per-job polling
(``coalesce=False``: DescribeTrainingJob + DescribeLogStreams + GetLogEvents per job per interval). Each
trigger's log is a counter that checks every job's lines arrive each once and in order.

Child: ``python -m bench.triggerer_logs <json config>``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import sys
import threading
import time
from typing import Any

from bench.common import Figure, child_env, emit, new_home, peak_rss_mb, record_poller_ticks, rss_mb, run_child
from bench.triggerer_scale import Plane

GOAL_LAG = 0.2
GOAL_RSS_MB = 300.0
LINE_MS = 1000


class Logs:
    """Fake CloudWatch Logs: job ``j``'s stream holds line ``i`` at ``start_j + i`` seconds while the job runs."""

    def __init__(self, plane: Plane, start: float) -> None:
        self.plane = plane
        self.base = {name: int((start + (k % 97) / 97) * 1000) for k, name in enumerate(plane.jobs)}
        self.last = {name: int((job["end"] * 1000 - self.base[name]) // LINE_MS) for name, job in plane.jobs.items()}

    def _call(self, operation: str) -> int:
        with self.plane.lock:
            self.plane.calls.append((time.time(), operation))
            self.plane.log_calls += 1
        time.sleep(self.plane.latency)
        return int(time.time() * 1000)

    def _indices(self, job: str, now: int, start_ms: int) -> range:
        first = max(0, math.ceil((start_ms - self.base[job]) / LINE_MS))
        return range(first, min(self.last[job], (now - self.base[job]) // LINE_MS) + 1)

    def _event(self, job: str, i: int) -> dict[str, Any]:
        at = self.base[job] + i * LINE_MS
        return {"timestamp": at, "message": f"{job} line {i}", "ingestionTime": at, "eventId": f"{job}:{i}"}

    def _filtered(self, job: str, i: int) -> dict[str, Any]:
        return {**self._event(job, i), "logStreamName": f"{job}/algo-1-1700000000"}

    def describe_log_streams(self, **kwargs: Any) -> dict[str, Any]:
        now = self._call("DescribeLogStreams")
        job = kwargs["logStreamNamePrefix"].rstrip("/")
        if job not in self.base or now < self.base[job]:
            return {"logStreams": []}
        return {"logStreams": [{"logStreamName": f"{job}/algo-1-1700000000", "creationTime": self.base[job]}]}

    def get_log_events(self, **kwargs: Any) -> dict[str, Any]:
        now = self._call("GetLogEvents")
        job = kwargs["logStreamName"].split("/")[0]
        token = kwargs.get("nextToken")
        start = int(token.split("/")[1]) if token else 0
        events = [self._event(job, i) for i in self._indices(job, now, self.base[job] + start * LINE_MS)]
        return {"events": events, "nextForwardToken": f"f/{start + len(events)}"}

    def filter_log_events(self, **kwargs: Any) -> dict[str, Any]:
        now = self._call("FilterLogEvents")
        assert len(kwargs["logStreamNames"]) <= 100
        found = [
            self._filtered(job, i)
            for job in (name.split("/")[0] for name in kwargs["logStreamNames"])
            for i in self._indices(job, now, int(kwargs["startTime"]))
        ]
        found.sort(key=lambda e: (e["timestamp"], e["eventId"]))
        offset = int(kwargs.get("nextToken") or 0)
        response: dict[str, Any] = {"events": found[offset : offset + 10_000]}
        if offset + 10_000 < len(found):
            response["nextToken"] = str(offset + 10_000)
        return response


class LineCounter:
    """A trigger's logger: counts its job's lines, checking each arrives once and in order."""

    def __init__(self, job: str, tally: dict[str, Any]) -> None:
        self.job = job
        self.tally = tally
        self.next = 0

    def log(self, level: int, fmt: str, *args: Any) -> None:
        text = fmt % args if args else fmt
        if text.startswith(f"{self.job} line "):
            index = int(text.rsplit(" ", 1)[1])
            if index != self.next:
                self.tally["out_of_order"] += 1
            self.next = index + 1
            self.tally["lines"] += 1

    def info(self, fmt: str, *args: Any) -> None:
        self.log(20, fmt, *args)

    def warning(self, fmt: str, *args: Any) -> None:
        self.log(30, fmt, *args)

    def error(self, fmt: str, *args: Any) -> None:
        self.log(40, fmt, *args)


def child(cfg: dict[str, Any]) -> None:
    """Run ``cfg["jobs"]`` log-streaming triggers in one event loop until each yielded its event."""
    from airflow_tf_sm.backends import Clients
    from airflow_tf_sm.hook import TFSageMakerHook
    from airflow_tf_sm.triggers import TrainingJobTrigger

    params = {"backend": "sagemaker", "aws_conn_id": None, "region_name": "us-east-1"}
    start = time.time() + 1.0
    plane = Plane(cfg["jobs"], start + cfg["run"] - 5.0, cfg["spread"], cfg["latency"], cfg["seed"])
    logs = Logs(plane, start)
    hooks: list[TFSageMakerHook] = []
    lock = threading.Lock()

    def make_hook() -> TFSageMakerHook:
        hook = TFSageMakerHook(aws_conn_id=None, backend="sagemaker", region_name="us-east-1")
        hook.__dict__["clients"] = Clients(sagemaker=plane, s3=None, logs=logs, region="us-east-1", backend="x")
        with lock:
            hooks.append(hook)
        return hook

    tick_times = record_poller_ticks()
    gc.collect()
    base_rss = rss_mb()
    pauses: list[tuple[float, float]] = []
    gc_started = [0.0]

    def gc_timer(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            pauses.append((time.time(), time.perf_counter() - gc_started[0]))

    gc.callbacks.append(gc_timer)
    tally = {"lines": 0, "out_of_order": 0}
    counters: dict[str, LineCounter] = {}

    lags: list[tuple[float, float]] = []

    async def main() -> dict[str, Any]:
        lag = 0.0
        done = asyncio.Event()

        async def probe() -> None:
            nonlocal lag
            while not done.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.05)
                late = time.perf_counter() - before - 0.05
                lag = max(lag, late)
                if late > 0.1:
                    lags.append((time.time() - start, late))

        received: dict[str, float] = {}

        async def wait(trigger: TrainingJobTrigger) -> None:
            async for _ in trigger.run():
                received[trigger.job_name] = time.time()

        while time.time() < start:
            await asyncio.sleep(0.01)
        triggers = []
        for name in plane.jobs:
            trigger = TrainingJobTrigger(
                name, params, poll_interval=cfg["interval"], stream_logs=True, coalesce=cfg["coalesce"]
            )
            trigger.make_hook = make_hook  # type: ignore[method-assign]
            counters[name] = LineCounter(name, tally)
            trigger._log = counters[name]  # type: ignore[assignment]
            triggers.append(trigger)
        watcher = asyncio.create_task(probe())
        if cfg.get("freeze"):  # what a triggerer can do once started: keep start-up objects out of collections
            gc.freeze()
        await asyncio.gather(*(wait(t) for t in triggers))
        done.set()
        await watcher
        return {"lag": lag, "received": received}

    outcome = asyncio.run(main())
    expected = {name: logs.last[name] + 1 for name in plane.jobs}
    missing = sum(max(0, expected[n] - counters[n].next) for n in plane.jobs)
    emit(
        {
            "start": start,
            "ended": time.time(),
            "lag": outcome["lag"],
            "ticks": tick_times,
            "lags": lags[:50],
            "gc_stats": gc.get_stats(),
            "gc_objects": len(gc.get_objects()),
            "gc": sorted(((at - start, p) for at, p in pauses), key=lambda x: -x[1])[:5],
            "base_rss": base_rss,
            "peak_rss": peak_rss_mb(),
            "calls": plane.calls,
            "transitions": plane.transitions(start),
            "ends": outcome["received"],
            "lines": tally["lines"],
            "expected_lines": sum(expected.values()),
            "out_of_order": tally["out_of_order"],
            "missing": missing,
        }
    )


LOG_OPS = ("DescribeLogStreams", "GetLogEvents", "FilterLogEvents")


def intervals(run: dict[str, Any], jobs: int) -> list[dict[str, float]]:
    """Split a shared-poller run into its poll ticks (as the poller recorded them).

    Ticks come every second at first and then less often (the waiters' intervals grow to the configured
    one); the ticks before every job was described and its streams looked up once (start-up) are left out.
    """
    calls = run["calls"]
    starts = run["ticks"]
    lookups = [at for at, op in calls if op == "DescribeLogStreams"]
    started_up = lookups[jobs - 1] if len(lookups) >= jobs else run["ended"]
    rows = []
    for k in range(1, len(starts)):
        lo, hi = starts[k], starts[k + 1] if k + 1 < len(starts) else run["ended"]
        if lo < started_up:
            continue
        waiting = sum(1 for at in run["ends"].values() if at >= lo)
        if waiting == 0:
            break
        sm = sum(1 for at, op in calls if lo <= at < hi and op not in LOG_OPS)
        cw = sum(1 for at, op in calls if lo <= at < hi and op in LOG_OPS)
        # changed: jobs that changed since the previous tick began (the listing or the safety net finds them)
        changed = len({name for at, name in run["transitions"] if starts[k - 1] <= at < hi and run["ends"][name] >= lo})
        rows.append({"sm": sm, "logs": cw, "waiting": waiting, "changed": changed})
    return rows


def measure(sizes: tuple[int, ...] = (1000, 5000), interval: float = 10.0, latency: float = 0.02) -> list[Figure]:
    """Run both modes at each size (fresh processes, same plan); return the rows."""
    env = child_env(new_home())
    figures: list[Figure] = []
    for jobs in sizes:
        base = {"jobs": jobs, "interval": interval, "latency": latency, "spread": 20.0, "run": 50.0, "seed": 5}
        timeout = 1800
        shared = run_child(["-m", "bench.triggerer_logs", json.dumps({**base, "coalesce": True})], env, timeout)
        per_job = run_child(["-m", "bench.triggerer_logs", json.dumps({**base, "coalesce": False})], env, timeout)
        rows = intervals(shared, jobs)

        def bound(row: dict[str, float]) -> float:
            return math.ceil(row["waiting"] / 100) + row["changed"]

        net = 0.1  # the poller's default safety net: describes a tenth of the other waiting jobs each interval
        sm_ok = bool(rows) and all(r["sm"] <= bound(r) + math.ceil(r["waiting"] * net) for r in rows)
        logs_ok = bool(rows) and all(r["logs"] <= bound(r) for r in rows)
        worst_sm = max(rows, key=lambda r: r["sm"] / bound(r)) if rows else None
        worst_logs = max(rows, key=lambda r: r["logs"] / bound(r)) if rows else None
        seconds = {m: run["ended"] - run["start"] for m, run in (("shared", shared), ("per-job", per_job))}

        def per_interval(run: dict[str, Any], ops: tuple[str, ...] | None) -> float:
            n = sum(1 for _, op in run["calls"] if (op in LOG_OPS) == (ops is not None))
            return n / max(1.0, (run["ended"] - run["start"]) / interval)

        exact = {
            m: run["missing"] == 0 and run["out_of_order"] == 0 and run["lines"] == run["expected_lines"]
            for m, run in (("shared", shared), ("per-job", per_job))
        }
        what = (
            f"{jobs} triggers, each job a line a second, {latency * 1000:.0f} ms a call, interval {interval:g} s; "
            f"runs took {seconds['shared']:.0f} s shared vs {seconds['per-job']:.0f} s per-job"
        )
        figures += [
            Figure(
                f"8a. Triggerer + logs, {jobs} jobs: max event-loop lag, shared vs per-job",
                f"{shared['lag']:.3f} s vs {per_job['lag']:.3f} s",
                f"< {GOAL_LAG} s",
                shared["lag"] < GOAL_LAG,
                what + f"; largest garbage-collection pause {shared['gc'][0][1] if shared['gc'] else 0:.3f} s vs "
                f"{per_job['gc'][0][1] if per_job['gc'] else 0:.3f} s (included)",
            ),
            Figure(
                f"8b. Triggerer + logs, {jobs} jobs: peak RSS, shared vs per-job",
                f"{shared['peak_rss']:.0f} MB vs {per_job['peak_rss']:.0f} MB",
                f"<= {GOAL_RSS_MB:.0f} MB" + (" (goal at 5,000)" if jobs < 5000 else ""),
                shared["peak_rss"] <= GOAL_RSS_MB,
                f"whole process ({shared['base_rss']:.0f} MB after imports), fake clients",
            ),
            Figure(
                f"8c. Triggerer + logs, {jobs} jobs: CloudWatch Logs calls per interval (shared)",
                (f"worst {worst_logs['logs']} vs bound {bound(worst_logs):.0f}" if worst_logs else "n/a")
                + f" (per-job: {per_interval(per_job, LOG_OPS):.0f})",
                "<= ceil(N/100) + changed",
                logs_ok,
                f"{len(rows)} steady poll ticks (after start-up); logs/bound each: "
                + ", ".join(f"{r['logs']}/{bound(r):.0f}" for r in rows),
            ),
            Figure(
                f"8d. Triggerer + logs, {jobs} jobs: SageMaker calls per interval (shared)",
                (f"worst {worst_sm['sm']} vs bound {bound(worst_sm):.0f}" if worst_sm else "n/a")
                + f" (per-job: {per_interval(per_job, None):.0f})",
                "<= ceil(N/100) + changed (+ N/10 safety net)",
                sm_ok,
                "calls/bound each (bound without the safety net's N/10): "
                + ", ".join(f"{r['sm']}/{bound(r):.0f}" for r in rows),
            ),
            Figure(
                f"8e. Triggerer + logs, {jobs} jobs: every line delivered once, in order",
                f"{shared['lines']} of {shared['expected_lines']} shared, {per_job['lines']} per-job",
                "all, once, in order (both modes)",
                exact["shared"] and exact["per-job"],
                f"shared: missing {shared['missing']}, out of order {shared['out_of_order']}; per-job: missing "
                f"{per_job['missing']}, out of order {per_job['out_of_order']}",
            ),
        ]
    return figures


if __name__ == "__main__":
    child(json.loads(sys.argv[1]))

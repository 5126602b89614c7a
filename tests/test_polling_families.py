"""The shared poller for tuning and batch transform jobs: the same events as per-job polling, fewer describes.

One scripted control plane holds tuning jobs and transform jobs whose statuses change over real time (and
a transform log per job); per-job triggers (``coalesce=False``) and coalesced ones wait side by side.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from airflow_tf_sm.backends import Clients
from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.listing import TRANSFORM, TUNING
from airflow_tf_sm.polling import active_pollers, get_poller
from airflow_tf_sm.transform.trigger import TransformJobTrigger
from airflow_tf_sm.tuning.trigger import TuningJobTrigger
from tests.test_logfeed import ScriptedLogs, per_stream
from tests.test_polling import PARAMS

KEYS = {
    "tuning": ("HyperParameterTuningJobName", "HyperParameterTuningJobStatus", "HyperParameterTuningJobSummaries"),
    "transform": ("TransformJobName", "TransformJobStatus", "TransformJobSummaries"),
}


def utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)


@dataclass
class FamilyPlane:
    """Tuning and transform jobs on scripted timelines (real clock); every call counted by operation."""

    jobs: dict[str, dict[str, list[tuple[float, str]]]] = field(default_factory=lambda: {"tuning": {}, "transform": {}})
    calls: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, family: str, name: str, *changes: tuple[float, str]) -> None:
        now = time.time()
        self.jobs[family][name] = [(now - 1.0 - len(self.jobs[family]) * 0.001, "InProgress")] + [
            (now + at, status) for at, status in changes
        ]

    def _state(self, family: str, name: str) -> tuple[float, float, str]:
        steps = self.jobs[family][name]
        current = steps[0]
        for step in steps:
            if step[0] <= time.time():
                current = step
        return steps[0][0], current[0], current[1]

    def _describe(self, family: str, name: str) -> dict[str, Any]:
        with self.lock:
            self.calls[f"describe-{family}"] += 1
        if name not in self.jobs[family]:
            raise ClientError({"Error": {"Code": "ResourceNotFound", "Message": name}}, "Describe")
        created, modified, status = self._state(family, name)
        name_key, status_key, _ = KEYS[family]
        desc: dict[str, Any] = {
            name_key: name,
            status_key: status,
            "CreationTime": utc(created),
            "LastModifiedTime": utc(modified),
        }
        if family == "tuning":
            done = 3 if status == "Completed" else 1
            desc["TrainingJobStatusCounters"] = {"Completed": done, "InProgress": 3 - done}
        else:
            desc["TransformResources"] = {"InstanceType": "ml.m5.large", "InstanceCount": 1}
        if status == "Failed":
            desc["FailureReason"] = "ClientError: bad input"
        return desc

    def _list(self, family: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls[f"list-{family}"] += 1
        assert kwargs["SortBy"] == "CreationTime" and 1 <= kwargs["MaxResults"] <= 100
        after = kwargs["LastModifiedTimeAfter"].timestamp()
        name_key, status_key, summaries_key = KEYS[family]
        rows = sorted(
            ((*self._state(family, n), n) for n in self.jobs[family] if self._state(family, n)[1] > after),
            reverse=True,
        )
        offset = int(kwargs.get("NextToken") or 0)
        page = rows[offset : offset + kwargs["MaxResults"]]
        response: dict[str, Any] = {
            summaries_key: [
                {name_key: n, status_key: s, "CreationTime": utc(c), "LastModifiedTime": utc(m)} for c, m, s, n in page
            ]
        }
        if offset + kwargs["MaxResults"] < len(rows):
            response["NextToken"] = str(offset + kwargs["MaxResults"])
        return response

    def describe_hyper_parameter_tuning_job(self, HyperParameterTuningJobName: str) -> dict[str, Any]:
        return self._describe("tuning", HyperParameterTuningJobName)

    def list_hyper_parameter_tuning_jobs(self, **kwargs: Any) -> dict[str, Any]:
        return self._list("tuning", kwargs)

    def describe_transform_job(self, TransformJobName: str) -> dict[str, Any]:
        return self._describe("transform", TransformJobName)

    def list_transform_jobs(self, **kwargs: Any) -> dict[str, Any]:
        return self._list("transform", kwargs)


def test_tuning_and_transform_jobs_get_the_same_events_and_log_lines_with_fewer_describes() -> None:
    plane = FamilyPlane()
    logs = ScriptedLogs(lambda: int(time.time() * 1000), page_limit=5)
    t0 = int(time.time() * 1000)
    for i in range(5):
        end = 0.4 + 0.12 * i
        last = "Failed" if i == 4 else "Completed"
        plane.add("tuning", f"tune-{i}", (end / 2, "InProgress"), (end, last))
        plane.add("transform", f"score-{i}", (end, last))
        logs.add_stream(f"score-{i}/i-0abc{i}-1700000000", [t0 + 50 * k for k in range(int(end * 1000) // 50)])
    hook = TFSageMakerHook(aws_conn_id=None, backend="sagemaker", region_name="us-east-1", retry_attempts=1)
    hook.__dict__["clients"] = Clients(sagemaker=plane, s3=None, logs=logs, region="us-east-1", backend="x")

    from tests.test_logfeed import Recorder

    def make(kind: str, name: str, coalesce: bool) -> tuple[Any, Recorder]:
        made: Any = (
            TuningJobTrigger(name, PARAMS, poll_interval=0.05, coalesce=coalesce)
            if kind == "tuning"
            else TransformJobTrigger(name, PARAMS, poll_interval=0.05, coalesce=coalesce)
        )
        made.make_hook = lambda: hook
        recorder = Recorder()
        made._log = recorder
        return made, recorder

    async def scenario() -> tuple[dict[Any, Any], dict[str, Any]]:
        pollers = {
            "tuning": get_poller(PARAMS, lambda: hook, family=TUNING, poll_interval=0.05),
            "transform": get_poller(PARAMS, lambda: hook, family=TRANSFORM, poll_interval=0.05),
        }
        assert len(active_pollers()) == 2  # one per family
        made = {(k, n, c): make(k, n, c) for k in ("tuning", "transform") for n in plane.jobs[k] for c in (False, True)}

        async def run(key: Any) -> tuple[list[dict[str, Any]], Recorder]:
            trigger, recorder = made[key]
            return [e.payload async for e in trigger.run()], recorder

        results = await asyncio.wait_for(asyncio.gather(*(run(k) for k in made)), 30)
        stats = {k: p.stats for k, p in pollers.items()}
        return dict(zip(made, results, strict=True)), stats

    results, stats = asyncio.run(scenario())
    for kind in ("tuning", "transform"):
        for name in plane.jobs[kind]:
            per_job, shared = results[(kind, name, False)], results[(kind, name, True)]
            assert shared[0] == per_job[0] and len(shared[0]) == 1
            assert shared[0][0]["status"] == ("failed" if name.endswith("4") else "success")
        assert stats[kind].list_pages > 0
        # the poller described each job once at the start, once per change it listed, plus its safety net;
        # per-job polling describes every job every interval (how many pass depends on the machine's speed,
        # so the bound is the exact claim and the comparison only its direction)
        jobs = plane.jobs[kind]
        changes = sum(len(steps) - 1 for steps in jobs.values())
        assert stats[kind].describes <= len(jobs) + changes + stats[kind].safety_net_describes
        described = plane.calls[f"describe-{kind}"] - stats[kind].describes  # per-job triggers
        assert stats[kind].describes < described
    for name in plane.jobs["transform"]:
        streams = [s for s in logs.streams if s.startswith(f"{name}/")]
        copied = {}
        for coalesce in (False, True):
            lines = [(lvl, t) for lvl, t in results[("transform", name, coalesce)][1].lines if " line " in t]
            copied[coalesce] = per_stream(lines, streams)
        assert copied[True] == copied[False]
        assert [t for _, t in copied[True][streams[0]]] == [line.message for line in logs.streams[streams[0]]]
    tuning_lines = [t for _, t in results[("tuning", "tune-0", True)][1].lines]
    assert any("Completed" in t for t in tuning_lines)  # the status line of the end, through the poller

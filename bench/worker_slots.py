"""Worker-slot seconds of a 60 s local training job: synchronous wait vs deferral to the triggerer.

The operator's ``execute`` runs in a real worker-like process on the local backend. Synchronous: the
slot is held for the whole ``execute``. Deferrable: the slot is held until ``TaskDeferred`` is raised,
then again for ``execute_complete`` on resume (a fresh process, as Airflow does); in between the trigger
waits in a triggerer-like process. Both tasks run at the same time, side by side.

Child modes (``python -m bench.worker_slots <mode> <json>``): ``sync``, ``defer``, ``trigger``, ``resume``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bench.common import PYTHON, ROOT, Figure, child_env, emit, last_json, new_home, run_child, scratch_dir

JOB_SCRIPT = """
import os, pathlib, sys, time
seconds = float(sys.argv[sys.argv.index("--seconds") + 1])
start = time.monotonic()
while time.monotonic() - start < seconds:
    time.sleep(1)
    print(f"elapsed={time.monotonic() - start:.0f}", flush=True)
pathlib.Path(os.environ["SM_MODEL_DIR"], "model.txt").write_text("trained")
"""
GOAL_SECONDS = 3.0


class FakeTI:
    """The part of a task instance the operator uses (ids for the deterministic job name, XCom)."""

    run_id = "bench__2025-01-01T00:00:00+00:00"
    map_index = -1

    def __init__(self, dag_id: str, task_id: str) -> None:
        self.dag_id = dag_id
        self.task_id = task_id
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value") -> Any:
        return self.xcoms.get(key)


def _operator(cfg: dict[str, Any], deferrable: bool) -> Any:
    from airflow_tf_sm.operators import TFTrainingOperator

    return TFTrainingOperator(
        task_id=cfg["task_id"],
        entry_point="train.py",
        source_dir=cfg["code"],
        output_path="s3://bench/models",
        hyperparameters={"seconds": cfg["seconds"]},
        backend="local",
        local_root=cfg["root"],
        poll_interval=cfg["poll_interval"],
        deferrable=deferrable,
    )


def child(mode: str, cfg: dict[str, Any]) -> None:
    """Run one leg in this process and print its timing (and what the next leg needs) as JSON."""
    context: Any = {"ti": FakeTI("bench_worker_slots", cfg.get("task_id", "trigger"))}
    if mode in ("sync", "defer"):
        from airflow.sdk.exceptions import TaskDeferred

        operator = _operator(cfg, deferrable=mode == "defer")
        start = time.perf_counter()
        try:
            result = operator.execute(context)
        except TaskDeferred as deferred:
            seconds = time.perf_counter() - start
            classpath, kwargs = deferred.trigger.serialize()
            emit({"seconds": seconds, "classpath": classpath, "trigger": kwargs, "kwargs": deferred.kwargs})
            return
        emit({"seconds": time.perf_counter() - start, "result": result})
    elif mode == "trigger":
        import asyncio
        import importlib

        module, _, name = cfg["classpath"].rpartition(".")
        trigger = getattr(importlib.import_module(module), name)(**cfg["trigger"])

        async def wait() -> list[dict[str, Any]]:
            return [event.payload async for event in trigger.run()]

        start = time.perf_counter()
        events = asyncio.run(wait())
        emit({"seconds": time.perf_counter() - start, "event": events[0]})
    elif mode == "resume":
        operator = _operator(cfg, deferrable=True)
        start = time.perf_counter()
        result = operator.execute_complete(context, event=cfg["event"], **(cfg.get("kwargs") or {}))
        emit({"seconds": time.perf_counter() - start, "result": result})
    else:
        raise SystemExit(f"unknown mode {mode!r}")


def _leg(mode: str, cfg: dict[str, Any], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """Run a child leg; return its JSON and the wall time of the whole process (interpreter start included)."""
    start = time.perf_counter()
    data = run_child(["-m", "bench.worker_slots", mode, json.dumps(cfg)], env, timeout=300)
    return data, time.perf_counter() - start


def measure(seconds: float = 60.0, poll_interval: float = 2.0) -> list[Figure]:
    """Run a synchronous and a deferrable task on ``seconds``-long jobs side by side; return the row."""
    work = scratch_dir("airflow_tf_sm_bench_slots_")
    code = work / "code"
    code.mkdir()
    (code / "train.py").write_text(JOB_SCRIPT)
    env = child_env(new_home())
    base = {"code": str(code), "root": str(work / "root"), "seconds": seconds, "poll_interval": poll_interval}
    sync_cfg = {**base, "task_id": "train_sync"}
    started = time.perf_counter()
    sync_proc = subprocess.Popen(
        [PYTHON, "-m", "bench.worker_slots", "sync", json.dumps(sync_cfg)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    defer_cfg = {**base, "task_id": "train_deferrable"}
    deferred, defer_wall = _leg("defer", defer_cfg, env)
    waited, _ = _leg("trigger", {"classpath": deferred["classpath"], "trigger": deferred["trigger"]}, env)
    resumed, resume_wall = _leg("resume", {**defer_cfg, "event": waited["event"], "kwargs": deferred["kwargs"]}, env)
    out, err = sync_proc.communicate(timeout=seconds + 300)
    sync_wall = time.perf_counter() - started
    if sync_proc.returncode != 0:
        raise RuntimeError(f"synchronous leg failed:\n{err[-3000:]}")
    synced = last_json(out)
    if synced["result"]["status"] != "Completed" or resumed["result"]["status"] != "Completed":
        raise RuntimeError(f"a job did not complete: {synced['result']} / {resumed['result']}")
    slot = deferred["seconds"] + resumed["seconds"]
    return [
        Figure(
            f"2. Worker-slot seconds, {seconds:g} s local job: deferrable vs sync",
            f"{slot:.2f} s vs {synced['seconds']:.1f} s",
            f"<= {GOAL_SECONDS:.0f} s deferrable",
            slot <= GOAL_SECONDS,
            f"deferrable = execute until TaskDeferred {deferred['seconds']:.2f} s + execute_complete "
            f"{resumed['seconds']:.2f} s; trigger waited {waited['seconds']:.1f} s in the triggerer; "
            f"whole worker processes incl. interpreter start: {defer_wall + resume_wall:.1f} s vs {sync_wall:.1f} s; "
            f"poll interval {poll_interval:g} s",
        )
    ]


if __name__ == "__main__":
    child(sys.argv[1], json.loads(sys.argv[2]))

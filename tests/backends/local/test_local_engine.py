"""The on-disk job engine: atomic records, locking across processes, liveness."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_tf_sm.backends.local.engine import Engine, JobExistsError, JobNotFoundError, training_job_arn
from airflow_tf_sm.backends.local.processes import process_alive, process_token


def _bump(root: str, times: int) -> None:
    engine = Engine(root)
    for _ in range(times):
        engine.update("job-lock", lambda s: s.__setitem__("counter", s.get("counter", 0) + 1))


def test_updates_from_several_processes_are_not_lost(local_root: Path) -> None:
    engine = Engine(local_root)
    engine.create("job-lock", {"TrainingJobName": "job-lock"}, "us-east-1")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_bump, args=(str(local_root), 25)) for _ in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert engine.load("job-lock")["counter"] == 75
    assert json.loads((local_root / "jobs" / "job-lock" / "job.json").read_text())["counter"] == 75
    assert [p.name for p in (local_root / "jobs" / "job-lock").iterdir() if p.name.startswith(".")] == []


def test_create_is_exclusive_and_names_are_checked(local_root: Path) -> None:
    engine = Engine(local_root)
    state = engine.create("job-x", {}, "eu-west-1")
    assert state["status"] == "InProgress" and state["secondary_status"] == "Starting"
    assert (
        state["arn"]
        == training_job_arn("eu-west-1", "job-x")
        == ("arn:aws:sagemaker:eu-west-1:000000000000:training-job/job-x")
    )
    with pytest.raises(JobExistsError):
        engine.create("job-x", {}, "eu-west-1")
    for bad in ("../etc", "a/b", "x_y"):
        with pytest.raises(JobNotFoundError):
            engine.load(bad)
    with pytest.raises(JobNotFoundError):
        engine.load("missing")
    assert engine.names() == ["job-x"]


def test_process_tokens_detect_exit_and_zombies() -> None:
    assert process_alive(os.getpid(), process_token(os.getpid()))
    assert not process_alive(os.getpid(), "not-the-start-time")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while process_token(child.pid) is not None and time.monotonic() < deadline:
        time.sleep(0.02)  # exited but not reaped yet: a zombie counts as gone
    assert process_token(child.pid) is None
    child.wait()
    assert not process_alive(child.pid, None)

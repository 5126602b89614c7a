"""On-disk job state of the local backend, shared by every process on the machine.

Layout under the root::

    jobs/<name>/job.json      request, statuses, times, pids, failure reason, metrics
    jobs/<name>/job.lock      fcntl lock taken for every read-modify-write of job.json
    jobs/<name>/heartbeat     touched by the runner while it lives
    jobs/<name>/opt_ml/       algo-1's ``/opt/ml`` (other hosts: ``jobs/<name>/hosts/algo-<n>/opt_ml``)
    jobs/<name>/.upload-*     archives being uploaded, locked by their runner (a killed runner's are
                              removed by the read that finds the runner dead)

``job.json`` is replaced atomically, so readers never take the lock; writers always do.
This module imports only the standard library and the package's standard-library facts (the runner loads it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from airflow_tf_sm.backends.local.processes import holder_gone, kill_group
from airflow_tf_sm.backends.local.state import (
    CorruptRecordError,
    Field,
    RecordExistsError,
    RecordNotFoundError,
    StateStore,
)
from airflow_tf_sm.backends.local.tempfiles import remove_abandoned
from airflow_tf_sm.sagemaker.names import is_valid_name
from airflow_tf_sm.sagemaker.resources import JOB_TERMINAL_STATUSES, LOCAL_ACCOUNT_ID, TRAINING_JOB

ACCOUNT_ID = LOCAL_ACCOUNT_ID
TERMINAL_STATUSES = JOB_TERMINAL_STATUSES
ACTIVE_STATUSES = TRAINING_JOB.busy
RUNNER_DIED_REASON = "local runner process died"
#: Prefix of the temp files a runner writes in its job directory (``tempfiles.locked_temp``).
JOB_TEMP_PREFIX = ".upload-"
#: Names of the job errors (the state store's, for jobs).
JobExistsError = RecordExistsError
JobNotFoundError = RecordNotFoundError
__all__ = ["CorruptRecordError", "Engine", "JobExistsError", "JobNotFoundError"]

_NUMBER = (int, float)
_OPTIONAL_NUMBER = (int, float, type(None))
_OPTIONAL_TEXT = (str, type(None))
#: What every ``job.json`` holds, with the types the API, the engine and the runner read (else it is corrupt).
JOB_SHAPE: dict[str, Field] = {
    "name": Field(str),
    "arn": Field(str),
    "region": Field(str),
    "request": Field(dict),
    "status": Field(str),
    "secondary_status": Field(str),
    "creation_time": Field(_NUMBER),
    "last_modified_time": Field(_NUMBER),
    "transitions": Field(
        list,
        required=False,
        items={
            "Status": Field(str),
            "StartTime": Field(_NUMBER),
            "EndTime": Field(_OPTIONAL_NUMBER, required=False),
            "StatusMessage": Field(str, required=False),
        },
    ),
    "metrics": Field(
        list, required=False, items={"MetricName": Field(str), "Value": Field(_NUMBER), "Timestamp": Field(_NUMBER)}
    ),
    "processes": Field((list, type(None)), required=False, items={"pid": Field(int)}),
    "runner": Field((dict, type(None)), required=False, fields={"pid": Field(int)}),
    "settings": Field(dict, required=False),
    "tags": Field(list, required=False),
    "log_streams": Field(list, required=False),
    "model_artifacts": Field(_OPTIONAL_TEXT, required=False),
    "failure_reason": Field(_OPTIONAL_TEXT, required=False),
    "training_start_time": Field(_OPTIONAL_NUMBER, required=False),
    "training_end_time": Field(_OPTIONAL_NUMBER, required=False),
    "training_time_seconds": Field(_OPTIONAL_NUMBER, required=False),
    "billable_time_seconds": Field(_OPTIONAL_NUMBER, required=False),
}

# SecondaryStatus -> StatusMessage, worded like SageMaker's
STATUS_MESSAGES: dict[str, str] = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training in progress.",  # (no image to download on this machine)
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Training job stopped: MaxRuntimeInSeconds exceeded",
}


def training_job_arn(region: str, name: str) -> str:
    """Return the ARN SageMaker would give training job ``name`` in ``region``."""
    return TRAINING_JOB.arn(region, ACCOUNT_ID, name)


def add_transition(state: dict[str, Any], secondary: str, now: float, message: str | None = None) -> None:
    """Record a move to SecondaryStatus ``secondary``: close the open transition, open a new one."""
    transitions: list[dict[str, Any]] = state.setdefault("transitions", [])
    if transitions and transitions[-1].get("EndTime") is None:
        transitions[-1]["EndTime"] = now
    entry: dict[str, Any] = {
        "Status": secondary,
        "StartTime": now,
        "StatusMessage": message or STATUS_MESSAGES.get(secondary, secondary),
    }
    if secondary in TERMINAL_STATUSES or secondary == "MaxRuntimeExceeded":
        entry["EndTime"] = now
    transitions.append(entry)
    state["secondary_status"] = secondary
    state["last_modified_time"] = now


def finish_job(
    state: dict[str, Any], status: str, secondary: str, now: float, failure_reason: str | None = None
) -> None:
    """Put a job in a terminal state with its end time, durations and failure reason."""
    state["status"] = status
    add_transition(state, secondary, now)
    if failure_reason:
        state["failure_reason"] = failure_reason[:1024]
    start = state.get("training_start_time")
    if start is not None:
        state["training_end_time"] = now
        seconds = max(1, round(now - start))
        state["training_time_seconds"] = seconds
        state["billable_time_seconds"] = seconds


class Engine:
    """Job records of the local backend under ``<root>/jobs`` (one :class:`StateStore` of kind ``job``).

    Args:
        root: The local backend root directory.
        heartbeat_timeout: Seconds without a runner heartbeat after which a job is declared dead.
        stop_grace: Seconds between SIGTERM and SIGKILL when a job is stopped (stored per job).
    """

    def __init__(
        self, root: str | os.PathLike[str], *, heartbeat_timeout: float = 30.0, stop_grace: float = 5.0
    ) -> None:
        self.root = Path(root)
        self.jobs_dir = self.root / "jobs"
        self.store = StateStore(self.jobs_dir, is_valid_name, kind="job", shape=JOB_SHAPE)
        self.heartbeat_timeout = heartbeat_timeout
        self.stop_grace = stop_grace

    # -- paths -------------------------------------------------------------------------------
    def job_dir(self, name: str) -> Path:
        """Return the directory of a job (validated name, so it cannot escape the root)."""
        return self.store.path(name)

    def opt_ml(self, name: str, host: str = "algo-1") -> Path:
        """Return the ``/opt/ml``-shaped directory of a job's host."""
        base = self.job_dir(name)
        return base / "opt_ml" if host == "algo-1" else base / "hosts" / host / "opt_ml"

    def heartbeat_path(self, name: str) -> Path:
        """Return the heartbeat file of a job."""
        return self.job_dir(name) / "heartbeat"

    # -- records -----------------------------------------------------------------------------
    def create(self, name: str, request: dict[str, Any], region: str) -> dict[str, Any]:
        """Create the record of a new job in status InProgress / Starting (atomically).

        Raises:
            JobExistsError: when a job of that name was ever created under this root.
        """
        now = time.time()
        state: dict[str, Any] = {
            "name": name,
            "arn": training_job_arn(region, name),
            "region": region,
            "request": request,
            "tags": list(request.get("Tags") or []),
            "status": "InProgress",
            "creation_time": now,
            "settings": {"stop_grace": self.stop_grace},
            "processes": [],
            "runner": None,
            "metrics": [],
        }
        add_transition(state, "Starting", now)
        self.store.create(name, state, prepare=lambda folder: (folder / "heartbeat").touch())
        return state

    def exists(self, name: str) -> bool:
        """Return whether a job of that name exists."""
        return self.store.exists(name)

    def load(self, name: str) -> dict[str, Any]:
        """Read a job record (no lock needed: the file is replaced atomically).

        Raises:
            JobNotFoundError: for an unknown job.
            CorruptRecordError: its ``job.json`` cannot be read.
        """
        return self.store.load(name)

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[dict[str, Any]]:
        """Hold the job lock and yield its record; the record is saved when the block ends cleanly."""
        with self.store.locked(name) as state:
            yield state

    def update(self, name: str, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply ``mutate`` to the job record under the lock and save it; return the new record."""
        return self.store.update(name, mutate)[0]

    def names(self) -> list[str]:
        """Return the names of all jobs under the root."""
        return self.store.names()

    # -- liveness ----------------------------------------------------------------------------
    def touch_heartbeat(self, name: str) -> None:
        """Mark the runner of a job as alive now."""
        os.utime(self.heartbeat_path(name))

    def _runner_dead(self, state: dict[str, Any]) -> bool:
        if state.get("status") not in ACTIVE_STATUSES:
            return False
        return holder_gone(state, self.heartbeat_path(state["name"]), self.heartbeat_timeout, "runner")

    def refresh(self, name: str) -> dict[str, Any]:
        """Load a job, marking it Failed when its runner is gone while the job is still active.

        The scripts the dead runner left behind are killed, so nothing keeps training unseen, and the temp
        files it was writing are removed.
        """
        state = self.load(name)
        if not self._runner_dead(state):
            return state
        with self.locked(name) as locked_state:
            if self._runner_dead(locked_state):
                for proc in locked_state.get("processes") or []:
                    kill_group(int(proc["pid"]), proc.get("token"), signal.SIGKILL)
                finish_job(locked_state, "Failed", "Failed", time.time(), RUNNER_DIED_REASON)
            state = locked_state
        remove_abandoned(self.job_dir(name), JOB_TEMP_PREFIX)  # what the dead runner was writing
        return state

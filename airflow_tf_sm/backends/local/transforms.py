"""On-disk batch transform jobs of the local backend, shared by every process on the machine.

Layout under the root::

    transform-jobs/<name>/transform-job.json   request, status, times, worker pid, progress, failure reason
    transform-jobs/<name>/transform-job.lock   fcntl lock of every read-modify-write of the record
    transform-jobs/<name>/heartbeat            touched by the batch worker while it lives
    transform-jobs/<name>/model/               the extracted model.tar.gz
    transform-jobs/<name>/worker.log           the worker's own output

Records live in the one state store (``state.py``). This module imports only the standard library and the
package's standard-library facts (the batch worker loads it).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_tf_sm.backends.local.processes import holder_gone, kill_group
from airflow_tf_sm.backends.local.state import RecordNotFoundError, StateStore
from airflow_tf_sm.sagemaker.names import is_valid_name
from airflow_tf_sm.sagemaker.resources import JOB_TERMINAL_STATUSES, LOCAL_ACCOUNT_ID, TRANSFORM_JOB

WORKER_DIED_REASON = "InternalServerError: local batch transform worker process died"
#: No transform job of that name.
TransformJobNotFoundError = RecordNotFoundError


def finish(state: dict[str, Any], status: str, reason: str | None = None, now: float | None = None) -> None:
    """Put a job in a terminal status (unless it is in one already) with its end time and failure reason."""
    if state.get("status") in JOB_TERMINAL_STATUSES:
        return
    now = time.time() if now is None else now
    state["status"] = status
    state["end_time"] = now
    state["last_modified_time"] = now
    if reason:
        state["failure_reason"] = reason[:1024]


class TransformStore:
    """Transform job records under ``<root>/transform-jobs`` (one :class:`StateStore` of kind ``transform-job``).

    Args:
        root: The local backend root directory.
        heartbeat_timeout: Seconds without a worker heartbeat after which a job is declared dead.
        stop_grace: Seconds between SIGTERM and SIGKILL when a worker must be ended (stored per job).
    """

    def __init__(
        self, root: str | os.PathLike[str], *, heartbeat_timeout: float = 30.0, stop_grace: float = 5.0
    ) -> None:
        self.root = Path(root)
        self.store = StateStore(self.root / "transform-jobs", is_valid_name, kind="transform-job")
        self.heartbeat_timeout = heartbeat_timeout
        self.stop_grace = stop_grace

    def job_dir(self, name: str) -> Path:
        """Return the directory of a job (validated name, so it cannot escape the root)."""
        return self.store.path(name)

    def heartbeat_path(self, name: str) -> Path:
        """Return the heartbeat file of a job."""
        return self.job_dir(name) / "heartbeat"

    def create(self, name: str, request: dict[str, Any], region: str) -> dict[str, Any]:
        """Create the record of a new InProgress job (atomically).

        Raises:
            RecordExistsError: a job of that name was ever created under this root.
        """
        now = time.time()
        state: dict[str, Any] = {
            "name": name,
            "arn": TRANSFORM_JOB.arn(region, LOCAL_ACCOUNT_ID, name),
            "region": region,
            "request": request,
            "tags": list(request.get("Tags") or []),
            "status": "InProgress",
            "creation_time": now,
            "last_modified_time": now,
            "settings": {"stop_grace": self.stop_grace},
            "worker": None,
            "progress": {"objects": 0, "objects_done": 0, "records": 0},
        }
        self.store.create(name, state, prepare=lambda folder: (folder / "heartbeat").touch())
        return state

    def load(self, name: str) -> dict[str, Any]:
        """Read a job record (raises :data:`TransformJobNotFoundError` for an unknown job)."""
        return self.store.load(name)

    def update(self, name: str, mutate: Callable[[dict[str, Any]], Any]) -> tuple[dict[str, Any], Any]:
        """Apply ``mutate`` to the record under its lock; return the record and what ``mutate`` returned."""
        return self.store.update(name, mutate)

    def touch_heartbeat(self, name: str) -> None:
        """Mark the worker of a job as alive now."""
        os.utime(self.heartbeat_path(name))

    def _worker_dead(self, state: dict[str, Any]) -> bool:
        if state.get("status") not in TRANSFORM_JOB.busy:
            return False
        return holder_gone(state, self.heartbeat_path(state["name"]), self.heartbeat_timeout, "worker")

    def refresh(self, name: str) -> dict[str, Any]:
        """Load a job, marking it Failed when its worker is gone while the job is still active."""
        state = self.load(name)
        if not self._worker_dead(state):
            return state
        with self.store.locked(name) as locked_state:
            if self._worker_dead(locked_state):
                worker = locked_state.get("worker") or {}
                if worker.get("pid"):
                    kill_group(int(worker["pid"]), worker.get("token"), signal.SIGKILL)
                finish(locked_state, "Failed", WORKER_DIED_REASON)
            state = locked_state
        return state

    def records(self) -> list[dict[str, Any]]:
        """Return every readable job record (liveness refreshed)."""
        return self.store.records(self.refresh)

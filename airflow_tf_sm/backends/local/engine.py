"""On-disk job state of the local backend, shared by every process on the machine.

Layout under the root::

    jobs/<name>/job.json      request, statuses, times, pids, failure reason, metrics
    jobs/<name>/job.lock      fcntl lock taken for every read-modify-write of job.json
    jobs/<name>/heartbeat     touched by the runner while it lives
    jobs/<name>/opt_ml/       algo-1's ``/opt/ml`` (other hosts: ``jobs/<name>/hosts/algo-<n>/opt_ml``)

``job.json`` is replaced atomically, so readers never take the lock; writers always do.
This module imports only the standard library (the runner loads it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ACCOUNT_ID = "000000000000"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})
ACTIVE_STATUSES = frozenset({"InProgress", "Stopping"})
RUNNER_DIED_REASON = "local runner process died"
_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")

# SecondaryStatus -> StatusMessage, worded like SageMaker's
STATUS_MESSAGES: dict[str, str] = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Training job stopped: MaxRuntimeInSeconds exceeded",
}


class JobExistsError(Exception):
    """A training job of that name already exists (names are never reusable)."""


class JobNotFoundError(Exception):
    """No training job of that name."""


def training_job_arn(region: str, name: str) -> str:
    """Return the ARN SageMaker would give training job ``name`` in ``region``."""
    return f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:training-job/{name.lower()}"


def process_token(pid: int) -> str | None:
    """Return an identity token of a live process (its start time), or None when it is gone.

    A zombie counts as gone. The token guards against a recycled pid.
    """
    stat = Path(f"/proc/{pid}/stat")
    try:
        text = stat.read_text()
    except FileNotFoundError:
        return None
    except OSError:  # pragma: no cover - no /proc on this platform
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return "unknown"
        return "unknown"
    fields = text[text.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]  # starttime, field 22 of /proc/<pid>/stat


def process_alive(pid: int, token: str | None) -> bool:
    """Return whether process ``pid`` still runs and is the one that had ``token``."""
    current = process_token(pid)
    if current is None:
        return False
    return token is None or current == token or "unknown" in (token, current)


def kill_group(pid: int, token: str | None, sig: int) -> bool:
    """Send ``sig`` to the process group led by ``pid`` if that process is still the same one.

    Returns:
        Whether a signal was sent.
    """
    if not process_alive(pid, token):
        return False
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temp file and ``os.replace``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    """Job records of the local backend under ``<root>/jobs``.

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
        self.heartbeat_timeout = heartbeat_timeout
        self.stop_grace = stop_grace

    # -- paths -------------------------------------------------------------------------------
    def job_dir(self, name: str) -> Path:
        """Return the directory of a job (validated name, so it cannot escape the root)."""
        if not _NAME_RE.match(name):
            raise JobNotFoundError(name)
        return self.jobs_dir / name

    def opt_ml(self, name: str, host: str = "algo-1") -> Path:
        """Return the ``/opt/ml``-shaped directory of a job's host."""
        base = self.job_dir(name)
        return base / "opt_ml" if host == "algo-1" else base / "hosts" / host / "opt_ml"

    def heartbeat_path(self, name: str) -> Path:
        """Return the heartbeat file of a job."""
        return self.job_dir(name) / "heartbeat"

    # -- records -----------------------------------------------------------------------------
    def create(self, name: str, request: dict[str, Any], region: str) -> dict[str, Any]:
        """Create the record of a new job in status InProgress / Starting.

        Raises:
            JobExistsError: when a job of that name was ever created under this root.
        """
        job_dir = self.job_dir(name)
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        try:
            job_dir.mkdir()
        except FileExistsError:
            raise JobExistsError(name) from None
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
        self.heartbeat_path(name).touch()
        write_json_atomic(job_dir / "job.json", state)
        return state

    def exists(self, name: str) -> bool:
        """Return whether a job of that name exists."""
        try:
            return (self.job_dir(name) / "job.json").is_file()
        except JobNotFoundError:
            return False

    def load(self, name: str) -> dict[str, Any]:
        """Read a job record (no lock needed: the file is replaced atomically).

        Raises:
            JobNotFoundError: for an unknown job.
        """
        path = self.job_dir(name) / "job.json"
        for _ in range(50):
            try:
                with open(path) as fh:
                    return dict(json.load(fh))
            except FileNotFoundError:
                # the directory is created a moment before job.json
                if not path.parent.is_dir():
                    break
                time.sleep(0.01)
        raise JobNotFoundError(name)

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[dict[str, Any]]:
        """Hold the job lock and yield its record; the record is saved when the block ends cleanly."""
        state = self.load(name)  # raises for unknown jobs before creating a lock file
        lock_path = self.job_dir(name) / "job.lock"
        with open(lock_path, "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                state = self.load(name)
                yield state
                write_json_atomic(self.job_dir(name) / "job.json", state)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def update(self, name: str, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply ``mutate`` to the job record under the lock and save it; return the new record."""
        with self.locked(name) as state:
            mutate(state)
        return state

    def names(self) -> list[str]:
        """Return the names of all jobs under the root."""
        if not self.jobs_dir.is_dir():
            return []
        return sorted(p.name for p in self.jobs_dir.iterdir() if (p / "job.json").is_file())

    # -- liveness ----------------------------------------------------------------------------
    def touch_heartbeat(self, name: str) -> None:
        """Mark the runner of a job as alive now."""
        os.utime(self.heartbeat_path(name))

    def _runner_dead(self, state: dict[str, Any]) -> bool:
        if state.get("status") not in ACTIVE_STATUSES:
            return False
        try:
            beat = self.heartbeat_path(state["name"]).stat().st_mtime
        except FileNotFoundError:
            beat = state.get("creation_time", 0.0)
        if time.time() - beat > self.heartbeat_timeout:
            return True
        runner = state.get("runner")
        if not runner:
            return False  # still being launched; the heartbeat covers a launcher that never came up
        return not process_alive(int(runner["pid"]), runner.get("token"))

    def refresh(self, name: str) -> dict[str, Any]:
        """Load a job, marking it Failed when its runner is gone while the job is still active.

        The scripts the dead runner left behind are killed, so nothing keeps training unseen.
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
        return state

"""On-disk hosting state of the local backend: models, endpoint configs and endpoints.

Layout under the root::

    hosting/models/<name>.json                   CreateModel request, ARN, creation time, tags
    hosting/endpoint-configs/<name>.json         CreateEndpointConfig request, ARN, creation time, tags
    hosting/records.lock                         fcntl lock for tag updates of the two record kinds above
    hosting/endpoints/<name>/endpoint.json       status, config, servers (pid, start token, port), times
    hosting/endpoints/<name>/endpoint.lock       fcntl lock taken for every read-modify-write of endpoint.json
    hosting/endpoints/<name>/servers/<id>/       one model server: its log and the extracted model

An endpoint names the server that answers requests (``current``) and, during an update, the server
being started (``pending``). Model servers (``serving.py``) move the endpoint to InService, switch it
to themselves after an update, or report their failure; :meth:`HostingStore.refresh_endpoint` notices
a server that died. Files are replaced atomically, so readers never take a lock.
This module imports only the standard library (the model server loads it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from airflow_tf_sm.backends.local.engine import ACCOUNT_ID, process_alive, write_json_atomic

MODEL = "model"
ENDPOINT_CONFIG = "endpoint-config"
ENDPOINT = "endpoint"
ENDPOINT_LOG_GROUP = "/aws/sagemaker/Endpoints"
IN_PROGRESS_STATUSES = frozenset({"Creating", "Updating", "Deleting"})
SERVER_DIED_REASON = "local model server process died"
_KIND_DIRS = {MODEL: "models", ENDPOINT_CONFIG: "endpoint-configs"}
_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


class EndpointNotFoundError(Exception):
    """No endpoint of that name (or it was deleted meanwhile)."""


def resource_arn(region: str, kind: str, name: str) -> str:
    """Return the ARN SageMaker gives a hosting resource.

    Args:
        region: AWS region.
        kind: ``model``, ``endpoint-config`` or ``endpoint``.
        name: Resource name (lower-cased in the ARN, like SageMaker does).
    """
    return f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:{kind}/{name.lower()}"


def valid_name(name: Any) -> bool:
    """Return whether ``name`` is a valid SageMaker resource name (so it is safe as a file name)."""
    return isinstance(name, str) and bool(_NAME_RE.match(name))


def server_pids(state: dict[str, Any]) -> list[tuple[int, str | None]]:
    """Return ``(pid, start token)`` of every server an endpoint record names."""
    found = []
    for record in (state.get("servers") or {}).values():
        if record.get("pid"):
            found.append((int(record["pid"]), record.get("token")))
    return found


def _server_dead(record: dict[str, Any] | None) -> bool:
    """Return whether a server record names a process that is gone (no pid yet: still launching)."""
    if not record or not record.get("pid"):
        return False
    return not process_alive(int(record["pid"]), record.get("token"))


class HostingStore:
    """Models, endpoint configs and endpoints under ``<root>/hosting``.

    Args:
        root: The local backend root directory.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.base = self.root / "hosting"
        self.endpoints_dir = self.base / "endpoints"

    # -- models and endpoint configs -----------------------------------------------------------
    def record_path(self, kind: str, name: str) -> Path | None:
        """Return the file of a model or endpoint config record (None for an invalid name)."""
        if not valid_name(name):
            return None
        return self.base / _KIND_DIRS[kind] / f"{name}.json"

    def create_record(self, kind: str, name: str, record: dict[str, Any]) -> bool:
        """Store a new record atomically; return False when one of that name exists."""
        path = self.record_path(kind, name)
        if path is None:
            raise ValueError(f"invalid name: {name!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
        try:
            os.link(tmp, path)  # fails when the name exists: an atomic create-if-absent
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def load_record(self, kind: str, name: str) -> dict[str, Any] | None:
        """Return a record, or None when there is none of that name."""
        path = self.record_path(kind, name)
        if path is None:
            return None
        try:
            return dict(json.loads(path.read_text()))
        except FileNotFoundError:
            return None

    def delete_record(self, kind: str, name: str) -> bool:
        """Delete a record; return False when there was none."""
        path = self.record_path(kind, name)
        if path is None:
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def record_names(self, kind: str) -> list[str]:
        """Return the names of all records of a kind."""
        folder = self.base / _KIND_DIRS[kind]
        if not folder.is_dir():
            return []
        return sorted(p.name[: -len(".json")] for p in folder.glob("*.json") if not p.name.startswith("."))

    def update_record(self, kind: str, name: str, mutate: Callable[[dict[str, Any]], None]) -> bool:
        """Apply ``mutate`` to a record under the records lock; return False when there is none."""
        path = self.record_path(kind, name)
        if path is None:
            return False
        self.base.mkdir(parents=True, exist_ok=True)
        with open(self.base / "records.lock", "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                record = self.load_record(kind, name)
                if record is None:
                    return False
                mutate(record)
                write_json_atomic(path, record)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        return True

    # -- endpoints -------------------------------------------------------------------------------
    def endpoint_dir(self, name: str) -> Path:
        """Return the directory of an endpoint.

        Raises:
            EndpointNotFoundError: for an invalid name (it cannot exist).
        """
        if not valid_name(name):
            raise EndpointNotFoundError(name)
        return self.endpoints_dir / name

    def server_dir(self, name: str, server_id: str) -> Path:
        """Return the working directory of one model server of an endpoint."""
        if not re.fullmatch(r"[a-z0-9-]{1,64}", server_id):
            raise ValueError(f"invalid server id: {server_id!r}")
        return self.endpoint_dir(name) / "servers" / server_id

    def create_endpoint(self, name: str, state: dict[str, Any]) -> bool:
        """Create an endpoint record; return False when an endpoint of that name exists."""
        folder = self.endpoint_dir(name)
        self.endpoints_dir.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir()
        except FileExistsError:
            return False
        write_json_atomic(folder / "endpoint.json", state)
        return True

    def load_endpoint(self, name: str) -> dict[str, Any]:
        """Read an endpoint record.

        Raises:
            EndpointNotFoundError: when there is none (or it is being created this very moment).
        """
        path = self.endpoint_dir(name) / "endpoint.json"
        for _ in range(50):
            try:
                with open(path) as fh:
                    return dict(json.load(fh))
            except FileNotFoundError:
                if not path.parent.is_dir():
                    break
                time.sleep(0.01)  # the directory is created a moment before endpoint.json
        raise EndpointNotFoundError(name)

    @contextlib.contextmanager
    def locked_endpoint(self, name: str) -> Iterator[dict[str, Any]]:
        """Hold the endpoint lock and yield its record; the record is saved when the block ends cleanly.

        Raises:
            EndpointNotFoundError: when the endpoint does not exist or is deleted while waiting for the lock.
        """
        folder = self.endpoint_dir(name)
        self.load_endpoint(name)
        try:
            lock = open(folder / "endpoint.lock", "a+")
        except FileNotFoundError:
            raise EndpointNotFoundError(name) from None
        with lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                state = self.load_endpoint(name)
                yield state
                try:
                    write_json_atomic(folder / "endpoint.json", state)
                except FileNotFoundError:  # removed while this block ran
                    raise EndpointNotFoundError(name) from None
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def update_endpoint(self, name: str, mutate: Callable[[dict[str, Any]], Any]) -> tuple[dict[str, Any], Any]:
        """Apply ``mutate`` to the endpoint record under its lock and save it.

        Returns:
            The new record and what ``mutate`` returned.
        """
        with self.locked_endpoint(name) as state:
            result = mutate(state)
        return state, result

    def remove_endpoint(self, name: str) -> None:
        """Remove an endpoint's directory (its servers must be stopped first), under its lock."""
        folder = self.endpoint_dir(name)
        try:
            lock = open(folder / "endpoint.lock", "a+")
        except FileNotFoundError:
            return
        with lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                for attempt in range(5):
                    try:
                        shutil.rmtree(folder)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        if attempt == 4:
                            raise
                        time.sleep(0.1)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def endpoint_names(self) -> list[str]:
        """Return the names of all endpoints."""
        if not self.endpoints_dir.is_dir():
            return []
        return sorted(p.name for p in self.endpoints_dir.iterdir() if (p / "endpoint.json").is_file())

    # -- liveness --------------------------------------------------------------------------------
    @staticmethod
    def _needs_repair(state: dict[str, Any]) -> bool:
        servers = state.get("servers") or {}
        status = state.get("status")
        if status in ("Creating", "InService", "Updating") and _server_dead(servers.get(state.get("current"))):
            return True
        return status == "Updating" and _server_dead(servers.get(state.get("pending")))

    @staticmethod
    def _repair(state: dict[str, Any]) -> None:
        """Mark what a dead server leaves behind: Failed, or an update that failed (old server keeps serving)."""
        servers = state.get("servers") or {}
        now = time.time()
        if _server_dead(servers.get(state.get("current"))):
            state["status"] = "Failed"
            state["failure_reason"] = SERVER_DIED_REASON
            state["last_modified_time"] = now
            return
        pending = state.get("pending")
        if state.get("status") == "Updating" and _server_dead(servers.get(pending)):
            servers.pop(pending, None)
            state["pending"] = None
            state["status"] = "InService"
            state["failure_reason"] = f"The update failed: {SERVER_DIED_REASON}"
            state["last_modified_time"] = now

    def refresh_endpoint(self, name: str) -> dict[str, Any]:
        """Load an endpoint, marking it Failed when its serving process is gone.

        A dead server of an update in progress ends the update: the endpoint goes back to InService
        on the old server with a FailureReason, as SageMaker reports a failed update.

        Raises:
            EndpointNotFoundError: for an unknown endpoint.
        """
        state = self.load_endpoint(name)
        if not self._needs_repair(state):
            return state
        with self.locked_endpoint(name) as locked_state:
            if self._needs_repair(locked_state):
                self._repair(locked_state)
            state = locked_state
        return state

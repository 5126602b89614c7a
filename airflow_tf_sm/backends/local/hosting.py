"""On-disk hosting state of the local backend: models, endpoint configs and endpoints.

Layout under the root::

    hosting/models/<name>/model.json                       CreateModel request, ARN, creation time, tags
    hosting/endpoint-configs/<name>/endpoint-config.json   CreateEndpointConfig request, ARN, creation time, tags
    hosting/endpoints/<name>/endpoint.json                 status, config, servers (pid, start token, port), times
    hosting/endpoints/<name>/endpoint.lock                 fcntl lock of every read-modify-write of endpoint.json
    hosting/endpoints/<name>/servers/<id>/                 one model server: its log and the extracted model

An endpoint names the server that answers requests (``current``) and, during an update, the server
being started (``pending``). Model servers (``serving.py``) move the endpoint to InService, switch it
to themselves after an update, or report their failure; :meth:`HostingStore.refresh_endpoint` notices
a server that died. Every record lives in the one state store (``state.py``): created atomically,
replaced atomically, so readers never take a lock. This module imports only the standard library and
the package's standard-library facts (the model server loads it).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_tf_sm.backends.local.processes import process_alive
from airflow_tf_sm.backends.local.state import (
    CorruptRecordError,
    Field,
    RecordExistsError,
    RecordNotFoundError,
    StateStore,
)
from airflow_tf_sm.sagemaker.names import is_valid_name
from airflow_tf_sm.sagemaker.resources import ENDPOINT as ENDPOINT_RESOURCE
from airflow_tf_sm.sagemaker.resources import ENDPOINT_CONFIG as ENDPOINT_CONFIG_RESOURCE
from airflow_tf_sm.sagemaker.resources import (
    ENDPOINT_LOG_GROUP,
    LOCAL_ACCOUNT_ID,
)
from airflow_tf_sm.sagemaker.resources import MODEL as MODEL_RESOURCE

MODEL = "model"
ENDPOINT_CONFIG = "endpoint-config"
ENDPOINT = "endpoint"
IN_PROGRESS_STATUSES = frozenset({"Creating", "Updating", "Deleting"})
SERVER_DIED_REASON = "local model server process died"
_RESOURCES = {MODEL: MODEL_RESOURCE, ENDPOINT_CONFIG: ENDPOINT_CONFIG_RESOURCE, ENDPOINT: ENDPOINT_RESOURCE}
_KIND_DIRS = {MODEL: "models", ENDPOINT_CONFIG: "endpoint-configs", ENDPOINT: "endpoints"}
_NUMBER = (int, float)
_OPTIONAL_TEXT = (str, type(None))
_OPTIONAL_INT = (int, type(None))
_RECORD = {"name": Field(str), "arn": Field(str), "creation_time": Field(_NUMBER), "tags": Field(list, required=False)}
_VARIANT = {"ModelName": Field(str), "VariantName": Field(str)}
#: What every record of each kind holds, with the types the hosting API, the runtime and the servers read.
SHAPES: dict[str, dict[str, Field]] = {
    MODEL: {**_RECORD, "request": Field(dict, fields={"PrimaryContainer": Field(dict, required=False)})},
    ENDPOINT_CONFIG: {**_RECORD, "request": Field(dict, fields={"ProductionVariants": Field(list, items=_VARIANT)})},
    ENDPOINT: {
        **_RECORD,
        "status": Field(str),
        "config_name": Field(str),
        "last_modified_time": Field(_NUMBER),
        "current": Field(_OPTIONAL_TEXT, required=False),
        "pending": Field(_OPTIONAL_TEXT, required=False),
        "failure_reason": Field(_OPTIONAL_TEXT, required=False),
        "servers": Field(
            dict,
            items={
                "config_name": Field(str),
                "variant": Field(
                    dict,
                    fields={
                        **_VARIANT,
                        "Image": Field(str),
                        "ModelDataUrl": Field(_OPTIONAL_TEXT, required=False),
                        "Environment": Field(dict, required=False),
                    },
                ),
                "pid": Field(_OPTIONAL_INT, required=False),
                "token": Field(_OPTIONAL_TEXT, required=False),
                "port": Field(_OPTIONAL_INT, required=False),
                "ready": Field(bool, required=False),
                "started": Field(_NUMBER, required=False),
            },
        ),
    },
}
__all__ = ["ENDPOINT_LOG_GROUP", "CorruptRecordError", "EndpointNotFoundError", "HostingStore"]

#: No endpoint of that name (or it was deleted meanwhile).
EndpointNotFoundError = RecordNotFoundError


def resource_arn(region: str, kind: str, name: str) -> str:
    """Return the ARN SageMaker gives a hosting resource.

    Args:
        region: AWS region.
        kind: ``model``, ``endpoint-config`` or ``endpoint``.
        name: Resource name (lower-cased in the ARN, like SageMaker does).
    """
    return _RESOURCES[kind].arn(region, LOCAL_ACCOUNT_ID, name)


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
    """Models, endpoint configs and endpoints under ``<root>/hosting`` (three :class:`StateStore` kinds).

    Args:
        root: The local backend root directory.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.base = self.root / "hosting"
        self.stores = {
            kind: StateStore(self.base / folder, is_valid_name, kind, SHAPES[kind])
            for kind, folder in _KIND_DIRS.items()
        }
        self.endpoints = self.stores[ENDPOINT]

    # -- models and endpoint configs -----------------------------------------------------------
    def create_record(self, kind: str, name: str, record: dict[str, Any]) -> bool:
        """Store a new record atomically; return False when one of that name exists."""
        try:
            self.stores[kind].create(name, record)
        except RecordExistsError:
            return False
        return True

    def load_record(self, kind: str, name: str) -> dict[str, Any] | None:
        """Return a record, or None when there is none of that name.

        Raises:
            CorruptRecordError: its file cannot be read.
        """
        try:
            return self.stores[kind].load(name)
        except RecordNotFoundError:
            return None

    def delete_record(self, kind: str, name: str) -> bool:
        """Delete a record; return False when there was none."""
        if not self.stores[kind].exists(name):
            return False
        self.stores[kind].remove(name)
        return True

    def record_names(self, kind: str) -> list[str]:
        """Return the names of all records of a kind."""
        return self.stores[kind].names()

    def records(self, kind: str) -> list[dict[str, Any]]:
        """Return every readable record of a kind (corrupt ones are skipped)."""
        return self.stores[kind].records()

    def update_record(self, kind: str, name: str, mutate: Callable[[dict[str, Any]], None]) -> bool:
        """Apply ``mutate`` to a record under its lock; return False when there is none."""
        try:
            self.stores[kind].update(name, mutate)
        except RecordNotFoundError:
            return False
        return True

    # -- endpoints -------------------------------------------------------------------------------
    def endpoint_dir(self, name: str) -> Path:
        """Return the directory of an endpoint.

        Raises:
            EndpointNotFoundError: for an invalid name (it cannot exist).
        """
        return self.endpoints.path(name)

    def server_dir(self, name: str, server_id: str) -> Path:
        """Return the working directory of one model server of an endpoint."""
        if not re.fullmatch(r"[a-z0-9-]{1,64}", server_id):
            raise ValueError(f"invalid server id: {server_id!r}")
        return self.endpoint_dir(name) / "servers" / server_id

    def create_endpoint(self, name: str, state: dict[str, Any]) -> bool:
        """Create an endpoint record; return False when an endpoint of that name exists."""
        return self.create_record(ENDPOINT, name, state)

    def load_endpoint(self, name: str) -> dict[str, Any]:
        """Read an endpoint record.

        Raises:
            EndpointNotFoundError: when there is none.
            CorruptRecordError: its file cannot be read.
        """
        return self.endpoints.load(name)

    def update_endpoint(self, name: str, mutate: Callable[[dict[str, Any]], Any]) -> tuple[dict[str, Any], Any]:
        """Apply ``mutate`` to the endpoint record under its lock and save it.

        Returns:
            The new record and what ``mutate`` returned.
        """
        return self.endpoints.update(name, mutate)

    def remove_endpoint(self, name: str) -> None:
        """Remove an endpoint's directory (its servers must be stopped first), under its lock."""
        self.endpoints.remove(name)

    def endpoint_names(self) -> list[str]:
        """Return the names of all endpoints."""
        return self.endpoints.names()

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
        with self.endpoints.locked(name) as locked_state:
            if self._needs_repair(locked_state):
                self._repair(locked_state)
            state = locked_state
        return state

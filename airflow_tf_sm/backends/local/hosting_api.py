"""The SageMaker hosting API of the local backend: models, endpoint configs and endpoints.

:class:`LocalEndpointsMixin` gives ``LocalSageMakerClient`` the boto3 methods ``create_model``,
``describe_model``, ``delete_model``, ``list_models``, ``create_endpoint_config``,
``describe_endpoint_config``, ``delete_endpoint_config``, ``list_endpoint_configs``, ``create_endpoint``,
``update_endpoint``, ``describe_endpoint``, ``delete_endpoint`` and ``list_endpoints``, with boto3's
keyword arguments, response shapes and ``ClientError`` codes and messages. Each endpoint is served by a
detached model server process (``serving.py``) bound to 127.0.0.1; ``describe_endpoint`` adds the
non-AWS key ``LocalUrl`` (``http://127.0.0.1:<port>``) while the endpoint serves.

The local backend serves one production variant per endpoint from ``PrimaryContainer.ModelDataUrl``
(a ``model.tar.gz`` in the local object store).
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from airflow_tf_sm.backends.local.engine import Engine
from airflow_tf_sm.backends.local.hosting import (
    ENDPOINT,
    ENDPOINT_CONFIG,
    IN_PROGRESS_STATUSES,
    MODEL,
    CorruptRecordError,
    EndpointNotFoundError,
    HostingStore,
    resource_arn,
    server_pids,
)
from airflow_tf_sm.backends.local.processes import helper_env, kill_group, launch_detached, wait_gone
from airflow_tf_sm.backends.local.wire import (
    client_error,
    corrupt_record_error,
    list_call,
    maybe_throttle,
    metadata,
    to_datetime,
)
from airflow_tf_sm.sagemaker import service_model

_KIND_WORDS = {MODEL: "model", ENDPOINT_CONFIG: "endpoint configuration", ENDPOINT: "endpoint"}


def _resolved_image(image: str) -> str:
    """Return a digest-pinned form of an image URI, the way SageMaker reports ``ResolvedImage``."""
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repository}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def stop_servers(state: dict[str, Any], grace: float = 5.0) -> None:
    """Stop every model server an endpoint record names: SIGTERM, then SIGKILL after ``grace`` seconds."""
    pids = server_pids(state)
    for pid, token in pids:
        kill_group(pid, token, signal.SIGTERM)
    if not wait_gone(pids, grace):
        for pid, token in pids:
            kill_group(pid, token, signal.SIGKILL)
        wait_gone(pids, 5.0)


def stop_local_endpoints(root: str | os.PathLike[str], grace: float = 5.0) -> list[str]:
    """Stop the model servers of every endpoint under a local root and remove the endpoints.

    Whatever their status, so a test suite or a reset leaves no server process behind.

    Returns:
        The names of the endpoints removed.
    """
    store = HostingStore(root)
    removed = []
    for name in store.endpoint_names():
        try:
            state, _ = store.update_endpoint(name, lambda s: s.__setitem__("status", "Deleting"))
        except (EndpointNotFoundError, CorruptRecordError):  # a corrupt record names no server it could stop
            continue
        stop_servers(state, grace)
        store.remove_endpoint(name)
        removed.append(name)
    return removed


class HostingAPI:
    """SageMaker hosting calls over the local hosting state (mixed into ``LocalSageMakerClient``).

    The class using it provides ``root`` (the local backend root), ``region`` and ``engine`` (whose
    ``stop_grace`` is the grace period between SIGTERM and SIGKILL when a server is stopped).
    """

    root: Path
    region: str
    engine: Engine

    # -- helpers -------------------------------------------------------------------------------
    @property
    def hosting(self) -> HostingStore:
        """The hosting state under this client's root."""
        return HostingStore(self.root)

    def _arn(self, kind: str, name: str) -> str:
        return resource_arn(self.region, kind, name)

    def _not_found(self, kind: str, name: str, op: str) -> Exception:
        return client_error("ValidationException", f'Could not find {_KIND_WORDS[kind]} "{self._arn(kind, name)}".', op)

    def _validate_hosting(self, request: dict[str, Any], op: str) -> None:
        from airflow_tf_sm.exceptions import ConfigValidationError
        from airflow_tf_sm.sagemaker.service_model import validate_request

        try:
            validate_request(request, operation=op)
        except ConfigValidationError as exc:
            raise client_error("ValidationException", str(exc), op) from None

    def _record(self, kind: str, name: str, op: str) -> dict[str, Any]:
        try:
            record = self.hosting.load_record(kind, name)
        except CorruptRecordError as exc:
            raise corrupt_record_error(exc, op) from None
        if record is None:
            raise self._not_found(kind, name, op)
        return record

    def _create_record(self, kind: str, name: str, request: dict[str, Any], op: str) -> str:
        arn = self._arn(kind, name)
        record = {
            "name": name,
            "arn": arn,
            "creation_time": time.time(),
            "request": request,
            "tags": list(request.get("Tags") or []),
        }
        if not self.hosting.create_record(kind, name, record):
            self._record(kind, name, op)  # a corrupt one is reported as such
            raise client_error(
                "ValidationException", f'Cannot create already existing {_KIND_WORDS[kind]} "{arn}".', op
            )
        return arn

    def _delete_record(self, kind: str, name: str, op: str) -> dict[str, Any]:
        maybe_throttle(op)
        self._record(kind, name, op)  # not found, or corrupt: reported before anything is removed
        if not self.hosting.delete_record(kind, name):
            raise self._not_found(kind, name, op)
        return {"ResponseMetadata": metadata()}

    def _endpoint(self, name: str, op: str) -> dict[str, Any]:
        try:
            return self.hosting.refresh_endpoint(name)
        except EndpointNotFoundError:
            raise self._not_found(ENDPOINT, name, op) from None
        except CorruptRecordError as exc:
            raise corrupt_record_error(exc, op) from None

    def _update_endpoint(self, name: str, mutate: Callable[[dict[str, Any]], Any], op: str) -> tuple[Any, Any]:
        try:
            return self.hosting.update_endpoint(name, mutate)
        except EndpointNotFoundError:
            raise self._not_found(ENDPOINT, name, op) from None
        except CorruptRecordError as exc:
            raise corrupt_record_error(exc, op) from None

    # -- models --------------------------------------------------------------------------------
    def create_model(
        self,
        *,
        ModelName: str,
        PrimaryContainer: dict[str, Any] | None = None,
        ExecutionRoleArn: str | None = None,
        Tags: list[dict[str, str]] | None = None,
        Containers: list[dict[str, Any]] | None = None,
        InferenceExecutionConfig: dict[str, Any] | None = None,
        VpcConfig: dict[str, Any] | None = None,
        EnableNetworkIsolation: bool | None = None,
    ) -> dict[str, Any]:
        """Register a model; return ``{"ModelArn": ...}``.

        Raises:
            botocore.exceptions.ClientError: ``ValidationException`` for a bad request, a name in use
                ("Cannot create already existing model ..."), or model data missing from the local store.
        """
        op = "CreateModel"
        maybe_throttle(op)
        request = {k: v for k, v in locals().items() if k not in ("self", "op") and v is not None}
        self._validate_hosting(request, op)
        if PrimaryContainer is None:
            raise client_error(
                "ValidationException", "The local backend serves models with a PrimaryContainer only.", op
            )
        url = PrimaryContainer.get("ModelDataUrl")
        if url:
            from airflow_tf_sm.backends.local.store import InvalidKeyError, LocalObjectStore

            try:
                found = LocalObjectStore(self.root).uri_path(url).is_file()
            except InvalidKeyError:
                found = False
            if not found:
                raise client_error("ValidationException", f"Could not find model data at {url}.", op)
        arn = self._create_record(MODEL, ModelName, request, op)
        return {"ModelArn": arn, "ResponseMetadata": metadata()}

    def describe_model(self, *, ModelName: str) -> dict[str, Any]:
        """Return the DescribeModel response.

        Raises:
            botocore.exceptions.ClientError: ``ValidationException`` 'Could not find model "<arn>".'
        """
        op = "DescribeModel"
        maybe_throttle(op)
        record = self._record(MODEL, ModelName, op)
        request = record["request"]
        resp: dict[str, Any] = {"ModelName": record["name"]}
        for key in ("PrimaryContainer", "Containers", "InferenceExecutionConfig", "ExecutionRoleArn", "VpcConfig"):
            if key in request:
                resp[key] = request[key]
        resp["CreationTime"] = to_datetime(record["creation_time"])
        resp["ModelArn"] = record["arn"]
        resp["EnableNetworkIsolation"] = bool(request.get("EnableNetworkIsolation", False))
        resp["ResponseMetadata"] = metadata()
        return resp

    def delete_model(self, *, ModelName: str) -> dict[str, Any]:
        """Delete a model (endpoints already serving it keep serving, like SageMaker)."""
        return self._delete_record(MODEL, ModelName, "DeleteModel")

    def list_models(self, **params: Any) -> dict[str, Any]:
        """ListModels: ``{"Models": [{"ModelName", "ModelArn", "CreationTime"}], "NextToken"?}``."""
        records = self.hosting.records(MODEL)
        return list_call("ListModels", params, records, key="Models", summary=_summary("Model"), model=service_model)

    # -- endpoint configs ----------------------------------------------------------------------
    def create_endpoint_config(
        self,
        *,
        EndpointConfigName: str,
        ProductionVariants: list[dict[str, Any]],
        Tags: list[dict[str, str]] | None = None,
        DataCaptureConfig: dict[str, Any] | None = None,
        KmsKeyId: str | None = None,
        AsyncInferenceConfig: dict[str, Any] | None = None,
        ExplainerConfig: dict[str, Any] | None = None,
        ShadowProductionVariants: list[dict[str, Any]] | None = None,
        ExecutionRoleArn: str | None = None,
        VpcConfig: dict[str, Any] | None = None,
        EnableNetworkIsolation: bool | None = None,
    ) -> dict[str, Any]:
        """Register an endpoint config; return ``{"EndpointConfigArn": ...}``.

        Raises:
            botocore.exceptions.ClientError: ``ValidationException`` for a bad request, an unknown model,
                a name in use ("Cannot create already existing endpoint configuration ..."), or what the
                local backend cannot serve (more than one variant, shadow variants, async inference).
        """
        op = "CreateEndpointConfig"
        maybe_throttle(op)
        request = {k: v for k, v in locals().items() if k not in ("self", "op") and v is not None}
        self._validate_hosting(request, op)
        if len(ProductionVariants) != 1 or ShadowProductionVariants or AsyncInferenceConfig:
            raise client_error(
                "ValidationException",
                "The local backend serves exactly one production variant per endpoint "
                "(no shadow variants, no asynchronous inference).",
                op,
            )
        for variant in ProductionVariants:
            if self.hosting.load_record(MODEL, variant["ModelName"]) is None:
                raise self._not_found(MODEL, variant["ModelName"], op)
        arn = self._create_record(ENDPOINT_CONFIG, EndpointConfigName, request, op)
        return {"EndpointConfigArn": arn, "ResponseMetadata": metadata()}

    def describe_endpoint_config(self, *, EndpointConfigName: str) -> dict[str, Any]:
        """Return the DescribeEndpointConfig response.

        Raises:
            botocore.exceptions.ClientError: ``ValidationException``
                'Could not find endpoint configuration "<arn>".'
        """
        op = "DescribeEndpointConfig"
        maybe_throttle(op)
        record = self._record(ENDPOINT_CONFIG, EndpointConfigName, op)
        request = record["request"]
        variants = [{"InitialVariantWeight": 1.0, **v} for v in request["ProductionVariants"]]
        resp: dict[str, Any] = {
            "EndpointConfigName": record["name"],
            "EndpointConfigArn": record["arn"],
            "ProductionVariants": variants,
        }
        for key in ("DataCaptureConfig", "KmsKeyId", "ExplainerConfig", "ExecutionRoleArn", "VpcConfig"):
            if key in request:
                resp[key] = request[key]
        resp["CreationTime"] = to_datetime(record["creation_time"])
        if "EnableNetworkIsolation" in request:
            resp["EnableNetworkIsolation"] = bool(request["EnableNetworkIsolation"])
        resp["ResponseMetadata"] = metadata()
        return resp

    def delete_endpoint_config(self, *, EndpointConfigName: str) -> dict[str, Any]:
        """Delete an endpoint config (endpoints using it keep serving, like SageMaker)."""
        return self._delete_record(ENDPOINT_CONFIG, EndpointConfigName, "DeleteEndpointConfig")

    def list_endpoint_configs(self, **params: Any) -> dict[str, Any]:
        """ListEndpointConfigs: ``{"EndpointConfigs": [{"EndpointConfigName", "EndpointConfigArn", ...}]}``."""
        records = self.hosting.records(ENDPOINT_CONFIG)
        summary = _summary("EndpointConfig")
        return list_call(
            "ListEndpointConfigs", params, records, key="EndpointConfigs", summary=summary, model=service_model
        )

    # -- endpoints -----------------------------------------------------------------------------
    def _server_spec(self, config_name: str, op: str) -> dict[str, Any]:
        """Resolve an endpoint config and its model into what a model server needs."""
        config = self._record(ENDPOINT_CONFIG, config_name, op)
        variant = dict(config["request"]["ProductionVariants"][0])
        model = self._record(MODEL, variant["ModelName"], op)
        container = model["request"].get("PrimaryContainer") or {}
        variant.setdefault("InitialVariantWeight", 1.0)
        variant["Image"] = container.get("Image", "")
        variant["ModelDataUrl"] = container.get("ModelDataUrl")
        variant["Environment"] = dict(container.get("Environment") or {})
        return {
            "config_name": config_name,
            "variant": variant,
            "pid": None,
            "token": None,
            "port": None,
            "ready": False,
            "started": time.time(),
        }

    def _start_server(self, name: str, server_id: str, environment: dict[str, str]) -> None:
        """Launch a detached model server; record the failure on the endpoint if it cannot start."""
        work_dir = self.hosting.server_dir(name, server_id)
        work_dir.mkdir(parents=True, exist_ok=True)
        env = helper_env(environment)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        args = ["--root", str(self.root), "--endpoint", name, "--server", server_id]
        log_path = work_dir / "server.log"
        code = launch_detached("airflow_tf_sm.backends.local.serving", args, log_path, env, work_dir)
        if code == 0:
            return
        reason = f"local model server failed to start: {log_path.read_text(errors='replace')[-800:]}"

        def fail(state: dict[str, Any]) -> None:
            if state.get("pending") == server_id:
                state["servers"].pop(server_id, None)
                state["pending"] = None
                state["status"] = "InService"
            elif state.get("current") == server_id and state.get("status") == "Creating":
                state["status"] = "Failed"
            else:
                return
            state["failure_reason"] = reason[:1024]
            state["last_modified_time"] = time.time()

        try:
            self.hosting.update_endpoint(name, fail)
        except (EndpointNotFoundError, CorruptRecordError):
            pass

    def create_endpoint(
        self,
        *,
        EndpointName: str,
        EndpointConfigName: str,
        DeploymentConfig: dict[str, Any] | None = None,
        Tags: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        """Create an endpoint (status Creating) and start its model server; return ``{"EndpointArn": ...}``.

        The endpoint goes InService once the server has loaded the model, or Failed with a FailureReason.

        Raises:
            botocore.exceptions.ClientError: ``ValidationException`` for a bad request, an unknown endpoint
                config or model, or a name in use ("Cannot create already existing endpoint ...").
        """
        op = "CreateEndpoint"
        maybe_throttle(op)
        request = {k: v for k, v in locals().items() if k not in ("self", "op") and v is not None}
        self._validate_hosting(request, op)
        spec = self._server_spec(EndpointConfigName, op)
        server_id = uuid.uuid4().hex[:12]
        arn = self._arn(ENDPOINT, EndpointName)
        now = time.time()
        state = {
            "name": EndpointName,
            "arn": arn,
            "region": self.region,
            "status": "Creating",
            "config_name": EndpointConfigName,
            "creation_time": now,
            "last_modified_time": now,
            "tags": list(Tags or []),
            "current": server_id,
            "pending": None,
            "servers": {server_id: spec},
        }
        if not self.hosting.create_endpoint(EndpointName, state):
            self._endpoint(EndpointName, op)  # a corrupt one is reported as such
            raise client_error("ValidationException", f'Cannot create already existing endpoint "{arn}".', op)
        self._start_server(EndpointName, server_id, spec["variant"]["Environment"])
        return {"EndpointArn": arn, "ResponseMetadata": metadata()}

    def update_endpoint(
        self,
        *,
        EndpointName: str,
        EndpointConfigName: str,
        RetainAllVariantProperties: bool | None = None,
        ExcludeRetainedVariantProperties: list[dict[str, Any]] | None = None,
        DeploymentConfig: dict[str, Any] | None = None,
        RetainDeploymentConfig: bool | None = None,
    ) -> dict[str, Any]:
        """Move an InService endpoint to a new endpoint config; return ``{"EndpointArn": ...}``.

        The endpoint goes Updating while a new model server loads; once it is healthy the endpoint
        switches to it (new EndpointConfigName) and the old server stops. If the new server fails,
        the old one keeps serving: the endpoint returns to InService on the old config with a
        FailureReason, as SageMaker reports a failed update.

        Raises:
            botocore.exceptions.ClientError: ``ValidationException`` for an unknown endpoint, config or
                model, an endpoint in progress ("Cannot update in-progress endpoint ...") or a failed one.
        """
        op = "UpdateEndpoint"
        maybe_throttle(op)
        request = {k: v for k, v in locals().items() if k not in ("self", "op") and v is not None}
        self._validate_hosting(request, op)
        self._endpoint(EndpointName, op)
        spec = self._server_spec(EndpointConfigName, op)
        server_id = uuid.uuid4().hex[:12]
        arn = self._arn(ENDPOINT, EndpointName)

        def mutate(state: dict[str, Any]) -> str | None:
            status = state["status"]
            if status in IN_PROGRESS_STATUSES:
                return f'Cannot update in-progress endpoint "{arn}".'
            if status != "InService":
                return f'Cannot update failed endpoint "{arn}".'
            state["status"] = "Updating"
            state["pending"] = server_id
            state["servers"][server_id] = spec
            state.pop("failure_reason", None)
            state["last_modified_time"] = time.time()
            return None

        _, problem = self._update_endpoint(EndpointName, mutate, op)
        if problem:
            raise client_error("ValidationException", problem, op)
        self._start_server(EndpointName, server_id, spec["variant"]["Environment"])
        return {"EndpointArn": arn, "ResponseMetadata": metadata()}

    def describe_endpoint(self, *, EndpointName: str) -> dict[str, Any]:
        """Return the DescribeEndpoint response, plus ``LocalUrl`` (``http://127.0.0.1:<port>``) while serving.

        An endpoint whose model server died is reported Failed (``local model server process died``).

        Raises:
            botocore.exceptions.ClientError: ``ValidationException`` 'Could not find endpoint "<arn>".'
        """
        op = "DescribeEndpoint"
        maybe_throttle(op)
        state = self._endpoint(EndpointName, op)
        resp: dict[str, Any] = {
            "EndpointName": state["name"],
            "EndpointArn": state["arn"],
            "EndpointConfigName": state["config_name"],
        }
        server = (state.get("servers") or {}).get(state.get("current")) or {}
        serving = bool(server.get("ready")) and state["status"] in ("InService", "Updating")
        if serving:
            variant = server["variant"]
            started = to_datetime(server.get("started"))
            resp["ProductionVariants"] = [
                {
                    "VariantName": variant["VariantName"],
                    "DeployedImages": [
                        {
                            "SpecifiedImage": variant["Image"],
                            "ResolvedImage": _resolved_image(variant["Image"]),
                            "ResolutionTime": started,
                        }
                    ],
                    "CurrentWeight": float(variant.get("InitialVariantWeight", 1.0)),
                    "DesiredWeight": float(variant.get("InitialVariantWeight", 1.0)),
                    "CurrentInstanceCount": int(variant.get("InitialInstanceCount", 1)),
                    "DesiredInstanceCount": int(variant.get("InitialInstanceCount", 1)),
                }
            ]
        resp["EndpointStatus"] = state["status"]
        if state.get("failure_reason"):
            resp["FailureReason"] = state["failure_reason"]
        resp["CreationTime"] = to_datetime(state["creation_time"])
        resp["LastModifiedTime"] = to_datetime(state["last_modified_time"])
        if serving and server.get("port"):
            resp["LocalUrl"] = f"http://127.0.0.1:{server['port']}"
        resp["ResponseMetadata"] = metadata()
        return resp

    def delete_endpoint(self, *, EndpointName: str) -> dict[str, Any]:
        """Stop the endpoint's model server and remove the endpoint (its name can be used again).

        Raises:
            botocore.exceptions.ClientError: ``ValidationException`` for an unknown endpoint, or one that
                is Creating or Updating ("Cannot update in-progress endpoint ...").
        """
        op = "DeleteEndpoint"
        maybe_throttle(op)
        self._endpoint(EndpointName, op)
        arn = self._arn(ENDPOINT, EndpointName)

        def mutate(state: dict[str, Any]) -> str | None:
            if state["status"] in IN_PROGRESS_STATUSES:
                return f'Cannot update in-progress endpoint "{arn}".'
            state["status"] = "Deleting"
            state["last_modified_time"] = time.time()
            return None

        state, problem = self._update_endpoint(EndpointName, mutate, op)
        if problem:
            raise client_error("ValidationException", problem, op)
        stop_servers(state, self.engine.stop_grace)
        self.hosting.remove_endpoint(EndpointName)
        return {"ResponseMetadata": metadata()}

    def list_endpoints(self, **params: Any) -> dict[str, Any]:
        """ListEndpoints: ``{"Endpoints": [EndpointSummary, ...], "NextToken"?}``, filtered and paged like SageMaker."""
        records = self.hosting.endpoints.records(self.hosting.refresh_endpoint)
        return list_call(
            "ListEndpoints", params, records, key="Endpoints", summary=_endpoint_summary, model=service_model
        )


def _summary(kind: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """Return how a model or endpoint config shows in its List* response (``{kind}Name``, ``{kind}Arn``, time)."""
    return lambda r: {
        f"{kind}Name": r["name"],
        f"{kind}Arn": r["arn"],
        "CreationTime": to_datetime(r["creation_time"]),
    }


def _endpoint_summary(state: Mapping[str, Any]) -> dict[str, Any]:
    """Return an endpoint's entry of ListEndpoints."""
    return {
        "EndpointName": state["name"],
        "EndpointArn": state["arn"],
        "CreationTime": to_datetime(state["creation_time"]),
        "LastModifiedTime": to_datetime(state["last_modified_time"]),
        "EndpointStatus": state["status"],
    }

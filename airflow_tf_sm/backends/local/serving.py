"""A local model server for one endpoint: the TensorFlow Serving REST API of SageMaker's TFS container.

Started by the local SageMaker client for ``create_endpoint`` and ``update_endpoint`` as a detached process::

    python -m airflow_tf_sm.backends.local.serving --root ROOT --endpoint NAME --server ID --detach

It binds ``127.0.0.1`` on a free port, records the port, extracts ``model.tar.gz`` from the local object
store, loads the SavedModel of the highest numeric version directory (signature ``serving_default``) and
answers:

* ``GET /ping``: 200 once the model is loaded (503 while loading), answered even while every worker is busy;
* ``POST /invocations``: TF Serving's predict body, ``{"instances": [...]}`` -> ``{"predictions": [...]}``
  (row format) or ``{"inputs": ...}`` -> ``{"outputs": ...}`` (columnar format); ``text/csv`` rows and JSON
  Lines are read as instances (:func:`parse_body`); bad input gets 400 with ``{"error": "..."}``.

The batch transform worker (``batch.py``) loads and calls models with the same functions.

Every error answer has a JSON body: 404 for other paths, 405 (with ``Allow``) for other methods, 400 for a
malformed request or ``Content-Length``, 408 for a request that does not arrive within the read timeout
(30 s, or the model Environment's ``AIRFLOW_TF_SM_LOCAL_READ_TIMEOUT``). The HTTP server (``httpd.py``)
answers from a fixed pool of worker threads and keeps answering ``/ping`` under a flood of half-open
connections.

When loaded it moves the endpoint to InService, or, for an update, switches the endpoint to itself and
stops the server it replaces; when loading fails it reports the failure (endpoint Failed, or an update
that failed while the old server keeps serving). A watchdog thread ends the server when its endpoint is
deleted or no longer names it, so no server outlives its endpoint. TensorFlow is imported only here, in
the server process, and only when a SavedModel is loaded.

``AIRFLOW_TF_SM_LOCAL_MODEL_LOADER=package.module:function`` replaces the TensorFlow loader with a callable
taking the extracted model directory and returning an object with ``input_names`` and
``predict(inputs) -> outputs`` (both mappings of name to a batch), e.g. to serve another framework.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import shutil
import signal
import sys
import tarfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from airflow_tf_sm.backends.local.hosting import (
    ENDPOINT_LOG_GROUP,
    CorruptRecordError,
    EndpointNotFoundError,
    HostingStore,
)
from airflow_tf_sm.backends.local.httpd import (
    READ_TIMEOUT_SECONDS,
    BoundedHTTPServer,
    HTTPRequest,
    Reply,
    json_reply,
)
from airflow_tf_sm.backends.local.logstore import LogStore, StreamWriter
from airflow_tf_sm.backends.local.processes import detach_and_record, kill_group, own_record, process_alive
from airflow_tf_sm.backends.local.store import InvalidKeyError, LocalObjectStore
from airflow_tf_sm.backends.local.tfs_format import (
    DEFAULT_SIGNATURE,
    InvalidInputError,
    parse_body,
    plain_outputs,
    to_columns,
    to_response,
)

__all__ = [
    "DEFAULT_SIGNATURE",
    "InvalidInputError",
    "ModelLoadError",
    "ServableModel",
    "extract_model",
    "find_saved_model",
    "load_model",
    "parse_body",
    "to_columns",
    "to_response",
]

LOADER_ENV = "AIRFLOW_TF_SM_LOCAL_MODEL_LOADER"
READ_TIMEOUT_ENV = "AIRFLOW_TF_SM_LOCAL_READ_TIMEOUT"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # SageMaker's real-time invocation payload limit
WATCHDOG_SECONDS = 2.0
DEFAULT_STARTUP_TIMEOUT = 600.0
STOP_GRACE_SECONDS = 5.0
PING_FAILURE = (
    "The primary container for production variant {variant} did not pass the ping health check. "
    "Please check CloudWatch logs for this endpoint."
)


class ModelLoadError(Exception):
    """The model cannot be loaded (the endpoint or the update fails with this reason)."""


class ServableModel(Protocol):
    """What the server needs from a loaded model: its input names and a batch prediction."""

    @property
    def input_names(self) -> Sequence[str]:
        """Names of the inputs of the serving signature."""
        ...

    def predict(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Run a batch: input name -> batch (nested lists) in, output name -> batch (nested lists) out."""
        ...


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------
def find_saved_model(model_dir: Path) -> Path:
    """Return the SavedModel directory to serve: the highest numeric version holding ``saved_model.pb``.

    Like the TFS container, it looks for ``<version>/saved_model.pb`` at the top of the archive or one
    level down (``<model name>/<version>/``).

    Raises:
        ModelLoadError: when there is no such directory.
    """
    found: list[tuple[int, str, Path]] = []
    for parent in [model_dir, *sorted(p for p in model_dir.iterdir() if p.is_dir())]:
        for child in parent.iterdir():
            if child.is_dir() and child.name.isdigit() and (child / "saved_model.pb").is_file():
                found.append((int(child.name), str(child), child))
    if not found:
        raise ModelLoadError(
            "no SavedModel found in model.tar.gz: expected a numeric version directory such as 1/saved_model.pb"
        )
    return max(found)[2]


class TensorFlowModel:
    """The ``serving_default`` signature of a SavedModel.

    Args:
        export_dir: The SavedModel directory (``<version>/``).
    """

    def __init__(self, export_dir: Path) -> None:
        import tensorflow as tf

        self._tf = tf
        try:
            loaded = tf.saved_model.load(str(export_dir))
        except Exception as exc:
            raise ModelLoadError(f"cannot load the SavedModel in {export_dir.name}/: {exc}") from exc
        if DEFAULT_SIGNATURE not in loaded.signatures:
            raise ModelLoadError(f"the SavedModel has no {DEFAULT_SIGNATURE!r} signature")
        self._loaded = loaded  # keeps the variables alive
        self._function = loaded.signatures[DEFAULT_SIGNATURE]
        self._specs = dict(self._function.structured_input_signature[1])
        self.input_names: list[str] = sorted(self._specs)

    def predict(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Run the signature on a batch: nested lists in, nested lists out.

        Raises:
            InvalidInputError: for missing or unknown inputs, or values of the wrong type or shape.
        """
        return plain_outputs(self.predict_arrays(inputs))

    def predict_arrays(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Run the signature on a batch: numpy arrays (or nested lists) in, numpy arrays out.

        Raises:
            InvalidInputError: for missing or unknown inputs, or values of the wrong type or shape.
        """
        import numpy as np

        tf = self._tf
        unknown = sorted(set(inputs) - set(self._specs))
        missing = sorted(set(self._specs) - set(inputs))
        if unknown or missing:
            raise InvalidInputError(f"inputs must be {self.input_names}; missing {missing}, unknown {unknown}")
        tensors = {}
        for name, spec in self._specs.items():
            try:
                array = np.asarray(inputs[name], dtype=spec.dtype.as_numpy_dtype)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"input {name!r}: {exc}") from exc
            if not spec.shape.is_compatible_with(array.shape):
                raise InvalidInputError(
                    f"input {name!r}: shape {list(array.shape)} does not match the signature's {spec.shape}"
                )
            tensors[name] = tf.constant(array)
        try:
            result = self._function(**tensors)
        except (tf.errors.InvalidArgumentError, TypeError, ValueError) as exc:
            raise InvalidInputError(str(exc)) from exc
        return {name: tensor.numpy() for name, tensor in result.items()}


def load_model(model_dir: Path) -> ServableModel:
    """Load the model of an extracted ``model.tar.gz``.

    Uses the callable named by ``AIRFLOW_TF_SM_LOCAL_MODEL_LOADER`` when set, else TensorFlow.

    Raises:
        ModelLoadError: when nothing servable is found.
    """
    spec = os.environ.get(LOADER_ENV, "").strip()
    if spec:
        module_name, _, attr = spec.partition(":")
        try:
            loader: Callable[[Path], ServableModel] = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ModelLoadError(f"{LOADER_ENV}={spec!r} cannot be imported: {exc}") from exc
        return loader(model_dir)
    return TensorFlowModel(find_saved_model(model_dir))


def extract_model(archive: Path, target: Path) -> None:
    """Extract ``model.tar.gz`` into ``target`` (members that would escape it are refused).

    Raises:
        ModelLoadError: when the archive is missing or not a gzip tar.
    """
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(target, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise ModelLoadError(f"cannot extract the model data {archive.name}: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------
class ServingApp:
    """The request handling of a model server, independent of the socket (so it can be unit-tested).

    Args:
        log: Called with one line of text per event worth logging.
    """

    def __init__(self, log: Callable[[str], None] = lambda line: None) -> None:
        self.model: ServableModel | None = None
        self.log = log

    def ping(self) -> tuple[int, bytes]:
        """Return the status and body of ``GET /ping``: 200 once the model is loaded, else 503."""
        if self.model is None:
            return 503, b'{"status": "loading"}'
        return 200, b'{"status": "healthy"}'

    def invoke(self, body: bytes, content_type: str | None) -> tuple[int, bytes]:
        """Return the status and JSON body of ``POST /invocations``."""
        model = self.model
        if model is None:
            return 503, _json({"error": "the model is still loading"})
        try:
            inputs, row_format = to_columns(parse_body(body, content_type), list(model.input_names))
            outputs = model.predict(inputs)
            return 200, _json(to_response(outputs, row_format))
        except InvalidInputError as exc:
            return 400, _json({"error": str(exc)})
        except RecursionError:
            return 400, _json({"error": "the request body is nested too deeply"})
        except Exception as exc:
            self.log(f"invocation failed: {traceback.format_exc()}")
            return 500, _json({"error": f"{type(exc).__name__}: {exc}"})

    def answer_early(self, method: str, path: str) -> Reply | None:
        """Answer what needs no body and no worker: ``/ping``, unknown paths (404), other methods (405)."""
        route = path.split("?")[0]
        if route == "/ping":
            if method not in ("GET", "HEAD"):
                return json_reply(405, f"{method} is not allowed on /ping", {"Allow": "GET, HEAD"})
            return (*self.ping(), {})
        if route == "/invocations":
            return None if method == "POST" else json_reply(405, f"{method} is not allowed on /invocations", _POST)
        return json_reply(404, f"no such path: {path}")

    def answer(self, request: HTTPRequest) -> Reply:
        """Answer ``POST /invocations`` (in a worker thread)."""
        return (*self.invoke(request.body, request.headers.get("content-type")), {})


_POST = {"Allow": "POST"}


def _json(data: Any) -> bytes:
    return json.dumps(data).encode("utf-8")


def read_timeout() -> float:
    """Seconds a connection has to send its request: ``AIRFLOW_TF_SM_LOCAL_READ_TIMEOUT`` of the model's Environment."""
    try:
        value = float(os.environ.get(READ_TIMEOUT_ENV, READ_TIMEOUT_SECONDS))
    except ValueError:
        return READ_TIMEOUT_SECONDS
    return value if value > 0 else READ_TIMEOUT_SECONDS


def make_http_server(app: ServingApp, port: int = 0, **options: Any) -> BoundedHTTPServer:
    """Bind the HTTP server of ``app`` on ``127.0.0.1`` (port 0: a free one); ``options`` go to the server.

    A bounded server (``httpd.py``): a fixed worker pool, a read timeout per connection, JSON error bodies.
    """
    return BoundedHTTPServer(app.answer_early, app.answer, port, log=app.log, max_body=MAX_PAYLOAD_BYTES, **options)


# ---------------------------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------------------------
class ModelServer:
    """One model server process of an endpoint, from loading to exit.

    Args:
        store: The hosting state.
        endpoint: Endpoint name.
        server_id: This server's id in the endpoint record.
    """

    def __init__(self, store: HostingStore, endpoint: str, server_id: str) -> None:
        self.store = store
        self.endpoint = endpoint
        self.server_id = server_id
        self.work_dir = store.server_dir(endpoint, server_id)
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        state = store.load_endpoint(endpoint)
        if server_id not in state.get("servers", {}):
            raise EndpointNotFoundError(endpoint)
        self.spec: dict[str, Any] = dict(state["servers"][server_id])
        self.variant = str(self.spec["variant"]["VariantName"])
        stream = f"{self.variant}/{server_id}"
        self._stream = StreamWriter(LogStore(store.root).create_stream(f"{ENDPOINT_LOG_GROUP}/{endpoint}", stream))
        self.app = ServingApp(log=self.log)

    def log(self, line: str) -> None:
        """Log a line to the server's stdout and to the endpoint's log stream."""
        print(line, flush=True)
        with contextlib.suppress(OSError):
            self._stream.write(line)

    # -- endpoint record transitions -----------------------------------------------------------
    def _wanted(self, state: dict[str, Any]) -> bool:
        return state.get("status") != "Deleting" and self.server_id in (state.get("current"), state.get("pending"))

    def _record_port(self, port: int) -> bool:
        def mutate(state: dict[str, Any]) -> bool:
            if not self._wanted(state):
                return False
            state["servers"][self.server_id]["port"] = port
            return True

        return bool(self.store.update_endpoint(self.endpoint, mutate)[1])

    def _mark_ready(self) -> dict[str, Any] | bool | None:
        """Put the endpoint InService on this server; return the replaced server's record (False: unwanted)."""

        def mutate(state: dict[str, Any]) -> dict[str, Any] | bool | None:
            if not self._wanted(state):
                return False
            now = time.time()
            servers = state["servers"]
            servers[self.server_id]["ready"] = True
            replaced = None
            if state.get("pending") == self.server_id:
                replaced = servers.pop(state.get("current"), None)
                if replaced is not None:
                    replaced["id"] = state.get("current")
                state["current"] = self.server_id
                state["pending"] = None
                state["config_name"] = servers[self.server_id]["config_name"]
                state.pop("failure_reason", None)
            state["status"] = "InService"
            state["last_modified_time"] = now
            return replaced

        return self.store.update_endpoint(self.endpoint, mutate)[1]  # type: ignore[no-any-return]

    def _mark_failed(self, reason: str) -> None:
        detail = f"{PING_FAILURE.format(variant=self.variant)} (local model server: {reason})"[:1024]

        def mutate(state: dict[str, Any]) -> None:
            if not self._wanted(state):
                return
            now = time.time()
            if state.get("pending") == self.server_id:
                state["servers"].pop(self.server_id, None)
                state["pending"] = None
                state["status"] = "InService"
                state["failure_reason"] = detail
            elif state.get("status") == "Creating":
                state["status"] = "Failed"
                state["failure_reason"] = detail
            state["last_modified_time"] = now

        with contextlib.suppress(EndpointNotFoundError):
            self.store.update_endpoint(self.endpoint, mutate)

    # -- threads -----------------------------------------------------------------------------
    def _watchdog(self, deadline: float) -> None:
        """End the server when its endpoint is gone or no longer names it, or loading takes too long."""
        while not self.stop_event.wait(WATCHDOG_SECONDS):
            try:
                state = self.store.load_endpoint(self.endpoint)
                wanted = self._wanted(state)
            except (EndpointNotFoundError, CorruptRecordError, OSError, ValueError):
                wanted = False  # a record that says nothing about this server does not want it
            if not wanted:
                self.log("the endpoint no longer uses this server: exiting")
                break
            if not self.ready.is_set() and time.monotonic() > deadline:
                self._mark_failed("the model did not load within the startup health check timeout")
                self.log("startup timeout: exiting")
                break
        self.stop_event.set()
        # the main thread may be stuck loading a model: make sure the process ends
        time.sleep(STOP_GRACE_SECONDS)
        os._exit(0)

    def _stop_replaced(self, record: dict[str, Any]) -> None:
        """Stop the server this one replaced (it drains its requests first) and drop its extracted model."""
        pid, token = int(record.get("pid") or 0), record.get("token")
        if pid:
            self.log(f"stopping the replaced server (pid {pid})")
            kill_group(pid, token, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while time.monotonic() < deadline and process_alive(pid, token):
                time.sleep(0.1)
            kill_group(pid, token, signal.SIGKILL)
        with contextlib.suppress(ValueError, EndpointNotFoundError):
            shutil.rmtree(self.store.server_dir(self.endpoint, str(record.get("id"))) / "model", ignore_errors=True)

    # -- main --------------------------------------------------------------------------------
    def _load(self) -> ServableModel:
        url = self.spec["variant"].get("ModelDataUrl")
        if not url:
            raise ModelLoadError("the model has no ModelDataUrl (the local backend needs model.tar.gz)")
        try:
            archive = LocalObjectStore(self.store.root).uri_path(url)
        except InvalidKeyError as exc:
            raise ModelLoadError(str(exc)) from exc
        if not archive.is_file():
            raise ModelLoadError(f"model data not found: {url}")
        model_dir = self.work_dir / "model"
        self.log(f"extracting {url}")
        extract_model(archive, model_dir)
        self.log("loading the model")
        return load_model(model_dir)

    @staticmethod
    def _self_check(port: int) -> None:
        """Ask the server's own ``GET /ping`` over HTTP, as SageMaker's health check does."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=10) as answer:
                status = answer.status
        except (OSError, urllib.error.URLError) as exc:
            raise ModelLoadError(f"GET /ping failed: {exc}") from exc
        if status != 200:
            raise ModelLoadError(f"GET /ping answered {status}")

    def run(self) -> int:
        """Serve until stopped; return the exit code."""
        signal.signal(signal.SIGTERM, lambda *_: self.stop_event.set())
        httpd = make_http_server(self.app, read_timeout=read_timeout())
        port = httpd.server_address[1]
        if not self._record_port(port):
            return 0
        self.log(f"listening on http://127.0.0.1:{port}")
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        timeout = float(self.spec["variant"].get("ContainerStartupHealthCheckTimeoutInSeconds") or 0)
        deadline = time.monotonic() + (timeout or DEFAULT_STARTUP_TIMEOUT)
        threading.Thread(target=self._watchdog, args=(deadline,), daemon=True).start()
        try:
            self.app.model = self._load()
            self._self_check(port)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, ModelLoadError) else f"{type(exc).__name__}: {exc}"
            self.log(f"model load failed: {reason}\n{traceback.format_exc()}")
            self._mark_failed(reason)
            httpd.shutdown()
            httpd.server_close()
            return 1
        self.ready.set()
        try:
            replaced = self._mark_ready()
        except EndpointNotFoundError:
            replaced = False
        if replaced is False:
            self.log("the endpoint no longer uses this server: exiting")
            return 0
        self.log("model loaded: in service")
        if isinstance(replaced, dict):
            self._stop_replaced(replaced)
        self.stop_event.wait()
        self.log("stopping")
        httpd.shutdown()
        httpd.server_close()
        return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m airflow_tf_sm.backends.local.serving``."""
    parser = argparse.ArgumentParser(description="Serve one local SageMaker-style endpoint model.")
    parser.add_argument("--root", required=True, help="local backend root directory")
    parser.add_argument("--endpoint", required=True, help="endpoint name")
    parser.add_argument("--server", required=True, help="server id in the endpoint record")
    parser.add_argument("--detach", action="store_true", help="fork into the background and return")
    args = parser.parse_args(argv)
    store = HostingStore(args.root)
    try:
        state = store.load_endpoint(args.endpoint)
    except EndpointNotFoundError:
        print(f"endpoint {args.endpoint} not found", file=sys.stderr)
        return 1
    if args.server not in state.get("servers", {}):
        print(f"server {args.server} is not part of endpoint {args.endpoint}", file=sys.stderr)
        return 1

    def record_server(record: dict[str, Any]) -> None:
        def mutate(state: dict[str, Any]) -> None:
            if args.server in state.get("servers", {}):
                state["servers"][args.server].update(record)

        store.update_endpoint(args.endpoint, mutate)

    if args.detach:
        if detach_and_record(record_server):
            # the launcher's only job was the fork: leave at once, skipping interpreter teardown
            sys.stdout.flush()
            os._exit(0)
    else:
        record_server(own_record())
    try:
        code = ModelServer(store, args.endpoint, args.server).run()
    except EndpointNotFoundError:
        code = 0
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown (TensorFlow's can hang)


if __name__ == "__main__":
    # run from the module's own name, so loaders importing InvalidInputError / ModelLoadError share the classes
    from airflow_tf_sm.backends.local.serving import main as _main

    sys.exit(_main())

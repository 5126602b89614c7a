"""The local model server under hostile HTTP: deep bodies, other methods, bad lengths, half-open floods.

Every test talks real HTTP over 127.0.0.1 to a real model server process (fake model loader, no TensorFlow).
"""

from __future__ import annotations

import json
import os
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_models import LinearModel, fake_model_tar

from airflow_tf_sm.backends.local.clients import local_clients
from airflow_tf_sm.backends.local.hosting import HostingStore
from airflow_tf_sm.backends.local.hosting_api import stop_local_endpoints
from airflow_tf_sm.backends.local.processes import process_alive
from airflow_tf_sm.backends.local.serving import LOADER_ENV, ServingApp, make_http_server

HERE = Path(__file__).resolve().parent
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.19.0-cpu"
ROLE = "arn:aws:iam::000000000000:role/test"
HALF_OPEN = 1000
READ_TIMEOUT_ENV = "AIRFLOW_TF_SM_LOCAL_READ_TIMEOUT"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[int, int]]]:
    """(port, pid) of model servers of ``score = 2 x + 1``: ``default``, and ``quick`` (2 s read timeout)."""
    root = tmp_path_factory.mktemp("serving_limits")
    env = {LOADER_ENV: "fake_models:load", "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        sm, s3, _logs, _runtime = local_clients(root, "us-east-1", stop_grace=1.0)
        s3.put_object(Bucket="bucket", Key="m/model.tar.gz", Body=fake_model_tar([2.0], 1.0))
        found = {}
        for name, environment in (("default", {}), ("quick", {READ_TIMEOUT_ENV: "2"})):
            container = {"Image": IMAGE, "ModelDataUrl": "s3://bucket/m/model.tar.gz", "Environment": environment}
            sm.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=ROLE)
            variant = {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1}
            sm.create_endpoint_config(
                EndpointConfigName=name, ProductionVariants=[{**variant, "InstanceType": "ml.m5.large"}]
            )
            sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
        for name in ("default", "quick"):
            deadline = time.monotonic() + 60
            while (desc := sm.describe_endpoint(EndpointName=name))["EndpointStatus"] != "InService":
                assert desc["EndpointStatus"] == "Creating" and time.monotonic() < deadline, desc
                time.sleep(0.1)
            state = HostingStore(root).load_endpoint(name)
            record = state["servers"][state["current"]]
            found[name] = (int(record["port"]), int(record["pid"]))
        yield found
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stop_local_endpoints(root, grace=1.0)


@pytest.fixture
def server(servers: dict[str, tuple[int, int]]) -> tuple[int, int]:
    return servers["default"]


def _raw(port: int, data: bytes, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the whole answer (the server closes the connection); return status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split(" ")[1]), headers, body


def _request(port: int, method: str, path: str, body: bytes = b"", extra: str = "") -> tuple[int, dict[str, str], Any]:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    status, headers, raw = _raw(port, head.encode() + body)
    return status, headers, json.loads(raw) if raw else None


def _json_error(headers: dict[str, str], body: Any) -> str:
    assert headers["content-type"] == "application/json"
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    return str(body["error"])


def test_a_body_nested_100k_deep_is_a_400_and_the_server_keeps_serving(server: tuple[int, int]) -> None:
    port, _ = server
    deep = b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, headers, body = _request(port, "POST", "/invocations", deep)
    assert status == 400
    assert "nested too deeply" in _json_error(headers, body)
    status, _, body = _request(port, "POST", "/invocations", b'{"instances": [[3]]}')
    assert (status, body) == (200, {"predictions": [[7.0]]})


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/invocations", "POST"),
        ("DELETE", "/invocations", "POST"),
        ("PATCH", "/invocations", "POST"),
        ("GET", "/invocations", "POST"),
        ("BREW", "/invocations", "POST"),
        ("POST", "/ping", "GET, HEAD"),
        ("DELETE", "/ping", "GET, HEAD"),
    ],
)
def test_other_methods_get_405_with_a_json_body(server: tuple[int, int], method: str, path: str, allow: str) -> None:
    status, headers, body = _request(server[0], method, path, b'{"instances": [[1]]}')
    assert status == 405
    assert headers["allow"] == allow
    assert method in _json_error(headers, body)


@pytest.mark.parametrize(
    ("length_header", "status"),
    [
        ("Content-Length: abc", 400),
        ("Content-Length: -5", 400),
        ("Content-Length: 1e3", 400),
        ("Content-Length: 99999999999", 413),
        ("Transfer-Encoding: chunked", 411),
    ],
)
def test_a_bad_content_length_is_answered_with_json(server: tuple[int, int], length_header: str, status: int) -> None:
    head = f"POST /invocations HTTP/1.1\r\nHost: x\r\n{length_header}\r\n\r\n"
    got, headers, raw = _raw(server[0], head.encode())
    assert got == status
    _json_error(headers, json.loads(raw))


@pytest.mark.parametrize(
    "head",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /ping SPDY/3\r\n\r\n",
        b"GET /ping HTTP/1.1\r\nno colon here\r\n\r\n",
        b"\x16\x03\x01\r\n\r\n",
    ],
)
def test_malformed_requests_get_400_with_a_json_body(server: tuple[int, int], head: bytes) -> None:
    status, headers, raw = _raw(server[0], head)
    assert status == 400
    _json_error(headers, json.loads(raw))


def test_unknown_paths_and_loading_answers_are_json(server: tuple[int, int]) -> None:
    status, headers, body = _request(server[0], "GET", "/metrics")
    assert status == 404 and "/metrics" in _json_error(headers, body)
    status, headers, body = _request(server[0], "GET", "/ping")
    assert (status, headers["content-type"], body) == (200, "application/json", {"status": "healthy"})


def test_a_connection_that_stalls_is_answered_408_and_closed(servers: dict[str, tuple[int, int]]) -> None:
    """This server's read timeout is 2 s (the model Environment's AIRFLOW_TF_SM_LOCAL_READ_TIMEOUT)."""
    port, _ = servers["quick"]
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(b'POST /invocations HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"instan')  # 92 bytes never come
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(65536):  # a server without a read timeout never answers: recv times out
            answer += chunk
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
    assert "did not arrive" in json.loads(answer.partition(b"\r\n\r\n")[2])["error"]
    assert waited < 12
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:  # connected, never says anything
        assert sock.recv(65536).startswith(b"HTTP/1.1 408 ")


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no thread count")


@pytest.fixture
def enough_files() -> Iterator[None]:
    """This process needs a socket per half-open connection: raise its soft file limit if it is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = HALF_OPEN + 512
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"the open-file limit ({hard}) is below the {needed} this test needs")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_ping_answers_under_1000_half_open_connections_with_a_bounded_pool(
    server: tuple[int, int], enough_files: None
) -> None:
    port, pid = server
    sockets: list[socket.socket] = []
    try:
        for _ in range(HALF_OPEN):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"GET /pi")  # half a request line, then silence
            sockets.append(sock)
        # wait until the server has accepted them all (each accepted connection is one socket of its process)
        deadline = time.monotonic() + 30
        while len(os.listdir(f"/proc/{pid}/fd")) < HALF_OPEN:
            assert time.monotonic() < deadline, "the server did not accept the connections"
            time.sleep(0.05)
        threads = _threads(pid)
        status, _, body = _request(port, "GET", "/ping")
        assert (status, body) == (200, {"status": "healthy"})
        status, _, body = _request(port, "POST", "/invocations", b'{"instances": [[1]]}')
        assert (status, body) == (200, {"predictions": [[3.0]]})
        assert threads <= 20, f"{threads} threads for {HALF_OPEN} half-open connections"
    finally:
        for sock in sockets:
            sock.close()
    assert process_alive(pid, None)


def test_a_flood_beyond_the_connection_limit_drops_the_oldest_half_open_ones() -> None:
    app = ServingApp()
    app.model = LinearModel([1.0], 0.0)
    httpd = make_http_server(app, max_connections=40, read_timeout=60)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    port = httpd.server_address[1]
    sockets = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"POST /invocations HTTP/1.1\r\n")
            sockets.append(sock)
        status, _, body = _request(port, "GET", "/ping")
        assert (status, body) == (200, {"status": "healthy"})
        dropped = 0
        for sock in sockets[:100]:  # the oldest were closed to make room
            sock.settimeout(10)
            try:
                dropped += sock.recv(1) == b""
            except ConnectionResetError:
                dropped += 1
        assert dropped == 100
    finally:
        for sock in sockets:
            sock.close()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_a_stopping_server_finishes_the_requests_it_is_answering() -> None:
    started, release = threading.Event(), threading.Event()

    class Slow(LinearModel):
        def predict(self, inputs: Any) -> dict[str, Any]:
            started.set()
            release.wait(10)
            return super().predict(inputs)

    app = ServingApp()
    app.model = Slow([1.0], 0.0)
    httpd = make_http_server(app)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    answers: list[Any] = []
    client = threading.Thread(
        target=lambda: answers.append(
            _request(httpd.server_address[1], "POST", "/invocations", b'{"instances": [[4]]}')
        )
    )
    client.start()
    assert started.wait(10)
    stopper = threading.Thread(target=lambda: (httpd.shutdown(), httpd.server_close()))
    stopper.start()
    release.set()
    client.join(10)
    stopper.join(10)
    assert [(status, body) for status, _, body in answers] == [(200, {"predictions": [[4.0]]})]

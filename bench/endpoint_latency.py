"""Local endpoint: latency and requests/s of the local model server vs the SavedModel's own predict in-process.

The batch-transform benchmark's MLP (8 -> 64 -> 64 -> 3 softmax, fixed weights) is deployed on the local
backend (CreateModel, CreateEndpointConfig, CreateEndpoint; the model server is a real HTTP server on
127.0.0.1). ``POST /invocations`` with ``{"instances": [...]}`` of 1 and 100 rows is sent from 1 and 8
concurrent clients (threads of one process, each on its own keep-alive connection), a fixed number of
requests each: p50/p99 latency and requests/s. The same process loads the same SavedModel and calls its
serving signature on the same rows (one caller): the ratio is endpoint p50 / in-process p50. Every answer is
checked against the in-process predictions. Traffic goes only to 127.0.0.1; every run is bounded.

Child: ``python -m bench.endpoint_latency <json config>``.
"""

from __future__ import annotations

import http.client
import io
import json
import math
import sys
import tarfile
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from bench.common import Figure, child_env, emit, new_home, run_child, scratch_dir

IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.19.0-cpu"
ROLE = "arn:aws:iam::000000000000:role/bench"


WARM_UP = 5  # untimed requests at the start of each client (its connection)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class Run:
    """One request size and client count: every client's latencies, errors and wrong answers."""

    def __init__(self, host: str, port: int, body: bytes, expected: Any) -> None:
        self.host, self.port, self.body, self.expected = host, port, body, expected
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.bad = 0
        self.lock = threading.Lock()

    def client(self, count: int) -> None:
        """Send ``count`` timed requests (after the warm-up ones) on one keep-alive connection."""
        import numpy as np

        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            for i in range(count + WARM_UP):
                started = time.perf_counter()
                conn.request("POST", "/invocations", self.body, {"Content-Type": "application/json"})
                reply = conn.getresponse()
                data = reply.read()
                took = time.perf_counter() - started
                if reply.status != 200:
                    with self.lock:
                        self.errors.append(f"{reply.status}: {data[:200]!r}")
                    return
                predictions = np.asarray(json.loads(data)["predictions"], dtype="float32")
                with self.lock:
                    self.bad += 0 if np.allclose(predictions, self.expected, atol=1e-5) else 1
                    if i >= WARM_UP:
                        self.latencies.append(took)
        finally:
            conn.close()


def child(cfg: dict[str, Any]) -> None:
    """Deploy the model locally, load it in-process too, send the requests; print the latencies."""
    import numpy as np
    import tensorflow as tf

    from airflow_tf_sm.backends.local.clients import local_clients
    from airflow_tf_sm.backends.local.hosting_api import stop_local_endpoints
    from bench.batch_transform import build

    work = scratch_dir("airflow_tf_sm_bench_endpoint_")
    export, _ = build(work, 1)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(export, arcname="1")
    root = work / "root"
    sm, s3, _logs, _runtime = local_clients(root, "us-east-1")
    s3.put_object(Bucket="bench", Key="model/model.tar.gz", Body=buffer.getvalue())
    sm.create_model(
        ModelName="mlp",
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://bench/model/model.tar.gz"},
        ExecutionRoleArn=ROLE,
    )
    variant = {"VariantName": "AllTraffic", "ModelName": "mlp", "InitialInstanceCount": 1}
    sm.create_endpoint_config(
        EndpointConfigName="mlp-config",
        ProductionVariants=[{**variant, "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}],
    )
    sm.create_endpoint(EndpointName="bench-mlp", EndpointConfigName="mlp-config")
    deadline = time.monotonic() + 300
    while (desc := sm.describe_endpoint(EndpointName="bench-mlp"))["EndpointStatus"] not in ("InService", "Failed"):
        if time.monotonic() > deadline:
            raise SystemExit("the endpoint did not come up in 300 s")
        time.sleep(0.2)
    if desc["EndpointStatus"] != "InService":
        raise SystemExit(f"endpoint failed: {desc.get('FailureReason')}")
    url = urlsplit(desc["LocalUrl"])
    assert url.hostname == "127.0.0.1"
    rng = np.random.default_rng(3)
    rows = {n: (rng.normal(size=(n, 8)) * 3).astype("float32") for n in (1, 100)}
    serve = tf.saved_model.load(str(export)).signatures["serving_default"]

    def predict(batch: Any) -> Any:
        (out,) = serve(tf.constant(batch)).values()
        return out.numpy()

    expected = {n: predict(batch) for n, batch in rows.items()}
    results: dict[str, Any] = {"in_process": {}, "endpoint": {}}
    for n, batch in rows.items():
        for _ in range(20):  # warm-up
            predict(batch)
        times = []
        for _ in range(cfg["requests"]):
            started = time.perf_counter()
            predict(batch)
            times.append(time.perf_counter() - started)
        results["in_process"][str(n)] = times
    bad = 0
    for n, batch in rows.items():
        body = json.dumps({"instances": batch.tolist()}).encode()
        for clients in (1, 8):
            run = Run(url.hostname or "127.0.0.1", int(url.port or 80), body, expected[n])
            per_client = max(1, cfg["requests"] // clients)
            threads = [threading.Thread(target=run.client, args=(per_client,)) for _ in range(clients)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=600)
            wall = time.perf_counter() - started
            bad += run.bad
            results["endpoint"][f"{n}x{clients}"] = {
                "latencies": run.latencies,
                "rps": (per_client + WARM_UP) * clients / wall,
                "errors": run.errors[:3],
            }
    stop_local_endpoints(root)
    emit({"results": results, "bad": bad})


def measure(requests: int = 400) -> list[Figure]:
    """Run the child; return one row per request size and client count, and the in-process ratio."""
    data = run_child(["-m", "bench.endpoint_latency", json.dumps({"requests": requests})], child_env(new_home()), 900)
    results, bad = data["results"], data["bad"]
    figures = []
    for n in ("1", "100"):
        direct = results["in_process"][n]
        direct_p50 = percentile(direct, 0.5)
        for clients in (1, 8):
            run = results["endpoint"][f"{n}x{clients}"]
            lat = run["latencies"]
            if not lat:
                figures.append(Figure(f"9. Local endpoint {n}-row, {clients} clients", "no answers", "answers", False))
                continue
            p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
            ok = not run["errors"] and bad == 0
            figures.append(
                Figure(
                    f"9. Local endpoint: {n}-row requests, {clients} client{'s' if clients > 1 else ''}",
                    f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, {run['rps']:.0f} req/s; "
                    f"p50 {p50 / direct_p50:.2f}x in-process predict",
                    "every answer right (latency: reported)",
                    ok,
                    f"{len(lat)} timed requests ({n} rows of 8 features as JSON instances, keep-alive, 127.0.0.1); "
                    f"in-process serving signature on the same rows: p50 {direct_p50 * 1000:.2f} ms, "
                    f"{1 / direct_p50:.0f} calls/s from one caller; errors: {run['errors'] or 'none'}; "
                    f"answers differing from in-process: {bad}",
                )
            )
    return figures


if __name__ == "__main__":
    child(json.loads(sys.argv[1]))

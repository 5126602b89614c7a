"""Batch transform: 200,000 CSV rows through the local batch engine vs the same model's predict in one process.

A small MLP (8 -> 64 -> 64 -> 3 softmax, the example model's shape, fixed weights) is exported as a TF
Serving SavedModel. The same 200,000 CSV rows (8 features, 6 decimals) are scored two ways, each in fresh
processes that import TensorFlow and load the model themselves:

* **engine**: a local-backend transform job (``SplitType Line``, ``MultiRecord``, ``MaxPayloadInMB 1``,
  ``Accept text/csv``, ``AssembleWith Line``), timed from CreateTransformJob to the job's own end time
  (``TransformEndTime``): worker start, TensorFlow import, model load, reading, parsing, predicting,
  writing ``rows.csv.out`` and the status updates all count;
* **in-process**: one Python process that imports TensorFlow, loads the SavedModel, reads the file with
  ``numpy.loadtxt``, calls the serving signature once on all rows and writes the same CSV lines, timed
  from its start to its exit.

The throughput ratio is in-process seconds / engine seconds with ``MaxConcurrentTransforms`` 1, SageMaker's
default (rows per second of the engine over rows per second in one process). The engine runs with
``MaxConcurrentTransforms`` 1 and 2 (the speed-up on this
machine's cores): the speed-up of the scoring itself (from the job log's "Model loaded" line to its last
line) and of the whole job. Each round runs the three back to back, in rotating order; figures are medians.

Child: ``python -m bench.batch_transform <json config>``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, child_env, emit, median, new_home, run_child, scratch_dir

GOAL_RATIO = 0.8

IN_PROCESS = """
import sys, time
import numpy as np
import tensorflow as tf
model_dir, data, out = sys.argv[1:4]
serve = tf.saved_model.load(model_dir).signatures["serving_default"]
rows = np.loadtxt(data, delimiter=",", dtype=np.float32, ndmin=2)
(predictions,) = serve(tf.constant(rows)).values()
with open(out, "w") as fh:
    fh.write("\\n".join(",".join(map(str, row)) for row in predictions.numpy().tolist()) + "\\n")
"""


def build(work: Path, rows: int) -> tuple[Path, bytes]:
    """Export the model (``work/model/1``) and return it with the CSV bytes of ``rows`` rows."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(5)

    class Mlp(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            shapes = [(8, 64), (64, 64), (64, 3)]
            self.weights = [tf.Variable((rng.normal(size=s) / np.sqrt(s[0])).astype("float32")) for s in shapes]
            self.biases = [tf.Variable(np.zeros(s[1], dtype="float32")) for s in shapes]

        @tf.function(input_signature=[tf.TensorSpec([None, 8], tf.float32, name="features")])
        def __call__(self, features: Any) -> dict[str, Any]:
            hidden = features
            for index, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
                hidden = tf.matmul(hidden, w) + b
                hidden = tf.nn.relu(hidden) if index < 2 else tf.nn.softmax(hidden)
            return {"probabilities": hidden}

    mlp = Mlp()
    export = work / "model" / "1"
    tf.saved_model.save(mlp, str(export), signatures={"serving_default": mlp.__call__})
    features = rng.normal(size=(rows, 8)) * 3
    text = "\n".join(",".join(f"{v:.6f}" for v in row) for row in features) + "\n"
    return export, text.encode()


def scoring_seconds(logs: Any, name: str) -> float:
    """Seconds from "Model loaded" to the last line of the job's log: reading, scoring and writing the rows."""
    group = "/aws/sagemaker/TransformJobs"
    (stream,) = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{name}/")["logStreams"]
    events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True)
    stamps = [e["timestamp"] for e in events["events"]]
    loaded = next(e["timestamp"] for e in events["events"] if e["message"].startswith("Model loaded"))
    return (stamps[-1] - loaded) / 1000


def child(cfg: dict[str, Any]) -> None:
    """Run ``cfg["rounds"]`` rounds of engine (concurrency 1 and 2) and in-process runs; print their seconds."""
    from airflow_tf_sm.backends.local.clients import local_clients

    work = scratch_dir("airflow_tf_sm_bench_transform_")
    export, data = build(work, cfg["rows"])
    (work / "rows.csv").write_bytes(data)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(export, arcname="1")
    sm, s3, logs, _runtime = local_clients(work / "root", "us-east-1")
    s3.put_object(Bucket="bench", Key="model/model.tar.gz", Body=buffer.getvalue())
    s3.put_object(Bucket="bench", Key="score/rows.csv", Body=data)
    sm.create_model(
        ModelName="mlp",
        PrimaryContainer={"Image": "tensorflow-inference", "ModelDataUrl": "s3://bench/model/model.tar.gz"},
        ExecutionRoleArn="arn:aws:iam::000000000000:role/bench",
    )
    # warm the page cache for TensorFlow's libraries, so no side pays the first import from disk
    subprocess.run([sys.executable, "-c", "import tensorflow"], check=True, capture_output=True)
    times: dict[str, list[float]] = {"engine-1": [], "engine-2": [], "in-process": [], "scoring-1": [], "scoring-2": []}
    checks: dict[str, int] = {}

    def engine(concurrency: int, round_: int) -> None:
        name = f"bench-transform-c{concurrency}-r{round_}"
        start = time.time()
        sm.create_transform_job(
            TransformJobName=name,
            ModelName="mlp",
            TransformInput={
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bench/score/"}},
                "ContentType": "text/csv",
                "SplitType": "Line",
            },
            TransformOutput={"S3OutputPath": f"s3://bench/out/{name}", "Accept": "text/csv", "AssembleWith": "Line"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
            BatchStrategy="MultiRecord",
            MaxPayloadInMB=cfg["max_payload"],
            MaxConcurrentTransforms=concurrency,
        )
        while (desc := sm.describe_transform_job(TransformJobName=name))["TransformJobStatus"] == "InProgress":
            time.sleep(0.5)  # slow polling: the end time comes from the job itself
        if desc["TransformJobStatus"] != "Completed":
            raise SystemExit(f"{name}: {desc['TransformJobStatus']} {desc.get('FailureReason')}")
        times[f"engine-{concurrency}"].append(desc["TransformEndTime"].timestamp() - start)
        times[f"scoring-{concurrency}"].append(scoring_seconds(logs, name))
        out = s3.get_object(Bucket="bench", Key=f"out/{name}/rows.csv.out")["Body"].read()
        checks[name] = out.count(b"\n")

    def in_process() -> None:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", IN_PROCESS, str(export), str(work / "rows.csv"), str(work / "direct.out")],
            check=True,
            capture_output=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        times["in-process"].append(time.perf_counter() - start)
        checks["in-process"] = (work / "direct.out").read_bytes().count(b"\n")

    for round_ in range(cfg["rounds"]):
        steps = ["engine-1", "engine-2", "in-process"]
        for step in steps[round_ % 3 :] + steps[: round_ % 3]:
            if step == "in-process":
                in_process()
            else:
                engine(int(step[-1]), round_)
    emit({"times": times, "lines": checks, "cpus": os.cpu_count()})


def measure(rows: int = 200_000, rounds: int = 3, max_payload: int = 1) -> list[Figure]:
    """Run the comparison in a child process; return the two rows (throughput ratio, concurrency speed-up)."""
    data = run_child(
        ["-m", "bench.batch_transform", json.dumps({"rows": rows, "rounds": rounds, "max_payload": max_payload})],
        child_env(new_home()),
        timeout=1800,
    )
    times = data["times"]
    engine1, engine2, direct = median(times["engine-1"]), median(times["engine-2"]), median(times["in-process"])
    ratio = direct / engine1
    speedup = engine1 / engine2
    scoring1, scoring2 = median(times["scoring-1"]), median(times["scoring-2"])
    complete = all(count == rows for count in data["lines"].values())
    listed = "; ".join(f"{key} {', '.join(f'{s:.1f}' for s in values)} s" for key, values in times.items())
    return [
        Figure(
            f"6a. Batch transform: {rows // 1000}k CSV rows, local engine vs in-process predict",
            f"{ratio:.2f} throughput ratio ({engine1:.1f} s vs {direct:.1f} s)",
            f">= {GOAL_RATIO}",
            ratio >= GOAL_RATIO and complete,
            f"{rows} rows in {rows / engine1:,.0f} rows/s through the engine vs {rows / direct:,.0f} rows/s in one "
            f"process (both: fresh processes, TensorFlow import and model load included); the engine with "
            f"MaxConcurrentTransforms 1 (SageMaker's default; with 2: {rows / engine2:,.0f} rows/s), MultiRecord, "
            f"MaxPayloadInMB {max_payload}; every output had "
            f"{rows} lines: {'yes' if complete else 'NO'}; median of {rounds} rounds ({listed})",
        ),
        Figure(
            f"6b. Batch transform: MaxConcurrentTransforms 1 -> 2 on {data['cpus']} cores",
            f"{scoring1 / scoring2:.2f}x scoring ({scoring1:.2f} s vs {scoring2:.2f} s); whole job {speedup:.2f}x",
            "> 1.0 (scoring)",
            scoring1 / scoring2 > 1.0 and complete,
            f"scoring = from the job log's 'Model loaded' to its last line (reading, predicting and writing the "
            f"{rows} rows: what MaxConcurrentTransforms speeds up); whole job = CreateTransformJob to "
            f"TransformEndTime, {engine1:.1f} s vs {engine2:.1f} s, of which the worker's TensorFlow import and "
            "model load (the same for both) is most. With 2 in flight the one model predicts in two threads "
            "and the rows are read and written in 2 helper processes",
        ),
    ]


if __name__ == "__main__":
    child(json.loads(sys.argv[1]))

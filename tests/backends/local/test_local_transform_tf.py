"""The local batch engine with a real TensorFlow SavedModel: its outputs are the model's own predictions.

A small model (8 features -> 3 softmax probabilities, fixed weights) is exported as a TF Serving
SavedModel (``1/saved_model.pb``), packed into ``model.tar.gz`` and registered with CreateModel. Each test
runs one transform job through the detached worker and compares every prediction in the ``.out`` file, in
order, with what the SavedModel's own ``serving_default`` signature computes for the same rows (within
1e-5): CSV and JSON Lines, with and without splitting, and with JoinSource Input.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.tensorflow

BUCKET = "bucket"
ROLE = "arn:aws:iam::000000000000:role/test"
ROWS = 15_000  # about 1.2 MB of CSV: two requests with MaxPayloadInMB 1


@pytest.fixture(scope="module")
def scoring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A local root with the model ``scorer``, the rows, and the SavedModel's own predictions for them."""
    import numpy as np
    import tensorflow as tf

    from airflow_tf_sm.backends.local.clients import local_clients

    work = tmp_path_factory.mktemp("transform_tf")
    rng = np.random.default_rng(11)

    class Scorer(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(rng.normal(size=(8, 3)).astype("float32"))
            self.b = tf.Variable(rng.normal(size=(3,)).astype("float32"))

        @tf.function(input_signature=[tf.TensorSpec([None, 8], tf.float32, name="features")])
        def __call__(self, features: Any) -> dict[str, Any]:
            return {"probabilities": tf.nn.softmax(tf.matmul(features, self.w) + self.b)}

    scorer = Scorer()
    export = work / "export" / "1"
    tf.saved_model.save(scorer, str(export), signatures={"serving_default": scorer.__call__})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(export, arcname="1")

    features = np.round(rng.normal(size=(ROWS, 8)) * 3, 6).astype("float32")
    serve = tf.saved_model.load(str(export)).signatures["serving_default"]
    expected = serve(features=tf.constant(features))["probabilities"].numpy()

    root = work / "root"
    sm, s3, _logs, _runtime = local_clients(root, "us-east-1", stop_grace=2.0)
    s3.put_object(Bucket=BUCKET, Key="models/scorer/model.tar.gz", Body=buffer.getvalue())
    sm.create_model(
        ModelName="scorer",
        PrimaryContainer={"Image": "tensorflow-inference", "ModelDataUrl": f"s3://{BUCKET}/models/scorer/model.tar.gz"},
        ExecutionRoleArn=ROLE,
    )
    texts = [",".join(f"{v:.6f}" for v in row) for row in features]
    s3.put_object(Bucket=BUCKET, Key="csv/day.csv", Body="\n".join(texts) + "\n")
    s3.put_object(Bucket=BUCKET, Key="ids/day.csv", Body="".join(f"row-{i},{t}\n" for i, t in enumerate(texts)))
    lines = [json.dumps([float(v) for v in t.split(",")]) for t in texts]
    s3.put_object(Bucket=BUCKET, Key="jsonl/day.jsonl", Body="\n".join(lines) + "\n")
    objects = [json.dumps({"id": f"row-{i}", "features": json.loads(line)}) for i, line in enumerate(lines)]
    s3.put_object(Bucket=BUCKET, Key="objects/day.jsonl", Body="\n".join(objects) + "\n")
    yield {"sm": sm, "s3": s3, "expected": expected}


def run(scoring: dict[str, Any], name: str, data: str, *, content_type: str, **request: Any) -> bytes:
    """Run one transform job over ``data`` to Completed; return its ``.out`` file."""
    sm, s3 = scoring["sm"], scoring["s3"]
    split = request.pop("split_type", None)
    transform_input: dict[str, Any] = {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{data}/"}},
        "ContentType": content_type,
    }
    if split:
        transform_input["SplitType"] = split
    sm.create_transform_job(
        TransformJobName=name,
        ModelName="scorer",
        TransformInput=transform_input,
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/out/{name}", **request.pop("output", {})},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **request,
    )
    deadline = time.monotonic() + 240
    while (desc := sm.describe_transform_job(TransformJobName=name))["TransformJobStatus"] in (
        "InProgress",
        "Stopping",
    ):
        assert time.monotonic() < deadline, f"{name} still running"
        time.sleep(0.2)
    assert desc["TransformJobStatus"] == "Completed", desc.get("FailureReason")
    (item,) = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"out/{name}/")["Contents"]
    assert item["Key"].endswith(".out")
    return bytes(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())


def assert_predictions(got: Any, scoring: dict[str, Any]) -> None:
    import numpy as np

    array = np.asarray(got, dtype="float64")
    assert array.shape == (ROWS, 3)
    np.testing.assert_allclose(array, scoring["expected"], atol=1e-5, rtol=0)


def test_csv_split_by_line_in_multi_record_requests(scoring: dict[str, Any]) -> None:
    out = run(
        scoring,
        "csv-line",
        "csv",
        content_type="text/csv",
        split_type="Line",
        BatchStrategy="MultiRecord",
        MaxPayloadInMB=1,
        MaxConcurrentTransforms=2,
        output={"AssembleWith": "Line", "Accept": "text/csv"},
    )
    assert_predictions([[float(v) for v in line.split(",")] for line in out.decode().splitlines()], scoring)


def test_csv_without_splitting_is_one_request(scoring: dict[str, Any]) -> None:
    out = run(scoring, "csv-whole", "csv", content_type="text/csv", MaxPayloadInMB=6)
    assert_predictions(json.loads(out)["predictions"], scoring)


def test_json_lines_split_by_line(scoring: dict[str, Any]) -> None:
    out = run(
        scoring,
        "jsonl-line",
        "jsonl",
        content_type="application/jsonlines",
        split_type="Line",
        BatchStrategy="MultiRecord",
        MaxPayloadInMB=1,
        output={"AssembleWith": "Line", "Accept": "application/jsonlines"},
    )
    assert_predictions([json.loads(line) for line in out.decode().splitlines()], scoring)


def test_json_lines_without_splitting(scoring: dict[str, Any]) -> None:
    out = run(scoring, "jsonl-whole", "jsonl", content_type="application/jsonlines", MaxPayloadInMB=6)
    assert_predictions(json.loads(out)["predictions"], scoring)


def test_csv_join_source_input_keeps_the_id_with_its_prediction(scoring: dict[str, Any]) -> None:
    out = run(
        scoring,
        "csv-join",
        "ids",
        content_type="text/csv",
        split_type="Line",
        BatchStrategy="MultiRecord",
        MaxPayloadInMB=1,
        MaxConcurrentTransforms=2,
        output={"AssembleWith": "Line", "Accept": "text/csv"},
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-3,-2,-1]"},
    )
    rows = [line.split(",") for line in out.decode().splitlines()]
    assert [row[0] for row in rows] == [f"row-{i}" for i in range(ROWS)]
    assert_predictions([[float(v) for v in row[1:]] for row in rows], scoring)


def test_json_lines_join_source_input(scoring: dict[str, Any]) -> None:
    out = run(
        scoring,
        "jsonl-join",
        "objects",
        content_type="application/jsonlines",
        split_type="Line",
        BatchStrategy="MultiRecord",
        output={"AssembleWith": "Line", "Accept": "application/jsonlines"},
        DataProcessing={
            "InputFilter": "$.features",
            "JoinSource": "Input",
            "OutputFilter": "$['id','SageMakerOutput']",
        },
    )
    records = [json.loads(line) for line in out.decode().splitlines()]
    assert [r["id"] for r in records] == [f"row-{i}" for i in range(ROWS)]
    assert all(set(r) == {"id", "SageMakerOutput"} for r in records)
    assert_predictions([r["SageMakerOutput"] for r in records], scoring)

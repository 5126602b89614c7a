"""The local batch transform engine: CreateTransformJob / Describe / List / Stop, records, batches, outputs.

The worker is the real detached process (``batch.py``). These tests load a fake linear model
(``fake_models``: ``score = x . w + b``, no TensorFlow) through the model server's loader hook, so they
check the engine itself: splitting, batching, concurrency, order, data processing, failures and stops.
The real-TensorFlow tests are in ``test_local_transform_tf.py``.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from fake_models import model_tar

from airflow_tf_sm.backends.local.clients import local_clients
from airflow_tf_sm.backends.local.serving import LOADER_ENV

HERE = Path(__file__).resolve().parent
BUCKET = "bucket"
ROLE = "arn:aws:iam::000000000000:role/test"
TERMINAL = ("Completed", "Failed", "Stopped")


@pytest.fixture
def transform(local_root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, Any]:
    """(sagemaker, s3, logs) local clients whose batch workers load fake models; a model ``linear`` exists."""
    monkeypatch.setenv(LOADER_ENV, "fake_models:load")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p))
    sm, s3, logs, _runtime = local_clients(local_root, "us-east-1", stop_grace=1.0)
    add_model(sm, s3, "linear", {"weights": [1.0, 2.0], "bias": 0.5})
    return sm, s3, logs


def add_model(sm: Any, s3: Any, name: str, spec: dict[str, Any]) -> None:
    s3.put_object(
        Bucket=BUCKET, Key=f"models/{name}/model.tar.gz", Body=model_tar({"fake.json": json.dumps(spec).encode()})
    )
    sm.create_model(
        ModelName=name,
        PrimaryContainer={"Image": "image", "ModelDataUrl": f"s3://{BUCKET}/models/{name}/model.tar.gz"},
        ExecutionRoleArn=ROLE,
    )


def create(sm: Any, name: str, data: str, out: str = "out", *, model: str = "linear", **extra: Any) -> None:
    """Create a transform job; ``extra`` holds ``input`` / ``output`` fields and top-level request keys."""
    transform_input = {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{data}"}}}
    transform_input.update(extra.pop("input", {}))
    transform_output = {"S3OutputPath": f"s3://{BUCKET}/{out}", **extra.pop("output", {})}
    sm.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        TransformInput=transform_input,
        TransformOutput=transform_output,
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **extra,
    )


def wait(sm: Any, name: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_transform_job(TransformJobName=name)
        if desc["TransformJobStatus"] in TERMINAL:
            return desc
        if time.monotonic() > deadline:
            raise AssertionError(f"transform job {name} still {desc['TransformJobStatus']}")
        time.sleep(0.05)


def read(s3: Any, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def put(s3: Any, key: str, body: bytes | str) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


CSV_LINE = {"input": {"ContentType": "text/csv", "SplitType": "Line"}}


def rows(n: int) -> list[tuple[int, int]]:
    return [(i, i % 7) for i in range(n)]


def scores(pairs: list[tuple[int, int]]) -> list[float]:
    return [x + 2.0 * y + 0.5 for x, y in pairs]


# ---------------------------------------------------------------------------------------------
# CSV: batching, concurrency, order, assembly
# ---------------------------------------------------------------------------------------------
def log_messages(logs: Any, job: str) -> list[str]:
    group = "/aws/sagemaker/TransformJobs"
    (stream,) = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{job}/")["logStreams"]
    assert stream["logStreamName"].startswith(f"{job}/local-1-")
    events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True)
    return [e["message"] for e in events["events"]]


def test_requests_are_cut_at_max_payload_and_run_concurrently_in_record_order(
    transform: tuple[Any, Any, Any],
) -> None:
    sm, s3, logs = transform
    pairs = rows(300_000)  # about 2.6 MB of CSV: three requests of at most 1 MB
    body = "".join(f"{x},{y}\n" for x, y in pairs)
    assert 2 * 1024 * 1024 < len(body) < 3 * 1024 * 1024
    put(s3, "in/a.csv", body)
    create(
        sm,
        "csv-cut",
        "in/",
        **CSV_LINE,
        output={"AssembleWith": "Line", "Accept": "text/csv"},
        BatchStrategy="MultiRecord",
        MaxPayloadInMB=1,
        MaxConcurrentTransforms=2,
    )
    assert wait(sm, "csv-cut")["TransformJobStatus"] == "Completed"
    assert [float(v) for v in read(s3, "out/a.csv.out").decode().splitlines()] == scores(pairs)
    messages = log_messages(logs, "csv-cut")
    assert any("300000 record(s) in 3 request(s)" in m for m in messages), messages


def test_many_single_record_requests_in_flight_keep_record_order(transform: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = transform
    pairs = rows(400)
    put(s3, "in/a.csv", "".join(f"{x},{y}\n" for x, y in pairs))
    create(
        sm,
        "csv-single",
        "in/",
        **CSV_LINE,
        output={"AssembleWith": "Line", "Accept": "text/csv"},
        BatchStrategy="SingleRecord",
        MaxConcurrentTransforms=4,
    )
    assert wait(sm, "csv-single")["TransformJobStatus"] == "Completed"
    assert [float(v) for v in read(s3, "out/a.csv.out").decode().splitlines()] == scores(pairs)


def test_single_record_strategy_and_assemble_with_none(transform: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = transform
    put(s3, "in/a.csv", "1,1\n\n2,2\r\n3,3\n")
    create(sm, "single", "in/", **CSV_LINE, output={"Accept": "text/csv"}, BatchStrategy="SingleRecord")
    assert wait(sm, "single")["TransformJobStatus"] == "Completed"
    # AssembleWith None concatenates the outputs of the requests, as SageMaker does
    assert read(s3, "out/a.csv.out") == b"3.56.59.5"


def test_default_accept_writes_the_tf_serving_body_per_request(transform: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = transform
    put(s3, "in/a.csv", "1,1\n2,2\n")
    create(sm, "json-out", "in/", input={"ContentType": "text/csv"}, output={"AssembleWith": "Line"})
    assert wait(sm, "json-out")["TransformJobStatus"] == "Completed"
    # SplitType None: the whole object is one request; the container's answer is written as it is
    assert read(s3, "out/a.csv.out") == b'{"predictions": [[3.5], [6.5]]}\n'


def test_two_objects_in_sub_prefixes_give_two_outputs_at_the_same_relative_paths(
    transform: tuple[Any, Any, Any],
) -> None:
    sm, s3, _ = transform
    put(s3, "day/north/a.csv", "1,0\n")
    put(s3, "day/south/deep/b.csv", "0,1\n")
    put(s3, "day-other/c.csv", "9,9\n")  # another prefix: not scored
    create(sm, "prefixes", "day/", "scores", **CSV_LINE, output={"Accept": "text/csv", "AssembleWith": "Line"})
    assert wait(sm, "prefixes")["TransformJobStatus"] == "Completed"
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="scores/")["Contents"]]
    assert listed == ["scores/north/a.csv.out", "scores/south/deep/b.csv.out"]
    assert read(s3, "scores/north/a.csv.out") == b"1.5\n"
    assert read(s3, "scores/south/deep/b.csv.out") == b"2.5\n"


def test_manifest_and_gzip(transform: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = transform
    put(s3, "raw/x/one.csv.gz", gzip.compress(b"1,1\n"))
    put(s3, "raw/two.csv.gz", gzip.compress(b"2,2\n"))
    put(s3, "raw/skipped.csv.gz", gzip.compress(b"5,5\n"))
    put(s3, "lists/day.manifest", json.dumps([{"prefix": f"s3://{BUCKET}/raw/"}, "x/one.csv.gz", "two.csv.gz"]))
    manifest = {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": f"s3://{BUCKET}/lists/day.manifest"}}
    create(
        sm,
        "manifest",
        "lists/day.manifest",
        input={"DataSource": manifest, "ContentType": "text/csv", "SplitType": "Line", "CompressionType": "Gzip"},
        output={"Accept": "text/csv"},
    )
    desc = wait(sm, "manifest")
    assert desc["TransformJobStatus"] == "Completed", desc.get("FailureReason")
    assert read(s3, "out/x/one.csv.gz.out") == b"3.5"
    assert read(s3, "out/two.csv.gz.out") == b"6.5"
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix="out/skipped").get("Contents")


# ---------------------------------------------------------------------------------------------
# JSON and data processing
# ---------------------------------------------------------------------------------------------
def test_json_lines_with_join_and_output_filter(transform: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = transform
    put(s3, "in/a.jsonl", '{"id": "a", "features": [1, 1]}\n{"id": "b", "features": [2, 2]}\n')
    put(s3, "in/b.jsonl", "[3, 3]\n")
    create(
        sm,
        "json-join",
        "in/",
        input={"ContentType": "application/jsonlines", "SplitType": "Line"},
        output={"AssembleWith": "Line", "Accept": "application/jsonlines"},
        BatchStrategy="MultiRecord",
        DataProcessing={
            "InputFilter": "$.features",
            "JoinSource": "Input",
            "OutputFilter": "$['id','SageMakerOutput']",
        },
    )
    desc = wait(sm, "json-join")
    assert desc["TransformJobStatus"] == "Failed"  # b.jsonl has no "id" after the join: only that object fails
    assert "s3://bucket/in/b.jsonl" in desc["FailureReason"] and "record 1 (line 1)" in desc["FailureReason"]
    assert [json.loads(line) for line in read(s3, "out/a.jsonl.out").decode().splitlines()] == [
        {"id": "a", "SageMakerOutput": [3.5]},
        {"id": "b", "SageMakerOutput": [6.5]},
    ]


def test_json_join_wraps_an_input_that_is_not_an_object(transform: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = transform
    put(s3, "in/b.jsonl", "[3, 3]\n[1, 0]\n")
    create(
        sm,
        "json-wrap",
        "in/",
        input={"ContentType": "application/jsonlines", "SplitType": "Line"},
        output={"AssembleWith": "Line"},
        BatchStrategy="MultiRecord",
        DataProcessing={"JoinSource": "Input"},
    )
    assert wait(sm, "json-wrap")["TransformJobStatus"] == "Completed"
    assert [json.loads(line) for line in read(s3, "out/b.jsonl.out").decode().splitlines()] == [
        {"SageMakerInput": [3, 3], "SageMakerOutput": [9.5]},
        {"SageMakerInput": [1, 0], "SageMakerOutput": [1.5]},
    ]


def test_csv_input_filter_join_and_output_filter(transform: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = transform
    put(s3, "in/a.csv", 'id-1,1,1\n"id,2",2,2\n')
    create(
        sm,
        "csv-join",
        "in/",
        **CSV_LINE,
        output={"AssembleWith": "Line", "Accept": "text/csv"},
        BatchStrategy="MultiRecord",
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"},
    )
    assert wait(sm, "csv-join")["TransformJobStatus"] == "Completed"
    assert read(s3, "out/a.csv.out") == b'id-1,3.5\n"id,2",6.5\n'


def test_a_whole_json_document_is_one_request(transform: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = transform
    put(s3, "in/doc.json", json.dumps({"instances": [[1, 1], [0, 0]]}))
    create(sm, "json-doc", "in/", input={"ContentType": "application/json"}, DataProcessing={"JoinSource": "Input"})
    assert wait(sm, "json-doc")["TransformJobStatus"] == "Completed"
    assert json.loads(read(s3, "out/doc.json.out")) == {
        "instances": [[1, 1], [0, 0]],
        "SageMakerOutput": {"predictions": [[3.5], [0.5]]},
    }


# ---------------------------------------------------------------------------------------------
# failures and stops
# ---------------------------------------------------------------------------------------------
def test_a_malformed_row_fails_the_job_naming_the_object_and_record(transform: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = transform
    good = "".join(f"{i},{i}\n" for i in range(1000))
    put(s3, "in/a-good.csv", good)
    put(s3, "in/b-bad.csv", "1,1\n2,2\n\n3,oops\n4,4\n")
    put(s3, "in/c-good.csv", "5,5\n")
    create(
        sm,
        "malformed",
        "in/",
        **CSV_LINE,
        output={"Accept": "text/csv", "AssembleWith": "Line"},
        BatchStrategy="MultiRecord",
    )
    desc = wait(sm, "malformed")
    assert desc["TransformJobStatus"] == "Failed"
    reason = desc["FailureReason"]
    assert reason.startswith("ClientError: s3://bucket/in/b-bad.csv: record 3 (line 4): CSV row is not numeric"), reason
    # the other objects' outputs are kept; the failed object gets none
    assert len(read(s3, "out/a-good.csv.out").splitlines()) == 1000
    assert read(s3, "out/c-good.csv.out") == b"15.5\n"
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix="out/b-bad").get("Contents")


def test_a_record_the_model_refuses_is_found_in_its_request(transform: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = transform
    put(s3, "in/a.csv", "".join(f"{i},{i}\n" for i in range(500)) + "1,2,3\n" + "7,7\n")
    create(sm, "refused", "in/", **CSV_LINE, output={"Accept": "text/csv"}, BatchStrategy="MultiRecord")
    desc = wait(sm, "refused")
    assert desc["TransformJobStatus"] == "Failed"
    assert "s3://bucket/in/a.csv: record 501 (line 501): each row needs 2 numbers" in desc["FailureReason"]


def test_a_record_larger_than_max_payload_fails_its_object(transform: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = transform
    put(s3, "in/a.csv", "1," + "0" * (1024 * 1024 + 10) + "\n")
    create(sm, "too-large", "in/", **CSV_LINE, MaxPayloadInMB=1)
    desc = wait(sm, "too-large")
    assert desc["TransformJobStatus"] == "Failed"
    assert "record 1 (line 1)" in desc["FailureReason"] and "MaxPayloadInMB (1 MB)" in desc["FailureReason"]


def test_no_input_objects_fails_the_job(transform: tuple[Any, Any, Any]) -> None:
    sm, _, _ = transform
    create(sm, "empty", "nothing/", **CSV_LINE)
    desc = wait(sm, "empty")
    assert desc["TransformJobStatus"] == "Failed" and "No S3 objects found" in desc["FailureReason"]


def test_a_model_that_cannot_load_fails_the_job(transform: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = transform
    add_model(sm, s3, "broken", {"fail": "weights are corrupt"})
    put(s3, "in/a.csv", "1,1\n")
    create(sm, "broken-model", "in/", model="broken", **CSV_LINE)
    desc = wait(sm, "broken-model")
    assert desc["TransformJobStatus"] == "Failed"
    assert "the model cannot be loaded: weights are corrupt" in desc["FailureReason"]


def test_stop_while_the_model_loads_ends_the_job_stopped_without_waiting_for_the_load(
    transform: tuple[Any, Any, Any],
) -> None:
    sm, s3, logs = transform
    add_model(sm, s3, "slow", {"weights": [1.0, 2.0], "bias": 0.5, "load_seconds": 600})
    put(s3, "in/a.csv", "1,1\n")
    create(sm, "to-stop", "in/", model="slow", **CSV_LINE)
    assert sm.describe_transform_job(TransformJobName="to-stop")["TransformJobStatus"] == "InProgress"
    deadline = time.monotonic() + 60
    while not any(m.startswith("Starting local batch transform job") for m in log_messages(logs, "to-stop")):
        assert time.monotonic() < deadline, "the worker never started"
        time.sleep(0.05)
    sm.stop_transform_job(TransformJobName="to-stop")
    assert sm.describe_transform_job(TransformJobName="to-stop")["TransformJobStatus"] in ("Stopping", "Stopped")
    # the model takes 600 s to load: a stop that waited for the load would time out here
    assert wait(sm, "to-stop", timeout=60)["TransformJobStatus"] == "Stopped"
    messages = log_messages(logs, "to-stop")
    assert "Transform job stopped while the model loaded" in messages
    assert not any(m.startswith("Scored") for m in messages)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="out/").get("KeyCount") == 0
    with pytest.raises(ClientError) as ended:
        sm.stop_transform_job(TransformJobName="to-stop")
    assert "is in status Stopped" in ended.value.response["Error"]["Message"]


# ---------------------------------------------------------------------------------------------
# the API's shapes and create-time errors
# ---------------------------------------------------------------------------------------------
def test_describe_list_and_tags(transform: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = transform
    put(s3, "in/a.csv", "1,1\n")
    create(sm, "shape-1", "in/", **CSV_LINE, Tags=[{"Key": "team", "Value": "ml"}], Environment={"A": "1"})
    desc = wait(sm, "shape-1")
    assert desc["TransformJobArn"] == "arn:aws:sagemaker:us-east-1:000000000000:transform-job/shape-1"
    assert desc["ModelName"] == "linear" and desc["Environment"] == {"A": "1"}
    assert desc["TransformInput"]["SplitType"] == "Line"
    assert desc["TransformStartTime"] <= desc["TransformEndTime"] and desc["CreationTime"].tzinfo is not None
    assert "LastModifiedTime" not in desc  # DescribeTransformJob has none (the list summary has)
    summaries = sm.list_transform_jobs(NameContains="shape")["TransformJobSummaries"]
    assert [s["TransformJobName"] for s in summaries] == ["shape-1"] and summaries[0][
        "TransformJobStatus"
    ] == "Completed"
    assert sm.list_transform_jobs(StatusEquals="Failed")["TransformJobSummaries"] == []
    assert sm.list_tags(ResourceArn=desc["TransformJobArn"])["Tags"] == [{"Key": "team", "Value": "ml"}]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"input": {"SplitType": "RecordIO", "ContentType": "application/x-recordio"}},
            "SplitType RecordIO is not supported",
        ),
        ({"input": {"SplitType": "TFRecord"}}, "SplitType TFRecord is not supported by the local backend"),
        ({"input": {"ContentType": "image/png"}}, "ContentType image/png is not read by the local engine"),
        ({"output": {"Accept": "text/html"}}, "Accept text/html is not rendered"),
        ({"BatchStrategy": "MultiRecord"}, "MultiRecord needs a SplitType"),
        ({"model": "missing"}, 'Could not find model "arn:aws:sagemaker:us-east-1:000000000000:model/missing"'),
        ({"MaxPayloadInMB": "six"}, "MaxPayloadInMB"),
    ],
)
def test_create_time_errors(transform: tuple[Any, Any, Any], changes: dict[str, Any], message: str) -> None:
    sm, _, _ = transform
    with pytest.raises(ClientError) as err:
        create(sm, "refused-job", "in/", **changes)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert message in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        sm.describe_transform_job(TransformJobName="refused-job")


def test_names_are_never_reused(transform: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = transform
    put(s3, "in/a.csv", "1,1\n")
    create(sm, "once", "in/", **CSV_LINE)
    wait(sm, "once")
    with pytest.raises(ClientError) as err:
        create(sm, "once", "in/", **CSV_LINE)
    assert err.value.response["Error"]["Code"] == "ResourceInUse"
    with pytest.raises(ClientError) as unknown:
        sm.describe_transform_job(TransformJobName="never-created")
    assert "Could not find requested job" in unknown.value.response["Error"]["Message"]


def test_a_dead_worker_fails_the_job(transform: tuple[Any, Any, Any], local_root: Path) -> None:
    import signal

    from airflow_tf_sm.backends.local.transforms import TransformStore

    sm, s3, _ = transform
    add_model(sm, s3, "slow-2", {"weights": [1.0, 2.0], "bias": 0.5, "load_seconds": 60})
    put(s3, "in/a.csv", "1,1\n")
    create(sm, "killed", "in/", model="slow-2", **CSV_LINE)
    store = TransformStore(local_root)
    deadline = time.monotonic() + 30
    while not (store.load("killed").get("worker") or {}).get("pid"):
        assert time.monotonic() < deadline, "the worker never recorded its pid"
        time.sleep(0.05)
    os.killpg(int(store.load("killed")["worker"]["pid"]), signal.SIGKILL)
    desc = wait(sm, "killed")
    assert desc["TransformJobStatus"] == "Failed" and "worker process died" in desc["FailureReason"]

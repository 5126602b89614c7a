"""The local CloudWatch Logs client: streams, tokens and continuation."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from airflow_tf_sm.backends.local.clients import LocalLogsClient
from airflow_tf_sm.backends.local.logstore import LogStore, StreamWriter
from airflow_tf_sm.sagemaker.resources import TRAINING_LOG_GROUP as LOG_GROUP

STREAM = "job-a/algo-1-1700000000"


@pytest.fixture
def logs(local_root: Path) -> LocalLogsClient:
    return LocalLogsClient(local_root)


@pytest.fixture
def writer(local_root: Path) -> StreamWriter:
    return StreamWriter(LogStore(local_root).create_stream(LOG_GROUP, STREAM))


def test_forward_token_continues_and_repeats_when_nothing_new(logs: LocalLogsClient, writer: StreamWriter) -> None:
    for i in range(3):
        writer.write(f"line {i}", timestamp=1700000000 + i)
    first = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=STREAM, startFromHead=True, limit=2)
    assert [e["message"] for e in first["events"]] == ["line 0", "line 1"]
    assert first["events"][0]["timestamp"] == 1700000000000
    assert set(first["events"][0]) == {"timestamp", "message", "ingestionTime"}
    second = logs.get_log_events(
        logGroupName=LOG_GROUP, logStreamName=STREAM, startFromHead=True, nextToken=first["nextForwardToken"]
    )
    assert [e["message"] for e in second["events"]] == ["line 2"]
    idle = logs.get_log_events(
        logGroupName=LOG_GROUP, logStreamName=STREAM, startFromHead=True, nextToken=second["nextForwardToken"]
    )
    assert idle["events"] == []
    assert idle["nextForwardToken"] == second["nextForwardToken"]  # same token when nothing is new
    writer.write("line 3")
    later = logs.get_log_events(
        logGroupName=LOG_GROUP, logStreamName=STREAM, startFromHead=True, nextToken=idle["nextForwardToken"]
    )
    assert [e["message"] for e in later["events"]] == ["line 3"]


def test_default_returns_newest_and_backward_token_pages_back(logs: LocalLogsClient, writer: StreamWriter) -> None:
    for i in range(5):
        writer.write(f"line {i}")
    newest = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=STREAM, limit=2)
    assert [e["message"] for e in newest["events"]] == ["line 3", "line 4"]
    older = logs.get_log_events(
        logGroupName=LOG_GROUP, logStreamName=STREAM, limit=2, nextToken=newest["nextBackwardToken"]
    )
    assert [e["message"] for e in older["events"]] == ["line 1", "line 2"]
    after_newest = logs.get_log_events(
        logGroupName=LOG_GROUP, logStreamName=STREAM, nextToken=newest["nextForwardToken"]
    )
    assert after_newest["events"] == []


def test_partial_line_is_not_returned_until_complete(
    logs: LocalLogsClient, writer: StreamWriter, local_root: Path
) -> None:
    writer.write("whole")
    path = LogStore(local_root).stream_path(LOG_GROUP, STREAM)
    with open(path, "ab") as fh:
        fh.write(b'{"timestamp": 1, "message": "half')
    got = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=STREAM, startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["whole"]
    with open(path, "ab") as fh:
        fh.write(b'", "ingestionTime": 1}\n')
    rest = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=STREAM, nextToken=got["nextForwardToken"])
    assert [e["message"] for e in rest["events"]] == ["half"]


def test_describe_log_streams_prefix_order_and_paging(logs: LocalLogsClient, local_root: Path) -> None:
    store = LogStore(local_root)
    for name, ts in (("job-a/algo-2-1", 30), ("job-a/algo-1-1", 20), ("job-b/algo-1-1", 10)):
        StreamWriter(store.create_stream(LOG_GROUP, name)).write("x", timestamp=ts)
    got = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix="job-a/")
    assert [s["logStreamName"] for s in got["logStreams"]] == ["job-a/algo-1-1", "job-a/algo-2-1"]
    assert got["logStreams"][0]["lastEventTimestamp"] == 20000
    by_time = logs.describe_log_streams(logGroupName=LOG_GROUP, orderBy="LastEventTime", descending=True)
    assert [s["logStreamName"] for s in by_time["logStreams"]] == [
        "job-a/algo-2-1",
        "job-a/algo-1-1",
        "job-b/algo-1-1",
    ]
    page = logs.describe_log_streams(logGroupName=LOG_GROUP, limit=2)
    rest = logs.describe_log_streams(logGroupName=LOG_GROUP, limit=2, nextToken=page["nextToken"])
    assert len(page["logStreams"]) == 2 and [s["logStreamName"] for s in rest["logStreams"]] == ["job-b/algo-1-1"]
    assert "nextToken" not in rest
    with pytest.raises(ClientError) as err:
        logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix="job", orderBy="LastEventTime")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_missing_group_or_stream_is_resource_not_found(logs: LocalLogsClient, writer: StreamWriter) -> None:
    with pytest.raises(ClientError) as err:
        logs.describe_log_streams(logGroupName="/aws/sagemaker/Nope")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        logs.get_log_events(logGroupName=LOG_GROUP, logStreamName="job-a/algo-9-1")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=STREAM, nextToken="garbage")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


# ------------------------------------------------------------------ FilterLogEvents
def test_filter_log_events_interleaves_chosen_streams_by_timestamp_and_pages(
    logs: LocalLogsClient, local_root: Path
) -> None:
    store = LogStore(local_root)
    one = StreamWriter(store.create_stream(LOG_GROUP, "job-a/algo-1-1"))
    two = StreamWriter(store.create_stream(LOG_GROUP, "job-a/algo-2-1"))
    other = StreamWriter(store.create_stream(LOG_GROUP, "job-b/algo-1-1"))
    one.write("a0", timestamp=1700000000.000)
    two.write("b0", timestamp=1700000000.001)
    one.write("a1", timestamp=1700000000.002)
    other.write("x0", timestamp=1700000000.001)
    two.write("b1", timestamp=1700000000.003, stream="stderr")

    page = logs.filter_log_events(
        logGroupName=LOG_GROUP, logStreamNames=["job-a/algo-1-1", "job-a/algo-2-1", "job-z/none"], limit=3
    )
    assert [(e["logStreamName"], e["message"], e["timestamp"]) for e in page["events"]] == [
        ("job-a/algo-1-1", "a0", 1700000000000),
        ("job-a/algo-2-1", "b0", 1700000000001),
        ("job-a/algo-1-1", "a1", 1700000000002),
    ]
    assert set(page["events"][0]) == {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}
    assert len({e["eventId"] for e in page["events"]}) == 3
    rest = logs.filter_log_events(
        logGroupName=LOG_GROUP, logStreamNames=["job-a/algo-1-1", "job-a/algo-2-1"], nextToken=page["nextToken"]
    )
    assert [(e["message"], e.get("stream")) for e in rest["events"]] == [("b1", "stderr")]
    assert "nextToken" not in rest

    since = logs.filter_log_events(logGroupName=LOG_GROUP, logStreamNamePrefix="job-", startTime=1700000000001)
    assert [e["message"] for e in since["events"]] == ["b0", "x0", "a1", "b1"]  # startTime is inclusive
    until = logs.filter_log_events(logGroupName=LOG_GROUP, endTime=1700000000001, interleaved=True)
    assert [e["message"] for e in until["events"]] == ["a0", "b0", "x0"]  # endTime too


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"logStreamNames": ["a"], "logStreamNamePrefix": "a"}, "InvalidParameterException"),
        ({"logStreamNames": [f"s{i}" for i in range(101)]}, "InvalidParameterException"),
        ({"limit": 0}, "InvalidParameterException"),
        ({"filterPattern": "ERROR"}, "InvalidParameterException"),
        ({"logGroupName": "/aws/sagemaker/Nothing"}, "ResourceNotFoundException"),
    ],
)
def test_filter_log_events_rejects_what_the_api_rejects(
    logs: LocalLogsClient, writer: StreamWriter, kwargs: dict[str, object], code: str
) -> None:
    with pytest.raises(ClientError) as caught:
        logs.filter_log_events(**{"logGroupName": LOG_GROUP, **kwargs})  # type: ignore[arg-type]
    assert caught.value.response["Error"]["Code"] == code

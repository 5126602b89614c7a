"""The local state store under crashes, full disks and corrupt records: names never wedge, errors name the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from local_helpers import make_request, stage_code, wait_for_status

from airflow_tf_sm.backends.local.cli import main as cli_main
from airflow_tf_sm.backends.local.clients import local_clients
from airflow_tf_sm.backends.local.hosting import ENDPOINT, ENDPOINT_CONFIG, MODEL, HostingStore

REPO = Path(__file__).resolve().parents[3]
SCRIPT = "print('trained')\n"


def _crash_during_create(root: Path, name: str) -> None:
    """Run Engine.create in a process that dies (exit without cleanup) when it writes the state file."""
    code = textwrap.dedent(
        """
        import os, sys
        from airflow_tf_sm.backends.local import state
        from airflow_tf_sm.backends.local.engine import Engine

        def crash(path, data):
            with open(path, "w") as fh:
                fh.write('{"name": "')  # half a file, then the process is gone
            os._exit(9)

        state.write_json_atomic = crash
        Engine(sys.argv[1]).create(sys.argv[2], {"TrainingJobName": sys.argv[2]}, "us-east-1")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(root), name],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 9, result.stderr


def _not_found(sm: Any, name: str) -> None:
    with pytest.raises(ClientError) as err:
        sm.describe_training_job(TrainingJobName=name)
    assert err.value.response["Error"] == {"Code": "ValidationException", "Message": "Requested resource not found."}


def test_a_create_that_crashed_leaves_the_name_free_and_the_next_create_cleans_up(
    clients: tuple[Any, Any, Any], local_root: Path
) -> None:
    sm, s3, _ = clients
    _crash_during_create(local_root, "crashed-job")
    jobs = local_root / "jobs"
    assert [p.name for p in jobs.iterdir() if "crashed-job" in p.name], "the crash left nothing to clean"
    _not_found(sm, "crashed-job")
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []
    with pytest.raises(ClientError) as err:
        sm.stop_training_job(TrainingJobName="crashed-job")
    assert err.value.response["Error"]["Message"] == "Requested resource not found."

    code = stage_code(s3, {"train.py": SCRIPT})
    sm.create_training_job(**make_request("crashed-job", code))
    assert wait_for_status(sm, "crashed-job")["TrainingJobStatus"] == "Completed"
    assert sorted(p.name for p in jobs.iterdir()) == ["crashed-job"]  # the crashed create's files are gone


def test_a_directory_without_a_state_file_does_not_block_the_name(
    clients: tuple[Any, Any, Any], local_root: Path
) -> None:
    """What a crash of an older version left: the job directory with some files but no job.json."""
    sm, s3, _ = clients
    leftover = local_root / "jobs" / "old-crash"
    (leftover / "opt_ml" / "input" / "data").mkdir(parents=True)
    (leftover / "heartbeat").touch()
    (leftover / ".job.json.k2j3h4").write_text('{"name": "old-cr')
    _not_found(sm, "old-crash")
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []
    code = stage_code(s3, {"train.py": SCRIPT})
    sm.create_training_job(**make_request("old-crash", code))
    assert wait_for_status(sm, "old-crash")["TrainingJobStatus"] == "Completed"
    assert not (leftover / ".job.json.k2j3h4").exists()


def test_a_full_disk_during_create_is_an_api_error_and_leaves_the_name_free(
    clients: tuple[Any, Any, Any], local_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sm, s3, _ = clients
    code = stage_code(s3, {"train.py": SCRIPT})
    real_mkstemp = tempfile.mkstemp

    def full_disk_mkstemp(*args: Any, **kwargs: Any) -> tuple[int, str]:
        fd, path = real_mkstemp(*args, **kwargs)
        os.close(fd)
        return os.open("/dev/full", os.O_RDWR), path  # every write: ENOSPC

    monkeypatch.setattr(tempfile, "mkstemp", full_disk_mkstemp)
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**make_request("full-disk", code))
    monkeypatch.undo()
    assert err.value.response["Error"]["Code"] == "InternalFailure"
    assert "No space left on device" in err.value.response["Error"]["Message"]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    _not_found(sm, "full-disk")
    assert list((local_root / "jobs").iterdir()) == []
    sm.create_training_job(**make_request("full-disk", code))
    assert wait_for_status(sm, "full-disk")["TrainingJobStatus"] == "Completed"


# every way a state file can be broken: (id, file content, what the error says)
BROKEN = [
    ("truncated", '{"name": "bad-one", "status": "InPro', "not valid JSON"),
    ("a list", "[1, 2]", "not a JSON object"),
    ("not UTF-8", b"\xff\xfe{}", "not UTF-8"),
    ("empty object", "{}", "'name' is missing"),
    ("time not a number", None, "'creation_time' is str, not int or float"),
    ("another record", None, "the record of 'someone-else'"),
]


def _broken_content(good: dict[str, Any], case: str, content: str | bytes | None) -> bytes:
    if content is not None:
        return content if isinstance(content, bytes) else content.encode()
    if case == "time not a number":
        return json.dumps({**good, "creation_time": "yesterday"}).encode()
    return json.dumps({**good, "name": "someone-else"}).encode()


def _assert_corrupt(err: pytest.ExceptionInfo[ClientError], path: Path, reason: str, code: str) -> None:
    error = err.value.response["Error"]
    assert error["Code"] == code, error
    assert str(path) in error["Message"] and "corrupt" in error["Message"] and reason in error["Message"], error


@pytest.mark.parametrize(("case", "content", "reason"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_corrupt_job_record_is_reported_naming_its_file_and_skipped_by_listings(
    clients: tuple[Any, Any, Any],
    local_root: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    content: str | bytes | None,
    reason: str,
) -> None:
    sm, s3, _ = clients
    code = stage_code(s3, {"train.py": SCRIPT})
    for name in ("good-one", "bad-one"):
        sm.create_training_job(**make_request(name, code))
        wait_for_status(sm, name)
    path = local_root / "jobs" / "bad-one" / "job.json"
    path.write_bytes(_broken_content(json.loads(path.read_text()), case, content))

    for call in (
        lambda: sm.describe_training_job(TrainingJobName="bad-one"),
        lambda: sm.stop_training_job(TrainingJobName="bad-one"),
        lambda: sm.create_training_job(**make_request("bad-one", code)),
    ):
        with pytest.raises(ClientError) as err:
            call()
        _assert_corrupt(err, path, reason, "ValidationException")
    names = [j["TrainingJobName"] for j in sm.list_training_jobs()["TrainingJobSummaries"]]
    assert names == ["good-one"]
    assert [j["TrainingJobName"] for j in sm.list_training_jobs(StatusEquals="Completed")["TrainingJobSummaries"]] == [
        "good-one"
    ]

    capsys.readouterr()
    assert cli_main(["--root", str(local_root), "list"]) == 0
    listed = capsys.readouterr().out
    assert "good-one" in listed and "bad-one" not in listed
    assert cli_main(["--root", str(local_root), "describe", "bad-one"]) == 1
    printed = capsys.readouterr().err
    assert str(path) in printed and reason in printed and "Traceback" not in printed


def _endpoint_record(name: str) -> dict[str, Any]:
    """An endpoint record in service on a server that has no process (nothing to start or stop)."""
    return {
        "name": name,
        "arn": f"arn:aws:sagemaker:us-east-1:000000000000:endpoint/{name}",
        "region": "us-east-1",
        "status": "InService",
        "config_name": "cfg",
        "creation_time": 1.0,
        "last_modified_time": 1.0,
        "tags": [],
        "current": "s1",
        "pending": None,
        "servers": {
            "s1": {
                "config_name": "cfg",
                "variant": {"VariantName": "AllTraffic", "ModelName": "m", "Image": "img", "ModelDataUrl": None},
                "pid": None,
                "token": None,
                "port": None,
                "ready": False,
                "started": 1.0,
            }
        },
    }


@pytest.mark.parametrize(("case", "content", "reason"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_corrupt_hosting_record_is_reported_naming_its_file_and_skipped_by_listings(
    local_root: Path, case: str, content: str | bytes | None, reason: str
) -> None:
    sm, _s3, _logs, runtime = local_clients(local_root, "us-east-1", stop_grace=1.0)
    store = HostingStore(local_root)
    for name in ("good-one", "bad-one"):
        assert store.create_endpoint(name, _endpoint_record(name))
        record = {"name": name, "arn": f"arn:{name}", "creation_time": 1.0, "tags": [], "request": {}}
        assert store.create_record(MODEL, name, {**record, "request": {"PrimaryContainer": {"Image": "img"}}})
        variants = [{"VariantName": "AllTraffic", "ModelName": name}]
        assert store.create_record(ENDPOINT_CONFIG, name, {**record, "request": {"ProductionVariants": variants}})
    endpoint = local_root / "hosting" / "endpoints" / "bad-one" / "endpoint.json"
    model = local_root / "hosting" / "models" / "bad-one" / "model.json"
    config = local_root / "hosting" / "endpoint-configs" / "bad-one" / "endpoint-config.json"
    for path in (endpoint, model, config):
        path.write_bytes(_broken_content(json.loads(path.read_text()), case, content))

    calls = [
        (endpoint, lambda: sm.describe_endpoint(EndpointName="bad-one")),
        (endpoint, lambda: sm.delete_endpoint(EndpointName="bad-one")),
        (endpoint, lambda: sm.update_endpoint(EndpointName="bad-one", EndpointConfigName="good-one")),
        (endpoint, lambda: sm.create_endpoint(EndpointName="bad-one", EndpointConfigName="good-one")),
        (model, lambda: sm.describe_model(ModelName="bad-one")),
        (model, lambda: sm.delete_model(ModelName="bad-one")),
        (model, lambda: sm.create_model(ModelName="bad-one", PrimaryContainer={"Image": "img"})),
        (config, lambda: sm.describe_endpoint_config(EndpointConfigName="bad-one")),
        (config, lambda: sm.delete_endpoint_config(EndpointConfigName="bad-one")),
        (config, lambda: sm.create_endpoint(EndpointName="new-one", EndpointConfigName="bad-one")),
    ]
    for path, call in calls:
        with pytest.raises(ClientError) as err:
            call()
        _assert_corrupt(err, path, reason, "ValidationException")
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint(EndpointName="bad-one", Body=b'{"instances": [[1]]}')
    _assert_corrupt(err, endpoint, reason, "ValidationError")
    assert endpoint.exists() and model.exists() and config.exists()  # nothing was deleted

    assert [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]] == ["good-one"]
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["good-one"]
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]] == ["good-one"]
    assert sorted(store.record_names(ENDPOINT)) == ["bad-one", "good-one"]


def test_list_calls_check_their_arguments_like_boto3_and_refuse_filters_they_do_not_apply(local_root: Path) -> None:
    from botocore.exceptions import ParamValidationError

    sm = local_clients(local_root)[0]
    calls = (
        sm.list_training_jobs,
        sm.list_transform_jobs,
        sm.list_hyper_parameter_tuning_jobs,
        sm.list_models,
        sm.list_endpoint_configs,
        sm.list_endpoints,
    )
    for call in calls:
        with pytest.raises(ParamValidationError, match="Bogus"):
            call(Bogus=1)
        with pytest.raises(ParamValidationError, match="MaxResults"):
            call(MaxResults="ten")
    with pytest.raises(ClientError) as sort:
        sm.list_models(SortBy="Status")  # ListModels sorts by Name or CreationTime only
    assert sort.value.response["Error"] == {"Code": "ValidationException", "Message": "Invalid SortBy: Status"}
    with pytest.raises(ClientError) as status:
        sm.list_training_jobs(StatusEquals="Running")
    assert status.value.response["Error"]["Message"] == "Invalid StatusEquals: Running"
    with pytest.raises(ClientError) as unsupported:
        sm.list_training_jobs(WarmPoolStatusEquals="InUse")  # a real filter the local backend does not apply
    assert unsupported.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "The local backend does not filter on WarmPoolStatusEquals",
    }
    assert sm.list_training_jobs(StatusEquals="Deleting")["TrainingJobSummaries"] == []  # a status of the model

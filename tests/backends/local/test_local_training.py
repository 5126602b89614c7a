"""Training jobs on the local backend: lifecycle, artifacts, metrics, failures, stops, runner death."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from local_helpers import (
    BUCKET,
    log_messages,
    make_request,
    read_tar,
    stage_code,
    wait_for_log,
    wait_for_status,
)

from airflow_tf_sm.backends.local.clients import local_clients
from airflow_tf_sm.backends.local.engine import Engine

REPO = Path(__file__).resolve().parents[3]

SAVE_MODEL = """
    import os
    model = os.path.join(os.environ["SM_MODEL_DIR"], "1")
    os.makedirs(model, exist_ok=True)
    with open(os.path.join(model, "saved_model.pb"), "w") as fh:
        fh.write("graph")
    with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.txt"), "w") as fh:
        fh.write("report")
    for epoch, loss in enumerate([0.9, 0.5, 0.25]):
        print(f"epoch {epoch} loss={loss} accuracy: {1 - loss}")
"""

SLEEPER = """
    import os, signal, sys, time
    def on_term(signum, frame):
        print("got SIGTERM, saving", flush=True)
        os.makedirs(os.path.join(os.environ["SM_MODEL_DIR"], "1"), exist_ok=True)
        open(os.path.join(os.environ["SM_MODEL_DIR"], "1", "saved_model.pb"), "w").write("partial")
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    print("sleeping", flush=True)
    time.sleep(60)
"""

STUBBORN = """
    import signal, time
    signal.signal(signal.SIGTERM, lambda *a: print("ignoring SIGTERM", flush=True))
    print("sleeping", flush=True)
    while True:
        time.sleep(0.1)
"""


def run_job(clients: tuple[Any, Any, Any], name: str, script: str, **kwargs: Any) -> dict[str, Any]:
    sm, s3, _ = clients
    code = stage_code(s3, {"train.py": script}, key=f"code/{name}/sourcedir.tar.gz")
    sm.create_training_job(**make_request(name, code, **kwargs))
    return wait_for_status(sm, name)


def test_completed_job_describe_shape_artifacts_and_metrics(clients: tuple[Any, Any, Any]) -> None:
    _sm, s3, _ = clients
    metrics = [
        {"Name": "loss", "Regex": r"loss=([0-9.]+)"},
        {"Name": "accuracy", "Regex": r"accuracy: ([0-9.]+)"},
        {"Name": "never", "Regex": r"never=([0-9.]+)"},
    ]
    desc = run_job(clients, "job-ok", SAVE_MODEL, metric_definitions=metrics)

    assert desc["TrainingJobStatus"] == "Completed"
    assert desc["SecondaryStatus"] == "Completed"
    assert desc["TrainingJobArn"] == "arn:aws:sagemaker:us-east-1:000000000000:training-job/job-ok"
    artifacts = desc["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifacts == f"s3://{BUCKET}/output/job-ok/output/model.tar.gz"
    assert read_tar(s3, artifacts) == {"1/saved_model.pb": b"graph"}
    assert read_tar(s3, f"s3://{BUCKET}/output/job-ok/output/output.tar.gz") == {"report.txt": b"report"}
    assert [t["Status"] for t in desc["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert all(t.get("EndTime") for t in desc["SecondaryStatusTransitions"])
    for key in ("CreationTime", "TrainingStartTime", "TrainingEndTime", "LastModifiedTime"):
        assert isinstance(desc[key], datetime) and desc[key].tzinfo is not None
    assert desc["CreationTime"] <= desc["TrainingStartTime"] <= desc["TrainingEndTime"]
    assert desc["TrainingTimeInSeconds"] >= 1 and desc["BillableTimeInSeconds"] >= 1
    assert "FailureReason" not in desc and "Tags" not in desc
    values = {m["MetricName"]: m["Value"] for m in desc["FinalMetricDataList"]}
    assert values == {"loss": 0.25, "accuracy": 0.75}  # last match wins; no match -> no entry
    assert desc["HyperParameters"]["sagemaker_program"] == '"train.py"'
    assert desc["ResourceConfig"]["InstanceCount"] == 1
    assert desc["EnableManagedSpotTraining"] is False


def test_channel_data_is_placed_under_input_data(clients: tuple[Any, Any, Any], local_root: Path) -> None:
    _sm, s3, _ = clients
    s3.put_object(Bucket=BUCKET, Key="data/2024-01-01/train/a.csv", Body=b"a")
    s3.put_object(Bucket=BUCKET, Key="data/2024-01-01/train/sub/b.csv", Body=b"b")
    s3.put_object(Bucket=BUCKET, Key="data/2024-01-01/train-other/c.csv", Body=b"c")
    s3.put_object(Bucket=BUCKET, Key="data/eval.csv", Body=b"e")
    script = """
        import json, os
        found = {}
        for channel in json.loads(os.environ["SM_CHANNELS"]):
            root = os.environ["SM_CHANNEL_" + channel.upper()]
            found[channel] = sorted(
                os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
            )
        with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "found.json"), "w") as fh:
            json.dump(found, fh)
    """
    desc = run_job(
        clients,
        "job-channels",
        script,
        channels={"train": f"s3://{BUCKET}/data/2024-01-01/train/", "eval": f"s3://{BUCKET}/data/eval.csv"},
    )
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    found = json.loads(read_tar(s3, f"s3://{BUCKET}/output/job-channels/output/output.tar.gz")["found.json"])
    assert found == {"train": ["a.csv", "sub/b.csv"], "eval": ["eval.csv"]}
    data_dir = Engine(local_root).opt_ml("job-channels") / "input" / "data"
    assert (data_dir / "train" / "sub" / "b.csv").read_bytes() == b"b"


def test_missing_channel_data_fails_like_sagemaker(clients: tuple[Any, Any, Any]) -> None:
    desc = run_job(clients, "job-nodata", SAVE_MODEL, channels={"train": f"s3://{BUCKET}/nothing/here"})
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("ClientError: No S3 objects found under S3 URL")
    assert "ModelArtifacts" not in desc


def test_failure_reason_from_failure_file(clients: tuple[Any, Any, Any], local_root: Path) -> None:
    script = """
        import os, sys
        with open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as fh:
            fh.write("ValueError: bad input shape" + "x" * 2000)
        sys.exit(2)
    """
    desc = run_job(clients, "job-failfile", script)
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["SecondaryStatus"] == "Failed"
    assert desc["FailureReason"].startswith("ValueError: bad input shape")
    assert len(desc["FailureReason"]) == 1024
    assert "TrainingEndTime" in desc and "ModelArtifacts" not in desc


def test_failure_reason_from_exit_code_and_stderr(clients: tuple[Any, Any, Any], local_root: Path) -> None:
    script = """
        print("about to fail")
        raise RuntimeError("the data is cursed")
    """
    desc = run_job(clients, "job-raise", script)
    reason = desc["FailureReason"]
    assert desc["TrainingJobStatus"] == "Failed"
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:")
    assert "ExitCode 1" in reason and "exit code: 1" in reason
    assert "RuntimeError: the data is cursed" in reason
    assert "train.py" in reason
    # the reason is also left in output/failure for the user, like the toolkit does
    failure_file = Engine(local_root).opt_ml("job-raise") / "output" / "failure"
    assert failure_file.read_text() == reason


def test_exit_137_is_reported_as_out_of_memory(clients: tuple[Any, Any, Any]) -> None:
    desc = run_job(clients, "job-oom", "import os\nos.kill(os.getpid(), 9)\n")
    assert desc["TrainingJobStatus"] == "Failed"
    assert "OutOfMemoryError" in desc["FailureReason"]
    assert "137" in desc["FailureReason"]


def test_stop_with_sigterm_handled_ends_stopped_with_model(clients: tuple[Any, Any, Any]) -> None:
    sm, s3, logs = clients
    code = stage_code(s3, {"train.py": SLEEPER}, key="code/stop/sourcedir.tar.gz")
    sm.create_training_job(**make_request("job-stop", code))
    wait_for_log(logs, "job-stop", "sleeping")
    sm.stop_training_job(TrainingJobName="job-stop")
    assert sm.describe_training_job(TrainingJobName="job-stop")["TrainingJobStatus"] in (
        "Stopping",
        "Stopped",
    )
    desc = wait_for_status(sm, "job-stop", timeout=60)
    assert desc["TrainingJobStatus"] == "Stopped"
    assert desc["SecondaryStatus"] == "Stopped"
    assert "Stopping" in [t["Status"] for t in desc["SecondaryStatusTransitions"]]
    assert "FailureReason" not in desc
    assert read_tar(s3, desc["ModelArtifacts"]["S3ModelArtifacts"]) == {"1/saved_model.pb": b"partial"}
    assert "got SIGTERM, saving" in log_messages(logs, "job-stop")
    with pytest.raises(ClientError) as err:
        sm.stop_training_job(TrainingJobName="job-stop")
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_stop_script_ignoring_sigterm_is_killed_after_grace(clients: tuple[Any, Any, Any]) -> None:
    sm, s3, logs = clients
    code = stage_code(s3, {"train.py": STUBBORN}, key="code/stubborn/sourcedir.tar.gz")
    sm.create_training_job(**make_request("job-stubborn", code))
    wait_for_log(logs, "job-stubborn", "sleeping")
    started = time.monotonic()
    sm.stop_training_job(TrainingJobName="job-stubborn")
    desc = wait_for_status(sm, "job-stubborn", timeout=15)
    elapsed = time.monotonic() - started
    assert desc["TrainingJobStatus"] == "Stopped"
    assert elapsed >= 1.0  # SIGKILL only after the fixture's 1 s grace period
    messages = log_messages(logs, "job-stubborn")
    assert "ignoring SIGTERM" in messages
    assert any("sending SIGKILL" in m for m in messages)
    assert "ModelArtifacts" not in desc  # nothing saved, nothing uploaded


def test_max_runtime_stops_the_job(clients: tuple[Any, Any, Any]) -> None:
    started = time.monotonic()
    desc = run_job(clients, "job-maxrun", SLEEPER, max_runtime=2)
    assert time.monotonic() - started < 15
    # SageMaker: Stopped / MaxRuntimeExceeded, model saved in the SIGTERM window still uploaded
    assert desc["TrainingJobStatus"] == "Stopped"
    assert desc["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert "ModelArtifacts" in desc


def test_runner_killed_marks_job_failed_and_kills_the_script(clients: tuple[Any, Any, Any], local_root: Path) -> None:
    sm, s3, logs = clients
    code = stage_code(s3, {"train.py": STUBBORN}, key="code/orphan/sourcedir.tar.gz")
    sm.create_training_job(**make_request("job-orphan", code))
    wait_for_log(logs, "job-orphan", "sleeping")
    state = Engine(local_root).load("job-orphan")
    script_pid = state["processes"][0]["pid"]
    os.kill(state["runner"]["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    desc = sm.describe_training_job(TrainingJobName="job-orphan")
    while desc["TrainingJobStatus"] != "Failed" and time.monotonic() < deadline:  # the kill lands eventually
        time.sleep(0.05)
        desc = sm.describe_training_job(TrainingJobName="job-orphan")
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"] == "local runner process died"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{script_pid}").exists():
        stat = Path(f"/proc/{script_pid}/stat").read_text()
        if stat[stat.rfind(")") + 2] == "Z":
            break
        time.sleep(0.05)
    stat_path = Path(f"/proc/{script_pid}/stat")
    assert not stat_path.exists() or stat_path.read_text().split(") ")[1][0] == "Z"


def test_stale_heartbeat_marks_job_failed(local_root: Path) -> None:
    engine = Engine(local_root, heartbeat_timeout=30)
    engine.create("job-stale", make_request("job-stale", "s3://bucket/none"), "us-east-1")
    old = time.time() - 60
    os.utime(engine.heartbeat_path("job-stale"), (old, old))
    sm = local_clients(local_root)[0]
    desc = sm.describe_training_job(TrainingJobName="job-stale")
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"] == "local runner process died"


def test_duplicate_name_is_resource_in_use_even_after_the_end(clients: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = clients
    run_job(clients, "job-dup", "print('hi')\n")
    code = stage_code(s3, {"train.py": "print('again')\n"}, key="code/dup2/sourcedir.tar.gz")
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**make_request("job-dup", code))
    assert err.value.response["Error"]["Code"] == "ResourceInUse"
    assert err.value.operation_name == "CreateTrainingJob"


def test_unknown_job_and_bad_request_errors(clients: tuple[Any, Any, Any]) -> None:
    sm, _s3, _ = clients
    for call in (sm.describe_training_job, sm.stop_training_job):
        with pytest.raises(ClientError) as err:
            call(TrainingJobName="no-such-job")
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert err.value.response["Error"]["Message"] == "Requested resource not found."
    bad = make_request("bad_name", "s3://bucket/code.tar.gz")
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**bad)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(TypeError):
        sm.create_training_job(**make_request("ok-name", "s3://bucket/x"), NotAParameter=1)
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []


def test_validation_errors_from_validate_request_become_validation_exception(
    clients: tuple[Any, Any, Any],
) -> None:
    sm, _, _ = clients
    request = make_request("job-badhp", "s3://bucket/code.tar.gz")
    request["HyperParameters"]["k" * 300] = '"v"'  # keys are limited to 256 chars
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**request)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "HyperParameters" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        sm.describe_training_job(TrainingJobName="job-badhp")


def test_checkpoints_are_synced_and_restored_by_the_next_job(clients: tuple[Any, Any, Any]) -> None:
    _sm, s3, _ = clients
    script = """
        import os
        ckpt = "/opt/ml/checkpoints".replace("/opt/ml", os.environ["SAGEMAKER_BASE_DIR"])
        os.makedirs(ckpt, exist_ok=True)
        path = os.path.join(ckpt, "step.txt")
        step = int(open(path).read()) if os.path.exists(path) else 0
        print(f"resuming from step {step}")
        open(path, "w").write(str(step + 10))
    """
    uri = f"s3://{BUCKET}/checkpoints/exp1"
    first = run_job(clients, "job-ckpt-1", script, checkpoint_uri=uri)
    assert first["TrainingJobStatus"] == "Completed"
    assert s3.get_object(Bucket=BUCKET, Key="checkpoints/exp1/step.txt")["Body"].read() == b"10"
    second = run_job(clients, "job-ckpt-2", script, checkpoint_uri=uri)
    assert second["CheckpointConfig"] == {"S3Uri": uri}
    assert s3.get_object(Bucket=BUCKET, Key="checkpoints/exp1/step.txt")["Body"].read() == b"20"


def test_job_keeps_running_after_the_submitting_process_exits(clients: tuple[Any, Any, Any], local_root: Path) -> None:
    sm, s3, _ = clients
    script = "import time\ntime.sleep(2.5)\nprint('finished')\n"
    code = stage_code(s3, {"train.py": script}, key="code/detached/sourcedir.tar.gz")
    request = make_request("job-detached", code)
    submit = (
        "import json, sys\n"
        "from airflow_tf_sm.backends.local.clients import local_clients\n"
        "sm = local_clients(sys.argv[1])[0]\n"
        "sm.create_training_job(**json.loads(sys.argv[2]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-c", submit, str(local_root), json.dumps(request)], check=True, env=env, timeout=60
    )
    # the submitter is gone; the job must still be running, then complete
    assert sm.describe_training_job(TrainingJobName="job-detached")["TrainingJobStatus"] == "InProgress"
    desc = wait_for_status(sm, "job-detached", timeout=30)
    assert desc["TrainingJobStatus"] == "Completed"


@pytest.mark.parametrize(
    ("epoch", "microsecond"),
    # epochs that datetime.fromtimestamp rounds to the other microsecond than round(epoch * 1e6) does
    [(1764643201.5000014, 500002), (1764643222.2222226, 222222)],
)
def test_a_time_given_back_to_a_list_filter_is_the_records_own_time(epoch: float, microsecond: int) -> None:
    from airflow_tf_sm.backends.local.wire import list_records, to_datetime

    record = {"name": "job", "status": "Completed", "creation_time": epoch, "last_modified_time": epoch}
    own = to_datetime(epoch)
    assert own is not None and own.microsecond == microsecond

    def listed(**times: Any) -> list[str]:
        by_name = {"Name": lambda r: r["name"]}
        kept = list_records(
            [record], "ListTrainingJobs", sort_by="Name", sort_order="Ascending", sort_keys=by_name, times=times
        )
        return [r["name"] for r in kept]

    assert listed(CreationTimeAfter=own) == []  # strictly later: not the job itself
    assert listed(CreationTimeBefore=own) == []
    assert listed(LastModifiedTimeAfter=own.timestamp() - 0.000001) == ["job"]
    assert listed(LastModifiedTimeBefore=own.timestamp() + 0.000001) == ["job"]


def test_list_training_jobs_filters_sorting_and_pagination(clients: tuple[Any, Any, Any]) -> None:
    sm, _, _ = clients
    for name in ("list-ok-a", "list-ok-b", "list-ok-c"):
        run_job(clients, name, "print('ok')\n")
    run_job(clients, "list-bad", "raise SystemExit(3)\n")
    before_last = sm.describe_training_job(TrainingJobName="list-ok-c")["CreationTime"]

    summaries = sm.list_training_jobs()["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in summaries] == ["list-bad", "list-ok-c", "list-ok-b", "list-ok-a"]
    assert set(summaries[0]) >= {
        "TrainingJobName",
        "TrainingJobArn",
        "CreationTime",
        "TrainingEndTime",
        "LastModifiedTime",
        "TrainingJobStatus",
        "SecondaryStatus",
    }
    failed = sm.list_training_jobs(StatusEquals="Failed")["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in failed] == ["list-bad"]
    named = sm.list_training_jobs(NameContains="OK-", SortBy="Name", SortOrder="Ascending")
    assert [s["TrainingJobName"] for s in named["TrainingJobSummaries"]] == [
        "list-ok-a",
        "list-ok-b",
        "list-ok-c",
    ]
    recent = sm.list_training_jobs(CreationTimeAfter=before_last)["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in recent] == ["list-bad"]
    since_2000 = sm.list_training_jobs(CreationTimeAfter="2000-01-01T00:00:00Z")["TrainingJobSummaries"]  # ISO text
    assert [s["TrainingJobName"] for s in since_2000] == ["list-bad", "list-ok-c", "list-ok-b", "list-ok-a"]
    assert sm.list_training_jobs(LastModifiedTimeBefore="2000-01-01T00:00:00.5Z")["TrainingJobSummaries"] == []

    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kwargs = {"MaxResults": 3, "SortOrder": "Ascending"}
        page = sm.list_training_jobs(**kwargs, **({"NextToken": token} if token else {}))
        pages += 1
        seen += [s["TrainingJobName"] for s in page["TrainingJobSummaries"]]
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 2
    assert seen == ["list-ok-a", "list-ok-b", "list-ok-c", "list-bad"]
    with pytest.raises(ClientError) as err:
        sm.list_training_jobs(SortBy="Size")
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_tags_are_served_by_list_tags(clients: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = clients
    code = stage_code(s3, {"train.py": "print(1)\n"}, key="code/tags/sourcedir.tar.gz")
    request = make_request("job-tags", code)
    request["Tags"] = [{"Key": "airflow-dag-id", "Value": "nightly"}]
    arn = sm.create_training_job(**request)["TrainingJobArn"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "airflow-dag-id", "Value": "nightly"}]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ml"}])
    assert {t["Key"] for t in sm.list_tags(ResourceArn=arn)["Tags"]} == {"airflow-dag-id", "team"}
    assert "Tags" not in wait_for_status(sm, "job-tags")


def test_throttle_knob_raises_throttling_exception(
    clients: tuple[Any, Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sm, _, _ = clients
    monkeypatch.setenv("AIRFLOW_TF_SM_LOCAL_FAULTS", "throttle=1.0")
    with pytest.raises(ClientError) as err:
        sm.list_training_jobs()
    assert err.value.response["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
    monkeypatch.setenv("AIRFLOW_TF_SM_LOCAL_FAULTS", "throttle=0.5,seed=7")
    outcomes = []
    for _ in range(40):
        try:
            sm.list_training_jobs()
            outcomes.append(True)
        except ClientError:
            outcomes.append(False)
    assert 5 < outcomes.count(False) < 35
    monkeypatch.setenv("AIRFLOW_TF_SM_LOCAL_FAULTS", "throttle=0")
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []


def test_requirements_are_not_installed_unless_asked(clients: tuple[Any, Any, Any]) -> None:
    sm, s3, logs = clients
    code = stage_code(s3, {"train.py": "print('ran')\n", "requirements.txt": "nonexistent-pkg==0\n"})
    sm.create_training_job(**make_request("job-reqs", code))
    desc = wait_for_status(sm, "job-reqs")
    assert desc["TrainingJobStatus"] == "Completed"
    assert any("requirements.txt found but not installed" in m for m in log_messages(logs, "job-reqs"))


def test_two_hosts_get_tf_config_shards_and_own_streams(clients: tuple[Any, Any, Any], local_root: Path) -> None:
    sm, s3, logs = clients
    script = """
        import json, os
        print("TF_CONFIG=" + os.environ["TF_CONFIG"])
        print("HOST=" + os.environ["SM_CURRENT_HOST"])
        print("SHARD=" + ",".join(sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"]))))
        os.makedirs(os.environ["SM_MODEL_DIR"], exist_ok=True)
        open(os.path.join(os.environ["SM_MODEL_DIR"], "host.txt"), "w").write(os.environ["SM_CURRENT_HOST"])
    """
    for i in range(3):
        s3.put_object(Bucket=BUCKET, Key=f"shards/part-{i}.csv", Body=b"x")
    code = stage_code(s3, {"train.py": script}, key="code/two/sourcedir.tar.gz")
    request = make_request(
        "job-two",
        code,
        instance_count=2,
        channels={"train": f"s3://{BUCKET}/shards/"},
        distribution={"sagemaker_multi_worker_mirrored_strategy_enabled": True},
    )
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] = "ShardedByS3Key"
    sm.create_training_job(**request)
    desc = wait_for_status(sm, "job-two")
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    configs = {}
    for host in ("algo-1", "algo-2"):
        messages = log_messages(logs, "job-two", host)
        assert f"HOST={host}" in messages
        line = next(m for m in messages if m.startswith("TF_CONFIG="))
        configs[host] = json.loads(line[len("TF_CONFIG=") :])
    workers = configs["algo-1"]["cluster"]["worker"]
    assert len(workers) == 2 and len(set(workers)) == 2
    assert all(w.startswith("127.0.0.1:") for w in workers)
    assert configs["algo-2"]["cluster"] == configs["algo-1"]["cluster"]
    assert configs["algo-1"]["task"] == {"index": 0, "type": "worker"}
    assert configs["algo-2"]["task"] == {"index": 1, "type": "worker"}
    assert configs["algo-1"]["environment"] == "cloud"
    assert "SHARD=part-0.csv,part-2.csv" in log_messages(logs, "job-two", "algo-1")
    assert "SHARD=part-1.csv" in log_messages(logs, "job-two", "algo-2")
    # only algo-1's model is uploaded
    assert read_tar(s3, desc["ModelArtifacts"]["S3ModelArtifacts"]) == {"host.txt": b"algo-1"}
    resource = json.loads(
        (Engine(local_root).opt_ml("job-two", "algo-2") / "input" / "config" / "resourceconfig.json").read_text()
    )
    assert resource["current_host"] == "algo-2" and resource["hosts"] == ["algo-1", "algo-2"]


def test_two_hosts_job_fails_when_one_host_fails(clients: tuple[Any, Any, Any]) -> None:
    script = """
        import os, sys, time
        if os.environ["SM_CURRENT_HOST"] == "algo-2":
            sys.exit("algo-2 broke")
        time.sleep(30)
    """
    started = time.monotonic()
    desc = run_job(clients, "job-two-fail", script, instance_count=2)
    assert time.monotonic() - started < 15
    assert desc["TrainingJobStatus"] == "Failed"
    assert "algo-2 broke" in desc["FailureReason"]


@pytest.mark.tensorflow
def test_tensorflow_keras_model_is_exported_as_saved_model(clients: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = clients
    script = """
        import argparse, os
        import numpy as np
        import tensorflow as tf
        parser = argparse.ArgumentParser()
        parser.add_argument("--epochs", type=int, default=1)
        parser.add_argument("--model_dir", default=None)
        args, _ = parser.parse_known_args()
        x = np.random.rand(64, 4).astype("float32")
        y = x.sum(axis=1, keepdims=True)
        model = tf.keras.Sequential([tf.keras.Input(shape=(4,)), tf.keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        history = model.fit(x, y, epochs=args.epochs, verbose=0)
        print(f"final loss={history.history['loss'][-1]}")
        model.export(os.path.join(os.environ["SM_MODEL_DIR"], "1"))
    """
    code = stage_code(s3, {"train.py": script}, key="code/keras/sourcedir.tar.gz")
    request = make_request(
        "job-keras",
        code,
        hyperparameters={"epochs": 2},
        metric_definitions=[{"Name": "loss", "Regex": r"final loss=([0-9.e+-]+)"}],
    )
    sm.create_training_job(**request)
    desc = wait_for_status(sm, "job-keras", timeout=300)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    files = read_tar(s3, desc["ModelArtifacts"]["S3ModelArtifacts"])
    assert "1/saved_model.pb" in files
    assert desc["FinalMetricDataList"][0]["MetricName"] == "loss"


def tiny_wheel(directory: Path, version: str = "1.0") -> Path:
    """Write a pure-Python wheel ``tinypkg`` (a module that says its version) without any build tool."""
    import base64
    import hashlib
    import zipfile

    name = f"tinypkg-{version}-py3-none-any.whl"
    files = {
        "tinypkg.py": f"VERSION = {version!r}\n",
        f"tinypkg-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: tinypkg\nVersion: {version}\n",
        f"tinypkg-{version}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},{len(text)}"
        for path, text in files.items()
    ]
    files[f"tinypkg-{version}.dist-info/RECORD"] = "\n".join([*record, f"tinypkg-{version}.dist-info/RECORD,,"]) + "\n"
    wheel = directory / name
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def test_requirements_are_installed_once_per_digest_with_what_is_there(
    clients: tuple[Any, Any, Any], local_root: Path, tmp_path: Path
) -> None:
    """The README's venv is a uv venv without pip: the install uses uv, into a cache the next job reuses."""
    sm, s3, logs = clients
    wheel = tiny_wheel(tmp_path)
    script = "import tinypkg\nprint('tinypkg', tinypkg.VERSION, tinypkg.__file__)\n"
    code = stage_code(s3, {"train.py": script, "requirements.txt": f"{wheel}\n"})
    env = {"AIRFLOW_TF_SM_INSTALL_REQUIREMENTS": "true"}
    for name in ("job-reqs-1", "job-reqs-2"):
        sm.create_training_job(**make_request(name, code, environment=env))
        assert wait_for_status(sm, name)["TrainingJobStatus"] == "Completed"
    first, second = log_messages(logs, "job-reqs-1"), log_messages(logs, "job-reqs-2")
    installed = [m for m in first if m.startswith("Installing requirements with ")]
    assert len(installed) == 1
    assert any(m.startswith("tinypkg 1.0 " + str(local_root / "packages")) for m in first)
    assert not any(m.startswith("Installing requirements") for m in second)
    assert any(m.startswith("Requirements already installed") for m in second)
    assert any(m.startswith("tinypkg 1.0 ") for m in second)
    assert len([p for p in (local_root / "packages").iterdir() if not p.name.startswith(".")]) == 1


def test_without_uv_or_pip_the_job_fails_saying_what_to_install(
    clients: tuple[Any, Any, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_tf_sm.backends.local import requirements

    def nothing(python: str, module: str) -> bool:
        return False

    monkeypatch.setattr(requirements, "_runs", nothing)
    monkeypatch.setattr(requirements.shutil, "which", lambda name, path=None: None)
    with pytest.raises(requirements.RequirementsError) as info:
        requirements.installer("/venv/bin/python", {})
    assert "neither uv nor pip is available for /venv/bin/python" in str(info.value)
    assert "pip install uv" in str(info.value)


@pytest.mark.tensorflow
def test_parameter_server_hosts_run_a_ps_server(clients: tuple[Any, Any, Any], local_root: Path) -> None:
    """Like the TF container, every host of a parameter-server job starts a TF server for the ps job."""
    sm, s3, logs = clients
    script = """
        import json, os, socket, time
        config = json.loads(os.environ["TF_CONFIG"])
        deadline = time.time() + 120
        for address in config["cluster"]["ps"]:
            host, port = address.rsplit(":", 1)
            while True:
                try:
                    socket.create_connection((host, int(port)), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise SystemExit(f"ps {address} never listened")
                    time.sleep(0.2)
        print("PS_REACHABLE " + config["task"]["type"])
    """
    code = stage_code(s3, {"train.py": script}, key="code/ps/sourcedir.tar.gz")
    request = make_request(
        "job-ps", code, instance_count=2, max_runtime=240, distribution={"sagemaker_parameter_server_enabled": True}
    )
    sm.create_training_job(**request)
    desc = wait_for_status(sm, "job-ps", timeout=240)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert "PS_REACHABLE master" in log_messages(logs, "job-ps", "algo-1")
    assert "PS_REACHABLE worker" in log_messages(logs, "job-ps", "algo-2")
    assert any(m.startswith("Launching parameter server process") for m in log_messages(logs, "job-ps", "algo-2"))
    # the servers end with the job
    for record in Engine(local_root).load("job-ps")["processes"]:
        with pytest.raises(ProcessLookupError):
            os.kill(record["pid"], 0)

"""What a local training job can touch: its inputs are private copies, channels stay in input/data/, links out
of the job are not uploaded, a killed runner's temp files go away, metric regexes cannot starve the runner."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from local_helpers import BUCKET, log_messages, make_request, read_tar, stage_code, wait_for_status

from airflow_tf_sm.backends.local.clients import local_clients
from airflow_tf_sm.backends.local.engine import Engine
from airflow_tf_sm.backends.local.processes import process_alive

REPO = Path(__file__).resolve().parents[3]


def _store_snapshot(root: Path, skip: str) -> dict[str, tuple[str, int, int]]:
    """Every stored object outside ``skip``: key -> (sha256, mode, link count)."""
    base = root / "s3"
    found = {}
    for path in sorted(base.rglob("*")):
        key = path.relative_to(base).as_posix()
        if path.is_file() and not key.startswith(skip):
            st = path.stat()
            found[key] = (hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mode, st.st_nlink)
    return found


TAMPER = """
    import os, pathlib, stat
    touched = 0
    for root in (os.environ["SM_CHANNEL_TRAIN"], os.environ["SM_CHANNEL_MODEL"]):
        for path in sorted(pathlib.Path(root).rglob("*")):
            if path.is_file():
                with open(path, "r+b") as fh:   # rewrite in place, then grow
                    fh.write(b"TAMPERED")
                    fh.seek(0, 2)
                    fh.write(b" and more")
                os.chmod(path, 0o777)
                touched += 1
    victim = pathlib.Path(os.environ["SM_CHANNEL_TRAIN"], "sub", "b.csv")
    os.truncate(victim, 1)
    print(f"tampered with {touched} input files")
"""

READER = """
    import hashlib, os, pathlib
    for path in sorted(pathlib.Path(os.environ["SM_CHANNEL_TRAIN"]).rglob("*")):
        if path.is_file():
            print("read", path.name, hashlib.sha256(path.read_bytes()).hexdigest())
"""


def test_a_job_cannot_change_any_stored_object(clients: tuple[Any, Any, Any], local_root: Path) -> None:
    sm, s3, logs = clients
    inputs = {"data/a.csv": b"1,2\n3,4\n", "data/sub/b.csv": b"5,6\n", "pretrained/weights.bin": b"\x00\x01" * 500}
    for key, body in inputs.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    code = stage_code(s3, {"train.py": TAMPER}, key="code/tamper/sourcedir.tar.gz")
    stage_code(s3, {"train.py": READER}, key="code/reader/sourcedir.tar.gz")
    before = _store_snapshot(local_root, skip=f"{BUCKET}/output/")
    channels = {"train": f"s3://{BUCKET}/data", "model": f"s3://{BUCKET}/pretrained"}
    sm.create_training_job(**make_request("tamper", code, channels=channels))
    desc = wait_for_status(sm, "tamper")
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert "tampered with 3 input files" in log_messages(logs, "tamper")

    assert _store_snapshot(local_root, skip=f"{BUCKET}/output/") == before
    for key, body in inputs.items():
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body
    # and a later job reads the objects as they were stored
    reader = f"s3://{BUCKET}/code/reader/sourcedir.tar.gz"
    sm.create_training_job(**make_request("reader", reader, channels={"train": f"s3://{BUCKET}/data"}))
    assert wait_for_status(sm, "reader")["TrainingJobStatus"] == "Completed"
    read = [m for m in log_messages(logs, "reader") if m.startswith("read ")]
    expected = [f"read {Path(k).name} {hashlib.sha256(v).hexdigest()}" for k, v in sorted(inputs.items())[:2]]
    assert read == expected


def test_channel_names_dot_and_dot_dot_are_refused_by_the_api(clients: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = clients
    code = stage_code(s3, {"train.py": "print(1)"})
    for name in (".", ".."):
        with pytest.raises(ClientError) as err:
            sm.create_training_job(**make_request(f"dots-{len(name)}", code, channels={name: f"s3://{BUCKET}/x"}))
        error = err.value.response["Error"]
        assert error["Code"] == "ValidationException" and "InputDataConfig[0].ChannelName" in error["Message"]


@pytest.mark.parametrize("channel", ["..", ".", "../config"])
def test_the_runner_never_places_a_channel_outside_input_data(
    clients: tuple[Any, Any, Any], local_root: Path, channel: str
) -> None:
    """A request that skipped validation (written straight to the state store): the runner still refuses it."""
    sm, s3, _ = clients
    s3.put_object(Bucket=BUCKET, Key="evil/config/hyperparameters.json", Body=b'{"evil": "\\"yes\\""}')
    s3.put_object(Bucket=BUCKET, Key="evil/hyperparameters.json", Body=b'{"evil": "\\"yes\\""}')
    code = stage_code(s3, {"train.py": "print('trained')"})
    request = make_request("escape", code, hyperparameters={"epochs": 1}, channels={channel: f"s3://{BUCKET}/evil"})
    engine = Engine(local_root)
    engine.create("escape", request, "us-east-1")
    runner = [sys.executable, "-m", "airflow_tf_sm.backends.local.runner", "--root", str(local_root), "--job", "escape"]
    subprocess.run(runner, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120, check=True)
    desc = sm.describe_training_job(TrainingJobName="escape")
    assert desc["TrainingJobStatus"] == "Failed"
    assert "input/data/" in desc["FailureReason"] and repr(channel) in desc["FailureReason"]
    config = engine.opt_ml("escape") / "input" / "config" / "hyperparameters.json"
    assert "evil" not in config.read_text() and "epochs" in config.read_text()
    assert not (engine.opt_ml("escape") / "input" / "hyperparameters.json").exists()


LINKS = """
    import os, pathlib
    model = pathlib.Path(os.environ["SM_MODEL_DIR"])
    (model / "1").mkdir(parents=True)
    (model / "1" / "saved_model.pb").write_text("graph")
    os.symlink("/etc/hostname", model / "secret")                       # a file outside the job
    os.symlink("/etc", model / "etc")                                   # a directory outside the job
    os.symlink("missing.bin", model / "broken")                         # inside the job, but missing
    os.symlink("../input/config/resourceconfig.json", model / "hosts.json")  # inside the job: followed
    os.symlink("1", model / "latest")                                   # inside the model dir: followed
    os.mkfifo(model / "pipe")                                           # would block a reader forever
    ckpt = model.parent / "checkpoints"   # /opt/ml/checkpoints of this job
    ckpt.mkdir(exist_ok=True)
    (ckpt / "step-1.ckpt").write_text("weights")
    os.symlink("/etc/passwd", ckpt / "leak")
    os.symlink("/etc", ckpt / "leakdir")
    out = pathlib.Path(os.environ["SM_OUTPUT_DATA_DIR"])
    (out / "report.txt").write_text("report")
    os.symlink(os.path.expanduser("~"), out / "home")
    print("links made")
"""


def test_links_leaving_the_job_are_not_uploaded(clients: tuple[Any, Any, Any]) -> None:
    sm, s3, logs = clients
    code = stage_code(s3, {"train.py": LINKS})
    checkpoints = f"s3://{BUCKET}/checkpoints/links"
    sm.create_training_job(**make_request("links", code, checkpoint_uri=checkpoints))
    desc = wait_for_status(sm, "links")
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")

    model = read_tar(s3, desc["ModelArtifacts"]["S3ModelArtifacts"])
    assert sorted(model) == ["1/saved_model.pb", "hosts.json", "latest/saved_model.pb"]
    assert json.loads(model["hosts.json"])["current_host"] == "algo-1"
    hostname = Path("/etc/hostname").read_bytes() if Path("/etc/hostname").is_file() else b"\0none"
    assert hostname not in model.values()
    output = read_tar(s3, desc["ModelArtifacts"]["S3ModelArtifacts"].replace("model.tar.gz", "output.tar.gz"))
    assert sorted(output) == ["report.txt"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="checkpoints/links/").get("Contents", [])]
    assert keys == ["checkpoints/links/step-1.ckpt"]

    messages = log_messages(logs, "links")
    for link, target in (
        ("opt_ml/model/secret", "/etc/hostname"),
        ("opt_ml/model/etc", "/etc"),
        ("opt_ml/checkpoints/leak", "/etc/passwd"),
        ("opt_ml/checkpoints/leakdir", "/etc"),
        ("opt_ml/output/data/home", os.path.expanduser("~")),
    ):
        assert any(m.startswith(f"WARNING: {link} is a link to {target}, outside the job") for m in messages), link
    assert any("opt_ml/model/broken is a broken link" in m for m in messages)
    assert any("opt_ml/model/pipe is not a regular file" in m for m in messages)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # renamed or removed meanwhile
        return 0


BIG_MODEL = """
    import os
    path = os.path.join(os.environ["SM_MODEL_DIR"], "weights.bin")
    with open(path, "wb") as fh:
        for _ in range(12):
            fh.write(os.urandom(10 * 2**20))   # random bytes: slow to compress, so the upload takes a while
    print("model saved", flush=True)
"""


def test_a_killed_runner_s_temp_archive_is_removed_on_the_next_describe(clients: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = clients
    code = stage_code(s3, {"train.py": BIG_MODEL})
    engine = sm.engine
    # the kill must land while the archive is written; on a loaded machine the runner may finish it between
    # the look and the kill: such a try proves nothing and the next job tries again (at most three)
    for attempt in range(1, 4):
        name = f"killed-upload-{attempt}"
        sm.create_training_job(**make_request(name, code))
        job_dir = engine.job_dir(name)
        deadline = time.monotonic() + 120
        while not [p for p in job_dir.iterdir() if p.name.endswith(".tar.gz") and _size(p) > 0]:
            assert time.monotonic() < deadline, "the runner never started writing its model archive"
            if engine.load(name)["status"] != "InProgress":
                break  # the job ended before its upload was seen: try again
            time.sleep(0.01)
        else:
            os.kill(int(engine.load(name)["runner"]["pid"]), signal.SIGKILL)
            leftovers = [p for p in job_dir.iterdir() if p.name.endswith(".tar.gz")]
            if leftovers and _size(leftovers[0]) > 0 and engine.load(name)["status"] == "InProgress":
                break
        wait_for_status(sm, name)
    else:
        pytest.fail("in three tries the archive was finished before the kill")

    desc = wait_for_status(sm, name)  # the describe that finds the runner gone
    assert (desc["TrainingJobStatus"], desc.get("FailureReason")) == ("Failed", "local runner process died")
    assert [p.name for p in job_dir.iterdir() if p.name.endswith(".tar.gz")] == []
    assert [p.name for p in job_dir.iterdir() if p.name.startswith((".upload", ".fresh"))] == []


CATASTROPHIC = """
    print("epoch 1 loss=0.75", flush=True)
    print("1" * 40 + "x", flush=True)   # (\\d+)+$ backtracks 2**40 ways on this line
    print("epoch 2 loss=0.5", flush=True)
"""


def test_a_catastrophic_metric_regex_is_cut_off_and_never_starves_the_heartbeat(local_root: Path) -> None:
    # a runner whose heartbeat stops for 5 s is declared dead: the regex below would run for days
    sm, s3, logs = local_clients(local_root, "us-east-1", stop_grace=1.0, heartbeat_timeout=5.0)[:3]
    code = stage_code(s3, {"train.py": CATASTROPHIC})
    metrics = [
        {"Name": "loss", "Regex": r"loss=([0-9.]+)"},
        {"Name": "digits", "Regex": r"(\d+)+$"},
        {"Name": "epoch", "Regex": r"epoch (\d+)"},
    ]
    request = make_request(
        "catastrophic", code, metric_definitions=metrics, environment={"AIRFLOW_TF_SM_LOCAL_METRIC_SECONDS": "7"}
    )
    sm.create_training_job(**request)
    statuses = set()
    deadline = time.monotonic() + 120
    try:
        while True:
            desc = sm.describe_training_job(TrainingJobName="catastrophic")  # every describe checks the heartbeat
            statuses.add((desc["TrainingJobStatus"], desc["SecondaryStatus"]))
            if desc["TrainingJobStatus"] != "InProgress" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:  # a runner stuck in the regex would spin forever: never leave it behind
        runner = sm.engine.load("catastrophic").get("runner") or {}
        if runner.get("pid") and process_alive(int(runner["pid"]), runner.get("token")):
            os.kill(int(runner["pid"]), signal.SIGKILL)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert ("InProgress", "Uploading") in statuses  # the metric phase was watched while it ran
    assert [(m["MetricName"], m["Value"]) for m in desc["FinalMetricDataList"]] == [("loss", 0.5), ("epoch", 2.0)]
    warnings = [m for m in log_messages(logs, "catastrophic") if m.startswith("WARNING: metric digits")]
    assert len(warnings) == 1 and "longer than 7 s" in warnings[0]

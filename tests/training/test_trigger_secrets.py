"""No secret in a trigger's log, its events or its kwargs: per-job and shared-poller waits, and a fresh process.

The jobs run on the local backend with a secret-named hyperparameter (``db_pass``, not on Airflow's own list of
sensitive names) and a secret-named environment variable; their scripts print both values themselves, so the
tests see the script's own output masked too, and the runner's own lines (``Invoking script ... --db_pass``)
redacted at the source.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_tf_sm.backends import ClientParams
from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.training.spec import TrainingJobSpec
from airflow_tf_sm.training.trigger import TrainingJobTrigger

HP_SECRET = "hp-S3cr3t-4f1c9a"
ENV_SECRET = "env-S3cr3t-77d0b2"
SECRETS = (HP_SECRET, ENV_SECRET)
#: Prints both secrets (the script's own output), then ends as asked.
SCRIPT = """\
import argparse, os, sys
parser = argparse.ArgumentParser()
parser.add_argument("--db_pass")
parser.add_argument("--fail", default="no")
args, _ = parser.parse_known_args()
print("script says db_pass=" + args.db_pass + " credential=" + os.environ["API_CREDENTIAL"], flush=True)
if args.fail == "yes":
    sys.exit("script says: cannot connect with " + args.db_pass)
"""


def start_job(root: Path, tmp_path: Path, name: str, *, fail: bool = False) -> dict[str, Any]:
    """Start a local job with the secrets; return the trigger's client params."""
    code = tmp_path / name
    code.mkdir()
    (code / "train.py").write_text(SCRIPT)
    hook = TFSageMakerHook(backend="local", local_root=str(root), region_name="us-east-1")
    spec = TrainingJobSpec.from_mapping(
        {
            "entry_point": "train.py",
            "source_dir": str(code),
            "output_path": "s3://bucket/models",
            "hyperparameters": {"db_pass": HP_SECRET, "fail": "yes" if fail else "no"},
            "environment": {"API_CREDENTIAL": ENV_SECRET},
        }
    )
    hook.training.create(hook.training.request(spec, name, hook.training.stage_code(spec)))
    return ClientParams(backend="local", local_root=str(root), region_name="us-east-1").to_dict()


def hits(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def job_log_lines(root: Path) -> list[str]:
    """Every message of every log stream of the local backend."""
    lines = []
    for path in sorted((root / "logs").rglob("*.jsonl")):
        lines += [json.loads(line)["message"] for line in path.read_text().splitlines() if line.strip()]
    return lines


@pytest.mark.parametrize("coalesce", [False, True], ids=["per-job", "shared-poller"])
@pytest.mark.parametrize("fail", [False, True], ids=["completed", "failed"])
@pytest.mark.parametrize("stream_logs", [True, False], ids=["streamed", "tail"])
def test_trigger_log_and_event_hold_no_secret(
    local_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    coalesce: bool,
    fail: bool,
    stream_logs: bool,
) -> None:
    name = f"sec-{int(coalesce)}{int(fail)}{int(stream_logs)}"
    params = start_job(local_root, tmp_path, name, fail=fail)
    trigger = TrainingJobTrigger(name, params, poll_interval=0.05, coalesce=coalesce, stream_logs=stream_logs)
    assert hits(json.dumps(trigger.serialize())) == []  # nothing secret travels in the kwargs

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(asyncio.wait_for(collect(), 120))

    assert len(events) == 1
    event = events[0]
    assert event["training_job_status"] == ("Failed" if fail else "Completed")
    assert hits(json.dumps(event)) == []
    captured = capsys.readouterr()
    log = captured.out + captured.err + caplog.text
    assert hits(log) == []
    # what the secrets' places show instead: the script's own line, masked (streamed to the log or in the tail)
    shown = log if stream_logs else "\n".join(event["log_tail"]) + log
    if stream_logs or fail:
        assert "script says db_pass=*** credential=***" in shown
    if fail:
        assert "cannot connect with ***" in (event["failure_reason"] or "")
        # at the source, the FailureReason's command line is redacted too (its stderr tail is the script's own)
        reason = TFSageMakerHook(**params).training.describe(name)["FailureReason"]
        assert "train.py --db_pass *** --fail yes" in reason
    # the job's own log: the runner's lines redacted at the source; only the script's own prints hold the values
    lines = job_log_lines(local_root)
    assert any(line.startswith("Invoking script") and "--db_pass ***" in line for line in lines)
    assert [line for line in lines if hits(line) and "script says" not in line] == []
    assert any(hits(line) for line in lines)  # the script did print them (the residual CloudWatch also has)


CHILD = """\
import asyncio, json, logging, sys

from airflow_tf_sm.training.trigger import TrainingJobTrigger

log_file, kwargs_file, events_file = sys.argv[1:4]
handler = logging.FileHandler(log_file)
handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
logging.getLogger().addHandler(handler)
logging.getLogger().setLevel(logging.DEBUG)
trigger = TrainingJobTrigger(**json.loads(open(kwargs_file).read()))


async def main():
    return [event.payload async for event in trigger.run()]


events = asyncio.run(asyncio.wait_for(main(), 120))
with open(events_file, "w") as fh:
    json.dump(events, fh)
print("events:", json.dumps(events), flush=True)
"""


def test_a_per_job_trigger_in_a_fresh_process_shows_no_secret(local_root: Path, tmp_path: Path) -> None:
    params = start_job(local_root, tmp_path, "sec-fresh")
    classpath, kwargs = TrainingJobTrigger("sec-fresh", params, poll_interval=0.1, coalesce=False).serialize()
    assert classpath == "airflow_tf_sm.training.trigger.TrainingJobTrigger"
    out = tmp_path / "child"
    out.mkdir()
    (out / "kwargs.json").write_text(json.dumps(kwargs))
    assert hits((out / "kwargs.json").read_text()) == []

    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(out / "trigger.log"), str(out / "kwargs.json"), str(out / "events.json")],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
        cwd=tmp_path,
    )

    assert child.returncode == 0, child.stderr
    events = json.loads((out / "events.json").read_text())
    assert [e["training_job_status"] for e in events] == ["Completed"]
    outputs = {
        "stdout": child.stdout,
        "stderr": child.stderr,
        **{f"child file {p.name}": p.read_text() for p in sorted(out.iterdir())},
    }
    assert {where: hits(text) for where, text in outputs.items() if hits(text)} == {}
    # the trigger streamed the script's line, masked; and its own log reached the log file
    assert "script says db_pass=*** credential=***" in child.stdout + child.stderr
    assert "sec-fresh" in (out / "trigger.log").read_text() + child.stdout
    # every log file of the job: the runner's lines redacted; only the script's own prints hold the values
    lines = job_log_lines(local_root)
    assert lines and [line for line in lines if hits(line) and "script says" not in line] == []

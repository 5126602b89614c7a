"""The local backend's command line (``tf-sm-local``): jobs, logs, endpoints and a clean machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fake_models import fake_model_tar
from local_helpers import BUCKET as JOB_BUCKET
from local_helpers import make_request, server_processes, stage_code, wait_for_status, wait_gone
from test_local_endpoints import add_model, wait_status

from airflow_tf_sm.backends.local.cli import main


def run_job(sm: Any, s3: Any, name: str, script: str, **kwargs: Any) -> dict[str, Any]:
    s3.create_bucket(Bucket=JOB_BUCKET)
    sm.create_training_job(
        **make_request(name, stage_code(s3, {"train.py": script}, key=f"code/{name}.tar.gz"), **kwargs)
    )
    return wait_for_status(sm, name, timeout=60)


def test_list_describe_and_logs(
    local_root: Path, hosting: tuple[Any, Any, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sm, s3, _ = hosting
    script = "import os, pathlib\npathlib.Path(os.environ['SM_MODEL_DIR'], 'w.txt').write_text('1')\nprint('acc=0.5')\n"
    run_job(sm, s3, "cli-job-1", script, metric_definitions=[{"Name": "acc", "Regex": "acc=([0-9.]+)"}])
    capsys.readouterr()
    assert main(["--root", str(local_root), "list"]) == 0
    assert "cli-job-1" in capsys.readouterr().out
    assert main(["--root", str(local_root), "describe", "--last"]) == 0
    out = capsys.readouterr().out
    assert "Status:            Completed\n" in out and "acc = 0.5000" in out and "w.txt" in out
    assert main(["--root", str(local_root), "logs", "cli-job-1"]) == 0
    assert "acc=0.5\n" in capsys.readouterr().out  # one host: no label


def test_root_defaults_to_the_configured_local_root(
    local_root: Path, hosting: tuple[Any, Any, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sm, s3, _ = hosting
    run_job(sm, s3, "cli-default-root", "print('hello')\n")
    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__LOCAL_ROOT", str(local_root))
    capsys.readouterr()
    assert main(["list"]) == 0
    assert "cli-default-root" in capsys.readouterr().out


def test_logs_label_hosts_and_survive_a_closed_pipe(local_root: Path, hosting: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = hosting
    run_job(sm, s3, "cli-two-hosts", "for i in range(3000):\n    print(f'line {i}')\n", instance_count=2)
    command = f"{sys.executable} -m airflow_tf_sm.backends.local.cli --root {local_root} logs cli-two-hosts"
    # the whole log, each line labelled with its host
    full = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120, check=True).stdout
    assert "[algo-1] line 2999\n" in full and "[algo-2] line 0\n" in full
    # the reader stops after one line: no BrokenPipeError, exit 0 (pipefail reports the CLI's own exit code)
    piped = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{command} | head -n 1"], capture_output=True, text=True, timeout=120
    )
    assert piped.stdout.count("\n") == 1 and piped.stdout.startswith("[algo-")
    assert "BrokenPipeError" not in piped.stderr and "Traceback" not in piped.stderr, piped.stderr
    assert piped.returncode == 0, piped.stderr


def test_endpoints_delete_endpoint_and_stop_all_leave_a_clean_machine(
    local_root: Path, hosting: tuple[Any, Any, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sm, s3, _ = hosting
    for name in ("ep-a", "ep-b"):
        sm.create_endpoint(EndpointName=name, EndpointConfigName=add_model(sm, s3, name, fake_model_tar([1.0], 0.0)))
        wait_status(sm, name)
    s3.create_bucket(Bucket=JOB_BUCKET)
    sm.create_training_job(**make_request("cli-long", stage_code(s3, {"train.py": "import time\ntime.sleep(120)\n"})))
    wait_for_status(sm, "cli-long", ("InProgress",))
    capsys.readouterr()

    assert main(["--root", str(local_root), "endpoints"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["ep-b", "InService"], ["ep-a", "InService"]]
    assert all(line.split()[2].startswith("http://127.0.0.1:") for line in lines)

    assert main(["--root", str(local_root), "delete-endpoint", "ep-a"]) == 0
    assert [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]] == ["ep-b"]
    assert sm.list_models()["Models"][0]["ModelName"] == "ep-b"  # ep-a's model went with it
    assert main(["--root", str(local_root), "delete-endpoint", "ep-a"]) == 1  # gone: says so
    assert "No endpoint ep-a" in capsys.readouterr().err

    servers = server_processes(local_root)
    assert servers
    assert main(["--root", str(local_root), "stop-all"]) == 0
    out = capsys.readouterr().out
    assert "1 training job(s) stopped, 1 endpoint(s) deleted" in out
    assert wait_for_status(sm, "cli-long", ("Stopped",))["TrainingJobStatus"] == "Stopped"
    assert sm.list_endpoints()["Endpoints"] == []
    assert wait_gone(servers)


def test_usage_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("list", "describe", "logs", "stop", "endpoints", "delete-endpoint", "stop-all"):
        assert f"tf-sm-local {command}" in out
    assert "``" not in out


def test_an_unknown_job_is_one_line_not_a_traceback(local_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(local_root), "stop", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tf-sm-local: ClientError:") and "Traceback" not in err and err.count("\n") == 1


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("tf-sm-local")
    assert script.is_file() and os.access(script, os.X_OK)

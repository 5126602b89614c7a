"""``airflow standalone`` as docs/quickstart.rst's "Run it in a real Airflow" says: start, trigger through REST, stop.

The page's two shell blocks run as written, with three changes a test needs: the Airflow home is a
temporary directory (not ``$PWD/.airflow_home``), the API server listens on a free port (not 8080, so the
tasks' execution API URL moves with it, as the page says) and
the virtual environment is this interpreter's. The run trains ``tf_sm_example`` on the local backend.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.harness import REPO, RestClient, free_ports

pytestmark = pytest.mark.e2e

QUICKSTART = REPO / "docs" / "quickstart.rst"


def section_blocks(title: str) -> list[str]:
    """The ``bash`` code blocks of one section of the quickstart page, dedented."""
    lines = QUICKSTART.read_text().splitlines()
    start = lines.index(title)
    end = next((i for i in range(start + 2, len(lines)) if lines[i].startswith("---") and i > start + 1), len(lines))
    blocks, index = [], start
    while index < end - 1:
        if lines[index].strip() == ".. code-block:: bash":
            body = []
            for following in lines[index + 2 : end - 1]:
                if following and not following.startswith("   "):
                    break
                body.append(following[3:])
            blocks.append("\n".join(body).strip() + "\n")
        index += 1
    return blocks


def json_documents(text: str) -> list[dict]:
    """The JSON objects a shell block printed one after the other (curl adds no newline)."""
    decoder, found, index = json.JSONDecoder(), [], 0
    while (index := text.find("{", index)) >= 0:
        document, index = decoder.raw_decode(text, index)
        found.append(document)
    return found


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5) as answer:
            health = json.loads(answer.read())
    except OSError:
        return False
    parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return all((health.get(part) or {}).get("status") == "healthy" for part in parts)


def wait_for(predicate, timeout: float, what: str, interval: float = 1.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_airflow_standalone_as_the_quickstart_says(tmp_path: Path) -> None:
    start, rest = section_blocks("Run it in a real Airflow")
    assert start.startswith("source .venv/bin/activate\n") and start.rstrip().endswith("airflow standalone")
    home = tmp_path / "home"
    (port,) = free_ports(1)
    script = (
        start.replace("source .venv/bin/activate", f"source {Path(sys.executable).parent}/activate")
        .replace("$PWD/.airflow_home", str(home))
        .replace(
            "airflow standalone",
            f"export AIRFLOW__API__PORT={port}\n"
            f"export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://localhost:{port}/execution/\n"
            "exec airflow standalone",
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIRTUAL_ENV"))}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"  # nothing of the venv: the page's activate puts it there
    log = (tmp_path / "standalone.log").open("wb")
    standalone = subprocess.Popen(
        ["bash", "-c", script], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for(lambda: standalone.poll() is None and healthy(port), 300, "airflow standalone to be healthy")
        password_file = home / "simple_auth_manager_passwords.json.generated"
        assert password_file.is_file()
        api = RestClient(f"http://127.0.0.1:{port}", "admin", json.loads(password_file.read_text())["admin"])
        wait_for(lambda: api.call("GET", "/api/v2/dags/tf_sm_example")[0] == 200, 180, "tf_sm_example to be parsed")

        rest_env = {**env, "AIRFLOW_HOME": str(home), "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}
        done = subprocess.run(
            ["bash", "-c", rest.replace("localhost:8080", f"127.0.0.1:{port}")],
            env=rest_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        run = json_documents(done.stdout)[-1]  # the POST's answer: the new run
        assert run["dag_id"] == "tf_sm_example" and run["logical_date"] is None and run["conf"] == {"epochs": 3}
        path = f"/api/v2/dags/tf_sm_example/dagRuns/{urllib.parse.quote(run['dag_run_id'], safe='')}"

        def ended() -> dict | None:
            assert standalone.poll() is None, "airflow standalone exited"
            state = api.get(path)
            return state if state["state"] in ("success", "failed") else None

        final = wait_for(ended, 900, "the run to end", interval=2)
        assert final["state"] == "success", (tmp_path / "standalone.log").read_text()[-5000:]
        from airflow_tf_sm.backends.local.clients import local_clients

        sagemaker = local_clients(home / "airflow_tf_sm")[0]
        [job] = sagemaker.list_training_jobs()["TrainingJobSummaries"]
        desc = sagemaker.describe_training_job(TrainingJobName=job["TrainingJobName"])
        assert desc["TrainingJobStatus"] == "Completed" and desc["HyperParameters"]["epochs"] == "3"
    finally:
        # Ctrl-C, as the page says; then make sure nothing of it is left
        with contextlib.suppress(ProcessLookupError):
            os.killpg(standalone.pid, signal.SIGINT)
        try:
            standalone.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(standalone.pid, signal.SIGKILL)
            standalone.wait(timeout=30)
        log.close()
        subprocess.run(
            [str(Path(sys.executable).parent / "tf-sm-local"), "--root", str(home / "airflow_tf_sm"), "stop-all"],
            capture_output=True,
            timeout=120,
            check=False,
        )
    assert standalone.returncode is not None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(standalone.pid, 0)
        pytest.fail("processes of airflow standalone outlived Ctrl-C")

"""Shared fixtures: an isolated AIRFLOW_HOME, a migrated Airflow DB, a moto server, a local backend root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Airflow reads its settings at import time: point it at a throwaway home before anything imports it.
_HOME = Path(tempfile.mkdtemp(prefix="airflow_tf_sm_tests_"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
# dag.test() serializes the DAGs of the configured bundles: the examples and the test-only DAGs.
_TESTS = Path(__file__).resolve().parent
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_TESTS.parent / "dags_examples")
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {
            "name": name,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(path)},
        }
        for name, path in (("examples", _TESTS.parent / "dags_examples"), ("test-dags", _TESTS / "dags"))
    ]
)
os.environ.pop("AIRFLOW__AIRFLOW_TF_SM__BACKEND", None)
os.environ.pop("AIRFLOW__AIRFLOW_TF_SM__LOCAL_ROOT", None)
# Tests never reach AWS: fake credentials, a fixed region.
for _key, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_key] = _value
os.environ.pop("AWS_PROFILE", None)

REPO = Path(__file__).resolve().parent.parent
# Like a deployment's dags folder, the examples' folder is importable (their shared tasks and data).
sys.path.insert(0, str(REPO / "dags_examples"))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Run ``airflow db migrate`` once for the session's AIRFLOW_HOME (needed by ``dag.test()``)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=300,
    )
    return _HOME


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 (real HTTP); yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_endpoint(moto_server: str) -> Iterator[str]:
    """The moto endpoint, reset to an empty state for each test."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10)
    yield moto_server


@pytest.fixture
def local_root(tmp_path: Path) -> Iterator[Path]:
    """A fresh state root for the local backend; jobs and model servers still running at the end are stopped."""
    root = tmp_path / "tf_sm_root"
    root.mkdir()
    yield root
    from botocore.exceptions import ClientError

    from airflow_tf_sm.backends.local.clients import local_clients
    from airflow_tf_sm.backends.local.hosting_api import stop_local_endpoints

    sagemaker = local_clients(root)[0]
    for tuning in sagemaker.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]:
        if tuning["HyperParameterTuningJobStatus"] == "InProgress":  # no new training jobs after the test
            sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning["HyperParameterTuningJobName"])
    for job in sagemaker.list_training_jobs(StatusEquals="InProgress")["TrainingJobSummaries"]:
        try:
            sagemaker.stop_training_job(TrainingJobName=job["TrainingJobName"])
        except ClientError:  # it ended between the listing and the stop
            pass
    stop_local_endpoints(root)

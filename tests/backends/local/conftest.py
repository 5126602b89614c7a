"""Fixtures of the local backend tests."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from local_helpers import server_processes, wait_gone

from airflow_tf_sm.backends.local.clients import local_clients
from airflow_tf_sm.backends.local.hosting_api import stop_local_endpoints
from airflow_tf_sm.backends.local.serving import LOADER_ENV

HERE = Path(__file__).resolve().parent
#: The bucket the endpoint tests keep their models in.
MODELS_BUCKET = "bucket"


@pytest.fixture
def clients(local_root: Path) -> tuple[Any, Any, Any]:
    """(sagemaker, s3, logs) local clients over a fresh root, with a 1 s stop grace period."""
    return local_clients(local_root, "us-east-1", stop_grace=1.0)[:3]


@pytest.fixture
def hosting(local_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, Any]]:
    """(sagemaker, s3, runtime) clients whose model servers load fake models; no server outlives the test."""
    monkeypatch.setenv(LOADER_ENV, "fake_models:load")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p))
    sm, s3, _logs, runtime = local_clients(local_root, "us-east-1", stop_grace=1.0)
    s3.create_bucket(Bucket=MODELS_BUCKET)
    yield sm, s3, runtime
    stop_local_endpoints(local_root, grace=1.0)
    leftovers = server_processes(local_root)
    if not wait_gone(leftovers):
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
        pytest.fail(f"model servers still running after the test: {leftovers}")

"""Fixtures of the local backend tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_tf_sm.backends.local.clients import local_clients


@pytest.fixture
def clients(local_root: Path) -> tuple[Any, Any, Any]:
    """(sagemaker, s3, logs) local clients over a fresh root, with a 1 s stop grace period."""
    return local_clients(local_root, "us-east-1", stop_grace=1.0)[:3]

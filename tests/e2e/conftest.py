"""The e2e suite's cluster: one real Airflow deployment for the session, stopped cleanly at the end.

A failing e2e test gets the tail of every Airflow process's log in its report; the full logs stay in
the session's temporary directory (``<basetemp>/e2e0/logs``).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.harness import AirflowCluster

MOTO_CONN_ID = "aws_e2e_moto"


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory, moto_server: str) -> Iterator[AirflowCluster]:
    """Scheduler, dag-processor, triggerer and API server, running until the session ends.

    The DAGs are parsed and unpaused before the first test; the ``aws_e2e_moto`` connection points the
    sagemaker backend at the session's moto server.
    """
    missing = [] if glob.glob("/usr/lib/postgresql/*/bin/initdb") else ["postgresql"]
    if not shutil.which("chromium"):
        missing.append("chromium")
    if missing and not os.environ.get("CI"):
        pytest.skip(f"the e2e tests need the Debian packages {missing}: run tests/e2e/setup.sh as root")
    conn = {"conn_type": "aws", "extra": {"endpoint_url": moto_server, "region_name": "us-east-1"}}
    cluster = AirflowCluster(
        tmp_path_factory.mktemp("e2e"),
        parallelism=2,
        extra_env={f"AIRFLOW_CONN_{MOTO_CONN_ID.upper()}": json.dumps(conn)},
    )
    try:
        cluster.migrate()
        cluster.start_all()
        cluster.wait_dags(ALL_DAGS)
        for dag_id in ALL_DAGS:
            if dag_id not in SCHEDULED_DAGS:  # their tests unpause them when ready to watch
                cluster.set_paused(dag_id, False)
        yield cluster
    finally:
        strays = cluster.close()
        time.sleep(1)
        left = cluster.stray_processes()
    assert not left, f"processes survived the teardown: {left}"
    if strays:
        print(f"teardown killed stray processes: {strays}")


ALL_DAGS = (
    "tf_sm_example",
    "tf_sm_e2e_nightly",
    "tf_sm_e2e_backfill",
    "tf_sm_e2e_params",
    "tf_sm_e2e_deferred",
    "tf_sm_e2e_sync",
    "tf_sm_e2e_quick",
    "tf_sm_e2e_aws_links",
    "tf_sm_config_file",
    "tf_sm_fire_and_attach",
    "tf_sm_nightly",
    "tf_sm_sweep",
    "tf_sm_distributed",
    "tf_sm_approved_deploy",
)
#: Kept paused until their tests are ready (the approval DAG: each nightly training would start a run that
#: waits a day for a person).
SCHEDULED_DAGS = ("tf_sm_e2e_nightly", "tf_sm_e2e_backfill", "tf_sm_nightly", "tf_sm_approved_deploy")


@pytest.fixture(autouse=True)
def _runs_end_before_the_next_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each e2e test, wait until its DAG runs ended, so a failure does not spill into the next test."""
    yield
    if "cluster" in request.fixturenames:
        cluster: AirflowCluster = request.getfixturevalue("cluster")
        cluster.waiting(lambda: not cluster.active_runs(), 300, "the test's DAG runs to end", interval=1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    """Attach the Airflow processes' log tails to the report of a failed e2e test."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    cluster = getattr(item, "funcargs", {}).get("cluster")
    if report.failed and isinstance(cluster, AirflowCluster):
        report.sections.append(("Airflow process logs", cluster.log_tails(60)))

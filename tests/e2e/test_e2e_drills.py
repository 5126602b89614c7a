"""Failure drills in a running Airflow: a killed task process, a cleared running task, a throttling API."""

from __future__ import annotations

import os
import signal

import pytest

from tests.e2e.harness import AirflowCluster, wait_for

pytestmark = pytest.mark.e2e

SYNC = "tf_sm_e2e_sync"
DEFERRED = "tf_sm_e2e_deferred"


def wait_training(cluster: AirflowCluster, dag_id: str, run_id: str) -> dict:
    """Wait until the run's (first) job is training; return its description."""

    def training() -> dict | None:
        jobs = cluster.jobs_of(dag_id, run_id)
        return jobs[0] if jobs and jobs[0]["SecondaryStatus"] == "Training" else None

    return cluster.waiting(training, 120, f"the job of {run_id} to be training")


def test_sigkilled_task_process_is_retried_and_reattaches_to_its_job(cluster: AirflowCluster) -> None:
    run_id = cluster.trigger(SYNC, {"seconds": 20})
    job = wait_training(cluster, SYNC, run_id)
    ti = cluster.task_instance(SYNC, run_id)
    assert ti["state"] == "running" and ti["try_number"] == 1

    os.kill(ti["pid"], signal.SIGKILL)  # the worker's task process dies mid-training: no on_kill, no cleanup
    wait_for(lambda: not os.path.exists(f"/proc/{ti['pid']}/cmdline"), 30, "the task process to die")
    assert cluster.jobs_of(SYNC, run_id)[0]["TrainingJobStatus"] == "InProgress"  # the job outlives it

    assert cluster.wait_run(SYNC, run_id)["state"] == "success"
    assert cluster.task_instance(SYNC, run_id)["try_number"] == 2
    jobs = cluster.jobs_of(SYNC, run_id)
    assert [(j["TrainingJobName"], j["TrainingJobStatus"]) for j in jobs] == [(job["TrainingJobName"], "Completed")]
    assert "step=20" in cluster.job_log(job["TrainingJobName"])  # the first try's job ran to its end


def test_clearing_a_running_task_stops_its_job(cluster: AirflowCluster) -> None:
    run_id = cluster.trigger(SYNC, {"seconds": 120, "rerun_seconds": 1})
    job = wait_training(cluster, SYNC, run_id)

    body = {"dry_run": False, "only_failed": False, "task_ids": ["train"], "dag_run_id": run_id}
    cleared = cluster.api.request("POST", f"/api/v2/dags/{SYNC}/clearTaskInstances", body)
    assert [t["task_id"] for t in cleared["task_instances"]] == ["train"]

    def first_job_status() -> str | None:
        status = cluster.jobs_of(SYNC, run_id)[0]["TrainingJobStatus"]
        return status if status in ("Stopped", "Completed", "Failed") else None

    assert cluster.waiting(first_job_status, 60, "the cleared task's job to end") == "Stopped"
    # the cleared task runs again: the stopped job cannot be reused, so a new one (-a2) trains
    assert cluster.wait_run(SYNC, run_id)["state"] == "success"
    jobs = cluster.jobs_of(SYNC, run_id)
    assert [(j["TrainingJobName"], j["TrainingJobStatus"]) for j in jobs] == [
        (job["TrainingJobName"], "Stopped"),
        (job["TrainingJobName"] + "-a2", "Completed"),
    ]


def test_every_run_succeeds_when_30_percent_of_api_calls_are_throttled(cluster: AirflowCluster) -> None:
    faults = {"AIRFLOW_TF_SM_LOCAL_FAULTS": "throttle=0.3"}
    cluster.restart("scheduler", faults)  # its LocalExecutor workers run the tasks
    cluster.restart("triggerer", faults)
    try:
        cluster.wait_healthy()
        runs = [(SYNC, cluster.trigger(SYNC, {"seconds": 3})) for _ in range(3)]
        runs += [(DEFERRED, cluster.trigger(DEFERRED, {"seconds": 8})) for _ in range(3)]
        for dag_id, run_id in runs:
            assert cluster.wait_run(dag_id, run_id, timeout=300)["state"] == "success"
            assert cluster.task_instance(dag_id, run_id)["try_number"] == 1  # throttling never failed a try
            assert [j["TrainingJobStatus"] for j in cluster.jobs_of(dag_id, run_id)] == ["Completed"]
        logs = [cluster.task_log(dag_id, run_id, 1) for dag_id, run_id in runs]
        throttled = sum(log.count("ThrottlingException") for log in logs)
        assert throttled > 0, "the fault knob injected no throttling"
        print(f"throttling drill: {throttled} ThrottlingException retries logged across {len(runs)} runs")
    finally:
        cluster.restart("scheduler")
        cluster.restart("triggerer")
        cluster.wait_healthy()

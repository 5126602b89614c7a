"""Deferral under the real triggerer: deferred training holds no worker slot and survives a triggerer restart."""

from __future__ import annotations

import time

import pytest

from tests.e2e.harness import AirflowCluster

pytestmark = pytest.mark.e2e

DAG_ID = "tf_sm_e2e_deferred"


def start_deferred_runs(cluster: AirflowCluster, count: int, seconds: int) -> list[str]:
    """Trigger ``count`` runs and wait until all their training tasks are deferred while the jobs train."""
    run_ids = [cluster.trigger(DAG_ID, {"seconds": seconds}) for _ in range(count)]

    def all_deferred_and_training() -> bool:
        tis = [cluster.task_instance(DAG_ID, r) for r in run_ids]
        jobs = [cluster.jobs_of(DAG_ID, r) for r in run_ids]
        in_triggerer = all(ti["state"] == "deferred" and ti["triggerer_job"] is not None for ti in tis)
        return in_triggerer and all(len(j) == 1 and j[0]["SecondaryStatus"] == "Training" for j in jobs)

    cluster.waiting(all_deferred_and_training, 120, f"{count} tasks deferred to the triggerer, their jobs training")
    return run_ids


def check_all_complete_once(cluster: AirflowCluster, run_ids: list[str]) -> None:
    """Every run succeeds in its first try, with exactly one Completed job."""
    for run_id in run_ids:
        assert cluster.wait_run(DAG_ID, run_id)["state"] == "success"
        assert cluster.task_instance(DAG_ID, run_id)["try_number"] == 1
        jobs = cluster.jobs_of(DAG_ID, run_id)
        assert [j["TrainingJobStatus"] for j in jobs] == ["Completed"]


def test_deferred_training_tasks_hold_no_worker_slot(cluster: AirflowCluster) -> None:
    # three deferred tasks at once although the LocalExecutor has two slots (parallelism=2)
    run_ids = start_deferred_runs(cluster, 3, seconds=20)
    for run_id in run_ids:
        ti = cluster.task_instance(DAG_ID, run_id)
        assert ti["trigger"]["classpath"] == "airflow_tf_sm.training.trigger.TrainingJobTrigger"

    # meanwhile a plain task gets a worker slot and finishes
    quick = cluster.trigger("tf_sm_e2e_quick")
    assert cluster.wait_run("tf_sm_e2e_quick", quick, timeout=60)["state"] == "success"
    assert [cluster.task_instance(DAG_ID, r)["state"] for r in run_ids] == ["deferred"] * 3
    assert all(cluster.jobs_of(DAG_ID, r)[0]["TrainingJobStatus"] == "InProgress" for r in run_ids)

    check_all_complete_once(cluster, run_ids)


def test_restarting_the_triggerer_while_three_jobs_are_deferred_completes_them_all(cluster: AirflowCluster) -> None:
    run_ids = start_deferred_runs(cluster, 3, seconds=20)

    cluster.stop("triggerer")  # SIGTERM: the triggerer shuts down cleanly, its triggers are released
    time.sleep(2)
    # a triggerer shutdown never stops a job, nor fails its task
    assert [cluster.task_instance(DAG_ID, r)["state"] for r in run_ids] == ["deferred"] * 3
    assert all(cluster.jobs_of(DAG_ID, r)[0]["TrainingJobStatus"] == "InProgress" for r in run_ids)

    cluster.start("triggerer")
    check_all_complete_once(cluster, run_ids)

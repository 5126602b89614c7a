"""Scheduled runs with catchup and ``airflow backfill create``: one job per logical date, each on its own data."""

from __future__ import annotations

import hashlib
import re

import pytest
from tf_sm_example.data import make_dataset, seed_from_date

from tests.e2e.harness import AirflowCluster

pytestmark = pytest.mark.e2e


def expected_md5(ds: str) -> str:
    """md5 of the train CSV that ``generate_data`` writes for ``ds``."""
    return hashlib.md5(make_dataset(seed_from_date(ds))["train/data.csv"]).hexdigest()


def check_one_job_per_run(cluster: AirflowCluster, dag_id: str, runs: list[dict]) -> list[dict]:
    """Each run has exactly one Completed job, trained on that run's ``ds`` data; return the jobs."""
    jobs = []
    for run in runs:
        ds = run["logical_date"][:10]
        run_jobs = cluster.jobs_of(dag_id, run["dag_run_id"])
        assert len(run_jobs) == 1, f"{run['dag_run_id']}: {[j['TrainingJobName'] for j in run_jobs]}"
        job = run_jobs[0]
        assert job["TrainingJobStatus"] == "Completed"
        channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]}
        assert channels == {"train": f"s3://tf-sm-e2e/data/{ds}/train", "test": f"s3://tf-sm-e2e/data/{ds}/test"}
        log = cluster.job_log(job["TrainingJobName"])
        assert re.findall(r"^data_md5=(\w+)$", log, re.M) == [expected_md5(ds)], log
        jobs.append(job)
    names = [j["TrainingJobName"] for j in jobs]
    assert len(set(names)) == len(names), f"duplicate job names: {names}"
    return jobs


def test_catchup_over_three_intervals_trains_each_day_on_its_own_data(cluster: AirflowCluster) -> None:
    dag_id = "tf_sm_e2e_nightly"
    cluster.set_paused(dag_id, False)
    cluster.waiting(lambda: len(cluster.runs(dag_id)) == 3, 120, "three catchup runs")
    runs = [cluster.wait_run(dag_id, r["dag_run_id"]) for r in cluster.runs(dag_id)]

    assert [r["logical_date"][:10] for r in runs] == ["2025-01-01", "2025-01-02", "2025-01-03"]
    assert {r["run_type"] for r in runs} == {"scheduled"}
    assert [r["state"] for r in runs] == ["success"] * 3
    check_one_job_per_run(cluster, dag_id, runs)
    # the end_date is reached: the scheduler plans no fourth run
    status, dag = cluster.api.call("GET", f"/api/v2/dags/{dag_id}")
    assert status == 200 and dag["next_dagrun_logical_date"] is None, dag
    assert len(cluster.runs(dag_id)) == 3


def test_backfill_over_five_dates_with_three_active_runs_trains_each_date_once(cluster: AirflowCluster) -> None:
    dag_id = "tf_sm_e2e_backfill"
    cluster.set_paused(dag_id, False)  # a paused DAG's backfill runs never get their tasks scheduled
    args = ["--dag-id", dag_id, "--from-date", "2024-03-01", "--to-date", "2024-03-05", "--max-active-runs", "3"]
    cluster.airflow("backfill", "create", *args)

    def backfill_runs() -> list[dict]:
        return [r for r in cluster.runs(dag_id) if r["run_type"] == "backfill"]

    most_active = 0  # runs in state "running" at once (the others wait in "queued")

    def all_ended() -> bool:
        nonlocal most_active
        runs = backfill_runs()
        most_active = max(most_active, sum(r["state"] == "running" for r in runs))
        return len(runs) == 5 and all(r["state"] in ("success", "failed") for r in runs)

    cluster.waiting(all_ended, 240, "five backfill runs to end", interval=0.3)
    runs = sorted(backfill_runs(), key=lambda r: r["logical_date"])
    assert [r["logical_date"][:10] for r in runs] == [f"2024-03-0{d}" for d in range(1, 6)]
    assert [r["state"] for r in runs] == ["success"] * 5
    assert 1 <= most_active <= 3, f"{most_active} backfill runs were active at once"
    backfill_jobs = check_one_job_per_run(cluster, dag_id, runs)

    # backfilling the same dates again trains nothing twice: existing runs are kept (reprocess "none")
    cluster.airflow("backfill", "create", *args, check=False)  # returns once it created what it creates
    assert len(backfill_runs()) == 5
    run_ids = {r["dag_run_id"] for r in runs}
    again = [j for j in cluster.jobs_of(dag_id) if j["Tags"]["airflow-tf-sm:run-id"] in run_ids]
    assert sorted(j["TrainingJobName"] for j in again) == sorted(j["TrainingJobName"] for j in backfill_jobs)

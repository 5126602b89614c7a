"""Every example triggered through the REST API with ``logical_date: null``, as ``airflow standalone`` users do.

Such a run has no ``ds`` in its context: the examples take their data date from ``dag_run.run_after`` and
the default job names from the run id (docs/quickstart.rst, "Runs without a logical date").
``tf_sm_example`` is covered by the manual-trigger test, which triggers it the same way.
"""

from __future__ import annotations

import pytest

from tests.e2e.harness import AirflowCluster

pytestmark = pytest.mark.e2e

#: The examples and a run conf that keeps each short (the nightly's gate low enough to deploy).
EXAMPLES = {
    "tf_sm_config_file": {"epochs": 2},
    "tf_sm_fire_and_attach": {"epochs": 15},
    "tf_sm_nightly": {"epochs": 2, "min_val_accuracy": 0.5},
    "tf_sm_sweep": {"epochs": 2},
    "tf_sm_distributed": {"epochs": 3},
}


def test_every_example_runs_without_a_logical_date(cluster: AirflowCluster) -> None:
    runs = {dag_id: cluster.trigger(dag_id, conf, logical_date=None) for dag_id, conf in EXAMPLES.items()}
    # the nightly is paused until now (its schedule may add one run for its latest interval: catchup=False)
    cluster.set_paused("tf_sm_nightly", False)
    try:
        for dag_id, run_id in runs.items():
            run = cluster.wait_run(dag_id, run_id, timeout=900)
            assert run["logical_date"] is None
            assert run["state"] == "success", (dag_id, cluster.task_log(dag_id, run_id, 1, task_id=first_task(dag_id)))
            day = run["run_after"][:10]
            jobs = cluster.jobs_of(dag_id, run_id, task_id=first_task(dag_id))
            if dag_id == "tf_sm_nightly":  # one job per date: the run the schedule adds for today may have started it
                jobs = [j for j in cluster.jobs() if j["TrainingJobName"] == f"tf-sm-nightly-{day.replace('-', '')}"]
            assert jobs, dag_id
            for job in jobs:
                uris = [c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]]
                assert all(f"/data/{day}/" in uri for uri in uris), (dag_id, uris)
    finally:
        cluster.set_paused("tf_sm_nightly", True)
        cluster.waiting(lambda: not cluster.active_runs(), 600, "the examples' runs to end", interval=1)
        cluster.stop_local_jobs()  # the nightly's endpoint stays up by design


def first_task(dag_id: str) -> str:
    """The example's training task."""
    return {"tf_sm_fire_and_attach": "start_training", "tf_sm_sweep": "sweep"}.get(dag_id, "train")

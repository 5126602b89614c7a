"""Story 10 in a real Airflow: the nightly training's asset event starts the approval DAG; a person answers.

Two nightly runs of different dates (a manual one, and the run the scheduler adds for the latest interval
when the DAG is unpaused) train two models and emit two asset events; each starts a run of
``tf_sm_approved_deploy``, which waits for a person. The first is approved through the REST API and
deploys that event's training job to ``tf-sm-approved``; the second is rejected and leaves the endpoint
on the first one's config and model.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest

from tests.e2e.harness import AirflowCluster

pytestmark = pytest.mark.e2e

NIGHTLY, APPROVAL, ENDPOINT = "tf_sm_nightly", "tf_sm_approved_deploy", "tf-sm-approved"


def run_path(dag_id: str, run_id: str) -> str:
    return f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"


def waiting_for_a_person(cluster: AirflowCluster, run_id: str) -> tuple[dict[str, Any], int]:
    """Wait until the run's approval task asks its question; return its HITL detail and the task's try."""
    path = run_path(APPROVAL, run_id) + "/taskInstances/approve"

    def asked() -> tuple[dict[str, Any], int] | None:
        cluster.check_running()
        task = cluster.api.get(path)
        status, detail = cluster.api.call("GET", path + "/-1/hitlDetails")
        waiting = task["state"] in ("awaiting_input", "deferred")  # 3.3+; 3.1/3.2 defer to a trigger
        return (
            (detail, int(task["try_number"])) if status == 200 and waiting and not detail["response_received"] else None
        )

    detail, try_number = cluster.waiting(asked, 600, f"the approval task of {run_id} to ask", interval=1)
    # Airflow 3.3 parks the task and its worker process exits; an answer the scheduler reads before it has
    # the executor's report of that exit is lost ("finished with state success, but ... queued": the try
    # is retried). A person takes longer than that; the test waits for the report in the scheduler's log.
    parked = (
        "Received executor event with state success for task instance TaskInstanceKey("
        f"dag_id='{APPROVAL}', task_id='approve', run_id='{run_id}', try_number={try_number}"
    )
    cluster.waiting(
        lambda: parked in (cluster.log_dir / "scheduler.log").read_text(errors="replace"),
        120,
        f"the scheduler to see try {try_number} of {run_id}'s approval task parked",
        interval=0.5,
    )
    return detail, try_number


def answer(cluster: AirflowCluster, run_id: str, option: str) -> dict[str, Any]:
    """Answer like a person through the REST API; return what the person was shown.

    An answer given within a second of the task starting to wait can be lost (Airflow 3.3 then sees the
    parked try's exit as a state changed externally and retries the task, which asks again): a person
    asked again answers again.
    """
    path = run_path(APPROVAL, run_id) + "/taskInstances/approve"
    for _ in range(3):
        shown, try_number = waiting_for_a_person(cluster, run_id)
        cluster.api.request("PATCH", path + "/-1/hitlDetails", {"chosen_options": [option], "params_input": {}})

        def taken(asked_try: int = try_number) -> str | None:
            task = cluster.api.get(path)
            if task["state"] in ("success", "failed", "skipped"):
                return "taken"
            return "asked again" if int(task["try_number"]) > asked_try else None

        if cluster.waiting(taken, 300, f"the answer {option} to {run_id} to be taken", interval=1) == "taken":
            return shown
    raise AssertionError(f"the approval task of {run_id} never took the answer {option}")


def candidate(cluster: AirflowCluster, run_id: str) -> dict[str, Any]:
    """The extra of the asset event that triggered an approval run."""
    events = cluster.api.get(run_path(APPROVAL, run_id) + "/upstreamAssetEvents")["asset_events"]
    assert len(events) == 1, events
    assert events[0]["source_dag_id"] == NIGHTLY and events[0]["source_task_id"] == "train"
    return dict(events[0]["extra"])


def endpoint_model(cluster: AirflowCluster) -> tuple[str, str]:
    """The endpoint's config name and the model data its config serves."""
    sm = cluster.sagemaker()
    config_name = sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    model_name = sm.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"][0]["ModelName"]
    return config_name, sm.describe_model(ModelName=model_name)["PrimaryContainer"]["ModelDataUrl"]


def test_the_nightly_models_event_asks_a_person_and_only_an_approval_deploys(cluster: AirflowCluster) -> None:
    nightly_before = {r["dag_run_id"] for r in cluster.runs(NIGHTLY)}
    approval_before = {r["dag_run_id"] for r in cluster.runs(APPROVAL)}
    cluster.set_paused(APPROVAL, False)
    # another date than the run the scheduler adds for the latest interval when the DAG is unpaused
    # (catchup=False): one job per date, so the two runs train two models
    # its own gate refuses (val_accuracy is below 1.0): the approval run alone decides what tf-sm-approved serves,
    # and the run's deploy does not update tf-sm-nightly within a second of deferring (Airflow 3.3 can then lose
    # the resumed task: the trigger's event is read before the executor's report of the deferred try's exit)
    cluster.trigger(NIGHTLY, {"epochs": 2, "min_val_accuracy": 1.0}, logical_date="2025-06-01T00:00:00Z")
    cluster.set_paused(NIGHTLY, False)
    try:
        first = cluster.waiting(
            lambda: sorted(r["dag_run_id"] for r in cluster.runs(APPROVAL) if r["dag_run_id"] not in approval_before),
            900,
            "an asset-triggered run of the approval DAG",
            interval=1,
        )[0]
        assert cluster.run(APPROVAL, first)["run_type"] == "asset_triggered"
        offered = candidate(cluster, first)
        shown = answer(cluster, first, "Approve")
        assert shown["subject"] == f"Deploy the nightly model to {ENDPOINT}?"
        assert shown["options"] == ["Approve", "Reject"]
        assert f"Training job **{offered['job_name']}**" in shown["body"]
        assert f"| val_accuracy | {offered['metrics']['val_accuracy']:.4f} |" in shown["body"]
        assert offered["model_data"] in shown["body"]
        assert cluster.wait_run(APPROVAL, first, timeout=600)["state"] == "success"
        assert cluster.task_instance(APPROVAL, first, "deploy")["state"] == "success"
        approved_config, approved_model = endpoint_model(cluster)
        assert approved_model == offered["model_data"]

        second = cluster.waiting(
            lambda: [
                r["dag_run_id"] for r in cluster.runs(APPROVAL) if r["dag_run_id"] not in approval_before | {first}
            ],
            900,
            "the second nightly model's approval run",
            interval=1,
        )[0]
        rejected = candidate(cluster, second)
        assert rejected["job_name"] != offered["job_name"]  # a different model: deploying it would change the config
        answer(cluster, second, "Reject")
        assert cluster.wait_run(APPROVAL, second, timeout=600)["state"] == "success"
        assert cluster.task_instance(APPROVAL, second, "deploy")["state"] == "skipped"
        assert endpoint_model(cluster) == (approved_config, approved_model)
        nightly_runs = [r for r in cluster.runs(NIGHTLY) if r["dag_run_id"] not in nightly_before]
        ended = [cluster.wait_run(NIGHTLY, r["dag_run_id"], timeout=600) for r in nightly_runs]  # a deploy may go on
        assert len(ended) == 2 and all(r["state"] == "success" for r in ended), ended
    finally:
        cluster.set_paused(NIGHTLY, True)
        cluster.set_paused(APPROVAL, True)
        for run in cluster.active_runs():  # a run still asking (a failure above) would wait a day
            if run["dag_id"] == APPROVAL:
                cluster.api.call("PATCH", run_path(APPROVAL, run["dag_run_id"]), {"state": "failed"})
        cluster.waiting(lambda: not cluster.active_runs(), 600, "the runs to end", interval=1)
        cluster.stop_local_jobs()

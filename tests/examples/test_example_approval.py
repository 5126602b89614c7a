"""Story 10: the nightly model as an asset, and the deploy DAG scheduled on it behind a person's approval.

The approval itself (a person answering through the REST API, Approve then Reject) runs in the real
Airflow of ``tests/e2e`` (``test_e2e_approval.py``); here: the DAGs' wiring, what the person is shown,
and the approved path with ``dag.test()`` on the local backend (fake model, no TensorFlow).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.test_lineage_assets import LOCAL_TESTS, triggering_events
from tests.training.test_operator import EXAMPLES, load_dag, xcom_of

CANDIDATE = {
    "job_name": "tf-sm-nightly-20250301",
    "model_data": "s3://demo-bucket/models/tf-sm-nightly-20250301/output/model.tar.gz",
    "metrics": {"val_accuracy": 0.93125, "val_loss": 0.2},
    "backend": "local",
}


def test_the_deploy_dag_is_scheduled_on_the_nightly_models_asset(airflow_db: Path) -> None:
    from airflow.sdk import Asset

    nightly = load_dag(EXAMPLES / "tf_sm_nightly_dag.py", "tf_sm_nightly")
    approved = load_dag(EXAMPLES / "tf_sm_approval_dag.py", "tf_sm_approved_deploy")
    assert nightly.get_task("train").outlets == [Asset(name="tf_sm_nightly_model")]
    assert list(approved.timetable.asset_condition.objects) == [Asset(name="tf_sm_nightly_model")]
    assert approved.get_task("approve").downstream_task_ids == {"deploy"}
    assert type(approved.get_task("approve")).__name__ == "ApprovalOperator"


def test_the_person_sees_the_candidates_metrics_and_the_deploy_gets_its_job(airflow_db: Path) -> None:
    dag = load_dag(EXAMPLES / "tf_sm_approval_dag.py", "tf_sm_approved_deploy")
    events = triggering_events(("tf_sm_nightly_model", "2025-03-02T01:00:00+00:00", CANDIDATE, []))
    context: dict[str, Any] = {"params": {"training_job_name": None}, "triggering_asset_events": events}
    approve, deploy = dag.get_task("approve"), dag.get_task("deploy")
    approve.render_template_fields(context)  # type: ignore[arg-type]
    deploy.render_template_fields(context)  # type: ignore[arg-type]
    assert approve.subject == "Deploy the nightly model to tf-sm-approved?"
    assert approve.body == (
        "Training job **tf-sm-nightly-20250301** (local) finished with:\n"
        "\n"
        "| metric | value |\n"
        "|---|---|\n"
        "| val_accuracy | 0.9313 |\n"
        "| val_loss | 0.2000 |\n"
        "\n"
        "Model: `s3://demo-bucket/models/tf-sm-nightly-20250301/output/model.tar.gz`\n"
        "\n"
        "**Approve** deploys it to the endpoint `tf-sm-approved`; **Reject** leaves the endpoint as it is."
    )
    assert deploy.training_job_name == "tf-sm-nightly-20250301"


@pytest.fixture
def local_env(airflow_db: Path, local_root: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from airflow_tf_sm.hook import TFSageMakerHook

    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__BACKEND", "local")
    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__LOCAL_ROOT", str(local_root))
    monkeypatch.setenv("AIRFLOW_TF_SM_LOCAL_MODEL_LOADER", "fake_models:load")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(LOCAL_TESTS), os.environ.get("PYTHONPATH")) if p))
    hook = TFSageMakerHook(backend="local", local_root=str(local_root), region_name="us-east-1")
    yield hook
    for endpoint in hook.clients.sagemaker.list_endpoints()["Endpoints"]:
        hook.delete_endpoint(endpoint["EndpointName"])


def test_an_approved_candidate_is_deployed(local_env: Any, tmp_path: Path) -> None:
    """The approval marked given (``dag.test()`` cannot answer a person's question): the deploy runs."""
    from airflow_tf_sm.training.spec import TrainingJobSpec

    hook = local_env
    spec = TrainingJobSpec.from_mapping(
        {
            "entry_point": "train.py",
            "source_dir": str(Path(__file__).resolve().parents[1] / "dags" / "lineage_code"),
            "output_path": "s3://approval-tests/models",
        }
    )
    hook.training.create(hook.training.request(spec, "candidate-1", hook.training.stage_code(spec)))
    hook.training.wait("candidate-1", poll_interval=0.3)
    dag = load_dag(EXAMPLES / "tf_sm_approval_dag.py", "tf_sm_approved_deploy")
    run = dag.test(run_conf={"training_job_name": "candidate-1"}, mark_success_pattern="approve")
    assert run.state == "success"
    deployed = xcom_of(run, "deploy")
    assert deployed["endpoint_name"] == "tf-sm-approved" and deployed["status"] == "InService"
    assert deployed["model_data"] == "s3://approval-tests/models/candidate-1/output/model.tar.gz"

"""Asset events: every operator kind fills its outlets' event extra with its XCom result (real ``dag.test()``).

The training script writes a fake linear model (``tests/backends/local/fake_models.py`` serves it), so
deploy and batch transform run on the local backend without TensorFlow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.training.test_operator import load_dag, xcom_of

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "tests" / "dags" / "tf_sm_lineage_test_dags.py"
LOCAL_TESTS = REPO / "tests" / "backends" / "local"


@pytest.fixture
def local_env(airflow_db: Path, local_root: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The local backend (fake models) as every task's default; data for the training and scoring jobs."""
    from airflow_tf_sm.hook import TFSageMakerHook

    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__BACKEND", "local")
    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__LOCAL_ROOT", str(local_root))
    monkeypatch.setenv("AIRFLOW_TF_SM_LOCAL_MODEL_LOADER", "fake_models:load")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(LOCAL_TESTS), os.environ.get("PYTHONPATH")) if p))
    hook = TFSageMakerHook(backend="local", local_root=str(local_root), region_name="us-east-1")
    hook.write_bytes("s3://lineage-tests/data/train/rows.csv", b"1,2\n")
    hook.write_bytes("s3://lineage-tests/data/score/rows.csv", b"1,1\n2,2\n")
    yield hook
    for endpoint in hook.clients.sagemaker.list_endpoints()["Endpoints"]:
        hook.delete_endpoint(endpoint["EndpointName"])


def events_of(run: Any) -> list[dict[str, Any]]:
    """The asset events of a DAG run's tasks: uri, source task, extra and the aliases they came through."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(AssetEvent).filter_by(source_dag_id=run.dag_id, source_run_id=run.run_id).all()
        return [
            {
                "uri": row.asset.uri,
                "task": row.source_task_id,
                "extra": row.extra,
                "aliases": sorted(a.name for a in row.source_aliases),
            }
            for row in rows
        ]


def test_every_operator_kind_emits_its_xcom_result_as_the_event_extra(local_env: Any) -> None:
    run = load_dag(DAGS, "tf_sm_test_lineage_assets").test()
    assert run.state == "success"
    train, tune = xcom_of(run, "train"), xcom_of(run, "tune")
    deploy, score = xcom_of(run, "deploy"), xcom_of(run, "score")
    job = train["job_name"]
    assert train["model_data"] == f"s3://lineage-tests/models/{job}/output/model.tar.gz"
    assert train["metrics"] == {"score": 1.0} and train["backend"] == "local"
    assert tune["best_model_data"].startswith("s3://lineage-tests/models/")
    assert tune["best_objective"]["value"] == 1.0
    assert deploy["endpoint_name"] == "lineage-ep" and deploy["model_data"] == train["model_data"]
    assert score["output_path"] == "s3://lineage-tests/scores/out"

    events = sorted(events_of(run), key=lambda e: (e["task"], e["uri"]))
    assert events == sorted(
        [
            {"uri": "s3://lineage-tests/candidate-model", "task": "train", "extra": train, "aliases": []},
            {"uri": train["model_data"], "task": "train", "extra": train, "aliases": ["lineage-models"]},
            {"uri": "s3://lineage-tests/tuned-model", "task": "tune", "extra": tune, "aliases": []},
            {"uri": tune["best_model_data"], "task": "tune", "extra": tune, "aliases": ["lineage-tuned-models"]},
            {"uri": "lineage-endpoint", "task": "deploy", "extra": deploy, "aliases": []},
            {"uri": "s3://lineage-tests/scores", "task": "score", "extra": score, "aliases": []},
            {
                "uri": "s3://lineage-tests/scores/out",
                "task": "score",
                "extra": score,
                "aliases": ["lineage-score-outputs"],
            },
        ],
        key=lambda e: (e["task"], e["uri"]),
    )


def test_no_event_when_the_job_fails_or_the_gate_skips(local_env: Any) -> None:
    run = load_dag(DAGS, "tf_sm_test_lineage_no_events").test()
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"train": "success", "gated": "skipped", "train_fails": "failed"}
    assert events_of(run) == []


class FakeTI:
    dag_id = "lineage_reuse"
    task_id = "train"
    run_id = "manual__2025-01-01T00:00:00+00:00"
    map_index = -1

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def test_a_reused_job_emits_the_same_extra(local_env: Any, tmp_path: Path) -> None:
    """A retry of the task instance reuses the Completed job (no second job) and fills the same extra."""
    from airflow.sdk import Asset, AssetAlias
    from airflow.sdk.execution_time.context import OutletEventAccessors

    from airflow_tf_sm.training.operator import TFTrainingOperator

    asset, alias = Asset("s3://lineage-tests/reused"), AssetAlias("lineage-reused")
    extras, added = [], []
    for _ in range(2):
        op = TFTrainingOperator(
            task_id="train",
            entry_point="train.py",
            source_dir=str(REPO / "tests" / "dags" / "lineage_code"),
            output_path="s3://lineage-tests/models",
            metric_definitions=[{"Name": "score", "Regex": r"score=([-0-9.]+)"}],
            poll_interval=0.3,
            outlets=[asset, alias],
        )
        events = OutletEventAccessors()
        result = op.execute({"ti": FakeTI(), "outlet_events": events})  # type: ignore[arg-type]
        extras.append(events[asset].extra)
        added.append([(e.dest_asset_key.uri, e.extra) for e in events[alias].asset_alias_events])
        assert extras[-1] == result
    assert extras[0] == extras[1]
    assert added[0] == added[1] == [(extras[0]["model_data"], extras[0])]
    jobs = local_env.clients.sagemaker.list_training_jobs()["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in jobs] == [extras[0]["job_name"]]


# ------------------------------------------------------------ the consumer side
def triggering_events(*events: tuple[str, str, dict[str, Any], list[str]]) -> Any:
    """``triggering_asset_events`` as a run sees it: Airflow's accessor over ``(uri, timestamp, extra, aliases)``."""
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    return TriggeringAssetEventsAccessor.build(
        AssetEventDagRunReferenceResult.model_validate(
            {
                "asset": {"name": uri, "uri": uri, "extra": {}},
                "extra": extra,
                "source_task_id": "train",
                "source_dag_id": "nightly",
                "source_run_id": "scheduled__x",
                "source_map_index": -1,
                "source_aliases": [{"name": a} for a in aliases],
                "timestamp": stamp,
            }
        )
        for uri, stamp, extra, aliases in events
    )


def test_training_job_from_events_takes_the_newest_event_naming_a_job() -> None:
    from airflow_tf_sm.lineage import latest_extra, training_job_from_events

    events = triggering_events(
        ("s3://b/model", "2025-01-02T00:00:00+00:00", {"job_name": "newer", "metrics": {"acc": 0.9}}, []),
        ("s3://b/model", "2025-01-01T00:00:00+00:00", {"job_name": "older"}, []),
        ("s3://b/m/output/model.tar.gz", "2025-01-03T00:00:00+00:00", {"status": "InService"}, ["models"]),
    )
    assert training_job_from_events(events) == "newer"
    assert latest_extra(events)["metrics"] == {"acc": 0.9}
    tuned = triggering_events(("s3://b/tuned", "2025-01-01T00:00:00+00:00", {"best_training_job_name": "best"}, []))
    assert training_job_from_events(tuned) == "best"
    with pytest.raises(ValueError, match="no triggering asset event carries job_name or best_training_job_name"):
        training_job_from_events(triggering_events())

"""OpenLineage: every operator kind's datasets and facets, on finished task instances and in a real run.

The real run uses the OpenLineage provider's file transport in a separate process (the provider reads its
configuration once per process); a hyperparameter named ``db_pass`` must appear in no event.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.test_lineage_assets import DAGS, local_env  # noqa: F401 (fixture)
from tests.training.test_operator import load_dag, xcom_of

LOCAL_ARN = "arn:aws:sagemaker:us-east-1:000000000000"
SECRET = "s3cr3t-Value-42"


def names(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in datasets]


def test_the_methods_give_each_kinds_datasets_on_start_and_on_a_finished_task_instance(local_env: Any) -> None:  # noqa: F811
    dag = load_dag(DAGS, "tf_sm_test_lineage_assets")
    run = dag.test()
    assert run.state == "success"
    model = xcom_of(run, "train")["model_data"]
    best = xcom_of(run, "tune")["best_model_data"]
    model_key, best_key = model.removeprefix("s3://lineage-tests/"), best.removeprefix("s3://lineage-tests/")
    assert model_key.startswith("models/tf-sm-test-lineage-assets-train-") and model_key.endswith("/model.tar.gz")

    expected = {  # task: (inputs, outputs) when it ended
        "train": ([("s3://lineage-tests", "data/train")], [("s3://lineage-tests", model_key)]),
        "tune": ([("s3://lineage-tests", "data/train")], [("s3://lineage-tests", best_key)]),
        "score": (
            [("s3://lineage-tests", model_key), ("s3://lineage-tests", "data/score")],
            [("s3://lineage-tests", "scores/out")],
        ),
        "deploy": ([("s3://lineage-tests", model_key)], [(LOCAL_ARN, "endpoint/lineage-ep")]),
    }
    for task_id, (inputs, outputs) in expected.items():
        operator = dag.get_task(task_id)
        ended = operator.get_openlineage_facets_on_complete(run.get_task_instance(task_id))
        assert (task_id, names(ended.inputs), names(ended.outputs)) == (task_id, inputs, outputs)
        failed = operator.get_openlineage_facets_on_failure(run.get_task_instance(task_id))
        assert (task_id, names(failed.inputs), names(failed.outputs)) == (task_id, inputs, [])

    train = dag.get_task("train").get_openlineage_facets_on_complete(run.get_task_instance("train"))
    facet = train.job_facets["sagemaker"]
    assert (facet.kind, facet.instanceType, facet.instanceCount, facet.metrics) == (
        "training",
        "ml.m5.large",
        1,
        {"score": 1.0},
    )
    assert facet.image == "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.19.0-cpu-py312"
    assert facet.hyperparameters["learning-rate"] == "0.01"
    assert train.run_facets["sagemakerRun"].status == "Completed"
    tune = dag.get_task("tune").get_openlineage_facets_on_complete(run.get_task_instance("tune"))
    assert tune.job_facets["sagemaker"].objective == {"name": "score", "type": "Maximize"}
    assert tune.job_facets["sagemaker"].metrics == {"name": "score", "value": 1.0, "type": "Maximize"}

    planned = {  # before anything runs: from the task's arguments, no API call
        "train": ([("s3://lineage-tests", "data/train")], []),
        "tune": ([("s3://lineage-tests", "data/train")], []),
        "score": ([("s3://lineage-tests", "data/score")], [("s3://lineage-tests", "scores/out")]),
        "deploy": ([], []),
    }
    for task_id, (inputs, outputs) in planned.items():
        start = dag.get_task(task_id).get_openlineage_facets_on_start()
        assert (task_id, names(start.inputs), names(start.outputs)) == (task_id, inputs, outputs)


RUN_DAG = """
import sys
from airflow_tf_sm.compat import dagbag_class
run = dagbag_class()(dag_folder=sys.argv[1]).get_dag(sys.argv[2]).test()
print("run state:", run.state)
"""


def test_a_real_run_emits_start_and_complete_or_fail_events_without_the_secret(
    local_env: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    events_file = tmp_path / "openlineage.jsonl"
    env = {
        **os.environ,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "LINEAGE_TEST_SECRET": SECRET,
    }
    done = subprocess.run(
        [sys.executable, "-c", RUN_DAG, str(DAGS), "tf_sm_test_lineage_openlineage"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "run state: failed" in done.stdout, done.stdout[-2000:] + done.stderr[-4000:]
    text = events_file.read_text()
    assert SECRET not in text
    assert SECRET not in done.stdout + done.stderr
    events: dict[tuple[str, str], dict[str, Any]] = {}
    for line in text.splitlines():
        event = json.loads(line)
        task = event["job"]["name"].removeprefix("tf_sm_test_lineage_openlineage").lstrip(".") or "<dag>"
        events[(task, event["eventType"])] = event

    def datasets(task: str, kind: str, direction: str) -> list[tuple[str, str]]:
        return [(d["namespace"], d["name"]) for d in events[(task, kind)][direction]]

    model = events[("train", "COMPLETE")]["run"]["facets"]["sagemakerRun"]["modelData"]
    model_key = model.removeprefix("s3://lineage-tests/")
    assert model_key.startswith("models/tf-sm-test-lineage-openlineage-train-") and model_key.endswith("/model.tar.gz")
    assert sorted(k for k in events if k[0] != "<dag>") == sorted(
        [(t, k) for t in ("train", "tune", "deploy", "score") for k in ("START", "COMPLETE")]
        + [("train_fails", "START"), ("train_fails", "FAIL")]
    )
    assert datasets("train", "START", "inputs") == [("s3://lineage-tests", "data/train")]
    assert datasets("train", "COMPLETE", "outputs") == [("s3://lineage-tests", model_key)]
    assert datasets("tune", "COMPLETE", "inputs") == [("s3://lineage-tests", "data/train")]
    assert [ns for ns, _ in datasets("tune", "COMPLETE", "outputs")] == ["s3://lineage-tests"]
    assert datasets("score", "COMPLETE", "inputs") == [
        ("s3://lineage-tests", model_key),
        ("s3://lineage-tests", "data/score"),
    ]
    assert datasets("score", "COMPLETE", "outputs") == [("s3://lineage-tests", "scores/ol")]
    assert datasets("deploy", "COMPLETE", "inputs") == [("s3://lineage-tests", model_key)]
    assert datasets("deploy", "COMPLETE", "outputs") == [(LOCAL_ARN, "endpoint/lineage-ol-ep")]
    assert datasets("train_fails", "FAIL", "inputs") == [("s3://lineage-tests", "data/train")]
    assert datasets("train_fails", "FAIL", "outputs") == []
    for task in ("train", "train_fails"):
        kind = "FAIL" if task == "train_fails" else "COMPLETE"
        assert events[(task, kind)]["job"]["facets"]["sagemaker"]["hyperparameters"]["db_pass"] == "***"
    assert events[("tune", "COMPLETE")]["job"]["facets"]["sagemaker"]["hyperparameters"]["db_pass"] == "***"


def test_dataset_names_follow_the_openlineage_naming_spec() -> None:
    from airflow_tf_sm.lineage import arn_dataset_name, s3_dataset_name

    assert s3_dataset_name("s3://my-bucket/models/job/output/model.tar.gz") == (
        "s3://my-bucket",
        "models/job/output/model.tar.gz",
    )
    assert s3_dataset_name("s3://my-bucket/data/2025-01-01/") == ("s3://my-bucket", "data/2025-01-01")
    assert s3_dataset_name("s3://my-bucket") == ("s3://my-bucket", "/")
    assert arn_dataset_name("arn:aws:sagemaker:eu-west-1:123456789012:endpoint/mnist") == (
        "arn:aws:sagemaker:eu-west-1:123456789012",
        "endpoint/mnist",
    )


def test_secret_hyperparameters_are_redacted_by_name_and_by_value() -> None:
    from airflow_tf_sm.lineage import training_lineage

    lineage = training_lineage(
        {
            "TrainingJobName": "j",
            "InputDataConfig": [],
            "HyperParameters": {"db_pass": '"hunter2-secret"', "note": '"copy of hunter2-secret"', "epochs": "3"},
        }
    )
    assert lineage.job_facets["sagemaker"].hyperparameters == {"db_pass": "***", "note": '"copy of ***"', "epochs": "3"}

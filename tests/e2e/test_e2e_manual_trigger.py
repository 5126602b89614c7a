"""Manual triggers through the REST API: conf overrides Params, bad conf is refused, Jinja in conf is data."""

from __future__ import annotations

import datetime
import json
import re

import pytest

from tests.e2e.harness import AirflowCluster

pytestmark = pytest.mark.e2e


def test_conf_overrides_the_example_dags_params_in_the_training_job(cluster: AirflowCluster) -> None:
    dag_id = "tf_sm_example"  # the real example: TensorFlow trains a Keras model on the local backend
    conf = {"epochs": 2, "learning_rate": 0.05, "batch_size": 128, "instance_type": "ml.c5.xlarge"}
    # with a logical date, as the trigger form sends by default: the example's data are per {{ ds }}
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    run_id = cluster.trigger(dag_id, conf, logical_date=now)
    run = cluster.wait_run(dag_id, run_id, timeout=480)
    assert run["state"] == "success"
    assert run["conf"] == conf

    [job] = cluster.jobs_of(dag_id, run_id)
    assert job["TrainingJobStatus"] == "Completed"
    hyperparameters = job["HyperParameters"]
    assert (hyperparameters["epochs"], hyperparameters["learning-rate"], hyperparameters["batch-size"]) == (
        "2",
        "0.05",
        "128",
    )
    assert job["ResourceConfig"]["InstanceType"] == "ml.c5.xlarge"
    log = cluster.job_log(job["TrainingJobName"])
    assert re.findall(r"^epoch=(\d+) ", log, re.M) == ["1", "2"], log
    assert {m["MetricName"] for m in job["FinalMetricDataList"]} >= {"val_accuracy", "val_loss"}


@pytest.mark.parametrize(
    ("conf", "param"),
    [
        ({"epochs": 0}, "epochs"),  # below the minimum
        ({"epochs": "ten"}, "epochs"),  # not an integer
        ({"learning_rate": 2}, "learning_rate"),  # above the maximum
        ({"instance_type": "m5.large"}, "instance_type"),  # does not match the pattern
    ],
)
def test_conf_violating_the_params_schema_is_refused_and_starts_no_job(
    cluster: AirflowCluster, conf: dict, param: str
) -> None:
    dag_id = "tf_sm_example"
    runs_before = len(cluster.runs(dag_id))
    jobs_before = len(cluster.jobs_of(dag_id))
    status, body = cluster.api.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
    assert status == 400, body
    assert param in json.dumps(body)
    # the API refused the run before creating anything: nothing to wait for
    assert len(cluster.runs(dag_id)) == runs_before
    assert len(cluster.jobs_of(dag_id)) == jobs_before


def test_jinja_in_conf_is_passed_as_data_never_rendered(cluster: AirflowCluster) -> None:
    dag_id = "tf_sm_e2e_params"
    note = "{{ 6 * 7 }} {{ ds }} {% if true %}x{% endif %}"
    run_id = cluster.trigger(dag_id, {"note": note})
    run = cluster.wait_run(dag_id, run_id)
    assert run["state"] == "success"

    [job] = cluster.jobs_of(dag_id, run_id)
    assert json.loads(job["HyperParameters"]["note"]) == note  # verbatim, JSON-encoded like any string
    rendered = cluster.task_instance(dag_id, run_id)["rendered_fields"]["hyperparameters"]
    assert rendered["note"] == note

"""The example DAGs, run with ``dag.test()`` on the local backend: real TensorFlow training on generated data."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.training.test_operator import EXAMPLES, load_dag, xcom_of


@pytest.fixture
def local_backend(local_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Select the local backend through the config section, as a deployment would."""
    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__BACKEND", "local")
    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__LOCAL_ROOT", str(local_root))
    return local_root


@pytest.mark.tensorflow
def test_example_dag_trains_a_real_model_locally(airflow_db: Path, local_backend: Path) -> None:
    from airflow_tf_sm.hook import TFSageMakerHook

    dag = load_dag(EXAMPLES / "tf_sm_example_dag.py", "tf_sm_example")
    try:
        # a run without a logical date (as a REST trigger with logical_date: null makes): data of run_after's day
        run = dag.test(logical_date=None, run_conf={"epochs": 4, "batch_size": 32, "bucket": "s3://demo-bucket"})
    finally:
        delete_local_endpoints(local_backend)
    assert run.state == "success"
    result = xcom_of(run, "train")
    assert result["backend"] == "local" and result["status"] == "Completed"
    assert result["metrics"]["val_accuracy"] >= 0.9, result["metrics"]
    assert result["billable_seconds"] >= 1

    hook = TFSageMakerHook(backend="local", local_root=str(local_backend))
    desc = hook.describe_training_job(result["job_name"])
    assert desc["HyperParameters"]["epochs"] == "4" and desc["HyperParameters"]["batch-size"] == "32"
    with tarfile.open(fileobj=io.BytesIO(hook.read_bytes(result["model_data"])), mode="r:gz") as tar:
        names = tar.getnames()
    assert "1/saved_model.pb" in names
    assert run.logical_date is None
    ds = run.run_after.strftime("%Y-%m-%d")
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in desc["InputDataConfig"]}
    assert channels == {"train": f"s3://demo-bucket/data/{ds}/train", "test": f"s3://demo-bucket/data/{ds}/test"}
    assert json.dumps(result)  # small JSON XCom

    # gate -> deploy -> smoke test through the local endpoint -> teardown
    deployed = xcom_of(run, "deploy")
    assert deployed["status"] == "InService" and deployed["model_data"] == result["model_data"]
    assert deployed["url"].startswith("http://127.0.0.1:")
    smoke = xcom_of(run, "smoke_test")
    assert len(smoke["predictions"]) == 5 and all(abs(sum(p) - 1.0) < 1e-4 for p in smoke["predictions"])
    assert sum(c == label for c, label in zip(smoke["classes"], smoke["labels"], strict=True)) >= 3
    assert xcom_of(run, "delete_endpoint") == {"endpoint_name": deployed["endpoint_name"], "deleted": True}
    assert hook.clients.sagemaker.list_endpoints()["Endpoints"] == []


@pytest.mark.tensorflow
def test_config_file_dag_renders_yaml_and_trains(airflow_db: Path, local_backend: Path) -> None:
    from airflow_tf_sm.hook import TFSageMakerHook

    dag = load_dag(EXAMPLES / "tf_sm_config_file_dag.py", "tf_sm_config_file")
    run = dag.test(logical_date=None, run_conf={"epochs": 2, "bucket": "s3://config-bucket"})
    assert run.state == "success"
    result = xcom_of(run, "train")
    assert run.logical_date is None
    ds_nodash = run.run_after.strftime("%Y%m%d")
    assert result["job_name"] == f"config-demo-{ds_nodash}"
    desc = TFSageMakerHook(backend="local", local_root=str(local_backend)).describe_training_job(result["job_name"])
    hps = desc["HyperParameters"]
    assert (hps["epochs"], hps["shuffle"], hps["learning-rate"]) == ("2", "true", "0.01")
    test_channel = next(c for c in desc["InputDataConfig"] if c["ChannelName"] == "test")
    assert test_channel["ContentType"] == "text/csv"
    assert "val_accuracy" in result["metrics"]


def delete_local_endpoints(root: Path) -> None:
    """Delete every endpoint of the local backend root (stops their model servers)."""
    from airflow_tf_sm.hook import TFSageMakerHook

    hook = TFSageMakerHook(backend="local", local_root=str(root))
    for endpoint in hook.clients.sagemaker.list_endpoints()["Endpoints"]:
        hook.delete_endpoint(endpoint["EndpointName"], poll_interval=0.5)


@pytest.mark.tensorflow
def test_nightly_dag_deploys_only_a_model_that_beats_the_threshold(airflow_db: Path, local_backend: Path) -> None:
    import pendulum

    from airflow_tf_sm.hook import TFSageMakerHook

    dag = load_dag(EXAMPLES / "tf_sm_nightly_dag.py", "tf_sm_nightly")
    assert dag.schedule == "@daily" and dag.catchup is False
    hook = TFSageMakerHook(backend="local", local_root=str(local_backend))
    try:
        day1 = dag.test(logical_date=pendulum.datetime(2025, 3, 1, tz="UTC"), run_conf={"epochs": 3})
        assert day1.state == "success"
        deployed = xcom_of(day1, "deploy")
        assert xcom_of(day1, "train")["job_name"] == "tf-sm-nightly-20250301"
        assert deployed["endpoint_name"] == "tf-sm-nightly" and deployed["status"] == "InService"
        assert deployed["model_data"].endswith("/tf-sm-nightly-20250301/output/model.tar.gz")
        # story 10: the training's asset event carries its result (job name, model URI, metrics)
        from tests.test_lineage_assets import events_of

        train_result = xcom_of(day1, "train")
        assert events_of(day1) == [
            {"uri": "tf_sm_nightly_model", "task": "train", "extra": train_result, "aliases": []}
        ]

        # a model that does not beat the threshold is not deployed: the task skips, the endpoint stays
        day2 = dag.test(
            logical_date=pendulum.datetime(2025, 3, 2, tz="UTC"), run_conf={"epochs": 1, "min_val_accuracy": 0.9999}
        )
        assert day2.state == "success"
        states = {ti.task_id: ti.state for ti in day2.get_task_instances()}
        assert states["train"] == "success" and states["deploy"] == "skipped"
        endpoint = hook.hosting.describe_endpoint("tf-sm-nightly")
        assert endpoint["EndpointConfigName"] == deployed["endpoint_config_name"]

        # a manual run without a logical date trains on (and is named after) the day it was queued for
        manual = dag.test(logical_date=None, run_conf={"epochs": 1, "min_val_accuracy": 0.9999})
        assert manual.state == "success" and manual.logical_date is None
        assert xcom_of(manual, "train")["job_name"] == f"tf-sm-nightly-{manual.run_after:%Y%m%d}"
    finally:
        delete_local_endpoints(local_backend)


TEST_DAGS = Path(__file__).resolve().parent / "dags"


@pytest.mark.tensorflow
def test_deferrable_training_of_a_long_job_succeeds(
    airflow_db: Path, local_backend: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_tf_sm.hook import TFSageMakerHook

    dag = load_dag(TEST_DAGS / "tf_sm_deferrable_test_dags.py", "tf_sm_test_deferred_ok")
    run = dag.test()
    assert run.state == "success"
    result = xcom_of(run, "train")
    desc = TFSageMakerHook(backend="local", local_root=str(local_backend)).describe_training_job(result["job_name"])
    assert desc["TrainingJobStatus"] == "Completed"
    # the task deferred while the job ran (a job ended before deferral is not deferred) and resumed on its event
    dag_test_lines = [r.getMessage() for r in caplog.records if r.name == "airflow.sdk.definitions.dag"]
    assert "[DAG TEST] running trigger in line" in dag_test_lines
    assert "[DAG TEST] Trigger completed" in dag_test_lines
    assert result["metrics"]["val_accuracy"] >= 0.9


@pytest.mark.tensorflow
def test_deferrable_training_failure_fails_the_task_with_the_reason(
    airflow_db: Path, local_backend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_tf_sm.hook import TFSageMakerHook

    dag = load_dag(TEST_DAGS / "tf_sm_deferrable_test_dags.py", "tf_sm_test_deferred_fail")
    run = dag.test()
    assert run.state == "failed"
    hook = TFSageMakerHook(backend="local", local_root=str(local_backend))
    jobs = hook.clients.sagemaker.list_training_jobs()["TrainingJobSummaries"]
    assert [j["TrainingJobStatus"] for j in jobs] == ["Failed"]
    reason = hook.describe_training_job(jobs[0]["TrainingJobName"])["FailureReason"]
    assert "epochs, batch-size and hidden-units must be at least 1" in reason
    out = capsys.readouterr().out
    assert "ended Failed" in out and "must be at least 1" in out


@pytest.mark.tensorflow
def test_fire_and_attach_sensor_attaches_to_the_job_an_upstream_task_started(
    airflow_db: Path, local_backend: Path
) -> None:
    dag = load_dag(EXAMPLES / "tf_sm_fire_and_attach_dag.py", "tf_sm_fire_and_attach")
    run = dag.test(logical_date=None, run_conf={"epochs": 60, "bucket": "s3://attach-bucket"})
    assert run.state == "success"
    started = xcom_of(run, "start_training")
    attached = xcom_of(run, "attach")
    assert started["status"] == "InProgress", "the training task must return before the job ends"
    assert attached["job_name"] == started["job_name"] == xcom_of(run, "start_training", "job_name")
    assert attached["status"] == "Completed" and attached["training_seconds"] >= 5
    assert attached["metrics"]["val_accuracy"] >= 0.9
    assert xcom_of(run, "report") == attached["model_data"]


@pytest.mark.tensorflow
def test_sweep_dag_trains_three_models_and_deploys_the_best(airflow_db: Path, local_backend: Path) -> None:
    from tests.training.test_operator import mapped_xcom

    dag = load_dag(EXAMPLES / "tf_sm_sweep_dag.py", "tf_sm_sweep")
    try:
        run = dag.test(logical_date=None, run_conf={"epochs": 3, "bucket": "s3://sweep-bucket"})
    finally:
        delete_local_endpoints(local_backend)
    assert run.state == "success"
    results = [mapped_xcom(run, "sweep", index) for index in range(3)]
    assert len({r["job_name"] for r in results}) == 3 and all(r["status"] == "Completed" for r in results)
    best = max(results, key=lambda r: r["metrics"]["val_accuracy"])
    assert xcom_of(run, "pick_best") == best["job_name"]
    deployed = xcom_of(run, "deploy")
    assert deployed["model_data"] == best["model_data"] and deployed["status"] == "InService"
    assert len(xcom_of(run, "smoke_test")["predictions"]) == 5
    assert xcom_of(run, "delete_endpoint")["deleted"] is True


@pytest.mark.tensorflow
def test_distributed_dag_trains_on_two_workers_and_serves_the_chiefs_model(
    airflow_db: Path, local_backend: Path
) -> None:
    """Story 6: MultiWorkerMirroredStrategy on 2 local hosts (2 processes, real TF), the chief's model deployed."""
    from airflow_tf_sm.backends.local.engine import Engine
    from airflow_tf_sm.hook import TFSageMakerHook

    dag = load_dag(EXAMPLES / "tf_sm_distributed_dag.py", "tf_sm_distributed")
    try:
        run = dag.test(logical_date=None, run_conf={"epochs": 6, "bucket": "s3://distributed-bucket"})
    finally:
        delete_local_endpoints(local_backend)
    assert run.state == "success"
    result = xcom_of(run, "train")
    assert result["status"] == "Completed" and result["metrics"]["val_accuracy"] >= 0.9, result["metrics"]

    hook = TFSageMakerHook(backend="local", local_root=str(local_backend))
    desc = hook.describe_training_job(result["job_name"])
    assert desc["ResourceConfig"]["InstanceCount"] == 2
    assert desc["HyperParameters"]["sagemaker_multi_worker_mirrored_strategy_enabled"] == "true"
    logs = hook.clients.logs
    finals = {}
    for host in ("algo-1", "algo-2"):
        streams = logs.describe_log_streams(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{result['job_name']}/{host}-"
        )["logStreams"]
        events = logs.get_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=streams[0]["logStreamName"], startFromHead=True
        )["events"]
        messages = [e["message"] for e in events]
        index = int(host[-1]) - 1
        assert f"worker {index} of 2: 2 replicas in sync, global batch 64" in messages
        finals[host] = next(m for m in messages if m.startswith("final val_accuracy="))
    # one model trained together: both workers end with the same weights, hence the same final metrics
    assert finals["algo-1"] == finals["algo-2"] and finals["algo-1"].endswith("workers=2")
    # only algo-1's (the chief's) model directory becomes model.tar.gz; algo-2 exported nothing
    with tarfile.open(fileobj=io.BytesIO(hook.read_bytes(result["model_data"])), mode="r:gz") as tar:
        assert "1/saved_model.pb" in tar.getnames()
    engine = Engine(local_backend)
    assert list((engine.opt_ml(result["job_name"], "algo-2") / "model").iterdir()) == []

    deployed = xcom_of(run, "deploy")
    assert deployed["status"] == "InService" and deployed["model_data"] == result["model_data"]
    smoke = xcom_of(run, "smoke_test")
    assert len(smoke["predictions"]) == 5 and all(abs(sum(p) - 1.0) < 1e-4 for p in smoke["predictions"])
    assert sum(c == label for c, label in zip(smoke["classes"], smoke["labels"], strict=True)) >= 3
    assert xcom_of(run, "delete_endpoint") == {"endpoint_name": deployed["endpoint_name"], "deleted": True}


def test_every_param_of_the_examples_has_a_title_a_description_and_bounds() -> None:
    from airflow_tf_sm.compat import dagbag_class

    bag = dagbag_class()(dag_folder=str(EXAMPLES))
    assert not bag.import_errors, bag.import_errors
    assert len(bag.dags) >= 6
    for dag_id, dag in bag.dags.items():
        for name in dag.params:
            param = dag.params.get_param(name)
            schema = param.schema
            where = f"{dag_id}.{name}"
            assert schema.get("title") and param.description, f"{where}: no title or description"
            if schema.get("type") in ("integer", "number"):  # the form's number field takes min/max from these
                assert "minimum" in schema and "maximum" in schema, f"{where}: no range"
            if schema.get("type") == "string":
                assert "enum" in schema or "pattern" in schema, f"{where}: any text accepted"

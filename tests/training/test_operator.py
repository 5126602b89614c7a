"""TFTrainingOperator: arguments, templating, and real ``dag.test()`` runs against moto (HTTP)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_tf_sm.training.operator import TFTrainingOperator
from airflow_tf_sm.training.spec import TrainingJobSpec

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "dags_examples"


def load_dag(path: Path, dag_id: str) -> Any:
    """Parse one DAG file the way the dag-processor does."""
    from airflow_tf_sm.compat import dagbag_class

    DagBag = dagbag_class()

    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    bag = DagBag(dag_folder=str(path))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def xcom_of(run: Any, task_id: str, key: str = "return_value") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(XComModel).filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key=key).one()
        value = row.value
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def test_every_spec_field_is_a_templated_argument() -> None:
    names = {f.name for f in dataclasses.fields(TrainingJobSpec)}
    assert names <= set(TFTrainingOperator.template_fields)
    op = TFTrainingOperator(task_id="t", entry_point="train.py", instance_count=2, max_run=60)
    assert op.instance_count == 2 and op.max_run == 60 and op.source_dir is None


def test_unknown_argument_is_rejected() -> None:
    with pytest.raises(TypeError):
        TFTrainingOperator(task_id="t", entry_point="train.py", instance_kount=2)


def test_bad_if_job_exists_is_rejected() -> None:
    with pytest.raises(ValueError, match="if_job_exists"):
        TFTrainingOperator(task_id="t", entry_point="train.py", if_job_exists="sometimes")


def test_spec_mapping_explicit_arguments_override_config(tmp_path: Path) -> None:
    op = TFTrainingOperator(
        task_id="t",
        config={"entry_point": "a.py", "instance_type": "ml.m5.large", "hyperparameters": {"x": 1}},
        instance_type="ml.c5.xlarge",
        role="",
    )
    mapping = op.spec_mapping()
    assert mapping["entry_point"] == "a.py"
    assert mapping["instance_type"] == "ml.c5.xlarge"
    assert mapping["hyperparameters"] == {"x": 1}
    assert "role" not in mapping  # an empty rendered template means "not set"


def test_on_kill_stops_the_job_in_flight() -> None:
    stopped: list[str] = []

    class FakeTraining:
        def stop(self, name: str) -> bool:
            stopped.append(name)
            return True

    class FakeHook:
        training = FakeTraining()

    op = TFTrainingOperator(task_id="t", entry_point="train.py")
    op._hook = FakeHook()  # type: ignore[assignment]
    op._job_name_in_flight = "job-1"
    op.on_kill()
    assert stopped == ["job-1"]
    op.stop_job_on_kill = False
    op.on_kill()
    assert stopped == ["job-1"]


@pytest.fixture
def moto_aws_default(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An ``aws_default`` connection pointing at the moto server, and the sagemaker backend."""
    conn = {"conn_type": "aws", "extra": {"endpoint_url": moto_endpoint, "region_name": "us-east-1"}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__BACKEND", "sagemaker")
    import boto3

    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket="tf-sm-moto")
    return moto_endpoint


def moto_endpoint_answers(moto_endpoint: str, *answers: dict[str, Any]) -> None:
    """Queue the bodies moto's sagemaker-runtime returns for the next invoke_endpoint calls."""
    import urllib.request

    results = {"results": [{"Body": json.dumps(a), "ContentType": "application/json"} for a in answers]}
    request = urllib.request.Request(
        f"{moto_endpoint}/moto-api/static/sagemaker/endpoint-results",
        data=json.dumps(results).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10)


#: moto's training jobs report only this metric: the example's quality gate is set on it.
MOTO_GATE = {"train:progress": ">= 100"}


def test_example_dag_on_moto_pushes_job_name_and_model_data(airflow_db: Path, moto_aws_default: str) -> None:
    import boto3

    moto_endpoint_answers(moto_aws_default, {"predictions": [[0.1, 0.2, 0.7]] * 5})
    dag = load_dag(EXAMPLES / "tf_sm_example_dag.py", "tf_sm_example")
    run = dag.test(
        run_conf={
            "bucket": "s3://tf-sm-moto",
            "epochs": 3,
            "role_arn": "arn:aws:iam::123456789012:role/SageMakerRole",
            "require_metrics": MOTO_GATE,
        }
    )
    assert run.state == "success"
    result = xcom_of(run, "train")
    assert result["status"] == "Completed" and result["backend"] == "sagemaker"
    assert result["model_data"].startswith("s3://tf-sm-moto/models/")
    assert xcom_of(run, "train", "job_name") == result["job_name"]

    sm = boto3.client("sagemaker", endpoint_url=moto_aws_default, region_name="us-east-1")
    desc = sm.describe_training_job(TrainingJobName=result["job_name"])
    assert desc["HyperParameters"]["epochs"] == "3"  # native rendering: the int 3, JSON-encoded
    assert desc["HyperParameters"]["sagemaker_program"] == '"train.py"'
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in desc["InputDataConfig"]}
    ds = run.logical_date.strftime("%Y-%m-%d") if run.logical_date else None
    assert channels["train"] == f"s3://tf-sm-moto/data/{ds}/train"
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=desc["TrainingJobArn"])["Tags"]}
    assert tags["airflow-tf-sm:dag-id"] == "tf_sm_example" and tags["airflow-tf-sm:task-id"] == "train"
    s3 = boto3.client("s3", endpoint_url=moto_aws_default, region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="tf-sm-moto", Prefix=f"data/{ds}/")["Contents"]]
    assert sorted(keys) == [f"data/{ds}/test/data.csv", f"data/{ds}/train/data.csv"]

    # deploy -> smoke test -> teardown, on moto's hosting API
    deployed = xcom_of(run, "deploy")
    assert deployed["status"] == "InService" and deployed["model_data"] == result["model_data"]
    assert deployed["endpoint_name"].startswith("tf-sm-example-manual-")
    assert deployed["model_name"].startswith(result["job_name"][:20])
    smoke = xcom_of(run, "smoke_test")
    assert smoke["classes"] == [2] * 5 and len(smoke["labels"]) == 5
    assert xcom_of(run, "delete_endpoint") == {"endpoint_name": deployed["endpoint_name"], "deleted": True}
    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []


def test_retry_of_completed_task_reuses_the_job(airflow_db: Path, moto_aws_default: str) -> None:
    """Running the same task instance's train step twice creates one job (moto keeps the first)."""
    from airflow_tf_sm.hook import TFSageMakerHook

    dag = load_dag(EXAMPLES / "tf_sm_example_dag.py", "tf_sm_example")
    conf = {
        "bucket": "s3://tf-sm-moto",
        "role_arn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "require_metrics": MOTO_GATE,
    }
    first = xcom_of(dag.test(run_conf=conf), "train")
    hook = TFSageMakerHook(aws_conn_id="aws_default", backend="sagemaker")
    name, desc = hook.training.find_reusable_job(lambda attempt: first["job_name"] if attempt == 1 else f"x-{attempt}")
    assert name == first["job_name"] and desc is not None and desc["TrainingJobStatus"] == "Completed"


def test_secret_hyperparameters_are_masked_and_redacted(
    local_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import airflow.sdk.log

    from airflow_tf_sm.training.service import request_summary

    masked: list[tuple[str, str | None]] = []
    monkeypatch.setattr(airflow.sdk.log, "mask_secret", lambda value, name=None: masked.append((value, name)))
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('ok')\n")

    class TI:
        dag_id, task_id, run_id, map_index = "d", "t", "r1", -1
        pushed: dict[str, Any] = {}

        def xcom_push(self, key: str, value: Any) -> None:
            self.pushed[key] = value

    op = TFTrainingOperator(
        task_id="t",
        entry_point="train.py",
        source_dir=str(code),
        output_path="s3://secret-test/out",
        hyperparameters={"db_password": "hunter2", "api-token": "tok-a1b2c3", "db_pass": "abc", "epochs": 1},
        backend="local",
        local_root=str(local_root),
        poll_interval=0.2,
    )
    result = op.execute({"ti": TI()})  # type: ignore[arg-type]
    assert result["status"] == "Completed"
    # registered by value: Airflow's masker ignores a value whose name is not on its own sensitive list
    assert ("hunter2", None) in masked and ("tok-a1b2c3", None) in masked
    # values Airflow's masker would skip anyway (under 5 characters) are not registered in any form
    assert all(value not in ("1", "abc", '"abc"') for value, _ in masked)
    summary = request_summary({"HyperParameters": {"db_password": '"hunter2"', "epochs": "1"}})
    assert "hunter2" not in summary and '"epochs": "1"' in summary
    assert "hunter2" not in json.dumps(result)


# ------------------------------------------------------------- explicit arguments, partial/expand
def test_every_spec_field_is_an_explicit_keyword_with_a_docstring() -> None:
    """The signature is written out (so partial/expand, IDEs and autodoc see it); it must match the spec."""
    import inspect

    params = inspect.signature(TFTrainingOperator.__init__).parameters
    fields = [f.name for f in dataclasses.fields(TrainingJobSpec)]
    missing = [name for name in fields if name not in params]
    assert missing == []
    assert sorted(TFTrainingOperator.SPEC_FIELDS) == sorted(fields)  # read from the signature
    assert all(params[name].kind is inspect.Parameter.KEYWORD_ONLY for name in fields)
    assert all(params[name].default is None for name in fields)  # None: "from config, else the spec default"
    doc = inspect.cleandoc(TFTrainingOperator.__doc__ or "")  # Python 3.13 dedents docstrings itself
    undocumented = [name for name in fields if f"\n    {name}: " not in doc]
    assert undocumented == []


def test_connection_arguments_are_one_list() -> None:
    """The base task and the hook take exactly the connection arguments of ClientParams."""
    import inspect

    from airflow_tf_sm.backends import CLIENT_ARGS
    from airflow_tf_sm.hook import TFSageMakerHook
    from airflow_tf_sm.tasks import SageMakerTask

    base = [p for p in inspect.signature(SageMakerTask.__init__).parameters if p not in ("self", "kwargs")]
    assert (
        tuple(base)
        == CLIENT_ARGS
        == (
            "backend",
            "aws_conn_id",
            "region_name",
            "verify",
            "botocore_config",
            "endpoint_url",
            "local_root",
        )
    )
    hook_params = inspect.signature(TFSageMakerHook.__init__).parameters
    assert set(CLIENT_ARGS) <= set(hook_params)


@pytest.mark.parametrize(
    "expand",
    [
        {"hyperparameters": [{"lr": 0.1}, {"lr": 0.01}]},
        {"inputs": ["s3://b/day-1", "s3://b/day-2"]},
        {"instance_type": ["ml.m5.large", "ml.c5.xlarge"], "hyperparameters": [{"lr": 0.1}]},
        {"config": [{"max_run": 60}, {"max_run": 120}]},
        {"job_name": ["sweep-a", "sweep-b"]},
    ],
)
def test_partial_expand_parses_over_spec_fields(expand: dict[str, Any]) -> None:
    import pendulum
    from airflow.sdk import DAG

    partial: dict[str, Any] = {
        "entry_point": "train.py",
        "source_dir": "code",
        "inputs": {"train": "s3://b/train"},
        "output_path": "s3://b/models",
        "metric_definitions": [{"Name": "acc", "Regex": "acc=([0-9.]+)"}],
        "backend": "local",
    }
    with DAG("expand_parse", schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC")):
        mapped = TFTrainingOperator.partial(
            task_id="sweep", **{k: v for k, v in partial.items() if k not in expand}
        ).expand(**expand)
    assert type(mapped).__name__ == "MappedOperator"
    assert set(mapped.expand_input.value) == set(expand)


@pytest.mark.parametrize("dag_id", ["tf_sm_test_mapped_hyperparameters", "tf_sm_test_mapped_product"])
def test_mapped_training_runs_three_jobs_with_distinct_names(
    dag_id: str, airflow_db: Path, local_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_tf_sm.hook import TFSageMakerHook

    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__BACKEND", "local")
    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__LOCAL_ROOT", str(local_root))
    hook = TFSageMakerHook(backend="local", local_root=str(local_root))
    hook.write_bytes("s3://mapped-tests/data/rows.csv", b"1,2,3\n")
    dag = load_dag(REPO / "tests" / "dags" / "tf_sm_mapped_test_dags.py", dag_id)
    run = dag.test()
    assert run.state == "success"
    results = [mapped_xcom(run, "train", index) for index in range(3)]
    names = [r["job_name"] for r in results]
    assert len(set(names)) == 3
    assert all(r["status"] == "Completed" and r["backend"] == "local" for r in results)
    assert [r["metrics"]["score"] for r in results] == [0.1, 1.0, 0.91]
    for name, lr in zip(names, ("0.1", "0.01", "0.001"), strict=True):
        desc = hook.describe_training_job(name)
        assert desc["HyperParameters"]["lr"] == lr
        tags = {
            t["Key"]: t["Value"] for t in hook.clients.sagemaker.list_tags(ResourceArn=desc["TrainingJobArn"])["Tags"]
        }
        assert tags["airflow-tf-sm:map-index"] == str(names.index(name))


def mapped_xcom(run: Any, task_id: str, map_index: int) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key="return_value", map_index=map_index)
            .one()
        )
        value = row.value
    return json.loads(value) if isinstance(value, str) else value

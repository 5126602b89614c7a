"""Endpoints on the local backend: models, endpoint configs, endpoints, model servers, invoke_endpoint."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from fake_models import fake_model_tar, model_tar
from local_helpers import server_processes, wait_gone

from airflow_tf_sm.backends import ClientParams
from airflow_tf_sm.backends.local.clients import local_backend, local_clients
from airflow_tf_sm.backends.local.hosting import HostingStore
from airflow_tf_sm.backends.local.hosting_api import stop_local_endpoints
from airflow_tf_sm.backends.local.processes import process_alive
from airflow_tf_sm.backends.local.runtime_client import LocalRuntimeClient
from airflow_tf_sm.backends.local.serving import LOADER_ENV

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
BUCKET = "bucket"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.19.0-cpu"
ROLE = "arn:aws:iam::000000000000:role/test"
ARN = "arn:aws:sagemaker:us-east-1:000000000000"


def add_model(
    sm: Any, s3: Any, name: str, archive: bytes, *, with_config: bool = True, environment: dict[str, str] | None = None
) -> str:
    """Upload a model archive, create the model and (by default) an endpoint config ``<name>-config``."""
    key = f"models/{name}/model.tar.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=archive)
    container: dict[str, Any] = {"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{key}"}
    if environment:
        container["Environment"] = environment
    sm.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=ROLE)
    if with_config:
        sm.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[variant(name)])
    return f"{name}-config"


def variant(model: str, **extra: Any) -> dict[str, Any]:
    return {
        "VariantName": "AllTraffic",
        "ModelName": model,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
        "InitialVariantWeight": 1.0,
        **extra,
    }


def wait_status(sm: Any, name: str, statuses: tuple[str, ...] = ("InService", "Failed"), timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_endpoint(EndpointName=name)
        if desc["EndpointStatus"] in statuses:
            return desc
        if time.monotonic() > deadline:
            raise AssertionError(f"endpoint {name} still {desc['EndpointStatus']}")
        time.sleep(0.1)


def predict(runtime: Any, name: str, rows: list[list[float]]) -> Any:
    answer = runtime.invoke_endpoint(EndpointName=name, Body=json.dumps({"instances": rows}))
    return json.loads(answer["Body"].read())["predictions"]


def server_record(root: Path, name: str) -> dict[str, Any]:
    state = HostingStore(root).load_endpoint(name)
    return dict(state["servers"][state["current"]])


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# ---------------------------------------------------------------------------------------------
# models and endpoint configs
# ---------------------------------------------------------------------------------------------
def test_model_create_describe_list_delete(hosting: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = hosting
    s3.put_object(Bucket=BUCKET, Key="m/model.tar.gz", Body=fake_model_tar([1.0], 0.0))
    container = {"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/m/model.tar.gz", "Environment": {"A": "1"}}
    tags = [{"Key": "team", "Value": "ml"}]
    created = sm.create_model(ModelName="model-a", PrimaryContainer=container, ExecutionRoleArn=ROLE, Tags=tags)
    assert created["ModelArn"] == f"{ARN}:model/model-a"
    desc = sm.describe_model(ModelName="model-a")
    assert desc["ModelName"] == "model-a" and desc["ModelArn"] == created["ModelArn"]
    assert desc["PrimaryContainer"] == container and desc["ExecutionRoleArn"] == ROLE
    assert isinstance(desc["CreationTime"], datetime) and desc["CreationTime"].tzinfo is not None
    assert sm.list_tags(ResourceArn=created["ModelArn"])["Tags"] == tags

    with pytest.raises(ClientError) as dup:
        sm.create_model(ModelName="model-a", PrimaryContainer=container, ExecutionRoleArn=ROLE)
    assert error_of(dup) == ("ValidationException", f'Cannot create already existing model "{ARN}:model/model-a".')

    sm.create_model(ModelName="Model-B", PrimaryContainer=container, ExecutionRoleArn=ROLE)
    listed = sm.list_models(SortBy="Name", SortOrder="Ascending")["Models"]
    assert [m["ModelName"] for m in listed] == ["Model-B", "model-a"]
    assert listed[0]["ModelArn"] == f"{ARN}:model/model-b"  # ARNs are lower-cased
    assert [m["ModelName"] for m in sm.list_models(NameContains="-b")["Models"]] == ["Model-B"]
    page = sm.list_models(MaxResults=1)
    assert len(page["Models"]) == 1 and page["Models"][0]["ModelName"] == "Model-B"  # newest first
    rest = sm.list_models(MaxResults=1, NextToken=page["NextToken"])
    assert [m["ModelName"] for m in rest["Models"]] == ["model-a"] and "NextToken" not in rest

    sm.delete_model(ModelName="model-a")
    for call in (sm.describe_model, sm.delete_model):
        with pytest.raises(ClientError) as gone:
            call(ModelName="model-a")
        assert error_of(gone) == ("ValidationException", f'Could not find model "{ARN}:model/model-a".')
    # a deleted model's name can be used again
    sm.create_model(ModelName="model-a", PrimaryContainer=container, ExecutionRoleArn=ROLE)


def test_model_request_errors(hosting: tuple[Any, Any, Any]) -> None:
    sm, _, _ = hosting
    missing = f"s3://{BUCKET}/nothing/model.tar.gz"
    with pytest.raises(ClientError) as no_data:
        sm.create_model(
            ModelName="m", PrimaryContainer={"Image": IMAGE, "ModelDataUrl": missing}, ExecutionRoleArn=ROLE
        )
    assert error_of(no_data) == ("ValidationException", f"Could not find model data at {missing}.")
    with pytest.raises(ClientError) as bad:
        sm.create_model(ModelName="bad_name", PrimaryContainer={"Image": IMAGE}, ExecutionRoleArn="role")
    code, message = error_of(bad)
    assert code == "ValidationException" and "ModelName" in message and "ExecutionRoleArn" in message
    assert sm.list_models()["Models"] == []


def test_endpoint_config_crud_and_errors(hosting: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = hosting
    add_model(sm, s3, "m1", fake_model_tar([1.0], 0.0), with_config=False)
    config_variant = variant("m1")
    del config_variant["InitialVariantWeight"]
    created = sm.create_endpoint_config(EndpointConfigName="cfg", ProductionVariants=[config_variant])
    assert created["EndpointConfigArn"] == f"{ARN}:endpoint-config/cfg"
    desc = sm.describe_endpoint_config(EndpointConfigName="cfg")
    assert desc["EndpointConfigName"] == "cfg" and desc["EndpointConfigArn"] == created["EndpointConfigArn"]
    assert desc["ProductionVariants"] == [{**config_variant, "InitialVariantWeight": 1.0}]
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]] == ["cfg"]

    with pytest.raises(ClientError) as dup:
        sm.create_endpoint_config(EndpointConfigName="cfg", ProductionVariants=[variant("m1")])
    assert error_of(dup) == (
        "ValidationException",
        f'Cannot create already existing endpoint configuration "{ARN}:endpoint-config/cfg".',
    )
    with pytest.raises(ClientError) as no_model:
        sm.create_endpoint_config(EndpointConfigName="cfg2", ProductionVariants=[variant("nope")])
    assert error_of(no_model) == ("ValidationException", f'Could not find model "{ARN}:model/nope".')
    with pytest.raises(ClientError) as two:
        sm.create_endpoint_config(
            EndpointConfigName="cfg2", ProductionVariants=[variant("m1"), variant("m1", VariantName="B")]
        )
    assert "one production variant" in error_of(two)[1]
    with pytest.raises(ClientError) as bad:
        sm.create_endpoint_config(EndpointConfigName="cfg2", ProductionVariants=[variant("m1", InstanceType="m5")])
    assert "ProductionVariants[0].InstanceType" in error_of(bad)[1]

    sm.delete_endpoint_config(EndpointConfigName="cfg")
    with pytest.raises(ClientError) as gone:
        sm.describe_endpoint_config(EndpointConfigName="cfg")
    assert error_of(gone) == (
        "ValidationException",
        f'Could not find endpoint configuration "{ARN}:endpoint-config/cfg".',
    )


def test_create_endpoint_errors(hosting: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = hosting
    with pytest.raises(ClientError) as no_config:
        sm.create_endpoint(EndpointName="ep", EndpointConfigName="nope")
    assert error_of(no_config) == (
        "ValidationException",
        f'Could not find endpoint configuration "{ARN}:endpoint-config/nope".',
    )
    config = add_model(sm, s3, "m1", fake_model_tar([1.0], 0.0))
    sm.delete_model(ModelName="m1")
    with pytest.raises(ClientError) as no_model:
        sm.create_endpoint(EndpointName="ep", EndpointConfigName=config)
    assert error_of(no_model) == ("ValidationException", f'Could not find model "{ARN}:model/m1".')
    with pytest.raises(ClientError) as bad_name:
        sm.create_endpoint(EndpointName="ep.1", EndpointConfigName=config)
    assert "EndpointName" in error_of(bad_name)[1]
    for call, kwargs in (
        (sm.describe_endpoint, {}),
        (sm.delete_endpoint, {}),
        (sm.update_endpoint, {"EndpointConfigName": config}),
    ):
        with pytest.raises(ClientError) as unknown:
            call(EndpointName="ghost", **kwargs)
        assert error_of(unknown) == ("ValidationException", f'Could not find endpoint "{ARN}:endpoint/ghost".')
    assert sm.list_endpoints()["Endpoints"] == []


# ---------------------------------------------------------------------------------------------
# endpoint lifecycle (fake models: no TensorFlow)
# ---------------------------------------------------------------------------------------------
def test_endpoint_serves_over_http(hosting: tuple[Any, Any, Any], local_root: Path) -> None:
    sm, s3, runtime = hosting
    config = add_model(sm, s3, "m1", fake_model_tar([1.0, 2.0], 0.5, load_seconds=1.5))
    created = sm.create_endpoint(EndpointName="ep", EndpointConfigName=config, Tags=[{"Key": "k", "Value": "v"}])
    assert created["EndpointArn"] == f"{ARN}:endpoint/ep"

    creating = sm.describe_endpoint(EndpointName="ep")
    assert creating["EndpointStatus"] == "Creating" and "LocalUrl" not in creating
    for call, kwargs in ((sm.delete_endpoint, {}), (sm.update_endpoint, {"EndpointConfigName": config})):
        with pytest.raises(ClientError) as busy:
            call(EndpointName="ep", **kwargs)
        assert error_of(busy) == ("ValidationException", f'Cannot update in-progress endpoint "{ARN}:endpoint/ep".')
    with pytest.raises(ClientError) as not_yet:
        runtime.invoke_endpoint(EndpointName="ep", Body=b'{"instances": [[1, 1]]}')
    assert error_of(not_yet) == ("ValidationError", "Endpoint ep of account 000000000000 not found.")
    with pytest.raises(ClientError) as dup:
        sm.create_endpoint(EndpointName="ep", EndpointConfigName=config)
    assert error_of(dup) == ("ValidationException", f'Cannot create already existing endpoint "{ARN}:endpoint/ep".')

    desc = wait_status(sm, "ep")
    assert desc["EndpointStatus"] == "InService", desc.get("FailureReason")
    assert desc["EndpointConfigName"] == config and "FailureReason" not in desc
    (prod,) = desc["ProductionVariants"]
    assert prod["VariantName"] == "AllTraffic" and prod["CurrentWeight"] == 1.0
    assert prod["CurrentInstanceCount"] == 1
    (image,) = prod["DeployedImages"]
    assert image["SpecifiedImage"] == IMAGE and image["ResolvedImage"].startswith(IMAGE.split(":2.19")[0] + "@sha256:")
    assert desc["LastModifiedTime"] >= desc["CreationTime"]
    record = server_record(local_root, "ep")
    assert desc["LocalUrl"] == f"http://127.0.0.1:{record['port']}"

    # the server itself, over real HTTP
    with urllib.request.urlopen(desc["LocalUrl"] + "/ping", timeout=5) as ping:
        assert ping.status == 200
    request = urllib.request.Request(
        desc["LocalUrl"] + "/invocations",
        data=b'{"inputs": [[1, 2], [3, 4]]}',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.loads(answer.read()) == {"outputs": [[5.5], [11.5]]}

    # through invoke_endpoint
    assert predict(runtime, "ep", [[1, 2], [0, -1]]) == [[5.5], [-1.5]]
    csv_answer = runtime.invoke_endpoint(EndpointName="ep", Body="1,1\n2,2\n", ContentType="text/csv")
    assert json.loads(csv_answer["Body"].read()) == {"predictions": [[3.5], [6.5]]}
    assert csv_answer["InvokedProductionVariant"] == "AllTraffic"
    assert csv_answer["ContentType"] == "application/json"
    with pytest.raises(ClientError) as bad_input:
        runtime.invoke_endpoint(EndpointName="ep", Body=b'{"instances": [[1, 2, 3]]}')
    err = bad_input.value.response
    assert err["Error"]["Code"] == "ModelError" and err["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert err["OriginalStatusCode"] == 400 and "2 numbers" in json.loads(err["OriginalMessage"])["error"]
    assert "Received client error (400) from primary" in err["Error"]["Message"]

    (summary,) = sm.list_endpoints(StatusEquals="InService")["Endpoints"]
    assert summary["EndpointName"] == "ep" and summary["EndpointStatus"] == "InService"
    assert sm.list_endpoints(StatusEquals="Failed")["Endpoints"] == []
    assert sm.list_tags(ResourceArn=created["EndpointArn"])["Tags"] == [{"Key": "k", "Value": "v"}]
    sm.add_tags(ResourceArn=created["EndpointArn"], Tags=[{"Key": "k", "Value": "w"}])
    assert sm.list_tags(ResourceArn=created["EndpointArn"])["Tags"] == [{"Key": "k", "Value": "w"}]


def test_update_switches_to_the_new_server_and_stops_the_old(hosting: tuple[Any, Any, Any], local_root: Path) -> None:
    sm, s3, runtime = hosting
    first = add_model(sm, s3, "m1", fake_model_tar([1.0, 1.0], 0.0))
    second = add_model(sm, s3, "m2", fake_model_tar([10.0, 0.0], 1.0, load_seconds=1.5))
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=first)
    before = wait_status(sm, "ep")
    old = server_record(local_root, "ep")
    old_model_dir = HostingStore(local_root).server_dir("ep", HostingStore(local_root).load_endpoint("ep")["current"])
    assert (old_model_dir / "model" / "fake.json").is_file()
    assert predict(runtime, "ep", [[1, 2]]) == [[3.0]]

    sm.update_endpoint(EndpointName="ep", EndpointConfigName=second)
    updating = sm.describe_endpoint(EndpointName="ep")
    assert updating["EndpointStatus"] == "Updating"
    assert updating["EndpointConfigName"] == first and updating["LocalUrl"] == before["LocalUrl"]
    assert predict(runtime, "ep", [[1, 2]]) == [[3.0]]  # the old server answers during the update

    after = wait_status(sm, "ep", ("InService",))
    assert after["EndpointConfigName"] == second and after["LocalUrl"] != before["LocalUrl"]
    assert predict(runtime, "ep", [[1, 2]]) == [[11.0]]
    assert wait_gone([old["pid"]]), "the replaced server is still running"
    assert not port_open(old["port"])
    assert len(server_processes(local_root)) == 1
    deadline = time.monotonic() + 5
    while (old_model_dir / "model").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (old_model_dir / "model").exists()  # the replaced server's extracted model is dropped


def test_failed_update_keeps_the_old_server(hosting: tuple[Any, Any, Any], local_root: Path) -> None:
    sm, s3, runtime = hosting
    good = add_model(sm, s3, "good", fake_model_tar([1.0], 0.0))
    broken = add_model(sm, s3, "broken", fake_model_tar([1.0], 0.0, fail="weights are corrupt"))
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=good)
    before = wait_status(sm, "ep")
    sm.update_endpoint(EndpointName="ep", EndpointConfigName=broken)
    after = wait_status(sm, "ep", ("InService",), timeout=30)
    deadline = time.monotonic() + 30
    while "FailureReason" not in after and time.monotonic() < deadline:
        time.sleep(0.1)
        after = sm.describe_endpoint(EndpointName="ep")
    assert "did not pass the ping health check" in after["FailureReason"]
    assert "weights are corrupt" in after["FailureReason"]
    assert after["EndpointConfigName"] == good and after["LocalUrl"] == before["LocalUrl"]
    assert predict(runtime, "ep", [[4]]) == [[4.0]]
    assert wait_gone([p for p in server_processes(local_root) if p != server_record(local_root, "ep")["pid"]])

    # a new update clears the reason
    sm.update_endpoint(EndpointName="ep", EndpointConfigName=good)
    assert "FailureReason" not in sm.describe_endpoint(EndpointName="ep")
    assert "FailureReason" not in wait_status(sm, "ep", ("InService",))


def test_endpoint_without_saved_model_fails(hosting: tuple[Any, Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    sm, s3, runtime = hosting
    monkeypatch.delenv(LOADER_ENV)  # the TensorFlow loader: it finds no SavedModel before importing TensorFlow
    config = add_model(sm, s3, "m1", model_tar({"model/saved_model.pb": b"not numbered"}))
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=config)
    desc = wait_status(sm, "ep")
    assert desc["EndpointStatus"] == "Failed"
    assert "numeric version directory" in desc["FailureReason"]
    assert "ProductionVariants" not in desc and "LocalUrl" not in desc
    with pytest.raises(ClientError) as update:
        sm.update_endpoint(EndpointName="ep", EndpointConfigName=config)
    assert error_of(update) == ("ValidationException", f'Cannot update failed endpoint "{ARN}:endpoint/ep".')
    with pytest.raises(ClientError) as invoke:
        runtime.invoke_endpoint(EndpointName="ep", Body=b"{}")
    assert error_of(invoke)[0] == "ValidationError"
    sm.delete_endpoint(EndpointName="ep")
    assert sm.list_endpoints()["Endpoints"] == []


def test_delete_stops_the_server_and_frees_the_name(hosting: tuple[Any, Any, Any], local_root: Path) -> None:
    sm, s3, runtime = hosting
    config = add_model(sm, s3, "m1", fake_model_tar([2.0], 0.0))
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=config)
    wait_status(sm, "ep")
    record = server_record(local_root, "ep")
    sm.delete_endpoint(EndpointName="ep")
    assert not process_alive(record["pid"], record["token"])
    assert not port_open(record["port"])
    with pytest.raises(ClientError) as gone:
        sm.describe_endpoint(EndpointName="ep")
    assert error_of(gone) == ("ValidationException", f'Could not find endpoint "{ARN}:endpoint/ep".')
    with pytest.raises(ClientError) as invoke:
        runtime.invoke_endpoint(EndpointName="ep", Body=b"{}")
    assert error_of(invoke) == ("ValidationError", "Endpoint ep of account 000000000000 not found.")
    # the model, the config and the endpoint's log stream stay; the name is free again
    assert sm.describe_model(ModelName="m1")["ModelName"] == "m1"
    logs = local_clients(local_root)[2]
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/Endpoints/ep")["logStreams"]
    assert [s["logStreamName"].split("/")[0] for s in streams] == ["AllTraffic"]
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=config)
    assert wait_status(sm, "ep")["EndpointStatus"] == "InService"
    assert predict(runtime, "ep", [[3]]) == [[6.0]]


def test_server_exits_when_its_endpoint_state_vanishes(hosting: tuple[Any, Any, Any], local_root: Path) -> None:
    sm, s3, _ = hosting
    config = add_model(sm, s3, "m1", fake_model_tar([1.0], 0.0))
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=config)
    wait_status(sm, "ep")
    record = server_record(local_root, "ep")
    shutil.rmtree(HostingStore(local_root).endpoint_dir("ep"))
    assert wait_gone([record["pid"]], timeout=10), "the server outlived its endpoint"


def test_killed_server_marks_the_endpoint_failed(hosting: tuple[Any, Any, Any], local_root: Path) -> None:
    sm, s3, runtime = hosting
    config = add_model(sm, s3, "m1", fake_model_tar([1.0], 0.0))
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=config)
    wait_status(sm, "ep")
    record = server_record(local_root, "ep")
    os.kill(record["pid"], signal.SIGKILL)
    assert wait_gone([record["pid"]])
    desc = sm.describe_endpoint(EndpointName="ep")
    assert desc["EndpointStatus"] == "Failed" and desc["FailureReason"] == "local model server process died"
    with pytest.raises(ClientError) as invoke:
        runtime.invoke_endpoint(EndpointName="ep", Body=b"{}")
    assert error_of(invoke)[0] == "ValidationError"
    sm.delete_endpoint(EndpointName="ep")


def test_model_and_config_tags(hosting: tuple[Any, Any, Any]) -> None:
    sm, s3, _ = hosting
    add_model(sm, s3, "m1", fake_model_tar([1.0], 0.0))
    for arn in (f"{ARN}:model/m1", f"{ARN}:endpoint-config/m1-config"):
        assert sm.list_tags(ResourceArn=arn)["Tags"] == []
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "a", "Value": "1"}])
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}])
        assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "a", "Value": "3"}, {"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as unknown:
        sm.list_tags(ResourceArn=f"{ARN}:endpoint/none")
    assert error_of(unknown)[0] == "ValidationException"


def test_stop_local_endpoints_stops_every_server(hosting: tuple[Any, Any, Any], local_root: Path) -> None:
    sm, s3, _ = hosting
    fast = add_model(sm, s3, "fast", fake_model_tar([1.0], 0.0))
    slow = add_model(sm, s3, "slow", fake_model_tar([1.0], 0.0, load_seconds=30))
    sm.create_endpoint(EndpointName="ep-ready", EndpointConfigName=fast)
    sm.create_endpoint(EndpointName="ep-loading", EndpointConfigName=slow)
    wait_status(sm, "ep-ready")
    assert sm.describe_endpoint(EndpointName="ep-loading")["EndpointStatus"] == "Creating"
    pids = server_processes(local_root)
    assert len(pids) == 2
    assert sorted(stop_local_endpoints(local_root, grace=1.0)) == ["ep-loading", "ep-ready"]
    assert wait_gone(pids, timeout=5)
    assert sm.list_endpoints()["Endpoints"] == []


def test_get_clients_gives_the_local_runtime_client(local_root: Path) -> None:
    clients = local_backend(ClientParams(backend="local", local_root=str(local_root)))
    assert isinstance(clients.runtime, LocalRuntimeClient)
    assert clients.runtime.root == local_root.resolve()
    assert hasattr(clients.sagemaker, "create_endpoint") and hasattr(clients.sagemaker, "create_training_job")
    with pytest.raises(ClientError) as unknown:
        clients.runtime.invoke_endpoint(EndpointName="none", Body=b"{}")
    assert error_of(unknown) == ("ValidationError", "Endpoint none of account 000000000000 not found.")


# ---------------------------------------------------------------------------------------------
# end to end with TensorFlow: train the example, deploy it, update, delete
# ---------------------------------------------------------------------------------------------
@pytest.mark.tensorflow
def test_trained_example_model_serves_its_own_predictions(local_root: Path, tmp_path: Path) -> None:
    import io
    import tarfile

    import numpy as np
    import tensorflow as tf
    from local_helpers import make_request, stage_code, wait_for_status
    from tf_sm_example.data import make_dataset

    sm, s3, _logs, runtime = local_clients(local_root, "us-east-1", stop_grace=2.0)
    try:
        # train the example script through the local backend (2 epochs)
        for relpath, content in make_dataset(7, n_train=1000, n_test=200).items():
            s3.put_object(Bucket=BUCKET, Key=f"data/{relpath}", Body=content)
        code = stage_code(s3, {"train.py": (REPO / "dags_examples/tf_sm_example/code/train.py").read_text()})
        request = make_request(
            "train-serve",
            code,
            hyperparameters={"epochs": 2, "batch-size": 64},
            channels={"train": f"s3://{BUCKET}/data/train", "test": f"s3://{BUCKET}/data/test"},
            max_runtime=300,
        )
        sm.create_training_job(**request)
        job = wait_for_status(sm, "train-serve", timeout=240)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        model_data = job["ModelArtifacts"]["S3ModelArtifacts"]

        sm.create_model(
            ModelName="trained", PrimaryContainer={"Image": IMAGE, "ModelDataUrl": model_data}, ExecutionRoleArn=ROLE
        )
        sm.create_endpoint_config(EndpointConfigName="trained-config", ProductionVariants=[variant("trained")])
        sm.create_endpoint(EndpointName="serve", EndpointConfigName="trained-config")
        desc = wait_status(sm, "serve", timeout=120)
        assert desc["EndpointStatus"] == "InService", desc.get("FailureReason")

        # the trained model's own predictions
        bucket, key = model_data[len("s3://") :].split("/", 1)
        with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
            tar.extractall(tmp_path / "trained", filter="data")
        rows = [
            [float(v) for v in line.split(",")[:8]]
            for line in make_dataset(7, n_train=1000, n_test=200)["test/data.csv"].decode().splitlines()[1:21]
        ]
        instances = np.array(rows, dtype=np.float32)
        serve = tf.saved_model.load(str(tmp_path / "trained" / "1")).signatures["serving_default"]
        (expected,) = serve(tf.constant(instances)).values()
        served = np.array(predict(runtime, "serve", rows))
        assert served.shape == (20, 3)
        np.testing.assert_allclose(served, expected.numpy(), atol=1e-5)

        # update to a second model built here: the switch happens and the old server goes away
        class Doubler(tf.Module):
            @tf.function(input_signature=[tf.TensorSpec([None, 8], tf.float32, name="features")])
            def __call__(self, features: Any) -> dict[str, Any]:
                return {"output_0": features * 2.0}

        doubler = Doubler()
        tf.saved_model.save(doubler, str(tmp_path / "doubler" / "1"), signatures={"serving_default": doubler.__call__})
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(tmp_path / "doubler" / "1", arcname="1")
        s3.put_object(Bucket=BUCKET, Key="models/doubler/model.tar.gz", Body=buffer.getvalue())
        sm.create_model(
            ModelName="doubler",
            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/models/doubler/model.tar.gz"},
            ExecutionRoleArn=ROLE,
        )
        sm.create_endpoint_config(EndpointConfigName="doubler-config", ProductionVariants=[variant("doubler")])
        old = server_record(local_root, "serve")
        sm.update_endpoint(EndpointName="serve", EndpointConfigName="doubler-config")
        after = wait_status(sm, "serve", ("InService",), timeout=120)
        assert after["EndpointConfigName"] == "doubler-config", after.get("FailureReason")
        np.testing.assert_allclose(np.array(predict(runtime, "serve", rows)), instances * 2.0, atol=1e-5)
        assert wait_gone([old["pid"]]) and not port_open(old["port"])

        # delete: the process is gone and the port closed
        new = server_record(local_root, "serve")
        sm.delete_endpoint(EndpointName="serve")
        assert not process_alive(new["pid"], new["token"]) and not port_open(new["port"])
        assert server_processes(local_root) == []
    finally:
        stop_local_endpoints(local_root)

"""Input that used to pass validation and break later: refused before any call, naming the field.

Instance counts (the API's sanity bound; the local backend's ``local_max_hosts``), environment names and
values a process cannot take, hyperparameters nested thousands deep, ``s3://`` keys with ``..``/``.``/``//``
segments, and hook/service methods given ``None`` or a number as a name. Every case records the clients'
calls (:mod:`tests.recording`) on both backends: the list must stay empty.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_tf_sm.exceptions import ConfigValidationError
from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.training.operator import TFTrainingOperator
from tests.recording import recording_hook
from tests.training.test_bad_inputs import FakeTI, base_kwargs

GROUP = {"instance_group_name": "workers", "instance_type": "ml.c5.xlarge", "instance_count": 2}


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def refused(backend: str, tmp_path: Path, overrides: dict[str, Any]) -> tuple[ConfigValidationError, list[Any]]:
    """Run the operator with ``overrides`` on recording clients; return the error and the calls made."""
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "train.py").write_text("print('train')\n")
    hook, calls = recording_hook(backend, tmp_path / "root")
    kwargs = {**base_kwargs(code), **overrides}
    with pytest.raises(ConfigValidationError) as err:  # from the constructor (DAG parse) or from execute
        op = TFTrainingOperator(task_id="train", backend=backend, aws_conn_id=None, **kwargs)
        op._hook = hook
        op.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    return err.value, calls


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # (id, overrides, field, text of the rule)
    ("instance count over the bound", {"instance_count": 10_001}, "instance_count", "at most 10,000"),
    (
        "instance groups over the bound together",
        {
            "instance_type": None,
            "instance_groups": [
                {**GROUP, "instance_count": 6000},
                {**GROUP, "instance_group_name": "b", "instance_count": 6000},
            ],
        },
        "instance_groups",
        "10,000 instances in all groups",
    ),
    ("environment value with NUL", {"environment": {"DB_HOST": "db\x00host"}}, "environment.DB_HOST", "NUL"),
    ("environment name with =", {"environment": {"A=B": "1"}}, "environment", "no '='"),
    ("environment name empty", {"environment": {"": "1"}}, "environment", "1-512 letters"),
    ("environment name with a space", {"environment": {"MY VAR": "1"}}, "environment", "1-512 letters"),
    ("environment name starts with a digit", {"environment": {"1X": "1"}}, "environment", "not starting with a digit"),
    ("environment value too long", {"environment": {"BLOB": "x" * 513}}, "environment.BLOB", "at most 512"),
    ("too many environment variables", {"environment": {f"V{i}": "1" for i in range(101)}}, "environment", "100"),
    ("hyperparameters 5,000 deep", {"hyperparameters": {"deep": nested(5000)}}, "hyperparameters", "32 levels"),
    (
        "hyperparameters as deep JSON text",
        {"hyperparameters": '{"d": ' + "[" * 5000 + "]" * 5000 + "}"},
        "hyperparameters",
        "mapping",
    ),
    ("config 5,000 deep", {"config": {"hyperparameters": {"deep": nested(5000)}}}, "config", "32 levels"),
    ("output path with ..", {"output_path": "s3://bucket/models/../x"}, "output_path", "'..' path segments"),
    ("output path with .", {"output_path": "s3://bucket/./models"}, "output_path", "'..' path segments"),
    ("output path with //", {"output_path": "s3://bucket/models//x"}, "output_path", "empty, '.' or '..'"),
    ("checkpoint uri with ..", {"checkpoint_s3_uri": "s3://bucket/ckpt/../x"}, "checkpoint_s3_uri", "'..'"),
    ("checkpoint uri with .", {"checkpoint_s3_uri": "s3://bucket/ckpt/./x"}, "checkpoint_s3_uri", "'..'"),
    ("checkpoint uri with //", {"checkpoint_s3_uri": "s3://bucket//ckpt"}, "checkpoint_s3_uri", "'..'"),
]


@pytest.mark.parametrize("backend", ["sagemaker", "local"])
@pytest.mark.parametrize(("overrides", "field", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_before_any_call(
    overrides: dict[str, Any], field: str, rule: str, backend: str, tmp_path: Path
) -> None:
    error, calls = refused(backend, tmp_path, overrides)
    matching = [e for e in error.errors if e.field == field]
    assert matching and rule in matching[0].rule, str(error)
    assert calls == []
    assert len(str(error)) < 2000  # the deep value is not printed


def test_deep_values_are_refused_by_the_spec_and_the_config_renderer(tmp_path: Path) -> None:
    from airflow_tf_sm.templating import render_config
    from airflow_tf_sm.training.spec import TrainingJobSpec

    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('train')\n")
    with pytest.raises(ConfigValidationError) as err:
        TrainingJobSpec.from_mapping({**base_kwargs(code), "hyperparameters": {"deep": nested(5000)}})
    assert [e.field for e in err.value.errors] == ["hyperparameters"]
    with pytest.raises(ConfigValidationError) as err:
        render_config({"hyperparameters": {"deep": nested(5000)}}, {})
    assert [e.field for e in err.value.errors] == ["config"]
    (tmp_path / "deep.json").write_text('{"d": ' + "[" * 900 + "]" * 900 + "}")
    with pytest.raises(ConfigValidationError) as err:
        render_config("deep.json", {}, [str(tmp_path)])
    assert [e.field for e in err.value.errors] == ["deep.json"]
    # 32 levels pass
    assert TrainingJobSpec.from_mapping({**base_kwargs(code), "hyperparameters": {"d": nested(30)}}).hyperparameters


def test_local_backend_refuses_more_hosts_than_local_max_hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__LOCAL_MAX_HOSTS", "3")
    error, calls = refused("local", tmp_path, {"instance_count": 4})
    assert [e.field for e in error.errors] == ["instance_count"]
    assert error.errors[0].value == 4
    assert "at most 3 here" in error.errors[0].rule
    assert "[airflow_tf_sm] local_max_hosts" in error.errors[0].rule
    assert "AIRFLOW__AIRFLOW_TF_SM__LOCAL_MAX_HOSTS" in error.errors[0].rule
    assert calls == []
    groups = [GROUP, {**GROUP, "instance_group_name": "b"}]  # 2 + 2 hosts
    error, calls = refused("local", tmp_path, {"instance_type": None, "instance_groups": groups})
    assert [(e.field, e.value) for e in error.errors] == [("instance_groups", 4)]
    assert calls == []


def test_the_host_limit_defaults_to_the_cpu_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow_tf_sm.settings

    monkeypatch.delenv("AIRFLOW__AIRFLOW_TF_SM__LOCAL_MAX_HOSTS", raising=False)
    monkeypatch.setattr(airflow_tf_sm.settings.os, "cpu_count", lambda: 2)
    error, calls = refused("local", tmp_path, {"instance_count": 3})
    assert "at most 2 here" in error.errors[0].rule and calls == []
    # the AWS backend runs its instances elsewhere: three are fine there
    hook = TFSageMakerHook(aws_conn_id=None, backend="sagemaker", region_name="us-east-1")
    from airflow_tf_sm.training.spec import TrainingJobSpec

    code = tmp_path / "code"
    spec = TrainingJobSpec.from_mapping({**base_kwargs(code), "instance_count": 3})
    request = hook.training.request(spec, "job-1", "s3://bucket/code/sourcedir.tar.gz")
    assert request["ResourceConfig"]["InstanceCount"] == 3


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_a_bad_local_max_hosts_names_the_setting(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from airflow_tf_sm.settings import local_max_hosts

    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__LOCAL_MAX_HOSTS", value)
    with pytest.raises(ValueError, match=r"\[airflow_tf_sm\] local_max_hosts .*must be a whole number >= 1"):
        local_max_hosts()


def test_the_setting_is_in_the_provider_config_section() -> None:
    from airflow_tf_sm.provider import get_provider_info

    option = get_provider_info()["config"]["airflow_tf_sm"]["options"]["local_max_hosts"]
    assert option["type"] == "integer" and option["default"] == ""
    assert "CPU count" in option["description"]


# ------------------------------------------------------------ hook and service methods: names
NAME_CALLS: list[tuple[str, Callable[[TFSageMakerHook, Any], Any], str]] = [
    ("hook.describe_training_job", lambda hook, name: hook.describe_training_job(name), "job_name"),
    ("hook.stop_training_job", lambda hook, name: hook.stop_training_job(name), "job_name"),
    ("training.describe", lambda hook, name: hook.training.describe(name), "job_name"),
    ("training.find", lambda hook, name: hook.training.find(name), "job_name"),
    ("training.wait", lambda hook, name: hook.training.wait(name, poll_interval=0.1), "job_name"),
    ("training.log_reader", lambda hook, name: hook.training.log_reader(name), "job_name"),
    ("hook.invoke_endpoint", lambda hook, name: hook.invoke_endpoint(name, {"instances": [1]}), "endpoint_name"),
    ("hook.delete_endpoint", lambda hook, name: hook.delete_endpoint(name), "endpoint_name"),
    ("hosting.describe_endpoint", lambda hook, name: hook.hosting.describe_endpoint(name), "endpoint_name"),
    ("hosting.find_endpoint", lambda hook, name: hook.hosting.find_endpoint(name), "endpoint_name"),
    ("hosting.wait", lambda hook, name: hook.hosting.wait(name, poll_interval=0.1), "endpoint_name"),
    ("hosting.result", lambda hook, name: hook.hosting.result(name), "endpoint_name"),
    ("hosting.endpoint_url", lambda hook, name: hook.hosting.endpoint_url(name), "endpoint_name"),
    ("hosting.describe_model", lambda hook, name: hook.hosting.describe_model(name), "model_name"),
    ("hosting.describe_endpoint_config", lambda hook, name: hook.hosting.describe_endpoint_config(name), "config_name"),
    (
        "hosting.describe_deployable_job",
        lambda hook, name: hook.hosting.describe_deployable_job(name),
        "training_job_name",
    ),
]


@pytest.mark.parametrize("backend", ["sagemaker", "local"])
@pytest.mark.parametrize("name", [None, 42, " "], ids=["None", "int", "blank"])
@pytest.mark.parametrize(("method", "argument"), [(c[1], c[2]) for c in NAME_CALLS], ids=[c[0] for c in NAME_CALLS])
def test_a_name_that_is_not_text_is_refused_before_any_call(
    method: Callable[[TFSageMakerHook, Any], Any], argument: str, name: Any, backend: str, tmp_path: Path
) -> None:
    hook, calls = recording_hook(backend, tmp_path / "root")
    with pytest.raises(ConfigValidationError) as err:
        method(hook, name)
    assert [(e.field, e.value) for e in err.value.errors] == [(argument, name)]
    assert "must be a non-empty string" in str(err.value)
    assert calls == []

from __future__ import annotations

import datetime
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_tf_sm.exceptions import ConfigValidationError
from airflow_tf_sm.sagemaker.service_model import coerce_request
from airflow_tf_sm.templating import render_config


def _ds_add(ds: str, days: int) -> str:
    return (datetime.date.fromisoformat(ds) + datetime.timedelta(days=days)).isoformat()


@pytest.fixture
def context() -> dict[str, Any]:
    return {
        "params": {"epochs": 5, "lr": 0.01, "optimizer": "adam", "layers": [64, 32], "augment": True},
        "ds": "2025-01-01",
        "ds_nodash": "20250101",
        "run_id": "scheduled__2025-01-01T00:00:00+00:00",
        "dag_run": SimpleNamespace(
            conf={"bucket": "my-bucket", "evil": "{{ 7*7 }}", "as_text": "[1, 2]", "nested": {"k": "{{ x }}"}}
        ),
        "macros": SimpleNamespace(ds_add=_ds_add),
    }


def _problem(info: pytest.ExceptionInfo[ConfigValidationError]) -> tuple[str, str]:
    assert len(info.value.errors) == 1
    error = info.value.errors[0]
    return error.field, error.rule


# ---------------------------------------------------------------- dict configs


def test_dict_rendering_with_params_ds_conf_macros(context: dict[str, Any]) -> None:
    config = {
        "job": "mnist-{{ ds_nodash }}",
        "inputs": {"train": "s3://{{ dag_run.conf.bucket }}/data/{{ ds }}/"},
        "valid_from": "{{ macros.ds_add(ds, -7) }}",
        "hyperparameters": {"epochs": "{{ params.epochs }}", "optimizer": "{{ params.optimizer }}"},
        "untouched": 3,
        "flag": None,
    }
    assert render_config(config, context) == {
        "job": "mnist-20250101",
        "inputs": {"train": "s3://my-bucket/data/2025-01-01/"},
        "valid_from": "2024-12-25",
        "hyperparameters": {"epochs": 5, "optimizer": "adam"},
        "untouched": 3,
        "flag": None,
    }


def test_single_expression_gives_native_values(context: dict[str, Any]) -> None:
    config = {
        "int": "{{ params.epochs }}",
        "float": "{{ params.lr }}",
        "bool": "{{ params.augment }}",
        "list": "{{ params.layers }}",
        "dict": "{{ {'a': params.epochs * 2} }}",
        "trimmed": "{{- params.epochs -}}",
        "braces_in_string": "{{ '}}' }}",
    }
    assert render_config(config, context) == {
        "int": 5,
        "float": 0.01,
        "bool": True,
        "list": [64, 32],
        "dict": {"a": 10},
        "trimmed": 5,
        "braces_in_string": "}}",
    }


def test_mixed_text_renders_to_string(context: dict[str, Any]) -> None:
    config = {
        "digits": "1{{ params.epochs }}",
        "two_expressions": "{{ params.epochs }}{{ params.epochs }}",
        "padded": " {{ params.epochs }}",
        "block": "{% if params.augment %}yes{% endif %}",
    }
    assert render_config(config, context) == {
        "digits": "15",
        "two_expressions": "55",
        "padded": " 5",
        "block": "yes",
    }


def test_keys_lists_and_tuples_are_rendered(context: dict[str, Any]) -> None:
    config = {"{{ params.optimizer }}_opts": ["{{ params.epochs }}", ("x-{{ ds }}",)]}
    assert render_config(config, context) == {"adam_opts": [5, ["x-2025-01-01"]]}


def test_result_is_a_new_plain_dict(context: dict[str, Any]) -> None:
    config = {"a": {"b": "{{ ds }}"}}
    result = render_config(config, context)
    assert type(result) is dict
    assert config == {"a": {"b": "{{ ds }}"}}


def test_top_level_conf_when_in_context(context: dict[str, Any]) -> None:
    context["conf"] = {"epochs": 9}
    assert render_config({"e": "{{ conf.epochs }}"}, context) == {"e": 9}


def test_conf_values_are_data_not_templates(context: dict[str, Any]) -> None:
    config = {
        "alone": "{{ dag_run.conf.evil }}",
        "mixed": "value={{ dag_run.conf.evil }}",
        "text_stays_text": "{{ dag_run.conf.as_text }}",
        "nested": "{{ dag_run.conf.nested }}",
    }
    assert render_config(config, context) == {
        "alone": "{{ 7*7 }}",
        "mixed": "value={{ 7*7 }}",
        "text_stays_text": "[1, 2]",
        "nested": {"k": "{{ x }}"},
    }


def test_params_values_are_not_rendered(context: dict[str, Any]) -> None:
    context["params"]["optimizer"] = "{{ ds }}"
    assert render_config({"o": "{{ params.optimizer }}"}, context) == {"o": "{{ ds }}"}


@pytest.mark.parametrize(
    ("config", "field", "name"),
    [
        ({"epochs": "{{ epochz }}"}, "epochs", "epochz"),
        ({"hp": {"lr": "rate={{ learning_rate }}"}}, "hp.lr", "learning_rate"),
        ({"items": ["ok", "{{ params.missing }}"]}, "items[1]", "missing"),
        ({"{{ nokey }}": 1}, "{{ nokey }}", "nokey"),
    ],
)
def test_strict_undefined_names_variable_and_field(
    context: dict[str, Any], config: dict[str, Any], field: str, name: str
) -> None:
    with pytest.raises(ConfigValidationError) as info:
        render_config(config, context)
    got_field, rule = _problem(info)
    assert got_field == field
    assert "UndefinedError" in rule
    assert f"'{name}'" in rule


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "x{{ ''.__class__ }}",
        "{{ params.__class__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ macros.ds_add.__globals__ }}",
        "{{ params.update({'epochs': 1}) }}",
        "{{ params.layers.append(1) }}",
    ],
)
def test_sandbox_blocks_escapes_and_mutation(context: dict[str, Any], template: str) -> None:
    with pytest.raises(ConfigValidationError) as info:
        render_config({"x": template}, context)
    field, rule = _problem(info)
    assert field == "x"
    assert "SecurityError" in rule or "UndefinedError" in rule
    assert context["params"]["layers"] == [64, 32]
    assert context["params"]["epochs"] == 5


@pytest.mark.parametrize(
    ("template", "kind"),
    [("{{ params.epochs", "TemplateSyntaxError"), ("{{ 1 / 0 }}", "ZeroDivisionError")],
)
def test_other_template_errors(context: dict[str, Any], template: str, kind: str) -> None:
    with pytest.raises(ConfigValidationError) as info:
        render_config({"a": {"b": template}}, context)
    field, rule = _problem(info)
    assert field == "a.b"
    assert kind in rule


def test_duplicate_rendered_keys(context: dict[str, Any]) -> None:
    with pytest.raises(ConfigValidationError, match="duplicate key 'adam'"):
        render_config({"adam": 1, "{{ params.optimizer }}": 2}, context)


# ---------------------------------------------------------------- files


_YAML_TEMPLATE = """\
entry_point: train.py
instance_count: {{ params.epochs }}
inputs:
  train: s3://{{ dag_run.conf.bucket }}/{{ ds }}/
hyperparameters:
  optimizer: {{ params.optimizer }}
  day: {{ ds }}
"""


def _expected_yaml() -> dict[str, Any]:
    return {
        "entry_point": "train.py",
        "instance_count": 5,
        "inputs": {"train": "s3://my-bucket/2025-01-01/"},
        "hyperparameters": {"optimizer": "adam", "day": "2025-01-01"},  # dates stay strings
    }


@pytest.mark.parametrize("name", ["job.yaml", "job.yml", "job.yaml.j2", "job.yml.j2", "job.j2"])
def test_yaml_files_found_through_searchpath(tmp_path: Path, context: dict[str, Any], name: str) -> None:
    empty, full = tmp_path / "empty", tmp_path / "full"
    empty.mkdir()
    full.mkdir()
    (full / name).write_text(_YAML_TEMPLATE)
    assert render_config(name, context, [str(empty), str(full)]) == _expected_yaml()


@pytest.mark.parametrize("name", ["job.json", "job.json.j2", "job.j2"])
def test_json_files(tmp_path: Path, context: dict[str, Any], name: str) -> None:
    (tmp_path / name).write_text('{"epochs": {{ params.epochs }}, "tag": "{{ ds_nodash }}"}')
    assert render_config(name, context, [str(tmp_path)]) == {"epochs": 5, "tag": "20250101"}


def test_searchpath_order_first_match_wins(tmp_path: Path, context: dict[str, Any]) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "job.yaml").write_text("which: first\n")
    (second / "job.yaml").write_text("which: second\n")
    assert render_config("job.yaml", context, [str(first), str(second)]) == {"which": "first"}
    assert render_config("job.yaml", context, [str(second), str(first)]) == {"which": "second"}


def test_absolute_path_and_subdirectory(tmp_path: Path, context: dict[str, Any]) -> None:
    (tmp_path / "configs").mkdir()
    path = tmp_path / "configs" / "job.yaml"
    path.write_text("day: '{{ ds }}'\n")
    assert render_config(str(path), context, [str(tmp_path)]) == {"day": "2025-01-01"}
    assert render_config("configs/job.yaml", context, [str(tmp_path)]) == {"day": "2025-01-01"}


def test_file_error_names_file_and_line(tmp_path: Path, context: dict[str, Any]) -> None:
    (tmp_path / "job.yaml.j2").write_text("a: 1\nb: {{ ds }}\nc: {{ typo_var }}\n")
    with pytest.raises(ConfigValidationError) as info:
        render_config("job.yaml.j2", context, [str(tmp_path)])
    field, rule = _problem(info)
    assert field == "job.yaml.j2"
    assert "line 3" in rule
    assert "'typo_var' is undefined" in rule
    assert info.value.errors[0].value == "c: {{ typo_var }}"


def test_missing_file(tmp_path: Path, context: dict[str, Any]) -> None:
    with pytest.raises(ConfigValidationError) as info:
        render_config("nowhere.yaml", context, [str(tmp_path)])
    field, rule = _problem(info)
    assert field == "nowhere.yaml"
    assert "not found" in rule
    assert str(tmp_path) in rule


@pytest.mark.parametrize(
    ("name", "text", "rule"),
    [
        ("list.yaml", "- 1\n- 2\n", "mapping"),
        ("broken.json", '{"a": ', "not valid JSON"),
        ("broken.yaml", "a: [1, 2\n", "not valid YAML"),
    ],
)
def test_bad_file_content(tmp_path: Path, context: dict[str, Any], name: str, text: str, rule: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigValidationError) as info:
        render_config(name, context, [str(tmp_path)])
    field, got_rule = _problem(info)
    assert field == name
    assert rule in got_rule


def test_file_rendering_is_sandboxed(tmp_path: Path, context: dict[str, Any]) -> None:
    (tmp_path / "job.yaml").write_text("x: {{ ''.__class__.__mro__ }}\n")
    with pytest.raises(ConfigValidationError, match="SecurityError"):
        render_config("job.yaml", context, [str(tmp_path)])


def test_yaml_tags_cannot_build_objects(tmp_path: Path, context: dict[str, Any]) -> None:
    (tmp_path / "job.yaml").write_text("x: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigValidationError, match="not valid YAML"):
        render_config("job.yaml", context, [str(tmp_path)])


# ---------------------------------------------------------------- content strings


def test_json_content_is_parsed_not_rendered(context: dict[str, Any]) -> None:
    content = json.dumps({"epochs": 3, "note": "{{ 7*7 }}"})
    assert render_config(content, context) == {"epochs": 3, "note": "{{ 7*7 }}"}


def test_yaml_content_is_parsed(context: dict[str, Any]) -> None:
    assert render_config("epochs: 3\nday: 2025-01-01\nnote: '{{ ds }}'\n", context) == {
        "epochs": 3,
        "day": "2025-01-01",
        "note": "{{ ds }}",
    }


def test_content_that_is_not_a_mapping(context: dict[str, Any]) -> None:
    with pytest.raises(ConfigValidationError, match="mapping"):
        render_config("just text", context)


def test_config_of_wrong_type(context: dict[str, Any]) -> None:
    with pytest.raises(ConfigValidationError, match="config"):
        render_config(42, context)  # type: ignore[arg-type]


# ---------------------------------------------------------------- coerce_request


def test_coerce_request_nested_shapes() -> None:
    request = {
        "TrainingJobName": "job-1",
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": "2", "VolumeSizeInGB": " 30 "},
        "EnableManagedSpotTraining": "true",
        "EnableNetworkIsolation": "False",
        "EnableInterContainerTrafficEncryption": "0",
        "StoppingCondition": {"MaxRuntimeInSeconds": "3600", "MaxWaitTimeInSeconds": "7200"},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/k"}},
                "ShuffleConfig": {"Seed": "42"},
            },
            {"ChannelName": "test", "ShuffleConfig": {"Seed": "7"}},
        ],
        "HyperParameters": {"epochs": "5", "lr": "0.01", "flag": "true"},
        "Tags": [{"Key": "n", "Value": "1"}],
    }
    result = coerce_request(request)
    assert result["ResourceConfig"] == {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 2,
        "VolumeSizeInGB": 30,
    }
    assert result["EnableManagedSpotTraining"] is True
    assert result["EnableNetworkIsolation"] is False
    assert result["EnableInterContainerTrafficEncryption"] is False
    assert result["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert [c["ShuffleConfig"]["Seed"] for c in result["InputDataConfig"]] == [42, 7]
    assert result["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://b/k"
    # a map of strings: values stay strings
    assert result["HyperParameters"] == {"epochs": "5", "lr": "0.01", "flag": "true"}
    assert result["Tags"] == [{"Key": "n", "Value": "1"}]
    assert request["ResourceConfig"]["InstanceCount"] == "2"  # input untouched


def test_coerce_request_leaves_uncoercible_and_unknown_values() -> None:
    request = {
        "ResourceConfig": {"InstanceCount": "two", "VolumeSizeInGB": "1.5"},
        "EnableManagedSpotTraining": "maybe",
        "Unknown": {"InstanceCount": "2"},
        "StoppingCondition": "soon",
    }
    assert coerce_request(request) == request


def test_coerce_request_already_typed_values_unchanged() -> None:
    request = {"ResourceConfig": {"InstanceCount": 2}, "EnableManagedSpotTraining": False}
    assert coerce_request(request) == request


def test_coerce_request_float_and_other_operations() -> None:
    result = coerce_request(
        {"ProductionVariants": [{"InitialVariantWeight": "0.5", "InitialInstanceCount": "1"}]},
        operation="CreateEndpointConfig",
    )
    assert result == {"ProductionVariants": [{"InitialVariantWeight": 0.5, "InitialInstanceCount": 1}]}
    assert coerce_request(
        {"ProductionVariants": [{"InitialVariantWeight": "nan"}]}, operation="CreateEndpointConfig"
    ) == {"ProductionVariants": [{"InitialVariantWeight": "nan"}]}


# ---------------------------------------------------------------- the sandbox's walls


@pytest.fixture
def airflow_context(tmp_path: Path) -> dict[str, Any]:
    """The pieces of a real Airflow task context a config template sees: macros, and a loaded Jinja env."""
    from airflow.sdk.execution_time.context import MacrosAccessor
    from jinja2 import Environment

    dag = SimpleNamespace(get_template_env=Environment, fileloc=str(tmp_path / "dag.py"))
    return {"macros": MacrosAccessor(), "ds": "2025-01-01", "dag": dag, "holder": {"mod": json}}


@pytest.mark.parametrize(
    ("template", "rule"),
    [
        # module attributes reached through macros: the shell command of the issue
        (
            "{{ macros.uuid.os.system('touch pwned') }}",
            "access to attribute 'uuid' of 'MacrosAccessor' object is unsafe",
        ),
        ("{{ macros['uuid'].os }}", "access to attribute 'uuid' of 'MacrosAccessor' object is unsafe"),
        ("{{ macros.json.dumps(1) }}", "access to attribute 'json' of 'MacrosAccessor' object is unsafe"),
        ("{{ macros.dateutil }}", "access to attribute 'dateutil' of 'MacrosAccessor' object is unsafe"),
        ("{{ holder.mod.loads('1') }}", "access to attribute 'mod' of 'dict' object is unsafe"),
        ("{{ holder['mod'] }}", "access to attribute 'mod' of 'dict' object is unsafe"),
        # function and class internals
        ("{{ macros.ds_add.__globals__ }}", "access to attribute '__globals__' of 'function' object is unsafe"),
        ("{{ macros.ds_add|attr('__globals__') }}", "access to attribute '__globals__' of 'function' object is unsafe"),
        ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", "access to attribute '__init__' of 'type'"),
        ("{{ joiner.__init__.__globals__ }}", "access to attribute '__init__' of 'type'"),
        # another template engine with no such walls
        ("{{ dag.get_template_env().from_string('x').render() }}", "access to attribute 'get_template_env'"),
        # work without end
        ("{{ range(10**9)|list|length }}", "Range too big"),
        ("{{ 'a' * 10**9 }}", "over 1,000,000 items"),
        ("{{ [0] * 10**9 }}", "over 1,000,000 items"),
        ("{{ 2 ** 100000000 }}", "exponent 100000000 is over 1,000"),
        ("{{ lipsum(n=10**9) }}", "'lipsum' is undefined"),
        # reading files
        ("{% include '/etc/hostname' %}", "no loader for this environment"),
        ("{% import '/etc/hostname' as h %}", "no loader for this environment"),
    ],
)
def test_sandbox_escapes_are_refused_with_a_clear_error(
    tmp_path: Path, airflow_context: dict[str, Any], template: str, rule: str
) -> None:
    (tmp_path / "job.yaml.j2").write_text(f'value: "{template}"\n'.replace('"{{', "{{").replace('}}"', "}}"))
    for config, searchpath in (({"value": template}, []), ("job.yaml.j2", [str(tmp_path)])):
        with pytest.raises(ConfigValidationError) as info:
            render_config(config, airflow_context, searchpath)
        field, got = _problem(info)
        assert field in ("value", "job.yaml.j2")
        assert got.startswith("template rendering failed")
        assert rule in got
    assert not (tmp_path / "pwned").exists()
    assert not Path("pwned").exists()


def test_what_templates_can_reach(airflow_context: dict[str, Any]) -> None:
    config = {
        "tomorrow": "{{ macros.ds_add(ds, 1) }}",
        "year": "{{ macros.datetime(2024, 2, 3).year }}",
        "week": "{{ (macros.datetime(2024, 1, 8) - macros.timedelta(days=7)).day }}",
        "small": "{{ 'ab' * 3 }}",
        "power": "{{ 2 ** 10 }}",
        "items": "{{ range(3)|list }}",
    }
    assert render_config(config, airflow_context) == {
        "tomorrow": "2025-01-02",
        "year": 2024,
        "week": 1,
        "small": "ababab",
        "power": 1024,
        "items": [0, 1, 2],
    }


def test_config_files_outside_the_dag_folder_are_refused(tmp_path: Path, context: dict[str, Any]) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (tmp_path / "secret.json").write_text('{"token": "s3cr3t"}')
    (dags / "inside.json").write_text('{"ok": 1}')
    (dags / "link.json").symlink_to(tmp_path / "secret.json")
    assert render_config("inside.json", context, [str(dags)]) == {"ok": 1}
    for name in ("../secret.json", str(tmp_path / "secret.json"), "link.json", f"{dags}/../secret.json"):
        with pytest.raises(ConfigValidationError) as info:
            render_config(name, context, [str(dags)])
        field, rule = _problem(info)
        assert field == name
        assert "is outside the DAG folder and template_searchpath" in rule
        assert str(dags) in rule
        assert "s3cr3t" not in str(info.value)
    with pytest.raises(ConfigValidationError, match="outside the DAG folder"):
        render_config(str(tmp_path / "secret.json"), context)  # no DAG folder at all: no file


def test_template_searchpath_directories_are_inside(tmp_path: Path, context: dict[str, Any]) -> None:
    dags, shared = tmp_path / "dags", tmp_path / "shared"
    dags.mkdir()
    shared.mkdir()
    (shared / "job.json").write_text('{"from": "shared"}')
    assert render_config("job.json", context, [str(dags), str(shared)]) == {"from": "shared"}
    assert render_config(str(shared / "job.json"), context, [str(dags), str(shared)]) == {"from": "shared"}

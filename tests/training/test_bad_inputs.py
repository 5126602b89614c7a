"""Bad input fails before any API call, with a message naming the field.

Each case runs ``TFTrainingOperator.execute`` on both backends with clients that record every call
(:mod:`tests.recording`); the list of calls must be empty, and on the local backend nothing may have
been written under the state root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_tf_sm.exceptions import ConfigValidationError, TFSageMakerError
from airflow_tf_sm.training.operator import TFTrainingOperator
from tests.recording import recording_hook

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


class FakeTI:
    dag_id = "bad_inputs"
    task_id = "train"
    run_id = "manual__2025-01-01T00:00:00+00:00"
    map_index = -1

    def xcom_push(self, key: str, value: Any) -> None:  # pragma: no cover - must never be reached
        raise AssertionError("xcom_push reached: validation did not stop the task")


def base_kwargs(code: Path) -> dict[str, Any]:
    return {
        "entry_point": "train.py",
        "source_dir": str(code),
        "role": ROLE,
        "output_path": "s3://bucket/models",
        "instance_type": "ml.m5.large",
        "hyperparameters": {"epochs": 3},
        "inputs": {"train": "s3://bucket/data/train"},
    }


LONG = "x" * 300
GROUP = {"instance_group_name": "workers", "instance_type": "ml.c5.xlarge", "instance_count": 2}
MWMS = {"multi_worker_mirrored_strategy": {"enabled": True}}

# (case id, argument overrides, text the error must contain)
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("missing entry point file", {"entry_point": "nope.py"}, "entry_point"),
    ("entry point escapes source dir", {"entry_point": "../train.py"}, "entry_point"),
    ("source dir missing", {"source_dir": "/does/not/exist"}, "source_dir"),
    ("instance type not ml.*", {"instance_type": "m5.large"}, "instance_type"),
    ("instance count zero", {"instance_count": 0}, "instance_count"),
    ("instance count not a number", {"instance_count": "two"}, "instance_count"),
    ("volume size zero", {"volume_size": 0}, "volume_size"),
    ("max run zero", {"max_run": 0}, "max_run"),
    ("spot without max_wait", {"use_spot_instances": True}, "max_wait"),
    ("spot max_wait below max_run", {"use_spot_instances": True, "max_run": 7200, "max_wait": 3600}, "max_wait"),
    ("max_wait without spot", {"max_wait": 7200}, "max_wait"),
    ("output path not s3", {"output_path": "/tmp/models"}, "output_path"),
    ("output path no bucket", {"output_path": "s3://"}, "output_path"),
    ("input is a local path", {"inputs": {"train": "/data/train"}}, "inputs.train"),
    ("input bucket malformed", {"inputs": {"train": "s3://Bad_Bucket/x"}}, "inputs.train"),
    ("input string not s3", {"inputs": "http://example.com/data"}, "inputs"),
    (
        "channel distribution unknown",
        {"inputs": {"train": {"s3_data": "s3://b/k", "distribution": "Random"}}},
        "inputs",
    ),
    ("channel name dot dot", {"inputs": {"..": "s3://bucket/data"}}, "inputs..."),
    ("channel name dot", {"inputs": {".": "s3://bucket/data"}}, "inputs.."),
    ("channel name with a slash", {"inputs": {"a/b": "s3://bucket/data"}}, "inputs.a/b"),
    ("channel name too long", {"inputs": {"c" * 65: "s3://bucket/data"}}, "inputs." + "c" * 65),
    (
        "model channel name dot dot",
        {"model_uri": "s3://bucket/m.tar.gz", "model_channel_name": ".."},
        "model_channel_name",
    ),
    ("checkpoint uri not s3", {"checkpoint_s3_uri": "file:///tmp/ckpt"}, "checkpoint_s3_uri"),
    ("reserved hyperparameter", {"hyperparameters": {"sagemaker_program": "x.py"}}, "sagemaker_program"),
    ("hyperparameter key too long", {"hyperparameters": {LONG: 1}}, "hyperparameters"),
    ("hyperparameter value too long", {"hyperparameters": {"blob": "y" * 3000}}, "hyperparameters.blob"),
    ("too many hyperparameters", {"hyperparameters": {f"h{i}": i for i in range(100)}}, "hyperparameters"),
    ("unknown distribution key", {"distribution": {"horovod": {"enabled": True}}}, "distribution"),
    (
        "two distribution strategies",
        {"distribution": {"mpi": {"enabled": True}, "parameter_server": {"enabled": True}}, "instance_count": 2},
        "distribution",
    ),
    (
        "mirrored strategy on old TF",
        {"distribution": {"multi_worker_mirrored_strategy": {"enabled": True}}, "framework_version": "2.8"},
        "framework_version",
    ),
    ("unknown framework version", {"framework_version": "1.0.0"}, "framework_version"),
    ("metric definition bad regex", {"metric_definitions": [{"Name": "acc", "Regex": "acc=("}]}, "metric_definitions"),
    ("metric definition no name", {"metric_definitions": [{"Regex": "acc=(.*)"}]}, "metric_definitions"),
    ("environment value not a string", {"environment": {"A": {"nested": 1}}}, "environment"),
    ("tag key too long", {"tags": {"k" * 200: "v"}}, "tags"),
    ("input mode unknown", {"input_mode": "Stream"}, "input_mode"),
    ("job name overridden badly", {"request_overrides": {"TrainingJobName": "bad_name"}}, "TrainingJobName"),
    ("role not an ARN", {"role": "SageMakerRole"}, "RoleArn"),
    ("override wrong type", {"request_overrides": {"ResourceConfig": {"VolumeSizeInGB": "big"}}}, "VolumeSizeInGB"),
    ("override unknown API field", {"request_overrides": {"NoSuchField": 1}}, "NoSuchField"),
    ("unknown config key", {"config": {"entry_pointt": "train.py"}}, "entry_pointt"),
    # heterogeneous clusters (instance_groups) and distribution.instance_groups
    ("groups with instance_type", {"instance_groups": [GROUP], "instance_type": "ml.m5.large"}, "instance_type"),
    ("groups with instance_count", {"instance_groups": [GROUP], "instance_count": 1}, "instance_count"),
    ("no groups", {"instance_groups": []}, "instance_groups"),
    ("six groups", {"instance_groups": [{**GROUP, "instance_group_name": f"g{i}"} for i in range(6)]}, "1 to 5 groups"),
    ("group names repeat", {"instance_groups": [GROUP, GROUP]}, "instance_groups[1].instance_group_name"),
    ("group type not ml.*", {"instance_groups": [{**GROUP, "instance_type": "c5.xlarge"}]}, "[0].instance_type"),
    ("group count zero", {"instance_groups": [{**GROUP, "instance_count": 0}]}, "instance_groups[0].instance_count"),
    ("group unknown key", {"instance_groups": [{**GROUP, "size": 2}]}, "instance_groups[0].size"),
    ("group not a mapping", {"instance_groups": ["workers"]}, "instance_groups[0]"),
    (
        "distribution group unknown",
        {"instance_groups": [GROUP], "distribution": {**MWMS, "instance_groups": ["chief"]}},
        "distribution.instance_groups",
    ),
    (
        "distribution groups without groups",
        {"distribution": {**MWMS, "instance_groups": ["workers"]}},
        "needs instance_groups",
    ),
    (
        "distribution groups without strategy",
        {"instance_groups": [GROUP], "distribution": {"instance_groups": ["workers"]}},
        "needs a distribution strategy",
    ),
    (
        "distribution groups not a list",
        {"instance_groups": [GROUP], "distribution": {**MWMS, "instance_groups": "workers"}},
        "list",
    ),
    # warm pools, image access
    ("keep alive too long", {"keep_alive_period_in_seconds": 99999}, "keep_alive_period_in_seconds"),
    ("keep alive negative", {"keep_alive_period_in_seconds": -1}, "keep_alive_period_in_seconds"),
    ("keep alive not a number", {"keep_alive_period_in_seconds": "long"}, "keep_alive_period_in_seconds"),
    ("repository access unknown", {"training_repository_access_mode": "Private"}, "training_repository_access_mode"),
    ("repository access Vpc without VPC", {"training_repository_access_mode": "Vpc"}, "subnets and security_group_ids"),
    # profiler and debugger
    (
        "profiler interval unknown",
        {"profiler_config": {"system_monitor_interval_millis": 123}},
        "system_monitor_interval_millis",
    ),
    ("profiler unknown key", {"profiler_config": {"interval": 500}}, "profiler_config.interval"),
    ("profiler output not s3", {"profiler_config": {"s3_output_path": "/tmp/p"}}, "profiler_config.s3_output_path"),
    (
        "profiler disabled twice differently",
        {"disable_profiler": True, "profiler_config": {"disable_profiler": False}},
        "profiler_config.disable_profiler",
    ),
    ("disable_profiler not a boolean", {"disable_profiler": "maybe"}, "disable_profiler"),
    ("debugger hook true", {"debugger_hook_config": True}, "debugger_hook_config"),
    (
        "debugger collection without name",
        {"debugger_hook_config": {"collection_configs": [{}]}},
        "collection_configs[0].name",
    ),
    ("debugger hook parameter not text", {"debugger_hook_config": {"hook_parameters": {"n": 1}}}, "hook_parameters"),
    (
        "debugger local path relative",
        {"debugger_hook_config": {"container_local_output_path": "out"}},
        "container_local_output_path",
    ),
    # pre-trained model channel
    ("model uri not s3", {"model_uri": "/models/base.tar.gz"}, "model_uri"),
    ("model channel without model", {"model_channel_name": "model"}, "model_channel_name"),
    (
        "model channel is an input channel",
        {"model_uri": "s3://bucket/m.tar.gz", "model_channel_name": "train"},
        "model_channel_name",
    ),
    (
        "model channel name invalid",
        {"model_uri": "s3://bucket/m.tar.gz", "model_channel_name": "my model"},
        "model_channel_name",
    ),
    (
        "too many channels with the model",
        {"inputs": {f"c{i}": "s3://bucket/x" for i in range(20)}, "model_uri": "s3://bucket/m"},
        "model_uri",
    ),
    # dependencies
    ("dependency missing", {"dependencies": ["/does/not/exist"]}, "dependencies[0]"),
    ("dependency names repeat", {"dependencies": ["{lib}", "{lib}"]}, "dependencies[1]"),
    ("dependency hides a code entry", {"dependencies": ["{clash}"]}, "already at the top of the code archive"),
    (
        "dependency with s3 source dir",
        {"dependencies": ["{lib}"], "source_dir": "s3://bucket/src.tar.gz"},
        "dependencies",
    ),
    ("dependencies not a list", {"dependencies": 5}, "dependencies"),
]


@pytest.mark.parametrize("backend", ["sagemaker", "local"])
@pytest.mark.parametrize(("overrides", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_before_any_api_call(
    overrides: dict[str, Any], needle: str, backend: str, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('train')\n")
    (tmp_path / "train.py").write_text("outside\n")
    (tmp_path / "libs" / "mylib").mkdir(parents=True)
    (tmp_path / "libs" / "train.py").mkdir()  # a directory named like the entry point
    places = {"{lib}": str(tmp_path / "libs" / "mylib"), "{clash}": str(tmp_path / "libs" / "train.py")}
    if "instance_groups" in overrides and "instance_type" not in overrides:
        overrides = {**overrides, "instance_type": None}  # the base arguments name one; groups replace it
    if isinstance(overrides.get("dependencies"), list):
        overrides = {**overrides, "dependencies": [places.get(d, d) for d in overrides["dependencies"]]}
    root = tmp_path / "root"
    hook, calls = recording_hook(backend, root)
    before = sorted(p.relative_to(root) for p in root.rglob("*")) if root.exists() else []
    kwargs = base_kwargs(code)
    kwargs.update(overrides)
    op = TFTrainingOperator(task_id="train", backend=backend, aws_conn_id=None, **kwargs)
    op._hook = hook
    with pytest.raises(ConfigValidationError) as err:
        op.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert needle in str(err.value), str(err.value)
    assert calls == []
    if backend == "local":
        assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('train')\n")
    hook, calls = recording_hook("sagemaker")
    kwargs = base_kwargs(code)
    kwargs.update({"instance_type": "m5.large", "instance_count": 0, "output_path": "/tmp/x"})
    op = TFTrainingOperator(task_id="train", backend="sagemaker", aws_conn_id=None, **kwargs)
    op._hook = hook
    with pytest.raises(ConfigValidationError) as err:
        op.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    fields = {e.field for e in err.value.errors}
    assert {"instance_type", "instance_count", "output_path"} <= fields
    assert calls == []
    assert isinstance(err.value, TFSageMakerError)

"""The SageMaker training-container contract as the local runner applies it (FACTS.md section 3)."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from local_helpers import BUCKET, make_request, read_tar, stage_code, wait_for_status

from airflow_tf_sm.backends.local.container import (
    additional_framework_parameters,
    decode_hyperparameters,
    extract_metrics,
    failure_reason_for_exit,
    framework_tf_config,
    image_tf_version,
    instance_groups,
    resource_config,
    script_hyperparameters,
    to_cmd_args,
    to_env_vars,
)
from airflow_tf_sm.backends.local.engine import Engine
from airflow_tf_sm.backends.local.store import relative_key

DUMP = """
    import json, os, sys
    out = os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "contract.json")
    with open(out, "w") as fh:
        json.dump({"env": dict(os.environ), "argv": sys.argv, "cwd": os.getcwd()}, fh)
"""


@pytest.fixture
def contract(clients: tuple[Any, Any, Any], local_root: Path) -> dict[str, Any]:
    """Run a job whose script dumps its environment and argv; return the dump plus paths."""
    sm, s3, _ = clients
    s3.put_object(Bucket=BUCKET, Key="data/train/part-0.csv", Body=b"1,2\n")
    s3.put_object(Bucket=BUCKET, Key="data/eval/part-0.csv", Body=b"3,4\n")
    code = stage_code(s3, {"train.py": DUMP, "helper.py": "X = 1\n"})
    hyperparameters = {
        "epochs": 3,
        "learning-rate": 0.01,
        "use-bn": True,
        "dropout": False,
        "optimizer": "adam",
        "layers": {"b": "x", "a": 1},
        "x": 5,
        "model_dir": f"s3://{BUCKET}/output/job-contract/model",
    }
    request = make_request(
        "job-contract",
        code,
        hyperparameters=hyperparameters,
        channels={"training": f"s3://{BUCKET}/data/train", "eval": f"s3://{BUCKET}/data/eval/"},
        environment={"MY_SETTING": "on", "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    request["HyperParameters"]["not-json"] = "plain text"
    sm.create_training_job(**request)
    desc = wait_for_status(sm, "job-contract")
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    files = read_tar(s3, f"s3://{BUCKET}/output/job-contract/output/output.tar.gz")
    dump = json.loads(files["contract.json"])
    base = Engine(local_root).opt_ml("job-contract")
    return {"env": dump["env"], "argv": dump["argv"], "cwd": dump["cwd"], "base": base, "code": code}


def test_argv_follows_the_toolkit_rules(contract: dict[str, Any]) -> None:
    assert contract["argv"] == [
        "train.py",
        "--dropout",
        "False",
        "--epochs",
        "3",
        "--layers",
        "a=1,b=x",
        "--learning-rate",
        "0.01",
        "--model_dir",
        f"s3://{BUCKET}/output/job-contract/model",
        "--not-json",
        "plain text",
        "--optimizer",
        "adam",
        "--use-bn",
        "True",
        "-x",
        "5",
    ]
    assert contract["cwd"] == str(contract["base"] / "code")
    assert (contract["base"] / "code" / "helper.py").read_text() == "X = 1\n"


def test_sm_variables_have_the_toolkit_values(contract: dict[str, Any]) -> None:
    env, base = contract["env"], contract["base"]
    expected_paths = {
        "SM_MODEL_DIR": base / "model",
        "SM_INPUT_DIR": base / "input",
        "SM_INPUT_CONFIG_DIR": base / "input" / "config",
        "SM_OUTPUT_DIR": base / "output",
        "SM_OUTPUT_DATA_DIR": base / "output" / "data",
        "SM_OUTPUT_INTERMEDIATE_DIR": base / "output" / "intermediate",
        "SM_CHANNEL_TRAINING": base / "input" / "data" / "training",
        "SM_CHANNEL_EVAL": base / "input" / "data" / "eval",
        "SAGEMAKER_BASE_DIR": base,
    }
    for var, path in expected_paths.items():
        assert env[var] == str(path), var
    assert env["SM_CHANNELS"] == '["eval","training"]'
    assert env["SM_HP_LEARNING-RATE"] == "0.01"
    assert env["SM_HP_USE-BN"] == "true"
    assert env["SM_HP_DROPOUT"] == "false"
    assert env["SM_HP_EPOCHS"] == "3"
    assert env["SM_HP_OPTIMIZER"] == "adam"
    assert env["SM_HP_LAYERS"] == '{"a":1,"b":"x"}'
    assert env["SM_HP_NOT-JSON"] == "plain text"
    assert env["SM_HP_MODEL_DIR"] == f"s3://{BUCKET}/output/job-contract/model"
    assert not any(k.startswith("SM_HP_SAGEMAKER_") for k in env)
    assert json.loads(env["SM_HPS"]) == {
        "epochs": 3,
        "learning-rate": 0.01,
        "use-bn": True,
        "dropout": False,
        "optimizer": "adam",
        "layers": {"a": 1, "b": "x"},
        "x": 5,
        "model_dir": f"s3://{BUCKET}/output/job-contract/model",
        "not-json": "plain text",
    }
    assert json.loads(env["SM_USER_ARGS"]) == contract["argv"][1:]
    assert env["SM_HOSTS"] == '["algo-1"]'
    assert env["SM_CURRENT_HOST"] == env["CURRENT_HOST"] == "algo-1"
    assert env["SM_NUM_GPUS"] == "0"
    assert env["SM_NUM_CPUS"] == str(os.cpu_count())
    assert env["SM_LOG_LEVEL"] == "20"
    assert env["SM_USER_ENTRY_POINT"] == "train.py"
    assert env["SM_MODULE_NAME"] == "train"
    assert env["SM_MODULE_DIR"] == contract["code"]
    assert env["SM_FRAMEWORK_MODULE"] == "sagemaker_tensorflow_container.training:main"
    assert env["SM_NETWORK_INTERFACE_NAME"] == "eth0"
    assert env["SM_CURRENT_INSTANCE_TYPE"] == "ml.m5.large"
    # toolkit 5.x (proven by test_toolkit_oracle): only sagemaker_* keys outside its own SAGEMAKER_HYPERPARAMETERS,
    # none in a plain job; the program, code and log level are SM_USER_ENTRY_POINT, SM_MODULE_DIR, SM_LOG_LEVEL
    assert json.loads(env["SM_FRAMEWORK_PARAMS"]) == {}
    resource = json.loads(env["SM_RESOURCE_CONFIG"])
    assert resource["current_host"] == "algo-1" and resource["hosts"] == ["algo-1"]
    assert json.loads(env["SM_INPUT_DATA_CONFIG"])["training"]["TrainingInputMode"] == "File"
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["job_name"] == "job-contract"
    assert training_env["hyperparameters"]["use-bn"] is True
    assert training_env["channel_input_dirs"]["eval"] == str(base / "input" / "data" / "eval")
    assert training_env["module_name"] == "train"
    assert env["TRAINING_JOB_NAME"] == env["SAGEMAKER_JOB_NAME"] == "job-contract"
    assert env["SAGEMAKER_REGION"] == "us-east-1"
    assert "SM_INPUT_DATA_DIR" not in env
    # the request's Environment, unbuffered output and the parent's PATH
    assert env["MY_SETTING"] == "on"
    # the TF image's start-up (s3_utils.configure) sets TF_CPP_MIN_LOG_LEVEL=1 over the request's "2" (the oracle)
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"] == os.environ["PATH"]
    assert "AIRFLOW_HOME" not in env  # the host's Airflow settings do not leak into the "container"


def test_config_files_and_layout(contract: dict[str, Any]) -> None:
    base = contract["base"]
    config = base / "input" / "config"
    hps = json.loads((config / "hyperparameters.json").read_text())
    assert hps["use-bn"] == "true" and hps["sagemaker_program"] == '"train.py"'
    assert all(isinstance(v, str) for v in hps.values())
    resource = json.loads((config / "resourceconfig.json").read_text())
    assert resource["current_host"] == "algo-1"
    assert resource["hosts"] == ["algo-1"]
    assert resource["network_interface_name"] == "eth0"
    assert resource["current_instance_type"] == "ml.m5.large"
    channels = json.loads((config / "inputdataconfig.json").read_text())
    assert set(channels) == {"training", "eval"}
    assert channels["eval"]["TrainingInputMode"] == "File"
    assert channels["eval"]["S3DistributionType"] == "FullyReplicated"
    for sub in ("model", "output/data", "output/intermediate", "code", "input/data/training"):
        assert (base / sub).is_dir(), sub
    assert (base / "input" / "data" / "training" / "part-0.csv").read_bytes() == b"1,2\n"
    assert (base / "output" / "success").is_file() and (base / "output" / "success").stat().st_size == 0


# -- pure helpers -------------------------------------------------------------------------------


def test_decode_hyperparameters_splits_framework_and_keeps_raw_text() -> None:
    user, framework = decode_hyperparameters(
        {"a": "1", "b": '"x"', "c": "not json", "sagemaker_program": '"t.py"', "model_dir": '"/opt/ml/model"'}
    )
    assert user == {"a": 1, "b": "x", "c": "not json", "model_dir": "/opt/ml/model"}
    assert framework == {"sagemaker_program": "t.py"}


def test_to_cmd_args_and_env_vars() -> None:
    assert to_cmd_args({"b": True, "aa": {"z": 1, "y": "q"}, "c": None}) == [
        "--aa",
        "y=q,z=1",
        "-b",
        "True",
        "-c",
        "",
    ]
    assert to_env_vars({"hp_learning-rate": 0.1, "name": "raw", "d": {"b": 1, "a": [1, 2]}}) == {
        "SM_HP_LEARNING-RATE": "0.1",
        "SM_NAME": "raw",
        "SM_D": '{"a":[1,2],"b":1}',
    }


def test_relative_key_matches_file_mode_placement() -> None:
    assert relative_key("data/train/a.csv", "data/train") == "a.csv"
    assert relative_key("data/train/a.csv", "data/train/") == "a.csv"
    assert relative_key("data/train/a.csv", "data/train/a.csv") == "a.csv"
    assert relative_key("data/train-2/a.csv", "data/train") == "train-2/a.csv"
    assert relative_key("x.csv", "") == "x.csv"


def test_extract_metrics_last_match_group_or_whole() -> None:
    events = [
        {"timestamp": 1000, "message": "loss=0.5 acc=0.1"},
        {"timestamp": 2000, "message": "loss=0.4"},
        {"timestamp": 3000, "message": "loss=nan?"},
        {"timestamp": 4000, "message": "12.5"},
    ]
    definitions = [
        {"Name": "loss", "Regex": r"loss=([0-9.]+)"},
        {"Name": "acc", "Regex": r"acc=([0-9.]+)"},
        {"Name": "bare", "Regex": r"^[0-9.]+$"},
        {"Name": "broken", "Regex": r"("},
    ]
    assert extract_metrics(definitions, events) == [
        {"MetricName": "loss", "Value": 0.4, "Timestamp": 2.0},
        {"MetricName": "acc", "Value": 0.1, "Timestamp": 1.0},
        {"MetricName": "bare", "Value": 12.5, "Timestamp": 4.0},
    ]


def test_failure_reasons_from_exit_codes() -> None:
    reason = failure_reason_for_exit(2, ["python", "train.py"], ["Traceback", 'ValueError: "x"'])
    assert reason.startswith('AlgorithmError: ExecuteUserScriptError: ValueError: "x"\nExitCode 2\n')
    assert reason.endswith('Command "python train.py", exit code: 2')
    assert "ValueError: 'x'" in reason
    assert failure_reason_for_exit(-signal.SIGTERM, ["python"], []).endswith("exit code: 143")
    for code in (137, -9):
        assert failure_reason_for_exit(code, ["python"], []).startswith("OutOfMemoryError")


def test_image_tf_version() -> None:
    assert (
        image_tf_version("763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.19.0-cpu-py312") == "2.19"
    )
    assert image_tf_version("localhost:5000/custom") is None
    assert image_tf_version("repo/img:latest") is None


def test_runner_does_not_import_airflow_boto3_or_tensorflow(tmp_path: Path) -> None:
    import subprocess

    code = (
        "import sys\n"
        "import airflow_tf_sm.backends.local.runner\n"
        "bad = [m for m in ('airflow', 'boto3', 'botocore', 'tensorflow') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    repo = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert out.stdout.strip() == ""


def test_failure_reason_puts_the_exception_first_and_leaves_start_up_noise_out() -> None:
    noise = ["WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"] + [
        f"I0000 00:00:1796.1 19818 port.cc:153] oneDNN custom operations are on ({i})" for i in range(30)
    ]
    traceback = [
        "Traceback (most recent call last):",
        '  File "train.py", line 9, in <module>',
        "    raise ValueError('epochs must be at least 1')",
        "ValueError: epochs must be at least 1",
    ]
    reason = failure_reason_for_exit(1, ["python", "train.py"], [*noise, *traceback])
    assert reason.splitlines()[0] == "AlgorithmError: ExecuteUserScriptError: ValueError: epochs must be at least 1"
    assert reason.splitlines()[1] == "ExitCode 1"
    assert "oneDNN" not in reason
    assert "line 9, in <module>" in reason  # the traceback, double quotes made single as the toolkit does
    # no traceback (a shell-style error): the last line says what went wrong
    headline = failure_reason_for_exit(3, ["python"], ["", "fatal: no data", ""]).splitlines()[0]
    assert headline == "AlgorithmError: ExecuteUserScriptError: fatal: no data"


def test_instance_groups_number_hosts_across_groups() -> None:
    assert instance_groups({"InstanceType": "ml.m5.large", "InstanceCount": 2}) == [
        {"instance_group_name": "homogeneousCluster", "instance_type": "ml.m5.large", "hosts": ["algo-1", "algo-2"]}
    ]
    groups = instance_groups(
        {
            "InstanceGroups": [
                {"InstanceGroupName": "chief", "InstanceType": "ml.m5.large", "InstanceCount": 1},
                {"InstanceGroupName": "workers", "InstanceType": "ml.c5.xlarge", "InstanceCount": 2},
            ]
        }
    )
    assert groups == [
        {"instance_group_name": "chief", "instance_type": "ml.m5.large", "hosts": ["algo-1"]},
        {"instance_group_name": "workers", "instance_type": "ml.c5.xlarge", "hosts": ["algo-2", "algo-3"]},
    ]
    resources = resource_config("algo-3", ["algo-1", "algo-2", "algo-3"], "ignored", groups)
    assert resources["current_group_name"] == "workers"
    assert resources["current_instance_type"] == "ml.c5.xlarge"
    assert resources["instance_groups"] == groups


def test_framework_hyperparameters_follow_the_toolkit_tuple() -> None:
    user, framework = decode_hyperparameters(
        {"_tuning_objective_metric": '"loss"', "default_user_module_name": '"m"', "sagemaker_x": "1", "lr": "0.1"}
    )
    assert user == {"lr": 0.1}
    assert framework == {"_tuning_objective_metric": "loss", "default_user_module_name": "m", "sagemaker_x": 1}
    assert additional_framework_parameters(framework) == {"sagemaker_x": 1}
    tuned = {"_tuning_objective_metric": '"loss"', "model_dir": '"s3://b/m"'}
    assert script_hyperparameters(tuned, "job-1") == {"model_dir": "s3://b/m/job-1/model"}
    local = {"_tuning_objective_metric": '"loss"', "model_dir": '"/opt/ml/model"'}
    assert script_hyperparameters(local, "job-1") == {"model_dir": "/opt/ml/model"}
    assert script_hyperparameters({"model_dir": '"s3://b/m"'}, "job-1") == {"model_dir": "s3://b/m"}


def test_tf_config_of_the_framework_module() -> None:
    hosts = ["algo-1", "algo-2"]
    ps = {"sagemaker_parameter_server_enabled": "true"}
    config = json.loads(framework_tf_config(ps, resource_config("algo-2", hosts, "ml.m5.large")) or "null")
    assert config == {
        "cluster": {"master": ["algo-1:2222"], "ps": ["algo-1:2223", "algo-2:2223"], "worker": ["algo-2:2222"]},
        "environment": "cloud",
        "task": {"index": 0, "type": "worker"},
    }
    assert framework_tf_config(ps, resource_config("algo-1", ["algo-1"], "ml.m5.large")) is None
    assert (
        framework_tf_config({"sagemaker_parameter_server_enabled": "false"}, resource_config("algo-1", hosts, ""))
        is None
    )
    mwms = {"sagemaker_multi_worker_mirrored_strategy_enabled": "true"}
    config = json.loads(framework_tf_config(mwms, resource_config("algo-1", ["algo-1"], "ml.m5.large")) or "null")
    assert config == {
        "cluster": {"worker": ["algo-1:8890"]},
        "environment": "cloud",
        "task": {"index": 0, "type": "worker"},
    }
    groups = instance_groups(
        {
            "InstanceGroups": [
                {"InstanceGroupName": "chief", "InstanceType": "ml.m5.large", "InstanceCount": 1},
                {"InstanceGroupName": "workers", "InstanceType": "ml.c5.xlarge", "InstanceCount": 2},
            ]
        }
    )
    hetero = {**mwms, "sagemaker_distribution_instance_groups": '["workers"]'}
    all_hosts = ["algo-1", "algo-2", "algo-3"]
    assert framework_tf_config(hetero, resource_config("algo-1", all_hosts, "", groups)) is None
    config = json.loads(framework_tf_config(hetero, resource_config("algo-3", all_hosts, "", groups)) or "null")
    assert config["cluster"] == {"worker": ["algo-2:8890", "algo-3:8890"]} and config["task"]["index"] == 1

"""airflow_tf_sm.runtime: the typed view of the SageMaker environment for training scripts."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_tf_sm.runtime import TrainingEnvironment, parse_bool, str2bool

REPO = Path(__file__).resolve().parents[1]


def sm_env(base: str = "/opt/ml") -> dict[str, str]:
    return {
        "SM_MODEL_DIR": f"{base}/model",
        "SM_OUTPUT_DATA_DIR": f"{base}/output/data",
        "SM_OUTPUT_DIR": f"{base}/output",
        "SM_INPUT_DIR": f"{base}/input",
        "SM_INPUT_CONFIG_DIR": f"{base}/input/config",
        "SM_OUTPUT_INTERMEDIATE_DIR": f"{base}/output/intermediate",
        "SM_CHANNELS": '["eval","train"]',
        "SM_CHANNEL_TRAIN": f"{base}/input/data/train",
        "SM_CHANNEL_EVAL": f"{base}/input/data/eval",
        "SM_HPS": json.dumps({"epochs": 3, "learning-rate": 0.01, "use-bn": "False", "shuffle": True}),
        "SM_HOSTS": '["algo-1","algo-2"]',
        "SM_CURRENT_HOST": "algo-2",
        "SM_NUM_GPUS": "1",
        "SM_NUM_CPUS": "8",
        "TRAINING_JOB_NAME": "nightly-2024-01-01",
        "SAGEMAKER_REGION": "eu-west-1",
    }


def test_from_env_reads_every_field() -> None:
    env = TrainingEnvironment.from_env(sm_env())
    assert env.model_dir == "/opt/ml/model"
    assert env.output_data_dir == "/opt/ml/output/data"
    assert env.output_dir == "/opt/ml/output"
    assert env.input_dir == "/opt/ml/input"
    assert env.input_config_dir == "/opt/ml/input/config"
    assert env.output_intermediate_dir == "/opt/ml/output/intermediate"
    assert dict(env.channels) == {"train": "/opt/ml/input/data/train", "eval": "/opt/ml/input/data/eval"}
    assert env.channel("eval") == "/opt/ml/input/data/eval"
    assert env.hosts == ("algo-1", "algo-2")
    assert env.current_host == "algo-2" and env.is_master is False
    assert (env.num_gpus, env.num_cpus) == (1, 8)
    assert env.job_name == "nightly-2024-01-01" and env.region == "eu-west-1"
    assert env.hyperparameters["learning-rate"] == 0.01


def test_hyperparameter_conversion_and_defaults() -> None:
    env = TrainingEnvironment.from_env(sm_env())
    assert env.hyperparameter("epochs", type=int) == 3
    assert env.hyperparameter("learning-rate", type=float) == 0.01
    assert env.hyperparameter("use-bn", type=bool) is False  # bool("False") would be True
    assert env.hyperparameter("shuffle", type=bool) is True
    assert env.hyperparameter("batch-size", 32, type=int) == 32
    with pytest.raises(KeyError, match="batch-size"):
        env.hyperparameter("batch-size")
    with pytest.raises(ValueError):
        env.hyperparameter("learning-rate", type=bool)
    with pytest.raises(KeyError, match="channels: eval, train"):
        env.channel("test")


def test_from_env_falls_back_to_base_dir_and_hyperparameters_file(tmp_path: Path) -> None:
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(
        json.dumps({"epochs": "5", "name": '"resnet"', "raw": "text", "sagemaker_program": '"train.py"'})
    )
    env = TrainingEnvironment.from_env({"SAGEMAKER_BASE_DIR": str(tmp_path), "SM_CHANNELS": '["train"]'})
    assert env.model_dir == str(tmp_path / "model")
    assert env.channel("train") == str(tmp_path / "input" / "data" / "train")
    assert dict(env.hyperparameters) == {"epochs": 5, "name": "resnet", "raw": "text"}
    assert env.hosts == ("algo-1",) and env.current_host == "algo-1" and env.is_master


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("True", True),
        ("true", True),
        ("1", True),
        ("yes", True),
        (" TRUE ", True),
        (True, True),
        (1, True),
        ("False", False),
        ("false", False),
        ("0", False),
        ("no", False),
        (False, False),
        (0, False),
    ],
)
def test_parse_bool(text: object, expected: bool) -> None:
    assert parse_bool(text) is expected


@pytest.mark.parametrize("junk", ["maybe", "", "2", 2, None, 0.5, "Truee"])
def test_parse_bool_rejects_junk(junk: object) -> None:
    with pytest.raises(ValueError):
        parse_bool(junk)


def test_str2bool_with_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--use-bn", type=str2bool, default=True)
    assert parser.parse_args(["--use-bn", "False"]).use_bn is False
    assert parser.parse_args(["--use-bn", "True"]).use_bn is True
    with pytest.raises(SystemExit):
        parser.parse_args(["--use-bn", "perhaps"])
    assert "not a boolean" in capsys.readouterr().err


def test_runtime_imports_only_the_standard_library() -> None:
    code = (
        "import sys\nimport airflow_tf_sm.runtime\n"
        "print(','.join(m for m in ('airflow', 'boto3', 'botocore', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == ""

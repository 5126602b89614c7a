"""TuningJobSpec.to_request: the CreateHyperParameterTuningJob request SDK v2 sends for the same estimator and tuner.

The expected requests are written out literally from FACTS.md section 7 and the SDK v2 behaviour it
describes (``HyperparameterTuner`` + the ``tuning_config()`` shape): static hyperparameters JSON-encoded
without the tuned ones plus ``sagemaker_estimator_class_name``/``sagemaker_estimator_module`` (the SDK adds
them for framework estimators), ranges grouped Continuous/Categorical/Integer with every list present,
Min/Max as strings, ScalingType always present, categorical values JSON-encoded once more, Grid without
MaxNumberOfTrainingJobs. One deliberate difference: the estimator's metric definitions stay in
``TrainingJobDefinition.AlgorithmSpecification``.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from airflow_tf_sm import CategoricalParameter, ContinuousParameter, IntegerParameter, TuningJobSpec
from airflow_tf_sm.exceptions import ConfigValidationError

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
CODE = "s3://bucket/models/code/abc/sourcedir.tar.gz"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.19.0-cpu-py312"
METRICS = [{"Name": "val_accuracy", "Regex": "val_accuracy=([0-9.]+)"}]


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "train.py").write_text("print('train')\n")
    return folder


def estimator(code: Path, **extra: Any) -> dict[str, Any]:
    return {
        "entry_point": "train.py",
        "source_dir": str(code),
        "role": ROLE,
        "output_path": "s3://bucket/models",
        "instance_type": "ml.m5.large",
        "inputs": {"train": "s3://bucket/data/train"},
        "metric_definitions": METRICS,
        "objective_metric_name": "val_accuracy",
        **extra,
    }


def static(job: str, **user: str) -> dict[str, str]:
    return {
        **user,
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": f'"{CODE}"',
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": f'"{job}"',
        "sagemaker_region": '"us-east-1"',
        "model_dir": f'"s3://bucket/models/{job}/model"',
        "sagemaker_estimator_class_name": '"TensorFlow"',
        "sagemaker_estimator_module": '"sagemaker.tensorflow.estimator"',
    }


def definition(job: str, **user: str) -> dict[str, Any]:
    return {
        "StaticHyperParameters": static(job, **user),
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File", "MetricDefinitions": METRICS},
        "RoleArn": ROLE,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": "s3://bucket/data/train",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
    }


def test_bayesian_request(code: Path) -> None:
    spec = TuningJobSpec.from_mapping(
        estimator(
            code,
            hyperparameters={"epochs": 10, "optimizer": "adam"},
            hyperparameter_ranges={
                "learning-rate": ContinuousParameter(0.0001, 0.1, "Logarithmic"),
                "hidden-units": IntegerParameter(16, 256),
                "activation": CategoricalParameter(["relu", "tanh"]),
                "batch-size": CategoricalParameter([32, 64]),
            },
            strategy="Bayesian",
            max_jobs=6,
            max_parallel_jobs=2,
            early_stopping_type="Auto",
            tags={"team": "ml"},
        )
    )
    assert spec.to_request("tune-1", CODE, "us-east-1") == {
        "HyperParameterTuningJobName": "tune-1",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2},
            "TrainingJobEarlyStoppingType": "Auto",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "val_accuracy"},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "learning-rate", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"}
                ],
                "CategoricalParameterRanges": [
                    {"Name": "activation", "Values": ['"relu"', '"tanh"']},
                    {"Name": "batch-size", "Values": ['"32"', '"64"']},
                ],
                "IntegerParameterRanges": [
                    {"Name": "hidden-units", "MinValue": "16", "MaxValue": "256", "ScalingType": "Auto"}
                ],
            },
        },
        "TrainingJobDefinition": definition("tune-1", epochs="10", optimizer='"adam"'),
        "Tags": [{"Key": "team", "Value": "ml"}],
    }


def test_random_request_with_seed_runtime_and_completion_criteria(code: Path) -> None:
    spec = TuningJobSpec.from_mapping(
        estimator(
            code,
            hyperparameters={"epochs": 5},
            hyperparameter_ranges={
                "dropout": {"type": "continuous", "min_value": 0.1, "max_value": 0.5, "scaling_type": "Linear"},
                "momentum": {
                    "type": "continuous",
                    "min_value": "0.5",
                    "max_value": "0.99",
                    "scaling_type": "ReverseLogarithmic",
                },
            },
            objective_type="Minimize",
            strategy="Random",
            max_jobs="20",
            max_parallel_jobs="4",
            max_runtime_in_seconds=3600,
            random_seed=42,
            completion_criteria={"target_objective_metric_value": 0.05, "max_number_of_training_jobs_not_improving": 5},
        )
    )
    assert spec.to_request("tune-2", CODE, "us-east-1") == {
        "HyperParameterTuningJobName": "tune-2",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": 20,
                "MaxParallelTrainingJobs": 4,
                "MaxRuntimeInSeconds": 3600,
            },
            "TrainingJobEarlyStoppingType": "Off",
            "RandomSeed": 42,
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "val_accuracy"},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "dropout", "MinValue": "0.1", "MaxValue": "0.5", "ScalingType": "Linear"},
                    {"Name": "momentum", "MinValue": "0.5", "MaxValue": "0.99", "ScalingType": "ReverseLogarithmic"},
                ],
                "CategoricalParameterRanges": [],
                "IntegerParameterRanges": [],
            },
            "TuningJobCompletionCriteria": {
                "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 5},
                "TargetObjectiveMetricValue": 0.05,
            },
        },
        "TrainingJobDefinition": definition("tune-2", epochs="5"),
    }


def test_grid_request_has_no_max_number_of_jobs(code: Path) -> None:
    spec = TuningJobSpec.from_mapping(
        estimator(
            code,
            hyperparameter_ranges={
                "optimizer": {"type": "categorical", "values": ["adam", "sgd", "rmsprop"]},
                "shuffle": {"type": "categorical", "values": [True, False]},
            },
            strategy="Grid",
            max_parallel_jobs=3,
        )
    )
    request = spec.to_request("tune-3", CODE, "us-east-1")
    assert request["HyperParameterTuningJobConfig"] == {
        "Strategy": "Grid",
        "ResourceLimits": {"MaxParallelTrainingJobs": 3},
        "TrainingJobEarlyStoppingType": "Off",
        "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "val_accuracy"},
        "ParameterRanges": {
            "ContinuousParameterRanges": [],
            "CategoricalParameterRanges": [
                {"Name": "optimizer", "Values": ['"adam"', '"sgd"', '"rmsprop"']},
                {"Name": "shuffle", "Values": ['"True"', '"False"']},
            ],
            "IntegerParameterRanges": [],
        },
    }
    assert request["TrainingJobDefinition"] == definition("tune-3")


def test_hyperband_warm_start_and_default_max_jobs(code: Path) -> None:
    spec = TuningJobSpec.from_mapping(
        estimator(
            code,
            hyperparameters={"epochs": 30},
            hyperparameter_ranges={"units": {"type": "integer", "min_value": 8, "max_value": 64}},
            strategy="Hyperband",
            hyperband={"min_resource": 2},
            warm_start_config={"warm_start_type": "TransferLearning", "parents": ["tune-1", "tune-2"]},
        )
    )
    request = spec.to_request("tune-4", CODE, "us-east-1")
    config = request["HyperParameterTuningJobConfig"]
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 1, "MaxParallelTrainingJobs": 1}  # SDK defaults
    assert config["StrategyConfig"] == {"HyperbandStrategyConfig": {"MinResource": 2}}  # MaxResource from epochs
    assert request["WarmStartConfig"] == {
        "WarmStartType": "TransferLearning",
        "ParentHyperParameterTuningJobs": [
            {"HyperParameterTuningJobName": "tune-1"},
            {"HyperParameterTuningJobName": "tune-2"},
        ],
    }
    assert spec.max_resource() == 30


def test_range_objects_and_mappings_give_the_same_request(code: Path) -> None:
    objects = TuningJobSpec.from_mapping(
        estimator(
            code, hyperparameter_ranges={"lr": ContinuousParameter(0.01, 0.2), "act": CategoricalParameter("relu")}
        )
    )
    mappings = TuningJobSpec.from_mapping(
        estimator(
            code,
            hyperparameter_ranges={
                "lr": {"type": "continuous", "min_value": 0.01, "max_value": 0.2},
                "act": '{"type": "categorical", "values": ["relu"]}',
            },
        )
    )
    expected_ranges = {
        "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.01", "MaxValue": "0.2", "ScalingType": "Auto"}],
        "CategoricalParameterRanges": [{"Name": "act", "Values": ['"relu"']}],
        "IntegerParameterRanges": [],
    }
    assert objects.tuning_config()["ParameterRanges"] == expected_ranges
    assert mappings.tuning_config()["ParameterRanges"] == expected_ranges


def test_request_overrides_reach_the_tuning_request(code: Path) -> None:
    spec = TuningJobSpec.from_mapping(
        estimator(
            code,
            hyperparameter_ranges={"lr": ContinuousParameter(0.01, 0.2)},
            request_overrides={"TrainingJobDefinition": {"StoppingCondition": {"MaxRuntimeInSeconds": 600}}},
        )
    )
    request = spec.to_request("tune-5", CODE, "us-east-1")
    assert request["TrainingJobDefinition"]["StoppingCondition"] == {"MaxRuntimeInSeconds": 600}


def test_operator_arguments_are_the_spec_fields() -> None:
    from airflow_tf_sm import TFTuningOperator

    params = inspect.signature(TFTuningOperator.__init__).parameters
    fields = list(TuningJobSpec.field_names())
    assert sorted(TFTuningOperator.SPEC_FIELDS) == sorted(fields)
    assert all(params[name].kind is inspect.Parameter.KEYWORD_ONLY and params[name].default is None for name in fields)
    assert set(fields) <= set(TFTuningOperator.template_fields)
    doc = inspect.cleandoc(TFTuningOperator.__doc__ or "")  # Python 3.13 dedents docstrings itself
    assert [name for name in fields if f"\n    {name}: " not in doc] == []


def test_every_problem_is_reported_together(code: Path) -> None:
    with pytest.raises(ConfigValidationError) as err:
        TuningJobSpec.from_mapping(
            estimator(
                code,
                instance_count=0,
                objective_metric_name="loss",
                hyperparameter_ranges={
                    "lr": {"type": "continuous", "min_value": 0, "max_value": 1, "scaling_type": "Logarithmic"}
                },
                max_parallel_jobs=0,
            )
        )
    fields = {e.field for e in err.value.errors}
    assert {
        "instance_count",
        "objective_metric_name",
        "hyperparameter_ranges.lr.min_value",
        "max_parallel_jobs",
    } <= fields

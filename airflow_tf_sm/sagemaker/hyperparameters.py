"""Hyperparameters as SageMaker and its TensorFlow container read them: JSON-string values, framework names.

Every value sent is a JSON string (``5`` -> ``"5"``, ``"adam"`` -> ``'"adam"'``); the training toolkit
``json.loads`` each one back (keeping the raw text when it is not JSON). Keys starting ``sagemaker_`` are
framework parameters; the toolkit's own ones (:data:`TOOLKIT_HYPERPARAMETERS`) are not passed to the script.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Hyperparameters the TensorFlow script mode adds (the SDK's names).
HP_PROGRAM = "sagemaker_program"
HP_SUBMIT_DIRECTORY = "sagemaker_submit_directory"
HP_LOG_LEVEL = "sagemaker_container_log_level"
HP_JOB_NAME = "sagemaker_job_name"
HP_REGION = "sagemaker_region"
HP_MODEL_DIR = "model_dir"
HP_PARAMETER_SERVER = "sagemaker_parameter_server_enabled"
HP_MWMS = "sagemaker_multi_worker_mirrored_strategy_enabled"
HP_MPI = "sagemaker_mpi_enabled"
HP_MPI_PROCESSES = "sagemaker_mpi_num_of_processes_per_host"
HP_MPI_OPTIONS = "sagemaker_mpi_custom_mpi_options"
#: The instance groups a distribution strategy runs on (heterogeneous clusters; a JSON list of group names).
HP_DISTRIBUTION_INSTANCE_GROUPS = "sagemaker_distribution_instance_groups"
#: Hyperparameter the tuning service adds to each training job it launches.
HP_TUNING_OBJECTIVE = "_tuning_objective_metric"
RESERVED_PREFIX = "sagemaker_"
#: Static hyperparameters the SDK's HyperparameterTuner adds for a framework estimator (so that
#: ``HyperparameterTuner.attach()`` knows the estimator class), and their values for TensorFlow.
HP_ESTIMATOR_CLASS = "sagemaker_estimator_class_name"
HP_ESTIMATOR_MODULE = "sagemaker_estimator_module"
TF_ESTIMATOR_CLASS = "TensorFlow"
TF_ESTIMATOR_MODULE = "sagemaker.tensorflow.estimator"
#: Static hyperparameters Hyperband reads its MaxResource from when none is given (in this order).
EPOCH_HYPERPARAMETERS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")
#: model_dir when MPI is on: the container's own model directory.
MPI_MODEL_DIR = "/opt/ml/model"
#: The training toolkit's own hyperparameters (its SAGEMAKER_HYPERPARAMETERS): never user ones, never
#: framework parameters of the script.
TOOLKIT_HYPERPARAMETERS = (
    "sagemaker_program",
    "sagemaker_submit_directory",
    "sagemaker_enable_cloudwatch_metrics",
    "sagemaker_region",
    "sagemaker_container_log_level",
    "sagemaker_job_name",
    "default_user_module_name",
    "_tuning_objective_metric",
    "sagemaker_s3_output",
)
#: Framework hyperparameters any of which, when truthy, puts a host's own instance group under distribution
#: (the toolkit's ``get_distribution_instance_groups_from_resource_config``) unless
#: :data:`HP_DISTRIBUTION_INSTANCE_GROUPS` names the groups.
TOOLKIT_DISTRIBUTION_FLAGS = (
    "sagemaker_mpi_enabled",
    "sagemaker_parameter_server_enabled",
    "sagemaker_distributed_dataparallel_enabled",
    "sagemaker_pytorch_ddp_enabled",
    "sagemaker_pytorch_xla_multi_worker_enabled",
    "sagemaker_multi_worker_mirrored_strategy_enabled",
    "sagemaker_torch_distributed_enabled",
)


def json_encode_hyperparameters(hyperparameters: Mapping[str, Any]) -> dict[str, str]:
    """Return the hyperparameters as SageMaker wants them: every value a JSON string.

    ``5`` -> ``"5"``, ``"adam"`` -> ``'"adam"'``, ``True`` -> ``"true"``, exactly as the SDK does.

    Args:
        hyperparameters: Names to plain JSON-serializable values.
    """
    return {str(key): json.dumps(value) for key, value in hyperparameters.items()}


def decode_value(text: Any) -> Any:
    """Return a hyperparameter value as the toolkit reads it: ``json.loads``, else the raw text."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text

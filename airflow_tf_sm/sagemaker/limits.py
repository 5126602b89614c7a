"""Numeric limits of the SageMaker API that the package checks before any call."""

from __future__ import annotations

import re

#: Hyperparameters per training job (user and framework ones together).
MAX_HYPERPARAMETERS = 100
#: Characters of a hyperparameter name.
MAX_HYPERPARAMETER_KEY_LEN = 256
#: Characters of a (JSON-encoded) hyperparameter value.
MAX_HYPERPARAMETER_VALUE_LEN = 2500
#: Tags per resource, key and value lengths.
MAX_TAGS = 50
MAX_TAG_KEY_LEN = 128
MAX_TAG_VALUE_LEN = 256
#: Input channels of a training job, and the channel name rule: SageMaker's ``[A-Za-z0-9\.\-_]+`` of 1-64
#: characters; ``.`` and ``..`` are refused too, since a channel is the container's directory
#: ``input/data/<name>`` and those two name no directory of its own.
MAX_CHANNELS = 20
CHANNEL_NAME_PATTERN = r"^[A-Za-z0-9.\-_]{1,64}$"
CHANNEL_NAME_RULE = "channel names are 1-64 letters, digits, '.', '-' or '_', and not '.' or '..'"
_CHANNEL_NAME = re.compile(CHANNEL_NAME_PATTERN)
#: SageMaker-side retries of a training job.
MAX_RETRY_ATTEMPTS = 30
#: Default MaxRuntimeInSeconds.
DEFAULT_MAX_RUNTIME = 86400

#: Metric definitions of one algorithm specification.
MAX_METRIC_DEFINITIONS = 40

#: Instances of one training job (``ResourceConfig.InstanceCount``, and all ``InstanceGroups`` together). The
#: service model sets no maximum (only ``min: 0``); the real bound is the account's service quota, which AWS
#: raises on request. This is the package's sanity bound: it catches a typo (``10**6``) before any call.
MAX_INSTANCE_COUNT = 10_000

#: ``Environment`` of a training job (botocore ``TrainingEnvironmentMap``/``Key``/``Value``): at most 100
#: entries, names ``[a-zA-Z_][a-zA-Z0-9_]*`` up to 512 characters, values up to 512 characters. No value can
#: hold a NUL character (no process environment can).
MAX_ENVIRONMENT_ENTRIES = 100
ENVIRONMENT_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]{0,511}$"
MAX_ENVIRONMENT_VALUE_LEN = 512

#: Instance groups of a heterogeneous cluster (``ResourceConfig.InstanceGroups``), and a group name's length.
MAX_INSTANCE_GROUPS = 5
MAX_INSTANCE_GROUP_NAME_LEN = 64
#: ``ResourceConfig.KeepAlivePeriodInSeconds`` (warm pools): 0 to 6 hours.
MAX_KEEP_ALIVE_SECONDS = 21600
#: Batch transform: MaxPayloadInMB default and ceiling, and the ceiling of MaxPayloadInMB x MaxConcurrentTransforms.
DEFAULT_MAX_PAYLOAD_MB = 6
MAX_PAYLOAD_MB = 100
MAX_PAYLOAD_TIMES_CONCURRENCY_MB = 100
#: Batch transform: default MaxConcurrentTransforms.
DEFAULT_MAX_CONCURRENT_TRANSFORMS = 1
#: Batch transform: entries of a transform job's Environment, key pattern and value length.
MAX_TRANSFORM_ENVIRONMENT = 16
TRANSFORM_ENVIRONMENT_KEY_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$"
MAX_TRANSFORM_ENVIRONMENT_VALUE_LEN = 10240
#: Batch transform: ModelClientConfig ranges (InvocationsTimeoutInSeconds default 600, InvocationsMaxRetries 3).
INVOCATIONS_TIMEOUT_RANGE = (1, 3600)
INVOCATIONS_MAX_RETRIES_RANGE = (0, 3)
#: Batch transform: longest InputFilter / OutputFilter JSONPath expression.
MAX_JSONPATH_LEN = 63
#: Hyperparameter tuning (CreateHyperParameterTuningJob): ranges in all, values of one categorical range,
#: static hyperparameters, training jobs at once and in all, parent jobs of a warm start.
MAX_PARAMETER_RANGES = 30
MAX_CATEGORICAL_VALUES = 30
MAX_RANGE_TEXT_LEN = 256
MAX_STATIC_HYPERPARAMETERS = 100
MAX_WARM_START_PARENTS = 5
#: ResourceLimits.MaxRuntimeInSeconds of a tuning job.
MIN_TUNING_RUNTIME = 120
MAX_TUNING_RUNTIME = 15768000
#: BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving is at least this.
MIN_JOBS_NOT_IMPROVING = 3
#: Hyperband MaxResource is at most this (epochs).
MAX_HYPERBAND_RESOURCE = 20000
#: Environment variables of a tuning job's training job definition.
MAX_TUNING_ENVIRONMENT = 48
#: Training jobs a tuning job can launch are numbered with 3 digits.
MAX_TUNING_TRAINING_JOBS = 999


def is_valid_channel_name(name: object) -> bool:
    """Tell whether ``name`` is a valid channel name (:data:`CHANNEL_NAME_RULE`)."""
    return isinstance(name, str) and _CHANNEL_NAME.fullmatch(name) is not None and name not in (".", "..")

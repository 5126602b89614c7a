"""Numeric limits of the SageMaker API that the package checks before any call."""

from __future__ import annotations

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
#: Input channels of a training job, and the channel name rule.
MAX_CHANNELS = 20
CHANNEL_NAME_PATTERN = r"^[A-Za-z0-9.\-_]{1,64}$"
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

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

#: Instance groups of a heterogeneous cluster (``ResourceConfig.InstanceGroups``), and a group name's length.
MAX_INSTANCE_GROUPS = 5
MAX_INSTANCE_GROUP_NAME_LEN = 64
#: ``ResourceConfig.KeepAlivePeriodInSeconds`` (warm pools): 0 to 6 hours.
MAX_KEEP_ALIVE_SECONDS = 21600


def is_valid_channel_name(name: object) -> bool:
    """Tell whether ``name`` is a valid channel name (:data:`CHANNEL_NAME_RULE`)."""
    return isinstance(name, str) and _CHANNEL_NAME.fullmatch(name) is not None and name not in (".", "..")

"""The SageMaker service model (botocore's): coerce API requests to its types and validate them before sending.

Coercion walks the operation's input shape (``"2"`` -> ``2`` where the API wants an integer). Validation has
two layers: botocore's own parameter validation against the service model (types, required fields,
unknown fields, minimum lengths and values), and the rules SageMaker only checks server-side or that
this project adds (name patterns, hyperparameter limits, S3 URI shapes, spot settings, channel names,
role ARNs, instance types). Every problem is reported, together, with the dotted path of its field.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any, TypeGuard

from airflow_tf_sm.exceptions import ConfigValidationError, FieldError
from airflow_tf_sm.sagemaker.booleans import FALSE_WORDS, TRUE_WORDS
from airflow_tf_sm.sagemaker.limits import (
    CHANNEL_NAME_RULE,
    DEFAULT_MAX_RUNTIME,
    MAX_HYPERPARAMETER_KEY_LEN,
    MAX_HYPERPARAMETER_VALUE_LEN,
    MAX_HYPERPARAMETERS,
    is_valid_channel_name,
)
from airflow_tf_sm.sagemaker.names import MAX_NAME_LEN, MAX_TUNING_NAME_LEN, name_pattern, name_rule
from airflow_tf_sm.sagemaker.s3 import S3UriError, parse_s3_uri

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]+$")
_BOTO_TYPE = re.compile(r"<class '([^']+)'>")

_ROLE_RULE = "must be an IAM role ARN: arn:aws:iam::<12-digit account>:role/<name>"

# Project rules per operation: dotted paths, ``[]`` stands for every item of a list.
#: Fields holding a resource name, per operation, with the longest name of that resource.
_NAME_FIELDS: dict[str, tuple[str, ...]] = {
    "CreateTrainingJob": ("TrainingJobName",),
    "CreateModel": ("ModelName",),
    "CreateEndpointConfig": (
        "EndpointConfigName",
        "ProductionVariants[].VariantName",
        "ProductionVariants[].ModelName",
    ),
    "CreateEndpoint": ("EndpointName", "EndpointConfigName"),
    "UpdateEndpoint": ("EndpointName", "EndpointConfigName"),
    "CreateHyperParameterTuningJob": ("HyperParameterTuningJobName",),
    "CreateTransformJob": ("TransformJobName", "ModelName"),
}
#: Name fields that follow the 32-character rule.
_SHORT_NAME_FIELDS = frozenset({"HyperParameterTuningJobName"})
_ROLE_FIELDS: dict[str, tuple[str, ...]] = {
    "CreateTrainingJob": ("RoleArn",),
    "CreateModel": ("ExecutionRoleArn",),
    "CreateEndpointConfig": ("ExecutionRoleArn",),
    "CreateHyperParameterTuningJob": ("TrainingJobDefinition.RoleArn",),
}
_INSTANCE_TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "CreateTrainingJob": ("ResourceConfig.InstanceType",),
    "CreateEndpointConfig": ("ProductionVariants[].InstanceType",),
    "CreateTransformJob": ("TransformResources.InstanceType",),
    "CreateHyperParameterTuningJob": ("TrainingJobDefinition.ResourceConfig.InstanceType",),
}
_S3_FIELDS: dict[str, tuple[str, ...]] = {
    "CreateTrainingJob": (
        "InputDataConfig[].DataSource.S3DataSource.S3Uri",
        "OutputDataConfig.S3OutputPath",
        "CheckpointConfig.S3Uri",
    ),
    "CreateTransformJob": ("TransformInput.DataSource.S3DataSource.S3Uri", "TransformOutput.S3OutputPath"),
    "CreateHyperParameterTuningJob": (
        "TrainingJobDefinition.InputDataConfig[].DataSource.S3DataSource.S3Uri",
        "TrainingJobDefinition.OutputDataConfig.S3OutputPath",
        "TrainingJobDefinition.CheckpointConfig.S3Uri",
    ),
}


def _plain(value: Any) -> Any:
    """Copy mappings to dicts and tuples to lists, which is what botocore's validator expects."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _values_at(data: Any, path: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(concrete path, value)`` for every value present at ``path`` (``A[].B`` walks a list)."""
    head, _, rest = path.partition(".")
    is_list = head.endswith("[]")
    key = head[:-2] if is_list else head
    if not isinstance(data, Mapping) or key not in data:
        return
    here = f"{prefix}.{key}" if prefix else key
    if is_list and not isinstance(data[key], list):
        return
    items = [(f"{here}[{i}]", v) for i, v in enumerate(data[key])] if is_list else [(here, data[key])]
    for item_path, item in items:
        if rest:
            yield from _values_at(item, rest, item_path)
        else:
            yield item_path, item


def _join(name: str, member: str) -> str:
    name = name.lstrip(".")
    return f"{name}.{member}" if name else member


def _botocore_error(kind: str, name: str, extra: dict[str, Any]) -> FieldError:
    """Translate one entry of botocore's validation report into a FieldError."""
    if kind == "missing required field":
        return FieldError(_join(name, extra["required_name"]), None, "required field is missing")
    if kind == "unknown field":
        valid = ", ".join(extra["valid_names"])
        field = _join(name, extra["unknown_param"])
        return FieldError(field, None, f"unknown field; expected one of: {valid}")
    field = name.lstrip(".") or "request"
    value = extra.get("param")
    if kind in ("invalid type", "invalid type for document"):
        types = ", ".join(_BOTO_TYPE.sub(r"\1", t) for t in extra["valid_types"])
        return FieldError(field, value, f"must be of type {types}")
    if kind == "invalid range":
        return FieldError(field, value, f"must be >= {extra['min_allowed']}")
    if kind == "invalid length":
        return FieldError(field, value, f"length must be >= {extra['min_allowed']}")
    if kind == "unable to encode to json":
        return FieldError(field, value, f"must be JSON serializable: {extra['type_error']}")
    if kind in ("more than one input", "empty input"):
        return FieldError(field, None, f"exactly one of {', '.join(extra['members'])} must be set")
    return FieldError(field, value, kind)


def _botocore_errors(request: dict[str, Any], operation: str) -> list[FieldError]:
    from botocore.validate import ParamValidator

    report = ParamValidator().validate(request, input_shape(operation))
    return [_botocore_error(kind, name, extra) for kind, name, extra in report._errors]


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _s3_error(field: str, value: Any, *, need_key: bool = False) -> FieldError | None:
    if not isinstance(value, str):
        return None  # botocore reports the type
    try:
        parse_s3_uri(value, need_key=need_key)
    except S3UriError as exc:
        return FieldError(field, value, str(exc))
    return None


def _hyperparameter_errors(hps: Any, where: str = "HyperParameters") -> Iterator[FieldError]:
    if not isinstance(hps, Mapping):
        return
    if len(hps) > MAX_HYPERPARAMETERS:
        yield FieldError(where, f"{len(hps)} entries", f"at most {MAX_HYPERPARAMETERS} allowed")
    for key, value in hps.items():
        field = f"{where}.{key}"
        if isinstance(key, str) and len(key) > MAX_HYPERPARAMETER_KEY_LEN:
            yield FieldError(field, key, f"key must be at most {MAX_HYPERPARAMETER_KEY_LEN} characters")
        if not isinstance(value, str):
            yield FieldError(field, value, "must be a string (hyperparameter values are JSON-encoded)")
            continue
        if len(value) > MAX_HYPERPARAMETER_VALUE_LEN:
            yield FieldError(field, value, f"must be at most {MAX_HYPERPARAMETER_VALUE_LEN} characters")
        if key == "sagemaker_submit_directory":
            try:
                uri = json.loads(value)
            except ValueError:
                uri = value
            error = _s3_error(field, uri, need_key=True)
            if error:
                yield error


def _spot_errors(request: Mapping[str, Any], prefix: str = "") -> Iterator[FieldError]:
    spot = request.get("EnableManagedSpotTraining") is True
    stopping = request.get("StoppingCondition")
    stopping = stopping if isinstance(stopping, Mapping) else {}
    max_wait = stopping.get("MaxWaitTimeInSeconds")
    max_run = stopping.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME)
    field = f"{prefix}StoppingCondition.MaxWaitTimeInSeconds"
    if spot and max_wait is None:
        yield FieldError(field, None, "required when EnableManagedSpotTraining is true")
    elif spot and _is_int(max_wait) and _is_int(max_run) and max_wait < max_run:
        yield FieldError(field, max_wait, f"must be >= {prefix}StoppingCondition.MaxRuntimeInSeconds ({max_run})")
    elif not spot and max_wait is not None:
        yield FieldError(field, max_wait, "only allowed when EnableManagedSpotTraining is true")


def _instance_count_errors(request: Mapping[str, Any]) -> Iterator[FieldError]:
    resources = request.get("ResourceConfig")
    if not isinstance(resources, Mapping) or "InstanceGroups" in resources:
        return
    count = resources.get("InstanceCount")
    if _is_int(count) and count < 1:
        yield FieldError("ResourceConfig.InstanceCount", count, "must be >= 1 (without InstanceGroups)")


def _channel_errors(request: Mapping[str, Any]) -> Iterator[FieldError]:
    seen: set[str] = set()
    for field, name in _values_at(request, "InputDataConfig[].ChannelName"):
        if not isinstance(name, str):
            continue
        if not is_valid_channel_name(name):
            yield FieldError(field, name, CHANNEL_NAME_RULE)
        elif name in seen:
            yield FieldError(field, name, "channel names must be unique")
        seen.add(name)


def _project_errors(request: Mapping[str, Any], operation: str) -> Iterator[FieldError]:
    for path in _NAME_FIELDS.get(operation, ()):
        longest = MAX_TUNING_NAME_LEN if path in _SHORT_NAME_FIELDS else MAX_NAME_LEN
        for field, value in _values_at(request, path):
            if isinstance(value, str) and not name_pattern(longest).fullmatch(value):
                yield FieldError(field, value, name_rule(longest))
    for path in _ROLE_FIELDS.get(operation, ()):
        for field, value in _values_at(request, path):
            if isinstance(value, str) and not _ROLE_ARN.match(value):
                yield FieldError(field, value, _ROLE_RULE)
    for path in _INSTANCE_TYPE_FIELDS.get(operation, ()):
        for field, value in _values_at(request, path):
            if isinstance(value, str) and not value.startswith("ml."):
                yield FieldError(field, value, "must be a SageMaker instance type starting with 'ml.'")
    for path in _S3_FIELDS.get(operation, ()):
        for field, value in _values_at(request, path):
            error = _s3_error(field, value)
            if error:
                yield error
    if operation == "CreateTrainingJob":
        yield from _hyperparameter_errors(request.get("HyperParameters"))
        yield from _spot_errors(request)
        yield from _channel_errors(request)
        yield from _instance_count_errors(request)
    if operation == "CreateHyperParameterTuningJob" and isinstance(request.get("TrainingJobDefinition"), Mapping):
        definition = request["TrainingJobDefinition"]
        where = "TrainingJobDefinition.StaticHyperParameters"
        yield from _hyperparameter_errors(definition.get("StaticHyperParameters"), where)
        yield from _spot_errors(definition, "TrainingJobDefinition.")


def request_errors(request: Mapping[str, Any], operation: str = "CreateTrainingJob") -> list[FieldError]:
    """Return every problem of a SageMaker API request.

    Checks the request against the operation's input shape with botocore's ``ParamValidator``, then the
    project rules: resource names (``TrainingJobName``, ``ModelName``, ``EndpointConfigName``,
    ``EndpointName``, ...) match the 63-character name pattern; role ARNs are IAM role ARNs; instance
    types start with ``ml.``. For ``CreateTrainingJob`` also: ``ResourceConfig.InstanceCount`` >= 1 (without
    ``InstanceGroups``); at most 100 hyperparameters, keys of at most
    256 and string values of at most 2500 characters; the S3 URIs of the channels, the output path,
    the checkpoint config and the ``sagemaker_submit_directory`` hyperparameter are ``s3://bucket/key``;
    spot training has ``MaxWaitTimeInSeconds >= MaxRuntimeInSeconds`` and ``MaxWaitTimeInSeconds`` is
    only given with spot; channel names are unique and valid. For ``CreateHyperParameterTuningJob`` the
    same hyperparameter, S3, role, instance type and spot rules apply to its ``TrainingJobDefinition``
    (``StaticHyperParameters``), and ``HyperParameterTuningJobName`` follows the 32-character rule.

    A botocore problem on a field that a project rule already reports is left out.

    Args:
        request: The request dict, as passed to the boto3 client method.
        operation: API operation, e.g. ``CreateTrainingJob``, ``CreateModel``, ``CreateEndpointConfig``,
            ``CreateEndpoint``.

    Returns:
        The problems, each naming its field by dotted path; empty when the request is valid.

    Raises:
        botocore.exceptions.OperationNotFoundError: for an operation SageMaker does not have.
    """
    plain = _plain(request)
    project = list(_project_errors(plain, operation)) if isinstance(plain, dict) else []
    reported = {e.field for e in project}
    botocore = [e for e in _botocore_errors(plain, operation) if e.field not in reported]
    return botocore + project


def validate_request(request: Mapping[str, Any], operation: str = "CreateTrainingJob") -> None:
    """Raise when a SageMaker API request breaks any rule of :func:`request_errors`.

    Args:
        request: The request dict.
        operation: API operation, e.g. ``CreateTrainingJob``.

    Raises:
        ConfigValidationError: with every problem found.
    """
    errors = request_errors(request, operation)
    if errors:
        raise ConfigValidationError(errors, what=f"{operation} request")


@functools.lru_cache(maxsize=16)
def input_shape(operation: str, service: str = "sagemaker") -> Any:
    """Return botocore's input shape of an API operation (service models are loaded once and cached).

    Args:
        operation: API operation name, e.g. ``CreateTrainingJob``.
        service: botocore service name.

    Returns:
        The ``botocore.model.StructureShape`` of the operation's input.
    """
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(operation).input_shape


def _coerce_scalar(value: str, type_name: str) -> Any:
    """Convert a string to the shape's scalar type, or return it unchanged when it does not convert."""
    text = value.strip()
    if type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return value
    if type_name in ("float", "double"):
        try:
            number = float(text)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    if type_name == "boolean":
        lowered = text.lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
    return value


def _coerce(value: Any, shape: Any) -> Any:
    type_name = shape.type_name
    if type_name == "structure" and isinstance(value, Mapping):
        members = shape.members
        return {k: _coerce(v, members[k]) if k in members else v for k, v in value.items()}
    if type_name == "list" and isinstance(value, list | tuple):
        return [_coerce(item, shape.member) for item in value]
    if type_name == "map" and isinstance(value, Mapping):
        return {k: _coerce(v, shape.value) for k, v in value.items()}
    if isinstance(value, str):
        return _coerce_scalar(value, type_name)
    return value


def coerce_request(
    request: Mapping[str, Any], operation: str = "CreateTrainingJob", service: str = "sagemaker"
) -> dict[str, Any]:
    """Convert string leaves of an API request to the types of the botocore service model.

    Templates and YAML often give ``"2"`` where the API wants ``2``: integer/long strings become int,
    float/double strings float, boolean strings (``true``/``false``/``1``/``0``, any case) bool. The
    walk follows the operation's input shape through structures, lists and maps, so string-typed
    fields (e.g. every ``HyperParameters`` value) stay strings. Values that do not convert, and keys
    the model does not know, are left as they are for validation to report.

    Args:
        request: The request dict.
        operation: API operation name, e.g. ``CreateTrainingJob``.
        service: botocore service name.

    Returns:
        A new dict; ``request`` is not modified.
    """
    result = _coerce(request, input_shape(operation, service))
    return dict(result) if isinstance(result, Mapping) else result

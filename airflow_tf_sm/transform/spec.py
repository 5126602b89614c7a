"""The batch transform job specification, in the SageMaker Python SDK's ``transformer()`` + ``transform()`` vocabulary.

:class:`TransformJobSpec` holds what a user writes to ``estimator.transformer(...)`` and
``transformer.transform(...)`` (``instance_type``, ``strategy``, ``assemble_with``, ``output_path``,
``data``, ``split_type``, ``input_filter``, ...), checks every rule of FACTS.md section 8 before any call
(:meth:`TransformJobSpec.errors`) and turns it into the CreateTransformJob request the SDK v2 sends for the
same arguments, optional fields only when given (:meth:`TransformJobSpec.to_request`). Pure: no I/O.

Example:
    >>> spec = TransformJobSpec.from_mapping(
    ...     {"data": "s3://bucket/score/2025-01-01/", "output_path": "s3://bucket/scores/2025-01-01",
    ...      "content_type": "text/csv", "split_type": "Line", "strategy": "MultiRecord"}
    ... )
    >>> spec.to_request(job_name="score-20250101", model_name="model-1")["BatchStrategy"]
    'MultiRecord'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_tf_sm.exceptions import ConfigValidationError, FieldError
from airflow_tf_sm.sagemaker import fields
from airflow_tf_sm.sagemaker.fields import s3_uri_errors
from airflow_tf_sm.sagemaker.jsonpath import syntax_problem
from airflow_tf_sm.sagemaker.limits import (
    DEFAULT_MAX_CONCURRENT_TRANSFORMS,
    DEFAULT_MAX_PAYLOAD_MB,
    INVOCATIONS_MAX_RETRIES_RANGE,
    INVOCATIONS_TIMEOUT_RANGE,
    MAX_JSONPATH_LEN,
    MAX_PAYLOAD_MB,
    MAX_PAYLOAD_TIMES_CONCURRENCY_MB,
    MAX_TAGS,
    MAX_TRANSFORM_ENVIRONMENT,
    MAX_TRANSFORM_ENVIRONMENT_VALUE_LEN,
    TRANSFORM_ENVIRONMENT_KEY_PATTERN,
)
from airflow_tf_sm.sagemaker.names import is_valid_name, name_rule
from airflow_tf_sm.sagemaker.tags import Tags, tag_errors, tag_pairs
from airflow_tf_sm.sagemaker.transform import (
    ASSEMBLY_TYPES,
    BATCH_STRATEGIES,
    COMPRESSION_TYPES,
    DATA_PROCESSING_CONTENT_TYPES,
    DATA_TYPES,
    DEFAULT_FILTER,
    JOIN_SOURCES,
    RECORD_SPLIT_TYPES,
    SPLIT_TYPES,
    media_type,
)

__all__ = ["TransformJobSpec"]

_ENV_KEY = re.compile(TRANSFORM_ENVIRONMENT_KEY_PATTERN)
_KMS_KEY = re.compile(r"^[a-zA-Z0-9:/_-]+$")
_CLIENT_CONFIG_RANGES = {
    "InvocationsTimeoutInSeconds": INVOCATIONS_TIMEOUT_RANGE,
    "InvocationsMaxRetries": INVOCATIONS_MAX_RETRIES_RANGE,
}
_WHAT = "transform job configuration"


def _one_of(name: str, value: str | None, allowed: tuple[str, ...]) -> list[FieldError]:
    if value is None or value in allowed:
        return []
    return [FieldError(name, value, f"must be one of {', '.join(allowed)}")]


@dataclass(frozen=True)
class TransformJobSpec:
    """A batch transform job, in the SageMaker SDK ``transformer()`` + ``transform()`` vocabulary.

    ``None`` means "not given": the request then leaves the field out and SageMaker applies its default
    (BatchStrategy per algorithm, MaxPayloadInMB 6, MaxConcurrentTransforms 1, filters ``$``, JoinSource
    None, ...), exactly as the SDK does. Build it with :meth:`from_mapping` (coerces and validates) or
    directly (then call :meth:`errors`).

    Attributes:
        data: ``s3://`` prefix of the input objects, or of a manifest file (``data_type="ManifestFile"``).
        output_path: ``s3://`` prefix the outputs go to (``<output_path>/<relative key>.out``); required.
        instance_count: Number of instances.
        instance_type: ``ml.*`` instance type (on the local backend too: it picks the serving image).
        strategy: ``SingleRecord`` or ``MultiRecord`` (records per request; MultiRecord needs a ``split_type``).
        assemble_with: ``None`` (concatenate) or ``Line`` (a newline after each record's output).
        output_kms_key: KMS key for the output.
        accept: Content type of the outputs (``Accept`` of each request), e.g. ``text/csv``.
        env: Environment variables of the transform container.
        max_concurrent_transforms: Requests in flight per instance (default 1).
        max_payload: Largest request, in MB (0-100; default 6; 0: chunked).
        tags: ``{key: value}`` or ``[{"Key": ..., "Value": ...}]``.
        volume_kms_key: KMS key for the instances' volume.
        data_type: ``S3Prefix`` (every object under ``data``) or ``ManifestFile``.
        content_type: Content type of the input (``text/csv``, ``application/json``, ``application/jsonlines``).
        compression_type: ``None`` or ``Gzip``.
        split_type: ``None``, ``Line``, ``RecordIO`` or ``TFRecord``: how an object is cut into records.
        input_filter: JSONPath of the part of each record sent to the model (e.g. ``$[1:]``).
        output_filter: JSONPath of the part of each (joined) output record kept (e.g. ``$[0,-1]``).
        join_source: ``None`` or ``Input``: join each prediction with its input record.
        model_client_config: ``{"InvocationsTimeoutInSeconds": 600, "InvocationsMaxRetries": 3}``.
        job_name: Base name for the job (templated, e.g. ``"score-{{ ds_nodash }}"``), sanitized to the name
            rule; default: derived from dag_id, task_id, run_id and map index.
    """

    data: str
    output_path: str | None = None
    instance_count: int = 1
    instance_type: str = "ml.m5.large"
    strategy: str | None = None
    assemble_with: str | None = None
    output_kms_key: str | None = None
    accept: str | None = None
    env: Mapping[str, str] | None = None
    max_concurrent_transforms: int | None = None
    max_payload: int | None = None
    tags: Tags | None = None
    volume_kms_key: str | None = None
    data_type: str = "S3Prefix"
    content_type: str | None = None
    compression_type: str | None = None
    split_type: str | None = None
    input_filter: str | None = None
    output_filter: str | None = None
    join_source: str | None = None
    model_client_config: Mapping[str, Any] | None = None
    job_name: str | None = None

    def __post_init__(self) -> None:
        fields.copy_containers(self)
        object.__setattr__(self, "_checked", False)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> TransformJobSpec:
        """Build a spec from a rendered mapping, coercing and validating every setting.

        Args:
            mapping: Setting name -> value, in the SDK's ``transformer()``/``transform()`` vocabulary.

        Raises:
            ConfigValidationError: every problem found (unknown keys with suggestions, wrong types, broken
                rules), in one error.
        """
        spec = fields.build(cls, mapping, required={"data": ""}, errors=cls.errors, what=_WHAT)
        object.__setattr__(spec, "_checked", True)
        return spec

    # ---------------------------------------------------------------- validation
    def errors(self) -> list[FieldError]:
        """Return every broken rule of this spec (empty when it is valid).

        Checks types, then FACTS.md section 8: the ``s3://`` URIs, the enumerations, MultiRecord needing a
        SplitType, MaxPayloadInMB <= 100 and x MaxConcurrentTransforms <= 100, the instance settings, the
        JSONPath filters (the supported subset, at most 63 characters) and that data processing has CSV or
        JSON input, the environment, tags, KMS keys and the model client config.
        """
        problems, typed_ok = fields.type_errors(self)

        def typed(*names: str) -> bool:
            return all(name in typed_ok for name in names)

        checks: list[tuple[tuple[str, ...], Callable[[], list[FieldError]]]] = [
            (("data", "data_type", "output_path"), self._uri_errors),
            (("instance_count", "instance_type"), self._instance_errors),
            (
                ("strategy", "assemble_with", "compression_type", "split_type", "join_source", "data_type"),
                self._enum_errors,
            ),
            (("strategy", "split_type"), self._strategy_errors),
            (("max_payload", "max_concurrent_transforms"), self._payload_errors),
            (("input_filter", "output_filter", "join_source", "content_type"), self._processing_errors),
            (("accept", "content_type", "output_kms_key", "volume_kms_key", "job_name"), self._text_errors),
            (("env",), self._env_errors),
            (("tags",), lambda: tag_errors(self.tags) if self.tags is not None else []),
            (("model_client_config",), self._client_config_errors),
        ]
        for needed, check in checks:
            if typed(*needed):
                problems.extend(check())
        return problems

    def _uri_errors(self) -> list[FieldError]:
        problems: list[FieldError] = []
        if not self.data:
            problems.append(FieldError("data", self.data, "required: the s3:// prefix (or manifest) of the input"))
        else:
            problems += s3_uri_errors("data", self.data, need_key=self.data_type == "ManifestFile")
        if self.output_path is None:
            problems.append(FieldError("output_path", None, "required: the s3:// prefix for the job's output"))
        else:
            problems += s3_uri_errors("output_path", self.output_path)
        return problems

    def _instance_errors(self) -> list[FieldError]:
        from airflow_tf_sm.sagemaker import images

        problems = []
        if self.instance_count < 1:
            problems.append(FieldError("instance_count", self.instance_count, "must be at least 1"))
        try:
            images.processor_for(self.instance_type)
        except ConfigValidationError as exc:
            problems += exc.errors
        return problems

    def _enum_errors(self) -> list[FieldError]:
        return [
            *_one_of("strategy", self.strategy, BATCH_STRATEGIES),
            *_one_of("assemble_with", self.assemble_with, ASSEMBLY_TYPES),
            *_one_of("compression_type", self.compression_type, COMPRESSION_TYPES),
            *_one_of("split_type", self.split_type, SPLIT_TYPES),
            *_one_of("join_source", self.join_source, JOIN_SOURCES),
            *_one_of("data_type", self.data_type, DATA_TYPES),
        ]

    def _strategy_errors(self) -> list[FieldError]:
        if self.strategy == "MultiRecord" and self.split_type not in RECORD_SPLIT_TYPES:
            rule = f"MultiRecord needs split_type {', '.join(RECORD_SPLIT_TYPES)} (records to put in a mini-batch)"
            return [FieldError("strategy", self.strategy, rule)]
        return []

    def _payload_errors(self) -> list[FieldError]:
        problems = []
        payload, concurrency = self.max_payload, self.max_concurrent_transforms
        if payload is not None and not 0 <= payload <= MAX_PAYLOAD_MB:
            problems.append(FieldError("max_payload", payload, f"must be 0-{MAX_PAYLOAD_MB} (MB; 0: chunked)"))
        if concurrency is not None and concurrency < 1:
            problems.append(FieldError("max_concurrent_transforms", concurrency, "must be an integer >= 1"))
        if problems:
            return problems
        effective_payload = DEFAULT_MAX_PAYLOAD_MB if payload is None else payload
        effective_concurrency = DEFAULT_MAX_CONCURRENT_TRANSFORMS if concurrency is None else concurrency
        if effective_payload * effective_concurrency > MAX_PAYLOAD_TIMES_CONCURRENCY_MB:
            rule = (
                f"max_payload x max_concurrent_transforms must be <= {MAX_PAYLOAD_TIMES_CONCURRENCY_MB} MB "
                f"(here {effective_payload} x {effective_concurrency}; "
                f"max_payload defaults to {DEFAULT_MAX_PAYLOAD_MB})"
            )
            problems.append(FieldError("max_payload", payload, rule))
        return problems

    def _processing_errors(self) -> list[FieldError]:
        problems = []
        for name in ("input_filter", "output_filter"):
            value = getattr(self, name)
            if value is None:
                continue
            if len(value) > MAX_JSONPATH_LEN:
                problems.append(FieldError(name, value, f"at most {MAX_JSONPATH_LEN} characters"))
                continue
            problem = syntax_problem(value)
            if problem:
                problems.append(FieldError(name, value, problem))
        processing = (
            any(getattr(self, name) not in (None, DEFAULT_FILTER) for name in ("input_filter", "output_filter"))
            or self.join_source == "Input"
        )
        if processing and media_type(self.content_type) not in DATA_PROCESSING_CONTENT_TYPES:
            rule = (
                f"input_filter, output_filter and join_source need content_type "
                f"{', '.join(DATA_PROCESSING_CONTENT_TYPES)} (batch transform filters and joins CSV and JSON only)"
            )
            problems.append(FieldError("content_type", self.content_type, rule))
        return problems

    def _text_errors(self) -> list[FieldError]:
        problems = []
        for name in ("accept", "content_type", "job_name"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                problems.append(FieldError(name, value, "must not be empty"))
            elif value is not None and len(value) > 256:
                problems.append(FieldError(name, value, "at most 256 characters"))
        for name in ("output_kms_key", "volume_kms_key"):
            value = getattr(self, name)
            if value is not None and (not _KMS_KEY.match(value) or len(value) > 2048):
                problems.append(FieldError(name, value, "must be a KMS key id, alias or ARN ([a-zA-Z0-9:/_-])"))
        return problems

    def _env_errors(self) -> list[FieldError]:
        env = self.env or {}
        problems = []
        if len(env) > MAX_TRANSFORM_ENVIRONMENT:
            problems.append(FieldError("env", len(env), f"at most {MAX_TRANSFORM_ENVIRONMENT} variables"))
        for key, value in env.items():
            where = f"env.{key}"
            if not isinstance(key, str) or not _ENV_KEY.match(key):
                problems.append(FieldError(where, key, "names are letters, digits and '_', not starting with a digit"))
            if not isinstance(value, str):
                problems.append(FieldError(where, value, "values must be strings (quote numbers and booleans)"))
            elif len(value) > MAX_TRANSFORM_ENVIRONMENT_VALUE_LEN:
                problems.append(FieldError(where, value, f"at most {MAX_TRANSFORM_ENVIRONMENT_VALUE_LEN} characters"))
        return problems

    def _client_config_errors(self) -> list[FieldError]:
        problems = []
        for key, value in (self.model_client_config or {}).items():
            where = f"model_client_config.{key}"
            if key not in _CLIENT_CONFIG_RANGES:
                problems.append(
                    FieldError(where, value, fields.unknown_rule(str(key), list(_CLIENT_CONFIG_RANGES), "key"))
                )
                continue
            low, high = _CLIENT_CONFIG_RANGES[key]
            number = _integer(value)
            if number is None or not low <= number <= high:
                problems.append(FieldError(where, value, f"must be an integer {low}-{high}"))
        return problems

    # ------------------------------------------------------------------ request
    def to_request(
        self, *, job_name: str, model_name: str, extra_tags: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Return the CreateTransformJob request the SageMaker SDK v2 sends for these arguments.

        Always: ``TransformJobName``, ``ModelName``, ``TransformInput`` (``DataSource.S3DataSource``
        ``{S3DataType, S3Uri}``), ``TransformOutput`` (``S3OutputPath``), ``TransformResources``
        (``InstanceCount``, ``InstanceType``). Only when given: ``ContentType``, ``CompressionType``,
        ``SplitType``, ``KmsKeyId``, ``AssembleWith``, ``Accept``, ``VolumeKmsKeyId``, ``BatchStrategy``,
        ``MaxConcurrentTransforms``, ``MaxPayloadInMB``, ``Environment``, ``Tags``, ``DataProcessing``
        (``InputFilter``, ``OutputFilter``, ``JoinSource``), ``ModelClientConfig``.

        Args:
            job_name: The transform job name.
            model_name: The SageMaker model that scores the data.
            extra_tags: Tags added to the spec's tags (they win on equal keys).

        Raises:
            ConfigValidationError: the spec breaks a rule (checked here only for a spec not built by
                :meth:`from_mapping`), or a name breaks the name rule.
        """
        problems = [] if getattr(self, "_checked", False) else self.errors()
        for name, value in (("job_name", job_name), ("model_name", model_name)):
            if not is_valid_name(value):
                problems.append(FieldError(name, value, name_rule()))
        given_tags = dict(tag_pairs(self.tags)) if self.tags is not None else {}
        tags: dict[str, str] = {**given_tags, **dict(extra_tags or {})}
        if len(tags) > MAX_TAGS and len(given_tags) <= MAX_TAGS:
            rule = f"at most {MAX_TAGS} tags, including the {len(extra_tags or {})} added for the task"
            problems.append(FieldError("tags", len(tags), rule))
        if problems:
            raise ConfigValidationError(problems, what=_WHAT)

        transform_input: dict[str, Any] = {
            "DataSource": {"S3DataSource": {"S3DataType": self.data_type, "S3Uri": self.data}},
            **_given(
                ("ContentType", self.content_type),
                ("CompressionType", self.compression_type),
                ("SplitType", self.split_type),
            ),
        }
        output: dict[str, Any] = {
            "S3OutputPath": self.output_path,
            **_given(("KmsKeyId", self.output_kms_key), ("AssembleWith", self.assemble_with), ("Accept", self.accept)),
        }
        resources: dict[str, Any] = {
            "InstanceCount": self.instance_count,
            "InstanceType": self.instance_type,
            **_given(("VolumeKmsKeyId", self.volume_kms_key)),
        }
        request: dict[str, Any] = {
            "TransformJobName": job_name,
            "ModelName": model_name,
            "TransformInput": transform_input,
            "TransformOutput": output,
            "TransformResources": resources,
            **_given(
                ("BatchStrategy", self.strategy),
                ("MaxConcurrentTransforms", self.max_concurrent_transforms),
                ("MaxPayloadInMB", self.max_payload),
                ("Environment", dict(self.env) if self.env is not None else None),
            ),
        }
        if self.tags is not None or tags:
            request["Tags"] = [{"Key": key, "Value": value} for key, value in tags.items()]
        processing = _given(
            ("InputFilter", self.input_filter), ("OutputFilter", self.output_filter), ("JoinSource", self.join_source)
        )
        if processing:
            request["DataProcessing"] = processing
        if self.model_client_config:
            request["ModelClientConfig"] = {key: _integer(value) for key, value in self.model_client_config.items()}
        return request


def _given(*pairs: tuple[str, Any]) -> dict[str, Any]:
    """Return the pairs whose value was given (not None), in order: the SDK's "only when given"."""
    return {key: value for key, value in pairs if value is not None}


def _integer(value: Any) -> int | None:
    """Return an integer setting given as a number or integer text (None when it is neither)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        return int(value)
    return None

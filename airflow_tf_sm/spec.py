"""The training job specification, in the SageMaker Python SDK's TensorFlow estimator vocabulary.

:class:`TrainingJobSpec` holds what a user writes (``entry_point``, ``instance_type``,
``hyperparameters``, ``inputs``, ``distribution``, ...), checks it (:meth:`TrainingJobSpec.errors`)
and turns it into the CreateTrainingJob request the SDK v2 sends for the same estimator
(:meth:`TrainingJobSpec.to_request`). Pure: no network and no Airflow; the only I/O is checking
that the entry point exists.

Example:
    >>> spec = TrainingJobSpec.from_mapping(
    ...     {"entry_point": "train.py", "source_dir": "src", "output_path": "s3://bucket/out",
    ...      "instance_count": "2", "hyperparameters": {"epochs": 5}}
    ... )  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_tf_sm.exceptions import ConfigValidationError, FieldError, UnknownFrameworkVersionError

INPUT_MODES = ("File", "Pipe", "FastFile")
LOCAL_INSTANCE_TYPES = ("local", "local_gpu")
MAX_HYPERPARAMETERS = 100
MAX_HYPERPARAMETER_KEY = 256
MAX_HYPERPARAMETER_VALUE = 2500
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_CHANNELS = 20
MAX_RETRY_ATTEMPTS = 30
#: MultiWorkerMirroredStrategy needs this TensorFlow version or newer.
MWMS_MIN_VERSION = (2, 9)
#: The SDK turns on SageMaker metrics time series for TensorFlow >= 1.15 unless told otherwise.
METRICS_MIN_VERSION = (1, 15)

#: Channel settings (the SDK's ``TrainingInput`` arguments) and the values each accepts
#: (None: any value of the right type, checked separately).
CHANNEL_SETTINGS: dict[str, tuple[str, ...] | None] = {
    "s3_data": None,
    "distribution": ("FullyReplicated", "ShardedByS3Key"),
    "content_type": None,
    "compression": ("Gzip", "None"),
    "input_mode": INPUT_MODES,
    "s3_data_type": ("S3Prefix", "ManifestFile", "AugmentedManifestFile"),
    "record_wrapping": ("RecordIO", "None"),
    "shuffle_config": None,
    "attribute_names": None,
}
#: Channel settings copied to a top-level key of the channel when given.
_CHANNEL_API_KEYS = {
    "compression": "CompressionType",
    "content_type": "ContentType",
    "record_wrapping": "RecordWrapperType",
    "input_mode": "InputMode",
}

#: Distribution strategies and the keys each accepts.
DISTRIBUTION_SETTINGS: dict[str, tuple[str, ...]] = {
    "parameter_server": ("enabled",),
    "mpi": ("enabled", "processes_per_host", "custom_mpi_options"),
    "multi_worker_mirrored_strategy": ("enabled",),
}

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
RESERVED_PREFIX = "sagemaker_"
#: model_dir when MPI is on: the container's own model directory.
MPI_MODEL_DIR = "/opt/ml/model"

_S3_URI_RE = re.compile(r"^s3://([^/]*)(/.*)?$")
_BUCKET_RE = re.compile(r"^[a-z0-9.\-]{3,63}$")
_CHANNEL_NAME_RE = re.compile(r"^[A-Za-z0-9.\-_]{1,64}$")
_INT_TEXT_RE = re.compile(r"^[+-]?\d+$")
_NO_VALUE = object()


def json_encode_hyperparameters(hyperparameters: Mapping[str, Any]) -> dict[str, str]:
    """Return the hyperparameters as SageMaker wants them: every value a JSON string.

    ``5`` -> ``"5"``, ``"adam"`` -> ``'"adam"'``, ``True`` -> ``"true"``, exactly as the SDK does.

    Args:
        hyperparameters: Names to plain JSON-serializable values.
    """
    return {str(key): json.dumps(value) for key, value in hyperparameters.items()}


@dataclass(frozen=True)
class TrainingJobSpec:
    """A TensorFlow script-mode training job, in the SageMaker SDK TensorFlow estimator vocabulary.

    Mappings and lists are copied when the spec is built, so the spec never shares state with its
    input. Build it with :meth:`from_mapping` (coerces and validates) or directly (then call
    :meth:`errors`).

    Attributes:
        entry_point: Training script; relative to ``source_dir`` when that is set, else a local file.
        source_dir: Local directory (or ``s3://`` tarball) with the code; None: the entry point alone.
        framework_version: TensorFlow version (``2.19.0`` or ``2.19``); picks the training image.
        py_version: Python version of the image (default: the only one offered).
        image_uri: Training image; None picks the SageMaker TensorFlow image.
        role: IAM role ARN for the job (may also be given to :meth:`to_request`).
        instance_type: ``ml.*`` instance type, or ``local``/``local_gpu``.
        instance_count: Number of instances.
        volume_size: EBS volume size in GB.
        volume_kms_key: KMS key for the volume.
        max_run: Maximum run time in seconds.
        use_spot_instances: Managed spot training (needs ``max_wait``).
        max_wait: Maximum wait time in seconds for spot training (>= ``max_run``).
        checkpoint_s3_uri: S3 URI synced with the container's checkpoint directory.
        checkpoint_local_path: Checkpoint directory in the container (SageMaker default when None).
        hyperparameters: User hyperparameters (any JSON-serializable values).
        inputs: One ``s3://`` URI (channel ``training``) or channel name -> URI or channel settings
            (:data:`CHANNEL_SETTINGS`).
        input_mode: Default input mode: ``File``, ``Pipe`` or ``FastFile``.
        output_path: ``s3://`` prefix for the job's output (required).
        output_kms_key: KMS key for the output.
        code_location: ``s3://`` prefix for the staged code (default ``<output_path>/code``).
        metric_definitions: ``[{"Name": ..., "Regex": ...}]`` applied to the job's log.
        environment: Environment variables of the container (string values).
        tags: ``{key: value}`` or ``[{"Key": ..., "Value": ...}]``.
        subnets: VPC subnet ids (with ``security_group_ids``).
        security_group_ids: VPC security group ids (with ``subnets``).
        distribution: Strategy (``parameter_server``, ``mpi``, ``multi_worker_mirrored_strategy``) ->
            ``{"enabled": bool, ...}``.
        container_log_level: Python log level of the container (20 = INFO).
        model_dir: ``model_dir`` hyperparameter; None: ``<output_path>/<job>/model``; False: not passed.
        enable_network_isolation: Run the container without network access.
        encrypt_inter_container_traffic: Encrypt traffic between instances.
        enable_sagemaker_metrics: Metrics time series; None: on for TensorFlow >= 1.15, like the SDK.
        max_retry_attempts: SageMaker-side retries of the job (1-30).
        job_name: Base name for the job (made safe by ``names``).
        request_overrides: Deep-merged into the request last (dicts merge, other values replace).
    """

    entry_point: str
    source_dir: str | None = None
    framework_version: str = "2.19.0"
    py_version: str | None = None
    image_uri: str | None = None
    role: str | None = None
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    volume_size: int = 30
    volume_kms_key: str | None = None
    max_run: int = 86400
    use_spot_instances: bool = False
    max_wait: int | None = None
    checkpoint_s3_uri: str | None = None
    checkpoint_local_path: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    inputs: str | Mapping[str, str | Mapping[str, Any]] | None = None
    input_mode: str = "File"
    output_path: str | None = None
    output_kms_key: str | None = None
    code_location: str | None = None
    metric_definitions: Sequence[Mapping[str, str]] = field(default_factory=list)
    environment: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] | Sequence[Mapping[str, str]] = field(default_factory=dict)
    subnets: Sequence[str] | None = None
    security_group_ids: Sequence[str] | None = None
    distribution: Mapping[str, Any] | None = None
    container_log_level: int = 20
    model_dir: str | bool | None = None
    enable_network_isolation: bool = False
    encrypt_inter_container_traffic: bool = False
    enable_sagemaker_metrics: bool | None = None
    max_retry_attempts: int | None = None
    job_name: str | None = None
    request_overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for spec_field in dataclasses.fields(self):
            value = getattr(self, spec_field.name)
            if isinstance(value, Mapping):
                object.__setattr__(self, spec_field.name, copy.deepcopy(dict(value)))
            elif isinstance(value, (list, tuple)):
                object.__setattr__(self, spec_field.name, copy.deepcopy(list(value)))

    # ------------------------------------------------------------------ building
    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> TrainingJobSpec:
        """Build a spec from a rendered config mapping, coercing and validating every setting.

        Scalar settings are coerced from the field types (``"2"`` -> ``2``, ``"true"`` -> ``True``,
        ``"null"`` -> ``None`` for optional numbers; JSON text for mappings and lists). A null value
        for a setting that cannot be null means "use the default".

        Args:
            mapping: Setting name -> value, in the SDK's estimator vocabulary (the field names).

        Raises:
            ConfigValidationError: every problem found (unknown keys with suggestions, wrong types,
                broken rules), in one error.
        """
        if not isinstance(mapping, Mapping):
            raise ConfigValidationError([FieldError("config", mapping, "must be a mapping of setting names")])
        hints = _field_hints()
        problems: list[FieldError] = []
        values: dict[str, Any] = {}
        for key, raw in mapping.items():
            if key not in hints:
                problems.append(FieldError(str(key), raw, _unknown_rule(str(key), list(hints), "setting")))
                continue
            options = _options(hints[key])
            if raw is None and type(None) not in options:
                continue  # the default (or, for entry_point, "required" below)
            value, rule = _coerce(raw, options)
            if rule:
                problems.append(FieldError(key, raw, rule))
            else:
                values[key] = value
        spec = cls(**{"entry_point": "", **values})
        reported = {_top(problem.field) for problem in problems}
        problems.extend(problem for problem in spec.errors() if _top(problem.field) not in reported)
        if problems:
            raise ConfigValidationError(problems)
        return spec

    # ---------------------------------------------------------------- validation
    def errors(self) -> list[FieldError]:
        """Return every broken rule of this spec (empty when it is valid).

        Checks types, then the SageMaker rules: instance and volume limits, spot settings, ``s3://``
        URIs, channels, the entry point inside ``source_dir``, hyperparameter limits (counting the
        ones the framework adds), distribution strategies, metric definitions, environment, tags,
        VPC settings and the image's framework/Python version.
        """
        hints = _field_hints()
        problems: list[FieldError] = []
        typed_ok: set[str] = set()
        for name, hint in hints.items():
            value = getattr(self, name)
            options = _options(hint)
            if any(_matches(value, option) for option in options):
                typed_ok.add(name)
            else:
                problems.append(FieldError(name, value, f"must be {_describe(options)}"))

        def typed(*names: str) -> bool:
            return all(name in typed_ok for name in names)

        checks: list[tuple[tuple[str, ...], Callable[[], list[FieldError]]]] = [
            (("entry_point", "source_dir"), self._code_errors),
            (("image_uri", "framework_version", "py_version"), self._image_errors),
            (("instance_type",), self._instance_type_errors),
            (("instance_count", "volume_size", "max_run", "max_retry_attempts"), self._number_errors),
            (("use_spot_instances", "max_wait", "max_run"), self._spot_errors),
            (
                ("output_path", "checkpoint_s3_uri", "checkpoint_local_path", "code_location"),
                self._uri_errors,
            ),
            (("inputs", "input_mode"), self._input_errors),
            (("hyperparameters", "entry_point", "source_dir", "distribution", "model_dir"), self._hp_errors),
            (("distribution", "framework_version"), self._distribution_errors),
            (("metric_definitions",), self._metric_errors),
            (("environment",), self._environment_errors),
            (("tags",), self._tag_errors),
            (("subnets", "security_group_ids"), self._vpc_errors),
            (("model_dir",), self._model_dir_errors),
        ]
        for needed, check in checks:
            if typed(*needed):
                problems.extend(check())
        return problems

    def _code_errors(self) -> list[FieldError]:
        entry_point, source_dir = self.entry_point, self.source_dir
        if not entry_point.strip():
            return [FieldError("entry_point", entry_point, "required: the training script to run")]
        if source_dir is None:
            if not os.path.isfile(entry_point):
                rule = "file not found; without source_dir the entry point must be an existing local file"
                return [FieldError("entry_point", entry_point, rule)]
            return []
        inside = "must be a path inside source_dir (relative, no '..' escaping it)"
        if source_dir.startswith("s3://"):
            problems = _s3_problems("source_dir", source_dir)
            if os.path.isabs(entry_point) or ".." in entry_point.replace("\\", "/").split("/"):
                problems.append(FieldError("entry_point", entry_point, inside))
            return problems
        if not os.path.isdir(source_dir):
            return [FieldError("source_dir", source_dir, "directory not found")]
        root = os.path.abspath(source_dir)
        target = os.path.normpath(os.path.join(root, entry_point))
        if os.path.isabs(entry_point) or os.path.commonpath([root, target]) != root:
            return [FieldError("entry_point", entry_point, inside)]
        if not os.path.isfile(target):
            return [FieldError("entry_point", entry_point, f"no such file in source_dir {source_dir!r}")]
        return []

    def _image_errors(self) -> list[FieldError]:
        from airflow_tf_sm import images

        if self.image_uri is not None:
            if not self.image_uri.strip():
                return [FieldError("image_uri", self.image_uri, "must not be empty")]
            return []
        try:
            images.tag_py_version(self.framework_version, self.py_version)
        except UnknownFrameworkVersionError as exc:
            return [FieldError("framework_version", self.framework_version, str(exc).split(" -- ", 1)[-1])]
        except ConfigValidationError as exc:
            return exc.errors
        return []

    def _instance_type_errors(self) -> list[FieldError]:
        from airflow_tf_sm import images

        try:
            images.processor_for(self.instance_type)
        except ConfigValidationError as exc:
            return exc.errors
        return []

    def _number_errors(self) -> list[FieldError]:
        problems = [
            FieldError(name, getattr(self, name), "must be at least 1")
            for name in ("instance_count", "volume_size", "max_run")
            if getattr(self, name) < 1
        ]
        retries = self.max_retry_attempts
        if retries is not None and not 1 <= retries <= MAX_RETRY_ATTEMPTS:
            problems.append(FieldError("max_retry_attempts", retries, f"must be 1-{MAX_RETRY_ATTEMPTS}"))
        return problems

    def _spot_errors(self) -> list[FieldError]:
        if not self.use_spot_instances:
            if self.max_wait is not None:
                return [FieldError("max_wait", self.max_wait, "only valid with use_spot_instances=True")]
            return []
        if self.max_wait is None:
            rule = f"required with use_spot_instances: seconds to wait, >= max_run ({self.max_run})"
            return [FieldError("max_wait", None, rule)]
        if self.max_wait < self.max_run:
            rule = f"must be >= max_run ({self.max_run}) for spot training"
            return [FieldError("max_wait", self.max_wait, rule)]
        return []

    def _uri_errors(self) -> list[FieldError]:
        if self.output_path is None:
            problems = [FieldError("output_path", None, "required: the s3:// prefix for the job's output")]
        else:
            problems = _s3_problems("output_path", self.output_path)
        for name in ("checkpoint_s3_uri", "code_location"):
            value = getattr(self, name)
            if value is not None:
                problems.extend(_s3_problems(name, value))
        if self.checkpoint_local_path is not None and self.checkpoint_s3_uri is None:
            rule = "only valid together with checkpoint_s3_uri"
            problems.append(FieldError("checkpoint_local_path", self.checkpoint_local_path, rule))
        return problems

    def _input_errors(self) -> list[FieldError]:
        problems = []
        if self.input_mode not in INPUT_MODES:
            problems.append(
                FieldError("input_mode", self.input_mode, f"must be one of {', '.join(INPUT_MODES)}")
            )
        inputs = self.inputs
        if isinstance(inputs, str):
            problems.extend(_s3_problems("inputs", inputs))
        elif isinstance(inputs, Mapping):
            if len(inputs) > MAX_CHANNELS:
                problems.append(FieldError("inputs", len(inputs), f"at most {MAX_CHANNELS} channels"))
            for name, source in inputs.items():
                problems.extend(_channel_errors(name, source))
        return problems

    def _hp_errors(self) -> list[FieldError]:
        problems = []
        for key, value in self.hyperparameters.items():
            where = f"hyperparameters.{key}"
            if not isinstance(key, str):
                problems.append(FieldError(where, key, "names must be strings"))
                continue
            if key.startswith(RESERVED_PREFIX):
                rule = f"names starting with {RESERVED_PREFIX!r} are reserved for the framework"
                problems.append(FieldError(where, value, rule))
            elif key == HP_MODEL_DIR and self.model_dir is not False:
                rule = "set by the model_dir setting: use model_dir=... (or model_dir=False to pass your own)"
                problems.append(FieldError(where, value, rule))
            if len(key) > MAX_HYPERPARAMETER_KEY:
                problems.append(
                    FieldError(where, key, f"name longer than {MAX_HYPERPARAMETER_KEY} characters")
                )
            try:
                encoded = json.dumps(value)
            except (TypeError, ValueError):
                problems.append(FieldError(where, value, "must be JSON-serializable"))
                continue
            if len(encoded) > MAX_HYPERPARAMETER_VALUE:
                rule = f"JSON-encoded value longer than {MAX_HYPERPARAMETER_VALUE} characters"
                problems.append(FieldError(where, value, rule))
        added = self._framework_hyperparameters("job", "s3://bucket/sourcedir.tar.gz", "region")
        total = len({str(key) for key in self.hyperparameters} | set(added))
        if total > MAX_HYPERPARAMETERS:
            rule = (
                f"at most {MAX_HYPERPARAMETERS} hyperparameters in total, including the {len(added)} "
                f"the framework adds ({', '.join(added)})"
            )
            problems.append(FieldError("hyperparameters", total, rule))
        return problems

    def _distribution_errors(self) -> list[FieldError]:
        distribution = self.distribution or {}
        problems = []
        for name, settings in distribution.items():
            where = f"distribution.{name}"
            if name not in DISTRIBUTION_SETTINGS:
                problems.append(
                    FieldError(where, settings, _unknown_rule(name, list(DISTRIBUTION_SETTINGS), "strategy"))
                )
                continue
            if not isinstance(settings, Mapping):
                problems.append(FieldError(where, settings, 'must be a mapping like {"enabled": true}'))
                continue
            allowed = DISTRIBUTION_SETTINGS[name]
            for key, value in settings.items():
                if key not in allowed:
                    problems.append(
                        FieldError(f"{where}.{key}", value, _unknown_rule(str(key), list(allowed), "key"))
                    )
            if not isinstance(settings.get("enabled", False), bool):
                problems.append(FieldError(f"{where}.enabled", settings["enabled"], "must be true or false"))
        mpi = distribution.get("mpi")
        if isinstance(mpi, Mapping):
            processes = mpi.get("processes_per_host")
            if processes is not None and (not _matches(processes, int) or processes < 1):
                problems.append(
                    FieldError("distribution.mpi.processes_per_host", processes, "must be an integer >= 1")
                )
            options = mpi.get("custom_mpi_options")
            if options is not None and not isinstance(options, str):
                problems.append(
                    FieldError("distribution.mpi.custom_mpi_options", options, "must be a string")
                )
        enabled = [
            name
            for name in DISTRIBUTION_SETTINGS
            if isinstance(distribution.get(name), Mapping) and distribution[name].get("enabled") is True
        ]
        if len(enabled) > 1:
            if "mpi" in enabled:
                rule = "parameter_server and multi_worker_mirrored_strategy cannot be combined with mpi"
            else:
                rule = "at most one distribution strategy can be enabled"
            problems.append(FieldError("distribution", enabled, rule))
        if "multi_worker_mirrored_strategy" in enabled:
            version = _version_tuple(self.framework_version)
            if version is None or version < MWMS_MIN_VERSION:
                minimum = ".".join(map(str, MWMS_MIN_VERSION))
                rule = f"needs framework_version >= {minimum} (got {self.framework_version})"
                problems.append(FieldError("distribution.multi_worker_mirrored_strategy", True, rule))
        return problems

    def _metric_errors(self) -> list[FieldError]:
        problems = []
        for index, definition in enumerate(self.metric_definitions):
            where = f"metric_definitions[{index}]"
            if not isinstance(definition, Mapping):
                problems.append(
                    FieldError(where, definition, 'must be a mapping {"Name": ..., "Regex": ...}')
                )
                continue
            for key in definition:
                if key not in ("Name", "Regex"):
                    problems.append(
                        FieldError(f"{where}.{key}", definition[key], "unknown key; use Name and Regex")
                    )
            name, regex = definition.get("Name"), definition.get("Regex")
            if not isinstance(name, str) or not name:
                problems.append(FieldError(f"{where}.Name", name, "required: a non-empty string"))
            if not isinstance(regex, str) or not regex:
                problems.append(FieldError(f"{where}.Regex", regex, "required: a regular expression"))
                continue
            try:
                re.compile(regex)
            except re.error as exc:
                problems.append(FieldError(f"{where}.Regex", regex, f"not a valid regular expression: {exc}"))
        return problems

    def _environment_errors(self) -> list[FieldError]:
        return [
            FieldError(
                f"environment.{key}", value, "names and values must be strings (quote numbers and booleans)"
            )
            for key, value in self.environment.items()
            if not isinstance(key, str) or not isinstance(value, str)
        ]

    def _tag_errors(self) -> list[FieldError]:
        problems = []
        pairs = _tag_pairs(self.tags)
        if len(pairs) > MAX_TAGS:
            problems.append(FieldError("tags", len(pairs), f"at most {MAX_TAGS} tags"))
        for index, (key, value) in enumerate(pairs):
            where = f"tags.{key}" if isinstance(self.tags, Mapping) else f"tags[{index}]"
            if not isinstance(self.tags, Mapping):
                item = self.tags[index]
                if not isinstance(item, Mapping) or set(item) != {"Key", "Value"}:
                    problems.append(FieldError(where, item, 'must be {"Key": ..., "Value": ...}'))
                    continue
            if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY:
                problems.append(
                    FieldError(where, key, f"tag keys must be strings of 1-{MAX_TAG_KEY} characters")
                )
            if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
                rule = f"tag values must be strings of at most {MAX_TAG_VALUE} characters"
                problems.append(FieldError(where, value, rule))
        return problems

    def _vpc_errors(self) -> list[FieldError]:
        problems = []
        if (self.subnets is None) != (self.security_group_ids is None):
            given = "subnets" if self.subnets is not None else "security_group_ids"
            rule = "subnets and security_group_ids must be given together"
            problems.append(FieldError(given, getattr(self, given), rule))
        for name in ("subnets", "security_group_ids"):
            ids = getattr(self, name)
            if ids is not None and (not ids or not all(isinstance(item, str) and item for item in ids)):
                problems.append(FieldError(name, ids, "must be a non-empty list of id strings"))
        return problems

    def _model_dir_errors(self) -> list[FieldError]:
        if self.model_dir is True:
            return [
                FieldError("model_dir", True, "must be a path/URI string, or false to not pass model_dir")
            ]
        return []

    # ------------------------------------------------------------------ request
    def code_prefix(self) -> str:
        """Return the ``s3://`` prefix for the staged code: ``code_location`` or ``<output_path>/code``.

        Raises:
            ConfigValidationError: when neither ``code_location`` nor ``output_path`` is set.
        """
        if self.code_location:
            return self.code_location.rstrip("/")
        if not self.output_path:
            raise ConfigValidationError(
                [FieldError("output_path", None, "required: the s3:// output prefix")]
            )
        return f"{self.output_path.rstrip('/')}/code"

    def to_request(
        self,
        job_name: str,
        code_uri: str,
        region: str,
        *,
        role: str | None = None,
        image_uri: str | None = None,
        extra_tags: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Return the CreateTrainingJob request the SageMaker SDK v2 sends for this TensorFlow estimator.

        Args:
            job_name: The training job name (also ``sagemaker_job_name`` and part of ``model_dir``).
            code_uri: ``s3://`` URI of the staged ``sourcedir.tar.gz``.
            region: Region of the job (``sagemaker_region``; picks the image account).
            role: Role ARN; wins over ``spec.role``.
            image_uri: Training image; wins over ``spec.image_uri`` and the SageMaker TensorFlow image.
            extra_tags: Tags added to the spec's tags (they win on equal keys).

        Raises:
            ConfigValidationError: the spec breaks a rule, or no role is given.
        """
        from airflow_tf_sm import images

        problems = self.errors()
        role_arn = role or self.role
        if not role_arn:
            problems.append(FieldError("role", None, "required: the IAM role ARN the training job runs as"))
        tags: dict[str, str] = {**dict(_tag_pairs(self.tags)), **dict(extra_tags or {})}
        if len(tags) > MAX_TAGS and len(_tag_pairs(self.tags)) <= MAX_TAGS:
            rule = f"at most {MAX_TAGS} tags, including the {len(extra_tags or {})} added for the task"
            problems.append(FieldError("tags", len(tags), rule))
        if problems:
            raise ConfigValidationError(problems)

        training_image = (
            image_uri
            or self.image_uri
            or images.image_uri(
                self.framework_version, region, self.instance_type, py_version=self.py_version
            )
        )
        algorithm: dict[str, Any] = {"TrainingImage": training_image, "TrainingInputMode": self.input_mode}
        if self.metric_definitions:
            algorithm["MetricDefinitions"] = [dict(definition) for definition in self.metric_definitions]
        metrics = self._sagemaker_metrics()
        if metrics is not None:
            algorithm["EnableSageMakerMetricsTimeSeries"] = metrics

        output: dict[str, Any] = {"S3OutputPath": self.output_path}
        if self.output_kms_key:
            output["KmsKeyId"] = self.output_kms_key
        resources: dict[str, Any] = {
            "InstanceType": self.instance_type,
            "InstanceCount": self.instance_count,
            "VolumeSizeInGB": self.volume_size,
        }
        if self.volume_kms_key:
            resources["VolumeKmsKeyId"] = self.volume_kms_key
        stopping: dict[str, Any] = {"MaxRuntimeInSeconds": self.max_run}
        if self.max_wait is not None:
            stopping["MaxWaitTimeInSeconds"] = self.max_wait

        hyperparameters = json_encode_hyperparameters(self.hyperparameters)
        hyperparameters.update(
            json_encode_hyperparameters(self._framework_hyperparameters(job_name, code_uri, region))
        )

        request: dict[str, Any] = {
            "TrainingJobName": job_name,
            "AlgorithmSpecification": algorithm,
            "RoleArn": role_arn,
            "OutputDataConfig": output,
            "ResourceConfig": resources,
            "StoppingCondition": stopping,
            "HyperParameters": hyperparameters,
        }
        channels = self._input_data_config()
        if channels:
            request["InputDataConfig"] = channels
        if self.environment:
            request["Environment"] = dict(self.environment)
        if tags:
            request["Tags"] = [{"Key": key, "Value": value} for key, value in tags.items()]
        if self.subnets is not None and self.security_group_ids is not None:
            request["VpcConfig"] = {
                "Subnets": list(self.subnets),
                "SecurityGroupIds": list(self.security_group_ids),
            }
        if self.enable_network_isolation:
            request["EnableNetworkIsolation"] = True
        if self.encrypt_inter_container_traffic:
            request["EnableInterContainerTrafficEncryption"] = True
        if self.use_spot_instances:
            request["EnableManagedSpotTraining"] = True
        if self.checkpoint_s3_uri:
            checkpoint = {"S3Uri": self.checkpoint_s3_uri}
            if self.checkpoint_local_path:
                checkpoint["LocalPath"] = self.checkpoint_local_path
            request["CheckpointConfig"] = checkpoint
        if self.max_retry_attempts is not None:
            request["RetryStrategy"] = {"MaximumRetryAttempts": self.max_retry_attempts}
        return _deep_merge(request, self.request_overrides)

    def _framework_hyperparameters(self, job_name: str, code_uri: str, region: str) -> dict[str, Any]:
        """Return the hyperparameters TensorFlow script mode adds (values not yet JSON-encoded)."""
        program = self.entry_point if self.source_dir else os.path.basename(self.entry_point)
        added: dict[str, Any] = {
            HP_PROGRAM: program,
            HP_SUBMIT_DIRECTORY: code_uri,
            HP_LOG_LEVEL: self.container_log_level,
            HP_JOB_NAME: job_name,
            HP_REGION: region,
        }
        distribution = self.distribution if isinstance(self.distribution, Mapping) else {}
        for name, key in (
            ("parameter_server", HP_PARAMETER_SERVER),
            ("multi_worker_mirrored_strategy", HP_MWMS),
        ):
            if isinstance(distribution.get(name), Mapping):
                added[key] = distribution[name].get("enabled", False)
        mpi = distribution.get("mpi")
        mpi_enabled = False
        if isinstance(mpi, Mapping):
            mpi_enabled = mpi.get("enabled", False) is True
            added[HP_MPI] = mpi.get("enabled", False)
            if mpi.get("processes_per_host"):
                added[HP_MPI_PROCESSES] = mpi["processes_per_host"]
            added[HP_MPI_OPTIONS] = mpi.get("custom_mpi_options", "")
        if self.model_dir is not False:
            if isinstance(self.model_dir, str) and self.model_dir:
                added[HP_MODEL_DIR] = self.model_dir
            elif mpi_enabled:
                added[HP_MODEL_DIR] = MPI_MODEL_DIR
            else:
                added[HP_MODEL_DIR] = f"{(self.output_path or '').rstrip('/')}/{job_name}/model"
        return added

    def _sagemaker_metrics(self) -> bool | None:
        if self.enable_sagemaker_metrics is not None:
            return self.enable_sagemaker_metrics
        version = _version_tuple(self.framework_version)
        return True if version is not None and version >= METRICS_MIN_VERSION else None

    def _input_data_config(self) -> list[dict[str, Any]]:
        if self.inputs is None:
            return []
        if isinstance(self.inputs, str):
            return [_channel("training", self.inputs)]
        return [_channel(name, source) for name, source in self.inputs.items()]


# ---------------------------------------------------------------------- helpers
def _field_hints() -> dict[str, Any]:
    """Return field name -> type hint, in field order."""
    hints = typing.get_type_hints(TrainingJobSpec)
    return {spec_field.name: hints[spec_field.name] for spec_field in dataclasses.fields(TrainingJobSpec)}


def _options(hint: Any) -> tuple[Any, ...]:
    """Return the alternatives of a union hint (or the hint alone)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _container_kind(hint: Any) -> str | None:
    origin = typing.get_origin(hint) or hint
    if not isinstance(origin, type) or origin is str:
        return None
    if issubclass(origin, Mapping):
        return "mapping"
    if issubclass(origin, Sequence):
        return "list"
    return None


def _matches(value: Any, hint: Any) -> bool:
    """Return whether ``value`` has the (outer) type ``hint`` names; bools are not integers here."""
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    kind = _container_kind(hint)
    if kind == "mapping":
        return isinstance(value, Mapping)
    if kind == "list":
        return isinstance(value, (list, tuple))
    return False


def _describe(options: Sequence[Any]) -> str:
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string", type(None): "null"}
    words = []
    for option in options:
        kind = _container_kind(option)
        words.append(
            names.get(option) or {"mapping": "a mapping", "list": "a list"}.get(kind or "", str(option))
        )
    return " or ".join(words)


def _coerce(value: Any, options: Sequence[Any]) -> tuple[Any, str | None]:
    """Coerce ``value`` to one of the typed ``options``; return (value, None) or (value, broken rule)."""
    if isinstance(value, str):
        converted = _from_text(value, options)
        if converted is not _NO_VALUE:
            return converted, None
    if any(_matches(value, option) for option in options):
        return value, None
    if isinstance(value, float) and value.is_integer() and int in options:
        return int(value), None
    return value, f"must be {_describe(options)}"


def _from_text(text: str, options: Sequence[Any]) -> Any:
    """Read a scalar, null or JSON container out of text when the options allow it (else _NO_VALUE)."""
    word = text.strip().lower()
    if bool in options and word in ("true", "false"):
        return word == "true"
    if str in options:
        return text
    if type(None) in options and word in ("", "none", "null"):
        return None
    if int in options and _INT_TEXT_RE.match(word):
        return int(word)
    if float in options:
        try:
            return float(word)
        except ValueError:
            pass
    if word.startswith(("{", "[")) and any(_container_kind(option) for option in options):
        try:
            loaded = json.loads(text)
        except ValueError:
            return _NO_VALUE
        if any(_matches(loaded, option) for option in options):
            return loaded
    return _NO_VALUE


def _top(field_name: str) -> str:
    return re.split(r"[.\[]", field_name, maxsplit=1)[0]


def _unknown_rule(name: str, known: Sequence[str], what: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(match) for match in close)}? " if close else ""
    return f"unknown {what}; {hint}known: {', '.join(known)}"


def _version_tuple(version: str) -> tuple[int, ...] | None:
    parts = str(version).strip().split(".")
    if not all(part.isdigit() for part in parts):
        return None
    return tuple(int(part) for part in parts)


def _s3_problems(name: str, value: Any) -> list[FieldError]:
    """Return the problems of an ``s3://bucket/key`` URI setting (empty when fine)."""
    if not isinstance(value, str):
        return [FieldError(name, value, "must be an s3://bucket/key URI string")]
    match = _S3_URI_RE.match(value)
    if match is None:
        if "://" not in value or value.startswith("file://"):
            rule = (
                "is a local path; local paths are not supported, use an s3://bucket/key URI "
                "(the local backend keeps s3:// URIs in its own object store)"
            )
        else:
            rule = "must be an s3://bucket/key URI"
        return [FieldError(name, value, rule)]
    if not _BUCKET_RE.match(match.group(1)):
        rule = "bucket name must be 3-63 lowercase letters, digits, dots or hyphens"
        return [FieldError(name, value, rule)]
    return []


def _channel_errors(name: Any, source: Any) -> list[FieldError]:
    where = f"inputs.{name}"
    problems = []
    if not isinstance(name, str) or not _CHANNEL_NAME_RE.match(name):
        problems.append(FieldError(where, name, "channel names are 1-64 letters, digits, '.', '-' or '_'"))
    if isinstance(source, str):
        return problems + _s3_problems(where, source)
    if not isinstance(source, Mapping):
        return [*problems, FieldError(where, source, "must be an s3:// URI or a mapping of channel settings")]
    for key, value in source.items():
        if key not in CHANNEL_SETTINGS:
            problems.append(
                FieldError(f"{where}.{key}", value, _unknown_rule(str(key), list(CHANNEL_SETTINGS), "key"))
            )
            continue
        choices = CHANNEL_SETTINGS[key]
        if choices is not None and value is not None and value not in choices:
            problems.append(FieldError(f"{where}.{key}", value, f"must be one of {', '.join(choices)}"))
    if "s3_data" not in source:
        problems.append(FieldError(f"{where}.s3_data", None, "required: the s3:// URI of the channel's data"))
    else:
        problems.extend(_s3_problems(f"{where}.s3_data", source["s3_data"]))
    content_type = source.get("content_type")
    if content_type is not None and not isinstance(content_type, str):
        problems.append(FieldError(f"{where}.content_type", content_type, "must be a string"))
    seed = source.get("shuffle_config")
    if seed is not None and not _matches(seed, int):
        problems.append(FieldError(f"{where}.shuffle_config", seed, "must be an integer seed"))
    names = source.get("attribute_names")
    if names is not None and (
        not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names)
    ):
        problems.append(FieldError(f"{where}.attribute_names", names, "must be a list of strings"))
    return problems


def _channel(name: str, source: str | Mapping[str, Any]) -> dict[str, Any]:
    """Return one InputDataConfig entry, exactly as the SDK's ``TrainingInput`` builds it."""
    settings: Mapping[str, Any] = {"s3_data": source} if isinstance(source, str) else source
    s3_source: dict[str, Any] = {
        "S3DataType": settings.get("s3_data_type") or "S3Prefix",
        "S3Uri": settings["s3_data"],
        "S3DataDistributionType": settings.get("distribution") or "FullyReplicated",
    }
    if settings.get("attribute_names") is not None:
        s3_source["AttributeNames"] = list(settings["attribute_names"])
    channel: dict[str, Any] = {"ChannelName": name, "DataSource": {"S3DataSource": s3_source}}
    for key, api_key in _CHANNEL_API_KEYS.items():
        if settings.get(key) is not None:
            channel[api_key] = settings[key]
    if settings.get("shuffle_config") is not None:
        channel["ShuffleConfig"] = {"Seed": settings["shuffle_config"]}
    return channel


def _tag_pairs(tags: Mapping[str, str] | Sequence[Mapping[str, str]]) -> list[tuple[Any, Any]]:
    if isinstance(tags, Mapping):
        return list(tags.items())
    return [(tag.get("Key"), tag.get("Value")) if isinstance(tag, Mapping) else (None, None) for tag in tags]


def _deep_merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``overrides`` into ``base`` in place: mappings merge recursively, other values replace."""
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base

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

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from airflow_tf_sm.exceptions import ConfigValidationError, FieldError, UnknownFrameworkVersionError
from airflow_tf_sm.sagemaker import fields
from airflow_tf_sm.sagemaker.fields import deep_merge, s3_uri_errors, version_tuple
from airflow_tf_sm.sagemaker.hyperparameters import (
    HP_JOB_NAME,
    HP_LOG_LEVEL,
    HP_MODEL_DIR,
    HP_PROGRAM,
    HP_REGION,
    HP_SUBMIT_DIRECTORY,
    MPI_MODEL_DIR,
    RESERVED_PREFIX,
    json_encode_hyperparameters,
)
from airflow_tf_sm.sagemaker.limits import (
    ENVIRONMENT_NAME_PATTERN,
    MAX_CHANNELS,
    MAX_ENVIRONMENT_ENTRIES,
    MAX_ENVIRONMENT_VALUE_LEN,
    MAX_HYPERPARAMETER_KEY_LEN,
    MAX_HYPERPARAMETER_VALUE_LEN,
    MAX_HYPERPARAMETERS,
    MAX_INSTANCE_COUNT,
    MAX_RETRY_ATTEMPTS,
    MAX_TAGS,
)
from airflow_tf_sm.sagemaker.tags import Tags, tag_errors, tag_pairs
from airflow_tf_sm.training import debugging, resources
from airflow_tf_sm.training.channels import INPUT_MODES, channel_errors, input_data_config, model_channel
from airflow_tf_sm.training.channels import model_channel_errors as channel_errors_of_model
from airflow_tf_sm.training.distribution import (
    distribution_errors,
    distribution_hyperparameters,
)

__all__ = ["TrainingJobSpec", "json_encode_hyperparameters"]

#: The SDK turns on SageMaker metrics time series for TensorFlow >= 1.15 unless told otherwise.
METRICS_MIN_VERSION = (1, 15)

#: Settings that ``instance_groups`` replaces, and their defaults.
SINGLE_TYPE_FIELDS = ("instance_type", "instance_count")
SINGLE_DEFAULTS: dict[str, Any] = {
    "instance_type": resources.DEFAULT_INSTANCE_TYPE,
    "instance_count": resources.DEFAULT_INSTANCE_COUNT,
}


class RequestOptions(TypedDict, total=False):
    """What :meth:`TrainingJobSpec.to_request` takes besides the name, code and region (all optional)."""

    role: str | None
    image_uri: str | None
    extra_tags: Mapping[str, str] | None


@dataclass(frozen=True)
class TrainingJobSpec:
    """A TensorFlow script-mode training job, in the SageMaker SDK TensorFlow estimator vocabulary.

    Mappings and lists are copied when the spec is built, so the spec never shares state with its
    input. Build it with :meth:`from_mapping` (coerces and validates) or directly (then call
    :meth:`errors`).

    Attributes:
        entry_point: Training script; relative to ``source_dir`` when that is set, else a local file.
        source_dir: Local directory (or ``s3://`` tarball) with the code; None: the entry point alone.
        dependencies: Extra local directories packed next to the code, each under its own name.
        framework_version: TensorFlow version (``2.19.0`` or ``2.19``); picks the training image.
        py_version: Python version of the image (default: the only one offered).
        image_uri: Training image; None picks the SageMaker TensorFlow image.
        training_repository_access_mode: How the image is pulled: ``Platform`` or ``Vpc`` (None: not sent).
        role: IAM role ARN for the job (may also be given to :meth:`to_request`).
        instance_type: ``ml.*`` instance type (on the local backend too: it picks the image).
        instance_count: Number of instances.
        instance_groups: A heterogeneous cluster instead of ``instance_type`` x ``instance_count``: 1-5
            ``{"instance_group_name", "instance_type", "instance_count"}`` (the SDK's ``InstanceGroup``).
        volume_size: EBS volume size in GB.
        volume_kms_key: KMS key for the volume.
        keep_alive_period_in_seconds: Keep the instances in a warm pool this long after the job (0-21600).
        max_run: Maximum run time in seconds.
        use_spot_instances: Managed spot training (needs ``max_wait``).
        max_wait: Maximum wait time in seconds for spot training (>= ``max_run``).
        checkpoint_s3_uri: S3 URI synced with the container's checkpoint directory.
        checkpoint_local_path: Checkpoint directory in the container (SageMaker default when None).
        hyperparameters: User hyperparameters (any JSON-serializable values).
        inputs: One ``s3://`` URI (channel ``training``) or channel name -> URI or channel settings
            (:data:`CHANNEL_SETTINGS`).
        input_mode: Default input mode: ``File``, ``Pipe`` or ``FastFile``.
        model_uri: ``s3://`` URI of a pre-trained model, given to the job as an input channel.
        model_channel_name: Name of that channel (default ``model``).
        output_path: ``s3://`` prefix for the job's output (required).
        output_kms_key: KMS key for the output.
        code_location: ``s3://`` prefix for the staged code (default ``<output_path>/code``).
        metric_definitions: ``[{"Name": ..., "Regex": ...}]`` applied to the job's log.
        environment: Environment variables of the container (string values).
        tags: ``{key: value}`` or ``[{"Key": ..., "Value": ...}]``.
        subnets: VPC subnet ids (with ``security_group_ids``).
        security_group_ids: VPC security group ids (with ``subnets``).
        distribution: Strategy (``parameter_server``, ``mpi``, ``multi_worker_mirrored_strategy``) ->
            ``{"enabled": bool, ...}``; ``instance_groups``: the group names the strategy runs on.
        container_log_level: Python log level of the container (20 = INFO).
        model_dir: ``model_dir`` hyperparameter; None: ``<output_path>/<job>/model``; False: not passed.
        enable_network_isolation: Run the container without network access.
        encrypt_inter_container_traffic: Encrypt traffic between instances.
        enable_sagemaker_metrics: Metrics time series; None: on for TensorFlow >= 1.15, like the SDK.
        disable_profiler: Send ``ProfilerConfig {"DisableProfiler": true}``.
        profiler_config: The SDK's ``ProfilerConfig`` settings (``s3_output_path``,
            ``system_monitor_interval_millis``, ``disable_profiler``); None: no ProfilerConfig is sent.
        debugger_hook_config: The SDK's ``DebuggerHookConfig`` settings (``s3_output_path``,
            ``container_local_output_path``, ``hook_parameters``, ``collection_configs``); None/False: none sent.
        max_retry_attempts: SageMaker-side retries of the job (1-30).
        job_name: Base name for the job (made safe by ``names``).
        request_overrides: Deep-merged into the request last (dicts merge, other values replace).
    """

    entry_point: str
    source_dir: str | None = None
    dependencies: Sequence[str] = field(default_factory=list)
    framework_version: str = "2.19.0"
    py_version: str | None = None
    image_uri: str | None = None
    training_repository_access_mode: str | None = None
    role: str | None = None
    instance_type: str = resources.DEFAULT_INSTANCE_TYPE
    instance_count: int = resources.DEFAULT_INSTANCE_COUNT
    instance_groups: Sequence[Mapping[str, Any]] | None = None
    volume_size: int = 30
    volume_kms_key: str | None = None
    keep_alive_period_in_seconds: int | None = None
    max_run: int = 86400
    use_spot_instances: bool = False
    max_wait: int | None = None
    checkpoint_s3_uri: str | None = None
    checkpoint_local_path: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    inputs: str | Mapping[str, str | Mapping[str, Any]] | None = None
    input_mode: str = "File"
    model_uri: str | None = None
    model_channel_name: str | None = None
    output_path: str | None = None
    output_kms_key: str | None = None
    code_location: str | None = None
    metric_definitions: Sequence[Mapping[str, str]] = field(default_factory=list)
    environment: Mapping[str, str] = field(default_factory=dict)
    tags: Tags = field(default_factory=dict)
    subnets: Sequence[str] | None = None
    security_group_ids: Sequence[str] | None = None
    distribution: Mapping[str, Any] | None = None
    container_log_level: int = 20
    model_dir: str | bool | None = None
    enable_network_isolation: bool = False
    encrypt_inter_container_traffic: bool = False
    enable_sagemaker_metrics: bool | None = None
    disable_profiler: bool = False
    profiler_config: Mapping[str, Any] | None = None
    debugger_hook_config: Mapping[str, Any] | bool | None = None
    max_retry_attempts: int | None = None
    job_name: str | None = None
    request_overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fields.copy_containers(self)
        object.__setattr__(self, "_checked", False)

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

        def errors(spec: TrainingJobSpec) -> list[FieldError]:
            given = (
                []
                if not isinstance(mapping, Mapping)
                else [k for k in SINGLE_TYPE_FIELDS if mapping.get(k) is not None]
            )
            return spec.errors(given)

        spec = fields.build(
            cls, mapping, required={"entry_point": ""}, errors=errors, what="training job configuration"
        )
        object.__setattr__(spec, "_checked", True)  # to_request need not check it again
        return spec

    # ---------------------------------------------------------------- validation
    def errors(self, given: Sequence[str] = ()) -> list[FieldError]:
        """Return every broken rule of this spec (empty when it is valid).

        Checks types, then the SageMaker rules: instance and volume limits, instance groups, spot settings,
        ``s3://`` URIs, channels (the model channel too), the entry point inside ``source_dir``, dependencies,
        hyperparameter limits (counting the ones the framework adds), distribution strategies, metric
        definitions, environment, tags, VPC settings, warm pools, the image's repository access, the
        debugger and profiler settings and the image's framework/Python version.

        Args:
            given: Settings known to be given explicitly (``from_mapping`` knows): ``instance_type`` or
                ``instance_count`` with ``instance_groups`` is an error even at its default value.
        """
        problems, typed_ok = fields.type_errors(self)

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
            (("instance_groups", "instance_type", "instance_count"), lambda: self._group_errors(given)),
            (("keep_alive_period_in_seconds",), lambda: resources.keep_alive_errors(self.keep_alive_period_in_seconds)),
            (("training_repository_access_mode", "subnets"), self._repository_errors),
            (("model_uri", "model_channel_name", "inputs"), self._model_channel_errors),
            (("source_dir", "entry_point", "dependencies"), self._dependency_errors),
            (
                ("disable_profiler", "profiler_config"),
                lambda: debugging.profiler_errors(self.disable_profiler, self.profiler_config),
            ),
            (("debugger_hook_config",), lambda: debugging.hook_errors(self.debugger_hook_config)),
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
            problems = s3_uri_errors("source_dir", source_dir)
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
        from airflow_tf_sm.sagemaker import images

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
        from airflow_tf_sm.sagemaker import images

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
        if self.instance_count > MAX_INSTANCE_COUNT:
            rule = f"must be at most {MAX_INSTANCE_COUNT:,} (instances of one training job)"
            problems.append(FieldError("instance_count", self.instance_count, rule))
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
            problems = s3_uri_errors("output_path", self.output_path)
        for name in ("checkpoint_s3_uri", "code_location"):
            value = getattr(self, name)
            if value is not None:
                problems.extend(s3_uri_errors(name, value))
        if self.checkpoint_local_path is not None and self.checkpoint_s3_uri is None:
            rule = "only valid together with checkpoint_s3_uri"
            problems.append(FieldError("checkpoint_local_path", self.checkpoint_local_path, rule))
        return problems

    def _input_errors(self) -> list[FieldError]:
        problems = []
        if self.input_mode not in INPUT_MODES:
            problems.append(FieldError("input_mode", self.input_mode, f"must be one of {', '.join(INPUT_MODES)}"))
        inputs = self.inputs
        if isinstance(inputs, str):
            problems.extend(s3_uri_errors("inputs", inputs))
        elif isinstance(inputs, Mapping):
            if len(inputs) > MAX_CHANNELS:
                problems.append(FieldError("inputs", len(inputs), f"at most {MAX_CHANNELS} channels"))
            for name, source in inputs.items():
                problems.extend(channel_errors(name, source))
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
            if len(key) > MAX_HYPERPARAMETER_KEY_LEN:
                problems.append(FieldError(where, key, f"name longer than {MAX_HYPERPARAMETER_KEY_LEN} characters"))
            try:
                encoded = json.dumps(value)
            except (TypeError, ValueError):
                problems.append(FieldError(where, value, "must be JSON-serializable"))
                continue
            if len(encoded) > MAX_HYPERPARAMETER_VALUE_LEN:
                rule = f"JSON-encoded value longer than {MAX_HYPERPARAMETER_VALUE_LEN} characters"
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
        groups = self.instance_groups if typed_groups(self) else None
        return distribution_errors(self.distribution or {}, self.framework_version, groups)

    def _metric_errors(self) -> list[FieldError]:
        problems = []
        for index, definition in enumerate(self.metric_definitions):
            where = f"metric_definitions[{index}]"
            if not isinstance(definition, Mapping):
                problems.append(FieldError(where, definition, 'must be a mapping {"Name": ..., "Regex": ...}'))
                continue
            for key in definition:
                if key not in ("Name", "Regex"):
                    problems.append(FieldError(f"{where}.{key}", definition[key], "unknown key; use Name and Regex"))
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
        return environment_errors(self.environment)

    def _tag_errors(self) -> list[FieldError]:
        return tag_errors(self.tags)

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
            return [FieldError("model_dir", True, "must be a path/URI string, or false to not pass model_dir")]
        return []

    def _group_errors(self, given: Sequence[str]) -> list[FieldError]:
        if self.instance_groups is None:
            return []
        explicit = {
            name: getattr(self, name)
            for name in SINGLE_TYPE_FIELDS
            if name in given or getattr(self, name) != SINGLE_DEFAULTS[name]
        }
        return resources.instance_group_errors(self.instance_groups, explicit)

    def _repository_errors(self) -> list[FieldError]:
        return resources.repository_access_errors(self.training_repository_access_mode, self.subnets is not None)

    def _model_channel_errors(self) -> list[FieldError]:
        problems = channel_errors_of_model(self.model_uri, self.model_channel_name, self.inputs)
        channels = (1 if isinstance(self.inputs, str) else len(self.inputs or {})) + (self.model_uri is not None)
        if self.model_uri is not None and channels > MAX_CHANNELS:
            problems.append(
                FieldError("model_uri", self.model_uri, f"at most {MAX_CHANNELS} channels, the model's included")
            )
        return problems

    def _dependency_errors(self) -> list[FieldError]:
        from airflow_tf_sm.training.code import dependency_errors

        return dependency_errors(self.source_dir, self.entry_point, self.dependencies)

    # ------------------------------------------------------------------ request
    def code_prefix(self) -> str:
        """Return the ``s3://`` prefix for the staged code: ``code_location`` or ``<output_path>/code``.

        Raises:
            ConfigValidationError: when neither ``code_location`` nor ``output_path`` is set.
        """
        if self.code_location:
            return self.code_location.rstrip("/")
        if not self.output_path:
            raise ConfigValidationError([FieldError("output_path", None, "required: the s3:// output prefix")])
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
            ConfigValidationError: the spec breaks a rule (checked here only for a spec not built by
                :meth:`from_mapping`, which checked it already), or no role is given.
        """
        from airflow_tf_sm.sagemaker import images

        problems = [] if getattr(self, "_checked", False) else self.errors()
        role_arn = role or self.role
        if not role_arn:
            problems.append(FieldError("role", None, "required: the IAM role ARN the training job runs as"))
        tags: dict[str, str] = {**dict(tag_pairs(self.tags)), **dict(extra_tags or {})}
        if len(tags) > MAX_TAGS and len(tag_pairs(self.tags)) <= MAX_TAGS:
            rule = f"at most {MAX_TAGS} tags, including the {len(extra_tags or {})} added for the task"
            problems.append(FieldError("tags", len(tags), rule))
        if problems:
            raise ConfigValidationError(problems)

        training_image = (
            image_uri
            or self.image_uri
            or images.image_uri(
                self.framework_version,
                region,
                resources.image_instance_type(self.instance_type, self.instance_groups),
                py_version=self.py_version,
            )
        )
        algorithm: dict[str, Any] = {"TrainingImage": training_image, "TrainingInputMode": self.input_mode}
        if self.metric_definitions:
            algorithm["MetricDefinitions"] = [dict(definition) for definition in self.metric_definitions]
        metrics = self._sagemaker_metrics()
        if metrics is not None:
            algorithm["EnableSageMakerMetricsTimeSeries"] = metrics
        image_config = resources.training_image_config(self.training_repository_access_mode)
        if image_config is not None:
            algorithm["TrainingImageConfig"] = image_config

        output: dict[str, Any] = {"S3OutputPath": self.output_path}
        if self.output_kms_key:
            output["KmsKeyId"] = self.output_kms_key
        resource_config = resources.resource_config(
            instance_type=self.instance_type,
            instance_count=self.instance_count,
            instance_groups=self.instance_groups,
            volume_size=self.volume_size,
            volume_kms_key=self.volume_kms_key,
            keep_alive_period_in_seconds=self.keep_alive_period_in_seconds,
        )
        stopping: dict[str, Any] = {"MaxRuntimeInSeconds": self.max_run}
        if self.max_wait is not None:
            stopping["MaxWaitTimeInSeconds"] = self.max_wait

        hyperparameters = json_encode_hyperparameters(self.hyperparameters)
        hyperparameters.update(json_encode_hyperparameters(self._framework_hyperparameters(job_name, code_uri, region)))

        request: dict[str, Any] = {
            "TrainingJobName": job_name,
            "AlgorithmSpecification": algorithm,
            "RoleArn": role_arn,
            "OutputDataConfig": output,
            "ResourceConfig": resource_config,
            "StoppingCondition": stopping,
            "HyperParameters": hyperparameters,
        }
        channels = input_data_config(self.inputs)
        if self.model_uri is not None:
            channels.append(model_channel(self.model_uri, self.model_channel_name))
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
        output_path = self.output_path or ""
        profiler = debugging.profiler_request(self.disable_profiler, self.profiler_config, output_path)
        if profiler is not None:
            request["ProfilerConfig"] = profiler
        hook = debugging.hook_request(self.debugger_hook_config, output_path)
        if hook is not None:
            request["DebugHookConfig"] = hook
        return deep_merge(request, self.request_overrides)

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
        added.update(distribution_hyperparameters(distribution))
        mpi = distribution.get("mpi")
        mpi_enabled = isinstance(mpi, Mapping) and mpi.get("enabled", False) is True
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
        version = version_tuple(self.framework_version)
        return True if version is not None and version >= METRICS_MIN_VERSION else None


def typed_groups(spec: TrainingJobSpec) -> bool:
    """Return whether ``spec.instance_groups`` is a list (its own rules report the rest)."""
    return spec.instance_groups is None or isinstance(spec.instance_groups, (list, tuple))


def environment_errors(environment: Mapping[Any, Any], field: str = "environment") -> list[FieldError]:
    """Return the problems of a training job's ``Environment`` (the API's rules, and no NUL character)."""
    problems = []
    if len(environment) > MAX_ENVIRONMENT_ENTRIES:
        problems.append(FieldError(field, len(environment), f"at most {MAX_ENVIRONMENT_ENTRIES} variables"))
    for key, value in environment.items():
        where = f"{field}.{key}"
        if not isinstance(key, str) or not isinstance(value, str):
            problems.append(FieldError(where, value, "names and values must be strings (quote numbers and booleans)"))
        elif not re.match(ENVIRONMENT_NAME_PATTERN, key):
            rule = "names are 1-512 letters, digits and '_', not starting with a digit (no '=', spaces or NUL)"
            problems.append(FieldError(field, key, rule))
        elif "\x00" in value:
            problems.append(FieldError(where, value, "values cannot contain a NUL character"))
        elif len(value) > MAX_ENVIRONMENT_VALUE_LEN:
            problems.append(FieldError(where, value, f"values are at most {MAX_ENVIRONMENT_VALUE_LEN} characters"))
    return problems

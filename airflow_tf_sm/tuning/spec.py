"""The hyperparameter tuning job specification, in the SageMaker SDK v2 ``HyperparameterTuner`` vocabulary.

:class:`TuningJobSpec` is a :class:`~airflow_tf_sm.training.spec.TrainingJobSpec` (the estimator: every
training field, checked by its own rules) plus the tuner's settings (``objective_metric_name``,
``hyperparameter_ranges``, ``strategy``, ``max_jobs``, ...). :meth:`TuningJobSpec.to_request` returns the
CreateHyperParameterTuningJob request the SDK v2 sends for the same TensorFlow estimator and tuner, with
one deliberate difference: the estimator's metric definitions stay in the TrainingJobDefinition (the
SDK keeps only the tuner's, which leaves a framework job's objective unreadable). Pure: no network,
no Airflow; the only I/O is the training spec's check that the entry point exists.

Example:
    >>> spec = TuningJobSpec.from_mapping(
    ...     {"entry_point": "train.py", "source_dir": "src", "output_path": "s3://bucket/out",
    ...      "metric_definitions": [{"Name": "val_accuracy", "Regex": "val_accuracy=([0-9.]+)"}],
    ...      "objective_metric_name": "val_accuracy",
    ...      "hyperparameter_ranges": {"learning-rate": ContinuousParameter(1e-4, 0.1, "Logarithmic")},
    ...      "max_jobs": 6, "max_parallel_jobs": 2}
    ... )  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.exceptions import ConfigValidationError, FieldError
from airflow_tf_sm.sagemaker import fields
from airflow_tf_sm.sagemaker.fields import deep_merge, unknown_rule
from airflow_tf_sm.sagemaker.hyperparameters import (
    EPOCH_HYPERPARAMETERS,
    HP_ESTIMATOR_CLASS,
    HP_ESTIMATOR_MODULE,
    TF_ESTIMATOR_CLASS,
    TF_ESTIMATOR_MODULE,
)
from airflow_tf_sm.sagemaker.limits import (
    MAX_HYPERBAND_RESOURCE,
    MAX_PARAMETER_RANGES,
    MAX_STATIC_HYPERPARAMETERS,
    MAX_TUNING_ENVIRONMENT,
    MAX_TUNING_RUNTIME,
    MAX_TUNING_TRAINING_JOBS,
    MAX_WARM_START_PARENTS,
    MIN_JOBS_NOT_IMPROVING,
    MIN_TUNING_RUNTIME,
)
from airflow_tf_sm.sagemaker.names import MAX_TUNING_NAME_LEN, is_valid_name, name_rule
from airflow_tf_sm.sagemaker.resources import TRAINING_DEFINITION_KEYS
from airflow_tf_sm.training.spec import TrainingJobSpec
from airflow_tf_sm.tuning.ranges import (
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    Range,
    grid_size,
    parse_ranges,
    ranges_request,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from airflow_tf_sm.training.spec import RequestOptions

__all__ = ["CategoricalParameter", "ContinuousParameter", "IntegerParameter", "TuningJobSpec"]

STRATEGIES = ("Bayesian", "Random", "Hyperband", "Grid")
OBJECTIVE_TYPES = ("Maximize", "Minimize")
EARLY_STOPPING_TYPES = ("Off", "Auto")
WARM_START_TYPES = ("IdenticalDataAndAlgorithm", "TransferLearning")
COMPLETION_KEYS = (
    "target_objective_metric_value",
    "max_number_of_training_jobs_not_improving",
    "complete_on_convergence",
)
HYPERBAND_KEYS = ("min_resource", "max_resource")
WARM_START_KEYS = ("warm_start_type", "parents")
#: The fields of the training spec (the estimator), every one a setting of a tuning job too.
TRAINING_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrainingJobSpec))

#: Estimator settings a TrainingJobDefinition cannot carry (CreateTrainingJob keys it does not have).
_NOT_IN_A_DEFINITION = {
    "disable_profiler": "ProfilerConfig",
    "profiler_config": "ProfilerConfig",
    "debugger_hook_config": "DebugHookConfig",
    "training_repository_access_mode": "AlgorithmSpecification.TrainingImageConfig",
}


@dataclass(frozen=True)
class TuningJobSpec:
    """A hyperparameter tuning job of a TensorFlow script-mode estimator (SDK ``HyperparameterTuner`` vocabulary).

    Build it with :meth:`from_mapping` (one flat mapping of every training field plus the tuning fields;
    coerces and validates) or directly from a :class:`TrainingJobSpec` (then call :meth:`errors`).

    Attributes:
        training: The estimator: every training setting. Its ``job_name`` is the tuning job's base name
            (32 characters at most), its ``request_overrides`` are merged into the tuning request.
        objective_metric_name: The metric to optimise: the ``Name`` of one of ``metric_definitions``.
        hyperparameter_ranges: Hyperparameter name -> range (a ``ContinuousParameter`` /
            ``IntegerParameter`` / ``CategoricalParameter``, or the same as a mapping with ``type``).
        objective_type: ``Maximize`` (default) or ``Minimize``.
        strategy: ``Bayesian`` (default), ``Random``, ``Hyperband`` or ``Grid`` (categorical ranges only).
        max_jobs: Training jobs in all; default 1 like the SDK (Grid: every combination).
        max_parallel_jobs: Training jobs at once (default 1).
        early_stopping_type: ``Off`` (default) or ``Auto`` (stop jobs unlikely to beat the median).
        max_runtime_in_seconds: Longest run of the whole tuning job (120-15768000).
        completion_criteria: ``{"target_objective_metric_value": x,
            "max_number_of_training_jobs_not_improving": n (>= 3), "complete_on_convergence": bool}``.
        random_seed: Seed of the search, for reproducible runs.
        warm_start_config: ``{"warm_start_type": "IdenticalDataAndAlgorithm" | "TransferLearning",
            "parents": [tuning job names]}``.
        hyperband: ``{"min_resource": n, "max_resource": n}`` (epochs) for the Hyperband strategy.
    """

    training: TrainingJobSpec
    objective_metric_name: str
    hyperparameter_ranges: Mapping[str, Any]
    objective_type: str = "Maximize"
    strategy: str = "Bayesian"
    max_jobs: int | None = None
    max_parallel_jobs: int = 1
    early_stopping_type: str = "Off"
    max_runtime_in_seconds: int | None = None
    completion_criteria: Mapping[str, Any] | None = None
    random_seed: int | None = None
    warm_start_config: Mapping[str, Any] | None = None
    hyperband: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        fields.copy_containers(self)
        object.__setattr__(self, "_checked", False)

    # ------------------------------------------------------------------ names
    @classmethod
    def tuning_fields(cls) -> tuple[str, ...]:
        """Return the names of the tuning settings (the ones a training job does not have)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "training")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Return every setting :meth:`from_mapping` accepts: the training fields, then the tuning fields."""
        return (*TRAINING_FIELDS, *cls.tuning_fields())

    # ------------------------------------------------------------------ building
    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> TuningJobSpec:
        """Build a spec from one flat mapping of training and tuning settings, checking every rule.

        The training settings are read and checked by :meth:`TrainingJobSpec.from_mapping`; the tuning
        settings are coerced from their types (``"6"`` -> ``6``, JSON text -> a mapping). Every problem of
        both is reported together.

        Raises:
            ConfigValidationError: every problem found, each naming its setting.
        """
        what = "tuning job configuration"
        if not isinstance(mapping, Mapping):
            raise ConfigValidationError(
                [FieldError("config", mapping, "must be a mapping of setting names")], what=what
            )
        known = cls.field_names()
        tuning_names = set(cls.tuning_fields())
        problems: list[FieldError] = []
        training_part = {k: v for k, v in mapping.items() if k in TRAINING_FIELDS}
        tuning_part = {k: v for k, v in mapping.items() if k in tuning_names}
        for key in mapping:
            if key not in training_part and key not in tuning_part:
                problems.append(FieldError(str(key), mapping[key], unknown_rule(str(key), list(known), "setting")))
        try:
            training = TrainingJobSpec.from_mapping(training_part)
        except ConfigValidationError as exc:
            problems.extend(exc.errors)
            training = _lenient_training(training_part)
        try:
            spec = fields.build(
                cls,
                tuning_part,
                required={"training": training, "objective_metric_name": "", "hyperparameter_ranges": {}},
                errors=cls.errors,
                what=what,
                known=known,
            )
        except ConfigValidationError as exc:
            reported = {(p.field, p.rule) for p in problems}
            problems.extend(p for p in exc.errors if (p.field, p.rule) not in reported)
            spec = None
        if problems or spec is None:
            raise ConfigValidationError(problems, what=what)
        object.__setattr__(spec, "_checked", True)
        return spec

    # ---------------------------------------------------------------- validation
    def ranges(self) -> list[Range]:
        """Return the checked ranges (invalid ones left out; :meth:`errors` reports them)."""
        if not isinstance(self.hyperparameter_ranges, Mapping):
            return []
        return parse_ranges(self.hyperparameter_ranges)[1]

    def errors(self) -> list[FieldError]:
        """Return every broken rule of the tuning settings and of their fit with the estimator.

        The estimator's own rules are :meth:`TrainingJobSpec.errors`; :meth:`from_mapping` reports both.
        """
        problems, typed_ok = fields.type_errors(self)
        typed = typed_ok.issuperset
        if typed({"objective_metric_name", "hyperparameter_ranges"}):
            problems.extend(self._objective_errors())
            problems.extend(self._range_errors())
        if typed({"objective_type", "strategy", "early_stopping_type"}):
            problems.extend(self._choice_errors())
        if typed({"max_jobs", "max_parallel_jobs", "max_runtime_in_seconds", "random_seed"}):
            problems.extend(self._limit_errors())
        if typed({"strategy", "hyperparameter_ranges", "max_jobs"}):
            problems.extend(self._grid_errors())
        if typed({"strategy", "hyperband", "early_stopping_type"}):
            problems.extend(self._hyperband_errors())
        if typed({"completion_criteria"}):
            problems.extend(self._completion_errors())
        if typed({"warm_start_config"}):
            problems.extend(self._warm_start_errors())
        if typed({"hyperparameter_ranges"}):
            problems.extend(self._static_errors())
        for name, key in _NOT_IN_A_DEFINITION.items():
            value = getattr(self.training, name)
            if value not in (None, False, {}):
                rule = f"a tuning job's TrainingJobDefinition has no {key}: tune without it (its jobs would not get it)"
                problems.append(FieldError(name, value, rule))
        if self.training.job_name:
            from airflow_tf_sm.sagemaker.names import sanitize_name

            if not sanitize_name(self.training.job_name, MAX_TUNING_NAME_LEN):  # pragma: no cover - never empty
                problems.append(FieldError("job_name", self.training.job_name, name_rule(MAX_TUNING_NAME_LEN)))
        return problems

    def _objective_errors(self) -> list[FieldError]:
        name = self.objective_metric_name
        if not name.strip():
            return [FieldError("objective_metric_name", name, "required: the Name of one of metric_definitions")]
        defined = [d.get("Name") for d in self.training.metric_definitions if isinstance(d, Mapping)]
        if name not in defined:
            known = ", ".join(str(n) for n in defined) or "none defined"
            rule = (
                "must be the Name of one of metric_definitions (a TensorFlow job's objective is read from its log "
                f"with that regex); defined: {known}"
            )
            return [FieldError("objective_metric_name", name, rule)]
        return []

    def _range_errors(self) -> list[FieldError]:
        ranges = self.hyperparameter_ranges
        if not ranges:
            return [FieldError("hyperparameter_ranges", ranges, "required: at least one hyperparameter to tune")]
        problems, _ = parse_ranges(ranges)
        if len(ranges) > MAX_PARAMETER_RANGES:
            rule = f"at most {MAX_PARAMETER_RANGES} ranges in all"
            problems.append(FieldError("hyperparameter_ranges", len(ranges), rule))
        static = {str(key) for key in self.training.hyperparameters}
        for name in ranges:
            if name in static:
                rule = "is tuned, so it cannot also be a static hyperparameter: remove it from hyperparameters"
                problems.append(FieldError(f"hyperparameters.{name}", self.training.hyperparameters[name], rule))
        return problems

    def _choice_errors(self) -> list[FieldError]:
        problems = []
        for name, allowed in (
            ("objective_type", OBJECTIVE_TYPES),
            ("strategy", STRATEGIES),
            ("early_stopping_type", EARLY_STOPPING_TYPES),
        ):
            value = getattr(self, name)
            if value not in allowed:
                problems.append(FieldError(name, value, f"must be one of {', '.join(allowed)}"))
        return problems

    def _limit_errors(self) -> list[FieldError]:
        problems = []
        if self.max_jobs is not None and not 1 <= self.max_jobs <= MAX_TUNING_TRAINING_JOBS:
            problems.append(FieldError("max_jobs", self.max_jobs, f"must be 1-{MAX_TUNING_TRAINING_JOBS}"))
        if self.max_parallel_jobs < 1:
            problems.append(FieldError("max_parallel_jobs", self.max_parallel_jobs, "must be at least 1"))
        runtime = self.max_runtime_in_seconds
        if runtime is not None and not MIN_TUNING_RUNTIME <= runtime <= MAX_TUNING_RUNTIME:
            rule = f"must be {MIN_TUNING_RUNTIME}-{MAX_TUNING_RUNTIME} seconds"
            problems.append(FieldError("max_runtime_in_seconds", runtime, rule))
        if self.random_seed is not None and self.random_seed < 0:
            problems.append(FieldError("random_seed", self.random_seed, "must be 0 or more"))
        return problems

    def _grid_errors(self) -> list[FieldError]:
        if self.strategy != "Grid" or not isinstance(self.hyperparameter_ranges, Mapping):
            return []
        problems = []
        for item in self.ranges():
            if item.kind != "categorical":
                rule = "Grid search takes categorical ranges only (list the values to try)"
                problems.append(FieldError(f"hyperparameter_ranges.{item.name}", item.kind, rule))
        size = grid_size([r for r in self.ranges() if r.kind == "categorical"])
        if not problems and size > MAX_TUNING_TRAINING_JOBS:
            rule = f"the grid has {size} combinations; at most {MAX_TUNING_TRAINING_JOBS}"
            problems.append(FieldError("hyperparameter_ranges", size, rule))
        return problems

    def max_resource(self) -> int | None:
        """Return Hyperband's MaxResource: ``hyperband.max_resource``, else the epochs-like static hyperparameter."""
        if isinstance(self.hyperband, Mapping) and self.hyperband.get("max_resource") is not None:
            value = self.hyperband["max_resource"]
            return value if fields.matches(value, int) else None
        for name in EPOCH_HYPERPARAMETERS:
            value = self.training.hyperparameters.get(name)
            if value is None:
                continue
            try:
                return int(str(value))
            except ValueError:
                return None
        return None

    def _hyperband_errors(self) -> list[FieldError]:
        problems = []
        if self.strategy != "Hyperband":
            if self.hyperband is not None:
                problems.append(FieldError("hyperband", self.hyperband, "only valid with strategy='Hyperband'"))
            return problems
        if self.early_stopping_type != "Off":
            rule = "must be 'Off' with the Hyperband strategy (it stops jobs early itself)"
            problems.append(FieldError("early_stopping_type", self.early_stopping_type, rule))
        settings = self.hyperband or {}
        for key, value in settings.items():
            if key not in HYPERBAND_KEYS:
                problems.append(FieldError(f"hyperband.{key}", value, unknown_rule(str(key), HYPERBAND_KEYS, "key")))
            elif value is not None and (not fields.matches(value, int) or not 1 <= value <= MAX_HYPERBAND_RESOURCE):
                problems.append(FieldError(f"hyperband.{key}", value, f"must be an integer 1-{MAX_HYPERBAND_RESOURCE}"))
        low, high = settings.get("min_resource"), self.max_resource()
        if high is None:
            rule = (
                "Hyperband needs hyperband.max_resource or a static hyperparameter named "
                f"{', '.join(EPOCH_HYPERPARAMETERS)}"
            )
            problems.append(FieldError("hyperband.max_resource", None, rule))
        elif isinstance(low, int) and not isinstance(low, bool) and low > high:
            problems.append(FieldError("hyperband.min_resource", low, f"must not be larger than max_resource ({high})"))
        return problems

    def _completion_errors(self) -> list[FieldError]:
        criteria = self.completion_criteria
        if criteria is None:
            return []
        problems = []
        for key, value in criteria.items():
            where = f"completion_criteria.{key}"
            if key not in COMPLETION_KEYS:
                problems.append(FieldError(where, value, unknown_rule(str(key), COMPLETION_KEYS, "criterion")))
            elif key == "target_objective_metric_value" and not fields.matches(value, float):
                problems.append(FieldError(where, value, "must be a number"))
            elif key == "max_number_of_training_jobs_not_improving" and (
                not fields.matches(value, int) or value < MIN_JOBS_NOT_IMPROVING
            ):
                problems.append(FieldError(where, value, f"must be an integer >= {MIN_JOBS_NOT_IMPROVING}"))
            elif key == "complete_on_convergence" and not isinstance(value, bool):
                problems.append(FieldError(where, value, "must be true or false"))
        if not criteria:
            problems.append(FieldError("completion_criteria", criteria, f"give at least one of {COMPLETION_KEYS}"))
        return problems

    def _warm_start_errors(self) -> list[FieldError]:
        config = self.warm_start_config
        if config is None:
            return []
        problems = []
        for key, value in config.items():
            if key not in WARM_START_KEYS:
                where = f"warm_start_config.{key}"
                problems.append(FieldError(where, value, unknown_rule(str(key), WARM_START_KEYS, "key")))
        kind = config.get("warm_start_type")
        if kind not in WARM_START_TYPES:
            rule = f"required: one of {', '.join(WARM_START_TYPES)}"
            problems.append(FieldError("warm_start_config.warm_start_type", kind, rule))
        parents = config.get("parents")
        if not isinstance(parents, (list, tuple)) or not 1 <= len(parents) <= MAX_WARM_START_PARENTS:
            rule = f"required: a list of 1-{MAX_WARM_START_PARENTS} tuning job names"
            problems.append(FieldError("warm_start_config.parents", parents, rule))
        else:
            for index, name in enumerate(parents):
                if not is_valid_name(name, MAX_TUNING_NAME_LEN):
                    where = f"warm_start_config.parents[{index}]"
                    problems.append(FieldError(where, name, name_rule(MAX_TUNING_NAME_LEN)))
        return problems

    def _static_errors(self) -> list[FieldError]:
        training = self.training
        static = self._static_hyperparameters("job", "s3://bucket/sourcedir.tar.gz", "region")
        total = len(static) + len(self.hyperparameter_ranges) + 1  # + _tuning_objective_metric
        problems = []
        if total > MAX_STATIC_HYPERPARAMETERS:
            rule = (
                f"at most {MAX_STATIC_HYPERPARAMETERS} hyperparameters per training job, counting the "
                f"{len(static) - len(training.hyperparameters)} the framework and the tuner add, the tuned ones "
                "and _tuning_objective_metric"
            )
            problems.append(FieldError("hyperparameters", total, rule))
        if len(training.environment) > MAX_TUNING_ENVIRONMENT:
            rule = f"at most {MAX_TUNING_ENVIRONMENT} variables in a tuning job's training jobs"
            problems.append(FieldError("environment", len(training.environment), rule))
        return problems

    # ------------------------------------------------------------------ request
    def _static_hyperparameters(self, job_name: str, code_uri: str, region: str) -> dict[str, str]:
        training = self.training
        static = {str(k): json.dumps(v) for k, v in training.hyperparameters.items()}
        framework = training._framework_hyperparameters(job_name, code_uri, region)
        static.update({str(k): json.dumps(v) for k, v in framework.items()})
        for name in self.hyperparameter_ranges:
            static.pop(name, None)
        static[HP_ESTIMATOR_CLASS] = json.dumps(TF_ESTIMATOR_CLASS)
        static[HP_ESTIMATOR_MODULE] = json.dumps(TF_ESTIMATOR_MODULE)
        return static

    def tuning_config(self) -> dict[str, Any]:
        """Return ``HyperParameterTuningJobConfig`` as the SDK v2 builds it."""
        limits: dict[str, Any] = {"MaxParallelTrainingJobs": self.max_parallel_jobs}
        max_jobs = self.max_jobs if self.max_jobs is not None or self.strategy == "Grid" else 1
        if max_jobs is not None:
            limits = {"MaxNumberOfTrainingJobs": max_jobs, **limits}
        if self.max_runtime_in_seconds is not None:
            limits["MaxRuntimeInSeconds"] = self.max_runtime_in_seconds
        config: dict[str, Any] = {
            "Strategy": self.strategy,
            "ResourceLimits": limits,
            "TrainingJobEarlyStoppingType": self.early_stopping_type,
        }
        if self.random_seed is not None:
            config["RandomSeed"] = self.random_seed
        config["HyperParameterTuningJobObjective"] = {
            "Type": self.objective_type,
            "MetricName": self.objective_metric_name,
        }
        config["ParameterRanges"] = ranges_request(self.ranges())
        if self.hyperband:
            keys = {"min_resource": "MinResource", "max_resource": "MaxResource"}
            hyperband = {keys[k]: v for k, v in self.hyperband.items() if v is not None}
            config["StrategyConfig"] = {"HyperbandStrategyConfig": hyperband}
        if self.completion_criteria:
            criteria: dict[str, Any] = {}
            values = self.completion_criteria
            if values.get("max_number_of_training_jobs_not_improving") is not None:
                not_improving = values["max_number_of_training_jobs_not_improving"]
                criteria["BestObjectiveNotImproving"] = {"MaxNumberOfTrainingJobsNotImproving": not_improving}
            if values.get("target_objective_metric_value") is not None:
                criteria["TargetObjectiveMetricValue"] = values["target_objective_metric_value"]
            if values.get("complete_on_convergence") is not None:
                enabled = "Enabled" if values["complete_on_convergence"] else "Disabled"
                criteria["ConvergenceDetected"] = {"CompleteOnConvergence": enabled}
            config["TuningJobCompletionCriteria"] = criteria
        return config

    def to_request(
        self, job_name: str, code_uri: str, region: str, **options: Unpack[RequestOptions]
    ) -> dict[str, Any]:
        """Return the CreateHyperParameterTuningJob request the SDK v2 sends for this estimator and tuner.

        The TrainingJobDefinition is the estimator's CreateTrainingJob request
        (:meth:`TrainingJobSpec.to_request`, with ``job_name`` as the estimator's job name) turned into a
        definition: its hyperparameters JSON-encoded without the tuned ones, plus the SDK's
        ``sagemaker_estimator_class_name``/``sagemaker_estimator_module``, as ``StaticHyperParameters``;
        its tags on the tuning job.

        Args:
            job_name: The tuning job name (at most 32 characters).
            code_uri: ``s3://`` URI of the staged ``sourcedir.tar.gz``.
            region: Region of the job.
            **options: ``role``, ``image_uri``, ``extra_tags``: the estimator's
                (:meth:`TrainingJobSpec.to_request`).

        Raises:
            ConfigValidationError: the spec breaks a rule (checked here only for a spec not built by
                :meth:`from_mapping`), or no role is given.
        """
        problems: list[FieldError] = []
        if not getattr(self, "_checked", False):
            problems = [*self.training.errors(), *self.errors()]
        if problems:
            raise ConfigValidationError(problems, what="tuning job configuration")
        estimator = dataclasses.replace(self.training, request_overrides={})
        training = estimator.to_request(job_name, code_uri, region, **options)
        algorithm = {
            key: training["AlgorithmSpecification"][key]
            for key in ("TrainingImage", "TrainingInputMode", "MetricDefinitions")
            if key in training["AlgorithmSpecification"]
        }
        definition: dict[str, Any] = {
            "StaticHyperParameters": self._static_hyperparameters(job_name, code_uri, region),
            "AlgorithmSpecification": algorithm,
        }
        definition.update({key: training[key] for key in TRAINING_DEFINITION_KEYS if key in training})
        request: dict[str, Any] = {
            "HyperParameterTuningJobName": job_name,
            "HyperParameterTuningJobConfig": self.tuning_config(),
            "TrainingJobDefinition": definition,
        }
        if self.warm_start_config:
            request["WarmStartConfig"] = {
                "WarmStartType": self.warm_start_config["warm_start_type"],
                "ParentHyperParameterTuningJobs": [
                    {"HyperParameterTuningJobName": parent} for parent in self.warm_start_config["parents"]
                ],
            }
        if training.get("Tags"):
            request["Tags"] = training["Tags"]
        return deep_merge(request, self.training.request_overrides)


def _lenient_training(values: Mapping[str, Any]) -> TrainingJobSpec:
    """Build the estimator of a mapping whose training settings are broken, for the tuning rules only.

    Settings that do not have their type are left out (their errors are reported already), so the rules
    that look at the estimator (objective in the metric definitions, tuned names not static) still run.
    """
    hints = fields.field_hints(TrainingJobSpec)
    kept: dict[str, Any] = {"entry_point": ""}
    for key, raw in values.items():
        value, rule = fields.coerce(raw, fields.options(hints[key]))
        if not rule and raw is not None and any(fields.matches(value, o) for o in fields.options(hints[key])):
            kept[key] = value
    return TrainingJobSpec(**kept)

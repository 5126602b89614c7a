"""Deploying a trained model: the quality gate and the CreateModel / endpoint requests (pure, no I/O).

A deploy attaches to a Completed training job (its DescribeTrainingJob response) and builds three
requests (FACTS.md section 4): CreateModel, CreateEndpointConfig, then CreateEndpoint or UpdateEndpoint.
Model and endpoint config names are deterministic: the training job's name plus a short hash of what
defines the resource, so deploying the same job with the same settings twice names the same resources
(reused, never created twice) and anything that changes them (a retrained model, another instance type)
gets a new name. The model itself is a :class:`ModelSpec`, which a batch transform of the same job builds
too (``transform/``), so a deploy and a batch transform of one job share one model.

The quality gate reads the job's final metrics (``FinalMetricDataList``) against rules such as
``{"val_accuracy": ">= 0.9", "val_loss": "< 0.3"}``.

Example:
    >>> gate = parse_requirements({"val_accuracy": ">= 0.9"})
    >>> unmet_requirements(gate, {"val_accuracy": 0.87})
    ['val_accuracy = 0.87, required >= 0.9']
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from airflow_tf_sm.exceptions import ConfigValidationError, FieldError, ModelNotDeployableError
from airflow_tf_sm.sagemaker.fields import s3_uri_errors
from airflow_tf_sm.sagemaker.names import hashed_name
from airflow_tf_sm.sagemaker.tags import TAG_PREFIX, tag_list

#: Name of the single production variant, as the SageMaker SDK names it.
DEFAULT_VARIANT_NAME = "AllTraffic"
#: Default serving instance type.
DEFAULT_INSTANCE_TYPE = "ml.m5.large"
#: Tag that links models, endpoint configs and endpoints to the training job they serve.
TRAINING_JOB_TAG = f"{TAG_PREFIX}training-job"

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_REQUIREMENT = re.compile(r"^\s*(>=|<=|==|>|<)\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_REQUIREMENT_RULE = "must be a comparison such as '>= 0.9' (operators >=, >, <=, <, ==) or a number (meaning >=)"
_TRAINING_IMAGE_VERSION = re.compile(r"/tensorflow-training:(\d+\.\d+(?:\.\d+)?)-")


# --------------------------------------------------------------------- quality gate
@dataclass(frozen=True)
class MetricRequirement:
    """One rule of the quality gate: ``<metric> <op> <threshold>``.

    Attributes:
        metric: Metric name as in the job's ``FinalMetricDataList`` (``val_accuracy``).
        op: One of ``>=``, ``>``, ``<=``, ``<``, ``==``.
        threshold: The number to compare with.
    """

    metric: str
    op: str
    threshold: float

    def is_met(self, value: float) -> bool:
        """Return True when ``value`` satisfies the rule."""
        return _COMPARISONS[self.op](float(value), self.threshold)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


def parse_requirements(require_metrics: Mapping[str, Any] | None) -> list[MetricRequirement]:
    """Parse ``{"val_accuracy": ">= 0.9", ...}`` into requirements.

    A plain number means ``>=`` (``{"val_accuracy": 0.9}``).

    Args:
        require_metrics: Metric name -> comparison string or number; ``None`` or empty: no gate.

    Returns:
        The requirements, sorted by metric name.

    Raises:
        ConfigValidationError: every malformed rule, each naming its metric.
    """
    if not require_metrics:
        return []
    if not isinstance(require_metrics, Mapping):
        raise ConfigValidationError(
            [
                FieldError(
                    "require_metrics",
                    require_metrics,
                    "must be a dict of metric name -> rule (a templated dict needs render_template_as_native_obj=True)",
                )
            ],
            what="quality gate",
        )
    errors: list[FieldError] = []
    parsed: list[MetricRequirement] = []
    for metric, rule in sorted(require_metrics.items(), key=lambda item: str(item[0])):
        where = f"require_metrics.{metric}"
        if not isinstance(metric, str) or not metric.strip():
            errors.append(FieldError("require_metrics", metric, "metric names must be non-empty strings"))
            continue
        if isinstance(rule, int | float) and not isinstance(rule, bool):
            op, number = ">=", float(rule)
        else:
            match = _REQUIREMENT.match(rule) if isinstance(rule, str) else None
            if match is None:
                errors.append(FieldError(where, rule, _REQUIREMENT_RULE))
                continue
            op, number = match.group(1), float(match.group(2))
        if not math.isfinite(number):
            errors.append(FieldError(where, rule, "the threshold must be a finite number"))
            continue
        parsed.append(MetricRequirement(metric, op, number))
    if errors:
        raise ConfigValidationError(errors, what="quality gate")
    return parsed


def unmet_requirements(requirements: list[MetricRequirement], metrics: Mapping[str, float]) -> list[str]:
    """Check the job's final metrics against the gate.

    Args:
        requirements: From :func:`parse_requirements`.
        metrics: Metric name -> final value (``TFSageMakerHook.training_result(desc)["metrics"]``).

    Returns:
        One line per unmet requirement, e.g. ``"val_accuracy = 0.87, required >= 0.9"``; empty when all hold.

    Raises:
        ConfigValidationError: a required metric the job does not have (the message lists the ones it has).
    """
    available = ", ".join(sorted(metrics)) or "none"
    missing = [
        FieldError(f"require_metrics.{r.metric}", r.metric, f"the training job has no such metric (it has {available})")
        for r in requirements
        if r.metric not in metrics
    ]
    if missing:
        raise ConfigValidationError(missing, what="quality gate")
    return [
        f"{r.metric} = {metrics[r.metric]:g}, required {r.op} {r.threshold:g}"
        for r in requirements
        if not r.is_met(metrics[r.metric])
    ]


# ------------------------------------------------------------------ the training job
def check_deployable(desc: Mapping[str, Any]) -> str:
    """Return the model artifact of a training job that can be deployed.

    Args:
        desc: DescribeTrainingJob response.

    Raises:
        ModelNotDeployableError: the job is not Completed, or has no ``ModelArtifacts.S3ModelArtifacts``.
    """
    name = desc.get("TrainingJobName")
    status = desc.get("TrainingJobStatus")
    if status != "Completed":
        reason = f": {desc['FailureReason']}" if desc.get("FailureReason") else ""
        raise ModelNotDeployableError(
            f"training_job_name: training job {name} is {status}{reason} -- only a Completed job can be deployed"
            + (" (wait for it first, e.g. with TrainingJobSensor)" if status in ("InProgress", "Stopping") else "")
        )
    model_data = (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if not model_data:
        raise ModelNotDeployableError(
            f"training_job_name: training job {name} is Completed but has no model artifact "
            "(ModelArtifacts.S3ModelArtifacts) to deploy"
        )
    return str(model_data)


def training_framework_version(training_image: str | None) -> str | None:
    """Return the TensorFlow version of a SageMaker TensorFlow training image URI (``None`` for other images).

    Example:
        >>> training_framework_version("123.dkr.ecr.eu-west-1.amazonaws.com/tensorflow-training:2.19.0-cpu-py312")
        '2.19.0'
    """
    match = _TRAINING_IMAGE_VERSION.search(training_image or "")
    return match.group(1) if match else None


def inference_image(
    desc: Mapping[str, Any], region: str, instance_type: str, framework_version: str | None = None
) -> str:
    """Return the ``tensorflow-inference`` image for the job's TensorFlow version and the serving instance type.

    Args:
        desc: DescribeTrainingJob response (its training image tells the version).
        region: Region of the endpoint.
        instance_type: Serving instance type (picks cpu or gpu).
        framework_version: Overrides the version read from the training image.

    Raises:
        ConfigValidationError: the version is unknown, or cannot be read from a custom training image.
    """
    from airflow_tf_sm.exceptions import UnknownFrameworkVersionError
    from airflow_tf_sm.sagemaker import images

    training_image = (desc.get("AlgorithmSpecification") or {}).get("TrainingImage")
    version = framework_version or training_framework_version(training_image)
    if not version:
        raise ConfigValidationError(
            [
                FieldError(
                    "framework_version",
                    training_image,
                    "cannot read the TensorFlow version from this training image: pass framework_version= or image=",
                )
            ],
            what="deploy configuration",
        )
    try:
        return images.image_uri(version, region, instance_type, scope="inference")
    except UnknownFrameworkVersionError as exc:
        raise ConfigValidationError(
            [FieldError("framework_version", version, f"{str(exc).split(' -- ', 1)[-1]}; or pass image=")],
            what="deploy configuration",
        ) from None


# ------------------------------------------------------------------------ the model
def resolve_model(
    desc: Mapping[str, Any],
    *,
    region: str,
    instance_type: str,
    image: str | None = None,
    framework_version: str | None = None,
    role: str | None = None,
) -> tuple[str, str, str, list[FieldError]]:
    """Return the model data, serving image and role of a Completed job, and the problems found.

    The image is ``image`` when given, else the ``tensorflow-inference`` image of the job's TensorFlow
    version for ``instance_type``; the role is ``role`` when given, else the job's ``RoleArn``. A deploy
    and a batch transform resolve the model alike, so both name it alike (:attr:`ModelSpec.model_name`).

    Raises:
        ModelNotDeployableError: the job is not Completed or has no model artifact.
    """
    model_data = check_deployable(desc)
    errors: list[FieldError] = []
    chosen_image = image or ""
    if not image:
        try:
            chosen_image = inference_image(desc, region, instance_type, framework_version)
        except ConfigValidationError as exc:
            errors += exc.errors
    chosen_role = role or desc.get("RoleArn") or ""
    if not chosen_role:
        errors.append(FieldError("role", None, "the training job has no RoleArn: pass role="))
    return model_data, chosen_image, str(chosen_role), errors


_Spec = TypeVar("_Spec", "ModelSpec", "DeploySpec")


def _spec_of_job(
    cls: type[_Spec],
    desc: Mapping[str, Any],
    *,
    region: str,
    instance_type: str,
    image: str | None,
    framework_version: str | None,
    role: str | None,
    environment: Mapping[str, Any] | None,
    tags: Mapping[str, Any] | None,
    what: str,
    **settings: Any,
) -> _Spec:
    """Build a spec of the model of a Completed training job (:func:`resolve_model`) plus ``settings``.

    Every problem is reported together: the job's model, image and role, then the spec's own rules (an
    empty image or role is said once).

    Raises:
        ModelNotDeployableError: the job is not Completed or has no model artifact.
        ConfigValidationError: no usable image or role, or the spec breaks a rule.
    """
    model_data, chosen_image, chosen_role, errors = resolve_model(
        desc,
        region=region,
        instance_type=instance_type,
        image=image,
        framework_version=framework_version,
        role=role,
    )
    job_name = str(desc["TrainingJobName"])
    if "instance_type" in {f.name for f in fields(cls)}:  # it picked the image; a spec with the field keeps it
        settings["instance_type"] = instance_type
    spec = cls(
        training_job_name=job_name,
        model_data=model_data,
        image=chosen_image,
        role=chosen_role,
        environment={str(k): str(v) for k, v in (environment or {}).items()},
        tags={**{str(k): str(v) for k, v in (tags or {}).items()}, TRAINING_JOB_TAG: job_name},
        **settings,
    )
    reported = {"PrimaryContainer.Image": not chosen_image, "ExecutionRoleArn": not chosen_role}
    errors += [e for e in spec.errors() if not reported.get(e.field)]  # an empty image/role: said above
    if errors:
        raise ConfigValidationError(errors, what=what)
    return spec


@dataclass(frozen=True)
class ModelSpec:
    """The SageMaker model of a training job's artifact: what a deploy and a batch transform both create.

    Attributes:
        training_job_name: The training job whose model it is.
        model_data: ``s3://`` URI of its ``model.tar.gz``.
        image: Serving image (``tensorflow-inference``).
        role: Execution role ARN of the model.
        environment: Serving container environment.
        tags: Tags of the model.
    """

    training_job_name: str
    model_data: str
    image: str
    role: str
    environment: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_training_job(
        cls,
        desc: Mapping[str, Any],
        *,
        region: str,
        instance_type: str = DEFAULT_INSTANCE_TYPE,
        image: str | None = None,
        framework_version: str | None = None,
        role: str | None = None,
        environment: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        what: str = "model configuration",
    ) -> ModelSpec:
        """Build the model of a Completed job's DescribeTrainingJob response (see :func:`resolve_model`).

        Raises:
            ModelNotDeployableError: the job is not Completed or has no model artifact.
            ConfigValidationError: no usable image or role, or the CreateModel request breaks a rule.
        """
        return _spec_of_job(
            cls,
            desc,
            region=region,
            instance_type=instance_type,
            image=image,
            framework_version=framework_version,
            role=role,
            environment=environment,
            tags=tags,
            what=what,
        )

    @property
    def model_name(self) -> str:
        """``<training job>-<hash of image, model data, role, environment>``: same inputs, same name."""
        identity = {
            "image": self.image,
            "model_data": self.model_data,
            "role": self.role,
            "environment": dict(self.environment),
        }
        return hashed_name(self.training_job_name, identity)

    def model_request(self) -> dict[str, Any]:
        """Return the CreateModel request."""
        return {
            "ModelName": self.model_name,
            "ExecutionRoleArn": self.role,
            "PrimaryContainer": {
                "Image": self.image,
                "ModelDataUrl": self.model_data,
                "Environment": dict(self.environment),
            },
            "Tags": tag_list(self.tags),
        }

    def errors(self) -> list[FieldError]:
        """Return every problem of the CreateModel request (botocore shapes and the project's rules)."""
        from airflow_tf_sm.sagemaker.service_model import request_errors

        errors = s3_uri_errors("model_data", self.model_data, need_key=True)
        return errors + request_errors(self.model_request(), "CreateModel")


# ------------------------------------------------------------------------ requests
@dataclass(frozen=True)
class DeploySpec:
    """What to deploy and how: one model behind one production variant of one endpoint.

    Build it with :meth:`from_training_job`; the request methods are pure.

    Attributes:
        training_job_name: The training job whose model is served.
        model_data: ``s3://`` URI of its ``model.tar.gz``.
        image: Serving image (``tensorflow-inference``).
        role: Execution role ARN of the model.
        endpoint_name: The endpoint (stable across runs: a new model updates it).
        instance_type: Serving instance type.
        instance_count: Initial instance count.
        variant_name: Production variant name.
        environment: Serving container environment (e.g. ``SAGEMAKER_TFS_DEFAULT_MODEL_NAME``).
        tags: Tags of the model, the endpoint config and a new endpoint.
    """

    training_job_name: str
    model_data: str
    image: str
    role: str
    endpoint_name: str
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = 1
    variant_name: str = DEFAULT_VARIANT_NAME
    environment: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_training_job(
        cls,
        desc: Mapping[str, Any],
        *,
        endpoint_name: str,
        region: str,
        instance_type: str = DEFAULT_INSTANCE_TYPE,
        instance_count: int = 1,
        variant_name: str = DEFAULT_VARIANT_NAME,
        image: str | None = None,
        framework_version: str | None = None,
        role: str | None = None,
        environment: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> DeploySpec:
        """Build the spec from a Completed job's DescribeTrainingJob response.

        The model data comes from the job; the image is ``image`` when given, else the
        ``tensorflow-inference`` image of the job's TensorFlow version; the role is ``role`` when given,
        else the job's ``RoleArn``.

        Raises:
            ModelNotDeployableError: the job is not Completed or has no model artifact.
            ConfigValidationError: no usable image or role, or a request breaks a rule.
        """
        return _spec_of_job(
            cls,
            desc,
            region=region,
            instance_type=instance_type,
            image=image,
            framework_version=framework_version,
            role=role,
            environment=environment,
            tags=tags,
            what="deploy configuration",
            endpoint_name=endpoint_name,
            instance_count=instance_count,
            variant_name=variant_name,
        )

    # ------------------------------------------------------------------ names
    @property
    def model(self) -> ModelSpec:
        """The model this deploy serves (named and requested like a batch transform's)."""
        return ModelSpec(
            training_job_name=self.training_job_name,
            model_data=self.model_data,
            image=self.image,
            role=self.role,
            environment=self.environment,
            tags=self.tags,
        )

    @property
    def model_name(self) -> str:
        """``<training job>-<hash of image, model data, role, environment>``: same inputs, same name."""
        return self.model.model_name

    @property
    def endpoint_config_name(self) -> str:
        """``<training job>-<hash of model name and variant settings>``: same settings, same name."""
        identity = {
            "kind": "endpoint-config",
            "model": self.model_name,
            "variant": self.variant_name,
            "instance_type": self.instance_type,
            "instance_count": self.instance_count,
        }
        return hashed_name(self.training_job_name, identity)

    # --------------------------------------------------------------- requests
    def model_request(self) -> dict[str, Any]:
        """Return the CreateModel request."""
        return self.model.model_request()

    def endpoint_config_request(self) -> dict[str, Any]:
        """Return the CreateEndpointConfig request (one variant taking all traffic)."""
        return {
            "EndpointConfigName": self.endpoint_config_name,
            "ProductionVariants": [
                {
                    "VariantName": self.variant_name,
                    "ModelName": self.model_name,
                    "InitialInstanceCount": self.instance_count,
                    "InstanceType": self.instance_type,
                    "InitialVariantWeight": 1.0,
                }
            ],
            "Tags": tag_list(self.tags),
        }

    def create_endpoint_request(self) -> dict[str, Any]:
        """Return the CreateEndpoint request."""
        return {
            "EndpointName": self.endpoint_name,
            "EndpointConfigName": self.endpoint_config_name,
            "Tags": tag_list(self.tags),
        }

    def update_endpoint_request(self) -> dict[str, Any]:
        """Return the UpdateEndpoint request (an existing endpoint keeps its tags)."""
        return {"EndpointName": self.endpoint_name, "EndpointConfigName": self.endpoint_config_name}

    def errors(self) -> list[FieldError]:
        """Return every problem of the three requests (botocore shapes and the project's rules)."""
        from airflow_tf_sm.sagemaker.service_model import request_errors

        errors: list[FieldError] = []
        errors += s3_uri_errors("model_data", self.model_data, need_key=True)
        if not isinstance(self.instance_count, int) or isinstance(self.instance_count, bool) or self.instance_count < 1:
            errors.append(FieldError("instance_count", self.instance_count, "must be an integer >= 1"))
        errors += request_errors(self.model_request(), "CreateModel")
        errors += request_errors(self.endpoint_config_request(), "CreateEndpointConfig")
        errors += request_errors(self.create_endpoint_request(), "CreateEndpoint")
        return errors

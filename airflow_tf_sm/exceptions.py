"""Small typed exceptions raised by airflow_tf_sm.

They import nothing heavy, so DAG files and training scripts can catch them cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_MAX_VALUE_CHARS = 120


class TFSageMakerError(Exception):
    """Base class of every error this package raises on purpose."""


class FieldError:
    """One broken rule: which field, which value, which rule.

    A small immutable value (a plain class rather than a dataclass: this module is imported by DAG
    files at parse time, and every millisecond there is paid on every parse).

    Attributes:
        field: Dotted path of the field, e.g. ``hyperparameters.epochs`` or ``ResourceConfig.InstanceCount``.
        value: The offending value (shortened in messages).
        rule: What the value must satisfy, in plain words.
    """

    __slots__ = ("field", "rule", "value")
    field: str
    value: Any
    rule: str

    def __init__(self, field: str, value: Any, rule: str) -> None:
        object.__setattr__(self, "field", field)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "rule", rule)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"FieldError is immutable: cannot set {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldError):
            return NotImplemented
        return (self.field, self.value, self.rule) == (other.field, other.value, other.rule)

    def __hash__(self) -> int:
        return hash((self.field, repr(self.value), self.rule))

    def __repr__(self) -> str:
        return f"FieldError(field={self.field!r}, value={self.value!r}, rule={self.rule!r})"

    def __str__(self) -> str:
        shown = repr(self.value)
        if len(shown) > _MAX_VALUE_CHARS:
            shown = shown[: _MAX_VALUE_CHARS - 3] + "..."
        return f"{self.field}: {shown} -- {self.rule}"


class ConfigValidationError(TFSageMakerError, ValueError):
    """A job configuration broke one or more rules; raised before any API call.

    All problems found are reported together in ``errors``.
    """

    def __init__(self, errors: Iterable[FieldError], what: str = "training job configuration") -> None:
        self.errors: list[FieldError] = list(errors)
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"Invalid {what} ({len(self.errors)} problem(s)):\n{lines}")


class UnknownFrameworkVersionError(TFSageMakerError, ValueError):
    """The TensorFlow version has no known SageMaker image."""


class TrainingJobFailedError(TFSageMakerError):
    """A training job ended Failed or Stopped.

    Attributes:
        job_name: The training job.
        status: ``Failed`` or ``Stopped``.
        failure_reason: SageMaker's FailureReason, if any.
    """

    def __init__(self, job_name: str, status: str, failure_reason: str | None = None, log_tail: str = "") -> None:
        self.job_name = job_name
        self.status = status
        self.failure_reason = failure_reason
        self.log_tail = log_tail
        msg = f"Training job {job_name} ended {status}"
        if failure_reason:
            msg += f": {failure_reason}"
        if log_tail:
            msg += f"\nLast log lines:\n{log_tail}"
        super().__init__(msg)


class TuningJobFailedError(TFSageMakerError):
    """A hyperparameter tuning job ended Failed or Stopped, or Completed without a best training job.

    Attributes:
        tuning_job_name: The tuning job.
        status: Its final status.
        failure_reason: SageMaker's FailureReason, if any.
    """

    def __init__(self, tuning_job_name: str, status: str, failure_reason: str | None = None) -> None:
        self.tuning_job_name = tuning_job_name
        self.status = status
        self.failure_reason = failure_reason
        msg = f"Tuning job {tuning_job_name} ended {status}"
        if failure_reason:
            msg += f": {failure_reason}"
        super().__init__(msg)


class TrainingJobTimeoutError(TFSageMakerError):
    """Waiting for a training job took longer than allowed; the job was stopped."""


class ModelNotDeployableError(TFSageMakerError, ValueError):
    """A training job cannot be deployed: it is unknown, not Completed, or has no model artifact.

    Raised before any model, endpoint config or endpoint is created.
    """


class QualityGateError(TFSageMakerError):
    """A training job's final metrics do not meet the deploy task's ``require_metrics``.

    Attributes:
        job_name: The training job.
        unmet: One line per unmet requirement, with the job's value and the rule.
        metrics: The job's final metrics.
    """

    def __init__(self, job_name: str, unmet: Iterable[str], metrics: dict[str, float]) -> None:
        self.job_name = job_name
        self.unmet = list(unmet)
        self.metrics = dict(metrics)
        super().__init__(f"Training job {job_name} fails the quality gate: {'; '.join(self.unmet)}")


class EndpointFailedError(TFSageMakerError):
    """An endpoint did not reach InService with the expected endpoint config.

    Attributes:
        endpoint_name: The endpoint.
        status: Its EndpointStatus (``Failed``, ``UpdateRollbackFailed``, ... or ``InService`` after a rollback).
        failure_reason: SageMaker's FailureReason, if any.
        rolled_back: True when an update was rolled back to the previous endpoint config.
    """

    def __init__(
        self, endpoint_name: str, status: str, failure_reason: str | None = None, *, rolled_back: bool = False
    ) -> None:
        self.endpoint_name = endpoint_name
        self.status = status
        self.failure_reason = failure_reason
        self.rolled_back = rolled_back
        if rolled_back:
            msg = f"Update of endpoint {endpoint_name} was rolled back; it still serves its previous config"
        else:
            msg = f"Endpoint {endpoint_name} is {status}"
        if failure_reason:
            msg += f": {failure_reason}"
        super().__init__(msg)


class EndpointTimeoutError(TFSageMakerError):
    """Waiting for an endpoint to become InService took longer than allowed."""


class TransformJobFailedError(TFSageMakerError):
    """A batch transform job ended Failed or Stopped.

    Attributes:
        job_name: The transform job.
        status: ``Failed`` or ``Stopped``.
        failure_reason: SageMaker's FailureReason, if any (it names the object and record that failed).
    """

    def __init__(self, job_name: str, status: str, failure_reason: str | None = None, log_tail: str = "") -> None:
        self.job_name = job_name
        self.status = status
        self.failure_reason = failure_reason
        self.log_tail = log_tail
        msg = f"Transform job {job_name} ended {status}"
        if failure_reason:
            msg += f": {failure_reason}"
        if log_tail:
            msg += f"\nLast log lines:\n{log_tail}"
        super().__init__(msg)


class TransformJobTimeoutError(TFSageMakerError):
    """Waiting for a transform job took longer than allowed; the job was stopped."""

"""Small typed exceptions raised by airflow_tf_sm.

They import nothing heavy, so DAG files and training scripts can catch them cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_MAX_VALUE_CHARS = 120


class TFSageMakerError(Exception):
    """Base class of every error this package raises on purpose."""


@dataclass(frozen=True)
class FieldError:
    """One broken rule: which field, which value, which rule.

    Attributes:
        field: Dotted path of the field, e.g. ``hyperparameters.epochs`` or ``ResourceConfig.InstanceCount``.
        value: The offending value (shortened in messages).
        rule: What the value must satisfy, in plain words.
    """

    field: str
    value: Any
    rule: str

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

    def __init__(
        self, job_name: str, status: str, failure_reason: str | None = None, log_tail: str = ""
    ) -> None:
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


class TrainingJobTimeoutError(TFSageMakerError):
    """Waiting for a training job took longer than allowed; the job was stopped."""

"""The base of the family services (``hook.training``, ``hook.hosting``, ...): the hook they act through."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_tf_sm.exceptions import ConfigValidationError, FieldError
from airflow_tf_sm.redaction import description_secrets, register_with_masker

if TYPE_CHECKING:
    from airflow_tf_sm.hook import TFSageMakerHook


class FamilyService:
    """The operations of one resource family, on one hook's clients and retrying ``call``.

    Args:
        hook: The hook whose clients and retrying ``call`` are used.
    """

    def __init__(self, hook: TFSageMakerHook) -> None:
        self.hook = hook
        self.log = hook.log
        self._masked: set[str] = set()

    def mask_secrets(self, document: Any) -> list[str]:
        """Register the secret values of a request or description with Airflow's masker; return them.

        The secret-named ``HyperParameters`` / ``Environment`` entries (:mod:`airflow_tf_sm.redaction`),
        each registered once per service, by value. Blocking: never call it from a trigger's event loop.
        """
        values = description_secrets(document)
        new = [value for value in values if value not in self._masked]
        if new:
            self._masked.update(new)
            register_with_masker(new)
        return values

    @staticmethod
    def check_names(**names: Any) -> None:
        """Refuse resource names that are not non-empty strings (``None``, numbers...), before any call.

        Raises:
            ConfigValidationError: naming each such argument.
        """
        problems = [
            FieldError(argument, value, "must be a non-empty string: the resource's name")
            for argument, value in names.items()
            if not isinstance(value, str) or not value.strip()
        ]
        if problems:
            raise ConfigValidationError(problems, what="arguments")

    @property
    def sagemaker(self) -> Any:
        """The backend's SageMaker client."""
        return self.hook.clients.sagemaker

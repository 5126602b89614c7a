"""The base of the family services (``hook.training``, ``hook.hosting``, ...): the hook they act through."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

    @property
    def sagemaker(self) -> Any:
        """The backend's SageMaker client."""
        return self.hook.clients.sagemaker

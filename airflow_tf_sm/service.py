"""The base of the family services (``hook.training``, ``hook.hosting``, ...): the hook they act through."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_tf_sm.hook import TFSageMakerHook
    from airflow_tf_sm.sagemaker.resources import Resource

#: Longest wait for a job of an earlier try to go from Stopping to Stopped before a new name is chosen.
STOPPING_WAIT_SECONDS = 900.0


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

    def find_reusable(
        self,
        resource: Resource,
        name_for_attempt: Callable[[int], str],
        *,
        rerun: bool = False,
        max_attempts: int = 50,
        poll_interval: float = 30.0,
    ) -> tuple[str, dict[str, Any] | None]:
        """Find what a (re)try of a task instance should do with its deterministic job names.

        Names ``name_for_attempt(1)``, ``(2)``, ... are looked up in turn (``resource.describe``): an
        unknown name is free and is returned to be created; a running job (InProgress) is returned to
        attach to; a Completed job is returned for reuse unless ``rerun``; a Failed or Stopped job moves on
        to the next name; a Stopping job is waited for first (at most :data:`STOPPING_WAIT_SECONDS`). So a
        retry never starts a second billable job.

        Returns:
            ``(job_name, description)`` where ``description`` is ``None`` when the name is free.

        Raises:
            TFSageMakerError: more than ``max_attempts`` jobs, or a job that stays Stopping.
        """
        from airflow_tf_sm.exceptions import TFSageMakerError

        for attempt in range(1, max_attempts + 1):
            name = name_for_attempt(attempt)
            desc = self.hook.describe_or_none(resource.describe, **{resource.name_key: name})
            if desc is None:
                return name, None
            if desc[resource.status_key] == "Stopping":
                self.log.info("%s %s of an earlier try is Stopping: waiting for it to stop", resource.title, name)
                desc = self._wait_until_stopped(resource, name, poll_interval)
            status = desc[resource.status_key]
            if status == "InProgress":
                self.log.info("%s %s of an earlier try is still running: attaching to it", resource.title, name)
                return name, desc
            if status == "Completed" and not rerun:
                self.log.info("%s %s of an earlier try already Completed: reusing it", resource.title, name)
                return name, desc
            self.log.info("%s %s of an earlier try is %s: a new job is needed", resource.title, name, status)
        raise TFSageMakerError(f"More than {max_attempts} {resource.title.lower()}s for this task instance; giving up")

    def _wait_until_stopped(self, resource: Resource, name: str, poll_interval: float) -> dict[str, Any]:
        from airflow_tf_sm.exceptions import TFSageMakerError
        from airflow_tf_sm.waiting import Backoff, WaitTimeoutError, Watch, wait_blocking

        try:
            return wait_blocking(
                Watch(resource, name),
                lambda: dict(self.hook.call(self.sagemaker, resource.describe, **{resource.name_key: name})),
                interval=Backoff(poll_interval, start=min(1.0, poll_interval)),
                timeout=STOPPING_WAIT_SECONDS,
                log=lambda line: self.log.info("%s", line),
            )
        except WaitTimeoutError as exc:
            raise TFSageMakerError(f"{exc}: it did not reach Stopped; try again later") from None

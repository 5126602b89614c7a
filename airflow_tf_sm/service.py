"""The base of the family services (``hook.training``, ``hook.hosting``, ...): the hook they act through."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.exceptions import ConfigValidationError, FieldError
from airflow_tf_sm.redaction import description_secrets, register_with_masker

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

    def find_reusable(
        self,
        resource: Resource,
        name_for_attempt: Callable[[int], str],
        *,
        rerun: bool = False,
        rerun_hint: str = "",
        max_attempts: int = 50,
        poll_interval: float = 30.0,
        run_id: str | None = None,
    ) -> tuple[str, dict[str, Any] | None]:
        """Find what a (re)try of a task instance should do with its deterministic job names.

        Names ``name_for_attempt(1)``, ``(2)``, ... are looked up in turn (``resource.describe``): an
        unknown name is free and is returned to be created; a running job (InProgress) is returned to
        attach to; a Completed job is returned for reuse unless ``rerun``; a Failed or Stopped job moves on
        to the next name; a Stopping job is waited for first (at most :data:`STOPPING_WAIT_SECONDS`). So a
        retry never starts a second billable job. A job found is reported with the run that started it
        (its ``airflow-tf-sm:run-id`` tag), so a name shared by runs (``"mnist-{{ ds_nodash }}"``) says
        whose job it reuses.

        Args:
            resource: The kind of job.
            name_for_attempt: The task instance's job name of each attempt (1, 2, ...).
            rerun: Start a new job even when one Completed.
            rerun_hint: How the user asks for that, for the reuse message (``if_job_exists='retrain'``).
            max_attempts: Names tried at most.
            poll_interval: Seconds between polls while a job is Stopping.
            run_id: The run asking (the log says when a job found comes from another run).

        Returns:
            ``(job_name, description)`` where ``description`` is ``None`` when the name is free.

        Raises:
            TFSageMakerError: more than ``max_attempts`` jobs, or a job that stays Stopping.
        """
        from airflow_tf_sm.exceptions import TFSageMakerError

        title = resource.title
        for attempt in range(1, max_attempts + 1):
            name = name_for_attempt(attempt)
            desc = self.hook.describe_or_none(resource.describe, **{resource.name_key: name})
            if desc is None:
                return name, None
            if desc[resource.status_key] == "Stopping":
                self.log.info("%s %s of an earlier try is Stopping: waiting for it to stop", title, name)
                desc = self._wait_until_stopped(resource, name, poll_interval)
            status = desc[resource.status_key]
            origin = self.origin(resource, desc, run_id)
            if status == "InProgress":
                self.log.info("%s %s (%s) is still running: attaching to it", title, name, origin)
                return name, desc
            if status == "Completed" and not rerun:
                hint = f" ({rerun_hint} trains again)" if rerun_hint else ""
                self.log.info("%s %s (%s) already Completed: reusing it%s", title, name, origin, hint)
                return name, desc
            self.log.info("%s %s (%s) is %s: a new job is needed", title, name, origin, status)
        raise TFSageMakerError(f"More than {max_attempts} {title.lower()}s for this task instance; giving up")

    def origin(self, resource: Resource, desc: Mapping[str, Any], run_id: str | None = None) -> str:
        """Say which task instance started a job, from its tags (``"started by run X of dag.task"``)."""
        from airflow_tf_sm.sagemaker.tags import TAG_PREFIX

        try:
            answer = self.hook.call(self.sagemaker, "list_tags", ResourceArn=desc[resource.arn_key])
        except Exception as exc:  # only words of a log line depend on it
            return f"its tags could not be read: {type(exc).__name__}"
        tags = {t["Key"]: t["Value"] for t in answer.get("Tags") or []}
        started_by = tags.get(f"{TAG_PREFIX}run-id")
        if started_by is None:
            return "not started by airflow_tf_sm"
        task = f"{tags.get(f'{TAG_PREFIX}dag-id')}.{tags.get(f'{TAG_PREFIX}task-id')}"
        index = tags.get(f"{TAG_PREFIX}map-index", "-1")
        where = f"{task}[{index}]" if index not in ("", "-1") else task
        if run_id is not None and started_by == run_id:
            return f"started by an earlier try of this run, {where}"
        return f"started by run {started_by} of {where}"

    def _wait_until_stopped(self, resource: Resource, name: str, poll_interval: float) -> dict[str, Any]:
        from airflow_tf_sm.exceptions import TFSageMakerError
        from airflow_tf_sm.waiting import WaitTimeoutError, Watch, wait_blocking

        try:
            return wait_blocking(
                Watch(resource, name),
                lambda: dict(self.hook.call(self.sagemaker, resource.describe, **{resource.name_key: name})),
                interval=self.hook.backoff(poll_interval),
                timeout=STOPPING_WAIT_SECONDS,
                emit=lambda level, line: self.log.log(level, "%s", line),
            )
        except WaitTimeoutError as exc:
            raise TFSageMakerError(f"{exc}: it did not reach Stopped; try again later") from None

"""The base of the family services (``hook.training``, ``hook.hosting``, ...): the hook they act through.

:class:`JobService` adds what every job family (training, tuning, transform) does the same way: wait,
check the end, resume.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.exceptions import ConfigValidationError, FieldError, TFSageMakerError
from airflow_tf_sm.redaction import description_secrets, register_with_masker
from airflow_tf_sm.waiting import LOG_TAIL_LINES, LogReader, WaitTimeoutError, Watch, wait_blocking

if TYPE_CHECKING:
    from airflow_tf_sm.hook import TFSageMakerHook
    from airflow_tf_sm.sagemaker.names import TaskInstanceIds
    from airflow_tf_sm.sagemaker.resources import Resource

#: Longest wait for a job of an earlier try to go from Stopping to Stopped before a new name is chosen.
STOPPING_WAIT_SECONDS = 900.0


@dataclass(frozen=True)
class StartPlan:
    """How :meth:`JobService.start` makes one task instance's job of a family.

    Attributes:
        name_for: The task instance's job name of each attempt (1, 2, ...).
        build: ``(name, validate) -> request``: the create request under a name (checked whole with
            ``validate``).
        summary: The one-line, secret-free summary of a request for the task log.
        before_create: Run just before a new job is created (uploads the code).
        found: Called with the name chosen (an earlier try's job or the free name).
    """

    name_for: Callable[[int], str]
    build: Callable[[str, bool], dict[str, Any]]
    summary: Callable[[Mapping[str, Any]], str]
    before_create: Callable[[], object]
    found: Callable[[str], None] | None = None


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


class JobService(FamilyService):
    """A family whose resource is a job that runs and ends (training, tuning, batch transform jobs).

    The one blocking wait, final check and resume from a trigger's event for all of them. A subclass sets
    :attr:`resource` (with its ``event_name_key``: the job name's key in events and XCom) and
    :attr:`failed_error`, and implements ``result``; describe, find, stop and the retry-safe name lookup are
    the resource's facts read once here.
    """

    #: The kind of job.
    resource: Resource
    #: Raised for a job that ended Failed or Stopped: ``failed_error(name, status, failure_reason, log_tail)``.
    failed_error: type[TFSageMakerError] = TFSageMakerError
    #: Raised when the wait's time limit passed (the job was stopped).
    timeout_error: type[TFSageMakerError] = TFSageMakerError
    #: The client method that creates a job (``create_training_job``).
    create_method: str = ""

    @property
    def create_operation(self) -> str:
        """The API operation of :attr:`create_method` (``CreateTrainingJob``)."""
        return "".join(word.capitalize() for word in self.create_method.split("_"))

    def checked_request(self, request: Mapping[str, Any], *, validate: bool = True) -> dict[str, Any]:
        """Return a create request coerced to the service model's types; with ``validate``, checked whole.

        Raises:
            ConfigValidationError: (``validate``) the request breaks a rule of botocore's parameter
                validation or of the package; every problem together, before any call.
        """
        from airflow_tf_sm.sagemaker.service_model import coerce_request, validate_request

        coerced = coerce_request(dict(request), self.create_operation)
        if validate:
            validate_request(coerced, self.create_operation)
        return coerced

    def create(self, request: Mapping[str, Any]) -> str:
        """Submit a validated create request; return the job's ARN.

        A create retried after a 5xx may find its own job already created: a "name in use" on a retry is
        then taken as success (the job carries the same name), never as a second job.
        """
        name = request[self.resource.name_key]
        self.hook.create_once(self.create_method, request, lambda: self.find(name) is not None, only_on_retry=True)
        self.log.info(
            "Created %s %s on %s (%s)", self.resource.title.lower(), name, self.hook.backend, self.hook.region
        )
        return str(self.describe(name)[self.resource.arn_key])

    def describe(self, name: str) -> dict[str, Any]:
        """Return the job's Describe* response (retried on throttling; raises for an unknown job).

        Its secret values (``HyperParameters``/``Environment`` entries) are registered with Airflow's masker
        (:meth:`mask_secrets`), so a task or trigger that waits for a job started elsewhere masks them too.
        """
        resource = self.resource
        self.check_names(**{resource.event_name_key: name})
        desc = dict(self.hook.call(self.sagemaker, resource.describe, **{resource.name_key: name}))
        self.mask_secrets(desc)
        return desc

    def plan(self, spec: Any, ids: TaskInstanceIds) -> StartPlan:
        """Check ``spec`` and the code it needs; return how :meth:`start` names, builds and creates its job."""
        raise NotImplementedError

    def start(
        self,
        spec: Any,
        ids: TaskInstanceIds,
        *,
        if_job_exists: str = "reuse",
        poll_interval: float = 30.0,
        on_name: Callable[[str], None] | None = None,
    ) -> tuple[str, dict[str, Any] | None]:
        """Start the job of a task instance, or find the one an earlier try started (never two).

        Everything is checked before the first API call: the spec and its code package (:meth:`plan`), then
        the whole request of the first name. Then the task instance's deterministic names are looked up
        (:meth:`find_reusable_job`): a running job is attached to, a Completed one reused (unless
        ``if_job_exists`` is the family's ``rerun_word``), a Failed or Stopped one replaced by the next
        name. Only for a new job: the request is rebuilt under the free name, the code uploaded (once,
        content-addressed) and the job created (:meth:`submit`).

        Args:
            spec: The job (the family's spec).
            ids: The task instance (its deterministic job names and tags).
            if_job_exists: ``"reuse"`` or the family's ``rerun_word`` for a Completed job of an earlier try.
            poll_interval: Seconds between polls while an earlier try's job is Stopping.
            on_name: Called with the job name just before the create call (so a kill can stop it).

        Returns:
            ``(job_name, description)``; the description of the earlier try's job, or None for a new one.
        """
        plan = self.plan(spec, ids)
        request = plan.build(plan.name_for(1), True)
        self.mask_secrets(request)
        job_name, existing = self.find_reusable_job(
            plan.name_for, if_job_exists=if_job_exists, poll_interval=poll_interval, run_id=ids.run_id
        )
        if plan.found is not None:
            plan.found(job_name)
        if existing is not None:
            return job_name, existing
        if job_name != request[self.resource.name_key]:
            request = plan.build(job_name, False)
        plan.before_create()
        self.submit(request, plan.summary(request), on_name)
        return job_name, None

    def submit(self, request: Mapping[str, Any], summary: str, on_name: Callable[[str], None] | None = None) -> str:
        """Log the create request's ``summary``, tell ``on_name`` the job's name, create the job; return its ARN."""
        self.log.info("%s %s", self.create_operation, summary)
        if on_name is not None:
            on_name(str(request[self.resource.name_key]))
        return self.create(request)

    def find(self, name: str) -> dict[str, Any] | None:
        """Return the job's Describe* response, or ``None`` when no job has that name (secrets masked)."""
        resource = self.resource
        self.check_names(**{resource.event_name_key: name})
        desc = self.hook.describe_or_none(resource.describe, **{resource.name_key: name})
        self.mask_secrets(desc)
        return desc

    def stop(self, name: str) -> bool:
        """Ask SageMaker to stop the job; False when it had already ended or does not exist.

        Stopping a tuning job stops every training job it runs.
        """
        from airflow_tf_sm.sagemaker.errors import is_already_ended, is_not_found

        resource = self.resource
        self.check_names(**{resource.event_name_key: name})
        try:
            self.hook.call(self.sagemaker, resource.stop, **{resource.name_key: name})
        except Exception as exc:
            if is_already_ended(exc) or is_not_found(exc):
                self.log.info("%s %s not stopped: %s", resource.title, name, exc)
                return False
            raise
        self.log.info("Stop requested for %s %s", resource.title.lower(), name)
        return True

    def find_reusable_job(
        self,
        name_for_attempt: Callable[[int], str],
        *,
        if_job_exists: str = "reuse",
        max_attempts: int = 50,
        poll_interval: float = 30.0,
        run_id: str | None = None,
    ) -> tuple[str, dict[str, Any] | None]:
        """Find what a (re)try of a task instance should do with its deterministic job names.

        Names ``name_for_attempt(1)``, ``(2)``, ... are looked up in turn (the family's Describe*): an
        unknown name is free and is returned to be created; a running job (InProgress) is returned to
        attach to; a Completed job is returned for reuse unless ``if_job_exists`` is the family's
        ``rerun_word`` (``"retrain"``); a Failed or Stopped job moves on
        to the next name; a Stopping job is waited for first (at most :data:`STOPPING_WAIT_SECONDS`). So a
        retry never starts a second billable job. A job found is reported with the run that started it
        (its ``airflow-tf-sm:run-id`` tag), so a name shared by runs (``"mnist-{{ ds_nodash }}"``) says
        whose job it reuses.

        Args:
            name_for_attempt: The task instance's job name of each attempt (1, 2, ...).
            if_job_exists: ``"reuse"`` a Completed job, or the family's ``rerun_word`` to start a new one.
            max_attempts: Names tried at most.
            poll_interval: Seconds between polls while a job is Stopping.
            run_id: The run asking (the log says when a job found comes from another run).

        Returns:
            ``(job_name, description)`` where ``description`` is ``None`` when the name is free.

        Raises:
            ValueError: ``if_job_exists`` is not a word of the family.
            TFSageMakerError: more than ``max_attempts`` jobs, or a job that stays Stopping.
        """
        from airflow_tf_sm.exceptions import TFSageMakerError

        resource = self.resource
        rerun = resource.rerun(if_job_exists)
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
                again = f"if_job_exists={resource.rerun_word!r} {resource.rerun_verb} again"
                self.log.info("%s %s (%s) already Completed: reusing it (%s)", title, name, origin, again)
                return name, desc
            self.log.info("%s %s (%s) is %s: a new job is needed", title, name, origin, status)
        raise TFSageMakerError(f"More than {max_attempts} {title.lower()}s for this task instance; giving up")

    def result(self, desc: Mapping[str, Any]) -> dict[str, Any]:
        """Turn the job's Describe* response into the small JSON value pushed to XCom."""
        raise NotImplementedError

    def watch(self, name: str) -> Watch:
        """Return the wait state machine of one job."""
        return Watch(self.resource, name)

    def log_reader(self, name: str) -> LogReader | None:
        """Return a reader of the job's CloudWatch log streams; ``None`` for a family without a log group."""
        if not self.resource.log_group:
            return None
        self.check_names(**{self.resource.event_name_key: name})
        return LogReader(self.hook, self.resource.log_group, name)

    def wait(
        self,
        name: str,
        *,
        poll_interval: float = 30.0,
        max_wait: float | None = None,
        stream_logs: bool = True,
        print_log: Callable[[int, str], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the job ends; stream its log (when it has one) and status changes into the task log.

        Args:
            name: The job.
            poll_interval: Seconds between polls (the longest; polling starts faster).
            max_wait: Stop the job and raise :attr:`timeout_error` after this many seconds.
            stream_logs: Copy the job's log into the task log while waiting.
            print_log: Where log lines go (default: this hook's logger, each line at its level).

        Returns:
            The final Describe* response of a Completed job.

        Raises:
            TFSageMakerError: :attr:`failed_error` (the job ended Failed or Stopped), :attr:`timeout_error`.
        """
        emit = print_log or (lambda level, line: self.log.log(level, "%s", line))
        reader = self.log_reader(name)
        streaming = stream_logs and reader is not None
        try:
            desc = wait_blocking(
                self.watch(name),
                lambda: self.describe(name),
                interval=self.hook.backoff(poll_interval),
                timeout=max_wait,
                emit=emit,
                read_entries=reader.new_entries if streaming and reader is not None else None,
            )
        except WaitTimeoutError as exc:
            self.stop(name)
            raise self.timeout_error(f"{exc} (wait_timeout); stop requested") from None
        return self.check_final(desc, None if streaming else reader, shown=streaming)

    def check_final(
        self, desc: Mapping[str, Any], reader: LogReader | None = None, *, shown: bool = False
    ) -> dict[str, Any]:
        """Return ``desc`` of a Completed job; raise :attr:`failed_error` for a Failed or Stopped one.

        The error carries the log's last lines unless they were ``shown`` already (streamed).
        """
        status, name = desc[self.resource.status_key], desc[self.resource.name_key]
        if status in self.resource.success:
            return dict(desc)
        tail = ""
        if not shown:
            reader = reader or self.log_reader(name)
            tail = "\n".join(reader.tail(LOG_TAIL_LINES)) if reader is not None else ""
        raise self.failure(name, status, desc.get("FailureReason"), tail)

    def result_from_event(self, event: Mapping[str, Any] | None, log: Any = None) -> dict[str, Any]:
        """Turn the family trigger's event into the task's result (``execute_complete``, sensors).

        The job is described again, so a repeated or stale event cannot report a wrong state; the event's
        log tail is logged.

        Raises:
            TFSageMakerError: :attr:`failed_error` (the job ended Failed or Stopped); the trigger reported
                an error, or the event is missing or names no job.
        """
        logger = log or self.log
        key, title = self.resource.event_name_key, self.resource.title
        what = title.lower()
        if not event or not event.get(key):
            raise TFSageMakerError(f"{title} trigger returned no usable event: {event!r}")
        name = str(event[key])
        if event.get("status") == "error":
            raise TFSageMakerError(f"Waiting for {what} {name} failed: {event.get('message')}")
        tail = [str(line) for line in event.get("log_tail") or []]
        if tail:
            logger.info("Last log lines of %s %s:\n%s", what, name, "\n".join(tail))
        desc = self.describe(name)
        status = desc[self.resource.status_key]
        if self.resource.is_busy(status):
            raise TFSageMakerError(f"{title} {name} is {status} although its trigger reported it ended")
        self.resumed(desc, logger)
        if status not in self.resource.success:
            raise self.failure(name, status, desc.get("FailureReason"), "\n".join(tail))
        return self.result(self.check_final(desc))

    def failure(self, name: str, status: str, reason: str | None, tail: str) -> TFSageMakerError:
        """Return the error of a job that ended ``status`` (Failed, Stopped)."""
        return self.failed_error(name, status, reason, tail)  # type: ignore[call-arg]

    def resumed(self, desc: Mapping[str, Any], log: Any) -> None:
        """Act on the job's description when a task resumes after its trigger (nothing by default)."""

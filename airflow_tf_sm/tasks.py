"""The base of every operator and sensor of the package: connection arguments once, the hook, deferral.

:class:`SageMakerTask` takes the connection arguments (the fields of
:class:`~airflow_tf_sm.backends.ClientParams`) as explicit keywords, so ``partial()``/``expand()``, IDEs
and the API docs see them; it builds the hook at run time (never when a DAG is parsed) and knows the
task instance's identity (the identity of its jobs). Light: DAG files import it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, BaseOperatorLink, BaseSensorOperator, PokeReturnValue

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_tf_sm.backends import ClientParams
    from airflow_tf_sm.hook import TFSageMakerHook
    from airflow_tf_sm.sagemaker.names import TaskInstanceIds
    from airflow_tf_sm.sagemaker.resources import Resource
    from airflow_tf_sm.service import JobService
    from airflow_tf_sm.waiting import LogReader, Watch


def keyword_arguments(function: Callable[..., Any], exclude: Sequence[str] = ()) -> tuple[str, ...]:
    """Return the keyword-only arguments of ``function`` in signature order, without ``exclude``.

    Read from the code object (no ``inspect`` at DAG parse time): operators list their spec fields with it.
    """
    code = function.__code__
    names = code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
    return tuple(name for name in names if name not in exclude)


class SageMakerTask(BaseOperator):
    """Base of the operators and sensors of the package (not used on its own).

    Args:
        backend: ``"sagemaker"`` or ``"local"``; default from ``[airflow_tf_sm] backend``.
        aws_conn_id: Airflow ``aws`` connection (AWS backend).
        region_name: AWS region (default: the connection's). Templated.
        verify: TLS verification of AWS clients (bool or CA bundle path).
        botocore_config: ``botocore.config.Config`` keyword arguments (with ``retries`` in it, botocore
            retries and the hook tries each call once).
        endpoint_url: Endpoint override for AWS clients.
        local_root: State root of the local backend (default ``[airflow_tf_sm] local_root``). Templated.
        **kwargs: ``BaseOperator`` arguments.
    """

    template_fields: Any = ("region_name", "local_root")
    #: The extra links of the task's resource on the AWS backend (a task on the local backend has none).
    resource_links: tuple[BaseOperatorLink, ...] = ()

    def __init__(
        self,
        *,
        backend: str | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        endpoint_url: str | None = None,
        local_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.backend = backend
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.endpoint_url = endpoint_url
        self.local_root = local_root
        self._hook: TFSageMakerHook | None = None
        #: ``(resource name, region)`` the links point to, once the task knows its resource.
        self.link_target: tuple[str, str] | None = None

    def __setattr__(self, key: str, value: Any) -> None:
        """Refuse a templated argument nested too deep, before Airflow walks it (recursively) for XComArgs."""
        if isinstance(value, Mapping | list | tuple) and key in type(self).template_fields:
            from airflow_tf_sm.exceptions import ConfigValidationError
            from airflow_tf_sm.sagemaker.fields import nesting_errors

            too_deep = nesting_errors(key, value)
            if too_deep:
                raise ConfigValidationError(too_deep)
        super().__setattr__(key, value)

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render the templated arguments (none nested too deep), then register their secret values.

        Airflow stores the rendered fields (the UI's "Rendered Template") right after this, masking
        what is registered: so ``hyperparameters={"db_pass": "{{ var.value.db_pass }}"}`` shows ``***``
        there and in the task log, although Airflow's own list of sensitive names lacks ``pass``.
        """
        from airflow_tf_sm.exceptions import ConfigValidationError
        from airflow_tf_sm.sagemaker.fields import nesting_errors

        too_deep = [e for name in self.template_fields for e in nesting_errors(name, getattr(self, name, None))]
        if too_deep:  # Airflow's rendering recurses: thousands of levels end in a RecursionError
            raise ConfigValidationError(too_deep)
        super().render_template_fields(context, jinja_env)
        self.mask_rendered_secrets()

    def mask_rendered_secrets(self) -> None:
        """Register the secret values of the (rendered) ``hyperparameters`` / ``environment`` arguments."""
        from airflow_tf_sm.redaction import description_secrets, register_with_masker

        register_with_masker(description_secrets({name: getattr(self, name, None) for name in self.template_fields}))

    @property  # type: ignore[override]
    def operator_extra_links(self) -> tuple[BaseOperatorLink, ...]:
        """:attr:`resource_links`, or none when the task runs on the local backend (no console to link to)."""
        return links_of(self)

    @operator_extra_links.setter
    def operator_extra_links(self, links: Any) -> None:
        self.resource_links = tuple(links)

    def remember_link(self, resource_name: str) -> None:
        """Point the task's links at ``resource_name``; Airflow stores their URLs when the task ends."""
        self.link_target = (resource_name, self.hook.region)

    @property
    def client_params(self) -> ClientParams:
        """The (rendered) connection arguments of this task."""
        from airflow_tf_sm.backends import ClientParams

        return ClientParams.from_mapping(vars(self))

    @property
    def hook(self) -> TFSageMakerHook:
        """The hook for this task's backend and connection (built on first use, at run time)."""
        if self._hook is None:
            from airflow_tf_sm.hook import TFSageMakerHook

            self._hook = TFSageMakerHook.from_params(self.client_params)
        return self._hook

    @staticmethod
    def resolve_deferrable(value: bool | None) -> bool:
        """Return ``value``, or ``[operators] default_deferrable`` when it is None."""
        from airflow_tf_sm.settings import default_deferrable

        return default_deferrable() if value is None else bool(value)

    @staticmethod
    def task_ids(context: Context) -> TaskInstanceIds:
        """Return the identity of the running task instance (dag, task, run, map index)."""
        from airflow_tf_sm.sagemaker.names import TaskInstanceIds

        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        return TaskInstanceIds(ti.dag_id, ti.task_id, ti.run_id, -1 if map_index is None else int(map_index))

    # ------------------------------------------------------------ job families
    #: The hook's service of the task's job family (``"training"``: ``hook.training``), if it has one.
    family: str = ""
    #: The family's trigger, ``"module:Class"`` (imported when the task defers, never when a DAG is parsed).
    trigger_class: str = ""

    @property
    def service(self) -> JobService:
        """The task's job family service (``hook.training``, ``hook.tuning``, ``hook.transform``)."""
        return getattr(self.hook, self.family)  # type: ignore[no-any-return]

    def job_trigger(self, name: str, poll_interval: float) -> BaseTrigger:
        """Return the family's trigger waiting for job ``name`` (``stream_logs`` where the family has logs)."""
        import importlib

        module, _, class_name = self.trigger_class.partition(":")
        trigger = getattr(importlib.import_module(module), class_name)
        kwargs: dict[str, Any] = {
            self.service.resource.event_name_key: name,
            "client_params": self.hook.trigger_params(),
            "poll_interval": poll_interval,
            "stop_job_on_kill": getattr(self, "stop_job_on_kill", True),
        }
        if self.service.resource.log_group:
            kwargs["stream_logs"] = getattr(self, "stream_logs", True)
        return trigger(**kwargs)  # type: ignore[no-any-return]

    def stop_killed(self, name: str | None) -> None:
        """Stop job ``name`` of the family because the task was killed (when ``stop_job_on_kill``)."""
        if getattr(self, "stop_job_on_kill", False) and name and self._hook is not None:
            self.log.info("Task killed: stopping %s job %s", self.family, name)
            getattr(self._hook, self.family).stop(name)

    def warn_if_kill_cannot_stop(self, name: str) -> None:
        """Warn, before deferring, when this Airflow (< 3.3) will not let a kill of the task stop ``name``."""
        from airflow_tf_sm.compat import trigger_kill_supported

        if getattr(self, "stop_job_on_kill", False) and not trigger_kill_supported():
            self.log.warning(
                "Airflow < 3.3 does not tell a trigger that its deferred task was killed: killing this task "
                "(mark failed, clear) will not stop %s; stop it yourself if you kill the task "
                "(a later try of the task attaches to it instead of starting a second one)",
                name,
            )

    def defer_to(
        self,
        trigger: BaseTrigger,
        *,
        method_name: str = "execute_complete",
        kwargs: Mapping[str, Any] | None = None,
        wait_timeout: float | None = None,
    ) -> None:
        """Defer to ``trigger``; the deferral times out at the sooner of ``wait_timeout`` and ``execution_timeout``."""
        limits = [t for t in (wait_timeout, _seconds(self.execution_timeout)) if t]
        self.defer(
            trigger=trigger,
            method_name=method_name,
            kwargs=dict(kwargs) if kwargs is not None else None,
            timeout=dt.timedelta(seconds=min(limits)) if limits else None,
        )


class WaitingTask(SageMakerTask):
    """Base of the operators that wait for what they start (in the worker, or deferred to the triggerer).

    Args:
        wait_for_completion: Wait for the resource to settle (``False``: return right after the create call).
        poll_interval: Seconds between status polls (the longest interval: polling starts faster).
        wait_timeout: Fail (and stop a job) after waiting this many seconds (``None``: no limit). Not to be
            confused with ``max_wait``, the spot-training limit of a training job itself.
        deferrable: Wait in the triggerer instead of a worker slot; default from
            ``[operators] default_deferrable``.
        **kwargs: Connection arguments (:class:`SageMakerTask`) and ``BaseOperator`` arguments.
    """

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        poll_interval: float = 30.0,
        wait_timeout: float | None = None,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.deferrable = self.resolve_deferrable(deferrable)
        #: The result this task returned (read by the OpenLineage methods when the task ends).
        self.lineage_result: dict[str, Any] | None = None

    #: The result entry whose ``s3://`` URI an ``AssetAlias`` outlet adds as an asset (model, output prefix).
    asset_uri_key: str = ""

    def publish(self, context: Context, result: dict[str, Any]) -> dict[str, Any]:
        """Return ``result`` (the XCom value), after putting it into each outlet's asset event ``extra``.

        Called wherever the task returns its result (execute, execute_complete, a reused job), so every
        path emits the same extra; a task that fails or skips never gets here (Airflow emits nothing).
        """
        self.lineage_result = result
        if self.outlets:
            from airflow_tf_sm.lineage import fill_outlet_events

            fill_outlet_events(self.outlets, context["outlet_events"], result, self.asset_uri_key)
        return result

    # ------------------------------------------------ OpenLineage (called by the OpenLineage provider)
    def lineage_of(self, task_instance: Any) -> Any:
        """Return the ``OperatorLineage`` of this task's job (``task_instance`` None: planned, before it runs)."""
        raise NotImplementedError

    def lineage_name(self, task_instance: Any, key: str) -> str | None:
        """Return the name of this task's job (None: not started).

        From its result, else the resource its links point to (set once the job is known, also on a failed
        try), else -- for a task object other than the one that ran -- its XCom ``key``. (The provider asks
        from a forked process, where the running task instance must not be asked for XComs.)
        """
        if self.lineage_result and self.lineage_result.get(key):
            return str(self.lineage_result[key])
        if self.link_target and self.link_target[0]:
            return self.link_target[0]
        if task_instance is None or getattr(task_instance, "task", None) is self:
            return None
        name = task_instance.xcom_pull(task_ids=self.task_id, key=key)
        return str(name) if name else None

    def get_openlineage_facets_on_start(self) -> Any:
        """OpenLineage START: the datasets and settings planned from the task's arguments (no API call)."""
        return self.lineage_of(None)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage COMPLETE: the inputs and outputs of the job that ran, its settings and results."""
        return self.lineage_of(task_instance)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """OpenLineage FAIL: the job's inputs and settings, no outputs."""
        from airflow_tf_sm.lineage import without_outputs

        return without_outputs(self.lineage_of(task_instance))


class JobTask(WaitingTask):
    """Base of the operators that start one job of a family and wait for it (training, tuning, transform).

    A subclass sets :attr:`~SageMakerTask.family` and :attr:`~SageMakerTask.trigger_class`, starts its job
    through :meth:`run_job` and logs the result (:meth:`log_result`). The rest is the same for every family:
    the job name in XCom (key: the family's event name key, e.g. ``job_name``) and in the links, no wait
    (``wait_for_completion=False``), deferral (only for a job still running), the blocking wait, the resume
    after the trigger, a stop when the deferral timed out and when the task is killed.

    Args:
        if_job_exists: What to do when this task instance's job already Completed in an earlier try:
            ``"reuse"`` it (default), or run again under the next name with the family's word
            (``"retrain"``, ``"retune"``, ``"rerun"``: ``resource.rerun_word``). A bad word is refused when
            the DAG is parsed.
        stop_job_on_kill: Stop the job when the task is killed (also while deferred, on Airflow 3.3+).
        **kwargs: Waiting, connection and ``BaseOperator`` arguments (:class:`WaitingTask`).
    """

    #: The family's resource (its ``if_job_exists`` word, name and status keys).
    resource: Resource

    def __init__(self, *, if_job_exists: str = "reuse", stop_job_on_kill: bool = True, **kwargs: Any) -> None:
        self.resource.rerun(if_job_exists)  # a bad word is refused when the DAG is parsed
        super().__init__(**kwargs)
        self.if_job_exists = if_job_exists
        self.stop_job_on_kill = stop_job_on_kill
        self._job_name_in_flight: str | None = None

    def run_job(self, context: Context, spec: Any, **start_args: Any) -> dict[str, Any]:
        """Start (or re-attach to) the job of ``spec``, wait for it as configured, return its result.

        The family's service starts it (``service.start(spec, task instance, **start_args)``, with this
        task's ``if_job_exists``); the job's name is known just before the create call, so a kill during the
        call still stops the job.
        """
        service = self.service
        resource = service.resource

        def in_flight(name: str) -> None:
            self._job_name_in_flight = name

        name, existing = service.start(
            spec,
            self.task_ids(context),
            **start_args,
            if_job_exists=self.if_job_exists,
            poll_interval=self.poll_interval,
            on_name=in_flight,
        )
        self._job_name_in_flight = name
        context["ti"].xcom_push(key=resource.event_name_key, value=name)
        self.remember_link(name)
        if not self.wait_for_completion:
            return self.publish(context, service.result(service.describe(name)))
        if self.deferrable and (existing is None or resource.is_busy(existing[resource.status_key])):
            self.warn_if_kill_cannot_stop(f"{resource.title.lower()} {name}")
            self.defer_to(
                self.job_trigger(name, self.poll_interval),
                kwargs={resource.event_name_key: name},
                wait_timeout=self.wait_timeout,
            )
        desc = service.wait(
            name,
            poll_interval=self.poll_interval,
            max_wait=self.wait_timeout,
            stream_logs=bool(getattr(self, "stream_logs", False)),
        )
        self._job_name_in_flight = None
        return self.finish(context, service.result(desc))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None, **names: Any) -> dict[str, Any]:
        """Resume after the trigger fired: re-describe the job and return the same value as the sync mode.

        The job's name comes with the deferral's kwargs; under ``dag.test()`` only the event arrives.
        """
        key = self.service.resource.event_name_key
        name = names.get(key)
        if event is not None and not event.get(key) and name:
            event = {**event, key: name}
        self.remember_link(str((event or {}).get(key) or name or ""))
        return self.finish(context, self.service.result_from_event(event, self.log))

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Stop the job when the deferral timed out (``wait_timeout`` / ``execution_timeout``)."""
        from airflow_tf_sm.compat import task_deferral_timeout

        timeout_error = task_deferral_timeout()
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except timeout_error:
            service = self.service
            name = context["ti"].xcom_pull(task_ids=self.task_id, key=service.resource.event_name_key)
            if name:
                service.stop(str(name))
            raise timeout_error(
                f"{service.resource.title} {name} did not finish within the task's time limit; stop requested"
            ) from None

    def finish(self, context: Context, result: dict[str, Any]) -> dict[str, Any]:
        """Log the result of the ended job (:meth:`log_result`) and return it (:meth:`~WaitingTask.publish`)."""
        self.log_result(result)
        return self.publish(context, result)

    def log_result(self, result: dict[str, Any]) -> None:
        """Log a one-line summary of the ended job's result (nothing by default)."""

    def on_kill(self) -> None:
        """Stop the running job when the task is killed (unless ``stop_job_on_kill=False``)."""
        self.stop_killed(self._job_name_in_flight)


class SageMakerSensor(BaseSensorOperator, SageMakerTask):
    """Base of the sensors: wait for a resource started elsewhere, by poking or deferred to the triggerer.

    A subclass says what it waits for (:attr:`what`), the argument holding its name (:attr:`name_argument`),
    pokes and builds its trigger (:meth:`make_trigger`).

    Args:
        deferrable: Wait in the triggerer; default ``[operators] default_deferrable``.
        **kwargs: Connection arguments (:class:`SageMakerTask`) and ``BaseSensorOperator`` arguments
            (``poke_interval``, ``timeout``, ``mode``, ...).
    """

    #: What the sensor waits for, in words (``a training job``).
    what: str
    name_argument: str

    def __init__(self, *, deferrable: bool | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferrable = self.resolve_deferrable(deferrable)
        self._watch: Watch | None = None
        self._reader: LogReader | None = None

    @property
    def resource_name(self) -> str:
        """The (rendered) name of the resource waited for."""
        return str(getattr(self, self.name_argument) or "")

    def _get_next_poke_interval(self, started_at: Any, run_duration: Any, poke_count: int) -> float:
        """Poke after ~1 s, then 2, 4, ... s up to ``poke_interval`` (capped by the backend), not at a fixed rate.

        ``exponential_backoff=True`` keeps Airflow's own schedule.
        """
        if getattr(self, "exponential_backoff", False):
            return float(super()._get_next_poke_interval(started_at, run_duration, poke_count))  # type: ignore[misc]
        from airflow_tf_sm.waiting import FIRST_INTERVAL

        ceiling = min(self.poke_interval, self.hook.clients.max_poll_interval or self.poke_interval)
        if self.reschedule:  # each reschedule is a new try: grow with the time waited so far
            return float(min(ceiling, max(FIRST_INTERVAL, run_duration())))
        return float(min(ceiling, FIRST_INTERVAL * 2 ** max(0, poke_count - 1)))

    def make_trigger(self) -> BaseTrigger:
        """Return the trigger that waits in the triggerer."""
        raise NotImplementedError

    def poke_job(self, service: Any, resource: Resource, stream_logs: bool) -> bool | PokeReturnValue:
        """Poke a job of ``resource`` through its family ``service``: its result when Completed, else False.

        In poke mode the job's new log lines go to the task log at their levels, before its status line.

        Raises:
            TFSageMakerError: (its subclass for the family) the job ended Failed or Stopped.
        """
        from airflow_tf_sm.waiting import Watch, status_level, status_text

        name = self.resource_name
        if self._watch is None:
            self._watch = service.watch(name) if hasattr(service, "watch") else Watch(resource, name)
        step = self._watch.observe(service.describe(name))
        streaming = stream_logs and self.mode == "poke" and not self.deferrable
        if streaming:
            if self._reader is None:
                self._reader = service.log_reader(name)
            entries = self._reader.new_entries()
            if step.done:  # the last lines can land after the status changed
                entries += self._reader.new_entries()
            for level, line in entries:
                self.log.log(level, "%s", line)
        if step.status_line:
            self.log.log(status_level(step), "%s", status_text(step, step.status_line))
        if not step.done:
            return False
        final = service.check_final(step.desc, self._reader, shown=streaming)  # raises for Failed / Stopped
        return PokeReturnValue(is_done=True, xcom_value=service.result(final))

    def execute(self, context: Context) -> Any:
        """Wait for the resource: poke, or (``deferrable``) check once and defer to :meth:`make_trigger`."""
        if not self.resource_name:
            raise ValueError(f"{self.name_argument}: empty -- the sensor needs the name of {self.what}")
        self.remember_link(self.resource_name)
        if not self.deferrable:
            return super().execute(context)
        done = self.poke(context)
        if isinstance(done, PokeReturnValue) and done.is_done:  # already settled: no need to defer
            return done.xcom_value
        self.warn_if_kill_cannot_stop(self.resource_name)
        self.defer(
            trigger=self.make_trigger(), method_name="execute_complete", timeout=dt.timedelta(seconds=self.timeout)
        )


class JobSensor(SageMakerSensor):
    """Base of the sensors of a job family: poke, trigger, resume and kill the same way for each.

    A subclass sets :attr:`~SageMakerTask.family`, :attr:`~SageMakerTask.trigger_class`, ``what`` and
    ``name_argument``, and the attributes ``stream_logs`` and ``stop_job_on_kill``.
    """

    stream_logs: bool = False
    stop_job_on_kill: bool = False

    def make_trigger(self) -> BaseTrigger:
        """Return the family's trigger for the job waited for."""
        return self.job_trigger(self.resource_name, self.poke_interval)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Return the result when the job is Completed, False while it runs; raise when it failed.

        Raises:
            TFSageMakerError: (the family's subclass) the job ended Failed or Stopped.
        """
        service = self.service
        return self.poke_job(service, service.resource, self.stream_logs and bool(service.resource.log_group))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired: re-describe the job and return its result (or raise)."""
        self.remember_link(self.resource_name)
        return self.service.result_from_event(event, self.log)  # type: ignore[no-any-return]

    def on_kill(self) -> None:
        """Stop the job when the task is killed while poking, if ``stop_job_on_kill`` (deferred: the trigger's)."""
        self.stop_killed(self.resource_name)


def links_of(task: Any) -> tuple[BaseOperatorLink, ...]:
    """Return the extra links of a task or a mapped task (``partial().expand()``): none on the local backend.

    The backend is the task's ``backend`` argument, else ``[airflow_tf_sm] backend``, as the task will run.
    """
    from airflow_tf_sm.settings import resolve_backend

    operator_class = getattr(task, "operator_class", type(task))  # a mapped task: the class it expands
    arguments = getattr(task, "partial_kwargs", None) or vars(task)
    try:
        local = resolve_backend(arguments.get("backend")) == "local"
    except ValueError:  # a bad backend name fails the task itself, with its own message
        local = False
    return () if local else tuple(operator_class.resource_links)


def _seconds(delta: Any) -> float | None:
    return float(delta.total_seconds()) if delta is not None else None

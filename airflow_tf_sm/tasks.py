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

from airflow.sdk import BaseOperator, BaseSensorOperator, PokeReturnValue

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_tf_sm.backends import ClientParams
    from airflow_tf_sm.hook import TFSageMakerHook
    from airflow_tf_sm.sagemaker.names import TaskInstanceIds


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


class SageMakerSensor(BaseSensorOperator, SageMakerTask):
    """Base of the sensors: wait for a resource started elsewhere, by poking or deferred to the triggerer.

    A subclass says what it waits for (:attr:`what`), the argument holding its name (:attr:`name_argument`),
    pushes its link (:meth:`persist_link`), pokes and builds its trigger (:meth:`make_trigger`).

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

    @property
    def resource_name(self) -> str:
        """The (rendered) name of the resource waited for."""
        return str(getattr(self, self.name_argument) or "")

    def persist_link(self, context: Context) -> None:
        """Push the XCom value the sensor's extra links read."""

    def make_trigger(self) -> BaseTrigger:
        """Return the trigger that waits in the triggerer."""
        raise NotImplementedError

    def execute(self, context: Context) -> Any:
        """Wait for the resource: poke, or (``deferrable``) check once and defer to :meth:`make_trigger`."""
        if not self.resource_name:
            raise ValueError(f"{self.name_argument}: empty -- the sensor needs the name of {self.what}")
        self.persist_link(context)
        if not self.deferrable:
            return super().execute(context)
        done = self.poke(context)
        if isinstance(done, PokeReturnValue) and done.is_done:  # already settled: no need to defer
            return done.xcom_value
        self.defer(
            trigger=self.make_trigger(), method_name="execute_complete", timeout=dt.timedelta(seconds=self.timeout)
        )


def _seconds(delta: Any) -> float | None:
    return float(delta.total_seconds()) if delta is not None else None

"""boto3-shaped clients of the local backend: SageMaker (training, tuning, hosting, transform), S3, Logs, Runtime.

They take the same keyword arguments as boto3's clients, return the same response shapes and raise
``botocore.exceptions.ClientError`` with the real error codes, over the on-disk state of one root
directory shared by every process on the machine.

Example:
    >>> sm, s3, logs, runtime = local_clients("/tmp/airflow_tf_sm-doc")  # doctest: +SKIP
    >>> sm.describe_training_job(TrainingJobName="my-job")["TrainingJobStatus"]  # doctest: +SKIP
    'InProgress'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.backends.local.engine import Engine
from airflow_tf_sm.backends.local.hosting import ENDPOINT, ENDPOINT_CONFIG, MODEL
from airflow_tf_sm.backends.local.hosting_api import HostingAPI
from airflow_tf_sm.backends.local.logs_api import LocalLogsClient
from airflow_tf_sm.backends.local.runtime_client import LocalRuntimeClient
from airflow_tf_sm.backends.local.s3_api import LocalS3Client
from airflow_tf_sm.backends.local.state import CorruptRecordError, RecordNotFoundError, StateStore
from airflow_tf_sm.backends.local.training_api import TrainingAPI
from airflow_tf_sm.backends.local.transform_api import TransformAPI
from airflow_tf_sm.backends.local.tuning_api import TuningAPI
from airflow_tf_sm.backends.local.wire import client_error, corrupt_record_error, metadata, paginate

if TYPE_CHECKING:
    from airflow_tf_sm.backends import ClientParams, Clients

__all__ = ["LocalLogsClient", "LocalRuntimeClient", "LocalS3Client", "LocalSageMakerClient", "local_clients"]

#: Longest poll interval of waits on the local backend (a poll reads a file): seconds.
LOCAL_POLL_INTERVAL = 1.0
#: Role ARN the local backend uses when a job names none (it assumes nothing with it).
LOCAL_ROLE_ARN = "arn:aws:iam::000000000000:role/airflow-tf-sm-local"


class LocalSageMakerClient(TrainingAPI, TuningAPI, HostingAPI, TransformAPI):
    """The SageMaker API of the local backend: training, tuning, hosting (models, configs, endpoints), transform, tags.

    Args:
        root: The local backend root directory.
        region: Region reported in ARNs and to the training scripts.
        stop_grace: Seconds between SIGTERM and SIGKILL when a job or a model server is stopped.
        heartbeat_timeout: Seconds without a runner (or worker) heartbeat before a job is declared dead.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        region: str = "us-east-1",
        *,
        stop_grace: float = 5.0,
        heartbeat_timeout: float = 30.0,
    ) -> None:
        self.root = Path(root)
        self.region = region
        self.engine = Engine(self.root, heartbeat_timeout=heartbeat_timeout, stop_grace=stop_grace)
        self.meta = SimpleNamespace(region_name=region)

    # -- tags ----------------------------------------------------------------------------------
    def _tagged(self, arn: str, op: str) -> tuple[StateStore, str]:
        """Return the store and name of the resource an ARN of this region names."""
        prefix = f"arn:aws:sagemaker:{self.region}:"
        rest = arn[len(prefix) :] if arn.startswith(prefix) else ""
        kind, _, wanted = rest.partition(":")[2].partition("/")  # "<account>:<kind>/<name>"
        stores = {
            "training-job": self.engine.store,
            "transform-job": self.transforms.store,
            "hyper-parameter-tuning-job": self.tuning,
            **{k: self.hosting.stores[k] for k in (MODEL, ENDPOINT_CONFIG, ENDPOINT)},
        }
        if kind not in stores or not wanted:
            raise client_error("ValidationException", f"Invalid resource ARN: {arn}", op)
        for name in stores[kind].names():
            if name.lower() == wanted.lower():
                return stores[kind], name
        raise client_error("ValidationException", f"Resource {arn} not found.", op)

    def list_tags(self, *, ResourceArn: str, NextToken: str | None = None, MaxResults: int = 50) -> dict[str, Any]:
        """Return the tags of a training job, transform job, model, endpoint config or endpoint: ``{"Tags": [...]}``."""
        op = "ListTags"
        store, name = self._tagged(ResourceArn, op)
        try:
            tags = list(store.load(name).get("tags", []))
        except (RecordNotFoundError, CorruptRecordError):
            raise client_error("ValidationException", f"Resource {ResourceArn} not found.", op) from None
        page, token = paginate(tags, NextToken, MaxResults, op)
        resp: dict[str, Any] = {"Tags": page}
        if token:
            resp["NextToken"] = token
        resp["ResponseMetadata"] = metadata()
        return resp

    def add_tags(self, *, ResourceArn: str, Tags: list[dict[str, str]]) -> dict[str, Any]:
        """Add or overwrite tags of a training job, model, endpoint config or endpoint; return ``{"Tags": Tags}``."""
        op = "AddTags"
        store, name = self._tagged(ResourceArn, op)

        def merge(state: dict[str, Any]) -> None:
            merged = {t["Key"]: t["Value"] for t in state.get("tags", [])}
            merged.update({t["Key"]: t["Value"] for t in Tags})
            state["tags"] = [{"Key": k, "Value": v} for k, v in merged.items()]

        try:
            store.update(name, merge)
        except RecordNotFoundError:
            raise client_error("ValidationException", f"Resource {ResourceArn} not found.", op) from None
        except CorruptRecordError as exc:
            raise corrupt_record_error(exc, op) from None
        return {"Tags": list(Tags), "ResponseMetadata": metadata()}


def local_clients(
    root: str | os.PathLike[str],
    region: str = "us-east-1",
    *,
    stop_grace: float = 5.0,
    heartbeat_timeout: float = 30.0,
) -> tuple[LocalSageMakerClient, LocalS3Client, LocalLogsClient, LocalRuntimeClient]:
    """Return the local backend's (sagemaker, s3, logs, runtime) clients over one root directory.

    Args:
        root: State root shared by every process (created if missing).
        region: Region used in ARNs and given to the training scripts.
        stop_grace: Seconds between SIGTERM and SIGKILL when a job is stopped.
        heartbeat_timeout: Seconds without a runner heartbeat before a job is declared dead.
    """
    path = Path(root).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return (
        LocalSageMakerClient(path, region, stop_grace=stop_grace, heartbeat_timeout=heartbeat_timeout),
        LocalS3Client(path, region),
        LocalLogsClient(path, region),
        LocalRuntimeClient(path, region),
    )


def invocation_url(endpoint_name: str, desc: Mapping[str, Any]) -> str:
    """Return the local model server's invocation URL of an endpoint ("" while it has none)."""
    local = desc.get("LocalUrl")
    return f"{str(local).rstrip('/')}/invocations" if local else ""


def local_backend(params: ClientParams) -> Clients:
    """Return the local backend's :class:`~airflow_tf_sm.backends.Clients` for ``params``.

    The region is the argument's, else ``AWS_DEFAULT_REGION``, else ``us-east-1``; the root the
    argument's, else ``[airflow_tf_sm] local_root``. Both are pinned in ``Clients.params``.
    """
    import dataclasses

    from airflow_tf_sm.backends import Clients
    from airflow_tf_sm.settings import LOCAL_MAX_HOSTS_SETTING, local_max_hosts, resolve_local_root

    root = resolve_local_root(params.local_root)
    region = params.region_name or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    sagemaker, s3, logs, runtime = local_clients(root, region)
    return Clients(
        sagemaker=sagemaker,
        s3=s3,
        logs=logs,
        runtime=runtime,
        region=region,
        backend="local",
        params=dataclasses.replace(params, backend="local", region_name=region, local_root=str(root)),
        default_role=LOCAL_ROLE_ARN,
        invocation_url=invocation_url,
        max_poll_interval=LOCAL_POLL_INTERVAL,
        max_hosts=(local_max_hosts(), LOCAL_MAX_HOSTS_SETTING),
    )

"""Command line of the local backend (``tf-sm-local``): its training jobs and endpoints on this machine.

Usage::

    tf-sm-local list                          training jobs, newest first
    tf-sm-local describe [NAME | --last]      status, reason, metrics and model artifact of a job
    tf-sm-local logs NAME                     a job's training log ([algo-N] before each line of a multi-host job)
    tf-sm-local stop NAME                     stop a running job
    tf-sm-local endpoints                     endpoints, their status and invocation URL
    tf-sm-local delete-endpoint NAME          delete an endpoint, its config and models (stops its model server)
    tf-sm-local stop-all                      stop every running job and delete every endpoint: a clean machine

``--root`` defaults to the configured ``[airflow_tf_sm] local_root`` (``$AIRFLOW_HOME/airflow_tf_sm``
when unset), the root the worker and the triggerer use; ``python -m airflow_tf_sm.backends.local.cli``
is the same command.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
from collections.abc import Callable, Sequence
from typing import Any

from airflow_tf_sm.backends.local.clients import local_clients
from airflow_tf_sm.sagemaker.resources import TRAINING_JOB
from airflow_tf_sm.sagemaker.resources import TRAINING_LOG_GROUP as LOG_GROUP

PROG = "tf-sm-local"


def _last_job(sagemaker: Any) -> str | None:
    jobs = sagemaker.list_training_jobs(SortBy="CreationTime", SortOrder="Descending", MaxResults=1)
    summaries = jobs.get("TrainingJobSummaries", [])
    return str(summaries[0]["TrainingJobName"]) if summaries else None


def _all(method: Callable[..., dict[str, Any]], key: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a paged list call."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = method(**kwargs, **({"NextToken": token} if token else {}))
        items.extend(page.get(key) or [])
        token = page.get("NextToken")
        if not token:
            return items


def _list(sagemaker: Any) -> int:
    jobs = _all(sagemaker.list_training_jobs, "TrainingJobSummaries", MaxResults=100)
    if not jobs:
        print("No training jobs")
    for job in jobs:
        print(f"{job['TrainingJobName']:<64} {job['TrainingJobStatus']:<11} {job['CreationTime']:%Y-%m-%d %H:%M:%S}")
    return 0


def _describe(sagemaker: Any, s3: Any, name: str) -> int:
    desc = sagemaker.describe_training_job(TrainingJobName=name)
    print(f"Training job:      {name}")
    status, secondary = desc["TrainingJobStatus"], desc.get("SecondaryStatus")
    print(f"Status:            {status}" + (f" ({secondary})" if secondary and secondary != status else ""))
    if desc.get("FailureReason"):
        print(f"Failure reason:    {desc['FailureReason']}")
    print(f"Training seconds:  {desc.get('TrainingTimeInSeconds')}  billable: {desc.get('BillableTimeInSeconds')}")
    for metric in desc.get("FinalMetricDataList") or []:
        print(f"Final metric:      {metric['MetricName']} = {metric['Value']:.4f}")
    model = (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if model:
        path = s3.store.uri_path(model) if hasattr(s3, "store") else None
        print(f"Model artifact:    {model}")
        if path is not None:
            print(f"  stored at:       {path}")
            with tarfile.open(path, "r:gz") as tar:
                for member in sorted(m.name for m in tar.getmembers() if m.isfile()):
                    print(f"  {member}")
    return 0 if desc["TrainingJobStatus"] == "Completed" else 1


def _logs(logs: Any, name: str) -> int:
    streams = _all(logs.describe_log_streams, "logStreams", logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/")
    if not streams:
        print(f"No log of training job {name}", file=sys.stderr)
        return 1
    hosts = {s["logStreamName"].split("/", 1)[-1].rsplit("-", 1)[0] for s in streams}
    for stream in streams:
        host = stream["logStreamName"].split("/", 1)[-1].rsplit("-", 1)[0]
        label = f"[{host}] " if len(hosts) > 1 else ""
        token = None
        while True:
            kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamName": stream["logStreamName"]}
            kwargs.update({"nextToken": token} if token else {"startFromHead": True})
            page = logs.get_log_events(**kwargs)
            for event in page["events"]:
                print(f"{label}{event['message']}")
            if page["nextForwardToken"] == token or not page["events"]:
                break
            token = page["nextForwardToken"]
    return 0


def _endpoints(sagemaker: Any) -> int:
    from airflow_tf_sm.backends.local.clients import invocation_url

    endpoints = _all(sagemaker.list_endpoints, "Endpoints", MaxResults=100)
    if not endpoints:
        print("No endpoints")
    for summary in endpoints:
        name = summary["EndpointName"]
        url = invocation_url(name, sagemaker.describe_endpoint(EndpointName=name))
        print(f"{name:<64} {summary['EndpointStatus']:<10} {url or '-'}")
    return 0


def _hook(root: str, region: str) -> Any:
    from airflow_tf_sm.hook import TFSageMakerHook

    return TFSageMakerHook(backend="local", local_root=root, region_name=region)


def _delete_endpoint(root: str, region: str, name: str) -> int:
    if _hook(root, region).hosting.delete(name, poll_interval=1.0):
        print(f"Deleted endpoint {name}, its endpoint config and models")
        return 0
    print(f"No endpoint {name}", file=sys.stderr)
    return 1


def _stop_all(root: str, region: str) -> int:
    hook = _hook(root, region)
    sagemaker = hook.clients.sagemaker
    running = [
        job["TrainingJobName"]
        for job in _all(sagemaker.list_training_jobs, "TrainingJobSummaries", MaxResults=100)
        if TRAINING_JOB.is_busy(job["TrainingJobStatus"])
    ]
    for name in running:
        if hook.training.stop(name):
            print(f"Stop requested for training job {name}")
    endpoints = [e["EndpointName"] for e in _all(sagemaker.list_endpoints, "Endpoints", MaxResults=100)]
    for name in endpoints:
        hook.hosting.delete(name, poll_interval=1.0)
        print(f"Deleted endpoint {name} (its model server stopped)")
    print(f"{len(running)} training job(s) stopped, {len(endpoints)} endpoint(s) deleted")
    return 0


def parser() -> argparse.ArgumentParser:
    """Return the argument parser of the command line."""
    summary, _, usage = (__doc__ or "").partition("Usage::")
    main_parser = argparse.ArgumentParser(
        prog=PROG,
        description=summary.strip().replace("``", ""),
        epilog="Commands:\n" + usage.strip("\n").replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    main_parser.add_argument("--root", help="state root of the local backend (default: [airflow_tf_sm] local_root)")
    main_parser.add_argument("--region", default="us-east-1", help="region the local backend reports")
    sub = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="training jobs, newest first")
    describe = sub.add_parser("describe", help="status, reason, metrics and model artifact of a job")
    describe.add_argument("name", nargs="?")
    describe.add_argument("--last", action="store_true", help="the most recently created job")
    sub.add_parser("logs", help="a job's training log").add_argument("name")
    sub.add_parser("stop", help="stop a running job").add_argument("name")
    sub.add_parser("endpoints", help="endpoints, their status and invocation URL")
    sub.add_parser("delete-endpoint", help="delete an endpoint, its config and models").add_argument("name")
    sub.add_parser("stop-all", help="stop every running job and delete every endpoint")
    return main_parser


def _run(args: argparse.Namespace) -> int:
    if args.root is None:
        from airflow_tf_sm.settings import resolve_local_root

        args.root = str(resolve_local_root())
    root, region = str(args.root), str(args.region)
    if args.command == "delete-endpoint":
        return _delete_endpoint(root, region, args.name)
    if args.command == "stop-all":
        return _stop_all(root, region)
    sagemaker, s3, logs = local_clients(root, region)[:3]
    if args.command == "list":
        return _list(sagemaker)
    if args.command == "endpoints":
        return _endpoints(sagemaker)
    if args.command == "describe":
        name = args.name if args.name and not args.last else _last_job(sagemaker)
        if name is None:
            print("No training job yet", file=sys.stderr)
            return 1
        return _describe(sagemaker, s3, name)
    if args.command == "logs":
        return _logs(logs, args.name)
    sagemaker.stop_training_job(TrainingJobName=args.name)
    print(f"Stop requested for training job {args.name}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (``describe``: 0 only for a Completed job).

    Output piped into a command that stops reading (``| head``) ends the command quietly.
    """
    args = parser().parse_args(argv)
    try:
        code = _run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away: no traceback, and no second error when Python flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a clear one-line error, not a traceback
        print(f"{PROG}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())

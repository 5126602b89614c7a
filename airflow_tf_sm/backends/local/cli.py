"""Command line for the local backend: list, describe, read the log of, and stop local training jobs.

Usage::

    python -m airflow_tf_sm.backends.local.cli --root ROOT list
    python -m airflow_tf_sm.backends.local.cli --root ROOT describe [NAME | --last]
    python -m airflow_tf_sm.backends.local.cli --root ROOT logs NAME
    python -m airflow_tf_sm.backends.local.cli --root ROOT stop NAME

It talks to the same on-disk engine as the Airflow worker and triggerer, through the same
boto3-shaped clients.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
from collections.abc import Sequence
from typing import Any

from airflow_tf_sm.backends.local.clients import local_clients
from airflow_tf_sm.sagemaker.resources import TRAINING_LOG_GROUP as LOG_GROUP


def _last_job(sagemaker: Any) -> str | None:
    jobs = sagemaker.list_training_jobs(SortBy="CreationTime", SortOrder="Descending", MaxResults=1)
    summaries = jobs.get("TrainingJobSummaries", [])
    return str(summaries[0]["TrainingJobName"]) if summaries else None


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
    streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/")["logStreams"]
    for stream in streams:
        token = None
        while True:
            kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamName": stream["logStreamName"]}
            kwargs.update({"nextToken": token} if token else {"startFromHead": True})
            page = logs.get_log_events(**kwargs)
            for event in page["events"]:
                print(event["message"])
            if page["nextForwardToken"] == token or not page["events"]:
                break
            token = page["nextForwardToken"]
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (describe: 0 only for a Completed job)."""
    parser = argparse.ArgumentParser(prog="python -m airflow_tf_sm.backends.local.cli", description=__doc__)
    parser.add_argument("--root", required=True, help="state root of the local backend")
    parser.add_argument("--region", default="us-east-1")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list training jobs, newest first")
    describe = sub.add_parser("describe", help="status, metrics and model artifact of a job")
    describe.add_argument("name", nargs="?")
    describe.add_argument("--last", action="store_true", help="the most recently created job")
    sub.add_parser("logs", help="print a job's training log").add_argument("name")
    sub.add_parser("stop", help="stop a running job").add_argument("name")
    args = parser.parse_args(argv)

    from botocore.exceptions import ClientError

    try:
        return _run(args, *local_clients(args.root, args.region)[:3])
    except ClientError as exc:  # an unknown or corrupt job: the message says which and why
        print(f"error: {exc.response['Error']['Message']}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, sagemaker: Any, s3: Any, logs: Any) -> int:
    if args.command == "list":
        for job in sagemaker.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]:
            created = f"{job['CreationTime']:%Y-%m-%d %H:%M:%S}"
            print(f"{job['TrainingJobName']:<64} {job['TrainingJobStatus']:<11} {created}")
        return 0
    name = args.name
    if args.command == "describe" and (args.last or not name):
        name = _last_job(sagemaker)
        if name is None:
            print("No training job yet", file=sys.stderr)
            return 1
    if args.command == "describe":
        return _describe(sagemaker, s3, name)
    if args.command == "logs":
        return _logs(logs, name)
    sagemaker.stop_training_job(TrainingJobName=name)
    print(f"Stop requested for {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

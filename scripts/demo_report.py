"""The demo's two views of an ``airflow dags test`` run: the lines worth watching, and a summary at the end.

``python scripts/demo_report.py view < log``: prints, as they arrive, each task's start and the package's own
log lines (job submission, the training log, statuses, the endpoint) without Airflow's internals.
``python scripts/demo_report.py summary DAG_ID LOG_FILE``: reads the latest run of the DAG from the Airflow
metadata database (the environment's ``AIRFLOW_HOME``) and prints what ran, the metrics, the model, the
predictions and where the full log is.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

#: A structlog console line: time, level, message, [logger], key=value...
LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT(?P<time>\d\d:\d\d:\d\d)\.\d+Z \[(?P<level>\w+)\s*\] (?P<message>.*?) \[(?P<logger>[^\]]+)\]"
)
TASK_START = re.compile(r"\[DAG TEST\] starting task_id=(?P<task>\S+) map_index=(?P<index>-?\d+)")


def view(lines: Any, out: Any = sys.stdout) -> None:
    """Print the lines of the run worth watching: task starts, the package's log lines, what tasks print."""
    in_task = False
    for raw in lines:
        line = raw.rstrip("\n")
        match = LINE.match(line)
        if match is None:
            if in_task and line.strip() and not line.startswith("Traceback"):
                print(line, file=out, flush=True)  # what a task printed (the report and the smoke test)
            continue
        started = TASK_START.search(match["message"])
        if started:
            in_task = True
            index = f"[{started['index']}]" if started["index"] != "-1" else ""
            print(f"{match['time']}  --- task {started['task']}{index}", file=out, flush=True)
        elif "[DAG TEST] end task" in match["message"]:
            in_task = False
        elif "airflow_tf_sm" in match["logger"] or match["level"] in ("error", "critical"):
            message = match["message"].rstrip()
            level = match["level"].upper()
            shown = message if match["level"] == "info" or message.startswith(level) else f"{level}: {message}"
            print(f"{match['time']}  {shown}", file=out, flush=True)


def _xcom(session: Any, run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel

    row = (
        session.query(XComModel)
        .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key="return_value")
        .one_or_none()
    )
    if row is None:
        return None
    value = row.value
    return json.loads(value) if isinstance(value, str) else value


def summary(dag_id: str, log_file: str, out: Any = sys.stdout) -> int:
    """Print the summary of the DAG's latest run; return 0 when it succeeded."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=dag_id).order_by(DagRun.id.desc()).first()
        if run is None:
            print(f"No run of {dag_id}", file=out)
            return 1
        seconds = (run.end_date - run.start_date).total_seconds() if run.end_date and run.start_date else 0.0
        print(f"== Summary: {dag_id}, run {run.run_id}: {run.state} in {seconds:.0f} s ==", file=out)
        for ti in sorted(run.get_task_instances(session=session), key=lambda t: t.start_date or run.start_date):
            took = (ti.end_date - ti.start_date).total_seconds() if ti.end_date and ti.start_date else 0.0
            print(f"  {ti.task_id:<16} {ti.state!s:<8} {took:5.1f} s", file=out)
        train = _xcom(session, run, "train") or {}
        deploy = _xcom(session, run, "deploy") or {}
        smoke = _xcom(session, run, "smoke_test") or {}
        deleted = _xcom(session, run, "delete_endpoint") or {}
    if train:
        print(f"Training job:  {train['job_name']} ({train['backend']}): {train['status']}", file=out)
        metrics = ", ".join(f"{name} {value:.4f}" for name, value in sorted(train.get("metrics", {}).items()))
        print(f"Metrics:       {metrics or '-'}", file=out)
        print(f"Model:         {train.get('model_data')}", file=out)
    if deploy:
        gone = "deleted by the teardown" if deleted.get("deleted") else "still running"
        print(f"Endpoint:      {deploy['endpoint_name']} ({deploy['status']}, {gone})", file=out)
    if smoke:
        pairs = zip(smoke.get("labels", []), smoke.get("classes", []), strict=False)
        shown = ", ".join(f"{label}->{predicted}" for label, predicted in pairs)
        right = sum(label == predicted for label, predicted in zip(smoke["labels"], smoke["classes"], strict=False))
        print(f"Predictions:   label->predicted {shown} ({right}/{len(smoke['labels'])} right)", file=out)
    print(f"Full log:      {log_file}", file=out)
    if train:
        from airflow_tf_sm.settings import resolve_local_root

        command = f"{Path(sys.executable).parent / 'tf-sm-local'} --root {resolve_local_root()}"
        print(f"Job log:       {command} logs {train['job_name']}", file=out)
    return 0 if str(run.state) == "success" else 1


def main(argv: list[str]) -> int:
    """``view`` (stdin to stdout) or ``summary DAG_ID LOG_FILE``."""
    if argv[:1] == ["view"]:
        view(sys.stdin)
        return 0
    if argv[:1] == ["summary"] and len(argv) == 3:
        return summary(argv[1], argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

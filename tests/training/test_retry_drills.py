"""Retry, kill and timeout drills on the local backend: never two billable jobs for one task instance."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_tf_sm.exceptions import TrainingJobFailedError, TrainingJobTimeoutError
from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.operators import TFTrainingOperator

SLOW_SCRIPT = """
import os, pathlib, sys, time
seconds = float(sys.argv[sys.argv.index("--seconds") + 1])
for i in range(int(seconds * 10)):
    time.sleep(0.1)
    if i % 10 == 0:
        print(f"step={i} acc=0.{i:02d}", flush=True)
pathlib.Path(os.environ["SM_MODEL_DIR"], "model.txt").write_text("trained")
print("acc=0.99")
"""


class FakeTI:
    """The part of a task instance the operator uses; the ids make the job name deterministic."""

    dag_id = "drill_dag"
    task_id = "train"
    run_id = "scheduled__2025-01-01T00:00:00+00:00"
    map_index = -1

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def operator_kwargs(code: Path, root: Path, seconds: float, **extra: Any) -> dict[str, Any]:
    return {
        "task_id": "train",
        "entry_point": "train.py",
        "source_dir": str(code),
        "output_path": "s3://drills/models",
        "hyperparameters": {"seconds": seconds},
        "metric_definitions": [{"Name": "acc", "Regex": r"acc=([0-9.]+)"}],
        "backend": "local",
        "local_root": str(root),
        "poll_interval": 0.3,
        **extra,
    }


@pytest.fixture
def code(tmp_path: Path) -> Path:
    src = tmp_path / "code"
    src.mkdir()
    (src / "train.py").write_text(SLOW_SCRIPT)
    return src


def jobs(root: Path) -> list[dict[str, Any]]:
    hook = TFSageMakerHook(backend="local", local_root=str(root))
    return list(hook.clients.sagemaker.list_training_jobs()["TrainingJobSummaries"])


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def run_task_in_subprocess(kwargs: dict[str, Any]) -> subprocess.Popen[bytes]:
    """Run the task's execute() in a separate process, as a worker would."""
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_retry_drills import FakeTI
        from airflow_tf_sm.operators import TFTrainingOperator
        op = TFTrainingOperator(**json.loads({json.dumps(json.dumps(kwargs))}))
        op.execute({{"ti": FakeTI()}})
        """
    )
    return subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())


def test_sigkilled_task_is_retried_and_reattaches_to_its_running_job(code: Path, local_root: Path) -> None:
    kwargs = operator_kwargs(code, local_root, seconds=6)
    worker = run_task_in_subprocess(kwargs)
    try:
        wait_until(
            lambda: any(j["SecondaryStatus"] == "Training" for j in jobs(local_root)), 60, "the job to be training"
        )
    finally:
        worker.send_signal(signal.SIGKILL)  # the worker dies mid-training: no on_kill, no cleanup
        worker.wait(10)
    assert [j["TrainingJobStatus"] for j in jobs(local_root)] == ["InProgress"]  # the job outlived its task

    ti = FakeTI()
    result = TFTrainingOperator(**kwargs).execute({"ti": ti})  # type: ignore[arg-type]
    summaries = jobs(local_root)
    assert len(summaries) == 1, "the retry must attach, not start a second job"
    assert result["job_name"] == summaries[0]["TrainingJobName"] == ti.xcoms["job_name"]
    assert result["status"] == "Completed" and result["metrics"]["acc"] == pytest.approx(0.99)


def test_retry_after_completion_reuses_the_job_and_retrain_makes_a_new_one(code: Path, local_root: Path) -> None:
    kwargs = operator_kwargs(code, local_root, seconds=0.5)
    first = TFTrainingOperator(**kwargs).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    again = TFTrainingOperator(**kwargs).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert again == first
    assert len(jobs(local_root)) == 1

    retrained = TFTrainingOperator(**kwargs, if_job_exists="retrain").execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert retrained["job_name"] == first["job_name"] + "-a2"
    assert len(jobs(local_root)) == 2 and retrained["status"] == "Completed"


def test_retry_after_a_failed_job_starts_the_next_name(tmp_path: Path, local_root: Path) -> None:
    src = tmp_path / "failing"
    src.mkdir()
    marker = tmp_path / "fail-once"
    marker.write_text("x")
    (src / "train.py").write_text(
        "import os, pathlib, sys\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if marker.exists():\n"
        "    marker.unlink()\n"
        "    sys.exit('first try fails')\n"
        "print('acc=0.5')\n"
    )
    kwargs = operator_kwargs(src, local_root, seconds=0)
    with pytest.raises(TrainingJobFailedError, match="first try fails"):
        TFTrainingOperator(**kwargs).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    result = TFTrainingOperator(**kwargs).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    statuses = sorted((j["TrainingJobName"], j["TrainingJobStatus"]) for j in jobs(local_root))
    assert [s for _, s in statuses] == ["Failed", "Completed"] or [s for _, s in statuses] == ["Completed", "Failed"]
    assert result["job_name"].endswith("-a2")


def test_on_kill_stops_the_running_job_within_10_seconds(code: Path, local_root: Path) -> None:
    op = TFTrainingOperator(**operator_kwargs(code, local_root, seconds=60))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            op.execute({"ti": FakeTI()})  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_until(lambda: any(j["SecondaryStatus"] == "Training" for j in jobs(local_root)), 60, "training")
    wait_until(lambda: op._job_name_in_flight is not None, 10, "the operator to know its job")
    op.on_kill()
    # eventually (the time it takes is a benchmark figure, not a test bound)
    wait_until(lambda: jobs(local_root)[0]["TrainingJobStatus"] == "Stopped", 60, "the job to end Stopped")
    thread.join(15)
    assert errors and isinstance(errors[0], TrainingJobFailedError) and errors[0].status == "Stopped"


def test_wait_timeout_stops_the_job_and_fails_clearly(code: Path, local_root: Path) -> None:
    op = TFTrainingOperator(**operator_kwargs(code, local_root, seconds=60, wait_timeout=2))
    with pytest.raises(TrainingJobTimeoutError, match="stop requested"):
        op.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    wait_until(lambda: jobs(local_root)[0]["TrainingJobStatus"] == "Stopped", 15, "the job to end Stopped")


def test_deferral_timeout_stops_the_job(code: Path, local_root: Path) -> None:
    """When Airflow fails a deferred task for its time limit, the resumed task stops the job."""
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

    from airflow_tf_sm.compat import task_deferral_timeout, task_deferred

    TaskDeferralTimeout, TaskDeferred = task_deferral_timeout(), task_deferred()

    op = TFTrainingOperator(**operator_kwargs(code, local_root, seconds=60, deferrable=True, wait_timeout=30))
    ti = FakeTI()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": ti})  # type: ignore[arg-type]
    assert deferred.value.timeout is not None and deferred.value.timeout.total_seconds() == 30
    job_name = ti.xcoms["job_name"]

    class ResumedTI(FakeTI):
        def xcom_pull(self, task_ids: str, key: str) -> Any:
            assert (task_ids, key) == ("train", "job_name")
            return job_name

    resumed = TFTrainingOperator(**operator_kwargs(code, local_root, seconds=60, deferrable=True, wait_timeout=30))
    with pytest.raises(TaskDeferralTimeout, match=f"{job_name} did not finish"):
        resumed.resume_execution(
            TRIGGER_FAIL_REPR,
            {"error": TriggerFailureReason.TRIGGER_TIMEOUT},
            {"ti": ResumedTI()},  # type: ignore[arg-type]
        )
    wait_until(lambda: jobs(local_root)[0]["TrainingJobStatus"] == "Stopped", 15, "the job to end Stopped")


class OtherRunTI(FakeTI):
    """The same task in another run."""

    run_id = "manual__2025-01-02T10:00:00+00:00"


def test_a_job_name_shared_by_runs_says_whose_job_it_reuses_and_why_the_name_changed(
    code: Path, local_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kwargs = operator_kwargs(code, local_root, seconds=0, job_name="my_experiment_20250101")
    first = TFTrainingOperator(**kwargs).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert first["job_name"] == "my-experiment-20250101"
    assert (
        "job_name 'my_experiment_20250101' is used as 'my-experiment-20250101': SageMaker names allow only "
        "letters, digits and '-': other characters became '-'"
    ) in capsys.readouterr().out
    again = TFTrainingOperator(**kwargs).execute({"ti": OtherRunTI()})  # type: ignore[arg-type]
    assert again == first and len(jobs(local_root)) == 1
    assert (
        "Training job my-experiment-20250101 (started by run scheduled__2025-01-01T00:00:00+00:00 of "
        "drill_dag.train) already Completed: reusing it (if_job_exists='retrain' trains again)"
    ) in capsys.readouterr().out
    TFTrainingOperator(**kwargs).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert "(started by an earlier try of this run, drill_dag.train)" in capsys.readouterr().out

"""TFTuningOperator on the local backend: a retry re-attaches to its tuning job, a kill stops it, XCom values."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.tuning.operator import TFTuningOperator
from tests.backends.local.test_local_tuning import LR, SCRIPT


class FakeTI:
    dag_id = "tuning_operator"
    task_id = "tune"
    run_id = "manual__2025-01-01T00:00:00+00:00"
    map_index = -1

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def operator(code: Path, root: Path, **extra: Any) -> TFTuningOperator:
    return TFTuningOperator(
        task_id="tune",
        backend="local",
        local_root=str(root),
        entry_point="score.py",
        source_dir=str(code),
        output_path="s3://tuning-bucket/out",
        metric_definitions=[{"Name": "score", "Regex": r"score=([-0-9.]+)"}],
        objective_metric_name="score",
        hyperparameter_ranges={"learning-rate": LR},
        strategy="Random",
        max_jobs="3",
        max_parallel_jobs=2,
        poll_interval=0.5,
        **extra,
    )


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "score.py").write_text(SCRIPT)
    return folder


def test_a_retry_reattaches_to_the_running_tuning_job_then_reuses_it(
    local_root: Path, code: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first_ti = FakeTI()
    started = operator(code, local_root, hyperparameters={"epochs": 8, "sleep": 0.2}, wait_for_completion=False)
    first = started.execute({"ti": first_ti})  # type: ignore[arg-type]
    assert first["status"] == "InProgress"
    retry = operator(code, local_root, hyperparameters={"epochs": 8, "sleep": 0.2})
    result = retry.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    hook = TFSageMakerHook(backend="local", local_root=str(local_root))
    tuning_jobs = hook.clients.sagemaker.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    assert [t["HyperParameterTuningJobName"] for t in tuning_jobs] == [first["tuning_job_name"]]
    assert result["tuning_job_name"] == first["tuning_job_name"] == first_ti.pushed["tuning_job_name"]
    assert len(first["tuning_job_name"]) <= 32
    assert result["status"] == "Completed" and result["backend"] == "local"
    assert result["training_job_counts"]["Completed"] == 3
    assert result["best_training_job_name"].startswith(f"{result['tuning_job_name']}-00")
    assert set(result["best_hyperparameters"]) == {"learning-rate"}
    assert result["best_model_data"].endswith(f"/{result['best_training_job_name']}/output/model.tar.gz")
    assert started.link_target == (first["tuning_job_name"], "us-east-1") and started.operator_extra_links == ()
    assert first_ti.pushed["status"] == "InProgress"  # each result entry is an XCom key too
    # a later try of a task instance whose tuning job Completed reuses it; "retune" starts the next name
    capsys.readouterr()
    again = operator(code, local_root, hyperparameters={"epochs": 8, "sleep": 0.2}).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert again == result
    assert "already Completed: reusing it (if_job_exists='retune' tunes again)" in capsys.readouterr().out
    retuned = operator(code, local_root, if_job_exists="retune", wait_for_completion=False).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert retuned["tuning_job_name"].endswith("-a2") and len(retuned["tuning_job_name"]) <= 32
    assert retuned["tuning_job_name"] != result["tuning_job_name"]
    hook.tuning.stop(retuned["tuning_job_name"])


def test_kill_stops_the_tuning_job_and_its_training_jobs(local_root: Path, code: Path) -> None:
    op = operator(code, local_root, hyperparameters={"epochs": 600, "sleep": 0.1}, wait_for_completion=False)
    name = op.execute({"ti": FakeTI()})["tuning_job_name"]  # type: ignore[arg-type]
    hook = TFSageMakerHook(backend="local", local_root=str(local_root))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(hook.tuning.training_jobs(name)) < 2:
        time.sleep(0.2)
    op.on_kill()
    killed = time.monotonic()
    while time.monotonic() - killed < 10:
        jobs = hook.tuning.training_jobs(name)
        if hook.tuning.describe(name)["HyperParameterTuningJobStatus"] == "Stopped" and all(
            j["TrainingJobStatus"] == "Stopped" for j in jobs
        ):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the tuning job and its training jobs were not all Stopped within 10 s")
    assert len(jobs) == 2


def test_unknown_if_job_exists_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^if_job_exists: 'retrain' -- must be 'reuse' or 'retune'$"):
        TFTuningOperator(task_id="t", if_job_exists="retrain")

"""The local tuner: real local training jobs of a script whose objective is a known function of its hyperparameters.

No TensorFlow: ``score.py`` prints ``epoch=N score=V`` per epoch (V grows to the final score) and the wall
times of its own process, so parallelism is read from what the jobs did, not from the tuner's bookkeeping.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.sagemaker.names import TaskInstanceIds
from airflow_tf_sm.tuning.spec import TuningJobSpec

SCRIPT = """
import argparse, math, os, sys, time
p = argparse.ArgumentParser()
p.add_argument("--learning-rate", dest="lr", type=float, default=0.01)
p.add_argument("--units", type=int, default=20)
p.add_argument("--act", type=str, default="relu")
p.add_argument("--epochs", type=int, default=4)
p.add_argument("--sleep", type=float, default=0.05)
args, _ = p.parse_known_args()
if args.act == "fail":
    sys.exit("activation 'fail' is not supported")
bonus = {"relu": 0.2, "tanh": 0.1}.get(args.act, 0.0)
final = 1.0 - (math.log10(args.lr) + 2.0) ** 2 / 4.0 - (args.units - 20) ** 2 / 2000.0 + bonus
start = time.time()
for epoch in range(1, args.epochs + 1):
    time.sleep(args.sleep)
    print(f"epoch={epoch} score={final * (0.5 + 0.5 * epoch / args.epochs):.6f}", flush=True)
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write(str(final))
print(f"process start={start:.4f} end={time.time():.4f}", flush=True)
"""
LR = {"type": "continuous", "min_value": 0.0001, "max_value": 1.0, "scaling_type": "Logarithmic"}


def known_score(hps: dict[str, str]) -> float:
    lr = float(hps.get("learning-rate", "0.01"))
    units = int(hps.get("units", '"20"').strip('"'))
    act = hps.get("act", '"relu"').strip('"')
    return (
        1.0 - (math.log10(lr) + 2.0) ** 2 / 4.0 - (units - 20) ** 2 / 2000.0 + {"relu": 0.2, "tanh": 0.1}.get(act, 0.0)
    )


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "score.py").write_text(SCRIPT)
    return folder


def spec(code: Path, **settings: Any) -> TuningJobSpec:
    static = settings.pop("hyperparameters", {"epochs": 4})
    return TuningJobSpec.from_mapping(
        {
            "entry_point": "score.py",
            "source_dir": str(code),
            "output_path": "s3://tuning-bucket/out",
            "hyperparameters": static,
            "metric_definitions": [{"Name": "score", "Regex": r"score=([-0-9.]+)"}],
            "objective_metric_name": "score",
            **settings,
        }
    )


def run(local_root: Path, job: TuningJobSpec, task: str, run_id: str = "r1") -> tuple[TFSageMakerHook, dict[str, Any]]:
    hook = TFSageMakerHook(backend="local", local_root=str(local_root))
    name, _ = hook.tuning.start(job, TaskInstanceIds("tuning_tests", task, run_id))
    desc = hook.tuning.wait(name, poll_interval=0.5) if job else {}
    return hook, desc


def jobs_of(hook: TFSageMakerHook, desc: dict[str, Any]) -> list[dict[str, Any]]:
    return hook.tuning.training_jobs(desc["HyperParameterTuningJobName"], SortBy="CreationTime")


def process_times(hook: TFSageMakerHook, job_name: str) -> tuple[float, float]:
    lines = hook.training.log_reader(job_name).tail(200)
    found = [re.search(r"process start=([0-9.]+) end=([0-9.]+)", line) for line in lines]
    match = next(m for m in found if m)
    return float(match.group(1)), float(match.group(2))


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    events = sorted(
        [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals], key=lambda e: (e[0], e[1])
    )
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_grid_runs_every_combination_once_and_picks_the_best(local_root: Path, code: Path) -> None:
    job = spec(
        code,
        strategy="Grid",
        max_parallel_jobs=2,
        hyperparameter_ranges={
            "act": {"type": "categorical", "values": ["relu", "tanh", "sigmoid"]},
            "units": {"type": "categorical", "values": [8, 20]},
        },
    )
    hook, desc = run(local_root, job, "grid")
    jobs = jobs_of(hook, desc)
    assert len(jobs) == 6
    combos = [(j["TunedHyperParameters"]["act"], j["TunedHyperParameters"]["units"]) for j in jobs]
    assert combos == [
        ('"relu"', '"8"'),
        ('"relu"', '"20"'),
        ('"tanh"', '"8"'),
        ('"tanh"', '"20"'),
        ('"sigmoid"', '"8"'),
        ('"sigmoid"', '"20"'),
    ]
    name = desc["HyperParameterTuningJobName"]
    assert all(re.fullmatch(rf"{name}-00[1-6]-[0-9a-f]{{8}}", j["TrainingJobName"]) for j in jobs)
    for j in jobs:
        assert j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == pytest.approx(
            known_score(j["TunedHyperParameters"]), abs=1e-5
        )
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["TrainingJobStatusCounters"] == {
        "Completed": 6,
        "InProgress": 0,
        "RetryableError": 0,
        "NonRetryableError": 0,
        "Stopped": 0,
    }
    assert desc["ObjectiveStatusCounters"] == {"Succeeded": 6, "Pending": 0, "Failed": 0}
    best = desc["BestTrainingJob"]
    assert best["TunedHyperParameters"] == {"act": '"relu"', "units": '"20"'}
    assert best["FinalHyperParameterTuningJobObjectiveMetric"] == {
        "Type": "Maximize",
        "MetricName": "score",
        "Value": pytest.approx(1.2, abs=1e-5),
    }
    # the child jobs are real local training jobs, tagged with their tuning job and given the objective's name
    child = hook.training.describe(best["TrainingJobName"])
    assert child["TuningJobArn"] == desc["HyperParameterTuningJobArn"]
    assert child["HyperParameters"]["_tuning_objective_metric"] == "score"
    assert "--_tuning_objective_metric" not in " ".join(hook.training.log_reader(best["TrainingJobName"]).tail(200))
    ranked = hook.tuning.training_jobs(name, SortBy="FinalObjectiveMetricValue", SortOrder="Descending")
    assert ranked[0]["TrainingJobName"] == best["TrainingJobName"]
    result = hook.tuning.result(desc)
    assert result["best_model_data"] == f"s3://tuning-bucket/out/{best['TrainingJobName']}/output/model.tar.gz"
    assert result["best_objective"] == {"name": "score", "value": pytest.approx(1.2, abs=1e-5), "type": "Maximize"}


@pytest.mark.parametrize("strategy", ["Random", "Bayesian"])
def test_max_jobs_and_max_parallel_are_honoured(local_root: Path, code: Path, strategy: str) -> None:
    job = spec(
        code,
        strategy=strategy,
        max_jobs=5,
        max_parallel_jobs=2,
        hyperparameters={"epochs": 3, "sleep": 0.3},
        hyperparameter_ranges={"learning-rate": LR, "units": {"type": "integer", "min_value": 4, "max_value": 40}},
    )
    hook, desc = run(local_root, job, f"limits-{strategy.lower()}")
    jobs = jobs_of(hook, desc)
    assert len(jobs) == 5 and desc["TrainingJobStatusCounters"]["Completed"] == 5
    intervals = [process_times(hook, j["TrainingJobName"]) for j in jobs]
    assert most_at_once(intervals) <= 2
    for j in jobs:
        hps = j["TunedHyperParameters"]
        assert 0.0001 <= float(hps["learning-rate"]) <= 1.0 and 4 <= int(hps["units"]) <= 40
    best = max(jobs, key=lambda j: j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    assert desc["BestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]


def test_bayesian_with_a_seed_proposes_the_same_trials_twice(local_root: Path, code: Path) -> None:
    settings = {
        "strategy": "Bayesian",
        "max_jobs": 6,
        "max_parallel_jobs": 2,
        "random_seed": 1234,
        "hyperparameter_ranges": {"learning-rate": LR, "act": {"type": "categorical", "values": ["relu", "tanh"]}},
    }
    hook, first = run(local_root, spec(code, **settings), "seeded", "run-a")
    _, second = run(local_root, spec(code, **settings), "seeded", "run-b")
    trials = [[j["TunedHyperParameters"] for j in jobs_of(hook, desc)] for desc in (first, second)]
    assert len(trials[0]) == 6 and trials[0] == trials[1]
    _, other = run(local_root, spec(code, **{**settings, "random_seed": 99}), "seeded", "run-c")
    assert [j["TunedHyperParameters"] for j in jobs_of(hook, other)] != trials[0]


@pytest.mark.parametrize(
    ("strategy", "early_stopping"),
    [("Random", "Auto"), ("Hyperband", "Off")],
    ids=["early-stopping-median-rule", "hyperband"],
)
def test_jobs_unlikely_to_win_are_stopped(local_root: Path, code: Path, strategy: str, early_stopping: str) -> None:
    job = spec(
        code,
        strategy=strategy,
        early_stopping_type=early_stopping,
        max_jobs=9,
        max_parallel_jobs=2,
        random_seed=5,
        hyperparameters={"epochs": 9, "sleep": 0.4},
        hyperparameter_ranges={"learning-rate": LR},
    )
    hook, desc = run(local_root, job, f"stop-{strategy.lower()}")
    jobs = jobs_of(hook, desc)
    stopped = [j for j in jobs if j["TrainingJobStatus"] == "Stopped"]
    assert len(jobs) == 9 and stopped, [(j["TrainingJobName"], j["TrainingJobStatus"]) for j in jobs]
    assert desc["TrainingJobStatusCounters"]["Stopped"] == len(stopped)
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    completed = [j for j in jobs if j["TrainingJobStatus"] == "Completed"]
    best = max(completed, key=lambda j: j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    assert desc["BestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]
    # stopped before their last epoch: the log has fewer than 9 epochs (on a loaded machine a stop decided at an
    # epoch can land after the script printed its last one: that job is Stopped all the same, as on SageMaker)
    epochs = [
        [line for line in hook.training.log_reader(j["TrainingJobName"]).tail(200) if line.startswith("epoch=")]
        for j in stopped
    ]
    assert any(len(e) < 9 for e in epochs), epochs


def test_a_failed_training_job_counts_and_the_tuning_goes_on(local_root: Path, code: Path) -> None:
    job = spec(
        code,
        strategy="Grid",
        max_parallel_jobs=2,
        hyperparameter_ranges={"act": {"type": "categorical", "values": ["fail", "relu", "tanh"]}},
    )
    _, desc = run(local_root, job, "one-fails")
    counts = desc["TrainingJobStatusCounters"]
    assert (counts["Completed"], counts["NonRetryableError"]) == (2, 1)
    assert desc["ObjectiveStatusCounters"] == {"Succeeded": 2, "Pending": 0, "Failed": 1}
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["BestTrainingJob"]["TunedHyperParameters"] == {"act": '"relu"'}


def test_the_tuning_job_fails_when_every_training_job_failed(local_root: Path, code: Path) -> None:
    from airflow_tf_sm.exceptions import TuningJobFailedError

    job = spec(code, strategy="Grid", hyperparameter_ranges={"act": {"type": "categorical", "values": ["fail"]}})
    with pytest.raises(TuningJobFailedError, match="All training jobs failed"):
        run(local_root, job, "all-fail")


def test_stop_stops_every_running_training_job(local_root: Path, code: Path) -> None:
    hook = TFSageMakerHook(backend="local", local_root=str(local_root))
    job = spec(
        code,
        strategy="Random",
        max_jobs=4,
        max_parallel_jobs=2,
        hyperparameters={"epochs": 600, "sleep": 0.1},
        hyperparameter_ranges={"learning-rate": LR},
    )
    name, _ = hook.tuning.start(job, TaskInstanceIds("tuning_tests", "kill", "r1"))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running = [j for j in hook.tuning.training_jobs(name) if j["TrainingJobStatus"] == "InProgress"]
        if len(running) == 2 and all(
            hook.training.describe(j["TrainingJobName"])["SecondaryStatus"] == "Training" for j in running
        ):
            break
        time.sleep(0.2)
    else:
        pytest.fail("two training jobs never ran at once")
    assert hook.tuning.stop(name) is True
    stopped_at = time.monotonic()
    while time.monotonic() - stopped_at < 10:
        desc = hook.tuning.describe(name)
        jobs = hook.tuning.training_jobs(name)
        if desc["HyperParameterTuningJobStatus"] == "Stopped" and all(
            j["TrainingJobStatus"] == "Stopped" for j in jobs
        ):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"not everything Stopped within 10 s: {desc['HyperParameterTuningJobStatus']}, {jobs}")
    assert len(jobs) == 2  # nothing launched after the stop
    assert hook.tuning.stop(name) is False  # already ended


def test_trigger_waits_for_the_tuning_job_and_reports_the_best(local_root: Path, code: Path) -> None:
    from airflow_tf_sm.tuning.trigger import TuningJobTrigger

    hook = TFSageMakerHook(backend="local", local_root=str(local_root))
    job = spec(
        code, strategy="Grid", hyperparameter_ranges={"act": {"type": "categorical", "values": ["relu", "tanh"]}}
    )
    name, _ = hook.tuning.start(job, TaskInstanceIds("tuning_tests", "trigger", "r1"))
    trigger = TuningJobTrigger(name, hook.trigger_params(), poll_interval=0.5)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_tf_sm.tuning.trigger.TuningJobTrigger"

    async def first_event() -> dict[str, Any]:
        async for event in TuningJobTrigger(**kwargs).run():
            return dict(event.payload)
        raise AssertionError("no event")

    event = asyncio.run(first_event())
    assert event["status"] == "success" and event["tuning_job_name"] == name
    assert event["tuning_job_status"] == "Completed"
    assert event["result"]["best_hyperparameters"] == {"act": '"relu"'}
    assert hook.tuning.result_from_event(event)["best_training_job_name"] == event["result"]["best_training_job_name"]


def test_describe_of_an_unknown_tuning_job_is_resource_not_found(local_root: Path) -> None:
    hook = TFSageMakerHook(backend="local", local_root=str(local_root))
    assert hook.tuning.find("no-such-tuning-job") is None
    assert hook.tuning.stop("no-such-tuning-job") is False

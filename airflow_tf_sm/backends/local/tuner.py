"""Runs one local hyperparameter tuning job: launches, watches and stops real local training jobs.

Started by ``LocalSageMakerClient.create_hyper_parameter_tuning_job`` as a detached process (it outlives the
task that created the tuning job, like the training runner)::

    python -m airflow_tf_sm.backends.local.tuner --root ROOT --job NAME --detach

It asks its strategy (``search.py``) for hyperparameters, creates each training job through the local
training API (``<tuning>-<NNN>-<8 hex>``, ``_tuning_objective_metric`` added, the tuning job's tags),
never more than ``MaxParallelTrainingJobs`` at once, reads each job's objective from its log with the
objective's metric regex (every match is one epoch's value; the final value is the last match), stops
jobs by StopTrainingJob (early stopping ``Auto``: the median rule; Hyperband: its pruner), and ends the
tuning job when ``MaxNumberOfTrainingJobs`` ran, the grid is exhausted, ``MaxRuntimeInSeconds`` passed or
a completion criterion is met. A failed training job counts and the tuning goes on; the tuning job fails
only when every training job failed, or on an error of the tuner itself. A stop request stops every
running training job first.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import signal
import statistics
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_tf_sm.backends.local.clients import LocalSageMakerClient
from airflow_tf_sm.backends.local.logstore import LogStore
from airflow_tf_sm.backends.local.processes import detach_and_record, own_record
from airflow_tf_sm.backends.local.search import COMPLETE, FAIL, PRUNED, Strategy, make_strategy
from airflow_tf_sm.backends.local.tuning_api import end_tuning, final_objective, is_better, objective_of, tuning_store
from airflow_tf_sm.sagemaker.hyperparameters import HP_TUNING_OBJECTIVE
from airflow_tf_sm.sagemaker.names import tuning_training_job_name
from airflow_tf_sm.sagemaker.resources import (
    JOB_TERMINAL_STATUSES,
    TRAINING_DEFINITION_KEYS,
    TRAINING_LOG_GROUP,
    TUNING_JOB,
)

POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 2.0
#: Earlier training jobs the median rule needs at an epoch before it stops anything.
MEDIAN_RULE_MIN_JOBS = 2
#: A new best must beat the old one by this share to count as an improvement (BestObjectiveNotImproving).
IMPROVEMENT = 0.01


@dataclass
class Trial:
    """One training job of the tuning job, as the tuner follows it."""

    index: int
    name: str
    tuned: dict[str, str]
    offsets: dict[str, int] = field(default_factory=dict)
    values: list[float] = field(default_factory=list)
    stop_epoch: int | None = None
    ended: bool = False
    state: str = ""
    status: str = ""
    objective: float | None = None


class Tuner:
    """Drives one tuning job from InProgress to a terminal status.

    Args:
        root: The local backend root.
        name: The tuning job.
    """

    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.name = name
        self.store = tuning_store(root)
        state = self.store.load(name)
        self.request: dict[str, Any] = state["request"]
        self.client = LocalSageMakerClient(root, state["region"])
        self.logs = LogStore(root)
        config = self.request["HyperParameterTuningJobConfig"]
        self.definition: dict[str, Any] = self.request["TrainingJobDefinition"]
        self.static: dict[str, str] = dict(self.definition.get("StaticHyperParameters") or {})
        seeded = config.get("RandomSeed") is not None
        seed = int(config["RandomSeed"]) if seeded else random.SystemRandom().randrange(2**31)
        self.strategy: Strategy = make_strategy(config, self.static, seed, seeded)
        self.metric, self.kind = objective_of(config)
        regex = next(
            d["Regex"]
            for d in self.definition["AlgorithmSpecification"]["MetricDefinitions"]
            if d["Name"] == self.metric
        )
        self.pattern = re.compile(regex)
        limits = config["ResourceLimits"]
        self.parallel = int(limits["MaxParallelTrainingJobs"])
        self.max_runtime = limits.get("MaxRuntimeInSeconds")
        self.early_stopping = config.get("TrainingJobEarlyStoppingType") == "Auto"
        criteria = config.get("TuningJobCompletionCriteria") or {}
        self.target = criteria.get("TargetObjectiveMetricValue")
        self.not_improving_limit = (criteria.get("BestObjectiveNotImproving") or {}).get(
            "MaxNumberOfTrainingJobsNotImproving"
        )
        self.started = float(state["creation_time"])
        self.trials: list[Trial] = []
        self.launched = 0
        self.exhausted = False
        self.finishing = ""
        self.best: float | None = None
        self.not_improving = 0
        self._term = threading.Event()
        self._done = threading.Event()
        self._update(lambda s: s.__setitem__("seed", seed))

    # -- bookkeeping ---------------------------------------------------------------------------
    def _update(self, mutate: Any) -> dict[str, Any]:
        return self.store.update(self.name, mutate)[0]

    def _heartbeat(self) -> None:
        path = self.store.path(self.name) / "heartbeat"
        while not self._done.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(OSError):
                os.utime(path)

    def log(self, message: str) -> None:
        """Write a line to the tuner's own log (``tuner.log`` next to the record)."""
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> None:
        """Run the tuning job to its end; never raises."""
        signal.signal(signal.SIGTERM, lambda *_: self._term.set())
        beat = threading.Thread(target=self._heartbeat, daemon=True)
        beat.start()
        try:
            self.loop()
        except Exception as exc:  # an error of the tuner itself
            self.log(traceback.format_exc())
            self.stop_running()
            reason = f"InternalServerError: local tuner error: {exc!r}"
            self._update(lambda s: end_tuning(s, "Failed", reason))
        finally:
            self._done.set()

    def loop(self) -> None:
        """Launch, watch and stop training jobs until the tuning job ends."""
        while True:
            if self._term.is_set() or self.store.load(self.name)["status"] == "Stopping":
                self.stop_running()
                self.wait_ended()
                self._update(lambda s: end_tuning(s, "Stopped"))
                return
            for trial in self.running():
                self.follow(trial)
            self.check_limits()
            if not self.finishing:
                self.launch_more()
            if not self.running() and (self.finishing or self.exhausted or self.launched >= self.strategy.max_jobs):
                self.finish()
                return
            time.sleep(POLL_SECONDS)

    def running(self) -> list[Trial]:
        """Return the trials whose training job has not ended."""
        return [trial for trial in self.trials if not trial.ended]

    def launch_more(self) -> None:
        """Start training jobs while slots are free and the strategy has more."""
        ended = {trial.index for trial in self.trials if trial.ended}
        while len(self.running()) < self.parallel and self.launched < self.strategy.max_jobs and not self.exhausted:
            index = self.launched
            if not self.strategy.ready(index, ended):
                return
            tuned = self.strategy.propose(index)
            if tuned is None:
                self.exhausted = True
                return
            self.launch(index, tuned)

    def launch(self, index: int, tuned: dict[str, str]) -> None:
        """Create the training job of trial ``index``."""
        name = tuning_training_job_name(self.name, index + 1, {"tuned": tuned})
        request: dict[str, Any] = {
            "TrainingJobName": name,
            "AlgorithmSpecification": dict(self.definition["AlgorithmSpecification"]),
            "HyperParameters": {**self.static, **tuned, HP_TUNING_OBJECTIVE: self.metric},
        }
        request.update({key: self.definition[key] for key in TRAINING_DEFINITION_KEYS if key in self.definition})
        if self.request.get("Tags"):
            request["Tags"] = list(self.request["Tags"])
        trial = Trial(index=index, name=name, tuned=tuned)
        self.launched += 1
        try:
            self.client.create_training_job(**request)
        except Exception as exc:  # a request the training API refuses: the trial fails, tuning goes on
            self.log(f"training job {name} could not be created: {exc}")
            trial.ended, trial.state, trial.status = True, FAIL, "Failed"
            self.trials.append(trial)
            self.strategy.finish(index, FAIL, None, [])
            error = {"name": name, "error": str(exc)[:500]}
            self._update(lambda s: s.setdefault("create_errors", []).append(error))
            return
        arn = self._update(lambda s: s["trials"].append({"index": index, "name": name, "tuned": tuned}))["arn"]
        self.client.engine.update(name, lambda job: job.__setitem__("tuning_job_arn", arn))
        self.trials.append(trial)
        self.log(f"started {name} with {tuned}")

    # -- watching ------------------------------------------------------------------------------
    def new_values(self, trial: Trial, job: dict[str, Any]) -> list[float]:
        """Return the objective values the job logged since the last call (algo-1 only: no duplicates)."""
        values: list[float] = []
        for stream in job.get("log_streams", []):
            if "/algo-1-" not in stream:
                continue
            path = self.logs.stream_path(TRAINING_LOG_GROUP, stream)
            if not path.is_file():
                continue
            events, trial.offsets[stream] = self.logs.read_events(path, trial.offsets.get(stream, 0), 10**6)
            for event in events:
                for match in self.pattern.finditer(str(event.get("message", ""))):
                    with contextlib.suppress(TypeError, ValueError, IndexError):
                        values.append(float(match.group(1) if self.pattern.groups else match.group(0)))
        return values

    def follow(self, trial: Trial) -> None:
        """Read a running trial's new epochs, apply early stopping, and take its end when it ended."""
        job = self.client.engine.refresh(trial.name)
        for value in self.new_values(trial, job):
            trial.values.append(value)
            step = len(trial.values)
            if trial.stop_epoch is not None:
                continue
            reason = ""
            if self.strategy.report(trial.index, step, value):
                reason = "Hyperband"
            elif self.early_stopping and self.median_rule(trial, step, value):
                reason = "early stopping (median rule)"
            if reason:
                trial.stop_epoch = step
                self.log(f"stopping {trial.name} at epoch {step} ({reason}): {self.metric}={value}")
                self.stop_job(trial.name)
        if job["status"] in JOB_TERMINAL_STATUSES:
            self.end_trial(trial, job)

    def median_rule(self, trial: Trial, step: int, value: float) -> bool:
        """Return True when ``value`` at epoch ``step`` is worse than the median of the earlier jobs' running averages.

        With a seed only the jobs that had ended before this one started count (reproducible decisions).
        """
        limit = trial.index - self.parallel + 1 if self.strategy.seeded else trial.index
        averages = [
            statistics.fmean(other.values[:step])
            for other in self.trials
            if other.index < limit and other.ended and len(other.values) >= step
        ]
        if len(averages) < MEDIAN_RULE_MIN_JOBS:
            return False
        median = statistics.median(averages)
        return value < median if self.kind == "Maximize" else value > median

    def end_trial(self, trial: Trial, job: dict[str, Any]) -> None:
        """Take the end of a training job: tell the strategy, track the best and the completion criteria."""
        self.new_values(trial, job)  # nothing logged after the end is lost
        trial.ended, trial.status = True, job["status"]
        trial.objective = final_objective(job, self.metric)
        if trial.stop_epoch is not None and job["status"] != "Failed":
            trial.state = PRUNED
            known = trial.values[: trial.stop_epoch]
            self.strategy.finish(trial.index, PRUNED, known[-1] if known else None, known)
        elif job["status"] == "Completed" and trial.objective is not None:
            trial.state = COMPLETE
            self.strategy.finish(trial.index, COMPLETE, trial.objective, trial.values)
        else:
            trial.state = FAIL
            self.strategy.finish(trial.index, FAIL, None, trial.values)
        self.log(f"{trial.name} ended {job['status']}; {self.metric}={trial.objective}")
        if trial.state != COMPLETE or trial.objective is None:
            return
        value = trial.objective
        if self.best is None or self._improves(value, self.best):
            self.not_improving = 0
        else:
            self.not_improving += 1
        if is_better(value, self.best, self.kind):
            self.best = value
        self._update(lambda s: s.__setitem__("not_improving", self.not_improving))
        if self.target is not None and not is_better(float(self.target), value, self.kind):
            self.finishing = self.finishing or f"target objective {self.target} reached"
        if self.not_improving_limit and self.not_improving >= int(self.not_improving_limit):
            self.finishing = self.finishing or f"best objective not improving for {self.not_improving} jobs"

    def _improves(self, value: float, best: float) -> bool:
        margin = abs(best) * IMPROVEMENT
        return value >= best + margin if self.kind == "Maximize" else value <= best - margin

    def check_limits(self) -> None:
        """End the run at MaxRuntimeInSeconds; stop running jobs once the run is finishing."""
        if self.max_runtime is not None and time.time() - self.started >= float(self.max_runtime):
            self.finishing = self.finishing or f"MaxRuntimeInSeconds ({self.max_runtime}) reached"
        if self.finishing and self.running():
            self.stop_running()

    # -- ending --------------------------------------------------------------------------------
    def stop_job(self, name: str) -> None:
        """Ask a training job to stop (an already ended one is fine)."""
        with contextlib.suppress(Exception):
            self.client.stop_training_job(TrainingJobName=name)

    def stop_running(self) -> None:
        """Stop every training job that still runs."""
        for trial in self.running():
            job = self.client.engine.refresh(trial.name)
            if job["status"] == "InProgress":
                self.stop_job(trial.name)

    def wait_ended(self) -> None:
        """Wait until every training job ended."""
        while self.running():
            for trial in self.running():
                job = self.client.engine.refresh(trial.name)
                if job["status"] in JOB_TERMINAL_STATUSES:
                    trial.ended, trial.status = True, job["status"]
            time.sleep(POLL_SECONDS)

    def finish(self) -> None:
        """End the tuning job: Failed when every training job failed, else Completed."""
        if self.finishing:
            self.log(f"completing: {self.finishing}")
        failed = [trial for trial in self.trials if trial.status == "Failed"]
        if self.trials and len(failed) == len(self.trials):
            reason = "All training jobs failed."
            with contextlib.suppress(Exception):
                first = self.client.engine.load(failed[0].name).get("failure_reason")
                reason += f" First failure ({failed[0].name}): {first}"
            self._update(lambda s: end_tuning(s, "Failed", reason))
        else:
            self._update(lambda s: end_tuning(s, "Completed"))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m airflow_tf_sm.backends.local.tuner``."""
    parser = argparse.ArgumentParser(description="Run one local SageMaker-style hyperparameter tuning job.")
    parser.add_argument("--root", required=True, help="local backend root directory")
    parser.add_argument("--job", required=True, help="tuning job name")
    parser.add_argument("--detach", action="store_true", help="fork into the background and return")
    args = parser.parse_args(argv)
    root = Path(args.root)
    store = tuning_store(root)
    if store.load(args.job)["status"] not in TUNING_JOB.busy:
        return 0
    if args.detach:
        if detach_and_record(lambda record: store.update(args.job, lambda s: s.__setitem__("tuner", record))):
            sys.stdout.flush()
            os._exit(0)
    else:
        record = own_record()
        store.update(args.job, lambda s: s.__setitem__("tuner", record))
    Tuner(root, args.job).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

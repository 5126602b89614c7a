"""Local tuning: parallel overhead, and Bayesian vs Random search on a known function.

1. Overhead: a tuning job of 8 training jobs of a fixed-length script (``sleep``), 2 at a time. The ideal
   wall time is the sum of the jobs' own times (CreationTime to their end, what a job costs on its own)
   divided by 2; the figure is the tuning job's wall time (CreateHyperParameterTuningJob until its end)
   over that ideal. Goal <= 1.15x.
2. Search quality: on a script whose objective is a known function of three hyperparameters (a
   continuous one on a log scale, an integer and a categorical), the best objective after 20 jobs,
   median over 10 seeds, for Bayesian (optuna TPE) and for Random. Goal: Bayesian better.

Child: ``python -m bench.tuning <json config>``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from bench.common import Figure, child_env, emit, median, new_home, run_child, scratch_dir

GOAL_OVERHEAD = 1.15

FIXED = """
import argparse, time
p = argparse.ArgumentParser()
p.add_argument("--seconds", type=float, default=5.0)
p.add_argument("--knob", type=float, default=0.0)
args, _ = p.parse_known_args()
time.sleep(args.seconds)
print(f"score={args.knob:.6f}", flush=True)
"""

KNOWN = """
import argparse, math
p = argparse.ArgumentParser()
p.add_argument("--learning-rate", dest="lr", type=float)
p.add_argument("--units", type=int)
p.add_argument("--act", type=str)
args, _ = p.parse_known_args()
# optimum: lr = 0.003, units = 48, act = "gelu" (score 1.0)
score = 1.0 - (math.log10(args.lr) - math.log10(0.003)) ** 2 / 2.0 - ((args.units - 48) / 64.0) ** 2
score -= {"gelu": 0.0, "relu": 0.05, "tanh": 0.15, "sigmoid": 0.3}[args.act]
print(f"score={score:.6f}", flush=True)
"""


def _spec(code: str, **settings: Any) -> Any:
    from airflow_tf_sm.tuning.spec import TuningJobSpec

    return TuningJobSpec.from_mapping(
        {
            "entry_point": "train.py",
            "source_dir": code,
            "output_path": "s3://bench-tuning/out",
            "metric_definitions": [{"Name": "score", "Regex": r"score=([-0-9.]+)"}],
            "objective_metric_name": "score",
            **settings,
        }
    )


def _run(hook: Any, spec: Any, task: str) -> tuple[dict[str, Any], float]:
    from airflow_tf_sm.sagemaker.names import TaskInstanceIds

    begun = time.time()
    name, _ = hook.tuning.start(spec, TaskInstanceIds("bench", task, "r"))
    desc = hook.tuning.wait(name, poll_interval=0.2, print_log=lambda *_: None)
    ended = hook.tuning.describe(name)["HyperParameterTuningEndTime"].timestamp()
    return desc, ended - begun


def child(cfg: dict[str, Any]) -> None:
    """Run the measurement of ``cfg["kind"]`` and print its numbers."""
    from airflow_tf_sm.hook import TFSageMakerHook

    work = scratch_dir("airflow_tf_sm_bench_tuning_")
    hook = TFSageMakerHook(backend="local", local_root=str(work / "root"), region_name="us-east-1")
    if cfg["kind"] == "overhead":
        code = work / "fixed"
        code.mkdir()
        (code / "train.py").write_text(FIXED)
        spec = _spec(
            str(code),
            hyperparameters={"seconds": cfg["seconds"]},
            hyperparameter_ranges={"knob": {"type": "continuous", "min_value": 0, "max_value": 1}},
            strategy="Random",
            max_jobs=cfg["jobs"],
            max_parallel_jobs=2,
            random_seed=1,
        )
        desc, wall = _run(hook, spec, "overhead")
        jobs = hook.tuning.training_jobs(desc["HyperParameterTuningJobName"])
        own = [
            hook.training.describe(j["TrainingJobName"])["LastModifiedTime"].timestamp() - j["CreationTime"].timestamp()
            for j in jobs
        ]
        emit({"wall": wall, "job_seconds": own, "completed": desc["TrainingJobStatusCounters"]["Completed"]})
        return
    code = work / "known"
    code.mkdir()
    (code / "train.py").write_text(KNOWN)
    best: dict[str, list[float]] = {"Bayesian": [], "Random": []}
    for seed in range(cfg["seeds"]):
        for strategy in best:
            spec = _spec(
                str(code),
                hyperparameter_ranges={
                    "learning-rate": {
                        "type": "continuous",
                        "min_value": 1e-5,
                        "max_value": 1.0,
                        "scaling_type": "Logarithmic",
                    },
                    "units": {"type": "integer", "min_value": 4, "max_value": 256},
                    "act": {"type": "categorical", "values": ["sigmoid", "tanh", "relu", "gelu"]},
                },
                strategy=strategy,
                max_jobs=cfg["jobs"],
                max_parallel_jobs=2,
                random_seed=seed,
            )
            desc, _ = _run(hook, spec, f"{strategy.lower()}-{seed}")
            best[strategy].append(desc["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    emit(best)


def measure(jobs: int = 8, seconds: float = 5.0, search_jobs: int = 20, seeds: int = 10) -> list[Figure]:
    """Run both measurements in fresh child processes; return their figures."""
    env = child_env(new_home())
    over = run_child(
        ["-m", "bench.tuning", json.dumps({"kind": "overhead", "jobs": jobs, "seconds": seconds})], env, timeout=1800
    )
    ideal = sum(over["job_seconds"]) / 2
    ratio = over["wall"] / ideal
    figures = [
        Figure(
            f"tuning: {jobs} jobs of {seconds:g} s, 2 in parallel, wall vs ideal",
            f"{ratio:.3f}x",
            f"<= {GOAL_OVERHEAD}x",
            ratio <= GOAL_OVERHEAD and over["completed"] == jobs,
            f"tuning wall {over['wall']:.1f} s; ideal {ideal:.1f} s = sum of the {jobs} jobs' own times "
            f"({sum(over['job_seconds']):.1f} s; each {min(over['job_seconds']):.1f}-"
            f"{max(over['job_seconds']):.1f} s) / 2",
        )
    ]
    search = run_child(
        ["-m", "bench.tuning", json.dumps({"kind": "search", "jobs": search_jobs, "seeds": seeds})], env, timeout=7200
    )
    bayes, rand = median(search["Bayesian"]), median(search["Random"])
    figures.append(
        Figure(
            f"tuning: median best objective after {search_jobs} jobs over {seeds} seeds, Bayesian vs Random",
            f"{bayes:.4f} vs {rand:.4f}",
            "Bayesian > Random (optimum 1.0)",
            bayes > rand,
            f"Bayesian (optuna TPE) bests: {', '.join(f'{v:.3f}' for v in search['Bayesian'])}; "
            f"Random: {', '.join(f'{v:.3f}' for v in search['Random'])}",
        )
    )
    return figures


if __name__ == "__main__":
    child(json.loads(sys.argv[1]))

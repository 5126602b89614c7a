"""Local overhead: a ~20 s TensorFlow script through the local backend vs the same script run directly.

The example DAG's ``train.py`` (Keras MLP on the ring dataset) runs through a tiny wrapper,
``bench_entry.py``, which records the process's argv, working directory and environment before handing
over to ``train.py``. The local backend runs it as a training job, timed from CreateTrainingJob until the
job's own LastModifiedTime of its Completed status (job setup, model packaging and status updates count).
Then the same wrapper runs directly with the recorded argv, directory and environment. Each round runs
one of each back to back (the order alternates between rounds); the figure is the median of the rounds'
ratios, so slow spells of a shared machine hit both sides of a ratio alike.

Child: ``python -m bench.local_overhead <json config>``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any

from bench.common import ROOT, Figure, child_env, emit, median, new_home, run_child, scratch_dir

GOAL_RATIO = 1.05
EXAMPLE = ROOT / "dags_examples" / "tf_sm_example"

ENTRY = """
import json, os, runpy, sys
record = os.environ.get("BENCH_ENV_FILE")
if record:
    with open(record, "w") as fh:
        json.dump({"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ)}, fh)
sys.argv[0] = "train.py"
runpy.run_path("train.py", run_name="__main__")
"""


def child(cfg: dict[str, Any]) -> None:
    """Run ``cfg["rounds"]`` alternating local-backend and direct runs; print their seconds."""
    from airflow_tf_sm.hook import TFSageMakerHook
    from airflow_tf_sm.sagemaker.resources import JOB_TERMINAL_STATUSES as TERMINAL_STATUSES
    from airflow_tf_sm.training.spec import TrainingJobSpec

    sys.path.insert(0, str(EXAMPLE.parent))
    from tf_sm_example.data import make_dataset

    work = scratch_dir("airflow_tf_sm_bench_local_")
    code = work / "code"
    code.mkdir()
    shutil.copy(EXAMPLE / "code" / "train.py", code / "train.py")
    (code / "bench_entry.py").write_text(ENTRY)
    hook = TFSageMakerHook(backend="local", local_root=str(work / "root"), region_name="us-east-1")
    for relative, content in make_dataset(7).items():
        hook.write_bytes(f"s3://bench/data/{relative}", content)
    # warm the page cache for TensorFlow's libraries first, so neither way pays the first import
    subprocess.run([sys.executable, "-c", "import tensorflow"], check=True, capture_output=True)
    local: list[float] = []
    direct: list[float] = []
    record = work / "env.json"

    def run_local(round_: int) -> None:
        spec = TrainingJobSpec.from_mapping(
            {
                "entry_point": "bench_entry.py",
                "source_dir": str(code),
                "output_path": "s3://bench/models",
                "inputs": {"train": "s3://bench/data/train", "test": "s3://bench/data/test"},
                "hyperparameters": {"epochs": cfg["epochs"]},
                "environment": {"BENCH_ENV_FILE": str(record)},
            }
        )
        name = f"bench-local-overhead-{os.getpid()}-{round_}"
        request = hook.training.request(spec, name, hook.training.stage_code(spec))
        start = time.time()
        hook.training.create(request)
        while (desc := hook.describe_training_job(name))["TrainingJobStatus"] not in TERMINAL_STATUSES:
            time.sleep(0.5)  # slow polling: the end time comes from the job itself
        if desc["TrainingJobStatus"] != "Completed":
            raise SystemExit(f"{name}: {desc['TrainingJobStatus']} {desc.get('FailureReason')}")
        local.append(desc["LastModifiedTime"].timestamp() - start)  # when the job turned Completed

    def run_direct() -> None:
        seen = json.loads(record.read_text())  # argv, directory and environment of the last local run
        env = {k: v for k, v in seen["env"].items() if k != "BENCH_ENV_FILE"}
        for directory in (env["SM_MODEL_DIR"], env["SM_OUTPUT_DATA_DIR"]):  # start from the same empty dirs
            shutil.rmtree(directory, ignore_errors=True)
            os.makedirs(directory)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, *seen["argv"]],
            cwd=seen["cwd"],
            env=env,
            check=True,
            capture_output=True,  # its output is read, as the local backend reads it into the job's log
        )
        direct.append(time.perf_counter() - start)

    for round_ in range(cfg["rounds"]):  # local-direct, direct-local, ...: neither way always goes first
        if round_ % 2 == 0:
            run_local(round_)
            run_direct()
        else:
            run_direct()
            run_local(round_)
    emit({"local": local, "direct": direct})


def measure(epochs: int = 140, rounds: int = 3) -> list[Figure]:
    """Run the comparison in a child process; return the row (median of the per-round ratios)."""
    data = run_child(
        ["-m", "bench.local_overhead", json.dumps({"epochs": epochs, "rounds": rounds})],
        child_env(new_home()),
        timeout=1200,
    )
    ratios = [lo / di for lo, di in zip(data["local"], data["direct"], strict=True)]
    ratio = median(ratios)
    return [
        Figure(
            "5. Local overhead: TF script via local backend / direct",
            f"{ratio:.3f} ({median(data['local']):.1f} s vs {median(data['direct']):.1f} s)",
            f"<= {GOAL_RATIO}",
            ratio <= GOAL_RATIO,
            f"example train.py, {epochs} epochs; median of {rounds} rounds, each a local and a direct run back "
            f"to back, in alternating order (local {', '.join(f'{s:.1f}' for s in data['local'])} s; "
            f"direct {', '.join(f'{s:.1f}' for s in data['direct'])} s; ratios "
            f"{', '.join(f'{r:.3f}' for r in ratios)}); local = CreateTrainingJob until the job turned Completed",
        )
    ]


if __name__ == "__main__":
    child(json.loads(sys.argv[1]))

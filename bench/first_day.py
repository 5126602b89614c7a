"""A new user's first day: the quickstart DAG and every example DAG, run with ``dag.test()`` on the local backend.

The quickstart's DAG is taken verbatim from ``docs/quickstart.rst`` and its environment block's settings
(``AIRFLOW__AIRFLOW_TF_SM__BACKEND=local``) are applied, in a fresh Airflow home. Each DAG runs once; the
figure is the quickstart run's wall time (its first task's start to its last task's end) minus its
training job's training time (SageMaker's ``TrainingStartTime`` to ``TrainingEndTime``): what Airflow,
the data task and the package's waiting add to the training itself. The details give each example's
wall time and where the quickstart's extra seconds went.

Child: ``python -m bench.first_day <json config>``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT, Figure, child_env, emit, new_home, run_child, scratch_dir

GOAL_SECONDS = 3.0
EXAMPLES = ROOT / "dags_examples"
QUICKSTART = ROOT / "docs" / "quickstart.rst"
#: The examples and the run conf that keeps each one short (the quickstart runs as written).
RUNS: dict[str, dict[str, Any]] = {
    "tf_sm_example": {"epochs": 4},
    "tf_sm_config_file": {"epochs": 3},
    "tf_sm_fire_and_attach": {"epochs": 20},
    "tf_sm_nightly": {"epochs": 3, "min_val_accuracy": 0.5},
    "tf_sm_sweep": {"epochs": 3},
    "tf_sm_distributed": {"epochs": 4},
    "tf_sm_tuning": {"epochs": 3},
    "tf_sm_batch_scoring": {"epochs": 2, "min_val_accuracy": 0.5},
}
#: Airflow's own cost of the quickstart's shape: two tasks that do nothing, run in a fresh process like it.
BASELINE_DAG = """\
import pendulum
from airflow.sdk import dag, task


@dag(schedule="@daily", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def tf_airflow_baseline():
    @task
    def make_data() -> None:
        pass

    @task
    def train() -> None:
        pass

    make_data() >> train()


tf_airflow_baseline()
"""
#: Not run: ``tf_sm_approved_deploy`` waits for a person's answer (its e2e test gives one).


def quickstart_dag() -> str:
    """Return the quickstart's DAG file, as the page shows it."""
    lines = QUICKSTART.read_text().splitlines()
    for index, line in enumerate(lines):
        if line.strip() == ".. code-block:: python":
            body = []
            for following in lines[index + 2 :]:
                if following and not following.startswith("   "):
                    break
                body.append(following[3:])
            text = "\n".join(body).strip() + "\n"
            if "def tf_quickstart" in text:
                return text
    raise RuntimeError("no quickstart DAG in docs/quickstart.rst")


def quickstart_settings() -> dict[str, str]:
    """The ``AIRFLOW__AIRFLOW_TF_SM__*`` exports of the quickstart's environment block."""
    return dict(re.findall(r"^\s*export (AIRFLOW__AIRFLOW_TF_SM__\w+)=(\S+)$", QUICKSTART.read_text(), re.M))


def child(cfg: dict[str, Any]) -> None:
    """Run the quickstart and each example once with ``dag.test()``; print their times."""
    import pendulum
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from airflow_tf_sm.compat import dagbag_class
    from airflow_tf_sm.hook import TFSageMakerHook

    dags = Path(cfg["dags"])
    bag = dagbag_class()(dag_folder=str(dags))
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    hook = TFSageMakerHook()
    results: dict[str, Any] = {}
    for dag_id in cfg["runs"]:
        conf = RUNS.get(dag_id)
        started = time.perf_counter()
        run = bag.get_dag(dag_id).test(logical_date=pendulum.datetime(2025, 1, 2, tz="UTC"), run_conf=conf)
        called = time.perf_counter() - started
        entry: dict[str, Any] = {"state": str(run.state), "call": called}
        with create_session() as session:
            rows = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run.run_id, key="return_value").all()
            xcoms = {(row.task_id, row.map_index): row.value for row in rows}
            every = run.get_task_instances(session=session)
            tis = [ti for ti in every if ti.start_date and ti.end_date]
            if not tis:
                states = {ti.task_id: str(ti.state) for ti in every}
                raise SystemExit(f"{dag_id}: run {run.run_id} ({run.state}) ran no task: {states}")
            # the run's span: its first task's start to its last task's end (dag.test() dates the run itself
            # at its logical date)
            entry["wall"] = (max(t.end_date for t in tis) - min(t.start_date for t in tis)).total_seconds()
            entry["tasks"] = {
                ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else ""): (
                    ti.end_date - ti.start_date
                ).total_seconds()
                for ti in tis
            }
        train = xcoms.get(("train", -1)) or xcoms.get(("start_training", -1))
        if isinstance(train, str):
            train = json.loads(train)
        if isinstance(train, dict) and train.get("job_name"):
            desc = hook.describe_training_job(train["job_name"])
            if desc.get("TrainingStartTime") and desc.get("TrainingEndTime"):
                entry["training"] = (desc["TrainingEndTime"] - desc["TrainingStartTime"]).total_seconds()
            entry["job"] = (desc["LastModifiedTime"] - desc["CreationTime"]).total_seconds()
        results[dag_id] = entry
    for endpoint in hook.clients.sagemaker.list_endpoints()["Endpoints"]:  # the nightly's stays up by design
        hook.delete_endpoint(endpoint["EndpointName"], poll_interval=0.5)
    emit(results)


def measure(examples: bool = True) -> list[Figure]:
    """Prepare a fresh Airflow home and DAG folder, run the child, return the rows."""
    home = new_home()
    dags = scratch_dir("airflow_tf_sm_bench_dags_")
    (dags / "tf_quickstart.py").write_text(quickstart_dag())
    (dags / "tf_airflow_baseline.py").write_text(BASELINE_DAG)
    shutil.copytree(EXAMPLES / "tf_sm_example", dags / "tf_sm_example")  # "next to the tf_sm_example directory"
    chosen = list(RUNS) if examples else []
    if examples:
        for path in EXAMPLES.glob("*.py"):
            shutil.copy(path, dags / path.name)
        shutil.copytree(EXAMPLES / "tf_sm_distributed", dags / "tf_sm_distributed")
    settings = {k: v.replace("$AIRFLOW_HOME", str(home)) for k, v in quickstart_settings().items()}
    env = child_env(home, AIRFLOW__CORE__DAGS_FOLDER=str(dags), **settings)
    env["PYTHONPATH"] = f"{dags}:{env['PYTHONPATH']}"
    subprocess.run([PYTHON, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    base = run_child(
        ["-m", "bench.first_day", json.dumps({"dags": str(dags), "runs": ["tf_airflow_baseline"]})], env, 600
    )
    baseline = base["tf_airflow_baseline"]
    runs = ["tf_quickstart", *chosen]
    data = run_child(["-m", "bench.first_day", json.dumps({"dags": str(dags), "runs": runs})], env, 3600)
    quick = data["tf_quickstart"]
    extra = quick["wall"] - quick.get("training", 0.0)
    package = extra - baseline["wall"]
    base_tasks = ", ".join(f"{task} {seconds:.1f} s" for task, seconds in baseline["tasks"].items())
    tasks = ", ".join(f"{task} {seconds:.1f} s" for task, seconds in quick["tasks"].items())
    figures = [
        Figure(
            "6. Quickstart DAG on the local backend: wall - training time",
            f"{extra:.1f} s ({quick['wall']:.1f} s vs {quick.get('training', 0.0):.1f} s)",
            f"<= {GOAL_SECONDS:.0f} s",
            quick["state"] == "success" and extra <= GOAL_SECONDS,
            f"docs/quickstart.rst's DAG verbatim with its environment block, one dated run in a fresh Airflow "
            f"home; wall = its first task's start to its last task's end; training = the job's "
            f"TrainingStartTime to TrainingEndTime (the job from CreateTrainingJob to Completed: "
            f"{quick.get('job', 0.0):.1f} s); tasks: {tasks}; "
            f"dag.test() call {quick['call']:.1f} s (with Airflow's own start-up)",
        ),
        Figure(
            "6b. Quickstart: wall - training - Airflow's own two-task run",
            f"{package:.1f} s ({extra:.1f} s - {baseline['wall']:.1f} s)",
            f"<= {GOAL_SECONDS:.0f} s",
            quick["state"] == "success" and baseline["state"] == "success" and package <= GOAL_SECONDS,
            "what the package (and the data task's work) adds: figure 6 minus the wall time of a DAG of the "
            "quickstart's shape whose two tasks do nothing (`tf_airflow_baseline`, dag.test() in a fresh process "
            f"like the quickstart's, same Airflow home; tasks: {base_tasks}): Airflow's cost of starting the "
            "first task in a new process (the in-process execution API) and of each task",
        ),
    ]
    if examples:
        walls = ", ".join(
            f"{dag_id} {entry['wall']:.0f} s" + ("" if entry["state"] == "success" else f" ({entry['state']})")
            for dag_id, entry in data.items()
            if dag_id != "tf_quickstart"
        )
        spans = "; ".join(
            f"{dag_id}: " + ", ".join(f"{t} {s:.0f}" for t, s in entry["tasks"].items())
            for dag_id, entry in data.items()
            if dag_id != "tf_quickstart"
        )
        ok = all(entry["state"] == "success" for entry in data.values())
        figures.append(
            Figure(
                "7. Every example DAG with dag.test() on the local backend",
                walls,
                "each succeeds",
                ok,
                "wall = first task's start to last task's end; conf per example: "
                + "; ".join(f"{k} {json.dumps(v)}" for k, v in RUNS.items())
                + f"; task seconds: {spans}",
            )
        )
    return figures


if __name__ == "__main__":
    child(json.loads(sys.argv[1]))

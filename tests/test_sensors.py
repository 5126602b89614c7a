"""TrainingJobSensor on the local backend: poke path, deferral, resume, templating, kill, and one dag.test()."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_tf_sm.exceptions import TFSageMakerError, TrainingJobFailedError
from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.sensors import TrainingJobSensor
from airflow_tf_sm.training.spec import TrainingJobSpec
from airflow_tf_sm.triggers import TrainingJobTrigger

SLEEPER = "import time\nprint('sleeping', flush=True)\ntime.sleep(60)\n"


class FakeTI:
    """The part of a task instance the sensor uses: XCom push and pull."""

    def __init__(self, xcoms: dict[tuple[str, str], Any] | None = None) -> None:
        self.pushed: dict[str, Any] = {}
        self.xcoms = xcoms or {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value

    def xcom_pull(self, task_ids: str, key: str = "return_value", **_: Any) -> Any:
        return self.xcoms[(task_ids, key)]


def local_hook(root: Path) -> TFSageMakerHook:
    return TFSageMakerHook(backend="local", local_root=str(root), region_name="us-east-1")


def start_job(root: Path, tmp_path: Path, name: str, script: str) -> TFSageMakerHook:
    code = tmp_path / name
    code.mkdir()
    (code / "train.py").write_text(script)
    hook = local_hook(root)
    spec = TrainingJobSpec.from_mapping(
        {"entry_point": "train.py", "source_dir": str(code), "output_path": "s3://bucket/models"}
    )
    hook.training.create(hook.training.request(spec, name, hook.training.stage_code(spec)))
    return hook


def wait_until(hook: TFSageMakerHook, name: str, secondary: str, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while hook.describe_training_job(name)["SecondaryStatus"] != secondary:
        assert time.monotonic() < deadline, f"{name} never reached {secondary}"
        time.sleep(0.05)


def sensor_for(root: Path, name: str, **kwargs: Any) -> TrainingJobSensor:
    return TrainingJobSensor(
        task_id="wait",
        job_name=name,
        backend="local",
        local_root=str(root),
        region_name="us-east-1",
        poke_interval=0.1,
        **kwargs,
    )


# ------------------------------------------------------------------ poke path
def test_poke_path_returns_the_result_of_a_real_job(
    local_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = start_job(local_root, tmp_path, "sense-ok", "import time\ntime.sleep(0.3)\nprint('epoch 1 done')\n")
    sensor = sensor_for(local_root, "sense-ok", deferrable=False, mode="poke")
    ti = FakeTI()

    result = sensor.execute({"ti": ti})  # type: ignore[arg-type]

    assert result == hook.training.result(hook.describe_training_job("sense-ok"))
    assert result["status"] == "Completed"
    assert result["model_data"] == "s3://bucket/models/sense-ok/output/model.tar.gz"
    json.dumps(result)
    assert sensor.link_target == ("sense-ok", "us-east-1")
    assert "epoch 1 done" in capsys.readouterr().out  # poke mode streams the training log


def test_poke_raises_for_a_failed_job(local_root: Path, tmp_path: Path) -> None:
    start_job(local_root, tmp_path, "sense-bad", "print('bad input', flush=True)\nraise ValueError('no data')\n")
    sensor = sensor_for(local_root, "sense-bad", deferrable=False)
    with pytest.raises(TrainingJobFailedError) as err:
        sensor.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert err.value.status == "Failed"
    assert "no data" in str(err.value)


def test_poke_is_false_while_the_job_runs(local_root: Path, tmp_path: Path) -> None:
    hook = start_job(local_root, tmp_path, "sense-run", SLEEPER)
    try:
        sensor = sensor_for(local_root, "sense-run", deferrable=False)
        assert sensor.poke({"ti": FakeTI()}) is False  # type: ignore[arg-type]
    finally:
        hook.stop_training_job("sense-run")


# ------------------------------------------------------------------- deferral
def test_deferrable_sensor_defers_with_a_self_contained_trigger(local_root: Path, tmp_path: Path) -> None:
    from airflow_tf_sm.compat import task_deferred

    TaskDeferred = task_deferred()

    hook = start_job(local_root, tmp_path, "sense-defer", SLEEPER)
    try:
        sensor = sensor_for(local_root, "sense-defer", deferrable=True, timeout=3600, stop_job_on_kill=True)
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    finally:
        hook.stop_training_job("sense-defer")
    trigger = deferred.value.trigger
    assert isinstance(trigger, TrainingJobTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=3600)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_tf_sm.training.trigger.TrainingJobTrigger"
    assert kwargs["job_name"] == "sense-defer"
    assert kwargs["poll_interval"] == 0.1 and kwargs["stop_job_on_kill"] is True
    assert kwargs["client_params"]["backend"] == "local"
    assert kwargs["client_params"]["local_root"] == str(local_root)
    assert kwargs["client_params"]["region_name"] == "us-east-1"
    json.dumps(kwargs)


def test_deferrable_sensor_on_an_ended_job_returns_at_once(local_root: Path, tmp_path: Path) -> None:
    hook = start_job(local_root, tmp_path, "sense-done", "print('quick')\n")
    wait_until(hook, "sense-done", "Completed")
    result = sensor_for(local_root, "sense-done", deferrable=True).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert result["job_name"] == "sense-done" and result["status"] == "Completed"


def test_defer_run_trigger_resume_cycle(local_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_tf_sm.compat import task_deferred

    TaskDeferred = task_deferred()

    hook = start_job(local_root, tmp_path, "sense-cycle", "import time\ntime.sleep(0.5)\nprint('trained')\n")
    sensor = sensor_for(local_root, "sense-cycle", deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    _, kwargs = deferred.value.trigger.serialize()

    async def fire() -> dict[str, Any]:  # the triggerer rebuilds the trigger from its JSON kwargs
        async for event in TrainingJobTrigger(**json.loads(json.dumps(kwargs))).run():
            return event.payload
        raise AssertionError("no event")

    event = asyncio.run(asyncio.wait_for(fire(), 30))
    assert "trained" in capsys.readouterr().out  # the trigger streamed the log
    assert event["log_tail"] == []  # ...so the stored event repeats none of it
    resumed = sensor_for(local_root, "sense-cycle", deferrable=True)  # the operator is rebuilt on resume
    result = resumed.execute_complete({"ti": FakeTI()}, event)  # type: ignore[arg-type]
    assert result == hook.training.result(hook.describe_training_job("sense-cycle"))


def test_execute_complete_raises_for_failed_and_error_events(local_root: Path, tmp_path: Path) -> None:
    hook = start_job(local_root, tmp_path, "sense-fail", "raise SystemExit(2)\n")
    wait_until(hook, "sense-fail", "Failed")
    sensor = sensor_for(local_root, "sense-fail", deferrable=True)
    event = {"status": "failed", "job_name": "sense-fail", "log_tail": ["last words"]}
    with pytest.raises(TrainingJobFailedError) as err:
        sensor.execute_complete({"ti": FakeTI()}, event)  # type: ignore[arg-type]
    assert err.value.status == "Failed" and err.value.log_tail == "last words"
    with pytest.raises(TFSageMakerError, match="no credentials"):
        sensor.execute_complete(
            {"ti": FakeTI()},  # type: ignore[arg-type]
            {"status": "error", "job_name": "sense-fail", "message": "no credentials"},
        )


# ------------------------------------------------------------ arguments, kill
def test_job_name_is_templated_from_an_upstream_xcom(local_root: Path) -> None:
    sensor = sensor_for(local_root, "{{ ti.xcom_pull('train', key='job_name') }}")
    assert "job_name" in TrainingJobSensor.template_fields
    sensor.render_template_fields({"ti": FakeTI({("train", "job_name"): "mnist-123"})})  # type: ignore[arg-type]
    assert sensor.job_name == "mnist-123"


def test_deferrable_default_follows_the_airflow_setting(monkeypatch: pytest.MonkeyPatch, local_root: Path) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert sensor_for(local_root, "x").deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert sensor_for(local_root, "x").deferrable is False
    assert sensor_for(local_root, "x", deferrable=True).deferrable is True


@pytest.mark.parametrize("stop", [True, False])
def test_on_kill_stops_the_job_only_when_asked(local_root: Path, tmp_path: Path, stop: bool) -> None:
    name = f"sense-kill-{str(stop).lower()}"
    hook = start_job(local_root, tmp_path, name, SLEEPER)
    try:
        wait_until(hook, name, "Training")
        sensor = sensor_for(local_root, name, deferrable=False, stop_job_on_kill=stop)
        assert sensor.poke({"ti": FakeTI()}) is False  # type: ignore[arg-type]
        sensor.on_kill()
        status = hook.describe_training_job(name)["TrainingJobStatus"]
        assert (status in ("Stopping", "Stopped")) is stop
    finally:
        hook.stop_training_job(name)


def test_empty_job_name_fails_clearly(local_root: Path) -> None:
    with pytest.raises(ValueError, match="job_name"):
        sensor_for(local_root, "").execute({"ti": FakeTI()})  # type: ignore[arg-type]


# ------------------------------------------------------------ a real dag.test()
DAG_FILE = """
from airflow.sdk import dag, task

from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.sensors import TrainingJobSensor
from airflow_tf_sm.training.spec import TrainingJobSpec

ROOT = {root!r}
CODE = {code!r}


@dag(dag_id="tf_sm_sensor_test", schedule=None)
def tf_sm_sensor_test():
    @task
    def start(ti=None):
        hook = TFSageMakerHook(backend="local", local_root=ROOT, region_name="us-east-1")
        spec = TrainingJobSpec.from_mapping({{"entry_point": "train.py", "source_dir": CODE, "output_path": "s3://bucket/models"}})
        hook.training.create(hook.training.request(spec, "sense-dag", hook.training.stage_code(spec)))
        ti.xcom_push(key="job_name", value="sense-dag")

    wait = TrainingJobSensor(
        task_id="wait",
        job_name="{{{{ ti.xcom_pull('start', key='job_name') }}}}",
        backend="local",
        local_root=ROOT,
        region_name="us-east-1",
        deferrable=True,
        poke_interval=0.2,
    )
    start() >> wait


tf_sm_sensor_test()
"""


def decoded(value: Any) -> Any:
    """An XCom column value: JSON text, or already decoded."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def test_deferrable_sensor_in_dag_test_with_templated_name(
    airflow_db: Path, local_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_tf_sm.compat import dagbag_class

    DagBag = dagbag_class()
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("import time\ntime.sleep(0.5)\nprint('trained in dag', flush=True)\n")
    dags = tmp_path / "dags"
    dags.mkdir()
    dag_file = dags / "tf_sm_sensor_test_dag.py"
    # dag.test() serializes the DAGs of the configured bundles: add one for this DAG to those configured
    default = [
        {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}}
    ]
    bundles = json.loads(os.environ.get("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST") or json.dumps(default))
    bundles.append(
        {
            "name": "tf-sm-sensor-test",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(dags)},
        }
    )
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
    dag_file.write_text(DAG_FILE.format(root=str(local_root), code=str(code)))
    bag = DagBag(dag_folder=str(dag_file))
    assert not bag.import_errors, bag.import_errors

    run = bag.get_dag("tf_sm_sensor_test").test()

    assert run.state == "success"
    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id="wait").all()
        xcoms = {row.key: decoded(row.value) for row in rows}
    hook = local_hook(local_root)
    assert xcoms["return_value"] == hook.training.result(hook.describe_training_job("sense-dag"))
    assert set(xcoms) == {"return_value"}  # a local task has no links: no link XComs


def test_poke_intervals_grow_from_a_second_to_the_poke_interval(local_root: Path) -> None:
    aws = TrainingJobSensor(
        task_id="s", job_name="j", poke_interval=60, backend="sagemaker", aws_conn_id=None, region_name="us-east-1"
    )
    assert [aws._get_next_poke_interval(0, lambda: 0.0, n) for n in (1, 2, 3, 6, 7, 20)] == [1, 2, 4, 32, 60, 60]
    local = TrainingJobSensor(task_id="s2", job_name="j", poke_interval=60, backend="local", local_root=str(local_root))
    assert [local._get_next_poke_interval(0, lambda: 0.0, n) for n in (1, 5)] == [1.0, 1.0]  # a poll reads a file
    rescheduled = TrainingJobSensor(
        task_id="s3",
        job_name="j",
        poke_interval=60,
        mode="reschedule",
        backend="sagemaker",
        aws_conn_id=None,
        region_name="us-east-1",
    )
    waited = [rescheduled._get_next_poke_interval(0, lambda w=w: w, 1) for w in (0.2, 7.0, 500.0)]
    assert waited == [1.0, 7.0, 60]

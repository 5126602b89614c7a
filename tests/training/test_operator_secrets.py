"""The training operator registers every secret value it renders or sends, and logs none of them.

Airflow stores the rendered template fields right after ``render_template_fields`` and masks only what its
masker knows by then; its own list of sensitive names lacks ``pass``, ``auth``, ``credential``, ``key``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_tf_sm import TFTrainingOperator
from airflow_tf_sm.training.service import request_summary


@pytest.fixture
def masked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    import airflow.sdk.log

    calls: list[tuple[Any, Any]] = []
    monkeypatch.setattr(airflow.sdk.log, "mask_secret", lambda value, name=None: calls.append((value, name)))
    return calls


def test_rendered_secret_arguments_are_registered_by_value(masked: list[tuple[Any, Any]], tmp_path: Path) -> None:
    op = TFTrainingOperator(
        task_id="t",
        entry_point="train.py",
        output_path="s3://b/out",
        config={"hyperparameters": {"db_token": "{{ params.tok }}"}},
        hyperparameters={"x_auth": "{{ params.pw }}", "epochs": "{{ params.epochs }}"},
        environment={"API_CREDENTIAL": "{{ params.cred }}", "MODE": "fast-mode"},
        backend="local",
    )
    context = {"params": {"pw": "pw-value-123", "cred": "cred-value-456", "tok": "tok-value-789", "epochs": 30000}}
    op.render_template_fields(context)  # type: ignore[arg-type]
    assert op.hyperparameters == {"x_auth": "pw-value-123", "epochs": "30000"}
    registered = {value for value, name in masked}
    assert {"pw-value-123", "cred-value-456", "tok-value-789"} <= registered
    assert all(name is None for _, name in masked)  # by value: with a name Airflow would ignore these
    assert not registered & {"30000", "fast-mode"}


def test_execute_registers_environment_values_and_the_summary_hides_them(
    masked: list[tuple[Any, Any]], local_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('ok')\n")

    class TI:
        dag_id, task_id, run_id, map_index = "d", "t", "r1", -1

        def xcom_push(self, key: str, value: Any) -> None:
            pass

    op = TFTrainingOperator(
        task_id="t",
        entry_point="train.py",
        source_dir=str(code),
        output_path="s3://secret-test/out",
        hyperparameters={"x-auth": "auth-value-123"},
        environment={"API_CREDENTIAL": "cred-value-456", "MODE": "fast-mode"},
        backend="local",
        local_root=str(local_root),
        poll_interval=0.2,
    )
    result = op.execute({"ti": TI()})  # type: ignore[arg-type]
    assert result["status"] == "Completed"
    registered = {value for value, _ in masked}
    assert {"auth-value-123", "cred-value-456"} <= registered
    out = capsys.readouterr().out
    assert "auth-value-123" not in out and "cred-value-456" not in out
    assert '"Environment": {"API_CREDENTIAL": "***", "MODE": "fast-mode"}' in out  # request_summary
    assert "--x-auth ***" in out  # the runner's command line, streamed into the task log


def test_request_summary_hides_secret_hyperparameters_and_environment() -> None:
    summary = json.loads(
        request_summary(
            {
                "TrainingJobName": "j",
                "HyperParameters": {"db_pass": '"p4ssword-1"', "x-auth": '"a"', "epochs": "3"},
                "Environment": {"AWS_SECRET_ACCESS_KEY": "k3y-value", "MODE": "fast"},
            }
        )
    )
    assert summary["HyperParameters"] == {"db_pass": "***", "x-auth": "***", "epochs": "3"}
    assert summary["Environment"] == {"AWS_SECRET_ACCESS_KEY": "***", "MODE": "fast"}

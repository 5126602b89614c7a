"""Bad input to TFBatchTransformOperator fails before any API call, naming the field, all problems together.

Each case runs ``execute`` on both backends with clients that record every call (:mod:`tests.recording`):
the list of calls must be empty, and on the local backend nothing may have been written under the root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_tf_sm.exceptions import ConfigValidationError
from airflow_tf_sm.transform.operator import TFBatchTransformOperator
from tests.recording import recording_hook


class FakeTI:
    dag_id = "bad_inputs"
    task_id = "score"
    run_id = "manual__2025-01-01T00:00:00+00:00"
    map_index = -1

    def xcom_push(self, key: str, value: Any) -> None:  # pragma: no cover - must never be reached
        raise AssertionError("xcom_push reached: validation did not stop the task")


BASE: dict[str, Any] = {
    "training_job_name": "mnist-20250101",
    "data": "s3://bucket/score/2025-01-01/",
    "output_path": "s3://bucket/scores/2025-01-01",
    "content_type": "text/csv",
    "split_type": "Line",
    "strategy": "MultiRecord",
}

# (case id, argument overrides, text the error must contain)
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("data missing", {"data": None}, "data"),
    ("data is a local path", {"data": "/tmp/score"}, "data"),
    ("data bucket malformed", {"data": "s3://Bad_Bucket/x"}, "data"),
    ("manifest without a key", {"data": "s3://bucket", "data_type": "ManifestFile"}, "data"),
    ("data type unknown", {"data_type": "Folder"}, "data_type"),
    ("output path missing", {"output_path": None}, "output_path"),
    ("output path not s3", {"output_path": "file:///tmp/out"}, "output_path"),
    ("MultiRecord without a split type", {"split_type": None}, "strategy"),
    ("MultiRecord with split type None", {"split_type": "None"}, "strategy"),
    ("strategy unknown", {"strategy": "Batched"}, "strategy"),
    ("split type unknown", {"split_type": "Paragraph"}, "split_type"),
    ("assemble with unknown", {"assemble_with": "Comma"}, "assemble_with"),
    ("compression unknown", {"compression_type": "Zip"}, "compression_type"),
    ("join source unknown", {"join_source": "Output"}, "join_source"),
    ("max payload above 100", {"max_payload": 101}, "max_payload"),
    ("max payload negative", {"max_payload": -1}, "max_payload"),
    ("payload x concurrency above 100", {"max_payload": 20, "max_concurrent_transforms": 6}, "max_payload"),
    ("concurrency zero", {"max_concurrent_transforms": 0}, "max_concurrent_transforms"),
    ("concurrency not a number", {"max_concurrent_transforms": "two"}, "max_concurrent_transforms"),
    ("instance count zero", {"instance_count": 0}, "instance_count"),
    ("instance type not ml.*", {"instance_type": "m5.large"}, "instance_type"),
    ("input filter outside the subset", {"input_filter": "$..features"}, "input_filter"),
    ("input filter without root", {"input_filter": "[1:]"}, "input_filter"),
    ("output filter longer than 63", {"output_filter": "$['" + "x" * 70 + "']"}, "output_filter"),
    ("join on an image content type", {"join_source": "Input", "content_type": "application/x-image"}, "content_type"),
    ("filter without a content type", {"input_filter": "$[1:]", "content_type": None}, "content_type"),
    ("env name invalid", {"env": {"1BAD": "x"}}, "env.1BAD"),
    ("env value not a string", {"env": {"OK": 3}}, "env.OK"),
    ("env too large", {"env": {f"V{i}": "x" for i in range(17)}}, "env"),
    ("tag key too long", {"tags": {"k" * 200: "v"}}, "tags"),
    ("invocation timeout zero", {"model_client_config": {"InvocationsTimeoutInSeconds": 0}}, "model_client_config"),
    ("invocation retries 4", {"model_client_config": {"InvocationsMaxRetries": 4}}, "InvocationsMaxRetries"),
    ("client config key unknown", {"model_client_config": {"Timeout": 5}}, "model_client_config.Timeout"),
    ("kms key with spaces", {"output_kms_key": "my key"}, "output_kms_key"),
    ("neither job nor model", {"training_job_name": None}, "training_job_name"),
    ("both job and model", {"model_name": "existing-model"}, "training_job_name"),
    ("model name breaks the name rule", {"training_job_name": None, "model_name": "bad_model"}, "model_name"),
    ("image with an existing model", {"training_job_name": None, "model_name": "m-1", "image": "img"}, "image"),
    ("role not an ARN", {"role": "SageMakerRole"}, "role"),
    ("serving version unknown", {"framework_version": "1.0.0"}, "framework_version"),
]


@pytest.mark.parametrize("backend", ["sagemaker", "local"])
@pytest.mark.parametrize(("overrides", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_before_any_api_call(
    overrides: dict[str, Any], needle: str, backend: str, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    hook, calls = recording_hook(backend, root)
    before = sorted(p.relative_to(root) for p in root.rglob("*")) if root.exists() else []
    op = TFBatchTransformOperator(task_id="score", backend=backend, aws_conn_id=None, **{**BASE, **overrides})
    op._hook = hook
    with pytest.raises(ConfigValidationError) as err:
        op.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert needle in str(err.value), str(err.value)
    assert calls == []
    if backend == "local":
        assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_all_problems_are_reported_together() -> None:
    hook, calls = recording_hook("sagemaker")
    op = TFBatchTransformOperator(
        task_id="score",
        backend="sagemaker",
        aws_conn_id=None,
        **{**BASE, "training_job_name": None, "data": "/tmp/x", "max_payload": 500, "split_type": None},
    )
    op._hook = hook
    with pytest.raises(ConfigValidationError) as err:
        op.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert {"data", "max_payload", "strategy", "training_job_name"} <= {e.field for e in err.value.errors}
    assert calls == []

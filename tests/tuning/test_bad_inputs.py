"""Bad tuning input fails before any API call (and before any local work), naming the field.

Each case runs ``TFTuningOperator.execute`` on both backends with clients that record every call; the
list must be empty, and nothing may have been written under the local state root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_tf_sm.exceptions import ConfigValidationError
from airflow_tf_sm.tuning.operator import TFTuningOperator
from tests.recording import recording_hook

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
LR = {"type": "continuous", "min_value": 0.001, "max_value": 0.1}


class FakeTI:
    dag_id = "bad_tuning_inputs"
    task_id = "tune"
    run_id = "manual__2025-01-01T00:00:00+00:00"
    map_index = -1

    def xcom_push(self, key: str, value: Any) -> None:  # pragma: no cover - must never be reached
        raise AssertionError("xcom_push reached: validation did not stop the task")


def base_kwargs(code: Path) -> dict[str, Any]:
    return {
        "entry_point": "train.py",
        "source_dir": str(code),
        "role": ROLE,
        "output_path": "s3://bucket/models",
        "hyperparameters": {"epochs": 3},
        "metric_definitions": [{"Name": "val_accuracy", "Regex": "val_accuracy=([0-9.]+)"}],
        "objective_metric_name": "val_accuracy",
        "hyperparameter_ranges": {"learning-rate": LR},
        "max_jobs": 4,
        "max_parallel_jobs": 2,
    }


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("objective not a metric definition", {"objective_metric_name": "accuracy"}, "objective_metric_name"),
    ("no metric definitions", {"metric_definitions": []}, "objective_metric_name"),
    ("no ranges", {"hyperparameter_ranges": {}}, "hyperparameter_ranges"),
    ("profiler not in a definition", {"profiler_config": {"s3_output_path": "s3://bkt/p"}}, "profiler_config"),
    (
        "debugger not in a definition",
        {"debugger_hook_config": {"s3_output_path": "s3://bkt/d"}},
        "debugger_hook_config",
    ),
    ("disable_profiler not in a definition", {"disable_profiler": True}, "disable_profiler"),
    (
        "image access not in a definition",
        {"training_repository_access_mode": "Platform"},
        "training_repository_access_mode",
    ),
    ("tuned name also static", {"hyperparameters": {"learning-rate": 0.1}}, "hyperparameters.learning-rate"),
    ("unknown range type", {"hyperparameter_ranges": {"lr": {"type": "float"}}}, "hyperparameter_ranges.lr.type"),
    ("range not a mapping", {"hyperparameter_ranges": {"lr": 0.1}}, "hyperparameter_ranges.lr"),
    ("min above max", {"hyperparameter_ranges": {"lr": {**LR, "min_value": 1}}}, "hyperparameter_ranges.lr.min_value"),
    (
        "missing max",
        {"hyperparameter_ranges": {"lr": {"type": "integer", "min_value": 1}}},
        "hyperparameter_ranges.lr.max_value",
    ),
    ("text bound", {"hyperparameter_ranges": {"lr": {**LR, "max_value": "big"}}}, "hyperparameter_ranges.lr.max_value"),
    (
        "logarithmic needs values > 0",
        {"hyperparameter_ranges": {"lr": {**LR, "min_value": 0, "scaling_type": "Logarithmic"}}},
        "Logarithmic scaling needs values > 0",
    ),
    (
        "reverse logarithmic needs [0, 1)",
        {"hyperparameter_ranges": {"m": {**LR, "max_value": 1.5, "scaling_type": "ReverseLogarithmic"}}},
        "ReverseLogarithmic scaling needs 0 <= values < 1",
    ),
    (
        "reverse logarithmic is continuous only",
        {
            "hyperparameter_ranges": {
                "u": {"type": "integer", "min_value": 1, "max_value": 5, "scaling_type": "ReverseLogarithmic"}
            }
        },
        "hyperparameter_ranges.u.scaling_type",
    ),
    (
        "unknown scaling",
        {"hyperparameter_ranges": {"lr": {**LR, "scaling_type": "Log"}}},
        "hyperparameter_ranges.lr.scaling_type",
    ),
    (
        "empty categorical",
        {"hyperparameter_ranges": {"act": {"type": "categorical", "values": []}}},
        "hyperparameter_ranges.act.values",
    ),
    (
        "31 categorical values",
        {"hyperparameter_ranges": {"act": {"type": "categorical", "values": list(range(31))}}},
        "at most 30 values",
    ),
    ("31 ranges", {"hyperparameter_ranges": {f"p{i}": LR for i in range(31)}}, "at most 30 ranges"),
    (
        "reserved range name",
        {"hyperparameter_ranges": {"sagemaker_program": LR}},
        "hyperparameter_ranges.sagemaker_program",
    ),
    ("grid with a continuous range", {"strategy": "Grid"}, "Grid search takes categorical ranges only"),
    ("unknown strategy", {"strategy": "Genetic"}, "strategy"),
    ("unknown objective type", {"objective_type": "Maximise"}, "objective_type"),
    ("unknown early stopping", {"early_stopping_type": "On"}, "early_stopping_type"),
    ("hyperband with early stopping", {"strategy": "Hyperband", "early_stopping_type": "Auto"}, "early_stopping_type"),
    ("hyperband without resource", {"strategy": "Hyperband", "hyperparameters": {}}, "hyperband.max_resource"),
    ("hyperband settings without hyperband", {"hyperband": {"max_resource": 5}}, "hyperband"),
    ("zero max jobs", {"max_jobs": 0}, "max_jobs"),
    ("zero parallel jobs", {"max_parallel_jobs": "0"}, "max_parallel_jobs"),
    ("runtime below 120 s", {"max_runtime_in_seconds": 60}, "max_runtime_in_seconds"),
    ("negative seed", {"random_seed": -1}, "random_seed"),
    (
        "not-improving below 3",
        {"completion_criteria": {"max_number_of_training_jobs_not_improving": 2}},
        "completion_criteria.max_number_of_training_jobs_not_improving",
    ),
    ("unknown criterion", {"completion_criteria": {"patience": 3}}, "completion_criteria.patience"),
    (
        "warm start without parents",
        {"warm_start_config": {"warm_start_type": "TransferLearning"}},
        "warm_start_config.parents",
    ),
    (
        "warm start bad type",
        {"warm_start_config": {"warm_start_type": "Identical", "parents": ["tune-1"]}},
        "warm_start_config.warm_start_type",
    ),
    ("unknown setting", {"config": {"max_job": 3}}, "max_job"),
    ("bad training field", {"instance_count": 0}, "instance_count"),
    ("more than 100 hyperparameters per job", {"hyperparameters": {f"h{i}": i for i in range(93)}}, "hyperparameters"),
]


@pytest.mark.parametrize("backend", ["sagemaker", "local"])
@pytest.mark.parametrize(("overrides", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_tuning_input_fails_before_any_api_call(
    overrides: dict[str, Any], needle: str, backend: str, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('train')\n")
    root = tmp_path / "root"
    hook, calls = recording_hook(backend, root)
    before = sorted(p.relative_to(root) for p in root.rglob("*")) if root.exists() else []
    kwargs = base_kwargs(code)
    kwargs.update(overrides)
    op = TFTuningOperator(task_id="tune", backend=backend, aws_conn_id=None, **kwargs)
    op._hook = hook
    with pytest.raises(ConfigValidationError) as err:
        op.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert needle in str(err.value), str(err.value)
    assert calls == []
    if backend == "local":
        assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_there_are_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20
